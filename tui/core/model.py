"""Frozen model dataclasses: the vocabulary shared by sources, collect, derive, the CLI and the UI.

Never imports textual or rich (tests/test_layering.py enforces it).
Sources (azure.py, arg.py, aws.py) return these; collect.py assembles a Snapshot; derive.py computes views.
The plan vocabulary (PLANS: key, offering type, title, ...) is defined here once; the onboarding template, wizard and
doctor, derive, export and the screens read it from here. The `Literal` aliases name the values a state can take.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Mapping

# ------------------------------------------------------------------------------------------------ plans

# Keys of the `plans` object in the snapshot JSON (and the template / wizard / doctor / CLI vocabulary).
PlanKey = Literal["cspm", "defender_cspm", "servers", "containers", "databases"]


@dataclass(frozen=True)
class Plan:
    """One AWS plan of a native connector: the one definition every part of mdc-aws derives its plan lists from.
    PLANS' order is the order plans are shown, chosen and written in (Foundational CSPM first)."""

    key: PlanKey  # snapshot JSON `plans` key; the template's, wizard's and doctor's plan key; `--plans` value
    offering_type: str  # the native connector's offering (properties.offerings[].offeringType) that enables it
    title: str  # as the portal names it
    short: str  # a few letters, for the text report's PLANS column
    aliases: tuple[str, ...] = ()  # other spellings `--plans` accepts (lower-case)
    always_on: bool = False  # Foundational CSPM: part of every native connector, never a choice


PLANS: tuple[Plan, ...] = (
    Plan("cspm", "CspmMonitorAws", "Foundational CSPM", "cspm", ("foundational_cspm",), always_on=True),
    Plan("defender_cspm", "DefenderCspmAws", "Defender CSPM", "dcspm", ("dcspm", "defender-cspm")),
    Plan("servers", "DefenderForServersAws", "Defender for Servers", "srv"),
    Plan("containers", "DefenderForContainersAws", "Defender for Containers", "ctr"),
    Plan("databases", "DefenderForDatabasesAws", "Defender for Databases", "db"),
)
PLAN_KEYS: tuple[PlanKey, ...] = tuple(p.key for p in PLANS)
PLAN_OFFERINGS: dict[PlanKey, str] = {p.key: p.offering_type for p in PLANS}  # plan key -> offering type
OFFERING_PLANS: dict[str, PlanKey] = {p.offering_type: p.key for p in PLANS}  # offering type -> plan key
PLAN_TITLES: dict[PlanKey, str] = {p.key: p.title for p in PLANS}
OPTIONAL_PLAN_KEYS: tuple[PlanKey, ...] = tuple(p.key for p in PLANS if not p.always_on)
ALWAYS_ON_PLAN_KEYS: tuple[PlanKey, ...] = tuple(p.key for p in PLANS if p.always_on)
PLAN_ALIASES: dict[str, PlanKey] = {a: p.key for p in PLANS for a in p.aliases}  # other spelling -> plan key
# Offering types a native AWS connector may carry that enable no plan (kept on the Connector, shown in details).
OTHER_AWS_OFFERINGS: tuple[str, ...] = ("InformationProtectionAws",)
KNOWN_AWS_OFFERINGS = frozenset(PLAN_OFFERINGS.values()) | frozenset(OTHER_AWS_OFFERINGS)

# ------------------------------------------------------------------------------------------------ states

SECTION_NAMES: tuple[str, ...] = ("connectors", "plans", "onboarding", "recommendations", "compliance")
SectionState = Literal["ok", "stale", "error"]  # SectionStatus.status
ConnectorKind = Literal["native", "classic"]  # Connector.kind
OrganizationRole = Literal["single", "management", "member"]  # Connector.organization_role
# Values read from Azure: fields typed `X | str` hold one of X (case-normalised by the parser) or, for a value Azure
# adds later, what Azure sent (passed through, never dropped); "Unknown" when Azure sent none.
Severity = Literal["High", "Medium", "Low"]  # an assessment's severity
AssessmentStatus = Literal["Healthy", "Unhealthy", "NotApplicable"]  # an assessment's status code
ControlOutcome = Literal["Passed", "Failed", "Skipped", "Unsupported"]  # a compliance control's state
SEVERITIES: tuple[Severity, ...] = ("High", "Medium", "Low")

