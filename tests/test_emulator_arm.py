"""The emulated ARM server, driven by the real Azure SDK clients over real HTTPS sockets.

A small deterministic `FakeWorld` (same attributes as tui/emulator/spec.py) keeps these tests independent of the
world generator; `test_real_world_*` run the same paths against `World(seed=42)`.
"""
from __future__ import annotations

import asyncio
import copy
import json
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    DeserializationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.security.aio import SecurityCenter

from tui.emulator.arm import ArmEmulator, ArmEmulatorThread
from tui.emulator.clock import ManualClock
from tui.emulator.faults import FaultConfig, FaultRule, Quota
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, SubscriptionSpec

# Verbatim copies of Microsoft's official examples (see tests/fixtures/azure/README.md): part of every clone.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "azure"

SUB_A = "a5caac9c-5c04-49af-b3d0-e204f40345d5"
SUB_B = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
SUB_C = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"  # disabled, no data
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TOKEN = "t"
API_CONNECTORS = "2023-10-01-preview"

ASSESSMENT_KEYS = ["3d3d0aee-5a4c-41c3-9f5e-6a2c0c6c9c01", "7b3c7ff4-7a0e-4a3c-8d37-0c2c26e3f0b2",
                   "c27441ae-775c-45be-8ffa-655de37362ce"]


# ----------------------------------------------------------------------------------------------------------------
# A small world


def _connector(sub: str, rg: str, name: str, account: str, offerings: list[dict], *, org: dict | None = None) -> dict:
    env: dict[str, Any] = {"environmentType": "AwsAccount", "regions": ["us-east-1", "eu-west-1"], "scanInterval": 4}
    if org:
        env["organizationalData"] = org
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}",
        "name": name, "type": "Microsoft.Security/securityConnectors", "etag": "etag value", "kind": "",
        "location": "Central US", "tags": {},
        "systemData": {"createdBy": "user@contoso.com", "createdByType": "User",
                       "createdAt": "2026-10-01T13:47:50.328Z", "lastModifiedBy": "user@contoso.com",
                       "lastModifiedByType": "User", "lastModifiedAt": "2026-10-01T13:47:50.328Z"},
        "properties": {"hierarchyIdentifier": account, "environmentName": "AWS", "environmentData": env,
                       "offerings": offerings},
    }


def _cspm(account: str) -> dict:
    return {"offeringType": "CspmMonitorAws",
            "nativeCloudConnection": {"cloudRoleArn": f"arn:aws:iam::{account}:role/CspmMonitorAws"}}


def _servers(account: str, plan: str = "P2") -> dict:
    return {"offeringType": "DefenderForServersAws",
            "defenderForServers": {"cloudRoleArn": f"arn:aws:iam::{account}:role/DefenderForCloud-DefenderForServers"},
            "arcAutoProvisioning": {
                "enabled": True, "cloudRoleArn": f"arn:aws:iam::{account}:role/DefenderForCloud-ArcAutoProvisioning"},
            "subPlan": {"type": plan}}


def _pricing(sub: str, name: str, tier: str, sub_plan: str | None = None) -> dict:
    props: dict[str, Any] = {"pricingTier": tier, "freeTrialRemainingTime": "PT0S", "enforce": "False"}
    if tier == "Standard":
        props["enablementTime"] = "2026-03-01T12:42:42.1921106Z"
        props["resourcesCoverageStatus"] = "FullyCovered"
    else:
        props["resourcesCoverageStatus"] = "NotCovered"
    if sub_plan:
        props["subPlan"] = sub_plan
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}", "name": name,
            "type": "Microsoft.Security/pricings", "properties": props}


