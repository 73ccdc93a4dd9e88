"""Settings: TOML in the platformdirs config dir < environment variables < CLI flags.

Never imports textual or rich.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import UsageError

APP_NAME = "mdc-aws"
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
ENV_ACCESS_TOKEN = "MDC_AWS_ACCESS_TOKEN"  # noqa: S105 - the name of the variable, not a token
MASKED = "<redacted>"  # how a secret setting shows in a repr


@dataclass(frozen=True)
class AzureSettings:
    """How to reach Azure Resource Manager and Resource Graph."""

    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    ca_bundle: str | None = None  # PEM file to trust (emulators, TLS-inspecting proxies)
    access_token: str | None = None  # static bearer token (MDC_AWS_ACCESS_TOKEN); else DefaultAzureCredential
    subscriptions: tuple[str, ...] = ()  # empty: every subscription visible
    retry_total: int = 3  # azure-core retries on 408/429/5xx (honours Retry-After)
    timeout_s: float = 30.0
    arg_batch_size: int = 300  # subscriptions per Resource Graph query (Microsoft's guidance: < 300)
    arg_page_size: int = 1000  # $top per page (max 1000)

    def __repr__(self) -> str:  # the token never reaches a log line, a traceback or a crash report
        fields = ", ".join(f"{k}={(MASKED if v else v)!r}" if k == "access_token" else f"{k}={v!r}"
                           for k, v in ((f, getattr(self, f)) for f in self.__dataclass_fields__))
        return f"AzureSettings({fields})"


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS and each account in it."""

    endpoint_url: str | None = None  # one endpoint for every service (emulators); None = AWS
    ca_bundle: str | None = None
    region: str = "us-east-1"  # region for global calls (STS, IAM, Organizations)
    profile: str | None = None  # base profile; None = boto3's default chain
    # How to reach an account other than the caller's: assume this role name in it ...
    assume_role_name: str = "OrganizationAccountAccessRole"
    # ... unless the account has its own role ARN or named profile here.
    account_roles: Mapping[str, str] = field(default_factory=dict)
    account_profiles: Mapping[str, str] = field(default_factory=dict)
    external_id: str | None = None
    # the hard cap on AWS requests in flight; the fan-out adapts under it (tui.core.aws.AdaptiveLimit): it starts at
    # concurrency_start, grows while calls are latency-bound and halves on a throttled answer
    max_workers: int = 64
    concurrency_start: int = 16
    max_attempts: int = 3  # botocore standard retry mode, total attempts
    timeout_s: float = 20.0


@dataclass(frozen=True)
class TenantSettings:
    """One Entra ID tenant to read (config file `[[tenants]]`): its own credential, optionally its own subscriptions.

    `access_token_env` is the NAME of an environment variable that holds a static bearer token of this tenant (the
    token itself never sits in the config file); without it, DefaultAzureCredential is asked for this tenant."""

    tenant_id: str
    name: str | None = None  # display name (accounts pane, `tenant:` filter); None: Azure's, else the id's start
    subscriptions: tuple[str, ...] = ()  # empty: every subscription this tenant's credential sees
    access_token_env: str | None = None


@dataclass(frozen=True)
class Settings:
    """Every setting: config file < environment < flags."""

    azure: AzureSettings = field(default_factory=AzureSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    refresh_s: float = 60.0
    data_dir: str | None = None  # history store; None = platformdirs user data dir
    # [[tenants]]: several tenants, each with its own credential; empty = the one tenant of azure.access_token /
    # DefaultAzureCredential (the single-tenant behaviour)
    tenants: tuple[TenantSettings, ...] = ()

    @property
    def tenants_key(self) -> str | None:
        """The history scope's tenant with [[tenants]] configured: the sorted tenant ids joined by ","; None
        without (the tenant a collection names)."""
        return ",".join(sorted(t.tenant_id.lower() for t in self.tenants)) if self.tenants else None


def config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get("MDC_AWS_CONFIG") or Path(user_config_dir(APP_NAME)) / "config.toml")


def data_dir(settings: Settings | None = None) -> Path:
    from platformdirs import user_data_dir

    if settings is not None and settings.data_dir:
        return Path(settings.data_dir)
    return Path(os.environ.get("MDC_AWS_DATA_DIR") or user_data_dir(APP_NAME))


