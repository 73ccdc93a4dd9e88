"""VirtualTable: the Line-API table behind the recommendations/compliance panes (Pilot at 80x24, no timings)."""
from __future__ import annotations

import contextlib
import html
import re
from typing import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from widgets.virtual_table import Column, VirtualTable, layout_columns

N = 100_000

COLUMNS = [
    Column("sev", "SEV", 6, priority=9),
    Column("title", "TITLE", None, min_width=16, priority=10),
    Column("resource", "RESOURCE", 16, priority=4),
    Column("account", "ACCOUNT", 12, priority=8),
    Column("region", "REGION", 12, priority=2),
    Column("count", "COUNT", 6, priority=1, justify="right"),
]


def make_rows(n: int, prefix: str = "") -> tuple[list[tuple[object, ...]], list[str]]:
    rows: list[tuple[object, ...]] = [
        ("● High" if i % 3 == 0 else "● Low", f"{prefix}Security groups should not allow ingress {i}",
         f"sg-{i:08x}", "210987654321", "eu-west-1", i)
        for i in range(n)
    ]
    return rows, [f"key-{i}" for i in range(n)]


class Host(App[None]):
    def __init__(self, table: VirtualTable | None = None) -> None:
        super().__init__()
        self.table = table or VirtualTable(COLUMNS, id="table")
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_virtual_table_row_selected(self, message: VirtualTable.RowSelected) -> None:
        self.messages.append(message)

    def on_virtual_table_cursor_moved(self, message: VirtualTable.CursorMoved) -> None:
        self.messages.append(message)

    def on_virtual_table_sort_requested(self, message: VirtualTable.SortRequested) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list:
        return [m for m in self.messages if isinstance(m, kind)]


@contextlib.asynccontextmanager
async def loaded(n: int, size: tuple[int, int] = (80, 24)) -> AsyncIterator[tuple[Host, Pilot[None], VirtualTable]]:
    """A Host app on a terminal of ``size`` with ``n`` rows (make_rows) set and painted: (app, pilot, table)."""
    app = Host()
    rows, keys = make_rows(n)
    async with app.run_test(size=size) as pilot:
        app.table.set_rows(rows, keys)
        await pilot.pause()
        yield app, pilot, app.table


def screen_text(app: App) -> str:
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


_SVG_TEXT = re.compile(r'<text[^>]*? x="([\d.]+)"[^>]*?clip-path="url\(#terminal-\d+-line-(\d+)\)">([^<]*)</text>')
_CELL = 12.2  # Rich's SVG cell width (0.61 x font size 20)


def screen_lines(app: App) -> list[str]:
    """The screenshot as one string per terminal line (text runs placed by their x; blank runs are not in the SVG,
    so they come back as spaces)."""
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    for x, line, body in _SVG_TEXT.findall(app.export_screenshot()):
        col = round(float(x) / _CELL)
        for offset, ch in enumerate(html.unescape(body).replace("\xa0", " ").rstrip("\n")):
            if 0 <= col + offset < width and int(line) < height:
                grid[int(line)][col + offset] = ch
    return ["".join(row) for row in grid]


# ---------------------------------------------------------------------------------------------------------- layout


def test_layout_drops_lowest_priority_first_and_never_overflows() -> None:
    wide = layout_columns(COLUMNS, 120)
    assert [COLUMNS[i].key for i, _, _ in wide] == ["sev", "title", "resource", "account", "region", "count"]
    assert sum(w for _, _, w in wide) + len(wide) - 1 == 120  # the flexible TITLE takes the slack
    narrow = layout_columns(COLUMNS, 40)
    assert [COLUMNS[i].key for i, _, _ in narrow] == ["sev", "title", "account"]
    tiny = layout_columns(COLUMNS, 5)
    assert [(COLUMNS[i].key, w) for i, _, w in tiny] == [("title", 5)]


@settings(deadline=None)
@given(
    widths=st.lists(st.one_of(st.none(), st.integers(1, 30)), min_size=1, max_size=8),
    total=st.integers(1, 200),
    data=st.data(),
)
def test_layout_fits_any_width(widths: list[int | None], total: int, data: st.DataObject) -> None:
    cols = [Column(f"c{i}", f"L{i}", w, priority=data.draw(st.integers(0, 3))) for i, w in enumerate(widths)]
    out = layout_columns(cols, total)
    assert out, "at least one column is always shown"
    right = max(x + w for _, x, w in out)
    assert right <= total
    assert all(w >= 1 for _, _, w in out)
    xs = [x for _, x, _ in out]
    assert xs == sorted(xs)


