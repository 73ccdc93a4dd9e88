"""Guided onboarding screens (issue 4): `o` in the dashboard, or `mdc-aws onboard`.

    OnboardingHome      the three ways in: native connector wizard, classic flow, remove classic connectors
    native.py           Account details -> Plans -> Access -> Review (one screen per step)
    classic.py          the classic connector flow (retired by Microsoft on 2023-09-15, no data since)
    remove.py           remove classic connectors, then the AWS cleanup checklist
    confirm.py          the one confirmation every write goes through (exact request, secrets masked)
    bridge.py           every call into the core (tui.core.onboarding), made from thread workers

Screens never call an SDK; `--read-only` (app.read_only, and the core's process-wide tui.core.policy that the CLI
sets) disables every send, and the core refuses it again where every write passes (tui.core.onboarding.writes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from widgets.footer import Footer

from tui.screens.detail import Breadcrumb

from .common import Ctx, OwnsKeys

if TYPE_CHECKING:
    from tui.app import MdcApp


class OnboardingHome(OwnsKeys, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("1", "pick('native')", "Native", show=False),
        Binding("2", "pick('classic')", "Classic", show=False),
        Binding("3", "pick('remove')", "Remove classic", show=False),
    ]
    DEFAULT_CSS = """
    OnboardingHome OptionList { height: auto; max-height: 12; margin: 1 1; border: none; }
    OnboardingHome .home--text { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, ctx: Ctx) -> None:
        super().__init__()
        self.ctx = ctx
        self.native_flow: Any = None
        self.classic_flow: Any = None

    def compose(self) -> ComposeResult:
        yield Breadcrumb(["Dashboard", "Onboarding" + ("  (read-only: nothing can be sent)" if self.ctx.read_only
                                                       else "")])
        yield OptionList(id="home-options")
        yield Static("", classes="home--text", id="home-text")
        yield Footer()

    def on_mount(self) -> None:
        self.fill()
        self.query_one(OptionList).focus()
        self.set_interval(2.0, self.fill, name="home-refresh")

    def fill(self) -> None:
        from .remove import classic_rows

        ol = self.query_one(OptionList)
        hi = ol.highlighted
        rows = classic_rows(self.ctx)
        n_dup = sum(1 for _, d in rows if d)
        loading = self.ctx.snap is None
        ol.clear_options()
        ol.add_options([
            Option(Text.assemble(("1 Connect an AWS account", "bold"), "  native connector, recommended\n",
                                 ("  account details › plans › access (CloudFormation) › review", "dim")),
                   id="native"),
            Option(Text.assemble(("2 Classic connector", "bold"), "  ",
                                 ("retired by Microsoft on 2023-09-15: no data since", "yellow"), "\n",
                                 ("  enables no plan and onboards nothing; only to understand or rebuild an old setup",
                                  "dim")), id="classic"),
            Option(Text.assemble(("3 Remove classic connectors", "bold"),
                                 f"  {'⟳ loading' if loading else f'{len(rows)} found, {n_dup} duplicate a native one'}"
                                 "\n", ("  delete in Azure, then the role or keys in AWS", "dim")), id="remove"),
        ])
        ol.highlighted = hi if hi is not None else 0
        sel = f"{len(self.ctx.subscriptions())} subscription(s) visible" if not loading else \
            "⟳ the dashboard is still reading Azure"
        problem = self.ctx.demo_problem()
        if problem:  # a demo whose estate is starting or failed: say so instead (every read and write says it too)
            from rich.markup import escape

            sel = f"✖ {escape(problem)}"
        self.query_one("#home-text", Static).update(
            f"{sel} · enter or 1-3 opens · nothing is sent without a confirmation that shows the exact request")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_pick(event.option.id or "")

    def action_pick(self, what: str) -> None:
        if what == "native":
            from .native import NativeFlow

            if self.native_flow is None or self.native_flow.created:
                self.native_flow = NativeFlow(self.ctx, on_finish=self._finished)
            self.native_flow.start()
        elif what == "classic":
            from .classic import ClassicFlow

            if self.classic_flow is None or self.classic_flow.created:
                self.classic_flow = ClassicFlow(self.ctx, on_finish=self._finished)
            self.classic_flow.start()
        elif what == "remove":
            from .remove import RemoveClassicScreen

            self.app.push_screen(RemoveClassicScreen(self.ctx))

    def _finished(self) -> None:
        """A connector was created: back to the dashboard's accounts, where it appears after the refresh."""
        app = self.app
        if app.screen is self:
            app.pop_screen()
        self.ctx.app.dashboard.action_show_pane("accounts")

    def action_back(self) -> None:
        self.app.pop_screen()


def open_onboarding(app: MdcApp, flow: str | None = None) -> None:
    """`o` (or `mdc-aws onboard`): the onboarding home over the dashboard, then ``flow`` ("native", "classic",
    "remove") when one is named. Once: `o` while it is open (on any screen above it) does nothing."""
    if any(isinstance(s, OnboardingHome) for s in app.screen_stack):
        return
    home = OnboardingHome(Ctx(app))
    app.push_screen(home)
    if flow:
        home.action_pick(flow)


__all__ = ["OnboardingHome", "open_onboarding", "Ctx"]
