"""Azure Resource Graph emulation: real KQL (duckdb-kql) over the world's tables, driven by the real
ResourceGraphClient over HTTPS — paging, formats, quota, errors, faults and subscription scoping.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    DeserializationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcegraph.models import Facet, FacetRequestOptions, QueryRequest, QueryRequestOptions

from tui.emulator.arm import ArmEmulator
from tui.emulator.faults import FaultRule, Quota
from tui.emulator.kql import ResourceGraph

from .test_emulator_arm import SUB_A, SUB_B, TENANT, TOKEN, FakeWorld, StaticCred, raw

ASSESSMENTS = "securityresources | where type == 'microsoft.security/assessments'"


@pytest.fixture(scope="module")
def world() -> FakeWorld:
    return FakeWorld(n_assessments=2500)


@pytest.fixture(scope="module")
def rg(world) -> ResourceGraph:
    return ResourceGraph(world)


@pytest.fixture(scope="module")
async def arg_server(world):
    emu = ArmEmulator(world, accepted_tokens={TOKEN})
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def emu(arg_server):
    arg_server.faults.clear()
    arg_server.request_log.clear()
    yield arg_server
    arg_server.faults.clear()


def graph_client(emu, token: str = TOKEN, **kw: Any) -> ResourceGraphClient:
    kw.setdefault("retry_backoff_factor", 0.01)
    return ResourceGraphClient(StaticCred(token), base_url=emu.url, connection_verify=emu.ca_pem_path, **kw)


def run(rg: ResourceGraph, query: str, **body: Any) -> dict:
    status, text = rg.execute({"query": query, **body})
    out = json.loads(text)
    assert status == 200, out
    return out


# ----------------------------------------------------------------------------------------------------------------
# the engine: Microsoft's own queries run through duckdb-kql (no string matching of known queries)

MICROSOFT_QUERIES = {
    "connectors (docs)": """resources
| where type == "microsoft.security/securityconnectors"
| extend source = tostring(properties.environmentName)
| where source == "AWS"
| project name, subscriptionId, resourceGroup, accountId = properties.hierarchyIdentifier, cloud = properties.environmentName""",  # noqa: E501 - Microsoft's query verbatim
    "connector picker (workbook)": """resources
| where type == "microsoft.security/securityconnectors"
| extend environmentName = tolower(tostring(properties['environmentName']))
| extend hierarchyIdentifier = tostring(properties['hierarchyIdentifier'])
| where environmentName == "aws"
| project value = id, label = strcat(hierarchyIdentifier," (",name,")")""",
    "secure score per management group": """SecurityResources
| where type == 'microsoft.security/securescores'
| project subscriptionId,
	subscriptionTotal = iff(properties.score.max == 0, 0.00, round(tolong(properties.weight) * todouble(properties.score.current)/tolong(properties.score.max),2)),
	weight = tolong(iff(properties.weight == 0, 1, properties.weight))
| join kind=leftouter (
	ResourceContainers
	| where type == 'microsoft.resources/subscriptions' and properties.state == 'Enabled'
	| project subscriptionId, mgChain=properties.managementGroupAncestorsChain )
	on subscriptionId
| mv-expand mg=mgChain
| summarize sumSubs = sum(subscriptionTotal), sumWeight = sum(weight), resultsNum = count() by tostring(mg.displayName), mgId = tostring(mg.name)
| extend secureScore = iff(tolong(resultsNum) == 0, 404.00, round(sumSubs/sumWeight*100,2))
| project mgName=mg_displayName, mgId, sumSubs, sumWeight, resultsNum, secureScore
| order by mgName asc""",  # noqa: E501 - Microsoft's query verbatim
    "secure score per subscription": """SecurityResources
| where type == 'microsoft.security/securescores'
| extend percentageScore=properties.score.percentage,
	currentScore=properties.score.current,
	maxScore=properties.score.max,
	weight=properties.weight
| project tenantId, subscriptionId, percentageScore, currentScore, maxScore, weight""",
    "plan pricing tier per subscription": """SecurityResources
| where type == 'microsoft.security/pricings'
| project Subscription= subscriptionId, Azure_Defender_plan= name, Status= properties.pricingTier""",
    "resources per recommendation": """SecurityResources
