"""AWS source: what EC2 and SSM show per account and region, read with boto3 as AWS documents it.

Never imports textual, rich or tui.emulator (tests/test_layering.py enforces it); boto3/botocore are imported lazily
so the first frame of the dashboard does not pay for them.

    async with AwsSource(settings.aws) as aws:
        inv = await aws.inventory({"111122223333": ["us-east-1", "eu-west-1"], "444455556666": []})

How an account is reached (first match wins):
    1. settings.account_profiles[acct]  -> that named profile (checked with sts:GetCallerIdentity to be that account)
    2. settings.account_roles[acct]     -> sts:AssumeRole of that role ARN with the base credentials
    3. acct == the caller's account      -> the base credentials (settings.profile, else boto3's default chain)
    4. otherwise                         -> sts:AssumeRole of arn:<partition>:iam::<acct>:role/<assume_role_name>
Assumed credentials are cached until REFRESH_MARGIN before they expire. Every assumed role shares one client per
service and region: each request is signed with the credentials of the account the calling worker thread works for
(bound by _client; _account_credentials), so a 200-account estate makes tens of clients, not thousands (~6 ms of CPU
each). The base credentials and profiles keep clients of their own, cached per account, service and region. Clients
are created under a per-session lock (botocore sessions are not safe to create clients from concurrently).

Blocking boto3 calls run on worker threads, as many at a time as an adaptive limit allows (issue 15; AdaptiveLimit):
it starts at settings.concurrency_start, grows while calls stay latency-bound (slow start, then one more per round
trip, as long as a call's round trip stays within GROW_TOLERANCE of the fastest seen: past that the machine or the
server is the bottleneck and more calls would only queue), halves on a throttled answer, and never exceeds the hard
cap settings.max_workers (requests in flight). Each account's calls are chained: one task reaches it (assume the role
once, list its regions when none are given), then every region's EC2 and SSM scan and every set-up read start at
once; a region's next page is requested as soon as the previous one arrives (one task pages through it). A free slot
goes to reaching an account first, then to the scans, then to the set-up reads (never one a scan waits for).
Client-side pacing (Pacer) keeps every (account, region, API family) under AWS's published request-rate limits
(AWS_QUOTAS, with where each figure comes from), so mdc-aws itself causes no throttled answer; a throttled answer
all the same (another client of the account spent the bucket) empties that bucket, halves the limit and is retried
by botocore once the pacing lets it go. Nothing that did not fail is retried (botocore's standard retry mode,
settings.max_attempts).

Failures never become made-up zeros:
    * an account that cannot be reached (AssumeRole denied, missing profile, expired SSO token, describe_regions
      failing) -> AwsAccountInventory(readable=False, error=<cause and fix>, error_kind=<SourceError.kind>);
    * a region where DescribeInstances or DescribeInstanceInformation fails -> failed_regions[region] = <cause and
      fix>, and that region contributes neither instances nor SSM records (half a region would show every instance
      as "no SSM agent"); the account stays readable while at least one region was read;
    * a region answering AuthFailure / InvalidClientTokenId / UnrecognizedClientException while another region of the
      account was read -> failed_regions[region] = "region not enabled (opt-in): ..." (an opt-in region the account
      has not enabled answers like bad credentials; the other regions prove the credentials work);
    * every region failing -> readable=False with the first region's error (failed_regions still lists them all;
      every region answering AuthFailure stays a credentials error).
`regions` lists every region that was scanned, the failed ones included.

Set-up reads (`inventory(accounts, hints)`; issue 13): for an account whose SetupHint has with_setup, the same access
also reads what the Defender for Cloud template left in it (AwsAccountInventory.setup, an AwsAccountSetup): IAM roles
and trust policies (the CSPM role's policies too), OIDC providers, the connector's CloudFormation stack (and why it
failed), for a management account the StackSet's instances, StackSets trusted access and the organization's accounts,
the CloudTrail buckets' SQS notifications and the billable counts the hint asks for. Each read is its own task on
the same adaptive slots, after the scans (a scan never queues behind them); one that fails leaves its field None
with the reason in setup.errors[<read>] (SETUP_READS) and never fails the inventory. The account's set-up reads have a
deadline (setup_timeout_s, SETUP_TIMEOUT_S), running from when the first of them starts (not while they wait
behind other accounts' calls): what is still pending then is abandoned (errors[<read>] = "timed out
after N s ...") and the inventory returns with the rest (at once when close() abandons it); an abandoned read stops
before its next request, so it holds its thread for at most the request in flight. Only the trust policies of
Defender for Cloud's roles are kept (kept_trust_roles), their sts:ExternalId values redacted. The stack is the one
that created the CSPM role (DescribeStackResources by physical id), else the first tagged MDFCSecurityConnector or
named DefenderForCloud-Connector. An account that cannot be reached gets setup None. hints None: no set-up read.
"""
from __future__ import annotations

import asyncio
import functools
import heapq
import json
import math
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence, TypeVar
from urllib.parse import unquote

from .config import AwsSettings
from .errors import AuthError, SourceError
from .model import (
    AwsAccountInventory,
    AwsAccountSetup,
    BucketQueueFact,
    Ec2Instance,
    IamRoleFact,
    OidcProviderFact,
    OrgAccountFact,
    SsmInstance,
    StackFact,
    StackInstanceFact,
)

T = TypeVar("T")

SESSION_NAME = "mdc-aws"  # RoleSessionName of every AssumeRole (CloudTrail shows it)
REFRESH_MARGIN = timedelta(minutes=5)  # re-assume a role this long before its credentials expire
EC2_PAGE_SIZE = 1000  # DescribeInstances MaxResults upper bound
SSM_PAGE_SIZE = 50  # DescribeInstanceInformation MaxResults upper bound
# Every state but "terminated" (a terminated instance lingers for about an hour and is not an instance any more).
LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")

ACCOUNT_RE = re.compile(r"\d{12}")

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
INVALID_CRED_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "AuthFailure",
        "MissingAuthenticationToken",
    }
)
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "Forbidden"}
)
# What EC2 / STS-signed services answer in a region the account has not enabled (an opt-in region): the same codes
# as bad credentials (AWS Knowledge Center "iam-validate-access-credentials"). Only when other regions of the same
# account answer with the same credentials do they mean "region not enabled".
OPT_IN_REGION_CODES = frozenset({"AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException"})
OPT_IN_TEXT = "region not enabled (opt-in)"
ORG_NOT_AVAILABLE_CODES = frozenset(
    {"AWSOrganizationsNotInUseException", "AccessDeniedException", "AccessDenied", "AccessDeniedForDependencyException"}
)

_MAX_DETAIL = 160

# --------------------------------------------------------------------------------------------------------------------
# Set-up reads (issue 13)

CSPM_ROLE = "CspmMonitorAws"  # the CSPM offering's role: its attached and inline policies are read too
STACK_TAG = "MDFCSecurityConnector"  # tag of the stack the Defender for Cloud template creates
MAX_TRAIL_BUCKETS = 5  # CloudTrail buckets whose notification configuration is read (bounded)
MAX_EVENT_PAGES = 5  # DescribeStackEvents pages read to find why a stack failed (newest first)
BILLABLE_UNITS = ("s3_buckets", "rds_instances", "eks_clusters")
# An account's set-up reads end this long after they start (AwsSource(setup_timeout_s=...), else a setting of that
# name on AwsSettings, else this): what is still pending then is abandoned and its errors[read] says "timed out".
SETUP_TIMEOUT_S = 60.0
REDACTED = "<redacted>"  # what replaces an sts:ExternalId value in a stored trust policy
# RDS engines DescribeDBInstances also lists that are not RDS databases (Neptune, DocumentDB): not counted
NOT_RDS_ENGINES = frozenset({"neptune", "docdb"})
# setup.errors keys: one per read (billable ones "billable.<unit>"); "cspm_policies" / "stack_events" are the
# second step of "roles" / "stack" (their failure leaves the policies / failed resource None, not the whole field)
SETUP_READS = ("roles", "cspm_policies", "oidc_providers", "stack", "stack_events", "stackset_instances",
               "trusted_access", "org_accounts", "trail_bucket_queues") + tuple(f"billable.{u}" for u in BILLABLE_UNITS)


@dataclass(frozen=True)
class SetupHint:
    """What to read of one account's Defender for Cloud set-up (built by tui.core.collect.setup_hints)."""

    management: bool = False  # a management connector: StackSet instances, trusted access, organization accounts
    stack_regions: tuple[str, ...] = ()  # where to look for the connector's stack, in order (empty: not looked for)
    billable: frozenset[str] = frozenset()  # BILLABLE_UNITS to count
    with_setup: bool = True  # False: no set-up read at all (no native connector)
    stackset_name: str | None = None  # the management connector's StackSet
    cspm_role: str = CSPM_ROLE  # the CSPM offering's role name (its policies are read; its stack is looked up)
    # role names the connectors' offerings use (cloudRoleArn): their trust policies are kept, like those of the
    # template's roles (roles.json), the classic role and cspm_role; every other role keeps its name only
    trust_roles: frozenset[str] = frozenset()


def policy_text(doc: Any) -> str | None:
    """An IAM policy document as JSON text: botocore decodes it to a dict (dumped back); a str is URL-decoded."""
    if isinstance(doc, (Mapping, list)):
        return json.dumps(doc)
    if isinstance(doc, str) and doc.strip():
        s = doc.strip()
        return s if s.startswith("{") else unquote(s)
    return None


def allow_actions(doc: Any) -> list[str]:
    """The actions of a policy document's Allow statements, in order (NotAction statements are not counted)."""
    if isinstance(doc, str):
        try:
            doc = json.loads(policy_text(doc) or "null")
        except ValueError:
            return []
    if not isinstance(doc, Mapping):
        return []
    stmts = doc.get("Statement")
    if isinstance(stmts, Mapping):
        stmts = [stmts]
    out: list[str] = []
    for st in stmts if isinstance(stmts, list) else ():
        if not isinstance(st, Mapping) or str(st.get("Effect", "")).lower() != "allow":
            continue
        acts = st.get("Action")
        for a in [acts] if isinstance(acts, str) else acts if isinstance(acts, list) else ():
            if isinstance(a, str) and a.strip():
                out.append(a.strip())
    return out


def kept_trust_roles(hint: SetupHint) -> frozenset[str]:
    """Lower-case names of the roles whose trust policy AwsAccountSetup keeps: Defender for Cloud's (roles.json
    roles and the classic role), the hint's CSPM role and the roles its connectors name (IAM names ignore case)."""
    from .onboarding.template import roles_data

    data = roles_data()
    names = {str(n) for n in data.get("roles") or {}}
    classic = (data.get("classic") or {}).get("role_name")
    if isinstance(classic, str):
        names.add(classic)
    names.update(n for n in (hint.cspm_role, *hint.trust_roles) if isinstance(n, str) and n)
    return frozenset(n.lower() for n in names)


