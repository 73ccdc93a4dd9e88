"""Collector behaviour with in-memory sources: concurrency, last good data, staleness, one cloud never blocks the other.

The same Collector runs against the emulated estate over real sockets in tests/test_snapshot_estate.py.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from tui.core import model as m
from tui.core.collect import Collector, accounts_to_scan
from tui.core.errors import AuthError, SourceError

SUB = "00000000-0000-0000-0000-000000000001"


def conn(account: str, kind: str = "native", regions: tuple[str, ...] = ("us-east-1",)) -> m.Connector:
    cid = (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c{account}"
           if kind == "native" else f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/k{account}")
    return m.Connector(id=cid, name=f"c{account}", kind=kind, subscription_id=SUB,
                       resource_group="rg" if kind == "native" else None, aws_account_id=account,
                       regions=regions if kind == "native" else (),
                       offerings=(m.Offering("CspmMonitorAws"),))


class FakeAzure:
    def __init__(self) -> None:
        self.fail: dict[str, BaseException] = {}
        self.delay: dict[str, float] = {}
        self.calls: list[str] = []
        self.connectors_list = [conn("111111111111"), conn("222222222222")]

    async def _step(self, name: str) -> None:
        self.calls.append(name)
        if name in self.delay:
            await asyncio.sleep(self.delay[name])
        if name in self.fail:
            raise self.fail[name]

    async def subscriptions(self):
        await self._step("subscriptions")
        return [SUB], "tenant"

    async def connectors(self, subs):
        await self._step("connectors")
        return m.ConnectorsData(tuple(self.connectors_list))

    async def pricings(self, subs):
        await self._step("plans")
        return m.PlansData((m.Pricing(SUB, "VirtualMachines", "Standard", "P2"),))

    async def arc_machines(self, subs):
        await self._step("arc")
        return (m.ArcMachine(id="/x/i-1", name="i-1", subscription_id=SUB, resource_group="rg", status="Connected",
                             aws_account_id="111111111111", instance_id="i-1"),)

    async def recommendation_counts(self, subs):
        await self._step("recommendations")
        return (m.RecommendationCount(self.connectors_list[0].id.lower(), "High", "Unhealthy", 3),)

    async def compliance(self, subs):
        await self._step("compliance")
        return (m.ComplianceStandard("AWS-CIS-1.2.0", 10, 5, 2),)


class FakeAws:
    def __init__(self) -> None:
        self.fail: BaseException | None = None
        self.seen: dict | None = None

    async def inventory(self, accounts):
        self.seen = dict(accounts)
        if self.fail:
            raise self.fail
        return {a: m.AwsAccountInventory(a, True, regions=tuple(r),
                                         instances=(m.Ec2Instance(a, "us-east-1", "i-1", "running", "linux"),))
                for a, r in accounts.items()}


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.t


async def test_all_sections_ok_and_complete() -> None:
    az, aws = FakeAzure(), FakeAws()
    snap = await Collector(az, aws).collect()
    assert snap.complete
    assert list(snap.sections) == list(m.SECTION_NAMES)
    assert aws.seen == {"111111111111": ["us-east-1"], "222222222222": ["us-east-1"]}
    assert snap.data("onboarding").arc_machines[0].name == "i-1"


async def test_failed_section_keeps_last_good_data_as_stale() -> None:
    az, aws, clock = FakeAzure(), FakeAws(), Clock()
    col = Collector(az, aws, clock=clock)
    first = await col.collect()
    first_as_of = first.sections["compliance"].status.as_of
    clock.t += timedelta(minutes=5)
    az.fail["compliance"] = SourceError("Resource Graph throttled: retry later", kind="throttled")
    second = await col.collect()
    sec = second.sections["compliance"]
    assert sec.status.status == "stale"
    assert sec.status.as_of == first_as_of  # age of the data shown, not of the failed attempt
    assert "throttled" in sec.status.error
    assert sec.data.standards[0].name == "AWS-CIS-1.2.0"  # nothing lost
    assert second.sections["connectors"].status.status == "ok"
    assert not second.complete
    del az.fail["compliance"]
    third = await col.collect()
    assert third.sections["compliance"].status.status == "ok"
    assert third.sections["compliance"].status.as_of == clock.t


async def test_failure_without_previous_data_is_error() -> None:
    az = FakeAzure()
    az.fail["recommendations"] = RuntimeError("boom\nwith a second line")
    snap = await Collector(az, FakeAws()).collect()
    sec = snap.sections["recommendations"]
    assert sec.status.status == "error" and sec.data is None
    assert "\n" not in sec.status.error and "boom" in sec.status.error


async def test_aws_failure_never_blocks_azure() -> None:
    az, aws = FakeAzure(), FakeAws()
    aws.fail = SourceError("cannot reach AWS: check --aws-endpoint-url", kind="network")
    snap = await Collector(az, aws).collect()
    for name in ("connectors", "plans", "recommendations", "compliance"):
        assert snap.sections[name].status.status == "ok"
    onb = snap.sections["onboarding"]
    assert onb.status.status == "error" and "aws-endpoint-url" in onb.status.error
    assert onb.data.arc_machines  # the Azure half is still there
    assert onb.data.aws == {}


async def test_azure_connectors_failure_uses_last_good_accounts_for_aws() -> None:
    az, aws = FakeAzure(), FakeAws()
    col = Collector(az, aws)
    await col.collect()
    az.fail["connectors"] = SourceError("ARM 503: retry later", kind="server")
    aws.seen = None
    snap = await col.collect()
    assert snap.sections["connectors"].status.status == "stale"
    assert aws.seen == {"111111111111": ["us-east-1"], "222222222222": ["us-east-1"]}
    assert snap.sections["onboarding"].status.status == "ok"


async def test_sections_run_concurrently_and_time_out_on_their_own() -> None:
    az = FakeAzure()
    for name in ("plans", "recommendations", "compliance", "arc"):
        az.delay[name] = 0.3
    az.delay["compliance"] = 5
    t0 = time.perf_counter()
    snap = await Collector(az, FakeAws(), section_timeout_s=1.0).collect()
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.5, elapsed  # 4 x 0.3 s sequential would be 1.2 s + the 1 s timeout
    assert snap.sections["compliance"].status.status == "error"
    assert "timed out" in snap.sections["compliance"].status.error
    assert snap.sections["plans"].status.status == "ok"


async def test_auth_failure_is_flagged() -> None:
    az = FakeAzure()
    az.fail["subscriptions"] = AuthError("Azure rejected the credentials: run `az login`")
    col = Collector(az, FakeAws())
    snap = await col.collect()
    assert col.auth_failed
    assert all(s.data is None for s in snap.sections.values())
    assert all("az login" in (st.error or "") for st in (x.status for x in snap.sections.values())
               if st.name != "onboarding")


def test_accounts_to_scan_unions_regions_and_keeps_classic_accounts() -> None:
    conns = [conn("111111111111", regions=("us-east-1",)), conn("111111111111", regions=("eu-west-1",)),
             conn("333333333333", kind="classic")]
    assert accounts_to_scan(conns) == {"111111111111": ["eu-west-1", "us-east-1"], "333333333333": []}


@pytest.mark.parametrize("seed_first", [True, False])
async def test_seed_from_history_makes_failures_stale(seed_first: bool) -> None:
    az = FakeAzure()
    prev = await Collector(az, FakeAws()).collect()
    col = Collector(az, FakeAws())
    if seed_first:
        col.seed(prev)
    az.fail["plans"] = SourceError("ARM 500", kind="server")
    snap = await col.collect()
    assert snap.sections["plans"].status.status == ("stale" if seed_first else "error")
