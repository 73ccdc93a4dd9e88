"""The dashboard panes' rows: what each table pane shows, built from derived data (tui.core.derive views, models).

Pure: no widget, no Textual. A pane calls its builder (`account_items`, `plan_items`, `onboarding_items`,
`compliance_items`) and displays the `Item`s; each row's payload is what enter opens and `b` links to
(tui.render.detail, tui.render.links). Also the panes' columns and the cell helpers the drill-downs share.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Sequence

from rich.text import Text

if TYPE_CHECKING:  # imported where used: the dashboard's first frame (rows from its cached view) needs neither
    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.health import Health



class Flex(int):
    """The width of a table's flexible column: its narrowest before the table drops columns; it takes every cell the
    other columns leave free (a wide terminal shows whole names and titles instead of cutting them)."""


Columns = tuple[tuple[str, int | None], ...]  # (label, width) per column; Flex(n) / None: the flexible column

# HEALTH: the state's glyph and the worst issue's code ("✖ stack-not-complete +1"): flexible, at least as wide as
# most codes (at 80 columns every column fits; a longer cell ends in "…"), it shares a wide pane's width with NAME
ACCOUNT_COLUMNS: Columns = (("ACCOUNT", 12), ("NAME", Flex(12)), ("KIND", 7), ("ORG", 10), ("RGN", 3), ("SCAN", 4),
                            ("HEALTH", Flex(23)))
# With more than one Entra ID tenant in view (Azure Lighthouse, [[tenants]]): TENANT (the tenant's name) after NAME
ACCOUNT_COLUMNS_TENANTS: Columns = (*ACCOUNT_COLUMNS[:2], ("TENANT", 10), *ACCOUNT_COLUMNS[2:])
PLAN_COLUMNS: Columns = (("ACCOUNT", 12), ("CSPM", 4), ("DCSPM", 5), ("SERVERS", Flex(24)), ("CONTAINERS", 10),
                         ("DATABASES", 9))
ONBOARDING_COLUMNS: Columns = (("ACCOUNT", 12), ("REGION", Flex(14)), ("EC2", 4), ("SSM", 15), ("ARC", 15),
                               ("STUCK", 5))
# UNSUP: controls Unsupported everywhere (their own state: never counted as skipped)
COMPLIANCE_COLUMNS: Columns = (("STANDARD", Flex(31)), ("SCORE", 17), ("PASS", 4), ("FAIL", 4), ("SKIP", 4),
                               ("UNSUP", 5), ("TREND", 6))

SEV_GLYPH = {"High": "● High", "Medium": "◐ Med", "Low": "○ Low"}
SEV_STYLE = {"High": "bold red", "Medium": "yellow", "Low": "dim"}
ORG_SHORT = {"management": "mgmt", "member": "member", "single": "·"}
# a health state (tui.core.health) as a glyph and a colour: the glyph alone says it (NO_COLOR, 16 colours)
STATE_GLYPH = {"healthy": "✔", "pending": "●", "degraded": "▲", "failing": "✖"}
STATE_STYLE = {"healthy": "green", "pending": "cyan", "degraded": "yellow", "failing": "red"}


def bar(n: int | None, total: int | None, width: int = 10) -> str:
    if n is None or not total:
        return "·" * width
    filled = round(width * n / total)
    return "█" * filled + "░" * (width - filled)


@dataclass
class Item:
    key: Hashable
    cells: tuple[Any, ...]
    fields: dict[str, Any] = field(default_factory=dict)  # for the filter: sev status account region type std
    text: str = ""
    payload: Any = None


@dataclass(frozen=True)
class RegionStuck:
    """An onboarding row's payload: an account's stuck instances in one region (None: the account's AWS side is
    unreadable, all its stuck instances)."""

    view: d.AccountView
    region: str | None
    stuck: tuple[d.StuckInstance, ...]


def sort_value(cell: Any) -> tuple[int, Any]:
    """A cell as a sort key: a number (``"12"``, ``"████░░ 42"``, ``"87.5%"``) by value, before any text; text
    without case."""
    text = cell.plain if isinstance(cell, Text) else ("" if cell is None else str(cell))
    num = re.fullmatch(_NUMBER_CELL, text.strip())  # compiled on the first sort (re's cache), not at import
    if num is not None:
        return (0, float(num.group(1)))
    return (1, text.casefold())


def sort_items(items: Sequence[Item], columns: Sequence[tuple[str, int | None]], column: str,
               descending: bool) -> list[Item]:
    """``items`` sorted by the cells of ``column`` (a label of ``columns``), numbers by value."""
    col = [label for label, _ in columns].index(column)
    return sorted(items, key=lambda it: sort_value(it.cells[col]), reverse=descending)


_NUMBER_CELL = r"[█░·\s]*(-?\d+(?:\.\d+)?)%?"


# ----------------------------------------------------------------------------------------------- accounts

def health_cell(h: Health) -> Text:
    """A health as one cell: "✔ healthy", "● pending", or the state's glyph and its worst issue's code; with more
    than one issue, their number right after the glyph ("✖2 stack-not-complete"), so a narrow column that cuts the
    code keeps it."""
    n = len(h.issues)
    glyph = STATE_GLYPH.get(h.state, "?") + (str(n) if n > 1 else "")
    if h.state in ("healthy", "pending") or not n:
        return Text(f"{glyph} {h.state}", style=STATE_STYLE.get(h.state, ""))
    # the first issue of the state's own level (issues are listed in CODES order, which is not strictly by level)
    worst = next((i for i in h.issues if i.level == h.state), h.issues[0])
    return Text(f"{glyph} {worst.code}", style=STATE_STYLE.get(h.state, ""))


def account_columns(items: Sequence[Item]) -> Columns:
    """The accounts pane's columns for these rows: ACCOUNT_COLUMNS_TENANTS when they carry a TENANT cell."""
    return ACCOUNT_COLUMNS_TENANTS if items and len(items[0].cells) == len(ACCOUNT_COLUMNS_TENANTS) else ACCOUNT_COLUMNS


