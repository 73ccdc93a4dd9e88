"""Pure functions from a Snapshot to the views operators read: accounts, plans with prerequisites,
the EC2 -> SSM -> Arc funnel with a reason per stuck instance, recommendation and compliance summaries.

No I/O, no textual/rich. Every id comparison is case-insensitive (ARG lower-cases ids).

Facts this follows (../shared/reference/azure/NOTES.md section 11, and Microsoft's quickstart
MicrosoftDocs/defender-docs articles/defender-for-cloud/quickstart-onboard-aws.md, ms.date 2026-01-01):
- classic connectors were retired on 2023-09-15 and get no data since: they enable no plan, onboard nothing to Arc
  and are something to migrate; an account's plans come from its native connector(s) only;
- EC2 instances are discovered every hour whatever the connector's scan interval;
- Arc machines are joined to EC2 by the InstanceId tag, else by computer name (machines installed by hand carry no
  MDC tags); MDC removes Disconnected or Expired Arc machines after 7 days by itself;
- AWS findings without a connector id are attributed through resourceDetails.AzureResourceId -> the Arc machine ->
  its AccountId tag (Microsoft's workbooks do the same); what cannot be attributed is counted as unattributed.
"""
from __future__ import annotations

import re
import weakref
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any, Final, Iterable, Literal, Mapping, NamedTuple, TypedDict

from . import health as h
from . import model as m


@dataclass(frozen=True)
class Prerequisite:
    """One prerequisite of a plan and whether it holds."""

    name: str
    ok: bool | None  # None: the collected data cannot show it (the detail says how to check it)
    detail: str
    short: str = "prereq failed"  # a few words for a narrow cell when it fails ("pricing off", "no SSM agent")
    # False: no collected data can ever show it (network paths, Entra roles, quotas): listed with how to check it,
    # but it does not make the plan's overall readiness unknown for ever
    verifiable: bool = True


@dataclass(frozen=True)
class PlanView:
    """One plan of one account, as the plans pane shows it."""

    key: m.PlanKey
    enabled: bool
    sub_plan: str | None = None
    arc_auto_provisioning: bool | None = None
    mde: bool | None = None
    vulnerability_assessment: str | None = None
    agentless_scanning: bool | None = None
    prerequisites: tuple[Prerequisite, ...] = ()

    @property
    def prerequisites_ok(self) -> bool | None:
        if not self.prerequisites:
            return True
        if any(p.ok is False for p in self.prerequisites):
            return False
        if any(p.ok is None and p.verifiable for p in self.prerequisites):
            return None
        return True


# How a stuck instance's Arc machine was found (StuckInstance.matched_by, JSON `matched_by`).
MatchedBy = Literal["instance_id", "name"]
MATCH_INSTANCE_ID: Final = "instance_id"  # the InstanceId tag, or a machine named by the instance id (MDC's naming)
MATCH_NAME: Final = "name"  # the computer name against the EC2 private DNS name or Name tag (no MDC tags on it)


@dataclass(frozen=True)
class StuckInstance:
    """An EC2 instance not connected to Arc yet, with the reason."""

    account_id: str
    instance_id: str
    region: str | None
    reason: m.StuckReason
    # "not discovered yet": by when MDC's hourly EC2 discovery should have found it (ready since + 1 hour)
    discovery_due: datetime | None = None
    matched_by: MatchedBy | None = None  # how its Arc machine was found (MATCH_*); None without an Arc machine


# MDC discovers EC2 instances every hour whatever the connector's scan interval (the quickstart's table of
# collectors with fixed intervals: EC2Instance every 1 hour).
DISCOVERY_INTERVAL = timedelta(hours=1)


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    h, mi = divmod(minutes, 60)
    if h >= 48:
        return f"{h // 24} days"
    return f"{h} h {mi:02d} min" if h else f"{mi} min"


