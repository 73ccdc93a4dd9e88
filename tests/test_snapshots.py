"""SVG snapshots of every main screen (pytest-textual-snapshot): 80x24 one pane at a time, 160x48 all panes.

Deterministic by construction:
- the data is a fixed estate built here from model objects (no emulator, no sockets, no randomness) and served by a
  fake service through the App's real paths (workers, messages, derive, panes);
- time is frozen: `datetime` in widgets.pane / tui.app and `time` in tui.app are replaced, so every age reads the
  same ("12 s ago", "3 h ago", "⟳ 0 s ago" in the top bar) whenever the test runs;
- no cursor blink, no notifications or tooltips, the theme is pinned, NO_COLOR is ignored;
- each shot waits until the panes are loaded and the screen under test is on top (then the plugin pauses again).

Bless after an intended UI change: `pytest tests/test_snapshots.py --snapshot-update`, then look at every changed SVG
(`git diff --stat tests/__snapshots__`; a failing run writes snapshot_report.html with side-by-side diffs).
"""
from __future__ import annotations

import asyncio
import hashlib
import types
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import pytest
from textual.widgets import Input

from tui.app import MdcApp
from tui.core import model as m
from tui.screens.detail import DetailScreen, HelpScreen, ListScreen

NOW = datetime(2026, 11, 29, 9, 30, 0, tzinfo=timezone.utc)
NARROW, WIDE = (80, 24), (160, 48)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUB_PROD = "6f1c2a9e-4b7d-4e0a-9c3f-1a2b3c4d5e01"
SUB_DEV = "6f1c2a9e-4b7d-4e0a-9c3f-1a2b3c4d5e02"
AGO = {"connectors": timedelta(seconds=12), "plans": timedelta(seconds=12), "onboarding": timedelta(seconds=40),
       "recommendations": timedelta(seconds=12), "compliance": timedelta(hours=3)}


# ----------------------------------------------------------------------------------------------- frozen time

