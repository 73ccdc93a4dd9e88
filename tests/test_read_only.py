"""--read-only: one choke point for every write (issue 10, item 4).

The CLI sets the process-wide policy once (tui.core.policy); tui.core.onboarding.writes enforces it where every Azure
and AWS write passes. Proved here: no write call exists outside writes.py (a scan of the source against botocore's own
operation lists and the ARM write methods); every plan_* through every way in (execute_write, its sync form,
PlannedWrite.execute/execute_sync, the screens' bridge, the confirmation screen, the sender called directly) is
refused, a caller's read_only=False or a screen that believes it may send cannot lift it; the CLI's --read-only sets
it; and both emulators' request logs hold zero mutating requests.
"""
from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest

from tests.test_onboarding_core import every_plan, mutating_arm, mutating_aws
from tui.core import policy
from tui.core.onboarding import writes as w

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [p for d in ("tui/core", "tui/screens", "widgets") for p in sorted((ROOT / d).rglob("*.py"))] + \
    [ROOT / "tui" / "app.py", ROOT / "tui" / "cli.py"]
AWS_SERVICES = ("iam", "cloudformation", "s3", "config", "securityhub", "sts", "organizations", "ec2", "ssm", "eks",
                "sqs", "firehose", "sso", "sso-oidc")
READ_OPS = ("describe_", "get_", "list_", "lookup_", "search_", "head_", "batch_get_", "select_", "simulate_",
            "validate_", "estimate_")
# Calls that look like writes but change nothing in a cloud: (file, name) -> why
NOT_WRITES = {("tui/core/aws.py", "assume_role"): "STS AssumeRole: credentials to reach an account (a read)"}


@pytest.fixture
def read_only_policy():
    policy.reset_for_tests()
    policy.configure(read_only=True)  # what the CLI's --read-only does, once, first
    yield
    policy.reset_for_tests()


def _aws_write_operations() -> set[str]:
    import botocore.session
    from botocore import xform_name

    s = botocore.session.get_session()
    return {xform_name(op) for svc in AWS_SERVICES for op in s.get_service_model(svc).operation_names
            if not xform_name(op).startswith(READ_OPS)}


def test_every_write_call_is_in_writes_py() -> None:
    """Every boto3 mutating operation (named from botocore's models) and every ARM PUT/PATCH/DELETE/POST (SDK
    create_or_update/begin_*/delete, a raw HttpRequest that is not a GET) is called only in writes.py."""
    aws_ops = _aws_write_operations()
    found = []
    for p in SCANNED:
        rel = str(p.relative_to(ROOT))
        if rel == "tui/core/onboarding/writes.py":
            continue
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if not isinstance(n, ast.Call):
                continue
            name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            if (rel, name) in NOT_WRITES:
                continue
            if name in aws_ops or name in ("create_or_update", "delete", "put", "patch", "post") \
                    or name.startswith("begin_"):
                found.append(f"{rel}:{n.lineno} {name}()")
            if name == "HttpRequest" and n.args and not (isinstance(n.args[0], ast.Constant)
                                                         and n.args[0].value == "GET"):
                found.append(f"{rel}:{n.lineno} HttpRequest({ast.unparse(n.args[0])})")
    assert found == [], "writes outside tui/core/onboarding/writes.py:\n" + "\n".join(found)
    # and writes.py reaches boto3 only through its one dispatcher (the policy is checked before it)
    src = (ROOT / "tui/core/onboarding/writes.py").read_text(encoding="utf-8")
    assert src.count("getattr(client, _snake(operation))") == 1


