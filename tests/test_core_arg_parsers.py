"""Row parsers of the Azure core (tui/core/arg.py, tui/core/azure.py): property tests and Microsoft's own payloads.

- parsers never raise, whatever JSON-ish value they get (they return None / a skip reason)
- well-formed rows round-trip into the model; numbers given as strings are coerced; ids compare case-insensitively
- the connector parsers read the official REST examples (tests/fixtures/azure, verbatim from azure-rest-api-specs)
- the KQL constants run on a real KQL engine (duckdb-kql, when installed) and their output parses
"""
from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core import arg
from tui.core import azure as az
from tui.core.errors import AuthError, SourceError
from tui.core.model import KNOWN_AWS_OFFERINGS, ArcMachine, ComplianceStandard

FIXTURES = Path(__file__).parent / "fixtures" / "azure"


def example_body(name: str) -> dict:
    doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return doc["responses"]["200"]["body"]


# ----------------------------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
# keys the parsers look at, so random rows reach deep into them
ROW_KEYS = [
    "id", "name", "subscriptionId", "resourceGroup", "status", "accountId", "instanceId", "connector",
    "lastStatusChange", "osName", "tenantId", "state", "count_", "count", "connectorId", "severity", "assessmentKey",
    "title", "resourceName", "resourceType", "resourceProvider", "additionalResourceType", "region", "account",
    "description", "remediation", "standard", "control", "failed", "passed", "passedControls", "failedControls",
    "skippedControls", "failedIn", "passedIn", "unsupportedIn", "subscriptions", "passedAssessments",
    "failedAssessments", "skippedAssessments", "properties", "location", "type",
    "unsupportedControls", "standardKey", "complianceStandard", "controls", "failedSet", "passedSet",
    "unsupportedSet", "keys", "awsAssessments", "hierarchyIdentifier", "scope",
]
rows = st.dictionaries(st.sampled_from(ROW_KEYS) | st.text(max_size=8), json_values, max_size=12)
anything = json_values | rows

ROW_PARSERS = [
    arg.parse_subscription, arg.parse_arc_machine, arg.parse_recommendation_count, arg.parse_recommendation,
    arg.parse_compliance_standard, arg.parse_control_states, arg.parse_compliance_control, arg.parse_standard_name,
    arg.parse_compliance_assignment, arg.parse_key_set, arg.parse_standard_keys, arg.parse_failing_assessment,
]

props_like = st.fixed_dictionaries(
    {},
    optional={
        "environmentName": st.sampled_from(["AWS", "aws", "GCP", "Github"]) | json_values,
        "hierarchyIdentifier": json_values,
        "environmentData": st.fixed_dictionaries({}, optional={
            "environmentType": st.sampled_from(["AwsAccount"]) | json_values,
            "regions": json_values,
            "scanInterval": json_values,
            "organizationalData": st.fixed_dictionaries({}, optional={
                "organizationMembershipType": st.sampled_from(["Organization", "Member"]) | json_values,
                "stacksetName": json_values, "excludedAccountIds": json_values, "parentHierarchyId": json_values,
            }) | json_values,
        }) | json_values,
        "offerings": st.lists(st.fixed_dictionaries({"offeringType": st.sampled_from(sorted(KNOWN_AWS_OFFERINGS))
                                                     | json_values}) | json_values, max_size=3) | json_values,
        "authenticationDetails": st.fixed_dictionaries({}, optional={
            "authenticationType": st.sampled_from(["awsAssumeRole", "awsCreds", "gcpCredentials"]) | json_values,
            "accountId": json_values, "awsAssumeRoleArn": json_values,
            "authenticationProvisioningState": json_values, "provisioningState": json_values,
        }) | json_values,
        "hybridComputeSettings": json_values,
        "pricingTier": json_values,
        "extensions": json_values,
    },
)
arm_items = st.fixed_dictionaries({}, optional={"id": st.just("/subscriptions/S/resourceGroups/r/providers/x/y/n")
                                                | json_values, "name": json_values,
                                                "properties": props_like | json_values}) | json_values


# ----------------------------------------------------------------------------------------------------------------
# Parsers never raise
# ----------------------------------------------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_row_parsers_never_raise(row) -> None:
    for parser in ROW_PARSERS:
        parser(row)  # returns a model or None; raising is the bug


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(arm_items, st.sampled_from([None, "Sub-1"]))
def test_arm_item_parsers_never_raise(item, sub) -> None:
    c, why = az.parse_native_connector(item, sub)
    assert (c is None) != (why is None)
    c, why = az.parse_classic_connector(item, sub)
    assert (c is None) != (why is None)
    az.parse_pricing(item, sub or "s")


@given(json_values)
def test_helpers_never_raise(v) -> None:
    arg._s(v), arg._int(v), arg.aws_account(v), arg.parse_duration(v), arg.subscription_of(v)
    arg.connector_id_of(v), arg.aws_region_of(v), arg.aws_account_of_arn(v)


