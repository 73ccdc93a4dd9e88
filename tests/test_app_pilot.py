"""The dashboard driven through Textual's Pilot at 80x24: panes fill, keys work, drill-downs open, errors stay in
their pane. A fake service (in-memory sources through the real Collector) keeps these fast; the last test runs the
real Service against the emulated estate over real sockets.
"""
from __future__ import annotations

import asyncio
import html
import os
import re
from dataclasses import replace
from datetime import timedelta

from tests.test_collect import FakeAws, FakeAzure
from tui.app import MdcApp
from tui.core import model as m
from tui.core.collect import Collector
from tui.core.errors import SourceError
from tui.core.history import History
from widgets.virtual_table import VirtualTable


def screen_text(app) -> str:
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


class FakeService:
    """What the App needs from tui.core.service.Service, over in-memory sources."""

    def __init__(self, azure: FakeAzure | None = None) -> None:
        self.azure = azure or FakeAzure()
        self.collector = Collector(self.azure, FakeAws())
        self.collects = 0
        self.recs_calls = 0
        self.rec_rows = [
            m.Recommendation(id=f"/x/{i}", assessment_key=f"key-{i % 3}", title=f"S3 bucket rule {i % 3}",
                             severity=("High", "Medium", "Low")[i % 3], status="Unhealthy" if i % 2 else "Healthy",
                             connector_id=self.azure.connectors_list[0].id.lower(), resource_name=f"bucket-{i}",
                             region="us-east-1", description="desc", remediation="fix it")
            for i in range(300)]

    def collect(self) -> m.Snapshot:
        self.collects += 1
        return asyncio.run(self.collector.collect())

    def recommendations(self):
        self.recs_calls += 1
        return list(self.rec_rows)

    def compliance_controls(self, standard: str):
        return [m.ComplianceControl(standard, "1.1", "Avoid the root user", "Failed", 0, 1, 0),
                m.ComplianceControl(standard, "1.2", "MFA", "Passed", 1, 0, 0)]

    def compliance_failing_keys(self, standard: str, control: str):
        return ["key-1"]

    def close(self) -> None:
        pass


def make_app(svc: FakeService | None = None, history: History | None = None, refresh_s: float = 30) -> MdcApp:
    svc = svc or FakeService()
    return MdcApp(refresh_s=refresh_s, history=history, service_factory=lambda s, start: svc)


async def settle(pilot, app, cond, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached; screen:\n" + screen_text(app))


async def test_panes_fill_and_number_keys_switch() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("accounts").state == "ok")
        assert "111111111111" in screen_text(app)
        assert "Accounts · 2" in screen_text(app)
        await pilot.press("3")
        assert app.dashboard.active == "arc" and "Onboarding" in screen_text(app)
        await pilot.press("5")
        await pilot.pause()
        assert "AWS-CIS-1.2.0" in screen_text(app)
        await settle(pilot, app, lambda: app.dashboard.pane("recs").state == "ok")
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "150 unhealthy of 300" in text and "bucket-" in text
        await pilot.press("tab")
        assert app.dashboard.active == "compliance"


async def test_filter_and_inverse_filter_on_recommendations() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("recs").state == "ok")
        await pilot.press("4", "slash", *"sev:high", "enter")
        pane = app.dashboard.pane("recs")
        assert pane.filter_text == "sev:high"
        assert len(pane.shown) == 100 and all(r.severity == "High" for r in pane.shown)
        await pilot.press("slash", *"!sev:high", "enter")
        assert len(pane.shown) == 200 and all(r.severity != "High" for r in pane.shown)
        await pilot.press("escape")  # esc clears the filter
        assert pane.filter_text == "" and len(pane.shown) == 300
        # a filter on a DataTable pane
        await pilot.press("1", "slash", *"2222", "enter")
        assert [i.key for i in app.dashboard.pane("accounts").shown] == ["222222222222"]


async def test_small_panes_sort_by_any_column() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("arc").state == "ok")
        await pilot.press("3")
        pane = app.dashboard.pane("arc")
        arrival = [it.key for it in pane.shown]
        await pilot.press("s")  # the first column: ACCOUNT, ascending
        await pilot.pause()
        assert pane.sort_column == "ACCOUNT" and not pane.descending
        accounts = [it.cells[0] for it in pane.shown]
        assert accounts == sorted(accounts)
        await pilot.press("s")  # REGION
        await pilot.pause()
        regions = [str(it.cells[1]) for it in pane.shown]
        assert pane.sort_column == "REGION" and regions == sorted(regions, key=str.casefold)
        await pilot.press("S")  # reversed
        await pilot.pause()
        assert pane.descending and [str(it.cells[1]) for it in pane.shown] == sorted(regions, key=str.casefold,
                                                                                     reverse=True)
        assert sorted(it.key for it in pane.shown) == sorted(arrival)  # same rows, only the order changed
        # the cursor's row opens, whatever the order
        row = pane.table.cursor_row
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is not app.screen_stack[0]
        assert pane.shown[row].payload.view.aws_account_id in screen_text(app)


