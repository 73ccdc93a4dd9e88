"""Issue 13 against the emulated estate over real sockets: every problem the World planted is found by the health
model with its code and fix, and nothing else is flagged (found == planted, connector by connector); moving the
clock changes exactly what the World changed (the pending connector turns healthy); the organization's coverage is
the World's; `mdc-aws doctor` shows the Sentinel and drift checks.
"""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest

from tui.core import health as hm
from tui.core.aws import AwsSource
from tui.core.azure import AzureSource
from tui.core.collect import Collector
from tui.core.onboarding import doctor as doc

PENDING_TICKS = 12 * 60  # a tick is 60 s: after this many, no connector of tick 0 is under 12 hours old


async def _collect(settings, world):
    async with AzureSource(settings.azure) as az, AwsSource(settings.aws) as aws:
        col = Collector(az, aws, section_timeout_s=60.0,
                        clock=lambda: datetime.fromtimestamp(world.now(), timezone.utc))
        return await col.collect()


def collect(settings, world):
    return asyncio.run(_collect(settings, world))


@contextmanager
def at_tick(world, tick: int):
    """Move the shared estate's manual clock for one test and put it back (other tests read tick 0)."""
    before = world.clock.tick()
    world.clock.set(tick)
    world.touch()
    try:
        yield
    finally:
        world.clock.set(before)
        world.touch()


def found_codes(snap) -> dict[str, set[str]]:
    return {cid: set(h.codes()) for cid, h in hm.health_by_connector(snap).items()}


def seeded(world, found: dict[str, set[str]]) -> dict[str, set[str]]:
    """Only the connectors the World knows (other tests in this worker may add connectors and remove them)."""
    truth = world.health_truth()
    return {cid: codes for cid, codes in found.items() if cid in truth}


@pytest.fixture(scope="module")
def tick0(settings, estate):
    # the shared estate's clock: where this module reads the World (a test of another file that moved it must have
    # put it back; this says which number it found instead of failing every test of the module obscurely)
    assert estate.world.clock.tick() == 0, "another test file left the shared estate's clock moved"
    return collect(settings, estate.world)


def test_found_is_exactly_the_planted_set(tick0, estate) -> None:
    truth = {k: set(v) for k, v in estate.world.health_truth().items()}
    found = seeded(estate.world, found_codes(tick0))
    assert set(found) == set(truth), "every connector of the estate is judged"
    wrong = {cid: {"planted": sorted(truth[cid]), "found": sorted(found[cid])}
             for cid in truth if truth[cid] != found[cid]}
    assert not wrong, wrong
    planted = set().union(*truth.values())
    assert planted == {c.code for c in hm.CODES}, "the estate plants every code"
    assert any(not v for v in truth.values()), "and healthy connectors stay healthy"


def test_every_issue_has_a_message_and_a_fix(tick0) -> None:
    for cid, h in hm.health_by_connector(tick0).items():
        for i in h.issues:
            assert i.message.strip() and i.fix.strip() and "\n" not in i.message + i.fix, (cid, i)
        assert h.state == ("healthy" if not h.issues else
                           min((i.level for i in h.issues), key=hm.STATE_ORDER.index))


def test_the_clock_turns_the_pending_connector_healthy(settings, estate, tick0) -> None:
    world = estate.world
    before = {k: set(v) for k, v in world.health_truth().items()}
    pending = {cid for cid, codes in before.items() if "pending-first-scan" in codes}
    assert pending
    with at_tick(world, PENDING_TICKS):
        after_truth = {k: set(v) for k, v in world.health_truth().items()}
        snap = collect(settings, world)
    found = seeded(world, found_codes(snap))
    assert found == after_truth
    for cid in pending:
        assert "pending-first-scan" not in found[cid]
    changed = {cid for cid in before if before[cid] != after_truth[cid]}
    assert pending <= changed
    now = hm.health_by_connector(snap)
    assert all(now[cid].state != "pending" for cid in pending)


