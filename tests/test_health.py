"""tui/core/health.py: each health code from a hand-built minimal snapshot, and a near miss that must not raise it.

The baseline is a native connector three days old whose AWS set-up is exactly what the template leaves (every role
with its trust policy, Defender for Cloud's OIDC provider, a complete stack, ReadOnlyAccess on the CSPM role), with
assessments and a standard: healthy. Each case changes one fact. Also: the trust-policy parser and the IAM wildcard
matcher under hypothesis, the organization coverage, the cost counts, the Azure readers of created_at, providers and
locks (through a fake `_list`), and the snapshot JSON's new keys against the schema.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any, Callable, Mapping

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core import derive as d
from tui.core import export
from tui.core import health as h
from tui.core import model as m
from tui.core.errors import SourceError

SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0d7c2d0c-1111-4222-8333-944445555666"
ACCT = "111122223333"
MEMBER = "222233334444"
SUB = "aaaaaaaa-0000-0000-0000-000000000001"
ISSUER = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
SENTINEL = "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"
MDC_AUDIENCES = ("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", "api://AzureSecurityCenter.MultiCloud.DefenderForServers",
                 "api://AzureSecurityCenter.MultiCloud.DefenderForDatabases",
                 "api://b2f86835-c959-461c-b08c-2cd5ca382af5", "api://6610e979-c931-41ec-adc7-b9920c9d52f1",
                 "api://AzureSecurityCenter.MultiCloud.DefenderForServers.VmScanner")
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


# ------------------------------------------------------------------------------------------------ builders

def arn(role: str, acct: str = ACCT) -> str:
    return f"arn:aws:iam::{acct}:role/{role}"


def offerings(plans: tuple[str, ...], acct: str, arc: bool) -> tuple[m.Offering, ...]:
    out: list[dict[str, Any]] = [{"offeringType": "CspmMonitorAws",
                                  "nativeCloudConnection": {"cloudRoleArn": arn("CspmMonitorAws", acct)}}]
    if "defender_cspm" in plans:
        out.append({"offeringType": "DefenderCspmAws",
                    "vmScanners": {"enabled": True, "configuration": {
                        "cloudRoleArn": arn("DefenderForCloud-AgentlessScanner", acct)}},
                    "ciem": {"ciemDiscovery": {"cloudRoleArn": arn("DefenderForCloud-Ciem", acct)},
                             "ciemOidc": {"cloudRoleArn": arn("DefenderForCloud-OidcCiem", acct)}}})
    if "servers" in plans:
        out.append({"offeringType": "DefenderForServersAws",
                    "defenderForServers": {"cloudRoleArn": arn("DefenderForCloud-DefenderForServers", acct)},
                    "arcAutoProvisioning": {"enabled": arc,
                                            "cloudRoleArn": arn("DefenderForCloud-ArcAutoProvisioning", acct)},
                    "vmScanners": {"enabled": False, "configuration": {
                        "cloudRoleArn": arn("DefenderForCloud-AgentlessScanner", acct)}}})
    if "containers" in plans:
        out.append({"offeringType": "DefenderForContainersAws",
                    "kubernetesService": {"cloudRoleArn": arn("DefenderForCloud-Containers-K8s", acct)},
                    "cloudWatchToKinesis": {
                        "cloudRoleArn": arn("DefenderForCloud-Containers-K8s-cloudwatch-to-kinesis", acct)}})
    if "databases" in plans:
        out.append({"offeringType": "DefenderForDatabasesAws",
                    "arcAutoProvisioning": {"enabled": arc,
                                            "cloudRoleArn": arn("DefenderForCloud-ArcAutoProvisioning", acct)},
                    "rds": {"enabled": True, "cloudRoleArn": arn("DefenderForCloud-DataSecurityPostureDB", acct)}})
    return tuple(m.Offering(o["offeringType"], o) for o in out)


def native(acct: str = ACCT, *, name: str | None = None, plans: tuple[str, ...] = ("cspm",), arc: bool = False,
           role: m.OrganizationRole = "single", age: timedelta = timedelta(days=3), scan: int = 12,
           parent: str | None = None, excluded: tuple[str, ...] = (), sub: str = SUB) -> m.Connector:
    name = name or f"aws-{acct}"
    return m.Connector(
        id=f"/subscriptions/{sub}/resourceGroups/rg-mdc/providers/Microsoft.Security/securityConnectors/{name}",
        name=name, kind="native", subscription_id=sub, resource_group="rg-mdc", aws_account_id=acct,
        regions=("us-east-1", "eu-west-1"), scan_interval_hours=scan, organization_role=role,
        parent_account_id=parent, stackset_name="MDC-StackSet" if role == "management" else None,
        excluded_account_ids=excluded, offerings=offerings(plans, acct, arc), created_at=NOW - age)


def classic(acct: str = ACCT, name: str = "aws-classic") -> m.Connector:
    return m.Connector(id=f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/{name}", name=name,
                       kind="classic", subscription_id=SUB, resource_group=None, aws_account_id=acct,
                       health="Expired", auth_type="awsAssumeRole")


def trust(audience: str, *, acct: str = ACCT, tenant: str = TENANT, session: str | None = None,
          issuer: str = ISSUER) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{acct}:oidc-provider/{issuer}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{issuer}:aud": audience,
                                     "sts:RoleSessionName": session or f"MicrosoftDefenderForClouds_{tenant}"}}}]})


def role_facts(conn: m.Connector) -> tuple[m.IamRoleFact, ...]:
    """Every role the connector uses, as the template leaves it."""
    out: dict[str, m.IamRoleFact] = {}
    for r in h.used_roles(conn):
        aud = h.role_audience(r)
        doc = trust(aud, acct=conn.aws_account_id or ACCT) if h.oidc_trusted(r) and aud else json.dumps(
            {"Statement": [{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]})
        if r.name == "CspmMonitorAws":
            out[r.name] = m.IamRoleFact(r.name, doc, managed_policies=(READ_ONLY,), inline_actions=())
        else:
            out[r.name] = m.IamRoleFact(r.name, doc)
    return tuple(out.values())


def mdc_provider(acct: str = ACCT, client_ids: tuple[str, ...] = MDC_AUDIENCES,
                 tags: dict[str, str] | None = None, url: str = ISSUER) -> m.OidcProviderFact:
    return m.OidcProviderFact(f"arn:aws:iam::{acct}:oidc-provider/{ISSUER}", url, client_ids, tags or {})


def setup_of(conn: m.Connector, **over: Any) -> m.AwsAccountSetup:
    acct = conn.aws_account_id or ACCT
    base: dict[str, Any] = dict(
        account_id=acct, roles=role_facts(conn), oidc_providers=(mdc_provider(acct),),
        stack=m.StackFact("DefenderForCloud-Connector", "us-east-1", "CREATE_COMPLETE"), stack_searched=True,
        stack_regions=("us-east-1", "eu-west-1"), trail_bucket_queues=(),
        billable={"s3_buckets": 4, "rds_instances": 2, "eks_clusters": 1})
    if conn.organization_role == "management":
        base.update(trusted_access=True, stackset_instances=(m.StackInstanceFact(MEMBER, "us-east-1", "CURRENT",
                                                                                 "SUCCEEDED"),),
                    org_accounts=(m.OrgAccountFact(acct, "mgmt", "ACTIVE", NOW - timedelta(days=400)),
                                  m.OrgAccountFact(MEMBER, "member", "ACTIVE", NOW - timedelta(days=300))))
    base.update(over)
    return m.AwsAccountSetup(**base)


def inventory(acct: str, setup: m.AwsAccountSetup | None, **over: Any) -> m.AwsAccountInventory:
    base: dict[str, Any] = dict(account_id=acct, readable=True, regions=("us-east-1", "eu-west-1"), instances=(
        m.Ec2Instance(acct, "us-east-1", "i-0aaa", "running", "linux"),
        m.Ec2Instance(acct, "us-east-1", "i-0bbb", "stopped", "linux")), setup=setup)
    base.update(over)
    return m.AwsAccountInventory(**base)


def section(name: str, data: Any) -> m.Section:
    return m.Section(m.SectionStatus(name, "ok" if data is not None else "error", NOW), data)


def snapshot(conns: list[m.Connector], *, setups: Mapping[str, m.AwsAccountSetup | None] | None = None,
             inventories: dict[str, m.AwsAccountInventory] | None = None, recs: bool | list[str] = True,
             standards: dict[str, tuple[str, ...]] | None = None, compliance: bool = True,
             pricings: tuple[m.Pricing, ...] = (), providers: dict[str, dict[str, str]] | None = None,
             locks: Mapping[str, tuple[str, ...]] | None = None, arc: tuple[m.ArcMachine, ...] = (),
             tenant: str | None = TENANT, locks_read: bool = True) -> m.Snapshot:
    """Defaults: every connector's account has its template set-up, assessments and a standard; locks read (none)."""
    accounts = sorted({c.aws_account_id for c in conns if c.aws_account_id})
    natives = {c.aws_account_id: c for c in conns if c.kind == "native"}
    if setups is None:
        setups = {a: setup_of(natives[a]) for a in accounts if a in natives}
    invs = {a: inventory(a, setups.get(a)) for a in accounts}
    invs.update(inventories or {})
    with_recs = [c for c in conns if c.kind == "native"] if recs is True else \
        [c for c in conns if c.name in recs] if isinstance(recs, list) else []
    counts = tuple(m.RecommendationCount(c.id.lower(), "High", "Unhealthy", 3) for c in with_recs)
    assigned = standards if standards is not None else {a: ("Microsoft-cloud-security-benchmark",) for a in accounts}
    return m.Snapshot(NOW, (SUB,), {
        "connectors": section("connectors", m.ConnectorsData(tuple(conns), locks=locks or {},
                                                             locks_read=locks_read)),
        "plans": section("plans", m.PlansData(pricings, providers=providers or {})),
        "onboarding": section("onboarding", m.OnboardingData(arc, invs)),
        "recommendations": section("recommendations", m.RecommendationsData(counts) if recs is not False else None),
        "compliance": section("compliance", m.ComplianceData((), assigned) if compliance else None),
    }, tenant_id=tenant)


