"""The drill-downs' content: what enter opens, as data (a `Detail` text or a `Listing` of rows), built from the
snapshot and the selection. Pure: builds no screen; tui.screens shows a Detail in a DetailScreen and a Listing in a
ListScreen (the screen adds what enter on a listed row opens).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from rich.text import Text

from .links import recommendation_link, resource_link
from .rows import STATE_GLYPH, STATE_STYLE, Columns, Flex, Item, RegionStuck, rec_cells

if TYPE_CHECKING:  # imported where used: a drill-down opens only once the snapshot has loaded
    from datetime import datetime

    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.health import AccountCost, Health
    from tui.core.runbook import ControlRef

STUCK_COLUMNS: Columns = (("INSTANCE", 19), ("REGION", 10), ("REASON", Flex(19)), ("SSM", 10), ("ARC", 6),
                          ("NEXT SCAN", 10))
CONTROLS_COLUMNS: Columns = (("CONTROL", 16), ("STATE", 11), ("FAILING", 7), ("TITLE", Flex(41)))
FAILING_COLUMNS: Columns = (("SEV", 7), ("RESOURCE", 22), ("ACCOUNT", 12), ("REGION", 14),
                            ("RECOMMENDATION", Flex(19)))
AFFECTED_SHOWN = 50  # a recommendation's detail lists this many account/region groups, then says how many more
AFFECTED_NAMES = 5  # ... each with its count and this many resource names, then how many more
CONTROL_ORDER = {"Failed": 0, "Passed": 1, "Skipped": 2, "Unsupported": 3}  # the controls listing: failing first


@dataclass(frozen=True)
class Detail:
    """A titled text: where it is (crumbs), what it says (body) and its portal link."""

    crumbs: tuple[str, ...]
    body: Text
    portal: str | None


@dataclass(frozen=True)
class Listing:
    """A drill-down list: where it is (crumbs), its columns, its rows (each with its payload) and a header line."""

    crumbs: tuple[str, ...]
    columns: Columns
    items: list[Item]
    header: str


def json_block(obj: Any) -> str:
    """`obj` as indented JSON (keys sorted; what JSON cannot say, as its str)."""
    import json  # only when a detail opens: not on every start

    return json.dumps(obj, indent=2, sort_keys=True, default=str)


def _tenant(snap: m.Snapshot | None) -> str | None:
    return snap.tenant_id if snap else None


# ----------------------------------------------------------------------------------------------- accounts, plans

def account_detail(snap: m.Snapshot | None, v: d.AccountView) -> Detail:
    """An account: its role, health (every issue and its fix), organization (a management account: coverage and
    StackSet instances), plans and their prerequisites, onboarding, recommendations, compliance standards, cost
    (counts only) and its connectors (raw JSON)."""
    from tui.core import derive as d

    t = Text()
    t.append(f"{v.name}  ({v.aws_account_id})\n", style="bold")
    t.append(f"organization role: {v.organization_role}\n")
    codes = set(v.health.codes())  # the health's issues say it, with the fix: no note of their own then
    if v.duplicate_classic_native and "classic-native-duplicate" not in codes:
        t.append("▲ duplicated: connected by both a classic and a native connector; remove the classic one "
                 f"(retired by Microsoft on {d.CLASSIC_RETIRED_ON}, no data since; o, then 3)\n", style="yellow")
    elif v.classic_only and "classic-retired" not in codes:
        t.append(f"▲ {d.CLASSIC_HEALTH}: no plan is enabled and nothing is onboarded to Arc; "
                 f"{d.CLASSIC_MIGRATE}\n", style="yellow")
    _health_section(t, v)
    if v.organization_role == "management":
        _organization_section(t, snap, v)
    t.append("\nPlans\n", style="bold")
    for key, p in v.plans.items():
        state = "✔ on" if p.enabled else "· off"
        extra = f" {p.sub_plan}" if p.sub_plan else ""
        t.append(f"  {key:<14} {state}{extra}\n")
        for pr in p.prerequisites:
            mark = "✔" if pr.ok else ("✖" if pr.ok is False else "?")
            t.append(f"      {mark} {pr.name}: {pr.detail}\n", style="" if pr.ok else "yellow")
    f = v.onboarding
    if f is not None:
        t.append("\nOnboarding\n", style="bold")
        t.append(f"  EC2 {f.ec2_total if f.ec2_total is not None else '?'} → SSM online "
                 f"{f.ssm_online if f.ssm_online is not None else '?'} → Arc connected {f.arc_connected}; "
                 f"stuck {len(f.stuck)}\n")
        if f.aws_error:
            t.append(f"  AWS: {f.aws_error}\n", style="yellow")
    if v.recommendations is not None:
        rs = v.recommendations
        t.append("\nRecommendations\n", style="bold")
        t.append(f"  {rs.unhealthy} unhealthy of {rs.total}: " +
                 ", ".join(f"{k} {n}" for k, n in rs.unhealthy_by_severity.items()) + "\n")
        if rs.classic_legacy_total:
            t.append(f"  + {rs.classic_legacy_unhealthy} unhealthy of {rs.classic_legacy_total} left by the retired "
                     "classic connector (stale since 2023-09-15: not counted above)\n", style="dim")
    comp = snap.data("compliance") if snap else None
    if comp is not None:  # the standards assigned on its native connector(s) (their per-connector copies)
        names = comp.standards_of(v.aws_account_id)
        t.append("\nCompliance standards\n", style="bold")
        if names:
            t.append("".join(f"  {n}\n" for n in names))
        else:
            t.append("  none known: an account with no standard assigned shows no compliance data (portal: "
                     "Environment settings > the account > Standards)\n", style="yellow")
    if v.cost is not None:
        _cost_section(t, v.cost)
    for c in v.connectors:
        t.append(f"\n{c.kind} connector {c.name}" + (f" ({d.connector_health(c).health})" if c.kind == "classic"
                                                       else "") + "\n", style="bold")
        t.append(json_block(dict(c.raw)) + "\n")
    return Detail(("Dashboard", "Accounts", v.aws_account_id), t,
                  resource_link(_tenant(snap), v.connectors[0].id) if v.connectors else None)


def _issue_lines(t: Text, h: Health, indent: str) -> None:
    """Every issue of `h`: its level's glyph, code and message, then the fix on its own line."""
    for i in h.issues:
        t.append(f"{indent}{STATE_GLYPH[i.level]} ", style=STATE_STYLE[i.level])
        t.append(i.code, style=f"bold {STATE_STYLE[i.level]}")
        t.append(f": {i.message}\n")
        t.append(f"{indent}    fix: {i.fix}\n")


