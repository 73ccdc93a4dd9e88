"""AwsSource's set-up reads (issue 13): AwsAccountInventory.setup, read in the inventory's per-account chain.

The emulator is seeded from a small world of our own (four accounts, nothing planted); every fact asserted here is
created through boto3 against the emulator's endpoint, as the account's assumed role, so the facts read must equal
exactly what the test made. One stack's failed status is set in moto's backend (no AWS API makes a stack fail), and
DescribeStackResources by PhysicalResourceId (moto 5.2.5 ignores the parameter and answers ValidationError) is
answered from moto's own stacks by a botocore before-call hook in the test of the stack-owner lookup.
"""
from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from botocore.config import Config  # noqa: E402

from tui.core import aws as aws_mod  # noqa: E402
from tui.core import model as m  # noqa: E402
from tui.core.aws import (  # noqa: E402
    REDACTED,
    AwsSource,
    SetupHint,
    first_failed_event,
    kept_trust_roles,
    policy_text,
    redact_external_ids,
)
from tui.core.collect import Collector, _takes_hints, setup_hints  # noqa: E402
from tui.core.config import AwsSettings  # noqa: E402
from tui.emulator.aws import AwsEmulator, AwsFaultRule  # noqa: E402
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, Ec2Spec  # noqa: E402

# moto does not model WaitConditionHandle (the template's only resource): that is the point
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*WaitConditionHandle")

CFG = Config(retries={"mode": "standard", "total_max_attempts": 1})
ROLE = "OrganizationAccountAccessRole"
MGMT, MEMBER, SINGLE, DENIED = "710000000001", "710000000002", "710000000003", "710000000004"
ISSUER = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
TENANT = "11111111-2222-3333-4444-555555555555"
STACKSETS = "member.org.stacksets.cloudformation.amazonaws.com"
VM = "i-0000000000000abc1"
# the trust policies of the classic role and of a role the connector names: each carries an external id (a secret)
CLASSIC_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::158177204117:root"},
    "Condition": {"StringEquals": {"sts:ExternalId": "00000000-sub-secret"}}}]}
NAMED_TRUST = {"Version": "2012-10-17", "Statement": {
    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::197857026523:root"},
    "Condition": {"StringLike": {"sts:externalid": ["secret-1", "secret-2"]}, "Bool": {"aws:SecureTransport": "true"}}}}
APP_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]}