def test_organization_coverage_is_the_worlds(tick0, estate) -> None:
    truth = estate.world.org_truth()
    cd = tick0.data("connectors")
    mgmt = {c.aws_account_id: c for c in cd.connectors if c.organization_role == "management"}
    assert set(truth) <= set(mgmt)
    for acct, want in truth.items():
        cov = hm.org_coverage(mgmt[acct], tick0)
        assert cov is not None
        assert sorted(cov.missing) == want["missing"]
        assert sorted(cov.suspended) == want["suspended"]
        assert sorted(cov.excluded) == want["excluded"]
        assert sorted((i.account_id, i.region) for i in cov.failed_instances) == sorted(
            tuple(x) for x in want["failed_instances"])


def test_doctor_shows_the_sentinel_and_drift_checks(tick0, estate) -> None:
    checks = doc.health_checks(tick0)
    truth = estate.world.health_truth()
    topics = {"sentinel-oidc-conflict": "Sentinel conflict: OIDC identity provider",
              "sentinel-sqs-conflict": "Sentinel conflict: CloudTrail bucket notifications",
              "trust-policy-mismatch": "template drift: trust policies",
              "least-privilege-gap": "template drift: least-privilege access"}
    cd = tick0.data("connectors")
    acct_of = {c.id.lower(): c.aws_account_id for c in cd.connectors}
    for code, title in topics.items():
        accounts = {acct_of[cid] for cid, codes in truth.items() if code in codes}
        assert accounts
        failed = {c.subject for c in checks if c.name.startswith(title) and c.ok is False}
        assert failed == accounts, (code, failed, accounts)
        assert all(c.fix for c in checks if c.name.startswith(title) and c.ok is False)
        assert any(c.name.startswith(title) and c.ok is True for c in checks), "other accounts pass it"


DIFF_TICKS = 45  # past the pending connector's 12 hours (30 ticks), with findings and compliance moving meanwhile


def test_diff_after_the_clock_moves_reports_what_the_world_changed(settings, estate, tick0) -> None:
    from tui.core.diff import diff_snapshots

    world = estate.world
    truth0 = {k: set(v) for k, v in world.health_truth().items()}
    comp0 = world.compliance_truth()
    unhealthy0 = world.unhealthy_by_account()
    with at_tick(world, DIFF_TICKS):
        truth1 = {k: set(v) for k, v in world.health_truth().items()}
        comp1 = world.compliance_truth()
        unhealthy1 = world.unhealthy_by_account()
        snap = collect(settings, world)
    diff = diff_snapshots(tick0, snap)
    # health: exactly the connectors whose planted codes changed, with exactly those codes
    got = {c["connector_id"].lower(): (set(c["codes_added"]), set(c["codes_removed"]))
           for c in diff.changes.get("health", ()) if c["connector_id"].lower() in truth0}
    want = {cid: (truth1[cid] - truth0[cid], truth0[cid] - truth1[cid])
            for cid in truth0 if truth0[cid] != truth1[cid]}
    assert want and got == want
    # compliance: exactly the standards whose percentage moved in the World
    def pct(c):
        assessed = c["passed"] + c["failed"]
        return round(100.0 * c["passed"] / assessed, 6) if assessed else None
    moved = {s for s in comp0.keys() | comp1.keys()
             if s not in comp0 or s not in comp1 or pct(comp0[s]) != pct(comp1[s])}
    assert {c["standard"] for c in diff.changes.get("compliance", ())} == moved
    # findings: per account, the severities' changes add up to the World's change of unhealthy findings
    found = {c["account_id"]: sum(x["now"] - x["was"] for x in c["unhealthy_by_severity"].values())
             for c in diff.changes.get("findings", ())}
    for acct in unhealthy0.keys() | unhealthy1.keys():
        delta = unhealthy1.get(acct, 0) - unhealthy0.get(acct, 0)
        if delta:
            assert found.get(acct) == delta, acct
    assert not diff.changes.get("accounts") and not diff.changes.get("connectors"), "nothing was added or removed"
