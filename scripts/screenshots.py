"""Screenshots of every main screen on the demo estate: `make screenshots` (or
`.venv/bin/python scripts/screenshots.py`).

The same path as `mdc-aws --demo`: the emulated estate (seed 42, in this process) and the real
`tui.core.service.Service` over real sockets. The dashboard runs headless at 160x48 (all panes) and then 80x24 (one
pane at a time); each screen is saved as SVG in screenshots/ and converted to PNG with `rsvg-convert` (Debian:
librsvg2-bin) when it is installed.

These files are for people (README, reviews), not asserted on: tests/test_snapshots.py holds the deterministic
baselines.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDE, NARROW = (160, 48), (80, 24)
ZOOM = 1.0  # PNG scale: an 80x24 SVG is 994x636 px, 160x48 is 1970x1222 px


async def wait_for(pilot: Any, cond: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause()
        if cond():
            await pilot.pause()
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{Path(sys.argv[0]).stem}: timed out waiting for {what}")


def best_row(items: list[Any], score: Callable[[Any], float]) -> int:
    """Index of the item with the highest score (first on ties), for picking an interesting row to open."""
    best, best_i = None, 0
    for i, it in enumerate(items):
        s = score(it)
        if best is None or s > best:
            best, best_i = s, i
    return best_i


class Shooter:
    def __init__(self, app: Any, pilot: Any, out: Path) -> None:
        self.app, self.pilot, self.out = app, pilot, out
        self.saved: list[Path] = []

    async def shot(self, name: str) -> None:
        await self.pilot.pause()
        await self.pilot.wait_for_scheduled_animations()
        await self.pilot.pause()
        w, h = self.app.size
        path = self.out / f"{name}-{w}x{h}.svg"
        path.write_text(self.app.export_screenshot(title=f"mdc-aws · {name}"), encoding="utf-8")
        self.saved.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    async def back_to_dashboard(self) -> None:
        while len(self.app.screen_stack) > 1:
            self.app.pop_screen()
            await self.pilot.pause()

    async def drill_downs(self) -> None:
        """Account detail, stuck instances, instance detail, recommendation detail, compliance controls, the failing
        resources of a control, help: the same chain an operator walks with enter and esc."""
        app, pilot = self.app, self.pilot
        from tui.screens.detail import DetailScreen, HelpScreen, ListScreen

        # account detail: the management account when there is one (members, StackSet), else the first row
        app.dashboard.action_show_pane("accounts")
        acc = app.dashboard.pane("accounts")
        acc.table.move_cursor(best_row(acc.shown, lambda it: it.payload.organization_role == "management"))
        app.dashboard.open_selection("accounts")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the account detail")
        await self.shot("account-detail")
        await self.back_to_dashboard()

        # stuck instances of the region with the most of them, then the first instance's detail
        app.dashboard.action_show_pane("arc")
        arc = app.dashboard.pane("arc")
        arc.table.move_cursor(best_row(arc.shown, lambda it: len(it.payload.stuck)))
        app.dashboard.open_selection("arc")
        await wait_for(pilot, lambda: isinstance(app.screen, ListScreen), "the stuck instances")
        await self.shot("stuck-instances")
        stuck_screen = app.screen
        if stuck_screen.items:
            stuck_screen.on_open(stuck_screen.items[0])
            await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the instance detail")
            await self.shot("instance-detail")
        await self.back_to_dashboard()

        # recommendation detail: the first row of the pane (high severity, unhealthy first)
        app.dashboard.action_show_pane("recs")
        app.dashboard.open_selection("recs")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the recommendation detail")
        await self.shot("recommendation-detail")
        await self.back_to_dashboard()

        # compliance controls of the standard with the most failing controls, then the first failing control
        app.dashboard.action_show_pane("compliance")
        comp = app.dashboard.pane("compliance")
        comp.table.move_cursor(best_row(comp.shown, lambda it: it.payload.failed_controls))
        app.dashboard.open_selection("compliance")
        await wait_for(pilot, lambda: isinstance(app.screen, ListScreen), "the compliance controls")
        await self.shot("compliance-controls")
        controls = app.screen
        failing = next((it for it in controls.items if it.payload.state == "Failed"), None)
        if failing is not None:
            controls.on_open(failing)
            await wait_for(pilot, lambda: app.screen is not controls and isinstance(app.screen, ListScreen),
                           "the failing resources of a control")
            await self.shot("control-resources")
        await self.back_to_dashboard()

        app.action_help()
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await self.shot("help")
        await self.back_to_dashboard()


class _Started:
    """The estate as the app sees it in a demo run, already started here (the app only stops it)."""

    def start(self, base: Any) -> Any:
        return base

    def stop(self, grace_s: float = 0.0) -> None:
        pass


async def run(out: Path, seed: int, scale: str) -> list[Path]:
    from tui.app import MdcApp
    from tui.demo_estate import demo_settings
    from tui.core.config import Settings
    from tui.core.history import History
    from tui.core.service import Service
    from tui.emulator.estate import Estate

    print(f"starting the emulated estate (seed {seed}, scale {scale}) ...")
    # a still estate (manual clock: the same screens every run) whose tick 0 is now, as `mdc-aws --demo` starts:
    # times the screens show relative to now (the next discovery due, ...) read as they do in the demo
    estate = Estate(seed=seed, scale=scale, start_epoch=time.time())
    info = estate.start()
    tmp = tempfile.TemporaryDirectory(prefix="mdc-aws-screenshots-")
    try:
        settings = demo_settings(info, Settings())
        history = History.in_dir(Path(tmp.name))
        app = MdcApp(settings, refresh_s=3600, history=history,
                     service_factory=lambda s, start: Service(s, history, start_from=start))
        async with app.run_test(size=WIDE, notifications=False, tooltips=False) as pilot:
            await wait_for(pilot, lambda: app.service is not None, "the service")
            # `mdc-aws --demo` spawns the estate itself and says so in the top bar; same words here
            app.estate = _Started()
            await wait_for(pilot, lambda: all(app.dashboard.pane(n).state != "loading" for n in
                                              ("accounts", "plans", "arc", "compliance", "recs"))
                           and not app.collecting, "the panes to load")
            app._update_scope()
            shooter = Shooter(app, pilot, out)
            print("160x48:")
            await shooter.shot("dashboard")
            await shooter.drill_downs()
            await pilot.resize_terminal(*NARROW)
            await pilot.pause()
            print("80x24:")
            for name, pane in (("accounts", "accounts"), ("plans", "plans"), ("onboarding", "arc"),
                               ("recommendations", "recs"), ("compliance", "compliance")):
                app.dashboard.action_show_pane(pane)
                await shooter.shot(name)
            # a filtered view, as an operator would type it: / sev:high
            app.dashboard.action_show_pane("recs")
            app.dashboard.pane("recs").apply_filter("status:unhealthy sev:high")
            await shooter.shot("recommendations-high")
            app.dashboard.pane("recs").apply_filter("status:unhealthy")
            await shooter.drill_downs()
            return shooter.saved
    finally:
        tmp.cleanup()
        estate.stop()


def to_png(svgs: list[Path]) -> list[Path]:
    exe = shutil.which("rsvg-convert")
    if exe is None:
        print("screenshots: rsvg-convert not found (Debian/Ubuntu: apt-get install librsvg2-bin); "
              "kept the SVGs only", file=sys.stderr)
        return []
    pngs = []
    for svg in svgs:
        png = svg.with_suffix(".png")
        # Textual writes each style run as one <text> whose leading spaces rsvg would collapse (the run then starts
        # one cell early: "● HighCloudTrail"); xml:space="preserve" keeps every cell where the terminal had it.
        data = svg.read_text(encoding="utf-8").replace("<svg ", '<svg xml:space="preserve" ', 1)
        subprocess.run([exe, "--zoom", str(ZOOM), "-o", str(png)], input=data.encode("utf-8"), check=True)
        pngs.append(png)
    return pngs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", default="default")
    ap.add_argument("--no-png", action="store_true", help="keep the SVGs only")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    svgs = asyncio.run(run(a.out, a.seed, a.scale))
    pngs = [] if a.no_png else to_png(svgs)
    print(f"{len(svgs)} SVG, {len(pngs)} PNG in {a.out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