def redact_external_ids(text: str | None) -> str | None:
    """A trust policy (JSON text) with every sts:ExternalId condition value replaced by REDACTED (a list keeps its
    length): the policy lands in the local history and an external id is a shared secret. Text that is not JSON
    but mentions an external id is dropped (None); other text is kept as it is."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None if "externalid" in text.lower() else text
    changed = False
    stmts = doc.get("Statement") if isinstance(doc, dict) else None
    for st in [stmts] if isinstance(stmts, dict) else stmts if isinstance(stmts, list) else ():
        cond = st.get("Condition") if isinstance(st, dict) else None
        for block in cond.values() if isinstance(cond, dict) else ():
            if not isinstance(block, dict):
                continue
            for key, value in list(block.items()):
                if isinstance(key, str) and key.lower() == "sts:externalid":
                    block[key] = [REDACTED] * len(value) if isinstance(value, list) else REDACTED
                    changed = True
    if not changed and "externalid" in text.lower():  # mentioned where a condition is not: drop, do not guess
        return None
    return json.dumps(doc) if changed else text


class SetupTimeout(SourceError):
    """A set-up read still pending (or stopped before its next request) at the set-up reads' deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s (the set-up reads' deadline, setup_timeout_s); not read, "
                         "retried at the next refresh", kind="network")


