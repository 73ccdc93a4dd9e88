"""Pure functions from a Snapshot to the views operators read: accounts, plans with prerequisites,
the EC2 -> SSM -> Arc funnel with a reason per stuck instance, recommendation and compliance summaries.

No I/O, no textual/rich. Every id comparison is case-insensitive (ARG lower-cases ids).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any, Iterable, Mapping

from . import model as m


@dataclass(frozen=True)
class Prerequisite:
    """One prerequisite of a plan and whether it holds."""

    name: str
    ok: bool | None  # None: could not be checked (data missing)
    detail: str


@dataclass(frozen=True)
class PlanView:
    """One plan of one account, as the plans pane shows it."""

    key: str
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
        if any(p.ok is None for p in self.prerequisites):
            return None
        return True


@dataclass(frozen=True)
class StuckInstance:
    """An EC2 instance not connected to Arc yet, with the reason."""

    account_id: str
    instance_id: str
    region: str | None
    reason: str
    # "not discovered yet": by when the connector's next scan should have found it (ready since + scan interval)
    discovery_due: datetime | None = None


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
        return "next discovery: unknown (launch time or scan interval not read)"
    when = due.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    left = (due - now).total_seconds()
    if left >= 0:
        return f"next discovery due by {when} (in {_span(left)}): the connector's scan picks it up, nothing to do"
    return (f"discovery overdue since {when} ({_span(left)} ago): the scan should have found it; check the "
            "connector's health and that the instance's SSM agent is registered in this region")


def discovery_due(ec2: m.Ec2Instance, ssm: m.SsmInstance | None, scan_interval_hours: int | None) -> datetime | None:
    """An instance becomes discoverable once it runs and its SSM agent has registered; a connector scans every
    ``scan_interval_hours``, so the scan that finds it comes at the latest that long after. None when unknown."""
    if not scan_interval_hours:
        return None
    ready = [t for t in (ec2.launch_time, ssm.registered if ssm else None) if t is not None]
    if not ready:
        return None
    return max(ready) + timedelta(hours=scan_interval_hours)


@dataclass(frozen=True)
class RegionFunnel:
    """EC2 found -> SSM online -> Arc connected, in one account and region."""

    account_id: str
    region: str
    ec2_total: int | None
    ssm_online: int | None
    arc_connected: int


@dataclass(frozen=True)
class Funnel:
    """One account's EC2 -> SSM -> Arc funnel, per region, with its stuck instances."""

    ec2_total: int | None
    ssm_online: int | None
    arc_connected: int
    stuck: tuple[StuckInstance, ...] = ()
    regions: tuple[RegionFunnel, ...] = ()
    aws_error: str | None = None
    arc_expected: bool = False  # Servers plan with Arc auto-provisioning is on


@dataclass(frozen=True)
class RecSummary:
    """One account's recommendation counts."""

    total: int
    unhealthy: int
    unhealthy_by_severity: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountView:
    """Everything the dashboard shows about one AWS account, joined from every section."""

    aws_account_id: str
    connectors: tuple[m.Connector, ...]
    duplicate_classic_native: bool
    plans: Mapping[str, PlanView]
    onboarding: Funnel | None
    recommendations: RecSummary | None
    name: str | None = None
    organization_role: str = "single"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({c.kind for c in self.connectors}, key=lambda k: k != "native"))


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
    kinds: dict[str, set[str]] = defaultdict(set)
    for c in connectors:
        if c.aws_account_id:
            kinds[c.aws_account_id].add(c.kind)
    return {a for a, k in kinds.items() if {"classic", "native"} <= k}


def org_rollup(connectors: Iterable[m.Connector]) -> dict[str, dict[str, Any]]:
    """Management account -> members it expects (excluded ones left out), present as connectors, and missing.

    MDC's organization connector onboards members through a StackSet; a member shows up as its own connector
    with parentHierarchyId. Expected members are those whose connectors name this account as parent, plus any
    excluded account ids listed on the management connector (shown as excluded, not missing).
    """
    conns = list(connectors)
    out: dict[str, dict[str, Any]] = {}
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


