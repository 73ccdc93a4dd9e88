"""Several Entra ID tenants (issue 14): [[tenants]] in the config file, one source per tenant merged into one view
(a subscription seen through two tenants read once), Azure Lighthouse (a delegated subscription keeps its own
tenant), the accounts pane's TENANT column and `tenant:` filter, the history per tenant set, and the snapshot
JSON's tenant_id fields. Pure tests first, then the emulated estate (its home and partner tenants' tokens)."""
from __future__ import annotations

from types import SimpleNamespace

import asyncio
import base64
import json
from collections import Counter
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from tests.test_render import CONNECTORS, DUP, MEMBER, MGMT, TENANT, UNREAD, plain, snapshot
from tui.cli import main
from tui.core import config as cfg
from tui.core import derive as d
from tui.core import model as m
from tui.core import redact
from tui.core.auth import StaticTokenCredential, make_tenant_credential
from tui.core.azure import AzureSource, MultiTenantAzure, azure_source
from tui.core.collect import Collector
from tui.core.errors import AuthError, SourceError, UsageError
from tui.core.export import snapshot_to_dict
from tui.core.health import _tenant_of
from tui.core.history import History, Scope
from tui.core.tablequery import Index, parse_filter
from tui.render.rows import ACCOUNT_COLUMNS, ACCOUNT_COLUMNS_TENANTS, account_columns, account_items

SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))
HOME = "00000000-0000-4000-8000-00000000000a"
PARTNER = "00000000-0000-4000-8000-00000000000b"
SUB_A = "00000000-0000-4000-8000-0000000000a1"
SUB_B = "00000000-0000-4000-8000-0000000000b1"
SUB_SHARED = "00000000-0000-4000-8000-0000000000c1"


def jwt(claims: dict[str, Any]) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{b64({'alg': 'none'})}.{b64(claims)}.sig"


# -------------------------------------------------------------------------------------------- config

def test_tenants_parse_with_every_key() -> None:
    s = cfg.from_mapping({"tenants": [
        {"tenant_id": HOME.upper(), "name": " Contoso ", "access_token_env": "CONTOSO_TOKEN"},
        {"tenant_id": PARTNER, "subscriptions": [SUB_B]}]})
    assert s.tenants == (cfg.TenantSettings(HOME, "Contoso", (), "CONTOSO_TOKEN"),
                         cfg.TenantSettings(PARTNER, None, (SUB_B,), None))
    assert s.tenants_key == f"{HOME},{PARTNER}"
    assert cfg.from_mapping({}).tenants == () and cfg.from_mapping({}).tenants_key is None
    assert cfg.from_mapping({"tenants": []}).tenants == ()


@pytest.mark.parametrize("tenants, needles", [
    ([{"name": "x"}], ["tenants[1].tenant_id: missing"]),
    ([{"tenant_id": "nope"}], ["tenants[1].tenant_id = 'nope'", "GUID"]),
    ([{"tenant_id": HOME}, {"tenant_id": HOME.upper()}], ["tenants[2].tenant_id", "same tenant as tenants[1]"]),
    ([{"tenant_id": HOME, "access_token": "eyJ..."}], ["tenants[1].access_token: unknown key",
                                                       "environment variable named by access_token_env"]),
    ([{"tenant_id": HOME, "colour": "red"}], ["tenants[1].colour: unknown key"]),
    ([{"tenant_id": HOME, "access_token_env": "eyJ0eXAi.x.y"}], ["tenants[1].access_token_env", "NAME of"]),
    ([{"tenant_id": HOME, "subscriptions": ["x"]}], ["tenants[1].subscriptions", "not a subscription id"]),
    ([{"tenant_id": HOME, "name": ""}], ["tenants[1].name", "display name"]),
    ({"tenant_id": HOME}, ["tenants: expected an array of tables"]),
])
def test_bad_tenants_name_the_key(tenants, needles) -> None:
    with pytest.raises(UsageError) as e:
        cfg.from_mapping({"tenants": tenants}, path="/x/config.toml")
    for n in needles:
        assert n in str(e.value), str(e.value)
    assert "config file /x/config.toml" in str(e.value)