class FrozenDatetime(datetime):
    """`datetime` whose now() is NOW: what the panes and the top bar read as the current time."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    import tui.app
    import widgets.pane

    monkeypatch.setattr(widgets.pane, "datetime", FrozenDatetime)  # age_text() of every pane title
    monkeypatch.setattr(tui.app, "datetime", FrozenDatetime)  # _tick(), the recommendations' as_of
    monkeypatch.setattr(tui.app, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))  # "⟳ 0 s ago"
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)  # no cursor blink
    for var in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_ANIMATIONS"):
        monkeypatch.delenv(var, raising=False)


# ----------------------------------------------------------------------------------------------- the fixed estate

def _conn_id(sub: str, account: str, kind: str) -> str:
    if kind == "classic":
        return f"/subscriptions/{sub}/providers/Microsoft.Security/connectors/aws-classic-{account}"
    return (f"/subscriptions/{sub}/resourceGroups/mdc-connectors/providers/Microsoft.Security/"
            f"securityConnectors/aws-{account}")


def native(account: str, name: str, *, sub: str = SUB_PROD, regions: tuple[str, ...] = ("us-east-1",),
           scan: int = 4, role: str = "single", parent: str | None = None, stackset: str | None = None,
           excluded: tuple[str, ...] = (), plans: tuple[str, ...] = ("cspm",), servers: str = "P2",
           mde: bool = True, va: bool = True, arc: bool = True) -> m.Connector:
    offerings = []
    for key in plans:
        otype = m.PLAN_OFFERINGS[key]
        raw: dict[str, Any] = {"offeringType": otype}
        if key == "servers":
            raw.update(subPlan={"type": servers}, arcAutoProvisioning={"enabled": arc},
                       mdeAutoProvisioning={"enabled": mde},
                       vaAutoProvisioning={"enabled": va, "configuration": {"type": "TVM"}})
        elif key == "defender_cspm":
            raw.update(vmScanners={"enabled": True})
        offerings.append(m.Offering(otype, raw))
    env: dict[str, Any] = {"environmentType": "AwsAccount", "accountName": name, "scanInterval": scan,
                           "regions": list(regions)}
    if role == "management":
        env["organizationalData"] = {"organizationMembershipType": "Organization", "stacksetName": stackset,
                                     "excludedAccountIds": list(excluded)}
    elif role == "member":
        env["organizationalData"] = {"organizationMembershipType": "Member", "parentHierarchyId": parent}
    cid = _conn_id(sub, account, "native")
    raw_conn = {"id": cid, "name": f"aws-{account}", "type": "Microsoft.Security/securityConnectors",
                "location": "westeurope",
                "properties": {"hierarchyIdentifier": account, "environmentName": "AWS", "environmentData": env,
                               "offerings": [dict(o.raw) for o in offerings]}}
    return m.Connector(id=cid, name=f"aws-{account}", kind="native", subscription_id=sub,
                       resource_group="mdc-connectors", aws_account_id=account, regions=regions,
                       scan_interval_hours=scan, organization_role=role, parent_account_id=parent,
                       stackset_name=stackset, excluded_account_ids=excluded, offerings=tuple(offerings),
                       location="westeurope", raw=raw_conn)


def classic(account: str, name: str, *, health: str = "Valid", auth: str = "awsAssumeRole",
            arc: bool = False) -> m.Connector:
    cid = _conn_id(SUB_PROD, account, "classic")
    props: dict[str, Any] = {"authenticationDetails": {"authenticationType": auth, "accountId": account,
                                                       "authenticationProvisioningState": health},
                             "hybridComputeSettings": {"autoProvision": "On" if arc else "Off",
                                                       "hybridComputeProvisioningState": health}}
    return m.Connector(id=cid, name=name, kind="classic", subscription_id=SUB_PROD, resource_group=None,
                       aws_account_id=account, health=health, auth_type=auth,
                       raw={"id": cid, "name": name, "type": "Microsoft.Security/connectors", "properties": props})


CONNECTORS = (
    native("210987654321", "aws-prod", regions=("eu-west-1", "us-east-1", "us-west-2"), role="management",
           stackset="MDC-aws-prod-StackSet", excluded=("999988887777",),
           plans=("cspm", "defender_cspm", "servers", "containers", "databases")),
    native("310987654321", "aws-member-a", regions=("eu-west-1", "us-east-1"), role="member", parent="210987654321",
           plans=("cspm", "servers"), servers="P1", mde=True, va=False),
    native("320987654321", "aws-member-b", regions=("eu-west-1",), scan=12, role="member", parent="210987654321",
           plans=("cspm", "defender_cspm", "servers")),
    native("410987654321", "aws-dup", regions=("us-east-1",), scan=6, plans=("cspm", "servers"), servers="P1",
           va=False),
    classic("410987654321", "aws-dup-classic"),
    native("510987654321", "aws-sandbox", sub=SUB_DEV, regions=("us-east-1",), scan=24, plans=("cspm", "servers"),
           servers="P1", mde=False, va=False),
    classic("610987654321", "aws_keys", health="Expired", auth="awsCreds", arc=True),
    native("810987654321", "aws-dev", sub=SUB_DEV, regions=("us-east-2",), scan=24, plans=("cspm",)),
)

PRICINGS = (
    m.Pricing(SUB_PROD, "VirtualMachines", "Standard", "P2"),
    m.Pricing(SUB_PROD, "CloudPosture", "Standard"),
    m.Pricing(SUB_DEV, "VirtualMachines", "Free"),
    m.Pricing(SUB_DEV, "CloudPosture", "Free"),
)

# Per account and region, one letter per EC2 instance: what happened on its way to Arc.
#   a: SSM online + Arc connected   n: no SSM agent   l: SSM connection lost   d: discovered soon (SSM online, no Arc)
#   x: Arc disconnected   e: Arc expired   r: Arc error
FLEET: dict[str, dict[str, str]] = {
    "210987654321": {"us-east-1": "aaaaaaaaaaaaaaanaadaaxaa", "eu-west-1": "aaaaaaanaa", "us-west-2": "aaaala"},
    "310987654321": {"us-east-1": "aaadaana", "eu-west-1": "aaar"},
    "410987654321": {"us-east-1": "aaaaa"},
    "510987654321": {"us-east-1": "nndl"},
    "610987654321": {"us-east-1": "aea"},
    "810987654321": {"us-east-2": "dddddd"},
}
ARC_STATUS = {"a": "Connected", "x": "Disconnected", "e": "Expired", "r": "Error"}
SSM_PING = {"a": "Online", "d": "Online", "x": "Online", "e": "ConnectionLost", "r": "Online", "l": "ConnectionLost"}
UNREADABLE = {"320987654321": "cannot assume role MDCReadOnly in 320987654321: AccessDenied (sts:AssumeRole)"}
ACCOUNT_SUB = {c.aws_account_id: c.subscription_id for c in CONNECTORS}


def instance_id(account: str, region: str, i: int) -> str:
    return "i-" + hashlib.sha1(f"{account}/{region}/{i}".encode(), usedforsecurity=False).hexdigest()[:17]


def onboarding() -> m.OnboardingData:
    inventories: dict[str, m.AwsAccountInventory] = {}
    arc: list[m.ArcMachine] = []

    def machine(account: str, iid: str, status: str) -> m.ArcMachine:
        sub = ACCOUNT_SUB[account]
        return m.ArcMachine(id=f"/subscriptions/{sub}/resourceGroups/mdc-arc-{account}/providers/"
                               f"Microsoft.HybridCompute/machines/{iid}", name=iid, subscription_id=sub,
                            resource_group=f"mdc-arc-{account}", status=status, aws_account_id=account,
                            instance_id=iid, connector=f"aws-{account}", last_status_change="2026-11-28T21:14:09Z",
                            os_name="linux")

    for account, regions in FLEET.items():
        instances, ssm = [], []
        for region, plan in regions.items():
            for i, what in enumerate(plan):
                iid = instance_id(account, region, i)
                instances.append(m.Ec2Instance(account, region, iid, "running" if what != "l" else "stopped",
                                               "windows" if i % 5 == 4 else "linux", name=f"app-{region[:2]}-{i:02d}",
                                               launch_time=NOW - timedelta(days=30)))
                if what in SSM_PING:
                    ssm.append(m.SsmInstance(account, region, iid, SSM_PING[what],
                                             "Windows" if i % 5 == 4 else "Linux", "3.3.1142.0",
                                             NOW - timedelta(minutes=3 + i), registered=NOW - timedelta(hours=1 + i)))
                if what in ARC_STATUS:
                    arc.append(machine(account, iid, ARC_STATUS[what]))
        inventories[account] = m.AwsAccountInventory(account, True, regions=tuple(regions), instances=tuple(instances),
                                                     ssm=tuple(ssm))
    for account, error in UNREADABLE.items():
        inventories[account] = m.AwsAccountInventory(account, False, error=error, error_kind="auth")
        for i, status in enumerate(("Connected", "Connected", "Connected", "Disconnected", "Expired")):
            arc.append(machine(account, instance_id(account, "eu-west-1", i), status))
    return m.OnboardingData(tuple(arc), inventories)


# assessment key, title, severity, resource type, resource name pattern, region or None (global)
REC_TYPES = (
    ("1c2a7f3e", "CloudTrail should be enabled and configured with at least one multi-Region trail", "High",
     "AwsAccount", "{account}", None),
    ("2d4b8e1f", "S3 general purpose buckets should block public access", "High", "AwsS3Bucket",
     "{name}-logs-{i}", "us-east-1"),
    ("3e5c9f20", "Security groups should not allow unrestricted ingress to port 22", "High", "AwsEc2SecurityGroup",
     "sg-0{i}4f{account3}bastion", "eu-west-1"),
    ("4f6d0a31", "IAM root user access key should not exist", "High", "AwsAccount", "{account}", None),
    ("5a7e1b42", "EC2 instances should not have a public IPv4 address", "Medium", "AwsEc2Instance",
     "i-0{account3}{i}c9e2d71a5", "us-east-1"),
    ("6b8f2c53", "EBS default encryption should be enabled", "Medium", "AwsAccount", "{account}/{region}",
     "eu-west-1"),
    ("7c903d64", "RDS DB instances should have encryption at rest enabled", "Medium", "AwsRdsDbInstance",
     "{name}-db-{i}", "us-west-2"),
    ("8da14e75", "Lambda functions should use supported runtimes", "Medium", "AwsLambdaFunction",
     "{name}-fn-{i}", "us-east-1"),
    ("9eb25f86", "VPC flow logging should be enabled in all VPCs", "Low", "AwsEc2Vpc", "vpc-0{account3}{i}a1",
     "eu-west-1"),
    ("a0c36097", "S3 buckets should have server access logging enabled", "Low", "AwsS3Bucket", "{name}-data-{i}",
     "us-east-1"),
)


def rec_key(short: str) -> str:
    return f"{short}-51a0-4c6e-9b7d-{int(short, 16):012x}"


def recommendations() -> list[m.Recommendation]:
    rows = []
    natives = [c for c in CONNECTORS if c.kind == "native"]
    for a, c in enumerate(natives):
        name = (c.raw["properties"]["environmentData"]["accountName"]).replace("_", "-")
        for k, (short, title, sev, rtype, pattern, region) in enumerate(REC_TYPES):
            n = 1 if pattern.startswith("{account}") else 1 + (a + k) % 3
            for i in range(n):
                status = ("Unhealthy", "Unhealthy", "Healthy", "Unhealthy", "NotApplicable")[(a * 3 + k + i) % 5]
                resource = pattern.format(account=c.aws_account_id, account3=c.aws_account_id[:3], name=name, i=i,
                                          region=region)
                rows.append(m.Recommendation(
                    id=f"{c.id}/providers/Microsoft.Security/assessments/{rec_key(short)}/{resource}",
                    assessment_key=rec_key(short), title=title, severity=sev, status=status,
                    connector_id=c.id.lower(), resource_name=resource, resource_type=rtype,
                    region=region or "global",
                    description=f"AWS Security Hub control for {rtype} resources: {title}.",
                    remediation=f"Follow the AWS Security Hub remediation steps for this control, then wait for the "
                                f"connector's next scan (every {c.scan_interval_hours} h) to see the result."))
    return rows


def rec_counts(rows: list[m.Recommendation]) -> tuple[m.RecommendationCount, ...]:
    counts: dict[tuple[str, str, str], int] = {}
    for r in rows:
        key = (r.connector_id, r.severity, r.status)
        counts[key] = counts.get(key, 0) + 1
    return tuple(m.RecommendationCount(c, s, st, n) for (c, s, st), n in sorted(counts.items()))


STANDARDS = (
    m.ComplianceStandard("AWS-Foundational-Security-Best-Practices", 68, 23, 6),
    m.ComplianceStandard("AWS-CIS-1.2.0", 31, 12, 0),
    m.ComplianceStandard("PCI-DSS-3.2.1", 13, 30, 2),
)
TRENDS = {
    "AWS-Foundational-Security-Best-Practices": [61.0, 62.5, 64.0, 66.1, 68.2, 70.0, 73.9, 74.7],
    "AWS-CIS-1.2.0": [72.1, 72.1, 71.8, 72.0, 72.1, 72.0, 72.1, 72.1],
    "PCI-DSS-3.2.1": [41.0, 40.2, 38.5, 36.0, 35.1, 33.3, 31.0, 30.2],
}
CONTROLS = (
    ("CloudTrail.1", "CloudTrail should be enabled and configured with at least one multi-Region trail", "Failed",
     4, ("1c2a7f3e",)),
    ("S3.1", "S3 general purpose buckets should have block public access settings enabled", "Failed", 3,
     ("2d4b8e1f",)),
    ("EC2.19", "Security groups should not allow unrestricted access to ports with high risk", "Failed", 2,
     ("3e5c9f20",)),
    ("IAM.4", "IAM root user access key should not exist", "Failed", 1, ("4f6d0a31",)),
    ("EC2.9", "EC2 instances should not have a public IPv4 address", "Failed", 5, ("5a7e1b42",)),
    ("EC2.7", "EBS default encryption should be enabled", "Passed", 0, ()),
    ("RDS.3", "RDS DB instances should have encryption at rest enabled", "Passed", 0, ()),
    ("Lambda.2", "Lambda functions should use supported runtimes", "Passed", 0, ()),
    ("EC2.6", "VPC flow logging should be enabled in all VPCs", "Skipped", 0, ()),
    ("Macie.1", "Amazon Macie should be enabled", "Unsupported", 0, ()),
)


def snapshot(stale_compliance: bool = False, onboarding_error: bool = False) -> m.Snapshot:
    rows = recommendations()
    data = {
        "connectors": m.ConnectorsData(CONNECTORS),
        "plans": m.PlansData(PRICINGS),
        "onboarding": onboarding(),
        "recommendations": m.RecommendationsData(rec_counts(rows)),
        # standards assigned on every native connector but the last (its account shows no-standard-assigned)
        "compliance": m.ComplianceData(STANDARDS, assigned={
            c.aws_account_id: ("AWS-Foundational-Security-Best-Practices",)
            for c in [c for c in CONNECTORS if c.kind == "native" and c.aws_account_id][:-1]}),
    }
    sections = {}
    for name in m.SECTION_NAMES:
        status, error, as_of = "ok", None, NOW - AGO[name]
        if name == "compliance" and stale_compliance:
            status, error = "stale", "Resource Graph throttled the query (429): retrying in 40 s"
        if name == "onboarding" and onboarding_error:
            status, error, as_of = "error", "cannot reach AWS: connect timeout on sts.us-east-1.amazonaws.com", None
        sections[name] = m.Section(m.SectionStatus(name, status, as_of, error, 0.4),
                                   None if status == "error" else data[name])
    return m.Snapshot(NOW - timedelta(seconds=12), (SUB_PROD, SUB_DEV), sections, tenant_id=TENANT)


class FixedService:
    """What the App needs from tui.core.service.Service, answering from the fixed estate above."""

    def __init__(self, snap: m.Snapshot | None = None) -> None:
        self.snap = snap or snapshot()

    def collect(self) -> m.Snapshot:
        return self.snap

    def recommendations(self) -> list[m.Recommendation]:
        return recommendations()

    def compliance_controls(self, standard: str) -> list[m.ComplianceControl]:
        return [m.ComplianceControl(standard, name, title, state, passed_assessments=0 if failed else 3,
                                    failed_assessments=failed)
                for name, title, state, failed, _ in CONTROLS]

    def compliance_failing_keys(self, standard: str, control: str) -> list[str]:
        return [rec_key(k) for name, *_, keys in CONTROLS if name == control for k in keys]

    def failing_controls(self) -> tuple[list[m.ComplianceControl], list[tuple[str, str, str]]]:
        """The recommendation detail's AWS controls: every failing pair of each standard of the fixed estate."""
        comp = self.snap.data("compliance")
        controls = [c for std in comp.standards for c in self.compliance_controls(std.name)]
        pairs = [(c.standard, c.name, key.lower()) for c in controls if c.state == "Failed"
                 for key in self.compliance_failing_keys(c.standard, c.name)]
        return controls, pairs

    def close(self) -> None:
        pass