def plan_views(conns: list[m.Connector], pricings: Mapping[tuple[str, str], m.Pricing] | None,
               pricing_errors: Mapping[str, str] | None = None) -> dict[str, PlanView]:
    """Plans of one AWS account: the union of its native connectors' offerings (classic: what it provided)."""
    views: dict[str, PlanView] = {}
    natives = [c for c in conns if c.kind == "native"]
    classics = [c for c in conns if c.kind == "classic"]
    for key, otype in m.PLAN_OFFERINGS.items():
        conn, off = next(((c, c.offering(otype)) for c in natives if c.offering(otype)), (None, None))
        if off is None:
            if key == "cspm" and classics and not natives:
                # Classic connectors imported Security Hub findings: CSPM in the retired experience.
                views[key] = PlanView(key, True)
            elif key == "servers" and classics and not natives:
                auto = any(_lower((c.raw.get("properties") or {}).get("hybridComputeSettings", {}).get("autoProvision")) == "on"
                           for c in classics)
                views[key] = PlanView(key, False, arc_auto_provisioning=auto)
            else:
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
            prereqs = [_servers_pricing(conn, pricings, pricing_errors)]
            views[key] = PlanView(
                key, True, sub_plan=sub_plan,
                arc_auto_provisioning=bool(_enabled(raw, "arcAutoProvisioning")),
                mde=_enabled(raw, "mdeAutoProvisioning"),
                vulnerability_assessment=va_type,
                agentless_scanning=_enabled(raw, "vmScanners"),
                prerequisites=tuple(prereqs),
            )
        elif key == "defender_cspm":
            views[key] = PlanView(key, True, agentless_scanning=_enabled(raw, "vmScanners"))
        elif key == "databases":
            views[key] = PlanView(key, True, arc_auto_provisioning=_enabled(raw, "arcAutoProvisioning"))
        else:
            views[key] = PlanView(key, True)
    return views


def _servers_pricing(conn: m.Connector | None, pricings: Mapping[tuple[str, str], m.Pricing] | None,
                     errors: Mapping[str, str] | None) -> Prerequisite:
    name = "Defender for Servers on the subscription"
    if conn is None:
        return Prerequisite(name, None, "no connector")
    sub = conn.subscription_id
    if pricings is None:
        return Prerequisite(name, None, "pricings not loaded yet")
    p = pricings.get((_lower(sub), "virtualmachines"))
    if p is None:
        err = (errors or {}).get(sub) or (errors or {}).get(_lower(sub))
        return Prerequisite(name, None, f"pricing of subscription {sub} unknown" + (f": {err}" if err else ""))
    if p.tier.lower() != "standard":
        return Prerequisite(name, False,
                            f"subscription {sub} has Defender for Servers off ({p.tier}): "
                            "enable it in Environment settings > subscription > Defender plans")
    return Prerequisite(name, True, f"subscription {sub}: Standard{(' ' + p.sub_plan) if p.sub_plan else ''}")


# ----------------------------------------------------------------------------------------------- onboarding

# What to do about each reason an instance is stuck (shown on the instance's detail screen).
STUCK_FIX: dict[str, str] = {
    m.REASON_NO_SSM: "install the SSM agent (or use an AMI that has it) and attach an instance profile with "
                     "AmazonSSMManagedInstanceCore; MDC needs SSM to install the Arc agent",
    m.REASON_SSM_LOST: "the instance is stopped or cannot reach the SSM endpoints: start it, or open outbound 443 / "
                       "add VPC endpoints for ssm, ssmmessages and ec2messages",
    m.REASON_NOT_DISCOVERED: "nothing to do yet: MDC discovers new EC2 instances at the connector's next scan",
    m.REASON_ARC_DISCONNECTED: "run `azcmagent show` on the machine and check outbound access to the Azure Arc "
                               "endpoints (or the connector's proxy)",
    m.REASON_ARC_EXPIRED: "the Arc agent was disconnected for over 45 days: delete the Arc machine resource and let "
                          "MDC onboard the instance again",
    m.REASON_ARC_ERROR: "see the Arc machine's errorDetails; reinstall the agent through SSM if it persists",
    m.REASON_ARC_OTHER: "check the Arc machine's status and errorDetails in the portal",
}

_ARC_REASONS = {
    "disconnected": m.REASON_ARC_DISCONNECTED,
    "expired": m.REASON_ARC_EXPIRED,
    "error": m.REASON_ARC_ERROR,
}


def arc_index(machines: Iterable[m.ArcMachine]) -> dict[str, m.ArcMachine]:
    """Instance id (lower-case) -> Arc machine. The tag InstanceId wins over the name."""
    out: dict[str, m.ArcMachine] = {}
    for a in machines:
        key = _lower(a.instance_id or a.name)
        if key:
            prev = out.get(key)
            if prev is None or _lower(a.status) == "connected":
                out[key] = a
    return out


