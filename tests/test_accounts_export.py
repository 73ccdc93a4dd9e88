"""Issue 11 in the public snapshot JSON (additive fields, schema in step) and the plain-text table:
classic connectors read as retired, Arc rows matched by name are marked, opt-in regions are named, and AWS findings
no account could be found for are counted in `recommendations_unattributed`."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib.resources import files

import jsonschema

from tui.core import derive as d
from tui.core import export
from tui.core import model as m

SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))
SUB = "00000000-0000-0000-0000-0000000000b2"
NATIVE, CLASSIC_ONLY = "111111111111", "222222222222"
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
CONN = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.security/securityconnectors/n1"
SERVERS = {"offeringType": "DefenderForServersAws", "subPlan": {"type": "P2"}, "arcAutoProvisioning": {"enabled": True},
           "mdeAutoProvisioning": {"enabled": True}, "vaAutoProvisioning": {"enabled": True}}


def ok(name, data):
    return m.Section(m.SectionStatus(name, "ok", NOW), data)


def snap(*, recs_ok: bool = True) -> m.Snapshot:
    native = m.Connector(id=CONN, name="n1", kind="native", subscription_id=SUB, resource_group="rg",
                         aws_account_id=NATIVE, regions=("us-east-1", "il-central-1"), scan_interval_hours=12,
                         offerings=(m.Offering("CspmMonitorAws", {"offeringType": "CspmMonitorAws"}),
                                    m.Offering("DefenderForServersAws", SERVERS)))
    classic = m.Connector(id=f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/k2", name="k2",
                          kind="classic", subscription_id=SUB, resource_group=None, aws_account_id=CLASSIC_ONLY,
                          health="Valid", raw={"properties": {"hybridComputeSettings": {"autoProvision": "On"}}})
    hand = m.ArcMachine(id=f"/subscriptions/{SUB}/resourceGroups/hand/providers/Microsoft.HybridCompute/machines/"
                           "ip-10-0-1-5", name="ip-10-0-1-5", subscription_id=SUB, resource_group="hand",
                        status="Connected", aws_account_id=None, instance_id="ip-10-0-1-5", tagged=False,
                        computer_name="ip-10-0-1-5", cloud_provider="AWS")
    gone_by_name = m.ArcMachine(id=f"/subscriptions/{SUB}/resourceGroups/hand/providers/Microsoft.HybridCompute/"
                                   "machines/web-2", name="web-2", subscription_id=SUB, resource_group="hand",
                                status="Expired", aws_account_id=None, instance_id="web-2", tagged=False)
    inv = m.AwsAccountInventory(
        NATIVE, True, regions=("us-east-1", "il-central-1"),
        instances=(m.Ec2Instance(NATIVE, "us-east-1", "i-0a", "running", "linux",
                                 private_dns_name="ip-10-0-1-5.ec2.internal"),
                   m.Ec2Instance(NATIVE, "us-east-1", "i-0b", "running", "linux", name="web-2",
                                 private_dns_name="ip-10-0-1-6.ec2.internal")),
        ssm=(m.SsmInstance(NATIVE, "us-east-1", "i-0a", "Online"),
             m.SsmInstance(NATIVE, "us-east-1", "i-0b", "Online")),
        failed_regions={"il-central-1": "region not enabled (opt-in): il-central-1 answers AuthFailure in account "
                                        f"{NATIVE} while other regions accept the same credentials"})
    classic_inv = m.AwsAccountInventory(CLASSIC_ONLY, True, instances=(
        m.Ec2Instance(CLASSIC_ONLY, "us-east-1", "i-0c", "running", "linux"),))
    counts = (m.RecommendationCount(CONN, "High", "Unhealthy", 2),
              m.RecommendationCount("", "High", "Unhealthy", 3, azure_resource_id=hand.id.lower()),
              m.RecommendationCount("", "Low", "Unhealthy", 4, azure_resource_id="/subscriptions/x/machines/gone"),
              m.RecommendationCount("", "Low", "Healthy", 5))
    return m.Snapshot(NOW, (SUB,), {
        "connectors": ok("connectors", m.ConnectorsData((native, classic))),
        "plans": ok("plans", m.PlansData((m.Pricing(SUB, "VirtualMachines", "Standard", "P2"),))),
        "onboarding": ok("onboarding", m.OnboardingData((hand, gone_by_name),
                                                         {NATIVE: inv, CLASSIC_ONLY: classic_inv})),
        "recommendations": (ok("recommendations", m.RecommendationsData(counts)) if recs_ok else
                            m.Section(m.SectionStatus("recommendations", "error", None, "ARG failed"), None)),
        "compliance": ok("compliance", m.ComplianceData(())),
    })


def test_snapshot_json_carries_the_new_fields_and_validates() -> None:
    doc = export.snapshot_to_dict(snap())
    jsonschema.validate(doc, SCHEMA)
    accounts = {a["aws_account_id"]: a for a in doc["accounts"]}

    classic = accounts[CLASSIC_ONLY]
    [c] = classic["connectors"]
    assert c["health"] == "classic (retired, no data since 2023-09-15): migrate" and c["retired"] is True
    assert "mdc-aws onboard --flow native" in c["health_detail"] and "Valid" in c["health_detail"]
    assert not any(p["enabled"] for p in classic["plans"].values())
    assert classic["onboarding"]["arc_expected"] is False and classic["onboarding"]["stuck"] == []

    onb = accounts[NATIVE]["onboarding"]
    assert onb["arc_connected"] == 1 and onb["arc_matched_by_name"] == 1
    assert onb["regions"] == [{"region": "us-east-1", "ec2_total": 2, "ssm_online": 2, "arc_connected": 1,
                               "arc_matched_by_name": 1}]
    [stuck] = onb["stuck"]
    assert (stuck["instance_id"], stuck["reason"], stuck["matched_by"]) == ("i-0b", "Arc expired", "name")
    assert onb["failed_regions"]["il-central-1"].startswith("region not enabled (opt-in)")
    assert "region not enabled (opt-in)" in onb["aws_error"]

    assert accounts[NATIVE]["recommendations"]["total"] == 2 + 3
    assert doc["recommendations_unattributed"] == {"total": 4 + 5, "unhealthy": 4}


def test_unattributed_is_null_when_the_section_failed() -> None:
    doc = export.snapshot_to_dict(snap(recs_ok=False))
    jsonschema.validate(doc, SCHEMA)
    assert doc["recommendations_unattributed"] == {"total": None, "unhealthy": None}


def test_table_and_export_views() -> None:
    s = snap()
    text = export.render_table(s)
    assert "classic RETIRED" in text
    assert "unattributed AWS recommendations (no account found): 9 (4 unhealthy)" in text
    tables = export.export_tables(s)
    header, rows = tables["stuck"]
    assert header[-1] == "matched_by" and rows == [[NATIVE, "i-0b", "us-east-1", "Arc expired", "name"]]
    header, rows = tables["accounts"]
    health = {r[0]: r[header.index("health")] for r in rows}
    assert health[CLASSIC_ONLY] == d.CLASSIC_HEALTH
