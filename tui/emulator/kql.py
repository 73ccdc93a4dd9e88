"""Azure Resource Graph over DuckDB: the world's ARG tables queried with real KQL through duckdb-kql.

Nothing here matches known query strings: the request's KQL is translated by duckdb-kql and run by DuckDB over tables
loaded from `world.arg_tables()`, with JSON columns for the dynamic ARG columns (properties, tags, sku, plan,
identity, zones, extendedLocation).

- `ArgStore` owns the loaded tables and follows `world.arg_version()`: a full load builds a fresh in-memory database
  from newline-delimited JSON (then file access is switched off for good); later versions are patched in place
  (diff by row-object identity, one DELETE + INSERT transaction) unless most rows changed. A request scoped to
  subscriptions runs on its own cursor where TEMP VIEWs of the same names shadow the full tables
  (`arg.main.<table>`): zero-copy, and duckdb-kql — whose catalog skips views — still finds the same-named base
  table with identical columns, so `join` gets its schema.
- `ResourceGraph.execute(body, allowed)`: `allowed` is what the caller's tenant may read (arm.py, issue 14): the
  request's scope is cut down to those subscriptions, a tenant-scope request is scoped to exactly them.
- `ResourceGraph` implements the QueryRequest/QueryResponse semantics: `$top` (default 100, max 1000), `$skip`,
  `$skipToken` (only when the result has an `id` column; later pages are served from the first computation, cached
  by token), `resultTruncated` (a string), objectArray/table formats, facets, and ARG-shaped error bodies.
- Two token-level adaptations (never on strings or comments): table names are case-insensitive as in ARG, and
  `count(expr)` (Microsoft's own samples use it) becomes `countif(isnotnull(expr))`, which duckdb-kql supports.

The response `data` is assembled as JSON text: values from JSON columns are spliced in verbatim (they *are* JSON), so
a 1000-row page costs no parse/re-serialise round trip and dynamic values come back as objects, arrays and numbers.
"""
from __future__ import annotations

import base64
import datetime as _dt
import decimal
import hashlib
import json
import math
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import duckdb_kql
from duckdb_kql import KqlError, KqlSchemaError, KqlSyntaxError, KqlUnsupportedError

ARG_TABLES = ("resources", "securityresources", "resourcecontainers")

# The standard ARG columns, in the order ARG returns them for `<table> | take 1`.
STANDARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("type", "VARCHAR"),
    ("tenantId", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("location", "VARCHAR"),
    ("resourceGroup", "VARCHAR"),
    ("subscriptionId", "VARCHAR"),
    ("managedBy", "VARCHAR"),
    ("sku", "JSON"),
    ("plan", "JSON"),
    ("properties", "JSON"),
    ("tags", "JSON"),
    ("identity", "JSON"),
    ("zones", "JSON"),
    ("extendedLocation", "JSON"),
)
JSON_COLUMNS = frozenset(n for n, t in STANDARD_COLUMNS if t == "JSON")

DEFAULT_TOP = 100
MAX_TOP = 1000

_INVALID_QUERY = {
    "code": "InvalidQuery",
    "message": "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix "
               "the error before retrying.",
}


class ArgError(Exception):
    """An ARG error response: HTTP status plus the ARM error object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def _support_message() -> str:
    ts = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return (f"Please provide below info when asking for support: timestamp = {ts}, "
            f"correlationId = {uuid.uuid4()}.")


def query_error(detail_code: str, detail_message: str) -> ArgError:
    return ArgError(400, {
        "code": "BadRequest",
        "message": _support_message(),
        "details": [dict(_INVALID_QUERY), {"code": detail_code, "message": detail_message}],
    })


def bad_request(detail_code: str, detail_message: str) -> ArgError:
    return ArgError(400, {
        "code": "BadRequest",
        "message": _support_message(),
        "details": [{"code": detail_code, "message": detail_message}],
    })


# ------------------------------------------------------------------------------------------------------------------
# Value encoding (DuckDB values -> JSON text)


def _kusto_datetime(v: _dt.datetime | _dt.date) -> str:
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        base = v.strftime("%Y-%m-%dT%H:%M:%S")
        if v.microsecond:
            base += f".{v.microsecond:06d}0"
        return base + "Z"
    return v.isoformat() + "T00:00:00Z"


def _kusto_timespan(v: _dt.timedelta) -> str:
    neg = v < _dt.timedelta(0)
    if neg:
        v = -v
    days, rem = v.days, v.seconds
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    out = f"{h:02d}:{m:02d}:{s:02d}"
    if days:
        out = f"{days}.{out}"
    if v.microseconds:
        out += f".{v.microseconds:06d}0"
    return ("-" if neg else "") + out


def to_jsonable(v: Any) -> Any:
    """A Python value from DuckDB -> something json.dumps handles (recursively)."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (_dt.datetime, _dt.date)):
        return _kusto_datetime(v)
    if isinstance(v, _dt.timedelta):
        return _kusto_timespan(v)
    if isinstance(v, _dt.time):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return str(v)


def _dumps(v: Any) -> str:
    return json.dumps(to_jsonable(v), ensure_ascii=False, separators=(",", ":"))


