"""The onboarding screens (issue 4) driven through Textual's Pilot at 80x24 against the emulated estate over real
sockets: the native wizard end to end (template saved and linted, stack deployed on moto, connector created and
then in the snapshot), the classic flow (user keys), the removal of classic connectors with the AWS cleanup, bad
input, back keeping what was typed, and a read-only run that sends nothing.

Each test leaves the shared estate as it found it (what it creates it deletes).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
from textual.widgets import Input, Select

from tests.test_app_pilot import FakeService, screen_text, settle
from tui.app import MdcApp
from tui.core.history import History
from tui.screens.onboarding import OnboardingHome
from tui.screens.onboarding.classic import ClassicArcStep, ClassicAuthStep, ClassicHubStep, ClassicReviewStep, \
    ClassicSsmStep
from tui.screens.onboarding.confirm import ConfirmWrite
from tui.screens.onboarding.native import AccessStep, AccountStep, PlansStep, ReviewStep
from tui.screens.onboarding.remove import CleanupScreen, RemoveClassicScreen

ACCOUNT = "123456789012"  # moto's default account: the STS caller identity of the test credentials
MUTATING_AWS = ("Create", "Put", "Delete", "Enable", "Disable", "Attach", "Detach", "Start", "Stop", "Update",
                "BatchEnable", "BatchDisable", "Register", "Tag", "Untag", "Upload", "Set", "Add", "Remove")


# ------------------------------------------------------------------------------------------------------ helpers

def azure_only_service(settings: Any, history: History | None) -> Any:
    """The real Service (its own loop and thread, real sockets) without the AWS inventory of every account: the
    onboarding screens need the connectors and subscriptions, and the AWS scan of the whole estate takes seconds."""
    from tui.core.azure import AzureSource
    from tui.core.collect import Collector
    from tui.core.service import Service

    class AzureOnly(Service):
        async def _ensure(self) -> None:
            if self._collector is None:
                self._azure = AzureSource(self.settings.azure)
                self._collector = Collector(self._azure, None, section_timeout_s=self.section_timeout_s)

    return AzureOnly(settings, history)


def estate_app(settings: Any, tmp_path: Path, *, read_only: bool = False) -> MdcApp:
    return MdcApp(settings, refresh_s=600, history=History.in_dir(tmp_path / "history"), read_only=read_only,
                  service_factory=lambda s, start: azure_only_service(s, History.in_dir(tmp_path / "history")))


async def fill(pilot: Any, app: Any, key: str, text: str, *, type_it: bool = False) -> None:
    """Put text in a field: typed key by key as a person would (validation runs on every key), or at once (the
    same Input.Changed, so the same validation, without ~0.1 s per key)."""
    inp = app.screen.query_one(f"#in-{key}", Input)
    inp.focus()
    if type_it:
        inp.value = ""
        await pilot.press(*text)
    else:
        inp.value = text
        await pilot.pause()


def choose(app: Any, key: str, value: Any) -> None:
    app.screen.query_one(f"#in-{key}", Select).value = value


async def wait_screen(pilot: Any, app: Any, cls: type, timeout: float = 20.0) -> None:
    await settle(pilot, app, lambda: isinstance(app.screen, cls), timeout=timeout)


async def wait_text(pilot: Any, app: Any, needle: str, timeout: float = 30.0) -> None:
    await settle(pilot, app, lambda: needle in screen_text(app), timeout=timeout)


def body_text(app: Any) -> str:
    """All the text of the current screen's widgets (also what is scrolled out of view)."""
    from textual.widgets import Static

    return "\n".join(str(w.render()) for w in app.screen.query(Static))


async def send_confirmed(pilot: Any, app: Any, expect: str) -> str:
    """On the confirmation screen: check it shows `expect`, send, and return what it showed."""
    await wait_screen(pilot, app, ConfirmWrite)
    shown = body_text(app)
    assert expect in shown, shown
    await pilot.press("ctrl+s")
    await settle(pilot, app, lambda: not isinstance(app.screen, ConfirmWrite))
    return shown


