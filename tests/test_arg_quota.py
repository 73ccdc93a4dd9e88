"""Resource Graph at its quota (issue 15, point 3): the quota pacer uses each window to its last request and never
past it, and a refresh's ARG queries under a small quota keep every row, once, with no 429 from the estate.

The pacer is driven on a fake clock (no timing assertions); the refresh runs against the session estate with its
quota turned on for the test (a small window, so the burst crosses several)."""
from __future__ import annotations

import asyncio
import heapq
import random
from typing import Any

import pytest

from tui.core import arg
from tui.core.azure import AzureSource
from tui.emulator.faults import Quota, QuotaTracker


def q(remaining: int, resets: str) -> dict[str, str]:
    return {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets}


class VirtualTime:
    """A clock and a sleep for the pacer and the simulated server: time moves only when every task waits."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, d: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._due, (self.now + max(0.0, d), self._seq, fut))
        await fut

    async def run(self, *coros: Any) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(20):  # every task runs until it waits on this clock
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                break
            assert self._due, "every task waits on something that never comes"
            at, _, fut = heapq.heappop(self._due)
            self.now = max(self.now, at)
            fut.set_result(None)
        for t in tasks:
            t.result()


class Server:
    """The estate's quota (its QuotaTracker, on the virtual clock) and every request it took."""

    def __init__(self, vt: VirtualTime, limit: int, window_s: float) -> None:
        self.tracker = QuotaTracker(Quota(limit=limit, window_s=window_s), clock=vt.clock)
        self.vt = vt
        self.allowed: list[float] = []
        self.throttled = 0

    def take(self) -> tuple[dict[str, str], int]:
        st = self.tracker.take("user")
        if st.allowed:
            self.allowed.append(self.vt.now)
        else:
            self.throttled += 1
        return q(st.remaining, st.resets_after), (200 if st.allowed else 429)

    def windows(self, window_s: float) -> int:
        starts: list[float] = []
        for t in self.allowed:
            if not starts or t - starts[-1] >= window_s:
                starts.append(t)
        return len(starts)


async def chain(vt: VirtualTime, server: Server, pacer: arg.QuotaPacer, pages: list[float], *,
                on_the_way_s: list[float] | None = None) -> None:
    """One paging query (`pages`: the time each page takes on the server and back): each page is asked for once
    the previous one is in (its skipToken)."""
    for i, took in enumerate(pages):
        ticket = await pacer.acquire()
        await vt.sleep(on_the_way_s[i] if on_the_way_s else 0.0)  # to the server
        headers, status = server.take()
        await vt.sleep(took)
        pacer.observe(headers, ticket, status)


async def test_pacer_uses_every_request_of_the_window_and_never_one_more() -> None:
    vt = VirtualTime()
    server = Server(vt, limit=15, window_s=5)
    pacer = arg.QuotaPacer(low_water=0, clock=vt.clock, sleep=vt.sleep)
    await vt.run(chain(vt, server, pacer, [0.1] * 45))
    assert server.throttled == 0 and len(server.allowed) == 45
    assert server.windows(5) == 3  # three windows of 15, not four of 14: no request of a window left unused


async def _random_refresh(seed: int) -> tuple[int, int, int, int]:
    """The subscription list alone, then 3 to 8 paging queries at once, some of whose pages take longer than the
    whole window (a window ends, and the next begins, while they are on the server), each request reaching the server
    up to 60 ms after it was sent. (429s, requests allowed, requests made, requests still in flight)"""
    rnd = random.Random(seed)
    vt = VirtualTime()
    server = Server(vt, limit=8, window_s=1)
    pacer = arg.QuotaPacer(low_water=0, clock=vt.clock, sleep=vt.sleep)
    await vt.run(chain(vt, server, pacer, [rnd.choice([0.05, 0.7])], on_the_way_s=[0.01]))
    chains, n = [], 1
    for _ in range(rnd.randint(3, 8)):
        pages = rnd.randint(1, 15)
        n += pages
        chains.append(chain(vt, server, pacer, [rnd.choice([0.03, 0.1, 0.3, 1.2, 2.0]) if rnd.random() < 0.3
                                                else 0.05 for _ in range(pages)],
                            on_the_way_s=[rnd.uniform(0, 0.06) for _ in range(pages)]))
    await vt.run(*chains)
    return server.throttled, len(server.allowed), n, pacer.in_flight


