"""Prerequisite checks (`mdc-aws doctor`) and the live reads the onboarding screens need.

    checks = await run_doctor(settings, account="111122223333", plans={"cspm", "servers"})
    for c in checks: print(c.line())          # PASS/FAIL/SKIP, what was found, and the fix

Checks, one line each: the Azure role on each subscription (Microsoft.Authorization/permissions), the resource
providers (Microsoft.Security, Microsoft.HybridCompute, Microsoft.GuestConfiguration), the subscription pricing the
chosen plans need (VirtualMachines Standard for Servers), the AWS identity (sts:GetCallerIdentity), Organizations
trusted access for StackSets (management accounts), and template drift (connector offerings whose IAM roles are
missing in AWS: "re-run the template"). `ok` is True (pass), False (fail: exit non-zero) or None (could not check or
not applicable; the detail says why).

Live reads for the screens (all read-only): plan_checks (the Select plans step), stack_status, region_status
(classic: AWS Config + Security Hub per region), ssm_coverage, role_policies, access_keys.
Never imports textual or rich; never raises for a failed check. Every read first passes
tui.core.policy.check_reads: a demo whose estate is starting or failed to start, or settings a demo run must not
use, raise SourceError before anything is sent.
"""
from __future__ import annotations

import asyncio
import fnmatch
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .. import policy
from ..errors import SourceError
# role_arns: (where, cloudRoleArn) of every role an offering uses; connector_plans: the plans its offerings enable
from ..health import connector_plans, role_arns
from ..model import OFFERING_PLANS, PLAN_KEYS
from .template import DEFAULT_STACK_NAME, STACKSETS_PRINCIPAL, normalize_plans

log = logging.getLogger(__name__)

PERMISSIONS_API = "2022-04-01"
PROVIDERS_API = "2021-04-01"
SUBSCRIPTION_API = "2022-12-01"
REQUIRED_PROVIDERS = ("Microsoft.Security", "Microsoft.HybridCompute", "Microsoft.GuestConfiguration")
ARC_PROVIDERS = ("Microsoft.HybridCompute", "Microsoft.GuestConfiguration")
CONNECTOR_WRITE = "Microsoft.Security/securityConnectors/write"
ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
OFFERING_PLAN = OFFERING_PLANS  # offering type -> plan key (tui.core.model.PLANS)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # True pass, False fail, None could not check / not applicable
    detail: str
    fix: str = ""
    # additions to the contract:
    subject: str = ""  # the subscription or AWS account the check is about
    writes: tuple[Any, ...] = ()  # PlannedWrites that apply the fix (e.g. register a resource provider)

    @property
    def status(self) -> str:
        return "PASS" if self.ok is True else "FAIL" if self.ok is False else "SKIP"

    def line(self) -> str:
        """One line: status, name, what was found and, unless it passed, the fix."""
        text = f"{self.status}  {self.name}: {self.detail}"
        if self.ok is not True and self.fix:
            text += f" -> fix: {self.fix}"
        return " ".join(text.split())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "status": self.status, "detail": self.detail, "fix": self.fix,
                "subject": self.subject}


def failed(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.ok is False]


# ------------------------------------------------------------------------------------------------------------------
# Pure helpers


def _matches(action: str, patterns: Iterable[str]) -> bool:
    a = action.lower()
    return any(fnmatch.fnmatchcase(a, str(p).lower()) for p in patterns if isinstance(p, str))


def allows(permissions: Sequence[Mapping[str, Any]], action: str) -> bool:
    """Whether a Microsoft.Authorization/permissions list grants `action` (wildcards, notActions honoured)."""
    for p in permissions:
        if not isinstance(p, Mapping):
            continue
        if _matches(action, p.get("actions") or []) and not _matches(action, p.get("notActions") or []):
            return True
    return False


def _short(sub: str) -> str:
    return sub[:8] + "…"


# ------------------------------------------------------------------------------------------------------------------
# Azure checks