# ----------------------------------------------------------------------------------------------------------------
# Round trips of well-formed rows
# ----------------------------------------------------------------------------------------------------------------

names = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)
guids = st.uuids().map(str)
accounts = st.from_regex(r"\A[0-9]{12}\Z")
counts = st.integers(0, 10**9)


@st.composite
def arc_rows(draw):
    sub, rg, inst = draw(guids), draw(names), "i-" + draw(st.from_regex(r"\A[0-9a-f]{17}\Z"))
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{inst}",
        "name": inst, "subscriptionId": sub, "resourceGroup": rg,
        "status": draw(st.sampled_from(["Connected", "Disconnected", "Expired", "Error", "AwaitingConnection"])),
        "accountId": draw(accounts), "instanceId": inst, "connector": "true",
        "lastStatusChange": "2024-05-01T10:00:00Z", "osName": draw(st.sampled_from(["linux", "windows"])),
    }


@given(arc_rows())
def test_arc_machine_round_trip(row) -> None:
    m = arg.parse_arc_machine(row)
    assert m == ArcMachine(
        id=row["id"], name=row["name"], subscription_id=row["subscriptionId"], resource_group=row["resourceGroup"],
        status=row["status"], aws_account_id=row["accountId"], instance_id=row["instanceId"], connector="true",
        last_status_change=row["lastStatusChange"], os_name=row["osName"],
    )


@given(arc_rows())
def test_arc_machine_fallbacks(row) -> None:
    # ARG's tostring(null) is "": empty tags fall back (instance id = name), a bare id gives sub and RG
    sparse = dict(row, instanceId="", accountId="", subscriptionId="", resourceGroup="", status="", osName="")
    m = arg.parse_arc_machine(sparse)
    assert m is not None
    assert m.instance_id == row["name"] and m.aws_account_id is None and m.os_name is None
    assert m.subscription_id == row["subscriptionId"].lower() and m.resource_group == row["resourceGroup"]
    assert m.status == "Unknown"
    assert arg.parse_arc_machine(dict(row, id="")) is None


def test_account_ids_keep_leading_zeros() -> None:
    assert arg.aws_account(12345678901) == "012345678901"
    assert arg.aws_account("012345678901") == "012345678901"
    assert arg.aws_account(True) is None


@given(guids, names, st.sampled_from(["High", "Medium", "Low"]), st.sampled_from(["Healthy", "Unhealthy",
                                                                                   "NotApplicable"]), counts,
       st.booleans())
def test_recommendation_count_round_trip(sub, conn, sev, status, n, as_text) -> None:
    cid = f"/subscriptions/{sub}/resourceGroups/RG/providers/Microsoft.Security/securityConnectors/{conn}"
    col = f"{status.lower()}_{sev.lower()}"
    other = "healthy_high" if col != "healthy_high" else "unhealthy_low"
    row = {"connectorId": cid, other: 0, col: str(n) if as_text else n, "total": n}
    cells = arg.parse_recommendation_count(row)
    assert cells is not None
    if n == 0:
        assert cells == ()
    else:
        [c] = cells
        assert c.connector_id == cid.lower()  # ids lower-cased, whatever case ARG/KQL gave
        assert (c.severity, c.status, c.count) == (sev, status, n)  # numbers from strings
    assert arg.parse_recommendation_count(dict(row, **{col: "many"})) is None
    assert arg.parse_recommendation_count(dict(row, **{col: -1})) is None
    assert arg.parse_recommendation_count({"connectorId": cid}) is None  # no count column at all
    no_conn = arg.parse_recommendation_count({k: v for k, v in row.items() if k != "connectorId"})
    assert all(c.connector_id == "" for c in no_conn)