class SetupWorld:
    """The World attributes the emulator reads, with nothing planted: every set-up fact is made by the test."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.aws_accounts = [
            AwsAccountSpec(MGMT, "Setup Management", ORG_MANAGEMENT, None, ["us-east-1"]),
            AwsAccountSpec(MEMBER, "Setup Member", ORG_MEMBER, MGMT, ["us-east-1"]),
            AwsAccountSpec(SINGLE, "Setup Single", ORG_SINGLE, None, ["eu-west-1", "us-east-1"],
                           instances=[Ec2Spec(VM, SINGLE, "us-east-1", "linux", "setup-vm", "ami-1e749f67")]),
            AwsAccountSpec(DENIED, "Setup Denied", ORG_SINGLE, None, ["us-east-1"]),
        ]
        self.denied_accounts = {DENIED}
        self.opt_in_disabled = {(SINGLE, "ap-east-1")}  # an opt-in region the single account has not enabled

    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        return None

    def aws_setup(self, account_id: str) -> dict[str, Any] | None:
        return None


def _trust(account: str, audience: str, session: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"},
        "Condition": {"StringEquals": {f"{ISSUER}:aud": audience},
                      "StringLike": {"sts:RoleSessionName": session}}}]}


def _client(url: str, service: str, region: str, creds: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=region, config=CFG,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _assume(url: str, account: str) -> dict[str, str]:
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", config=CFG,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="test")["Credentials"]


def _plant_single(url: str) -> dict[str, Any]:
    """The single account's set-up: roles (one with another tenant's session name), the CSPM role's policies, a
    Sentinel-tagged OIDC provider, an unrelated stack in eu-west-1 and the connector's (tagged) one in us-east-1,
    a trail in eu-west-1 whose bucket notifies an SQS queue, two buckets, an RDS instance and an EKS cluster."""
    c = _assume(url, SINGLE)
    iam = _client(url, "iam", "us-east-1", c)
    good = _trust(SINGLE, "api://AzureSecurityCenter.MultiCloud.CSPM", f"MicrosoftDefenderForClouds_{TENANT}")
    bad = _trust(SINGLE, "api://AzureSecurityCenter.MultiCloud.Containers", "MicrosoftDefenderForClouds_other*")
    iam.create_role(RoleName="CspmMonitorAws", AssumeRolePolicyDocument=json.dumps(good))
    iam.create_role(RoleName="DefenderForCloud-Containers-K8s", AssumeRolePolicyDocument=json.dumps(bad))
    iam.create_role(RoleName="AscConnector", AssumeRolePolicyDocument=json.dumps(CLASSIC_TRUST))
    iam.create_role(RoleName="MyScubaReader", AssumeRolePolicyDocument=json.dumps(NAMED_TRUST))
    iam.create_role(RoleName="app-server", AssumeRolePolicyDocument=json.dumps(APP_TRUST))
    iam.attach_role_policy(RoleName="CspmMonitorAws", PolicyArn="arn:aws:iam::aws:policy/SecurityAudit")
    iam.put_role_policy(RoleName="CspmMonitorAws", PolicyName="CspmMonitorAwsPolicy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "s3:ListAllMyBuckets"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"},
            {"Effect": "Allow", "Action": "eks:ListClusters", "Resource": "*"}]}))
    iam.put_role_policy(RoleName="CspmMonitorAws", PolicyName="Extra", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}}))
    oidc = iam.create_open_id_connect_provider(
        Url=f"https://{ISSUER}", ClientIDList=["api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"],
        ThumbprintList=["626d44e704d1ceabe3bf0d53397464ac8080142c"],
        Tags=[{"Key": "Name", "Value": "MicrosoftSentinel"}])

    template = json.dumps({"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
    _client(url, "cloudformation", "eu-west-1", c).create_stack(StackName="unrelated", TemplateBody=template)
    stack_id = _client(url, "cloudformation", "us-east-1", c).create_stack(
        StackName="mdc-connector", TemplateBody=template,
        Tags=[{"Key": "MDFCSecurityConnector", "Value": "true"}])["StackId"]

    s3 = _client(url, "s3", "us-east-1", c)
    s3.create_bucket(Bucket="setup-trail-bucket")
    s3.create_bucket(Bucket="setup-other-bucket")
    sqs = _client(url, "sqs", "us-east-1", c)
    qurl = sqs.create_queue(QueueName="sentinel-cloudtrail-queue")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="setup-trail-bucket", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"]}]})
    _client(url, "cloudtrail", "eu-west-1", c).create_trail(Name="org-trail", S3BucketName="setup-trail-bucket")
    _client(url, "rds", "eu-west-1", c).create_db_instance(
        DBInstanceIdentifier="setup-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin1", MasterUserPassword="secret-password-1", AllocatedStorage=20)
    _client(url, "eks", "us-east-1", c).create_cluster(
        name="setup-eks", roleArn=f"arn:aws:iam::{SINGLE}:role/eks", resourcesVpcConfig={"subnetIds": []})
    return {"good": good, "bad": bad, "oidc_arn": oidc["OpenIDConnectProviderArn"], "queue_arn": qarn,
            "stack_id": stack_id}


def _fail_stack(stack_id: str) -> None:
    """Make the connector stack an UPDATE_ROLLBACK_COMPLETE with a failed resource, in moto's backend."""
    from moto.cloudformation.models import Event, cloudformation_backends

    stack = cloudformation_backends[SINGLE]["us-east-1"].stacks[stack_id]

    def ev(logical: str, rtype: str, status: str, reason: str | None) -> Event:
        return Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical,
                     physical_resource_id=logical, resource_type=rtype, resource_status=status,
                     resource_status_reason=reason, resource_properties=None)

    stack.events.extend([
        ev(stack.name, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated"),
        ev("CspmMonitorAws", "AWS::IAM::Role", "UPDATE_FAILED", "Resource handler returned message: AccessDenied"),
        ev("OidcProvider", "AWS::IAM::OIDCProvider", "UPDATE_FAILED", "Resource update cancelled"),
        ev(stack.name, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS",
           "The following resource(s) failed to update: [CspmMonitorAws, OidcProvider]."),
        ev(stack.name, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", None),
    ])
    stack.status = "UPDATE_ROLLBACK_COMPLETE"


def _plant_management(url: str) -> None:
    c = _assume(url, MGMT)
    _client(url, "organizations", "us-east-1", c).enable_aws_service_access(ServicePrincipal=STACKSETS)
    cfn = _client(url, "cloudformation", "us-east-1", c)
    template = json.dumps({"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
    cfn.create_stack_set(StackSetName="MDC-StackSet", TemplateBody=template, PermissionModel="SELF_MANAGED")
    cfn.create_stack_instances(StackSetName="MDC-StackSet", Accounts=[MEMBER], Regions=["us-east-1"])


@pytest.fixture(scope="module")
def emu():
    e = AwsEmulator(SetupWorld())
    e.start()
    assert e.url is not None
    planted = _plant_single(e.url)
    _fail_stack(planted["stack_id"])
    _plant_management(e.url)
    e.planted = planted  # type: ignore[attr-defined]
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def _clean_faults(emu):
    emu.faults.clear()
    yield
    emu.faults.clear()


def _source(emu: AwsEmulator) -> AwsSource:
    return AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1, max_workers=8))


SINGLE_ROLES = {"CspmMonitorAws", "DefenderForCloud-Containers-K8s", "AscConnector", "MyScubaReader", "app-server"}
HINTS = {
    SINGLE: SetupHint(stack_regions=("eu-west-1", "us-east-1"),
                      billable=frozenset({"s3_buckets", "rds_instances", "eks_clusters"}),
                      trust_roles=frozenset({"MyScubaReader"})),
    MGMT: SetupHint(management=True, stack_regions=("us-east-1",), stackset_name="MDC-StackSet"),
    MEMBER: SetupHint(),
    DENIED: SetupHint(),
}
ACCOUNTS = {SINGLE: ["eu-west-1", "us-east-1"], MGMT: ["us-east-1"], MEMBER: ["us-east-1"], DENIED: ["us-east-1"]}


async def test_setup_facts_read_exactly(emu: AwsEmulator) -> None:
    p = emu.planted  # type: ignore[attr-defined]
    async with _source(emu) as src:
        inv = await src.inventory(ACCOUNTS, hints=HINTS)

    s = inv[SINGLE].setup
    assert inv[SINGLE].readable and s is not None and s.account_id == SINGLE
    assert s.errors == {}
    roles = {r.name: r for r in s.roles or ()}
    assert set(roles) == SINGLE_ROLES
    assert json.loads(roles["CspmMonitorAws"].trust_policy or "") == p["good"]
    assert json.loads(roles["DefenderForCloud-Containers-K8s"].trust_policy or "") == p["bad"]
    # the classic role's and the connector-named role's trust kept, external ids redacted; anything else: name only
    classic = json.loads(roles["AscConnector"].trust_policy or "")
    assert classic["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": REDACTED}}
    assert classic["Statement"][0]["Principal"] == CLASSIC_TRUST["Statement"][0]["Principal"]  # type: ignore[index]
    named = json.loads(roles["MyScubaReader"].trust_policy or "")
    assert named["Statement"]["Condition"] == {"StringLike": {"sts:externalid": [REDACTED, REDACTED]},
                                               "Bool": {"aws:SecureTransport": "true"}}
    assert roles["app-server"].trust_policy is None
    assert "secret" not in repr(s)
    assert roles["CspmMonitorAws"].managed_policies == ("arn:aws:iam::aws:policy/SecurityAudit",)
    assert roles["CspmMonitorAws"].inline_actions == (
        "ec2:DescribeInstances", "s3:ListAllMyBuckets", "eks:ListClusters", "rds:Describe*")
    assert roles["DefenderForCloud-Containers-K8s"].managed_policies is None
    assert roles["DefenderForCloud-Containers-K8s"].inline_actions is None
    assert s.oidc_providers == (m.OidcProviderFact(p["oidc_arn"], ISSUER,
                                                   ("api://1462b192-27f7-4cb9-8523-0f4ecb54b47e",)),)
    assert dict(s.oidc_providers[0].tags) == {"Name": "MicrosoftSentinel"}
    # eu-west-1 (first) has only an unrelated stack; the tagged one in us-east-1 is found, with its failure
    assert s.stack_searched and s.stack_regions == ("eu-west-1", "us-east-1")
    assert s.stack == m.StackFact("mdc-connector", "us-east-1", "UPDATE_ROLLBACK_COMPLETE", "CspmMonitorAws",
                                  "Resource handler returned message: AccessDenied")
    assert s.trail_bucket_queues == (m.BucketQueueFact("setup-trail-bucket", p["queue_arn"]),)
    assert p["queue_arn"].endswith(":sentinel-cloudtrail-queue")
    assert dict(s.billable) == {"s3_buckets": 2, "rds_instances": 1, "eks_clusters": 1}
    # not a management account: nothing of the organization read
    assert (s.stackset_instances, s.trusted_access, s.org_accounts) == (None, None, None)

    g = inv[MGMT].setup
    assert g is not None and g.errors == {}
    assert g.roles == () and g.oidc_providers == ()
    assert g.stack_searched and g.stack is None and g.stack_regions == ("us-east-1",)
    assert g.trusted_access is True
    assert g.stackset_instances is not None
    assert [(i.account_id, i.region, i.status) for i in g.stackset_instances] == [(MEMBER, "us-east-1", "CURRENT")]
    org = sorted(g.org_accounts or (), key=lambda a: a.account_id)
    assert [(a.account_id, a.name, a.status) for a in org] == [(MGMT, "Setup Management", "ACTIVE"),
                                                               (MEMBER, "Setup Member", "ACTIVE")]
    assert all(isinstance(a.joined, datetime) and a.joined.tzinfo == timezone.utc for a in org)
    assert g.trail_bucket_queues == () and dict(g.billable) == {}

    mem = inv[MEMBER].setup
    assert mem is not None and mem.errors == {}
    assert not mem.stack_searched and mem.stack is None and mem.stack_regions == ()
    # the role AWS Organizations creates in an account it creates (CreateAccount): not Defender for Cloud's, so its
    # name only (role-missing needs the names), not its trust policy
    assert mem.roles == (m.IamRoleFact(ROLE, None),)
    assert mem.org_accounts is None and mem.trail_bucket_queues == ()

    assert not inv[DENIED].readable and inv[DENIED].error_kind == "auth" and inv[DENIED].setup is None


async def test_lean_models_read_the_same(emu: AwsEmulator) -> None:
    """The collector's sources use the cut of botocore's models (tui.core.awsmodels): every fact read through them,
    set-up included (roles, policies, OIDC, stacks, stack sets, organization, trails, buckets), equals what the
    full models read, and no operation is missing (an account or a field would carry the error)."""
    async with _source(emu) as src:
        full = await src.inventory(ACCOUNTS, hints=HINTS)
    lean_src = AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1, max_workers=8), lean_models=True)
    async with lean_src as src:
        lean = await src.inventory(ACCOUNTS, hints=HINTS)
        assert len(src._loader.load_service_model("ec2", "service-2")["operations"]) == 2
    assert lean == full
    assert lean[SINGLE].setup is not None and lean[SINGLE].setup.errors == {} and lean[SINGLE].instances


