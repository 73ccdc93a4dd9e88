"""Derived views: funnel reasons, duplicates, plans and their prerequisites, recommendation sums.

Issue 11 (../shared/reference/azure/NOTES.md section 11): classic connectors are inert; discovery is hourly; Arc
machines without MDC tags are matched by computer name; AWS findings without a connector id are attributed through
their Arc machine, the rest counted as unattributed; every plan's prerequisites as the quickstart states them.
"""
from __future__ import annotations

from dataclasses import replace as dc_replace
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core import derive as d
from tui.core import model as m

SUB = "00000000-0000-0000-0000-00000000000a"
ACC = "123456789012"
OTHER = "210987654321"
NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)


def arc(iid: str, status: str, account: str | None = ACC, **kw) -> m.ArcMachine:
    return m.ArcMachine(id=f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/{iid}",
                        name=iid, subscription_id=SUB, resource_group=kw.pop("rg", "rg"), status=status,
                        aws_account_id=account, instance_id=kw.pop("instance_id", iid.upper()), **kw)


def untagged(name: str, status: str = "Connected", **kw) -> m.ArcMachine:
    """An Arc machine installed by hand: no MDC tags, named by its computer name."""
    return m.ArcMachine(id=f"/subscriptions/{SUB}/resourceGroups/{kw.get('rg', 'hand')}/providers/"
                           f"Microsoft.HybridCompute/machines/{name}",
                        name=name, subscription_id=SUB, resource_group=kw.pop("rg", "hand"), status=status,
                        aws_account_id=None, instance_id=name, tagged=False, cloud_provider="AWS", **kw)


def inv(instances: list[tuple[str, str | None]], readable: bool = True, account: str = ACC) -> m.AwsAccountInventory:
    return m.AwsAccountInventory(
        account, readable, None if readable else "AccessDenied: grant sts:AssumeRole",
        instances=tuple(m.Ec2Instance(account, "us-east-1" if i % 2 else "eu-west-1", iid, "running", "linux")
                        for i, (iid, _) in enumerate(instances)) if readable else (),
        ssm=tuple(m.SsmInstance(account, "us-east-1", iid, ping) for iid, ping in instances if ping)
        if readable else ())


def ok(name: str, data) -> m.Section:
    return m.Section(m.SectionStatus(name, "ok", NOW), data)


def snapshot(connectors, *, pricings=(), arc_machines=(), aws=None, counts=(), recs_ok=True) -> m.Snapshot:
    sections = {
        "connectors": ok("connectors", m.ConnectorsData(tuple(connectors))),
        "plans": ok("plans", m.PlansData(tuple(pricings))),
        "onboarding": ok("onboarding", m.OnboardingData(tuple(arc_machines), dict(aws or {}))),
        "recommendations": (ok("recommendations", m.RecommendationsData(tuple(counts))) if recs_ok else
                            m.Section(m.SectionStatus("recommendations", "error", None, "ARG failed"), None)),
        "compliance": ok("compliance", m.ComplianceData(())),
    }
    return m.Snapshot(NOW, (SUB,), sections)


# ------------------------------------------------------------------------------------------------ funnel


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
    by = {s.instance_id: s.matched_by for s in f.stuck}
    assert by["i-e"] == d.MATCH_INSTANCE_ID and by["i-b"] is None  # no Arc machine: nothing matched


def test_next_discovery_is_due_an_hour_after_the_instance_became_ready_whatever_the_scan_interval() -> None:
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
    # a connector scanning every 24 h: discovery still comes within the hour (MDC's EC2 collector is hourly)
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}, SERVERS], scan=24)
    [v] = d.account_views(snapshot([n], aws={ACC: a}))
    due = {s.instance_id: s.discovery_due for s in v.onboarding.stuck}
    # ready = the later of launch and SSM registration; due = ready + 1 hour
    assert due == {"i-late-agent": t0 - hour, "i-new": t0, "i-unknown": None, "i-no-agent": None}
    assert d.DISCOVERY_INTERVAL == hour
    # 2 h after the agent registered the instance is late, whatever the scan interval says
    assert d.due_short(due["i-late-agent"], t0) == "late 1h" and d.due_short(due["i-new"], t0) == "in 0m"
    assert d.due_short(t0 + 2 * hour, t0) == "in 2h00"
    assert d.due_short(t0 - 30 * timedelta(minutes=1), t0) == "late 30m"
    assert d.due_short(t0 - 72 * hour, t0) == "late 3d"
    assert "every hour" in d.due_text(t0 + hour, t0) and "2026-11-29 09:00 UTC" in d.due_text(t0 + hour, t0)
    assert "check the connector" in d.due_text(t0 - hour, t0) and "every hour" in d.due_text(t0 - hour, t0)
    assert "unknown" in d.due_text(None, t0)
    assert "every hour" in d.STUCK_FIX[m.REASON_NOT_DISCOVERED] and "scan" in d.STUCK_FIX[m.REASON_NOT_DISCOVERED]


