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

import functools
import json
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal, Mapping

from . import model as m

log = logging.getLogger(__name__)

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
    Code("sentinel-sqs-conflict", "degraded",
         "CloudTrail bucket notifications consumed by another queue (for example Sentinel's)"),
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
    # what was not checked, each "<what>: <why>" (a read that failed, a section or fact not read): the issues above
    # are what the checks that could run found; these could not run (unknown, never "broken")
    unchecked: tuple[str, ...] = ()

    @property
    def worst(self) -> HealthIssue | None:
        return self.issues[0] if self.issues else None

    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.issues)

    def to_dict(self) -> dict[str, object]:
        """The snapshot JSON's `health` object (schema: connectors[].health)."""
        return {"state": self.state,
                "issues": [{"code": i.code, "message": i.message, "fix": i.fix} for i in self.issues],
                "unchecked": list(self.unchecked)}


@dataclass(frozen=True)
class OrgCoverage:
    """A management connector's organization (AWS Organizations) against the member connectors present."""

    management_account_id: str
    org_accounts: int | None  # accounts listed by Organizations (None: not read)
    members_with_connector: tuple[str, ...] = ()
    # ACTIVE accounts, not excluded, that joined over 12 hours ago, without a native connector
    missing: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    suspended: tuple[str, ...] = ()  # every status but ACTIVE (SUSPENDED, PENDING_CLOSURE, ...): never missing
    stackset_instances: tuple[m.StackInstanceFact, ...] = ()  # every instance, as read

    @property
    def failed_instances(self) -> tuple[m.StackInstanceFact, ...]:
        """Instances not CURRENT or FAILED / CANCELLED, of accounts neither excluded nor suspended (those are
        expected to fail: not the StackSet's fault)."""
        return failed_instances(self.stackset_instances, set(self.excluded) | set(self.suspended))


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

ISSUER_HOST: Final = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"  # roles.json oidc_provider.issuer
SENTINEL_CLIENT_ID: Final = "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"  # sentinel-connected-aws.md
MDC_QUEUE_PREFIXES: Final = ("azuredefender-", "ms-defender-")  # queues MDC's own template creates
# a stack whose resources are all in place: UPDATE_COMPLETE_CLEANUP_IN_PROGRESS only deletes the old resources of a
# finished update, IMPORT_COMPLETE ends a resource import (CloudFormation's StackStatus values)
STACK_COMPLETE: Final = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                                   "IMPORT_COMPLETE"})
# how tui.core.aws words a region that answers like an opt-in region the account has not enabled (its OPT_IN_TEXT,
# copied: render -> derive -> health must not import the AWS source; tests/test_health.py checks they agree)
OPT_IN_TEXT: Final = "region not enabled (opt-in)"
# the Defender CSPM part whose role reads the CloudTrail trail's bucket (permissions management, CIEM): only a
# connector with it consumes the bucket's event notifications (roles.json offering_roles: DefenderForCloud-Ciem)
CLOUDTRAIL_READERS: Final = frozenset({("DefenderCspmAws", "ciemDiscovery")})
STACK_TAG: Final = "MDFCSecurityConnector"
# What the CSPM role must read for each plan in least-privilege mode (assumed; docs/FIDELITY.md): a few reads each
# plan's collectors make, enough to tell a least-privilege policy that predates a plan.
READS_BY_PLAN: Final[Mapping[str, tuple[str, ...]]] = {
    "cspm": ("ec2:DescribeInstances", "s3:ListAllMyBuckets", "iam:ListRoles"),
    "defender_cspm": ("ec2:DescribeSnapshots", "s3:GetBucketLocation"),
    "servers": ("ec2:DescribeInstances", "ssm:DescribeInstanceInformation"),
    "containers": ("eks:ListClusters", "eks:DescribeCluster"),
    "databases": ("rds:DescribeDBInstances",),
}
_LOCK_ENTRY = re.compile(r"^\s*(?P<level>\S+)\s+(?P<name>.+?)\s*\((?P<scope>[^()]*)\)\s*$")


def _issue(code: str, message: str, fix: str) -> HealthIssue:
    return HealthIssue(code, " ".join(message.split()), " ".join(fix.split()))


def _health(issues: "list[HealthIssue] | tuple[HealthIssue, ...]", unchecked: "list[str] | tuple[str, ...]" = ()
            ) -> Health:
    notes = tuple(dict.fromkeys(" ".join(u.split()) for u in unchecked if isinstance(u, str) and u.strip()))
    order = {c.code: n for n, c in enumerate(CODES)}
    seen: set[tuple[str, str, str]] = set()
    unique: list[HealthIssue] = []
    for i in issues:
        key = (i.code, i.message, i.fix)
        if i.code in order and key not in seen:
            seen.add(key)
            unique.append(i)
    unique.sort(key=lambda i: order[i.code])  # stable: a code's issues keep their order
    if not unique:
        return Health("healthy", (), notes)
    levels = {i.level for i in unique}
    state = next(s for s in STATE_ORDER if s in levels or s == "healthy")
    return Health(state, tuple(unique), notes)


HEALTHY: Final = Health("healthy")


def _lower(s: object) -> str:
    return s.lower() if isinstance(s, str) else ""


def _utc(t: object) -> datetime | None:
    if not isinstance(t, datetime):
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ids(ids: "list[str] | tuple[str, ...]", n: int = 5) -> str:
    shown = ", ".join(ids[:n])
    return shown + (f" and {len(ids) - n} more" if len(ids) > n else "")


# -- IAM: wildcards and trust policies (pure, never raise) -------------------------------------------------------

def iam_wildcard_match(pattern: object, value: object, *, ignore_case: bool = True) -> bool:
    """IAM's wildcard match (`*` any run of characters, `?` one character, nothing else special); case-insensitive
    by default (action names are). Anything that is not a string matches nothing."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)  # a CSPM role's policy has ~100 patterns, matched for every plan's reads
def _wildcard(pattern: str, ignore_case: bool) -> "re.Pattern[str]":
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(rx, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_allowed(action: str, allowed: "tuple[str, ...] | list[str]") -> bool:
    """Whether one of `allowed` (IAM action patterns, e.g. "ec2:Describe*", "*") covers `action`."""
    return any(iam_wildcard_match(p, action) for p in allowed)


def _values(v: object) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple)):
        return [x for x in v if isinstance(x, str)]
    return []


@dataclass(frozen=True)
class TrustVerdict:
    """What a role's trust policy says about Defender for Cloud's OIDC sign-in."""

    federated: bool  # an Allow statement names the account's provider for the MDC issuer
    audience: bool | None  # that statement carries the role's audience (None: audience unknown)
    session: bool | None  # it lets MicrosoftDefenderForClouds_<tenant> sign in (None: tenant unknown)
    readable: bool = True  # the document parsed
    found_audiences: tuple[str, ...] = ()
    found_sessions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.readable and self.federated and self.audience is not False and self.session is not False


def _statements(doc: object) -> list[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return []
    st = doc.get("Statement")
    if isinstance(st, Mapping):
        return [st]
    return [s for s in st if isinstance(s, Mapping)] if isinstance(st, list) else []


def _conditions(stmt: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(operator, key, values) of a statement's Condition block; keys and operators as written."""
    cond = stmt.get("Condition")
    out: list[tuple[str, str, list[str]]] = []
    if not isinstance(cond, Mapping):
        return out
    for op, block in cond.items():
        if isinstance(op, str) and isinstance(block, Mapping):
            for k, v in block.items():
                if isinstance(k, str):
                    out.append((op, k, _values(v)))
    return out