# ---------------------------------------------------------------------------------------------------------- pilot


async def test_100k_rows_navigation_and_selection() -> None:
    app = Host()
    rows, keys = make_rows(N)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(rows, keys)
        await pilot.pause()
        assert table.row_count == N
        assert table.cursor_row == 0 and table.cursor_key == "key-0"
        assert table.has_focus
        first = screen_lines(app)
        assert "SEV" in first[0] and "TITLE" in first[0] and "COUNT" in first[0]
        assert first[1].startswith("▸") and "sg-00000000" in first[1]

        await pilot.press("down", "j", "j", "k")
        assert table.cursor_row == 2 and table.cursor_key == "key-2"
        page = table.page_size
        assert page == 23 - 0  # 24 lines minus the sticky header
        await pilot.press("pagedown")
        assert table.cursor_row == 2 + page
        assert table.scroll_offset.y == page
        await pilot.press("pageup")
        assert table.cursor_row == 2 and table.scroll_offset.y == 0

        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == N - 1 and table.cursor_key == f"key-{N - 1}"
        lines = screen_lines(app)
        assert "SEV" in lines[0]  # the header stays on top
        assert lines[-1].startswith("▸") and f"sg-{N - 1:08x}" in lines[-1] and lines[-1].rstrip().endswith("99999")
        await pilot.press("pagedown")  # already at the end: stays
        assert table.cursor_row == N - 1
        await pilot.press("g")
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
        await pilot.press("G")
        assert table.cursor_row == N - 1

        await pilot.press("enter")
        await pilot.pause()
        selected = app.of(VirtualTable.RowSelected)
        assert len(selected) == 1
        assert selected[0].key == f"key-{N - 1}" and selected[0].index == N - 1
        assert selected[0].row == rows[-1] and selected[0].table is table
        moved = app.of(VirtualTable.CursorMoved)
        assert moved[-1].key == f"key-{N - 1}" and moved[-1].index == N - 1


async def test_cursor_moves_repaint_only_the_cursor_lines() -> None:
    app = Host()
    rows, keys = make_rows(200)
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(rows, keys)
        await pilot.pause()
        await pilot.press("down", "down", "down")
        await pilot.pause()
        lines = screen_lines(app)
        marked = [n for n, line in enumerate(lines) if line.startswith("▸")]
        assert marked == [4]  # header + rows 0..2 above it; the old cursor lines were repainted without ▸
        assert "sg-00000003" in lines[4]


async def test_set_rows_keeps_the_cursor_on_its_key() -> None:
    app = Host()
    rows, keys = make_rows(1_000)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(rows, keys)
        await pilot.pause()
        await pilot.press("pagedown", *["down"] * 7)
        assert table.cursor_key == "key-30"
        line_before = table.cursor_row - table.scroll_offset.y

        # live refresh: 5 new rows on top, values changed; the cursor follows key-30 and stays on its screen line
        new_rows, new_keys = make_rows(1_000, prefix="NEW ")
        new_rows = [("● Low", "fresh", "sg-new", "1", "x", 0)] * 5 + new_rows
        new_keys = [f"fresh-{i}" for i in range(5)] + new_keys
        table.set_rows(new_rows, new_keys)
        await pilot.pause()
        assert table.cursor_key == "key-30" and table.cursor_row == 35
        assert table.cursor_row - table.scroll_offset.y == line_before
        assert table.get_row(35)[1] == "NEW Security groups should not allow ingress 30"
        text = screen_text(app)
        assert "NEW Security" in text  # nothing stale from the line cache
        assert app.of(VirtualTable.CursorMoved)[-1].key == "key-30"

        # the key disappears: the cursor keeps its index (clamped to the new rows)
        table.set_rows(new_rows[:10], new_keys[:10])
        await pilot.pause()
        assert table.row_count == 10 and table.cursor_row == 9 and table.cursor_key == new_keys[9]


async def test_narrow_width_drops_low_priority_columns_without_wrapping() -> None:
    async with loaded(50, size=(40, 12)) as (app, pilot, table):
        assert table.visible_columns == ["sev", "title", "account"]
        lines = screen_lines(app)
        assert len(lines) == 12
        header = lines[0].split()
        assert header[:3] == ["SEV", "TITLE", "ACCOUNT"] and "REGION" not in header and "COUNT" not in header
        assert all(len(line) == 40 for line in lines)
        assert "Security groups s… 210987654321" in lines[1]  # truncated with an ellipsis, not wrapped

        await pilot.resize_terminal(120, 24)
        await pilot.pause()
        assert table.visible_columns == [c.key for c in COLUMNS]
        assert "REGION" in screen_lines(app)[0]


