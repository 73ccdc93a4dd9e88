"""The dashboard App: panes, navigation in the habits of k9s, self-scheduling refresh, drill-down screens.

The App never calls an SDK: a `Service` (tui.core.service) owns the sources on its own loop and thread; thread
workers call it and post messages; handlers hand plain data to the panes.
"""
from __future__ import annotations

import gc
import os
import time

from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.containers import Container
from textual.css.query import NoMatches

from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from tui.core import memory
from tui.core.config import Settings
from tui.core.history import FROM_HISTORY, History
from widgets.footer import Footer
from widgets.lazy import SafeLazy
from widgets.pane import Pane, age_text
from widgets.panes import (AccountsPane, CompliancePane, Item, OnboardingPane, PlansPane, RecommendationsPane,
                           TablePane, name_words, rec_cells, standards_matching)
from widgets.virtual_table import VirtualTable

if TYPE_CHECKING:  # imported where used: none of these is on the way to the first frame
    from tui.core import derive as d
    from tui.core import model as m

    from .screens import DetailScreen, ListScreen


PANES: tuple[tuple[str, type[Pane], tuple[str, ...]], ...] = (
    ("accounts", AccountsPane, ("accounts", "account", "acc", "connectors")),
    ("plans", PlansPane, ("plans", "plan")),
    ("arc", OnboardingPane, ("arc", "onboarding", "ec2", "onb")),
    ("recs", RecommendationsPane, ("recs", "recommendations", "rec")),
    ("compliance", CompliancePane, ("compliance", "comp", "cis", "pci", "fsbp", "mcsb")),
)
GRID_ORDER = ("accounts", "plans", "arc", "compliance", "recs")
DASHBOARD_ONLY = frozenset({"show_pane", "next_pane", "prev_pane", "open", "filter", "command_line", "export",
                            "portal"})
VIEW_FORMAT = "panes-2"  # what _save_view keeps (JSON); change it when that changes (older views are then ignored)
STANDARD_ALIASES = {"cis": "cis", "pci": "pci", "fsbp": "foundational security", "afsbp": "foundational security",
                    "mcsb": "cloud security benchmark"}
PORTAL = "https://portal.azure.com/#@{tenant}/resource{id}"
REC_PORTAL = ("https://portal.azure.com/#view/Microsoft_Azure_Security/GenericRecommendationDetailsBlade/"
              "assessmentKey/{key}")


class SnapshotLoaded(Message):
    def __init__(self, snap: m.Snapshot, from_history: bool = False) -> None:
        super().__init__()
        self.snap = snap
        self.from_history = from_history
        from tui.core import derive as d

        # derived here, in the worker thread that posts the message: 0.1-1 s for a 200-account estate
        self.views = d.account_views(snap)
        cd = snap.data("connectors")
        self.rollup = d.org_rollup(cd.connectors) if cd else {}


class RecsLoaded(Message):
    def __init__(self, rows: list[m.Recommendation] | None, index: Any, error: str | None, as_of: datetime) -> None:
        super().__init__()
        self.rows, self.index, self.error, self.as_of = rows, index, error, as_of


class Booted(Message):
    def __init__(self, error: str | None, scope: str = "") -> None:
        super().__init__()
        self.error = error
        self.scope = scope


class MdcCommands(Provider):
    """Command palette: every view and action."""

    async def search(self, query: str) -> Hits:
        app: MdcApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for label, help_text, cb in app.palette_commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), cb, help=help_text)

    async def discover(self) -> Hits:
        app: MdcApp = self.app  # type: ignore[assignment]
        for label, help_text, cb in app.palette_commands():
            yield Hit(1, label, cb, help=help_text)


class MdcApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mdc-aws"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (140, "-wide")]
    COMMANDS = App.COMMANDS | {MdcCommands}
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
        Binding("r", "refresh", "Refresh"),
        Binding("b", "portal", "Portal"),
        Binding("e", "export", "Export"),
        Binding("o", "onboard", "Onboard"),
        Binding("question_mark", "help", "Help"),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings | None = None, *, demo: dict[str, Any] | None = None,
                 refresh_s: float = 60.0, history: History | None = None,
                 service_factory: Callable[[Settings, m.Snapshot | None], Any] | None = None,
                 theme: str | None = None, section_timeout_s: float = 120.0, read_only: bool = False) -> None:
        super().__init__()
        from tui.core import policy

        # --read-only: onboarding shows every request but can send none (the core's policy, set by the CLI, refuses
        # every write where it passes whatever this says)
        self.read_only = read_only or policy.read_only()
        self.settings = settings or Settings()
        if demo is not None:
            from tui.core import demo as sealed

            # sealed before any screen exists: loopback placeholders until the estate is ready, never the operator's
            self.settings = sealed.sealed_settings(self.settings, self.settings.azure.subscriptions)
        self.demo = demo
        self.refresh_s = max(2.0, float(refresh_s))
        self.recs_refresh_s = max(self.refresh_s * 2, 10.0)
        self.history = history
        self.service_factory = service_factory
        self.section_timeout_s = section_timeout_s
        self.service: Any = None
        self.estate_proc: Any = None
        self.snap: m.Snapshot | None = None
        self.history_as_of: datetime | None = None  # of the cached view shown until the snapshot has loaded
        self.views: list[d.AccountView] = []
        self.active = "accounts"
        self.scope_text = "starting…"
        self.last_refresh: float | None = None
        self.collecting = False
        self.recs_rows: list[m.Recommendation] = []
        self._quitting = False  # not `_closing`: that name is Textual's own (MessagePump), which this once clobbered
        self._refreeze_pending = False
        self._history_said: set[str] = set()  # history problems already shown (each once)
        self._panes: dict[str, Pane] = {}
        if theme:
            self.theme = theme

    # ------------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static("", id="topbar")
        yield Static("", id="tabs")
        with Container(id="panes"):
            # grid order at 140+ columns: accounts | plans, onboarding | compliance, recommendations (full width)
            # only the active pane is mounted before the first frame; the others right after it (textual Lazy)
            by_name = {name: cls for name, cls, _ in PANES}
            for name in GRID_ORDER:
                pane = self._panes[name] = by_name[name](id=f"pane-{name}", classes="pane")
                yield pane if name == self.active else SafeLazy(pane)
        # hidden until `:` / drawn after the panes: both mounted right after the first frame
        yield SafeLazy(Input(placeholder=":accounts :plans :arc :recs :compliance mcsb|cis|pci|… :quit", id="cmdline"))
        yield SafeLazy(Footer())

    def pane(self, name: str) -> Pane:
        """The pane (possibly not mounted yet: panes keep what they are given and show it once mounted)."""
        return self._panes[name]

    def on_mount(self) -> None:
        self.action_show_pane(self.active)
        self.set_interval(1.0, self._tick)
        if self.history is not None and self._show_cached_view():
            # the first frame shows the panes as they were drawn from the latest snapshot; the snapshot itself (its
            # model, derivations, and what enter opens) loads right after that frame
            self.call_after_refresh(self._load_history_then_boot)
            return
        self._load_history()
        # the service starts after the first frame: its imports and process start never delay it
        self.call_after_refresh(self._boot)

    def _load_history(self) -> None:
        if self.history is None:
            return
        try:
            prev = self.history.latest()
        except Exception:  # noqa: BLE001 - a broken history file must not block start-up
            prev = None
        if prev is not None:
            # handled now, not posted: a frame is drawn with the cached panes, never without them
            msg = SnapshotLoaded(prev, from_history=True)
            msg.set_sender(self)
            self.on_snapshot_loaded(msg)

    def _load_history_then_boot(self) -> None:
        self._load_history()
        self._boot()

    # ------------------------------------------------------------------------------------------- cached view

    def _show_cached_view(self) -> bool:
        """Fill the panes from the view saved with the latest snapshot (see `_save_view`); False when there is none
        that matches it. Rows show, stale, without what enter opens until the snapshot itself has loaded."""
        try:
            blob = self.history.latest_view(VIEW_FORMAT) if self.history is not None else None
            if blob is None:
                return False
            from tui.core import codec

            # JSON of plain values and rich Text only (never pickle: a file on disk must not run code)
            view = codec.loads(blob, ext={"text": _text_from_plain})
            panes = view["panes"]
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
                pane.set_state(state, as_of, error or FROM_HISTORY)
            self.pane("recs").set_state("loading", None, None)
            self.scope_text = view["scope"]
            self.history_as_of = view["generated_at"]
        except Exception:  # noqa: BLE001 - a view from another version or a broken row: load the snapshot instead
            return False
        self._tick()
        return True

    def _save_view(self, generated_at: datetime) -> None:
        """Keep the table panes' rows as drawn from this (fresh) snapshot, for the next start's first frame."""
        if self.history is None:
            self._history_problem(None)
            return
        panes = {}
        for name, _, _ in PANES:
            p = self.pane(name)
            if isinstance(p, TablePane):
                panes[name] = {"items": [(it.key, it.cells, it.fields, it.text) for it in p.items],
                               "state": (p.state, p.as_of, p.error), "summary": getattr(p, "summary", None)}
        view = {"generated_at": generated_at, "scope": self.scope_text, "panes": panes}
        history = self.history

        def write() -> None:
            from tui.core import codec

            history.save_view(generated_at, VIEW_FORMAT, codec.dumps(view, ext=_text_to_plain))
            self._history_problem(history)

        self.run_worker(write, thread=True, group="view", exit_on_error=False, name="save-view")

    def _history_problem(self, history: Any) -> None:
        """Say once (a warning toast, any thread) why the history is disabled or was rebuilt, here or in the
        collector process."""
        said = self._history_said
        for msg in (getattr(history, "error", None), getattr(history, "notice", None),
                    getattr(self.service, "history_error", None)):
            if isinstance(msg, str) and msg and msg not in said:
                said.add(msg)
                try:
                    self.call_from_thread(self.notify, msg, title="History", severity="warning", timeout=15)
                except RuntimeError:  # on the UI thread itself
                    self.notify(msg, title="History", severity="warning", timeout=15)

    # ------------------------------------------------------------------------------------------- boot + refresh

    @work(thread=True, exclusive=True, group="boot", exit_on_error=False)
    def _boot(self) -> None:
        memory.limit_arenas(2)  # before the threads that decode big answers start: see tui.core.memory
        settings = self.settings
        try:
            if self.demo is not None:
                from tui.core import demo as sealed
                from tui.core import policy

                self.call_from_thread(self._set_scope, "starting the emulated estate…")
                sealed.starting()
                try:
                    from tui.emulator.estate import spawn

                    self.estate_proc = spawn(seed=self.demo.get("seed", 42), scale=self.demo.get("scale", "default"),
                                             tick_seconds=self.demo.get("tick_seconds", 60.0))
                except Exception as e:  # noqa: BLE001 - missing demo extras, a child that died: one clear line
                    raise RuntimeError(sealed.failed(e)) from None
                # the screens read app.settings: from now on the estate's (loopback, its demo token)
                settings = self.settings = sealed.estate_settings(self.estate_proc.info, settings)
                policy.check_reads(settings, "the dashboard")
            factory = self.service_factory
            if factory is None:
                from tui.core.procservice import ProcessService

                def factory(s: Settings, start: m.Snapshot | None) -> Any:
                    # the collection runs in its own process: its garbage and SDK memory never stall the UI
                    return ProcessService(s, self.history, section_timeout_s=self.section_timeout_s,
                                          start_from=start)
            self.service = factory(settings, self.snap)
            self.post_message(Booted(None))
        except Exception as e:  # noqa: BLE001 - shown in the panes (plain text: its [demo] shows), never a traceback
            self.post_message(Booted(" ".join(str(e).split())[:400] or e.__class__.__name__))

    def on_booted(self, msg: Booted) -> None:
        if msg.error:
            for name, _, _ in PANES:
                self.pane(name).set_state("error", self.pane(name).as_of, f"start-up failed: {msg.error}")
            self._set_scope("start-up failed")
            return
        self._start_collect()

    def _start_collect(self) -> None:
        if self.service is None or self.collecting or self._quitting:
            return
        self.collecting = True
        for name, _, _ in PANES:
            p = self.pane(name)
            if p.state != "ok" or p.as_of is None:
                p.set_state("loading" if p.as_of is None else p.state, p.as_of, p.error)
        self.run_worker(self._collect_job, thread=True, exclusive=True, group="collect", exit_on_error=False,
                        name="collect")

    def _collect_job(self) -> None:
        snap = self.service.collect()
        self.post_message(SnapshotLoaded(snap))

    def _start_recs(self) -> None:
        if self.service is None or self._quitting:
            return
        self.run_worker(self._recs_job, thread=True, exclusive=True, group="recs", exit_on_error=False,
                        name="recs")

    def _recs_job(self) -> None:
        now = datetime.now(timezone.utc)
        try:
            table = getattr(self.service, "recommendation_table", None)
            if table is not None:
                # rows with accounts attached and every sort order computed where they were fetched (by default
                # the collector process): the first sort by a column would otherwise cost 0.1-0.5 s at 100k rows
                t = table()
                rows, orders = t.rows, t.orders
            else:
                from tui.core import derive as d

                rows = d.attach_accounts(self.service.recommendations(), self.snap)
                orders = None
        except Exception as e:  # noqa: BLE001
            self.post_message(RecsLoaded(None, None, " ".join(str(e).split()), now))
            return
        from tui.core import rectable  # in the worker: not on the way to the first frame

        index = rectable.make_index(rows, orders)
        # the filter's search text and columns, here in the worker (the UI loop only ever queries the index)
        index.prepare([(key, desc) for key in rectable.SORT_KEYS.values() for desc in (False, True)])
        self.post_message(RecsLoaded(rows, index, None, now))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED) or self._leaving:
            return
        if w.name == "collect":
            self.collecting = False
            self._tick()
            if event.state == WorkerState.ERROR:
                err = " ".join(str(w.error).split()) or "collection failed"
                for name in ("accounts", "plans", "arc", "compliance"):
                    p = self.pane(name)
                    p.set_state("stale" if p.as_of else "error", p.as_of, err)
            if not self._quitting:
                self.set_timer(self.refresh_s, self._start_collect, name="next-collect")
        elif w.name == "recs":
            if event.state == WorkerState.ERROR:
                p = self.pane("recs")
                p.set_state("stale" if p.as_of else "error", p.as_of, " ".join(str(w.error).split()))
            if not self._quitting:
                self.set_timer(self.recs_refresh_s, self._start_recs, name="next-recs")

    # ------------------------------------------------------------------------------------------- data in

    @property
    def _leaving(self) -> bool:
        """The app is quitting: its screens may already be gone, so late results are dropped, not drawn."""
        return self._quitting or not self.is_running

    def on_snapshot_loaded(self, msg: SnapshotLoaded) -> None:
        if self._leaving:
            return
        first_fresh = not msg.from_history and (self.snap is None or self.last_refresh is None)
        self.snap = msg.snap
        if not msg.from_history:
            self.last_refresh = time.monotonic()
        self.views = msg.views
        cd = msg.snap.data("connectors")
        rollup = msg.rollup
        secs = msg.snap.sections
        with self.batch_update():
            acc = self.pane("accounts")
            if cd is not None:
                acc.show(self.views, rollup)
            s = secs["connectors"].status
            acc.set_state(s.status, s.as_of, s.error)
            plans = self.pane("plans")
            if cd is not None:
                plans.show(self.views)
            s = secs["plans"].status
            plans.set_state(_worst(s, secs["connectors"].status), s.as_of, s.error or secs["connectors"].status.error)
            onb = self.pane("arc")
            if msg.snap.data("onboarding") is not None and cd is not None:
                onb.show(self.views)
            s = secs["onboarding"].status
            onb.set_state(s.status, s.as_of, s.error)
            comp = self.pane("compliance")
            cdata = msg.snap.data("compliance")
            if cdata is not None:
                trends = {}
                if self.history is not None:
                    try:
                        trends = {st.name: [v for _, v in self.history.trend("compliance_pct", st.name, 30,
                                                                                   tenant=msg.snap.tenant_id)]
                                  for st in cdata.standards}
                    except Exception:  # noqa: BLE001 - a history problem must never keep the pane from drawing
                        trends = {}
                comp.show(cdata.standards, trends)
            s = secs["compliance"].status
            comp.set_state(s.status, s.as_of, s.error)
            recs = self.pane("recs")
            if msg.from_history and recs.as_of is None:
                recs.set_state("loading", None, None)
        self._update_scope()
        if not msg.from_history:
            self._save_view(msg.snap.generated_at)
        self._freeze_long_lived()  # the snapshot is long-lived: keep it out of full collections
        if first_fresh:
            self._start_recs()

    def on_recs_loaded(self, msg: RecsLoaded) -> None:
        if self._leaving:
            return
        p: RecommendationsPane = self.pane("recs")  # type: ignore[assignment]
        if msg.error:
            p.set_state("stale" if p.as_of else "error", p.as_of, msg.error)
            return
        self.recs_rows = msg.rows or []
        p.set_rows(self.recs_rows, msg.index)
        p.set_state("ok", msg.as_of, None)
        # 100k long-lived rows: keep them out of the cyclic GC's full collections (seconds each at this size,
        # with the GIL held); they hold no cycles, so reference counting still frees them on the next refresh
        self._freeze_long_lived()
        # the rows they replaced are gone: hand their memory back (a few ms, off the UI loop)
        self.run_worker(memory.trim, thread=True, group="trim", exit_on_error=False, name="trim")

    def _set_scope(self, text: str) -> None:
        self.scope_text = text
        self._tick()

    def _update_scope(self) -> None:
        snap = self.snap
        if snap is None:
            return
        n_acc = len(self.views)
        tenant = f"tenant {snap.tenant_id[:8]}…" if snap.tenant_id else "tenant ?"
        demo = " · demo estate" if self.demo is not None else ""
        self.scope_text = f"{tenant} · {len(snap.subscriptions)} subs · {n_acc} AWS accounts{demo}"
        self._tick()

    def _tick(self) -> None:
        if not self.is_mounted:
            return
        now = datetime.now(timezone.utc)
        for name, _, _ in PANES:
            self.pane(name).refresh_title(now)
        if self.collecting:
            age = "⟳ refreshing"
        elif self.last_refresh is not None:
            age = f"⟳ {int(time.monotonic() - self.last_refresh)} s ago"
        elif self.snap is not None or self.history_as_of is not None:
            as_of = self.snap.generated_at if self.snap is not None else self.history_as_of
            age = f"▲ from history ({age_text(as_of, now)})"
        else:
            age = "⟳ loading"
        try:
            top = self.query_one("#topbar", Static)
        except NoMatches:  # the dashboard's widgets are being torn down (the app is closing)
            return
        top.update(Text.assemble(("mdc-aws ", "bold"), f"{self.scope_text}  ", (age, "italic")))

    def _freeze_long_lived(self) -> None:
        """After a load, move what is alive out of the cyclic collector's reach (gc.freeze: its full collections
        then never walk 100k rows with the GIL held while keys arrive), right after the load's frame is drawn.

        A freeze keeps whatever it catches until an unfreeze: garbage cycles of that moment, and every object alive
        then that dies in a cycle later (Strips of the line caches, Footer keys, workers, timers, messages; the
        collector process's answers are frozen as they are decoded, tui.core.procservice). Freezing at each load
        without ever collecting them grew the dashboard by ~30 MB a minute at a 5 s refresh. So each freeze first
        releases the last one and collects everything (one full collection per load, ~0.1-0.3 s at 100k+ rows):
        what a freeze catches lives at most until the next load."""
        if not self._refreeze_pending:
            self._refreeze_pending = True
            self.call_after_refresh(self._refreeze)

    def _refreeze(self) -> None:
        self._refreeze_pending = False
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------------------------------------- navigation

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dashboard keys are hidden (and inert) on pushed screens, so their footers show only what works there;
        tab/shift+tab then move the focus (form fields) instead of switching panes."""
        if action in DASHBOARD_ONLY and len(self.screen_stack) > 1:
            return False
        return True

    def action_show_pane(self, name: str) -> None:
        self.active = name
        for n, _, _ in PANES:
            self.pane(n).set_own_class(n == name, "-active")
        tabs = Text()
        for i, (n, cls, _) in enumerate(PANES, 1):
            style = "bold reverse" if n == name else ""
            tabs.append(f" {i} {cls.title_text.split(' ')[0]} ", style=style)
            tabs.append(" ")
        self.query_one("#tabs", Static).update(tabs)
        pane = self.pane(name)
        if hasattr(pane, "render_if_dirty"):
            pane.render_if_dirty()
        pane.focus_body()

    def on_resize(self) -> None:
        # wider than the breakpoint, every pane shows: render those that changed while hidden
        self.call_after_refresh(self._render_dirty)

    def _render_dirty(self) -> None:
        for name, _, _ in PANES:
            p = self.pane(name)
            if hasattr(p, "render_if_dirty") and p.is_displayed():
                p.render_if_dirty()

    def _cycle(self, step: int) -> None:
        names = [n for n, _, _ in PANES]
        self.action_show_pane(names[(names.index(self.active) + step) % len(names)])

    def action_next_pane(self) -> None:
        self._cycle(1)

    def action_prev_pane(self) -> None:
        self._cycle(-1)

    def on_descendant_focus(self, event: Any) -> None:
        # keep `active` in step with the focus (mouse clicks, tab in wide mode)
        node = event.widget if hasattr(event, "widget") else None
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        if isinstance(node, Pane):
            name = node.id.removeprefix("pane-") if node.id else None
            if name and name != self.active and self.screen is self.screen_stack[0]:
                self.active = name
                for n, _, _ in PANES:
                    self.pane(n).set_own_class(n == name, "-active")

    def action_filter(self) -> None:
        if self.screen is not self.screen_stack[0]:
            return
        self.pane(self.active).open_filter()

    def cmdline(self) -> Input | None:
        """The `:` line; None until it is mounted (just after the first frame)."""
        try:
            return self.screen_stack[0].query_one("#cmdline", Input)
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
        words = text.strip().lstrip(":").split()
        if not words:
            self.pane(self.active).focus_body()
            return
        head, rest = words[0].lower(), words[1:]
        if head in ("q", "quit", "exit"):
            self.exit()
            return
        if head in ("help", "?"):
            self.action_help()
            return
        for name, _, aliases in PANES:
            if head in aliases:
                self.action_show_pane(name)
                std = " ".join(rest).lower() if rest else (head if head in STANDARD_ALIASES else None)
                if name == "compliance" and std:
                    self.open_standard_by_alias(std)
                elif rest and name != "compliance":
                    p = self.pane(name)
                    p.apply_filter(" ".join(rest))
                return
        self.notify(f"unknown view {head!r}: try :accounts :plans :arc :recs :compliance cis", severity="warning")
        self.pane(self.active).focus_body()

    def action_back(self) -> None:
        cmd = self.cmdline()
        if cmd is not None and cmd.has_class("-shown"):
            cmd.remove_class("-shown")
            self.pane(self.active).focus_body()
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return
        p = self.pane(self.active)
        if not p._ready:
            return
        f = p.filter_input()
        if (f is not None and f.has_class("-shown")) or p.filter_text:
            p.close_filter(clear=True)

    def action_help(self) -> None:
        from .screens import HelpScreen

        self.push_screen(HelpScreen())

    def action_onboard(self) -> None:
        from .screens.onboarding import open_onboarding

        open_onboarding(self)

    def action_refresh(self) -> None:
        if self.service is None:
            self.notify("still starting…")
            return
        self._start_collect()
        self._start_recs()
        self.notify("refreshing all panes", timeout=2)

    def show_portal(self, url: str | None) -> None:
        if not url:
            self.notify("nothing selected with a portal link", severity="warning")
            return
        try:
            self.copy_to_clipboard(url)
        except Exception:  # noqa: BLE001
            pass
        self.notify(url, title="Azure portal (copied)", timeout=12)

    def action_portal(self) -> None:
        if self.screen is not self.screen_stack[0]:
            return
        self.show_portal(self.portal_url(self.active, self.pane(self.active).selection()))

    def portal_url(self, pane: str, sel: Any) -> str | None:
        tenant = (self.snap.tenant_id if self.snap else None) or "common"
        if sel is None:
            return None
        if pane in ("accounts", "plans", "arc"):
            v = sel[0] if isinstance(sel, tuple) else sel
            return PORTAL.format(tenant=tenant, id=v.connectors[0].id) if v.connectors else None
        if pane == "recs":
            return REC_PORTAL.format(key=sel.assessment_key)
        if pane == "compliance":
            return "https://portal.azure.com/#view/Microsoft_Azure_Security/SecurityMenuBlade/~/22"
        return None

    def action_export(self) -> None:
        if self.snap is None:
            self.notify("nothing to export yet", severity="warning")
            return
        import json

        from tui.core.export import snapshot_to_dict, write_private

        ts = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = Path(os.environ.get("MDC_AWS_EXPORT_DIR", ".")) / f"mdc-aws-{ts}.json"
        try:
            write_private(path, json.dumps(snapshot_to_dict(self.snap), indent=2))  # 0600
        except OSError as e:
            self.notify(f"export failed: {e.strerror}: {path}", severity="error")
            return
        self.notify(f"wrote {path}", title="Export")

    # ------------------------------------------------------------------------------------------- drill-down

    def action_open(self) -> None:
        if self.screen is not self.screen_stack[0]:
            return
        self.open_selection(self.active)

    @on(VirtualTable.RowSelected)
    def _row_selected(self, event: VirtualTable.RowSelected) -> None:
        node = event.table.parent
        if isinstance(node, Pane) and node.id:
            event.stop()
            self.open_selection(node.id.removeprefix("pane-"))

    def open_selection(self, pane: str) -> None:
        sel = self.pane(pane).selection()
        if sel is None:
            return
        if pane in ("accounts", "plans"):
            self.push_screen(self.account_screen(sel))
        elif pane == "arc":
            v, region, stuck = sel
            self.push_screen(self.stuck_screen(v, region, stuck))
        elif pane == "recs":
            self.push_screen(self.rec_screen(sel))
        elif pane == "compliance":
            self.open_standard(sel.name)

    def account_screen(self, v: d.AccountView) -> DetailScreen:
        from tui.core import derive as d
        from .screens import DetailScreen, json_block

        t = Text()
        t.append(f"{v.name}  ({v.aws_account_id})\n", style="bold")
        t.append(f"organization role: {v.organization_role}\n")
        if v.duplicate_classic_native:
            t.append("▲ duplicated: connected by both a classic and a native connector; remove the classic one "
                     f"(retired by Microsoft on {d.CLASSIC_RETIRED_ON}, no data since; o, then 3)\n", style="yellow")
        elif v.classic_only:
            t.append(f"▲ {d.CLASSIC_HEALTH}: no plan is enabled and nothing is onboarded to Arc; "
                     f"{d.CLASSIC_MIGRATE}\n", style="yellow")
        cd = self.snap.data("connectors") if self.snap else None
        if v.organization_role == "management" and cd is not None:
            r = d.org_rollup(cd.connectors).get(v.aws_account_id, {})
            t.append(f"members present: {', '.join(r.get('members_present', [])) or 'none'}; "
                     f"excluded: {', '.join(r.get('excluded', [])) or 'none'}; StackSet {r.get('stackset_name')}\n")
        t.append("\nPlans\n", style="bold")
        for key, p in v.plans.items():
            state = "✔ on" if p.enabled else "· off"
            extra = f" {p.sub_plan}" if p.sub_plan else ""
            t.append(f"  {key:<14} {state}{extra}\n")
            for pr in p.prerequisites:
                mark = "✔" if pr.ok else ("✖" if pr.ok is False else "?")
                t.append(f"      {mark} {pr.name}: {pr.detail}\n", style="" if pr.ok else "yellow")
        f = v.onboarding
        if f is not None:
            t.append("\nOnboarding\n", style="bold")
            t.append(f"  EC2 {f.ec2_total if f.ec2_total is not None else '?'} → SSM online "
                     f"{f.ssm_online if f.ssm_online is not None else '?'} → Arc connected {f.arc_connected}; "
                     f"stuck {len(f.stuck)}\n")
            if f.aws_error:
                t.append(f"  AWS: {f.aws_error}\n", style="yellow")
        if v.recommendations is not None:
            r = v.recommendations
            t.append("\nRecommendations\n", style="bold")
            t.append(f"  {r.unhealthy} unhealthy of {r.total}: " +
                     ", ".join(f"{k} {n}" for k, n in r.unhealthy_by_severity.items()) + "\n")
            if r.classic_legacy_total:
                t.append(f"  + {r.classic_legacy_unhealthy} unhealthy of {r.classic_legacy_total} left by the retired "
                         "classic connector (stale since 2023-09-15: not counted above)\n", style="dim")
        comp = self.snap.data("compliance") if self.snap else None
        if comp is not None:  # the standards assigned on its native connector(s) (their per-connector copies)
            names = comp.standards_of(v.aws_account_id)
            t.append("\nCompliance standards\n", style="bold")
            if names:
                t.append("".join(f"  {n}\n" for n in names))
            else:
                t.append("  none known: an account with no standard assigned shows no compliance data (portal: "
                         "Environment settings > the account > Standards)\n", style="yellow")
        for c in v.connectors:
            t.append(f"\n{c.kind} connector {c.name}" + (f" ({d.connector_health(c)[0]})" if c.kind == "classic"
                                                           else "") + "\n", style="bold")
            t.append(json_block(dict(c.raw)) + "\n")
        tenant = (self.snap.tenant_id if self.snap else None) or "common"
        return DetailScreen(["Dashboard", "Accounts", v.aws_account_id], t,
                            portal=PORTAL.format(tenant=tenant, id=v.connectors[0].id))

    def stuck_screen(self, v: d.AccountView, region: str | None, stuck: list[d.StuckInstance]) -> ListScreen:
        from tui.core import derive as d
        from .screens import ListScreen

        od = self.snap.data("onboarding") if self.snap else None
        inv = od.aws.get(v.aws_account_id) if od else None
        ssm = {s.instance_id.lower(): s for s in (inv.ssm if inv else ())}
        # SSM lists no stopped instance: "stopped", not "no agent", for those
        stopped = {i.instance_id.lower() for i in (inv.instances if inv else ()) if i.stopped}
        arc = d.snapshot_arc_index(self.snap)
        items = []
        now = datetime.now(timezone.utc)
        for s in stuck:
            ss = ssm.get(s.instance_id.lower())
            a = arc.get(s.instance_id.lower())
            items.append(Item(s.instance_id, (s.instance_id, s.region or "?", s.reason,
                                              ss.ping_status if ss else
                                              "stopped" if s.instance_id.lower() in stopped else "no agent",
                                              ("—" if a is None else a.status if s.matched_by != d.MATCH_NAME
                                               else a.status[:5] + "≈"),
                                              d.due_short(s.discovery_due, now)),
                              payload=s))
        header = (f"{len(stuck)} stuck in {region or 'all regions'}. MDC discovers new EC2 instances every hour "
                  "(whatever the connector's scan interval). ≈: Arc machine matched by computer name (no MDC tags).")
        if v.onboarding is not None and v.onboarding.aws_error:
            header += f"\nAWS side: {v.onboarding.aws_error}"
        return ListScreen(["Dashboard", "Onboarding", v.aws_account_id, region or "?"],
                          [("INSTANCE", 19), ("REGION", 10), ("REASON", 19), ("SSM", 10), ("ARC", 6),
                           ("NEXT SCAN", 10)], items,
                          on_open=lambda it: self.push_screen(self.instance_screen(v, it.payload)), header=header)

    def instance_screen(self, v: d.AccountView, s: d.StuckInstance) -> DetailScreen:
        from tui.core import derive as d
        from tui.core import model as m
        from .screens import DetailScreen

        od = self.snap.data("onboarding") if self.snap else None
        inv = od.aws.get(v.aws_account_id) if od else None
        ec2 = next((i for i in (inv.instances if inv else ()) if i.instance_id == s.instance_id), None)
        ssm = next((x for x in (inv.ssm if inv else ()) if x.instance_id == s.instance_id), None)
        arc = d.snapshot_arc_index(self.snap).get(s.instance_id.lower()) if od else None
        t = Text()
        t.append(f"{s.instance_id}  ·  {s.reason}\n", style="bold")
        t.append(f"fix: {d.STUCK_FIX.get(s.reason, '')}\n", style="yellow")
        if s.reason == m.REASON_NOT_DISCOVERED:
            t.append(d.due_text(s.discovery_due, datetime.now(timezone.utc)) + "\n")
        t.append("\n")
        t.append("EC2\n", style="bold")
        t.append(f"  account {v.aws_account_id}  region {s.region}  " +
                 (f"state {ec2.state}  platform {ec2.platform}  name {ec2.name}  launched "
                  f"{ec2.launch_time.strftime('%Y-%m-%d %H:%M UTC') if ec2.launch_time else '?'}\n"
                  if ec2 else "not read\n"))
        t.append("SSM\n", style="bold")
        if ssm:
            t.append(f"  {ssm.ping_status}  agent {ssm.agent_version}  platform {ssm.platform_type}  "
                     f"last ping {ssm.last_ping}\n")
        elif ec2 is not None and ec2.stopped:  # SSM lists no stopped instance
            t.append("  the instance is stopped: SSM lists no stopped instance, its agent reports once it runs\n")
        else:
            t.append("  not a managed instance (no SSM agent reporting)\n")
        t.append("Azure Arc\n", style="bold")
        t.append(f"  {arc.status}  {arc.id}\n  last status change {arc.last_status_change}\n" if arc
                 else "  no Arc machine yet\n")
        if arc is not None and s.matched_by == d.MATCH_NAME:
            t.append(f"  matched by computer name ({arc.computer_name or arc.name}): the machine carries no MDC tags "
                     "(installed by hand or by the Arc multicloud connector)\n", style="dim")
        tenant = (self.snap.tenant_id if self.snap else None) or "common"
        return DetailScreen(["Dashboard", "Onboarding", v.aws_account_id, s.instance_id], t,
                            portal=PORTAL.format(tenant=tenant, id=arc.id) if arc else None)

    def rec_screen(self, r: m.Recommendation, crumbs: list[str] | None = None) -> DetailScreen:
        from .screens import DetailScreen

        same = [x for x in self.recs_rows if x.assessment_key == r.assessment_key and x.status == "Unhealthy"]
        t = Text()
        t.append(f"{r.title}\n", style="bold")
        t.append(f"severity {r.severity} · status {r.status} · resource {r.resource_name} ({r.resource_type}) · "
                 f"account {r.aws_account_id} · region {r.region}\n\n")
        t.append("Description\n", style="bold")
        t.append(f"  {r.description or '—'}\n\n")
        t.append("Remediation\n", style="bold")
        t.append(f"  {r.remediation or '—'}\n\n")
        t.append(f"Affected resources ({len(same)} unhealthy)\n", style="bold")
        for x in same[:50]:
            t.append(f"  {x.resource_name}  {x.aws_account_id}  {x.region}\n")
        if len(same) > 50:
            t.append(f"  … and {len(same) - 50} more (filter the pane with the title)\n")
        t.append(f"\nassessment {r.id}\n", style="dim")
        return DetailScreen(crumbs or ["Dashboard", "Recommendations", r.resource_name or r.assessment_key], t,
                            portal=REC_PORTAL.format(key=r.assessment_key))

    def open_standard_by_alias(self, alias: str) -> None:
        """`:compliance <part of a name>`: one standard matches (or one is named exactly so) -> its controls; several
        -> the pane filtered to them."""
        cdata = self.snap.data("compliance") if self.snap else None
        needle = STANDARD_ALIASES.get(alias, alias)
        found = standards_matching(cdata.standards if cdata else (), needle)
        exact = [s for s in found if name_words(s.name) == name_words(needle)]
        if len(found) == 1 or len(exact) == 1:
            self.open_standard((exact or found)[0].name)
        elif found:
            self.pane("compliance").apply_filter(name_words(needle))
            self.notify(f"{len(found)} standards match {alias!r}: enter opens one", timeout=3)
        else:
            self.notify(f"no standard matches {alias!r} (yet)", severity="warning")

    def open_standard(self, name: str) -> None:
        self.notify(f"loading the controls of {name}…", timeout=2)
        self.run_worker(partial(self._controls_job, name), thread=True, exclusive=True, group="drill",
                        exit_on_error=False, name="controls")

    def _controls_job(self, name: str) -> None:
        try:
            controls = self.service.compliance_controls(name) if self.service else []
        except Exception as e:  # noqa: BLE001
            self.call_from_thread(self.notify, f"{name}: {' '.join(str(e).split())}", severity="error")
            return
        self.call_from_thread(self._show_controls, name, controls)

    def _show_controls(self, name: str, controls: list[m.ComplianceControl]) -> None:
        from .screens import ListScreen

        order = {"Failed": 0, "Passed": 1, "Skipped": 2, "Unsupported": 3}
        items = [Item(c.name, (c.name, Text(c.state, style="red" if c.state == "Failed" else
                                            "green" if c.state == "Passed" else "dim"),
                               str(c.failed_assessments), c.description or ""), payload=c)
                 for c in sorted(controls, key=lambda c: order.get(c.state, 9))]
        failed = sum(1 for c in controls if c.state == "Failed")
        self.push_screen(ListScreen(["Dashboard", "Compliance", name],
                                    [("CONTROL", 16), ("STATE", 11), ("FAILING", 7), ("TITLE", 41)], items,
                                    on_open=lambda it: self.open_control(name, it.payload),
                                    header=f"{failed} of {len(controls)} controls failing · FAILING = failing "
                                           "recommendations · enter lists a control's failing resources"))

    def open_control(self, standard: str, c: m.ComplianceControl) -> None:
        self.run_worker(partial(self._control_job, standard, c), thread=True, exclusive=True, group="drill",
                        exit_on_error=False, name="control")

    def _control_job(self, standard: str, c: m.ComplianceControl) -> None:
        try:
            keys = set(self.service.compliance_failing_keys(standard, c.name)) if self.service else set()
        except Exception as e:  # noqa: BLE001
            self.call_from_thread(self.notify, f"{c.name}: {' '.join(str(e).split())}", severity="error")
            return
        rows = [r for r in self.recs_rows if r.assessment_key.lower() in keys and r.status == "Unhealthy"]
        self.call_from_thread(self._show_control, standard, c, rows)

    def _show_control(self, standard: str, c: m.ComplianceControl, rows: list[m.Recommendation]) -> None:
        from .screens import ListScreen

        items = [Item(r.id, rec_cells(r)[:1] + (r.resource_name or "", r.aws_account_id or "", r.region or "",
                                                 r.title), payload=r) for r in rows]
        crumbs = ["Dashboard", "Compliance", standard, c.name]
        self.push_screen(ListScreen(
            crumbs, [("SEV", 7), ("RESOURCE", 22), ("ACCOUNT", 12), ("REGION", 14), ("RECOMMENDATION", 19)],
            items, on_open=lambda it: self.push_screen(self.rec_screen(it.payload, crumbs + [it.payload.resource_name
                                                                                          or "?"])),
            header=f"{c.name} {c.description or ''} · {c.state} · {len(rows)} failing resources",
            portal=lambda it: REC_PORTAL.format(key=it.payload.assessment_key)))

    # ------------------------------------------------------------------------------------------- palette

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        cmds: list[tuple[str, str, Callable[[], Any]]] = []
        for name, cls, _ in PANES:
            cmds.append((f"View: {cls.title_text}", f":{name}", partial(self.action_show_pane, name)))
        for alias, label in (("mcsb", "Microsoft cloud security benchmark"), ("cis", "CIS"), ("pci", "PCI DSS"),
                             ("fsbp", "AWS Foundational Security BP")):
            cmds.append((f"Compliance: {label} controls", f":compliance {alias}",
                         partial(self.run_command, f"compliance {alias}")))
        cmds += [
            ("Refresh now", "r", self.action_refresh),
            ("Filter the focused table", "/", self.action_filter),
            ("Open the selection", "enter", self.action_open),
            ("Azure portal link of the selection", "b", self.action_portal),
            ("Export the snapshot (JSON)", "e", self.action_export),
            ("Help: every key", "?", self.action_help),
            ("Quit", "q", self.exit),
        ]
        return cmds

    # ------------------------------------------------------------------------------------------- shutdown

    async def action_quit(self) -> None:
        self.exit()

    def on_unmount(self) -> None:
        self._quitting = True
        self._stop_children()

    def _stop_children(self, grace_s: float = 2.0) -> None:
        """End the collector and the estate at once (each asked, then killed after ``grace_s``) and remove the
        estate's temp folder; any thread, any number of times."""
        import sys
        import threading

        def stop(obj: Any) -> None:
            try:
                if hasattr(obj, "close"):
                    try:
                        obj.close(grace_s=grace_s)
                    except TypeError:  # a service without a grace period (tests' fakes, the in-process Service)
                        obj.close()
                else:
                    obj.stop(grace_s=grace_s)
            except Exception:  # noqa: BLE001 - best effort at exit: the others must still be stopped
                pass

        threads = [threading.Thread(target=stop, args=(obj,), name="mdc-aws-stop", daemon=True)
                   for obj in (self.service, self.estate_proc) if obj is not None]
        # a demo's estate started but not handed over yet; only in a demo run: an app embedded in a process that runs
        # estates of its own (the benchmarks, tests) must not stop them
        estate_mod = sys.modules.get("tui.emulator.estate") if self.demo is not None else None
        if estate_mod is not None:
            threads.append(threading.Thread(target=estate_mod._stop_all, name="mdc-aws-stop", daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace_s + 2.5)

    # ------------------------------------------------------------------------------------------- signals

    def on_load(self) -> None:
        """SIGHUP (the SSH session or terminal went away) and SIGTERM end the dashboard as q does: children
        stopped, temp folders removed (a watchdog makes sure of it if the terminal cannot be restored)."""
        import asyncio
        import signal

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._exit_on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal here
                pass

    def _exit_on_signal(self, signum: int) -> None:
        import threading

        if getattr(self, "_exit_signal", None):
            return
        self._exit_signal = signum
        self._quitting = True

        def watchdog() -> None:
            self._stop_children()  # now: the terminal may be gone and the app's own exit slow or stuck
            time.sleep(1.5)
            os._exit(128 + signum)  # still here: the exit is stuck (e.g. writing to a hung-up terminal)

        threading.Thread(target=watchdog, name="mdc-aws-exit", daemon=True).start()
        self.exit(return_code=128 + signum)


def _text_to_plain(obj: Any) -> tuple[str, Any] | None:
    """A rich Text cell as plain data for the cached view (tui.core.codec's ``ext``)."""
    if isinstance(obj, Text):
        return "text", [obj.plain, str(obj.style) if obj.style else "",
                        [[sp.start, sp.end, str(sp.style)] for sp in obj.spans]]
    return None


def _text_from_plain(data: Any) -> Text:
    from rich.text import Span

    plain, style, spans = data
    if not isinstance(plain, str) or not isinstance(style, str):
        raise ValueError("bad text cell")
    return Text(plain, style=style, spans=[Span(int(a), int(b), str(st)) for a, b, st in spans])


def _worst(a: m.SectionStatus, b: m.SectionStatus) -> str:
    order = {"ok": 0, "stale": 1, "error": 2}
    return a.status if order.get(a.status, 0) >= order.get(b.status, 0) else ("stale" if b.status != "ok" else "ok")
