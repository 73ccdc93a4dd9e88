"""A dashboard pane: a bordered box whose title says what it shows, how many, its state and the age of its data.

States (never colour alone): `⟳ loading`, `✔ ok`, `▲ stale`, `✖ error`. Panes take plain data and post messages;
they never call an SDK.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import MountError, Widget
from textual.widgets import Input, Static

# A pane's state: a section's state (tui.core.model.SectionState: ok / stale / error), or loading, or empty.
PaneState = Literal["loading", "ok", "stale", "error", "empty"]
GLYPHS: dict[PaneState, str] = {"loading": "⟳ loading", "ok": "✔ ok", "stale": "▲ stale", "error": "✖ error",
                                "empty": "· empty"}


def age_text(as_of: datetime | None, now: datetime | None = None) -> str:
    if as_of is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    s = max(0, int((now - as_of).total_seconds()))
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def mount_later(node: Widget, mount: Callable[[], Awaitable[object] | None]) -> None:
    """Call ``mount`` (which mounts widgets into ``node``; awaited when it is async) right after the next frame: what a
    first frame need not show is mounted after it, in one batch, without a placeholder widget per item (textual
    Lazy). Skipped when ``node`` is leaving by then (the app told to quit during start-up: a late mount raised
    MountError, a traceback on screen)."""

    async def run() -> None:
        # Textual's own flags of a node being removed (no public equivalent): mounting into it would fail
        if not node.is_attached or node._closing or node._pruning:  # noqa: SLF001
            return
        try:
            done = mount()
            if done is not None:
                await done
        except MountError:  # the app closed between the check and the mount
            pass

    node.call_after_refresh(run)


def progress_line(rows: int, total: int | None, phase: str = "fetch") -> str:
    """How far a load is, for the pane's status line: '12,000 of 1,013,934 rows', '12,000 rows so far', or once
    all are in and being indexed, '1,013,934 rows in: indexing'."""
    if phase == "index":
        return f"{rows:,} rows in: indexing"
    if total is not None and total >= rows:
        return f"{rows:,} of {total:,} rows"
    return f"{rows:,} rows so far"


class Pane(Vertical, can_focus=False):
    """Base pane: title line + message line + body (subclass) + filter input (hidden until `/`)."""

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-align: left;
        border-subtitle-align: right;
        height: 1fr;
        padding: 0 0;
    }
    Pane:focus-within { border: round $accent; }
    Pane.-stale { border: round $warning; }
    Pane.-error { border: round $error; }
    Pane > .pane--message { height: auto; max-height: 3; color: $text-muted; padding: 0 1; display: none; }
    Pane > .pane--message.-shown { display: block; }
    Pane.-error > .pane--message { color: $error; }
    Pane.-stale > .pane--message { color: $warning; }
    Pane > .pane--filter { display: none; height: 1; border: none; padding: 0 1; background: $boost; }
    Pane > .pane--filter.-shown { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = []
    title_text: ClassVar[str] = "Pane"
    view_name: ClassVar[str] = "pane"
    #: what the data age means for this pane (how often Azure/AWS can change it)
    cadence_hint: ClassVar[str] = ""

    class FilterChanged(Message):
        def __init__(self, pane: "Pane", text: str) -> None:
            super().__init__()
            self.pane = pane
            self.text = text

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.state: PaneState = "loading"
        self.as_of: datetime | None = None
        self.error: str | None = None
        self.count_text = ""
        self.filter_text = ""
        self.progress_text = ""
        self._ready = False  # set once mounted: until then the pane only keeps what it is given

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane--message")
        yield from self.compose_body()
        # the filter line (hidden until `/`) is mounted right after the pane's first frame: see after_mount

    def _mount_filter(self) -> None:
        if self.query_children(".pane--filter"):  # mounted once already
            return
        self.mount(Input(placeholder="filter: text  sev:high  account:2109  !negate   (enter keep · esc clear)",
                         classes="pane--filter"))

    def compose_body(self) -> ComposeResult:  # pragma: no cover - subclasses
        yield Static("")

    # ------------------------------------------------------------------------------------------- state

    def after_mount(self) -> None:
        """Subclasses call this at the end of their on_mount: a pane mounted lazily (after the first frame) shows
        the state and rows it was given before it existed."""
        self._ready = True
        mount_later(self, self._mount_filter)
        self.set_state(self.state, self.as_of, self.error)
        if self.has_class("-active"):
            self.focus_body()

    def set_state(self, state: PaneState, as_of: datetime | None, error: str | None) -> None:
        self.state, self.as_of, self.error = state, as_of, error
        if not self._ready:
            return
        self.set_own_class(state == "stale", "-stale")
        self.set_own_class(state == "error", "-error")
        found = self.query_children(".pane--message")
        if not found:  # the pane is leaving the DOM (a late message while the app quits): nothing to show it on
            return
        msg = found.first(Static)
        text = ""
        if state == "error":
            text = f"✖ {error or 'failed'} · r to retry"
        elif state == "stale" and error:
            text = f"▲ showing data from {age_text(as_of)}: {error}"
        elif state == "loading" and self.progress_text:
            text = f"⟳ {self.progress_text}"
        msg.update(Text(text))  # plain text: an error that holds brackets (e.g. 'mdc-aws[demo]') is not markup
        msg.set_class(bool(text), "-shown")
        self.refresh_title()

    def set_progress(self, text: str) -> None:
        """How far a load is ('' when it is over): on the message line while the pane is loading, after the state
        in the title otherwise (a refresh of rows already shown). Cheap: a few times a second at most."""
        if text == self.progress_text:
            return
        self.progress_text = text
        if not self._ready:
            return
        if self.state == "loading":
            self.set_state(self.state, self.as_of, self.error)
        else:
            self.refresh_title()

    def set_own_class(self, on: bool, name: str) -> None:
        """Set or clear one of the pane's own classes (-stale, -error, -active) and restyle only what depends on
        them: the pane and its message line (the rules above and the app's `.pane.-active`; none reaches deeper).
        Textual's set_class restyles every descendant: 17-25 ms for a pane holding a table, on the first frame."""
        if self.has_class(name) == on:
            return
        self.set_class(on, name, update=False)
        if self.is_attached:
            self.app.stylesheet.update_nodes([self, *self.query_children(".pane--message")], animate=True)

    def refresh_title(self, now: datetime | None = None) -> None:
        if not self._ready:
            return
        parts = [self.title_text]
        if self.count_text:
            parts.append(self.count_text)
        if self.filter_text:
            parts.append(f"/{self.filter_text}")
        self.border_title = " · ".join(parts)
        age = age_text(self.as_of, now) if self.as_of else ""
        busy = f" · ⟳ {self.progress_text}" if self.progress_text and self.state != "loading" else ""
        self.border_subtitle = f"{GLYPHS.get(self.state, self.state)}{(' ' + age) if age else ''}{busy}"

    # ------------------------------------------------------------------------------------------- filter

    def filter_input(self) -> Input | None:
        """The filter line; None until it is mounted (just after the pane's first frame)."""
        if not self._ready:
            return None
        found = self.query_children(".pane--filter")
        inp = found.first() if found else None
        return inp if isinstance(inp, Input) else None

    def open_filter(self) -> None:
        inp = self.filter_input()
        if inp is None:
            return
        inp.add_class("-shown")
        inp.value = self.filter_text
        inp.focus()

    def close_filter(self, clear: bool) -> None:
        if not self._ready:
            return
        inp = self.filter_input()
        if clear:
            if inp is not None:
                inp.value = ""
            self.apply_filter("")
        if inp is not None:
            inp.remove_class("-shown")
        self.focus_body()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.has_class("pane--filter"):
            event.stop()
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.has_class("pane--filter"):
            event.stop()
            self.close_filter(clear=False)

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.render_rows()
        self.refresh_title()

    # ------------------------------------------------------------------------------------------- subclass API

    def render_rows(self) -> None:  # pragma: no cover - subclasses
        pass

    def focus_body(self) -> None:  # pragma: no cover - subclasses
        pass

    def selection(self) -> Any:
        """The selected item (for enter / b)."""
        return None
