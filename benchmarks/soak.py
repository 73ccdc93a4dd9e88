"""Soak: `mdc-aws --demo --refresh 5` left running while an operator works; memory, threads, files and processes
must stay flat.

``python -m benchmarks.soak [--refreshes N] [--out FILE]`` (``make bench`` runs it; default 150 refreshes, about
15 minutes; ``MDC_AWS_SOAK_REFRESHES`` or ``--refreshes`` for a shorter check).

The dashboard runs as a person runs it: the real CLI (``mdc-aws --demo --refresh 5``, its own estate and collector
processes) with Textual's real driver on a 120x40 pty. Every 2 s a key arrives through the pty: panes 1-5,
enter on a row and escape back (account, onboarding, recommendation and compliance drill-downs), a filter typed and
cleared. The child reports its refreshes and errors (worker failures, panes in error, error notifications) to a
status file; the parent samples /proc every few seconds: RSS of the UI process and of the collector (whatever
collector process is current: one retires itself when idle over 120 MB, tui.core.procservice), threads and file
descriptors of the UI, and the number of child processes.

Pass: after a warm-up (the first tenth of the refreshes), RSS of the UI, of the collector and of both grows by at
most 10 % (median of the last tenth of the samples against the first tenth); threads, file descriptors and
processes do not grow (same medians); zero errors; a clean exit with no process left behind.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GROWTH_PCT = 10.0
KEY_EVERY_S = 2.0
SAMPLE_EVERY_S = 5.0
ESC = "\x1b"
# one key (or typed text) every KEY_EVERY_S; escape twice at the end so every round starts on the dashboard
KEYS = ["1", "\r", ESC, "2", "3", "\r", ESC, "4", "\r", ESC, "/", "prod\r", ESC, "1", "/", "aws\r", ESC,
        "5", "\r", ESC, ESC]


# ------------------------------------------------------------------------------------------------ child


def child(status: str, refresh_s: float) -> None:
    """The real CLI with MdcApp swapped for a subclass that reports refreshes and errors to ``status``."""
    from textual.worker import WorkerState

    import tui.app
    from tui import cli

    from .common import mdc_css_path

    counts = {"refreshes": 0, "recs_loads": 0, "worker_errors": 0, "pane_errors": 0, "error_notes": 0,
              "last_errors": []}

    def report(err: str | None = None) -> None:
        if err:
            counts["last_errors"] = (counts["last_errors"] + [err[:300]])[-10:]
        with open(status + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(counts, fh)
        os.replace(status + ".tmp", status)

    class SoakApp(tui.app.MdcApp):
        CSS_PATH = mdc_css_path()  # Textual resolves a relative one against this module

        # Textual calls the handler of every class in the MRO: these run before MdcApp's, which still runs
        def on_snapshot_loaded(self, msg: Any) -> None:
            if not msg.from_history:
                counts["refreshes"] += 1
                report()

        def on_recs_loaded(self, msg: Any) -> None:
            counts["recs_loads"] += 1
            if msg.error:
                counts["pane_errors"] += 1
            report(f"recs: {msg.error}" if msg.error else None)

        def on_worker_state_changed(self, event: Any) -> None:
            if event.state == WorkerState.ERROR:
                counts["worker_errors"] += 1
                report(f"worker {event.worker.name}: {event.worker.error}")

        def notify(self, message: str, *a: Any, **kw: Any) -> None:
            if kw.get("severity") == "error":
                counts["error_notes"] += 1
                report(f"notification: {message}")
            super().notify(message, *a, **kw)

    tui.app.MdcApp = SoakApp  # type: ignore[misc]  # what cli.run_dashboard imports when it runs
    report()
    cli.main(["--demo", "--refresh", str(refresh_s)], standalone_mode=False)


# ------------------------------------------------------------------------------------------------ /proc


def _status(pid: int) -> dict[str, int]:
    from .common import proc_status

    return proc_status(pid, ("VmRSS", "Threads"))


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children's children too)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def sample(ui: int) -> dict[str, Any]:
    st = _status(ui)
    kids = _descendants(ui)
    collectors = [p for p in kids if "servicehost" in _cmdline(p)]
    estates = [p for p in kids if "tui.emulator" in _cmdline(p)]
    try:
        fds = len(os.listdir(f"/proc/{ui}/fd"))
    except OSError:
        fds = -1
    return {"ui_mb": round(st.get("VmRSS", 0) / 1024, 1),
            "collector_mb": round(sum(_status(p).get("VmRSS", 0) for p in collectors) / 1024, 1),
            "estate_mb": round(sum(_status(p).get("VmRSS", 0) for p in estates) / 1024, 1),
            "threads": st.get("Threads", 0), "fds": fds, "processes": len(kids), "collectors": len(collectors)}


# ------------------------------------------------------------------------------------------------ parent


def run(refreshes: int, refresh_s: float = 5.0, size: tuple[int, int] = (120, 40),
        log: Any = None) -> dict[str, Any]:
    import fcntl
    import pty
    import select
    import signal
    import struct
    import subprocess
    import termios

    def say(msg: str) -> None:
        if log is not None:
            log(msg)

    work = tempfile.TemporaryDirectory(prefix="mdc-aws-soak-")
    status = os.path.join(work.name, "status.json")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", MDC_AWS_DATA_DIR=work.name,
               MDC_AWS_CONFIG=os.path.join(work.name, "absent-config.toml"))
    for k in ("TEXTUAL", "TEXTUAL_SCREENSHOT", "TEXTUAL_PRESS", "TEXTUAL_LOG"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.soak", "--child", status, "--refresh-s",
                             str(refresh_s)], stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            close_fds=True, cwd=ROOT, env=env)
    os.close(slave)
    out_bytes = [0]
    tail = bytearray()
    tracebacks = [0]
    stop = threading.Event()

    def drain() -> None:  # a terminal reads what the app writes; only a tail is kept
        while not stop.is_set():
            r, _, _ = select.select([master], [], [], 0.1)
            if not r:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            out_bytes[0] += len(chunk)
            tail.extend(chunk)
            if b"Traceback" in tail:
                tracebacks[0] += 1
                tail.clear()
            del tail[:-4096]

    drainer = threading.Thread(target=drain, name="soak-pty", daemon=True)
    drainer.start()

    def read_status() -> dict[str, Any]:
        try:
            with open(status, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    samples: list[dict[str, Any]] = []
    keys_sent = 0
    t0 = time.monotonic()
    # the cap: generous (a refresh of the demo estate takes ~1-3 s on top of the 5 s wait)
    deadline = t0 + 120 + refreshes * (refresh_s + 15)
    next_key = t0 + 20  # keys once the estate is up and the panes have filled
    next_sample = t0
    exited_early = None
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            if proc.poll() is not None:
                exited_early = proc.returncode
                break
            st = read_status()
            if now >= next_sample:
                s = sample(proc.pid)
                s.update(t_s=round(now - t0, 1), refreshes=st.get("refreshes", 0))
                samples.append(s)
                next_sample += SAMPLE_EVERY_S
                if len(samples) % 12 == 0:
                    say(f"soak {s['t_s']:.0f} s: {s['refreshes']} refreshes, UI {s['ui_mb']} MB, collector "
                        f"{s['collector_mb']} MB, threads {s['threads']}, fds {s['fds']}, processes {s['processes']}")
            if st.get("refreshes", 0) >= refreshes:
                break
            if now >= next_key:
                os.write(master, KEYS[keys_sent % len(KEYS)].encode())
                keys_sent += 1
                next_key += KEY_EVERY_S
            time.sleep(0.1)
        final = sample(proc.pid) if proc.poll() is None else {}
        # quit as an operator does: back to the dashboard, q
        for k in (ESC, ESC, "q"):
            if proc.poll() is None:
                os.write(master, k.encode())
                time.sleep(0.5)
        kids = _descendants(proc.pid)
        try:
            proc.wait(timeout=15)
            clean_exit = exited_early is None and proc.returncode == 0
        except subprocess.TimeoutExpired:
            clean_exit = False
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        time.sleep(1.0)
        left = [p for p in kids if os.path.exists(f"/proc/{p}") and _status(p)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop.set()
        drainer.join(timeout=2)
        os.close(master)
    st = read_status()
    work.cleanup()
    res: dict[str, Any] = {"refreshes_target": refreshes, "refreshes": st.get("refreshes", 0),
                           "recs_loads": st.get("recs_loads", 0), "keys_sent": keys_sent,
                           "wall_s": round(time.monotonic() - t0), "samples": samples, "final": final,
                           "clean_exit": clean_exit, "exited_early": exited_early, "processes_left": len(left),
                           "terminal_bytes": out_bytes[0], "tracebacks_on_terminal": tracebacks[0],
                           "errors": {k: st.get(k, 0) for k in ("worker_errors", "pane_errors", "error_notes")},
                           "last_errors": st.get("last_errors", [])}
    res["errors"]["tracebacks"] = tracebacks[0]
    res.update(verdict(res))
    return res


def verdict(res: dict[str, Any]) -> dict[str, Any]:
    """Growth after warm-up (medians of the first and last tenth of the samples taken after the first tenth of the
    refreshes) and the pass/fail of each criterion."""
    samples = res["samples"]
    warm = max(3, res["refreshes_target"] // 10)
    after = [s for s in samples if s["refreshes"] >= warm]
    out: dict[str, Any] = {"warmup_refreshes": warm, "samples_after_warmup": len(after)}
    if len(after) < 6:
        out["passed"] = False
        out["why"] = ["too few samples after the warm-up"]
        return out
    k = max(3, len(after) // 10)
    first, last = after[:k], after[-k:]

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    growth: dict[str, Any] = {}
    for key in ("ui_mb", "collector_mb"):
        a, b = med(first, key), med(last, key)
        growth[key] = {"start": a, "end": b, "pct": round((b - a) / a * 100, 1) if a else float("nan")}
    a = statistics.median(r["ui_mb"] + r["collector_mb"] for r in first)
    b = statistics.median(r["ui_mb"] + r["collector_mb"] for r in last)
    growth["sum_mb"] = {"start": round(a, 1), "end": round(b, 1), "pct": round((b - a) / a * 100, 1) if a else 0}
    for key in ("threads", "fds", "processes"):
        growth[key] = {"start": med(first, key), "end": med(last, key)}
    why = []
    for key in ("ui_mb", "collector_mb", "sum_mb"):
        if not growth[key]["pct"] <= GROWTH_PCT:
            why.append(f"{key} grew {growth[key]['pct']} %")
    for key in ("threads", "fds", "processes"):
        if growth[key]["end"] > growth[key]["start"]:
            why.append(f"{key} grew {growth[key]['start']} -> {growth[key]['end']}")
    n_err = sum(res["errors"].values())
    if n_err:
        why.append(f"{n_err} errors: {res['last_errors'][-3:]}")
    if res["refreshes"] < res["refreshes_target"]:
        why.append(f"only {res['refreshes']} of {res['refreshes_target']} refreshes")
    if not res["clean_exit"] or res["processes_left"]:
        why.append(f"exit not clean (exit early {res['exited_early']}, {res['processes_left']} processes left)")
    out.update(growth=growth, passed=not why, why=why)
    return out


def per_minute(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows, next_t = [], 0.0
    for s in res["samples"]:
        if s["t_s"] >= next_t:
            rows.append(s)
            next_t += 60.0
    return rows


def report(res: dict[str, Any]) -> str:
    lines = [f"soak: {res['refreshes']} refreshes every 5 s in {res['wall_s']} s, {res['keys_sent']} keys "
             f"(panes, drill-downs, filters), {res['recs_loads']} recommendation loads; warm-up "
             f"{res['warmup_refreshes']} refreshes"]
    g = res.get("growth")
    if g:
        lines.append(f"  RSS after warm-up: UI {g['ui_mb']['start']} -> {g['ui_mb']['end']} MB "
                     f"({g['ui_mb']['pct']:+} %), collector {g['collector_mb']['start']} -> "
                     f"{g['collector_mb']['end']} MB ({g['collector_mb']['pct']:+} %), both "
                     f"{g['sum_mb']['start']} -> {g['sum_mb']['end']} MB ({g['sum_mb']['pct']:+} %); target <= "
                     f"+{GROWTH_PCT:.0f} %")
        lines.append(f"  threads {g['threads']['start']} -> {g['threads']['end']}, fds {g['fds']['start']} -> "
                     f"{g['fds']['end']}, processes {g['processes']['start']} -> {g['processes']['end']}")
    lines.append(f"  errors {res['errors']}; clean exit {res['clean_exit']}, processes left {res['processes_left']}")
    lines.append("  per minute: t s, refreshes, UI MB, collector MB (collectors), sum, threads, fds, processes")
    for s in per_minute(res):
        lines.append(f"    {s['t_s']:>6.0f} {s['refreshes']:>4} {s['ui_mb']:>7.1f} {s['collector_mb']:>7.1f} "
                     f"({s['collectors']}) {s['ui_mb'] + s['collector_mb']:>7.1f} {s['threads']:>4} {s['fds']:>4} "
                     f"{s['processes']:>3}")
    lines.append(f"  result: {'pass' if res['passed'] else 'FAIL: ' + '; '.join(res['why'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    p.add_argument("--refreshes", type=int, default=int(os.environ.get("MDC_AWS_SOAK_REFRESHES", "150")),
                   help="refreshes to run (default 150, env MDC_AWS_SOAK_REFRESHES)")
    p.add_argument("--refresh-s", type=float, default=5.0)
    p.add_argument("--out", help="write every figure as JSON here")
    p.add_argument("--child", metavar="STATUS", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.refresh_s)
        return 0
    res = run(args.refreshes, args.refresh_s,
              log=lambda m: print(f"[soak {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True))
    if args.out:
        from .common import write_json

        write_json(args.out, res)
    print(report(res))
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
