"""The embedded AWS emulator: moto 5.2.5 in server mode behind a thin WSGI layer of our own, seeded from the World.

    emu = AwsEmulator(world, faults=AwsFaults())
    url = emu.start()                  # seeds moto's backends in-process, then serves on 127.0.0.1:<free port>
    boto3.client("ec2", endpoint_url=url, region_name="eu-west-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")     # account 123456789012
    boto3.client("sts", **emu.client_kwargs(operator=True))   # IAM user mdc-operator of the management account
    emu.faults.add(AwsFaultRule(service="ssm", kind="throttle", times=2))
    emu.request_log                    # [AwsRequestRecord(service, action, account, region, status, fault, ...)]
    emu.stop()

Seeded through moto's backends (fast; moto 5.2.5 internals), for every account of `world.aws_accounts`:
Organizations (management + members with the world's account ids), IAM roles of the Defender for Cloud template
(`world.iam_roles`) with their trust policies and OIDC provider, CspmMonitorAws's ReadOnlyAccess and billing Deny,
the SSM instance profile, EC2 instances with the world's ids / platform / Name / state / private IP / launch time /
instance profile (`world.instance_meta`) and AMIs, EKS clusters, Security Hub with its standards, CloudFormation
stacks (`world.cfn_stack`). Then what `world.aws_setup(account)` plants (issue 13; absent, None or a missing key:
the default in brackets):
- "oidc": MDC's provider ["mdc" when the account has an OIDC-trusted role], none ("missing"), or Sentinel's for the
  same issuer ("sentinel": client id api://1462b192-..., tag Name=MicrosoftSentinel);
- "trust_mismatch": those roles' trust names another tenant's session (MicrosoftDefenderForClouds_<other tenant>);
  the others trust the tenant of the subscription that holds the account's connector (`world.account_tenant`, issue
  14: the partner tenant's for the delegated subscription's accounts; else `world.tenant_id`);
- "least_privilege": {"role", "actions"}: inline <role>Policy with those Allow actions, no ReadOnlyAccess;
- "stack": name / region / StackStatus of the connector stack [world.cfn_stack's, CREATE_COMPLETE], with the events
  CloudFormation writes and FailedResource's <OP>_FAILED event carrying Reason (DescribeStacks/DescribeStackEvents);
- "stackset": the StackSet (SERVICE_MANAGED) and its instances' Status / StatusReason / DetailedStatus
  (ListStackInstances, DescribeStackInstance) [world.cfn_stack's StackSetName, no instances];
- "trusted_access": member.org.stacksets.cloudformation.amazonaws.com enabled in the organization [off];
- "org_accounts": Organizations accounts beyond the world's (created with their ids) and every listed account's
  Name / Status (SUSPENDED...) / JoinedTimestamp (ListAccounts);
- "trail": a multi-region CloudTrail trail (logging) to its S3 bucket; with "Queue", an SQS queue in the trail's
  region and the bucket's notification configuration sending s3:ObjectCreated:* to it;
- "buckets": S3 buckets (in the account's first region), "rds": RDS DB instances [(region, id)] (postgres).

Our layer, in front of moto:
- fault injection (AwsFaults): throttle / 5xx / access_denied in each protocol's error shape, and latency;
- SSM DescribeInstanceInformation (moto has none): the account+region's moto EC2 instances that the world says run
  an SSM agent (`world.ssm_status`, records from `world.ssm_instance_information`); stopped ones are left out;
- Security Hub standards (moto has none): DescribeStandards, GetEnabledStandards, BatchEnable/DisableStandards;
- sts:AssumeRole(WithWebIdentity/WithSAML) into an account in `world.denied_accounts` -> 403 AccessDenied;
- a regional call in an (account, region) of `world.opt_in_disabled` (an opt-in region the account has not enabled)
  -> EC2 401 AuthFailure, others 403 InvalidClientTokenId / UnrecognizedClientException;
- describe_instances filters `platform`, `platform-details`, `iam-instance-profile.arn` (moto 500s on them);
- realism (issue 15), off by default: every call takes `latency_ms` +/- `jitter_ms` (deterministic from the seed; a
  sleep on the request's own thread, so concurrent calls overlap), and with `rate_limits` on, AWS's per-account request
  rates as token buckets per (account, region, family) (aws_ext.RATE_LIMITS), answered with the protocol's throttling
  error (EC2 503 RequestLimitExceeded, JSON 400 ThrottlingException, query 400 Throttling); the account is the one
  moto acts in for the request's credentials (an assumed role's keys -> the role's account), the region the SigV4
  scope's ("global" for IAM / Organizations);
- admin routes: GET /_emulator/info, GET|DELETE /_emulator/requests[?since=seq],
  GET|POST|DELETE /_emulator/faults (POST: JSON list of rules, `?replace=1`), POST /_emulator/reset,
  GET|POST|DELETE /_emulator/realism (settings + rate-limit counters; POST {"latency_ms", "jitter_ms", "rate_limits"};
  DELETE: counters to zero, buckets full, per-call records cleared), GET /_emulator/realism/calls (what each call
  was given while realism is on: aws_ext.RealismCalls).

moto's backends are process-global: one world lives in moto at a time. Seeding resets moto first (so emulators
made one after another in a pytest process do not pile up state), and stopping the emulator that seeded last
re-seeds the one started before it, if still running. Importing this module and seeding install process-wide,
behaviour-preserving patches into moto (see _install_iam_patch, _install_speedups, _install_ami_patch).

Nothing here imports tui.core.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import warnings
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

# moto reads this when it creates each account's IAM backend: set it before moto loads IAM.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from .aws_ext import (
    EC2,
    JSON,
    QUERY,
    REST_JSON,
    REST_XML,
    AwsFaultRule,
    AwsFaults,
    AwsRateLimits,
    RealismCalls,
    GLOBAL_SERVICES,
    SecurityHubError,
    SsmError,
    StandardsStore,
    WsgiResponse,
    describe_instance_information,
    error_response,
    fault_response,
    json_response,
    latency_for,
    opt_in_region_response,
    securityhub_standards,
    standards_key,
    throttle_response,
)
from .spec import ORG_MANAGEMENT, ORG_MEMBER

__all__ = [
    "AwsEmulator",
    "AwsFaultRule",
    "AwsFaults",
    "AwsRateLimits",
    "RealismCalls",
    "AwsRequestRecord",
    "MOTO_VERSION",
    "reset_moto",
    "seed_world",
]

MOTO_VERSION = "5.2.5"  # the internals used below (backends, id generators, Instance attributes) are this version's
DEFAULT_ACCOUNT = "123456789012"  # moto's account for unknown access keys (e.g. "testing")
EKS_VERSION = "1.31"

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------------
# Request identification
# --------------------------------------------------------------------------------------------------------------

_SCOPE_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
_UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
_MAX_READ = 16 * 1024 * 1024


@dataclass
class _Req:
    service: str
    region: str
    action: str
    protocol: str
    access_key: str
    account: str
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    body: bytes


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back for moto."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    if size <= 0 or size > _MAX_READ:
        return b""
    body = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _flat(qs: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(qs, keep_blank_values=True).items()}


class _RestRouter:
    """Operation names of rest-json / rest-xml requests, from botocore's service models (cached per service)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, list[tuple[str, re.Pattern[str], str, int]]] = {}
        self._loader: Any = None

    def _build(self, service: str) -> list[tuple[str, re.Pattern[str], str, int]]:
        import botocore.loaders

        if self._loader is None:
            self._loader = botocore.loaders.create_loader()
        try:
            model = self._loader.load_service_model(service, "service-2")
        except Exception:  # noqa: BLE001 - unknown signing name: no names, not an error
            return []
        routes = []
        for name, op in model.get("operations", {}).items():
            http = op.get("http") or {}
            uri = (http.get("requestUri") or "/").split("?", 1)[0]
            pattern, literal = "", 0
            for part in re.split(r"(\{[^}]+\})", uri):
                if part.startswith("{"):
                    pattern += "(.+)" if part.endswith("+}") else "([^/]+)"
                else:
                    pattern += re.escape(part)
                    literal += len(part)
            routes.append((http.get("method", "POST"), re.compile("^" + pattern.rstrip("/") + "/?$"), name, literal))
        routes.sort(key=lambda r: -r[3])
        return routes

    def action(self, service: str, method: str, path: str) -> str:
        with self._lock:
            routes = self._routes.get(service)
            if routes is None:
                routes = self._routes[service] = self._build(service)
        for m, rx, name, _ in routes:
            if m == method and rx.match(path):
                return name
        return f"{method} {path}"


_ROUTER = _RestRouter()


def _moto_access_key(environ: dict[str, Any], query: dict[str, str]) -> str:
    from moto.core.responses import BaseResponse

    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = BaseResponse.access_key_regex.search(auth)
    if m:
        return m.group(1)
    return query.get("AWSAccessKeyId", "AKIAEXAMPLE")