# -- validation ---------------------------------------------------------------------------------------------------
# Where a value came from, for messages: "--ca-bundle", "MDC_AWS_CA_BUNDLE", or "config file <path>, key azure.x".
Sources = dict  # "azure.ca_bundle" -> label; see `source_label`

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_ACCOUNT = re.compile(r"\d{12}\Z")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}\Z")
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}\Z")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}\Z")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}\Z")
_PROFILE = re.compile(r"[^\s\x00-\x1f\[\]]{1,256}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")

# Environment variables read here, and the setting each one sets
ENV_VARS = {"MDC_AWS_ACCESS_TOKEN": "azure.access_token", "MDC_AWS_ARM_ENDPOINT": "azure.arm_endpoint",
            "MDC_AWS_CA_BUNDLE": "azure.ca_bundle", "MDC_AWS_AWS_ENDPOINT_URL": "aws.endpoint_url"}


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and v not in (float("inf"), float("-inf"))


def _int_in(lo: int, hi: int) -> Callable[[Any], tuple[Any, str | None]]:
    def check(v: Any) -> tuple[Any, str | None]:
        if not _is_int(v):
            return v, f"expected an integer from {lo} to {hi}"
        return v, None if lo <= v <= hi else f"expected an integer from {lo} to {hi}"
    return check


def _num_in(lo: float, hi: float) -> Callable[[Any], tuple[Any, str | None]]:
    def check(v: Any) -> tuple[Any, str | None]:
        if not _is_num(v) or not lo <= v <= hi:
            return v, f"expected a number of seconds from {lo:g} to {hi:g}"
        return float(v), None
    return check


def _text(rx: re.Pattern[str] | None, what: str) -> Callable[[Any], tuple[Any, str | None]]:
    def check(v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, str) or not v.strip():
            return v, f"expected {what} (a non-empty string)"
        if rx is not None and not rx.match(v):
            return v, f"expected {what}"
        return v, None
    return check


def _url(schemes: tuple[str, ...]) -> Callable[[Any], tuple[Any, str | None]]:
    def check(v: Any) -> tuple[Any, str | None]:
        from urllib.parse import urlsplit

        want = "expected an https:// URL" if schemes == ("https",) else "expected an http(s):// URL"
        if not isinstance(v, str) or not v.strip():
            return v, want
        try:
            u = urlsplit(v)
            u.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return v, want
        return v, None if u.scheme in schemes and u.hostname else want
    return check


def _subscriptions(v: Any) -> tuple[Any, str | None]:
    want = 'expected a list of subscription ids (GUIDs), e.g. ["00000000-0000-0000-0000-000000000000"]'
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        return v, want
    bad = [x for x in v if not _GUID.match(x)]
    return tuple(v), (f"{_short(bad[0])} is not a subscription id; {want}" if bad else None)


def _account_map(value_rx: re.Pattern[str], what: str) -> Callable[[Any], tuple[Any, str | None]]:
    def check(v: Any) -> tuple[Any, str | None]:
        want = f'expected a table of 12-digit AWS account id = {what}, e.g. "210987654321" = "..."'
        if not isinstance(v, dict):
            return v, want
        for k, x in v.items():
            if not _ACCOUNT.match(k):
                return v, f"{_short(k)} is not an AWS account id; {want}"
            if not isinstance(x, str) or not value_rx.match(x):
                return v, f"{k} = {_short(x)}: {want}"
        return dict(v), None
    return check


def _tenant_name(v: Any) -> tuple[Any, str | None]:
    if not isinstance(v, str) or not v.strip() or len(v) > 64 or any(ord(c) < 32 for c in v):
        return v, "expected a display name (1-64 printable characters)"
    return v.strip(), None


_Check = Callable[[Any], "tuple[Any, str | None]"]
TENANT_SCHEMA: dict[str, _Check] = {
    "tenant_id": _text(_GUID, "a tenant id (a GUID)"),
    "name": _tenant_name,
    "subscriptions": _subscriptions,
    "access_token_env": _text(_ENV_NAME, "the NAME of an environment variable that holds the token (letters, "
                                         "digits and _), e.g. \"FABRIKAM_TOKEN\"; never the token itself"),
}
assert set(TENANT_SCHEMA) == set(TenantSettings.__dataclass_fields__)


