"""The dashboard leaves nothing behind on a pane switch or a refresh: objects counted, not time or RSS.

Two leaks grew a dashboard left open by ~30 MB a minute (`mdc-aws --demo --refresh 5`, keys every 2 s):
- every pane switch recomposed the Footer, whose stock widget kept each FooterKey it ever made in its own watcher
  list (Textual issue #6666): ~18 dead widgets, ~2,500 objects per switch (widgets/footer.py);
- every load froze everything alive (gc.freeze) and nothing ever unfroze it while keys came: garbage cycles of that
  moment, and each object alive then that later died in a cycle (Strips of the line caches, workers, timers), were
  kept for good (now each refreeze unfreezes and collects first: tui.core.memory.MemoryPolicy.refreeze).

Counted here: the objects the cyclic collector tracks, frozen ones included (a leak into the frozen generation is
invisible to gc.get_objects()), after a collection, once warmed up and again after many more switches/refreshes.
"""
from __future__ import annotations

import gc
from collections import Counter

from tests.test_app_pilot import FakeService, make_app

SWITCHES = 50  # measured window: 10 rounds of 1-5
REFRESHES = 10
# Allowed growth over a whole window (caches that fill up slowly, a toast, a timer in flight). The leaks above
# were ~2,500 objects per switch and several thousand per refresh: hundreds of times this.
BOUND_SWITCHES = 1500
BOUND_REFRESHES = 1500


def tracked_objects() -> tuple[int, Counter[str]]:
    """Objects the cyclic GC tracks after a collection (of what is not frozen): the unfrozen ones by type, and the
    total with the frozen generation (whose garbage a collection cannot free)."""
    gc.collect()
    objs = gc.get_objects()
    by_type = Counter(type(o).__qualname__ for o in objs)
    n = len(objs) + gc.get_freeze_count()
    del objs
    return n, by_type


def growth(before: Counter[str], after: Counter[str]) -> str:
    return ", ".join(f"{k} +{v}" for k, v in (after - before).most_common(8))


async def settle_refresh(pilot, app, svc: FakeService, collects: int, recs_calls: int) -> None:
    for _ in range(400):
        await pilot.pause(0.02)
        if (svc.collects > collects and svc.recs_calls > recs_calls and not app.collecting
                and not any(not w.is_finished for w in app.workers)
                and not getattr(app, "_refreeze_pending", False)):
            break
    else:
        raise AssertionError("the refresh did not finish")
    await pilot.pause()
    await pilot.pause()


async def refresh(pilot, app, svc: FakeService) -> None:
    """What the refresh timer (and `r`, without its toast) does: a collection and the recommendations fetch."""
    collects, recs_calls = svc.collects, svc.recs_calls
    app.refresh_data()
    await settle_refresh(pilot, app, svc, collects, recs_calls)


async def switch_round(pilot) -> None:
    for key in "12345":
        await pilot.press(key)
        await pilot.pause()


async def test_pane_switches_and_refreshes_leave_no_objects_behind() -> None:
    svc = FakeService()
    app = make_app(svc, refresh_s=3600)  # refreshes driven here, one at a time
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(400):
            await pilot.pause(0.02)
            if app.dashboard.pane("recs").state == "ok" and not app.collecting and not any(
                    not w.is_finished for w in app.workers):
                break
        # warm-up: every pane drawn many times, a few refreshes (caches and lazily made widgets settle; Textual's
        # query cache of the app, 1,024 entries keyed by a DOM counter, fills by a few objects a switch until full)
        for _ in range(6):
            await switch_round(pilot)
        for _ in range(3):
            await refresh(pilot, app, svc)
        for _ in range(6):
            await switch_round(pilot)
        # every count is taken just after a refresh (the same point of the app's cycle: a load has just frozen what
        # is alive, and released what the previous freeze held), with the same pane active
        await refresh(pilot, app, svc)
        n0, t0 = tracked_objects()

        for _ in range(SWITCHES // 5):
            await switch_round(pilot)
        await refresh(pilot, app, svc)
        n1, t1 = tracked_objects()
        assert n1 - n0 <= BOUND_SWITCHES, (
            f"{SWITCHES} pane switches left {n1 - n0} objects behind ({n0} -> {n1}): {growth(t0, t1)}")

        for i in range(REFRESHES):
            await pilot.press("12345"[i % 5])  # keys between refreshes, as an operator's (pane 5 active at the end)
            await refresh(pilot, app, svc)
        n2, t2 = tracked_objects()
        assert n2 - n1 <= BOUND_REFRESHES, (
            f"{REFRESHES} refreshes left {n2 - n1} objects behind ({n1} -> {n2}): {growth(t1, t2)}")