def health(conn: m.Connector, snap: m.Snapshot) -> h.Health:
    got = h.connector_health(conn, snap)
    assert got is not None, "evaluated"
    return got


def codes(conn: m.Connector, snap: m.Snapshot) -> set[str]:
    return set(health(conn, snap).codes())


def issue(conn: m.Connector, snap: m.Snapshot, code: str) -> h.HealthIssue:
    return next(i for i in health(conn, snap).issues if i.code == code)


# ------------------------------------------------------------------------------------------------ baseline

def test_baseline_is_healthy_for_every_plan() -> None:
    c = native(plans=("cspm", "defender_cspm", "servers", "containers", "databases"), arc=True)
    snap = snapshot([c], providers={SUB: {"Microsoft.Security": "Registered", "Microsoft.HybridCompute": "Registered",
                                          "Microsoft.GuestConfiguration": "Registered"}},
                    pricings=(m.Pricing(SUB, "VirtualMachines", "Standard"), m.Pricing(SUB, "Containers", "Standard")))
    assert health(c, snap) == h.Health("healthy")
    assert h.health_by_connector(snap) == {c.id.lower(): h.Health("healthy")}


def test_every_code_is_in_the_contract_order_with_its_level() -> None:
    assert [c.code for c in h.CODES][0] == "classic-retired" and h.CODES[-1].code == "pending-first-scan"
    assert {c.code for c in h.CODES} == {
        "classic-retired", "classic-native-duplicate", "aws-unreadable", "region-not-enabled", "pending-first-scan",
        "no-data", "no-standard-assigned", "stack-not-complete", "stackset-instances-failed", "org-trusted-access-off",
        "org-members-missing", "oidc-provider-missing", "sentinel-oidc-conflict", "role-missing",
        "trust-policy-mismatch", "least-privilege-gap", "subscription-plan-missing", "provider-not-registered",
        "sentinel-sqs-conflict", "resource-lock"}


# ------------------------------------------------------------------------------------------------ one code each

def test_classic_retired_and_duplicate() -> None:
    old = classic()
    alone = snapshot([old])
    assert codes(old, alone) == {"classic-retired"}
    assert "retired on 2023-09-15" in issue(old, alone, "classic-retired").message
    assert "Expired" in issue(old, alone, "classic-retired").message  # the stale state Azure still reports
    new = native()
    both = snapshot([new, old])
    assert codes(new, both) == {"classic-native-duplicate"}
    assert codes(old, both) == {"classic-retired", "classic-native-duplicate"}
    dup = issue(new, both, "classic-native-duplicate")
    assert "aws-classic" in dup.message and new.name in dup.message and "--flow remove" in dup.fix
    # near miss: the classic connector is another account's
    other = classic(acct="999988887777")
    assert codes(new, snapshot([new, other])) == set()
    assert h.health_by_connector(both)[old.id.lower()].state == "failing"


def test_aws_unreadable() -> None:
    c = native()
    inv = inventory(ACCT, None, readable=False, error="AccessDenied assuming MDC-Reader", error_kind="denied")
    snap = snapshot([c], inventories={ACCT: inv})
    assert codes(c, snap) == {"aws-unreadable"}
    i = issue(c, snap, "aws-unreadable")
    assert i.message == ("mdc-aws could not read the account (AccessDenied assuming MDC-Reader): AWS-side checks "
                         "were not made")
    # unreadable with setup None, whatever the error kind
    snap = snapshot([c], inventories={ACCT: inventory(ACCT, None, readable=False, error="timeout",
                                                      error_kind="network")})
    assert codes(c, snap) == {"aws-unreadable"}
    # near miss: EC2 throttled but the set-up was read
    snap = snapshot([c], inventories={ACCT: inventory(ACCT, setup_of(c), readable=False, error="slow down",
                                                      error_kind="throttled")})
    assert codes(c, snap) == set()


OPT_IN = "region not enabled (opt-in): ap-east-1 answers AuthFailure in account 111122223333"


def test_region_not_enabled() -> None:
    c = replace(native(), regions=("us-east-1", "AP-East-1"))  # the connector's own region, any case
    inv = inventory(ACCT, setup_of(c), failed_regions={"ap-east-1": OPT_IN})
    snap = snapshot([c], inventories={ACCT: inv})
    assert codes(c, snap) == {"region-not-enabled"}
    i = issue(c, snap, "region-not-enabled")
    assert "ap-east-1" in i.message and "aws account enable-region --region-name ap-east-1" in i.fix
    near = inventory(ACCT, setup_of(c), failed_regions={"us-east-1": "throttled: Rate exceeded"})
    assert codes(c, snapshot([c], inventories={ACCT: near})) == set()


def test_region_not_enabled_only_for_the_connectors_regions_and_the_opt_in_wording() -> None:
    c = native()  # us-east-1, eu-west-1
    # another connector's region of the same account (the inventory scans the union of the account's regions)
    other = inventory(ACCT, setup_of(c), failed_regions={"ap-east-1": OPT_IN})
    assert codes(c, snapshot([c], inventories={ACCT: other})) == set()
    # "not enabled" somewhere in another error is not the opt-in answer
    worded = inventory(ACCT, setup_of(c), failed_regions={
        "eu-west-1": "AccessDenied: SSM is not enabled for this principal; region not enabled (opt-in) maybe"})
    assert codes(c, snapshot([c], inventories={ACCT: worded})) == set()
    mine = inventory(ACCT, setup_of(c), failed_regions={"eu-west-1": OPT_IN.replace("ap-east-1", "eu-west-1")})
    assert codes(c, snapshot([c], inventories={ACCT: mine})) == {"region-not-enabled"}


def test_opt_in_wording_is_the_aws_sources() -> None:
    from tui.core import aws

    assert h.OPT_IN_TEXT == aws.OPT_IN_TEXT
    answer = SourceError("AuthFailure", kind="auth")
    answer.response = {"Error": {"Code": "AuthFailure"}}  # type: ignore[attr-defined]  # as botocore's ClientError
    err = aws.opt_in_errors({"ap-east-1": answer}, ["us-east-1", "ap-east-1"], ACCT)
    assert str(err["ap-east-1"]).startswith(h.OPT_IN_TEXT)
    c = replace(native(), regions=("us-east-1", "ap-east-1"))
    inv = inventory(ACCT, setup_of(c), failed_regions={"ap-east-1": str(err["ap-east-1"])})
    assert codes(c, snapshot([c], inventories={ACCT: inv})) == {"region-not-enabled"}


def test_pending_suppresses_no_data_and_no_standard() -> None:
    young = native(age=timedelta(hours=11))
    snap = snapshot([young], recs=[], standards={})
    assert codes(young, snap) == {"pending-first-scan"}
    assert health(young, snap).state == "pending"
    i = issue(young, snap, "pending-first-scan")
    assert "created at 2025-06-01 01:00 UTC, under 12 h ago" in i.message
    assert "check again after 2025-06-01 13:00 UTC" in i.fix
    # near miss: 13 h old with data and a standard
    grown = native(age=timedelta(hours=13))
    assert codes(grown, snapshot([grown])) == set()