def _health_section(t: Text, v: d.AccountView) -> None:
    """Health: the account's state and every issue with its fix; per connector when the account has several
    (a classic one beside a native one: which issue is whose matters for the fix)."""
    h = v.health
    t.append("\nHealth\n", style="bold")
    n = len(h.issues)
    t.append(f"  {STATE_GLYPH[h.state]} {h.state}" + (f" · {n} issue{'s' if n > 1 else ''}" if n else "") + "\n",
             style=STATE_STYLE[h.state])
    per = [(c, v.connector_health.get(c.id.lower())) for c in v.connectors]
    if len(per) > 1 and all(ch is not None for _, ch in per):
        for c, ch in per:
            assert ch is not None
            t.append(f"  {c.kind} connector {c.name}: ")
            t.append(f"{STATE_GLYPH[ch.state]} {ch.state}\n", style=STATE_STYLE[ch.state])
            _issue_lines(t, ch, "    ")
    else:
        _issue_lines(t, h, "  ")
    if h.unchecked:  # what could not be checked, and why: an unread fact is never shown as healthy
        t.append(f"  not checked ({len(h.unchecked)}):\n", style="dim")
        for u in h.unchecked:
            t.append(f"    · {u}\n", style="dim")
    for c in v.connectors:  # what Azure reports for a native connector (a classic one's is stale: retired)
        if c.kind != "classic" and c.health not in ("ok", "Valid"):
            t.append(f"  ✖ provisioning state {c.health} (Azure, connector {c.name})"
                     + (f": {c.health_detail}" if c.health_detail else "") + "\n", style="red")


def _ids(ids: Sequence[str], names: dict[str, str | None] | None = None) -> str:
    names = names or {}
    return ", ".join(f"{a} ({names[a]})" if names.get(a) else a for a in ids) if ids else "none"


