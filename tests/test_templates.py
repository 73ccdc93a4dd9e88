"""The CloudFormation template (issue 4): every plan combination, default and least privilege, passes cfn-lint with
zero errors (one process: cfn-lint's rules load once); a representative subset deploys on the estate's AWS emulator
(moto) and creates the expected roles with the expected trust; the wizard's offerings only name roles the template
creates; `mdc-aws template` validates its input."""
from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from tui.core.onboarding import template as T
from tui.core.onboarding import wizard as wz
from tui.core.onboarding import writes as w

pytest.importorskip("cfnlint")

TENANT = "0d46dfe7-2081-49de-a3cf-db2bd9865b7a"
ACCOUNT = "123456789012"
COMBOS = [("cspm",) + c for n in range(len(T.OPTIONAL_PLANS) + 1) for c in itertools.combinations(T.OPTIONAL_PLANS, n)]
ISSUER = "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d/"

EXPECTED_ROLES = {
    "cspm": {"CspmMonitorAws"},
    "defender_cspm": {"DefenderForCloud-AgentlessScanner", "SensitiveDataDiscovery",
                      "DefenderForCloud-DataSecurityPostureDB", "DefenderForCloud-Ciem", "DefenderForCloud-OidcCiem",
                      "MDCContainersImageAssessmentRole", "MDCContainersAgentlessDiscoveryK8sRole"},
    "servers": {"DefenderForCloud-DefenderForServers", "DefenderForCloud-ArcAutoProvisioning",
                "DefenderForCloud-AgentlessScanner", "AWS-MDCSetup-HostMgmtRole"},
    "containers": {"DefenderForCloud-Containers-K8s", "DefenderForCloud-DataCollection",
                   "DefenderForCloud-Containers-K8s-cloudwatch-to-kinesis",
                   "DefenderForCloud-Containers-K8s-kinesis-to-s3",
                   "MDCContainersAgentlessDiscoveryK8sRole", "MDCContainersImageAssessmentRole"},
    "databases": {"DefenderForCloud-ArcAutoProvisioning", "DefenderForCloud-DataSecurityPostureDB"},
}


def expected(plans) -> set[str]:
    return set().union(*(EXPECTED_ROLES[p] for p in plans))


def test_there_are_32_templates() -> None:
    assert len(COMBOS) == 16 and len(set(COMBOS)) == 16


def test_every_combination_lints_clean() -> None:
    """32 templates (16 plan combinations x default / least privilege): zero cfn-lint errors, and no warnings."""
    problems = {}
    for least in (False, True):
        for plans in COMBOS:
            text = T.template_text(ACCOUNT, plans, tenant_id=TENANT, least_privilege=least, fmt="json")
            found = T.lint(text, warnings=True)
            if found:
                problems[(plans, least)] = found
    assert problems == {}


@pytest.mark.parametrize("least", [False, True])
def test_yaml_is_the_same_template_and_lints_clean(least: bool) -> None:
    import yaml

    doc = T.template(ACCOUNT, T.PLAN_KEYS, tenant_id=TENANT, least_privilege=least)
    text = T.template_text(ACCOUNT, T.PLAN_KEYS, tenant_id=TENANT, least_privilege=least, fmt="yaml")
    assert yaml.safe_load(text) == json.loads(json.dumps(doc))
    assert T.lint(text) == []


def test_lint_reports_errors() -> None:
    doc = T.template(ACCOUNT, ("cspm",), tenant_id=TENANT)
    doc["Resources"]["CspmMonitorAwsRole"]["Properties"]["RoleName"] = {"Ref": "NoSuchParameter"}
    found = T.lint(json.dumps(doc))
    assert found and found[0].startswith("E") and "NoSuchParameter" in found[0]
    assert T.lint("{not a template")[0].startswith("E0000")


@pytest.mark.parametrize("plans", COMBOS)
def test_roles_per_plan_and_offerings_use_only_template_roles(plans) -> None:
    doc = T.template(ACCOUNT, plans, tenant_id=TENANT)
    roles = doc["Metadata"]["mdc-aws"]["roles"]
    assert set(roles) == expected(plans) and set(T.roles_for(plans)) == expected(plans)
    assert sum(1 for r in doc["Resources"].values() if r["Type"] == "AWS::IAM::Role") == len(roles)
    providers = [k for k, r in doc["Resources"].items() if r["Type"] == "AWS::IAM::OIDCProvider"]
    assert providers == (["ASCDefendersOIDCIdentityProvider"] + (["MDCCiemOIDCIdentityProvider"]
                                                                 if "defender_cspm" in plans else []))
    # the connector's cloudRoleArns name roles this template creates
    state = wz.NativeState(aws_account_id=ACCOUNT, tenant_id=TENANT)
    for p in plans[1:]:
        setattr(state.plans, p, True)
    from tui.core.onboarding.doctor import role_arns

    used = {arn.rsplit("/", 1)[-1] for o in wz.offerings(state) for _, arn in role_arns(o)}
    assert used <= set(roles) - {"AWS-MDCSetup-HostMgmtRole"}, used - set(roles)
    assert wz.template_kwargs(state)["plans"] == plans


