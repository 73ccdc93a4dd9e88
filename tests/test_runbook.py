"""Remediation runbooks (tui/core/runbook.py, `mdc-aws export --view remediation`, the recommendation detail): pure
tests of the step splitter, the AWS link, grouping and ordering; then the runbook of the session estate cross-checked
against the World (every failing control, every unhealthy resource of each recommendation, severity order)."""
from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.core import model as m
from tui.core import runbook as rb
from tui.render import detail as rd
from tui.render import links

DOC = "https://docs.aws.amazon.com/securityhub/latest/userguide/"


def rec(i: int, key: str = "k-1", *, account: str | None = "111111111111", region: str | None = "us-east-1",
        status: str = "Unhealthy", severity: str = "High", name: str | None = None,
        remediation: str | None = "1. Open the console. 2. Fix it.") -> m.Recommendation:
    return m.Recommendation(id=f"/e/{key}/r{i}/providers/Microsoft.Security/assessments/{key}", assessment_key=key,
                            title=f"title {key}", severity=severity, status=status, connector_id="/c",
                            resource_name=name if name is not None else f"res-{i}", resource_type="AwsS3Bucket",
                            region=region, aws_account_id=account, description=f"about {key}",
                            remediation=remediation)


# ----------------------------------------------------------------------------------------------- steps

@pytest.mark.parametrize(("text", "intro", "steps"), [
    ("1. Sign in. 2. Open the console. 3. Done.", "", ("Sign in.", "Open the console.", "Done.")),
    ("To fix it:\n1. a\n  more of a\n2) b", "To fix it:", ("a more of a", "b")),
    ("Intro<br>1. one<br/>2. two<BR />", "Intro", ("one", "two")),
    ("Do this:<ol><li>first <b>x</b></li><li> second </li></ol>", "Do this:", ("first <b>x</b>", "second")),
    # a stray number is no step: markers count only in sequence from 1, and need a space after them
    ("Use TLS 1.2 and rotate every 90 days. 2 accounts", "Use TLS 1.2 and rotate every 90 days. 2 accounts", ()),
    ("Only 1. step", "Only 1. step", ()),
    ("See 2. then 1. a 3. b 2. c", "See 2. then", ("a 3. b", "c")),
    ("Follow the AWS Security Hub remediation for control EC2.19: " + DOC + "ec2-controls.html#ec2-19",
     "Follow the AWS Security Hub remediation for control EC2.19: " + DOC + "ec2-controls.html#ec2-19", ()),
    ("   ", "", ()),
    (None, "", ()),
])
def test_split_steps(text: str | None, intro: str, steps: tuple[str, ...]) -> None:
    assert rb.split_steps(text) == rb.Steps(intro, steps)


@given(st.lists(st.text(alphabet="abc XYZ,-", min_size=1).filter(lambda s: s.strip()), min_size=2, max_size=12),
       st.sampled_from(["\n", " ", "<br>"]))
def test_split_steps_finds_every_numbered_step(steps: list[str], sep: str) -> None:
    text = "Intro:" + "".join(f"{sep}{n}. {s}" for n, s in enumerate(steps, 1))
    assert rb.split_steps(text) == rb.Steps("Intro:", tuple(" ".join(s.split()) for s in steps))


# ----------------------------------------------------------------------------------------------- AWS links

SERVICE = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True)


@given(SERVICE, st.integers(min_value=1, max_value=9999))
def test_aws_control_link_of_a_security_hub_id(svc: str, n: int) -> None:
    cid = f"{svc}.{n}"
    assert rb.parse_aws_control_id(cid) == (svc.lower(), n)
    assert rb.aws_control_link(cid) == f"{DOC}{svc.lower()}-controls.html#{svc.lower()}-{n}"
    assert links.aws_control_link(cid) == rb.aws_control_link(cid)


@given(st.text(max_size=20))
def test_aws_control_link_only_for_that_shape(text: str) -> None:
    matches = re.fullmatch(r"[A-Za-z][A-Za-z0-9]*\.[1-9][0-9]{0,3}", text.strip()) is not None
    assert (rb.aws_control_link(text) is not None) == matches


@pytest.mark.parametrize("cid", ["1.4", "4.1", "PCI.EC2.1", "CIS.1.1", "NS-1", "EC2.06", "EC2.", ".6", "EC2-6", "",
                                 None])
def test_no_aws_link_for_other_ids(cid: str | None) -> None:
    assert rb.aws_control_link(cid) is None


