"""tui.core.tablequery: the k9s-style filter language, filtering and sorting (pure, no UI)."""
from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.tablequery import FIELDS, PREFIX_FIELDS, Filter, Index, Term, apply, parse_filter, severity_rank, sort

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Rec:
    title: str
    severity: str
    status: str
    aws_account_id: str | None
    region: str | None
    resource_type: str
    resource_name: str


FIELD_MAP = {"sev": "severity", "status": "status", "account": "aws_account_id", "region": "region",
             "type": "resource_type"}
TEXT = ["title", "resource_name", "resource_type", "aws_account_id", "region"]

RECS = [
    Rec("S3 buckets should block public access", "High", "Unhealthy", "210987654321", "eu-west-1",
        "AWS::S3::Bucket", "logs-bucket"),
    Rec("Security groups should not allow ingress from 0.0.0.0/0", "High", "Unhealthy", "210987654321",
        "us-east-1", "AWS::EC2::SecurityGroup", "sg-0a1b"),
    Rec("EBS volumes should be encrypted", "Medium", "Healthy", "310987654321", "eu-central-1",
        "AWS::EC2::Volume", "vol-1"),
    Rec("IAM root user should have MFA", "Low", "NotApplicable", None, None, "AWS::IAM::User", "root"),
    Rec("S3 buckets should be encrypted", "Medium", "Unhealthy", "410987654321", "ap-south-1",
        "AWS::S3::Bucket", "site-assets"),
]


def titles(rows: list[Rec]) -> list[str]:
    return [r.title for r in rows]


# ------------------------------------------------------------------------------------------------------- parsing


def test_parse_the_full_example() -> None:
    f = parse_filter("sev:high account:2109 region:eu- status:unhealthy s3 !public")
    assert f.warning is None and not f.negate
    assert f.terms == (
        Term(("high",), "sev"), Term(("2109",), "account"), Term(("eu-",), "region"),
        Term(("unhealthy",), "status"), Term(("s3",)), Term(("public",), None, True),
    )


def test_parse_aliases_quotes_commas_and_double_negation() -> None:
    assert parse_filter("severity:High").terms == (Term(("high",), "sev"),)
    assert parse_filter("standard:CIS").terms == (Term(("cis",), "std"),)
    assert parse_filter('"Security Group" !"public access"').terms == (
        Term(("security group",)), Term(("public access",), None, True))
    assert parse_filter('account:"2109 8"').terms == (Term(("2109 8",), "account"),)
    assert parse_filter("sev:high,medium").terms == (Term(("high", "medium"), "sev"),)
    assert parse_filter("x !!y").terms == (Term(("x",)), Term(("y",)))
    assert parse_filter('x "!y"').terms == (Term(("x",)), Term(("!y",)))  # a quoted ! is literal


def test_leading_bang_negates_the_whole_expression() -> None:
    f = parse_filter("!sev:low s3")
    assert f.negate and f.terms == (Term(("low",), "sev"), Term(("s3",)))
    assert parse_filter("  ! s3").negate
    assert not parse_filter("!!s3").negate


@pytest.mark.parametrize(
    ("text", "terms", "warning"),
    [
        ("foo:bar", (Term(("foo:bar",)),), "unknown field “foo:”"),
        ("arn:aws:s3:::logs", (Term(("arn:aws:s3:::logs",)),), None),  # ARNs are text, silently
        ("sev:", (), "“sev:” needs a value"),
        ('"unterminated phrase', (Term(("unterminated phrase",)),), "unterminated"),
        ("s3 !", (Term(("s3",)),), "lone “!”"),
        ("", (), None),
        ("   ", (), None),
    ],
)
def test_odd_input_gives_a_filter_and_a_warning(text: str, terms: tuple[Term, ...], warning: str | None) -> None:
    f = parse_filter(text)
    assert f.terms == terms
    if warning is None:
        assert f.warning is None
    else:
        assert f.warning is not None and warning in f.warning and "\n" not in f.warning


def test_bang_alone_matches_nothing_and_says_so() -> None:
    f = parse_filter("!")
    assert f.negate and not f.terms and f.warning
    assert Index(RECS, fields=FIELD_MAP, text=TEXT).filter(f) == []
    assert parse_filter("").is_empty and Index(RECS, fields=FIELD_MAP).filter("") == list(range(len(RECS)))


