"""The adaptive AWS fan-out (issue 15, point 2): the concurrency controller, the client-side pacing, and every account's
data under throttling (the emulator's rate limits with small buckets). No timing assertion."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from tui.core.aws import AdaptiveLimit, AwsSource, Pacer, Quota, _Slots
from tui.emulator.aws_ext import AwsRateLimits, RateLimit

# --------------------------------------------------------------------------------------------------------------------
# The controller (pure, deterministic)


def test_limit_grows_while_latency_bound_and_holds_when_calls_queue() -> None:
    lim = AdaptiveLimit(start=4, cap=16)
    for _ in range(4):  # slow start: one more per saturated call whose round trip is near the fastest
        lim.on_done(0.150, saturated=True)
    assert lim.slots == 8
    lim.on_done(0.150, saturated=False)  # the limit was not the bottleneck: no growth
    assert lim.slots == 8
    for _ in range(20):  # round trips three times the fastest: the calls queue somewhere, more would not help
        lim.on_done(0.450, saturated=True)
    held = lim.limit
    lim.on_done(0.450, saturated=True)
    assert lim.limit == held and lim.slots < 16
    lim2 = AdaptiveLimit(start=4, cap=6)
    for _ in range(50):
        lim2.on_done(0.1, saturated=True)
    assert lim2.slots == 6 and lim2.peak == 6  # never above the hard cap


def test_limit_halves_on_throttle_once_per_window_then_grows_by_one_per_round_trip() -> None:
    lim = AdaptiveLimit(start=32, cap=64)
    lim.on_throttle()
    assert lim.slots == 16 and lim.ssthresh == 16 and lim.decreases == 1
    lim.on_throttle()  # the same burst: one signal
    assert lim.slots == 16 and lim.throttles == 2 and lim.decreases == 1
    for _ in range(16):  # past ssthresh: +1/limit per call, about one per round trip of `limit` calls
        lim.on_done(0.15, saturated=True)
    assert lim.slots == 16 and 16.9 < lim.limit < 17.0
    for _ in range(4):
        lim.on_done(0.15, saturated=True)
    assert lim.slots == 17
    lim.on_throttle()  # a window of calls later: a new signal
    assert lim.decreases == 2 and lim.slots == 8
    for _ in range(200):
        lim.on_throttle()
    assert lim.slots >= 1


def test_slots_go_by_priority_scans_before_set_up_reads() -> None:
    async def main() -> None:
        lim = AdaptiveLimit(start=4, cap=4)
        slots = _Slots(lim)
        order: list[str] = []
        for kind in ("setup", "setup", "scan", "scan"):
            await slots.acquire(kind)
        assert slots.in_flight == 4 and slots.setup_in_flight == 2

        async def take(kind: str, name: str) -> None:
            await slots.acquire(kind)
            order.append(name)

        tasks = [asyncio.ensure_future(take("setup", "setup"))]  # first in line, last served while others wait
        tasks += [asyncio.ensure_future(take("scan", f"scan{i}")) for i in range(2)]
        tasks.append(asyncio.ensure_future(take("access", "access")))
        await asyncio.sleep(0)
        assert order == []  # every slot taken
        slots.release("scan")
        await asyncio.sleep(0)
        assert order == ["access"]  # reaching an account goes first
        slots.release("setup")
        await asyncio.sleep(0)
        assert order == ["access", "scan0"]  # then the scans, by arrival, before the set-up read that came first
        slots.release("scan")
        await asyncio.sleep(0)
        assert order == ["access", "scan0", "scan1"]
        slots.release("scan")
        await asyncio.sleep(0)
        assert order == ["access", "scan0", "scan1", "setup"]  # no scan waits any more
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_pacer_waits_for_the_bucket_and_drains_on_a_throttle() -> None:
    now = [0.0]
    p = Pacer({"iam": Quota(4, 10, "test"), "default": Quota(50, 20, "test")}, clock=lambda: now[0])
    # capacity 4 - 2 (margin) = 2 at once, refill 9/s
    assert p.reserve("111111111111", "us-east-1", "iam", "ListRoles") == 0
    assert p.reserve("111111111111", "eu-west-1", "iam", "ListRoles") == 0  # IAM is global: one bucket
    wait = p.reserve("111111111111", "us-east-1", "iam", "GetRole")
    assert wait == pytest.approx(1 / 9)
    assert p.reserve("222222222222", "us-east-1", "iam", "ListRoles") == 0  # another account, its own bucket
    now[0] += 10
    assert p.reserve("111111111111", "us-east-1", "iam", "ListRoles") == 0
    p.drain("111111111111", "us-east-1", "iam", "ListRoles")
    assert p.reserve("111111111111", "us-east-1", "iam", "ListRoles") == pytest.approx(1 / 9)


# --------------------------------------------------------------------------------------------------------------------
# Every account's data under throttling (the default estate, its emulator's rate limits with small buckets)

# the client's pacing stays 2 tokens under a capacity it knows: 3 leaves it 1 at once, the estate 2 tokens of slack
SMALL = {"iam": RateLimit(3, 4, "test"), "cloudformation": RateLimit(3, 4, "test"),
         "ec2:non-mutating": RateLimit(3, 4, "test")}


def _work(settings):
    from tui.core.azure import AzureSource
    from tui.core.collect import accounts_to_scan, setup_hints

    async def go():
        async with AzureSource(settings.azure) as az:
            subs, _ = await az.subscriptions()
            conn = await az.connectors(subs)
        return accounts_to_scan(conn.connectors), setup_hints(conn.connectors)

    accounts, hints = asyncio.run(go())
    keep = sorted(a for a in accounts if hints.get(a) is not None and hints[a].with_setup)[:4]
    return {a: accounts[a] for a in keep}, {a: hints[a] for a in keep}


def _summary(inv):
    out = {}
    for a, i in inv.items():
        s = i.setup
        ids = [x.instance_id for x in i.instances]
        ssm = [x.instance_id for x in i.ssm]
        assert len(ids) == len(set(ids)) and len(ssm) == len(set(ssm)), f"duplicate records in {a}"
        out[a] = (i.readable, sorted(ids), sorted(ssm), sorted(i.failed_regions),
                  None if s is None else (sorted(r.name for r in s.roles or ()), s.stack, dict(s.billable),
                                          sorted(s.errors)))
    return out


def _inventory(settings, accounts, hints, pacer=None):
    async def go():
        # the set-up reads' deadline far away: under any load, what a read returns is decided by the buckets and the
        # retries, never by a timer
        src = AwsSource(replace(settings.aws, max_attempts=10), setup_timeout_s=600)
        if pacer is not None:
            src.pacer = pacer
        try:
            return await src.inventory(accounts, hints=hints), src.fanout_stats()
        finally:
            await src.aclose()

    return asyncio.run(go())


@pytest.fixture
def small_buckets(estate):
    saved = estate.aws.rate_limits
    estate.aws.rate_limits = AwsRateLimits(enabled=True, limits=SMALL)
    yield estate.aws.rate_limits
    estate.aws.rate_limits = saved
    estate.aws.faults.clear()


def _quotas(limits, capacity_extra=0.0, refill_share=1.0):
    return {k: Quota(v.capacity + capacity_extra, v.refill_per_s * refill_share, v.source) for k, v in limits.items()}


def test_every_account_complete_under_throttling_and_none_throttled_when_paced(estate, settings, small_buckets):
    from tui.emulator.aws_ext import AwsFaultRule

    accounts, hints = _work(settings)
    assert len(accounts) >= 3
    small_buckets.enabled = False
    truth, _ = _inventory(settings, accounts, hints)
    assert all(i.readable for i in truth.values())

    # throttled answers: the client believes in larger bursts than the estate's buckets allow (its first burst per
    # bucket is throttled), and two ListRoles are answered throttled whatever the timing; each throttled request is
    # retried once the pacing (the bucket drained, refilled at the estate's rate) lets it go
    small_buckets.enabled = True
    small_buckets.reset()
    first = sorted(accounts)[0]
    rule = estate.aws.faults.add(AwsFaultRule(service="iam", action="ListRoles", account=first, kind="throttle",
                                              times=2))
    got, stats = _inventory(settings, accounts, hints, pacer=Pacer(_quotas(small_buckets.limits, capacity_extra=8)))
    assert rule.hits == 2 and stats["throttles"] >= 2 and stats["buckets_drained"] >= 2
    assert _summary(got) == _summary(truth)  # no account lost, nothing duplicated, every set-up read done
    estate.aws.faults.clear()

    # the client knows the estate's buckets (a little under them, as AWS_QUOTAS are set against AWS's): it never
    # causes a throttled answer
    small_buckets.reset()
    paced, stats = _inventory(settings, accounts, hints, pacer=Pacer(_quotas(small_buckets.limits, refill_share=0.75)))
    snap = small_buckets.snapshot()
    assert snap["throttled"] == 0 and stats["throttles"] == 0
    assert stats["paced_wait_s"] > 0  # the pacing did hold requests back
    assert _summary(paced) == _summary(truth)


def test_setup_deadline_runs_from_the_first_read_not_from_the_queue() -> None:
    """Reads queued behind other accounts' calls (a large organization) do not spend their account's deadline."""
    import math
    import time as _time

    from tui.core.aws import _Deadline

    d = _Deadline(5.0)
    assert d.at == math.inf and not d.passed()  # queued: no clock running yet
    rearmed: list[int] = []
    d.rearm = lambda: rearmed.append(1)
    before = _time.monotonic()
    d.start()  # the first read runs
    assert before + 5.0 <= d.at <= _time.monotonic() + 5.0 and rearmed == [1]
    at = d.at
    d.start()  # the next reads do not move it
    assert d.at == at and rearmed == [1]
    d.abandon()
    d.start()  # nor revive an abandoned one
    assert d.passed()