async def test_failing_read_leaves_its_field_none(emu: AwsEmulator) -> None:
    emu.faults.add(AwsFaultRule(service="iam", action="ListOpenIDConnectProviders", account=SINGLE,
                                kind="access_denied"))
    emu.faults.add(AwsFaultRule(service="rds", action="DescribeDBInstances", account=SINGLE, region="eu-west-1",
                                kind="access_denied"))
    emu.faults.add(AwsFaultRule(service="organizations", action="ListAccounts", account=MGMT, kind="access_denied"))
    async with _source(emu) as src:
        inv = await src.inventory({SINGLE: ACCOUNTS[SINGLE], MGMT: ACCOUNTS[MGMT]}, hints=HINTS)
    s = inv[SINGLE].setup
    assert inv[SINGLE].readable and s is not None
    assert s.oidc_providers is None
    assert set(s.errors) == {"oidc_providers", "billable.rds_instances"}
    assert "iam:ListOpenIDConnectProviders denied" in s.errors["oidc_providers"]
    assert "AccessDenied" in s.errors["oidc_providers"]
    assert "rds:DescribeDBInstances denied in account 710000000003 eu-west-1" in s.errors["billable.rds_instances"]
    assert dict(s.billable) == {"s3_buckets": 2, "eks_clusters": 1}  # rds_instances: not read, not 0
    assert {r.name for r in s.roles or ()} == SINGLE_ROLES
    assert s.stack is not None and s.stack.status == "UPDATE_ROLLBACK_COMPLETE"
    assert s.trail_bucket_queues is not None and len(s.trail_bucket_queues) == 1
    g = inv[MGMT].setup
    assert g is not None and g.org_accounts is None and set(g.errors) == {"org_accounts"}
    assert "organizations:ListAccounts denied" in g.errors["org_accounts"]
    assert g.trusted_access is True and g.stackset_instances is not None


