"""The classic connector flow (Microsoft.Security/connectors), retired by Microsoft on 2023-09-15 (no data since; it
enables no plan and onboards nothing) but complete as the quickstart describes it: Security Hub + Config per region
-> authentication (IAM role trusting 158177204117 with the subscription id as external ID, or an IAM user's access
keys) -> SSM agent coverage -> Azure Arc prerequisites -> review (the Azure tags that will be created) -> create.

Secrets (the secret access key, the service principal secret) live only in masked inputs and in memory: they are
never shown, logged or written; the confirmation shows them masked.
"""
from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, RadioButton, RadioSet, Static

from . import bridge
from .common import (AWS_REGIONS, AZURE_LOCATIONS, NOTHING_SENT, Ctx, Field, FlowScreen, SelectField, one_line,
                     run_blocking, split_list)
from .confirm import confirm_and_send
from .native import render_checks

STEPS = ("Security Hub", "Access", "SSM", "Arc", "Review")
RETIRED = ("▲ Classic connector: retired by Microsoft on 2023-09-15 — no data since: it enables no plan and "
           "onboards nothing to Arc. Use the native connector (esc, then 1 Connect an AWS account).")
MICROSOFT_ACCOUNT = "158177204117"
CLASSIC_POLICIES = ("SecurityAudit", "AmazonSSMAutomationRole", "AWSSecurityHubReadOnlyAccess")
MASK = "••••••••"


class ClassicFlow:
    def __init__(self, ctx: Ctx, on_finish: Any = None) -> None:
        self.ctx = ctx
        self.state = bridge.new_classic_state()
        self.name = ""
        self.raw: dict[str, str] = {}
        self.role_name = bridge.classic_role_name_default()
        self.region_status: list[Any] | None = None
        self.identity: tuple[str, str] | None = None
        self.created: str | None = None
        self.done_writes: list[str] = []  # summaries of AWS/Azure changes already made (Config, Hub, role, RP)
        self.on_finish = on_finish
        self.screens = (ClassicHubStep, ClassicAuthStep, ClassicSsmStep, ClassicArcStep, ClassicReviewStep)

    @property
    def sent_something(self) -> bool:
        return bool(self.done_writes)

    def set_raw(self, key: str, text: str, valid: bool) -> None:
        self.raw[key] = text
        if key == "name":
            self.name = text.strip()
            self.state.name = self.name
            return
        if key == "role_name":
            self.role_name = text.strip()
            return
        if not valid and text.strip():
            return
        s = self.state
        if key == "regions":
            s.regions = split_list(text)
        elif key in ("secret_access_key", "sp_secret"):
            setattr(s, key, text)  # as typed: a secret may carry spaces at its ends only by mistake, never trimmed
        elif hasattr(s, key):
            setattr(s, key, text.strip())

    def text(self, key: str, default: str = "") -> str:
        if key in self.raw:
            return self.raw[key]
        if key == "name":
            return self.name or default
        v = getattr(self.state, key, None)
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v) or default
        return default if v in (None, "") else str(v)

    def aws_account(self) -> str | None:
        arn = self.state.role_arn if self.state.auth == "role" else ""
        if arn and arn.count(":") >= 4:
            acct = arn.split(":")[4]
            if acct.isdigit():
                return acct
        return self.identity[0] if self.identity else None

    def start(self) -> None:
        self.ctx.app.push_screen(self.screens[0](self))

    def next(self, screen: Any) -> None:
        i = self.screens.index(type(screen))
        if i + 1 < len(self.screens):
            self.ctx.app.switch_screen(self.screens[i + 1](self))

    def back(self, screen: Any) -> None:
        i = self.screens.index(type(screen))
        if i > 0:
            self.ctx.app.switch_screen(self.screens[i - 1](self))

    def cancel(self, screen: Any) -> None:
        self.ctx.app.pop_screen()
        if self.created:
            return
        if self.done_writes:
            n = len(self.done_writes)
            self.ctx.app.notify(f"classic flow closed: {n} change(s) already made in AWS/Azure ("
                                + "; ".join(self.done_writes[:2]) + ("; …" if n > 2 else "") + "). Left to do: "
                                "create the classic connector, or undo them.", severity="warning", timeout=10)
        else:
            self.ctx.app.notify("classic flow closed: " + NOTHING_SENT, timeout=6)


