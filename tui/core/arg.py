"""Azure Resource Graph (ARG) through azure.mgmt.resourcegraph.aio, plus the ARM plumbing shared with azure.py.

Every KQL query is a named constant next to its row parser. Parsers are pure functions (dict -> model | None):
they never raise, treat missing fields as None, coerce numbers given as strings and compare ids
case-insensitively (ARG lower-cases ids; connector ids are lower-cased here and must be on the other side too).
A value (standard, control, connector id, severity, status) reaches KQL only through `kql_format`: one pass over
`{name}` placeholders, each filled with an escaped string literal (`kql_string`), never a chain of replaces.

`ResourceGraph.query` does what the SDK does not: it loops on `$skipToken`, batches subscriptions
(Microsoft's guidance: < 300 per query), reads `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`
on every response and paces every request to the quota (QuotaPacer: each window used to its last request, never
one past it), and turns errors into one-line
SourceErrors. azure-core's retry policy still handles 429/5xx (it honours Retry-After; a small policy of ours
turns the quota reset into a Retry-After when Azure sends none).

Never imports textual, rich or tui.emulator; azure.* is imported lazily.
"""
from __future__ import annotations

import asyncio
import functools
import json
import sys
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping, Sequence, overload
from urllib.parse import urlparse

from .errors import AuthError, SourceError
from .model import (
    ArcMachine,
    ComplianceControl,
    ComplianceStandard,
    Recommendation,
    RecommendationCount,
    SEVERITIES,
)

if TYPE_CHECKING:  # pragma: no cover
    from .config import AzureSettings

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000  # ARG's hard cap on $top
MAX_BATCH = 300  # Microsoft's guidance for subscriptions per query
TRANSPORT_RETRIES = 2  # re-sends of a query page after a dropped connection
MAX_PAGES = 100_000  # a runaway-paging guard (100M rows)
MAX_QUOTA_WAIT_S = 60.0  # never sleep longer than this on a (possibly bogus) quota header
SUBSCRIPTION_CONCURRENCY = 8  # bounded fan-out for per-subscription ARM calls (azure.py)

Progress = Callable[[int, int, "int | None"], Any]  # (pages fetched, rows so far, total rows if known)


# ---------------------------------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------------------------------


def _s(v: Any) -> str | None:
    """A non-empty string (numbers are stringified), else None. ARG's tostring(null) is "" -> None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return str(int(v)) if v.is_integer() else str(v)
    return None


def _int(v: Any) -> int | None:
    """A non-negative integer from an int, an integral float or a numeric string; else None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and v.is_integer() and v >= 0 else None
    if isinstance(v, str):
        t = v.strip()
        try:
            f = float(t)
        except ValueError:
            return None
        return int(f) if math.isfinite(f) and f.is_integer() and f >= 0 else None
    return None


class _Row:
    """Column lookup on one row: exact names first, then case-insensitively (built once, only if needed).
    Empty strings count as missing (ARG's tostring(null) is "")."""

    __slots__ = ("row", "_low")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row
        self._low: dict[str, Any] | None = None

    def get(self, *keys: str) -> Any:
        row = self.row
        for k in keys:
            v = row.get(k)
            if v is not None and not (isinstance(v, str) and v == ""):
                return v
        if self._low is None:
            self._low = {str(k).lower(): v for k, v in row.items()}
        for k in keys:
            v = self._low.get(k.lower())
            if v is not None and not (isinstance(v, str) and v == ""):
                return v
        return None


def _canon(v: Any, allowed: Iterable[str]) -> str | None:
    """Case-normalise v onto one of `allowed` ("high" -> "High"); other non-empty strings pass through."""
    s = _s(v)
    if s is None:
        return None
    for a in allowed:
        if s.lower() == a.lower():
            return a
    return s


STATUS_CODES = ("Healthy", "Unhealthy", "NotApplicable")
_ID_SUB = re.compile(r"/subscriptions/([^/]+)", re.I)
_ID_RG = re.compile(r"/resourcegroups/([^/]+)", re.I)
_ID_ASSESSMENT = re.compile(r"/providers/microsoft\.security/assessments/([^/]+)", re.I)
_ID_ENTITY = re.compile(r"/securityentitydata/([^/]+)", re.I)
_AWS_REGION_TAIL = re.compile(r"-([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})$")
_AWS_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):", re.I)


def subscription_of(resource_id: Any) -> str | None:
    """The (lower-case) subscription id inside an ARM id."""
    if not isinstance(resource_id, str):
        return None
    m = _ID_SUB.search(resource_id)
    return m.group(1).lower() if m else None


def resource_group_of(resource_id: Any) -> str | None:
    if not isinstance(resource_id, str):
        return None
    m = _ID_RG.search(resource_id)
    return m.group(1) if m else None


def connector_id_of(resource_id: Any) -> str | None:
    """The lower-case security-connector id that owns an AWS entity/assessment id (the part before
    /securityentitydata/)."""
    if not isinstance(resource_id, str):
        return None
    low = resource_id.lower()
    i = low.find("/securityentitydata/")
    if i <= 0:
        return None
    return low[:i]


def aws_region_of(resource_id: Any) -> str | None:
    """The AWS region at the end of a securityentitydata name (`aws-ec2-instance-i-0abc-us-east-1`), if any."""
    if not isinstance(resource_id, str):
        return None
    m = _ID_ENTITY.search(resource_id)
    if not m:
        return None
    r = _AWS_REGION_TAIL.search(m.group(1).lower())
    return r.group(1) if r else None


def aws_account_of_arn(arn: Any) -> str | None:
    if not isinstance(arn, str):
        return None
    m = _AWS_ACCOUNT_IN_ARN.match(arn.strip())
    return m.group(1) if m else None


