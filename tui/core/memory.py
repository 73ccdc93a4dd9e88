"""Resident memory: what the dashboard and the collector do so that 100k rows cost what they hold, not more.

The whole policy is one object, :class:`MemoryPolicy`; ``POLICY`` is this process's. Who calls what:

=====================  ==========================================  =============================================
call                   when                                        who
=====================  ==========================================  =============================================
``prepare()``          at start, before threads that allocate      the dashboard's boot, the collector's ``main``
``child_env(env)``     when starting the collector process         :mod:`tui.core.procservice`
``hold()``             while one answer of the collector decodes   :mod:`tui.core.procservice` (reader thread)
``refreeze()``         after each load has been drawn              the dashboard (``MdcApp``)
``trim()``             after a swap of rows (the old ones died)    the dashboard (in a worker thread)
``idle_collect()``     after each answer the collector sent        :mod:`tui.core.servicehost`
``should_retire(mb)``  when the collector says it is idle at mb    :mod:`tui.core.procservice`
=====================  ==========================================  =============================================

Module-level helpers that the policy uses (and that work alone): ``limit_arenas``, ``fix_mmap_threshold``,
``trim``, ``rss_mb``.
Importing this module is cheap (it is imported on the dashboard's first frame): no ctypes, no gc work; the C
library is opened on the first ``prepare()``/``trim()``. Never imports textual or rich.
"""
from __future__ import annotations

import contextlib
import enum
import functools
import gc
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any, Final, Literal

M_ARENA_MAX = -8  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3

ARENAS = 2  # malloc heaps per process (glibc's default: up to 8 per core)
# Blocks from this size up get their own mapping, given back to the system when freed. glibc starts at 128 KiB but
# raises it (up to 32 MiB) each time such a block is freed; fixed here, so the large transient buffers of a refresh
# (the history's JSON text, pickled messages, sort orders) never stay in a heap after they die.
MMAP_THRESHOLD = 128 * 1024

# A decode that says it made fewer long-lived objects than this is not followed by a freeze (MemoryPolicy.hold):
# a refresh whose rows are the previous answer's objects makes none; a first load 2048 rows a message.
FREEZE_MIN = 500


class Hold:
    """What a decode under :meth:`MemoryPolicy.hold` made: ``made`` long-lived objects the garbage collector
    tracks (rows), None when it cannot say (then it is frozen after, as any large decode)."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made: int | None = None

# An idle collector holding more than this is retired and started afresh on the next call. A fresh child holds
# ~25 MB; one that collected the default estate (and streamed its recommendations) idled at ~95-110 MB, and at
# ~120-130 MB in the dashboard since issue 13 (the set-up reads load the IAM, CloudFormation, Organizations,
# CloudTrail, S3, RDS and EKS models and clients; measured in tests/test_app_pilot's session, 127 MB); one that
# collected the large estate (200 accounts) at ~130 MB before them, ~170-180 MB once it also streamed its 123k
# recommendations, one that only streamed them at ~80 MB (Linux, glibc, Python 3.11; measured by make bench).
MAX_CHILD_MB = 150.0


class _Default(enum.Enum):
    POLICY = "the policy's"


# "not given: the policy's own value" (``None`` already means "never retire"), and its type
POLICY_DEFAULT: Final = _Default.POLICY
Default = Literal[_Default.POLICY]


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


def limit_arenas(n: int = ARENAS) -> bool:
    """At most ``n`` malloc heaps for this process's threads; True when applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, int(n)))


