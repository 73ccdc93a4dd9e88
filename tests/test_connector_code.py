"""Connectors as code (`mdc-aws export-connector`, the account detail's `x`): the ARM template and the Terraform
file recreate the connector. Round trip on the session estate for EVERY native AWS connector: the template's body
is PUT under a new name through azure-mgmt-security, read back, compared, deleted."""
from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings
from hypothesis import strategies as st

from tui.core import connector_code as cc
from tui.core import model as m
from tui.core.errors import UsageError
from tui.core.redact import MASK

REFERENCE = Path("/work/shared/reference/azure/securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource"
                 "_example.json")
RID = ("/subscriptions/a5caac9c-5c04-49af-b3d0-e204f40345d5/resourceGroups/exampleResourceGroup/providers/"
       "Microsoft.Security/securityConnectors/exampleSecurityConnectorName")


def reference_item() -> dict[str, Any]:
    """The swagger example's GET body (verbatim when the shared reference is here), with the read-only fields a real
    GET also carries."""
    if REFERENCE.exists():
        item = json.loads(REFERENCE.read_text())["responses"]["200"]["body"]
    else:  # the same body, inline
        item = {"id": RID, "name": "exampleSecurityConnectorName", "type": "Microsoft.Security/securityConnectors",
                "etag": "etag value", "kind": "", "location": "Central US", "tags": {},
                "systemData": {"createdBy": "user@contoso.com", "createdAt": "2021-08-31T13:47:50.328Z"},
                "properties": {"environmentData": {"environmentType": "AwsAccount", "scanInterval": 4},
                               "hierarchyIdentifier": "exampleHierarchyId", "environmentName": "AWS",
                               "offerings": [{"offeringType": "CspmMonitorAws", "nativeCloudConnection": {
                                   "cloudRoleArn": "arn:aws:iam::00000000:role/ASCMonitor"}}]}}
    item["properties"]["hierarchyIdentifierTrialEndDate"] = "2024-01-01T00:00:00Z"
    item["properties"]["environmentData"]["accountName"] = "example"
    item["properties"]["offerings"][0]["description"] = "read-only text"
    return item


# ------------------------------------------------------------------------------------------------ pure


def test_writable_body_strips_read_only_fields_and_keeps_the_rest() -> None:
    item = reference_item()
    item["properties"]["offerings"].append({"offeringType": "DefenderForFutureAws", "future": {"x": [1, None]}})
    code = cc.connector_code(item)
    assert code.name == "exampleSecurityConnectorName" and code.resource_group == "exampleResourceGroup"
    assert code.parent_id == "/subscriptions/a5caac9c-5c04-49af-b3d0-e204f40345d5/resourceGroups/exampleResourceGroup"
    body = code.body
    assert set(body) == {"location", "tags", "properties"}  # kind "" is not sent; id, etag, systemData are Azure's
    props = body["properties"]
    assert "hierarchyIdentifierTrialEndDate" not in props and "accountName" not in props["environmentData"]
    assert props["environmentData"] == {"environmentType": "AwsAccount", "scanInterval": 4}
    assert props["offerings"][0] == {"offeringType": "CspmMonitorAws", "nativeCloudConnection": {
        "cloudRoleArn": "arn:aws:iam::00000000:role/ASCMonitor"}}
    assert props["offerings"][1] == {"offeringType": "DefenderForFutureAws", "future": {"x": [1, None]}}
    assert any("DefenderForFutureAws" in n for n in code.notes)
    assert "schema_validation_enabled = false" in code.text("terraform")
    template = code.arm_template()
    assert template["$schema"].endswith("/2019-04-01/deploymentTemplate.json#")
    (res,) = template["resources"]
    assert (res["type"], res["apiVersion"], res["name"]) == (
        "Microsoft.Security/securityConnectors", "2023-10-01-preview", "exampleSecurityConnectorName")
    assert cc.arm_resource_body(template) == ("exampleSecurityConnectorName", dict(body))
    assert item["properties"]["hierarchyIdentifierTrialEndDate"]  # the input is left as it was


