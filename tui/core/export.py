"""The public snapshot JSON (schema/snapshot.schema.json) and a plain-text table. No textual/rich here.

The JSON is a public interface (scripts and cron jobs read it): change it only additively and keep the schema
in step (tests/test_snapshot_contract.py validates every output against it).
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from . import derive as d
from . import health as h
from . import model as m

SCHEMA_VERSION = "1"


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (0600, also when the file existed): an export holds the
    tenant, its accounts and findings."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:  # not ours to change (e.g. /dev/stdout): write anyway, as the operator asked
        pass
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _connector(c: m.Connector, report: h.Health | None = None, tenant: str | None = None) -> dict[str, Any]:
    # a classic connector's health is its retirement ("classic (retired, no data since 2023-09-15): migrate") and
    # the detail the way to a native connector, whatever stale state Azure still reports for it
    health, health_detail = d.connector_health(c)
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "subscription_id": c.subscription_id,
        "resource_group": c.resource_group,
        "regions": list(c.regions),
        "scan_interval_hours": c.scan_interval_hours,
        "organization_role": c.organization_role,
        "parent_account_id": c.parent_account_id,
        "offerings": [o.offering_type for o in c.offerings],
        "health": health,
        "health_detail": health_detail,
        "retired": c.kind == "classic",
        "tenant_id": c.tenant_id or tenant,  # its subscription's tenant (Lighthouse: the customer's), else the scope's
        # tui.core.health: the state, every issue with its code, message and fix, and what was not checked (`health`
        # above stays as it was); null when the connector's health could not be evaluated (unknown)
        "health_report": report.to_dict() if report is not None else None,
    }


def _org_coverage(o: h.OrgCoverage | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"org_accounts": o.org_accounts, "members_with_connector": list(o.members_with_connector),
            "missing": list(o.missing), "excluded": list(o.excluded), "suspended": list(o.suspended),
            "stackset_instances": [{"account_id": i.account_id, "region": i.region, "status": i.status,
                                    "detailed_status": i.detailed_status, "reason": i.reason}
                                   for i in o.stackset_instances]}


def _cost(c: h.AccountCost | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"scan_interval_hours": c.scan_interval_hours,
            "plans": {p.plan: {"billable": dict(p.billable), "note": p.note} for p in c.plans},
            "cloudtrail_query": c.cloudtrail_query}


def _plan(p: d.PlanView) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": p.enabled}
    if p.key == "servers":
        out.update(sub_plan=p.sub_plan, arc_auto_provisioning=bool(p.arc_auto_provisioning), mde=p.mde,
                   vulnerability_assessment=p.vulnerability_assessment, agentless_scanning=p.agentless_scanning)
    elif p.key in ("defender_cspm",):
        out["agentless_scanning"] = p.agentless_scanning
    elif p.key == "databases":
        out["arc_auto_provisioning"] = p.arc_auto_provisioning
    out["prerequisites_ok"] = p.prerequisites_ok
    out["prerequisites"] = [{"name": x.name, "ok": x.ok, "detail": x.detail, "verifiable": x.verifiable}
                            for x in p.prerequisites]
    return out


def _onboarding(f: d.Funnel | None) -> dict[str, Any]:
    if f is None:
        return {"ec2_total": None, "ssm_online": None, "arc_connected": None, "stuck": [], "regions": [],
                "aws_error": "onboarding section unavailable", "arc_expected": None, "arc_matched_by_name": None,
                "failed_regions": {}}
    return {
        "ec2_total": f.ec2_total,
        "ssm_online": f.ssm_online,
        "arc_connected": f.arc_connected,
        "arc_expected": f.arc_expected,
        "arc_matched_by_name": f.arc_matched_by_name,
        "stuck": [{"instance_id": s.instance_id, "region": s.region, "reason": s.reason,
                   "discovery_due": _iso(s.discovery_due), "matched_by": s.matched_by} for s in f.stuck],
        "regions": [{"region": r.region, "ec2_total": r.ec2_total, "ssm_online": r.ssm_online,
                     "arc_connected": r.arc_connected, "arc_matched_by_name": r.arc_matched_by_name}
                    for r in f.regions],
        "aws_error": f.aws_error,
        "failed_regions": dict(sorted(f.failed_regions.items())),
    }


def _unattributed(r: d.RecSummary | None) -> dict[str, Any]:
    """AWS recommendations no account could be found for (no connector and no Arc machine with a known account):
    counted here, never dropped. Nulls when the recommendations section failed."""
    return {"total": r.total if r is not None else None, "unhealthy": r.unhealthy if r is not None else None}


def _recs(r: d.RecSummary | None) -> dict[str, Any]:
    if r is None:
        return {"total": None, "unhealthy": None, "unhealthy_by_severity": {k: None for k in m.SEVERITIES},
                "classic_legacy": {"total": None, "unhealthy": None}}
    return {"total": r.total, "unhealthy": r.unhealthy,
            "unhealthy_by_severity": {k: int(r.unhealthy_by_severity.get(k, 0)) for k in m.SEVERITIES},
            "classic_legacy": {"total": r.classic_legacy_total, "unhealthy": r.classic_legacy_unhealthy}}


def snapshot_to_dict(snap: m.Snapshot) -> dict[str, Any]:
    accounts = d.account_views(snap)
    rollup = d.org_rollup(snap.data("connectors").connectors) if snap.data("connectors") else {}
    comp: m.ComplianceData | None = snap.data("compliance")
    cd: m.ConnectorsData | None = snap.data("connectors")
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(snap.generated_at),
        "scope": {"subscriptions": list(snap.subscriptions), "tenant_id": snap.tenant_id,
                  "tenants": dict(sorted((getattr(snap, "tenants", None) or {}).items()))},
        "sections": {
            name: {"status": s.status.status, "as_of": _iso(s.status.as_of), "error": s.status.error,
                   "duration_s": s.status.duration_s}
            for name, s in snap.sections.items()
        },
        "accounts": [
            {
                "aws_account_id": a.aws_account_id,
                "name": a.name,
                "organization_role": a.organization_role,
                "organization": rollup.get(a.aws_account_id),
                "tenant_id": a.tenant_id,
                "connectors": [_connector(c, a.connector_health.get(c.id.lower()), snap.tenant_id)
                               for c in a.connectors],
                "duplicate_classic_native": a.duplicate_classic_native,
                "plans": {k: _plan(p) for k, p in a.plans.items()},
                "onboarding": _onboarding(a.onboarding),
                "recommendations": _recs(a.recommendations),
                # the standards assigned on the account's native connector(s) (their per-connector copies)
                "standards": list(comp.standards_of(a.aws_account_id)) if comp else [],
                "health_state": a.health_state,  # null: unknown (a connector not evaluated, none of the others failing)
                "organization_coverage": _org_coverage(a.org_coverage),
                "cost": _cost(a.cost),
            }
            for a in accounts
        ],
        "compliance": {
            s.name: {"passed_controls": s.passed_controls, "failed_controls": s.failed_controls,
                     "skipped_controls": s.skipped_controls, "unsupported_controls": s.unsupported_controls,
                     "percent": d.compliance_percent(s), "display_name": s.display_name}
            for s in (comp.standards if comp else ())
        },
        "skipped_connectors": list(cd.skipped) if cd else [],
        "recommendations_unattributed": _unattributed(d.recommendations_unattributed(snap)),
    }


def _fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def render_table(snap: m.Snapshot) -> str:
    """Plain text for a terminal or a log; the same facts as the JSON, fewer details."""
    doc = snapshot_to_dict(snap)
    lines = [f"mdc-aws snapshot {doc['generated_at']}  subscriptions: {len(doc['scope']['subscriptions'])}"]
    lines.append("")
    lines.append("SECTION          STATUS  AS OF                 ERROR")
    for name, s in doc["sections"].items():
        lines.append(f"{name:<16} {s['status']:<7} {_fmt(s['as_of']):<21} {s['error'] or ''}")
    lines.append("")
    hdr = (f"{'ACCOUNT':<13} {'NAME':<22} {'KIND':<15} {'ORG':<6} {'PLANS':<28} "
           f"{'EC2':>5} {'SSM':>5} {'ARC':>5} {'STUCK':>5} {'UNHEALTHY':>9} HEALTH")  # HEALTH: last, added
    lines.append(hdr)
    for a in doc["accounts"]:
        kinds = "+".join(sorted({c["kind"] for c in a["connectors"]}, key=lambda k: k != "native"))
        if a["duplicate_classic_native"]:
            kinds += " DUP"
        elif kinds == "classic":
            kinds += " RETIRED"  # retired 2023-09-15: no plan, no data; migrate to a native connector
        plans = []
        for plan in m.PLANS:
            k, short = plan.key, plan.short
            p = a["plans"][k]
            if p["enabled"]:
                tag = short + (f":{p['sub_plan']}" if k == "servers" and p.get("sub_plan") else "")
                if p.get("prerequisites_ok") is False:
                    tag += "!"
                plans.append(tag)
        o = a["onboarding"]
        r = a["recommendations"]
        state = a["health_state"] or "unknown"
        lines.append(
            f"{a['aws_account_id']:<13} {(a['name'] or '')[:22]:<22} {kinds:<15} {a['organization_role'][:6]:<6} "
            f"{','.join(plans)[:28]:<28} {_fmt(o['ec2_total']):>5} {_fmt(o['ssm_online']):>5} "
            f"{_fmt(o['arc_connected']):>5} {len(o['stuck']):>5} {_fmt(r['unhealthy']):>9} {state}")
    un = doc["recommendations_unattributed"]
    if un["total"]:
        lines.append(f"unattributed AWS recommendations (no account found): {un['total']} "
                     f"({un['unhealthy']} unhealthy)")
    if doc["compliance"]:
        lines.append("")
        lines.append(f"{'STANDARD':<45} {'PASSED':>6} {'FAILED':>6} {'SKIPPED':>7} {'UNSUPP':>6} {'%':>6}")
        for name, c in doc["compliance"].items():
            lines.append(f"{name:<45} {c['passed_controls']:>6} {c['failed_controls']:>6} "
                         f"{c['skipped_controls']:>7} {c['unsupported_controls']:>6} {_fmt(c['percent']):>6}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- export

_CODE_ORDER = {c.code: n for n, c in enumerate(h.CODES)}
EXPORT_VIEWS = ("accounts", "plans", "onboarding", "stuck", "recommendations", "compliance",
                "remediation")  # remediation: the runbook (remediation_export), not one of export_tables


def export_tables(snap: m.Snapshot, recs: list[m.Recommendation] | None = None
                  ) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """What the dashboard shows, as plain tables (header, rows): the source of `mdc-aws export`."""
    doc = snapshot_to_dict(snap)
    out: dict[str, tuple[list[str], list[list[Any]]]] = {}
    out["accounts"] = (["aws_account_id", "name", "kinds", "organization_role", "duplicate_classic_native",
                        "regions", "scan_interval_hours", "health", "health_state", "health_codes"],
                       [[a["aws_account_id"], a["name"], "+".join(sorted({c["kind"] for c in a["connectors"]})),
                         a["organization_role"], a["duplicate_classic_native"],
                         " ".join(sorted({r for c in a["connectors"] for r in c["regions"]})),
                         next((c["scan_interval_hours"] for c in a["connectors"] if c["scan_interval_hours"]), None),
                         ",".join(sorted({c["health"] for c in a["connectors"]})), a["health_state"],
                         ",".join(sorted({i["code"] for c in a["connectors"]
                                          for i in (c["health_report"] or {}).get("issues", ())},
                                         key=_CODE_ORDER.__getitem__))]
                        for a in doc["accounts"]])
    plan_keys = list(m.PLAN_KEYS)
    out["plans"] = (["aws_account_id", *plan_keys, "servers_sub_plan", "arc_auto_provisioning", "prerequisites_ok"],
                    [[a["aws_account_id"], *[a["plans"][k]["enabled"] for k in plan_keys],
                      a["plans"]["servers"].get("sub_plan"), a["plans"]["servers"].get("arc_auto_provisioning"),
                      all(p.get("prerequisites_ok") is not False for p in a["plans"].values())]
                     for a in doc["accounts"]])
    out["onboarding"] = (["aws_account_id", "region", "ec2_total", "ssm_online", "arc_connected"],
                         [[a["aws_account_id"], r["region"], r["ec2_total"], r["ssm_online"], r["arc_connected"]]
                          for a in doc["accounts"] for r in a["onboarding"].get("regions", [])])
    out["stuck"] = (["aws_account_id", "instance_id", "region", "reason", "matched_by"],
                    [[a["aws_account_id"], s["instance_id"], s["region"], s["reason"], s.get("matched_by")]
                     for a in doc["accounts"] for s in a["onboarding"]["stuck"]])
    out["recommendations"] = (["severity", "status", "title", "resource", "resource_type", "aws_account_id",
                               "region", "assessment_key", "id"],
                              [[r.severity, r.status, r.title, r.resource_name, r.resource_type, r.aws_account_id,
                                r.region, r.assessment_key, r.id] for r in (recs or [])])
    out["compliance"] = (["standard", "passed_controls", "failed_controls", "skipped_controls", "percent",
                          "unsupported_controls", "display_name"],
                         [[n, c["passed_controls"], c["failed_controls"], c["skipped_controls"], c["percent"],
                           c["unsupported_controls"], c["display_name"]]
                          for n, c in doc["compliance"].items()])
    return out


def _csv_cell(v: Any) -> Any:
    """A cell a spreadsheet never runs as a formula: text starting with = + - @ (or a tab or carriage return) gets a
    leading ' (a number written as text, "-5", and a lone "-" stay as they are)."""
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") and v != "-":
        try:
            float(v)
        except ValueError:
            return "'" + v
    return v


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    """Every csv export (the tables, the remediation runbook): data cells never start a formula (_csv_cell)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_csv_cell(v) for v in r])
    return buf.getvalue()


def _md_cell(v: Any) -> str:
    """A table cell: data stays text (no table break, link, image, emphasis or raw HTML; runbook.md_text)."""
    from .runbook import md_text

    return "-" if v is None else md_text(str(v))


def to_markdown(tables: dict[str, tuple[list[str], list[list[Any]]]], snap: m.Snapshot) -> str:
    lines = [f"# mdc-aws export {_iso(snap.generated_at)}", ""]
    lines.append("| section | status | as of | error |")
    lines.append("|---|---|---|---|")
    for name, s in snap.sections.items():
        lines.append(f"| {name} | {s.status.status} | {_iso(s.status.as_of) or '-'} | {_md_cell(s.status.error)} |")
    for name, (header, rows) in tables.items():
        lines += ["", f"## {name} ({len(rows)})", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- remediation

def aws_connector_subscriptions(snap: m.Snapshot) -> set[str]:
    """The subscriptions (lower-case) hosting a native AWS connector: compliance figures count there only."""
    cd: m.ConnectorsData | None = snap.data("connectors")
    return {c.subscription_id.lower() for c in (cd.connectors if cd else ()) if c.kind == "native"}


def remediation_runbook(snap: m.Snapshot, recs: list[m.Recommendation], controls: list[m.ComplianceControl],
                        pairs: set[tuple[str, str, str]], notes: list[str] | None = None) -> Any:
    """The remediation runbook (tui.core.runbook.Runbook) of a snapshot: `recs` (accounts attached), the controls of
    its AWS standards (every state: the failing ones are kept) and the (standard, control, assessment key) failing
    pairs (runbook.failing_pairs)."""
    from . import runbook as rb

    notes = list(notes or [])
    if snap.data("compliance") is None:
        notes.append("compliance section unavailable: no failing control and no control per recommendation listed")
    elif snap.data("connectors") is None:
        notes.append("connectors section unavailable: which recommendations fail under each control is not known")
    names = {a.aws_account_id: a.name for a in d.account_views(snap) if a.name}
    return rb.build_runbook(recs, controls, pairs, generated_at=snap.generated_at, account_names=names, notes=notes)


def remediation_export(runbook: Any, fmt: str) -> str:
    """The runbook as `fmt`: md (the readable runbook), json, or csv (one row per affected resource)."""
    from . import runbook as rb

    if fmt == "json":
        import json

        return json.dumps(rb.to_dict(runbook), indent=2) + "\n"
    if fmt == "csv":
        return to_csv(*rb.to_rows(runbook))
    return rb.to_markdown(runbook)
