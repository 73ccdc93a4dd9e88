"""Connectors as code (`mdc-aws export-connector`, the account detail's `x`): the ARM template and the Terraform
file recreate the connector. Round trip on the session estate for EVERY native AWS connector: the template's body
is PUT under a new name through azure-mgmt-security, read back, compared, deleted."""
from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
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


def test_arm_escapes_an_object_key_that_looks_like_an_expression() -> None:
    """ARM evaluates an expression in a property name too: a key `[...]` is written `[[...]`, at every depth."""
    item = reference_item()
    item["tags"] = {"[concat('k')]": "v", "[open": "w"}
    item["properties"]["offerings"][0]["[parameters('p')]"] = {"[variables('v')]": "[x]"}
    code = cc.connector_code(item)
    template = json.loads(code.text("arm"))
    res = template["resources"][0]
    assert res["tags"] == {"[[concat('k')]": "v", "[open": "w"}
    assert res["properties"]["offerings"][0]["[[parameters('p')]"] == {"[[variables('v')]": "[[x]"}
    assert "[parameters('p')]" not in res["properties"]["offerings"][0]
    assert cc.arm_resource_body(template)[1] == dict(code.body)  # what ARM deploys: the keys as they were


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
    tf = tmp_path / "tf" / "main.tf"
    tf.parent.mkdir()
    env = estate.info.env()
    ok = _run_cli([target.aws_account_id or "", "-o", str(out)], env)
    refused = _run_cli([classic_only, "--format", "terraform"], env)
    terraform = _run_cli([target.name, "--format", "terraform", "-o", str(tf)], env)
    ok_out, ok_err = ok.communicate(timeout=120)
    ref_out, ref_err = refused.communicate(timeout=120)
    tf_out, tf_err = terraform.communicate(timeout=120)
    for text in (ok_out, ok_err, ref_out, ref_err, tf_out, tf_err):
        assert "Traceback" not in text and estate.info.token not in text
    assert terraform.returncode == 0 and tf_out == "", tf_err
    assert f"wrote {tf} and {tf.parent / 'providers.tf'}" in tf_err and "import block adopts" in tf_err
    assert tf.read_text() == cc.connector_code(target.raw).text("terraform")
    assert (tf.parent / "providers.tf").read_text() == cc.terraform_providers_text()
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
            shown = str(app.screen.body)
            assert 'resource "azapi_resource"' in shown and "import {" in shown
            assert "of unknown age" in shown  # no snapshot in this app: it says so
            assert "providers.tf: the azapi provider, written once" in shown

    asyncio.run(run())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mdc-aws-connector-aws-dev.json", "mdc-aws-connector-aws-dev.tf", "providers.tf"]
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    code = cc.connector_code(native.raw)
    assert json.loads((tmp_path / files[0]).read_text()) == code.arm_template()
    assert (tmp_path / files[1]).read_text() == code.text("terraform")
    assert (tmp_path / files[2]).read_text() == cc.terraform_providers_text()


def _aged_snapshot(connector: m.Connector, as_of: Any, status: str = "ok", error: str | None = None) -> m.Snapshot:
    from datetime import timedelta

    conns = m.Section(m.SectionStatus("connectors", status, as_of, error),  # type: ignore[arg-type]
                      m.ConnectorsData(connectors=(connector,)))
    return m.Snapshot(generated_at=as_of + timedelta(minutes=1), subscriptions=("s1",), sections={"connectors": conns})


def test_account_detail_x_says_how_old_the_connector_body_is(tmp_path, monkeypatch) -> None:
    """The `x` text states the age of the body it wrote: the snapshot's connectors section as_of, and "from history"
    while the app shows the history's snapshot (no collection answered yet); fresh and recent: no warning."""
    from datetime import datetime, timedelta, timezone

    from textual.app import App

    from tui.screens.detail import AccountDetailScreen

    monkeypatch.setenv("MDC_AWS_EXPORT_DIR", str(tmp_path))
    native = _conn("aws-dev", "native", "123456789012")
    native = m.Connector(**{**native.__dict__, "raw": {**reference_item(), "name": "aws-dev", "id": RID.replace(
        "exampleSecurityConnectorName", "aws-dev")}})
    now = datetime(2025, 3, 4, 12, 0, tzinfo=timezone.utc)

    class Host(App[None]):
        def __init__(self, snap: m.Snapshot, last_refresh: float | None) -> None:
            super().__init__()
            self.snap, self.last_refresh = snap, last_refresh

        def now(self) -> datetime:
            return now

    async def shown(snap: m.Snapshot, last_refresh: float | None) -> Any:
        app = Host(snap, last_refresh)
        async with app.run_test() as pilot:
            await app.push_screen(AccountDetailScreen(["Dashboard", "aws-dev"], "body", connectors=[native]))
            await pilot.press("x")
            await pilot.pause()
            assert app.screen.crumbs[-1] == "as code"
            return app.screen.body

    old = now - timedelta(hours=3)
    body = asyncio.run(shown(_aged_snapshot(native, old), None))
    first = str(body).splitlines()[0]
    assert "as of 2025-03-04 09:00 UTC (3 h ago)" in first and "from history" in first, first
    assert body.style == "yellow"
    body = asyncio.run(shown(_aged_snapshot(native, now - timedelta(minutes=2)), 12.0))
    first = str(body).splitlines()[0]
    assert "as of 2025-03-04 11:58 UTC (2 min ago)" in first and "history" not in first and body.style == "dim"
    body = asyncio.run(shown(_aged_snapshot(native, old, "stale", "throttled"), 12.0))
    first = str(body).splitlines()[0]
    assert "(3 h ago)" in first and "stale: the last read of the connectors failed (throttled)" in first
    assert "history" not in first and body.style == "yellow"
    # a section the history loaded (the snapshot's own marker): "from history", not a failed read
    from tui.core.history import FROM_HISTORY

    body = asyncio.run(shown(_aged_snapshot(native, old, "stale", FROM_HISTORY), 12.0))
    first = str(body).splitlines()[0]
    assert "(3 h ago)" in first and "from history" in first and "failed" not in first and body.style == "yellow"


