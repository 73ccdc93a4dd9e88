"""tui/core/azure.py + arg.py against a small HTTPS stub written here (not the emulator).

The stub is "an Azure endpoint we did not write as the emulator": aiohttp over TLS with a trustme CA, serving
verbatim copies of Microsoft's example payloads (tests/fixtures/azure), a two-page nextLink list, 429s with
Retry-After or only ARG's quota headers, a 403 subscription, a malformed body. The real SDK clients
(azure-mgmt-security, azure-mgmt-resourcegraph, azure-core's aiohttp transport) talk to it over real sockets.
"""
from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pytest
import pytest_asyncio

from tui.core import arg
from tui.core.auth import StaticTokenCredential, make_credential
from tui.core.azure import AzureSource
from tui.core.config import AzureSettings
from tui.core.errors import AuthError, SourceError

trustme = pytest.importorskip("trustme")
from aiohttp import web  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "azure"
TOKEN = "stub-token-123"

SUB_A = "a5caac9c-5c04-49af-b3d0-e204f40345d5"  # the connectors list example's subscription
SUB_B = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"  # the classic connectors / pricings examples' subscription
SUB_DENIED = "11111111-1111-1111-1111-111111111111"
SUB_BROKEN = "22222222-2222-2222-2222-222222222222"
SUB_BUSY = "33333333-3333-3333-3333-333333333333"

FAST = {"retry_backoff_factor": 0.01}  # azure-core retry backoff (Retry-After still honoured)


def example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    at: float
    peer: Any = None  # the client's (host, port): one per TLS connection


