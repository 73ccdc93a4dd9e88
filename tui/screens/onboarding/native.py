"""The native connector wizard (environment settings): Account details -> Plans -> Access -> Review.

One screen per step; `NativeFlow` keeps the state (what was typed, exactly, including text that breaks a rule), so
back and next never lose anything; nothing is sent before Create (and then only through the confirmation screen).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Checkbox, RadioButton, RadioSet, Static

from tui.core.model import ALWAYS_ON_PLAN_KEYS, OPTIONAL_PLAN_KEYS, PLAN_KEYS  # the plan vocabulary (cheap)

from . import bridge
from .common import (AWS_REGIONS, AZURE_LOCATIONS, NOTHING_SENT, Ctx, Field, FlowScreen, SelectField, one_line,
                     run_blocking, split_list)
from .confirm import confirm_and_send

STEPS = ("Account details", "Plans", "Access", "Review")


class NativeFlow:
    """State and navigation of the wizard."""

    def __init__(self, ctx: Ctx, on_finish: Any = None) -> None:
        self.ctx = ctx
        self.state = bridge.new_native_state()
        self.state.regions = list(bridge.all_aws_regions())
        self.raw: dict[str, str] = {}  # field -> the text as typed
        self.template_path: str | None = None
        self.template_saved: str | None = None  # where the template was written (ctrl+s on step 3)
        self.stack_name: str = ""
        self.stack_status: str | None = None
        self.deployed = False
        self.identity: tuple[str, str] | None = None
        self.created: str | None = None
        self.on_finish = on_finish
        self.screens = (AccountStep, PlansStep, AccessStep, ReviewStep)

    # -- typed text -> state
    def set_raw(self, key: str, text: str, valid: bool) -> None:
        self.raw[key] = text
        if not valid and text.strip():
            return
        s = self.state
        t = text.strip()
        if key == "excluded_account_ids":
            s.excluded_account_ids = split_list(t)
        elif key == "regions":
            s.regions = split_list(t) or list(bridge.all_aws_regions())  # empty: all regions, as in the portal
        elif key == "scan_interval":
            try:
                s.scan_interval = int(t)
            except ValueError:
                pass
        elif hasattr(s, key):
            setattr(s, key, t)

    def text(self, key: str, default: str = "") -> str:
        if key in self.raw:
            return self.raw[key]
        v = getattr(self.state, key, None)
        if key == "regions" and list(v or []) == list(bridge.all_aws_regions()):
            return ""
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v)
        if v is None or v == "":
            return default
        return str(v)

    @property
    def sent_something(self) -> bool:
        return self.deployed

    # -- navigation
    def sync(self) -> None:
        tid = self.ctx.tenant_id(self.state.subscription_id or None)
        if not self.state.tenant_id and tid:
            self.state.tenant_id = tid

    def start(self) -> None:
        self.sync()
        self.ctx.app.push_screen(self.screens[0](self))

    def _index(self, screen: Any) -> int:
        return self.screens.index(type(screen))

    def next(self, screen: Any) -> None:
        i = self._index(screen)
        self.sync()
        if i + 1 < len(self.screens):
            self.ctx.app.switch_screen(self.screens[i + 1](self))

    def back(self, screen: Any) -> None:
        i = self._index(screen)
        if i > 0:
            self.ctx.app.switch_screen(self.screens[i - 1](self))

    def cancel(self, screen: Any) -> None:
        self.ctx.app.pop_screen()
        if self.created:
            return
        msg = "wizard closed: " + NOTHING_SENT
        if self.deployed:
            msg = (f"wizard closed: the CloudFormation stack {self.stack_name} was deployed; the Azure connector "
                   "was NOT created (left to do: `o`, same values, Create)")
        self.ctx.app.notify(msg, timeout=6)


class NativeStep(FlowScreen):
    TITLE_TEXT = "Connect an AWS account"
    STEPS = STEPS
    flow: NativeFlow

    def step_errors(self) -> dict[str, str]:
        out = super().step_errors()
        keys = self.state_keys()
        try:
            for k, msg in bridge.wizard_errors(self.flow.state).items():
                if k in keys and k not in out:
                    out[k] = msg
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            out["_"] = one_line(e)
        return out

    def state_keys(self) -> set[str]:
        return set()


# ---------------------------------------------------------------------------------------------------------- step 1

class AccountStep(NativeStep):
    INDEX = 0
    DEFAULT_CSS = """
    AccountStep #org { height: auto; border: none; padding: 0; margin-left: 19; width: auto; }
    AccountStep .org--label { width: 19; }
    """

    def state_keys(self) -> set[str]:
        keys = {"connector_name", "subscription_id", "resource_group", "location", "aws_account_id", "regions",
                "scan_interval", "organization"}
        if self.flow.state.organization == "management":
            keys |= {"stackset_name", "excluded_account_ids"}
        return keys

    def body(self) -> ComposeResult:
        f, V = self.flow, bridge.validators()
        subs = self.ctx.subscriptions()
        yield Field("connector_name", "Connector name", f.text("connector_name"), V.connector_name,
                    placeholder="aws-prod")
        yield SelectField("subscription_id", "Subscription", [(s, s) for s in subs], f.state.subscription_id or None,
                          hint=(f"{len(subs)} visible (Resource Graph)" if subs
                                else "⟳ loading the subscriptions from Resource Graph…"))
        yield Field("resource_group", "Resource group", f.text("resource_group"), V.resource_group,
                    placeholder="mdc-connectors")
        yield Field("location", "Azure region", f.text("location"), V.azure_location, placeholder="westeurope",
                    suggestions=AZURE_LOCATIONS)
        yield Field("aws_account_id", "AWS account ID", f.text("aws_account_id"), V.aws_account_id,
                    placeholder="123456789012", hint="⟳ asking STS who you are…" if not f.identity else "")
        yield Static("Scope", classes="flow--section")
        with RadioSet(id="org", compact=True):
            yield RadioButton("Single account", value=f.state.organization != "management", id="org-single")
            yield RadioButton("Management account (organization: members get connectors too)",
                              value=f.state.organization == "management", id="org-management")
        yield Field("stackset_name", "StackSet name", f.text("stackset_name"), V.stackset_name,
                    placeholder="MDC-Member-Accounts")
        yield Field("excluded_account_ids", "Excluded accounts", f.text("excluded_account_ids"),
                    V.aws_account_ids, optional=True, placeholder="111111111111, 222222222222",
                    hint="member accounts that get no connector (comma or space separated)")
        yield Field("regions", "AWS regions", f.text("regions"), V.aws_regions, optional=True,
                    placeholder="all regions", suggestions=AWS_REGIONS,
                    hint=f"empty: all {len(bridge.all_aws_regions())} regions; regions left out get no API calls")
        yield Field("scan_interval", "Scan interval (h)", f.text("scan_interval", "4"), V.scan_interval,
                    placeholder="4, 6, 12 or 24")

    def mounted(self) -> None:
        self._show_org()
        if not self.ctx.subscriptions():
            self.set_interval(1.0, self._poll_subscriptions, name="subs")
        elif not self.flow.state.subscription_id:
            subs = self.ctx.subscriptions()
            if len(subs) == 1:
                self.query_one(SelectField).set_options([(s, s) for s in subs], subs[0])
        if self.flow.identity is None:
            run_blocking(self, bridge.caller_identity, self.ctx.settings, done=self._identity,
                         failed=self._identity_failed, group="sts")
        else:
            self._identity(self.flow.identity)

    def _poll_subscriptions(self) -> None:
        subs = self.ctx.subscriptions()
        if subs:
            sf = self.query_one(SelectField)
            sf.set_options([(s, s) for s in subs], self.flow.state.subscription_id or (subs[0] if len(subs) == 1
                                                                                        else None))
            sf.set_hint(f"{len(subs)} visible (Resource Graph)")
            for t in list(self._timers):
                if getattr(t, "name", "") == "subs":
                    t.stop()

    def _identity(self, ident: Any) -> None:
        if not ident:
            return
        account, arn = ident
        self.flow.identity = (account, arn)
        f = self.query_one("#f-aws_account_id", Field)
        if not f.value.strip() and "aws_account_id" not in self.flow.raw:
            f.set_value(account)
            f.set_hint(f"offered from STS caller identity: {arn}")
        elif f.value.strip() != account:
            f.set_hint(f"STS caller identity: {account} ({arn})")
        else:
            f.set_hint(f"STS caller identity: {arn}")

    def _identity_failed(self, e: BaseException) -> None:
        self.query_one("#f-aws_account_id", Field).set_hint(f"▲ STS caller identity unavailable: {one_line(e)}")

    def on_select_field_changed(self, event: SelectField.Changed) -> None:
        if event.key == "subscription_id":
            self.flow.state.subscription_id = event.value or ""
            self.flow.raw["subscription_id"] = event.value or ""
            # the template trusts the tenant of the subscription that holds the connector (a delegated one's own)
            tid = self.flow.ctx.tenant_id(event.value or None)
            if tid:
                self.flow.state.tenant_id = tid
            self.say("")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "org":
            self.flow.state.organization = "management" if event.pressed.id == "org-management" else "single"
            self._show_org()

    def _show_org(self) -> None:
        mgmt = self.flow.state.organization == "management"
        for key in ("stackset_name", "excluded_account_ids"):
            self.query_one(f"#f-{key}", Field).display = mgmt

    def step_errors(self) -> dict[str, str]:
        out = super().step_errors()
        if not self.flow.state.subscription_id and "subscription_id" not in out:
            out = {"subscription_id": "Subscription: choose the subscription that will hold the connector", **out}
        return out


# ---------------------------------------------------------------------------------------------------------- step 2

class PlansStep(NativeStep):
    INDEX = 1
    DEFAULT_CSS = """
    PlansStep .plan { height: auto; }
    PlansStep .plan--info { height: auto; padding-left: 4; color: $text-muted; }
    PlansStep .plan--info.-off { text-wrap: nowrap; text-overflow: ellipsis; }
    PlansStep .plan--checks { height: auto; padding-left: 4; display: none; }
    PlansStep .plan--checks.-shown { display: block; }
    PlansStep .plan--settings { height: auto; padding-left: 4; }
    PlansStep .plan--settings RadioSet { border: none; padding: 0; width: auto; }
    PlansStep .plan--settings SelectField .field--label { width: 26; }
    """

    def state_keys(self) -> set[str]:
        return {"plans", "servers_sub_plan", "vulnerability_assessment", "arc_proxy"}

    def body(self) -> ComposeResult:
        p = self.flow.state.plans
        info = bridge.plan_info()
        for key in PLAN_KEYS:
            title, cost, prereq = info.get(key, (key, "", ""))
            with Vertical(classes="plan", id=f"plan-{key}"):
                always = key in ALWAYS_ON_PLAN_KEYS
                on = True if always else bool(getattr(p, key, False))
                yield Checkbox(title + ("  (always on)" if always else ""), value=on, compact=True,
                               id=f"cb-{key}", disabled=always)
                yield Static(self._info(key, on), classes="plan--info" + ("" if on else " -off"), id=f"info-{key}")
                if key == "servers":
                    with Vertical(classes="plan--settings", id="servers-settings"):
                        with RadioSet(id="servers-sub", compact=True):
                            yield RadioButton("Plan 1", value=p.servers_sub_plan == "P1", id="sub-P1")
                            yield RadioButton("Plan 2", value=p.servers_sub_plan != "P1", id="sub-P2")
                        yield Checkbox("Azure Arc auto-provisioning", value=bool(p.arc_auto_provisioning),
                                       compact=True, id="cb-arc_auto_provisioning")
                        yield Checkbox("Microsoft Defender for Endpoint", value=bool(p.mde), compact=True,
                                       id="cb-mde")
                        yield SelectField("vulnerability_assessment", "Vulnerability assessment",
                                          [("Microsoft Defender VM (MDVM)", "TVM"), ("Qualys", "Qualys")],
                                          p.vulnerability_assessment, prompt="off")
                        yield Checkbox("Agentless scanning (Plan 2)", value=bool(p.agentless_scanning),
                                       compact=True, id="cb-agentless_scanning")
                        yield Field("arc_proxy", "Arc proxy", self.flow.text("arc_proxy"),
                                    bridge.validators().proxy_url, optional=True, placeholder="http://<host>:<port>",
                                    hint="only if the EC2 instances reach Azure Arc through a proxy")
                yield Static("", classes="plan--checks", id=f"checks-{key}")

    def _info(self, key: str, on: bool) -> Text:
        title, cost, prereq = bridge.plan_info().get(key, (key, "", ""))
        if not on:  # one line: what it costs; the rest when it is chosen
            return Text(f"cost: {cost}", no_wrap=True, overflow="ellipsis")
        return Text(f"cost: {cost}" + (f"\nneeds: {prereq}" if prereq else ""))

    def mounted(self) -> None:
        self._show_settings()
        self._check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        key = (event.checkbox.id or "").removeprefix("cb-")
        p = self.flow.state.plans
        if key and hasattr(p, key) and key not in ALWAYS_ON_PLAN_KEYS:
            setattr(p, key, bool(event.value))
        if key in PLAN_KEYS:
            on = key in ALWAYS_ON_PLAN_KEYS or bool(event.value)
            info = self.query_one(f"#info-{key}", Static)
            info.update(self._info(key, on))
            info.set_class(not on, "-off")
        self._show_settings()
        if key in OPTIONAL_PLAN_KEYS or key == "arc_auto_provisioning":
            self._check()
        self.say("")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "servers-sub":
            self.flow.state.plans.servers_sub_plan = "P1" if event.pressed.id == "sub-P1" else "P2"
            self._check()

    def on_select_field_changed(self, event: SelectField.Changed) -> None:
        if event.key == "vulnerability_assessment":
            self.flow.state.plans.vulnerability_assessment = event.value

    def _show_settings(self) -> None:
        self.query_one("#servers-settings").display = bool(self.flow.state.plans.servers)

    def _check(self) -> None:
        for key in PLAN_KEYS:
            on = key in ALWAYS_ON_PLAN_KEYS or bool(getattr(self.flow.state.plans, key, False))
            w = self.query_one(f"#checks-{key}", Static)
            live = key in ("servers", "containers")
            w.update(Text("⟳ checking prerequisites…", style="dim") if on and live else "")
            w.set_class(on and live, "-shown")
        run_blocking(self, bridge.plan_prereqs, self.ctx.settings, self.flow.state, done=self._checked,
                     failed=self._check_failed, group="prereqs", exclusive=True)

    def _checked(self, checks: dict[str, list[Any]]) -> None:
        self.flow.prereqs = checks  # type: ignore[attr-defined]
        for key in PLAN_KEYS:
            on = key in ALWAYS_ON_PLAN_KEYS or bool(getattr(self.flow.state.plans, key, False))
            w = self.query_one(f"#checks-{key}", Static)
            got = checks.get(key, []) if on else []
            w.update(render_checks(got) if got else "")
            w.set_class(bool(got), "-shown")

    def _check_failed(self, e: BaseException) -> None:
        self.say(Text(f"▲ prerequisites could not be checked: {one_line(e)}"), error=True)
        for key in PLAN_KEYS:
            self.query_one(f"#checks-{key}", Static).remove_class("-shown")


def render_checks(checks: list[Any]) -> Text:
    t = Text()
    for c in checks:
        mark, style = ("✔", "green") if c.ok else (("✖", "red") if c.ok is False else ("?", "yellow"))
        t.append(f"{mark} ", style=style)
        t.append(f"{c.name}")
        if c.detail:
            t.append(f": {c.detail}", style="" if c.ok else "yellow")
        if not c.ok and getattr(c, "fix", None):
            t.append(f"\n    fix: {c.fix}", style="dim")
        t.append("\n")
    t.rstrip()
    return t


# ---------------------------------------------------------------------------------------------------------- step 3

class AccessStep(NativeStep):
    INDEX = 2
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save template"),
        Binding("ctrl+t", "deploy", "Deploy stack"),
        Binding("ctrl+l", "view", "View template"),
    ]
    DEFAULT_CSS = """
    AccessStep #access { height: auto; border: none; padding: 0; width: auto; }
    AccessStep .access--cmd { height: auto; background: $boost; padding: 0 1; }
    """

    def state_keys(self) -> set[str]:
        return {"least_privilege"}

    def body(self) -> ComposeResult:
        f, V = self.flow, bridge.validators()
        st = f.state
        yield Static("Permissions", classes="flow--section")
        with RadioSet(id="access", compact=True):
            yield RadioButton("Default access (new Defender capabilities are included automatically)",
                              value=not st.least_privilege, id="acc-default")
            yield RadioButton("Least privilege (you are told when a capability needs new permissions)",
                              value=bool(st.least_privilege), id="acc-least")
        yield Static("CloudFormation template", classes="flow--section")
        yield Static("", id="tpl-summary", classes="flow--text")
        yield Static("⟳ cfn-lint: linting…", id="tpl-lint")
        default_path = str(Path(os.environ.get("MDC_AWS_EXPORT_DIR", ".")) /
                           f"mdc-aws-{st.aws_account_id or 'account'}-{st.connector_name or 'connector'}.yaml")
        yield Field("template_path", "Save to", f.template_path or default_path, V.template_path,
                    hint="ctrl+s saves the template here")
        f.stack_name = f.stack_name or bridge.default_stack_name()
        yield Field("stack_name", "Stack name", f.stack_name, V.stack_name,
                    hint=f"ctrl+t deploys it with boto3 in account {st.aws_account_id}, {bridge.stack_region(st)} "
                         "(confirmed first)")
        yield Static("Create the stack in AWS (as an administrator of the account):", classes="flow--section")
        yield Static("", id="tpl-cmd", classes="access--cmd")
        yield Static("", id="tpl-deploy")
        if st.organization == "management":
            yield Static("Organization: Stack + StackSet", classes="flow--section")
            yield Static("", id="tpl-stackset", classes="flow--text")

    def mounted(self) -> None:
        self.template_text = ""
        self._make_template()
        if self.flow.stack_status:
            self._status(self.flow.stack_status)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "access":
            self.flow.state.least_privilege = event.pressed.id == "acc-least"
            self._make_template()

    def field_changed(self, event: Field.Changed) -> None:
        if event.key == "template_path":
            self.flow.template_path = event.value
            self._command()
        elif event.key == "stack_name":
            self.flow.stack_name = event.value
            self._command()
        else:
            super().field_changed(event)

    def _make_template(self) -> None:
        try:
            text, roles = bridge.template_for(self.flow.state,
                                              self.ctx.tenant_id(self.flow.state.subscription_id or None))
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.query_one("#tpl-summary", Static).update(Text(f"✖ the template could not be made: {one_line(e)}",
                                                               style="red"))
            return
        self.template_text = text
        plans = bridge.chosen_plans(self.flow.state)
        self.query_one("#tpl-summary", Static).update(
            f"plans {', '.join(sorted(plans))} · {'least privilege' if self.flow.state.least_privilege else 'default'}"
            f" access · {len(text.splitlines())} lines\ncreates: " + ", ".join(roles))
        self.query_one("#tpl-lint", Static).update(Text("⟳ cfn-lint: linting…", style="dim"))
        run_blocking(self, bridge.lint, text, done=self._linted,
                     failed=lambda e: self._linted([f"cfn-lint could not run: {one_line(e)}"]),
                     group="lint", exclusive=True)
        self._command()
        if self.flow.state.organization == "management":
            try:
                self.query_one("#tpl-stackset", Static).update(bridge.stackset_instructions(
                    self.flow.state, self.flow.template_path or self.query_one("#f-template_path", Field).value))
            except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
                self.query_one("#tpl-stackset", Static).update(Text(f"✖ {one_line(e)}"))

    def _linted(self, errors: list[str]) -> None:
        w = self.query_one("#tpl-lint", Static)
        if not errors:
            w.update(Text("✔ cfn-lint: 0 errors", style="green"))
        else:
            w.update(Text(f"✖ cfn-lint: {len(errors)} error(s): " + "; ".join(errors[:3]), style="red"))

    def _command(self) -> None:
        try:
            cmd = bridge.create_stack_command(self.flow.stack_name, self.flow.template_path or
                                              self.query_one("#f-template_path", Field).value,
                                              region=bridge.stack_region(self.flow.state))
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            cmd = f"✖ {one_line(e)}"
        self.query_one("#tpl-cmd", Static).update(cmd)

    def action_save(self) -> None:
        f = self.query_one("#f-template_path", Field)
        if f.validate_now():
            self.say(Text(f"✖ {f.error}"), error=True)
            return
        path = Path(f.value).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.template_text, encoding="utf-8")
        except OSError as e:
            self.say(Text(f"✖ could not write {path}: {e.strerror}; choose another path"), error=True)
            return
        self.flow.template_path = str(path)
        self.flow.template_saved = str(path)
        self.say(Text(f"✔ saved the template to {path} ({len(self.template_text.splitlines())} lines)"))
        self._command()

    def action_view(self) -> None:
        from tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(["Onboarding", "Access", "CloudFormation template"],
                                          Text(self.template_text)))

    def action_deploy(self) -> None:
        f = self.query_one("#f-stack_name", Field)
        if f.validate_now():
            self.say(Text(f"✖ {f.error}"), error=True)
            return
        acct = self.flow.state.aws_account_id
        if bridge.validators().aws_account_id(acct):
            self.say(Text("✖ the AWS account ID is not valid yet (ctrl+b twice)"), error=True)
            return
        try:
            writes = bridge.plan_deploy_stack(self.ctx.settings, self.flow.state, self.template_text,
                                              self.flow.stack_name)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}"), error=True)
            return
        confirm_and_send(self, writes, title="Deploy the CloudFormation stack", sent=self._deployed,
                         failed=lambda m: self.say(Text(m), error=True),
                         cancelled=lambda: self.say("deploy cancelled: " + NOTHING_SENT))

    def _deployed(self, results: list[Any]) -> None:
        self.flow.deployed = True
        self.refresh_bindings()
        self._status("CREATE_IN_PROGRESS (sent)")
        run_blocking(self, bridge.stack_status, self.ctx.settings, self.flow.state, self.flow.stack_name,
                     done=self._status, failed=lambda e: self._status(f"status unknown: {one_line(e)}"),
                     group="stack")

    def _status(self, status: Any) -> None:
        text = str(status)
        self.flow.stack_status = text
        ok = "COMPLETE" in text and "ROLLBACK" not in text and "DELETE" not in text
        line = Text(f"{'✔' if ok else '⟳' if 'PROGRESS' in text else '✖'} stack {self.flow.stack_name}: {text}",
                    style="green" if ok else "yellow")
        self.query_one("#tpl-deploy", Static).update(line)
        self.say(line, error=not ok and "PROGRESS" not in text)
        if "PROGRESS" in text and self.is_attached:
            self.set_timer(2.0, lambda: run_blocking(self, bridge.stack_status, self.ctx.settings, self.flow.state,
                                                     self.flow.stack_name, done=self._status, group="stack"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return super().check_action(action, parameters)


# ---------------------------------------------------------------------------------------------------------- step 4

class ReviewStep(NativeStep):
    INDEX = 3
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "create", "Create"),
    ]

    def body(self) -> ComposeResult:
        yield Static("", id="rv-summary")
        yield Static("Prerequisites", classes="flow--section")
        yield Static(Text("⟳ checking…", style="dim"), id="rv-checks")
        yield Static("Offerings (the plans, as sent)", classes="flow--section")
        yield Static("", id="rv-offerings", classes="flow--text")

    def mounted(self) -> None:
        st = self.flow.state
        t = Text()
        try:
            rows = bridge.summary_rows(st)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            rows = [("Summary", f"✖ {one_line(e)}")]
        rows.append(("Template", f"saved to {self.flow.template_saved}" if self.flow.template_saved
                     else "▲ not saved (step 3, ctrl+s)"))
        if self.flow.stack_status:
            rows.append(("Stack", f"{self.flow.stack_name}: {self.flow.stack_status}"))
        for k, v in rows:
            t.append(f"{k:<18}", style="bold")
            t.append(f"{v}\n")
        if not self.flow.stack_status:
            t.append("▲ the CloudFormation stack must exist in AWS before Defender can scan (step 3)\n",
                     style="yellow")
        t.append("ctrl+s Create sends one PUT (shown first); " + ("read-only: it will not be sent"
                                                               if self.ctx.read_only else "nothing before"),
                 style="dim")
        self.query_one("#rv-summary", Static).update(t)
        try:
            payload = bridge.offerings(st)
            self.query_one("#rv-offerings", Static).update(json.dumps(payload, indent=2))
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.query_one("#rv-offerings", Static).update(Text(f"✖ {one_line(e)}", style="red"))
        run_blocking(self, bridge.review_checks, self.ctx.settings, st, done=self._checks,
                     failed=lambda e: self.query_one("#rv-checks", Static).update(
                         Text(f"▲ could not check: {one_line(e)}", style="yellow")), group="review")

    def _checks(self, checks: list[Any]) -> None:
        self.query_one("#rv-checks", Static).update(render_checks(checks) if checks else "no checks")

    def action_next(self) -> None:
        self.action_create()

    def action_create(self) -> None:
        errs = self._all_errors()
        if errs:
            self.say(Text("✖ cannot create yet: " + "; ".join(errs.values()) + " (ctrl+b goes back)"), error=True)
            return
        try:
            writes = bridge.plan_create_native(self.ctx.settings, self.flow.state)
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            self.say(Text(f"✖ {one_line(e)}"), error=True)
            return
        confirm_and_send(self, writes, title="Create the AWS connector", sent=self._created,
                         failed=lambda m: self.say(Text(m + " Nothing else was changed; fix it and ctrl+s again."),
                                                   error=True),
                         cancelled=lambda: self.say("Create cancelled: " + NOTHING_SENT))

    def _all_errors(self) -> dict[str, str]:
        try:
            return dict(bridge.wizard_errors(self.flow.state))
        except Exception as e:  # noqa: BLE001 - any core failure: one line + fix
            return {"_": one_line(e)}

    def _created(self, results: list[Any]) -> None:
        st = self.flow.state
        self.flow.created = st.connector_name
        app = self.app
        self.flow.ctx.refresh_dashboard()
        done = self.flow.on_finish
        app.pop_screen()
        if done is not None:
            done()
        app.notify(f"created connector {st.connector_name} for AWS account {st.aws_account_id}; the dashboard is "
                   "refreshing (recommendations arrive within a few hours)", title="Onboarding", timeout=10)
