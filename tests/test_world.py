"""The synthetic estate (tui/emulator/world.py): determinism, shapes, consistency, movement over ticks."""
from __future__ import annotations

import collections
import hashlib
import json
import re
import time

import pytest

from tui.emulator.clock import ManualClock, WallClock
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER
from tui.emulator.world import ONBOARDING_LAG_TICKS, World

ARG_COLUMNS = {"id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
               "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"}
T_ASSESS = "microsoft.security/assessments"
T_ARC = "microsoft.hybridcompute/machines"
T_CONN = "microsoft.security/securityconnectors"
T_STD = "microsoft.security/regulatorycompliancestandards"
T_CTL = T_STD + "/regulatorycompliancecontrols"
T_RCA = T_CTL + "/regulatorycomplianceassessments"
AWS_STANDARDS = {"AWS-CIS-1.2.0", "AWS-PCI-DSS-3.2.1", "AWS-Foundational-Security-Best-Practices"}


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def stores(w: World) -> dict:
    return {"tenant": w.tenant_id, "subs": [vars(s) for s in w.subscriptions],
            "accounts": [{**vars(a), "instances": [vars(i) for i in a.instances]} for a in w.aws_accounts],
            "sc": w.security_connectors, "cc": w.classic_connectors, "pricings": w.pricings,
            "providers": w.providers, "permissions": w.permissions, "denied": sorted(w.denied_accounts)}


def by_type(rows, rtype):
    return [r for r in rows if r["type"] == rtype]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=42)


@pytest.fixture(scope="module")
def tables(world):
    return world.arg_tables()


# ---------------------------------------------------------------------------------------------- determinism

def test_same_seed_same_estate():
    a, b = World(seed=7), World(seed=7)
    assert digest(stores(a)) == digest(stores(b))
    assert digest(a.arg_tables()) == digest(b.arg_tables())


def test_different_seed_different_estate():
    a, b = World(seed=7), World(seed=8)
    assert a.tenant_id != b.tenant_id
    assert digest(stores(a)) != digest(stores(b))
    assert digest(a.arg_tables()) != digest(b.arg_tables())


def test_estate_is_a_function_of_the_tick():
    advanced = World(seed=3)
    advanced.arg_tables()
    advanced.advance(4)
    advanced.arg_tables()
    advanced.advance(3)
    fresh = World(seed=3, clock=ManualClock(tick=7))
    assert advanced.tick() == fresh.tick() == 7
    assert digest(advanced.arg_tables()) == digest(fresh.arg_tables())
    acct = fresh.aws_accounts[1]
    for inst in acct.instances:
        assert advanced.ssm_status(acct.account_id, inst.instance_id) == fresh.ssm_status(acct.account_id, inst.instance_id)


def test_default_build_is_fast():
    t0 = time.perf_counter()
    w = World(seed=11)
    built = time.perf_counter() - t0
    w.arg_tables()
    assert built < 1.0, built


# ------------------------------------------------------------------------------------------------ AWS estate

def test_accounts_and_organization(world):
    accts = world.aws_accounts
    assert len(accts) >= 8
    ids = [a.account_id for a in accts]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"\d{12}", i) for i in ids)
    mgmt = [a for a in accts if a.org_role == ORG_MANAGEMENT]
    members = [a for a in accts if a.org_role == ORG_MEMBER]
    assert len(mgmt) == 1 and len(members) == 4
    assert all(m.parent_account_id == mgmt[0].account_id for m in members)
    assert sum(1 for a in accts if a.org_role == "single") >= 4
    assert len(world.denied_accounts) == 1 and world.denied_accounts <= set(ids)
    for a in accts:
        assert 1 <= len(a.regions) <= 4 and len(set(a.regions)) == len(a.regions)
    assert world.org_ids[mgmt[0].account_id].startswith("o-")