def arm_writes(estate: Any, since: int) -> list[Any]:
    recs = estate.arm.request_log.records()[since:]
    return [r for r in recs if r.method.upper() in ("PUT", "PATCH", "DELETE")
            or (r.method.upper() == "POST" and "microsoft.resourcegraph" not in r.path.lower())]


def aws_writes(estate: Any, since: int) -> list[Any]:
    return [r for r in estate.aws.request_log[since:] if r.action.startswith(MUTATING_AWS)]


def boto(estate: Any, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, endpoint_url=estate.info.aws_url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


async def run_write(writes: list[Any]) -> Any:
    from tui.core.onboarding.writes import execute_write

    return await execute_write(writes, read_only=False)


def forget_connector(estate: Any, needle: str) -> None:
    """Remove what a test created from the estate's stores (leave the shared estate as it was)."""
    w = estate.world
    with w.lock:
        for store in (w.security_connectors, w.classic_connectors):
            for k in [k for k in store if k.endswith("/" + needle.lower())]:
                del store[k]
        w.touch()


# ------------------------------------------------------------------------------------------------------ native

async def walk_account_step(pilot: Any, app: Any, sub: str, name: str) -> None:
    await wait_screen(pilot, app, AccountStep)
    await fill(pilot, app, "connector_name", name, type_it=True)
    choose(app, "subscription_id", sub)
    await fill(pilot, app, "resource_group", "mdc-wizard-rg")
    await fill(pilot, app, "location", "westeurope")
    await settle(pilot, app, lambda: app.screen.query_one("#in-aws_account_id", Input).value == ACCOUNT)
    await fill(pilot, app, "regions", "us-east-1, eu-west-1")


async def test_native_wizard_end_to_end(estate, settings, tmp_path, monkeypatch) -> None:
    """o -> Connect an AWS account -> the four steps -> deploy the stack (moto) -> Create -> the new account is in
    the dashboard and in `mdc-aws snapshot`'s data."""
    monkeypatch.setenv("MDC_AWS_EXPORT_DIR", str(tmp_path))
    sub = estate.info.subscriptions[0]
    name = "aws-wizard-e2e"
    stack = "MdcWizardE2E"
    app = estate_app(settings, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, lambda: app.snap is not None, timeout=60)
            await pilot.press("o")
            await wait_screen(pilot, app, OnboardingHome)
            await pilot.press("1")
            await walk_account_step(pilot, app, sub, name)
            text = screen_text(app)
            assert "1 Account details" in text and "offered from STS caller identity" in text
            await pilot.press("ctrl+n")
            await wait_screen(pilot, app, PlansStep)
            app.screen.query_one("#cb-servers").focus()
            await pilot.press("space")  # Servers on: its settings and its live prerequisite (pricing) appear
            await settle(pilot, app, lambda: "Defender for Servers pricing" in body_text(app), timeout=30)
            assert "Plan 2" in body_text(app)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, app, AccessStep)
            await settle(pilot, app, lambda: "cfn-lint: 0 errors" in body_text(app), timeout=60)
            assert "--capabilities CAPABILITY_NAMED_IAM" in body_text(app)
            await pilot.press("ctrl+s")  # save the template
            saved = tmp_path / f"mdc-aws-{ACCOUNT}-{name}.yaml"
            await settle(pilot, app, lambda: saved.exists())
            assert "AWSTemplateFormatVersion" in saved.read_text()
            await fill(pilot, app, "stack_name", stack)
            await pilot.press("ctrl+t")  # deploy with boto3, behind the confirmation
            shown = await send_confirmed(pilot, app, "cloudformation:CreateStack")
            assert "CAPABILITY_NAMED_IAM" in shown
            await settle(pilot, app, lambda: "CREATE_COMPLETE" in body_text(app), timeout=60)
            # back twice and forward again: nothing typed is lost
            await pilot.press("ctrl+b", "ctrl+b")
            await wait_screen(pilot, app, AccountStep)
            assert app.screen.query_one("#in-connector_name", Input).value == name
            assert app.screen.query_one("#in-regions", Input).value == "us-east-1, eu-west-1"
            await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
            await wait_screen(pilot, app, ReviewStep)
            await settle(pilot, app, lambda: "Azure role on" in body_text(app), timeout=60)
            review = body_text(app)
            assert "DefenderForServersAws" in review and "CspmMonitorAws" in review
            before = len(estate.arm.request_log)
            await pilot.press("ctrl+s")
            shown = await send_confirmed(pilot, app, "PUT")
            assert f"securityConnectors/{name}?api-version=2023-10-01-preview" in shown.replace("\n", "")
            # back on the dashboard; the refresh brings the new account
            await settle(pilot, app, lambda: len(app.screen_stack) == 1, timeout=20)
            puts = [r for r in arm_writes(estate, before) if r.method == "PUT"]
            assert len(puts) == 1 and name in puts[0].path
            await settle(pilot, app, lambda: any(v.aws_account_id == ACCOUNT for v in app.views), timeout=60)
            await pilot.press("1", "slash", *ACCOUNT, "enter")  # 20 accounts: more than 80x24 shows at once
            await pilot.pause()
            assert ACCOUNT in screen_text(app)
        # what `mdc-aws snapshot` prints comes from the same collection
        from tui.core.export import snapshot_to_dict

        svc = azure_only_service(settings, None)
        try:
            snap = await asyncio.to_thread(svc.collect)
        finally:
            svc.close()
        doc = snapshot_to_dict(snap)
        names = [c.get("name") for a in doc["accounts"] for c in a["connectors"]]
        assert name in names, names
        acct = next(a for a in doc["accounts"] if a["aws_account_id"] == ACCOUNT)
        assert acct["plans"]["servers"]["enabled"] is True
    finally:
        forget_connector(estate, name)
        try:
            boto(estate, "cloudformation").delete_stack(StackName=stack)
        except Exception:  # noqa: BLE001 - not deployed
            pass