async def test_empty_state_text() -> None:
    app = Host(VirtualTable(COLUMNS, empty_text="no rows match /sev:high"))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows([])
        await pilot.pause()
        assert table.row_count == 0 and table.cursor_key is None
        assert "no rows match /sev:high" in screen_text(app)
        await pilot.press("down", "end", "enter")  # harmless on an empty table
        assert app.of(VirtualTable.RowSelected) == []

        table.empty_text = "no AWS recommendations yet · r refresh"
        await pilot.pause()
        assert "no AWS recommendations yet · r refresh" in screen_text(app)

        rows, keys = make_rows(3)
        table.set_rows(rows, keys)
        await pilot.pause()
        assert "no AWS recommendations" not in screen_text(app)


async def test_sort_keys_request_and_indicator() -> None:
    app = Host()
    rows, keys = make_rows(10)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(rows, keys)
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        req = app.of(VirtualTable.SortRequested)
        assert [(m.column_key, m.descending) for m in req] == [("sev", False)]
        assert table.get_row(0) == rows[0]  # the table does not sort itself
        assert "▲" not in screen_lines(app)[0]  # nor shows an indicator before the data layer answers

        table.set_sort("sev", False)
        await pilot.pause()
        assert "SEV ▲" in screen_lines(app)[0]
        await pilot.press("s", "s", "S")
        await pilot.pause()
        req = app.of(VirtualTable.SortRequested)
        assert [(m.column_key, m.descending) for m in req[1:]] == [("title", False), ("resource", False),
                                                                   ("resource", True)]
        table.set_sort("resource", True)
        await pilot.pause()
        header = screen_lines(app)[0]
        assert "RESOURCE ▼" in header and "▲" not in header


async def test_styled_cells_and_control_characters() -> None:
    app = Host()
    rows = [(Text("✖ fail", style="bold"), "line one\nline two\ttabbed", "r", "a", "x", 1),
            (Text("very long styled severity"), "ok", "r", "a", "x", 2)]
    async with app.run_test(size=(80, 24)) as pilot:
        app.table.set_rows(rows)
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[1].startswith("▸✖ fail line one line two tab… r ")  # no wrap, no raw control characters
        assert "very …" in lines[2]  # a Text cell truncated to its 6 cells with an ellipsis
        assert app.table.cursor_key == 0  # without keys, the key is the index


async def test_click_moves_cursor_then_selects_and_header_click_requests_sort() -> None:
    async with loaded(40) as (app, pilot, table):
        await pilot.click(VirtualTable, offset=(20, 5))
        assert table.cursor_row == 4
        await pilot.click(VirtualTable, offset=(20, 5))
        await pilot.pause()
        assert [m.key for m in app.of(VirtualTable.RowSelected)] == ["key-4"]
        await pilot.click(VirtualTable, offset=(2, 0))
        await pilot.pause()
        assert [(m.column_key, m.descending) for m in app.of(VirtualTable.SortRequested)] == [("sev", False)]


# ---------------------------------------------------------------------------------------------------------- cursor_row


async def test_setting_cursor_row_clamps_scrolls_and_announces_each_real_change_once() -> None:
    async with loaded(1_000) as (app, pilot, table):
        app.messages.clear()
        page = table.page_size

        table.cursor_row = 500  # far below the view: scrolled so that it is the last visible row
        await pilot.pause()
        assert table.cursor_row == 500 and table.cursor_key == "key-500"
        assert table.scroll_offset.y == 500 - page + 1
        lines = screen_lines(app)
        assert [n for n, line in enumerate(lines) if line.startswith("▸")] == [page]
        assert "sg-000001f4" in lines[page]

        table.cursor_row = 500  # no-op: no message, no scroll
        table.cursor_row = 10  # above the view: scrolled so that it is the first row under the header
        await pilot.pause()
        assert table.scroll_offset.y == 10
        assert screen_lines(app)[1].startswith("▸") and "sg-0000000a" in screen_lines(app)[1]

        table.cursor_row = -5
        assert table.cursor_row == 0
        table.cursor_row = -1  # clamps to 0 again: a no-op
        table.cursor_row = 10**9
        assert table.cursor_row == 999 and table.cursor_key == "key-999"
        table.cursor_row = 5_000  # clamps to 999 again: a no-op
        await pilot.pause()
        assert table.scroll_offset.y == 1_000 - page
        moved = app.of(VirtualTable.CursorMoved)
        assert [(m.key, m.index) for m in moved] == [("key-500", 500), ("key-10", 10), ("key-0", 0),
                                                     ("key-999", 999)]
        assert all(m.table is table for m in moved)