def test_instances(world):
    insts = [i for a in world.aws_accounts for i in a.instances]
    assert 250 <= len(insts) <= 400
    assert len({i.instance_id for i in insts}) == len(insts)
    assert all(re.fullmatch(r"i-[0-9a-f]{17}", i.instance_id) for i in insts)
    assert all(re.fullmatch(r"ami-[0-9a-f]{17}", i.image_id) for i in insts)
    assert {i.platform for i in insts} == {"linux", "windows"}
    states = collections.Counter(i.state for i in insts)
    assert states["running"] > 0.85 * len(insts) and states["stopped"] > 0
    for a in world.aws_accounts:
        assert all(i.account_id == a.account_id and i.region in a.regions for i in a.instances)


def test_ssm_statuses(world):
    statuses = collections.Counter(world.ssm_status(i.account_id, i.instance_id)
                                   for a in world.aws_accounts for i in a.instances)
    n = sum(statuses.values())
    assert set(statuses) == {"Online", "ConnectionLost", None}
    assert 0.6 < statuses["Online"] / n < 0.8
    assert 0.05 < statuses["ConnectionLost"] / n < 0.18
    assert 0.12 < statuses[None] / n < 0.3
    for a in world.aws_accounts:
        for i in a.instances:
            if i.state == "stopped":
                assert world.ssm_status(a.account_id, i.instance_id) in ("ConnectionLost", None)
    assert world.ssm_status("000000000000", "i-00000000000000000") is None


def test_ssm_instance_information_matches_status(world):
    acct = world.aws_accounts[1]
    info = {e["InstanceId"]: e for e in world.ssm_instance_information(acct.account_id)}
    for i in acct.instances:
        status = world.ssm_status(acct.account_id, i.instance_id)
        assert (info[i.instance_id]["PingStatus"] if i.instance_id in info else None) == status
    assert all(e["PlatformType"] in ("Linux", "Windows") for e in info.values())


def test_aws_side_extras(world):
    acct = world.aws_accounts[1]
    kinds = {e["kind"] for e in world.aws_entities(acct.account_id)}
    assert {"ec2.instance", "s3.bucket", "iam.user", "ec2.security-group", "account"} <= kinds
    roles = world.iam_roles(acct.account_id)
    assert "CspmMonitorAws" in roles and "DefenderForCloud-ArcAutoProvisioning" in roles
    assert world.instance_meta(acct.account_id, acct.instances[0].instance_id)["vpc_id"].startswith("vpc-")
    assert any(a.securityhub_standards for a in world.aws_accounts)


# ---------------------------------------------------------------------------------------------- Azure stores

def aws_connectors(world):
    return [b for b in world.security_connectors.values() if b["properties"]["environmentName"] == "AWS"]


def test_native_connectors(world):
    conns = aws_connectors(world)
    account_ids = {a.account_id for a in world.aws_accounts}
    by_acct = collections.Counter(c["properties"]["hierarchyIdentifier"] for c in conns)
    assert set(by_acct) <= account_ids and all(v == 1 for v in by_acct.values())
    assert len(account_ids - set(by_acct)) == 1  # the classic-only account
    for key, c in world.security_connectors.items():
        assert key == c["id"].lower()
        assert {"id", "name", "type", "etag", "kind", "location", "tags", "systemData", "properties"} <= set(c)
    for c in conns:
        env = c["properties"]["environmentData"]
        assert c["location"] == "Central US" and c["type"] == "Microsoft.Security/securityConnectors"
        assert env["environmentType"] == "AwsAccount" and env["scanInterval"] in (4, 6, 12, 24) and env["regions"]
        acct = c["properties"]["hierarchyIdentifier"]
        for off in c["properties"]["offerings"]:
            for v in json.dumps(off).split('"cloudRoleArn": "')[1:]:
                assert v.startswith(f"arn:aws:iam::{acct}:role/")
    memberships = collections.Counter(c["properties"]["environmentData"].get("organizationalData", {})
                                      .get("organizationMembershipType") for c in conns)
    assert memberships["Organization"] == 1 and memberships["Member"] == 4
    org = next(c for c in conns if c["properties"]["environmentData"].get("organizationalData", {})
               .get("organizationMembershipType") == "Organization")
    assert {"stacksetName", "excludedAccountIds"} <= set(org["properties"]["environmentData"]["organizationalData"])
    member = next(c for c in conns if c["properties"]["environmentData"].get("organizationalData", {})
                  .get("organizationMembershipType") == "Member")
    assert member["properties"]["environmentData"]["organizationalData"]["parentHierarchyId"] == \
        org["properties"]["hierarchyIdentifier"]