def _organization_section(t: Text, snap: m.Snapshot | None, v: d.AccountView) -> None:
    """A management account's organization: AWS Organizations' accounts against the member connectors present
    (every missing account listed: this is where the row's "N✗" leads), and the StackSet's instances."""
    from tui.core import derive as d

    cd = snap.data("connectors") if snap else None
    r = d.org_rollup(cd.connectors).get(v.aws_account_id) if cd is not None else None
    stackset = next((c.stackset_name for c in v.connectors if c.stackset_name), None) or (
        r["stackset_name"] if r else None)
    t.append("\nOrganization" + (f" (StackSet {stackset})" if stackset else "") + "\n", style="bold")
    cov = v.org_coverage
    if cov is None:
        if r is not None:
            t.append(f"  members present: {_ids(r['members_present'])}; excluded: {_ids(r['excluded'])}\n")
        t.append("  AWS Organizations not read: the organization's accounts without a connector are not known\n",
                 style="dim")
        return
    od = snap.data("onboarding") if snap else None
    inv = od.aws.get(v.aws_account_id) if od else None
    setup = inv.setup if inv is not None else None  # the organization's account names, where read
    names = {a.account_id: a.name for a in (setup.org_accounts or ())} if setup is not None else {}
    t.append(f"  accounts in the organization: "
             f"{cov.org_accounts if cov.org_accounts is not None else 'not read'}\n")
    t.append(f"  members with a connector ({len(cov.members_with_connector)}): "
             f"{_ids(cov.members_with_connector, names)}\n")
    t.append(f"  {'▲' if cov.missing else '✔'} missing a connector ({len(cov.missing)}): "
             f"{_ids(cov.missing, names)}\n", style="yellow" if cov.missing else "")
    t.append(f"  excluded ({len(cov.excluded)}): {_ids(cov.excluded, names)}\n")
    t.append(f"  suspended ({len(cov.suspended)}): {_ids(cov.suspended, names)}\n")
    bad = cov.failed_instances
    total = len(cov.stackset_instances)
    if not total:
        t.append("  StackSet instances: none listed\n")
    elif not bad:
        t.append(f"  StackSet instances: {total}, all CURRENT\n")
    else:
        t.append(f"  StackSet instances not CURRENT or failed ({len(bad)} of {total}):\n", style="yellow")
        for i in bad:
            failed = i.status == "INOPERABLE" or (i.detailed_status or "").upper() in ("FAILED", "CANCELLED")
            t.append(f"    {'✖' if failed else '▲'} {i.account_id} {i.region} {i.status}"
                     + (f" ({i.detailed_status})" if i.detailed_status else "")
                     + (f": {i.reason}" if i.reason else "") + "\n", style="red" if failed else "yellow")


UNIT_LABEL = {"ec2_running": "running EC2 instances", "rds_instances": "RDS instances", "s3_buckets": "S3 buckets",
              "eks_clusters": "EKS clusters"}


def _cost_section(t: Text, cost: AccountCost) -> None:
    """What the enabled plans count for billing (counts, never prices), the scan interval and the query that counts
    MDC's API calls in the account's CloudTrail."""
    t.append("\nCost (counts only)\n", style="bold")
    t.append("  scan interval: " + (f"every {cost.scan_interval_hours} h" if cost.scan_interval_hours else
                                     "not known") + "\n")
    for p in cost.plans:
        counts = " · ".join(f"{UNIT_LABEL.get(u, u)} {'not read' if n is None else n}" for u, n in p.billable.items())
        if not counts:  # nothing billed (Foundational CSPM): its note says so, or this does
            t.append(f"  {p.plan:<14} {p.note or 'nothing counted (free)'}\n")
            continue
        t.append(f"  {p.plan:<14} {counts}\n")
        if p.note:
            t.append(f"  {'':<14} {p.note}\n", style="dim")
    if cost.cloudtrail_query:
        t.append("  MDC's API calls in the last 24 h (CloudTrail events of its CspmMonitorAws session):\n")
        t.append(f"    {cost.cloudtrail_query}\n")


# ----------------------------------------------------------------------------------------------- onboarding

