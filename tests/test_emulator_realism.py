"""Issue 15, point 1 (AWS): the emulated AWS answers with real latency and AWS's per-account rate limits when asked,
and not by default.

Most tests drive our WSGI layer (EmulatorApp) over a stub in place of moto, on the emulator's own threaded server
(aws.http_server), so they need no estate of their own; the account and region tests use the session estate with tiny
buckets for a moment (no latency), then put it back as it was."""
from __future__ import annotations

import json
import threading
import time
import types
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from tui.emulator import aws as aws_mod
from tui.emulator.aws import AwsEmulator, EmulatorApp, http_server
from tui.emulator.aws_ext import RATE_LIMITS, AwsRateLimits, RateLimit, latency_for, rate_family

ONE_TRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
DEFAULT_ACCOUNT = "123456789012"  # moto's account for the key "testing"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stub_moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Stands in for moto: every call that gets through answers 200."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


@pytest.fixture
def layer() -> Iterator[tuple[AwsEmulator, str]]:
    """Our WSGI layer over the stub, on the emulator's threaded server: (emulator, url)."""
    emu = AwsEmulator(types.SimpleNamespace(seed=7, aws_accounts=[]))
    server = http_server(EmulatorApp(emu, _stub_moto))
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield emu, f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _raw_call(url: str, service: str = "ec2", region: str = "us-east-1", action: str = "DescribeRegions") -> int:
    """A query-protocol call signed for (service, region) with the key "testing"; returns the HTTP status."""
    auth = (f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")
    req = urllib.request.Request(url + "/", data=f"Action={action}&Version=2016-11-15".encode(), method="POST",
                                 headers={"Authorization": auth,
                                          "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _client(service: str, url: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=ONE_TRY)


# ---- latency ----------------------------------------------------------------------------------------------------


def test_latency_is_deterministic_from_the_seed_and_within_the_jitter() -> None:
    delays = [latency_for(42, 150, 50, "a/r/ec2/DescribeInstances", n) for n in range(200)]
    assert delays == [latency_for(42, 150, 50, "a/r/ec2/DescribeInstances", n) for n in range(200)]
    assert all(100 <= d <= 200 for d in delays)
    assert len({round(d, 3) for d in delays}) > 150  # it does vary
    assert delays != [latency_for(43, 150, 50, "a/r/ec2/DescribeInstances", n) for n in range(200)]
    assert 140 < sum(delays) / len(delays) < 160  # centred on the latency asked for
    assert latency_for(42, 150, 0, "k", 3) == 150.0
    assert latency_for(42, 0, 0, "k", 3) == 0.0


def test_latency_is_applied_and_concurrent_calls_overlap(layer, monkeypatch) -> None:
    """N parallel calls are all inside their latency at the same moment (a barrier of N that a server handling one
    call at a time could never pass), and every call takes at least its own delay."""
    emu, url = layer
    emu.set_realism(latency_ms=200, jitter_ms=50)
    n = 8
    barrier = threading.Barrier(n, timeout=20)
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)
        barrier.wait()  # BrokenBarrierError (-> HTTP 500 -> the assertion below) unless all n are sleeping at once
        time.sleep(seconds)

    shim = types.SimpleNamespace(sleep=sleep, perf_counter=time.perf_counter, time=time.time,
                                 monotonic=time.monotonic)
    monkeypatch.setattr(aws_mod, "time", shim)
    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(lambda _: _raw_call(url), range(n)))
    assert statuses == [200] * n
    expected = sorted(latency_for(7, 200, 50, f"{DEFAULT_ACCOUNT}/us-east-1/ec2/DescribeRegions", i) / 1000
                      for i in range(n))
    assert sorted(slept) == pytest.approx(expected)
    records = emu.request_log
    assert len(records) == n and all(r.family == "ec2:DescribeRegions" for r in records)
    assert sorted(r.duration_ms for r in records)[0] >= min(expected) * 1000 - 1  # the delay really was served


# ---- rate limits: buckets ----------------------------------------------------------------------------------------


def test_a_bucket_drains_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    rl = AwsRateLimits(True, {"ec2:non-mutating": RateLimit(5, 2, "test")}, clock=clock)
    got = [rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1] for _ in range(7)]
    assert got == [True] * 5 + [False] * 2
    clock.now += 0.4  # 0.8 token: still nothing
    assert rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances") == ("ec2:DescribeInstances", False)
    clock.now += 0.1  # 1.0 token
    assert rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1] is True
    assert rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1] is False
    clock.now += 100  # refilled to its capacity, not beyond
    assert [rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1] for _ in range(6)] == \
        [True] * 5 + [False]
    snap = rl.snapshot()
    assert snap["requests"] == 16 and snap["throttled"] == 5
    assert snap["families"] == {"ec2:DescribeInstances": {"requests": 16, "throttled": 5}}


