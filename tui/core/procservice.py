"""The data service in its own process: what the dashboard uses by default.

Collecting a 200-account estate makes a lot of short-lived garbage (boto3 clients, botocore parsing, 1000-row ARG
pages). In the dashboard's process the cyclic collector then stops every thread, the UI loop included, for
0.4-2 s at a time (measured by ``make bench``), and the SDKs' memory stays with the UI. Here the same
:class:`~tui.core.service.Service` runs in a child process (``python -m tui.core.servicehost``); the UI keeps only
what it shows.

- The API is the :class:`Service`'s (``collect``, ``recommendations``, ``recommendation_table``,
  ``compliance_controls``, ``compliance_failing_keys``, ``failing_controls``, ``close``): blocking calls, from the
  UI's worker threads, several at once.
- Messages are length-prefixed pickles over the child's stdin/stdout (a private pipe: nothing is written to disk).
  The child writes history itself.
- Recommendations travel in chunks with their repeated strings sent once (a string table), so 100k rows arrive
  sharing their titles, accounts and descriptions as they did in the child, and no single unpickle holds the GIL
  for long. Their sort orders arrive as ``array('I')`` computed in the child.
- Errors come back as the core's own exceptions with their message. A child that dies or stops answering fails
  the calls in flight with a clear message and is started again, from the last snapshot, on the next call.
- The child's stderr never reaches the terminal (the dashboard draws there): its last lines are kept in memory and
  quoted when it dies. Its log lines (WARNING, DEBUG with -vv) go to the same log file as the parent's, redacted
  in the child (tui.core.logfile.child_env: the file's path and the level travel in its environment).
- A collection travels as what changed since the snapshot the parent holds; the rest arrives as references to
  the parent's own objects (see encode_snapshot).
- A child that holds more than ``max_child_mb`` once it has nothing to do is retired (it closes its clients and
  history and exits) and the next call starts a fresh one from the last snapshot. Its exit is no error. The
  limit, the decode-time GC hold and the child's heap cap are the memory policy's (:mod:`tui.core.memory`).

Never imports textual or rich.
"""
from __future__ import annotations

import builtins
from array import array
import collections
import dataclasses
import io
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import fields
from typing import IO, Any, Sequence

from . import errors, memory
from . import model as m
from .config import Settings
from .progress import ProgressFn

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
CHUNK_ROWS = 2048  # recommendations per message: each unpickles in about a millisecond

# Recommendation fields sent as codes into the string table (values repeat across rows); the others are sent as is
_REC_FIELDS = tuple(f.name for f in fields(m.Recommendation))
_REC_RAW = frozenset({"id"})  # unique per row; everything else repeats (a resource has many rows)
_REC_CODED = tuple(i for i, name in enumerate(_REC_FIELDS) if name not in _REC_RAW)

METHODS = frozenset({"collect", "recommendations", "recommendation_table", "compliance_controls",
                     "compliance_failing_keys", "failing_controls"})


# ---------------------------------------------------------------------------------------------------------- framing


def write_msg(fh: IO[bytes], obj: Any, lock: threading.Lock | None = None) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if lock is None:
        fh.write(_HEADER.pack(len(data)) + data)
        fh.flush()
        return
    with lock:
        fh.write(_HEADER.pack(len(data)))
        fh.write(data)
        fh.flush()


def read_msg(fh: IO[bytes]) -> Any:
    """The next message, or raises EOFError when the other side closed the pipe."""
    head = _read_exact(fh, _HEADER.size)
    return pickle.loads(_read_exact(fh, _HEADER.unpack(head)[0]))


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    buf = fh.read(n)
    if buf is None or len(buf) < n:
        raise EOFError("pipe closed")
    return buf


# ---------------------------------------------------------------------------------------------------------- rows