class ClassicStep(FlowScreen):
    TITLE_TEXT = "Classic connector"
    STEPS = STEPS
    NOTE = RETIRED
    flow: ClassicFlow

    def ensure_identity(self, then: Any = None) -> None:
        if self.flow.identity is not None:
            if then:
                then()
            return

        def got(ident: Any) -> None:
            if ident:
                self.flow.identity = tuple(ident)
            if then:
                then()

        run_blocking(self, bridge.caller_identity, self.ctx.settings, done=got,
                     failed=lambda e: self.say(Text(f"▲ STS caller identity unavailable: {one_line(e)}"),
                                               error=True), group="sts")


# ---------------------------------------------------------------------------------------------------------- step 1

class ClassicHubStep(ClassicStep):
    INDEX = 0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "check", "Check regions"),
        Binding("ctrl+o", "enable", "Enable missing"),
    ]

    def body(self) -> ComposeResult:
        V = bridge.validators()
        yield Static("Per region (and, for a management account, per member account): AWS Config and AWS Security "
                     "Hub enabled, data flowing to Security Hub (hours after it is first enabled).",
                     classes="flow--text")
        yield Field("regions", "AWS regions", self.flow.text("regions", "us-east-1"), V.aws_regions,
                    suggestions=AWS_REGIONS, hint="ctrl+r checks them; ctrl+o enables what is missing (confirmed "
                                                 "first)")
        yield Static("", id="hub-table")

    def mounted(self) -> None:
        if "regions" not in self.flow.raw:
            self.flow.set_raw("regions", self.query_one("#f-regions", Field).value, True)
        if self.flow.region_status is not None:
            self._show(self.flow.region_status)
        self.ensure_identity(self.action_check)

    def action_check(self) -> None:
        f = self.query_one("#f-regions", Field)
        if f.validate_now():
            self.say(Text(f"✖ {f.error}"), error=True)
            return
        acct = self.flow.identity[0] if self.flow.identity else None
        if not acct:
            self.ensure_identity(lambda: self.action_check() if self.flow.identity else None)
            return
        self.query_one("#hub-table", Static).update(Text("⟳ reading AWS Config and Security Hub…", style="dim"))
        run_blocking(self, bridge.classic_region_status, self.ctx.settings, acct, list(self.flow.state.regions),
                     done=self._show, failed=lambda e: self.query_one("#hub-table", Static).update(
                         Text(f"✖ {one_line(e)}", style="red")), group="hub", exclusive=True)

    def _show(self, rows: list[Any]) -> None:
        self.flow.region_status = rows
        acct = self.flow.identity[0] if self.flow.identity else "?"
        t = Text()
        t.append(f"account {acct}\n", style="bold")
        t.append(f"{'REGION':<16}{'AWS CONFIG':<22}{'SECURITY HUB':<22}\n", style="bold")
        for r in rows:
            t.append(f"{r.region:<16}")
            for on, yes in ((r.config, "✔ recording"), (r.security_hub, "✔ enabled")):
                label = yes if on else ("✖ off" if on is False else "? unknown")
                t.append(f"{label:<22}", style="green" if on else ("red" if on is False else "yellow"))
            if getattr(r, "error", None):
                t.append(f" ▲ {r.error}", style="yellow")
            t.append("\n")
        missing = sum((r.config is False) + (r.security_hub is False) for r in rows)
        t.append(f"{missing} to enable (ctrl+o)" if missing else "✔ every region is ready", style="dim")
        self.query_one("#hub-table", Static).update(t)

    def action_enable(self) -> None:
        rows = self.flow.region_status or []
        acct = self.flow.identity[0] if self.flow.identity else ""
        try:
            writes = []
            for r in rows:
                if r.config is False:
                    writes += bridge.plan_enable_config(self.ctx.settings, acct, r.region)
                if r.security_hub is False:
                    writes += bridge.plan_enable_security_hub(self.ctx.settings, acct, r.region)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}"), error=True)
            return
        if not writes:
            self.say("nothing to enable: check the regions first (ctrl+r)" if not rows else
                     "✔ AWS Config and Security Hub are on in every region")
            return

        def sent(results: list[Any]) -> None:
            self.flow.done_writes += [w.summary for w in writes]
            self.refresh_bindings()
            self.say(Text(f"✔ enabled: {len(writes)} change(s); data reaches Security Hub within hours"))
            self.action_check()

        confirm_and_send(self, writes, title="Enable AWS Config and Security Hub", sent=sent,
                         failed=self._failed_then_check,
                         cancelled=lambda: self.say("cancelled: " + NOTHING_SENT))

    def step_errors(self) -> dict[str, str]:
        return super().step_errors()


    def _failed_then_check(self, message: str) -> None:
        self.say(Text(message), error=True)
        self.action_check()