def test_buckets_are_per_account_region_and_family() -> None:
    clock = FakeClock()
    rl = AwsRateLimits(True, {"ec2:non-mutating": RateLimit(2, 1, "test"), "sts": RateLimit(2, 1, "test"),
                              "iam": RateLimit(2, 1, "test")}, clock=clock)
    for _ in range(2):
        assert rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1]
    assert not rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1]
    assert rl.take("222222222222", "us-east-1", "ec2", "DescribeInstances")[1]  # another account
    assert rl.take("111111111111", "eu-west-1", "ec2", "DescribeInstances")[1]  # another region
    assert rl.take("111111111111", "us-east-1", "ec2", "DescribeRegions")[1]  # EC2: each API its own bucket
    assert rl.take("111111111111", "us-east-1", "sts", "AssumeRole")[1]  # another service
    # IAM is global: its bucket is the account's whatever region the call was signed for
    assert rl.take("111111111111", "us-east-1", "iam", "GetRole")[1]
    assert rl.take("111111111111", "eu-west-1", "iam", "GetRole")[1]
    assert not rl.take("111111111111", "ap-south-1", "iam", "GetRole")[1]
    rows = {(b["account"], b["region"], b["family"]): b for b in rl.snapshot()["buckets"]}
    assert rows[("111111111111", "global", "iam")]["throttled"] == 1
    assert rows[("111111111111", "us-east-1", "ec2:DescribeInstances")] == {
        "account": "111111111111", "region": "us-east-1", "family": "ec2:DescribeInstances", "requests": 3,
        "throttled": 1}


def test_off_counts_but_never_throttles() -> None:
    rl = AwsRateLimits(False, {"ec2:non-mutating": RateLimit(1, 0.001, "test")}, clock=FakeClock())
    assert all(rl.take("111111111111", "us-east-1", "ec2", "DescribeInstances")[1] for _ in range(50))
    snap = rl.snapshot()
    assert (snap["enabled"], snap["requests"], snap["throttled"]) == (False, 50, 0)


def test_the_published_figures_and_families() -> None:
    assert (RATE_LIMITS["ec2:non-mutating"].capacity, RATE_LIMITS["ec2:non-mutating"].refill_per_s) == (100, 20)
    assert (RATE_LIMITS["sts"].capacity, RATE_LIMITS["sts"].refill_per_s) == (600, 600)
    assert all(v.source == "assumed" or v.source.startswith("https://") for v in RATE_LIMITS.values())
    assert rate_family("ec2", "DescribeInstances") == ("ec2:DescribeInstances", "ec2:non-mutating")
    assert rate_family("ec2", "RunInstances") == ("ec2:RunInstances", "ec2:mutating")
    assert rate_family("ssm", "GetParameters") == ("ssm:parameter-store", "ssm:parameter-store")
    assert rate_family("ssm", "DescribeInstanceInformation")[0] == "ssm:DescribeInstanceInformation"
    assert rate_family("sts", "GetCallerIdentity") == ("sts", "sts")
    assert rate_family("kms", "ListKeys") == ("kms", "default")


# ---- rate limits: the protocols' own throttling errors -------------------------------------------------------------


@pytest.mark.parametrize("service, call, status, code", [
    ("ec2", lambda c: c.describe_instances(), 503, "RequestLimitExceeded"),
    ("ssm", lambda c: c.describe_instance_information(), 400, "ThrottlingException"),
    ("sts", lambda c: c.get_caller_identity(), 400, "Throttling"),
    ("organizations", lambda c: c.list_accounts(), 400, "TooManyRequestsException"),
])
def test_a_drained_bucket_answers_the_protocols_throttling_error(layer, service, call, status, code) -> None:
    emu, url = layer
    emu.rate_limits = AwsRateLimits(True, {k: RateLimit(1, 0.001, "test") for k in RATE_LIMITS})
    action = {"ec2": "DescribeInstances", "ssm": "DescribeInstanceInformation", "sts": "GetCallerIdentity",
              "organizations": "ListAccounts"}[service]
    assert emu.rate_limits.take(DEFAULT_ACCOUNT, "us-east-1", service, action)[1]  # the bucket's only token
    with pytest.raises(ClientError) as err:
        call(_client(service, url))
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    rec = emu.request_log[-1]
    assert (rec.fault, rec.status, rec.action) == ("rate_limit", status, action)
    assert emu.realism()["families"][rate_family(service, action)[0]] == {"requests": 2, "throttled": 1}


