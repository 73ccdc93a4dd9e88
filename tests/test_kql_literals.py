"""Values reach KQL as literals (issue 10, item 5: queries built safely).

Every value the app splices into KQL (standard, control, connector id, severity, status) goes through
`arg.kql_format`: one pass over `{name}` placeholders, each filled with `arg.kql_string`. Here hostile names
(quotes, backslashes, braces spelling other placeholders, CR/LF, `|`, comments, verbatim and multi-line string
openers, KQL keywords, Unicode) must:

- lex as ONE string token, both by Microsoft's grammar (KqlTokens.g4, as a regular expression) and by duckdb-kql's
  lexer, and decode to exactly the value on duckdb-kql (`print`, and `==` over a table holding it and decoys);
- through the app's own query builders, run on the emulator's ARG engine (tui/emulator/kql.py: duckdb-kql over
  ARG-shaped tables) and match exactly the rows holding that name, never a decoy.

The old builder (a chain of str.replace) is kept here to prove the property test can fail: hypothesis finds a
name it breaks.
"""
from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, Phase, assume, find, given, settings
from hypothesis import strategies as st

from tui.core import arg

duckdb = pytest.importorskip("duckdb")
duckdb_kql = pytest.importorskip("duckdb_kql")
kql_engine = pytest.importorskip("tui.emulator.kql")

# ----------------------------------------------------------------------------------------------------------------
# Strategies: hostile names
# ----------------------------------------------------------------------------------------------------------------

HOSTILE_PIECES = [
    "'", '"', "\\", "\\\\", "\\'", "''", '""', "{", "}", "{standard}", "{control}", "{connector}", "{severity}",
    "{status}", "{0}", "{}", "\n", "\r", "\r\n", "\t", "|", "||", "| where 1 == 1", "//", "/*", "*/", "`", "```",
    "~~~", "@'", '@"', "h'", "H\"", "' or '1' == '1", "\" or true //", "where", "and", "or", "not", "project",
    "union", "let", "print", "datatable", ";", "==", "=~", "!=", "(", ")", "[", "]", "$", "%", "_", "*", " ", "  ",
    "\\n", "\\u0041", "é", "ß", "İ", "Σς", "\u200b", "\u2028", "\u202e", "\ufeff", "\x85", "😀", "中文", "עברית",
    "AWS-CIS-1.2.0", "1.1", "aws",
    # what the emulator rewrites at token level (never inside strings): table names in any case, count(expr)
    "SecurityResources", "resources", "count(x)", "count()",
]

hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=4)), min_size=1, max_size=8).map(
    "".join
)
# An ARM id segment cannot hold "/" (the queries extract names from ids with [^/]+); NUL is not a name either.
segment = hostile.map(lambda s: s.replace("/", "").replace("\x00", "")).filter(bool)
nonempty = hostile.map(lambda s: s.replace("\x00", "")).filter(bool)

def examples(n: int) -> settings:
    # a query on the emulator's engine costs 0.05-0.3 s (duckdb-kql parses in Python): sized to stay under a minute
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


SEARCH = settings(max_examples=1000, deadline=None, database=None, phases=[Phase.generate])  # first hit, no shrink


# ----------------------------------------------------------------------------------------------------------------
# The literal itself
# ----------------------------------------------------------------------------------------------------------------

# KqlTokens.g4 (microsoft/Kusto-Query-Language), STRINGLITERAL's single-quoted form: an escape sequence or any
# character but ' \ CR LF.
_MS_SINGLE_QUOTED = re.compile(r"'(?:\\(?:['\"\\abfnrtuUxv]|[0-3][0-7][0-7]|[0-7][0-7]?)|[^'\\\r\n])*'", re.S)
_con = duckdb_kql.connect()


def _print(lit: str) -> str:
    return duckdb_kql.kql(_con, f"print v = {lit}").fetchall()[0][0]


def _string_tokens(query: str) -> list[str]:
    from antlr4 import InputStream
    from duckdb_kql._antlr.KqlLexer import KqlLexer

    lexer = KqlLexer(InputStream(query))
    lexer.removeErrorListeners()
    return [t.text for t in lexer.getAllTokens() if t.type == KqlLexer.STRINGLITERAL]


@examples(300)
@given(st.one_of(hostile, st.text()))
def test_literal_is_one_token_that_decodes_to_the_value(value) -> None:
    assume("\x00" not in value)  # not a name; duckdb strings stop there
    lit = arg.kql_string(value)
    assert _MS_SINGLE_QUOTED.fullmatch(lit), lit  # one literal for Azure's own lexer
    assert _string_tokens(f"print v = {lit} | project v") == [lit]  # one literal for duckdb-kql's lexer
    assert _print(lit) == value


