"""Every call the onboarding screens make into the core (tui.core.onboarding and the core sources), in one place.

Pure helpers (validators, state, bodies, template text) are called on the UI thread; everything that reaches Azure
or AWS (reads and writes) is called from thread workers (`common.run_blocking`) and may return an awaitable.
Never imports textual.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Sequence


def _v() -> Any:
    from tui.core.onboarding import validate

    return validate


def _wz() -> Any:
    from tui.core.onboarding import wizard

    return wizard


def _wr() -> Any:
    from tui.core.onboarding import writes

    return writes


def _doc() -> Any:
    from tui.core.onboarding import doctor

    return doctor


# ------------------------------------------------------------------------------------------------- validators

def _template_path(text: str) -> str | None:
    s = (text or "").strip()
    if not s:
        return "template file: a path is required"
    if "\x00" in s:
        return "template file: the path contains a NUL character"
    if s.endswith(("/", "\\")):
        return "template file: a file name is required, not a folder"
    return None


def _iam_name(text: str, what: str = "role name") -> str | None:
    s = (text or "").strip()
    if not s:
        return f"{what}: required"
    if len(s) > 64:
        return f"{what}: at most 64 characters (found {len(s)})"
    bad = next((c for c in s if not (c.isascii() and (c.isalnum() or c in "+=,.@_-"))), None)
    if bad is not None:
        return f"{what}: only letters, digits and + = , . @ _ - allowed (found {bad!r})"
    return None


def _role_name(text: str) -> str | None:
    return _iam_name(text, "role name")


def _user_name(text: str) -> str | None:
    return _iam_name(text, "IAM user name")


def _stack_name(text: str) -> str | None:
    s = (text or "").strip()
    if not s:
        return "stack name: required"
    if not s[0].isalpha():
        return "stack name: must start with a letter"
    if len(s) > 128:
        return f"stack name: at most 128 characters (found {len(s)})"
    bad = next((c for c in s if not (c.isascii() and (c.isalnum() or c == "-"))), None)
    if bad is not None:
        return f"stack name: only letters, digits and hyphens allowed (found {bad!r})"
    return None


def validators() -> Any:
    v = _v()
    ns = SimpleNamespace(**{k: f for k, f in v.VALIDATORS.items()})
    ns.sp_secret = v.service_principal_secret
    ns.template_path = _template_path
    ns.role_name = _role_name
    ns.user_name = _user_name
    ns.stack_name = _stack_name
    return ns


# ------------------------------------------------------------------------------------------------- state

def all_aws_regions() -> tuple[str, ...]:
    return tuple(_v().AWS_REGIONS)


def new_native_state() -> Any:
    return _wz().NativeState()


def new_classic_state() -> Any:
    return _wz().ClassicState()


def plan_info() -> dict[str, tuple[str, str, str]]:
    return dict(_wz().PLAN_INFO)


def wizard_errors(state: Any) -> dict[str, str]:
    return dict(_wz().errors(state))


def classic_errors(state: Any) -> dict[str, str]:
    return dict(_wz().classic_errors(state))


def offerings(state: Any) -> list[dict[str, Any]]:
    return _wz().offerings(state)


def connector_body(state: Any) -> dict[str, Any]:
    return _wz().connector_body(state)


def chosen_plans(state: Any) -> tuple[str, ...]:
    return tuple(state.plans.keys())


def summary_rows(state: Any) -> list[tuple[str, str]]:
    rows = list(_wz().summary(state))
    if sorted(getattr(state, "regions", []) or []) == sorted(all_aws_regions()):
        rows = [(k, f"all {len(all_aws_regions())} regions" if k == "AWS regions" else v) for k, v in rows]
    return rows


def classic_tags(state: Any) -> list[tuple[str, str]]:
    return list(_wz().classic_tags(state))


def mask_key_id(key: str | None) -> str:
    return _wz().mask_key_id(key)


# ------------------------------------------------------------------------------------------------- template

def template_for(state: Any, tenant_id: str | None = None) -> tuple[str, list[str]]:
    """(YAML text, the IAM resources it creates) for the wizard's state."""
    from tui.core.onboarding import template as t

    kw = _wz().template_kwargs(state)
    if tenant_id and not kw.get("tenant_id"):
        kw["tenant_id"] = tenant_id
    account = kw.pop("account_id") or "000000000000"
    plans = kw.pop("plans")
    text = t.template_text(account, plans, **kw)
    names = [state.role_names.get(r, r) if getattr(state, "role_names", None) else r for r in t.roles_for(plans)]
    return text, ["OIDC identity provider"] + names


def lint(text: str) -> list[str]:
    from tui.core.onboarding import template as t

    return list(t.lint(text))


def create_stack_command(stack_name: str, template_path: str, region: str | None = None) -> str:
    from tui.core.onboarding import template as t

    return t.create_stack_command(stack_name, template_path, region=region)


