"""Onboarding core (issue 4): validators (fuzzed), wizard bodies, writes as PlannedWrites (read-only sends nothing),
the native connector through the real SDK to the emulated estate and back, classic secrets never leaking."""
from __future__ import annotations

import json
import logging
import re
import string
import time
import unicodedata
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tui.core.errors import SourceError
from tui.core.onboarding import validate as v
from tui.core.onboarding import wizard as wz
from tui.core.onboarding import writes as w

FUZZ = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.filter_too_much])
EXAMPLES = Path(__file__).parent / "fixtures" / "azure"

# ------------------------------------------------------------------------------------------------------------------
# Reference predicates: each rule written again, independently, from its definition


def _s(x):
    return x.strip() if isinstance(x, str) else None


def ref_account(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"[0-9]{12}", s) is not None


def ref_accounts(x):
    if x is not None and not isinstance(x, str):
        return False
    s = x or ""
    return all(ref_account(p) for p in re.split(r"[\s,]+", s.strip()) if p)


def ref_connector_name(x):
    s = _s(x)
    return bool(s) and len(s) <= 260 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", s) is not None \
        and not s.endswith(".")


def ref_guid(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", s) is not None


def ref_rg(x):
    s = _s(x)
    if not s or len(s) > 90 or s.endswith("."):
        return False
    return all(c in "-_.()" or unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd" for c in s)


def ref_azure_location(x):
    s = _s(x)
    return s is not None and re.sub(r"\s+", "", s).lower() in set(v.AZURE_LOCATIONS)


def _aws_regions():
    import botocore.session

    d = botocore.session.get_session().get_data("endpoints")
    return set(next(p for p in d["partitions"] if p["partition"] == "aws")["regions"])


BOTO_REGIONS = _aws_regions()


def ref_region(x):
    s = _s(x)
    return s is not None and s in BOTO_REGIONS


def ref_regions(x):
    if not isinstance(x, str) and x is not None:
        return False
    items = [p for p in re.split(r"[\s,]+", (x or "").strip()) if p]
    return bool(items) and all(ref_region(p) for p in items)


def ref_role_arn(x):
    s = _s(x)
    if s is None:
        return False
    m = re.fullmatch(r"arn:aws:iam::[0-9]{12}:role(/(?:[A-Za-z0-9+=,.@_-]+/)*)([A-Za-z0-9+=,.@_-]{1,64})", s)
    return m is not None and len(m.group(1)) <= 512


def ref_scan_interval(x):
    # Azure accepts 4, 6, 12 or 24 hours only (quickstart-onboard-aws: "Select a scan interval (4, 6, 12, or 24
    # hours)"; NOTES.md section 11)
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return x in (4, 6, 12, 24)
    s = _s(x)
    return s is not None and re.fullmatch(r"[0-9]+", s) is not None and int(s) in (4, 6, 12, 24)


def ref_stackset(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", s) is not None


def ref_proxy(x):
    import ipaddress

    s = _s(x)
    if s is None:
        return False
    m = re.fullmatch(r"http://(\[[^\]]*\]|[^:/?#@\[\]]+):([0-9]{1,5})", s)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        return False
    host = m.group(1)
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
            return True
        except ValueError:
            return False
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
            return True
        except ValueError:
            return False
    return len(host) <= 253 and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", lb)
                                    for lb in host.split("."))


def ref_access_key(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"AKIA[A-Z0-9]{16}", s) is not None


def ref_secret(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"[A-Za-z0-9/+]{40}", s) is not None


def ref_external_id(x):
    s = _s(x)
    return s is not None and re.fullmatch(r"[A-Za-z0-9+=,.@:/_-]{2,1224}", s) is not None


def ref_sp_secret(x):
    s = _s(x)
    return bool(s) and len(s) <= 255 and s.isprintable()


# validator name -> (reference, strategy of valid values, characters that break the rule when inserted)
ALNUM = string.ascii_letters + string.digits
RULES = {
    "aws_account_id": (ref_account, st.from_regex(r"[0-9]{12}", fullmatch=True), "a-x /"),
    "aws_account_ids": (ref_accounts, st.lists(st.from_regex(r"[0-9]{12}", fullmatch=True), max_size=4).map(", ".join),
                        "ax/"),
    "connector_name": (ref_connector_name,
                       st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}[A-Za-z0-9_-]", fullmatch=True),
                       "/#?%&:<> é"),
    "guid": (ref_guid, st.uuids().map(str), "gz_ "),
    "subscription_id": (ref_guid, st.uuids().map(str), "gz_ "),
    "resource_group": (ref_rg, st.from_regex(r"[A-Za-z0-9_()-][A-Za-z0-9_.()-]{0,60}[A-Za-z0-9_()-]", fullmatch=True),
                       "/#?%&:<> "),
    "azure_location": (ref_azure_location, st.sampled_from(v.AZURE_LOCATIONS), "1_-"),
    "aws_region": (ref_region, st.sampled_from(sorted(BOTO_REGIONS)), "x_ 9"),
    "aws_regions": (ref_regions, st.lists(st.sampled_from(sorted(BOTO_REGIONS)), min_size=1, max_size=5).map(", ".join),
                    "x_9"),
    "role_arn": (ref_role_arn, st.tuples(st.from_regex(r"[0-9]{12}", fullmatch=True),
                                         st.from_regex(r"(/[A-Za-z0-9+=,.@_-]{1,8}){0,2}/", fullmatch=True),
                                         st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True))
                 .map(lambda t: f"arn:aws:iam::{t[0]}:role{t[1]}{t[2]}"), " *#"),
    "scan_interval": (ref_scan_interval, st.one_of(st.sampled_from((4, 6, 12, 24)),
                                                   st.sampled_from(("4", "06", "12", " 24 "))), "x.-"),
    "stackset_name": (ref_stackset, st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,60}", fullmatch=True), "_ ./"),
    "proxy_url": (ref_proxy, st.tuples(st.one_of(st.ip_addresses(v=4).map(str),
                                                 st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
                                                 st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}",
                                                               fullmatch=True)),
                                       st.integers(1, 65535))
                  .map(lambda t: f"http://{t[0]}:{t[1]}"), "/ @?"),
    "access_key_id": (ref_access_key, st.from_regex(r"AKIA[A-Z0-9]{16}", fullmatch=True), "a/+ "),
    "secret_access_key": (ref_secret, st.from_regex(r"[A-Za-z0-9/+]{40}", fullmatch=True), "_-=. "),
    "external_id": (ref_external_id, st.from_regex(r"[A-Za-z0-9+=,.@:/_-]{2,60}", fullmatch=True), " #*!"),
    "service_principal_secret": (ref_sp_secret, st.text(alphabet=string.printable[:94], min_size=1, max_size=60)
                                 .filter(lambda s: s.strip()), "\x00\x07"),
}