async def test_cspm_policies_failing_keeps_the_roles(emu: AwsEmulator) -> None:
    emu.faults.add(AwsFaultRule(service="iam", action="GetRolePolicy", account=SINGLE, kind="access_denied"))
    emu.faults.add(AwsFaultRule(service="cloudformation", action="DescribeStackEvents", account=SINGLE,
                                kind="access_denied"))
    async with _source(emu) as src:
        inv = await src.inventory({SINGLE: ACCOUNTS[SINGLE]}, hints=HINTS)
    s = inv[SINGLE].setup
    assert s is not None and set(s.errors) == {"cspm_policies", "stack_events"}
    assert "iam:GetRolePolicy denied" in s.errors["cspm_policies"]
    cspm = next(r for r in s.roles or () if r.name == "CspmMonitorAws")
    assert cspm.trust_policy is not None and cspm.managed_policies is None and cspm.inline_actions is None
    # the stack is known; why it failed is not (no made-up reason)
    assert s.stack == m.StackFact("mdc-connector", "us-east-1", "UPDATE_ROLLBACK_COMPLETE", None, None)


async def test_region_not_enabled_is_skipped_by_the_set_up_reads(emu: AwsEmulator) -> None:
    hint = SetupHint(stack_regions=("ap-east-1", "eu-west-1", "us-east-1"),
                     billable=frozenset({"rds_instances", "eks_clusters"}))
    async with _source(emu) as src:
        inv = await src.inventory({SINGLE: ["ap-east-1", "eu-west-1", "us-east-1"]}, hints={SINGLE: hint})
    i = inv[SINGLE]
    assert i.readable and "not enabled" in i.failed_regions["ap-east-1"]
    s = i.setup
    assert s is not None and s.errors == {}
    assert s.stack is not None and (s.stack.name, s.stack.region) == ("mdc-connector", "us-east-1")
    assert dict(s.billable) == {"rds_instances": 1, "eks_clusters": 1}


