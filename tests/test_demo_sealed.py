"""The sealed demo (issue 10, item 1): a `--demo` run reaches only the emulated estate on 127.0.0.1, with its demo
token and fake keys, whatever the operator's shell and config say: also while the estate starts and after it failed
to start (then every read and write says why and how to fix it).

The operator's "real" clouds are a recorder on 127.0.0.1 that every credential and endpoint of the shell and the
config file points at (and the default ARM endpoint too); an audit hook on this process records every socket
connect and name lookup (and stops any that would leave loopback). The dashboard is built by the CLI itself
(`mdc-aws --demo`, its App captured instead of run) and driven through Textual's Pilot.
"""
from __future__ import annotations

import asyncio
import ipaddress
import re
import os
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_app_pilot import FakeService, screen_text, settle
from tests.test_onboarding_core import every_plan, mutating_arm, mutating_aws, native_state
from tui.core import demo, policy
from tui.core.errors import SourceError
from tui.core.onboarding import writes as w

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
MISSING_EXTRAS = ("the emulated estate failed to start (exit 1): Traceback (most recent call last):\n"
                  "  File \"tui/emulator/aws.py\", line 1, in <module>\n    import moto\n"
                  "ModuleNotFoundError: No module named 'moto'")


# ------------------------------------------------------------------------------------------------------ the net

class Recorder:
    """A TCP server on 127.0.0.1 that records every connection (HTTP or a TLS hello) and answers nothing."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(1.0)
                try:
                    data = self.request.recv(200)
                except OSError:
                    data = b""
                hits.append(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_AUDIT: list[tuple[str, Any]] | None = None
_HOOKED = False


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    audit = _AUDIT
    if audit is None:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        audit.append(("connect", args[1]))
        if not _loopback(args[1][0]):
            raise PermissionError(f"test: a demo connected to {args[1]}")
    elif event == "socket.getaddrinfo" and args[0]:
        host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        audit.append(("getaddrinfo", host))
        if not _loopback(host):
            raise PermissionError(f"test: a demo looked up {host}")


@pytest.fixture
def net():
    """Record every connect and lookup of this process while the test runs; fail on any that left loopback."""
    global _AUDIT, _HOOKED
    if not _HOOKED:
        sys.addaudithook(_hook)
        _HOOKED = True
    seen: list[tuple[str, Any]] = []
    _AUDIT = seen
    try:
        yield seen
    finally:
        _AUDIT = None
    outside = [x for x in seen if not _loopback(x[1][0] if x[0] == "connect" else x[1])]
    assert outside == [], f"left loopback: {outside}"


@pytest.fixture
def operator(tmp_path, monkeypatch):
    """The operator's shell and config: every endpoint at the "real" recorder, real-looking credentials everywhere.
    The whole environment is restored afterwards (a demo run seals this process's environment)."""
    real = Recorder()
    saved = dict(os.environ)
    url = f"127.0.0.1:{real.port}"
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(f'refresh_s = 30\n[azure]\narm_endpoint = "https://{url}"\n'
                        'access_token = "operator-config-token"\n'
                        f'subscriptions = ["00000000-0000-0000-0000-000000000001"]\n'
                        f'[aws]\nendpoint_url = "http://{url}"\nprofile = "operator"\n'
                        f'account_profiles = {{"111122223333" = "operator"}}\n', encoding="utf-8")
    cfg_file.chmod(0o600)
    os.environ.update({
        "MDC_AWS_CONFIG": str(cfg_file), "MDC_AWS_DATA_DIR": str(tmp_path / "data"),
        "MDC_AWS_ARM_ENDPOINT": f"https://{url}", "MDC_AWS_AWS_ENDPOINT_URL": f"http://{url}",
        "MDC_AWS_ACCESS_TOKEN": "operator-env-token", "MDC_AWS_CA_BUNDLE": "/nonexistent",
        "AWS_ENDPOINT_URL": f"http://{url}", "AWS_ENDPOINT_URL_STS": f"http://{url}", "AWS_PROFILE": "operator",
        "AWS_ACCESS_KEY_ID": "AKIAOPERATOR00000000", "AWS_SECRET_ACCESS_KEY": "operator-secret",
        "AWS_SESSION_TOKEN": "operator-session", "AWS_CA_BUNDLE": "/nonexistent",
        "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111", "AZURE_TENANT_ID": "x",
        "AZURE_CLIENT_SECRET": "operator-sp-secret", "IDENTITY_ENDPOINT": f"http://{url}/msi",
        "IDENTITY_HEADER": "operator-header", "MSI_ENDPOINT": f"http://{url}/msi",
        "HTTPS_PROXY": f"http://{url}", "HTTP_PROXY": f"http://{url}",
    })
    from tui.core import config as cfg

    # Azure's default endpoint is the "real" one too (what a settings object built without one would reach)
    defaults = list(cfg.AzureSettings.__init__.__defaults__)
    assert defaults[0] == cfg.DEFAULT_ARM_ENDPOINT
    defaults[0] = f"https://{url}"
    monkeypatch.setattr(cfg.AzureSettings.__init__, "__defaults__", tuple(defaults))
    monkeypatch.setattr(cfg, "DEFAULT_ARM_ENDPOINT", f"https://{url}")
    policy.reset_for_tests()
    try:
        yield real
    finally:
        policy.reset_for_tests()
        os.environ.clear()
        os.environ.update(saved)
        real.close()
    assert real.hits == [], f"the operator's real endpoint was reached: {real.hits}"


class FakeEstateProcess:
    def __init__(self, info: Any) -> None:
        self.info = info

    def stop(self, grace_s: float = 3.0) -> None:
        pass


def patch_spawn(monkeypatch, fn) -> None:
    import tui.emulator.estate as est

    monkeypatch.setattr(est, "spawn", fn)


def dashboard_from_cli(monkeypatch, args: list[str]) -> Any:
    """`mdc-aws <args>` through the real CLI up to the App it would run (captured, not run)."""
    from click.testing import CliRunner

    from tui.app import MdcApp
    from tui.cli import main

    apps: list[Any] = []
    monkeypatch.setattr(MdcApp, "run", lambda self, **kw: apps.append(self))
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0 and len(apps) == 1, r.output
    return apps[0]


def assert_sealed_environment() -> None:
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_CA_BUNDLE",
              "MDC_AWS_ACCESS_TOKEN", "MDC_AWS_ARM_ENDPOINT", "MDC_AWS_CA_BUNDLE", "MDC_AWS_AWS_ENDPOINT_URL",
              "AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
              "HTTPS_PROXY", "HTTP_PROXY"):
        assert k not in os.environ, k
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing" and os.environ["AWS_CONFIG_FILE"] == os.devnull


