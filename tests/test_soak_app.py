"""A dashboard left open all day stays flat (benchmarks/soak.py): counted here, not timed, not measured in MB.

Two causes of growth found by the soak (`mdc-aws --demo --refresh 5`, keys every 2 s, among them `r` and `o`):
- every `r` (and every fetch of the recommendations replaced by a newer one) added a chain of recommendation
  fetches for good: each ending fetch, cancelled ones included, set its own "next" timer, and nothing stopped the
  one already pending, so the fetches ran ever more often (17 timers pending after 60 refreshes, 4 fetches per
  refresh instead of one every other);
- thread workers ran in asyncio's default executor, which grows by a thread whenever workers overlap more than
  ever before (a drill-down during a collection and a fetch): the app now makes its pool once, after the first
  frame (tui.app.WorkerPool), and hands the loop a pool of its own again when it ends.
"""
from __future__ import annotations

import asyncio
import threading
import time

from tests.test_app_pilot import FakeService, make_app
from tests.test_leaks import settle_refresh
from tui.app import WORKER_THREADS


def pending(app, name: str) -> int:
    """Timers of that name still to fire (Textual keeps the app's timers in a WeakSet)."""
    return sum(1 for t in list(app._timers) if t.name == name and t._task is not None and not t._task.done())


async def ready(pilot, app) -> None:
    for _ in range(500):
        await pilot.pause(0.02)
        if app.dashboard.pane("recs").state == "ok" and not app.collecting and not any(
                not w.is_finished for w in app.workers):
            return
    raise AssertionError("the dashboard did not load")


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("mdc-aws-worker", "asyncio_"))]


async def test_r_never_adds_a_chain_of_refreshes() -> None:
    svc = FakeService()
    app = make_app(svc, refresh_s=3600)  # the schedule's own timers never fire here: only `r` starts loads
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert pending(app, "next-collect") == 1 and pending(app, "next-recs") == 1
        for _ in range(5):
            collects, recs_calls = svc.collects, svc.recs_calls
            app.action_refresh()
            await settle_refresh(pilot, app, svc, collects, recs_calls)
        # a fetch replaced while it runs (exclusive group): the newer one schedules the next, the replaced one not
        app._start_recs()
        app._start_recs()
        for _ in range(200):
            await pilot.pause(0.02)
            if not any(not w.is_finished for w in app.workers):
                break
        await pilot.pause()
        assert pending(app, "next-collect") == 1, "each r left a collection timer pending beside the new one"
        assert pending(app, "next-recs") == 1, "each r (or replaced fetch) added a chain of recommendation fetches"


async def test_overlapping_workers_use_the_pool_made_at_start_and_it_ends_with_the_app() -> None:
    svc = FakeService()
    app = make_app(svc, refresh_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        pool = app._pool
        mine = [t for t in threading.enumerate() if t.name.startswith("mdc-aws-worker")]
        assert len(mine) == WORKER_THREADS
        before = {t.ident for t in worker_threads()}
        # more workers at once than the app ever ran so far (a drill-down, a trim, a view save during a refresh)
        gate = threading.Event()
        for i in range(WORKER_THREADS - 1):
            app.run_worker(gate.wait, thread=True, group=f"overlap{i}", exit_on_error=False)
        await pilot.pause(0.1)
        collects, recs_calls = svc.collects, svc.recs_calls
        app.refresh_data()
        gate.set()
        await settle_refresh(pilot, app, svc, collects, recs_calls)
        assert {t.ident for t in worker_threads()} == before, "overlapping workers started threads of their own"
    # the app is gone: its pool's threads end (several apps run in one test session's loop)
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in mine) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(t.is_alive() for t in mine)
    assert pool is not None and asyncio.get_running_loop()._default_executor is not pool


class SlowControls(FakeService):
    """A standard's controls take a while to read (the collector busy with a refresh): until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def compliance_controls(self, standard: str):
        self.gate.wait(10)
        return super().compliance_controls(standard)


async def test_a_drill_down_still_loading_when_escape_is_pressed_never_pops_up() -> None:
    """The soak's keys: enter on a standard, escape twice, then a filter typed. The controls arrived after the
    escapes and their listing opened over the dashboard; the filter's keys then reached the app (`r`, `o`, enter:
    the onboarding wizard, whose AWS reads load botocore into the dashboard's process for good)."""
    from tui.screens.detail import ListScreen

    svc = SlowControls()
    app = make_app(svc, refresh_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        dash = app.dashboard

        async def drill(escape: bool) -> None:
            svc.gate.clear()
            dash.open_standard("CIS")
            await pilot.pause(0.05)
            if escape:
                await pilot.press("escape")
            svc.gate.set()
            for _ in range(200):
                await pilot.pause(0.02)
                if not any(not w.is_finished for w in dash.workers):
                    break
            await pilot.pause()

        await drill(escape=True)
        assert app.screen is dash, f"the listing opened after escape: {app.screen_stack}"
        await drill(escape=False)  # not left: it opens
        assert isinstance(app.screen, ListScreen)