def account_items(views: Sequence[d.AccountView], rollup: dict[str, d.OrgRollup]) -> list[Item]:
    """The accounts pane: one row per AWS account (payload: its AccountView). HEALTH: the account's health (the
    worst of its connectors'); ORG: a management account's members with a connector and, once AWS Organizations
    was read, how many of its accounts have none ("mgmt 4m✗2"). With more than one tenant in view, a TENANT cell
    after NAME (account_columns) and the `tenant:` filter field (the tenant's name and id)."""
    items = []
    tenants = {v.tenant_id.lower() for v in views if v.tenant_id}
    several = len(tenants) > 1
    for v in views:
        kinds = v.kinds
        kind: Text | str
        if v.duplicate_classic_native:  # classic-native-duplicate in HEALTH says what to do
            kind = Text("native+", style="yellow")
        elif kinds == ("classic",):  # classic-retired
            kind = Text("classic", style="yellow")
        else:
            kind = "native"
        org: Text | str = ORG_SHORT.get(v.organization_role, v.organization_role)
        if v.organization_role == "management" and v.aws_account_id in rollup:
            org = f"mgmt {len(rollup[v.aws_account_id]['members_present'])}m"
        cov = v.org_coverage
        if v.organization_role == "management" and cov is not None and cov.missing:
            org = Text(f"{org}✗{len(cov.missing)}", style="yellow")  # the count first: a cut cell keeps it
        regions = sorted({r for c in v.connectors for r in c.regions})
        scan = next((c.scan_interval_hours for c in v.connectors if c.scan_interval_hours), None)
        h = v.health
        health = health_cell(h)
        status = " ".join((h.state, *h.codes()))
        if v.health_state is None:  # a connector the health model could not judge, and no issue found elsewhere
            health, status = Text("? unknown", style="dim"), "unknown"
        # Azure's provisioning state of a native connector (a classic one's is stale: retired), when no issue is
        # known: a connector Azure could not provision is not healthy whatever the checks found
        bad = [c for c in v.connectors if c.kind != "classic" and c.health not in ("ok", "Valid")]
        if bad and not h.issues:
            health = Text(f"✖ {bad[0].health}", style="red")
            status = f"failing provisioning-state {bad[0].health}"
        cells: tuple[Any, ...] = (v.aws_account_id, v.name or "", kind, org, str(len(regions)) if regions else "all",
                                  f"{scan}h" if scan else "·", health)
        fields = {"account": v.aws_account_id, "region": " ".join(regions), "type": " ".join(kinds),
                  "status": status}
        text = f"{v.aws_account_id} {v.name} {' '.join(kinds)} {v.organization_role} {status}"
        if several:
            tname = v.tenant_name or (v.tenant_id or "")[:8] or "?"
            cells = (*cells[:2], tname, *cells[2:])
            fields["tenant"] = f"{tname} {v.tenant_id or ''}".strip()
            text += f" {tname}"
        items.append(Item(key=v.aws_account_id, cells=cells, fields=fields, text=text, payload=v))
    return items