def test_every_validator_is_fuzzed() -> None:
    assert set(RULES) == set(v.VALIDATORS)


def test_aws_regions_are_botocores() -> None:
    """validate.AWS_REGIONS is botocore's commercial partition (a botocore upgrade with a new region: add it)."""
    assert set(v.AWS_REGIONS) == BOTO_REGIONS, sorted(set(v.AWS_REGIONS) ^ BOTO_REGIONS)


def _mutate(data, s: str, bad: str) -> str:
    kind = data.draw(st.sampled_from(["insert", "drop", "dup", "case", "space"]))
    s = str(s)
    if kind == "insert" or not s:
        i = data.draw(st.integers(0, len(s)))
        return s[:i] + data.draw(st.sampled_from(list(bad))) + s[i:]
    i = data.draw(st.integers(0, len(s) - 1))
    if kind == "drop":
        return s[:i] + s[i + 1:]
    if kind == "dup":
        return s[:i] + s[i] * data.draw(st.integers(2, 300)) + s[i + 1:]
    if kind == "case":
        return s.swapcase()
    return s[:i] + " " + s[i:]


ANY_INPUT = st.one_of(st.text(max_size=80), st.none(), st.integers(), st.booleans(), st.floats(allow_nan=True),
                      st.lists(st.text(max_size=5), max_size=3), st.binary(max_size=10))


def _one_line(out) -> None:
    assert out is None or (isinstance(out, str) and out and "\n" not in out and ": " in out)


