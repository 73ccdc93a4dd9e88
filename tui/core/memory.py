"""Resident memory: what the dashboard and the collector do so that 100k rows cost what they hold, not more.

glibc keeps freed memory in per-thread heaps (up to 8 per core) and at the top of each heap; a process that
decodes 100k rows on one thread and draws on another ends up with 100+ MB resident that it never uses again.
``limit_arenas`` caps the heaps (call it before threads start), ``trim`` hands free memory back after a big
swap of data. Both do nothing where the C library is not glibc. ``rss_mb`` reads what a process holds (Linux).
Never imports textual or rich.
"""
from __future__ import annotations

import functools
import sys
from typing import Any

M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at import: ctypes costs ~3 ms of the dashboard's start-up
    import ctypes.util

    try:
        try:
            libc = ctypes.CDLL("libc.so.6")  # glibc's soname; find_library runs `ldconfig -p` (~10 ms at start-up)
        except OSError:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc heaps for this process's threads; True when applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, int(n)))


def trim() -> bool:
    """Give free heap memory back to the system; True when some was."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process in MB (VmRSS), or None where /proc does not say (not Linux, process gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
