"""tui/emulator/aws.py: moto + our WSGI layer, seeded from the world, reached by boto3 over real sockets.

The world is the real `World(seed=42)` when tui/emulator/world.py is importable, else a small fake with the same
attributes (tests/test_emulator_aws.py::FakeWorld). Expectations are always derived from the world object.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from tui.emulator.aws import AwsEmulator, AwsFaultRule, AwsFaults  # noqa: E402
from tui.emulator.aws_ext import CIS_120, FSBP, PCI_321, standards_arn  # noqa: E402
from tui.emulator.spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, Ec2Spec  # noqa: E402

CFG = Config(retries={"mode": "standard", "total_max_attempts": 2})
ROLE = "OrganizationAccountAccessRole"
WIN_AMI, LINUX_AMI = "ami-03cf127a", "ami-1e749f67"


# --------------------------------------------------------------------------------------------------------------
# Worlds


class FakeWorld:
    """The World attributes aws.py uses: aws_accounts, ssm_status(), denied_accounts, lock."""

    def __init__(self, n_mgmt_instances: int = 14) -> None:
        self.lock = threading.RLock()
        fsbp = standards_arn(FSBP, "us-east-1")
        cis = standards_arn(CIS_120, "us-east-1")
        pci = standards_arn(PCI_321, "us-east-1")

        def inst(acct: str, region: str, n: int, platform: str, state: str = "running") -> Ec2Spec:
            iid = "i-" + f"{int(acct[:4]) * 100000 + n:017x}"
            return Ec2Spec(iid, acct, region, platform, f"{acct[-4:]}-vm-{n}",
                           WIN_AMI if platform == "windows" else LINUX_AMI, state=state)

        m, a, b, s = "210987654321", "310987654321", "410987654321", "510987654321"
        self.aws_accounts = [
            AwsAccountSpec(m, "Contoso Management", ORG_MANAGEMENT, None, ["us-east-1", "eu-west-1"],
                           [inst(m, "us-east-1", i, "windows" if i % 3 == 0 else "linux",
                                 "stopped" if i in (4, 9) else "running") for i in range(n_mgmt_instances)]
                           + [inst(m, "eu-west-1", 100 + i, "linux") for i in range(3)],
                           [("us-east-1", "contoso-prod")], [fsbp, cis]),
            AwsAccountSpec(a, "Contoso Workloads", ORG_MEMBER, m, ["us-east-1", "us-west-2"],
                           [inst(a, "us-west-2", i, "windows" if i % 2 else "linux") for i in range(6)],
                           [("us-west-2", "workloads")], [fsbp, pci]),
            AwsAccountSpec(b, "Contoso Sandbox (locked)", ORG_MEMBER, m, ["us-east-1"],
                           [inst(b, "us-east-1", i, "linux") for i in range(2)], [], []),
            AwsAccountSpec(s, "Fabrikam", ORG_SINGLE, None, ["ap-southeast-2"],
                           [inst(s, "ap-southeast-2", i, "linux") for i in range(3)], [], []),
        ]
        self.denied_accounts = {b}

    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        n = int(instance_id[2:], 16)
        return (None, "Online", "Online", "ConnectionLost")[n % 4]


def _real_world(**kw: Any) -> Any | None:
    try:
        from tui.emulator.world import World
    except ImportError:
        return None
    return World(**kw)


def _make_world() -> Any:
    w = _real_world(seed=42)
    return w if w is not None else FakeWorld()


# --------------------------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def emu():
    e = AwsEmulator(_make_world())
    e.start()
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def _clean_faults(request):
    if "emu" in request.fixturenames:
        emu = request.getfixturevalue("emu")
        emu.faults.clear()
        yield
        emu.faults.clear()
    else:
        yield


def _client(emu: AwsEmulator, service: str, region: str = "us-east-1", creds: dict | None = None) -> Any:
    kw: dict[str, Any] = {"endpoint_url": emu.url, "region_name": region, "config": CFG}
    if creds:
        kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])
    else:
        kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client(service, **kw)


def _assume(emu: AwsEmulator, account: str) -> dict[str, str]:
    sts = _client(emu, "sts")
    return sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="mdc-aws",
                           ExternalId="tenant")["Credentials"]


def _allowed(world: Any) -> list[Any]:
    return [a for a in world.aws_accounts if a.account_id not in world.denied_accounts]


def _enabled(world: Any, acct: Any, extra: set[str] = frozenset()) -> list[str]:
    """The account's regions (and `extra`) minus an opt-in region it has not enabled (test_opt_in_region_...)."""
    off = getattr(world, "opt_in_disabled", ())
    return sorted(r for r in set(acct.regions) | set(extra) if (acct.account_id, r) not in off)


def _with_instances(world: Any) -> list[tuple[Any, str]]:
    return [(a, r) for a in _allowed(world) for r in sorted({i.region for i in a.instances})]


def _ssm_expected(world: Any, acct: Any, region: str) -> dict[str, str]:
    out = {}
    for spec in acct.instances:
        if spec.region != region:
            continue
        ping = world.ssm_status(acct.account_id, spec.instance_id)
        if ping is not None and spec.state != "stopped":  # SSM leaves Stopped nodes out (API reference)
            out[spec.instance_id] = ping
    return out