async def _sub_name(az: Any, sub: str) -> str:
    try:
        body = await az._get_json(f"/subscriptions/{sub}", SUBSCRIPTION_API, what=f"subscription {sub}",  # noqa: SLF001
                                  subscription=sub)
        name = body.get("displayName")
        if isinstance(name, str) and name.strip():
            return f"{name.strip()} ({_short(sub)})"
    except Exception:  # noqa: BLE001 - the name is cosmetic
        pass
    return sub


async def _role_check(az: Any, sub: str, label: str, plans: Sequence[str]) -> Check:
    name = f"Azure role on {label}"
    try:
        perms = await az._list(f"/subscriptions/{sub}/providers/Microsoft.Authorization/permissions",  # noqa: SLF001
                               PERMISSIONS_API, what=f"your permissions on subscription {sub}", subscription=sub)
    except SourceError as e:
        return Check(name, None, f"could not read your permissions ({e})",
                     "ask for at least Reader on the subscription", subject=sub)
    can_write = allows(perms, CONNECTOR_WRITE)
    owner = allows(perms, ROLE_ASSIGNMENT_WRITE)
    if not can_write:
        level = "read-only (Reader)" if allows(perms, "Microsoft.Security/securityConnectors/read") else "no access"
        return Check(name, False, f"{level}: cannot create security connectors ({CONNECTOR_WRITE} not granted)",
                     f"ask an Owner to assign you Contributor (or Security Admin) on it: az role assignment create "
                     f"--assignee <you> --role Contributor --scope /subscriptions/{sub}", subject=sub)
    if owner:
        return Check(name, True, "Owner-level: can create connectors and the role assignments Arc "
                                 "auto-provisioning needs", subject=sub)
    note = ""
    if "servers" in plans or "defender_cspm" in plans:
        note = ("; Arc auto-provisioning and every Defender CSPM capability need Owner (or an Owner providing the "
                "service principal)")
    return Check(name, True, f"Contributor-level: can create connectors{note}", subject=sub)


async def _providers_check(az: Any, settings: Any, sub: str, label: str, plans: Sequence[str]) -> Check:
    from .writes import plan_register_provider

    name = f"resource providers on {label}"
    arc = "servers" in plans or "databases" in plans
    needed = [ns for ns in REQUIRED_PROVIDERS if ns == "Microsoft.Security" or arc]

    async def state(ns: str) -> str:
        body = await az._get_json(f"/subscriptions/{sub}/providers/{ns}", PROVIDERS_API,  # noqa: SLF001
                                  what=f"resource provider {ns}", subscription=sub)
        return str(body.get("registrationState") or "Unknown")

    got = await asyncio.gather(*(state(ns) for ns in REQUIRED_PROVIDERS), return_exceptions=True)
    states: dict[str, str] = {}
    for ns, g in zip(REQUIRED_PROVIDERS, got):
        if isinstance(g, BaseException):
            return Check(name, None, f"could not read {ns} ({g})", "ask for at least Reader on the subscription",
                         subject=sub)
        states[ns] = g
    missing = [ns for ns in needed if states[ns].lower() != "registered"]
    shown = ", ".join(f"{ns} {st}" for ns, st in states.items())
    if not missing:
        extra = "" if arc else " (HybridCompute/GuestConfiguration matter for Servers and Databases: Azure Arc)"
        return Check(name, True, shown + extra, subject=sub)
    fix = "; ".join(f"az provider register --namespace {ns} --subscription {sub}" for ns in missing)
    writes = tuple(w for ns in missing for w in plan_register_provider(settings, sub, ns))
    why = "Azure Arc (Servers, Databases)" if any(ns in ARC_PROVIDERS for ns in missing) else "Defender for Cloud"
    return Check(name, False, f"{shown}: {', '.join(missing)} must be Registered for {why}", fix, subject=sub,
                 writes=writes)