def test_pending_from_the_organization_join_time() -> None:
    mgmt = native(role="management")
    member = native(MEMBER, role="member", parent=ACCT, age=timedelta(days=5))
    setups = {ACCT: setup_of(mgmt, org_accounts=(
        m.OrgAccountFact(ACCT, "mgmt", "ACTIVE", NOW - timedelta(days=400)),
        m.OrgAccountFact(MEMBER, "new", "ACTIVE", NOW - timedelta(hours=2)))), MEMBER: setup_of(member)}
    snap = snapshot([mgmt, member], setups=setups, recs=[mgmt.name], standards={ACCT: ("MCSB",)})
    assert codes(member, snap) == {"pending-first-scan"}
    assert "joined the organization at 2025-06-01 10:00 UTC" in issue(member, snap, "pending-first-scan").message
    assert codes(mgmt, snap) == set()


def test_no_data() -> None:
    c = native(age=timedelta(days=3))
    snap = snapshot([c], recs=[])
    assert codes(c, snap) == {"no-data"}
    assert "created at 2025-05-29 12:00 UTC, is past its first scan window (12 h)" in issue(c, snap, "no-data").message
    # near misses: an Arc machine of the account; a 24 h scan interval 13 h in; the section not read
    arc = m.ArcMachine("/subscriptions/x/resourceGroups/r/providers/Microsoft.HybridCompute/machines/i-0aaa",
                       "i-0aaa", SUB, "r", "Connected", ACCT, "i-0aaa", connector="true")
    assert codes(c, snapshot([c], recs=[], arc=(arc,))) == set()
    slow = native(age=timedelta(hours=13), scan=24)
    assert codes(slow, snapshot([slow], recs=[])) == set()
    assert codes(c, snapshot([c], recs=False)) == set()
    unknown_age = replace(c, created_at=None)
    assert codes(unknown_age, snapshot([unknown_age], recs=[])) == set()


def test_no_standard_assigned() -> None:
    c = native()
    snap = snapshot([c], standards={MEMBER: ("Microsoft-cloud-security-benchmark",)})  # another account has one
    assert codes(c, snap) == {"no-standard-assigned"}
    assert f"Environment settings > {ACCT} > Standards" in issue(c, snap, "no-standard-assigned").fix
    assert codes(c, snapshot([c], standards={}, compliance=False)) == set()  # section missing: not judged


def test_no_standard_assigned_needs_assignments_to_be_observable() -> None:
    c = native()
    empty: list[dict[str, tuple[str, ...]]] = [{}, {MEMBER: ()}]
    for standards in empty:  # no account shows any assignment: not observable, nothing raised
        snap = snapshot([c], standards=standards)
        assert codes(c, snap) == set()
        assert any(u.startswith("assigned standards (no-standard-assigned): no account shows")
                   for u in health(c, snap).unchecked)


def test_stack_not_complete() -> None:
    c = native(plans=("cspm", "servers"))
    st = m.StackFact("DefenderForCloud-Connector", "us-east-1", "UPDATE_ROLLBACK_COMPLETE",
                     "DefenderForServersRole", "Resource handler returned message: role already exists")
    snap = snapshot([c], setups={ACCT: setup_of(c, stack=st)})
    assert codes(c, snap) == {"stack-not-complete"}
    i = issue(c, snap, "stack-not-complete")
    for part in ("DefenderForCloud-Connector", "UPDATE_ROLLBACK_COMPLETE", "DefenderForServersRole",
                 "role already exists", "us-east-1"):
        assert part in i.message
    assert "mdc-aws template --account 111122223333 --plans cspm,servers -o mdc.yaml" in i.fix
    assert "aws cloudformation update-stack --stack-name DefenderForCloud-Connector" in i.fix
    # near misses: UPDATE_COMPLETE and the other complete states (any case); not searched; a member (its stack is
    # the StackSet's)
    for done in ("UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "IMPORT_COMPLETE", "update_complete"):
        assert codes(c, snapshot([c], setups={ACCT: setup_of(c, stack=replace(st, status=done))})) == set(), done
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, stack=None, stack_searched=False)})) == set()
    member = native(role="member", parent="999999999999")
    assert codes(member, snapshot([member], setups={ACCT: setup_of(member, stack=st)})) == set()


def _org(mgmt: m.Connector, member: m.Connector | None = None, **over: Any) -> m.Snapshot:
    conns = [mgmt] + ([member] if member else [])
    setups: dict[str, m.AwsAccountSetup | None] = {ACCT: setup_of(mgmt, **over)}
    if member:
        setups[MEMBER] = setup_of(member)
    return snapshot(conns, setups=setups)


def test_stackset_instances_failed() -> None:
    mgmt = native(role="management")
    member = native(MEMBER, role="member", parent=ACCT)
    bad = (m.StackInstanceFact(MEMBER, "us-east-1", "CURRENT", "SUCCEEDED"),
           m.StackInstanceFact("333344445555", "eu-west-1", "OUTDATED", "FAILED", "Account is suspended"),
           m.StackInstanceFact("444455556666", "us-east-1", "CURRENT", "CANCELLED"))
    snap = _org(mgmt, member, stackset_instances=bad)
    assert codes(mgmt, snap) == {"stackset-instances-failed"}
    i = issue(mgmt, snap, "stackset-instances-failed")
    assert i.message.startswith("2 of 3 instance(s) of StackSet MDC-StackSet failed or outdated; first: account "
                                "333344445555 in eu-west-1 is OUTDATED/FAILED (Account is suspended)")
    assert "describe-stack-instance --stack-set-name MDC-StackSet --stack-instance-account 333344445555" in i.fix
    assert codes(member, snap) == set()  # members are not judged for the StackSet
    assert codes(mgmt, _org(mgmt, member)) == set()  # near miss: CURRENT/SUCCEEDED


def test_org_trusted_access_off() -> None:
    mgmt = native(role="management")
    member = native(MEMBER, role="member", parent=ACCT)
    snap = _org(mgmt, member, trusted_access=False)
    assert codes(mgmt, snap) == {"org-trusted-access-off"}
    assert "aws cloudformation activate-organizations-access" in issue(mgmt, snap, "org-trusted-access-off").fix
    assert codes(mgmt, _org(mgmt, member, trusted_access=None)) == set()  # not read


def test_org_members_missing() -> None:
    mgmt = native(role="management")
    member = native(MEMBER, role="member", parent=ACCT)
    extra = tuple(m.OrgAccountFact(f"5555000000{n:02d}", status="ACTIVE") for n in range(6))
    org = (setup_of(mgmt).org_accounts or ()) + extra + (m.OrgAccountFact("666600000000", status="SUSPENDED"),)
    snap = _org(mgmt, member, org_accounts=org)
    assert codes(mgmt, snap) == {"org-members-missing"}
    i = issue(mgmt, snap, "org-members-missing")
    assert i.message == ("6 active account(s) of the organization of 111122223333 have no connector: 555500000000, "
                         "555500000001, 555500000002, 555500000003, 555500000004 and 1 more")
    # near miss: the member without a connector is excluded; suspended ones never count
    solo = replace(mgmt, excluded_account_ids=(MEMBER,))
    assert codes(solo, _org(solo)) == set()
    cov = h.org_coverage(mgmt, snap)
    assert cov is not None and cov.org_accounts == 9 and cov.members_with_connector == (MEMBER,)
    assert cov.missing == tuple(f"5555000000{n:02d}" for n in range(6)) and cov.suspended == ("666600000000",)
    assert h.org_coverage(member, snap) is None


def test_oidc_provider_missing() -> None:
    c = native()
    snap = snapshot([c], setups={ACCT: setup_of(c, oidc_providers=())})
    assert codes(c, snap) == {"oidc-provider-missing"}
    assert ISSUER in issue(c, snap, "oidc-provider-missing").message
    # near misses: the provider answered with https:// and no trailing slash; providers not read
    ok = mdc_provider(url="https://" + ISSUER.rstrip("/"))
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(ok,))})) == set()
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=None)})) == set()


def test_sentinel_oidc_conflict() -> None:
    c = native()
    sentinel = mdc_provider(client_ids=(SENTINEL,), tags={"Name": "MicrosoftSentinel"})
    snap = snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(sentinel,))})
    assert codes(c, snap) == {"sentinel-oidc-conflict"}  # and not oidc-provider-missing
    i = issue(c, snap, "sentinel-oidc-conflict")
    assert SENTINEL in i.message and "add-client-id-to-open-id-connect-provider" in i.fix
    tagged_only = mdc_provider(client_ids=("api://something-else",), tags={"owner": "SENTINEL-team"})
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(tagged_only,))})) == {
        "sentinel-oidc-conflict"}
    # near misses: Sentinel's id next to MDC's audiences; a tag-less provider without MDC's audiences
    shared = mdc_provider(client_ids=(SENTINEL, *MDC_AUDIENCES), tags={"Name": "MicrosoftSentinel"})
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(shared,))})) == set()
    foreign = mdc_provider(client_ids=("api://other",))
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(foreign,))})) == set()