def test_unreadable_account_has_null_counts_never_zero() -> None:
    machines = d.arc_index([arc("i-a", "Connected"), arc("i-b", "Disconnected")])
    f = d.funnel(ACC, inv([("i-a", "Online")], readable=False), machines, arc_expected=True)
    assert f.ec2_total is None and f.ssm_online is None
    assert f.arc_connected == 1
    assert [s.reason for s in f.stuck] == [m.REASON_ARC_DISCONNECTED]
    assert "AssumeRole" in f.aws_error
    # Arc not expected (e.g. a classic-only account): nothing is stuck, even from what Azure shows
    assert d.funnel(ACC, inv([], readable=False), machines, arc_expected=False).stuck == ()


def test_no_stuck_list_when_arc_is_not_expected() -> None:
    f = d.funnel(ACC, inv([("i-a", None)]), {}, arc_expected=False)
    assert f.stuck == () and f.ec2_total == 1


def test_expired_and_disconnected_advice_is_the_seven_day_cleanup() -> None:
    expired = d.STUCK_FIX[m.REASON_ARC_EXPIRED]
    assert "7 days" in expired and "by itself" in expired
    assert "delete the arc machine" not in expired.lower() and "onboard the instance again" not in expired
    assert "7 days" in d.STUCK_FIX[m.REASON_ARC_DISCONNECTED]


def test_opt_in_region_errors_reach_the_funnel() -> None:
    a = m.AwsAccountInventory(ACC, True, regions=("us-east-1", "il-central-1"),
                              instances=(m.Ec2Instance(ACC, "us-east-1", "i-a", "running", "linux"),),
                              failed_regions={"il-central-1": "region not enabled (opt-in): il-central-1 answers "
                                                              "AuthFailure ..."})
    f = d.funnel(ACC, a, {}, arc_expected=False)
    assert "il-central-1: region not enabled (opt-in)" in f.aws_error
    assert dict(f.failed_regions) == dict(a.failed_regions) and f.ec2_total == 1


# ------------------------------------------------------------------------------------------------ Arc by name


def ec2(iid: str, dns: str | None, name: str | None = None, account: str = ACC, region: str = "us-east-1"):
    return m.Ec2Instance(account, region, iid, "running", "linux", name=name, private_dns_name=dns)