def test_info_checks_tenants_in_the_file(tmp_path) -> None:
    p = tmp_path / "config.toml"
    p.write_text(f'[[tenants]]\ntenant_id = "{HOME}"\n\n[[tenants]]\ntenant_id = "bad"\n', encoding="utf-8")
    p.chmod(0o600)
    r = CliRunner().invoke(main, ["info", "--config", str(p)], env={"MDC_AWS_ACCESS_TOKEN": None})
    assert r.exit_code == 2 and "tenants[2].tenant_id = 'bad'" in r.output and str(p) in r.output, r.output
    assert "Traceback" not in r.output


# -------------------------------------------------------------------------------------------- credentials

def test_tenant_token_comes_from_its_variable_and_is_redacted() -> None:
    t = cfg.TenantSettings(PARTNER, "Fabrikam", access_token_env="FABRIKAM_TOKEN")
    token = jwt({"tid": PARTNER, "exp": 4102444800})
    cred = make_tenant_credential(t, {"FABRIKAM_TOKEN": token})
    assert isinstance(cred, StaticTokenCredential) and cred.tenant_id == PARTNER
    assert token not in repr(cred)
    assert token not in redact.redact_text(f"Authorization: Bearer {token}")
    assert asyncio.run(cred.get_token("https://management.azure.com/.default")).token == token
    with pytest.raises(AuthError, match="FABRIKAM_TOKEN .*is not set: export it"):
        make_tenant_credential(t, {})
    with pytest.raises(AuthError, match=f"belongs to tenant {HOME}, not {PARTNER}"):
        make_tenant_credential(t, {"FABRIKAM_TOKEN": jwt({"tid": HOME})})


def test_tenant_without_a_token_asks_default_credential_for_that_tenant() -> None:
    cred = make_tenant_credential(cfg.TenantSettings(PARTNER))
    assert type(cred).__name__ == "TenantCredential" and cred.tenant_id == PARTNER  # type: ignore[attr-defined]
    asked: dict[str, Any] = {}

    class Inner:
        async def get_token(self, *scopes: str, **kw: Any) -> str:
            asked.update(kw, scopes=scopes)
            return "t"

        async def close(self) -> None:
            asked["closed"] = True

    asyncio.run(cred.close())  # the real DefaultAzureCredential is closed without a request
    cred._inner = Inner()  # type: ignore[attr-defined]
    asyncio.run(cred.get_token("s"))
    assert asked == {"tenant_id": PARTNER, "scopes": ("s",)}


def test_default_credential_token_of_another_tenant_is_refused() -> None:
    # a managed identity ignores tenant_id: DefaultAzureCredential hands out a token of its own (home) tenant
    from azure.core.credentials import AccessToken

    cred = make_tenant_credential(cfg.TenantSettings(PARTNER))
    asyncio.run(cred.close())
    tokens = {"tid": HOME}

    class Inner:
        async def get_token(self, *scopes: str, **kw: Any) -> AccessToken:
            return AccessToken(jwt({"tid": tokens["tid"], "exp": 4102444800}), 4102444800)

        async def close(self) -> None:
            pass

    cred._inner = Inner()  # type: ignore[attr-defined]
    with pytest.raises(AuthError) as e:
        asyncio.run(cred.get_token("https://management.azure.com/.default"))
    msg = str(e.value)
    for needle in (f"signed in to tenant {HOME}, not {PARTNER}", "managed identity", "access_token_env",
                   f"az login --tenant {PARTNER}", "AZURE_TOKEN_CREDENTIALS=AzureCliCredential"):
        assert needle in msg, msg
    assert "eyJ" not in msg  # never the token
    tokens["tid"] = PARTNER.upper()  # its own tenant (any case) is fine
    assert jwt({"tid": PARTNER.upper(), "exp": 4102444800}) == asyncio.run(cred.get_token("s")).token


def test_no_tenants_is_the_single_source() -> None:
    s = cfg.Settings()
    src = azure_source(s)
    assert type(src) is AzureSource and src.settings is s.azure and src.tenant is None
    multi = azure_source(replace(s, tenants=(cfg.TenantSettings(HOME),
                                             cfg.TenantSettings(PARTNER, subscriptions=(SUB_B,)))))
    assert isinstance(multi, MultiTenantAzure)
    assert [(x.tenant.tenant_id, x.settings.subscriptions, x.settings.access_token) for x in multi.members] == [
        (HOME, (), None), (PARTNER, (SUB_B,), None)]