async def test_pacer_never_overruns_a_window_while_requests_take_longer_than_it() -> None:
    results = {seed: await _random_refresh(seed) for seed in range(100)}  # ~1 s in all: the clock is virtual
    assert {seed: r for seed, r in results.items() if r[0] or r[1] != r[2] or r[3]} == {}


async def test_pacer_waits_for_the_reset_another_client_or_a_429_reports() -> None:
    vt = VirtualTime()
    pacer = arg.QuotaPacer(low_water=0, clock=vt.clock, sleep=vt.sleep)
    pacer.observe(q(3, "00:00:04"))  # another client's answer: 3 left, nothing to wait for
    assert pacer.delay() == 0
    pacer.observe(q(0, "00:00:04"))  # spent by someone else: wait for that window's reset
    assert pacer.delay() == pytest.approx(4.0)
    vt.now += 4
    assert pacer.delay() == 0
    ticket = await pacer.acquire()
    pacer.observe(q(0, "00:00:02"), ticket, 429)  # throttled: nothing goes before that window's end
    assert pacer.delay() == pytest.approx(2.0) and pacer.in_flight == 0


async def _burst(settings: Any) -> dict[str, Any]:
    """A refresh's ARG queries at once, as the collector and the recommendations table send them, and three more
    paging queries beside them (the recommendations of each severity, as a filtered drill-down asks): seven chains of
    requests in flight together after the subscription list."""
    ids: dict[str, list[str]] = {"all": [], "High": [], "Medium": [], "Low": []}
    totals: dict[str, int | None] = {}

    def sink(key: str) -> Any:
        return lambda page: ids[key].extend(r.id for r in page)

    def total(key: str) -> Any:
        return lambda pages, rows, n: totals.__setitem__(key, n)

    async with AzureSource(settings.azure) as az:
        subs, _ = await az.subscriptions()
        arc, counts, comp, *_ = await asyncio.gather(
            az.arc_machines(subs), az.recommendation_counts(subs), az.compliance(subs),
            az.recommendations(subs, on_rows=sink("all"), progress=total("all")),
            *(az.recommendations(subs, severity=sev, on_rows=sink(sev), progress=total(sev))
              for sev in ("High", "Medium", "Low")))
        return {"arc": sorted(m.id for m in arc),
                "counts": sorted((c.connector_id, c.severity, c.status, c.count) for c in counts),
                "standards": sorted((s.name, s.passed_controls, s.failed_controls) for s in comp.standards),
                "ids": ids, "totals": totals, "sent": az.graph.pacer.sent, "waited": az.graph.pacer.waited_s}


def test_a_burst_under_a_small_quota_keeps_every_row_once_without_429(estate, settings) -> None:
    free = asyncio.run(_burst(settings))  # the quota off: what the queries read
    assert free["ids"]["all"] and free["ids"]["High"]
    emu = estate.arm.emulator
    saved, emu.quota = emu.quota, QuotaTracker(Quota(limit=8, window_s=1.0))  # the session estate's quota, on
    estate.arm.request_log.clear()
    try:
        paced = asyncio.run(_burst(settings))
    finally:
        emu.quota = saved
    log = [r for r in estate.arm.request_log.records() if "microsoft.resourcegraph" in r.path.lower()]
    assert len(log) > 2 * 8  # the burst crossed windows: the quota was in play
    assert [r.status for r in log if r.status != 200] == []  # not one 429 (none for azure-core to retry either)
    assert paced["waited"] > 0 and paced["sent"] == len(log)
    for key, got in paced["ids"].items():  # every row, once
        assert len(got) == len(set(got)) == paced["totals"][key], key
        assert sorted(got) == sorted(free["ids"][key]), key
    assert (paced["arc"], paced["counts"], paced["standards"]) == (free["arc"], free["counts"], free["standards"])