class FakeWorld:
    """Implements the World API of tui/emulator/spec.py with a few hand-made resources."""

    def __init__(self, n_assessments: int = 2500) -> None:
        self.tenant_id = TENANT
        self.subscriptions = [SubscriptionSpec(SUB_A, "Prod"), SubscriptionSpec(SUB_B, "Dev"),
                              SubscriptionSpec(SUB_C, "Old", state="Disabled")]
        self.aws_accounts = [
            AwsAccountSpec("111122223333", "payments-prod", ORG_SINGLE),
            AwsAccountSpec("444455556666", "org-management", ORG_MANAGEMENT),
            AwsAccountSpec("777788889999", "org-member", ORG_MEMBER, parent_account_id="444455556666"),
        ]
        self.lock = threading.RLock()
        self.clock = ManualClock()
        self.denied_accounts = {"999999999999"}
        conns = [
            _connector(SUB_A, "rg-mdc", "aws-payments", "111122223333", [_cspm("111122223333"),
                                                                           _servers("111122223333")]),
            _connector(SUB_A, "rg-mdc", "aws-org", "444455556666", [_cspm("444455556666")],
                       org={"organizationMembershipType": "Organization", "stacksetName": "MDCStackSet",
                            "excludedAccountIds": []}),
            _connector(SUB_A, "rg-other", "aws-member", "777788889999", [_cspm("777788889999")],
                       org={"organizationMembershipType": "Member", "parentHierarchyId": "444455556666"}),
        ] + [_connector(SUB_B, "rg-dev", f"aws-dev-{i}", f"10000000000{i}", [_cspm(f"10000000000{i}")])
             for i in range(4)]
        self.security_connectors = {c["id"].lower(): c for c in conns}
        self.classic_connectors: dict[str, dict] = {}
        legacy = {
            "id": f"/subscriptions/{SUB_B}/providers/Microsoft.Security/connectors/aws_legacy",
            "name": "aws_legacy", "type": "Microsoft.Security/connectors",
            "properties": {
                "hybridComputeSettings": {"hybridComputeProvisioningState": "Valid", "autoProvision": "Off"},
                "authenticationDetails": {"authenticationProvisioningState": "Valid",
                                          "grantedPermissions": ["AWS::SecurityAudit"],
                                          "authenticationType": "awsAssumeRole", "accountId": "100000000000",
                                          "awsAssumeRoleArn": "arn:aws:iam::100000000000:role/AscConnector",
                                          "awsExternalId": TENANT}},
        }
        self.classic_connectors[legacy["id"].lower()] = legacy
        self.pricings = {
            SUB_A: {n: _pricing(SUB_A, n, t, p) for n, t, p in [
                ("VirtualMachines", "Standard", "P2"), ("SqlServers", "Standard", None), ("AppServices", "Free", None),
                ("StorageAccounts", "Standard", "DefenderForStorageV2"), ("CloudPosture", "Free", None)]},
            SUB_B: {n: _pricing(SUB_B, n, "Free") for n in ("VirtualMachines", "CloudPosture", "Containers")},
        }
        self.providers = {SUB_A: {"Microsoft.Security": "Registered", "Microsoft.HybridCompute": "Registered"},
                          SUB_B: {"Microsoft.Security": "Registered", "Microsoft.HybridCompute": "NotRegistered"}}
        self.permissions = {SUB_A: [{"actions": ["*"], "notActions": []}],
                            SUB_B: [{"actions": ["*/read", "Microsoft.Security/*"],
                                     "notActions": ["Microsoft.Security/pricings/write"]}]}
        self.n_assessments = n_assessments
        self._version = 0
        self.touches = 0

    # -- the World API ------------------------------------------------------------------------------------------
    def touch(self) -> None:
        with self.lock:
            self._version += 1
            self.touches += 1

    def tick(self) -> int:
        return self.clock.tick()

    def now(self) -> float:
        return self.clock.now()

    def arg_version(self) -> tuple:
        return (self._version, self.tick())

    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        return "Online"

    def arg_tables(self) -> dict[str, list[dict]]:
        resources: list[dict] = []
        for c in self.security_connectors.values():
            sub = c["id"].split("/")[2]
            rg = c["id"].split("/")[4]
            resources.append({"id": c["id"], "name": c["name"], "type": c["type"].lower(), "tenantId": TENANT,
                              "kind": "", "location": "centralus", "resourceGroup": rg.lower(),
                              "subscriptionId": sub, "tags": c.get("tags") or {},
                              "properties": c["properties"]})
        for i in range(40):
            sub = SUB_A if i % 4 else SUB_B
            status = ["Connected", "Disconnected", "Expired", "Error"][i % 4] if i % 5 else "Connected"
            iid = f"i-{i:017x}"
            resources.append({
                "id": f"/subscriptions/{sub}/resourceGroups/rg-mdc/providers/Microsoft.HybridCompute/machines/{iid}",
                "name": iid, "type": "microsoft.hybridcompute/machines", "tenantId": TENANT, "kind": "AWS",
                "location": "eastus", "resourceGroup": "rg-mdc", "subscriptionId": sub,
                "tags": {"AccountId": "111122223333", "Cloud": "AWS", "InstanceId": iid,
                         "MDFCSecurityConnector": "true"},
                "identity": {"type": "SystemAssigned"},
                "properties": {"status": status, "osName": "linux" if i % 2 else "windows",
                               "cloudMetadata": {"provider": "AWS"},
                               "lastStatusChange": "2026-11-01T00:00:00Z", "osProfile": {"computerName": iid}},
            })
        security: list[dict] = []
        for i in range(self.n_assessments):
            sub = SUB_A if i < self.n_assessments * 3 // 5 else SUB_B
            key = ASSESSMENT_KEYS[i % 3]
            entity = (f"/subscriptions/{sub}/resourcegroups/rg-mdc/providers/microsoft.security/securityconnectors/"
                      f"aws-payments/securityentitydata/aws-ec2-instance-i-{i:017x}-us-east-1")
            security.append({
                "id": f"{entity}/providers/Microsoft.Security/assessments/{key}", "name": key,
                "type": "microsoft.security/assessments", "tenantId": TENANT, "kind": "", "location": "",
                "resourceGroup": "rg-mdc", "subscriptionId": sub,
                "properties": {"displayName": f"Recommendation {i % 3}",
                               "status": {"code": ["Healthy", "Unhealthy", "NotApplicable"][i % 7 % 3]},
                               "resourceDetails": {"Source": "Aws", "Id": entity},
                               "metadata": {"severity": ["High", "Medium", "Low"][i % 3]}},
            })
        for sub, score in ((SUB_A, 7.5), (SUB_B, 2.0)):
            security.append({
                "id": f"/subscriptions/{sub}/providers/Microsoft.Security/secureScores/ascScore", "name": "ascScore",
                "type": "microsoft.security/securescores", "tenantId": TENANT, "subscriptionId": sub,
                "properties": {"score": {"max": 10, "current": score, "percentage": score / 10}, "weight": 10},
            })
        for sub, plans in self.pricings.items():
            for name, p in plans.items():
                security.append({"id": p["id"], "name": name, "type": "microsoft.security/pricings",
                                 "tenantId": TENANT, "subscriptionId": sub, "properties": p["properties"]})
        containers = [
            {"id": f"/subscriptions/{s.subscription_id}", "name": s.display_name,
             "type": "microsoft.resources/subscriptions", "tenantId": TENANT, "subscriptionId": s.subscription_id,
             "properties": {"state": s.state, "managementGroupAncestorsChain": (
                 [{"displayName": "Security", "name": "mg-security"}] if s.subscription_id == SUB_A else [])
                 + [{"displayName": "Tenant Root Group", "name": TENANT}]}}
            for s in self.subscriptions
        ]
        return {"resources": resources, "securityresources": security, "resourcecontainers": containers}