async def test_invalid_input_shows_the_rule_blocks_next_and_back_keeps_values(settings) -> None:
    """Validation as you type (the rule next to the field); ctrl+n refuses with the list; ctrl+b keeps values."""
    svc = FakeService()
    app = MdcApp(settings, refresh_s=600, service_factory=lambda s, start: svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.snap is not None)
        await pilot.press("o", "1")
        await wait_screen(pilot, app, AccountStep)
        await fill(pilot, app, "connector_name", "bad name!", type_it=True)
        await fill(pilot, app, "aws_account_id", "2109876543", type_it=True)
        await fill(pilot, app, "scan_interval", "30", type_it=True)
        await fill(pilot, app, "regions", "us-east-1, mars-north-1")
        text = screen_text(app)
        assert "12 digits required (found 10)" in text, text
        assert "✖" in text and "mars-north-1" in body_text(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, AccountStep)  # blocked
        status = body_text(app)
        assert "fix" in status and "scan interval" in status.lower() and "connector name" in status.lower()
        # fix them: the marks turn to ✔
        await fill(pilot, app, "connector_name", "aws-good")
        await fill(pilot, app, "aws_account_id", "210987654321")
        await fill(pilot, app, "scan_interval", "12")
        await fill(pilot, app, "regions", "us-east-1")
        choose(app, "subscription_id", app.snap.subscriptions[0])
        await fill(pilot, app, "resource_group", "rg-1")
        await fill(pilot, app, "location", "eastus")
        assert "12 digits required" not in screen_text(app)
        await pilot.press("ctrl+n")
        await wait_screen(pilot, app, PlansStep)
        app.screen.query_one("#cb-containers").focus()
        await pilot.press("space")
        await pilot.press("ctrl+b")
        await wait_screen(pilot, app, AccountStep)
        for key, value in (("connector_name", "aws-good"), ("aws_account_id", "210987654321"),
                           ("scan_interval", "12"), ("resource_group", "rg-1"), ("location", "eastus")):
            assert app.screen.query_one(f"#in-{key}", Input).value == value
        await pilot.press("ctrl+n")
        await wait_screen(pilot, app, PlansStep)
        assert app.screen.query_one("#cb-containers").value is True  # the plan choice survived too
        await pilot.press("escape")  # cancel: nothing has been sent
        await wait_screen(pilot, app, OnboardingHome)
        await pilot.press("1")  # coming back resumes with what was typed
        await wait_screen(pilot, app, AccountStep)
        assert app.screen.query_one("#in-connector_name", Input).value == "aws-good"