def every_read(settings: Any, estate: Any) -> dict[str, tuple[Any, ...]]:
    """Every onboarding read the screens make (through the bridge, from worker threads)."""
    from tui.screens.onboarding import bridge

    st = native_state(subscription_id=estate.info.subscriptions[0], aws_account_id=ACCOUNT)
    st.plans.servers = st.plans.containers = True
    return {
        "caller identity": (bridge.caller_identity, settings),
        "ssm coverage": (bridge.ssm_coverage, settings, ACCOUNT, ["us-east-1"]),
        "plan checks": (bridge.plan_prereqs, settings, st),
        "doctor (review)": (bridge.review_checks, settings, st),
        "doctor (providers)": (bridge.provider_checks, settings, estate.info.subscriptions[0], ACCOUNT),
        "classic regions": (bridge.classic_region_status, settings, ACCOUNT, ["us-east-1"]),
        "stack status": (bridge.stack_status, settings, st, "mdc-stack"),
        "cleanup: role policies": (bridge.plan_delete_role, settings, ACCOUNT, "AscConnector"),
        "cleanup: user keys": (bridge.plan_delete_user_keys, settings, ACCOUNT, "mdc-user", None),
    }


async def try_everything(pilot: Any, app: Any, estate: Any, expect: str) -> dict[str, list]:
    """Every write (core and through the confirmation screen: Send pressed) and every read, on the screens'
    settings: each refused with `expect`. Returns the plans (made before anything was ready)."""
    from tui.screens.onboarding.confirm import ConfirmWrite, confirm_and_send

    settings = app.screen.ctx.settings
    assert demo.is_placeholder(settings)
    plans = every_plan(settings, estate)
    assert set(plans) == set(w.PLAN_FUNCTIONS)
    for name, writes in plans.items():
        assert all(x.target.startswith(demo.PLACEHOLDER_ARM_ENDPOINT + "/") for x in writes if x.cloud == "azure")
        with pytest.raises(SourceError, match=expect):
            w.execute_write(writes)
        with pytest.raises(SourceError, match=expect):
            await writes[0].sender(w._Context(writes[0].settings))  # the sender called directly
        out: list[str] = []
        confirm_and_send(app.screen, writes, sent=lambda r, out=out: out.append("SENT"), failed=out.append)
        await settle(pilot, app, lambda: isinstance(app.screen, ConfirmWrite))
        await pilot.press("ctrl+s")
        await settle(pilot, app, lambda out=out: bool(out), timeout=20)
        assert re.search(expect, out[0]) and "nothing was changed" in out[0], (name, out)
    for fn, *args in every_read(settings, estate).values():
        with pytest.raises(SourceError, match=expect):
            await asyncio.to_thread(fn, *args)
    from tui.screens.onboarding.remove import classic_rows

    assert classic_rows(app.screen.ctx) == []  # the classic cleanup listing: nothing (no snapshot), nothing read
    return plans