def test_arc_machines_without_mdc_tags_match_by_computer_name() -> None:
    instances = (
        ec2("i-0a", "ip-10-0-1-5.ec2.internal"),  # matched by the machine's name (the computer name)
        ec2("i-0b", "ip-10-0-1-6.ec2.internal", name="Web-1"),  # by the Name tag, case-insensitively
        ec2("i-0c", "ip-10-0-2-7.eu-west-1.compute.internal", region="eu-west-1"),  # by machineFqdn's first label
        ec2("i-0d", "ip-10-0-1-8.ec2.internal"),  # tagged machine: InstanceId wins over a name match
        ec2("i-0e", "ip-10-0-1-9.ec2.internal"),  # untagged + Disconnected: stuck, marked by name
        ec2("i-0f", "ip-10-0-3-3.ec2.internal"),  # the same private name in another account: ambiguous
    )
    other = (ec2("i-1f", "ip-10-0-3-3.ec2.internal", account=OTHER),)
    machines = [
        untagged("ip-10-0-1-5", computer_name="ip-10-0-1-5"),
        untagged("hand-made-2", computer_name="WEB-1"),
        untagged("srv-x", fqdn="IP-10-0-2-7.eu-west-1.compute.internal"),
        arc("i-0d", "Connected", instance_id="i-0d"),
        untagged("ip-10-0-1-8", "Disconnected"),  # loses to the tagged connected machine of i-0d
        untagged("ip-10-0-1-9", "Disconnected"),
        untagged("ip-10-0-3-3"),
    ]
    invs = {ACC: m.AwsAccountInventory(ACC, True, instances=instances,
                                       ssm=tuple(m.SsmInstance(ACC, i.region, i.instance_id, "Online")
                                                 for i in instances)),
            OTHER: m.AwsAccountInventory(OTHER, True, instances=other)}
    idx = d.arc_index(machines, invs)
    assert {k: a.name for k, a in idx.items() if k.startswith("i-")} == {
        "i-0a": "ip-10-0-1-5", "i-0b": "hand-made-2", "i-0c": "srv-x", "i-0d": "i-0d", "i-0e": "ip-10-0-1-9"}
    assert idx.matched_by["i-0d"] == d.MATCH_INSTANCE_ID
    assert all(idx.matched_by[k] == d.MATCH_NAME for k in ("i-0a", "i-0b", "i-0c", "i-0e"))
    assert "i-0f" not in idx and "i-1f" not in idx  # never a guess between two accounts
    # a name-matched machine belongs to its instance's account (its findings are attributed there)
    assert idx.account_of[machines[0].id.lower()] == ACC
    f = d.funnel(ACC, invs[ACC], idx, arc_expected=True)
    assert f.arc_connected == 4 and f.arc_matched_by_name == 3
    stuck = {s.instance_id: s for s in f.stuck}
    assert stuck["i-0e"].reason == m.REASON_ARC_DISCONNECTED and stuck["i-0e"].matched_by == d.MATCH_NAME
    assert stuck["i-0f"].reason == m.REASON_NOT_DISCOVERED and stuck["i-0f"].matched_by is None
    assert {r.region: r.arc_matched_by_name for r in f.regions} == {"us-east-1": 2, "eu-west-1": 1}
    # without the EC2 inventories there is nothing to match a name against
    assert "i-0a" not in d.arc_index(machines)


def test_name_matching_stays_in_the_machines_account() -> None:
    instances = {ACC: m.AwsAccountInventory(ACC, True, instances=(ec2("i-0a", "ip-10-0-3-3.ec2.internal"),)),
                 OTHER: m.AwsAccountInventory(OTHER, True, instances=(
                     ec2("i-1a", "ip-10-0-3-3.ec2.internal", account=OTHER),))}
    # the Arc multicloud connector's resource group aws_<account> names the account: no ambiguity left
    idx = d.arc_index([untagged("ip-10-0-3-3", rg=f"aws_{OTHER}")], instances)
    assert idx["i-1a"].name == "ip-10-0-3-3" and "i-0a" not in idx
    # an AccountId tag without InstanceId does the same
    tagged_account = m.ArcMachine(id="/subscriptions/s/resourceGroups/r/providers/Microsoft.HybridCompute/machines/x",
                                  name="ip-10-0-3-3", subscription_id="s", resource_group="r", status="Connected",
                                  aws_account_id=ACC, instance_id="ip-10-0-3-3", tagged=False)
    idx = d.arc_index([tagged_account], instances)
    assert idx["i-0a"] is tagged_account and "i-1a" not in idx


# ------------------------------------------------------------------------------------------------ connectors, plans


def native(account: str, offerings: list[dict], sub: str = SUB, scan: int | None = 4,
           regions: tuple[str, ...] = ()) -> m.Connector:
    return m.Connector(id=f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/"
                          f"securityConnectors/n{account}",
                       name=f"n{account}", kind="native", subscription_id=sub, resource_group="rg",
                       aws_account_id=account, scan_interval_hours=scan, regions=regions,
                       offerings=tuple(m.Offering(o["offeringType"], o) for o in offerings))


def classic(account: str, health: str = "Valid") -> m.Connector:
    # stale settings of a retired connector: auto-provisioning still says On
    return m.Connector(id=f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/k{account}",
                       name=f"k{account}", kind="classic", subscription_id=SUB, resource_group=None,
                       aws_account_id=account, health=health,
                       raw={"properties": {"hybridComputeSettings": {"autoProvision": "On"}}})


