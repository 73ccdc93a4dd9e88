"""Helpers shared by ``benchmarks.run`` and its child processes (no textual import at module level)."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Any, Sequence


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation), NaN for no values."""
    vals = sorted(v for v in values if v == v)
    if not vals:
        return float("nan")
    k = min(len(vals) - 1, max(0, round(q / 100 * (len(vals) - 1))))
    return vals[k]


def median(values: Sequence[float]) -> float:
    vals = [v for v in values if v == v]
    return statistics.median(vals) if vals else float("nan")


def summary_ms(values: Sequence[float]) -> dict[str, Any]:
    """p50 / p95 / max in ms of values in seconds."""
    vals = [v for v in values if v == v]
    return {"n": len(vals), "p50_ms": ms(median(vals)), "p95_ms": ms(pct(vals, 95)),
            "max_ms": ms(max(vals)) if vals else float("nan")}


def write_json(path: str, res: dict[str, Any]) -> None:
    """A child's figures, written whole or not at all (the parent reads them after it exits)."""
    import json

    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)
    os.replace(path + ".tmp", path)


def proc_status(pid: int | str = "self", keys: tuple[str, ...] = ("VmRSS", "VmHWM")) -> dict[str, int]:
    """Fields of /proc/PID/status as their leading number (kB for memory; Linux only, empty when gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in keys:
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return out


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in MB (Linux /proc; empty elsewhere)."""
    return {k: round(v / 1024, 1) for k, v in proc_status(pid).items()}


def proc_pss_mb(pid: int | str = "self") -> float | None:
    """Proportional set size of a process in MB (/proc/PID/smaps_rollup: shared pages, e.g. the interpreter and
    libraries of the UI and the collector, counted once across both); None where unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem_gb = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count()
    try:
        import textual

        tv = textual.__version__
    except Exception:  # noqa: BLE001 - a machine description never fails the benchmark
        tv = "?"
    return {"cpus": os.cpu_count(), "cpus_usable": avail, "cpu_model": cpu, "mem_gb": mem_gb,
            "python": sys.version.split()[0], "textual": tv, "loadavg": [round(x, 2) for x in os.getloadavg()]}


class FrameLog:
    """Frame timestamps of an App (``_display`` entry and exit, ``time.perf_counter``).

    A frame whose entry is later than time t was composed after t: the event loop runs one callback at a time, and
    composing + ``_display`` is one synchronous call, so nothing done at t can be missing from it.
    """

    def __init__(self) -> None:
        self.frames: list[tuple[float, float]] = []
        self.bytes = 0

    def first_after(self, t: float, start: int = 0) -> tuple[int, float] | None:
        """(index, exit time) of the first frame composed after ``t``, searching from index ``start``."""
        frames = self.frames
        for i in range(start, len(frames)):
            if frames[i][0] > t:
                return i, frames[i][1]
        return None


def timed_display(app: Any, log: FrameLog, screen: Any, renderable: Any, super_display: Any) -> None:
    """Body of an ``App._display`` override: call Textual's, then record the frame. In headless mode Textual skips
    turning the update into terminal bytes; do it here so a frame costs what it costs on a real terminal."""
    if renderable is None or app._batch_count:
        super_display(screen, renderable)
        return
    t0 = time.perf_counter()
    super_display(screen, renderable)
    if app.is_headless:
        render = getattr(renderable, "render_segments", None)
        if render is not None:
            log.bytes += len(render(app.console))
    log.frames.append((t0, time.perf_counter()))


async def wait_until(cond: Any, timeout: float, step: float = 0.002) -> bool:
    import asyncio

    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def mdc_css_path() -> str:
    """MdcApp's stylesheet as an absolute path: Textual resolves a relative CSS_PATH against the module of the class
    that uses it, and the benchmark's MdcApp subclasses live in benchmarks/."""
    from pathlib import Path

    import tui.app

    return str(Path(tui.app.__file__).parent / tui.app.MdcApp.CSS_PATH)


def finish_row(out: str | None, res: dict[str, Any], row: Any, detail: Any) -> int:
    """The end of a row module's main(): its JSON to ``out`` (if given), its row and details on stderr; exit 0 (a
    missed target is a figure, not a failure of the run)."""
    if out:
        write_json(out, res)
    label, shown, tgt, value, target = row(res)
    print(f"{label}: {shown} (target {tgt}) {'pass' if value <= target else 'FAIL'}", file=sys.stderr)
    print("\n".join(detail(res)), file=sys.stderr)
    return 0


async def timed_filter(pane: Any, table: Any, flog: Any, text: str, timeout: float) -> tuple[float, int]:
    """Type ``text`` into the pane's filter: (seconds from the call to the end of the first frame after it, rows)."""
    t0 = time.perf_counter()
    pane.apply_filter(text)
    t1 = time.perf_counter()
    await wait_until(lambda: flog.first_after(t1) is not None, timeout, step=0.001)
    f = flog.first_after(t1)
    return (f[1] - t0 if f else float("nan")), table.row_count


async def timed_sort(app: Any, pane: Any, flog: Any, done: list[float], timeout: float) -> tuple[float, str]:
    """Press ``s`` (next sort column): (seconds to the end of the first frame after the pane re-rendered, the key);
    ``done`` gets the time of each re-render (the caller's hook appends to it)."""
    from textual import events

    n = len(done)
    t0 = time.perf_counter()
    app.post_message(events.Key("s", "s"))
    await wait_until(lambda: len(done) > n, timeout, step=0.001)
    t1 = done[-1] if len(done) > n else float("nan")
    await wait_until(lambda: flog.first_after(t1) is not None, timeout, step=0.001)
    f = flog.first_after(t1)
    return (f[1] - t0 if f else float("nan")), pane.sort_key