class StaticCred:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kw: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------------------------
# fixtures (module-scoped: one server per module, reset between tests)


@pytest.fixture(scope="module")
def fake_world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture(scope="module")
async def arm(fake_world):
    emu = ArmEmulator(fake_world, page_size=2, accepted_tokens={TOKEN})
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def emu(arm):
    arm.faults.clear()
    arm.request_log.clear()
    yield arm
    arm.faults.clear()


def security_client(emu, sub: str = SUB_A, token: str = TOKEN, **kw: Any) -> SecurityCenter:
    kw.setdefault("retry_backoff_factor", 0.01)
    return SecurityCenter(StaticCred(token), sub, base_url=emu.url, connection_verify=emu.ca_pem_path, **kw)


async def raw(emu, method: str, path: str, *, token: str | None = TOKEN, json_body: Any = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """A plain aiohttp request (for routes without an SDK here, and for exact status/header checks)."""
    ctx = ssl.create_default_context(cafile=emu.ca_pem_path)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as s:
        async with s.request(method, emu.url + path, json=json_body, headers=h, ssl=ctx) as r:
            text = await r.text()
            try:
                body = json.loads(text) if text else None
            except json.JSONDecodeError:
                body = text
            return r.status, dict(r.headers), body


def example(name: str) -> dict:
    p = REFERENCE / name
    return json.loads(p.read_text())


# ----------------------------------------------------------------------------------------------------------------
# security connectors


async def test_list_connectors_follows_absolute_next_link(emu):
    async with security_client(emu) as client:
        names = [c.name async for c in client.security_connectors.list()]
    assert sorted(names) == ["aws-member", "aws-org", "aws-payments"]
    gets = emu.request_log.matching("securityConnectors$", "GET")
    assert len(gets) == 2 and "$skipToken" in gets[1].query  # page_size=2: the SDK followed nextLink once
    status, _, body = await raw(emu, "GET", f"/subscriptions/{SUB_A}/providers/Microsoft.Security/"
                                            f"securityConnectors?api-version={API_CONNECTORS}")
    assert status == 200 and body["nextLink"].startswith(emu.url + "/subscriptions/")


async def test_list_connectors_by_resource_group_and_subscription_b(emu):
    async with security_client(emu) as client:
        rg = [c.name async for c in client.security_connectors.list_by_resource_group("RG-MDC")]
    assert sorted(rg) == ["aws-org", "aws-payments"]
    async with security_client(emu, SUB_B) as client:
        dev = [c.hierarchy_identifier async for c in client.security_connectors.list()]
    assert sorted(dev) == [f"10000000000{i}" for i in range(4)]


async def test_connector_deserialises_offerings_with_subplan_object(emu):
    async with security_client(emu) as client:
        c = await client.security_connectors.get("rg-mdc", "aws-payments")
    kinds = {type(o).__name__: o for o in c.offerings}
    assert c.environment_name == "AWS" and c.hierarchy_identifier == "111122223333"
    assert type(c.environment_data).__name__ == "AwsEnvironmentData"
    assert kinds["DefenderForServersAwsOffering"].sub_plan.type == "P2"
    assert "CspmMonitorAwsOffering" in kinds


async def test_connector_crud_roundtrip_and_arg_sees_it(emu, fake_world):
    body = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource_example.json")
    resource = copy.deepcopy(body["responses"]["200"]["body"])
    for k in ("id", "name", "type", "etag", "systemData"):
        resource.pop(k, None)
    resource["properties"]["hierarchyIdentifier"] = "222233334444"
    resource["properties"]["offerings"].append(_servers("222233334444", "P1"))
    before = fake_world.touches
    async with security_client(emu) as client:
        # (the SDK pops discriminators out of a dict body: give it a fresh copy each call)
        created = await client.security_connectors.create_or_update("rg-new", "aws-new", copy.deepcopy(resource))
        assert created.id.endswith("/resourceGroups/rg-new/providers/Microsoft.Security/securityConnectors/aws-new")
        assert created.system_data.created_at is not None and created.etag
        again = await client.security_connectors.create_or_update("rg-new", "aws-new", copy.deepcopy(resource))
        assert again.system_data.created_at == created.system_data.created_at and again.etag != created.etag
        patched = await client.security_connectors.update("rg-new", "aws-new", {"tags": {"owner": "secops"}})
        assert patched.tags == {"owner": "secops"} and patched.hierarchy_identifier == "222233334444"
        got = await client.security_connectors.get("rg-new", "aws-new")
        servers = [o for o in got.offerings if type(o).__name__ == "DefenderForServersAwsOffering"]
        assert servers[0].sub_plan.type == "P1" and servers[0].description  # read-only description filled
        puts = [r.status for r in emu.request_log.matching("aws-new", "PUT")]
        assert puts == [201, 200]
        assert fake_world.touches >= before + 3

        rg_status, _, arg = await raw(emu, "POST",
                                      "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                                      json_body={"query": "resources"
                                                          " | where type == 'microsoft.security/securityconnectors'"
                                                          " | where name == 'aws-new' | project id, "
                                                          "accountId = tostring(properties.hierarchyIdentifier)"})
        assert rg_status == 200 and arg["data"][0]["accountId"] == "222233334444"

        await client.security_connectors.delete("rg-new", "aws-new")
        await client.security_connectors.delete("rg-new", "aws-new")
        assert [r.status for r in emu.request_log.matching("aws-new", "DELETE")] == [200, 204]
        with pytest.raises(ResourceNotFoundError) as ei:
            await client.security_connectors.get("rg-new", "aws-new")
        assert ei.value.error.code == "ResourceNotFound"


