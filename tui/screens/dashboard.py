"""The dashboard: the five panes, the keys of k9s habit, the `:` line and the drill-downs they open.

The screen displays; it does not fetch. The app (tui.app.MdcApp) owns the service, the refresh schedule and the
history, and hands each result to `show_snapshot` / `show_recommendations`. What a pane or a drill-down shows is
made by tui.render (pure functions, tested without Textual); this screen puts it on screen and turns keys into
actions. On the first frame only the active pane is mounted; everything below is imported lazily.
"""
from __future__ import annotations

import os
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.containers import Container
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from tui.render.rows import Item, name_words, standards_matching
from widgets.pane import Pane, mount_later, progress_line
from widgets.panes import AccountsPane, CompliancePane, OnboardingPane, PlansPane, RecommendationsPane, TablePane
from widgets.virtual_table import VirtualTable

if TYPE_CHECKING:  # imported where used: none of these is on the way to the first frame
    from tui.app import MdcApp
    from tui.core import model as m
    from tui.core.tablequery import Index
    from tui.messages import SnapshotLoaded
    from tui.render.detail import Detail, Listing
    from widgets.pane import PaneState

GRID_ORDER = ("accounts", "plans", "arc", "compliance", "recs")  # at 140+ columns (see app.tcss)


class DashboardCommands(Provider):
    """Command palette: every view and action of the dashboard."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, cb in _dashboard(self.app).palette_commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), cb, help=help_text)

    async def discover(self) -> Hits:
        for label, help_text, cb in _dashboard(self.app).palette_commands():
            yield Hit(1, label, cb, help=help_text)


def _dashboard(app: Any) -> DashboardScreen:
    return cast("MdcApp", app).dashboard


class DashboardScreen(Screen[None]):
    COMMANDS = {DashboardCommands}  # in the palette only while the dashboard is the screen shown
    # r, o, ? and q are the app's (they work on every screen); listed here too so this footer reads in this order
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_pane('accounts')", "Accounts", show=False),
        Binding("2", "show_pane('plans')", "Plans", show=False),
        Binding("3", "show_pane('arc')", "Arc", show=False),
        Binding("4", "show_pane('recs')", "Recs", show=False),
        Binding("5", "show_pane('compliance')", "Compliance", show=False),
        Binding("tab", "next_pane", "Next pane", show=False, priority=True),
        Binding("shift+tab", "prev_pane", "Prev pane", show=False, priority=True),
        Binding("enter", "open", "Open"),
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command_line", "Jump"),
        Binding("r", "app.refresh", "Refresh"),
        Binding("b", "portal", "Portal"),
        Binding("e", "export", "Export"),
        Binding("o", "app.onboard", "Onboard"),
        Binding("question_mark", "app.help", "Help"),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.active = "accounts"
        self._topbar = Text()  # kept: the status may be set before the top bar is composed (the first frame)
        self._resumed = False  # shown once already (see on_screen_resume)
        # (snapshot time, assessment key -> the AWS standards' controls it fails under): the recommendation detail's
        self._control_index: tuple[Any, dict[str, tuple[Any, ...]] | None] | None = None
        self._drills = 0  # drill-downs asked for; escape counts one too, so that one still loading is dropped
        # made now, mounted in compose: a pane keeps what it is given before it is mounted, and shows it once it is
        self.accounts = AccountsPane(id="pane-accounts", classes="pane")
        self.plans = PlansPane(id="pane-plans", classes="pane")
        self.arc = OnboardingPane(id="pane-arc", classes="pane")
        self.recs = RecommendationsPane(id="pane-recs", classes="pane")
        self.compliance = CompliancePane(id="pane-compliance", classes="pane")
        self._panes: dict[str, Pane] = {"accounts": self.accounts, "plans": self.plans, "arc": self.arc,
                                        "recs": self.recs, "compliance": self.compliance}

    # ------------------------------------------------------------------------------------------- layout

    @property
    def mdc(self) -> MdcApp:
        return cast("MdcApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(self._topbar, id="topbar")
        yield Static("", id="tabs")
        with Container(id="panes"):
            # only the active pane is mounted before the first frame; the others right after it (_mount_rest)
            yield self._panes[self.active]
        # the `:` line (hidden until `:`) and the footer follow the panes: both mounted right after the first frame

    def on_mount(self) -> None:
        self.action_show_pane(self.active)
        mount_later(self, self._mount_rest)

    async def _mount_rest(self) -> None:
        """(Right after the first frame.) What the first frame does not show, in one batch: the other panes in their
        grid order, the `:` line, the footer. Every widget less before that frame makes it ~1 ms sooner (mounted,
        styled twice, its own message task): a placeholder (textual Lazy) costs as much as a small widget."""
        from widgets.footer import Footer

        box = self.query_one("#panes", Container)
        for i, name in enumerate(GRID_ORDER):
            pane = self._panes[name]
            if pane.parent is None:
                if i < len(box.children):
                    box.mount(pane, before=i)
                else:
                    box.mount(pane)
        await self.mount(Input(placeholder=":accounts :plans :arc :recs :compliance mcsb|cis|pci|… :quit",
                                id="cmdline"), Footer())
        self.refresh_bindings()  # the footer draws the keys once told (textual's Footer waits for this signal)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # under a modal (help) this screen's footer stays in sight: it shows only the keys that still reach a handler
        try:
            return self.app.screen is self
        except ScreenStackError:  # no screen left (the app is closing)
            return False

    def on_screen_suspend(self) -> None:
        self.refresh_bindings()  # a screen above: the footer loses this screen's own keys (check_action)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if not self._resumed:
            # the first time shown: every widget was styled as it mounted, moments ago (and restyled where a class
            # changed since); textual's own restyle of the whole screen, which runs after this handler, would only
            # repeat that (~6 ms of the first frame). Later resumes (after a modal, a theme change) keep it.
            self._resumed = True
            event.refresh_styles = False
        self.refresh_bindings()

    def pane(self, name: str) -> Pane:
        """The pane (possibly not mounted yet: panes keep what they are given and show it once mounted)."""
        return self._panes[name]

    # ------------------------------------------------------------------------------------------- data in

    def show_snapshot(self, msg: SnapshotLoaded) -> None:
        """A snapshot (fresh, or the last one from the history): every table pane with its rows and its state."""
        snap = msg.snap
        secs = snap.sections
        cd = snap.data("connectors")
        with self.app.batch_update():
            if cd is not None:
                self.accounts.show(msg.views, msg.rollup)
                self.plans.show(msg.views)
            s = secs["connectors"].status
            self.accounts.set_state(s.status, s.as_of, s.error)
            s, c = secs["plans"].status, secs["connectors"].status
            self.plans.set_state(_worst(s, c), s.as_of, s.error or c.error)
            if snap.data("onboarding") is not None and cd is not None:
                self.arc.show(msg.views)
            s = secs["onboarding"].status
            self.arc.set_state(s.status, s.as_of, s.error)
            cdata = snap.data("compliance")
            if cdata is not None:
                self.compliance.show(cdata.standards, msg.trends)
            s = secs["compliance"].status
            self.compliance.set_state(s.status, s.as_of, s.error)
            if msg.from_history and self.recs.as_of is None:
                self.recs.set_state("loading", None, None)

    def show_recommendations(self, rows: list[m.Recommendation], index: Index | None, as_of: datetime) -> None:
        self.recs.set_rows(rows, index)
        self.recs.set_state("ok", as_of, None)

    def show_recs_progress(self, rows: int | None, total: int | None = None, phase: str = "fetch") -> None:
        """How far the recommendations' fetch is (rows None: it is over)."""
        self.recs.set_progress("" if rows is None else progress_line(rows, total, phase))

    def mark_loading(self) -> None:
        """A collection starts: panes that never loaded say so; the others keep their rows and state."""
        for p in self._panes.values():
            if p.state != "ok" or p.as_of is None:
                p.set_state("loading" if p.as_of is None else p.state, p.as_of, p.error)

    def mark_failed(self, error: str, names: tuple[str, ...] | None = None) -> None:
        """A failure: the panes named (all by default) keep their last data, marked stale, or show the error."""
        for name in names or tuple(self._panes):
            p = self._panes[name]
            p.set_state("stale" if p.as_of else "error", p.as_of, error)

    def mark_start_failed(self, error: str) -> None:
        for p in self._panes.values():
            p.set_state("error", p.as_of, f"start-up failed: {error}")

    def set_status(self, scope: str, age: str, now: datetime) -> None:
        """The top bar (scope and the age of the data) and every pane's title age."""
        for p in self._panes.values():
            p.refresh_title(now)
        self._topbar = Text.assemble(("mdc-aws ", "bold"), f"{scope}  ", (age, "italic"))
        try:
            top = self.query_one("#topbar", Static)
        except NoMatches:  # not composed yet, or being torn down (the app is closing)
            return
        top.update(self._topbar)

    # ------------------------------------------------------------------------------------------- cached view

    def view_state(self) -> dict[str, Any]:
        """The table panes' rows and states as drawn now (kept with the snapshot for the next start)."""
        panes: dict[str, Any] = {}
        for name, p in self._panes.items():
            if isinstance(p, TablePane):
                panes[name] = {"items": [(it.key, it.cells, it.fields, it.text) for it in p.items],
                               "state": (p.state, p.as_of, p.error), "summary": getattr(p, "summary", None)}
        return panes

    def restore_view(self, panes: dict[str, Any]) -> None:
        """Rows from a cached view: shown stale, without what enter opens, until the snapshot itself has loaded.
        Raises on a view of another shape (the caller loads the snapshot instead)."""
        for name, pv in panes.items():
            pane = self.pane(name)
            if not isinstance(pane, TablePane):
                continue
            if isinstance(pane, OnboardingPane) and pv.get("summary") is not None:
                pane.set_summary(pv["summary"])
            pane.set_items([Item(key, cells, fields, text) for key, cells, fields, text in pv["items"]])
            state, as_of, error = pv["state"]
            if state not in ("error", "loading"):
                state = "stale" if as_of is not None else "error"
            from tui.core.history import FROM_HISTORY

            pane.set_state(state, as_of, error or FROM_HISTORY)
        self.recs.set_state("loading", None, None)

    # ------------------------------------------------------------------------------------------- navigation

    def action_show_pane(self, name: str) -> None:
        self.active = name
        for n, p in self._panes.items():
            p.set_own_class(n == name, "-active")
        tabs = Text()
        for i, n in enumerate(self._panes, 1):  # tui.render.commands.VIEW_NAMES' order (not imported: first frame)
            style = "bold reverse" if n == name else ""
            tabs.append(f" {i} {self._panes[n].title_text.split(' ')[0]} ", style=style)
            tabs.append(" ")
        try:
            self.query_one("#tabs", Static).update(tabs)
        except NoMatches:  # before compose
            pass
        pane = self.pane(name)
        if isinstance(pane, TablePane):
            pane.render_if_dirty()
        pane.focus_body()

    def on_resize(self) -> None:
        # wider than the breakpoint, every pane shows: render those that changed while hidden
        self.call_after_refresh(self._render_dirty)

    def _render_dirty(self) -> None:
        for p in self._panes.values():
            if isinstance(p, TablePane) and p.is_displayed():
                p.render_if_dirty()

    def _cycle(self, step: int) -> None:
        from tui.render.commands import VIEW_NAMES

        names = list(VIEW_NAMES)
        self.action_show_pane(names[(names.index(self.active) + step) % len(names)])

    def action_next_pane(self) -> None:
        self._cycle(1)

    def action_prev_pane(self) -> None:
        self._cycle(-1)

    def on_descendant_focus(self, event: Any) -> None:
        # keep `active` in step with the focus (mouse clicks, tab in wide mode)
        node = getattr(event, "widget", None)
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        if isinstance(node, Pane) and node.id:
            name = node.id.removeprefix("pane-")
            if name != self.active:
                self.active = name
                for n, p in self._panes.items():
                    p.set_own_class(n == name, "-active")

    def action_filter(self) -> None:
        self.pane(self.active).open_filter()

    def cmdline(self) -> Input | None:
        """The `:` line; None until it is mounted (just after the first frame)."""
        try:
            return self.query_one("#cmdline", Input)
        except NoMatches:
            return None

    def action_command_line(self) -> None:
        cmd = self.cmdline()
        if cmd is None:
            return
        cmd.add_class("-shown")
        cmd.value = ""
        cmd.focus()

    @on(Input.Submitted, "#cmdline")
    def _command_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-shown")
        self.run_command(event.value)

    def run_command(self, text: str) -> None:
        from tui.render.commands import parse_command

        cmd = parse_command(text)
        if cmd.kind == "quit":
            self.app.exit()
        elif cmd.kind == "help":
            self.mdc.action_help()
        elif cmd.kind == "view" and cmd.view is not None:
            self.action_show_pane(cmd.view)
            if cmd.standard:
                self.open_standard_by_alias(cmd.standard)
            elif cmd.filter:
                self.pane(cmd.view).apply_filter(cmd.filter)
        else:
            if cmd.kind == "unknown":
                self.app.notify(f"unknown view {cmd.word!r}: try :accounts :plans :arc :recs :compliance cis",
                                severity="warning")
            self.pane(self.active).focus_body()

    def action_back(self) -> None:
        self._drills += 1  # a drill-down still reading its data (a standard's controls) is not opened any more
        cmd = self.cmdline()
        if cmd is not None and cmd.has_class("-shown"):
            cmd.remove_class("-shown")
            self.pane(self.active).focus_body()
            return
        p = self.pane(self.active)
        f = p.filter_input()
        if (f is not None and f.has_class("-shown")) or p.filter_text:
            p.close_filter(clear=True)

    def action_portal(self) -> None:
        from tui.render.links import portal_link

        sel = self.pane(self.active).selection()
        self.mdc.show_portal(portal_link(sel, self._tenant()) if sel is not None else None)

    def action_export(self) -> None:
        snap = self.mdc.snap
        if snap is None:
            self.app.notify("nothing to export yet", severity="warning")
            return
        import json

        from tui.core.export import snapshot_to_dict, write_private

        ts = self.mdc.now().strftime("%Y%m%dT%H%M%SZ")
        path = Path(os.environ.get("MDC_AWS_EXPORT_DIR", ".")) / f"mdc-aws-{ts}.json"
        try:
            write_private(path, json.dumps(snapshot_to_dict(snap), indent=2))  # 0600
        except OSError as e:
            self.app.notify(f"export failed: {e.strerror}: {path}", severity="error")
            return
        self.app.notify(f"wrote {path}", title="Export")

    # ------------------------------------------------------------------------------------------- drill-down

    def action_open(self) -> None:
        self.open_selection(self.active)

    @on(VirtualTable.RowSelected)
    def _row_selected(self, event: VirtualTable.RowSelected) -> None:
        node = event.table.parent
        if isinstance(node, Pane) and node.id:
            event.stop()
            self.open_selection(node.id.removeprefix("pane-"))

    def open_selection(self, pane: str) -> None:
        """Open what the selected row of ``pane`` stands for, chosen by what it is (not by the pane)."""
        sel = self.pane(pane).selection()
        if sel is None:  # nothing selected, or rows from the cached view (the snapshot has not loaded yet)
            return
        from tui.core import derive as d
        from tui.core import model as m
        from tui.render import detail
        from tui.render.rows import RegionStuck

        snap = self.mdc.snap
        if isinstance(sel, d.AccountView) and snap is not None:
            self.push_detail(detail.account_detail(snap, sel), connectors=sel.connectors)
        elif isinstance(sel, RegionStuck) and snap is not None:
            listing = detail.stuck_listing(snap, sel, self.mdc.now())
            self.push_listing(listing, on_open=lambda it: self.push_detail(
                detail.instance_detail(snap, sel.view, it.payload, self.mdc.now())))
        elif isinstance(sel, m.Recommendation):
            self.open_recommendation(sel)
        elif isinstance(sel, m.ComplianceStandard):
            self.open_standard(sel.name)

    def push_detail(self, d: Detail, connectors: tuple[m.Connector, ...] | None = None) -> None:
        """Push a detail; with `connectors` (an account's), its screen also writes them as code (x)."""
        from .detail import AccountDetailScreen, DetailScreen

        if connectors is not None:
            self.app.push_screen(AccountDetailScreen(list(d.crumbs), d.body, portal=d.portal, connectors=connectors))
            return
        self.app.push_screen(DetailScreen(list(d.crumbs), d.body, portal=d.portal))

    def push_listing(self, listing: Listing, on_open: Callable[[Item], None] | None = None,
                     portal: Callable[[Item], str | None] | None = None) -> None:
        from .detail import ListScreen

        self.app.push_screen(ListScreen(list(listing.crumbs), listing.columns, listing.items, on_open=on_open,
                                        header=listing.header, portal=portal))

    def open_standard_by_alias(self, alias: str) -> None:
        """`:compliance <part of a name>`: one standard matches (or one is named exactly so) -> its controls; several
        -> the pane filtered to them."""
        snap = self.mdc.snap
        cdata = snap.data("compliance") if snap is not None else None
        from tui.render.commands import STANDARD_ALIASES

        needle = STANDARD_ALIASES.get(alias, alias)
        found = standards_matching(cdata.standards if cdata else (), needle)
        exact = [s for s in found if name_words(s.name) == name_words(needle)]
        if len(found) == 1 or len(exact) == 1:
            self.open_standard((exact or found)[0].name)
        elif found:
            self.compliance.apply_filter(name_words(needle))
            self.app.notify(f"{len(found)} standards match {alias!r}: enter opens one", timeout=3)
        else:
            self.app.notify(f"no standard matches {alias!r} (yet)", severity="warning")

    def open_standard(self, name: str) -> None:
        self.app.notify(f"loading the controls of {name}…", timeout=2)
        self.run_worker(partial(self._controls_job, name, self._asked_from()), thread=True, exclusive=True,
                        group="drill", exit_on_error=False, name="controls")

    def _controls_job(self, name: str, origin: Any = None) -> None:
        svc = self.mdc.service
        try:
            controls = svc.compliance_controls(name) if svc is not None else []
        except Exception as e:  # noqa: BLE001 - any failure of the service becomes one line, never a traceback
            self.app.call_from_thread(self.app.notify, f"{name}: {' '.join(str(e).split())}", severity="error")
            return
        self.app.call_from_thread(self._show_controls, name, controls, origin)

    def _asked_from(self) -> tuple[Any, int]:
        """Where a drill-down that reads its data first is asked from: the screen shown, and its number."""
        self._drills += 1
        return self.app.screen, self._drills

    def _moved_on(self, origin: Any) -> bool:
        """The operator moved on while a drill-down's data was read (escape, another screen, another drill-down): it
        must not pop up over what they do now (their next keys would land in it: a filter typed there became `r`,
        `o` and enter on the app, which opened the onboarding wizard)."""
        if origin is None:
            return False
        screen, n = origin
        try:
            return self.app.screen is not screen or n != self._drills
        except ScreenStackError:  # the app is closing
            return True

    def _show_controls(self, name: str, controls: list[m.ComplianceControl], origin: Any = None) -> None:
        from tui.render import detail

        if self._moved_on(origin):
            return

        self.push_listing(detail.controls_listing(name, controls),
                          on_open=lambda it: self.open_control(name, it.payload))

    def open_control(self, standard: str, c: m.ComplianceControl) -> None:
        self.run_worker(partial(self._control_job, standard, c, self._asked_from()), thread=True, exclusive=True,
                        group="drill", exit_on_error=False, name="control")

    def _control_job(self, standard: str, c: m.ComplianceControl, origin: Any = None) -> None:
        svc = self.mdc.service
        try:
            keys = set(svc.compliance_failing_keys(standard, c.name)) if svc is not None else set()
        except Exception as e:  # noqa: BLE001 - any failure of the service becomes one line, never a traceback
            self.app.call_from_thread(self.app.notify, f"{c.name}: {' '.join(str(e).split())}", severity="error")
            return
        rows = [r for r in self.mdc.recs_rows if r.assessment_key.lower() in keys and r.status == "Unhealthy"]
        self.app.call_from_thread(self._show_control, standard, c, rows, origin)

    def _show_control(self, standard: str, c: m.ComplianceControl, rows: list[m.Recommendation],
                      origin: Any = None) -> None:
        from tui.render import detail
        from tui.render.links import recommendation_link

        if self._moved_on(origin):
            return

        listing = detail.control_failing_listing(standard, c, rows)
        crumbs = list(listing.crumbs)
        self.push_listing(listing, on_open=lambda it: self.open_recommendation(
            it.payload, crumbs + [it.payload.resource_name or "?"]),
            portal=lambda it: recommendation_link(it.payload.assessment_key))

    def open_recommendation(self, r: m.Recommendation, crumbs: list[str] | None = None) -> None:
        """A recommendation's detail, with the controls of the AWS standards it fails under: read once per compliance
        data (one Resource Graph query, in a worker), then from memory; "not read" when that read failed (not retried
        until the compliance data changes)."""
        from tui.core.service import ControlIndexService

        snap = self.mdc.snap
        sec = snap.sections.get("compliance") if snap is not None else None
        key = (sec.status.as_of, id(sec.data)) if sec is not None else None
        cached = self._control_index
        svc = self.mdc.service
        if (cached is not None and cached[0] == key) or not isinstance(svc, ControlIndexService):
            self._show_recommendation(r, crumbs, cached[1] if cached is not None and cached[0] == key else None)
            return
        self.app.notify("reading the AWS controls of the recommendations…", timeout=2)
        self.run_worker(partial(self._control_index_job, svc, key, r, crumbs, self._asked_from()), thread=True,
                        exclusive=True,
                        group="drill", exit_on_error=False, name="control index")

    def _control_index_job(self, svc: Any, key: Any, r: m.Recommendation, crumbs: list[str] | None,
                           origin: Any) -> None:
        from tui.core import runbook

        index: dict[str, tuple[Any, ...]] | None = None
        try:
            controls, pairs = svc.failing_controls()
            index = runbook.control_index(pairs, controls)
        except Exception as e:  # noqa: BLE001 - any failure of the service becomes one line, never a traceback
            self.app.call_from_thread(self.app.notify, "AWS controls of the recommendations: "
                                      f"{' '.join(str(e).split())}", severity="warning")
        self._control_index = (key, index)  # a failure too: not asked again until the compliance data changes
        self.app.call_from_thread(self._show_recommendation, r, crumbs, index, origin)

    def _show_recommendation(self, r: m.Recommendation, crumbs: list[str] | None,
                             index: dict[str, tuple[Any, ...]] | None, origin: Any = None) -> None:
        from tui.render import detail

        if self._moved_on(origin):
            return  # the operator went elsewhere while the controls were read: nothing pops up over it
        controls = index.get(r.assessment_key.lower(), ()) if index is not None else None
        self.push_detail(detail.recommendation_detail(r, self.mdc.recs_rows, crumbs, controls=controls))

    def _tenant(self) -> str | None:
        snap = self.mdc.snap
        return snap.tenant_id if snap is not None else None

    # ------------------------------------------------------------------------------------------- palette

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from tui.render.commands import VIEW_NAMES

        cmds: list[tuple[str, str, Callable[[], Any]]] = []
        for name in VIEW_NAMES:
            cmds.append((f"View: {self._panes[name].title_text}", f":{name}", partial(self.action_show_pane, name)))
        for alias, label in (("mcsb", "Microsoft cloud security benchmark"), ("cis", "CIS"), ("pci", "PCI DSS"),
                             ("fsbp", "AWS Foundational Security BP")):
            cmds.append((f"Compliance: {label} controls", f":compliance {alias}",
                         partial(self.run_command, f"compliance {alias}")))
        cmds += [
            ("Refresh now", "r", self.mdc.action_refresh),
            ("Filter the focused table", "/", self.action_filter),
            ("Open the selection", "enter", self.action_open),
            ("Azure portal link of the selection", "b", self.action_portal),
            ("Export the snapshot (JSON)", "e", self.action_export),
            ("Help: every key", "?", self.mdc.action_help),
            ("Quit", "q", self.app.exit),
        ]
        return cmds


def _worst(a: m.SectionStatus, b: m.SectionStatus) -> PaneState:
    order = {"ok": 0, "stale": 1, "error": 2}
    return a.status if order.get(a.status, 0) >= order.get(b.status, 0) else ("stale" if b.status != "ok" else "ok")


__all__ = ["DashboardScreen", "DashboardCommands"]
