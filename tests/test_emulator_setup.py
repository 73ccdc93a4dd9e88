"""tui/emulator/aws.py seeds what `world.aws_setup(account)` plants (issue 13), read back with boto3 through the
emulator's endpoint: the OIDC provider's kind (MDC's, none, Sentinel's), trust policies for another tenant,
least-privilege CspmMonitorAws (no ReadOnlyAccess) versus ReadOnlyAccess, the connector stack's status with its failed
resource's event, StackSet instances with their status, Organizations trusted access and accounts, a CloudTrail
trail whose bucket notifies an SQS queue, S3 buckets and RDS instances. Accounts without a setup keep the defaults.

The world is a small fake (the real World's aws_setup is written elsewhere): expectations come from its dicts.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from botocore.config import Config  # noqa: E402

from tui.emulator.aws import READ_ONLY_ACCESS, SENTINEL_CLIENT_ID, STACKSETS_PRINCIPAL, AwsEmulator  # noqa: E402
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, Ec2Spec  # noqa: E402

CFG = Config(retries={"mode": "standard", "total_max_attempts": 2})
TENANT = "8f0c2c1e-2a52-4f0e-9a57-1b1f3f0d7c11"
ISSUER = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"
MDC_CSPM_AUDIENCE = "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479"
SESSION = f"MicrosoftDefenderForClouds_{TENANT}"

MGMT, MEMBER, MGMT2 = "210000000001", "210000000002", "220000000001"
LEAST, SENTINEL, NOOIDC = "230000000001", "240000000001", "250000000001"
NOCONN, SUSPENDED = "210000000003", "210000000004"  # organization accounts the world has no AWS account for
ROLES = ["CspmMonitorAws", "DefenderForCloud-ArcAutoProvisioning", "DefenderForCloud-Containers-K8s-kinesis-to-s3",
         "DefenderForCloud-DefenderForServers"]
LEAST_ACTIONS = ["ec2:DescribeInstances", "s3:ListAllMyBuckets", "iam:List*"]
FAILED_REASON = ("Resource handler returned message: \"User: arn:aws:sts::230000000001:assumed-role/Deployer/x is "
                 "not authorized to perform: iam:UpdateAssumeRolePolicy\" (HandlerErrorCode: AccessDenied)")

SETUPS: dict[str, dict[str, Any]] = {
    MGMT: {
        "oidc": "mdc",
        "trusted_access": True,
        "stackset": {"StackSetName": "MDC-Contoso-StackSet", "instances": [
            {"Account": MEMBER, "Region": "us-east-1", "Status": "CURRENT", "DetailedStatus": "SUCCEEDED",
             "StatusReason": None},
            {"Account": NOCONN, "Region": "us-east-1", "Status": "OUTDATED", "DetailedStatus": "FAILED",
             "StatusReason": "Account 210000000003 should have 'AWSCloudFormationStackSetExecutionRole' role with "
                             "trust relationship to Role 'AWSCloudFormationStackSetAdministrationRole'."},
        ]},
        "org_accounts": [
            {"Id": MGMT, "Name": "Contoso Management", "Status": "ACTIVE", "JoinedTimestamp": 1_700_000_000},
            {"Id": MEMBER, "Name": "Contoso Workloads", "Status": "ACTIVE", "JoinedTimestamp": 1_700_100_000},
            {"Id": NOCONN, "Name": "Contoso Forgotten", "Status": "ACTIVE", "JoinedTimestamp": 1_700_200_000},
            {"Id": SUSPENDED, "Name": "Contoso Closed", "Status": "SUSPENDED", "JoinedTimestamp": 1_700_300_000},
        ],
        "buckets": ["contoso-mgmt-logs", "contoso-mgmt-data"],
        "rds": [("us-east-1", "contoso-db-1"), ("eu-west-1", "contoso-db-2")],
    },
    MGMT2: {"trusted_access": False},
    LEAST: {
        "least_privilege": {"role": "CspmMonitorAws", "actions": LEAST_ACTIONS},
        "stack": {"StackName": "DefenderForCloud-Connector", "Region": "eu-west-1",
                  "Status": "UPDATE_ROLLBACK_COMPLETE", "FailedResource": "CspmMonitorAws", "Reason": FAILED_REASON},
        "trail": {"TrailName": "org-trail", "Bucket": "least-cloudtrail-logs", "Region": "eu-west-1", "Queue": None},
    },
    SENTINEL: {
        "oidc": "sentinel",
        "trust_mismatch": ["CspmMonitorAws"],
        "stack": {"StackName": "DefenderForCloud-Connector", "Region": "eu-west-1", "Status": "ROLLBACK_COMPLETE",
                  "FailedResource": "DefenderForCloud-DefenderForServers", "Reason": "Role already exists"},
        "trail": {"TrailName": "sentinel-trail", "Bucket": "sentinel-cloudtrail-logs", "Region": "eu-west-1",
                  "Queue": "sentinel-cloudtrail-queue"},
    },
    NOOIDC: {"oidc": "missing",
             "stack": {"StackName": "MDC-Connector-Custom", "Region": "us-west-2", "Status": "CREATE_COMPLETE"}},
}


class SetupWorld:
    """The World attributes aws.py reads, plus aws_setup (the contract's World -> AWS seeding interface)."""

    def __init__(self, setups: dict[str, dict[str, Any]] | None = None) -> None:
        self.lock = threading.RLock()
        self.tenant_id = TENANT
        self.denied_accounts: set[str] = set()
        self.setups = setups

        def inst(acct: str, region: str, n: int) -> Ec2Spec:
            return Ec2Spec(f"i-{int(acct[:4]) * 1000 + n:017x}", acct, region, "linux", f"vm-{n}", "ami-1e749f67")

        self.aws_accounts = [
            AwsAccountSpec(MGMT, "Contoso Management", ORG_MANAGEMENT, None, ["us-east-1", "eu-west-1"],
                           [inst(MGMT, "us-east-1", 1)]),
            AwsAccountSpec(MEMBER, "Contoso Workloads", ORG_MEMBER, MGMT, ["us-east-1"]),
            AwsAccountSpec(MGMT2, "Fabrikam Management", ORG_MANAGEMENT, None, ["us-east-1"]),
            AwsAccountSpec(LEAST, "Least", ORG_SINGLE, None, ["eu-west-1"]),
            AwsAccountSpec(SENTINEL, "Sentinel", ORG_SINGLE, None, ["eu-west-1"]),
            AwsAccountSpec(NOOIDC, "No OIDC", ORG_SINGLE, None, ["us-east-1", "us-west-2"]),
        ]
        if setups is not None:
            self.aws_setup = lambda account_id: self.setups.get(account_id)  # type: ignore[union-attr]

    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        return None

    def iam_roles(self, account_id: str) -> list[str]:
        return list(ROLES)

    def cfn_stack(self, account_id: str) -> dict | None:
        acct = next(a for a in self.aws_accounts if a.account_id == account_id)
        if acct.org_role == ORG_MEMBER:
            return {"StackName": f"StackSet-MDC-Contoso-StackSet-{account_id[-4:]}", "Region": acct.regions[0]}
        stack = {"StackName": "DefenderForCloud-Connector", "Region": acct.regions[0]}
        if acct.org_role == ORG_MANAGEMENT:
            stack["StackSetName"] = f"MDC-{acct.name.split()[0]}-StackSet"
        return stack


@pytest.fixture(scope="module")
def emu():
    e = AwsEmulator(SetupWorld(SETUPS))
    e.start()
    yield e
    e.stop()


def _client(emu: AwsEmulator, service: str, account: str, region: str = "us-east-1") -> Any:
    sts = boto3.client("sts", endpoint_url=emu.url, region_name="us-east-1", config=CFG,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                            RoleSessionName="mdc-aws")["Credentials"]
    return boto3.client(service, endpoint_url=emu.url, region_name=region, config=CFG,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _doc(value: Any) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def _trust(iam: Any, role: str) -> dict:
    [stmt] = _doc(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])["Statement"]
    return stmt


def _providers(iam: Any) -> list[dict]:
    out = []
    for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])
        out.append({"arn": p["Arn"], "url": got["Url"], "client_ids": got["ClientIDList"],
                    "tags": {t["Key"]: t["Value"] for t in got.get("Tags") or ()}})
    return out