@examples(100)
@given(segment, st.lists(segment, max_size=4))
def test_literal_matches_exactly_that_value_in_a_table(value, others) -> None:
    con = _con
    con.execute("CREATE OR REPLACE TABLE t (name VARCHAR)")
    rows = [value, value + "x", "x" + value, *others, "", "'", "\\"]
    con.executemany("INSERT INTO t VALUES (?)", [[r] for r in rows])
    got = sorted(r[0] for r in duckdb_kql.kql(con, f"t | where name == {arg.kql_string(value)}").fetchall())
    assert got == sorted(r for r in rows if r == value)


def test_naive_quoting_is_caught() -> None:
    """The literal test can fail: plain quoting without escapes is found wanting."""

    def broken(value: str) -> bool:
        try:
            return _print(f"'{value}'") != value
        except Exception:  # noqa: BLE001 - a parse error is a failure too
            return True

    assert broken("it's")
    find(segment, broken, settings=SEARCH)


# ----------------------------------------------------------------------------------------------------------------
# kql_format: one pass, strict
# ----------------------------------------------------------------------------------------------------------------


def test_kql_format_is_one_pass() -> None:
    q = arg.kql_format("a == {a} and b == {b}", a="{b}", b="x'")
    assert q == "a == '{b}' and b == 'x\\''"
    assert arg.compliance_failing_assessments_query("{control}", "1.1").count("'{control}'") == 1


def test_kql_format_refuses_unknown_and_unused_placeholders() -> None:
    with pytest.raises(ValueError, match="standrd"):
        arg.kql_format("where s =~ {standrd}", standard="x")
    with pytest.raises(ValueError, match="control"):
        arg.kql_format("where s =~ {standard}", standard="x", control="y")
    with pytest.raises(TypeError):
        arg.kql_string(3)  # type: ignore[arg-type]


def test_every_value_reaching_kql_goes_through_kql_format() -> None:
    """No other way into a query: no .replace / % / .format on a query constant, no f-string around kql_string."""
    from pathlib import Path

    src = Path(arg.__file__).read_text(encoding="utf-8")
    assert not re.search(r"QUERY\w*\s*\.\s*(replace|format)\(|QUERY\w*\s*%", src)
    assert not re.search(r"f\"[^\"]*\{kql_string\(", src)
    core = Path(arg.__file__).parent
    for p in core.rglob("*.py"):
        if p.name != "arg.py":
            assert not re.search(r"\|\s*(where|project|summarize|extend)\b", p.read_text(encoding="utf-8")), p


# ----------------------------------------------------------------------------------------------------------------
# The app's queries on the emulator's ARG engine
# ----------------------------------------------------------------------------------------------------------------

SUB = "00000000-0000-0000-0000-0000000000aa"
CONTROL_T = "microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols"
ASSESS_T = CONTROL_T + "/regulatorycomplianceassessments"
_ids = itertools.count()


class _World:
    """The World API subset ArgStore reads: a version and the ARG tables."""

    def __init__(self) -> None:
        self.version = 0
        self.rows: list[dict] = []

    def arg_version(self) -> int:
        return self.version

    def arg_tables(self) -> dict[str, list[dict]]:
        # a native AWS connector in SUB: compliance is read in subscriptions that host one (issue 11)
        aws = {"id": f"/subscriptions/{SUB}/resourcegroups/rg/providers/Microsoft.Security/securityConnectors/aws",
               "name": "aws", "type": "microsoft.security/securityconnectors", "subscriptionId": SUB,
               "properties": {"environmentName": "AWS", "hierarchyIdentifier": "123456789012"}}
        return {"resources": [aws], "securityresources": list(self.rows), "resourcecontainers": []}

    def run(self, rows: list[dict], query: str) -> list[dict]:
        self.rows = rows
        self.version += 1
        res = self.graph.query(query)
        return res.records()


@pytest.fixture(scope="module")
def world() -> _World:
    w = _World()
    w.graph = kql_engine.ResourceGraph(w)
    return w


def _row(rid: str, name: str, rtype: str, **props) -> dict:
    return {"id": rid, "name": name, "type": rtype, "subscriptionId": SUB, "properties": props}


def _assessment(std: str, ctl: str, key: str, state: str = "Failed", n: int = 3) -> dict:
    rid = (f"/subscriptions/{SUB}/providers/Microsoft.Security/regulatoryComplianceStandards/{std}/"
           f"regulatoryComplianceControls/{ctl}/regulatoryComplianceAssessments/{key}-{next(_ids)}")
    return _row(rid, key, ASSESS_T, state=state, failedResources=n)