# ---------------------------------------------------------------------------------------------------------- step 2

class ClassicAuthStep(ClassicStep):
    INDEX = 1
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "create_role", "Create role (boto3)")]
    DEFAULT_CSS = """
    ClassicAuthStep #auth { height: auto; border: none; padding: 0; width: auto; margin-left: 19; }
    """

    def body(self) -> ComposeResult:
        f, V = self.flow, bridge.validators()
        subs = self.ctx.subscriptions()
        yield Field("name", "Display name", f.text("name"), V.connector_name, placeholder="aws_legacy")
        yield SelectField("subscription_id", "Subscription", [(s, s) for s in subs], f.state.subscription_id or None,
                          hint="holds the connector and the Security Hub recommendations")
        with RadioSet(id="auth", compact=True):
            yield RadioButton("IAM role (recommended)", value=f.state.auth != "user", id="auth-role")
            yield RadioButton("IAM user with access keys (less secure)", value=f.state.auth == "user",
                              id="auth-user")
        yield Static("", id="role-help", classes="flow--text")
        yield Field("role_name", "Role name", f.role_name, V.role_name, hint="ctrl+r creates it through boto3")
        yield Field("role_arn", "Role ARN", f.text("role_arn"), V.role_arn,
                    placeholder="arn:aws:iam::123456789012:role/DefenderForCloudClassic")
        yield Field("access_key_id", "Access key ID", f.text("access_key_id"), V.access_key_id,
                    placeholder="AKIA…")
        yield Field("secret_access_key", "Secret access key", f.text("secret_access_key"), V.secret_access_key,
                    password=True, hint="masked; kept in memory only, never written")

    def mounted(self) -> None:
        self._show_auth()
        subs = self.ctx.subscriptions()
        if not self.flow.state.subscription_id and len(subs) == 1:
            self.query_one(SelectField).set_options([(s, s) for s in subs], subs[0])
        self.ensure_identity(self._show_auth)

    def on_select_field_changed(self, event: SelectField.Changed) -> None:
        if event.key == "subscription_id":
            self.flow.state.subscription_id = event.value or ""
            self._show_auth()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "auth":
            self.flow.state.auth = "user" if event.pressed.id == "auth-user" else "role"
            self._show_auth()

    def _show_auth(self) -> None:
        role = self.flow.state.auth != "user"
        for key in ("role_name", "role_arn"):
            self.query_one(f"#f-{key}", Field).display = role
        for key in ("access_key_id", "secret_access_key"):
            self.query_one(f"#f-{key}", Field).display = not role
        sub = self.flow.state.subscription_id or "<subscription id>"
        help_ = self.query_one("#role-help", Static)
        if role:
            help_.update(f"The role trusts Microsoft's account {MICROSOFT_ACCOUNT} with external ID {sub} (the "
                         f"subscription) and has the managed policies {', '.join(CLASSIC_POLICIES)}.")
        else:
            help_.update(f"An IAM user with programmatic access and the policies {', '.join(CLASSIC_POLICIES)}; "
                         "paste its access key ID and secret access key.")

    def step_errors(self) -> dict[str, str]:
        out = super().step_errors()
        out.pop("role_name", None)  # only needed to create the role here
        if not self.flow.state.subscription_id:
            out = {"subscription_id": "Subscription: choose the subscription that will hold the connector", **out}
        return out

    def action_create_role(self) -> None:
        if self.flow.state.auth == "user":
            self.say("the IAM user path needs no role: paste the user's access keys")
            return
        if not self.flow.state.subscription_id:
            self.say(Text("✖ choose the subscription first: it is the role's external ID"), error=True)
            return
        f = self.query_one("#f-role_name", Field)
        if f.validate_now():
            self.say(Text(f"✖ {f.error}"), error=True)
            return
        acct = self.flow.identity[0] if self.flow.identity else ""
        try:
            writes = bridge.plan_create_classic_role(self.ctx.settings, acct, self.flow.state.subscription_id,
                                                     self.flow.role_name)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}"), error=True)
            return

        def sent(results: list[Any]) -> None:
            self.flow.done_writes += [w.summary for w in writes]
            self.refresh_bindings()
            arn = bridge.role_arn_of(results, acct, self.flow.role_name)
            if arn:
                self.query_one("#f-role_arn", Field).set_value(arn)
            self.say(Text(f"✔ role created: {arn or self.flow.role_name}"))

        confirm_and_send(self, writes, title="Create the IAM role for Defender for Cloud (classic)", sent=sent,
                         failed=lambda m: self.say(Text(m), error=True),
                         cancelled=lambda: self.say("cancelled: " + NOTHING_SENT))