# Reasons an EC2 instance is stuck on its way to Azure Arc (snapshot JSON `stuck[].reason`).
StuckReason = Literal["no SSM agent", "SSM connection lost", "not discovered yet", "Arc disconnected", "Arc expired",
                      "Arc error", "Arc not connected"]
REASON_NO_SSM: Final = "no SSM agent"
REASON_SSM_LOST: Final = "SSM connection lost"
REASON_NOT_DISCOVERED: Final = "not discovered yet"
REASON_ARC_DISCONNECTED: Final = "Arc disconnected"
REASON_ARC_EXPIRED: Final = "Arc expired"
REASON_ARC_ERROR: Final = "Arc error"
REASON_ARC_OTHER: Final = "Arc not connected"


@dataclass(frozen=True)
class Offering:
    """One entry of a native connector's `properties.offerings` (an AWS plan)."""

    offering_type: str  # e.g. "DefenderForServersAws"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Connector:
    """An AWS connector: native (Microsoft.Security/securityConnectors) or classic (Microsoft.Security/connectors)."""

    id: str
    name: str
    kind: ConnectorKind
    subscription_id: str
    resource_group: str | None  # None for classic connectors (subscription scoped)
    aws_account_id: str | None  # hierarchyIdentifier (native); authenticationDetails.accountId (classic)
    regions: tuple[str, ...] = ()
    scan_interval_hours: int | None = None
    organization_role: OrganizationRole = "single"
    parent_account_id: str | None = None  # member: parentHierarchyId
    stackset_name: str | None = None  # management account
    excluded_account_ids: tuple[str, ...] = ()
    offerings: tuple[Offering, ...] = ()
    location: str | None = None
    # native: "ok"; classic: authenticationProvisioningState / hybridComputeProvisioningState
    # (Valid|Invalid|Expired|...)
    health: str = "ok"
    health_detail: str | None = None
    auth_type: str | None = None  # classic: "awsAssumeRole" | "awsCreds"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    created_at: datetime | None = None  # systemData.createdAt (native): a connector under 12 hours old is pending
    # the Entra ID tenant of its subscription (Resource Graph's tenantId: a subscription delegated through Azure
    # Lighthouse names its own tenant, not the reader's), else the credential's; None: not known
    tenant_id: str | None = None

    def offering(self, offering_type: str) -> Offering | None:
        for o in self.offerings:
            if o.offering_type == offering_type:
                return o
        return None


@dataclass(frozen=True)
class Pricing:
    """A subscription-level Defender plan (Microsoft.Security/pricings): a prerequisite of some AWS plans."""

    subscription_id: str
    name: str  # "VirtualMachines", "CloudPosture", "Containers", ...
    tier: str  # "Free" | "Standard"
    sub_plan: str | None = None
    extensions: Mapping[str, bool] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Ec2Instance:
    """One EC2 instance as DescribeInstances reports it."""

    account_id: str
    region: str
    instance_id: str
    state: str  # running | stopped | ...
    platform: str  # "windows" | "linux"
    name: str | None = None
    launch_time: datetime | None = None  # LaunchTime: from then on MDC's hourly EC2 discovery can find it
    # PrivateDnsName ("ip-10-0-1-5.ec2.internal"): its first label is the computer name an Arc agent installed by
    # hand (no MDC tags) registers with, so it joins such an Arc machine to this instance.
    private_dns_name: str | None = None

    @property
    def stopped(self) -> bool:
        """Stopped or stopping: SSM lists no such instance (DescribeInstanceInformation leaves Stopped nodes out)."""
        return self.state.lower() in ("stopped", "stopping")