class FixedHistory:
    """Trends for the compliance sparklines; nothing to start from."""

    def latest(self) -> m.Snapshot | None:
        return None

    def trend(self, kind: str, key: str, limit: int = 200, *, tenant: str | None = None
              ) -> list[tuple[datetime, float | None]]:
        assert tenant in (None, TENANT)  # the dashboard asks for the trend of the snapshot's own tenant
        pts = TRENDS.get(key, [])
        return [(NOW - timedelta(days=len(pts) - i), v) for i, v in enumerate(pts)][-limit:]

    def save(self, snap: m.Snapshot) -> None:
        pass


def make_app(snap: m.Snapshot | None = None) -> MdcApp:
    svc = FixedService(snap)
    app = MdcApp(refresh_s=3600, history=FixedHistory(), service_factory=lambda s, start: svc,  # type: ignore[arg-type]
                 theme="textual-dark")
    app._disable_notifications = True  # what run_test(notifications=False) sets: no toasts in the shots
    app._disable_tooltips = True
    return app


# ----------------------------------------------------------------------------------------------- driving

async def until(pilot: Any, cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if cond():
            await pilot.pause()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def loaded(pilot: Any) -> None:
    app: MdcApp = pilot.app
    await until(pilot, lambda: app.service is not None and not app.collecting
                and all(app.dashboard.pane(n).state != "loading"
                        for n in ("accounts", "plans", "arc", "recs", "compliance")),
                "the panes to load")
    # The top bar is redrawn only by the 1 s tick: it says "⟳ refreshing" for up to a second after the collect
    # worker ended. Redraw it now rather than race the timer.
    app._tick()
    await until(pilot, lambda: "refreshing" not in str(app.query_one("#topbar").render()), "the top bar")


def keys(*press: str, screen: type | None = None) -> Callable[[Any], Awaitable[None]]:
    """run_before: wait for the data, press keys, wait until `screen` is on top."""
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        for k in press:
            await pilot.press(k)
            await pilot.pause()
        if screen is not None:
            await until(pilot, lambda: isinstance(pilot.app.screen, screen), screen.__name__)

    return run_before


# ----------------------------------------------------------------------------------------------- the shots

def test_accounts(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("1"))


def test_plans(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("2"))


def test_onboarding(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("3"))


def test_recommendations_filtered(snap_compare) -> None:
    """`/ sev:high` replaces the default status:unhealthy filter: every High row, healthy or not."""
    assert snap_compare(make_app(), terminal_size=NARROW,
                        run_before=keys("4", "slash", *"sev:high", "enter"))


def test_compliance(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("5"))


def test_account_detail(snap_compare) -> None:
    """The management account: members present, excluded, StackSet, plans with prerequisites."""
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("1", "enter", screen=DetailScreen))