def _tf_blocks(folder: Path) -> dict[str, list[Any]]:
    """Every top-level block of every .tf file of a folder, by block type (as Terraform loads one module)."""
    out: dict[str, list[Any]] = {}
    for f in sorted(folder.glob("*.tf")):
        doc = hcl2.loads(f.read_text(), serialization_options=hcl2.SerializationOptions(
            strip_string_quotes=True, with_comments=False, explicit_blocks=False))
        for kind, blocks in doc.items():
            out.setdefault(kind, []).extend(blocks)
    return out


def test_two_terraform_exports_in_one_folder_have_one_provider_configuration(tmp_path) -> None:
    """Terraform refuses a second required_providers block or a second default provider "azapi" in one folder:
    the connector files hold neither, providers.tf holds both, once. Each file imports its connector by its ARM id
    (the api-version of its type), under a label of its own (also two connectors of one AWS account)."""
    codes = []
    for name, sub in (("aws-dev", "s1"), ("aws-dev-2", "s2"), ("aws-prod", "s1")):
        item = reference_item()
        item["id"] = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/{name}"
        item["name"] = name
        item["properties"]["hierarchyIdentifier"] = "111111111111" if name != "aws-prod" else "222222222222"
        codes.append(cc.connector_code(item))
    results = []
    for code in codes:
        path = tmp_path / cc.file_name(code, "terraform")
        path.write_text(code.text("terraform"))
        results.append(cc.ensure_providers(path))
    assert results[0] == cc.Providers(written=tmp_path / "providers.tf") and results[1:] == [cc.Providers()] * 2
    assert stat.S_IMODE((tmp_path / "providers.tf").stat().st_mode) == 0o600
    blocks = _tf_blocks(tmp_path)
    assert blocks["provider"] == [{"azapi": {}}]
    (terraform,) = blocks["terraform"]
    assert terraform["required_providers"] == [{"azapi": {"source": "Azure/azapi", "version": "~> 2.0"}}]
    labels = [label for r in blocks["resource"] for label in r["azapi_resource"]]
    assert len(set(labels)) == 3 == len(labels)
    imports = {i["to"]: i["id"] for i in blocks["import"]}
    assert imports == {f"${{azapi_resource.{cc.terraform_label(c)}}}": f"{c.source_id}?api-version=2023-10-01-preview"
                       for c in codes}
    assert cc.terraform_import_id(codes[0]).startswith(codes[0].source_id + "?")
    for code in codes:  # each resource still carries its body
        _label, attrs = hcl_body(code.text("terraform"))
        assert attrs["name"] == code.name
    if shutil.which("terraform"):  # Terraform itself loads the folder (no provider download: `providers` only)
        env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
        done = subprocess.run(["terraform", "providers", "-no-color"], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=60)
        assert done.returncode == 0 and "azure/azapi" in done.stdout, done.stdout + done.stderr


def test_providers_tf_is_not_written_over_the_folders_own_configuration(tmp_path) -> None:
    """The folder's own required_providers (an operator's versions.tf, a file of an older mdc-aws): no providers.tf;
    without azapi in it, the note says what to add. A providers.tf of the operator's is never overwritten."""
    code = cc.connector_code(reference_item())
    tf = tmp_path / "main.tf"
    tf.write_text(code.text("terraform"))
    own = tmp_path / "versions.tf"
    own.write_text('terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n')
    got = cc.ensure_providers(tf)
    assert got.written is None and got.note and 'azapi = { source = "Azure/azapi"' in got.note
    own.write_text('terraform {\n  required_providers {\n    azapi = { source = "azure/azapi" }\n  }\n}\n')
    assert cc.ensure_providers(tf) == cc.Providers()
    own.unlink()
    mine = tmp_path / "providers.tf"
    mine.write_text('provider "azapi" {}\n')
    got = cc.ensure_providers(tf)
    assert got.written is None and got.note and "required_providers" in got.note
    assert mine.read_text() == 'provider "azapi" {}\n'
    mine.unlink()
    assert cc.ensure_providers(tmp_path / "absent.tf") == cc.Providers()  # not a file: nothing next to it
    assert not mine.exists()


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