def _attached(iam: Any, role: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]


# --------------------------------------------------------------------------------------------------------------
# IAM


def test_default_account_has_mdc_provider_read_only_access_and_deny(emu: AwsEmulator) -> None:
    iam = _client(emu, "iam", MEMBER)  # no aws_setup for the member: every default
    [prov] = _providers(iam)
    assert prov["url"] == ISSUER and prov["arn"] == f"arn:aws:iam::{MEMBER}:oidc-provider/{ISSUER}"
    assert MDC_CSPM_AUDIENCE in prov["client_ids"] and SENTINEL_CLIENT_ID not in prov["client_ids"]
    assert prov["tags"] == {"Name": "ASCDefendersOIDCIdentityProvider"}
    assert _attached(iam, "CspmMonitorAws") == [READ_ONLY_ACCESS]
    assert iam.list_role_policies(RoleName="CspmMonitorAws")["PolicyNames"] == ["CspmMonitorAwsDenyPolicy"]
    deny = _doc(iam.get_role_policy(RoleName="CspmMonitorAws", PolicyName="CspmMonitorAwsDenyPolicy")[
        "PolicyDocument"])["Statement"][0]
    assert deny["Effect"] == "Deny" and "billing:*" in deny["Action"]
    stmt = _trust(iam, "CspmMonitorAws")
    assert stmt["Principal"] == {"Federated": f"arn:aws:iam::{MEMBER}:oidc-provider/{ISSUER}"}
    assert stmt["Condition"]["StringLike"]["sts:RoleSessionName"] == SESSION
    assert stmt["Condition"]["StringEquals"][f"{ISSUER}:aud"] == MDC_CSPM_AUDIENCE
    assert _attached(iam, "DefenderForCloud-DefenderForServers") == []  # ReadOnlyAccess is CspmMonitorAws's only