def test_the_admin_route_sets_realism_and_reports_counters(layer) -> None:
    emu, url = layer

    def admin(method: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url + "/_emulator/realism", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status), json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read())

    status, body = admin("GET")
    assert status == 200 and (body["latency_ms"], body["enabled"], body["requests"]) == (0.0, False, 0)
    assert body["limits"]["ec2:non-mutating"]["capacity"] == 100
    status, body = admin("POST", {"rate_limits": True, "latency_ms": 5, "jitter_ms": 1})
    assert status == 200 and (body["latency_ms"], body["jitter_ms"], body["enabled"]) == (5.0, 1.0, True)
    assert _raw_call(url, "ec2", "eu-west-1") == 200
    body = admin("GET")[1]
    assert body["buckets"] == [{"account": DEFAULT_ACCOUNT, "region": "eu-west-1", "family": "ec2:DescribeRegions",
                                "requests": 1, "throttled": 0}]
    assert admin("POST", {"jitter_ms": 50})[0] == 400  # more jitter than latency: refused, and said why
    assert admin("POST", {"colour": "red"})[0] == 400
    assert admin("DELETE")[1]["requests"] == 0
    assert emu.info()["realism"] == {"latency_ms": 5.0, "jitter_ms": 1.0, "rate_limits": True}


# ---- the session estate: accounts from assumed-role credentials; off by default ---------------------------------


def test_the_session_estate_is_fast_and_unthrottled_by_default(estate) -> None:
    assert estate.info.aws_realism == {"latency_ms": 0.0, "jitter_ms": 0.0, "rate_limits": False}
    with urllib.request.urlopen(estate.info.admin["aws_realism"], timeout=10) as resp:
        before = json.loads(resp.read())
    assert (before["enabled"], before["latency_ms"], before["throttled"]) == (False, 0.0, 0)
    ec2 = boto3.client("ec2", config=ONE_TRY, **estate.aws.client_kwargs("us-east-1"))
    for _ in range(5):
        ec2.describe_regions()
    after = estate.aws.realism()
    assert after["requests"] >= before["requests"] + 5 and after["throttled"] == 0


@pytest.fixture
def tiny_buckets(estate) -> Iterator[AwsEmulator]:
    emu = estate.aws
    saved = emu.rate_limits
    emu.rate_limits = AwsRateLimits(True, {"ec2:non-mutating": RateLimit(2, 0.001, "test")})
    try:
        yield emu
    finally:
        emu.rate_limits = saved


def test_buckets_follow_the_account_of_assumed_role_credentials(estate, tiny_buckets) -> None:
    emu = tiny_buckets
    accounts = [a.account_id for a in estate.world.aws_accounts]
    sts = boto3.client("sts", config=ONE_TRY, **emu.client_kwargs(operator=True))

    def ec2_of(account: str, region: str) -> Any:
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                RoleSessionName="realism")["Credentials"]
        return boto3.client("ec2", endpoint_url=emu.url, region_name=region, config=ONE_TRY,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"])

    first = ec2_of(accounts[1], "us-east-1")
    first.describe_regions()
    first.describe_regions()
    with pytest.raises(ClientError) as err:
        first.describe_regions()
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    ec2_of(accounts[2], "us-east-1").describe_regions()  # another account: its own bucket
    ec2_of(accounts[1], "eu-west-1").describe_regions()  # the same account in another region: its own bucket
    rows = {(b["account"], b["region"]): b for b in emu.realism()["buckets"] if b["family"] == "ec2:DescribeRegions"}
    assert rows[(accounts[1], "us-east-1")]["throttled"] == 1
    assert rows[(accounts[2], "us-east-1")] == {"account": accounts[2], "region": "us-east-1",
                                                "family": "ec2:DescribeRegions", "requests": 1, "throttled": 0}
    assert rows[(accounts[1], "eu-west-1")]["throttled"] == 0
    throttled = [r for r in emu.request_log if r.fault == "rate_limit"]
    assert [(r.account, r.region, r.action) for r in throttled[-1:]] == [(accounts[1], "us-east-1", "DescribeRegions")]


# ---- flags ------------------------------------------------------------------------------------------------------


def test_the_flags_reach_the_estate(monkeypatch) -> None:
    from tui import cli
    from tui.emulator import __main__ as emu_main
    from tui.emulator import estate as estate_mod

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(estate_mod, "serve", lambda *a, **kw: seen.append(kw))
    emu_main.main(["serve", "--aws-latency-ms", "150", "--aws-jitter-ms", "50", "--aws-rate-limits"])
    assert seen[-1]["aws_latency_ms"] == 150 and seen[-1]["aws_jitter_ms"] == 50 and seen[-1]["aws_rate_limits"]
    res = CliRunner().invoke(cli.main, ["emulate", "--aws-latency-ms", "150", "--aws-rate-limits"])
    assert res.exit_code == 0, res.output
    assert (seen[-1]["aws_latency_ms"], seen[-1]["aws_jitter_ms"], seen[-1]["aws_rate_limits"]) == (150, 0, True)
    res = CliRunner().invoke(cli.main, ["emulate", "--aws-latency-ms", "10", "--aws-jitter-ms", "50"])
    assert res.exit_code == 2 and "--aws-jitter-ms" in res.output
    with pytest.raises(ValueError):
        estate_mod.Estate(aws_latency_ms=10, aws_jitter_ms=20)
