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
from tui.core.health import CODE_BY_NAME, STATE_ORDER, AccountCost, Health, HealthIssue, OrgCoverage, PlanCost
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


def issue(code: str, message: str | None = None) -> HealthIssue:
    return HealthIssue(code, message or f"{code} found here", f"do what {code} needs")


def health(*issues: HealthIssue | str) -> Health:
    """A Health with these issues (codes or HealthIssues), its state their worst level: made here, not by
    tui.core.health, so these tests read the UI alone."""
    its = tuple(i if isinstance(i, HealthIssue) else issue(i) for i in issues)
    levels = {i.level for i in its}
    return Health(next((s for s in STATE_ORDER if s in levels), "healthy"), its)


def planted(v: d.AccountView, h: Health | None = None, **kw: Any) -> d.AccountView:
    """`v` with a health (healthy by default) and, in `kw`, connector_health / org_coverage / cost."""
    return replace(v, health=h or Health("healthy"), **{"connector_health": {}, "org_coverage": None, "cost": None,
                                                         **kw})


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
    vs = [planted(views[MGMT]), planted(views[MEMBER], health("pending-first-scan")),
          planted(views[DUP], health("classic-retired", "classic-native-duplicate")),
          planted(views[CLASSIC], health("classic-retired")), planted(views[UNREAD], health("aws-unreadable"))]
    items = account_items(vs, d.org_rollup(cd.connectors))
    by = {it.key: it for it in items}
    assert list(by) == [MGMT, MEMBER, DUP, CLASSIC, UNREAD]
    assert all(len(it.cells) == len(ACCOUNT_COLUMNS) for it in items)
    assert [it.payload for it in items] == vs
    mg = by[MGMT]
    assert plain(mg.cells) == (MGMT, "aws-mgmt", "native", "mgmt 1m", "2", "4h", "✔ healthy")
    assert style(mg.cells[6]) == "green"
    assert mg.fields == {"account": MGMT, "region": "eu-west-1 us-east-1", "type": "native", "status": "healthy"}
    assert mg.text == f"{MGMT} aws-mgmt native management healthy"
    member = by[MEMBER]
    assert plain(member.cells)[3:] == ("member", "1", "12h", "● pending") and style(member.cells[6]) == "cyan"
    assert member.fields["status"] == "pending pending-first-scan"
    dup = by[DUP]
    # the kind says both; the health says which is worse (the retired classic one) and that there is one more
    assert plain(dup.cells)[2] == "native+" and style(dup.cells[2]) == "yellow"
    assert plain(dup.cells)[6] == "✖2 classic-retired" and style(dup.cells[6]) == "red"
    assert dup.fields["status"] == "failing classic-retired classic-native-duplicate"
    assert dup.fields["type"] == "native classic"
    cl = by[CLASSIC]
    # a classic connector is retired: its stale "Expired" says nothing, the health code says it
    assert plain(cl.cells) == (CLASSIC, f"classic-{CLASSIC}", "classic", "·", "all", "·", "✖ classic-retired")
    assert style(cl.cells[2]) == "yellow" and cl.fields["status"] == "failing classic-retired"
    unread = by[UNREAD]
    assert plain(unread.cells)[6] == "▲ aws-unreadable" and style(unread.cells[6]) == "yellow"
    assert unread.fields["status"] == "degraded aws-unreadable"
    assert unread.text == f"{UNREAD} aws-unread native single degraded aws-unreadable"
    # a native connector Azure could not provision, no issue known: its provisioning state shows
    bad = planted(replace(views[MEMBER], connectors=(replace(views[MEMBER].connectors[0], health="Failed"),)))
    [it] = account_items([bad], {})
    assert plain(it.cells)[6] == "✖ Failed" and style(it.cells[6]) == "red"
    assert it.fields["status"] == "failing provisioning-state Failed"
    # ... but an issue found says more than that state
    [it] = account_items([replace(bad, health=health("stack-not-complete"))], {})
    assert plain(it.cells)[6] == "✖ stack-not-complete"


def test_account_health_cells() -> None:
    from tui.render.rows import health_cell

    def cell(h: Health) -> tuple[str, str]:
        c = health_cell(h)
        return c.plain, str(c.style)

    assert cell(Health("healthy")) == ("✔ healthy", "green")
    assert cell(health("pending-first-scan")) == ("● pending", "cyan")
    assert cell(health("org-members-missing")) == ("▲ org-members-missing", "yellow")
    assert cell(health("stack-not-complete")) == ("✖ stack-not-complete", "red")
    assert cell(health("stack-not-complete", "org-members-missing")) == ("✖2 stack-not-complete", "red")
    assert cell(health("role-missing", "trust-policy-mismatch", "resource-lock")) == ("✖3 role-missing", "red")
    # the worst issue is the first of the state's level, whatever order the codes list them in
    assert CODE_BY_NAME["aws-unreadable"].level == "degraded"
    assert cell(health("aws-unreadable", "no-data")) == ("✖2 no-data", "red")
    assert cell(Health("degraded", (issue("resource-lock"), issue("pending-first-scan")))) == (
        "▲2 resource-lock", "yellow")