# -------------------------------------------------------------------------------------------- merge and dedupe

def conn(sub: str, name: str, account: str) -> m.Connector:
    return m.Connector(id=f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/"
                          f"{name}", name=name, kind="native", subscription_id=sub, resource_group="rg",
                       aws_account_id=account)


class FakeSource:
    """A tenant's AzureSource as MultiTenantAzure uses it."""

    def __init__(self, tenant: str, subs: list[str], sub_tenants: dict[str, str], fail: Exception | None = None,
                 fail_in: tuple[str, ...] = ()):
        self.tenant = cfg.TenantSettings(tenant, name=tenant[-1].upper())
        self.settings = cfg.AzureSettings()
        self.subs, self.subscription_tenants, self.fail = subs, sub_tenants, fail
        self.fail_in = fail_in  # the sections that raise SourceError (throttled)
        self.endpoint = "https://management.azure.com"
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def _maybe_fail(self, what: str) -> None:
        if what in self.fail_in:
            raise SourceError(f"Resource Graph throttled {what} of {self.tenant.tenant_id[-1]}: retried at the next "
                              "refresh", kind="throttled")

    async def subscriptions(self) -> tuple[list[str], str | None]:
        if self.fail is not None:
            raise self.fail
        return list(self.subs), self.tenant.tenant_id

    async def connectors(self, subs: list[str]) -> m.ConnectorsData:
        self.asked.append(("connectors", tuple(subs)))
        return m.ConnectorsData(tuple(replace(conn(s, f"c-{s[-2:]}", f"{s[-2:]:0>12}"), tenant_id=self.tenant.tenant_id)
                                      for s in subs), skipped=(f"{self.tenant.tenant_id[-1]} note",), locks_read=True)

    async def recommendation_counts(self, subs: list[str]) -> tuple[m.RecommendationCount, ...]:
        self.asked.append(("counts", tuple(subs)))
        self._maybe_fail("counts")
        return tuple(m.RecommendationCount(f"c-{s}", "High", "Unhealthy", 2) for s in subs)

    async def pricings(self, subs: list[str]) -> m.PlansData:
        self._maybe_fail("pricings")
        return m.PlansData(tuple(m.Pricing(s, "VirtualMachines", "Standard") for s in subs))

    async def arc_machines(self, subs: list[str]) -> tuple[m.ArcMachine, ...]:
        self._maybe_fail("arc")
        return ()

    async def compliance_rows(self, subs: list[str]) -> tuple[list[Any], ...]:
        self._maybe_fail("compliance")
        return [], [], [], []

    async def recommendations(self, subs: list[str], limit: int | None = None, **kw: Any) -> list[m.Recommendation]:
        self._maybe_fail("recommendations")
        return [m.Recommendation(id=f"/subscriptions/{s}/a", assessment_key="k", title="A", severity="High",
                                 status="Unhealthy", connector_id=f"c-{s}") for s in subs][:limit]

    async def tenant_names(self, ids: list[str]) -> dict[str, str]:
        return {HOME: "Contoso from ARM", PARTNER: "Fabrikam from ARM"}

    async def close(self) -> None:
        pass


def multi(*members: FakeSource) -> MultiTenantAzure:
    src = MultiTenantAzure(cfg.Settings(tenants=tuple(x.tenant for x in members)))
    src.members = list(members)  # type: ignore[assignment]
    return src