def _raw_json(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        return v
    return _dumps(v)


_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
              "UBIGINT", "UHUGEINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def _encoder_and_kind(type_str: str) -> tuple[Callable[[Any], str], str]:
    """(encoder to JSON text, ARG column type) for a DuckDB column type."""
    t = type_str.upper()
    if t == "JSON":
        return _raw_json, "object"
    if t == "JSON[]":
        return (lambda v: "null" if v is None else "[" + ",".join(_raw_json(x) for x in v) + "]"), "object"
    if t == "VARCHAR":
        return (lambda v: "null" if v is None else json.dumps(v, ensure_ascii=False)), "string"
    if t in _INT_TYPES:
        return (lambda v: "null" if v is None else str(int(v))), "integer"
    if t in _FLOAT_TYPES or t.startswith("DECIMAL"):
        return _dumps, "number"
    if t == "BOOLEAN":
        return (lambda v: "null" if v is None else ("true" if v else "false")), "boolean"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return _dumps, "datetime"
    if t == "INTERVAL":
        return _dumps, "string"
    if t.endswith("[]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return _dumps, "object"
    return _dumps, "string"


# ------------------------------------------------------------------------------------------------------------------
# Query results


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple]
    elapsed_ms: float = 0.0
    _encoders: list[Callable[[Any], str]] = field(default_factory=list, repr=False)
    _kinds: list[str] = field(default_factory=list, repr=False)
    _packed: "_PackedRows | None" = field(default=None, repr=False)

    def __post_init__(self) -> None:
        pairs = [_encoder_and_kind(t) for t in self.types]
        self._encoders = [p[0] for p in pairs]
        self._kinds = [p[1] for p in pairs]

    @property
    def has_id(self) -> bool:
        return "id" in self.columns

    def __len__(self) -> int:
        return self._packed.n if self._packed is not None else len(self.rows)

    def _cells(self, start: int, stop: int) -> Iterable[list[str]]:
        """Each row in [start, stop) as its cells' JSON text."""
        if self._packed is not None:
            yield from self._packed.cells(start, stop)
            return
        enc = self._encoders
        n = len(self.columns)
        for row in self.rows[start:stop]:
            yield [enc[i](row[i]) for i in range(n)]

    def object_array_json(self, start: int, stop: int) -> str:
        keys = [json.dumps(c, ensure_ascii=False) + ":" for c in self.columns]
        n = len(keys)
        parts = []
        for cells in self._cells(start, stop):
            parts.append("{" + ",".join(keys[i] + cells[i] for i in range(n)) + "}")
        return "[" + ",".join(parts) + "]"

    def table_json(self, start: int, stop: int) -> str:
        cols = json.dumps([{"name": c, "type": k} for c, k in zip(self.columns, self._kinds)],
                          ensure_ascii=False, separators=(",", ":"))
        rows = ["[" + ",".join(cells) + "]" for cells in self._cells(start, stop)]
        return '{"columns":' + cols + ',"rows":[' + ",".join(rows) + "]}"

    @property
    def plain_rows(self) -> int:
        """Rows held as Python objects (0 once packed)."""
        return 0 if self._packed is not None else len(self.rows)

    @property
    def packed_bytes(self) -> int:
        """The packed text's compressed size (0 when not packed)."""
        return sum(len(b) for b in self._packed.blocks) if self._packed is not None else 0

    def pack(self) -> bool:
        """Hold the rows as their cells' JSON text in zlib-compressed blocks (a cached 128k-row result of the large
        estate: ~20 MB instead of ~250 MB of Python objects). Pages come out byte-identical (the same encoders made
        the text). False (rows kept) when a cell's text holds a separator byte, which JSON text never does."""
        if self._packed is not None:
            return True
        packed = _PackedRows.build(self.rows, self._encoders)
        if packed is None:
            return False
        self._packed, self.rows = packed, []
        return True

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Rows as Python dicts (JSON values decoded) — for tests and in-process callers."""
        stop = len(self) if stop is None else stop
        return json.loads(self.object_array_json(start, stop))


class _PackedRows:
    """A result's rows as text: per row its cells' JSON joined by \\x00, rows joined by \\x01, in zlib blocks of
    BLOCK rows (JSON text escapes every control character, so neither byte occurs in a cell). One decompressed block
    is kept for the next page (pages are read in order)."""

    BLOCK = 512
    CELL, ROW = "\x00", "\x01"

    def __init__(self, n: int, blocks: list[bytes]) -> None:
        self.n, self.blocks = n, blocks
        self._last: tuple[int, list[str]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def _pack_block(cls, rows: Sequence[tuple], encoders: Sequence[Callable[[Any], str]]) -> bytes | None:
        """Up to BLOCK rows as one compressed block; None when a separator occurs inside a cell."""
        import zlib

        n_cols = len(encoders)
        cell, row_sep = cls.CELL, cls.ROW
        block = row_sep.join(cell.join(encoders[i](row[i]) for i in range(n_cols)) for row in rows)
        if block.count(cell) != len(rows) * (n_cols - 1) or block.count(row_sep) != len(rows) - 1:
            return None
        return zlib.compress(block.encode("utf-8"), 1)

    @classmethod
    def build(cls, rows: Sequence[tuple], encoders: Sequence[Callable[[Any], str]]) -> "_PackedRows | None":
        blocks = []
        for b in range(0, len(rows), cls.BLOCK):
            packed = cls._pack_block(rows[b:b + cls.BLOCK], encoders)
            if packed is None:
                return None  # a separator inside a cell: keep the rows
            blocks.append(packed)
        return cls(len(rows), blocks)

    @classmethod
    def stream(cls, first: list[tuple], fetch: Callable[[int], list[tuple]],
               encoders: Sequence[Callable[[Any], str]]) -> "_PackedRows | None":
        """`first` and then every row `fetch(n)` hands out (until it returns []), packed block by block as they come:
        no more than a few blocks' rows exist as Python objects at any time. None as in build."""
        blocks: list[bytes] = []
        n = 0
        pending = first
        while True:
            while len(pending) >= cls.BLOCK:
                packed = cls._pack_block(pending[:cls.BLOCK], encoders)
                if packed is None:
                    while fetch(cls.BLOCK * 8):  # the rest read (the source must finish before it is used again)
                        pass
                    return None
                blocks.append(packed)
                n += cls.BLOCK
                pending = pending[cls.BLOCK:]
            more = fetch(cls.BLOCK * 8)
            if not more:
                break
            pending = pending + more
        if pending:
            packed = cls._pack_block(pending, encoders)
            if packed is None:
                return None
            blocks.append(packed)
            n += len(pending)
        return cls(n, blocks)

    def _block(self, b: int) -> list[str]:
        import zlib

        with self._lock:
            last = self._last
            if last is not None and last[0] == b:
                return last[1]
        rows = zlib.decompress(self.blocks[b]).decode("utf-8").split(self.ROW)
        with self._lock:
            self._last = (b, rows)
        return rows

    def cells(self, start: int, stop: int) -> Iterable[list[str]]:
        stop = min(stop, self.n)
        i = max(0, start)
        while i < stop:
            b, off = divmod(i, self.BLOCK)
            rows = self._block(b)
            take = min(stop - i, len(rows) - off)
            for text in rows[off:off + take]:
                yield text.split(self.CELL)
            i += take


# ------------------------------------------------------------------------------------------------------------------
# Memory

# DuckDB's allocator keeps what a query freed until it holds this much (default 128 MB, and 512 MB after a bulk
# free): a query's JSON arenas (~0.5 GB for the recommendations query) would stay resident between refreshes.
# Background threads: the allocator's freed pages go back to the system (without them ~0.5 GB stayed resident after
# the large estate's recommendations query, whatever the thresholds). (One worker thread would halve the query's JSON
# peak, but DuckDB then emits `summarize` groups in another order: the served bytes would change.)
# the database (attached, compressed) that holds the tables
ARG_DB = "arg"
DUCKDB_SETTINGS = ("SET allocator_flush_threshold = '16MB'", "SET allocator_bulk_deallocation_flush_threshold = '16MB'",
                   "SET allocator_background_threads = true")


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# ------------------------------------------------------------------------------------------------------------------
# Table loading


def _infer_type(values: Iterable[Any]) -> str:
    seen: set[str] = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            seen.add("BOOLEAN")
        elif isinstance(v, int):
            seen.add("BIGINT")
        elif isinstance(v, float):
            seen.add("DOUBLE")
        elif isinstance(v, str):
            seen.add("VARCHAR")
        else:
            seen.add("JSON")
        if len(seen) > 1:
            break
    if seen == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    if len(seen) == 1:
        return seen.pop()
    return "JSON" if seen else "VARCHAR"


def _columns_for(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    cols = list(STANDARD_COLUMNS)
    known = {c.lower() for c, _ in cols}
    extras: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k.lower() not in known and k not in extras:
                extras[k] = None
    for k in extras:
        cols.append((k, _infer_type(r.get(k) for r in rows)))
        known.add(k.lower())
    return cols


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duck_literal_struct(cols: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{t}'" for c, t in cols) + "}"


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _load_row(r: dict[str, Any], varchar_cols: tuple[str, ...]) -> dict[str, Any]:
    """A world row as DuckDB's JSON reader should see it: non-string values of VARCHAR columns become strings."""
    bad = [c for c in varchar_cols if r.get(c) is not None and not isinstance(r.get(c), str)]
    if not bad:
        return r
    out = dict(r)
    for c in bad:
        v = out[c]
        out[c] = _ENCODE(v) if isinstance(v, (dict, list)) else str(v)
    return out


@dataclass
class _Table:
    name: str
    cols: list[tuple[str, str]]
    rows: list[dict]  # the world's row objects now loaded (kept alive: their id() identifies them across versions)
    objids: set[int]
    subscriptions: frozenset[str]  # lower-case subscriptionId values present ('' for none)
    unique_ids: bool  # every row has a distinct non-null `id` (required for incremental updates)

    @classmethod
    def describe(cls, name: str, cols: list[tuple[str, str]], rows: list[dict]) -> "_Table":
        ids = [r.get("id") for r in rows]
        return cls(name, cols, rows, {id(r) for r in rows},
                   frozenset(str(r.get("subscriptionId") or "").lower() for r in rows),
                   None not in ids and len(set(ids)) == len(ids))


@dataclass
class _Snapshot:
    version: Any
    con: duckdb.DuckDBPyConnection
    tables: dict[str, _Table]  # lower-case table name -> what is loaded
    mg_subscriptions: dict[str, set[str]]  # lower-case MG name -> lower-case subscription ids
    loaded_at: float
    load_ms: float
    incremental: bool = False

    @property
    def row_counts(self) -> dict[str, int]:
        return {k: len(t.rows) for k, t in self.tables.items()}


class ArgStore:
    """The world's ARG tables in DuckDB, kept in step with `world.arg_version()`.

    The first load (and any large change) builds a fresh in-memory database from newline-delimited JSON (DuckDB's
    C++ reader), then turns file access off for good. Later versions are applied in place when few rows changed:
    the world hands back the *same* row objects for unchanged rows, so the diff is by object identity, applied as
    one DELETE + INSERT transaction (DuckDB's MVCC keeps queries in flight on their own snapshot).
    """

    #: when more than this share of all rows changed (added + removed), rebuild rather than patch
    REBUILD_RATIO = 0.6

    def __init__(self, world: Any, *, query_timeout_s: float = 60.0) -> None:
        self.world = world
        self.query_timeout_s = query_timeout_s
        self._load_lock = threading.Lock()
        # one DuckDB query at a time: a query's JSON functions hold arenas of ~10 MB per call site (2048 documents
        # parsed per vector), so the collector's queries side by side would add their peaks (~0.5 GB each)
        self._run_lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self.loads = 0  # full (re)builds
        self.updates = 0  # in-place incremental updates

    # -- loading -----------------------------------------------------------------------------------------------

    def _world_version(self) -> Any:
        return self.world.arg_version()

    def _world_version_and_tables(self) -> tuple[Any, dict[str, list[dict]]]:
        lock = getattr(self.world, "lock", None)
        if lock is None:
            return self.world.arg_version(), self.world.arg_tables()
        with lock:
            return self.world.arg_version(), self.world.arg_tables()

    @property
    def current(self) -> _Snapshot | None:
        """The tables as last loaded (None before the first load); never loads."""
        return self._snap

    def snapshot(self) -> _Snapshot:
        snap = self._snap
        if snap is not None and snap.version == self._world_version():
            return snap
        with self._load_lock:
            snap = self._snap
            if snap is not None and snap.version == self._world_version():
                return snap
            version, tables = self._world_version_and_tables()
            new = None
            if snap is not None:
                new = self._update(snap, version, tables)
            if new is None:
                self._snap = None  # the old database goes before the new one is built
                snap = None
                new = self._load(version, tables)
                self.loads += 1
            else:
                self.updates += 1
            self._snap = new
            trim_heap()  # the load's JSON text and the old database are gone
            return new

    @staticmethod
    def _table_names(tables: dict[str, list[dict]]) -> dict[str, str]:
        """lower-case table name -> the world's key, standard tables first."""
        names = {k.lower(): k for k in tables if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k)}
        ordered = {n: names.get(n, n) for n in ARG_TABLES}
        ordered.update({n: k for n, k in names.items() if n not in ordered})
        return ordered

    def _load(self, version: Any, tables: dict[str, list[dict]]) -> _Snapshot:
        t0 = time.perf_counter()
        con = duckdb_kql.connect(":memory:")
        for setting in DUCKDB_SETTINGS:
            con.execute(setting)
        # the tables live in a compressed in-memory database (a third of the plain one's size: large estate ~0.28 GB
        # -> ~0.09 GB); every cursor selects it (ARG_DB) before it reads or writes
        con.execute(f"ATTACH ':memory:' AS {ARG_DB} (COMPRESS)")
        con.execute(f"USE {ARG_DB}")
        loaded: dict[str, _Table] = {}
        for lname, key in self._table_names(tables).items():
            rows = list(tables.get(key) or [])
            cols = _columns_for(rows)
            if rows:
                self._create_from_file(con, lname, cols, rows)
            else:
                coldefs = ", ".join(f"{_identifier(c)} {t}" for c, t in cols)
                con.execute(f"CREATE TABLE {_identifier(lname)} ({coldefs})")
            loaded[lname] = _Table.describe(lname, cols, rows)
        con.execute(f"CHECKPOINT {ARG_DB}")  # the in-memory database compresses its tables when it checkpoints
        containers = tables.get(self._table_names(tables)["resourcecontainers"]) or []
        # nothing a query can do may reach the file system from here on (cannot be re-enabled)
        con.execute("SET enable_external_access = false")
        return _Snapshot(version, con, loaded, self._management_groups(containers), time.time(),
                         (time.perf_counter() - t0) * 1000)

    def _update(self, snap: _Snapshot, version: Any, tables: dict[str, list[dict]]) -> _Snapshot | None:
        """Apply a new version in place; None when a full rebuild is the better (or only) way."""
        t0 = time.perf_counter()
        names = self._table_names(tables)
        if set(names) != set(snap.tables):
            return None
        plans: list[tuple[_Table, list[dict], list[dict], list[dict]]] = []
        changed = total = 0
        for lname, key in names.items():
            old = snap.tables[lname]
            rows = list(tables.get(key) or [])
            objids = {id(r) for r in rows}
            added = [r for r in rows if id(r) not in old.objids]
            removed = [r for r in old.rows if id(r) not in objids]
            total += len(rows)
            changed += len(added) + len(removed)
            if not added and not removed:
                plans.append((old, rows, added, removed))
                continue
            known = {c.lower() for c, _ in old.cols}
            if any(k.lower() not in known for r in added for k in r):
                return None  # a new column: rebuild
            new_desc = _Table.describe(lname, old.cols, rows)
            if not (old.unique_ids and new_desc.unique_ids):
                return None
            plans.append((new_desc, rows, added, removed))
        if total > 1000 and changed > self.REBUILD_RATIO * total:
            return None
        cur = snap.con.cursor()
        try:
            cur.execute(f"USE {ARG_DB}")
            cur.execute("BEGIN TRANSACTION")
            for desc, _rows, added, removed in plans:
                if removed:
                    cur.execute(f'DELETE FROM {_identifier(desc.name)} WHERE "id" IN (SELECT unnest(?::VARCHAR[]))',
                                [[r["id"] for r in removed]])
                if added:
                    self._insert_json(cur, desc.name, desc.cols, added)
            cur.execute("COMMIT")
        except Exception:  # noqa: BLE001 - fall back to a rebuild
            try:
                cur.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the rollback of a failed update may fail too: the caller rebuilds
                pass
            return None
        finally:
            cur.close()
        new_tables = {p[0].name: p[0] for p in plans}
        containers = tables.get(names["resourcecontainers"]) or []
        return _Snapshot(version, snap.con, new_tables, self._management_groups(containers), time.time(),
                         (time.perf_counter() - t0) * 1000, incremental=True)

    #: rows per NDJSON file a full load reads: each part is compressed (CHECKPOINT) before the next one is read, so
    #: the load holds one part uncompressed, not the whole table (the large estate: ~0.4 GB of JSON text)
    LOAD_PART_ROWS = 16_384

    @classmethod
    def _create_from_file(cls, con: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str]],
                          rows: list[dict]) -> None:
        # newline-delimited JSON through DuckDB's C++ reader (~2 s for the 128k rows of the large estate; the
        # Python JSON encoding before it is the larger cost), vs minutes with executemany
        varchar = tuple(c for c, t in cols if t == "VARCHAR")
        select = ", ".join('lower("type") AS "type"' if c == "type" else _identifier(c) for c, _ in cols)
        source = (f"FROM read_json(?, format='newline_delimited', columns={_duck_literal_struct(cols)}, "
                  f"maximum_object_size=67108864)")
        for start in range(0, len(rows), cls.LOAD_PART_ROWS):
            fd, path = tempfile.mkstemp(prefix="mdc-aws-arg-", suffix=".ndjson")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    for r in rows[start:start + cls.LOAD_PART_ROWS]:
                        f.write(_ENCODE(_load_row(r, varchar)))
                        f.write("\n")
                if start == 0:
                    con.execute(f"CREATE TABLE {_identifier(table)} AS SELECT {select} {source}", [path])
                else:
                    con.execute(f"INSERT INTO {_identifier(table)} SELECT {select} {source}", [path])
            finally:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            if len(rows) > cls.LOAD_PART_ROWS:
                con.execute(f"CHECKPOINT {ARG_DB}")  # this part compressed before the next is read

    @staticmethod
    def _insert_json(cur: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str]], rows: list[dict]) -> None:
        # no file access once loaded: small batches go in as one JSON parameter
        varchar = tuple(c for c, t in cols if t == "VARCHAR")
        names = [c for c, _ in cols]
        struct = "[" + json.dumps({c: t for c, t in cols}) + "]"
        select = ", ".join('lower(r."type")' if c == "type" else f"r.{_identifier(c)}" for c in names)
        for i in range(0, len(rows), 20_000):
            payload = "[" + ",".join(_ENCODE(_load_row(r, varchar)) for r in rows[i:i + 20_000]) + "]"
            cur.execute(
                f"INSERT INTO {_identifier(table)} ({', '.join(map(_identifier, names))}) SELECT {select} "
                f"FROM (SELECT unnest(from_json(?::JSON, ?)) AS r)",
                [payload, struct],
            )

    @staticmethod
    def _management_groups(containers: list[dict]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for r in containers:
            if str(r.get("type", "")).lower() != "microsoft.resources/subscriptions":
                continue
            sub = str(r.get("subscriptionId") or "").lower()
            props = r.get("properties") or {}
            chain = props.get("managementGroupAncestorsChain") or []
            for mg in chain:
                if isinstance(mg, dict) and mg.get("name"):
                    out.setdefault(str(mg["name"]).lower(), set()).add(sub)
            tenant = str(r.get("tenantId") or "").lower()
            if tenant:
                out.setdefault(tenant, set()).add(sub)  # the tenant root group is named by the tenant id
        return out

    # -- querying ----------------------------------------------------------------------------------------------

    def _world_now(self) -> _dt.datetime | None:
        fn = getattr(self.world, "now", None)
        if not callable(fn):
            fn = getattr(getattr(self.world, "clock", None), "now", None)
        if not callable(fn):
            return None
        try:
            v = fn()
        except Exception:  # noqa: BLE001 - a world clock that cannot say the time means no now() in queries
            return None
        if isinstance(v, (int, float)):
            return _dt.datetime.fromtimestamp(v, _dt.timezone.utc)
        if isinstance(v, _dt.datetime):
            return v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)
        return None

    def resolve_scope(self, subscriptions: Sequence[str] | None,
                      management_groups: Sequence[str] | None) -> frozenset[str] | None:
        """None = tenant scope; otherwise the lower-case subscription ids the request may see."""
        if not subscriptions and not management_groups:
            return None
        subs = {str(s).lower() for s in subscriptions or []}
        if management_groups:
            snap = self.snapshot()
            for mg in management_groups:
                subs |= snap.mg_subscriptions.get(str(mg).lower(), set())
        return frozenset(subs)

    def run(self, query: str, scope: frozenset[str] | None = None, *, pack_over: int | None = None) -> QueryResult:
        """Run KQL over the (scoped) tables. Raises ArgError for query errors. With `pack_over`, a result of more rows
        than that comes back packed (QueryResult.pack), packed while DuckDB streams it: the large estate's 128k-row
        recommendations never exist as Python rows all at once (~0.2 GB less at the query's peak)."""
        if not isinstance(query, str) or not query.strip():
            raise query_error("ParserFailure", "The query is empty.")
        if _is_control_command(query):
            raise query_error("ParserFailure", "Control commands are not supported by Azure Resource Graph.")
        snap = self.snapshot()
        text, referenced = _normalise_tables(query, set(snap.tables))
        t0 = time.perf_counter()
        cur = snap.con.cursor()
        timer = threading.Timer(self.query_timeout_s, cur.interrupt)
        timer.daemon = True
        try:
            cur.execute(f"USE {ARG_DB}")
            if scope is not None:
                # A TEMP VIEW of the same name shadows the full table for this cursor only (temp objects resolve
                # first). duckdb-kql's catalog skips views, but it finds the same-named base table with the very
                # same columns, so `join` still gets its schema. Zero-copy, unlike a TEMP TABLE.
                literal = "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(scope)) + "]"
                for table in sorted(referenced or set(snap.tables)):
                    if snap.tables[table].subscriptions <= scope:
                        continue  # every row is in scope: nothing to hide
                    cur.execute(
                        f"CREATE TEMP VIEW {_identifier(table)} AS SELECT * FROM {ARG_DB}.main.{_identifier(table)} "
                        f'WHERE lower("subscriptionId") IN (SELECT unnest({literal}::VARCHAR[]))'
                    )
            try:
                with self._run_lock:
                    timer.start()  # the time limit counts from when this query runs, not while it waits its turn
                    rel = duckdb_kql.kql(cur, text, allow_write=False, query_now=self._world_now())
                    if rel is None:
                        raise query_error("ParserFailure", "The query produced no tabular result.")
                    columns = list(rel.columns)
                    types = [str(t) for t in rel.types]
                    shared = _with_shared_parses(cur, rel)
                    try:
                        rows, packed = _fetch(cur, shared or rel, types, pack_over)
                    except duckdb.InterruptException:
                        raise
                    except duckdb.Error:
                        if shared is None:
                            raise
                        # the rewrite is the same function of the same values, so this is not expected; should it
                        # ever fail where the translation as written would not, the query runs as written
                        rows, packed = _fetch(cur, rel, types, pack_over)
            except ArgError:
                raise
            except KqlSyntaxError as e:
                raise query_error("ParserFailure", str(e)) from None
            except KqlUnsupportedError as e:
                raise query_error("UnsupportedQuery", str(e)) from None
            except KqlSchemaError as e:
                raise query_error("ParserFailure", str(e)) from None
            except KqlError as e:
                raise query_error("ParserFailure", str(e)) from None
            except duckdb.InterruptException:
                raise ArgError(400, {
                    "code": "BadRequest", "message": _support_message(),
                    "details": [{"code": "QueryTimeout",
                                 "message": f"The query exceeded the {self.query_timeout_s:.0f} s limit."}],
                }) from None
            except (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException) as e:
                raise query_error("ParserFailure", _clean_engine_message(str(e))) from None
            except duckdb.Error as e:
                raise query_error("UnsupportedQuery", _clean_engine_message(str(e))) from None
        finally:
            timer.cancel()
            try:
                cur.close()
            except Exception:  # noqa: BLE001 - closing a cursor never hides the query's result or error
                pass
        if packed is not None:
            trim_heap()  # the rows streamed through Python: hand the memory back to the system
        return QueryResult(columns, types, rows, (time.perf_counter() - t0) * 1000, _packed=packed)