async def test_no_hints_reads_no_setup(emu: AwsEmulator) -> None:
    seen: list[str] = []

    def on_client(client: Any, account: str | None) -> None:
        client.meta.events.register("before-call", lambda model, **_: seen.append(model.service_model.service_name))

    async with AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1), on_client=on_client) as src:
        inv = await src.inventory({SINGLE: ["us-east-1"]})
        no_native = await src.inventory({SINGLE: ["us-east-1"]}, hints={SINGLE: SetupHint(with_setup=False)})
    assert inv[SINGLE].readable and inv[SINGLE].setup is None
    assert no_native[SINGLE].readable and no_native[SINGLE].setup is None
    assert set(seen) <= {"sts", "ec2", "ssm"}


# --------------------------------------------------------------------------------------------------------------
# Which stack is the connector's


def _stack_calls(seen: list[tuple[str, str, str | None]], owner_creds: dict[str, str] | None = None,
                 url: str | None = None) -> Any:
    """on_client hook: records (region, operation, StackName) of every CloudFormation call; with owner_creds, answers
    DescribeStackResources(PhysicalResourceId=...) as AWS does (the resources of the stack that has that physical
    id, else ValidationError), from the emulator's own stacks read through its API (moto ignores the parameter)."""
    from botocore.awsrequest import AWSResponse

    def owner(region: str, physical_id: str) -> Any:
        assert url is not None and owner_creds is not None
        cfn = _client(url, "cloudformation", region, owner_creds)
        for st in cfn.describe_stacks()["Stacks"]:
            res = cfn.describe_stack_resources(StackName=st["StackName"])
            if any(r.get("PhysicalResourceId") == physical_id for r in res["StackResources"]):
                return AWSResponse(url, 200, {}, None), res
        return AWSResponse(url, 400, {}, None), {
            "Error": {"Code": "ValidationError", "Message": f"Stack for {physical_id} does not exist"},
            "ResponseMetadata": {"HTTPStatusCode": 400}}

    def on_client(client: Any, account: str | None) -> None:
        if client.meta.service_model.service_name != "cloudformation":
            return
        region = client.meta.region_name

        def before(model: Any, params: dict[str, Any], **_: Any) -> Any:
            body = params.get("body")  # the serialized request (query protocol: a dict, or its urlencoded text)
            args = body if isinstance(body, dict) else {k: v[0] for k, v in parse_qs(str(body or "")).items()}
            seen.append((region, model.name, args.get("StackName")))
            if owner_creds is not None and model.name == "DescribeStackResources" and "PhysicalResourceId" in args:
                return owner(region, args["PhysicalResourceId"])
            return None

        client.meta.events.register("before-call", before)

    return on_client


async def test_stack_is_the_one_that_created_the_cspm_role(emu: AwsEmulator) -> None:
    """The portal lets the user name the stack and tags the roles, not the stack: an untagged stack of any name that
    created the CSPM role is the connector's, even with a tagged stack in an earlier region."""
    url = emu.url
    assert url is not None
    c = _assume(url, SINGLE)
    cfn = _client(url, "cloudformation", "eu-west-1", c)
    trust = _trust(SINGLE, "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", f"MicrosoftDefenderForClouds_{TENANT}")
    cfn.create_stack(StackName="my-defender-setup", TemplateBody=json.dumps({"Resources": {"CspmRole": {
        "Type": "AWS::IAM::Role", "Properties": {"RoleName": "MyCspmMonitor", "AssumeRolePolicyDocument": trust}}}}))
    seen: list[tuple[str, str, str | None]] = []
    hint = SetupHint(stack_regions=("us-east-1", "eu-west-1"), cspm_role="MyCspmMonitor")
    try:
        async with AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1),
                             on_client=_stack_calls(seen, c, emu.url)) as src:
            inv = await src.inventory({SINGLE: ["us-east-1"]}, hints={SINGLE: hint})
    finally:
        cfn.delete_stack(StackName="my-defender-setup")
        iam = _client(url, "iam", "us-east-1", c)
        if "MyCspmMonitor" in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
            iam.delete_role(RoleName="MyCspmMonitor")
    s = inv[SINGLE].setup
    assert s is not None and s.errors == {}
    assert s.stack == m.StackFact("my-defender-setup", "eu-west-1", "CREATE_COMPLETE", None, None)
    # us-east-1 has no owner (and a tagged stack the fallback would have taken): the search over all stacks never ran
    assert seen == [("us-east-1", "DescribeStackResources", None), ("eu-west-1", "DescribeStackResources", None),
                    ("eu-west-1", "DescribeStacks", "my-defender-setup")]
    cspm = next(r for r in s.roles or () if r.name == "MyCspmMonitor")  # the hint's CSPM role: its trust is kept
    assert json.loads(cspm.trust_policy or "") == trust


