"""Textual's ``Footer`` without its leak: every pane switch (any focus change) kept ~18 dead widgets forever.

The stock Footer recomposes whenever the focused widget's bindings change, and each ``FooterKey`` it yields is
``data_bind(compact=Footer.compact)``: that stores ``(FooterKey, setter)`` in the Footer's own watcher list for
``compact``. Textual prunes that list only when ``compact`` changes (``Reactive._check_watchers``), which it never
does here, so every recompose added its keys (and, through them, their styles, caches and message queues) to the
list for the life of the screen: ~0.4 MB per pane switch on the dashboard. Textual issue #6666 (open).

Here the watchers of nodes that have left the DOM are dropped before each compose, when the previous keys have just
been removed and the new ones have not bound yet.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as _TextualFooter

__all__ = ["Footer", "prune_dead_watchers"]


def prune_dead_watchers(obj: object) -> int:
    """Drop the watchers that nodes no longer in the DOM hold on ``obj``'s reactives; the number dropped.

    Textual keeps them in ``obj.__watchers`` (a dict of reactive name -> list of (node, callback)); an object
    without any (or a Textual that stores them elsewhere) is left as it is."""
    watchers = getattr(obj, "__watchers", None)
    if not isinstance(watchers, dict):
        return 0
    dropped = 0
    for entries in watchers.values():
        alive = [(node, cb) for node, cb in entries
                 if getattr(node, "is_attached", True) and not getattr(node, "_closing", False)]
        dropped += len(entries) - len(alive)
        entries[:] = alive
    return dropped


class Footer(_TextualFooter):
    def compose(self) -> ComposeResult:
        prune_dead_watchers(self)
        yield from super().compose()