async def test_drill_down_lists_sort_and_open_the_row_under_the_cursor() -> None:
    from tui.screens.detail import ListScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("compliance").state == "ok")
        await pilot.press("5", "enter")
        await settle(pilot, app, lambda: isinstance(app.screen, ListScreen))
        scr = app.screen
        first = scr.columns[0][0]
        await pilot.press("s")  # by the first column
        await pilot.pause()
        names = [str(it.cells[0]) for it in scr.shown]
        assert scr.query_one(VirtualTable).sort_column == first and names == sorted(names, key=str.casefold)
        await pilot.press("S")
        await pilot.pause()
        assert [str(it.cells[0]) for it in scr.shown] == sorted(names, key=str.casefold, reverse=True)
        assert sorted(it.key for it in scr.shown) == sorted(it.key for it in scr.items)
        assert scr.selected() is scr.shown[scr.query_one(VirtualTable).cursor_row]


async def test_colon_jumps_and_unknown_view_says_so() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("accounts").state == "ok")
        await pilot.press("colon", *"plans", "enter")
        assert app.dashboard.active == "plans"
        await pilot.press("colon", *"recs sev:low", "enter")
        assert app.dashboard.active == "recs" and app.dashboard.pane("recs").filter_text == "sev:low"
        await pilot.press("colon", *"nonsense", "enter")
        await pilot.pause()
        assert any("unknown view" in n.message for n in app._notifications)


async def test_enter_drills_down_and_escape_walks_back() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("recs").state == "ok")
        await pilot.press("1", "enter")
        await pilot.pause()
        assert "Accounts › 111111111111" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("4")
        app.dashboard.pane("recs").table.focus()
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "Remediation" in text and "fix it" in text and "Affected resources" in text
        await pilot.press("escape", "5", "enter")
        await settle(pilot, app, lambda: "Avoid the root user" in screen_text(app))
        await pilot.press("enter")  # the failing control -> its failing resources
        await settle(pilot, app, lambda: "failing resources" in screen_text(app))
        assert "bucket-1" in screen_text(app)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_failed_section_shows_its_error_and_others_go_on() -> None:
    az = FakeAzure()
    az.fail["compliance"] = SourceError("Resource Graph throttled: retry in 5 s", kind="throttled")
    app = make_app(FakeService(az))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("accounts").state == "ok")
        assert app.dashboard.pane("compliance").state == "error"
        await pilot.press("5")
        await pilot.pause()
        text = screen_text(app)
        assert "✖" in text and "throttled" in text and "Traceback" not in text


async def test_r_refreshes_and_refresh_self_schedules() -> None:
    svc = FakeService()
    app = make_app(svc, refresh_s=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: svc.collects >= 1 and not app.collecting)
        await settle(pilot, app, lambda: svc.collects >= 2, timeout=8)  # the next tick came by itself
        n = svc.collects
        await pilot.press("r")
        await settle(pilot, app, lambda: svc.collects > n)


async def test_a_result_arriving_while_the_app_quits_is_dropped() -> None:
    """CI once failed here: a collection finished as the test's app quit, and its SnapshotLoaded reached panes that
    had left the DOM (NoMatches). Results that arrive once the app is leaving are dropped, never drawn."""
    from tui.messages import derived

    svc = FakeService()
    app = make_app(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.snap is not None and not app.collecting)
        late = derived(app.snap)
        first = app.snap
        late.snap = None  # type: ignore[assignment]  # would fail the handler at once if it were not dropped
        app._running = False  # as App._shutdown does before it prunes the screens
        try:
            app.on_snapshot_loaded(late)
            assert app.snap is first  # dropped: not even recorded
        finally:
            app._running = True


async def test_opens_on_history_marked_stale(tmp_path) -> None:
    h = History.in_dir(tmp_path)
    h.save(await Collector(FakeAzure(), FakeAws()).collect())

    class Slow(FakeService):
        def collect(self):
            import time
            time.sleep(3)
            return super().collect()

    app = make_app(Slow(), history=h)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.dashboard.pane("accounts").state == "stale"
        assert "111111111111" in screen_text(app) and "stale" in screen_text(app)


