"""Regulatory-compliance rows shaped as ../shared/reference/azure/NOTES.md section 11 says, a Resource Graph over
them (real KQL, run by duckdb-kql; not the emulator), and the contract's rule computed from the raw rows in plain
Python: the truth the core's queries are checked against (tests/test_compliance_rules.py, tests/test_core_azure.py).

The rule (/tmp/i11/CONTRACT.md A): a row is in scope when `properties.scope` is missing/empty or Subscription /
MultiCloudAggregation (any case). A standard is about AWS when one of its in-scope compliance assessments has the
key that only AWS assessments use (resourceDetails.Source, else .source, =~ aws), or when it has a per-connector copy
under a native AWS connector. Counts: in-scope control rows of subscriptions hosting an AWS connector, per (standard,
control) case-insensitively: Failed if failed in any row, else Passed if passed in any, else Unsupported if
unsupported in every row, else Skipped. An account's standards: those with a copy under its AWS connector(s).
"""
from __future__ import annotations

import itertools
import json
import re
from typing import Any, Iterable, Mapping, Sequence

CONNECTOR_T = "microsoft.security/securityconnectors"
ASSESSMENT_T = "microsoft.security/assessments"
STANDARD_T = "microsoft.security/regulatorycompliancestandards"
CONTROL_T = STANDARD_T + "/regulatorycompliancecontrols"
RC_ASSESSMENT_T = CONTROL_T + "/regulatorycomplianceassessments"

_ids = itertools.count()
_STD = re.compile(r"/regulatoryComplianceStandards/([^/]+)", re.I)
_SUB = re.compile(r"/subscriptions/([^/]+)", re.I)
_RG = re.compile(r"/resourceGroups/([^/]+)", re.I)
_MISSING = object()


# ----------------------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------------------


def arg_row(item: Mapping[str, Any], arg_type: str, **extra: Any) -> dict:
    """An ARM item (e.g. Microsoft's example, verbatim) as Resource Graph serves it: the same id, name and
    properties, `type` lower-cased and plural as ARG has it, subscriptionId / resourceGroup from the id."""
    rid = item["id"]
    sub, rg = _SUB.search(rid), _RG.search(rid)
    row = {"id": rid, "name": item.get("name"), "type": arg_type, "tenantId": "tenant-1",
           "subscriptionId": sub.group(1) if sub else None, "resourceGroup": rg.group(1) if rg else "",
           "properties": item.get("properties"), "tags": item.get("tags")}
    row.update(extra)
    return row


def connector(sub: str, name: str, account: str | None, environment: str = "AWS", rg: str = "rg-mdc") -> dict:
    rid = f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"
    props: dict[str, Any] = {"environmentName": environment, "hierarchyIdentifier": account}
    return arg_row({"id": rid, "name": name, "properties": props}, CONNECTOR_T)


def _scoped(props: dict, scope: Any) -> dict:
    if scope is not _MISSING:
        props["scope"] = scope
    return props


def standard(prefix: str, std: str, scope: Any = "Subscription", **counts: int) -> dict:
    """A regulatoryComplianceStandards row under `prefix` (/subscriptions/{sub}, or a connector's id for a
    per-connector copy). `scope=MISSING` leaves the key out."""
    props = _scoped({"state": "Failed", **counts}, scope)
    return arg_row({"id": f"{prefix}/providers/Microsoft.Security/regulatoryComplianceStandards/{std}", "name": std,
                    "properties": props}, STANDARD_T)


def control(prefix: str, std: str, ctl: str, state: str, scope: Any = "Subscription") -> dict:
    props = _scoped({"description": f"control {ctl}", "state": state, "passedAssessments": 1,
                     "failedAssessments": int(state.lower() == "failed"), "skippedAssessments": 0}, scope)
    return arg_row({"id": f"{prefix}/providers/Microsoft.Security/regulatoryComplianceStandards/{std}/"
                          f"regulatoryComplianceControls/{ctl}", "name": ctl, "properties": props}, CONTROL_T)