def _admin(emu: AwsEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _log_since(emu: AwsEmulator, seq: int) -> list[Any]:
    return [r for r in emu.request_log if r.seq > seq]


def _last_seq(emu: AwsEmulator) -> int:
    log = emu.request_log
    return log[-1].seq if log else 0


# --------------------------------------------------------------------------------------------------------------
# Identity, EC2, SSM, Organizations, Security Hub, EKS


def test_caller_identity(emu: AwsEmulator) -> None:
    ident = _client(emu, "sts").get_caller_identity()
    assert ident["Account"] == "123456789012"  # moto's account for unknown keys such as "testing"
    op = boto3.client("sts", config=CFG, **emu.client_kwargs(operator=True)).get_caller_identity()
    assert op["Account"] == emu.operator_account_id
    assert op["Arn"] == f"arn:aws:iam::{emu.operator_account_id}:user/mdc-operator"


def test_assumed_identity_per_account(emu: AwsEmulator) -> None:
    for acct in _allowed(emu.world):
        ident = _client(emu, "sts", creds=_assume(emu, acct.account_id)).get_caller_identity()
        assert ident["Account"] == acct.account_id
        assert ident["Arn"] == f"arn:aws:sts::{acct.account_id}:assumed-role/{ROLE}/mdc-aws"


def test_describe_instances_per_account_region(emu: AwsEmulator) -> None:
    world = emu.world
    pairs = _with_instances(world)
    assert pairs
    timings = []
    for acct in _allowed(world):
        creds = _assume(emu, acct.account_id)
        t0 = time.perf_counter()
        for region in _enabled(world, acct, {i.region for i in acct.instances}):
            want = {s.instance_id: s for s in acct.instances if s.region == region}
            got: dict[str, Any] = {}
            for page in _client(emu, "ec2", region, creds).get_paginator("describe_instances").paginate():
                for res in page["Reservations"]:
                    assert res["OwnerId"] == acct.account_id
                    for inst in res["Instances"]:
                        got[inst["InstanceId"]] = inst
            assert set(got) == set(want), (acct.account_id, region)
            for iid, spec in want.items():
                inst = got[iid]
                if spec.platform == "windows":
                    assert inst["Platform"] == "windows" and inst["PlatformDetails"] == "Windows"
                else:
                    assert "Platform" not in inst and inst["PlatformDetails"] == "Linux/UNIX"
                assert {"Key": "Name", "Value": spec.name} in inst["Tags"]
                assert inst["State"]["Name"] == spec.state
                assert inst["InstanceType"] == spec.instance_type
                assert inst["Placement"]["AvailabilityZone"].startswith(region)
        timings.append((acct.account_id, len(acct.instances), time.perf_counter() - t0))
    print("\ndescribe_instances per account (id, instances, seconds):", timings)


def test_describe_instances_filters(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    ec2 = _client(emu, "ec2", region, _assume(emu, acct.account_id))
    specs = [s for s in acct.instances if s.region == region]
    one = specs[0].instance_id
    res = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [one]}])["Reservations"]
    assert [i["InstanceId"] for r in res for i in r["Instances"]] == [one]
    res = ec2.describe_instances(InstanceIds=[one])["Reservations"]
    assert [i["InstanceId"] for r in res for i in r["Instances"]] == [one]
    # `platform` is not implemented by moto 5.2.5 (HTTP 500); the emulator adds it
    wins = {i["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "platform", "Values": ["windows"]}])["Reservations"] for i in r["Instances"]}
    assert wins == {s.instance_id for s in specs if s.platform == "windows"}
    stopped = {i["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])["Reservations"] for i in r["Instances"]}
    assert stopped == {s.instance_id for s in specs if s.state == "stopped"}


def test_ssm_paginator_returns_managed_instances(emu: AwsEmulator) -> None:
    world = emu.world
    multi_page = False
    for acct in _allowed(world):
        creds = _assume(emu, acct.account_id)
        for region in _enabled(world, acct, {i.region for i in acct.instances}):
            want = _ssm_expected(world, acct, region)
            pages = list(_client(emu, "ssm", region, creds).get_paginator("describe_instance_information")
                         .paginate(PaginationConfig={"PageSize": 5}))
            items = [i for p in pages for i in p["InstanceInformationList"]]
            assert all(len(p["InstanceInformationList"]) <= 5 for p in pages)
            multi_page |= len(pages) > 1
            assert len(items) == len({i["InstanceId"] for i in items})
            assert {i["InstanceId"]: i["PingStatus"] for i in items} == want, (acct.account_id, region)
            platforms = {s.instance_id: s.platform for s in acct.instances}
            for it in items:
                assert it["PlatformType"] == ("Windows" if platforms[it["InstanceId"]] == "windows" else "Linux")
                assert it["ResourceType"] == "EC2Instance"
                assert it["AgentVersion"].count(".") == 3 and isinstance(it["IsLatestVersion"], bool)
                assert it["IPAddress"] and it["ComputerName"] and it["PlatformName"]
                assert it["LastPingDateTime"].tzinfo is not None
    assert multi_page, "the world should have a region with more than 5 managed instances"


def test_ssm_filters_and_validation(emu: AwsEmulator) -> None:
    world = emu.world
    acct, region = max(_with_instances(world), key=lambda p: len(_ssm_expected(world, *p)))
    want = _ssm_expected(world, acct, region)
    ssm = _client(emu, "ssm", region, _assume(emu, acct.account_id))

    def ids(**kw: Any) -> dict[str, str]:
        out = {}
        for page in ssm.get_paginator("describe_instance_information").paginate(**kw):
            out.update({i["InstanceId"]: i["PingStatus"] for i in page["InstanceInformationList"]})
        return out

    online = ids(Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert online == {k: v for k, v in want.items() if v == "Online"}
    lost = ids(InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["ConnectionLost"]}])
    assert lost == {k: v for k, v in want.items() if v == "ConnectionLost"}
    platforms = {s.instance_id: s.platform for s in acct.instances}
    win = ids(Filters=[{"Key": "PlatformTypes", "Values": ["Windows"]}])
    assert set(win) == {k for k in want if platforms[k] == "windows"}
    some = sorted(want)[:2]
    assert set(ids(Filters=[{"Key": "InstanceIds", "Values": some + ["i-0123456789abcdef0"]}])) == set(some)
    unmanaged = [s.instance_id for s in acct.instances if s.region == region and s.instance_id not in want]
    if unmanaged:
        assert ids(Filters=[{"Key": "InstanceIds", "Values": unmanaged[:1]}]) == {}

    def code(**kw: Any) -> str:
        with pytest.raises(ClientError) as ei:
            ssm.describe_instance_information(**kw)
        return ei.value.response["Error"]["Code"]

    assert code(MaxResults=51) == "ValidationException"
    assert code(NextToken="garbage") == "InvalidNextToken"
    assert code(Filters=[{"Key": "Color", "Values": ["x"]}]) == "InvalidFilterKey"
    assert code(Filters=[{"Key": "PingStatus", "Values": ["Sleeping"]}]) == "InvalidInstanceInformationFilterValue"
    # another account's region sees none of these instances
    other = next(a for a in _allowed(world) if a.account_id != acct.account_id)
    ssm_other = _client(emu, "ssm", region, _assume(emu, other.account_id))
    got = {i["InstanceId"] for i in ssm_other.describe_instance_information()["InstanceInformationList"]}
    assert not got & set(want)


def test_ssm_reads_world_live_and_leaves_stopped_instances_out(emu: AwsEmulator) -> None:
    world = emu.world
    acct, region = max(_with_instances(world), key=lambda p: len(_ssm_expected(world, *p)))
    creds = _assume(emu, acct.account_id)
    online = [k for k, v in _ssm_expected(world, acct, region).items() if v == "Online"]
    assert online
    ec2, ssm = _client(emu, "ec2", region, creds), _client(emu, "ssm", region, creds)
    iid = online[0]
    ec2.stop_instances(InstanceIds=[iid])
    try:
        info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [iid]}])
        # "does not return information for nodes that are either Stopped or Terminated" (API reference)
        assert info["InstanceInformationList"] == []
    finally:
        ec2.start_instances(InstanceIds=[iid])
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [iid]}])
    assert info["InstanceInformationList"][0]["PingStatus"] == "Online"