def _cond_allows(op: str, pattern: str, value: str) -> bool:
    """Whether a condition value admits `value`: a pattern under *Like operators, else equal (both ignoring case:
    GUIDs and api:// ids are compared as names, never to flag a difference of case)."""
    if "like" in op.lower():
        return iam_wildcard_match(pattern, value)
    return pattern.strip().lower() == value.strip().lower()


def _negated(op: str) -> bool:
    """A negated condition operator (StringNotEquals, StringNotLike, ArnNotLike, NotIpAddress, ..., with or without
    a ForAnyValue: / ForAllValues: prefix): it names what is refused, never what is allowed."""
    return "not" in op.rsplit(":", 1)[-1].lower()


def _federated_to(principal: str, account_id: str, issuer: str) -> bool:
    """Whether a Federated principal is arn:<partition>:iam::<account_id>:oidc-provider/<issuer>, the issuer compared
    as IAM compares provider URLs (no https://, a trailing slash, the host's case ignored)."""
    parts = principal.split(":", 5)
    if len(parts) != 6 or parts[0].lower() != "arn" or parts[2].lower() != "iam" or parts[4] != account_id:
        return False
    kind, _, url = parts[5].partition("/")
    return kind.lower() == "oidc-provider" and bool(url) and _issuer_url(url) == _issuer_url(issuer)


def trust_verdict(policy: object, account_id: str | None, audience: str | None, tenant_id: str | None,
                  issuer: str = ISSUER_HOST) -> TrustVerdict:
    """Judge a trust policy (JSON text or an already parsed document) for Defender for Cloud's OIDC sign-in:
    (a) an Allow statement whose Federated principal is arn:<partition>:iam::<account>:oidc-provider/<issuer>,
    (b) with a `<issuer>:aud` condition admitting `audience`, (c) and not restricting sts:RoleSessionName away from
    MicrosoftDefenderForClouds_<tenant>. A negated operator (StringNotLike, StringNotEquals, ...) is never evidence
    that a value is allowed: it only refuses the values it matches. Never raises: an unreadable document is
    readable=False."""
    doc: object = policy
    if isinstance(policy, (str, bytes)):
        try:
            doc = json.loads(policy)
        except (ValueError, RecursionError):
            return TrustVerdict(False, None, None, readable=False)
    if not isinstance(doc, Mapping):
        return TrustVerdict(False, None, None, readable=False)
    session_name = f"MicrosoftDefenderForClouds_{tenant_id}" if tenant_id else None
    best: TrustVerdict | None = None
    for stmt in _statements(doc):
        if _lower(stmt.get("Effect")) != "allow":
            continue
        principal = stmt.get("Principal")
        feds = _values(principal.get("Federated")) if isinstance(principal, Mapping) else []
        if not account_id or not any(_federated_to(f, account_id, issuer) for f in feds):
            continue
        conds = _conditions(stmt)
        auds = [(op, v) for op, k, vals in conds if k.lower().endswith(":aud") and not _negated(op) for v in vals]
        sessions = [(op, v) for op, k, vals in conds
                    if k.lower() == "sts:rolesessionname" and not _negated(op) for v in vals]
        refused = [(k.lower(), op, v) for op, k, vals in conds if _negated(op) for v in vals]
        aud_ok: bool | None = None
        if audience is not None:
            aud_ok = (any(_cond_allows(op, v, audience) for op, v in auds)
                      and not any(k.endswith(":aud") and _cond_allows(op, v, audience) for k, op, v in refused))
        ses_ok: bool | None = None
        if session_name is not None:
            ses_ok = ((not sessions or any(_cond_allows(op, v, session_name) for op, v in sessions))
                      and not any(k == "sts:rolesessionname" and _cond_allows(op, v, session_name)
                                  for k, op, v in refused))
        v = TrustVerdict(True, aud_ok, ses_ok, found_audiences=tuple(x for _, x in auds),
                         found_sessions=tuple(x for _, x in sessions))
        if v.ok:
            return v
        best = best or v
    return best or TrustVerdict(False, None, None)


# -- the connector's roles -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsedRole:
    name: str
    account: str
    offering: str  # offering type
    where: str  # the offering's part ("nativeCloudConnection", "vmScanners", ...)
    default: str | None  # the template's default name for this part (roles.json offering_roles)


# role_arns and connector_plans are defined here and doctor imports them (doctor imports the cloud sources, which
# render/widgets, reading the health model, must not reach)
def role_arns(obj: Any, path: str = "") -> list[tuple[str, str]]:
    """(where, cloudRoleArn) of every role an offering uses; parts explicitly disabled ("enabled": false) skipped."""
    out: list[tuple[str, str]] = []
    if isinstance(obj, Mapping):
        if obj.get("enabled") is False:
            return out
        for k, x in obj.items():
            if k == "cloudRoleArn" and isinstance(x, str):
                out.append((path, x))
            else:
                out.extend(role_arns(x, f"{path}.{k}" if path else str(k)))
    elif isinstance(obj, list):
        for x in obj:
            out.extend(role_arns(x, path))
    return out


def connector_plans(conn: m.Connector) -> tuple[str, ...]:
    """The plan keys a connector's offerings enable, Foundational CSPM always (m.PLANS order)."""
    keys = {m.OFFERING_PLANS[o.offering_type] for o in conn.offerings if o.offering_type in m.OFFERING_PLANS}
    keys.update(m.ALWAYS_ON_PLAN_KEYS)
    return tuple(k for k in m.PLAN_KEYS if k in keys)


def _roles_data() -> Mapping[str, Any]:
    from .onboarding.template import roles_data

    return roles_data()


def used_roles(conn: m.Connector) -> list[UsedRole]:
    """Every IAM role the connector's enabled offerings use (doctor.role_arns: parts not `enabled: false`)."""
    offering_roles = _roles_data().get("offering_roles") or {}
    out: list[UsedRole] = []
    for o in conn.offerings:
        try:
            arns = role_arns(dict(o.raw or {}))
        except (TypeError, ValueError, RecursionError):
            continue
        for where, arn in arns:
            parts = arn.split(":", 5)
            if len(parts) != 6 or not parts[5].startswith("role/"):
                continue
            name = parts[5].rsplit("/", 1)[-1]
            part = where.removesuffix(".configuration").rsplit(".", 1)[-1]
            default = (offering_roles.get(o.offering_type) or {}).get(part)
            out.append(UsedRole(name, parts[4], o.offering_type, where, default if isinstance(default, str) else None))
    return out


def _spec(r: UsedRole) -> Mapping[str, Any]:
    roles = _roles_data().get("roles") or {}
    spec = roles.get(r.name) or (roles.get(r.default) if r.default else None)
    return spec if isinstance(spec, Mapping) else {}


def oidc_trusted(r: UsedRole) -> bool:
    """Whether a role signs in through Defender for Cloud's OIDC issuer: roles.json says so (trust.kind "oidc") for
    its name, or, for a role the connector names otherwise, for the template's role of the same offering part. A
    role roles.json does not know (neither its name nor its part) is never judged: its trust is unknown."""
    trust = _spec(r).get("trust")
    return isinstance(trust, Mapping) and trust.get("kind") == "oidc"


def role_audience(r: UsedRole) -> str | None:
    trust = _spec(r).get("trust")
    aud = trust.get("audience") if isinstance(trust, Mapping) else None
    return aud if isinstance(aud, str) else None