@pytest.mark.parametrize("name", sorted(RULES))
def test_validator_accepts_exactly_the_valid_set(name: str) -> None:
    fn = getattr(v, name)
    ref, valid, bad = RULES[name]

    @FUZZ
    @given(data=st.data())
    def run(data) -> None:
        kind = data.draw(st.sampled_from(["valid", "mutated", "any"]))
        if kind == "valid":
            x = data.draw(valid)
            assert ref(x), x
            assert fn(x) is None, (x, fn(x))
            if isinstance(x, str):  # surrounding whitespace is ignored
                assert fn(f"  {x}\t") is None
        else:
            x = data.draw(valid) if kind == "mutated" else data.draw(ANY_INPUT)
            if kind == "mutated":
                x = _mutate(data, x, bad)
        out = fn(x)  # never raises
        _one_line(out)
        assert (out is None) == ref(x), (x, out)
        if out is not None:
            assert out.split(":")[0] in out and len(out) < 300

    run()


@FUZZ
@given(secret=st.from_regex(r"[A-Za-z0-9/+]{8,60}", fullmatch=True))
def test_secret_validators_never_echo(secret: str) -> None:
    for fn in (v.secret_access_key, v.service_principal_secret):
        out = fn(secret + "§é")
        assert out is None or secret not in out


def test_messages_name_the_rule() -> None:
    assert v.aws_account_id("1234567890") == "AWS account ID: 12 digits required (found 10)"
    assert "digits only" in v.aws_account_id("12345678901x")
    assert "role ARN" in v.role_arn("arn:aws:iam::123:role/x") and "12 digits" in v.role_arn("arn:aws:iam::123:role/x")
    assert "4, 6, 12 or 24 hours" in v.scan_interval("25") and "found 25" in v.scan_interval("25")
    for bad in (1, 2, 3, 5, 8, 10, 18, 23, "5", "0", "48"):
        msg = v.scan_interval(bad)
        assert msg is not None and msg.startswith("scan interval: 4, 6, 12 or 24 hours required"), (bad, msg)
    assert "http://<host>:<port>" in v.proxy_url("proxy.local:8080")
    assert "port" in v.proxy_url("http://proxy.local")
    assert v.proxy_url("http://10.0.0.1:3128") is None and v.proxy_url("http://[::1]:8080") is None
    assert "is not an AWS region" in v.aws_region("us-east-7")
    assert "lower case" in v.aws_region("US-EAST-1")
    assert v.azure_location("Central US") is None and v.azure_location("centralus") is None
    assert "GUID" in v.guid("nope") and "subscription ID" in v.subscription_id("x")
    assert "connector name" in v.connector_name("bad/name")
    assert v.parse_list(" us-east-1, eu-west-1  us-east-1") == ["us-east-1", "eu-west-1"]
    assert v.parse_proxy_url("http://[::1]:8080") == ("::1", 8080)
    assert v.SCAN_INTERVAL_CHOICES == (4, 6, 12, 24) and all(v.scan_interval(n) is None for n in (4, 6, 12, 24))


# ------------------------------------------------------------------------------------------------------------------
# Wizard


def native_state(**kw) -> wz.NativeState:
    s = wz.NativeState(connector_name="aws-new", subscription_id="8a8f732c-47eb-44a9-8d44-d89cc5257047",
                       resource_group="mdc-connectors", location="Central US", aws_account_id="111122223333",
                       regions=["us-east-1", "eu-west-1"], scan_interval=6,
                       tenant_id="0d46dfe7-2081-49de-a3cf-db2bd9865b7a")
    for k, x in kw.items():
        setattr(s, k, x)
    return s


