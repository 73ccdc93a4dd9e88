"""The sealed demo: what a `--demo` run may reach and with which credentials, decided before anything runs.

    removed = seal_environment()              # the CLI, first thing in a --demo run: operator credentials gone
    settings = sealed_settings(base)          # loopback placeholders, no token / profile of the operator
    ... the estate starts (the App, after its first frame; a subcommand, before its work) ...
    settings = estate_settings(info, base)    # the estate's endpoints (127.0.0.1) and its demo token; marks it ready
    failed(e)                                 # or: the one-line message every later read / write shows

A demo run never uses the operator's configuration for where to go or who to be: not the shell's AWS_* / Azure
identity / MDC_AWS_* variables (removed from this process, so from its children too), not the config file's
endpoints, tokens, profiles or roles, not the endpoint / profile flags. Until the estate is ready the settings point
at loopback placeholders (`is_placeholder`) that every onboarding read and write refuses with a clear message
(`check`); `tui.core.policy` enforces it where every write passes.

Never imports textual, rich or the emulator (the estate is started by the CLI or the App).
"""
from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Any, Mapping, MutableMapping

from .config import AwsSettings, AzureSettings, Settings
from .errors import SourceError

EXTRAS_HINT = "install the demo extras: pip install 'mdc-aws[demo]'"

# Until the estate is ready: loopback, a port nothing serves (discard), a token the estate would not accept.
PLACEHOLDER_ARM_ENDPOINT = "https://127.0.0.1:9"
PLACEHOLDER_AWS_ENDPOINT = "http://127.0.0.1:9"
PLACEHOLDER_TOKEN = "mdc-aws-demo-placeholder"  # noqa: S105 - not a secret: a marker

# What a demo keeps of the operator's environment: where files go, nothing about where requests go or who signs them.
KEEP_MDC_ENV = frozenset({"MDC_AWS_CONFIG", "MDC_AWS_DATA_DIR", "MDC_AWS_EXPORT_DIR", "MDC_AWS_CLI_VENV",
                          "MDC_AWS_LOG_FILE"})
# Azure identity outside the AZURE_ prefix (managed identity of App Service / Arc / Cloud Shell, pipelines' OIDC).
AZURE_IDENTITY_ENV = frozenset({"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
                                "MSI_ENDPOINT", "MSI_SECRET", "ACTIONS_ID_TOKEN_REQUEST_URL",
                                "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SYSTEM_OIDCREQUESTURI", "SYSTEM_ACCESSTOKEN"})
# A proxy would carry requests meant for 127.0.0.1 to another host.
PROXY_ENV = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"})
# AWS for a demo: moto's fake keys (what EstateInfo.env() gives; not credentials), no config files, no IMDS.
DEMO_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fakes
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}

# Config keys a demo may take from the config file (how much, how long; never where or who).
_KEEP_AZURE = frozenset({"retry_total", "timeout_s", "arg_batch_size", "arg_page_size"})
_KEEP_AWS = frozenset({"max_workers", "max_attempts", "timeout_s"})


def sealed_env_name(name: str) -> bool:
    """True for a variable a demo removes: AWS_*, AZURE_*, Azure identity, proxies, MDC_AWS_* but file locations."""
    if name.startswith("MDC_AWS_"):
        return name not in KEEP_MDC_ENV
    return name.startswith(("AWS_", "AZURE_")) or name in AZURE_IDENTITY_ENV or name in PROXY_ENV


def seal_environment(environ: MutableMapping[str, str] | None = None,
                     extra: Mapping[str, str] | None = None) -> list[str]:
    """Remove every operator credential / endpoint variable from `environ` (this process's: its children inherit
    it), then set the demo's fake AWS keys (and `extra` AWS_* values, e.g. EstateInfo.env()). Returns the names
    removed whose value the demo did not set itself (for a one-line note)."""
    env = os.environ if environ is None else environ
    removed = [k for k in list(env) if sealed_env_name(k)]
    before = {k: env[k] for k in removed}
    for k in removed:
        del env[k]
    env.update(DEMO_AWS_ENV)
    for k, v in (extra or {}).items():
        if k.startswith("AWS_"):
            env[k] = v
    return sorted(k for k in removed if env.get(k) != before[k])


def sealed_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The config file as a demo reads it: [azure] and [aws] keep only sizes, retries and timeouts."""
    out = {k: v for k, v in raw.items() if k not in ("azure", "aws")}
    for table, keep in (("azure", _KEEP_AZURE), ("aws", _KEEP_AWS)):
        t = raw.get(table)
        if isinstance(t, Mapping):
            out[table] = {k: v for k, v in t.items() if k in keep}
    return out


def sealed_settings(base: Settings | None = None, subscriptions: tuple[str, ...] | None = None) -> Settings:
    """Demo settings before the estate is ready: loopback placeholders, the placeholder token, no profile, role or
    account mapping of the operator. From `base` only sizes, retries, timeouts, the refresh cadence and the data dir
    are kept (a whitelist: a credential field added later never leaks into a demo). Idempotent."""
    b = base or Settings()
    az = AzureSettings(arm_endpoint=PLACEHOLDER_ARM_ENDPOINT, access_token=PLACEHOLDER_TOKEN,
                       subscriptions=tuple(subscriptions or ()), retry_total=b.azure.retry_total,
                       timeout_s=b.azure.timeout_s, arg_batch_size=b.azure.arg_batch_size,
                       arg_page_size=b.azure.arg_page_size)
    aws = AwsSettings(endpoint_url=PLACEHOLDER_AWS_ENDPOINT, max_workers=b.aws.max_workers,
                      max_attempts=b.aws.max_attempts, timeout_s=b.aws.timeout_s)
    return replace(Settings(), azure=az, aws=aws, refresh_s=b.refresh_s, data_dir=b.data_dir)


def estate_settings(info: Any, base: Settings | None = None) -> Settings:
    """The settings of a demo once its estate serves (`info`: tui.emulator.estate.EstateInfo): its endpoints, CA and
    demo token over `sealed_settings(base)` (subscription filter kept). Seals this process's environment (AWS: the
    estate's fake keys) and marks the demo ready."""
    s = sealed_settings(base, base.azure.subscriptions if base is not None else None)
    env = info.env() if hasattr(info, "env") else {}
    seal_environment(extra=env)
    s = replace(s, azure=replace(s.azure, arm_endpoint=info.arm_url, ca_bundle=info.ca_pem, access_token=info.token),
                aws=replace(s.aws, endpoint_url=info.aws_url))
    ready(s)
    return s


