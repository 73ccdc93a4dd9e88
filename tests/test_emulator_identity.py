"""The estate's identity: the managed-identity token endpoint, the tokens ARM accepts, the public cloud metadata.

Unit tests of `TokenIssuer` and the metadata document, then the same over real sockets against the session estate
(plain HTTP to the token endpoint as App Service serves it, HTTPS to ARM), and the core's production credential
path (DefaultAzureCredential -> ManagedIdentityCredential, App Service flow) in-process. Microsoft's own clients
judge the same endpoints in tests/test_az_cli.py.
"""
from __future__ import annotations

import asyncio
import base64
import json
import shlex
import time

import pytest
import requests

from tui.emulator.estate import EstateInfo, instructions
from tui.emulator.identity import (
    ARM_AUDIENCES,
    METADATA_API_VERSIONS,
    MI_API_VERSION,
    TokenError,
    TokenIssuer,
    metadata_document,
    metadata_response,
)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ARG_API = "2021-03-01"


def claims_of(token: str) -> dict:
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def header_of(token: str) -> dict:
    h = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    mirid = "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Web/sites/x"
    return TokenIssuer(TENANT, identity_resource_id=mirid)


# ----------------------------------------------------------------------------------------------------------------
# TokenIssuer


def test_issued_token_is_a_jwt_with_the_claims_clients_read(issuer) -> None:
    now = int(time.time())
    tok = issuer.issue("https://management.azure.com", now)
    assert header_of(tok) == {"typ": "JWT", "alg": "RS256", "x5t": issuer.kid, "kid": issuer.kid}
    c = claims_of(tok)
    assert c["tid"] == TENANT and c["aud"] == "https://management.azure.com"
    assert c["iss"] == f"https://sts.windows.net/{TENANT}/" and c["idp"] == c["iss"]
    assert c["oid"] == issuer.object_id == c["sub"] and c["appid"] == issuer.client_id
    assert c["iat"] == c["nbf"] == now and c["exp"] == now + issuer.lifetime_s
    assert c["xms_mirid"].endswith("/Microsoft.Web/sites/x") and c["idtyp"] == "app" and c["ver"] == "1.0"
    assert issuer.check(tok, now)["oid"] == issuer.object_id


def test_identity_ids_are_stable_per_tenant_but_keys_are_not() -> None:
    a, b = TokenIssuer(TENANT), TokenIssuer(TENANT)
    assert (a.object_id, a.client_id) == (b.object_id, b.client_id)
    assert a.header_secret != b.header_secret and a.kid != b.kid
    assert TokenIssuer("00000000-0000-0000-0000-000000000001").object_id != a.object_id


@pytest.mark.parametrize("aud", ARM_AUDIENCES)
def test_every_arm_audience_spelling_is_accepted(issuer, aud) -> None:
    assert issuer.check(issuer.issue(aud))["aud"] == aud


def test_refusals_use_arms_codes(issuer) -> None:
    now = time.time()
    with pytest.raises(TokenError) as e:
        issuer.check(issuer.issue("https://graph.microsoft.com"))
    assert e.value.code == "InvalidAuthenticationTokenAudience"
    assert "'https://graph.microsoft.com'" in e.value.message and "'https://management.azure.com/'" in e.value.message

    old = issuer.issue("https://management.azure.com", now - issuer.lifetime_s - 3600)
    with pytest.raises(TokenError) as e:
        issuer.check(old)
    assert e.value.code == "ExpiredAuthenticationToken" and "is earlier than current UTC time" in e.value.message
    # five minutes of clock skew are tolerated, as ARM does
    issuer.check(issuer.issue("https://management.azure.com", now - issuer.lifetime_s + 60))
    with pytest.raises(TokenError) as e:
        issuer.check(issuer.issue("https://management.azure.com", now + 3600))
    assert e.value.code == "InvalidAuthenticationToken"

    other = TokenIssuer(TENANT)  # same tenant, another key: not ours
    for bad in (other.issue("https://management.azure.com"), "mdc-aws-demo-token", "a.b.c", "", "...."):
        with pytest.raises(TokenError) as e:
            issuer.check(bad)
        assert e.value.code == "InvalidAuthenticationToken"

    h, p, s = issuer.issue("https://management.azure.com").split(".")
    forged = dict(claims_of(f"{h}.{p}.{s}"), oid="someone-else")
    p2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(TokenError) as e:
        issuer.check(f"{h}.{p2}.{s}")
    assert e.value.code == "InvalidAuthenticationToken"

    foreign = issuer.sign(dict(issuer.claims("https://management.azure.com"), tid="1" * 36,
                               iss="https://sts.windows.net/x/"))
    with pytest.raises(TokenError) as e:
        issuer.check(foreign)
    assert e.value.code == "InvalidAuthenticationTokenTenant"


