"""The gate of `mdc-aws check` (tui/core/gate.py): the rules file, each rule kind on hand-built snapshots (no
network), the exit code and the three renderings; then the command itself on the demo estate (`check --demo`:
exit 3 with the default rules, 0 with rules the estate satisfies, the history compared and saved)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui.core import gate
from tui.core import health as h
from tui.core import model as m
from tui.core.errors import UsageError

SUB = "00000000-0000-0000-0000-00000000000a"
A1, A2 = "111111111111", "222222222222"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
BEFORE = NOW - timedelta(days=1)
MCSB = "Microsoft-cloud-security-benchmark"
CIS = "CIS-AWS-Foundations-v1.2.0"


# ------------------------------------------------------------------------------------------------ builders


def conn(account: str, name: str | None = None, kind: m.ConnectorKind = "native") -> m.Connector:
    name = name or f"aws-{account[:3]}"
    offerings = () if kind == "classic" else (
        m.Offering("CspmMonitorAws"),
        m.Offering("DefenderForServersAws", {"offeringType": "DefenderForServersAws",
                                              "arcAutoProvisioning": {"enabled": True}}))
    rid = (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/{name}"
           if kind == "native" else f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/{name}")
    return m.Connector(id=rid, name=name, kind=kind, subscription_id=SUB, resource_group="rg" if kind == "native"
                       else None, aws_account_id=account, regions=("us-east-1",), offerings=offerings)


def ec2(account: str, iid: str, launched_hours_ago: float | None, state: str = "running") -> m.Ec2Instance:
    launch = NOW - timedelta(hours=launched_hours_ago) if launched_hours_ago is not None else None
    return m.Ec2Instance(account, "us-east-1", iid, state, "linux", launch_time=launch)


def section(name: str, data, status: m.SectionState = "ok", error: str | None = None) -> m.Section:
    return m.Section(m.SectionStatus(name, status, NOW if status == "ok" else None, error), data)


def snap(*, at: datetime = NOW, connectors=None, standards=(), instances=(), ssm=(), arc=(), counts=(),
         failed: dict[str, str] | None = None) -> m.Snapshot:
    connectors = list(connectors if connectors is not None else [conn(A1), conn(A2)])
    by_acct: dict[str, list[m.Ec2Instance]] = {}
    for i in instances:
        by_acct.setdefault(i.account_id, []).append(i)
    aws = {c.aws_account_id: m.AwsAccountInventory(c.aws_account_id, True, regions=("us-east-1",),
                                                   instances=tuple(by_acct.get(c.aws_account_id, ())),
                                                   ssm=tuple(s for s in ssm if s.account_id == c.aws_account_id))
           for c in connectors if c.aws_account_id}
    data = {"connectors": m.ConnectorsData(tuple(connectors)), "plans": m.PlansData(()),
            "onboarding": m.OnboardingData(tuple(arc), aws), "recommendations": m.RecommendationsData(tuple(counts)),
            "compliance": m.ComplianceData(tuple(standards))}
    failed = failed or {}
    sections = {n: (section(n, None, "error", failed[n]) if n in failed else section(n, data[n]))
                for n in m.SECTION_NAMES}
    return m.Snapshot(at, (SUB,), sections, "tenant")


def std(name: str, passed: int, failed: int) -> m.ComplianceStandard:
    return m.ComplianceStandard(name, passed, failed, 0)


def high(c: m.Connector, n: int, sev: str = "High") -> m.RecommendationCount:
    return m.RecommendationCount(c.id.lower(), sev, "Unhealthy", n)


def issue(code: str, msg: str = "found", fix: str = "do this") -> h.HealthIssue:
    return h.HealthIssue(code, msg, fix)


def fake_health(by_name: dict[str, tuple[h.HealthIssue, ...]]):
    """health_of for the tests: connector name -> its issues (state = worst level), others healthy."""
    order = {"failing": 0, "degraded": 1, "pending": 2}

    def health_of(s: m.Snapshot) -> dict[str, h.Health]:
        out = {}
        for c in s.data("connectors").connectors:
            issues = by_name.get(c.name, ())
            state = min((i.level for i in issues), key=order.__getitem__) if issues else "healthy"
            out[c.id.lower()] = h.Health(state, tuple(issues))
        return out
    return health_of


def one(rules_text: str, current: m.Snapshot, previous: m.Snapshot | None = None, **kw) -> gate.RuleResult:
    (r,) = gate.parse_rules(rules_text, "t.toml")
    kw.setdefault("health_of", fake_health({}))
    return gate.evaluate([r], current, previous, **kw).results[0]


# ------------------------------------------------------------------------------------------------ rules file


def test_a_rules_file_with_every_kind_is_read_with_defaults_filled_in() -> None:
    rules = gate.parse_rules(f"""
