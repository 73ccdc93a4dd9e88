"""Screens above the dashboard: detail views, drill-down lists, help. `esc` walks back; a breadcrumb shows the way.

They display what tui.render.detail made (text, rows); they never compute it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.render.rows import Item, sort_items
from widgets.footer import Footer
from widgets.panes import table_columns
from widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from tui.app import MdcApp
    from tui.core import model as m

KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("1-5 / tab", "switch pane (at 80x24 one pane at a time; 140+ columns show all)"),
    (":", "jump to a view: :accounts :plans :arc :recs :compliance [any part of a standard's name] :quit"),
    ("/", "filter the focused table: text, sev:high, status:failing, account:2109, tenant:fab, !negate"),
    ("enter", "open the selection: account (health, fixes, cost), region, finding, standard"),
    ("esc", "back (closes the filter, then the screen)"),
    ("b", "Azure portal link of the selection (copied to the clipboard where the terminal allows)"),
    ("x", "account detail: connector as code (ARM, Terraform)"),
    ("s / S", "sort the focused table by the next column / reverse (numbers by value)"),
    ("r", "refresh now (each pane also refreshes itself; --refresh sets the cadence)"),
    ("e", "export the snapshot as JSON to the current directory (`mdc-aws export` writes md/csv/json)"),
    ("o", "onboarding: connect an AWS account (wizard), the classic flow, remove classic connectors"),
    ("ctrl+p", "command palette: every action and view"),
    ("?", "this help"),
    ("q", "quit"),
)


class Breadcrumb(Static):
    """Where you are; when it does not fit, the oldest crumbs give way (the most specific one stays)."""

    DEFAULT_CSS = "Breadcrumb { height: 1; background: $boost; padding: 0 1; color: $text; }"

    def __init__(self, crumbs: Sequence[str]) -> None:
        super().__init__("")
        self.crumbs = list(crumbs)

    def on_resize(self) -> None:
        self.update(self.fit(self.size.width))

    def on_mount(self) -> None:
        self.update(self.fit(self.size.width or 78))

    def fit(self, width: int) -> str:
        crumbs = list(self.crumbs)
        text = " › ".join(crumbs)
        while len(text) > width and len(crumbs) > 1:
            crumbs.pop(0)
            text = "… › " + " › ".join(crumbs)
        return text if len(text) <= width else "…" + text[-(width - 1):]


class DetailScreen(Screen[None]):
    """A titled, scrollable detail view of one thing (account, instance, recommendation, control)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("b", "portal", "Portal link"),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    DEFAULT_CSS = """
    DetailScreen > VerticalScroll { padding: 0 1; }
    DetailScreen .detail--body { width: 1fr; }
    """

    def __init__(self, crumbs: Sequence[str], body: Any, portal: str | None = None) -> None:
        super().__init__()
        self.crumbs = list(crumbs)
        self.body = body
        self.portal = portal

    def compose(self) -> ComposeResult:
        yield Breadcrumb(self.crumbs)
        with VerticalScroll():
            yield Static(self.body, classes="detail--body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_portal(self) -> None:
        cast("MdcApp", self.app).show_portal(self.portal)


class AccountDetailScreen(DetailScreen):
    """An account's detail; `x` writes its native connector as code (an ARM template and a Terraform file, 0600, in
    $MDC_AWS_EXPORT_DIR or the current directory, and providers.tf there when the folder has none) and shows the
    Terraform. From the snapshot's connector body: no request is sent, so the shown text says how old that body is
    (and when it comes from the history)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *DetailScreen.BINDINGS,
        Binding("x", "connector_code", "As code"),
    ]

    def __init__(self, crumbs: Sequence[str], body: Any, portal: str | None = None,
                 connectors: Sequence[m.Connector] = ()) -> None:
        super().__init__(crumbs, body, portal)
        self.connectors = tuple(connectors)
        self.body_age: tuple[str, bool] | None = None  # (the connector body's age, whether to warn): at mount

    def on_mount(self) -> None:
        super().on_mount()
        self.body_age = self._body_age()  # the snapshot in view when the account was opened

    def _body_age(self) -> tuple[str, bool]:
        """How old the connectors' body is: the snapshot's connectors section (as_of, stale) and whether that
        snapshot is the history's (shown at start-up until a collection answers). (text, warn)."""
        from datetime import datetime, timezone

        from tui.core.history import FROM_HISTORY
        from widgets.pane import age_text

        app = self.app
        snap: m.Snapshot | None = getattr(app, "snap", None)
        section = snap.sections.get("connectors") if snap is not None else None
        held = getattr(section.data, "connectors", ()) if section is not None else ()
        if snap is None or section is None or not any(c in held for c in self.connectors):
            return "the connector body is the dashboard's, of unknown age: r refreshes it, then x again", True
        now_of = getattr(app, "now", None)
        now = now_of() if callable(now_of) else datetime.now(timezone.utc)
        as_of = section.status.as_of or snap.generated_at
        when = as_of.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        text, warn = f"connector body as of {when} ({age_text(as_of, now)}), no request sent", False
        from_history = getattr(app, "last_refresh", 0) is None  # the history's snapshot, until a collection
        if from_history or section.status.error == FROM_HISTORY:
            text += "; from history: the last saved collection, not read now (r refreshes, then x again)"
            warn = True
        elif section.status.status != "ok":
            text += f"; {section.status.status}: the last read of the connectors failed"
            if section.status.error:
                text += f" ({section.status.error})"
            warn = True
        return text, warn

    def action_connector_code(self) -> None:
        import os
        from pathlib import Path

        from tui.core import connector_code as cc
        from tui.core.errors import SourceError
        from tui.core.export import write_private

        native = cc.native_connectors(self.connectors)
        if not native:
            self.app.notify("only a classic connector (retired): nothing to write as code; o onboards a native one",
                            severity="warning")
            return
        folder = Path(os.environ.get("MDC_AWS_EXPORT_DIR", "."))
        age, warn = self.body_age or self._body_age()
        shown = Text(age + "\n\n", style="yellow" if warn else "dim")
        written: list[str] = []
        for c in native:
            try:
                code = cc.connector_code(c.raw)
                paths = {fmt: folder / cc.file_name(code, fmt) for fmt in cc.FORMATS}
                for fmt, path in paths.items():
                    write_private(path, code.text(fmt))  # 0600
                    written.append(str(path))
                providers = cc.ensure_providers(paths["terraform"])  # once per folder, when it has none
            except SourceError as e:
                self.app.notify(f"{c.name}: {e}", severity="error")
                continue
            except OSError as e:
                self.app.notify(f"{c.name}: cannot write {folder} ({e.strerror or e}): set MDC_AWS_EXPORT_DIR",
                                severity="error")
                return
            if providers.written is not None:
                written.append(str(providers.written))
            shown.append(f"{c.name}: ARM template and Terraform written (deploy: {paths['arm']} with "
                         f"`az deployment group create -g {code.resource_group} --template-file …`, or "
                         f"{paths['terraform']}: {cc.terraform_hint(code)})\n", style="bold")
            if providers.written is not None:
                shown.append(f"{providers.written}: the azapi provider, written once for the folder\n")
            for note in (*code.notes, *((providers.note,) if providers.note else ())):
                shown.append(f"note: {note}\n", style="yellow")
            shown.append("\n" + code.text("terraform") + "\n")
        if not written:
            return
        self.app.notify("wrote " + ", ".join(written), title="Connector as code")
        self.app.push_screen(DetailScreen([*self.crumbs, "as code"], shown, portal=self.portal))


class ListScreen(Screen[None]):
    """A drill-down list (stuck instances, controls, failing resources); enter opens the row via `on_open`.
    On the Line-API VirtualTable: a control can fail on thousands of resources (the stock DataTable measures
    every cell: seconds of frozen screen at that size); s / S sort it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("b", "portal", "Portal link"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, crumbs: Sequence[str], columns: Sequence[tuple[str, int | None]], items: list[Item],
                 on_open: Callable[[Item], None] | None = None, header: str = "",
                 portal: Callable[[Item], str | None] | None = None) -> None:
        super().__init__()
        self.crumbs = list(crumbs)
        self.columns = list(columns)
        self.items = items
        self.shown: list[Item] = list(items)  # in the table's order (s / S sort it)
        self.on_open = on_open
        self.header = header
        self.portal_of = portal

    def compose(self) -> ComposeResult:
        yield Breadcrumb(self.crumbs)
        if self.header:
            yield Static(self.header, classes="list--header")
        yield VirtualTable(table_columns(self.columns), empty_text="(none)")
        yield Footer()

    DEFAULT_CSS = """
    ListScreen .list--header { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    ListScreen VirtualTable { height: 1fr; max-height: 100%; }
    """

    def on_mount(self) -> None:
        t = self.query_one(VirtualTable)
        t.set_rows([it.cells for it in self.shown], keys=[it.key for it in self.shown])
        t.focus()

    def selected(self) -> Item | None:
        t = self.query_one(VirtualTable)
        if not self.shown or t.cursor_row >= len(self.shown):
            return None
        return self.shown[t.cursor_row]

    def on_virtual_table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        event.stop()
        it = self.selected()
        if it is not None and self.on_open is not None:
            self.on_open(it)

    def on_virtual_table_sort_requested(self, event: VirtualTable.SortRequested) -> None:
        event.stop()
        self.shown = sort_items(self.items, self.columns, event.column_key, event.descending)
        t = self.query_one(VirtualTable)
        t.set_sort(event.column_key, event.descending)
        t.set_rows([it.cells for it in self.shown], keys=[it.key for it in self.shown])

    def action_portal(self) -> None:
        it = self.selected()
        cast("MdcApp", self.app).show_portal(self.portal_of(it) if (it and self.portal_of) else None)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $accent; padding: 0 1;
                                  background: $surface; }
    """

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("mdc-aws keys\n\n", style="bold")
        for k, v in KEYS_HELP:
            t.append(f"{k:>10}  ", style="bold")
            t.append(v + "\n")
        t.append("\nStates: ✔ ok · ▲ stale (last good data, with its age and the error) · ✖ error · ⟳ loading\n")
        t.append("Health: ✔ healthy · ● pending · ▲ degraded · ✖ failing + the worst code; ✖2: two issues\n")
        t.append("Filter language: terms AND together; field:value (sev status account region type std);\n"
                 "\"quoted phrase\"; !term negates a term; a leading ! negates the whole filter.\n")
        with VerticalScroll():
            yield Static(t)