@st.composite
def assessment_rows(draw):
    sub, conn, key = draw(guids), draw(names), draw(guids)
    region = draw(st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-2", "us-gov-west-1"]))
    inst = "i-" + draw(st.from_regex(r"\A[0-9a-f]{8}\Z"))
    connector = f"/subscriptions/{sub}/resourcegroups/rg/providers/microsoft.security/securityconnectors/{conn}"
    rid = (f"{connector}/securityentitydata/aws-ec2-instance-{inst}-{region}"
           f"/providers/microsoft.security/assessments/{key}")
    return {
        "id": rid, "assessmentKey": key, "connectorId": connector.lower(), "title": draw(st.text(min_size=1)).strip()
        or "t", "severity": draw(st.sampled_from(["High", "Medium", "Low"])),
        "status": draw(st.sampled_from(["Healthy", "Unhealthy", "NotApplicable"])),
        "resourceName": inst, "resourceType": "ec2instance", "region": region, "account": draw(accounts),
        "description": "d", "remediation": "r",
    }, region


@given(assessment_rows())
def test_recommendation_round_trip_and_derivations(pair) -> None:
    row, region = pair
    r = arg.parse_recommendation(row)
    assert r is not None
    assert (r.id, r.assessment_key, r.title, r.severity, r.status, r.connector_id, r.resource_name, r.region,
            r.aws_account_id, r.description, r.remediation) == (
        row["id"], row["assessmentKey"], row["title"].strip(), row["severity"], row["status"], row["connectorId"],
        row["resourceName"], row["region"], row["account"], "d", "r")
    # without the projected columns: key, connector and region come from the (upper-cased) id
    bare = arg.parse_recommendation({"id": row["id"].upper()})
    assert bare is not None
    assert bare.assessment_key == row["assessmentKey"].upper()
    assert bare.connector_id == row["connectorId"]  # case-insensitive id -> lower-case connector id
    assert bare.region == region
    assert bare.title == bare.assessment_key


def test_connector_id_of_is_case_insensitive() -> None:
    rid = ("/subscriptions/S/resourceGroups/RG/providers/Microsoft.Security/securityConnectors/C1/"
           "securityEntityData/aws-iam-user-bob/providers/Microsoft.Security/assessments/k")
    assert arg.connector_id_of(rid) == ("/subscriptions/s/resourcegroups/rg/providers/microsoft.security/"
                                        "securityconnectors/c1")
    assert arg.aws_region_of(rid) is None  # a global resource has no region
    assert arg.connector_id_of("/subscriptions/s/providers/x") is None


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip()), counts, counts, counts, counts | st.none())
def test_compliance_standard_of_any_name(name, p, f, s, u) -> None:
    """No standard is kept or dropped by its name (AWS relevance is decided from data); unsupported is its own
    count (missing: 0)."""
    row = {"standard": name, "passedControls": str(p), "failedControls": f, "skippedControls": s,
           "unsupportedControls": u}
    assert arg.parse_compliance_standard(row) == ComplianceStandard(name.strip(), p, f, s, u or 0)
    assert arg.parse_compliance_standard({"standard": "AWS-CIS-1.2.0", "passedControls": "x"}) is None
    assert arg.parse_compliance_standard({"standard": "X", "unsupportedControls": -1}) is None


def _recase(draw, key: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in key)


@given(st.data())
def test_compliance_rows_with_keys_in_any_case(data) -> None:
    """ARG column names come back as projected, but a parser reads them case-insensitively anyway."""
    d = data.draw
    std = {_recase(d, "standard"): "PCI-DSS-v4.0.1", _recase(d, "passedControls"): "3",
           _recase(d, "failedControls"): 1, _recase(d, "unsupportedControls"): 2.0}
    assert arg.parse_compliance_standard(std) == ComplianceStandard("PCI-DSS-v4.0.1", 3, 1, 0, 2)
    copy = {_recase(d, "id"): "/subscriptions/S/resourceGroups/R/providers/Microsoft.Security/securityConnectors/C/"
                              "providers/Microsoft.Security/regulatoryComplianceStandards/CIS-AWS-Foundations-v3.0.0",
            _recase(d, "account"): 12345678901}
    assert arg.parse_compliance_assignment(copy) == arg.ComplianceAssignment(
        "CIS-AWS-Foundations-v3.0.0",
        "/subscriptions/s/resourcegroups/r/providers/microsoft.security/securityconnectors/c",
        "012345678901")
    sets = {_recase(d, "standard"): "Std", _recase(d, "controls"): '["a", "B"]', _recase(d, "failedSet"): ["b", ""],
            _recase(d, "passedSet"): [], _recase(d, "unsupportedSet"): ["a"]}
    assert arg.parse_control_states(sets) == (arg.ControlState("Std", "a", 0, 0, 1, 1),
                                              arg.ControlState("Std", "B", 1, 0, 0, 1))
    assert arg.parse_standard_keys({_recase(d, "standard"): "Std", _recase(d, "keys"): ["K1", "k2"]}) == (
        "Std", frozenset({"k1", "k2"}))
    assert arg.parse_key_set({"keys": "[]"}) == frozenset()


control_states = st.lists(
    st.tuples(st.sampled_from(["AWS-CIS-1.2.0", "aws-cis-1.2.0", "Microsoft-cloud-security-benchmark"]),
              st.sampled_from(["1.1", "1.2", "2.1", "3", "NS-1", "ns-1"]), st.integers(0, 3), st.integers(0, 3),
              st.integers(0, 3), st.integers(0, 3)).map(lambda t: (*t[:4], min(t[4], t[5]), t[5])),
    max_size=30,
)


