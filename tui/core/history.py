"""Local history (SQLite, WAL) in the user data directory, one history per scope.

- The latest full snapshot of each scope, so the dashboard opens instantly on it (marked stale until fresh data
  arrives).
- Small aggregates per run (per standard, per account, per severity) for trend lines - never 100k rows per run.
- A view of the latest snapshot, as a front end last drew it (the dashboard keeps its panes' rows there, so its
  first frame needs neither the model nor the derivations; it is used only while it matches the latest snapshot).

A scope is (tenant, subscription scope, ARM endpoint): two dashboards on one data directory with different scopes
(or tenants) keep their own latest snapshot, view and trends. The tenant is known once a collection names it; until
then the most recent snapshot saved for the endpoint and subscriptions stands for it.

Nothing read from here can run code: snapshots and views are JSON (tui.core.codec: the model's own dataclasses,
datetimes, tuples, mappings; nothing else can be made), never pickle. The directory is created 0700 (tightened when
it is ours and looser), the files 0600; a directory or file that belongs to someone else, or a database written by
a newer version, disables the history with a message (``error``), and a database that is not one (or one from
before the schema version) is set aside or rebuilt (``notice``). A history that cannot be opened or written is
disabled, never raised: every method then answers "nothing".

Writes happen in one transaction. The schema version is ``PRAGMA user_version``. Never imports textual or rich.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # imported where used: opening the history (and its cached view) must not cost the model's import
    from . import model as m
    from .config import Settings

log = logging.getLogger(__name__)

FROM_HISTORY = "from local history; refreshing"  # what a section loaded from here says until fresh data comes
SCHEMA_VERSION = 2  # PRAGMA user_version. 1 (user_version 0): one scope, pickles - rebuilt, never read
DB_NAME = "history.sqlite3"
DEFAULT_ENDPOINT = "https://management.azure.com"  # tui.core.config.DEFAULT_ARM_ENDPOINT (not imported: start-up)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
  tenant TEXT NOT NULL,        -- '' when no collection named it
  endpoint TEXT NOT NULL,
  subs TEXT NOT NULL,          -- sorted, comma-separated subscription ids, or '*' for every subscription visible
  saved_at TEXT NOT NULL,
  generated_at TEXT NOT NULL,
  payload TEXT NOT NULL,       -- tui.core.codec JSON of the Snapshot
  PRIMARY KEY (tenant, endpoint, subs)
);
CREATE TABLE IF NOT EXISTS aggregates (
  tenant TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  subs TEXT NOT NULL,
  run_at TEXT NOT NULL,
  kind TEXT NOT NULL,     -- 'compliance_pct' | 'unhealthy' | 'unhealthy_sev' | 'arc_connected' | 'ec2_total'
  key TEXT NOT NULL,      -- standard name | account id | severity
  value REAL
);
CREATE INDEX IF NOT EXISTS aggregates_scope ON aggregates(endpoint, subs, tenant, kind, key, run_at);
CREATE TABLE IF NOT EXISTS views (
  tenant TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  subs TEXT NOT NULL,
  format TEXT NOT NULL,        -- the front end's own format tag: another version's view is ignored
  generated_at TEXT NOT NULL,  -- the snapshot it shows (latest.generated_at)
  payload TEXT NOT NULL,       -- JSON, the front end's own
  PRIMARY KEY (tenant, endpoint, subs)
);
"""

_CLASSES: dict[str, type] | None = None


class HistoryUnsafe(Exception):
    """The data directory or a history file is not private to this user: the history is not used."""


@dataclass(frozen=True)
class Scope:
    """Whose history: the ARM endpoint, the subscriptions asked for (empty: every one visible) and the tenant (None:
    not known yet)."""

    endpoint: str = DEFAULT_ENDPOINT
    subscriptions: tuple[str, ...] = ()
    tenant: str | None = None

    @classmethod
    def of(cls, settings: "Settings") -> "Scope":
        """The scope of these settings; with [[tenants]] configured its tenant is theirs (the sorted tenant ids
        joined by ","): a multi-tenant view keeps its own history apart from each single tenant's."""
        return cls(settings.azure.arm_endpoint.rstrip("/"), tuple(settings.azure.subscriptions),
                   getattr(settings, "tenants_key", None))

    @property
    def subs_key(self) -> str:
        return ",".join(sorted({s.lower() for s in self.subscriptions})) or "*"