def _control(std: str, ctl: str, state: str = "Failed") -> dict:
    rid = (f"/subscriptions/{SUB}/providers/Microsoft.Security/regulatoryComplianceStandards/{std}/"
           f"regulatoryComplianceControls/{ctl}")
    return _row(rid, ctl, CONTROL_T, state=state, description="d",
                passedAssessments=1, failedAssessments=1, skippedAssessments=0)


def _same_ci(a: str, b: str) -> bool:
    """Would `=~` call them equal? (asked of DuckDB with parameters, not through a KQL literal)"""
    return duckdb.execute("SELECT lower(?) = lower(?)", [a, b]).fetchone()[0]


def old_failing_assessments_query(standard: str, control: str) -> str:
    """The builder before issue 10: chained str.replace (a standard spelling {control} injects into it)."""
    return (arg.COMPLIANCE_FAILING_ASSESSMENTS_QUERY.replace("{standard}", arg.kql_string(standard))
            .replace("{control}", arg.kql_string(control)))


def _failing_assessments_exact(w: _World, build, std: str, ctl: str) -> bool:
    rows = [_assessment(std, ctl, "hit"), _assessment(std, ctl, "passed", state="Passed"),
            _assessment(std + "x", ctl, "d-std"), _assessment("x" + std, ctl, "d-std2"),
            _assessment(std, ctl + "x", "d-ctl"), _assessment(std, "x" + ctl, "d-ctl2")]
    if not _same_ci(std, ctl):
        rows.append(_assessment(ctl, std, "d-swap"))
    try:
        got = w.run(rows, build(std, ctl))
    except kql_engine.ArgError:
        return False
    return got == [{"assessmentKey": "hit", "failedResources": 3}]


@examples(100)
@given(std=segment, ctl=segment)
def test_failing_assessments_match_exactly_the_hostile_standard_and_control(world, std, ctl) -> None:
    assert _failing_assessments_exact(world, arg.compliance_failing_assessments_query, std, ctl)


def test_the_old_replace_chain_fails_the_same_property(world) -> None:
    """Proof the property test can fail: on the old builder a fixed hostile name and hypothesis's own search both
    find a mismatch."""
    assert not _failing_assessments_exact(world, old_failing_assessments_query, "{control}", "1.1")
    assert _failing_assessments_exact(world, arg.compliance_failing_assessments_query, "{control}", "1.1")
    find(st.tuples(segment, segment),
         lambda p: not _failing_assessments_exact(world, old_failing_assessments_query, *p),
         settings=SEARCH)


@examples(50)
@given(std=segment, ctls=st.lists(segment, min_size=1, max_size=3, unique_by=lambda s: s.lower()))
def test_controls_of_a_hostile_standard(world, std, ctls) -> None:
    std = "aws" + std  # the query keeps AWS standards only
    assume(len({duckdb.execute("SELECT lower(?)", [c]).fetchone()[0] for c in ctls}) == len(ctls))
    rows = [_control(std, c) for c in ctls]
    rows += [_control(std + "x", ctls[0]), _control("aws-x" + std, ctls[0])]
    got = world.run(rows, arg.compliance_controls_query(std))
    assert sorted((r["standard"], r["control"]) for r in got) == sorted((std, c) for c in ctls)


@examples(40)
@given(name=segment, severity=nonempty, status=nonempty)
def test_recommendations_of_a_hostile_connector_severity_and_status(world, name, severity, status) -> None:
    # connector ids compare lower-cased (Python on our side, the engine's tolower on ARG's): keep to names both
    # lower-case alike, which is a case-mapping question, not a quoting one
    assume(duckdb.execute("SELECT lower(?)", [name]).fetchone()[0] == name.lower())
    conn = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.security/securityconnectors/{name}"

    def rec(connector: str, key: str, sev: str, stt: str) -> dict:
        rid = (f"{connector}/securityEntityData/aws-ec2-instance-i-{next(_ids)}-us-east-1/providers/"
               f"microsoft.security/assessments/{key}")
        return _row(rid, key, "microsoft.security/assessments", resourceDetails={"Source": "Aws"},
                    displayName="T", status={"code": stt}, metadata={"severity": sev})

    rows = [rec(conn, "hit", severity, status), rec(conn + "x", "d-conn", severity, status),
            rec(conn, "d-sev", severity + "x", status), rec(conn, "d-stt", severity, "x" + status)]
    got = world.run(rows, arg.recommendations_query(conn, severity=severity, status=status))
    assert [r["assessmentKey"] for r in got] == ["hit"]
