"""Remove classic connectors: list them (marking those that duplicate a native connector for the same AWS account),
delete one behind the confirmation, then the AWS-side cleanup as a checklist (the IAM role, or the IAM user's
access key), each item done by hand (the command is shown) or through boto3 behind the confirmation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from widgets.footer import Footer

from tui.screens.detail import Breadcrumb

from . import bridge
from .common import NOTHING_SENT, Ctx, Field, OwnsKeys, one_line, run_blocking
from .confirm import confirm_and_send


@dataclass
class CleanupItem:
    key: str
    text: str
    manual: str  # the command to do it by hand
    done: bool = False
    error: str | None = None
    writes: list[Any] = field(default_factory=list)


def classic_rows(ctx: Ctx) -> list[tuple[Any, str | None]]:
    """(classic connector, name of the native connector it duplicates or None)."""
    conns = ctx.connectors()
    native: dict[str, str] = {}
    for c in conns:
        if c.kind == "native" and c.aws_account_id:
            native.setdefault(c.aws_account_id, c.name)
    return [(c, native.get(c.aws_account_id or "")) for c in conns if c.kind == "classic"]


class RemoveClassicScreen(OwnsKeys, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x,delete", "delete", "Delete connector"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    RemoveClassicScreen .rm--text { height: auto; padding: 0 1; color: $text-muted; }
    RemoveClassicScreen DataTable { height: 1fr; }
    RemoveClassicScreen .rm--status { height: auto; max-height: 5; padding: 0 1; background: $boost; }
    """

    def __init__(self, ctx: Ctx) -> None:
        super().__init__()
        self.ctx = ctx
        self.rows: list[tuple[Any, str | None]] = []
        self.deleted: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Breadcrumb(["Dashboard", "Onboarding", "Remove classic connectors" +
                          ("  (read-only)" if self.ctx.read_only else "")])
        yield Static("Classic connectors were retired by Microsoft on 2023-09-15 and get no data since (no plan, no "
                     "Arc onboarding): delete each one (first connect its account natively if it has no native "
                     "connector), then remove its role or keys in AWS.",
                     classes="rm--text")
        yield DataTable(cursor_type="row")
        yield Static("", classes="rm--status")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        # NAME sized to the names (whole, not cut at 20); the others fixed
        columns: tuple[tuple[str, int | None], ...] = (("NAME", None), ("AWS ACCOUNT", 12), ("AUTH", 9),
                                                       ("DUPLICATES", 16), ("HEALTH", 10))
        for label, width in columns:
            t.add_column(label, width=width)
        self.fill()
        t.focus()

    def fill(self) -> None:
        t = self.query_one(DataTable)
        t.clear()
        self.rows = [r for r in classic_rows(self.ctx) if r[0].id.lower() not in self.deleted]
        for c, dup in self.rows:
            auth = {"awsAssumeRole": "role", "awsCreds": "user keys"}.get(c.auth_type or "", c.auth_type or "?")
            t.add_row(c.name, c.aws_account_id or "?", auth,
                      Text(f"▲ {dup}", style="yellow") if dup else "—",
                      # retired on 2023-09-15: whatever state Azure still reports for it is stale
                      Text("▲ retired", style="yellow"), key=c.id)
        if not self.rows:
            snap = self.ctx.snap
            t.add_row("(none)" if snap is not None else "⟳ loading…", "", "", "", "")
        n_dup = sum(1 for _, d in self.rows if d)
        self.say(f"{len(self.rows)} classic connector(s), {n_dup} duplicating a native one · ctrl+x deletes the "
                 "selected one (confirmed first)" if self.rows else
                 ("no classic connectors left" if self.ctx.snap is not None else "⟳ waiting for the dashboard data…"))

    def say(self, text: str | Text) -> None:
        self.query_one(".rm--status", Static).update(text)

    def selected(self) -> tuple[Any, str | None] | None:
        t = self.query_one(DataTable)
        if not self.rows or t.cursor_row >= len(self.rows):
            return None
        return self.rows[t.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_delete()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_delete(self) -> None:
        sel = self.selected()
        if sel is None:
            return
        c, dup = sel
        try:
            writes = bridge.plan_delete_classic(self.ctx.settings, c)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}", style="red"))
            return

        def sent(results: list[Any]) -> None:
            self.deleted.add(c.id.lower())
            self.ctx.refresh_dashboard()
            self.fill()
            self.app.push_screen(CleanupScreen(self.ctx, c, dup))

        confirm_and_send(self, writes, title=f"Delete the classic connector {c.name}", sent=sent,
                         failed=lambda m: self.say(Text(m, style="red")),
                         cancelled=lambda: self.say("cancelled: " + NOTHING_SENT))


