"""`mdc-aws onboard`: the dashboard app, opened directly on the onboarding screens (esc goes to the dashboard, where
a new connector appears; q quits)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import tui.app
from tui.app import MdcApp


class OnboardApp(MdcApp):
    CSS_PATH = str(Path(tui.app.__file__).parent / "app.tcss")  # relative paths resolve next to the subclass

    def __init__(self, *args: Any, start: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start = start  # "native" | "classic" | "remove" | None (the onboarding home)

    def on_mount(self) -> None:  # MdcApp.on_mount runs too (Textual calls every class's handler)
        self.call_after_refresh(self._open)

    def _open(self) -> None:
        from . import OnboardingHome, open_onboarding

        open_onboarding(self)
        if self.start and isinstance(self.screen, OnboardingHome):
            self.screen.action_pick(self.start)
