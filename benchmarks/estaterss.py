"""The estate's own footprint (issue 15, point 6): the "estate RSS" row of ``make bench``.

``python -m benchmarks.estaterss [--scale large] [--tick-seconds 60] [--out FILE]``

Spawns the emulated estate (``tui.emulator.estate.spawn``: its own process, as the demo and ``mdc-aws emulate`` run
it; default the large scale, a wall clock of 60 s per tick as the demo's) and drives it as a dashboard does, through
the real core (``tui.core.service.Service`` in this process): a collection, the recommendations table's fetch (every
page of the AWS assessments), then a second collection. The clock moves while it runs (a large collection takes
about a minute), so the second collection reads tables the estate rebuilt or patched for a later tick: the steady
state of a dashboard refreshing every minute. Then the estate's memory from ``/proc/<pid>/status``: VmRSS (resident
now) and VmHWM (the peak since it started: its start-up and every request included); sampled every 0.5 s on the
way for the timeline.

Target (the issue's: "serves from at most 1 GB RSS after two refreshes"): VmRSS after <= 1024 MB, so a laptop can
run ``--scale large`` beside the dashboard; ratio = VmRSS after / 1024 MB, <= 1.0 passes. The peak (VmHWM, while a
Resource Graph query parses JSON) is reported beside it as ``ratio_peak``, not part of the target.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from .common import finish_row, proc_status

TARGET_MB = 1024.0


def _log(msg: str) -> None:
    print(f"[estaterss {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class _Sampler:
    """VmRSS of one process every ``every_s`` seconds, with a label per phase."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, str, float]] = []
        self.phase = "start"
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            st = proc_status(self.pid)
            if "VmRSS" in st:
                self.samples.append((round(time.perf_counter() - self._t0, 1), self.phase,
                                     round(st["VmRSS"] / 1024, 1)))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "_Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def peak_by_phase(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for _, phase, mb in self.samples:
            out[phase] = max(out.get(phase, 0.0), mb)
        return out


def measure(scale: str = "large", tick_seconds: float | None = 60.0, seed: int = 42) -> dict[str, Any]:
    from tui.core.config import Settings
    from tui.core.service import Service
    from tui.demo_estate import demo_settings
    from tui.emulator.estate import spawn

    t0 = time.perf_counter()
    res: dict[str, Any] = {"scale": scale, "seed": seed, "tick_seconds": tick_seconds, "target_mb": TARGET_MB}
    est = spawn(seed=seed, scale=scale, tick_seconds=tick_seconds, timeout_s=600)
    try:
        pid = est.proc.pid
        res["start_s"] = round(time.perf_counter() - t0, 1)
        res["after_start_mb"] = {k: round(v / 1024, 1) for k, v in proc_status(pid).items()}
        _log(f"estate ({scale}) up in {res['start_s']} s: {res['after_start_mb']}")
        svc = Service(demo_settings(est.info, Settings()), None)
        steps: list[dict[str, Any]] = []
        try:
            with _Sampler(pid) as sampler:
                for name in ("collection 1", "recommendations", "collection 2"):
                    sampler.phase = name
                    t1 = time.perf_counter()
                    if name == "recommendations":
                        rows = svc.recommendations()
                        what: dict[str, Any] = {"rows": len(rows), "ids_distinct": len({r.id.lower() for r in rows})}
                        del rows
                    else:
                        snap = svc.collect()
                        what = {"sections": {k: s.status.status for k, s in snap.sections.items()},
                                "accounts": len(getattr(snap, "accounts", []) or [])}
                    st = {k: round(v / 1024, 1) for k, v in proc_status(pid).items()}
                    steps.append({"step": name, "s": round(time.perf_counter() - t1, 1), **what, "estate_mb": st})
                    _log(f"{name}: {steps[-1]['s']} s, estate {st}")
                sampler.phase = "after"
                time.sleep(1.0)
        finally:
            svc.close()
        final = proc_status(pid)
        res["steps"] = steps
        res["peak_by_phase_mb"] = sampler.peak_by_phase()
        res["timeline"] = sampler.samples[:: max(1, len(sampler.samples) // 200)]
    finally:
        est.stop()
    res["vmrss_mb"] = round(final.get("VmRSS", 0) / 1024, 1)
    res["vmhwm_mb"] = round(final.get("VmHWM", 0) / 1024, 1)
    res["ratio"] = round(res["vmrss_mb"] / TARGET_MB, 3) if res["vmrss_mb"] else float("nan")
    res["ratio_peak"] = round(res["vmhwm_mb"] / TARGET_MB, 3) if res["vmhwm_mb"] else float("nan")
    res["target"] = 1.0
    ok = all(all(v == "ok" for v in s.get("sections", {}).values()) for s in steps)
    recs = [s for s in steps if s["step"] == "recommendations"]
    res["complete"] = bool(ok and recs and recs[0]["rows"] > 0 and recs[0]["rows"] == recs[0]["ids_distinct"])
    res["pass"] = bool(res["ratio"] <= 1.0 and res["complete"])
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def row(res: dict[str, Any]) -> tuple[str, str, str, float, float]:
    """The report table's row: label, shown value, shown target, value, target (value / target <= 1 passes)."""
    shown = (f"{res['vmrss_mb']:.0f} MB after ({res['ratio']:.2f}x), peak {res['vmhwm_mb']:.0f} MB"
             + ("" if res["complete"] else ", INCOMPLETE"))
    value = res["ratio"] if res["complete"] else max(res["ratio"], 2.0)
    return (f"estate RSS ({res['scale']}, 2 refreshes)", shown, f"<= {TARGET_MB:.0f} MB", value, 1.0)


def detail(res: dict[str, Any]) -> list[str]:
    lines = [f"estate RSS: the {res['scale']} estate's process, VmHWM (peak) {res['vmhwm_mb']:.0f} MB, VmRSS after "
             f"{res['vmrss_mb']:.0f} MB (after start-up: {res['after_start_mb']}); ratio = VmRSS after / "
             f"{TARGET_MB:.0f} MB = {res['ratio']:.3f} (peak / {TARGET_MB:.0f} MB = {res['ratio_peak']:.3f})"]
    for s in res["steps"]:
        lines.append(f"   {s['step']}: {s['s']} s, estate {s['estate_mb']}"
                     + (f", {s['rows']:,} rows" if "rows" in s else ""))
    lines.append(f"   peak RSS by phase (sampled every 0.5 s): {res['peak_by_phase_mb']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.estaterss", description=__doc__.split("\n")[0])
    p.add_argument("--scale", default="large", help="estate scale to spawn (default large)")
    p.add_argument("--tick-seconds", type=float, default=60.0, help="wall seconds per tick (0: a manual clock)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)
    res = measure(args.scale, args.tick_seconds or None, args.seed)
    return finish_row(args.out, res, row, detail)


if __name__ == "__main__":
    raise SystemExit(main())