async def _pricing_check(az: Any, sub: str, label: str, pricings: Any) -> Check:
    name = f"Defender for Servers pricing on {label}"
    if isinstance(pricings, BaseException):
        return Check(name, None, f"could not read the Defender plans ({pricings})",
                     "ask for Security Reader on the subscription", subject=sub)
    vm = next((p for p in pricings if p.name.lower() == "virtualmachines"), None)
    if vm is None:
        return Check(name, None, "the subscription reports no VirtualMachines plan", subject=sub)
    if vm.tier.lower() == "standard":
        return Check(name, True, f"VirtualMachines Standard{' ' + vm.sub_plan if vm.sub_plan else ''}", subject=sub)
    return Check(name, False, f"VirtualMachines is {vm.tier}: the Servers plan for AWS needs Defender for Servers "
                              "enabled on the subscription",
                 f"az security pricing create --name VirtualMachines --tier standard --subplan P2 "
                 f"--subscription {sub} (or Environment settings > the subscription > Servers On)", subject=sub)


# ------------------------------------------------------------------------------------------------------------------
# AWS checks


async def _aws_identity(aws: Any) -> tuple[Check, str | None]:
    try:
        acct, arn = await aws.caller_identity_async()
    except SourceError as e:
        return Check("AWS identity", False, str(e), "sign in to AWS (aws sso login / aws configure) and retry"), None
    except Exception as e:  # noqa: BLE001 - doctor reports any failure as a failed check
        return Check("AWS identity", False, f"sts:GetCallerIdentity failed: {type(e).__name__}: {e}",
                     "check the AWS credentials and --aws-endpoint-url"), None
    return Check("AWS identity", True, f"account {acct} as {arn}", subject=acct), acct


def _org_check_sync(aws: Any, acct: str) -> Check:
    from botocore.exceptions import ClientError

    name = f"Organizations trusted access for StackSets (account {acct})"
    region = aws.settings.region
    try:
        access = aws._access(acct)  # noqa: SLF001
        org = aws._client(access, "organizations", region)  # noqa: SLF001
        try:
            d = org.describe_organization()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code == "AWSOrganizationsNotInUseException":
                return Check(name, None, "the account is not in an organization: StackSets are not needed "
                                         "(single account: the Stack is enough)", subject=acct)
            raise
        master = str((d.get("Organization") or {}).get("MasterAccountId") or "")
        if master != acct:
            return Check(name, None, f"a member account: StackSets are run from the management account {master}",
                         subject=acct)
        enabled = set()
        for page in org.get_paginator("list_aws_service_access_for_organization").paginate():
            for p in page.get("EnabledServicePrincipals") or ():
                enabled.add(str(p.get("ServicePrincipal")))
    except Exception as e:  # noqa: BLE001 - doctor reports any failure as a check it could not make
        err = aws._err(e, "organizations:ListAWSServiceAccessForOrganization", account=acct)  # noqa: SLF001
        return Check(name, None, f"could not check ({err})",
                     "run doctor with credentials of the management account", subject=acct)
    if STACKSETS_PRINCIPAL in enabled:
        return Check(name, True, f"{STACKSETS_PRINCIPAL} enabled", subject=acct)
    return Check(name, False, f"trusted access for CloudFormation StackSets is off ({STACKSETS_PRINCIPAL} not "
                              "enabled): the StackSet cannot deploy the roles to member accounts",
                 "in the management account: aws cloudformation activate-organizations-access (or the "
                 "CloudFormation console > StackSets > Activate trusted access)", subject=acct)


def _roles_of_account_sync(aws: Any, acct: str) -> set[str]:
    access = aws._access(acct)  # noqa: SLF001
    iam = aws._client(access, "iam", aws.settings.region)  # noqa: SLF001
    names: set[str] = set()
    for page in iam.get_paginator("list_roles").paginate():
        for r in page.get("Roles") or ():
            names.add(str(r.get("RoleName")))
    return names