def _tenants(v: Any) -> tuple[tuple[TenantSettings, ...], list[str]]:
    """[[tenants]] -> TenantSettings, every key checked (strict: an unknown key is an error, not a warning)."""
    if not isinstance(v, list) or not all(isinstance(t, Mapping) for t in v):
        return (), ['tenants: expected an array of tables ([[tenants]] entries, each with tenant_id = "<GUID>")']
    out: list[TenantSettings] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for n, t in enumerate(v, 1):
        where = f"tenants[{n}]"
        vals: dict[str, Any] = {}
        for k, x in t.items():
            check = TENANT_SCHEMA.get(k)
            if check is None:
                hint = ("; a token goes into an environment variable named by access_token_env"
                        if k in ("access_token", "token") else "")
                errors.append(f"{where}.{k}: unknown key (known: {', '.join(TENANT_SCHEMA)}){hint}")
                continue
            value, problem = check(x)
            if problem:
                errors.append(f"{where}.{k} = {_short(x)}: {problem}")
            else:
                vals[k] = value
        if "tenant_id" not in t:
            errors.append(f'{where}.tenant_id: missing (each [[tenants]] entry needs tenant_id = "<GUID>")')
            continue
        if "tenant_id" not in vals:
            continue
        tid = vals["tenant_id"].lower()
        if tid in seen:
            errors.append(f"{where}.tenant_id = {_short(vals['tenant_id'])}: the same tenant as tenants[{seen[tid]}]; "
                          "list each tenant once")
            continue
        seen[tid] = n
        vals["tenant_id"] = tid
        out.append(TenantSettings(**vals))
    return tuple(out), errors


SCHEMA: dict[str, dict[str, _Check]] = {
    "azure": {
        "arm_endpoint": _url(("https",)),
        "ca_bundle": _text(None, "the path of a PEM file"),
        "access_token": _text(None, "a bearer token"),
        "subscriptions": _subscriptions,
        "retry_total": _int_in(0, 20),
        "timeout_s": _num_in(1, 3600),
        "arg_batch_size": _int_in(1, 1000),
        "arg_page_size": _int_in(1, 1000),
    },
    "aws": {
        "endpoint_url": _url(("http", "https")),
        "ca_bundle": _text(None, "the path of a PEM file"),
        "region": _text(_REGION, "an AWS region, e.g. us-east-1"),
        "profile": _text(_PROFILE, "an AWS profile name"),
        "assume_role_name": _text(_ROLE_NAME, "an IAM role name (1-64 of letters, digits and +=,.@_-)"),
        "account_roles": _account_map(_ROLE_ARN, "role ARN (arn:aws:iam::<account>:role/<name>)"),
        "account_profiles": _account_map(_PROFILE, "profile name"),
        "external_id": _text(_EXTERNAL_ID, "an external id (2-1224 of letters, digits and +=,.@:/_-)"),
        "max_workers": _int_in(1, 64),
        "concurrency_start": _int_in(1, 64),
        "max_attempts": _int_in(1, 20),
        "timeout_s": _num_in(1, 3600),
    },
    "": {
        "refresh_s": _num_in(2, 86400),
        "data_dir": _text(None, "a directory path"),
    },
}
assert set(SCHEMA["azure"]) == set(AzureSettings.__dataclass_fields__)
assert set(SCHEMA["aws"]) == set(AwsSettings.__dataclass_fields__)


def source_label(sources: Mapping[str, str] | None, key: str, flag: str | None = None) -> str:
    """How a message names where setting `key` came from: the flag, the variable, or the file and key."""
    src = (sources or {}).get(key)
    if src:
        return src
    return flag or f"setting {key}"