def test_offering_variety(world):
    offerings = [o for c in aws_connectors(world) for o in c["properties"]["offerings"]]
    types = {o["offeringType"] for o in offerings}
    assert {"CspmMonitorAws", "DefenderCspmAws", "DefenderForServersAws", "DefenderForContainersAws",
            "DefenderForDatabasesAws"} <= types
    assert types - {"CspmMonitorAws", "DefenderCspmAws", "DefenderForServersAws", "DefenderForContainersAws",
                    "DefenderForDatabasesAws", "InformationProtectionAws"}, "an unknown offering type to skip"
    servers = [o for o in offerings if o["offeringType"] == "DefenderForServersAws"]
    assert all(isinstance(o["subPlan"], dict) for o in servers)
    assert {o["subPlan"]["type"] for o in servers} == {"P1", "P2"}
    assert {o["arcAutoProvisioning"]["enabled"] for o in servers} == {True, False}
    assert all(o["vaAutoProvisioning"]["configuration"]["type"] == "TVM" for o in servers)
    assert all(o["nativeCloudConnection"]["cloudRoleArn"].endswith(":role/CspmMonitorAws")
               for o in offerings if o["offeringType"] == "CspmMonitorAws")
    envs = {c["properties"]["environmentName"] for c in world.security_connectors.values()}
    assert {"AWS", "GCP", "Github"} <= envs


def test_classic_connectors(world):
    native = {c["properties"]["hierarchyIdentifier"] for c in aws_connectors(world)}
    classic = list(world.classic_connectors.values())
    accts = [c["properties"]["authenticationDetails"]["accountId"] for c in classic]
    assert any(a in native for a in accts), "an account connected twice (classic + native)"
    assert any(a not in native for a in accts), "a classic-only account"
    types = set()
    for c in classic:
        props = c["properties"]
        assert c["type"] == "Microsoft.Security/connectors" and "/resourceGroups/" not in c["id"]
        hc, auth = props["hybridComputeSettings"], props["authenticationDetails"]
        assert hc["hybridComputeProvisioningState"] in ("Valid", "Invalid", "Expired") and hc["autoProvision"] in ("On", "Off")
        assert auth["authenticationProvisioningState"] in ("Valid", "Invalid", "Expired", "IncorrectPolicy")
        assert "provisioningState" not in hc and "provisioningState" not in auth
        assert auth["grantedPermissions"]
        types.add(auth["authenticationType"])
        if auth["authenticationType"] == "awsAssumeRole":
            assert auth["awsAssumeRoleArn"] == f"arn:aws:iam::{auth['accountId']}:role/AscConnector"
            assert auth["awsExternalId"] == c["id"].split("/")[2]
        else:
            assert auth["awsAccessKeyId"] == "null"
    assert types == {"awsAssumeRole", "awsCreds"}


def test_pricings_providers_permissions(world):
    subs = [s.subscription_id for s in world.subscriptions]
    assert len(subs) == 3 and set(world.pricings) == set(subs)
    vm_tiers = {s: world.pricings[s]["VirtualMachines"]["properties"]["pricingTier"] for s in subs}
    assert list(vm_tiers.values()).count("Free") == 1
    for s in subs:
        names = set(world.pricings[s])
        assert {"VirtualMachines", "CloudPosture", "Containers", "StorageAccounts", "Arm"} <= names
        vm = world.pricings[s]["VirtualMachines"]
        assert vm["id"] == f"/subscriptions/{s}/providers/Microsoft.Security/pricings/VirtualMachines"
        if vm["properties"]["pricingTier"] == "Standard":
            assert vm["properties"]["subPlan"] in ("P1", "P2")
    assert [world.providers[s]["Microsoft.GuestConfiguration"] for s in subs].count("NotRegistered") == 1
    assert all(world.providers[s]["Microsoft.Security"] == "Registered" for s in subs)
    assert [world.permissions[s][0]["actions"] for s in subs].count(["*/read"]) == 1