class History:
    def __init__(self, path: Path | str, *, keep_days: int = 90, scope: Scope | None = None) -> None:
        self.path = Path(path)
        self.keep_days = keep_days
        self.scope = scope or Scope()
        self.error: str | None = None  # why the history is disabled (None: it works)
        self.notice: str | None = None  # something the operator should know (e.g. an old history rebuilt)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except HistoryUnsafe as e:
            self._disable(str(e))
        except (OSError, sqlite3.Error) as e:
            self._disable(f"history {self.path} cannot be opened ({_why(e)}): history disabled")

    @classmethod
    def in_dir(cls, folder: Path | str, scope: Scope | None = None) -> "History":
        return cls(Path(folder) / DB_NAME, scope=scope)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------------------------------- opening

    def _open(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        for p in _files(self.path):
            _private_file(p)
        # created 0600 before SQLite sees it: its -wal and -shm take the database's mode
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        try:
            db = self._connect()
        except sqlite3.DatabaseError as e:  # not a database (or a broken one): set aside, start afresh
            if isinstance(e, sqlite3.OperationalError):  # locked, no space, ...: not the file's fault
                raise
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            for p in _files(self.path):
                if p.exists():
                    os.replace(p, p.with_name(p.name.replace(self.path.name, aside.name, 1)))
            self._note(f"history {self.path} could not be read ({_why(e)}): set aside as {aside.name}, "
                       "a new history started")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            db = self._connect()
        for p in _files(self.path):
            if p.exists():
                _private_file(p)
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=5)
        try:
            db.execute("PRAGMA trusted_schema=OFF")  # views and triggers of a planted file run no functions
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise HistoryUnsafe(f"history {self.path} was written by a newer mdc-aws (schema {version}, this "
                                    f"one reads {SCHEMA_VERSION}): history disabled")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if version < SCHEMA_VERSION:
                self._rebuild(db, version)
        except BaseException:  # also on KeyboardInterrupt: close, then re-raise
            db.close()
            raise
        return db

    def _rebuild(self, db: sqlite3.Connection, version: int) -> None:
        """A fresh schema. Version 1 (user_version 0) kept pickles of one scope: never read, dropped."""
        db.execute("BEGIN IMMEDIATE")
        try:
            # another process may have rebuilt it meanwhile
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
                db.execute("COMMIT")
                return
            old = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                             "AND name NOT LIKE 'sqlite_%'")]
            for name in old:
                kind = db.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
                if kind is not None:
                    db.execute(f'DROP {"VIEW" if kind[0] == "view" else "TABLE"} IF EXISTS "{name}"')
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                db.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            for statement in _SCHEMA.split(";"):  # not executescript: it would commit the transaction first
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:  # also on KeyboardInterrupt: roll back, then re-raise
            db.execute("ROLLBACK")
            raise
        if old:
            self._note(f"history {self.path} was from an older mdc-aws: started afresh")

    def _note(self, msg: str) -> None:
        self.notice = msg
        log.warning("%s", msg)

    def _disable(self, msg: str) -> None:
        self.error = msg
        log.warning("%s", msg)
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def _failed(self, what: str, e: BaseException) -> None:
        """A read or write failed: the history is disabled until the next start (with why), never raised."""
        self._disable(f"history {self.path} could not be {what} ({_why(e)}): history disabled until restart")

    # ------------------------------------------------------------------------------------------- scope

    def _tenant(self, db: sqlite3.Connection) -> str | None:
        """The scope's tenant: given, else the one of the most recent snapshot saved for endpoint + subscriptions."""
        if self.scope.tenant is not None:
            return self.scope.tenant
        # a set of tenants ([[tenants]]: ids joined by ",") never stands for one tenant's history
        row = db.execute("SELECT tenant FROM latest WHERE endpoint = ? AND subs = ? AND instr(tenant, ',') = 0 "
                         "ORDER BY saved_at DESC LIMIT 1", (self.scope.endpoint, self.scope.subs_key)).fetchone()
        return None if row is None else row[0]

    def _scoped(self, sql: str, *params: Any, tenant: str | None = None) -> list[Any]:
        """The rows of ``sql`` for this scope: its first three parameters are the tenant (``tenant``, default the
        scope's), the endpoint and the subscriptions, then ``params``. [] when history is off, no tenant is known yet
        or the read failed (then history is disabled, see ``error``)."""
        with self._lock:
            db = self._db
            if db is None:
                return []
            try:
                t = tenant if tenant is not None else self._tenant(db)
                if t is None:
                    return []
                return db.execute(sql, (t, self.scope.endpoint, self.scope.subs_key, *params)).fetchall()
            except sqlite3.Error as e:
                self._failed("read", e)
                return []

    # ------------------------------------------------------------------------------------------- latest snapshot

    def save(self, snap: m.Snapshot) -> bool:
        """Keep `snap` as the latest of its scope and append its aggregates, in one transaction. False (and the
        history disabled, see ``error``) when it could not be written."""
        from . import codec

        payload = codec.dumps(snap)
        run_at = _stamp(snap.generated_at)
        rows = list(_aggregates(snap))
        ep, subs = self.scope.endpoint, self.scope.subs_key
        with self._lock:
            db = self._db
            if db is None:
                return False
            try:
                cur = db.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    # a scope that names its tenant ([[tenants]]: theirs) keeps its snapshots under it
                    tenant = self.scope.tenant or snap.tenant_id or self._tenant(db) or ""
                    cur.execute("INSERT OR REPLACE INTO latest(tenant, endpoint, subs, saved_at, generated_at, payload)"
                                " VALUES (?, ?, ?, ?, ?, ?)", (tenant, ep, subs, _now(), run_at, payload))
                    cur.executemany("INSERT INTO aggregates(tenant, endpoint, subs, run_at, kind, key, value) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    [(tenant, ep, subs, run_at, k, key, v) for k, key, v in rows])
                    cur.execute("DELETE FROM aggregates WHERE run_at < ?", (_days_ago(self.keep_days),))
                    cur.execute("COMMIT")
                except BaseException:  # also on KeyboardInterrupt: roll back, then re-raise
                    if db.in_transaction:
                        cur.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as e:
                self._failed("written", e)
                return False
        return True

    def latest(self) -> m.Snapshot | None:
        """The last snapshot saved for this scope, every section marked stale (it is history, not fresh data)."""
        from . import codec
        from . import model as m

        rows = self._scoped("SELECT payload FROM latest WHERE tenant = ? AND endpoint = ? AND subs = ?")
        if not rows:
            return None
        try:
            snap = codec.loads(rows[0][0], _classes())
        except (ValueError, TypeError) as e:  # another version's fields, or not ours at all: start fresh
            log.warning("history: the latest snapshot is unreadable (%s); ignored", e)
            return None
        if not isinstance(snap, m.Snapshot) or not isinstance(snap.sections, dict) or not all(
                isinstance(s, m.Section) and isinstance(s.status, m.SectionStatus) for s in snap.sections.values()):
            return None
        sections = {
            name: replace(sec, status=replace(sec.status, status="stale" if sec.data is not None else "error",
                                              error=sec.status.error or FROM_HISTORY))
            for name, sec in snap.sections.items()
        }
        return replace(snap, sections=sections)

    # ------------------------------------------------------------------------------------------- cached view

    def save_view(self, generated_at: datetime, fmt: str, payload: str | bytes) -> bool:
        """Keep a front end's view (JSON text in its own format `fmt`) of the snapshot of `generated_at`."""
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        stamp = _stamp(generated_at)
        ep, subs = self.scope.endpoint, self.scope.subs_key
        with self._lock:
            db = self._db
            if db is None:
                return False
            try:
                row = db.execute("SELECT tenant FROM latest WHERE endpoint = ? AND subs = ? AND generated_at = ? "
                                 "ORDER BY saved_at DESC LIMIT 1", (ep, subs, stamp)).fetchone()
                tenant = self.scope.tenant or (row[0] if row is not None else (self._tenant(db) or ""))
                db.execute("INSERT OR REPLACE INTO views(tenant, endpoint, subs, format, generated_at, payload) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (tenant, ep, subs, fmt, stamp, text))
            except sqlite3.Error as e:
                self._failed("written", e)
                return False
        return True

    def latest_view(self, fmt: str) -> str | None:
        """The view saved in format `fmt` of this scope's latest snapshot; None when there is none, it is in another
        format, or it shows an older snapshot (a newer one was saved since, e.g. by `mdc-aws snapshot`)."""
        rows = self._scoped(
            "SELECT v.payload FROM views v JOIN latest l ON l.tenant = v.tenant AND l.endpoint = v.endpoint "
            "AND l.subs = v.subs AND l.generated_at = v.generated_at "
            "WHERE v.tenant = ? AND v.endpoint = ? AND v.subs = ? AND v.format = ?", fmt)
        return rows[0][0] if rows and isinstance(rows[0][0], str) else None

    # ------------------------------------------------------------------------------------------- trends

    def trend(self, kind: str, key: str, limit: int = 200, *, tenant: str | None = None
              ) -> list[tuple[datetime, float | None]]:
        """This scope's points of one series, oldest first (``tenant``: of that tenant; default the scope's)."""
        rows = self._scoped("SELECT run_at, value FROM aggregates WHERE tenant = ? AND endpoint = ? AND subs = ? "
                            "AND kind = ? AND key = ? ORDER BY run_at DESC LIMIT ?", kind, key, limit, tenant=tenant)
        return [(datetime.fromisoformat(t), v) for t, v in reversed(rows)]

    def runs(self) -> int:
        with self._lock:
            db = self._db
            if db is None:
                return 0
            t = self._tenant(db)
            return int(db.execute("SELECT COUNT(DISTINCT run_at) FROM aggregates WHERE endpoint = ? AND subs = ? "
                                  "AND tenant = ?", (self.scope.endpoint, self.scope.subs_key, t or "")).fetchone()[0])


# ----------------------------------------------------------------------------------------------------- files


def private_dir(folder: Path) -> None:
    """Create ``folder`` 0700 (and each missing parent: the data directory and the scope folder in it are both
    ours), or check that it is this user's and make it 0700. Raises HistoryUnsafe when it belongs to someone else
    or is not a directory."""
    folder = Path(folder)
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
    st = os.stat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise HistoryUnsafe(f"history folder {folder} is not a directory: history disabled")
    if _make_private(folder, st, 0o700, "use a folder of your own: --config data_dir, or MDC_AWS_DATA_DIR"):
        log.warning("history folder %s was readable or writable by others (%o): made private (0700)", folder,
                    stat.S_IMODE(st.st_mode))


def _private_file(p: Path) -> None:
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise HistoryUnsafe(f"history file {p} is not a plain file: history disabled (remove it to start afresh)")
    _make_private(p, st, 0o600, "remove it to start afresh")


def _make_private(p: Path, st: os.stat_result, mode: int, fix: str) -> bool:
    """Refuse ``p`` (HistoryUnsafe, saying ``fix``) when another user owns it; else narrow it to ``mode``.
    True when it had to be narrowed."""
    what = "folder" if stat.S_ISDIR(st.st_mode) else "file"
    if st.st_uid != os.geteuid():
        raise HistoryUnsafe(f"history {what} {p} belongs to another user (uid {st.st_uid}): history disabled "
                            f"({fix})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(p, mode)
        return True
    return False


def _files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")]


def _classes() -> dict[str, type]:
    global _CLASSES
    if _CLASSES is None:
        from .codec import model_classes

        _CLASSES = model_classes()
    return _CLASSES


def _why(e: BaseException) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__


# ----------------------------------------------------------------------------------------------------- aggregates


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _days_ago(days: int) -> str:
    from datetime import timedelta

    return _stamp(datetime.now(timezone.utc) - timedelta(days=days))