def test_connector_body_is_shaped_like_the_examples() -> None:
    example = json.loads((EXAMPLES / "securityConnectors_2023-10-01-preview_GetSecurityConnectorSingleResource_example"
                                     ".json").read_text())["responses"]["200"]["body"]
    s = native_state()
    s.plans.defender_cspm = s.plans.servers = s.plans.containers = s.plans.databases = True
    s.plans.servers_sub_plan = "P1"
    assert wz.errors(s) == {}
    body = wz.connector_body(s)
    props = body["properties"]
    assert set(props) == set(example["properties"])  # hierarchyIdentifier, environmentName, environmentData, offerings
    assert set(example["properties"]["environmentData"]) <= set(props["environmentData"])
    assert props["environmentName"] == "AWS" and props["hierarchyIdentifier"] == "111122223333"
    assert props["environmentData"] == {"environmentType": "AwsAccount", "regions": ["us-east-1", "eu-west-1"],
                                        "scanInterval": 6}
    assert body["location"] == "Central US"
    types = [o["offeringType"] for o in props["offerings"]]
    assert types == ["CspmMonitorAws", "DefenderCspmAws", "DefenderForServersAws", "DefenderForContainersAws",
                     "DefenderForDatabasesAws"]
    servers = props["offerings"][2]
    assert servers["subPlan"] == {"type": "P1"}  # an object, never a string
    assert servers["vmScanners"]["enabled"] is False  # agentless scanning is Plan 2 only
    from tui.core.onboarding.doctor import role_arns

    arns = [a for o in props["offerings"] for _, a in role_arns(o)]
    assert arns and all(re.fullmatch(r"arn:aws:iam::111122223333:role/[A-Za-z0-9+=,.@_-]+", a) for a in arns)
    assert props["offerings"][0] == {"offeringType": "CspmMonitorAws",
                                     "nativeCloudConnection": {"cloudRoleArn":
                                                               "arn:aws:iam::111122223333:role/CspmMonitorAws"}}
    # the SDK's own models read it back (discriminators, subPlan object)
    from azure.mgmt.security.v2023_10_01_preview.models import SecurityConnector

    model = SecurityConnector.from_dict(body)
    assert model.environment_data.environment_type == "AwsAccount"
    assert model.offerings[2].sub_plan.type == "P1"


def test_management_account_and_custom_roles() -> None:
    s = native_state(organization="management", stackset_name="MDC-StackSet", excluded_account_ids=["222233334444"],
                     role_names={"CspmMonitorAws": "MyCspmRole"})
    assert wz.errors(s) == {}
    env = wz.connector_body(s)["properties"]["environmentData"]
    assert env["organizationalData"] == {"organizationMembershipType": "Organization", "stacksetName": "MDC-StackSet",
                                         "excludedAccountIds": ["222233334444"]}
    assert wz.offerings(s)[0]["nativeCloudConnection"]["cloudRoleArn"].endswith(":role/MyCspmRole")
    s.excluded_account_ids = ["111122223333"]
    assert "management account itself" in wz.errors(s)["excluded_account_ids"]


def test_wizard_errors_name_each_field() -> None:
    s = wz.NativeState(connector_name="bad name", subscription_id="nope", resource_group="rg.", location="mars",
                       aws_account_id="123", regions=["us-east-9"], scan_interval=30, organization="management")
    s.plans.servers = True
    s.plans.servers_sub_plan = "P3"
    s.plans.defender_cspm = True
    e = wz.errors(s)
    assert set(e) >= {"connector_name", "subscription_id", "resource_group", "location", "aws_account_id", "regions",
                      "scan_interval", "stackset_name", "servers_sub_plan", "tenant_id"}
    assert all("\n" not in m and ": " in m for m in e.values())
    assert set(wz.PLAN_INFO) == {"cspm", "defender_cspm", "servers", "containers", "databases"}
    assert "Free" in wz.PLAN_INFO["cspm"][1] and "Defender for Servers" in wz.PLAN_INFO["servers"][2]
    assert [r[0] for r in wz.summary(native_state())][:2] == ["Connector", "Subscription"]


def test_wizard_accepts_only_the_scan_intervals_azure_does() -> None:
    for n in (4, 6, 12, 24):
        s = native_state(scan_interval=n)
        assert wz.errors(s) == {} and wz.connector_body(s)["properties"]["environmentData"]["scanInterval"] == n
    for n in (1, 3, 5, 8, 25):
        e = wz.errors(native_state(scan_interval=n))
        assert set(e) == {"scan_interval"}
        assert e["scan_interval"].startswith("scan interval: 4, 6, 12 or 24 hours required") and f"found {n}" in \
            e["scan_interval"]
        assert "every hour" in e["scan_interval"]  # discovery does not depend on it: say so