async def test_next_start_draws_the_cached_view_then_loads_the_snapshot(tmp_path) -> None:
    import threading

    from tui.render.cache import VIEW_FORMAT

    h = History.in_dir(tmp_path)

    class Saving(FakeService):  # as the real services do: each collection is saved as the latest snapshot
        def collect(self):
            snap = super().collect()
            h.save(snap)
            return snap

    app = make_app(Saving(), history=h)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("accounts").state == "ok")
        await settle(pilot, app, lambda: h.latest_view(VIEW_FORMAT) is not None)
        drawn = {n: [(it.key, it.cells) for it in app.dashboard.pane(n).items]
                 for n in ("accounts", "plans", "arc", "compliance")}
    assert all(drawn.values())

    # the next start, with a service that never answers: only history can fill the panes
    never = threading.Event()
    app2 = MdcApp(refresh_s=600, history=h, service_factory=lambda s, start: never.wait(20))
    before_load: dict = {}
    load = app2._start

    def spy() -> None:
        before_load.update({n: [(it.key, it.cells, it.payload) for it in app2.dashboard.pane(n).items] for n in drawn})
        before_load["snap"] = app2.snap
        before_load["screen"] = screen_text(app2)
        load()

    app2._start = spy  # type: ignore[method-assign]
    try:
        async with app2.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app2, lambda: app2.snap is not None)
            # the first frame came from the cached view: the rows as drawn last time, stale, before the snapshot
            assert before_load["snap"] is None
            for n, rows in drawn.items():
                assert [(k, c) for k, c, _ in before_load[n]] == rows
                assert all(p is None for _, _, p in before_load[n])
            assert "111111111111" in before_load["screen"] and "stale" in before_load["screen"]
            assert "▲ from history" in before_load["screen"]  # the top bar of that first frame says so too
            # then the snapshot itself: the same rows, now with what enter opens
            acc = app2.dashboard.pane("accounts")
            assert [(it.key, it.cells) for it in acc.items] == drawn["accounts"]
            assert all(it.payload is not None for it in acc.items) and acc.state == "stale"
            await pilot.press("1", "enter")
            await pilot.pause()
            assert "Accounts › 111111111111" in screen_text(app2)
    finally:
        never.set()

    # a newer snapshot saved by someone else (`mdc-aws snapshot`): the view no longer matches, the snapshot loads
    h.save(replace(h.latest(), generated_at=h.latest().generated_at + timedelta(minutes=5)))
    app3 = MdcApp(refresh_s=600, history=h, service_factory=lambda s, start: never.wait(20))
    async with app3.run_test(size=(80, 24)) as pilot:
        # read in a thread started on load, shown in the first frame (the UI loop neither reads nor derives it)
        assert app3.snap is not None
        assert all(it.payload is not None for it in app3.dashboard.pane("accounts").items)