# ------------------------------------------------------------------------------------------------ ARG tables

def test_arg_columns_and_lowercase_types(tables):
    assert set(tables) == {"resources", "securityresources", "resourcecontainers"}
    for rows in tables.values():
        assert rows
        for r in rows:
            assert set(r) == ARG_COLUMNS
            assert r["type"] == r["type"].lower()
    types = {r["type"] for r in tables["resourcecontainers"]}
    assert types == {"microsoft.resources/subscriptions", "microsoft.resources/subscriptions/resourcegroups"}


def test_connectors_in_resources(world, tables):
    rows = by_type(tables["resources"], T_CONN)
    assert {r["id"].lower() for r in rows} == set(world.security_connectors)
    assert all(r["location"] == r["location"].lower().replace(" ", "") for r in rows)


def test_assessments(world, tables):
    rows = by_type(tables["securityresources"], T_ASSESS)
    assert 2_000 <= len(rows) <= 10_000
    native = [r for r in rows if "ConnectorId" in r["properties"]["resourceDetails"]]
    legacy = [r for r in rows if "AzureResourceId" in r["properties"]["resourceDetails"]]
    assert native and legacy
    pattern = re.compile(r"/subscriptions/[0-9a-f-]{36}/resourcegroups/[^/]+/providers/microsoft\.security/"
                         r"securityconnectors/[^/]+/securityentitydata/aws-[A-Za-z0-9._-]+"
                         r"/providers/Microsoft\.Security/assessments/[0-9a-f-]{36}")
    for r in native:
        p = r["properties"]
        rd = p["resourceDetails"]
        assert pattern.fullmatch(r["id"]), r["id"]
        assert rd["Source"] == "Aws" and "source" not in rd
        assert r["id"].startswith(rd["Id"] + "/providers/Microsoft.Security/assessments/")
        assert r["name"] == r["id"].rsplit("/", 1)[1]
        assert p["status"]["code"] in ("Healthy", "Unhealthy", "NotApplicable")
        assert p["metadata"]["severity"] in ("High", "Medium", "Low")
        assert p["metadata"]["assessmentType"] == "BuiltIn" and p["displayName"] == p["metadata"]["displayName"]
        assert set(p["additionalData"]) >= {"ResourceName", "ResourceProvider", "ResourceType", "Region", "AccountId"}
        assert p["links"]["azurePortal"]
    codes = collections.Counter(r["properties"]["status"]["code"] for r in native)
    assert set(codes) == {"Healthy", "Unhealthy", "NotApplicable"}
    # same recommendation -> same key everywhere
    keys = collections.defaultdict(set)
    for r in native:
        keys[r["properties"]["displayName"]].add(r["name"])
    assert all(len(v) == 1 for v in keys.values())
    # EC2 assessments are named by instance id (the Arc machine's name)
    ec2 = [r for r in native if r["properties"]["additionalData"]["ResourceType"] == "instance"]
    assert ec2 and all(r["properties"]["additionalData"]["ResourceName"].startswith("i-") for r in ec2)
    # only CSPM-enabled native connectors produce them; the classic-only account only has legacy rows
    native_accts = {r["properties"]["additionalData"]["AccountId"] for r in native}
    legacy_accts = {r["properties"]["additionalData"]["AccountId"] for r in legacy}
    assert legacy_accts - native_accts and legacy_accts & native_accts