@settings(deadline=None)
@given(st.text())
def test_parse_filter_never_raises(text: str) -> None:
    f = parse_filter(text)
    assert isinstance(f, Filter)
    assert f.warning is None or "\n" not in f.warning
    assert all(t.values and all(t.values) for t in f.terms)
    assert all(t.field is None or t.field in FIELDS.values() for t in f.terms)


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet='!:" ,abcsevtypd-'), st.lists(st.sampled_from(
    ["!", "sev:", "type:", "foo:", '"', " ", ",", "x", "a b", "!!", ":"]), max_size=8).map("".join)))
def test_str_of_a_filter_parses_back_to_the_same_filter(text: str) -> None:
    f = parse_filter(text)
    again = parse_filter(str(f))
    assert (again.terms, again.negate) == (f.terms, f.negate)


def test_str_is_canonical() -> None:
    assert str(parse_filter('  SEV:High  "Security Group"   !Public ')) == 'sev:high "security group" !public'
    assert str(parse_filter('!s3 arn:aws:x')) == '!s3 "arn:aws:x"'
    assert str(parse_filter('"" !a b')) == '"" !a b'


# ------------------------------------------------------------------------------------------------------- filtering


def test_field_terms() -> None:
    ix = Index(RECS, fields=FIELD_MAP, text=TEXT)

    def q(text: str) -> list[str]:
        return titles(ix.rows_at(ix.filter(text)))

    assert q("sev:high") == titles(RECS[:2])
    assert q("sev:h") == titles(RECS[:2])  # prefix
    assert q("status:healthy") == [RECS[2].title]  # prefix: "Unhealthy" does not match
    assert q("status:unhealthy account:2109") == titles(RECS[:2])
    assert q("account:4321") == titles([RECS[0], RECS[1], RECS[2], RECS[4]])  # substring (last digits)
    assert q("region:eu-") == [RECS[0].title, RECS[2].title]
    assert q("type:s3") == [RECS[0].title, RECS[4].title]
    assert q("sev:high,low") == titles([RECS[0], RECS[1], RECS[3]])
    assert q("!sev:high") == titles(RECS[2:])
    assert q("s3 !public") == [RECS[4].title]  # 'public' is in RECS[0]'s title: gone
    assert q("S3 BUCKETS") == [RECS[0].title, RECS[4].title]  # case-insensitive
    assert q('"should be encrypted"') == [RECS[2].title, RECS[4].title]
    assert q("!sev:high s3") == titles(RECS[1:])  # not (high and s3)


def test_free_text_does_not_span_fields_and_missing_values_are_empty() -> None:
    rows = [{"a": "foo", "b": "bar"}, {"a": None, "b": "foobar"}]
    assert apply(rows, "foobar", text=["a", "b"]) == [rows[1]]
    assert apply(rows, "foo bar", text=["a", "b"]) == rows


def test_dicts_dataclasses_and_callables_agree() -> None:
    dicts = [vars(r) for r in RECS]
    fields_fn = {k: (lambda r, _k=v: getattr(r, _k)) for k, v in FIELD_MAP.items()}
    for text in ["sev:high", "s3 !public", "!status:unhealthy", "region:eu", "account:2109 bucket"]:
        a = [r.title for r in apply(RECS, text, fields=FIELD_MAP, text=TEXT)]
        b = [r["title"] for r in apply(dicts, text, fields=FIELD_MAP, text=TEXT)]
        c = [r.title for r in apply(RECS, text, fields=fields_fn, text=TEXT)]
        assert a == b == c, text


def test_a_field_this_pane_lacks_is_searched_as_text() -> None:
    ix = Index(RECS, fields={"sev": "severity"}, text=TEXT)
    f = parse_filter("std:cis account:2109")
    assert "not available here" in (ix.check(f) or "")
    assert titles(ix.rows_at(ix.filter(f))) == []  # no row mentions "cis"
    assert titles(ix.rows_at(ix.filter("account:2109"))) == titles(RECS[:2])  # found in the text fields
    with pytest.raises(ValueError, match="unknown filter field"):
        Index(RECS, fields={"colour": "x"})


def _reference(rows: list[dict], f: Filter, fields: dict[str, str], text: list[str]) -> list[int]:
    """The obvious, slow evaluator the fast Index must agree with."""

    def s(v: object) -> str:
        return "" if v is None else str(v)

    def term_ok(row: dict, t: Term) -> bool:
        if t.field is not None and t.field in fields:
            v = s(row[fields[t.field]]).lower()
            hit = any(v.startswith(x) for x in t.values) if t.field in PREFIX_FIELDS else any(
                x in v for x in t.values)
        else:
            blob = "\x1f".join(s(row[k]) for k in text).lower()
            hit = any(x in blob for x in t.values)
        return hit != t.negate

    out = [i for i, row in enumerate(rows) if all(term_ok(row, t) for t in f.terms)]
    if f.negate:
        keep = set(out)
        out = [i for i in range(len(rows)) if i not in keep]
    return out


