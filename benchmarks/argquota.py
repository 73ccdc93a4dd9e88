"""Resource Graph at its quota (issue 15, point 3): the "ARG quota" row of ``make bench``.

``python -m benchmarks.argquota [--estate-info FILE | --scale large] [--out FILE]``

What a dashboard refresh sends to Resource Graph, against an estate whose ARG quota is on (``--quota 15``: 15
queries per 5 s window per user, FIDELITY.md §7, the documented example): the collector's ARG queries (the
subscription list, then at once the Arc machines, the recommendation counts and the compliance queries) and, at the
same time as the collection, the recommendations table's fetch (every page of the AWS assessments, as ``r`` does:
collection and recommendations at once), on one AzureSource (one ResourceGraph, one quota pacer) as the Service has.
The ARM REST calls of a collection (connectors, plans) and the AWS side are not part of it: no ARG quota applies.

Measured: the wall time of that work (client side), the ARG requests the emulator served (its request log:
``/_emulator/requests``), how many of them it answered 429 (quota spent: each one caused by mdc-aws), and the quota
floor: for N requests at L per W-second window (the emulator's windows start at a user's first request),

    floor = (ceil(N / L) - 1) * W + t_last

where t_last is the time the last window's requests took in this run (from the arrival of the window's first request
to the end of the last response, from the emulator's log): ceil(N/L) - 1 full windows must pass before the last one
opens, and the last one costs what its requests cost. Target: wall <= 1.1x the floor, 0 429s; every row present
(the recommendations' count is Resource Graph's totalRecords, ids distinct).

With ``--estate-info`` the estate is one already running with the quota on (benchmarks.run spawns it); without, one
is spawned here (``--scale``). A warm-up query loads the emulator's ARG tables first; the quota and the request log
are then reset, so the measured run starts with a full window.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import ssl
import sys
import time
import urllib.request
from typing import Any

from .common import write_json

ARG_PATH_END = "/providers/microsoft.resourcegraph/resources"
LIMIT, WINDOW_S = 15, 5.0  # the documented example (FIDELITY.md §7), the estate's --quota N per 5 s
TARGET_RATIO = 1.1


def _admin(info: Any, method: str, route: str) -> Any:
    """One call to the ARM emulator's admin routes (loopback, the estate's own CA)."""
    ctx = ssl.create_default_context(cafile=info.ca_pem)
    req = urllib.request.Request(f"{info.arm_url}/_emulator/{route}", method=method)
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:  # the estate, on 127.0.0.1
        body = resp.read()
    return json.loads(body) if body else None


def _settings(info: Any) -> Any:
    from dataclasses import replace

    from tui.core.config import Settings

    s = Settings()
    return replace(s, azure=replace(s.azure, arm_endpoint=info.arm_url, ca_bundle=info.ca_pem,
                                    access_token=info.token))


async def refresh_arg_work(settings: Any) -> dict[str, Any]:
    """The ARG part of one dashboard refresh (collection + recommendations at once) on one AzureSource."""
    from tui.core.azure import AzureSource

    recs: dict[str, Any] = {"rows": 0, "total": None, "pages": 0, "first_page_at": None}
    ids: set[str] = set()

    def on_rows(page: list[Any]) -> None:
        recs["rows"] += len(page)
        ids.update(r.id.lower() for r in page)

    def progress(pages: int, rows: int, total: int | None) -> None:
        recs["total"], recs["pages"] = total, pages
        if recs["first_page_at"] is None:
            recs["first_page_at"] = time.time()  # the server's request log is in epoch seconds too

    async with AzureSource(settings.azure) as az:
        t0 = time.perf_counter()
        subs, _tenant = await az.subscriptions()
        arc, counts, comp, _ = await asyncio.gather(
            az.arc_machines(subs), az.recommendation_counts(subs), az.compliance(subs),
            az.recommendations(subs, on_rows=on_rows, progress=progress))
        wall = time.perf_counter() - t0
        pacer = az.graph.pacer
        return {"wall_s": round(wall, 3), "subscriptions": len(subs), "arc_machines": len(arc),
                "recommendation_counts": len(counts), "standards": len(comp.standards),
                "recommendations": recs["rows"], "recommendations_total": recs["total"],
                "recommendation_ids_distinct": len(ids), "recommendation_pages": recs["pages"],
                "recommendations_first_page_at": recs["first_page_at"], "pacer_waited_s": round(pacer.waited_s, 3)}


def windows_of(records: list[dict[str, Any]], window_s: float) -> list[list[dict[str, Any]]]:
    """The emulator's quota windows over the answered (not 429) ARG requests, as its QuotaTracker cuts them: a window
    starts at a request that arrives ``window_s`` or more after the current window's start."""
    out: list[list[dict[str, Any]]] = []
    start = None
    for r in sorted(records, key=lambda r: r["time"]):
        if start is None or r["time"] - start >= window_s:
            start = r["time"]
            out.append([])
        out[-1].append(r)
    return out