def test_a_subscription_seen_through_two_tenants_is_read_once_through_its_own() -> None:
    # the home tenant sees its own and the partner's delegated subscription (Lighthouse); the partner sees its own
    home = FakeSource(HOME, [SUB_A, SUB_SHARED], {SUB_A: HOME, SUB_SHARED: PARTNER})
    partner = FakeSource(PARTNER, [SUB_SHARED, SUB_B], {SUB_SHARED: PARTNER, SUB_B: PARTNER})
    src = multi(home, partner)
    subs, tenant = asyncio.run(src.subscriptions())
    assert sorted(subs) == sorted([SUB_A, SUB_SHARED, SUB_B]) and tenant == HOME
    assert src.subscription_tenants == {SUB_A: HOME, SUB_SHARED: PARTNER, SUB_B: PARTNER}
    cd = asyncio.run(src.connectors(subs))
    assert home.asked == [("connectors", (SUB_A,))] and partner.asked == [("connectors", (SUB_SHARED, SUB_B))]
    assert Counter(c.id for c in cd.connectors) == Counter({conn(s, f"c-{s[-2:]}", "").id: 1
                                                            for s in (SUB_A, SUB_SHARED, SUB_B)})
    assert {c.subscription_id: c.tenant_id for c in cd.connectors} == src.subscription_tenants
    assert cd.skipped == ("a note", "b note") and cd.locks_read
    counts = asyncio.run(src.recommendation_counts(subs))
    assert sum(c.count for c in counts) == 6
    # only the home tenant configured: it reads the delegated subscription itself
    alone = multi(FakeSource(HOME, [SUB_A, SUB_SHARED], {SUB_A: HOME, SUB_SHARED: PARTNER}))
    subs, _ = asyncio.run(alone.subscriptions())
    assert sorted(subs) == sorted([SUB_A, SUB_SHARED])


def test_a_failing_tenant_is_a_line_and_every_tenant_failing_an_error() -> None:
    home = FakeSource(HOME, [SUB_A], {SUB_A: HOME})
    bad = FakeSource(PARTNER, [], {}, fail=AuthError("FABRIKAM_TOKEN expired 3 min ago: get a fresh one"))
    src = multi(home, bad)
    subs, _ = asyncio.run(src.subscriptions())
    assert subs == [SUB_A]
    cd = asyncio.run(src.connectors(subs))
    assert [c.subscription_id for c in cd.connectors] == [SUB_A]
    assert any(f"tenant B ({PARTNER}): not read" in s and "FABRIKAM_TOKEN expired" in s for s in cd.skipped)
    both = multi(FakeSource(HOME, [], {}, fail=AuthError("no az login")), bad)
    with pytest.raises(AuthError, match="tenant A .*no az login.*tenant B .*FABRIKAM_TOKEN"):
        asyncio.run(both.subscriptions())


def test_a_rejected_tenant_says_its_own_fix() -> None:
    """A tenant's rejected credential: the fix names its own token variable and `az login --tenant`, not the single
    tenant's MDC_AWS_ACCESS_TOKEN."""
    home = FakeSource(HOME, [SUB_A], {SUB_A: HOME})
    bad = FakeSource(PARTNER, [], {}, fail=AuthError("Azure rejected the credentials (401): run `az login` or set "
                                                     "MDC_AWS_ACCESS_TOKEN to a fresh token"))
    bad.tenant = replace(bad.tenant, access_token_env="FABRIKAM_TOKEN")
    src = multi(home, bad)
    subs, _ = asyncio.run(src.subscriptions())
    cd = asyncio.run(src.connectors(subs))
    line = next(s for s in cd.skipped if f"({PARTNER}): not read" in s)
    assert f"run `az login --tenant {PARTNER}`" in line and "MDC_AWS_ACCESS_TOKEN" not in line
    assert f"set FABRIKAM_TOKEN to a fresh token of tenant {PARTNER}" in line