def _account_for(environ: dict[str, Any], access_key: str) -> str:
    """The account moto will act in for this request (moto.core.responses.BaseResponse.get_current_account)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def identify(environ: dict[str, Any]) -> _Req:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "") or "/"
    query = _flat(environ.get("QUERY_STRING", ""))
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _SCOPE_RE.search(auth) or _SCOPE_RE.search("Credential=" + query.get("X-Amz-Credential", ""))
    service, region = (m.group(3), m.group(2)) if m else ("", "us-east-1")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    ctype = environ.get("CONTENT_TYPE", "")
    form: dict[str, str] = {}
    body = b""
    if ctype.startswith("application/x-www-form-urlencoded"):
        body = _read_body(environ)
        form = _flat(body.decode("utf-8", "replace"))
    action_param = form.get("Action") or query.get("Action", "")
    if not service:  # unsigned: AssumeRoleWithWebIdentity / AssumeRoleWithSAML
        service = "sts" if action_param in _UNSIGNED_STS else "unknown"
    if target:
        protocol, action = JSON, target.rsplit(".", 1)[-1]
    elif service == "ec2":
        protocol, action = EC2, action_param
    elif action_param:
        protocol, action = QUERY, action_param
    elif service == "s3":
        protocol, action = REST_XML, _ROUTER.action(service, method, path)
    else:
        protocol, action = REST_JSON, _ROUTER.action(service, method, path)
    access_key = _moto_access_key(environ, query)
    account = _account_for(environ, access_key)
    return _Req(service, region, action, protocol, access_key, account, method, path, query, form, body)


def _caller_arn(account: str, access_key: str) -> str:
    try:
        from moto.sts.models import sts_backends

        role = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
        if role is not None:
            return role.arn
        from moto.iam.models import iam_backends

        key = iam_backends[account]["aws"].access_keys.get(access_key)
        if key is not None and key.user_name:
            return f"arn:aws:iam::{account}:user/{key.user_name}"
    except Exception:  # noqa: BLE001 - only used in error messages
        pass
    return f"arn:aws:iam::{account}:user/moto"


# --------------------------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsRequestRecord:
    seq: int
    time: float
    service: str
    action: str
    account: str
    region: str
    status: int
    # None | "throttle" | "5xx" | "access_denied" | "latency" | "denied_account" | "opt_in_region" | "rate_limit"
    fault: str | None
    duration_ms: float
    method: str = ""
    path: str = ""
    family: str = ""  # the rate-limit family (bucket) of the request: "ec2:DescribeInstances", "sts", "ssm", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RequestLog:
    def __init__(self, maxlen: int = 20000) -> None:
        self._lock = threading.Lock()
        self._items: deque[AwsRequestRecord] = deque(maxlen=maxlen)
        self._seq = 0

    def add(self, req: _Req, status: int, fault: str | None, t0: float, family: str = "") -> None:
        with self._lock:
            self._seq += 1
            self._items.append(AwsRequestRecord(
                self._seq, time.time(), req.service, req.action, req.account, req.region, status, fault,
                round((time.perf_counter() - t0) * 1000, 2), req.method, req.path, family))

    def items(self, since: int = 0) -> list[AwsRequestRecord]:
        with self._lock:
            return [r for r in self._items if r.seq > since]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# --------------------------------------------------------------------------------------------------------------
# Seeding through moto's backends (moto 5.2.5 internals)
# --------------------------------------------------------------------------------------------------------------

_SEED_LOCK = threading.RLock()
_forced = threading.local()


def _install_id_hooks() -> None:
    """Wrap moto's random id generators so seeding (on this thread only) can hand out the world's ids."""
    import moto.ec2.models.instances as ec2_instances
    import moto.organizations.utils as org_utils

    for module, attr, kind in ((ec2_instances, "random_instance_id", "instance"),
                               (org_utils, "make_random_account_id", "account")):
        original = getattr(module, attr)
        if getattr(original, "mdc_hook", False):
            continue

        def hooked(*a: Any, _orig: Callable[..., str] = original, _kind: str = kind, **kw: Any) -> str:
            queue = getattr(_forced, _kind, None)
            if queue:
                return queue.pop(0)
            return _orig(*a, **kw)

        hooked.mdc_hook = True  # type: ignore[attr-defined]
        setattr(module, attr, hooked)


@contextmanager
def _forced_ids(kind: str, ids: list[str]) -> Iterator[None]:
    _install_id_hooks()
    setattr(_forced, kind, list(ids))
    try:
        yield
    finally:
        left = getattr(_forced, kind)
        setattr(_forced, kind, None)
        if left:
            raise RuntimeError(f"moto did not consume {len(left)} forced {kind} id(s): moto internals changed?")


def _install_ec2_filters() -> None:
    """describe_instances filters moto 5.2.5 lacks (they raise NotImplementedError -> HTTP 500 in moto)."""
    from moto.ec2 import utils as ec2_utils

    ec2_utils.filter_dict_attribute_mapping.setdefault("platform", "platform")
    ec2_utils.filter_dict_attribute_mapping.setdefault("platform-details", "platform_details")
    ec2_utils.filter_dict_attribute_mapping.setdefault("iam-instance-profile.arn", "iam_instance_profile.Arn")


_PARSED_POLICIES: list[dict[str, Any]] = []  # moto's ~1 MB AWS-managed-policy JSON, parsed once per process
_POLICY_DOCS: dict[str, str] = {}  # AWS managed policy name -> its document as moto stores it (json.dumps)


def _aws_policy_data() -> dict[str, Any]:
    if not _PARSED_POLICIES:
        from moto.iam import models as iam_models

        _PARSED_POLICIES.append(json.loads(iam_models.aws_managed_policies_data))
    return _PARSED_POLICIES[0]


class _LazyAwsPolicies(list):
    """IAMBackend.aws_managed_policies that builds its ~1,600 policy objects on first use (not at account creation).

    `one(arn)` builds a single policy without loading the rest (seeding attaches a few per account)."""

    def __init__(self, account_id: str, region_name: str) -> None:
        super().__init__()
        self._account, self._region = account_id, region_name
        self._made: dict[str, Any] = {}
        self.loaded = False

    def _policy(self, name: str, data: dict[str, Any]) -> Any:
        from moto.iam.models import AWSManagedPolicy

        if name not in self._made:
            # AWSManagedPolicy.from_data, with the document serialised once per process (ReadOnlyAccess: ~0.5 ms)
            doc = _POLICY_DOCS.get(name)
            if doc is None:
                doc = _POLICY_DOCS[name] = json.dumps(data.get("Document"))
            make: Any = AWSManagedPolicy  # moto types it abstract (its CloudFormation hooks); from_data makes it too
            self._made[name] = make(
                name, account_id=self._account, region=self._region,
                default_version_id=data.get("DefaultVersionId"), path=data.get("Path"), document=doc,
                create_date=datetime.fromisoformat(data["CreateDate"]),
                update_date=datetime.fromisoformat(data["UpdateDate"]))
        return self._made[name]

    def one(self, arn: str) -> Any | None:
        name = arn.rsplit("/", 1)[-1]
        data = _aws_policy_data().get(name)
        if data is None:
            return None
        policy = self._policy(name, data)
        return policy if policy.arn == arn else None

    def ensure(self) -> None:
        if not self.loaded:
            self.loaded = True
            list.extend(self, [self._policy(n, d) for n, d in _aws_policy_data().items()])


class _LazyPolicyDict(dict):
    """IAMBackend.managed_policies whose AWS-managed entries appear on first use (see _LazyAwsPolicies)."""

    def __init__(self, aws: _LazyAwsPolicies) -> None:
        super().__init__()
        self._aws = aws

    def ensure(self) -> None:
        if not self._aws.loaded:
            self._aws.ensure()
            for p in list.__iter__(self._aws):
                dict.setdefault(self, p.arn, p)

    def one(self, arn: str) -> Any | None:
        policy = dict.get(self, arn)
        if policy is None:
            policy = self._aws.one(arn)
            if policy is not None:
                dict.__setitem__(self, arn, policy)
        return policy


def _lazy_method(base: type, name: str) -> Callable[..., Any]:
    method = getattr(base, name)

    def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
        self.ensure()
        return method(self, *a, **kw)

    wrapper.__name__ = name
    return wrapper


for _name in ("__iter__", "__len__", "__getitem__", "__contains__", "__reversed__", "__eq__", "__repr__", "__add__",
              "index", "count", "copy"):
    setattr(_LazyAwsPolicies, _name, _lazy_method(list, _name))
for _name in ("__iter__", "__len__", "__getitem__", "__contains__", "__eq__", "__repr__", "__setitem__",
              "__delitem__", "__reversed__", "__or__", "get", "keys", "values", "items", "pop", "popitem",
              "setdefault", "update", "copy"):
    setattr(_LazyPolicyDict, _name, _lazy_method(dict, _name))


def _install_iam_patch() -> None:
    """AWS managed policies, in the "aws" partition only, built lazily per account.

    moto (with MOTO_IAM_LOAD_MANAGED_POLICIES=true) builds ~1,600 policy objects for every account x partition it
    touches, and it touches every partition of every account when it resolves a request's account: ~0.6 s and
    ~6 MB per account (the large world: 200 accounts, 1.3 GB). Now the other partitions get none, and the "aws" one
    builds them when a request first lists, reads or attaches an AWS managed policy.
    """
    from moto.iam.models import IAMBackend

    original_aws, original_managed = IAMBackend._init_aws_policies, IAMBackend._init_managed_policies  # noqa: SLF001 - moto's private API (pinned)
    if getattr(original_aws, "mdc_hook", False):
        return

    def _init_aws_policies(self: Any) -> list[Any]:
        from moto.settings import load_iam_aws_managed_policies

        if self.region_name != "aws" or not load_iam_aws_managed_policies():
            return []
        return _LazyAwsPolicies(self.account_id, self.region_name)

    def _init_managed_policies(self: Any) -> dict[str, Any]:
        if isinstance(self.aws_managed_policies, _LazyAwsPolicies):
            return _LazyPolicyDict(self.aws_managed_policies)
        return original_managed(self)

    _init_aws_policies.mdc_hook = True  # type: ignore[attr-defined]
    IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]  # noqa: SLF001 - moto's private API (pinned)
    IAMBackend._init_managed_policies = _init_managed_policies  # type: ignore[method-assign]  # noqa: SLF001 - moto's private API (pinned)


def _attach_aws_policy(iam: Any, arn: str, role_name: str) -> None:
    """attach_role_policy without building every AWS managed policy of the account."""
    policies = iam.managed_policies
    policy = policies.one(arn) if isinstance(policies, _LazyPolicyDict) else None
    if policy is None:
        iam.attach_role_policy(arn, role_name)
    else:
        policy.attach_to(iam.get_role(role_name))


def _install_speedups() -> None:
    """Process-wide, behaviour-preserving speedups of moto 5.2.5 hot spots (seeding and first requests):

    - ec2.utils.random_resource_id: one getrandbits per id instead of a random.choice per hex digit (each EC2
      region backend makes ~1,300 AMIs with a snapshot and a volume each: ~60 % of a region's 0.3 s start-up);
    - the per-region AMI lists (ec2/resources/latest_amis/<region>.json, ecs/optimized_amis): parsed once per
      process (moto re-parses them for every account x region; its edits to the dicts are idempotent);
    - eks validate_role_arn: moto builds a new botocore Session (~0.2 s) per call just to list partitions.
    """
    from moto.ec2 import utils as ec2_utils
    from moto.ec2.models import amis as ec2_amis
    from moto.eks import models as eks_models

    if getattr(ec2_utils.random_resource_id, "mdc_hook", False):
        return
    import random as _random

    def random_resource_id(size: int = 8) -> str:
        return f"{_random.getrandbits(4 * size):0{size}x}"

    random_resource_id.mdc_hook = True  # type: ignore[attr-defined]
    ec2_utils.random_resource_id = random_resource_id

    original_load = ec2_amis.load_resource
    cache: dict[str, Any] = {}
    cache_lock = threading.Lock()

    def load_resource(resource: str) -> Any:
        if "/latest_amis/" not in resource and "/optimized_amis/" not in resource:
            return original_load(resource)
        with cache_lock:
            if resource not in cache:
                try:
                    cache[resource] = original_load(resource)
                except FileNotFoundError as exc:
                    cache[resource] = exc
            value = cache[resource]
        if isinstance(value, FileNotFoundError):
            raise value
        return value

    ec2_amis.load_resource = load_resource

    original_validate = eks_models.validate_role_arn
    partitions: list[str] = []
    role_arn = re.compile(r"arn:(?P<partition>.+):iam::(?P<account_id>[0-9]{12}):role/.+")

    def validate_role_arn(arn: str) -> None:
        if not partitions:
            import botocore.session

            partitions.extend(botocore.session.get_session().get_available_partitions())
        m = role_arn.match(arn or "")
        if m and m.group("partition") in partitions:
            return
        original_validate(arn)  # raises moto's own error

    eks_models.validate_role_arn = validate_role_arn


# Accounts of the seeded world: their EC2 region backends skip moto's public AMI catalogue (~1,300 AMIs, each with
# a snapshot: ~0.06-0.3 s and a few MB per account x region; the large world has ~500 of those). The world's
# instances use its own synthetic AMI ids, which the catalogue never had; seeding registers those instead.
_NO_PUBLIC_AMIS: set[str] = set()


def _install_ami_patch() -> None:
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend._load_amis  # noqa: SLF001 - moto's private API (pinned)
    if getattr(original, "mdc_hook", False):
        return

    def _load_amis(self: Any) -> None:
        if getattr(self, "account_id", None) in _NO_PUBLIC_AMIS:
            return
        original(self)

    _load_amis.mdc_hook = True  # type: ignore[attr-defined]
    AmiBackend._load_amis = _load_amis  # type: ignore[method-assign]  # noqa: SLF001 - moto's private API (pinned)


_AMI_OWNERS = {"windows": "801119661308", "linux": "137112412989"}  # Amazon's Windows / Amazon Linux AMI owners


def _register_amis(backend: Any, region: str, specs: list[Any], meta_of: Callable[[Any], dict | None]) -> None:
    """The world's AMIs of one account x region, as public Amazon images (platform windows / Linux)."""
    from moto.ec2.models.amis import Ami

    for spec in specs:
        if spec.image_id in backend.amis:
            continue
        meta = meta_of(spec) or {}
        windows = spec.platform.lower() == "windows"
        os_name = meta.get("os") or ("Windows Server" if windows else "Linux")
        version = meta.get("os_version") or ""
        name = f"{os_name} {version}".strip()
        backend.amis[spec.image_id] = Ami(
            backend, ami_id=spec.image_id, name=name, description=f"{name} (x86_64)",
            owner_id=_AMI_OWNERS["windows" if windows else "linux"], owner_alias="amazon", public=True,
            virtualization_type="hvm", architecture="x86_64", platform="windows" if windows else None,
            root_device_type="ebs", root_device_name="/dev/sda1" if windows else "/dev/xvda",
            hypervisor="xen", region_name=region + "a")


def reset_moto() -> None:
    """Wipe every moto backend of this process (like POST /moto-api/reset, without re-initialising each backend)."""
    from moto.core.base_backend import BackendDict, backend_lock
    from moto.core.model_instances import reset_model_data

    with backend_lock:
        for backend_dict in list(BackendDict._instances):  # type: ignore[misc]  # noqa: SLF001 - moto's private API (pinned)
            backend_dict.clear()
        BackendDict._instances.clear()  # type: ignore[misc]  # noqa: SLF001 - moto's private API (pinned)
    reset_model_data()
    try:
        from moto.organizations.models import organizations_backends

        organizations_backends.master_accounts.clear()
    except Exception:  # noqa: BLE001 - best effort: moto's internals vary; the next seed overwrites what is left
        pass
    try:
        from moto.s3.models import s3_backends

        s3_backends.bucket_accounts.clear()  # the global bucket namespace (else a re-seed finds its buckets taken)
    except Exception:  # noqa: BLE001 - best effort: moto's internals vary; the next seed overwrites what is left
        pass
    try:
        from moto.securityhub.models import SecurityHubBackend

        SecurityHubBackend._org_configs.clear()  # noqa: SLF001 - moto's private API (pinned)
    except Exception:  # noqa: BLE001 - best effort: moto's internals vary; the next seed overwrites what is left
        pass


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "account"


def _operator_key(account_id: str) -> tuple[str, str]:
    """A deterministic access key for the operator user, in the format moto generates (it encodes the account)."""
    from moto.iam import utils as iam_utils

    nr = int(account_id)
    account_part = __import__("base64").b32encode(
        int.to_bytes(nr // 2 + iam_utils.ACCOUNT_OFFSET, byteorder="big", length=5)).decode()
    digest = hashlib.sha256(f"mdc-aws-operator/{account_id}".encode()).hexdigest().upper()
    alphabet = iam_utils.AWS_ROLE_ALPHABET
    half = alphabet[16:] if nr % 2 else alphabet[:16]
    middle = half[int(digest[:2], 16) % 16]
    stem = "AKIA" + account_part + middle
    tail = "".join(c for c in digest if c.isalnum())[: 20 - len(stem)]
    secret = hashlib.sha256(f"mdc-aws-operator-secret/{account_id}".encode()).hexdigest()[:40]
    return stem + tail, secret


@dataclass
class SeedReport:
    seconds: float = 0.0
    accounts: int = 0
    instances: int = 0
    eks_clusters: int = 0
    hubs: int = 0
    organizations: int = 0
    iam_roles: int = 0
    stacks: int = 0
    stack_instances: int = 0
    org_accounts: int = 0  # organization accounts beyond the world's AWS accounts (world.aws_setup org_accounts)
    trails: int = 0
    buckets: int = 0
    db_instances: int = 0
    phases: dict[str, float] = field(default_factory=dict)


_ROLES_DATA: dict[str, Any] = {}


def _roles_data() -> dict[str, Any]:
    """tui/emulator/data/connector_roles.json: audiences, the OIDC provider, the classic role's principal."""
    if not _ROLES_DATA:
        from pathlib import Path

        path = Path(__file__).with_name("data") / "connector_roles.json"
        try:
            _ROLES_DATA.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            _ROLES_DATA.update({"roles": [], "oidc_provider": None, "classic": {}})
    return _ROLES_DATA


_MS_TENANT_ISSUER = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
SENTINEL_CLIENT_ID = "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"  # Microsoft Sentinel's AWS connector (audience)
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"  # Organizations trusted access (StackSets)
CSPM_ROLE = "CspmMonitorAws"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
# the template's Deny on billing for CspmMonitorAws, in both modes (tui/core/onboarding/roles.json inline.both)
_CSPM_DENY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyBilling", "Effect": "Deny", "Resource": "*",
    "Action": ["consolidatedbilling:*", "freetier:*", "invoicing:*", "payments:*", "billing:*", "tax:*", "cur:*"]}]})