def quota_floor(n: int, limit: int, window_s: float, t_last: float) -> float:
    """(ceil(n / limit) - 1) * window_s + t_last: the time the allowed rate needs for n requests."""
    return max(0, math.ceil(n / limit) - 1) * window_s + t_last if n else 0.0


def measure(info: Any, limit: int = LIMIT, window_s: float = WINDOW_S) -> dict[str, Any]:
    settings = _settings(info)
    t0 = time.perf_counter()
    warm = asyncio.run(_warm_up(settings))
    warm_s = time.perf_counter() - t0
    _admin(info, "DELETE", "quota")
    _admin(info, "DELETE", "requests")
    res = asyncio.run(refresh_arg_work(settings))
    log = _admin(info, "GET", "requests") or []
    arg = [r for r in log if str(r.get("path", "")).lower().rstrip("/").endswith(ARG_PATH_END)]
    throttled = [r for r in arg if r.get("status") == 429]
    served = [r for r in arg if r.get("status") != 429]
    other_errors = [r for r in arg if r.get("status") not in (200, 429)]
    arg_t0 = min((r["time"] for r in arg), default=0.0)
    wins = windows_of(served, window_s)
    last = wins[-1] if wins else []
    t_last = (max(r["time"] + r["duration_ms"] / 1000 for r in last) - last[0]["time"]) if last else 0.0
    n = len(served)
    floor = quota_floor(n, limit, window_s, t_last)
    # information: the floor counted from the recommendations' first page (every later page needs the one before
    # it, for its skipToken): that page's own time, then the quota floor of the requests that came after it
    head_at = res.pop("recommendations_first_page_at") or arg_t0
    after = [r for r in served if r["time"] >= head_at]
    wins_after = windows_of(after, window_s)
    t_last_after = (max(r["time"] + r["duration_ms"] / 1000 for r in wins_after[-1]) - wins_after[-1][0]["time"]
                    if wins_after else 0.0)
    head_s = head_at - arg_t0
    floor_chain = head_s + quota_floor(len(after), limit, window_s, t_last_after)
    span = (max(r["time"] + r["duration_ms"] / 1000 for r in served) - min(r["time"] for r in served)) if served else 0
    res.update({
        "scale": getattr(info, "scale", "?"), "limit": limit, "window_s": window_s, "warm_up_s": round(warm_s, 1),
        "warm_up": warm,
        "requests": len(arg), "requests_served": n, "throttled_429": len(throttled), "other_errors": len(other_errors),
        "windows": len(wins), "per_window": [len(w) for w in wins], "t_last_s": round(t_last, 3),
        "floor_s": round(floor, 3), "server_span_s": round(span, 3), "head_s": round(head_s, 3),
        "requests_after_head": len(after), "floor_chain_s": round(floor_chain, 3),
        "ratio_chain": round(res["wall_s"] / floor_chain, 3) if floor_chain > 0 else float("nan"),
        "ratio": round(res["wall_s"] / floor, 3) if floor > 0 else float("nan"),
        "timeline": [[round(r["time"] - arg_t0, 3), round(r["duration_ms"]), r.get("status")]
                     for r in sorted(arg, key=lambda r: r["time"])],
        "server_ms": {"p50": _pct([r["duration_ms"] for r in served], 50),
                      "max": max((r["duration_ms"] for r in served), default=0.0)},
    })
    res["complete"] = bool(res["recommendations"] == res["recommendations_total"]
                           == res["recommendation_ids_distinct"] and res["recommendations"] > 0)
    res["passed"] = bool(res["ratio"] <= TARGET_RATIO and not throttled and res["complete"])
    return res