async def test_stack_falls_back_to_the_tag_when_no_stack_owns_the_role(emu: AwsEmulator) -> None:
    """The emulator (like a tenant whose roles were made outside CloudFormation) has no stack owning the role:
    DescribeStackResources answers ValidationError in each region, then the tagged stack is found as before."""
    seen: list[tuple[str, str, str | None]] = []
    async with AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1), on_client=_stack_calls(seen)) as src:
        inv = await src.inventory({SINGLE: ACCOUNTS[SINGLE]}, hints={SINGLE: HINTS[SINGLE]})
    s = inv[SINGLE].setup
    assert s is not None and s.errors == {}
    assert s.stack is not None and (s.stack.name, s.stack.region) == ("mdc-connector", "us-east-1")
    assert seen == [("eu-west-1", "DescribeStackResources", None), ("us-east-1", "DescribeStackResources", None),
                    ("eu-west-1", "DescribeStacks", None), ("us-east-1", "DescribeStacks", None),
                    ("us-east-1", "DescribeStackEvents", emu.planted["stack_id"])]  # type: ignore[attr-defined]


async def test_owner_lookup_failing_is_said_not_taken_for_no_stack(emu: AwsEmulator) -> None:
    emu.faults.add(AwsFaultRule(service="cloudformation", action="DescribeStackResources", kind="access_denied"))
    async with _source(emu) as src:
        inv = await src.inventory({SINGLE: ACCOUNTS[SINGLE], MGMT: ACCOUNTS[MGMT]}, hints=HINTS)
    s = inv[SINGLE].setup  # the tagged stack is still found
    assert s is not None and s.errors == {} and s.stack is not None and s.stack.name == "mdc-connector"
    g = inv[MGMT].setup  # no tagged stack, but the lookup that finds any name was denied: not "no stack"
    assert g is not None and not g.stack_searched and g.stack is None
    assert set(g.errors) == {"stack"}
    assert "cloudformation:DescribeStackResources denied in account 710000000001 us-east-1" in g.errors["stack"]


# --------------------------------------------------------------------------------------------------------------
# The set-up reads' deadline