def test_classic_texts_say_it_is_retired_and_inert() -> None:
    note = wz.CLASSIC_RETIRED_NOTE
    assert "2023-09-15" in note and "no plan" in note and "native connector" in note
    assert "December 2023" not in note
    db = wz.PLAN_INFO["databases"][2]
    assert "Defender for SQL" in db and "RDS Custom" in db and "Tel Aviv" in db


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SP_SECRET = "sp~Secret.Value_0123456789-abcdefghij"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def classic_state(**kw) -> wz.ClassicState:
    s = wz.ClassicState(subscription_id="343746d4-3071-4279-8f1d-27132bf1661b", auth="user", access_key_id=KEY_ID,
                        secret_access_key=SECRET, regions=["us-east-1"], arc_auto_provision=True,
                        resource_group="arc-rg", azure_region="westeurope",
                        sp_application_id="5f1c1b7a-0000-4000-8000-000000000001", sp_secret=SP_SECRET,
                        proxy_url="http://proxy.contoso.local:3128", name="aws_onboard_test_classic")
    for k, x in kw.items():
        setattr(s, k, x)
    return s


def test_classic_state_masks_secrets_everywhere() -> None:
    s = classic_state()
    assert wz.classic_errors(s) == {}
    for text in (repr(s), str(s), json.dumps(wz.classic_body(s)),
                 "\n".join(x.describe() for x in w.plan_create_classic_connector(None, s)),
                 repr(w.plan_create_classic_connector(None, s))):
        assert SECRET not in text and SP_SECRET not in text and KEY_ID not in text, text
    body = wz.classic_body(s, reveal=True)["properties"]
    assert body["authenticationDetails"] == {"authenticationType": "awsCreds", "awsAccessKeyId": KEY_ID,
                                             "awsSecretAccessKey": SECRET}
    assert body["hybridComputeSettings"]["proxyServer"] == {"ip": "proxy.contoso.local", "port": "3128"}
    role = classic_state(auth="role", role_arn="arn:aws:iam::850949709900:role/AscConnector")
    auth = wz.classic_body(role)["properties"]["authenticationDetails"]
    assert auth == {"authenticationType": "awsAssumeRole",
                    "awsAssumeRoleArn": "arn:aws:iam::850949709900:role/AscConnector",
                    "awsExternalId": "343746d4-3071-4279-8f1d-27132bf1661b"}
    assert dict(wz.classic_tags(role)) == {"AccountId": "850949709900", "Cloud": "AWS",
                                           "InstanceId": "the EC2 instance ID",
                                           "MDFCSecurityConnector": "aws_onboard_test_classic"}
    bad = classic_state(secret_access_key="short" + SECRET[:10])
    assert SECRET[:10] not in wz.classic_errors(bad)["secret_access_key"]


# ------------------------------------------------------------------------------------------------------------------
# Writes against the emulated estate

TEST_ACCOUNT = "111122223333"  # not in the estate: a new AWS account to onboard
AWS_TEST_ACCOUNT = "210987654321"  # where the AWS-side writes go (reached by assume-role, as any account)

READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "AssumeRole", "Head", "Search", "Select", "Query", "Scan",
                 "Check", "Validate", "Simulate")


def mutating_arm(estate, since: float) -> list:
    return [r for r in estate.arm.request_log.records() if r.time >= since and r.method.upper() in
            ("PUT", "PATCH", "DELETE", "POST") and "microsoft.resourcegraph" not in r.path.lower()]


def mutating_aws(estate, since_seq: int) -> list:
    return [r for r in estate.aws.request_log if r.seq > since_seq and not r.action.startswith(READ_PREFIXES)]


def every_plan(settings, estate) -> dict[str, list]:
    sub = estate.info.subscriptions[0]
    s = native_state(subscription_id=sub)
    return {
        "plan_create_native_connector": w.plan_create_native_connector(settings, s),
        "plan_delete_native_connector": w.plan_delete_native_connector(settings, sub, "security-rg", "aws-dev"),
        "plan_create_classic_connector": w.plan_create_classic_connector(settings, classic_state()),
        "plan_delete_classic_connector": w.plan_delete_classic_connector(settings, estate.info.subscriptions[2],
                                                                         "aws_legacy_billing"),
        "plan_register_provider": w.plan_register_provider(settings, estate.info.subscriptions[2],
                                                           "Microsoft.GuestConfiguration"),
        "plan_deploy_stack": w.plan_deploy_stack(settings, AWS_TEST_ACCOUNT, "us-east-1", "{}"),
        "plan_delete_stack": w.plan_delete_stack(settings, "231094769910", "us-east-1"),
        "plan_enable_security_hub": w.plan_enable_security_hub(settings, AWS_TEST_ACCOUNT, "eu-west-1"),
        "plan_enable_config_recorder": w.plan_enable_config_recorder(settings, AWS_TEST_ACCOUNT, "eu-west-1"),
        "plan_create_classic_role": w.plan_create_classic_role(settings, AWS_TEST_ACCOUNT, sub),
        "plan_delete_classic_role": w.plan_delete_classic_role(settings, "850949709900"),
        "plan_delete_access_keys": w.plan_delete_access_keys(settings, AWS_TEST_ACCOUNT, "mdc-user", [KEY_ID]),
    }