def test_least_privilege_role_has_its_actions_and_no_read_only_access(emu: AwsEmulator) -> None:
    iam = _client(emu, "iam", LEAST)
    assert _attached(iam, "CspmMonitorAws") == []
    assert sorted(iam.list_role_policies(RoleName="CspmMonitorAws")["PolicyNames"]) == [
        "CspmMonitorAwsDenyPolicy", "CspmMonitorAwsPolicy"]
    [stmt] = _doc(iam.get_role_policy(RoleName="CspmMonitorAws", PolicyName="CspmMonitorAwsPolicy")[
        "PolicyDocument"])["Statement"]
    assert stmt["Effect"] == "Allow" and stmt["Action"] == LEAST_ACTIONS and stmt["Resource"] == "*"
    assert len(_providers(iam)) == 1  # the provider is untouched


def test_sentinel_provider_and_trust_for_another_tenant(emu: AwsEmulator) -> None:
    iam = _client(emu, "iam", SENTINEL)
    [prov] = _providers(iam)
    assert prov["url"] == ISSUER  # the same issuer as MDC's: an account holds one provider per URL
    assert prov["client_ids"] == [SENTINEL_CLIENT_ID]
    assert prov["tags"] == {"Name": "MicrosoftSentinel"}
    drifted = _trust(iam, "CspmMonitorAws")["Condition"]["StringLike"]["sts:RoleSessionName"]
    assert drifted.startswith("MicrosoftDefenderForClouds_") and drifted != SESSION
    assert TENANT not in drifted
    # a role not listed keeps the world's tenant; the audience is untouched
    assert _trust(iam, "DefenderForCloud-DefenderForServers")["Condition"]["StringLike"][
        "sts:RoleSessionName"] == SESSION
    assert _trust(iam, "CspmMonitorAws")["Condition"]["StringEquals"][f"{ISSUER}:aud"] == MDC_CSPM_AUDIENCE


def test_missing_provider_keeps_the_roles(emu: AwsEmulator) -> None:
    iam = _client(emu, "iam", NOOIDC)
    assert _providers(iam) == []
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert set(ROLES) <= roles
    assert _trust(iam, "CspmMonitorAws")["Principal"]["Federated"].endswith(f":oidc-provider/{ISSUER}")


# --------------------------------------------------------------------------------------------------------------
# CloudFormation


def _connector_stacks(cfn: Any) -> list[dict]:
    return [s for p in cfn.get_paginator("describe_stacks").paginate() for s in p["Stacks"]
            if {"Key": "MDFCSecurityConnector", "Value": "true"} in (s.get("Tags") or [])]


def test_failed_update_stack_status_and_event(emu: AwsEmulator) -> None:
    cfn = _client(emu, "cloudformation", LEAST, "eu-west-1")
    [stack] = _connector_stacks(cfn)
    assert stack["StackName"] == "DefenderForCloud-Connector"
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="DefenderForCloud-Connector")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"].endswith("_FAILED")]
    assert [(e["LogicalResourceId"], e["ResourceStatus"], e["ResourceStatusReason"], e["ResourceType"])
            for e in failed] == [("CspmMonitorAws", "UPDATE_FAILED", FAILED_REASON, "AWS::IAM::Role")]
    assert events[0]["ResourceStatus"] == "UPDATE_ROLLBACK_COMPLETE"  # newest first, as CloudFormation answers
    assert events[0]["LogicalResourceId"] == "DefenderForCloud-Connector"
    times = [e["Timestamp"] for e in events]
    assert times == sorted(times, reverse=True)
    assert stack["CreationTime"] < failed[0]["Timestamp"]