class RowEncoder:
    """Recommendations -> (new strings, row tuples with codes); one per stream (strings are sent once)."""

    def __init__(self) -> None:
        self.codes: dict[Any, int] = {None: 0}

    def encode(self, rows: Sequence[m.Recommendation]) -> tuple[list[str], list[tuple[Any, ...]]]:
        codes = self.codes
        new: list[str] = []
        out: list[tuple[Any, ...]] = []
        for r in rows:
            vals = [getattr(r, name) for name in _REC_FIELDS]
            for i in _REC_CODED:
                v = vals[i]
                c = codes.get(v)
                if c is None:
                    c = codes[v] = len(codes)
                    new.append(v)
                vals[i] = c
            out.append(tuple(vals))
        return new, out


class RowDecoder:
    """The inverse of :class:`RowEncoder`: equal strings come back as one object (as they were in the child).

    ``previous`` (the rows of the last answer) makes a refresh cheap: a row equal to the previous one with its id
    is that previous object, so the dashboard holds one copy of what did not change instead of two while the
    new answer arrives (and what it keeps is already out of the garbage collector's way). ``previous_table``
    (the last answer's string table) does the same for the strings: the child numbers them in the order it
    first sends them, so an unchanged answer sends each one under the code it had; a string equal to the one
    the previous table has under its code is that object (the new one is let go at once: ~5 MB at 128k rows
    that the dashboard would otherwise hold twice until the answer is complete)."""

    def __init__(self, previous: Sequence[m.Recommendation] | None = None,
                 previous_table: Sequence[Any] | None = None) -> None:
        self.table: list[Any] = [None]
        self._prev_table: Sequence[Any] = previous_table or ()
        # a refresh usually sends the rows in the same order: the previous row at the same position is tried
        # first; the by-id map (~80 MB at 1M rows) is made only when a row is not where it was
        self._prev: Sequence[m.Recommendation] = previous or ()
        self._by_id: dict[str, m.Recommendation] | None = None
        self._at = 0
        self.reused = 0

    def _previous(self, r: m.Recommendation, at: int) -> m.Recommendation | None:
        prev = self._prev
        if at < len(prev) and prev[at].id == r.id:
            return prev[at]
        if not prev:
            return None
        if self._by_id is None:
            self._by_id = {x.id: x for x in prev}
        return self._by_id.get(r.id)

    def decode(self, new: list[str], rows: list[tuple[Any, ...]]) -> list[m.Recommendation]:
        t = self.table
        base = len(t)
        same = self._prev_table[base:base + len(new)]  # what the previous answer had under the same codes
        t.extend([o if type(o) is type(v) and o == v else v for o, v in zip(same, new)])
        t.extend(new[len(same):])
        make = m.Recommendation
        coded = _REC_CODED
        prev = self._previous
        at = self._at
        self._at += len(rows)
        out = []
        for row in rows:
            vals = list(row)
            for i in coded:
                vals[i] = t[vals[i]]
            r = make(*vals)
            old = prev(r, at)
            at += 1
            if old is not None and old == r:
                r = old
                self.reused += 1
            out.append(r)
        return out


def _same_parts(old: Any, new: Any) -> bool:
    """Two sort orders (arrays) or two filter columns ((values, codes, groups)) hold the same: same types too (an
    array of 1-byte codes is not one of 2-byte codes with the same numbers: it would be read alike, but is kept
    as sent)."""
    if isinstance(old, tuple) and isinstance(new, tuple):
        return len(old) == len(new) and all(_same_parts(a, b) for a, b in zip(old, new))
    if type(old) is not type(new):
        return False
    if isinstance(old, array):
        return old.typecode == new.typecode and old == new
    try:
        return bool(old == new)
    except Exception:  # noqa: BLE001 - values that cannot be compared are simply not shared
        return False


# ---------------------------------------------------------------------------------------------------------- snapshots
#
# A collection answers with the whole snapshot (~25 MB of objects for the large estate), and little of it changes
# from one refresh to the next (Defender rescans every 4-24 h). Unpickling all of it again made the dashboard hold
# room for two snapshots for good (its heap cannot give back memory that a few survivors pin): ~25 MB. So the
# child sends what changed since the snapshot the parent holds, and the parts that did not as references to the
# parent's own objects (pickle persistent ids: a path from the snapshot's root).

_Path = tuple[tuple[str, Any], ...]  # ("a", field name) | ("i", position) | ("k", mapping key), from the root