def test_ssm_follows_the_world_clock(emu: AwsEmulator) -> None:
    world = emu.world
    clock = getattr(world, "clock", None)
    if clock is None or not hasattr(clock, "set"):
        pytest.skip("world without a settable clock")
    start = world.tick()
    acct, region = max(_with_instances(world), key=lambda p: len([i for i in p[0].instances if i.region == p[1]]))
    before = _ssm_expected(world, acct, region)
    try:
        for later in (5, 20, 60, 200, 600):
            clock.set(start + later)
            after = _ssm_expected(world, acct, region)
            if after != before:
                break
        else:
            pytest.skip("no SSM change in this account within 600 ticks")
        ssm = _client(emu, "ssm", region, _assume(emu, acct.account_id))
        got = {i["InstanceId"]: i["PingStatus"] for p in ssm.get_paginator("describe_instance_information").paginate()
               for i in p["InstanceInformationList"]}
        assert got == after != before
    finally:
        clock.set(start)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.integers(min_value=5, max_value=50), status=st.sampled_from([None, "Online", "ConnectionLost"]))
def test_ssm_paging_is_complete_for_any_page_size(emu: AwsEmulator, page: int, status: str | None) -> None:
    world = emu.world
    acct, region = max(_with_instances(world), key=lambda p: len(_ssm_expected(world, *p)))
    want = {k: v for k, v in _ssm_expected(world, acct, region).items() if status is None or v == status}
    ssm = _client(emu, "ssm", region, _assume(emu, acct.account_id))
    kw: dict[str, Any] = {"MaxResults": page}
    if status:
        kw["Filters"] = [{"Key": "PingStatus", "Values": [status]}]
    seen: list[str] = []
    while True:
        resp = ssm.describe_instance_information(**kw)
        assert len(resp["InstanceInformationList"]) <= page
        seen += [i["InstanceId"] for i in resp["InstanceInformationList"]]
        if "NextToken" not in resp:
            break
        kw["NextToken"] = resp["NextToken"]
    assert len(seen) == len(set(seen)) and set(seen) == set(want)


