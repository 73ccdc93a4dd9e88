"""What the app's workers post to the app: plain data, no work in a constructor (derivations are made in the worker
that posts, off the UI loop). Textual's Message initialises a dataclass through ``__post_init__``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # not on the way to the first frame
    from tui.core import derive as d
    from tui.core import model as m
    from tui.core.tablequery import Index


@dataclass
class SnapshotLoaded(Message):
    """A snapshot with what the panes show of it (AccountViews and the organizations' roll-up), derived in the
    worker that read it. ``from_history``: the last one saved, shown until a collection answers."""

    snap: m.Snapshot
    views: list[d.AccountView]
    rollup: dict[str, d.OrgRollup]
    from_history: bool = False
    trends: dict[str, list[float | None]] = field(default_factory=dict)  # compliance % per standard, oldest first


@dataclass
class RecsLoaded(Message):
    """The recommendations with their query index (built in the worker), or the error that kept them away."""

    rows: list[m.Recommendation] | None
    index: Index | None
    error: str | None
    as_of: datetime
    load: int = 0  # which fetch (tui.app.MdcApp._start_recs counts them)


@dataclass
class RecsProgress(Message):
    """How far the recommendations' fetch is: ``rows`` arrived of ``total`` (None: not announced), or
    ``phase`` "index" once they are all in and the worker indexes them. ``load``: which fetch (a late message of an
    earlier one is dropped). Posted at most a few times a second (tui.core.progress.Throttle)."""

    rows: int
    total: int | None
    load: int
    phase: str = "fetch"


@dataclass
class Booted(Message):
    """The service is ready (``error`` None), or why it could not start (one line)."""

    error: str | None


def derived(snap: m.Snapshot, from_history: bool = False,
            trends: dict[str, list[float | None]] | None = None) -> SnapshotLoaded:
    """The message for ``snap``, its derivations made here (call it in a worker: 0.1-1 s for 200 accounts)."""
    from tui.core import derive as d

    cd = snap.data("connectors")
    return SnapshotLoaded(snap, d.account_views(snap), d.org_rollup(cd.connectors) if cd else {}, from_history,
                          trends or {})