class Stub:
    """Routes: "GET /path" (lower-cased, plus "?$skipToken=..." when present) -> replies served in order, the last
    one repeating. ARG (POST .../resources) is answered by `self.arg(request_body) -> Reply`."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.calls: list[Call] = []
        self.arg: Callable[[dict], Reply] | None = None
        self.url = ""

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path.lower()] = list(replies)

    def reset(self) -> None:
        self.routes.clear()
        self.calls.clear()
        self.arg = None

    def arm_calls(self, fragment: str) -> list[Call]:
        return [c for c in self.calls if fragment.lower() in c.path.lower()]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.calls.append(Call(request.method, request.path, dict(request.query), body, dict(request.headers),
                               time.monotonic(), peer))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": {"code": "InvalidAuthenticationToken", "message": "no token"}},
                                     status=401)
        if request.method == "POST" and request.path.lower() == "/providers/microsoft.resourcegraph/resources":
            reply = self.arg(body) if self.arg else Reply(500)
        else:
            key = request.path.lower()
            if "$skipToken" in request.query:
                key += "?$skiptoken=" + request.query["$skipToken"]
            replies = self.routes.get(key)
            if not replies:
                reply = Reply(404, {"error": {"code": "NotFound", "message": f"no route {key}"}})
            else:
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply.body, (dict, list)):
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        text = reply.body if isinstance(reply.body, str) else ""
        return web.Response(text=text, status=reply.status, headers=reply.headers, content_type="application/json")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


@pytest_asyncio.fixture(scope="module")
async def stub(ca):
    authority, _ = ca
    s = Stub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    s.url = f"https://127.0.0.1:{port}"
    yield s
    await runner.cleanup()


@pytest.fixture
def az_settings(stub, ca) -> AzureSettings:
    stub.reset()
    return AzureSettings(arm_endpoint=stub.url, ca_bundle=ca[1], access_token=TOKEN, retry_total=2,
                         timeout_s=10.0, arg_batch_size=2)


def quota(remaining: int, resets: str = "00:00:05") -> dict[str, str]:
    return {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets}


def arg_page(rows: list[dict], *, skip_token: str | None = None, total: int | None = None,
             headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"totalRecords": total if total is not None else len(rows), "count": len(rows),
                            "resultTruncated": "false", "facets": [], "data": rows}
    if skip_token:
        body["$skipToken"] = skip_token
    return Reply(200, body, headers if headers is not None else quota(10))


# ----------------------------------------------------------------------------------------------------------------
# Connectors
# ----------------------------------------------------------------------------------------------------------------


def connectors_routes(stub: Stub) -> None:
    native_a = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorsSubscription_example.json")
    single = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource_example.json")
    classic_b = example("connectors_2020-01-01-preview_GetListConnectorSubscription_example.json")
    base = f"/subscriptions/{SUB_A}/providers/Microsoft.Security/securityConnectors"
    # SUB_A: two pages (page 1 = the single-resource example, page 2 = the verbatim list example)
    stub.route(base, Reply(200, {"value": [single], "nextLink":
                                 f"{stub.url}{base}?api-version=2023-10-01-preview&$skipToken=page2"}))
    stub.route(base + "?$skipToken=page2", Reply(200, native_a))
    stub.route(f"/subscriptions/{SUB_A}/providers/Microsoft.Security/connectors",
               Reply(400, {"error": {"code": "InvalidApiVersion", "message": "retired"}}))
    # SUB_B: no native connectors, the classic list example
    stub.route(f"/subscriptions/{SUB_B}/providers/Microsoft.Security/securityConnectors", Reply(200, {"value": []}))
    stub.route(f"/subscriptions/{SUB_B}/providers/Microsoft.Security/connectors", Reply(200, classic_b))
    # SUB_DENIED: 403 on everything
    denied = Reply(403, {"error": {"code": "AuthorizationFailed",
                                   "message": "The client does not have authorization to perform action"}})
    for p in ("securityConnectors", "connectors", "pricings"):
        stub.route(f"/subscriptions/{SUB_DENIED}/providers/Microsoft.Security/{p}", denied)
    # SUB_BROKEN: a body that is not JSON
    stub.route(f"/subscriptions/{SUB_BROKEN}/providers/Microsoft.Security/securityConnectors",
               Reply(200, '{"value": [ {"id": '))
    stub.route(f"/subscriptions/{SUB_BROKEN}/providers/Microsoft.Security/connectors", Reply(200, {"value": []}))


async def test_connectors_native_classic_paging_and_partial_failure(stub, az_settings) -> None:
    connectors_routes(stub)
    async with AzureSource(az_settings, **FAST) as az:
        data = await az.connectors([SUB_A, SUB_B, SUB_DENIED, SUB_BROKEN, SUB_A.upper()])
    by_name = {c.name: c for c in data.connectors}
    # SUB_A: page 1 (the single-resource example) + page 2 (the list example's two AWS connectors); SUB_B: classic
    assert set(by_name) == {"exampleSecurityConnectorName", "exampleSecurityConnectorAws",
                            "exampleSecurityConnectorAwsOrganization", "aws_dev1", "aws_dev2"}
    assert by_name["exampleSecurityConnectorName"].scan_interval_hours == 4
    assert by_name["exampleSecurityConnectorAwsOrganization"].organization_role == "management"
    assert by_name["aws_dev2"].kind == "classic" and by_name["aws_dev2"].aws_account_id == "81231569658"
    skipped = " | ".join(data.skipped)
    assert "githubTest: Github connector (not AWS)" in skipped and "GCP connector (not AWS)" in skipped
    assert f"subscription {SUB_DENIED}: no access to subscription {SUB_DENIED}" in skipped
    assert "Reader + Security Reader" in skipped
    assert f"subscription {SUB_BROKEN}: Azure sent a malformed response" in skipped
    assert "InvalidApiVersion" not in skipped  # the retired classic API answering 400 is not noise
    # the SDK followed the absolute nextLink, on our host, with the api-version, and authenticated every call
    native_calls = stub.arm_calls(f"/subscriptions/{SUB_A}/providers/Microsoft.Security/securityConnectors")
    assert [c.query.get("$skipToken") for c in native_calls] == [None, "page2"]
    assert all(c.query["api-version"] == "2023-10-01-preview" for c in native_calls)
    classic_calls = stub.arm_calls(f"/subscriptions/{SUB_B}/providers/Microsoft.Security/connectors")
    assert classic_calls[0].query["api-version"] == "2020-01-01-preview"
    assert all(c.headers["User-Agent"].startswith("azsdk-python-mgmt-security") for c in native_calls)
    assert len(stub.arm_calls(SUB_A + "/providers/Microsoft.Security/securityConnectors")) == 2  # deduped subs


async def test_connectors_all_subscriptions_failing_raise(stub, az_settings) -> None:
    connectors_routes(stub)
    async with AzureSource(az_settings, **FAST) as az:
        with pytest.raises(AuthError) as ei:
            await az.connectors([SUB_DENIED])
    assert "no access to subscription" in str(ei.value) and ei.value.kind == "auth"


async def test_next_link_to_another_host_is_refused(stub, az_settings) -> None:
    base = f"/subscriptions/{SUB_A}/providers/Microsoft.Security/securityConnectors"
    stub.route(base, Reply(200, {"value": [], "nextLink": "https://evil.example.com/steal?api-version=1"}))
    stub.route(f"/subscriptions/{SUB_A}/providers/Microsoft.Security/connectors", Reply(200, {"value": []}))
    async with AzureSource(az_settings, **FAST) as az:
        with pytest.raises(SourceError) as ei:
            await az.connectors([SUB_A])
    assert "refusing to send the token" in str(ei.value)


# ----------------------------------------------------------------------------------------------------------------
# Pricings, retries, error mapping
# ----------------------------------------------------------------------------------------------------------------


async def test_pricings_with_a_429_then_200_and_a_denied_subscription(stub, az_settings) -> None:
    body = example("pricings_2024-01-01_ListPricings_example.json")
    path = f"/subscriptions/{SUB_B}/providers/Microsoft.Security/pricings"
    stub.route(path, Reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
                           {"Retry-After": "1"}), Reply(200, body))
    stub.route(f"/subscriptions/{SUB_DENIED}/providers/Microsoft.Security/pricings",
               Reply(403, {"error": {"code": "AuthorizationFailed", "message": "no"}}))
    async with AzureSource(az_settings, **FAST) as az:
        plans = await az.pricings([SUB_B, SUB_DENIED])
    calls = stub.arm_calls(path)
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 0.9  # Retry-After honoured by azure-core
    assert calls[0].query["api-version"] == "2024-01-01"
    assert {p.name for p in plans.pricings} >= {"VirtualMachines", "CloudPosture", "Containers"}
    assert all(p.subscription_id == SUB_B for p in plans.pricings)
    assert list(plans.pricing_errors) == [SUB_DENIED]
    assert "Reader + Security Reader" in plans.pricing_errors[SUB_DENIED]


async def test_throttled_after_retries_and_server_errors(stub, az_settings) -> None:
    stub.route(f"/subscriptions/{SUB_BUSY}/providers/Microsoft.Security/pricings",
               Reply(429, {"error": {"code": "TooManyRequests", "message": "slow"}}, {"retry-after-ms": "20"}))
    stub.route(f"/subscriptions/{SUB_BROKEN}/providers/Microsoft.Security/pricings",
               Reply(503, {"error": {"code": "ServiceUnavailable", "message": "down"}}))
    s = replace(az_settings, retry_total=1)
    async with AzureSource(s, **FAST) as az:
        with pytest.raises(SourceError) as busy:
            await az.pricings([SUB_BUSY])
        with pytest.raises(SourceError) as down:
            await az.pricings([SUB_BROKEN])
    assert busy.value.kind == "throttled" and busy.value.retry_after == pytest.approx(0.02)
    assert len(stub.arm_calls(SUB_BUSY)) == 2  # 1 try + 1 retry
    assert down.value.kind == "server" and "ServiceUnavailable" in str(down.value)


async def test_bad_token_is_an_auth_error(stub, az_settings) -> None:
    s = replace(az_settings, access_token="not-the-token")
    async with AzureSource(s, **FAST) as az:
        with pytest.raises(AuthError) as ei:
            await az.pricings([SUB_B])
    assert "az login" in str(ei.value) and "MDC_AWS_ACCESS_TOKEN" in str(ei.value)


async def test_expired_static_jwt_fails_before_any_request(stub, az_settings) -> None:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) - 600, "tid": "t"}).encode()).decode()
    s = replace(az_settings, access_token=f"e30.{payload.rstrip('=')}.sig")
    async with AzureSource(s, **FAST) as az:
        with pytest.raises(AuthError) as ei:
            await az.pricings([SUB_B])
    assert "expired 10 min ago" in str(ei.value)
    assert stub.calls == []


async def test_tls_and_network_errors_say_what_to_check(stub, az_settings) -> None:
    no_ca = replace(az_settings, ca_bundle=None)
    async with AzureSource(no_ca, **FAST) as az:
        with pytest.raises(SourceError) as tls:
            await az.pricings([SUB_B])
    assert tls.value.kind == "network" and "--ca-bundle" in str(tls.value)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = replace(az_settings, arm_endpoint=f"https://127.0.0.1:{port}", retry_total=0)
    async with AzureSource(closed, **FAST) as az:
        with pytest.raises(SourceError) as net:
            await az.connectors([SUB_A])
    assert net.value.kind == "network" and f"cannot reach 127.0.0.1:{port}" in str(net.value)
    assert "--arm-endpoint" in str(net.value)


# ----------------------------------------------------------------------------------------------------------------
# Resource Graph: paging, batching, quota pacing, 429, malformed
# ----------------------------------------------------------------------------------------------------------------


def arc_row(i: int, sub: str = SUB_A) -> dict:
    return {"id": f"/subscriptions/{sub}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/i-{i:04d}",
            "name": f"i-{i:04d}", "subscriptionId": sub, "resourceGroup": "rg", "status": "Connected",
            "accountId": "123456789012", "instanceId": f"i-{i:04d}", "connector": "true",
            "lastStatusChange": "", "osName": "linux"}


async def test_arg_pages_batches_and_paces_on_quota(stub, az_settings) -> None:
    def answer(body: dict) -> Reply:
        subs = body.get("subscriptions")
        token = (body.get("options") or {}).get("$skipToken")
        if subs == [SUB_A, SUB_B]:
            if token is None:  # page 1: the quota is spent -> the next call waits for the reset
                return arg_page([arc_row(1), arc_row(2)], skip_token="t2", total=3, headers=quota(0, "00:00:01"))
            assert token == "t2"
            return arg_page([arc_row(3), {"junk": True}], total=3, headers=quota(14))
        assert subs == [SUB_BUSY]
        return arg_page([arc_row(9, SUB_BUSY)], headers=quota(13))

    stub.arg = answer
    progress: list[tuple[int, int, int | None]] = []
    async with AzureSource(az_settings, **FAST) as az:
        machines = await az.arc_machines([SUB_A, SUB_B, SUB_BUSY])
        rows = await az.graph.query(arg.ARC_MACHINES_QUERY, [SUB_A, SUB_B, SUB_BUSY],
                                    progress=lambda *a: progress.append(a))
        waited = az.graph.pacer.waited_s
    assert [m.name for m in machines] == ["i-0001", "i-0002", "i-0003", "i-0009"]  # the junk row skipped
    assert len(rows) == 5 and progress[-1][0] == 3 and progress[-1][1] == 5
    arg_calls = stub.arm_calls("Microsoft.ResourceGraph")
    first = arg_calls[0]
    assert first.query["api-version"] == "2021-03-01"
    assert first.body["query"] == arg.ARC_MACHINES_QUERY
    assert first.body["options"]["$top"] == 1000 and first.body["options"]["resultFormat"] == "objectArray"
    assert first.body["subscriptions"] == [SUB_A, SUB_B]  # batches of arg_batch_size=2
    assert arg_calls[1].at - arg_calls[0].at >= 0.9  # waited for x-ms-user-quota-resets-after
    assert waited > 0
    # one TLS connection for every page: azure-core's new SSL context per request (a CA bundle is set) would open
    # one each and keep them all open (~125 connections, ~75 MB for the large estate's recommendations)
    assert len(arg_calls) == 6 and len({c.peer for c in arg_calls}) == 1


async def test_arg_429_with_only_quota_headers_is_retried_at_the_reset(stub, az_settings) -> None:
    replies = [Reply(429, {"error": {"code": "RateLimiting", "message": "quota"}}, quota(0, "00:00:01")),
               arg_page([{"connectorId": "/SUBSCRIPTIONS/X/resourcegroups/r/providers/microsoft.security/"
                                         "securityconnectors/C", "unhealthy_high": "7", "healthy_high": 0,
                          "total": 7}])]
    stub.arg = lambda body: replies.pop(0) if len(replies) > 1 else replies[0]
    async with AzureSource(az_settings, **FAST) as az:
        counts = await az.recommendation_counts([SUB_A])
    calls = stub.arm_calls("Microsoft.ResourceGraph")
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 0.9
    assert [(c.connector_id, c.severity, c.count) for c in counts] == [
        ("/subscriptions/x/resourcegroups/r/providers/microsoft.security/securityconnectors/c", "High", 7)]


async def test_arg_throttled_after_retries_and_malformed(stub, az_settings) -> None:
    stub.arg = lambda body: Reply(429, {"error": {"code": "RateLimiting", "message": "quota"}},
                                  {"Retry-After": "0", **quota(0, "00:00:00")})
    s = replace(az_settings, retry_total=1)
    async with AzureSource(s, **FAST) as az:
        with pytest.raises(SourceError) as ei:
            await az.compliance([SUB_A])
        stub.arg = lambda body: Reply(200, "{not json", quota(10))
        with pytest.raises(SourceError) as bad:
            await az.arc_machines([SUB_A])
        stub.arg = lambda body: Reply(200, {"totalRecords": 1, "count": 1, "resultTruncated": "false",
                                            "data": "oops"}, quota(10))
        with pytest.raises(SourceError) as nodata:
            await az.arc_machines([SUB_A])
        stub.arg = lambda body: Reply(400, {"error": {"code": "BadRequest", "message": "Please provide below info",
                                                      "details": [{"code": "InvalidQuery",
                                                                   "message": "Query is invalid"}]}})
        with pytest.raises(SourceError) as kql:
            await az.arc_machines([SUB_A])
    assert ei.value.kind == "throttled"
    assert bad.value.kind == "malformed" and nodata.value.kind == "malformed"
    assert "Query is invalid" in str(kql.value) and "bug in mdc-aws" in str(kql.value)


async def test_arg_truncated_result_is_an_error_not_a_silent_partial(stub, az_settings) -> None:
    stub.arg = lambda body: Reply(200, {"totalRecords": 1500, "count": 1000, "resultTruncated": "true",
                                        "data": [{"standard": "AWS-CIS-1.2.0"}] * 1000}, quota(10))
    async with AzureSource(az_settings, **FAST) as az:
        with pytest.raises(SourceError) as ei:
            await az.compliance([SUB_A])
    assert "1000 of 1500 rows" in str(ei.value)


async def test_subscriptions_from_arg_at_tenant_scope(stub, az_settings) -> None:
    def answer(body: dict) -> Reply:
        assert "subscriptions" not in body or not body["subscriptions"]  # tenant scope
        assert body["query"] == arg.SUBSCRIPTIONS_QUERY
        return arg_page([
            {"id": f"/subscriptions/{SUB_A}", "subscriptionId": SUB_A, "name": "A", "tenantId": "tenant-1",
             "state": "Enabled"},
            {"id": f"/subscriptions/{SUB_B}", "subscriptionId": SUB_B.upper(), "name": "B", "tenantId": "tenant-1",
             "state": "Warned"},
            {"id": f"/subscriptions/{SUB_DENIED}", "subscriptionId": SUB_DENIED, "name": "old",
             "tenantId": "tenant-2", "state": "Disabled"},
        ])

    stub.arg = answer
    async with AzureSource(az_settings, **FAST) as az:
        subs, tenant = await az.subscriptions()
    assert subs == [SUB_A, SUB_B] and tenant == "tenant-1"
    stub.arg = lambda body: arg_page([])
    async with AzureSource(az_settings, **FAST) as az:
        with pytest.raises(AuthError) as ei:
            await az.subscriptions()
    assert "--subscription" in str(ei.value)


async def test_configured_subscriptions_learn_their_tenant_from_arg(stub, az_settings) -> None:
    # review finding 1: --subscription still asks Resource Graph which tenant each given subscription belongs to
    # (scoped to those ids), so a Lighthouse-delegated one is labelled with its customer's tenant
    def answer(body: dict) -> Reply:
        assert sorted(body["subscriptions"]) == sorted([SUB_A, SUB_B]) and body["query"] == arg.SUBSCRIPTIONS_QUERY
        return arg_page([{"id": f"/subscriptions/{SUB_A}", "subscriptionId": SUB_A.upper(), "name": "A",
                          "tenantId": "Tenant-1", "state": "Enabled"}])

    stub.arg = answer
    s = replace(az_settings, subscriptions=(SUB_A.upper(), SUB_B))
    async with AzureSource(s, **FAST) as az:
        subs, tenant = await az.subscriptions()
        # every given id is kept (one it cannot see fails in each section with what to do); the token names no
        # tenant here, so the snapshot's is the one the given subscriptions belong to
        assert subs == [SUB_A, SUB_B] and tenant == "tenant-1"
        assert az.subscription_tenants == {SUB_A: "tenant-1"} and az.tenant_of(SUB_A) == "tenant-1"
    assert len(stub.calls) == 1
    stub.arg = lambda body: Reply(400, {"error": {"code": "BadRequest", "message": "no"}})
    async with AzureSource(s, **FAST) as az:  # a failed look-up only loses the labels, never the subscriptions
        subs, tenant = await az.subscriptions()
    assert subs == [SUB_A, SUB_B] and tenant is None


# ----------------------------------------------------------------------------------------------------------------
# Regulatory compliance: Microsoft's examples and rows shaped as NOTES section 11, answered by real KQL
# ----------------------------------------------------------------------------------------------------------------

MCSB, CIS1, PCI32, ISO = ("Microsoft-cloud-security-benchmark", "CIS-AWS-Foundations-v1.2.0", "PCI-DSS-3.2",
                          "ISO-27001")


def compliance_estate() -> dict[str, list[dict]]:
    """SUB_A: Microsoft's connector examples (AWS x3, all "exampleHierarchyId"; Github x2; GCP), MCSB (scope
    MultiCloudAggregation) and the renamed CIS (no scope key), per-connector copies with contrary states.
    SUB_B: Microsoft's compliance examples verbatim (PCI-DSS-3.2 with lower-case control states, failed /
    skipped / unsupported; ISO-27001, AZURE-CIS, SOC-TSP), the Azure assessment example, and a native AWS connector
    (account 210987654321) with no assignment; PCI-DSS-3.2 is about AWS only because the key of its 1.1 assessment
    is an AWS assessment's in SUB_A (another subscription, so another batch at batch size 1).
    SUB_BUSY: Azure only (no AWS connector), MCSB failing everywhere with an Azure key."""
    from tests import compliance_rows as cr

    listed = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorsSubscription_example.json")["value"]
    single = example("securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource_example.json")
    conns = {i["name"]: cr.arg_row(i, cr.CONNECTOR_T) for i in [*listed, single]}
    aws_a, aws_name, gcp = (conns[n]["id"] for n in ("exampleSecurityConnectorAws", "exampleSecurityConnectorName",
                                                     "exampleSecurityConnectorGcp"))
    rows = [*conns.values(), cr.connector(SUB_B, "aws-b", "210987654321")]
    for f, t in (("regulatoryCompliance_2019-01-01-preview_getRegulatoryComplianceStandardList_example.json",
                  cr.STANDARD_T),
                 ("regulatoryCompliance_2019-01-01-preview_getRegulatoryComplianceControlList_example.json",
                  cr.CONTROL_T),
                 ("regulatoryCompliance_2019-01-01-preview_getRegulatoryComplianceAssessmentList_example.json",
                  cr.RC_ASSESSMENT_T)):
        rows += [cr.arg_row(i, t) for i in example(f)["value"]]
    rows.append(cr.arg_row(example("assessments_2021-06-01_GetAssessment_example.json"), cr.ASSESSMENT_T))
    rows += [cr.aws_assessment(aws_a, "k-iam-1"), cr.aws_assessment(aws_a, "k-s3-1", source_key="source", source="aws"),
             cr.aws_assessment(aws_a, "968548cb-02b3-8cd2-11f8-0cf64ab1a347")]
    pa = f"/subscriptions/{SUB_A}"
    for std, scope, ctls in ((MCSB, "MultiCloudAggregation", [("NS-1", "Failed", "k-s3-1"),
                                                              ("NS-2", "Passed", "k-iam-1"),
                                                              ("IM-1", "Unsupported", None),
                                                              ("LT-1", "skipped", None)]),
                             (CIS1, cr.MISSING, [("1.1", "passed", "k-iam-1"), ("1.2", "Passed", None)])):
        rows.append(cr.standard(pa, std, scope=scope))
        for ctl, state, key in ctls:
            rows.append(cr.control(pa, std, ctl, state, scope=scope))
            if key:
                rows.append(cr.rc_assessment(pa, std, ctl, key, state=state, scope=scope))
    for cid, stds in ((aws_a, (MCSB, CIS1)), (aws_name, (MCSB, ISO)), (gcp, ("GCP-CIS",))):
        for std in stds:
            rows += [cr.standard(cid, std, scope="SecurityConnector"),
                     cr.control(cid, std, "NS-2", "Failed", scope="SecurityConnector"),
                     cr.control(cid, std, "ZZ-copy-only", "Failed", scope="SecurityConnector"),
                     cr.rc_assessment(cid, std, "ZZ-copy-only", "k-iam-1", scope="SecurityConnector")]
    pb = f"/subscriptions/{SUB_BUSY}"
    rows.append(cr.standard(pb, MCSB, scope="Subscription"))
    for ctl in ("NS-2", "LT-1", "AZ-9"):
        rows += [cr.control(pb, MCSB, ctl, "Failed"),
                 cr.rc_assessment(pb, MCSB, ctl, "21300918-b2e3-0346-785f-c77ff57d243b")]
    return cr.tables(rows)


@pytest.mark.parametrize("batch_size", [300, 2, 1])
async def test_compliance_from_microsoft_examples_and_section_11_rows(stub, az_settings, batch_size) -> None:
    from tests import compliance_rows as cr

    tables = compliance_estate()
    graph = cr.ArgOverRows(tables)

    def answer(body: dict) -> Reply:
        status, doc = graph.answer(body)
        return Reply(status, doc, quota(10))

    stub.arg = answer
    subs = [SUB_A, SUB_B, SUB_BUSY]
    s = replace(az_settings, arg_batch_size=batch_size, arg_page_size=2)  # the assignments come in pages of 2
    async with AzureSource(s, **FAST) as az:
        data = await az.compliance(subs)
        pci = await az.compliance_controls(subs, "pci-dss-3.2")
        mcsb = await az.compliance_controls(subs, MCSB)
        failing = await az.compliance_failing_assessments(subs, PCI32, "1.1")
    got = {x.name: (x.passed_controls, x.failed_controls, x.skipped_controls, x.unsupported_controls)
           for x in data.standards}
    assert got == {  # AZURE-CIS, SOC-TSP (Azure only) and the GCP copy are not AWS; SUB_BUSY is not counted
        MCSB: (1, 1, 1, 1),
        CIS1: (2, 0, 0, 0),
        PCI32: (0, 1, 1, 1),  # Microsoft's rows: "failed", "skipped", "unsupported"
        ISO: (0, 0, 0, 0),  # assigned on an AWS connector, no control row where AWS is
    }
    assert {a: list(v) for a, v in data.assigned.items()} == {"exampleHierarchyId": [CIS1, ISO, MCSB]}
    assert cr.figures(data) == cr.reference(tables, subs)
    assert [(c.name, c.state) for c in pci] == [("1.1", "Failed"), ("2", "Skipped"), ("2.1", "Unsupported")]
    assert pci[0].description == "Common Criteria Related to Organization and Management."
    assert [(c.name, c.state) for c in mcsb] == [("IM-1", "Unsupported"), ("LT-1", "Skipped"), ("NS-1", "Failed"),
                                                 ("NS-2", "Passed")]  # no copy's control, no Azure-only failure
    assert failing == ["968548cb-02b3-8cd2-11f8-0cf64ab1a347"]
    calls = stub.arm_calls("Microsoft.ResourceGraph")
    paged = [c for c in calls if c.body["query"] == arg.COMPLIANCE_ASSIGNMENTS_QUERY]
    assert len(paged) >= 2 and any((c.body["options"] or {}).get("$skipToken") for c in paged)  # 4 AWS copies, 2 a page
    assert all(c.body["options"]["$top"] == 1000 for c in calls if c not in paged)  # the rest cannot page
    several = batch_size < 3
    assert any(c.body["query"] == arg.COMPLIANCE_CONTROL_STATES_QUERY for c in calls) == several
    assert any(c.body["query"] == arg.COMPLIANCE_QUERY for c in calls) == (not several)


async def test_make_credential_static_and_default() -> None:
    cred = make_credential(AzureSettings(access_token="Bearer abc"))
    assert isinstance(cred, StaticTokenCredential)
    async with cred:
        tok = await cred.get_token("https://management.azure.com/.default")
        info = await cred.get_token_info("whatever/.default")
    assert tok.token == "abc" and info.token == "abc" and tok.expires_on > time.time()
    assert "abc" not in repr(cred)
    default = make_credential(AzureSettings())
    assert type(default).__name__ == "DefaultAzureCredential"
    await default.close()
    with pytest.raises(AuthError):
        StaticTokenCredential("  ")
