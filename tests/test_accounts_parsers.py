"""Issue 11, the Arc and recommendation queries and their parsers (tui/core/arg.py) against a real KQL engine:

- Arc machines without MDC tags (cloudMetadata.provider AWS) are read, with computerName and machineFqdn;
- AWS findings without a connector id keep their Arc machine (resourceDetails.AzureResourceId), read PascalCase
  first and camelCase too, and show the real resourceDetails.ResourceType;
- the counts query stays bounded: one row per connector, one per AWS account for findings on MDC-tagged Arc
  machines, one per untagged (or missing) machine only;
- end to end through derive: attributed to the right account, the rest counted as unattributed;
- hypothesis: the parsers never raise on any mix of casing, missing keys or junk.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core import arg
from tui.core import derive as d
from tui.core import export
from tui.core import model as m

SUB = "00000000-0000-0000-0000-0000000000a1"
ACC, OTHER = "111111111111", "222222222222"
CONN = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.security/securityconnectors/c1"
CONN2 = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.security/securityconnectors/c2"
MACHINES = f"/subscriptions/{SUB}/resourceGroups/arc/providers/Microsoft.HybridCompute/machines"
NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------------ hypothesis

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=20)
KEYS = ["id", "name", "subscriptionId", "resourceGroup", "status", "accountId", "instanceId", "connector",
        "lastStatusChange", "osName", "computerName", "machineFqdn", "cloudProvider", "connectorId", "arcAccount",
        "azureResourceId", "AzureResourceId", "assessmentKey", "title", "severity", "resourceName", "resourceType",
        "ResourceType", "resourceProvider", "additionalResourceType", "region", "account", "description",
        "remediation", "total", "unhealthy_high", "healthy_low", "notapplicable_medium"]


@st.composite
def any_case(draw, key: str) -> str:
    """The key as written, lower-cased, upper-cased or with its first letter flipped (ARG/KQL columns vary)."""
    how = draw(st.sampled_from(["same", "lower", "upper", "flip"]))
    return {"same": key, "lower": key.lower(), "upper": key.upper(),
            "flip": key[:1].swapcase() + key[1:]}[how]


rows = st.dictionaries(st.sampled_from(KEYS).flatmap(any_case) | st.text(max_size=8), json_values, max_size=14)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(rows, json_values))
def test_parsers_never_raise_on_any_casing_or_missing_keys(row) -> None:
    for parser in (arg.parse_arc_machine, arg.parse_recommendation_count, arg.parse_recommendation):
        out = parser(row)
        assert out is None or isinstance(out, (m.ArcMachine, m.Recommendation, tuple))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["computerName", "machineFqdn", "cloudProvider", "instanceId", "azureResourceId",
                        "arcAccount"]).flatmap(any_case), st.text(max_size=20))
def test_columns_are_read_whatever_their_case(key, value) -> None:
    machine = arg.parse_arc_machine({"id": f"{MACHINES}/x", "name": "x", key: value})
    assert machine is not None
    got = {"computername": machine.computer_name, "machinefqdn": machine.fqdn, "cloudprovider": machine.cloud_provider,
           "instanceid": machine.instance_id if machine.tagged else None}.get(key.lower())
    if key.lower() in ("computername", "machinefqdn", "cloudprovider", "instanceid"):
        assert got == (value.strip() or None)


# ------------------------------------------------------------------------------------------------ parsers


def test_arc_machine_without_mdc_tags() -> None:
    row = {"id": f"{MACHINES}/ip-10-0-1-5", "name": "ip-10-0-1-5", "subscriptionId": SUB, "resourceGroup": "arc",
           "status": "Connected", "accountId": "", "instanceId": "", "connector": "",
           "computerName": "ip-10-0-1-5", "machineFqdn": "ip-10-0-1-5.ec2.internal", "cloudProvider": "AWS"}
    a = arg.parse_arc_machine(row)
    assert (a.tagged, a.instance_id, a.aws_account_id) == (False, "ip-10-0-1-5", None)
    assert (a.computer_name, a.fqdn, a.cloud_provider) == ("ip-10-0-1-5", "ip-10-0-1-5.ec2.internal", "AWS")
    tagged = arg.parse_arc_machine(dict(row, instanceId="i-0abc", accountId=ACC))
    assert tagged.tagged and tagged.instance_id == "i-0abc" and tagged.aws_account_id == ACC


def test_count_rows_without_a_connector() -> None:
    tag = arg.parse_recommendation_count({"connectorId": "", "arcAccount": int(ACC), "azureResourceId": "",
                                          "unhealthy_high": 3})
    assert [(c.connector_id, c.arc_account_id, c.azure_resource_id, c.count) for c in tag] == [("", ACC, None, 3)]
    machine = arg.parse_recommendation_count({"connectorId": "", "arcAccount": "", "azureResourceId":
                                              f"{MACHINES}/HAND", "healthy_low": "2"})
    assert [(c.arc_account_id, c.azure_resource_id) for c in machine] == [(None, f"{MACHINES}/HAND".lower())]
    # a row with a connector is attributed by it: the other keys are ignored
    conn = arg.parse_recommendation_count({"connectorId": CONN.upper(), "arcAccount": ACC, "azureResourceId": "x",
                                           "unhealthy_low": 1})
    assert [(c.connector_id, c.arc_account_id, c.azure_resource_id) for c in conn] == [(CONN, None, None)]


def test_recommendation_row_on_an_arc_machine() -> None:
    rid = f"{MACHINES}/ip-10-0-1-5/providers/Microsoft.Security/assessments/k1"
    r = arg.parse_recommendation({"id": rid, "connectorId": "", "azureResourceId": f"{MACHINES}/ip-10-0-1-5",
                                  "resourceType": "AwsEc2Instance", "severity": "high", "status": "unhealthy"})
    assert r.azure_resource_id == f"{MACHINES}/ip-10-0-1-5".lower() and r.connector_id == ""
    assert r.resource_type == "AwsEc2Instance" and r.resource_name == "ip-10-0-1-5"
    assert (r.severity, r.status) == ("High", "Unhealthy")


# ------------------------------------------------------------------------------------------------ KQL engine


@pytest.fixture
def kql():
    duckdb_kql = pytest.importorskip("duckdb_kql")
    con = duckdb_kql.connect()
    cols = ("id VARCHAR, name VARCHAR, type VARCHAR, subscriptionId VARCHAR, resourceGroup VARCHAR, "
            "tenantId VARCHAR, properties JSON, tags JSON")
    for t in ("resources", "securityresources"):
        con.execute(f"CREATE TABLE {t} ({cols})")

    def ins(t: str, **r) -> None:
        con.execute(f"INSERT INTO {t} VALUES (?,?,?,?,?,?,?,?)",
                    [r.get("id"), r.get("name"), r.get("type"), SUB, r.get("resourceGroup", "rg"), "t",
                     json.dumps(r.get("properties", {})), json.dumps(r.get("tags", {}))])

    def run(q: str, parser):
        rel = duckdb_kql.query(con, q)
        out, bad = arg.parse_rows([dict(zip(rel.columns, r)) for r in rel.fetchall()], parser)
        assert bad == 0
        return out

    return ins, run


def assessment(ins, rid: str, key: str, details: dict, status: str = "Unhealthy", sev: str = "High") -> None:
    ins("securityresources", id=f"{rid}/providers/Microsoft.Security/assessments/{key}", name=key,
        type="microsoft.security/assessments",
        properties={"resourceDetails": details, "status": {"code": status}, "metadata": {"severity": sev},
                    "displayName": f"T {key}"})


def machine(ins, name: str, *, tags: dict | None = None, props: dict | None = None) -> str:
    mid = f"{MACHINES}/{name}"
    ins("resources", id=mid, name=name, type="microsoft.hybridcompute/machines", resourceGroup="arc",
        properties=dict({"status": "Connected"}, **(props or {})), tags=tags or {})
    return mid


def test_arc_query_reads_machines_without_tags(kql) -> None:
    ins, run = kql
    machine(ins, "i-0t", tags={"MDFCSecurityConnector": "true", "AccountId": ACC, "InstanceId": "i-0t"})
    machine(ins, "ip-10-0-1-5", props={"cloudMetadata": {"provider": "AWS"}, "osProfile": {"computerName": "web-1"},
                                       "machineFqdn": "ip-10-0-1-5.ec2.internal"})
    machine(ins, "onprem", props={"osProfile": {"computerName": "onprem"}})  # not AWS: left out
    got = {a.name: a for a in run(arg.ARC_MACHINES_QUERY, arg.parse_arc_machine)}
    assert set(got) == {"i-0t", "ip-10-0-1-5"}
    hand = got["ip-10-0-1-5"]
    assert (hand.tagged, hand.computer_name, hand.fqdn, hand.cloud_provider) == (
        False, "web-1", "ip-10-0-1-5.ec2.internal", "AWS")
    assert got["i-0t"].tagged and got["i-0t"].aws_account_id == ACC


def estate(ins) -> dict[str, str]:
    """Connector rows (by id and by resourceDetails.Id), 40 findings on 20 MDC-tagged Arc machines of two accounts,
    findings on an untagged machine (camelCase keys), on a missing machine and on nothing."""
    tagged = [machine(ins, f"i-{n:04x}", tags={"MDFCSecurityConnector": "true", "InstanceId": f"i-{n:04x}",
                                               "AccountId": ACC if n % 2 else OTHER}) for n in range(20)]
    hand = machine(ins, "ip-10-0-1-5", props={"cloudMetadata": {"provider": "AWS"},
                                              "osProfile": {"computerName": "ip-10-0-1-5"}})
    for n in range(3):
        assessment(ins, f"{CONN}/securityentitydata/aws-ec2-instance-i-{n}-us-east-1", f"c{n}",
                   {"Source": "Aws", "ConnectorId": "4a1c0d5e-guid", "ResourceType": "Ec2Instance"},
                   status="Unhealthy" if n else "Healthy")
    # a row whose own id is elsewhere but whose resourceDetails.Id names the connector (camelCase keys)
    assessment(ins, "/subscriptions/x/providers/other/thing", "cid",
               {"source": "aws", "id": f"{CONN2}/securityentitydata/aws-s3-bucket-b-eu-west-1"}, sev="Low")
    for i, mid in enumerate(tagged):
        for k in ("a", "b"):
            assessment(ins, mid, f"t{i}{k}", {"Source": "Aws", "AzureResourceId": mid.upper(),
                                              "ResourceType": "AwsEc2Instance"},
                       status="Unhealthy" if k == "a" else "Healthy", sev="Medium")
    assessment(ins, hand, "h1", {"source": "Aws", "azureResourceId": hand, "resourceType": "AwsEc2Instance"})
    gone = f"{MACHINES}/i-gone"
    assessment(ins, gone, "g1", {"Source": "Aws", "AzureResourceId": gone}, sev="Low")
    # another machine gone from the same group (a retired classic connector's rows): one row per group, not machine
    assessment(ins, f"{MACHINES}/i-gone2", "g2", {"Source": "Aws", "AzureResourceId": f"{MACHINES}/i-gone2"}, sev="Low")
    assessment(ins, "/subscriptions/x/resourceGroups/y/providers/z/n", "n1", {"Source": "Aws"}, status="Healthy")
    # not AWS: never counted
    assessment(ins, "/subscriptions/x/providers/vm/a", "az", {"source": "Azure"})
    return {"hand": hand, "gone": gone}


def test_counts_stay_bounded_and_keep_every_finding(kql) -> None:
    ins, run = kql
    ids = estate(ins)
    raw = run(arg.RECOMMENDATION_COUNTS_QUERY, lambda r: r)
    # 2 connectors + 2 accounts (20 tagged machines collapse) + the untagged machine + the missing ones' resource
    # group (two machines collapse) + nothing
    assert len(raw) == 7, raw
    cells = [c for cell in run(arg.RECOMMENDATION_COUNTS_QUERY, arg.parse_recommendation_count) for c in cell]
    assert sum(c.count for c in cells) == 3 + 1 + 40 + 1 + 2 + 1
    by = {}
    for c in cells:
        k = c.connector_id or c.arc_account_id or c.azure_resource_id or "-"
        by[k] = by.get(k, 0) + c.count
    group = ids["gone"].lower().split("/providers/")[0]
    assert by == {CONN: 3, CONN2: 1, ACC: 20, OTHER: 20, ids["hand"].lower(): 1, group: 2, "-": 1}


def test_end_to_end_attribution_and_unattributed(kql) -> None:
    ins, run = kql
    ids = estate(ins)
    arcs = tuple(run(arg.ARC_MACHINES_QUERY, arg.parse_arc_machine))
    counts = tuple(c for cell in run(arg.RECOMMENDATION_COUNTS_QUERY, arg.parse_recommendation_count) for c in cell)

    def conn(cid: str, account: str) -> m.Connector:
        return m.Connector(id=cid, name=cid.rsplit("/", 1)[1], kind="native", subscription_id=SUB,
                           resource_group="rg", aws_account_id=account)

    inventory = {ACC: m.AwsAccountInventory(ACC, True, instances=(
        m.Ec2Instance(ACC, "us-east-1", "i-0ffe", "running", "linux", private_dns_name="ip-10-0-1-5.ec2.internal"),))}
    ok = lambda n, data: m.Section(m.SectionStatus(n, "ok", NOW), data)  # noqa: E731
    snap = m.Snapshot(NOW, (SUB,), {
        "connectors": ok("connectors", m.ConnectorsData((conn(CONN, ACC), conn(CONN2, OTHER)))),
        "plans": ok("plans", m.PlansData(())),
        "onboarding": ok("onboarding", m.OnboardingData(arcs, inventory)),
        "recommendations": ok("recommendations", m.RecommendationsData(counts)),
        "compliance": ok("compliance", m.ComplianceData(())),
    })
    views = {v.aws_account_id: v.recommendations for v in d.account_views(snap)}
    # ACC: 3 connector rows + 20 on its tagged machines + 1 on the untagged machine matched by name to i-0ffe
    assert (views[ACC].total, views[ACC].unhealthy) == (3 + 20 + 1, 2 + 10 + 1)
    assert (views[OTHER].total, views[OTHER].unhealthy) == (1 + 20, 1 + 10)
    doc = export.snapshot_to_dict(snap)
    assert doc["recommendations_unattributed"] == {"total": 3, "unhealthy": 2}  # the missing machines, the bare row
    # the rows: camelCase keys read, the real ResourceType shown, attributed like the counts
    recs = d.attach_accounts(run(arg.RECOMMENDATIONS_QUERY, arg.parse_recommendation), snap)
    by_key = {r.assessment_key: r for r in recs}
    assert by_key["h1"].aws_account_id == ACC and by_key["h1"].resource_type == "AwsEc2Instance"
    assert by_key["h1"].azure_resource_id == ids["hand"].lower() and by_key["h1"].resource_name == "ip-10-0-1-5"
    assert by_key["cid"].connector_id == CONN2 and by_key["cid"].aws_account_id == OTHER
    assert by_key["c1"].resource_type == "Ec2Instance" and by_key["c1"].aws_account_id == ACC
    assert by_key["g1"].aws_account_id is None and by_key["n1"].aws_account_id is None
    assert "az" not in by_key
    assert d.unattributed(recs) == (3, 2) == (doc["recommendations_unattributed"]["total"],
                                    doc["recommendations_unattributed"]["unhealthy"])
    # one connector's rows, as the pane asks for them: the camelCase resourceDetails.Id row is found too
    only = run(arg.recommendations_query(CONN2.upper()), arg.parse_recommendation)
    assert [r.assessment_key for r in only] == ["cid"]