SERVERS = {"offeringType": "DefenderForServersAws", "subPlan": {"type": "P2"},
           "arcAutoProvisioning": {"enabled": True}, "mdeAutoProvisioning": {"enabled": True},
           "vaAutoProvisioning": {"enabled": True, "configuration": {"type": "TVM"}}}


def prereq(plan: d.PlanView, needle: str) -> d.Prerequisite:
    [p] = [p for p in plan.prerequisites if needle in p.name]
    return p


def test_plans_and_servers_pricing_prerequisite() -> None:
    c = native(ACC, [{"offeringType": "CspmMonitorAws"}, SERVERS])
    good = d.plan_views([c], d.pricing_index([m.Pricing(SUB, "VirtualMachines", "Standard", "P2")]))
    assert good["cspm"].enabled and not good["defender_cspm"].enabled
    s = good["servers"]
    assert ((s.enabled, s.sub_plan, s.arc_auto_provisioning, s.mde, s.vulnerability_assessment)
            == (True, "P2", True, True, "TVM"))
    assert prereq(s, "Defender for Servers on the subscription").ok is True
    off = d.plan_views([c], d.pricing_index([m.Pricing(SUB.upper(), "virtualmachines", "Free")]))["servers"]
    assert off.prerequisites_ok is False
    p = prereq(off, "Defender for Servers on the subscription")
    assert p.ok is False and "enable it" in p.detail and p.short == "pricing off"
    unknown = d.plan_views([c], None)["servers"]
    assert prereq(unknown, "Defender for Servers").ok is None and unknown.prerequisites_ok is None


def test_classic_only_account_enables_nothing_expects_no_arc_and_has_no_stuck() -> None:
    k = classic(ACC, health="Expired")
    plans = d.plan_views([k], d.pricing_index([m.Pricing(SUB, "VirtualMachines", "Standard")]))
    assert not any(p.enabled for p in plans.values())
    assert plans["servers"].arc_auto_provisioning is None and all(not p.prerequisites for p in plans.values())
    # its EC2 instances have no SSM agent and its old Arc machines are disconnected: still nothing is stuck
    snap = snapshot([k], pricings=[m.Pricing(SUB, "VirtualMachines", "Standard")],
                    arc_machines=[arc("i-b", "Disconnected")], aws={ACC: inv([("i-a", None), ("i-b", "Online")])})
    [v] = d.account_views(snap)
    assert v.classic_only and not v.duplicate_classic_native
    assert not any(p.enabled for p in v.plans.values())
    assert v.onboarding.arc_expected is False and v.onboarding.stuck == ()
    assert v.onboarding.ec2_total == 2  # the AWS side is still shown
    health, detail = d.connector_health(k)
    assert health == "classic (retired, no data since 2023-09-15): migrate"
    assert "--flow native" in detail and "o, then 1" in detail and "Expired" in detail and "stale" in detail
    # unreadable AWS side: nothing stuck from the Arc side either
    [v] = d.account_views(snapshot([k], arc_machines=[arc("i-b", "Expired")], aws={ACC: inv([], readable=False)}))
    assert v.onboarding.stuck == ()


def test_duplicate_stays_flagged_and_plans_come_from_the_native_connector_only() -> None:
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}])  # no Servers offering on the native connector
    k = classic(ACC)
    [v] = d.account_views(snapshot([n, k], aws={ACC: inv([("i-a", None)])}))
    assert v.duplicate_classic_native and v.kinds == ("native", "classic") and not v.classic_only
    assert v.plans["cspm"].enabled and not v.plans["servers"].enabled  # the classic's autoProvision On is ignored
    assert v.plans["servers"].arc_auto_provisioning is None
    assert v.onboarding.arc_expected is False and v.onboarding.stuck == ()
    assert d.connector_health(n) == ("ok", None)


# quickstart-onboard-aws.md (defender-docs, 2026-01-01) "Native connector plan requirements"
DB = {"offeringType": "DefenderForDatabasesAws", "arcAutoProvisioning": {"enabled": False},
      "rds": {"enabled": True}, "databasesDspm": {"enabled": True}}
DCSPM = {"offeringType": "DefenderCspmAws", "vmScanners": {"enabled": True}, "ciem": {"ciemDiscovery": {}}}