def test_a_tenant_failing_inside_a_section_is_shown_not_zeros() -> None:
    home = FakeSource(HOME, [SUB_A], {SUB_A: HOME})
    partner = FakeSource(PARTNER, [SUB_B, SUB_SHARED], {SUB_B: PARTNER, SUB_SHARED: PARTNER},
                         fail_in=("counts", "pricings", "arc", "recommendations"))
    src = multi(home, partner)
    snap = asyncio.run(Collector(src, None).collect())
    line = f"tenant B ({PARTNER}): its 2 subscription(s) not read (Resource Graph throttled"
    for name in ("recommendations", "plans"):
        st = snap.sections[name].status
        assert st.status == "stale" and st.as_of is not None, (name, st)
        assert st.error is not None and st.error.startswith("partial: ") and line in st.error, (name, st.error)
    # the home tenant's part is fresh and shown; the partner's plans are unknown with its error, not "off"
    counts = snap.data("recommendations").counts
    assert {c.connector_id for c in counts} == {f"c-{SUB_A}"}
    plans = snap.data("plans")
    assert {p.subscription_id for p in plans.pricings} == {SUB_A}
    assert set(plans.pricing_errors) == {SUB_B, SUB_SHARED} and "throttled counts" not in plans.pricing_errors[SUB_B]
    assert "throttled pricings of b" in plans.pricing_errors[SUB_B]
    onb = snap.sections["onboarding"].status
    assert onb.status != "ok" and onb.error is not None and "Arc machines (Azure): partial: " + line in onb.error
    # sections nobody failed in stay ok; a partial section is not kept as last good data
    assert snap.sections["connectors"].status.status == "ok" and snap.sections["compliance"].status.status == "ok"
    assert snap.sections["connectors"].status.error is None
    # recommendations(): the others' rows, the failed tenant recorded; every tenant failing is the error
    with src.tenant_failures() as failed:
        rows = asyncio.run(src.recommendations([SUB_A, SUB_B]))
    assert [r.connector_id for r in rows] == [f"c-{SUB_A}"]
    assert len(failed) == 1 and f"tenant B ({PARTNER}): its 1 subscription(s) not read" in failed[0]
    with pytest.raises(SourceError, match="throttled recommendations of b"):
        asyncio.run(src.recommendations([SUB_B]))
    # a tenant that could not even list its subscriptions marks the connectors partial (its accounts are missing)
    down = multi(FakeSource(HOME, [SUB_A], {SUB_A: HOME}),
                 FakeSource(PARTNER, [], {}, fail=AuthError("FABRIKAM_TOKEN expired 3 min ago: get a fresh one")))
    cs = asyncio.run(Collector(down, None).collect()).sections["connectors"].status
    assert cs.status == "stale" and cs.error is not None and "FABRIKAM_TOKEN expired" in cs.error, cs


def test_collector_names_every_tenant_in_view() -> None:
    home = FakeSource(HOME, [SUB_A, SUB_SHARED], {SUB_A: HOME, SUB_SHARED: PARTNER})
    src = multi(home)
    src.settings = cfg.Settings(tenants=(cfg.TenantSettings(HOME, "Contoso"),))

    async def empty(subs: Any) -> Any:
        return ()

    for name in ("pricings", "arc_machines", "compliance"):
        setattr(src, name, empty)
    src.pricings = lambda subs: _plans()  # type: ignore[method-assign]
    snap = asyncio.run(Collector(src, None).collect())
    # the configured name wins; ARM's names the other; a tenant nobody names shows its id's start
    assert snap.tenants == {HOME: "Contoso", PARTNER: "Fabrikam from ARM"}
    assert {c.tenant_id for c in snap.data("connectors").connectors} == {HOME, PARTNER}
    home.tenant_names = lambda ids: _names()  # type: ignore[method-assign]
    assert asyncio.run(Collector(src, None).collect()).tenants == {HOME: "Contoso", PARTNER: PARTNER[:8]}


async def _plans() -> m.PlansData:
    return m.PlansData(())


async def _names() -> dict[str, str]:
    return {}


# -------------------------------------------------------------------------------------------- views, rows, filter

def two_tenant_snapshot() -> m.Snapshot:
    base = snapshot()
    partner_accounts = {DUP, UNREAD}
    conns = tuple(replace(c, tenant_id=PARTNER if c.aws_account_id in partner_accounts else None) for c in CONNECTORS)
    sections = dict(base.sections)
    sections["connectors"] = replace(base.sections["connectors"], data=m.ConnectorsData(conns))
    return replace(base, sections=sections, tenants={TENANT: "Contoso", PARTNER: "Fabrikam"})