def stackset_instructions(state: Any, template_path: str | None = None) -> str:
    from tui.core.onboarding import template as t

    return t.stackset_instructions(state, template_path) if template_path else t.stackset_instructions(state)


def default_stack_name() -> str:
    from tui.core.onboarding import template as t

    return t.DEFAULT_STACK_NAME


def stack_region(state: Any) -> str:
    """Where the Stack goes: IAM is global, so us-east-1 unless the account scans none of it."""
    regions = list(getattr(state, "regions", []) or [])
    return "us-east-1" if (not regions or "us-east-1" in regions) else regions[0]


# ------------------------------------------------------------------------------------------------- reads (workers)

def caller_identity(settings: Any) -> tuple[str, str]:
    """(account, ARN) of the AWS credentials in use (STS GetCallerIdentity, through the core's AwsSource)."""
    from tui.core import policy
    from tui.core.aws import AwsSource

    policy.check_reads(settings, "sts:GetCallerIdentity")
    src = AwsSource(settings.aws)
    try:
        return tuple(src.caller_identity())  # type: ignore[return-value]
    finally:
        src.close()


@dataclass
class SsmRow:
    region: str
    ec2: int
    ssm_online: int
    missing: list[str] = field(default_factory=list)


def ssm_coverage(settings: Any, account: str | None, regions: Sequence[str]) -> list[SsmRow]:
    """EC2 instances (running) and SSM agents online, per region, through the core's AwsSource inventory."""
    from tui.core import policy
    from tui.core.aws import AwsSource

    policy.check_reads(settings, "reading the SSM coverage")
    async def go() -> list[SsmRow]:
        async with AwsSource(settings.aws) as src:
            acct = account
            if not acct:
                acct, _ = await src.caller_identity_async()
            inv = (await src.inventory({acct: list(regions)})).get(acct)
        if inv is None or not inv.readable:
            from tui.core.errors import SourceError

            raise SourceError(getattr(inv, "error", None) or f"account {acct} could not be read")
        online = {s.instance_id for s in inv.ssm if s.ping_status == "Online"}
        rows: dict[str, SsmRow] = {r: SsmRow(r, 0, 0) for r in (regions or inv.regions)}
        for i in inv.instances:
            if i.state != "running":
                continue
            row = rows.setdefault(i.region, SsmRow(i.region, 0, 0))
            row.ec2 += 1
            if i.instance_id in online:
                row.ssm_online += 1
            else:
                row.missing.append(i.name or i.instance_id)
        return sorted(rows.values(), key=lambda r: r.region)

    return asyncio.run(go())


# ------------------------------------------------------------------------------------------------- writes

def plan_create_native(settings: Any, state: Any) -> list[Any]:
    return _wr().plan_create_native_connector(settings, state)


def plan_deploy_stack(settings: Any, state: Any, template_text: str, stack_name: str) -> list[Any]:
    return _wr().plan_deploy_stack(settings, state.aws_account_id.strip(), stack_region(state), template_text,
                                   stack_name=stack_name.strip())


def plan_create_classic(settings: Any, state: Any, name: str) -> list[Any]:
    state.name = name
    return _wr().plan_create_classic_connector(settings, state)


def plan_delete_classic(settings: Any, connector: Any) -> list[Any]:
    return _wr().plan_delete_classic_connector(settings, connector.subscription_id, connector.name)


def plan_enable_config(settings: Any, account: str, region: str) -> list[Any]:
    return _wr().plan_enable_config_recorder(settings, account, region)


def plan_enable_security_hub(settings: Any, account: str, region: str) -> list[Any]:
    return _wr().plan_enable_security_hub(settings, account, region)


def plan_create_classic_role(settings: Any, account: str, subscription_id: str, role_name: str) -> list[Any]:
    return _wr().plan_create_classic_role(settings, account, subscription_id, role_name=role_name)


def plan_register_provider(settings: Any, subscription_id: str, namespace: str) -> list[Any]:
    return _wr().plan_register_provider(settings, subscription_id, namespace)


def classic_role_name_default() -> str:
    return _wr().CLASSIC_ROLE_NAME


def classic_policies() -> tuple[str, ...]:
    return tuple(_wr().CLASSIC_MANAGED_POLICIES)


def execute(writes: Sequence[Any], *, read_only: bool = False) -> list[Any]:
    """Send the writes in order (the core stops at the first failure: WriteError names what is done and left).
    The core's process-wide policy decides (read-only, sealed demo); `read_only=True` can only add read-only."""
    w = _wr()

    async def go() -> Any:
        return await w.execute_write(list(writes), read_only=read_only)

    return list(asyncio.run(go()))


def is_read_only_error(e: BaseException) -> bool:
    return isinstance(e, _wr().ReadOnlyError)


def result_text(result: Any) -> str:
    if isinstance(result, dict):
        for k in ("StackStatus", "StackId", "status", "provisioningState"):
            if k in result:
                return str(result[k])
    return "sent"


