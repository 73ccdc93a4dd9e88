"""The process-wide policy every onboarding request obeys: read-only and the sealed demo, set once by the CLI.

    policy.configure(read_only=True, demo=False)   # the CLI, before any screen or command runs
    policy.check_writes(writes)                    # tui.core.onboarding.writes, before anything is sent
    policy.check_send(settings)                    # the same, where the clients are made (nothing bypasses it)
    policy.check_reads(settings, "the doctor")     # every onboarding read (doctor, caller identity, checks)

`configure` only tightens: once read-only or demo is on, nothing in the process turns it off (a screen, a flag
passed to `execute_write`, `set_read_only(False)`). In a demo run every request must go to the emulated estate on
127.0.0.1 with its demo token (tui.core.demo.check); before the estate is ready nothing is sent at all.

Never imports textual or rich.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

from . import demo as _demo
from .errors import SourceError


@dataclass(frozen=True)
class Policy:
    read_only: bool = False
    demo: bool = False


class ReadOnlyError(SourceError):
    """Raised instead of sending a write in read-only mode. Nothing was sent."""

    def __init__(self, summary: str) -> None:
        super().__init__(f"read-only mode: not sent ({summary}); run without --read-only to make changes",
                         kind="usage")
        self.summary = summary


_lock = threading.Lock()
_current = Policy()


def configure(*, read_only: bool = False, demo: bool = False) -> Policy:
    """Turn read-only and/or the sealed demo on for this process (the CLI, once, first). Never turns either off."""
    global _current
    with _lock:
        _current = Policy(read_only=_current.read_only or bool(read_only), demo=_current.demo or bool(demo))
        return _current


def current() -> Policy:
    return _current


def read_only() -> bool:
    return _current.read_only


def demo() -> bool:
    return _current.demo


def reset_for_tests() -> None:
    """Tests only: back to the default policy (read-write, not a demo) and no estate state."""
    global _current
    with _lock:
        _current = Policy()
    _demo.reset()


def check_reads(settings: Any, what: str) -> None:
    """Before an onboarding read: refuse a demo's placeholders (the estate is starting or failed: a clear message)
    and, in a demo run, anything that is not the emulated estate on loopback."""
    _demo.check(settings, what, enforce=_current.demo)


def check_send(settings: Any, what: str = "this request") -> None:
    """Where a write's clients are made: read-only refuses; so does what check_reads refuses."""
    if _current.read_only:
        raise ReadOnlyError(what)
    if settings is None:
        raise SourceError("a PlannedWrite without settings cannot be sent", kind="usage")
    _demo.check(settings, what, enforce=_current.demo)


def check_writes(writes: Sequence[Any], *, read_only: bool = False) -> None:
    """Before any of `writes` is sent (all or nothing): read-only (this process's, or `read_only=True` of the caller:
    a caller can only add it) raises ReadOnlyError; a demo refuses placeholders, non-loopback targets and anything
    but the estate's credentials."""
    summary = "; ".join(str(getattr(w, "summary", "")) for w in writes) or "nothing"
    if read_only or _current.read_only:
        raise ReadOnlyError(summary)
    for w in writes:
        what = str(getattr(w, "summary", "") or "a write")
        settings = getattr(w, "settings", None)
        if settings is None:
            continue  # refused where it would be sent: "a PlannedWrite without settings cannot be sent"
        _demo.check(settings, what, enforce=_current.demo)
        target = str(getattr(w, "target", ""))
        if _current.demo and "://" in target and not _demo.is_loopback_url(target):
            raise SourceError(f"{what}: refused in a demo run ({target.split('?')[0]} is not loopback)", kind="usage")