def mdc_audiences() -> frozenset[str]:
    """Defender for Cloud's audiences on its OIDC provider (roles.json), Sentinel's client id left out (the
    containers' data collection role shares it)."""
    data = _roles_data()
    out = {a for a in ((data.get("oidc_provider") or {}).get("client_id_list") or ()) if isinstance(a, str)}
    for spec in (data.get("roles") or {}).values():
        trust = spec.get("trust") if isinstance(spec, Mapping) else None
        if isinstance(trust, Mapping) and isinstance(trust.get("audience"), str):
            out.add(trust["audience"])
    return frozenset(a.lower() for a in out) - {SENTINEL_CLIENT_ID.lower()}


def _issuer_url(url: object) -> str:
    u = _lower(url).strip().removeprefix("https://").removeprefix("http://")
    return u if u.endswith("/") else u + "/"


# -- per-snapshot index ---------------------------------------------------------------------------------------------

@dataclass
class _Index:
    now: datetime | None
    connectors: tuple[m.Connector, ...]
    conns_by_account: dict[str, list[m.Connector]]
    native_accounts: set[str]
    recs_by_connector: dict[str, int] | None  # lower connector id -> assessment rows (None: section missing)
    arc_by_account: dict[str, int]
    arc_by_connector: dict[str, int]
    org_account: dict[str, m.OrgAccountFact]  # account -> its entry in a management account's organization
    inventories: Mapping[str, m.AwsAccountInventory]
    plans: m.PlansData | None
    compliance: m.ComplianceData | None
    locks: Mapping[str, tuple[str, ...]]  # lower-case connector id -> lock entries
    locks_read: bool = False  # every subscription's locks were read (ConnectorsData.locks_read)
    onboarding_read: bool = False  # the onboarding section (the AWS inventories) is there
    healths: dict[str, Health] | None = None


_cache: tuple[Any, _Index] | None = None


def _typed(snap: m.Snapshot, name: str, kind: type) -> Any:
    try:
        v = snap.data(name)
    except Exception:  # noqa: BLE001 - a snapshot of another shape is read as "not there"
        return None
    return v if isinstance(v, kind) else None


def _index(snap: m.Snapshot) -> _Index:
    global _cache
    hit = _cache
    if hit is not None and hit[0]() is snap:
        return hit[1]
    cd = _typed(snap, "connectors", m.ConnectorsData)
    od = _typed(snap, "onboarding", m.OnboardingData)
    rd = _typed(snap, "recommendations", m.RecommendationsData)
    connectors = tuple(c for c in (cd.connectors if cd is not None else ()) if isinstance(c, m.Connector))
    by_account: dict[str, list[m.Connector]] = {}
    for c in connectors:
        if c.aws_account_id:
            by_account.setdefault(c.aws_account_id, []).append(c)
    recs: dict[str, int] | None = None
    if rd is not None:
        recs = {}
        for rc in rd.counts or ():
            if isinstance(rc, m.RecommendationCount) and rc.connector_id:
                k = rc.connector_id.lower()
                recs[k] = recs.get(k, 0) + (rc.count if isinstance(rc.count, int) else 0)
    arc_acct: dict[str, int] = {}
    arc_conn: dict[str, int] = {}
    inventories: Mapping[str, m.AwsAccountInventory] = {}
    org: dict[str, m.OrgAccountFact] = {}
    if od is not None:
        for a in od.arc_machines or ():
            if not isinstance(a, m.ArcMachine):
                continue
            if a.aws_account_id:
                arc_acct[a.aws_account_id] = arc_acct.get(a.aws_account_id, 0) + 1
            if _lower(a.connector).startswith("/subscriptions/"):
                arc_conn[_lower(a.connector)] = arc_conn.get(_lower(a.connector), 0) + 1
        inventories = od.aws if isinstance(od.aws, Mapping) else {}
        for inv in inventories.values():
            setup = getattr(inv, "setup", None)
            for f in (getattr(setup, "org_accounts", None) or ()):
                if isinstance(f, m.OrgAccountFact) and f.account_id:
                    org.setdefault(f.account_id, f)
    try:
        now = _utc(snap.generated_at)
    except AttributeError:
        now = None
    idx = _Index(
        now=now, connectors=connectors, conns_by_account=by_account,
        native_accounts={c.aws_account_id for c in connectors if c.kind == "native" and c.aws_account_id},
        recs_by_connector=recs, arc_by_account=arc_acct, arc_by_connector=arc_conn, org_account=org,
        inventories=inventories, plans=_typed(snap, "plans", m.PlansData),
        compliance=_typed(snap, "compliance", m.ComplianceData),
        locks={k.lower(): v for k, v in (cd.locks.items() if cd is not None and isinstance(cd.locks, Mapping)
                                         else ()) if isinstance(k, str)},
        locks_read=cd is not None and cd.locks_read is True, onboarding_read=od is not None)
    _cache = (weakref.ref(snap), idx)
    return idx


# -- the checks -----------------------------------------------------------------------------------------------------

def _template_fix(conn: m.Connector, idx: _Index, setup: m.AwsAccountSetup | None, *, extra: str = "") -> str:
    """Re-run the template: for a member, the StackSet in its management account; else the account's stack."""
    from .onboarding.template import DEFAULT_STACK_NAME

    acct = conn.aws_account_id or "<account>"
    plans = ",".join(connector_plans(conn))
    lp = " --least-privilege" if extra == "least-privilege" else ""
    if conn.organization_role == "member" and conn.parent_account_id:
        mgmt = next((c for c in idx.conns_by_account.get(conn.parent_account_id, ())
                     if c.kind == "native" and c.organization_role == "management"), None)
        stackset = (mgmt.stackset_name if mgmt else None) or "<stackset>"
        return (f"re-run the template: mdc-aws template --account {conn.parent_account_id} --plans {plans}{lp} "
                f"-o mdc.yaml, then aws cloudformation update-stack-set --stack-set-name {stackset} --template-body "
                f"file://mdc.yaml --capabilities CAPABILITY_NAMED_IAM in the management account "
                f"{conn.parent_account_id} (member {acct} is deployed by the StackSet)")
    stack = setup.stack if setup is not None and setup.stack is not None else None
    if stack is None and setup is not None and setup.stack_searched:
        # no stack of the template found: the roles came another way (Terraform, a stack named in the console)
        region = f" --region {conn.regions[0]}" if conn.regions else ""
        return (f"re-deploy the roles the way they were deployed (no Defender for Cloud stack was found: Terraform "
                f"or a stack of another name), or with the template: mdc-aws template --account {acct} --plans "
                f"{plans}{lp} -o mdc.yaml, then aws cloudformation create-stack --stack-name {DEFAULT_STACK_NAME} "
                f"--template-body file://mdc.yaml --capabilities CAPABILITY_NAMED_IAM{region} in account {acct}")
    name = str(stack.name or DEFAULT_STACK_NAME) if stack else DEFAULT_STACK_NAME
    at = stack.region if stack and stack.region else (conn.regions[0] if conn.regions else None)
    region = f" --region {at}" if at else ""
    return (f"re-run the template: mdc-aws template --account {acct} --plans {plans}{lp} -o mdc.yaml, then aws "
            f"cloudformation update-stack --stack-name {name} --template-body file://mdc.yaml --capabilities "
            f"CAPABILITY_NAMED_IAM{region} in account {acct}")


def _age(conn: m.Connector, idx: _Index) -> timedelta | None:
    created = _utc(conn.created_at)
    if created is None or idx.now is None:
        return None
    return idx.now - created