def rc_assessment(prefix: str, std: str, ctl: str, key: str, state: str = "Failed", scope: Any = "Subscription",
                  failed: int = 2) -> dict:
    props = _scoped({"description": f"assessment {key}", "state": state, "passedResources": 1,
                     "failedResources": failed if state.lower() == "failed" else 0, "skippedResources": 0}, scope)
    return arg_row({"id": f"{prefix}/providers/Microsoft.Security/regulatoryComplianceStandards/{std}/"
                          f"regulatoryComplianceControls/{ctl}/regulatoryComplianceAssessments/{key}", "name": key,
                    "properties": props}, RC_ASSESSMENT_T)


def aws_assessment(connector_id: str, key: str, source_key: str = "Source", source: str = "Aws") -> dict:
    """An AWS assessment row (a recommendation on one AWS resource) under a connector's securityEntityData."""
    rid = (f"{connector_id}/securityentitydata/aws-ec2-instance-i-{next(_ids):04d}-us-east-1/providers/"
           f"Microsoft.Security/assessments/{key}")
    return arg_row({"id": rid, "name": key, "properties": {
        "resourceDetails": {source_key: source, "ConnectorId": connector_id}, "displayName": f"rec {key}",
        "status": {"code": "Unhealthy"}, "metadata": {"severity": "High"}}}, ASSESSMENT_T)


def azure_assessment(sub: str, key: str) -> dict:
    rid = f"/subscriptions/{sub}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm{next(_ids)}" \
          f"/providers/Microsoft.Security/assessments/{key}"
    return arg_row({"id": rid, "name": key, "properties": {"resourceDetails": {"Source": "Azure"},
                                                           "status": {"code": "Unhealthy"}}}, ASSESSMENT_T)


MISSING = _MISSING


def tables(rows: Iterable[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"resources": [], "securityresources": [], "resourcecontainers": []}
    for r in rows:
        out["resources" if r["type"] == CONNECTOR_T else "securityresources"].append(r)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Resource Graph over rows: real KQL through duckdb-kql, ARG's page semantics
# ----------------------------------------------------------------------------------------------------------------

_COLUMNS = (("id", "VARCHAR"), ("name", "VARCHAR"), ("type", "VARCHAR"), ("tenantId", "VARCHAR"),
            ("kind", "VARCHAR"), ("location", "VARCHAR"), ("resourceGroup", "VARCHAR"),
            ("subscriptionId", "VARCHAR"), ("properties", "JSON"), ("tags", "JSON"))


class ArgOverRows:
    """Answers ARG QueryRequest bodies over fixed tables: subscriptions scope the rows, `$top` (default 100, max
    1000) pages a result that has an `id` column (`$skipToken`), any other result stops at `$top` with
    resultTruncated "true" (ARG's documented behaviour, NOTES section 7)."""

    def __init__(self, tables_: Mapping[str, list[dict]]) -> None:
        self.tables = tables_
        self.pending: dict[str, list[dict]] = {}
        self.queries: list[str] = []

    def run(self, query: str, subscriptions: Sequence[str] | None = None) -> list[dict]:
        import duckdb_kql

        self.queries.append(query)
        subs = None if subscriptions is None else {s.lower() for s in subscriptions}
        con = duckdb_kql.connect()
        cols = ", ".join(f"{c} {t}" for c, t in _COLUMNS)
        for name, rows in self.tables.items():
            con.execute(f"CREATE TABLE {name} ({cols})")
            keep = [r for r in rows if subs is None or str(r.get("subscriptionId") or "").lower() in subs]
            if keep:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(_COLUMNS))})",
                                [[json.dumps(r.get(c)) if t == "JSON" and r.get(c) is not None else r.get(c)
                                  for c, t in _COLUMNS] for r in keep])
        rel = duckdb_kql.query(con, query)
        json_cols = {c for c, t in zip(rel.columns, rel.types) if str(t) == "JSON"}
        out = [{c: (json.loads(v) if c in json_cols and isinstance(v, str) else v) for c, v in zip(rel.columns, r)}
               for r in rel.fetchall()]
        con.close()
        return out

    def answer(self, body: Mapping[str, Any]) -> tuple[int, dict]:
        opts = body.get("options") or {}
        top = int(opts.get("$top") or 100)
        token = opts.get("$skipToken")
        if token:
            rows = self.pending.pop(token)
        else:
            try:
                rows = self.run(body["query"], body.get("subscriptions") or None)
            except Exception as e:  # noqa: BLE001 - any engine error is ARG's 400 for a bad query
                return 400, {"error": {"code": "BadRequest", "message": "Please provide below info",
                                       "details": [{"code": "InvalidQuery", "message": str(e)[:300]}]}}
        page, rest = rows[:top], rows[top:]
        doc: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "facets": [], "data": page,
                               "resultTruncated": "false"}
        if rest and rows and "id" in rows[0]:
            nxt = f"t{next(_ids)}"
            self.pending[nxt] = rest
            doc["$skipToken"] = nxt
        elif rest:
            doc["resultTruncated"] = "true"
        return 200, doc


