"""Settings: TOML in the platformdirs config dir < environment variables < CLI flags.

Never imports textual or rich.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError

APP_NAME = "mdc-aws"
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
ENV_ACCESS_TOKEN = "MDC_AWS_ACCESS_TOKEN"


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
    max_workers: int = 8  # bounded fan-out over account x region
    max_attempts: int = 3  # botocore standard retry mode, total attempts
    timeout_s: float = 20.0


@dataclass(frozen=True)
class Settings:
    """Every setting: config file < environment < flags."""

    azure: AzureSettings = field(default_factory=AzureSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    refresh_s: float = 60.0
    data_dir: str | None = None  # history store; None = platformdirs user data dir


def config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get("MDC_AWS_CONFIG") or Path(user_config_dir(APP_NAME)) / "config.toml")


def data_dir(settings: Settings | None = None) -> Path:
    from platformdirs import user_data_dir

    if settings is not None and settings.data_dir:
        return Path(settings.data_dir)
    return Path(os.environ.get("MDC_AWS_DATA_DIR") or user_data_dir(APP_NAME))


def _str_map(v: Any, where: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise UsageError(f"config: {where} must be a table of strings (account id = value)")
    return dict(v)


def load_file(path: Path | None = None) -> dict[str, Any]:
    """Read the TOML config; a missing file is an empty config, a broken one a UsageError naming the line."""
    p = path or config_path()
    if not p.exists():
        return {}
    import tomllib  # only when a config file exists: not on every start

    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"config file {p} is not valid TOML ({e}); fix it or move it away") from None


def from_mapping(cfg: Mapping[str, Any], base: Settings | None = None) -> Settings:
    s = base or Settings()
    az = dict(cfg.get("azure") or {})
    aws = dict(cfg.get("aws") or {})
    unknown = set(az) - {f for f in AzureSettings.__dataclass_fields__}
    unknown |= set(aws) - {f for f in AwsSettings.__dataclass_fields__}
    if unknown:
        raise UsageError(f"config: unknown keys {sorted(unknown)}; see README 'Configuration'")
    if "subscriptions" in az:
        az["subscriptions"] = tuple(az["subscriptions"])
    if "account_roles" in aws:
        aws["account_roles"] = _str_map(aws["account_roles"], "aws.account_roles")
    if "account_profiles" in aws:
        aws["account_profiles"] = _str_map(aws["account_profiles"], "aws.account_profiles")
    try:
        azure = replace(s.azure, **az)
        awss = replace(s.aws, **aws)
    except TypeError as e:
        raise UsageError(f"config: {e}") from None
    refresh = cfg.get("refresh_s", s.refresh_s)
    return replace(s, azure=azure, aws=awss, refresh_s=float(refresh))


def from_env(s: Settings, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    az = s.azure
    if env.get(ENV_ACCESS_TOKEN):
        az = replace(az, access_token=env[ENV_ACCESS_TOKEN])
    if env.get("MDC_AWS_ARM_ENDPOINT"):
        az = replace(az, arm_endpoint=env["MDC_AWS_ARM_ENDPOINT"])
    if env.get("MDC_AWS_CA_BUNDLE"):
        az = replace(az, ca_bundle=env["MDC_AWS_CA_BUNDLE"])
    aws = s.aws
    if env.get("MDC_AWS_AWS_ENDPOINT_URL"):
        aws = replace(aws, endpoint_url=env["MDC_AWS_AWS_ENDPOINT_URL"])
    return replace(s, azure=az, aws=aws)