def fix_mmap_threshold(n: int = MMAP_THRESHOLD) -> bool:
    """Blocks of ``n`` bytes and more in their own mappings, for good (glibc's threshold no longer moves); True
    when applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, int(n)))


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


class MemoryPolicy:
    """Everything the dashboard and its collector process do about memory, and why.

    **Arenas are capped** (``prepare``, ``child_env``). glibc gives each thread that allocates its own heap (up to
    8 per core) and keeps what was freed in it, and at the top of each heap. A process that decodes 100k rows on
    one thread and draws on another, or a collector running a dozen SDK threads, ends up with ~100 MB resident
    that it never uses again (measured by ``make bench``). So each process allows ``arenas`` heaps: ``prepare()``
    before the threads that allocate start (the dashboard's boot, the collector's ``main``), and the collector is
    also started with ``MALLOC_ARENA_MAX`` in its environment. Nothing happens where the C library is not glibc.

    **Large blocks are mapped on their own** (``prepare``, ``child_env``: ``mmap_threshold``). glibc serves a
    block of 128 KiB and more from its own mapping, which goes back to the system when freed, but each such free
    raises that threshold (up to 32 MiB): after the first few, a refresh's large transient buffers (the history's
    11 MB JSON text of the large estate and its parts, pickled messages, sort orders) come from a heap and stay
    resident after they die, ~20-40 MB in the collector at the end of a collection. Setting the threshold fixes it.

    **Memory is handed back** (``trim``). After a swap of rows the old ones are freed, but glibc keeps the pages;
    ``trim()`` (``malloc_trim``, a few ms) returns them. The dashboard calls it off the UI loop after the
    recommendations are replaced.

    **Decoding holds the collector off, then freezes** (``hold``). Decoding the collector's answer makes 100k
    long-lived, acyclic objects. Left to the cyclic collector, each full collection along the way walks all of
    them with the GIL held: 80-150 ms stalls of the UI, ~1 s per refresh of the large estate. So while a message
    decodes automatic collection is off (a counted hold: several reader threads may decode at once; collection
    comes back when the last one is done). When the last hold ends the young generations are collected (cheap:
    only what is new) and everything left is moved out of the collector's reach (``gc.freeze``); but not when
    the decoding said (``Hold.made``) it made fewer than ``freeze_min`` long-lived objects: a refresh whose rows
    are the previous answer's objects makes none, and each freeze also catches what the UI holds at that moment
    and drops later in a cycle (frames, events), kept until the next refreeze: one freeze per message, ~60 a
    refresh of the large estate, kept ~85k such objects, ~11 MB of the dashboard's RSS. Reference
    counting still frees the rows when the next refresh replaces them.

    **The UI refreezes after each load, unfreezing first** (``refreeze``). After each load has been drawn the
    dashboard moves what is alive out of the collector's reach, so its full collections never walk 100k rows while
    keys arrive. But a freeze keeps whatever it catches until an unfreeze: garbage cycles of that moment, and every
    object alive then that later dies in a cycle (Strips of the line caches, Footer keys, workers, timers,
    messages, and what ``hold`` froze). Freezing at each load without ever collecting those grew the dashboard by
    ~30 MB a minute at a 5 s refresh. So each refreeze first releases the last freeze and collects everything
    (``gc.unfreeze``, ``gc.collect``: one full collection per load, ~0.1-0.3 s at 100k+ rows), then freezes:
    what a freeze catches lives at most until the next load. The dashboard schedules it once per drawn load.

    **The collector collects after each answer** (``idle_collect``). The collector process makes a lot of
    short-lived garbage (boto3 clients, botocore parsing, 1000-row pages): after each answer it sent (or failed)
    it runs a full collection and trims, so the heap's holes from parsing go back to the system.

    **A collector that grew too big is retired** (``should_retire``, ``max_child_mb``). Each time the collector
    has nothing left to do it says how much it holds; past ``max_child_mb`` (``MAX_CHILD_MB``, 150 MB by default)
    the dashboard asks it to exit and starts a fresh one (~25 MB) from the last snapshot on the next call, as
    celery's ``worker_max_memory_per_child`` does: after a refresh of a large estate the SDKs' models, clients
    and a fragmented heap kept ~130-180 MB that the process only needs again at the next refresh. ``None``
    never retires it. A :class:`~tui.core.procservice.ProcessService` may pass its own limit.
    """

    def __init__(self, *, arenas: int = ARENAS, max_child_mb: float | None = MAX_CHILD_MB,
                 mmap_threshold: int | None = MMAP_THRESHOLD, freeze_min: int = FREEZE_MIN) -> None:
        self.arenas = arenas
        self.mmap_threshold = mmap_threshold  # None: glibc's own (moving) threshold
        self.max_child_mb = max_child_mb  # None: never retire the collector for its size
        self._lock = threading.Lock()
        self._holds = 0
        self._was_enabled = False
        self._freeze_due = False  # a hold since the last freeze made (or may have made) many objects
        self.freeze_min = freeze_min

    # -- arenas and trimming ------------------------------------------------------------------------------------

    def prepare(self) -> bool:
        """Cap this process's malloc heaps at ``arenas`` and fix its mmap threshold: call before the threads that
        allocate start. True when applied (glibc)."""
        capped = limit_arenas(self.arenas)
        if self.mmap_threshold is not None:
            fix_mmap_threshold(self.mmap_threshold)
        return capped

    def child_env(self, env: MutableMapping[str, str]) -> MutableMapping[str, str]:
        """``env`` for a child process, with its heaps capped and its mmap threshold fixed from its start (unless
        it says otherwise)."""
        env.setdefault("MALLOC_ARENA_MAX", str(self.arenas))
        if self.mmap_threshold is not None:
            env.setdefault("MALLOC_MMAP_THRESHOLD_", str(self.mmap_threshold))  # glibc's name ends with "_"
        return env

    def trim(self) -> bool:
        """Hand free heap memory back to the system (after a swap of rows); True when some was."""
        return trim()

    # -- the cyclic collector -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self) -> Iterator[Hold]:
        """Automatic collection off while the body runs (one answer decodes); when the last hold of any thread
        ends, the young generations are collected and what is left is frozen, unless every hold since the last
        freeze said (``Hold.made``) it made fewer than ``freeze_min`` long-lived objects. Nothing happens at the
        end when collection was already off when the first hold began."""
        h = Hold()
        with self._lock:
            if self._holds == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holds += 1
        try:
            yield h
        finally:
            with self._lock:
                self._holds -= 1
                if h.made is None or h.made >= self.freeze_min:
                    self._freeze_due = True
                if self._holds == 0 and self._was_enabled:
                    if self._freeze_due:
                        gc.collect(1)
                        gc.freeze()
                    self._freeze_due = False
                    gc.enable()

    def refreeze(self) -> None:
        """After a load has been drawn: release the last freeze, collect everything, freeze what is alive."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def idle_collect(self) -> None:
        """After an answer of the collector process: collect its garbage and give the freed memory back."""
        gc.collect()
        trim()

    # -- retiring the collector process -------------------------------------------------------------------------

    def should_retire(self, rss_mb: object,
                      limit: float | Default | None = POLICY_DEFAULT) -> bool:
        """An idle collector holding ``rss_mb`` MB is retired: past ``limit`` (the policy's ``max_child_mb``
        unless given; ``None`` never). Anything but a number (the child could not say) never retires it."""
        if limit is POLICY_DEFAULT:
            limit = self.max_child_mb
        if limit is None or not isinstance(rss_mb, (int, float)):
            return False
        return rss_mb > limit


POLICY: Final = MemoryPolicy()  # this process's
