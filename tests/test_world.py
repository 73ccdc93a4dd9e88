"""The synthetic estate (tui/emulator/world.py): determinism, shapes, consistency, movement over ticks."""
from __future__ import annotations

import collections
import copy
import hashlib
import json
import re
import time
from datetime import datetime, timezone

import pytest

from tui.emulator.clock import ManualClock, WallClock
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER
from tui.emulator.world import CLASSIC_RETIRED, ONBOARDING_LAG_TICKS, World

ARG_COLUMNS = {"id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
               "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"}
T_ASSESS = "microsoft.security/assessments"
T_ARC = "microsoft.hybridcompute/machines"
T_CONN = "microsoft.security/securityconnectors"
T_STD = "microsoft.security/regulatorycompliancestandards"
T_CTL = T_STD + "/regulatorycompliancecontrols"
T_RCA = T_CTL + "/regulatorycomplianceassessments"
MCSB, FSBP = "Microsoft-cloud-security-benchmark", "AWS-Foundational-Security-Best-Practices"
AWS_STANDARDS = {MCSB, FSBP, "CIS-AWS-Foundations-v1.2.0", "CIS-AWS-Foundations-v1.4.0", "PCI-DSS-v3.2.1"}
CONTROLS = {MCSB: 85, FSBP: 197, "CIS-AWS-Foundations-v1.2.0": 43, "CIS-AWS-Foundations-v1.4.0": 39,
            "PCI-DSS-v3.2.1": 45, "SOC-TSP": 9}
IN_SCOPE = {"", "subscription", "multicloudaggregation"}  # Microsoft's compliance query (NOTES §11)


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
        assert (advanced.ssm_status(acct.account_id, inst.instance_id)
                == fresh.ssm_status(acct.account_id, inst.instance_id))


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
    # two organizations: the main one (4 members) and one just acquired, without members (issue 13's
    # org-trusted-access-off)
    assert len(mgmt) == 2 and len(members) == 4
    assert all(m.parent_account_id == mgmt[0].account_id for m in members)
    assert sum(1 for a in accts if a.org_role == "single") >= 4
    assert len(world.denied_accounts) == 1 and world.denied_accounts <= set(ids)
    for a in accts:
        drawn = [r for r in a.regions if (a.account_id, r) not in world.opt_in_disabled]
        assert 1 <= len(drawn) <= 4 and len(set(a.regions)) == len(a.regions)
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
    stopped = 0
    for i in acct.instances:
        status = world.ssm_status(acct.account_id, i.instance_id)
        if i.state == "stopped":  # "does not return information for nodes that are either Stopped or Terminated"
            assert i.instance_id not in info
            stopped += status is not None
            continue
        assert (info[i.instance_id]["PingStatus"] if i.instance_id in info else None) == status
    assert stopped, "a stopped instance with an agent exists (and is left out)"
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
    assert memberships["Organization"] == 2 and memberships["Member"] == 4
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
        assert hc["hybridComputeProvisioningState"] in ("Valid", "Invalid", "Expired")
        assert hc["autoProvision"] in ("On", "Off")
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
    assert len(subs) == 4 and set(world.pricings) == set(subs)
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


def rd_get(row: dict, key: str):
    """resourceDetails[key], PascalCase first, camelCase tolerated (as Microsoft's queries read them)."""
    d = row["properties"]["resourceDetails"]
    return d.get(key, d.get(key[0].lower() + key[1:]))


def aws_rows(tables) -> list[dict]:
    return [r for r in by_type(tables["securityresources"], T_ASSESS) if str(rd_get(r, "Source")).lower() == "aws"]


def legacy_rows(tables) -> list[dict]:
    """Rows a classic connector left (AzureResourceId, no ConnectorId, with additionalData)."""
    return [r for r in aws_rows(tables) if rd_get(r, "ConnectorId") is None and "additionalData" in r["properties"]]