# ------------------------------------------------------------------------------------------------------ classic

TEST_KEY_ID = "AKIA" + "TESTCLASSIC0EXAMPLE"[:16]
TEST_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKY"  # 40 characters, a test value
TEST_SP_SECRET = "sp-test-secret-Zq8~xyz.0123456789"
SP_ID = "6a1f2c3d-4b5e-4f60-9a7b-8c9d0e1f2a3b"


async def walk_classic(pilot: Any, app: Any, sub: str, name: str, *, enable: bool = True) -> str:
    """The classic flow with user keys; returns what the confirmation of Create showed."""
    await pilot.press("o")
    await wait_screen(pilot, app, OnboardingHome)
    await pilot.press("2")
    await wait_screen(pilot, app, ClassicHubStep)
    assert "retired by Microsoft on 2023-09-15" in screen_text(app)
    await settle(pilot, app, lambda: "Security Hub" in body_text(app) and "REGION" in body_text(app), timeout=30)
    if enable and "to enable" in body_text(app):
        await pilot.press("ctrl+o")
        shown = await send_confirmed(pilot, app, "securityhub:EnableSecurityHub")
        assert "config:PutConfigurationRecorder" in shown
        await settle(pilot, app, lambda: "every region is ready" in body_text(app), timeout=60)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, app, ClassicAuthStep)
    await fill(pilot, app, "name", name)
    choose(app, "subscription_id", sub)
    app.screen.query_one("#auth").focus()
    await pilot.press("down", "enter")  # IAM user with access keys
    await fill(pilot, app, "access_key_id", TEST_KEY_ID)
    await fill(pilot, app, "secret_access_key", TEST_SECRET)
    assert TEST_SECRET not in screen_text(app)  # masked as typed
    await pilot.press("ctrl+n")
    await wait_screen(pilot, app, ClassicSsmStep)
    await settle(pilot, app, lambda: "coverage" in body_text(app), timeout=60)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, app, ClassicArcStep)
    await settle(pilot, app, lambda: "Microsoft.HybridCompute" in body_text(app), timeout=60)
    await fill(pilot, app, "resource_group", "arc-aws-rg")
    await fill(pilot, app, "azure_region", "westeurope")
    await fill(pilot, app, "sp_application_id", SP_ID)
    await fill(pilot, app, "sp_secret", TEST_SP_SECRET)
    await fill(pilot, app, "proxy_url", "http://proxy:8080")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, app, ClassicReviewStep)
    review = body_text(app)
    assert "MDFCSecurityConnector" in review and "InstanceId" in review  # the tags it will create
    assert TEST_SECRET not in review and TEST_SP_SECRET not in review
    await pilot.press("ctrl+s")
    shown = await send_confirmed(pilot, app, "connectors/" + name)
    return shown


def classic_cleanup_aws(estate: Any) -> None:
    """Undo what enabling Config and Security Hub did in moto (account 123456789012, us-east-1)."""
    for fn in (lambda: boto(estate, "securityhub").disable_security_hub(),
               lambda: boto(estate, "config").stop_configuration_recorder(ConfigurationRecorderName="default"),
               lambda: boto(estate, "config").delete_delivery_channel(DeliveryChannelName="default"),
               lambda: boto(estate, "config").delete_configuration_recorder(ConfigurationRecorderName="default"),
               lambda: boto(estate, "s3").delete_bucket(Bucket=f"config-bucket-{ACCOUNT}-us-east-1")):
        try:
            fn()
        except Exception:  # noqa: BLE001 - not created
            pass