def _drift_checks(connectors: Sequence[Any], roles: Mapping[str, Any]) -> list[Check]:
    out = []
    for c in connectors:
        acct = c.aws_account_id or "?"
        name = f"template roles of connector {c.name} (account {acct})"
        used: dict[str, list[str]] = {}
        for o in c.offerings:
            for where, arn in role_arns(dict(o.raw)):
                parts = arn.split(":", 5)
                if len(parts) == 6 and parts[5].startswith("role/"):
                    used.setdefault(f"{parts[4]}:{parts[5].rsplit('/', 1)[-1]}", []).append(
                        f"{o.offering_type}.{where.removesuffix('.configuration')}")
        if not used:
            out.append(Check(name, None, "no role ARNs in its offerings", subject=acct))
            continue
        missing: list[str] = []
        unknown: list[str] = []
        for key, wheres in sorted(used.items()):
            a, role = key.split(":", 1)
            have = roles.get(a)
            if isinstance(have, BaseException) or have is None:
                unknown.append(a)
                continue
            if role not in have:
                missing.append(f"{role} (used by {', '.join(sorted(set(wheres)))})")
        if unknown:
            err = roles.get(unknown[0])
            out.append(Check(name, None, f"could not list the IAM roles of account {unknown[0]} ({err})",
                             "give mdc-aws a way into the account (aws.account_roles / account_profiles in config)",
                             subject=acct))
            continue
        if missing:
            plans = ",".join(connector_plans(c))
            out.append(Check(name, False, f"{len(missing)} role(s) missing in AWS: {'; '.join(missing)}",
                             f"re-run the template: mdc-aws template --account {acct} --plans {plans} -o mdc.yaml, "
                             f"then aws cloudformation update-stack --stack-name {DEFAULT_STACK_NAME} "
                             "--template-body file://mdc.yaml --capabilities CAPABILITY_NAMED_IAM in that account",
                             subject=acct))
        else:
            out.append(Check(name, True, f"all {len(used)} role(s) present", subject=acct))
    return out


# ------------------------------------------------------------------------------------------------------------------
# run_doctor


