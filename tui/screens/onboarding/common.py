"""Pieces every onboarding screen shares: the context (settings, read-only, snapshot), the step header, a validated
field, the wizard step base (ctrl+n next, ctrl+b back, esc cancel) and running a core call off the UI thread.

Screens never call an SDK: blocking work goes through `bridge` (the core onboarding API) in thread workers, and the
results come back to the UI thread with `call_from_thread`.
"""
from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Select, Static

from widgets.footer import Footer

from tui.core.onboarding.validate import AWS_REGIONS, AZURE_LOCATIONS  # noqa: F401 - re-exported to the steps

if TYPE_CHECKING:
    from tui.app import MdcApp

NOTHING_SENT = "nothing has been sent"

class OwnsKeys:
    """An onboarding screen: the app's r (refresh) and o (onboarding) do nothing here and stay out of the footer
    (MdcApp.check_action reads this flag)."""

    OWNS_KEYS: ClassVar[bool] = True


def split_list(text: str) -> list[str]:
    """A field's list: items separated by commas and/or spaces."""
    return [p for p in text.replace(",", " ").split() if p]


def one_line(e: BaseException | str) -> str:
    """Cause and fix of any error in one line: never a traceback."""
    if isinstance(e, str):
        return " ".join(e.split())
    from tui.core.collect import describe_error

    text = describe_error(e)
    fix = getattr(e, "fix", None)
    if fix and str(fix) not in text:
        text = f"{text}; fix: {fix}"
    return text


@dataclass
class Ctx:
    """What the onboarding screens need from the app (its public attributes only)."""

    app: MdcApp

    @property
    def read_only(self) -> bool:
        from tui.core import policy

        return self.app.read_only or policy.read_only()

    @property
    def settings(self) -> Any:
        """The settings every read and write of the screens uses. A demo: the app's own, sealed ones (loopback
        placeholders until the estate is ready, then the estate's): never the operator's."""
        if self.app.demo:
            return self.app.settings
        return getattr(self.app.service, "settings", None) or self.app.settings

    def demo_problem(self) -> str | None:
        """A demo whose estate is starting or failed to start: what every read and write will say; else None."""
        if not self.app.demo:
            return None
        from tui.core import demo

        state, msg = demo.status()
        if state == "failed":
            return msg
        if demo.is_placeholder(self.settings):
            return "the emulated estate is still starting: nothing can be read or sent yet"
        return None

    @property
    def snap(self) -> Any:
        return self.app.snap

    def subscriptions(self) -> list[str]:
        snap = self.snap
        if snap is not None and snap.subscriptions:
            return list(snap.subscriptions)
        s = self.settings
        return list(getattr(getattr(s, "azure", None), "subscriptions", ()) or ())

    def tenant_id(self, subscription: str | None = None) -> str | None:
        """The tenant of `subscription` (Lighthouse: the customer's, as Resource Graph said), else the snapshot's."""
        if subscription:
            tid = (getattr(self.snap, "subscription_tenants", None) or {}).get(subscription.lower())
            if tid:
                return str(tid)
        return getattr(self.snap, "tenant_id", None)

    def connectors(self) -> list[Any]:
        snap = self.snap
        cd = snap.data("connectors") if snap is not None else None
        return list(cd.connectors) if cd is not None else []

    def refresh_dashboard(self, tries: int = 120) -> None:
        """Collect again now (after a write); when a collection is already running, right after it ends."""
        app = self.app
        if app.service is None:
            return
        if app.collecting and tries > 0:
            app.set_timer(0.5, lambda: self.refresh_dashboard(tries - 1))
            return
        app.refresh_data()  # the app's own refresh, without the toast of `r`


def step_header(title: str, steps: Sequence[str], current: int, note: str = "") -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f" {title} ·", style="bold")
    for i, name in enumerate(steps):
        t.append(" ")
        label = f"{i + 1} {name}"
        if i == current:
            t.append(f" {label} ", style="bold reverse")
        elif i < current:
            t.append(f"✔{label}", style="")
        else:
            t.append(label, style="dim")
    if note:
        t.append(f"  {note}", style="yellow")
    return t


def run_blocking(node: Any, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None] | None = None,
                 failed: Callable[[BaseException], None] | None = None, group: str = "onboarding",
                 exclusive: bool = False) -> None:
    """Run `fn(*args)` (sync, or returning an awaitable) in a thread worker; hand the result or the error back on
    the UI thread. Callbacks that land on a screen already closed are dropped."""
    app = node.app

    def safe(cb: Callable[[Any], None] | None, value: Any) -> None:
        if cb is None:
            return
        if isinstance(node, Screen) and not node.is_attached:
            return
        try:
            cb(value)
        except Exception as e:  # noqa: BLE001 - a UI update on a closing screen must never become a traceback
            try:
                app.notify(one_line(e), severity="error")
            except Exception:  # noqa: BLE001 - the app itself is closing: nothing left to tell
                pass

    def job() -> None:
        try:
            res = fn(*args)
            if inspect.isawaitable(res):
                async def wait() -> Any:
                    return await res

                res = asyncio.run(wait())
        except Exception as e:  # noqa: BLE001 - every failure is shown as one line
            err = e
            try:
                app.call_from_thread(safe, failed, err)
            except Exception:  # noqa: BLE001 - the app is closing
                pass
            return
        try:
            app.call_from_thread(safe, done, res)
        except Exception:  # noqa: BLE001 - the app is gone (closed while the job ran): nothing to update
            pass

    node.run_worker(job, thread=True, exit_on_error=False, group=group, exclusive=exclusive)