[[rule]]
kind = "standard_score_below"
standard = "{MCSB}"
threshold = 60

[[rule]]
name = "no regressions"
kind = "standard_score_drop"
points = 2.5

[[rule]]
kind = "connector_not_healthy"
codes = ["stack-not-complete", "role-missing"]

[[rule]]
kind = "connector_not_healthy"
accounts = ["{A1}"]

[[rule]]
kind = "stuck_instances_above"
max = 10
reasons = ["no SSM agent"]

[[rule]]
kind = "stuck_longer_than"
hours = 24

[[rule]]
kind = "new_high_findings"
""", "t.toml")
    assert [r.kind for r in rules] == ["standard_score_below", "standard_score_drop", "connector_not_healthy",
                                       "connector_not_healthy", "stuck_instances_above", "stuck_longer_than",
                                       "new_high_findings"]
    assert rules[0].to_dict() == {"kind": "standard_score_below", "standard": MCSB, "threshold": 60}
    assert rules[1].name == "no regressions" and rules[1].params["points"] == 2.5
    assert rules[1].describe() == "no regressions: standard_score_drop (points 2.5)"
    # with codes: those codes at any level; without: failing or degraded (pending allowed)
    assert rules[2].params["states"] == ("failing", "degraded", "pending")
    assert rules[3].params["states"] == ("failing", "degraded") and rules[3].params["accounts"] == (A1,)
    assert rules[4].params["reasons"] == ("no SSM agent",)
    assert rules[6].params["max"] == 0
    assert rules[3].where == "t.toml, rule 4 (line 16)"


@pytest.mark.parametrize(("text", "needles"), [
    ('[[rule]]\nkind = "score_below"\nthreshold = 1\n', ["rule 1 (line 1)", "unknown kind 'score_below'",
                                                          "(line 2)", "standard_score_below"]),
    ('[[rule]]\nkind = "new_high_findings"\n\n[[rule]]\nkind = "standard_score_below"\nthresold = 60\n',
     ["rule 2 (line 4)", "unknown key 'thresold'", "(line 6)", "keys: kind, name, standard, threshold"]),
    ('[[rule]]\nkind = "standard_score_below"\n', ["rule 1", "needs `threshold`"]),
    ('[[rule]]\nkind = "standard_score_below"\nthreshold = 120\n', ["threshold = 120", "at most 100"]),
    ('[[rule]]\nkind = "standard_score_drop"\npoints = true\n', ["points = True", "expected a number"]),
    ('[[rule]]\nkind = "stuck_instances_above"\nmax = -1\n', ["max = -1", "0 or more"]),
    ('[[rule]]\nkind = "stuck_longer_than"\nhours = 0\n', ["hours = 0", "above 0"]),
    ('[[rule]]\nkind = "connector_not_healthy"\naccounts = [111111111111]\n', ["not an AWS account id", "quoted"]),
    ('[[rule]]\nkind = "connector_not_healthy"\ncodes = ["stack-failed"]\n',
     ["'stack-failed' is not one of the health codes", "stack-not-complete"]),
    ('[[rule]]\nkind = "connector_not_healthy"\nstates = ["healthy"]\n', ["'healthy'", "failing, degraded, pending"]),
    ('[[rule]]\nkind = "stuck_longer_than"\nhours = 1\nreasons = ["stuck"]\n', ["'stuck'", "no SSM agent"]),
    ('[[rule]]\nthreshold = 3\n', ["no `kind`"]),
    ('threshold = 3\n[[rule]]\nkind = "new_high_findings"\n', ["unknown key 'threshold' (line 1)", "only [[rule]]"]),
    ('', ["no [[rule]] table"]),
    ('rule = {kind = "new_high_findings"}\n', ["array of tables"]),
    ('[[rule]\nkind = 1\n', ["not valid TOML", "line 1"]),
])
def test_a_bad_rules_file_is_a_usage_error_naming_rule_line_and_key(text: str, needles: list[str]) -> None:
    with pytest.raises(gate.RulesError) as e:
        gate.parse_rules(text, "rules file t.toml")
    assert isinstance(e.value, UsageError)  # the CLI's exit 2
    msg = str(e.value)
    assert msg.startswith("rules file t.toml")
    for n in needles:
        assert n in msg, (n, msg)


def test_load_rules_reads_a_file_and_names_a_missing_one(tmp_path: Path) -> None:
    p = tmp_path / "gate.toml"
    p.write_text('[[rule]]\nkind = "stuck_instances_above"\nmax = 3\n', encoding="utf-8")
    assert gate.load_rules(p)[0].params["max"] == 3
    with pytest.raises(gate.RulesError, match="does not exist"):
        gate.load_rules(tmp_path / "absent.toml")


def test_default_rules() -> None:
    assert [(r.kind, {k: v for k, v in r.params.items() if v is not None}) for r in gate.DEFAULT_RULES] == [
        ("connector_not_healthy", {"states": ("failing", "degraded")}),
        ("standard_score_drop", {"points": 5}),
        ("new_high_findings", {"max": 0}),
        ("stuck_longer_than", {"hours": 24}),
    ]


# ------------------------------------------------------------------------------------------------ standards


def test_standard_score_below_names_the_standard_and_its_score() -> None:
    cur = snap(standards=[std(MCSB, 55, 45), std(CIS, 90, 10), std("Empty", 0, 0)])
    r = one('[[rule]]\nkind = "standard_score_below"\nthreshold = 60\n', cur)
    assert r.ok is False
    assert [(e["standard"], e["percent"]) for e in r.evidence] == [(MCSB, 55.0)]
    assert r.evidence[0]["text"] == "Microsoft cloud security benchmark: 55% < 60% (55 of 100 assessed controls passed)"
    assert r.notes == ("Empty: no assessed controls (score unknown)",)
    # one standard, named as the portal shows it, any case
    r = one('[[rule]]\nkind = "standard_score_below"\nstandard = "cis aws foundations v1.2.0"\nthreshold = 60\n', cur)
    assert r.ok is True and "CIS AWS Foundations v1.2.0 at 60% or more" in r.summary
    assert one('[[rule]]\nkind = "standard_score_below"\nthreshold = 0\n', cur).ok is True
    # a standard that is not there fails, with the names that are
    r = one('[[rule]]\nkind = "standard_score_below"\nstandard = "PCI-DSS"\nthreshold = 1\n', cur)
    assert r.ok is False and MCSB in r.evidence[0]["text"] and r.evidence[0]["percent"] is None
    # a named standard without assessed controls: unknown, not a pass
    assert one('[[rule]]\nkind = "standard_score_below"\nstandard = "Empty"\nthreshold = 1\n', cur).ok is None


def test_standard_score_drop_compares_with_the_previous_run() -> None:
    prev = snap(at=BEFORE, standards=[std(MCSB, 70, 30), std(CIS, 50, 50)])
    cur = snap(standards=[std(MCSB, 60, 40), std(CIS, 48, 52), std("New", 1, 1)])
    r = one('[[rule]]\nkind = "standard_score_drop"\npoints = 5\n', cur, prev)
    assert r.ok is False
    assert [(e["standard"], e["was"], e["now"], e["drop"]) for e in r.evidence] == [(MCSB, 70.0, 60.0, 10.0)]
    assert "70% -> 60% (down 10 points, more than 5)" in r.evidence[0]["text"]
    assert "New: not in the previous run" in r.notes
    assert one('[[rule]]\nkind = "standard_score_drop"\npoints = 10\n', cur, prev).ok is True
    r = one(f'[[rule]]\nkind = "standard_score_drop"\nstandard = "{CIS}"\npoints = 2\n', cur, prev)
    assert r.ok is True and "(1 compared)" in r.summary  # CIS 50% -> 48%: down 2 points, not more than 2
    # the first run has nothing to compare with (holds, said); no history at all is "not evaluated"
    first = one('[[rule]]\nkind = "standard_score_drop"\npoints = 5\n', cur, None)
    assert first.ok is True and "first run" in first.summary
    r = one('[[rule]]\nkind = "standard_score_drop"\npoints = 5\n', cur, None, history_error="history disabled")
    assert r.ok is None and "history disabled" in r.summary


def test_standard_score_drop_by_more_than_points_fails() -> None:
    prev = snap(at=BEFORE, standards=[std(CIS, 50, 50)])
    cur = snap(standards=[std(CIS, 48, 52)])
    r = one(f'[[rule]]\nkind = "standard_score_drop"\nstandard = "{CIS}"\npoints = 1.5\n', cur, prev)
    assert r.ok is False and r.evidence[0]["drop"] == 2.0


def test_a_rule_whose_section_failed_is_not_evaluated() -> None:
    cur = snap(standards=[std(MCSB, 1, 99)], failed={"compliance": "ARG: throttled"})
    r = one('[[rule]]\nkind = "standard_score_below"\nthreshold = 60\n', cur)
    assert r.ok is None and "compliance: error: ARG: throttled" in r.summary
    assert r.evidence[0]["section"] == "compliance"


# ------------------------------------------------------------------------------------------------ connectors


def test_connector_not_healthy_gives_connector_codes_messages_and_fixes() -> None:
    cur = snap()
    health = fake_health({"aws-111": (issue("stack-not-complete", "stack X ROLLBACK_COMPLETE", "re-run it"),
                                      issue("no-standard-assigned")),
                          "aws-222": (issue("pending-first-scan"),)})
    r = one('[[rule]]\nkind = "connector_not_healthy"\n', cur, health_of=health)
    assert r.ok is False
    (e,) = r.evidence  # pending is allowed by default
    assert (e["account_id"], e["connector"], e["state"]) == (A1, "aws-111", "failing")
    assert [(i["code"], i["level"]) for i in e["issues"]] == [("stack-not-complete", "failing"),
                                                               ("no-standard-assigned", "degraded")]
    assert e["issues"][0]["message"] == "stack X ROLLBACK_COMPLETE" and e["issues"][0]["fix"] == "re-run it"
    assert e["details"][0] == "stack-not-complete: stack X ROLLBACK_COMPLETE -> fix: re-run it"
    # states, codes and accounts narrow it
    r = one('[[rule]]\nkind = "connector_not_healthy"\nstates = ["pending"]\n', cur, health_of=health)
    assert [e["connector"] for e in r.evidence] == ["aws-222"]
    r = one('[[rule]]\nkind = "connector_not_healthy"\ncodes = ["no-standard-assigned"]\n', cur, health_of=health)
    assert [i["code"] for i in r.evidence[0]["issues"]] == ["no-standard-assigned"]
    r = one('[[rule]]\nkind = "connector_not_healthy"\ncodes = ["role-missing"]\n', cur, health_of=health)
    assert r.ok is True and r.evidence == ()
    r = one(f'[[rule]]\nkind = "connector_not_healthy"\naccounts = ["{A2}"]\n', cur, health_of=health)
    assert r.ok is True and r.summary == "1 connector(s) healthy or pending"


def test_connector_health_with_facts_missing_is_not_a_pass() -> None:
    cur = snap(failed={"onboarding": "AWS: network"})
    r = one('[[rule]]\nkind = "connector_not_healthy"\n', cur)
    assert r.ok is None and "onboarding: error: AWS: network" in r.summary
    # a problem found anyway is a failure (the facts read say so)
    bad = fake_health({"aws-111": (issue("classic-retired"),)})
    assert one('[[rule]]\nkind = "connector_not_healthy"\n', cur, health_of=bad).ok is False
    assert one('[[rule]]\nkind = "connector_not_healthy"\n', snap(failed={"connectors": "403"})).ok is None
    # the health model gave no Health for a connector (its data broke the evaluation): not a pass
    r = one('[[rule]]\nkind = "connector_not_healthy"\n', snap(), health_of=lambda s: {})
    assert r.ok is None and "health not evaluated for 2 connector(s)" in r.summary


def test_connector_not_healthy_with_the_real_health_model() -> None:
    """tui.core.health.health_by_connector (the default): a classic connector is retired, so failing."""
    cur = snap(connectors=[conn(A1, "legacy", kind="classic")])
    (r,) = gate.parse_rules('[[rule]]\nkind = "connector_not_healthy"\ncodes = ["classic-retired"]\n')
    res = gate.evaluate([r], cur).results[0]
    assert res.ok is False and res.evidence[0]["connector"] == "legacy"
    assert [i["code"] for i in res.evidence[0]["issues"]] == ["classic-retired"]


# ------------------------------------------------------------------------------------------------ stuck instances


def _stuck_estate() -> m.Snapshot:
    arc = m.ArcMachine(id=f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/i-arc",
                       name="i-arc", subscription_id=SUB, resource_group="rg", status="Disconnected",
                       aws_account_id=A1, instance_id="i-arc",
                       last_status_change=(NOW - timedelta(hours=48)).isoformat())
    ok = m.ArcMachine(id=f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.hybridcompute/machines/i-ok",
                      name="i-ok", subscription_id=SUB, resource_group="rg", status="Connected",
                      aws_account_id=A2, instance_id="i-ok")
    return snap(instances=[ec2(A1, "i-old", 30), ec2(A1, "i-new", 2), ec2(A1, "i-arc", 500),
                           ec2(A2, "i-lost", 100, state="stopped"), ec2(A2, "i-nolaunch", None), ec2(A2, "i-ok", 9),
                           ec2(A2, "i-ping", 200)],
                ssm=[m.SsmInstance(A1, "us-east-1", "i-new", "Online", registered=NOW - timedelta(hours=3)),
                     m.SsmInstance(A1, "us-east-1", "i-arc", "Online"),
                     m.SsmInstance(A2, "us-east-1", "i-ping", "ConnectionLost",
                                   last_ping=NOW - timedelta(hours=26))],
                arc=[arc, ok])


def test_stuck_instances_above_counts_and_lists_them() -> None:
    cur = _stuck_estate()
    r = one('[[rule]]\nkind = "stuck_instances_above"\nmax = 6\n', cur)
    assert r.ok is True and r.summary == f"6 stuck instance(s) (max 6): {A1}: 3, {A2}: 3" and r.evidence == ()
    r = one('[[rule]]\nkind = "stuck_instances_above"\nmax = 5\n', cur)
    assert r.ok is False and len(r.evidence) == 6
    r = one('[[rule]]\nkind = "stuck_instances_above"\nmax = 0\nreasons = ["no SSM agent"]\n', cur)
    assert r.ok is False
    assert sorted(e["instance_id"] for e in r.evidence) == ["i-nolaunch", "i-old"]
    r = one(f'[[rule]]\nkind = "stuck_instances_above"\nmax = 2\naccounts = ["{A1}"]\n', cur)
    assert r.ok is False and {e["account_id"] for e in r.evidence} == {A1}


def test_stuck_longer_than_uses_known_durations_and_says_which_are_unknown() -> None:
    cur = _stuck_estate()
    r = one('[[rule]]\nkind = "stuck_longer_than"\nhours = 24\n', cur)
    assert r.ok is False
    got = {e["instance_id"]: (e["reason"], e["stuck_for_hours"]) for e in r.evidence}
    assert got == {
        "i-old": (m.REASON_NO_SSM, 30.0),  # since launch, no SSM agent
        "i-arc": (m.REASON_ARC_DISCONNECTED, 48.0),  # since the Arc status changed (not since launch: 500 h)
        "i-ping": (m.REASON_SSM_LOST, 26.0),  # since the last ping
        "i-lost": (m.REASON_SSM_LOST, None),  # stopped: when it stopped is not read
        "i-nolaunch": (m.REASON_NO_SSM, None),  # no launch time
    }
    unknown = {e["instance_id"]: e["basis"] for e in r.evidence if e["stuck_for_hours"] is None}
    assert unknown == {"i-lost": "the instance is stopped; when it stopped is not read",
                       "i-nolaunch": "EC2 launch time not read"}
    assert "how long is unknown: EC2 launch time not read" in next(e["text"] for e in r.evidence
                                                                      if e["instance_id"] == "i-nolaunch")
    assert r.summary.startswith("3 of 6 stuck instance(s) stuck more than 24 h; 2 stuck for a time not known")
    # i-new: not discovered yet, ready 2 h ago (launch 2 h, SSM registered 3 h: the later one)
    r = one('[[rule]]\nkind = "stuck_longer_than"\nhours = 1.5\nreasons = ["not discovered yet"]\n', cur)
    assert [(e["instance_id"], e["stuck_for_hours"]) for e in r.evidence] == [("i-new", 2.0)]
    assert r.ok is False  # 2 h > 1.5 h
    assert one('[[rule]]\nkind = "stuck_longer_than"\nhours = 2\nreasons = ["not discovered yet"]\n', cur).ok is True
    assert one('[[rule]]\nkind = "stuck_longer_than"\nhours = 100\n', cur).ok is True


# ------------------------------------------------------------------------------------------------ findings


def test_new_high_findings_per_account() -> None:
    c1, c2 = conn(A1), conn(A2)
    prev = snap(at=BEFORE, connectors=[c1, c2], counts=[high(c1, 3), high(c2, 5), high(c2, 7, "Low")])
    cur = snap(connectors=[c1, c2], counts=[high(c1, 5), high(c2, 5), high(c2, 9, "Low")])
    r = one('[[rule]]\nkind = "new_high_findings"\n', cur, prev)
    assert r.ok is False
    assert [(e["account_id"], e["was"], e["now"], e["new"]) for e in r.evidence] == [(A1, 3, 5, 2)]
    assert one('[[rule]]\nkind = "new_high_findings"\nmax = 2\n', cur, prev).ok is True
    assert one(f'[[rule]]\nkind = "new_high_findings"\naccounts = ["{A2}"]\n', cur, prev).ok is True
    # an account new since the last run: its High findings are new (said)
    c3 = conn("333333333333")
    cur3 = snap(connectors=[c1, c2, c3], counts=[high(c1, 3), high(c2, 5), high(c3, 4)])
    r = one('[[rule]]\nkind = "new_high_findings"\n', cur3, prev)
    assert [(e["account_id"], e["was"], e["new"]) for e in r.evidence] == [("333333333333", None, 4)]
    assert "account new since the last run" in r.evidence[0]["text"]


# ------------------------------------------------------------------------------------------------ report


def test_exit_codes_and_json_shape() -> None:
    prev = snap(at=BEFORE, standards=[std(MCSB, 80, 20)])
    cur = snap(standards=[std(MCSB, 60, 40)], failed={"recommendations": "ARG down"})
    rules = gate.parse_rules('[[rule]]\nkind = "standard_score_below"\nthreshold = 50\n'
                             '[[rule]]\nkind = "new_high_findings"\n'
                             '[[rule]]\nkind = "standard_score_drop"\npoints = 5\n')
    report = gate.evaluate(rules, cur, prev, health_of=fake_health({}))
    assert [r.ok for r in report.results] == [True, None, False]
    assert report.exit_code == 3 and not report.ok  # a failure wins over a rule not evaluated
    assert gate.evaluate(rules[:2], cur, prev).exit_code == 1
    assert gate.evaluate(rules[:1], cur, prev).exit_code == 0
    doc = json.loads(gate.render(report, "json"))
    assert doc["ok"] is False and doc["exit_code"] == 3
    assert doc["previous_run"] == BEFORE.isoformat() and doc["generated_at"] == NOW.isoformat()
    assert [(x["rule"]["kind"], x["ok"]) for x in doc["rules"]] == [
        ("standard_score_below", True), ("new_high_findings", None), ("standard_score_drop", False)]
    assert doc["rules"][2]["rule"] == {"kind": "standard_score_drop", "points": 5}
    assert doc["rules"][2]["evidence"][0]["standard"] == MCSB and doc["rules"][2]["evidence"][0]["now"] == 60.0
    first = gate.evaluate(rules[:1], cur, None)
    assert json.loads(gate.render(first, "json"))["previous_run"] is None


def test_text_and_markdown_name_each_failed_rule_with_its_evidence() -> None:
    cur = snap(standards=[std(MCSB, 10, 90)])
    rules = gate.parse_rules('[[rule]]\nname = "MCSB floor"\nkind = "standard_score_below"\nthreshold = 50\n'
                             '[[rule]]\nkind = "connector_not_healthy"\n')
    report = gate.evaluate(rules, cur, None, health_of=fake_health({"aws-222": (issue("role-missing", "a|b"),)}))
    text = gate.render(report, "text")
    lines = text.splitlines()
    assert lines[0] == "FAIL    MCSB floor: standard_score_below (threshold 50): 1 standard(s) below 50%"
    assert lines[1] == "        - Microsoft cloud security benchmark: 10% < 50% (10 of 100 assessed controls passed)"
    assert "FAIL    connector_not_healthy (states failing, degraded): 1 of 2 connector(s) not healthy" in text
    assert "role-missing: a|b -> fix: do this" in text
    assert lines[-1].startswith("FAILED: 0 of 2 rule(s) hold; 2 failed")
    md = gate.render(report, "md")
    assert md.startswith("# mdc-aws check: FAILED")
    assert "| FAIL | `MCSB floor: standard_score_below (threshold 50)` | 1 standard(s) below 50% |" in md
    assert "  - role-missing: a\\|b -> fix: do this" in md
    ok = gate.evaluate(rules[:1], replace(cur, sections={**cur.sections, "compliance": section(
        "compliance", m.ComplianceData((std(MCSB, 90, 10),)))}), None)
    assert gate.render(ok, "text").splitlines()[-1].startswith("OK: 1 of 1 rule(s) hold")


# ------------------------------------------------------------------------------------------------ the command


def _cli(args: list[str], data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MDC_AWS_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[1])


def test_check_rejects_a_bad_rules_file_before_collecting(tmp_path: Path) -> None:
    bad = tmp_path / "gate.toml"
    bad.write_text('[[rule]]\nkind = "standard_score_below"\nthreshold = 60\nlevel = 3\n', encoding="utf-8")
    r = _cli(["check", "--demo", "--rules", str(bad)], tmp_path / "data", timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"rules file {bad}, rule 1 (line 1): unknown key 'level' (line 4)" in r.stderr
    assert "starting the emulated estate" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "data").exists()


def test_check_on_the_demo_estate(tmp_path: Path) -> None:
    """Default rules: exit 3 (the planted unhealthy connectors), JSON naming the failed rule with its evidence;
    then rules the estate satisfies: exit 0, compared with the first run, which the history kept."""
    data = tmp_path / "data"
    r = _cli(["check", "--demo", "--format", "json"], data)
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["previous_run"] is None
    by_kind = {x["rule"]["kind"]: x for x in doc["rules"]}
    assert set(by_kind) == {"connector_not_healthy", "standard_score_drop", "new_high_findings", "stuck_longer_than"}
    unhealthy = by_kind["connector_not_healthy"]
    assert unhealthy["ok"] is False
    codes = {i["code"] for e in unhealthy["evidence"] for i in e["issues"]}
    assert "classic-retired" in codes  # the estate's retired classic connectors, at least
    assert all(e["state"] in ("failing", "degraded") and e["issues"] and e["connector"] for e in unhealthy["evidence"])
    assert by_kind["standard_score_drop"]["ok"] is True  # first run: nothing to compare with
    assert (data / "demo-default-42" / "history.sqlite3").exists()

    rules = tmp_path / "ok.toml"
    rules.write_text('[[rule]]\nkind = "standard_score_below"\nthreshold = 0\n\n'
                     '[[rule]]\nkind = "standard_score_drop"\npoints = 100\n\n'
                     '[[rule]]\nkind = "stuck_instances_above"\nmax = 100000\n', encoding="utf-8")
    r2 = _cli(["check", "--demo", "--rules", str(rules), "--format", "md"], data)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert r2.stdout.startswith("# mdc-aws check: passed")
    assert f"previous run {doc['generated_at']}" in r2.stdout  # the first run, from the history
    assert "| PASS | `standard_score_drop (points 100)` |" in r2.stdout


# ------------------------------------------------------------------------------------------------ the README


def _readme_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_readme_lists_every_health_code_with_its_level_and_title() -> None:
    import re

    rows = re.findall(r"^\| `([a-z-]+)` \| (\w+) \| (.+?) \| .+ \|$", _readme_section("Connector health codes"),
                      re.MULTILINE)
    assert rows == [(c.code, c.level, c.title) for c in h.CODES]


def test_the_readme_documents_every_rule_kind_and_key() -> None:
    doc = _readme_section("The gate for cron and CI")
    for kind in gate.KINDS.values():
        assert f'kind = "{kind.name}"' in doc, kind.name
        for key in kind.keys:
            assert f"`{key}`" in doc or f"{key} = " in doc, (kind.name, key)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_threshold_that_is_not_finite_is_refused(tmp_path, value) -> None:
    """TOML allows nan and inf: a rule with one could never fail, so the file is refused (review 19)."""
    p = tmp_path / "r.toml"
    p.write_text(f'[[rule]]\nkind = "standard_score_below"\nthreshold = {value}\n')
    with pytest.raises(gate.RulesError) as ei:
        gate.load_rules(p)
    assert "threshold" in str(ei.value) and "nan or inf" in str(ei.value)


def test_an_account_mdc_aws_cannot_read_is_unknown_not_a_failure() -> None:
    """aws-unreadable is mdc-aws's own access, not the connector's health: the default rule reports it as not
    evaluated (exit 1), another issue of the same connector still fails, and a rule naming the code fails on it."""
    cur = snap()
    only = fake_health({"aws-111": (issue("aws-unreadable", "cannot assume the role"),)})
    r = one('[[rule]]\nkind = "connector_not_healthy"\n', cur, health_of=only)
    assert r.ok is None and "not everything could be checked" in r.summary
    assert "AWS side not readable" in " ".join(r.notes)
    both = fake_health({"aws-111": (issue("aws-unreadable"), issue("no-standard-assigned"))})
    r = one('[[rule]]\nkind = "connector_not_healthy"\n', cur, health_of=both)
    assert r.ok is False and [i["code"] for i in r.evidence[0]["issues"]] == ["no-standard-assigned"]
    r = one('[[rule]]\nkind = "connector_not_healthy"\ncodes = ["aws-unreadable"]\n', cur, health_of=only)
    assert r.ok is False