def test_duplicate_recommendations_for_double_connected_account(world, tables):
    native_accts = {c["properties"]["hierarchyIdentifier"] for c in aws_connectors(world)}
    dup = next(c["properties"]["authenticationDetails"]["accountId"] for c in world.classic_connectors.values()
               if c["properties"]["authenticationDetails"]["accountId"] in native_accts)
    rows = [r for r in by_type(tables["securityresources"], T_ASSESS)
            if r["properties"]["additionalData"]["AccountId"] == dup]
    pairs = collections.Counter((r["name"], r["properties"]["additionalData"]["ResourceName"]) for r in rows)
    assert any(n == 2 for n in pairs.values())


def test_arc_machines(world, tables):
    rows = by_type(tables["resources"], T_ARC)
    assert rows
    conns = {c["properties"]["hierarchyIdentifier"]: c for c in aws_connectors(world)}
    statuses = collections.Counter(r["properties"]["status"] for r in rows)
    assert {"Connected", "Disconnected", "Expired"} <= set(statuses)
    for r in rows:
        tags = r["tags"]
        assert set(tags) == {"AccountId", "Cloud", "InstanceId", "MDFCSecurityConnector"}
        assert tags["Cloud"] == "AWS" and tags["MDFCSecurityConnector"] == "true" and tags["InstanceId"] == r["name"]
        assert r["kind"] == "AWS" and r["properties"]["cloudMetadata"]["provider"] == "AWS"
        assert r["identity"]["type"] == "SystemAssigned"
        assert r["properties"]["osType"] in ("linux", "windows") and r["properties"]["lastStatusChange"]
        conn = conns[tags["AccountId"]]
        servers = next(o for o in conn["properties"]["offerings"] if o["offeringType"] == "DefenderForServersAws")
        assert servers["arcAutoProvisioning"]["enabled"]
        assert r["id"].lower().startswith(conn["id"].lower().split("/providers/")[0] + "/providers/")
        ssm = world.ssm_status(tags["AccountId"], r["name"])
        if r["properties"]["status"] == "Connected":
            assert ssm == "Online"
        assert ssm is not None
    # some Online instances of Arc-enabled accounts are not discovered yet
    arc_names = {r["name"] for r in rows}
    eligible = [i for a in world.aws_accounts if a.account_id in conns for i in a.instances
                if any(o["offeringType"] == "DefenderForServersAws" and o["arcAutoProvisioning"]["enabled"]
                       for o in conns[a.account_id]["properties"]["offerings"])
                and i.region in conns[a.account_id]["properties"]["environmentData"]["regions"]
                and world.ssm_status(a.account_id, i.instance_id) == "Online"]
    assert any(i.instance_id not in arc_names for i in eligible)


def test_compliance_consistent(world, tables):
    sec = tables["securityresources"]
    stds = by_type(sec, T_STD)
    ctls = by_type(sec, T_CTL)
    rcas = by_type(sec, T_RCA)
    subs_with_cspm = {c["id"].split("/")[2] for c in aws_connectors(world)}
    assert {r["subscriptionId"] for r in stds} == subs_with_cspm
    for sub in subs_with_cspm:
        names = {r["name"] for r in stds if r["subscriptionId"] == sub}
        assert names == AWS_STANDARDS
    assessment_keys = {r["name"] for r in by_type(sec, T_ASSESS)}
    for std in stds:
        p = std["properties"]
        prefix = std["id"] + "/regulatoryComplianceControls/"
        mine = [c for c in ctls if c["id"].startswith(prefix)]
        states = collections.Counter(c["properties"]["state"] for c in mine)
        assert (p["passedControls"], p["failedControls"], p["skippedControls"]) == \
               (states["Passed"], states["Failed"], states["Skipped"])
        assert p["state"] == ("Failed" if p["failedControls"] else "Passed" if p["passedControls"] else "Skipped")
        assert p["failedControls"] > 0 and p["passedControls"] > 0
        expected = {"AWS-Foundational-Security-Best-Practices": 197, "AWS-CIS-1.2.0": 43, "AWS-PCI-DSS-3.2.1": 45}
        assert len(mine) == expected[std["name"]]
        for c in mine:
            under = [a for a in rcas if a["id"].startswith(c["id"] + "/regulatoryComplianceAssessments/")]
            a_states = collections.Counter(a["properties"]["state"] for a in under)
            cp = c["properties"]
            assert (cp["passedAssessments"], cp["failedAssessments"], cp["skippedAssessments"]) == \
                   (a_states["Passed"], a_states["Failed"], a_states["Skipped"])
            assert cp["description"]
            for a in under:
                ap = a["properties"]
                assert ap["state"] == ("Failed" if ap["failedResources"] else "Passed" if ap["passedResources"]
                                       else "Skipped")
                if ap["state"] != "Skipped":
                    assert a["name"] in assessment_keys


