"""The five dashboard panes: each displays the rows tui.render.rows builds from derived data (tui.core.derive
views, models).

Every pane draws with the Line-API VirtualTable. Accounts, plans, onboarding and compliance are hundreds of rows at
most: filtered and sorted here. Recommendations can be 100k rows: filtered and sorted by tui.core.tablequery.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Sequence

from textual.app import ComposeResult
from textual.widgets import Static

from tui.render.rows import (ACCOUNT_COLUMNS, COMPLIANCE_COLUMNS, ONBOARDING_COLUMNS, PLAN_COLUMNS, Columns, Flex, Item,
                             account_columns, account_items, compliance_items, onboarding_items, plan_items,
                             rec_cells, sort_items)

from .pane import Pane
from .virtual_table import Column, VirtualTable

if TYPE_CHECKING:  # imported where used: the dashboard's first frame (rows from its cached view) needs neither
    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.tablequery import Index


def table_columns(columns: Sequence[tuple[str, int | None]]) -> list[Column]:
    """(label, width) pairs as VirtualTable columns: leftmost matter most (a narrow table drops from the right); a
    `Flex` width (or None) is the flexible column: at least that wide, it takes the width the others leave free."""
    n = len(columns)
    out = []
    for i, (label, width) in enumerate(columns):
        if width is None or isinstance(width, Flex):
            out.append(Column(label, label, width=None, min_width=None if width is None else int(width),
                              priority=n - i))
        else:
            out.append(Column(label, label, width=width, min_width=min(width, max(3, len(label))), priority=n - i))
    return out


class TablePane(Pane):
    """A pane over a VirtualTable of Items (one table widget for every pane: the stock DataTable costs ~15 ms more
    on the first frame for a dozen rows), filtered with the k9s-style language, sorted by any column with s / S."""

    columns: Columns = ()  # a pane whose columns depend on its rows (accounts: TENANT) sets its own

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
        f = None
        if self.filter_text:  # the query engine only with a filter: ~3 ms of imports the first frame does without
            from tui.core.tablequery import Index, parse_filter

            f = parse_filter(self.filter_text)
        if f is not None and not f.is_empty:
            ix = Index(self.items, fields={k: partial(_item_field, k) for k in
                                           ("sev", "status", "account", "region", "type", "std", "tenant")},
                       text=[_item_text])
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

class AccountsPane(TablePane):
    title_text = "Accounts"
    view_name = "accounts"
    cadence_hint = "connectors change only when someone edits them"
    columns = ACCOUNT_COLUMNS

    def show(self, views: list[d.AccountView], rollup: dict[str, d.OrgRollup]) -> None:
        self.set_items(account_items(views, rollup))

    def set_items(self, items: list[Item]) -> None:
        """New rows; a TENANT column comes and goes with them (more than one tenant in view)."""
        cols = account_columns(items)
        if cols != self.columns:
            self.columns = cols
            if self.sort_column is not None and self.sort_column not in [label for label, _ in cols]:
                self.sort_column = None
            for table in self.query(VirtualTable):  # none before compose: it is composed with these columns
                table.set_columns(table_columns(cols))
            self.items = []  # the cells' layout changed: render every row again
        super().set_items(items)


# ----------------------------------------------------------------------------------------------- plans

class PlansPane(TablePane):
    title_text = "Plans"
    view_name = "plans"
    cadence_hint = "plans change only when someone edits the connector"
    columns = PLAN_COLUMNS

    def show(self, views: list[d.AccountView]) -> None:
        self.set_items(plan_items(views))


# ----------------------------------------------------------------------------------------------- onboarding

class OnboardingPane(TablePane):
    title_text = "Onboarding EC2 → SSM → Arc"
    view_name = "arc"
    cadence_hint = "MDC discovers new EC2 instances every hour (whatever the scan interval)"
    columns = ONBOARDING_COLUMNS

    summary = ""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Static(self.summary, classes="onboarding--summary")

    DEFAULT_CSS = """
    OnboardingPane > .onboarding--summary { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    OnboardingPane > VirtualTable { height: 1fr; }
    """

    def show(self, views: list[d.AccountView]) -> None:
        items, summary = onboarding_items(views)
        self.set_items(items)
        self.set_summary(summary)

    def set_summary(self, text: str) -> None:
        self.summary = text
        self._show_summary()

    def after_mount(self) -> None:
        # a summary given between this pane's compose (lazy, after the first frame) and its mount was not drawn yet
        self._show_summary()
        super().after_mount()

    def _show_summary(self) -> None:
        found = self.query_children(".onboarding--summary")
        if found:  # none before compose, and while the pane leaves the DOM (a late result as the app quits)
            found.first(Static).update(self.summary)


# ----------------------------------------------------------------------------------------------- compliance

class CompliancePane(TablePane):
    title_text = "Compliance"
    view_name = "compliance"
    cadence_hint = "Azure recomputes compliance about every 4-12 h"
    columns = COMPLIANCE_COLUMNS

    def show(self, standards: Sequence[m.ComplianceStandard], trends: dict[str, list[float | None]]) -> None:
        self.set_items(compliance_items(standards, trends))


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
        self.rows: Sequence[m.Recommendation] = []
        self.index: Index | None = None
        self.shown: Sequence[m.Recommendation] = []  # the rows drawn, in order: a view, never a copy of them
        self._key_rows: dict[str, int] = {}  # recommendation id -> its position in rows, for ids asked lately
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

    def set_rows(self, rows: Sequence[m.Recommendation], index: Index | None = None) -> None:
        from tui.core.rectable import make_index, unhealthy_and_unattributed

        self.rows = rows
        if index is None:
            index = make_index(rows)
        self.index = index
        self._key_rows = {}
        # from the index's columns when it has them: reading 1M rows costs ~0.5 s of the UI loop
        self.unhealthy, self.unattributed = unhealthy_and_unattributed(rows, index)
        if self._ready:
            self.render_rows()

    def render_rows(self) -> None:
        if self.index is None:
            return
        from tui.core.rectable import SORT_KEYS
        from tui.core.tablequery import parse_filter

        expr = " ".join(x for x in (self.fixed_filter, self.filter_text) if x)
        f = parse_filter(expr) if expr else None
        # positions, not rows: at 1M rows a list of the rows shown (and one of their ids) cost ~1 s to make
        idx = self.index.positions(f, sort_key=SORT_KEYS[self.sort_key], descending=self.descending)
        self.shown = RowsAt(self.rows, idx)
        t = self.table
        t.empty_text = f"no rows match /{expr}" if expr else "no AWS recommendations"
        t.set_rows(LazyCells(self.shown, rec_cells), keys=RecKeys(self.rows, idx, self._key_rows))
        self.count_text = f"{self.unhealthy:,} unhealthy of {len(self.rows):,}"
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


def _item_field(key: str, it: Item) -> Any:
    return it.fields.get(key)


def _item_text(it: Item) -> str:
    return it.text


class RowsAt(Sequence[Any]):
    """``rows[positions[i]]`` for each i: the rows shown, without a list of them."""

    def __init__(self, rows: Sequence[Any], positions: Sequence[int]) -> None:
        self.rows, self.positions = rows, positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i):  # untyped: Sequence's overloads (int and slice) in one body
        if isinstance(i, slice):
            rows = self.rows
            return [rows[p] for p in self.positions[i]]
        return self.rows[self.positions[i]]


class RecKeys(Sequence[str]):
    """The table's keys (recommendation ids) of the rows shown, each made when asked. ``index`` (where the cursor
    goes after a filter, a sort or a refresh) finds an id without making the others: through ``known`` (id ->
    position in rows, filled by the ids asked for: the cursor's) or one scan of the rows (a refresh)."""

    def __init__(self, rows: Sequence[Any], positions: Sequence[int], known: dict[str, int]) -> None:
        self.rows, self.positions, self.known = rows, positions, known

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i):  # untyped: Sequence's overloads (int and slice) in one body
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        p = self.positions[i]
        key = self.rows[p].id
        if len(self.known) > 256:
            self.known.clear()
        self.known[key] = p
        return key

    def index(self, key: Any, start: int = 0, stop: int | None = None) -> int:
        rows = self.rows
        p = self.known.get(key)
        if p is None or p >= len(rows) or rows[p].id != key:
            try:  # one pass in C over the rows' ids
                from operator import attrgetter, indexOf

                p = indexOf(map(attrgetter("id"), rows), key)
            except (ValueError, AttributeError):
                raise ValueError(f"{key!r} is not shown") from None
        pos = self.positions
        if start == 0 and stop is None:
            return pos.index(p)  # array / range / list: in C
        return pos.index(p, start, len(pos) if stop is None else stop)


class LazyCells(Sequence[tuple[Any, ...]]):
    """Rows' cells made only when the table draws them: a filter over 100k rows must not build 100k cell tuples."""

    def __init__(self, rows: Sequence[Any], make: Callable[[Any], tuple[Any, ...]]) -> None:
        self.rows, self.make = rows, make
        self._cache: dict[int, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # untyped: Sequence's overloads (int and slice) in one body
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