async def test_classic_flow_with_user_keys(estate, settings, tmp_path) -> None:
    sub = estate.info.subscriptions[1]
    name = "aws_classic_pilot"
    app = estate_app(settings, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, lambda: app.snap is not None, timeout=60)
            before = len(estate.arm.request_log)
            shown = await walk_classic(pilot, app, sub, name)
            assert TEST_SECRET not in shown and TEST_SP_SECRET not in shown and "********" in shown
            assert "AKIA…" in shown  # the key id is shown shortened
            await settle(pilot, app, lambda: len(app.screen_stack) == 1, timeout=20)
            puts = [r for r in arm_writes(estate, before) if r.method == "PUT"]
            assert any(f"/connectors/{name}" in r.path for r in puts)
            stored = next(v for k, v in estate.world.classic_connectors.items() if k.endswith("/" + name))
            auth = stored["properties"]["authenticationDetails"]
            assert auth["authenticationType"] == "awsCreds" and auth["awsAccessKeyId"] == TEST_KEY_ID
            hcs = stored["properties"]["hybridComputeSettings"]
            assert hcs["servicePrincipal"]["applicationId"] == SP_ID and hcs["proxyServer"]["port"] == "8080"
            await settle(pilot, app, lambda: any(c.name == name for v in app.views for c in v.connectors)
                         or any(c.name == name for c in (app.snap.data("connectors").connectors
                                                         if app.snap and app.snap.data("connectors") else ())),
                         timeout=60)
    finally:
        forget_connector(estate, name)
        classic_cleanup_aws(estate)


# ------------------------------------------------------------------------------------------------------ removal

async def test_remove_classic_connectors_then_the_aws_cleanup(estate, settings, tmp_path) -> None:
    """Two classic connectors made for the test (an IAM role one, a user-keys one): each deleted behind the
    confirmation, then its AWS side (the role; the user's key) removed through boto3 from the checklist."""
    from tui.core.onboarding import wizard, writes

    sub = estate.info.subscriptions[2]
    role = "AscConnectorRmTest"
    iam = boto(estate, "iam")
    iam.create_user(UserName="mdc-classic-rm")
    key = iam.create_access_key(UserName="mdc-classic-rm")["AccessKey"]
    await run_write(writes.plan_create_classic_role(settings, ACCOUNT, sub, role_name=role))
    for st in (wizard.ClassicState(subscription_id=sub, auth="role", name="aws_rm_role",
                                   role_arn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                   regions=["us-east-1"], arc_auto_provision=False),
               wizard.ClassicState(subscription_id=sub, auth="user", name="aws_rm_keys",
                                   access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"],
                                   regions=["us-east-1"], arc_auto_provision=False)):
        await run_write(writes.plan_create_classic_connector(settings, st))
    app = estate_app(settings, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, lambda: app.snap is not None, timeout=60)
            await pilot.press("o")
            await wait_screen(pilot, app, OnboardingHome)
            await pilot.press("3")
            await wait_screen(pilot, app, RemoveClassicScreen)
            text = screen_text(app)
            assert "aws_rm_role" in text and "aws_rm_keys" in text
            assert "aws-legacy-crm" in text  # the seeded classic one duplicating a native connector is marked
            for name in ("aws_rm_role", "aws_rm_keys"):
                scr = app.screen
                row = next(i for i, (c, _) in enumerate(scr.rows) if c.name == name)
                scr.query_one("DataTable").move_cursor(row=row)
                await pilot.press("ctrl+x")
                shown = await send_confirmed(pilot, app, "DELETE")
                assert f"connectors/{name}" in shown.replace("\n", "")
                await wait_screen(pilot, app, CleanupScreen)
                if name == "aws_rm_keys":
                    await fill(pilot, app, "account", ACCOUNT)
                    await fill(pilot, app, "user", "mdc-classic-rm")
                await pilot.press("ctrl+o")
                expect = "iam:DeleteRole" if name == "aws_rm_role" else "iam:DeleteAccessKey"
                await send_confirmed(pilot, app, expect)
                await settle(pilot, app, lambda: "nothing left to do" in body_text(app), timeout=30)
                await pilot.press("escape")
                await wait_screen(pilot, app, RemoveClassicScreen)
            assert not any(k.endswith(("/aws_rm_role", "/aws_rm_keys")) for k in estate.world.classic_connectors)
        assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
        assert iam.list_access_keys(UserName="mdc-classic-rm")["AccessKeyMetadata"] == []
    finally:
        forget_connector(estate, "aws_rm_role")
        forget_connector(estate, "aws_rm_keys")
        for fn in (lambda: [iam.detach_role_policy(RoleName=role, PolicyArn=p)
                            for p in writes.CLASSIC_MANAGED_POLICIES],
                   lambda: iam.delete_role(RoleName=role),
                   lambda: iam.delete_access_key(UserName="mdc-classic-rm", AccessKeyId=key["AccessKeyId"]),
                   lambda: iam.delete_user(UserName="mdc-classic-rm")):
            try:
                fn()
            except Exception:  # noqa: BLE001 - already gone
                pass