def _pending(conn: m.Connector, idx: _Index) -> HealthIssue | None:
    # messages name times, never ages: the same facts read the same in every snapshot (`mdc-aws diff`)
    window = timedelta(hours=PENDING_HOURS)
    age = _age(conn, idx)
    created = _utc(conn.created_at)
    if age is not None and created is not None and age < window:
        return _issue("pending-first-scan",
                      f"connector {conn.name} was created at {_when(created)}, under {PENDING_HOURS} h ago: Defender "
                      "for Cloud's first scan is pending",
                      f"nothing to do yet: data appears within {PENDING_HOURS} hours of creation; check again "
                      f"after {_when(created + window)}")
    fact = idx.org_account.get(conn.aws_account_id or "")
    joined = _utc(fact.joined) if fact is not None else None
    if joined is not None and idx.now is not None and idx.now - joined < window:
        return _issue("pending-first-scan",
                      f"AWS account {conn.aws_account_id} joined the organization at {_when(joined)}, under "
                      f"{PENDING_HOURS} h ago: Defender for Cloud's first scan of it is pending",
                      f"nothing to do yet: a new AWS account shows data within {PENDING_HOURS} hours; check again "
                      f"after {_when(joined + window)}")
    return None


def _no_data(conn: m.Connector, idx: _Index) -> HealthIssue | None:
    age = _age(conn, idx)
    if age is None or idx.recs_by_connector is None:
        return None
    window = timedelta(hours=max(PENDING_HOURS, conn.scan_interval_hours or 0))
    if age < window:
        return None
    if idx.recs_by_connector.get(conn.id.lower(), 0) > 0:
        return None
    if idx.arc_by_connector.get(conn.id.lower(), 0) or idx.arc_by_account.get(conn.aws_account_id or "", 0):
        return None
    acct = conn.aws_account_id or "?"
    created = _utc(conn.created_at)
    assert created is not None  # _age was known
    return _issue("no-data",
                  f"connector {conn.name} (account {acct}), created at {_when(created)}, is past its first scan "
                  f"window ({int(window.total_seconds() // 3600)} h) and has no assessment and no Arc machine",
                  f"find the cause with `mdc-aws doctor --account {acct}` (stack, roles, OIDC provider); check "
                  f"that a standard is assigned (Environment settings > {acct} > Standards) and that the portal's "
                  f"subscription filter includes {conn.subscription_id}")


def _unreadable(conn: m.Connector, inv: m.AwsAccountInventory | None) -> HealthIssue | None:
    if inv is None or inv.readable:
        return None
    if inv.error_kind not in ("auth", "denied") and inv.setup is not None:
        return None
    acct = conn.aws_account_id or "?"
    return _issue("aws-unreadable",
                  f"mdc-aws could not read the account ({inv.error or 'no error given'}): AWS-side checks were not "
                  "made",
                  f"give mdc-aws a way into account {acct} (aws.account_roles or aws.account_profiles in the "
                  "config, or sign in: aws sso login), then refresh")


def _regions(conn: m.Connector, inv: m.AwsAccountInventory | None) -> HealthIssue | None:
    if inv is None or not isinstance(inv.failed_regions, Mapping):
        return None
    mine = {_lower(r) for r in conn.regions}
    bad = sorted(r for r, e in inv.failed_regions.items()
                 if _lower(r) in mine and _lower(e).startswith(OPT_IN_TEXT.lower()))
    if not bad:
        return None
    acct = conn.aws_account_id or "?"
    first = bad[0]
    return _issue("region-not-enabled",
                  f"region{'s' if len(bad) > 1 else ''} {_ids(bad)} of connector {conn.name} "
                  f"{'are' if len(bad) > 1 else 'is'} not enabled in AWS account {acct}: nothing there is scanned",
                  f"enable it in the account (aws account enable-region --region-name {first}, or AWS console > "
                  "Account > AWS Regions) or remove it from the connector's regions (Environment settings > "
                  f"{acct} > Edit settings)")


def _stack(conn: m.Connector, setup: m.AwsAccountSetup, idx: _Index) -> HealthIssue | None:
    from .onboarding.template import DEFAULT_STACK_NAME

    if not setup.stack_searched or conn.organization_role == "member":
        return None
    st = setup.stack
    if st is None:
        # no stack tagged MDFCSecurityConnector or named DefenderForCloud-Connector: the roles may well have come from
        # Terraform or a stack named in the console (role-missing and the trust checks judge what is there)
        return None
    acct = conn.aws_account_id or "?"
    plans = ",".join(connector_plans(conn))
    status = _lower(st.status).upper()
    if status in STACK_COMPLETE:
        return None
    why = ""
    if st.failed_resource or st.reason:
        why = f": {st.failed_resource or 'a resource'} failed" + (f" ({st.reason})" if st.reason else "")
    name, region = str(st.name or DEFAULT_STACK_NAME), str(st.region or (conn.regions or ("<region>",))[0])
    msg = f"stack {name} in {region} (account {acct}) is {st.status or 'in an unknown state'}{why}"
    loc = f"--stack-name {name} --region {region}"
    if status.endswith("_IN_PROGRESS"):
        fix = (f"wait for it to finish, then look again: aws cloudformation describe-stack-events {loc} "
               f"--max-items 20 in account {acct}")
    elif status == "UPDATE_ROLLBACK_FAILED":
        fix = (f"fix the cause above, then aws cloudformation continue-update-rollback {loc} in account {acct}, and "
               "re-run the update")
    elif status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"):
        fix = (f"fix the cause above, then aws cloudformation delete-stack {loc} and create it again: mdc-aws "
               f"template --account {acct} --plans {plans} -o mdc.yaml, then aws cloudformation create-stack "
               f"--stack-name {name} --template-body file://mdc.yaml --capabilities CAPABILITY_NAMED_IAM "
               f"--region {region} in account {acct}")
    else:
        fix = f"fix the cause above, then {_template_fix(conn, idx, setup)}"
    return _issue("stack-not-complete", msg, fix)


def failed_instances(instances: "tuple[m.StackInstanceFact, ...] | list[m.StackInstanceFact] | None",
                     skip: "set[str] | frozenset[str]" = frozenset()) -> tuple[m.StackInstanceFact, ...]:
    """StackSet instances not CURRENT, or FAILED / CANCELLED, leaving out those of the accounts in `skip` (excluded
    on the connector, or not ACTIVE in the organization: their instances are expected to fail)."""
    return tuple(i for i in (instances or ()) if isinstance(i, m.StackInstanceFact) and i.account_id not in skip
                 and (_lower(i.status).upper() != "CURRENT"
                      or _lower(i.detailed_status).upper() in ("FAILED", "CANCELLED")))


def _inactive(setup: m.AwsAccountSetup | None) -> set[str]:
    """Accounts of the organization whose status is not ACTIVE (suspended, closing, closed)."""
    return {f.account_id for f in ((setup.org_accounts or ()) if setup is not None else ())
            if isinstance(f, m.OrgAccountFact) and f.account_id and _lower(f.status).upper() != "ACTIVE"}


