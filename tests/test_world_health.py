"""The planted connector-health problems of the emulated estate (issue 13): World.health_truth(), org_truth(),
aws_setup() and the Microsoft.Authorization/locks routes of the ARM emulator.

The truth is computed by the World from its own state; these tests pin which account plants what (by name), that
every health code of tui.core.health is planted, that nothing else is, and that the clock clears the pending one.
"""
from __future__ import annotations

import collections
import fnmatch
import json
import ssl
from typing import Any

import aiohttp
import pytest

from tui.core.health import CODES
from tui.emulator.arm import ArmEmulator
from tui.emulator.clock import ManualClock
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER
from tui.emulator.world import PENDING_TICKS, World

TOKEN = "t"

# account name -> the codes of its native connector (classic connectors: CLASSIC); every other connector: set()
PLANTED = {
    "aws-org-management": {"org-members-missing", "stackset-instances-failed"},
    "aws-prod": {"resource-lock"},
    "aws-payments": {"sentinel-sqs-conflict"},
    "aws-data-lake": {"aws-unreadable"},
    "aws-dev": {"no-standard-assigned"},
    "aws-staging": {"region-not-enabled", "subscription-plan-missing"},
    "aws-sandbox": {"role-missing", "subscription-plan-missing"},
    "aws-legacy-crm": {"classic-native-duplicate"},
    "aws-analytics": {"pending-first-scan"},
    "aws-archive": {"no-data", "no-standard-assigned"},
    "aws-networking": {"stack-not-complete"},
    "aws-iot": {"oidc-provider-missing"},
    "aws-soc": {"sentinel-oidc-conflict"},
    "aws-partner-hub": {"trust-policy-mismatch"},
    "aws-ml": {"least-privilege-gap"},
    "aws-arc-lab": {"provider-not-registered"},
    "aws-acquired-management": {"org-trusted-access-off"},
}
CLASSIC = {"aws-legacy-crm": {"classic-retired", "classic-native-duplicate"},
           "aws-legacy-billing": {"classic-retired"}}


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=42, clock=ManualClock())


def native_key(w: World, name: str) -> str:
    aid = next(a.account_id for a in w.aws_accounts if a.name == name)
    return next(k for k, b in w.security_connectors.items()
                if b["properties"].get("environmentName") == "AWS" and b["properties"]["hierarchyIdentifier"] == aid)


def classic_key(w: World, name: str) -> str:
    aid = next(a.account_id for a in w.aws_accounts if a.name == name)
    return next(k for k, b in w.classic_connectors.items()
                if b["properties"]["authenticationDetails"]["accountId"] == aid)


def expected_truth(w: World) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for k, b in w.security_connectors.items():
        if b["properties"].get("environmentName") == "AWS":
            out[k] = set()
    for k in w.classic_connectors:
        out[k] = set()
    for name, codes in PLANTED.items():
        out[native_key(w, name)] = set(codes)
    for name, codes in CLASSIC.items():
        out[classic_key(w, name)] = set(codes)
    return out


# ------------------------------------------------------------------------------------------------------ the truth

def test_every_code_is_planted_and_nothing_else(world):
    truth = world.health_truth()
    assert truth == expected_truth(world)
    planted = collections.Counter(code for codes in truth.values() for code in codes)
    assert set(planted) == {c.code for c in CODES}, "every health code of tui.core.health at tick 0"
    # one account per code, except the codes a plant implies elsewhere (stated in PLANTED)
    assert planted["pending-first-scan"] == planted["no-data"] == planted["resource-lock"] == 1
    healthy = [k for k, v in truth.items() if not v]
    assert healthy and all(k in world.security_connectors for k in healthy)


def test_org_truth(world):
    mgmt = next(a for a in world.aws_accounts if a.name == "aws-org-management")
    tiny = next(a for a in world.aws_accounts if a.name == "aws-acquired-management")
    org = world.org_truth()
    assert set(org) == {mgmt.account_id, tiny.account_id}
    assert org[tiny.account_id] == {"missing": [], "suspended": [], "excluded": [], "failed_instances": []}
    setup = world.aws_setup(mgmt.account_id)
    names = {o["Id"]: o["Name"] for o in setup["org_accounts"]}
    got = org[mgmt.account_id]
    assert got["missing"] == sorted(got["missing"])
    assert sorted(names[i] for i in got["missing"]) == ["aws-research-lab", "aws-vendor-integrations"]
    assert [names[i] for i in got["suspended"]] == ["aws-closed-2021"]
    assert [names[i] for i in got["excluded"]] == ["aws-break-glass"]
    shared = next(a for a in world.aws_accounts if a.name == "aws-shared-services")
    conn = world.security_connectors[native_key(world, "aws-org-management")]
    org_regions = conn["properties"]["environmentData"]["regions"]
    assert got["failed_instances"] == [(shared.account_id, org_regions[-1])]
    assert conn["properties"]["environmentData"]["organizationalData"]["excludedAccountIds"] == got["excluded"]
    # the accounts without a connector have no AwsAccountSpec
    assert not set(got["missing"] + got["suspended"] + got["excluded"]) & set(world.accounts_by_id)