def _fetch(cur: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, types: list[str],
           pack_over: int | None) -> tuple[list[tuple], "_PackedRows | None"]:
    """The relation's rows, or (with `pack_over`, when there are more) none and the rows packed as they stream."""
    # this duckdb's relation: (SQL, parameter values); run on the cursor, the result streams (fetchmany), a
    # relation's does not
    statement = getattr(rel, "_statement", None)
    if pack_over is None or not callable(statement):
        return rel.fetchall(), None
    sql, values = statement()
    streamed = cur.execute(sql, values) if values else cur.execute(sql)
    rows = streamed.fetchmany(pack_over + 1)
    if len(rows) <= pack_over:
        return rows + streamed.fetchall(), None  # the end (nothing): the result is complete
    packed = _PackedRows.stream(rows, streamed.fetchmany, [_encoder_and_kind(t)[0] for t in types])
    if packed is None:  # a separator inside a cell (never in JSON text): the rows as they are
        return rel.fetchall(), None
    return [], packed


# One JSON document parsed once per operator instead of once per property read (issue 15, the estate's memory).
# duckdb-kql renders `tostring(properties.a.b)` as `json_extract("properties", '$.a.b')`: every such call parses the
# whole document again, in an arena of its own per call site that holds a vector's worth (2,048 documents) of parsed
# JSON: the large estate's recommendations query read 26 properties and peaked ~0.7 GB above its tables. DuckDB's
# json_extract also takes a LIST of paths and answers, from one parse, the list of what each path alone answers
# (DuckDB's own function both times: the same value, NULL for a missing key), so
#     json_extract("c", '$.a.b')   ->   json_extract("c", ['$.a.b', '$.x', ...])[1]
# with one list per column for the whole statement: the same text everywhere, so DuckDB's common-subexpression
# elimination computes it once per operator. A local identity on each call, whatever "c" holds in that scope (an
# `extend properties = ...` included): no schema, query string or table is special-cased. Wildcard paths (they
# answer a list) and calls on anything but a plain column are left as written.
_JSON_EXTRACT = re.compile(r"""json_extract\(("(?:[^"]|"")+"), '((?:[^'*]|'')*)'\)""")
MAX_SHARED_PATHS = 64


