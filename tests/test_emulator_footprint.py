"""The estate's footprint (issue 15, point 6) and the million scale (point 5): what changed to hold less must serve
the same bytes, and the million scale must hold its count. No timing or memory assertion (benchmarks.estaterss
measures the RSS)."""
from __future__ import annotations

import json

import pytest

from tui.emulator.kql import ArgStore, QueryResult, ResourceGraph, share_json_parses

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


# ---- one JSON parse per operator (kql.share_json_parses): the same answers as the translation as written

_TRICKY = [
    # a column redefined, then read at several paths: the rewrite reads whatever `properties` holds there
    "securityresources | where type == 'microsoft.security/assessments' | take 50"
    " | extend properties = pack('a', tostring(properties.status.code), 'b', tostring(properties.displayName))"
    " | project id, a = tostring(properties.a), b = tostring(properties.b), c = tostring(properties.status.code)",
    # both sides of a join read properties at several paths; the right side's is properties1
    "securityresources | where type == 'microsoft.security/assessments' | take 200"
    " | extend rid = tolower(tostring(properties.resourceDetails.AzureResourceId)),"
    " s = tostring(properties.status.code)"
    " | join kind=leftouter (resources | project rid = tolower(id), p = tostring(properties.status),"
    " q = tostring(properties.osName)) on rid"
    " | project id, s, p, q, t = tostring(properties.metadata.severity)",
    # a string literal that spells the SQL the rewrite looks for is data, not a call
    "securityresources | take 3 | extend x = 'json_extract(\"properties\", \\'$.a\\')',"
    " a = tostring(properties.displayName), b = tostring(properties.status.code) | project id, x, a, b",
    # tags and properties, arrays and a missing key
    "resources | extend a = tostring(tags['AccountId']), b = tostring(tags.InstanceId), c = properties.osProfile,"
    " d = tostring(properties.cloudMetadata.provider), e = tostring(properties.nope.nothing)"
    " | project id, a, b, c, d, e",
]


def _core_queries() -> list[str]:
    from tui.core import arg

    return [arg.RECOMMENDATIONS_QUERY, arg.RECOMMENDATION_COUNTS_QUERY, arg.ARC_MACHINES_QUERY,
            arg.COMPLIANCE_QUERY, arg.COMPLIANCE_ASSIGNMENTS_QUERY, arg.AWS_STANDARDS_QUERY]


def _sql(store, cur, kql_text: str) -> str:
    import duckdb_kql

    from tui.emulator.kql import _normalise_tables

    text, _ = _normalise_tables(kql_text, set(store.current.tables))
    sql, _values = duckdb_kql.kql(cur, text, allow_write=False)._statement()
    return sql


@pytest.mark.parametrize("which", ["core", "tricky"])
def test_shared_parses_answer_what_the_translation_does(estate, which):
    store = estate.arm.resource_graph.store
    store.snapshot()
    cur = store.current.con.cursor()
    cur.execute("USE arg")
    rewritten = 0
    for q in (_core_queries() if which == "core" else _TRICKY):
        sql = _sql(store, cur, q)
        shared = share_json_parses(sql)
        if shared != sql:
            rewritten += 1
            assert shared.count("json_extract(") < sql.count("json_extract(") or "json_extract(" in sql
        want = cur.execute(sql).fetchall()
        got = cur.execute(shared).fetchall()
        if "summarize" in q:  # no order promised for groups: the same rows
            want, got = sorted(map(repr, want)), sorted(map(repr, got))
        assert got == want and len(want) > 0, q
    assert rewritten >= (4 if which == "core" else 3)


def test_share_json_parses_rewrites_calls_only():
    one = """SELECT json_extract("properties", '$.a') FROM t"""
    assert share_json_parses(one) == one  # one path: nothing to share
    sql = ("""SELECT json_extract("properties", '$.a') ->> '$' AS "a", 'json_extract("properties", ''$.z'')' AS s, """
           """json_extract("properties", '$.b') AS "b", json_extract("properties", '$.c[*]') AS w, """
           """json_extract("tags", '$.k') AS k FROM t WHERE json_extract("properties", '$.a') IS NOT NULL""")
    assert share_json_parses(sql) == (
        """SELECT json_extract("properties", ['$.a', '$.b'])[1] ->> '$' AS "a", """
        """'json_extract("properties", ''$.z'')' AS s, json_extract("properties", ['$.a', '$.b'])[2] AS "b", """
        """json_extract("properties", '$.c[*]') AS w, json_extract("tags", '$.k') AS k FROM t """
        """WHERE json_extract("properties", ['$.a', '$.b'])[1] IS NOT NULL""")


def test_load_in_parts_is_the_same_table(estate, monkeypatch):
    world = estate.world
    whole = ArgStore(world)
    monkeypatch.setattr(ArgStore, "LOAD_PART_ROWS", 10**9)
    a = whole.snapshot()
    monkeypatch.setattr(ArgStore, "LOAD_PART_ROWS", 997)  # many parts, the last one short
    parts = ArgStore(world)
    b = parts.snapshot()
    if a.version != b.version:  # the clock moved between the two loads: once more
        a = whole.snapshot()
    assert a.version == b.version and a.row_counts == b.row_counts
    assert b.row_counts["securityresources"] > 997 * 3

    def content(snap, table):
        cur = snap.con.cursor()
        cur.execute("USE arg")
        return cur.execute(f'SELECT count(*), md5(string_agg(to_json(struct_pack(*COLUMNS(*)))::VARCHAR, chr(10) '
                           f'ORDER BY rowid)) FROM "{table}"').fetchone()

    for table in a.tables:
        assert content(a, table) == content(b, table), table