def test_failed_create_stack_status_and_event(emu: AwsEmulator) -> None:
    cfn = _client(emu, "cloudformation", SENTINEL, "eu-west-1")
    [stack] = _connector_stacks(cfn)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=stack["StackName"])["StackEvents"]
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(events)]
    assert statuses[0] == ("DefenderForCloud-Connector", "CREATE_IN_PROGRESS")
    assert ("DefenderForCloud-DefenderForServers", "CREATE_FAILED") in statuses
    assert statuses[-1] == ("DefenderForCloud-Connector", "ROLLBACK_COMPLETE")
    assert ("DefenderForCloud-Connector", "CREATE_COMPLETE") not in statuses
    [failed] = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["ResourceStatusReason"] == "Role already exists"


def test_stack_name_and_region_from_the_setup(emu: AwsEmulator) -> None:
    assert _connector_stacks(_client(emu, "cloudformation", NOOIDC, "us-east-1")) == []
    [stack] = _connector_stacks(_client(emu, "cloudformation", NOOIDC, "us-west-2"))
    assert (stack["StackName"], stack["StackStatus"]) == ("MDC-Connector-Custom", "CREATE_COMPLETE")
    # an account without a planted stack keeps world.cfn_stack's, complete
    [member] = _connector_stacks(_client(emu, "cloudformation", MEMBER, "us-east-1"))
    assert member["StackStatus"] == "CREATE_COMPLETE"


def test_stackset_instances(emu: AwsEmulator) -> None:
    cfn = _client(emu, "cloudformation", MGMT, "us-east-1")
    ss = cfn.describe_stack_set(StackSetName="MDC-Contoso-StackSet")["StackSet"]
    assert ss["PermissionModel"] == "SERVICE_MANAGED"
    got = cfn.list_stack_instances(StackSetName="MDC-Contoso-StackSet")["Summaries"]
    want = SETUPS[MGMT]["stackset"]["instances"]
    assert [(i["Account"], i["Region"], i["Status"], i.get("StatusReason"), i["StackInstanceStatus"]["DetailedStatus"])
            for i in got] == [(w["Account"], w["Region"], w["Status"], w["StatusReason"], w["DetailedStatus"])
                              for w in want]
    assert all(i["OrganizationalUnitId"].startswith("r-") for i in got)
    one = cfn.describe_stack_instance(StackSetName="MDC-Contoso-StackSet", StackInstanceAccount=NOCONN,
                                      StackInstanceRegion="us-east-1")["StackInstance"]
    assert one["Status"] == "OUTDATED" and one["StackInstanceStatus"]["DetailedStatus"] == "FAILED"
    assert "AWSCloudFormationStackSetExecutionRole" in one["StatusReason"]


# --------------------------------------------------------------------------------------------------------------
# Organizations


def _service_access(org: Any) -> set[str]:
    return {p["ServicePrincipal"]
            for page in org.get_paginator("list_aws_service_access_for_organization").paginate()
            for p in page.get("EnabledServicePrincipals") or ()}


def test_trusted_access(emu: AwsEmulator) -> None:
    assert STACKSETS_PRINCIPAL in _service_access(_client(emu, "organizations", MGMT))
    assert STACKSETS_PRINCIPAL not in _service_access(_client(emu, "organizations", MGMT2))


def test_org_accounts(emu: AwsEmulator) -> None:
    org = _client(emu, "organizations", MGMT)
    listed = {a["Id"]: a for p in org.get_paginator("list_accounts").paginate() for a in p["Accounts"]}
    want = {a["Id"]: a for a in SETUPS[MGMT]["org_accounts"]}
    assert set(listed) == set(want)
    for acct_id, w in want.items():
        got = listed[acct_id]
        assert (got["Name"], got["Status"]) == (w["Name"], w["Status"]), acct_id
        assert got["JoinedTimestamp"].timestamp() == w["JoinedTimestamp"], acct_id
    # the second organization has only its management account
    org2 = _client(emu, "organizations", MGMT2)
    assert [a["Id"] for p in org2.get_paginator("list_accounts").paginate() for a in p["Accounts"]] == [MGMT2]