def _stackset(conn: m.Connector, setup: m.AwsAccountSetup) -> HealthIssue | None:
    if conn.organization_role != "management" or setup.stackset_instances is None:
        return None
    skip = set(conn.excluded_account_ids) | _inactive(setup)
    insts = [i for i in setup.stackset_instances if isinstance(i, m.StackInstanceFact) and i.account_id not in skip]
    bad = failed_instances(insts)
    if not bad:
        return None
    f = bad[0]
    name = conn.stackset_name or "the connector's StackSet"
    acct, region = str(f.account_id or "?"), str(f.region or "?")
    state = str(f.status or "?") + (f"/{f.detailed_status}" if f.detailed_status else "")
    return _issue("stackset-instances-failed",
                  f"{len(bad)} of {len(insts)} instance(s) of StackSet {name} failed or outdated; first: account "
                  f"{acct} in {region} is {state}" + (f" ({f.reason})" if f.reason else ""),
                  f"in the management account {conn.aws_account_id}: see why with aws cloudformation "
                  f"describe-stack-instance --stack-set-name {name} --stack-instance-account {acct} "
                  f"--stack-instance-region {region}, fix it, then aws cloudformation update-stack-instances "
                  f"--stack-set-name {name} --deployment-targets OrganizationalUnitIds=<OU of {acct}> "
                  f"--regions {region}")


def _trusted_access(conn: m.Connector, setup: m.AwsAccountSetup) -> HealthIssue | None:
    if conn.organization_role != "management" or setup.trusted_access is not False:
        return None
    return _issue("org-trusted-access-off",
                  f"trusted access for CloudFormation StackSets is off in the organization of management account "
                  f"{conn.aws_account_id}: the StackSet cannot deploy the roles to member accounts",
                  f"in the management account {conn.aws_account_id}: aws cloudformation "
                  "activate-organizations-access (or CloudFormation console > StackSets > Activate trusted access)")


def _recent(t: object, idx: _Index) -> bool:
    """Under PENDING_HOURS before the snapshot (an account that just joined: its connector may not exist yet)."""
    when = _utc(t)
    return when is not None and idx.now is not None and idx.now - when < timedelta(hours=PENDING_HOURS)


def _missing_members(conn: m.Connector, setup: m.AwsAccountSetup | None, idx: _Index) -> list[str] | None:
    """ACTIVE accounts of the organization, not the management account, not excluded, that joined over 12 hours
    ago, without a native connector in the snapshot (None: the organization was not read)."""
    if setup is None or setup.org_accounts is None:
        return None
    excluded = set(conn.excluded_account_ids)
    return sorted({f.account_id for f in setup.org_accounts
                   if isinstance(f, m.OrgAccountFact) and f.account_id and _lower(f.status).upper() == "ACTIVE"
                   and f.account_id != conn.aws_account_id and f.account_id not in excluded
                   and f.account_id not in idx.native_accounts and not _recent(f.joined, idx)})


def _members(conn: m.Connector, setup: m.AwsAccountSetup, idx: _Index) -> HealthIssue | None:
    # a management connector under 12 hours old (or in an account that just joined) has not created its members'
    # connectors yet
    if conn.organization_role != "management" or _pending(conn, idx) is not None:
        return None
    missing = _missing_members(conn, setup, idx)
    if not missing:
        return None
    name = conn.stackset_name or "the connector's StackSet"
    return _issue("org-members-missing",
                  f"{len(missing)} active account(s) of the organization of {conn.aws_account_id} have no connector: "
                  f"{_ids(missing)}",
                  f"deploy StackSet {name} to their OUs from the management account (aws cloudformation "
                  f"create-stack-instances --stack-set-name {name} --deployment-targets OrganizationalUnitIds=<OU> "
                  f"--regions <region>) or exclude them on the connector (Environment settings > "
                  f"{conn.aws_account_id} > Edit settings > excluded accounts)")


def _oidc(conn: m.Connector, setup: m.AwsAccountSetup, oidc_roles: list[UsedRole], idx: _Index
          ) -> HealthIssue | None:
    if setup.oidc_providers is None or not oidc_roles:
        return None
    acct = conn.aws_account_id or "?"
    mine = [p for p in setup.oidc_providers if isinstance(p, m.OidcProviderFact)
            and _issuer_url(p.url) == ISSUER_HOST]
    if not mine:
        names = sorted({r.name for r in oidc_roles})
        return _issue("oidc-provider-missing",
                      f"account {acct} has no OIDC identity provider for {ISSUER_HOST}: {_ids(names, 3)} "
                      "cannot be assumed",
                      _template_fix(conn, idx, setup) + " (with CreateOIDCProvider=true)")
    aud = mdc_audiences()
    for p in mine:
        ids = [c.lower() for c in (p.client_ids or ()) if isinstance(c, str)]
        if any(c in aud for c in ids):
            continue
        tags = p.tags if isinstance(p.tags, Mapping) else {}
        tagged = any("sentinel" in _lower(k) or "sentinel" in _lower(v) for k, v in tags.items())
        if SENTINEL_CLIENT_ID.lower() in ids or tagged:
            shown = ", ".join(c for c in p.client_ids if isinstance(c, str)) or "none"
            parn = str(p.arn or f"arn:aws:iam::{acct}:oidc-provider/{ISSUER_HOST}")
            return _issue("sentinel-oidc-conflict",
                          f"the OIDC identity provider {parn} for {ISSUER_HOST} in account {acct} belongs to "
                          f"Microsoft Sentinel (client ids {shown}): none of Defender for Cloud's audiences is on it",
                          f"add Defender for Cloud's audiences to the same provider (aws iam "
                          f"add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {parn} "
                          "--client-id api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479, one per audience) and deploy "
                          "the template with CreateOIDCProvider=false (sentinel-connected-aws.md)")
    return None


def _roles(conn: m.Connector, setup: m.AwsAccountSetup, used: list[UsedRole], idx: _Index) -> HealthIssue | None:
    if setup.roles is None or not used:
        return None
    have = {r.name for r in setup.roles if isinstance(r, m.IamRoleFact)}
    missing: dict[str, set[str]] = {}
    for r in used:
        if r.name not in have:
            missing.setdefault(r.name, set()).add(f"{r.offering}.{r.where.removesuffix('.configuration')}")
    if not missing:
        return None
    acct = conn.aws_account_id or "?"
    shown = [f"{n} (used by {', '.join(sorted(w))})" for n, w in sorted(missing.items())]
    return _issue("role-missing",
                  f"{len(missing)} IAM role(s) of connector {conn.name} missing in account {acct}: "
                  f"{'; '.join(shown[:4])}" + (" …" if len(shown) > 4 else ""),
                  _template_fix(conn, idx, setup))


def _trust(conn: m.Connector, setup: m.AwsAccountSetup, oidc_roles: list[UsedRole], tenant: str | None,
           idx: _Index) -> HealthIssue | None:
    if setup.roles is None:
        return None
    facts = {r.name: r for r in setup.roles if isinstance(r, m.IamRoleFact)}
    acct = conn.aws_account_id
    bad: list[str] = []
    seen: set[str] = set()
    for r in oidc_roles:
        f = facts.get(r.name)
        if f is None or f.trust_policy is None or r.name in seen:
            continue
        seen.add(r.name)
        v = trust_verdict(f.trust_policy, acct, role_audience(r), tenant)
        if v.ok:
            continue
        if not v.readable:
            bad.append(f"{r.name}: trust policy unreadable")
        elif not v.federated:
            bad.append(f"{r.name}: does not trust arn:aws:iam::{acct}:oidc-provider/{ISSUER_HOST}")
        elif v.audience is False:
            bad.append(f"{r.name}: audience {', '.join(v.found_audiences) or 'none'}, not {role_audience(r)}")
        else:
            bad.append(f"{r.name}: session name {', '.join(v.found_sessions)}, not "
                       f"MicrosoftDefenderForClouds_{tenant}")
    if not bad:
        return None
    return _issue("trust-policy-mismatch",
                  f"{len(bad)} role(s) in account {acct} do not trust this connector: {'; '.join(bad[:3])}"
                  + (" …" if len(bad) > 3 else ""),
                  _template_fix(conn, idx, setup))