async def run_doctor(settings: Any, account: str | None = None, *, plans: Iterable[str] | str | None = None,
                     subscriptions: Sequence[str] | None = None, with_health: bool = False) -> list[Check]:
    """Every prerequisite as a Check (see the module docstring). Never raises for a failed check.

    `account`: one AWS account (its connector's subscription and plans, unless given); `plans`: the plans to check
    for (default: the account's connector's plans, else all of them); `subscriptions`: default settings'
    subscriptions, else every visible one (the account's connector's subscription when `account` has one).
    `with_health`: also collect a snapshot and add the connector health checks (health_checks: the Sentinel
    conflicts, trust policy and least-privilege drift, and every other health issue with its fix)."""
    from ..aws import AwsSource
    from ..azure import AzureSource

    policy.check_reads(settings, "the prerequisite checks")
    chosen: tuple[str, ...] | None = normalize_plans(plans) if plans is not None else None
    checks: list[Check] = []
    async with AzureSource(settings.azure) as az, AwsSource(settings.aws) as aws:
        # -- Azure: subscriptions, connectors
        subs: list[str] = []
        try:
            if subscriptions:
                subs = [s.strip().lower() for s in subscriptions]
            else:
                subs, _ = await az.subscriptions()
        except SourceError as e:
            checks.append(Check("Azure sign-in", False, str(e), "az login (or MDC_AWS_ACCESS_TOKEN), then retry"))
        connectors: list[Any] = []
        if subs:
            try:
                data = await az.connectors(subs)
                connectors = list(data.connectors)
            except SourceError as e:
                checks.append(Check("Defender for Cloud connectors", None, f"could not list them ({e})",
                                    "ask for Security Reader on the subscriptions"))
        mine = [c for c in connectors if account is None or c.aws_account_id == account]
        native = [c for c in mine if c.kind == "native"]
        if account is not None and native and not subscriptions and not settings.azure.subscriptions:
            subs = sorted({c.subscription_id for c in native})
        if chosen is None:
            chosen = connector_plans(native[0]) if (account is not None and native) else tuple(PLAN_KEYS)

        async def per_sub(sub: str) -> list[Check]:
            label = await _sub_name(az, sub)
            pricing_t = az._pricings_of(sub) if "servers" in chosen else None  # noqa: SLF001
            role, prov, pricing = await asyncio.gather(
                _role_check(az, sub, label, chosen), _providers_check(az, settings, sub, label, chosen),
                pricing_t if pricing_t is not None else asyncio.sleep(0), return_exceptions=True)
            out = [r if isinstance(r, Check) else Check(f"checks on {label}", None, str(r), subject=sub)
                   for r in (role, prov)]
            if pricing_t is not None:
                out.append(await _pricing_check(az, sub, label, pricing))
            return out

        for group in await asyncio.gather(*(per_sub(s) for s in subs)):
            checks.extend(group)

        # -- AWS
        ident, caller = await _aws_identity(aws)
        checks.append(ident)
        mgmt: list[str] = []
        for c in native:
            if c.organization_role == "management" and c.aws_account_id:
                mgmt.append(c.aws_account_id)
            elif c.organization_role == "member" and account is not None and c.parent_account_id:
                mgmt.append(c.parent_account_id)
        if not mgmt:
            who = account or caller
            if who:
                mgmt.append(who)
        loop_checks = [aws._run(_org_check_sync, aws, a) for a in dict.fromkeys(mgmt)]  # noqa: SLF001
        accounts = sorted({arn.split(":")[4] for c in native for o in c.offerings
                           for _, arn in role_arns(dict(o.raw)) if arn.count(":") >= 5 and arn.split(":")[4]})
        role_tasks = [aws._run(_roles_of_account_sync, aws, a) for a in accounts]  # noqa: SLF001
        got = await asyncio.gather(*loop_checks, *role_tasks, return_exceptions=True)
        for g in got[:len(loop_checks)]:
            checks.append(g if isinstance(g, Check) else Check("Organizations trusted access for StackSets", None,
                                                              f"could not check ({g})"))
        roles: dict[str, Any] = {}
        for a, g in zip(accounts, got[len(loop_checks):]):
            roles[a] = aws._err(g, "iam:ListRoles", account=a) if isinstance(g, BaseException) else g  # noqa: SLF001
        checks.extend(_drift_checks(native, roles))
        if account is not None and not native:
            from ..derive import CLASSIC_HEALTH, CLASSIC_MIGRATE

            classic = [c.name for c in mine if c.kind == "classic"]
            if classic:  # retired on 2023-09-15: it enables no plan and onboards nothing, so nothing to check
                checks.append(Check(f"connector of account {account}", None,
                                    f"only the classic connector {', '.join(classic)}: {CLASSIC_HEALTH}",
                                    CLASSIC_MIGRATE, subject=account))
            else:
                checks.append(Check(f"connector of account {account}", None,
                                    "no native connector for this account yet: template drift not checked",
                                    "create it with `mdc-aws` (o: onboarding) or the portal", subject=account))
        if with_health:
            from ..collect import Collector

            snap = await Collector(az, aws, section_timeout_s=90.0).collect()
            checks.extend(health_checks(snap, account))
    return checks


# ------------------------------------------------------------------------------------------------------------------
# Connector health as checks (tui.core.health)

# (check name, the health code it reports, the set-up fact it needs read, what a pass means)
_HEALTH_TOPICS: tuple[tuple[str, str, str, str], ...] = (
    ("Sentinel conflict: OIDC identity provider", "sentinel-oidc-conflict", "oidc_providers",
     "no other provider holds Defender for Cloud's issuer"),
    ("Sentinel conflict: CloudTrail bucket notifications", "sentinel-sqs-conflict", "trail_bucket_queues",
     "no CloudTrail bucket sends its notifications to another queue"),
    ("template drift: trust policies", "trust-policy-mismatch", "roles",
     "every Defender for Cloud role trusts this tenant's connector"),
    ("template drift: least-privilege access", "least-privilege-gap", "roles",
     "the CSPM role can read what the enabled plans need"),
)
_TOPIC_CODES = frozenset(t[1] for t in _HEALTH_TOPICS) | {"role-missing"}  # role-missing: _drift_checks says it


