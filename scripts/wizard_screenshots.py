"""Screenshots of every onboarding screen at 80x24 on the demo estate: `.venv/bin/python scripts/wizard_screenshots.py`.

The same path as `mdc-aws --demo` then `o`: the emulated estate (seed 42, in this process) and the real Service over
real sockets. It walks the native wizard (account details, plans with Servers on, access with the linted template,
review, the confirmation of Create), the classic flow (its five steps) and the removal of classic connectors, and saves
each screen as screenshots/wizard-<n>-<step>-80x24.svg (PNG too when rsvg-convert is installed). Nothing is sent:
the app runs with --read-only, so the confirmation screens show the exact request with Send disabled.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIZE = (80, 24)


from screenshots import wait_for  # noqa: E402 - scripts/ is on sys.path when this runs as a script


def body(app: Any) -> str:
    from textual.widgets import Static

    return "\n".join(str(w.render()) for w in app.screen.query(Static))


async def main(out: Path) -> list[Path]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fakes
                      AWS_DEFAULT_REGION="us-east-1",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    os.environ["MDC_AWS_EXPORT_DIR"] = "."  # relative paths on screen
    from textual.widgets import Input, Select

    from tui.app import MdcApp
    from tui.core import config as cfg
    from tui.core.service import Service
    from tui.emulator.estate import Estate
    from tui.screens.onboarding import OnboardingHome
    from tui.screens.onboarding.classic import (ClassicArcStep, ClassicAuthStep, ClassicHubStep, ClassicReviewStep,
                                                ClassicSsmStep)
    from tui.screens.onboarding.confirm import ConfirmWrite
    from tui.screens.onboarding.native import AccessStep, AccountStep, PlansStep, ReviewStep
    from tui.screens.onboarding.remove import RemoveClassicScreen

    saved: list[Path] = []
    est = Estate(seed=42, scale="default")
    info = est.start()
    settings = cfg.Settings(
        azure=cfg.AzureSettings(arm_endpoint=info.arm_url, ca_bundle=info.ca_pem, access_token=info.token),
        aws=cfg.AwsSettings(endpoint_url=info.aws_url))
    app = MdcApp(settings, refresh_s=600, read_only=True, service_factory=lambda s, start: Service(s, None))
    try:
        async with app.run_test(size=SIZE) as pilot:
            async def shot(name: str) -> None:
                await pilot.pause()
                await pilot.wait_for_scheduled_animations()
                await pilot.pause()
                path = out / f"{name}-{SIZE[0]}x{SIZE[1]}.svg"
                path.write_text(app.export_screenshot(title=f"mdc-aws · {name}"), encoding="utf-8")
                saved.append(path)
                print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

            def put(key: str, value: str) -> None:
                app.screen.query_one(f"#in-{key}", Input).value = value

            def on(cls: type) -> Callable[[], bool]:
                return lambda: isinstance(app.screen, cls)

            await wait_for(pilot, lambda: app.snap is not None, "the first collection")
            sub = app.snap.subscriptions[0]
            await pilot.press("o")
            await wait_for(pilot, on(OnboardingHome), "the onboarding home")
            await shot("wizard-0-home")
            # -- native wizard
            await pilot.press("1")
            await wait_for(pilot, on(AccountStep), "step 1")
            await wait_for(pilot, lambda: "STS caller identity" in body(app), "the STS caller identity")
            put("connector_name", "aws-payments")
            app.screen.query_one("#in-subscription_id", Select).value = sub
            put("resource_group", "mdc-connectors")
            put("location", "westeurope")
            put("aws_account_id", "123456789012")
            put("regions", "us-east-1, eu-west-1")
            put("scan_interval", "4")
            app.screen.query_one("#in-connector_name", Input).focus()
            await shot("wizard-1-account")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(PlansStep), "step 2")
            app.screen.query_one("#cb-servers").focus()
            await pilot.press("space")
            await wait_for(pilot, lambda: "Defender for Servers pricing" in body(app), "the live prerequisites")
            await shot("wizard-2-plans")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(AccessStep), "step 3")
            await wait_for(pilot, lambda: "cfn-lint: 0 errors" in body(app), "cfn-lint")
            await shot("wizard-3-access")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(ReviewStep), "step 4")
            await wait_for(pilot, lambda: "Azure role on" in body(app), "the prerequisite results")
            await shot("wizard-4-review")
            await pilot.press("ctrl+s")
            await wait_for(pilot, on(ConfirmWrite), "the confirmation")
            await shot("wizard-5-confirm-create")
            await pilot.press("escape", "escape")
            await wait_for(pilot, on(OnboardingHome), "the onboarding home")
            # -- classic flow
            await pilot.press("2")
            await wait_for(pilot, on(ClassicHubStep), "classic step 1")
            await wait_for(pilot, lambda: "REGION" in body(app), "AWS Config and Security Hub per region")
            await shot("wizard-classic-1-securityhub")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(ClassicAuthStep), "classic step 2")
            put("name", "aws_legacy_payments")
            app.screen.query_one("#in-subscription_id", Select).value = sub
            app.screen.query_one("#auth").focus()
            await pilot.press("down", "enter")
            put("access_key_id", "AKIAIOSFODNN7EXAMPLE")
            put("secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            await shot("wizard-classic-2-authentication")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(ClassicSsmStep), "classic step 3")
            await wait_for(pilot, lambda: "coverage" in body(app), "SSM coverage")
            await shot("wizard-classic-3-ssm")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(ClassicArcStep), "classic step 4")
            await wait_for(pilot, lambda: "Microsoft.HybridCompute" in body(app), "the resource providers")
            put("resource_group", "arc-aws")
            put("azure_region", "westeurope")
            put("sp_application_id", "6a1f2c3d-4b5e-4f60-9a7b-8c9d0e1f2a3b")
            put("sp_secret", "not-a-real-secret-0123")
            put("proxy_url", "http://proxy.contoso.com:3128")
            await shot("wizard-classic-4-arc")
            await pilot.press("ctrl+n")
            await wait_for(pilot, on(ClassicReviewStep), "classic step 5")
            await shot("wizard-classic-5-review")
            await pilot.press("ctrl+s")
            await wait_for(pilot, on(ConfirmWrite), "the confirmation")
            await shot("wizard-classic-6-confirm")
            await pilot.press("escape", "escape")
            await wait_for(pilot, on(OnboardingHome), "the onboarding home")
            # -- removal
            await pilot.press("3")
            await wait_for(pilot, on(RemoveClassicScreen), "the classic connectors")
            await shot("wizard-remove-classic")
            await pilot.press("ctrl+x")
            await wait_for(pilot, on(ConfirmWrite), "the confirmation")
            await shot("wizard-remove-confirm")
    finally:
        est.stop()
    return saved


if __name__ == "__main__":
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    print("onboarding screens at 80x24 (read-only: nothing is sent):")
    files = asyncio.run(main(out))
    if shutil.which("rsvg-convert"):
        for svg in files:
            subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png")), str(svg)], check=False)
        print(f"{len(files)} SVG + PNG in {out}")
    else:
        print(f"{len(files)} SVG in {out} (install librsvg2-bin for PNGs)")
