"""Two tenants in the emulated estate (issue 14): the home tenant and a partner tenant whose one subscription is
delegated to the home tenant through Azure Lighthouse.

The world's tenant API first (pure, on the session estate's world), then what each tenant's token sees over real
sockets (HTTPS to ARM and Resource Graph with `EstateInfo.tenant_tokens`), then the AWS roles of the delegated
subscription's accounts (they trust the partner tenant).
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from tui.emulator.estate import EstateInfo, instructions
from tui.emulator.world import PARTNER_TENANT_NAME, World

ARG_API = "2021-03-01"
SUB_API = "2022-12-01"
CONN_API = "2023-10-01-preview"
PRICING_API = "2024-01-01"
CFG = Config(retries={"max_attempts": 1})


def claims_of(token: str) -> dict:
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


@pytest.fixture(scope="module")
def info(estate) -> EstateInfo:
    return estate.info


@pytest.fixture(scope="module")
def world(estate) -> World:
    return estate.world


@pytest.fixture(scope="module")
def home(world) -> str:
    return world.tenant_id


@pytest.fixture(scope="module")
def partner(world) -> str:
    return world.partner_tenant_id


@pytest.fixture(scope="module")
def psub(world, partner) -> str:
    [sub] = [s.subscription_id for s in world.subscriptions if world.subscription_tenant(s.subscription_id) == partner]
    return sub


def arm(info: EstateInfo, path: str, token: str | None, api: str = SUB_API) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(info.arm_url + path, params={"api-version": api}, headers=headers, verify=info.ca_pem,
                        timeout=30)


def arg(info: EstateInfo, token: str, query: str, subscriptions: list[str] | None = None) -> list[dict]:
    body: dict[str, Any] = {"query": query, "options": {"$top": 1000}}
    if subscriptions is not None:
        body["subscriptions"] = subscriptions
    r = requests.post(f"{info.arm_url}/providers/Microsoft.ResourceGraph/resources", params={"api-version": ARG_API},
                      json=body, headers={"Authorization": f"Bearer {token}"}, verify=info.ca_pem, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["resultTruncated"] == "false" and "$skipToken" not in out
    return out["data"]


def native_aws(world: World, sub: str) -> list[str]:
    return sorted(k for k, b in world.security_connectors.items()
                  if k.startswith(f"/subscriptions/{sub.lower()}/")
                  and (b.get("properties") or {}).get("environmentName") == "AWS")


# ----------------------------------------------------------------------------------------------------------------
# the world


def test_the_partner_tenant_is_deterministic_and_named(world, home, partner) -> None:
    assert partner != home and len(partner) == 36
    again = World(seed=42)
    assert again.partner_tenant_id == partner and again.tenant_id == home
    assert World(seed=7).partner_tenant_id not in (partner, home)
    assert world.tenant_names == {home: "Contoso", partner: PARTNER_TENANT_NAME}
    assert PARTNER_TENANT_NAME != "Contoso"


def test_exactly_one_subscription_is_the_partners_and_delegated_home(world, home, partner, psub) -> None:
    subs = [s.subscription_id for s in world.subscriptions]
    assert [world.subscription_tenant(s) for s in subs].count(partner) == 1
    assert world.subscription_tenant(psub.upper()) == partner  # ids compare case-insensitively
    assert all(world.subscription_tenant(s) == home for s in subs if s != psub)
    assert world.managed_by_tenants(psub) == [home]
    assert all(world.managed_by_tenants(s) == [] for s in subs if s != psub)
    assert world.tenant_subscriptions(home) == subs
    assert world.tenant_subscriptions(partner) == [psub]
    # it holds two native AWS connectors or more, and none of an organization's management account
    conns = native_aws(world, psub)
    assert len(conns) >= 2
    for key in conns:
        org = world.security_connectors[key]["properties"]["environmentData"].get("organizationalData") or {}
        assert str(org.get("organizationMembershipType", "")).lower() != "organization"
        aid = world.security_connectors[key]["properties"]["hierarchyIdentifier"]
        assert world.account_tenant(aid) == partner
    assert world.account_tenant("000000000000") == home


def test_every_arg_row_carries_its_subscriptions_tenant(world, home, partner, psub) -> None:
    seen = {home: 0, partner: 0}
    for table, rows in world.arg_tables().items():
        for r in rows:
            want = partner if str(r["subscriptionId"]).lower() == psub.lower() else home
            assert r["tenantId"] == want, (table, r["id"])
            if isinstance(r.get("identity"), dict) and "tenantId" in r["identity"]:
                assert r["identity"]["tenantId"] == want
            seen[want] += 1
    assert seen[home] and seen[partner]
    [row] = [r for r in world.arg_tables()["resourcecontainers"]
             if r["type"] == "microsoft.resources/subscriptions" and r["subscriptionId"] == psub]
    assert row["properties"]["managementGroupAncestorsChain"][-1] == {"displayName": "Tenant Root Group",
                                                                      "name": partner}


def test_health_truth_flags_no_trust_mismatch_for_the_partner(world, psub) -> None:
    truth = world.health_truth()
    for key in native_aws(world, psub):
        assert "trust-policy-mismatch" not in truth[key]
    flagged = {world.security_connectors[k]["name"] for k, codes in truth.items()
               if "trust-policy-mismatch" in codes and k in world.security_connectors}
    assert flagged == {"aws-partner-hub"}  # the one planted in issue 13, nothing new


# ----------------------------------------------------------------------------------------------------------------
# the estate's tokens


def test_estate_info_names_both_tenants_and_their_tokens(info, estate, home, partner) -> None:
    assert info.partner_tenant_id == partner and info.tenant_id == home
    assert set(info.tenant_tokens) == {home, partner}
    for tid, tok in info.tenant_tokens.items():
        c = claims_of(tok)
        assert c["tid"] == tid and c["iss"] == f"https://sts.windows.net/{tid}/"
        assert c["exp"] > time.time() + 300 * 86_400  # static: outlives any demo session
    assert EstateInfo.from_json(info.to_json()) == info
    issued = estate.issued_secrets()["bearer_tokens"]
    assert all(tok in issued for tok in info.tenant_tokens.values())
    text = instructions(info)
    assert partner in text and not any(tok in text for tok in info.tenant_tokens.values())


def test_an_expired_partner_token_gets_arms_401(info, estate) -> None:
    old = estate.partner_identity.issue("https://management.azure.com/", time.time() - 2 * 86_400)
    r = arm(info, "/subscriptions", old)
    assert r.status_code == 401 and r.json()["error"]["code"] == "ExpiredAuthenticationToken"


# ----------------------------------------------------------------------------------------------------------------
# ARM


def test_home_token_lists_every_subscription_with_the_delegated_ones_tenant(info, world, home, partner, psub
                                                                             ) -> None:
    for tok in (info.tenant_tokens[home], info.token):  # the home tenant's JWT and the static demo token
        r = arm(info, "/subscriptions", tok)
        assert r.status_code == 200, r.text
        got = {s["subscriptionId"]: (s["tenantId"], s["managedByTenants"]) for s in r.json()["value"]}
        want = {s.subscription_id: ((partner, [{"tenantId": home}]) if s.subscription_id == psub else (home, []))
                for s in world.subscriptions}
        assert got == want
    one = arm(info, f"/subscriptions/{psub}", info.tenant_tokens[home]).json()
    assert one["tenantId"] == partner and one["managedByTenants"] == [{"tenantId": home}]


def test_partner_token_lists_only_its_subscription(info, home, partner, psub) -> None:
    tok = info.tenant_tokens[partner]
    r = arm(info, "/subscriptions", tok)
    assert r.status_code == 200, r.text
    assert [(s["subscriptionId"], s["tenantId"], s["managedByTenants"]) for s in r.json()["value"]] == [
        (psub, partner, [{"tenantId": home}])]
    assert arm(info, f"/subscriptions/{psub}", tok).json()["tenantId"] == partner


def test_partner_token_on_a_home_subscription_is_forbidden(info, world, partner, psub) -> None:
    tok = info.tenant_tokens[partner]
    other = next(s.subscription_id for s in world.subscriptions if s.subscription_id != psub)
    sec = "/providers/Microsoft.Security"
    for path, api in ((f"/subscriptions/{other}", SUB_API),
                      (f"/subscriptions/{other}{sec}/securityConnectors", CONN_API),
                      (f"/subscriptions/{other}{sec}/pricings", PRICING_API)):
        r = arm(info, path, tok, api)
        assert r.status_code == 403, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "AuthorizationFailed" and f"over scope '{path}'" in err["message"]
    r = arm(info, f"/subscriptions/{other}{sec}/securityConnectors", tok, CONN_API)
    assert "'Microsoft.Security/securityConnectors/read'" in r.json()["error"]["message"]
    # an unknown subscription is still not found; the home token is not refused anywhere
    missing = "00000000-0000-0000-0000-0000000000aa"
    assert arm(info, f"/subscriptions/{missing}", tok).json()["error"]["code"] == "SubscriptionNotFound"
    assert arm(info, f"/subscriptions/{other}", info.tenant_tokens[world.tenant_id]).status_code == 200


def test_both_tenants_read_the_delegated_subscriptions_connectors(info, world, home, partner, psub) -> None:
    want = native_aws(world, psub)
    for tid in (home, partner):
        items: list[dict] = []
        url: str | None = f"{info.arm_url}/subscriptions/{psub}/providers/Microsoft.Security/securityConnectors"
        params: dict | None = {"api-version": CONN_API}
        while url:
            r = requests.get(url, params=params, headers={"Authorization": f"Bearer {info.tenant_tokens[tid]}"},
                             verify=info.ca_pem, timeout=30)
            assert r.status_code == 200, r.text
            items += r.json()["value"]
            url, params = r.json().get("nextLink"), None
        got = sorted(c["id"].lower() for c in items if c["properties"].get("environmentName") == "AWS")
        assert got == want, tid


def test_tenants_lists_the_callers_tenant_and_the_delegating_one(info, home, partner) -> None:
    mine = arm(info, "/tenants", info.tenant_tokens[home]).json()["value"]
    assert [(t["tenantId"], t["tenantCategory"], t["displayName"]) for t in mine] == [
        (home, "Home", "Contoso"), (partner, "ProjectedBy", PARTNER_TENANT_NAME)]
    theirs = arm(info, "/tenants", info.tenant_tokens[partner]).json()["value"]
    assert [(t["tenantId"], t["tenantCategory"]) for t in theirs] == [(partner, "Home")]


# ----------------------------------------------------------------------------------------------------------------
# Resource Graph


def test_resource_graph_rows_carry_their_subscriptions_tenant(info, world, home, partner, psub) -> None:
    q = ("union resources, securityresources, resourcecontainers "
         "| summarize n = count() by tenantId, subscriptionId")
    got = {(r["tenantId"], r["subscriptionId"]): r["n"] for r in arg(info, info.tenant_tokens[home], q)}
    want: dict[tuple[str, str], int] = {}
    for rows in world.arg_tables().values():
        for r in rows:
            key = (r["tenantId"], r["subscriptionId"])
            want[key] = want.get(key, 0) + 1
    assert got == want
    assert {t for t, s in got if s == psub} == {partner}
    subs = arg(info, info.tenant_tokens[home], "resourcecontainers | where type == 'microsoft.resources/"
                                               "subscriptions' | project subscriptionId, tenantId")
    assert {r["subscriptionId"]: r["tenantId"] for r in subs} == {
        s.subscription_id: world.subscription_tenant(s.subscription_id) for s in world.subscriptions}


def test_a_partner_token_reads_only_the_partners_rows(info, world, partner, psub) -> None:
    tok = info.tenant_tokens[partner]
    q = "union resources, securityresources, resourcecontainers | summarize n = count() by tenantId, subscriptionId"
    want = sum(1 for rows in world.arg_tables().values() for r in rows if r["subscriptionId"] == psub)
    assert [(r["tenantId"], r["subscriptionId"], r["n"]) for r in arg(info, tok, q)] == [(partner, psub, want)]
    others = [s.subscription_id for s in world.subscriptions if s.subscription_id != psub]
    assert arg(info, tok, q, others) == []  # asking for the home tenant's subscriptions gets nothing of them
    assert [r["subscriptionId"] for r in arg(info, tok, q, others + [psub])] == [psub]


# ----------------------------------------------------------------------------------------------------------------
# AWS: the delegated subscription's accounts trust the partner tenant


def _iam(estate, account: str) -> Any:
    kw = {"endpoint_url": estate.aws.url, "region_name": "us-east-1", "config": CFG}
    creds = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **kw).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="mdc-aws")["Credentials"]
    return boto3.client("iam", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"], **kw)


def _trusted_tenants(estate, account: str) -> set[str]:
    """The tenants the account's roles name: session names MicrosoftDefenderForClouds_<t>, sts.windows.net/<t>/."""
    iam = _iam(estate, account)
    out: set[str] = set()
    for role in iam.list_roles()["Roles"]:
        doc = json.dumps(role["AssumeRolePolicyDocument"])
        for marker in ("MicrosoftDefenderForClouds_", "sts.windows.net/"):
            for part in doc.split(marker)[1:]:
                out.add(part[:36])
    return out


def test_the_partner_accounts_roles_trust_the_partner_tenant(estate, world, home, partner, psub) -> None:
    ms = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"  # Microsoft's own tenant: the OIDC issuer every account trusts
    for key in native_aws(world, psub):
        aid = world.security_connectors[key]["properties"]["hierarchyIdentifier"]
        assert _trusted_tenants(estate, aid) - {ms} == {partner}, aid
    home_conn = next(k for k in world.security_connectors if world.security_connectors[k]["name"] == "aws-dev")
    aid = world.security_connectors[home_conn]["properties"]["hierarchyIdentifier"]
    assert _trusted_tenants(estate, aid) - {ms} == {home}
