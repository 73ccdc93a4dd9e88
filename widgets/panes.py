"""The five dashboard panes. Each takes plain derived data (tui.core.derive views, models) and renders it.

Every pane draws with the Line-API VirtualTable. Accounts, plans, onboarding and compliance are hundreds of rows at
most: filtered and sorted here. Recommendations can be 100k rows: filtered and sorted by tui.core.tablequery.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from .pane import Pane
from .virtual_table import Column, VirtualTable

if TYPE_CHECKING:  # imported where used: the dashboard's first frame (rows from its cached view) needs neither
    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.tablequery import Index

SEV_GLYPH = {"High": "● High", "Medium": "◐ Med", "Low": "○ Low"}
SEV_STYLE = {"High": "bold red", "Medium": "yellow", "Low": "dim"}


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


def sort_value(cell: Any) -> tuple[int, Any]:
    """A cell as a sort key: a number (``"12"``, ``"████░░ 42"``, ``"87.5%"``) by value, before any text; text
    without case."""
    text = cell.plain if isinstance(cell, Text) else ("" if cell is None else str(cell))
    num = _NUMBER_CELL.fullmatch(text.strip())
    if num is not None:
        return (0, float(num.group(1)))
    return (1, text.casefold())


def table_columns(columns: Sequence[tuple[str, int | None]]) -> list[Column]:
    """(label, width) pairs as VirtualTable columns: leftmost matter most (a narrow table drops from the right)."""
    n = len(columns)
    return [Column(label, label, width=width, min_width=None if width is None else min(width, max(3, len(label))),
                   priority=n - i)
            for i, (label, width) in enumerate(columns)]


def sort_items(items: Sequence[Item], columns: Sequence[tuple[str, int | None]], column: str,
               descending: bool) -> list[Item]:
    """``items`` sorted by the cells of ``column`` (a label of ``columns``), numbers by value."""
    col = [label for label, _ in columns].index(column)
    return sorted(items, key=lambda it: sort_value(it.cells[col]), reverse=descending)


_NUMBER_CELL = re.compile(r"[█░·\s]*(-?\d+(?:\.\d+)?)%?")


class TablePane(Pane):
    """A pane over a VirtualTable of Items (one table widget for every pane: the stock DataTable costs ~15 ms more
    on the first frame for a dozen rows), filtered with the k9s-style language, sorted by any column with s / S."""

    columns: ClassVar[tuple[tuple[str, int | None], ...]] = ()

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.items: list[Item] = []
        self.shown: list[Item] = []
        self.sort_column: str | None = None  # None: the order the data came in
        self.descending = False

    def compose_body(self) -> ComposeResult:
        yield VirtualTable(table_columns(self.columns), empty_text="nothing yet", classes="pane--table")

    def on_mount(self) -> None:
        if self.items:
            self.render_rows()
        self.after_mount()

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def set_items(self, items: list[Item]) -> None:
        """New rows. Unchanged rows cost nothing; a pane that is not on screen renders when it is shown."""
        if [(i.key, i.cells) for i in items] == [(i.key, i.cells) for i in self.items]:
            # same rows on screen: only the payloads behind them (for the detail screens) are refreshed
            by_key = {it.key: it for it in items}
            self.items, self.shown = items, [by_key.get(it.key, it) for it in self.shown]
            return
        self.items = items
        if self.is_displayed():
            self.render_rows()
        else:
            self.dirty = True

    def is_displayed(self) -> bool:
        if not self._ready:
            return False
        return bool(self.display) and not (self.has_class("pane") and self.screen.has_class("-narrow")
                                           and not self.has_class("-active"))

    def render_if_dirty(self) -> None:
        if getattr(self, "dirty", False) and self._ready:
            self.dirty = False
            self.render_rows()

    def render_rows(self) -> None:
        from tui.core.tablequery import Index, parse_filter  # here: not on the way to the first frame

        f = parse_filter(self.filter_text) if self.filter_text else None
        if f is not None and not f.is_empty:
            ix = Index(self.items, fields={k: (lambda it, k=k: it.fields.get(k)) for k in
                                           ("sev", "status", "account", "region", "type", "std")},
                       text=[lambda it: it.text])
            shown = ix.rows_at(ix.filter(f))
        else:
            shown = list(self.items)
        if self.sort_column is not None:
            shown = sort_items(shown, self.columns, self.sort_column, self.descending)
        self.shown = shown
        t = self.table
        t.empty_text = f"no rows match /{self.filter_text}" if self.filter_text else "nothing here"
        t.set_rows([it.cells for it in shown], keys=[it.key for it in shown])
        self.count_text = (f"{len(self.shown)} of {len(self.items)}" if len(self.shown) != len(self.items)
                           else str(len(self.items)))
        self.refresh_title()

    def on_virtual_table_sort_requested(self, event: VirtualTable.SortRequested) -> None:
        event.stop()
        self.sort_column, self.descending = event.column_key, event.descending
        self.table.set_sort(self.sort_column, self.descending)
        self.render_rows()

    def focus_body(self) -> None:
        if self._ready:
            self.table.focus()

    def selection(self) -> Any:
        if not self._ready:
            return None
        t = self.table
        if not self.shown or t.cursor_row >= len(self.shown):
            return None
        return self.shown[t.cursor_row].payload


# ----------------------------------------------------------------------------------------------- accounts

ORG_SHORT = {"management": "mgmt", "member": "member", "single": "·"}


class AccountsPane(TablePane):
    title_text = "Accounts"
    view_name = "accounts"
    cadence_hint = "connectors change only when someone edits them"
    columns = (("ACCOUNT", 12), ("NAME", 16), ("KIND", 16), ("ORG", 8), ("RGN", 3), ("SCAN", 4), ("HEALTH", 10))

    def show(self, views: list[d.AccountView], rollup: dict[str, dict[str, Any]]) -> None:
        from tui.core.derive import CLASSIC_HEALTH

        items = []
        for v in views:
            kinds = v.kinds
            if v.duplicate_classic_native:
                kind = Text("native+classic ▲", style="yellow")
            elif kinds == ("classic",):
                kind = Text("classic·retired", style="yellow")
            else:
                kind = "native"
            org = ORG_SHORT.get(v.organization_role, v.organization_role)
            if v.organization_role == "management" and v.aws_account_id in rollup:
                org = f"mgmt {len(rollup[v.aws_account_id]['members_present'])}m"
            regions = sorted({r for c in v.connectors for r in c.regions})
            scan = next((c.scan_interval_hours for c in v.connectors if c.scan_interval_hours), None)
            # a classic connector is retired (no data since 2023-09-15): its stale provisioning state says nothing
            bad = [c for c in v.connectors if c.kind != "classic" and c.health not in ("ok", "Valid")]
            health = Text(f"✖ {bad[0].health}", style="red") if bad else Text("✔ ok", style="green")
            status = health.plain
            if v.classic_only:
                health, status = Text("▲ migrate", style="yellow"), CLASSIC_HEALTH
            elif v.duplicate_classic_native and not bad:
                health = Text("▲ dup recs", style="yellow")
                status = health.plain
            items.append(Item(
                key=v.aws_account_id,
                cells=(v.aws_account_id, v.name or "", kind, org, str(len(regions)) if regions else "all",
                       f"{scan}h" if scan else "·", health),
                fields={"account": v.aws_account_id, "region": " ".join(regions), "type": " ".join(kinds),
                        "status": status},
                text=f"{v.aws_account_id} {v.name} {' '.join(kinds)} {v.organization_role} {status}",
                payload=v))
        self.set_items(items)


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


class PlansPane(TablePane):
    title_text = "Plans"
    view_name = "plans"
    cadence_hint = "plans change only when someone edits the connector"
    columns = (("ACCOUNT", 12), ("CSPM", 4), ("DCSPM", 5), ("SERVERS", 24), ("CONTAINERS", 10), ("DATABASES", 9))

    def show(self, views: list[d.AccountView]) -> None:
        items = []
        for v in views:
            p = v.plans
            cells = (v.aws_account_id, _plan_cell(p["cspm"]), _plan_cell(p["defender_cspm"]),
                     _plan_cell(p["servers"]), _plan_cell(p["containers"]), _plan_cell(p["databases"]))
            prereq_bad = any(x.prerequisites_ok is False for x in p.values())
            items.append(Item(key=v.aws_account_id, cells=cells,
                              fields={"account": v.aws_account_id, "status": "prereq-failed" if prereq_bad else "ok"},
                              text=" ".join(c if isinstance(c, str) else c.plain for c in cells) + f" {v.name}",
                              payload=v))
        self.set_items(items)


# ----------------------------------------------------------------------------------------------- onboarding

class OnboardingPane(TablePane):
    title_text = "Onboarding EC2 → SSM → Arc"
    view_name = "arc"
    cadence_hint = "MDC discovers new EC2 instances every hour (whatever the scan interval)"
    columns = (("ACCOUNT", 12), ("REGION", 14), ("EC2", 4), ("SSM", 15), ("ARC", 15), ("STUCK", 5))

    summary = ""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Static(self.summary, classes="onboarding--summary")

    DEFAULT_CSS = """
    OnboardingPane > .onboarding--summary { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    OnboardingPane > VirtualTable { height: 1fr; }
    """

    def show(self, views: list[d.AccountView]) -> None:
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
                    payload=(v, None, list(f.stuck))))
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
                    payload=(v, r.region, st)))
        self.set_items(items)
        total = sum(reasons.values())
        summary = f"stuck {total}: " + " · ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
        summary = summary if total else "nothing stuck"
        if by_name:
            summary += f" · ≈ {by_name} Arc machine(s) without MDC tags matched to EC2 by computer name"
        self.set_summary(summary)

    def set_summary(self, text: str) -> None:
        self.summary = text
        found = self.query_children(".onboarding--summary") if self._ready else None
        if found:  # none while the pane leaves the DOM (a late result as the app quits)
            found.first(Static).update(self.summary)


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


class CompliancePane(TablePane):
    title_text = "Compliance"
    view_name = "compliance"
    cadence_hint = "Azure recomputes compliance about every 4-12 h"
    # UNSUP: controls Unsupported everywhere (their own state: never counted as skipped)
    columns = (("STANDARD", 31), ("SCORE", 17), ("PASS", 4), ("FAIL", 4), ("SKIP", 4), ("UNSUP", 5), ("TREND", 6))

    def show(self, standards: Sequence[m.ComplianceStandard], trends: dict[str, list[float | None]]) -> None:
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
        self.set_items(items)


def name_words(text: str) -> str:
    """A standard's name (or a part of one) as lower-case words: dashes, underscores and spaces alike."""
    return " ".join(re.split(r"[\s_-]+", text.lower())).strip()


def standards_matching(standards: Sequence[m.ComplianceStandard], text: str) -> list[m.ComplianceStandard]:
    """The standards whose name holds `text` (`:compliance cloud security`), dashes, underscores and spaces alike
    and without case: any standard, by any part of its name."""
    needle = name_words(text)
    return [s for s in standards if needle and needle in name_words(s.name)]


# ----------------------------------------------------------------------------------------------- recommendations

REC_COLUMNS = (
    Column("severity", "SEV", width=6, priority=9),
    Column("title", "TITLE", width=None, min_width=20, priority=10),
    Column("resource", "RESOURCE", width=22, priority=6),
    Column("account", "ACCOUNT", width=12, priority=8),
    Column("region", "REGION", width=14, priority=4),
    Column("status", "STATUS", width=11, priority=7),
)



class RecommendationsPane(Pane):
    title_text = "Recommendations"
    view_name = "recs"
    cadence_hint = "MDC reassesses AWS resources at each connector scan (4-24 h)"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rows: list[m.Recommendation] = []
        self.index: Index | None = None
        self.shown: list[m.Recommendation] = []
        self.sort_key = "severity"
        self.descending = False
        self.unhealthy = 0
        self.unattributed = 0  # rows without an AWS account (no connector, no Arc machine with a known account)
        self.fixed_filter = ""
        self.filter_text = "status:unhealthy"  # what needs doing first; esc clears it

    def compose_body(self) -> ComposeResult:
        yield VirtualTable(REC_COLUMNS, empty_text="loading recommendations…", classes="pane--vtable")

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def on_mount(self) -> None:
        self.table.set_sort(self.sort_key, self.descending)
        if self.index is not None:
            self.render_rows()
        self.after_mount()

    def set_rows(self, rows: list[m.Recommendation], index: Index | None = None) -> None:
        self.rows = rows
        self.unhealthy = sum(1 for r in rows if r.status == "Unhealthy")
        self.unattributed = sum(1 for r in rows if not r.aws_account_id)
        if index is None:
            from tui.core.rectable import make_index

            index = make_index(rows)
        self.index = index
        if self._ready:
            self.render_rows()

    def render_rows(self) -> None:
        if self.index is None:
            return
        from tui.core.rectable import SORT_KEYS
        from tui.core.tablequery import parse_filter

        expr = " ".join(x for x in (self.fixed_filter, self.filter_text) if x)
        f = parse_filter(expr) if expr else None
        idx = self.index.query(f, sort_key=SORT_KEYS[self.sort_key], descending=self.descending)
        rows = self.rows
        self.shown = [rows[i] for i in idx]
        t = self.table
        t.empty_text = f"no rows match /{expr}" if expr else "no AWS recommendations"
        t.set_rows(LazyCells(self.shown, rec_cells), keys=[r.id for r in self.shown])
        self.count_text = f"{self.unhealthy:,} unhealthy of {len(rows):,}"
        if self.unattributed:  # AWS findings no account could be found for: counted, never dropped
            self.count_text += f" · {self.unattributed:,} unattributed"
        if expr and len(self.shown) != self.unhealthy:
            self.count_text += f" · {len(self.shown):,} shown"
        self.refresh_title()

    def on_virtual_table_sort_requested(self, event: VirtualTable.SortRequested) -> None:
        event.stop()
        self.sort_key, self.descending = event.column_key, event.descending
        self.table.set_sort(self.sort_key, self.descending)
        self.render_rows()

    def focus_body(self) -> None:
        if self._ready:
            self.table.focus()

    def selection(self) -> Any:
        if not self._ready:
            return None
        t = self.table
        if not self.shown:
            return None
        return self.shown[min(t.cursor_row, len(self.shown) - 1)]


class LazyCells(Sequence[tuple[Any, ...]]):
    """Rows' cells made only when the table draws them: a filter over 100k rows must not build 100k cell tuples."""

    def __init__(self, rows: Sequence[Any], make: Callable[[Any], tuple[Any, ...]]) -> None:
        self.rows, self.make = rows, make
        self._cache: dict[int, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self.rows)))]
        if i < 0:
            i += len(self.rows)
        c = self._cache.get(i)
        if c is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            c = self._cache[i] = self.make(self.rows[i])
        return c


def rec_cells(r: m.Recommendation) -> tuple[Any, ...]:
    sev = Text(SEV_GLYPH.get(r.severity, r.severity), style=SEV_STYLE.get(r.severity, ""))
    status = Text("✖ unhealthy", style="red") if r.status == "Unhealthy" else (
        Text("✔ healthy", style="green") if r.status == "Healthy" else Text("· n/a", style="dim"))
    account = r.aws_account_id or Text("unattributed", style="dim")
    return (sev, r.title, r.resource_name or "", account, r.region or "", status)


PANE_TYPES: tuple[type[Pane], ...] = (AccountsPane, PlansPane, OnboardingPane, RecommendationsPane, CompliancePane)