@given(control_states, st.data())
def test_rollup_is_batch_invariant(rows_, data) -> None:
    """Splitting subscriptions into ARG batches must not change the per-standard rollup."""
    states = [arg.ControlState(s, c, f, p, u, n) for s, c, f, p, u, n in rows_]
    whole = arg.rollup_control_states(states)
    cut = data.draw(st.integers(0, len(states)))
    assert arg.rollup_control_states(states[:cut] + states[cut:]) == whole
    # and it matches the rule: failed anywhere -> failed; passed somewhere, failed nowhere -> passed; unsupported in
    # every row -> unsupported; else skipped (controls and standards compared case-insensitively)
    per: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    for s in states:
        f, p, u, n = per.get((s.standard.lower(), s.control.lower()), (0, 0, 0, 0))
        per[(s.standard.lower(), s.control.lower())] = (f + s.failed, p + s.passed, u + s.unsupported, n + s.rows)
    for std in whole:
        mine = [v for (sk, _c), v in per.items() if sk == std.name.lower()]
        assert std.failed_controls == sum(1 for f, *_ in mine if f)
        assert std.passed_controls == sum(1 for f, p, *_ in mine if not f and p)
        assert std.unsupported_controls == sum(1 for f, p, u, n in mine if not f and not p and n and u == n)
        assert std.skipped_controls == sum(1 for f, p, u, n in mine if not f and not p and not (n and u == n))


@given(st.lists(st.tuples(st.sampled_from(["1.1", "1.2"]), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2),
                          counts), max_size=10))
def test_control_rows_merge(parts) -> None:
    rows_ = [{"standard": "AWS-CIS-1.2.0", "control": c, "description": "", "subscriptions": 2, "failedIn": f,
              "passedIn": p, "unsupportedIn": u, "passedAssessments": str(n), "failedAssessments": n,
              "skippedAssessments": None} for c, f, p, u, n in parts]
    controls, bad = arg.parse_rows(rows_, arg.parse_compliance_control)
    assert bad == 0
    merged = {c.name: c for c in arg.merge_controls(controls)}
    for name in {c for c, *_ in parts}:
        mine = [x for x in parts if x[0] == name]
        expect = "Failed" if any(f for _, f, *_ in mine) else "Passed" if any(p for _, _, p, *_ in mine) else \
            "Unsupported" if all(u >= 2 for *_, u, _n in mine) else "Skipped"
        assert merged[name].state == expect
        assert merged[name].passed_assessments == sum(n for *_, n in mine)
        assert merged[name].skipped_assessments == 0


def test_subscription_rows() -> None:
    s = arg.parse_subscription({"id": "/subscriptions/ABC", "name": "Prod", "tenantId": "t", "state": "Enabled"})
    assert s == arg.SubscriptionInfo("abc", "Prod", "t", "Enabled")
    assert arg.parse_subscription({"name": "no id"}) is None


@given(st.text(max_size=40))
def test_kql_string_literal_is_closed(value) -> None:
    lit = arg.kql_string(value)
    assert lit.startswith("'") and lit.endswith("'")
    body = lit[1:-1]
    # every quote inside is escaped: the literal cannot end early and inject KQL
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        assert body[i] not in "'\n\r"
        i += 1
    assert "where standard =~ '" in arg.compliance_controls_query("AWS-CIS-1.2.0")


# ----------------------------------------------------------------------------------------------------------------
# Official example payloads (verbatim copies in tests/fixtures/azure)
# ----------------------------------------------------------------------------------------------------------------


def test_native_connectors_from_official_list_example() -> None:
    body = example_body("securityConnectors_2023-10-01-preview_GetSecurityConnectorsSubscription_example.json")
    parsed = [az.parse_native_connector(i) for i in body["value"]]
    conns = [c for c, _ in parsed if c is not None]
    reasons = [w for _, w in parsed if w is not None]
    assert [c.name for c in conns] == ["exampleSecurityConnectorAws", "exampleSecurityConnectorAwsOrganization"]
    single, org = conns
    assert single.kind == "native" and single.organization_role == "single"
    assert single.subscription_id == "a5caac9c-5c04-49af-b3d0-e204f40345d5"
    assert single.resource_group == "exampleResourceGroup1"
    assert single.aws_account_id == "exampleHierarchyId" and single.location == "Central US"
    assert [o.offering_type for o in single.offerings] == ["CspmMonitorAws"]
    assert single.offering("CspmMonitorAws").raw["nativeCloudConnection"]["cloudRoleArn"].endswith("ASCMonitor")
    assert single.health == "ok" and single.raw["etag"] == "etag value"
    assert org.organization_role == "management" and org.stackset_name == "myStackSetName"
    assert org.excluded_account_ids == ("excludedAccountIdExample",)
    # GitHub, Azure DevOps (its example says environmentName Github) and GCP are recorded, not kept
    assert reasons == ["githubTest: Github connector (not AWS)", "AzureDevOpsTest: Github connector (not AWS)",
                       "exampleSecurityConnectorGcp: GCP connector (not AWS)"]