def _is_node(x: Any) -> bool:
    """Worth sending as a reference: a container (not a string or a number)."""
    return isinstance(x, (tuple, list, dict)) or (dataclasses.is_dataclass(x) and not isinstance(x, type))


def _same_scalar(a: Any, b: Any) -> bool:
    try:
        if not bool(a == b):
            return False
    except Exception:  # noqa: BLE001 - an odd value is simply sent again
        return False
    tz = getattr(a, "tzinfo", None)  # equal instants in two time zones print differently
    return tz is None and getattr(b, "tzinfo", None) is None or repr(tz) == repr(getattr(b, "tzinfo", None))


def unchanged_parts(new: Any, old: Any, path: _Path = (), out: dict[int, _Path] | None = None) -> dict[int, _Path]:
    """``id(part of new) -> path of an identical part of old``, for the largest parts of ``new`` that did not change
    (every field compared, ``compare=False`` ones too, types included)."""
    out = {} if out is None else out
    if _diff(new, old, path, out) and _is_node(new):
        out[id(new)] = path
    return out


def _diff(new: Any, old: Any, path: _Path, out: dict[int, _Path]) -> bool:
    """True when ``new`` is the same as ``old`` all through; else the unchanged parts of ``new`` go into ``out``."""
    if new is old:
        return True
    t = type(new)
    if t is not type(old):
        return False
    if t is tuple or t is list:
        return _diff_seq(new, old, path, out)
    if t is dict:
        same = list(new) == list(old)
        kept = []
        for k, v in new.items():
            if k in old:
                p = path + (("k", k),)
                if _diff(v, old[k], p, out):
                    kept.append((v, p))
                    continue
            same = False
        if not same:
            out.update((id(v), p) for v, p in kept if _is_node(v))
        return same
    if dataclasses.is_dataclass(new):
        same = True
        kept = []
        for f in dataclasses.fields(new):
            v = getattr(new, f.name)
            p = path + (("a", f.name),)
            if _diff(v, getattr(old, f.name), p, out):
                kept.append((v, p))
            else:
                same = False
        if not same:
            out.update((id(v), p) for v, p in kept if _is_node(v))
        return same
    return _same_scalar(new, old)


def _diff_seq(new: Sequence[Any], old: Sequence[Any], path: _Path, out: dict[int, _Path]) -> bool:
    same = len(new) == len(old)
    where: dict[Any, int] | None = None  # old element -> its position, built when an element moved
    for i, v in enumerate(new):
        if i < len(old):
            sub: dict[int, _Path] = {}
            if _diff(v, old[i], path + (("i", i),), sub):
                if _is_node(v):
                    out[id(v)] = path + (("i", i),)
                continue
        else:
            sub = {}
        same = False
        if where is None:
            where = {}
            for j, o in enumerate(old):
                try:
                    where.setdefault(o, j)
                except TypeError:  # unhashable: found by position only
                    pass
        try:
            at = where.get(v)
        except TypeError:
            at = None
        if at is not None and _is_node(v) and _diff(v, old[at], path + (("i", at),), {}):
            out[id(v)] = path + (("i", at),)  # the same element at another position (one added before it)
        else:
            out.update(sub)  # what did not change inside it, where it was
    return same


class _RefPickler(pickle.Pickler):
    def __init__(self, fh: IO[bytes], refs: dict[int, _Path]) -> None:
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = refs

    def persistent_id(self, obj: Any) -> Any:
        return self._refs.get(id(obj))


class _RefUnpickler(pickle.Unpickler):
    def __init__(self, fh: IO[bytes], base: Any) -> None:
        super().__init__(fh)
        self._base = base

    def persistent_load(self, pid: Any) -> Any:
        obj = self._base
        for kind, key in pid:
            obj = getattr(obj, key) if kind == "a" else obj[key]
        return obj


def encode_snapshot(snap: m.Snapshot, base: m.Snapshot | None) -> tuple[Any, bytes]:
    """``snap`` for a parent that holds ``base``: (a token of base, pickle with references into base)."""
    refs = unchanged_parts(snap, base) if base is not None else {}
    buf = io.BytesIO()
    _RefPickler(buf, refs).dump(snap)
    return _token(base), buf.getvalue()


