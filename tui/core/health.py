"""Connector health: a state and the issues behind it, each with a stable code, one line and the fix.

    h = connector_health(conn, snap)      # Health(state="failing", issues=(HealthIssue("stack-not-complete", ...),))
    by_id = health_by_connector(snap)          # lower-case connector id -> Health, every connector of the snapshot

Derived from both clouds, from what the snapshot holds (never a read of its own): the connector (Azure), the
section data (pricings and resource providers, locks, assessments, Arc machines, assigned standards) and the AWS
account's set-up facts (`AwsAccountInventory.setup`: IAM roles and trust policies, OIDC providers, the
CloudFormation stack, the StackSet, Organizations, CloudTrail buckets). Microsoft's public API has no health field;
the causes and fixes follow defender-docs `troubleshoot-connectors.md`, `sentinel-connected-aws.md` and
`quickstart-onboard-aws.md` (NOTES.md section 11). A check whose facts were not read raises no issue (unknown is
never "broken"); an account mdc-aws cannot read says so once (`aws-unreadable`).

State: the worst issue's level ("failing" > "degraded" > "pending"), "healthy" without issues. Codes are a public
interface (snapshot JSON `health.issues[].code`, `mdc-aws check --rules`): add, never rename. Never imports textual
or rich.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Mapping

from . import model as m

HealthState = Literal["healthy", "degraded", "failing", "pending"]
IssueLevel = Literal["failing", "degraded", "pending"]
STATE_ORDER: Final[tuple[HealthState, ...]] = ("failing", "degraded", "pending", "healthy")  # worst first

PENDING_HOURS: Final = 12  # troubleshoot-connectors.md: an AWS account (or connector) younger than 12 h has no data yet


@dataclass(frozen=True)
class Code:
    """One health code: its level and a title (the message of an issue says what was found for this connector)."""

    code: str
    level: IssueLevel
    title: str


# Every code, in the order issues are listed (worst level first, then this order). Add, never rename.
CODES: Final[tuple[Code, ...]] = (
    Code("classic-retired", "failing", "classic connector (retired 2023-09-15, no data since)"),
    Code("aws-unreadable", "degraded", "mdc-aws cannot read the AWS account: its AWS-side checks were not made"),
    Code("stack-not-complete", "failing", "CloudFormation stack not complete"),
    Code("oidc-provider-missing", "failing", "Defender for Cloud's OIDC identity provider missing in AWS"),
    Code("sentinel-oidc-conflict", "failing", "OIDC identity provider taken by Microsoft Sentinel"),
    Code("role-missing", "failing", "IAM role of an enabled plan missing (template drift)"),
    Code("trust-policy-mismatch", "failing", "IAM role trust policy does not match the connector (template drift)"),
    Code("org-trusted-access-off", "failing", "AWS Organizations trusted access for StackSets is off"),
    Code("no-data", "failing", "no data flowing: no assessments (or Arc machines) after the first scan window"),
    Code("stackset-instances-failed", "degraded", "StackSet instances failed or outdated"),
    Code("org-members-missing", "degraded", "organization accounts without a connector"),
    Code("least-privilege-gap", "degraded", "least-privilege access misses what an enabled plan reads"),
    Code("subscription-plan-missing", "degraded", "the connector's subscription lacks the plan a feature needs"),
    Code("provider-not-registered", "degraded", "resource provider not registered on the connector's subscription"),
    Code("no-standard-assigned", "degraded", "no compliance standard assigned on the connector"),
    Code("sentinel-sqs-conflict", "degraded", "CloudTrail bucket notifications consumed by another queue (Sentinel)"),
    Code("region-not-enabled", "degraded", "a region of the connector is not enabled in the AWS account"),
    Code("resource-lock", "degraded", "a resource lock covers the connector"),
    Code("classic-native-duplicate", "degraded", "classic and native connectors on one account (duplicates)"),
    Code("pending-first-scan", "pending", "connector or AWS account under 12 hours old: first scan pending"),
)
CODE_BY_NAME: Final[dict[str, Code]] = {c.code: c for c in CODES}


@dataclass(frozen=True)
class HealthIssue:
    code: str  # one of CODES
    message: str  # one line: what was found (names the role, the stack and its status, the region, ...)
    fix: str  # one line: what to do (a command or the portal path)

    @property
    def level(self) -> IssueLevel:
        return CODE_BY_NAME[self.code].level


@dataclass(frozen=True)
class Health:
    state: HealthState
    issues: tuple[HealthIssue, ...] = ()

    @property
    def worst(self) -> HealthIssue | None:
        return self.issues[0] if self.issues else None

    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.issues)

    def to_dict(self) -> dict[str, object]:
        """The snapshot JSON's `health` object (schema: connectors[].health)."""
        return {"state": self.state,
                "issues": [{"code": i.code, "message": i.message, "fix": i.fix} for i in self.issues]}


@dataclass(frozen=True)
class OrgCoverage:
    """A management connector's organization (AWS Organizations) against the member connectors present."""

    management_account_id: str
    org_accounts: int | None  # accounts listed by Organizations (None: not read)
    members_with_connector: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # ACTIVE accounts, not excluded, without a native connector
    excluded: tuple[str, ...] = ()
    suspended: tuple[str, ...] = ()  # SUSPENDED / PENDING_CLOSURE accounts (not counted as missing)
    stackset_instances: tuple[m.StackInstanceFact, ...] = ()

    @property
    def failed_instances(self) -> tuple[m.StackInstanceFact, ...]:
        return tuple(i for i in self.stackset_instances
                     if i.status != "CURRENT" or (i.detailed_status or "").upper() in ("FAILED", "CANCELLED"))


@dataclass(frozen=True)
class PlanCost:
    plan: str  # plan key (tui.core.model.PLANS)
    billable: Mapping[str, int | None]  # unit ("ec2_running", "rds_instances", "s3_buckets", "eks_clusters") -> n
    note: str = ""  # e.g. "vCores of EKS nodes are not read: the plan bills per vCore"


@dataclass(frozen=True)
class AccountCost:
    """What an account's plans count for billing (counts only, never prices) and how to count MDC's API calls."""

    scan_interval_hours: int | None
    plans: tuple[PlanCost, ...] = ()
    cloudtrail_query: str | None = None  # ready to run (aws cloudtrail lookup-events ...)


# ------------------------------------------------------------------------------------------------ evaluation
# (written by the health helper; signatures are the contract)

def connector_health(conn: m.Connector, snap: m.Snapshot) -> Health:
    """The health of one connector in this snapshot."""
    raise NotImplementedError


def health_by_connector(snap: m.Snapshot) -> dict[str, Health]:
    """Lower-case connector id -> Health, for every connector of the snapshot (empty when connectors are unknown)."""
    raise NotImplementedError


def account_health(healths: "list[Health] | tuple[Health, ...]") -> Health:
    """An account's health: the worst state of its connectors and all their issues (CODES order, no duplicates)."""
    raise NotImplementedError


def org_coverage(conn: m.Connector, snap: m.Snapshot) -> OrgCoverage | None:
    """For a management connector whose account's set-up was read: its organization's coverage; else None."""
    raise NotImplementedError


def account_cost(account_id: str, conns: "list[m.Connector] | tuple[m.Connector, ...]", snap: m.Snapshot
                 ) -> AccountCost | None:
    """Billable counts per enabled plan of the account's native connectors (None for a classic-only account)."""
    raise NotImplementedError