# ---------------------------------------------------------------------------------------------------------- step 3

class ClassicSsmStep(ClassicStep):
    INDEX = 2
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "check", "Check again")]

    def body(self) -> ComposeResult:
        yield Static("AWS Systems Manager onboards the EC2 instances: each needs the SSM agent, online. Instances "
                     "without it: install it (docs.aws.amazon.com/systems-manager, 'Installing SSM Agent').",
                     classes="flow--text")
        yield Static(Text("⟳ reading EC2 and SSM…", style="dim"), id="ssm-table")

    def mounted(self) -> None:
        self.ensure_identity(self.action_check)

    def action_check(self) -> None:
        acct = self.flow.aws_account()
        run_blocking(self, bridge.ssm_coverage, self.ctx.settings, acct, list(self.flow.state.regions),
                     done=self._show, failed=lambda e: self.query_one("#ssm-table", Static).update(
                         Text(f"✖ {one_line(e)}", style="red")), group="ssm", exclusive=True)

    def _show(self, rows: list[Any]) -> None:
        t = Text()
        t.append(f"{'REGION':<16}{'EC2':>6}{'SSM ONLINE':>12}{'NO AGENT':>10}  EXAMPLES\n", style="bold")
        total = online = 0
        for r in rows:
            total += r.ec2
            online += r.ssm_online
            missing = r.ec2 - r.ssm_online
            t.append(f"{r.region:<16}{r.ec2:>6}{r.ssm_online:>12}")
            t.append(f"{missing:>10}", style="yellow" if missing else "green")
            t.append(f"  {', '.join(r.missing[:3])}{' …' if len(r.missing) > 3 else ''}\n")
        pct = f"{100 * online // total} %" if total else "—"
        t.append(f"coverage {online} of {total} ({pct})", style="bold")
        self.query_one("#ssm-table", Static).update(t)


# ---------------------------------------------------------------------------------------------------------- step 4

class ClassicArcStep(ClassicStep):
    INDEX = 3
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+g", "register", "Register providers")]

    def body(self) -> ComposeResult:
        f, V = self.flow, bridge.validators()
        st = f.state
        yield Checkbox("Onboard the discovered EC2 instances to Azure Arc (auto-provision)",
                       value=bool(st.arc_auto_provision), compact=True, id="cb-arc")
        yield Static(Text("⟳ checking Microsoft.HybridCompute and Microsoft.GuestConfiguration…", style="dim"),
                     id="rp-checks")
        yield Field("resource_group", "Resource group", f.text("resource_group"), V.resource_group,
                    placeholder="arc-aws-ec2")
        yield Field("azure_region", "Azure region", f.text("azure_region"), V.azure_location,
                    suggestions=AZURE_LOCATIONS, placeholder="westeurope")
        yield Field("sp_application_id", "SP application ID", f.text("sp_application_id"), V.guid,
                    placeholder="00000000-0000-0000-0000-000000000000",
                    hint="a service principal for Arc onboarding at scale (an Owner creates it)")
        yield Field("sp_secret", "SP client secret", f.text("sp_secret"), V.sp_secret, password=True,
                    hint="masked; kept in memory only, never written")
        yield Field("proxy_url", "Proxy", f.text("proxy_url"), V.proxy_url, optional=True,
                    placeholder="http://<host>:<port>", hint="only if the instances reach the internet through one")

    def mounted(self) -> None:
        self._show_arc()
        self._check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "cb-arc":
            self.flow.state.arc_auto_provision = bool(event.value)
            self._show_arc()

    def _show_arc(self) -> None:
        on = bool(self.flow.state.arc_auto_provision)
        for key in ("resource_group", "azure_region", "sp_application_id", "sp_secret", "proxy_url"):
            self.query_one(f"#f-{key}", Field).display = on

    def _check(self) -> None:
        def failed(e: Any) -> None:
            self.query_one("#rp-checks", Static).update(
                Text(f"▲ could not check the resource providers: {one_line(e)}", style="yellow"))

        run_blocking(self, bridge.provider_checks, self.ctx.settings, self.flow.state.subscription_id,
                     self.flow.aws_account(), done=self._checked, failed=failed, group="rp", exclusive=True)

    def _checked(self, checks: list[Any]) -> None:
        self.provider_state = checks
        t = render_checks(checks)
        if any(c.ok is False for c in checks):
            t.append("\nctrl+g registers them (confirmed first)", style="dim")
        self.query_one("#rp-checks", Static).update(t)

    def action_register(self) -> None:
        missing = [c for c in getattr(self, "provider_state", []) if c.ok is False]
        if not missing:
            self.say("✔ both resource providers are registered" if getattr(self, "provider_state", None)
                     else "still checking the resource providers…")
            return
        writes = [w for c in missing for w in getattr(c, "writes", ())]
        if not writes:
            self.say(Text("✖ " + "; ".join(c.fix for c in missing if c.fix)), error=True)
            return

        def sent(results: list[Any]) -> None:
            self.flow.done_writes += [w.summary for w in writes]
            self.refresh_bindings()
            self.say("✔ registration requested (it takes a few minutes)")
            self._check()

        confirm_and_send(self, writes, title="Register the resource providers", sent=sent,
                         failed=self._failed_then_check,
                         cancelled=lambda: self.say("cancelled: " + NOTHING_SENT))


    def _failed_then_check(self, message: str) -> None:
        self.say(Text(message), error=True)
        self._check()


