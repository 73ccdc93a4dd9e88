"""mdc-aws benchmark, the issue's four targets measured in ONE run: ``python -m benchmarks.run`` (``make bench``).

1. First frame from the history cache vs a bare Textual app: both real processes on a real 80x24 pty, time from
   spawn to the marker text arriving on the terminal side (mdc-aws: an account id from the cached snapshot; the
   service factory never returns, so only history can show). History pre-filled as an operator's would be: a real
   collection of the default estate, then one dashboard run on it (which keeps its panes' view with the snapshot).
   Also measured: the same history without that view (the latest snapshot written by `mdc-aws snapshot` alone),
   where the first frame loads the snapshot itself. Median of --runs runs each, interleaved. Target <= 1.3x.
   (benchmarks/firstframe.py)
2. Filter and sort over the large estate's ~123k recommendations (fetched through the real core in step 3; with
   --quick: 100k synthetic rows) in the real RecommendationsPane under App.run_test, end to end until the frame
   with the new rows: ``sev:high s3``, ``!sev:low``, a sort change (``s``). Target p95 <= 100 ms.
   (benchmarks/panebench.py)
3. Key-to-repaint latency while a refresh streams the large estate: the real app (in a child process) with its
   default service, the collection in the app's own collector process (tui.core.procservice), the estate in
   another; ``down``/``pagedown`` every 50 ms during ``r`` (collection + recommendations fetch).
   Target p95 <= 50 ms.  (benchmarks/live.py)
4. Memory with the recommendations in the pane: RSS of the app's UI process, of its collector process, and the
   peak of their sum sampled every 100 ms (the estate's RSS separately, not counted). Target <= 400 MB.
ARG quota: what a dashboard refresh sends to Resource Graph (the collector's ARG queries and the recommendations
   fetch, at once) against the large estate with Resource Graph's quota on (15 requests per 5 s window per user):
   wall time over the quota floor, (ceil(N / 15) - 1) x 5 s + the last window's requests, for the N requests it
   needs; and the 429s the estate answered (each one caused by mdc-aws). Target <= 1.1x and 0 429s; every row
   present. ``--arg-quota-only`` runs this row alone (~1.5 min). (benchmarks/argquota.py)
Issue 15's rows, each its own module spawning its own estate (``--only aws_fanout,oneshot,estate_rss,million``):
AWS fan-out: the AWS half of a refresh (``AwsSource.inventory`` as the collector calls it) on the large estate at
   150 +/- 50 ms a call with AWS's per-account rate limits: wall over its floor, the larger of the chain floor (each
   account's dependent calls with the latency each got, each rate bucket's time) and the machine floor (the CPU the
   client and the estate spent, over the cores, or each one's own on one core). Target <= 1.3x, 0 throttled, every
   account's data as at zero latency. (benchmarks/awsfanout.py)
one-shot snapshot: ``mdc-aws snapshot`` spawn -> exit against a bare replay of the requests it makes (a fresh
   ``python -P`` with the standard library only, the recording's concurrency shape), median of 7 interleaved pairs.
   Target: overhead <= 0.5 s. (benchmarks/oneshot.py)
estate RSS: the large estate's process after a collection, the recommendations fetch and a second collection.
   Target <= 1 GB (its peak reported beside). (benchmarks/estaterss.py)
1,000,000 findings: the dashboard (its collector process, the real Service) on the estate at scale million: filter
   p95 <= 300 ms, sort <= 500 ms, rows painted <= 2 s after they arrive, RSS UI + collector <= 1.2 GB; ~8 minutes.
   (benchmarks/million.py)
5. Soak: `mdc-aws --demo --refresh 5` on a 120x40 pty for --soak-refreshes refreshes (default 150, ~15 min) while
   keys switch panes, open and close drill-downs and filter every 2 s: RSS of the UI and of the collector after
   warm-up grows <= 10 %, threads, file descriptors and processes do not grow, zero errors. (benchmarks/soak.py)

Absolute times depend on the machine (a shared 2-vCPU VM here): read the ratios and the breakdowns. Never use these
figures as test assertions. One run takes about 25 minutes without the soak (the million rows alone ~8).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import machine_info, median, ms, proc_status_mb

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"first_frame_ratio": 1.3, "filter_ms": 100.0, "key_p95_ms": 50.0, "rss_mb": 400.0, "soak_growth_pct": 10.0,
           "arg_quota_ratio": 1.1}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child(args: list[str], logfile: Path, timeout: float) -> None:
    with open(logfile, "wb") as fh:
        r = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    if r.returncode:
        tail = logfile.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:2])} exited {r.returncode}:\n{tail}")


# ----------------------------------------------------------------------------------------------------- steps


def prefill_history(info: Any, folder: Path) -> dict[str, Any]:
    """A real collection of the default estate, saved as the latest snapshot (what the next start opens on)."""
    from tui.demo_estate import demo_settings
    from tui.core import derive as d
    from tui.core.config import Settings
    from tui.core.history import History
    from tui.core.service import Service

    t0 = time.perf_counter()
    history = History.in_dir(folder)
    svc = Service(demo_settings(info, Settings()), history)
    try:
        snap = svc.collect()
    finally:
        svc.close()
    latest = history.latest()
    if latest is None:
        raise RuntimeError("the history was not saved")
    views = d.account_views(latest)
    # the operator's previous session: one dashboard run that refreshes once (saving the snapshot and its view)
    t1 = time.perf_counter()
    asyncio.run(_one_dashboard_run(info, history))
    history.close()
    import shutil
    import sqlite3

    # the same history as `mdc-aws snapshot` alone leaves it: the latest snapshot, no view of it
    bare_folder = folder.parent / (folder.name + "-snapshot-only")
    shutil.copytree(folder, bare_folder, dirs_exist_ok=True)
    db = sqlite3.connect(bare_folder / "history.sqlite3")
    db.execute("DELETE FROM views")
    db.commit()
    db.close()
    return {"collect_s": round(t1 - t0, 1), "dashboard_run_s": round(time.perf_counter() - t1, 1),
            "complete": snap.complete, "accounts": len(views), "marker": views[0].aws_account_id,
            "db_kb": round((folder / "history.sqlite3").stat().st_size / 1024), "snapshot_only": str(bare_folder)}


async def _one_dashboard_run(info: Any, history: Any) -> None:
    from tui.app import VIEW_FORMAT, MdcApp
    from tui.demo_estate import demo_settings
    from tui.core.config import Settings
    from tui.core.service import Service

    settings = demo_settings(info, Settings())
    app = MdcApp(settings, refresh_s=600, history=history, service_factory=lambda s, start: Service(s, history))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(1200):
            await pilot.pause(0.05)
            # after the recommendations too: their worker must not be left waiting on a closed service
            if (app.last_refresh is not None and app.dashboard.pane("recs").state in ("ok", "error")
                    and history.latest_view(VIEW_FORMAT) is not None):
                break
        else:
            raise RuntimeError("the dashboard run saved no view of its snapshot")
    if app.service is not None:
        app.service.close()


def bench_first_frame(work: Path, hist: Path, snapshot_only: Path, marker: str, runs: int) -> dict[str, Any]:
    from .firstframe import measure

    out = work / "ff"
    out.mkdir(exist_ok=True)
    # the project's bytecode, as an installed package has it (pip compiles at install): with
    # PYTHONDONTWRITEBYTECODE set (as on our CI machines) every start would compile tui/ and widgets/ again
    import compileall

    for pkg in ("tui", "widgets", "benchmarks"):
        compileall.compile_dir(str(ROOT / pkg), quiet=1)
    measure("bare", str(out), "bench-bare-ready")  # warm-up: page cache
    measure("mdc", str(out), marker, data_dir=str(hist))
    measure("mdc", str(out), marker, data_dir=str(snapshot_only))
    bare: list[dict[str, float]] = []
    mdc: list[dict[str, float]] = []
    mdc_snap: list[dict[str, float]] = []
    for i in range(runs):  # interleaved (and rotating who goes first), so noise hits all alike
        trio = [("bare", bare, "bench-bare-ready", None), ("mdc", mdc, marker, str(hist)),
                ("mdc", mdc_snap, marker, str(snapshot_only))]
        for mode, acc, mk, dd in trio[i % 3:] + trio[:i % 3]:
            acc.append(measure(mode, str(out), mk, data_dir=dd))

    def med(rs: list[dict[str, float]], k: str) -> float:
        return ms(median([r[k] for r in rs]))

    res: dict[str, Any] = {"runs": runs}
    for name, rs in (("bare", bare), ("mdc", mdc), ("mdc_snapshot_only", mdc_snap)):
        res[name] = {"seen_ms": med(rs, "seen"), "first_frame_ms": med(rs, "first_frame"),
                     "cached_frame_ms": med(rs, "cached_frame"), "imports_ms": med(rs, "imports"),
                     "interpreter_ms": med(rs, "start"), "all_seen_ms": [ms(r["seen"]) for r in rs],
                     "missed": sum(1 for r in rs if r["seen"] != r["seen"])}
    b, m = res["bare"]["seen_ms"], res["mdc"]["seen_ms"]
    res["ratio"] = round(m / b, 2) if b == b and m == m and b > 0 else float("nan")
    s = res["mdc_snapshot_only"]["seen_ms"]
    res["ratio_snapshot_only"] = round(s / b, 2) if b == b and s == s and b > 0 else float("nan")
    # per-pair ratios (each mdc run over the bare run next to it): how stable the ratio is on this machine
    pairs = sorted(round(x["seen"] / y["seen"], 2) for x, y in zip(mdc, bare) if x["seen"] == x["seen"])
    res["pair_ratios"] = pairs
    return res


def bench_arg_quota(work: Path) -> dict[str, Any]:
    """The ARG quota row, in a child process that spawns its own large estate with the quota on (the one of steps 3
    and 4 has it off: its refresh must not wait on the quota)."""
    child(["-m", "benchmarks.argquota", "--scale", "large", "--out", str(work / "argquota.json")],
          work / "argquota.log", timeout=900)
    res: dict[str, Any] = json.loads((work / "argquota.json").read_text(encoding="utf-8"))
    return res


def bench_module(work: Path, name: str, module: str, args: list[str], timeout: float) -> dict[str, Any]:
    """One row module (``python -m benchmarks.<module> ... --out F``) in a child process: its JSON figures."""
    out_file = work / f"{name}.json"
    child(["-m", module, *args, "--out", str(out_file)], work / f"{name}.log", timeout=timeout)
    res: dict[str, Any] = json.loads(out_file.read_text(encoding="utf-8"))
    return res


# Issue 15's rows, each its own module (and its own estate): (key in the output, module, arguments, timeout s, what)
ROW_MODULES: dict[str, tuple[str, list[str], float, str]] = {
    "aws_fanout": ("benchmarks.awsfanout", ["--scale", "large"], 1200,
                   "AWS fan-out: the large estate's AWS inventory at 150 +/- 50 ms a call with AWS's rate limits"),
    "oneshot": ("benchmarks.oneshot", ["--runs", "7"], 900,
                "one-shot snapshot: `mdc-aws snapshot` against a bare replay of its requests"),
    "estate_rss": ("benchmarks.estaterss", [], 1200,
                   "estate RSS: the large estate after two collections and a recommendations fetch"),
    "million": ("benchmarks.million", ["--feed", "estate", "--iterations", "5", "--timeout", "1500"], 2400,
                "1,000,000 findings: the dashboard on the estate at scale million"),
}


def run_row_modules(out: dict[str, Any], work: Path, keys: list[str], quick: bool = False) -> None:
    """Issue 15's rows one after the other (each spawns and stops its own estate); a row that cannot run is
    reported as skipped with its log's tail, the others still run."""
    for key in keys:
        module, margs, timeout, what = ROW_MODULES[key]
        log(what)
        try:
            out[key] = bench_module(work, key, module, margs, timeout)
        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            out["skipped"].append(f"{key}: did not run to the end: {str(e)[-600:]}")