# ----------------------------------------------------------------------------------------------------------------
# The rule, from the raw rows
# ----------------------------------------------------------------------------------------------------------------


def in_scope(props: Any) -> bool:
    v = props.get("scope") if isinstance(props, Mapping) else None
    return v is None or v == "" or (isinstance(v, str) and v.lower() in ("subscription", "multicloudaggregation"))


def reference(tables_: Mapping[str, list[dict]], subscriptions: Sequence[str] | None = None
              ) -> tuple[dict[str, tuple[int, int, int, int]], dict[str, set[str]]]:
    """{standard (lower-case): (passed, failed, skipped, unsupported)} of the AWS standards and {account: {standard
    (lower-case)}}, by the contract's rule, over the rows of `subscriptions` (None: all)."""
    subs = None if subscriptions is None else {s.lower() for s in subscriptions}

    def rows(table: str, rtype: str) -> list[dict]:
        return [r for r in tables_[table] if r["type"] == rtype
                and (subs is None or str(r.get("subscriptionId") or "").lower() in subs)]

    def props(r: dict) -> dict:
        return r.get("properties") if isinstance(r.get("properties"), dict) else {}

    aws_connectors = {r["id"].lower(): props(r).get("hierarchyIdentifier") for r in rows("resources", CONNECTOR_T)
                      if str(props(r).get("environmentName") or "").lower() == "aws"}
    aws_subs = {r["subscriptionId"] for r in rows("resources", CONNECTOR_T) if r["id"].lower() in aws_connectors}
    aws_keys, other_keys = set(), set()
    for r in rows("securityresources", ASSESSMENT_T):
        details = props(r).get("resourceDetails") or {}
        src = str(details.get("Source") or details.get("source") or "").lower()
        (aws_keys if src == "aws" else other_keys).add(r["name"].lower())
    aws_keys -= other_keys  # a key Azure rows use too decides nothing (an Arc machine's finding shares it)

    def std_of(rid: str) -> str:
        return _STD.search(rid).group(1).lower()

    aws_std = {std_of(r["id"]) for r in rows("securityresources", RC_ASSESSMENT_T)
               if in_scope(props(r)) and r["name"].lower() in aws_keys}
    assigned: dict[str, set[str]] = {}
    for r in rows("securityresources", STANDARD_T):
        owner = r["id"].lower().split("/providers/microsoft.security/regulatorycompliancestandards/")[0]
        if owner in aws_connectors:
            aws_std.add(std_of(r["id"]))
            if aws_connectors[owner]:
                assigned.setdefault(str(aws_connectors[owner]), set()).add(std_of(r["id"]))
    states: dict[tuple[str, str], list[str]] = {}
    for r in rows("securityresources", CONTROL_T):
        if in_scope(props(r)) and r["subscriptionId"] in aws_subs:
            states.setdefault((std_of(r["id"]), r["name"].lower()), []).append(
                str(props(r).get("state") or "").lower())
    counts = {s: [0, 0, 0, 0] for s in aws_std}
    for (s, _ctl), st in states.items():
        if s not in counts:
            continue
        if "failed" in st:
            counts[s][1] += 1
        elif "passed" in st:
            counts[s][0] += 1
        elif all(x == "unsupported" for x in st):
            counts[s][3] += 1
        else:
            counts[s][2] += 1
    return {s: tuple(c) for s, c in counts.items()}, assigned  # type: ignore[misc]


def figures(data: Any) -> tuple[dict[str, tuple[int, int, int, int]], dict[str, set[str]]]:
    """A ComplianceData in reference()'s terms."""
    std = {s.name.lower(): (s.passed_controls, s.failed_controls, s.skipped_controls, s.unsupported_controls)
           for s in data.standards}
    return std, {a: {s.lower() for s in names} for a, names in data.assigned.items()}
