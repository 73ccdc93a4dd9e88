"""The Azure source: ARM (Microsoft.Security connectors, classic connectors, pricings) and, through arg.py,
Azure Resource Graph. Async; one instance per refresh loop, used as an async context manager.

Why raw JSON through the SDK client instead of `security_connectors.list()` models: the generated
deserializer fails a whole page when one item is off-schema (a string `subPlan`, a list where an object is
expected), `cls=` on paged operations receives already-deserialized models, and unknown offering types lose
their fields. So requests go through the SDK client's own pipeline (`_send_request`, Microsoft's documented
escape hatch: same auth, retry, user agent, TLS settings) and every item is parsed from the raw body, where a
malformed item is skipped with a reason instead of failing the subscription.

Never imports textual, rich or tui.emulator; azure.* is imported lazily.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace as dc_replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import urlparse

from . import arg as _arg
from .arg import (
    SUBSCRIPTION_CONCURRENCY,
    ResourceGraph,
    _arm_error_parts,
    _int,
    _one_line,
    _s,
    aws_account,
    aws_account_of_arn,
    client_kwargs,
    endpoint_of,
    http_error,
    resource_group_of,
    subscription_of,
    to_source_error,
)
from .auth import jwt_claims, make_credential, make_tenant_credential
from .errors import AuthError, SourceError
from .model import (
    KNOWN_AWS_OFFERINGS,
    ArcMachine,
    ComplianceControl,
    ComplianceData,
    Connector,
    ConnectorsData,
    Offering,
    PlansData,
    Pricing,
    Recommendation,
    RecommendationCount,
)
from .redact import redact_data

if TYPE_CHECKING:  # pragma: no cover
    from .config import AzureSettings, Settings, TenantSettings
    from .model import OrganizationRole

log = logging.getLogger(__name__)

# api-versions: the ones azure-mgmt-security 7.0.0 pins for these operation groups (tests check the SDK profile).
SECURITY_CONNECTORS_API = "2023-10-01-preview"
CLASSIC_CONNECTORS_API = "2020-01-01-preview"
PRICINGS_API = "2024-01-01"
PROVIDERS_API = "2021-04-01"  # Microsoft.Resources providers (Providers - List)
LOCKS_API = "2016-09-01"  # Microsoft.Authorization management locks (Management Locks - List At Subscription Level)
TENANTS_API = "2022-12-01"  # Microsoft.Resources tenants (Tenants - List): the display names of the caller's tenants

SECURITY_CONNECTORS_PATH = "/subscriptions/{sub}/providers/Microsoft.Security/securityConnectors"
CLASSIC_CONNECTORS_PATH = "/subscriptions/{sub}/providers/Microsoft.Security/connectors"
PRICINGS_PATH = "/subscriptions/{sub}/providers/Microsoft.Security/pricings"
PROVIDERS_PATH = "/subscriptions/{sub}/providers"
LOCKS_PATH = "/subscriptions/{sub}/providers/Microsoft.Authorization/locks"
# the resource providers a connector needs (Microsoft.Security; Azure Arc for Servers and Databases)
HEALTH_PROVIDERS = ("Microsoft.Security", "Microsoft.HybridCompute", "Microsoft.GuestConfiguration")

MAX_LIST_PAGES = 10_000

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------------
# Parsers of ARM list items (pure; never raise): (model, None) or (None, reason)
# ---------------------------------------------------------------------------------------------------------------


def _item_name(item: Mapping[str, Any]) -> str:
    name = _s(item.get("name"))
    if name:
        return name
    rid = _s(item.get("id"))
    return rid.rstrip("/").rsplit("/", 1)[-1] if rid else "(unnamed)"


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_arm_time(v: Any) -> datetime | None:
    """An ARM timestamp (systemData.createdAt: "2023-01-01T00:00:00.000Z", seven-digit .NET fractions, an offset, or
    none: UTC) -> an aware UTC datetime; None for anything else. Never raises."""
    if not isinstance(v, str) or not v.strip():
        return None
    text = v.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    for candidate in (text, _FRACTION.sub(r"\1", text, count=1)):
        try:
            t = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    return None


def _created_at(item: Mapping[str, Any]) -> datetime | None:
    sd = item.get("systemData")
    return parse_arm_time(sd.get("createdAt")) if isinstance(sd, Mapping) else None


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(s for s in (_s(x) for x in v if not isinstance(x, (list, dict))) if s)


def _item_head(item: Any, what: str, subscription: str | None
               ) -> tuple[tuple[str, str, Mapping[str, Any], str] | None, str | None]:
    """(name, id, properties, subscription) of an ARM list item, or None and why it is skipped."""
    if not isinstance(item, Mapping):
        return None, f"{what} item of type {type(item).__name__}: not an object"
    name = _item_name(item)
    rid = _s(item.get("id"))
    if not rid:
        return None, f"{name}: no id"
    props = item.get("properties")
    if not isinstance(props, Mapping):
        return None, f"{name}: no properties"
    sub = subscription_of(rid) or (subscription.lower() if subscription else None)
    if not sub:
        return None, f"{name}: no subscription in its id"
    return (name, rid, props, sub), None


def parse_native_connector(item: Any, subscription: str | None = None) -> tuple[Connector | None, str | None]:
    """A Microsoft.Security/securityConnectors item (2023-10-01-preview) -> AWS Connector, or the skip reason."""
    try:
        head, why = _item_head(item, "connector", subscription)
        if head is None:
            return None, why
        name, rid, props, sub = head
        env = props.get("environmentData")
        env = env if isinstance(env, Mapping) else {}
        env_name = _s(props.get("environmentName"))
        env_type = _s(env.get("environmentType"))
        is_aws = (env_name or "").lower() == "aws" or (env_name is None and (env_type or "").lower() == "awsaccount")
        if not is_aws:
            what = env_name or env_type or "unknown environment"
            return None, f"{name}: {what} connector (not AWS)"
        role: OrganizationRole = "single"
        parent: str | None = None
        stackset: str | None = None
        excluded: tuple[str, ...] = ()
        org = env.get("organizationalData")
        if isinstance(org, Mapping):
            membership = (_s(org.get("organizationMembershipType")) or "").lower()
            if membership == "organization":
                role = "management"
                stackset = _s(org.get("stacksetName"))
                excluded = _strs(org.get("excludedAccountIds"))
            elif membership == "member":
                role = "member"
                parent = aws_account(org.get("parentHierarchyId"))
        offerings = []
        raw_offerings = props.get("offerings")
        for o in raw_offerings if isinstance(raw_offerings, list) else ():
            otype = _s(o.get("offeringType")) if isinstance(o, Mapping) else None
            if otype in KNOWN_AWS_OFFERINGS:
                offerings.append(Offering(offering_type=otype, raw=redact_data(o)))
            else:
                log.info("connector %s: offering %r ignored (not a known AWS offering)", name, otype)
        return Connector(
            id=rid,
            name=name,
            kind="native",
            subscription_id=sub,
            resource_group=resource_group_of(rid),
            aws_account_id=aws_account(props.get("hierarchyIdentifier")),
            regions=_strs(env.get("regions")),
            scan_interval_hours=_int(env.get("scanInterval")),
            organization_role=role,
            parent_account_id=parent,
            stackset_name=stackset,
            excluded_account_ids=excluded,
            offerings=tuple(offerings),
            location=_s(item.get("location")),
            health="ok",
            raw=redact_data(item),  # stored (history) and shown (details): never a secret
            created_at=_created_at(item),
        ), None
    except Exception as e:  # noqa: BLE001 - a parser never raises
        return None, f"connector item: unreadable ({type(e).__name__})"


_CLASSIC_AWS_AUTH = {"awsassumerole": "awsAssumeRole", "awscreds": "awsCreds"}


def parse_classic_connector(item: Any, subscription: str | None = None) -> tuple[Connector | None, str | None]:
    """A Microsoft.Security/connectors item (2020-01-01-preview, retired 2023-09-15) -> AWS Connector, or the reason.

    Health: the first provisioning state that is not Valid (authentication first, then Arc auto-provisioning);
    "ok" when they are all Valid, "unknown" when Azure reports none. Reads the swagger names
    (authenticationProvisioningState / hybridComputeProvisioningState) and the spec examples' `provisioningState`.
    """
    try:
        head, why = _item_head(item, "classic connector", subscription)
        if head is None:
            return None, why
        name, rid, props, sub = head
        auth = props.get("authenticationDetails")
        if not isinstance(auth, Mapping):
            return None, f"{name}: no authenticationDetails"
        auth_type = _s(auth.get("authenticationType"))
        canonical = _CLASSIC_AWS_AUTH.get((auth_type or "").lower())
        if canonical is None:
            what = "GCP" if (auth_type or "").lower().startswith("gcp") else (auth_type or "unknown")
            return None, f"{name}: classic {what} connector (not AWS)"
        hybrid = props.get("hybridComputeSettings")
        hybrid = hybrid if isinstance(hybrid, Mapping) else {}
        account = aws_account(auth.get("accountId")) or aws_account_of_arn(auth.get("awsAssumeRoleArn"))
        auth_state = _s(auth.get("authenticationProvisioningState")) or _s(auth.get("provisioningState"))
        arc_state = _s(hybrid.get("hybridComputeProvisioningState")) or _s(hybrid.get("provisioningState"))
        arc_on = (_s(hybrid.get("autoProvision")) or "").lower() == "on"
        health, detail = "unknown", None
        if auth_state and auth_state.lower() != "valid":
            health, detail = auth_state, f"AWS authentication {auth_state}"
        elif arc_on and arc_state and arc_state.lower() != "valid":
            health, detail = arc_state, f"Arc auto-provisioning {arc_state}"
        elif auth_state or arc_state:
            health = "ok"
        return Connector(
            id=rid,
            name=name,
            kind="classic",
            subscription_id=sub,
            resource_group=None,
            aws_account_id=account,
            location=_s(hybrid.get("region")),
            health=health,
            health_detail=detail,
            auth_type=canonical,
            raw=redact_data(item),  # stored (history) and shown (details): never a secret
            created_at=_created_at(item),
        ), None
    except Exception as e:  # noqa: BLE001 - one unreadable connector is reported, the others still load
        return None, f"classic connector item: unreadable ({type(e).__name__})"


def _is_true(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def parse_pricing(item: Any, subscription: str) -> Pricing | None:
    """A Microsoft.Security/pricings item (2024-01-01) -> Pricing (of the subscription asked about), or None."""
    try:
        if not isinstance(item, Mapping):
            return None
        props = item.get("properties")
        name = _s(item.get("name"))
        if not name or not isinstance(props, Mapping):
            return None
        tier = _s(props.get("pricingTier"))
        if not tier:
            return None
        extensions: dict[str, bool] = {}
        exts = props.get("extensions")
        for e in exts if isinstance(exts, list) else ():
            if isinstance(e, Mapping) and _s(e.get("name")):
                extensions[_s(e.get("name"))] = _is_true(e.get("isEnabled"))  # type: ignore[index]
        return Pricing(subscription_id=subscription.lower(), name=name, tier=tier,
                       sub_plan=_s(props.get("subPlan")), extensions=extensions)
    except Exception:  # noqa: BLE001 - a pricing shaped otherwise is skipped, never breaks the section
        return None


def parse_provider(item: Any) -> tuple[str, str] | None:
    """A Microsoft.Resources provider item -> (namespace, registrationState), or None."""
    if not isinstance(item, Mapping):
        return None
    ns = _s(item.get("namespace"))
    if not ns:
        return None
    return ns, _s(item.get("registrationState")) or "Unknown"


_LOCK_SUFFIX = "/providers/microsoft.authorization/locks/"


def parse_lock(item: Any) -> tuple[str, str, str] | None:
    """A Microsoft.Authorization/locks item -> (lower-case scope, level, name): the scope is its id without the
    trailing /providers/Microsoft.Authorization/locks/<name>. None for anything else."""
    if not isinstance(item, Mapping):
        return None
    rid = _s(item.get("id"))
    if not rid:
        return None
    cut = rid.lower().rfind(_LOCK_SUFFIX)
    if cut <= 0:
        return None
    name = _s(item.get("name")) or rid[cut + len(_LOCK_SUFFIX):].strip("/")
    props = item.get("properties")
    level = _s(props.get("level")) if isinstance(props, Mapping) else None
    return rid[:cut].rstrip("/").lower(), level or "Lock", name or "(unnamed)"


def locks_covering(connectors: Iterable[Connector], locks: Iterable[tuple[str, str, str]]
                   ) -> dict[str, tuple[str, ...]]:
    """Lower-case connector id -> "Level name (scope)" of every lock on the connector, its resource group or its
    subscription (case-insensitive), in that order."""
    by_scope: dict[str, list[tuple[str, str]]] = {}
    for scope, level, name in locks:
        by_scope.setdefault(scope, []).append((level, name))
    out: dict[str, tuple[str, ...]] = {}
    for c in connectors:
        cid = c.id.lower()
        sub = f"/subscriptions/{c.subscription_id.lower()}"
        scopes = [(cid, "on the connector")]
        if c.resource_group:
            scopes.append((f"{sub}/resourcegroups/{c.resource_group.lower()}", f"resource group {c.resource_group}"))
        scopes.append((sub, f"subscription {c.subscription_id}"))
        found = tuple(f"{level} {name} ({where})" for scope, where in scopes for level, name in by_scope.get(scope, ()))
        if found:
            out[cid] = found
    return out


# ---------------------------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------------------------


def _dedupe_subs(subs: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for s in subs:
        if isinstance(s, str) and s.strip():
            seen.setdefault(s.strip().lower(), s.strip().lower())
    return list(seen.values())


def _raise_all_failed(errors: list[SourceError], what: str, n: int) -> None:
    first = errors[0]
    more = f" (and {n - 1} more subscription{'s' if n > 2 else ''})" if n > 1 else ""
    msg = f"{first.message}{more}"
    if isinstance(first, AuthError) or all(e.kind == "auth" for e in errors):
        raise AuthError(msg)
    raise SourceError(msg, kind=first.kind, retry_after=first.retry_after)


class _ArmRawClient:
    """The raw-request half of azure-mgmt-security's SecurityCenter (aio, 2023-10-01-preview): the same ARM pipeline,
    policy for policy (request id, headers, user agent ``azsdk-python-mgmt-security/<version>``, proxy, content
    decoding, resource-provider registration, redirects, the retry policy of ``client_kwargs``, ARM challenge
    authentication, hooks, logging, tracing, header clean-up on redirect, ARM's HTTP logging), without importing the
    SDK's operations and its ~900 models, which these raw GETs never use (~50 ms of every one-shot start-up)."""

    def __init__(self, credential: Any, base_url: str, **kwargs: Any) -> None:
        from azure.core.pipeline import policies
        from azure.mgmt.core import AsyncARMPipelineClient
        from azure.mgmt.core.policies import (ARMHttpLoggingPolicy, AsyncARMAutoResourceProviderRegistrationPolicy,
                                              AsyncARMChallengeAuthenticationPolicy)

        scopes = kwargs.pop("credential_scopes", ["https://management.azure.com/.default"])
        kwargs.setdefault("sdk_moniker", f"mgmt-security/{_security_sdk_version()}")
        redirect = policies.AsyncRedirectPolicy(**kwargs)
        chain = [
            policies.RequestIdPolicy(**kwargs),
            policies.HeadersPolicy(**kwargs),
            policies.UserAgentPolicy(**kwargs),
            policies.ProxyPolicy(**kwargs),
            policies.ContentDecodePolicy(**kwargs),
            AsyncARMAutoResourceProviderRegistrationPolicy(),
            redirect,
            policies.AsyncRetryPolicy(**kwargs),
            AsyncARMChallengeAuthenticationPolicy(credential, *scopes, **kwargs),
            policies.CustomHookPolicy(**kwargs),
            policies.NetworkTraceLoggingPolicy(**kwargs),
            policies.DistributedTracingPolicy(**kwargs),
            policies.SensitiveHeaderCleanupPolicy(**kwargs),
            ARMHttpLoggingPolicy(**kwargs),
        ]
        self._client: Any = AsyncARMPipelineClient(base_url=base_url, policies=chain, **kwargs)

    def _send_request(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Awaitable[Any]:
        from copy import deepcopy

        request_copy = deepcopy(request)
        request_copy.url = self._client.format_url(request_copy.url)
        return self._client.send_request(request_copy, stream=stream, **kwargs)

    async def close(self) -> None:
        await self._client.close()


def _security_sdk_version() -> str:
    """azure-mgmt-security's version (its _version.py, read as text: importing the package loads its clients)."""
    try:
        from importlib.util import find_spec

        spec = find_spec("azure.mgmt.security")
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            with open(f"{folder}/_version.py", encoding="utf-8") as fh:
                found = re.search(r"VERSION\s*=\s*[\"']([^\"']+)", fh.read())
            if found:
                return found.group(1)
    except (OSError, ImportError, ValueError):
        pass
    return "unknown"


class AzureSource:
    """Reads MDC's AWS estate from Azure. Clients are created lazily (first call), closed by `close()`.

    `credential`: an AsyncTokenCredential the caller owns; None = make_credential(settings), owned and closed here
    (with `tenant`: that configured tenant's credential, tui.core.auth.make_tenant_credential).
    `client_overrides`: extra azure-core client options (tests: retry_backoff_factor, transport, ...).
    """

    def __init__(self, settings: "AzureSettings", credential: Any = None, *, tenant: "TenantSettings | None" = None,
                 **client_overrides: Any) -> None:
        self.settings = settings
        self.tenant = tenant
        # subscription -> its own tenant (Resource Graph's resourcecontainers tenantId: a subscription delegated
        # through Azure Lighthouse names its customer's tenant), as the last subscriptions() read them
        self.subscription_tenants: dict[str, str] = {}
        self._tenant_names: dict[str, str] | None = None  # GET /tenants, asked once
        self.endpoint = endpoint_of(settings)
        self._credential = credential
        self._owns_credential = credential is None
        self._overrides = client_overrides
        self._security: Any = None
        self._graph: ResourceGraph | None = None
        self._limit = asyncio.Semaphore(SUBSCRIPTION_CONCURRENCY)
        self._tenant: str | None = None  # "" = asked, unknown

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def credential(self) -> Any:
        if self._credential is None:
            self._credential = (make_credential(self.settings) if self.tenant is None
                                else make_tenant_credential(self.tenant))
        return self._credential

    @property
    def graph(self) -> ResourceGraph:
        if self._graph is None:
            self._graph = ResourceGraph(self.settings, self.credential, **self._overrides)
        return self._graph

    def _security_client(self) -> Any:
        if self._security is None:
            kw = client_kwargs(self.settings, **self._overrides)
            base_url = kw.pop("base_url")
            self._security = _ArmRawClient(self.credential, base_url=base_url, **kw)
        return self._security

    async def close(self) -> None:
        clients = [c for c in (self._security, self._graph) if c is not None]
        self._security, self._graph = None, None
        for c in clients:
            try:
                await c.close()
            except Exception:  # broad: closing goes on whatever a client raises (logged with its traceback)
                log.debug("closing an Azure client failed", exc_info=True)
        if self._owns_credential and self._credential is not None:
            cred, self._credential = self._credential, None
            close = getattr(cred, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # broad: closing goes on whatever the credential raises (logged)
                    log.debug("closing the credential failed", exc_info=True)

    async def __aenter__(self) -> "AzureSource":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- raw ARM GETs ------------------------------------------------------------------------------------------

    def _check_next_link(self, link: str, what: str) -> str:
        """nextLink must point at our endpoint (the bearer token goes with it) and carry an api-version."""
        ours, theirs = urlparse(self.endpoint), urlparse(link)
        if theirs.scheme not in ("https", "http") or not theirs.netloc:
            raise SourceError(f"Azure sent a malformed nextLink for {what}: report it if it persists",
                              kind="malformed")

        def hostport(u: Any) -> tuple[str, int | None]:
            return (u.hostname or "").lower(), u.port or (443 if u.scheme == "https" else 80)

        if hostport(ours) != hostport(theirs):
            raise SourceError(f"{what}: nextLink points to {theirs.netloc}, not {ours.netloc}; refusing to send "
                              "the token there (check --arm-endpoint)", kind="malformed")
        return link

    async def _get_json(self, url: str, api_version: str | None, *, what: str,
                        subscription: str | None) -> Mapping[str, Any]:
        from azure.core.rest import HttpRequest

        client = self._security_client()
        params = {"api-version": api_version} if api_version else None
        request = HttpRequest("GET", url, params=params)
        try:
            response = await client._send_request(request)  # noqa: SLF001 - the documented raw-request hatch
            await response.read()
        except Exception as e:  # noqa: BLE001 - every SDK/transport failure becomes a SourceError
            raise to_source_error(e, endpoint=self.endpoint, what=what, subscription=subscription) from None
        status = response.status_code
        body: Any = None
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - a body that is not JSON is no body: the status code speaks
            body = None
        if status != 200:
            code, msg = _arm_error_parts(body)
            raise http_error(status, code=code, message=msg or _one_line(response.reason), headers=response.headers,
                             endpoint=self.endpoint, what=what, subscription=subscription)
        if not isinstance(body, Mapping):
            kind = "not JSON" if body is None else f"a JSON {type(body).__name__}"
            raise SourceError(f"Azure sent a malformed response to {what} ({kind}): retry later; "
                              "report it if it persists", kind="malformed")
        return body

    async def _list(self, path: str, api_version: str, *, what: str, subscription: str | None) -> list[Any]:
        """Every item of an ARM list, following nextLink (absolute, on our endpoint)."""
        items: list[Any] = []
        url: str | None = path
        version: str | None = api_version
        seen: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            body = await self._get_json(url, version, what=what, subscription=subscription)  # type: ignore[arg-type]
            value = body.get("value")
            if not isinstance(value, list):
                raise SourceError(f"Azure sent a malformed response to {what} (no value array): retry later; "
                                  "report it if it persists", kind="malformed")
            items.extend(value)
            link = _s(body.get("nextLink"))
            if not link:
                return items
            if link in seen:
                raise SourceError(f"Azure repeated a nextLink for {what}: report it if it persists", kind="malformed")
            seen.add(link)
            url = self._check_next_link(link, what)
            # A nextLink normally carries its api-version; add ours only when it does not.
            version = None if "api-version=" in (urlparse(link).query or "").lower() else api_version
        raise SourceError(f"{what}: more than {MAX_LIST_PAGES} pages: report it", kind="malformed")

    async def _per_subscription(self, subs: Sequence[str], fn: Callable[[str], Awaitable[T]]
                                ) -> list[tuple[str, T | None, SourceError | None]]:
        async def one(sub: str) -> tuple[str, T | None, SourceError | None]:
            async with self._limit:
                try:
                    return sub, await fn(sub), None
                except SourceError as e:
                    return sub, None, e
                except Exception as e:  # noqa: BLE001 - never let one subscription kill the others
                    return sub, None, to_source_error(e, endpoint=self.endpoint, what="Azure",
                                                      subscription=sub)

        return list(await asyncio.gather(*(one(s) for s in subs)))

    # -- subscriptions -----------------------------------------------------------------------------------------

    async def _tenant_hint(self) -> str | None:
        """The tenant of the credential (the token's `tid`); raises AuthError when there is no usable credential."""
        if self._tenant is not None:
            return self._tenant or None
        cred = self.credential
        tid = getattr(cred, "tenant_id", None)
        if isinstance(tid, str) and tid:
            self._tenant = tid
            return tid
        kw = client_kwargs(self.settings)
        scope = (kw.get("credential_scopes") or ["https://management.azure.com/.default"])[0]
        try:
            token = await cred.get_token(scope)
        except Exception as e:  # noqa: BLE001 - every credential failure becomes a SourceError
            raise to_source_error(e, endpoint=self.endpoint, what="sign-in") from None
        tid = jwt_claims(getattr(token, "token", "") or "").get("tid")
        self._tenant = tid if isinstance(tid, str) and tid else ""  # asked once: az CLI tokens cost a subprocess
        return self._tenant or None

    async def _explicit_subscriptions(self) -> tuple[list[str], str | None]:
        """settings.subscriptions, with each one's own tenant learnt from Resource Graph (resourcecontainers scoped to
        those ids: a subscription delegated through Azure Lighthouse names its customer's tenant).

        Single tenant: every given id is kept (one the identity cannot read fails in each section, with what to
        do); a failed look-up only loses the labels (logged). A configured tenant ([[tenants]]) claims only the ids
        its credential sees, so another tenant's subscription is read with that tenant's credential; its look-up
        failing fails the tenant."""
        given = _dedupe_subs(self.settings.subscriptions)
        tenant = await self._tenant_hint()
        try:
            try:
                rows = await self.graph.query(_arg.SUBSCRIPTIONS_QUERY, given, name="subscription list")
            except SourceError as e:
                if e.kind != "auth":
                    raise
                # an id the identity cannot read may fail a scoped query: ask at tenant scope (what it sees) instead
                rows = await self.graph.query(_arg.SUBSCRIPTIONS_QUERY, None, name="subscription list")
        except SourceError as e:
            if self.tenant is not None:
                raise
            log.warning("the tenants of the subscriptions given (--subscription / azure.subscriptions) not read "
                        "(%s): they are labelled with the signed-in tenant", e)
            return given, tenant
        infos, _ = _arg.parse_rows(rows, _arg.parse_subscription)
        wanted = set(given)
        seen = {i.subscription_id: i for i in infos if i.subscription_id in wanted}
        self.subscription_tenants = {s: i.tenant_id.lower() for s, i in seen.items() if i.tenant_id}
        if self.tenant is None:
            if tenant is None and self.subscription_tenants:  # a token that names no tenant: most of theirs
                tenant = Counter(self.subscription_tenants.values()).most_common(1)[0][0]
            return given, tenant
        return [s for s in given if s in seen], tenant

    async def subscriptions(self) -> tuple[list[str], str | None]:
        """(subscription ids, tenant id): settings.subscriptions if given (each one's tenant from Resource Graph;
        see _explicit_subscriptions), else every readable subscription the identity can see (Resource Graph, tenant
        scope)."""
        if self.settings.subscriptions:
            return await self._explicit_subscriptions()
        rows = await self.graph.query(_arg.SUBSCRIPTIONS_QUERY, None, name="subscription list")
        infos, bad = _arg.parse_rows(rows, _arg.parse_subscription)
        readable = [i for i in infos if (i.state or "enabled").lower() not in _arg.UNREADABLE_SUBSCRIPTION_STATES]
        if not readable:
            raise AuthError("the signed-in identity sees no readable Azure subscription: ask for Reader + "
                            "Security Reader on the subscriptions that hold the AWS connectors, or pass "
                            "--subscription")
        tenants = Counter(i.tenant_id for i in readable if i.tenant_id)
        tenant = tenants.most_common(1)[0][0] if tenants else None
        self.subscription_tenants = {i.subscription_id.lower(): i.tenant_id.lower() for i in readable if i.tenant_id}
        return _dedupe_subs(i.subscription_id for i in readable), tenant

    async def tenant_names(self, tenant_ids: Sequence[str]) -> dict[str, str]:
        """Display names of these tenants as ARM's tenant list gives them (only the tenants the identity belongs
        to: a customer's tenant seen through Lighthouse is not listed). Asked once, only for more than one tenant;
        a failure is logged and gives no names, never an error."""
        if len(tenant_ids) < 2:
            return {}
        if self._tenant_names is None:
            names: dict[str, str] = {}
            try:
                for item in await self._list("/tenants", TENANTS_API, what="tenant list", subscription=None):
                    tid = _s(item.get("tenantId")) if isinstance(item, Mapping) else None
                    name = _s(item.get("displayName")) if isinstance(item, Mapping) else None
                    if tid and name:
                        names[tid.lower()] = name
            except Exception as e:  # noqa: BLE001 - names are a nicety: the ids stand in for them
                log.info("tenant names not read: %s", e)
            self._tenant_names = names
        return {t: self._tenant_names[t.lower()] for t in tenant_ids if t.lower() in self._tenant_names}

    def tenant_of(self, subscription: str) -> str | None:
        """The tenant of a subscription: its own (Resource Graph), else the credential's (when known)."""
        return (self.subscription_tenants.get(subscription.lower()) or self._tenant
                or (self.tenant.tenant_id if self.tenant is not None else None))

    # -- connectors --------------------------------------------------------------------------------------------

    async def _connectors_of(self, sub: str) -> tuple[list[Connector], list[str]]:
        native_t = self._list(SECURITY_CONNECTORS_PATH.format(sub=sub), SECURITY_CONNECTORS_API,
                              what=f"security connectors of subscription {sub}", subscription=sub)
        classic_t = self._list(CLASSIC_CONNECTORS_PATH.format(sub=sub), CLASSIC_CONNECTORS_API,
                               what=f"classic connectors of subscription {sub}", subscription=sub)
        native: list[Any] | BaseException
        classic: list[Any] | BaseException
        native, classic = await asyncio.gather(native_t, classic_t, return_exceptions=True)
        if isinstance(native, BaseException):
            raise native if isinstance(native, SourceError) else to_source_error(
                native, endpoint=self.endpoint, what="security connectors", subscription=sub)
        connectors: list[Connector] = []
        skipped: list[str] = []
        for item in native:
            c, why = parse_native_connector(item, sub)
            if c is not None:
                connectors.append(c)
            elif why:
                skipped.append(why)
        if isinstance(classic, BaseException):
            # The classic API is retired: Azure may answer 400/404 for it. Only an access problem is worth a line.
            err = classic if isinstance(classic, SourceError) else to_source_error(
                classic, endpoint=self.endpoint, what="classic connectors", subscription=sub)
            if err.kind in ("auth", "throttled", "server", "network"):
                skipped.append(f"subscription {sub}: classic connectors not read ({err})")
            else:
                log.info("subscription %s: classic connectors unavailable: %s", sub, err)
        else:
            for item in classic:
                c, why = parse_classic_connector(item, sub)
                if c is not None:
                    connectors.append(c)
                elif why:
                    skipped.append(why)
        return connectors, skipped

    async def connectors(self, subscriptions: Sequence[str]) -> ConnectorsData:
        """Native (securityConnectors) + classic (connectors) AWS connectors of every subscription, concurrently.

        A subscription that fails is one `skipped` line; when every subscription fails, raises its error."""
        subs = _dedupe_subs(subscriptions)
        if not subs:
            return ConnectorsData(connectors=())
        results = await self._per_subscription(subs, self._connectors_of)
        connectors: dict[str, Connector] = {}
        skipped: list[str] = []
        errors: list[SourceError] = []
        for sub, res, err in results:
            if err is not None:
                errors.append(err)
                skipped.append(f"subscription {sub}: {err}")
                continue
            assert res is not None
            found, notes = res
            skipped.extend(notes)
            for c in found:
                connectors.setdefault(c.id.lower(), c)
        if len(errors) == len(subs):
            _raise_all_failed(errors, "connectors", len(subs))
        ordered = sorted(connectors.values(), key=lambda c: (c.subscription_id, c.name.lower(), c.kind))
        ordered = [c if c.tenant_id else dc_replace(c, tenant_id=self.tenant_of(c.subscription_id)) for c in ordered]
        locks, locks_read = await self._locks(ordered)
        return ConnectorsData(connectors=tuple(ordered), skipped=tuple(skipped), locks=locks, locks_read=locks_read)

    async def _locks_of(self, sub: str) -> list[tuple[str, str, str]]:
        items = await self._list(LOCKS_PATH.format(sub=sub), LOCKS_API, what=f"resource locks of subscription {sub}",
                                 subscription=sub)
        return [lk for lk in (parse_lock(i) for i in items) if lk is not None]

    async def _locks(self, connectors: Sequence[Connector]) -> tuple[dict[str, tuple[str, ...]], bool]:
        """The management locks covering each connector (on it, its resource group or its subscription), read per
        subscription that holds a connector; True when every one of them answered. A failed read never fails the
        connectors: it is logged and leaves locks_read False."""
        subs = _dedupe_subs(c.subscription_id for c in connectors)
        if not subs:
            return {}, True
        found: list[tuple[str, str, str]] = []
        read = True
        for sub, res, err in await self._per_subscription(subs, self._locks_of):
            if err is not None:
                read = False
                log.info("subscription %s: resource locks not read: %s", sub, err)
            else:
                found.extend(res or ())
        return locks_covering(connectors, found), read

    # -- pricings ----------------------------------------------------------------------------------------------

    async def _pricings_of(self, sub: str) -> list[Pricing]:
        # pricings.list is NOT paged (PricingList {value}); _list stops at the first page without nextLink.
        items = await self._list(PRICINGS_PATH.format(sub=sub), PRICINGS_API,
                                 what=f"Defender plans of subscription {sub}", subscription=sub)
        out = []
        for item in items:
            p = parse_pricing(item, sub)
            if p is None:
                log.warning("subscription %s: skipped a malformed pricing item", sub)
            else:
                out.append(p)
        return out

    async def _providers_of(self, sub: str) -> dict[str, str]:
        items = await self._list(PROVIDERS_PATH.format(sub=sub), PROVIDERS_API,
                                 what=f"resource providers of subscription {sub}", subscription=sub)
        wanted = {ns.lower(): ns for ns in HEALTH_PROVIDERS}
        out: dict[str, str] = {}
        for p in (parse_provider(i) for i in items):
            if p is not None and p[0].lower() in wanted:
                out[wanted[p[0].lower()]] = p[1]
        return out

    async def pricings(self, subscriptions: Sequence[str]) -> PlansData:
        """Subscription Defender plans (pricings) and the registration state of the resource providers connectors
        need (HEALTH_PROVIDERS, in `providers`). Per-subscription pricing errors go to `pricing_errors`; when every
        subscription fails, raises. Providers are read for the subscriptions whose pricings answered; one whose
        providers could not be read is left out of `providers` (logged), never an error of the section."""
        subs = _dedupe_subs(subscriptions)
        if not subs:
            return PlansData(pricings=())
        results = await self._per_subscription(subs, self._pricings_of)
        # then the providers of the subscriptions that answered (one that failed or throttles is not asked again)
        providers: dict[str, Mapping[str, str]] = {}
        answered = [sub for sub, _, err in results if err is None]
        for sub, states, perr in await self._per_subscription(answered, self._providers_of) if answered else ():
            if perr is not None or states is None:
                log.info("subscription %s: resource providers not read: %s", sub, perr)
            else:
                providers[sub] = states
        pricings: list[Pricing] = []
        errors: dict[str, str] = {}
        failures: list[SourceError] = []
        for sub, res, err in results:
            if err is not None:
                errors[sub] = str(err)
                failures.append(err)
            else:
                pricings.extend(res or ())
        if len(failures) == len(subs):
            _raise_all_failed(failures, "pricings", len(subs))
        return PlansData(pricings=tuple(pricings), pricing_errors=errors, providers=providers)

    # -- Resource Graph sections -------------------------------------------------------------------------------

    @staticmethod
    def _scope(subscriptions: Sequence[str] | None) -> list[str] | None:
        return None if subscriptions is None else _dedupe_subs(subscriptions)

    async def arc_machines(self, subscriptions: Sequence[str] | None,
                           progress: _arg.Progress | None = None) -> tuple[ArcMachine, ...]:
        """AWS Arc machines (MDC-tagged or cloudMetadata AWS), every page."""
        return tuple(await self.graph.query_parsed(_arg.ARC_MACHINES_QUERY, self._scope(subscriptions),
                                                   _arg.parse_arc_machine, name="Arc machines query",
                                                   progress=progress))

    async def recommendation_counts(self, subscriptions: Sequence[str] | None) -> tuple[RecommendationCount, ...]:
        """AWS assessment counts per (connector id, severity, status), summarized by ARG; rows without a connector
        per (Arc machine's AccountId tag or, untagged, Arc machine id, severity, status)."""
        # a summarize result cannot page: ask for ARG's whole page whatever arg_page_size says
        parsed = await self.graph.query_parsed(_arg.RECOMMENDATION_COUNTS_QUERY, self._scope(subscriptions),
                                               _arg.parse_recommendation_count, name="recommendation counts query",
                                               page_size=_arg.MAX_PAGE_SIZE)
        merged: dict[tuple[str, str, str, str, str], int] = {}
        for cells in parsed:
            for c in cells:
                k = (c.connector_id, c.arc_account_id or "", c.azure_resource_id or "", c.severity, c.status)
                merged[k] = merged.get(k, 0) + c.count
        return tuple(RecommendationCount(cid, sev, st, n, arc_account_id=acct or None, azure_resource_id=arm or None)
                     for (cid, acct, arm, sev, st), n in sorted(merged.items()))

    async def recommendations(
        self,
        subscriptions: Sequence[str] | None,
        limit: int | None = None,
        *,
        connector_id: str | None = None,
        severity: str | None = None,
        status: str | None = None,
        progress: _arg.Progress | None = None,
        on_rows: Callable[[list[Recommendation]], None] | None = None,
    ) -> list[Recommendation]:
        """AWS assessment rows (optionally one connector / severity / status), paged; at most `limit` rows.
        With `on_rows`, each page's rows go to it as they arrive and the result is empty (100k rows never
        held here)."""
        kql = _arg.recommendations_query(connector_id=connector_id, severity=severity, status=status)
        return await self.graph.query_parsed(kql, self._scope(subscriptions), _arg.parse_recommendation,
                                             max_rows=limit, progress=progress, name="recommendations query",
                                             on_rows=on_rows)

    async def compliance(self, subscriptions: Sequence[str] | None) -> ComplianceData:
        """The AWS standards (passed / failed / skipped / unsupported controls over all subscriptions) and the
        standards assigned per AWS account.

        Which standards are about AWS is read from data, never from a name: an AWS assessment among its in-scope
        compliance assessments, or a per-connector copy under an AWS connector (the assignment, which also names the
        account). Three queries (four over several ARG batches, where the rollup and the key match are finished
        here); only the assignments project `id` (so they page); the others are one row per standard (or one in
        all), so each fits in one page of at most 1000 rows (asked for whole: they cannot page).
        """
        scope = self._scope(subscriptions)
        whole = {"page_size": _arg.MAX_PAGE_SIZE}
        graph = self.graph
        batches = graph.batch_count(scope)
        assignments = graph.query_parsed(_arg.COMPLIANCE_ASSIGNMENTS_QUERY, scope, _arg.parse_compliance_assignment,
                                         name="standard assignments query")
        if batches <= 1:
            queries = [graph.query_parsed(_arg.COMPLIANCE_QUERY, scope, _arg.parse_compliance_standard,
                                          name="compliance query", **whole),
                       graph.query_parsed(_arg.AWS_STANDARDS_QUERY, scope, _arg.parse_standard_name,
                                          name="AWS standards query", **whole)]
        else:  # several batches: a control's state, and an AWS key's match, must be decided over all of them
            queries = [graph.query_parsed(_arg.COMPLIANCE_CONTROL_STATES_QUERY, scope, _arg.parse_control_states,
                                          name="compliance query", **whole),
                       graph.query_parsed(_arg.AWS_ASSESSMENT_KEYS_QUERY, scope, _arg.parse_key_set,
                                          name="AWS assessment keys query", **whole),
                       graph.query_parsed(_arg.COMPLIANCE_ASSESSMENT_KEYS_QUERY, scope, _arg.parse_standard_keys,
                                          name="compliance assessment keys query", **whole)]
        # every query ends before one's error is raised: none is left running
        results: list[Any] = []
        for r in await asyncio.gather(assignments, *queries, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
            results.append(r)
        if batches <= 1:
            assigned_rows, counted, aws_names = results
        else:
            assigned_rows, states, aws_keys, standard_keys = results
            counted = _arg.rollup_control_states(st for per_standard in states for st in per_standard)
            aws_names = _arg.aws_standard_names(aws_keys, standard_keys)
        standards, assigned = _arg.aws_compliance(counted, aws_names, assigned_rows)
        return ComplianceData(standards=standards, assigned=assigned)

    async def compliance_rows(self, subscriptions: Sequence[str] | None) -> tuple[list[Any], ...]:
        """The rows compliance() combines over several batches (assignments, control states, AWS assessment keys,
        standards' assessment keys), for a caller that combines them over several sources (MultiTenantAzure)."""
        scope = self._scope(subscriptions)
        whole = {"page_size": _arg.MAX_PAGE_SIZE}
        graph = self.graph
        results: list[Any] = []
        for r in await asyncio.gather(
                graph.query_parsed(_arg.COMPLIANCE_ASSIGNMENTS_QUERY, scope, _arg.parse_compliance_assignment,
                                   name="standard assignments query"),
                graph.query_parsed(_arg.COMPLIANCE_CONTROL_STATES_QUERY, scope, _arg.parse_control_states,
                                   name="compliance query", **whole),
                graph.query_parsed(_arg.AWS_ASSESSMENT_KEYS_QUERY, scope, _arg.parse_key_set,
                                   name="AWS assessment keys query", **whole),
                graph.query_parsed(_arg.COMPLIANCE_ASSESSMENT_KEYS_QUERY, scope, _arg.parse_standard_keys,
                                   name="compliance assessment keys query", **whole),
                return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
            results.append(r)
        return tuple(results)

    async def compliance_controls(self, subscriptions: Sequence[str] | None, standard: str) -> list[ComplianceControl]:
        """The controls of one standard (name as Azure reports it, matched case-insensitively), merged over batches:
        in-scope rows of subscriptions with an AWS connector, as the standard's counts."""
        controls = await self.graph.query_parsed(_arg.compliance_controls_query(standard), self._scope(subscriptions),
                                                 _arg.parse_compliance_control, name="compliance controls query",
                                                 page_size=_arg.MAX_PAGE_SIZE)
        return sorted(_arg.merge_controls(controls), key=lambda c: _natural_key(c.name))

    async def compliance_failing_assessments(self, subscriptions: Sequence[str] | None, standard: str,
                                             control: str) -> list[str]:
        """Assessment keys of the recommendations failing under one control (drill-down to resources)."""
        keys = await self.graph.query_parsed(_arg.compliance_failing_assessments_query(standard, control),
                                             self._scope(subscriptions), _arg.parse_failing_assessment,
                                             name="failing assessments query", page_size=_arg.MAX_PAGE_SIZE)
        return sorted(set(keys))


def _natural_key(s: str) -> tuple[Any, ...]:
    import re

    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", s) if p)


# ---------------------------------------------------------------------------------------------------------------
# Several tenants ([[tenants]] in the config file)
# ---------------------------------------------------------------------------------------------------------------


# The lines of the configured tenants that failed inside MultiTenantAzure's calls made in this context, when a caller
# asked for them (MultiTenantAzure.tenant_failures(), the Collector per section); None: nobody asked, they are logged.
_TENANT_FAILURES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("mdc_aws_tenant_failures",
                                                                                    default=None)


def azure_source(settings: "Settings", **client_overrides: Any) -> "AzureSource | MultiTenantAzure":
    """The Azure source of these settings: one AzureSource (no [[tenants]]: today's single-tenant source, exactly),
    else a MultiTenantAzure over one AzureSource per configured tenant."""
    if not settings.tenants:
        return AzureSource(settings.azure, **client_overrides)
    return MultiTenantAzure(settings, **client_overrides)


class MultiTenantAzure:
    """One AzureSource per configured tenant, read as one: each tenant lists its subscriptions with its own
    credential (its `subscriptions`, else --subscription / azure.subscriptions, else every one it sees); a subscription
    seen through two tenants (Azure Lighthouse: the customer's own, delegated to the managing tenant) is read once,
    through the tenant it belongs to when that tenant is configured, else the first that lists it. Every section is
    read per tenant over its subscriptions and merged. With explicit subscriptions a tenant claims only those its
    credential sees (Resource Graph), so each is read with its own tenant's credential.

    A tenant that fails is never silent: a `skipped` line of the connectors section (what to do), `pricing_errors`
    for its subscriptions, a warning in the log, and a line in `tenant_failures()` (the Collector marks the section
    partial with it) — the other tenants' data is still returned; only when every tenant fails is the section's
    error raised."""

    def __init__(self, settings: "Settings", **client_overrides: Any) -> None:
        from dataclasses import replace

        self.settings = settings
        self.members: list[AzureSource] = []
        for t in settings.tenants:
            az = replace(settings.azure, access_token=None,
                         subscriptions=t.subscriptions or settings.azure.subscriptions)
            self.members.append(AzureSource(az, tenant=t, **client_overrides))
        self.subscription_tenants: dict[str, str] = {}
        self._owner: dict[str, AzureSource] = {}  # subscription -> the source that reads it
        self._notes: list[str] = []  # lines for the connectors section (a failed tenant, an unseen subscription)
        self._down: list[str] = []  # the lines of the tenants that failed to list their subscriptions

    @staticmethod
    @contextmanager
    def tenant_failures() -> Iterator[list[str]]:
        """`with src.tenant_failures() as failed:` the calls made inside (this task and the tasks it starts) add one
        line per configured tenant that failed, "tenant NAME (ID): error": their part is missing from the result."""
        failed: list[str] = []
        token = _TENANT_FAILURES.set(failed)
        try:
            yield failed
        finally:
            _TENANT_FAILURES.reset(token)

    def _record(self, line: str) -> None:
        sink = _TENANT_FAILURES.get()
        if sink is not None and line not in sink:
            sink.append(line)

    def _tenant_failed(self, src: "AzureSource", err: BaseException, n_subs: int) -> str:
        """Log and record a tenant that failed inside a section; its line."""
        e = err if isinstance(err, SourceError) else to_source_error(err, endpoint=src.endpoint, what="Azure")
        line = f"{self._label(src)}: its {n_subs} subscription(s) not read ({self._hint(src, e)})"
        log.warning("%s", line)
        self._record(line)
        return line

    @staticmethod
    def _hint(src: AzureSource, err: BaseException) -> str:
        """The error's line, its fix naming this tenant's own token variable (`access_token_env`), not the single
        tenant's MDC_AWS_ACCESS_TOKEN, and `az login --tenant` for it."""
        text = str(err)
        t = src.tenant
        if t is None:
            return text
        if t.access_token_env:
            text = text.replace("set MDC_AWS_ACCESS_TOKEN to a fresh token",
                                f"set {t.access_token_env} to a fresh token of tenant {t.tenant_id}")
        return text.replace("run `az login`", f"run `az login --tenant {t.tenant_id}`")

    def _label(self, src: AzureSource) -> str:
        t = src.tenant
        assert t is not None
        return f"tenant {t.name} ({t.tenant_id})" if t.name else f"tenant {t.tenant_id}"

    async def close(self) -> None:
        for src in self.members:
            await src.close()

    async def __aenter__(self) -> "MultiTenantAzure":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- subscriptions -----------------------------------------------------------------------------------------

    async def subscriptions(self) -> tuple[list[str], str | None]:
        results = await asyncio.gather(*(src.subscriptions() for src in self.members), return_exceptions=True)
        listed: list[tuple[AzureSource, list[str]]] = []
        errors: list[BaseException] = []
        notes: list[str] = []
        primary: str | None = None
        sub_tenants: dict[str, str] = {}
        for src, res in zip(self.members, results):
            assert src.tenant is not None
            if isinstance(res, BaseException):
                if not isinstance(res, Exception):
                    raise res
                errors.append(res)
                err = res if isinstance(res, SourceError) else to_source_error(res, endpoint=src.endpoint,
                                                                                what="sign-in")
                notes.append(f"{self._label(src)}: not read ({self._hint(src, err)})")
                continue
            subs, _ = res
            listed.append((src, subs))
            primary = primary or src.tenant.tenant_id
            for sub in subs:  # what Resource Graph says first; the listing tenant only when it said nothing
                if src.subscription_tenants.get(sub):
                    sub_tenants.setdefault(sub, src.subscription_tenants[sub])
        if not listed:  # every tenant failed: one error naming each
            first = errors[0]
            if all(isinstance(e, AuthError) for e in errors):
                raise AuthError("; ".join(notes))
            if isinstance(first, SourceError):
                raise SourceError("; ".join(notes), kind=first.kind, retry_after=first.retry_after)
            raise first
        owner: dict[str, AzureSource] = {}
        for src, subs in listed:  # a subscription goes to the tenant it belongs to, else to the first listing it
            assert src.tenant is not None
            for sub in subs:
                sub_tenants.setdefault(sub, src.tenant.tenant_id)
                cur = owner.get(sub)
                own = sub_tenants[sub]
                if cur is None or (src.tenant.tenant_id == own and cur.tenant is not None
                                   and cur.tenant.tenant_id != own):
                    owner[sub] = src
        down = list(notes)
        unseen: dict[str, list[str]] = {}  # an explicit subscription no tenant that answered sees: said, not claimed
        for src, _ in listed:
            for sub in _dedupe_subs(src.settings.subscriptions):
                if sub not in owner:
                    unseen.setdefault(sub, []).append(self._label(src))
        for sub, labels in unseen.items():
            notes.append(f"subscription {sub}: not visible to {', '.join(labels)}: ask for Reader on it there, or "
                         "remove it from --subscription / azure.subscriptions / the tenant's subscriptions")
        self._owner, self._notes, self._down, self.subscription_tenants = owner, notes, down, sub_tenants
        for note in notes:
            log.warning("%s", note)
        return list(owner), primary

    def _split(self, subscriptions: Sequence[str] | None) -> list[tuple[AzureSource, list[str]]]:
        """The subscriptions asked for, per source that reads them (in the order of the configured tenants)."""
        subs = _dedupe_subs(subscriptions if subscriptions is not None else list(self._owner))
        out: dict[int, list[str]] = {}
        for sub in subs:
            src = self._owner.get(sub)
            if src is not None:
                out.setdefault(self.members.index(src), []).append(sub)
        return [(self.members[i], out[i]) for i in sorted(out)]

    async def _each(self, subscriptions: Sequence[str] | None, fn: Callable[[AzureSource, list[str]], Awaitable[T]],
                    failed: list[tuple[list[str], BaseException]] | None = None) -> list[tuple[AzureSource, T]]:
        """fn per source over its subscriptions; a failed tenant is logged and recorded (tenant_failures(); its
        subscriptions and error appended to `failed`) unless every tenant failed (then the first error is raised)."""
        parts = self._split(subscriptions)
        if not parts:
            return []
        results = await asyncio.gather(*(fn(src, subs) for src, subs in parts), return_exceptions=True)
        ok: list[tuple[AzureSource, T]] = []
        errors: list[tuple[AzureSource, list[str], BaseException]] = []
        for (src, subs), res in zip(parts, results):
            if isinstance(res, BaseException):
                if not isinstance(res, Exception):
                    raise res
                errors.append((src, subs, res))
            else:
                ok.append((src, res))
        if errors and not ok:
            raise errors[0][2]
        for src, subs, err in errors:
            self._tenant_failed(src, err, len(subs))
            if failed is not None:
                failed.append((subs, err))
        return ok

    # -- sections ----------------------------------------------------------------------------------------------

    async def connectors(self, subscriptions: Sequence[str]) -> ConnectorsData:
        parts = self._split(subscriptions)
        results = await asyncio.gather(*(src.connectors(subs) for src, subs in parts), return_exceptions=True)
        connectors: dict[str, Connector] = {}
        skipped: list[str] = list(self._notes)
        locks: dict[str, tuple[str, ...]] = {}
        locks_read = True
        errors: list[BaseException] = []
        for (src, subs), res in zip(parts, results):
            if isinstance(res, BaseException):
                if not isinstance(res, Exception):
                    raise res
                errors.append(res)
                if len(errors) < len(parts):
                    skipped.append(self._tenant_failed(src, res, len(subs)))
                continue
            skipped.extend(res.skipped)
            locks.update(res.locks)
            locks_read = locks_read and res.locks_read
            for c in res.connectors:
                tid = self.subscription_tenants.get(c.subscription_id.lower()) or c.tenant_id
                connectors.setdefault(c.id.lower(), c if tid == c.tenant_id else dc_replace(c, tenant_id=tid))
        if errors and len(errors) == len(parts):
            raise errors[0]
        for line in self._down:  # a tenant that could not list its subscriptions: its accounts are missing here
            self._record(line)
        ordered = sorted(connectors.values(), key=lambda c: (c.subscription_id, c.name.lower(), c.kind))
        return ConnectorsData(connectors=tuple(ordered), skipped=tuple(skipped), locks=locks, locks_read=locks_read)

    async def pricings(self, subscriptions: Sequence[str]) -> PlansData:
        pricings: list[Pricing] = []
        errors: dict[str, str] = {}
        providers: dict[str, Mapping[str, str]] = {}
        failed: list[tuple[list[str], BaseException]] = []
        for _, pd in await self._each(subscriptions, lambda src, subs: src.pricings(subs), failed):
            pricings.extend(pd.pricings)
            errors.update(pd.pricing_errors)
            providers.update(pd.providers)
        for subs, err in failed:  # a failed tenant's subscriptions: plans unknown, with its error
            for sub in subs:
                errors.setdefault(sub, str(err))
        return PlansData(pricings=tuple(pricings), pricing_errors=errors, providers=providers)

    async def arc_machines(self, subscriptions: Sequence[str] | None,
                           progress: _arg.Progress | None = None) -> tuple[ArcMachine, ...]:
        found = await self._each(subscriptions, lambda src, subs: src.arc_machines(subs))
        seen: dict[str, ArcMachine] = {}
        for _, machines in found:
            for a in machines:
                seen.setdefault(a.id.lower(), a)
        return tuple(seen.values())

    async def recommendation_counts(self, subscriptions: Sequence[str] | None) -> tuple[RecommendationCount, ...]:
        merged: dict[tuple[str, str, str, str, str], int] = {}
        for _, counts in await self._each(subscriptions, lambda src, subs: src.recommendation_counts(subs)):
            for c in counts:
                k = (c.connector_id, c.arc_account_id or "", c.azure_resource_id or "", c.severity, c.status)
                merged[k] = merged.get(k, 0) + c.count
        return tuple(RecommendationCount(cid, sev, st, n, arc_account_id=acct or None, azure_resource_id=arm or None)
                     for (cid, acct, arm, sev, st), n in sorted(merged.items()))

    async def recommendations(self, subscriptions: Sequence[str] | None, limit: int | None = None,
                              **kw: Any) -> list[Recommendation]:
        """One tenant after another (`limit` and on_rows in order). A tenant that fails is logged and recorded
        (tenant_failures()) and the others' rows are returned; only when every tenant asked fails is its error
        raised."""
        out: list[Recommendation] = []
        errors: list[tuple[AzureSource, list[str], Exception]] = []
        asked = 0
        parts = self._split(subscriptions)
        progress = kw.pop("progress", None)
        base = [0, 0]  # rows of the tenants done, rows of this one so far: progress counts over all of them
        for src, subs in parts:
            left = None if limit is None else limit - len(out)
            if left is not None and left <= 0:
                break
            asked += 1
            if progress is not None:
                base[0] += base[1]
                base[1] = 0

                def tell(pages: int, rows: int, total: int | None, _p: Any = progress) -> None:
                    base[1] = rows  # the total of one tenant is not the total of all: unknown with several
                    _p(pages, base[0] + rows, total if len(parts) == 1 else None)

                kw["progress"] = tell
            try:
                out.extend(await src.recommendations(subs, left, **kw))
            except Exception as e:  # noqa: BLE001 - one tenant failing never fails the others
                errors.append((src, subs, e))
        if errors and len(errors) == asked:
            raise errors[0][2]
        for src, subs, err in errors:
            self._tenant_failed(src, err, len(subs))
        return out

    async def compliance(self, subscriptions: Sequence[str] | None) -> ComplianceData:
        """The standards over every tenant: control states rolled up over all of them (failed anywhere wins), as
        compliance() does over several Resource Graph batches."""
        parts = await self._each(subscriptions, lambda src, subs: src.compliance_rows(subs))
        assigned_rows: list[Any] = []
        states: list[Any] = []
        aws_keys: list[Any] = []
        standard_keys: list[Any] = []
        for _, (a, st, k, sk) in parts:
            assigned_rows += a
            states += st
            aws_keys += k
            standard_keys += sk
        counted = _arg.rollup_control_states(s for per_standard in states for s in per_standard)
        names: dict[str, frozenset[str]] = {}
        for std, keys in standard_keys:  # one standard's keys over every tenant
            names[std] = names.get(std, frozenset()) | keys
        aws_names = _arg.aws_standard_names(aws_keys, list(names.items()))
        standards, assigned = _arg.aws_compliance(counted, aws_names, assigned_rows)
        return ComplianceData(standards=standards, assigned=assigned)

    async def compliance_controls(self, subscriptions: Sequence[str] | None, standard: str) -> list[ComplianceControl]:
        found = await self._each(subscriptions, lambda src, subs: src.compliance_controls(subs, standard))
        merged = _arg.merge_controls(c for _, controls in found for c in controls)
        return sorted(merged, key=lambda c: _natural_key(c.name))

    async def compliance_failing_assessments(self, subscriptions: Sequence[str] | None, standard: str,
                                             control: str) -> list[str]:
        found = await self._each(subscriptions,
                                 lambda src, subs: src.compliance_failing_assessments(subs, standard, control))
        return sorted({k for _, keys in found for k in keys})

    # -- tenants -----------------------------------------------------------------------------------------------

    async def tenant_names(self, tenant_ids: Sequence[str]) -> dict[str, str]:
        """The configured names, then ARM's display names (asked through each tenant's credential)."""
        out = {t.tenant_id: t.name for t in self.settings.tenants if t.name and t.tenant_id in tenant_ids}
        missing = [t for t in tenant_ids if t not in out]
        for src in self.members:
            if not missing:
                break
            try:
                got = await src.tenant_names(list(tenant_ids))
            except Exception as e:  # noqa: BLE001 - names are a nicety
                log.info("tenant names not read: %s", e)
                continue
            for t in list(missing):
                if t in got:
                    out[t] = got[t]
                    missing.remove(t)
        return out