class Field(Vertical):
    """A label, an input, a ✔/✖ mark, and the rule's message under the input while the text breaks it."""

    DEFAULT_CSS = """
    Field { height: auto; }
    Field > Horizontal { height: 1; }
    Field .field--label { width: 19; color: $text; }
    Field Input { width: 1fr; max-width: 46; }
    Field .field--mark { width: 2; margin-left: 1; }
    Field .field--msg { height: auto; padding-left: 19; color: $error; display: none; }
    Field .field--msg.-shown { display: block; }
    Field .field--hint { height: auto; padding-left: 19; color: $text-muted; display: none; }
    Field .field--hint.-shown { display: block; }
    """

    class Changed(Message):
        def __init__(self, field: "Field", value: str, error: str | None) -> None:
            super().__init__()
            self.field = field
            self.key = field.key
            self.value = value
            self.error = error

    def __init__(self, key: str, label: str, value: str = "", check: Callable[[str], str | None] | None = None, *,
                 password: bool = False, placeholder: str = "", hint: str = "", optional: bool = False,
                 suggestions: Iterable[str] | None = None, disabled: bool = False) -> None:
        super().__init__(id=f"f-{key}")
        self.key = key
        self.label = label
        self._value = value
        self.check = check
        self.password = password
        self.placeholder = placeholder
        self._hint = hint
        self.optional = optional
        self.suggestions = list(suggestions or ())
        self._disabled_input = disabled
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(self.label, classes="field--label")
            yield Input(self._value, placeholder=self.placeholder, password=self.password, compact=True,
                        id=f"in-{self.key}", disabled=self._disabled_input,
                        suggester=SuggestFromList(self.suggestions, case_sensitive=False)
                        if self.suggestions else None)
            yield Static("", classes="field--mark")
        yield Static("", classes="field--msg")
        yield Static(self._hint, classes="field--hint" + (" -shown" if self._hint else ""))

    def on_mount(self) -> None:
        self._validate(self._value, touched=bool(self._value))

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    def set_value(self, value: str) -> None:
        self.input.value = value  # posts Input.Changed -> validated like typing

    def set_hint(self, text: str) -> None:
        h = self.query_one(".field--hint", Static)
        h.update(Text(text))  # plain text: an error quoting "mdc-aws[demo]" or an ARM "[...]" is not markup
        h.set_class(bool(text), "-shown")

    def validate_now(self) -> str | None:
        return self._validate(self.value, touched=True)

    def _validate(self, text: str, touched: bool) -> str | None:
        err: str | None = None
        if self.check is not None and not (self.optional and not text.strip()):
            try:
                err = self.check(text)
            except Exception as e:  # noqa: BLE001 - a validator must never break typing
                err = f"{self.label}: cannot check this value ({one_line(e)})"
        self.error = err
        mark = self.query_one(".field--mark", Static)
        msg = self.query_one(".field--msg", Static)
        if err and touched:
            mark.update(Text("✖", style="bold red"))
            msg.update(Text(f"✖ {err}"))
            msg.add_class("-shown")
        else:
            mark.update(Text("✔", style="green") if (text.strip() and not err) else "")
            msg.update("")
            msg.remove_class("-shown")
        return err

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        err = self._validate(event.value, touched=True)
        self.post_message(self.Changed(self, event.value, err))


class SelectField(Vertical):
    """A label and a compact Select (subscriptions, Azure regions)."""

    DEFAULT_CSS = """
    SelectField { height: auto; }
    SelectField > Horizontal { height: 1; }
    SelectField .field--label { width: 19; }
    SelectField Select { width: 1fr; max-width: 46; }
    SelectField .field--hint { height: auto; padding-left: 19; color: $text-muted; display: none; }
    SelectField .field--hint.-shown { display: block; }
    """

    class Changed(Message):
        def __init__(self, field: "SelectField", value: Any) -> None:
            super().__init__()
            self.field = field
            self.key = field.key
            self.value = value

    def __init__(self, key: str, label: str, options: Sequence[tuple[str, Any]], value: Any = None,
                 hint: str = "", prompt: str = "select") -> None:
        super().__init__(id=f"f-{key}")
        self.key = key
        self.label = label
        self.options = list(options)
        self._value = value
        self._hint = hint
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        values = [v for _, v in self.options]
        with Horizontal():
            yield Static(self.label, classes="field--label")
            yield Select(self.options, value=self._value if self._value in values else Select.NULL,
                         compact=True, prompt=self.prompt, id=f"in-{self.key}")
        yield Static(self._hint, classes="field--hint" + (" -shown" if self._hint else ""))

    @property
    def select(self) -> Select:
        return self.query_one(Select)

    @property
    def value(self) -> Any:
        v = self.select.value
        return None if v is Select.NULL else v

    def set_options(self, options: Sequence[tuple[str, Any]], value: Any = None) -> None:
        self.options = list(options)
        sel = self.select
        sel.set_options(self.options)
        if value is not None and value in [v for _, v in self.options]:
            sel.value = value

    def set_hint(self, text: str) -> None:
        h = self.query_one(".field--hint", Static)
        h.update(Text(text))  # plain text: an error quoting "mdc-aws[demo]" or an ARM "[...]" is not markup
        h.set_class(bool(text), "-shown")

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, None if event.value is Select.NULL else event.value))