def test_known_links() -> None:
    assert rb.aws_control_link("EC2.6") == DOC + "ec2-controls.html#ec2-6"
    assert rb.aws_control_link("APIGateway.1") == DOC + "apigateway-controls.html#apigateway-1"
    assert links.recommendation_link("k-1") == rb.recommendation_portal_link("k-1") == (
        "https://portal.azure.com/#view/Microsoft_Azure_Security/GenericRecommendationDetailsBlade/assessmentKey/k-1")


# ----------------------------------------------------------------------------------------------- model

def test_group_resources_by_account_and_region_each_row_once() -> None:
    rows = [rec(i, account="222222222222" if i % 3 == 0 else "111111111111") for i in range(12)]
    rows += [rows[1], rec(99, account=None, region=None, name="")]  # a duplicate row; an unattributed one, no name
    groups = rb.group_resources(rows)
    assert [(g.aws_account_id, g.region, len(g.resources)) for g in groups] == [
        ("111111111111", "us-east-1", 8), ("222222222222", "us-east-1", 4), (None, None, 1)]
    assert groups[0].resources[:3] == ("res-1", "res-2", "res-4")  # numbers by value: res-10 after res-8
    assert groups[0].resources[-1] == "res-11"
    assert groups[2].resources == ("r99",)  # no name: its entity
    assert rb.reach(groups) == (13, 3)


def test_control_index_and_failing_pairs() -> None:
    rows = [("SUB-A", "AWS-Foundational-Security-Best-Practices", "EC2.6", "k-1"),
            ("sub-a", "aws-foundational-security-best-practices", "EC2.6", "K-1"),  # the same, spelled otherwise
            ("sub-a", "CIS-AWS-Foundations-v1.2.0", "4.3", "k-1"),
            ("sub-b", "CIS-AWS-Foundations-v1.2.0", "4.1", "k-2"),  # a subscription without an AWS connector
            ("sub-a", "SOC-TSP", "CC6.1", "k-3")]  # not an AWS standard
    pairs = rb.failing_pairs(rows, ["Sub-A"], ["AWS-Foundational-Security-Best-Practices",
                                               "CIS-AWS-Foundations-v1.2.0"])
    assert pairs == {("AWS-Foundational-Security-Best-Practices", "EC2.6", "k-1"),
                     ("CIS-AWS-Foundations-v1.2.0", "4.3", "k-1")}
    idx = rb.control_index(pairs, [m.ComplianceControl("AWS-Foundational-Security-Best-Practices", "EC2.6",
                                                       "VPC flow logging", "Failed")])
    assert idx == {"k-1": (rb.ControlRef("AWS-Foundational-Security-Best-Practices", "EC2.6", "VPC flow logging"),
                           rb.ControlRef("CIS-AWS-Foundations-v1.2.0", "4.3", None))}
    assert [c.link for c in idx["k-1"]] == [DOC + "ec2-controls.html#ec2-6", None]
    assert rb.parse_failing_pair({"subscriptionId": "S", "standard": "x", "control": "c", "assessmentKey": "K"}) == (
        "s", "x", "c", "k")
    assert rb.parse_failing_pair({"subscriptionId": "S", "standard": "", "control": "c", "assessmentKey": "K"}) is None
    assert rb.parse_failing_pair(["S"]) is None


