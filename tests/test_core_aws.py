"""tui/core/aws.py against moto's ThreadedMotoServer over real sockets (in a child process: moto's state is global).

moto 5.2 has no SSM DescribeInstanceInformation and no fault injection, so a botocore `before-send` hook (installed
through AwsSource(on_client=...)) answers DescribeInstanceInformation with realistic paged JSON and injects
AccessDenied, throttling and 5xx responses. Nothing here uses tui.emulator.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tui.core import aws as aws_mod
from tui.core.aws import AwsSource, parse_instance_information, parse_instances
from tui.core.config import AwsSettings
from tui.core.errors import AuthError, SourceError
from tui.core.model import Ec2Instance, SsmInstance

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from botocore.awsrequest import AWSResponse  # noqa: E402

ACCT_A = "123456789012"  # moto's default account: the caller of the base credentials
ACCT_B = "111122223333"  # reached by assuming OrganizationAccountAccessRole
ACCT_C = "444455556666"  # reached through a named profile
WIN_AMI = "ami-03cf127a"  # a Windows AMI of moto's catalogue (Platform=windows on the instance)
LINUX_AMI = "ami-1e749f67"
DEFAULT_ROLE = "OrganizationAccountAccessRole"


# --------------------------------------------------------------------------------------------------------------------
# moto server, seeded once per module


@dataclass
class Estate:
    url: str
    # (account, region) -> {instance id: (state, platform, name)}
    ec2: dict[tuple[str, str], dict[str, tuple[str, str, str | None]]] = field(default_factory=dict)
    terminated: set[str] = field(default_factory=set)
    ssm: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)


def _client(url: str, service: str, region: str, creds: dict[str, str] | None = None) -> Any:
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": region}
    if creds:
        kw.update(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    else:
        kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client(service, **kw)


def _run(ec2: Any, ami: str, name: str | None) -> str:
    kw: dict[str, Any] = {"ImageId": ami, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    if name:
        kw["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
    return ec2.run_instances(**kw)["Instances"][0]["InstanceId"]


def _ssm_item(iid: str, ping: str, platform: str, *, minutes_ago: int = 1) -> dict[str, Any]:
    ts = (datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc) - timedelta(minutes=minutes_ago)).timestamp()
    managed = iid.startswith("mi-")
    return {
        "InstanceId": iid,
        "PingStatus": ping,
        "LastPingDateTime": ts,
        "AgentVersion": "3.3.40.0",
        "IsLatestVersion": False,
        "PlatformType": platform,
        "PlatformName": "Microsoft Windows Server 2022 Datacenter" if platform == "Windows" else "Amazon Linux",
        "PlatformVersion": "10.0.20348" if platform == "Windows" else "2023",
        "ResourceType": "ManagedInstance" if managed else "EC2Instance",
        "IPAddress": "10.0.1.23",
        "ComputerName": "ip-10-0-1-23.ec2.internal",
        "AssociationStatus": "Success",
        "LastAssociationExecutionDate": ts,
        "LastSuccessfulAssociationExecutionDate": ts,
        "SourceId": iid,
        "SourceType": "AWS::SSM::ManagedInstance" if managed else "AWS::EC2::Instance",
    }


def _seed(url: str) -> Estate:
    est = Estate(url=url)
    sts = _client(url, "sts", "us-east-1")

    def assumed(acct: str) -> dict[str, str]:
        return sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/{DEFAULT_ROLE}", RoleSessionName="seed")[
            "Credentials"
        ]

    plan: dict[str, dict[str, list[tuple[str, str | None, str]]]] = {
        # account -> region -> [(ami, name, final state)]
        ACCT_A: {
            "us-east-1": [
                (LINUX_AMI, "web-1", "running"),
                (LINUX_AMI, "web-2", "running"),
                (WIN_AMI, "ad-1", "running"),
                (LINUX_AMI, None, "stopped"),
                (LINUX_AMI, "batch-1", "running"),
                (LINUX_AMI, "batch-2", "running"),
                (LINUX_AMI, "old", "terminated"),
            ],
            "eu-west-1": [(WIN_AMI, "sql-1", "running")],
        },
        ACCT_B: {
            "us-east-1": [(LINUX_AMI, "b-api", "running")],
            "eu-west-1": [(LINUX_AMI, "b-1", "running"), (LINUX_AMI, "b-2", "stopped"), (WIN_AMI, "b-win", "running")],
        },
        ACCT_C: {"us-east-1": [(WIN_AMI, "c-win", "running")]},
    }
    creds: dict[str, dict[str, str] | None] = {ACCT_A: None, ACCT_B: assumed(ACCT_B), ACCT_C: assumed(ACCT_C)}
    for acct, regions in plan.items():
        for region, specs in regions.items():
            ec2 = _client(url, "ec2", region, creds[acct])
            live: dict[str, tuple[str, str, str | None]] = {}
            for ami, name, state in specs:
                iid = _run(ec2, ami, name)
                if state == "stopped":
                    ec2.stop_instances(InstanceIds=[iid])
                if state == "terminated":
                    ec2.terminate_instances(InstanceIds=[iid])
                    est.terminated.add(iid)
                    continue
                live[iid] = (state, "windows" if ami == WIN_AMI else "linux", name)
            est.ec2[(acct, region)] = live

    a_use1 = list(est.ec2[(ACCT_A, "us-east-1")])
    est.ssm[(ACCT_A, "us-east-1")] = [
        _ssm_item(a_use1[0], "Online", "Linux"),
        _ssm_item(a_use1[1], "ConnectionLost", "Linux", minutes_ago=600),
        _ssm_item(a_use1[2], "Online", "Windows"),
        _ssm_item("mi-0123456789abcdef0", "Online", "Linux"),  # hybrid activation: managed, not EC2
        _ssm_item(a_use1[4], "Inactive", "Linux", minutes_ago=5000),
    ]
    est.ssm[(ACCT_A, "eu-west-1")] = [_ssm_item(next(iter(est.ec2[(ACCT_A, "eu-west-1")])), "Online", "Windows")]
    b_euw1 = list(est.ec2[(ACCT_B, "eu-west-1")])
    est.ssm[(ACCT_B, "eu-west-1")] = [_ssm_item(b_euw1[0], "Online", "Linux"),
                                      _ssm_item(b_euw1[2], "Online", "Windows")]

    # A profile for account C (its assumed-role keys in the shared credentials file).
    c = creds[ACCT_C]
    assert c is not None
    with open(os.environ["AWS_SHARED_CREDENTIALS_FILE"], "w") as f:
        f.write(
            f"[acct-c]\naws_access_key_id = {c['AccessKeyId']}\naws_secret_access_key = {c['SecretAccessKey']}\n"
            f"aws_session_token = {c['SessionToken']}\n"
        )
    with open(os.environ["AWS_CONFIG_FILE"], "w") as f:
        f.write("[profile acct-c]\nregion = us-east-1\n")
    return est


# moto's backends are process-global and the emulator (tui/emulator/aws.py) serves them in-process for other test
# modules: this module's ThreadedMotoServer runs in a child process so neither sees the other's accounts.
_SERVER = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # serve until the test process closes stdin
server.stop()
"""