def test_a_secret_like_value_never_reaches_the_output() -> None:
    item = reference_item()
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    item["properties"]["offerings"][0]["clientSecret"] = "hunter2-hunter2"
    item["tags"] = {"note": f"Bearer {token}"}
    code = cc.connector_code(item)
    for fmt in cc.FORMATS:
        text = code.text(fmt)
        assert "hunter2" not in text and token not in text and MASK in text
    assert any("offerings[0].clientSecret" in n for n in code.notes) and any("tags.note" in n for n in code.notes)


def test_not_a_native_aws_connector_is_refused() -> None:
    classic = {"id": "/subscriptions/s/providers/Microsoft.Security/connectors/c", "properties": {}}
    with pytest.raises(UsageError, match="classic"):
        cc.connector_code(classic)
    gcp = reference_item()
    gcp["properties"]["environmentName"] = "GCP"
    with pytest.raises(UsageError, match="GCP connector"):
        cc.connector_code(gcp)


def _conn(name: str, kind: str, account: str, sub: str = "s1", account_name: str | None = None) -> m.Connector:
    raw = {"properties": {"environmentData": {"accountName": account_name}}} if account_name else {}
    return m.Connector(id=f"/subscriptions/{sub}/x/{name}", name=name, kind=kind,  # type: ignore[arg-type]
                       subscription_id=sub, resource_group="rg" if kind == "native" else None,
                       aws_account_id=account, raw=raw)


def test_find_connector_by_id_or_name_and_the_errors_say_what_to_do() -> None:
    cs = [_conn("prod", "native", "111111111111", account_name="aws-prod"),
          _conn("prod-classic", "classic", "111111111111"),
          _conn("legacy", "classic", "222222222222"),
          _conn("twin", "native", "333333333333", "s1"), _conn("twin", "native", "444444444444", "s2")]
    assert cc.find_connector(cs, "111111111111").name == "prod"  # native preferred over the duplicate classic
    assert cc.find_connector(cs, " AWS-PROD ").name == "prod"  # the account name the connector reports
    assert cc.find_connector(cs, "Prod").name == "prod"
    with pytest.raises(UsageError, match=r"only a classic connector.*onboard --flow native"):
        cc.find_connector(cs, "222222222222")
    with pytest.raises(UsageError, match=r"no AWS connector for '999999999999' in 3 subscriptions.*--subscription"):
        cc.find_connector(cs, "999999999999", where="3 subscriptions")
    with pytest.raises(UsageError, match="matches 2 native connectors"):
        cc.find_connector(cs, "twin")
    with pytest.raises(UsageError, match="12-digit"):
        cc.find_connector(cs, "  ")


def hcl_body(text: str) -> tuple[str, dict[str, Any]]:
    """(label, attributes) of the one azapi_resource in a Terraform text, strings as Terraform reads them."""
    # no string starts an interpolation or a directive: Terraform would evaluate it (python-hcl2 does not)
    assert "${" not in text and "%{" not in text
    doc = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
        strip_string_quotes=True, with_comments=False, explicit_blocks=False))
    (resources,) = doc["resource"]
    ((label, attrs),) = resources["azapi_resource"].items()
    return label, attrs