def test_the_clock_clears_the_pending_connector():
    w = World(seed=42, clock=ManualClock())
    key = native_key(w, "aws-analytics")
    assert w.health_truth()[key] == {"pending-first-scan"}
    w.advance(12 * 60 - PENDING_TICKS - 1)  # 11 h 59 min old
    assert w.health_truth()[key] == {"pending-first-scan"}
    w.advance(1)  # 12 h: its first scan window is over, and its data flows
    assert w.health_truth()[key] == set()
    assert w.health_truth() == {**expected_truth(w), key: set()}, "nothing else moved"


def test_truth_follows_the_stores():
    """The truth is computed from the state: a deleted lock, a standard-less account's deleted connector, a new
    connector created now (pending, no roles or stack in AWS) all show."""
    w = World(seed=42, clock=ManualClock())
    prod, dev = native_key(w, "aws-prod"), native_key(w, "aws-dev")
    with w.mutating():
        w.locks.clear()
        del w.security_connectors[dev]
    truth = w.health_truth()
    assert truth[prod] == set() and dev not in truth
    legacy = next(a for a in w.aws_accounts if a.name == "aws-legacy-billing")
    iot = w.security_connectors[native_key(w, "aws-iot")]
    body = json.loads(json.dumps(iot).replace(iot["properties"]["hierarchyIdentifier"], legacy.account_id))
    body["id"] = body["id"].rsplit("/", 1)[0] + "/migrated"
    body["name"] = "migrated"
    body["properties"]["hierarchyIdentifier"] = legacy.account_id
    body["systemData"]["createdAt"] = "2026-11-01T00:00:00.000Z"  # now (tick 0 of the manual clock)
    with w.mutating():
        w.security_connectors[body["id"].lower()] = body
    got = w.health_truth()[body["id"].lower()]
    # none of the roles in AWS (no stack found is unknown, not broken); the classic connector of the account makes
    # both duplicates
    assert got == {"pending-first-scan", "role-missing", "classic-native-duplicate"}
    assert w.health_truth()[classic_key(w, "aws-legacy-billing")] == {"classic-retired", "classic-native-duplicate"}


# --------------------------------------------------------------------------------------------------- aws_setup

def test_aws_setup_shapes(world):
    keys = {"oidc", "trust_mismatch", "least_privilege", "stack", "stackset", "trusted_access", "org_accounts",
            "trail", "buckets", "rds"}
    natives = {b["properties"]["hierarchyIdentifier"]: b for b in world.security_connectors.values()
               if b["properties"].get("environmentName") == "AWS"}
    for acct in world.aws_accounts:
        setup = world.aws_setup(acct.account_id)
        assert setup is not None and set(setup) <= keys, acct.name
        assert 1 <= len(setup["buckets"]) <= 4 and len(set(setup["buckets"])) == len(setup["buckets"])
        body = natives.get(acct.account_id)
        if body is None:  # the classic-only account: buckets only
            assert set(setup) == {"buckets"}
            assert world.cfn_stack(acct.account_id) is None
            continue
        regions = body["properties"]["environmentData"]["regions"]
        stack = setup["stack"]
        assert set(stack) == {"StackName", "Region", "Status", "FailedResource", "Reason"}
        assert stack["Region"] == regions[0], "the stack is in the connector's first region"
        cfn = world.cfn_stack(acct.account_id)
        assert {k: cfn[k] for k in stack} == stack
        if acct.name == "aws-networking":
            assert stack["Status"] == "UPDATE_ROLLBACK_COMPLETE" and stack["FailedResource"] and stack["Reason"]
        else:
            assert (stack["Status"], stack["FailedResource"], stack["Reason"]) == ("CREATE_COMPLETE", None, None)
        if acct.org_role != ORG_MEMBER:
            assert stack["StackName"] == "DefenderForCloud-Connector"
        assert setup["oidc"] == {"aws-iot": "missing", "aws-soc": "sentinel"}.get(acct.name, "mdc")
        assert ("trust_mismatch" in setup) == (acct.name == "aws-partner-hub")
        assert ("least_privilege" in setup) == (acct.name == "aws-ml")
        assert ("trail" in setup) == (acct.name in ("aws-payments", "aws-org-management"))
        if "trail" in setup:
            trail = setup["trail"]
            assert set(trail) == {"TrailName", "Bucket", "Region", "Queue"} and trail["Bucket"] in setup["buckets"]
            assert trail["Region"] == regions[0]
            assert trail["Queue"] == ("sentinel-cloudtrail-queue" if acct.name == "aws-payments"
                                      else "azuredefender-cloudtrail-queue")
        for region, db in setup.get("rds", ()):
            assert region in acct.regions and db
        # the roles stay present, whatever the drift in their trust or policies
        roles = world.iam_roles(acct.account_id)
        assert "CspmMonitorAws" in roles
        if acct.org_role == ORG_MANAGEMENT:
            assert {"stackset", "trusted_access", "org_accounts"} <= set(setup)
            assert setup["trusted_access"] is (acct.name != "aws-acquired-management")
        else:
            assert not {"stackset", "trusted_access", "org_accounts"} & set(setup)
    assert world.aws_setup("000000000000") is None