async def test_connector_put_rejects_duplicate_account_and_missing_location(emu):
    dup = {"location": "centralus", "properties": {"hierarchyIdentifier": "111122223333", "environmentName": "AWS",
                                                    "environmentData": {"environmentType": "AwsAccount"},
                                                    "offerings": [_cspm("111122223333")]}}
    path = (f"/subscriptions/{SUB_A}/resourceGroups/rg-x/providers/Microsoft.Security/securityConnectors/dup"
            f"?api-version={API_CONNECTORS}")
    status, _, body = await raw(emu, "PUT", path, json_body=dup)
    assert status == 409 and body["error"]["code"] == "Conflict"
    del dup["location"]
    status, _, body = await raw(emu, "PUT", path, json_body=dup)
    assert status == 400 and body["error"]["code"] == "LocationRequired"


async def test_connector_scan_interval_must_be_4_6_12_or_24(emu, fake_world):
    """NOTES §11: the scan interval may only be 4, 6, 12 or 24 hours; PUT and PATCH reject anything else."""
    path = (f"/subscriptions/{SUB_A}/resourceGroups/rg-scan/providers/Microsoft.Security/securityConnectors/scan"
            f"?api-version={API_CONNECTORS}")

    def body(interval: Any) -> dict:
        return {"location": "centralus", "properties": {
            "hierarchyIdentifier": "121212121212", "environmentName": "AWS",
            "environmentData": {"environmentType": "AwsAccount", "regions": ["us-east-1"], "scanInterval": interval},
            "offerings": [_cspm("121212121212")]}}

    try:
        for bad in (1, 5, 8, 48, 0, -4, "4", 4.5, True):
            status, _, out = await raw(emu, "PUT", path, json_body=body(bad))
            assert status == 400 and out["error"]["code"] == "InvalidScanInterval", bad
        assert not [k for k in fake_world.security_connectors if k.endswith("/securityconnectors/scan")]
        for good in (4, 6, 12, 24):
            status, _, out = await raw(emu, "PUT", path, json_body=body(good))
            assert status in (200, 201) and out["properties"]["environmentData"]["scanInterval"] == good
        status, _, out = await raw(emu, "PATCH", path,
                                   json_body={"properties": {"environmentData": {"scanInterval": 3}}})
        assert status == 400 and out["error"]["code"] == "InvalidScanInterval"
        status, _, out = await raw(emu, "PATCH", path,
                                   json_body={"properties": {"environmentData": {"scanInterval": 12}}})
        assert status == 200 and out["properties"]["environmentData"]["scanInterval"] == 12
        status, _, out = await raw(emu, "PATCH", path, json_body={"tags": {"owner": "secops"}})
        assert status == 200 and out["properties"]["environmentData"]["scanInterval"] == 12
    finally:
        await raw(emu, "DELETE", path)