def test_default_versus_least_privilege() -> None:
    d = T.template(ACCOUNT, T.PLAN_KEYS, tenant_id=TENANT)["Resources"]
    lp = T.template(ACCOUNT, T.PLAN_KEYS, tenant_id=TENANT, least_privilege=True)["Resources"]
    cspm_d, cspm_lp = d["CspmMonitorAwsRole"]["Properties"], lp["CspmMonitorAwsRole"]["Properties"]
    assert cspm_d["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}]
    assert "ManagedPolicyArns" not in cspm_lp
    assert [p["PolicyName"] for p in cspm_lp["Policies"]] == ["CspmMonitorAwsDenyPolicy", "CspmMonitorAwsPolicy"]
    deny = cspm_d["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and "billing:*" in deny["Action"]
    img_d = d["MDCContainersImageAssessmentRole"]["Properties"]["ManagedPolicyArns"]
    img_lp = lp["MDCContainersImageAssessmentRole"]["Properties"]["ManagedPolicyArns"]
    assert any("PowerUser" in x["Fn::Sub"] for x in img_d) and all("ReadOnly" in x["Fn::Sub"] for x in img_lp)


def test_parameters() -> None:
    doc = T.template(ACCOUNT, ("cspm", "containers"), role_names={"CspmMonitorAws": "MyCspm"})
    p = doc["Parameters"]
    assert "Default" not in p["TenantId"]  # no tenant given: the deployer must pass it
    assert p["CspmMonitorAwsRoleName"]["Default"] == "MyCspm"
    assert p["ScubaExternalId"]["Default"] == "b6d36db8-eda7-4617-9d4f-41149b899dc7"
    assert p["CreateOIDCProvider"]["AllowedValues"] == ["true", "false"]
    assert T.template(ACCOUNT, ("cspm",), tenant_id=TENANT)["Parameters"]["TenantId"]["Default"] == TENANT
    for bad, kw in (("12 digits", {"account_id": "12"}), ("unknown plan", {"plans": "cspm,nope"}),
                    ("tenant ID", {"plans": ("cspm", "defender_cspm")}),
                    ("tenant ID", {"tenant_id": "nope"}),
                    ("role name", {"role_names": {"CspmMonitorAws": "bad name"}})):
        args = {"account_id": ACCOUNT, "plans": ("cspm",), **kw}
        with pytest.raises(ValueError) as e:
            T.template(args.pop("account_id"), args.pop("plans"), **args)
        assert bad in str(e.value)


def test_instructions() -> None:
    cmd = T.create_stack_command("DefenderForCloud-Connector", "/tmp/my template.yaml", region="eu-west-1",
                                 parameters={"TenantId": TENANT})
    assert cmd.startswith("aws cloudformation create-stack --stack-name DefenderForCloud-Connector ")
    assert "--capabilities CAPABILITY_NAMED_IAM" in cmd and "'file:///tmp/my template.yaml'" in cmd
    assert f"ParameterKey=TenantId,ParameterValue={TENANT}" in cmd and cmd.endswith("--region eu-west-1")
    state = wz.NativeState(aws_account_id="245140117216", organization="management", stackset_name="MDC-StackSet",
                           excluded_account_ids=["806353470444"], regions=["us-east-1"])
    text = T.stackset_instructions(state)
    for needle in ("create-stack ", "create-stack-set --stack-set-name MDC-StackSet", "SERVICE_MANAGED",
                   "activate-organizations-access", T.STACKSETS_PRINCIPAL, "806353470444",
                   "AccountFilterType=DIFFERENCE"):
        assert needle in text, needle


# ------------------------------------------------------------------------------------------------------------------
# Deploy on moto (the estate's AWS emulator), through the wizard's PlannedWrite

# (account, plans, least privilege): every plan combination in both privilege modes, each in its own account
DEPLOYS = [(f"1000{i:08d}", plans, least)
           for i, (plans, least) in enumerate(itertools.product(COMBOS, (False, True)), start=1)]


def _iam(estate, account: str):
    import boto3

    creds = boto3.client("sts", **estate.aws.client_kwargs()).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test")["Credentials"]
    return boto3.client("iam", endpoint_url=estate.info.aws_url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _doc(d):
    return json.loads(d) if isinstance(d, str) else d


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")  # moto skips OIDCProvider / WaitConditionHandle
async def test_templates_deploy_on_moto(estate, settings) -> None:
    from tui.core.onboarding.doctor import stack_status

    for account, plans, least in DEPLOYS:
        text = T.template_text(account, plans, tenant_id=TENANT, least_privilege=least,
                               role_names={"DefenderForCloud-DefenderForServers": "Custom-JIT"} if "servers" in plans
                               else None)
        writes = w.plan_deploy_stack(settings, account, "us-east-1", text)
        assert writes[0].target == "cloudformation:CreateStack" and writes[0].body["Capabilities"] == [
            "CAPABILITY_NAMED_IAM"]
        try:
            [res] = await w.execute_write(writes, read_only=False)
            assert res["StackId"]
            assert (await stack_status(settings, account, "us-east-1"))[0] == "CREATE_COMPLETE"
            iam = _iam(estate, account)
            names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
            want = {("Custom-JIT" if r == "DefenderForCloud-DefenderForServers" and "servers" in plans else
                     "AWS-MDCSetup-HostMgmtRole-us-east-1-MDCSetup" if r == "AWS-MDCSetup-HostMgmtRole" else r)
                    for r in expected(plans)}
            assert names >= want, want - names
            cspm = _doc(iam.get_role(RoleName="CspmMonitorAws")["Role"]["AssumeRolePolicyDocument"])
            [stmt] = cspm["Statement"]
            assert stmt["Principal"] == {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"}
            assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert stmt["Condition"]["StringLike"] == {f"{ISSUER}:aud": "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",
                                                       "sts:RoleSessionName": f"MicrosoftDefenderForClouds_{TENANT}"}
            policies = iam.list_role_policies(RoleName="CspmMonitorAws")["PolicyNames"]
            assert ("CspmMonitorAwsPolicy" in policies) == least and "CspmMonitorAwsDenyPolicy" in policies
            if "containers" in plans:
                k2s = _doc(iam.get_role(RoleName="DefenderForCloud-Containers-K8s-kinesis-to-s3")["Role"][
                    "AssumeRolePolicyDocument"])["Statement"][0]
                assert k2s["Principal"] == {"Service": "firehose.amazonaws.com"}
                assert k2s["Condition"] == {"StringEquals": {"sts:ExternalId": account}}
                dc = _doc(iam.get_role(RoleName="DefenderForCloud-DataCollection")["Role"]["AssumeRolePolicyDocument"])
                assert dc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::197857026523:user/azuredefender-eks"}
            if "defender_cspm" in plans:
                ciem = _doc(iam.get_role(RoleName="DefenderForCloud-Ciem")["Role"]["AssumeRolePolicyDocument"])
                assert ciem["Statement"][0]["Principal"] == {
                    "AWS": f"arn:aws:iam::{account}:role/DefenderForCloud-OidcCiem"}
                oidc = _doc(iam.get_role(RoleName="DefenderForCloud-OidcCiem")["Role"]["AssumeRolePolicyDocument"])
                federated = oidc["Statement"][0]["Principal"]["Federated"]
                assert federated.endswith(f"oidc-provider/sts.windows.net/{TENANT}/")
            if "servers" in plans:
                host = _doc(iam.get_role(RoleName="AWS-MDCSetup-HostMgmtRole-us-east-1-MDCSetup")["Role"][
                    "AssumeRolePolicyDocument"])
                assert host["Statement"][0]["Principal"] == {"Service": "ssm.amazonaws.com"}
        finally:
            await w.execute_write(w.plan_delete_stack(settings, account, "us-east-1"), read_only=False)
        assert {r["RoleName"] for r in _iam(estate, account).list_roles()["Roles"]}.isdisjoint(want)


# ------------------------------------------------------------------------------------------------------------------
# mdc-aws template


def test_cli_template(tmp_path) -> None:
    from tui.cli import main

    r = CliRunner().invoke(main, ["template", "--account", ACCOUNT, "--plans", "cspm,servers", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["Metadata"]["mdc-aws"]["plans"] == ["cspm", "servers"]
    r = CliRunner().invoke(main, ["template", "--account", ACCOUNT, "--plans", "servers", "--least-privilege"])
    assert r.exit_code == 0 and r.output.startswith('AWSTemplateFormatVersion: "2010-09-09"')
    assert "CspmMonitorAwsPolicy" in r.output
    out = tmp_path / "t.yaml"
    r = CliRunner().invoke(main, ["template", "--account", ACCOUNT, "--plans", "defender_cspm", "--tenant-id", TENANT,
                                  "-o", str(out)])
    assert r.exit_code == 0 and "create-stack" in r.output and T.lint(out.read_text()) == []
    for args, needle in ((["--account", "123"], "12 digits"), (["--account", ACCOUNT, "--plans", "cspm,nope"], "nope"),
                         (["--account", ACCOUNT, "--plans", "defender_cspm"], "tenant ID"),
                         (["--account", ACCOUNT, "--tenant-id", "x"], "tenant ID"),
                         (["--plans", "cspm"], "--account"), (["--account", ACCOUNT, "--format", "xml"], "xml")):
        r = CliRunner().invoke(main, ["template", *args])
        assert r.exit_code == 2 and needle in r.output, (args, r.output)
        assert "Traceback" not in r.output