# ------------------------------------------------------------------------------------------------------ read-only

async def test_read_only_sends_no_mutating_request(estate, settings, tmp_path, monkeypatch) -> None:
    """--read-only: every write key still shows the exact request, Send is disabled, and both emulators see zero
    mutating requests through the whole walk."""
    monkeypatch.setenv("MDC_AWS_EXPORT_DIR", str(tmp_path))
    sub = estate.info.subscriptions[0]
    arm0, aws0 = len(estate.arm.request_log), len(estate.aws.request_log)
    app = estate_app(settings, tmp_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.snap is not None, timeout=60)
        await pilot.press("o")
        await wait_screen(pilot, app, OnboardingHome)
        assert "read-only" in screen_text(app)
        await pilot.press("1")
        await walk_account_step(pilot, app, sub, "aws-read-only")
        assert "read-only" in screen_text(app)
        await pilot.press("ctrl+n", "ctrl+n")
        await wait_screen(pilot, app, AccessStep)
        await pilot.press("ctrl+t")
        await wait_screen(pilot, app, ConfirmWrite)
        assert "read-only" in screen_text(app) and "cloudformation:CreateStack" in body_text(app)
        await pilot.press("ctrl+s", "enter")  # refused: the key is disabled and enter sits on Cancel
        await settle(pilot, app, lambda: not isinstance(app.screen, ConfirmWrite))
        await pilot.press("ctrl+n")
        await wait_screen(pilot, app, ReviewStep)
        await pilot.press("ctrl+s")
        await wait_screen(pilot, app, ConfirmWrite)
        assert app.screen.query_one("#send").disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmWrite)  # nothing happened
        await pilot.press("escape", "escape")
        await wait_screen(pilot, app, OnboardingHome)
        await pilot.press("2")  # classic: enabling Config / Security Hub is refused too
        await wait_screen(pilot, app, ClassicHubStep)
        await settle(pilot, app, lambda: "REGION" in body_text(app), timeout=30)
        await pilot.press("ctrl+o")
        if isinstance(app.screen, ConfirmWrite) or "to enable" in body_text(app):
            await wait_screen(pilot, app, ConfirmWrite)
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            assert isinstance(app.screen, ConfirmWrite)
            await pilot.press("escape")
        await pilot.press("escape", "escape")
    assert arm_writes(estate, arm0) == []
    assert aws_writes(estate, aws0) == []
    assert not any(k.endswith("/aws-read-only") for k in estate.world.security_connectors)


# ------------------------------------------------------------------------------------------------------ entry points

async def test_mdc_aws_onboard_opens_on_the_onboarding_screens(settings) -> None:
    """`mdc-aws onboard [--flow native]` is the dashboard app opened on onboarding; esc lands on the dashboard."""
    from click.testing import CliRunner

    from tui.cli import main

    out = CliRunner().invoke(main, ["onboard", "--help"]).output
    assert "--read-only" in out and "--flow" in out
    assert "--read-only" in CliRunner().invoke(main, ["--help"]).output
    svc = FakeService()
    app = MdcApp(settings, refresh_s=600, service_factory=lambda s, start: svc, start_flow="native", read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, app, AccountStep)
        assert "read-only" in screen_text(app)
        await pilot.press("escape")
        await wait_screen(pilot, app, OnboardingHome)
        await pilot.press("escape")
        await settle(pilot, app, lambda: len(app.screen_stack) == 1)
        await pilot.press("o")  # and `o` opens it again from the dashboard
        await wait_screen(pilot, app, OnboardingHome)