def health_checks(snap: Any, account: str | None = None) -> list[Check]:
    """The health model (tui.core.health) of the snapshot's connectors as doctor lines: per native connector the
    Sentinel and drift topics (PASS, FAIL with the fix, or SKIP when AWS was not read), then one line per other
    issue (pending: SKIP) or "healthy"; classic connectors by their issues."""
    from ..health import health_by_connector

    cd = snap.data("connectors")
    if cd is None:
        return [Check("connector health", None, "the connectors could not be listed: health not evaluated",
                      "see the connectors error above and retry")]
    healths = health_by_connector(snap)
    od = snap.data("onboarding")
    out: list[Check] = []
    for c in sorted(cd.connectors, key=lambda c: (c.aws_account_id or "", c.kind != "native", c.name)):
        if account is not None and c.aws_account_id != account:
            continue
        acct = c.aws_account_id or "?"
        h = healths.get(c.id.lower())
        if h is None:  # the health model failed on its data (logged): unknown, never "healthy"
            out.append(Check(f"connector {c.name} (account {acct})", None,
                             "its health could not be evaluated (the log says why)", subject=acct))
            continue
        by_code = {i.code: i for i in h.issues}
        if c.kind == "native":
            inv = od.aws.get(acct) if od is not None and c.aws_account_id else None
            setup = inv.setup if inv is not None else None
            for title, code, fact, good in _HEALTH_TOPICS:
                name = f"{title} (account {acct})"
                issue = by_code.get(code)
                if issue is not None:
                    out.append(Check(name, False, issue.message, issue.fix, subject=acct))
                elif setup is None or getattr(setup, fact) is None:
                    errs = list(setup.errors.values()) if setup is not None else []
                    why = errs[0] if errs else "the account's set-up was not read"
                    out.append(Check(name, None, f"not checked ({why})", subject=acct))
                else:
                    out.append(Check(name, True, good, subject=acct))
        rest = [i for i in h.issues if i.code not in _TOPIC_CODES]
        for i in rest:
            out.append(Check(f"connector {c.name} (account {acct}): {i.code}", None if i.level == "pending" else False,
                             i.message, i.fix, subject=acct))
        if not h.issues:
            out.append(Check(f"connector {c.name} (account {acct})", True, "healthy", subject=acct))
    return out


# ------------------------------------------------------------------------------------------------------------------
# Live reads for the screens


async def plan_checks(settings: Any, subscription_id: str, account_id: str, plans: Iterable[str],
                      regions: Sequence[str] = ()) -> list[Check]:
    """The Select plans step's live prerequisites: Servers -> VirtualMachines pricing on the subscription;
    Containers -> EKS clusters in the chosen regions and access to SQS, Firehose and S3 there."""
    from ..aws import AwsSource
    from ..azure import AzureSource

    policy.check_reads(settings, "the plan checks")
    chosen = normalize_plans(plans)
    out: list[Check] = []
    if "servers" in chosen:
        async with AzureSource(settings.azure) as az:
            try:
                pricings: Any = await az._pricings_of(subscription_id)  # noqa: SLF001
            except Exception as e:  # noqa: BLE001 - the check below reports the failure
                pricings = e
            out.append(await _pricing_check(az, subscription_id, subscription_id, pricings))
    if "containers" in chosen:
        async with AwsSource(settings.aws) as aws:
            out.extend(await aws._run(_containers_sync, aws, account_id, list(regions) or [aws.settings.region]))  # noqa: SLF001
    return out