async def test_read_only_sends_nothing(estate, settings) -> None:
    t0, seq0 = time.time(), max((r.seq for r in estate.aws.request_log), default=0)
    plans = every_plan(settings, estate)
    assert set(plans) == set(w.PLAN_FUNCTIONS)
    for name, writes in plans.items():
        assert writes and all(isinstance(x, w.PlannedWrite) for x in writes), name
        for x in writes:
            assert x.describe().startswith(x.summary)
            assert x.cloud in ("azure", "aws") and x.method in ("PUT", "POST", "DELETE")
            if x.cloud == "azure":
                assert x.target.startswith(estate.info.arm_url + "/subscriptions/") and "api-version=" in x.target
            else:
                assert re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z]+", x.target)
        with pytest.raises(w.ReadOnlyError) as e:
            await w.execute_write(writes, read_only=True)
        assert "read-only" in str(e.value)
        for x in writes:
            with pytest.raises(w.ReadOnlyError):
                w.execute_write(x, read_only=True)  # raised when called, even if never awaited
            with pytest.raises(w.ReadOnlyError):
                w.execute_write_sync(x, read_only=True)
    w.set_read_only(True)
    try:
        with pytest.raises(w.ReadOnlyError):
            await plans["plan_create_native_connector"][0].execute()
        with pytest.raises(w.ReadOnlyError):
            await w.execute_write(plans["plan_delete_stack"], read_only=False)
        with pytest.raises(w.SourceError):
            w.set_read_only(False)  # process-wide read-only is never lifted (tui.core.policy)
        assert w.read_only()
    finally:
        from tui.core import policy

        policy.reset_for_tests()
    assert mutating_arm(estate, t0) == []
    assert mutating_aws(estate, seq0) == []


async def test_native_connector_round_trip(estate, settings) -> None:
    """Create through azure-mgmt-security, read back through AzureSource, see it in the snapshot, delete it."""
    from tui.cli import collect_once
    from tui.core.azure import AzureSource
    from tui.core.export import snapshot_to_dict

    sub = estate.info.subscriptions[0]
    s = native_state(subscription_id=sub, connector_name="aws-onboard-test", resource_group="mdc-onboarding-test",
                     aws_account_id=TEST_ACCOUNT, scan_interval=12)
    s.plans.servers = s.plans.defender_cspm = True
    writes = w.plan_create_native_connector(settings, s)
    assert writes[0].method == "PUT" and writes[0].body == wz.connector_body(s)
    t0 = time.time()
    try:
        [created] = await w.execute_write(writes, read_only=False)
        assert created["name"] == "aws-onboard-test" and created["properties"]["hierarchyIdentifier"] == TEST_ACCOUNT
        puts = mutating_arm(estate, t0)
        assert [(r.method, r.path) for r in puts] == [("PUT", connector_path := wz.connector_path(s))]
        assert "api-version=2023-10-01-preview" in puts[0].query
        async with AzureSource(settings.azure) as az:
            data = await az.connectors([sub])
        c = next(c for c in data.connectors if c.name == "aws-onboard-test")
        assert (c.kind, c.aws_account_id, c.regions, c.scan_interval_hours, c.resource_group) == (
            "native", TEST_ACCOUNT, ("us-east-1", "eu-west-1"), 12, "mdc-onboarding-test")
        assert [o.offering_type for o in c.offerings] == ["CspmMonitorAws", "DefenderCspmAws", "DefenderForServersAws"]
        sent = {o["offeringType"]: o for o in wz.offerings(s)}
        for o in c.offerings:
            assert {k: x for k, x in o.raw.items() if k != "description"} == sent[o.offering_type]
        snap, _ = await collect_once(settings, 90.0)
        doc = snapshot_to_dict(snap)
        acct = next(a for a in doc["accounts"] if a["aws_account_id"] == TEST_ACCOUNT)
        assert [x["name"] for x in acct["connectors"]] == ["aws-onboard-test"]
        # a second connector for the same account: Azure's conflict, one line with the fix
        dup = native_state(subscription_id=sub, connector_name="aws-onboard-dup", aws_account_id=TEST_ACCOUNT)
        with pytest.raises(SourceError) as e:
            await w.execute_write(w.plan_create_native_connector(settings, dup), read_only=False)
        assert "conflict" in str(e.value) and "\n" not in str(e.value)
    finally:
        await w.execute_write(w.plan_delete_native_connector(settings, sub, "mdc-onboarding-test", "aws-onboard-test"),
                              read_only=False)
    async with AzureSource(settings.azure) as az:
        assert not any(c.name == "aws-onboard-test" for c in (await az.connectors([sub])).connectors)
    assert connector_path.endswith("/securityConnectors/aws-onboard-test")