# ----------------------------------------------------------------------------------------------- plans

def _plan_cell(p: d.PlanView) -> Text:
    if not p.enabled:  # a classic connector enables nothing (retired): only native connectors' plans show
        return Text("·", style="dim")
    parts = ["✔"]
    if p.key == "servers":
        if p.sub_plan:
            parts.append(p.sub_plan)
        if p.arc_auto_provisioning:
            parts.append("arc")
        if p.mde:
            parts.append("mde")
        if p.vulnerability_assessment:
            parts.append("va")
    text = " ".join(parts)
    if p.prerequisites_ok is False:
        bad = next(x for x in p.prerequisites if x.ok is False)
        return Text(f"▲ {text.lstrip('✔ ')} · {bad.short}", style="yellow")
    return Text(text, style="green")


def plan_items(views: Sequence[d.AccountView]) -> list[Item]:
    """The plans pane: one row per AWS account, a cell per plan (payload: its AccountView)."""
    items = []
    for v in views:
        p = v.plans  # every plan, in the order of tui.core.model.PLANS (the columns' order)
        plan_cells = [_plan_cell(pv) for pv in p.values()]
        cells = (v.aws_account_id, *plan_cells)
        prereq_bad = any(x.prerequisites_ok is False for x in p.values())
        items.append(Item(key=v.aws_account_id, cells=cells,
                          fields={"account": v.aws_account_id, "status": "prereq-failed" if prereq_bad else "ok"},
                          text=" ".join([v.aws_account_id, *(c.plain for c in plan_cells)]) + f" {v.name}",
                          payload=v))
    return items


# ----------------------------------------------------------------------------------------------- onboarding

def onboarding_items(views: Sequence[d.AccountView]) -> tuple[list[Item], str]:
    """The onboarding pane: one row per account and region (one per account whose AWS side is unreadable; payload:
    a RegionStuck), and the summary line under the table (stuck instances by reason)."""
    items = []
    reasons: dict[str, int] = {}
    by_name = 0
    for v in views:
        f = v.onboarding
        if f is None:
            continue
        by_name += f.arc_matched_by_name
        for s in f.stuck:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        stuck_by_region: dict[str | None, list[d.StuckInstance]] = {}
        for s in f.stuck:
            stuck_by_region.setdefault(s.region, []).append(s)
        if f.ec2_total is None:
            items.append(Item(
                key=f"{v.aws_account_id}/?", cells=(v.aws_account_id, Text("? AWS unreadable", style="yellow"),
                                                     "?", Text("? (enter: why)", style="yellow"),
                                                     f"{'?' * 10} {f.arc_connected:>4}",
                                                     Text(str(len(f.stuck)), style="yellow" if f.stuck else "")),
                fields={"account": v.aws_account_id, "status": "unreadable"},
                text=f"{v.aws_account_id} {v.name} {f.aws_error}",
                payload=RegionStuck(v, None, tuple(f.stuck))))
            continue
        for r in f.regions:
            st = stuck_by_region.get(r.region, [])
            # ≈: some of these Arc machines carry no MDC tags and were matched to their instance by name
            named = any(s.matched_by == "name" for s in st) or r.arc_matched_by_name > 0
            items.append(Item(
                key=f"{v.aws_account_id}/{r.region}",
                cells=(v.aws_account_id, r.region, str(r.ec2_total),
                       f"{bar(r.ssm_online, r.ec2_total)} {r.ssm_online:>4}",
                       f"{bar(r.arc_connected, r.ec2_total)} {r.arc_connected:>3}≈" if named else
                       f"{bar(r.arc_connected, r.ec2_total)} {r.arc_connected:>4}",
                       (Text(str(len(st)), style="yellow" if st else "green") if f.arc_expected
                        else Text("–", style="dim"))),
                fields={"account": v.aws_account_id, "region": r.region,
                        "status": "stuck" if st else "ok", "type": "matched-by-name" if named else ""},
                text=f"{v.aws_account_id} {v.name} {r.region} " + " ".join(sorted({s.reason for s in st}))
                + (" matched by name" if named else ""),
                payload=RegionStuck(v, r.region, tuple(st))))
    total = sum(reasons.values())
    summary = f"stuck {total}: " + " · ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
    summary = summary if total else "nothing stuck"
    if by_name:
        summary += f" · ≈ {by_name} Arc machine(s) without MDC tags matched to EC2 by computer name"
    return items, summary


