"""Emulated Azure Resource Manager + Azure Resource Graph, over HTTPS, for the real Azure SDK clients.

    emu = ArmEmulator(world, page_size=100, accepted_tokens={"t"})
    await emu.start()                        # https://127.0.0.1:<port>, trustme CA at emu.ca_pem_path
    SecurityCenter(cred, sub, base_url=emu.url, connection_verify=emu.ca_pem_path)
    ResourceGraphClient(cred, base_url=emu.url, connection_verify=emu.ca_pem_path)

`ArmEmulatorThread` runs the same server on its own event loop in a daemon thread (sync start/stop).

Served (api-versions checked like ARM; every route but /metadata/endpoints requires `Authorization: Bearer <token>`):

    GET    /metadata/endpoints?api-version=2022-09-01                             cloud metadata (public, identity.py)
    GET    /tenants                                                               the caller's tenant (+ delegating)
    GET    /subscriptions                                                         subscriptions list
    GET    /subscriptions/{sub}
    GET    /subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.Security/securityConnectors   (paged)
    GET|PUT|PATCH|DELETE  /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/
                          {name}
    GET    /subscriptions/{sub}/providers/Microsoft.Security/connectors                                 (paged)
    GET|PUT|DELETE        /subscriptions/{sub}/providers/Microsoft.Security/connectors/{name}
    GET    /{scope}/providers/Microsoft.Security/pricings[?$filter=name in (A,B)]                       (not paged)
    GET|PUT /{scope}/providers/Microsoft.Security/pricings/{name}
    GET    /subscriptions/{sub}/providers[/{namespace}]      POST .../providers/{namespace}/register|unregister
    GET    /subscriptions/{sub}/providers/Microsoft.Authorization/permissions
    GET    /subscriptions/{sub}[/{scope}]/providers/Microsoft.Authorization/locks    (paged; locks at or below scope)
    GET|PUT|DELETE /subscriptions/{sub}[/{scope}]/providers/Microsoft.Authorization/locks/{name}
    POST   /providers/Microsoft.ResourceGraph/resources                                                 (kql.py)

Tokens: with `accepted_tokens` (a set of static bearer tokens) and/or `identity` (a `TokenIssuer`), a request is
served when its token is one of `accepted_tokens` or a token `identity` issued and ARM would accept (signature,
tenant, lifetime, audience); else 401 with ARM's error body and `WWW-Authenticate` challenge. With neither, any
bearer token is accepted. With `identity`, `start()` also serves the managed-identity token endpoint over plain
HTTP on the same host (as App Service does): `emu.identity_url` is IDENTITY_ENDPOINT, `identity.header_secret`
IDENTITY_HEADER. `identities`: the issuers of other tenants (the partner tenant's), checked the same way.

Tenants (issue 14): a request sees its token's tenant's view (`tid` of an issued token; a static token or no
authentication: the world's home tenant). A tenant sees the subscriptions `world.tenant_subscriptions(tenant)` lists
(its own and those delegated to it through Azure Lighthouse): GET /subscriptions lists only those (`tenantId` = the
subscription's own tenant, `managedByTenants` = the tenants it is delegated to), any route on another existing
subscription answers 403 AuthorizationFailed, and Resource Graph answers only those subscriptions' rows. A world
without `tenant_subscriptions` has one view: everything.

Admin (no auth, loopback only, never faulted or logged): GET/DELETE /_emulator/requests, GET/POST/DELETE
/_emulator/faults, POST /_emulator/advance?ticks=N, GET /_emulator/health.

World stores are read and written under `world.lock`; every successful write calls the world's change hook
(`touch()`), so `arg_version()` moves and the next ARG query reloads its tables. Store work and DuckDB work run in
thread pools, never on the server's event loop.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import datetime as _dt
import functools
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .faults import FaultConfig, FaultRule, Quota, QuotaTracker, RequestLog, RequestRecord, format_hms
from .identity import MI_API_VERSION, TokenError, TokenIssuer, metadata_response
from .kql import ResourceGraph
from .tls import TlsMaterial

__all__ = ["ArmEmulator", "ArmEmulatorThread", "FaultConfig", "FaultRule", "Quota", "ArmError"]

log = logging.getLogger(__name__)

JSON_CT = "application/json; charset=utf-8"

API_SECURITY_CONNECTORS = ("2023-10-01-preview", "2024-03-01-preview", "2024-07-01-preview", "2024-08-01-preview")
API_CLASSIC_CONNECTORS = ("2020-01-01-preview",)
API_PRICINGS = ("2024-01-01", "2023-01-01", "2022-03-01", "2018-06-01")
API_PERMISSIONS = ("2022-04-01", "2018-07-01", "2018-01-01-preview", "2015-07-01")
API_RESOURCES = ("2016-09-01", "2019-05-10", "2019-10-01", "2020-06-01", "2021-01-01", "2021-04-01", "2022-09-01",
                 "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-01-01", "2025-03-01", "2025-04-01")
API_SUBSCRIPTIONS = ("2016-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-01-01",
                     "2022-12-01", "2024-11-01")
API_RESOURCE_GRAPH = ("2021-03-01", "2022-10-01", "2024-04-01")
API_METADATA = ("2022-09-01", "2019-05-01")
# Microsoft.Authorization/locks (ManagementLockClient): 2016-09-01 is the one the brief names; the others exist
API_LOCKS = ("2016-09-01", "2020-05-01", "2017-04-01", "2015-01-01")

# Namespaces ARM knows even when the world's provider store does not list them (state NotRegistered).
KNOWN_NAMESPACES = (
    "Microsoft.Security", "Microsoft.HybridCompute", "Microsoft.HybridConnectivity", "Microsoft.GuestConfiguration",
    "Microsoft.AzureArcData", "Microsoft.Kubernetes", "Microsoft.KubernetesConfiguration", "Microsoft.PolicyInsights",
    "Microsoft.OperationalInsights", "Microsoft.OperationsManagement", "Microsoft.Insights", "Microsoft.Compute",
    "Microsoft.Network", "Microsoft.Storage", "Microsoft.Resources", "Microsoft.Authorization",
    "Microsoft.ResourceGraph", "Microsoft.Management", "Microsoft.ManagedIdentity", "Microsoft.Sql",
    "Microsoft.ContainerService", "Microsoft.ContainerRegistry", "Microsoft.KeyVault", "Microsoft.Web",
    "Microsoft.SecurityInsights", "Microsoft.SerialConsole", "Microsoft.ADHybridHealthService", "Microsoft.Features",
)

OFFERING_DESCRIPTIONS = {
    "CspmMonitorAws": "The CSPM monitoring for AWS offering",
    "DefenderCspmAws": "The CSPM P1 for AWS offering",
    "DefenderForServersAws": "The Defender for Servers AWS offering",
    "DefenderForContainersAws": "The Defender for Containers AWS offering",
    "DefenderForDatabasesAws": "The Defender for Databases AWS offering",
    "InformationProtectionAws": "The information protection for AWS offering",
}
CLOUD_NAMES = ("Azure", "AWS", "GCP", "Github", "AzureDevOps", "GitLab")
# NOTES §11: an AWS connector's scan interval may only be 4, 6, 12 or 24 hours (world.VALID_SCAN_INTERVALS)
SCAN_INTERVALS = (4, 6, 12, 24)
SECURITY_RESOURCE_TYPES = (
    ("securityConnectors", API_SECURITY_CONNECTORS),
    ("connectors", API_CLASSIC_CONNECTORS),
    ("pricings", API_PRICINGS),
    ("assessments", ("2021-06-01", "2020-01-01")),
    ("subAssessments", ("2019-01-01-preview",)),
    ("regulatoryComplianceStandards", ("2019-01-01-preview",)),
    ("secureScores", ("2020-01-01",)),
)
AWS_GRANTED_PERMISSIONS = ["AWS::AWSSecurityHubReadOnlyAccess", "AWS::SecurityAudit", "AWS::AmazonSSMAutomationRole"]


# ------------------------------------------------------------------------------------------------------------------
# helpers


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> web.Response:
        return _json_response({"error": {"code": self.code, "message": self.message}}, self.status, self.headers)


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return web.Response(text=text, status=status, headers=headers or {}, content_type="application/json",
                        charset="utf-8")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        d = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        n = int(d["o"])
        if n < 0:
            raise ValueError
        return n
    except Exception:  # noqa: BLE001 - any malformed token (base64, JSON, keys, types) is the same 400
        raise ArmError(400, "InvalidSkipToken", "The skip token is invalid.") from None


def _first_key(d: dict, key: str) -> Any:
    """Case-insensitive dict lookup (ARM names are case-insensitive)."""
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if k.lower() == low:
            return v
    return None


def _find_key(d: dict, key: str) -> str | None:
    if key in d:
        return key
    low = key.lower()
    for k in d:
        if k.lower() == low:
            return k
    return None


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = r"/resourceGroups/(?P<rg>[^/]+)"
_SEC = r"/providers/Microsoft\.Security"


class _Route:
    def __init__(self, pattern: str, methods: dict[str, str], api_versions: tuple[str, ...] | None,
                 needs_sub: bool = True, public: bool = False) -> None:
        self.rx = re.compile("^" + pattern + "/?$", re.IGNORECASE)
        self.methods = methods  # HTTP method -> handler attribute name
        self.api_versions = api_versions
        self.needs_sub = needs_sub
        self.public = public  # served without a bearer token


ROUTES: list[_Route] = [
    # `//metadata/...` too: `az cloud register --endpoint-resource-manager https://host/` asks for that path
    _Route(r"/+metadata/endpoints", {"GET": "_metadata"}, API_METADATA, False, public=True),
    _Route(r"/tenants", {"GET": "_list_tenants"}, API_SUBSCRIPTIONS, False),
    _Route(r"/providers/Microsoft\.ResourceGraph/resources", {"POST": "_arg"}, API_RESOURCE_GRAPH, False),
    _Route(_SUB + _SEC + r"/securityConnectors", {"GET": "_list_connectors"}, API_SECURITY_CONNECTORS),
    _Route(_SUB + _RG + _SEC + r"/securityConnectors", {"GET": "_list_connectors"}, API_SECURITY_CONNECTORS),
    _Route(_SUB + _RG + _SEC + r"/securityConnectors/(?P<name>[^/]+)",
           {"GET": "_get_connector", "PUT": "_put_connector", "PATCH": "_patch_connector",
            "DELETE": "_delete_connector"}, API_SECURITY_CONNECTORS),
    _Route(_SUB + _SEC + r"/connectors", {"GET": "_list_classic"}, API_CLASSIC_CONNECTORS),
    _Route(_SUB + _SEC + r"/connectors/(?P<name>[^/]+)",
           {"GET": "_get_classic", "PUT": "_put_classic", "DELETE": "_delete_classic"}, API_CLASSIC_CONNECTORS),
    _Route(r"(?P<scope>/.+?)" + _SEC + r"/pricings", {"GET": "_list_pricings"}, API_PRICINGS, False),
    _Route(r"(?P<scope>/.+?)" + _SEC + r"/pricings/(?P<name>[^/]+)",
           {"GET": "_get_pricing", "PUT": "_put_pricing"}, API_PRICINGS, False),
    _Route(_SUB + r"/providers/Microsoft\.Authorization/permissions", {"GET": "_permissions"}, API_PERMISSIONS),
    # management locks at any scope of a subscription: list (the scope and below), get / put / delete one
    _Route(_SUB + r"(?P<rest>(?:/[^?]*?)?)/providers/Microsoft\.Authorization/locks", {"GET": "_list_locks"},
           API_LOCKS),
    _Route(_SUB + r"(?P<rest>(?:/[^?]*?)?)/providers/Microsoft\.Authorization/locks/(?P<lock>[^/]+)",
           {"GET": "_get_lock", "PUT": "_put_lock", "DELETE": "_delete_lock"}, API_LOCKS),
    _Route(r"/subscriptions", {"GET": "_list_subscriptions"}, API_SUBSCRIPTIONS, False),
    _Route(_SUB, {"GET": "_get_subscription"}, API_SUBSCRIPTIONS),
    _Route(_SUB + r"/providers", {"GET": "_list_providers"}, API_RESOURCES),
    _Route(_SUB + r"/providers/(?P<ns>[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+)", {"GET": "_get_provider"},
           API_RESOURCES),
    _Route(_SUB + r"/providers/(?P<ns>[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+)/(?P<action>register|unregister)",
           {"POST": "_register_provider"}, API_RESOURCES),
]


# ------------------------------------------------------------------------------------------------------------------
# the server


class ArmEmulator:
    def __init__(self, world: Any, *, faults: FaultConfig | None = None, quota: Quota | None = None,
                 page_size: int = 100, accepted_tokens: set[str] | None = None, tls: TlsMaterial | None = None,
                 request_log: RequestLog | None = None, query_timeout_s: float = 60.0,
                 identity: TokenIssuer | None = None, identities: tuple[TokenIssuer, ...] = ()) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.world = world
        self.faults = faults if faults is not None else FaultConfig()
        self.quota = QuotaTracker(quota)
        self.page_size = page_size
        self.accepted_tokens = set(accepted_tokens) if accepted_tokens is not None else None
        self.identity = identity
        self.identities = tuple(identities)  # other tenants' issuers (their tokens are checked like identity's)
        self.identity_url: str = ""  # IDENTITY_ENDPOINT (plain HTTP, like App Service's), set by start()
        self._mi_runner: web.AppRunner | None = None
        self.request_log = request_log if request_log is not None else RequestLog()
        self.resource_graph = ResourceGraph(world, query_timeout_s=query_timeout_s)
        self._tls = tls
        self._own_tls = tls is None
        self._runner: web.AppRunner | None = None
        self._arg_pool: ThreadPoolExecutor | None = None
        self._arm_pool: ThreadPoolExecutor | None = None
        self.url: str = ""
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def ca_pem_path(self) -> str:
        if self._tls is None:
            raise RuntimeError("the emulator is not started")
        return self._tls.ca_pem_path

    @property
    def tls(self) -> TlsMaterial | None:
        return self._tls

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise RuntimeError("already started")
        if self._tls is None:
            self._tls = TlsMaterial()
        self._arg_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="arm-emulator-arg")
        self._arm_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="arm-emulator-store")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._tls.server_context(), reuse_address=True)
        await site.start()
        # load the ARG tables in the background so the first query does not pay for it
        self._arg_pool.submit(self._warm_up)
        addr = self._runner.addresses[0]
        self.host, self.port = host, int(addr[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"https://{shown}:{self.port}"
        if self.identity is not None:
            mi = web.Application()
            mi.router.add_route("*", "/{tail:.*}", self._mi_token)
            self._mi_runner = web.AppRunner(mi, access_log=None, handle_signals=False)
            await self._mi_runner.setup()
            await web.TCPSite(self._mi_runner, host, 0, reuse_address=True).start()
            self.identity_url = f"http://{shown}:{int(self._mi_runner.addresses[0][1])}/msi/token"
        return self.url

    def _warm_up(self) -> None:
        try:
            self.resource_graph.store.snapshot()
        except Exception:  # broad (logged): the first query will report it
            log.exception("loading the ARG tables failed")

    async def stop(self) -> None:
        if self._mi_runner is not None:
            await self._mi_runner.cleanup()
            self._mi_runner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for pool in (self._arg_pool, self._arm_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._arg_pool = self._arm_pool = None
        if self._own_tls and self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    async def __aenter__(self) -> "ArmEmulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- plumbing ----------------------------------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., Any], *args: Any, pool: str = "arm") -> Any:
        loop = asyncio.get_running_loop()
        ex = self._arg_pool if pool == "arg" else self._arm_pool
        return await loop.run_in_executor(ex, functools.partial(fn, *args))

    def _touch(self) -> None:
        """Tell the world its stores changed (so arg_version() moves)."""
        w = self.world
        for name in ("touch", "bump", "mark_changed", "changed"):
            fn = getattr(w, name, None)
            if callable(fn):
                fn()
                return
        # no hook: nothing else to do (the world's arg_version must then derive from its stores)

    def _lock(self):
        lock = getattr(self.world, "lock", None)
        return lock if lock is not None else _NULL_LOCK

    def _sub_spec(self, sub: str) -> Any:
        low = sub.lower()
        for s in self.world.subscriptions:
            if s.subscription_id.lower() == low:
                return s
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")

    def _base_url(self, request: web.Request) -> str:
        return f"https://{request.host}" if request.host else self.url

    def _common_headers(self, request: web.Request) -> dict[str, str]:
        h = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4())}
        crid = request.headers.get("x-ms-client-request-id")
        if crid:
            h["x-ms-client-request-id"] = crid
        return h

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/_emulator" or path.startswith("/_emulator/"):
            return await self._admin(request)
        t0 = time.perf_counter()
        started = time.time()
        decision = self.faults.decide(request.method, path)
        status: int | None = None
        try:
            if decision.latency_ms:
                await asyncio.sleep(decision.latency_ms / 1000)
            rule = decision.terminal
            if rule is not None and rule.kind == "reset":
                await self._reset(request)
                return web.Response(status=204)  # never written: the transport is gone (status logged as None)
            if rule is not None and rule.kind in ("429", "500", "503"):
                resp = self._fault_response(request, rule)
            else:
                try:
                    resp = await self._handle(request)
                except ArmError as e:
                    resp = e.response()
                except Exception:  # broad (logged): a handler's bug answers 500 like ARM would, never kills the server
                    log.exception("emulator handler failed for %s %s", request.method, path)
                    resp = ArmError(500, "InternalServerError",
                                    "Encountered internal server error. Diagnostic information: emulator "
                                    "handler failure.").response()
                if rule is not None and rule.kind == "malformed":
                    resp = self._malformed(resp, rule)
            for k, v in self._common_headers(request).items():
                resp.headers.setdefault(k, v)
            if "x-ms-user-quota-remaining" not in resp.headers and _is_arg_path(path):
                # ARG reports the caller's quota on every response, errors included
                q = self.quota.peek(_user_key(request))
                resp.headers.update(self._quota_headers(q.remaining, q.resets_after))
            status = resp.status
            return resp
        finally:
            self.request_log.append(RequestRecord(
                method=request.method, path=path, query=request.query_string, status=status, time=started,
                fault=decision.label, duration_ms=round((time.perf_counter() - t0) * 1000, 3),
                client_request_id=request.headers.get("x-ms-client-request-id"),
            ))

    async def _reset(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()

    def _fault_response(self, request: web.Request, rule: FaultRule) -> web.Response:
        headers: dict[str, str] = {}
        retry = str(max(0, int(round(rule.retry_after_s))))
        is_arg = _is_arg_path(request.path)
        if rule.kind == "429":
            headers["Retry-After"] = retry
            if is_arg:
                headers["x-ms-user-quota-remaining"] = "0"
                headers["x-ms-user-quota-resets-after"] = format_hms(rule.retry_after_s)
                err = ("RateLimiting", "Please provide below info when asking for support: timestamp = "
                       f"{_now_iso()}, correlationId = {uuid.uuid4()}. The request was throttled.")
            else:
                err = ("TooManyRequests", "The request is being throttled. Please retry after the interval "
                       "specified in the Retry-After header.")
            return ArmError(429, err[0], err[1], headers).response()
        if rule.kind == "503":
            headers["Retry-After"] = retry
            return ArmError(503, "ServiceUnavailable",
                            "The service is temporarily unavailable. Please retry later.", headers).response()
        return ArmError(500, "InternalServerError",
                        "Encountered internal server error. Please try again.", headers).response()

    @staticmethod
    def _malformed(resp: web.Response, rule: FaultRule) -> web.Response:
        text = resp.text or ""
        if rule.malformed == "truncated":
            body = text[: max(1, len(text) // 2)] if len(text) > 2 else '{"value": ['
            if body.strip().endswith(("}", "]")):
                body = body.rstrip()[:-1] + ","  # still not valid JSON
        else:
            body = json.dumps({"value": {"unexpected": True}, "nextLink": 42, "data": "unexpected",
                               "totalRecords": "unexpected", "count": "unexpected", "properties": "unexpected",
                               "id": 42, "name": ["unexpected"]})
        out = web.Response(text=body, status=200, content_type="application/json", charset="utf-8")
        for k, v in resp.headers.items():
            if k.lower().startswith("x-ms-"):
                out.headers[k] = v
        return out

    def _authenticate(self, request: web.Request) -> str:
        tenant = getattr(self.world, "tenant_id", "common")
        challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
                     f'error="invalid_token", error_description="{{}}"')
        auth = request.headers.get("Authorization")
        if not auth:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           {"WWW-Authenticate": challenge.format(
                               "The authentication failed because of missing 'Authorization' header.")})
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                           {"WWW-Authenticate": challenge.format("The authentication header is invalid.")})
        home = getattr(self.world, "tenant_id", None)
        if self.accepted_tokens is not None and token in self.accepted_tokens:
            request[_TENANT] = home  # a static token signs in to the home tenant
            return _user_key(request)
        issuers = [i for i in (self.identity, *self.identities) if i is not None]
        if issuers:
            # the issuer whose key signed it (else the home one: its check says why the token is refused)
            issuer = next((i for i in issuers if i.verify_signature(token) is not None), issuers[0])
            try:
                claims = issuer.check(token)
            except TokenError as e:
                raise ArmError(401, e.code, e.message, {"WWW-Authenticate": challenge.format(e.message)}) from None
            request[_TENANT] = claims.get("tid") or home
            request[_OID] = claims.get("oid")
            return _user_key(request)
        if self.accepted_tokens is not None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.",
                           {"WWW-Authenticate": challenge.format("The access token is invalid.")})
        return _user_key(request)

    # -- tenants ------------------------------------------------------------------------------------------------

    def _tenant_of_request(self, request: web.Request) -> str | None:
        return request.get(_TENANT) or getattr(self.world, "tenant_id", None)

    def _visible(self, tenant: str | None) -> frozenset[str] | None:
        """The lower-case subscription ids `tenant` may read; None: every subscription of the world."""
        fn = getattr(self.world, "tenant_subscriptions", None)
        if tenant is None or not callable(fn):
            return None
        mine = frozenset(str(s).lower() for s in fn(tenant))
        if mine >= {s.subscription_id.lower() for s in self.world.subscriptions}:
            return None
        return mine

    def _authorize(self, request: web.Request, sub: str | None) -> None:
        """403 AuthorizationFailed (ARM's body) for an existing subscription the caller's tenant cannot see."""
        if not sub:
            return
        visible = self._visible(self._tenant_of_request(request))
        if visible is None or sub.lower() in visible:
            return
        if not any(s.subscription_id.lower() == sub.lower() for s in self.world.subscriptions):
            return  # not the world's: the handler answers 404 as before
        oid = request.get(_OID) or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mdc-aws:{self._tenant_of_request(request)}"))
        raise ArmError(403, "AuthorizationFailed",
                       f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
                       f"'{_arm_action(request.method, request.path)}' over scope '{request.path.rstrip('/')}' or "
                       f"the scope is invalid. If access was recently granted, please refresh your credentials.")

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        route, m = None, None
        for r in ROUTES:
            m = r.rx.match(path)
            if m:
                route = r
                break
        user = "" if route is not None and route.public else self._authenticate(request)
        if route is None or m is None:
            raise ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI "
                                            f"'{self._base_url(request)}{path}'.")
        handler_name = route.methods.get(request.method.upper())
        if handler_name is None:
            raise ArmError(405, "MethodNotAllowed",
                           f"The requested resource does not support http method '{request.method}'.")
        if route.api_versions is not None:
            api = request.query.get("api-version")
            if not api:
                raise ArmError(400, "MissingApiVersionParameter",
                               "The api-version query parameter (?api-version=) is required for all requests.")
            if api not in route.api_versions:
                raise ArmError(400, "InvalidApiVersionParameter",
                               f"The api-version '{api}' is invalid. The supported versions are "
                               f"'{','.join(route.api_versions)}'.")
        params = {k: v for k, v in m.groupdict().items() if v is not None}
        if route.needs_sub:
            spec = self._sub_spec(params["sub"])
            params["sub"] = spec.subscription_id
        if not route.public:
            self._authorize(request, params.get("sub") or _scope_subscription(params.get("scope")))
        handler = getattr(self, handler_name)
        return await handler(request, user=user, **params)

    # -- Resource Graph ----------------------------------------------------------------------------------------

    def _quota_headers(self, remaining: int, resets_after: str) -> dict[str, str]:
        return {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets_after}

    async def _arg(self, request: web.Request, *, user: str) -> web.Response:
        q = self.quota.take(user)
        headers = self._quota_headers(q.remaining, q.resets_after)
        if not q.allowed:
            headers["Retry-After"] = q.retry_after
            return ArmError(429, "RateLimiting",
                            "Please provide below info when asking for support: timestamp = "
                            f"{_now_iso()}, correlationId = {uuid.uuid4()}. Client application has been "
                            "throttled and should not attempt to repeat the request until an amount of time has "
                            "elapsed. Please see https://aka.ms/resourcegraph-throttling for help.",
                            headers).response()
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                                                          "deserialized.", headers).response()
        # the caller's tenant sees its own and its delegated subscriptions' rows only
        visible = self._visible(self._tenant_of_request(request))
        status, text = await self._in_thread(self.resource_graph.execute, body, visible, pool="arg")
        return _json_response(text, status, headers)

    # -- security connectors (2023-10-01-preview) ----------------------------------------------------------

    def _connector_id(self, sub: str, rg: str, name: str) -> str:
        return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"

    def _page(self, request: web.Request, items: list[dict], path: str) -> dict[str, Any]:
        token = request.query.get("$skipToken")
        start = _decode_token(token) if token else 0
        page = items[start:start + self.page_size]
        out: dict[str, Any] = {"value": page}
        nxt = start + self.page_size
        if nxt < len(items):
            api = request.query.get("api-version", "")
            out["nextLink"] = (f"{self._base_url(request)}{path}?api-version={quote(api)}"
                               f"&$skipToken={quote(_encode_token(nxt))}")
        return out

    async def _list_connectors(self, request: web.Request, *, user: str, sub: str, rg: str | None = None
                               ) -> web.Response:
        def work() -> list[dict]:
            prefix = f"/subscriptions/{sub}/".lower()
            rg_prefix = f"/subscriptions/{sub}/resourcegroups/{rg}/".lower() if rg else None
            with self._lock():
                items = [copy.deepcopy(v) for k, v in self.world.security_connectors.items()
                         if k.lower().startswith(rg_prefix or prefix)]
            items.sort(key=lambda c: str(c.get("id", "")).lower())
            return items

        items = await self._in_thread(work)
        return _json_response(self._page(request, items, request.path))

    async def _get_connector(self, request: web.Request, *, user: str, sub: str, rg: str, name: str
                             ) -> web.Response:
        cid = self._connector_id(sub, rg, name)

        def work() -> dict:
            with self._lock():
                found = _first_key(self.world.security_connectors, cid.lower())
                if found is None:
                    raise ArmError(404, "ResourceNotFound",
                                   f"The Resource 'Microsoft.Security/securityConnectors/{name}' under resource "
                                   f"group '{rg}' was not found.")
                return copy.deepcopy(found)

        return _json_response(await self._in_thread(work))

    def _validate_connector_body(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        props = body.get("properties", {})
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The 'properties' member must be an object.")
        env = props.get("environmentName")
        if env is not None and env not in CLOUD_NAMES:
            raise ArmError(400, "InvalidRequestContent",
                           f"The environmentName '{env}' is invalid. Valid values: {', '.join(CLOUD_NAMES)}.")
        offerings = props.get("offerings")
        if offerings is not None:
            if not isinstance(offerings, list) or not all(
                    isinstance(o, dict) and isinstance(o.get("offeringType"), str) for o in offerings):
                raise ArmError(400, "InvalidRequestContent",
                               "'offerings' must be an array of objects, each with an 'offeringType'.")
        return body

    @staticmethod
    def _check_scan_interval(props: dict) -> None:
        """400 for an AWS connector whose scanInterval is not 4, 6, 12 or 24 (the code and message are assumed)."""
        env = props.get("environmentData")
        if not isinstance(env, dict) or env.get("scanInterval") is None:
            return
        if props.get("environmentName") != "AWS" and env.get("environmentType") != "AwsAccount":
            return
        v = env["scanInterval"]
        if isinstance(v, bool) or not isinstance(v, int) or v not in SCAN_INTERVALS:
            raise ArmError(400, "InvalidScanInterval",
                           f"The scan interval '{v}' is not valid. An AWS connector scans every "
                           f"{', '.join(map(str, SCAN_INTERVALS[:-1]))} or {SCAN_INTERVALS[-1]} hours.")

    def _fill_connector_readonly(self, props: dict) -> dict:
        for o in props.get("offerings") or []:
            desc = OFFERING_DESCRIPTIONS.get(o.get("offeringType"))
            if desc and "description" not in o:
                o["description"] = desc
        env = props.get("environmentData")
        hid = props.get("hierarchyIdentifier")
        if isinstance(env, dict) and env.get("environmentType") == "AwsAccount" and hid:
            for acct in getattr(self.world, "aws_accounts", []) or []:
                if getattr(acct, "account_id", None) == str(hid):
                    env.setdefault("accountName", acct.name)
                    break
        return props

    async def _put_connector(self, request: web.Request, *, user: str, sub: str, rg: str, name: str
                             ) -> web.Response:
        body = self._validate_connector_body(await self._read_json(request))
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        cid = self._connector_id(sub, rg, name)

        def work() -> tuple[int, dict]:
            with self._lock():
                store = self.world.security_connectors
                key = _find_key(store, cid.lower())
                existing = store.get(key) if key else None
                props = copy.deepcopy(body.get("properties") or {})
                self._check_scan_interval(props)
                hid, env = props.get("hierarchyIdentifier"), props.get("environmentName")
                if hid and env:
                    for k, other in store.items():
                        if k == key:
                            continue
                        op = other.get("properties") or {}
                        if op.get("hierarchyIdentifier") == hid and op.get("environmentName") == env:
                            raise ArmError(409, "Conflict",
                                           f"A security connector for {env} hierarchy '{hid}' already exists: "
                                           f"'{other.get('id')}'.")
                now = _now_iso()
                created = (existing or {}).get("systemData") or {}
                stored = {
                    "id": (existing or {}).get("id") or cid,
                    "name": (existing or {}).get("name") or name,
                    "type": "Microsoft.Security/securityConnectors",
                    "etag": str(uuid.uuid4()),
                    "kind": body.get("kind") or "",
                    "location": body["location"],
                    "tags": copy.deepcopy(body.get("tags") or {}),
                    "systemData": {
                        "createdBy": created.get("createdBy", "operator@contoso.com"),
                        "createdByType": created.get("createdByType", "User"),
                        "createdAt": created.get("createdAt", now),
                        "lastModifiedBy": "operator@contoso.com",
                        "lastModifiedByType": "User",
                        "lastModifiedAt": now,
                    },
                    "properties": self._fill_connector_readonly(props),
                }
                store[key or cid.lower()] = stored
                self._touch()
                return (200 if existing is not None else 201), copy.deepcopy(stored)

        status, out = await self._in_thread(work)
        return _json_response(out, status)

    async def _patch_connector(self, request: web.Request, *, user: str, sub: str, rg: str, name: str
                               ) -> web.Response:
        patch = self._validate_connector_body(await self._read_json(request))
        cid = self._connector_id(sub, rg, name)

        def work() -> dict:
            with self._lock():
                store = self.world.security_connectors
                key = _find_key(store, cid.lower())
                if key is None:
                    raise ArmError(404, "ResourceNotFound",
                                   f"The Resource 'Microsoft.Security/securityConnectors/{name}' under resource "
                                   f"group '{rg}' was not found.")
                existing = store[key]
                safe = {k: v for k, v in patch.items() if k not in ("id", "name", "type", "systemData", "etag")}
                merged = _merge_patch(existing, safe)
                env_patch = (safe.get("properties") or {}).get("environmentData")
                if isinstance(env_patch, dict) and "scanInterval" in env_patch:
                    self._check_scan_interval(merged.get("properties") or {})
                # arrays are replaced wholesale by a merge patch; read-only fields are recomputed
                merged["properties"] = self._fill_connector_readonly(merged.get("properties") or {})
                merged["etag"] = str(uuid.uuid4())
                sd = dict(merged.get("systemData") or {})
                sd.update(lastModifiedBy="operator@contoso.com", lastModifiedByType="User",
                          lastModifiedAt=_now_iso())
                merged["systemData"] = sd
                store[key] = merged
                self._touch()
                return copy.deepcopy(merged)

        return _json_response(await self._in_thread(work))

    async def _delete_connector(self, request: web.Request, *, user: str, sub: str, rg: str, name: str
                                ) -> web.Response:
        cid = self._connector_id(sub, rg, name)

        def work() -> bool:
            with self._lock():
                store = self.world.security_connectors
                key = _find_key(store, cid.lower())
                if key is None:
                    return False
                self._refuse_if_locked(str(store[key].get("id") or cid))
                del store[key]
                self._touch()
                return True

        existed = await self._in_thread(work)
        return web.Response(status=200 if existed else 204)

    # -- classic connectors (2020-01-01-preview) -------------------------------------------------------------

    def _classic_id(self, sub: str, name: str) -> str:
        return f"/subscriptions/{sub}/providers/Microsoft.Security/connectors/{name}"

    def _classic_view(self, stored: dict) -> dict:
        """What the API returns: secrets never leave the emulator. Like Azure (see the official list example), an
        awsCreds connector comes back with the string "null" for both its key id and its secret."""
        out = copy.deepcopy(stored)
        props = out.get("properties") or {}
        auth = props.get("authenticationDetails")
        if isinstance(auth, dict):
            if auth.get("authenticationType") == "awsCreds":
                auth["awsAccessKeyId"] = auth["awsSecretAccessKey"] = "null"
            else:
                auth.pop("awsSecretAccessKey", None)
            auth.pop("privateKey", None)
            auth.pop("privateKeyId", None)
        hcs = props.get("hybridComputeSettings")
        if isinstance(hcs, dict) and isinstance(hcs.get("servicePrincipal"), dict):
            hcs["servicePrincipal"].pop("secret", None)
        return out

    async def _list_classic(self, request: web.Request, *, user: str, sub: str) -> web.Response:
        def work() -> list[dict]:
            prefix = f"/subscriptions/{sub}/".lower()
            with self._lock():
                items = [self._classic_view(v) for k, v in self.world.classic_connectors.items()
                         if k.lower().startswith(prefix)]
            items.sort(key=lambda c: str(c.get("id", "")).lower())
            return items

        items = await self._in_thread(work)
        return _json_response(self._page(request, items, request.path))

    async def _get_classic(self, request: web.Request, *, user: str, sub: str, name: str) -> web.Response:
        cid = self._classic_id(sub, name)

        def work() -> dict:
            with self._lock():
                found = _first_key(self.world.classic_connectors, cid.lower())
                if found is None:
                    raise ArmError(404, "ResourceNotFound",
                                   f"The Resource 'Microsoft.Security/connectors/{name}' was not found.")
                return self._classic_view(found)

        return _json_response(await self._in_thread(work))

    async def _put_classic(self, request: web.Request, *, user: str, sub: str, name: str) -> web.Response:
        body = await self._read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must contain 'properties'.")
        props = copy.deepcopy(body["properties"])
        auth = props.get("authenticationDetails")
        if auth is not None:
            if not isinstance(auth, dict) or auth.get("authenticationType") not in (
                    "awsCreds", "awsAssumeRole", "gcpCredentials"):
                raise ArmError(400, "InvalidRequestContent",
                               "authenticationDetails.authenticationType must be one of awsCreds, awsAssumeRole, "
                               "gcpCredentials.")
            if auth["authenticationType"] == "awsAssumeRole" and not (
                    auth.get("awsAssumeRoleArn") and auth.get("awsExternalId")):
                raise ArmError(400, "InvalidRequestContent",
                               "awsAssumeRoleArn and awsExternalId are required for awsAssumeRole.")
            if auth["authenticationType"] == "awsCreds" and not (
                    auth.get("awsAccessKeyId") and auth.get("awsSecretAccessKey")):
                raise ArmError(400, "InvalidRequestContent",
                               "awsAccessKeyId and awsSecretAccessKey are required for awsCreds.")
        hcs = props.get("hybridComputeSettings")
        if hcs is not None:
            if not isinstance(hcs, dict) or hcs.get("autoProvision") not in ("On", "Off"):
                raise ArmError(400, "InvalidRequestContent",
                               "hybridComputeSettings.autoProvision must be 'On' or 'Off'.")
        cid = self._classic_id(sub, name)

        def work() -> tuple[int, dict]:
            denied = {str(a) for a in (getattr(self.world, "denied_accounts", None) or set())}
            if isinstance(auth, dict):
                # secrets are never stored, let alone returned
                auth.pop("awsSecretAccessKey", None)
                auth.pop("privateKey", None)
                auth.pop("privateKeyId", None)
                if auth["authenticationType"] == "awsAssumeRole":
                    m = re.match(r"arn:aws[a-z-]*:iam::(\d+):role/", str(auth.get("awsAssumeRoleArn")))
                    if m:
                        auth["accountId"] = m.group(1)
                state = "Invalid" if auth.get("accountId") in denied else "Valid"
                auth["authenticationProvisioningState"] = state
                auth["provisioningState"] = state
                if auth["authenticationType"] != "gcpCredentials":
                    auth["grantedPermissions"] = [] if state == "Invalid" else list(AWS_GRANTED_PERMISSIONS)
            if isinstance(hcs, dict):
                sp = hcs.get("servicePrincipal")
                if isinstance(sp, dict):
                    sp.pop("secret", None)
                if hcs.get("autoProvision") == "On":
                    state = "Valid" if isinstance(sp, dict) and sp.get("applicationId") else "Invalid"
                else:
                    state = "Valid"
                hcs["hybridComputeProvisioningState"] = state
                hcs["provisioningState"] = state
            with self._lock():
                store = self.world.classic_connectors
                key = _find_key(store, cid.lower())
                existed = key is not None
                stored = {"id": store[key]["id"] if existed else cid,
                          "name": store[key]["name"] if existed else name,
                          "type": "Microsoft.Security/connectors", "properties": props}
                store[key or cid.lower()] = stored
                self._touch()
                return 200, self._classic_view(stored)  # the 2020-01-01-preview API answers 200 for both

        status, out = await self._in_thread(work)
        return _json_response(out, status)

    async def _delete_classic(self, request: web.Request, *, user: str, sub: str, name: str) -> web.Response:
        cid = self._classic_id(sub, name)

        def work() -> bool:
            with self._lock():
                store = self.world.classic_connectors
                key = _find_key(store, cid.lower())
                if key is None:
                    return False
                del store[key]
                self._touch()
                return True

        existed = await self._in_thread(work)
        return web.Response(status=200 if existed else 204)

    # -- pricings (2024-01-01) ---------------------------------------------------------------------------------

    def _pricing_scope(self, scope: str) -> str:
        m = re.fullmatch(r"/subscriptions/([^/]+)", scope, re.IGNORECASE)
        if not m:
            raise ArmError(404, "ResourceNotFound",
                           f"Pricings at scope '{scope}' are not available in this emulator "
                           f"(subscription scope only).")
        return self._sub_spec(m.group(1)).subscription_id

    @staticmethod
    def _pricing_view(sub: str, name: str, body: dict) -> dict:
        out = copy.deepcopy(body)
        out.setdefault("id", f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}")
        out.setdefault("name", name)
        out.setdefault("type", "Microsoft.Security/pricings")
        out.setdefault("properties", {})
        return out

    @staticmethod
    def _parse_filter(flt: str | None) -> set[str] | None:
        if not flt:
            return None
        m = re.fullmatch(r"\s*name\s+in\s*\((.*)\)\s*", flt, re.IGNORECASE)
        if m:
            names = [x.strip().strip("'\"").strip() for x in m.group(1).split(",")]
            return {n.lower() for n in names if n}
        m = re.fullmatch(r"\s*name\s+eq\s+'([^']*)'\s*", flt, re.IGNORECASE)
        if m:
            return {m.group(1).lower()}
        raise ArmError(400, "InvalidFilter", f"The $filter '{flt}' is invalid. Supported: name in (A,B).")

    async def _list_pricings(self, request: web.Request, *, user: str, scope: str) -> web.Response:
        sub = self._pricing_scope(scope)
        wanted = self._parse_filter(request.query.get("$filter"))

        def work() -> list[dict]:
            with self._lock():
                plans = _first_key(self.world.pricings, sub) or {}
                return [self._pricing_view(sub, n, b) for n, b in plans.items()
                        if wanted is None or n.lower() in wanted]

        return _json_response({"value": await self._in_thread(work)})

    async def _get_pricing(self, request: web.Request, *, user: str, scope: str, name: str) -> web.Response:
        sub = self._pricing_scope(scope)

        def work() -> dict:
            with self._lock():
                plans = _first_key(self.world.pricings, sub) or {}
                key = _find_key(plans, name)
                if key is None:
                    raise ArmError(404, "ResourceNotFound", f"The pricing '{name}' was not found.")
                return self._pricing_view(sub, key, plans[key])

        return _json_response(await self._in_thread(work))

    async def _put_pricing(self, request: web.Request, *, user: str, scope: str, name: str) -> web.Response:
        sub = self._pricing_scope(scope)
        body = await self._read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must contain 'properties'.")
        new = body["properties"]
        tier = str(new.get("pricingTier") or "")
        tiers = {"free": "Free", "standard": "Standard"}
        if tier.lower() not in tiers:
            raise ArmError(400, "InvalidInputJson", "pricingTier is required and must be 'Free' or 'Standard'.")
        tier = tiers[tier.lower()]

        def work() -> dict:
            with self._lock():
                plans = _first_key(self.world.pricings, sub)
                key = _find_key(plans, name) if plans is not None else None
                if plans is None or key is None:
                    raise ArmError(404, "ResourceNotFound", f"The pricing '{name}' was not found.")
                cur = copy.deepcopy(plans[key])
                props = dict(cur.get("properties") or {})
                was = props.get("pricingTier")
                props["pricingTier"] = tier
                props.setdefault("freeTrialRemainingTime", "PT0S")
                for k in ("subPlan", "enforce", "extensions"):
                    if k in new:
                        props[k] = copy.deepcopy(new[k])
                if tier == "Free":
                    props.pop("subPlan", None)
                    props.pop("enablementTime", None)
                    props.pop("extensions", None)
                    props["resourcesCoverageStatus"] = "NotCovered"
                elif was != "Standard" or "enablementTime" not in props:
                    props["enablementTime"] = _now_iso()
                cur["properties"] = props
                view = self._pricing_view(sub, key, cur)
                plans[key] = view
                self._touch()
                return copy.deepcopy(view)

        return _json_response(await self._in_thread(work))

    # -- cloud metadata, managed identity, tenants ------------------------------------------------------------

    async def _metadata(self, request: web.Request, *, user: str) -> web.Response:
        return _json_response(metadata_response(self._base_url(request), request.query.get("api-version")))

    async def _mi_token(self, request: web.Request) -> web.Response:
        """The managed-identity endpoint (its own plain-HTTP listener): GET /msi/token?api-version=2019-08-01&..."""
        assert self.identity is not None
        if request.path.rstrip("/").lower() != "/msi/token":
            return _json_response({"statusCode": 404, "message": f"No such endpoint {request.path}; the token "
                                   f"endpoint is /msi/token?api-version={MI_API_VERSION}"}, 404)
        if request.method.upper() != "GET":
            return _json_response({"statusCode": 405, "message": "Use GET."}, 405)
        out = self.identity.token_response(request.query, request.headers)
        return _json_response(out.body, out.status)

    async def _list_tenants(self, request: web.Request, *, user: str) -> web.Response:
        """The caller's tenant (Home), then the tenants that delegated a subscription to it (ProjectedBy: assumed
        to be the category ARM gives an Azure Lighthouse customer's tenant)."""
        tid = self._tenant_of_request(request)
        if not tid:
            return _json_response({"value": []})
        names = getattr(self.world, "tenant_names", None) or {}
        of = getattr(self.world, "subscription_tenant", None)
        visible = self._visible(tid)
        others: list[str] = []
        if callable(of):
            for s in self.world.subscriptions:
                t = of(s.subscription_id)
                if (visible is None or s.subscription_id.lower() in visible) and t != tid and t not in others:
                    others.append(t)

        def view(t: str, category: str) -> dict:
            domain = f"mdcaws{t.replace('-', '')[:8]}.onmicrosoft.com"
            out = {"id": f"/tenants/{t}", "tenantId": t, "countryCode": "US",
                   "displayName": names.get(t, "mdc-aws emulated estate"), "domains": [domain],
                   "tenantCategory": category, "defaultDomain": domain}
            if category == "Home":
                out["tenantType"] = "AAD"  # "only available for Home tenant category" (Tenants - List)
            return out

        return _json_response({"value": [view(tid, "Home")] + [view(t, "ProjectedBy") for t in others]})

    # -- subscriptions, providers, permissions ---------------------------------------------------------------

    def _subscription_view(self, spec: Any) -> dict:
        of = getattr(self.world, "subscription_tenant", None)
        managers = getattr(self.world, "managed_by_tenants", None)
        return {
            "id": f"/subscriptions/{spec.subscription_id}",
            "authorizationSource": "RoleBased",
            # Subscriptions 2022-12-01: the tenants managing it through Azure Lighthouse
            "managedByTenants": ([{"tenantId": t} for t in managers(spec.subscription_id)] if callable(managers)
                                 else []),
            "subscriptionId": spec.subscription_id,
            "tenantId": of(spec.subscription_id) if callable(of) else getattr(self.world, "tenant_id", None),
            "displayName": spec.display_name,
            "state": spec.state,
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
        }

    async def _list_subscriptions(self, request: web.Request, *, user: str) -> web.Response:
        visible = self._visible(self._tenant_of_request(request))
        return _json_response({"value": [self._subscription_view(s) for s in self.world.subscriptions
                                         if visible is None or s.subscription_id.lower() in visible]})

    async def _get_subscription(self, request: web.Request, *, user: str, sub: str) -> web.Response:
        return _json_response(self._subscription_view(self._sub_spec(sub)))

    def _provider_view(self, sub: str, ns: str, state: str) -> dict:
        types: list[dict] = []
        if ns.lower() == "microsoft.security":
            types = [{"resourceType": t, "locations": [], "apiVersions": list(v)} for t, v in SECURITY_RESOURCE_TYPES]
        return {"id": f"/subscriptions/{sub}/providers/{ns}", "namespace": ns, "registrationState": state,
                "registrationPolicy": "RegistrationRequired", "resourceTypes": types}

    def _namespaces(self, sub: str) -> dict[str, str]:
        with self._lock():
            return dict(_first_key(self.world.providers, sub) or {})

    async def _list_providers(self, request: web.Request, *, user: str, sub: str) -> web.Response:
        def work() -> list[dict]:
            states = self._namespaces(sub)
            names = {n.lower(): n for n in KNOWN_NAMESPACES}
            names.update({n.lower(): n for n in states})
            return [self._provider_view(sub, n, _first_key(states, n) or "NotRegistered")
                    for _, n in sorted(names.items())]

        return _json_response({"value": await self._in_thread(work)})

    def _resolve_namespace(self, sub: str, ns: str) -> tuple[str, str]:
        states = self._namespaces(sub)
        key = _find_key(states, ns)
        if key is not None:
            return key, states[key]
        for n in KNOWN_NAMESPACES:
            if n.lower() == ns.lower():
                return n, "NotRegistered"
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")

    async def _get_provider(self, request: web.Request, *, user: str, sub: str, ns: str) -> web.Response:
        def work() -> dict:
            name, state = self._resolve_namespace(sub, ns)
            return self._provider_view(sub, name, state)

        return _json_response(await self._in_thread(work))

    async def _register_provider(self, request: web.Request, *, user: str, sub: str, ns: str, action: str
                                 ) -> web.Response:
        def work() -> dict:
            name, _ = self._resolve_namespace(sub, ns)
            register = action.lower() == "register"
            with self._lock():
                store = self.world.providers
                skey = _find_key(store, sub)
                if skey is None:
                    store[sub] = {}
                    skey = sub
                states = store[skey]
                nkey = _find_key(states, name) or name
                states[nkey] = "Registered" if register else "NotRegistered"
                self._touch()
            # ARM answers while the registration is still in flight
            return self._provider_view(sub, nkey, "Registering" if register else "Unregistering")

        return _json_response(await self._in_thread(work))

    async def _permissions(self, request: web.Request, *, user: str, sub: str) -> web.Response:
        def work() -> list[dict]:
            with self._lock():
                perms = copy.deepcopy(_first_key(self.world.permissions, sub) or [])
            out = []
            for p in perms:
                out.append({"actions": list(p.get("actions") or []), "notActions": list(p.get("notActions") or []),
                            "dataActions": list(p.get("dataActions") or []),
                            "notDataActions": list(p.get("notDataActions") or [])})
            return out

        return _json_response({"value": await self._in_thread(work)})

    # -- management locks (Microsoft.Authorization/locks) ----------------------------------------------------
    # world.locks: lower-case lock id -> ManagementLockObject {"id", "name", "type", "properties": {"level", "notes"}};
    # a lock's scope is its id up to "/providers/Microsoft.Authorization/locks/". A world without `locks` has none.

    @staticmethod
    def _lock_scope(lock_id: str) -> str:
        low = lock_id.lower()
        cut = low.rfind("/providers/microsoft.authorization/locks/")
        return lock_id[:cut] if cut >= 0 else lock_id

    def _locks_store(self) -> dict[str, dict]:
        store = getattr(self.world, "locks", None)
        if store is None:
            store = {}
            try:
                self.world.locks = store
            except AttributeError:  # a world that refuses new attributes has no locks
                pass
        return store

    def _refuse_if_locked(self, resource_id: str) -> None:
        """409 ScopeLocked when a lock covers the resource (at its scope or above); caller holds the lock."""
        rid = resource_id.lower().rstrip("/")
        scopes = set()
        for k, v in self._locks_store().items():
            scope = self._lock_scope(str(v.get("id") or k))
            if rid == scope.lower() or rid.startswith(scope.lower() + "/"):
                scopes.add(scope)
        if scopes:
            raise ArmError(409, "ScopeLocked",
                           f"The scope '{resource_id}' cannot perform delete operation because following scope(s) "
                           f"are locked: '{', '.join(sorted(scopes))}'. Please remove the lock and try again.")

    async def _list_locks(self, request: web.Request, *, user: str, sub: str, rest: str = "") -> web.Response:
        scope = f"/subscriptions/{sub}{rest}".rstrip("/")

        def work() -> list[dict]:
            low = scope.lower()
            with self._lock():
                items = [copy.deepcopy(v) for k, v in self._locks_store().items()
                         if (s := self._lock_scope(str(v.get("id") or k)).lower()) == low or s.startswith(low + "/")]
            items.sort(key=lambda x: str(x.get("id", "")).lower())
            return items

        items = await self._in_thread(work)
        return _json_response(self._page(request, items, request.path))

    async def _get_lock(self, request: web.Request, *, user: str, sub: str, lock: str, rest: str = ""
                        ) -> web.Response:
        lid = f"/subscriptions/{sub}{rest}/providers/Microsoft.Authorization/locks/{lock}"

        def work() -> dict:
            with self._lock():
                found = _first_key(self._locks_store(), lid.lower())
                if found is None:
                    raise ArmError(404, "LockNotFound", f"The lock '{lock}' could not be found.")
                return copy.deepcopy(found)

        return _json_response(await self._in_thread(work))

    async def _put_lock(self, request: web.Request, *, user: str, sub: str, lock: str, rest: str = ""
                        ) -> web.Response:
        lid = f"/subscriptions/{sub}{rest}/providers/Microsoft.Authorization/locks/{lock}"
        body = await self._read_json(request)
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict) or props.get("level") not in ("CanNotDelete", "ReadOnly"):
            raise ArmError(400, "InvalidLockLevel", "The lock level must be 'CanNotDelete' or 'ReadOnly'.")
        level = props["level"]
        item: dict[str, Any] = {"id": lid, "name": lock, "type": "Microsoft.Authorization/locks",
                                "properties": {"level": level}}
        if props.get("notes"):
            item["properties"]["notes"] = str(props["notes"])[:512]
        if props.get("owners"):
            item["properties"]["owners"] = copy.deepcopy(props["owners"])

        def work() -> int:
            with self._lock():
                store = self._locks_store()
                key = _find_key(store, lid.lower())
                existed = key is not None
                if key is not None:
                    del store[key]
                store[lid.lower()] = item
                self._touch()
                return 200 if existed else 201

        status = await self._in_thread(work)
        return _json_response(copy.deepcopy(item), status)

    async def _delete_lock(self, request: web.Request, *, user: str, sub: str, lock: str, rest: str = ""
                           ) -> web.Response:
        lid = f"/subscriptions/{sub}{rest}/providers/Microsoft.Authorization/locks/{lock}"

        def work() -> bool:
            with self._lock():
                store = self._locks_store()
                key = _find_key(store, lid.lower())
                if key is None:
                    return False
                del store[key]
                self._touch()
                return True

        return web.Response(status=200 if await self._in_thread(work) else 204)

    # -- shared ----------------------------------------------------------------------------------------------

    @staticmethod
    async def _read_json(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise ArmError(400, "InvalidRequestContent", "The request content was empty.")
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.") from None

    # -- admin -------------------------------------------------------------------------------------------------

    async def _admin(self, request: web.Request) -> web.Response:
        remote = request.remote or ""
        if remote not in ("127.0.0.1", "::1", "::ffff:127.0.0.1") and not remote.startswith("127."):
            return _json_response({"error": {"code": "Forbidden", "message": "loopback only"}}, 403)
        path, method = request.path.rstrip("/"), request.method.upper()
        try:
            if path == "/_emulator/health" and method == "GET":
                return _json_response(await self._in_thread(self._health))
            if path == "/_emulator/requests":
                if method == "GET":
                    recs = [r.to_dict() for r in self.request_log.records()]
                    since = request.query.get("since")
                    if since:
                        recs = recs[int(since):]
                    return _json_response(recs)
                if method == "DELETE":
                    self.request_log.clear()
                    return web.Response(status=204)
            if path == "/_emulator/faults":
                if method == "GET":
                    return _json_response([r.to_dict() for r in self.faults.rules()])
                if method == "POST":
                    data = await request.json()
                    rules = data if isinstance(data, list) else [data]
                    added = [self.faults.add(FaultRule.from_dict(r)) for r in rules]
                    return _json_response({"added": len(added), "rules": len(self.faults)})
                if method == "DELETE":
                    self.faults.clear()
                    return web.Response(status=204)
            if path == "/_emulator/quota" and method == "DELETE":
                self.quota.reset()
                return web.Response(status=204)
            if path == "/_emulator/advance" and method == "POST":
                ticks = int(request.query.get("ticks", "1"))
                return _json_response(await self._in_thread(self._advance, ticks))
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
            return _json_response({"error": {"code": "BadRequest", "message": str(e)}}, 400)
        except ArmError as e:
            return e.response()
        return _json_response({"error": {"code": "NotFound", "message": f"no admin route {method} {path}"}}, 404)

    def _health(self) -> dict:
        rg = self.resource_graph
        snap = rg.store.current
        out: dict[str, Any] = {"status": "ok", "url": self.url, "requests": len(self.request_log),
                               "faults": len(self.faults), "argLoads": rg.store.loads,
                               "argQueries": rg.queries_run}
        if self.identity is not None:
            out["identityUrl"] = self.identity_url
            out["identityTokensIssued"] = self.identity.issued
        try:
            out["tick"] = self.world.tick()
        except Exception:  # noqa: BLE001 - a health probe reports what it can; a world without a clock has no tick
            pass
        if snap is not None:
            out["argTables"] = dict(snap.row_counts)
            out["argLoadMs"] = round(snap.load_ms, 1)
        return out

    def _advance(self, ticks: int) -> dict:
        if ticks < 0:
            raise ArmError(400, "BadRequest", "ticks must be >= 0")
        clock: Any = getattr(self.world, "clock", None)
        manual = clock is not None and (getattr(clock, "manual", False) or type(clock).__name__ == "ManualClock")
        if not manual:
            raise ArmError(409, "Conflict", "The world clock is not manual; ticks cannot be advanced.")
        fn = getattr(self.world, "advance", None)
        with self._lock():
            if callable(fn):
                fn(ticks)
            elif callable(getattr(clock, "advance", None)):
                clock.advance(ticks)
            else:
                raise ArmError(409, "Conflict", "The world clock cannot be advanced.")
        return {"tick": self.world.tick()}


# request storage: the tenant the caller's token belongs to, the caller's object id (issued tokens). Typed keys
# where aiohttp has them (3.12+; plain strings warn there), strings before.
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
_TENANT: Any = _REQUEST_KEY("mdc_aws.tenant", str) if _REQUEST_KEY else "mdc_aws.tenant"
_OID: Any = _REQUEST_KEY("mdc_aws.oid", str) if _REQUEST_KEY else "mdc_aws.oid"
_SCOPE_SUB = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_PROVIDER_TYPE = re.compile(r"/providers/([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+)/([A-Za-z][A-Za-z0-9]*)",
                            re.IGNORECASE)


def _scope_subscription(scope: str | None) -> str | None:
    m = _SCOPE_SUB.match(scope or "")
    return m.group(1) if m else None


def _arm_action(method: str, path: str) -> str:
    """The RBAC action a request needs, as ARM names it in AuthorizationFailed: the last provider's resource type
    of the path (else the subscription) and read / write / delete / action."""
    found = _PROVIDER_TYPE.findall(path)
    rtype = f"{found[-1][0]}/{found[-1][1]}" if found else "Microsoft.Resources/subscriptions"
    verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method.upper(), "action")
    return f"{rtype}/{verb}"


