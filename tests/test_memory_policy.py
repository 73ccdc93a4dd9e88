"""The memory policy's decisions (tui.core.memory.MemoryPolicy), without processes: when the collector is retired,
the decode-time GC hold across threads, the UI's refreeze, and a cheap import."""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.core import memory
from tui.core.memory import POLICY, MemoryPolicy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _gc_as_found() -> Iterator[None]:
    """Each test leaves the collector on and nothing frozen (other tests count tracked objects)."""
    assert gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable()


def test_one_policy_per_process_with_the_documented_defaults() -> None:
    assert isinstance(POLICY, MemoryPolicy) and memory.POLICY is POLICY
    assert POLICY.max_child_mb == memory.MAX_CHILD_MB == 150.0
    assert POLICY.arenas == memory.ARENAS == 2


@pytest.mark.parametrize(("rss", "retire"), [(119.9, False), (120, False), (120.0, False), (120.1, True),
                                             (500, True), (0.0, False)])
def test_should_retire_past_the_limit_only(rss: float, retire: bool) -> None:
    assert MemoryPolicy(max_child_mb=120.0).should_retire(rss) is retire


def test_should_retire_never_without_a_limit_or_a_number() -> None:
    off = MemoryPolicy(max_child_mb=None)
    assert not off.should_retire(10_000.0)
    on = MemoryPolicy(max_child_mb=100.0)
    for said in (None, "500", [500], object()):  # the child could not say (not Linux, /proc gone)
        assert not on.should_retire(said)


def test_a_limit_given_overrides_the_policys() -> None:
    p = MemoryPolicy(max_child_mb=100.0)
    assert p.should_retire(150.0)
    assert not p.should_retire(150.0, 200.0)
    assert p.should_retire(50.0, 40.0)
    assert not p.should_retire(10_000.0, None)  # None: never, whatever the policy says
    assert p.should_retire(150.0, memory.POLICY_DEFAULT)


def test_hold_nests_in_one_thread_and_freezes_at_the_end() -> None:
    p = MemoryPolicy()
    before = gc.get_freeze_count()
    with p.hold():
        assert not gc.isenabled()
        with p.hold():
            keep = [[i] for i in range(1000)]  # tracked objects made while held
        assert not gc.isenabled()
        assert gc.get_freeze_count() == before  # nothing frozen before the last hold ends
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(keep)


def test_hold_from_two_threads_keeps_gc_off_until_the_last_exits_then_freezes() -> None:
    p = MemoryPolicy()
    before = gc.get_freeze_count()
    a_in, b_in, a_out, b_may_exit, b_out = (threading.Event() for _ in range(5))
    made: list[list[list[int]]] = []
    errors: list[BaseException] = []

    def a() -> None:
        try:
            with p.hold():
                a_in.set()
                b_in.wait(10)
                made.append([[i] for i in range(1000)])
        except BaseException as e:  # noqa: BLE001 - whatever failed in the thread fails the test below
            errors.append(e)
        a_out.set()

    def b() -> None:
        try:
            a_in.wait(10)
            with p.hold():
                b_in.set()
                b_may_exit.wait(10)
                made.append([[i] for i in range(1000)])
        except BaseException as e:  # noqa: BLE001 - whatever failed in the thread fails the test below
            errors.append(e)
        b_out.set()

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start()
    tb.start()
    assert b_in.wait(10) and a_out.wait(10)
    # the first hold is over, the second one is not: still off, nothing frozen yet
    assert not gc.isenabled()
    assert gc.get_freeze_count() == before
    b_may_exit.set()
    assert b_out.wait(10)
    ta.join(10)
    tb.join(10)
    assert not errors
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + 2000  # what both made is out of the collector's reach


def test_hold_leaves_a_disabled_collector_alone() -> None:
    p = MemoryPolicy()
    before = gc.get_freeze_count()
    gc.disable()
    try:
        with p.hold():
            keep = [[i] for i in range(100)]
        assert not gc.isenabled() and gc.get_freeze_count() == before and len(keep) == 100
    finally:
        gc.enable()


def test_hold_ends_on_an_exception_too() -> None:
    p = MemoryPolicy()
    with pytest.raises(KeyError), p.hold():
        raise KeyError("decode failed")
    assert gc.isenabled()
    with p.hold():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_refreeze_leaves_gc_enabled_and_freezes_what_is_alive() -> None:
    keep = [[i] for i in range(500)]
    POLICY.refreeze()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(keep)


def test_refreeze_releases_the_last_freeze_first() -> None:
    """What dies in a cycle after a freeze is collected by the next refreeze, not kept for good (loads that only
    froze grew the dashboard by ~30 MB a minute)."""

    class Node:
        me: object = None

    n = Node()
    n.me = n  # a cycle: only the cyclic collector frees it
    alive = weakref.ref(n)
    POLICY.refreeze()  # n is alive: frozen
    del n  # garbage now, in the frozen generation
    gc.collect()
    assert alive() is not None  # a collection cannot reach what is frozen
    POLICY.refreeze()
    assert alive() is None


def test_idle_collect_and_trim_run_anywhere() -> None:
    POLICY.idle_collect()
    assert isinstance(POLICY.trim(), bool)
    assert gc.isenabled()


def test_child_env_caps_the_heaps_unless_the_environment_says_otherwise() -> None:
    assert POLICY.child_env({})["MALLOC_ARENA_MAX"] == "2"
    assert POLICY.child_env({"MALLOC_ARENA_MAX": "4"})["MALLOC_ARENA_MAX"] == "4"
    assert MemoryPolicy(arenas=3).child_env({})["MALLOC_ARENA_MAX"] == "3"


def test_importing_the_policy_is_cheap() -> None:
    """tui.core.memory is imported on the dashboard's first frame: no ctypes, and no gc work (nothing frozen)."""
    code = ("import gc, sys; import tui.core.memory as mm; "
            "assert 'ctypes' not in sys.modules, 'ctypes'; assert gc.get_freeze_count() == 0; "
            "assert gc.isenabled(); mm.POLICY.prepare(); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
