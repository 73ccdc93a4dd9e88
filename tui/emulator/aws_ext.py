"""What moto 5.2.5 lacks, answered by our WSGI layer (see aws.py): protocol-correct errors, fault rules,
SSM DescribeInstanceInformation and the Security Hub standards API.

Nothing here imports tui.core. Everything that touches moto internals is pinned to moto 5.2.5
(read in-process: `ec2_backends`, `securityhub_backends`).
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
import zlib
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

# --------------------------------------------------------------------------------------------------------------
# Protocol-correct error responses
# --------------------------------------------------------------------------------------------------------------

# Protocols as botocore names them. We infer them from the request shape (aws.py `identify`).
JSON = "json"  # X-Amz-Target + application/x-amz-json-1.x (ssm, organizations, config, kms, logs, sqs, ...)
QUERY = "query"  # form body Action=... (sts, iam, cloudformation, ...)
EC2 = "ec2"  # query-style body, EC2's own error envelope
REST_JSON = "rest-json"  # securityhub, eks, guardduty, inspector2, ...
REST_XML = "rest-xml"  # s3

# Per fault kind and protocol: (HTTP status, error code, message). botocore's standard retry mode treats the
# throttling codes (ThrottlingException, Throttling, RequestLimitExceeded, TooManyRequestsException, SlowDown)
# and HTTP 500/502/503/504 as retryable; access-denied codes are never retried.
_FAULT_SHAPES: dict[str, dict[str, tuple[int, str, str]]] = {
    "throttle": {
        JSON: (400, "ThrottlingException", "Rate exceeded"),
        EC2: (503, "RequestLimitExceeded", "Request limit exceeded."),
        QUERY: (400, "Throttling", "Rate exceeded"),
        REST_JSON: (429, "TooManyRequestsException", "Rate exceeded"),
        REST_XML: (503, "SlowDown", "Please reduce your request rate."),
    },
    "5xx": {
        JSON: (503, "ServiceUnavailableException", "Service is currently unavailable. Please try again later."),
        EC2: (503, "Unavailable", "The server is overloaded and can't handle the request."),
        QUERY: (503, "ServiceUnavailable", "Service is currently unavailable. Please try again later."),
        REST_JSON: (503, "ServiceUnavailableException", "Service is currently unavailable. Please try again later."),
        REST_XML: (503, "ServiceUnavailable", "Please reduce your request rate."),
    },
    "access_denied": {
        JSON: (400, "AccessDeniedException", ""),
        # Real EC2 answers a missing IAM permission with UnauthorizedOperation (403), not AccessDenied.
        EC2: (403, "UnauthorizedOperation", ""),
        QUERY: (403, "AccessDenied", ""),
        REST_JSON: (403, "AccessDeniedException", ""),
        REST_XML: (403, "AccessDenied", "Access Denied"),
    },
}

_QUERY_NAMESPACES = {
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
}


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


@dataclass
class WsgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def __call__(self, start_response: Callable[..., Any]) -> list[bytes]:
        start_response(f"{self.status} {_REASONS.get(self.status, 'Error')}", self.headers)
        return [self.body]


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def json_response(body: Any, status: int = 200, *, content_type: str = "application/x-amz-json-1.1") -> WsgiResponse:
    data = json.dumps(body).encode()
    return WsgiResponse(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
        data,
    )


def error_response(protocol: str, service: str, status: int, code: str, message: str) -> WsgiResponse:
    """An error in the envelope the given protocol uses, so botocore parses `Error.Code` and `Message`."""
    request_id = str(uuid.uuid4())
    if protocol == JSON:
        data = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
    elif protocol == REST_JSON:
        data = json.dumps({"Code": code, "Message": message, "message": message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
    elif protocol == EC2:
        data = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif protocol == REST_XML:
        data = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:  # QUERY
        ns = _QUERY_NAMESPACES.get(service, f"https://{service}.amazonaws.com/doc/")
        kind = "Receiver" if status >= 500 else "Sender"
        data = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(data))))
    return WsgiResponse(status, headers, data)


def access_denied_message(caller_arn: str, service: str, action: str, resource: str = "*") -> str:
    return (
        f"User: {caller_arn} is not authorized to perform: {service}:{action} on resource: {resource} "
        f"because no identity-based policy allows the {service}:{action} action"
    )


def fault_response(kind: str, protocol: str, service: str, action: str, caller_arn: str) -> WsgiResponse:
    status, code, message = _FAULT_SHAPES[kind][protocol]
    if kind == "access_denied" and not message:
        message = access_denied_message(caller_arn, service, action)
        if protocol == EC2:
            message = "You are not authorized to perform this operation. " + message
    return error_response(protocol, service, status, code, message)


# In a region the account has not enabled (an opt-in region), AWS cannot validate the caller's credentials: EC2
# answers AuthFailure ("AWS was not able to validate the provided access credentials", AWS Knowledge Center
# iam-validate-access-credentials) and other regional services reject the token (InvalidClientTokenId for the query
# protocol; UnrecognizedClientException for JSON services). Statuses: 403 for the token errors (AWS common errors
# pages), 401 for EC2's AuthFailure (assumed).
_OPT_IN_SHAPES: dict[str, tuple[int, str, str]] = {
    EC2: (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
    QUERY: (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    JSON: (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    REST_JSON: (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    REST_XML: (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
}
# services whose endpoint is global (signed for us-east-1 whatever the client's region): never region-gated
GLOBAL_SERVICES = frozenset({"iam", "organizations", "s3", "cloudfront", "route53", "waf"})


def opt_in_region_response(protocol: str, service: str) -> WsgiResponse:
    """The error a regional call gets in an opt-in region the account has not enabled."""
    status, code, message = _OPT_IN_SHAPES.get(protocol, _OPT_IN_SHAPES[QUERY])
    return error_response(protocol, service, status, code, message)


# --------------------------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------------------------

FAULT_KINDS = ("throttle", "5xx", "access_denied", "latency")


@dataclass
class AwsFaultRule:
    """One fault rule. None matches anything. `times` None = for ever; N = the next N matching requests.

    service: the SigV4 signing name ("ec2", "ssm", "sts", "securityhub", "organizations", ...)
    action: the operation name as botocore names it ("DescribeInstances", "GetEnabledStandards", ...)
    account: the account the request acts in (resolved from its credentials as moto does)
    region: the region of the request's credential scope
    """

    service: str | None = None
    action: str | None = None
    account: str | None = None
    kind: str = "throttle"
    times: int | None = None
    latency_ms: int = 0
    region: str | None = None
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.kind == "latency" and self.latency_ms <= 0:
            raise ValueError("a latency rule needs latency_ms > 0")

    def matches(self, service: str, action: str, account: str, region: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return (
            (self.service is None or self.service.lower() == (service or "").lower())
            and (self.action is None or self.action.lower() == (action or "").lower())
            and (self.account is None or self.account == account)
            and (self.region is None or self.region == region)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AwsFaultRule":
        allowed = {"service", "action", "account", "kind", "times", "latency_ms", "region"}
        unknown = set(data) - allowed - {"hits"}
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if k in allowed})


class AwsFaults:
    """A thread-safe, ordered list of fault rules (see `apply`)."""

    def __init__(self, rules: Iterable[AwsFaultRule] = ()) -> None:
        self._lock = threading.Lock()
        self._rules: list[AwsFaultRule] = list(rules)

    def add(self, rule: AwsFaultRule | None = None, **kwargs: Any) -> AwsFaultRule:
        """add(AwsFaultRule(...)) or add(service="ssm", kind="throttle", times=2)."""
        if rule is None:
            rule = AwsFaultRule(**kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def extend(self, rules: Iterable[AwsFaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[AwsFaultRule]:
        with self._lock:
            return [AwsFaultRule(**r.to_dict()) for r in self._rules]

    def apply(self, service: str, action: str, account: str, region: str) -> tuple[int, AwsFaultRule | None]:
        """What happens to this request: (total latency in ms, the error rule or None).

        Every live matching latency rule adds its delay; the first live matching error rule (throttle, 5xx,
        access_denied) answers the request. Each applied rule consumes one of its `times` and counts a hit."""
        latency, error = 0, None
        with self._lock:
            for rule in self._rules:
                if (rule.kind != "latency" and error is not None) or not rule.matches(service, action, account,
                                                                                    region):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                if rule.kind == "latency":
                    latency += rule.latency_ms
                else:
                    error = AwsFaultRule(**rule.to_dict())
        return latency, error

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)


# --------------------------------------------------------------------------------------------------------------
# SSM DescribeInstanceInformation
# --------------------------------------------------------------------------------------------------------------

SSM_LATEST_AGENT = "3.3.1802.0"
_SSM_OLD_AGENTS = ("3.3.1611.0", "3.2.2303.0", "3.1.1732.0")
_WINDOWS_NAMES = (
    ("Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
    ("Microsoft Windows Server 2019 Datacenter", "10.0.17763"),
    ("Microsoft Windows Server 2016 Datacenter", "10.0.14393"),
)
_LINUX_NAMES = (("Amazon Linux", "2023"), ("Amazon Linux", "2"), ("Ubuntu", "22.04"),
                ("Red Hat Enterprise Linux", "9.4"))
_PING_VALUES = {"Online", "ConnectionLost", "Inactive"}
_PLATFORM_VALUES = {"Windows", "Linux", "MacOS"}
_FILTER_KEYS = {"InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds", "IamRole",
                "ResourceType", "AssociationStatus"}


class SsmError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


def _ssm_record(inst: Any, ping: str, now: float) -> dict[str, Any]:
    """One InstanceInformation item for a moto EC2 instance; deterministic per instance id."""
    iid = inst.id
    h = _h(iid)
    windows = (getattr(inst, "platform", None) or "").lower() == "windows"
    if windows:
        pname, pver = _WINDOWS_NAMES[h % len(_WINDOWS_NAMES)]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        computer = "EC2AMAZ-" + "".join(alphabet[(h >> (5 * i)) % 36] for i in range(7))
    else:
        pname, pver = _LINUX_NAMES[h % len(_LINUX_NAMES)]
        ip = inst.private_ip or "10.0.0.1"
        computer = getattr(inst, "private_dns", None) or f"ip-{ip.replace('.', '-')}.ec2.internal"
    latest = (h >> 8) % 4 != 0  # three in four run the latest agent
    agent = SSM_LATEST_AGENT if latest else _SSM_OLD_AGENTS[(h >> 12) % len(_SSM_OLD_AGENTS)]
    if ping == "Online":
        last_ping = now - (h % 300) - 5
    else:  # ConnectionLost / Inactive: silent for hours to days
        last_ping = now - 3600 * (2 + (h >> 4) % 70)
    last_ping = float(int(last_ping))
    return {
        "InstanceId": iid,
        "PingStatus": ping,
        "LastPingDateTime": last_ping,
        "AgentVersion": agent,
        "IsLatestVersion": latest,
        "PlatformType": "Windows" if windows else "Linux",
        "PlatformName": pname,
        "PlatformVersion": pver,
        "ResourceType": "EC2Instance",
        "IPAddress": inst.private_ip,
        "ComputerName": computer,
        "AssociationStatus": "Success",
        "LastAssociationExecutionDate": last_ping,
        "LastSuccessfulAssociationExecutionDate": last_ping,
        "AssociationOverview": {"DetailedStatus": "Success",
                                "InstanceAssociationStatusAggregatedCount": {"Success": 1}},
        "SourceId": iid,
        "SourceType": "AWS::EC2::Instance",
    }


def _encode_token(offset: int, ctx: str, snap: str | None = None) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "c": ctx, "s": snap}).encode()).decode()


def _decode_token(token: str, ctx: str) -> tuple[int, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["c"] != ctx or not isinstance(data["o"], int) or data["o"] < 0:
            raise ValueError
        return data["o"], data.get("s")
    except Exception:  # noqa: BLE001 - any malformed token is the same error
        raise SsmError("InvalidNextToken", "The specified token is not valid.") from None


def _ssm_filters(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for f in body.get("InstanceInformationFilterList") or []:
        key, values = f.get("key"), f.get("valueSet")
        if key not in _FILTER_KEYS:
            raise SsmError("InvalidInstanceInformationFilterValue", f"The filter key {key!r} is not valid.")
        if not values:
            raise SsmError("InvalidInstanceInformationFilterValue", f"The filter {key} needs at least one value.")
        out.append((key, list(values)))
    for f in body.get("Filters") or []:
        key, values = f.get("Key"), f.get("Values")
        if not key or not (key in _FILTER_KEYS or key.startswith("tag:") or key == "tag-key"):
            raise SsmError("InvalidFilterKey", f"The specified key {key!r} is not valid.")
        if not values:
            raise SsmError("InvalidInstanceInformationFilterValue", f"The filter {key} needs at least one value.")
        out.append((key, list(values)))
    for key, values in out:
        if key == "PingStatus" and not set(values) <= _PING_VALUES:
            raise SsmError("InvalidInstanceInformationFilterValue",
                           f"PingStatus values must be among {sorted(_PING_VALUES)}.")
        if key == "PlatformTypes" and not set(values) <= _PLATFORM_VALUES:
            raise SsmError("InvalidInstanceInformationFilterValue",
                           f"PlatformTypes values must be among {sorted(_PLATFORM_VALUES)}.")
        if key == "InstanceIds":
            for v in values:
                if not v.startswith(("i-", "mi-")):
                    raise SsmError("InvalidInstanceId", f"Instance Id {v} is not valid.")
    return out


def _passes(rec: dict[str, Any], tags: dict[str, str], filters: list[tuple[str, list[str]]]) -> bool:
    for key, values in filters:
        if key == "InstanceIds":
            ok = rec["InstanceId"] in values
        elif key == "PingStatus":
            ok = rec["PingStatus"] in values
        elif key == "PlatformTypes":
            ok = rec["PlatformType"] in values
        elif key == "AgentVersion":
            ok = rec["AgentVersion"] in values
        elif key == "ResourceType":
            ok = rec["ResourceType"] in values
        elif key == "AssociationStatus":
            ok = rec["AssociationStatus"] in values
        elif key == "tag-key":
            ok = any(v in tags for v in values)
        elif key.startswith("tag:"):
            ok = tags.get(key[4:]) in values
        else:  # ActivationIds, IamRole: only hybrid (mi-) nodes have them
            ok = False
        if not ok:
            return False
    return True


class _Snapshots:
    """Result lists of first pages, so later pages (NextToken) read the same snapshot, as AWS pages do."""

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._items: "OrderedDict[str, list[dict[str, Any]]]" = OrderedDict()
        self._size = size

    def put(self, records: list[dict[str, Any]]) -> str:
        key = uuid.uuid4().hex[:16]
        with self._lock:
            self._items[key] = records
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._items.get(key)


_SSM_SNAPSHOTS = _Snapshots()


def describe_instance_information(
    body: dict[str, Any],
    account: str,
    region: str,
    instances: list[Any],
    ssm_status: Callable[[str, str], str | None],
    now: float,
    world_records: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """AmazonSSM.DescribeInstanceInformation over moto's EC2 instances of (account, region).

    Managed = the world gives the instance an SSM status; a stopped or terminated moto instance is left out (as the
    API reference says), a stopping one is ConnectionLost.
    Record fields come from `world_records` (World.ssm_instance_information) when given, else are derived
    deterministically from the instance."""
    max_results = body.get("MaxResults")
    if max_results is not None:
        if not isinstance(max_results, int) or max_results < 5 or max_results > 50:
            bound = "greater than or equal to 5" if (isinstance(max_results, int) and max_results < 5) else \
                "less than or equal to 50"
            raise SsmError(
                "ValidationException",
                f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                f"constraint: Member must have value {bound}",
            )
    limit = max_results or 50
    filters = _ssm_filters(body)
    ctx = f"{account}/{region}/{_h(json.dumps(filters, sort_keys=True))}"
    start, snap = 0, None
    if body.get("NextToken"):
        start, snap_key = _decode_token(body["NextToken"], ctx)
        snap = _SSM_SNAPSHOTS.get(snap_key) if snap_key else None
    if snap is None:
        snap = []
        for inst in sorted(instances, key=lambda i: i.id):
            state = inst.state
            # "does not return information for nodes that are either Stopped or Terminated" (API reference)
            if state in ("terminated", "shutting-down", "stopped"):
                continue
            ping = ssm_status(account, inst.id)
            if ping is None:
                continue
            if state == "stopping":  # on its way down: the agent has gone silent
                ping = "ConnectionLost"
            base = (world_records or {}).get(inst.id)
            if base is not None:
                rec = dict(base)
                if rec.get("PingStatus") != ping:
                    rec["PingStatus"] = ping
                    if ping != "Online":  # the agent went silent when the instance stopped
                        rec["LastPingDateTime"] = min(float(rec.get("LastPingDateTime") or now), now)
                rec.setdefault("ResourceType", "EC2Instance")
                rec.setdefault("SourceId", inst.id)
                rec.setdefault("SourceType", "AWS::EC2::Instance")
            else:
                rec = _ssm_record(inst, ping, now)
            tags = {t["key"]: t["value"] for t in inst.get_tags()}
            if _passes(rec, tags, filters):
                snap.append(rec)
    page = snap[start:start + limit]
    out: dict[str, Any] = {"InstanceInformationList": page}
    if start + limit < len(snap):
        key = _SSM_SNAPSHOTS.put(snap) if not body.get("NextToken") else (
            _decode_token(body["NextToken"], ctx)[1] or _SSM_SNAPSHOTS.put(snap))
        out["NextToken"] = _encode_token(start + limit, ctx, key)
    return out


# --------------------------------------------------------------------------------------------------------------
# Security Hub standards
# --------------------------------------------------------------------------------------------------------------

FSBP = "aws-foundational-security-best-practices/v/1.0.0"
CIS_120 = "cis-aws-foundations-benchmark/v/1.2.0"
PCI_321 = "pci-dss/v/3.2.1"

_STANDARDS: tuple[dict[str, Any], ...] = (
    {
        "key": FSBP,
        "Name": "AWS Foundational Security Best Practices v1.0.0",
        "Description": (
            "The AWS Foundational Security Best Practices standard is a set of automated security checks that "
            "detect when AWS accounts and deployed resources do not align to security best practices. The standard "
            "is defined by AWS security experts. This curated set of controls helps improve your security posture "
            "in AWS, and cover AWS's most popular and foundational services."
        ),
        "EnabledByDefault": True,
    },
    {
        "key": CIS_120,
        "Name": "CIS AWS Foundations Benchmark v1.2.0",
        "Description": (
            "The Center for Internet Security (CIS) AWS Foundations Benchmark v1.2.0 is a set of security "
            "configuration best practices for AWS. This Security Hub standard automatically checks for your "
            "compliance readiness against a subset of CIS requirements."
        ),
        "EnabledByDefault": True,
    },
    {
        "key": PCI_321,
        "Name": "PCI DSS v3.2.1",
        "Description": (
            "The Payment Card Industry Data Security Standard (PCI DSS) v3.2.1 is an information security standard "
            "for entities that store, process, and/or transmit cardholder data. This Security Hub standard "
            "automatically checks for your compliance readiness against a subset of PCI DSS requirements."
        ),
        "EnabledByDefault": False,
    },
)


def standards_arn(key: str, region: str) -> str:
    if key == CIS_120:
        return f"arn:aws:securityhub:::ruleset/{key}"
    return f"arn:aws:securityhub:{region}::standards/{key}"


def standards_key(arn: str) -> str | None:
    """The region-independent key of a standards ARN ("pci-dss/v/3.2.1"), or None if it is not one we know."""
    for marker in ("::standards/", ":::ruleset/"):
        if marker in arn and arn.startswith("arn:aws:securityhub:"):
            key = arn.split(marker, 1)[1]
            return key if any(s["key"] == key for s in _STANDARDS) else None
    return None


def subscription_arn(key: str, region: str, account: str) -> str:
    return f"arn:aws:securityhub:{region}:{account}:subscription/{key}"


class SecurityHubError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class StandardsStore:
    """Enabled standards per (account, region), valid for one hub 'life' (moto's `enabled_at` stamp):
    disabling Security Hub (through moto) drops them, as AWS does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def _get(self, account: str, region: str, stamp: str | None) -> dict[str, str]:
        cur = self._data.get((account, region))
        if cur is None or cur[0] != stamp:
            cur = (stamp, {})
            self._data[(account, region)] = cur
        return cur[1]

    def enable(self, account: str, region: str, stamp: str | None, keys: Iterable[str]) -> list[str]:
        with self._lock:
            subs = self._get(account, region, stamp)
            for key in keys:
                subs.setdefault(key, subscription_arn(key, region, account))
            return list(keys)

    def disable(self, account: str, region: str, stamp: str | None, keys: Iterable[str]) -> None:
        with self._lock:
            subs = self._get(account, region, stamp)
            for key in keys:
                subs.pop(key, None)

    def enabled(self, account: str, region: str, stamp: str | None) -> list[str]:
        with self._lock:
            return list(self._get(account, region, stamp))


def _sub_item(key: str, region: str, account: str, status: str) -> dict[str, Any]:
    return {
        "StandardsSubscriptionArn": subscription_arn(key, region, account),
        "StandardsArn": standards_arn(key, region),
        "StandardsInput": {},
        "StandardsStatus": status,
        "StandardsControlsUpdatable": "READY_FOR_UPDATES",
    }


def _page(items: list[Any], body: dict[str, Any], limit_max: int, ctx: str) -> tuple[list[Any], str | None]:
    limit = body.get("MaxResults")
    if limit is not None and (not isinstance(limit, int) or limit < 1 or limit > limit_max):
        raise SecurityHubError("InvalidInputException", f"MaxResults must be between 1 and {limit_max}.")
    limit = limit or limit_max
    start = 0
    if body.get("NextToken"):
        try:
            start = _decode_token(body["NextToken"], ctx)[0]
        except SsmError:
            raise SecurityHubError("InvalidInputException", "The NextToken is not valid.") from None
    page = items[start:start + limit]
    return page, (_encode_token(start + limit, ctx) if start + limit < len(items) else None)


def securityhub_standards(
    method: str,
    path: str,
    query: dict[str, str],
    body: dict[str, Any],
    account: str,
    region: str,
    hub: Any,  # moto's SecurityHubBackend for (account, region)
    store: StandardsStore,
) -> dict[str, Any] | None:
    """Answer DescribeStandards / GetEnabledStandards / BatchEnableStandards / BatchDisableStandards,
    or return None when the request is not one of them."""
    path = path.rstrip("/")
    if method == "GET" and path == "/standards":
        items = [
            {
                "StandardsArn": standards_arn(s["key"], region),
                "Name": s["Name"],
                "Description": s["Description"],
                "EnabledByDefault": s["EnabledByDefault"],
                "StandardsManagedBy": {"Company": "AWS", "Product": "Security Hub"},
            }
            for s in _STANDARDS
        ]
        q = {"MaxResults": int(query["MaxResults"]) if query.get("MaxResults", "").isdigit() else None,
             "NextToken": query.get("NextToken")}
        page, token = _page(items, q, 100, f"std/{region}")
        out: dict[str, Any] = {"Standards": page}
        if token:
            out["NextToken"] = token
        return out
    if method != "POST" or path not in ("/standards/get", "/standards/register", "/standards/deregister"):
        return None
    if not getattr(hub, "enabled", False):
        raise SecurityHubError("InvalidAccessException",
                               f"Account {account} is not subscribed to AWS Security Hub", 401)
    stamp = getattr(hub, "enabled_at", None)
    if path == "/standards/get":
        keys = store.enabled(account, region, stamp)
        wanted = body.get("StandardsSubscriptionArns")
        items = [_sub_item(k, region, account, "READY") for k in keys]
        if wanted:
            items = [i for i in items if i["StandardsSubscriptionArn"] in set(wanted)]
        page, token = _page(items, body, 100, f"sub/{account}/{region}")
        out = {"StandardsSubscriptions": page}
        if token:
            out["NextToken"] = token
        return out
    if path == "/standards/register":
        reqs = body.get("StandardsSubscriptionRequests") or []
        if not reqs:
            raise SecurityHubError("InvalidInputException", "StandardsSubscriptionRequests must not be empty.")
        keys = []
        for r in reqs:
            key = standards_key(r.get("StandardsArn", ""))
            if key is None:
                raise SecurityHubError("InvalidInputException", f"Invalid StandardsArn: {r.get('StandardsArn')}")
            keys.append(key)
        store.enable(account, region, stamp, keys)
        return {"StandardsSubscriptions": [_sub_item(k, region, account, "PENDING") for k in keys]}
    # deregister
    arns = body.get("StandardsSubscriptionArns") or []
    if not arns:
        raise SecurityHubError("InvalidInputException", "StandardsSubscriptionArns must not be empty.")
    enabled = set(store.enabled(account, region, stamp))
    keys = []
    for arn in arns:
        key = arn.split(":subscription/", 1)[1] if ":subscription/" in arn else None
        if key is None or key not in enabled or subscription_arn(key, region, account) != arn:
            raise SecurityHubError("ResourceNotFoundException", f"Subscription {arn} not found.", 404)
        keys.append(key)
    store.disable(account, region, stamp, keys)
    return {"StandardsSubscriptions": [_sub_item(k, region, account, "DELETING") for k in keys]}


def now() -> float:
    return time.time()


# --------------------------------------------------------------------------------------------------------------
# Realism (issue 15): per-call latency with jitter, and AWS's per-account request-rate limits as token buckets
# --------------------------------------------------------------------------------------------------------------


def latency_for(seed: int, latency_ms: float, jitter_ms: float, key: str, nth: int) -> float:
    """The delay (ms) of the `nth` request with this `key` ("account/region/service/action"): `latency_ms` plus a jitter
    drawn uniformly from [-jitter_ms, +jitter_ms] (never below 0), a pure function of (seed, key, nth), so a run
    repeats its delays whatever order its threads reach the server in; the mean stays `latency_ms`."""
    if latency_ms <= 0 and jitter_ms <= 0:
        return 0.0
    if jitter_ms <= 0:
        return float(latency_ms)
    u = zlib.crc32(f"mdc-aws-latency/{seed}/{key}/{nth}".encode()) / 0xFFFFFFFF  # 0..1
    return max(0.0, latency_ms + (2.0 * u - 1.0) * jitter_ms)


@dataclass(frozen=True)
class RateLimit:
    """One token bucket: `capacity` tokens, refilled continuously at `refill_per_s`; one request takes one token.
    A quota published as "N transactions per second" is a bucket of N refilled at N/s."""

    capacity: float
    refill_per_s: float
    source: str  # where the figure comes from, or "assumed"

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and refill_per_s > 0")


_EC2_THROTTLING = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
_IAM_STS_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
_SSM_QUOTAS = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"

# The buckets, by family name. EC2 evaluates each API on its own bucket ("ec2:<Action>"); the other services here have
# one bucket per family. Figures without a published source are marked "assumed" (see docs: FIDELITY).
RATE_LIMITS: dict[str, RateLimit] = {
    # EC2: "non-mutating" actions (Describe*, Get*, List*, Search*): 100 tokens, 20 per second, per API, per account
    # and Region (Request throttling for the Amazon EC2 API)
    "ec2:non-mutating": RateLimit(100, 20, _EC2_THROTTLING),
    # EC2 mutating actions: recalled from the same page's table (50 tokens, 5 per second); not checked: assumed
    "ec2:mutating": RateLimit(50, 5, "assumed"),
    # STS: 600 requests per second per account per Region (IAM and AWS STS quotas)
    "sts": RateLimit(600, 600, _IAM_STS_QUOTAS),
    # SSM Parameter Store's default throughput: 40 TPS shared by GetParameter, GetParameters, GetParametersByPath
    "ssm:parameter-store": RateLimit(40, 40, _SSM_QUOTAS),
    # SSM DescribeInstanceInformation and the other SSM APIs: no figure found: assumed
    "ssm:DescribeInstanceInformation": RateLimit(40, 20, "assumed"),
    "ssm": RateLimit(40, 20, "assumed"),
    # global services: one bucket per account (region "global"); no figure found: assumed
    "iam": RateLimit(20, 10, "assumed"),
    "organizations": RateLimit(20, 10, "assumed"),
    "cloudformation": RateLimit(20, 10, "assumed"),
    "securityhub": RateLimit(30, 10, "assumed"),
    # any other service
    "default": RateLimit(50, 20, "assumed"),
}

_EC2_READ_PREFIXES = ("Describe", "Get", "List", "Search")
_PARAMETER_STORE_READS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath"})
# The code AWS answers a throttled call with when it is not the protocol's usual one (_FAULT_SHAPES "throttle").
_THROTTLE_CODES = {"organizations": "TooManyRequestsException"}


def rate_family(service: str, action: str) -> tuple[str, str]:
    """(family, key of RATE_LIMITS) of a request. The family names the bucket within an account and region."""
    service = (service or "").lower()
    if service == "ec2":
        kind = "ec2:non-mutating" if action.startswith(_EC2_READ_PREFIXES) else "ec2:mutating"
        return f"ec2:{action or '?'}", kind
    if service == "ssm":
        if action in _PARAMETER_STORE_READS:
            return "ssm:parameter-store", "ssm:parameter-store"
        if action == "DescribeInstanceInformation":
            return "ssm:DescribeInstanceInformation", "ssm:DescribeInstanceInformation"
        return "ssm", "ssm"
    if service in RATE_LIMITS:
        return service, service
    return service or "unknown", "default"


def throttle_response(protocol: str, service: str) -> WsgiResponse:
    """The answer AWS gives a call over its rate limit, in the protocol's own shape."""
    status, code, message = _FAULT_SHAPES["throttle"][protocol]
    code = _THROTTLE_CODES.get(service, code)
    return error_response(protocol, service, status, code, message)


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    requests: int = 0
    throttled: int = 0


class AwsRateLimits:
    """Token buckets per (account, region, family), off unless `enabled`. Counts requests and throttled answers per
    bucket whether on or off (the work a client did, and the throttling it caused).

    limits: RATE_LIMITS with some entries replaced (tests use small buckets); clock: seconds, monotonic."""

    def __init__(self, enabled: bool = False, limits: dict[str, RateLimit] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.limits = {**RATE_LIMITS, **(limits or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def take(self, account: str, region: str, service: str, action: str) -> tuple[str, bool]:
        """(family, allowed): count the request; when enabled, take a token or say it is throttled."""
        family, kind = rate_family(service, action)
        limit = self.limits.get(kind) or self.limits["default"]
        if service in GLOBAL_SERVICES:
            region = "global"
        now = self._clock()
        with self._lock:
            key = (account, region, family)
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(float(limit.capacity), now)
            b.requests += 1
            if not self.enabled:
                return family, True
            b.tokens = min(float(limit.capacity), b.tokens + (now - b.stamp) * limit.refill_per_s)
            b.stamp = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return family, True
            b.throttled += 1
            return family, False

    def reset(self) -> None:
        """Full buckets and zero counters."""
        with self._lock:
            self._buckets.clear()

    def snapshot(self) -> dict[str, Any]:
        """What a benchmark reads: every bucket's counters, totals per family, and the limits in force."""
        with self._lock:
            counts = [(a, r, f, b.requests, b.throttled) for (a, r, f), b in sorted(self._buckets.items())]
        families: dict[str, dict[str, int]] = {}
        for _, _, fam, requests, throttled in counts:
            tot = families.setdefault(fam, {"requests": 0, "throttled": 0})
            tot["requests"] += requests
            tot["throttled"] += throttled
        rows = [{"account": a, "region": r, "family": f, "requests": n, "throttled": t} for a, r, f, n, t in counts]
        return {
            "enabled": self.enabled,
            "requests": sum(c[3] for c in counts),
            "throttled": sum(c[4] for c in counts),
            "families": families,
            "buckets": rows,
            "limits": {k: asdict(v) for k, v in self.limits.items()},
        }


class RealismCalls:
    """What each call was given while realism is on (issue 15; the AWS fan-out benchmark's floor is computed from it):
    one record per request, (arrival epoch seconds, account, bucket region ("global" for a global service), service,
    action, rate-limit family, the latency it was given in ms, throttled?, target account: for sts:AssumeRole* the
    account of the role, else ""). Bounded (the oldest go first), cleared with the rate-limit counters; nothing is
    recorded while latency and rate limits are both off (the demo's default costs nothing)."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[float, str, str, str, str, str, float, bool, str]] = deque(maxlen=maxlen)

    def add(self, req: Any, family: str, delay_ms: float, throttled: bool) -> None:
        service = str(getattr(req, "service", "") or "")
        action = str(getattr(req, "action", "") or "")
        region = "global" if service in GLOBAL_SERVICES else str(getattr(req, "region", "") or "")
        target = ""
        if service == "sts" and action.startswith("AssumeRole"):
            form = getattr(req, "form", None) or {}
            query = getattr(req, "query", None) or {}
            arn = str(form.get("RoleArn") or query.get("RoleArn") or "")
            parts = arn.split(":")
            target = parts[4] if len(parts) > 4 else ""
        item = (time.time(), str(getattr(req, "account", "") or ""), region, service, action, family,
                round(float(delay_ms), 3), bool(throttled), target)
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> dict[str, Any]:
        """{"fields": [...], "calls": [[...], ...]} (rows, not objects: a large estate's refresh has thousands)."""
        with self._lock:
            rows = [list(x) for x in self._items]
        return {"fields": ["t", "account", "region", "service", "action", "family", "delay_ms", "throttled", "target"],
                "calls": rows}