def decode_snapshot(token: Any, data: bytes, base: m.Snapshot | None) -> m.Snapshot:
    """The inverse of :func:`encode_snapshot`, with the unchanged parts ``base``'s own objects."""
    if token != _token(base):
        raise ValueError("the snapshot was sent against another snapshot than the one held here")
    return _RefUnpickler(io.BytesIO(data), base).load()


def _token(snap: m.Snapshot | None) -> Any:
    return None if snap is None else (snap.generated_at, tuple(snap.sections))


# ---------------------------------------------------------------------------------------------------------- errors


def error_payload(e: BaseException) -> tuple[str, str]:
    msg = " ".join(str(e).split()) or e.__class__.__name__
    return e.__class__.__name__, msg


_ERRORS = {c.__name__: c for c in (errors.SourceError, errors.AuthError, errors.UsageError)}
_BUILTIN_OK = {"TimeoutError", "ValueError", "KeyError", "RuntimeError", "ConnectionError", "OSError",
               "PermissionError", "FileNotFoundError"}


def rebuild_error(kind: str, msg: str) -> BaseException:
    cls = _ERRORS.get(kind)
    if cls is not None:
        return cls(msg)
    if kind in _BUILTIN_OK:
        return getattr(builtins, kind)(msg)
    return errors.SourceError(msg)


# ---------------------------------------------------------------------------------------------------------- parent


class _Call:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None  # the child that answers it
        self.future: Future[Any] = Future()
        self.rows: list[m.Recommendation] = []
        self.decoder: RowDecoder | None = None
        self.previous: Sequence[m.Recommendation] | None = None
        self.progress: ProgressFn | None = None  # told the rows arrived here and the total the child announced
        self.total: int | None = None
        self.orders: Any = None  # a table's orders and columns as their parts arrive (rectable.Orders)
        self.previous_orders: Any = None  # the last answer's: a part equal to its counterpart there is that object
        self.previous_table: Sequence[Any] | None = None  # the last answer's string table (RowDecoder)