def due_short(due: datetime | None, now: datetime) -> str:
    """``in 3h10`` / ``late 12h`` / ``late 3d`` / ``""`` (at most 9 characters, for a narrow column)."""
    if due is None:
        return ""
    left = (due - now).total_seconds()
    h, mi = divmod(int(abs(left)) // 60, 60)
    if left >= 0:
        return f"in {h}h{mi:02d}" if h else f"in {mi}m"
    return f"late {h // 24}d" if h >= 48 else (f"late {h}h" if h else f"late {mi}m")


def due_text(due: datetime | None, now: datetime) -> str:
    """When the next discovery is due, in words, with what to do when it is late."""
    if due is None:
        return "next discovery: unknown (launch time and SSM registration not read)"
    when = due.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    left = (due - now).total_seconds()
    if left >= 0:
        return (f"next discovery due by {when} (in {_span(left)}): MDC looks for new EC2 instances every hour, "
                "nothing to do")
    return (f"discovery overdue since {when} ({_span(left)} ago): MDC looks for new EC2 instances every hour, so it "
            "should have found it; check the connector's health and that the instance's SSM agent is registered in "
            "this region")


def discovery_due(ec2: m.Ec2Instance, ssm: m.SsmInstance | None) -> datetime | None:
    """An instance becomes discoverable once it runs and its SSM agent has registered; MDC's EC2 discovery runs every
    hour (whatever the connector's scan interval), so it is found at the latest an hour after. None when unknown."""
    ready = [t for t in (ec2.launch_time, ssm.registered if ssm else None) if t is not None]
    if not ready:
        return None
    return max(ready) + DISCOVERY_INTERVAL


@dataclass(frozen=True)
class RegionFunnel:
    """EC2 found -> SSM online -> Arc connected, in one account and region."""

    account_id: str
    region: str
    ec2_total: int | None
    ssm_online: int | None
    arc_connected: int
    arc_matched_by_name: int = 0  # of arc_connected: machines found by computer name (no MDC tags)


@dataclass(frozen=True)
class Funnel:
    """One account's EC2 -> SSM -> Arc funnel, per region, with its stuck instances."""

    ec2_total: int | None
    ssm_online: int | None
    arc_connected: int
    stuck: tuple[StuckInstance, ...] = ()
    regions: tuple[RegionFunnel, ...] = ()
    aws_error: str | None = None
    arc_expected: bool = False  # a native connector's Servers plan with Arc auto-provisioning is on
    arc_matched_by_name: int = 0  # of arc_connected: machines found by computer name (no MDC tags)
    # region -> why it could not be read ("region not enabled (opt-in): ..." for an opt-in region)
    failed_regions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecSummary:
    """One account's recommendation counts (or those no account could be found for)."""

    total: int
    unhealthy: int
    unhealthy_by_severity: Mapping[str, int] = field(default_factory=dict)
    # a retired classic connector's legacy findings (machines long gone, attributed through the resource group it
    # onboarded into): stale since 2023-09-15, so kept apart from the live counts above
    classic_legacy_total: int = 0
    classic_legacy_unhealthy: int = 0


# A classic connector (Microsoft.Security/connectors): retired by Microsoft on 2023-09-15, no data streamed to it
# since. Shown as its health whatever state Azure still reports (that state is stale).
CLASSIC_RETIRED_ON = "2023-09-15"
CLASSIC_HEALTH = f"classic (retired, no data since {CLASSIC_RETIRED_ON}): migrate"
CLASSIC_MIGRATE = ("connect the account with a native connector (o, then 1: the native connector wizard; or "
                   "`mdc-aws onboard --flow native`), then delete the classic connector (o, then 3: remove classic "
                   "connectors; or `mdc-aws onboard --flow remove`)")


class ConnectorHealth(NamedTuple):
    """A connector's health as shown (a tuple: `health, detail = connector_health(c)` still reads it)."""

    health: str  # "ok", a provisioning state Azure reports, or CLASSIC_HEALTH
    detail: str | None


def connector_health(c: m.Connector) -> ConnectorHealth:
    """(health, detail) as shown: a classic connector reads CLASSIC_HEALTH with the way to a native connector,
    whatever provisioning state Azure still reports for it."""
    if c.kind != "classic":
        return ConnectorHealth(c.health, c.health_detail)
    stale = f" (Azure still reports {c.health}: stale, nothing is evaluated)" if c.health not in ("", "ok") else ""
    return ConnectorHealth(CLASSIC_HEALTH, f"{CLASSIC_MIGRATE}{stale}")


@dataclass(frozen=True)
class AccountView:
    """Everything the dashboard shows about one AWS account, joined from every section."""

    aws_account_id: str
    connectors: tuple[m.Connector, ...]
    duplicate_classic_native: bool
    plans: Mapping[m.PlanKey, PlanView]
    onboarding: Funnel | None
    recommendations: RecSummary | None
    name: str | None = None
    organization_role: m.OrganizationRole = "single"
    # tui.core.health: the account's state (worst of its connectors, their issues), each connector's Health (by
    # lower-case id), a management account's organization coverage, and what its plans count for billing
    health: h.Health = h.Health("healthy")
    connector_health: Mapping[str, h.Health] = field(default_factory=dict)  # a connector missing: not evaluated
    org_coverage: h.OrgCoverage | None = None
    cost: h.AccountCost | None = None
    # lower-case ids of the connectors whose health could not be evaluated (health_by_connector left them out):
    # their health is unknown, and `health` holds the others' only
    health_not_evaluated: tuple[str, ...] = ()
    # the Entra ID tenant of its connectors' subscription (its first native connector's, else its first's; else the
    # snapshot's) and that tenant's display name (Snapshot.tenants)
    tenant_id: str | None = None
    tenant_name: str | None = None

    @property
    def health_state(self) -> h.HealthState | None:
        """The account's health state, None when it is unknown: a connector was not evaluated and the others found
        no issue (with an issue, the worst state found stands: the unknown connector can only make it worse)."""
        if self.health_not_evaluated and not self.health.issues:
            return None
        return self.health.state

    @property
    def kinds(self) -> tuple[m.ConnectorKind, ...]:
        return tuple(sorted({c.kind for c in self.connectors}, key=lambda k: k != "native"))

    @property
    def classic_only(self) -> bool:
        """Connected by classic connectors only: retired, so nothing is protected or evaluated."""
        return self.kinds == ("classic",)


def _lower(s: str | None) -> str:
    return (s or "").lower()


def _enabled(raw: Mapping[str, Any] | None, key: str) -> bool | None:
    v = (raw or {}).get(key)
    if isinstance(v, Mapping):
        e = v.get("enabled")
        return bool(e) if e is not None else None
    return None


# ----------------------------------------------------------------------------------------------- connectors

def connectors_by_account(connectors: Iterable[m.Connector]) -> dict[str, list[m.Connector]]:
    out: dict[str, list[m.Connector]] = defaultdict(list)
    for c in connectors:
        if c.aws_account_id:
            out[c.aws_account_id].append(c)
    return dict(out)


def duplicates(connectors: Iterable[m.Connector]) -> set[str]:
    """AWS accounts connected by both a classic and a native connector (duplicate recommendations)."""
    kinds: dict[str, set[m.ConnectorKind]] = defaultdict(set)
    for c in connectors:
        if c.aws_account_id:
            kinds[c.aws_account_id].add(c.kind)
    return {a for a, k in kinds.items() if {"classic", "native"} <= k}


class OrgRollup(TypedDict):
    """A management account's organization, as org_rollup gives it (a plain dict: the JSON export writes it)."""

    members_present: list[str]  # member accounts whose connectors name it as parent
    excluded: list[str]  # account ids its connector excludes
    stackset_name: str | None


def org_rollup(connectors: Iterable[m.Connector]) -> dict[str, OrgRollup]:
    """Management account -> members it expects (excluded ones left out), present as connectors, and missing.

    MDC's organization connector onboards members through a StackSet; a member shows up as its own connector
    with parentHierarchyId. Expected members are those whose connectors name this account as parent, plus any
    excluded account ids listed on the management connector (shown as excluded, not missing).
    """
    conns = list(connectors)
    out: dict[str, OrgRollup] = {}
    for c in conns:
        if c.organization_role == "management" and c.aws_account_id:
            members = sorted({x.aws_account_id for x in conns
                              if x.organization_role == "member" and x.parent_account_id == c.aws_account_id
                              and x.aws_account_id})
            out[c.aws_account_id] = {
                "members_present": members,
                "excluded": sorted(c.excluded_account_ids),
                "stackset_name": c.stackset_name,
            }
    return out


# ----------------------------------------------------------------------------------------------- plans

def pricing_index(pricings: Iterable[m.Pricing]) -> dict[tuple[str, str], m.Pricing]:
    return {(_lower(p.subscription_id), p.name.lower()): p for p in pricings}


# Plan prerequisites as Microsoft's quickstart states them ("Native connector plan requirements" of
# MicrosoftDocs/defender-docs articles/defender-for-cloud/quickstart-onboard-aws.md, ms.date 2026-01-01; the seed
# copy in ../shared/seed is older and lists only Containers and Servers). Each is checked against what the snapshot
# holds (pricings, the connector's offering, EC2/SSM inventory, Arc machines, recommendations); one the data cannot
# show is ok=None with a detail that says how to check it, never a made-up True.
# Open-source relational databases (the Databases plan's `rds`): every public AWS region except these (same page).
OSS_DB_UNAVAILABLE_REGIONS: dict[str, str] = {
    "il-central-1": "Tel Aviv", "eu-south-1": "Milan", "ap-southeast-3": "Jakarta", "eu-south-2": "Spain",
    "me-south-1": "Bahrain",
}


@dataclass(frozen=True)
class PlanContext:
    """What the snapshot knows about one account beyond its connectors, for the plan prerequisites."""

    inventory: m.AwsAccountInventory | None = None  # its EC2 and SSM (None: onboarding section missing)
    arc: Mapping[str, m.ArcMachine] | None = None  # instance id (lower) -> Arc machine (arc_index)
    recommendations: RecSummary | None = None  # None: recommendations section missing

    def ec2(self) -> tuple[m.Ec2Instance, ...] | None:
        inv = self.inventory
        return inv.instances if inv is not None and inv.readable else None

    def without_ssm(self) -> list[m.Ec2Instance] | None:
        inv = self.inventory
        if inv is None or not inv.readable:
            return None
        known = {_lower(s.instance_id) for s in inv.ssm}
        return [i for i in inv.instances if _lower(i.instance_id) not in known]

    def without_arc(self) -> list[m.Ec2Instance] | None:
        ec2 = self.ec2()
        if ec2 is None or self.arc is None:
            return None
        arc = self.arc
        return [i for i in ec2 if not _connected(arc.get(_lower(i.instance_id)))]

    def aws_unknown(self) -> str:
        inv = self.inventory
        if inv is None:
            return "the AWS side of the account was not read"
        return f"the AWS side of the account could not be read ({inv.error})" if inv.error else \
            "the AWS side of the account could not be read"


def plan_views(conns: list[m.Connector], pricings: Mapping[tuple[str, str], m.Pricing] | None,
               pricing_errors: Mapping[str, str] | None = None,
               ctx: PlanContext | None = None) -> dict[m.PlanKey, PlanView]:
    """Plans of one AWS account: the union of its native connectors' offerings. A classic connector (retired on
    2023-09-15, no data since) enables nothing, whatever its stale settings say."""
    ctx = ctx or PlanContext()
    views: dict[m.PlanKey, PlanView] = {}
    natives = [c for c in conns if c.kind == "native"]
    for key, otype in m.PLAN_OFFERINGS.items():
        conn, off = next(((c, c.offering(otype)) for c in natives if c.offering(otype)), (None, None))
        if off is None or conn is None:
            views[key] = PlanView(key, False)
            continue
        raw = off.raw or {}
        if key == "servers":
            sub = raw.get("subPlan")
            sub_plan = sub.get("type") if isinstance(sub, Mapping) else (sub if isinstance(sub, str) else None)
            va = raw.get("vaAutoProvisioning")
            va_type = None
            if isinstance(va, Mapping) and va.get("enabled"):
                va_type = (va.get("configuration") or {}).get("type") or "enabled"
            views[key] = PlanView(
                key, True, sub_plan=sub_plan,
                arc_auto_provisioning=bool(_enabled(raw, "arcAutoProvisioning")),
                mde=_enabled(raw, "mdeAutoProvisioning"),
                vulnerability_assessment=va_type,
                agentless_scanning=_enabled(raw, "vmScanners"),
                prerequisites=_servers_prerequisites(conn, raw, pricings, pricing_errors, ctx),
            )
        elif key == "defender_cspm":
            views[key] = PlanView(key, True, agentless_scanning=_enabled(raw, "vmScanners"),
                                  prerequisites=_dcspm_prerequisites(conn, raw, ctx))
        elif key == "databases":
            views[key] = PlanView(key, True, arc_auto_provisioning=_enabled(raw, "arcAutoProvisioning"),
                                  prerequisites=_databases_prerequisites(conn, raw, pricings, pricing_errors, ctx))
        elif key == "containers":
            views[key] = PlanView(key, True, prerequisites=_containers_prerequisites(conn))
        else:
            views[key] = PlanView(key, True, prerequisites=(_aws_access(conn, ctx),))
    return views


def _pricing(conn: m.Connector, pricings: Mapping[tuple[str, str], m.Pricing] | None,
             errors: Mapping[str, str] | None, pricing: str, title: str) -> Prerequisite:
    """`title` (a subscription-level Defender plan, pricings/<pricing>) is Standard on the connector's subscription."""
    name = f"{title} on the subscription"
    sub = conn.subscription_id
    if pricings is None:
        return Prerequisite(name, None, "pricings not loaded yet")
    p = pricings.get((_lower(sub), pricing.lower()))
    if p is None:
        err = (errors or {}).get(sub) or (errors or {}).get(_lower(sub))
        return Prerequisite(name, None, f"pricing of subscription {sub} unknown" + (f": {err}" if err else ""))
    if p.tier.lower() != "standard":
        return Prerequisite(name, False,
                            f"subscription {sub} has {title} off ({p.tier}): "
                            "enable it in Environment settings > subscription > Defender plans", "pricing off")
    return Prerequisite(name, True, f"subscription {sub}: Standard{(' ' + p.sub_plan) if p.sub_plan else ''}")


def _servers_pricing(conn: m.Connector | None, pricings: Mapping[tuple[str, str], m.Pricing] | None,
                     errors: Mapping[str, str] | None) -> Prerequisite:
    if conn is None:
        return Prerequisite("Defender for Servers on the subscription", None, "no connector")
    return _pricing(conn, pricings, errors, "VirtualMachines", "Defender for Servers")


def _ec2_present(ctx: PlanContext, *, or_rds: bool = False) -> Prerequisite:
    name = "an active AWS account with EC2 instances" + (" or RDS Custom for SQL Server" if or_rds else "")
    ec2 = ctx.ec2()
    if ec2 is None:
        return Prerequisite(name, None, ctx.aws_unknown())
    if ec2:
        return Prerequisite(name, True, f"{len(ec2)} EC2 instance(s) in the scanned regions")
    if or_rds:  # mdc-aws does not read RDS: no EC2 instance does not mean nothing to protect
        return Prerequisite(name, None, "no EC2 instance in the scanned regions; RDS Custom for SQL Server is not "
                                        "read here: check with `aws rds describe-db-instances` in the account",
                            verifiable=False)
    return Prerequisite(name, False, "no EC2 instance in the scanned regions: the plan has nothing to protect",
                        "no EC2")


def _ssm_agents(ctx: PlanContext, *, sql_only: bool = False) -> Prerequisite:
    name = "AWS SSM Agent with the AmazonSSMManagedInstanceCore policy"
    missing = ctx.without_ssm()
    ec2 = ctx.ec2()
    if missing is None or ec2 is None:
        return Prerequisite(name, None, ctx.aws_unknown())
    if not ec2:
        return Prerequisite(name, None, "no EC2 instance to check")
    if not missing:
        return Prerequisite(name, True, f"all {len(ec2)} EC2 instance(s) report to SSM")
    what = f"{len(missing)} of {len(ec2)} EC2 instance(s) have no SSM agent reporting ({_some(missing)})"
    if sql_only:  # which instances run SQL Server is not in the data: only those need it for this plan
        return Prerequisite(name, None, f"{what}; the SQL Server ones need it: {_WHICH_SQL}", verifiable=False)
    return Prerequisite(name, False, f"{what}: install the agent and attach an instance profile with "
                                     "AmazonSSMManagedInstanceCore (Onboarding pane: no SSM agent)", "no SSM agent")


_WHICH_SQL = ("which instances run SQL Server is not in the collected data: check their installed software (e.g. AWS "
              "Systems Manager Inventory)")


def _some(instances: list[m.Ec2Instance], n: int = 3) -> str:
    ids = [i.instance_id for i in instances[:n]]
    return ", ".join(ids) + (" …" if len(instances) > n else "")


def _arc_installed(ctx: PlanContext, auto: bool | None, *, sql_only: bool = False) -> Prerequisite:
    name = "Azure Arc on the EC2 instances (auto-provisioning recommended; it needs Owner on the subscription)"
    if auto:
        return Prerequisite(name, True, "Arc auto-provisioning is on (each instance's state: Onboarding pane)")
    missing = ctx.without_arc()
    ec2 = ctx.ec2()
    if missing is None or ec2 is None:
        return Prerequisite(name, None, f"Arc auto-provisioning is off and {ctx.aws_unknown()}")
    if not missing:
        return Prerequisite(name, True, f"Arc auto-provisioning is off; all {len(ec2)} EC2 instance(s) have a "
                                        "connected Arc machine")
    what = (f"Arc auto-provisioning is off and {len(missing)} of {len(ec2)} EC2 instance(s) have no connected Arc "
            f"machine ({_some(missing)})")
    if sql_only:
        return Prerequisite(name, None, f"{what}; the SQL Server ones need it (turn auto-provisioning on in the "
                                        f"Databases plan settings, or install the Arc agent on them): {_WHICH_SQL}",
                            verifiable=False)
    return Prerequisite(name, False, f"{what}: turn it on in the Servers plan settings (needs Owner) or install "
                                     "the Arc agent on them", "Arc off")


def _arc_network() -> Prerequisite:
    return Prerequisite("network requirements for Azure Arc", None,
                        "not in the collected data: run `azcmagent check` on an instance (instances stuck in "
                        "'Arc disconnected' point at it)", verifiable=False)


def _servers_prerequisites(conn: m.Connector, raw: Mapping[str, Any],
                           pricings: Mapping[tuple[str, str], m.Pricing] | None, errors: Mapping[str, str] | None,
                           ctx: PlanContext) -> tuple[Prerequisite, ...]:
    mde, va = _enabled(raw, "mdeAutoProvisioning"), _enabled(raw, "vaAutoProvisioning")
    ext = "Defender for Endpoint and a vulnerability assessment (TVM or Qualys) on the Arc machines"
    if mde is None and va is None:
        extensions = Prerequisite(ext, None, "not in the connector's Servers offering: check Environment settings > "
                                             "account > Servers > Settings")
    elif mde and va:
        extensions = Prerequisite(ext, True, "Defender for Endpoint and vulnerability assessment provisioning on")
    elif mde is None or va is None:  # one setting missing from the offering is unknown, not off
        if mde is False or va is False:
            off_one = "Defender for Endpoint" if mde is False else "vulnerability assessment"
            extensions = Prerequisite(ext, False, f"{off_one} provisioning off: turn it on in Environment settings > "
                                                  "account > Servers > Settings", "MDE/VA off")
        else:
            missing = "Defender for Endpoint" if mde is None else "vulnerability assessment"
            extensions = Prerequisite(ext, None, f"{missing} is not in the connector's Servers offering: check "
                                                 "Environment settings > account > Servers > Settings")
    else:
        off = [x for x, on in (("Defender for Endpoint", mde), ("vulnerability assessment", va)) if not on]
        extensions = Prerequisite(ext, False, f"{' and '.join(off)} provisioning off: turn it on in Environment "
                                              "settings > account > Servers > Settings", "MDE/VA off")
    return (
        _servers_pricing(conn, pricings, errors),
        _ec2_present(ctx),
        _arc_installed(ctx, bool(_enabled(raw, "arcAutoProvisioning"))),
        _arc_network(),
        _ssm_agents(ctx),
        extensions,
    )


def _databases_prerequisites(conn: m.Connector, raw: Mapping[str, Any],
                             pricings: Mapping[tuple[str, str], m.Pricing] | None, errors: Mapping[str, str] | None,
                             ctx: PlanContext) -> tuple[Prerequisite, ...]:
    # "Microsoft Defender for SQL enabled on your subscription": the Azure plan for SQL Server on machines (Arc
    # machines included) is pricings/SqlServerVirtualMachines.
    out = [
        _pricing(conn, pricings, errors, "SqlServerVirtualMachines", "Defender for SQL servers on machines"),
        _ec2_present(ctx, or_rds=True),
        _arc_installed(ctx, bool(_enabled(raw, "arcAutoProvisioning")), sql_only=True),
        _ssm_agents(ctx, sql_only=True),
        Prerequisite("Defender for Endpoint, a vulnerability assessment and the Defender for SQL extension on the "
                     "Arc machines", None,
                     "not in the collected data: list them with `az connectedmachine extension list "
                     "--machine-name <machine> -g <resource group>`", verifiable=False),
    ]
    rds = _enabled(raw, "rds")
    if rds:
        name = "open-source databases: an AWS region where the plan is available"
        wanted = tuple(conn.regions)
        bad = [r for r in wanted if r in OSS_DB_UNAVAILABLE_REGIONS]
        unavailable = ", ".join(f"{r} ({n})" for r, n in OSS_DB_UNAVAILABLE_REGIONS.items())
        if not wanted:
            out.append(Prerequisite(name, True, f"every region is scanned; not available in {unavailable}"))
        elif len(bad) == len(wanted):
            out.append(Prerequisite(name, False, f"every scanned region ({', '.join(bad)}) is one where open-source "
                                                 "database protection is not available", "region n/a"))
        elif bad:
            out.append(Prerequisite(name, True, f"not available in {', '.join(bad)}: RDS databases there are not "
                                                "protected"))
        else:
            out.append(Prerequisite(name, True, f"available in every scanned region ({', '.join(wanted)})"))
    return tuple(out)


def _aws_access(conn: m.Connector, ctx: PlanContext, name: str = "access to the AWS account (the CloudFormation "
                                                                   "stack's CspmMonitorAws role)") -> Prerequisite:
    r = ctx.recommendations
    if r is not None and r.total > 0:
        return Prerequisite(name, True, f"{r.total} assessment(s) of this account: Defender for Cloud reads it")
    return Prerequisite(name, None,
                        ("no assessment of this account yet" if r is not None else "recommendations not loaded")
                        + f": check the stack and its roles with `mdc-aws doctor --account {conn.aws_account_id}` "
                          "(an account younger than 12 hours or with no standard assigned shows none either)")


def _dcspm_prerequisites(conn: m.Connector, raw: Mapping[str, Any], ctx: PlanContext) -> tuple[Prerequisite, ...]:
    out = [
        Prerequisite("Owner on the subscription", None,
                     f"not in the collected data: check your role on subscription {conn.subscription_id} "
                     f"(`mdc-aws doctor --account {conn.aws_account_id}` reads it)", verifiable=False),
        _aws_access(conn, ctx, "AWS IAM permissions to assume the monitoring role"),
    ]
    if isinstance(raw.get("ciem"), Mapping):
        out.append(Prerequisite("Application Administrator or Cloud Application Administrator in Entra ID (CIEM)",
                                None, "not in the collected data: check your roles in Entra ID > Roles and "
                                      "administrators", verifiable=False))
    return tuple(out)


def _containers_prerequisites(conn: m.Connector) -> tuple[Prerequisite, ...]:
    regions = " ".join(conn.regions) or "<region>"
    return (
        Prerequisite("at least one Amazon EKS cluster with access to its Kubernetes API server", None,
                     f"not in the collected data: `aws eks list-clusters --region <r>` in account "
                     f"{conn.aws_account_id} for each of {regions} (the wizard's Select plans step checks it)",
                     verifiable=False),
        Prerequisite("capacity to create an SQS queue, a Kinesis Data Firehose stream and an S3 bucket in the "
                     "cluster's region", None,
                     "not in the collected data: check the account's service quotas and SCPs for SQS, Firehose "
                     "and S3 in the clusters' regions", verifiable=False),
    )


# ----------------------------------------------------------------------------------------------- onboarding

# What to do about each reason an instance is stuck (shown on the instance's detail screen).
STUCK_FIX: dict[m.StuckReason, str] = {
    m.REASON_NO_SSM: "install the SSM agent (or use an AMI that has it) and attach an instance profile with "
                     "AmazonSSMManagedInstanceCore; MDC needs SSM to install the Arc agent",
    m.REASON_SSM_LOST: "the instance is stopped or cannot reach the SSM endpoints: start it, or open outbound 443 / "
                       "add VPC endpoints for ssm, ssmmessages and ec2messages",
    m.REASON_NOT_DISCOVERED: "nothing to do yet: MDC discovers new EC2 instances every hour (whatever the "
                             "connector's scan interval) once the SSM agent has registered",
    m.REASON_ARC_DISCONNECTED: "run `azcmagent show` on the machine and check outbound access to the Azure Arc "
                               "endpoints (or the connector's proxy); MDC removes an Arc machine that stays "
                               "Disconnected for 7 days by itself and onboards the instance again",
    m.REASON_ARC_EXPIRED: "nothing to delete: MDC removes Expired (and Disconnected) Arc machines after 7 days by "
                          "itself, then onboards the instance again while it runs with a working SSM agent; if it "
                          "stays, check the SSM agent and outbound access to the Azure Arc endpoints",
    m.REASON_ARC_ERROR: "see the Arc machine's errorDetails; reinstall the agent through SSM if it persists",
    m.REASON_ARC_OTHER: "check the Arc machine's status and errorDetails in the portal",
}

_ARC_REASONS: dict[str, m.StuckReason] = {  # an Arc machine's status (lower-case) -> why its instance is stuck
    "disconnected": m.REASON_ARC_DISCONNECTED,
    "expired": m.REASON_ARC_EXPIRED,
    "error": m.REASON_ARC_ERROR,
}

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]+$", re.I)  # an EC2 instance id (how MDC names the Arc machines it makes)
_ARC_MULTICLOUD_RG = re.compile(r"^aws_(\d{12})$", re.I)  # the Arc multicloud connector's resource group