def _least_privilege(conn: m.Connector, setup: m.AwsAccountSetup, used: list[UsedRole],
                     idx: _Index) -> HealthIssue | None:

    if setup.roles is None:
        return None
    cspm = next((r.name for r in used if r.offering == "CspmMonitorAws"), "CspmMonitorAws")
    role = next((r for r in setup.roles if isinstance(r, m.IamRoleFact) and r.name == cspm), None)
    if role is None or role.managed_policies is None or role.inline_actions is None:
        return None
    # least-privilege mode is a role with inline policies only: with ReadOnlyAccess nothing is missing, with any other
    # managed policy (SecurityAudit, a customer policy) what the role may read is not known here (not read)
    if tuple(role.managed_policies) != ():
        return None
    allowed = [a for a in role.inline_actions if isinstance(a, str)]
    gaps: list[str] = []
    for plan in connector_plans(conn):
        for action in READS_BY_PLAN.get(plan, ()):
            if not action_allowed(action, allowed) and action not in gaps:
                gaps.append(action)
    if not gaps:
        return None
    plans = sorted({m.PLAN_TITLES[p] for p in connector_plans(conn)  # type: ignore[index]
                    if any(a in gaps for a in READS_BY_PLAN.get(p, ()))})
    return _issue("least-privilege-gap",
                  f"{cspm} in account {conn.aws_account_id} has least-privilege access (inline policies only, no "
                  f"managed policy) without "
                  f"{', '.join(gaps[:5])}{' …' if len(gaps) > 5 else ''}, which {', '.join(plans)} read(s)",
                  _template_fix(conn, idx, setup, extra="least-privilege"))


def _pricing(conn: m.Connector, plans: m.PlansData | None) -> HealthIssue | None:
    if plans is None:
        return None
    from .derive import pricing_index

    try:
        pidx = pricing_index(p for p in plans.pricings if isinstance(p, m.Pricing))
    except (TypeError, AttributeError):
        return None
    sub = conn.subscription_id
    off: list[tuple[str, str, str]] = []
    for otype, pricing, title in (("DefenderForServersAws", "VirtualMachines", "Defender for Servers"),
                                  ("DefenderForContainersAws", "Containers", "Defender for Containers")):
        if conn.offering(otype) is None:
            continue
        p = pidx.get((_lower(sub), pricing.lower()))
        if p is not None and _lower(p.tier) == "free":
            off.append((pricing, title, m.PLAN_TITLES[m.OFFERING_PLANS[otype]]))
    if not off:
        return None
    return _issue("subscription-plan-missing",
                  "; ".join(f"the connector enables {plan} but subscription {sub} has {title} off ({pricing} Free)"
                            for pricing, title, plan in off),
                  "; ".join(f"az security pricing create --name {pricing} --tier standard --subscription {sub}"
                            for pricing, _, _ in off)
                  + " (or Environment settings > the subscription > Defender plans)")


def _providers(conn: m.Connector, plans: m.PlansData | None) -> HealthIssue | None:
    if plans is None or not isinstance(plans.providers, Mapping):
        return None
    sub = conn.subscription_id
    states = next((v for k, v in plans.providers.items() if _lower(k) == _lower(sub)), None)
    if not isinstance(states, Mapping):
        return None
    needed = ["Microsoft.Security"]
    arc = [m.PLAN_TITLES[m.OFFERING_PLANS[o]] for o in ("DefenderForServersAws", "DefenderForDatabasesAws")
           if _arc_on(conn.offering(o))]
    if arc:
        needed += ["Microsoft.HybridCompute", "Microsoft.GuestConfiguration"]
    lower_states = {_lower(k): v for k, v in states.items()}
    bad = [(ns, lower_states[ns.lower()]) for ns in needed
           if ns.lower() in lower_states and _lower(lower_states[ns.lower()]) != "registered"]
    if not bad:
        return None
    why = {"Microsoft.Security": "Defender for Cloud",
           "Microsoft.HybridCompute": f"Azure Arc ({' and '.join(arc)} auto-provisioning)",
           "Microsoft.GuestConfiguration": f"Azure Arc ({' and '.join(arc)} auto-provisioning)"}
    return _issue("provider-not-registered",
                  "; ".join(f"{ns} is {st} on subscription {sub} ({why[ns]} needs it)" for ns, st in bad),
                  "; ".join(f"az provider register --namespace {ns} --subscription {sub}" for ns, _ in bad))


def _arc_on(o: m.Offering | None) -> bool:
    if o is None:
        return False
    v = (o.raw or {}).get("arcAutoProvisioning")
    return isinstance(v, Mapping) and bool(v.get("enabled"))


def _standards(conn: m.Connector, comp: m.ComplianceData | None) -> HealthIssue | None:
    if comp is None or not conn.aws_account_id:
        return None
    assigned = comp.assigned if isinstance(comp.assigned, Mapping) else {}
    if not any(assigned.values()):
        return None  # no account has one: assignments are not observable in this snapshot (not "none assigned")
    if assigned.get(conn.aws_account_id):
        return None
    acct = conn.aws_account_id
    return _issue("no-standard-assigned",
                  f"no compliance standard is assigned on connector {conn.name} (account {acct}): Defender for "
                  "Cloud evaluates nothing against it",
                  f"assign one: Environment settings > {acct} > Standards (the Microsoft cloud security benchmark "
                  "and AWS Foundational Security Best Practices are the defaults)")


def reads_cloudtrail(conn: m.Connector) -> bool:
    """Whether an enabled part of the connector reads the CloudTrail trail's bucket (Defender CSPM's permissions
    management, CIEM: CLOUDTRAIL_READERS), i.e. consumes the bucket's event notifications."""
    return any((r.offering, r.where.removesuffix(".configuration").rsplit(".", 1)[-1]) in CLOUDTRAIL_READERS
               for r in used_roles(conn))


def _sqs(conn: m.Connector, setup: m.AwsAccountSetup) -> HealthIssue | None:
    if setup.trail_bucket_queues is None or not reads_cloudtrail(conn):
        return None
    others = [(str(b.bucket or "?"), b.queue_arn.rsplit(":", 1)[-1]) for b in setup.trail_bucket_queues
              if isinstance(b, m.BucketQueueFact) and isinstance(b.queue_arn, str)
              and not b.queue_arn.rsplit(":", 1)[-1].lower().startswith(MDC_QUEUE_PREFIXES)]
    if not others:
        return None
    bucket, queue = others[0]
    more = f" (and {len(others) - 1} more bucket(s))" if len(others) > 1 else ""
    return _issue("sentinel-sqs-conflict",
                  f"CloudTrail bucket {bucket} sends its event notifications to {queue}, another consumer (for "
                  f"example Microsoft Sentinel's queue): an S3 event goes to one queue only, and Defender CSPM's "
                  f"permissions management (CIEM) reads that bucket{more}",
                  f"fan out through SNS: send bucket {bucket}'s notifications to an SNS topic and subscribe both "
                  "queues to it (aws s3api put-bucket-notification-configuration with a TopicConfiguration; "
                  "sentinel-connected-aws.md)")


def _lock_fix(conn: m.Connector, entry: str) -> str:
    mt = _LOCK_ENTRY.match(entry)
    if mt is None:
        return f"remove the lock (az lock list --subscription {conn.subscription_id}, then az lock delete --ids <id>)"
    name, scope = mt.group("name"), mt.group("scope").strip()
    low = scope.lower()
    if low.startswith("resource group "):
        return (f"az lock delete --name {name} --resource-group {scope[len('resource group '):].strip()} "
                f"--subscription {conn.subscription_id}")
    if low.startswith("subscription"):
        return f"az lock delete --name {name} --subscription {conn.subscription_id}"
    return f"az lock delete --ids {conn.id}/providers/Microsoft.Authorization/locks/{name}"


