"""Pure rendering (tui.render): the panes' rows, the portal links and the drill-downs' content, without Textual.

A small estate built here from model objects: a management account with a member, a duplicate (native + classic), a
classic-only account and one whose AWS side is unreadable; its instances stuck for every reason the funnel knows
(a stopped one among them, and one whose Arc machine was matched by computer name).
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from tui.core import derive as d
from tui.core import model as m
from tui.render import detail as rd
from tui.render import links
from tui.render.rows import (ACCOUNT_COLUMNS, COMPLIANCE_COLUMNS, ONBOARDING_COLUMNS, PLAN_COLUMNS, Item, RegionStuck,
                             account_items, compliance_items, onboarding_items, plan_items, rec_cells, sort_items)

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=timezone.utc)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUB = "6f1c2a9e-4b7d-4e0a-9c3f-1a2b3c4d5e01"
MGMT, MEMBER, DUP, CLASSIC, UNREAD = "111111111111", "222222222222", "333333333333", "444444444444", "555555555555"

CSPM = {"offeringType": "CspmMonitorAws"}
DCSPM = {"offeringType": "DefenderCspmAws", "vmScanners": {"enabled": True}}
SERVERS = {"offeringType": "DefenderForServersAws", "subPlan": {"type": "P2"},
           "arcAutoProvisioning": {"enabled": True}, "mdeAutoProvisioning": {"enabled": True},
           "vaAutoProvisioning": {"enabled": True, "configuration": {"type": "TVM"}}}


# ----------------------------------------------------------------------------------------------- the estate

def native(account: str, name: str, offerings: list[dict[str, Any]], *, regions: tuple[str, ...] = ("us-east-1",),
           scan: int = 4, **kw: Any) -> m.Connector:
    cid = f"/subscriptions/{SUB}/resourceGroups/mdc/providers/Microsoft.Security/securityConnectors/aws-{account}"
    raw = {"id": cid, "name": f"aws-{account}",
           "properties": {"hierarchyIdentifier": account, "environmentData": {"accountName": name}}}
    return m.Connector(id=cid, name=f"aws-{account}", kind="native", subscription_id=SUB, resource_group="mdc",
                       aws_account_id=account, regions=regions, scan_interval_hours=scan,
                       offerings=tuple(m.Offering(o["offeringType"], o) for o in offerings), raw=raw, **kw)


def classic(account: str, health: str = "Valid") -> m.Connector:
    cid = f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/classic-{account}"
    return m.Connector(id=cid, name=f"classic-{account}", kind="classic", subscription_id=SUB, resource_group=None,
                       aws_account_id=account, health=health, auth_type="awsAssumeRole",
                       raw={"id": cid, "properties": {"hybridComputeSettings": {"autoProvision": "On"}}})


def machine(iid: str, status: str, account: str | None = MGMT, **kw: Any) -> m.ArcMachine:
    return m.ArcMachine(id=f"/subscriptions/{SUB}/resourceGroups/arc/providers/Microsoft.HybridCompute/machines/{iid}",
                        name=iid, subscription_id=SUB, resource_group="arc", status=status, aws_account_id=account,
                        instance_id=kw.pop("instance_id", iid), last_status_change="2026-11-28T21:14:09Z", **kw)


def ec2(iid: str, region: str, state: str = "running", **kw: Any) -> m.Ec2Instance:
    return m.Ec2Instance(MGMT, region, iid, state, "linux", launch_time=kw.pop("launch_time", NOW - timedelta(days=3)),
                         **kw)


def ssm(iid: str, region: str, ping: str = "Online", **kw: Any) -> m.SsmInstance:
    return m.SsmInstance(MGMT, region, iid, ping, "Linux", "3.3.1142.0", NOW - timedelta(minutes=3), **kw)


CONNECTORS = (
    native(MGMT, "aws-mgmt", [CSPM, DCSPM, SERVERS], regions=("eu-west-1", "us-east-1"),
           organization_role="management", stackset_name="MDC-StackSet", excluded_account_ids=("999999999999",)),
    native(MEMBER, "aws-member", [CSPM], scan=12, organization_role="member", parent_account_id=MGMT),
    native(DUP, "aws-dup", [CSPM], scan=6),
    classic(DUP),
    classic(CLASSIC, health="Expired"),
    native(UNREAD, "aws-unread", [CSPM, SERVERS]),
)

INSTANCES = (
    ec2("i-0a", "us-east-1"),  # SSM online, Arc connected: not stuck
    ec2("i-0b", "us-east-1"),  # no SSM agent
    ec2("i-0s", "us-east-1", "stopped"),  # stopped: SSM does not list it
    ec2("i-0d", "eu-west-1", launch_time=NOW - timedelta(hours=2)),  # SSM online, registered 30 min ago: not found yet
    ec2("i-0x", "eu-west-1"),  # Arc disconnected
    ec2("i-0w", "eu-west-1", name="web-1"),  # its Arc machine (no MDC tags) found by computer name, disconnected
)
SSM = (ssm("i-0a", "us-east-1"), ssm("i-0d", "eu-west-1", registered=NOW - timedelta(minutes=30)),
       ssm("i-0x", "eu-west-1"), ssm("i-0w", "eu-west-1"))
ARC = (machine("i-0a", "Connected"), machine("i-0x", "Disconnected"),
       machine("web-1", "Disconnected", account=None, instance_id="web-1", tagged=False, computer_name="web-1"),
       machine("i-0u1", "Connected", account=UNREAD), machine("i-0u2", "Expired", account=UNREAD))
STANDARDS = (m.ComplianceStandard("AWS-Foundational-Security-Best-Practices", 68, 23, 6),
             m.ComplianceStandard("AWS-CIS-1.2.0", 31, 12, 0, 4),
             m.ComplianceStandard("Nothing-Assessed", 0, 0, 5))
ERROR = "cannot assume role MDCReadOnly in 555555555555: AccessDenied (sts:AssumeRole)"


def snapshot(tenant: str | None = TENANT) -> m.Snapshot:
    def ok(name: str, data: Any) -> m.Section:
        return m.Section(m.SectionStatus(name, "ok", NOW), data)

    # the member's and the duplicate's AWS sides read, empty; the classic account's not read at all
    aws = {MGMT: m.AwsAccountInventory(MGMT, True, regions=("eu-west-1", "us-east-1"), instances=INSTANCES, ssm=SSM),
           MEMBER: m.AwsAccountInventory(MEMBER, True), DUP: m.AwsAccountInventory(DUP, True),
           UNREAD: m.AwsAccountInventory(UNREAD, False, error=ERROR, error_kind="auth")}
    sections = {
        "connectors": ok("connectors", m.ConnectorsData(CONNECTORS)),
        "plans": ok("plans", m.PlansData((m.Pricing(SUB, "VirtualMachines", "Standard", "P2"),
                                          m.Pricing(SUB, "CloudPosture", "Standard")))),
        "onboarding": ok("onboarding", m.OnboardingData(ARC, aws)),
        "recommendations": ok("recommendations", m.RecommendationsData((
            m.RecommendationCount(CONNECTORS[0].id.lower(), "High", "Unhealthy", 3),
            m.RecommendationCount(CONNECTORS[0].id.lower(), "Low", "Unhealthy", 1),
            m.RecommendationCount(CONNECTORS[0].id.lower(), "Low", "Healthy", 4)))),
        "compliance": ok("compliance", m.ComplianceData(STANDARDS, assigned={MGMT: ("AWS-CIS-1.2.0",)})),
    }
    return m.Snapshot(NOW, (SUB,), sections, tenant_id=tenant)


@pytest.fixture(scope="module")
def snap() -> m.Snapshot:
    return snapshot()


@pytest.fixture(scope="module")
def views(snap: m.Snapshot) -> dict[str, d.AccountView]:
    return {v.aws_account_id: v for v in d.account_views(snap)}


def plain(cells: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(c.plain if isinstance(c, Text) else c for c in cells)


def style(cell: Any) -> str:
    assert isinstance(cell, Text)
    return str(cell.style)


def rec(i: int, *, key: str = "k-1", status: str = "Unhealthy", **kw: Any) -> m.Recommendation:
    return m.Recommendation(id=f"/assessments/{key}/r{i}", assessment_key=key, title=kw.pop("title", "S3 public"),
                            severity=kw.pop("severity", "High"), status=status, connector_id="c",
                            resource_name=f"bucket-{i}", resource_type="AwsS3Bucket", region="us-east-1",
                            aws_account_id=MGMT, **kw)


# ----------------------------------------------------------------------------------------------- the package

def test_the_render_package_loads_no_textual_and_no_core_model_on_import() -> None:
    code = ("import sys, tui.render.rows, tui.render.links, tui.render.detail;"
            "bad=[m for m in sys.modules if m.split('.')[0] == 'textual' or m in ('tui.core.model', "
            "'tui.core.derive', 'tui.core.tablequery', 'json')];"
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------------------------- pane rows

def test_account_rows(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    cd = snap.data("connectors")
    items = account_items(list(views.values()), d.org_rollup(cd.connectors))
    by = {it.key: it for it in items}
    assert list(by) == [MGMT, MEMBER, DUP, CLASSIC, UNREAD]
    assert all(len(it.cells) == len(ACCOUNT_COLUMNS) for it in items)
    assert all(isinstance(it.payload, d.AccountView) and it.payload.aws_account_id == it.key for it in items)
    mg = by[MGMT]
    assert plain(mg.cells) == (MGMT, "aws-mgmt", "native", "mgmt 1m", "2", "4h", "✔ ok")
    assert style(mg.cells[6]) == "green"
    assert mg.fields == {"account": MGMT, "region": "eu-west-1 us-east-1", "type": "native", "status": "✔ ok"}
    assert mg.text == f"{MGMT} aws-mgmt native management ✔ ok"
    assert plain(by[MEMBER].cells)[3:6] == ("member", "1", "12h")
    dup = by[DUP]
    assert plain(dup.cells)[2] == "native+classic ▲" and style(dup.cells[2]) == "yellow"
    assert plain(dup.cells)[6] == "▲ dup recs" and dup.fields["status"] == "▲ dup recs"
    assert dup.fields["type"] == "native classic"
    cl = by[CLASSIC]
    # a classic connector is retired: its stale "Expired" says nothing, the row says migrate
    assert plain(cl.cells) == (CLASSIC, f"classic-{CLASSIC}", "classic·retired", "·", "all", "·", "▲ migrate")
    assert cl.fields["status"] == d.CLASSIC_HEALTH
    # a native connector in a bad state shows it
    bad = replace(views[MEMBER], connectors=(replace(views[MEMBER].connectors[0], health="Failed"),))
    [it] = account_items([bad], {})
    assert plain(it.cells)[6] == "✖ Failed" and style(it.cells[6]) == "red" and it.fields["status"] == "✖ Failed"


def test_plan_rows(views: dict[str, d.AccountView]) -> None:
    items = plan_items(list(views.values()))
    by = {it.key: it for it in items}
    assert all(len(it.cells) == len(PLAN_COLUMNS) for it in items)
    assert all(isinstance(it.payload, d.AccountView) for it in items)
    mg = by[MGMT]
    assert plain(mg.cells)[:3] == (MGMT, "✔", "✔")
    assert plain(mg.cells)[4:] == ("·", "·") and style(mg.cells[4]) == "dim"
    # the instance without an SSM agent fails a Servers prerequisite: yellow, with its short reason
    servers = views[MGMT].plans["servers"]
    assert servers.prerequisites_ok is False
    short = next(x for x in servers.prerequisites if x.ok is False).short
    assert plain(mg.cells)[3] == f"▲ P2 arc mde va · {short}" and style(mg.cells[3]) == "yellow"
    assert mg.fields == {"account": MGMT, "status": "prereq-failed"}
    assert mg.text.endswith(" aws-mgmt") and mg.text.startswith(f"{MGMT} ✔ ✔ ▲ P2 arc mde va")
    assert plain(by[CLASSIC].cells)[1:] == ("·",) * 5  # classic enables nothing
    assert by[MEMBER].fields["status"] == "ok" and style(by[MEMBER].cells[1]) == "green"
    # Servers on, its prerequisites fine: the sub-plan and extensions in green
    ok_servers = replace(servers, prerequisites=())
    v = replace(views[MGMT], plans={**views[MGMT].plans, "servers": ok_servers})
    [it] = plan_items([v])
    assert plain(it.cells)[3] == "✔ P2 arc mde va" and style(it.cells[3]) == "green"


def test_onboarding_rows_and_summary(views: dict[str, d.AccountView]) -> None:
    items, summary = onboarding_items(list(views.values()))
    by = {it.key: it for it in items}
    # one row per region of a readable account (none without instances); one for an account not read or unreadable
    assert list(by) == [f"{MGMT}/eu-west-1", f"{MGMT}/us-east-1", f"{CLASSIC}/?", f"{UNREAD}/?"]
    assert all(len(it.cells) == len(ONBOARDING_COLUMNS) for it in items)
    assert all(type(it.payload) is RegionStuck for it in items)
    eu, us, unread = by[f"{MGMT}/eu-west-1"], by[f"{MGMT}/us-east-1"], by[f"{UNREAD}/?"]
    # eu-west-1: 3 instances, 3 SSM online, 0 connected (the machine found by name is disconnected); ≈ marks it
    assert plain(eu.cells) == (MGMT, "eu-west-1", "3", "██████████    3", "░░░░░░░░░░   0≈", "3")
    assert style(eu.cells[5]) == "yellow"
    assert eu.fields == {"account": MGMT, "region": "eu-west-1", "status": "stuck", "type": "matched-by-name"}
    assert eu.text == f"{MGMT} aws-mgmt eu-west-1 Arc disconnected not discovered yet matched by name"
    assert plain(us.cells) == (MGMT, "us-east-1", "3", "███░░░░░░░    1", "███░░░░░░░    1", "2")
    assert us.fields["type"] == "" and us.fields["status"] == "stuck"
    assert plain(unread.cells) == (UNREAD, "? AWS unreadable", "?", "? (enter: why)", "??????????    1", "1")
    assert unread.fields == {"account": UNREAD, "status": "unreadable"} and style(unread.cells[5]) == "yellow"
    not_read = by[f"{CLASSIC}/?"]
    assert plain(not_read.cells)[4:] == ("??????????    0", "0") and style(not_read.cells[5]) == ""
    assert not_read.text == f"{CLASSIC} classic-{CLASSIC} AWS side not read"
    assert unread.text == f"{UNREAD} aws-unread {ERROR}"
    # payloads: the view, the region and that region's stuck instances, as a tuple
    assert us.payload.view is views[MGMT] and us.payload.region == "us-east-1"
    assert isinstance(us.payload.stuck, tuple)
    assert {s.instance_id: s.reason for s in us.payload.stuck} == {"i-0b": m.REASON_NO_SSM,
                                                                     "i-0s": m.REASON_SSM_LOST}
    assert unread.payload.region is None and [s.instance_id for s in unread.payload.stuck] == ["i-0u2"]
    with pytest.raises(FrozenInstanceError):
        us.payload.region = "x"  # type: ignore[misc]
    assert summary == ("stuck 6: 2 Arc disconnected · 1 no SSM agent · 1 SSM connection lost · 1 not discovered yet"
                       " · 1 Arc expired")
    # nothing stuck, one machine found by name
    calm = replace(views[MGMT], onboarding=replace(views[MGMT].onboarding, stuck=(), arc_matched_by_name=1))
    _, summary = onboarding_items([calm])
    assert summary == "nothing stuck · ≈ 1 Arc machine(s) without MDC tags matched to EC2 by computer name"
    # Arc not expected: the STUCK cell is a dim dash
    off = replace(views[MGMT], onboarding=replace(views[MGMT].onboarding, stuck=(), arc_expected=False))
    items, _ = onboarding_items([off])
    assert {plain(it.cells)[5] for it in items} == {"–"} and style(items[0].cells[5]) == "dim"


def test_compliance_rows() -> None:
    trends = {"AWS-Foundational-Security-Best-Practices": [70.0, None, 73.9, 74.7], "AWS-CIS-1.2.0": [72.1]}
    items = compliance_items(STANDARDS, trends)
    assert all(len(it.cells) == len(COMPLIANCE_COLUMNS) for it in items)
    fsbp, cis, none = items
    assert fsbp.key == "AWS-Foundational-Security-Best-Practices" and fsbp.payload is STANDARDS[0]
    assert plain(fsbp.cells) == ("AWS-Foundational-Security-Best-Practices", "███████░░░  74.7%", "68", "23", "6",
                                 "0", "↗ ▁▆█")
    assert fsbp.fields == {"std": "AWS-Foundational-Security-Best-Practices AWS Foundational Security Best Practices"}
    assert fsbp.text == fsbp.fields["std"]
    assert plain(cis.cells)[1:] == ("███████░░░  72.1%", "31", "12", "0", "4", "·")  # one point: no trend
    assert plain(none.cells)[1] == "··········   n/a"


def test_recommendation_cells() -> None:
    sev, title, resource, account, region, status = rec_cells(rec(1, severity="Medium"))
    assert (sev.plain, str(sev.style), title, resource, account, region) == ("◐ Med", "yellow", "S3 public",
                                                                             "bucket-1", MGMT, "us-east-1")
    assert status.plain == "✖ unhealthy" and str(status.style) == "red"
    cells = rec_cells(replace(rec(2), aws_account_id=None, status="NotApplicable"))
    assert cells[3].plain == "unattributed" and cells[5].plain == "· n/a"


def test_sorting_items_by_a_column_sorts_numbers_by_value() -> None:
    items = [Item(k, (k, score)) for k, score in (("a", "██░ 9.5%"), ("b", "█ 10"), ("c", "x"), ("d", "2"))]
    got = sort_items(items, (("K", 1), ("SCORE", 5)), "SCORE", False)
    assert [it.key for it in got] == ["d", "a", "b", "c"]


# ----------------------------------------------------------------------------------------------- links

def test_portal_links_by_the_selections_type(views: dict[str, d.AccountView]) -> None:
    conn = CONNECTORS[0].id
    account = f"https://portal.azure.com/#@{TENANT}/resource{conn}"
    assert links.portal_link(views[MGMT], TENANT) == account
    items, _ = onboarding_items([views[MGMT]])
    assert links.portal_link(items[0].payload, TENANT) == account
    assert links.portal_link(views[MGMT], None) == f"https://portal.azure.com/#@common/resource{conn}"
    assert links.portal_link(rec(1, key="abc-123"), TENANT) == (
        "https://portal.azure.com/#view/Microsoft_Azure_Security/GenericRecommendationDetailsBlade/"
        "assessmentKey/abc-123")
    assert links.portal_link(STANDARDS[0], TENANT) == links.COMPLIANCE_PORTAL == (
        "https://portal.azure.com/#view/Microsoft_Azure_Security/SecurityMenuBlade/~/22")
    assert links.portal_link(None, TENANT) is None
    assert links.portal_link(views[MGMT].onboarding.stuck[0], TENANT) is None  # a StuckInstance: no link
    assert links.portal_link(("not", "a", "payload"), TENANT) is None
    assert links.portal_link(replace(views[MGMT], connectors=()), TENANT) is None
    assert links.resource_link("", "/x") == "https://portal.azure.com/#@common/resource/x"


# ----------------------------------------------------------------------------------------------- drill-downs

def test_account_detail(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    det = rd.account_detail(snap, views[MGMT])
    assert det.crumbs == ("Dashboard", "Accounts", MGMT)
    assert det.portal == f"https://portal.azure.com/#@{TENANT}/resource{CONNECTORS[0].id}"
    body = det.body.plain
    assert body.startswith(f"aws-mgmt  ({MGMT})\norganization role: management\n"
                           f"members present: {MEMBER}; excluded: 999999999999; StackSet MDC-StackSet\n\nPlans\n")
    assert "  cspm           ✔ on\n" in body and "  servers        ✔ on P2\n" in body
    assert "  containers     · off\n" in body
    failing = next(x for x in views[MGMT].plans["servers"].prerequisites if x.ok is False)
    assert f"      ✖ {failing.name}: {failing.detail}\n" in body
    assert ("\nOnboarding\n  EC2 6 → SSM online 4 → Arc connected 1; stuck 5\n" in body)
    assert "\nRecommendations\n  4 unhealthy of 8: High 3, Medium 0, Low 1\n" in body
    assert "\nCompliance standards\n  AWS-CIS-1.2.0\n" in body
    assert f"\nnative connector aws-{MGMT}\n" in body and '"hierarchyIdentifier": "111111111111"' in body
    # sections in order
    order = [body.index(s) for s in ("\nPlans\n", "\nOnboarding\n", "\nRecommendations\n",
                                     "\nCompliance standards\n", "\nnative connector")]
    assert order == sorted(order)
    bold = {det.body.plain[s.start:s.end] for s in det.body.spans if str(s.style) == "bold"}
    assert {"\nPlans\n", "\nOnboarding\n", "\nCompliance standards\n"} <= bold
    # the duplicate: the classic note, the classic connector's health; no standard assigned
    dup = rd.account_detail(snap, views[DUP]).body.plain
    assert ("▲ duplicated: connected by both a classic and a native connector; remove the classic one (retired by "
            "Microsoft on 2023-09-15, no data since; o, then 3)\n") in dup
    assert f"\nclassic connector classic-{DUP} ({d.CLASSIC_HEALTH})\n" in dup
    assert "  none known: an account with no standard assigned shows no compliance data" in dup
    cl = rd.account_detail(snap, views[CLASSIC]).body.plain
    assert f"▲ {d.CLASSIC_HEALTH}: no plan is enabled and nothing is onboarded to Arc; {d.CLASSIC_MIGRATE}\n" in cl
    unread = rd.account_detail(snap, views[UNREAD]).body.plain
    assert "  EC2 ? → SSM online ? → Arc connected 1; stuck 1\n" in unread and f"  AWS: {ERROR}\n" in unread
    # no snapshot: no rollup, no standards, the "common" tenant
    bare = rd.account_detail(None, views[MGMT])
    assert "members present" not in bare.body.plain and "Compliance standards" not in bare.body.plain
    assert bare.portal is not None and "#@common/" in bare.portal


def test_stuck_listing(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    items, _ = onboarding_items(list(views.values()))
    by = {it.key: it.payload for it in items}
    us = rd.stuck_listing(snap, by[f"{MGMT}/us-east-1"], NOW)
    assert us.crumbs == ("Dashboard", "Onboarding", MGMT, "us-east-1")
    assert us.columns == (("INSTANCE", 19), ("REGION", 10), ("REASON", 19), ("SSM", 10), ("ARC", 6),
                          ("NEXT SCAN", 10))
    assert [it.cells for it in us.items] == [("i-0b", "us-east-1", m.REASON_NO_SSM, "no agent", "—", ""),
                                             ("i-0s", "us-east-1", m.REASON_SSM_LOST, "stopped", "—", "")]
    assert all(isinstance(it.payload, d.StuckInstance) for it in us.items)
    assert us.header == ("2 stuck in us-east-1. MDC discovers new EC2 instances every hour (whatever the connector's "
                         "scan interval). ≈: Arc machine matched by computer name (no MDC tags).")
    eu = {it.key: it.cells for it in rd.stuck_listing(snap, by[f"{MGMT}/eu-west-1"], NOW).items}
    assert eu["i-0d"][3:] == ("Online", "—", "in 30m")
    assert eu["i-0x"][3:5] == ("Online", "Disconnected")
    assert eu["i-0w"][3:5] == ("Online", "Disco≈")  # matched by computer name
    unread = rd.stuck_listing(snap, by[f"{UNREAD}/?"], NOW)
    assert unread.crumbs[-1] == "?" and unread.header.startswith("1 stuck in all regions. ")
    assert unread.header.endswith(f"\nAWS side: {ERROR}")
    assert unread.items[0].cells == ("i-0u2", "?", m.REASON_ARC_EXPIRED, "no agent", "Expired", "")


def test_instance_detail(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    v = views[MGMT]
    stuck = {s.instance_id: s for s in v.onboarding.stuck}
    det = rd.instance_detail(snap, v, stuck["i-0d"], NOW)
    assert det.crumbs == ("Dashboard", "Onboarding", MGMT, "i-0d") and det.portal is None  # no Arc machine yet
    lines = det.body.plain.splitlines()
    assert lines[0] == "i-0d  ·  not discovered yet"
    assert lines[1] == f"fix: {d.STUCK_FIX[m.REASON_NOT_DISCOVERED]}"
    assert lines[2] == d.due_text(NOW + timedelta(minutes=30), NOW) and lines[2].startswith("next discovery due by")
    assert lines[4:] == ["EC2", f"  account {MGMT}  region eu-west-1  state running  platform linux  name None  "
                                "launched 2026-11-29 07:30 UTC",
                         "SSM", f"  Online  agent 3.3.1142.0  platform Linux  last ping {NOW - timedelta(minutes=3)}",
                         "Azure Arc", "  no Arc machine yet"]
    stopped = rd.instance_detail(snap, v, stuck["i-0s"], NOW).body.plain
    assert ("SSM\n  the instance is stopped: SSM lists no stopped instance, its agent reports once it runs\n"
            in stopped)
    assert "SSM\n  not a managed instance (no SSM agent reporting)\n" in rd.instance_detail(
        snap, v, stuck["i-0b"], NOW).body.plain
    named = rd.instance_detail(snap, v, stuck["i-0w"], NOW)
    web = ARC[2]
    assert named.portal == f"https://portal.azure.com/#@{TENANT}/resource{web.id}"
    assert (f"Azure Arc\n  Disconnected  {web.id}\n  last status change 2026-11-28T21:14:09Z\n  matched by computer "
            "name (web-1): the machine carries no MDC tags (installed by hand or by the Arc multicloud connector)\n"
            ) in named.body.plain
    assert "matched by computer name" not in rd.instance_detail(snap, v, stuck["i-0x"], NOW).body.plain
    unread = views[UNREAD].onboarding.stuck[0]
    assert "  account 555555555555  region None  not read\n" in rd.instance_detail(
        snap, views[UNREAD], unread, NOW).body.plain


def test_recommendation_detail_caps_the_affected_resources() -> None:
    rows = [rec(i) for i in range(53)] + [rec(60, status="Healthy"), rec(61, key="k-2")]
    r = replace(rows[0], description="Block public access.", remediation=None)
    det = rd.recommendation_detail(r, rows)
    assert det.crumbs == ("Dashboard", "Recommendations", "bucket-0")
    assert det.portal == links.recommendation_link("k-1")
    lines = det.body.plain.splitlines()
    assert lines[:9] == ["S3 public",
                         f"severity High · status Unhealthy · resource bucket-0 (AwsS3Bucket) · account {MGMT} · "
                         "region us-east-1", "",
                         "Description", "  Block public access.", "",
                         "Remediation", "  —", ""]
    assert lines[9] == "Affected resources (53 unhealthy)"
    affected = lines[10:-2]
    assert len(affected) == 51 and affected[0] == f"  bucket-0  {MGMT}  us-east-1"
    assert affected[49] == f"  bucket-49  {MGMT}  us-east-1"
    assert affected[50] == "  … and 3 more (filter the pane with the title)"
    assert lines[-2:] == ["", "assessment /assessments/k-1/r0"]
    few = rd.recommendation_detail(r, rows[:3], ["Dashboard", "Compliance", "CIS", "S3.1", "bucket-0"])
    assert few.crumbs == ("Dashboard", "Compliance", "CIS", "S3.1", "bucket-0")
    assert "more (filter" not in few.body.plain and "Affected resources (3 unhealthy)\n" in few.body.plain
    assert rd.recommendation_detail(replace(r, resource_name=None), []).crumbs[-1] == "k-1"


CONTROLS = (
    m.ComplianceControl("CIS", "EC2.7", "EBS default encryption", "Passed"),
    m.ComplianceControl("CIS", "S3.1", "S3 block public access", "Failed", failed_assessments=3),
    m.ComplianceControl("CIS", "Macie.1", None, "Unsupported"),
    m.ComplianceControl("CIS", "EC2.6", "VPC flow logging", "Skipped"),
    m.ComplianceControl("CIS", "IAM.4", "Root access key", "Failed", failed_assessments=1),
)


def test_controls_listing_failed_first() -> None:
    li = rd.controls_listing("AWS-CIS-1.2.0", CONTROLS)
    assert li.crumbs == ("Dashboard", "Compliance", "AWS-CIS-1.2.0")
    assert li.columns == (("CONTROL", 16), ("STATE", 11), ("FAILING", 7), ("TITLE", 41))
    assert [it.key for it in li.items] == ["S3.1", "IAM.4", "EC2.7", "EC2.6", "Macie.1"]
    assert plain(li.items[0].cells) == ("S3.1", "Failed", "3", "S3 block public access")
    assert [style(it.cells[1]) for it in li.items] == ["red", "red", "green", "dim", "dim"]
    assert li.items[4].cells[3] == "" and li.items[0].payload is CONTROLS[1]
    assert li.header == ("2 of 5 controls failing · FAILING = failing recommendations · enter lists a control's "
                         "failing resources")


def test_control_failing_listing() -> None:
    rows = [rec(1, severity="Low"), replace(rec(2), resource_name=None, aws_account_id=None, region=None)]
    li = rd.control_failing_listing("AWS-CIS-1.2.0", CONTROLS[1], rows)
    assert li.crumbs == ("Dashboard", "Compliance", "AWS-CIS-1.2.0", "S3.1")
    assert li.columns == (("SEV", 7), ("RESOURCE", 22), ("ACCOUNT", 12), ("REGION", 14), ("RECOMMENDATION", 19))
    assert [it.key for it in li.items] == [rows[0].id, rows[1].id]
    assert plain(li.items[0].cells) == ("○ Low", "bucket-1", MGMT, "us-east-1", "S3 public")
    assert li.items[1].cells[1:] == ("", "", "", "S3 public")
    assert [it.payload for it in li.items] == rows
    assert li.header == "S3.1 S3 block public access · Failed · 2 failing resources"
    assert rd.control_failing_listing("X", CONTROLS[2], []).header == "Macie.1  · Unsupported · 0 failing resources"


def test_json_block_is_sorted_indented_json() -> None:
    assert rd.json_block({"b": 1, "a": NOW}) == '{\n  "a": "2026-11-29 09:30:00+00:00",\n  "b": 1\n}'


def test_the_flexible_column_takes_the_free_width() -> None:
    """Issue 12 point 9: at 160 columns the controls list's TITLE gets every cell the other columns leave; at 80 it
    keeps at least its old width; a narrower table drops the rightmost columns before it shrinks."""
    from tui.render.detail import CONTROLS_COLUMNS
    from tui.render.rows import ACCOUNT_COLUMNS, COMPLIANCE_COLUMNS
    from widgets.panes import table_columns
    from widgets.virtual_table import layout_columns

    def widths(columns, width):
        cols = table_columns(columns)
        return {cols[i].label: w for i, _, w in layout_columns(cols, width)}

    wide = widths(CONTROLS_COLUMNS, 158)
    assert wide["TITLE"] == 158 - (16 + 11 + 7) - 3 and wide["CONTROL"] == 16
    assert widths(CONTROLS_COLUMNS, 78)["TITLE"] == 78 - (16 + 11 + 7) - 3 >= 41
    assert widths(COMPLIANCE_COLUMNS, 120)["STANDARD"] == 120 - (17 + 4 + 4 + 4 + 5 + 6) - 6
    assert widths(ACCOUNT_COLUMNS, 60)["NAME"] == 16  # the fixed columns before it grow first
    narrow = widths(ACCOUNT_COLUMNS, 44)
    assert narrow["NAME"] == 16 and "HEALTH" not in narrow and "ACCOUNT" in narrow
