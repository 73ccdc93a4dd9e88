"""The recommendations table's data: its sort keys, filter fields and every sort order, prepared away from the UI.

A refresh of a 100k-row estate must not cost the UI thread anything it can feel: the orders (a stable sort of 100k
rows each) are computed where the rows are fetched (the collector process, or the service thread) and handed over
as compact ``array('I')`` of row positions; the pane's :class:`~tui.core.tablequery.Index` adopts them.

Never imports textual or rich.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import model as m
from .tablequery import Index, _order

_SEV_RANK = {"High": 0, "Medium": 1, "Low": 2}

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

    def add(self, rows: Sequence[m.Recommendation]) -> None:
        same = self._same
        for name, key in SORT_KEYS.items():
            self.columns[name].extend(same.setdefault(v, v) for v in map(key, rows))
        self.n += len(rows)

    def orders(self) -> dict[tuple[str, bool], array]:
        """Every column's order in both directions, as ``array('I')`` (4 bytes a row, against ~36 for a list)."""
        out: dict[tuple[str, bool], array] = {}
        for name, vals in self.columns.items():
            for desc in (False, True):
                out[(name, desc)] = array("I", _order(vals, desc))
        return out


def make_index(rows: Sequence[m.Recommendation], orders: dict[tuple[str, bool], array] | None = None) -> Index:
    """The pane's index over ``rows``; ``orders`` (from :func:`compute_orders` over the same rows) are adopted."""
    ix = Index(rows, fields=FIELDS, text=TEXT)
    for (name, desc), order in (orders or {}).items():
        key = SORT_KEYS.get(name)
        if key is not None and len(order) == len(rows):
            ix.adopt_order(key, desc, order)
    return ix