class ArcIndex(dict[str, m.ArcMachine]):
    """Instance id (lower-case) -> its Arc machine, plus how each was found and each machine's account.

    matched_by: instance id (lower) -> MATCH_INSTANCE_ID | MATCH_NAME.
    account_of: Arc machine id (lower) -> AWS account: its AccountId tag, else the account of the EC2 instance it
    was matched to by name (for every machine, matched or not, that either names)."""

    def __init__(self) -> None:
        super().__init__()
        self.matched_by: dict[str, MatchedBy] = {}
        self.account_of: dict[str, str] = {}

    def account(self, machine: m.ArcMachine) -> str | None:
        return self.account_of.get(_lower(machine.id)) or machine.aws_account_id


def _first_label(host: str | None) -> str:
    return _lower(host).split(".", 1)[0].strip()


def _connected(a: m.ArcMachine | None) -> bool:
    return a is not None and _lower(a.status) == "connected"


def arc_index(machines: Iterable[m.ArcMachine],
              inventories: Mapping[str, m.AwsAccountInventory] | None = None) -> ArcIndex:
    """Instance id (lower-case) -> Arc machine.

    First by the InstanceId tag (or a machine named by the instance id, as MDC names them). Then, with the EC2
    inventories, a machine without that tag (installed by hand or by the Arc multicloud connector) by its computer
    name (osProfile.computerName, the machine's name, the first label of machineFqdn) against each instance's
    private DNS name (first label) and Name tag, case-insensitively, within the machine's account where it is known
    (AccountId tag, or the Arc multicloud connector's aws_<account> resource group). A name that fits instances of
    two accounts (private IPs repeat across VPCs) matches nothing rather than a guess. A connected machine wins
    over one that is not; otherwise the InstanceId match wins."""
    out = ArcIndex()
    pending: list[m.ArcMachine] = []
    for a in machines:
        if a.aws_account_id:
            out.account_of[_lower(a.id)] = a.aws_account_id
        by_id = a.tagged or bool(_INSTANCE_ID.match(a.name or ""))
        key = _lower(a.instance_id or a.name) if by_id else ""
        if not key:
            pending.append(a)
            continue
        prev = out.get(key)
        if prev is None or _connected(a):
            out[key] = a
            out.matched_by[key] = MATCH_INSTANCE_ID
        if not a.tagged:
            pending.append(a)  # named like an instance id: its computer name may still find it
    if not inventories or not pending:
        return out
    instances = {_lower(i.instance_id): i for inv in inventories.values() for i in inv.instances}
    by_label: dict[str, list[m.Ec2Instance]] = defaultdict(list)
    for i in instances.values():
        for label in {_first_label(i.private_dns_name), _lower(i.name).strip()} - {""}:
            by_label[label].append(i)
    for a in pending:
        named = instances.get(_lower(a.instance_id or a.name))
        if named is not None:  # matched by its instance id above: no tag names its account, the instance does
            out.account_of.setdefault(_lower(a.id), named.account_id)
            continue
        names = {_lower(a.computer_name).strip(), _lower(a.name).strip(), _first_label(a.fqdn)} - {""}
        rg = _ARC_MULTICLOUD_RG.match(a.resource_group or "")
        hint = a.aws_account_id or (rg.group(1) if rg else None)
        found = {_lower(i.instance_id): i for n in names for i in by_label.get(n, ())
                 if hint is None or i.account_id == hint}
        if len(found) != 1:
            continue
        key, inst = next(iter(found.items()))
        out.account_of.setdefault(_lower(a.id), inst.account_id)  # its findings belong there, shown or not
        prev = out.get(key)
        if prev is not None and not (_connected(a) and not _connected(prev)):
            continue  # the machine found first (by id, or by name) stays unless only this one is connected
        out[key] = a
        out.matched_by[key] = MATCH_NAME
    return out