def test_every_plans_prerequisites_as_the_quickstart_states_them() -> None:
    servers = dict(SERVERS, mdeAutoProvisioning={"enabled": False})
    c = native(ACC, [{"offeringType": "CspmMonitorAws"}, DCSPM, servers,
                     {"offeringType": "DefenderForContainersAws"}, DB], regions=("us-east-1", "il-central-1"))
    inventory = inv([("i-a", "Online"), ("i-b", None), ("i-c", "Online")])
    pricings = [m.Pricing(SUB, "VirtualMachines", "Standard", "P2"), m.Pricing(SUB, "SqlServerVirtualMachines", "Free")]
    snap = snapshot([c], pricings=pricings, arc_machines=[arc("i-a", "Connected")], aws={ACC: inventory},
                    counts=[m.RecommendationCount(c.id.lower(), "High", "Unhealthy", 3)])
    [v] = d.account_views(snap)
    p = v.plans

    s = p["servers"]
    assert prereq(s, "Defender for Servers").ok is True
    assert prereq(s, "active AWS account").ok is True and "3 EC2" in prereq(s, "active AWS account").detail
    assert prereq(s, "Azure Arc on the").ok is True  # auto-provisioning on
    assert prereq(s, "network requirements").ok is None and "azcmagent check" in prereq(s, "network").detail
    ssm = prereq(s, "SSM Agent")
    assert ssm.ok is False and "1 of 3" in ssm.detail and "i-b" in ssm.detail and ssm.short == "no SSM agent"
    ext = prereq(s, "Defender for Endpoint")
    assert ext.ok is False and "Defender for Endpoint provisioning off" in ext.detail
    assert s.prerequisites_ok is False

    db = p["databases"]
    sql = prereq(db, "Defender for SQL servers on machines")
    assert sql.ok is False and sql.short == "pricing off" and "Free" in sql.detail
    assert prereq(db, "RDS Custom").ok is True
    arc_db = prereq(db, "Azure Arc on the")  # auto-provisioning off, 2 of 3 without Arc; which run SQL: unknown
    assert arc_db.ok is None and "2 of 3" in arc_db.detail and "SQL Server" in arc_db.detail
    assert prereq(db, "SSM Agent").ok is None and "SQL Server" in prereq(db, "SSM Agent").detail
    assert prereq(db, "Defender for SQL extension").ok is None
    region = prereq(db, "open-source databases")
    assert region.ok is True and "il-central-1" in region.detail

    cs = p["containers"]
    assert [x.ok for x in cs.prerequisites] == [None, None]
    # what no collected data can ever show is listed (with how to check it) but leaves the readiness decided
    assert not any(x.verifiable for x in cs.prerequisites) and cs.prerequisites_ok is True
    assert not prereq(s, "network requirements").verifiable and prereq(s, "SSM Agent").verifiable
    assert prereq(p["cspm"], "access to the AWS account").verifiable
    eks = cs.prerequisites[0].detail
    assert "aws eks list-clusters" in eks and "us-east-1 il-central-1" in eks

    dc = p["defender_cspm"]
    assert prereq(dc, "Owner").ok is None and "doctor" in prereq(dc, "Owner").detail
    assert prereq(dc, "assume the monitoring role").ok is True  # its assessments arrive
    assert prereq(dc, "CIEM").ok is None
    assert prereq(p["cspm"], "access to the AWS account").ok is True

    # every prerequisite the data cannot show says how to check it
    for plan in p.values():
        for x in plan.prerequisites:
            assert x.detail and (x.ok is not None or any(w in x.detail for w in ("check", "`", "not in", "read")))


def test_prerequisites_never_claim_what_the_data_does_not_show() -> None:
    c = native(ACC, [{"offeringType": "CspmMonitorAws"}, dict(SERVERS, arcAutoProvisioning={"enabled": False}), DB],
               regions=("il-central-1",))
    views = d.plan_views([c], None)  # nothing else known: no pricings, inventory, Arc or recommendations
    needs_data = ("Defender for Servers on", "Defender for SQL servers on", "an active AWS account", "AWS SSM Agent",
                  "Azure Arc", "access to the AWS account", "network")
    checked = [x for plan in views.values() for x in plan.prerequisites if x.name.startswith(needs_data)]
    assert len(checked) >= 9 and all(x.ok is None for x in checked), checked
    # the Databases plan's open-source region check is from the connector itself: every region unavailable
    assert prereq(views["databases"], "open-source databases").ok is False
    # an account with no EC2 at all: the Servers plan has nothing to protect; Databases may still have RDS Custom
    empty = d.plan_views([c], None, ctx=d.PlanContext(inventory=inv([])))
    assert prereq(empty["servers"], "active AWS account").ok is False
    assert prereq(empty["databases"], "RDS Custom").ok is None
    # unreadable AWS side: unknown, with the reason
    dark = d.plan_views([c], None, ctx=d.PlanContext(inventory=inv([], readable=False)))
    assert prereq(dark["servers"], "SSM Agent").ok is None and "AssumeRole" in prereq(dark["servers"], "SSM").detail