def _lock(conn: m.Connector, idx: _Index) -> HealthIssue | None:
    found = idx.locks.get(conn.id.lower())
    entries = [e for e in (found if isinstance(found, (list, tuple)) else ()) if isinstance(e, str) and e.strip()]
    if not entries:
        return None
    more = f" (and {len(entries) - 1} more lock(s))" if len(entries) > 1 else ""
    read_only = any(e.strip().lower().startswith("readonly") for e in entries)
    return _issue("resource-lock",
                  f"{'; '.join(entries[:3])} cover{'s' if len(entries) == 1 else ''} connector {conn.name}: it "
                  f"cannot be {'changed or deleted' if read_only else 'deleted'}",
                  f"when the connector must go (or be replaced): {_lock_fix(conn, entries[0])}{more}")


def _classic(conn: m.Connector) -> HealthIssue:
    from .derive import CLASSIC_MIGRATE, CLASSIC_RETIRED_ON

    stale = f"; Azure still reports {conn.health}" if conn.health not in ("", "ok", "unknown") else ""
    return _issue("classic-retired",
                  f"classic connector {conn.name} (subscription {conn.subscription_id}) was retired on "
                  f"{CLASSIC_RETIRED_ON}: no data since{stale}", CLASSIC_MIGRATE)


def _duplicate(conn: m.Connector, idx: _Index) -> HealthIssue | None:
    acct = conn.aws_account_id
    if not acct:
        return None
    conns = idx.conns_by_account.get(acct, [])
    classic = sorted(c.name for c in conns if c.kind == "classic")
    native = sorted(c.name for c in conns if c.kind == "native")
    if not classic or not native:
        return None
    return _issue("classic-native-duplicate",
                  f"account {acct} has classic connector {', '.join(classic)} and native connector "
                  f"{', '.join(native)}: duplicate recommendations",
                  "delete the classic connector (o, then 3: remove classic connectors; or `mdc-aws onboard "
                  "--flow remove`): the native one replaces it")


# setup.errors key (tui.core.aws.SETUP_READS) -> what its failure leaves unchecked; billable counts are not health
_READ_CHECKS: Final[Mapping[str, str]] = {
    "roles": "IAM roles and trust policies (role-missing, trust-policy-mismatch, least-privilege-gap)",
    "cspm_policies": "the CSPM role's policies (least-privilege-gap)",
    "oidc_providers": "OIDC identity providers (oidc-provider-missing, sentinel-oidc-conflict)",
    "stack": "the CloudFormation stack (stack-not-complete)",
    "stack_events": "why the stack failed (stack-not-complete names no failed resource)",
    "stackset_instances": "the StackSet's instances (stackset-instances-failed)",
    "trusted_access": "StackSets trusted access (org-trusted-access-off)",
    "org_accounts": "the organization's accounts (org-members-missing)",
    "trail_bucket_queues": "CloudTrail buckets' event notifications (sentinel-sqs-conflict)",
}
_MANAGEMENT_READS: Final = frozenset({"stackset_instances", "trusted_access", "org_accounts"})


def _unchecked(conn: m.Connector, snap: m.Snapshot, idx: _Index, inv: m.AwsAccountInventory | None,
               setup: m.AwsAccountSetup | None) -> list[str]:
    """What was not checked for this connector and why, each "<what>: <why>"."""
    out: list[str] = []
    if not idx.locks_read:
        out.append("resource locks (resource-lock): the management locks of every subscription were not read")
    if conn.kind != "native":
        return out
    acct = conn.aws_account_id or "?"
    if _utc(conn.created_at) is None:
        out.append("the connector's age (pending-first-scan, no-data): Azure gave no creation time "
                   "(systemData.createdAt)")
    if idx.recs_by_connector is None:
        out.append("assessments (no-data): the recommendations section was not read")
    if idx.compliance is None:
        out.append("assigned standards (no-standard-assigned): the compliance section was not read")
    elif not any((idx.compliance.assigned if isinstance(idx.compliance.assigned, Mapping) else {}).values()):
        out.append("assigned standards (no-standard-assigned): no account shows an assigned standard, so "
                   "assignments are not observable in this snapshot")
    if idx.plans is None:
        out.append("Defender plans and resource providers (subscription-plan-missing, provider-not-registered): the "
                   "plans section was not read")
    elif not any(_lower(k) == _lower(conn.subscription_id) for k in (
            idx.plans.providers if isinstance(idx.plans.providers, Mapping) else {})):
        out.append(f"resource providers (provider-not-registered): those of subscription {conn.subscription_id} "
                   "were not read")
    aws_side = "the AWS-side checks (stack, roles, trust policies, OIDC provider, organization, CloudTrail)"
    if not idx.onboarding_read:
        out.append(f"{aws_side}: the onboarding section (AWS accounts) was not read")
    elif inv is None:
        out.append(f"{aws_side}: account {acct} was not read")
    elif setup is None:
        out.append(f"{aws_side}: the set-up of account {acct} was not read ({inv.error or 'no reason given'})")
    else:
        errors = setup.errors if isinstance(setup.errors, Mapping) else {}
        for read, why in errors.items():
            if not isinstance(read, str) or read.startswith("billable."):
                continue
            if read in _MANAGEMENT_READS and conn.organization_role != "management":
                continue
            if read in ("stack", "stack_events") and conn.organization_role == "member":
                continue
            out.append(f"{_READ_CHECKS.get(read, read)}: {why}")
        if not setup.stack_searched and "stack" not in errors and conn.organization_role != "member":
            out.append(f"{_READ_CHECKS['stack']}: not looked for (the connector names no region to look in)")
        tenant = _tenant_of(conn, snap)
        if not tenant:
            out.append("the trust policies' session name (trust-policy-mismatch): the tenant id is unknown")
    return out


def _tenant_of(conn: m.Connector, snap: m.Snapshot) -> str | None:
    """The tenant whose session name the connector's roles must trust: its subscription's (a subscription delegated
    through Azure Lighthouse keeps its own tenant), else the snapshot's."""
    tenant = getattr(conn, "tenant_id", None) or getattr(snap, "tenant_id", None)
    return tenant if isinstance(tenant, str) and tenant else None


def _evaluate(conn: m.Connector, snap: m.Snapshot, idx: _Index) -> Health:
    issues: list[HealthIssue | None] = []
    acct = conn.aws_account_id or ""
    inv = idx.inventories.get(acct) if acct else None
    inv = inv if isinstance(inv, m.AwsAccountInventory) else None
    setup = inv.setup if inv is not None and isinstance(inv.setup, m.AwsAccountSetup) else None
    unchecked = _unchecked(conn, snap, idx, inv, setup)
    if conn.kind == "classic":
        issues += [_classic(conn), _duplicate(conn, idx), _lock(conn, idx)]
        return _health([i for i in issues if i is not None], unchecked)
    if conn.kind != "native":
        return HEALTHY
    pending = _pending(conn, idx)
    issues += [_duplicate(conn, idx), _unreadable(conn, inv), _regions(conn, inv), pending]
    if pending is None:
        issues += [_no_data(conn, idx), _standards(conn, idx.compliance)]
    if setup is not None:
        used = [r for r in used_roles(conn) if r.account == acct]
        oidc_roles = [r for r in used if oidc_trusted(r)]
        issues += [_stack(conn, setup, idx), _stackset(conn, setup), _trusted_access(conn, setup),
                   _members(conn, setup, idx), _oidc(conn, setup, oidc_roles, idx), _roles(conn, setup, used, idx),
                   _trust(conn, setup, oidc_roles, _tenant_of(conn, snap), idx),
                   _least_privilege(conn, setup, used, idx), _sqs(conn, setup)]
    issues += [_pricing(conn, idx.plans), _providers(conn, idx.plans), _lock(conn, idx)]
    return _health([i for i in issues if i is not None], unchecked)


