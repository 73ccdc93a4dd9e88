"""AWS fan-out at real latency and rate limits (issue 15, point 2): the "AWS fan-out" row of ``make bench``.

``python -m benchmarks.awsfanout [--scale large] [--latency-ms 150] [--jitter-ms 50] [--out FILE]``

The AWS half of a refresh, exactly as the collector calls it: the connectors through the real core (AzureSource),
then ``AwsSource.inventory(accounts_to_scan(connectors), hints=setup_hints(connectors))`` on a fresh AwsSource (a
first refresh: every role is assumed), against the estate with AWS realism on: every call takes 150 +/- 50 ms
(deterministic jitter) and AWS's per-account request-rate limits are token buckets per account, region and API family
(tui.emulator.aws_ext.RATE_LIMITS), answering the protocol's own throttling error.

Before the measured run, the same inventory runs once with realism off (zero latency, no limits): the truth every
account's data is compared with (and it warms the estate). The measured run's requests and throttled answers are the
estate's counters (``/_emulator/realism``, each throttled answer caused by mdc-aws: nothing else calls), what each
call was given comes from ``/_emulator/realism/calls``.

The floor, computed from this run's own requests (the throttled ones excluded: they are not work the refresh needs):

(a) the chain floor: per account, the longest dependent chain of its calls with the latency each call was actually
    given: sts:GetCallerIdentity (once) -> sts:AssumeRole of its role -> [ec2:DescribeRegions] -> the longest of its
    streams: per region DescribeInstances pages one after another, per region DescribeInstanceInformation pages, and
    each set-up read's own chain (ListRoles pages; ListRolePolicies -> the slowest GetRolePolicy; ListAttachedRole-
    Policies; ListOpenIDConnectProviders -> the slowest Get; DescribeTrails -> the slowest bucket notification read;
    the slowest DescribeStackResources -> DescribeStacks -> DescribeStackEvents; each count's pages per region). Calls
    that need nothing from each other (GetRolePolicy of two policies, two regions) are counted as parallel. And per
    (account, region, family) bucket: (requests - capacity) / refill + the fastest of its calls, after the account's
    prefix (identity + role). The chain floor is the largest of these over the refresh.
(b) the machine floor: the CPU seconds this process (the client: boto3, the fan-out) and the estate process (moto,
    werkzeug, the realism) spent during the run, divided by the usable cores (os.sched_getaffinity): 2 cores cannot
    serve that work faster; and, each being one Python process whose Python runs on one core at a time (the GIL),
    neither process's user CPU seconds can pass in less wall time than themselves: machine floor = max((client CPU +
    estate CPU) / cores, client user CPU, estate user CPU). Every figure is printed, and the zero-latency run's wall
    as information.

floor = max(a, b); ratio = wall / floor, target <= 1.3; and the row fails on any throttled answer, an account whose
data differs from the zero-latency run (readable, instances, SSM records, set-up), or a duplicate record.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from typing import Any

from .common import finish_row

TARGET_RATIO = 1.3
LATENCY_MS, JITTER_MS = 150.0, 50.0

# (service, action) -> (stream, stage, "seq" | "par"): a stream's stages run one after another; within a stage, "seq"
# calls in one region follow each other (pages) and regions are parallel, "par" calls are all parallel.
STAGES: dict[tuple[str, str], tuple[str, int, str]] = {
    ("ec2", "DescribeInstances"): ("ec2", 0, "seq"),
    ("ssm", "DescribeInstanceInformation"): ("ssm", 0, "seq"),
    ("iam", "ListRoles"): ("roles", 0, "seq"),
    ("iam", "ListAttachedRolePolicies"): ("cspm_attached", 0, "seq"),
    ("iam", "ListRolePolicies"): ("cspm_inline", 0, "seq"),
    ("iam", "GetRolePolicy"): ("cspm_inline", 1, "par"),
    ("iam", "ListOpenIDConnectProviders"): ("oidc", 0, "seq"),
    ("iam", "GetOpenIDConnectProvider"): ("oidc", 1, "par"),
    ("cloudtrail", "DescribeTrails"): ("trail", 0, "seq"),
    ("s3", "GetBucketNotificationConfiguration"): ("trail", 1, "par"),
    ("cloudformation", "DescribeStackResources"): ("stack", 0, "par"),
    ("cloudformation", "DescribeStacks"): ("stack", 1, "seq"),
    ("cloudformation", "DescribeStackEvents"): ("stack", 2, "seq"),
    ("cloudformation", "ListStackInstances"): ("stackset", 0, "seq"),
    ("organizations", "ListAWSServiceAccessForOrganization"): ("trusted_access", 0, "seq"),
    ("organizations", "ListAccounts"): ("org_accounts", 0, "seq"),
    ("s3", "ListBuckets"): ("s3_buckets", 0, "seq"),
    ("rds", "DescribeDBInstances"): ("rds_instances", 0, "seq"),
    ("eks", "ListClusters"): ("eks_clusters", 0, "seq"),
}
PREFIX_ACTIONS = {("ec2", "DescribeRegions")}  # before the streams (the regions to scan)


def _aws_admin(info: Any, method: str, route: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{info.aws_url}/_emulator/{route}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=120) as resp:  # the estate, on 127.0.0.1
        raw = resp.read()
    return json.loads(raw) if raw else None


def _proc_cpu_s(pid: int | str) -> tuple[float, float]:
    """(utime + stime, utime) of a process (every thread), in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck, int(fields[11]) / tck


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