def arc_findings(tables) -> list[dict]:
    """AWS findings reported on Arc machines: no ConnectorId, no additionalData."""
    return [r for r in aws_rows(tables) if rd_get(r, "ConnectorId") is None and "additionalData" not in r["properties"]]


def test_assessments(world, tables):
    rows = by_type(tables["securityresources"], T_ASSESS)
    assert 2_000 <= len(rows) <= 10_000
    native = [r for r in rows if "ConnectorId" in r["properties"]["resourceDetails"]]
    legacy = legacy_rows(tables)
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
    # every assessment row is AWS or Azure (the Azure ones say so, and carry no AWS key)
    azure = [r for r in rows if rd_get(r, "Source") == "Azure"]
    assert azure and len(azure) + len(aws_rows(tables)) == len(rows)
    # the one overlap is planted: findings on EC2 instances' Arc machines share the Azure VM recommendations' keys
    shared = {r["name"] for r in azure} & {r["name"] for r in aws_rows(tables)}
    assert shared and all("/microsoft.hybridcompute/machines/" in r["id"].lower()
                          for r in aws_rows(tables) if r["name"] in shared)


def test_duplicate_recommendations_for_double_connected_account(world, tables):
    native_accts = {c["properties"]["hierarchyIdentifier"] for c in aws_connectors(world)}
    dup = next(c["properties"]["authenticationDetails"]["accountId"] for c in world.classic_connectors.values()
               if c["properties"]["authenticationDetails"]["accountId"] in native_accts)
    rows = [r for r in aws_rows(tables) if (r["properties"].get("additionalData") or {}).get("AccountId") == dup]
    pairs = collections.Counter((r["name"], r["properties"]["additionalData"]["ResourceName"]) for r in rows)
    assert any(n == 2 for n in pairs.values())