def test_build_runbook_orders_by_severity_then_reach() -> None:
    recs = ([rec(i, "k-low", severity="Low") for i in range(9)]
            + [rec(i, "k-med-small", severity="Medium") for i in range(2)]
            # as many resources as k-med-small, in more accounts
            + [rec(i, "k-med-wide", severity="Medium", account=f"{i:012d}") for i in range(2)]
            + [rec(i, "k-high", severity="High") for i in range(1)]
            + [rec(i, "k-healthy", severity="High", status="Healthy") for i in range(5)])
    controls = [m.ComplianceControl("FSBP", "S3.1", "s3", "Failed", failed_assessments=2),
                m.ComplianceControl("FSBP", "S3.2", "passing", "Passed"),
                m.ComplianceControl("CIS", "1.1", "root", "Failed", failed_assessments=1),
                m.ComplianceControl("CIS", "1.2", "no rows in view", "Failed", failed_assessments=1)]
    pairs = {("FSBP", "S3.1", "k-low"), ("FSBP", "S3.1", "k-high"), ("CIS", "1.1", "k-med-wide"),
             ("CIS", "1.2", "k-elsewhere"), ("FSBP", "S3.2", "k-healthy")}
    book = rb.build_runbook(recs, controls, pairs, account_names={"111111111111": "prod"})
    assert [e.assessment_key for e in book.recommendations] == ["k-high", "k-med-wide", "k-med-small", "k-low"]
    assert [(c.control, c.severity, c.affected, c.recommendations) for c in book.controls] == [
        ("S3.1", "High", 10, ("k-high", "k-low")), ("1.1", "Medium", 2, ("k-med-wide",)),
        ("1.2", "Unknown", 0, ("k-elsewhere",))]
    high = book.recommendations[0]
    assert high.steps == rb.Steps("", ("Open the console.", "Fix it."))
    assert high.controls == (rb.ControlRef("FSBP", "S3.1", "s3"),)
    assert high.portal == links.recommendation_link("k-high")
    md = rb.to_markdown(book)
    assert "| High | FSBP | [S3.1](" + DOC + "s3-controls.html#s3-1) | s3 | 10 | 1 | #1 #4 |" in md
    assert "| Unknown | CIS | 1.2 | no rows in view | 0 | 0 | `k-elsewhere` |" in md
    assert "### 1. title k-high\n" in md and "1. Open the console.\n2. Fix it.\n" in md
    assert "- 111111111111 (prod) · us-east-1 (1): res-0\n" in md
    assert "k-healthy" not in md
    doc = rb.to_dict(book)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["recommendations"][1]["resources"] == [
        {"aws_account_id": f"{i:012d}", "account_name": None, "region": "us-east-1", "resources": [f"res-{i}"]}
        for i in range(2)]
    header, rows = rb.to_rows(book)
    assert len(rows) == 1 + 2 + 2 + 9 and rows[0][:4] == [1, "High", "title k-high", "k-high"]


def test_markdown_keeps_data_in_its_place() -> None:
    book = rb.build_runbook([rec(0, "k-x", remediation="<script>x</script> | a", name="a|b")], [], set())
    md = rb.to_markdown(book)
    assert "&lt;script&gt;x&lt;/script&gt; \\| a" in md and "a\\|b" in md and "<script>" not in md


# ----------------------------------------------------------------------------------------------- the detail

def test_recommendation_detail_steps_controls_and_groups() -> None:
    rows = [rec(i, account="222222222222" if i >= 60 else "111111111111") for i in range(63)]
    rows += [rec(70, status="Healthy"), rec(71, key="k-2")]
    controls = (rb.ControlRef("AWS-Foundational-Security-Best-Practices", "S3.8", "Block public access"),
                rb.ControlRef("CIS-AWS-Foundations-v1.2.0", "2.3", None))
    det = rd.recommendation_detail(rows[0], rows, controls=controls)
    assert det.portal == links.recommendation_link("k-1")
    text = det.body.plain
    assert "Remediation\n   1. Open the console.\n   2. Fix it.\n\n" in text
    assert ("AWS controls\n  AWS Foundational Security Best Practices  S3.8  Block public access\n"
            f"      {DOC}s3-controls.html#s3-8\n  CIS AWS Foundations v1.2.0  2.3\n\n") in text
    assert "Affected resources (63 unhealthy, 63 resources in 2 accounts)\n" in text
    assert ("  111111111111  us-east-1  (60): res-0, res-1, res-2, res-3, res-4 … and 55 more\n"
            "  222222222222  us-east-1  (3): res-60, res-61, res-62\n") in text
    assert "res-70" not in text and "res-71" not in text
    none = rd.recommendation_detail(rows[0], rows[:1], controls=()).body.plain
    assert "AWS controls\n  none: it fails under no control of an AWS standard\n" in none
    assert "AWS controls\n  not read (Azure did not answer)" in rd.recommendation_detail(rows[0], rows).body.plain
    many = [rec(i, account=f"{i:012d}") for i in range(53)]
    assert "  … and 3 more account/region groups (3 resources)" in rd.recommendation_detail(many[0], many).body.plain


def test_control_failing_listing_links_the_aws_control() -> None:
    c = m.ComplianceControl("FSBP", "EC2.6", "VPC flow logging", "Failed")
    assert rd.control_failing_listing("FSBP", c, []).header == (
        f"EC2.6 VPC flow logging · Failed · 0 failing resources\nAWS Security Hub: {DOC}ec2-controls.html#ec2-6")
    cis = m.ComplianceControl("CIS", "4.1", "port 22", "Failed")
    assert "\n" not in rd.control_failing_listing("CIS", cis, []).header


