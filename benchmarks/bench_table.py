"""VirtualTable + tablequery at recommendations scale: ``python -m benchmarks.bench_table [--rows N] [--json]``.

Measured in one run, headless at 80x24 (what an operator sees over SSH):

1. first paint: a bare Textual app vs an app whose VirtualTable gets N rows in ``on_mount`` (time from starting the
   app to its first frame, the frame's bytes included; headless drivers skip the write, so the harness renders
   them), median of several starts, and the ratio;
2. tablequery over N synthetic recommendation rows: index build, filter, sort, filter+sort (cold and warm);
3. key-to-repaint latency: ``down`` pressed 200 times (cursor moves and, past the first page, a scroll per key),
   time from the key event to the next frame, p50/p95; plus a cold full-screen render of the table;
4. memory: tracemalloc peak and RSS growth for N rows held by the table and painted.

Absolute times depend on the machine (the CI box is a shared 2-vCPU VM): compare ratios, not milliseconds.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import constants, events
from textual.app import App, ComposeResult
from textual.widgets import Static

from tui.core.tablequery import Index, parse_filter, severity_rank
from widgets.virtual_table import Column, VirtualTable

SIZE = (80, 24)

COLUMNS = [
    Column("sev", "SEV", 8, priority=9),
    Column("title", "TITLE", None, min_width=20, priority=10),
    Column("resource", "RESOURCE", 20, priority=5),
    Column("account", "ACCOUNT", 12, priority=8),
    Column("region", "REGION", 14, priority=3),
    Column("status", "STATUS", 11, priority=4),
]

_SEV = {"High": Text("● High", style="bold"), "Medium": Text("▲ Medium"), "Low": Text("· Low")}


def severity_key(record: dict[str, Any]) -> int:
    """Most severe first (one function object, so the Index caches its order)."""
    return severity_rank(record["severity"])


def make_records(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """Synthetic unhealthy/healthy AWS assessments shaped like the ARG results (deterministic)."""
    rnd = random.Random(seed)
    topics = ["S3 buckets should block public access", "Security groups should not allow ingress from 0.0.0.0/0",
              "EBS volumes should be encrypted at rest", "IAM root user should have MFA enabled",
              "CloudTrail should be enabled in all regions", "RDS snapshots should not be public",
              "Lambda functions should use supported runtimes", "EC2 instances should be managed by SSM"]
    titles = [f"{t} ({i})" if i else t for i in range(40) for t in topics]  # ~320 distinct titles
    accounts = [f"{rnd.randrange(10**11, 10**12)}" for _ in range(200)]
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
               "eu-north-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1",
               "sa-east-1", "me-south-1", "af-south-1", "eu-south-1"]
    types = ["AWS::S3::Bucket", "AWS::EC2::SecurityGroup", "AWS::EC2::Instance", "AWS::EC2::Volume",
             "AWS::IAM::User", "AWS::RDS::DBInstance", "AWS::Lambda::Function", "AWS::CloudTrail::Trail"]
    out = []
    for i in range(n):
        title = rnd.choice(titles)
        out.append({
            "id": f"a{i:07d}",
            "title": title,
            "severity": rnd.choices(["High", "Medium", "Low"], weights=[2, 5, 3])[0],
            "status": rnd.choices(["Unhealthy", "Healthy", "NotApplicable"], weights=[3, 6, 1])[0],
            "aws_account_id": rnd.choice(accounts),
            "region": rnd.choice(regions),
            "resource_type": rnd.choice(types),
            "resource_name": f"res-{rnd.getrandbits(48):012x}",
        })
    return out


def to_rows(records: list[dict[str, Any]]) -> tuple[list[tuple[object, ...]], list[str]]:
    rows = [(_SEV[r["severity"]], r["title"], r["resource_name"], r["aws_account_id"], r["region"], r["status"])
            for r in records]
    return rows, [r["id"] for r in records]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def rss_kb() -> int:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


# ----------------------------------------------------------------------------------------------------- harness


class TimedApp(App[None]):
    """Records when each frame is produced (and renders its bytes, which headless mode would skip)."""

    def __init__(self, compose_fn: Callable[[], ComposeResult], on_mount_fn: Callable[[TimedApp], None] | None = None):
        super().__init__()
        self._compose_fn = compose_fn
        self._on_mount_fn = on_mount_fn
        self.frames: list[float] = []
        self.frame_bytes = 0

    def compose(self) -> ComposeResult:
        yield from self._compose_fn()

    def on_mount(self) -> None:
        if self._on_mount_fn is not None:
            self._on_mount_fn(self)

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None and not self._batch_count:
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                self.frame_bytes += len(render(self.console))
            self.frames.append(time.perf_counter())
        super()._display(screen, renderable)


async def first_paint(make_app: Callable[[], TimedApp]) -> tuple[float, TimedApp]:
    app = make_app()
    start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        while not app.frames:
            await asyncio.sleep(0.001)
        first = app.frames[0] - start
        await pilot.pause()
    return first, app


async def bench_first_paint(rows: list[tuple[object, ...]], keys: list[str], repeats: int) -> dict[str, Any]:
    set_rows_times: list[float] = []

    def bare() -> TimedApp:
        return TimedApp(lambda: [Static("mdc-aws")])

    def table() -> TimedApp:
        def fill(app: TimedApp) -> None:
            t0 = time.perf_counter()
            app.query_one(VirtualTable).set_rows(rows, keys)
            set_rows_times.append(time.perf_counter() - t0)

        return TimedApp(lambda: [VirtualTable(COLUMNS)], fill)

    def empty_table() -> TimedApp:
        return TimedApp(lambda: [VirtualTable(COLUMNS)])

    await first_paint(bare)  # warm imports / CSS parsing caches for both
    await first_paint(table)
    set_rows_times.clear()
    bare_t, empty_t, table_t = [], [], []
    for _ in range(repeats):  # interleaved, so machine noise hits all three alike
        bare_t.append((await first_paint(bare))[0])
        empty_t.append((await first_paint(empty_table))[0])
        table_t.append((await first_paint(table))[0])
    b, e, t = statistics.median(bare_t), statistics.median(empty_t), statistics.median(table_t)
    return {
        "rows": len(rows),
        "bare_first_paint_ms": ms(b),
        "empty_table_first_paint_ms": ms(e),
        "table_first_paint_ms": ms(t),
        "ratio": round(t / b, 2),
        "set_rows_ms_p50": ms(statistics.median(set_rows_times)),
        "set_rows_ms_max": ms(max(set_rows_times)),
        "samples": repeats,
    }


def bench_query(records: list[dict[str, Any]], repeats: int = 5) -> dict[str, Any]:
    fields = {"sev": "severity", "status": "status", "account": "aws_account_id", "region": "region",
              "type": "resource_type"}
    text = ["title", "resource_name", "resource_type", "aws_account_id", "region"]
    account = records[0]["aws_account_id"][:4]
    filt = parse_filter(f"sev:high account:{account} region:eu- status:unhealthy s3 !public")
    text_only = parse_filter("encrypt")
    broad = parse_filter("sev:high,medium status:unhealthy")

    def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    result: dict[str, Any] = {"rows": len(records), "filter": filt.text}
    gc.collect()
    ix = Index(records, fields=fields, text=text)
    cold_index, _ = timed(ix.prepare)
    result["index_build_ms"] = ms(cold_index)
    cold_sort, _ = timed(lambda: ix.order("title"))
    result["sort_title_cold_ms"] = ms(cold_sort)
    cold_sev, _ = timed(lambda: ix.order(severity_key))
    result["sort_severity_cold_ms"] = ms(cold_sev)

    warm: dict[str, list[float]] = {"filter": [], "filter_text_only": [], "sort_all_title": [],
                                    "filter_plus_sort": [], "negated_filter_plus_sort": []}
    matched = broad_matched = 0
    for _ in range(repeats):
        t, out = timed(lambda: ix.filter(filt))
        warm["filter"].append(t)
        matched = len(out)
        warm["filter_text_only"].append(timed(lambda: ix.filter(text_only))[0])
        warm["sort_all_title"].append(timed(lambda: ix.query(None, "title", True))[0])
        broad_matched = len(ix.filter(broad))
        warm["filter_plus_sort"].append(timed(lambda: ix.query(broad, severity_key))[0])
        warm["negated_filter_plus_sort"].append(timed(lambda: ix.query(parse_filter("!sev:low"), "title"))[0])
    result["matched"] = matched
    result["broad_filter"] = broad.text
    result["broad_matched"] = broad_matched
    for name, values in warm.items():
        result[f"{name}_warm_ms"] = ms(statistics.median(values))
    # what a pane pays once per data refresh, end to end: new Index, filter, sort by title
    t, _ = timed(lambda: Index(records, fields=fields, text=text).query(filt, "title"))
    result["cold_filter_plus_sort_ms"] = ms(t)
    t, _ = timed(lambda: Index(records, fields=fields, text=text).query(parse_filter("!sev:low encrypt"), "title"))
    result["cold_broad_filter_plus_sort_ms"] = ms(t)
    return result


async def bench_keys(rows: list[tuple[object, ...]], keys: list[str], presses: int) -> dict[str, Any]:
    app = TimedApp(lambda: [VirtualTable(COLUMNS)], lambda a: a.query_one(VirtualTable).set_rows(rows, keys))
    latencies: list[float] = []
    page_latencies: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        await pilot.pause()

        async def press(key: str) -> float:
            before = len(app.frames)
            t0 = time.perf_counter()
            app.post_message(events.Key(key, None))
            deadline = t0 + 2.0
            while len(app.frames) == before and time.perf_counter() < deadline:
                await asyncio.sleep(0)
            return app.frames[-1] - t0 if len(app.frames) > before else float("nan")

        bytes0, frames0 = app.frame_bytes, len(app.frames)
        for _ in range(presses):
            latencies.append(await press("down"))
        cursor_after = table.cursor_row
        down_bytes = (app.frame_bytes - bytes0) / max(1, len(app.frames) - frames0)
        for _ in range(max(10, presses // 10)):
            page_latencies.append(await press("pagedown"))

        # the table's own cost of a cold full-screen frame (render_lines with an empty line cache)
        # (render_line per screen line: Widget.render_lines would answer from Textual's own styles cache)
        frame = []
        height = table.size.height
        for _ in range(20):
            table._invalidate(refresh=False)
            t0 = time.perf_counter()
            for y in range(height):
                table.render_line(y)
            frame.append(time.perf_counter() - t0)
        frame_warm = []
        for _ in range(20):
            t0 = time.perf_counter()
            for y in range(height):
                table.render_line(y)
            frame_warm.append(time.perf_counter() - t0)
    good = [x for x in latencies if x == x]
    pages = [x for x in page_latencies if x == x]
    return {
        "presses": presses,
        "cursor_after_downs": cursor_after,
        "down_p50_ms": ms(statistics.median(good)),
        "down_p95_ms": ms(pct(good, 95)),
        "down_max_ms": ms(max(good)),
        "pagedown_p50_ms": ms(statistics.median(pages)),
        "pagedown_p95_ms": ms(pct(pages, 95)),
        "down_bytes_per_frame": round(down_bytes),
        "missed_frames": len(latencies) - len(good) + len(page_latencies) - len(pages),
        "cold_frame_render_ms_p50": ms(statistics.median(frame)),
        "cached_frame_render_ms_p50": ms(statistics.median(frame_warm)),
    }


async def _memory_child(n: int, mode: str) -> dict[str, Any]:
    """Runs in a fresh interpreter (``--memory-child``) so earlier phases and tracemalloc's own bookkeeping do not
    blur the numbers: ``rss`` measures resident memory only, ``trace`` measures Python allocations only."""
    if mode == "trace":
        tracemalloc.start()
    gc.collect()
    rss0 = rss_kb()
    records = make_records(n)
    rows, keys = to_rows(records)
    del records
    gc.collect()
    rss_data = rss_kb()
    data_traced = tracemalloc.get_traced_memory()[0] if mode == "trace" else 0
    if mode == "trace":
        tracemalloc.reset_peak()
    app = TimedApp(lambda: [VirtualTable(COLUMNS)], lambda a: a.query_one(VirtualTable).set_rows(rows, keys))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("end", "pageup", "home")
        await pilot.pause()
        rss_app = rss_kb()
        current, peak = tracemalloc.get_traced_memory() if mode == "trace" else (0, 0)
    import resource

    return {
        "rss_data_mb": round((rss_data - rss0) / 1024, 1),
        "rss_app_over_data_mb": round((rss_app - rss_data) / 1024, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "traced_data_mb": round(data_traced / 2**20, 1),
        "traced_app_peak_over_data_mb": round((peak - data_traced) / 2**20, 1),
        "traced_app_held_over_data_mb": round((current - data_traced) / 2**20, 1),
    }


def bench_memory(n: int) -> dict[str, Any]:
    import subprocess

    out: dict[str, Any] = {"rows": n}
    for mode in ("rss", "trace"):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_table", "--rows", str(n),
                               "--memory-child", mode], capture_output=True, text=True, check=True)
        child = json.loads(proc.stdout)
        keys = ("rss_data_mb", "rss_app_over_data_mb", "rss_peak_mb") if mode == "rss" else (
            "traced_data_mb", "traced_app_peak_over_data_mb", "traced_app_held_over_data_mb")
        out.update({k: child[k] for k in keys})
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    records = make_records(args.rows)
    rows, keys = to_rows(records)
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                           "data_build_s": round(time.perf_counter() - t0, 2)}
    out["first_paint"] = await bench_first_paint(rows, keys, args.repeats)
    out["tablequery"] = bench_query(records)
    out["keys"] = await bench_keys(rows, keys, args.presses)
    del records, rows, keys
    out["memory"] = bench_memory(args.rows)
    return out


def row(label: str, value: float) -> str:
    return f"  {label:<70} {value:8.1f} ms"


def report(out: dict[str, Any]) -> str:
    fp, q, k, m = out["first_paint"], out["tablequery"], out["keys"], out["memory"]
    lines = [
        f"VirtualTable / tablequery benchmark - {fp['rows']:,} rows, {SIZE[0]}x{SIZE[1]} headless, "
        f"{out['machine']['cpus']} CPUs, Python {out['machine']['python']}",
        "",
        "first paint (median of %d starts in a warm process: imports and CSS already loaded)" % fp["samples"],
        f"  bare Textual app            {fp['bare_first_paint_ms']:8.1f} ms",
        f"  app + empty VirtualTable    {fp['empty_table_first_paint_ms']:8.1f} ms",
        f"  app + set_rows({fp['rows']:,})     {fp['table_first_paint_ms']:8.1f} ms   ratio to bare {fp['ratio']:.2f}x",
        f"  set_rows alone              {fp['set_rows_ms_p50']:8.1f} ms   (max {fp['set_rows_ms_max']:.1f})",
        "",
        f"tablequery over {q['rows']:,} rows   filter: {q['filter']!r} -> {q['matched']} rows",
        row("Index.prepare (search text + field columns, once per data refresh)", q["index_build_ms"]),
        row("first sort by title (cached after)", q["sort_title_cold_ms"]),
        row("first sort by severity (cached after)", q["sort_severity_cold_ms"]),
        row("filter (warm)", q["filter_warm_ms"]),
        row("free-text filter 'encrypt' over all rows (warm)", q["filter_text_only_warm_ms"]),
        row("sort all rows by title desc (warm)", q["sort_all_title_warm_ms"]),
        row(f"{q['broad_filter']!r} + sort by severity (warm)", q["filter_plus_sort_warm_ms"])
        + f"  ({q['broad_matched']:,} rows)",
        row("'!sev:low' + sort by title (warm)", q["negated_filter_plus_sort_warm_ms"]),
        row("new Index + the filter above + sort by title, all cold", q["cold_filter_plus_sort_ms"]),
        row("new Index + '!sev:low encrypt' + sort by title, all cold", q["cold_broad_filter_plus_sort_ms"]),
        "",
        f"key to repaint ({k['presses']} x down, cursor ends on row {k['cursor_after_downs']}; Textual paints at most "
        f"every 1/{constants.MAX_FPS} s = {1000 / constants.MAX_FPS:.1f} ms, the floor here)",
        f"  down      p50 {k['down_p50_ms']:6.1f} ms   p95 {k['down_p95_ms']:6.1f} ms   max {k['down_max_ms']:6.1f} ms"
        f"   ~{k['down_bytes_per_frame']:,} bytes/frame to the terminal",
        f"  pagedown  p50 {k['pagedown_p50_ms']:6.1f} ms   p95 {k['pagedown_p95_ms']:6.1f} ms"
        f"   missed frames {k['missed_frames']}",
        f"  table render_lines, full screen: cold {k['cold_frame_render_ms_p50']:.2f} ms, "
        f"cached {k['cached_frame_render_ms_p50']:.2f} ms",
        "",
        f"memory ({m['rows']:,} rows, fresh interpreters)",
        f"  tracemalloc: the rows + keys themselves             {m['traced_data_mb']:6.1f} MB",
        f"  tracemalloc: app + table on top of them, peak/held  {m['traced_app_peak_over_data_mb']:6.1f} / "
        f"{m['traced_app_held_over_data_mb']:.1f} MB",
        f"  RSS: rows + keys {m['rss_data_mb']:.1f} MB, app + table on top {m['rss_app_over_data_mb']:.1f} MB, "
        f"process peak (ru_maxrss) {m['rss_peak_mb']:.1f} MB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_table", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5, help="app starts per first-paint variant")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--memory-child", choices=("rss", "trace"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(asyncio.run(_memory_child(args.rows, args.memory_child))))
        return 0
    out = asyncio.run(main_async(args))
    print(json.dumps(out, indent=2) if args.json else report(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
