"""The data service in its own process: what the dashboard uses by default.

Collecting a 200-account estate makes a lot of short-lived garbage (boto3 clients, botocore parsing, 1000-row ARG
pages). In the dashboard's process the cyclic collector then stops every thread, the UI loop included, for
0.4-2 s at a time (measured by ``make bench``), and the SDKs' memory stays with the UI. Here the same
:class:`~tui.core.service.Service` runs in a child process (``python -m tui.core.servicehost``); the UI keeps only
what it shows.

- The API is the :class:`Service`'s (``collect``, ``recommendations``, ``recommendation_table``,
  ``compliance_controls``, ``compliance_failing_keys``, ``close``): blocking calls, from the UI's worker threads,
  several at once.
- Messages are length-prefixed pickles over the child's stdin/stdout (a private pipe: nothing is written to disk).
  The child writes history itself.
- Recommendations travel in chunks with their repeated strings sent once (a string table), so 100k rows arrive
  sharing their titles, accounts and descriptions as they did in the child, and no single unpickle holds the GIL
  for long. Their sort orders arrive as ``array('I')`` computed in the child.
- Errors come back as the core's own exceptions with their message. A child that dies or stops answering fails
  the calls in flight with a clear message and is started again, from the last snapshot, on the next call.
- The child's stderr never reaches the terminal (the dashboard draws there): its last lines are kept in memory and
  quoted when it dies.

Never imports textual or rich.
"""
from __future__ import annotations

import builtins
import collections
import gc
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import fields
from typing import IO, Any, Sequence

from . import errors
from . import model as m
from .config import Settings

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
CHUNK_ROWS = 2048  # recommendations per message: each unpickles in about a millisecond

# Recommendation fields sent as codes into the string table (values repeat across rows); the others are sent as is
_REC_FIELDS = tuple(f.name for f in fields(m.Recommendation))
_REC_RAW = frozenset({"id"})  # unique per row; everything else repeats (a resource has many rows)
_REC_CODED = tuple(i for i, name in enumerate(_REC_FIELDS) if name not in _REC_RAW)