def test_native_connector_single_resource_example() -> None:
    body = example_body("securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource_example.json")
    c, why = az.parse_native_connector(body)
    assert why is None and c is not None
    assert c.scan_interval_hours == 4 and c.regions == ()


def test_native_connector_shapes_beyond_the_examples() -> None:
    item = {
        "id": "/subscriptions/S1/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/member1",
        "name": "member1", "location": "westeurope",
        "properties": {
            "hierarchyIdentifier": "210987654321", "environmentName": "AWS",
            "environmentData": {"environmentType": "AwsAccount", "regions": ["us-east-1", 7, None, "eu-west-1"],
                                "scanInterval": "12",
                                "organizationalData": {"organizationMembershipType": "Member",
                                                       "parentHierarchyId": "123456789012"}},
            "offerings": [
                {"offeringType": "DefenderForServersAws", "subPlan": "P1"},  # a string subPlan: kept raw
                {"offeringType": "DefenderForSomethingNewAws", "x": 1},  # unknown: ignored, connector kept
                "garbage",
            ],
        },
    }
    c, why = az.parse_native_connector(item, "s1")
    assert why is None and c is not None
    assert c.subscription_id == "s1" and c.organization_role == "member" and c.parent_account_id == "123456789012"
    assert c.regions == ("us-east-1", "7", "eu-west-1") and c.scan_interval_hours == 12
    assert [o.offering_type for o in c.offerings] == ["DefenderForServersAws"]
    assert c.offering("DefenderForServersAws").raw["subPlan"] == "P1"
    assert az.parse_native_connector({"name": "x"}) == (None, "x: no id")
    assert az.parse_native_connector({"id": "/subscriptions/s/x/c", "properties": []})[1] == "c: no properties"


def test_classic_connectors_from_official_examples() -> None:
    body = example_body("connectors_2020-01-01-preview_GetListConnectorSubscription_example.json")
    parsed = [az.parse_classic_connector(i) for i in body["value"]]
    assert all(w is None for _, w in parsed)
    creds, role = (c for c, _ in parsed)
    assert (creds.name, creds.kind, creds.auth_type, creds.aws_account_id) == ("aws_dev1", "classic", "awsCreds",
                                                                               "922315681122")
    assert (role.auth_type, role.aws_account_id) == ("awsAssumeRole", "81231569658")
    for c in (creds, role):
        assert c.resource_group is None and c.subscription_id == "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
        assert c.health == "ok" and c.location == "West US 2" and c.offerings == ()
    one = example_body("connectors_2020-01-01-preview_CreateUpdateAwsAssumeRoleConnectorSubscription_example.json")
    c, why = az.parse_classic_connector(one)
    assert why is None and c.aws_account_id == "81231569658"


def test_classic_connector_health_and_other_clouds() -> None:
    base = {"id": "/subscriptions/s/providers/Microsoft.Security/connectors/c", "name": "c"}
    expired = dict(base, properties={
        "authenticationDetails": {"authenticationType": "awsAssumeRole",
                                  "awsAssumeRoleArn": "arn:aws:iam::123456789012:role/AscConnector",
                                  "authenticationProvisioningState": "Expired"},
        "hybridComputeSettings": {"autoProvision": "On", "hybridComputeProvisioningState": "Invalid"}})
    c, _ = az.parse_classic_connector(expired)
    assert (c.health, c.health_detail, c.aws_account_id) == ("Expired", "AWS authentication Expired", "123456789012")
    arc_bad = dict(base, properties={
        "authenticationDetails": {"authenticationType": "awsCreds", "authenticationProvisioningState": "Valid"},
        "hybridComputeSettings": {"autoProvision": "On", "hybridComputeProvisioningState": "Invalid"}})
    assert az.parse_classic_connector(arc_bad)[0].health == "Invalid"
    unknown = dict(base, properties={"authenticationDetails": {"authenticationType": "awsCreds"}})
    assert az.parse_classic_connector(unknown)[0].health == "unknown"
    gcp = dict(base, properties={"authenticationDetails": {"authenticationType": "gcpCredentials"}})
    assert az.parse_classic_connector(gcp) == (None, "c: classic GCP connector (not AWS)")


def test_pricings_from_official_list_example() -> None:
    body = example_body("pricings_2024-01-01_ListPricings_example.json")
    pricings = [az.parse_pricing(i, "SUB") for i in body["value"]]
    assert all(p is not None for p in pricings)
    by = {p.name: p for p in pricings}
    assert all(p.subscription_id == "sub" for p in pricings)  # the subscription asked about, lower-cased
    assert (by["VirtualMachines"].tier, by["VirtualMachines"].sub_plan) == ("Standard", "P2")
    assert by["VirtualMachines"].extensions == {"AgentlessVmScanning": True}
    assert by["CloudPosture"].extensions["SensitiveDataDiscovery"] is True
    assert by["AppServices"].tier == "Free" and by["AppServices"].sub_plan is None
    assert az.parse_pricing({"name": "X", "properties": {}}, "s") is None


