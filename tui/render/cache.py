"""The dashboard's cached view: the table panes' rows as drawn from the latest snapshot, kept in the history so the
next start paints its first frame from them (JSON of plain values and rich Text cells: never pickle, a file on disk
must not run code; tui.core.codec encodes it)."""
from __future__ import annotations

from typing import Any

from rich.text import Span, Text

VIEW_FORMAT = "panes-2"  # change it when what the view holds changes (views of another format are then ignored)


def text_to_plain(obj: Any) -> tuple[str, Any] | None:
    """A rich Text cell as plain data (tui.core.codec's ``ext``); None for anything else."""
    if isinstance(obj, Text):
        return "text", [obj.plain, str(obj.style) if obj.style else "",
                        [[sp.start, sp.end, str(sp.style)] for sp in obj.spans]]
    return None


def text_from_plain(data: Any) -> Text:
    """The Text that ``text_to_plain`` encoded; ValueError for anything else (a broken or foreign view)."""
    plain, style, spans = data
    if not isinstance(plain, str) or not isinstance(style, str):
        raise ValueError("bad text cell")
    return Text(plain, style=style, spans=[Span(int(a), int(b), str(st)) for a, b, st in spans])