METHODS = frozenset({"collect", "recommendations", "recommendation_table", "compliance_controls",
                     "compliance_failing_keys"})


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
    new answer arrives (and what it keeps is already out of the garbage collector's way)."""

    def __init__(self, previous: Sequence[m.Recommendation] | None = None) -> None:
        self.table: list[Any] = [None]
        self.previous = {r.id: r for r in previous} if previous else {}
        self.reused = 0

    def decode(self, new: list[str], rows: list[tuple[Any, ...]]) -> list[m.Recommendation]:
        t = self.table
        t.extend(new)
        make = m.Recommendation
        coded = _REC_CODED
        prev = self.previous.get
        out = []
        for row in rows:
            vals = list(row)
            for i in coded:
                vals[i] = t[vals[i]]
            r = make(*vals)
            old = prev(r.id)
            if old is not None and old == r:
                r = old
                self.reused += 1
            out.append(r)
        return out


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


class _GcHold:
    """Automatic garbage collection off while one answer is decoded, then what it made is frozen (counted hold;
    any thread).

    Decoding 100k rows makes 100k long-lived, acyclic objects. Left to the collector, each full collection along
    the way walks all of them with the GIL held: 80-150 ms stalls of the UI, ~1 s per refresh of the large
    estate (measured by ``make bench``). So after each message the young generations are collected (cheap: only
    what is new) and everything left is moved out of the collector's reach (``gc.freeze``). Reference counting
    still frees the rows when the next refresh replaces them; the dashboard runs one full collection of frozen
    objects when the operator is idle (tui.app ``_idle_gc``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._n == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._n += 1

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._n -= 1
            if self._n == 0 and self._was_enabled:
                gc.collect(1)
                gc.freeze()
                gc.enable()


GC_HOLD = _GcHold()


class _Call:
    def __init__(self) -> None:
        self.future: Future[Any] = Future()
        self.rows: list[m.Recommendation] = []
        self.decoder: RowDecoder | None = None
        self.previous: Sequence[m.Recommendation] | None = None


class ProcessService:
    """A :class:`~tui.core.service.Service` in a child process, with the same blocking API."""

    def __init__(self, settings: Settings, history: Any = None, *, section_timeout_s: float = 120.0,
                 start_from: m.Snapshot | None = None, python: str | None = None,
                 call_timeout_s: float | None = None) -> None:
        self.settings = settings
        self.history_path = str(history.path) if history is not None and getattr(history, "path", None) else None
        self.section_timeout_s = section_timeout_s
        # a call's sections time out in the child; this catches a child that stopped answering at all
        self.call_timeout_s = call_timeout_s if call_timeout_s is not None else section_timeout_s * 3 + 60
        self.last_snapshot: m.Snapshot | None = start_from
        self.python = python or sys.executable
        self.starts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._calls: dict[int, _Call] = {}
        self._next_id = 0
        self._closed = False
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._write_lock = threading.Lock()
        self._last_rows: list[m.Recommendation] | None = None  # what the last table answer decoded to
        self.last_reused = 0  # rows of the last answer that were the previous answer's objects
        self._start()

    # -- the child ---------------------------------------------------------------------------------------------

    def _start(self) -> None:
        env = dict(os.environ)
        # glibc gives each thread that allocates its own heap and keeps what they freed: with a dozen SDK threads
        # that was ~100 MB of resident memory the collector never used again (measured by make bench)
        env.setdefault("MALLOC_ARENA_MAX", "2")
        proc = subprocess.Popen([self.python, "-m", "tui.core.servicehost"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, close_fds=True)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self.starts += 1
        threading.Thread(target=self._read_loop, args=(proc,), name="mdc-aws-service-reader", daemon=True).start()
        threading.Thread(target=self._stderr_loop, args=(proc,), name="mdc-aws-service-stderr",
                         daemon=True).start()
        try:
            write_msg(proc.stdin, ("init", self.settings, self.history_path, self.section_timeout_s,
                                   self.last_snapshot), self._write_lock)
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
        try:
            while True:
                head = _read_exact(proc.stdout, _HEADER.size)  # waits here with the collector on
                body = _read_exact(proc.stdout, _HEADER.unpack(head)[0])
                with GC_HOLD:
                    self._dispatch(pickle.loads(body))
                del body
        except (EOFError, OSError, pickle.UnpicklingError, ValueError) as e:
            reason = e
        code = proc.wait()
        with self._lock:
            calls = {k: c for k, c in self._calls.items()}
            if self._proc is proc:
                self._calls.clear()
                self._proc = None
        if self._closed:
            err: BaseException = errors.SourceError("the data service is closed")
        else:
            tail = self._last_error_line()
            err = errors.SourceError(
                f"the collector process stopped (exit code {code}{': ' + tail if tail else ''}); "
                "it starts again on the next refresh (r)")
            log.warning("collector process stopped: %s (%s)", code, reason)
        for c in calls.values():
            if not c.future.done():
                c.future.set_exception(err)

    def _last_error_line(self) -> str:
        for line in reversed(self._stderr_tail):
            if not line.startswith(("  ", "Traceback")):
                return line
        return ""

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        call_id, kind, payload = msg
        with self._lock:
            c = self._calls.get(call_id)
        if c is None:
            return
        if kind == "rows":
            if c.decoder is None:
                c.decoder = RowDecoder(c.previous)
                c.previous = None
            c.rows.extend(c.decoder.decode(*payload))
            return
        with self._lock:
            self._calls.pop(call_id, None)
        if kind == "ok":
            c.future.set_result(payload)
        else:
            c.future.set_exception(rebuild_error(*payload))

    # -- calls -------------------------------------------------------------------------------------------------

    def _request(self, method: str, *args: Any, previous: Sequence[m.Recommendation] | None = None) -> _Call:
        if self._closed:
            raise errors.SourceError("the data service is closed")
        c = _Call()
        c.previous = previous
        with self._lock:
            if self._proc is None:
                self._start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
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
            raise errors.SourceError(f"the collector process did not answer in {timeout:.0f} s; it was restarted")

    @property
    def _timeout(self) -> float:
        return self.call_timeout_s

    def collect(self) -> m.Snapshot:
        snap = self._wait(self._request("collect"), self._timeout)
        self.last_snapshot = snap
        return snap

    def recommendations(self, subscriptions: Sequence[str] | None = None) -> list[m.Recommendation]:
        c = self._request("recommendations", list(subscriptions) if subscriptions is not None else None)
        self._wait(c, self._timeout)
        return c.rows

    def recommendation_table(self) -> Any:
        from .rectable import RecTable

        c = self._request("recommendation_table", previous=self._last_rows)
        orders = self._wait(c, self._timeout)
        self._last_rows = c.rows
        self.last_reused = c.decoder.reused if c.decoder is not None else 0
        return RecTable(c.rows, orders)

    def compliance_controls(self, standard: str) -> list[m.ComplianceControl]:
        return self._wait(self._request("compliance_controls", standard), self._timeout)

    def compliance_failing_keys(self, standard: str, control: str) -> list[str]:
        return self._wait(self._request("compliance_failing_keys", standard, control), self._timeout)

    @property
    def pid(self) -> int | None:
        p = self._proc
        return p.pid if p is not None else None

    def _restart(self, why: str) -> None:
        log.warning("restarting the collector process: %s", why)
        with self._lock:
            proc = self._proc
        if proc is not None:
            proc.kill()  # the reader thread sees EOF, fails the calls in flight and clears _proc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            write_msg(proc.stdin, ("close",), self._write_lock)
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
