"""History store: latest snapshot round-trips (marked stale), aggregates per run, one transaction per save."""
from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import timedelta, timezone

from tests.test_collect import FakeAws, FakeAzure
from tui.core.collect import Collector
from tui.core.history import History


def test_latest_round_trip_marked_stale(tmp_path) -> None:
    snap = asyncio.run(Collector(FakeAzure(), FakeAws()).collect())
    h = History.in_dir(tmp_path)
    assert h.latest() is None
    h.save(snap)
    back = h.latest()
    assert back is not None
    assert back.generated_at == snap.generated_at
    assert {s.status.status for s in back.sections.values()} == {"stale"}
    assert back.data("connectors") == snap.data("connectors")
    assert back.sections["compliance"].status.as_of == snap.sections["compliance"].status.as_of
    h.close()
    # WAL mode on disk
    assert sqlite3.connect(tmp_path / "history.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trend_points_only_from_fresh_sections(tmp_path) -> None:
    az = FakeAzure()
    col = Collector(az, FakeAws())
    h = History.in_dir(tmp_path)
    s1 = asyncio.run(col.collect())
    h.save(s1)
    from tui.core.errors import SourceError

    az.fail["compliance"] = SourceError("throttled")
    s2 = asyncio.run(col.collect())
    s2 = s2.__class__(s2.generated_at + timedelta(seconds=1), s2.subscriptions, s2.sections, s2.tenant_id)
    h.save(s2)
    pts = h.trend("compliance_pct", "AWS-CIS-1.2.0")
    assert len(pts) == 1 and abs(pts[0][1] - 66.7) < 0.1  # 10 passed of 15 assessed
    assert len(h.trend("unhealthy", "111111111111")) == 2
    assert h.runs() == 2


def test_corrupt_payload_is_ignored(tmp_path) -> None:
    h = History.in_dir(tmp_path)
    h._db.execute("INSERT INTO latest(slot, format, generated_at, payload) VALUES (1, 1, 'x', x'00ff')")
    assert h.latest() is None


def test_cached_view_only_while_it_shows_the_latest_snapshot(tmp_path) -> None:
    snap = asyncio.run(Collector(FakeAzure(), FakeAws()).collect())
    h = History.in_dir(tmp_path)
    assert h.latest_view("panes-1") is None
    h.save_view(snap.generated_at, "panes-1", b"v1")
    assert h.latest_view("panes-1") is None  # its snapshot is not the latest (there is none yet)
    h.save(snap)
    assert h.latest_view("panes-1") == b"v1"
    assert h.latest_view("panes-2") is None  # another front-end version's format
    newer = replace(snap, generated_at=snap.generated_at + timedelta(seconds=1))
    h.save(newer)  # e.g. `mdc-aws snapshot` from cron: the view now shows an older snapshot
    assert h.latest_view("panes-1") is None
    h.save_view(newer.generated_at.astimezone(timezone(timedelta(hours=2))), "panes-1", b"v2")  # same instant
    assert h.latest_view("panes-1") == b"v2"
    h.close()
    assert History.in_dir(tmp_path).latest_view("panes-1") == b"v2"  # on disk