async def test_slow_setup_reads_time_out_and_leave_the_inventory(emu: AwsEmulator) -> None:
    """A set-up API hanging costs its read only: at the deadline the inventory returns with EC2/SSM and every other
    read, the hung ones say "timed out", an abandoned read makes no further request, and the next refresh on the same
    source is not held up by the threads still waiting for their answer.

    Deterministic (no timer, no load decides): the hung requests wait in a before-send hook until the test lets them
    go, and the test ends the deadline (as its timer would: _Deadline.abandon) once only they are left."""
    limit = 600.0  # the timer never fires here: the test ends the deadline
    release = threading.Event()
    hanging: list[str] = []  # the hung requests waiting in the hook now
    first: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def on_client(client: Any, account: str | None) -> None:
        region = client.meta.region_name

        def before_send(event_name: str, **_: Any) -> None:
            op = event_name.rsplit(".", 1)[-1]
            acct = aws_mod.current_account() if account == aws_mod.SHARED_CLIENT else account
            # the first ListRoles and the first stack-owner lookup (eu-west-1, the stack read's first request) hang
            if acct != SINGLE or (op, region) not in {("ListRoles", "us-east-1"), ("DescribeStackResources",
                                                                                   "eu-west-1")}:
                return
            with lock:
                if (op, region) in first:
                    return
                first.add((op, region))
                hanging.append(op)
            release.wait(120)
            with lock:
                hanging.remove(op)

        client.meta.events.register("before-send", before_send)

    # counts the CloudFormation requests in us-east-1, where the stack read would go on if it were not stopped
    later = emu.faults.add(AwsFaultRule(service="cloudformation", account=SINGLE, region="us-east-1",
                                        kind="latency", latency_ms=1))
    src = AwsSource(AwsSettings(endpoint_url=emu.url, max_attempts=1, max_workers=16), setup_timeout_s=limit,
                    on_client=on_client)
    try:
        task = asyncio.ensure_future(src.inventory({SINGLE: ACCOUNTS[SINGLE]}, hints=HINTS))
        for _ in range(12000):  # until only the two hung reads are left (a bound, not a timing: 120 s)
            st = src.fanout_stats()
            if len(hanging) == 2 and st["in_flight"] == 2 and st["waiting"] == 0:
                break
            assert not task.done()
            await asyncio.sleep(0.01)
        assert sorted(hanging) == ["DescribeStackResources", "ListRoles"]
        await asyncio.sleep(0.05)
        assert not task.done()  # the inventory waits for its set-up reads until the deadline
        for d in list(src._deadlines):
            d.abandon()  # the deadline passes
        inv = await asyncio.wait_for(task, 60)
        assert len(hanging) == 2  # it returned while the hung reads still wait for their answer
        again = await asyncio.wait_for(src.inventory({SINGLE: ACCOUNTS[SINGLE]}, hints=HINTS), 120)
        assert len(hanging) == 2  # the next refresh, two threads still held, read everything without them
    finally:
        release.set()
        await src.aclose()  # waits for the abandoned reads' requests in flight

    i = inv[SINGLE]
    assert i.readable and [x.instance_id for x in i.instances] == [VM] and i.failed_regions == {}
    s = i.setup
    assert s is not None and set(s.errors) == {"roles", "stack"}
    assert all(e.startswith(f"timed out after {limit:g} s") for e in s.errors.values())
    assert s.roles is None and s.stack is None and not s.stack_searched
    # the other reads were not held up
    assert s.oidc_providers is not None and len(s.oidc_providers) == 1
    assert dict(s.billable) == {"s3_buckets": 2, "rds_instances": 1, "eks_clusters": 1}
    # the abandoned stack read stopped when its lookup answered (after release): the us-east-1 requests are the next
    # refresh's own (owner lookup, search over all stacks, events), none of the first read's
    assert later.hits == 3
    a = again[SINGLE].setup
    assert a is not None and a.errors == {}
    assert {r.name for r in a.roles or ()} == SINGLE_ROLES and a.stack is not None


# --------------------------------------------------------------------------------------------------------------
# Pure parts