class FlowScreen(OwnsKeys, Screen[None]):
    """A step of a guided flow: header with the steps, a scrolling body, a status line, the footer.

    Subclasses set STEPS/TITLE/INDEX and implement `body()`, `step_errors()`; `flow` moves between steps."""

    TITLE_TEXT: ClassVar[str] = "Connect an AWS account"
    STEPS: ClassVar[tuple[str, ...]] = ()
    INDEX: ClassVar[int] = 0
    NOTE: ClassVar[str] = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("ctrl+b", "back", "Back", priority=True),
        Binding("escape", "cancel", "Cancel (nothing has been sent)"),
        Binding("escape", "cancel_kept", "Cancel (what was sent stays)"),
    ]
    DEFAULT_CSS = """
    FlowScreen > .flow--header { height: 1; background: $boost; }
    FlowScreen > .flow--banner { height: auto; color: $warning; padding: 0 1; }
    FlowScreen > VerticalScroll { height: 1fr; padding: 0 1; }
    FlowScreen .flow--section { height: auto; margin-top: 1; text-style: bold; }
    FlowScreen .flow--text { height: auto; color: $text-muted; }
    FlowScreen > .flow--status { height: auto; max-height: 4; padding: 0 1; background: $boost; display: none; }
    FlowScreen > .flow--status.-shown { display: block; }
    FlowScreen > .flow--status.-error { color: $error; }
    FlowScreen Checkbox, FlowScreen RadioSet { height: auto; }
    """

    def __init__(self, flow: Any) -> None:
        super().__init__()
        self.flow = flow
        self.ctx: Ctx = flow.ctx

    # -- layout
    def compose(self) -> ComposeResult:
        yield Static(step_header(self.TITLE_TEXT, self.STEPS, self.INDEX), classes="flow--header")
        notes = [self.NOTE] if self.NOTE else []
        if self.ctx.read_only:
            notes.append("read-only (--read-only): every request is shown, none can be sent")
        if notes:
            yield Static("\n".join(notes), classes="flow--banner")
        with VerticalScroll(classes="flow--body"):
            yield from self.body()
        yield Static("", classes="flow--status")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        # Textual calls a handler of every class in the MRO: subclasses extend `mounted()` / `field_changed()`,
        # never these handlers.
        first = next((w for w in self.query("Input, Select, Checkbox, RadioSet, Button")
                      if w.focusable and w.display), None)
        if first is not None:
            first.focus()
        self.mounted()

    def mounted(self) -> None:
        pass

    def on_field_changed(self, event: Field.Changed) -> None:
        self.field_changed(event)

    def field_changed(self, event: Field.Changed) -> None:
        self.flow.set_raw(event.key, event.value, event.error is None)
        self.say("")

    # -- status line
    def say(self, text: str | Text, error: bool = False) -> None:
        st = self.query_one(".flow--status", Static)
        st.update(Text(text) if isinstance(text, str) else text)  # plain text, never markup (see set_hint)
        st.set_class(bool(str(text)), "-shown")
        st.set_class(error, "-error")

    # -- what blocks next
    def step_errors(self) -> dict[str, str]:
        """Rule messages of this step's fields (field key -> message). Empty: next is allowed."""
        out: dict[str, str] = {}
        for f in self.query(Field):
            if not f.display:
                continue
            err = f.validate_now()
            if err:
                out[f.key] = err
        return out

    def action_next(self) -> None:
        errs = self.step_errors()
        if errs:
            first = next(iter(errs))
            self.say(Text(f"✖ fix {len(errs)} field{'s' if len(errs) > 1 else ''} first: " +
                          "; ".join(errs.values())), error=True)
            try:
                self.query_one(f"#in-{first}").focus()
            except Exception:  # noqa: BLE001 - field not mounted: said above
                pass
            return
        self.flow.next(self)

    def action_back(self) -> None:
        self.flow.back(self)

    def action_cancel(self) -> None:
        self.flow.cancel(self)

    def action_cancel_kept(self) -> None:
        self.flow.cancel(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back" and self.INDEX == 0:
            return None  # shown dimmed: there is no step before the first
        sent = bool(getattr(self.flow, "sent_something", False))
        if action == "cancel":
            return not sent  # the footer never says "nothing has been sent" once something was
        if action == "cancel_kept":
            return sent
        return True