# ----------------------------------------------------------------------------------------------- compliance

def trend_arrow(points: Sequence[float | None]) -> str:
    vals = [p for p in points if p is not None]
    if len(vals) < 2:
        return "·"
    delta = vals[-1] - vals[-2]
    return "↗" if delta > 0.05 else "↘" if delta < -0.05 else "→"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(points: Sequence[float | None], width: int = 12) -> str:
    vals = [p for p in points if p is not None][-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(7, int((v - lo) / span * 7))] for v in vals)


def compliance_items(standards: Sequence[m.ComplianceStandard],
                     trends: dict[str, list[float | None]]) -> list[Item]:
    """The compliance pane: one row per standard with its score and trend (payload: the ComplianceStandard)."""
    from tui.core.derive import compliance_percent

    items = []
    for s in standards:
        pct = compliance_percent(s)
        pts = trends.get(s.name, [])
        score = f"{bar(s.passed_controls, s.passed_controls + s.failed_controls)} " + \
                (f"{pct:>5.1f}%" if pct is not None else "  n/a")
        trend = f"{trend_arrow(pts)} {sparkline(pts, 4)}" if len([p for p in pts if p is not None]) > 1 else "·"
        # shown as Azure names it (the JSON's key); found (filter, :compliance) by the portal's spelling too
        both = f"{s.name} {s.display_name}"
        items.append(Item(key=s.name, cells=(s.name, score, str(s.passed_controls),
                                             str(s.failed_controls), str(s.skipped_controls),
                                             str(s.unsupported_controls), trend),
                          fields={"std": both}, text=both, payload=s))
    return items


def name_words(text: str) -> str:
    """A standard's name (or a part of one) as lower-case words: dashes, underscores and spaces alike."""
    return " ".join(re.split(r"[\s_-]+", text.lower())).strip()


def standards_matching(standards: Sequence[m.ComplianceStandard], text: str) -> list[m.ComplianceStandard]:
    """The standards whose name holds `text` (`:compliance cloud security`), dashes, underscores and spaces alike
    and without case: any standard, by any part of its name."""
    needle = name_words(text)
    return [s for s in standards if needle and needle in name_words(s.name)]


# ----------------------------------------------------------------------------------------------- recommendations

def rec_cells(r: m.Recommendation) -> tuple[Any, ...]:
    """A recommendation's cells in the recommendations pane: severity, title, resource, account, region, status."""
    sev = Text(SEV_GLYPH.get(r.severity, r.severity), style=SEV_STYLE.get(r.severity, ""))
    status = Text("✖ unhealthy", style="red") if r.status == "Unhealthy" else (
        Text("✔ healthy", style="green") if r.status == "Healthy" else Text("· n/a", style="dim"))
    account = r.aws_account_id or Text("unattributed", style="dim")
    return (sev, r.title, r.resource_name or "", account, r.region or "", status)
