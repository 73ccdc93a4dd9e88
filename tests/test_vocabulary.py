"""One vocabulary: the plans and their offerings are defined once (tui/core/model.py PLANS) and every other list of
them (the onboarding template, wizard and doctor, the roles data, the emulator) agrees with it; the `Literal` state
aliases name exactly the values the code uses."""
from __future__ import annotations

from typing import get_args

from tui.core import derive as d
from tui.core import model as m
from tui.core.onboarding import doctor, template, wizard


def test_plans_are_defined_once_and_derived_everywhere() -> None:
    assert m.PLAN_KEYS == get_args(m.PlanKey) == ("cspm", "defender_cspm", "servers", "containers", "databases")
    assert m.PLAN_OFFERINGS == {p.key: p.offering_type for p in m.PLANS}
    assert m.OFFERING_PLANS == {p.offering_type: p.key for p in m.PLANS}
    assert len(set(m.PLAN_OFFERINGS.values())) == len(m.PLANS)
    assert m.ALWAYS_ON_PLAN_KEYS == ("cspm",) and m.OPTIONAL_PLAN_KEYS == m.PLAN_KEYS[1:]
    # the names other modules and tests use are the model's, not copies
    assert template.PLAN_KEYS is m.PLAN_KEYS and template.PLAN_TITLES is m.PLAN_TITLES
    assert template.OPTIONAL_PLANS is m.OPTIONAL_PLAN_KEYS
    assert wizard.PLAN_OFFERING is m.PLAN_OFFERINGS
    assert doctor.OFFERING_PLAN == m.OFFERING_PLANS
    assert set(wizard.PLAN_INFO) == set(m.PLAN_KEYS)
    assert all(wizard.PLAN_INFO[p.key][0] == p.title for p in m.PLANS)
    assert m.KNOWN_AWS_OFFERINGS == set(m.PLAN_OFFERINGS.values()) | set(m.OTHER_AWS_OFFERINGS)


def test_plan_aliases_and_order() -> None:
    assert template.normalize_plans("dcspm, defender-cspm foundational_cspm") == ("cspm", "defender_cspm")
    assert template.normalize_plans(reversed(m.PLAN_KEYS)) == m.PLAN_KEYS
    assert template.normalize_plans(None) == m.ALWAYS_ON_PLAN_KEYS
    assert wizard.PlanChoices(cspm=False, databases=True).keys() == ("cspm", "databases")


def test_the_wizard_writes_each_plans_offering_type() -> None:
    st = wizard.NativeState(aws_account_id="111122223333")
    for key in m.OPTIONAL_PLAN_KEYS:
        setattr(st.plans, key, True)
    assert [o["offeringType"] for o in wizard.offerings(st)] == [m.PLAN_OFFERINGS[k] for k in m.PLAN_KEYS]


def test_roles_data_and_emulator_speak_the_same_vocabulary() -> None:
    data = template.roles_data()
    assert set(data["offering_roles"]) == set(m.PLAN_OFFERINGS.values())
    assert {p for r in data["roles"].values() for p in r["plans"]} == set(m.PLAN_KEYS)
    # the emulator never imports the core: its own copy must still name the same offerings
    from tui.emulator import arm, world

    assert set(m.PLAN_OFFERINGS.values()) | set(m.OTHER_AWS_OFFERINGS) == set(arm.OFFERING_DESCRIPTIONS)
    assert set(m.PLAN_OFFERINGS.values()) == set(world.OFFERING_DESCRIPTIONS) - {world.UNKNOWN_OFFERING}


def test_state_aliases_match_the_values_in_use() -> None:
    reasons = {m.REASON_NO_SSM, m.REASON_SSM_LOST, m.REASON_NOT_DISCOVERED, m.REASON_ARC_DISCONNECTED,
               m.REASON_ARC_EXPIRED, m.REASON_ARC_ERROR, m.REASON_ARC_OTHER}
    assert set(get_args(m.StuckReason)) == reasons == set(d.STUCK_FIX)
    assert set(get_args(d.MatchedBy)) == {d.MATCH_INSTANCE_ID, d.MATCH_NAME}
    assert m.SEVERITIES == get_args(m.Severity)
    from widgets.pane import GLYPHS, PaneState

    assert set(get_args(PaneState)) == set(GLYPHS) >= set(get_args(m.SectionState))


def test_tuples_became_named() -> None:
    n = m.Connector(id="/subscriptions/s/providers/Microsoft.Security/securityConnectors/n", name="n", kind="native",
                    subscription_id="s", resource_group="rg", aws_account_id="111122223333")
    h = d.connector_health(n)
    assert h == ("ok", None) and (h.health, h.detail) == ("ok", None)
    r = m.Recommendation("id", "k", "t", "High", "Unhealthy", "")
    assert d.unattributed([r]) == (1, 1) and d.unattributed([r]).unhealthy == 1
    by_account, none = att = d.rec_attribution([m.RecommendationCount("", "High", "Unhealthy", 2)], [n])
    assert att.by_account is by_account == {} and att.unattributed is none and none.unhealthy == 2



def test_the_plans_pane_has_a_column_per_plan_in_the_models_order() -> None:
    """tui.render.rows cannot import the model (it is on the first frame): its plan columns are checked here, and
    plan_items fills them from AccountView.plans, which derive orders as the model does."""
    from tui.core import model as m
    from tui.render.rows import PLAN_COLUMNS

    column_plan = {"CSPM": "cspm", "DCSPM": "defender_cspm", "SERVERS": "servers", "CONTAINERS": "containers",
                   "DATABASES": "databases"}
    assert [column_plan[label] for label, _ in PLAN_COLUMNS[1:]] == list(m.PLAN_KEYS)