@pytest.fixture(scope="module")
def moto_estate(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("aws")
    proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), "moto server did not start"
        with pytest.MonkeyPatch.context() as mp:
            for k in list(os.environ):
                if k.startswith("AWS_"):
                    mp.delenv(k)
            mp.setenv("AWS_ACCESS_KEY_ID", "testing")
            mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            mp.setenv("AWS_CONFIG_FILE", str(tmp / "config"))
            mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "credentials"))
            mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
            yield _seed(url)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------------------------------------
# botocore hooks: SSM DescribeInstanceInformation stub, fault injection, call log


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _response(url: str, status: int, body: str | bytes, content_type: str, **headers: str) -> AWSResponse:
    b = body.encode() if isinstance(body, str) else body
    h = {"content-type": content_type, "x-amzn-requestid": "req-1", "content-length": str(len(b)), **headers}
    return AWSResponse(url, status, h, _Raw(b))


def throttled_ec2(url: str) -> AWSResponse:
    return _response(
        url,
        503,
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
        "</Error></Errors><RequestID>r</RequestID></Response>",
        "text/xml",
    )


def throttled_json(url: str) -> AWSResponse:
    return _response(url, 400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                     "application/x-amz-json-1.1")


def ec2_error(url: str, status: int, code: str, message: str) -> AWSResponse:
    return _response(
        url,
        status,
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        f"<RequestID>r</RequestID></Response>",
        "text/xml",
    )


def json_error(url: str, status: int, code: str, message: str) -> AWSResponse:
    return _response(url, status, json.dumps({"__type": code, "message": message}), "application/x-amz-json-1.1")


def sts_denied(url: str, role_arn: str) -> AWSResponse:
    return _response(
        url,
        403,
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        "<Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:user/moto is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn}</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        "text/xml",
    )


@dataclass
class Call:
    service: str
    op: str
    account: str | None  # None: a client of the base session
    region: str
    params: dict[str, Any]
    thread: str
    url: str


Fault = Callable[[Call], "AWSResponse | None"]


class Hooks:
    SSM_PAGE = 2  # the stub pages by 2 whatever MaxResults says (AWS may return fewer than asked)

    def __init__(self, moto_estate: Estate) -> None:
        self.moto_estate = moto_estate
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.clients: list[tuple[str, str | None, str]] = []  # (service, account, region) of every client made
        self._lock = threading.Lock()

    def install(self, client: Any, account: str | None) -> None:
        region = client.meta.region_name
        with self._lock:
            self.clients.append((client.meta.service_model.service_name, account, region))

        def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
            _, service, op = event_name.split(".", 2)
            # a client every assumed role shares: the request is for the account its worker thread works for
            acct = aws_mod.current_account() if account == aws_mod.SHARED_CLIENT else account
            call = Call(service, op, acct, region, _params(request.body), threading.current_thread().name,
                        request.url)
            with self._lock:
                self.calls.append(call)
            for f in self.faults:
                r = f(call)
                if r is not None:
                    return r
            if service == "ssm" and op == "DescribeInstanceInformation":
                return self._ssm(call)
            return None

        client.meta.events.register("before-send", before_send)

    def _ssm(self, call: Call) -> AWSResponse:
        items = self.moto_estate.ssm.get((call.account or ACCT_A, call.region), [])
        start = int(call.params.get("NextToken") or 0)
        page: dict[str, Any] = {"InstanceInformationList": items[start : start + self.SSM_PAGE]}
        if start + self.SSM_PAGE < len(items):
            page["NextToken"] = str(start + self.SSM_PAGE)
        return _response(call.url, 200, json.dumps(page), "application/x-amz-json-1.1")

    def count(self, service: str, op: str, **where: Any) -> int:
        return sum(
            1
            for c in self.calls
            if c.service == service and c.op == op and all(getattr(c, k) == v for k, v in where.items())
        )


