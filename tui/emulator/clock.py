"""Clocks that move the emulated estate.

The estate is a pure function of (seed, scale, tick): a clock only says which tick it is and which moment a tick
stands for. Two clock kinds:

- ManualClock: the tick changes only when advanced (tests, screenshots, deterministic demos).
- WallClock: tick = whole number of `tick_seconds` elapsed since `start` (live demo).

Both map a tick to epoch seconds with `time_of(tick) = start + tick * tick_seconds`; timestamps in the estate
(lastStatusChange, statusChangeDate, systemData ...) are derived from it, never from the wall clock directly.
"""
from __future__ import annotations

import calendar
import threading
import time

#: 2026-11-01T00:00:00Z: the default moment of tick 0 for a ManualClock (fixed, so runs are reproducible).
DEFAULT_START = float(calendar.timegm((2026, 11, 1, 0, 0, 0)))


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, tick: int = 0, *, start: float = DEFAULT_START, tick_seconds: float = 60.0):
        if tick_seconds <= 0:
            raise ValueError("tick_seconds must be > 0")
        self._tick = int(tick)
        self.start = float(start)
        self.tick_seconds = float(tick_seconds)
        self._lock = threading.Lock()

    def tick(self) -> int:
        return self._tick

    def advance(self, n: int = 1) -> int:
        """Move n ticks forward (n may be 0; negative moves are refused) and return the new tick."""
        if n < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._tick += int(n)
            return self._tick

    def set(self, tick: int) -> int:
        """Jump to a tick (any direction; for tests)."""
        with self._lock:
            self._tick = int(tick)
            return self._tick

    def time_of(self, tick: int) -> float:
        return self.start + tick * self.tick_seconds

    def now(self) -> float:
        return self.time_of(self.tick())

    def __repr__(self) -> str:
        return f"ManualClock(tick={self._tick}, start={self.start}, tick_seconds={self.tick_seconds})"


class WallClock:
    """A clock that ticks with real time: tick = floor((time.time() - start) / tick_seconds), never below 0."""

    def __init__(self, tick_seconds: float = 60.0, start: float | None = None, *, _time=time.time):
        if tick_seconds <= 0:
            raise ValueError("tick_seconds must be > 0")
        self._time = _time
        self.tick_seconds = float(tick_seconds)
        # Another process that must see the same estate passes the same start.
        self.start = float(self._time() if start is None else start)

    def tick(self) -> int:
        return max(0, int((self._time() - self.start) // self.tick_seconds))

    def time_of(self, tick: int) -> float:
        return self.start + tick * self.tick_seconds

    def now(self) -> float:
        return self.time_of(self.tick())

    def __repr__(self) -> str:
        return f"WallClock(tick_seconds={self.tick_seconds}, start={self.start})"