def test_classic_legacy_rows_stop_at_the_retirement(world, tables):
    """Classic connectors are inert since 2023-09-15 (NOTES §11): their rows are dated on or before that day."""
    legacy = legacy_rows(tables)
    assert legacy
    limit = datetime.fromtimestamp(CLASSIC_RETIRED, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    for r in legacy:
        st = r["properties"]["status"]
        assert st["firstEvaluationDate"][:19] <= st["statusChangeDate"][:19] <= limit, st
        assert "/providers/microsoft.hybridcompute/machines/" in rd_get(r, "AzureResourceId")
    # their stale bodies may still say autoProvision On: the rows, not the body, are what stopped
    assert any(c["properties"]["hybridComputeSettings"]["autoProvision"] == "On"
               for c in world.classic_connectors.values())
    # a classic connector created today leaves no row behind
    w = World(seed=42)
    before = len(legacy_rows(w.arg_tables()))
    body = copy.deepcopy(next(iter(w.classic_connectors.values())))
    body["id"] = body["id"].rsplit("/", 1)[0] + "/aws_created_today"
    with w.mutating():
        w.classic_connectors[body["id"].lower()] = body
    assert len(legacy_rows(w.arg_tables())) == before


def test_arc_machines(world, tables):
    rows = [r for r in by_type(tables["resources"], T_ARC) if r["tags"]]  # MDC-tagged (untagged: see below)
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


def ec2_private_dns_label(world, acct_id: str, instance_id: str) -> str:
    """The first label of the PrivateDnsName AWS (and moto) derive from the private IP: ip-10-1-2-3."""
    return "ip-" + world.instance_meta(acct_id, instance_id)["private_ip"].replace(".", "-")


def test_untagged_arc_machines_named_by_computer_name(world, tables):
    """NOTES §11: Arc machines installed by hand carry no MDC tags; they are named by the computer name (the EC2
    private DNS first label) or the Name tag, and one machine stands for one instance."""
    arc = by_type(tables["resources"], T_ARC)
    planted = world.untagged_arc_machines()
    assert len(planted) >= 3 and {p["matched_by"] for p in planted} == {"private_dns", "name_tag"}
    assert len({p["account_id"] for p in planted}) == 1
    acct = world.accounts_by_id[planted[0]["account_id"]]
    assert acct.account_id not in world.denied_accounts
    untagged = [r for r in arc if not r["tags"]]
    assert {r["name"] for r in untagged} == {p["name"] for p in planted}
    assert any(r["tags"] is None for r in untagged) and any(r["tags"] == {} for r in untagged)
    specs = {i.instance_id: i for i in acct.instances}
    for p in planted:
        row = next(r for r in untagged if r["name"] == p["name"])
        props = row["properties"]
        spec = specs[p["instance_id"]]
        assert props["cloudMetadata"]["provider"] == "AWS" and "MDFCSecurityConnector" not in (row["tags"] or {})
        assert props["osProfile"]["computerName"] == p["name"]
        assert props["machineFqdn"].split(".")[0] == p["name"]
        if p["matched_by"] == "private_dns":
            assert p["name"] == ec2_private_dns_label(world, acct.account_id, spec.instance_id)
            assert props["machineFqdn"].endswith("ec2.internal" if spec.region == "us-east-1"
                                                 else f"{spec.region}.compute.internal")
        else:
            assert p["name"] == spec.name
        # no MDC-tagged machine for the same instance
        assert not [r for r in arc if r["tags"] and r["tags"].get("InstanceId") == spec.instance_id]
        assert world.rest_body(row)["tags"] == {}
    assert {r["properties"]["status"] for r in untagged} & {"Connected"}
    # names are unique in the estate: matching by name cannot pick the wrong instance
    labels = collections.Counter(n for a in world.aws_accounts for i in a.instances
                                 for n in {ec2_private_dns_label(world, a.account_id, i.instance_id).lower(),
                                           i.name.lower()})
    assert all(labels[p["name"].lower()] == 1 for p in planted)


def arc_account_of(world, arc_rows) -> dict[str, str]:
    """A reader's view: lower-case Arc machine id -> AWS account, by the AccountId tag, else by name against EC2."""
    by_name = {}
    for a in world.aws_accounts:
        for i in a.instances:
            by_name[ec2_private_dns_label(world, a.account_id, i.instance_id).lower()] = a.account_id
            by_name[i.name.lower()] = a.account_id
    out = {}
    for r in arc_rows:
        tags = r["tags"] or {}
        if tags.get("AccountId"):
            out[r["id"].lower()] = tags["AccountId"]
        else:
            props = r["properties"]
            names = {r["name"], props["osProfile"]["computerName"], props["machineFqdn"].split(".")[0]}
            found = {by_name[n.lower()] for n in names if n.lower() in by_name}
            if len(found) == 1:
                out[r["id"].lower()] = found.pop()
    return out


def test_arc_truth_matches_rows(world, tables):
    arc = by_type(tables["resources"], T_ARC)
    account_of = arc_account_of(world, arc)
    assert len(account_of) == len(arc), "every Arc machine maps to an account (untagged ones by name)"
    connected = collections.Counter(account_of[r["id"].lower()] for r in arc
                                    if r["properties"]["status"] == "Connected")
    assert {k: v for k, v in world.arc_connected_by_account().items() if v} == dict(connected)
    statuses = collections.defaultdict(collections.Counter)
    for r in arc:
        statuses[account_of[r["id"].lower()]][r["properties"]["status"]] += 1
    assert world.arc_status_by_account() == {k: dict(v) for k, v in statuses.items()}


def test_aws_findings_without_connector_id(world, tables):
    """NOTES §11: AWS assessment rows on Arc machines carry no ConnectorId; a reader attributes them through
    AzureResourceId -> Arc machine -> AccountId tag (or the untagged machine's instance); a few cannot be."""
    rows = arc_findings(tables)
    assert rows
    arc = by_type(tables["resources"], T_ARC)
    account_of = arc_account_of(world, arc)
    camel = [r for r in rows if "source" in r["properties"]["resourceDetails"]]
    assert camel and len(camel) < len(rows)
    for r in rows:
        rd = r["properties"]["resourceDetails"]
        assert rd_get(r, "ConnectorId") is None and "/securityentitydata/" not in r["id"].lower()
        assert rd_get(r, "ResourceType") == "Microsoft.HybridCompute/machines"
        assert r["id"].startswith(rd_get(r, "AzureResourceId") + "/providers/Microsoft.Security/assessments/")
        assert set(rd) in ({"Source", "AzureResourceId", "ResourceType"}, {"source", "azureResourceId", "resourceType"})
    untagged_ids = {r["id"].lower() for r in arc if not r["tags"]}
    assert any(rd_get(r, "AzureResourceId").lower() in untagged_ids for r in rows)
    gone = [r for r in rows if rd_get(r, "AzureResourceId").lower() not in account_of]
    assert 1 <= len(gone) <= 5

    # the truth the snapshot is checked against = this reading of the rows
    total = collections.Counter()
    unhealthy = collections.Counter()
    connectors = {c["id"].lower(): c["properties"]["hierarchyIdentifier"] for c in aws_connectors(world)}
    unattributed = [0, 0]
    legacy, legacy_bad = collections.Counter(), collections.Counter()
    # a retired classic connector's legacy rows: their machines are gone, the group it onboarded into names it
    classic_group = {
        "/subscriptions/{}/resourcegroups/{}".format(
            c["id"].lower().split("/")[2],
            c["properties"]["hybridComputeSettings"].get("resourceGroupName", "AwsConnectorRG").lower()):
        c["properties"]["authenticationDetails"]["accountId"] for c in world.classic_connectors.values()}
    for r in aws_rows(tables):
        lid = r["id"].lower()
        acct = None
        if "/securityentitydata/" in lid:
            acct = connectors[lid.split("/securityentitydata/")[0]]
        else:
            rid = str(rd_get(r, "AzureResourceId")).lower()
            acct = account_of.get(rid)
            old = classic_group.get(rid.split("/providers/")[0]) if acct is None else None
            if old is not None:  # stale legacy rows: apart from the live counts
                legacy[old] += 1
                legacy_bad[old] += r["properties"]["status"]["code"] == "Unhealthy"
                continue
        bad = r["properties"]["status"]["code"] == "Unhealthy"
        if acct is None:
            unattributed[0] += 1
            unattributed[1] += bad
        else:
            total[acct] += 1
            unhealthy[acct] += bad
    assert world.unattributed_truth() == {"total": unattributed[0], "unhealthy": unattributed[1]}
    assert world.recommendations_by_account() == {a: {"total": total[a], "unhealthy": unhealthy[a]} for a in total}
    assert world.unhealthy_by_account() == {a: unhealthy[a] for a in total}
    assert unattributed[0] == len(gone)  # only findings on machines that are gone stay unattributed
    # the classic connectors' legacy rows are attributed through their group, and kept apart
    assert legacy and world.classic_legacy_by_account() == {
        a: {"total": legacy[a], "unhealthy": legacy_bad[a]} for a in legacy}


STD_SEP = "/providers/microsoft.security/regulatorycompliancestandards/"


def scope_of(row: dict) -> str:
    return str(row["properties"].get("scope") or "").lower()


def std_of(row: dict) -> str:
    return row["id"].lower().split(STD_SEP, 1)[1].split("/", 1)[0]


def children_by_parent(rows: list[dict], marker: str) -> dict[str, list[dict]]:
    out = collections.defaultdict(list)
    for r in rows:
        out[r["id"].rsplit(marker, 1)[0]].append(r)
    return out


def onboarded_connectors(world, tables) -> dict[str, str]:
    """lower-case id -> account of the AWS connectors that have assessment rows now."""
    seen = {r["id"].lower().split("/securityentitydata/")[0] for r in aws_rows(tables)
            if "/securityentitydata/" in r["id"].lower()}
    return {c["id"].lower(): c["properties"]["hierarchyIdentifier"] for c in aws_connectors(world)
            if c["id"].lower() in seen}


def test_compliance_consistent(world, tables):
    sec = tables["securityresources"]
    stds, ctls, rcas = by_type(sec, T_STD), by_type(sec, T_CTL), by_type(sec, T_RCA)
    ctl_of = children_by_parent(ctls, "/regulatoryComplianceControls/")
    rca_of = children_by_parent(rcas, "/regulatoryComplianceAssessments/")
    subs_with_aws = {c["id"].split("/")[2] for c in aws_connectors(world)}
    sub_level = [r for r in stds if r["id"].startswith(f"/subscriptions/{r['subscriptionId']}/providers/")]
    for sub in subs_with_aws:
        names = {r["name"] for r in sub_level if r["subscriptionId"] == sub}
        assert {MCSB, FSBP} <= names <= AWS_STANDARDS | {"SOC-TSP"}
    assert {r["name"] for r in stds} == AWS_STANDARDS | {"SOC-TSP"}
    assert [n for n in AWS_STANDARDS if "aws" not in n.lower()], "renamed standards: not every one says AWS"
    for std in stds:
        p = std["properties"]
        mine = ctl_of[std["id"]]
        states = collections.Counter(c["properties"]["state"] for c in mine)
        assert (p["passedControls"], p["failedControls"], p["skippedControls"], p["unsupportedControls"]) == \
               (states["Passed"], states["Failed"], states["Skipped"], states["Unsupported"])
        assert p["state"] == ("Failed" if p["failedControls"] else "Passed" if p["passedControls"] else
                              "Skipped" if p["skippedControls"] else "Unsupported")
        assert len(mine) == CONTROLS[std["name"]]
        for c in mine:
            under = rca_of[c["id"]]
            a_states = collections.Counter(a["properties"]["state"] for a in under)
            cp = c["properties"]
            assert (cp["passedAssessments"], cp["failedAssessments"], cp["skippedAssessments"]) == \
                   (a_states["Passed"], a_states["Failed"], a_states["Skipped"])
            assert cp["description"] and cp["unsupportedAssessments"] == 0
            if cp["state"] == "Unsupported":
                assert not under
            elif under:
                assert cp["state"] == ("Failed" if a_states["Failed"]
                                       else "Passed" if a_states["Passed"] else "Skipped")
            for a in under:
                ap = a["properties"]
                assert ap["state"] == ("Failed" if ap["failedResources"] else "Passed" if ap["passedResources"]
                                       else "Skipped")


def test_compliance_scopes_and_connector_copies(world, tables):
    """NOTES §11: rows carry properties.scope; subscription-level rows say Subscription or MultiCloudAggregation
    (or nothing); per-connector copies sit under the connector's id with scope SecurityConnector."""
    sec = tables["securityresources"]
    rows = by_type(sec, T_STD) + by_type(sec, T_CTL) + by_type(sec, T_RCA)
    conns = {c["id"].lower(): c for c in aws_connectors(world)}
    onboarded = onboarded_connectors(world, tables)
    seen_scopes = collections.Counter()
    copies = collections.defaultdict(set)
    for r in rows:
        prefix = r["id"].lower().split(STD_SEP, 1)[0]
        if prefix.startswith("/subscriptions/") and prefix.count("/") == 2:
            assert scope_of(r) in IN_SCOPE, r["id"]
            seen_scopes["missing" if "scope" not in r["properties"] else r["properties"]["scope"]] += 1
        else:
            conn = conns[prefix]
            assert r["properties"]["scope"] == "SecurityConnector"
            assert r["subscriptionId"] == conn["id"].split("/")[2]
            assert r["resourceGroup"] == conn["id"].split("/")[4].lower()
            if r["type"] == T_STD:
                copies[conn["properties"]["hierarchyIdentifier"]].add(r["name"])
    assert seen_scopes["missing"] and seen_scopes["Subscription"] and seen_scopes["MultiCloudAggregation"]
    # a copy of every standard assigned on every onboarded connector: MCSB and FSBP always, others on some
    # ... except where the World planted "no standard assigned" (issue 13)
    unassigned = {c["properties"]["hierarchyIdentifier"] for cid, c in world.security_connectors.items()
                  if "no-standard-assigned" in world.health_truth().get(cid, ())}
    assert unassigned
    assert set(copies) == set(onboarded.values()) - unassigned
    assert all({MCSB, FSBP} <= v for v in copies.values())
    optional = AWS_STANDARDS - {MCSB, FSBP}
    for std in optional:
        have = [a for a, v in copies.items() if std in v]
        assert 0 < len(have) < len(copies), std
    # the copies at every level (standards, controls, assessments) in the default estate
    assert {r["type"] for r in rows if scope_of(r) == "securityconnector"} == {T_STD, T_CTL, T_RCA}
    # per account: the standards assigned = those with a copy under its connector; [] for the classic-only account
    expected = {a.account_id: sorted(copies.get(a.account_id, ())) for a in world.aws_accounts}
    assert world.standards_by_account() == expected
    assert [] in expected.values()


def test_unsupported_controls(world, tables):
    ctls = [c for c in by_type(tables["securityresources"], T_CTL) if scope_of(c) in IN_SCOPE]
    states = collections.defaultdict(set)
    for c in ctls:
        if std_of(c) in {s.lower() for s in AWS_STANDARDS}:
            states[(std_of(c), c["name"])].add(c["properties"]["state"])
    assert any(v == {"Unsupported"} for v in states.values()), "some controls are Unsupported everywhere"
    assert any(v == {"Unsupported", "Skipped"} for v in states.values()), "a control Unsupported in some subscriptions"
    assert any(v == {"Skipped"} for v in states.values())
    assert any(s["properties"]["unsupportedControls"] for s in by_type(tables["securityresources"], T_STD))


def compliance_reading(world, tables, *, all_subs: bool = False, all_scopes: bool = False) -> dict:
    """The core's rule (CONTRACT A), applied to the ARG rows: AWS standards and their control counts."""
    sec = tables["securityresources"]
    aws_keys = only_aws_keys(tables)
    conns = [r for r in by_type(tables["resources"], T_CONN)
             if str(r["properties"].get("environmentName", "")).lower() == "aws"]
    conn_ids = {r["id"].lower() for r in conns}
    aws_subs = {r["subscriptionId"].lower() for r in conns}
    ok = (lambda r: True) if all_scopes else (lambda r: scope_of(r) in IN_SCOPE)
    aws_std = {std_of(a) for a in by_type(sec, T_RCA) if ok(a) and a["name"] in aws_keys}
    aws_std |= {std_of(s) for s in by_type(sec, T_STD) if s["id"].lower().split(STD_SEP)[0] in conn_ids}
    groups = collections.defaultdict(list)
    for c in by_type(sec, T_CTL):
        if ok(c) and (all_subs or c["subscriptionId"].lower() in aws_subs) and std_of(c) in aws_std:
            groups[(std_of(c), c["name"].lower())].append(c["properties"]["state"])
    out = {s: {"passed": 0, "failed": 0, "skipped": 0, "unsupported": 0} for s in aws_std}
    for (std, _), st in groups.items():
        k = ("failed" if "Failed" in st else "passed" if "Passed" in st else
             "unsupported" if all(x == "Unsupported" for x in st) else "skipped")
        out[std][k] += 1
    return out


def only_aws_keys(tables) -> set[str]:
    """Keys only AWS rows use: an EC2 instance's Arc machine shares its findings' keys with Azure VMs (planted)."""
    azure = {r["name"] for r in by_type(tables["securityresources"], T_ASSESS) if rd_get(r, "Source") == "Azure"}
    return {r["name"] for r in aws_rows(tables)} - azure


def test_compliance_truth_matches_rows(world, tables):
    truth = {k.lower(): v for k, v in world.compliance_truth().items()}
    assert truth == compliance_reading(world, tables)
    assert set(truth) == {s.lower() for s in AWS_STANDARDS}, "SOC-TSP (Azure-only keys) is never an AWS standard"
    assert truth[MCSB.lower()]["unsupported"] > 0 and truth[MCSB.lower()]["failed"] > 0
    # the traps are live: reading the Azure-only subscription's MCSB rows changes the figures
    assert compliance_reading(world, tables, all_subs=True)[MCSB.lower()] != truth[MCSB.lower()]


def test_azure_only_content(world, tables):
    """MCSB also covers Azure-only subscriptions (with Azure keys), and SOC-TSP is an Azure-only standard."""
    sec = tables["securityresources"]
    aws_keys = only_aws_keys(tables)
    aws_subs = {c["id"].split("/")[2] for c in aws_connectors(world)}
    azure_only = [s.subscription_id for s in world.subscriptions if s.subscription_id not in aws_subs]
    assert len(azure_only) == 1
    mine = [r for r in sec if r["subscriptionId"] == azure_only[0]]
    assert {r["name"] for r in mine if r["type"] == T_STD} == {MCSB, "SOC-TSP"}
    assert [r for r in mine if r["type"] == T_RCA] and not {r["name"] for r in mine if r["type"] == T_RCA} & aws_keys
    soc = [r for r in by_type(sec, T_RCA) if std_of(r) == "soc-tsp"]
    assert {r["subscriptionId"] for r in soc} - set(azure_only), "SOC-TSP also in a subscription with AWS"
    assert soc and not {r["name"] for r in soc} & aws_keys
    # ... but SOC-TSP maps a key AWS rows use too (an Arc machine's finding): the trap for "any AWS key" readers
    assert {r["name"] for r in soc} & {r["name"] for r in aws_rows(tables)}
    azure = [r for r in by_type(sec, T_ASSESS) if rd_get(r, "Source") == "Azure"]
    assert {r["name"] for r in soc} <= {r["name"] for r in azure}


def test_compliance_counts_match_assessments(world, tables):
    sec = tables["securityresources"]
    native = [r for r in aws_rows(tables) if "ConnectorId" in r["properties"]["resourceDetails"]]
    onboarded = onboarded_connectors(world, tables)
    sub = world.subscriptions[0].subscription_id
    # subscription level: MCSB and FSBP aggregate every connector of the subscription
    counts = collections.Counter((r["name"], r["properties"]["status"]["code"]) for r in native
                                 if r["subscriptionId"] == sub)
    checked = 0
    for a in by_type(sec, T_RCA):
        if not a["id"].startswith(f"/subscriptions/{sub}/providers/") or std_of(a) not in (MCSB.lower(), FSBP.lower()):
            continue
        p = a["properties"]
        assert (p["failedResources"], p["passedResources"], p["skippedResources"]) == \
               (counts[(a["name"], "Unhealthy")], counts[(a["name"], "Healthy")], counts[(a["name"], "NotApplicable")])
        checked += 1
    assert checked
    # per-connector copies: that connector's rows only
    for cid in list(onboarded)[:3]:
        mine = collections.Counter((r["name"], r["properties"]["status"]["code"]) for r in native
                                   if r["id"].lower().startswith(cid + "/securityentitydata/"))
        copies = [a for a in by_type(sec, T_RCA) if a["id"].lower().startswith(cid + "/providers/")]
        assert copies
        for a in copies:
            p = a["properties"]
            assert (p["failedResources"], p["passedResources"], p["skippedResources"]) == \
                   (mine[(a["name"], "Unhealthy")], mine[(a["name"], "Healthy")], mine[(a["name"], "NotApplicable")])


def test_opt_in_region_planted(world):
    """One native single account lists an opt-in region it has not enabled (NOTES §11)."""
    assert len(world.opt_in_disabled) == 1
    (acct_id, region), = world.opt_in_disabled
    acct = world.accounts_by_id[acct_id]
    assert acct.org_role == "single" and acct_id not in world.denied_accounts and acct_id not in world.org_ids
    assert region in acct.regions and not [i for i in acct.instances if i.region == region]
    conn = next(c for c in aws_connectors(world) if c["properties"]["hierarchyIdentifier"] == acct_id)
    assert region in conn["properties"]["environmentData"]["regions"]
    assert len(conn["properties"]["environmentData"]["regions"]) > 1, "other regions answer normally"


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
        assert p["passedControls"] + p["failedControls"] + p["skippedControls"] + p["unsupportedControls"] == \
            CONTROLS[std["name"]]
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
    assert len(legacy_rows(t1)) < len(legacy_rows(t0))

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
    assert not [r for r in by_type(t2["resources"], T_ARC) if (r["tags"] or {}).get("AccountId") == acct]
    assert not [r for r in by_type(t2["securityresources"], T_ASSESS)
                if "ConnectorId" in r["properties"]["resourceDetails"]
                and r["properties"]["additionalData"]["AccountId"] == acct]
    assert acct not in world_copies(w), "its compliance copies went with it"

    # putting it back: connector at once, assessments after the onboarding lag
    with w.mutating():
        w.security_connectors[conn["id"].lower()] = body
    t3 = w.arg_tables()
    assert conn["id"].lower() in {r["id"].lower() for r in by_type(t3["resources"], T_CONN)}
    native = lambda t: [r for r in by_type(t["securityresources"], T_ASSESS)  # noqa: E731
                        if "ConnectorId" in r["properties"]["resourceDetails"]
                        and r["properties"]["additionalData"]["AccountId"] == acct]
    assert not native(t3)
    w.advance(ONBOARDING_LAG_TICKS)
    assert native(w.arg_tables())
    assert acct in world_copies(w)
    w.advance(10)
    assert [r for r in by_type(w.arg_tables()["resources"], T_ARC) if (r["tags"] or {}).get("AccountId") == acct]


def world_copies(w: World) -> set[str]:
    return {a for a, stds in w.standards_by_account().items() if stds}


def test_migrating_the_classic_only_account_gets_the_default_standards():
    """A native connector created for the classic-only account (the migration path) gets MCSB and FSBP."""
    w = World(seed=42)
    native = {c["properties"]["hierarchyIdentifier"] for c in aws_connectors(w)}
    classic_only = next(c["properties"]["authenticationDetails"]["accountId"] for c in w.classic_connectors.values()
                        if c["properties"]["authenticationDetails"]["accountId"] not in native)
    assert w.standards_by_account()[classic_only] == []
    body = copy.deepcopy(next(c for c in aws_connectors(w) if "organizationalData" not in
                              c["properties"]["environmentData"]))
    body["id"] = body["id"].rsplit("/", 1)[0] + "/migrated"
    body["name"] = "migrated"
    body["properties"]["hierarchyIdentifier"] = classic_only
    with w.mutating():
        w.security_connectors[body["id"].lower()] = body
    assert w.standards_by_account()[classic_only] == []
    w.advance(ONBOARDING_LAG_TICKS)
    assert w.standards_by_account()[classic_only] == sorted([MCSB, FSBP])


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
    assert {type(c.authentication_details) for c in classic} == {
        classic_models.AwAssumeRoleAuthenticationDetailsProperties,
        classic_models.AwsCredsAuthenticationDetailsProperties}

    for plans in world.pricings.values():
        lst = pricing_models.PricingList.deserialize({"value": list(plans.values())})
        vm = next(p for p in lst.value if p.name == "VirtualMachines")
        assert vm.pricing_tier in ("Free", "Standard")