# ----------------------------------------------------------------------------------------------- the estate

@pytest.fixture(scope="module")
def collected(settings):
    from tui.cli import collect_remediation

    return asyncio.run(collect_remediation(settings, 120.0))


def _unhealthy_truth(world) -> dict[str, set[str]]:
    """assessment key -> ids of its Unhealthy AWS assessment rows, read from the World's own tables."""
    out: dict[str, set[str]] = {}
    for r in world.arg_tables()["securityresources"]:
        p = r["properties"]
        details = p.get("resourceDetails") or {}
        source = str(details.get("Source") or details.get("source") or "")
        if (r["type"] == "microsoft.security/assessments" and source.lower() == "aws"
                and (p.get("status") or {}).get("code") == "Unhealthy"):
            out.setdefault(r["name"].lower(), set()).add(r["id"].lower())
    return out


def test_runbook_of_the_estate_agrees_with_the_world(collected, estate) -> None:
    from tui.core.export import remediation_export, remediation_runbook

    snap, _, recs, controls, pairs, notes = collected
    assert notes == []
    book = remediation_runbook(snap, recs, controls, pairs)
    world = estate.world
    # every failing control of every AWS standard, once
    truth = world.compliance_truth()
    listed = Counter(c.standard for c in book.controls)
    assert {s: listed.get(s, 0) for s in truth} == {s: t["failed"] for s, t in truth.items()}
    assert sum(listed.values()) == sum(t["failed"] for t in truth.values()) > 0
    assert len({(c.standard.lower(), c.control.lower()) for c in book.controls}) == len(book.controls)
    # every unhealthy resource of each recommendation, complete and each once
    want = _unhealthy_truth(world)
    assert {e.assessment_key for e in book.recommendations} == set(want)
    by_key: dict[str, list[m.Recommendation]] = {}
    for r in recs:
        if r.status == "Unhealthy":
            by_key.setdefault(r.assessment_key.lower(), []).append(r)
    for e in book.recommendations:
        ids = [r.id.lower() for r in by_key[e.assessment_key]]
        assert set(ids) == want[e.assessment_key], e.title
        listed_names = Counter(x for g in e.groups for x in g.resources)
        assert listed_names == Counter(rb.resource_label(r) for r in by_key[e.assessment_key]), e.title
        assert e.affected == len(want[e.assessment_key])
        assert len({(g.aws_account_id, g.region) for g in e.groups}) == len(e.groups)
    assert sum(e.affected for e in book.recommendations) == sum(map(len, want.values()))
    # ordered by severity, then reach
    for items in (book.recommendations, book.controls):
        keys = [(rb.severity_rank(x.severity), -x.affected, -x.accounts) for x in items]
        assert keys == sorted(keys)
    assert rb.severity_rank(book.recommendations[0].severity) == rb.severity_rank("High")
    # a failing control's recommendations are the ones its failing assessments name; each lists the control back
    for c in book.controls:
        for k in c.recommendations:
            e = next((x for x in book.recommendations if x.assessment_key == k), None)
            if e is not None:
                assert (c.standard, c.control) in {(x.standard, x.control) for x in e.controls}
    assert any(c.link for c in book.controls) and any(c.link is None for c in book.controls)
    # the documents: every recommendation and control in the Markdown, the JSON complete
    md = remediation_export(book, "md")
    assert md.count("\n### ") == len(book.recommendations)
    assert len(re.findall(r"^\| (High|Medium|Low|Unknown) \|", md, re.M)) == len(book.controls)
    doc = json.loads(remediation_export(book, "json"))
    assert sum(len(g["resources"]) for e in doc["recommendations"] for g in e["resources"]) == sum(
        map(len, want.values()))


def test_failing_pairs_match_the_drill_down(collected, settings) -> None:
    """The runbook's one query agrees with the drill-down's query (one control at a time) on a control of each
    standard."""
    from tui.core.azure import AzureSource

    snap, _, _, controls, pairs, _ = collected
    failed: dict[str, m.ComplianceControl] = {}
    for c in controls:
        if c.state == "Failed":
            failed.setdefault(c.standard, c)
    assert len(failed) >= 4

    async def drill() -> dict[tuple[str, str], set[str]]:
        async with AzureSource(settings.azure) as az:
            subs = list(snap.subscriptions)
            got = await asyncio.gather(*(az.compliance_failing_assessments(subs, c.standard, c.name)
                                         for c in failed.values()))
            return {(c.standard.lower(), c.name.lower()): set(k) for c, k in zip(failed.values(), got)}

    for (std, ctl), keys in asyncio.run(drill()).items():
        mine = {k for s, c, k in pairs if s.lower() == std and c.lower() == ctl}
        assert mine == keys and keys, (std, ctl)