def connector_health(conn: m.Connector, snap: m.Snapshot) -> Health | None:
    """The health of one connector in this snapshot; None when it could not be evaluated (unknown, never
    "healthy": the reason is logged)."""
    try:
        idx = _index(snap)
        if idx.healths is not None and conn in idx.connectors:
            return idx.healths.get(conn.id.lower())
        return _evaluate(conn, snap, idx)
    except Exception:  # broad: odd data never breaks a view (logged): the connector shows no verdict
        log.warning("health of connector %s not evaluated", getattr(conn, "name", "?"), exc_info=True)
        return None


def health_by_connector(snap: m.Snapshot) -> dict[str, Health]:
    """Lower-case connector id -> Health for every connector of the snapshot whose health could be evaluated (empty
    when connectors are unknown). A connector whose evaluation failed is left out: callers read a missing
    connector as "not evaluated" (unknown), never as healthy."""
    try:
        idx = _index(snap)
    except Exception:  # broad: odd data never breaks a view (logged)
        log.warning("connector health not evaluated", exc_info=True)
        return {}
    if idx.healths is None:
        out: dict[str, Health] = {}
        for c in idx.connectors:
            try:
                out[c.id.lower()] = _evaluate(c, snap, idx)
            except Exception:  # broad: one connector's odd data leaves the others evaluated (logged); it is left
                # out of the map (unknown)
                log.warning("health of connector %s not evaluated", c.name, exc_info=True)
        idx.healths = out
    return dict(idx.healths)


def account_health(healths: "list[Health] | tuple[Health, ...]",
                   not_evaluated: "list[str] | tuple[str, ...]" = ()) -> Health:
    """An account's health: the worst state of its connectors and all their issues (CODES order, no duplicates), and
    what was not checked (theirs, and each connector in `not_evaluated` (names) whose health is unknown)."""
    return _health([i for h in healths for i in h.issues],
                   [u for h in healths for u in h.unchecked]
                   + [f"connector {n}: its health could not be evaluated (odd data; see the log)"
                      for n in not_evaluated])


def org_coverage(conn: m.Connector, snap: m.Snapshot) -> OrgCoverage | None:
    """For a management connector whose account's set-up was read: its organization's coverage; else None."""
    try:
        if conn.kind != "native" or conn.organization_role != "management" or not conn.aws_account_id:
            return None
        idx = _index(snap)
        inv = idx.inventories.get(conn.aws_account_id)
        setup = inv.setup if isinstance(inv, m.AwsAccountInventory) else None
        if not isinstance(setup, m.AwsAccountSetup):
            return None
        acct = conn.aws_account_id
        with_conn = {c.aws_account_id for c in idx.connectors
                     if c.kind == "native" and c.organization_role == "member" and c.parent_account_id == acct
                     and c.aws_account_id}
        facts = [f for f in (setup.org_accounts or ()) if isinstance(f, m.OrgAccountFact)]
        with_conn |= {f.account_id for f in facts if f.account_id != acct and f.account_id in idx.native_accounts}
        return OrgCoverage(
            management_account_id=acct,
            org_accounts=len(facts) if setup.org_accounts is not None else None,
            members_with_connector=tuple(sorted(with_conn - {acct})),
            missing=tuple(_missing_members(conn, setup, idx) or ()),
            excluded=tuple(sorted(set(conn.excluded_account_ids))),
            suspended=tuple(sorted(_inactive(setup))),
            stackset_instances=tuple(i for i in (setup.stackset_instances or ())
                                     if isinstance(i, m.StackInstanceFact)),
        )
    except Exception:  # broad: odd data never breaks a view (logged)
        log.warning("organization coverage of %s not evaluated", getattr(conn, "name", "?"), exc_info=True)
        return None


# plan -> billable units it counts (quickstart-onboard-aws.md and the pricing page), with a note where counts
# are not the whole story
_BILLABLE: Final[Mapping[str, tuple[tuple[str, ...], str]]] = {
    "cspm": ((), "free: Foundational CSPM bills nothing"),
    "defender_cspm": (("ec2_running", "rds_instances", "s3_buckets"), "billed per compute, database and storage "
                                                                       "resource"),
    "servers": (("ec2_running",), "billed per running EC2 instance (hourly)"),
    "containers": (("eks_clusters",), "vCores of EKS nodes are not read: the plan bills per vCore"),
    "databases": (("rds_instances",), "billed per database instance"),
}


def cloudtrail_query(region: str | None, tenant_id: str | None, now: datetime | None) -> str:
    """The ready-to-run count of the CspmMonitorAws session's CloudTrail events of the last day."""
    start = _iso(now - timedelta(hours=24)) if now is not None else "<24 hours ago, ISO 8601>"
    return (f"aws cloudtrail lookup-events --region {region or '<region>'} --lookup-attributes "
            f"AttributeKey=Username,AttributeValue=MicrosoftDefenderForClouds_{tenant_id or '<tenant id>'} "
            f"--start-time {start} --query 'length(Events)'")


def account_cost(account_id: str, conns: "list[m.Connector] | tuple[m.Connector, ...]", snap: m.Snapshot
                 ) -> AccountCost | None:
    """Billable counts per enabled plan of the account's native connectors (None for a classic-only account)."""
    try:
        natives = [c for c in conns if isinstance(c, m.Connector) and c.kind == "native"]
        if not natives:
            return None
        idx = _index(snap)
        enabled = {p for c in natives for p in connector_plans(c)}
        inv = idx.inventories.get(account_id)
        inv = inv if isinstance(inv, m.AwsAccountInventory) else None
        setup = inv.setup if inv is not None and isinstance(inv.setup, m.AwsAccountSetup) else None
        counts: dict[str, int | None] = {}
        if inv is not None and inv.readable:
            counts["ec2_running"] = sum(1 for i in inv.instances if _lower(i.state) == "running")
        billable = setup.billable if setup is not None and isinstance(setup.billable, Mapping) else {}
        plans: list[PlanCost] = []
        for key in m.PLAN_KEYS:
            if key not in enabled:
                continue
            units, note = _BILLABLE[key]
            got: dict[str, int | None] = {}
            for u in units:
                v = counts[u] if u in counts else billable.get(u)
                got[u] = v if isinstance(v, int) and not isinstance(v, bool) else None
            plans.append(PlanCost(key, got, note))
        intervals = [c.scan_interval_hours for c in natives if isinstance(c.scan_interval_hours, int)]
        region = next((c.regions[0] for c in natives if c.regions), None)
        tenant = _tenant_of(natives[0], snap)  # the session name its roles are signed in with
        return AccountCost(scan_interval_hours=min(intervals) if intervals else None, plans=tuple(plans),
                           cloudtrail_query=cloudtrail_query(region, tenant,
                                                             idx.now))
    except Exception:  # broad: odd data never breaks a view (logged)
        log.warning("cost of account %s not evaluated", account_id, exc_info=True)
        return None