def funnel(account_id: str, inv: m.AwsAccountInventory | None, arc: Mapping[str, m.ArcMachine],
           arc_expected: bool) -> Funnel:
    """EC2 found -> SSM agent online -> Arc connected, for one account, with the reason per stuck instance.
    `arc` is arc_index(...) (a plain instance id -> machine mapping works too: every match then counts as by id)."""
    matched_by: Mapping[str, MatchedBy] = getattr(arc, "matched_by", {})
    account_of: Mapping[str, str] = getattr(arc, "account_of", {})
    machines = list({id(a): a for a in arc.values()
                     if _lower(account_of.get(_lower(a.id)) or a.aws_account_id) == _lower(account_id)}.values())
    arc_connected = sum(1 for a in machines if _connected(a))
    by_name_ids = {id(arc[k]) for k, how in matched_by.items() if how == MATCH_NAME and k in arc}
    arc_by_name = sum(1 for a in machines if _connected(a) and id(a) in by_name_ids)
    if inv is None or not inv.readable:
        # AWS side unknown: counts are null, stuck only from what Azure shows.
        stuck = tuple(
            StuckInstance(account_id, a.instance_id or a.name, None,
                          _ARC_REASONS.get(_lower(a.status), m.REASON_ARC_OTHER),
                          matched_by=MATCH_NAME if id(a) in by_name_ids else MATCH_INSTANCE_ID)
            for a in sorted(machines, key=lambda a: a.name) if arc_expected and not _connected(a))
        return Funnel(None, None, arc_connected, stuck, aws_error=inv.error if inv else "AWS side not read",
                      arc_expected=arc_expected, arc_matched_by_name=arc_by_name,
                      failed_regions=dict(inv.failed_regions) if inv else {})
    ssm = {_lower(s.instance_id): s for s in inv.ssm}
    per_region: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    stuck_l: list[StuckInstance] = []
    ssm_online = 0
    for i in inv.instances:
        iid = _lower(i.instance_id)
        r = per_region[i.region]
        r[0] += 1
        s = ssm.get(iid)
        online = s is not None and s.ping_status == "Online"
        if online:
            ssm_online += 1
            r[1] += 1
        a = arc.get(iid)
        how: MatchedBy | None = (matched_by.get(iid) or MATCH_INSTANCE_ID) if a is not None else None
        if _connected(a):
            r[2] += 1
            r[3] += how == MATCH_NAME
            continue
        if not arc_expected:
            continue
        reason: m.StuckReason
        if a is not None:
            reason = _ARC_REASONS.get(_lower(a.status), m.REASON_ARC_OTHER)
        elif s is None:
            # SSM lists no stopped instance (DescribeInstanceInformation leaves Stopped and Terminated nodes out):
            # its agent cannot report while it is stopped, which is not the same as having none
            reason = m.REASON_SSM_LOST if i.stopped else m.REASON_NO_SSM
        elif not online:
            reason = m.REASON_SSM_LOST
        else:
            reason = m.REASON_NOT_DISCOVERED
        due = discovery_due(i, s) if reason == m.REASON_NOT_DISCOVERED else None
        stuck_l.append(StuckInstance(account_id, i.instance_id, i.region, reason, due, how))
    regions = tuple(RegionFunnel(account_id, reg, v[0], v[1], v[2], v[3]) for reg, v in sorted(per_region.items()))
    err = None
    if inv.failed_regions:
        err = "; ".join(f"{r}: {e}" for r, e in sorted(inv.failed_regions.items()))
    return Funnel(len(inv.instances), ssm_online, arc_connected, tuple(stuck_l), regions, aws_error=err,
                  arc_expected=arc_expected, arc_matched_by_name=arc_by_name, failed_regions=dict(inv.failed_regions))