# ----------------------------------------------------------------------------------------------------------------
# classic connectors


async def test_classic_connectors_never_echo_secrets(emu, fake_world):
    async with security_client(emu, SUB_B) as client:
        names = [c.name async for c in client.connectors.list()]
        assert names == ["aws_legacy"]
        setting = {"properties": {
            "hybridComputeSettings": {"autoProvision": "On", "resourceGroupName": "AwsConnectorRG",
                                      "region": "West US 2", "proxyServer": {"ip": "10.0.0.1", "port": "3128"},
                                      "servicePrincipal": {"applicationId": "ad9bcd79-be9c-45ab-abd8-80ca1654a7d1",
                                                           "secret": "sp-secret-value"}},
            "authenticationDetails": {"authenticationType": "awsCreds", "awsAccessKeyId": "AKIAEXAMPLE",
                                      "awsSecretAccessKey": "aws-secret-value"}}}
        created = await client.connectors.create_or_update("aws_creds", setting)
        assert created.authentication_details.authentication_type == "awsCreds"
        assert created.authentication_details.authentication_provisioning_state == "Valid"
        assert created.hybrid_compute_settings.hybrid_compute_provisioning_state == "Valid"
        got = await client.connectors.get("aws_creds")
        await client.connectors.delete("aws_creds")
        with pytest.raises(ResourceNotFoundError):
            await client.connectors.get("aws_creds")
    for model in (created, got):
        dumped = json.dumps(model.as_dict())
        assert "aws-secret-value" not in dumped and "sp-secret-value" not in dumped
        # as Azure answers (the official list example): the key id does not come back either
        assert "AKIAEXAMPLE" not in dumped
        assert model.authentication_details.aws_access_key_id == "null"
    assert "secret-value" not in json.dumps([r.to_dict() for r in emu.request_log.records()])
    assert "secret-value" not in json.dumps(fake_world.classic_connectors)


async def test_classic_assume_role_example_and_denied_account(emu):
    ex = example("connectors_2020-01-01-preview_CreateUpdateAwsAssumeRoleConnectorSubscription_example.json")
    setting = ex["parameters"]["connectorSetting"]
    async with security_client(emu, SUB_B) as client:
        c = await client.connectors.create_or_update("aws_dev2", copy.deepcopy(setting))
        assert c.authentication_details.account_id == "81231569658"
        assert c.authentication_details.granted_permissions == ["AWS::AWSSecurityHubReadOnlyAccess",
                                                                "AWS::SecurityAudit", "AWS::AmazonSSMAutomationRole"]
        assert c.hybrid_compute_settings.service_principal.secret is None
        denied = copy.deepcopy(setting)
        denied["properties"]["authenticationDetails"]["awsAssumeRoleArn"] = "arn:aws:iam::999999999999:role/Asc"
        d = await client.connectors.create_or_update("aws_denied", denied)
        assert d.authentication_details.authentication_provisioning_state == "Invalid"
        await client.connectors.delete("aws_dev2")
        await client.connectors.delete("aws_denied")


# ----------------------------------------------------------------------------------------------------------------
# pricings


async def test_pricings_list_filter_get_update(emu):
    async with security_client(emu) as client:
        plans = await client.pricings.list(f"subscriptions/{SUB_A}")
        assert {p.name for p in plans.value} == {"VirtualMachines", "SqlServers", "AppServices", "StorageAccounts",
                                                 "CloudPosture"}
        some = await client.pricings.list(f"subscriptions/{SUB_A}", filter="name in (VirtualMachines,CloudPosture)")
        assert sorted(p.name for p in some.value) == ["CloudPosture", "VirtualMachines"]
        vm = await client.pricings.get(f"subscriptions/{SUB_A}", "VirtualMachines")
        assert vm.pricing_tier == "Standard" and vm.sub_plan == "P2"
        updated = await client.pricings.update(f"subscriptions/{SUB_A}", "CloudPosture",
                                               {"properties": {"pricingTier": "Standard"}})
        assert updated.pricing_tier == "Standard" and updated.enablement_time is not None
        back = await client.pricings.update(f"subscriptions/{SUB_A}", "CloudPosture",
                                            {"properties": {"pricingTier": "Free"}})
        assert back.pricing_tier == "Free"
        with pytest.raises(ResourceNotFoundError):
            await client.pricings.get(f"subscriptions/{SUB_A}", "NoSuchPlan")
    status, _, body = await raw(emu, "GET", f"/subscriptions/{SUB_A}/providers/Microsoft.Security/pricings"
                                            f"?api-version=2024-01-01")
    assert status == 200 and set(body) == {"value"}  # not paged: no nextLink