def test_aws_setup_plants(world):
    by_name = {a.name: a for a in world.aws_accounts}
    assert world.aws_setup(by_name["aws-partner-hub"].account_id)["trust_mismatch"] == ["CspmMonitorAws"]
    lp = world.aws_setup(by_name["aws-ml"].account_id)["least_privilege"]
    assert lp["role"] == "CspmMonitorAws" and "ec2:Describe*" in lp["actions"]
    assert not [a for a in lp["actions"] if a.lower().startswith("eks:")]
    assert not any(fnmatch.fnmatchcase("eks:listclusters", a.lower()) for a in lp["actions"])
    conn = world.security_connectors[native_key(world, "aws-ml")]
    assert "DefenderForContainersAws" in {o["offeringType"] for o in conn["properties"]["offerings"]}
    # the StackSet: one instance per member with a connector per org region, all CURRENT but one
    mgmt = by_name["aws-org-management"]
    setup = world.aws_setup(mgmt.account_id)
    members = [a for a in world.aws_accounts if a.parent_account_id == mgmt.account_id]
    regions = world.security_connectors[native_key(world, "aws-org-management")]["properties"][
        "environmentData"]["regions"]
    insts = setup["stackset"]["instances"]
    assert len(insts) == len(members) * len(regions) and len(regions) > 1
    assert {(i["Account"], i["Region"]) for i in insts} == {(m.account_id, r) for m in members for r in regions}
    bad = [i for i in insts if i["Status"] != "CURRENT"]
    assert len(bad) == 1 and bad[0]["DetailedStatus"] == "FAILED" and bad[0]["StatusReason"]
    assert setup["stackset"]["StackSetName"] == world.cfn_stack(mgmt.account_id)["StackSetName"]
    # Organizations: every account, the management one included, JoinedTimestamp long before now (not pending)
    accounts = setup["org_accounts"]
    assert {o["Id"] for o in accounts} >= {mgmt.account_id} | {m.account_id for m in members}
    assert len(accounts) == 1 + len(members) + 4
    assert collections.Counter(o["Status"] for o in accounts) == {"ACTIVE": len(accounts) - 1, "SUSPENDED": 1}
    assert all(world.now() - o["JoinedTimestamp"] > 30 * 86_400 for o in accounts)
    tiny = world.aws_setup(by_name["aws-acquired-management"].account_id)
    assert tiny["stackset"]["instances"] == [] and [o["Id"] for o in tiny["org_accounts"]] == \
        [by_name["aws-acquired-management"].account_id]


def test_pending_connector_age(world):
    body = world.security_connectors[native_key(world, "aws-analytics")]
    from datetime import datetime

    created = datetime.fromisoformat(body["systemData"]["createdAt"].replace("Z", "+00:00")).timestamp()
    assert world.now() - created == PENDING_TICKS * 60 == 11.5 * 3600
    assert body["properties"]["environmentData"]["scanInterval"] <= 12


def test_no_data_connector_emits_nothing(world):
    key = native_key(world, "aws-archive")
    aid = world.security_connectors[key]["properties"]["hierarchyIdentifier"]
    tables = world.arg_tables()
    rows = [r for r in tables["securityresources"] if r["id"].lower().startswith(key + "/")]
    assert rows == []
    assert aid not in world.recommendations_by_account() and world.standards_by_account()[aid] == []
    assert not [r for r in tables["resources"] if (r["tags"] or {}).get("AccountId") == aid]
    dev = world.security_connectors[native_key(world, "aws-dev")]["properties"]["hierarchyIdentifier"]
    assert world.standards_by_account()[dev] == [] and world.recommendations_by_account()[dev]["total"] > 0