def stuck_listing(snap: m.Snapshot | None, target: RegionStuck, now: datetime) -> Listing:
    """An onboarding row's stuck instances: reason, SSM and Arc state, next discovery (payload: the StuckInstance)."""
    from tui.core import derive as d

    v, region, stuck = target.view, target.region, target.stuck
    od = snap.data("onboarding") if snap else None
    inv = od.aws.get(v.aws_account_id) if od else None
    ssm = {s.instance_id.lower(): s for s in (inv.ssm if inv else ())}
    # SSM lists no stopped instance: "stopped", not "no agent", for those
    stopped = {i.instance_id.lower() for i in (inv.instances if inv else ()) if i.stopped}
    arc = d.snapshot_arc_index(snap)
    items = []
    for s in stuck:
        ss = ssm.get(s.instance_id.lower())
        a = arc.get(s.instance_id.lower())
        items.append(Item(s.instance_id, (s.instance_id, s.region or "?", s.reason,
                                          ss.ping_status if ss else
                                          "stopped" if s.instance_id.lower() in stopped else "no agent",
                                          ("—" if a is None else a.status if s.matched_by != d.MATCH_NAME
                                           else a.status[:5] + "≈"),
                                          d.due_short(s.discovery_due, now)),
                          payload=s))
    header = (f"{len(stuck)} stuck in {region or 'all regions'}. MDC discovers new EC2 instances every hour "
              "(whatever the connector's scan interval). ≈: Arc machine matched by computer name (no MDC tags).")
    if v.onboarding is not None and v.onboarding.aws_error:
        header += f"\nAWS side: {v.onboarding.aws_error}"
    return Listing(("Dashboard", "Onboarding", v.aws_account_id, region or "?"), STUCK_COLUMNS, items, header)


def instance_detail(snap: m.Snapshot | None, v: d.AccountView, s: d.StuckInstance, now: datetime) -> Detail:
    """A stuck instance: why it is stuck and the fix, its EC2, SSM and Arc sides (portal: its Arc machine)."""
    from tui.core import derive as d
    from tui.core import model as m

    od = snap.data("onboarding") if snap else None
    inv = od.aws.get(v.aws_account_id) if od else None
    ec2 = next((i for i in (inv.instances if inv else ()) if i.instance_id == s.instance_id), None)
    ssm = next((x for x in (inv.ssm if inv else ()) if x.instance_id == s.instance_id), None)
    arc = d.snapshot_arc_index(snap).get(s.instance_id.lower()) if od else None
    t = Text()
    t.append(f"{s.instance_id}  ·  {s.reason}\n", style="bold")
    t.append(f"fix: {d.STUCK_FIX.get(s.reason, '')}\n", style="yellow")
    if s.reason == m.REASON_NOT_DISCOVERED:
        t.append(d.due_text(s.discovery_due, now) + "\n")
    t.append("\n")
    t.append("EC2\n", style="bold")
    t.append(f"  account {v.aws_account_id}  region {s.region}  " +
             (f"state {ec2.state}  platform {ec2.platform}  name {ec2.name}  launched "
              f"{ec2.launch_time.strftime('%Y-%m-%d %H:%M UTC') if ec2.launch_time else '?'}\n"
              if ec2 else "not read\n"))
    t.append("SSM\n", style="bold")
    if ssm:
        t.append(f"  {ssm.ping_status}  agent {ssm.agent_version}  platform {ssm.platform_type}  "
                 f"last ping {ssm.last_ping}\n")
    elif ec2 is not None and ec2.stopped:  # SSM lists no stopped instance
        t.append("  the instance is stopped: SSM lists no stopped instance, its agent reports once it runs\n")
    else:
        t.append("  not a managed instance (no SSM agent reporting)\n")
    t.append("Azure Arc\n", style="bold")
    t.append(f"  {arc.status}  {arc.id}\n  last status change {arc.last_status_change}\n" if arc
             else "  no Arc machine yet\n")
    if arc is not None and s.matched_by == d.MATCH_NAME:
        t.append(f"  matched by computer name ({arc.computer_name or arc.name}): the machine carries no MDC tags "
                 "(installed by hand or by the Arc multicloud connector)\n", style="dim")
    return Detail(("Dashboard", "Onboarding", v.aws_account_id, s.instance_id), t,
                  resource_link(_tenant(snap), arc.id) if arc else None)


# ----------------------------------------------------------------------------------------------- recommendations

