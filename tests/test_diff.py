"""What changed between two runs (tui/core/diff.py, `mdc-aws diff`): every part on hand-built snapshots (no network),
the parts a failed section leaves uncompared, the renderings; then the command on the demo estate (a first run says
there is nothing to compare with, the second compares with it)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from tests.test_gate import (A1, A2, BEFORE, CIS, MCSB, NOW, _cli, conn, ec2, fake_health, high, issue, snap,
                             std)
from tui.core import diff as df
from tui.core import model as m

A3, A4 = "333333333333", "444444444444"


def _arc(iid: str, account: str = A1) -> m.ArcMachine:
    return m.ArcMachine(id=f"/subscriptions/s/resourcegroups/rg/providers/microsoft.hybridcompute/machines/{iid}",
                        name=iid, subscription_id="s", resource_group="rg", status="Connected",
                        aws_account_id=account, instance_id=iid)


def _runs() -> tuple[m.Snapshot, m.Snapshot]:
    c1, c2 = conn(A1), conn(A2)
    prev = snap(at=BEFORE, connectors=[c1, c2, conn(A4)],
                standards=[std(MCSB, 70, 30), std(CIS, 50, 50), std("Same", 1, 1)],
                instances=[ec2(A1, "i-a", 5), ec2(A1, "i-b", 5)],
                counts=[high(c1, 3), high(c1, 2, "Low"), high(c2, 1)])
    c2_cspm_only = replace(c2, offerings=(m.Offering("CspmMonitorAws"),))
    cur = snap(connectors=[c1, conn(A1, "legacy", kind="classic"), c2_cspm_only, conn(A3)],
               standards=[std(MCSB, 60, 40), std("Same", 1, 1), std("New", 3, 1)],
               instances=[ec2(A1, "i-a", 5), ec2(A1, "i-b", 5), ec2(A1, "i-c", 1)],
               ssm=[m.SsmInstance(A1, "us-east-1", "i-a", "Online"),
                    m.SsmInstance(A1, "us-east-1", "i-b", "ConnectionLost")],
               arc=[_arc("i-a")],
               counts=[high(c1, 5), high(c1, 2, "Low"), high(c2, 1)])
    return prev, cur


HEALTH_BEFORE = fake_health({"aws-222": (issue("subscription-plan-missing"),)})
HEALTH_NOW = fake_health({"aws-111": (issue("stack-not-complete", "stack S ROLLBACK_COMPLETE", "re-run"),)})


def _health_of(s: m.Snapshot):
    return (HEALTH_BEFORE if s.generated_at == BEFORE else HEALTH_NOW)(s)


def test_every_part_of_what_changed() -> None:
    prev, cur = _runs()
    d = df.diff_snapshots(prev, cur, health_of=_health_of)
    assert d.changed and d.not_compared == {}
    texts = {part: [c["text"] for c in items] for part, items in d.changes.items()}
    assert texts == {
        "accounts": [f"+ account {A3} (aws-333): native connector aws-333", f"- account {A4} (aws-444)"],
        "connectors": [f"account {A1}: + classic connector legacy"],
        "plans": [f"account {A2}: Defender for Servers disabled"],
        "health": [f"account {A1} connector aws-111: healthy -> failing (+stack-not-complete)",
                   f"account {A2} connector aws-222: degraded -> healthy (-subscription-plan-missing)"],
        "stuck": [f"account {A1}: 2 -> 2 stuck; +1 stuck (i-c no SSM agent); 1 cleared (i-a); "
                  "1 with another reason (i-b no SSM agent -> SSM connection lost)"],
        "findings": [f"account {A1}: High 3 -> 5 (+2)"],
        "compliance": ["- CIS AWS Foundations v1.2.0 (was 50.0%)",
                       "Microsoft cloud security benchmark: 70.0% -> 60.0% (-10.0 points)",
                       "+ New: 75.0%"],
    }
    h = d.changes["health"][0]
    assert (h["was"], h["now"], h["codes_added"], h["codes_removed"]) == ("healthy", "failing",
                                                                          ["stack-not-complete"], [])
    assert h["issues_added"] == [{"code": "stack-not-complete", "message": "stack S ROLLBACK_COMPLETE",
                                  "fix": "re-run"}]
    s = d.changes["stuck"][0]
    assert [x["instance_id"] for x in s["added"]] == ["i-c"] and [x["instance_id"] for x in s["cleared"]] == ["i-a"]
    assert s["reason_changed"] == [{"instance_id": "i-b", "region": "us-east-1", "was": m.REASON_NO_SSM,
                                    "now": m.REASON_SSM_LOST}]
    assert d.changes["findings"][0]["unhealthy_by_severity"] == {"High": {"was": 3, "now": 5}}
    assert d.changes["plans"][0] == {"account_id": A2, "plan": "servers", "was": True, "now": False,
                                     "text": f"account {A2}: Defender for Servers disabled"}


def test_no_change_and_first_run() -> None:
    prev, _ = _runs()
    same = replace(prev, generated_at=NOW)
    d = df.diff_snapshots(prev, same, health_of=HEALTH_BEFORE)
    assert not d.changed and all(v == () for v in d.changes.values()) and set(d.changes) == set(df.PARTS)
    assert df.render(d).startswith(f"no change since the previous run ({BEFORE.isoformat()}; this run "
                                   f"{NOW.isoformat()})")
    first = df.diff_snapshots(None, same)
    assert first.previous_run is None and not first.changed
    assert df.render(first).startswith("no previous run in the local history: nothing to compare")
    assert json.loads(df.render(first, "json"))["previous_run"] is None


def test_a_failed_section_leaves_its_parts_uncompared() -> None:
    prev, cur = _runs()
    cur = replace(cur, sections={**cur.sections, "compliance": m.Section(
        m.SectionStatus("compliance", "stale", BEFORE, "ARG: throttled"), prev.data("compliance"))})
    d = df.diff_snapshots(prev, cur, health_of=_health_of)
    assert d.not_compared == {"health": "this run's compliance section: stale (ARG: throttled)",
                              "compliance": "this run's compliance section: stale (ARG: throttled)"}
    assert "compliance" not in d.changes and "health" not in d.changes
    assert d.changes["findings"] and d.changes["accounts"]  # the rest is still compared
    # the previous run without a section's data: nothing to compare that part with
    prev2 = replace(prev, sections={**prev.sections, "recommendations": m.Section(
        m.SectionStatus("recommendations", "error", None, "x"), None)})
    d2 = df.diff_snapshots(prev2, _runs()[1], health_of=_health_of)
    assert d2.not_compared["findings"] == "the previous run has no recommendations data"
    assert "findings" not in d2.changes
    text = df.render(d, "text")
    assert "not compared: compliance: this run's compliance section: stale (ARG: throttled)" in text


def test_renderings() -> None:
    prev, cur = _runs()
    d = df.diff_snapshots(prev, cur, health_of=_health_of)
    text = df.render(d, "text").splitlines()
    assert text[0] == f"changes since the previous run ({BEFORE.isoformat()}; this run {NOW.isoformat()})"
    assert text[1:3] == ["accounts:", f"  + account {A3} (aws-333): native connector aws-333"]
    assert "findings" not in text and "unhealthy findings by severity:" in text
    md = df.render(d, "md")
    assert md.startswith("# mdc-aws diff\n") and "## Connector health\n\n- account" in md
    doc = json.loads(df.render(d, "json"))
    assert doc["changed"] is True and doc["previous_run"] == BEFORE.isoformat()
    assert list(doc["changes"]) == list(df.PARTS)
    assert doc["changes"]["compliance"][1] == {"standard": MCSB, "display_name": "Microsoft cloud security benchmark",
                                               "was": 70.0, "now": 60.0, "change": "changed",
                                               "text": "Microsoft cloud security benchmark: 70.0% -> 60.0% "
                                                       "(-10.0 points)"}


def test_diff_with_the_real_health_model() -> None:
    """tui.core.health.health_by_connector (the default): a native connector turned classic-only account shows the
    classic connector's retirement under health only when it existed in both runs."""
    legacy = conn(A1, "legacy", kind="classic")
    prev = snap(at=BEFORE, connectors=[legacy])
    cur = snap(at=BEFORE + timedelta(hours=1), connectors=[legacy, conn(A2)])
    d = df.diff_snapshots(prev, cur)
    assert [c["text"] for c in d.changes["accounts"]] == [f"+ account {A2} (aws-222): native connector aws-222"]
    assert d.changes["health"] == ()  # classic-retired in both runs: no change


def test_diff_on_the_demo_estate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = _cli(["diff", "--demo"], data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("no previous run in the local history")
    r2 = _cli(["diff", "--demo", "--format", "json"], data)
    assert r2.returncode == 0, r2.stderr
    doc = json.loads(r2.stdout)
    assert doc["previous_run"] is not None and doc["previous_run"] < doc["current_run"]
    assert doc["not_compared"] == {}
    # the same seed, the same tick: the same estate (the accounts and standards at least do not move)
    assert doc["changes"]["accounts"] == [] and doc["changes"]["plans"] == []