@pytest.mark.slow
def test_large_estate_plants_once():
    w = World(seed=42, scale="large")
    truth = w.health_truth()
    counts = collections.Counter(code for codes in truth.values() for code in codes)
    for code in ("pending-first-scan", "no-data", "stack-not-complete", "oidc-provider-missing",
                 "sentinel-oidc-conflict", "trust-policy-mismatch", "least-privilege-gap", "org-trusted-access-off",
                 "org-members-missing", "stackset-instances-failed", "resource-lock", "sentinel-sqs-conflict",
                 "role-missing", "region-not-enabled"):
        assert counts[code] == 1, code
    assert set(counts) == {c.code for c in CODES}
    assert len(w.locks) == 1


# ----------------------------------------------------------------------------------------------- locks over ARM

async def raw(emu, method: str, path: str, json_body=None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=emu.ca_pem_path)
    async with aiohttp.ClientSession() as s:
        async with s.request(method, emu.url + path, json=json_body, headers={"Authorization": f"Bearer {TOKEN}"},
                             ssl=ctx) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)


async def test_locks_rest_route():
    w = World(seed=42, clock=ManualClock())
    emu = ArmEmulator(w, accepted_tokens={TOKEN}, page_size=100)
    await emu.start()
    try:
        key = native_key(w, "aws-prod")
        cid = w.security_connectors[key]["id"]
        sub = cid.split("/")[2]
        api = "?api-version=2016-09-01"
        status, body = await raw(emu, "GET", f"/subscriptions/{sub}/providers/Microsoft.Authorization/locks{api}")
        assert status == 200 and isinstance(body, dict)
        locks = body["value"]
        assert len(locks) == 1 and "nextLink" not in body
        lock = locks[0]
        assert lock["id"] == f"{cid}/providers/Microsoft.Authorization/locks/do-not-delete"
        assert lock["name"] == "do-not-delete" and lock["type"] == "Microsoft.Authorization/locks"
        assert lock["properties"]["level"] == "CanNotDelete" and lock["properties"]["notes"]
        rg_path = "/".join(cid.split("/")[:5])
        status, body = await raw(emu, "GET", f"{rg_path}/providers/Microsoft.Authorization/locks{api}")
        assert status == 200 and [x["id"] for x in body["value"]] == [lock["id"]]
        status, body = await raw(emu, "GET", f"{cid}/providers/Microsoft.Authorization/locks/do-not-delete{api}")
        assert status == 200 and body == lock
        other = next(s.subscription_id for s in w.subscriptions if s.subscription_id != sub)
        status, body = await raw(emu, "GET", f"/subscriptions/{other}/providers/Microsoft.Authorization/locks{api}")
        assert status == 200 and body["value"] == []
        status, body = await raw(emu, "GET", f"/subscriptions/{sub}/providers/Microsoft.Authorization/locks"
                                             "?api-version=2099-01-01")
        assert status == 400 and body["error"]["code"] == "InvalidApiVersionParameter"
        # the lock blocks deleting the connector
        conn_api = "?api-version=2023-10-01-preview"
        status, body = await raw(emu, "DELETE", cid + conn_api)
        assert status == 409 and body["error"]["code"] == "ScopeLocked" and cid in body["error"]["message"]
        assert key in w.security_connectors
        # remove it: the connector is healthy; a lock on its resource group covers it again
        status, _ = await raw(emu, "DELETE", f"{cid}/providers/Microsoft.Authorization/locks/do-not-delete{api}")
        assert status == 200 and w.locks == {} and w.health_truth()[key] == set()
        status, body = await raw(emu, "PUT", f"{rg_path}/providers/Microsoft.Authorization/locks/rg-lock{api}",
                                 {"properties": {"level": "ReadOnly", "notes": "freeze"}})
        assert status == 201 and body["properties"] == {"level": "ReadOnly", "notes": "freeze"}
        assert w.health_truth()[key] == {"resource-lock"}
        status, _ = await raw(emu, "DELETE", cid + conn_api)
        assert status == 409
        status, body = await raw(emu, "PUT", f"{rg_path}/providers/Microsoft.Authorization/locks/bad{api}",
                                 {"properties": {"level": "Sometimes"}})
        assert status == 400
    finally:
        await emu.stop()