def share_json_parses(sql: str) -> str:
    """`sql` with every json_extract(<column>, '<$-path>') of a column read at two paths or more rewritten to one
    shared list extraction (see above). String literals and quoted identifiers are never looked into."""
    calls: list[tuple[int, int, str, str]] = []  # (start, end, column identifier, path literal body)
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):  # skip a literal or an identifier ('' / "" escape the quote)
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if ch == "j" and sql.startswith("json_extract(", i) and (i == 0 or not (sql[i - 1].isalnum()
                                                                            or sql[i - 1] in "_$")):
            m = _JSON_EXTRACT.match(sql, i)
            if m and m.group(2).startswith("$"):
                calls.append((m.start(), m.end(), m.group(1), m.group(2)))
                i = m.end()
                continue
        i += 1
    paths: dict[str, list[str]] = {}
    for _, _, col, path in calls:
        seen = paths.setdefault(col, [])
        if path not in seen:
            seen.append(path)
    lists = {col: "[" + ", ".join("'" + p + "'" for p in ps) + "]" for col, ps in paths.items()
             if 1 < len(ps) <= MAX_SHARED_PATHS}
    if not lists:
        return sql
    out, pos = [], 0
    for start, end, col, path in calls:
        if col not in lists:
            continue
        out.append(sql[pos:start])
        out.append(f"json_extract({col}, {lists[col]})[{paths[col].index(path) + 1}]")
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _with_shared_parses(cur: duckdb.DuckDBPyConnection,
                        rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation | None:
    """The relation with its JSON reads shared (share_json_parses); None when nothing changes."""
    statement = getattr(rel, "_statement", None)
    if not callable(statement):
        return None
    sql, values = statement()
    shared = share_json_parses(sql)
    if shared == sql:
        return None
    try:
        return cur.sql(shared, params=values) if values else cur.sql(shared)
    except duckdb.Error:  # never expected; the query then runs as translated
        return None


def _clean_engine_message(msg: str) -> str:
    return msg.replace('Did you mean "duckdb_tables"?', "").strip()


def _is_control_command(query: str) -> bool:
    for line in query.splitlines():
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        return s.startswith(".")
    return False


def _normalise_tables(query: str, tables: set[str]) -> tuple[str, set[str]]:
    """Token-level fixes for what ARG accepts and duckdb-kql does not; returns (query, tables mentioned).

    - ARG table names are case-insensitive (`SecurityResources`); duckdb-kql's catalog is not: identifier tokens
      that spell a loaded table in any case become its lower-case name.
    - `count(expr)` (used by Microsoft's own ARG samples, e.g. `count(resourceId)`) is refused by duckdb-kql, which
      only knows `count()`: it becomes `countif(isnotnull(expr))` (Kusto ignores nulls in count(expr)).

    Strings and comments are never touched (they are single tokens, or hidden).
    """
    from antlr4 import InputStream
    from duckdb_kql._antlr.KqlLexer import KqlLexer

    lexer = KqlLexer(InputStream(query))
    lexer.removeErrorListeners()
    try:
        tokens = [t for t in lexer.getAllTokens() if t.channel == 0]
    except Exception:  # noqa: BLE001 - let the translator report the syntax error
        return query, set()
    ident = KqlLexer.IDENTIFIER
    opening, closing = KqlLexer.OPENPAREN, KqlLexer.CLOSEPAREN
    edits: list[tuple[int, int, str]] = []  # (start, stop exclusive, replacement)
    referenced: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.type == ident:
            low = tok.text.lower()
            if low in tables:
                referenced.add(low)
                if tok.text != low:
                    edits.append((tok.start, tok.stop + 1, low))
            continue
        if (tok.text == "count" and i + 2 < len(tokens) and tokens[i + 1].type == opening
                and tokens[i + 2].type != closing):
            depth, j = 0, i + 1
            while j < len(tokens):
                if tokens[j].type == opening:
                    depth += 1
                elif tokens[j].type == closing:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(tokens):
                edits.append((tok.start, tokens[i + 1].stop + 1, "countif(isnotnull("))
                edits.append((tokens[j].start, tokens[j].start, ")"))
    if not edits:
        return query, referenced
    out, pos = [], 0
    for a, b, rep in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(query[pos:a])
        out.append(rep)
        pos = max(pos, b)
    out.append(query[pos:])
    return "".join(out), referenced


# ------------------------------------------------------------------------------------------------------------------
# ARG request semantics


@dataclass
class _CacheEntry:
    key: str
    digest: str
    result: QueryResult
    created: float


class ResourceGraph:
    """QueryRequest in, (status, QueryResponse JSON) out. Thread-safe; call from an executor.

    A result that pages (more rows than PACK_ROWS) is cached packed (QueryResult.pack: its pages' text, compressed)."""

    PACK_ROWS = 1000

    def __init__(self, world: Any, *, cache_entries: int = 32, cache_rows: int = 400_000,
                 cache_bytes: int = 512 << 20, cache_ttl_s: float = 900.0, query_timeout_s: float = 60.0) -> None:
        self.store = ArgStore(world, query_timeout_s=query_timeout_s)
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_entries = cache_entries
        self.cache_rows = cache_rows
        self.cache_bytes = cache_bytes
        self.cache_ttl_s = cache_ttl_s
        self.queries_run = 0  # full query computations (a cached $skipToken page does not count)

    # -- public ------------------------------------------------------------------------------------------------

    def execute(self, body: Any, allowed: frozenset[str] | None = None) -> tuple[int, str]:
        """`allowed`: the lower-case subscription ids the caller may read (None: all); a request's own scope is cut
        down to them, a tenant-scope request sees exactly them (ARG answers what the caller can access)."""
        try:
            return 200, self._execute(body, allowed)
        except ArgError as e:
            return e.status, json.dumps(e.body(), ensure_ascii=False)

    def query(self, query: str, subscriptions: Sequence[str] | None = None) -> QueryResult:
        """Convenience for in-process callers and tests: the whole result, no paging."""
        self.queries_run += 1
        return self.store.run(query, self.store.resolve_scope(subscriptions, None))

    # -- internals ---------------------------------------------------------------------------------------------

    def _execute(self, body: Any, allowed: frozenset[str] | None = None) -> str:
        if not isinstance(body, dict):
            raise bad_request("InvalidRequestContent", "The request content must be a JSON object.")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise bad_request("InvalidRequestContent", "The 'query' property is required.")
        subs = body.get("subscriptions")
        mgs = body.get("managementGroups")
        for name, v in (("subscriptions", subs), ("managementGroups", mgs)):
            if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                raise bad_request("InvalidRequestContent", f"'{name}' must be an array of strings.")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise bad_request("InvalidRequestContent", "'options' must be an object.")
        top = self._int_option(options, "$top", DEFAULT_TOP, 1, MAX_TOP)
        skip = self._int_option(options, "$skip", 0, 0, None)
        token = options.get("$skipToken")
        fmt = str(options.get("resultFormat") or "objectArray")
        if fmt.lower() not in ("objectarray", "table"):
            raise bad_request("InvalidRequestContent",
                              f"The resultFormat '{fmt}' is invalid. Supported values: 'table', 'objectArray'.")
        table = fmt.lower() == "table"

        scope = self.store.resolve_scope(subs, mgs)
        if allowed is not None:
            scope = allowed if scope is None else scope & allowed
        digest = self._digest(query, scope)
        if token:
            entry, offset = self._from_token(token, digest)
            if entry is None:
                # evicted or from another process life: recompute and carry on from the token's offset
                entry = self._compute(query, scope, digest)
            start = offset
        else:
            entry = self._compute(query, scope, digest)
            start = skip
        result = entry.result
        total = len(result)
        start = min(start, total)
        stop = min(start + top, total)
        more = stop < total
        skip_token = None
        truncated = "false"
        if more:
            if result.has_id:
                skip_token = self._token(entry, stop)
            else:
                truncated = "true"
        facets = self._facets(body.get("facets"), query, scope)
        data = result.table_json(start, stop) if table else result.object_array_json(start, stop)
        parts = [
            '"totalRecords":' + str(total),
            '"count":' + str(stop - start),
            '"resultTruncated":"' + truncated + '"',
        ]
        if skip_token:
            parts.append('"$skipToken":' + json.dumps(skip_token))
        parts.append('"data":' + data)
        parts.append('"facets":' + json.dumps(facets, ensure_ascii=False, separators=(",", ":")))
        return "{" + ",".join(parts) + "}"

    @staticmethod
    def _int_option(options: dict, key: str, default: int, lo: int, hi: int | None) -> int:
        v = options.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise bad_request("InvalidRequestContent", f"The '{key}' option must be an integer.")
        try:
            n = int(v)
        except ValueError:
            raise bad_request("InvalidRequestContent", f"The '{key}' option must be an integer.") from None
        if n < lo or (hi is not None and n > hi):
            rng = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise bad_request("InvalidRequestContent",
                              f"The value {n} of the '{key}' option is out of range: it must be {rng}.")
        return n

    @staticmethod
    def _digest(query: str, scope: frozenset[str] | None) -> str:
        h = hashlib.sha256()
        h.update(query.encode("utf-8"))
        h.update(b"\0")
        h.update(("*" if scope is None else ",".join(sorted(scope))).encode("ascii", "replace"))
        return h.hexdigest()[:20]

    def _compute(self, query: str, scope: frozenset[str] | None, digest: str) -> _CacheEntry:
        result = self.store.run(query, scope, pack_over=self.PACK_ROWS)
        self.queries_run += 1
        if len(result) > self.PACK_ROWS and result.pack():  # packed already unless a cell held a separator byte
            trim_heap()
        return _CacheEntry(secrets.token_hex(8), digest, result, time.monotonic())

    def _token(self, entry: _CacheEntry, offset: int) -> str:
        with self._cache_lock:
            if entry.key not in self._cache:
                self._cache[entry.key] = entry
            self._cache.move_to_end(entry.key)
            self._evict()
        raw = json.dumps({"k": entry.key, "o": offset, "d": entry.digest}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")

    def _from_token(self, token: Any, digest: str) -> tuple[_CacheEntry | None, int]:
        try:
            if not isinstance(token, str):
                raise ValueError
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            d = json.loads(raw)
            key, offset, tok_digest = str(d["k"]), int(d["o"]), str(d["d"])
            if offset < 0:
                raise ValueError
        except Exception:  # noqa: BLE001 - any malformed token (base64, JSON, keys, types) is the same 400
            raise bad_request("InvalidSkipToken", "The $skipToken is invalid.") from None
        if tok_digest != digest:
            raise bad_request("InvalidSkipToken",
                              "The $skipToken does not belong to this query and scope.")
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is not None:
                if time.monotonic() - entry.created > self.cache_ttl_s:
                    del self._cache[key]
                    entry = None
                else:
                    self._cache.move_to_end(key)
        return entry, offset

    def _evict(self) -> None:
        now = time.monotonic()
        for k in [k for k, e in self._cache.items() if now - e.created > self.cache_ttl_s]:
            del self._cache[k]
        # rows held as Python objects count against cache_rows, packed ones by their compressed bytes
        while len(self._cache) > self.cache_entries or (
            len(self._cache) > 1 and (sum(e.result.plain_rows for e in self._cache.values()) > self.cache_rows
                                      or sum(e.result.packed_bytes for e in self._cache.values()) > self.cache_bytes)
        ):
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _facets(self, facets: Any, query: str, scope: frozenset[str] | None) -> list[dict[str, Any]]:
        if not facets:
            return []
        if not isinstance(facets, list):
            raise bad_request("InvalidRequestContent", "'facets' must be an array.")
        out = []
        for f in facets:
            if not isinstance(f, dict) or not isinstance(f.get("expression"), str):
                raise bad_request("InvalidRequestContent", "Each facet needs an 'expression'.")
            expr = f["expression"]
            opts = f.get("options") or {}
            top = self._int_option(opts, "$top", 10, 1, MAX_TOP)
            order = str(opts.get("sortOrder") or "desc").lower()
            order = "asc" if order == "asc" else "desc"
            sort_by = str(opts.get("sortBy") or "count")
            filt = opts.get("filter")
            q = query
            if filt:
                q += f"\n| where {filt}"
            q += f"\n| summarize count_ = count() by {expr}"
            q += f"\n| order by {'count_' if sort_by == 'count' else sort_by} {order}"
            try:
                res = self.store.run(q, scope)
            except ArgError as e:
                details = e.error.get("details") or [{"code": e.error.get("code"), "message": e.error.get("message")}]
                out.append({"expression": expr, "resultType": "FacetError",
                            "errors": [{"code": d.get("code"), "message": d.get("message")} for d in details]})
                continue
            res.columns = ["count" if c == "count_" else c for c in res.columns]
            fmt = str((f.get("options") or {}).get("resultFormat") or "")
            n = min(top, len(res))
            data = json.loads(res.table_json(0, n) if fmt.lower() == "table" else res.object_array_json(0, n))
            out.append({"expression": expr, "resultType": "FacetResult", "totalRecords": len(res),
                        "count": n, "data": data})
        return out