# ---------------------------------------------------------------------------------------------------------- step 5

class ClassicReviewStep(ClassicStep):
    INDEX = 4
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "create", "Create")]

    def body(self) -> ComposeResult:
        yield Static("", id="cr-summary")
        yield Static("Azure tags created on each onboarded EC2 machine", classes="flow--section")
        yield Static("", id="cr-tags", classes="flow--text")

    def mounted(self) -> None:
        st, f = self.flow.state, self.flow
        t = Text()
        rows = [("Display name", f.name), ("Subscription", st.subscription_id)]
        if st.auth == "user":
            rows += [("Authentication", "IAM user credentials"),
                     ("Access key ID", bridge.mask_key_id(st.access_key_id)),
                     ("Secret key", MASK if st.secret_access_key else "✖ missing")]
        else:
            rows += [("Authentication", "assume role"), ("Role ARN", st.role_arn), ("External ID", st.subscription_id)]
        if st.arc_auto_provision:
            rows += [("Azure Arc", f"on · {st.resource_group} · {st.azure_region}"),
                     ("Service principal", f"{st.sp_application_id} · secret {MASK if st.sp_secret else '✖ missing'}"),
                     ("Proxy", st.proxy_url or "none")]
        else:
            rows.append(("Azure Arc", "off"))
        rows.append(("Regions checked", ", ".join(st.regions) or "—"))
        for k, v in rows:
            t.append(f"{k:<18}", style="bold")
            t.append(f"{v}\n")
        if f.done_writes:
            t.append("Already changed in this flow: " + "; ".join(f.done_writes) + "\n", style="dim")
        t.append("ctrl+s Create sends one PUT to the classic connectors API (shown first, secrets masked)" +
                 ("; read-only: it will not be sent" if self.ctx.read_only else ""), style="dim")
        self.query_one("#cr-summary", Static).update(t)
        try:
            tags = bridge.classic_tags(st)
            tt = Text()
            for k, v in tags:
                tt.append(f"  {k}", style="bold")
                tt.append(f"  {v}\n" if v else "\n")
            self.query_one("#cr-tags", Static).update(tt)
        except Exception as e:  # noqa: BLE001 - an aside: one line
            self.query_one("#cr-tags", Static).update(Text(f"✖ {one_line(e)}"))

    def action_next(self) -> None:
        self.action_create()

    def action_create(self) -> None:
        missing = []
        if not self.flow.name:
            missing.append("display name (step 2)")
        errs = {}
        try:
            errs = dict(bridge.classic_errors(self.flow.state))
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            errs = {"_": one_line(e)}
        if missing or errs:
            self.say(Text("✖ cannot create yet: " + "; ".join(missing + list(errs.values())) +
                          " (ctrl+b goes back)"), error=True)
            return
        try:
            writes = bridge.plan_create_classic(self.ctx.settings, self.flow.state, self.flow.name)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}"), error=True)
            return
        confirm_and_send(self, writes, title="Create the classic connector", sent=self._created,
                         failed=lambda m: self.say(Text(m), error=True),
                         cancelled=lambda: self.say("Create cancelled: " + NOTHING_SENT))

    def _created(self, results: list[Any]) -> None:
        self.flow.created = self.flow.name
        app = self.app
        self.ctx.refresh_dashboard()
        app.pop_screen()
        if self.flow.on_finish is not None:
            self.flow.on_finish()
        app.notify(f"created classic connector {self.flow.name}: classic connectors were retired on 2023-09-15 and get "
                   "no data (no plan, no Arc onboarding); connect the account with the native connector (o, then 1)",
                   title="Classic connector", severity="warning", timeout=10)