def _big_rows(n: int, seed: int) -> list[dict]:
    """Columns of every cardinality: few values (byte codes), >256 values (int codes), unique (no codes)."""
    rnd = random.Random(seed)
    return [{"sev": rnd.choice(["High", "Medium", "Low", None]),
             "mid": f"v{rnd.randrange(600)}",
             "uniq": f"id-{i:06d}-{rnd.randrange(10**6)}",
             "title": rnd.choice(["Alpha beta", "Gamma", "delta EPSILON", "zeta eta theta"])}
            for i in range(n)]


BIG_FIELDS = {"sev": "sev", "type": "mid", "account": "uniq"}
BIG_TEXT = ["title", "mid"]


@pytest.mark.parametrize("text", ["sev:h", "sev:high,low !sev:l", "type:v1 sev:m", "account:-0001", "account:00 gamma",
                                  "!type:v5", "!sev:low alpha", "beta,zeta", "!account:id", "type:v59,v58",
                                  "type:v59,v58 alpha", "account:-0001 !gamma", "!type:v7 eta"])
def test_index_agrees_with_a_naive_evaluator_at_every_cardinality(text: str) -> None:
    rows = _big_rows(5_000, seed=7)
    f = parse_filter(text)
    expected = _reference(rows, f, BIG_FIELDS, BIG_TEXT)
    fresh = Index(rows, fields=BIG_FIELDS, text=BIG_TEXT)  # few candidates: search text built for them only
    assert fresh.filter(f) == expected
    prepared = Index(rows, fields=BIG_FIELDS, text=BIG_TEXT).prepare()  # search text built for every row
    assert prepared.filter(f) == expected
    # sorting a result: a fresh index sorts small results directly, a warm one uses its cached order
    assert fresh.query(f, "title", True) == prepared.prepare([("title", True)]).query(f, "title", True)


WORDS = ["high", "low", "med", "eu-", "us", "2109", "s3", "bucket", "public", "sg", "x", "e"]
FILTER_TEXT = st.lists(
    st.tuples(st.sampled_from(["", "!", "!!"]), st.sampled_from(["", "sev:", "status:", "account:", "region:",
                                                                 "type:", "std:", "foo:"]),
              st.one_of(st.sampled_from(WORDS), st.text(max_size=4))),
    max_size=4,
).map(lambda parts: " ".join(a + b + c for a, b, c in parts))
ROWS = st.lists(
    st.fixed_dictionaries({
        "severity": st.sampled_from(["High", "Medium", "Low", "", None]),
        "status": st.sampled_from(["Healthy", "Unhealthy", None]),
        "aws_account_id": st.one_of(st.none(), st.text("0123456789", max_size=12)),
        "region": st.sampled_from(["eu-west-1", "us-east-1", None]),
        "resource_type": st.sampled_from(["AWS::S3::Bucket", "AWS::EC2::SecurityGroup"]),
        "resource_name": st.text(max_size=8),
        "title": st.sampled_from(["S3 public", "sg ingress", "MFA", ""]),
    }),
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, text=st.one_of(FILTER_TEXT, st.text(max_size=12)))
def test_negation_law_and_agreement(rows: list[dict], text: str) -> None:
    ix = Index(rows, fields=FIELD_MAP, text=TEXT)
    yes, no = ix.filter(text), ix.filter("!" + text)
    assert set(yes) | set(no) == set(range(len(rows)))
    assert not set(yes) & set(no)
    assert yes == sorted(yes) and no == sorted(no)
    assert yes == _reference(rows, parse_filter(text), FIELD_MAP, TEXT)


@settings(max_examples=100, deadline=None)
@given(rows=ROWS, word=st.sampled_from(WORDS), field=st.sampled_from(["", "sev:", "region:", "type:"]))
def test_term_negation_partitions_too(rows: list[dict], word: str, field: str) -> None:
    ix = Index(rows, fields=FIELD_MAP, text=TEXT)
    yes, no = set(ix.filter(f"{field}{word}")), set(ix.filter(f"x !{field}{word}".removeprefix("x ")))
    # "x !t" with the x removed starts with "!" and is then a whole-expression negation: same partition
    assert yes | no == set(range(len(rows))) and not yes & no
    both = set(ix.filter(f"s {field}{word}")) | set(ix.filter(f"s !{field}{word}"))
    assert both == set(ix.filter("s"))


# ------------------------------------------------------------------------------------------------------- sorting


