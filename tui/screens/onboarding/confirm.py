"""The one confirmation every write goes through: it shows the exact requests (cloud, method, URL or operation, body
with secrets masked) before anything is sent. In read-only mode the send key and button are disabled, with a note.

`confirm_and_send(screen, writes, ...)` pushes it, and on "send" executes the writes one after the other in a thread
worker (through the core's `execute_write`), stopping at the first failure and saying what was done and what is left.
"""
from __future__ import annotations

import json
from typing import Any, Callable, ClassVar, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from widgets.footer import Footer

from . import bridge
from .common import OwnsKeys, one_line, run_blocking

READ_ONLY_NOTE = "read-only (--read-only): writes are disabled; nothing will be sent"


def describe_write(w: Any, n: int | None = None) -> Text:
    t = Text()
    head = f"{n}. " if n is not None else ""
    t.append(f"{head}{w.summary}\n", style="bold")
    scope = getattr(w, "scope", "")
    if scope:
        t.append(f"   {scope}\n", style="dim")
    t.append(f"   {w.cloud.upper():<5} ", style="bold")
    t.append(f"{w.method} ", style="bold yellow")
    t.append(f"{w.target}\n")
    body = getattr(w, "body", None)
    if body:
        blocks: list[tuple[str, str, str]] = []  # long parameters shown as documents, under the body
        shown = body
        if isinstance(body, dict):
            shown = {}
            for k, v in body.items():
                doc = _document(v)
                if doc is not None:
                    text, how = doc
                    shown[k] = f"<{len(text.splitlines())} lines, below>"
                    blocks.append((k, text, how))
                else:
                    shown[k] = v
        for line in json.dumps(shown, indent=2, ensure_ascii=False, default=str).splitlines():
            t.append(f"   {line}\n", style="dim" if line.strip() in ("{", "}", "[", "]") else "")
        for k, text, how in blocks:
            t.append(f"   {k} ({how}):\n", style="bold")
            for line in text.splitlines():
                t.append(f"     {line}\n")
    return t


def _document(v: Any) -> tuple[str, str] | None:
    """A parameter that is itself a document (a template body, a JSON policy): (readable text, how it relates to
    what is sent), else None."""
    if not isinstance(v, str) or len(v) < 80:
        return None
    if v.lstrip().startswith("{"):
        try:
            return json.dumps(json.loads(v), indent=2, ensure_ascii=False), "a JSON string, shown decoded"
        except ValueError:
            return None
    return (v, "the text exactly as sent") if "\n" in v else None


class ConfirmWrite(OwnsKeys, ModalScreen[bool]):
    """Returns True when the operator chose to send (never in read-only mode)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send"),
        Binding("escape", "cancel", "Cancel (nothing sent)"),
    ]
    DEFAULT_CSS = """
    ConfirmWrite { align: center middle; }
    ConfirmWrite > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 40; border: thick $warning;
                              background: $surface; padding: 0 1; }
    ConfirmWrite .confirm--title { height: auto; text-style: bold; color: $warning; }
    ConfirmWrite VerticalScroll { height: 1fr; }
    ConfirmWrite .confirm--note { height: auto; color: $error; }
    ConfirmWrite Horizontal { height: 1; align-horizontal: right; }
    ConfirmWrite Button { margin-left: 2; }
    """

    def __init__(self, writes: Sequence[Any], read_only: bool, title: str = "") -> None:
        super().__init__()
        from tui.core import policy

        self.writes = list(writes)
        self.read_only = bool(read_only) or policy.read_only()  # the process's policy decides; a caller only adds
        self.title_text = title

    def compose(self) -> ComposeResult:
        clouds = sorted({w.cloud for w in self.writes})
        n = len(self.writes)
        what = " and ".join({"azure": "Azure", "aws": "AWS"}.get(c, c) for c in clouds)
        with Vertical():
            yield Static(f"⚠ {self.title_text or 'Confirm'}: {n} request{'s' if n != 1 else ''} will change "
                         f"{what}. This is exactly what will be sent:", classes="confirm--title")
            with VerticalScroll():
                body = Text()
                for i, w in enumerate(self.writes, 1):
                    body.append_text(describe_write(w, i if n > 1 else None))
                yield Static(body, classes="confirm--body")
            if self.read_only:
                yield Static(f"✖ {READ_ONLY_NOTE}", classes="confirm--note")
            with Horizontal():
                yield Button("Send  ctrl+s", id="send", variant="warning", compact=True, disabled=self.read_only)
                yield Button("Cancel  esc", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # enter never sends by accident

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send" and self.read_only:
            return None  # shown disabled in the footer
        return True

    def action_send(self) -> None:
        if self.read_only:
            self.notify(READ_ONLY_NOTE, severity="warning")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_send()
        else:
            self.action_cancel()


def confirm_and_send(screen: Any, writes: Sequence[Any], *, title: str = "",
                     sent: Callable[[list[Any]], None] | None = None,
                     failed: Callable[[str], None] | None = None,
                     cancelled: Callable[[], None] | None = None) -> None:
    """Confirm, then send `writes` in order off the UI thread. `sent(results)` when all went through;
    `failed(message)` names the failing request, its cause and fix, what was done and what is left."""
    from tui.core import policy

    writes = list(writes)
    read_only = bool(getattr(screen.app, "read_only", False)) or policy.read_only()
    if not writes:
        if sent is not None:
            sent([])
        return

    def job() -> list[Any]:
        try:
            return bridge.execute(writes, read_only=read_only)
        except Exception as e:  # broad: any write failure is shown (re-raised as _Partial)
            msg = f"✖ {one_line(e)}"
            if not getattr(e, "done", ()):
                msg += " (nothing was changed)"
            raise _Partial(msg) from e

    def on_result(ok: bool | None) -> None:
        if not ok:
            if cancelled is not None:
                cancelled()
            return
        run_blocking(screen, job, done=sent, failed=lambda e: failed(str(e) if isinstance(e, _Partial)
                                                                       else one_line(e)) if failed else None,
                     group="write", exclusive=True)

    screen.app.push_screen(ConfirmWrite(writes, read_only, title), on_result)


class _Partial(Exception):
    pass