async def test_every_write_is_refused_every_way_in(estate, settings, read_only_policy) -> None:
    from tui.screens.onboarding import bridge

    t0, seq0 = time.time(), max((r.seq for r in estate.aws.request_log), default=0)
    plans = every_plan(settings, estate)
    assert set(plans) == set(w.PLAN_FUNCTIONS)
    for writes in plans.values():
        with pytest.raises(w.ReadOnlyError):
            w.execute_write(writes, read_only=False)  # a caller's False does not lift the process's policy
        with pytest.raises(w.ReadOnlyError):
            w.execute_write(writes)
        with pytest.raises(w.ReadOnlyError):
            await asyncio.to_thread(bridge.execute, writes, read_only=False)  # the screens' way (worker threads)
        for x in writes:
            with pytest.raises(w.ReadOnlyError):
                await x.execute()
            with pytest.raises(w.ReadOnlyError):
                x.execute_sync()
            with pytest.raises(w.ReadOnlyError):
                w.execute_write_sync(x, read_only=False)
            with pytest.raises(w.ReadOnlyError):
                await x.sender(w._Context(x.settings))  # even the sender itself, called directly
    with pytest.raises(w.SourceError):
        w.set_read_only(False)
    policy.configure(read_only=False)  # configure only tightens
    assert policy.read_only() and w.read_only()
    assert mutating_arm(estate, t0) == []
    assert mutating_aws(estate, seq0) == []


async def test_every_write_refused_through_the_confirmation_even_if_the_screen_would_send(
        estate, settings, read_only_policy, monkeypatch) -> None:
    """Every plan through the one confirmation screen, in an app and a confirmation that both believe they may send
    (a screen that forgot read-only): Send is pressed, the core refuses, both logs stay without a write."""
    from tests.test_app_pilot import FakeService, settle
    from tui.app import MdcApp
    from tui.screens.onboarding.confirm import ConfirmWrite, confirm_and_send

    monkeypatch.setattr(policy, "read_only", lambda: False)  # what the UI asks; the core checks its own state
    arm0, aws0 = len(estate.arm.request_log), len(estate.aws.request_log)
    t0, seq0 = time.time(), max((r.seq for r in estate.aws.request_log), default=0)
    app = MdcApp(settings, refresh_s=600, service_factory=lambda s, start: FakeService())
    assert app.read_only is False
    plans = every_plan(settings, estate)
    async with app.run_test(size=(100, 30)) as pilot:
        for name, writes in plans.items():
            out: list[str] = []
            confirm_and_send(app.screen, writes, sent=lambda r, out=out: out.append("SENT"), failed=out.append)
            await settle(pilot, app, lambda: isinstance(app.screen, ConfirmWrite))
            assert not app.screen.query_one("#send").disabled
            await pilot.press("ctrl+s")
            await settle(pilot, app, lambda out=out: bool(out), timeout=20)
            assert "read-only" in out[0] and "nothing was changed" in out[0], (name, out)
    assert len(estate.arm.request_log) >= arm0 and mutating_arm(estate, t0) == []
    assert len(estate.aws.request_log) >= aws0 and mutating_aws(estate, seq0) == []


def test_the_cli_sets_the_policy_once_first(monkeypatch, tmp_path) -> None:
    """`mdc-aws --read-only` and `mdc-aws onboard --read-only` set the process's policy before the app exists; the
    app and every screen read it from there."""
    from click.testing import CliRunner

    import tui.cli as cli

    seen: list[tuple[bool, bool]] = []

    def fake_run_dashboard(settings, opts, refresh_s, mouse, theme, read_only=False, onboard=None):
        from tui.app import MdcApp

        seen.append((policy.read_only(), MdcApp(settings, service_factory=lambda s, st: None).read_only))

    monkeypatch.setattr(cli, "run_dashboard", fake_run_dashboard)
    monkeypatch.setenv("MDC_AWS_DATA_DIR", str(tmp_path))
    for args, expect in ((["--read-only"], True), (["onboard", "--read-only"], True),
                         (["onboard"], False), ([], False)):
        policy.reset_for_tests()
        try:
            r = CliRunner().invoke(cli.main, args, catch_exceptions=False)
            assert r.exit_code == 0, r.output
            assert seen[-1] == (expect, expect), args
        finally:
            policy.reset_for_tests()