# ----------------------------------------------------------------------------------------------- data stays text

EVIL = "![x](https://attacker.example/p.png)"


def test_markdown_data_never_becomes_a_link_image_or_structure() -> None:
    """A resource name, title, description or step of Azure's data renders as the text it is (review finding 9):
    rendered with a CommonMark parser with GFM tables, the runbook has the same HTML elements as one of plain data
    (our own headings, lists and links only), and the data reads as itself."""
    from markdown_it import MarkdownIt

    def runbook(key: str, name: str, steps: str, title: str, description: str, account: str) -> str:
        r = rec(0, key, name=name, remediation=steps)
        r = m.Recommendation(**{**{f: getattr(r, f) for f in r.__dataclass_fields__}, "title": title,
                                "description": description})
        return rb.to_markdown(rb.build_runbook([r], [], set(), account_names={"111111111111": account}))

    text = runbook("k-x`y", EVIL, f"# Heading {EVIL} 1. *bold* [link](https://e.example) `code`",
                   "- [t](https://e.example) _em_ ~~s~~", "1. <b>x</b> | y", "[n](https://e.example)")
    plain = runbook("k-x`y", "name", "Heading and more words", "title", "description", "prod")
    render = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render
    html = render(text)
    assert Counter(re.findall(r"<(\w+)", html)) == Counter(re.findall(r"<(\w+)", render(plain)))
    assert "<img" not in html and "e.example" not in " ".join(re.findall(r'href="([^"]*)"', html))
    # the data still reads as itself once rendered
    assert "![x](https://attacker.example/p.png)" in html and "[t](https://e.example) _em_ ~~s~~" in html
    assert "1. &lt;b&gt;x&lt;/b&gt; | y" in html and "*bold*" in html and "`code`" in html
    assert "# Heading" in html and "[n](https://e.example)" in html
    # a key that would end its code span is written as text; the portal link stays one address
    assert "`k-x`y`" not in text and "k-x\\`y" in text
    assert links.recommendation_link("k-x`y").replace("`", "%60") in text
    # ids, accounts and regions read as before
    assert rb.md_text("111111111111 (prod)") == "111111111111 (prod)" and rb.md_text("1.2") == "1.2"
    assert rb.md_text("S3.1") == "S3.1" and rb.md_text("-") == "\\-"


def test_csv_cells_never_start_a_formula() -> None:
    """The runbook's csv (and every csv export: they share to_csv): a cell starting = + - @ gets a leading '."""
    import csv

    from tui.core.export import remediation_export, to_csv

    names = ["=HYPERLINK(\"https://attacker.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
             "\t=1", "plain", "-5", "-"]
    book = rb.build_runbook([rec(i, name=n) for i, n in enumerate(names)], [], set())
    rows = list(csv.reader(remediation_export(book, "csv").splitlines()))
    got = {r[-1] for r in rows[1:]}
    assert got == {"'" + n for n in names[:5]} | {"plain", "-5", "-"}
    assert all(not c.startswith(("=", "+", "@")) for r in rows[1:] for c in r)
    # the other exports' cells, and numbers as numbers
    assert to_csv(["a", "b", "c"], [["=1+1", -3, None]]) == "a,b,c\n'=1+1,-3,\n"


def test_every_markdown_export_keeps_data_as_text() -> None:
    """`mdc-aws export --format md` (every view, not only the runbook): a resource named like a remote image or a
    table break stays text in its cell."""
    from datetime import datetime, timezone

    from tui.core import export
    from tui.core import model as m

    snap = m.Snapshot(generated_at=datetime(2026, 12, 5, tzinfo=timezone.utc), subscriptions=(), sections={})
    hostile = "![x](https://attacker.example/p.png) | <b>x</b>\nnext"
    text = export.to_markdown({"recommendations": (["resource", "account"], [[hostile, None]])}, snap)
    row = next(ln for ln in text.splitlines() if "attacker" in ln)
    assert "![x](" not in row and "<b>" not in row and "\\|" in row and row.count(" | ") == 1
    assert row.endswith("| - |") and "next" in row  # None is "-", the newline folded into the cell