def test_organizations_list_accounts(emu: AwsEmulator) -> None:
    world = emu.world
    mgmts = [a for a in world.aws_accounts if a.org_role == ORG_MANAGEMENT]
    assert mgmts
    for mgmt in mgmts:
        org = _client(emu, "organizations", creds=_assume(emu, mgmt.account_id))
        listed = {a["Id"]: a for p in org.get_paginator("list_accounts").paginate() for a in p["Accounts"]}
        members = {a.account_id: a for a in world.aws_accounts if a.parent_account_id == mgmt.account_id
                   and a.org_role == ORG_MEMBER}
        # plus the organization's accounts without a connector (issue 13: members missing, a suspended one)
        extra = {a["Id"]: a for a in ((world.aws_setup(mgmt.account_id) or {}).get("org_accounts") or ())}
        assert set(listed) == {mgmt.account_id} | set(members) | set(extra)
        for acct_id, spec in members.items():
            assert listed[acct_id]["Name"] == spec.name and listed[acct_id]["Status"] == "ACTIVE"
        for acct_id, a in extra.items():
            assert listed[acct_id]["Status"] == a["Status"] and listed[acct_id]["Name"] == a["Name"]
        assert listed[mgmt.account_id]["Name"] == mgmt.name
        desc = org.describe_organization()["Organization"]
        assert desc["MasterAccountId"] == mgmt.account_id
        for acct_id in members:
            if acct_id in world.denied_accounts:
                continue
            member_org = _client(emu, "organizations", creds=_assume(emu, acct_id))
            assert member_org.describe_organization()["Organization"]["Id"] == desc["Id"]
    single = [a for a in _allowed(world) if a.org_role == ORG_SINGLE]
    if single:
        org = _client(emu, "organizations", creds=_assume(emu, single[0].account_id))
        with pytest.raises(ClientError) as ei:
            org.describe_organization()
        assert ei.value.response["Error"]["Code"] == "AWSOrganizationsNotInUseException"


def test_securityhub_standards(emu: AwsEmulator) -> None:
    world = emu.world
    with_hub = [a for a in _allowed(world) if a.securityhub_standards]
    assert with_hub
    for acct in with_hub:
        creds = _assume(emu, acct.account_id)
        for region in _enabled(world, acct):
            sh = _client(emu, "securityhub", region, creds)
            subs = [s for p in sh.get_paginator("get_enabled_standards").paginate()
                    for s in p["StandardsSubscriptions"]]
            keys = {a.split("::standards/")[-1].split(":::ruleset/")[-1] for a in acct.securityhub_standards}
            assert {s["StandardsArn"] for s in subs} == {standards_arn(k, region) for k in keys}
            for s in subs:
                assert s["StandardsStatus"] == "READY"
                assert s["StandardsSubscriptionArn"].startswith(f"arn:aws:securityhub:{region}:{acct.account_id}:"
                                                                f"subscription/")
            assert sh.describe_hub()["HubArn"] == f"arn:aws:securityhub:{region}:{acct.account_id}:hub/default"


def test_securityhub_enable_disable_and_describe(emu: AwsEmulator) -> None:
    acct = next(a for a in _allowed(emu.world) if a.securityhub_standards)
    region = acct.regions[0]
    sh = _client(emu, "securityhub", region, _assume(emu, acct.account_id))
    std = sh.describe_standards()["Standards"]
    assert {s["Name"] for s in std} == {"AWS Foundational Security Best Practices v1.0.0",
                                       "CIS AWS Foundations Benchmark v1.2.0", "PCI DSS v3.2.1"}
    assert "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0" in {s["StandardsArn"] for s in std}
    before = {s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]}
    target = next(s["StandardsArn"] for s in std if s["StandardsArn"] not in before) if len(before) < 3 else None
    if target is None:
        pytest.skip("every standard already enabled")
    out = sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": target}])
    sub_arn = out["StandardsSubscriptions"][0]["StandardsSubscriptionArn"]
    try:
        now = {s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]}
        assert now == before | {target}
        only = sh.get_enabled_standards(StandardsSubscriptionArns=[sub_arn])["StandardsSubscriptions"]
        assert [s["StandardsArn"] for s in only] == [target]
    finally:
        sh.batch_disable_standards(StandardsSubscriptionArns=[sub_arn])
    assert {s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]} == before
    with pytest.raises(ClientError) as ei:
        sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": "arn:aws:securityhub:::nope"}])
    assert ei.value.response["Error"]["Code"] == "InvalidInputException"


def test_securityhub_not_enabled(emu: AwsEmulator) -> None:
    acct = next((a for a in _allowed(emu.world) if not a.securityhub_standards), None)
    if acct is None:
        pytest.skip("every account has Security Hub")
    sh = _client(emu, "securityhub", acct.regions[0], _assume(emu, acct.account_id))
    with pytest.raises(ClientError) as ei:
        sh.get_enabled_standards()
    assert ei.value.response["Error"]["Code"] == "InvalidAccessException"


def test_eks_clusters(emu: AwsEmulator) -> None:
    for acct in _allowed(emu.world):
        creds = _assume(emu, acct.account_id)
        for region in _enabled(emu.world, acct, {r for r, _ in acct.eks_clusters}):
            got = set(_client(emu, "eks", region, creds).list_clusters()["clusters"])
            assert got == {n for r, n in acct.eks_clusters if r == region}