def _containers_sync(aws: Any, acct: str, regions: list[str]) -> list[Check]:
    try:
        access = aws._access(acct)  # noqa: SLF001
    except Exception as e:  # noqa: BLE001 - doctor reports any failure as a check it could not make
        return [Check(f"EKS clusters (account {acct})", None, f"could not reach the account ({e})", subject=acct)]
    clusters: list[str] = []
    problems: list[str] = []
    for r in regions:
        try:
            eks = aws._client(access, "eks", r)  # noqa: SLF001
            for page in eks.get_paginator("list_clusters").paginate():
                clusters += [f"{c} ({r})" for c in page.get("clusters") or ()]
            for svc, op in (("sqs", "list_queues"), ("firehose", "list_delivery_streams"), ("s3", "list_buckets")):
                getattr(aws._client(access, svc, r), op)()  # noqa: SLF001
        except Exception as e:  # noqa: BLE001 - one region's failure is reported, the others still checked
            problems.append(f"{r}: {aws._err(e, 'eks/sqs/firehose/s3', account=acct, region=r)}")  # noqa: SLF001
    out = []
    if clusters:
        out.append(Check(f"EKS clusters (account {acct})", True, f"{len(clusters)}: {', '.join(clusters[:6])}"
                         + (" …" if len(clusters) > 6 else ""), subject=acct))
    else:
        out.append(Check(f"EKS clusters (account {acct})", False, f"no EKS cluster in {', '.join(regions)}",
                         "Defender for Containers protects EKS clusters: create one (eksctl create cluster) or "
                         "choose the regions that have them", subject=acct))
    if problems:
        out.append(Check(f"SQS, Firehose and S3 access (account {acct})", False, "; ".join(problems),
                         "the template's roles create them; the account must allow these services (SCPs)",
                         subject=acct))
    else:
        out.append(Check(f"SQS, Firehose and S3 access (account {acct})", True,
                         f"reachable in {', '.join(regions)}", subject=acct))
    return out


async def _aws_read(settings: Any, fn: Any, *args: Any) -> Any:
    from ..aws import AwsSource

    policy.check_reads(settings, "reading AWS")
    async with AwsSource(settings.aws) as aws:
        return await aws._run(fn, aws, *args)  # noqa: SLF001


def _stack_status_sync(aws: Any, acct: str, region: str, stack: str) -> tuple[str, str | None]:
    try:
        cfn = aws._client(aws._access(acct), "cloudformation", region)  # noqa: SLF001
        s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        return str(s.get("StackStatus")), s.get("StackStatusReason")
    except Exception as e:  # noqa: BLE001 - doctor reports any failure as the stack's status
        code = getattr(e, "response", {}).get("Error", {}).get("Code") if hasattr(e, "response") else None
        if code == "ValidationError":
            return "NOT_FOUND", f"no stack {stack} in {region}"
        return "UNKNOWN", str(aws._err(e, "cloudformation:DescribeStacks", account=acct, region=region))  # noqa: SLF001


async def stack_status(settings: Any, account_id: str, region: str, stack_name: str = DEFAULT_STACK_NAME
                       ) -> tuple[str, str | None]:
    """(StackStatus, reason): e.g. ("CREATE_COMPLETE", None), ("NOT_FOUND", ...), ("UNKNOWN", <error and fix>)."""
    return await _aws_read(settings, _stack_status_sync, account_id, region, stack_name)