def _pct(vals: list[float], q: float) -> float:
    v = sorted(vals)
    return round(v[min(len(v) - 1, round(q / 100 * (len(v) - 1)))], 1) if v else float("nan")


async def _warm_up(settings: Any) -> dict[str, Any]:
    """Load the emulator's ARG tables (its first query does) before the measured run: one subscription list and the
    recommendations' first page."""
    from tui.core.azure import AzureSource

    async with AzureSource(settings.azure) as az:
        subs, _ = await az.subscriptions()
        rows = await az.recommendations(subs, limit=1)
    return {"subscriptions": len(subs), "rows": len(rows)}


def row(res: dict[str, Any]) -> tuple[str, str, str, float, float]:
    """The report table's row: label, shown value, shown target, value, target (value / target <= 1 passes; a 429
    or a missing row fails it)."""
    shown = (f"{res['ratio']:.2f}x floor ({res['wall_s']:.1f} / {res['floor_s']:.1f} s), "
             f"429s caused: {res['throttled_429']}" + ("" if res["complete"] else ", ROWS MISSING"))
    value = res["ratio"] if (res["throttled_429"] == 0 and res["complete"]) else max(res["ratio"], 2 * TARGET_RATIO)
    label = f"ARG quota ({res.get('scale', '?')}, {res['limit']} per {res['window_s']:g} s)"
    return (label, shown, f"<= {TARGET_RATIO}x, 0", value, TARGET_RATIO)


def detail(res: dict[str, Any]) -> list[str]:
    """The row's breakdown, for the report under the table."""
    return [
        f"ARG quota: {res['requests_served']} requests served ({res['requests']} sent: {res['throttled_429']} answered "
        f"429, {res['other_errors']} other errors) in {res['windows']} quota windows {res['per_window']}",
        f"   floor = (ceil(N / {res['limit']}) - 1) x {res['window_s']:g} s + the last window's requests = "
        f"(ceil({res['requests_served']}/{res['limit']}) - 1) x {res['window_s']:g} + {res['t_last_s']:.2f} = "
        f"{res['floor_s']:.2f} s; wall {res['wall_s']:.2f} s (server: first request -> last response "
        f"{res['server_span_s']:.2f} s; the pacer held requests back {res['pacer_waited_s']:.1f} s in all)",
        f"   the recommendations' first page came back after {res['head_s']:.2f} s (every later page needs its "
        f"skipToken; server time per request p50 {res['server_ms']['p50']:.0f} ms, max {res['server_ms']['max']:.0f} "
        f"ms); counted from it, the floor of the {res['requests_after_head']} requests after it: "
        f"{res['floor_chain_s']:.2f} s, wall / that = {res['ratio_chain']:.2f}x (information, not the target)",
        f"   rows: {res['recommendations']:,} recommendations of {res['recommendations_total'] or 0:,} "
        f"({res['recommendation_ids_distinct']:,} distinct, {res['recommendation_pages']} pages), "
        f"{res['arc_machines']:,} Arc machines, {res['recommendation_counts']:,} count cells, {res['standards']} "
        f"standards, {res['subscriptions']} subscriptions: complete {'yes' if res['complete'] else 'NO'}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.argquota", description=__doc__.split("\n")[0])
    p.add_argument("--estate-info", help="EstateInfo JSON of a running estate with the quota on")
    p.add_argument("--scale", default="large", choices=["default", "large"], help="estate to spawn (no --estate-info)")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)
    if args.estate_info:
        from tui.emulator.estate import EstateInfo

        with open(args.estate_info, encoding="utf-8") as fh:
            res = measure(EstateInfo.from_json(fh.read()))
    else:
        from tui.emulator.estate import spawn

        t0 = time.perf_counter()
        with spawn(seed=42, scale=args.scale, tick_seconds=None, timeout_s=300, quota_limit=LIMIT) as info:
            print(f"estate ({args.scale}, quota {LIMIT} per {WINDOW_S:g} s) up in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
            res = measure(info)
    if args.out:
        write_json(args.out, res)
    label, shown, tgt, value, target = row(res)
    print(f"{label}: {shown} (target {tgt}) {'pass' if value <= target else 'FAIL'}")
    print("\n".join(detail(res)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
