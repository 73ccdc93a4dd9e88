"""Contract between the synthetic estate (world.py) and the servers that speak for it (arm.py, aws.py).

The emulator never imports tui.core, and tui.core never imports the emulator: the emulator speaks as Azure and
AWS do, the core reads them; two independent readings of the APIs catch each other's mistakes.

World (tui/emulator/world.py) public API used by the servers:

    world = World(seed=42, scale="default" | "large", clock=ManualClock() | WallClock(tick_seconds=60))
    world.tenant_id: str                                # the home tenant
    world.partner_tenant_id: str                        # a second tenant (issue 14), deterministic from the seed
    world.tenant_names: dict[str, str]                  # tenant id -> display name ("Contoso", "Fabrikam")
    world.subscription_tenant(sub) -> str               # the tenant a subscription belongs to (ARM / ARG tenantId)
    world.managed_by_tenants(sub) -> list[str]          # the tenants it is delegated to (Azure Lighthouse)
    world.tenant_subscriptions(tenant) -> list[str]     # what a token of that tenant sees: its own + delegated ones
    world.account_tenant(account_id) -> str             # the tenant the account's Defender for Cloud roles trust
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

    # Writing a store: hold world.lock, write, then call world.touch() (bumps arg_version(); a new AWS connector gets
    # its first assessments ONBOARDING_LAG_TICKS later, Arc machines a few ticks after arcAutoProvisioning is on).
    world.touch() -> None
    with world.mutating(): ...                          # = lock + touch() on exit
    world.advance(n=1) -> int                           # ManualClock only; world.time_of(tick) / world.now() -> epoch s

    # Extras (added by world.py; optional for the servers)
    world.rest_body(arg_row) -> dict                    # REST envelope for an ARG row (mixed-case type, azurePortalUri)
    world.ssm_instance_information(account_id, region=None) -> list[dict]   # DescribeInstanceInformation entries
    world.instance_meta(account_id, instance_id) -> dict | None             # IP, launch time, VPC/subnet/SG, OS
    world.aws_entities(account_id) -> list[dict]        # synthetic AWS resources MDC assesses (buckets, users, SGs ...)
    world.iam_roles(account_id) -> list[str]            # Defender for Cloud template roles present in the account
                                                        # (a trust-mismatch or least-privilege account has them all)
    world.cfn_stack(account_id) -> dict | None          # the connector's CloudFormation stack: StackName, Region
                                                        # (the connector's regions[0]), Status, FailedResource,
                                                        # Reason (+ StackSetName for a management account)
    world.aws_setup(account_id) -> dict | None          # what AWS holds besides the roles (issue 13 contract, "World
                                                        # -> AWS seeding interface"); None: unknown account. Keys:
        "oidc": "mdc" | "missing" | "sentinel"          # accounts with a native connector only; "sentinel": a provider
                                                        # for MDC's issuer with client ids [Sentinel's] and tag
                                                        # {"Name": "MicrosoftSentinel"}; "missing": none
        "trust_mismatch": [role names]                  # their trust policy carries another tenant's session name
        "least_privilege": {"role": "CspmMonitorAws", "actions": [...]}   # its inline CspmMonitorAwsPolicy's Allow
                                                        # actions; ReadOnlyAccess NOT attached (else it is)
        "stack": {"StackName", "Region", "Status", "FailedResource", "Reason"}   # = cfn_stack's; every account with a
                                                        # native connector (members: their StackSet stack)
        "stackset": {"StackSetName", "instances": [{"Account", "Region", "Status", "DetailedStatus",
                     "StatusReason"}]}                  # management: one per member with a connector per org region
        "trusted_access": bool                          # management: StackSets trusted access in Organizations
        "org_accounts": [{"Id", "Name", "Status", "JoinedTimestamp"}]   # management: every account of the org
                                                        # (members without a connector and suspended ones too: those
                                                        # have no AwsAccountSpec), JoinedTimestamp in epoch seconds
        "trail": {"TrailName", "Bucket", "Region", "Queue"}   # a trail to Bucket; with a Queue, the bucket sends
                                                        # s3:ObjectCreated:* to that SQS queue (in Region)
        "buckets": [names]                              # S3 buckets to create (every known account, at most 4;
                                                        # the trail's Bucket is one of them: create buckets first)
        "rds": [(region, db id)]                        # RDS instances to create (default scale, CSPM/DB plans)
    world.locks: dict[str, dict]                        # lower-case lock id -> ManagementLockObject REST body
                                                        # {"id", "name", "type": "Microsoft.Authorization/locks",
                                                        # "properties": {"level", "notes"}}; the scope is the id up
                                                        # to /providers/Microsoft.Authorization/locks/ (ARM serves
                                                        # and writes it; a connector under a lock cannot be deleted)
    world.org_ids: dict[str, str]                       # management account id -> AWS Organizations id ("o-...")
    world.accounts_by_id: dict[str, AwsAccountSpec]
    AwsAccountSpec.securityhub_standards: one StandardsArn per enabled standard, enabled in every region of the
    account; regional ARNs are written with the account's home region (regions[0]); CIS 1.2.0's ARN has no region.
    world.opt_in_disabled: set[tuple[str, str]]        # (account, region) not enabled: the AWS emulator answers
                                                        # AuthFailure (EC2) / InvalidClientTokenId there

    # Truth for cross-checks (issue 11), computed from the world's model for the current version
    world.compliance_truth() -> {standard: {"passed", "failed", "skipped", "unsupported"}}   # AWS standards only
    world.standards_by_account() -> {account: sorted standard ids with a per-connector copy}
    world.recommendations_by_account() -> {account: {"total", "unhealthy"}}   # AWS assessment rows attributed
    world.unhealthy_by_account() -> {account: unhealthy}; world.unattributed_truth() -> {"total", "unhealthy"}
    world.arc_status_by_account() -> {account: {status: n}}; world.arc_connected_by_account() -> {account: n}
    world.untagged_arc_machines() -> [{"name", "account_id", "instance_id", "region", "matched_by"}]
    world.health_truth() -> {lower connector id: set of health codes}   # every AWS connector (native and classic)
                                                        # of a known account, now, by the issue 13 contract's rules
                                                        # (set() when healthy); moves with the clock (pending)
    world.org_truth() -> {mgmt account id: {"missing", "suspended", "excluded": sorted ids,
                                            "failed_instances": [(account, region)]}}
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