class ProcessService:
    """A :class:`~tui.core.service.Service` in a child process, with the same blocking API."""

    host_module = "tui.core.servicehost"  # the child's module (a benchmark's synthetic feed names its own)

    def __init__(self, settings: Settings, history: Any = None, *, section_timeout_s: float = 120.0,
                 start_from: m.Snapshot | None = None, python: str | None = None,
                 call_timeout_s: float | None = None,
                 max_child_mb: float | memory.Default | None = memory.POLICY_DEFAULT) -> None:
        self.settings = settings
        # the child opens the same history (same scope); one the parent could not open is not tried again
        usable = history is not None and getattr(history, "path", None) and not getattr(history, "error", None)
        self.history_path = str(history.path) if usable else None
        self.history_scope = getattr(history, "scope", None) if usable else None
        self.history_error: str | None = None  # the child's history was disabled: why (the dashboard says so)
        self.reader_failures = 0  # answers the reader could not handle (each restarted the child)
        self.section_timeout_s = section_timeout_s
        # a call's sections time out in the child; this catches a child that stopped answering at all
        self.call_timeout_s = call_timeout_s if call_timeout_s is not None else section_timeout_s * 3 + 60
        self.last_snapshot: m.Snapshot | None = start_from
        self.python = python or sys.executable
        # past this an idle child is retired (None: never); not given: the memory policy's (tui.core.memory)
        self.max_child_mb = memory.POLICY.max_child_mb if max_child_mb is memory.POLICY_DEFAULT else max_child_mb
        self.starts = 0
        self.retired = 0  # children retired for their size (each exits by itself; the next call starts one)
        self._retiring: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._calls: dict[int, _Call] = {}
        self._next_id = 0
        self._closed = False
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._write_lock = threading.Lock()
        self._collect_lock = threading.Lock()
        self._last_rows: list[m.Recommendation] | None = None  # what the last table answer decoded to
        self._last_orders: Any = None  # and its orders and columns
        self._last_table: list[Any] | None = None  # and its string table
        self.last_reused = 0  # rows of the last answer that were the previous answer's objects
        self._start()

    # -- the child ---------------------------------------------------------------------------------------------

    def _start(self) -> None:
        env = dict(os.environ)
        # its heaps capped from the start (a dozen SDK threads: see tui.core.memory)
        memory.POLICY.child_env(env)
        # its log lines go to this process's log file too (the path and level only; tui.core.logfile)
        from . import logfile

        logfile.child_env(env)
        # -P: the current directory never comes first on sys.path (a tui/ package there must not run here)
        proc = subprocess.Popen([self.python, "-P", "-m", self.host_module], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, close_fds=True)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self.starts += 1
        threading.Thread(target=self._read_loop, args=(proc,), name="mdc-aws-service-reader", daemon=True).start()
        threading.Thread(target=self._stderr_loop, args=(proc,), name="mdc-aws-service-stderr",
                         daemon=True).start()
        try:
            write_msg(proc.stdin, ("init", self.settings, self.history_path, self.section_timeout_s,
                                   self.last_snapshot, self.history_scope), self._write_lock)
        except OSError:  # it died at once: the reader thread reports it to the calls
            pass

    def _stderr_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line[:500])

    def _read_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        failure: str | None = None
        try:
            while True:
                head = _read_exact(proc.stdout, _HEADER.size)  # waits here with the collector on
                body = _read_exact(proc.stdout, _HEADER.unpack(head)[0])
                with memory.POLICY.hold() as held:  # no collections while 100k rows decode; then frozen
                    held.made = self._dispatch(pickle.loads(body), proc)  # unless it made nothing lasting
                del body
        except (EOFError, OSError) as e:
            reason: BaseException = e
        except Exception as e:  # noqa: BLE001 - whatever broke the reader: this child is restarted, never left
            # without a reader (every later call would wait for an answer nobody reads)
            reason = e
            failure = " ".join(f"{e.__class__.__name__}: {e}".split())[:300]
            self.reader_failures += 1
            log.warning("the collector's answer could not be read (%s): restarting the collector process", failure)
            try:
                proc.kill()
            except OSError:
                pass
        code = proc.wait()
        with self._lock:
            mine = [k for k, c in self._calls.items() if c.proc is proc]
            calls = {k: self._calls.pop(k) for k in mine}
            if self._proc is proc:
                self._proc = None
            planned = proc in self._retiring
            self._retiring.discard(proc)
        if planned and not calls:  # retired for its size: it had nothing left to do and was asked to exit
            return
        if self._closed:
            err: BaseException = errors.SourceError("the data service is closed")
        elif failure is not None:
            err = errors.SourceError(f"the collector's answer could not be read ({failure}); the collector was "
                                     "restarted: refresh (r) to try again")
        else:
            tail = self._last_error_line()
            err = errors.SourceError(
                f"the collector process stopped (exit code {code}{': ' + tail if tail else ''}); "
                "it starts again on the next refresh (r)")
            log.warning("collector process stopped: %s (%s)%s", code, reason, f": {tail}" if tail else "")
        for c in calls.values():
            if not c.future.done():
                c.future.set_exception(err)

    def _last_error_line(self) -> str:
        for line in reversed(self._stderr_tail):
            if not line.startswith(("  ", "Traceback")):
                return line
        return ""

    def _dispatch(self, msg: tuple[Any, ...], proc: subprocess.Popen[bytes] | None = None) -> int | None:
        """Handle one message; returns how many long-lived objects that the garbage collector tracks it made
        here (new rows), None when it cannot say (an answer: a snapshot may be large), for memory.Hold.made."""
        call_id, kind, payload = msg
        if kind == "idle":
            self._maybe_retire(proc, payload)
            return 0
        if kind == "notice":  # the child's history was disabled (cannot be opened or written)
            if isinstance(payload, str) and payload != self.history_error:
                log.warning("collector: %s", payload)
                self.history_error = payload
            return 0
        with self._lock:
            c = self._calls.get(call_id)
        if c is None:
            return 0
        if kind == "rows":
            if c.decoder is None:
                c.decoder = RowDecoder(c.previous, c.previous_table)
                c.previous = c.previous_table = None
            reused = c.decoder.reused
            rows = c.decoder.decode(*payload)
            c.rows.extend(rows)
            if c.progress is not None:
                self._tell(c)
            return len(rows) - (c.decoder.reused - reused)  # those that are not the previous answer's objects
        if kind in ("order", "column"):  # a table's sort order or filter column (servicehost.send_orders)
            self._add_order_part(c, kind, payload)
            return 0  # arrays and a few strings: nothing the garbage collector walks
        if kind == "progress":  # (rows fetched in the child, total announced): the rows counted are those here
            c.total = payload[1]
            if c.progress is not None:
                self._tell(c)
            return 0
        with self._lock:
            self._calls.pop(call_id, None)
        if kind == "ok":
            c.future.set_result(payload)
            return None if payload is not None else 0
        c.future.set_exception(rebuild_error(*payload))
        return 0

    @staticmethod
    def _add_order_part(c: _Call, kind: str, payload: Any) -> None:
        """One sort order or filter column into the call's orders. Equal to the previous answer's (a refresh where
        nothing moved, the usual case): the previous object is kept and the one just decoded let go, so the
        dashboard never holds two copies of what did not change (as RowDecoder does for rows)."""
        if c.orders is None:
            from .rectable import Orders

            c.orders = Orders()
        prev = c.previous_orders
        if kind == "order":
            key, order = payload
            old = prev.get(key) if prev is not None else None
            c.orders[key] = old if old is not None and _same_parts(old, order) else order
            return
        attr, *parts = payload
        old_col = getattr(prev, "columns", {}).get(attr) if prev is not None else None
        new_col = tuple(parts)
        c.orders.columns[attr] = old_col if old_col is not None and _same_parts(old_col, new_col) else new_col

    @staticmethod
    def _tell(c: _Call) -> None:
        assert c.progress is not None
        try:
            c.progress(len(c.rows), c.total)
        except Exception:  # broad: a progress line must never break the reader (logged with its traceback)
            log.debug("progress callback failed", exc_info=True)

    def _maybe_retire(self, proc: subprocess.Popen[bytes] | None, rss_mb: Any) -> None:
        """``proc`` said it has nothing to do and holds ``rss_mb``: past ``max_child_mb`` (the memory policy
        decides), and with no call of ours on its way to it (checked under the lock every call takes to pick its
        child), it is asked to exit and the next call starts a fresh one. Its answers are all in, and a collection
        saved its history before answering: nothing is lost, and its exit is no error."""
        limit = self.max_child_mb
        log.debug("collector process idle at %s MB", rss_mb)
        if proc is None or not memory.POLICY.should_retire(rss_mb, limit):
            return
        with self._lock:
            if self._closed or self._proc is not proc or any(c.proc is proc for c in self._calls.values()):
                return
            self._proc = None
            self._retiring.add(proc)
            self.retired += 1
        log.info("retiring the collector process (%.0f MB idle, limit %.0f MB)", rss_mb, limit)
        try:
            assert proc.stdin is not None
            write_msg(proc.stdin, ("close",), self._write_lock)
            proc.stdin.close()
        except (OSError, ValueError):
            pass  # it is gone already: the reader sees EOF all the same

    # -- calls -------------------------------------------------------------------------------------------------

    def _request(self, method: str, *args: Any, previous: Sequence[m.Recommendation] | None = None,
                 progress: ProgressFn | None = None, previous_orders: Any = None,
                 previous_table: Sequence[Any] | None = None) -> _Call:
        if self._closed:
            raise errors.SourceError("the data service is closed")
        c = _Call()
        c.previous = previous
        c.previous_orders = previous_orders
        c.previous_table = previous_table
        c.progress = progress
        with self._lock:
            if self._proc is None:
                self._start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            c.proc = proc
            self._next_id += 1
            call_id = self._next_id
            self._calls[call_id] = c
        try:
            write_msg(proc.stdin, (call_id, method, args), self._write_lock)
        except (BrokenPipeError, OSError, ValueError) as e:
            with self._lock:
                self._calls.pop(call_id, None)
            raise errors.SourceError(f"the collector process is not running ({e}); it starts again on the next "
                                     "refresh (r)") from None
        return c

    def _wait(self, c: _Call, timeout: float) -> Any:
        try:
            return c.future.result(timeout)
        except TimeoutError:
            self._restart(f"no answer in {timeout:.0f} s")
            raise errors.SourceError(f"the collector process did not answer in {timeout:.0f} s; "
                                     "it was restarted") from None

    @property
    def _timeout(self) -> float:
        return self.call_timeout_s

    def collect(self) -> m.Snapshot:
        # one at a time: each answer is sent against the snapshot the previous one left here
        with self._collect_lock:
            token, data = self._wait(self._request("collect"), self._timeout)
            try:
                snap = decode_snapshot(token, data, self.last_snapshot)
            except (ValueError, LookupError, AttributeError, pickle.UnpicklingError) as e:
                self._restart(f"unreadable snapshot ({e})")  # the next child starts from what is held here
                raise errors.SourceError("the collector process sent a snapshot that could not be read; it was "
                                         "restarted: refresh (r) to collect again") from None
            self.last_snapshot = snap
        return snap

    def recommendations(self, subscriptions: Sequence[str] | None = None) -> list[m.Recommendation]:
        c = self._request("recommendations", list(subscriptions) if subscriptions is not None else None)
        self._wait(c, self._timeout)
        return c.rows

    def recommendation_table(self, *, progress: ProgressFn | None = None) -> Any:
        """As Service.recommendation_table; ``progress(rows, total)`` is called on the reader thread as each chunk
        of rows is decoded here (and when the child says the total Resource Graph announced)."""
        from .rectable import RecTable

        c = self._request("recommendation_table", previous=self._last_rows, progress=progress,
                          previous_orders=self._last_orders, previous_table=self._last_table)
        orders = self._wait(c, self._timeout)
        if orders is None:  # sent in parts (servicehost.send_orders)
            orders = c.orders if c.orders is not None else {}
        self._last_rows = c.rows
        self._last_orders = orders
        # its strings are the rows' own (or the previous table's): keeping the list costs 8 bytes a string
        self._last_table = c.decoder.table if c.decoder is not None else None
        self.last_reused = c.decoder.reused if c.decoder is not None else 0
        return RecTable(c.rows, orders)

    def compliance_controls(self, standard: str) -> list[m.ComplianceControl]:
        return self._wait(self._request("compliance_controls", standard), self._timeout)

    def compliance_failing_keys(self, standard: str, control: str) -> list[str]:
        return self._wait(self._request("compliance_failing_keys", standard, control), self._timeout)

    def failing_controls(self) -> tuple[list[m.ComplianceControl], list[tuple[str, str, str]]]:
        controls, pairs = self._wait(self._request("failing_controls"), self._timeout)
        return list(controls), [tuple(p) for p in pairs]

    @property
    def pid(self) -> int | None:
        p = self._proc
        return p.pid if p is not None else None

    @property
    def pids(self) -> list[int]:
        """Every collector process still running: the current one and those retired but not gone yet."""
        with self._lock:
            procs = ([self._proc] if self._proc is not None else []) + list(self._retiring)
        return [p.pid for p in procs]

    def _restart(self, why: str) -> None:
        log.warning("restarting the collector process: %s", why)
        with self._lock:
            proc = self._proc
        if proc is not None:
            proc.kill()  # the reader thread sees EOF, fails the calls in flight and clears _proc

    def close(self, grace_s: float = 3.0) -> None:
        """Ask the child (and any retired one still exiting) to exit; killed after ``grace_s`` (its history is
        written one transaction at a time: nothing committed is lost)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            proc = self._proc
            procs = ([proc] if proc is not None else []) + list(self._retiring)
        if proc is not None:
            try:
                assert proc.stdin is not None
                write_msg(proc.stdin, ("close",), self._write_lock)
                proc.stdin.close()
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + grace_s
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(2)
                except subprocess.TimeoutExpired:
                    pass