def test_accounts_carry_their_tenant_and_the_column_shows_only_with_two() -> None:
    one = d.account_views(snapshot())
    assert {v.tenant_id for v in one} == {TENANT}  # no connector tenant: the snapshot's
    items = account_items(one, {})
    assert account_columns(items) == ACCOUNT_COLUMNS and all(len(it.cells) == len(ACCOUNT_COLUMNS) for it in items)
    assert all("tenant" not in it.fields for it in items)

    views = d.account_views(two_tenant_snapshot())
    by = {v.aws_account_id: v for v in views}
    assert (by[DUP].tenant_id, by[DUP].tenant_name) == (PARTNER, "Fabrikam")
    assert (by[MGMT].tenant_id, by[MGMT].tenant_name) == (TENANT, "Contoso")
    items = account_items(views, {})
    assert account_columns(items) == ACCOUNT_COLUMNS_TENANTS
    assert [label for label, _ in ACCOUNT_COLUMNS_TENANTS] == ["ACCOUNT", "NAME", "TENANT", "KIND", "ORG", "RGN",
                                                               "SCAN", "HEALTH"]
    cells = {it.key: plain(it.cells) for it in items}
    assert cells[DUP][2] == "Fabrikam" and cells[MEMBER][2] == "Contoso"
    assert all(len(it.cells) == len(ACCOUNT_COLUMNS_TENANTS) for it in items)
    # the other cells are the single-tenant ones, in the same order
    single = {it.key: plain(it.cells) for it in account_items([replace(v, tenant_id=TENANT) for v in views], {})}
    assert all(cells[k][:2] + cells[k][3:] == single[k] for k in single)


@pytest.mark.parametrize("text, want", [
    ("tenant:fabrikam", {DUP, UNREAD}),
    ("tenant:FAB", {DUP, UNREAD}),
    (f"tenant:{PARTNER[:8]}", {DUP, UNREAD}),
    (f"tenant:{TENANT[:4]}", {MGMT, MEMBER, "444444444444"}),
    ("!tenant:fabrikam", {MGMT, MEMBER, "444444444444"}),
    ("tenant:contoso,fabrikam", {MGMT, MEMBER, DUP, UNREAD, "444444444444"}),
    ("tenant:brik", set()),  # a word's start, not any substring
    ("tenant:nobody", set()),
])
def test_tenant_filter(text: str, want: set[str]) -> None:
    items = account_items(d.account_views(two_tenant_snapshot()), {})
    ix = Index(items, fields={k: (lambda it, k=k: it.fields.get(k)) for k in ("account", "status", "tenant")},
               text=[lambda it: it.text])
    f = parse_filter(text)
    assert f.warning is None
    assert {items[i].key for i in ix.filter(f)} == want


def test_trust_check_and_cost_use_the_connectors_tenant() -> None:
    snap = two_tenant_snapshot()
    by = {c.aws_account_id: c for c in snap.data("connectors").connectors if c.kind == "native"}
    assert _tenant_of(by[DUP], snap) == PARTNER and _tenant_of(by[MGMT], snap) == TENANT
    assert _tenant_of(by[MGMT], replace(snap, tenant_id=None)) is None
    views = {v.aws_account_id: v for v in d.account_views(snap)}
    assert f"MicrosoftDefenderForClouds_{PARTNER}" in views[DUP].cost.cloudtrail_query
    assert f"MicrosoftDefenderForClouds_{TENANT}" in views[MGMT].cost.cloudtrail_query


def test_snapshot_json_has_tenant_ids() -> None:
    doc = snapshot_to_dict(two_tenant_snapshot())
    jsonschema.validate(doc, SCHEMA)
    acc = {a["aws_account_id"]: a for a in doc["accounts"]}
    assert acc[DUP]["tenant_id"] == PARTNER and acc[MGMT]["tenant_id"] == TENANT
    assert {c["tenant_id"] for c in acc[DUP]["connectors"]} == {PARTNER}
    assert {c["tenant_id"] for c in acc[MGMT]["connectors"]} == {TENANT}  # none known: the scope's
    assert doc["scope"]["tenants"] == {TENANT: "Contoso", PARTNER: "Fabrikam"}
    assert all(c["tenant_id"] for a in doc["accounts"] for c in a["connectors"])


# -------------------------------------------------------------------------------------------- history