def test_instances_carry_world_meta(emu: AwsEmulator) -> None:
    world = emu.world
    if not hasattr(world, "instance_meta"):
        pytest.skip("world without instance_meta")
    acct, region = max(_with_instances(world), key=lambda p: len([i for i in p[0].instances if i.region == p[1]]))
    creds = _assume(emu, acct.account_id)
    ec2 = _client(emu, "ec2", region, creds)
    got = {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    profiles = 0
    for spec in (s for s in acct.instances if s.region == region):
        meta, inst = world.instance_meta(acct.account_id, spec.instance_id), got[spec.instance_id]
        assert inst["PrivateIpAddress"] == meta["private_ip"]
        assert inst["LaunchTime"].timestamp() == pytest.approx(meta["launch_time"])
        if meta["iam_instance_profile"]:
            profiles += 1
            assert inst["IamInstanceProfile"]["Arn"] == (f"arn:aws:iam::{acct.account_id}:instance-profile/"
                                                         f"{meta['iam_instance_profile']}")
        else:
            assert "IamInstanceProfile" not in inst
    assert profiles
    # the world's AMIs are registered (moto's public catalogue is not loaded for the world's accounts)
    images = {i["ImageId"]: i for i in ec2.describe_images(
        ImageIds=sorted({s.image_id for s in acct.instances if s.region == region}))["Images"]}
    for spec in (s for s in acct.instances if s.region == region):
        assert images[spec.image_id].get("Platform") == ("windows" if spec.platform == "windows" else None)
    # the SSM records are the world's own (agent version, computer name, ...)
    ssm = _client(emu, "ssm", region, creds)
    mine = {i["InstanceId"]: i for p in ssm.get_paginator("describe_instance_information").paginate()
            for i in p["InstanceInformationList"]}
    for rec in world.ssm_instance_information(acct.account_id, region):
        assert mine[rec["InstanceId"]]["AgentVersion"] == rec["AgentVersion"]
        assert mine[rec["InstanceId"]]["ComputerName"] == rec["ComputerName"]
        assert mine[rec["InstanceId"]]["LastPingDateTime"].timestamp() == pytest.approx(rec["LastPingDateTime"])


def test_untagged_arc_machines_match_ec2_private_dns(emu: AwsEmulator) -> None:
    """The world names its untagged Arc machines by the PrivateDnsName EC2 serves (first label) or the Name tag."""
    world = emu.world
    if not hasattr(world, "untagged_arc_machines"):
        pytest.skip("world without untagged Arc machines")
    planted = world.untagged_arc_machines()
    assert planted
    for p in planted:
        ec2 = _client(emu, "ec2", p["region"], _assume(emu, p["account_id"]))
        inst = ec2.describe_instances(InstanceIds=[p["instance_id"]])["Reservations"][0]["Instances"][0]
        dns = inst["PrivateDnsName"]
        assert dns.endswith(".ec2.internal" if p["region"] == "us-east-1" else f".{p['region']}.compute.internal")
        if p["matched_by"] == "private_dns":
            assert dns.split(".")[0] == p["name"]
        else:
            assert {"Key": "Name", "Value": p["name"]} in inst["Tags"]


def test_opt_in_region_not_enabled(emu: AwsEmulator) -> None:
    """NOTES §11 / AWS Knowledge Center iam-validate-access-credentials: in an opt-in region the account has not
    enabled, EC2 answers AuthFailure and other regional services reject the token; other regions answer."""
    world = emu.world
    if not getattr(world, "opt_in_disabled", None):
        pytest.skip("world without an opt-in region")
    (account, region), = world.opt_in_disabled
    creds = _assume(emu, account)  # global STS: fine
    seq = _last_seq(emu)
    code, status, retries = _call_and_code(lambda: _client(emu, "ec2", region, creds).describe_instances())
    assert (code, status, retries) == ("AuthFailure", 401, 0)
    assert _call_and_code(lambda: _client(emu, "ssm", region, creds).describe_instance_information())[:2] == \
        ("UnrecognizedClientException", 403)
    assert _call_and_code(lambda: _client(emu, "sts", region, creds).get_caller_identity())[:2] == \
        ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as ei:
        _client(emu, "ec2", region, creds).describe_instances()
    assert ei.value.response["Error"]["Message"] == "AWS was not able to validate the provided access credentials"
    recs = [r for r in _log_since(emu, seq) if r.region == region]
    assert recs and all(r.fault == "opt_in_region" and r.account == account for r in recs)
    # the account's other regions, and the same region for another account, answer normally
    acct = world.accounts_by_id[account]
    other = next(r for r in acct.regions if r != region)
    _client(emu, "ec2", other, creds).describe_instances()
    _client(emu, "ssm", other, creds).describe_instance_information()
    someone = next(a for a in _allowed(world) if a.account_id != account)
    _client(emu, "ec2", region, _assume(emu, someone.account_id)).describe_instances()
    # a global service signed for that region is not region-gated
    _client(emu, "iam", region, creds).list_roles()


def test_iam_roles_oidc_and_managed_policies(emu: AwsEmulator) -> None:
    world = emu.world
    if not hasattr(world, "iam_roles"):
        pytest.skip("world without iam_roles")
    checked_classic = False
    for acct in _allowed(world):
        want = set(world.iam_roles(acct.account_id))
        iam = _client(emu, "iam", creds=_assume(emu, acct.account_id))
        names = {r["RoleName"]: r for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]}
        assert want <= set(names), acct.account_id
        if "CspmMonitorAws" in want:
            doc = names["CspmMonitorAws"]["AssumeRolePolicyDocument"]
            stmt = doc["Statement"][0]
            assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert stmt["Principal"]["Federated"].endswith(":oidc-provider/sts.windows.net/"
                                                           "33e01921-4d64-4f8c-a055-5bdaffd5e33d/")
            providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
            # issue 13 plants an account without the provider (oidc "missing"); "sentinel" holds the same url
            oidc = (world.aws_setup(acct.account_id) or {}).get("oidc", "mdc")
            assert len(providers) == (0 if oidc == "missing" else 1), (acct.account_id, oidc)
        classic = getattr(world, "classic_role_name", None)
        if classic and classic in want and not checked_classic:
            checked_classic = True
            attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=classic)["AttachedPolicies"]}
            assert attached == {"SecurityAudit", "AmazonSSMAutomationRole", "AWSSecurityHubReadOnlyAccess"}
            trust = names[classic]["AssumeRolePolicyDocument"]["Statement"][0]
            assert trust["Principal"]["AWS"] == "arn:aws:iam::158177204117:root"
            # the account's AWS managed policies are all there through the API (built lazily)
            n = sum(len(p["Policies"]) for p in iam.get_paginator("list_policies").paginate(Scope="AWS"))
            assert n > 1000
            pol = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/SecurityAudit")["Policy"]
            assert pol["AttachmentCount"] == 1
            iam.attach_role_policy(RoleName=classic, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
            iam.detach_role_policy(RoleName=classic, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    if getattr(world, "classic_role_name", None) and any(
            world.classic_role_name in world.iam_roles(a.account_id) for a in _allowed(world)):
        assert checked_classic


def test_cloudformation_stacks(emu: AwsEmulator) -> None:
    world = emu.world
    if not hasattr(world, "cfn_stack"):
        pytest.skip("world without cfn_stack")
    seen = 0
    for acct in _allowed(world):
        stack = world.cfn_stack(acct.account_id)
        if not stack:
            continue
        cfn = _client(emu, "cloudformation", stack["Region"], _assume(emu, acct.account_id))
        st = cfn.describe_stacks(StackName=stack["StackName"])["Stacks"][0]
        # issue 13 plants a stack that is not complete (UPDATE_ROLLBACK_COMPLETE)
        want = ((world.aws_setup(acct.account_id) or {}).get("stack") or {}).get("Status", "CREATE_COMPLETE")
        assert st["StackStatus"] == want
        if stack.get("StackSetName"):
            ss = cfn.describe_stack_set(StackSetName=stack["StackSetName"])["StackSet"]
            assert ss["PermissionModel"] == "SERVICE_MANAGED"
        seen += 1
    assert seen


def test_denied_account(emu: AwsEmulator) -> None:
    world = emu.world
    added = None
    if not world.denied_accounts:
        added = next(a.account_id for a in world.aws_accounts if a.org_role == ORG_MEMBER)
        with world.lock:
            world.denied_accounts.add(added)
    try:
        denied = sorted(world.denied_accounts)[0]
        seq = _last_seq(emu)
        sts = _client(emu, "sts")
        with pytest.raises(ClientError) as ei:
            sts.assume_role(RoleArn=f"arn:aws:iam::{denied}:role/{ROLE}", RoleSessionName="mdc-aws")
        err = ei.value.response
        assert err["Error"]["Code"] == "AccessDenied"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert f"arn:aws:iam::{denied}:role/{ROLE}" in err["Error"]["Message"]
        with pytest.raises(ClientError) as ei:
            sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{denied}:role/CspmMonitorAws",
                                              RoleSessionName="mdc-aws", WebIdentityToken="x" * 40)
        assert ei.value.response["Error"]["Code"] == "AccessDenied"
        recs = [r for r in _log_since(emu, seq) if r.service == "sts"]
        assert [(r.action, r.status, r.fault) for r in recs] == [
            ("AssumeRole", 403, "denied_account"), ("AssumeRoleWithWebIdentity", 403, "denied_account")]
    finally:
        if added:
            with world.lock:
                world.denied_accounts.discard(added)


# --------------------------------------------------------------------------------------------------------------
# Faults


def _call_and_code(fn: Any) -> tuple[str, int, int]:
    with pytest.raises(ClientError) as ei:
        fn()
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["ResponseMetadata"].get("RetryAttempts", 0)


@pytest.mark.parametrize("kind,expected", [
    ("throttle", {"ssm": ("ThrottlingException", 400), "ec2": ("RequestLimitExceeded", 503),
                  "sts": ("Throttling", 400), "securityhub": ("TooManyRequestsException", 429),
                  "organizations": ("ThrottlingException", 400)}),
    ("5xx", {"ssm": ("ServiceUnavailableException", 503), "ec2": ("Unavailable", 503),
             "sts": ("ServiceUnavailable", 503), "securityhub": ("ServiceUnavailableException", 503),
             "organizations": ("ServiceUnavailableException", 503)}),
    ("access_denied", {"ssm": ("AccessDeniedException", 400), "ec2": ("UnauthorizedOperation", 403),
                       "sts": ("AccessDenied", 403), "securityhub": ("AccessDeniedException", 403),
                       "organizations": ("AccessDeniedException", 400)}),
])
def test_fault_kinds_per_protocol(emu: AwsEmulator, kind: str, expected: dict[str, tuple[str, int]]) -> None:
    acct = next(a for a in _allowed(emu.world) if a.org_role == ORG_MANAGEMENT)
    creds = _assume(emu, acct.account_id)
    region = acct.regions[0]
    calls = {
        "ssm": lambda: _client(emu, "ssm", region, creds).describe_instance_information(),
        "ec2": lambda: _client(emu, "ec2", region, creds).describe_instances(),
        "sts": lambda: _client(emu, "sts", region, creds).get_caller_identity(),
        "securityhub": lambda: _client(emu, "securityhub", region, creds).get_enabled_standards(),
        "organizations": lambda: _client(emu, "organizations", region, creds).list_accounts(),
    }
    for service, (code, status) in expected.items():
        emu.faults.clear()
        emu.faults.add(AwsFaultRule(service=service, account=acct.account_id, kind=kind))
        seq = _last_seq(emu)
        got_code, got_status, retries = _call_and_code(calls[service])
        assert (got_code, got_status) == (code, status), service
        recs = [r for r in _log_since(emu, seq) if r.service == service]
        attempts = 1 if kind == "access_denied" else 2  # throttling and 5xx are retried, denial is not
        assert len(recs) == attempts and retries == attempts - 1, (service, recs)
        assert all(r.fault == kind and r.status == status and r.account == acct.account_id for r in recs)


def test_fault_times_then_success(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    creds = _assume(emu, acct.account_id)
    rule = emu.faults.add(service="ec2", action="DescribeInstances", kind="throttle", times=1)
    seq = _last_seq(emu)
    resp = _client(emu, "ec2", region, creds).describe_instances()
    assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    recs = [r for r in _log_since(emu, seq) if r.action == "DescribeInstances"]
    assert [(r.status, r.fault) for r in recs] == [(503, "throttle"), (200, None)]
    assert rule.times == 0 and rule.hits == 1
    # other actions / accounts are not matched
    emu.faults.add(service="ec2", action="DescribeRegions", account="000000000000", kind="5xx")
    _client(emu, "ec2", region, creds).describe_instances()


def test_latency_fault(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    ssm = _client(emu, "ssm", region, _assume(emu, acct.account_id))
    ssm.describe_instance_information()
    emu.faults.add(AwsFaultRule(service="ssm", action="DescribeInstanceInformation", kind="latency",
                                latency_ms=400, times=1))
    t0 = time.perf_counter()
    ssm.describe_instance_information()
    assert time.perf_counter() - t0 >= 0.4
    assert emu.request_log[-1].fault == "latency" and emu.request_log[-1].status == 200


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        AwsFaultRule(kind="explode")
    with pytest.raises(ValueError):
        AwsFaultRule(kind="latency")
    faults = AwsFaults([AwsFaultRule(service="ssm", times=2)])
    assert faults.apply("SSM", "X", "1", "r")[1] is not None
    assert faults.apply("ssm", "X", "1", "r")[1] is not None
    assert faults.apply("ssm", "X", "1", "r") == (0, None)
    assert faults.apply("ec2", "X", "1", "r") == (0, None)
    # latency rules add up and combine with the first error rule; later error rules are not consumed
    faults = AwsFaults([AwsFaultRule(kind="latency", latency_ms=50), AwsFaultRule(kind="5xx", times=1),
                        AwsFaultRule(kind="latency", latency_ms=20, account="1"), AwsFaultRule(kind="throttle")])
    ms, rule = faults.apply("ec2", "DescribeInstances", "1", "us-east-1")
    assert ms == 70 and rule.kind == "5xx"
    ms, rule = faults.apply("ec2", "DescribeInstances", "2", "us-east-1")
    assert ms == 50 and rule.kind == "throttle"
    assert [r.hits for r in faults.rules()] == [2, 1, 1, 1]
    assert AwsFaultRule.from_dict(AwsFaultRule(service="ssm", times=3).to_dict()).times == 3


def test_faults_are_thread_safe() -> None:
    faults = AwsFaults([AwsFaultRule(kind="throttle", times=500)])
    hits = []

    def worker() -> None:
        n = 0
        for _ in range(200):
            if faults.apply("ssm", "A", "1", "r")[1] is not None:
                n += 1
        hits.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(hits) == 500


# --------------------------------------------------------------------------------------------------------------
# Admin routes and the request log


def test_admin_routes(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    creds = _assume(emu, acct.account_id)
    status, body = _admin(emu, "POST", "/_emulator/faults",
                          [{"service": "ec2", "action": "DescribeInstances", "kind": "access_denied", "times": 1}])
    assert status == 201 and body["rules"][0]["kind"] == "access_denied"
    code, http, _ = _call_and_code(lambda: _client(emu, "ec2", region, creds).describe_instances())
    assert (code, http) == ("UnauthorizedOperation", 403)
    status, body = _admin(emu, "GET", "/_emulator/faults")
    assert body["rules"][0]["times"] == 0 and body["rules"][0]["hits"] == 1
    assert _admin(emu, "DELETE", "/_emulator/faults")[0] == 200
    assert len(emu.faults) == 0
    assert _admin(emu, "POST", "/_emulator/faults", [{"kind": "nope"}])[0] == 400
    assert _admin(emu, "POST", "/_emulator/faults", [{"colour": "red"}])[0] == 400
    status, body = _admin(emu, "GET", "/_emulator/requests")
    assert status == 200
    last = body["requests"][-1]
    assert {"service", "action", "account", "region", "status", "fault", "seq"} <= set(last)
    denied = [r for r in body["requests"] if r["fault"] == "access_denied"]
    assert denied and denied[-1]["action"] == "DescribeInstances" and denied[-1]["account"] == acct.account_id
    since = last["seq"]
    _client(emu, "ec2", region, creds).describe_instances()
    status, body = _admin(emu, "GET", f"/_emulator/requests?since={since}")
    assert [(r["service"], r["action"], r["status"]) for r in body["requests"]] == [
        ("ec2", "DescribeInstances", 200)]
    status, body = _admin(emu, "GET", "/_emulator/info")
    assert body["url"] == emu.url and body["operator_account_id"] == emu.operator_account_id
    assert set(body["accounts"]) == {a.account_id for a in emu.world.aws_accounts}
    assert _admin(emu, "GET", "/_emulator/nope")[0] == 404
    # reset: moto is wiped and the world seeded again (what a test changed through the API is gone)
    ec2 = _client(emu, "ec2", region, creds)
    victim = next(s.instance_id for s in acct.instances if s.region == region and s.state == "running")
    ec2.terminate_instances(InstanceIds=[victim])
    status, body = _admin(emu, "POST", "/_emulator/reset")
    assert status == 200 and body["instances"] == sum(len(a.instances) for a in emu.world.aws_accounts)
    ec2 = _client(emu, "ec2", region, _assume(emu, acct.account_id))
    state = ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_request_log_records_calls(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    seq = _last_seq(emu)
    creds = _assume(emu, acct.account_id)
    _client(emu, "ec2", region, creds).describe_instances()
    _client(emu, "ssm", region, creds).describe_instance_information()
    _client(emu, "eks", region, creds).list_clusters()
    recs = [(r.service, r.action, r.account, r.region, r.status, r.fault) for r in _log_since(emu, seq)]
    assert recs == [
        ("sts", "AssumeRole", "123456789012", "us-east-1", 200, None),
        ("ec2", "DescribeInstances", acct.account_id, region, 200, None),
        ("ssm", "DescribeInstanceInformation", acct.account_id, region, 200, None),
        ("eks", "ListClusters", acct.account_id, region, 200, None),
    ]


def test_x_moto_account_header_is_honoured(emu: AwsEmulator) -> None:
    acct, region = _with_instances(emu.world)[0]
    ec2 = _client(emu, "ec2", region)
    ec2.meta.events.register("before-sign.ec2.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", acct.account_id))
    got = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert got == {s.instance_id for s in acct.instances if s.region == region}
    assert emu.request_log[-1].account == acct.account_id


# --------------------------------------------------------------------------------------------------------------
# Seeding


def test_seeding_is_idempotent_and_restores_previous_emulator(emu: AwsEmulator) -> None:
    """A second emulator in the same process wipes moto and seeds its own world; stopping it gives the first back."""
    acct, region = _with_instances(emu.world)[0]
    def count(e: AwsEmulator) -> int:
        ec2 = _client(e, "ec2", region, _assume(e, acct.account_id))
        return sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])

    before = count(emu)
    other = AwsEmulator(FakeWorld(n_mgmt_instances=3))
    other.start()
    try:
        assert count(emu) == 0 or acct.account_id in {a.account_id for a in other.world.aws_accounts}
        o_acct, o_region = _with_instances(other.world)[0]
        got = {i["InstanceId"] for r in _client(other, "ec2", o_region, _assume(other, o_acct.account_id))
               .describe_instances()["Reservations"] for i in r["Instances"]}
        assert got == {s.instance_id for s in o_acct.instances if s.region == o_region}
        other.reseed()  # idempotent: the same again, nothing piles up
        got2 = {i["InstanceId"] for r in _client(other, "ec2", o_region, _assume(other, o_acct.account_id))
                .describe_instances()["Reservations"] for i in r["Instances"]}
        assert got2 == got
    finally:
        other.stop()
    assert count(emu) == before
    sh_acct = next(a for a in _allowed(emu.world) if a.securityhub_standards)
    sh = _client(emu, "securityhub", sh_acct.regions[0], _assume(emu, sh_acct.account_id))
    assert len(sh.get_enabled_standards()["StandardsSubscriptions"]) == len(sh_acct.securityhub_standards)


def test_seed_report(emu: AwsEmulator) -> None:
    rep = emu.seed_report
    assert rep is not None
    assert rep.instances == sum(len(a.instances) for a in emu.world.aws_accounts)
    assert rep.accounts == len(emu.world.aws_accounts)
    print(f"\nseeded {rep.instances} instances in {rep.seconds:.2f} s; phases "
          + ", ".join(f"{k} {v:.2f}" for k, v in rep.phases.items()))


@pytest.mark.slow
def test_large_world_seeding() -> None:
    world = _real_world(seed=42, scale="large")
    if world is None:
        world = FakeWorld(n_mgmt_instances=10000)
    e = AwsEmulator(world)
    try:
        e.start()
        rep = e.seed_report
        assert rep.instances == sum(len(a.instances) for a in world.aws_accounts)
        acct = max(_allowed(world), key=lambda a: len(a.instances))
        creds = _assume(e, acct.account_id)
        t0 = time.perf_counter()
        n = 0
        for region in sorted({i.region for i in acct.instances}):
            for page in _client(e, "ec2", region, creds).get_paginator("describe_instances").paginate():
                n += sum(len(r["Instances"]) for r in page["Reservations"])
        dt = time.perf_counter() - t0
        assert n == len(acct.instances)
        print(f"\nlarge world: seeded {rep.instances} instances in {rep.seconds:.1f} s "
              f"({rep.phases}); describe of {n} instances in one account {dt:.1f} s")
    finally:
        e.stop()