# ------------------------------------------------------------------------------------------------ recommendations


def test_duplicates_and_rec_summaries_case_insensitive() -> None:
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}])
    k = classic(ACC)
    other = native(OTHER, [{"offeringType": "CspmMonitorAws"}])
    assert d.duplicates([n, k, other]) == {ACC}
    counts = [m.RecommendationCount(n.id.lower(), "High", "Unhealthy", 4),
              m.RecommendationCount(n.id.upper(), "low", "unhealthy", 1),
              m.RecommendationCount(n.id.lower(), "High", "Healthy", 10),
              m.RecommendationCount("/subscriptions/x/unknown", "High", "Unhealthy", 99)]
    s, none = d.rec_attribution(counts, [n, k, other])
    assert s[ACC].total == 15 and s[ACC].unhealthy == 5
    assert s[ACC].unhealthy_by_severity == {"High": 4, "Medium": 0, "Low": 1}
    assert OTHER not in s
    # a connector no connector in scope matches is counted as unattributed, not dropped
    assert (none.total, none.unhealthy, none.unhealthy_by_severity["High"]) == (99, 99, 99)
    assert d.rec_summaries(counts, [n, k, other]) == s


def attribution_estate():
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}])
    o = native(OTHER, [{"offeringType": "CspmMonitorAws"}])
    hand = untagged("ip-10-0-1-5", computer_name="ip-10-0-1-5")
    tagged = arc("i-0t", "Connected", account=OTHER)
    aws = {ACC: m.AwsAccountInventory(ACC, True, instances=(ec2("i-0a", "ip-10-0-1-5.ec2.internal"),)),
           OTHER: m.AwsAccountInventory(OTHER, True, instances=(ec2("i-0t", None, account=OTHER),))}
    gone = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/i-gone"
    counts = [
        m.RecommendationCount(n.id.lower(), "High", "Unhealthy", 2),
        m.RecommendationCount("", "Medium", "Unhealthy", 3, arc_account_id=OTHER),  # tag read by ARG's join
        m.RecommendationCount("", "Low", "Healthy", 1, arc_account_id=OTHER),
        m.RecommendationCount("", "High", "Unhealthy", 5, azure_resource_id=hand.id.lower()),  # matched by name
        m.RecommendationCount("", "Low", "Unhealthy", 7, azure_resource_id=gone),  # machine does not exist
        m.RecommendationCount("", "High", "Healthy", 11, arc_account_id="999999999999"),  # account not in scope
        m.RecommendationCount("", "Medium", "Unhealthy", 13),  # names nothing at all
    ]
    return snapshot([n, o], arc_machines=[hand, tagged], aws=aws, counts=counts), n, hand, tagged, gone


def test_findings_without_a_connector_are_attributed_through_their_arc_machine() -> None:
    snap, n, hand, tagged, gone = attribution_estate()
    views = {v.aws_account_id: v for v in d.account_views(snap)}
    assert (views[ACC].recommendations.total, views[ACC].recommendations.unhealthy) == (2 + 5, 2 + 5)
    assert views[ACC].recommendations.unhealthy_by_severity == {"High": 7, "Medium": 0, "Low": 0}
    assert (views[OTHER].recommendations.total, views[OTHER].recommendations.unhealthy) == (4, 3)
    un = d.recommendations_unattributed(snap)
    assert (un.total, un.unhealthy) == (7 + 11 + 13, 7 + 13)
    # nothing lost: every count is somewhere
    assert sum(v.recommendations.total for v in views.values()) + un.total == sum(c.count for c in
                                                                                  snap.data("recommendations").counts)
    # the section failed: unknown, not zero
    failed = snapshot([n], recs_ok=False)
    assert d.recommendations_unattributed(failed) is None