def test_compliance_counts_match_assessments(world, tables):
    sec = tables["securityresources"]
    sub = world.subscriptions[0].subscription_id
    native = [r for r in by_type(sec, T_ASSESS) if r["subscriptionId"] == sub
              and "ConnectorId" in r["properties"]["resourceDetails"]]
    counts = collections.Counter((r["name"], r["properties"]["status"]["code"]) for r in native)
    for a in by_type(sec, T_RCA):
        if a["subscriptionId"] != sub:
            continue
        p = a["properties"]
        assert p["failedResources"] == counts[(a["name"], "Unhealthy")]
        assert p["passedResources"] == counts[(a["name"], "Healthy")]
        assert p["skippedResources"] == counts[(a["name"], "NotApplicable")]


def test_resourcecontainers(world, tables):
    subs = by_type(tables["resourcecontainers"], "microsoft.resources/subscriptions")
    assert {(r["subscriptionId"], r["name"]) for r in subs} == \
           {(s.subscription_id, s.display_name) for s in world.subscriptions}
    assert all(r["properties"]["state"] == "Enabled" for r in subs)
    rgs = {(r["subscriptionId"], r["name"].lower()) for r in
           by_type(tables["resourcecontainers"], "microsoft.resources/subscriptions/resourcegroups")}
    for r in by_type(tables["resources"], T_CONN) + by_type(tables["resources"], T_ARC):
        assert (r["subscriptionId"], r["resourceGroup"]) in rgs


def test_pricings_in_securityresources(world, tables):
    rows = by_type(tables["securityresources"], "microsoft.security/pricings")
    assert len(rows) == sum(len(v) for v in world.pricings.values())


# ------------------------------------------------------------------------------------------- time and writes

def test_ticking_moves_arc_and_assessments():
    w = World(seed=42)
    before = w.arg_tables()
    v0 = w.arg_version()
    arc0 = {r["name"]: r["properties"]["status"] for r in by_type(before["resources"], T_ARC)}
    st0 = {r["id"]: r["properties"]["status"]["code"] for r in by_type(before["securityresources"], T_ASSESS)}
    w.advance(10)
    assert w.arg_version() != v0
    after = w.arg_tables()
    arc1 = {r["name"]: r["properties"]["status"] for r in by_type(after["resources"], T_ARC)}
    st1 = {r["id"]: r["properties"]["status"]["code"] for r in by_type(after["securityresources"], T_ASSESS)}
    assert set(arc1) > set(arc0), "new instances discovered"
    assert any(arc0[k] != arc1[k] for k in arc0)
    flips = collections.Counter((st0[k], st1[k]) for k in st0 if st0[k] != st1[k])
    assert flips[("Unhealthy", "Healthy")] > 0 and flips[("Healthy", "Unhealthy")] > 0
    assert sum(flips.values()) < 0.1 * len(st0)
    # compliance stays consistent after the move (spot check via the standards' totals)
    for std in by_type(after["securityresources"], T_STD):
        p = std["properties"]
        assert p["passedControls"] + p["failedControls"] + p["skippedControls"] in (197, 43, 45)
    # the previous snapshot was not modified
    assert {r["name"]: r["properties"]["status"] for r in by_type(before["resources"], T_ARC)} == arc0