async def _work(settings: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The accounts and hints as the collector builds them, from the connectors read through the real core."""
    from tui.core.azure import AzureSource
    from tui.core.collect import accounts_to_scan, setup_hints

    async with AzureSource(settings.azure) as az:
        subs, _ = await az.subscriptions()
        conn = await az.connectors(subs)
    return accounts_to_scan(conn.connectors), setup_hints(conn.connectors)


async def _inventory(settings: Any, accounts: dict[str, list[str]], hints: dict[str, Any]
                     ) -> tuple[dict[str, Any], float, tuple[float, float], dict[str, Any]]:
    """(inventory, wall s, client (CPU, user CPU) s, the source's own stats if it keeps any) of a fresh AwsSource."""
    from tui.core.aws import AwsSource

    src = AwsSource(settings.aws)
    try:
        c0, t0 = _proc_cpu_s("self"), time.perf_counter()
        inv = await src.inventory(accounts, hints=hints)
        wall, c1 = time.perf_counter() - t0, _proc_cpu_s("self")
        cpu = (c1[0] - c0[0], c1[1] - c0[1])
        stats_fn = getattr(src, "fanout_stats", None)
        stats = stats_fn() if callable(stats_fn) else {}
    finally:
        await src.aclose()
    return inv, wall, cpu, stats


def _summary(inv: dict[str, Any]) -> dict[str, Any]:
    """Per account what must not change between the truth and the measured run."""
    out: dict[str, Any] = {}
    for acct, i in inv.items():
        s = i.setup
        setup = None
        if s is not None:
            setup = {"roles": None if s.roles is None else sorted(r.name for r in s.roles),
                     "oidc": None if s.oidc_providers is None else sorted(p.arn for p in s.oidc_providers),
                     "stack": None if s.stack is None else [s.stack.name, s.stack.region, s.stack.status],
                     "stackset": None if s.stackset_instances is None else len(s.stackset_instances),
                     "trusted": s.trusted_access,
                     "org": None if s.org_accounts is None else len(s.org_accounts),
                     "trail": None if s.trail_bucket_queues is None else len(s.trail_bucket_queues),
                     "billable": dict(sorted(s.billable.items())), "errors": sorted(s.errors)}
        out[acct] = {"readable": i.readable, "error_kind": i.error_kind,
                     "instances": sorted(x.instance_id for x in i.instances),
                     "ssm": sorted(x.instance_id for x in i.ssm), "failed": sorted(i.failed_regions), "setup": setup}
    return out


def _duplicates(inv: dict[str, Any]) -> int:
    n = 0
    for i in inv.values():
        n += len(i.instances) - len({x.instance_id for x in i.instances})
        n += len(i.ssm) - len({x.instance_id for x in i.ssm})
    return n


def chain_floor(calls: list[dict[str, Any]], limits: dict[str, Any]) -> dict[str, Any]:
    """The chain floor (a) of the module docstring from the per-call records (throttled calls excluded)."""
    from tui.emulator.aws_ext import rate_family

    served = [c for c in calls if not c["throttled"]]
    ident = [c["delay_ms"] for c in served if c["action"] == "GetCallerIdentity"]
    ident_s = min(ident) / 1000 if ident else 0.0
    assume: dict[str, float] = {}
    for c in served:
        if c["service"] == "sts" and c["action"].startswith("AssumeRole") and c["target"]:
            assume[c["target"]] = max(assume.get(c["target"], 0.0), c["delay_ms"] / 1000)
    # per account: prefix stages, then streams -> stage -> region -> [delays]
    prefix: dict[str, float] = defaultdict(float)
    streams: dict[str, dict[str, dict[int, tuple[str, dict[str, list[float]]]]]] = defaultdict(dict)
    unknown: Counter[str] = Counter()
    for c in served:
        if c["service"] == "sts":
            continue
        key = (c["service"], c["action"])
        acct, d = c["account"], c["delay_ms"] / 1000
        if key in PREFIX_ACTIONS:
            prefix[acct] += d
            continue
        stream, stage, mode = STAGES.get(key, (f"{c['service']}:{c['action']}", 0, "seq"))
        if key not in STAGES:
            unknown[f"{c['service']}:{c['action']}"] += 1
        st = streams[acct].setdefault(stream, {})
        st.setdefault(stage, (mode, defaultdict(list)))[1][c["region"]].append(d)
    per_account: dict[str, dict[str, Any]] = {}
    accounts = set(streams) | set(assume) | set(prefix)
    for acct in accounts:
        head = ident_s + assume.get(acct, 0.0) + prefix.get(acct, 0.0)
        best, best_name = 0.0, ""
        for name, stages in streams.get(acct, {}).items():
            t = 0.0
            for _, (mode, by_region) in sorted(stages.items()):
                if mode == "par":
                    t += max(max(v) for v in by_region.values())
                else:
                    t += max(sum(v) for v in by_region.values())
            if t > best:
                best, best_name = t, name
        per_account[acct] = {"chain_s": head + best, "head_s": head, "longest": best_name}
    # buckets: (account, region, family) -> requests served; time = (n - capacity) / refill + the fastest call
    buckets: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for c in served:
        buckets[(c["account"], c["region"], c["family"])].append(c["delay_ms"] / 1000)
    worst_bucket: dict[str, Any] = {"floor_s": 0.0}
    for (acct, region, family), delays in buckets.items():
        _, kind = rate_family(family.split(":", 1)[0], family.split(":", 1)[1] if ":" in family else "")
        lim = limits.get(kind) or limits.get("default") or {}
        cap, refill = float(lim.get("capacity", 1e9)), float(lim.get("refill_per_s", 1e9))
        t = max(0.0, (len(delays) - cap) / refill) + min(delays)
        t += ident_s + (assume.get(acct, 0.0) if family != "sts" else 0.0)
        if t > worst_bucket["floor_s"]:
            worst_bucket = {"floor_s": t, "account": acct, "region": region, "family": family,
                            "requests": len(delays), "capacity": cap, "refill_per_s": refill}
    worst = max(per_account.items(), key=lambda kv: kv[1]["chain_s"], default=("", {"chain_s": 0.0}))
    floor = max(worst[1]["chain_s"], worst_bucket["floor_s"])
    chains = sorted(v["chain_s"] for v in per_account.values())
    return {"chain_floor_s": round(floor, 3), "longest_chain_s": round(worst[1]["chain_s"], 3),
            "longest_chain_account": worst[0], "longest_chain": {k: (round(v, 3) if isinstance(v, float) else v)
                                                                 for k, v in worst[1].items()},
            "chain_p50_s": round(chains[len(chains) // 2], 3) if chains else 0.0,
            "bucket_floor": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in worst_bucket.items()},
            "identity_s": round(ident_s, 3), "accounts_in_chain": len(per_account),
            "unclassified_calls": dict(unknown)}


def measure(proc: Any, latency_ms: float = LATENCY_MS, jitter_ms: float = JITTER_MS) -> dict[str, Any]:
    from tui.core.config import Settings
    from tui.demo_estate import demo_settings

    info = proc.info
    settings = demo_settings(info, Settings())
    accounts, hints = asyncio.run(_work(settings))
    # the truth: the same inventory with realism off (also warms the estate: moto builds its backends on first use)
    _aws_admin(info, "POST", "realism", {"latency_ms": 0, "jitter_ms": 0, "rate_limits": False})
    truth_inv, truth_wall, truth_cpu, _ = asyncio.run(_inventory(settings, accounts, hints))
    # the measured run
    _aws_admin(info, "POST", "realism", {"latency_ms": latency_ms, "jitter_ms": jitter_ms, "rate_limits": True})
    _aws_admin(info, "DELETE", "realism")
    e0 = _proc_cpu_s(proc.proc.pid)
    inv, wall, (cpu, cpu_user), stats = asyncio.run(_inventory(settings, accounts, hints))
    e1 = _proc_cpu_s(proc.proc.pid)
    estate_cpu, estate_user = e1[0] - e0[0], e1[1] - e0[1]
    counters = _aws_admin(info, "GET", "realism")
    raw = _aws_admin(info, "GET", "realism/calls")
    _aws_admin(info, "POST", "realism", {"latency_ms": 0, "jitter_ms": 0, "rate_limits": False})
    calls = [dict(zip(raw["fields"], row)) for row in raw["calls"]]
    fl = chain_floor(calls, counters.get("limits") or {})
    cores = _usable_cores()
    machine = max((cpu + estate_cpu) / cores, cpu_user, estate_user)
    floor = max(fl["chain_floor_s"], machine)
    truth, got = _summary(truth_inv), _summary(inv)
    lost = sorted(a for a in truth if got.get(a) != truth[a])
    readable = sum(1 for v in got.values() if v["readable"])
    dups = _duplicates(inv)
    throttled_by_family = {f: v["throttled"] for f, v in (counters.get("families") or {}).items() if v["throttled"]}
    res: dict[str, Any] = {
        "scale": getattr(info, "scale", "?"), "latency_ms": latency_ms, "jitter_ms": jitter_ms, "rate_limits": True,
        "wall_s": round(wall, 3), "accounts": len(accounts),
        "regions": sum(len(v) for v in accounts.values()),
        "accounts_readable": readable, "accounts_readable_truth": sum(1 for v in truth.values() if v["readable"]),
        "accounts_differing": len(lost), "accounts_differing_sample": lost[:5],
        "instances": sum(len(i.instances) for i in inv.values()), "ssm_records": sum(len(i.ssm) for i in inv.values()),
        "duplicates": dups, "requests": counters.get("requests", 0), "throttled": counters.get("throttled", 0),
        "throttled_by_family": throttled_by_family, "calls_recorded": len(calls),
        "client_cpu_s": round(cpu, 3), "estate_cpu_s": round(estate_cpu, 3), "cores": cores,
        "client_user_cpu_s": round(cpu_user, 3), "estate_user_cpu_s": round(estate_user, 3),
        "machine_floor_split_s": round((cpu + estate_cpu) / cores, 3),
        "machine_floor_s": round(machine, 3), **fl, "floor_s": round(floor, 3),
        "floor_kind": "chain" if fl["chain_floor_s"] >= machine else "machine",
        "zero_latency_wall_s": round(truth_wall, 3), "zero_latency_client_cpu_s": round(truth_cpu[0], 3),
        "client_stats": stats, "target": TARGET_RATIO,
    }
    res["ratio"] = round(wall / floor, 3) if floor > 0 else float("nan")
    res["complete"] = bool(not lost and dups == 0 and readable == res["accounts_readable_truth"])
    res["pass"] = bool(res["ratio"] <= TARGET_RATIO and res["throttled"] == 0 and res["complete"])
    res["passed"] = res["pass"]
    return res


def row(res: dict[str, Any]) -> tuple[str, str, str, float, float]:
    """The report table's row: label, shown value, shown target, value, target (value / target <= 1 passes; a
    throttled answer or an account's data lost fails it)."""
    shown = (f"{res['ratio']:.2f}x floor ({res['wall_s']:.1f} / {res['floor_s']:.1f} s, {res['floor_kind']}), "
             f"throttled: {res['throttled']}" + ("" if res["complete"] else ", DATA LOST"))
    ok = res["throttled"] == 0 and res["complete"]
    value = res["ratio"] if ok else max(res["ratio"], 2 * TARGET_RATIO)
    label = f"AWS fan-out ({res['scale']}, {res['latency_ms']:g}+/-{res['jitter_ms']:g} ms, rate limits)"
    return (label, shown, f"<= {TARGET_RATIO}x, 0", value, TARGET_RATIO)


def detail(res: dict[str, Any]) -> list[str]:
    b = res["bucket_floor"]
    lc = res["longest_chain"]
    return [
        f"AWS fan-out: {res['accounts']} accounts, {res['regions']} account-regions, {res['requests']} requests "
        f"({res['throttled']} throttled {res['throttled_by_family'] or ''}) in {res['wall_s']:.2f} s",
        f"   chain floor {res['chain_floor_s']:.2f} s: longest account chain {res['longest_chain_s']:.2f} s "
        f"(account {res['longest_chain_account']}: identity + role + regions {lc.get('head_s', 0):.2f} s, then its "
        f"{lc.get('longest', '?')} stream; median account {res['chain_p50_s']:.2f} s); worst rate bucket "
        f"{b.get('floor_s', 0):.2f} s ({b.get('family', '-')}, {b.get('requests', 0)} requests, capacity "
        f"{b.get('capacity', 0):g}, {b.get('refill_per_s', 0):g}/s)",
        f"   machine floor {res['machine_floor_s']:.2f} s = max((client CPU {res['client_cpu_s']:.1f} s + estate CPU "
        f"{res['estate_cpu_s']:.1f} s) / {res['cores']} cores = {res['machine_floor_split_s']:.1f}, one core each "
        f"(GIL): client user {res['client_user_cpu_s']:.1f}, estate user {res['estate_user_cpu_s']:.1f} s)",
        f"   floor = max(chain, machine) = {res['floor_s']:.2f} s ({res['floor_kind']}); the same work at zero "
        f"latency took {res['zero_latency_wall_s']:.1f} s",
        f"   data: {res['accounts_readable']} of {res['accounts_readable_truth']} readable accounts as at zero "
        f"latency, {res['accounts_differing']} differing, {res['instances']:,} instances, {res['ssm_records']:,} SSM "
        f"records, "
        f"{res['duplicates']} duplicates; client: {res['client_stats'] or '-'}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.awsfanout", description=__doc__.split("\n")[0])
    p.add_argument("--scale", default="large", choices=["default", "large"], help="estate to spawn")
    p.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    p.add_argument("--jitter-ms", type=float, default=JITTER_MS)
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)
    from tui.emulator.estate import spawn

    t0 = time.perf_counter()
    # realism is set through the admin route around each run (spawned with it on, as the bench row asks)
    proc = spawn(seed=42, scale=args.scale, tick_seconds=None, timeout_s=300, aws_latency_ms=args.latency_ms,
                 aws_jitter_ms=args.jitter_ms, aws_rate_limits=True)
    try:
        print(f"estate ({args.scale}) up in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        res = measure(proc, args.latency_ms, args.jitter_ms)
    finally:
        proc.stop()
    return finish_row(args.out, res, row, detail)


if __name__ == "__main__":
    raise SystemExit(main())