def recommendation_detail(r: m.Recommendation, rows: Sequence[m.Recommendation],
                          crumbs: Sequence[str] | None = None,
                          controls: Sequence[ControlRef] | None = None) -> Detail:
    """A recommendation: severity, description, the remediation (its numbered steps when the text has them), the
    controls of AWS standards it fails under (`controls`, from the compliance data: tui.core.runbook.control_index;
    None when not loaded) with their AWS documentation links, and the unhealthy resources with the same assessment
    (of `rows`, all the recommendation rows) grouped by account and region: a count and the first names of each
    group (the first AFFECTED_SHOWN groups, then how many more)."""
    from tui.core import runbook as rb

    key = r.assessment_key.lower()
    same = [x for x in rows if x.assessment_key.lower() == key and x.status == "Unhealthy"]
    groups = rb.group_resources(same)
    affected, accounts = rb.reach(groups)
    t = Text()
    t.append(f"{r.title}\n", style="bold")
    t.append(f"severity {r.severity} · status {r.status} · resource {r.resource_name} ({r.resource_type}) · "
             f"account {r.aws_account_id} · region {r.region}\n\n")
    t.append("Description\n", style="bold")
    t.append(f"  {r.description or '—'}\n\n")
    t.append("Remediation\n", style="bold")
    steps = rb.split_steps(r.remediation)
    if steps.intro:
        t.append(f"  {steps.intro}\n")
    for n, step in enumerate(steps.steps, 1):
        t.append(f"  {n:>2}. {step}\n")
    if not steps.intro and not steps.steps:
        t.append("  —\n")
    t.append("\nAWS controls\n", style="bold")
    if controls is None:
        t.append("  not read (Azure did not answer): a standard's failing controls are in the Compliance pane (5); "
                 "`mdc-aws export --view remediation` lists every recommendation's\n", style="dim")
    elif not controls:
        t.append("  none: it fails under no control of an AWS standard\n", style="dim")
    for c in controls or ():
        t.append(f"  {c.standard_display}  ")
        t.append(c.control, style="bold")
        t.append(f"  {c.title}\n" if c.title else "\n")
        if c.link:
            t.append(f"      {c.link}\n", style="dim")
    t.append(f"\nAffected resources ({len(same)} unhealthy" +
             (f", {affected} resources in {accounts} account{'s' if accounts != 1 else ''}" if same else "") + ")\n",
             style="bold")
    for g in groups[:AFFECTED_SHOWN]:
        names = ", ".join(g.resources[:AFFECTED_NAMES])
        more = len(g.resources) - AFFECTED_NAMES
        t.append(f"  {g.aws_account_id or rb.UNATTRIBUTED}  {g.region or '?'}  ({len(g.resources)}): {names}"
                 + (f" … and {more} more" if more > 0 else "") + "\n")
    if len(groups) > AFFECTED_SHOWN:
        rest = groups[AFFECTED_SHOWN:]
        t.append(f"  … and {len(rest)} more account/region groups ({sum(len(g.resources) for g in rest)} "
                 "resources): filter the pane with the title\n")
    t.append(f"\nassessment {r.id}\n", style="dim")
    return Detail(tuple(crumbs) if crumbs else ("Dashboard", "Recommendations", r.resource_name or r.assessment_key),
                  t, recommendation_link(r.assessment_key))


# ----------------------------------------------------------------------------------------------- compliance

def controls_listing(standard_name: str, controls: Sequence[m.ComplianceControl]) -> Listing:
    """A standard's controls, failing first (payload: the ComplianceControl)."""
    items = [Item(c.name, (c.name, Text(c.state, style="red" if c.state == "Failed" else
                                        "green" if c.state == "Passed" else "dim"),
                           str(c.failed_assessments), c.description or ""), payload=c)
             for c in sorted(controls, key=lambda c: CONTROL_ORDER.get(c.state, 9))]
    failed = sum(1 for c in controls if c.state == "Failed")
    return Listing(("Dashboard", "Compliance", standard_name), CONTROLS_COLUMNS, items,
                   f"{failed} of {len(controls)} controls failing · FAILING = failing recommendations · enter lists "
                   "a control's failing resources")


def control_failing_listing(standard_name: str, control: m.ComplianceControl,
                            rows: Sequence[m.Recommendation]) -> Listing:
    """A control's failing resources: `rows`, the unhealthy recommendations behind it (payload: the
    Recommendation). The summary: the control, its state, how many failing resources, and on a second line its
    page in the AWS Security Hub controls reference (an id like "EC2.6" only)."""
    from .links import aws_control_link

    items = [Item(r.id, rec_cells(r)[:1] + (r.resource_name or "", r.aws_account_id or "", r.region or "",
                                             r.title), payload=r) for r in rows]
    link = aws_control_link(control.name)
    return Listing(("Dashboard", "Compliance", standard_name, control.name), FAILING_COLUMNS, items,
                   f"{control.name} {control.description or ''} · {control.state} · {len(rows)} failing resources"
                   + (f"\nAWS Security Hub: {link}" if link else ""))