# ------------------------------------------------------------------------------------------------------ the dashboard

async def test_slow_estate_nothing_leaves_loopback(estate, operator, net, monkeypatch) -> None:
    """The estate takes its time: onboarding opens at once, every read and write is refused ("still starting"),
    nothing reaches the operator's endpoints; once it serves, the screens use the estate (loopback, its token), and
    a write prepared before that is refused."""
    from tui.screens.onboarding import OnboardingHome, bridge
    from tui.screens.onboarding.native import AccountStep

    release = threading.Event()

    def slow_spawn(**kw: Any) -> Any:
        assert release.wait(120)
        return FakeEstateProcess(estate.info)

    patch_spawn(monkeypatch, slow_spawn)
    app = dashboard_from_cli(monkeypatch, ["--demo"])
    assert policy.demo() and demo.is_placeholder(app.settings) and app.settings.refresh_s == 30
    assert app.settings.azure.access_token == demo.PLACEHOLDER_TOKEN and app.settings.aws.profile is None
    assert app.settings.azure.subscriptions == () and not app.settings.aws.account_profiles
    assert_sealed_environment()
    services: list[Any] = []
    app.service_factory = lambda s, start: services.append(s) or FakeService()
    arm0, aws0 = len(estate.arm.request_log), len(estate.aws.request_log)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app, lambda: demo.status()[0] == "starting")
            await pilot.press("o")
            await settle(pilot, app, lambda: isinstance(app.screen, OnboardingHome))
            await settle(pilot, app, lambda: "still starting" in screen_text(app))
            plans = await try_everything(pilot, app, estate, "still starting")
            await pilot.press("1")  # the wizard's own read (STS caller identity) says it too
            await settle(pilot, app, lambda: isinstance(app.screen, AccountStep))
            await settle(pilot, app, lambda: "still starting" in screen_text(app))
            await pilot.press("escape")
            assert len(estate.arm.request_log) == arm0 and len(estate.aws.request_log) == aws0  # nothing at all
            release.set()
            await settle(pilot, app, lambda: app.service is not None, timeout=30)
            assert [s.azure.arm_endpoint for s in services] == [estate.info.arm_url]
            assert app.settings.azure.arm_endpoint == estate.info.arm_url
            assert app.settings.aws.endpoint_url == estate.info.aws_url
            assert app.settings.azure.access_token == estate.info.token
            with pytest.raises(SourceError, match="before the emulated estate was ready"):
                w.execute_write(plans["plan_delete_classic_connector"])
            ctx = app.screen.ctx
            acct, _ = await asyncio.to_thread(bridge.caller_identity, ctx.settings)  # now: the estate
            assert acct == ACCOUNT
            t0 = time.time()
            seq0 = max((r.seq for r in estate.aws.request_log), default=0)
            gone = w.plan_delete_classic_connector(ctx.settings, estate.info.subscriptions[2], "no-such-connector")
            assert gone[0].target.startswith(estate.info.arm_url + "/")
            await asyncio.to_thread(bridge.execute, gone)  # a write that changes nothing: it reaches the estate
            assert [r.method for r in mutating_arm(estate, t0)] == ["DELETE"] and mutating_aws(estate, seq0) == []
    finally:
        release.set()
    assert net and all(_loopback(x[1][0] if x[0] == "connect" else x[1]) for x in net)