def test_sort_basics() -> None:
    rows = [{"n": 3, "s": "beta"}, {"n": None, "s": None}, {"n": 1, "s": "Alpha"}, {"n": 3, "s": "alpha"}]
    assert [r["n"] for r in sort(rows, "n")] == [1, 3, 3, None]
    assert [r["n"] for r in sort(rows, "n", descending=True)] == [3, 3, 1, None]  # None last both ways
    assert sort(rows, "n")[1:3] == [rows[0], rows[3]]  # stable
    assert sort(rows, "n", descending=True)[0:2] == [rows[0], rows[3]]  # stable when descending too
    assert [r["s"] for r in sort(rows, "s")] == ["Alpha", "alpha", "beta", None]  # case-insensitive, stable
    mixed = [{"v": "b"}, {"v": 2}, {"v": None}, {"v": 1.5}, {"v": "A"}, {"v": float("nan")}]
    assert [r["v"] for r in sort(mixed, "v")][:4] == [1.5, 2, "A", "b"]  # numbers, then text, no TypeError
    sevs = [{"severity": s} for s in ["Low", "High", "Medium", "Critical", "weird"]]
    assert [r["severity"] for r in sort(sevs, lambda r: severity_rank(r["severity"]))] == [
        "Critical", "High", "Medium", "Low", "weird"]


SORT_VALUES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["a", "B", "b", "", "ä"]))


@settings(max_examples=150, deadline=None)
@given(values=st.lists(SORT_VALUES, max_size=40), descending=st.booleans())
def test_sort_is_ordered_and_stable(values: list[object], descending: bool) -> None:
    rows = [{"v": v, "i": i} for i, v in enumerate(values)]
    out = sort(rows, "v", descending)
    assert sorted(r["i"] for r in out) == list(range(len(rows)))  # a permutation

    def rank(v: object) -> tuple:
        return (0, v, "") if isinstance(v, int) else (1, 0, v.lower())  # type: ignore[union-attr]

    present = [r for r in out if r["v"] is not None]
    assert [r for r in out if r["v"] is None] == [r for r in rows if r["v"] is None]  # None last, in row order
    assert out[: len(present)] == present
    for a, b in zip(present, present[1:]):
        ka, kb = rank(a["v"]), rank(b["v"])
        assert (ka >= kb) if descending else (ka <= kb)
        if ka == kb:
            assert a["i"] < b["i"]  # stable


@settings(max_examples=100, deadline=None)
@given(rows=ROWS, text=FILTER_TEXT, key=st.sampled_from(["severity", "aws_account_id", "title"]),
       descending=st.booleans())
def test_index_query_is_filter_then_stable_sort(rows: list[dict], text: str, key: str, descending: bool) -> None:
    ix = Index(rows, fields=FIELD_MAP, text=TEXT)
    got = ix.query(parse_filter(text), key, descending)
    kept = [rows[i] for i in ix.filter(text)]
    assert [rows[i] for i in got] == sort(kept, key, descending)


def test_index_sort_of_all_rows_and_of_a_subset_reuse_one_cached_order() -> None:
    rows = _big_rows(3_000, seed=3)
    ix = Index(rows, fields=BIG_FIELDS, text=BIG_TEXT)
    full = ix.query(None, "mid")
    assert [rows[i] for i in full] == sort(rows, "mid")
    sub = ix.filter("sev:high")
    assert ix.sort(sub, "mid") == [i for i in full if i in set(sub)]
    assert ix.order("mid") is ix.order("mid")  # cached
    ix.prepare([("title", True)])
    assert [rows[i] for i in ix.order("title", True)] == sort(rows, "title", True)


def test_importing_tablequery_loads_no_ui() -> None:
    code = ("import sys, tui.core.tablequery; bad=[m for m in sys.modules if m.split('.')[0] in ('textual','rich')];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_adopted_order_is_used_and_checked() -> None:
    rows = [{"title": t} for t in ("b", "a", "c", "a")]
    ix = Index(rows, fields={}, text=["title"])
    computed = list(Index(rows, fields={}, text=["title"]).order("title"))
    ix.adopt_order("title", False, computed)
    assert list(ix.order("title")) == computed == [1, 3, 0, 2]
    assert ix.query("", sort_key="title") == computed
    assert ix.sort([0, 1, 2], "title") == [1, 0, 2]
    for bad in ([0, 1, 2], [0, 0, 1, 2], [1, 2, 3, 4], [0, 1, 2, -1], [0.0, 1, 2, 3]):
        with pytest.raises(ValueError):
            ix.adopt_order("title", True, bad)
