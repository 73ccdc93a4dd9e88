"""Derived views: funnel reasons, duplicates, plans and their prerequisites, recommendation sums."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core import derive as d
from tui.core import model as m

SUB = "00000000-0000-0000-0000-00000000000a"
ACC = "123456789012"


def arc(iid: str, status: str, account: str = ACC) -> m.ArcMachine:
    return m.ArcMachine(id=f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/{iid}",
                        name=iid, subscription_id=SUB, resource_group="rg", status=status,
                        aws_account_id=account, instance_id=iid.upper())


def inv(instances: list[tuple[str, str | None]], readable: bool = True) -> m.AwsAccountInventory:
    return m.AwsAccountInventory(
        ACC, readable, None if readable else "AccessDenied: grant sts:AssumeRole",
        instances=tuple(m.Ec2Instance(ACC, "us-east-1" if i % 2 else "eu-west-1", iid, "running", "linux")
                        for i, (iid, _) in enumerate(instances)),
        ssm=tuple(m.SsmInstance(ACC, "us-east-1", iid, ping) for iid, ping in instances if ping))


def test_funnel_gives_a_reason_per_stuck_instance() -> None:
    instances = [("i-a", "Online"), ("i-b", "Online"), ("i-c", None), ("i-d", "ConnectionLost"),
                 ("i-e", "Online"), ("i-f", "Online"), ("i-g", "Online")]
    machines = d.arc_index([arc("i-a", "Connected"), arc("i-e", "Disconnected"), arc("i-f", "Expired"),
                            arc("i-g", "Error")])
    f = d.funnel(ACC, inv(instances), machines, arc_expected=True)
    assert (f.ec2_total, f.ssm_online, f.arc_connected) == (7, 5, 1)
    reasons = {s.instance_id: s.reason for s in f.stuck}
    assert reasons == {"i-b": m.REASON_NOT_DISCOVERED, "i-c": m.REASON_NO_SSM, "i-d": m.REASON_SSM_LOST,
                       "i-e": m.REASON_ARC_DISCONNECTED, "i-f": m.REASON_ARC_EXPIRED, "i-g": m.REASON_ARC_ERROR}
    assert sum(r.ec2_total for r in f.regions) == 7


def test_next_discovery_is_due_a_scan_interval_after_the_instance_became_ready() -> None:
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    a = m.AwsAccountInventory(ACC, True, None, instances=(
        m.Ec2Instance(ACC, "us-east-1", "i-late-agent", "running", "linux", launch_time=t0 - 48 * hour),
        m.Ec2Instance(ACC, "us-east-1", "i-new", "running", "linux", launch_time=t0 - hour),
        m.Ec2Instance(ACC, "us-east-1", "i-unknown", "running", "linux"),
        m.Ec2Instance(ACC, "us-east-1", "i-no-agent", "running", "linux", launch_time=t0),
    ), ssm=(
        m.SsmInstance(ACC, "us-east-1", "i-late-agent", "Online", registered=t0 - 2 * hour),
        m.SsmInstance(ACC, "us-east-1", "i-new", "Online"),
        m.SsmInstance(ACC, "us-east-1", "i-unknown", "Online"),
    ))
    f = d.funnel(ACC, a, {}, arc_expected=True, scan_interval_hours=4)
    due = {s.instance_id: s.discovery_due for s in f.stuck}
    # ready = the later of launch and SSM registration; due = ready + the connector's scan interval
    assert due == {"i-late-agent": t0 + 2 * hour, "i-new": t0 + 3 * hour, "i-unknown": None, "i-no-agent": None}
    assert d.due_short(t0 + 2 * hour, t0) == "in 2h00"
    assert d.due_short(t0 - 30 * timedelta(minutes=1), t0) == "late 30m"
    assert d.due_short(t0 - 5 * hour, t0) == "late 5h"
    assert d.due_short(t0 - 72 * hour, t0) == "late 3d"
    assert "nothing to do" in d.due_text(t0 + hour, t0) and "2026-11-29 09:00 UTC" in d.due_text(t0 + hour, t0)
    assert "check the connector" in d.due_text(t0 - hour, t0)
    assert "unknown" in d.due_text(None, t0)
    # without a scan interval nothing is claimed
    assert all(s.discovery_due is None for s in d.funnel(ACC, a, {}, arc_expected=True).stuck)


def test_unreadable_account_has_null_counts_never_zero() -> None:
    machines = d.arc_index([arc("i-a", "Connected"), arc("i-b", "Disconnected")])
    f = d.funnel(ACC, inv([("i-a", "Online")], readable=False), machines, arc_expected=True)
    assert f.ec2_total is None and f.ssm_online is None
    assert f.arc_connected == 1
    assert [s.reason for s in f.stuck] == [m.REASON_ARC_DISCONNECTED]
    assert "AssumeRole" in f.aws_error


def test_no_stuck_list_when_arc_is_not_expected() -> None:
    f = d.funnel(ACC, inv([("i-a", None)]), {}, arc_expected=False)
    assert f.stuck == () and f.ec2_total == 1


def native(account: str, offerings: list[dict], sub: str = SUB) -> m.Connector:
    return m.Connector(id=f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/n{account}",
                       name=f"n{account}", kind="native", subscription_id=sub, resource_group="rg",
                       aws_account_id=account,
                       offerings=tuple(m.Offering(o["offeringType"], o) for o in offerings))


def classic(account: str) -> m.Connector:
    return m.Connector(id=f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/k{account}",
                       name=f"k{account}", kind="classic", subscription_id=SUB, resource_group=None,
                       aws_account_id=account,
                       raw={"properties": {"hybridComputeSettings": {"autoProvision": "On"}}})


SERVERS = {"offeringType": "DefenderForServersAws", "subPlan": {"type": "P2"},
           "arcAutoProvisioning": {"enabled": True}, "mdeAutoProvisioning": {"enabled": True},
           "vaAutoProvisioning": {"enabled": True, "configuration": {"type": "TVM"}}}


def test_plans_and_servers_prerequisite() -> None:
    c = native(ACC, [{"offeringType": "CspmMonitorAws"}, SERVERS])
    ok = d.plan_views([c], d.pricing_index([m.Pricing(SUB, "VirtualMachines", "Standard", "P2")]))
    assert ok["cspm"].enabled and not ok["defender_cspm"].enabled
    s = ok["servers"]
    assert (s.enabled, s.sub_plan, s.arc_auto_provisioning, s.mde, s.vulnerability_assessment) == (True, "P2", True, True, "TVM")
    assert s.prerequisites_ok is True
    off = d.plan_views([c], d.pricing_index([m.Pricing(SUB.upper(), "virtualmachines", "Free")]))
    assert off["servers"].prerequisites_ok is False
    assert "enable it" in off["servers"].prerequisites[0].detail
    unknown = d.plan_views([c], None)
    assert unknown["servers"].prerequisites_ok is None


def test_duplicates_and_rec_summaries_case_insensitive() -> None:
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}])
    k = classic(ACC)
    other = native("210987654321", [{"offeringType": "CspmMonitorAws"}])
    assert d.duplicates([n, k, other]) == {ACC}
    counts = [m.RecommendationCount(n.id.lower(), "High", "Unhealthy", 4),
              m.RecommendationCount(n.id.upper(), "low", "unhealthy", 1),
              m.RecommendationCount(n.id.lower(), "High", "Healthy", 10),
              m.RecommendationCount("/subscriptions/x/unknown", "High", "Unhealthy", 99)]
    s = d.rec_summaries(counts, [n, k, other])
    assert s[ACC].total == 15 and s[ACC].unhealthy == 5
    assert s[ACC].unhealthy_by_severity == {"High": 4, "Medium": 0, "Low": 1}
    assert "210987654321" not in s


def test_account_views_from_a_snapshot() -> None:
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}, SERVERS])
    now = datetime(2026, 11, 29, tzinfo=timezone.utc)
    ok = lambda name, data: m.Section(m.SectionStatus(name, "ok", now), data)  # noqa: E731
    snap = m.Snapshot(now, (SUB,), {
        "connectors": ok("connectors", m.ConnectorsData((n, classic(ACC)))),
        "plans": ok("plans", m.PlansData((m.Pricing(SUB, "VirtualMachines", "Standard"),))),
        "onboarding": ok("onboarding", m.OnboardingData((arc("i-a", "Connected"),),
                                                        {ACC: inv([("i-a", "Online"), ("i-b", None)])})),
        "recommendations": ok("recommendations", m.RecommendationsData(())),
        "compliance": ok("compliance", m.ComplianceData(())),
    })
    [v] = d.account_views(snap)
    assert v.duplicate_classic_native and v.kinds == ("native", "classic")
    assert v.onboarding.arc_expected and [s.reason for s in v.onboarding.stuck] == [m.REASON_NO_SSM]
    assert v.recommendations.total == 0


pings = st.sampled_from(["Online", "ConnectionLost", "Inactive", None])
statuses = st.sampled_from(["Connected", "Disconnected", "Expired", "Error", "AwaitingConnection", None])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(pings, statuses), max_size=30), st.booleans(), st.booleans())
def test_funnel_invariants(rows, readable, expected) -> None:
    instances = [(f"i-{n:03d}", p) for n, (p, _) in enumerate(rows)]
    machines = d.arc_index([arc(f"i-{n:03d}", s) for n, (_, s) in enumerate(rows) if s])
    f = d.funnel(ACC, inv(instances, readable), machines, arc_expected=expected)
    if readable:
        assert f.ec2_total == len(rows)
        assert f.ssm_online <= f.ec2_total
        stuck_ids = {s.instance_id for s in f.stuck}
        assert len(stuck_ids) == len(f.stuck)
        if expected:
            assert len(f.stuck) + sum(r.arc_connected for r in f.regions) == f.ec2_total
        else:
            assert f.stuck == ()
    else:
        assert f.ec2_total is None and f.ssm_online is None
    assert f.arc_connected == sum(1 for _, s in rows if s == "Connected")