@dataclass(frozen=True)
class SsmInstance:
    """One SSM managed node (DescribeInstanceInformation): its agent's ping status and registration."""

    account_id: str
    region: str
    instance_id: str
    ping_status: str  # Online | ConnectionLost | Inactive
    platform_type: str | None = None
    agent_version: str | None = None
    last_ping: datetime | None = None
    registered: datetime | None = None  # RegistrationDate: when the SSM agent first registered


@dataclass(frozen=True)
class AwsAccountInventory:
    """What the AWS side of one account shows. readable=False means ec2/ssm are unknown (never a made-up 0)."""

    account_id: str
    readable: bool
    error: str | None = None
    regions: tuple[str, ...] = ()
    instances: tuple[Ec2Instance, ...] = ()
    ssm: tuple[SsmInstance, ...] = ()
    failed_regions: Mapping[str, str] = field(default_factory=dict, compare=False)
    error_kind: str | None = None  # SourceError.kind of `error` ("auth", "throttled", "network", ...) when unreadable
    setup: AwsAccountSetup | None = None  # what the connector's set-up looks like in AWS (None: not read)


# ------------------------------------------------------------------------------------------------ AWS set-up facts
# What the Defender for Cloud template left in an AWS account, read by tui.core.aws (AwsSource) in the same chain
# as the inventory (assume the role once, then every read). The health model (tui.core.health) judges them; these
# only record what AWS answered. A `None` collection means "not read" (an error in `errors` says why), never "none".


@dataclass(frozen=True)
class IamRoleFact:
    """One IAM role of the account (iam:ListRoles): its name and trust policy; policies only for the CSPM role."""

    name: str
    trust_policy: str | None = None  # AssumeRolePolicyDocument as JSON text (URL-decoded), None if absent
    managed_policies: tuple[str, ...] | None = None  # attached policy ARNs (read for the CSPM role only)
    inline_actions: tuple[str, ...] | None = None  # Allow actions of its inline policies (CSPM role only)


@dataclass(frozen=True)
class OidcProviderFact:
    """One IAM OIDC identity provider (ListOpenIDConnectProviders + GetOpenIDConnectProvider)."""

    arn: str
    url: str  # without https://, as IAM answers it ("sts.windows.net/<tenant>/")
    client_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class StackFact:
    """The connector's CloudFormation stack (DescribeStacks) and, when not complete, why (DescribeStackEvents)."""

    name: str
    region: str
    status: str  # CREATE_COMPLETE | UPDATE_COMPLETE | ROLLBACK_COMPLETE | UPDATE_ROLLBACK_COMPLETE | ...
    failed_resource: str | None = None  # LogicalResourceId of the first *_FAILED event
    reason: str | None = None  # its ResourceStatusReason (or StackStatusReason)


@dataclass(frozen=True)
class StackInstanceFact:
    """One instance of the organization's StackSet (ListStackInstances)."""

    account_id: str
    region: str
    status: str  # CURRENT | OUTDATED | INOPERABLE
    detailed_status: str | None = None  # StackInstanceStatus.DetailedStatus: SUCCEEDED | FAILED | CANCELLED | ...
    reason: str | None = None  # StatusReason


@dataclass(frozen=True)
class OrgAccountFact:
    """One account of the AWS organization (organizations:ListAccounts, from the management account)."""

    account_id: str
    name: str | None = None
    status: str = "ACTIVE"  # ACTIVE | SUSPENDED | PENDING_CLOSURE
    joined: datetime | None = None  # JoinedTimestamp: an account under 12 hours old is pending


@dataclass(frozen=True)
class BucketQueueFact:
    """An S3 bucket that CloudTrail writes to (DescribeTrails) whose event notifications go to an SQS queue."""

    bucket: str
    queue_arn: str