async def test_invalid_state_is_refused_before_planning(settings) -> None:
    with pytest.raises(SourceError) as e:
        w.plan_create_native_connector(settings, native_state(aws_account_id="12"))
    assert e.value.kind == "usage" and "AWS account ID" in str(e.value)
    with pytest.raises(SourceError):
        w.plan_enable_security_hub(settings, AWS_TEST_ACCOUNT, "mars-1")


async def test_classic_run_leaks_no_secret(estate, settings, caplog, tmp_path) -> None:
    """A classic connector with access keys and an SP secret: created for real, then removed; no secret in any log
    line (every logger at DEBUG), message, body shown, or the emulator's stored state."""
    caplog.set_level(logging.DEBUG)
    sub = estate.info.subscriptions[2]
    s = classic_state(subscription_id=sub)
    writes = w.plan_create_classic_connector(settings, s)
    shown = writes[0].describe()
    out_file = tmp_path / "review.txt"
    out_file.write_text(shown + "\n" + repr(writes) + "\n" + repr(s))
    try:
        [res] = await w.execute_write(writes, read_only=False)
        assert res["properties"]["authenticationDetails"]["authenticationType"] == "awsCreds"
        # a failing write: the error message carries no secret either
        broken = classic_state(subscription_id="00000000-0000-0000-0000-000000000000")
        with pytest.raises(SourceError) as e:
            await w.execute_write(w.plan_create_classic_connector(settings, broken), read_only=False)
        out_file.write_text(out_file.read_text() + "\n" + str(e.value))
    finally:
        await w.execute_write(w.plan_delete_classic_connector(settings, sub, s.name), read_only=False)
    stored = json.dumps(estate.world.classic_connectors, default=str)
    haystacks = {"log": caplog.text, "file": out_file.read_text(), "stored": stored,
                 "requests": json.dumps([r.to_dict() for r in estate.arm.request_log.records()])}
    for where, text in haystacks.items():
        for secret in (SECRET, SP_SECRET):
            assert secret not in text, where


