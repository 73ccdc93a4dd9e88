"""Run the sections concurrently and assemble a Snapshot.

- connectors, plans, onboarding, recommendations, compliance run at the same time; onboarding's AWS half waits
  only for the connectors (it needs to know which accounts and regions to read).
- A failed section keeps its last good data with its error and age ("stale"); with no good data it is "error".
- One failing cloud never blocks the other: Arc (Azure) and EC2/SSM (AWS) are fetched independently.
- Each section has its own timeout, so a slow query never holds the snapshot hostage.
- Several tenants ([[tenants]]): a section some configured tenant failed in shows the others' fresh data, marked
  stale with "partial: <the tenant's line>" (the source's `tenant_failures()`), never silent zeros for its accounts.

Never imports textual or rich.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence

from . import model as m
from .aws import CSPM_ROLE, SetupHint
from .errors import AuthError, SourceError
from .health import used_roles

log = logging.getLogger(__name__)


class AzureLike(Protocol):
    async def subscriptions(self) -> tuple[list[str], str | None]: ...
    async def connectors(self, subscriptions: Sequence[str]) -> m.ConnectorsData: ...
    async def pricings(self, subscriptions: Sequence[str]) -> m.PlansData: ...
    async def arc_machines(self, subscriptions: Sequence[str]) -> tuple[m.ArcMachine, ...]: ...
    async def recommendation_counts(self, subscriptions: Sequence[str]) -> tuple[m.RecommendationCount, ...]: ...
    async def compliance(self, subscriptions: Sequence[str]) -> m.ComplianceData | tuple[m.ComplianceStandard, ...]: ...


class AwsLike(Protocol):
    # `hints` (setup_hints): what of each account's set-up to read; a source without the parameter is called without
    async def inventory(self, accounts: Mapping[str, Sequence[str]],
                        hints: Mapping[str, SetupHint] | None = None) -> dict[str, m.AwsAccountInventory]: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def describe_error(e: BaseException) -> str:
    """One line for any exception: SourceErrors carry their own; anything else gets a generic, honest line."""
    if isinstance(e, SourceError):
        return str(e)
    if isinstance(e, asyncio.TimeoutError):
        return "timed out; the service is slow or unreachable (it is retried at the next refresh)"
    text = " ".join(str(e).split()) or e.__class__.__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"unexpected {e.__class__.__name__}: {text}"


class Collector:
    """Keeps the last good data per section between runs; `collect()` returns a new Snapshot each time."""

    def __init__(self, azure: AzureLike, aws: AwsLike | None, *, section_timeout_s: float = 120.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.azure = azure
        self.aws = aws
        self.section_timeout_s = section_timeout_s
        self.clock = clock
        self.last_good: dict[str, m.Section] = {}
        self.subscriptions: tuple[str, ...] = ()
        self.tenant_id: str | None = None
        self.tenants: dict[str, str] = {}  # tenant id -> display name, as the last collection named them
        self.auth_failed = False

    def seed(self, snapshot: m.Snapshot) -> None:
        """Start from a previous snapshot (history): its sections count as last good data."""
        for name, sec in snapshot.sections.items():
            if sec.data is not None:
                self.last_good[name] = sec
        self.subscriptions = snapshot.subscriptions
        self.tenant_id = snapshot.tenant_id
        self.tenants = dict(getattr(snapshot, "tenants", None) or {})

    async def _timed(self, coro: Awaitable[Any]) -> tuple[Any, float]:
        t0 = time.perf_counter()
        result = await asyncio.wait_for(coro, self.section_timeout_s)
        return result, time.perf_counter() - t0

    def _ok(self, name: str, data: Any, duration: float, as_of: datetime) -> m.Section:
        sec = m.Section(m.SectionStatus(name, "ok", as_of, None, round(duration, 3)), data)
        self.last_good[name] = sec
        return sec

    def _partial(self, name: str, data: Any, duration: float, as_of: datetime, failures: Sequence[str]) -> m.Section:
        """Fresh data that lacks a configured tenant's part: shown, marked stale with what is missing (so `check`
        does not compare it and the history records no aggregate from it); not kept as last good data."""
        return m.Section(m.SectionStatus(name, "stale", as_of, "partial: " + "; ".join(failures),
                                         round(duration, 3)), data)

    def _failed(self, name: str, error: str, duration: float | None = None) -> m.Section:
        prev = self.last_good.get(name)
        if prev is not None:
            return m.Section(m.SectionStatus(name, "stale", prev.status.as_of, error, duration), prev.data)
        return m.Section(m.SectionStatus(name, "error", None, error, duration), None)

    async def collect(self) -> m.Snapshot:
        started = self.clock()
        self.auth_failed = False
        sections: dict[str, m.Section] = {}

        try:
            subs, tenant = await asyncio.wait_for(self.azure.subscriptions(), self.section_timeout_s)
            self.subscriptions = tuple(subs)
            self.tenant_id = tenant or self.tenant_id
            sub_error: str | None = None
            if not subs:
                sub_error = ("no Azure subscriptions are visible to these credentials: pass --subscription "
                             "or grant Reader on the subscriptions that hold the AWS connectors")
        except Exception as e:  # noqa: BLE001 - every failure becomes a line in the section
            self.auth_failed = isinstance(e, AuthError)
            sub_error = describe_error(e)
            subs = list(self.subscriptions)

        track = getattr(self.azure, "tenant_failures", None)  # several tenants: which failed inside a section

        async def azure_section(name: str, fn: Callable[[Sequence[str]], Awaitable[Any]]
                                ) -> tuple[Any, float, list[str]]:
            if sub_error and not subs:
                raise SourceError(sub_error)
            if track is None:
                data, dur = await self._timed(fn(subs))
                return data, dur, []
            with track() as failures:
                data, dur = await self._timed(fn(subs))
            return data, dur, list(failures)

        t_conn = asyncio.create_task(azure_section("connectors", self.azure.connectors))
        t_plans = asyncio.create_task(azure_section("plans", self.azure.pricings))
        t_arc = asyncio.create_task(azure_section("arc", self.azure.arc_machines))
        t_recs = asyncio.create_task(azure_section("recommendations", self.azure.recommendation_counts))
        t_comp = asyncio.create_task(azure_section("compliance", self.azure.compliance))

        # connectors first: the AWS half of onboarding needs the accounts and regions
        conn_data: m.ConnectorsData | None = None
        try:
            conn_data, dur, failures = await t_conn
            sections["connectors"] = (self._partial("connectors", conn_data, dur, self.clock(), failures) if failures
                                      else self._ok("connectors", conn_data, dur, self.clock()))
        except Exception as e:  # noqa: BLE001 - a failed section is shown as failed; the others still load
            self._note_auth(e)
            sections["connectors"] = self._failed("connectors", describe_error(e))
            prev = self.last_good.get("connectors")
            conn_data = prev.data if prev is not None else None

        t_aws = asyncio.create_task(self._aws_inventory(conn_data))
        # the tenants' names (one ARM call when several are in view) beside the AWS half, not after it
        cd = sections["connectors"].data
        t_names = asyncio.create_task(self._name_tenants(cd.connectors if isinstance(cd, m.ConnectorsData) else ()))

        for name, task in (("plans", t_plans), ("recommendations", t_recs), ("compliance", t_comp)):
            try:
                data, dur, failures = await task
                if name == "recommendations":
                    data = m.RecommendationsData(tuple(data))
                elif name == "compliance" and not isinstance(data, m.ComplianceData):
                    data = m.ComplianceData(tuple(data))  # a source that knows no assignments: standards only
                sections[name] = (self._partial(name, data, dur, self.clock(), failures) if failures
                                  else self._ok(name, data, dur, self.clock()))
            except Exception as e:  # noqa: BLE001 - a failed section is shown as failed; the others still load
                self._note_auth(e)
                sections[name] = self._failed(name, describe_error(e))

        sections["onboarding"] = await self._onboarding(t_arc, t_aws)

        ordered = {n: sections[n] for n in m.SECTION_NAMES}
        await t_names
        sub_tenants = getattr(self.azure, "subscription_tenants", None)
        return m.Snapshot(generated_at=started, subscriptions=tuple(subs), sections=ordered,
                          tenant_id=self.tenant_id, tenants=dict(self.tenants),
                          subscription_tenants=dict(sub_tenants) if isinstance(sub_tenants, dict) else {})

    async def _name_tenants(self, connectors: Iterable[m.Connector]) -> None:
        """self.tenants: every tenant in view (the credential's, each connector's) with its display name: the
        source's (config name, ARM's displayName) when it gives one, else the last known, else the id's first 8
        characters. Names are asked for only when more than one tenant is in view; never an error."""
        ids = sorted({c.tenant_id for c in connectors if c.tenant_id} | ({self.tenant_id} if self.tenant_id else set()))
        names: dict[str, str] = {}
        ask = getattr(self.azure, "tenant_names", None)
        if ask is not None and len(ids) > 1:
            try:
                got = await asyncio.wait_for(ask(ids), self.section_timeout_s)
                names = {k: v for k, v in (got or {}).items() if isinstance(v, str) and v}
            except Exception as e:  # noqa: BLE001 - a tenant's name is a nicety: its id stands in for it
                log.info("tenant names not read: %s", describe_error(e))
        self.tenants = {t: names.get(t) or self.tenants.get(t) or t[:8] for t in ids}

    def _note_auth(self, e: BaseException) -> None:
        if isinstance(e, AuthError):
            self.auth_failed = True

    async def _aws_inventory(self, conn_data: m.ConnectorsData | None
                             ) -> tuple[dict[str, m.AwsAccountInventory] | None, str | None, float]:
        t0 = time.perf_counter()
        if self.aws is None:
            return None, "AWS side not configured", 0.0
        if conn_data is None:
            return None, "AWS side waits for the connectors list (it names the accounts and regions)", 0.0
        accounts = accounts_to_scan(conn_data.connectors)
        if not accounts:
            return {}, None, 0.0
        hints = setup_hints(conn_data.connectors)
        try:
            if any(h.with_setup for h in hints.values()) and _takes_hints(self.aws.inventory):
                call = self.aws.inventory(accounts, hints=hints)
            else:
                call = self.aws.inventory(accounts)
            inv = await asyncio.wait_for(call, self.section_timeout_s)
            return inv, None, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - AWS failing leaves the Azure half of onboarding shown
            return None, "AWS: " + describe_error(e), time.perf_counter() - t0

    async def _onboarding(self, t_arc: "asyncio.Task[Any]", t_aws: "asyncio.Task[Any]") -> m.Section:
        prev = self.last_good.get("onboarding")
        prev_data: m.OnboardingData | None = prev.data if prev is not None else None
        errors: list[str] = []
        arc: tuple[m.ArcMachine, ...] | None
        dur = 0.0
        try:
            arc, dur, failures = await t_arc
            arc = tuple(arc)
            if failures:  # a configured tenant's Arc machines are missing: say so rather than "not onboarded"
                errors.append("Arc machines (Azure): partial: " + "; ".join(failures))
        except Exception as e:  # noqa: BLE001 - Arc failing leaves the AWS half of onboarding shown
            self._note_auth(e)
            errors.append("Arc machines (Azure): " + describe_error(e))
            arc = prev_data.arc_machines if prev_data is not None else None
        inv, aws_err, aws_dur = await t_aws
        dur = max(dur, aws_dur)
        if aws_err:
            errors.append(aws_err)
            inv = dict(prev_data.aws) if prev_data is not None else None
        else:
            unread = [a for a, i in (inv or {}).items() if not i.readable]
            if inv and len(unread) == len(inv):
                errors.append("AWS: no account could be read (" + (inv[unread[0]].error or "?") + ")")
        if arc is None and inv is None:
            return self._failed("onboarding", "; ".join(errors) or "no data")
        data = m.OnboardingData(arc_machines=arc or (), aws=inv or {},
                                arc_error=errors[0] if errors and errors[0].startswith("Arc") else None)
        now = self.clock()
        if not errors:
            return self._ok("onboarding", data, dur, now)
        # Partial: the fresh half is shown with the other half's last good data; the section says so.
        sec = m.Section(m.SectionStatus("onboarding", "stale" if prev is not None else "error",
                                        prev.status.as_of if prev is not None else now, "; ".join(errors),
                                        round(dur, 3)), data)
        return sec


def accounts_to_scan(connectors: Iterable[m.Connector]) -> dict[str, list[str]]:
    """AWS account -> regions to read (the union of its connectors' regions; empty = every enabled region)."""
    out: dict[str, set[str]] = {}
    for c in connectors:
        if not c.aws_account_id:
            continue
        regions = out.setdefault(c.aws_account_id, set())
        regions.update(c.regions)
    return {a: sorted(r) for a, r in sorted(out.items())}


def _takes_hints(fn: Callable[..., Any]) -> bool:
    """Does this inventory() take `hints` (AwsSource does; older sources and test fakes may not)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "hints" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _cspm_role(connector: m.Connector) -> str | None:
    """The role name of the connector's CSPM offering (nativeCloudConnection.cloudRoleArn), if in its own account."""
    o = connector.offering(m.PLAN_OFFERINGS["cspm"])
    ncc = o.raw.get("nativeCloudConnection") if o is not None else None
    arn = ncc.get("cloudRoleArn") if isinstance(ncc, Mapping) else None
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[4] != connector.aws_account_id or not parts[5].startswith("role/"):
        return None
    return parts[5].rsplit("/", 1)[-1] or None


def setup_hints(connectors: Iterable[m.Connector]) -> dict[str, SetupHint]:
    """AWS account -> what of its Defender for Cloud set-up AwsSource reads (next to accounts_to_scan, same accounts).

    From its native connectors: management (StackSet instances, trusted access, organization accounts); the stack
    regions (the regions of its single/management connector in order; a member's stack is the StackSet's: not looked
    for); the billable units of its enabled plans (defender_cspm: s3_buckets, rds_instances; databases:
    rds_instances; containers: eks_clusters); with_setup False when it has no native connector (nothing is read)."""
    by_account: dict[str, list[m.Connector]] = {}
    for c in connectors:
        if c.aws_account_id:
            by_account.setdefault(c.aws_account_id, []).append(c)
    out: dict[str, SetupHint] = {}
    for acct, cs in sorted(by_account.items()):
        native = [c for c in cs if c.kind == "native"]
        mgmt = [c for c in native if c.organization_role == "management"]
        owners = [c for c in native if c.organization_role != "member"]
        offerings = {o.offering_type for c in native for o in c.offerings}
        billable: set[str] = set()
        if m.PLAN_OFFERINGS["defender_cspm"] in offerings:
            billable.update(("s3_buckets", "rds_instances"))
        if m.PLAN_OFFERINGS["databases"] in offerings:
            billable.add("rds_instances")
        if m.PLAN_OFFERINGS["containers"] in offerings:
            billable.add("eks_clusters")
        out[acct] = SetupHint(
            management=bool(mgmt),
            stack_regions=tuple(dict.fromkeys(r for c in owners for r in c.regions)),
            billable=frozenset(billable),
            with_setup=bool(native),
            stackset_name=next((c.stackset_name for c in mgmt if c.stackset_name), None),
            cspm_role=next((r for r in map(_cspm_role, native) if r), CSPM_ROLE),
            # the roles its connectors name (custom names too): their trust policies are kept for the health model
            trust_roles=frozenset(r.name for c in native for r in used_roles(c) if r.account == acct),
        )
    return out