@dataclass(frozen=True)
class AwsAccountSetup:
    """The Defender for Cloud set-up of one AWS account as AWS shows it. Every field None = not read."""

    account_id: str
    roles: tuple[IamRoleFact, ...] | None = None
    oidc_providers: tuple[OidcProviderFact, ...] | None = None
    stack: StackFact | None = None  # None with stack_searched=True: no connector stack found in `stack_regions`
    stack_searched: bool = False
    stack_regions: tuple[str, ...] = ()  # where the stack was looked for
    # management account only (None elsewhere):
    stackset_instances: tuple[StackInstanceFact, ...] | None = None
    trusted_access: bool | None = None  # CloudFormation StackSets trusted access in AWS Organizations
    org_accounts: tuple[OrgAccountFact, ...] | None = None
    trail_bucket_queues: tuple[BucketQueueFact, ...] | None = None  # CloudTrail buckets notifying an SQS queue
    # billable resources the plans count (counts only): "ec2_running", "s3_buckets", "rds_instances",
    # "eks_clusters"; a key missing = not read
    billable: Mapping[str, int] = field(default_factory=dict, compare=False)
    errors: Mapping[str, str] = field(default_factory=dict, compare=False)  # read (tui.core.aws.SETUP_READS) -> why


@dataclass(frozen=True)
class ArcMachine:
    """An Azure Arc machine of an EC2 instance (Microsoft.HybridCompute/machines, from ARG): made by MDC (named by the
    instance id, tagged AccountId/InstanceId/MDFCSecurityConnector) or installed by hand / by the Arc multicloud
    connector (no MDC tags, named by the computer name, cloudMetadata.provider "AWS")."""

    id: str
    name: str  # the EC2 instance id (MDC-made) or the computer name (installed by hand)
    subscription_id: str
    resource_group: str
    status: str  # Connected | Disconnected | Expired | Error | AwaitingConnection
    aws_account_id: str | None  # tag AccountId
    instance_id: str | None  # tag InstanceId (falls back to name)
    connector: str | None = None  # tag MDFCSecurityConnector
    last_status_change: str | None = None
    os_name: str | None = None
    computer_name: str | None = None  # properties.osProfile.computerName
    fqdn: str | None = None  # properties.machineFqdn
    cloud_provider: str | None = None  # properties.cloudMetadata.provider ("AWS")
    tagged: bool = True  # False: no InstanceId tag, so instance_id is only the machine's name


@dataclass(frozen=True)
class RecommendationCount:
    """ARG summarize row: AWS assessments of one connector (or, for rows without a connector, of one Arc machine's
    account or of one Arc machine) by severity and status."""

    connector_id: str  # lower-case ARM id of the security connector (ARG lower-cases ids); "" for rows without one
    severity: Severity | str
    status: AssessmentStatus | str
    count: int
    # Rows without a connector id (resourceDetails.AzureResourceId names an Arc machine): the AccountId tag of that
    # machine, read by ARG (join), else the lower-case AzureResourceId, to match an untagged machine by name here.
    arc_account_id: str | None = None
    azure_resource_id: str | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One AWS assessment row (a recommendation on one resource). Slotted: 100k of them are held at once
    (144 bytes an object against ~370 with a __dict__)."""

    id: str
    assessment_key: str
    title: str
    severity: Severity | str  # "Unknown" when Azure sent none
    status: AssessmentStatus | str  # "Unknown" when Azure sent none
    connector_id: str
    resource_name: str | None = None
    resource_type: str | None = None
    region: str | None = None
    aws_account_id: str | None = None
    description: str | None = None
    remediation: str | None = None
    azure_resource_id: str | None = None  # resourceDetails.AzureResourceId (lower-case): the Arc machine of a row
    # without a connector id, through which it is attributed to an AWS account


@dataclass(frozen=True)
class ComplianceStandard:
    """A regulatory compliance standard's summary as Azure reports it."""

    name: str  # exactly as Azure reports it: the id segment, dashes for spaces ("Microsoft-cloud-security-benchmark")
    passed_controls: int
    failed_controls: int
    skipped_controls: int
    unsupported_controls: int = 0  # its own state: never counted as skipped

    @property
    def display_name(self) -> str:
        return standard_display_name(self.name)