def test_recommendation_rows_are_attributed_like_the_counts() -> None:
    snap, n, hand, tagged, gone = attribution_estate()

    def row(i: int, **kw) -> m.Recommendation:
        return m.Recommendation(id=f"/x/{i}", assessment_key="k", title="t", severity="High",
                                status=kw.pop("status", "Unhealthy"), connector_id=kw.pop("connector_id", ""), **kw)

    rows = [row(1, connector_id=n.id.lower()), row(2, azure_resource_id=hand.id.lower()),
            row(3, azure_resource_id=tagged.id.lower()), row(4, azure_resource_id=gone, status="Healthy"),
            row(5, resource_name="i-0t"), row(6)]
    got = [r.aws_account_id for r in d.attach_accounts(rows, snap)]
    assert got == [ACC, ACC, OTHER, None, OTHER, None]
    assert d.unattributed(d.attach_accounts(rows, snap)) == (2, 1)


# ------------------------------------------------------------------------------------------------ accounts


def test_account_views_from_a_snapshot() -> None:
    n = native(ACC, [{"offeringType": "CspmMonitorAws"}, SERVERS])
    snap = snapshot([n, classic(ACC)], pricings=[m.Pricing(SUB, "VirtualMachines", "Standard")],
                    arc_machines=[arc("i-a", "Connected")], aws={ACC: inv([("i-a", "Online"), ("i-b", None)])})
    [v] = d.account_views(snap)
    assert v.duplicate_classic_native and v.kinds == ("native", "classic")
    assert v.onboarding.arc_expected and [s.reason for s in v.onboarding.stuck] == [m.REASON_NO_SSM]
    assert v.recommendations.total == 0


pings = st.sampled_from(["Online", "ConnectionLost", "Inactive", None])
statuses = st.sampled_from(["Connected", "Disconnected", "Expired", "Error", "AwaitingConnection", None])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(pings, statuses, st.booleans()), max_size=30), st.booleans(), st.booleans())
def test_funnel_invariants(rows, readable, expected) -> None:
    instances = [(f"i-{n:03d}", p) for n, (p, _, _) in enumerate(rows)]
    invs = {ACC: m.AwsAccountInventory(ACC, readable, instances=tuple(
        ec2(iid, f"ip-10-0-0-{n}.ec2.internal") for n, (iid, _) in enumerate(instances)) if readable else (),
        ssm=tuple(m.SsmInstance(ACC, "us-east-1", iid, p) for iid, p in instances if p) if readable else ())}
    # some machines carry the MDC tags, others only the computer name (matched to the instance's private DNS)
    machines = [arc(f"i-{n:03d}", s) if tag else untagged(f"ip-10-0-0-{n}", s)
                for n, (_, s, tag) in enumerate(rows) if s]
    idx = d.arc_index(machines, invs)
    f = d.funnel(ACC, invs[ACC], idx, arc_expected=expected)
    if readable:
        assert f.ec2_total == len(rows)
        assert f.ssm_online <= f.ec2_total
        stuck_ids = {s.instance_id for s in f.stuck}
        assert len(stuck_ids) == len(f.stuck)
        if expected:
            assert len(f.stuck) + sum(r.arc_connected for r in f.regions) == f.ec2_total
        else:
            assert f.stuck == ()
        assert f.arc_connected == sum(1 for _, s, _ in rows if s == "Connected")
        assert f.arc_matched_by_name == sum(1 for _, s, tag in rows if s == "Connected" and not tag)
        assert all((s.matched_by == d.MATCH_NAME) == (not rows[int(s.instance_id[2:])][2])
                   for s in f.stuck if s.matched_by)
    else:
        assert f.ec2_total is None and f.ssm_online is None
        # unreadable: only MDC-tagged machines can be placed in the account
        assert f.arc_connected == sum(1 for _, s, tag in rows if s == "Connected" and tag)