def test_role_missing() -> None:
    c = native(plans=("cspm", "servers"))
    roles = tuple(r for r in role_facts(c) if r.name != "DefenderForCloud-DefenderForServers")
    snap = snapshot([c], setups={ACCT: setup_of(c, roles=roles)})
    assert codes(c, snap) == {"role-missing"}
    i = issue(c, snap, "role-missing")
    assert "DefenderForCloud-DefenderForServers (used by DefenderForServersAws.defenderForServers)" in i.message
    assert "--plans cspm,servers" in i.fix
    # near misses: roles not read; the disabled arcAutoProvisioning part's role is not needed
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, roles=None)})) == set()
    assert "DefenderForCloud-ArcAutoProvisioning" not in {r.name for r in role_facts(c)}


def test_role_missing_for_a_member_says_stackset() -> None:
    mgmt = native(role="management")
    member = native(MEMBER, role="member", parent=ACCT)
    snap = snapshot([mgmt, member], setups={ACCT: setup_of(mgmt), MEMBER: setup_of(member, roles=())})
    fix = issue(member, snap, "role-missing").fix
    assert "update-stack-set --stack-set-name MDC-StackSet" in fix and "management account 111122223333" in fix


@pytest.mark.parametrize("doc, part", [
    (trust("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", tenant=OTHER_TENANT), f"MicrosoftDefenderForClouds_{TENANT}"),
    (trust("api://6610e979-c931-41ec-adc7-b9920c9d52f1"), "not api://4d8bed1f"),
    (trust("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", acct="999999999999"), "does not trust"),
    ("{not json", "unreadable"),
])
def test_trust_policy_mismatch(doc: str, part: str) -> None:
    c = native()
    roles = tuple(replace(r, trust_policy=doc) if r.name == "CspmMonitorAws" else r for r in role_facts(c))
    snap = snapshot([c], setups={ACCT: setup_of(c, roles=roles)})
    assert codes(c, snap) == {"trust-policy-mismatch"}
    assert part in issue(c, snap, "trust-policy-mismatch").message


def test_trust_policy_near_misses() -> None:
    c = native()
    wildcard = trust("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", session="MicrosoftDefenderForClouds_*")
    listed = json.dumps({"Statement": {  # a single statement (not a list), StringEquals with lists of values
        "Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Principal": {"Federated": [f"arn:aws-us-gov:iam::{ACCT}:oidc-provider/{ISSUER}"]},
        "Condition": {"StringEquals": {f"{ISSUER}:aud": ["api://x", "API://4D8BED1F-eee7-4d8e-b0dc-8462049a4479"]}}}})
    for doc in (wildcard, listed):
        roles = tuple(replace(r, trust_policy=doc) if r.name == "CspmMonitorAws" else r for r in role_facts(c))
        assert codes(c, snapshot([c], setups={ACCT: setup_of(c, roles=roles)})) == set(), doc
    # the tenant unknown: the session name is not judged
    other = trust("api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", tenant=OTHER_TENANT)
    roles = tuple(replace(r, trust_policy=other) if r.name == "CspmMonitorAws" else r for r in role_facts(c))
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, roles=roles)}, tenant=None)) == set()


def _least(c: m.Connector, actions: tuple[str, ...], managed: tuple[str, ...] = ()) -> m.Snapshot:
    roles = tuple(replace(r, managed_policies=managed, inline_actions=actions) if r.name == "CspmMonitorAws" else r
                  for r in role_facts(c))
    return snapshot([c], setups={ACCT: setup_of(c, roles=roles)})


def test_least_privilege_gap() -> None:
    c = native(plans=("cspm", "servers"))
    snap = _least(c, ("ec2:Describe*", "s3:ListAllMyBuckets", "iam:List*"))
    assert codes(c, snap) == {"least-privilege-gap"}
    i = issue(c, snap, "least-privilege-gap")
    assert "ssm:DescribeInstanceInformation" in i.message and "Defender for Servers" in i.message
    assert "--least-privilege" in i.fix
    # near misses: wildcards covering the plan's reads (any case); ReadOnlyAccess attached; actions not read
    assert codes(c, _least(c, ("EC2:describe*", "s3:List*", "iam:*", "ssm:Describe*"))) == set()
    assert codes(c, _least(c, (), managed=(READ_ONLY,))) == set()
    assert codes(c, _least(c, None, managed=())) == set()  # type: ignore[arg-type]
    assert codes(c, _least(c, ("*",))) == set()


def test_subscription_plan_missing() -> None:
    c = native(plans=("cspm", "servers", "containers"))
    snap = snapshot([c], pricings=(m.Pricing(SUB, "VirtualMachines", "Free"), m.Pricing(SUB, "Containers", "Free")))
    assert codes(c, snap) == {"subscription-plan-missing"}
    i = issue(c, snap, "subscription-plan-missing")
    assert "VirtualMachines Free" in i.message and "Containers Free" in i.message
    assert f"az security pricing create --name VirtualMachines --tier standard --subscription {SUB}" in i.fix
    # near misses: Standard; a Free plan the connector does not need
    assert codes(c, snapshot([c], pricings=(m.Pricing(SUB, "VirtualMachines", "Standard"),
                                            m.Pricing(SUB, "Containers", "Standard")))) == set()
    cspm = native()
    assert codes(cspm, snapshot([cspm], pricings=(m.Pricing(SUB, "VirtualMachines", "Free"),))) == set()


def test_provider_not_registered() -> None:
    c = native(plans=("cspm", "servers"), arc=True)
    states = {"Microsoft.Security": "Registered", "Microsoft.HybridCompute": "NotRegistered",
              "Microsoft.GuestConfiguration": "Registered"}
    snap = snapshot([c], providers={SUB.upper(): states})
    assert codes(c, snap) == {"provider-not-registered"}
    i = issue(c, snap, "provider-not-registered")
    assert i.fix == f"az provider register --namespace Microsoft.HybridCompute --subscription {SUB}"
    assert "NotRegistered" in i.message
    # near misses: Arc auto-provisioning off; the subscription's providers not read
    no_arc = native(plans=("cspm", "servers"), arc=False)
    assert codes(no_arc, snapshot([no_arc], providers={SUB: states})) == set()
    assert codes(c, snapshot([c], providers={})) == set()
    sec = snapshot([no_arc], providers={SUB: {**states, "Microsoft.Security": "Unregistering"}})
    assert codes(no_arc, sec) == {"provider-not-registered"}


def test_sentinel_sqs_conflict() -> None:
    c = native(plans=("cspm", "defender_cspm"))  # Defender CSPM's CIEM reads the CloudTrail bucket
    q = m.BucketQueueFact("org-trail-bucket", f"arn:aws:sqs:us-east-1:{ACCT}:sentinel-s3-queue")
    snap = snapshot([c], setups={ACCT: setup_of(c, trail_bucket_queues=(q,))})
    assert codes(c, snap) == {"sentinel-sqs-conflict"}
    i = issue(c, snap, "sentinel-sqs-conflict")
    assert i.message == ("CloudTrail bucket org-trail-bucket sends its event notifications to sentinel-s3-queue, "
                         "another consumer (for example Microsoft Sentinel's queue): an S3 event goes to one queue "
                         "only, and Defender CSPM's permissions management (CIEM) reads that bucket")
    assert "SNS" in i.fix
    mine = m.BucketQueueFact("org-trail-bucket", f"arn:aws:sqs:us-east-1:{ACCT}:azuredefender-queue")
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, trail_bucket_queues=(mine,))})) == set()


def test_sentinel_sqs_conflict_only_when_the_connector_reads_cloudtrail() -> None:
    splunk = (m.BucketQueueFact("trail-bkt", "arn:aws:sqs:us-east-1:111122223333:splunk-cloudtrail"),)
    for plans in (("cspm",), ("cspm", "servers", "containers", "databases")):  # nothing of theirs reads CloudTrail
        c = native(plans=plans)
        assert not h.reads_cloudtrail(c)
        assert codes(c, snapshot([c], setups={ACCT: setup_of(c, trail_bucket_queues=splunk)})) == set(), plans
    d_cspm = native(plans=("cspm", "defender_cspm"))
    assert h.reads_cloudtrail(d_cspm)
    assert codes(d_cspm, snapshot([d_cspm], setups={ACCT: setup_of(d_cspm, trail_bucket_queues=splunk)})) == {
        "sentinel-sqs-conflict"}
    # CIEM switched off (no ciemDiscovery part, or the part disabled): not a consumer
    raw = {k: v for k, v in d_cspm.offerings[1].raw.items() if k != "ciem"}
    no_ciem = replace(d_cspm, offerings=(d_cspm.offerings[0], m.Offering("DefenderCspmAws", raw)))
    off = {**d_cspm.offerings[1].raw, "ciem": {"ciemDiscovery": {"enabled": False, "cloudRoleArn": arn(
        "DefenderForCloud-Ciem")}}}
    ciem_off = replace(d_cspm, offerings=(d_cspm.offerings[0], m.Offering("DefenderCspmAws", off)))
    for c in (no_ciem, ciem_off):
        assert not h.reads_cloudtrail(c)
        assert codes(c, snapshot([c], setups={ACCT: setup_of(c, trail_bucket_queues=splunk)})) == set()