def standard_display_name(name: str) -> str:
    """A standard's name as the portal shows it: Azure's ids use dashes for spaces (Microsoft's compliance query
    turns them back the same way)."""
    return name.replace("-", " ")


@dataclass(frozen=True)
class ComplianceControl:
    """One control of a standard: its state and how many assessments pass and fail."""

    standard: str
    name: str
    description: str | None
    state: ControlOutcome | str
    passed_assessments: int = 0
    failed_assessments: int = 0
    skipped_assessments: int = 0


@dataclass(frozen=True)
class SectionStatus:
    """State of one section: ok (fresh), stale (last good data kept, refresh failed) or error (no data at all)."""

    name: str
    status: SectionState
    as_of: datetime | None  # when the data shown was fetched
    error: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class ConnectorsData:
    """The connectors section: every AWS connector, native and classic."""

    connectors: tuple[Connector, ...]
    skipped: tuple[str, ...] = ()  # "name: reason" of connectors skipped (other clouds, malformed)
    # lower-case connector id -> the management locks that cover it (on the connector, its resource group or its
    # subscription), each "Level name (scope)"; a connector missing here has none, or locks were not read
    # (locks_read False)
    locks: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    locks_read: bool = False


@dataclass(frozen=True)
class PlansData:
    """The plans section: the subscriptions' Defender pricings."""

    pricings: tuple[Pricing, ...]
    pricing_errors: Mapping[str, str] = field(default_factory=dict, compare=False)  # subscription -> error
    # subscription -> resource provider namespace -> registrationState (Microsoft.Security, Microsoft.HybridCompute,
    # Microsoft.GuestConfiguration); a subscription missing here was not read
    providers: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class OnboardingData:
    """The onboarding section: Arc machines and each AWS account's EC2 and SSM inventory."""

    arc_machines: tuple[ArcMachine, ...]
    aws: Mapping[str, AwsAccountInventory] = field(default_factory=dict, compare=False)  # account -> inventory
    arc_error: str | None = None


@dataclass(frozen=True)
class RecommendationsData:
    """The recommendations section: counts per account and severity (the rows load on their own)."""

    counts: tuple[RecommendationCount, ...]


@dataclass(frozen=True)
class ComplianceData:
    """The compliance section: every standard about AWS (decided from data, not from names)."""

    standards: tuple[ComplianceStandard, ...]
    # AWS account -> the standards assigned on its native connector(s) (per-connector copies), sorted; an account
    # missing here has none known
    assigned: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def standards_of(self, aws_account_id: str | None) -> tuple[str, ...]:
        return tuple(self.assigned.get(aws_account_id, ())) if aws_account_id else ()


@dataclass(frozen=True)
class Section:
    """A section's status and its data (None when it never succeeded)."""

    status: SectionStatus
    data: Any = None


@dataclass(frozen=True)
class Snapshot:
    """One collection: every section with its status; what the dashboard and `mdc-aws snapshot` show."""

    generated_at: datetime
    subscriptions: tuple[str, ...]
    sections: Mapping[str, Section]
    tenant_id: str | None = None
    # tenant id -> display name of every tenant in view (the config's name, else ARM's displayName, else the id's
    # first 8 characters)
    tenants: Mapping[str, str] = field(default_factory=dict, compare=False)
    # subscription id (lower-case) -> its tenant, where Resource Graph said (Lighthouse: the customer's); the
    # onboarding wizard's template trusts the tenant of the subscription that will hold the connector
    subscription_tenants: Mapping[str, str] = field(default_factory=dict, compare=False)

    def data(self, name: str) -> Any:
        s = self.sections.get(name)
        return s.data if s is not None else None

    @property
    def complete(self) -> bool:
        return all(s.status.status == "ok" for s in self.sections.values())