def is_placeholder(settings: Any) -> bool:
    """True for the settings of a demo whose estate is not ready (starting, or failed to start)."""
    az = getattr(settings, "azure", None)
    aws = getattr(settings, "aws", None)
    return (getattr(az, "arm_endpoint", None) == PLACEHOLDER_ARM_ENDPOINT
            or getattr(aws, "endpoint_url", None) == PLACEHOLDER_AWS_ENDPOINT
            or getattr(az, "access_token", None) == PLACEHOLDER_TOKEN)


# ------------------------------------------------------------------------------------------------------------------
# The estate's state in this process

_lock = threading.Lock()
_state = "idle"  # idle | starting | ready | failed
_message = ""
_tokens: set[str] = set()  # the bearer tokens of estates this process started (a demo sends no other)


def starting() -> None:
    global _state, _message
    with _lock:
        _state, _message = "starting", ""


def ready(settings: Settings) -> None:
    global _state, _message
    with _lock:
        _state, _message = "ready", ""
        if settings.azure.access_token:
            _tokens.add(settings.azure.access_token)


def failed(error: BaseException | str) -> str:
    """Record that the estate could not start; returns the message every later read and write shows."""
    global _state, _message
    msg = failure_message(error)
    with _lock:
        _state, _message = "failed", msg
    return msg


def status() -> tuple[str, str]:
    """("idle" | "starting" | "ready" | "failed", the failure message)."""
    with _lock:
        return _state, _message


def known_token(token: str | None) -> bool:
    with _lock:
        return bool(token) and token in _tokens


def reset() -> None:
    """Tests only: forget the estate's state."""
    global _state, _message
    with _lock:
        _state, _message = "idle", ""
        _tokens.clear()


def failure_message(error: BaseException | str) -> str:
    """One line: why the estate did not start, and how to fix it (the demo extras when a module is missing)."""
    import re

    if isinstance(error, str):
        text = error
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing is not None or isinstance(error, ImportError):
        mod = missing.group(1) if missing else getattr(error, "name", None) or "a module"
        return f"the emulated estate could not start: the demo extras are not installed (missing {mod}); {EXTRAS_HINT}"
    if len(text) > 300:
        text = text[:300] + "…"
    return f"the emulated estate failed to start ({text}); if the demo extras are missing, {EXTRAS_HINT}"


# ------------------------------------------------------------------------------------------------------------------
# Checks


def is_loopback_url(url: str | None) -> bool:
    """True when `url` names a loopback IP literal (127.0.0.0/8, ::1). Names ("localhost") are not trusted."""
    import ipaddress
    from urllib.parse import urlparse

    if not url:
        return False
    try:
        host = urlparse(url).hostname or ""
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problems(settings: Any) -> list[str]:
    """What would let a demo's request leave loopback or carry the operator's credentials (empty: none)."""
    az = getattr(settings, "azure", None)
    aws = getattr(settings, "aws", None)
    out = []
    arm = getattr(az, "arm_endpoint", None)
    if not is_loopback_url(arm):
        out.append(f"ARM endpoint {arm!r} is not loopback")
    token = getattr(az, "access_token", None)
    if not token:
        out.append("no demo token (Azure sign-in would use the operator's identity)")
    elif token != PLACEHOLDER_TOKEN and not known_token(token):
        out.append("an Azure token that is not the emulated estate's")
    ep = getattr(aws, "endpoint_url", None)
    if not is_loopback_url(ep):
        out.append(f"AWS endpoint {ep!r} is not loopback")
    profile = getattr(aws, "profile", None)
    if profile:
        out.append(f"AWS profile {profile!r} (the operator's)")
    if getattr(aws, "account_profiles", None):
        out.append("aws.account_profiles (the operator's)")
    if getattr(aws, "account_roles", None):
        out.append("aws.account_roles (the operator's)")
    return out


def check(settings: Any, what: str, *, enforce: bool) -> None:
    """Raise SourceError(kind="usage") when `what` must not run on `settings`: placeholders (the estate is starting
    or failed: the message says which and how to fix it), and with `enforce` (a --demo run) anything in
    `problems()`. Nothing is sent before this returns."""
    if settings is not None and is_placeholder(settings):
        state, msg = status()
        if state == "failed":
            raise SourceError(f"{what}: not sent: {msg}", kind="usage")
        if state == "ready":
            raise SourceError(f"{what}: not sent: it was prepared before the emulated estate was ready; "
                              "go back and do it again", kind="usage")
        raise SourceError(f"{what}: not sent: the emulated estate is still starting; try again in a moment",
                          kind="usage")
    if enforce:
        bad = problems(settings)
        if bad:
            raise SourceError(f"{what}: refused in a demo run ({'; '.join(bad)}): a demo reaches only the emulated "
                              "estate on 127.0.0.1", kind="usage")
