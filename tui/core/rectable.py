"""The recommendations table's data: its sort keys, filter fields and every sort order, prepared away from the UI.

A refresh of a 100k-row (up to 1M-row) estate must not cost the UI thread anything it can feel: the orders (a
stable sort of every row each) are computed where the rows are fetched (the collector process, or the service
thread) and handed over as compact ``array('I')`` of row positions, with the filter's columns (per attribute its
distinct values and one 1-4 byte code per row; a wide column's rows also grouped by value): :class:`Orders`. The
pane's :class:`~tui.core.tablequery.Index` adopts them, so the UI process never reads every row to filter or sort.

Never imports textual or rich.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
import operator
from itertools import accumulate
from operator import attrgetter
from typing import Any, Callable, Sequence

from . import model as m
from .tablequery import Index, _order

_SEV_RANK = {"High": 0, "Medium": 1, "Low": 2}
_CAP = {"B": 256, "H": 65536, "I": 2**32}
_GROUPED = 2048  # past this many distinct values a column's rows are grouped by value (see _groups)

#: Column key of the recommendations table -> sort key of a row (module-level functions: the same object in every
#: process, so an order computed elsewhere is found under the key the pane sorts by).


def _by_severity(r: m.Recommendation) -> int:
    return _SEV_RANK.get(r.severity, 3)


def _by_title(r: m.Recommendation) -> str:
    return r.title.lower()


def _by_resource(r: m.Recommendation) -> str:
    return (r.resource_name or "").lower()


def _by_account(r: m.Recommendation) -> str:
    return r.aws_account_id or ""


def _by_region(r: m.Recommendation) -> str:
    return r.region or ""


def _by_status(r: m.Recommendation) -> str:
    return r.status


SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    "severity": _by_severity,
    "title": _by_title,
    "resource": _by_resource,
    "account": _by_account,
    "region": _by_region,
    "status": _by_status,
}

FIELDS = {"sev": "severity", "status": "status", "account": "aws_account_id", "region": "region",
          "type": "resource_type"}
TEXT = ["title", "resource_name", "aws_account_id", "region", "assessment_key"]


#: Row attributes the filter reads (FIELDS' and TEXT's): their columns are built where the rows are fetched
COLUMNS = tuple(dict.fromkeys([*FIELDS.values(), *TEXT]))


class Orders(dict[tuple[str, bool], array]):
    """Every sort order (``orders[(column key, descending)]`` = row positions) and, in ``columns``, the filter's
    columns: ``columns[attribute] = (distinct values, one code per row)``, codes ``array`` of 1, 2 or 4 bytes.
    A dict (what the pane adopted before the columns existed), so a reader that knows only orders still works."""

    columns: dict[str, tuple[list[Any], array, tuple[array, array] | None]]

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.columns = {}


@dataclass
class RecTable:
    """Recommendation rows plus their sort orders: ``orders[(column key, descending)]`` = row positions."""

    rows: list[m.Recommendation]
    orders: dict[tuple[str, bool], array] = field(default_factory=dict)


class OrderBuilder:
    """Sort keys collected as rows stream past (the rows themselves need not be kept), then every order.

    Per row it keeps one value per column; equal values are one object (a lower-cased title is made once per
    distinct title, not once per row), so 100k rows cost ~15 MB here."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in SORT_KEYS}
        self._same: dict[Any, Any] = {}
        self.n = 0
        # the filter's columns: per attribute, its distinct values (code = position) and one code per row
        self._codes: dict[str, dict[Any, int]] = {a: {} for a in COLUMNS}
        self._coded: dict[str, array] = {a: array("B") for a in COLUMNS}

    def add(self, rows: Sequence[m.Recommendation]) -> None:
        same = self._same
        for name, key in SORT_KEYS.items():
            self.columns[name].extend(same.setdefault(v, v) for v in map(key, rows))
        for attr in COLUMNS:
            get = attrgetter(attr)
            code_of = self._codes[attr]
            for v in dict.fromkeys(map(get, rows)):
                if v not in code_of:
                    code_of[v] = len(code_of)
            arr = self._coded[attr]
            if len(code_of) > _CAP[arr.typecode]:  # 256 values fit one byte, 65536 two
                arr = self._coded[attr] = array("H" if len(code_of) <= 65536 else "I", arr)
            arr.extend(map(code_of.__getitem__, map(get, rows)))
        self.n += len(rows)

    def orders(self) -> Orders:
        """Every column's order in both directions, as ``array('I')`` (4 bytes a row, against ~36 for a list),
        with the filter's columns (``Orders.columns``). The builder is spent afterwards: each column's sort keys
        and codes are let go as soon as what they make is made (the collector never holds both at 100k+ rows)."""
        out = Orders()
        for name in list(self.columns):
            vals = self.columns.pop(name)
            for desc in (False, True):
                out[(name, desc)] = array("I", _order(vals, desc))
            del vals
        self._same.clear()
        for attr in COLUMNS:
            values = list(self._codes.pop(attr))
            codes = self._coded.pop(attr)
            out.columns[attr] = (values, codes, _groups(codes, len(values)))
        return out


def _groups(codes: array, distinct: int) -> tuple[array, array] | None:
    """For a column of many distinct values (resource names: ~80k at 1M rows), its rows grouped by code: (row
    positions, where each code's rows start); a free-text term then touches only the rows it matches. None for
    few values (one or two bytes a code: bytes.translate does those at C speed)."""
    if distinct <= _GROUPED:
        return None
    counts = [0] * (distinct + 1)
    for c in codes:
        counts[c + 1] += 1
    starts = array("I", accumulate(counts))
    # each row to its code's next free place (no list of 1M positions: ~70 MB for a moment in the collector)
    perm = array("I", bytes(4 * len(codes)))
    free = array("I", starts)
    for i, c in enumerate(codes):
        perm[free[c]] = i
        free[c] += 1
    return perm, starts


def make_index(rows: Sequence[m.Recommendation], orders: dict[tuple[str, bool], array] | None = None) -> Index:
    """The pane's index over ``rows``; ``orders`` (from :meth:`OrderBuilder.orders` over the same rows) are
    adopted: each order checked the first time it is used, the filter's columns (``Orders.columns``) when they
    fit the rows (one code per row, each naming one of the values)."""
    ix = Index(rows, fields=FIELDS, text=TEXT)
    for (name, desc), order in (orders or {}).items():
        key = SORT_KEYS.get(name)
        if key is not None and len(order) == len(rows):
            ix.adopt_order(key, desc, order, check="lazy")
    for attr, (values, codes, groups) in (getattr(orders, "columns", None) or {}).items():
        if attr in COLUMNS:
            ix.adopt_column(attr, values, codes, groups)
    return ix


def unhealthy_and_unattributed(rows: Sequence[m.Recommendation], index: Index | None) -> tuple[int, int]:
    """Rows whose status is Unhealthy, and rows without an AWS account: from the index's columns when it has
    them (no row is read), else by reading every row."""
    if index is not None:
        bad = index.count("status", lambda v: v == "Unhealthy")
        none = index.count("aws_account_id", operator.not_)
        if bad is not None and none is not None:
            return bad, none
    return (sum(1 for r in rows if r.status == "Unhealthy"), sum(1 for r in rows if not r.aws_account_id))
