"""Connector health on screen, driven through Textual's Pilot at 80x24 (issue 13): the accounts row shows the state's
glyph and the worst issue's code, the organization's missing accounts are counted on the management row, and enter
opens the account's detail with every issue, its fix and the missing accounts.

The app runs on the fixed estate of tests/test_snapshots.py (a fake service, no network); the health, organization
coverage and cost are planted on its AccountViews (tui.core.derive.account_views wrapped), so these tests read the UI
alone, whatever tui.core.health finds in that estate.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.test_snapshots import loaded, make_app, until
from tests.test_virtual_table import screen_lines
from tui.core import derive as d
from tui.core import model as m
from tui.core.health import Health, HealthIssue, OrgCoverage
from tui.screens.detail import DetailScreen

MGMT, MEMBER_A, MEMBER_B = "210987654321", "310987654321", "320987654321"
DUP, SANDBOX, KEYS, DEV = "410987654321", "510987654321", "610987654321", "810987654321"
MISSING = ("330987654321", "340987654321")

STACK = HealthIssue("stack-not-complete", "stack MDC-Connector is ROLLBACK_COMPLETE",
                    "delete the stack and deploy the template again")
MEMBERS = HealthIssue("org-members-missing", "2 accounts of the organization have no connector",
                      "add the accounts to the StackSet's targets")
SENTINEL = HealthIssue("sentinel-oidc-conflict", "the OIDC provider is Sentinel's",
                       "add MDC's audiences to the provider")
PLANTED = {
    MGMT: Health("failing", (STACK, MEMBERS)),
    SANDBOX: Health("failing", (SENTINEL,)),
    DEV: Health("pending", (HealthIssue("pending-first-scan", "connector 2 h old", "wait for the first scan"),)),
}
COVERAGE = OrgCoverage(MGMT, 6, members_with_connector=(MEMBER_A, MEMBER_B), missing=MISSING,
                       excluded=("999988887777",),
                       stackset_instances=(m.StackInstanceFact(MISSING[0], "eu-west-1", "OUTDATED", "FAILED",
                                                               "role already exists"),))


@pytest.fixture(autouse=True)
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    real = d.account_views

    def account_views(snap: m.Snapshot) -> list[d.AccountView]:
        return [replace(v, health=PLANTED.get(v.aws_account_id, Health("healthy")), connector_health={},
                        org_coverage=COVERAGE if v.aws_account_id == MGMT else None, cost=None)
                for v in real(snap)]

    monkeypatch.setattr(d, "account_views", account_views)


def row_of(lines: list[str], account: str) -> str:
    """The accounts table's row of `account`, without the pane's border."""
    [line] = [ln for ln in lines if f"{account} " in ln]
    return line.strip("│ ")


def detail_lines(app: object) -> list[str]:
    """A detail screen's lines, without indentation and the scroll bar."""
    return [ln.rstrip(" ▁▂▃▄▅▆▇█").strip() for ln in screen_lines(app)]  # type: ignore[arg-type]


async def test_accounts_rows_show_the_state_and_the_worst_issue() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        lines = screen_lines(app)
        assert "HEALTH" in next(ln for ln in lines if "ACCOUNT" in ln)  # every column kept at 80 columns
        assert row_of(lines, MGMT) == "▸210987654321 aws-prod     native  mgmt 2m✗2  3   4h   ✖2 stack-not-complete"
        # a code longer than the column at 80 columns ends in "…" (the detail has it whole)
        assert row_of(lines, SANDBOX).endswith("24h  ✖ sentinel-oidc-confli…")
        assert row_of(lines, DEV).endswith("24h  ● pending")
        for account in (MEMBER_A, MEMBER_B, DUP, KEYS):
            assert row_of(lines, account).endswith("✔ healthy"), account
        # the filter finds accounts by state and by code
        pane = app.dashboard.accounts
        await pilot.press("slash", *"status:failing", "enter")
        await until(pilot, lambda: pane.filter_text == "status:failing", "the filter")
        assert [it.key for it in pane.shown] == [MGMT, SANDBOX]
        await pilot.press("slash", *"sentinel", "enter")
        await until(pilot, lambda: pane.filter_text == "sentinel", "the filter")
        assert [it.key for it in pane.shown] == [SANDBOX]
        assert row_of(screen_lines(app), SANDBOX)


async def test_enter_on_a_management_row_opens_its_health_and_organization() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        pane = app.dashboard.accounts
        assert pane.shown[0].key == MGMT
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the account detail")
        lines = detail_lines(app)
        # on the first screen, without scrolling: the state, each issue and its fix, then the organization
        at = lines.index("Health")
        assert lines[at:at + 6] == [
            "Health",
            "✖ failing · 2 issues",
            f"✖ stack-not-complete: {STACK.message}",
            f"fix: {STACK.fix}",
            f"▲ org-members-missing: {MEMBERS.message}",
            f"fix: {MEMBERS.fix}"]
        org = next(i for i, ln in enumerate(lines) if ln.startswith("Organization"))
        assert org > at
        assert f"▲ missing a connector (2): {MISSING[0]}, {MISSING[1]}" in lines
        assert f"✖ {MISSING[0]} eu-west-1 OUTDATED (FAILED): role already exists" in lines
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.dashboard, "the dashboard again")


async def test_a_healthy_account_says_so() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "enter")  # aws-member-a: healthy, a member (no organization section)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the account detail")
        lines = detail_lines(app)
        at = lines.index("Health")
        assert lines[at + 1] == "✔ healthy" and lines[at + 2] == ""
        assert not any(ln.startswith("Organization") for ln in lines)