# ----------------------------------------------------------------------------------------------- recommendations

def _zero() -> dict[str, int]:
    return {k: 0 for k in m.SEVERITIES}


def classic_groups(connectors: Iterable[m.Connector]) -> dict[str, str]:
    """'/subscriptions/{sub}/resourcegroups/{rg}' (lower-case) -> AWS account, for each resource group exactly one
    classic connector onboarded its EC2 machines into (hybridComputeSettings.resourceGroupName). A retired classic
    connector's legacy findings name machines in that group that are long gone: the group still names the account.
    A group two classic connectors share names no account."""
    owners: dict[str, set[str]] = defaultdict(set)
    for c in connectors:
        if c.kind != "classic" or not c.aws_account_id:
            continue
        hcs = (c.raw.get("properties") or {}).get("hybridComputeSettings") or {}
        rg = hcs.get("resourceGroupName") if isinstance(hcs, Mapping) else None
        if isinstance(rg, str) and rg:
            owners[f"/subscriptions/{_lower(c.subscription_id)}/resourcegroups/{rg.lower()}"].add(c.aws_account_id)
    return {g: next(iter(a)) for g, a in owners.items() if len(a) == 1}


def _resource_group_path(arm_id: str) -> str:
    return _lower(arm_id).split("/providers/", 1)[0]


