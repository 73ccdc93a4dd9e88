"""Key-to-repaint latency while a refresh streams the large estate, and the app's memory: one child process.

``python -m benchmarks.live --estate-info FILE --out FILE [--dump-recs FILE] [--data-dir DIR]``

The real MdcApp with its default service (the collection in the app's own collector process,
tui.core.procservice; ``--in-process``: the Service on a thread of this process, as before 2026-11-29) against an
estate already running in another process (``--estate-info``: EstateInfo JSON), so this process's RSS is the UI's
own; the collector's RSS is read from /proc (every collector process still running: one retired for its size counts
until it has exited) and both are sampled together every 100 ms. PSS (shared pages split between the processes) is
recorded with the rows held, as information. Headless 80x24 under ``App.run_test``; frames are turned into terminal
bytes as a real driver would (see common.timed_display).

Phase A: start up as ``mdc-aws`` does without history: collection, then the recommendations fetch; wait for both.
Idle: 3 s of keys with nothing running (the baseline).
Phase B: ``r`` (refresh: a collection and the recommendations fetch at once) while ``down`` (9 of 10) and
``pagedown`` (1 of 10) arrive every ``--interval`` seconds on the recommendations pane, until both are done.

Keys are posted from a thread exactly as Textual's input thread does (``run_coroutine_threadsafe(app._post_message)``)
so a key that arrives while the UI loop is blocked waits, and that wait counts. Latency of a key: from posting it
to the end of the first frame composed after the table ran its action (common.FrameLog).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import threading
import time
from typing import Any

from .common import (FrameLog, mdc_css_path, ms, proc_pss_mb, proc_status_mb, summary_ms, timed_display,
                     wait_until, write_json)


def make_app_class() -> type:
    from textual.worker import WorkerState

    from tui.app import MdcApp

    class LiveApp(MdcApp):
        CSS_PATH = mdc_css_path()

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.flog = FrameLog()
            self.marks: list[tuple[float, str, dict[str, Any]]] = []  # (perf_counter, what, details)

        def _display(self, screen: Any, renderable: Any) -> None:
            timed_display(self, self.flog, screen, renderable, super()._display)

        # Textual calls the handler of every class in the MRO: run MdcApp's here, timed, then stop the walk.
        def on_snapshot_loaded(self, msg: Any) -> None:
            t0 = time.perf_counter()
            MdcApp.on_snapshot_loaded(self, msg)
            t1 = time.perf_counter()
            msg.prevent_default()
            self.marks.append((t0, "SnapshotLoaded", {"handler_ms": ms(t1 - t0), "from_history": msg.from_history}))

        def on_recs_loaded(self, msg: Any) -> None:
            t0 = time.perf_counter()
            MdcApp.on_recs_loaded(self, msg)
            t1 = time.perf_counter()
            msg.prevent_default()
            self.marks.append((t0, "RecsLoaded", {"handler_ms": ms(t1 - t0), "rows": len(msg.rows or []),
                                                  "error": msg.error}))

        def on_worker_state_changed(self, event: Any) -> None:  # MdcApp's runs too (MRO walk)
            if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
                self.marks.append((time.perf_counter(), f"worker {event.worker.name} {event.state.name}",
                                   {"error": str(event.worker.error)[:200] if event.worker.error else None}))

        def worker_busy(self, name: str) -> bool:
            return any(w.name == name and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                       for w in self.workers)

    return LiveApp


class KeyFeeder(threading.Thread):
    """Posts keys from its own thread, as Textual's input thread does, every ``interval`` seconds."""

    def __init__(self, app: Any, interval: float) -> None:
        super().__init__(name="bench-keys", daemon=True)
        self.app, self.interval = app, interval
        self.sent: list[tuple[float, str]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        from textual import events

        loop = self.app._loop
        i = 0
        next_t = time.perf_counter()
        while not self.stop_event.is_set():
            key = "pagedown" if i % 10 == 9 else "down"
            ev = events.Key(key, None)
            ev.set_sender(self.app)
            self.sent.append((time.perf_counter(), key))
            asyncio.run_coroutine_threadsafe(self.app._post_message(ev), loop)
            i += 1
            next_t += self.interval
            delay = next_t - time.perf_counter()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_t = time.perf_counter()


class RssSampler(threading.Thread):
    """RSS of this process and of the collector process (when there is one), every 100 ms: the peak of each and
    the peak of their sum (the dashboard's memory is both)."""

    def __init__(self, app: Any) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.app = app
        self.stop_event = threading.Event()
        self.peak = {"ui": 0.0, "collector": 0.0, "sum": 0.0}
        self.timeline: list[tuple[float, float, float, int]] = []  # (perf_counter, ui MB, collector MB, its pid)
        self.frozen: list[int] = []  # objects in the UI's frozen generation at each sample (gc.get_freeze_count)

    def run(self) -> None:
        while not self.stop_event.wait(0.1):
            ui = proc_status_mb().get("VmRSS", 0.0)
            pid = getattr(self.app.service, "pid", None)
            col = collector_rss_mb(self.app.service)
            for k, v in (("ui", ui), ("collector", col), ("sum", ui + col)):
                self.peak[k] = max(self.peak[k], v)
            self.timeline.append((time.perf_counter(), ui, col, pid or 0))
            self.frozen.append(gc.get_freeze_count())


def collector_rss_mb(svc: Any) -> float:
    """RSS of the collector: every process of it still running (one retired for its size exits by itself, and
    counts until it is gone)."""
    pids = getattr(svc, "pids", None)
    if pids is None:
        pid = getattr(svc, "pid", None)
        pids = [pid] if pid else []
    return sum(proc_status_mb(p).get("VmRSS", 0.0) for p in pids)


class GcLog:
    """Garbage collections longer than 5 ms: (start perf_counter, seconds, generation, thread name). A collection
    holds the GIL, so it stalls the UI loop whichever thread triggered it."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int, str]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            dt = time.perf_counter() - self._t0
            if dt > 0.005:
                self.pauses.append((self._t0, dt, info.get("generation", -1), threading.current_thread().name))


async def loop_lag(app: Any, out: list[tuple[float, float]], stop: asyncio.Event, period: float = 0.01) -> None:
    """Event-loop stalls: how late a 10 ms sleep wakes up (only stalls > 25 ms are kept)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        late = time.perf_counter() - t - period
        if late > 0.025:
            out.append((t, late))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tui.demo_estate import demo_settings
    from tui.core.config import Settings
    from tui.core.history import History
    from tui.emulator.estate import EstateInfo

    with open(args.estate_info, encoding="utf-8") as fh:
        info = EstateInfo.from_json(fh.read())
    settings = demo_settings(info, Settings())
    history = History.in_dir(args.data_dir) if args.data_dir else None
    res: dict[str, Any] = {"rss_start": proc_status_mb()}
    LiveApp = make_app_class()
    factory = None
    if args.in_process:  # the Service on a thread of this process (what the dashboard used before 2026-11-29)
        from tui.core.service import Service

        def factory(s: Any, start: Any) -> Any:
            return Service(s, history, section_timeout_s=args.section_timeout, start_from=start)
    app = LiveApp(settings, refresh_s=3600.0, history=history, section_timeout_s=args.section_timeout,
                  service_factory=factory)

    gclog = GcLog()
    gc.callbacks.append(gclog)
    t_begin = time.perf_counter()
    lags: list[tuple[float, float]] = []
    stop_lag = asyncio.Event()
    sampler = RssSampler(app)
    sampler.start()
    async with app.run_test(size=(80, 24)) as pilot:
        lag_task = asyncio.create_task(loop_lag(app, lags, stop_lag))
        await pilot.pause()
        app.dashboard.action_show_pane("recs")  # what `4` does: the recommendations pane, its table focused
        table = app.dashboard.pane("recs").table
        actions: list[float] = []
        for name in ("action_cursor_down", "action_page_down"):
            orig = getattr(table, name)

            def wrapped(orig: Any = orig) -> None:
                actions.append(time.perf_counter())
                orig()

            setattr(table, name, wrapped)  # Textual looks actions up with getattr on the instance

        # -- phase A: start-up (collection, then the recommendations fetch)
        ok = await wait_until(lambda: app.recs_rows and not app.collecting and not app.worker_busy("recs")
                              and not app.worker_busy("collect"), args.phase_timeout, step=0.1)
        t_a = time.perf_counter()
        res["phase_a_s"] = round(t_a - t_begin, 1)
        res["phase_a_complete"] = ok
        res["rss_after_start"] = proc_status_mb()
        if getattr(app.service, "pid", None):
            res["collector_rss_after_start"] = proc_status_mb(app.service.pid)
        res["rows"] = len(app.recs_rows)
        res["shown_rows"] = table.row_count
        await asyncio.sleep(0.5)

        # -- idle baseline, then phase B: refresh (collect + recs at once) while keys arrive
        feeder = KeyFeeder(app, args.interval)
        feeder.start()
        await asyncio.sleep(args.idle_s)
        from textual import events

        t_r = time.perf_counter()
        app.post_message(events.Key("r", "r"))
        await wait_until(lambda: app.collecting or app.worker_busy("recs"), 5.0)
        t_started = time.perf_counter()
        await wait_until(lambda: not app.collecting and not app.worker_busy("recs")
                         and not app.worker_busy("collect"), args.phase_timeout, step=0.05)
        t_done = time.perf_counter()
        await asyncio.sleep(args.idle_s)  # a tail of keys after the refresh (the UI settling)
        feeder.stop_event.set()
        feeder.join()
        t_stop = time.perf_counter()
        await wait_until(lambda: len(actions) >= len(feeder.sent), 10.0)
        await asyncio.sleep(0.3)
        stop_lag.set()
        await lag_task
        res["rss_holding_rows"] = proc_status_mb()
        sampler.stop_event.set()
        sampler.join()
        res["rss_peak_sampled"] = {k: round(v, 1) for k, v in sampler.peak.items()}
        # every sample from the refresh on, 1 s apart at most (seconds from `r`, UI MB, collector MB, collector pid)
        step = 1 if args.full_timeline else 10
        res["rss_timeline"] = [(round(t - t_r, 1), ui, col, pid) for t, ui, col, pid in sampler.timeline[::step]
                               if t >= t_r - 1]
        if args.full_timeline:  # with the UI's frozen objects, same samples
            res["frozen_timeline"] = [(round(x[0] - t_r, 1), f) for x, f in zip(sampler.timeline, sampler.frozen)
                                      if x[0] >= t_r - 1]
        res["pss_holding_rows"] = {"ui": proc_pss_mb()}
        res["rows_after_refresh"] = len(app.recs_rows)
        res["phase_b_s"] = round(t_done - t_r, 1)
        res["refresh_started_after_ms"] = ms(t_started - t_r)
        svc = app.service
        res["service"] = type(svc).__name__
        if hasattr(svc, "starts"):  # collector processes started, and retired for their size once idle
            res["collector_starts"], res["collector_retired"] = svc.starts, getattr(svc, "retired", 0)
        child_pids = getattr(svc, "pids", None)
        if child_pids is None:
            child_pids = [svc.pid] if getattr(svc, "pid", None) else []
        if child_pids or hasattr(svc, "pids"):  # the collector process (ProcessService): its memory counts as the
            # app's too; none running (retired for its size after the refresh) counts 0 and says so
            stats = [proc_status_mb(p) for p in child_pids]
            res["collector_rss_holding_rows"] = {k: round(sum(st.get(k, 0.0) for st in stats), 1)
                                                 for k in ("VmRSS", "VmHWM")}
            res["pss_holding_rows"]["collector"] = round(sum(proc_pss_mb(p) or 0.0 for p in child_pids), 1)
        res["collector_processes_holding_rows"] = len(child_pids)
        try:  # diagnostics of an in-process Service: what the AWS source keeps (private attributes, read only)
            aws = svc._aws
            accesses = list(aws._accesses.values()) + ([aws._base] if aws._base else [])
            res["aws_accesses"] = len(accesses)
            res["aws_clients"] = sum(len(a.clients) for a in accesses)
        except Exception:  # noqa: BLE001 - optional diagnostics of private attributes: never fail the run
            pass
        if args.dump_recs:
            from tui.core import codec  # tagged JSON: reading it back can never run code (no pickle on disk)

            with open(args.dump_recs, "w", encoding="utf-8") as fh:
                fh.write(codec.dumps(list(app.recs_rows)))
        marks = list(app.marks)
        frames = list(app.flog.frames)
        frame_bytes = app.flog.bytes

    # -- match keys to actions (one queue, in order) and actions to frames
    sent = feeder.sent
    res["keys_sent"] = len(sent)
    res["keys_acted"] = len(actions)
    flog = FrameLog()
    flog.frames = frames
    per_key: list[tuple[float, str, float, float]] = []  # (t_sent, key, latency, queue delay)
    hint = 0
    for (t_sent, key), t_act in zip(sent, actions):
        f = flog.first_after(t_act, hint)
        if f is None:
            per_key.append((t_sent, key, float("nan"), t_act - t_sent))
            continue
        hint = f[0]
        per_key.append((t_sent, key, f[1] - t_sent, t_act - t_sent))

    def phase_of(t: float) -> str:
        if t < t_r:
            return "idle_before"
        if t <= t_done:
            return "during_refresh"
        return "after_refresh"

    phases: dict[str, Any] = {}
    for ph in ("idle_before", "during_refresh", "after_refresh"):
        for key in ("down", "pagedown", "all"):
            vals = [lat for t, k, lat, _ in per_key if phase_of(t) == ph and (key == "all" or k == key)]
            phases[f"{ph}.{key}"] = summary_ms(vals)
        q = [qd for t, _, _, qd in per_key if phase_of(t) == ph]
        phases[f"{ph}.queue_delay"] = summary_ms(q)
        phases[f"{ph}.missed"] = sum(1 for t, _, lat, _ in per_key if phase_of(t) == ph and lat != lat)
    res["latency"] = phases
    res["interval_ms"] = ms(args.interval)
    # the worst keys, with what the UI loop was doing just before
    events_b = [(t, what, d) for t, what, d in marks if t >= t_a - 1]
    worst = sorted((x for x in per_key if x[2] == x[2] and phase_of(x[0]) == "during_refresh"),
                   key=lambda x: -x[2])[:8]
    res["worst_keys"] = [{"t_s": round(t - t_r, 2), "key": k, "latency_ms": ms(lat), "queue_ms": ms(qd)}
                         for t, k, lat, qd in worst]
    res["ui_events"] = [{"t_s": round(t - t_r, 2), "what": what, **d} for t, what, d in events_b]
    stalls = [(t, lag) for t, lag in lags if t_r <= t <= t_done]
    res["loop_stalls_during_refresh"] = {
        "count_over_25ms": len(stalls), "over_100ms": sum(1 for _, lag in stalls if lag > 0.1),
        "total_ms": ms(sum(lag for _, lag in stalls)),
        "worst": [{"t_s": round(t - t_r, 2), "ms": ms(lag)} for t, lag in sorted(stalls, key=lambda x: -x[1])[:6]]}
    gc.callbacks.remove(gclog)
    pauses = [p for p in gclog.pauses if t_r <= p[0] <= t_done]
    res["gc_during_refresh"] = {
        "pauses_over_5ms": len(pauses), "total_ms": ms(sum(p[1] for p in pauses)),
        "worst": [{"t_s": round(t - t_r, 2), "ms": ms(dt), "gen": g, "thread": th}
                  for t, dt, g, th in sorted(pauses, key=lambda p: -p[1])[:6]]}
    res["gc_during_start"] = {
        "pauses_over_5ms": sum(1 for p in gclog.pauses if p[0] < t_a),
        "total_ms": ms(sum(p[1] for p in gclog.pauses if p[0] < t_a)),
        "max_ms": ms(max((p[1] for p in gclog.pauses if p[0] < t_a), default=0.0))}
    res["gc_thresholds"] = list(gc.get_threshold())
    res["frames"] = len(frames)
    res["frame_bytes_avg"] = round(frame_bytes / max(1, len(frames)))
    res["keys_window_s"] = round(t_stop - (sent[0][0] if sent else t_stop), 1)
    return res


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.live")
    p.add_argument("--estate-info", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dump-recs")
    p.add_argument("--data-dir")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between keys")
    p.add_argument("--idle-s", type=float, default=3.0)
    p.add_argument("--phase-timeout", type=float, default=240.0)
    p.add_argument("--section-timeout", type=float, default=300.0)
    p.add_argument("--in-process", action="store_true", help="run the Service in this process (for comparison)")
    p.add_argument("--full-timeline", action="store_true",
                   help="keep every 100 ms RSS sample from the refresh on (default: one a second)")
    a = p.parse_args()
    res = asyncio.run(run(a))
    res["rss_end"] = proc_status_mb()
    write_json(a.out, res)


if __name__ == "__main__":
    main()