def test_a_classic_connectors_legacy_findings_go_to_its_account_through_its_resource_group() -> None:
    """Legacy rows of a retired classic connector name Arc machines that are gone; the resource group the classic
    connector onboarded into (hybridComputeSettings.resourceGroupName) still names the account. A group two classic
    connectors share names none: those rows stay unattributed."""
    k = dc_replace(classic(ACC), raw={"properties": {"hybridComputeSettings": {"resourceGroupName": "AwsConnectorRG"}}})
    k2 = m.Connector(id=f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/k2", name="k2", kind="classic",
                     subscription_id=SUB, resource_group=None, aws_account_id=OTHER,
                     raw={"properties": {"hybridComputeSettings": {"resourceGroupName": "Shared"}}})
    k3 = dc_replace(k2, id=k2.id + "x", aws_account_id="333333333333")
    assert d.classic_groups([k, k2, k3]) == {f"/subscriptions/{SUB}/resourcegroups/awsconnectorrg": ACC}
    rg = f"/subscriptions/{SUB}/resourcegroups/awsconnectorrg"
    shared = f"/subscriptions/{SUB}/resourcegroups/shared"
    counts = [m.RecommendationCount("", "High", "Unhealthy", 4, azure_resource_id=rg),  # as the counts query cuts it
              m.RecommendationCount("", "Low", "Healthy", 6, azure_resource_id=shared)]
    s, none = d.rec_attribution(counts, [k, k2, k3])
    # stale since 2023-09-15: the account's live counts leave them out, its classic_legacy_* hold them
    assert (s[ACC].total, s[ACC].unhealthy) == (0, 0)
    assert (s[ACC].classic_legacy_total, s[ACC].classic_legacy_unhealthy) == (4, 4)
    assert (none.total, none.unhealthy) == (6, 0)
    row = m.Recommendation(id="/x/1", assessment_key="k", title="t", severity="High", status="Unhealthy",
                           connector_id="", azure_resource_id=rg.replace("awsconnectorrg", "AwsConnectorRG")
                           + "/providers/microsoft.hybridcompute/machines/i-gone")
    [got] = d.attach_accounts([row], snapshot([k, k2, k3]))
    assert got.aws_account_id == ACC


def test_an_untagged_machine_named_by_its_instance_id_belongs_to_that_instances_account() -> None:
    hand = untagged("i-0abc")  # no AccountId tag, named like the instance
    aws = {ACC: m.AwsAccountInventory(ACC, True, instances=(ec2("i-0abc", None),))}
    idx = d.arc_index([hand], aws)
    assert idx.account_of[hand.id.lower()] == ACC
    snap = snapshot([native(ACC, [{"offeringType": "CspmMonitorAws"}])], arc_machines=[hand], aws=aws,
                    counts=[m.RecommendationCount("", "High", "Unhealthy", 2, azure_resource_id=hand.id.lower())])
    [v] = d.account_views(snap)
    assert v.onboarding.arc_connected == 1 and v.recommendations.unhealthy == 2


def test_one_extension_setting_missing_from_the_offering_is_unknown_not_off() -> None:
    only_mde = {"offeringType": "DefenderForServersAws", "subPlan": {"type": "P2"},
                "arcAutoProvisioning": {"enabled": True}, "mdeAutoProvisioning": {"enabled": True}}
    p = d.plan_views([native(ACC, [only_mde])], None)["servers"]
    assert prereq(p, "Defender for Endpoint").ok is None and "vulnerability assessment" in \
        prereq(p, "Defender for Endpoint").detail
    va_off = dict(only_mde, mdeAutoProvisioning={"enabled": False})
    p = d.plan_views([native(ACC, [va_off])], None)["servers"]
    assert prereq(p, "Defender for Endpoint").ok is False


def test_a_stopped_instance_ssm_does_not_list_reads_connection_lost_not_no_agent() -> None:
    """DescribeInstanceInformation leaves Stopped nodes out (AWS API reference): a stopped instance without an SSM
    entry is one whose agent cannot report, not one without an agent."""
    stopped = m.Ec2Instance(ACC, "us-east-1", "i-0s", "stopped", "linux")
    running = m.Ec2Instance(ACC, "us-east-1", "i-0r", "running", "linux")
    f = d.funnel(ACC, m.AwsAccountInventory(ACC, True, instances=(stopped, running)), {}, True)
    assert {s.instance_id: s.reason for s in f.stuck} == {"i-0s": m.REASON_SSM_LOST, "i-0r": m.REASON_NO_SSM}
