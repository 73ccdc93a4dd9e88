"""Progress of a long fetch (the recommendations: a million rows take a minute and a half), told to whoever waits.

A progress callback is a plain function ``(rows, total)``: rows received so far, and the total the source announced
(Resource Graph gives ``totalRecords`` on a query's first page), None when it is not known. The sources call it once
per page (1,000 pages for a million rows): :class:`Throttle` passes on at most one call per ``interval_s`` and drops
the ones in between (only the latest matters), so a UI never gets one message per page.

Never imports textual or rich.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger(__name__)

#: ``(rows so far, total or None)``
ProgressFn = Callable[[int, Optional[int]], None]

INTERVAL_S = 0.25  # at most four updates a second: the eye cannot read faster, the UI loop is not kept busy


class Throttle:
    """A :data:`ProgressFn` that calls ``report`` at most once per ``interval_s``.

    The first call goes through at once (the total is then on screen right away); later ones go through when
    ``interval_s`` has passed since the last one that did, or when the total changes; the others are kept as
    ``pending`` (the newest only) and sent by :meth:`flush`. Thread-safe: a source may call it from its own thread.
    A ``report`` that raises is logged, never raised into the source (a progress line never breaks a fetch)."""

    def __init__(self, report: ProgressFn, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._report = report
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_at: float | None = None
        self._last_total: int | None = None
        self.pending: tuple[int, int | None] | None = None
        self.sent = 0  # calls passed on to ``report``

    def __call__(self, rows: int, total: int | None = None) -> None:
        now = self._clock()
        with self._lock:
            due = (self._last_at is None or now - self._last_at >= self.interval_s
                   or total != self._last_total)
            if not due:
                self.pending = (rows, total)
                return
            self._last_at, self._last_total, self.pending = now, total, None
        self._send(rows, total)

    def flush(self) -> None:
        """Send the update held back, if any."""
        with self._lock:
            held, self.pending = self.pending, None
            if held is not None:
                self._last_at, self._last_total = self._clock(), held[1]
        if held is not None:
            self._send(*held)

    def _send(self, rows: int, total: int | None) -> None:
        self.sent += 1
        try:
            self._report(rows, total)
        except Exception:  # broad: a progress line never breaks a fetch (logged with its traceback)
            log.debug("progress report failed", exc_info=True)


def page_progress(progress: ProgressFn) -> Callable[[int, int, int | None], None]:
    """A Resource Graph ``progress(pages, rows, total)`` callback (tui.core.arg.Progress) that tells ``progress``."""
    def tell(pages: int, rows: int, total: int | None) -> None:
        progress(rows, total)

    return tell