class _Deadline:
    """When one account's set-up reads end (time.monotonic()); abandon() ends them now (from any thread: the
    inventory waiting for them is woken, _setup_results)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # runs from when the first of the account's reads starts (start()), not from when they were queued: time
        # spent behind other accounts' calls (a large organization's refresh) is not AWS being slow
        self.at = math.inf
        self.wake: Callable[[], None] | None = None  # set by the inventory waiting for the reads
        self.rearm: Callable[[], None] | None = None  # idem: start() moved `at`
        self._lock = threading.Lock()

    def start(self) -> None:
        """A read of this account starts running: the deadline runs from now (the first call only)."""
        with self._lock:
            if self.at != math.inf:
                return
            self.at = time.monotonic() + self.seconds
        rearm = self.rearm
        if rearm is not None:
            rearm()

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def abandon(self) -> None:
        self.at = -math.inf
        wake = self.wake
        if wake is not None:
            wake()


# per worker thread: .deadline: the _Deadline of the set-up read running on it (None: not one); .creds / .account:
# the frozen credentials and account of the assumed role whose shared client it last took (_client), that every
# request it sends through a shared client is signed with (_AccountCredentials); .requests / .paced / .throttled:
# what its current call did (_in_thread)
_job = threading.local()

# the account_id on_client is given for a client shared by every assumed role (one per service and region): inside a
# botocore event hook of such a client, current_account() tells which account the request is for
SHARED_CLIENT = "*"


def current_account() -> str | None:
    """The account whose credentials sign the requests the calling thread sends through a shared client (None: no
    assumed role bound on this thread). For on_client hooks (SHARED_CLIENT) and diagnostics."""
    return getattr(_job, "account", None)


def _bind(account: str | None, creds: Any) -> None:
    _job.account, _job.creds = account, creds


_switching_cls: Any = None


def _fast_timestamp(value: Any) -> Any:
    """botocore's timestamp parser for the shared clients: ISO 8601 text (what EC2, IAM, CloudFormation answer) and
    epoch numbers (JSON protocols) without dateutil's general parser (~1 ms a timestamp: a DescribeInstances page of
    1,000 instances spent a second there); anything else goes to botocore's own parser. Same instants (aware, UTC)."""
    try:
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
            return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return datetime.fromtimestamp(value, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    from botocore.utils import parse_timestamp

    return parse_timestamp(value)


def _account_credentials() -> Any:
    """A botocore Credentials whose frozen credentials are those the calling thread bound (_bind): the signer asks
    for them at every request (RequestSigner.get_auth_instance -> get_frozen_credentials), so one client signs each
    request with the keys of the account its worker works for. With none bound it refuses to sign (never a guess)."""
    global _switching_cls
    if _switching_cls is None:
        from botocore.credentials import Credentials

        class _AccountCredentials(Credentials):
            def __init__(self) -> None:
                super().__init__("per-account", "per-account", method="mdc-aws-assumed-role")

            def get_frozen_credentials(self) -> Any:
                creds = getattr(_job, "creds", None)
                if creds is None:
                    raise RuntimeError("a shared AWS client was used with no account's credentials bound (_client)")
                return creds

        _switching_cls = _AccountCredentials
    return _switching_cls()


def _stop_abandoned(**_: Any) -> None:
    """before-send of every client: a set-up read past its deadline stops before its next request or retry, so an
    abandoned read holds its thread for at most the request in flight (botocore's timeouts bound that)."""
    d: _Deadline | None = getattr(_job, "deadline", None)
    if d is not None and d.passed():
        raise SetupTimeout(d.seconds)


def _event_parts(event_name: str) -> tuple[str, str]:
    """(service, operation) of a botocore event name "before-send.<service-id>.<Operation>"."""
    parts = event_name.split(".")
    return (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _tag_map(tags: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags if isinstance(tags, list) else ():
        if isinstance(t, Mapping) and isinstance(t.get("Key"), str):
            out[t["Key"]] = str(t.get("Value") or "")
    return out


def is_connector_stack(stack: Mapping[str, Any], default_name: str) -> bool:
    """A DescribeStacks item tagged MDFCSecurityConnector or named as the template names its stack."""
    return STACK_TAG in _tag_map(stack.get("Tags")) or stack.get("StackName") == default_name


def first_failed_event(events: Iterable[Any], stack_name: str) -> tuple[str | None, str | None]:
    """(LogicalResourceId, ResourceStatusReason) of the first *_FAILED event of the stack's last operation.

    `events` newest first (as DescribeStackEvents answers); the operation starts at the stack's own CREATE/UPDATE/
    IMPORT_IN_PROGRESS event. A failed resource wins over the stack's own failure (which only names the resources)."""
    failed: list[Mapping[str, Any]] = []
    for ev in events:
        if not isinstance(ev, Mapping):
            continue
        status = str(ev.get("ResourceStatus") or "")
        own = ev.get("LogicalResourceId") == stack_name and ev.get("ResourceType") == "AWS::CloudFormation::Stack"
        if status.endswith("_FAILED"):
            failed.append({**ev, "_own": own})
        if own and status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "IMPORT_IN_PROGRESS"):
            break
    pick = [e for e in failed if not e["_own"]] or failed
    if not pick:
        return None, None
    ev = pick[-1]  # the oldest: the cause, the others followed from it
    return _text(ev.get("LogicalResourceId")), _text(ev.get("ResourceStatusReason"))


# --------------------------------------------------------------------------------------------------------------------
# Pages -> models (pure; never raise on malformed input, skip what cannot be read)


def _text(v: Any) -> str | None:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return None


def _is_windows(raw: Mapping[str, Any]) -> bool:
    # "Platform" is only ever "windows" (absent on Linux); PlatformDetails ("Windows", "Windows with SQL Server ...")
    # is what real AWS adds, moto leaves it out.
    p = _text(raw.get("Platform"))
    if p is not None and p.lower() == "windows":
        return True
    d = _text(raw.get("PlatformDetails"))
    return d is not None and d.lower().startswith("windows")


def _name_tag(tags: Any) -> str | None:
    if not isinstance(tags, list):
        return None
    for t in tags:
        if isinstance(t, Mapping) and t.get("Key") == "Name":
            return _text(t.get("Value"))
    return None


def parse_instance(raw: Any, account_id: str, region: str) -> Ec2Instance | None:
    """One `Reservations[].Instances[]` item -> Ec2Instance; None when it has no id or is terminated."""
    if not isinstance(raw, Mapping):
        return None
    iid = _text(raw.get("InstanceId"))
    if iid is None:
        return None
    st = raw.get("State")
    state = _text(st.get("Name")) if isinstance(st, Mapping) else None
    state = state.lower() if state else "unknown"
    if state == "terminated":
        return None
    return Ec2Instance(
        account_id=account_id,
        region=region,
        instance_id=iid,
        state=state,
        platform="windows" if _is_windows(raw) else "linux",
        name=_name_tag(raw.get("Tags")),
        launch_time=_timestamp(raw.get("LaunchTime")),
        private_dns_name=_text(raw.get("PrivateDnsName")),
    )


def parse_instances(page: Any, account_id: str, region: str) -> list[Ec2Instance]:
    """A DescribeInstances page (`{"Reservations": [{"Instances": [...]}]}`) -> live instances; bad items skipped."""
    out: list[Ec2Instance] = []
    if not isinstance(page, Mapping):
        return out
    reservations = page.get("Reservations")
    if not isinstance(reservations, list):
        return out
    for res in reservations:
        if not isinstance(res, Mapping):
            continue
        items = res.get("Instances")
        if not isinstance(items, list):
            continue
        for raw in items:
            inst = parse_instance(raw, account_id, region)
            if inst is not None:
                out.append(inst)
    return out


def _timestamp(v: Any) -> datetime | None:
    """botocore gives an aware datetime; raw JSON gives epoch seconds; be lenient with ISO strings. UTC if naive.
    Always UTC out: botocore's zone is dateutil's tzlocal(), which would tie the history file to dateutil and to the
    local zone of whoever reads it."""
    try:
        if isinstance(v, datetime):
            return v.astimezone(timezone.utc) if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if not math.isfinite(v):
                return None
            return datetime.fromtimestamp(v, tz=timezone.utc)
        if isinstance(v, str) and v.strip():
            s = v.strip()
            if s.endswith("Z"):
                s = s[:-1] + "+00:00"
            d = datetime.fromisoformat(s)
            return d.astimezone(timezone.utc) if d.tzinfo is not None else d.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def parse_instance_information_item(raw: Any, account_id: str, region: str) -> SsmInstance | None:
    """One `InstanceInformationList[]` item -> SsmInstance; None without an instance id."""
    if not isinstance(raw, Mapping):
        return None
    iid = _text(raw.get("InstanceId"))
    if iid is None:
        return None
    return SsmInstance(
        account_id=account_id,
        region=region,
        instance_id=iid,
        ping_status=_text(raw.get("PingStatus")) or "Unknown",
        platform_type=_text(raw.get("PlatformType")),
        agent_version=_text(raw.get("AgentVersion")),
        last_ping=_timestamp(raw.get("LastPingDateTime")),
        registered=_timestamp(raw.get("RegistrationDate")),
    )


def parse_instance_information(page: Any, account_id: str, region: str) -> list[SsmInstance]:
    """A DescribeInstanceInformation page -> SSM managed instances (EC2 `i-` and hybrid `mi-`); bad items skipped."""
    out: list[SsmInstance] = []
    if not isinstance(page, Mapping):
        return out
    items = page.get("InstanceInformationList")
    if not isinstance(items, list):
        return out
    for raw in items:
        s = parse_instance_information_item(raw, account_id, region)
        if s is not None:
            out.append(s)
    return out


def _dedupe(items: list[Any]) -> tuple[Any, ...]:
    """Pages can overlap when the estate changes mid-pagination: keep one record per instance id (the last seen)."""
    seen: dict[str, Any] = {}
    for i in items:
        seen.pop(i.instance_id, None)
        seen[i.instance_id] = i
    return tuple(seen.values())


# --------------------------------------------------------------------------------------------------------------------
# Errors -> one line with the cause and the fix


def _one_line(s: Any, limit: int = _MAX_DETAIL) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _error_code(e: BaseException | None) -> str | None:
    """The AWS error code of a botocore ClientError, or of the one a SourceError was raised from."""
    for x in (e, getattr(e, "__cause__", None)):
        resp = getattr(x, "response", None)
        if isinstance(resp, Mapping):
            err = resp.get("Error")
            if isinstance(err, Mapping) and err.get("Code"):
                return str(err["Code"])
    return None


def opt_in_errors(failed: Mapping[str, SourceError], regions: Sequence[str], account: str) -> dict[str, SourceError]:
    """`failed` with the regions that answered an OPT_IN_REGION_CODES code turned into "region not enabled (opt-in)",
    when at least one region of the account was read: the credentials work there, so in those regions they cannot
    be bad. When no region was read the errors stay as they are (bad credentials)."""
    out = dict(failed)
    if not regions or len(failed) >= len(regions):
        return out
    for r, e in failed.items():
        code = _error_code(e)
        if code in OPT_IN_REGION_CODES:
            out[r] = SourceError(
                f"{OPT_IN_TEXT}: {r} answers {code} in account {account} while other regions accept the same "
                f"credentials; enable {r} in the account (AWS console > Account > AWS Regions) or remove it from the "
                "connector's regions", kind="usage")
    return out


def _make_error(message: str, kind: str) -> SourceError:
    return AuthError(message) if kind == "auth" else SourceError(message, kind=kind)


# --------------------------------------------------------------------------------------------------------------------
# Adaptive fan-out (issue 15): AWS's request-rate limits (client-side pacing) and the concurrency limit


@dataclass(frozen=True)
class Quota:
    """One token bucket: `capacity` requests at once, refilled at `refill_per_s`; `source`: where the figure is from."""

    capacity: float
    refill_per_s: float
    source: str


_EC2_THROTTLING = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
_IAM_STS_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
_SSM_QUOTAS = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"
_NOT_PUBLISHED = "no published figure: a conservative guess (the emulator's)"

# AWS's per-account request-rate limits, per (account, region, family) ("global" region for IAM, Organizations, S3).
AWS_QUOTAS: dict[str, Quota] = {
    # EC2 non-mutating actions (Describe*, Get*, List*): 100 tokens, 20 per second, per API, account and Region
    "ec2:non-mutating": Quota(100, 20, _EC2_THROTTLING),
    "ec2:mutating": Quota(50, 5, _EC2_THROTTLING),
    # STS: 600 requests per second per account and Region
    "sts": Quota(600, 600, _IAM_STS_QUOTAS),
    # SSM Parameter Store: 40 transactions per second (default throughput)
    "ssm:parameter-store": Quota(40, 40, _SSM_QUOTAS),
    "ssm:DescribeInstanceInformation": Quota(40, 20, _NOT_PUBLISHED),
    "ssm": Quota(40, 20, _NOT_PUBLISHED),
    "iam": Quota(20, 10, _NOT_PUBLISHED),
    "organizations": Quota(20, 10, _NOT_PUBLISHED),
    "cloudformation": Quota(20, 10, _NOT_PUBLISHED),
    "securityhub": Quota(30, 10, _NOT_PUBLISHED),
    "default": Quota(50, 20, _NOT_PUBLISHED),
}
GLOBAL_SERVICES = frozenset({"iam", "organizations", "s3", "cloudfront", "route53", "waf"})
# The pacing keeps this far under each quota: a request reaches AWS a little after it leaves, and the bucket counts
# arrivals (a burst of `capacity` sent at once may land after fewer refills than the client counted).
PACE_CAPACITY_MARGIN = 2.0  # tokens
PACE_REFILL_SHARE = 0.9  # of the refill rate
_PARAMETER_STORE_READS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath"})


def quota_family(service: str, action: str) -> tuple[str, str]:
    """(family, AWS_QUOTAS key) of a request: EC2 has a bucket per API; the other services one per family."""
    service = (service or "").lower()
    if service == "ec2":
        kind = "ec2:non-mutating" if action.startswith(("Describe", "Get", "List", "Search")) else "ec2:mutating"
        return f"ec2:{action}", kind
    if service == "ssm":
        if action in _PARAMETER_STORE_READS:
            return "ssm:parameter-store", "ssm:parameter-store"
        if action == "DescribeInstanceInformation":
            return "ssm:DescribeInstanceInformation", "ssm:DescribeInstanceInformation"
        return "ssm", "ssm"
    if service in AWS_QUOTAS:
        return service, service
    return service or "unknown", "default"


class Pacer:
    """Client-side token buckets mirroring AWS_QUOTAS: `reserve` takes a token (the balance may go below zero: the
    requests queue in the order they asked) and answers how long to wait; `drain` empties a bucket after AWS answered
    it throttled (someone else spent it). Thread-safe; `clock` in seconds."""

    def __init__(self, quotas: Mapping[str, Quota] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.quotas = dict(quotas or AWS_QUOTAS)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], list[float]] = {}  # key -> [tokens, stamp]
        self.waited_s = 0.0
        self.requests = 0
        self.drained = 0

    def _quota(self, kind: str) -> tuple[float, float]:
        q = self.quotas.get(kind) or self.quotas["default"]
        return max(1.0, q.capacity - PACE_CAPACITY_MARGIN), q.refill_per_s * PACE_REFILL_SHARE

    @staticmethod
    def _key(account: str, region: str, service: str, action: str) -> tuple[tuple[str, str, str], str]:
        family, kind = quota_family(service, action)
        return (account, "global" if service in GLOBAL_SERVICES else region, family), kind

    def reserve(self, account: str, region: str, service: str, action: str) -> float:
        """Take a token; the seconds to wait before sending (0: now)."""
        key, kind = self._key(account, region, service, action)
        cap, refill = self._quota(kind)
        now = self._clock()
        with self._lock:
            self.requests += 1
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = [cap, now]
            b[0] = min(cap, b[0] + (now - b[1]) * refill) - 1.0
            b[1] = now
            wait = -b[0] / refill if b[0] < 0 else 0.0
            self.waited_s += wait
            return wait

    def drain(self, account: str, region: str, service: str, action: str) -> None:
        """AWS answered throttled: nothing left in that bucket now (the retry waits for a refill)."""
        key, kind = self._key(account, region, service, action)
        cap, _ = self._quota(kind)
        now = self._clock()
        with self._lock:
            self.drained += 1
            b = self._buckets.setdefault(key, [cap, now])
            b[0], b[1] = min(b[0], 0.0), now


class AdaptiveLimit:
    """How many AWS calls may be in flight (pure: the fan-out reports to it on its event loop; no clock of its own).

    Starts at `start`; each call that ends while the limit was the bottleneck (`saturated`: every slot was taken) and
    whose round trip stayed within GROW_TOLERANCE x the fastest seen grows it: by one per call up to `ssthresh` (slow
    start: doubles per round trip), then by 1/limit per call (one per round trip). A longer round trip means the
    calls queue somewhere (this machine's CPU, the server): the limit holds. A throttled answer halves it (once per
    window of `limit` calls: one burst is one signal) and sets ssthresh there. Never above `cap`, never below 1."""

    GROW_TOLERANCE = 2.0
    SMOOTHING = 0.2  # weight of the newest round trip in the running average

    def __init__(self, start: int, cap: int) -> None:
        self.cap = max(1, int(cap))
        self.limit = float(min(max(1, int(start)), self.cap))
        self.ssthresh = float(self.cap)
        self.rtt_min = math.inf
        self.rtt_avg: float | None = None
        self.peak = self.limit
        self.throttles = 0
        self.decreases = 0
        self._since_decrease = math.inf

    @property
    def slots(self) -> int:
        return max(1, int(self.limit))

    def on_done(self, rtt_s: float, saturated: bool) -> None:
        self._since_decrease += 1
        if rtt_s > 0:
            self.rtt_min = min(self.rtt_min, rtt_s)
            self.rtt_avg = rtt_s if self.rtt_avg is None else (
                (1 - self.SMOOTHING) * self.rtt_avg + self.SMOOTHING * rtt_s)
        if not saturated or self.limit >= self.cap:
            return
        if self.rtt_avg is not None and self.rtt_avg > self.GROW_TOLERANCE * self.rtt_min:
            return
        self.limit = min(float(self.cap), self.limit + (1.0 if self.limit < self.ssthresh else 1.0 / self.limit))
        self.peak = max(self.peak, self.limit)

    def on_throttle(self) -> None:
        self.throttles += 1
        if self._since_decrease < self.limit:
            return
        self.ssthresh = max(1.0, self.limit / 2)
        self.limit = self.ssthresh
        self.decreases += 1
        self._since_decrease = 0

    def stats(self) -> dict[str, Any]:
        return {"limit": round(self.limit, 2), "peak": round(self.peak, 2), "cap": self.cap,
                "throttles": self.throttles, "decreases": self.decreases,
                "rtt_min_ms": round(self.rtt_min * 1000, 1) if self.rtt_min != math.inf else None,
                "rtt_avg_ms": round(self.rtt_avg * 1000, 1) if self.rtt_avg is not None else None}


# which calls go first when a slot frees: reaching an account (it unlocks the account's chain), then the scans, then
# the set-up reads (past half the slots only while no scan or access waits)
_PRIORITY = {"access": 0, "scan": 1, "setup": 2}


class _Slots:
    """The adaptive limit's slots, handed out by priority then arrival, on one event loop."""

    def __init__(self, limit: AdaptiveLimit) -> None:
        self.limit = limit
        self.in_flight = 0
        self.setup_in_flight = 0
        self._waiting: list[tuple[int, int, asyncio.Future[bool], str]] = []
        self._seq = 0

    def _may_start(self, kind: str) -> bool:
        if self.in_flight >= self.limit.slots:
            return False
        if kind == "setup" and self.setup_in_flight >= max(1, self.limit.slots // 2):
            # past half the slots only when no scan or access waits for one
            return not any(k != "setup" for _, _, _, k in self._waiting)
        return True

    def _take(self, kind: str) -> bool:
        self.in_flight += 1
        if kind == "setup":
            self.setup_in_flight += 1
        return self.in_flight >= self.limit.slots  # saturated: this call took the last slot

    async def acquire(self, kind: str) -> bool:
        """Wait for a slot; True when the limit was the bottleneck (every slot taken)."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiting, (_PRIORITY.get(kind, 1), self._seq, fut, kind))
        self.wake()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, then cancelled before use: give it back
                self.release(kind)
            else:
                self._waiting = [w for w in self._waiting if w[2] is not fut]
                heapq.heapify(self._waiting)
            raise

    def release(self, kind: str) -> None:
        self.in_flight -= 1
        if kind == "setup":
            self.setup_in_flight -= 1
        self.wake()

    def wake(self) -> None:
        """Grant slots to waiters, by priority, while the limit allows."""
        skipped: list[tuple[int, int, asyncio.Future[bool], str]] = []
        while self._waiting and self.in_flight < self.limit.slots:
            w = heapq.heappop(self._waiting)
            if w[2].done():
                continue
            if not self._may_start(w[3]):
                skipped.append(w)
                continue
            w[2].set_result(self._take(w[3]) or bool(self._waiting))
        for w in skipped:
            heapq.heappush(self._waiting, w)

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot."""
        return sum(1 for w in self._waiting if not w[2].done())

    def cancel_all(self) -> None:
        for _, _, fut, _ in self._waiting:
            fut.cancel()
        self._waiting.clear()


@dataclass
class _Access:
    """How one account is reached: a session (boto3 or botocore), its clients and, for an assumed role, the expiry."""

    account_id: str | None  # None: the base session before the caller's account is known
    how: str  # for messages: "the base credentials (profile 'x')", "profile 'x'", "role arn:..."
    make_client: Callable[..., Any]  # session.client / session.create_client (same keyword arguments)
    profile: str | None = None  # the profile behind these credentials, for "run `aws sso login --profile X`"
    role_arn: str | None = None
    expires: datetime | None = None
    # an assumed role's credentials (botocore ReadOnlyCredentials): its requests go through the clients shared by every
    # assumed role, signed with these (_client binds them to the calling thread); None: clients of its own
    frozen: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


_share_lock = threading.Lock()
_shared = False


def share_client_classes() -> None:
    """One botocore client class per service model and session, not one per client (idempotent, process-wide).

    botocore builds a new class for every client it creates: for EC2 ~650 methods, each with its docstring object
    and operation model, ~1 MB and ~25 ms. A collection of the large estate creates ~1,900 clients (one per
    account x region x service, LRU-bounded): 49 s of its 59 s went there (under the session lock), and that
    garbage left the collector's heap ~35 MB bigger. With one class per service the collection took ~30 s and
    the collector ~140 MB instead of ~180 (large estate, measured in one process). The class depends only on the
    service model and the handlers of the session's ``creating-client-class`` event, so clients of one service
    made by one session share it; each client keeps its own region, credentials, endpoint and event handlers."""
    global _shared
    with _share_lock:
        if _shared:
            return
        _shared = True
        from . import hooks as _hooks

        if not _hooks.usable("botocore.client_class"):  # a botocore that builds classes its own way: leave it
            return
        from botocore.client import ClientCreator

        build = ClientCreator._create_client_class  # noqa: SLF001 - botocore private API, checked by hooks.usable
        classes: dict[tuple[int, str, int], tuple[type, Any, Any]] = {}  # (events, service, model) -> class

        @functools.wraps(build)
        def create_client_class(self: Any, service_name: str, service_model: Any) -> Any:
            events = getattr(self, "_event_emitter", None)
            model = getattr(service_model, "_service_description", None)
            if events is None or model is None:
                return build(self, service_name, service_model)
            key = (id(events), service_name, id(model))
            hit = classes.get(key)
            if hit is None:
                # the key's objects are kept alive with the class: their ids cannot be reused by others
                hit = classes.setdefault(key, (build(self, service_name, service_model), events, model))
            return hit[0]

        ClientCreator._create_client_class = create_client_class  # noqa: SLF001 - see above


class AwsSource:
    """Reads EC2 instances and SSM managed instances per AWS account and region (see the module docstring).

    `on_client(client, account_id)` is called once for every botocore client created (account_id None for clients
    of the base session, SHARED_CLIENT for a client every assumed role shares: there current_account() tells, in an
    event hook, whose request it is): tests and diagnostics register botocore event hooks there.
    """

    def __init__(
        self,
        settings: AwsSettings,
        *,
        on_client: Callable[[Any, str | None], None] | None = None,
        setup_timeout_s: float | None = None,
        lean_models: bool = False,
    ) -> None:
        self.settings = settings
        self._on_client = on_client
        # the collection's own cut of botocore's models (tui.core.awsmodels): ~0.4 s less CPU before the first calls;
        # only for a source that makes no call outside awsmodels.OPERATIONS (the Collector's)
        self.lean_models = lean_models
        cap = max(1, int(settings.max_workers))
        # one thread per slot at most: the adaptive limit (never above the cap) decides how many calls run; set-up
        # reads share it (at most half the slots while a scan waits); a read abandoned at its deadline holds its
        # thread and slot for at most its request in flight
        self._pool = ThreadPoolExecutor(max_workers=cap, thread_name_prefix="mdc-aws")
        start = getattr(settings, "concurrency_start", None)
        self._limit = AdaptiveLimit(int(start) if isinstance(start, int) and start > 0 else 16, cap)
        self._slots: _Slots | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self.pacer = Pacer()
        limit = setup_timeout_s if setup_timeout_s is not None else getattr(settings, "setup_timeout_s", None)
        self.setup_timeout_s = float(limit) if isinstance(limit, (int, float)) and limit > 0 else SETUP_TIMEOUT_S
        self._deadlines: set[_Deadline] = set()  # of the inventories running now (close() abandons them)
        self._lock = threading.Lock()  # guards the dicts below and the base session
        self._ident_lock = threading.Lock()
        self._base: _Access | None = None
        self._ident: tuple[str, str] | None = None
        self._accesses: dict[str, _Access] = {}
        self._account_locks: dict[str, threading.Lock] = {}
        self._loader_lock = threading.Lock()
        self._lru: OrderedDict[tuple[int, str, str], Any] = OrderedDict()
        self._lru_lock = threading.Lock()
        self._assumed: Any = None
        self._assumed_lock = threading.RLock()
        # the clients every assumed role shares: (service, region) -> client (_client; bounded by services x regions)
        self._shared: dict[tuple[str, str], Any] = {}
        self._lru_size = max(32, cap)
        self._loader: Any = None  # botocore data loader shared by every session (service models parsed once)
        self._client_config: Any = None
        self._closed = False
        self._now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    # ---------------------------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AwsSource:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def close(self) -> None:
        """Stop accepting work and cancel queued calls; calls already running finish in the background (set-up reads
        stop before their next request)."""
        self._closed = True
        for d in list(self._deadlines):
            d.abandon()
        slots, loop = self._slots, self._slots_loop
        if slots is not None and loop is not None and not loop.is_closed():
            try:
                if _running_loop() is loop:
                    slots.cancel_all()
                else:
                    loop.call_soon_threadsafe(slots.cancel_all)
            except RuntimeError:  # the loop closed meanwhile: nothing waits on it
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """close(), then wait (off the event loop) for running calls and close every HTTP connection pool."""
        self.close()
        await asyncio.to_thread(self._pool.shutdown, True)
        with self._lock:
            accesses = list(self._accesses.values()) + ([self._base] if self._base else [])
            self._accesses.clear()
        with self._lru_lock:
            clients = list(self._lru.values()) + list(self._shared.values())
            self._lru.clear()
            self._shared.clear()
        for c in clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        for a in accesses:
            a.clients.clear()

    def _slots_for(self, loop: asyncio.AbstractEventLoop) -> _Slots:
        """The slots of this loop (a new loop, e.g. the next asyncio.run, starts with no call in flight)."""
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = _Slots(self._limit), loop
        return self._slots

    async def _run(self, fn: Callable[..., T], *args: Any, kind: str = "scan") -> T:
        """fn(*args) on a worker thread once the adaptive limit gives it a slot (kind: "access", "scan", "setup")."""
        if self._closed:
            raise RuntimeError("AwsSource is closed")
        loop = asyncio.get_running_loop()
        slots = self._slots_for(loop)
        saturated = await slots.acquire(kind)
        box: list[float] = [0.0, 0.0]  # [round trip per request (s), throttled answers]

        def done(_: Any) -> None:  # on the worker thread (or close()'s), when the call ended or was dropped
            try:
                loop.call_soon_threadsafe(self._ended, slots, kind, saturated, box)
            except RuntimeError:  # the loop is closed: nothing waits for the slot any more
                pass

        try:
            cf = self._pool.submit(self._in_thread, box, fn, *args)
        except BaseException:  # broad: whatever stops the submit (a closed pool, a KeyboardInterrupt) frees the slot
            slots.release(kind)
            raise
        cf.add_done_callback(done)
        return await asyncio.wrap_future(cf, loop=loop)

    def _ended(self, slots: _Slots, kind: str, saturated: bool, box: list[float]) -> None:
        if box[0] > 0 and not box[1]:
            self._limit.on_done(box[0], saturated)
        slots.release(kind)

    @staticmethod
    def _in_thread(box: list[float], fn: Callable[..., T], *args: Any) -> T:
        """Runs fn, measuring its round trip per request (the pacing's waits left out) for the adaptive limit."""
        _job.requests, _job.paced, _job.throttled = 0, 0.0, 0
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            _bind(None, None)  # no account's credentials outlive the call on this pool thread
            n = _job.requests
            box[0] = max(0.0, time.monotonic() - t0 - _job.paced) / n if n else 0.0
            box[1] = _job.throttled

    def _on_throttled(self) -> None:
        """A throttled answer (any thread): halve the limit, on the loop the slots live on."""
        loop = self._slots_loop
        if loop is None or loop.is_closed():
            self._limit.on_throttle()
            return
        try:
            loop.call_soon_threadsafe(self._limit.on_throttle)
        except RuntimeError:
            self._limit.on_throttle()

    def fanout_stats(self) -> dict[str, Any]:
        """The adaptive limit and the pacing, for diagnostics and the benchmark."""
        slots = self._slots
        return {**self._limit.stats(), "paced_requests": self.pacer.requests,
                "paced_wait_s": round(self.pacer.waited_s, 3), "buckets_drained": self.pacer.drained,
                "in_flight": slots.in_flight if slots else 0, "waiting": slots.waiting if slots else 0,
                "shared_clients": len(self._shared), "own_clients": len(self._lru)}

    # ---------------------------------------------------------------------------------------------- sessions

    def _config(self) -> Any:
        if self._client_config is None:
            from botocore.config import Config

            s = self.settings
            self._client_config = Config(
                retries={"mode": "standard", "total_max_attempts": max(1, int(s.max_attempts))},
                connect_timeout=s.timeout_s,
                read_timeout=s.timeout_s,
                max_pool_connections=max(10, int(s.max_workers)),
            )
        return self._client_config

    def _client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"config": self._config()}
        if self.settings.endpoint_url:
            kw["endpoint_url"] = self.settings.endpoint_url
        if self.settings.ca_bundle:
            kw["verify"] = self.settings.ca_bundle
        return kw

    def _client(self, access: _Access, service: str, region: str) -> Any:
        """A client for (account, service, region). An assumed role's (access.frozen) is the client of (service,
        region) every assumed role shares, with the role's credentials bound to the calling thread: its requests on
        this thread are signed with them (_account_credentials). Creating a client costs ~6 ms of CPU (one per
        account x service x region was ~2,500 clients, 15 s of CPU, at the large estate) and each had its own
        connection pool. The base credentials' and profiles' clients (their own sessions and credential
        providers: SSO refresh...) come from a bounded LRU (see share_client_classes)."""
        if access.frozen is not None:
            _bind(access.account_id, access.frozen)
            return self._shared_client(service, region)
        key = (id(access), service, region)
        with self._lru_lock:
            c = self._lru.get(key)
            if c is not None:
                self._lru.move_to_end(key)
                return c
        with access.lock:
            with self._lru_lock:
                c = self._lru.get(key)
            if c is None:
                c = access.make_client(service, region_name=region, **self._client_kwargs())
                c.meta.events.register("before-send", _stop_abandoned)
                acct = access.account_id or "caller"
                c.meta.events.register("before-send", functools.partial(self._pace, acct, region))
                c.meta.events.register_first("needs-retry", functools.partial(self._throttled, acct, region))
                if self._on_client is not None:
                    self._on_client(c, access.account_id)
                with self._lru_lock:
                    self._lru[key] = c
                    access.clients[(service, region)] = None  # remembers which keys belong to this access
                    while len(self._lru) > self._lru_size:
                        self._lru.popitem(last=False)  # dropped, not closed: a thread may still be using it
        return c

    def _shared_client(self, service: str, region: str) -> Any:
        """The client of (service, region) every assumed role shares (created once, under the session's lock)."""
        key = (service, region)
        c = self._shared.get(key)
        if c is not None:
            return c
        with self._assumed_lock:
            c = self._shared.get(key)
            if c is not None:
                return c
            c = self._assumed_session().create_client(service, region_name=region, **self._client_kwargs())
            ops = c.meta.method_to_api_mapping
            if ops:  # its paginators' model loaded now, once, not by every thread's first get_paginator at once
                c.can_paginate(next(iter(ops)))
            c.meta.events.register("before-send", _stop_abandoned)
            c.meta.events.register("before-send", functools.partial(self._pace, None, region))
            c.meta.events.register_first("needs-retry", functools.partial(self._throttled, None, region))
            if self._on_client is not None:
                self._on_client(c, SHARED_CLIENT)
            with self._lru_lock:
                self._shared[key] = c
        return c

    def _pace(self, account: str | None, region: str, event_name: str = "", **_: Any) -> None:
        """before-send of every client (every attempt, retries too): wait until the request's bucket (Pacer) has a
        token, so mdc-aws never spends more than AWS's published rate; counts the request for the round trip.
        account None: a shared client's, the account bound to this thread."""
        account = account or current_account() or "caller"
        service, op = _event_parts(event_name)
        _job.requests = getattr(_job, "requests", 0) + 1
        wait = self.pacer.reserve(account, region, service, op)
        if wait > 0:
            time.sleep(wait)
            _job.paced = getattr(_job, "paced", 0.0) + wait

    def _throttled(self, account: str | None, region: str, event_name: str = "", response: Any = None,
                   **_: Any) -> None:
        """needs-retry of every client (registered first, decides nothing): a throttled answer empties its bucket
        and halves the adaptive limit; botocore's retry then waits for the pacing (before-send)."""
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
        err = parsed.get("Error") if isinstance(parsed, Mapping) else None
        code = err.get("Code") if isinstance(err, Mapping) else None
        status = getattr(response[0], "status_code", None) if isinstance(response, tuple) and response else None
        if code in THROTTLE_CODES or status == 429:
            service, op = _event_parts(event_name)
            self.pacer.drain(account or current_account() or "caller", region, service, op)
            _job.throttled = getattr(_job, "throttled", 0) + 1
            self._on_throttled()

    def _botocore_session(self, profile: str | None = None) -> Any:
        """A fresh botocore session sharing the data loader of the others (parsing the EC2 model costs ~0.15 s)."""
        import botocore.session

        share_client_classes()
        bs = botocore.session.Session(profile=profile)
        with self._loader_lock:
            if self._loader is None:
                loader = bs.get_component("data_loader")
                if self.lean_models:
                    from .awsmodels import DATA_PATH

                    loader.search_paths.insert(0, str(DATA_PATH))  # searched first (botocore.loaders)
                # listed once here: the loader caches the lists but not under a lock, and every worker thread
                # asking at once (a client's first get_paginator) listed ~470 model directories each
                for kind in ("service-2", "paginators-1"):
                    try:
                        loader.list_available_services(kind)
                    except Exception:  # noqa: BLE001 - a loader that cannot list: each call lists for itself
                        pass
                self._loader = loader
            else:
                bs.register_component("data_loader", self._loader)
        return bs

    def _assumed_session(self) -> Any:
        """The botocore session of the clients every assumed role shares: its credentials are _account_credentials
        (each request signed with the calling thread's account's keys)."""
        with self._assumed_lock:
            if self._assumed is None:
                from botocore.credentials import CredentialProvider, CredentialResolver

                creds = _account_credentials()

                class _PerAccount(CredentialProvider):
                    METHOD = "mdc-aws-assumed-role"

                    def load(self) -> Any:
                        return creds

                bs = self._botocore_session()
                bs.register_component("credential_provider", CredentialResolver([_PerAccount()]))
                bs.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_fast_timestamp)
                if bs.get_credentials() is not creds:  # a botocore that resolves credentials its own way
                    raise RuntimeError("botocore did not take the per-account credentials provider")
                self._assumed = bs
            return self._assumed

    def _base_access(self) -> _Access:
        base = self._base
        if base is not None:
            return base
        with self._lock:
            if self._base is not None:
                return self._base
            p = self.settings.profile
            how = f"the base credentials (profile '{p}')" if p else "the base credentials (default chain)"
            try:
                bs = self._botocore_session(p)
                if p and p not in bs.available_profiles:
                    from botocore.exceptions import ProfileNotFound

                    raise ProfileNotFound(profile=p)
                # botocore's own create_client (every call names its region): boto3's Session would add ~0.3 s of
                # imports (s3transfer, resources) to a one-shot snapshot for nothing it uses
                bs.set_config_variable("region", self.settings.region)
                p = p or bs.profile  # AWS_PROFILE, for "run `aws sso login --profile X`"
            except Exception as e:  # broad: ProfileNotFound, a broken ~/.aws/config...: re-raised as a SourceError
                raise self._err(e, "loading the AWS configuration", profile=p, how=how) from e
            self._base = _Access(account_id=None, how=how, make_client=bs.create_client, profile=p)
            return self._base

    def _identity(self) -> tuple[str, str]:
        with self._ident_lock:
            if self._ident is None:
                base = self._base_access()
                try:
                    r = self._client(base, "sts", self.settings.region).get_caller_identity()
                    acct, arn = str(r["Account"]), str(r["Arn"])
                except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
                    self._forget_base_on_auth(e)
                    raise self._err(e, "sts:GetCallerIdentity", access=base) from e
                self._ident = (acct, arn)
                base.account_id = acct
            return self._ident

    def warm(self) -> bool:
        """Ready the way in ahead of inventory() (blocking; for a thread): the base credentials' session, the
        models' listing, the STS client and sts:GetCallerIdentity, which every account's way in asks first. A
        one-shot collection runs it while Azure answers (tui/cli.py _OneShotStart). Never raises: a failure is not
        cached, so the call where it is needed makes it again and reports it. Nothing once closed. True: ready."""
        if self._closed:
            return False
        try:
            self._identity()
        except Exception:  # noqa: BLE001 - a warm-up: the caller that needs the identity asks again and says why
            return False
        return True

    def caller_identity(self) -> tuple[str, str]:
        """(account id, ARN) of the base credentials via sts:GetCallerIdentity (cached). Blocking: off the loop,
        use `await caller_identity_async()`. Raises AuthError / SourceError with a one-line fix."""
        return self._identity()

    async def caller_identity_async(self) -> tuple[str, str]:
        return await self._run(self._identity)

    def _forget_base_on_auth(self, e: BaseException) -> None:
        # Credentials problems may be fixed while the dashboard runs (`aws sso login`): re-read the config next time.
        # A permission denial (one account's role refusing us) says nothing about the base credentials: keep them.
        r = getattr(e, "response", None)
        err = r.get("Error") if isinstance(r, Mapping) else None
        code = err.get("Code") if isinstance(err, Mapping) else None
        if code in DENIED_CODES:
            return
        if isinstance(e, SourceError):
            kind = e.kind
        else:
            kind = self._err(e, "").kind
        if kind == "auth":
            with self._lock:
                self._base = None

    def _account_lock(self, acct: str) -> threading.Lock:
        with self._lock:
            lk = self._account_locks.get(acct)
            if lk is None:
                lk = self._account_locks[acct] = threading.Lock()
            return lk

    def _forget(self, acct: str) -> None:
        """Drop an account's way in after an auth failure: the next refresh re-reads profiles and re-assumes."""
        with self._lock:
            a = self._accesses.pop(acct, None)
            if a is not None and a is self._base:
                self._base = None

    def _fresh(self, a: _Access) -> bool:
        if a.expires is None:
            return True
        exp = a.expires if a.expires.tzinfo is not None else a.expires.replace(tzinfo=timezone.utc)
        return exp - self._now() > REFRESH_MARGIN

    def _access(self, acct: str) -> _Access:
        """The way into `acct` (cached; assumed-role credentials re-assumed near expiry). Raises SourceError."""
        a = self._accesses.get(acct)
        if a is not None and self._fresh(a):
            return a
        with self._account_lock(acct):
            a = self._accesses.get(acct)
            if a is not None and self._fresh(a):
                return a
            a = self._build_access(acct)
            with self._lock:
                self._accesses[acct] = a
            return a

    def _build_access(self, acct: str) -> _Access:
        s = self.settings
        profile = s.account_profiles.get(acct)
        if profile:
            return self._profile_access(acct, profile)
        role = s.account_roles.get(acct)
        if role:
            m = re.match(r"arn:[^:]+:iam::(\d{12}):role/", role)
            if m is None:
                raise SourceError(
                    f"aws.account_roles[{acct}] = {role!r} is not an IAM role ARN; "
                    f"fix it in config (arn:aws:iam::{acct}:role/<name>)",
                    kind="usage",
                )
            if m.group(1) != acct:
                raise SourceError(
                    f"aws.account_roles[{acct}] = {role} is a role in account {m.group(1)}, not {acct}; "
                    "fix it in config",
                    kind="usage",
                )
            return self._assume(acct, role)
        caller, caller_arn = self._identity()
        if acct == caller:
            base = self._base_access()
            base.account_id = acct
            return base
        partition = caller_arn.split(":")[1] if caller_arn.count(":") >= 2 else "aws"
        return self._assume(acct, f"arn:{partition}:iam::{acct}:role/{s.assume_role_name}")

    def _profile_access(self, acct: str, profile: str) -> _Access:
        how = f"profile '{profile}'"
        try:
            bs = self._botocore_session(profile)
            if profile not in bs.available_profiles:
                from botocore.exceptions import ProfileNotFound

                raise ProfileNotFound(profile=profile)
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "loading the AWS configuration", account=acct, profile=profile, how=how) from e
        a = _Access(account_id=acct, how=how, make_client=bs.create_client, profile=profile)
        try:
            got = str(self._client(a, "sts", self.settings.region).get_caller_identity()["Account"])
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "sts:GetCallerIdentity", account=acct, access=a) from e
        if got != acct:
            raise SourceError(
                f"profile '{profile}' (aws.account_profiles[{acct}]) signs in to account {got}, not {acct}; "
                f"fix aws.account_profiles in config",
                kind="usage",
            )
        return a

    def _assume(self, acct: str, role_arn: str) -> _Access:
        base = self._base_access()
        kw: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
        if self.settings.external_id:
            kw["ExternalId"] = self.settings.external_id
        try:
            creds = self._client(base, "sts", self.settings.region).assume_role(**kw)["Credentials"]
            key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
            expires = creds.get("Expiration")
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            self._forget_base_on_auth(e)
            raise self._err(e, "sts:AssumeRole", account=acct, access=base, role_arn=role_arn) from e
        # no session nor client of its own: the clients every assumed role shares sign its requests with these
        # (_client); a session per account cost ~1 MB each, a client per account x service x region ~6 ms of CPU
        from botocore.credentials import ReadOnlyCredentials

        def no_client(service: str, **kw: Any) -> Any:  # never called: _client uses the shared clients
            raise RuntimeError("an assumed role's clients are the shared ones")

        return _Access(
            account_id=acct,
            how=f"role {role_arn}",
            make_client=no_client,
            role_arn=role_arn,
            expires=expires if isinstance(expires, datetime) else None,
            frozen=ReadOnlyCredentials(str(key), str(secret), str(token)),
        )

    # ---------------------------------------------------------------------------------------------- reads

    def _regions(self, access: _Access) -> list[str]:
        """Regions enabled in the account (ec2:DescribeRegions without AllRegions skips not-opted-in ones)."""
        try:
            r = self._client(access, "ec2", self.settings.region).describe_regions()
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "ec2:DescribeRegions", account=access.account_id, access=access) from e
        out = []
        for reg in r.get("Regions") or ():
            if not isinstance(reg, Mapping):
                continue
            name = _text(reg.get("RegionName"))
            if name and reg.get("OptInStatus") != "not-opted-in":
                out.append(name)
        return sorted(set(out))

    def _scan_ec2(self, access: _Access, region: str) -> tuple[Ec2Instance, ...]:
        acct = access.account_id or ""
        try:
            pages = self._client(access, "ec2", region).get_paginator("describe_instances").paginate(
                # Only the state filter server-side: `platform` filters 500 on moto and Platform is free client-side.
                Filters=[{"Name": "instance-state-name", "Values": list(LIVE_STATES)}],
                PaginationConfig={"PageSize": EC2_PAGE_SIZE},
            )
            out: list[Ec2Instance] = []
            for page in pages:
                out.extend(parse_instances(page, acct, region))
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "ec2:DescribeInstances", account=acct, region=region, access=access) from e
        return _dedupe(out)

    def _scan_ssm(self, access: _Access, region: str) -> tuple[SsmInstance, ...]:
        acct = access.account_id or ""
        try:
            pages = self._client(access, "ssm", region).get_paginator("describe_instance_information").paginate(
                PaginationConfig={"PageSize": SSM_PAGE_SIZE},
            )
            out: list[SsmInstance] = []
            for page in pages:
                out.extend(parse_instance_information(page, acct, region))
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "ssm:DescribeInstanceInformation", account=acct, region=region, access=access) from e
        return _dedupe(out)

    # ---------------------------------------------------------------------------------------------- set-up reads
    # Each runs in the executor and raises a SourceError (self._err) saying what failed; _setup() assembles them.

    def _read_roles(self, access: _Access, keep: frozenset[str]) -> tuple[IamRoleFact, ...]:
        """iam:ListRoles: every role's name; the trust policy (JSON text, sts:ExternalId values redacted) only of
        the roles named in `keep` (lower case; kept_trust_roles), None for the others (they land in the history)."""
        out: list[IamRoleFact] = []
        try:
            iam = self._client(access, "iam", self.settings.region)
            for page in iam.get_paginator("list_roles").paginate():
                for r in page.get("Roles") or ():
                    name = _text(r.get("RoleName")) if isinstance(r, Mapping) else None
                    if name:
                        trust = (redact_external_ids(policy_text(r.get("AssumeRolePolicyDocument")))
                                 if name.lower() in keep else None)
                        out.append(IamRoleFact(name, trust))
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "iam:ListRoles", account=access.account_id, access=access) from e
        return tuple(out)

    def _read_role_policies(self, access: _Access, role: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(attached policy ARNs, Allow actions of its inline policies) of `role`; None when the role does not exist
        (role-missing says so, not this read)."""
        from botocore.exceptions import ClientError

        what = "iam:ListAttachedRolePolicies"
        try:
            iam = self._client(access, "iam", self.settings.region)
            managed: list[str] = []
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                managed.extend(str(p["PolicyArn"]) for p in page.get("AttachedPolicies") or ()
                               if isinstance(p, Mapping) and p.get("PolicyArn"))
            what = "iam:ListRolePolicies"
            names: list[str] = []
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
                names.extend(str(n) for n in page.get("PolicyNames") or ())
            what = "iam:GetRolePolicy"
            actions: list[str] = []
            for n in names:
                actions.extend(allow_actions(iam.get_role_policy(RoleName=role, PolicyName=n).get("PolicyDocument")))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return None
            raise self._err(e, what, account=access.account_id, access=access) from e
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, what, account=access.account_id, access=access) from e
        return tuple(managed), tuple(dict.fromkeys(actions))

    def _read_oidc(self, access: _Access) -> tuple[OidcProviderFact, ...]:
        """iam:ListOpenIDConnectProviders, then GetOpenIDConnectProvider of each (url, client ids, tags)."""
        what = "iam:ListOpenIDConnectProviders"
        out: list[OidcProviderFact] = []
        try:
            iam = self._client(access, "iam", self.settings.region)
            arns = [str(p["Arn"]) for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList") or ()
                    if isinstance(p, Mapping) and p.get("Arn")]
            what = "iam:GetOpenIDConnectProvider"
            for arn in arns:
                d = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
                url = (_text(d.get("Url")) or arn.split(":oidc-provider/", 1)[-1]).removeprefix("https://")
                out.append(OidcProviderFact(arn, url, tuple(str(c) for c in d.get("ClientIDList") or ()),
                                            _tag_map(d.get("Tags"))))
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, what, account=access.account_id, access=access) from e
        return tuple(out)

    def _owning_stack(self, access: _Access, region: str, role: str) -> Mapping[str, Any] | None:
        """The stack that created `role` in `region`: DescribeStackResources(PhysicalResourceId=<role name>: an IAM
        role's physical id is its name), then DescribeStacks(StackName=<its stack>). None when no stack there has it
        (ValidationError; moto answers that for any PhysicalResourceId) or that stack is gone."""
        from botocore.exceptions import ClientError

        cfn = self._client(access, "cloudformation", region)
        try:
            res = cfn.describe_stack_resources(PhysicalResourceId=role).get("StackResources") or ()
        except ClientError as e:
            if _error_code(e) == "ValidationError":
                return None
            raise
        # every item is a resource of the stack that has the role (AWS answers that stack's resources)
        names = [n for n in (_text(x.get("StackName")) for x in res if isinstance(x, Mapping)) if n]
        for name in dict.fromkeys(names):
            try:
                stacks = cfn.describe_stacks(StackName=name).get("Stacks") or ()
            except ClientError as e:
                if _error_code(e) == "ValidationError":  # deleted since (a deleted stack is not found by name)
                    continue
                raise
            found = next((st for st in stacks if isinstance(st, Mapping)), None)
            if found is not None:
                return found
        return None

    def _read_stack(self, access: _Access, regions: Sequence[str], role: str = CSPM_ROLE
                    ) -> tuple[StackFact | None, str | None]:
        """The connector's stack, whatever the user named it (the portal lets them): first, in `regions` in order,
        the stack that created the CSPM role `role` (_owning_stack); when no region has one, DescribeStacks (all
        stacks) in `regions` in order, first stack tagged MDFCSecurityConnector or named DefenderForCloud-Connector.
        When it is not complete or rolled back, DescribeStackEvents for why. (stack or None, why the events could
        not be read)."""
        from .onboarding.template import DEFAULT_STACK_NAME

        acct = access.account_id
        not_enabled: list[SourceError] = []  # regions answering like an opt-in region not enabled: no stack there
        owner_err: SourceError | None = None  # the owner lookup failing (not "no stack has it"): said if none found
        hit: tuple[str, Mapping[str, Any]] | None = None
        for r in regions:
            try:
                owner = self._owning_stack(access, r, role)
            except SetupTimeout:
                raise
            except Exception as e:  # noqa: BLE001 - the tag/name search below still runs; said when it finds none
                if _error_code(e) not in OPT_IN_REGION_CODES and owner_err is None:
                    owner_err = self._err(e, "cloudformation:DescribeStackResources", account=acct, region=r,
                                          access=access)
                continue
            if owner is not None:
                hit = (r, owner)
                break
        for r in regions if hit is None else ():
            found: Mapping[str, Any] | None = None
            try:
                cfn = self._client(access, "cloudformation", r)
                for page in cfn.get_paginator("describe_stacks").paginate():
                    found = next((s for s in page.get("Stacks") or ()
                                  if isinstance(s, Mapping) and is_connector_stack(s, DEFAULT_STACK_NAME)), None)
                    if found is not None:
                        break
            except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
                err = self._err(e, "cloudformation:DescribeStacks", account=acct, region=r, access=access)
                if _error_code(e) in OPT_IN_REGION_CODES:
                    not_enabled.append(err)
                    continue
                raise err from e
            if found is not None:
                hit = (r, found)
                break
        if hit is not None:
            r, found = hit
            cfn = self._client(access, "cloudformation", r)
            name = _text(found.get("StackName")) or DEFAULT_STACK_NAME
            status = _text(found.get("StackStatus")) or "UNKNOWN"
            resource: str | None = None
            reason: str | None = None
            events_err: str | None = None
            if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
                try:
                    pages = cfn.get_paginator("describe_stack_events").paginate(
                        StackName=_text(found.get("StackId")) or name,
                        PaginationConfig={"MaxItems": 100 * MAX_EVENT_PAGES})
                    # lazy: the pages after the operation's start event are not read
                    resource, reason = first_failed_event(
                        (ev for page in pages for ev in page.get("StackEvents") or ()), name)
                except Exception as e:  # noqa: BLE001 - the stack is known; only why it failed is not
                    events_err = str(self._err(e, "cloudformation:DescribeStackEvents", account=acct, region=r,
                                               access=access))
                reason = reason or _text(found.get("StackStatusReason"))
            return StackFact(name, r, status, resource, reason), events_err
        if not_enabled and len(not_enabled) == len(regions):  # no region answered: bad credentials, not "no stack"
            raise not_enabled[0]
        if owner_err is not None:  # "no stack" would be a guess: the lookup that finds any name did not answer
            raise owner_err
        return None, None

    def _read_stackset_instances(self, access: _Access, name: str, regions: Sequence[str]
                                 ) -> tuple[StackInstanceFact, ...]:
        """cloudformation:ListStackInstances of the management connector's StackSet, in the first of `regions`
        that knows it (a StackSet lives in the region it was created in)."""
        from botocore.exceptions import ClientError

        acct = access.account_id
        for r in regions:
            out: list[StackInstanceFact] = []
            try:
                cfn = self._client(access, "cloudformation", r)
                for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=name):
                    for s in page.get("Summaries") or ():
                        if not isinstance(s, Mapping) or not _text(s.get("Account")):
                            continue
                        st = s.get("StackInstanceStatus")
                        out.append(StackInstanceFact(
                            str(s["Account"]).strip(), _text(s.get("Region")) or r, _text(s.get("Status")) or "UNKNOWN",
                            _text(st.get("DetailedStatus")) if isinstance(st, Mapping) else None,
                            _text(s.get("StatusReason"))))
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "StackSetNotFoundException":
                    continue
                raise self._err(e, "cloudformation:ListStackInstances", account=acct, region=r, access=access) from e
            except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
                raise self._err(e, "cloudformation:ListStackInstances", account=acct, region=r, access=access) from e
            return tuple(out)
        raise SourceError(f"no StackSet {name} in account {acct} ({', '.join(regions)}); the management connector's "
                          "StackSet was deleted or lives in another region", kind="usage")

    def _read_trusted_access(self, access: _Access) -> bool:
        """Is CloudFormation StackSets trusted access on in AWS Organizations (ListAWSServiceAccessForOrganization)."""
        from .onboarding.template import STACKSETS_PRINCIPAL

        try:
            org = self._client(access, "organizations", self.settings.region)
            for page in org.get_paginator("list_aws_service_access_for_organization").paginate():
                for p in page.get("EnabledServicePrincipals") or ():
                    if isinstance(p, Mapping) and p.get("ServicePrincipal") == STACKSETS_PRINCIPAL:
                        return True
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "organizations:ListAWSServiceAccessForOrganization", account=access.account_id,
                            access=access) from e
        return False

    def _read_org_accounts(self, access: _Access) -> tuple[OrgAccountFact, ...]:
        """organizations:ListAccounts: every account of the organization (suspended ones too)."""
        out: list[OrgAccountFact] = []
        try:
            org = self._client(access, "organizations", self.settings.region)
            for page in org.get_paginator("list_accounts").paginate():
                for a in page.get("Accounts") or ():
                    aid = _text(a.get("Id")) if isinstance(a, Mapping) else None
                    if aid:
                        out.append(OrgAccountFact(aid, _text(a.get("Name")),
                                                  _text(a.get("Status")) or _text(a.get("State")) or "ACTIVE",
                                                  _timestamp(a.get("JoinedTimestamp"))))
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "organizations:ListAccounts", account=access.account_id, access=access) from e
        return tuple(out)

    def _read_trail_queues(self, access: _Access, regions: Sequence[str]
                           ) -> tuple[tuple[BucketQueueFact, ...], str | None]:
        """cloudtrail:DescribeTrails (in the first of `regions` that answers: one not enabled is skipped; shadow
        trails included), then for the first MAX_TRAIL_BUCKETS buckets s3:GetBucketNotificationConfiguration -> the
        SQS queues they notify. A bucket that cannot be read (often in a log-archive account) is skipped and named in
        the second item; all failing raises."""
        acct = access.account_id
        trails: Any = None
        answered = regions[0]
        for i, region in enumerate(regions):
            try:
                trails = self._client(access, "cloudtrail", region).describe_trails().get("trailList") or ()
                answered = region
                break
            except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
                if _error_code(e) in OPT_IN_REGION_CODES and i + 1 < len(regions):
                    continue
                raise self._err(e, "cloudtrail:DescribeTrails", account=acct, region=region, access=access) from e
        buckets: dict[str, str] = {}  # bucket -> the trail's home region
        for t in trails:
            b = _text(t.get("S3BucketName")) if isinstance(t, Mapping) else None
            if b and b not in buckets and len(buckets) < MAX_TRAIL_BUCKETS:
                buckets[b] = _text(t.get("HomeRegion")) or answered
        out: list[BucketQueueFact] = []
        failed: list[SourceError] = []
        for b, home in buckets.items():
            try:
                cfg = self._client(access, "s3", home).get_bucket_notification_configuration(Bucket=b)
            except Exception as e:  # noqa: BLE001 - one bucket failing leaves the others read
                failed.append(self._err(e, f"s3:GetBucketNotificationConfiguration of bucket {b}", account=acct,
                                        region=home, access=access))
                continue
            for q in cfg.get("QueueConfigurations") or ():
                arn = _text(q.get("QueueArn")) if isinstance(q, Mapping) else None
                if arn:
                    out.append(BucketQueueFact(b, arn))
        if failed and len(failed) == len(buckets):
            raise failed[0]
        return tuple(out), (str(failed[0]) + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                            if failed else None)

    def _count(self, access: _Access, unit: str, region: str) -> int:
        """The number of billable `unit`s in `region` (s3_buckets: global, one ListBuckets)."""
        acct = access.account_id
        what = {"s3_buckets": "s3:ListBuckets", "rds_instances": "rds:DescribeDBInstances",
                "eks_clusters": "eks:ListClusters"}[unit]
        try:
            if unit == "s3_buckets":
                pages = self._client(access, "s3", region).get_paginator("list_buckets").paginate()
                return sum(len(p.get("Buckets") or ()) for p in pages)
            if unit == "rds_instances":
                pages = self._client(access, "rds", region).get_paginator("describe_db_instances").paginate()
                return sum(1 for p in pages for d in p.get("DBInstances") or ()
                           if isinstance(d, Mapping) and str(d.get("Engine") or "").lower() not in NOT_RDS_ENGINES)
            pages = self._client(access, "eks", region).get_paginator("list_clusters").paginate()
            return sum(len(p.get("clusters") or ()) for p in pages)
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, what, account=acct, region=None if unit == "s3_buckets" else region,
                            access=access) from e

    @staticmethod
    def _setup_call(deadline: _Deadline, fn: Callable[..., T], *args: Any) -> T:
        """Runs one set-up read on a set-up pool thread, under `deadline` (_stop_abandoned checks it per request)."""
        deadline.start()
        if deadline.passed():
            raise SetupTimeout(deadline.seconds)
        _job.deadline = deadline
        try:
            return fn(*args)
        finally:
            _job.deadline = None

    def _setup_jobs(self, access: _Access, hint: SetupHint, regions: Sequence[str], deadline: _Deadline
                    ) -> list[tuple[str, str | None, asyncio.Future[Any]]]:
        """(read, region, future) of every set-up read the hint asks for, queued in the set-up pool at once."""
        if self._closed:
            raise RuntimeError("AwsSource is closed")

        def run(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            return asyncio.ensure_future(self._run(self._setup_call, deadline, fn, *args, kind="setup"))

        home = self.settings.region
        cspm = hint.cspm_role or CSPM_ROLE
        jobs: list[tuple[str, str | None, asyncio.Future[Any]]] = [
            ("roles", None, run(self._read_roles, access, kept_trust_roles(hint))),
            ("cspm_policies", None, run(self._read_role_policies, access, cspm)),
            ("oidc_providers", None, run(self._read_oidc, access)),
            ("trail_bucket_queues", None,
             run(self._read_trail_queues, access, list(dict.fromkeys([*hint.stack_regions, home])))),
        ]
        if hint.stack_regions:
            jobs.append(("stack", None, run(self._read_stack, access, hint.stack_regions, cspm)))
        if hint.management:
            if hint.stackset_name:
                where = list(dict.fromkeys([*hint.stack_regions, home]))
                jobs.append(("stackset_instances", None,
                             run(self._read_stackset_instances, access, hint.stackset_name, where)))
            jobs.append(("trusted_access", None, run(self._read_trusted_access, access)))
            jobs.append(("org_accounts", None, run(self._read_org_accounts, access)))
        for unit in BILLABLE_UNITS:
            if unit not in hint.billable:
                continue
            for r in [home] if unit == "s3_buckets" else regions:
                jobs.append((f"billable.{unit}", r, run(self._count, access, unit, r)))
        return jobs

    async def _setup_results(self, jobs: Sequence[tuple[str, str | None, asyncio.Future[Any]]],
                             deadline: _Deadline) -> list[Any]:
        """Each job's result or exception once all are done or the deadline passed, whichever comes first; a job
        still pending then is abandoned (cancelled if queued, stopped before its next request if running) and
        answers SetupTimeout."""
        futs = [f for _, _, f in jobs]
        if futs and not deadline.passed():
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[None] = loop.create_future()

            def end() -> None:
                if not ended.done():
                    ended.set_result(None)

            def wake() -> None:  # abandon(), on any thread
                try:
                    loop.call_soon_threadsafe(end)
                except RuntimeError:  # the loop is closed: nothing waits
                    pass

            timer: asyncio.TimerHandle | None = None

            def arm() -> None:  # (again) for the deadline as it is now: not started yet, no timer
                nonlocal timer
                if timer is not None:
                    timer.cancel()
                    timer = None
                if deadline.at != math.inf:
                    timer = loop.call_later(max(0.0, deadline.at - time.monotonic()), end)

            def rearm() -> None:  # start(), on a worker thread
                try:
                    loop.call_soon_threadsafe(arm)
                except RuntimeError:  # the loop is closed: nothing waits
                    pass

            deadline.wake = wake
            deadline.rearm = rearm
            arm()
            every: asyncio.Future[Any] = asyncio.gather(*futs, return_exceptions=True)
            try:
                await asyncio.wait([every, ended], return_when=asyncio.FIRST_COMPLETED)
            finally:
                if timer is not None:
                    timer.cancel()
                deadline.wake = None
                deadline.rearm = None
        out: list[Any] = []
        for f in futs:
            if not f.done():
                f.cancel()
                out.append(SetupTimeout(deadline.seconds))
            elif f.cancelled():
                out.append(asyncio.CancelledError())
            else:
                out.append(f.exception() or f.result())
        return out

    def _setup(self, acct: str, hint: SetupHint, jobs: Sequence[tuple[str, str | None, Any]],
               skip_regions: set[str]) -> AwsAccountSetup:
        """The jobs' results (or exceptions) -> AwsAccountSetup. A failed read: its field None, errors[read] = why.
        A billable count failing in a region the inventory found not enabled (opt-in) counts that region as 0."""
        errors: dict[str, str] = {}
        ok: dict[str, Any] = {}
        counts: dict[str, int] = {}
        no_count: set[str] = set()
        for name, region, got in jobs:
            if isinstance(got, BaseException):
                if name.startswith("billable.") and region in skip_regions:
                    counts.setdefault(name, 0)
                    continue
                err = got if isinstance(got, SourceError) else self._err(got, name, account=acct, region=region)
                errors.setdefault(name, _one_line(str(err), 400))
                no_count.add(name)
            elif name.startswith("billable."):
                counts[name] = counts.get(name, 0) + int(got)
            else:
                ok[name] = got
        if hint.management and not hint.stackset_name:
            errors["stackset_instances"] = "the management connector names no StackSet (organizationalData)"
        roles: tuple[IamRoleFact, ...] | None = ok.get("roles")
        pol = ok.get("cspm_policies")
        if roles is not None and pol is not None:
            cspm = hint.cspm_role or CSPM_ROLE
            roles = tuple(IamRoleFact(r.name, r.trust_policy, pol[0], pol[1]) if r.name == cspm else r for r in roles)
        stack: StackFact | None = None
        if "stack" in ok:
            stack, events_err = ok["stack"]
            if events_err:
                errors["stack_events"] = _one_line(events_err, 400)
        trail = ok.get("trail_bucket_queues")
        if trail is not None and trail[1]:
            errors["trail_bucket_queues"] = _one_line(trail[1], 400)
        billable = {k.removeprefix("billable."): v for k, v in counts.items() if k not in no_count}
        return AwsAccountSetup(
            account_id=acct,
            roles=roles,
            oidc_providers=ok.get("oidc_providers"),
            stack=stack,
            stack_searched="stack" in ok,
            stack_regions=tuple(hint.stack_regions),
            stackset_instances=ok.get("stackset_instances"),
            trusted_access=ok.get("trusted_access"),
            org_accounts=ok.get("org_accounts"),
            trail_bucket_queues=trail[0] if trail is not None else None,
            billable=billable,
            errors=errors,
        )

    async def inventory(self, accounts: Mapping[str, Sequence[str]],
                        hints: Mapping[str, SetupHint] | None = None) -> dict[str, AwsAccountInventory]:
        """EC2 and SSM per account over the given regions (empty: the account's enabled regions); with `hints`, also
        the set-up of each account whose hint has with_setup (AwsAccountInventory.setup).

        Never raises for an account or region that cannot be read: see the module docstring."""
        if self._closed:
            raise RuntimeError("AwsSource is closed")
        keys = list(accounts)
        hints = hints or {}
        results = await asyncio.gather(*(self._account_inventory(str(a), accounts[a] or (), hints.get(a))
                                         for a in keys))
        return dict(zip(keys, results))

    async def _account_inventory(self, acct: str, wanted: Sequence[str],
                                 hint: SetupHint | None = None) -> AwsAccountInventory:
        acct = acct.strip()
        if not ACCOUNT_RE.fullmatch(acct):
            return AwsAccountInventory(
                acct, readable=False, error=f"'{acct}' is not an AWS account id (12 digits); fix it", error_kind="usage"
            )
        regions: list[str] = list(dict.fromkeys(r.strip() for r in wanted if isinstance(r, str) and r.strip()))
        try:
            access = await self._run(self._access, acct, kind="access")
            if not regions:
                regions = await self._run(self._regions, access, kind="access")
        except Exception as e:  # noqa: BLE001 - every failure becomes the account's error
            err = e if isinstance(e, SourceError) else self._err(e, "reaching the account", account=acct)
            if err.kind == "auth":
                self._forget(acct)
            return AwsAccountInventory(acct, readable=False, error=str(err), error_kind=err.kind)

        # set-up reads: their own pool and deadline; EC2/SSM never wait for them past it (_setup_results)
        deadline = _Deadline(self.setup_timeout_s)
        self._deadlines.add(deadline)
        jobs: list[tuple[str, str | None, asyncio.Future[Any]]] = []
        try:
            if hint is not None and hint.with_setup:
                jobs = self._setup_jobs(access, hint, regions, deadline)
            tasks: list[Awaitable[tuple[Ec2Instance, ...] | tuple[SsmInstance, ...]]] = []
            for r in regions:
                tasks.append(self._run(self._scan_ec2, access, r))
                tasks.append(self._run(self._scan_ssm, access, r))
            got = await asyncio.gather(*tasks, return_exceptions=True)
            done = await self._setup_results(jobs, deadline)
        finally:  # done, or inventory() cancelled (the collector's timeout): nothing of it keeps running
            deadline.abandon()
            self._deadlines.discard(deadline)
            for _, _, f in jobs:
                f.cancel()
        if any(isinstance(x, asyncio.CancelledError) for x in done):  # queued work dropped by close()
            if self._closed:
                raise RuntimeError("AwsSource was closed during inventory()")
            raise next(x for x in done if isinstance(x, asyncio.CancelledError))

        instances: list[Ec2Instance] = []
        ssm: list[SsmInstance] = []
        failed: dict[str, SourceError] = {}
        ssm_only: set[str] = set()  # regions where EC2 answered and only SSM failed: never "not enabled"
        for i, r in enumerate(regions):
            ec2_r, ssm_r = got[2 * i], got[2 * i + 1]
            bad = next((x for x in (ec2_r, ssm_r) if isinstance(x, BaseException)), None)
            if bad is not None and not isinstance(ec2_r, BaseException):
                ssm_only.add(r)
            if bad is not None:
                if isinstance(bad, asyncio.CancelledError):  # queued work dropped by close()
                    if self._closed:
                        raise RuntimeError("AwsSource was closed during inventory()")
                    raise bad
                if not isinstance(bad, SourceError):
                    err = self._err(bad, "scanning", account=acct, region=r)
                    err.__cause__ = bad  # keeps the AWS error code for opt_in_errors
                    bad = err
                failed[r] = bad
                continue
            instances.extend(ec2_r)  # type: ignore[arg-type]
            ssm.extend(ssm_r)  # type: ignore[arg-type]

        # a region EC2 answered in is enabled, whatever SSM said there
        failed = {r: (failed[r] if r in ssm_only else e) for r, e in opt_in_errors(failed, regions, acct).items()}
        failed_regions = {r: str(e) for r, e in failed.items()}
        setup = None
        if hint is not None and hint.with_setup:
            not_enabled = {r for r, e in failed_regions.items() if e.startswith(OPT_IN_TEXT)}
            setup = self._setup(acct, hint, [(n, r, x) for (n, r, _), x in zip(jobs, done)], not_enabled)
        if regions and len(failed) == len(regions):
            first = failed[regions[0]]
            if first.kind == "auth":
                self._forget(acct)
            return AwsAccountInventory(
                acct,
                readable=False,
                error=str(first),
                regions=tuple(regions),
                failed_regions=failed_regions,
                error_kind=first.kind,
                setup=setup,
            )
        return AwsAccountInventory(
            acct,
            readable=True,
            regions=tuple(regions),
            instances=tuple(instances),
            ssm=tuple(ssm),
            failed_regions=failed_regions,
            setup=setup,
        )

    async def organization_accounts(self) -> list[str]:
        """Active accounts of the organization when the caller is its management account; [] otherwise."""
        return await self._run(self._organization_accounts)

    def _organization_accounts(self) -> list[str]:
        from botocore.exceptions import ClientError

        caller, _ = self._identity()
        base = self._base_access()
        org = self._client(base, "organizations", self.settings.region)
        try:
            d = org.describe_organization()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ORG_NOT_AVAILABLE_CODES:
                return []
            raise self._err(e, "organizations:DescribeOrganization", account=caller, access=base) from e
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "organizations:DescribeOrganization", account=caller, access=base) from e
        o = d.get("Organization") if isinstance(d, Mapping) else None
        if not isinstance(o, Mapping) or str(o.get("MasterAccountId")) != caller:
            return []
        ids: set[str] = set()
        try:
            for page in org.get_paginator("list_accounts").paginate():
                for a in page.get("Accounts") or ():
                    if not isinstance(a, Mapping):
                        continue
                    aid = _text(a.get("Id"))
                    status = a.get("State") or a.get("Status")
                    if aid and ACCOUNT_RE.fullmatch(aid) and status in (None, "ACTIVE"):
                        ids.add(aid)
        except Exception as e:  # broad: any SDK failure is re-raised as a SourceError saying what failed
            raise self._err(e, "organizations:ListAccounts", account=caller, access=base) from e
        return sorted(ids)

    # ---------------------------------------------------------------------------------------------- errors

    def _err(
        self,
        e: BaseException,
        what: str,
        *,
        account: str | None = None,
        region: str | None = None,
        access: _Access | None = None,
        profile: str | None = None,
        how: str | None = None,
        role_arn: str | None = None,
    ) -> SourceError:
        """Turn any boto3/botocore failure into a one-line SourceError (AuthError for kind "auth") with the fix."""
        if isinstance(e, SourceError):
            return e
        from botocore import exceptions as bx
        from botocore.parsers import ResponseParserError

        profile = profile or (access.profile if access else None)
        how = how or (access.how if access else "the AWS credentials")
        where = " ".join(x for x in (f"account {account}" if account else "", region or "") if x)
        at = f" in {where}" if where else ""
        ep = self.settings.endpoint_url
        login = (
            f"run `aws sso login --profile {profile}`"
            if profile
            else "refresh them (`aws sso login`, or new keys in the environment)"
        )
        k = "error"

        if isinstance(e, bx.ClientError):
            err = e.response.get("Error", {}) if isinstance(e.response, Mapping) else {}
            code = str(err.get("Code") or "Unknown")
            msg = _one_line(err.get("Message") or "")
            meta = e.response.get("ResponseMetadata", {}) if isinstance(e.response, Mapping) else {}
            status = meta.get("HTTPStatusCode") if isinstance(meta, Mapping) else None
            attempts = (meta.get("RetryAttempts") or 0) + 1 if isinstance(meta, Mapping) else 1
            if what == "sts:AssumeRole" and code in DENIED_CODES:
                caller = self._ident[1] if self._ident else how
                return AuthError(
                    f"cannot assume {role_arn} for account {account} ({code}); grant sts:AssumeRole on {role_arn} "
                    f"to {caller} (the role's trust policy must allow it) or set aws.account_roles/account_profiles "
                    f"for {account} in config"
                )
            if what == "sts:AssumeRole" and code == "RegionDisabledException":
                return SourceError(
                    f"STS is not activated in {self.settings.region} for assuming {role_arn} ({code}); activate it "
                    f"in IAM account settings or set aws.region to us-east-1",
                    kind="usage",
                )
            if code in THROTTLE_CODES or status == 429:
                return SourceError(
                    f"AWS throttled {what}{at} ({code} after {attempts} attempts); it retries on the next refresh, "
                    f"or lower aws.max_workers",
                    kind="throttled",
                )
            if code in EXPIRED_CODES:
                return AuthError(f"{how} expired ({code}) calling {what}{at}; {login}")
            if code in INVALID_CRED_CODES:
                return AuthError(
                    f"AWS rejected {how} ({code}) calling {what}{at}: {msg}; {login} or check the keys"
                    + (f" (and that --aws-endpoint-url {ep} is right)" if ep else "")
                )
            if code == "OptInRequired":
                return SourceError(
                    f"region {region} is not enabled{at} ({code}); enable it in the account or drop it from the "
                    f"regions to scan",
                    kind="usage",
                )
            if code in DENIED_CODES:
                return AuthError(
                    f"{what} denied{at} for {how} ({code}); grant {what} to it (e.g. the ReadOnlyAccess or "
                    f"SecurityAudit managed policy)"
                )
            if isinstance(status, int) and status >= 500:
                fix = f"retry later, or check --aws-endpoint-url {ep}" if ep else "retry later (AWS-side failure)"
                return SourceError(
                    f"{what}{at} failed with HTTP {status} ({code}) after {attempts} attempts; {fix}", kind="server"
                )
            return SourceError(f"{what}{at} failed: {code}: {msg}", kind=k)

        if isinstance(e, bx.ProfileNotFound):
            p = getattr(e, "kwargs", {}).get("profile") or profile
            return AuthError(
                f"AWS profile '{p}' not found in the AWS config files; create it (`aws configure sso --profile {p}`) "
                f"or fix aws.profile/aws.account_profiles in config"
            )
        if isinstance(e, (bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError, bx.TokenRetrievalError)):
            p = profile or "<profile>"
            return AuthError(f"the AWS SSO session for {how} is missing or expired; run `aws sso login --profile {p}`")
        if isinstance(e, bx.NoCredentialsError):
            return AuthError(
                f"no AWS credentials found for {how}; run `aws configure` or `aws sso login`, "
                f"or set AWS_PROFILE / aws.profile in config"
            )
        if isinstance(e, bx.PartialCredentialsError):
            return AuthError(f"incomplete AWS credentials for {how} ({_one_line(e)}); fix them or {login}")
        if isinstance(e, (bx.CredentialRetrievalError, bx.SSOError)):
            return AuthError(f"could not get credentials for {how} ({_one_line(e)}); {login}")
        if isinstance(e, bx.SSLError):
            return SourceError(
                f"TLS verification failed calling {what}{at} ({_one_line(e)}); set aws.ca_bundle to the PEM to trust",
                kind="network",
            )
        if isinstance(e, bx.ReadTimeoutError):
            return SourceError(
                f"{what}{at} timed out after {self.settings.timeout_s:g} s; retry, or raise aws.timeout_s",
                kind="network",
            )
        if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError)):
            target = ep or getattr(e, "kwargs", {}).get("endpoint_url") or "AWS"
            fix = "check --aws-endpoint-url" if ep else "check the network, proxy (HTTPS_PROXY) and region name"
            return SourceError(f"cannot reach {target} for {what}{at} ({type(e).__name__}); {fix}", kind="network")
        if isinstance(e, ResponseParserError):
            fix = (
                f"check --aws-endpoint-url {ep} points at AWS or a complete emulator"
                if ep
                else "retry later (a proxy may be rewriting responses)"
            )
            return SourceError(f"unreadable response to {what}{at}; {fix}", kind="malformed")
        if isinstance(e, bx.InvalidRegionError):
            return SourceError(f"'{region}' is not a valid AWS region name{at}; fix the regions", kind="usage")
        if isinstance(e, bx.BotoCoreError):
            return SourceError(f"{what}{at} failed: {_one_line(e)}", kind="error")
        return SourceError(f"{what}{at} failed: {type(e).__name__}: {_one_line(e)}", kind="error")