def bad_value(sources: Mapping[str, str] | None, key: str, value: Any, problem: str, flag: str | None = None) -> str:
    """One message for a bad value, naming where it came from: `MDC_AWS_CA_BUNDLE=/x: not a file`,
    `--ca-bundle '/x': not a file`, `config file /p: azure.ca_bundle = '/x': not a file`."""
    src = source_label(sources, key, flag)
    if src.startswith("--"):
        return f"{src} {_short(value)}: {problem}"
    if src.startswith("config file "):
        return f"{src} = {_short(value)}: {problem}"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", src):  # an environment variable
        return f"{src}={value}: {problem}"
    return f"{src} {_short(value)}: {problem}"


def load_file(path: Path | None = None) -> dict[str, Any]:
    """Read the TOML config; a missing file is an empty config, a broken one a UsageError naming the line."""
    p = path or config_path()
    try:
        if not p.exists():
            return {}
        import tomllib  # only when a config file exists: not on every start

        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"config file {p} cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise UsageError(f"config file {p} is not UTF-8 text; fix it or move it away") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {p} is not valid TOML ({e}); fix it or move it away") from None


def check_private(path: Path) -> str | None:
    """Why a file must not hold a token (readable or writable by others, or owned by someone else), or None."""
    try:
        st = path.stat()
    except OSError as e:
        return f"cannot be checked ({e.strerror or e})"
    getuid = getattr(os, "getuid", None)
    if getuid is not None and st.st_uid != getuid():
        return f"is owned by uid {st.st_uid}, not by you (uid {getuid()})"
    if os.name == "posix" and st.st_mode & 0o077:
        return f"is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def from_mapping(cfg: Mapping[str, Any], base: Settings | None = None, *, path: Path | str | None = None,
                 warn: Callable[[str], None] | None = None, sources: dict[str, str] | None = None) -> Settings:
    """Settings from a parsed config file, every value checked. Wrong types and bad values: one UsageError naming
    the file, each key and what is expected. Unknown tables and keys: `warn` (default: ignored)."""
    s = base or Settings()
    where = f"config file {path}" if path is not None else "config"
    errors: list[str] = []
    warnings: list[str] = []
    values: dict[str, dict[str, Any]] = {"azure": {}, "aws": {}, "": {}}
    if not isinstance(cfg, Mapping):
        raise UsageError(f"{where}: expected a TOML document (tables and keys)")
    for key, val in cfg.items():
        if key == "tenants":
            tenants, problems = _tenants(val)
            errors.extend(problems)
            if not problems:
                values[""]["tenants"] = tenants
        elif key in ("azure", "aws"):
            if not isinstance(val, Mapping):
                errors.append(f"{key} = {_short(val)}: expected a table ([{key}])")
                continue
            for sub, v in val.items():
                check = SCHEMA[key].get(sub)
                if check is None:
                    warnings.append(f"unknown key {key}.{sub} ignored (known: {', '.join(sorted(SCHEMA[key]))})")
                    continue
                out, problem = check(v)
                if problem:
                    errors.append(f"{key}.{sub} = {_short(v)}: {problem}")
                else:
                    values[key][sub] = out
        elif key in SCHEMA[""]:
            out, problem = SCHEMA[""][key](val)
            if problem:
                errors.append(f"{key} = {_short(val)}: {problem}")
            else:
                values[""][key] = out
        else:
            kind = "table" if isinstance(val, Mapping) else "key"
            known = "azure, aws, tenants, " + ", ".join(sorted(SCHEMA[""]))
            warnings.append(f"unknown {kind} {key} ignored (known: {known})")
    for w in warnings:
        if warn is not None:
            warn(f"{where}: {w}")
    if errors:
        raise UsageError(f"{where}: " + "; ".join(errors) + "; see README 'Configuration file'")
    if sources is not None and path is not None:
        for table, vals in values.items():
            for k in vals:
                full = f"{table}.{k}" if table else k
                sources[full] = f"config file {path}: {full}"
    return replace(s, azure=replace(s.azure, **values["azure"]), aws=replace(s.aws, **values["aws"]), **values[""])


def from_env(s: Settings, env: Mapping[str, str] | None = None, *, sources: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    az: dict[str, Any] = {}
    aws: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        v = env.get(var)
        if not v:
            continue
        table, name = key.split(".")
        (az if table == "azure" else aws)[name] = v
        if sources is not None:
            sources[key] = var
    return replace(s, azure=replace(s.azure, **az), aws=replace(s.aws, **aws))
