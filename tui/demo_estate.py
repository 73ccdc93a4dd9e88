"""Demo start-up in one place: the embedded emulated estate (tui.emulator) started in its own process and the core
pointed at it. The CLI is the only caller (the dashboard, `snapshot`, `export`, `doctor`, `onboard` with --demo);
the app receives a `DemoEstate` and calls `start()` from its boot worker, after the first frame, without importing
the emulator or this module.

Sealing (the operator's environment removed, loopback only, the demo's token) is the core's: tui.core.demo.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

from .core import demo as sealed
from .core.config import Settings


def demo_settings(info: Any, base: Settings) -> Settings:
    """Point the core at a running estate (tui.core.demo.estate_settings: sealed, the estate's endpoints and demo
    token; this process's environment holds moto's fake AWS keys and none of the operator's)."""
    return sealed.estate_settings(info, base)


class DemoEstate:
    """The estate of one demo run: ``start(settings)`` spawns it (blocking: call it off the UI loop) and returns the
    settings that reach it; ``stop()`` ends it. A context manager for the one-shot commands."""

    def __init__(self, seed: int = 42, scale: str = "default", tick_seconds: float | None = 60.0) -> None:
        self.seed, self.scale, self.tick_seconds = seed, scale, tick_seconds
        self.proc: Any = None
        self._lock = threading.Lock()

    @property
    def info(self) -> Any:
        return self.proc.info if self.proc is not None else None

    def start(self, base: Settings, what: str = "the dashboard") -> Settings:
        """Spawn the estate and return ``base`` pointed at it; raises RuntimeError with one line and the fix."""
        sealed.starting()
        try:
            from .emulator.estate import spawn

            proc = spawn(seed=self.seed, scale=self.scale, tick_seconds=self.tick_seconds)
        except Exception as e:  # noqa: BLE001 - missing demo extras, a child that died: one clear line with the fix
            raise RuntimeError(sealed.failed(e)) from None
        with self._lock:
            self.proc = proc
        settings = demo_settings(proc.info, base)
        from .core import policy

        policy.check_reads(settings, what)  # sealed: the estate on loopback, nothing else
        return settings

    def stop(self, grace_s: float = 3.0) -> None:
        """End the estate (asked, then killed after ``grace_s``) and remove its temp folder; any thread, any number
        of times, also while ``start`` is still spawning (then the estates this process started are stopped)."""
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is not None:
            proc.stop(grace_s=grace_s)
            return
        estate_mod = sys.modules.get("tui.emulator.estate")  # spawning right now: not handed over yet
        if estate_mod is not None:
            estate_mod._stop_all()  # noqa: SLF001 - the estate module's own registry of the processes it started

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