def aws_account(v: Any) -> str | None:
    """An AWS account id: 12 digits (an int loses leading zeros in JSON: pad it back)."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**12:
        return f"{v:012d}"
    return _s(v)


# What a single-quoted KQL string literal may not hold raw (Kusto's grammar, KqlTokens.g4: any character but
# ' \\ CR LF, or an escape sequence); each becomes its escape, which Kusto and duckdb-kql decode alike.
_KQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r"}
_KQL_ESCAPE_RE = re.compile("[\\\\'\n\r]")


def kql_string(value: str) -> str:
    """A KQL string literal holding exactly `value`: single-quoted, with backslash escapes for the four characters
    the form cannot hold raw (backslash, single quote, CR, LF). Nothing else is special inside it (double quotes,
    braces, `|`, `//`, KQL keywords and any other Unicode stay as they are), so it cannot end early or inject KQL.
    """
    if not isinstance(value, str):
        raise TypeError(f"a KQL string literal needs a str, not {type(value).__name__}")
    return "'" + _KQL_ESCAPE_RE.sub(lambda m: _KQL_ESCAPES[m.group()], value) + "'"


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def kql_format(template: str, **values: str) -> str:
    """`template` with every `{name}` replaced by kql_string(values[name]), in ONE pass over the template: a value
    is never scanned again, so a value spelling `{other}` stays a literal. A placeholder without a value, or a
    value without a placeholder, is an error (a typo must not silently drop a filter)."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - values.keys())
    if missing:
        raise ValueError(f"no value for KQL placeholder(s) {', '.join(missing)}")
    literals = {k: kql_string(v) for k, v in values.items()}
    used: set[str] = set()

    def fill(m: re.Match[str]) -> str:
        used.add(m.group(1))
        return literals[m.group(1)]

    out = _PLACEHOLDER.sub(fill, template)
    unused = sorted(values.keys() - used)
    if unused:
        raise ValueError(f"KQL template has no placeholder for {', '.join(unused)}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Queries and their row parsers
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionInfo:
    """A row of SUBSCRIPTIONS_QUERY."""

    subscription_id: str  # lower-case GUID
    name: str | None
    tenant_id: str | None
    state: str | None  # Enabled | Warned | PastDue | Disabled | Deleted


# Tenant scope (no subscriptions in the request): every subscription the caller can see.
SUBSCRIPTIONS_QUERY = """resourcecontainers
| where type == 'microsoft.resources/subscriptions'
| project id, subscriptionId, name, tenantId, state = tostring(properties.state)"""

# Subscriptions in these states cannot be read; every other state (Enabled, Warned, PastDue) can.
UNREADABLE_SUBSCRIPTION_STATES = frozenset({"disabled", "deleted"})


def parse_subscription(row: Any) -> SubscriptionInfo | None:
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        sub = _s(r.get("subscriptionId")) or subscription_of(row.get("id"))
        if not sub:
            return None
        return SubscriptionInfo(
            subscription_id=sub.lower(),
            name=_s(r.get("name", "displayName")),
            tenant_id=_s(r.get("tenantId")),
            state=_s(r.get("state")),
        )
    except Exception:  # noqa: BLE001 - a parser never raises
        return None


# Azure Arc machines of EC2 instances: those MDC made (named by instance id, tagged AccountId / InstanceId /
# MDFCSecurityConnector by the Servers plan) and those installed by hand or by the Arc multicloud connector (no MDC
# tags: found by cloudMetadata.provider "AWS" and matched to their EC2 instance by computer name in derive.py).
# Projects `id`, so it pages.
ARC_MACHINES_QUERY = """resources
| where type =~ 'microsoft.hybridcompute/machines'
| where tostring(tags['MDFCSecurityConnector']) =~ 'true' or tostring(properties.cloudMetadata.provider) =~ 'AWS'
    or isnotempty(tostring(tags['InstanceId']))
| project id, name, subscriptionId, resourceGroup,
    status = tostring(properties.status),
    accountId = tostring(tags['AccountId']),
    instanceId = tostring(tags['InstanceId']),
    connector = tostring(tags['MDFCSecurityConnector']),
    lastStatusChange = tostring(properties.lastStatusChange),
    osName = tostring(properties.osName),
    computerName = tostring(properties.osProfile.computerName),
    machineFqdn = tostring(properties.machineFqdn),
    cloudProvider = tostring(properties.cloudMetadata.provider)"""


def parse_arc_machine(row: Any) -> ArcMachine | None:
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        rid = _s(r.get("id"))
        name = _s(r.get("name"))
        if not rid or not name:
            return None
        sub = _s(r.get("subscriptionId")) or subscription_of(rid)
        rg = _s(r.get("resourceGroup")) or resource_group_of(rid)
        if not sub or not rg:
            return None
        tag_iid = _s(r.get("instanceId", "InstanceId"))
        return ArcMachine(
            id=rid,
            name=name,
            subscription_id=sub.lower(),
            resource_group=rg,
            status=_s(r.get("status")) or "Unknown",
            aws_account_id=aws_account(r.get("accountId", "AccountId")),
            instance_id=tag_iid or name,
            connector=_s(r.get("connector", "MDFCSecurityConnector")),
            last_status_change=_s(r.get("lastStatusChange")),
            os_name=_s(r.get("osName")),
            computer_name=_s(r.get("computerName")),
            fqdn=_s(r.get("machineFqdn", "fqdn")),
            cloud_provider=_s(r.get("cloudProvider")),
            tagged=tag_iid is not None,
        )
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def _rd(key: str) -> str:
    """KQL for the string `properties.resourceDetails.<Key>`: PascalCase as Microsoft's own queries read it (ARG rows
    say `Source`, `Id`, `ConnectorId`, `ResourceType`, `AzureResourceId`), else the camelCase spelling some rows use
    (KQL property names are case-sensitive, so both are read; coalesce skips empty strings)."""
    camel = key[0].lower() + key[1:]
    return f"coalesce(tostring(properties.resourceDetails.{key}), tostring(properties.resourceDetails.{camel}))"


# The AWS filter shared by the assessment queries: ARG rows say `Source` (capital S); accept `source` too.
# connectorId: the security connector that owns the row: the part of the row's id (or of resourceDetails.Id) before
# /securityentitydata/ (what the portal does), else resourceDetails.ConnectorId when it is a connector's ARM id (it
# may be a GUID, which names no connector here); '' when none.
# azureResourceId: for a row without a connector (an AWS finding on an Arc machine, e.g. a legacy classic-connector
# row), resourceDetails.AzureResourceId lower-cased: the Arc machine through which it is attributed to an account.
_AWS_ASSESSMENTS = f"""securityresources
| where type == 'microsoft.security/assessments'
| where tostring(properties.resourceDetails.Source) =~ 'aws' or tostring(properties.resourceDetails.source) =~ 'aws'
| extend lid = tolower(id), rdId = tolower({_rd("Id")}), rdConnector = tolower({_rd("ConnectorId")})
| extend connectorId = iff(lid contains '/securityentitydata/', tostring(split(lid, '/securityentitydata/')[0]),
    iff(rdId contains '/securityentitydata/', tostring(split(rdId, '/securityentitydata/')[0]),
    iff(rdConnector contains '/providers/microsoft.security/securityconnectors/', rdConnector, '')))
| extend azureResourceId = iff(connectorId == '', tolower({_rd("AzureResourceId")}), '')"""

# AWS recommendation counts: ONE row per connector, a column per status x severity, so even 1000 connectors fit in
# one page (ARG pages only queries that project `id`; a summarize result is capped at 1000 rows and cannot page).
# Rows without a connector must not be dropped and must not make the result grow with the estate either: the join
# reads the AccountId tag of the Arc machine each one names (resourceDetails.AzureResourceId), so every row whose
# machine MDC made (all of them carry the tag) collapses into ONE row per AWS account (arcAccount). Only rows whose
# machine has no AccountId tag (installed by hand or by the Arc multicloud connector: matched to EC2 by name here)
# keep a row per machine (azureResourceId): those are few (a hand-made exception, not the estate). Rows whose machine
# no longer exists (a retired classic connector's legacy rows: thousands on a big estate) collapse to one row per
# resource group (the id cut before '/providers/'): the classic connector that onboarded into that group names the
# account (derive.row_account). So the result is bounded by connectors + accounts + untagged machines with findings
# + resource groups, not by findings or machines.
_COUNT_CELLS = tuple((st, sev) for st in STATUS_CODES for sev in SEVERITIES)


def _count_column(status: str, severity: str) -> str:
    return f"{status.lower()}_{severity.lower()}"


RECOMMENDATION_COUNTS_QUERY = (
    _AWS_ASSESSMENTS
    + """
| join kind=leftouter (resources
    | where type =~ 'microsoft.hybridcompute/machines'
    | project azureResourceId = tolower(id), arcAccount = tostring(tags['AccountId']), arcName = name)
    on azureResourceId
| extend arcAccount = iff(connectorId == '', tostring(arcAccount), '')
| extend azureResourceId = iff(isnotempty(arcAccount), '', azureResourceId)
| extend azureResourceId = iff(connectorId == '' and isempty(arcAccount) and isempty(tostring(arcName))
    and isnotempty(azureResourceId), tostring(split(azureResourceId, '/providers/')[0]), azureResourceId)
| extend st = tolower(tostring(properties.status.code)), sev = tolower(tostring(properties.metadata.severity))
| summarize """
    + ",\n    ".join(f"{_count_column(st, sev)} = countif(st == '{st.lower()}' and sev == '{sev.lower()}')"
                     for st, sev in _COUNT_CELLS)
    + """,
    total = count() by connectorId, arcAccount, azureResourceId"""
)


def parse_recommendation_count(row: Any) -> tuple[RecommendationCount, ...] | None:
    """One wide row -> a RecommendationCount per non-zero (severity, status) cell; None if the row is unusable.
    A row without a connector carries the Arc machine's AccountId tag (arcAccount) or, failing that, the machine's
    id (azureResourceId); a row with a connector ignores both."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        cid = _s(r.get("connectorId"))
        cid = cid.lower() if cid else ""
        arc_account = aws_account(r.get("arcAccount")) if not cid else None
        arm = _s(r.get("azureResourceId")) if not cid and not arc_account else None
        arm = arm.lower() if arm else None
        out = []
        seen = False
        for st, sev in _COUNT_CELLS:
            raw = r.get(_count_column(st, sev))
            if raw is None:
                continue
            n = _int(raw)
            if n is None:
                return None
            seen = True
            if n:
                out.append(RecommendationCount(connector_id=cid, severity=sev, status=st, count=n,
                                               arc_account_id=arc_account, azure_resource_id=arm))
        return tuple(out) if seen else None
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


# One row per AWS assessment (recommendation x resource) for a pane or an export. Projects `id`, so it pages.
RECOMMENDATIONS_QUERY = (
    _AWS_ASSESSMENTS
    + """
| project id, assessmentKey = name, connectorId, azureResourceId,
    title = tostring(properties.displayName),
    severity = tostring(properties.metadata.severity),
    status = tostring(properties.status.code),
    resourceName = coalesce(tostring(properties.additionalData.ResourceName), """ + _rd("ResourceName") + """),
    resourceType = """ + _rd("ResourceType") + """,
    resourceProvider = tostring(properties.additionalData.ResourceProvider),
    additionalResourceType = tostring(properties.additionalData.ResourceType),
    region = coalesce(""" + _rd("Region") + """, tostring(properties.additionalData.Region)),
    account = coalesce(""" + _rd("HierarchyId") + """, tostring(properties.additionalData.AccountId)),
    description = tostring(properties.metadata.description),
    remediation = tostring(properties.metadata.remediationDescription)"""
)


def recommendations_query(
    connector_id: str | None = None, severity: str | None = None, status: str | None = None
) -> str:
    """RECOMMENDATIONS_QUERY narrowed to one connector / severity / status (values escaped)."""
    q = RECOMMENDATIONS_QUERY
    if connector_id:
        q += kql_format("\n| where connectorId == {connector}", connector=connector_id.lower())
    if severity:
        q += kql_format("\n| where severity =~ {severity}", severity=severity)
    if status:
        q += kql_format("\n| where status =~ {status}", status=status)
    return q


@overload
def _intern(v: str) -> str: ...
@overload
def _intern(v: None) -> None: ...
def _intern(v: str | None) -> str | None:
    return sys.intern(v) if v else v


def _arc_id(v: Any, connector_id: str) -> str | None:
    """The lower-case AzureResourceId of a row without a connector (a row with one is attributed by it)."""
    if connector_id:
        return None
    s = _s(v)
    return s.lower() if s else None


def parse_recommendation(row: Any) -> Recommendation | None:
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        rid = _s(r.get("id"))
        if not rid:
            return None
        m = _ID_ASSESSMENT.search(rid)
        key = _s(r.get("assessmentKey", "name")) or (m.group(1) if m else None)
        if not key:
            return None
        cid = _s(r.get("connectorId"))
        cid = cid.lower() if cid else (connector_id_of(rid) or "")
        arc_id = _arc_id(r.get("azureResourceId", "AzureResourceId"), cid)
        rtype = _s(r.get("resourceType", "ResourceType"))
        if not rtype:
            prov, sub_t = _s(r.get("resourceProvider")), _s(r.get("additionalResourceType"))
            rtype = f"{prov}/{sub_t}" if prov and sub_t else (sub_t or prov)
        # 100k rows repeat a few hundred titles, texts, connectors and regions: share one copy of each
        return Recommendation(
            id=rid,
            assessment_key=_intern(key),
            title=_intern(_s(r.get("title", "displayName")) or key),
            severity=_canon(r.get("severity"), SEVERITIES) or "Unknown",
            status=_canon(r.get("status"), STATUS_CODES) or "Unknown",
            connector_id=_intern(cid),
            # a resource has one row per control; a row on an Arc machine without a name is named by the machine
            resource_name=_intern(_s(r.get("resourceName")) or (arc_id.rsplit("/", 1)[-1] if arc_id else None)),
            resource_type=_intern(rtype),
            region=_intern(_s(r.get("region")) or aws_region_of(rid)),
            aws_account_id=_intern(aws_account(r.get("account", "accountId", "hierarchyId"))),
            description=_intern(_s(r.get("description"))),
            remediation=_intern(_s(r.get("remediation", "remediationDescription"))),
            azure_resource_id=arc_id,
        )
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


# Regulatory compliance, read as Microsoft's own compliance query reads it (MicrosoftDocs add-data-power-bi.md):
# only rows whose `properties.scope` is missing/empty, "Subscription" or "MultiCloudAggregation" count. Other scopes
# are per-connector copies (ids under a security connector): counting them would count an account twice.
_IN_SCOPE = """| extend rcScope = tostring(properties.scope)
| where isempty(rcScope) or rcScope in~ ('Subscription', 'MultiCloudAggregation')"""

# Subscriptions that host a native AWS security connector: compliance figures are counted there only (a
# subscription without one has no AWS data, so its rows of a shared standard like MCSB are about Azure).
_AWS_CONNECTOR_SUBSCRIPTIONS = """resources
    | where type =~ 'microsoft.security/securityconnectors'
    | where tostring(properties.environmentName) =~ 'AWS'
    | distinct subscriptionId"""

# The standard is the id segment after /regulatoryComplianceStandards/ (exactly as Azure names it: dashes for
# spaces); read from the id, so subscription rows and per-connector copies name it alike.
_STANDARD_OF_ID = "extract(@'(?i)/regulatoryComplianceStandards/([^/]+)', 1, id)"

# In-scope control rows of subscriptions hosting an AWS connector, every standard (which ones are about AWS is
# decided from data, in Python: AWS_STANDARDS_QUERY, COMPLIANCE_ASSIGNMENTS_QUERY).
_COMPLIANCE_CONTROLS = (
    """securityresources
| where type == 'microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols'
"""
    + _IN_SCOPE
    + "\n| join kind=inner (" + _AWS_CONNECTOR_SUBSCRIPTIONS + ") on subscriptionId"
    + "\n| extend standard = " + _STANDARD_OF_ID + ", state = tolower(tostring(properties.state))"
)

# Per (standard, control), case-insensitively: in how many in-scope rows it failed / passed / was unsupported.
_CONTROL_TALLY = (
    _COMPLIANCE_CONTROLS
    + """
| extend standardKey = tolower(standard), control = tolower(tostring(name))
| summarize standard = take_any(standard), failed = countif(state == 'failed'), passed = countif(state == 'passed'),
    unsupported = countif(state == 'unsupported'), n = count() by standardKey, control"""
)

# Per standard (one row each, so far below ARG's 1000-row cap for a query without `id`): a control is Failed if it
# failed in any row, else Passed if it passed in any, else Unsupported if unsupported in every row, else Skipped.
# Used when the subscriptions fit in one ARG batch.
COMPLIANCE_QUERY = (
    _CONTROL_TALLY
    + """
| summarize standard = take_any(standard), passedControls = countif(failed == 0 and passed > 0),
    failedControls = countif(failed > 0),
    unsupportedControls = countif(failed == 0 and passed == 0 and unsupported == n),
    skippedControls = countif(failed == 0 and passed == 0 and unsupported < n) by standardKey"""
)

# The same facts per control, for subscriptions spanning several ARG batches (a control's state must then be
# decided over all of them, in Python: rollup_control_states). Still one row per standard: the controls come as
# sets (a row per control could pass 1000 rows, which ARG cannot page without `id`). '' marks "not in this set"
# (make_set_if is not in every KQL engine we run on).
COMPLIANCE_CONTROL_STATES_QUERY = (
    _CONTROL_TALLY
    + """
| extend failedControl = iff(failed > 0, control, ''), passedControl = iff(passed > 0, control, ''),
    unsupportedControl = iff(unsupported == n, control, '')
| summarize standard = take_any(standard), controls = make_set(control), failedSet = make_set(failedControl),
    passedSet = make_set(passedControl), unsupportedSet = make_set(unsupportedControl) by standardKey"""
)

# Keys of AWS assessments (resourceDetails.Source Aws; ARG rows say `Source`, accept `source` too). A compliance
# assessment is named by the assessment key it stands for.
# Assessment keys with the number of AWS rows and of other rows each names. An AWS key is one ONLY AWS rows use: a
# machine recommendation found on an EC2 instance's Arc machine (Source Aws) shares its key with Azure VMs, and Azure
# standards (Azure CIS, NIST, ISO ...) map that key too; "one shared key" would report them as AWS standards.
_AWS_ASSESSMENT_KEYS = """securityresources
    | where type == 'microsoft.security/assessments'
    | extend src = tolower(iff(isnotempty(tostring(properties.resourceDetails.Source)),
        tostring(properties.resourceDetails.Source), tostring(properties.resourceDetails.source)))
    | summarize aws = countif(src == 'aws'), other = countif(src != 'aws') by assessmentKey = tolower(name)"""
# Marks, in an AWS_ASSESSMENT_KEYS_QUERY key set, a key that non-AWS rows use too (see parse_key_set)
NOT_ONLY_AWS = "!"

_COMPLIANCE_ASSESSMENTS = (
    "securityresources\n"
    "| where type == 'microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/"
    "regulatorycomplianceassessments'\n"
    + _IN_SCOPE
    + "\n| extend standard = " + _STANDARD_OF_ID + ", assessmentKey = tolower(name)"
)

# Standards with >= 1 in-scope compliance assessment that is an AWS assessment: AWS relevance from data, never from
# a standard's name. One row per standard. Exact when the subscriptions fit in one ARG batch (the two rows of a
# match may sit in different subscriptions).
AWS_STANDARDS_QUERY = (
    _COMPLIANCE_ASSESSMENTS
    + "\n| join kind=inner (" + _AWS_ASSESSMENT_KEYS
    + "\n    | where aws > 0 and other == 0 | project assessmentKey) on assessmentKey"
    + "\n| summarize standard = take_any(standard), awsAssessments = dcount(assessmentKey) by standardKey = "
      "tolower(standard)"
)

# The same over several batches, matched in Python (aws_standard_names): the assessment keys of a batch that AWS
# rows use and those other rows use (one row), and every standard's in-scope compliance assessment keys (one row per
# standard). A key is an AWS key when AWS rows use it in some batch and other rows in none.
AWS_ASSESSMENT_KEYS_QUERY = (_AWS_ASSESSMENT_KEYS
                             + "\n| summarize keys = make_set(iff(aws > 0, assessmentKey, '')),"
                               " otherKeys = make_set(iff(other > 0, assessmentKey, ''))")
COMPLIANCE_ASSESSMENT_KEYS_QUERY = (
    _COMPLIANCE_ASSESSMENTS
    + "\n| summarize standard = take_any(standard), keys = make_set(assessmentKey) by standardKey = tolower(standard)"
)

# Standards assigned per AWS account: the per-connector copies of a standard under a native AWS connector's id,
# with that connector's account (hierarchyIdentifier) joined here, so no other section is needed to name it.
# Projects `id` (the copy's), so it pages: one row per (connector, standard) can pass 1000.
COMPLIANCE_ASSIGNMENTS_QUERY = (
    """securityresources
| where type == 'microsoft.security/regulatorycompliancestandards'
| extend lid = tolower(id)
| where lid contains '/providers/microsoft.security/securityconnectors/'
| extend connectorId = tostring(split(lid, '/providers/microsoft.security/regulatorycompliancestandards/')[0])
| join kind=inner (resources
    | where type =~ 'microsoft.security/securityconnectors'
    | where tostring(properties.environmentName) =~ 'AWS'
    | project connectorId = tolower(id), account = tostring(properties.hierarchyIdentifier)) on connectorId
| project id, standard = """
    + _STANDARD_OF_ID
    + ", connectorId, account"
)


_ID_STANDARD = re.compile(r"/regulatorycompliancestandards/([^/]+)", re.I)
_ID_CONNECTOR_COPY = re.compile(r"^(.*/providers/microsoft\.security/securityconnectors/[^/]+)"
                                r"/providers/microsoft\.security/regulatorycompliancestandards/", re.I)


@dataclass(frozen=True)
class ComplianceAssignment:
    """A row of COMPLIANCE_ASSIGNMENTS_QUERY: a standard assigned on one AWS connector."""

    standard: str
    connector_id: str  # lower-case ARM id of the native AWS connector
    aws_account_id: str | None  # the connector's hierarchyIdentifier


def _count_cols(r: _Row, keys: Sequence[str]) -> list[int] | None:
    """Counts of `keys` (missing -> 0); None if one is not a count."""
    out = []
    for key in keys:
        raw = r.get(key)
        n = 0 if raw is None else _int(raw)
        if n is None:
            return None
        out.append(n)
    return out


def parse_compliance_standard(row: Any) -> ComplianceStandard | None:
    """A COMPLIANCE_QUERY row (or a regulatoryComplianceStandards row's counts). Any standard: which ones are about
    AWS is decided by the caller from data."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        name = _s(r.get("standard", "complianceStandard", "name"))
        if not name:
            return None
        counts = _count_cols(r, ("passedControls", "failedControls", "skippedControls", "unsupportedControls"))
        if counts is None:
            return None
        return ComplianceStandard(name=name, passed_controls=counts[0], failed_controls=counts[1],
                                  skipped_controls=counts[2], unsupported_controls=counts[3])
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def parse_standard_name(row: Any) -> str | None:
    """An AWS_STANDARDS_QUERY row -> the standard's name."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        name = _s(r.get("standard", "complianceStandard"))
        if name is None:
            m = _ID_STANDARD.search(_s(r.get("id")) or "")
            name = m.group(1) if m else None
        return name
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def parse_key_set(row: Any) -> frozenset[str] | None:
    """An AWS_ASSESSMENT_KEYS_QUERY row -> the lower-case keys AWS rows use, plus NOT_ONLY_AWS + key for each key
    other rows use (`otherKeys`; absent: none)."""
    try:
        if not isinstance(row, Mapping):
            return None
        keys = _string_set(row.get("keys"))
        if keys is None:
            return None
        other: Iterable[str] | None = _string_set(row.get("otherKeys")) if row.get("otherKeys") is not None else set()
        if other is None:
            return None
        return frozenset({k.lower() for k in keys if k} | {NOT_ONLY_AWS + k.lower() for k in other if k})
    except Exception:  # noqa: BLE001 - a parser of untrusted rows: any odd shape is "no row", never a crash
        return None


def parse_standard_keys(row: Any) -> tuple[str, frozenset[str]] | None:
    """A COMPLIANCE_ASSESSMENT_KEYS_QUERY row -> (standard, its lower-case compliance assessment keys)."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        std, keys = _s(r.get("standard")), _string_set(r.get("keys"))
        return None if not std or keys is None else (std, frozenset(k.lower() for k in keys))
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def aws_standard_names(aws_keys: Iterable[frozenset[str]], standard_keys: Iterable[tuple[str, frozenset[str]]]
                       ) -> list[str]:
    """AWS_STANDARDS_QUERY done in Python over the rows of several batches: the standards with a compliance
    assessment whose key is an AWS assessment's, in any subscription."""
    seen = frozenset().union(*aws_keys)
    shared = {k[len(NOT_ONLY_AWS):] for k in seen if k.startswith(NOT_ONLY_AWS)}
    keys = {k for k in seen if not k.startswith(NOT_ONLY_AWS)} - shared
    return [std for std, ks in standard_keys if not keys.isdisjoint(ks)]


def parse_compliance_assignment(row: Any) -> ComplianceAssignment | None:
    """A COMPLIANCE_ASSIGNMENTS_QUERY row (standard and connector read from the copy's id when not projected)."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        rid = _s(r.get("id")) or ""
        std = _s(r.get("standard"))
        if std is None:
            m = _ID_STANDARD.search(rid)
            std = m.group(1) if m else None
        cid = _s(r.get("connectorId"))
        if cid is None:
            m = _ID_CONNECTOR_COPY.match(rid)
            cid = m.group(1) if m else None
        if not std or not cid:
            return None
        return ComplianceAssignment(std, cid.lower(), aws_account(r.get("account", "hierarchyIdentifier")))
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


@dataclass(frozen=True)
class ControlState:
    """One control's in-scope rows of one batch (or a row of one): where it failed / passed / was unsupported."""

    standard: str
    control: str
    failed: int  # rows (subscriptions) where the control failed
    passed: int
    unsupported: int = 0  # rows where it was unsupported
    rows: int = 0  # rows in all (0: not known; never Unsupported then)


def _string_set(v: Any) -> list[str] | None:
    """A make_set() column: a JSON array (or its text); '' entries (our "not in the set") dropped. None if neither."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if not isinstance(v, list):
        return None
    return [s for s in (_s(x) for x in v if not isinstance(x, (list, dict))) if s]


def parse_control_states(row: Any) -> tuple[ControlState, ...] | None:
    """A COMPLIANCE_CONTROL_STATES_QUERY row (one standard of one batch) -> a ControlState per control."""
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        std = _s(r.get("standard"))
        controls, failed, passed, unsupported = (_string_set(r.get(k)) for k in
                                                 ("controls", "failedSet", "passedSet", "unsupportedSet"))
        if not std or controls is None or failed is None or passed is None or unsupported is None:
            return None
        failed_, passed_, unsupported_ = ({c.lower() for c in x} for x in (failed, passed, unsupported))
        seen: set[str] = set()
        out = []
        for c in controls:
            k = c.lower()
            if k not in seen:
                seen.add(k)
                out.append(ControlState(std, c, int(k in failed_), int(k in passed_), int(k in unsupported_), 1))
        return tuple(out)
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def rollup_control_states(states: Iterable[ControlState]) -> list[ComplianceStandard]:
    """The COMPLIANCE_QUERY rollup done in Python over control states from several batches: per (standard, control),
    case-insensitively, Failed if failed anywhere, else Passed if passed anywhere, else Unsupported if unsupported
    in every row, else Skipped. The first spelling of a standard seen is kept."""
    names: dict[str, str] = {}
    acc: dict[tuple[str, str], list[int]] = {}
    for st in states:
        sk = st.standard.lower()
        names.setdefault(sk, st.standard)
        a = acc.setdefault((sk, st.control.lower()), [0, 0, 0, 0])
        a[0] += st.failed
        a[1] += st.passed
        a[2] += st.unsupported
        a[3] += st.rows
    per: dict[str, list[int]] = {}  # passed, failed, skipped, unsupported
    for (sk, _ctl), (failed, passed, unsupported, rows) in acc.items():
        p = per.setdefault(sk, [0, 0, 0, 0])
        if failed > 0:
            p[1] += 1
        elif passed > 0:
            p[0] += 1
        elif rows > 0 and unsupported >= rows:
            p[3] += 1
        else:
            p[2] += 1
    return [ComplianceStandard(names[sk], p[0], p[1], p[2], p[3]) for sk, p in sorted(per.items())]


def aws_compliance(counted: Iterable[ComplianceStandard], aws_names: Iterable[str],
                   assignments: Iterable[ComplianceAssignment]) -> tuple[tuple[ComplianceStandard, ...],
                                                                         dict[str, tuple[str, ...]]]:
    """The AWS standards and the standards of each AWS account, from the three compliance queries' rows.

    A standard is about AWS when it has an AWS assessment (`aws_names`) or a copy under an AWS connector
    (`assignments`); never by its name. Its counts are those of `counted` (each standard once: COMPLIANCE_QUERY rows
    of one batch, or rollup_control_states over several), zeros when it has no in-scope control row in a
    subscription with an AWS connector. One spelling per standard: the counted one, else the first seen. Accounts
    map to their sorted standards."""
    spelled: dict[str, str] = {}
    by_key: dict[str, ComplianceStandard] = {}
    for s in counted:
        k = s.name.lower()
        if k not in by_key:
            by_key[k] = s
            spelled[k] = s.name
    aws: set[str] = set()
    for n in aws_names:
        aws.add(n.lower())
        spelled.setdefault(n.lower(), n)
    per_account: dict[str, set[str]] = {}
    for a in assignments:
        k = a.standard.lower()
        aws.add(k)
        spelled.setdefault(k, a.standard)
        if a.aws_account_id:
            per_account.setdefault(a.aws_account_id, set()).add(k)
    standards = tuple(by_key.get(k) or ComplianceStandard(spelled[k], 0, 0, 0, 0) for k in sorted(aws))
    assigned = {acct: tuple(sorted(spelled[k] for k in keys)) for acct, keys in sorted(per_account.items())}
    return standards, assigned


# Controls of one standard, merged over subscriptions (the state is decided by parse_compliance_control): the same
# rows the standard's counts are made of (in scope, subscriptions with an AWS connector).
# `{standard}` becomes an escaped KQL literal: use compliance_controls_query() (kql_format, one pass).
COMPLIANCE_CONTROLS_QUERY = (
    _COMPLIANCE_CONTROLS
    + """
| where standard =~ {standard}
| summarize subscriptions = count(), failedIn = countif(state == 'failed'), passedIn = countif(state == 'passed'),
    unsupportedIn = countif(state == 'unsupported'),
    passedAssessments = sum(tolong(properties.passedAssessments)),
    failedAssessments = sum(tolong(properties.failedAssessments)),
    skippedAssessments = sum(tolong(properties.skippedAssessments))
    by standard, control = tostring(name), description = tostring(properties.description)"""
)


def compliance_controls_query(standard: str) -> str:
    return kql_format(COMPLIANCE_CONTROLS_QUERY, standard=standard)


# The failing compliance assessments of every standard, one row per (subscription, standard, control, assessment):
# in scope only (NOTES §11: scope empty, Subscription or MultiCloudAggregation; per-connector copies would
# double-count), projected with `id` so Resource Graph can page it. The caller keeps the subscriptions that host an
# AWS connector and the AWS standards (failing_pairs), as the drill-down's query does (
# COMPLIANCE_FAILING_ASSESSMENTS_QUERY, one control at a time: one query here instead of one per failing control).
FAILING_PAIRS_QUERY = (
    "securityresources\n"
    "| where type == 'microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/"
    "regulatorycomplianceassessments'\n"
    + _IN_SCOPE
    + """
| where tostring(properties.state) =~ 'failed'
| extend standard = extract(@'(?i)/regulatoryComplianceStandards/([^/]+)/', 1, id),
    control = extract(@'(?i)/regulatoryComplianceControls/([^/]+)/', 1, id)
| project id, subscriptionId, standard, control, assessmentKey = tolower(name)"""
)


# The recommendations (assessment keys) failing under one control of a standard: the drill-down from a control to
# its failing resources. Regulatory compliance assessments are named by the assessment key. In scope, and in
# subscriptions with an AWS connector, like the counts.
COMPLIANCE_FAILING_ASSESSMENTS_QUERY = (
    "securityresources\n"
    "| where type == 'microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/"
    "regulatorycomplianceassessments'\n"
    + _IN_SCOPE
    + "\n| join kind=inner (" + _AWS_CONNECTOR_SUBSCRIPTIONS + ") on subscriptionId"
    + """
| extend standard = extract(@'(?i)/regulatoryComplianceStandards/([^/]+)/', 1, id),
    control = extract(@'(?i)/regulatoryComplianceControls/([^/]+)/', 1, id)
| where standard =~ {standard} and control =~ {control} and tostring(properties.state) =~ 'failed'
| summarize failedResources = sum(tolong(properties.failedResources)) by assessmentKey = tolower(name)"""
)


def compliance_failing_assessments_query(standard: str, control: str) -> str:
    return kql_format(COMPLIANCE_FAILING_ASSESSMENTS_QUERY, standard=standard, control=control)


def parse_failing_assessment(row: Any) -> str | None:
    try:
        key = _s(row.get("assessmentKey")) if isinstance(row, Mapping) else None
        return key.lower() if key else None
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


def _control_state(r: _Row) -> str | None:
    failed, passed = _int(r.get("failedIn")), _int(r.get("passedIn"))
    if failed is None and passed is None:  # a row that carries its state directly
        return _canon(r.get("state"), ("Passed", "Failed", "Skipped", "Unsupported"))
    total, unsupported = _int(r.get("subscriptions")), _int(r.get("unsupportedIn")) or 0
    if failed:
        return "Failed"
    if passed:
        return "Passed"
    if unsupported and total is not None and unsupported >= total:
        return "Unsupported"
    return "Skipped"


def parse_compliance_control(row: Any) -> ComplianceControl | None:
    try:
        if not isinstance(row, Mapping):
            return None
        r = _Row(row)
        std, ctl = _s(r.get("standard", "standardName")), _s(r.get("control", "name"))
        if not std or not ctl:
            return None
        state = _control_state(r)
        if state is None:
            return None
        return ComplianceControl(
            standard=std,
            name=ctl,
            description=_s(r.get("description")),
            state=state,
            passed_assessments=_int(r.get("passedAssessments")) or 0,
            failed_assessments=_int(r.get("failedAssessments")) or 0,
            skipped_assessments=_int(r.get("skippedAssessments")) or 0,
        )
    except Exception:  # noqa: BLE001 - a row Resource Graph shaped otherwise is skipped, never breaks the section
        return None


_STATE_RANK = {"Failed": 3, "Passed": 2, "Skipped": 1, "Unsupported": 0}


def merge_controls(controls: Iterable[ComplianceControl]) -> list[ComplianceControl]:
    """Merge control rows of the same (standard, control) from several batches: failed anywhere wins, then
    passed, then skipped, then unsupported (only if unsupported everywhere); assessment counts add up."""
    out: dict[tuple[str, str], ComplianceControl] = {}
    for c in controls:
        k = (c.standard.lower(), c.name.lower())
        prev = out.get(k)
        if prev is None:
            out[k] = c
            continue
        state = max((prev.state, c.state), key=lambda s: _STATE_RANK.get(s, 1))
        out[k] = ComplianceControl(
            standard=prev.standard,
            name=prev.name,
            description=prev.description or c.description,
            state=state,
            passed_assessments=prev.passed_assessments + c.passed_assessments,
            failed_assessments=prev.failed_assessments + c.failed_assessments,
            skipped_assessments=prev.skipped_assessments + c.skipped_assessments,
        )
    return list(out.values())


def parse_rows(rows: Iterable[Any], parser: Callable[[Any], Any]) -> tuple[list[Any], int]:
    """(parsed models, number of rows the parser rejected)."""
    out, bad = [], 0
    for r in rows:
        m = parser(r)
        if m is None:
            bad += 1
        else:
            out.append(m)
    return out, bad


# ---------------------------------------------------------------------------------------------------------------
# ARM plumbing shared with azure.py: client options, one-line errors
# ---------------------------------------------------------------------------------------------------------------

_SOVEREIGN_SCOPES = {
    ".usgovcloudapi.net": "https://management.usgovcloudapi.net/.default",
    ".chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
}


def endpoint_of(settings: "AzureSettings") -> str:
    return (settings.arm_endpoint or "https://management.azure.com").rstrip("/")


def client_kwargs(settings: "AzureSettings", **overrides: Any) -> dict[str, Any]:
    """Options for every azure-mgmt client: endpoint, CA bundle, a deliberate retry policy, timeouts."""
    endpoint = endpoint_of(settings)
    kw: dict[str, Any] = {
        "base_url": endpoint,
        "retry_total": max(0, int(settings.retry_total)),
        "retry_backoff_factor": 0.8,
        "retry_backoff_max": 30,
        "connection_timeout": settings.timeout_s,
        "read_timeout": settings.timeout_s,
    }
    if settings.ca_bundle:
        kw["connection_verify"] = settings.ca_bundle
    host = (urlparse(endpoint).hostname or "").lower()
    for suffix, scope in _SOVEREIGN_SCOPES.items():
        if host.endswith(suffix):
            kw["credential_scopes"] = [scope]
    kw.update(overrides)
    if kw.get("connection_verify") not in (None, True, False) and "transport" not in kw:
        transport = _pooled_transport_class()
        if transport is not None:  # None: azure-core's private hook moved (logged once); its own transport then
            kw["transport"] = transport(**kw)
    return kw


@functools.lru_cache(maxsize=1)
def _pooled_transport_class() -> type | None:
    """azure-core's aiohttp transport that builds the SSL context of a CA bundle (``connection_verify=<path>``)
    once, not once per request.

    azure-core makes a new ``ssl.SSLContext`` for every request when verify is a path, and aiohttp pools
    connections by that object: no connection was ever reused. Each page of a Resource Graph query opened a TLS
    connection (and loaded the CA file) and kept it open for aiohttp's 15 s keep-alive: ~125 connections, ~75 MB,
    after streaming the recommendations of the large estate (measured: 3 connections with this transport).
    None when the private `_build_ssl_config` is not there as expected (hooks.py): the SDK's own transport."""
    from . import hooks as _hooks

    if not _hooks.usable("azure_core.ssl_config"):
        return None
    from azure.core.pipeline.transport import AioHttpTransport

    class PooledAioHttpTransport(AioHttpTransport):
        def _build_ssl_config(self, cert: Any, verify: Any) -> Any:
            cache = self.__dict__.setdefault("_ssl_configs", {})
            key = (repr(cert), repr(verify))
            if key not in cache:
                cache[key] = super()._build_ssl_config(cert, verify)
            return cache[key]

    return PooledAioHttpTransport


def _one_line(text: Any, limit: int = 200) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def parse_duration(value: Any) -> float | None:
    """Seconds from "hh:mm:ss[.fff]" (x-ms-user-quota-resets-after) or a plain number (Retry-After)."""
    s = _s(value)
    if s is None:
        return None
    try:
        if ":" in s:
            parts = [float(p) for p in s.split(":")]
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
        else:
            secs = float(s)
    except ValueError:
        return None
    return secs if math.isfinite(secs) and secs >= 0 else None


def retry_after_of(headers: Any) -> float | None:
    """How long Azure asked us to wait: retry-after-ms, Retry-After (seconds) or the ARG quota reset."""
    if headers is None:
        return None
    try:
        for h in ("retry-after-ms", "x-ms-retry-after-ms"):
            v = parse_duration(headers.get(h))
            if v is not None:
                return v / 1000.0
        v = parse_duration(headers.get("Retry-After"))
        if v is not None:
            return v
        if headers.get("Retry-After"):  # an HTTP-date
            from email.utils import parsedate_to_datetime

            dt = parsedate_to_datetime(headers.get("Retry-After"))
            return max(0.0, dt.timestamp() - time.time())
        return parse_duration(headers.get("x-ms-user-quota-resets-after"))
    except Exception:  # noqa: BLE001 - unreadable throttling headers mean no hint, never an error
        return None


def _arm_error_parts(body: Any) -> tuple[str | None, str | None]:
    """(code, message) of an ARM error body {"error": {"code", "message", "details": [...]}}."""
    if not isinstance(body, Mapping):
        return None, None
    err = body.get("error", body)
    if not isinstance(err, Mapping):
        return None, _s(err)
    code, msg = _s(err.get("code")), _s(err.get("message"))
    details = err.get("details")
    if isinstance(details, list):
        for d in details:
            if isinstance(d, Mapping) and _s(d.get("message")) and _s(d.get("message")) != msg:
                msg = f"{msg}; {_s(d.get('message'))}" if msg else _s(d.get("message"))
                break
    return code, msg


def http_error(
    status: int,
    *,
    code: str | None,
    message: str | None,
    headers: Any = None,
    endpoint: str,
    what: str,
    subscription: str | None = None,
    query: bool = False,
) -> SourceError:
    """The one-line SourceError for an HTTP error status from ARM/ARG (`query`: a Resource Graph query)."""
    code_s = code or str(status)
    detail = f"{code_s}: {_one_line(message, 160)}" if message else code_s
    sub = f"subscription {subscription}" if subscription else None
    if status == 401:
        return AuthError(f"Azure rejected the credentials ({detail}): run `az login` "
                         "or set MDC_AWS_ACCESS_TOKEN to a fresh token")
    if status == 403:
        target = sub or what
        return AuthError(f"no access to {target} ({code_s}): ask for Reader + Security Reader on it")
    if status == 404 and code and code.lower() in ("subscriptionnotfound", "invalidsubscriptionid"):
        return AuthError(f"{sub or 'subscription'} not found ({code_s}): check the id (--subscription) "
                         "and that you signed in to its tenant")
    if status == 429:
        ra = retry_after_of(headers)
        wait = f"wait {math.ceil(ra)} s and refresh" if ra is not None else "wait a minute and refresh"
        return SourceError(f"Azure throttled {what} ({detail}) after retries: {wait}; "
                           "fewer concurrent tools on this identity help", kind="throttled", retry_after=ra)
    where = f" for {sub}" if subscription and subscription not in what else ""
    if status >= 500:
        return SourceError(f"Azure failed {what}{where} ({status} {detail}) after retries: try again later "
                           "(status: https://azure.status.microsoft)", kind="server",
                           retry_after=retry_after_of(headers))
    if status == 400 and query:
        return SourceError(f"Resource Graph rejected the {what} ({detail}): this is a bug in mdc-aws, "
                           "please report it with this message", kind="error")
    return SourceError(f"Azure refused {what}{where} ({status} {detail}): check --arm-endpoint and the "
                       "subscription", kind="error")


def _credential_cause(exc: BaseException) -> str:
    """The useful part of an azure-identity error: DefaultAzureCredential lists every source it tried; the
    Azure CLI's reason is the one an operator acts on."""
    text = str(getattr(exc, "message", None) or exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    tried = [ln.split(":", 1) for ln in lines[1:] if re.match(r"^[A-Za-z]+Credential:", ln)]
    if tried and ("DefaultAzureCredential" in lines[0] or "ChainedTokenCredential" in lines[0]):
        cli = next((why.strip() for name, why in tried if name == "AzureCliCredential"), None)
        cause = f"DefaultAzureCredential tried {len(tried)} sources"
        return _one_line(f"{cause}; Azure CLI: {cli}" if cli else cause, 180)
    return _one_line(lines[0], 180)


_SSL_NOISE = re.compile(r"\s*ssl:(?:<[^>]*>|default|True|False|None)")
_TLS_FAILURE = re.compile(r"certificate|\[SSL|SSLError|TLS", re.I)


def to_source_error(
    exc: BaseException, *, endpoint: str, what: str, subscription: str | None = None, query: bool = False
) -> SourceError:
    """Map an azure-core / azure-identity / transport exception to a one-line SourceError that says what to do."""
    if isinstance(exc, SourceError):
        return exc
    try:
        from azure.core import exceptions as ace
    except ImportError:  # pragma: no cover
        ace = None  # type: ignore[assignment]
    host = urlparse(endpoint).netloc or endpoint
    if ace is not None:
        if isinstance(exc, ace.ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
            # From the credential (CredentialUnavailableError, expired static token, az CLI not logged in...)
            return AuthError(f"no usable Azure credentials ({_credential_cause(exc)}): run `az login` "
                             "or set MDC_AWS_ACCESS_TOKEN to a fresh token")
        # DecodeError is an HttpResponseError (status 200): check it first
        if isinstance(exc, (ace.DecodeError, ace.DeserializationError)):
            return SourceError(f"Azure sent a malformed response to {what} ({_one_line(exc, 140)}): "
                               "retry later; report it if it persists", kind="malformed")
        status: Any = getattr(exc, "status_code", None)
        if isinstance(exc, ace.HttpResponseError) and status:
            code = msg = None
            response: Any = exc.response  # typed as azure-core's common API: every real one has json()
            if response is not None:
                try:
                    code, msg = _arm_error_parts(response.json())
                except Exception:  # noqa: BLE001 - an unreadable error body still gives the status-code message
                    pass
            if not code:
                code = getattr(getattr(exc, "error", None), "code", None)
                msg = getattr(getattr(exc, "error", None), "message", None)
            headers = getattr(exc.response, "headers", None)
            return http_error(int(status), code=code, message=msg or exc.reason, headers=headers,
                              endpoint=endpoint, what=what, subscription=subscription, query=query)
        if isinstance(exc, ace.AzureError) and "non-tls" in str(exc).lower():
            return SourceError(f"cannot send a token to {host} over plain HTTP: use an https:// --arm-endpoint "
                               "(with --ca-bundle for a local emulator)", kind="usage")
        if isinstance(exc, ace.ServiceRequestError):
            cause = _SSL_NOISE.sub("", str(getattr(exc, "message", None) or exc))
            cause = _one_line(cause, 160)
            if _TLS_FAILURE.search(cause):
                hint = "check --ca-bundle (the PEM that signed the endpoint's certificate) and --arm-endpoint"
            else:
                hint = "check --arm-endpoint / --ca-bundle / network"
            return SourceError(f"cannot reach {host} ({cause}): {hint}", kind="network")
        if isinstance(exc, ace.ServiceResponseError):
            return SourceError(f"no complete answer from {host} to {what} ({_one_line(exc, 140)}): "
                               "check the network and retry", kind="network")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return SourceError(f"{what}: {host} did not answer in time: check the network or raise the timeout",
                           kind="network")
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return SourceError(f"Azure sent a malformed response to {what} ({type(exc).__name__}: "
                           f"{_one_line(exc, 120)}): report it if it persists", kind="malformed")
    if isinstance(exc, OSError):
        return SourceError(f"cannot reach {host} ({_one_line(exc, 160)}): check --arm-endpoint / --ca-bundle / "
                           "network", kind="network")
    return SourceError(f"{what} failed ({type(exc).__name__}: {_one_line(exc, 160)})", kind="error")


# ---------------------------------------------------------------------------------------------------------------
# Quota pacing
# ---------------------------------------------------------------------------------------------------------------


class QuotaPacer:
    """Paces Resource Graph requests to the caller's quota from ARG's quota headers: each window used to its last
    request, never one past it (no 429), however long a request takes.

    Every response reports `x-ms-user-quota-remaining` (R) and `x-ms-user-quota-resets-after` (S: the time left in
    the window the request was counted in, rounded up to a second). From them the pacer learns the limit (L: the
    highest R + 1 seen) and the window (W: the highest S seen), and keeps every request it sent (`acquire`) until it
    can no longer share a window with a request sent now:

    - answered, once `received + S` has passed (its window has surely ended: S was computed before we received it,
      and rounded up);
    - in flight, once `sent + W + jitter_s` has passed (it reached the server within `jitter_s` of being sent, so its
      window has ended since);

    and lets a request go only while fewer than `L - low_water` of them remain. Every request that arrives in the
    window of a new one is among those kept, so a window never gets more than L. Before the first answer nothing is
    known and nothing is held. The first answer in a window bounds its end to within that request's response time;
    later ones, whose S was rounded up, free their slots at most about a second late, in step with the requests
    they replace.

    `acquire()` before each request (waits, takes a slot: the ticket) and `observe(headers, ticket)` with its
    response (or `release(ticket)` when none came) keep that account: `_quota_policy` does both around every HTTP
    attempt, azure-core's retries included. A 429 holds every request until that window's end. `observe(headers)`
    without a ticket is a response to a request this pacer did not send (another client of the same identity): its
    R is taken as is, and at R <= low_water requests wait for its reset. `wait()` waits without taking a slot.
    """

    def __init__(self, *, low_water: int = 1, jitter_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.low_water = low_water
        self.jitter_s = jitter_s
        self._clock = clock
        self._sleep = sleep
        self.remaining: int | None = None  # the last remaining reported (information)
        self.limit: int | None = None  # requests per window, as learnt (the highest remaining + 1 reported)
        self.window_s: float | None = None  # the window, as learnt (the highest resets-after reported)
        self.in_flight = 0  # requests sent (acquired) and not answered yet
        self.not_before = 0.0  # hold() and 429s: no request before this
        self.waited_s = 0.0
        self.sent = 0  # requests acquired in all
        self._kept: dict[int, list[Any]] = {}  # ticket -> [sent at, counts until (None: in flight)]
        self._others: list[tuple[float, int]] = []  # (reset, remaining) of answers to requests not ours

    # -- the account ---------------------------------------------------------------------------------------------

    def _counted(self, now: float) -> list[float]:
        """When each kept request stops counting (inf: not known yet); the ones that have stopped are dropped."""
        out: list[float] = []
        for t, (sent_at, until) in list(self._kept.items()):
            aged = sent_at + self.window_s + self.jitter_s if self.window_s is not None else math.inf
            end = min(aged, until) if until is not None else aged
            if end <= now:
                del self._kept[t]
            else:
                out.append(end)
        return out

    def delay(self) -> float:
        """Seconds until the next request may go (0: now; inf: when a request in flight is answered)."""
        now = self._clock()
        d = self.not_before - now
        if self.limit is not None:
            ends = sorted(self._counted(now))
            excess = len(ends) - (self.limit - self.low_water) + 1  # requests that must stop counting first
            if excess > 0 and ends:
                d = max(d, ends[min(excess, len(ends)) - 1] - now)
        self._others = [(r, n) for r, n in self._others if r > now]
        for reset, n in self._others:
            if n <= self.low_water:
                d = max(d, reset - now)
        return max(0.0, d)

    def _learn(self, headers: Any) -> tuple[int | None, float | None]:
        try:
            remaining = _int(headers.get("x-ms-user-quota-remaining")) if headers is not None else None
            reset = parse_duration(headers.get("x-ms-user-quota-resets-after")) if headers is not None else None
        except Exception:  # noqa: BLE001 - unreadable quota headers mean no pacing hint, never an error
            return None, None
        if remaining is None:
            return None, None
        reset = None if reset is None else min(max(0.0, reset), MAX_QUOTA_WAIT_S)
        self.remaining = remaining
        self.limit = max(self.limit or 0, remaining + 1)
        if reset is not None:
            self.window_s = max(self.window_s or 0.0, reset)
        return remaining, reset

    def observe(self, headers: Any, ticket: int | None = None, status: int | None = None) -> None:
        """A response's quota headers; `ticket` (from acquire): the response to that request (`status` its HTTP
        status), else to a request this pacer did not send."""
        now = self._clock()
        if ticket is not None:
            self.in_flight = max(0, self.in_flight - 1)
        remaining, reset = self._learn(headers)
        if ticket is not None:
            kept = self._kept.get(ticket)
            if kept is not None:
                # counts until its window has surely ended (never, as far as we know, without the header)
                kept[1] = now + reset if reset is not None else None
            if status == 429:
                self.not_before = max(self.not_before, now + (reset if reset is not None else 1.0))
        elif remaining is not None:
            self._others.append((now + (reset if reset is not None else MAX_QUOTA_WAIT_S), remaining))

    def release(self, ticket: int | None) -> None:
        """The request of `ticket` ended without a response (a transport error, a cancellation). It may still have
        reached the server: it counts until it has aged out."""
        if ticket is not None:
            self.in_flight = max(0, self.in_flight - 1)

    def hold(self, seconds: float) -> None:
        """No query before `seconds` from now (e.g. Azure's Retry-After after the retries ran out)."""
        self.not_before = max(self.not_before, self._clock() + min(max(0.0, seconds), MAX_QUOTA_WAIT_S))

    async def wait(self) -> float:
        """Wait until a request may go (takes no slot); the seconds waited."""
        total = 0.0
        while True:
            d = self.delay()
            if d <= 0:
                return total
            if math.isinf(d):
                d = 0.05  # every slot is held by a request in flight whose window is not known: wait for an answer
            elif d >= 0.5:
                log.info("Resource Graph quota spent: waiting %.1f s for the reset", d)
            self.waited_s += d
            total += d
            await self._sleep(d)

    async def acquire(self) -> int:
        """Wait for a slot and take it: the ticket to hand to observe() or release()."""
        await self.wait()
        self.in_flight += 1
        self.sent += 1
        self._kept[self.sent] = [self._clock(), None]
        return self.sent


def _quota_policy(pacer: QuotaPacer) -> Any:
    """A per-retry azure-core policy around every HTTP attempt of a query (azure-core's retries included): waits for
    a slot of the quota window (pacer.acquire), feeds the response's headers to the pacer and, for a 429 that
    carries only the quota reset, adds Retry-After so azure-core's retry waits exactly until the reset."""
    from azure.core.pipeline.policies import AsyncHTTPPolicy

    class ArgQuotaPolicy(AsyncHTTPPolicy):
        async def send(self, request: Any) -> Any:
            ticket = await pacer.acquire()
            try:
                response = await self.next.send(request)
            except BaseException:  # broad: the pacer learns it ended, then re-raised (cancellation too)
                pacer.release(ticket)
                raise
            http = response.http_response
            headers = http.headers
            pacer.observe(headers, ticket, http.status_code)
            if http.status_code == 429 and not any(
                headers.get(h) for h in ("Retry-After", "retry-after-ms", "x-ms-retry-after-ms")
            ):
                reset = parse_duration(headers.get("x-ms-user-quota-resets-after"))
                if reset is not None:
                    try:
                        headers["Retry-After"] = str(max(1, math.ceil(min(reset, MAX_QUOTA_WAIT_S))))
                    except TypeError:  # immutable headers: azure-core falls back to its backoff
                        pass
            return response

    return ArgQuotaPolicy()


# ---------------------------------------------------------------------------------------------------------------
# The Resource Graph client
# ---------------------------------------------------------------------------------------------------------------


def _batches(subscriptions: Sequence[str], size: int) -> list[list[str]]:
    seen: dict[str, str] = {}
    for s in subscriptions:
        if isinstance(s, str) and s.strip():
            seen.setdefault(s.strip().lower(), s.strip())
    subs = list(seen.values())
    return [subs[i : i + size] for i in range(0, len(subs), size)]


def _table_to_objects(data: Any) -> list[Any] | None:
    """ARG's "table" result format ({columns, rows}) as a list of dicts; None if data is neither format."""
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping) and isinstance(data.get("columns"), list) and isinstance(data.get("rows"), list):
        cols = [c.get("name") if isinstance(c, Mapping) else None for c in data["columns"]]
        return [dict(zip(cols, r)) if isinstance(r, list) else r for r in data["rows"]]
    return None


class ResourceGraph:
    """Runs KQL on Azure Resource Graph: paging, subscription batches, quota pacing, one-line errors.

    Use as an async context manager, or call `close()`. The credential is not closed (its owner does that).
    """

    def __init__(self, settings: "AzureSettings", credential: Any, **client_overrides: Any) -> None:
        self.settings = settings
        self.credential = credential
        self.endpoint = endpoint_of(settings)
        self.pacer = QuotaPacer(low_water=0)  # the whole window: requests in flight are counted
        self._overrides = client_overrides
        self._client: Any = None
        self.last_query_pages = 0
        self.tenant_limit_hit = False  # x-ms-tenant-subscription-limit-hit: results limited to 10,000 subs

    def _get_client(self) -> Any:
        if self._client is None:
            from azure.mgmt.resourcegraph.aio import ResourceGraphClient

            kw = client_kwargs(self.settings, **self._overrides)
            kw.setdefault("per_retry_policies", [_quota_policy(self.pacer)])
            base_url = kw.pop("base_url")
            self._client = ResourceGraphClient(self.credential, base_url=base_url, **kw)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> "ResourceGraph":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _resources(self, client: Any, request: Any) -> tuple[Any, Any]:
        """One page. A query is read-only, so a dropped connection is retried here: azure-core retries transport
        errors only for idempotent HTTP methods, and ARG queries are POSTs."""
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        for attempt in range(TRANSPORT_RETRIES + 1):
            try:
                return await client.resources(request, cls=lambda pr, d, h: (d, pr.http_response.headers))
            except (ServiceRequestError, ServiceResponseError):
                if attempt >= TRANSPORT_RETRIES:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def query(
        self,
        kql: str,
        subscriptions: Sequence[str] | None,
        *,
        page_size: int | None = None,
        max_rows: int | None = None,
        progress: Progress | None = None,
        name: str = "Resource Graph query",
        parser: Callable[[Any], Any] | None = None,
        on_rows: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        """All rows of `kql` over `subscriptions` (None: tenant scope), every `$skipToken` page of every batch.

        `max_rows` stops paging once that many rows are in; `progress(pages, rows, total)` is called per page.
        With `parser`, each page is parsed as it arrives (rows the parser rejects, None, are left out): 100k raw
        JSON rows are then never held at once (~2 KB each against ~0.5 KB parsed). With `on_rows`, each page's
        (parsed) rows go to it as they arrive and are not kept: the result is then empty.
        Raises SourceError (kind auth / throttled / network / server / malformed / error).
        """
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        client = self._get_client()
        top = max(1, min(int(page_size or self.settings.arg_page_size or MAX_PAGE_SIZE), MAX_PAGE_SIZE))
        size = max(1, min(int(self.settings.arg_batch_size or MAX_BATCH), MAX_BATCH))
        if subscriptions is None:
            batches: list[list[str] | None] = [None]
        else:
            batches = list(_batches(subscriptions, size))
            if not batches:
                return []
        rows: list[Any] = []
        n_raw = 0  # rows received (before parsing)
        pages = 0
        total: int | None = 0
        for batch in batches:
            token: str | None = None
            seen_tokens: set[str] = set()
            batch_total_added = False
            batch_pages = 0
            while True:
                await self.pacer.wait()
                options = QueryRequestOptions(top=top, skip_token=token, result_format="objectArray",
                                              allow_partial_scopes=batch is None)
                request = QueryRequest(subscriptions=batch, query=kql, options=options)
                try:
                    resp, headers = await self._resources(client, request)
                except Exception as e:  # noqa: BLE001 - every SDK/transport failure becomes a SourceError (throttling retried)
                    err = to_source_error(e, endpoint=self.endpoint, what=name, query=True)
                    if err.kind == "throttled" and err.retry_after:
                        self.pacer.hold(err.retry_after)
                    raise err from None
                if headers is not None and str(headers.get("x-ms-tenant-subscription-limit-hit", "")).lower() == "true":
                    self.tenant_limit_hit = True
                data = _table_to_objects(getattr(resp, "data", None))
                if data is None:
                    raise SourceError(f"Azure sent a malformed response to {name} (no data array): "
                                      "retry later; report it if it persists", kind="malformed")
                before = n_raw
                n_raw += len(data)
                if max_rows is not None and on_rows is not None:
                    data = data[:max(0, max_rows - before)]
                page = data if parser is None else [x for x in map(parser, data) if x is not None]
                del data
                if on_rows is None:
                    rows.extend(page)
                elif page:
                    on_rows(page)
                del page
                pages += 1
                batch_pages += 1
                self.last_query_pages = pages
                page_total = _int(getattr(resp, "total_records", None))
                if not batch_total_added:
                    total = None if (total is None or page_total is None) else total + page_total
                    batch_total_added = True
                if progress is not None:
                    try:
                        progress(pages, n_raw, total)
                    except Exception:  # broad: a UI callback never breaks a query (logged with its traceback)
                        log.debug("progress callback failed", exc_info=True)
                if max_rows is not None and n_raw >= max_rows:
                    return rows[:max_rows]
                token = _s(getattr(resp, "skip_token", None))
                if not token:
                    count = _int(getattr(resp, "count", None))
                    truncated = str(getattr(resp, "result_truncated", "")).lower() == "true"
                    if truncated and batch_pages == 1 and count is not None and page_total is not None \
                            and count < page_total:
                        raise SourceError(
                            f"Resource Graph returned {count} of {page_total} rows for {name} and cannot page "
                            "it: narrow the scope with --subscription; report it to mdc-aws", kind="error")
                    break
                if token in seen_tokens or pages >= MAX_PAGES:
                    raise SourceError(f"Resource Graph kept paging {name} ({pages} pages): report it to mdc-aws",
                                      kind="malformed")
                seen_tokens.add(token)
        return rows

    async def query_parsed(
        self, kql: str, subscriptions: Sequence[str] | None, parser: Callable[[Any], Any], **kw: Any
    ) -> list[Any]:
        """query() parsing each page as it arrives; rejected rows are counted in the log, never fatal."""
        bad = 0

        def parse(row: Any) -> Any:
            nonlocal bad
            out = parser(row)
            if out is None:
                bad += 1
            return out

        parsed = await self.query(kql, subscriptions, parser=parse, **kw)
        if bad:
            log.warning("%s: skipped %d malformed row(s) of %d", kw.get("name", "query"), bad, len(parsed) + bad)
        return parsed

    def batch_count(self, subscriptions: Sequence[str] | None) -> int:
        if subscriptions is None:
            return 1
        size = max(1, min(int(self.settings.arg_batch_size or MAX_BATCH), MAX_BATCH))
        return len(_batches(subscriptions, size))
