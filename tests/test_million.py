"""The recommendations table's compact path (a million findings): columns and orders built where the rows are
fetched, adopted by the pane's index, queried as positions; the results are the plain index's, on random data."""
from __future__ import annotations

import pickle
import random
from array import array
from dataclasses import replace

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tui.core import codec
from tui.core import model as m
from tui.core import rectable
from tui.core.tablequery import Index, parse_filter
from widgets.panes import RecKeys, RowsAt

_TITLES = ["S3 buckets should block public access", "s3 Buckets should be encrypted", "EC2 instances IMDSv2",
           "Security groups should not allow 0.0.0.0/0", "IAM users MFA", "rds encryption"]
_word = st.sampled_from(["s3", "S3", "sg", "ec2", "db", "x", "", "Prod", "prod-1"])
_opt = st.none() | _word

recs = st.builds(
    m.Recommendation,
    id=st.uuids().map(str),
    assessment_key=st.sampled_from(["k1", "K2", "abc-s3", "0f"]),
    title=st.sampled_from(_TITLES),
    severity=st.sampled_from(["High", "Medium", "Low", "Unknown", "high"]),
    status=st.sampled_from(["Healthy", "Unhealthy", "NotApplicable", "Unknown", "unhealthy"]),
    connector_id=st.sampled_from(["", "/subscriptions/a/providers/microsoft.security/securityconnectors/c1"]),
    resource_name=_opt, resource_type=st.sampled_from([None, "AWS::S3::Bucket", "AWS::EC2::Instance"]),
    region=st.sampled_from([None, "", "us-east-1", "eu-west-1", "global"]),
    aws_account_id=st.sampled_from([None, "", "111122223333", "444455556666"]))

FILTERS = ["", "s3", "sev:high s3", "!sev:low", "status:unhealthy", "!status:healthy", "account:1111", "region:eu-",
           "type:s3", "sev:high,medium", "!s3", "!public", "prod", '"block public"', "!sev:low s3", "!", "k2",
           "account:4444 !region:us", "zzz"]


def _build(rows: list[m.Recommendation], cuts: list[int]) -> rectable.Orders:
    """What the collector process does: pages of rows through the OrderBuilder, the result across the pipe."""
    ob = rectable.OrderBuilder()
    at = 0
    for c in sorted(cuts) + [len(rows)]:
        if c > at:
            ob.add(rows[at:c])
            at = c
    orders: rectable.Orders = pickle.loads(pickle.dumps(ob.orders(), protocol=pickle.HIGHEST_PROTOCOL))
    return orders


def _same_as_plain(rows: list[m.Recommendation], ix: Index, filters: list[str]) -> None:
    plain = Index(rows, fields=rectable.FIELDS, text=rectable.TEXT)  # no adopted column or order
    for text in filters:
        f = parse_filter(text)
        assert ix.filter(f) == plain.filter(f), text
        for name, key in rectable.SORT_KEYS.items():
            for desc in (False, True):
                got = list(ix.positions(f, sort_key=key, descending=desc))
                assert got == plain.query(f, sort_key=key, descending=desc), (text, name, desc)
        assert list(ix.positions(f)) == plain.filter(f), text


@hsettings(max_examples=60, deadline=None)
@given(st.lists(recs, max_size=80), st.lists(st.integers(min_value=0, max_value=80), max_size=4),
       st.lists(st.sampled_from(FILTERS), min_size=1, max_size=5, unique=True))
def test_adopted_columns_and_orders_filter_and_sort_as_the_plain_index(rows, cuts, filters) -> None:
    orders = _build(rows, cuts)
    assert set(orders.columns) == set(rectable.COLUMNS)
    ix = rectable.make_index(rows, orders)
    ix.prepare([(k, d) for k in rectable.SORT_KEYS.values() for d in (False, True)])
    assert set(ix._adopted) == set(rectable.COLUMNS)  # the columns came from the builder, not from the rows
    _same_as_plain(rows, ix, filters)
    # counts read from the columns: the rows' own
    assert rectable.unhealthy_and_unattributed(rows, ix) == (
        sum(1 for r in rows if r.status == "Unhealthy"), sum(1 for r in rows if not r.aws_account_id))


