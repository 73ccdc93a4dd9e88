"""Contract between the synthetic estate (world.py) and the servers that speak for it (arm.py, aws.py).

The emulator never imports tui.core, and tui.core never imports the emulator: the emulator speaks as Azure and
AWS do, the core reads them; two independent readings of the APIs catch each other's mistakes.

World (tui/emulator/world.py) public API used by the servers:

    world = World(seed=42, scale="default" | "large", clock=ManualClock() | WallClock(tick_seconds=60))
    world.tenant_id: str
    world.subscriptions: list[SubscriptionSpec]
    world.aws_accounts: list[AwsAccountSpec]          # every AWS account of the estate (incl. org members)
    world.lock: threading.RLock                         # hold while reading/writing the stores below

    # Azure REST stores, mutable; the ARM server reads and writes them (PUT/PATCH/DELETE), keys are lower-case ids
    world.security_connectors: dict[str, dict]         # REST body, shaped like the 2023-10-01-preview examples
    world.classic_connectors: dict[str, dict]          # REST body, 2020-01-01-preview
    world.pricings: dict[str, dict[str, dict]]         # subscription id -> pricing name -> REST body (2024-01-01)
    world.providers: dict[str, dict[str, str]]         # subscription id -> namespace -> registrationState
    world.permissions: dict[str, list[dict]]           # subscription id -> [{"actions": [...], "notActions": [...]}]

    world.tick() -> int                                 # current tick of the clock (the estate moves per tick)
    world.arg_version() -> tuple                        # changes whenever arg_tables() would change
    world.arg_tables() -> dict[str, list[dict]]         # "resources" | "securityresources" | "resourcecontainers"
                                                        # rows with the standard ARG columns (lower-case `type`)
    world.ssm_status(account_id, instance_id) -> str | None   # "Online" | "ConnectionLost" | None (no agent), now
    world.denied_accounts: set[str]                     # AWS accounts whose role cannot be assumed (AccessDenied)
"""
from __future__ import annotations

from dataclasses import dataclass, field

ORG_SINGLE = "single"
ORG_MANAGEMENT = "management"
ORG_MEMBER = "member"


@dataclass
class SubscriptionSpec:
    subscription_id: str
    display_name: str
    state: str = "Enabled"


@dataclass
class Ec2Spec:
    instance_id: str  # "i-" + 17 hex digits, deterministic from the seed
    account_id: str
    region: str
    platform: str  # "linux" | "windows"
    name: str
    image_id: str
    instance_type: str = "t3.medium"
    state: str = "running"  # "running" | "stopped"


@dataclass
class AwsAccountSpec:
    account_id: str  # 12 digits
    name: str
    org_role: str  # ORG_SINGLE | ORG_MANAGEMENT | ORG_MEMBER
    parent_account_id: str | None = None  # member -> management account
    regions: list[str] = field(default_factory=list)
    instances: list[Ec2Spec] = field(default_factory=list)
    eks_clusters: list[tuple[str, str]] = field(default_factory=list)  # (region, cluster name)
    securityhub_standards: list[str] = field(default_factory=list)  # standards ARNs enabled (per region)