def test_doctor_trusted_access_check_reads_it(emu: AwsEmulator) -> None:
    """The doctor's Organizations check (tui/core/onboarding/doctor.py _org_check_sync) against the seeded orgs."""
    from tui.core.onboarding import doctor

    class Aws:  # the AwsSource members _org_check_sync uses
        settings = type("S", (), {"region": "us-east-1"})()

        def _access(self, acct: str) -> str:
            return acct

        def _client(self, access: str, service: str, region: str) -> Any:
            return _client(emu, service, access, region)

        def _err(self, e: Exception, what: str, account: str) -> str:
            return f"{what}: {e}"

    assert doctor._org_check_sync(Aws(), MGMT).ok is True
    assert doctor._org_check_sync(Aws(), MGMT2).ok is False
    assert doctor._org_check_sync(Aws(), MEMBER).ok is None


# --------------------------------------------------------------------------------------------------------------
# CloudTrail, S3, SQS, RDS


def test_trail_whose_bucket_notifies_a_queue(emu: AwsEmulator) -> None:
    ct = _client(emu, "cloudtrail", SENTINEL, "eu-west-1")
    [trail] = ct.describe_trails()["trailList"]
    assert (trail["Name"], trail["S3BucketName"], trail["HomeRegion"]) == (
        "sentinel-trail", "sentinel-cloudtrail-logs", "eu-west-1")
    s3 = _client(emu, "s3", SENTINEL, "eu-west-1")
    conf = s3.get_bucket_notification_configuration(Bucket="sentinel-cloudtrail-logs")
    [queue] = conf["QueueConfigurations"]
    assert queue["QueueArn"] == f"arn:aws:sqs:eu-west-1:{SENTINEL}:sentinel-cloudtrail-queue"
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    sqs = _client(emu, "sqs", SENTINEL, "eu-west-1")
    url = sqs.get_queue_url(QueueName="sentinel-cloudtrail-queue")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == \
        queue["QueueArn"]


def test_trail_without_queue(emu: AwsEmulator) -> None:
    [trail] = _client(emu, "cloudtrail", LEAST, "eu-west-1").describe_trails()["trailList"]
    assert (trail["Name"], trail["S3BucketName"], trail["HomeRegion"]) == ("org-trail", "least-cloudtrail-logs",
                                                                           "eu-west-1")
    s3 = _client(emu, "s3", LEAST, "eu-west-1")
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket="least-cloudtrail-logs")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["least-cloudtrail-logs"]
    assert _client(emu, "cloudtrail", MEMBER, "us-east-1").describe_trails()["trailList"] == []


def test_buckets_and_rds_instances(emu: AwsEmulator) -> None:
    s3 = _client(emu, "s3", MGMT)
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == sorted(SETUPS[MGMT]["buckets"])
    for region, db_id in SETUPS[MGMT]["rds"]:
        rds = _client(emu, "rds", MGMT, region)
        assert [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]] == [db_id]
    assert _client(emu, "s3", MEMBER).list_buckets()["Buckets"] == []
    assert _client(emu, "rds", MEMBER).describe_db_instances()["DBInstances"] == []


def test_reseed_is_idempotent(emu: AwsEmulator) -> None:
    rep = emu.reseed()  # bucket names are global in moto: a second seed must not find its own buckets taken
    assert (rep.buckets, rep.trails, rep.db_instances, rep.stack_instances, rep.org_accounts) == (4, 2, 2, 2, 2)
    s3 = _client(emu, "s3", MGMT)
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == sorted(SETUPS[MGMT]["buckets"])


def test_world_without_aws_setup_keeps_todays_estate(emu: AwsEmulator) -> None:
    """No aws_setup at all: MDC's provider, ReadOnlyAccess, complete stacks, trusted access off, no extras."""
    world = SetupWorld(None)
    assert not hasattr(world, "aws_setup")
    with AwsEmulator(world) as other:
        rep = other.seed_report
        assert rep is not None and (rep.buckets, rep.org_accounts, rep.trails, rep.stack_instances) == (0, 0, 0, 0)
        iam = _client(other, "iam", SENTINEL)
        [prov] = _providers(iam)
        assert prov["tags"] == {"Name": "ASCDefendersOIDCIdentityProvider"}
        assert _attached(iam, "CspmMonitorAws") == [READ_ONLY_ACCESS]
        [stack] = _connector_stacks(_client(other, "cloudformation", SENTINEL, "eu-west-1"))
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert STACKSETS_PRINCIPAL not in _service_access(_client(other, "organizations", MGMT))
        cfn = _client(other, "cloudformation", MGMT, "us-east-1")
        assert cfn.list_stack_instances(StackSetName="MDC-Contoso-StackSet")["Summaries"] == []
    # stopping it handed moto back to the module's emulator
    assert _client(emu, "iam", SENTINEL).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert _providers(_client(emu, "iam", SENTINEL))[0]["client_ids"] == [SENTINEL_CLIENT_ID]
