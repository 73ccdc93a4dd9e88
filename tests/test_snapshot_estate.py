"""The whole core against the emulated estate over real sockets: the snapshot contract, cross-checked against the
World (the ground truth the emulators serve), and every section surviving 429, 5xx, resets, malformed bodies and
timeouts with nothing lost or duplicated.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
import json
from collections import Counter
from importlib.resources import files

import jsonschema
import pytest

from tests.conftest import with_azure
from tui.core.aws import AwsSource
from tui.core.azure import AzureSource
from tui.core.collect import Collector
from tui.core.export import snapshot_to_dict
from tui.emulator.faults import FaultRule

SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))


async def _collect(settings, runs: int = 1, timeout: float = 60.0, between=None):
    async with AzureSource(settings.azure) as az, AwsSource(settings.aws) as aws:
        col = Collector(az, aws, section_timeout_s=timeout)
        snaps = []
        for i in range(runs):
            if between is not None and i:
                between(i)
            snaps.append(await col.collect())
        return snaps, col


def collect(settings, **kw):
    snaps, col = asyncio.run(_collect(settings, **kw))
    return [snapshot_to_dict(s) for s in snaps], col


def stable(doc: dict) -> dict:
    """The facts of a snapshot without its timestamps."""
    d = json.loads(json.dumps(doc))
    d.pop("generated_at")
    for s in d["sections"].values():
        s.pop("as_of")
        s.pop("duration_s")
    for a in d["accounts"]:  # the CloudTrail query counts the last day: its --start-time is the snapshot's - 24 h
        if a.get("cost"):
            a["cost"].pop("cloudtrail_query", None)
    return d


@pytest.fixture(scope="module")
def baseline(settings, estate):
    [doc], _ = collect(settings)
    return doc


def test_snapshot_matches_the_contract(baseline) -> None:
    jsonschema.validate(baseline, SCHEMA)
    assert {s["status"] for s in baseline["sections"].values()} == {"ok"}, baseline["sections"]
    accounts = baseline["accounts"]
    assert len(accounts) >= 8
    for a in accounts:
        assert set(a["plans"]) >= {"cspm", "defender_cspm", "servers", "containers", "databases"}
    assert sum(a["duplicate_classic_native"] for a in accounts) == 1
    classic_only = [a for a in accounts if {c["kind"] for c in a["connectors"]} == {"classic"}]
    assert len(classic_only) == 1 and classic_only[0]["connectors"][0]["resource_group"] is None
    # retired on 2023-09-15 (NOTES §11): no plan, no Arc machine expected, nothing stuck, told to migrate
    co = classic_only[0]
    assert not any(p["enabled"] for p in co["plans"].values()), co["plans"]
    assert co["onboarding"]["stuck"] == [] and not co["onboarding"]["arc_expected"]
    assert "retired" in co["connectors"][0]["health"] and "migrate" in co["connectors"][0]["health"]
    roles = Counter(a["organization_role"] for a in accounts)
    assert roles["management"] == 2 and roles["member"] >= 2  # the second organization has no members
    reasons = Counter(s["reason"] for a in accounts for s in a["onboarding"]["stuck"])
    assert {"no SSM agent", "not discovered yet", "Arc disconnected", "Arc expired"} <= set(reasons), reasons
    assert sum(a["onboarding"]["arc_connected"] for a in accounts) > 0
    # compliance by data, not by name: the benchmark and renamed standards, one without "aws" in its name
    comp = baseline["compliance"]
    assert {"Microsoft-cloud-security-benchmark", "AWS-Foundational-Security-Best-Practices",
            "CIS-AWS-Foundations-v1.2.0", "PCI-DSS-v3.2.1"} <= set(comp), sorted(comp)
    assert "SOC-TSP" not in comp  # Azure-only standard in the same tenant
    assert any(c["unsupported_controls"] for c in comp.values())
    assert comp["Microsoft-cloud-security-benchmark"]["display_name"] == "Microsoft cloud security benchmark"
    skipped = " ".join(baseline["skipped_connectors"]).lower()
    assert "gcp" in skipped and "github" in skipped
    servers = [a["plans"]["servers"] for a in accounts if a["plans"]["servers"]["enabled"]]
    assert {p["sub_plan"] for p in servers} == {"P1", "P2"}
    assert any(p["prerequisites_ok"] is False for p in servers)  # subscription with Defender for Servers off


def test_snapshot_agrees_with_the_world(baseline, estate) -> None:
    """Every count the core reports equals what the World (the emulators' source of truth) holds, computed from
    the World's own model (its truth APIs), not from the rows the core read."""
    world = estate.world
    accounts = {a["aws_account_id"]: a for a in baseline["accounts"]}
    expected_accounts = {c["properties"]["hierarchyIdentifier"] for c in world.security_connectors.values()
                         if c["properties"].get("environmentName") == "AWS"}
    expected_accounts |= {c["properties"]["authenticationDetails"].get("accountId")
                          for c in world.classic_connectors.values()}
    assert set(accounts) == expected_accounts

    arc_connected = world.arc_connected_by_account()  # untagged machines matched by name included
    unhealthy = world.unhealthy_by_account()  # connector-less findings attributed through their Arc machine
    standards = world.standards_by_account()
    legacy = world.classic_legacy_by_account()  # a retired classic connector's stale findings, kept apart
    assert legacy
    specs = {a.account_id: a for a in world.aws_accounts}
    dues = 0
    now = datetime.fromisoformat(baseline["generated_at"].replace("Z", "+00:00"))
    for acct, a in accounts.items():
        onb = a["onboarding"]
        classic_only = {c["kind"] for c in a["connectors"]} == {"classic"}
        if not classic_only:
            assert onb["arc_connected"] == arc_connected.get(acct, 0), acct
        assert a["recommendations"]["unhealthy"] == unhealthy.get(acct, 0), acct
        assert a["recommendations"]["classic_legacy"] == legacy.get(acct, {"total": 0, "unhealthy": 0}), acct
        assert a["standards"] == standards.get(acct, []), acct
        if acct in world.denied_accounts:
            assert onb["ec2_total"] is None and onb["ssm_online"] is None  # never a made-up 0
            assert "AssumeRole" in (onb["aws_error"] or "") or "denied" in (onb["aws_error"] or "").lower()
            continue
        regions = {r for c in a["connectors"] for r in c["regions"]}
        off = {r for (x, r) in world.opt_in_disabled if x == acct}
        insts = [i for i in specs[acct].instances if (not regions or i.region in regions) and i.region not in off]
        assert onb["ec2_total"] == len(insts), acct
        assert onb["ssm_online"] == sum(world.ssm_status(acct, i.instance_id) == "Online" for i in insts), acct
        # EC2 discovery is hourly whatever the scan interval (NOTES §11): next discovery = ready (launched, SSM
        # registered) + 1 h, from the EC2 LaunchTime and SSM RegistrationDate the emulators serve
        reg = {x["InstanceId"]: x["RegistrationDate"] for x in world.ssm_instance_information(acct)}
        for st in onb["stuck"]:
            if st["reason"] != "not discovered yet":
                assert st["discovery_due"] is None
                continue
            ready = max(world.instance_meta(acct, st["instance_id"])["launch_time"], reg[st["instance_id"]])
            want = datetime.fromtimestamp(ready, timezone.utc) + timedelta(hours=1)
            got = datetime.fromisoformat(st["discovery_due"].replace("Z", "+00:00"))
            assert got == want, (acct, st)
            assert got - now <= timedelta(hours=1), (acct, st)  # within the hour
            dues += 1

    assert dues > 5  # the estate has instances waiting for their discovery

    # connector-less findings nobody can attribute are counted, never dropped
    assert baseline["recommendations_unattributed"] == world.unattributed_truth()

    # compliance: every AWS standard (decided by data) with its four counts, and nothing else
    truth = world.compliance_truth()
    assert set(baseline["compliance"]) == set(truth)
    for name, c in baseline["compliance"].items():
        t = truth[name]
        assert (c["passed_controls"], c["failed_controls"], c["skipped_controls"], c["unsupported_controls"]) == \
               (t["passed"], t["failed"], t["skipped"], t["unsupported"]), name


def test_opt_in_region_reads_as_not_enabled(baseline, estate) -> None:
    """A region that is not enabled answers AuthFailure: that region says so, the account's other regions count."""
    world = estate.world
    assert world.opt_in_disabled
    by = {a["aws_account_id"]: a for a in baseline["accounts"]}
    for acct, region in world.opt_in_disabled:
        onb = by[acct]["onboarding"]
        assert onb["ec2_total"] is not None  # the other regions were read
        text = onb["failed_regions"][region]
        assert text.startswith("region not enabled (opt-in)") and f"enable {region}" in text, onb
        assert "region not enabled" in (onb["aws_error"] or "")


def test_untagged_arc_machines_match_their_instances(baseline, estate) -> None:
    world = estate.world
    untagged = world.untagged_arc_machines()
    assert untagged
    by = {a["aws_account_id"]: a for a in baseline["accounts"]}
    status = {r["name"]: r["properties"].get("status") for r in world.arg_tables()["resources"]
              if r["type"] == "microsoft.hybridcompute/machines"}
    assert {u["matched_by"] for u in untagged} == {"private_dns", "name_tag"}
    for acct in {u["account_id"] for u in untagged}:
        n = sum(1 for u in untagged if u["account_id"] == acct and status[u["name"]] == "Connected")
        assert n and by[acct]["onboarding"]["arc_matched_by_name"] == n


@pytest.mark.parametrize("rule", [
    FaultRule(path_regex="Microsoft.ResourceGraph", kind="429", times=2, retry_after_s=0),
    FaultRule(path_regex="securityConnectors", kind="503", times=1),
    FaultRule(path_regex="pricings", kind="500", times=1),
    FaultRule(path_regex="Microsoft.ResourceGraph", kind="reset", times=1),
], ids=["arg-429-burst", "connectors-503", "pricings-500", "arg-reset"])
def test_transient_faults_lose_and_duplicate_nothing(rule, settings, clean_faults, baseline) -> None:
    estate = clean_faults
    estate.arm.faults.add(rule)
    [doc], _ = collect(settings)
    assert rule.applied >= 1, "the fault never fired"
    assert {s["status"] for s in doc["sections"].values()} == {"ok"}, doc["sections"]
    assert stable(doc) == stable(baseline)


def test_persistent_failures_keep_last_good_data(settings, clean_faults) -> None:
    estate = clean_faults

    def break_things(i: int) -> None:
        estate.arm.faults.add(FaultRule(path_regex="securityConnectors", kind="500"))
        estate.arm.faults.add(FaultRule(path_regex="Microsoft.ResourceGraph", kind="reset"))

    (good, bad), _ = collect(with_azure(settings, retry_total=0), runs=2, between=break_things)
    assert bad["sections"]["connectors"]["status"] == "stale"
    assert "retry" in bad["sections"]["connectors"]["error"].lower() or "500" in bad["sections"]["connectors"]["error"]
    for name in ("recommendations", "compliance"):
        assert bad["sections"][name]["status"] == "stale"
        assert "\n" not in bad["sections"][name]["error"]
    assert bad["sections"]["plans"]["status"] == "ok"  # pricings still answer
    assert bad["sections"]["connectors"]["as_of"] == good["sections"]["connectors"]["as_of"]
    # the last good data is still all there, and the AWS side still read every account from it
    assert [a["aws_account_id"] for a in bad["accounts"]] == [a["aws_account_id"] for a in good["accounts"]]
    assert [a["onboarding"]["ec2_total"] for a in bad["accounts"]] == \
           [a["onboarding"]["ec2_total"] for a in good["accounts"]]
    assert bad["compliance"] == good["compliance"]


def test_malformed_and_slow_responses_fail_only_their_section(settings, clean_faults) -> None:
    estate = clean_faults
    estate.arm.faults.add(FaultRule(path_regex="pricings", kind="malformed", malformed="truncated"))
    estate.arm.faults.add(FaultRule(path_regex="/providers/Microsoft.Security/connectors", kind="latency",
                                    latency_ms=4000))
    [doc], _ = collect(with_azure(settings, retry_total=0), timeout=2.0)
    secs = doc["sections"]
    assert secs["plans"]["status"] == "error" and secs["plans"]["error"]
    assert secs["connectors"]["status"] == "error" and "timed out" in secs["connectors"]["error"]
    assert secs["recommendations"]["status"] == "ok" and secs["compliance"]["status"] == "ok"
    jsonschema.validate(doc, SCHEMA)


def test_unknown_token_is_an_auth_error(settings) -> None:
    [doc], col = collect(with_azure(settings, access_token="not-the-token"))
    assert col.auth_failed
    assert all(s["status"] == "error" for s in doc["sections"].values())
    assert "MDC_AWS_ACCESS_TOKEN" in doc["sections"]["connectors"]["error"] or \
           "az login" in doc["sections"]["connectors"]["error"]


def test_aws_throttling_affects_only_its_account(settings, clean_faults, baseline) -> None:
    from tui.emulator.aws import AwsFaultRule

    estate = clean_faults
    victim = next(a["aws_account_id"] for a in baseline["accounts"]
                  if a["onboarding"]["ec2_total"] and a["organization_role"] == "single")
    transient = AwsFaultRule(service="ec2", action="DescribeInstances", kind="throttle", times=1)
    estate.aws.faults.add(transient)
    [doc], _ = collect(settings)
    assert transient.hits == 1
    assert stable(doc) == stable(baseline)  # retried: nothing lost, nothing counted twice

    estate.aws.faults.clear()
    estate.aws.faults.add(AwsFaultRule(service="ec2", action="DescribeInstances", kind="throttle", account=victim))
    [doc], _ = collect(settings)
    by = {a["aws_account_id"]: a for a in doc["accounts"]}
    assert by[victim]["onboarding"]["ec2_total"] is None
    assert "throttl" in by[victim]["onboarding"]["aws_error"].lower()
    for a in baseline["accounts"]:
        if a["aws_account_id"] != victim:
            assert by[a["aws_account_id"]]["onboarding"] == a["onboarding"]
    assert doc["sections"]["connectors"]["status"] == "ok"
