"""The dashboard's first frame (issue 15, make bench row 1): what is mounted before it, what right after it, and that
the shortcuts taken for it lose nothing. No timing here (figures live in `make bench`): structure only.

- Only the top bar, the tabs and the active pane are mounted before the first frame; the other panes (in their grid
  order), the `:` line, the footer and each pane's filter line right after it (DashboardScreen._mount_rest,
  widgets.pane.mount_later), and a late mount into a node that is gone is skipped quietly.
- The first time the dashboard is shown, Textual's full restyle of the screen is skipped (every widget was styled
  as it mounted): the styles then are exactly what a full restyle gives.
"""
from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Container
from textual.widget import MountError
from textual.widgets import Footer, Input, Static

from tests.test_collect import FakeAws, FakeAzure
from tui.app import MdcApp
from tui.core import codec
from tui.core.collect import Collector
from tui.core.history import History
from tui.render.cache import VIEW_FORMAT, text_to_plain
from tui.render.commands import VIEW_NAMES
from tui.screens.dashboard import GRID_ORDER, DashboardScreen
from widgets.pane import Pane, mount_later


def _text(app: App[Any]) -> str:
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


async def _history_with_a_view(tmp_path: Any) -> History:
    """A history whose latest snapshot has a cached view (what the next start paints its first frame from)."""
    from rich.text import Text

    h = History.in_dir(tmp_path)
    snap = await Collector(FakeAzure(), FakeAws()).collect()
    h.save(snap)
    t = snap.generated_at
    items = [(f"{n:012d}", (f"{n:012d}", f"acct-{n}", Text("▲ stale-thing", style="yellow")), {"account": str(n)},
              f"{n:012d} acct-{n}") for n in range(1, 31)]
    view = {"generated_at": t, "scope": "tenant test · 1 subs · 30 AWS accounts",
            "panes": {"accounts": {"items": items, "state": ("ok", t, None), "summary": None},
                      "plans": {"items": items[:3], "state": ("ok", t, None), "summary": None}}}
    h.save_view(t, VIEW_FORMAT, codec.dumps(view, ext=text_to_plain))
    return h


def _styles(node: Any) -> list[tuple[str, str]]:
    """Every node's computed styles (its own rules and its component classes') under ``node``, as text."""
    out = []
    for n in [node, *node.walk_children(with_self=False)]:
        comp = sorted((k, v.css) for k, v in getattr(n, "_component_styles", {}).items())
        out.append((repr(n), f"{n.styles.css}|{comp}|{n.rich_style}"))
    return out


class FirstFrameApp(MdcApp):
    """Notes, at the first frame handed to the driver, what was mounted and its styles, then what a full restyle
    of the screen would give."""

    CSS_PATH = str(Path(__file__).resolve().parent.parent / "tui" / MdcApp.CSS_PATH)  # relative: to this module

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.first: dict[str, Any] = {}

    def _display(self, screen: Any, renderable: Any) -> None:  # type: ignore[override]
        super()._display(screen, renderable)
        if renderable is None or self._batch_count or self.first or screen is not self.dashboard:
            return
        dash = self.dashboard
        self.first = {
            "panes": [p.id for p in dash.query_one("#panes").children],
            "cmdline": bool(dash.query("#cmdline")), "footer": bool(dash.query(Footer)),
            "filters": len(dash.query(".pane--filter")), "screen": _text(self),
            "styles": _styles(dash),
        }
        dash.update_node_styles(animate=False)  # what the skipped restyle would have made of every node
        self.first["restyled"] = _styles(dash)