def funnel(account_id: str, inv: m.AwsAccountInventory | None, arc: Mapping[str, m.ArcMachine],
           arc_expected: bool, scan_interval_hours: int | None = None) -> Funnel:
    """EC2 found -> SSM agent online -> Arc connected, for one account, with the reason per stuck instance."""
    machines = [a for a in arc.values() if _lower(a.aws_account_id) == _lower(account_id)]
    arc_connected = sum(1 for a in machines if _lower(a.status) == "connected")
    if inv is None or not inv.readable:
        # AWS side unknown: counts are null, stuck only from what Azure shows.
        stuck = tuple(
            StuckInstance(account_id, a.instance_id or a.name, None,
                          _ARC_REASONS.get(_lower(a.status), m.REASON_ARC_OTHER))
            for a in sorted(machines, key=lambda a: a.name) if _lower(a.status) != "connected")
        return Funnel(None, None, arc_connected, stuck, aws_error=inv.error if inv else "AWS side not read",
                      arc_expected=arc_expected)
    ssm = {_lower(s.instance_id): s for s in inv.ssm}
    per_region: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
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
        if a is not None and _lower(a.status) == "connected":
            r[2] += 1
            continue
        if not arc_expected:
            continue
        if a is not None:
            reason = _ARC_REASONS.get(_lower(a.status), m.REASON_ARC_OTHER)
        elif s is None:
            reason = m.REASON_NO_SSM
        elif not online:
            reason = m.REASON_SSM_LOST
        else:
            reason = m.REASON_NOT_DISCOVERED
        due = discovery_due(i, s, scan_interval_hours) if reason == m.REASON_NOT_DISCOVERED else None
        stuck_l.append(StuckInstance(account_id, i.instance_id, i.region, reason, due))
    regions = tuple(RegionFunnel(account_id, reg, v[0], v[1], v[2]) for reg, v in sorted(per_region.items()))
    err = None
    if inv.failed_regions:
        err = "; ".join(f"{r}: {e}" for r, e in sorted(inv.failed_regions.items()))
    return Funnel(len(inv.instances), ssm_online, arc_connected, tuple(stuck_l), regions, aws_error=err,
                  arc_expected=arc_expected)


# ----------------------------------------------------------------------------------------------- recommendations

def rec_summaries(counts: Iterable[m.RecommendationCount], conns: Iterable[m.Connector]) -> dict[str, RecSummary]:
    by_conn = {_lower(c.id): c.aws_account_id for c in conns if c.aws_account_id}
    acc: dict[str, list[int]] = {}
    sev: dict[str, dict[str, int]] = {}
    for rc in counts:
        account = by_conn.get(_lower(rc.connector_id))
        if account is None:
            continue
        t = acc.setdefault(account, [0, 0])
        t[0] += rc.count
        if _lower(rc.status) == "unhealthy":
            t[1] += rc.count
            s = sev.setdefault(account, {k: 0 for k in m.SEVERITIES})
            key = next((k for k in m.SEVERITIES if k.lower() == _lower(rc.severity)), None)
            if key:
                s[key] += rc.count
    return {a: RecSummary(t[0], t[1], sev.get(a, {k: 0 for k in m.SEVERITIES})) for a, t in acc.items()}


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
    arc = arc_index(od.arc_machines) if od is not None else {}
    recs = rec_summaries(rd.counts, cd.connectors) if rd is not None else None
    dups = duplicates(cd.connectors)
    views: list[AccountView] = []
    for account, conns in sorted(connectors_by_account(cd.connectors).items()):
        conns = sorted(conns, key=lambda c: (c.kind != "native", c.name))
        plans = plan_views(conns, pidx, perr)
        sv = plans["servers"]
        arc_expected = bool(sv.arc_auto_provisioning) and (sv.enabled or not any(c.kind == "native" for c in conns))
        onboarding = None
        if od is not None:
            scan = min((c.scan_interval_hours for c in conns if c.scan_interval_hours), default=None)
            onboarding = funnel(account, od.aws.get(account), arc, arc_expected, scan)
        role = next((c.organization_role for c in conns if c.kind == "native"), "single")
        name = None
        for c in conns:
            env = (c.raw.get("properties") or {}).get("environmentData") or {}
            name = env.get("accountName") or name
        views.append(AccountView(
            aws_account_id=account, connectors=tuple(conns), duplicate_classic_native=account in dups,
            plans=plans, onboarding=onboarding,
            recommendations=(recs.get(account, RecSummary(0, 0, {k: 0 for k in m.SEVERITIES}))
                             if recs is not None else None),
            name=name or conns[0].name, organization_role=role))
    return views


def compliance_percent(s: m.ComplianceStandard) -> float | None:
    assessed = s.passed_controls + s.failed_controls
    if assessed == 0:
        return None
    return round(100.0 * s.passed_controls / assessed, 1)


def attach_accounts(rows: list[m.Recommendation], snap: m.Snapshot | None) -> list[m.Recommendation]:
    """Recommendations come from Resource Graph by connector; the account is the connector's hierarchyIdentifier."""
    cd = snap.data("connectors") if snap else None
    if cd is None:
        return rows
    by_conn = {c.id.lower(): c.aws_account_id for c in cd.connectors}
    od = snap.data("onboarding")
    arc = arc_index(od.arc_machines) if od is not None else {}  # classic rows sit on Arc machines
    out = []
    for r in rows:
        if not r.aws_account_id:
            acct = by_conn.get(r.connector_id.lower()) if r.connector_id else None
            if acct is None and r.resource_name:
                a = arc.get(r.resource_name.lower())
                acct = a.aws_account_id if a else None
            if acct:
                r = dc_replace(r, aws_account_id=acct)
        out.append(r)
    return out