async def test_official_examples_served_verbatim_and_deserialised_like_azure():
    """Stores seeded with Microsoft's example bodies: what the SDK reads through the emulator equals what it reads
    from the example itself (connectors of every environment type, org data, pricings with extensions)."""
    from azure.mgmt.security.v2023_10_01_preview.models import SecurityConnectorsList
    from azure.mgmt.security.v2024_01_01.models import PricingList

    conns = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorsSubscription_example.json")
    prices = example("pricings_2024-01-01_ListPricings_example.json")
    world = FakeWorld(n_assessments=0)
    sub = conns["parameters"]["subscriptionId"]
    psub = prices["parameters"]["scopeId"].split("/")[1]
    for extra in {sub, psub} - {s.subscription_id for s in world.subscriptions}:
        world.subscriptions.append(SubscriptionSpec(extra, "Examples"))
    world.security_connectors = {c["id"].lower(): copy.deepcopy(c) for c in conns["responses"]["200"]["body"]["value"]}
    world.pricings[psub] = {p["name"]: copy.deepcopy(p) for p in prices["responses"]["200"]["body"]["value"]}
    emu = ArmEmulator(world, page_size=2, accepted_tokens={TOKEN})
    await emu.start()
    try:
        async with security_client(emu, sub) as client:
            got = [c.as_dict() async for c in client.security_connectors.list()]
        async with security_client(emu, psub) as client:
            plans = await client.pricings.list(f"subscriptions/{psub}")
    finally:
        await emu.stop()
    expected = SecurityConnectorsList.deserialize(conns["responses"]["200"]["body"]).value
    by_id = {c["id"].lower(): c for c in got}
    assert len(got) == len(expected) == 5
    for e in expected:
        assert by_id[e.id.lower()] == e.as_dict()
    org = next(c for c in got if c["name"] == "exampleSecurityConnectorAwsOrganization")
    assert org["environment_data"]["organizational_data"]["stackset_name"] == "myStackSetName"
    assert plans.as_dict() == PricingList.deserialize(prices["responses"]["200"]["body"]).as_dict()


# ----------------------------------------------------------------------------------------------------------------
# errors: api-version, subscription, auth


async def test_api_version_checked_like_arm(emu):
    base = f"/subscriptions/{SUB_A}/providers/Microsoft.Security/securityConnectors"
    status, _, body = await raw(emu, "GET", base)
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"
    status, _, body = await raw(emu, "GET", base + "?api-version=2019-01-01")
    assert status == 400 and body["error"]["code"] == "InvalidApiVersionParameter"
    status, _, body = await raw(emu, "POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2020-04-01",
                                json_body={"query": "resources"})
    assert status == 400 and body["error"]["code"] == "InvalidApiVersionParameter"


async def test_unknown_subscription_is_subscription_not_found(emu):
    async with security_client(emu, "11111111-2222-3333-4444-555555555555") as client:
        with pytest.raises(ResourceNotFoundError) as ei:
            await client.security_connectors.get("rg", "x")
    assert ei.value.error.code == "SubscriptionNotFound"


async def test_auth_required_and_token_checked(emu):
    status, headers, body = await raw(emu, "GET", f"/subscriptions/{SUB_A}/providers/Microsoft.Security/"
                                                  f"securityConnectors?api-version={API_CONNECTORS}", token=None)
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    async with security_client(emu, token="wrong", retry_total=0) as client:
        with pytest.raises(ClientAuthenticationError) as ei:
            await client.pricings.get(f"subscriptions/{SUB_A}", "VirtualMachines")
    assert ei.value.error.code == "InvalidAuthenticationToken"


# ----------------------------------------------------------------------------------------------------------------
# providers, permissions, subscriptions (no SDK for these in the venv: raw REST)


async def test_providers_and_register(emu, fake_world):
    status, _, p = await raw(emu, "GET", f"/subscriptions/{SUB_B}/providers/microsoft.hybridcompute"
                                         f"?api-version=2021-04-01")
    assert status == 200 and p["namespace"] == "Microsoft.HybridCompute" and p["registrationState"] == "NotRegistered"
    status, _, p = await raw(emu, "POST", f"/subscriptions/{SUB_B}/providers/Microsoft.HybridCompute/register"
                                          f"?api-version=2021-04-01")
    assert status == 200 and p["registrationState"] == "Registering"
    status, _, p = await raw(emu, "GET", f"/subscriptions/{SUB_B}/providers/Microsoft.HybridCompute"
                                         f"?api-version=2021-04-01")
    assert p["registrationState"] == "Registered"
    assert fake_world.providers[SUB_B]["Microsoft.HybridCompute"] == "Registered"
    status, _, p = await raw(emu, "GET", f"/subscriptions/{SUB_B}/providers/Microsoft.GuestConfiguration"
                                         f"?api-version=2021-04-01")
    assert p["registrationState"] == "NotRegistered"
    status, _, p = await raw(emu, "GET", f"/subscriptions/{SUB_B}/providers/Contoso.Nothing?api-version=2021-04-01")
    assert status == 404 and p["error"]["code"] == "InvalidResourceNamespace"
    status, _, lst = await raw(emu, "GET", f"/subscriptions/{SUB_A}/providers?api-version=2021-04-01")
    sec = next(x for x in lst["value"] if x["namespace"] == "Microsoft.Security")
    assert sec["registrationState"] == "Registered"
    assert any(t["resourceType"] == "securityConnectors" for t in sec["resourceTypes"])