async def test_aws_writes_against_the_estate(estate, settings) -> None:
    """The classic role (trust 158177204117 + ExternalId = subscription, three managed policies), Security Hub and
    Config in a region, deleting an IAM user's keys; a failure half-way says what is done and what is left."""
    import boto3

    from tui.core.onboarding import doctor as doc

    sub = estate.info.subscriptions[1]
    acct = AWS_TEST_ACCOUNT
    await w.execute_write(w.plan_create_classic_role(settings, acct, sub, role_name="AscConnectorTest"),
                          read_only=False)
    creds = boto3.client("sts", **estate.aws.client_kwargs()).assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole", RoleSessionName="test")["Credentials"]
    kw = {"endpoint_url": estate.info.aws_url, "region_name": "us-east-1", "aws_access_key_id": creds["AccessKeyId"],
          "aws_secret_access_key": creds["SecretAccessKey"], "aws_session_token": creds["SessionToken"]}
    iam = boto3.client("iam", **kw)
    role = iam.get_role(RoleName="AscConnectorTest")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::158177204117:root"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": sub}}
    attached = await doc.role_policies(settings, acct, "AscConnectorTest")
    assert sorted(attached) == sorted(w.CLASSIC_MANAGED_POLICIES)

    # the same role again: CreateRole fails after the first batch succeeded -> done / NOT done
    again = (w.plan_delete_classic_role(settings, acct, "AscConnectorTest", attached_policies=attached)
             + w.plan_create_classic_role(settings, acct, sub, role_name="AscConnectorTest")
             + w.plan_create_classic_role(settings, acct, sub, role_name="AscConnectorTest"))
    with pytest.raises(w.WriteError) as e:
        await w.execute_write(again, read_only=False)
    assert len(e.value.done) == 8 and len(e.value.remaining) == 4
    assert "EntityAlreadyExists" in str(e.value) and "NOT done" in str(e.value)
    await w.execute_write(w.plan_delete_classic_role(settings, acct, "AscConnectorTest"), read_only=False)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="AscConnectorTest")

    # Config + Security Hub in a region
    before = await doc.region_status(settings, acct, ["eu-west-1"])
    assert before["eu-west-1"]["config"] is False and before["eu-west-1"]["security_hub"] is False
    await w.execute_write(w.plan_enable_config_recorder(settings, acct, "eu-west-1"), read_only=False)
    w.execute_write_sync(w.plan_enable_security_hub(settings, acct, "eu-west-1"), read_only=False)  # blocking form
    after = await doc.region_status(settings, acct, ["eu-west-1"])
    assert after["eu-west-1"] == {"config": True, "security_hub": True, "error": None}

    # an IAM user's access keys
    iam.create_user(UserName="mdc-classic-user")
    key = iam.create_access_key(UserName="mdc-classic-user")["AccessKey"]
    keys = await doc.access_keys(settings, acct, "mdc-classic-user")
    assert keys == [key["AccessKeyId"]]
    writes = w.plan_delete_access_keys(settings, acct, "mdc-classic-user", keys)
    assert key["AccessKeyId"] not in json.dumps(writes[0].body) and key["SecretAccessKey"] not in writes[0].describe()
    await w.execute_write(writes, read_only=False)
    assert await doc.access_keys(settings, acct, "mdc-classic-user") == []
    iam.delete_user(UserName="mdc-classic-user")


async def test_register_provider_write_and_errors(estate, settings) -> None:
    sub = estate.info.subscriptions[2]
    world = estate.world
    with world.lock:
        before = dict(world.providers[sub])
    try:
        [res] = await w.execute_write(w.plan_register_provider(settings, sub, "Microsoft.GuestConfiguration"),
                                      read_only=False)
        assert res["registrationState"] in ("Registering", "Registered")
        with world.lock:
            assert world.providers[sub]["Microsoft.GuestConfiguration"] == "Registered"
        with pytest.raises(SourceError) as e:  # an unknown namespace: Azure's 404, one line
            await w.execute_write(w.plan_register_provider(settings, sub, "Microsoft.Nope"), read_only=False)
        assert "Microsoft.Nope" in str(e.value) and "\n" not in str(e.value)
    finally:
        with world.lock:
            world.providers[sub].clear()
            world.providers[sub].update(before)
            world.touch()
    with pytest.raises(SourceError):
        w.plan_register_provider(settings, sub, "not a namespace")


def test_planned_write_is_frozen_and_hides_its_sender(settings) -> None:
    [x] = w.plan_enable_security_hub(settings, AWS_TEST_ACCOUNT, "us-east-1")
    assert x.target == "securityhub:EnableSecurityHub" and x.method == "POST" and x.scope.startswith("AWS account")
    with pytest.raises(FrozenInstanceError):
        x.summary = "changed"  # type: ignore[misc]
    assert "sender" not in repr(x) and "settings" not in repr(x)
    assert replace(x, summary="y").summary == "y"


async def test_doctor_names_a_classic_only_account_as_retired(settings, estate) -> None:
    from tui.core import derive as d
    from tui.core.onboarding import doctor as doc

    natives = {c["properties"]["hierarchyIdentifier"] for c in estate.world.security_connectors.values()}
    classic_only = sorted({c["properties"]["authenticationDetails"].get("accountId")
                           for c in estate.world.classic_connectors.values()} - natives)
    assert classic_only, "the estate plants a classic-only account"
    checks = await doc.run_doctor(settings, classic_only[0])
    [conn] = [c for c in checks if c.name == f"connector of account {classic_only[0]}"]
    assert conn.ok is None and d.CLASSIC_HEALTH in conn.detail and "--flow native" in conn.fix