def _is_arg_path(path: str) -> bool:
    return path.lower().rstrip("/").endswith("/providers/microsoft.resourcegraph/resources")


def _user_key(request: web.Request) -> str:
    """Quota is per user: the principal (tid/oid) of a JWT, so a refreshed token keeps its quota; else one key per
    bearer token (hashed: tokens are never kept)."""
    token = (request.headers.get("Authorization") or "").partition(" ")[2].strip()
    if token.count(".") == 2:
        try:
            p = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
            if isinstance(claims, dict) and claims.get("oid") and claims.get("tid"):
                token = f"principal:{claims['tid']}:{claims['oid']}"
        except (ValueError, UnicodeDecodeError):
            pass
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL_LOCK = _NullLock()


# ------------------------------------------------------------------------------------------------------------------
# threaded runner


class ArmEmulatorThread:
    """`ArmEmulator` on its own event loop in a daemon thread (for the demo and for tests on another loop)."""

    def __init__(self, world: Any, **kwargs: Any) -> None:
        self.emulator = ArmEmulator(world, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0) -> str:
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="arm-emulator", daemon=True)
        self._thread.start()
        ready.wait(timeout_s)
        fut = asyncio.run_coroutine_threadsafe(self.emulator.start(host, port), loop)
        return fut.result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.emulator.stop(), loop).result(timeout_s)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)
            self._loop = self._thread = None

    def __enter__(self) -> "ArmEmulatorThread":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def identity_url(self) -> str:
        return self.emulator.identity_url

    @property
    def ca_pem_path(self) -> str:
        return self.emulator.ca_pem_path

    @property
    def request_log(self) -> RequestLog:
        return self.emulator.request_log

    @property
    def faults(self) -> FaultConfig:
        return self.emulator.faults

    @property
    def resource_graph(self) -> ResourceGraph:
        return self.emulator.resource_graph

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop
