"""A Line-API table for big row sets (recommendations, compliance): 100k rows set and painted in milliseconds.

Why not the stock ``DataTable``: it measures every cell of every new row to size its columns (100k rows → a
~25 s event-loop freeze, see design/TEXTUAL-NOTES.md §3). This table never measures cells: column widths come from
the :class:`Column` spec and the widget width; only the visible lines are rendered (``render_line``), and rendered
lines are kept in an LRU cache that is invalidated precisely (all lines on new rows/size/theme, two lines on a
cursor move).

Data in, messages out: the table shows plain row tuples (cells are ``str``/numbers/``None`` or ``rich.text.Text``
for styled cells) and posts :class:`VirtualTable.CursorMoved`, :class:`VirtualTable.RowSelected` and
:class:`VirtualTable.SortRequested`. It does not sort or filter: the data layer (``tui.core.tablequery``) does
that and calls :meth:`VirtualTable.set_rows` / :meth:`VirtualTable.set_sort`. The cursor is a reactive,
:attr:`VirtualTable.cursor_row` (validated: clamped to the rows; watched: scrolled into view, repainted, announced),
as ``cursor_coordinate`` is in Textual's own ``DataTable``: any code may set it.

Keys: ``up``/``k``, ``down``/``j``, ``pageup``/``ctrl+b``, ``pagedown``/``ctrl+f``, ``home``/``g``,
``end``/``G``, ``enter`` (select), ``s`` (sort by the next column), ``S`` (reverse the sort).
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["Column", "VirtualTable", "layout_columns"]

ELLIPSIS = "…"
SORT_ASCENDING = "▲"
SORT_DESCENDING = "▼"
_CONTROL_TO_SPACE = str.maketrans({i: " " for i in [*range(32), 127]})
_FOLLOW: tuple[bool, int | None] = (True, None)  # a cursor change scrolls the cursor into view from where it is


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :class:`VirtualTable`.

    Args:
        key: Identifier (used in :class:`VirtualTable.SortRequested` and :meth:`VirtualTable.set_sort`).
        label: Header text.
        width: Width in cells, or None for a flexible column sharing the space left over.
        min_width: Narrowest the column may get before it is dropped (default: ``width`` for fixed columns,
            the label length clamped to 3..12 for flexible ones).
        priority: Lower is dropped first when the table is too narrow for every column (ties: rightmost first).
        justify: "left" or "right" (numbers).
    """

    key: str
    label: str
    width: int | None = None
    min_width: int | None = None
    priority: int = 0
    justify: Literal["left", "right"] = "left"

    @property
    def minimum(self) -> int:
        if self.min_width is not None:
            return max(1, self.min_width)
        if self.width is not None:
            return max(1, self.width)
        return max(3, min(len(self.label), 12))


def layout_columns(columns: Sequence[Column], width: int) -> list[tuple[int, int, int]]:
    """Fit ``columns`` into ``width`` cells (one space between columns): ``[(column index, x, width), ...]``.

    Columns are dropped lowest ``priority`` first until the minimum widths fit (the last column left is truncated
    to ``width`` instead); fixed columns then grow to their ``width`` (highest priority first) and the remaining
    space is shared equally by the flexible columns. Nothing ever wraps.
    """
    if not columns or width <= 0:
        return []
    visible = list(range(len(columns)))
    mins = [c.minimum for c in columns]

    def needed(vis: list[int]) -> int:
        return sum(mins[i] for i in vis) + len(vis) - 1

    while len(visible) > 1 and needed(visible) > width:
        drop = min(visible, key=lambda i: (columns[i].priority, -i))
        visible.remove(drop)
    widths = {i: mins[i] for i in visible}
    spare = width - needed(visible)
    if spare < 0:  # a single column wider than the table
        widths[visible[0]] = width
        spare = 0
    for i in sorted(visible, key=lambda i: (-columns[i].priority, i)):
        col = columns[i]
        if col.width is not None and spare > 0 and col.width > widths[i]:
            grow = min(spare, col.width - widths[i])
            widths[i] += grow
            spare -= grow
    flexible = [i for i in visible if columns[i].width is None]
    if flexible and spare > 0:
        share, extra = divmod(spare, len(flexible))
        for n, i in enumerate(flexible):
            widths[i] += share + (1 if n < extra else 0)
    out: list[tuple[int, int, int]] = []
    x = 0
    for i in visible:
        out.append((i, x, widths[i]))
        x += widths[i] + 1
    return out


