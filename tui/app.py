"""The App: lifecycle only. It starts the data service (after the first frame), schedules the refreshes, keeps the
history and the data the service returned (`snap`, `views`, `recs_rows`), and hands each result to the dashboard
(tui.screens.dashboard, its default screen), which displays it.

The App never calls an SDK: the service (tui.core.service.DashboardService; by default the collector process,
tui.core.procservice) does, from thread workers that post plain-data messages (tui.messages).
Its own keys work on every screen: r refresh, o onboarding, ? help, q quit.
"""
from __future__ import annotations

import gc
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Protocol

from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from tui.core.config import Settings
from tui.core.history import History
from tui.core.memory import POLICY
from tui.render.cache import VIEW_FORMAT, text_from_plain, text_to_plain
from tui.screens.dashboard import DashboardScreen
from widgets.pane import age_text

if TYPE_CHECKING:  # imported where used: none of these is on the way to the first frame
    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.service import DashboardService
    from tui.messages import Booted, RecsLoaded, RecsProgress, SnapshotLoaded

Flow = Literal["home", "native", "classic", "remove"]


class Estate(Protocol):
    """The demo's emulated estate as the app sees it (tui.demo_estate.DemoEstate; the CLI makes it)."""

    def start(self, base: Settings) -> Settings: ...

    def stop(self, grace_s: float = ...) -> None: ...


ServiceFactory = Callable[[Settings, "m.Snapshot | None"], "DashboardService"]

# The collector's young-generation threshold while mdc-aws starts (tui/cli.py: STARTUP_GEN0, set when the CLI is
# imported, before textual): the imports and the first frame create ~50k objects that all live on, and traversing
# them every 700 allocations cost ~20 ms of the first frame.
STARTUP_GEN0 = 200_000

# Threads of the app's thread workers (boot, collect, recs, drill-downs, onboarding's reads, trim, save-view), all made
# once after the first frame. Textual runs a thread worker in its loop's default executor, which asyncio makes lazily
# and grows one thread at a time up to min(32, cores + 4) whenever more workers happen to overlap (a drill-down
# during a collection and a recommendations fetch): a dashboard left open gained a thread now and then for hours.
WORKER_THREADS = 6


class WorkerPool(ThreadPoolExecutor):
    """The app's thread workers' executor: ``size`` threads, all started at once (``start_all``), never more."""

    def __init__(self, size: int = WORKER_THREADS) -> None:
        super().__init__(max_workers=size, thread_name_prefix="mdc-aws-worker")
        self.size = size

    def start_all(self) -> None:
        """Make every thread now: each of ``size`` tasks waits until all are running, so none can reuse a thread
        another has started (ThreadPoolExecutor adds a thread per task submitted while none is idle)."""
        barrier = threading.Barrier(self.size)

        def meet() -> None:
            try:
                barrier.wait(timeout=5.0)
            except threading.BrokenBarrierError:  # a thread busy elsewhere: the pool still never exceeds its size
                pass

        for _ in range(self.size):
            self.submit(meet)


def _end_startup_gc() -> None:
    """After the first frame: what lives now is frozen (never traversed again; the memory policy's refreeze unfreezes
    it after each drawn load) and CPython's thresholds come back. Nothing to do when start-up did not raise them."""
    threshold = gc.get_threshold()
    if threshold[0] == STARTUP_GEN0:
        gc.freeze()
        gc.set_threshold(700, *threshold[1:])  # CPython's default young-generation threshold


class MdcApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mdc-aws"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("o", "onboard", "Onboard"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings | None = None, *, estate: Estate | None = None,
                 refresh_s: float = 60.0, history: History | None = None,
                 service_factory: ServiceFactory | None = None, theme: str | None = None,
                 section_timeout_s: float = 120.0, read_only: bool = False, start_flow: Flow | None = None) -> None:
        super().__init__()
        from tui.core import policy

        # --read-only: onboarding shows every request but can send none (the core's policy, set by the CLI, refuses
        # every write where it passes whatever this says)
        self.read_only = read_only or policy.read_only()
        self.settings = settings or Settings()
        self.estate = estate
        if estate is not None:
            from tui.core import demo as sealed

            # sealed before any screen exists: loopback placeholders until the estate is ready, never the operator's
            self.settings = sealed.sealed_settings(self.settings, self.settings.azure.subscriptions)
        self.start_flow = start_flow
        self.refresh_s = max(2.0, float(refresh_s))
        self.recs_refresh_s = max(self.refresh_s * 2, 10.0)
        self.history = history
        self.service_factory = service_factory
        self.section_timeout_s = section_timeout_s
        self.service: DashboardService | None = None
        self.snap: m.Snapshot | None = None
        self.views: list[d.AccountView] = []
        self.recs_rows: list[m.Recommendation] = []
        self._recs_load = 0  # the newest recommendations fetch started (its messages carry it)
        self._recs_ended = 0  # the newest one that ended: progress is shown while these two differ
        self.history_as_of: datetime | None = None  # of the cached view shown until the snapshot has loaded
        self.scope_text = "starting…"
        self.last_refresh: float | None = None
        self.collecting = False
        self._quitting = False  # not `_closing`: that name is Textual's own (MessagePump), which this once clobbered
        self._refreeze_pending = False
        # the one pending timer of each schedule ("next-collect", "next-recs"): a load started early (r, onboarding's
        # writes, the first snapshot) replaces it instead of adding a second chain of loads beside it
        self._next: dict[str, Timer] = {}
        self._history_said: set[str] = set()  # history problems already shown (each once)
        self._pool: WorkerPool | None = None  # the thread workers' executor (on_load)
        self._dashboard = DashboardScreen()
        self._history_load: Future[SnapshotLoaded | None] | None = None  # the snapshot read beside the start-up
        self._view_blob: str | None = None  # the cached view, read on load, shown on mount
        if theme:
            self.theme = theme

    @property
    def demo(self) -> bool:
        """A demo run (the emulated estate): the screens read only the estate's settings."""
        return self.estate is not None

    @property
    def dashboard(self) -> DashboardScreen:
        return self._dashboard

    def get_default_screen(self) -> DashboardScreen:
        return self._dashboard

    def now(self) -> datetime:
        """The one clock of the UI (ages, next scans, export names)."""
        return datetime.now(timezone.utc)

    # ------------------------------------------------------------------------------------------- start-up

    def _prepare_first_frame(self) -> None:
        """(on_load, before the screen is composed.) What the first frame shows: the cached view when the history
        has one of its latest snapshot; otherwise that snapshot itself, read and derived in a thread started now, so
        that the work overlaps the app's start-up (a Textual worker would only start after the first frame)."""
        try:
            self._view_blob = self.history.latest_view(VIEW_FORMAT) if self.history is not None else None
        except Exception:  # noqa: BLE001 - a broken history: no view, the snapshot loads (or says why) instead
            self._view_blob = None
        if self._view_blob is None and self.history is not None:
            self._history_load = self._read_history_in_thread()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        if self._show_cached_view():
            # the first frame shows the panes as they were drawn from the latest snapshot; the snapshot itself (its
            # model, derivations, and what enter opens) loads in the start-up worker right after that frame
            pass
        elif self._history_load is not None:
            # no view: the first frame waits for the snapshot that thread is reading (the UI has nothing else to
            # show yet); the UI loop itself neither reads nor derives it
            try:
                msg = self._history_load.result(timeout=30)
            except TimeoutError:  # a history on a hung disk: start without it (the start-up worker waits on)
                msg = None
            if msg is not None:
                self.on_snapshot_loaded(msg)
        # the service (and a demo's estate) start after the first frame: their imports and processes never delay it
        self.call_after_refresh(self._start)
        if self.start_flow is not None:  # `mdc-aws onboard`: the onboarding screens over the dashboard
            self.call_after_refresh(self.open_onboarding, self.start_flow)

    def _show_cached_view(self) -> bool:
        """Fill the panes from the view saved with the latest snapshot (see `_save_view`); False when there is none
        that matches it."""
        try:
            blob, self._view_blob = self._view_blob, None
            if blob is None:
                return False
            from tui.core import codec

            # JSON of plain values and rich Text only (never pickle: a file on disk must not run code)
            view = codec.loads(blob, ext={"text": text_from_plain})
            self.dashboard.restore_view(view["panes"])
            self.scope_text = view["scope"]
            self.history_as_of = view["generated_at"]
        except Exception:  # noqa: BLE001 - a view from another version or a broken row: the snapshot loads instead
            return False
        self._tick()
        return True

    def _start(self) -> None:
        _end_startup_gc()  # the first frame is drawn
        if self._pool is not None:
            self._pool.start_all()  # before the first worker: every thread the workers will ever use
        self.run_worker(self._start_job, thread=True, exclusive=True, group="boot", exit_on_error=False,
                        name="boot")

    def _read_history(self) -> SnapshotLoaded | None:
        """(Never on the UI loop.) The latest snapshot of the history with its derivations; None without one."""
        if self.history is None:
            return None
        from tui.messages import derived

        try:
            prev = self.history.latest()
            return derived(prev, from_history=True, trends=self._trends(prev)) if prev is not None else None
        except Exception:  # noqa: BLE001 - a broken history file must not block start-up
            return None

    def _read_history_in_thread(self) -> Future[SnapshotLoaded | None]:
        fut: Future[SnapshotLoaded | None] = Future()

        def run() -> None:
            fut.set_result(self._read_history())  # never raises (see _read_history)

        threading.Thread(target=run, name="mdc-aws-history", daemon=True).start()
        return fut

    def _start_job(self) -> None:
        """The last snapshot from the history (shown at once), then the estate of a demo and the service."""
        from tui.messages import Booted

        if self._history_load is not None:  # read beside the first frame, and shown in it
            msg = self._history_load.result()
        else:  # the cached view is on screen: now the snapshot behind it
            msg = self._read_history()
            if msg is not None:
                self.post_message(msg)
        prev = msg.snap if msg is not None else None
        POLICY.prepare()  # before the threads that decode big answers start: see tui.core.memory
        settings = self.settings
        try:
            if self.estate is not None:
                self.call_from_thread(self._set_scope, "starting the emulated estate…")
                # the screens read app.settings: from now on the estate's (loopback, its demo token)
                settings = self.settings = self.estate.start(settings)
            factory = self.service_factory or self._process_service
            self.service = factory(settings, prev)
            if self._quitting:  # quit while it started: on_unmount's stop has run already
                self._stop_children()
                return
            self.post_message(Booted(None))
        except Exception as e:  # noqa: BLE001 - shown in the panes (plain text: its [demo] shows), never a traceback
            self.post_message(Booted(" ".join(str(e).split())[:400] or e.__class__.__name__))

    def _process_service(self, settings: Settings, start: m.Snapshot | None) -> DashboardService:
        from tui.core.procservice import ProcessService

        # the collection runs in its own process: its garbage and SDK memory never stall the UI
        return ProcessService(settings, self.history, section_timeout_s=self.section_timeout_s, start_from=start)

    def on_booted(self, msg: Booted) -> None:
        if msg.error:
            self.dashboard.mark_start_failed(msg.error)
            self._set_scope("start-up failed")
            return
        self._start_collect()  # the recommendations follow the first snapshot (their accounts come from it)

    # ------------------------------------------------------------------------------------------- refresh

    def refresh_data(self) -> None:
        """Collect and fetch the recommendations now (each also refreshes itself on its own schedule)."""
        self._start_collect()
        self._start_recs()

    def _start_collect(self) -> None:
        if self.service is None or self.collecting or self._quitting:
            return
        self._unschedule("next-collect")  # this is the next collection: the one scheduled would be an extra one
        self.collecting = True
        self.dashboard.mark_loading()
        self.run_worker(self._collect_job, thread=True, exclusive=True, group="collect", exit_on_error=False,
                        name="collect")

    def _collect_job(self) -> None:
        from tui.messages import derived

        assert self.service is not None
        snap = self.service.collect()
        self.post_message(derived(snap, trends=self._trends(snap)))

    def _trends(self, snap: m.Snapshot) -> dict[str, list[float | None]]:
        """Each standard's compliance % over the last 30 collections (a worker: it reads the history)."""
        cdata = snap.data("compliance")
        if self.history is None or cdata is None:
            return {}
        history = self.history
        try:
            return {st.name: [v for _, v in history.trend("compliance_pct", st.name, 30, tenant=snap.tenant_id)]
                    for st in cdata.standards}
        except Exception:  # noqa: BLE001 - a history problem must never keep the pane from drawing
            return {}

    def _start_recs(self) -> None:
        if self.service is None or self._quitting:
            return
        self._unschedule("next-recs")
        self._recs_load += 1
        self.run_worker(partial(self._recs_job, self._recs_load), thread=True, exclusive=True, group="recs",
                        exit_on_error=False, name="recs")

    def _recs_job(self, load: int = 0) -> None:
        from tui.core.service import TableService
        from tui.messages import RecsLoaded, RecsProgress

        now = self.now()
        svc = self.service
        try:
            if isinstance(svc, TableService):
                # rows with accounts attached and every sort order computed where they were fetched (by default
                # the collector process): the first sort by a column would otherwise cost 0.1-0.5 s at 100k rows
                fetch = svc.recommendation_table
                if _takes_progress(fetch):  # a million rows take a minute and more: the pane says how far
                    from tui.core.progress import Throttle

                    def tell(rows: int, total: int | None) -> None:
                        self.post_message(RecsProgress(rows, total, load))

                    t = fetch(progress=Throttle(tell))
                else:
                    t = fetch()
                rows, orders = t.rows, t.orders
                self.post_message(RecsProgress(len(rows), None, load, "index"))
            else:
                from tui.core import derive as d

                assert svc is not None
                rows = d.attach_accounts(svc.recommendations(), self.snap)
                orders = None
        except Exception as e:  # noqa: BLE001 - any failure of the service is shown in the pane as one line
            self.post_message(RecsLoaded(None, None, " ".join(str(e).split()), now, load))
            return
        from tui.core import rectable  # in the worker: not on the way to the first frame

        index = rectable.make_index(rows, orders)
        # the filter's search text and columns, here in the worker (the UI loop only ever queries the index)
        index.prepare([(key, desc) for key in rectable.SORT_KEYS.values() for desc in (False, True)])
        self.post_message(RecsLoaded(rows, index, None, now, load))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED) or self._leaving:
            return
        if w.name == "collect":
            self.collecting = False
            self._tick()
            if event.state == WorkerState.ERROR:
                self.dashboard.mark_failed(" ".join(str(w.error).split()) or "collection failed",
                                           ("accounts", "plans", "arc", "compliance"))
            self._schedule("next-collect", self.refresh_s, self._start_collect)
        elif w.name == "recs":
            if event.state == WorkerState.CANCELLED:
                # replaced by a newer fetch (exclusive): that one schedules the next when it ends. Scheduling here too
                # made every `r` a second chain of fetches for good (each ending fetch set a timer, each timer's
                # fetch cancelled the other chain's), and a timer could cancel a fetch that takes longer than it
                return
            if event.state == WorkerState.ERROR:
                self._recs_ended = self._recs_load
                self.dashboard.show_recs_progress(None)
                self.dashboard.mark_failed(" ".join(str(w.error).split()), ("recs",))
            self._schedule("next-recs", self.recs_refresh_s, self._start_recs)

    def _schedule(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        """``callback`` in ``delay`` s, replacing the pending one of the same name: one timer per schedule."""
        self._unschedule(name)

        def fire() -> None:
            self._next.pop(name, None)  # it has fired: nothing to stop any more
            callback()

        self._next[name] = self.set_timer(delay, fire, name=name)

    def _unschedule(self, name: str) -> None:
        timer = self._next.pop(name, None)
        if timer is not None:
            timer.stop()

    # ------------------------------------------------------------------------------------------- data in

    @property
    def _leaving(self) -> bool:
        """The app is quitting: its screens may already be gone, so late results are dropped, not drawn."""
        return self._quitting or not self.is_running

    def on_snapshot_loaded(self, msg: SnapshotLoaded) -> None:
        if self._leaving:
            return
        first_fresh = not msg.from_history and (self.snap is None or self.last_refresh is None)
        if msg.from_history and self.snap is not None:
            return  # a collection answered first: the history's older snapshot is not shown over it
        self.snap, self.views = msg.snap, msg.views
        if not msg.from_history:
            self.last_refresh = time.monotonic()
        self.dashboard.show_snapshot(msg)
        self._update_scope()
        if not msg.from_history:
            self._save_view(msg.snap.generated_at)
        self._refreeze()  # the snapshot is long-lived: keep it out of full collections
        if first_fresh:
            self._start_recs()

    def on_recs_progress(self, msg: RecsProgress) -> None:
        if self._leaving or msg.load != self._recs_load or msg.load <= self._recs_ended:
            return  # a late word of a fetch that has ended, or was replaced
        self.dashboard.show_recs_progress(msg.rows, msg.total, msg.phase)

    def on_recs_loaded(self, msg: RecsLoaded) -> None:
        self._recs_ended = max(self._recs_ended, msg.load)  # its progress is over (one still queued is dropped)
        if self._leaving:
            return
        if msg.load >= self._recs_load:
            self.dashboard.show_recs_progress(None)
        if msg.error:
            self.dashboard.mark_failed(msg.error, ("recs",))
            return
        self.recs_rows = msg.rows or []
        self.dashboard.show_recommendations(self.recs_rows, msg.index, msg.as_of)
        self._refreeze()  # 100k long-lived rows: out of the cyclic GC's full collections (tui.core.memory)
        # the rows they replaced are gone: hand their memory back (a few ms, off the UI loop)
        self.run_worker(POLICY.trim, thread=True, group="trim", exit_on_error=False, name="trim")

    def _refreeze(self) -> None:
        """Once the load's frame is drawn: tui.core.memory.MemoryPolicy.refreeze (why: its docstring)."""
        if not self._refreeze_pending:
            self._refreeze_pending = True
            self.call_after_refresh(self._do_refreeze)

    def _do_refreeze(self) -> None:
        self._refreeze_pending = False
        POLICY.refreeze()

    # ------------------------------------------------------------------------------------------- history

    def _save_view(self, generated_at: datetime) -> None:
        """Keep the table panes' rows as drawn from this (fresh) snapshot, for the next start's first frame."""
        if self.history is None:
            self._history_problem(None)
            return
        view = {"generated_at": generated_at, "scope": self.scope_text, "panes": self.dashboard.view_state()}
        history = self.history

        def write() -> None:
            from tui.core import codec

            history.save_view(generated_at, VIEW_FORMAT, codec.dumps(view, ext=text_to_plain))
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

    # ------------------------------------------------------------------------------------------- status

    def _set_scope(self, text: str) -> None:
        self.scope_text = text
        self._tick()

    def _update_scope(self) -> None:
        snap = self.snap
        if snap is None:
            return
        tenants = getattr(snap, "tenants", None) or {}
        if len(tenants) > 1:  # several in view (Lighthouse, [[tenants]]): how many; the TENANT column says whose
            tenant = f"{len(tenants)} tenants"
        else:
            tenant = f"tenant {snap.tenant_id[:8]}…" if snap.tenant_id else "tenant ?"
        demo = " · demo estate" if self.demo else ""
        self.scope_text = f"{tenant} · {len(snap.subscriptions)} subs · {len(self.views)} AWS accounts{demo}"
        self._tick()

    def _tick(self) -> None:
        now = self.now()
        if self.collecting:
            age = "⟳ refreshing"
        elif self.last_refresh is not None:
            age = f"⟳ {int(time.monotonic() - self.last_refresh)} s ago"
        elif self.snap is not None or self.history_as_of is not None:
            as_of = self.snap.generated_at if self.snap is not None else self.history_as_of
            age = f"▲ from history ({age_text(as_of, now)})"
        else:
            age = "⟳ loading"
        self.dashboard.set_status(self.scope_text, age, now)

    # ------------------------------------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # an onboarding flow owns its screen: r and o do nothing there (o would open onboarding again, r would change
        # what the flow is reading) and stay out of its footer
        try:
            screen = self.screen
        except ScreenStackError:  # no screen left (the app is closing)
            return False
        return not (action in ("refresh", "onboard") and getattr(screen, "OWNS_KEYS", False))

    def action_refresh(self) -> None:
        if self.service is None:
            self.notify("still starting…")
            return
        self.refresh_data()
        self.notify("refreshing all panes", timeout=2)

    def action_help(self) -> None:
        from .screens.detail import HelpScreen

        self.push_screen(HelpScreen())

    def action_onboard(self) -> None:
        self.open_onboarding()

    def open_onboarding(self, flow: Flow = "home") -> None:
        """The onboarding home (once: `o` inside it does nothing), then ``flow`` when one is named."""
        from .screens.onboarding import open_onboarding

        open_onboarding(self, None if flow == "home" else flow)

    def show_portal(self, url: str | None) -> None:
        if not url:
            self.notify("nothing selected with a portal link", severity="warning")
            return
        try:
            self.copy_to_clipboard(url)
        except Exception:  # noqa: BLE001 - a terminal without clipboard support: the toast still shows the link
            pass
        self.notify(url, title="Azure portal (copied)", timeout=12)

    # ------------------------------------------------------------------------------------------- shutdown

    async def action_quit(self) -> None:
        self.exit()

    def on_unmount(self) -> None:
        self._quitting = True
        self._stop_children()
        self._release_pool()

    def _release_pool(self) -> None:
        """The loop gets a default executor of its own again (asyncio's kind: no thread until used; a test session
        runs many apps on one loop), and this app's pool ends its threads once their workers are done."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        import asyncio

        try:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        except RuntimeError:  # no loop running here: nothing to hand back
            pass
        pool.shutdown(wait=False)

    def _stop_children(self, grace_s: float = 2.0) -> None:
        """End the collector and the estate at once (each asked, then killed after ``grace_s``); any thread, any
        number of times."""

        def stop_service(svc: Any) -> None:
            try:
                svc.close(grace_s=grace_s)
            except TypeError:  # a service without a grace period (tests' fakes, the in-process Service)
                svc.close()

        def best_effort(fn: Callable[[], None]) -> None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort at exit: the others must still be stopped
                pass

        jobs: list[Callable[[], None]] = []
        if self.service is not None:
            jobs.append(partial(stop_service, self.service))
        if self.estate is not None:
            jobs.append(partial(self.estate.stop, grace_s=grace_s))
        threads = [threading.Thread(target=best_effort, args=(job,), name="mdc-aws-stop", daemon=True)
                   for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace_s + 2.5)

    def on_load(self) -> None:
        """The first frame's data (see _prepare_first_frame), and signals: SIGHUP (the SSH session or terminal went
        away) and SIGTERM end the dashboard as q does: children stopped, temp folders removed (a watchdog makes sure
        of it if the terminal cannot be restored)."""
        self._prepare_first_frame()
        import asyncio
        import signal

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        # thread workers run in the loop's default executor: a fixed pool (see WORKER_THREADS), given back on unmount
        self._pool = WorkerPool()
        loop.set_default_executor(self._pool)
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._exit_on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal here
                pass

    def _exit_on_signal(self, signum: int) -> None:

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


def _takes_progress(fn: Callable[..., Any]) -> bool:
    """Whether a service's ``recommendation_table`` takes ``progress=`` (Service and ProcessService do; a test's or
    a benchmark's stand-in may not)."""
    import inspect

    try:
        return "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


__all__ = ["MdcApp", "Estate", "Flow"]