def test_api_versions_match_the_sdk_profile() -> None:
    from azure.mgmt.security import SecurityCenter

    profile = SecurityCenter.LATEST_PROFILE.get_profile_dict()[SecurityCenter._PROFILE_TAG]
    assert profile["security_connectors"] == az.SECURITY_CONNECTORS_API
    assert profile["connectors"] == az.CLASSIC_CONNECTORS_API
    assert profile["pricings"] == az.PRICINGS_API


# ----------------------------------------------------------------------------------------------------------------
# Quota pacing, durations, errors (pure parts)
# ----------------------------------------------------------------------------------------------------------------


def test_parse_duration_and_retry_after() -> None:
    assert arg.parse_duration("00:00:05") == 5
    assert arg.parse_duration("0:01:02.5") == 62.5
    assert arg.parse_duration("7") == 7 and arg.parse_duration("soon") is None and arg.parse_duration("-1") is None
    assert arg.retry_after_of({"retry-after-ms": "250"}) == 0.25
    assert arg.retry_after_of({"Retry-After": "3"}) == 3
    assert arg.retry_after_of({"x-ms-user-quota-resets-after": "00:00:04"}) == 4
    assert arg.retry_after_of({}) is None


async def test_quota_pacer_waits_for_the_reset() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    pacer = arg.QuotaPacer(clock=lambda: now[0], sleep=sleep)
    pacer.observe({"x-ms-user-quota-remaining": "14", "x-ms-user-quota-resets-after": "00:00:05"})
    assert await pacer.wait() == 0 and slept == []
    pacer.observe({"x-ms-user-quota-remaining": "1", "x-ms-user-quota-resets-after": "00:00:03"})
    assert await pacer.wait() == 3 and slept == [3]
    assert await pacer.wait() == 0  # the window has reset
    pacer.observe({"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "10:00:00"})
    assert pacer.delay() == arg.MAX_QUOTA_WAIT_S  # a bogus header never stalls us for hours
    pacer.observe({"x-ms-user-quota-remaining": "nonsense"})
    assert pacer.remaining == 0


@pytest.mark.parametrize(
    ("status", "code", "kind", "cls", "needle"),
    [
        (401, "ExpiredAuthenticationToken", "auth", AuthError, "az login"),
        (403, "AuthorizationFailed", "auth", AuthError, "Reader + Security Reader"),
        (404, "SubscriptionNotFound", "auth", AuthError, "--subscription"),
        (429, "RateLimiting", "throttled", SourceError, "wait 7 s"),
        (503, "ServiceUnavailable", "server", SourceError, "try again later"),
        (400, "BadRequest", "error", SourceError, "refused"),
    ],
)
def test_http_errors_are_one_line_with_a_fix(status, code, kind, cls, needle) -> None:
    e = arg.http_error(status, code=code, message="line one\nline two", headers={"Retry-After": "7"},
                       endpoint="https://management.azure.com", what="security connectors", subscription="s1")
    assert isinstance(e, cls) and e.kind == kind and needle in str(e) and "\n" not in str(e)
    if status == 429:
        assert e.retry_after == 7


def test_exceptions_map_to_source_errors() -> None:
    from azure.core import exceptions as ace
    from azure.identity import CredentialUnavailableError

    ep = "https://management.azure.com"
    e = arg.to_source_error(CredentialUnavailableError("EnvironmentCredential: missing\nmore lines"), endpoint=ep,
                            what="x")
    assert isinstance(e, AuthError) and "az login" in str(e) and "EnvironmentCredential: missing" in str(e)
    chained = ace.ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials:\n"
        "\tEnvironmentCredential: unavailable.\n\tAzureCliCredential: Please run 'az login' to set up an account\n"
        "To mitigate this issue, please refer to the troubleshooting guidelines")
    e = arg.to_source_error(chained, endpoint=ep, what="x")
    assert str(e) == ("no usable Azure credentials (DefaultAzureCredential tried 2 sources; Azure CLI: Please run "
                      "'az login' to set up an account): run `az login` or set MDC_AWS_ACCESS_TOKEN to a fresh token")
    e = arg.to_source_error(ace.ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] nope"), endpoint=ep, what="x")
    assert e.kind == "network" and "--ca-bundle" in str(e) and "management.azure.com" in str(e)
    e = arg.to_source_error(ace.ServiceRequestError("Cannot connect to host"), endpoint=ep, what="x")
    assert e.kind == "network" and "--arm-endpoint" in str(e)
    e = arg.to_source_error(ace.DecodeError("JSON is invalid"), endpoint=ep, what="x")
    assert e.kind == "malformed"
    e = arg.to_source_error(ace.DeserializationError("bad"), endpoint=ep, what="x")
    assert e.kind == "malformed"


# ----------------------------------------------------------------------------------------------------------------
# The KQL runs on a real KQL engine (duckdb-kql), over ARG-shaped tables, and its output parses
# ----------------------------------------------------------------------------------------------------------------


def test_kql_constants_run_on_a_kql_engine() -> None:
    duckdb_kql = pytest.importorskip("duckdb_kql")
    con = duckdb_kql.connect()
    cols = ("id VARCHAR, name VARCHAR, type VARCHAR, subscriptionId VARCHAR, resourceGroup VARCHAR, "
            "tenantId VARCHAR, properties JSON, tags JSON")
    for t in ("resources", "securityresources", "resourcecontainers"):
        con.execute(f"CREATE TABLE {t} ({cols})")

    def ins(t: str, **r) -> None:
        con.execute(f"INSERT INTO {t} VALUES (?,?,?,?,?,?,?,?)",
                    [r.get("id"), r.get("name"), r.get("type"), r.get("subscriptionId"), r.get("resourceGroup"),
                     r.get("tenantId"), json.dumps(r.get("properties", {})), json.dumps(r.get("tags", {}))])

    ins("resourcecontainers", id="/subscriptions/s1", name="One", type="microsoft.resources/subscriptions",
        subscriptionId="s1", tenantId="t1", properties={"state": "Enabled"})
    ins("resources", id="/subscriptions/s1/resourcegroups/rg/providers/microsoft.hybridcompute/machines/i-1",
        name="i-1", type="microsoft.hybridcompute/machines", subscriptionId="s1", resourceGroup="rg",
        properties={"status": "Connected", "cloudMetadata": {"provider": "AWS"}},
        tags={"MDFCSecurityConnector": "true", "AccountId": "123456789012", "InstanceId": "i-1"})
    ins("resources", id="/subscriptions/s1/resourcegroups/rg/providers/microsoft.hybridcompute/machines/onprem",
        name="onprem", type="microsoft.hybridcompute/machines", subscriptionId="s1", resourceGroup="rg",
        properties={"status": "Connected"})
    conn = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.security/securityconnectors/c1"
    for i, (sev, stt, src) in enumerate([("High", "Unhealthy", "Source"), ("High", "Unhealthy", "source"),
                                         ("Low", "Healthy", "Source")]):
        ins("securityresources", id=f"{conn}/securityEntityData/aws-ec2-instance-i-{i}-us-east-1/providers/"
                                    f"microsoft.security/assessments/k{i}", name=f"k{i}",
            type="microsoft.security/assessments", subscriptionId="s1", resourceGroup="rg",
            properties={"resourceDetails": {src: "Aws"}, "displayName": "T", "status": {"code": stt},
                        "metadata": {"severity": sev}, "additionalData": {"ResourceName": f"i-{i}"}})
    ins("securityresources", id="/subscriptions/s1/providers/x/assessments/az", name="az",
        type="microsoft.security/assessments", subscriptionId="s1",
        properties={"resourceDetails": {"source": "Azure"}, "status": {"code": "Unhealthy"},
                    "metadata": {"severity": "High"}})
    for sub, st11 in (("s1", "Passed"), ("s2", "Failed")):
        for ctl, state in (("1.1", st11), ("1.2", "Passed"), ("1.3", "Skipped")):
            ins("securityresources",
                id=f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards/"
                   f"AWS-CIS-1.2.0/regulatoryComplianceControls/{ctl}", name=ctl,
                type="microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols",
                subscriptionId=sub, properties={"state": state, "description": "d", "passedAssessments": 2,
                                                "failedAssessments": 1, "skippedAssessments": 0})
    ins("securityresources", id="/subscriptions/s1/providers/Microsoft.Security/regulatoryComplianceStandards/"
                                "PCI-DSS-3.2/regulatoryComplianceControls/9", name="9",
        type="microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols", subscriptionId="s1",
        properties={"state": "Failed"})
    # compliance: native AWS connectors host s1 and s2 (c1 above, c2); CIS names an AWS assessment key (k0) in s1,
    # PCI an Azure one (az); a per-connector copy of CIS under c1 (scope SecurityConnector) is an assignment
    for sub, cid in (("s1", conn), ("s2", "/subscriptions/s2/resourcegroups/rg/providers/microsoft.security/"
                                          "securityconnectors/c2")):
        ins("resources", id=cid, name=cid.rsplit("/", 1)[1], type="microsoft.security/securityconnectors",
            subscriptionId=sub, resourceGroup="rg", properties={"environmentName": "AWS",
                                                                "hierarchyIdentifier": "123456789012"})
    for std, ctl, key in (("AWS-CIS-1.2.0", "1.1", "k0"), ("PCI-DSS-3.2", "9", "az")):
        ins("securityresources", id=f"/subscriptions/s1/providers/Microsoft.Security/regulatoryComplianceStandards/"
                                    f"{std}/regulatoryComplianceControls/{ctl}/regulatoryComplianceAssessments/{key}",
            name=key, subscriptionId="s1", properties={"state": "Failed", "failedResources": 2},
            type="microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/"
                 "regulatorycomplianceassessments")
    ins("securityresources", id=f"{conn}/providers/Microsoft.Security/regulatoryComplianceStandards/AWS-CIS-1.2.0",
        name="AWS-CIS-1.2.0", type="microsoft.security/regulatorycompliancestandards", subscriptionId="s1",
        properties={"scope": "SecurityConnector", "state": "Failed"})

    def run(q: str, parser):
        rel = duckdb_kql.query(con, q)
        out, bad = arg.parse_rows([dict(zip(rel.columns, r)) for r in rel.fetchall()], parser)
        assert bad == 0
        return out

    assert [s.subscription_id for s in run(arg.SUBSCRIPTIONS_QUERY, arg.parse_subscription)] == ["s1"]
    arc = run(arg.ARC_MACHINES_QUERY, arg.parse_arc_machine)
    assert [(m.name, m.aws_account_id, m.status) for m in arc] == [("i-1", "123456789012", "Connected")]
    counts = {(c.connector_id, c.severity, c.status): c.count
              for cells in run(arg.RECOMMENDATION_COUNTS_QUERY, arg.parse_recommendation_count) for c in cells}
    assert counts == {(conn, "High", "Unhealthy"): 2, (conn, "Low", "Healthy"): 1}
    recs = run(arg.recommendations_query(conn.upper(), severity="high"), arg.parse_recommendation)
    assert sorted(r.resource_name for r in recs) == ["i-0", "i-1"] and {r.region for r in recs} == {"us-east-1"}
    counted = sorted(run(arg.COMPLIANCE_QUERY, arg.parse_compliance_standard), key=lambda s: s.name)
    assert counted == [ComplianceStandard("AWS-CIS-1.2.0", 1, 1, 1), ComplianceStandard("PCI-DSS-3.2", 0, 1, 0)]
    states = [st for per in run(arg.COMPLIANCE_CONTROL_STATES_QUERY, arg.parse_control_states) for st in per]
    assert arg.rollup_control_states(states) == counted
    assert run(arg.AWS_STANDARDS_QUERY, arg.parse_standard_name) == ["AWS-CIS-1.2.0"]
    assert arg.aws_standard_names(
        run(arg.AWS_ASSESSMENT_KEYS_QUERY, arg.parse_key_set),
        run(arg.COMPLIANCE_ASSESSMENT_KEYS_QUERY, arg.parse_standard_keys)) == ["AWS-CIS-1.2.0"]
    assert run(arg.COMPLIANCE_ASSIGNMENTS_QUERY, arg.parse_compliance_assignment) == [
        arg.ComplianceAssignment("AWS-CIS-1.2.0", conn, "123456789012")]
    assert run(arg.compliance_failing_assessments_query("aws-cis-1.2.0", "1.1"), arg.parse_failing_assessment) == ["k0"]
    controls = {c.name: c for c in run(arg.compliance_controls_query("aws-cis-1.2.0"), arg.parse_compliance_control)}
    assert {k: c.state for k, c in controls.items()} == {"1.1": "Failed", "1.2": "Passed", "1.3": "Skipped"}
    assert controls["1.1"].passed_assessments == 4 and controls["1.1"].description == "d"


def test_a_key_azure_rows_use_too_does_not_make_a_standard_aws() -> None:
    """A machine recommendation on an EC2 instance's Arc machine (Source Aws) shares its key with Azure VMs; Azure
    standards map that key too. Only keys no other row uses decide that a standard is about AWS, over every batch."""
    batch_a = arg.parse_key_set({"keys": '["k-aws", "k-shared", ""]', "otherKeys": '[""]'})
    batch_b = arg.parse_key_set({"keys": "[]", "otherKeys": '["k-shared", "k-azure"]'})
    assert batch_a == frozenset({"k-aws", "k-shared"})
    standards = [("AWS-Foundational-Security-Best-Practices", frozenset({"k-aws"})),
                 ("Azure-CIS-2.0.0", frozenset({"k-shared", "k-azure"}))]
    assert arg.aws_standard_names([batch_a, batch_b], standards) == ["AWS-Foundational-Security-Best-Practices"]
    # the same batch-wise as in one batch
    both = arg.parse_key_set({"keys": '["k-aws", "k-shared"]', "otherKeys": '["k-shared", "k-azure"]'})
    assert arg.aws_standard_names([both], standards) == ["AWS-Foundational-Security-Best-Practices"]
    assert "aws > 0 and other == 0" in arg.AWS_STANDARDS_QUERY