def test_first_failed_event_is_the_cause_of_the_last_operation() -> None:
    def ev(logical: str, status: str, reason: str | None = None, own: bool = False) -> dict[str, Any]:
        return {"LogicalResourceId": logical, "ResourceStatus": status, "ResourceStatusReason": reason,
                "ResourceType": "AWS::CloudFormation::Stack" if own else "AWS::IAM::Role"}

    newest_first = [
        ev("S", "ROLLBACK_COMPLETE", own=True), ev("B", "DELETE_COMPLETE"),
        ev("S", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [A, B].", own=True),
        ev("B", "CREATE_FAILED", "Resource creation cancelled"), ev("A", "CREATE_FAILED", "Role exists"),
        ev("A", "CREATE_IN_PROGRESS"), ev("S", "CREATE_IN_PROGRESS", "User Initiated", own=True),
        ev("Old", "CREATE_FAILED", "an older operation"),
    ]
    assert first_failed_event(newest_first, "S") == ("A", "Role exists")
    only_stack = [ev("S", "CREATE_FAILED", "Template error", own=True), ev("S", "CREATE_IN_PROGRESS", own=True)]
    assert first_failed_event(only_stack, "S") == ("S", "Template error")
    assert first_failed_event([ev("S", "UPDATE_COMPLETE", own=True)], "S") == (None, None)


def test_policy_text_decodes_both_shapes() -> None:
    doc = {"Version": "2012-10-17", "Statement": []}
    assert json.loads(policy_text(doc) or "") == doc
    assert policy_text("%7B%22Version%22%3A%222012-10-17%22%7D") == '{"Version":"2012-10-17"}'
    assert policy_text(None) is None


def _conn(acct: str, role: str = "single", kind: str = "native", regions: tuple[str, ...] = ("us-east-1",),
          offerings: tuple[str, ...] = ("CspmMonitorAws",), stackset: str | None = None,
          cspm_arn: str | None = None) -> m.Connector:
    offs = tuple(m.Offering(o, {"offeringType": o, "nativeCloudConnection": {"cloudRoleArn": cspm_arn}}
                            if o == "CspmMonitorAws" and cspm_arn else {}) for o in offerings)
    return m.Connector(id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/{acct}"
                       f"-{role}", name=f"{acct}-{role}", kind=kind,  # type: ignore[arg-type]
                       subscription_id="s", resource_group="rg", aws_account_id=acct, regions=regions,
                       organization_role=role, stackset_name=stackset, offerings=offs)  # type: ignore[arg-type]


def test_setup_hints_from_connectors() -> None:
    hints = setup_hints([
        _conn("111111111111", "management", regions=("eu-west-1", "us-east-1"), stackset="MDC-Set",
              offerings=("CspmMonitorAws", "DefenderForDatabasesAws"),
              cspm_arn="arn:aws:iam::111111111111:role/MyCspmRole"),
        _conn("222222222222", "member", regions=("us-east-1",),
              offerings=("CspmMonitorAws", "DefenderCspmAws", "DefenderForContainersAws")),
        _conn("333333333333", kind="classic", regions=()),
        _conn("444444444444", regions=("ap-southeast-2", "us-east-1"), offerings=("CspmMonitorAws",)),
        _conn("444444444444", kind="classic", regions=("eu-central-1",)),
    ])
    assert hints == {
        "111111111111": SetupHint(management=True, stack_regions=("eu-west-1", "us-east-1"),
                                  billable=frozenset({"rds_instances"}), with_setup=True, stackset_name="MDC-Set",
                                  cspm_role="MyCspmRole", trust_roles=frozenset({"MyCspmRole"})),
        "222222222222": SetupHint(management=False, stack_regions=(),
                                  billable=frozenset({"s3_buckets", "rds_instances", "eks_clusters"})),
        "333333333333": SetupHint(with_setup=False),
        "444444444444": SetupHint(stack_regions=("ap-southeast-2", "us-east-1")),
    }


class _Azure:
    def __init__(self, connectors: list[m.Connector]) -> None:
        self.conns = connectors

    async def subscriptions(self) -> tuple[list[str], str | None]:
        return ["s"], TENANT

    async def connectors(self, subs: Any) -> m.ConnectorsData:
        return m.ConnectorsData(tuple(self.conns))

    async def pricings(self, subs: Any) -> m.PlansData:
        return m.PlansData(())

    async def arc_machines(self, subs: Any) -> tuple[m.ArcMachine, ...]:
        return ()

    async def recommendation_counts(self, subs: Any) -> tuple[m.RecommendationCount, ...]:
        return ()

    async def compliance(self, subs: Any) -> tuple[m.ComplianceStandard, ...]:
        return ()


class _OldAws:
    def __init__(self) -> None:
        self.calls = 0

    async def inventory(self, accounts):  # the pre-issue-13 signature: still called without hints
        self.calls += 1
        return {a: m.AwsAccountInventory(a, True, regions=tuple(r)) for a, r in accounts.items()}


class _NewAws:
    def __init__(self) -> None:
        self.hints: Any = None

    async def inventory(self, accounts, hints=None):
        self.hints = hints
        return {a: m.AwsAccountInventory(a, True, regions=tuple(r)) for a, r in accounts.items()}


async def test_collector_passes_hints_to_sources_that_take_them() -> None:
    conns = [_conn("111111111111", "management", stackset="MDC-Set"), _conn("222222222222", kind="classic")]
    new, old = _NewAws(), _OldAws()
    snap = await Collector(_Azure(conns), new).collect()
    assert snap.sections["onboarding"].status.status == "ok"
    assert new.hints == setup_hints(conns) and new.hints["111111111111"].management
    snap = await Collector(_Azure(conns), old).collect()  # type: ignore[arg-type]  # the old signature, on purpose
    assert old.calls == 1 and snap.sections["onboarding"].status.status == "ok"
    assert _takes_hints(AwsSource.inventory) and not _takes_hints(old.inventory)


def test_external_ids_are_redacted() -> None:
    doc = {"Statement": [{"Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t", "aws:SourceAccount": "1"},
                                        "ForAnyValue:StringLike": {"STS:EXTERNALID": ["a", "b"]}}},
                         {"Effect": "Allow"}]}
    out = json.loads(redact_external_ids(json.dumps(doc)) or "")
    assert out["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": REDACTED, "aws:SourceAccount": "1"},
                                                "ForAnyValue:StringLike": {"STS:EXTERNALID": [REDACTED, REDACTED]}}
    plain = json.dumps({"Statement": [{"Effect": "Allow"}]})
    assert redact_external_ids(plain) == plain
    assert redact_external_ids("not json sts:ExternalId=x") is None and redact_external_ids("not json") == "not json"
    assert redact_external_ids(None) is None


def test_kept_trust_roles_are_defender_for_clouds() -> None:
    kept = kept_trust_roles(SetupHint(cspm_role="MyCspm", trust_roles=frozenset({"MyScuba"})))
    assert {"cspmmonitoraws", "defenderforcloud-containers-k8s", "defenderforcloud-oidcciem", "ascconnector",
            "mycspm", "myscuba"} <= kept
    assert "organizationaccountaccessrole" not in kept and len(kept) == 15 + 3