async def test_permissions_and_subscriptions(emu):
    status, _, body = await raw(emu, "GET", f"/subscriptions/{SUB_B}/providers/Microsoft.Authorization/permissions"
                                            f"?api-version=2022-04-01")
    assert status == 200
    assert body["value"] == [{"actions": ["*/read", "Microsoft.Security/*"],
                              "notActions": ["Microsoft.Security/pricings/write"], "dataActions": [],
                              "notDataActions": []}]
    status, _, subs = await raw(emu, "GET", "/subscriptions?api-version=2022-12-01")
    assert {s["subscriptionId"]: s["state"] for s in subs["value"]}[SUB_C] == "Disabled"


# ----------------------------------------------------------------------------------------------------------------
# faults, observed by the SDK


async def test_fault_503_then_success_is_retried(emu):
    emu.faults.add(FaultRule(path_regex="pricings/VirtualMachines", kind="503", times=2, retry_after_s=0))
    async with security_client(emu) as client:
        vm = await client.pricings.get(f"subscriptions/{SUB_A}", "VirtualMachines")
    assert vm.pricing_tier == "Standard"
    assert [r.status for r in emu.request_log.matching("pricings/VirtualMachines")] == [503, 503, 200]


async def test_fault_500_surfaces_without_retries(emu):
    emu.faults.add(FaultRule(path_regex=".*securityConnectors.*", kind="500"))
    async with security_client(emu, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as ei:
            await client.security_connectors.get("rg-mdc", "aws-payments")
    assert ei.value.status_code == 500 and ei.value.error.code == "InternalServerError"


async def test_fault_429_with_retry_after_then_success(emu):
    emu.faults.add(FaultRule(path_regex="pricings", kind="429", times=1, retry_after_s=1))
    t0 = time.monotonic()
    async with security_client(emu) as client:
        plans = await client.pricings.list(f"subscriptions/{SUB_A}")
    assert len(plans.value) == 5 and time.monotonic() - t0 >= 0.9  # the SDK honoured Retry-After
    rec = emu.request_log.matching("pricings")
    assert [r.status for r in rec] == [429, 200] and rec[0].fault == "429"


async def test_fault_reset_and_latency(emu):
    # aiohttp itself retries an idempotent request once after a disconnect: reset twice to reach the SDK
    emu.faults.add(FaultRule(path_regex="pricings", kind="reset", times=2))
    async with security_client(emu, retry_total=0) as client:
        with pytest.raises((ServiceResponseError, ServiceRequestError)):
            await client.pricings.list(f"subscriptions/{SUB_A}")
    assert [r.status for r in emu.request_log.matching("pricings")] == [None, None]
    emu.faults.add(FaultRule(path_regex="pricings", kind="latency", latency_ms=300, times=1))
    t0 = time.monotonic()
    async with security_client(emu) as client:
        await client.pricings.list(f"subscriptions/{SUB_A}")
    assert time.monotonic() - t0 >= 0.3


@pytest.mark.parametrize("mode, errors", [("truncated", (DecodeError,)),
                                          ("shape", (DeserializationError, HttpResponseError, TypeError,
                                                     AttributeError))])
async def test_fault_malformed_is_visible_to_the_sdk(emu, mode, errors):
    emu.faults.add(FaultRule(path_regex="securityConnectors/aws-payments", kind="malformed", malformed=mode))
    async with security_client(emu, retry_total=0) as client:
        with pytest.raises(errors):
            c = await client.security_connectors.get("rg-mdc", "aws-payments")
            assert c.hierarchy_identifier == "111122223333"  # a "shape" body must not pass as valid
    assert emu.request_log.matching("aws-payments")[0].status == 200


async def test_fault_rules_are_thread_safe_and_counted(emu):
    rule = FaultRule(path_regex="pricings", kind="500", times=3)

    def add_from_thread() -> None:
        emu.faults.add(rule)

    t = threading.Thread(target=add_from_thread)
    t.start()
    t.join()
    async with security_client(emu, retry_total=0) as client:
        for _ in range(4):
            try:
                await client.pricings.list(f"subscriptions/{SUB_A}")
            except HttpResponseError:
                pass
    assert rule.applied == 3
    assert [r.status for r in emu.request_log.matching("pricings")] == [500, 500, 500, 200]


def test_fault_rule_validation():
    with pytest.raises(ValueError):
        FaultRule(kind="teapot")
    with pytest.raises(ValueError):
        FaultRule(kind="malformed", malformed="weird")
    with pytest.raises(ValueError):
        FaultRule.from_dict({"kind": "500", "bogus": 1})
    cfg = FaultConfig(seed=1)
    cfg.add({"path_regex": "x", "kind": "500", "probability": 0.5})
    hits = sum(cfg.decide("GET", "/x").terminal is not None for _ in range(200))
    assert 60 < hits < 140


# ----------------------------------------------------------------------------------------------------------------
# admin routes


async def test_admin_routes(emu):
    status, _, health = await raw(emu, "GET", "/_emulator/health", token=None)
    assert status == 200 and health["status"] == "ok"
    status, _, added = await raw(emu, "POST", "/_emulator/faults", token=None,
                                 json_body=[{"path_regex": "pricings", "kind": "503", "times": 1,
                                             "retry_after_s": 0}])
    assert status == 200 and added["added"] == 1
    status, _, _ = await raw(emu, "GET", f"/subscriptions/{SUB_A}/providers/Microsoft.Security/pricings"
                                         f"?api-version=2024-01-01")
    assert status == 503
    status, _, recs = await raw(emu, "GET", "/_emulator/requests", token=None)
    assert [(r["method"], r["status"], r["fault"]) for r in recs] == [("GET", 503, "503")]
    assert recs[0]["query"] == "api-version=2024-01-01"
    assert (await raw(emu, "DELETE", "/_emulator/requests", token=None))[0] == 204
    assert (await raw(emu, "DELETE", "/_emulator/faults", token=None))[0] == 204
    assert len(emu.faults) == 0 and len(emu.request_log) == 0
    status, _, bad = await raw(emu, "POST", "/_emulator/faults", token=None, json_body=[{"kind": "teapot"}])
    assert status == 400
    tick0 = emu.world.tick()
    status, _, adv = await raw(emu, "POST", "/_emulator/advance?ticks=3", token=None)
    assert status == 200 and adv["tick"] == tick0 + 3


# ----------------------------------------------------------------------------------------------------------------
# the threaded runner (server on its own loop; the SDK on this one)


async def test_threaded_emulator_serves_another_loop():
    world = FakeWorld(n_assessments=10)
    srv = ArmEmulatorThread(world, accepted_tokens={TOKEN}, quota=Quota(limit=100, window_s=5))
    await asyncio.to_thread(srv.start)
    ca = Path(srv.ca_pem_path)
    try:
        assert srv.url.startswith("https://127.0.0.1:") and ca.exists()
        async with security_client(srv) as client:
            names = [c.name async for c in client.security_connectors.list()]
        assert len(names) == 3
        srv.faults.add(FaultRule(path_regex="pricings", kind="500", times=1))
        async with security_client(srv, retry_total=0) as client:
            with pytest.raises(HttpResponseError):
                await client.pricings.list(f"subscriptions/{SUB_A}")
        assert srv.request_log[-1].status == 500
    finally:
        await asyncio.to_thread(srv.stop)
    assert not ca.exists()  # the throwaway CA is removed with the server


# ----------------------------------------------------------------------------------------------------------------
# the real World (skipped until tui/emulator/world.py exists)


@pytest.fixture(scope="module")
async def real_arm():
    world_mod = pytest.importorskip("tui.emulator.world")
    world = world_mod.World(seed=42, clock=ManualClock())
    emu = ArmEmulator(world, page_size=7, accepted_tokens={TOKEN})
    await emu.start()
    yield emu
    await emu.stop()


async def test_real_world_connectors_pricings_and_arg(real_arm):
    world = real_arm.world
    sub = world.subscriptions[0].subscription_id
    async with security_client(real_arm, sub) as client:
        conns = [c async for c in client.security_connectors.list()]
        plans = await client.pricings.list(f"subscriptions/{sub}")
    with world.lock:
        expected = [c for k, c in world.security_connectors.items() if k.startswith(f"/subscriptions/{sub.lower()}/")]
    assert len(conns) == len(expected)
    for c in conns:
        assert c.environment_name in ("AWS", "Azure", "GCP", "Github", "AzureDevOps", "GitLab")
    assert plans.value and all(p.pricing_tier in ("Free", "Standard") for p in plans.value)
    status, headers, body = await raw(
        real_arm, "POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
        json_body={"subscriptions": [sub], "query": "resources | summarize n = count() by type | order by n desc"})
    assert status == 200 and body["data"] and "x-ms-user-quota-remaining" in headers