def test_wide_columns_two_and_four_byte_codes_match_the_plain_index() -> None:
    """Past 256 distinct values a column's codes take two bytes (titles: hits found by byte planes), past 65,536
    four (resource names): the results stay the plain index's."""
    rnd = random.Random(15)
    titles = [f"{rnd.choice(['S3', 'EC2', 'IAM', 'RDS'])} control {i} {rnd.choice(['public', 'mfa', 'logs'])}"
              for i in range(600)]
    rows = [m.Recommendation(id=f"r{i}", assessment_key=f"k{i % 700}", title=rnd.choice(titles),
                             severity=rnd.choice(["High", "Medium", "Low"]),
                             status=rnd.choice(["Healthy", "Unhealthy"]), connector_id="c",
                             resource_name=f"res-{i // 1 if i < 66_000 else i % 9}-s{i % 7}",
                             region=rnd.choice(["us-east-1", "eu-west-1"]),
                             aws_account_id=rnd.choice([None, "111122223333"]))
            for i in range(70_000)]
    orders = _build(rows, [20_000, 50_000])
    assert orders.columns["title"][1].typecode == "H" and orders.columns["resource_name"][1].typecode == "I"
    ix = rectable.make_index(rows, orders)
    assert ix._adopted["resource_name"].groups is not None and ix._adopted["title"].groups is None
    plain = Index(rows, fields=rectable.FIELDS, text=rectable.TEXT)
    for text in ["s3 public", "control 5", "!control 1", "res-12", "-s3", "k69", "sev:high mfa", "zzz", "e"]:
        f = parse_filter(text)
        assert ix.filter(f) == plain.filter(f), text
    f = parse_filter("sev:high mfa")
    assert list(ix.positions(f, rectable.SORT_KEYS["title"], True)) == plain.query(f, rectable.SORT_KEYS["title"], True)


def test_columns_or_orders_that_do_not_fit_are_not_used() -> None:
    rows = [m.Recommendation(id=str(i), assessment_key="k", title=t, severity="High", status="Healthy",
                             connector_id="c") for i, t in enumerate(["b", "a", "c", "a"])]
    ix = Index(rows, fields=rectable.FIELDS, text=rectable.TEXT)
    assert not ix.adopt_column("title", ["a"], array("B", [0, 0, 0]))  # one code short
    assert not ix.adopt_column("title", ["a"], array("B", [0, 1, 0, 0]))  # names a value that is not there
    assert ix.adopt_column("title", ["x", "y"], array("B", [0, 1, 0, 1]))  # fits: used (even if it lies)
    assert ix.filter("y") == [1, 3]
    # an adopted order that is not a permutation is dropped when first used, and the order computed instead
    key = rectable.SORT_KEYS["title"]
    ix2 = Index(rows, fields=rectable.FIELDS, text=rectable.TEXT)
    ix2.adopt_order(key, False, array("I", [0, 0, 1, 2]), check="lazy")
    assert list(ix2.positions(None, key)) == [1, 3, 0, 2]


def test_row_and_key_views_find_the_cursor_without_listing_rows() -> None:
    rows = [m.Recommendation(id=f"id{i}", assessment_key="k", title="t", severity="High", status="Healthy",
                             connector_id="c") for i in range(10)]
    pos = array("I", [7, 2, 9, 0])
    shown = RowsAt(rows, pos)
    assert len(shown) == 4 and shown[1] is rows[2] and shown[-1] is rows[0] and shown[1:3] == [rows[2], rows[9]]
    known: dict[str, int] = {}
    keys = RecKeys(rows, pos, known)
    assert keys[2] == "id9" and known == {"id9": 9}
    assert keys.index("id9") == 2 and keys.index("id0") == 3  # known, then found by one scan of the rows
    try:
        keys.index("id5")  # a row that is not shown
        raise AssertionError("id5 is not shown")
    except ValueError:
        pass
    # a refresh: new row objects, the same ids elsewhere
    again = list(reversed([replace(r) for r in rows]))
    assert RecKeys(again, range(10), known).index("id9") == 0
    assert list(RecKeys(rows, range(0), {})) == []


def test_recommendations_survive_the_codec() -> None:
    rows = [m.Recommendation(id="/subscriptions/x/assessments/k", assessment_key="k", title="S3 \u00e9 \"q\"",
                             severity="High", status="Unhealthy", connector_id="", resource_name=None,
                             region="global", aws_account_id="111122223333", description="$c not a tag")]
    back = codec.loads(codec.dumps(rows), classes=codec.model_classes())
    assert back == rows and type(back[0]) is m.Recommendation


def test_a_refresh_reuses_the_previous_rows_in_order_or_moved() -> None:
    from tui.core.procservice import RowDecoder, RowEncoder

    rows = [m.Recommendation(id=f"id{i}", assessment_key="k", title=f"t{i % 3}", severity="High", status="Healthy",
                             connector_id="c") for i in range(50)]
    for again in (list(rows), rows[10:] + rows[:10], rows[:20] + [replace(rows[20], title="new")] + rows[21:]):
        again = [replace(r) for r in again]  # equal, not the same objects
        enc, dec = RowEncoder(), RowDecoder(previous=rows)
        out: list[m.Recommendation] = []
        for a in range(0, len(again), 7):
            out += dec.decode(*pickle.loads(pickle.dumps(enc.encode(again[a:a + 7]))))
        assert out == again
        by_id = {r.id: r for r in rows}
        assert all((o is by_id[o.id]) == (o == by_id[o.id]) for o in out)
        assert dec.reused == sum(1 for o in again if o == by_id[o.id])