# ----------------------------------------------------------------------------------------------------- report


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


def verdict(value: float, target: float) -> tuple[str, str]:
    if value != value:
        return "n/a", "NOT MEASURED"
    r = value / target
    return f"{r:.2f}", "pass" if r <= 1.0 else "FAIL"


def report(out: dict[str, Any]) -> str:
    mi = out["machine"]
    lines = [
        "mdc-aws benchmark (one run; ratio = measured / target, <= 1.00 passes)",
        f"machine: {mi['cpus']} CPUs ({mi['cpus_usable']} usable) {mi['cpu_model']}, {mi['mem_gb']} GB RAM, "
        f"Python {mi['python']}, Textual {mi['textual']}",
        f"load average (1/5/15 min): start {' / '.join(map(str, mi['loadavg']))}, "
        f"end {' / '.join(map(str, out.get('loadavg_end', ['?'])))}; wall {out.get('wall_s', '?')} s",
        "",
    ]
    rows: list[tuple[str, str, str, float, float]] = []  # label, shown value, shown target, value, target
    ff = out.get("first_frame")
    if ff:
        rows.append(("1 first frame from history / bare app",
                     f"{ff['ratio']:.2f}x ({ff['mdc']['seen_ms']:.0f} / {ff['bare']['seen_ms']:.0f} ms)",
                     "<= 1.3x", ff["ratio"], TARGETS["first_frame_ratio"]))
    pb = out.get("pane")
    if pb:
        n = f"{pb['rows']:,}"
        for key, label in (("filter_sev_high_s3", f'2 filter "sev:high s3" ({n} rows)'),
                           ("filter_not_low", f'2 filter "!sev:low" ({n} rows)'),
                           ("sort_change", f"2 sort change, s ({n} rows)")):
            s = pb[key]
            rows.append((label, f"p95 {s['p95_ms']:.0f} ms (p50 {s['p50_ms']:.0f})", "<= 100 ms", s["p95_ms"],
                         TARGETS["filter_ms"]))
    lv = out.get("live")
    if lv:
        s = lv["latency"]["during_refresh.all"]
        rows.append(("3 key -> repaint during refresh (large)",
                     f"p95 {s['p95_ms']:.0f} ms (p50 {s['p50_ms']:.0f})", "<= 50 ms", s["p95_ms"],
                     TARGETS["key_p95_ms"]))
        rss = lv["rss_holding_rows"]
        col = lv.get("collector_rss_holding_rows", {})
        ui_mb, col_mb = rss.get("VmRSS", float("nan")), col.get("VmRSS", 0.0)
        peak = lv.get("rss_peak_sampled", {})
        n = f"{lv['rows_after_refresh']:,}"
        if col:  # the collection runs in its own process: the app's memory is both
            rows.append((f"4 app RSS holding {n} recs (UI + collector)",
                         f"{ui_mb + col_mb:.0f} MB ({ui_mb:.0f} + {col_mb:.0f})", "<= 400 MB", ui_mb + col_mb,
                         TARGETS["rss_mb"]))
            rows.append(("4 app RSS peak during the refresh (UI + collector)",
                         f"{peak.get('sum', float('nan')):.0f} MB (UI peak {peak.get('ui', float('nan')):.0f})",
                         "<= 400 MB", peak.get("sum", float("nan")), TARGETS["rss_mb"]))
        else:
            rows.append((f"4 app RSS holding {n} recs",
                         f"{ui_mb:.0f} MB (peak {lv['rss_end'].get('VmHWM', float('nan')):.0f})",
                         "<= 400 MB", ui_mb, TARGETS["rss_mb"]))
    aq = out.get("arg_quota")
    if aq:
        from .argquota import row as arg_quota_row

        rows.append(arg_quota_row(aq))
    for key, module in (("aws_fanout", "awsfanout"), ("oneshot", "oneshot"), ("estate_rss", "estaterss"),
                        ("million", "million")):
        if out.get(key):
            mod = _module(module)
            rows.extend(mod.rows(out[key]) if hasattr(mod, "rows") else [mod.row(out[key])])
    sk = out.get("soak")
    if sk and sk.get("growth"):
        g = sk["growth"]
        rows.append((f"5 soak: RSS growth after warm-up ({sk['refreshes']} refreshes), UI + collector",
                     f"{g['sum_mb']['pct']:+.1f} % ({g['sum_mb']['start']:.0f} -> {g['sum_mb']['end']:.0f} MB)",
                     "<= 10 %", max(g["sum_mb"]["pct"], g["ui_mb"]["pct"], g["collector_mb"]["pct"]),
                     TARGETS["soak_growth_pct"]))
        flat = not any(why.startswith(("threads", "fds", "processes", "exit")) or "errors" in why for why in sk["why"])
        rows.append(("5 soak: threads, fds, processes flat; 0 errors; clean exit",
                     "yes" if flat else "NO", "yes", 0.0 if flat else 2.0, 1.0))
    elif sk:
        rows.append(("5 soak", "; ".join(sk.get("why", [])) or "?", "", float("nan"), 1.0))
    w = max(len(r[0]) for r in rows) if rows else 30
    lines.append(f"  {'measure':<{w}}  {'measured':<30} {'target':<10} {'ratio':>6}  result")
    for label, shown, tgt, value, target in rows:
        ratio, res = verdict(value, target)
        lines.append(f"  {label:<{w}}  {shown:<30} {tgt:<10} {ratio:>6}  {res}")
    for skipped in out.get("skipped", []):
        lines.append(f"  {skipped}")
    lines.append("")
    if ff:
        lines += [
            f"1. first frame, median of {ff['runs']} interleaved runs each, spawn -> marker on the pty (80x24):",
            f"   bare App+Static {ff['bare']['seen_ms']:.0f} ms (imports done {ff['bare']['imports_ms']:.0f}, "
            f"frame handed to the driver {ff['bare']['first_frame_ms']:.0f}); runs {ff['bare']['all_seen_ms']}",
            f"   mdc-aws on history {ff['mdc']['seen_ms']:.0f} ms (imports done {ff['mdc']['imports_ms']:.0f}, "
            f"first frame {ff['mdc']['first_frame_ms']:.0f}, first frame with cached panes "
            f"{ff['mdc']['cached_frame_ms']:.0f}); runs {ff['mdc']['all_seen_ms']}",
            f"   mdc-aws on a history without the dashboard's view (`mdc-aws snapshot` wrote it; the snapshot loads "
            f"before the first frame) {ff['mdc_snapshot_only']['seen_ms']:.0f} ms = {ff['ratio_snapshot_only']:.2f}x "
            f"the bare app; runs {ff['mdc_snapshot_only']['all_seen_ms']}",
            f"   per-pair ratios {ff['pair_ratios']}; interpreter start alone (spawn -> first line of the child) "
            f"{ff['bare']['interpreter_ms']:.0f} / {ff['mdc']['interpreter_ms']:.0f} ms; history: "
            f"{out['history']['accounts']} accounts, {out['history']['db_kb']} KB",
        ]
    if pb:
        b = pb["render_rows_breakdown_not_low"]
        ra = pb["recs_arrival"]
        lines += [
            f"2. rows: {pb['source']}; matched: sev:high s3 {pb['filter_sev_high_s3']['matched']:,}, "
            f"!sev:low {pb['filter_not_low']['matched']:,}",
            "   sort sequence (column:ms, the first use of a column is cold): "
            f"{' '.join(pb['sort_change']['sequence'])}",
            f"   clear the filter (all {pb['clear_filter_all_rows']['matched']:,} rows) p50 "
            f"{pb['clear_filter_all_rows']['p50_ms']:.0f} ms; default status:unhealthy "
            f"({pb['default_filter_unhealthy']['matched']:,}) p50 {pb['default_filter_unhealthy']['p50_ms']:.0f} ms",
            f"   one re-render of !sev:low ({b['rows']:,} rows), step by step: parse+query {b['parse+query']:.0f} ms, "
            f"rec_cells {b['rec_cells']:.0f} ms, VirtualTable.set_rows {b['table.set_rows']:.0f} ms",
            f"   garbage collection during those {3 * out['iterations']} operations: "
            f"{pb['gc_during_filter_sort']['total_ms']:.0f} ms in all ({pb['gc_during_filter_sort']['per_op_ms']:.0f} "
            f"ms per operation, {pb['gc_during_filter_sort']['gen2']} full collections, longest "
            f"{pb['gc_during_filter_sort']['max_ms']:.0f} ms)",
            f"   rows arriving: on_recs_loaded on the UI loop {ra['on_recs_loaded_ui_ms']:.0f} ms, to painted "
            f"{ra['handler_to_painted_ms']:.0f} ms",
            f"   UI side alone (no Service): RSS {pb['rss_rows_loaded'].get('VmRSS', 0):.0f} MB with the rows loaded, "
            f"{pb['rss_rows_in_pane'].get('VmRSS', 0):.0f} MB with them in the pane "
            f"(peak {pb['rss_end'].get('VmHWM', 0):.0f})",
        ]
    if lv:
        lat = lv["latency"]

        def ln(ph: str) -> str:
            a, d, p, q = (lat[f"{ph}.{k}"] for k in ("all", "down", "pagedown", "queue_delay"))
            return (f"p50 {a['p50_ms']:.0f} / p95 {a['p95_ms']:.0f} / max {a['max_ms']:.0f} ms (n {a['n']}; down p95 "
                    f"{d['p95_ms']:.0f}, pagedown p95 {p['p95_ms']:.0f}; waiting for the loop p95 {q['p95_ms']:.0f})")

        st, gcr = lv["loop_stalls_during_refresh"], lv.get("gc_during_refresh", {})
        lines += [
            f"3. keys every {lv['interval_ms']:.0f} ms ({lv['keys_sent']} sent, {lv['keys_acted']} acted on); start-up "
            f"(collection then recommendations) {lv['phase_a_s']} s, refresh (both at once) {lv['phase_b_s']} s",
            f"   idle before:    {ln('idle_before')}",
            f"   during refresh: {ln('during_refresh')}",
            f"   after refresh:  {ln('after_refresh')}",
            f"   UI loop stalls > 25 ms during the refresh: {st['count_over_25ms']} ({st['over_100ms']} > 100 ms), "
            f"{st['total_ms']:.0f} ms in all; worst "
            + ", ".join(f"{x['ms']:.0f} ms @{x['t_s']}s" for x in st["worst"][:4]),
        ]
        if gcr:
            lines.append(f"   garbage collections > 5 ms during the refresh: {gcr['pauses_over_5ms']}, "
                         f"{gcr['total_ms']:.0f} ms; worst " + ", ".join(
                             f"gen{x['gen']} {x['ms']:.0f} ms @{x['t_s']}s on {x['thread']}" for x in gcr["worst"][:4]))
        gcs = lv.get("gc_during_start")
        if gcs:
            lines.append(f"   garbage collections > 5 ms during start-up: {gcs['pauses_over_5ms']}, "
                         f"{gcs['total_ms']:.0f} ms in all, longest {gcs['max_ms']:.0f} ms "
                         "(a collection holds the GIL: the UI loop waits)")
        evs = [e for e in lv["ui_events"] if "handler_ms" in e]
        lines.append("   UI-loop handlers (t from pressing r): " + ", ".join(
            f"{e['what']} {e['handler_ms']:.0f} ms @{e['t_s']}s" for e in evs))
        lines.append(
            f"4. UI process RSS: after start-up {lv['rss_after_start'].get('VmRSS', 0):.0f} MB, holding the rows after "
            f"the refresh {lv['rss_holding_rows'].get('VmRSS', 0):.0f} MB, peak {lv['rss_end'].get('VmHWM', 0):.0f} MB")
        if lv.get("collector_rss_holding_rows"):
            ca, ch = lv.get("collector_rss_after_start", {}), lv["collector_rss_holding_rows"]
            running = lv.get("collector_processes_holding_rows")
            lines.append(f"   collector process ({lv.get('service')}) RSS: after start-up {ca.get('VmRSS', 0):.0f} MB, "
                         f"after the refresh {ch.get('VmRSS', 0):.0f} MB"
                         + (f" ({running} running: {lv.get('collector_retired', 0)} retired for their size once idle, "
                            f"{lv.get('collector_starts', '?')} started)" if running is not None else "")
                         + f"; sampled every 100 ms, collector peak {lv['rss_peak_sampled']['collector']:.0f} MB, "
                         f"peak of the sum {lv['rss_peak_sampled']['sum']:.0f} MB")
        pss = lv.get("pss_holding_rows")
        if pss:  # information only: the targets are on RSS
            lines.append("   PSS holding the rows (pages shared by the processes split between them): " + ", ".join(
                f"{k} {v:.0f} MB" for k, v in pss.items() if v is not None))
        if lv.get("aws_clients") is not None:
            lines.append(f"   AWS source keeps {lv['aws_clients']} boto3 clients for {lv['aws_accesses']} accounts")
        es = out.get("estate_rss", {})
        lines.append("   emulated estate (own process, not counted): "
                     f"RSS {es.get('idle', {}).get('VmRSS', '?')} MB idle, "
                     f"{es.get('after', {}).get('VmRSS', '?')} MB after serving both runs (peak "
                     f"{es.get('after', {}).get('VmHWM', '?')} MB)")
    if aq:
        from .argquota import detail as arg_quota_detail

        lines += arg_quota_detail(aq)
    for key, module in (("aws_fanout", "awsfanout"), ("oneshot", "oneshot"), ("estate_rss", "estaterss"),
                        ("million", "million")):
        if out.get(key):
            lines += _module(module).detail(out[key])
    if sk:
        from .soak import report as soak_report

        lines.append("5. " + soak_report(sk))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7, help="first-frame runs per app (>= 5)")
    p.add_argument("--iterations", type=int, default=10, help="filter/sort repetitions")
    p.add_argument("--soak-refreshes", type=int, default=None, metavar="N",
                   help="refreshes of the soak (5): default 150 (env MDC_AWS_SOAK_REFRESHES), 0 skips it; "
                        "--quick skips it unless given")
    p.add_argument("--quick", action="store_true",
                   help="skip the large estate (no 3 and 4; 2 on 100k synthetic rows): about a minute")
    p.add_argument("--arg-quota-only", action="store_true",
                   help="only the ARG quota row (the large estate with Resource Graph's quota on): about 1.5 minutes")
    p.add_argument("--only", metavar="ROWS", default=None,
                   help="only these of issue 15's rows, comma-separated: " + ", ".join(ROW_MODULES)
                        + " (each spawns its own estate)")
    p.add_argument("--json", action="store_true", help="also print every figure as JSON")
    p.add_argument("--keep", metavar="DIR", help="work directory to keep (logs, raw JSON)")
    args = p.parse_args(argv)
    os.environ.setdefault("MDC_AWS_CONFIG", os.devnull + ".absent.toml")

    t_all = time.perf_counter()
    out: dict[str, Any] = {"machine": machine_info(), "skipped": [], "iterations": args.iterations}
    tmp = tempfile.TemporaryDirectory(prefix="mdc-aws-bench-") if not args.keep else None
    work = Path(args.keep or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    from tui.emulator.estate import spawn

    large: list[Any] = []
    large_err: list[BaseException] = []

    def start_large() -> None:
        try:
            large.append(spawn(seed=42, scale="large", tick_seconds=None, timeout_s=300))
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
            large_err.append(e)

    t_large = None
    if args.arg_quota_only:
        out["arg_quota"] = bench_arg_quota(work)
        return _finish(out, args, tmp, t_all)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in ROW_MODULES]
        if unknown:
            p.error(f"--only: unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROW_MODULES)}")
        run_row_modules(out, work, wanted, quick=args.quick)
        return _finish(out, args, tmp, t_all)
    try:
        if not args.quick:
            t_large = threading.Thread(target=start_large, name="spawn-large")
            t_large.start()
        log("default estate: a real collection into the history")
        with spawn(seed=42, scale="default", tick_seconds=None) as info:
            out["history"] = prefill_history(info, work / "history")
        if t_large is not None:
            log("waiting for the large estate")
            t_large.join()
            if large_err:
                raise RuntimeError(f"large estate: {large_err[0]}")
            out["estate_rss"] = {"idle": proc_status_mb(large[0].proc.pid)}

        log(f"1. first frame: {args.runs} + 1 runs of each, interleaved")
        out["first_frame"] = bench_first_frame(work, work / "history", Path(out["history"]["snapshot_only"]),
                                               out["history"]["marker"], args.runs)

        recs_file = None
        if large:
            log("3+4. live: the app + Service on the large estate (start-up, then a refresh under keys; ~2.5 min)")
            info_file = work / "estate.json"
            info_file.write_text(large[0].info.to_json(), encoding="utf-8")
            recs_file = work / "recs.json"
            child(["-m", "benchmarks.live", "--estate-info", str(info_file), "--out", str(work / "live.json"),
                   "--dump-recs", str(recs_file), "--data-dir", str(work / "live-history")],
                  work / "live.log", timeout=600)
            out["live"] = json.loads((work / "live.json").read_text(encoding="utf-8"))
            out["estate_rss"]["after"] = proc_status_mb(large[0].proc.pid)
            large.pop().stop()  # free its CPU and memory before step 2
            log("ARG quota: a refresh's Resource Graph queries, the large estate with the quota on (~1.5 min)")
            out["arg_quota"] = bench_arg_quota(work)
        else:
            out["skipped"].append("3, 4, ARG quota: skipped (--quick)")

        run_row_modules(out, work, [k for k in ROW_MODULES if not (args.quick and k != "oneshot")],
                        quick=args.quick)
        if args.quick:
            out["skipped"].append("AWS fan-out, estate RSS, 1,000,000 findings: skipped (--quick)")

        log("2. filter and sort in the RecommendationsPane")
        src = ["--recs", str(recs_file)] if recs_file and recs_file.exists() else ["--synthetic", "100000"]
        child(["-m", "benchmarks.panebench", *src, "--out", str(work / "pane.json"),
               "--iterations", str(args.iterations)], work / "pane.log", timeout=600)
        out["pane"] = json.loads((work / "pane.json").read_text(encoding="utf-8"))

        soak_n = args.soak_refreshes
        if soak_n is None:
            soak_n = 0 if args.quick else int(os.environ.get("MDC_AWS_SOAK_REFRESHES", "150"))
        if soak_n > 0:
            log(f"5. soak: the demo dashboard for {soak_n} refreshes under keys (~{soak_n * 6 // 60 + 1} min)")
            try:
                child(["-m", "benchmarks.soak", "--refreshes", str(soak_n), "--out", str(work / "soak.json")],
                      work / "soak.log", timeout=300 + soak_n * 25)
            except RuntimeError:  # exit 1: a criterion failed; the figures are in soak.json all the same
                pass
            soak_file = work / "soak.json"
            if soak_file.exists():
                out["soak"] = json.loads(soak_file.read_text(encoding="utf-8"))
            else:
                out["skipped"].append("5: the soak wrote no figures: " + (work / "soak.log").read_text(
                    errors="replace")[-500:])
        else:
            out["skipped"].append("5: soak skipped (--quick or --soak-refreshes 0)")
    finally:
        for est in large:
            est.stop()
        if t_large is not None and t_large.is_alive():
            t_large.join()
            for est in large:
                est.stop()
    return _finish(out, args, tmp, t_all)


def _finish(out: dict[str, Any], args: argparse.Namespace, tmp: Any, t_all: float) -> int:
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["wall_s"] = round(time.perf_counter() - t_all)
    print(report(out))
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