def test_resource_lock_native_and_classic() -> None:
    c = native()
    old = classic(acct="999988887777")
    locks = {c.id.lower(): ("CanNotDelete keep-it (resource group rg-mdc)",),
             old.id.lower(): ("ReadOnly frozen (subscription " + SUB + ")",)}
    snap = snapshot([c, old], locks=locks)
    assert codes(c, snap) == {"resource-lock"}
    assert issue(c, snap, "resource-lock").fix.endswith(
        f"az lock delete --name keep-it --resource-group rg-mdc --subscription {SUB}")
    assert codes(old, snap) == {"classic-retired", "resource-lock"}
    assert issue(old, snap, "resource-lock").fix.endswith(f"az lock delete --name frozen --subscription {SUB}")
    assert codes(c, snapshot([c, old], locks={old.id.lower(): ("CanNotDelete x (on the connector)",)})) == set()


# ------------------------------------------------------------------------------------------------ unknown is not broken

def test_no_stack_found_is_unknown() -> None:
    """No stack tagged MDFCSecurityConnector or named DefenderForCloud-Connector (Terraform, a console name): the
    roles are judged as they are, the stack is not."""
    c = native(plans=("cspm", "servers"))
    snap = snapshot([c], setups={ACCT: setup_of(c, stack=None)})
    assert codes(c, snap) == set()
    # a drift found there says how to re-deploy without assuming the template's stack exists
    roles = tuple(r for r in role_facts(c) if r.name != "DefenderForCloud-DefenderForServers")
    fix = issue(c, snapshot([c], setups={ACCT: setup_of(c, stack=None, roles=roles)}), "role-missing").fix
    assert "no Defender for Cloud stack was found" in fix
    assert "create-stack --stack-name DefenderForCloud-Connector" in fix and "update-stack " not in fix


def test_least_privilege_gap_only_without_any_managed_policy() -> None:
    c = native(plans=("cspm", "defender_cspm", "servers", "containers", "databases"))
    gap = issue(c, _least(c, ("ec2:Describe*",)), "least-privilege-gap")
    assert "inline policies only, no managed policy" in gap.message and "eks:ListClusters" in gap.message
    # SecurityAudit, a customer managed policy: what the role may read is unknown here; ReadOnlyAccess: all of it
    for managed in (("arn:aws:iam::aws:policy/SecurityAudit",), (f"arn:aws:iam::{ACCT}:policy/MyCspmPolicy",),
                    (READ_ONLY,)):
        assert codes(c, _least(c, (), managed=managed)) == set(), managed


def test_only_roles_json_oidc_roles_are_judged_for_trust() -> None:
    from tui.core.onboarding.template import roles_data

    c = native(plans=("cspm", "containers"))
    task = "MDCContainersVulnerabilityAssessmentTaskRole"  # a part and a role roles.json does not know
    raw = {**c.offerings[1].raw, "containerVulnerabilityAssessmentTask": {"cloudRoleArn": arn(task)}}
    c2 = replace(c, offerings=(c.offerings[0], m.Offering("DefenderForContainersAws", raw)))
    service = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                         "Action": "sts:AssumeRole"}]})
    roles = tuple(replace(r, trust_policy=service) if r.name == task else r for r in role_facts(c2))
    assert task in {r.name for r in roles}
    assert codes(c2, snapshot([c2], setups={ACCT: setup_of(c2, roles=roles)})) == set()
    # still needed: a missing one is role-missing
    gone = tuple(r for r in roles if r.name != task)
    assert codes(c2, snapshot([c2], setups={ACCT: setup_of(c2, roles=gone)})) == {"role-missing"}
    # every role roles.json lists is OIDC-trusted exactly when its trust.kind is "oidc"
    for name, spec in roles_data()["roles"].items():
        assert h.oidc_trusted(h.UsedRole(name, ACCT, "X", "y", None)) is (spec["trust"]["kind"] == "oidc"), name
    # a role the connector names otherwise, in a part of the template's, is judged as the template's role there
    renamed = replace(c, offerings=(m.Offering("CspmMonitorAws", {
        "offeringType": "CspmMonitorAws", "nativeCloudConnection": {"cloudRoleArn": arn("MyCspmRole")}}),))
    (r,) = h.used_roles(renamed)
    assert r.default == "CspmMonitorAws" and h.oidc_trusted(r) and h.role_audience(r) == MDC_AUDIENCES[0]


AUD = MDC_AUDIENCES[0]


def _doc(cond: dict[str, Any], fed: str | None = None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": fed or f"arn:aws:iam::{ACCT}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}]})


def test_negated_operators_are_never_allow_lists() -> None:
    aud = {"StringEquals": {f"{ISSUER}:aud": AUD}}
    # refusing another session name does not restrict ours (was read as "only evil* may sign in")
    v = h.trust_verdict(_doc({**aud, "StringNotLike": {"sts:RoleSessionName": "evil*"}}), ACCT, AUD, TENANT)
    assert v.ok and v.session is True and v.found_sessions == ()
    # refusing ours does
    v = h.trust_verdict(_doc({**aud, "StringNotLike": {"sts:RoleSessionName": "MicrosoftDefenderForClouds_*"}}),
                        ACCT, AUD, TENANT)
    assert v.session is False and not v.ok
    # an audience named under a negated operator only is no evidence that it is allowed
    for other in (AUD, "api://other"):
        v = h.trust_verdict(_doc({"StringNotEquals": {f"{ISSUER}:aud": other}}), ACCT, AUD, TENANT)
        assert v.audience is False and v.found_audiences == (), other
    # refusing ours beside allowing it refuses it (a ForAnyValue: prefix and IfExists read the same)
    v = h.trust_verdict(_doc({**aud, "ForAnyValue:StringNotEqualsIfExists": {f"{ISSUER}:aud": [AUD]}}),
                        ACCT, AUD, TENANT)
    assert v.audience is False
    # a negated operator on another key changes nothing
    assert h.trust_verdict(_doc({**aud, "StringNotEquals": {f"{ISSUER}:sub": "x"}}), ACCT, AUD, TENANT).ok
    # end to end: the role with the first policy is no mismatch
    c = native()
    doc = _doc({**aud, "StringNotLike": {"sts:RoleSessionName": "evil*"}})
    roles = tuple(replace(r, trust_policy=doc) if r.name == "CspmMonitorAws" else r for r in role_facts(c))
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, roles=roles)})) == set()


@pytest.mark.parametrize("fed", [
    f"arn:aws:iam::{ACCT}:oidc-provider/{ISSUER.rstrip('/')}",  # no trailing slash
    f"arn:aws:iam::{ACCT}:oidc-provider/https://{ISSUER}",  # the provider URL's scheme
    f"arn:aws:iam::{ACCT}:oidc-provider/STS.Windows.NET/33e01921-4d64-4f8c-a055-5bdaffd5e33d/",  # the host's case
    f"arn:aws-cn:iam::{ACCT}:oidc-provider/{ISSUER}",  # another partition
])
def test_federated_principal_issuer_is_normalised_like_the_provider_url(fed: str) -> None:
    v = h.trust_verdict(_doc({"StringEquals": {f"{ISSUER}:aud": AUD}}, fed=fed), ACCT, AUD, TENANT)
    assert v.federated and v.ok
    c = native()
    roles = tuple(replace(r, trust_policy=_doc({"StringEquals": {f"{ISSUER}:aud": AUD}}, fed=fed))
                  if r.name == "CspmMonitorAws" else r for r in role_facts(c))
    assert codes(c, snapshot([c], setups={ACCT: setup_of(c, roles=roles)})) == set()


@pytest.mark.parametrize("fed", [
    f"arn:aws:iam::999999999999:oidc-provider/{ISSUER}",  # another account's provider
    f"arn:aws:iam::{ACCT}:oidc-provider/sts.windows.net/{OTHER_TENANT}/",  # another issuer
    f"arn:aws:iam::{ACCT}:oidc-provider/{ISSUER}extra",
    f"arn:aws:iam::{ACCT}:saml-provider/{ISSUER}",
    f"arn:aws:iam::{ACCT}:oidc-provider/",
    "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/",  # not an ARN
])
def test_federated_principal_near_misses(fed: str) -> None:
    assert not h.trust_verdict(_doc({"StringEquals": {f"{ISSUER}:aud": AUD}}, fed=fed), ACCT, AUD, TENANT).federated