def _terraform_equals_template(code: cc.ConnectorCode) -> None:
    label, attrs = hcl_body(code.text("terraform"))
    name, body = cc.arm_resource_body(code.arm_template())
    assert label.startswith(("aws_", "c_")) or label.isidentifier()
    assert attrs["type"] == "Microsoft.Security/securityConnectors@2023-10-01-preview"
    assert attrs["name"] == name == code.name and attrs["parent_id"] == code.parent_id
    expect = {k: v for k, v in body.items() if k not in ("location", "tags")}
    assert attrs["location"] == body["location"] and attrs["tags"] == body["tags"]
    assert attrs["body"] == expect


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_text.filter(bool), value=_text, tag=_text)
@example(key='a "b" \\ c', value="${var.x} %{ if y }z%{ endif }", tag="\n\t[z] \x01 $${")
def test_terraform_strings_parse_back_exactly(key: str, value: str, tag: str) -> None:
    """Any key or string (quotes, backslashes, ${ and %{, control characters, brackets) survives HCL and ARM."""
    item = reference_item()
    item["tags"] = {key: tag}
    item["properties"]["offerings"][0]["nativeCloudConnection"]["cloudRoleArn"] = value
    item["name"] = "n"
    code = cc.connector_code(item)
    _terraform_equals_template(code)
    template = json.loads(code.text("arm"))
    assert cc.arm_resource_body(template)[1] == dict(code.body)


def test_arm_escapes_a_value_that_looks_like_an_expression() -> None:
    item = reference_item()
    item["tags"] = {"expr": "[concat('a')]", "plain": "[not closed", "inside": "a[b]"}
    template = json.loads(cc.connector_code(item).text("arm"))
    assert template["resources"][0]["tags"] == {"expr": "[[concat('a')]", "plain": "[not closed", "inside": "a[b]"}
    assert cc.arm_resource_body(template)[1]["tags"] == item["tags"]


# ------------------------------------------------------------------------------------------------ the estate


def _expected(item: dict[str, Any]) -> dict[str, Any]:
    """A GET body minus what Azure computes (written out here, apart from the module's own lists): what recreates it."""
    props = json.loads(json.dumps(item["properties"]))
    props.pop("hierarchyIdentifierTrialEndDate", None)
    props["environmentData"].pop("accountName", None)
    for o in props["offerings"]:
        o.pop("description", None)
    out = {"location": item["location"], "tags": item.get("tags") or {}, "properties": props}
    if item.get("kind"):
        out["kind"] = item["kind"]
    return out


def _put_body(body: dict[str, Any]) -> io.BytesIO:
    # raw JSON, as ARM sends a template's resource: the SDK model would drop an offering type it does not know
    return io.BytesIO(json.dumps(body).encode())


def _raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    text = pipeline_response.http_response.text()
    return json.loads(text) if text.strip() else None