def test_onboarding_progresses_over_ticks():
    w = World(seed=42)
    insts = [(a.account_id, i.instance_id) for a in w.aws_accounts for i in a.instances]
    none0 = sum(1 for k in insts if w.ssm_status(*k) is None)
    w.advance(60)
    none1 = sum(1 for k in insts if w.ssm_status(*k) is None)
    assert none1 < none0


def test_arg_tables_cached_per_version(world):
    assert world.arg_tables() is world.arg_tables()


def test_store_mutation_bumps_version_and_tables():
    w = World(seed=42)
    t0 = w.arg_tables()
    v0 = w.arg_version()
    classic_key = next(iter(w.classic_connectors))
    with w.mutating():
        del w.classic_connectors[classic_key]
    assert w.arg_version() != v0
    t1 = w.arg_tables()
    legacy = lambda t: [r for r in by_type(t["securityresources"], T_ASSESS)  # noqa: E731
                        if "AzureResourceId" in r["properties"]["resourceDetails"]]
    assert len(legacy(t1)) < len(legacy(t0))

    # deleting a native connector removes it, its assessments and its Arc machines
    conn = next(c for c in aws_connectors(w) if "organizationalData" not in c["properties"]["environmentData"]
                and any(o["offeringType"] == "DefenderForServersAws" and o["arcAutoProvisioning"]["enabled"]
                        for o in c["properties"]["offerings"]))
    acct = conn["properties"]["hierarchyIdentifier"]
    with w.lock:
        body = w.security_connectors.pop(conn["id"].lower())
        w.touch()
    t2 = w.arg_tables()
    assert conn["id"].lower() not in {r["id"].lower() for r in by_type(t2["resources"], T_CONN)}
    assert not [r for r in by_type(t2["resources"], T_ARC) if r["tags"]["AccountId"] == acct]
    assert not [r for r in by_type(t2["securityresources"], T_ASSESS)
                if r["properties"]["additionalData"]["AccountId"] == acct and "ConnectorId" in r["properties"]["resourceDetails"]]

    # putting it back: connector at once, assessments after the onboarding lag
    with w.mutating():
        w.security_connectors[conn["id"].lower()] = body
    t3 = w.arg_tables()
    assert conn["id"].lower() in {r["id"].lower() for r in by_type(t3["resources"], T_CONN)}
    native = lambda t: [r for r in by_type(t["securityresources"], T_ASSESS)  # noqa: E731
                        if r["properties"]["additionalData"]["AccountId"] == acct
                        and "ConnectorId" in r["properties"]["resourceDetails"]]
    assert not native(t3)
    w.advance(ONBOARDING_LAG_TICKS)
    assert native(w.arg_tables())
    w.advance(10)
    assert [r for r in by_type(w.arg_tables()["resources"], T_ARC) if r["tags"]["AccountId"] == acct]


def test_patching_a_connector_is_seen():
    w = World(seed=42)
    conn = next(c for c in aws_connectors(w) if len(c["properties"]["environmentData"]["regions"]) > 1)
    with w.mutating():
        conn["properties"]["environmentData"]["regions"] = conn["properties"]["environmentData"]["regions"][:1]
    row = next(r for r in by_type(w.arg_tables()["resources"], T_CONN) if r["id"] == conn["id"])
    assert row["properties"]["environmentData"]["regions"] == conn["properties"]["environmentData"]["regions"]


def test_rest_body(world, tables):
    row = by_type(tables["securityresources"], T_ASSESS)[0]
    body = world.rest_body(row)
    assert body["type"] == "Microsoft.Security/assessments" and body["id"] == row["id"]
    assert body["properties"]["links"]["azurePortalUri"].startswith("https://")
    assert "links" in row["properties"] and "azurePortal" in row["properties"]["links"]
    arc = world.rest_body(by_type(tables["resources"], T_ARC)[0])
    assert arc["type"] == "Microsoft.HybridCompute/machines" and arc["kind"] == "AWS" and arc["resources"] == []