_SSM_PROFILE_POLICIES = ("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                         "arn:aws:iam::aws:policy/AmazonSSMPatchAssociation")


def _trust(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _other_tenant(tenant: str) -> str:
    """A tenant id that is not `tenant` (deterministic): the session name of a role deployed for another tenant."""
    h = hashlib.sha256(f"mdc-aws-other-tenant/{tenant}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _role_trust(world: Any, account: str, name: str, audiences: dict[str, str | None], issuer: str,
                tenant: str | None = None) -> str:
    """A trust policy in the shape the Defender for Cloud template gives each role (`tenant`: the session name's
    tenant, default the world's)."""
    tenant = tenant or getattr(world, "tenant_id", "00000000-0000-0000-0000-000000000000")
    classic = _roles_data().get("classic") or {}
    if name == classic.get("role_name"):
        external = None
        for body in (getattr(world, "classic_connectors", {}) or {}).values():
            auth = (body.get("properties") or {}).get("authenticationDetails") or {}
            if str(auth.get("awsAssumeRoleArn", "")).endswith(f"::{account}:role/{name}"):
                external = auth.get("awsExternalId")
        stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": classic.get("microsoft_principal")},
                                "Action": "sts:AssumeRole"}
        if external:
            stmt["Condition"] = {"StringEquals": {"sts:ExternalId": external}}
        return _trust([stmt])
    if name.endswith("cloudwatch-to-kinesis"):
        return _trust([{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                        "Action": "sts:AssumeRole"}])
    if name.endswith("kinesis-to-s3"):
        return _trust([{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": account}}}])
    if name == "DefenderForCloud-OidcCiem":
        own = f"sts.windows.net/{tenant}/"
        return _trust([{"Effect": "Allow",
                        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{own}"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {f"{own}:aud": "api://mciem-aws-oidc-app"}}}])
    if name == "DefenderForCloud-Ciem":
        return _trust([{"Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:role/DefenderForCloud-OidcCiem"},
                        "Action": "sts:AssumeRole"}])
    audience = audiences.get(name)
    if audience:
        return _trust([{"Effect": "Allow",
                        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{issuer}"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {f"{issuer}:aud": audience},
                                      "StringLike": {"sts:RoleSessionName": f"MicrosoftDefenderForClouds_{tenant}"}}}])
    return _trust([{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole"}])


def _policy_doc(effect: str, actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": actions, "Resource": "*"}]})


def _seed_iam(world: Any, account: str, iam: Any, instance_profiles: set[str],
              setup: dict[str, Any] | None = None) -> set[str]:
    """Roles from world.iam_roles(account) (+ OIDC provider, CspmMonitorAws's policies, classic managed policies)
    and instance profiles; `setup` (world.aws_setup) plants the OIDC provider's kind, trust drift and least privilege.
    """
    setup = setup or {}
    data = _roles_data()
    audiences = {r["name"]: r.get("audience") for r in data.get("roles", [])}
    oidc = data.get("oidc_provider") or {}
    issuer = (oidc.get("url") or f"https://{_MS_TENANT_ISSUER}").removeprefix("https://")
    names = list(world.iam_roles(account)) if hasattr(world, "iam_roles") else []
    kind = setup.get("oidc") or ("mdc" if any(audiences.get(n) for n in names) else None)
    if kind == "mdc" and oidc:
        iam.create_open_id_connect_provider(url=oidc["url"], thumbprint_list=list(oidc["thumbprint_list"]),
                                            client_id_list=list(oidc["client_id_list"]),
                                            tags=[{"Key": "Name", "Value": "ASCDefendersOIDCIdentityProvider"}])
    elif kind == "sentinel":  # Microsoft Sentinel's AWS connector made the provider for the same issuer first
        iam.create_open_id_connect_provider(url=f"https://{issuer}",
                                            thumbprint_list=list(oidc.get("thumbprint_list") or []),
                                            client_id_list=[SENTINEL_CLIENT_ID],
                                            tags=[{"Key": "Name", "Value": "MicrosoftSentinel"}])
    elif kind not in (None, "mdc", "missing"):
        raise ValueError(f"aws_setup({account})['oidc'] = {kind!r}: expected 'mdc', 'missing' or 'sentinel'")
    mismatch = set(setup.get("trust_mismatch") or ())
    # the tenant whose Defender for Cloud the account's roles trust: its connector's subscription's (issue 14)
    account_tenant = getattr(world, "account_tenant", None)
    own = str(account_tenant(account)) if callable(account_tenant) else getattr(world, "tenant_id", "")
    other = _other_tenant(own) if mismatch else None
    least = setup.get("least_privilege") or None
    least_role = (least.get("role") or CSPM_ROLE) if least else None
    classic = data.get("classic") or {}
    for name in names:
        iam.create_role(role_name=name, assume_role_policy_document=_role_trust(
            world, account, name, audiences, issuer, other if name in mismatch else (own or None)),
                        path="/", permissions_boundary=None, description="Microsoft Defender for Cloud",
                        tags=[], max_session_duration="3600")
        if least is not None and name == least_role:  # least privilege: the template's read policy, no ReadOnlyAccess
            actions = [str(a) for a in least.get("actions") or ()]
            if actions:  # IAM rejects a statement without actions: none at all is a role with no read policy
                iam.put_role_policy(name, f"{name}Policy", _policy_doc("Allow", actions))
        elif name == CSPM_ROLE:
            try:
                _attach_aws_policy(iam, READ_ONLY_ACCESS, name)
            except Exception:  # noqa: BLE001 - managed policies not loaded: the role still exists
                pass
        if name == CSPM_ROLE:  # both modes: the Deny on billing (tui/core/onboarding/roles.json)
            iam.put_role_policy(name, "CspmMonitorAwsDenyPolicy", _CSPM_DENY)
        if name == classic.get("role_name"):
            for pol in classic.get("managed_policies", []):
                arn = pol.split("(", 1)[1].rstrip(")") if "(" in pol else f"arn:aws:iam::aws:policy/{pol}"
                try:
                    _attach_aws_policy(iam, arn, name)
                except Exception:  # noqa: BLE001 - managed policies not loaded: the role still exists
                    pass
    made = set()
    for prof in sorted(instance_profiles):
        iam.create_role(role_name=prof, assume_role_policy_document=_trust(
            [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]),
            path="/", permissions_boundary=None, description="SSM instance role (Defender for Cloud setup)",
            tags=[], max_session_duration="3600")
        for arn in _SSM_PROFILE_POLICIES:
            try:
                _attach_aws_policy(iam, arn, prof)
            except Exception:  # noqa: BLE001 - a policy moto does not know is skipped: the profile works without it
                pass
        iam.create_instance_profile(name=prof, path="/", role_names=[prof], tags=[])
        made.add(prof)
    return made


_STACK_TEMPLATE = json.dumps({
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "Microsoft Defender for Cloud AWS connector (emulated: its roles are seeded directly)",
    "Parameters": {"ConfigurationID": {"Type": "String", "Default": "MDCSetup"}},
    "Resources": {"ConnectorMarker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
})


def _seed_stack(cfn: Any, stack: dict[str, Any]) -> Any | None:
    with warnings.catch_warnings():  # moto warns that it does not model WaitConditionHandle: that is the point
        warnings.simplefilter("ignore", UserWarning)
        return _create_stack(cfn, stack)


def _create_stack(cfn: Any, stack: dict[str, Any]) -> Any | None:
    """The connector stack (its status and failed resource as `stack` says) and its StackSet (returned), if any."""
    st = cfn.create_stack(name=stack["StackName"], template=_STACK_TEMPLATE,
                          parameters={"ConfigurationID": "MDCSetup"},
                          tags={"MDFCSecurityConnector": "true"})
    status = stack.get("Status") or st.status
    if status != st.status or stack.get("FailedResource"):
        _plant_stack_status(st, str(status), stack.get("FailedResource"), stack.get("Reason"),
                            stack.get("ResourceType"))
    if stack.get("StackSetName"):
        return cfn.create_stack_set(name=stack["StackSetName"], template=_STACK_TEMPLATE,
                                    parameters={"ConfigurationID": "MDCSetup"}, tags={},
                                    permission_model="SERVICE_MANAGED", admin_role=None, exec_role=None,
                                    description="Microsoft Defender for Cloud AWS connector for the organization")
    return None


def _plant_stack_status(st: Any, status: str, failed: str | None, reason: str | None,
                        resource_type: str | None = None) -> None:
    """Give a moto Stack (CREATE_COMPLETE, moto has no failures) `status` and the events CloudFormation writes on the
    way there: the operation's stack events and, for `failed`, its <OP>_FAILED event with ResourceStatusReason
    `reason`. The sequence follows CloudFormation's (User Initiated, the resource's IN_PROGRESS/FAILED, the rollback
    with "The following resource(s) failed to <op>: [...]"); the timestamps are assumed (a few seconds apart, ten
    minutes ago; an update a day after the creation)."""
    from datetime import timedelta

    from moto.cloudformation.models import Event

    op = status.split("_", 1)[0]
    op = "CREATE" if op == "ROLLBACK" else op if op in ("CREATE", "UPDATE", "DELETE", "IMPORT") else "UPDATE"
    rtype = resource_type or ("AWS::IAM::OIDCProvider" if failed and "oidc" in failed.lower() else "AWS::IAM::Role")
    verb = {"CREATE": "create", "UPDATE": "update", "DELETE": "delete", "IMPORT": "import"}[op]
    why = f"The following resource(s) failed to {verb}: [{failed}]." if failed else None
    rows: list[tuple[bool, str, str | None]] = []  # (stack-level?, status, reason)
    if op == "CREATE":
        rows.append((True, "CREATE_IN_PROGRESS", "User Initiated"))
        if failed:
            rows += [(False, "CREATE_IN_PROGRESS", None), (False, "CREATE_FAILED", reason)]
        if status.startswith("ROLLBACK"):
            rows.append((True, "ROLLBACK_IN_PROGRESS", f"{why} Rollback requested by user." if why else None))
            if failed and status == "ROLLBACK_COMPLETE":
                rows.append((False, "DELETE_COMPLETE", None))
        if status not in ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
            rows.append((True, status, why if status == "CREATE_FAILED" else None))
    else:
        rows.append((True, f"{op}_IN_PROGRESS", "User Initiated"))
        if failed:
            if op != "DELETE":
                rows.append((False, f"{op}_IN_PROGRESS", None))
            rows.append((False, f"{op}_FAILED", reason))
        if status.startswith(f"{op}_ROLLBACK"):
            rows.append((True, f"{op}_ROLLBACK_IN_PROGRESS", why))
        if status not in (f"{op}_IN_PROGRESS", f"{op}_ROLLBACK_IN_PROGRESS"):
            rows.append((True, status, why if status.endswith("_FAILED") and "ROLLBACK" not in status else None))
    base = st.creation_time - timedelta(minutes=10)
    if op == "CREATE":
        st.events.clear()  # the creation never completed: moto's CREATE_IN_PROGRESS/CREATE_COMPLETE go
        st.creation_time = base
    else:
        st.creation_time = base - timedelta(days=1)
        for i, ev in enumerate(st.events):
            ev.timestamp = st.creation_time + timedelta(seconds=3 * i)
        st.last_updated_time = base
    for i, (stack_level, state, text) in enumerate(rows):
        ev = Event(stack_id=st.stack_id, stack_name=st.name,
                   logical_resource_id=st.name if stack_level else str(failed),
                   physical_resource_id=st.stack_id if stack_level else (
                       "" if op == "CREATE" and state == "CREATE_IN_PROGRESS" else str(failed)),
                   resource_type="AWS::CloudFormation::Stack" if stack_level else rtype,
                   resource_status=state, resource_status_reason=text, resource_properties=None)
        ev.timestamp = base + timedelta(seconds=3 * i)
        st.events.append(ev)
    st.status = status
    if status.endswith("_FAILED") and why:
        st.stack_status_reason = why  # DescribeStacks StackStatusReason (assumed: only on a *_FAILED status)


_STACK_INSTANCE_CLASS: list[type] = []


def _stack_instance_class() -> type:
    """A moto StackInstance with the status the world plants (moto's are always CURRENT / SUCCEEDED) and no hidden
    stack behind it (moto builds one per instance: the member's stack is not what the core reads)."""
    if not _STACK_INSTANCE_CLASS:
        from moto.cloudformation.models import StackInstance

        class SeededStackInstance(StackInstance):
            def __init__(self, stack_set: Any, account: str, region: str, status: str, detailed: str,
                         reason: str | None, ou: str | None) -> None:  # no super().__init__: no hidden stack
                self.account_id, self.region_name = account, region
                self.stackset_id, self.name = stack_set.id, stack_set.name
                self.stack_name = stack_set.instances.stack_name
                self.template, self.parameters = stack_set.template, []
                self.permission_model = stack_set.permission_model
                self.stack = None  # type: ignore[assignment]
                self.status, self.detailed_status, self.status_reason, self.ou = status, detailed, reason, ou

            def delete(self) -> None:
                pass

            def to_dict(self) -> dict[str, Any]:
                d = super().to_dict()
                d["Status"] = self.status
                d["StackInstanceStatus"] = {"DetailedStatus": self.detailed_status}
                if self.status_reason:
                    d["StatusReason"] = self.status_reason
                if self.ou:
                    d["OrganizationalUnitId"] = self.ou
                return d

        _STACK_INSTANCE_CLASS.append(SeededStackInstance)
    return _STACK_INSTANCE_CLASS[0]


def _add_stack_instance(stack_set: Any, inst: dict[str, Any], ou: str | None) -> None:
    account, region = str(inst["Account"]), str(inst["Region"])
    if stack_set.instances.get_instance(account, region) is not None:
        raise ValueError(f"StackSet {stack_set.name}: instance {account}/{region} given twice")
    stack_set.instances.stack_instances.append(_stack_instance_class()(
        stack_set, account, region, str(inst.get("Status") or "CURRENT"),
        str(inst.get("DetailedStatus") or "SUCCEEDED"), inst.get("StatusReason"), ou))


def _org_root(account: str) -> str | None:
    from moto.organizations.models import organizations_backends

    if account not in dict.keys(organizations_backends):
        return None
    org = organizations_backends[account]["aws"].org
    return org.root_id if org is not None else None


def _naive_utc(value: Any) -> datetime:
    """An epoch-seconds (or datetime) value as moto keeps times: a naive UTC datetime."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    return datetime.fromtimestamp(float(value), timezone.utc).replace(tzinfo=None)


def _seed_org_accounts(org: Any, setup: dict[str, Any]) -> int:
    """world.aws_setup(mgmt)['org_accounts']: create the organization's accounts the world has no AWS account for
    (members without a connector, suspended ones) with their ids, and set Name / Status / JoinedTimestamp of all
    those given. Returns how many it created."""
    wanted = [dict(a) for a in setup.get("org_accounts") or ()]
    if not wanted:
        return 0
    have = {a.id for a in org.accounts}
    extra = [a for a in wanted if str(a["Id"]) not in have]
    with _forced_ids("account", [str(a["Id"]) for a in extra]):
        for a in extra:
            name = str(a.get("Name") or a["Id"])
            org.create_account(AccountName=name, Email=f"aws+{_slug(name)}@example.com")
    by_id = {a.id: a for a in org.accounts}
    for a in wanted:
        fake = by_id[str(a["Id"])]
        if a.get("Name"):
            fake.name = str(a["Name"])
        if a.get("Status"):
            fake.status = fake.state = str(a["Status"])  # Status ACTIVE|SUSPENDED|PENDING_CLOSURE; State alike
        if a.get("JoinedTimestamp") is not None:
            fake.create_time = _naive_utc(a["JoinedTimestamp"])
        if a.get("JoinedMethod"):
            fake.joined_method = str(a["JoinedMethod"])
    return len(extra)


def _ensure_bucket(account: str, name: str, region: str) -> bool:
    """Create S3 bucket `name` in `account` (False if the account has it already; bucket names are global)."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    if owner is not None:
        if owner[1] != account:
            raise ValueError(f"S3 bucket {name} of account {account} exists in account {owner[1]} (names are global)")
        return False
    s3_backends[account]["aws"].create_bucket(name, region)
    return True


def _seed_resources(acct: Any, setup: dict[str, Any], rep: SeedReport) -> None:
    """world.aws_setup's trail (bucket, SQS queue, the bucket's event notifications), buckets and RDS instances."""
    from moto.cloudtrail.models import cloudtrail_backends
    from moto.rds.models import rds_backends
    from moto.s3.models import s3_backends
    from moto.sqs.models import sqs_backends

    account = acct.account_id
    home = acct.regions[0] if acct.regions else "us-east-1"
    trail = setup.get("trail")
    if trail:
        region, bucket = str(trail.get("Region") or home), str(trail["Bucket"])
        rep.buckets += _ensure_bucket(account, bucket, region)
        if trail.get("Queue"):
            from moto.s3.models import NotificationConfiguration

            queue = sqs_backends[account][region].create_queue(str(trail["Queue"]))
            # what PutBucketNotificationConfiguration stores, without the s3:TestEvent message it sends the queue
            # (moto's SQS send costs ~1 ms; nobody reads that message)
            s3_backends[account]["aws"].get_bucket(bucket).notification_configuration = NotificationConfiguration(
                queue=[{"Id": f"{queue.name}-ObjectCreated", "Queue": queue.queue_arn,
                        "Event": ["s3:ObjectCreated:*"]}])
        ct: Any = cloudtrail_backends[account][region]  # moto types the optional arguments as str
        name = str(trail["TrailName"])
        ct.create_trail(name, bucket, None, None, True, True, True, False, None, None, None, [])
        ct.start_logging(name)
        rep.trails += 1
    for name in setup.get("buckets") or ():
        rep.buckets += _ensure_bucket(account, str(name), home)
    for region, db_id in setup.get("rds") or ():
        rds_backends[account][str(region)].create_db_instance({
            "db_instance_identifier": str(db_id), "engine": "postgres", "db_instance_class": "db.t3.micro",
            "allocated_storage": 20})
        rep.db_instances += 1


def _world_setups(world: Any, accounts: list[Any]) -> dict[str, dict[str, Any]]:
    """world.aws_setup(account) for every account (absent, None or missing keys: the defaults)."""
    fn = getattr(world, "aws_setup", None)
    if fn is None:
        return {}
    out = {}
    for acct in accounts:
        got = fn(acct.account_id)
        if got:
            out[acct.account_id] = dict(got)
    return out


def _fast_seeding(backend: Any) -> Callable[[], None]:
    """While seeding one EC2 backend, shadow three lookups that make moto's run_instances O(n) per instance
    (O(n^2) per region: 2,000 instances took 26 s, 1,000 took 4 s):
    - describe_images(filters={"image-id": x}): scans ~1,300 AMIs for every new instance -> memoised;
    - get_instance(id) (from attach_volume): copies every reservation -> newest reservations first, cached;
    - describe_volumes(volume_ids=[x]): lists every volume -> direct lookup.
    Instance attributes shadow the methods; undo() deletes them again."""
    from moto.ec2.exceptions import InvalidInstanceIdError

    orig_images, orig_volumes = backend.describe_images, backend.describe_volumes
    images: dict[str, Any] = {}
    instances: dict[str, Any] = {}

    def describe_images(*a: Any, **kw: Any) -> Any:
        filters = kw.get("filters")
        if not a and set(kw) == {"filters"} and isinstance(filters, dict) and set(filters) == {"image-id"}:
            key = filters["image-id"]
            if isinstance(key, str) and "*" not in key and "?" not in key:
                ami = backend.amis.get(key)  # the exact-id match moto's filter scan would find
                return [ami] if ami is not None else []
            if key not in images:
                images[key] = orig_images(filters=filters)
            return images[key]
        return orig_images(*a, **kw)

    def get_instance(instance_id: str) -> Any:
        inst = instances.get(instance_id)
        if inst is None:
            for res in reversed(backend.reservations.values()):
                for i in res.instances:
                    instances[i.id] = i
                if instance_id in instances:
                    break
            inst = instances.get(instance_id)
        if inst is None:
            raise InvalidInstanceIdError(instance_id)
        return inst

    def describe_volumes(volume_ids: list[str] | None = None, filters: Any = None) -> Any:
        if filters is None and volume_ids and len(volume_ids) == 1 and volume_ids[0] in backend.volumes:
            return [backend.volumes[volume_ids[0]]]
        return orig_volumes(volume_ids=volume_ids, filters=filters)

    backend.describe_images = describe_images
    backend.get_instance = get_instance
    backend.describe_volumes = describe_volumes

    def undo() -> None:
        for name in ("describe_images", "get_instance", "describe_volumes"):
            backend.__dict__.pop(name, None)

    return undo


def seed_world(world: Any, store: StandardsStore | None = None) -> SeedReport:
    """Reset moto and load the world's AWS estate into its backends, in-process. Idempotent."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        warnings.warn(f"tui.emulator.aws is written against moto {MOTO_VERSION}, found {moto.__version__}",
                      RuntimeWarning, stacklevel=2)
    from moto.ec2.models import ec2_backends
    from moto.eks.models import eks_backends
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.organizations.models import organizations_backends
    from moto.securityhub.models import securityhub_backends

    rep = SeedReport()
    t_all = time.perf_counter()
    lock = getattr(world, "lock", None) or threading.RLock()
    with _SEED_LOCK, lock:
        accounts = list(world.aws_accounts)
        t = time.perf_counter()
        setups = _world_setups(world, accounts)
        reset_moto()
        if store is not None:
            store.clear()
        _install_ec2_filters()
        _install_iam_patch()
        _install_speedups()
        _install_ami_patch()
        _NO_PUBLIC_AMIS.clear()
        _NO_PUBLIC_AMIS.update(a.account_id for a in accounts)
        rep.phases["reset"] = time.perf_counter() - t

        # Organizations: one per management account, members with the world's ids.
        t = time.perf_counter()
        for mgmt in (a for a in accounts if a.org_role == ORG_MANAGEMENT):
            org = organizations_backends[mgmt.account_id]["aws"]
            org.create_organization(region="us-east-1", FeatureSet="ALL")
            master = org.accounts[0]
            master.name, master.email = mgmt.name, f"aws+{_slug(mgmt.name)}@example.com"
            members = [a for a in accounts if a.org_role == ORG_MEMBER and a.parent_account_id == mgmt.account_id]
            with _forced_ids("account", [m.account_id for m in members]):
                for mem in members:
                    org.create_account(AccountName=mem.name, Email=f"aws+{_slug(mem.name)}@example.com")
            listed = {a.id for a in org.accounts}
            missing = {m.account_id for m in members} | {mgmt.account_id}
            if not missing <= listed:
                raise RuntimeError(f"organization of {mgmt.account_id} lacks {sorted(missing - listed)}")
            rep.org_accounts += _seed_org_accounts(org, setups.get(mgmt.account_id, {}))
            if setups.get(mgmt.account_id, {}).get("trusted_access"):
                org.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
            rep.organizations += 1
        rep.phases["organizations"] = time.perf_counter() - t

        # IAM: the roles the Defender for Cloud template deployed (world.iam_roles), its OIDC provider, and the
        # SSM instance profile that world.instance_meta names.
        t = time.perf_counter()
        instance_meta = getattr(world, "instance_meta", None)
        profiles: dict[str, set[str]] = {}
        for acct in accounts:
            names = set()
            if instance_meta:
                for spec in acct.instances:
                    meta = instance_meta(acct.account_id, spec.instance_id)
                    if meta and meta.get("iam_instance_profile"):
                        names.add(meta["iam_instance_profile"])
            profiles[acct.account_id] = _seed_iam(world, acct.account_id, iam_backends[acct.account_id]["aws"],
                                                  names, setups.get(acct.account_id))
            rep.iam_roles += len(iam_backends[acct.account_id]["aws"].roles)
        rep.phases["iam_roles"] = time.perf_counter() - t

        # EC2 instances with the world's ids, platforms, names and states.
        t = time.perf_counter()
        for acct in accounts:
            rep.accounts += 1
            by_region: dict[str, list[Any]] = {}
            for spec in acct.instances:
                by_region.setdefault(spec.region, []).append(spec)
            for region in sorted(set(acct.regions) | set(by_region)):
                backend = ec2_backends[acct.account_id][region]  # also warms the region (AMI catalogue)
                specs = by_region.get(region, [])
                if not specs:
                    continue
                _register_amis(backend, region, specs,
                               lambda sp: instance_meta(sp.account_id, sp.instance_id) if instance_meta else None)
                undo = _fast_seeding(backend)
                try:
                    with _forced_ids("instance", [s.instance_id for s in specs]):
                        for spec in specs:
                            meta = instance_meta(acct.account_id, spec.instance_id) if instance_meta else None
                            extra = {"private_ip": meta["private_ip"]} if meta and meta.get("private_ip") else {}
                            res = backend.run_instances(
                                spec.image_id, 1, None, [],
                                instance_type=spec.instance_type, is_instance_type_default=True,
                                region_name=region, tags={"instance": {"Name": spec.name}}, **extra,
                            )
                            inst = res.instances[0]
                            if inst.id != spec.instance_id:
                                raise RuntimeError(f"instance id {inst.id} != {spec.instance_id}")
                            windows = spec.platform.lower() == "windows"
                            inst.platform = "windows" if windows else None
                            # not an attribute of moto's Instance: the describe_instances filter above reads it
                            inst.platform_details = "Windows" if windows else "Linux/UNIX"  # type: ignore[attr-defined]
                            if meta and meta.get("launch_time"):
                                inst.launch_time = datetime.fromtimestamp(meta["launch_time"], timezone.utc) \
                                    .replace(tzinfo=None)  # moto keeps naive UTC datetimes
                            profile = meta.get("iam_instance_profile") if meta else None
                            if profile and profile in profiles.get(acct.account_id, ()):
                                backend.associate_iam_instance_profile(instance_id=inst.id,
                                                                       iam_instance_profile_name=profile)
                            rep.instances += 1
                finally:
                    undo()
                stopped = [s.instance_id for s in specs if s.state == "stopped"]
                if stopped:
                    backend.stop_instances(stopped)
        rep.phases["ec2"] = time.perf_counter() - t

        # EKS clusters.
        t = time.perf_counter()
        for acct in accounts:
            for region, name in acct.eks_clusters:
                eks_backends[acct.account_id][region].create_cluster(
                    name=name,
                    role_arn=f"arn:aws:iam::{acct.account_id}:role/eks-cluster-role",
                    resources_vpc_config={"subnetIds": [], "securityGroupIds": [],
                                          "endpointPublicAccess": True, "endpointPrivateAccess": False},
                    version=EKS_VERSION,
                    tags={"Name": name},
                )
                rep.eks_clusters += 1
        rep.phases["eks"] = time.perf_counter() - t

        # Security Hub: enabled in every region of an account that has standards, with those standards.
        t = time.perf_counter()
        for acct in accounts:
            keys = [k for k in (standards_key(a) for a in acct.securityhub_standards) if k]
            unknown = [a for a in acct.securityhub_standards if standards_key(a) is None]
            if unknown:
                raise ValueError(f"unknown Security Hub standards ARN(s) for {acct.account_id}: {unknown}")
            if not acct.securityhub_standards:
                continue
            for region in acct.regions:
                hub = securityhub_backends[acct.account_id][region]
                hub.enable_security_hub(enable_default_standards=False)
                if store is not None:
                    store.enable(acct.account_id, region, hub.enabled_at, keys)
                rep.hubs += 1
        rep.phases["securityhub"] = time.perf_counter() - t

        # CloudFormation: the connector stack (and StackSet of a management account) that world.cfn_stack names,
        # with the status, failed resource and StackSet instances world.aws_setup plants.
        t = time.perf_counter()
        cfn_stack = getattr(world, "cfn_stack", None)
        from moto.cloudformation.models import cloudformation_backends

        for acct in accounts:
            setup = setups.get(acct.account_id, {})
            stack = dict(cfn_stack(acct.account_id) or {}) if cfn_stack else {}
            planted = setup.get("stack") or {}
            stack.update({k: v for k, v in planted.items() if v is not None})
            if setup.get("stackset"):
                stack["StackSetName"] = setup["stackset"].get("StackSetName") or stack.get("StackSetName")
            if not stack.get("StackName"):
                continue
            region = stack.get("Region") or acct.regions[0]
            stack_set = _seed_stack(cloudformation_backends[acct.account_id][region], stack)
            rep.stacks += 1
            if stack_set is not None and setup.get("stackset"):
                root = _org_root(acct.account_id)
                for inst in setup["stackset"].get("instances") or ():
                    _add_stack_instance(stack_set, inst, root)
                    rep.stack_instances += 1
        rep.phases["cloudformation"] = time.perf_counter() - t

        # The rest of world.aws_setup: CloudTrail trails (their bucket and its event notifications to SQS), S3
        # buckets and RDS instances (what a plan bills).
        t = time.perf_counter()
        for acct in accounts:
            if acct.account_id in setups:
                _seed_resources(acct, setups[acct.account_id], rep)
        rep.phases["resources"] = time.perf_counter() - t

        # An operator user in the home account, with a deterministic access key.
        t = time.perf_counter()
        home = _home_account(accounts)
        if home is not None:
            iam = iam_backends[home]["aws"]
            iam.create_user(region_name="us-east-1", user_name="mdc-operator", path="/", tags=[])
            key = iam.create_access_key("mdc-operator")
            new_id, secret = _operator_key(home)
            iam.access_keys.pop(key.physical_resource_id, None)
            key.access_key_id, key.secret_access_key = new_id, secret
            iam.access_keys[key.physical_resource_id] = key
        for acct in accounts:  # warm every account's IAM backends, so no first request pays for them
            iam_backends[acct.account_id]["aws"]
        get_account_id_from("AKIAEXAMPLE")  # creates the other partitions' (now cheap) backends too
        rep.phases["iam"] = time.perf_counter() - t
    rep.seconds = time.perf_counter() - t_all
    return rep


def _home_account(accounts: list[Any]) -> str | None:
    for a in accounts:
        if a.org_role == ORG_MANAGEMENT:
            return a.account_id
    return accounts[0].account_id if accounts else None


# --------------------------------------------------------------------------------------------------------------
# The WSGI layer
# --------------------------------------------------------------------------------------------------------------


class EmulatorApp:
    """WSGI middleware over moto's DomainDispatcherApplication."""

    def __init__(self, emulator: "AwsEmulator", inner: Callable[..., Any]) -> None:
        self.emu = emulator
        self.inner = inner

    # ---- admin ------------------------------------------------------------------------------------------
    def _admin(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        query = _flat(environ.get("QUERY_STRING", ""))
        emu = self.emu
        try:
            if path == "/_emulator/info" and method == "GET":
                return json_response(emu.info(), content_type="application/json")(start_response)
            if path == "/_emulator/requests":
                if method == "GET":
                    since = int(query.get("since", "0") or 0)
                    body = {"requests": [r.to_dict() for r in emu.recorder.items(since)]}
                    return json_response(body, content_type="application/json")(start_response)
                if method == "DELETE":
                    emu.recorder.clear()
                    return json_response({}, content_type="application/json")(start_response)
            if path == "/_emulator/faults":
                if method == "GET":
                    body = {"rules": [r.to_dict() for r in emu.faults.rules()]}
                    return json_response(body, content_type="application/json")(start_response)
                if method == "POST":
                    raw = json.loads(_read_body(environ) or b"[]")
                    items = raw.get("rules", []) if isinstance(raw, dict) else raw
                    rules = [AwsFaultRule.from_dict(d) for d in items]
                    if query.get("replace") in ("1", "true"):
                        emu.faults.clear()
                    emu.faults.extend(rules)
                    body = {"rules": [r.to_dict() for r in emu.faults.rules()]}
                    return json_response(body, 201, content_type="application/json")(start_response)
                if method == "DELETE":
                    emu.faults.clear()
                    return json_response({}, content_type="application/json")(start_response)
            if path == "/_emulator/realism/calls" and method == "GET":  # what each call was given (RealismCalls)
                return json_response(emu.realism_calls.snapshot(), content_type="application/json")(start_response)
            if path == "/_emulator/realism":
                if method == "POST":  # {"latency_ms", "jitter_ms", "rate_limits"}: any subset
                    raw = json.loads(_read_body(environ) or b"{}")
                    if not isinstance(raw, dict):
                        raise ValueError("expected a JSON object")
                    emu.set_realism(**raw)
                elif method == "DELETE":  # counters to zero, buckets full; settings kept
                    emu.rate_limits.reset()
                    emu.realism_calls.clear()
                elif method != "GET":
                    raise ValueError(f"no admin route {method} {path}")
                return json_response(emu.realism(), content_type="application/json")(start_response)
            if path == "/_emulator/reset" and method == "POST":
                rep = emu.reseed()
                return json_response(asdict(rep), content_type="application/json")(start_response)
        except (ValueError, TypeError, KeyError) as exc:
            return json_response({"error": str(exc)}, 400, content_type="application/json")(start_response)
        return json_response({"error": f"no admin route {method} {path}"}, 404,
                             content_type="application/json")(start_response)

    # ---- extensions -------------------------------------------------------------------------------------
    def _extension(self, req: _Req, environ: dict[str, Any]) -> tuple[WsgiResponse, str | None] | None:
        world = self.emu.world
        disabled = getattr(world, "opt_in_disabled", None)
        if disabled and req.service not in GLOBAL_SERVICES and (req.account, req.region) in disabled:
            return opt_in_region_response(req.protocol, req.service), "opt_in_region"
        if req.service == "sts" and req.action in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
            role_arn = req.form.get("RoleArn") or req.query.get("RoleArn", "")
            m = re.match(r"arn:aws[a-z-]*:iam::(\d{12}):", role_arn)
            if m:
                with self.emu.world_lock():
                    denied = m.group(1) in set(getattr(world, "denied_accounts", ()) or ())
                if denied:
                    if req.action == "AssumeRole":
                        msg = (f"User: {_caller_arn(req.account, req.access_key)} is not authorized to perform: "
                               f"sts:AssumeRole on resource: {role_arn}")
                    else:
                        msg = f"Not authorized to perform sts:{req.action}"
                    return error_response(QUERY, "sts", 403, "AccessDenied", msg), "denied_account"
            return None
        if req.service == "ssm" and req.action == "DescribeInstanceInformation":
            body = _read_body(environ)
            try:
                data = json.loads(body or b"{}")
                resp = describe_instance_information(
                    data, req.account, req.region, self.emu.ec2_instances(req.account, req.region),
                    self.emu.ssm_status, self.emu.now(), self.emu.world_ssm_records(req.account, req.region))
                return json_response(resp), None
            except SsmError as exc:
                return error_response(JSON, "ssm", exc.status, exc.code, exc.message), None
            except json.JSONDecodeError:
                return error_response(JSON, "ssm", 400, "SerializationException", "Malformed JSON body"), None
        if req.service == "securityhub" and req.path.startswith("/standards"):
            from moto.securityhub.models import securityhub_backends

            body = _read_body(environ)
            try:
                data = json.loads(body or b"{}") if req.method == "POST" else {}
                hub = securityhub_backends[req.account][req.region]
                answer = securityhub_standards(req.method, req.path, req.query, data, req.account, req.region,
                                               hub, self.emu.standards)
                if answer is None:
                    return None
                return json_response(answer, content_type="application/json"), None
            except SecurityHubError as exc:
                return error_response(REST_JSON, "securityhub", exc.status, exc.code, exc.message), None
            except json.JSONDecodeError:
                return error_response(REST_JSON, "securityhub", 400, "InvalidInputException", "Malformed JSON"), None
        return None

    # ---- dispatch ---------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator"):
            return self._admin(environ, start_response)
        if path.startswith("/moto-api") or path == "/favicon.ico":
            return self.inner(environ, start_response)
        t0 = time.perf_counter()
        try:
            req = identify(environ)
        except Exception:  # broad (logged): never block a request we cannot classify
            log.exception("could not identify request %s", path)
            return self.inner(environ, start_response)
        emu = self.emu
        fault: str | None = None
        # realism (off by default): the account's bucket is drawn when the call arrives, then the call takes its
        # latency (a sleep on this request's own thread: concurrent calls overlap), throttled or not
        family, allowed = emu.rate_limits.take(req.account, req.region, req.service, req.action)
        delay_ms = emu.call_latency_ms(req.account, req.region, req.service, req.action)
        if delay_ms or emu.rate_limits.enabled:  # realism on: what this call was given (RealismCalls)
            emu.realism_calls.add(req, family, delay_ms, not allowed)
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if not allowed:
            resp = throttle_response(req.protocol, req.service)
            emu.recorder.add(req, resp.status, "rate_limit", t0, family)
            return resp(start_response)
        latency_ms, rule = emu.faults.apply(req.service, req.action, req.account, req.region)
        if latency_ms:
            time.sleep(latency_ms / 1000.0)
            fault = "latency"
        if rule is not None:
            resp = fault_response(rule.kind, req.protocol, req.service, req.action,
                                  _caller_arn(req.account, req.access_key))
            emu.recorder.add(req, resp.status, rule.kind, t0, family)
            return resp(start_response)
        try:
            ext = self._extension(req, environ)
        except Exception as exc:  # broad (logged): our own bug: answer 500 like AWS would, and say so
            log.exception("emulator extension failed for %s %s", req.service, req.action)
            ext = (error_response(req.protocol, req.service, 500, "InternalFailure", f"emulator: {exc}"), None)
        if ext is not None:
            resp, ext_fault = ext
            emu.recorder.add(req, resp.status, ext_fault or fault, t0, family)
            return resp(start_response)
        seen: list[int] = []

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        result = self.inner(environ, _start)
        emu.recorder.add(req, seen[-1] if seen else 0, fault, t0, family)
        return result


# --------------------------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------------------------


# moto types a service name as a Union of Literals that mypy cannot resolve: Any, not str
_PREWARM: tuple[Any, ...] = ("sts", "ec2", "ssm", "organizations", "securityhub", "eks", "iam", "cloudformation")


def _quiet_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        # HTTP/1.1 (chunked answers possible); werkzeug still answers every request with "Connection: close" and
        # closes it (its run_wsgi drains the socket after each answer, which would eat a next request): one
        # connection and one thread per call, unlike AWS's endpoints (docs/FIDELITY.md section 7a)
        protocol_version = "HTTP/1.1"

        def log_request(self, *args: Any, **kwargs: Any) -> None:  # no line per request (it would corrupt a TUI)
            pass

    return QuietHandler


def http_server(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> Any:
    """The server the emulator runs `app` on: werkzeug's threaded server with moto's request handler (one thread per
    request, so calls overlap their latency), not yet serving (call serve_forever)."""
    from werkzeug.serving import make_server

    server: Any = make_server(host, port, app, threaded=True, request_handler=_quiet_handler())
    server.daemon_threads = True
    return server


# moto's state is process-global: the emulator whose world is in moto now, and the started ones (oldest first).
_OWNER_LOCK = threading.RLock()
_owner: "AwsEmulator | None" = None
_live: list["AwsEmulator"] = []


class AwsEmulator:
    """moto + our layer, seeded from `world`, served by a threaded werkzeug server in a daemon thread.

    One world lives in moto at a time (moto is process-global). start() seeds this emulator's world (wiping moto);
    stop() of the emulator that seeded last re-seeds the previous still-running emulator, if any, so a test module
    that starts its own emulator does not leave a session-wide one looking at the wrong estate.
    """

    def __init__(self, world: Any, *, faults: AwsFaults | None = None, log_size: int = 20000,
                 latency_ms: float = 0.0, jitter_ms: float = 0.0, rate_limits: bool | AwsRateLimits = False,
                 seed: int | None = None) -> None:
        self.world = world
        self.faults = faults if faults is not None else AwsFaults()
        # realism (issue 15), off by default: per-call latency with deterministic jitter, per-account rate limits
        self.seed = int(seed if seed is not None else getattr(world, "seed", 0) or 0)
        self.latency_ms, self.jitter_ms = 0.0, 0.0
        self.rate_limits = rate_limits if isinstance(rate_limits, AwsRateLimits) else AwsRateLimits(bool(rate_limits))
        self.realism_calls = RealismCalls()  # per-call record while realism is on (GET /_emulator/realism/calls)
        self.set_realism(latency_ms=latency_ms, jitter_ms=jitter_ms)
        self._nth_lock = threading.Lock()
        self._nth: dict[str, int] = {}
        self.recorder = _RequestLog(log_size)  # every request the layer served (request_log)
        self.standards = StandardsStore()  # Security Hub's standards, which moto does not model
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None
        self.seed_report: SeedReport | None = None
        self.operator_account_id: str | None = None
        self.operator_credentials: dict[str, str] = {}

    # ---- seeding ----------------------------------------------------------------------------------------
    def reseed(self) -> SeedReport:
        """Wipe moto (process-wide) and load the world again."""
        global _owner
        with _OWNER_LOCK:
            rep = seed_world(self.world, self.standards)
            _owner = self
        self.seed_report = rep
        home = _home_account(list(self.world.aws_accounts))
        self.operator_account_id = home
        if home is not None:
            key, secret = _operator_key(home)
            self.operator_credentials = {"aws_access_key_id": key, "aws_secret_access_key": secret}
        return rep

    # ---- server -----------------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("AwsEmulator already started")
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with _OWNER_LOCK:
            if _owner is not self or self.seed_report is None:
                self.reseed()
            _live.append(self)
        dispatcher = DomainDispatcherApplication(create_backend_app)
        for service in _PREWARM:  # build moto's Flask apps now rather than on the dashboard's first refresh
            try:
                dispatcher.app_instances[service] = create_backend_app(service)
            except Exception:  # noqa: BLE001 - only an optimisation
                pass
        for service in ("securityhub", "eks"):  # rest-json operation names come from botocore's models
            _ROUTER.action(service, "GET", "/")
        app = EmulatorApp(self, dispatcher)
        self._server = http_server(app, host, port)
        real_host, real_port = self._server.server_address[:2]
        self.url = f"http://{real_host}:{real_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with _OWNER_LOCK:
            if self in _live:
                _live.remove(self)
            if _owner is self and _live:
                _live[-1].reseed()  # hand moto back to the emulator that was serving before this one

    def wait(self) -> None:
        """Block until stop() (for a foreground process)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(1.0)

    def __enter__(self) -> "AwsEmulator":
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- realism ----------------------------------------------------------------------------------------
    def set_realism(self, latency_ms: float | None = None, jitter_ms: float | None = None,
                    rate_limits: bool | None = None) -> None:
        """Change the latency, its jitter (ms) or whether rate limits apply, at any time (the admin route's POST)."""
        lat = self.latency_ms if latency_ms is None else float(latency_ms)
        jit = self.jitter_ms if jitter_ms is None else float(jitter_ms)
        if lat < 0 or jit < 0:
            raise ValueError("latency_ms and jitter_ms must be >= 0")
        if jit > lat:
            raise ValueError("jitter_ms must not exceed latency_ms (the delay is latency_ms +/- jitter_ms)")
        self.latency_ms, self.jitter_ms = lat, jit
        if rate_limits is not None:
            if not isinstance(rate_limits, bool):
                raise ValueError("rate_limits must be true or false")
            self.rate_limits.enabled = rate_limits

    def call_latency_ms(self, account: str, region: str, service: str, action: str) -> float:
        """The delay of this call (0 when latency is off): see aws_ext.latency_for."""
        if self.latency_ms <= 0:
            return 0.0
        key = f"{account}/{region}/{service}/{action}"
        with self._nth_lock:
            nth = self._nth.get(key, 0)
            self._nth[key] = nth + 1
        return latency_for(self.seed, self.latency_ms, self.jitter_ms, key, nth)

    def realism(self) -> dict[str, Any]:
        """The settings and the rate-limit counters (GET /_emulator/realism)."""
        return {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms, "seed": self.seed,
                **self.rate_limits.snapshot()}

    # ---- observation ------------------------------------------------------------------------------------
    @property
    def request_log(self) -> list[AwsRequestRecord]:
        return self.recorder.items()

    def clear_request_log(self) -> None:
        self.recorder.clear()

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "moto": MOTO_VERSION,
            "operator_account_id": self.operator_account_id,
            "operator_credentials": self.operator_credentials,
            "default_account_id": DEFAULT_ACCOUNT,
            "accounts": [a.account_id for a in self.world.aws_accounts],
            "seed": asdict(self.seed_report) if self.seed_report else None,
            "realism": {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms,
                        "rate_limits": self.rate_limits.enabled},
        }

    def client_kwargs(self, region: str = "us-east-1", *, operator: bool = False) -> dict[str, Any]:
        """Keyword arguments for boto3.client(...) against this emulator (default identity: account 123456789012)."""
        creds = self.operator_credentials if operator else {"aws_access_key_id": "testing",
                                                            "aws_secret_access_key": "testing"}
        return {"endpoint_url": self.url, "region_name": region, **creds}

    # ---- the world as the layer (EmulatorApp) sees it ---------------------------------------------------------
    @contextmanager
    def world_lock(self) -> Iterator[None]:
        lock = getattr(self.world, "lock", None)
        if lock is None:
            yield
        else:
            with lock:
                yield

    def ssm_status(self, account: str, instance_id: str) -> str | None:
        with self.world_lock():
            return self.world.ssm_status(account, instance_id)

    def world_ssm_records(self, account: str, region: str) -> dict[str, dict[str, Any]] | None:
        fn = getattr(self.world, "ssm_instance_information", None)
        if fn is None:
            return None
        with self.world_lock():
            return {r["InstanceId"]: r for r in fn(account, region)}

    def now(self) -> float:
        now = getattr(self.world, "now", None)
        if now is None and getattr(self.world, "clock", None) is not None:
            now = getattr(self.world.clock, "now", None)
        if callable(now):
            try:
                value = now()
                return value.timestamp() if hasattr(value, "timestamp") else float(value)
            except Exception:  # noqa: BLE001 - a world clock that cannot say the time falls back to wall time
                pass
        return time.time()

    @staticmethod
    def ec2_instances(account: str, region: str) -> list[Any]:
        from moto.ec2.models import ec2_backends

        if account not in dict.keys(ec2_backends):
            return []
        per_account = ec2_backends[account]
        if region not in dict.keys(per_account):
            return []
        backend = per_account[region]
        return [i for r in list(backend.reservations.values()) for i in r.instances]