def row_account(connector_id: str | None, arc_account_id: str | None, azure_resource_id: str | None,
                by_conn: Mapping[str, str | None], arc: ArcIndex | None,
                classic: Mapping[str, str] | None = None) -> str | None:
    """The AWS account of an AWS assessment row (or count): its connector's hierarchyIdentifier; else, for a row
    without a connector, the AccountId tag of the Arc machine its AzureResourceId names (read by ARG) or, for an
    untagged machine matched to an EC2 instance by name, that instance's account; else (the machine is gone: a
    classic connector's legacy row) the classic connector that onboarded into its resource group (`classic`, from
    classic_groups). None: unattributed."""
    if connector_id:
        return by_conn.get(_lower(connector_id))
    if arc_account_id:
        return arc_account_id
    if azure_resource_id:
        acct = arc.account_of.get(_lower(azure_resource_id)) if arc is not None else None
        if acct is None and classic:
            acct = classic.get(_resource_group_path(azure_resource_id))
        return acct
    return None


class RecAttribution(NamedTuple):
    """rec_attribution's answer (a tuple: `by_account, unattributed = rec_attribution(...)` still reads it)."""

    by_account: dict[str, RecSummary]  # AWS account -> its recommendation counts
    unattributed: RecSummary  # the counts no shown account could be found for