def _fit(value: str, width: int, right: bool) -> str:
    """``value`` as exactly ``width`` cells: control characters become spaces, too long ends in "…"."""
    if not value.isprintable():
        value = value.translate(_CONTROL_TO_SPACE)
    ascii_ = value.isascii()
    length = len(value) if ascii_ else cell_len(value)
    if length > width:
        if width <= 1:
            return ELLIPSIS[:width]
        value = (value[: width - 1] if ascii_ else set_cell_size(value, width - 1)) + ELLIPSIS
        return value
    pad = " " * (width - length)
    return pad + value if right else value + pad


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value)


class VirtualTable(ScrollView, can_focus=True):
    """A read-only, keyboard-first table over a plain list of row tuples, rendered one line at a time."""

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        width: 1fr;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;

        & > .virtual-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .virtual-table--header {
            text-style: bold underline;
        }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:ansi > .virtual-table--cursor {
            text-style: underline;  /* ansi themes blur the cursor to the default background */
        }
        &:focus > .virtual-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .virtual-table--empty {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False),
        Binding("home,g", "first_row", "First row", show=False),
        Binding("end,G", "last_row", "Last row", show=False),
        Binding("enter", "select_cursor", "Open", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
    ]

    #: Shown under the header when there are no rows (say why: "no rows match /sev:high").
    empty_text: reactive[str] = reactive("no rows")

    #: Index of the cursor row (0 when there are no rows). Any code may set it: ``validate_cursor_row`` clamps it to
    #: the rows, ``watch_cursor_row`` scrolls it into view, repaints the two lines that changed and posts
    #: :class:`CursorMoved`. Setting the value it already has does nothing. :meth:`set_rows` places the cursor
    #: itself (without the watcher: it repaints every line and keeps the cursor on its key and screen line) and
    #: posts :class:`CursorMoved` when that moved it. No ``repaint``/``layout``: a move refreshes two lines (or
    #: scrolls), never the whole widget; no ``init``: nothing to announce on mount.
    cursor_row: reactive[int] = reactive(0, repaint=False, layout=False, init=False, always_update=False)

    #: Glyph in the one-cell gutter on the cursor row ("" for no gutter): the cursor stays visible without colour.
    CURSOR_MARKER: ClassVar[str] = "▸"
    #: Rendered lines kept (a few screens' worth).
    LINE_CACHE_SIZE: ClassVar[int] = 1024

    class CursorMoved(Message):
        """The cursor moved to another row, or new rows put another row under it (``key`` None and ``index`` -1
        when the table became empty)."""

        def __init__(self, table: VirtualTable, key: Hashable | None, index: int) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.index = index

        @property
        def control(self) -> VirtualTable:
            return self.table

    class RowSelected(Message):
        """``enter`` (or a click on the cursor row) on a row."""

        def __init__(self, table: VirtualTable, key: Hashable, index: int, row: Sequence[object]) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.index = index
            self.row = row

        @property
        def control(self) -> VirtualTable:
            return self.table

    class SortRequested(Message):
        """The user asked for another sort; the data layer sorts and calls ``set_sort`` + ``set_rows``."""

        def __init__(self, table: VirtualTable, column_key: str, descending: bool) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key
            self.descending = descending

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column] = (),
        *,
        empty_text: str = "no rows",
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's spelling
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns: list[Column] = list(columns)
        self._rows: Sequence[Sequence[object]] = []
        self._keys: Sequence[Hashable] | None = None
        # how the next cursor change scrolls: (scroll into view?, scroll position to start from; None: the current)
        self._scroll_plan: tuple[bool, int | None] = _FOLLOW
        self._sort_key: str | None = None
        self._sort_descending = False
        self._pending_sort: tuple[str, bool] | None = None
        self._layout: list[tuple[int, int, int]] = []
        self._layout_width = -1
        self._line_cache: LRUCache[int, Strip] = LRUCache(self.LINE_CACHE_SIZE)
        self._header: Strip | None = None
        self._row_style: Style | None = None  # rich_style, kept with the line cache: ~half of a row's cost to compute
        self._last_announced: tuple[Hashable | None, int] | None = None
        self.set_reactive(VirtualTable.empty_text, empty_text)

    # ------------------------------------------------------------------------------------------------ accessors

    @property
    def columns(self) -> list[Column]:
        return list(self._columns)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_key(self) -> Hashable | None:
        """Key of the cursor row, None when there are no rows."""
        return self.get_key(self.cursor_row) if self._rows else None

    @property
    def sort_column(self) -> str | None:
        return self._sort_key

    @property
    def sort_descending(self) -> bool:
        return self._sort_descending

    @property
    def visible_columns(self) -> list[str]:
        """Keys of the columns shown at the current width (after dropping low-priority ones)."""
        self._ensure_layout()
        return [self._columns[i].key for i, _, _ in self._layout]

    @property
    def page_size(self) -> int:
        """Rows visible at once (the header takes one line)."""
        return max(1, self.scrollable_content_region.height - 1)

    def get_row(self, index: int) -> Sequence[object]:
        """The row tuple at ``index`` (IndexError outside 0..row_count-1)."""
        if not 0 <= index < len(self._rows):
            raise IndexError(f"row {index} out of range 0..{len(self._rows) - 1}")
        return self._rows[index]

    def get_key(self, index: int) -> Hashable:
        """The key of the row at ``index`` (the index itself when no keys were given)."""
        if not 0 <= index < len(self._rows):
            raise IndexError(f"row {index} out of range 0..{len(self._rows) - 1}")
        return self._keys[index] if self._keys is not None else index

    # ------------------------------------------------------------------------------------------------ data in

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (rows are kept; they must have a cell per column, in this order)."""
        self._columns = list(columns)
        self._layout_width = -1
        self._invalidate()

    def set_rows(self, rows: Sequence[Sequence[object]], keys: Sequence[Hashable] | None = None) -> None:
        """Replace every row (cheap: no cell is looked at). The cursor stays on the same key when that key is still
        present (live refresh), on the same screen line when possible; otherwise it keeps its index (clamped)."""
        # a Sequence is kept as given: a lazy one (cells made when a line is drawn) stays lazy
        new_rows = rows if isinstance(rows, Sequence) else list(rows)
        # keys too: a lazy Sequence (a key made when asked, with its own index()) is kept as given
        new_keys = (None if keys is None else list(keys) if isinstance(keys, list) or not isinstance(keys, Sequence)
                    else keys)
        if new_keys is not None and len(new_keys) != len(new_rows):
            raise ValueError(f"{len(new_keys)} keys for {len(new_rows)} rows")
        old_key = self.cursor_key
        old_index = self.cursor_row
        screen_line = old_index - round(self.scroll_y)

        index = old_index
        if old_key is not None and new_keys is not None:
            if old_index < len(new_keys) and new_keys[old_index] == old_key:
                index = old_index
            else:
                try:
                    index = new_keys.index(old_key)
                except ValueError:
                    index = old_index
        self._rows = new_rows
        self._keys = new_keys
        # no watcher: every line is repainted below, and the cursor keeps its screen line rather than just being
        # scrolled into view
        index = self.validate_cursor_row(index)
        self.set_reactive(VirtualTable.cursor_row, index)
        self._invalidate()
        self._update_virtual_size()
        if self._rows:
            target = max(0, min(index - screen_line, self._max_scroll()))
            target = self._scroll_for_cursor(index, target)
            if target != round(self.scroll_y):
                self._scroll_to_line(target)
        elif self.scroll_y:
            self._scroll_to_line(0)
        self._announce(index)

    def set_sort(self, column_key: str | None, descending: bool = False) -> None:
        """Show the sort indicator (▲ ascending, ▼ descending) on ``column_key`` (None: no indicator)."""
        self._sort_key = column_key
        self._sort_descending = descending
        self._pending_sort = None
        self._header = None
        self.refresh_line(self.scroll_offset.y)  # the header is the first visible line

    # ------------------------------------------------------------------------------------------------ cursor

    def validate_cursor_row(self, index: int) -> int:
        """Clamp a new cursor to the rows (0 on an empty table)."""
        return max(0, min(index, len(self._rows) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        """Scroll the new cursor into view (or repaint the two rows), post :class:`CursorMoved`."""
        self._place_cursor(old, new)

    def move_cursor(self, index: int, *, scroll: bool = True) -> None:
        """Put the cursor on row ``index`` (clamped) and, unless ``scroll`` is False, scroll it into view (also
        when it is already on that row)."""
        self._set_cursor(index, scroll, None)

    def _set_cursor(self, index: int, scroll: bool, scroll_from: int | None) -> None:
        """Set :attr:`cursor_row` with a scroll plan for its watcher; an unchanged cursor is still placed (scrolled
        into view), which a plain ``cursor_row = index`` does not do."""
        if not self._rows:
            return
        old = self.cursor_row
        index = self.validate_cursor_row(index)
        self._scroll_plan = (scroll, scroll_from)
        try:
            if index == old:  # no change: the watcher would not run
                self._place_cursor(old, old)
            else:
                self.cursor_row = index
        finally:
            self._scroll_plan = _FOLLOW

    def _place_cursor(self, old: int, new: int) -> None:
        """After the cursor went from row ``old`` to ``new``: scroll per the plan, else repaint exactly the two
        lines that changed (their cached lines are dropped either way), and announce."""
        if not self._rows:
            return
        scroll, scroll_from = self._scroll_plan
        current = round(self.scroll_y)
        target = current if scroll_from is None else scroll_from
        if scroll:
            target = self._scroll_for_cursor(new, target)
        if new != old:
            self._line_cache.discard(old)
            self._line_cache.discard(new)
        if target != current:
            self._scroll_to_line(target)  # repaints the whole view
        elif new != old:
            self.refresh_line(old + 1)  # line 0 is the header
            self.refresh_line(new + 1)
        self._announce(new)

    def _scroll_for_cursor(self, index: int, scroll_y: int) -> int:
        """The scroll position nearest ``scroll_y`` that shows row ``index``."""
        page = self.page_size
        if index < scroll_y:
            scroll_y = index
        elif index > scroll_y + page - 1:
            scroll_y = index - page + 1
        return max(0, min(scroll_y, self._max_scroll()))

    def _scroll_to_line(self, y: int) -> None:
        if self.is_mounted:  # before mount, on_resize scrolls the cursor into view
            self.scroll_to(y=y, animate=False, force=True)

    def _max_scroll(self) -> int:
        return max(0, len(self._rows) - self.page_size)

    def _announce(self, index: int) -> None:
        state = (self.get_key(index), index) if self._rows else (None, -1)
        if state != self._last_announced:
            self._last_announced = state
            self.post_message(self.CursorMoved(self, state[0], state[1]))

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_down(self) -> None:
        self._page(+1)

    def action_page_up(self) -> None:
        self._page(-1)

    def _page(self, direction: int) -> None:
        """Scroll a page and move the cursor a page (it keeps its screen line unless an end is reached)."""
        if not self._rows:
            return
        page = self.page_size
        scroll_y = max(0, min(round(self.scroll_y) + direction * page, self._max_scroll()))
        self._set_cursor(self.cursor_row + direction * page, True, scroll_y)

    def action_first_row(self) -> None:
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if self._rows:
            index = self.cursor_row
            self.post_message(self.RowSelected(self, self.get_key(index), index, self._rows[index]))

    # ------------------------------------------------------------------------------------------------ sort requests

    def _current_sort(self) -> tuple[str | None, bool]:
        if self._pending_sort is not None:
            return self._pending_sort
        return self._sort_key, self._sort_descending

    def action_cycle_sort(self) -> None:
        keys = self.visible_columns
        if not keys:
            return
        current, descending = self._current_sort()
        nxt = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        self._request_sort(nxt, descending)

    def action_reverse_sort(self) -> None:
        keys = self.visible_columns
        current, descending = self._current_sort()
        if current is None:
            if not keys:
                return
            current = keys[0]
        self._request_sort(current, not descending)

    def _request_sort(self, column_key: str, descending: bool) -> None:
        self._pending_sort = (column_key, descending)
        self.post_message(self.SortRequested(self, column_key, descending))

    # ------------------------------------------------------------------------------------------------ mouse

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            for i, x, w in self._layout:
                x += self._gutter_width
                if x <= offset.x < x + w:
                    key = self._columns[i].key
                    current, descending = self._current_sort()
                    self._request_sort(key, not descending if key == current else False)
                    break
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._rows):
            if index == self.cursor_row:
                self.action_select_cursor()
            else:
                self.move_cursor(index)

    # ------------------------------------------------------------------------------------------------ rendering

    @property
    def _gutter_width(self) -> int:
        return cell_len(self.CURSOR_MARKER)

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _ensure_layout(self) -> int:
        width = self._content_width()
        if width != self._layout_width:
            self._layout_width = width
            self._layout = layout_columns(self._columns, width - self._gutter_width)
            self._invalidate(refresh=False)
        return width

    def _invalidate(self, refresh: bool = True) -> None:
        self._line_cache.clear()
        self._header = None
        self._row_style = None
        if refresh:
            self.refresh()

    def _update_virtual_size(self) -> None:
        # header + rows (+ one line for the empty message); no horizontal scrolling: columns are fitted instead
        self.virtual_size = Size(0, 1 + max(1, len(self._rows)))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._invalidate(refresh=False)

    # Public hooks, safe to name so: Textual calls the handler of every class in the MRO (each class's own
    # ``_on_x`` or ``on_x``), so Widget's private _on_focus/_on_blur (has_focus, refresh, DescendantFocus) still run
    # after these, as ScrollView.on_mount runs after on_mount below; a subclass's on_focus adds to them, too.
    def on_focus(self, event: events.Focus) -> None:
        self._line_cache.discard(self.cursor_row)  # focused and blurred cursors look different

    def on_blur(self, event: events.Blur) -> None:
        self._line_cache.discard(self.cursor_row)

    def on_resize(self, event: events.Resize) -> None:
        self._ensure_layout()
        if self._rows:
            target = self._scroll_for_cursor(self.cursor_row, round(self.scroll_y))
            if target != round(self.scroll_y):
                self._scroll_to_line(target)

    def on_mount(self) -> None:
        self._update_virtual_size()

    def render_line(self, y: int) -> Strip:
        width = self._ensure_layout()
        if y == 0:
            if self._header is None:
                self._header = self._render_header(width)
            return self._header
        if not self._rows:
            if y == 1:
                style = self.get_component_rich_style("virtual-table--empty")
                text = " " * self._gutter_width + _fit(self.empty_text, max(0, width - self._gutter_width), False)
                return Strip([Segment(text, style)], width)
            return Strip.blank(width, self.rich_style)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        strip = self._line_cache.get(index)
        if strip is None:
            strip = self._render_row(index, width)
            self._line_cache[index] = strip
        return strip

    def _render_header(self, width: int) -> Strip:
        style = self.get_component_rich_style("virtual-table--header")
        parts = [" " * self._gutter_width]
        for n, (i, _x, w) in enumerate(self._layout):
            col = self._columns[i]
            label = col.label
            if col.key == self._sort_key and w >= 2:
                arrow = SORT_DESCENDING if self._sort_descending else SORT_ASCENDING
                if cell_len(label) + 2 <= w:
                    label = f"{label} {arrow}"
                else:  # a narrow column: no space before the arrow, cut the label only if it still does not fit
                    label = _fit(label, w - 1, False).rstrip() + arrow
            if n:
                parts.append(" ")
            parts.append(_fit(label, w, col.justify == "right"))
        line = "".join(parts)
        return Strip([Segment(line, style)]).adjust_cell_length(width, style)

    def _render_row(self, index: int, width: int) -> Strip:
        row = self._rows[index]
        base = self._row_style
        if base is None:  # this widget's and its ancestors' colours: the same for every row until a style changes
            base = self._row_style = self.rich_style
        cursor = index == self.cursor_row
        style = base + self.get_component_rich_style("virtual-table--cursor") if cursor else base
        segments: list[Segment] = []
        if self._gutter_width:
            marker = self.CURSOR_MARKER if cursor else " " * self._gutter_width
            segments.append(Segment(marker, style))
        pending: list[str] = []  # plain cells are merged into one segment
        columns = self._columns
        ncells = len(row)
        for n, (i, _x, w) in enumerate(self._layout):
            if n:
                pending.append(" ")
            value = row[i] if i < ncells else None
            right = columns[i].justify == "right"
            if isinstance(value, Text):
                if pending:
                    segments.append(Segment("".join(pending), style))
                    pending = []
                segments.extend(self._text_segments(value, w, right, style))
            else:
                pending.append(_fit(_cell_text(value), w, right))
        if pending:
            segments.append(Segment("".join(pending), style))
        return Strip(segments).adjust_cell_length(width, style)

    def _text_segments(self, value: Text, width: int, right: bool, style: Style) -> list[Segment]:
        text = value.copy()
        text.end = ""
        if not text.plain.isprintable():
            lines = text.split("\n", allow_blank=True)
            if len(lines) > 1:
                text = Text(" ").join(lines)
            plain = text.plain
            fixed = plain.translate(_CONTROL_TO_SPACE)
            if fixed != plain:
                text = Text(fixed, style=text.style, spans=text.spans, end="")
        text.truncate(width, overflow="ellipsis")
        pad = width - text.cell_len
        if pad > 0:
            if right:
                text.pad_left(pad)
            else:
                text.pad_right(pad)
        return list(Segment.apply_style(text.render(self.app.console), style))