def test_stuck_instances(snap_compare) -> None:
    """aws-prod us-east-1: stuck for no SSM agent, not discovered yet, Arc disconnected."""
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("3", "down", "enter", screen=ListScreen))


def test_instance_detail(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW,
                        run_before=keys("3", "down", "enter", "enter", screen=DetailScreen))


def test_recommendation_detail(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("4", "enter", screen=DetailScreen))


def test_compliance_controls(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("5", "enter", screen=ListScreen))


def test_compliance_controls_wide(snap_compare) -> None:
    """160x48: the TITLE column takes the free width (whole control titles, not cut at ~40 characters)."""
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=keys("5", "enter", screen=ListScreen))


def test_control_failing_resources(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await keys("5", "enter", screen=ListScreen)(pilot)
        first = pilot.app.screen
        await pilot.press("enter")
        await until(pilot, lambda: pilot.app.screen is not first and isinstance(pilot.app.screen, ListScreen),
                    "the failing resources")

    assert snap_compare(make_app(), terminal_size=NARROW, run_before=run_before)


def test_help(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=keys("question_mark", screen=HelpScreen))


def test_stale_pane(snap_compare) -> None:
    """Compliance kept from 3 h ago after a throttled refresh: ▲ stale, its age and the error, data still shown."""
    assert snap_compare(make_app(snapshot(stale_compliance=True)), terminal_size=NARROW, run_before=keys("5"))


def test_error_pane(snap_compare) -> None:
    """Onboarding never read: ✖ error, the message and `r to retry`, no made-up rows."""
    assert snap_compare(make_app(snapshot(onboarding_error=True)), terminal_size=NARROW, run_before=keys("3"))


def test_dashboard_wide(snap_compare) -> None:
    """160x48: every pane at once."""
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=keys())