def rec_attribution(counts: Iterable[m.RecommendationCount], conns: Iterable[m.Connector],
                    arc: ArcIndex | None = None) -> RecAttribution:
    """(account -> its recommendation counts, the counts no shown account could be found for). A row is
    unattributed when it names no connector and no Arc machine with a known account, or names an account (or a
    connector) that no connector in scope connects: never silently dropped. A retired classic connector's legacy
    rows go to its account's `classic_legacy_*` counts, apart from the live ones."""
    conns = list(conns)
    by_conn = {_lower(c.id): c.aws_account_id for c in conns if c.aws_account_id}
    known = {c.aws_account_id for c in conns if c.aws_account_id}
    classic = classic_groups(conns)
    acc: dict[str, list[int]] = {}
    sev: dict[str, dict[str, int]] = {}
    none = [0, 0]
    none_sev = _zero()
    legacy: dict[str, list[int]] = {}
    for rc in counts:
        account = row_account(rc.connector_id, rc.arc_account_id, rc.azure_resource_id, by_conn, arc)
        if account is None and classic and rc.azure_resource_id:
            old = classic.get(_resource_group_path(rc.azure_resource_id))
            if old in known:  # stale: counted apart, never as the account's live findings
                lt = legacy.setdefault(old, [0, 0])
                lt[0] += rc.count
                lt[1] += rc.count if _lower(rc.status) == "unhealthy" else 0
                continue
        if account not in known:
            t, s = none, none_sev
        else:
            t, s = acc.setdefault(account, [0, 0]), sev.setdefault(account, _zero())
        t[0] += rc.count
        if _lower(rc.status) == "unhealthy":
            t[1] += rc.count
            key = next((k for k in m.SEVERITIES if k.lower() == _lower(rc.severity)), None)
            if key:
                s[key] += rc.count
    out = {a: RecSummary(t[0], t[1], sev.get(a, _zero())) for a, t in acc.items()}
    for a, (legacy_total, legacy_unhealthy) in legacy.items():
        base = out.get(a, RecSummary(0, 0, _zero()))
        out[a] = dc_replace(base, classic_legacy_total=legacy_total, classic_legacy_unhealthy=legacy_unhealthy)
    return RecAttribution(out, RecSummary(none[0], none[1], none_sev))


def rec_summaries(counts: Iterable[m.RecommendationCount], conns: Iterable[m.Connector],
                  arc: ArcIndex | None = None) -> dict[str, RecSummary]:
    """Account -> its recommendation counts (rec_attribution without the unattributed ones)."""
    return rec_attribution(counts, conns, arc).by_account


_arc_cache: tuple[Any, ArcIndex] | None = None  # (weak reference to a snapshot, its ArcIndex)