def _region_status_sync(aws: Any, acct: str, regions: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    try:
        access = aws._access(acct)  # noqa: SLF001
    except Exception as e:  # noqa: BLE001 - doctor reports any failure per region
        err = str(aws._err(e, "reaching the account", account=acct))  # noqa: SLF001
        return {r: {"config": None, "security_hub": None, "error": err} for r in regions}
    for r in regions:
        row: dict[str, Any] = {"config": None, "security_hub": None, "error": None}
        try:
            st = aws._client(access, "config", r).describe_configuration_recorder_status()  # noqa: SLF001
            row["config"] = any(x.get("recording") for x in st.get("ConfigurationRecordersStatus") or ())
        except Exception as e:  # noqa: BLE001 - one region's failure is reported, the others still checked
            row["error"] = str(aws._err(e, "config:DescribeConfigurationRecorderStatus", account=acct, region=r))  # noqa: SLF001
        try:
            aws._client(access, "securityhub", r).describe_hub()  # noqa: SLF001
            row["security_hub"] = True
        except Exception as e:  # noqa: BLE001 - one region's failure is reported, the others still checked
            code = e.response.get("Error", {}).get("Code") if hasattr(e, "response") else None
            if code in ("InvalidAccessException", "ResourceNotFoundException"):
                row["security_hub"] = False
            else:
                row["error"] = str(aws._err(e, "securityhub:DescribeHub", account=acct, region=r))  # noqa: SLF001
        out[r] = row
    return out


async def region_status(settings: Any, account_id: str, regions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Classic flow: per region {"config": recording?, "security_hub": enabled?, "error": str|None} (None = unknown)."""
    return await _aws_read(settings, _region_status_sync, account_id, list(regions))


async def ssm_coverage(settings: Any, account_id: str, regions: Sequence[str]) -> dict[str, Any]:
    """Classic flow step 3: EC2 instances and how many run the SSM agent (Online), per region."""
    from ..aws import AwsSource

    policy.check_reads(settings, "reading the SSM coverage")
    async with AwsSource(settings.aws) as aws:
        inv = (await aws.inventory({account_id: list(regions)}))[account_id]
    per: dict[str, dict[str, int]] = {r: {"instances": 0, "ssm_online": 0} for r in inv.regions}
    online = {s.instance_id for s in inv.ssm if s.ping_status == "Online"}
    for i in inv.instances:
        per.setdefault(i.region, {"instances": 0, "ssm_online": 0})
        per[i.region]["instances"] += 1
        per[i.region]["ssm_online"] += i.instance_id in online
    return {"readable": inv.readable, "error": inv.error, "regions": per,
            "failed_regions": dict(inv.failed_regions)}


def _role_policies_sync(aws: Any, acct: str, role: str) -> list[str]:
    iam = aws._client(aws._access(acct), "iam", aws.settings.region)  # noqa: SLF001
    arns: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        arns += [str(p["PolicyArn"]) for p in page.get("AttachedPolicies") or ()]
    return arns


async def role_policies(settings: Any, account_id: str, role_name: str) -> list[str]:
    """Managed policy ARNs attached to a role (for plan_delete_classic_role). Raises SourceError."""
    from ..aws import AwsSource

    policy.check_reads(settings, "iam:ListAttachedRolePolicies")
    async with AwsSource(settings.aws) as aws:
        try:
            return await aws._run(_role_policies_sync, aws, account_id, role_name)  # noqa: SLF001
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a SourceError
            raise aws._err(e, "iam:ListAttachedRolePolicies", account=account_id) from None  # noqa: SLF001


def _access_keys_sync(aws: Any, acct: str, user: str) -> list[str]:
    iam = aws._client(aws._access(acct), "iam", aws.settings.region)  # noqa: SLF001
    return [str(k["AccessKeyId"]) for k in iam.list_access_keys(UserName=user).get("AccessKeyMetadata") or ()]


async def access_keys(settings: Any, account_id: str, user_name: str) -> list[str]:
    """Access key IDs of an IAM user (for plan_delete_access_keys). Raises SourceError."""
    from ..aws import AwsSource

    policy.check_reads(settings, "iam:ListAccessKeys")
    async with AwsSource(settings.aws) as aws:
        try:
            return await aws._run(_access_keys_sync, aws, account_id, user_name)  # noqa: SLF001
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a SourceError
            raise aws._err(e, "iam:ListAccessKeys", account=account_id) from None  # noqa: SLF001