def test_history_scope_per_tenant_set(tmp_path: Path) -> None:
    single = cfg.Settings()
    both = replace(single, tenants=(cfg.TenantSettings(PARTNER), cfg.TenantSettings(HOME)))
    assert Scope.of(single).tenant is None
    assert Scope.of(both).tenant == f"{HOME},{PARTNER}"
    a = History.in_dir(tmp_path, Scope.of(single))
    b = History.in_dir(tmp_path, Scope.of(both))
    s1, s2 = snapshot(HOME), two_tenant_snapshot()
    s2 = replace(s2, tenant_id=HOME, generated_at=s1.generated_at.replace(minute=59))
    assert a.save(s1) and b.save(s2)
    assert a.latest().generated_at == s1.generated_at  # type: ignore[union-attr]
    assert b.latest().generated_at == s2.generated_at  # type: ignore[union-attr]
    assert b.latest().tenants == {TENANT: "Contoso", PARTNER: "Fabrikam"}  # type: ignore[union-attr]
    assert History.in_dir(tmp_path, Scope(tenant=HOME)).latest().generated_at == s1.generated_at  # type: ignore[union-attr]
    a.close()
    b.close()


# -------------------------------------------------------------------------------------------- the estate

def _estate_tenants(estate) -> tuple[str, str, dict[str, str]]:
    info = estate.info
    if not getattr(info, "partner_tenant_id", None) or not getattr(info, "tenant_tokens", None):
        pytest.fail("the emulated estate has no partner tenant (EstateInfo.partner_tenant_id / tenant_tokens)")
    return estate.world.tenant_id, info.partner_tenant_id, info.tenant_tokens


def _world_connectors(world) -> dict[str, str]:
    """lower-case connector id -> the tenant of its subscription, for every AWS connector the World holds."""
    ids = [k for k, c in world.security_connectors.items() if c["properties"].get("environmentName") == "AWS"]
    ids += [c["id"].lower() for c in world.classic_connectors.values()]
    return {i: world.subscription_tenant(i.split("/")[2]) for i in ids}


async def _connectors(settings: cfg.Settings) -> tuple[m.Snapshot, list[str]]:
    async with azure_source(settings) as az:
        col = Collector(az, None, section_timeout_s=60)
        snap = await col.collect()
        return snap, list(col.subscriptions)


def test_estate_default_token_sees_two_tenants(estate, settings) -> None:
    home, partner, _ = _estate_tenants(estate)
    snap, _ = asyncio.run(_connectors(settings))
    truth = _world_connectors(estate.world)
    got = {c.id.lower(): c.tenant_id for c in snap.data("connectors").connectors}
    assert got == truth
    assert Counter(got.values()) == Counter(truth.values()) and set(got.values()) == {home, partner}
    assert snap.tenant_id == home and set(snap.tenants) == {home, partner}
    views = d.account_views(snap)
    assert {v.tenant_id for v in views} == {home, partner}
    items = account_items(views, {})
    assert account_columns(items) == ACCOUNT_COLUMNS_TENANTS
    names = {plain(it.cells)[2] for it in items}
    assert names == {snap.tenants[home], snap.tenants[partner]} and len(names) == 2
    doc = snapshot_to_dict(snap)
    jsonschema.validate(doc, SCHEMA)
    assert Counter(c["tenant_id"] for a in doc["accounts"] for c in a["connectors"]) == Counter(truth.values())
    # every subscription's own tenant (the onboarding wizard's template trusts the one holding the connector)
    assert snap.subscription_tenants == {sub.lower(): estate.world.subscription_tenant(sub)
                                         for sub in snap.subscriptions}
    from tui.screens.onboarding.common import Ctx

    ctx = Ctx.__new__(Ctx)  # only its app's snapshot is needed here
    ctx.app = SimpleNamespace(snap=snap)
    delegated = next(sub for sub in snap.subscriptions if estate.world.subscription_tenant(sub) == partner)
    assert ctx.tenant_id(delegated) == partner and ctx.tenant_id(None) == home
    assert ctx.tenant_id(next(s for s in snap.subscriptions if s != delegated)) == home