def _params(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return {}
    if isinstance(body, str) and body.lstrip().startswith("{"):
        return json.loads(body)
    return {k: v[0] for k, v in parse_qs(str(body)).items()}


@pytest.fixture
def hooks(moto_estate: Estate) -> Hooks:
    return Hooks(moto_estate)


@pytest.fixture
async def make_source(moto_estate: Estate, hooks: Hooks):
    made: list[AwsSource] = []

    def make(**overrides: Any) -> AwsSource:
        s = AwsSettings(endpoint_url=moto_estate.url, region="us-east-1", max_workers=4, max_attempts=2, timeout_s=10)
        src = AwsSource(replace(s, **overrides), on_client=hooks.install)
        made.append(src)
        return src

    yield make
    for s in made:
        await s.aclose()


def _by_id(items: Any) -> dict[str, Any]:
    return {i.instance_id: i for i in items}


def _check_region(est: Estate, inv: Any, acct: str, region: str) -> None:
    got = _by_id(i for i in inv.instances if i.region == region)
    want = est.ec2[(acct, region)]
    assert set(got) == set(want), (acct, region)
    for iid, (state, platform, name) in want.items():
        i = got[iid]
        assert (i.account_id, i.state, i.platform, i.name) == (acct, state, platform, name)


# --------------------------------------------------------------------------------------------------------------------
# inventory


async def test_inventory_two_accounts_several_regions(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    src = make_source()
    inv = await src.inventory({ACCT_A: ["us-east-1", "eu-west-1"],
                               ACCT_B: ["us-east-1", "eu-west-1", "ap-southeast-2"]})
    assert set(inv) == {ACCT_A, ACCT_B}

    a, b = inv[ACCT_A], inv[ACCT_B]
    for x in (a, b):
        assert x.readable and x.error is None and x.error_kind is None and dict(x.failed_regions) == {}
    assert a.regions == ("us-east-1", "eu-west-1")
    assert b.regions == ("us-east-1", "eu-west-1", "ap-southeast-2")

    for region in ("us-east-1", "eu-west-1"):
        _check_region(moto_estate, a, ACCT_A, region)
        _check_region(moto_estate, b, ACCT_B, region)
    assert len(a.instances) == 7 and len(b.instances) == 4
    assert not [i for i in b.instances if i.region == "ap-southeast-2"]
    assert not moto_estate.terminated & {i.instance_id for i in a.instances}
    assert sorted(i.platform for i in a.instances if i.region == "us-east-1") == ["linux"] * 5 + ["windows"]

    # SSM: every record of the stub, across pages, attributed to its account and region.
    ssm_a = _by_id(a.ssm)
    assert set(ssm_a) == {x["InstanceId"] for k, v in moto_estate.ssm.items() if k[0] == ACCT_A for x in v}
    assert "mi-0123456789abcdef0" in ssm_a
    first = list(moto_estate.ec2[(ACCT_A, "us-east-1")])[0]
    s = ssm_a[first]
    assert (s.account_id, s.region, s.ping_status, s.platform_type, s.agent_version) == (
        ACCT_A, "us-east-1", "Online", "Linux", "3.3.40.0")
    assert s.last_ping == datetime(2026, 11, 29, 11, 59, tzinfo=timezone.utc)
    # botocore parsed these with dateutil's tzlocal(); the core hands on plain UTC
    assert s.last_ping.tzinfo is timezone.utc
    assert {i.launch_time.tzinfo for i in a.instances if i.launch_time} == {timezone.utc}
    assert {x.ping_status for x in a.ssm} == {"Online", "ConnectionLost", "Inactive"}
    assert {(x.region, x.platform_type) for x in b.ssm} == {("eu-west-1", "Linux"), ("eu-west-1", "Windows")}

    # 5 records paged by 2 -> 3 requests; the account B was reached by assuming the default role.
    assert hooks.count("ssm", "DescribeInstanceInformation", account=ACCT_A, region="us-east-1") == 3
    assert {c.params.get("MaxResults") for c in hooks.calls if c.op == "DescribeInstanceInformation"} == {50}
    assumed = [c.params["RoleArn"] for c in hooks.calls if c.op == "AssumeRole"]
    assert assumed == [f"arn:aws:iam::{ACCT_B}:role/{DEFAULT_ROLE}"]
    # No server-side platform filter (moto 500s on it); terminated excluded by state.
    for c in hooks.calls:
        if c.op == "DescribeInstances":
            assert "platform" not in " ".join(str(v) for v in c.params.values())
    # Bounded fan-out: never more worker threads than max_workers.
    workers = {c.thread for c in hooks.calls}
    assert 1 <= len(workers) <= 4 and all(t.startswith("mdc-aws") for t in workers)


async def test_assumed_roles_share_one_client_per_service_and_region(moto_estate: Estate, hooks: Hooks) -> None:
    """Every assumed role shares one client per service and region (creating one costs ~6 ms of CPU, one per
    account x service x region was thousands); each request is signed with its own account's keys (moto maps the
    access key to the account: a request signed with the other account's keys would read that account's
    instances). Clients of one service share one class (botocore builds a class per client: ~1 MB, ~25 ms)."""
    made: list[Any] = []
    signed: list[tuple[str | None, str]] = []  # (account the worker works for, access key in the signature)

    def on_client(c: Any, acct: str | None) -> None:
        hooks.install(c, acct)
        made.append((c, acct))
        if acct == aws_mod.SHARED_CLIENT:
            def after_sign(request: Any, **_: Any) -> None:
                auth = request.headers.get("Authorization", b"")
                auth = auth.decode() if isinstance(auth, bytes) else str(auth)
                signed.append((aws_mod.current_account(), auth.split("Credential=", 1)[1].split("/", 1)[0]))

            c.meta.events.register("before-send", after_sign)

    s = AwsSettings(endpoint_url=moto_estate.url, region="us-east-1", max_workers=4, max_attempts=2, timeout_s=10)
    src = AwsSource(s, on_client=on_client)
    try:
        for _ in range(2):  # a second refresh reuses the clients
            inv = await src.inventory({ACCT_A: ["us-east-1", "eu-west-1"],
                                       ACCT_B: ["us-east-1", "eu-west-1", "ap-southeast-2"],
                                       ACCT_C: ["us-east-1", "eu-west-1"]})
            assert all(x.readable and x.failed_regions == {} for x in inv.values())
            for (acct, region) in moto_estate.ec2:  # every account reads its own instances through the shared client
                _check_region(moto_estate, inv[acct], acct, region)
            assert len(inv[ACCT_A].instances) == 7 and len(inv[ACCT_B].instances) == 4
            assert len(inv[ACCT_C].instances) == 1
            assert {x.instance_id for x in inv[ACCT_B].ssm} == {
                x["InstanceId"] for x in moto_estate.ssm[(ACCT_B, "eu-west-1")]}
    finally:
        await src.aclose()
    ec2 = [(c, acct) for c, acct in made if c.meta.service_model.service_name == "ec2"]
    shared = [c for c, acct in ec2 if acct == aws_mod.SHARED_CLIENT]
    # B and C in three regions: one shared client per region, not one per account and region
    assert sorted(c.meta.region_name for c in shared) == ["ap-southeast-2", "eu-west-1", "us-east-1"]
    assert {c.account for c in hooks.calls if c.op == "DescribeInstances" and c.region == "us-east-1"} == {
        ACCT_A, ACCT_B, ACCT_C}
    # each account's requests carry one access key of its own (its assumed role's), never another account's
    keys: dict[str | None, set[str]] = {}
    for who, key in signed:
        keys.setdefault(who, set()).add(key)
    assert set(keys) == {ACCT_B, ACCT_C} and all(len(k) == 1 for k in keys.values())
    assert not keys[ACCT_B] & keys[ACCT_C]
    assert len({type(c) for c in shared}) == 1  # one session (every assumed role), one class
    assert len({type(c) for c, _ in ec2}) <= 2  # and one more for the base credentials' session


async def test_ec2_pagination(moto_estate: Estate, hooks: Hooks, make_source, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_mod, "EC2_PAGE_SIZE", 5)  # moto pages by reservation: 6 live single-instance ones
    inv = await make_source().inventory({ACCT_A: ["us-east-1"]})
    _check_region(moto_estate, inv[ACCT_A], ACCT_A, "us-east-1")
    pages = [c for c in hooks.calls if c.op == "DescribeInstances"]
    assert len(pages) == 2 and pages[0].params["MaxResults"] == "5" and "NextToken" in pages[1].params


async def test_regions_from_describe_regions_when_none_given(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    def regions(call: Call) -> AWSResponse | None:
        if call.op != "DescribeRegions":
            return None
        items = "".join(
            f"<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com</regionEndpoint>"
            f"<optInStatus>{o}</optInStatus></item>"
            for r, o in (("us-east-1", "opt-in-not-required"), ("eu-west-1", "opt-in-not-required"),
                         ("me-south-1", "not-opted-in"))
        )
        return _response(call.url, 200, f"<DescribeRegionsResponse><requestId>r</requestId><regionInfo>{items}"
                                        "</regionInfo></DescribeRegionsResponse>", "text/xml")

    hooks.faults.append(regions)
    inv = await make_source().inventory({ACCT_B: []})
    b = inv[ACCT_B]
    assert b.readable and b.regions == ("eu-west-1", "us-east-1")
    assert len(b.instances) == 4
    assert hooks.count("ec2", "DescribeRegions", account=ACCT_B, region="us-east-1") == 1


async def test_describe_regions_against_moto(make_source) -> None:
    src = make_source()
    regions = await src._run(src._regions, await src._run(src._access, ACCT_A))
    assert "us-east-1" in regions and "eu-west-1" in regions and regions == sorted(regions)


async def test_role_arn_external_id_and_overrides(hooks: Hooks, make_source) -> None:
    custom = f"arn:aws:iam::{ACCT_B}:role/MdcReader"
    src = make_source(external_id="ext-123", account_roles={ACCT_B: custom}, assume_role_name="Other")
    inv = await src.inventory({ACCT_A: ["eu-west-1"], ACCT_B: ["us-east-1"], ACCT_C: ["us-east-1"]})
    assert all(x.readable for x in inv.values())
    calls = sorted((c.params["RoleArn"], c.params["RoleSessionName"], c.params["ExternalId"])
                   for c in hooks.calls if c.op == "AssumeRole")
    assert calls == [(custom, "mdc-aws", "ext-123"), (f"arn:aws:iam::{ACCT_C}:role/Other", "mdc-aws", "ext-123")]
    # The caller's own account uses the base credentials.
    assert [i.name for i in inv[ACCT_A].instances] == ["sql-1"]
    assert [i.name for i in inv[ACCT_C].instances] == ["c-win"]


async def test_bad_account_roles_entries(make_source) -> None:
    src = make_source(account_roles={ACCT_B: "OrganizationAccountAccessRole", ACCT_C: f"arn:aws:iam::{ACCT_B}:role/X"})
    inv = await src.inventory({ACCT_B: ["us-east-1"], ACCT_C: ["us-east-1"], "12345": ["us-east-1"]})
    assert not inv[ACCT_B].readable and "not an IAM role ARN" in inv[ACCT_B].error
    assert not inv[ACCT_C].readable and f"role in account {ACCT_B}" in inv[ACCT_C].error
    assert inv["12345"].error_kind == "usage" and "12 digits" in inv["12345"].error


async def test_assumed_credentials_cached_until_near_expiry(hooks: Hooks, make_source) -> None:
    src = make_source()
    for _ in range(2):
        inv = await src.inventory({ACCT_B: ["us-east-1"]})
        assert inv[ACCT_B].readable
    assert hooks.count("sts", "AssumeRole") == 1
    assert hooks.count("ssm", "DescribeInstanceInformation") == 2
    # clients are cached across refreshes (an assumed role's are the ones every assumed role shares)
    assert sorted(hooks.clients) == [("ec2", aws_mod.SHARED_CLIENT, "us-east-1"),
                                     ("ssm", aws_mod.SHARED_CLIENT, "us-east-1"), ("sts", None, "us-east-1")]

    later = datetime.now(timezone.utc) + timedelta(minutes=58)  # moto's credentials last an hour
    src._now = lambda: later
    inv = await src.inventory({ACCT_B: ["us-east-1"]})
    assert inv[ACCT_B].readable and len(inv[ACCT_B].instances) == 1
    assert hooks.count("sts", "AssumeRole") == 2


async def test_account_through_profile(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    src = make_source(account_profiles={ACCT_C: "acct-c"})
    inv = await src.inventory({ACCT_C: ["us-east-1"]})
    c = inv[ACCT_C]
    assert c.readable
    _check_region(moto_estate, c, ACCT_C, "us-east-1")
    assert hooks.count("sts", "AssumeRole") == 0
    assert hooks.count("sts", "GetCallerIdentity", account=ACCT_C) == 1  # the profile is checked to be that account


async def test_profile_of_another_account(make_source) -> None:
    inv = await make_source(account_profiles={ACCT_B: "acct-c"}).inventory({ACCT_B: ["us-east-1"]})
    b = inv[ACCT_B]
    assert not b.readable and b.error_kind == "usage"
    assert f"signs in to account {ACCT_C}, not {ACCT_B}" in b.error and "aws.account_profiles" in b.error


async def test_missing_profile_makes_only_that_account_unreadable(make_source) -> None:
    inv = await make_source(account_profiles={ACCT_B: "nope"}).inventory(
        {ACCT_A: ["us-east-1"], ACCT_B: ["us-east-1"]})
    assert inv[ACCT_A].readable and len(inv[ACCT_A].instances) == 6
    b = inv[ACCT_B]
    assert not b.readable and b.error_kind == "auth" and b.instances == () and b.ssm == ()
    assert "'nope' not found" in b.error and "aws configure sso --profile nope" in b.error
    assert "\n" not in b.error


async def test_assume_role_denied(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    def deny(call: Call) -> AWSResponse | None:
        if call.op == "AssumeRole" and f"::{ACCT_B}:" in call.params.get("RoleArn", ""):
            return sts_denied(call.url, call.params["RoleArn"])
        return None

    hooks.faults.append(deny)
    inv = await make_source().inventory({ACCT_A: ["us-east-1"], ACCT_B: ["us-east-1"], ACCT_C: ["us-east-1"]})
    b = inv[ACCT_B]
    assert not b.readable and b.error_kind == "auth"
    assert b.instances == () and b.ssm == ()  # unknown, not a made-up 0
    role = f"arn:aws:iam::{ACCT_B}:role/{DEFAULT_ROLE}"
    assert f"grant sts:AssumeRole on {role} to arn:aws:sts::{ACCT_A}:user/moto" in b.error
    assert f"aws.account_roles/account_profiles for {ACCT_B} in config" in b.error
    assert inv[ACCT_A].readable and inv[ACCT_C].readable
    _check_region(moto_estate, inv[ACCT_C], ACCT_C, "us-east-1")
    assert hooks.count("sts", "AssumeRole") == 2  # AccessDenied is not retried
    # A denied role does not throw away the base session: one STS client for the whole source.
    assert [c for c in hooks.clients if c[0] == "sts" and c[1] is None] == [("sts", None, "us-east-1")]


async def test_throttled_region_fails_alone_after_retries(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    ssm_throttles = {"left": 1}

    def faults(call: Call) -> AWSResponse | None:
        if call.op == "DescribeInstances" and call.account == ACCT_A and call.region == "eu-west-1":
            return throttled_ec2(call.url)
        if call.op == "DescribeInstanceInformation" and call.region == "us-east-1" and ssm_throttles["left"]:
            ssm_throttles["left"] -= 1
            return throttled_json(call.url)
        return None

    hooks.faults.append(faults)
    inv = await make_source().inventory({ACCT_A: ["us-east-1", "eu-west-1"]})
    a = inv[ACCT_A]
    assert a.readable and a.error is None
    assert set(a.failed_regions) == {"eu-west-1"}
    msg = a.failed_regions["eu-west-1"]
    assert "throttled ec2:DescribeInstances" in msg and "RequestLimitExceeded after 2 attempts" in msg
    assert hooks.count("ec2", "DescribeInstances", region="eu-west-1") == 2  # total_max_attempts
    # The failed region contributes nothing; the throttled-once SSM call was retried and succeeded.
    assert {i.region for i in a.instances} == {"us-east-1"} and {s.region for s in a.ssm} == {"us-east-1"}
    _check_region(moto_estate, a, ACCT_A, "us-east-1")
    assert len(a.ssm) == 5


async def test_throttled_everywhere_is_unreadable_with_kind(hooks: Hooks, make_source) -> None:
    hooks.faults.append(lambda c: throttled_json(c.url) if c.op == "DescribeInstanceInformation" else None)
    inv = await make_source(max_attempts=1).inventory({ACCT_B: ["us-east-1", "eu-west-1"]})
    b = inv[ACCT_B]
    assert not b.readable and b.error_kind == "throttled" and "throttled" in b.error
    assert set(b.failed_regions) == {"us-east-1", "eu-west-1"}
    assert b.regions == ("us-east-1", "eu-west-1") and b.instances == ()


async def test_region_server_error_and_denied_ssm(hooks: Hooks, make_source) -> None:
    def faults(call: Call) -> AWSResponse | None:
        if call.account == ACCT_B and call.region == "eu-west-1" and call.op == "DescribeInstanceInformation":
            return json_error(call.url, 500, "InternalServerError", "boom")
        if call.account == ACCT_B and call.region == "us-east-1" and call.op == "DescribeInstanceInformation":
            return json_error(call.url, 400, "AccessDeniedException", "not authorized")
        return None

    hooks.faults.append(faults)
    inv = await make_source().inventory({ACCT_B: ["us-east-1", "eu-west-1", "ap-southeast-2"]})
    b = inv[ACCT_B]
    assert b.readable and b.regions == ("us-east-1", "eu-west-1", "ap-southeast-2")
    assert set(b.failed_regions) == {"us-east-1", "eu-west-1"}
    assert "HTTP 500" in b.failed_regions["eu-west-1"] and "--aws-endpoint-url" in b.failed_regions["eu-west-1"]
    assert "grant ssm:DescribeInstanceInformation" in b.failed_regions["us-east-1"]
    assert b.instances == () and b.ssm == ()  # ap-southeast-2 is empty, the other two unknown


async def test_every_region_denied_makes_account_unreadable(hooks: Hooks, make_source) -> None:
    def deny(call: Call) -> AWSResponse | None:
        if call.account == ACCT_B and call.op == "DescribeInstances":
            return ec2_error(call.url, 403, "UnauthorizedOperation",
                             "You are not authorized to perform this operation.")
        return None

    hooks.faults.append(deny)
    inv = await make_source().inventory({ACCT_A: ["eu-west-1"], ACCT_B: ["us-east-1", "eu-west-1"]})
    b = inv[ACCT_B]
    assert not b.readable and b.error_kind == "auth"
    assert "grant ec2:DescribeInstances" in b.error and f"role arn:aws:iam::{ACCT_B}:role/" in b.error
    assert set(b.failed_regions) == {"us-east-1", "eu-west-1"}
    assert inv[ACCT_A].readable


async def test_unreachable_endpoint(make_source) -> None:
    src = make_source(endpoint_url="http://127.0.0.1:9", max_attempts=1, timeout_s=2)
    inv = await src.inventory({ACCT_A: ["us-east-1"], ACCT_B: ["us-east-1"]})
    for x in inv.values():
        assert not x.readable and x.error_kind == "network"
        assert "cannot reach http://127.0.0.1:9" in x.error and "check --aws-endpoint-url" in x.error
    with pytest.raises(SourceError) as ei:
        await src.caller_identity_async()
    assert ei.value.kind == "network"


async def test_base_profile_missing(make_source) -> None:
    src = make_source(profile="ghost")
    with pytest.raises(AuthError, match="'ghost' not found.*aws configure sso --profile ghost"):
        await src.caller_identity_async()
    inv = await src.inventory({ACCT_A: ["us-east-1"]})
    assert not inv[ACCT_A].readable and inv[ACCT_A].error_kind == "auth"
    # An account with its own profile does not need the base credentials.
    src2 = make_source(profile="ghost", account_profiles={ACCT_C: "acct-c"})
    assert (await src2.inventory({ACCT_C: ["us-east-1"]}))[ACCT_C].readable


async def test_caller_identity(make_source) -> None:
    src = make_source()
    acct, arn = await src.caller_identity_async()
    assert acct == ACCT_A and arn.startswith(f"arn:aws:sts::{ACCT_A}:")
    assert await asyncio.to_thread(src.caller_identity) == (acct, arn)


async def test_warm_readies_the_identity_once_and_caches_no_failure(hooks: Hooks, make_source) -> None:
    """AwsSource.warm (the one-shot runs it while Azure answers): one sts:GetCallerIdentity, then the accounts' way
    in needs none; a failure is not cached (the caller asks again and gets the error); nothing once closed."""
    src = make_source()
    assert await asyncio.to_thread(src.warm) is True
    assert hooks.count("sts", "GetCallerIdentity") == 1
    inv = await src.inventory({ACCT_A: ["us-east-1"], ACCT_B: ["us-east-1"]})
    assert inv[ACCT_A].readable and inv[ACCT_B].readable
    assert hooks.count("sts", "GetCallerIdentity") == 1  # warmed: not asked again

    bad = make_source(endpoint_url="http://127.0.0.1:9", max_attempts=1, timeout_s=2)
    assert await asyncio.to_thread(bad.warm) is False  # never raises
    with pytest.raises(SourceError) as ei:
        await bad.caller_identity_async()  # asked again, and says why
    assert ei.value.kind == "network"

    closed = make_source()
    await closed.aclose()
    before = len(hooks.calls)
    assert await asyncio.to_thread(closed.warm) is False
    assert len(hooks.calls) == before


async def test_organization_accounts(moto_estate: Estate, make_source) -> None:
    src = make_source(account_profiles={})
    assert await src.organization_accounts() == []  # no organization yet
    org = _client(moto_estate.url, "organizations", "us-east-1")
    org.create_organization(FeatureSet="ALL")
    made = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]["AccountId"]
    got = await src.organization_accounts()
    assert ACCT_A in got and made in got and got == sorted(got)
    # Another account (profile acct-c is account C, not the management account) gets [].
    assert await make_source(profile="acct-c").organization_accounts() == []


async def test_empty_request(make_source) -> None:
    assert await make_source().inventory({}) == {}


async def test_close(make_source) -> None:
    async with make_source() as src:
        assert (await src.inventory({ACCT_A: ["eu-west-1"]}))[ACCT_A].readable
    with pytest.raises(RuntimeError):
        await src.inventory({ACCT_A: ["eu-west-1"]})
    assert src._pool._shutdown


# --------------------------------------------------------------------------------------------------------------------
# error messages (no server)


def _client_error(code: str, status: int, op: str, retries: int = 0) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "msg\nsecond line"},
         "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries}},
        op,
    )


def test_error_messages() -> None:
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    src = AwsSource(AwsSettings(max_attempts=3))
    try:
        a = aws_mod._Access(account_id=ACCT_B, how="profile 'prod'", make_client=lambda *a, **k: None, profile="prod")
        e = src._err(_client_error("ExpiredToken", 400, "DescribeInstances"), "ec2:DescribeInstances",
                     account=ACCT_B, region="us-east-1", access=a)
        assert isinstance(e, AuthError) and "run `aws sso login --profile prod`" in str(e)
        e = src._err(_client_error("Throttling", 400, "AssumeRole", retries=2), "sts:AssumeRole", account=ACCT_B)
        assert e.kind == "throttled" and "after 3 attempts" in str(e)
        e = src._err(_client_error("OptInRequired", 401, "DescribeInstances"), "ec2:DescribeInstances",
                     account=ACCT_B, region="me-south-1")
        assert e.kind == "usage" and "region me-south-1 is not enabled" in str(e)
        e = src._err(bx.UnauthorizedSSOTokenError(), "sts:GetCallerIdentity", access=a)
        assert e.kind == "auth" and "aws sso login --profile prod" in str(e)
        e = src._err(bx.NoCredentialsError(), "sts:GetCallerIdentity")
        assert e.kind == "auth" and "aws configure" in str(e)
        e = src._err(bx.EndpointConnectionError(endpoint_url="https://sts.amazonaws.com"), "sts:GetCallerIdentity")
        assert e.kind == "network" and "HTTPS_PROXY" in str(e)
        e = src._err(ResponseParserError("bad xml"), "ec2:DescribeInstances", region="us-east-1")
        assert e.kind == "malformed"
        e = src._err(bx.ReadTimeoutError(endpoint_url="x"), "ec2:DescribeInstances")
        assert e.kind == "network" and "aws.timeout_s" in str(e)
        e = src._err(ValueError("weird"), "ec2:DescribeInstances")
        assert e.kind == "error" and "ValueError" in str(e)
        e = src._err(_client_error("Odd", 400, "X"), "ec2:X", account=ACCT_B, region="us-east-1")
        assert str(e) == f"ec2:X in account {ACCT_B} us-east-1 failed: Odd: msg second line"
    finally:
        src.close()


def test_boto3_is_imported_lazily() -> None:
    code = "import sys, tui.core.aws; sys.exit(1 if {'boto3', 'botocore'} & set(sys.modules) else 0)"
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0


# --------------------------------------------------------------------------------------------------------------------
# parsers never raise on malformed pages


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)
_str_ish = st.one_of(st.none(), st.text(max_size=6), st.integers(), st.just("windows"), st.just(" "), _json)
_tag = st.one_of(_json, st.fixed_dictionaries({"Key": st.one_of(st.just("Name"), _str_ish), "Value": _str_ish}))
_instance = st.one_of(
    _json,
    st.fixed_dictionaries(
        {},
        optional={
            "InstanceId": st.one_of(st.just("i-0abc"), _str_ish),
            "State": st.one_of(st.fixed_dictionaries({"Name": st.one_of(
                st.sampled_from(["running", "terminated", "Stopped"]), _str_ish)}), _json),
            "Platform": _str_ish,
            "PlatformDetails": _str_ish,
            "Tags": st.one_of(st.lists(_tag, max_size=3), _json),
        },
    ),
)
_ec2_page = st.one_of(
    _json,
    st.fixed_dictionaries({"Reservations": st.one_of(
        _json, st.lists(st.one_of(_json, st.fixed_dictionaries({"Instances": st.one_of(
            _json, st.lists(_instance, max_size=4))})), max_size=3))}),
)
_ts = st.one_of(
    _str_ish, st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**20), max_value=10**20),
    st.datetimes(), st.datetimes(timezones=st.just(timezone.utc)),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30)))),
    st.sampled_from(["2026-11-29T12:00:00Z", "2026-11-29T12:00:00", "2026-11-29T12:00:00+05:30", "not a date",
                     "9999-99-99"]),
)
_info = st.one_of(
    _json,
    st.fixed_dictionaries(
        {},
        optional={
            "InstanceId": st.one_of(st.just("i-0abc"), st.just("mi-0abc"), _str_ish),
            "PingStatus": _str_ish,
            "PlatformType": _str_ish,
            "AgentVersion": _str_ish,
            "LastPingDateTime": _ts,
        },
    ),
)
_ssm_page = st.one_of(_json, st.fixed_dictionaries({"InstanceInformationList": st.one_of(
    _json, st.lists(_info, max_size=5))}))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ec2_page)