async def test_the_first_frame_mounts_only_the_active_pane_then_the_rest(tmp_path) -> None:
    h = await _history_with_a_view(tmp_path)
    never = threading.Event()
    app = FirstFrameApp(refresh_s=600, history=h, service_factory=lambda s, start: never.wait(20))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(40):
                await pilot.pause(0.05)
                if app.first and app.dashboard.query(Footer) and len(app.dashboard.query(".pane--filter")) == 5:
                    break
            first = app.first
            # the first frame: the cached rows, from the active pane alone
            assert first["panes"] == ["pane-accounts"]
            assert not first["cmdline"] and not first["footer"] and first["filters"] == 0
            assert "000000000001" in first["screen"] and "stale" in first["screen"]
            # right after it: every pane in its grid order, the `:` line, the footer (with its keys), filter lines
            dash = app.dashboard
            assert [p.id for p in dash.query_one("#panes").children] == [f"pane-{n}" for n in GRID_ORDER]
            assert [type(w).__name__ for w in dash.children][-2:] == ["Input", "Footer"]
            assert all(isinstance(p.filter_input(), Input) for p in dash.query(Pane))
            await pilot.pause(0.1)
            assert "Filter" in _text(app) and "Jump" in _text(app)  # the footer drew the dashboard's keys
            # and they work: `:` opens the line, a view switches panes, `/` opens the active pane's filter
            await pilot.press("colon", *"plans", "enter")
            await pilot.pause()
            assert dash.active == "plans" and dash.pane("plans").has_class("-active")
            await pilot.press("slash")
            await pilot.pause()
            assert dash.pane("plans").filter_input().has_class("-shown")  # type: ignore[union-attr]
    finally:
        never.set()


async def test_skipping_the_first_restyle_loses_nothing(tmp_path) -> None:
    h = await _history_with_a_view(tmp_path)
    never = threading.Event()
    for size in ((80, 24), (160, 50)):  # one pane, and the wide grid
        app = FirstFrameApp(refresh_s=600, history=h, service_factory=lambda s, start: never.wait(20))
        try:
            async with app.run_test(size=size) as pilot:
                for _ in range(40):
                    await pilot.pause(0.05)
                    if app.first:
                        break
                assert app.dashboard._resumed  # the first resume was seen (and its restyle skipped)
                assert app.first["styles"] == app.first["restyled"]
                # later resumes restyle as textual does: a modal over the dashboard, then back
                await pilot.press("question_mark")
                await pilot.pause()
                await pilot.press("escape")
                await pilot.pause()
                assert app.screen is app.dashboard
        finally:
            never.set()


def test_the_tabs_follow_the_views_order() -> None:
    """The tabs are drawn from the dashboard's panes in their order (tui.render.commands is not imported before the
    first frame): that order is the views' (1-5, `:` names)."""
    assert tuple(DashboardScreen()._panes) == VIEW_NAMES


class _Refusing(Container):
    """A node that refuses mounts, as one being torn down while the app quits does (MountError)."""

    def mount(self, *widgets: Any, **kw: Any) -> Any:
        if any(w.id == "later" for w in widgets):
            raise MountError(f"Can't mount widget(s) before {self!r} is mounted")
        return super().mount(*widgets, **kw)


async def test_a_late_mount_is_done_after_the_frame_or_skipped_when_its_node_is_gone() -> None:
    calls: list[str] = []

    class Later(App[None]):
        def compose(self) -> ComposeResult:
            yield Container(id="ok")
            yield _Refusing(id="refusing")
            yield Container(id="gone")

        def on_mount(self) -> None:
            ok, refusing, gone = (self.query_one(f"#{n}", Container) for n in ("ok", "refusing", "gone"))
            mount_later(ok, lambda: calls.append("ok") or ok.mount(Static("later", id="later")))
            mount_later(refusing, lambda: calls.append("refusing") or refusing.mount(Static("x", id="later")))
            mount_later(gone, lambda: calls.append("gone"))
            gone.remove()  # gone before the frame: its late mount never runs

    app = Later()
    async with app.run_test() as pilot:
        for _ in range(3):
            await pilot.pause()
        assert app.query_one("#ok").query_one("#later", Static)
    assert sorted(calls) == ["ok", "refusing"] and app._exception is None
