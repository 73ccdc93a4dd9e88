"""Local history (SQLite, WAL) in the user data directory.

- The latest full snapshot, so the dashboard opens instantly on it (marked stale until fresh data arrives).
- Small aggregates per run (per standard, per account, per severity) for trend lines - never 100k rows per run.
- An opaque view of the latest snapshot, as a front end last drew it (the dashboard keeps its panes' rows there, so
  its first frame needs neither the model nor the derivations; it is used only while it matches the latest snapshot).

Writes happen in one transaction. Never imports textual or rich.
"""
from __future__ import annotations

import pickle
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # imported where used: opening the history (and its cached view) must not cost the model's import
    from . import model as m

FROM_HISTORY = "from local history; refreshing"  # what a section loaded from here says until fresh data comes
FORMAT = 1  # bump when the pickled model changes incompatibly: old rows are then ignored, not misread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
  slot INTEGER PRIMARY KEY CHECK (slot = 1),
  format INTEGER NOT NULL,
  generated_at TEXT NOT NULL,
  payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS aggregates (
  run_at TEXT NOT NULL,
  kind TEXT NOT NULL,     -- 'compliance_pct' | 'unhealthy' | 'unhealthy_sev' | 'arc_connected' | 'ec2_total'
  key TEXT NOT NULL,      -- standard name | account id | severity
  value REAL
);
CREATE INDEX IF NOT EXISTS aggregates_kind_key ON aggregates(kind, key, run_at);
CREATE TABLE IF NOT EXISTS views (
  slot INTEGER PRIMARY KEY CHECK (slot = 1),
  format TEXT NOT NULL,        -- the front end's own format tag: another version's view is ignored
  generated_at TEXT NOT NULL,  -- the snapshot it shows (latest.generated_at)
  payload BLOB NOT NULL
);
"""


class History:
    def __init__(self, path: Path | str, *, keep_days: int = 90) -> None:
        self.path = Path(path)
        self.keep_days = keep_days
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=5)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, folder: Path | str) -> "History":
        return cls(Path(folder) / "history.sqlite3")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------------------------------- latest snapshot

    def save(self, snap: m.Snapshot) -> None:
        """Keep `snap` as the latest and append its aggregates, in one transaction."""
        payload = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
        run_at = _stamp(snap.generated_at)
        rows = list(_aggregates(snap))
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("INSERT OR REPLACE INTO latest(slot, format, generated_at, payload) VALUES (1, ?, ?, ?)",
                            (FORMAT, run_at, payload))
                cur.executemany("INSERT INTO aggregates(run_at, kind, key, value) VALUES (?, ?, ?, ?)",
                                [(run_at, k, key, v) for k, key, v in rows])
                cur.execute("DELETE FROM aggregates WHERE run_at < datetime('now', ?)", (f"-{self.keep_days} days",))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def latest(self) -> m.Snapshot | None:
        """The last snapshot saved, every section marked stale (it is history, not fresh data)."""
        from . import model as m
        with self._lock:
            row = self._db.execute("SELECT format, payload FROM latest WHERE slot = 1").fetchone()
        if row is None or row[0] != FORMAT:
            return None
        try:
            snap = pickle.loads(row[1])
        except Exception:  # noqa: BLE001 - a file from another version: start fresh rather than crash
            return None
        if not isinstance(snap, m.Snapshot):
            return None
        sections = {
            name: replace(sec, status=replace(sec.status, status="stale" if sec.data is not None else "error",
                                              error=sec.status.error or FROM_HISTORY))
            for name, sec in snap.sections.items()
        }
        return replace(snap, sections=sections)

    # ------------------------------------------------------------------------------------------- cached view

    def save_view(self, generated_at: datetime, fmt: str, payload: bytes) -> None:
        """Keep a front end's view (opaque bytes in its own format `fmt`) of the snapshot of `generated_at`."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO views(slot, format, generated_at, payload) VALUES (1, ?, ?, ?)",
                             (fmt, _stamp(generated_at), payload))

    def latest_view(self, fmt: str) -> bytes | None:
        """The view saved in format `fmt` of the latest snapshot; None when there is none, it is in another format,
        or it shows an older snapshot (a newer one was saved since, e.g. by `mdc-aws snapshot`)."""
        with self._lock:
            row = self._db.execute(
                "SELECT v.payload FROM views v JOIN latest l ON l.slot = 1 AND l.format = ? "
                "WHERE v.slot = 1 AND v.format = ? AND v.generated_at = l.generated_at", (FORMAT, fmt)).fetchone()
        return None if row is None else bytes(row[0])

    # ------------------------------------------------------------------------------------------- trends

    def trend(self, kind: str, key: str, limit: int = 200) -> list[tuple[datetime, float | None]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_at, value FROM aggregates WHERE kind = ? AND key = ? ORDER BY run_at DESC LIMIT ?",
                (kind, key, limit)).fetchall()
        return [(datetime.fromisoformat(t), v) for t, v in reversed(rows)]

    def runs(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(DISTINCT run_at) FROM aggregates").fetchone()[0])


def _aggregates(snap: m.Snapshot) -> Iterable[tuple[str, str, float | None]]:
    """Only sections fetched fresh in this run contribute (stale data would repeat an old point)."""
    from . import derive as d
    from . import model as m

    fresh = {n for n, s in snap.sections.items() if s.status.status == "ok"}
    if "compliance" in fresh:
        for s in snap.data("compliance").standards:
            yield "compliance_pct", s.name, d.compliance_percent(s)
    views = d.account_views(snap)
    for v in views:
        if "recommendations" in fresh and v.recommendations is not None:
            yield "unhealthy", v.aws_account_id, float(v.recommendations.unhealthy)
        if "onboarding" in fresh and v.onboarding is not None:
            yield "arc_connected", v.aws_account_id, float(v.onboarding.arc_connected)
            if v.onboarding.ec2_total is not None:
                yield "ec2_total", v.aws_account_id, float(v.onboarding.ec2_total)
    if "recommendations" in fresh:
        for sev in m.SEVERITIES:
            yield "unhealthy_sev", sev, float(sum((v.recommendations.unhealthy_by_severity.get(sev, 0)
                                                   for v in views if v.recommendations), 0))


def _stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()