def test_parse_instances_never_raises(page: Any) -> None:
    out = parse_instances(page, ACCT_A, "us-east-1")
    for i in out:
        assert isinstance(i, Ec2Instance) and isinstance(i.instance_id, str) and i.instance_id.strip()
        assert i.platform in ("windows", "linux") and i.state != "terminated"
        assert i.name is None or isinstance(i.name, str)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ssm_page)
def test_parse_instance_information_never_raises(page: Any) -> None:
    out = parse_instance_information(page, ACCT_A, "us-east-1")
    for s in out:
        assert isinstance(s, SsmInstance) and isinstance(s.instance_id, str) and isinstance(s.ping_status, str)
        # always UTC out (botocore's zone is dateutil's tzlocal(): it must not reach the history file)
        assert s.last_ping is None or s.last_ping.tzinfo is timezone.utc
        assert s.registered is None or s.registered.tzinfo is timezone.utc


def test_parsers_on_a_realistic_page() -> None:
    page = {
        "Reservations": [
            {"OwnerId": ACCT_A, "Instances": [
                {"InstanceId": "i-1", "State": {"Code": 16, "Name": "running"}, "Platform": "windows",
                 "Tags": [{"Key": "env", "Value": "p"}, {"Key": "Name", "Value": "dc01"}]},
                {"InstanceId": "i-2", "State": {"Code": 48, "Name": "terminated"}},
                {"InstanceId": "i-3", "State": {"Code": 80, "Name": "stopped"}, "PlatformDetails": "Linux/UNIX"},
                {"InstanceId": "i-4", "State": {"Name": "running"}, "PlatformDetails": "Windows with SQL Server Web"},
                {"State": {"Name": "running"}},
                "garbage",
            ]},
            None,
        ]
    }
    got = [(i.instance_id, i.state, i.platform, i.name) for i in parse_instances(page, ACCT_A, "us-east-1")]
    assert got == [("i-1", "running", "windows", "dc01"), ("i-3", "stopped", "linux", None),
                   ("i-4", "running", "windows", None)]
    info = parse_instance_information(
        {"InstanceInformationList": [{"InstanceId": "i-1", "PingStatus": "Online", "LastPingDateTime": 0},
                                     {"InstanceId": "i-3"}, {"PingStatus": "Online"}]}, ACCT_A, "us-east-1")
    assert [(s.instance_id, s.ping_status) for s in info] == [("i-1", "Online"), ("i-3", "Unknown")]
    assert info[0].last_ping == datetime(1970, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------------------------
# Issue 11: opt-in regions, private DNS names


def _auth_failure_in(acct: str, region: str, *, ssm_code: str = "InvalidClientTokenId") -> Fault:
    """What a region the account has not enabled answers (AWS Knowledge Center iam-validate-access-credentials):
    EC2 AuthFailure (401), SSM an InvalidClientTokenId-style 4xx."""

    def fault(call: Call) -> AWSResponse | None:
        if call.account != acct or call.region != region:
            return None
        if call.op == "DescribeInstances":
            return ec2_error(call.url, 401, "AuthFailure", "AWS was not able to validate the provided access "
                                                           "credentials")
        if call.op == "DescribeInstanceInformation":
            return json_error(call.url, 400 if ssm_code == "UnrecognizedClientException" else 403, ssm_code,
                              "The security token included in the request is invalid.")
        return None

    return fault


async def test_opt_in_region_is_not_bad_credentials(moto_estate: Estate, hooks: Hooks, make_source) -> None:
    hooks.faults.append(_auth_failure_in(ACCT_A, "eu-west-1"))
    inv = await make_source().inventory({ACCT_A: ["us-east-1", "eu-west-1"]})
    a = inv[ACCT_A]
    assert a.readable and a.error is None
    assert set(a.failed_regions) == {"eu-west-1"}
    msg = a.failed_regions["eu-west-1"]
    assert msg.startswith("region not enabled (opt-in)") and "AuthFailure" in msg and "enable eu-west-1" in msg
    assert "rejected" not in msg and "check the keys" not in msg  # not the bad-credentials text
    _check_region(moto_estate, a, ACCT_A, "us-east-1")
    # derive shows it as the account's AWS error
    from tui.core import derive as d

    assert "eu-west-1: region not enabled (opt-in)" in d.funnel(ACCT_A, a, {}, arc_expected=False).aws_error


async def test_a_region_where_only_ssm_refuses_is_not_called_not_enabled(hooks: Hooks, make_source) -> None:
    def fault(call: Call) -> AWSResponse | None:
        if call.account == ACCT_B and call.region == "ap-southeast-2" and call.op == "DescribeInstanceInformation":
            return json_error(call.url, 400, "UnrecognizedClientException", "The security token is invalid.")
        return None

    hooks.faults.append(fault)
    b = (await make_source().inventory({ACCT_B: ["us-east-1", "ap-southeast-2"]}))[ACCT_B]
    # EC2 answered there, so the region is enabled: SSM's refusal is something else and says so
    assert b.readable and list(b.failed_regions) == ["ap-southeast-2"]
    assert "not enabled" not in b.failed_regions["ap-southeast-2"]
    assert "UnrecognizedClientException" in b.failed_regions["ap-southeast-2"]


async def test_every_region_auth_failure_stays_a_credentials_error(hooks: Hooks, make_source) -> None:
    for r in ("us-east-1", "eu-west-1"):
        hooks.faults.append(_auth_failure_in(ACCT_A, r))
    a = (await make_source().inventory({ACCT_A: ["us-east-1", "eu-west-1"]}))[ACCT_A]
    assert not a.readable and a.error_kind == "auth"
    assert "AuthFailure" in a.error and "rejected" in a.error and "opt-in" not in a.error
    assert all("opt-in" not in e for e in a.failed_regions.values())


def test_opt_in_errors_only_when_another_region_was_read() -> None:
    from botocore.exceptions import ClientError

    def err(code: str) -> SourceError:
        e = AuthError(f"AWS rejected the credentials ({code})")
        e.__cause__ = ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeInstances")
        return e

    failed = {"me-south-1": err("AuthFailure"), "eu-west-1": err("ExpiredToken")}
    got = aws_mod.opt_in_errors(failed, ["us-east-1", "me-south-1", "eu-west-1"], ACCT_A)
    assert str(got["me-south-1"]).startswith(aws_mod.OPT_IN_TEXT) and got["me-south-1"].kind == "usage"
    assert got["eu-west-1"] is failed["eu-west-1"]  # another code: unchanged
    everywhere = aws_mod.opt_in_errors(failed, ["me-south-1", "eu-west-1"], ACCT_A)
    assert everywhere == failed  # no region read: the credentials may well be bad


async def test_private_dns_name_is_read(moto_estate: Estate, make_source) -> None:
    inv = await make_source().inventory({ACCT_A: ["us-east-1", "eu-west-1"]})
    names = {i.region: i.private_dns_name for i in inv[ACCT_A].instances if i.state == "running"}
    assert names["us-east-1"].startswith("ip-") and names["us-east-1"].endswith(".ec2.internal")
    assert names["eu-west-1"].endswith(".eu-west-1.compute.internal")
    [i] = parse_instances({"Reservations": [{"Instances": [
        {"InstanceId": "i-9", "State": {"Name": "running"}, "PrivateDnsName": " ip-10-0-1-5.ec2.internal "}]}]},
        ACCT_A, "us-east-1")
    assert i.private_dns_name == "ip-10-0-1-5.ec2.internal"
    [j] = parse_instances({"Reservations": [{"Instances": [{"InstanceId": "i-8", "PrivateDnsName": ""}]}]},
                          ACCT_A, "us-east-1")
    assert j.private_dns_name is None