# -------------------------------------------------------------------------------------------------- clocks

def test_manual_clock():
    c = ManualClock(start=1_000.0, tick_seconds=60)
    assert c.tick() == 0 and c.advance() == 1 and c.advance(3) == 4 and c.time_of(2) == 1_120.0
    with pytest.raises(ValueError):
        c.advance(-1)


def test_wall_clock_ticks_with_time():
    now = [10_000.0]
    c = WallClock(tick_seconds=60, start=10_000.0, _time=lambda: now[0])
    assert c.tick() == 0
    now[0] += 59
    assert c.tick() == 0
    now[0] += 1
    assert c.tick() == 1
    w = World(seed=1, clock=c)
    assert w.tick() == 1
    with pytest.raises(TypeError):
        w.advance()


# ------------------------------------------------------------------------------------------------- large

@pytest.mark.slow
def test_large_estate():
    t0 = time.perf_counter()
    w = World(seed=42, scale="large")
    built = time.perf_counter() - t0
    t1 = time.perf_counter()
    tables = w.arg_tables()
    queried = time.perf_counter() - t1
    assert built < 20 and queried < 15, (built, queried)
    assert 180 <= len(w.aws_accounts) <= 220
    assert len(w.subscriptions) == 8
    n_inst = sum(len(a.instances) for a in w.aws_accounts)
    assert 9_000 <= n_inst <= 11_000
    assessments = by_type(tables["securityresources"], T_ASSESS)
    assert 80_000 <= len(assessments) <= 160_000
    assert len(by_type(tables["resources"], T_ARC)) > 3_000
    w.advance()
    t2 = time.perf_counter()
    w.arg_tables()
    assert time.perf_counter() - t2 < 5


# ------------------------------------------------------------------------------ the real SDK reads our bodies

def test_sdk_deserializes_store_bodies(world):
    from azure.mgmt.security.v2020_01_01_preview import models as classic_models
    from azure.mgmt.security.v2023_10_01_preview import models as sc_models
    from azure.mgmt.security.v2024_01_01 import models as pricing_models

    conns = [sc_models.SecurityConnector.deserialize(b) for b in world.security_connectors.values()]
    aws = [c for c in conns if c.environment_name == "AWS"]
    assert all(isinstance(c.environment_data, sc_models.AwsEnvironmentData) for c in aws)
    servers = [o for c in aws for o in c.offerings if isinstance(o, sc_models.DefenderForServersAwsOffering)]
    assert servers and {o.sub_plan.type for o in servers} == {"P1", "P2"}
    assert all(o.arc_auto_provisioning.cloud_role_arn for o in servers)
    assert any(isinstance(c.environment_data.organizational_data, sc_models.AwsOrganizationalDataMaster) for c in aws)
    assert any(isinstance(c.environment_data.organizational_data, sc_models.AwsOrganizationalDataMember) for c in aws)
    assert any(type(o) is sc_models.CloudOffering for c in aws for o in c.offerings), "unknown type -> base class"

    classic = [classic_models.ConnectorSetting.deserialize(b) for b in world.classic_connectors.values()]
    states = {c.authentication_details.authentication_provisioning_state for c in classic}
    assert states == {"Valid", "Expired"}
    assert all(c.hybrid_compute_settings.hybrid_compute_provisioning_state for c in classic)
    assert {type(c.authentication_details) for c in classic} == {classic_models.AwAssumeRoleAuthenticationDetailsProperties,
                                                                  classic_models.AwsCredsAuthenticationDetailsProperties}

    for sub, plans in world.pricings.items():
        lst = pricing_models.PricingList.deserialize({"value": list(plans.values())})
        vm = next(p for p in lst.value if p.name == "VirtualMachines")
        assert vm.pricing_tier in ("Free", "Standard")
