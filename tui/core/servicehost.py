"""The collector process: ``python -m tui.core.servicehost``, started by :class:`~tui.core.procservice.ProcessService`.

Reads requests from stdin, runs them on a :class:`~tui.core.service.Service` (several at once, as the dashboard
asks), answers on stdout. Anything else printed goes to stderr (stdout is the protocol). What it logs (a failed
call, a section that failed, the SDKs' warnings; DEBUG with -vv) also goes to the parent's log file, redacted.
Each time the last call in flight is answered it says how much memory it holds (``(0, "idle", MB)``): the parent
retires a process that grew too big, and after each answer it collects and trims (the memory policy:
:mod:`tui.core.memory`). Exits on ``close`` or when stdin closes: a dashboard that dies never leaves this process
behind.

Never imports textual or rich.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from . import memory
from .procservice import CHUNK_ROWS, METHODS, RowEncoder, encode_snapshot, error_payload, read_msg, write_msg

log = logging.getLogger("tui.core.servicehost")  # its name also when run as __main__


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    from .history import History
    from .service import Service

    first = read_msg(inp)
    if not (isinstance(first, tuple) and first and first[0] == "init"):
        print("servicehost: the first message must be init", file=sys.stderr)
        return 2
    _, settings, history_path, section_timeout_s, start_from, *rest = first
    scope = rest[0] if rest else None
    from . import redact

    redact.register(getattr(getattr(settings, "azure", None), "access_token", None))  # the static token, if any
    history = None
    open_error: str | None = None
    if history_path:
        try:
            history = History(history_path, scope=scope)  # never raises for the file's sake: disabled instead
        except Exception as e:  # noqa: BLE001 - a history must never keep the collector from starting
            open_error = f"history {history_path} cannot be opened ({' '.join(str(e).split())}): history disabled"
    said: set[str] = set()
    svc = Service(settings, history, section_timeout_s=section_timeout_s, start_from=start_from)
    # the peak of a refresh here is the history's JSON text of the new snapshot: what the collection left goes first
    svc.before_save = memory.POLICY.idle_collect
    lock = threading.Lock()

    def tell_history() -> None:
        """The history's problem (disabled: cannot be opened or written), once, to the parent."""
        msg = (history.error if history is not None else None) or open_error
        if msg and msg not in said:
            said.add(msg)
            try:
                write_msg(out, (0, "notice", msg), lock)
            except (OSError, ValueError):
                pass

    tell_history()
    held = [start_from]  # the snapshot the parent holds: a collection is sent as what changed since it
    pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="servicehost")
    busy = [0]  # calls read and not answered yet
    busy_lock = threading.Lock()

    def answer(call_id: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            _answer(call_id, method, args)
        finally:
            with busy_lock:
                busy[0] -= 1
                idle = busy[0] == 0
            if idle:  # what this process holds now that it has nothing to do (the parent may retire it)
                try:
                    write_msg(out, (0, "idle", memory.rss_mb()), lock)
                except (OSError, ValueError):
                    pass

    def _answer(call_id: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}")
            result: Any
            if method in ("recommendations", "recommendation_table"):
                enc = RowEncoder()

                def emit(rows: list[Any]) -> None:
                    for a in range(0, len(rows), CHUNK_ROWS):
                        write_msg(out, (call_id, "rows", enc.encode(rows[a:a + CHUNK_ROWS])), lock)

                if method == "recommendation_table":  # rows stream out page by page; only their sort keys stay
                    from .progress import Throttle

                    def tell(rows: int, total: int | None) -> None:  # the total Resource Graph announced
                        write_msg(out, (call_id, "progress", (rows, total)), lock)

                    # a stand-in service (benchmarks.million's synthetic feed) may not report progress
                    stream = svc.stream_recommendation_table
                    kw: dict[str, Any] = {"progress": Throttle(tell)} if _takes(stream, "progress") else {}
                    send_orders(out, call_id, stream(emit, **kw), lock)
                    result = None  # the orders went in parts
                else:
                    emit(svc.recommendations(*args))
                    result = None
            elif method == "collect":  # the parent asks for collections one at a time
                snap = svc.collect()
                _log_sections(snap, held[0])
                tell_history()  # before the answer: the dashboard says it when the collection arrives
                result = encode_snapshot(snap, held[0])
                held[0] = snap
                del snap
            else:
                result = getattr(svc, method)(*args)
            write_msg(out, (call_id, "ok", result), lock)
            del result
            memory.POLICY.idle_collect()  # give back what the call left (parsing leaves holes in the heap)
        except BaseException as e:  # noqa: BLE001 - every failure is the caller's to show
            payload = error_payload(e)
            log.warning("%s failed: %s: %s", method, *payload)  # the parent shows it; the log file keeps it
            try:
                write_msg(out, (call_id, "err", payload), lock)
            except OSError:
                pass
            del e
            memory.POLICY.idle_collect()  # what the failed call left (its traceback held its frames)

    try:
        while True:
            try:
                msg = read_msg(inp)
            except EOFError:
                break
            if msg and msg[0] == "close":
                break
            call_id, method, args = msg
            with busy_lock:
                busy[0] += 1
            pool.submit(answer, call_id, method, tuple(args))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        svc.close()
        if history is not None:
            history.close()
    return 0


def send_orders(out: IO[bytes], call_id: int, orders: Any, lock: threading.Lock) -> None:
    """A table's sort orders and filter columns (rectable.Orders), one message each (``order``: (key, positions);
    ``column``: (attribute, values, codes, groups)), each let go here once sent: no pickle of all of them at once
    (~8 MB at 128k rows) on either side of the pipe, and the parent can keep its previous one where nothing changed."""
    for key in list(orders):
        write_msg(out, (call_id, "order", (key, orders.pop(key))), lock)
    columns = getattr(orders, "columns", None) or {}
    for attr in list(columns):
        write_msg(out, (call_id, "column", (attr, *columns.pop(attr))), lock)


def _takes(fn: Any, name: str) -> bool:
    """Whether ``fn`` has a parameter ``name``."""
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _log_redacted() -> None:
    """Warnings and errors go to stderr (the parent keeps its last lines and quotes them when the child dies) and,
    when the parent writes a log file, to that file too (its path and level from the environment: WARNING, DEBUG
    with -vv; tui.core.logfile.child_env), through the same redacting filter as the CLI's handlers: nothing this
    process logs carries a secret."""
    from . import logfile, redact

    redact.register_from_env(os.environ)  # before any handler exists: no line is written unredacted
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    # its own lines (a failed call, a failed section) reach the parent as answers already: the log file only, so
    # that the last stderr line the parent quotes when this process dies is about that
    handler.addFilter(lambda r: r.name != log.name)
    handlers: list[logging.Handler] = [handler]
    fh, level, problem = logfile.child_handler(os.environ)
    if fh is not None:
        handlers.append(fh)
    else:  # no file (none asked for, or it cannot be opened: one line, the parent quotes it if this process dies)
        level = logging.WARNING
        if problem:
            print(problem, file=sys.stderr)
    root.handlers[:] = handlers
    root.setLevel(level)
    redact.install(root.handlers, root)
    # the SDKs log every request (with headers) at INFO: only with -vv, as in the CLI (tui.cli._setup_logging)
    for name in ("azure", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(level)
    redact.cap_wire_loggers(level)


def _log_sections(snap: Any, before: Any) -> None:
    """Each section that failed, to the log (the panes show it; the log file keeps it for the operator to send):
    once per new error, not again at every refresh while it stays the same."""
    for name, sec in snap.sections.items():
        st = sec.status
        if st.status == "ok" or not st.error:
            continue
        old = before.sections.get(name) if before is not None else None
        if old is not None and (old.status.status, old.status.error) == (st.status, st.error):
            continue
        log.warning("section %s %s: %s", name, st.status, st.error)


def main() -> int:
    memory.POLICY.prepare()  # heaps capped before any thread starts (MALLOC_ARENA_MAX in the environment too)
    # stdout is the protocol: keep a private handle on it and send any stray print to stderr
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _log_redacted()
    inp = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    code = serve(inp, out)
    try:
        out.flush()
    except OSError:
        pass
    sys.stderr.flush()
    os._exit(code)  # calls still running in the pool must not keep the process alive


if __name__ == "__main__":
    main()