def snapshot_arc_index(snap: m.Snapshot | None) -> ArcIndex:
    """arc_index of a snapshot's Arc machines and EC2 inventories (matching by name needs both). The last one is
    kept: the recommendation rows of one snapshot are attributed page by page."""
    global _arc_cache
    if snap is None:
        return ArcIndex()
    hit = _arc_cache
    if hit is not None and hit[0]() is snap:
        return hit[1]
    od: m.OnboardingData | None = snap.data("onboarding")
    idx = arc_index(od.arc_machines, od.aws) if od is not None else ArcIndex()
    _arc_cache = (weakref.ref(snap), idx)
    return idx


def recommendations_unattributed(snap: m.Snapshot) -> RecSummary | None:
    """The AWS recommendation counts no shown account could be found for (None: not known, e.g. the
    recommendations section failed)."""
    cd: m.ConnectorsData | None = snap.data("connectors")
    rd: m.RecommendationsData | None = snap.data("recommendations")
    if cd is None or rd is None:
        return None
    return rec_attribution(rd.counts, cd.connectors, snapshot_arc_index(snap)).unattributed


# ----------------------------------------------------------------------------------------------- accounts

def account_views(snap: m.Snapshot) -> list[AccountView]:
    cd: m.ConnectorsData | None = snap.data("connectors")
    if cd is None:
        return []
    pd: m.PlansData | None = snap.data("plans")
    od: m.OnboardingData | None = snap.data("onboarding")
    rd: m.RecommendationsData | None = snap.data("recommendations")
    pidx = pricing_index(pd.pricings) if pd is not None else None
    perr = pd.pricing_errors if pd is not None else None
    arc = snapshot_arc_index(snap)
    recs = rec_summaries(rd.counts, cd.connectors, arc) if rd is not None else None
    dups = duplicates(cd.connectors)
    healths = h.health_by_connector(snap)
    views: list[AccountView] = []
    for account, conns in sorted(connectors_by_account(cd.connectors).items()):
        conns = sorted(conns, key=lambda c: (c.kind != "native", c.name))
        rec = (recs.get(account, RecSummary(0, 0, _zero())) if recs is not None else None)
        ctx = PlanContext(inventory=od.aws.get(account) if od is not None else None,
                          arc=arc if od is not None else None, recommendations=rec)
        plans = plan_views(conns, pidx, perr, ctx)
        sv = plans["servers"]
        # plans come from native connectors only, so a classic-only account expects no Arc machine
        arc_expected = bool(sv.enabled and sv.arc_auto_provisioning)
        onboarding = funnel(account, od.aws.get(account), arc, arc_expected) if od is not None else None
        role: m.OrganizationRole = next((c.organization_role for c in conns if c.kind == "native"), "single")
        name = None
        for c in conns:
            env = (c.raw.get("properties") or {}).get("environmentData") or {}
            name = env.get("accountName") or name
        # a connector health_by_connector left out could not be evaluated: unknown, never taken as healthy
        by_conn = {c.id.lower(): healths[c.id.lower()] for c in conns if c.id.lower() in healths}
        unknown = [c for c in conns if c.id.lower() not in healths]
        mgmt = next((c for c in conns if c.kind == "native" and c.organization_role == "management"), None)
        tenant = next((c.tenant_id for c in conns if c.tenant_id), None) or snap.tenant_id
        views.append(AccountView(
            aws_account_id=account, connectors=tuple(conns), duplicate_classic_native=account in dups,
            plans=plans, onboarding=onboarding, recommendations=rec,
            name=name or conns[0].name, organization_role=role,
            health=h.account_health(list(by_conn.values()), [c.name for c in unknown]), connector_health=by_conn,
            health_not_evaluated=tuple(c.id.lower() for c in unknown),
            org_coverage=h.org_coverage(mgmt, snap) if mgmt is not None else None,
            cost=h.account_cost(account, conns, snap),
            tenant_id=tenant, tenant_name=tenant_name(snap, tenant)))
    return views


def tenant_name(snap: m.Snapshot, tenant_id: str | None) -> str | None:
    """A tenant's display name (Snapshot.tenants), else its id's first 8 characters; None for no tenant."""
    if not tenant_id:
        return None
    names = getattr(snap, "tenants", None) or {}
    return names.get(tenant_id) or names.get(tenant_id.lower()) or tenant_id[:8]


def tenants_in_view(views: Iterable[AccountView]) -> list[str]:
    """The distinct tenants of these accounts (sorted ids): the accounts pane shows a TENANT column for two or more."""
    return sorted({v.tenant_id.lower() for v in views if v.tenant_id})


def compliance_percent(s: m.ComplianceStandard) -> float | None:
    assessed = s.passed_controls + s.failed_controls
    if assessed == 0:
        return None
    return round(100.0 * s.passed_controls / assessed, 1)


def attach_accounts(rows: list[m.Recommendation], snap: m.Snapshot | None) -> list[m.Recommendation]:
    """Recommendations come from Resource Graph by connector; the account is the connector's hierarchyIdentifier.
    A row without a connector is attributed through its Arc machine (resourceDetails.AzureResourceId: the machine's
    AccountId tag, or the EC2 instance it matched by name), else through a machine named like its resource (the
    instance id). Rows still without an account stay None: the pane shows them as unattributed."""
    cd = snap.data("connectors") if snap else None
    if cd is None:
        return rows
    by_conn = {c.id.lower(): c.aws_account_id for c in cd.connectors}
    arc = snapshot_arc_index(snap)
    classic = classic_groups(cd.connectors)
    out = []
    for r in rows:
        if not r.aws_account_id:
            acct = row_account(r.connector_id, None, r.azure_resource_id, by_conn, arc, classic)
            if acct is None and not r.connector_id and r.resource_name:
                a = arc.get(r.resource_name.lower())
                acct = arc.account(a) if a else None
            if acct:
                r = dc_replace(r, aws_account_id=acct)
        out.append(r)
    return out


class RowCount(NamedTuple):
    """Recommendation rows and the unhealthy ones among them (a tuple: `total, unhealthy = ...` still reads it)."""

    total: int
    unhealthy: int


def unattributed(rows: Iterable[m.Recommendation]) -> RowCount:
    """(rows, unhealthy rows) without an AWS account after attach_accounts."""
    total = unhealthy = 0
    for r in rows:
        if not r.aws_account_id:
            total += 1
            unhealthy += r.status == "Unhealthy"
    return RowCount(total, unhealthy)