def test_org_members_missing_waits_for_the_management_connector_and_new_accounts() -> None:
    young = native(role="management", age=timedelta(hours=1))
    org = (setup_of(young).org_accounts or ()) + (
        m.OrgAccountFact("555566667777", "later", "ACTIVE", NOW - timedelta(days=30)),)
    snap = snapshot([young], setups={ACCT: setup_of(young, org_accounts=org)})
    assert codes(young, snap) == {"pending-first-scan"}  # its members' connectors are still being created
    # past its 12 hours: an account that joined 1 h ago is not missing yet (the coverage agrees), 13 h ago it is
    mgmt = native(role="management")
    new = (m.OrgAccountFact(ACCT, "mgmt", "ACTIVE", NOW - timedelta(days=400)),
           m.OrgAccountFact("555566667777", "new", "ACTIVE", NOW - timedelta(hours=1)))
    snap = snapshot([mgmt], setups={ACCT: setup_of(mgmt, org_accounts=new, stackset_instances=())})
    assert codes(mgmt, snap) == set()
    cov = h.org_coverage(mgmt, snap)
    assert cov is not None and cov.missing == () and cov.org_accounts == 2
    later = (new[0], replace(new[1], joined=NOW - timedelta(hours=13)))
    snap = snapshot([mgmt], setups={ACCT: setup_of(mgmt, org_accounts=later, stackset_instances=())})
    assert codes(mgmt, snap) == {"org-members-missing"}
    assert "555566667777" in issue(mgmt, snap, "org-members-missing").message


def test_stackset_instances_of_suspended_or_excluded_accounts_are_expected_to_fail() -> None:
    mgmt = native(role="management", excluded=("444455556666",))
    member = native(MEMBER, role="member", parent=ACCT)
    org = (setup_of(mgmt).org_accounts or ()) + (m.OrgAccountFact("333344445555", "gone", "SUSPENDED"),
                                                  m.OrgAccountFact("444455556666", "left out", "ACTIVE"),
                                                  m.OrgAccountFact("777700000000", "closed", "CLOSED"))
    insts = (m.StackInstanceFact(MEMBER, "us-east-1", "CURRENT", "SUCCEEDED"),
             m.StackInstanceFact("333344445555", "us-east-1", "OUTDATED", "FAILED", "Account is suspended"),
             m.StackInstanceFact("444455556666", "us-east-1", "OUTDATED", "FAILED", "excluded"),
             m.StackInstanceFact("777700000000", "us-east-1", "INOPERABLE", None))
    snap = _org(mgmt, member, stackset_instances=insts, org_accounts=org)
    assert codes(mgmt, snap) == set()
    cov = h.org_coverage(mgmt, snap)
    assert cov is not None and cov.failed_instances == () and len(cov.stackset_instances) == 4
    assert cov.suspended == ("333344445555", "777700000000") and cov.excluded == ("444455556666",)
    # the same failure in an ACTIVE account counts
    active = tuple(replace(f, status="ACTIVE") if f.account_id == "333344445555" else f for f in org)
    snap = _org(mgmt, member, stackset_instances=insts, org_accounts=active)
    assert issue(mgmt, snap, "stackset-instances-failed").message.startswith(
        "1 of 2 instance(s) of StackSet MDC-StackSet failed or outdated; first: account 333344445555")


def test_a_connector_whose_evaluation_fails_is_unknown_not_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    good = native()
    bad = native(MEMBER, name="aws-bad")
    real = h._stack

    def boom(conn: m.Connector, setup: m.AwsAccountSetup, idx: Any) -> h.HealthIssue | None:
        if conn.name == "aws-bad":
            raise RuntimeError("odd data")
        return real(conn, setup, idx)

    monkeypatch.setattr(h, "_stack", boom)
    snap = snapshot([good, bad], providers={SUB: {"Microsoft.Security": "Registered"}})
    by = h.health_by_connector(snap)
    assert set(by) == {good.id.lower()} and by[good.id.lower()].state == "healthy"
    assert h.connector_health(bad, snap) is None
    views = {v.aws_account_id: v for v in d.account_views(snap)}
    v = views[MEMBER]
    assert v.connector_health == {} and v.health_not_evaluated == (bad.id.lower(),) and v.health_state is None
    assert v.health.unchecked[-1] == "connector aws-bad: its health could not be evaluated (odd data; see the log)"
    assert views[ACCT].health_state == "healthy" and views[ACCT].health_not_evaluated == ()
    doc = export.snapshot_to_dict(snap)
    jsonschema.validate(doc, SCHEMA)
    acc = {a["aws_account_id"]: a for a in doc["accounts"]}
    assert acc[MEMBER]["connectors"][0]["health_report"] is None and acc[MEMBER]["health_state"] is None
    assert acc[ACCT]["health_state"] == "healthy" and acc[ACCT]["connectors"][0]["health_report"]["state"] == "healthy"
    lines = export.render_table(snap).splitlines()
    assert any(line.startswith(MEMBER) and line.endswith(" unknown") for line in lines)
    _, rows = export.export_tables(snap)["accounts"]
    assert {r[0]: r[-2] for r in rows} == {ACCT: "healthy", MEMBER: None}


def test_none_in_a_facts_text_never_crashes_the_check() -> None:
    mgmt = native(role="management")
    odd = (m.StackInstanceFact(MEMBER, "us-east-1", None, None),)  # type: ignore[arg-type]
    snap = snapshot([mgmt], setups={ACCT: setup_of(mgmt, stackset_instances=odd)})
    assert f"first: account {MEMBER} in us-east-1 is ?" in issue(mgmt, snap, "stackset-instances-failed").message
    c = native()
    st = m.StackFact(None, None, "ROLLBACK_COMPLETE")  # type: ignore[arg-type]
    i = issue(c, snapshot([c], setups={ACCT: setup_of(c, stack=st)}), "stack-not-complete")
    assert i.message == f"stack DefenderForCloud-Connector in us-east-1 (account {ACCT}) is ROLLBACK_COMPLETE"
    sentinel = m.OidcProviderFact(None, ISSUER, (None, SENTINEL), None)  # type: ignore[arg-type]
    i = issue(c, snapshot([c], setups={ACCT: setup_of(c, oidc_providers=(sentinel,))}), "sentinel-oidc-conflict")
    assert f"(client ids {SENTINEL})" in i.message


def test_unchecked_says_what_was_not_checked_and_why() -> None:
    mgmt = native(role="management")
    errors = {"roles": "AccessDenied: iam:ListRoles", "org_accounts": "AWSOrganizationsNotInUseException",
              "billable.s3_buckets": "AccessDenied: s3:ListAllMyBuckets"}
    snap = snapshot([mgmt], setups={ACCT: setup_of(mgmt, roles=None, org_accounts=None, errors=errors)},
                    locks_read=False, recs=False, tenant=None)
    got = health(mgmt, snap)
    assert got.codes() == ()
    assert got.unchecked == (
        "resource locks (resource-lock): the management locks of every subscription were not read",
        "assessments (no-data): the recommendations section was not read",
        f"resource providers (provider-not-registered): those of subscription {SUB} were not read",
        "IAM roles and trust policies (role-missing, trust-policy-mismatch, least-privilege-gap): AccessDenied: "
        "iam:ListRoles",
        "the organization's accounts (org-members-missing): AWSOrganizationsNotInUseException",
        "the trust policies' session name (trust-policy-mismatch): the tenant id is unknown")
    assert got.to_dict()["unchecked"] == list(got.unchecked)
    # a single account's connector is not told about organization reads; a member not about the stack
    single = native()
    errs = {"org_accounts": "x", "stack": "AccessDenied: cloudformation:DescribeStacks"}
    snap = snapshot([single], setups={ACCT: setup_of(single, errors=errs)},
                    providers={SUB: {"Microsoft.Security": "Registered"}})
    assert health(single, snap).unchecked == (
        "the CloudFormation stack (stack-not-complete): AccessDenied: cloudformation:DescribeStacks",)
    member = native(role="member", parent="999999999999")
    snap = snapshot([member], setups={ACCT: setup_of(member, errors=errs)},
                    providers={SUB: {"Microsoft.Security": "Registered"}})
    assert health(member, snap).unchecked == ()
    unsearched = snapshot([single], setups={ACCT: setup_of(single, stack=None, stack_searched=False)},
                          providers={SUB: {"Microsoft.Security": "Registered"}})
    assert health(single, unsearched).unchecked == (
        "the CloudFormation stack (stack-not-complete): not looked for (the connector names no region to look in)",)
    # the set-up not read at all (the account unreadable): one entry with the reason
    inv = inventory(ACCT, None, readable=False, error="AccessDenied assuming MDC-Reader", error_kind="denied")
    snap = snapshot([single], inventories={ACCT: inv}, providers={SUB: {"Microsoft.Security": "Registered"}})
    assert health(single, snap).unchecked == (
        "the AWS-side checks (stack, roles, trust policies, OIDC provider, organization, CloudTrail): the set-up of "
        f"account {ACCT} was not read (AccessDenied assuming MDC-Reader)",)
    # the account's Health carries its connectors' entries once each
    acc = h.account_health([health(single, snap), health(single, snap)])
    assert acc.unchecked == health(single, snap).unchecked