| where type == 'microsoft.security/assessments'
| extend resourceId=id,
	recommendationId=name,
	resourceType=type,
	recommendationName=properties.displayName,
	source=properties.resourceDetails.Source,
	recommendationState=properties.status.code,
	recommendationSeverity=properties.metadata.severity
| summarize numberOfResources=count(resourceId) by tostring(recommendationName), tostring(recommendationState)""",
    "arc machines (workbook case)": """resources
| where type == 'microsoft.hybridcompute/machines'
| extend state = properties.status
| extend status = case(
    state =~ 'Connected', 'Connected',
    state =~ 'Disconnected', 'Offline',
    state =~ 'Error', 'Error',
    state =~ 'Expired', 'Expired',
    '')
| project name, ComputerName = tostring(properties.osProfile.computerName), OSName = tostring(properties.osName), status""",  # noqa: E501 - Microsoft's query verbatim
    "sub-assessment style extract + ago": """securityresources
| where type =~ "microsoft.security/assessments" and properties.resourceDetails.Source == "Aws"
| extend assessmentKey=extract(@"(?i)providers/Microsoft.Security/assessments/([^/]*)", 1, id)
| where assessmentKey in~ ("C27441AE-775C-45BE-8FFA-655DE37362CE")
| extend connector = tostring(split(id, "/securityentitydata/")[0])
| summarize n = count(), unhealthy = countif(properties.status.code == "Unhealthy") by connector""",
}


@pytest.mark.parametrize("name", list(MICROSOFT_QUERIES))
def test_microsoft_queries_run(rg, name):
    out = run(rg, MICROSOFT_QUERIES[name], options={"$top": 1000})
    assert out["count"] == len(out["data"]) > 0 and out["resultTruncated"] == "false"


def test_query_values_are_computed_not_canned(rg, world):
    by_mg = {r["mgName"]: r for r in run(rg, MICROSOFT_QUERIES["secure score per management group"])["data"]}
    assert by_mg["Security"]["resultsNum"] == 1 and by_mg["Security"]["secureScore"] == 75.0
    assert by_mg["Tenant Root Group"]["resultsNum"] == 2  # one secure score per subscription with data
    rec = run(rg, MICROSOFT_QUERIES["resources per recommendation"], options={"$top": 1000})["data"]
    assert sum(r["numberOfResources"] for r in rec) == world.n_assessments
    expected = Counter((f"Recommendation {i % 3}", ["Healthy", "Unhealthy", "NotApplicable"][i % 7 % 3])
                       for i in range(world.n_assessments))
    assert {(r["recommendationName"], r["recommendationState"]): r["numberOfResources"] for r in rec} == expected
    arc = Counter(r["status"] for r in run(rg, MICROSOFT_QUERIES["arc machines (workbook case)"])["data"])
    assert arc == Counter({"Connected": 16, "Offline": 8, "Expired": 8, "Error": 8})


def test_json_columns_come_back_as_json_values(rg):
    out = run(rg, "resources | where name == 'aws-payments' | project id, properties, tags, "
                  "accountId = properties.hierarchyIdentifier, offerings = properties.offerings, "
                  "n = array_length(properties.offerings), plan = properties.offerings[1].subPlan")
    row = out["data"][0]
    assert isinstance(row["properties"], dict) and row["properties"]["environmentName"] == "AWS"
    assert row["tags"] == {} and row["accountId"] == "111122223333"
    assert isinstance(row["offerings"], list) and row["n"] == 2 and row["plan"] == {"type": "P2"}
    score = run(rg, "securityresources | where type == 'microsoft.security/securescores' | summarize "
                    "s = make_set(name), scores = make_list(properties.score.current)")["data"][0]
    assert score["s"] == ["ascScore"] and sorted(score["scores"]) == [2.0, 7.5]


def test_tables_are_case_insensitive_and_world_clock_drives_ago(rg):
    n1 = run(rg, "SecurityResources | count")["data"][0]["Count"]
    n2 = run(rg, "securityresources | count")["data"][0]["Count"]
    assert n1 == n2 > 2500
    # the manual clock stands at 2026-11-01T00:00Z, the machines changed status then: "recent" by world time
    recent = run(rg, "Resources | where type == 'microsoft.hybridcompute/machines' "
                     "| where todatetime(properties.lastStatusChange) > ago(1h) | count")["data"][0]["Count"]
    assert recent == 40


def test_reload_when_world_version_changes(rg, world):
    loads = rg.store.loads
    assert run(rg, "resources | where name == 'aws-late' | count")["data"][0]["Count"] == 0
    with world.lock:
        c = dict(next(iter(world.security_connectors.values())))
        c["id"] = c["id"].rsplit("/", 1)[0] + "/aws-late"
        c["name"] = "aws-late"
        world.security_connectors[c["id"].lower()] = c
        world.touch()
    try:
        assert run(rg, "resources | where name == 'aws-late' | count")["data"][0]["Count"] == 1
        assert rg.store.loads == loads + 1
        run(rg, "resources | count")
        assert rg.store.loads == loads + 1  # unchanged version: no reload
    finally:
        with world.lock:
            del world.security_connectors[c["id"].lower()]
            world.touch()


def test_errors_are_arg_shaped(rg):
    status, text = rg.execute({"query": "resources | where"})
    err = json.loads(text)["error"]
    assert status == 400 and err["code"] == "BadRequest" and err["message"].startswith("Please provide below info")
    assert [d["code"] for d in err["details"]] == ["InvalidQuery", "ParserFailure"]
    status, text = rg.execute({"query": "resources | summarize make_bag(properties)"})
    assert status == 400 and json.loads(text)["error"]["details"][1]["code"] == "UnsupportedQuery"
    status, text = rg.execute({"query": "resources | project nosuchcolumn"})
    assert status == 400 and json.loads(text)["error"]["details"][1]["code"] == "ParserFailure"
    status, text = rg.execute({"query": ".show tables"})
    assert status == 400
    status, text = rg.execute({"query": "resources", "options": {"resultFormat": "csv"}})
    assert status == 400


def test_facets(rg):
    out = run(rg, ASSESSMENTS + " | project id, subscriptionId, sev = tostring(properties.metadata.severity)",
              options={"$top": 1}, facets=[{"expression": "sev", "options": {"$top": 2, "sortOrder": "desc"}},
                                           {"expression": "nosuch", "options": {}}])
    ok, bad = out["facets"]
    assert ok["resultType"] == "FacetResult" and ok["totalRecords"] == 3 and ok["count"] == 2
    assert all(set(r) == {"sev", "count"} for r in ok["data"])
    assert bad["resultType"] == "FacetError" and bad["errors"]


# ----------------------------------------------------------------------------------------------------------------
# over HTTPS with the real ResourceGraphClient


async def test_sdk_summarize_and_subscription_scope(emu):
    q = ASSESSMENTS + " | summarize n = count() by subscriptionId"
    async with graph_client(emu) as client:
        tenant = await client.resources(QueryRequest(query=q))
        scoped = await client.resources(QueryRequest(subscriptions=[SUB_B.upper()], query=q))
        joined = await client.resources(QueryRequest(subscriptions=[SUB_B], query=(
            "securityresources | where type == 'microsoft.security/securescores' | project subscriptionId "
            "| join kind=inner (resourcecontainers | project subscriptionId, subName = name) on subscriptionId "
            "| join kind=leftouter (resources | summarize machines = count() by subscriptionId) on subscriptionId")))
        mg = await client.resources(QueryRequest(management_groups=["mg-security"], query=q))
    assert {r["subscriptionId"]: r["n"] for r in tenant.data} == {SUB_A: 1500, SUB_B: 1000}
    assert scoped.data == [{"subscriptionId": SUB_B, "n": 1000}] and scoped.result_truncated == "false"
    # 10 machines + 4 connectors
    assert len(joined.data) == 1 and joined.data[0]["subName"] == "Dev" and joined.data[0]["machines"] == 14
    assert mg.data == [{"subscriptionId": SUB_A, "n": 1500}]


async def test_sdk_skip_token_paging_returns_every_row_once_from_one_computation(emu):
    q = ASSESSMENTS + " | project id, name, state = tostring(properties.status.code)"
    ids: list[str] = []
    computed = emu.resource_graph.queries_run
    async with graph_client(emu) as client:
        token = None
        pages = 0
        while True:
            opts = QueryRequestOptions(top=1000, skip_token=token)
            r = await client.resources(QueryRequest(subscriptions=[SUB_A, SUB_B], query=q, options=opts))
            pages += 1
            assert r.total_records == 2500 and r.result_truncated == "false" and r.count == len(r.data)
            ids += [row["id"] for row in r.data]
            token = r.skip_token
            if not token:
                break
    assert pages == 3 and len(ids) == len(set(ids)) == 2500
    assert emu.resource_graph.queries_run == computed + 1  # later pages came from the cached result
    assert len(emu.request_log.matching("ResourceGraph")) == 3


async def test_sdk_no_skip_token_without_id_and_skip_option(emu):
    async with graph_client(emu) as client:
        r = await client.resources(QueryRequest(query=ASSESSMENTS + " | project name",
                                                options=QueryRequestOptions(top=1000)))
        assert r.skip_token is None and r.result_truncated == "true" and r.count == 1000 and r.total_records == 2500
        d = await client.resources(QueryRequest(query=ASSESSMENTS + " | project id | order by id asc",
                                                options=QueryRequestOptions(top=5, skip=10)))
        full = await client.resources(QueryRequest(query=ASSESSMENTS + " | project id | order by id asc",
                                                   options=QueryRequestOptions(top=15)))
    assert [x["id"] for x in d.data] == [x["id"] for x in full.data][10:15]
    assert d.skip_token  # more rows remain and the result has an id column


async def test_sdk_default_top_table_format_and_top_limit(emu):
    async with graph_client(emu) as client:
        default = await client.resources(QueryRequest(query=ASSESSMENTS + " | project id"))
        assert default.count == 100 and default.skip_token
        t = await client.resources(QueryRequest(
            query="resources | where type == 'microsoft.hybridcompute/machines' | project id, name, tags, n = 1",
            options=QueryRequestOptions(top=3, result_format="table")))
        assert [c["name"] for c in t.data["columns"]] == ["id", "name", "tags", "n"]
        assert [c["type"] for c in t.data["columns"]] == ["string", "string", "object", "integer"]
        assert len(t.data["rows"]) == 3 and isinstance(t.data["rows"][0][2], dict)
        with pytest.raises(HttpResponseError) as ei:
            await client.resources(QueryRequest(query="resources", options=QueryRequestOptions(top=1001)))
    assert ei.value.status_code == 400 and ei.value.error.code == "BadRequest"


async def test_sdk_query_errors_and_facets(emu):
    async with graph_client(emu, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as ei:
            await client.resources(QueryRequest(query="securityresources | where properties.status.code =="))
        err = ei.value.error
        assert ei.value.status_code == 400 and err.code == "BadRequest"
        assert [d.code for d in err.details] == ["InvalidQuery", "ParserFailure"]
        f = await client.resources(QueryRequest(
            query=ASSESSMENTS + " | project id, sev = tostring(properties.metadata.severity)",
            facets=[Facet(expression="sev", options=FacetRequestOptions(top=3))]))
    assert f.facets[0].result_type == "FacetResult" and f.facets[0].total_records == 3


async def test_sdk_quota_headers_on_every_response(emu):
    async with graph_client(emu) as client:
        data, headers = await client.resources(QueryRequest(query="resources | count"),
                                               cls=lambda pr, d, h: (d, pr.http_response.headers))
    assert int(headers["x-ms-user-quota-remaining"]) > 1000
    assert headers["x-ms-user-quota-resets-after"] == "00:00:05"
    assert data.data[0]["Count"] > 0


async def test_sdk_quota_throttles_then_retry_after_succeeds(world):
    emu = ArmEmulator(world, accepted_tokens={TOKEN}, quota=Quota(limit=3, window_s=1))
    await emu.start()
    try:
        seen: list[tuple[str, str]] = []
        async with graph_client(emu) as client:
            for _ in range(4):
                _, h = await client.resources(QueryRequest(query="resources | count"),
                                              cls=lambda pr, d, h: (d, pr.http_response.headers))
                seen.append((h["x-ms-user-quota-remaining"], h["x-ms-user-quota-resets-after"]))
        statuses = [r.status for r in emu.request_log.records()]
        assert statuses == [200, 200, 200, 429, 200]  # the SDK waited Retry-After, then the window had reset
        assert [s[0] for s in seen] == ["2", "1", "0", "2"]
        assert seen[0][1] == "00:00:01"
        async with graph_client(emu, retry_total=0) as client:
            for _ in range(2):
                await client.resources(QueryRequest(query="resources | count"))
            with pytest.raises(HttpResponseError) as ei:
                await client.resources(QueryRequest(query="resources | count"))
        resp = ei.value.response
        assert ei.value.status_code == 429 and ei.value.error.code == "RateLimiting"
        assert resp.headers["x-ms-user-quota-remaining"] == "0" and int(resp.headers["Retry-After"]) >= 1
    finally:
        await emu.stop()


async def test_sdk_auth(emu):
    async with graph_client(emu, token="nope", retry_total=0) as client:
        with pytest.raises(ClientAuthenticationError) as ei:
            await client.resources(QueryRequest(query="resources | count"))
    assert ei.value.status_code == 401 and ei.value.error.code == "InvalidAuthenticationToken"
    status, headers, body = await raw(emu, "POST", "/providers/Microsoft.ResourceGraph/resources"
                                                   "?api-version=2022-10-01", token=None,
                                      json_body={"query": "resources | count"})
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed" and TENANT in headers["WWW-Authenticate"]
    assert "x-ms-user-quota-remaining" in headers and "x-ms-user-quota-resets-after" in headers


@pytest.mark.parametrize("kind, extra, errors", [
    ("500", {}, (HttpResponseError,)),
    ("503", {"retry_after_s": 0}, (HttpResponseError,)),
    ("429", {"retry_after_s": 0}, (HttpResponseError,)),
    ("reset", {}, (ServiceResponseError, ServiceRequestError)),
    ("malformed", {"malformed": "truncated"}, (DecodeError,)),
    ("malformed", {"malformed": "shape"}, (DeserializationError,)),
])
async def test_sdk_observes_each_fault(emu, kind, extra, errors):
    emu.faults.add(FaultRule(path_regex="ResourceGraph", kind=kind, times=1, **extra))
    async with graph_client(emu, retry_total=0) as client:
        with pytest.raises(errors):
            await client.resources(QueryRequest(query="resources | count"))
        ok = await client.resources(QueryRequest(query="resources | count"))  # times=1: the next one is clean
    assert ok.data[0]["Count"] > 0
    first = emu.request_log.records()[0]
    assert first.fault and first.fault.startswith(kind)


async def test_sdk_latency_fault_and_server_stays_responsive(emu):
    emu.faults.add(FaultRule(path_regex="ResourceGraph", kind="latency", latency_ms=400, times=1))
    async with graph_client(emu) as client:
        import asyncio

        t0 = time.monotonic()
        slow = asyncio.create_task(client.resources(QueryRequest(query="resources | count")))
        await asyncio.sleep(0.05)
        fast = await client.resources(QueryRequest(query="resources | count"))
        t_fast = time.monotonic() - t0
        await slow
        t_slow = time.monotonic() - t0
    assert fast.data and t_fast < 0.4 <= t_slow


async def test_skip_token_of_another_query_is_rejected(emu):
    async with graph_client(emu, retry_total=0) as client:
        r = await client.resources(QueryRequest(query=ASSESSMENTS + " | project id",
                                                options=QueryRequestOptions(top=10)))
        with pytest.raises(HttpResponseError) as ei:
            await client.resources(QueryRequest(query="resources | project id",
                                                options=QueryRequestOptions(top=10, skip_token=r.skip_token)))
    assert ei.value.status_code == 400


def test_paging_survives_cache_eviction(world):
    rg = ResourceGraph(world, cache_entries=1)
    q = ASSESSMENTS + " | project id | order by id asc"
    first = run(rg, q, options={"$top": 1000})
    rg.clear_cache()
    second = run(rg, q, options={"$top": 1000, "$skipToken": first["$skipToken"]})
    ids = [r["id"] for r in first["data"] + second["data"]]
    assert len(set(ids)) == 2000 and second["$skipToken"]


# ----------------------------------------------------------------------------------------------------------------
# the real World (skipped until tui/emulator/world.py exists)


def test_real_world_tables_load_and_query():
    world_mod = pytest.importorskip("tui.emulator.world")
    from tui.emulator.clock import ManualClock

    world = world_mod.World(seed=42, clock=ManualClock())
    rg = ResourceGraph(world)
    t0 = time.perf_counter()
    counts = {t: run(rg, f"{t} | count")["data"][0]["Count"] for t in ("Resources", "SecurityResources",
                                                                       "ResourceContainers")}
    assert counts["ResourceContainers"] >= len(world.subscriptions)
    assert counts["SecurityResources"] > 0 and counts["Resources"] > 0
    for name, q in MICROSOFT_QUERIES.items():
        status, text = rg.execute({"query": q})
        assert status == 200, (name, text[:500])
    assert time.perf_counter() - t0 < 30


def test_real_world_incremental_update_matches_a_fresh_load():
    world_mod = pytest.importorskip("tui.emulator.world")
    from tui.emulator.clock import ManualClock

    world = world_mod.World(seed=42, clock=ManualClock())
    live = ResourceGraph(world)
    q = ("securityresources | summarize n = count(), unhealthy = countif(properties.status.code == 'Unhealthy') "
         "by type | order by type asc")
    run(live, q)
    for _ in range(3):
        world.advance(1)
        patched = run(live, q, options={"$top": 1000})["data"]
        fresh = run(ResourceGraph(world), q, options={"$top": 1000})["data"]
        assert patched == fresh
        ids = run(live, "resources | summarize n = count(), d = dcount(id)")["data"][0]
        assert ids["n"] == ids["d"]  # no duplicated rows left behind by DELETE + INSERT
    assert live.store.loads == 1 and live.store.updates == 3  # patched in place, never rebuilt


def test_real_world_compliance_scope_filter_in_kql():
    """NOTES §11: Microsoft keeps compliance rows whose properties.scope is empty, Subscription or
    MultiCloudAggregation (case-insensitive). The rule, written in KQL, keeps exactly the subscription-level rows of
    the real World and drops the per-connector copies (scope SecurityConnector)."""
    world_mod = pytest.importorskip("tui.emulator.world")
    from tui.emulator.clock import ManualClock

    world = world_mod.World(seed=42, clock=ManualClock())
    rg = ResourceGraph(world)
    q = ("securityresources | where type startswith 'microsoft.security/regulatorycompliance'"
         " | extend scope = tostring(properties.scope)"
         " | where isempty(scope) or scope =~ 'Subscription' or scope =~ 'MultiCloudAggregation'"
         " | summarize n = count(), noscope = countif(isempty(scope)) by type | order by type asc")
    got = {r["type"]: (r["n"], r["noscope"]) for r in run(rg, q, options={"$top": 1000})["data"]}
    want: Counter = Counter()
    missing: Counter = Counter()
    for r in world.arg_tables()["securityresources"]:
        if not r["type"].startswith("microsoft.security/regulatorycompliance"):
            continue
        scope = str(r["properties"].get("scope") or "")
        if scope.lower() in ("", "subscription", "multicloudaggregation"):
            assert r["id"].startswith(f"/subscriptions/{r['subscriptionId']}/providers/"), r["id"]
            want[r["type"]] += 1
            missing[r["type"]] += not scope
        else:
            assert scope == "SecurityConnector" and "/securityconnectors/" in r["id"].lower()
    assert got == {t: (want[t], missing[t]) for t in want}
    assert all(m for m in missing.values()), "some rows of each kind carry no scope at all"
    copies = run(rg, "securityresources | where type startswith 'microsoft.security/regulatorycompliance' "
                     "| where tostring(properties.scope) == 'SecurityConnector' | count")["data"][0]["Count"]
    assert copies > 0