def test_token_response_is_app_services_shape(issuer) -> None:
    hdr = {"X-IDENTITY-HEADER": issuer.header_secret}
    before = issuer.issued
    r = issuer.token_response({"api-version": MI_API_VERSION, "resource": "https://management.azure.com"}, hdr)
    assert r.status == 200 and issuer.issued == before + 1
    assert set(r.body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert r.body["token_type"] == "Bearer" and r.body["resource"] == "https://management.azure.com"
    assert isinstance(r.body["expires_on"], str) and int(r.body["expires_on"]) > time.time() + 3600
    assert r.body["client_id"] == issuer.client_id
    assert issuer.check(r.body["access_token"])["aud"] == "https://management.azure.com"
    # a user-assigned id that is this identity's own is fine; any other one is not found
    ok = issuer.token_response({"api-version": MI_API_VERSION, "resource": "https://management.azure.com",
                                "client_id": issuer.client_id.upper()}, {"x-identity-header": issuer.header_secret})
    assert ok.status == 200


@pytest.mark.parametrize("query,headers,status,needle", [
    ({"api-version": MI_API_VERSION, "resource": "https://management.azure.com"}, {}, 400, "X-IDENTITY-HEADER"),
    ({"api-version": MI_API_VERSION, "resource": "https://management.azure.com"}, {"X-IDENTITY-HEADER": "nope"}, 401,
     "does not match"),
    ({"api-version": "2017-09-01", "resource": "https://management.azure.com"}, None, 400, "api-version"),
    ({"api-version": MI_API_VERSION}, None, 400, "'resource'"),
    ({"api-version": MI_API_VERSION, "resource": "https://management.azure.com/.default"}, None, 400, "scope"),
    ({"api-version": MI_API_VERSION, "resource": "https://management.azure.com",
      "client_id": "11111111-1111-1111-1111-111111111111"}, None, 400, "No User Assigned"),
])
def test_token_request_errors(issuer, query, headers, status, needle) -> None:
    r = issuer.token_response(query, {"X-IDENTITY-HEADER": issuer.header_secret} if headers is None else headers)
    assert r.status == status and r.body["statusCode"] == status and needle in r.body["message"]
    assert "access_token" not in r.body


def test_metadata_document_is_what_az_cloud_register_reads() -> None:
    doc = metadata_document("https://127.0.0.1:1234")
    assert doc["resourceManager"] == "https://127.0.0.1:1234/"
    assert doc["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert set(doc["authentication"]) == {"loginEndpoint", "audiences", "tenant", "identityProvider"}
    for key in ("name", "portal", "suffixes", "gallery", "graphAudience", "microsoftGraphResourceId", "batch",
                "sqlManagement", "activeDirectoryDataLake", "logAnalyticsResourceId", "vmImageAliasDoc"):
        assert key in doc
    assert {"storage", "keyVaultDns", "sqlServerHostname", "acrLoginServer"} <= set(doc["suffixes"])
    assert metadata_response("https://h/", "2022-09-01") == metadata_document("https://h")
    assert metadata_response("https://h", "2019-05-01") == [metadata_document("https://h")]
    with pytest.raises(ValueError):
        metadata_response("https://h", "2015-01-01")


# ----------------------------------------------------------------------------------------------------------------
# over real sockets: the session estate


@pytest.fixture(scope="module")
def info(estate) -> EstateInfo:
    return estate.info


def mi_token(info: EstateInfo, resource: str = "https://management.azure.com/") -> str:
    r = requests.get(info.identity_endpoint, params={"api-version": MI_API_VERSION, "resource": resource},
                     headers={"X-IDENTITY-HEADER": info.identity_header}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def arm_get(info: EstateInfo, path: str, token: str | None, api: str = "2022-12-01") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{info.arm_url}{path}", params={"api-version": api} if api else None, headers=headers,
                        verify=info.ca_pem, timeout=10)


def test_estate_serves_a_plain_http_token_endpoint_on_loopback(info) -> None:
    assert info.identity_endpoint.startswith("http://127.0.0.1:") and info.identity_endpoint.endswith("/msi/token")
    assert info.identity_header and info.azure_config_dir.startswith(info.ca_pem.rsplit("/", 1)[0])
    r = requests.get(info.identity_endpoint, params={"api-version": MI_API_VERSION, "resource": "https://x"},
                     timeout=10)
    assert r.status_code == 400 and "X-IDENTITY-HEADER" in r.json()["message"]
    r = requests.get(info.identity_endpoint.replace("/msi/token", "/other"), timeout=10)
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["/metadata/endpoints", "//metadata/endpoints"])
def test_metadata_is_public_and_names_this_arm(info, path) -> None:
    r = arm_get(info, path, None, api="2022-09-01")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert isinstance(doc, dict) and doc["resourceManager"] == info.arm_url + "/"
    assert doc["name"] == info.cloud_name
    assert isinstance(arm_get(info, path, None, api="2019-05-01").json(), list)
    bad = arm_get(info, path, None, api="")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "MissingApiVersionParameter"
    assert set(METADATA_API_VERSIONS) == {"2022-09-01", "2019-05-01"}


def test_issued_token_reads_subscriptions_tenants_and_resource_graph(info, estate) -> None:
    tok = mi_token(info)
    subs = arm_get(info, "/subscriptions", tok)
    assert subs.status_code == 200
    got = [(s["subscriptionId"], s["displayName"], s["state"], s["tenantId"]) for s in subs.json()["value"]]
    w = estate.world  # one subscription is the partner tenant's, delegated to this one (tests/test_emulator_tenants.py)
    assert got == [(s.subscription_id, s.display_name, s.state, w.subscription_tenant(s.subscription_id))
                   for s in w.subscriptions]
    assert all(s["managedByTenants"] == [{"tenantId": t} for t in w.managed_by_tenants(s["subscriptionId"])]
               and s["id"] == f"/subscriptions/{s['subscriptionId']}" for s in subs.json()["value"])
    ten = arm_get(info, "/tenants", tok).json()["value"]
    assert [t["tenantId"] for t in ten] == [info.tenant_id, info.partner_tenant_id]
    assert ten[0]["id"] == f"/tenants/{info.tenant_id}"
    assert ten[0]["tenantCategory"] == "Home" and ten[0]["defaultDomain"] in ten[0]["domains"]
    r = requests.post(f"{info.arm_url}/providers/Microsoft.ResourceGraph/resources", params={"api-version": ARG_API},
                      json={"query": "resourcecontainers | where type == 'microsoft.resources/subscriptions' "
                                     "| project subscriptionId"},
                      headers={"Authorization": f"Bearer {tok}"}, verify=info.ca_pem, timeout=30)
    assert r.status_code == 200, r.text
    assert sorted(x["subscriptionId"] for x in r.json()["data"]) == sorted(info.subscriptions)
    assert "x-ms-user-quota-remaining" in r.headers


def test_the_static_demo_token_still_works(info) -> None:
    assert arm_get(info, "/subscriptions", info.token).status_code == 200


def test_other_tokens_get_401_with_the_arm_error_body(info, estate) -> None:
    graph = mi_token(info, "https://graph.microsoft.com")  # a real token, for the wrong audience
    expired = estate.identity.issue("https://management.azure.com", time.time() - 2 * 86400)
    foreign = TokenIssuer(info.tenant_id).issue("https://management.azure.com")
    cases = [(graph, "InvalidAuthenticationTokenAudience"), (expired, "ExpiredAuthenticationToken"),
             (foreign, "InvalidAuthenticationToken"), ("not-a-token", "InvalidAuthenticationToken"),
             (None, "AuthenticationFailed")]
    for tok, code in cases:
        for path in ("/subscriptions", "/tenants", f"/subscriptions/{info.subscriptions[0]}"):
            r = arm_get(info, path, tok)
            assert r.status_code == 401, (path, code, r.text)
            assert r.json()["error"]["code"] == code
            assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
        r = requests.post(f"{info.arm_url}/providers/Microsoft.ResourceGraph/resources",
                          params={"api-version": ARG_API}, json={"query": "resources | count"},
                          headers={"Authorization": f"Bearer {tok}"} if tok else {}, verify=info.ca_pem,
                          timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == code


def test_refreshed_tokens_share_one_resource_graph_quota(issuer) -> None:
    """ARG's quota is per principal: a refreshed token does not get a fresh quota."""
    from types import SimpleNamespace

    from tui.emulator.arm import _user_key

    def key(tok: str) -> str:
        return _user_key(SimpleNamespace(headers={"Authorization": f"Bearer {tok}"}))

    a, b = issuer.issue("https://management.azure.com"), issuer.issue("https://management.azure.com/")
    assert a != b and key(a) == key(b)
    assert key(TokenIssuer("00000000-0000-0000-0000-000000000001").issue("https://management.azure.com")) != key(a)
    assert key("static-1") != key("static-2") and key("static-1") == key("static-1")


def test_core_signs_in_through_default_azure_credential(info, estate, monkeypatch) -> None:
    """The production path in-process: no static token; DefaultAzureCredential finds the App Service identity."""
    from tui.core import config as cfg
    from tui.core.azure import AzureSource

    for k in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
              "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", info.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", info.identity_header)
    settings = cfg.AzureSettings(arm_endpoint=info.arm_url, ca_bundle=info.ca_pem, access_token=None, retry_total=1)
    before = estate.identity.issued

    async def go() -> tuple[list[str], str | None]:
        async with AzureSource(settings) as az:
            assert type(az.credential).__name__ == "DefaultAzureCredential"
            return await az.subscriptions()

    subs, tenant = asyncio.run(asyncio.wait_for(go(), 60))
    assert sorted(subs) == sorted(info.subscriptions) and tenant == info.tenant_id
    assert estate.identity.issued > before


def test_estate_info_environments_and_instructions(info) -> None:
    env = info.identity_env()
    assert "MDC_AWS_ACCESS_TOKEN" not in env and env["IDENTITY_ENDPOINT"] == info.identity_endpoint
    assert env["IDENTITY_HEADER"] == info.identity_header and env["MDC_AWS_ARM_ENDPOINT"] == info.arm_url
    assert info.env()["MDC_AWS_ACCESS_TOKEN"] == info.token  # the static path is unchanged
    az = info.az_env()
    assert az["AZURE_CORE_COLLECT_TELEMETRY"] == "false" and az["AZURE_CONFIG_DIR"] == info.azure_config_dir
    assert info.ca_pem  # the az bundle holds the estate's CA (plus public roots when certifi is there)
    with open(az["REQUESTS_CA_BUNDLE"], encoding="utf-8") as fh, open(info.ca_pem, encoding="utf-8") as ca:
        assert ca.read().strip() in fh.read()
    assert info.aws_env()["AWS_ENDPOINT_URL"] == info.aws_url
    assert env["AWS_ACCESS_KEY_ID"] == info.aws_env()["AWS_ACCESS_KEY_ID"]  # one shell can hold both blocks
    assert EstateInfo.from_json(info.to_json()) == info

    text = instructions(info)
    exports = {}
    for line in text.splitlines():
        if line.strip().startswith("export "):
            k, _, v = line.strip()[len("export "):].partition("=")
            exports.setdefault(k, set()).add(shlex.split(v)[0])
    for k, v in {**env, **az, **info.aws_env()}.items():
        assert v in exports[k], k
    assert all(len(vals) == 1 for vals in exports.values()), exports  # pasting every block never contradicts
    for cmd in info.az_setup():
        assert "  " + " ".join(shlex.quote(a) for a in cmd) in text
    assert "az login --identity" in text and "aws sts get-caller-identity" in text