def test_estate_tenants_from_config(estate, settings, monkeypatch) -> None:
    home, partner, tokens = _estate_tenants(estate)
    monkeypatch.setenv("MDC_T_HOME", tokens[home])
    monkeypatch.setenv("MDC_T_PARTNER", tokens[partner])
    base = replace(settings, azure=replace(settings.azure, access_token=None))
    truth = _world_connectors(estate.world)
    both = replace(base, tenants=(cfg.TenantSettings(home, "Home", access_token_env="MDC_T_HOME"),
                                  cfg.TenantSettings(partner, access_token_env="MDC_T_PARTNER")))
    snap, subs = asyncio.run(_connectors(both))
    got = [(c.id.lower(), c.tenant_id) for c in snap.data("connectors").connectors]
    assert len(got) == len(set(got)) and dict(got) == truth  # each connector once, with its own tenant
    assert len(subs) == len(set(subs)) and snap.tenants[home] == "Home" and partner in snap.tenants
    assert snap.data("connectors").skipped == () or all("tenant" not in s for s in snap.data("connectors").skipped)
    only = replace(base, tenants=(cfg.TenantSettings(partner, access_token_env="MDC_T_PARTNER"),))
    snap, subs = asyncio.run(_connectors(only))
    want = {i: t for i, t in truth.items() if t == partner}
    assert want and {c.id.lower(): c.tenant_id for c in snap.data("connectors").connectors} == want
    assert {s.lower() for s in subs} == {s.lower() for s in estate.world.tenant_subscriptions(partner)}


async def _listed(settings: cfg.Settings) -> tuple[Any, list[str], str | None, m.ConnectorsData]:
    async with azure_source(settings) as az:
        subs, tenant = await az.subscriptions()
        return az, subs, tenant, await az.connectors(subs)


def test_estate_explicit_subscriptions_learn_their_tenant(estate, settings, monkeypatch) -> None:
    home, partner, tokens = _estate_tenants(estate)
    monkeypatch.setenv("MDC_T_HOME", tokens[home])
    monkeypatch.setenv("MDC_T_PARTNER", tokens[partner])
    world = estate.world
    truth = _world_connectors(world)
    by_sub: dict[str, str] = {i.split("/")[2]: t for i, t in truth.items()}
    home_sub = next(s for s, t in by_sub.items() if t == home)
    partner_sub = next(s for s, t in by_sub.items() if t == partner)
    assert home in [t.lower() for t in world.managed_by_tenants(partner_sub)]  # the home tenant sees it too
    # two tenants (the partner first: it must not claim the home subscription) and one global subscription list
    base = replace(settings, azure=replace(settings.azure, access_token=None, subscriptions=(home_sub, partner_sub)))
    both = replace(base, tenants=(cfg.TenantSettings(partner, access_token_env="MDC_T_PARTNER"),
                                  cfg.TenantSettings(home, "Home", access_token_env="MDC_T_HOME")))
    az, subs, _, cd = asyncio.run(_listed(both))
    assert sorted(subs) == sorted([home_sub, partner_sub])
    assert {s: src.tenant.tenant_id for s, src in az._owner.items()} == {home_sub: home, partner_sub: partner}
    assert az.subscription_tenants == {home_sub: home, partner_sub: partner}
    want = {i: t for i, t in truth.items() if i.split("/")[2] in (home_sub, partner_sub)}
    assert {c.id.lower(): c.tenant_id for c in cd.connectors} == want and set(want.values()) == {home, partner}
    assert not any("not read" in x or "not visible" in x for x in cd.skipped), cd.skipped
    # one tenant only: the subscription it cannot see is a line, never claimed
    alone = replace(base, tenants=(cfg.TenantSettings(partner, access_token_env="MDC_T_PARTNER"),))
    az, subs, _, cd = asyncio.run(_listed(alone))
    assert subs == [partner_sub] and any(f"subscription {home_sub}: not visible" in x for x in cd.skipped)
    # single tenant (a home tenant's token) + --subscription of the delegated one: labelled with the partner tenant
    single = replace(settings, azure=replace(settings.azure, access_token=tokens[home], subscriptions=(partner_sub,)))
    az, subs, tenant, cd = asyncio.run(_listed(single))
    assert subs == [partner_sub] and tenant == home and az.subscription_tenants == {partner_sub: partner}
    assert cd.connectors and {c.tenant_id for c in cd.connectors} == {partner}
    # a subscription it cannot see is kept (each section says what to do), labelled with the token's tenant
    other = "00000000-0000-4000-8000-00000000dead"
    az, subs, tenant, cd = asyncio.run(_listed(replace(single, azure=replace(single.azure,
                                                                             subscriptions=(partner_sub, other)))))
    assert subs == [partner_sub, other] and az.tenant_of(other) == home