# ------------------------------------------------------------------------------------------------ roll-ups

def test_states_order_and_account_health() -> None:
    c = native(age=timedelta(hours=2))
    snap = snapshot([c], setups={ACCT: setup_of(c, trusted_access=False, oidc_providers=())},
                    locks={c.id.lower(): ("CanNotDelete k (on the connector)",)})
    hh = health(c, snap)
    assert hh.codes() == ("oidc-provider-missing", "resource-lock", "pending-first-scan") and hh.state == "failing"
    assert hh.worst is not None and hh.worst.code == "oidc-provider-missing"
    pending = h.Health("pending", (hh.issues[-1],))
    degraded = h.Health("degraded", (hh.issues[1],))
    acc = h.account_health([pending, degraded, degraded])
    assert acc.state == "degraded" and acc.codes() == ("resource-lock", "pending-first-scan")
    assert h.account_health([]) == h.Health("healthy")
    views = d.account_views(snap)
    assert views[0].health.state == "failing" and views[0].connector_health[c.id.lower()] == hh


def test_odd_data_never_raises() -> None:
    c = native()
    weird = m.Snapshot(NOW, (), {"connectors": section("connectors", m.ConnectorsData((c,), locks={"x": 5})),  # type: ignore[dict-item]
                                 "onboarding": section("onboarding", "not an object"),
                                 "plans": section("plans", m.PlansData((), providers={SUB: "Registered"})),  # type: ignore[dict-item]
                                 "recommendations": section("recommendations", [1, 2])})
    assert h.health_by_connector(weird)[c.id.lower()].state in ("healthy", "failing", "degraded", "pending")
    assert h.health_by_connector(m.Snapshot(NOW, (), {})) == {}
    bad_setup = setup_of(c, roles=(m.IamRoleFact("CspmMonitorAws", '{"Statement": [null, 3, {"Effect": 1}]}',
                                                 managed_policies=(None,), inline_actions=(None, 7)),),  # type: ignore[arg-type]
                         oidc_providers=(m.OidcProviderFact("arn", None, (None,)),),  # type: ignore[arg-type]
                         trail_bucket_queues=(m.BucketQueueFact("b", None),))  # type: ignore[arg-type]
    got = health(c, snapshot([c], setups={ACCT: bad_setup}))
    assert "trust-policy-mismatch" in got.codes()


def test_account_cost() -> None:
    c = native(plans=("cspm", "defender_cspm", "servers", "containers"))
    snap = snapshot([c])
    cost = h.account_cost(ACCT, [c], snap)
    assert cost is not None and cost.scan_interval_hours == 12
    plans = {p.plan: dict(p.billable) for p in cost.plans}
    assert plans == {"cspm": {}, "defender_cspm": {"ec2_running": 1, "rds_instances": 2, "s3_buckets": 4},
                     "servers": {"ec2_running": 1}, "containers": {"eks_clusters": 1}}
    assert cost.cloudtrail_query == (
        "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=Username,AttributeValue="
        f"MicrosoftDefenderForClouds_{TENANT} --start-time 2025-05-31T12:00:00Z --query 'length(Events)'")
    assert "vCore" in next(p.note for p in cost.plans if p.plan == "containers")
    unread = snapshot([c], inventories={ACCT: inventory(ACCT, None, readable=False, error="x", error_kind="auth")})
    got = h.account_cost(ACCT, [c], unread)
    assert got is not None and dict(got.plans[1].billable) == {"ec2_running": None, "rds_instances": None,
                                                                "s3_buckets": None}
    assert h.account_cost(ACCT, [classic()], snap) is None


# ------------------------------------------------------------------------------------------------ the JSON

def test_snapshot_json_new_keys_validate() -> None:
    mgmt = native(role="management", plans=("cspm", "servers"))
    member = native(MEMBER, role="member", parent=ACCT)
    old = classic(acct="999988887777")
    snap = snapshot([mgmt, member, old], setups={ACCT: setup_of(mgmt, trusted_access=False), MEMBER: None})
    doc = export.snapshot_to_dict(snap)
    jsonschema.validate(doc, SCHEMA)
    by = {a["aws_account_id"]: a for a in doc["accounts"]}
    assert by[ACCT]["health_state"] == "failing"
    report = by[ACCT]["connectors"][0]["health_report"]
    assert report["state"] == "failing" and report["issues"][0]["code"] == "org-trusted-access-off"
    assert set(report["issues"][0]) == {"code", "message", "fix"}
    assert report["unchecked"] == [f"resource providers (provider-not-registered): those of subscription {SUB} were "
                                   "not read"]
    member_report = by[MEMBER]["connectors"][0]["health_report"]
    assert any(u.startswith("the AWS-side checks") for u in member_report["unchecked"])
    assert by[ACCT]["connectors"][0]["health"] == "ok"  # the old string stays as it was
    cov = by[ACCT]["organization_coverage"]
    assert cov["org_accounts"] == 2 and cov["members_with_connector"] == [MEMBER] and cov["missing"] == []
    assert cov["stackset_instances"] == [{"account_id": MEMBER, "region": "us-east-1", "status": "CURRENT",
                                          "detailed_status": "SUCCEEDED", "reason": None}]
    assert by[MEMBER]["organization_coverage"] is None
    assert by[ACCT]["cost"]["plans"]["servers"]["billable"] == {"ec2_running": 1}
    assert by["999988887777"]["cost"] is None and by["999988887777"]["health_state"] == "failing"
    assert by["999988887777"]["connectors"][0]["health_report"]["issues"][0]["code"] == "classic-retired"
    # the schema rejects what it should
    for path, value in ((("health_state",), "broken"), (("cost", "plans"), {"servers": {"billable": {"x": -1}}}),
                        (("organization_coverage",), {"org_accounts": 1}),
                        (("connectors", 0, "health_report", "unchecked"), [3])):
        bad = json.loads(json.dumps(doc))
        target = bad["accounts"][0]
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)
    table = export.render_table(snap)
    header = next(line for line in table.splitlines() if line.startswith("ACCOUNT"))
    assert header.endswith("UNHEALTHY HEALTH")
    assert any(line.startswith(ACCT) and line.endswith(" failing") for line in table.splitlines())
    hdr, rows = export.export_tables(snap)["accounts"]
    assert hdr[-2:] == ["health_state", "health_codes"]
    assert {r[0]: r[-1] for r in rows}[ACCT] == "org-trusted-access-off"


# ------------------------------------------------------------------------------------------------ hypothesis

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)
_cond_value = st.one_of(st.text(max_size=40), st.lists(st.text(max_size=40), max_size=3), st.integers(), st.none(),
                        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json, account=st.one_of(st.none(), st.just(ACCT)), tenant=st.one_of(st.none(), st.just(TENANT)))
def test_trust_verdict_never_raises_on_odd_json(doc: Any, account: str | None, tenant: str | None) -> None:
    for policy in (doc, json.dumps(doc), {"Statement": doc}, {"Statement": [{"Effect": "Allow", "Condition": doc}]}):
        v = h.trust_verdict(policy, account, "api://a", tenant)
        assert isinstance(v.ok, bool)


@settings(max_examples=200, deadline=None)
@given(aud=_cond_value, session=_cond_value, op=st.sampled_from(["StringLike", "StringEquals", "ForAnyValue:X", "x"]))
def test_trust_verdict_condition_values_str_or_list(aud: Any, session: Any, op: str) -> None:
    doc = {"Statement": [{"Effect": "Allow",
                          "Principal": {"Federated": f"arn:aws:iam::{ACCT}:oidc-provider/{ISSUER}"},
                          "Condition": {op: {f"{ISSUER}:aud": aud, "sts:RoleSessionName": session}}}]}
    v = h.trust_verdict(json.dumps(doc), ACCT, "api://a", TENANT)
    assert v.federated
    values = aud if isinstance(aud, list) else [aud]
    expected = any(isinstance(x, str) and (
        h.iam_wildcard_match(x, "api://a") if "like" in op.lower() else x.strip().lower() == "api://a")
        for x in values)
    assert v.audience is expected