async def test_cursor_row_on_an_empty_table_stays_0_and_is_silent() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows([])
        await pilot.pause()
        app.messages.clear()
        for value in (7, -3, 0):
            table.cursor_row = value
            assert table.cursor_row == 0 and table.cursor_key is None
        await pilot.pause()
        assert app.messages == []
        assert "no rows" in screen_text(app)


async def test_cursor_row_set_before_mount_is_shown_once_mounted() -> None:
    table = VirtualTable(COLUMNS)
    rows, keys = make_rows(300)
    table.set_rows(rows, keys)
    table.cursor_row = 250
    assert table.cursor_row == 250
    app = Host(table)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert table.cursor_row == 250
        assert table.scroll_offset.y <= 250 < table.scroll_offset.y + table.page_size
        assert any(line.startswith("▸") and "sg-000000fa" in line for line in screen_lines(app))


async def test_setting_cursor_row_repaints_only_the_two_cursor_lines() -> None:
    app = Host()
    rows, keys = make_rows(200)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(rows, keys)
        await pilot.pause()
        lines: list[int] = []
        full: list[dict] = []
        scrolls: list[object] = []
        refresh_line, refresh = table.refresh_line, table.refresh

        def spy_refresh(*regions, **kwargs):
            if not regions:
                full.append(kwargs)
            return refresh(*regions, **kwargs)

        def spy_refresh_line(y: int) -> None:
            lines.append(y)
            refresh_line(y)

        table.refresh = spy_refresh  # type: ignore[method-assign]
        table.refresh_line = spy_refresh_line  # type: ignore[method-assign]
        table.scroll_to = lambda *a, **k: scrolls.append((a, k))  # type: ignore[method-assign]
        table.cursor_row = 3
        assert lines == [1, 4]  # header + rows: row 0 is line 1, row 3 is line 4
        assert full == [] and scrolls == []  # no whole-widget repaint, no layout, no scroll
        del table.refresh, table.refresh_line, table.scroll_to
        await pilot.pause()
        marked = [n for n, line in enumerate(screen_lines(app)) if line.startswith("▸")]
        assert marked == [4]


async def test_move_cursor_to_the_same_row_scrolls_it_back_into_view() -> None:
    async with loaded(500) as (app, pilot, table):
        table.scroll_to(y=300, animate=False)  # the mouse wheel moves the view, not the cursor
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_offset.y == 300
        table.cursor_row = 0  # setting the same value is a no-op
        assert table.scroll_offset.y == 300
        table.move_cursor(0)  # move_cursor always shows the cursor
        await pilot.pause()
        assert table.scroll_offset.y == 0


class TwoTables(App[None]):
    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, id="one")
        yield VirtualTable(COLUMNS, id="two")


async def test_focus_and_blur_restyle_the_cursor_line() -> None:
    app = TwoTables()
    rows, keys = make_rows(20)
    async with app.run_test(size=(80, 24)) as pilot:
        one, two = app.query_one("#one", VirtualTable), app.query_one("#two", VirtualTable)
        one.set_rows(rows, keys)
        two.set_rows(rows, keys)
        await pilot.pause()
        assert one.has_focus and not two.has_focus

        def looks(table: VirtualTable) -> tuple[Style | None, Style | None]:
            cursor = next(iter(table.render_line(1)))  # the cursor row (row 0) under the header
            other = next(iter(table.render_line(2)))
            return cursor.style, other.style

        focused, plain = looks(one)
        blurred, plain_blurred = looks(two)
        assert focused is not None and blurred is not None and focused.bgcolor != blurred.bgcolor
        assert plain == plain_blurred  # only the cursor line depends on focus

        await pilot.press("tab")
        await pilot.pause()
        assert two.has_focus and not one.has_focus
        assert looks(one) == (blurred, plain)  # nothing stale from the line cache
        assert looks(two) == (focused, plain)
        await pilot.press("shift+tab")
        await pilot.pause()
        assert looks(one) == (focused, plain) and looks(two) == (blurred, plain)