async def test_estate_that_fails_to_start_says_how_to_fix_it(estate, operator, net, monkeypatch) -> None:
    """Installed without the demo extras: the panes, the onboarding screens, every read and every write say so
    (pip install 'mdc-aws[demo]') and nothing is sent anywhere."""
    from tui.screens.onboarding import OnboardingHome

    def failing_spawn(**kw: Any) -> Any:
        raise RuntimeError(MISSING_EXTRAS)

    patch_spawn(monkeypatch, failing_spawn)
    app = dashboard_from_cli(monkeypatch, ["onboard", "--demo"])
    assert_sealed_environment()
    app.service_factory = lambda s, start: pytest.fail("no service without an estate")
    arm0, aws0 = len(estate.arm.request_log), len(estate.aws.request_log)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app, lambda: demo.status()[0] == "failed")
        await settle(pilot, app, lambda: isinstance(app.screen, OnboardingHome))
        await settle(pilot, app, lambda: "mdc-aws[demo]" in screen_text(app))
        assert "missing moto" in demo.status()[1]
        await try_everything(pilot, app, estate, r"pip install 'mdc-aws\[demo\]'")
        await pilot.press("escape")
        await settle(pilot, app, lambda: not isinstance(app.screen, OnboardingHome))
        await settle(pilot, app, lambda: "mdc-aws[demo]" in screen_text(app))  # the panes say it too
        assert demo.is_placeholder(app.settings) and app.service is None
    assert len(estate.arm.request_log) == arm0 and len(estate.aws.request_log) == aws0
    assert not any(x[0] == "connect" for x in net)  # not even to the placeholders


# ------------------------------------------------------------------------------------------------------ commands

def cli(args: list[str]) -> Any:
    from click.testing import CliRunner

    from tui.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)  # click 8.2+: stdout and stderr kept apart


def test_doctor_and_snapshot_when_the_estate_fails(estate, operator, net, monkeypatch) -> None:
    patch_spawn(monkeypatch, lambda **kw: (_ for _ in ()).throw(RuntimeError(MISSING_EXTRAS)))
    for args in (["doctor", "--demo"], ["snapshot", "--demo"], ["export", "--demo"]):
        r = cli(args)
        assert r.exit_code == 1, (args, r.output)
        assert "pip install 'mdc-aws[demo]'" in r.stderr and "missing moto" in r.stderr, r.stderr
        assert_sealed_environment()
    assert not any(x[0] == "connect" for x in net)


def test_doctor_on_a_slow_estate_reaches_only_the_estate(estate, operator, net, monkeypatch) -> None:
    """`mdc-aws doctor --demo` waits for the estate, then checks it: every request to 127.0.0.1, none to the
    operator's endpoints, none with the operator's credentials (the recorder would have seen them)."""
    def slow_spawn(**kw: Any) -> Any:
        time.sleep(1.0)
        return FakeEstateProcess(estate.info)

    patch_spawn(monkeypatch, slow_spawn)
    arm0 = len(estate.arm.request_log)
    r = cli(["doctor", "--demo", "--account", ACCOUNT, "--format", "json"])
    assert r.exit_code in (0, 1), r.output + r.stderr
    assert '"name"' in r.stdout and len(estate.arm.request_log) > arm0  # the estate was read (it accepts only
    # its demo token: the operator's would have been a 401)
    assert "401" not in r.stdout and "operator" not in r.stdout
    assert [x for x in net if x[0] == "connect"] and all(_loopback(x[1][0]) for x in net if x[0] == "connect")


def test_hostile_shell_does_not_break_the_demo(tmp_path) -> None:
    """A shell that sourced `mdc-aws emulate` output, or holds an operator's credentials: `mdc-aws snapshot --demo`
    still works (flags beat the environment), and says which variables it ignored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MDC_AWS_", "AZURE_"))}
    env.update(AWS_PROFILE="nope", AWS_SESSION_TOKEN="x", AWS_ENDPOINT_URL="http://10.9.9.9",
               MDC_AWS_CA_BUNDLE="/nonexistent", MDC_AWS_ARM_ENDPOINT="https://example.invalid",
               AZURE_CLIENT_SECRET="x", MDC_AWS_DATA_DIR=str(tmp_path / "data"),
               MDC_AWS_CONFIG=str(tmp_path / "absent.toml"))
    r = subprocess.run([sys.executable, "-m", "tui.cli", "snapshot", "--demo", "--format", "json"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"sections"' in r.stdout
    assert "$AWS_PROFILE" in r.stderr and "$MDC_AWS_CA_BUNDLE" in r.stderr
