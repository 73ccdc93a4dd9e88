"""The estate's footprint (issue 15, point 6) and the million scale (point 5): what changed to hold less must serve
the same bytes, and the million scale must hold its count. No timing or memory assertion (benchmarks.estaterss
measures the RSS)."""
from __future__ import annotations

import json

import pytest

from tui.emulator.kql import QueryResult, ResourceGraph

AWS_ROWS = """securityresources
| where type == 'microsoft.security/assessments'
| where tostring(properties.resourceDetails.Source) =~ 'aws'
| project id, name, title = tostring(properties.displayName), status = properties.status, properties
| order by id asc"""


def _copy(res: QueryResult) -> QueryResult:
    return QueryResult(list(res.columns), list(res.types), list(res.rows))


def test_packed_result_serves_the_same_bytes(estate):
    res = estate.arm.resource_graph.store.run(AWS_ROWS)
    n = len(res)
    assert n > ResourceGraph.PACK_ROWS  # the default estate's AWS rows page, so they are cached packed
    plain = _copy(res)
    assert res.pack() and res.plain_rows == 0 and res.packed_bytes > 0 and len(res) == n
    for start, stop in ((0, 1), (0, 1000), (511, 1537), (n - 3, n + 10), (n, n)):
        assert res.object_array_json(start, stop) == plain.object_array_json(start, stop)
        assert res.table_json(start, stop) == plain.table_json(start, stop)
    assert res.records(0, 5) == plain.records(0, 5)


def test_pages_through_the_cache_are_the_unpacked_result(estate):
    rg = estate.arm.resource_graph
    full = rg.store.run(AWS_ROWS)
    expected = json.loads(full.object_array_json(0, len(full)))
    body: dict = {"query": AWS_ROWS, "options": {"$top": 1000}}
    got: list = []
    for _ in range(100):
        status, text = rg.execute(body)
        assert status == 200
        page = json.loads(text)
        got += page["data"]
        token = page.get("$skipToken")
        if not token:
            break
        body = {**body, "options": {"$top": 1000, "$skipToken": token}}
    assert got == expected and len({r["id"] for r in got}) == len(got)


def test_result_packed_as_it_streams_is_the_plain_result(estate):
    store = estate.arm.resource_graph.store
    plain = store.run(AWS_ROWS)
    n = len(plain)
    for pack_over in (10, 511, n - 1):  # blocks of 512 rows: a first fetch shorter, equal-ish and longer than one
        streamed = store.run(AWS_ROWS, pack_over=pack_over)
        assert streamed.plain_rows == 0 and len(streamed) == n and streamed.columns == plain.columns
        assert streamed.object_array_json(0, n) == plain.object_array_json(0, n)
        assert streamed.table_json(500, n) == plain.table_json(500, n)
    small = store.run(AWS_ROWS, pack_over=n)  # not over: the rows as they are, all of them
    assert small.plain_rows == n and small.rows == plain.rows
    settings = dict(store.current.con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name = 'allocator_background_threads'").fetchall())
    assert settings == {"allocator_background_threads": "true"}  # freed memory goes back to the system


def test_pack_keeps_rows_with_a_separator_inside():
    # a JSON column's text is spliced verbatim: a raw control byte there must not be taken for a separator
    rows = [("a\x00b",)] * 3 + [("c\x01",)]
    res = QueryResult(["x"], ["JSON"], list(rows))
    assert res.pack() is False and res.rows == rows and res.plain_rows == 4
    assert res.table_json(0, 4) == ('{"columns":[{"name":"x","type":"object"}],"rows":'
                                    '[[a\x00b],[a\x00b],[a\x00b],[c\x01]]}')


def test_cache_counts_packed_results_by_bytes(estate):
    rg = ResourceGraph(estate.world, cache_rows=100, cache_bytes=1 << 30)
    body = {"query": AWS_ROWS, "options": {"$top": 5}}
    status, text = rg.execute(body)
    assert status == 200
    token = json.loads(text)["$skipToken"]
    status, _ = rg.execute({"query": "resourcecontainers | project id", "options": {"$top": 1}})
    # the packed result (thousands of rows) is not held against cache_rows: its pages still come from the cache
    before = rg.queries_run
    status, text = rg.execute({**body, "options": {"$top": 5, "$skipToken": token}})
    assert status == 200 and rg.queries_run == before
    rg.cache_bytes = 1  # now over the byte budget: evicted (the newest entry always stays)
    rg.execute({"query": "resourcecontainers | project id, name", "options": {"$top": 1}})
    rg._evict()
    assert all(e.result.packed_bytes == 0 for e in rg._cache.values())


def test_native_assessment_count_is_what_the_tables_hold(estate):
    world = estate.world
    with world.lock:
        n = world.native_assessment_count()
        truth = world._current_truth()
    assert n == sum(truth.conn_rows.values()) > 0


def test_million_scale_counts_without_building_rows():
    from tui.emulator.world import SCALES, World

    assert "million" in SCALES
    million = World(42, "million")
    n = million.native_assessment_count()
    assert 1_000_000 <= n < 1_100_000
    large = World(42, "large")
    # the same accounts, instances and ids as the large estate: only the synthetic resources per account grow
    assert [a.account_id for a in million.aws_accounts] == [a.account_id for a in large.aws_accounts]
    assert [i.spec.instance_id for i in million._insts] == [i.spec.instance_id for i in large._insts]
    assert large.native_assessment_count() < n // 5


@pytest.mark.parametrize("argv", [["serve", "--scale", "million", "--help"]])
def test_million_is_a_choice_of_serve(argv, capsys):
    from tui.emulator.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