class CleanupScreen(OwnsKeys, Screen[None]):
    """What is left in AWS after the classic connector is gone: a checklist (the role, or the user's keys)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "do_it", "Do it through boto3"),
        Binding("escape", "back", "Done"),
    ]
    DEFAULT_CSS = """
    CleanupScreen VerticalScroll { padding: 0 1; }
    CleanupScreen .rm--status { height: auto; max-height: 5; padding: 0 1; background: $boost; }
    """

    def __init__(self, ctx: Ctx, connector: Any, duplicate_of: str | None) -> None:
        super().__init__()
        self.ctx = ctx
        self.connector = connector
        self.duplicate_of = duplicate_of
        self.role = bridge.classic_role_of(connector)
        self.key_id = bridge.classic_key_of(connector)
        self.items: list[CleanupItem] = []
        if self.role is not None:
            acct, role = self.role
            self.items.append(CleanupItem(
                "role", f"delete the IAM role {role} in account {acct} (its managed policies detached first)",
                f"aws iam list-attached-role-policies --role-name {role}; aws iam detach-role-policy --role-name "
                f"{role} --policy-arn <each ARN>; aws iam delete-role --role-name {role}"))
        else:
            key = bridge.mask_key_id(self.key_id) if self.key_id else "the access key"
            self.items.append(CleanupItem(
                "keys", f"delete {key} of the IAM user made for Defender for Cloud (and the user, if it served "
                        "nothing else)",
                "aws iam list-access-keys --user-name <user>; aws iam delete-access-key --user-name <user> "
                "--access-key-id <key id>; aws iam delete-user --user-name <user>"))

    def compose(self) -> ComposeResult:
        V = bridge.validators()
        yield Breadcrumb(["Dashboard", "Onboarding", "Remove classic connectors", self.connector.name, "AWS cleanup"])
        with VerticalScroll():
            yield Static("", id="cl-list")
            if self.role is None:
                yield Field("account", "AWS account", self.connector.aws_account_id or "", V.aws_account_id,
                            placeholder="123456789012")
                yield Field("user", "IAM user", "", V.user_name, placeholder="the user whose keys Defender used",
                            hint="its access keys are listed, then deleted (confirmed first)")
        yield Static("", classes="rm--status")
        yield Footer()

    def on_mount(self) -> None:
        self.render_list()
        if self.role is None and not self.connector.aws_account_id:
            run_blocking(self, bridge.caller_identity, self.ctx.settings, done=self._identity, group="sts")

    def _identity(self, ident: Any) -> None:
        f = self.query_one("#f-account", Field)
        if ident and not f.value:
            f.set_value(ident[0])
            f.set_hint(f"from STS caller identity ({ident[1]}); the account of the user's keys")

    def say(self, text: str | Text) -> None:
        self.query_one(".rm--status", Static).update(text)

    def render_list(self) -> None:
        c = self.connector
        t = Text()
        t.append(f"✔ classic connector {c.name} deleted in Azure.\n", style="green")
        t.append("Left to do in AWS:\n", style="bold")
        for it in self.items:
            t.append(f"[{'x' if it.done else ' '}] ", style="green" if it.done else "yellow")
            t.append(f"{it.text}\n")
            if it.error:
                t.append(f"    ✖ {it.error}\n", style="red")
            if not it.done:
                t.append(f"    by hand: {it.manual}\n", style="dim")
        if self.duplicate_of:
            t.append(f"The native connector {self.duplicate_of} still covers this account.\n", style="dim")
        else:
            t.append("▲ no native connector covers this account: connect it again (Onboarding › 1).\n",
                     style="yellow")
        left = [it for it in self.items if not it.done]
        t.append(f"{len(left)} item(s) left · ctrl+o does it through boto3 (confirmed first) · esc when done"
                 if left else "✔ nothing left to do · esc", style="dim")
        self.query_one("#cl-list", Static).update(t)

    def action_do_it(self) -> None:
        it = next((x for x in self.items if not x.done), None)
        if it is None:
            self.say("✔ nothing left to do")
            return
        settings = self.ctx.settings
        if it.key == "role":
            acct, role = self.role  # type: ignore[misc]
            fn: Callable[..., list[Any]] = bridge.plan_delete_role
            args: tuple[Any, ...] = (settings, acct, role)
        else:
            fa, fu = self.query_one("#f-account", Field), self.query_one("#f-user", Field)
            errs = [e for e in (fa.validate_now(), fu.validate_now()) if e]
            if errs:
                self.say(Text("✖ " + "; ".join(errs), style="red"))
                return
            fn, args = bridge.plan_delete_user_keys, (settings, fa.value.strip(), fu.value.strip(), self.key_id)
        self.say(Text("⟳ reading what is attached…", style="dim"))

        def planned(writes: list[Any]) -> None:
            self.say("")
            confirm_and_send(self, writes, title="AWS cleanup", sent=sent, failed=failed,
                             cancelled=lambda: self.say("cancelled: " + NOTHING_SENT))

        def sent(results: list[Any]) -> None:
            it.done, it.error = True, None
            self.render_list()
            self.say(Text("✔ done", style="green"))

        def failed(msg: str) -> None:
            it.error = msg
            self.render_list()

        run_blocking(self, fn, *args, done=planned, failed=lambda e: failed(one_line(e)), group="cleanup")

    def action_back(self) -> None:
        left = [it.text for it in self.items if not it.done]
        self.app.pop_screen()
        if left:
            self.app.notify("AWS cleanup left to do: " + "; ".join(left), severity="warning", timeout=10)