# ------------------------------------------------------------------------------------------------- doctor reads

PLAN_OF_CHECK = (("pricing", "servers"), ("EKS", "containers"), ("SQS", "containers"))


def plan_prereqs(settings: Any, state: Any) -> dict[str, list[Any]]:
    """The Select plans step's live checks (doctor.plan_checks), grouped by plan key."""
    d = _doc()
    keys = [k for k in state.plans.keys() if k in ("servers", "containers")]
    out: dict[str, list[Any]] = {k: [] for k in state.plans.keys()}
    if not keys:
        return out
    sub = (state.subscription_id or "").strip()
    acct = (state.aws_account_id or "").strip()
    checks = asyncio.run(d.plan_checks(settings, sub, acct, keys, list(state.regions or [])))
    for c in checks:
        plan = next((p for word, p in PLAN_OF_CHECK if word in c.name), None)
        out.setdefault(plan or "cspm", []).append(c)
    return out


def review_checks(settings: Any, state: Any) -> list[Any]:
    """Every prerequisite for this account, plans and subscription (doctor.run_doctor)."""
    d = _doc()
    return list(asyncio.run(d.run_doctor(settings, (state.aws_account_id or "").strip() or None,
                                         plans=list(state.plans.keys()),
                                         subscriptions=[state.subscription_id] if state.subscription_id else None)))


def provider_checks(settings: Any, subscription_id: str, account: str | None) -> list[Any]:
    """Classic Arc step: Microsoft.HybridCompute and Microsoft.GuestConfiguration registered? (the doctor's resource
    providers check; its `writes` register what is missing)."""
    d = _doc()
    if not subscription_id:
        from tui.core.errors import SourceError

        raise SourceError("choose the subscription first (step 2)", kind="usage")
    checks = asyncio.run(d.run_doctor(settings, account or None, plans=["cspm", "servers"],
                                      subscriptions=[subscription_id]))
    return [c for c in checks if c.name.startswith("resource providers")]


@dataclass
class RegionRow:
    region: str
    config: bool | None
    security_hub: bool | None
    error: str | None = None


def classic_region_status(settings: Any, account: str, regions: Sequence[str]) -> list[RegionRow]:
    d = _doc()
    got = asyncio.run(d.region_status(settings, account, list(regions)))
    return [RegionRow(r, got.get(r, {}).get("config"), got.get(r, {}).get("security_hub"), got.get(r, {}).get("error"))
            for r in regions]


def stack_status(settings: Any, state: Any, stack_name: str) -> str:
    d = _doc()
    status, reason = asyncio.run(d.stack_status(settings, state.aws_account_id.strip(), stack_region(state),
                                                stack_name.strip()))
    return f"{status}" + (f" ({reason})" if reason else "")


def role_arn_of(results: Sequence[Any], account: str | None, role_name: str) -> str | None:
    for r in results:
        if isinstance(r, dict) and isinstance(r.get("Role"), dict) and r["Role"].get("Arn"):
            return str(r["Role"]["Arn"])
    return f"arn:aws:iam::{account}:role/{role_name}" if account else None


# ------------------------------------------------------------------------------------------------- classic cleanup

def classic_auth(connector: Any) -> dict[str, Any]:
    props = (connector.raw or {}).get("properties") or {}
    auth = props.get("authenticationDetails") or {}
    return dict(auth) if isinstance(auth, dict) else {}


def classic_role_of(connector: Any) -> tuple[str, str] | None:
    """(account, role name) of a role-based classic connector."""
    arn = str(classic_auth(connector).get("awsAssumeRoleArn") or "")
    parts = arn.split(":")
    if len(parts) >= 6 and parts[5].startswith("role/"):
        return parts[4], parts[5].rsplit("/", 1)[-1]
    return None


def classic_key_of(connector: Any) -> str | None:
    k = str(classic_auth(connector).get("awsAccessKeyId") or "")
    return k if k and k.lower() != "null" else None


def plan_delete_role(settings: Any, account: str, role_name: str) -> list[Any]:
    """Reads the role's attached policies (doctor.role_policies), then plans detach + delete."""
    d = _doc()
    attached = asyncio.run(d.role_policies(settings, account, role_name))
    return _wr().plan_delete_classic_role(settings, account, role_name, attached_policies=attached)


def plan_delete_user_keys(settings: Any, account: str, user_name: str, key_id: str | None) -> list[Any]:
    """The user's access keys (doctor.access_keys): the connector's key when it is among them, else all of them."""
    d = _doc()
    keys = asyncio.run(d.access_keys(settings, account, user_name))
    if key_id and key_id in keys:
        keys = [key_id]
    if not keys:
        from tui.core.errors import SourceError

        raise SourceError(f"IAM user {user_name} in account {account} has no access keys: nothing to delete",
                          kind="usage")
    return _wr().plan_delete_access_keys(settings, account, user_name, keys)
