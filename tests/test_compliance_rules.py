"""Regulatory compliance as Microsoft reports it (issue 11, point 1): the scope rule, AWS relevance from data, four
states, per-account assignments, several ARG batches; the JSON and the history of the new fields.

The core's real KQL runs on duckdb-kql over rows shaped as NOTES section 11 says (tests/compliance_rows.py), and
every figure is compared with the contract's rule computed from the raw rows in plain Python.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import compliance_rows as cr
from tui.core import arg, codec, export
from tui.core import model as m
from tui.core.azure import AzureSource
from tui.core.config import AzureSettings

pytest.importorskip("duckdb_kql")

MCSB = "Microsoft-cloud-security-benchmark"
FSBP = "AWS-Foundational-Security-Best-Practices"
PCI4 = "PCI-DSS-v4.0.1"  # an AWS standard without "aws" in its name
CIS3 = "CIS-AWS-Foundations-v3.0.0"  # renamed in 2023 (was "AWS CIS 1.2.0"-style)
SOC = "SOC-TSP"  # Azure only

S1, S2, S3 = ("11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002",
              "11111111-0000-0000-0000-000000000003")


class FakeGraph:
    """What AzureSource.compliance needs of ResourceGraph, over ArgOverRows: one query per batch of `size`
    subscriptions, each page parsed (paging itself is checked against the HTTPS stub in test_core_azure.py)."""

    def __init__(self, rows: cr.ArgOverRows, size: int) -> None:
        self.rows, self.size = rows, size

    def _batches(self, subs: Sequence[str]) -> list[list[str]]:
        return [list(subs[i:i + self.size]) for i in range(0, len(subs), self.size)]

    def batch_count(self, subs: Sequence[str] | None) -> int:
        return 1 if subs is None else len(self._batches(subs))

    async def query_parsed(self, kql: str, subs: Sequence[str] | None, parser: Callable[[Any], Any],
                           **_kw: Any) -> list[Any]:
        out = []
        for batch in ([None] if subs is None else self._batches(subs)):
            for row in self.rows.run(kql, batch):
                parsed = parser(row)
                assert parsed is not None, row  # every row the core's own query returns parses
                out.append(parsed)
        return out


def collect(tables: dict, subs: Sequence[str] | None, batch_size: int) -> m.ComplianceData:
    az = AzureSource(AzureSettings(access_token="x"), credential=object())
    az._graph = FakeGraph(cr.ArgOverRows(tables), batch_size)  # type: ignore[assignment]
    return asyncio.run(az.compliance(subs))


# ----------------------------------------------------------------------------------------------------------------
# An estate as NOTES section 11 describes it
# ----------------------------------------------------------------------------------------------------------------


def notes_estate() -> dict[str, list[dict]]:
    """S1: two native AWS connectors (accounts A1, A2) + a GCP one; S3: one AWS connector (A3); S2: Azure only.
    MCSB everywhere (AWS keys where AWS is, Azure keys in S2), FSBP on every AWS account, PCI v4.0.1 on A1 only,
    CIS v3.0.0 on A3 only, SOC-TSP (Azure keys only) in S1. Per-connector copies with contrary states, rows without
    a scope key, "Subscription" in S1 and "MultiCloudAggregation" in S3, unsupported controls."""
    c1, c2, gcp = (cr.connector(S1, "aws-a1", "100000000001"), cr.connector(S1, "aws-a2", "100000000002"),
                   cr.connector(S1, "gcp-x", "gcp-project", environment="GCP"))
    c3 = cr.connector(S3, "aws-a3", "100000000003")
    p1, p2, p3 = f"/subscriptions/{S1}", f"/subscriptions/{S2}", f"/subscriptions/{S3}"
    rows: list[dict] = [c1, c2, gcp, c3]
    rows += [cr.aws_assessment(c1["id"], k) for k in ("k-iam-1", "k-s3-1", "k-ec2-1")]
    rows += [cr.aws_assessment(c3["id"], "k-ct-1", source_key="source", source="aws")]  # camelCase, lower value
    rows += [cr.azure_assessment(S2, k) for k in ("az-vm-1", "az-sql-1")]
    # S1 (scope "Subscription"; FSBP rows without a scope key)
    for std, ctls in ((MCSB, [("NS-1", "Passed", "k-iam-1"), ("NS-2", "Failed", "k-s3-1"),
                              ("IM-1", "Unsupported", None), ("LT-1", "Skipped", None)]),
                      (FSBP, [("IAM.1", "passed", "k-iam-1"), ("S3.1", "Failed", "k-s3-1"),
                              ("EC2.1", "unsupported", None)]),
                      (PCI4, [("1.1", "Passed", "k-ec2-1"), ("2.1", "Passed", None)]),
                      (SOC, [("CC1", "Failed", "az-vm-1")])):
        scope = cr.MISSING if std == FSBP else "Subscription"
        rows.append(cr.standard(p1, std, scope=scope))
        for ctl, state, key in ctls:
            rows.append(cr.control(p1, std, ctl, state, scope=scope))
            if key:
                rows.append(cr.rc_assessment(p1, std, ctl, key, state=state, scope=scope))
    # S3 ("MultiCloudAggregation"): MCSB NS-1 fails here -> failed overall; IM-1 still unsupported everywhere
    for std, ctls in ((MCSB, [("NS-1", "Failed", "k-ct-1"), ("NS-2", "Failed", None), ("IM-1", "Unsupported", None),
                              ("LT-1", "Passed", None)]),
                      (FSBP, [("IAM.1", "Passed", None), ("S3.1", "Passed", None), ("EC2.1", "Skipped", None)]),
                      (CIS3, [("1.1", "Failed", "k-ct-1"), ("1.2", "Unsupported", None)])):
        rows.append(cr.standard(p3, std, scope="MultiCloudAggregation"))
        for ctl, state, key in ctls:
            rows.append(cr.control(p3, std, ctl, state, scope="MultiCloudAggregation"))
            if key:
                rows.append(cr.rc_assessment(p3, std, ctl, key, state=state, scope="multicloudaggregation"))
    # S2: Azure only (no AWS connector): MCSB with Azure keys, its failures must not reach the AWS figures
    rows.append(cr.standard(p2, MCSB, scope=""))
    for ctl in ("NS-1", "LT-1", "XX-9"):
        rows.append(cr.control(p2, MCSB, ctl, "Failed", scope=""))
        rows.append(cr.rc_assessment(p2, MCSB, ctl, "az-sql-1", scope=""))
    # per-connector copies (assignments), states contrary to the subscription rows: counting them would show
    copies = {c1["id"]: (MCSB, FSBP, PCI4), c2["id"]: (MCSB, FSBP), c3["id"]: (MCSB, FSBP, CIS3),
              gcp["id"]: ("GCP-CIS-2.0",)}
    for cid, stds in copies.items():
        for std in stds:
            rows.append(cr.standard(cid, std, scope="SecurityConnector"))
            rows.append(cr.control(cid, std, "NS-1" if std == MCSB else "1.1", "Failed", scope="SecurityConnector"))
            rows.append(cr.control(cid, std, "ZZ-copy-only", "Failed", scope="SecurityConnector"))
            rows.append(cr.rc_assessment(cid, std, "ZZ-copy-only", "k-iam-1", scope="SecurityConnector"))
    return cr.tables(rows)


EXPECTED = {  # (passed, failed, skipped, unsupported), worked out by hand from notes_estate()
    MCSB: (1, 2, 0, 1),  # NS-1 F (S3), NS-2 F, IM-1 U (everywhere), LT-1 P (S3 passed, S1 skipped)
    FSBP: (1, 1, 1, 0),  # IAM.1 P, S3.1 F (S1), EC2.1 unsupported in S1 but skipped in S3 -> Skipped
    PCI4: (2, 0, 0, 0),  # AWS by its assessment key (no "aws" in the name), assigned on A1 only
    CIS3: (0, 1, 0, 1),  # AWS by a camelCase `source: aws` key and by its copy on A3
}
ASSIGNED = {"100000000001": [FSBP, MCSB, PCI4], "100000000002": [FSBP, MCSB], "100000000003": [FSBP, CIS3, MCSB]}


@pytest.mark.parametrize("batch_size", [300, 1, 2])
def test_notes_estate_standards_counts_and_assignments(batch_size) -> None:
    t = notes_estate()
    data = collect(t, [S1, S2, S3], batch_size)
    got = {s.name: (s.passed_controls, s.failed_controls, s.skipped_controls, s.unsupported_controls)
           for s in data.standards}
    # SOC-TSP (Azure keys only) and the GCP connector's copy are not AWS; names as Azure has them
    assert got == EXPECTED
    assert {a: list(v) for a, v in data.assigned.items()} == ASSIGNED
    assert cr.figures(data) == cr.reference(t, [S1, S2, S3])
    assert data.standards_of("100000000002") == (FSBP, MCSB) and data.standards_of("999999999999") == ()
    assert [s.display_name for s in data.standards if s.name == MCSB] == ["Microsoft cloud security benchmark"]


def test_copies_and_azure_only_rows_would_change_the_figures() -> None:
    """The estate is built so that each rule matters: counting copies, ignoring the scope rule, counting Azure-only
    subscriptions or deciding by name each gives other figures (the test above can fail)."""
    t = notes_estate()
    every_row = {k: [dict(r, properties={**r["properties"], "scope": "Subscription"}) if r["type"] != cr.CONNECTOR_T
                     else r for r in rows] for k, rows in t.items()}
    assert cr.reference(every_row)[0] != cr.reference(t)[0]
    by_name = {s for s in EXPECTED if "aws" in s.lower()}
    assert by_name != set(EXPECTED)
    no_s2 = collect(t, [S1, S3], 300)
    assert cr.figures(no_s2) == cr.reference(t, [S1, S3])


def test_an_account_can_hold_a_standard_with_no_subscription_rows() -> None:
    """Assigned on an AWS connector but no in-scope control row yet (just assigned): reported with zero counts
    (percent n/a), and listed for the account."""
    c = cr.connector(S1, "aws-new", "100000000009")
    t = cr.tables([c, cr.standard(c["id"], "AWS-Well-Architected-Framework", scope="SecurityConnector")])
    data = collect(t, [S1], 300)
    assert data.standards == (m.ComplianceStandard("AWS-Well-Architected-Framework", 0, 0, 0, 0),)
    assert dict(data.assigned) == {"100000000009": ("AWS-Well-Architected-Framework",)}
    from tui.core.derive import compliance_percent

    assert compliance_percent(data.standards[0]) is None


# ----------------------------------------------------------------------------------------------------------------
# Random estates: the queries (single batch and per-subscription batches) against the rule
# ----------------------------------------------------------------------------------------------------------------

SCOPES = st.sampled_from([cr.MISSING, None, "", "Subscription", "subscription", "SUBSCRIPTION",
                          "MultiCloudAggregation", "multicloudaggregation", "SecurityConnector", "ResourceGroup",
                          "Subscriptions"])
STATES = st.sampled_from(["Passed", "passed", "Failed", "FAILED", "Skipped", "skipped", "Unsupported",
                          "unsupported", "Unknown", ""])
STD_NAMES = [MCSB, FSBP, PCI4, CIS3, SOC, "pci-dss-v4.0.1", "microsoft-cloud-security-benchmark"]
CTLS = ["1.1", "1.2", "NS-1", "ns-1", "IAM.1"]
AWS_KEYS, AZ_KEYS = ["k-aws-1", "K-AWS-2", "k-aws-3"], ["k-az-1", "k-az-2"]


@st.composite
def estates(draw) -> tuple[dict, list[str]]:
    subs = [S1, S2, S3]
    rows: list[dict] = []
    connectors = []
    for i, sub in enumerate(subs):
        for j in range(draw(st.integers(0, 2))):
            env = draw(st.sampled_from(["AWS", "aws", "GCP"]))
            c = cr.connector(sub, f"c{i}{j}", draw(st.sampled_from([f"10000000000{i}", f"20000000000{j}", None])),
                             environment=env)
            rows.append(c)
            connectors.append(c)
    for c in connectors:
        for key in draw(st.lists(st.sampled_from(AWS_KEYS), max_size=2)):
            rows.append(cr.aws_assessment(c["id"], key, source_key=draw(st.sampled_from(["Source", "source"])),
                                          source=draw(st.sampled_from(["Aws", "AWS", "aws", "Azure"]))))
    for key in draw(st.lists(st.sampled_from(AZ_KEYS), max_size=2)):
        rows.append(cr.azure_assessment(S2, key))
    prefixes = [f"/subscriptions/{s}" for s in subs] + [c["id"] for c in connectors]
    for _ in range(draw(st.integers(0, 25))):
        prefix = draw(st.sampled_from(prefixes))
        std, scope = draw(st.sampled_from(STD_NAMES)), draw(SCOPES)
        kind = draw(st.sampled_from(["standard", "control", "assessment"]))
        if kind == "standard":
            rows.append(cr.standard(prefix, std, scope=scope))
        elif kind == "control":
            rows.append(cr.control(prefix, std, draw(st.sampled_from(CTLS)), draw(STATES), scope=scope))
        else:
            rows.append(cr.rc_assessment(prefix, std, draw(st.sampled_from(CTLS)),
                                         draw(st.sampled_from(AWS_KEYS + AZ_KEYS)), state=draw(STATES), scope=scope))
    return cr.tables(rows), subs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates(), st.sampled_from([300, 1, 2]))
def test_random_estates_follow_the_rule_in_any_batching(estate, batch_size) -> None:
    t, subs = estate
    data = collect(t, subs, batch_size)
    assert cr.figures(data) == cr.reference(t, subs)
    for s in data.standards:  # each under a spelling Azure used
        assert s.name in STD_NAMES


# ----------------------------------------------------------------------------------------------------------------
# The rollup rule, unit by unit
# ----------------------------------------------------------------------------------------------------------------


def test_rollup_rule() -> None:
    S = arg.ControlState
    states = [
        S("Std", "failed-somewhere", 0, 3, 0, 3), S("std", "FAILED-somewhere", 1, 0, 0, 1),  # case-insensitive
        S("Std", "passed-once", 0, 1, 0, 2),
        S("Std", "unsupported-everywhere", 0, 0, 2, 2), S("Std", "unsupported-everywhere", 0, 0, 1, 1),
        S("Std", "unsupported-in-one", 0, 0, 1, 1), S("Std", "unsupported-in-one", 0, 0, 0, 1),
        S("Std", "skipped", 0, 0, 0, 4),
        S("Std", "unknown-rows", 0, 0, 0, 0),  # from a source that counts no rows: never Unsupported
    ]
    assert arg.rollup_control_states(states) == [m.ComplianceStandard("Std", 1, 1, 3, 1)]
    assert arg.rollup_control_states(reversed(states)) == [m.ComplianceStandard("Std", 1, 1, 3, 1)]
    assert arg.rollup_control_states(states[1:2] + states) == [m.ComplianceStandard("std", 1, 1, 3, 1)]  # 1st spelling


def test_control_state_rows_parse_into_per_control_states() -> None:
    row = {"standard": "Std", "standardKey": "std", "controls": ["a", "b", "c", "d"], "failedSet": ["a", ""],
           "passedSet": json.dumps(["a", "b", ""]), "unsupportedSet": ["c", ""]}
    assert arg.parse_control_states(row) == (arg.ControlState("Std", "a", 1, 1, 0, 1),
                                             arg.ControlState("Std", "b", 0, 1, 0, 1),
                                             arg.ControlState("Std", "c", 0, 0, 1, 1),
                                             arg.ControlState("Std", "d", 0, 0, 0, 1))
    assert arg.rollup_control_states(arg.parse_control_states(row)) == [m.ComplianceStandard("Std", 1, 1, 1, 1)]
    assert arg.parse_control_states({**row, "controls": "not a list"}) is None
    assert arg.parse_control_states({**row, "failedSet": None}) is None


def test_aws_compliance_combines_relevance_counts_and_assignments() -> None:
    counted = [m.ComplianceStandard("Microsoft-cloud-security-benchmark", 3, 1, 0, 2),
               m.ComplianceStandard("SOC-TSP", 5, 0, 0, 0)]  # counted, but nothing says it is about AWS
    names = ["microsoft-cloud-security-benchmark"]  # another spelling: the counted one wins
    assignments = [arg.ComplianceAssignment("PCI-DSS-v4.0.1", "/c/1", "100000000001"),
                   arg.ComplianceAssignment("Microsoft-cloud-security-benchmark", "/c/1", "100000000001"),
                   arg.ComplianceAssignment("Microsoft-cloud-security-benchmark", "/c/2", None)]
    standards, assigned = arg.aws_compliance(counted, names, assignments)
    assert standards == (m.ComplianceStandard("Microsoft-cloud-security-benchmark", 3, 1, 0, 2),
                         m.ComplianceStandard("PCI-DSS-v4.0.1", 0, 0, 0, 0))
    assert assigned == {"100000000001": ("Microsoft-cloud-security-benchmark", "PCI-DSS-v4.0.1")}


def test_no_standard_is_chosen_by_its_name() -> None:
    assert not hasattr(arg, "_is_aws_standard")
    row = {"standard": "SOC-TSP", "passedControls": 1, "failedControls": "2", "skippedControls": 0,
           "unsupportedControls": "4"}
    assert arg.parse_compliance_standard(row) == m.ComplianceStandard("SOC-TSP", 1, 2, 0, 4)


# ----------------------------------------------------------------------------------------------------------------
# The snapshot JSON, its schema, the history
# ----------------------------------------------------------------------------------------------------------------


def _snapshot(data: m.ComplianceData) -> m.Snapshot:
    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    conn = m.Connector(id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/a1",
                       name="a1", kind="native", subscription_id="s", resource_group="rg",
                       aws_account_id="100000000001")
    conn2 = m.Connector(id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/a9",
                        name="a9", kind="native", subscription_id="s", resource_group="rg",
                        aws_account_id="100000000009")

    def ok(name: str, d: Any) -> m.Section:
        return m.Section(m.SectionStatus(name, "ok", t), d)

    return m.Snapshot(generated_at=t, subscriptions=("s",), sections={
        "connectors": ok("connectors", m.ConnectorsData((conn, conn2))), "plans": ok("plans", m.PlansData(())),
        "onboarding": ok("onboarding", m.OnboardingData(())),
        "recommendations": ok("recommendations", m.RecommendationsData(())), "compliance": ok("compliance", data)})


def test_snapshot_json_has_unsupported_display_name_and_account_standards() -> None:
    data = collect(notes_estate(), [S1, S2, S3], 300)
    doc = export.snapshot_to_dict(_snapshot(data))
    mcsb = doc["compliance"][MCSB]
    assert mcsb == {"passed_controls": 1, "failed_controls": 2, "skipped_controls": 0, "unsupported_controls": 1,
                    "percent": 33.3, "display_name": "Microsoft cloud security benchmark"}
    accounts = {a["aws_account_id"]: a for a in doc["accounts"]}
    assert accounts["100000000001"]["standards"] == [FSBP, MCSB, PCI4]
    assert accounts["100000000009"]["standards"] == []  # none known
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(export.__file__).parents[1] / "schema" / "snapshot.schema.json").read_text())
    jsonschema.validate(doc, schema)
    bad = json.loads(json.dumps(doc))
    bad["compliance"][MCSB]["unsupported_controls"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(doc))
    bad["accounts"][0]["standards"] = "MCSB"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    table = export.render_table(_snapshot(data))
    assert "UNSUPP" in table and MCSB in table
    header, rows = export.export_tables(_snapshot(data))["compliance"]
    assert "unsupported_controls" in header and "display_name" in header
    assert [r for r in rows if r[0] == MCSB][0][header.index("unsupported_controls")] == 1


def test_history_codec_keeps_the_new_fields_and_reads_old_rows() -> None:
    data = m.ComplianceData((m.ComplianceStandard(MCSB, 1, 2, 3, 4),), {"100000000001": (MCSB, FSBP)})
    back = codec.loads(codec.dumps(data), codec.model_classes())
    assert back.standards == data.standards and dict(back.assigned) == dict(data.assigned)
    # a row written before issue 11: no unsupported_controls, no assigned
    old = '{"$c":"ComplianceData","standards":{"$t":[{"$c":"ComplianceStandard","name":"AWS-CIS-1.2.0",' \
          '"passed_controls":3,"failed_controls":1,"skipped_controls":2}]}}'
    back = codec.loads(old, codec.model_classes())
    assert back.standards == (m.ComplianceStandard("AWS-CIS-1.2.0", 3, 1, 2, 0),) and dict(back.assigned) == {}
    assert back.standards_of("100000000001") == ()