async def test_onboarding_opens_once_and_the_palette_offers_dashboard_commands_only_there() -> None:
    """`o` on any screen above an open onboarding does nothing (review of issue 12: a DetailScreen over a flow let a
    second onboarding stack up); the dashboard's palette entries (open, filter, portal) are the dashboard screen's,
    not the app's, so they cannot act on the hidden dashboard from another screen."""
    from textual.command import CommandPalette

    from tui.screens.dashboard import DashboardCommands
    from tui.screens.detail import DetailScreen
    from tui.screens.onboarding import OnboardingHome

    assert DashboardCommands not in MdcApp.COMMANDS
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("accounts").state == "ok")
        await pilot.press("o")
        await settle(pilot, app, lambda: isinstance(app.screen, OnboardingHome))
        app.push_screen(DetailScreen(["Dashboard", "Onboarding", "template"], "text"))
        await pilot.pause()
        depth = len(app.screen_stack)
        await pilot.press("o")
        await pilot.pause()
        assert len(app.screen_stack) == depth and isinstance(app.screen, DetailScreen)
        await pilot.press("ctrl+p")
        await settle(pilot, app, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Filter the focused")
        await pilot.pause(0.5)
        assert "focused table" not in screen_text(app)  # (the palette highlights the matched letters apart)
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot, app, lambda: len(app.screen_stack) == 1)
        await pilot.press("ctrl+p")
        await settle(pilot, app, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Filter the focused")
        await settle(pilot, app, lambda: "focused table" in screen_text(app))


async def test_help_lists_every_key() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        for key in ("filter", "jump", "refresh", "portal", "export", "quit"):
            assert key in text.lower()
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


async def test_dashboard_on_the_emulated_estate(estate, settings, tmp_path) -> None:
    """What `mdc-aws` runs: the default service, the collection in its own process, against the estate over real
    sockets; the child writes the history the next start opens on."""
    from tui.core.procservice import ProcessService

    app = MdcApp(settings, refresh_s=60, history=History.in_dir(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("recs").state == "ok", timeout=90)
        assert isinstance(app.service, ProcessService)
        assert app.service.pid not in (None, os.getpid())
        child = app.service.pid
        assert app.dashboard.pane("accounts").state == "ok"
        assert len(app.dashboard.pane("accounts").items) >= 8
        text = screen_text(app)
        assert "aws-prod" in text
        await pilot.press("4")
        assert app.dashboard.pane("recs").query_one(VirtualTable).row_count > 100
    assert History.in_dir(tmp_path).latest() is not None  # saved by the collector process
    def gone() -> bool:
        try:
            with open(f"/proc/{child}/stat") as f:
                return f.read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    for _ in range(50):  # the app closed the service: the child is gone
        if gone():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the collector process outlived the app")


async def test_every_pane_filter_drilldown_and_refresh_on_the_estate(estate, settings, tmp_path) -> None:
    """One operator session on the emulated estate at 80x24: every pane, a filter, each drill-down, a refresh,
    and the estate's clock moving the onboarding numbers."""
    from tui.core.service import Service

    svc_holder: list[Service] = []

    def factory(s, start):
        svc_holder.append(Service(s, History.in_dir(tmp_path)))
        return svc_holder[0]

    app = MdcApp(settings, refresh_s=600, history=History.in_dir(tmp_path), service_factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("recs").state == "ok", timeout=90)
        for key, needle in (("1", "aws-prod"), ("2", "P2"), ("3", "us-east-1"), ("5", "PCI-DSS-v3.2.1")):
            await pilot.press(key)
            await pilot.pause()
            assert needle in screen_text(app), (key, screen_text(app))
        # filter the accounts to the duplicate one and open it
        await pilot.press("1", "slash", *"legacy-crm", "enter")
        assert len(app.dashboard.pane("accounts").shown) == 1
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "classic" in text and "duplicate" in text
        await pilot.press("escape", "escape")
        # onboarding: a region's stuck instances, then one instance with its fix
        await pilot.press("3")
        pane = app.dashboard.pane("arc")
        row = next(i for i, it in enumerate(pane.shown) if it.payload.stuck)
        pane.table.move_cursor(row)
        await pilot.press("enter")
        await pilot.pause()
        assert "stuck in" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "fix:" in text and "EC2" in text and "Azure Arc" in text
        await pilot.press("escape", "escape")
        # recommendations: high only, then a detail
        await pilot.press("4", "slash", *"sev:high status:unhealthy", "enter")
        rp = app.dashboard.pane("recs")
        assert rp.shown and all(r.severity == "High" and r.status == "Unhealthy" for r in rp.shown)
        # the account comes from the connector, else through the Arc machine; only a few stay unattributed
        assert all(r.aws_account_id for r in rp.shown if r.connector_id)
        assert sum(not r.aws_account_id for r in rp.shown) <= 5
        await pilot.press("enter")
        await settle(pilot, app, lambda: "Remediation" in screen_text(app), timeout=30)
        # the AWS controls it fails under: read once (the failing pairs of every AWS standard), then from memory
        from tui.screens.detail import DetailScreen

        assert isinstance(app.screen, DetailScreen)
        shown = rp.selection()
        index = app.dashboard._control_index[1]  # what the detail was built from
        assert index, "no failing control pairs were read"
        body = app.screen.body.plain
        refs = index.get(shown.assessment_key.lower(), ())
        assert "AWS controls" in body and all(f"  {c.control}" in body for c in refs)
        assert ("none: it fails under no control" in body) == (not refs)
        await pilot.press("escape")
        # compliance drill-down via the jump line
        await pilot.press("colon", *"compliance pci", "enter")
        await settle(pilot, app, lambda: "controls failing" in screen_text(app), timeout=30)
        await pilot.press("enter")
        await settle(pilot, app, lambda: "failing resources" in screen_text(app), timeout=30)
        await pilot.press("escape", "escape")
        # the estate moves; `r` brings the new numbers
        before = sum(v.onboarding.arc_connected for v in app.views if v.onboarding)
        collects = len([1 for _ in range(1)])
        tick = estate.world.clock.tick()
        estate.world.advance(30)
        try:
            await pilot.press("r")
            await settle(pilot, app, lambda: sum(v.onboarding.arc_connected for v in app.views if v.onboarding)
                         != before, timeout=60)
        finally:  # the estate is shared by the worker's later test files: they read the clock where it was
            estate.world.clock.set(tick)
            estate.world.touch()
        assert collects == 1


def test_sort_value_numbers_by_value_before_text() -> None:
    from rich.text import Text

    from tui.render.rows import sort_value

    cells = ["12", "4", "n/a", "██████░░░░  87.5%", Text("3", style="yellow"), "us-east-1", "–", "░░░░░░░░░░    0",
             "-2", "EU-west-1"]
    ordered = sorted(cells, key=sort_value)
    plain = [c.plain if isinstance(c, Text) else c for c in ordered]
    assert plain == ["-2", "░░░░░░░░░░    0", "3", "4", "12", "██████░░░░  87.5%", "EU-west-1", "n/a", "us-east-1",
                     "–"]