async def _round_trip(settings) -> list[dict[str, Any]]:
    """Every native AWS connector: list item == GET; its template's body PUT under a new name (a free hierarchy id:
    Azure holds one connector per AWS account), read back, equal; deleted. Returns the GET bodies."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.security.v2023_10_01_preview.aio import SecurityCenter

    from tui.core.arg import client_kwargs
    from tui.core.azure import AzureSource

    gets: list[dict[str, Any]] = []
    async with AzureSource(settings.azure) as az:
        subs, _ = await az.subscriptions()
        data = await az.connectors(subs)
        native = [c for c in data.connectors if c.kind == "native"]
        assert len(native) >= 10
        kw = client_kwargs(settings.azure)
        base_url = kw.pop("base_url")
        clients: dict[str, Any] = {}
        try:
            for i, c in enumerate(native):
                client = clients.get(c.subscription_id)
                if client is None:
                    client = clients[c.subscription_id] = SecurityCenter(az.credential, c.subscription_id,
                                                                         base_url=base_url, **kw)
                ops = client.security_connectors
                got = await ops.get(c.resource_group, c.name, cls=_raw)
                gets.append(got)
                assert cc.connector_code(got) == cc.connector_code(c.raw), c.name  # the dashboard's copy will do
                code = cc.connector_code(got)
                _terraform_equals_template(code)
                name, body = cc.arm_resource_body(json.loads(code.text("arm")))
                assert name == c.name == got["name"]
                assert body == _expected(got), c.name
                original_hid = body["properties"]["hierarchyIdentifier"]
                assert original_hid == c.aws_account_id
                copy_name = f"{c.name}-roundtrip"
                if i == 0:  # as is, it is refused: the account already has its connector
                    with pytest.raises(HttpResponseError) as conflict:
                        await ops.create_or_update(c.resource_group, copy_name, _put_body(body),
                                                   content_type="application/json")
                    assert conflict.value.status_code == 409
                free_hid = f"{990000000000 + i:012d}"
                body["properties"]["hierarchyIdentifier"] = free_hid
                try:
                    await ops.create_or_update(c.resource_group, copy_name, _put_body(body),
                                               content_type="application/json", cls=_raw)
                    back = await ops.get(c.resource_group, copy_name, cls=_raw)
                finally:
                    await ops.delete(c.resource_group, copy_name)
                assert back["name"] == copy_name
                again = _expected(back)
                assert again["properties"].pop("hierarchyIdentifier") == free_hid
                original = _expected(got)
                original["properties"].pop("hierarchyIdentifier")
                assert again == original, c.name
        finally:
            for client in clients.values():
                await client.close()
        after = await az.connectors(subs)
        assert {c.id.lower() for c in after.connectors} == {c.id.lower() for c in data.connectors}  # nothing left
    return gets


def test_every_native_connector_round_trips(settings) -> None:
    gets = asyncio.run(_round_trip(settings))
    kinds = {o["offeringType"] for g in gets for o in g["properties"]["offerings"]}
    # the estate covers every AWS plan, an organization's management and members, and an unknown offering type
    assert {"CspmMonitorAws", "DefenderCspmAws", "DefenderForServersAws", "DefenderForContainersAws",
            "DefenderForDatabasesAws"} <= kinds and kinds - cc.KNOWN_OFFERING_TYPES
    roles = {(g["properties"]["environmentData"].get("organizationalData") or {}).get("organizationMembershipType")
             for g in gets}
    assert {None, "Organization", "Member"} <= roles
    for g in gets:  # a native connector holds no secret: nothing was masked
        assert not [n for n in cc.connector_code(g).notes if "secret" in n], g["name"]


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    e["MDC_AWS_CONFIG"] = os.devnull + ".absent.toml"
    e.update(env)
    return subprocess.Popen([sys.executable, "-m", "tui.cli", "export-connector", *args], env=e, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_cli_writes_the_template_and_refuses_a_classic_only_account(estate, settings, tmp_path) -> None:
    from tui.core.azure import AzureSource

    async def listing() -> list[m.Connector]:
        async with AzureSource(settings.azure) as az:
            subs, _ = await az.subscriptions()
            return list((await az.connectors(subs)).connectors)

    cs = asyncio.run(listing())
    kinds: dict[str, set[str]] = {}
    for c in cs:
        kinds.setdefault(c.aws_account_id or "", set()).add(c.kind)
    classic_only = sorted(a for a, k in kinds.items() if k == {"classic"})[0]
    target = next(c for c in cs if c.kind == "native" and c.organization_role == "management")
    out = tmp_path / "connector.json"
    env = estate.info.env()
    ok = _run_cli([target.aws_account_id or "", "-o", str(out)], env)
    refused = _run_cli([classic_only, "--format", "terraform"], env)
    ok_out, ok_err = ok.communicate(timeout=120)
    ref_out, ref_err = refused.communicate(timeout=120)
    for text in (ok_out, ok_err, ref_out, ref_err):
        assert "Traceback" not in text and estate.info.token not in text
    assert ok.returncode == 0, ok_err
    assert ok_out == "" and f"wrote {out}" in ok_err and "az deployment group create" in ok_err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text()) == cc.connector_code(target.raw).arm_template()
    assert refused.returncode == 2 and ref_out == ""
    assert "only a classic connector" in ref_err and classic_only in ref_err


def test_account_detail_x_writes_the_connector_as_code(settings, tmp_path, monkeypatch) -> None:
    """The screen's key: both files written (0600) from the snapshot's connector, the Terraform shown."""
    from textual.app import App

    from tui.screens.detail import AccountDetailScreen, DetailScreen

    monkeypatch.setenv("MDC_AWS_EXPORT_DIR", str(tmp_path))
    native = _conn("aws-dev", "native", "123456789012")
    native = m.Connector(**{**native.__dict__, "raw": {**reference_item(), "name": "aws-dev", "id": RID.replace(
        "exampleSecurityConnectorName", "aws-dev")}})
    classic = _conn("legacy", "classic", "222222222222")

    class Host(App[None]):
        pass

    async def run() -> None:
        app = Host()
        async with app.run_test() as pilot:
            await app.push_screen(AccountDetailScreen(["Dashboard", "legacy"], "body", connectors=[classic]))
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, AccountDetailScreen) and not list(tmp_path.iterdir())
            await app.push_screen(AccountDetailScreen(["Dashboard", "aws-dev"], "body", connectors=[classic, native]))
            await pilot.press("x")
            await pilot.pause()
            assert type(app.screen) is DetailScreen and app.screen.crumbs[-1] == "as code"
            assert 'resource "azapi_resource"' in str(app.screen.body)

    asyncio.run(run())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mdc-aws-connector-aws-dev.json", "mdc-aws-connector-aws-dev.tf"]
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    code = cc.connector_code(native.raw)
    assert json.loads((tmp_path / files[0]).read_text()) == code.arm_template()
    assert (tmp_path / files[1]).read_text() == code.text("terraform")


def test_read_connector_by_name_and_through_each_configured_tenant(estate, settings, monkeypatch) -> None:
    """`read_connector` finds a connector by its name; with [[tenants]] (each tenant's own token), a connector of the
    partner's (delegated) subscription is read with the partner's credential and one of the home tenant's with the
    home one's: the same body as the single-tenant read."""
    from dataclasses import replace

    from tui.core import config as cfg

    info, world = estate.info, estate.world
    tokens = getattr(info, "tenant_tokens", None)
    if not tokens or not getattr(info, "partner_tenant_id", None):
        pytest.fail("the emulated estate has no partner tenant (EstateInfo.partner_tenant_id / tenant_tokens)")
    home, partner = world.tenant_id, info.partner_tenant_id
    picked: dict[str, dict[str, Any]] = {}
    for key in sorted(world.security_connectors):
        body = world.security_connectors[key]
        if body["properties"].get("environmentName") == "AWS":
            picked.setdefault(world.subscription_tenant(key.split("/")[2]), body)
    assert set(picked) == {home, partner}
    for i, (_tid, token) in enumerate(sorted(tokens.items())):
        monkeypatch.setenv(f"CONNCODE_TOKEN_{i}", token)
    envs = {tid: f"CONNCODE_TOKEN_{i}" for i, (tid, _) in enumerate(sorted(tokens.items()))}
    multi = replace(settings, tenants=(cfg.TenantSettings(partner, "Fabrikam", access_token_env=envs[partner]),
                                       cfg.TenantSettings(home, "Contoso", access_token_env=envs[home])))

    async def reads() -> None:
        for tid, body in picked.items():
            single = await cc.read_connector(settings, body["name"])
            assert single["id"] == body["id"] and cc.connector_code(single).body == cc.writable_body(body)
            assert await cc.read_connector(multi, body["properties"]["hierarchyIdentifier"]) == single, tid
            # the partner's credential alone: its own connector, never the home tenant's
            if tid == partner:
                assert await cc.read_connector(partner_only, body["name"]) == single
            else:
                with pytest.raises(UsageError, match="no AWS connector"):
                    await cc.read_connector(partner_only, body["name"])

    partner_only = replace(settings, tenants=(cfg.TenantSettings(partner, access_token_env=envs[partner]),))
    asyncio.run(reads())