def test_account_rows_filter_by_state_and_code(views: dict[str, d.AccountView]) -> None:
    """`/status:failing` and `/sentinel` find the accounts by their health (the pane's own filter index)."""
    from tui.core.tablequery import Index, parse_filter

    vs = [planted(views[MGMT], health("sentinel-oidc-conflict", "org-members-missing")),
          planted(views[MEMBER], health("pending-first-scan")), planted(views[DUP], health("resource-lock")),
          planted(views[UNREAD])]
    items = account_items(vs, {})
    ix = Index(items, fields={"status": lambda it: it.fields.get("status"),
                              "account": lambda it: it.fields.get("account")},
               text=[lambda it: it.text])

    def keys(f: str) -> list[str]:
        return [it.key for it in ix.rows_at(ix.filter(parse_filter(f)))]

    assert keys("status:failing") == [MGMT]
    assert keys("status:degraded") == [DUP]
    assert keys("status:pending") == [MEMBER]
    assert keys("status:healthy") == [UNREAD]
    assert keys("!status:healthy") == [MGMT, MEMBER, DUP]
    assert keys("sentinel") == [MGMT] and keys("org-members-missing") == [MGMT]
    assert keys("resource-lock") == [DUP] and keys("pending-first-scan") == [MEMBER]


def test_management_row_counts_the_organizations_accounts_without_a_connector(
        snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    rollup = d.org_rollup(snap.data("connectors").connectors)
    cov = OrgCoverage(MGMT, 6, members_with_connector=(MEMBER,), missing=("666666666666", "777777777777"),
                      excluded=("999999999999",), suspended=("888888888888",))
    [it] = account_items([planted(views[MGMT], health("org-members-missing"), org_coverage=cov)], rollup)
    assert plain(it.cells)[3] == "mgmt 1m✗2" and style(it.cells[3]) == "yellow"
    assert plain(it.cells)[6] == "▲ org-members-missing"
    # every account covered: no count of missing ones
    [it] = account_items([planted(views[MGMT], org_coverage=replace(cov, missing=()))], rollup)
    assert plain(it.cells)[3] == "mgmt 1m"
    # Organizations not read: the rollup from the connectors alone, as before
    [it] = account_items([planted(views[MGMT])], rollup)
    assert plain(it.cells)[3] == "mgmt 1m"


def test_account_health_fits_its_column_at_80_columns() -> None:
    """At 80x24 the accounts table (77 cells inside the pane) keeps every column; HEALTH holds the worst issue's
    code (after the issue count, so a cut keeps the count), and a wide pane gives it more."""
    from widgets.panes import table_columns
    from widgets.virtual_table import layout_columns

    cols = table_columns(ACCOUNT_COLUMNS)
    at80 = {cols[i].label: w for i, _, w in layout_columns(cols, 77)}
    assert list(at80) == [label for label, _ in ACCOUNT_COLUMNS]
    assert at80["HEALTH"] >= len("✖2 stack-not-complete") and at80["ORG"] >= len("mgmt 4m✗2")
    wide = {cols[i].label: w for i, _, w in layout_columns(cols, 120)}
    longest = max(len(c) for c in CODE_BY_NAME)
    assert wide["HEALTH"] >= longest + len("▲2 ")


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
    views = {k: planted(v) for k, v in views.items()}  # healthy, Organizations not read, no cost
    det = rd.account_detail(snap, views[MGMT])
    assert det.crumbs == ("Dashboard", "Accounts", MGMT)
    assert det.portal == f"https://portal.azure.com/#@{TENANT}/resource{CONNECTORS[0].id}"
    body = det.body.plain
    assert body.startswith(f"aws-mgmt  ({MGMT})\norganization role: management\n\nHealth\n  ✔ healthy\n"
                           f"\nOrganization (StackSet MDC-StackSet)\n  members present: {MEMBER}; excluded: "
                           "999999999999\n  AWS Organizations not read: the organization's accounts without a "
                           "connector are not known\n\nPlans\n")
    assert "Cost (counts only)" not in body
    assert "  cspm           ✔ on\n" in body and "  servers        ✔ on P2\n" in body
    assert "  containers     · off\n" in body
    failing = next(x for x in views[MGMT].plans["servers"].prerequisites if x.ok is False)
    assert f"      ✖ {failing.name}: {failing.detail}\n" in body
    assert ("\nOnboarding\n  EC2 6 → SSM online 4 → Arc connected 1; stuck 5\n" in body)
    assert "\nRecommendations\n  4 unhealthy of 8: High 3, Medium 0, Low 1\n" in body
    assert "\nCompliance standards\n  AWS-CIS-1.2.0\n" in body
    assert f"\nnative connector aws-{MGMT}\n" in body and '"hierarchyIdentifier": "111111111111"' in body
    # sections in order
    order = [body.index(s) for s in ("\nHealth\n", "\nOrganization", "\nPlans\n", "\nOnboarding\n",
                                     "\nRecommendations\n",
                                     "\nCompliance standards\n", "\nnative connector")]
    assert order == sorted(order)
    bold = {det.body.plain[s.start:s.end] for s in det.body.spans if str(s.style) == "bold"}
    assert {"\nHealth\n", "\nPlans\n", "\nOnboarding\n", "\nCompliance standards\n"} <= bold
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
    # the health names the classic connector's codes: their issues (with the fix) replace the notes
    coded = rd.account_detail(snap, replace(views[DUP], health=health("classic-retired", "classic-native-duplicate")))
    assert "▲ duplicated" not in coded.body.plain
    assert "  ✖ classic-retired: classic-retired found here\n" in coded.body.plain
    cl = rd.account_detail(snap, replace(views[CLASSIC], health=health("classic-retired"))).body.plain
    assert f"▲ {d.CLASSIC_HEALTH}" not in cl and "\nHealth\n  ✖ failing · 1 issue\n  ✖ classic-retired: " in cl


def test_account_detail_health_lists_every_issue_and_its_fix(snap: m.Snapshot,
                                                             views: dict[str, d.AccountView]) -> None:
    h = health(issue("stack-not-complete", "stack DefenderForCloud-Connector (eu-west-1) is ROLLBACK_COMPLETE: "
                     "CspmMonitorAwsRole: role exists"),
               issue("org-members-missing", "2 accounts of the organization have no connector: 666666666666, "
                     "777777777777"))
    det = rd.account_detail(snap, planted(views[MGMT], h))
    body = det.body.plain
    health_part = body[body.index("\nHealth\n"):body.index("\nOrganization")]
    assert health_part.splitlines() == [
        "", "Health", "  ✖ failing · 2 issues",
        "  ✖ stack-not-complete: stack DefenderForCloud-Connector (eu-west-1) is ROLLBACK_COMPLETE: "
        "CspmMonitorAwsRole: role exists",
        "      fix: do what stack-not-complete needs",
        "  ▲ org-members-missing: 2 accounts of the organization have no connector: 666666666666, 777777777777",
        "      fix: do what org-members-missing needs"]
    # glyph and code coloured by the issue's level; the state line by the state
    styled = {det.body.plain[sp.start:sp.end]: str(sp.style) for sp in det.body.spans}
    assert styled["stack-not-complete"] == "bold red" and styled["org-members-missing"] == "bold yellow"
    assert styled["  ✖ failing · 2 issues\n"] == "red"
    # pending: its own glyph and colour
    pend = rd.account_detail(snap, planted(views[MEMBER], health("pending-first-scan"))).body
    assert "\nHealth\n  ● pending · 1 issue\n  ● pending-first-scan: pending-first-scan found here\n" \
           "      fix: do what pending-first-scan needs\n" in pend.plain
    # several connectors: each one's issues under it (the fix differs: delete the classic one, keep the native one)
    v = views[DUP]
    native_c, classic_c = v.connectors
    per = {native_c.id.lower(): health("classic-native-duplicate"),
           classic_c.id.lower(): health("classic-retired", "classic-native-duplicate")}
    body = rd.account_detail(snap, planted(v, health("classic-retired", "classic-native-duplicate"),
                                           connector_health=per)).body.plain
    assert (f"\nHealth\n  ✖ failing · 2 issues\n"
            f"  native connector aws-{DUP}: ▲ degraded\n"
            "    ▲ classic-native-duplicate: classic-native-duplicate found here\n"
            "        fix: do what classic-native-duplicate needs\n"
            f"  classic connector classic-{DUP}: ✖ failing\n"
            "    ✖ classic-retired: classic-retired found here\n"
            "        fix: do what classic-retired needs\n"
            "    ▲ classic-native-duplicate: classic-native-duplicate found here\n"
            "        fix: do what classic-native-duplicate needs\n") in body
    # Azure's provisioning state of a native connector, beside the issues
    bad = replace(views[MEMBER], connectors=(replace(views[MEMBER].connectors[0], health="Failed",
                                                     health_detail="template deployment failed"),))
    body = rd.account_detail(snap, planted(bad)).body.plain
    assert (f"\nHealth\n  ✔ healthy\n  ✖ provisioning state Failed (Azure, connector aws-{MEMBER}): template "
            "deployment failed\n") in body


def _with_org_accounts(snap: m.Snapshot, accounts: tuple[m.OrgAccountFact, ...]) -> m.Snapshot:
    od = snap.data("onboarding")
    aws = {**od.aws, MGMT: replace(od.aws[MGMT], setup=m.AwsAccountSetup(MGMT, org_accounts=accounts))}
    sec = snap.sections["onboarding"]
    return replace(snap, sections={**snap.sections, "onboarding": replace(sec, data=replace(od, aws=aws))})


def test_account_detail_organization_coverage(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    """The management account's row leads here: every account of the organization without a connector, by id
    (and name where Organizations gave one), the excluded and suspended ones, the StackSet instances not CURRENT."""
    missing = tuple(f"6666666666{i:02d}" for i in range(12))  # all listed, not the first few
    cov = OrgCoverage(MGMT, 16, members_with_connector=(MEMBER,), missing=missing, excluded=("999999999999",),
                      suspended=("888888888888",),
                      stackset_instances=(m.StackInstanceFact(MEMBER, "us-east-1", "CURRENT", "SUCCEEDED"),
                                          m.StackInstanceFact(missing[0], "eu-west-1", "OUTDATED", "FAILED",
                                                              "ResourceLogicalId:CspmMonitorAwsRole, already "
                                                              "exists"),
                                          m.StackInstanceFact(missing[1], "us-east-1", "OUTDATED", "PENDING")))
    s2 = _with_org_accounts(snap, (m.OrgAccountFact(MEMBER, "aws-member"), m.OrgAccountFact(missing[0], "finance"),
                                   m.OrgAccountFact("888888888888", "old", status="SUSPENDED")))
    body = rd.account_detail(s2, planted(views[MGMT], health("org-members-missing"), org_coverage=cov)).body.plain
    org = body[body.index("\nOrganization"):body.index("\nPlans\n")]
    assert org.splitlines()[1:] == [
        "Organization (StackSet MDC-StackSet)",
        "  accounts in the organization: 16",
        f"  members with a connector (1): {MEMBER} (aws-member)",
        "  ▲ missing a connector (12): 666666666600 (finance), " + ", ".join(missing[1:]),
        "  excluded (1): 999999999999",
        "  suspended (1): 888888888888 (old)",
        "  StackSet instances not CURRENT or failed (2 of 3):",
        "    ✖ 666666666600 eu-west-1 OUTDATED (FAILED): ResourceLogicalId:CspmMonitorAwsRole, already exists",
        "    ▲ 666666666601 us-east-1 OUTDATED (PENDING)"]
    # all covered, instances current, Organizations' count not read
    calm = replace(cov, org_accounts=None, missing=(), suspended=(), stackset_instances=cov.stackset_instances[:1])
    body = rd.account_detail(snap, planted(views[MGMT], org_coverage=calm)).body.plain
    assert ("  accounts in the organization: not read\n"
            f"  members with a connector (1): {MEMBER}\n"
            "  ✔ missing a connector (0): none\n"
            "  excluded (1): 999999999999\n"
            "  suspended (0): none\n"
            "  StackSet instances: 1, all CURRENT\n") in body
    body = rd.account_detail(snap, planted(views[MGMT], org_coverage=replace(calm, stackset_instances=()))).body.plain
    assert "  StackSet instances: none listed\n" in body
    # no Organization section for an account that is no management account
    assert "\nOrganization" not in rd.account_detail(snap, planted(views[MEMBER])).body.plain


def test_account_detail_cost_counts_only(snap: m.Snapshot, views: dict[str, d.AccountView]) -> None:
    query = ("aws cloudtrail lookup-events --region eu-west-1 --lookup-attributes AttributeKey=Username,"
             f"AttributeValue=MicrosoftDefenderForClouds_{TENANT} --start-time 2026-11-28T09:30:00Z "
             "--query 'length(Events)'")
    cost = AccountCost(4, (PlanCost("cspm", {}),
                           PlanCost("defender_cspm", {"ec2_running": 6, "rds_instances": None, "s3_buckets": 3}),
                           PlanCost("servers", {"ec2_running": 6}),
                           PlanCost("containers", {"eks_clusters": 2},
                                    "vCores of EKS nodes are not read: the plan bills per vCore")),
                       query)
    det = rd.account_detail(snap, planted(views[MGMT], cost=cost))
    body = det.body.plain
    part = body[body.index("\nCost (counts only)\n"):body.index("\nnative connector")]
    assert part.splitlines()[1:] == [
        "Cost (counts only)",
        "  scan interval: every 4 h",
        "  cspm           nothing counted (free)",
        "  defender_cspm  running EC2 instances 6 · RDS instances not read · S3 buckets 3",
        "  servers        running EC2 instances 6",
        "  containers     EKS clusters 2",
        "                 vCores of EKS nodes are not read: the plan bills per vCore",
        "  MDC's API calls in the last 24 h (CloudTrail events of its CspmMonitorAws session):",
        f"    {query}"]
    assert body.index("\nCompliance standards\n") < body.index("\nCost (counts only)\n")
    # the query on a line of its own, whole (ready to copy)
    assert f"\n    {query}\n" in body
    bare = rd.account_detail(snap, planted(views[MGMT], cost=AccountCost(None))).body.plain
    assert "\nCost (counts only)\n  scan interval: not known\n\nnative connector" in bare


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
    assert lines[9:11] == ["AWS controls", "  not read (Azure did not answer): a standard's failing controls are in "
                                           "the Compliance pane (5); `mdc-aws export --view remediation` lists every "
                                           "recommendation's"]
    assert lines[12] == "Affected resources (53 unhealthy, 53 resources in 1 account)"
    # grouped by account and region: a count, the first names, how many more (tests/test_runbook.py: many groups)
    assert lines[13:-2] == [f"  {MGMT}  us-east-1  (53): bucket-0, bucket-1, bucket-2, bucket-3, bucket-4 … and 48 "
                            "more"]
    assert lines[-2:] == ["", "assessment /assessments/k-1/r0"]
    few = rd.recommendation_detail(r, rows[:3], ["Dashboard", "Compliance", "CIS", "S3.1", "bucket-0"])
    assert few.crumbs == ("Dashboard", "Compliance", "CIS", "S3.1", "bucket-0")
    assert "… and" not in few.body.plain
    assert "Affected resources (3 unhealthy, 3 resources in 1 account)\n" in few.body.plain
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
    assert li.header == ("S3.1 S3 block public access · Failed · 2 failing resources\nAWS Security Hub: "
                         "https://docs.aws.amazon.com/securityhub/latest/userguide/s3-controls.html#s3-1")
    assert rd.control_failing_listing("X", CONTROLS[2], []).header == (
        "Macie.1  · Unsupported · 0 failing resources\nAWS Security Hub: "
        "https://docs.aws.amazon.com/securityhub/latest/userguide/macie-controls.html#macie-1")


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
    # HEALTH dropped first; the fixed columns grow to their widths before NAME takes the rest
    assert widths(ACCOUNT_COLUMNS, 60)["NAME"] == 60 - (12 + 7 + 10 + 3 + 4) - 5
    narrow = widths(ACCOUNT_COLUMNS, 44)
    assert narrow["NAME"] == 12 and "HEALTH" not in narrow and "ACCOUNT" in narrow


def test_an_account_whose_health_was_not_evaluated_reads_unknown(snap: m.Snapshot,
                                                                  views: dict[str, d.AccountView]) -> None:
    """A connector the health model could not judge never reads healthy: the row says "? unknown" (filterable), and
    the detail lists what was not checked and why (review 10 and 15)."""
    v = views[MGMT]
    cid = v.connectors[0].id.lower()
    unknown = replace(planted(v, Health("healthy", (), unchecked=(f"connector {v.connectors[0].name}: its health "
                                                                   "could not be evaluated",))),
                      health_not_evaluated=(cid,))
    (it,) = account_items([unknown], {})
    assert plain(it.cells)[6] == "? unknown" and it.fields["status"] == "unknown"
    body = rd.account_detail(snap, unknown).body.plain
    assert "not checked (1):" in body and "could not be evaluated" in body
    # judged: the cell is the state, whatever was left unchecked
    judged = planted(v, Health("healthy", (), unchecked=("organization: ListAccounts denied",)))
    assert plain(account_items([judged], {})[0].cells)[6] == "✔ healthy"
    assert "ListAccounts denied" in rd.account_detail(snap, judged).body.plain