_action = st.from_regex(r"[a-z0-9-]{1,8}:[A-Za-z0-9]{1,12}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(action=_action, cut=st.integers(min_value=0, max_value=20), junk=st.text(max_size=6))
def test_iam_wildcard_matcher(action: str, cut: int, junk: str) -> None:
    assert h.iam_wildcard_match(action, action)
    assert h.iam_wildcard_match(action.upper(), action.lower())
    assert h.iam_wildcard_match("*", action) and h.iam_wildcard_match(action[:cut] + "*", action)
    service = action.split(":", 1)[0]
    assert h.iam_wildcard_match(f"{service}:*", action)
    assert h.iam_wildcard_match("?" * len(action), action) and not h.iam_wildcard_match("?" * (len(action) + 1),
                                                                                        action)
    # regex and glob syntax is literal in IAM: "[", "." and "+" match only themselves
    assert not h.iam_wildcard_match(f"[{action}]", action)
    assert not h.iam_wildcard_match(action.replace(":", "."), action) or ":" not in action
    assert h.iam_wildcard_match(junk + "*", junk + action)
    assert not h.iam_wildcard_match(None, action) and not h.iam_wildcard_match(action, 3)


# ------------------------------------------------------------------------------------------------ azure readers

def test_created_at_is_parsed_from_system_data() -> None:
    from tui.core.azure import parse_arm_time, parse_classic_connector, parse_native_connector

    item = {"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c",
            "name": "c", "systemData": {"createdAt": "2023-01-01T00:00:00.000Z"},
            "properties": {"environmentName": "AWS", "hierarchyIdentifier": ACCT, "environmentData": {}}}
    c, why = parse_native_connector(item)
    assert why is None and c is not None and c.created_at == datetime(2023, 1, 1, tzinfo=timezone.utc)
    classic_item = {"id": f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/x", "name": "x",
                    "systemData": {"createdAt": "2021-02-03T04:05:06.1234567+02:00"},
                    "properties": {"authenticationDetails": {"authenticationType": "awsAssumeRole",
                                                             "awsAssumeRoleArn": arn("AscConnector")}}}
    k, _ = parse_classic_connector(classic_item)
    assert k is not None and k.created_at == datetime(2021, 2, 3, 2, 5, 6, 123456, tzinfo=timezone.utc)
    assert parse_arm_time("2023-01-01T00:00:00") == datetime(2023, 1, 1, tzinfo=timezone.utc)
    assert parse_arm_time("2023-01-01T00:00:00z") == datetime(2023, 1, 1, tzinfo=timezone.utc)
    for junk in (None, "", "yesterday", 17, "2023-13-40T00:00:00Z"):
        assert parse_arm_time(junk) is None
    item["systemData"] = "odd"
    c, _ = parse_native_connector(item)
    assert c is not None and c.created_at is None


def _fake_list(routes: dict[str, Any]) -> Callable[..., Any]:
    calls: list[tuple[str, str]] = []

    async def fake(self: Any, path: str, api_version: str, *, what: str, subscription: str | None) -> list[Any]:
        calls.append((path, api_version))
        reply = routes.get(path.lower())
        if isinstance(reply, Exception):
            raise reply
        if reply is None:
            raise SourceError(f"{what}: 404", kind="not_found")
        return reply

    fake.calls = calls  # type: ignore[attr-defined]
    return fake


SUB2 = "bbbbbbbb-0000-0000-0000-000000000002"


def _lock(scope: str, name: str, level: str = "CanNotDelete") -> dict[str, Any]:
    return {"id": f"{scope}/providers/Microsoft.Authorization/locks/{name}", "name": name, "type":
            "Microsoft.Authorization/locks", "properties": {"level": level, "notes": "keep"}}


async def test_connectors_read_the_locks_that_cover_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.core.azure import AzureSource
    from tui.core.config import AzureSettings

    cid = f"/subscriptions/{SUB}/resourceGroups/RG-MDC/providers/Microsoft.Security/securityConnectors/c1"
    native_item = {"id": cid, "name": "c1", "systemData": {"createdAt": "2024-05-01T10:00:00Z"},
                   "properties": {"environmentName": "AWS", "hierarchyIdentifier": ACCT, "environmentData": {}}}
    classic_item = {"id": f"/subscriptions/{SUB}/providers/Microsoft.Security/connectors/old", "name": "old",
                    "properties": {"authenticationDetails": {"authenticationType": "awsAssumeRole",
                                                             "awsAssumeRoleArn": arn("AscConnector", MEMBER)}}}
    other = f"/subscriptions/{SUB2}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c2"
    routes: dict[str, Any] = {
        f"/subscriptions/{SUB}/providers/microsoft.security/securityconnectors": [native_item],
        f"/subscriptions/{SUB}/providers/microsoft.security/connectors": [classic_item],
        f"/subscriptions/{SUB}/providers/microsoft.authorization/locks": [
            _lock(f"/subscriptions/{SUB}/resourcegroups/rg-mdc", "rg-lock"),
            _lock(cid.lower(), "on-it", "ReadOnly"),
            _lock(f"/subscriptions/{SUB}", "sub-lock"),
            _lock(f"/subscriptions/{SUB}/resourceGroups/other-rg", "elsewhere"),
            {"id": "junk"}, 7],
        f"/subscriptions/{SUB2}/providers/microsoft.security/securityconnectors": [
            {**native_item, "id": other, "name": "c2"}],
        f"/subscriptions/{SUB2}/providers/microsoft.security/connectors": [],
        f"/subscriptions/{SUB2}/providers/microsoft.authorization/locks": SourceError("denied", kind="auth"),
    }
    fake = _fake_list(routes)
    monkeypatch.setattr(AzureSource, "_list", fake)
    async with AzureSource(AzureSettings(access_token="t")) as az:
        data = await az.connectors([SUB, SUB2])
    assert {c.name for c in data.connectors} == {"c1", "c2", "old"}
    assert data.locks[cid.lower()] == ("ReadOnly on-it (on the connector)", "CanNotDelete rg-lock (resource group "
                                       "RG-MDC)", f"CanNotDelete sub-lock (subscription {SUB})")
    classic_id = f"/subscriptions/{SUB}/providers/microsoft.security/connectors/old"
    assert data.locks[classic_id] == (f"CanNotDelete sub-lock (subscription {SUB})",)
    assert other.lower() not in data.locks and data.locks_read is False  # SUB2 did not answer
    assert ("/subscriptions/" + SUB + "/providers/Microsoft.Authorization/locks", "2016-09-01") in fake.calls  # type: ignore[attr-defined]
    del routes[f"/subscriptions/{SUB2}/providers/microsoft.authorization/locks"]
    routes[f"/subscriptions/{SUB2}/providers/microsoft.authorization/locks"] = []
    async with AzureSource(AzureSettings(access_token="t")) as az:
        assert (await az.connectors([SUB, SUB2])).locks_read is True


async def test_pricings_read_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.core.azure import AzureSource
    from tui.core.config import AzureSettings

    def prov(ns: str, state: str) -> dict[str, Any]:
        return {"id": f"/subscriptions/{SUB}/providers/{ns}", "namespace": ns, "registrationState": state}

    routes: dict[str, Any] = {
        f"/subscriptions/{SUB}/providers/microsoft.security/pricings": [
            {"name": "VirtualMachines", "properties": {"pricingTier": "Standard"}}],
        f"/subscriptions/{SUB}/providers": [prov("Microsoft.Security", "Registered"),
                                            prov("microsoft.hybridcompute", "NotRegistered"),
                                            prov("Microsoft.Compute", "Registered"), {"namespace": None}, "x"],
        f"/subscriptions/{SUB2}/providers/microsoft.security/pricings": [],
        f"/subscriptions/{SUB2}/providers": SourceError("throttled", kind="throttled"),
    }
    fake = _fake_list(routes)
    monkeypatch.setattr(AzureSource, "_list", fake)
    async with AzureSource(AzureSettings(access_token="t")) as az:
        plans = await az.pricings([SUB, SUB2])
    assert [p.name for p in plans.pricings] == ["VirtualMachines"]
    assert dict(plans.providers) == {SUB: {"Microsoft.Security": "Registered",
                                           "Microsoft.HybridCompute": "NotRegistered"}}
    assert (f"/subscriptions/{SUB}/providers", "2021-04-01") in fake.calls  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(doc=_json)
def test_role_arns_and_plans(doc: Any) -> None:
    """One definition (doctor imports these): role ARNs of enabled parts only, whatever the JSON; plans in PLANS
    order with Foundational CSPM always on."""
    from tui.core.onboarding import doctor

    assert doctor.role_arns is h.role_arns and doctor.connector_plans is h.connector_plans
    assert h.role_arns({"cloudRoleArn": "arn:aws:iam::1:role/x", "enabled": False}) == []
    assert h.role_arns({"a": [{"cloudRoleArn": "y"}, {"b": {"cloudRoleArn": "z"}}]}) == [("a", "y"), ("a.b", "z")]
    assert all(isinstance(w, str) and isinstance(a, str) for w, a in h.role_arns(doc))
    assert h.connector_plans(native(plans=("servers", "databases", "cspm"))) == ("cspm", "servers", "databases")
    assert h.connector_plans(native(plans=("containers",))) == ("cspm", "containers")
    assert h.connector_plans(classic()) == ("cspm",)
