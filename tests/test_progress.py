"""The recommendations' load says how far it is: the throttle that keeps a page's worth of calls from becoming as
many UI messages (a fake clock: no timing), the pane's line, and the dashboard at 80x24 with a slow table service
that reports progress (shown while loading, cleared when the rows land or the load fails)."""
from __future__ import annotations

import threading

from tests.test_app_pilot import FakeService, make_app, screen_text, settle
from tui.core.progress import Throttle, page_progress
from widgets.pane import progress_line


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_throttle_coalesces_a_burst_of_pages_into_few_reports() -> None:
    clock = Clock()
    seen: list[tuple[int, int | None]] = []
    th = Throttle(lambda rows, total: seen.append((rows, total)), interval_s=0.25, clock=clock)
    th(1000, 5000)  # the first goes through at once: the total is on screen right away
    for rows in range(2000, 5001, 1000):  # four more pages within the same instant: held, newest kept
        th(rows, 5000)
    assert seen == [(1000, 5000)] and th.pending == (5000, 5000)
    clock.t += 0.1
    th(5000, 5000)
    assert len(seen) == 1  # still within the interval
    clock.t += 0.2  # 0.3 s since the last report
    th(6000, 5000)
    assert seen == [(1000, 5000), (6000, 5000)] and th.pending is None
    th(7000, 5000)
    th.flush()  # what was held back is sent on request, once
    th.flush()
    assert seen[-1] == (7000, 5000) and len(seen) == 3


def test_throttle_a_thousand_pages_make_a_handful_of_reports_and_a_new_total_goes_at_once() -> None:
    clock = Clock()
    seen: list[tuple[int, int | None]] = []
    th = Throttle(lambda rows, total: seen.append((rows, total)), interval_s=0.25, clock=clock)
    th(1000, None)
    th(2000, 9_000_000)  # the total became known: not held back
    assert seen == [(1000, None), (2000, 9_000_000)]
    for page in range(3, 1003):  # 1,000 pages at 1 ms each: one second
        clock.t += 0.001
        th(page * 1000, 9_000_000)
    assert 2 + 3 <= len(seen) <= 2 + 5  # about one report per 0.25 s, never one per page
    assert th.sent == len(seen)


def test_throttle_a_failing_report_never_reaches_the_source() -> None:
    def boom(rows: int, total: int | None) -> None:
        raise RuntimeError("the UI is gone")

    th = Throttle(boom)
    th(1, 2)  # no exception
    page_progress(th)(1, 5, 10)
    assert th.sent == 2  # the total changed (2 -> 10): passed on at once


def test_progress_line() -> None:
    assert progress_line(12_000, 1_013_934) == "12,000 of 1,013,934 rows"
    assert progress_line(12_000, None) == "12,000 rows so far"
    assert progress_line(1_013_934, None, "index") == "1,013,934 rows in: indexing"


class SlowTable(FakeService):
    """A TableService that reports progress page by page and waits for the test before it answers."""

    def __init__(self, fail: bool = False, total: int | None = 900) -> None:
        super().__init__()
        self.fail = fail
        self.total = total
        self.reported = threading.Event()
        self.go = threading.Event()

    def recommendation_table(self, *, progress=None):
        from tui.core.rectable import RecTable

        assert progress is not None, "the app should ask for progress"
        for rows in (100, 200, 300):
            progress(rows, self.total)
        self.reported.set()
        self.go.wait(10)
        if self.fail:
            raise RuntimeError("Resource Graph stopped answering")
        return RecTable(list(self.rec_rows), {})


async def test_the_recommendations_pane_shows_how_far_the_load_is_then_the_rows() -> None:
    svc = SlowTable()
    app = make_app(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        recs = app.dashboard.pane("recs")
        await pilot.press("4")
        await settle(pilot, app, lambda: "of 900 rows" in recs.progress_text)
        assert recs.state == "loading"
        assert "⟳ 100 of 900 rows" in screen_text(app)  # the first report at once; the two after it held back
        svc.go.set()
        await settle(pilot, app, lambda: recs.state == "ok")
        text = screen_text(app)
        assert recs.progress_text == "" and "of 900 rows" not in text
        assert "bucket-" in text


async def test_a_failed_load_clears_its_progress_and_shows_the_error() -> None:
    svc = SlowTable(fail=True, total=None)
    app = make_app(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        recs = app.dashboard.pane("recs")
        await pilot.press("4")
        await settle(pilot, app, lambda: recs.progress_text == "100 rows so far")
        assert "⟳ 100 rows so far" in screen_text(app)
        svc.go.set()
        await settle(pilot, app, lambda: recs.state == "error")
        text = screen_text(app)
        assert recs.progress_text == "" and "rows so far" not in text
        assert "Resource Graph stopped answering" in text



def test_the_collector_process_reports_the_rows_as_they_arrive_with_the_announced_total(estate, settings) -> None:
    """Through the child (which runs Service.stream_recommendation_table with a throttled progress, from Resource
    Graph's pages) to the parent, which counts the rows as their chunks are decoded."""
    from tui.core.procservice import ProcessService

    from datetime import datetime, timezone

    from tui.core import model as m

    # the subscriptions are all the fetch needs of a collection (no accounts attached: not what this is about)
    start = m.Snapshot(datetime.now(timezone.utc), tuple(estate.info.subscriptions), {})
    ps = ProcessService(settings, start_from=start)
    try:
        seen: list[tuple[int, int | None]] = []
        t = ps.recommendation_table(progress=lambda rows, total: seen.append((rows, total)))
        n = len(t.rows)
        assert n > 1000 and len(seen) >= 2  # per chunk decoded here (unthrottled: the app throttles)
        assert [r for r, _ in seen] == sorted(r for r, _ in seen) and seen[-1][0] == n
        assert seen[0][1] in (None, n) and seen[-1][1] == n  # Resource Graph's totalRecords, from page 1
    finally:
        ps.close()
