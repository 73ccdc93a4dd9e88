"""Microsoft's az CLI and the AWS CLI judge the emulated estate, as an operator would paste it.

The emulator and the core are both ours, so tests between them can share one misreading of the API; these clients
are independent. `mdc-aws emulate` runs in a child process exactly as an operator starts it; every environment
variable and setup command comes from what it prints. The answers are checked against `World(seed=42)` (the estate
runs with one-hour ticks, so it stays at tick 0 for the whole module).

The CLIs live in their own venv (`make clis`: azure-cli and awscli from PyPI, pinned in tests/clis-requirements.txt),
found at $MDC_AWS_CLI_VENV or .venv-clis. Missing CLIs fail the module under CI and skip it elsewhere.

Nothing leaves 127.0.0.1: every client runs with HTTP(S)_PROXY pointing at a trap on loopback (NO_PROXY=127.0.0.1),
and each command asserts that the trap saw no connection. az's own once-per-config-dir version check is the one
outbound call az makes on its own; it is pre-empted by seeding versionCheck.json (see the README).
"""
from __future__ import annotations

import base64
import datetime as _dt
import glob
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tui.emulator.world import World

REPO = Path(__file__).resolve().parents[1]
CLI_VENV = Path(os.environ.get("MDC_AWS_CLI_VENV") or REPO / ".venv-clis")
AZ, AWS = CLI_VENV / "bin" / "az", CLI_VENV / "bin" / "aws"
SEED = 42
CMD_TIMEOUT = 60

pytestmark = pytest.mark.timeout(150)


# ----------------------------------------------------------------------------------------------------------------
# a trap for any connection that is not to 127.0.0.1


class ProxyTrap:
    """An HTTP proxy on loopback that refuses everything and remembers what was asked for."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="proxy-trap", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                    self.seen.append(first)
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


# ----------------------------------------------------------------------------------------------------------------
# the estate, as `mdc-aws emulate` prints it


def parse_blocks(text: str) -> dict[str, dict[str, Any]]:
    """{"mdc-aws" | "az" | "aws": {"env": {...}, "commands": [[...], ...]}} from the printed instructions."""
    blocks: dict[str, dict[str, Any]] = {}
    cur: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        if not line.startswith(" "):
            key = ("mdc-aws" if line.startswith("mdc-aws,") else "az" if "az CLI" in line
                   else "aws" if "AWS CLI" in line else None)
            cur = blocks.setdefault(key, {"env": {}, "commands": []}) if key else None
            continue
        if cur is None or line.strip().startswith("#"):
            continue
        words = shlex.split(line)
        if words[0] == "export":
            k, _, v = words[1].partition("=")
            cur["env"][k] = v
        else:
            cur["commands"].append(words)
    return blocks


@pytest.fixture(scope="module")
def clis() -> None:
    missing = [str(p) for p in (AZ, AWS) if not p.exists()]
    if missing:
        msg = f"{', '.join(missing)} missing: run `make clis` (or point MDC_AWS_CLI_VENV at a venv with them)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def trap():
    t = ProxyTrap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def emulate(clis, tmp_path_factory):
    """`mdc-aws emulate` in a child process; yields (EstateInfo, printed text, parsed blocks)."""
    from tui.emulator.estate import EstateInfo

    tmp = tmp_path_factory.mktemp("emulate")
    ready, out = tmp / "ready.json", tmp / "stdout.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDC_AWS_", "AWS_", "AZURE_", "IDENTITY_"))}
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "emulate", "--seed", str(SEED),
                                 "--tick-seconds", "3600", "--ready-file", str(ready)],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (ready.exists() and "Ctrl-C stops the estate." in out.read_text(errors="replace")):
            assert proc.poll() is None, out.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "mdc-aws emulate did not come up in 90 s"
            time.sleep(0.1)
        text = out.read_text()
        yield EstateInfo.from_json(ready.read_text()), text, parse_blocks(text)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, scale="default")


def _az_versions() -> dict[str, dict[str, str]]:
    def version(dist: str) -> str:
        found = glob.glob(str(CLI_VENV / "lib" / "python3*" / "site-packages" / f"{dist}-*.dist-info"))
        assert found, f"{dist} is not installed in {CLI_VENV}"
        return Path(found[0]).name[len(dist) + 1:-len(".dist-info")]

    return {"azure-cli": {"local": version("azure_cli")}, "core": {"local": version("azure_cli_core")},
            "telemetry": {"local": version("azure_cli_telemetry")}}


def _seed_az_config(config_dir: str) -> None:
    """az checks once per config dir, online, for a newer az; tell it the check is done (not the estate's call)."""
    os.makedirs(config_dir, exist_ok=True)
    path = Path(config_dir, "versionCheck.json")
    if not path.exists():
        path.write_text(json.dumps({"versions": _az_versions(),
                                    "update_time": _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")}))


class Shell:
    """A clean environment (HOME of its own, no real credentials) plus pasted blocks; runs commands and checks
    that nothing tried to leave 127.0.0.1."""

    def __init__(self, trap: ProxyTrap, home: Path, *blocks: dict[str, str]) -> None:
        self.trap = trap
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                    "HTTP_PROXY": trap.url, "HTTPS_PROXY": trap.url, "http_proxy": trap.url,
                    "https_proxy": trap.url, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        for b in blocks:
            self.env.update(b)
        if "AZURE_CONFIG_DIR" in self.env:
            _seed_az_config(self.env["AZURE_CONFIG_DIR"])

    def run(self, argv: list[str], *, ok: bool = True, env: dict[str, str] | None = None,
            outbound: list[str] | None = None) -> subprocess.CompletedProcess:
        exe = {"az": str(AZ), "aws": str(AWS)}.get(argv[0], argv[0])
        before = len(self.trap.seen)
        r = subprocess.run([exe, *argv[1:]], env={**self.env, **(env or {})}, capture_output=True, text=True,
                           timeout=CMD_TIMEOUT, stdin=subprocess.DEVNULL)
        seen = [line.rsplit(" HTTP/", 1)[0] for line in self.trap.seen[before:]]
        assert seen == (outbound or []), f"{argv[:3]} tried to leave 127.0.0.1: {seen}"
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        if ok:
            assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stderr[-3000:]}"
        return r

    def json(self, argv: list[str]) -> Any:
        return json.loads(self.run([*argv, "--output", "json"] if argv[0] == "az" else argv).stdout)


@pytest.fixture(scope="module")
def az(emulate, trap, tmp_path_factory) -> Shell:
    """The az block pasted and its setup lines run: cloud registered and set, signed in with the managed identity."""
    info, _, blocks = emulate
    sh = Shell(trap, tmp_path_factory.mktemp("home-az"), blocks["az"]["env"])
    setup = [c for c in blocks["az"]["commands"] if c[:2] in (["az", "cloud"], ["az", "login"])]
    assert setup == info.az_setup()
    for cmd in setup[:-1]:
        sh.run(cmd)
    sh.login = json.loads(sh.run(setup[-1]).stdout)  # type: ignore[attr-defined]
    return sh


def claims(token: str) -> dict:
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def health(info) -> dict:
    return requests.get(info.admin["arm"] + "/health", verify=info.ca_pem, timeout=10).json()


# ----------------------------------------------------------------------------------------------------------------
# az


def test_printed_environment_is_complete(emulate) -> None:
    info, text, blocks = emulate
    assert set(blocks) == {"mdc-aws", "az", "aws"}, text
    assert blocks["mdc-aws"]["env"] == info.identity_env()
    assert blocks["az"]["env"] == info.az_env() and blocks["aws"]["env"] == info.aws_env()
    for k in ("REQUESTS_CA_BUNDLE", "AZURE_CONFIG_DIR", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        assert blocks["az"]["env"][k]
    assert blocks["az"]["env"]["AZURE_CONFIG_DIR"] != str(Path.home() / ".azure")
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert blocks["aws"]["env"][k]
    assert "MDC_AWS_ACCESS_TOKEN" not in blocks["mdc-aws"]["env"]


def test_the_trap_sees_what_would_leave_127_0_0_1(trap, tmp_path) -> None:
    """The no-network assertions are only as good as the trap: the clients' HTTP stacks do go through it."""
    sh = Shell(trap, tmp_path)
    probe = "import requests\ntry: requests.head('https://example.invalid/', timeout=5)\nexcept Exception: pass"
    sh.run([str(CLI_VENV / "bin" / "python"), "-c", probe], outbound=["CONNECT example.invalid:443"])
    keys = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1"}
    r = sh.run(["aws", "sts", "get-caller-identity", "--endpoint-url", "https://example.invalid",
                "--cli-connect-timeout", "5"], ok=False, env=keys, outbound=["CONNECT example.invalid:443"])
    assert r.returncode != 0


def test_az_login_identity_finds_the_worlds_subscriptions(az, emulate, world) -> None:
    info = emulate[0]
    want = [(s.subscription_id, s.display_name, s.state) for s in world.subscriptions]
    for accounts in (az.login, az.json(["az", "account", "list"])):
        assert [(a["id"], a["name"], a["state"]) for a in accounts] == want
        assert {a["tenantId"] for a in accounts} == {world.tenant_id}  # the tenant az signed in to
        # the subscription's own tenant: the partner's for the one delegated through Azure Lighthouse
        assert {a["id"]: a["homeTenantId"] for a in accounts} == {
            s.subscription_id: world.subscription_tenant(s.subscription_id) for s in world.subscriptions}
        assert {a["id"]: [t["tenantId"] for t in a["managedByTenants"]] for a in accounts} == {
            s.subscription_id: world.managed_by_tenants(s.subscription_id) for s in world.subscriptions}
        assert {a.get("cloudName") or a.get("environmentName") for a in accounts} == {info.cloud_name}
        assert {(a["user"]["name"], a["user"]["type"]) for a in accounts} == {("systemAssignedIdentity",
                                                                                "servicePrincipal")}
    assert az.json(["az", "account", "show"])["id"] == world.subscriptions[0].subscription_id
    cloud = az.json(["az", "cloud", "show"])
    assert cloud["isActive"] and cloud["endpoints"]["resourceManager"] == info.arm_url
    assert cloud["endpoints"]["activeDirectoryResourceId"] == "https://management.core.windows.net/"


def test_every_printed_command_runs(az, emulate, trap, tmp_path) -> None:
    """What `mdc-aws emulate` suggests after the setup lines works as printed (and stays on 127.0.0.1)."""
    _, _, blocks = emulate
    rest = [c for c in blocks["az"]["commands"] if c not in blocks["az"]["commands"][:3]]
    assert rest and all(c[0] == "az" for c in rest)
    for cmd in rest:
        assert az.run(cmd).stdout.strip(), cmd
    aws = Shell(trap, tmp_path, blocks["aws"]["env"])
    assert blocks["aws"]["commands"]
    for cmd in blocks["aws"]["commands"]:
        assert aws.run(cmd).stdout.strip(), cmd


def test_az_cloud_register_accepts_a_trailing_slash(emulate, trap, tmp_path) -> None:
    info, _, blocks = emulate
    sh = Shell(trap, tmp_path, blocks["az"]["env"], {"AZURE_CONFIG_DIR": str(tmp_path / "azure")})
    sh.run(["az", "cloud", "register", "--name", "Slash", "--endpoint-resource-manager", info.arm_url + "/"])
    shown = sh.json(["az", "cloud", "show", "--name", "Slash"])
    assert shown["endpoints"]["resourceManager"] == info.arm_url + "/"
    assert shown["endpoints"]["activeDirectory"] == "https://login.microsoftonline.com"


def test_az_access_token_is_a_jwt_the_estate_accepts(az, emulate, world) -> None:
    info = emulate[0]
    tok = az.json(["az", "account", "get-access-token"])
    c = claims(tok["accessToken"])
    assert c["tid"] == world.tenant_id == tok["tenant"] and c["aud"] == "https://management.core.windows.net/"
    assert c["iss"] == f"https://sts.windows.net/{world.tenant_id}/" and c["oid"] and c["appid"]
    assert c["exp"] == tok["expires_on"] and c["exp"] > time.time() + 3600
    # the token works as MDC_AWS_ACCESS_TOKEN would send it; a Microsoft Graph token does not
    r = requests.get(f"{info.arm_url}/subscriptions?api-version=2022-12-01", verify=info.ca_pem, timeout=10,
                     headers={"Authorization": f"Bearer {tok['accessToken']}"})
    assert r.status_code == 200 and len(r.json()["value"]) == len(world.subscriptions)
    graph = az.json(["az", "account", "get-access-token", "--resource", "https://graph.microsoft.com"])
    assert claims(graph["accessToken"])["aud"] == "https://graph.microsoft.com"
    r = requests.get(f"{info.arm_url}/subscriptions?api-version=2022-12-01", verify=info.ca_pem, timeout=10,
                     headers={"Authorization": f"Bearer {graph['accessToken']}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_az_rest_resource_graph_and_tenants(az, emulate, world) -> None:
    info = emulate[0]
    url = f"{info.arm_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    body = json.dumps({"query": "securityresources | summarize n = count() by type | order by type asc"})
    got = az.json(["az", "rest", "--method", "post", "--url", url, "--body", body])
    tables = world.arg_tables()
    want: dict[str, int] = {}
    for row in tables["securityresources"]:
        want[row["type"]] = want.get(row["type"], 0) + 1
    assert {r["type"]: r["n"] for r in got["data"]} == want and got["resultTruncated"] == "false"

    subs_q = json.dumps({"query": "resourcecontainers | where type == 'microsoft.resources/subscriptions' "
                                  "| project subscriptionId, name | order by subscriptionId asc"})
    rows = az.json(["az", "rest", "--method", "post", "--url", url, "--body", subs_q])["data"]
    assert rows == sorted(({"subscriptionId": s.subscription_id, "name": s.display_name}
                           for s in world.subscriptions), key=lambda r: r["subscriptionId"])

    tenants = az.json(["az", "rest", "--url", f"{info.arm_url}/tenants?api-version=2022-12-01"])["value"]
    assert [t["tenantId"] for t in tenants] == [world.tenant_id, world.partner_tenant_id]

    # `az graph query` is an extension az would download: offline it is simply not there, and az asks no one
    r = az.run(["az", "graph", "query", "-q", "resources | count"], ok=False)
    assert r.returncode != 0 and "'graph' is misspelled or not recognized" in r.stderr

    # a token for another audience: ARM's 401, which az reports with ARM's error code
    r = az.run(["az", "rest", "--url", f"{info.arm_url}/subscriptions?api-version=2022-12-01",
                "--resource", "https://graph.microsoft.com"], ok=False)
    assert r.returncode != 0 and "InvalidAuthenticationTokenAudience" in r.stderr


def test_az_security_pricings_and_connectors(az, world) -> None:
    sub = world.subscriptions[0].subscription_id
    plans = az.json(["az", "security", "pricing", "list"])["value"]
    stored = next(v for k, v in world.pricings.items() if k.lower() == sub.lower())
    assert {p["name"]: p["pricingTier"] for p in plans} == {n: b["properties"]["pricingTier"]
                                                            for n, b in stored.items()}
    shown = az.json(["az", "security", "pricing", "show", "--name", "CloudPosture"])
    assert shown["pricingTier"] == stored["CloudPosture"]["properties"]["pricingTier"]
    assert shown["id"] == f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/CloudPosture"

    conns = az.json(["az", "security", "security-connector", "list"])
    want = sorted(c["id"].lower() for k, c in world.security_connectors.items()
                  if k.startswith(f"/subscriptions/{sub}/".lower()))
    assert sorted(c["id"].lower() for c in conns) == want and want
    first = conns[0]
    one = az.json(["az", "security", "security-connector", "show", "--resource-group", first["resourceGroup"],
                   "--name", first["name"]])
    assert one["hierarchyIdentifier"] == first["hierarchyIdentifier"] and one["environmentName"] == "AWS"
    assert [o["offeringType"] for o in one["offerings"]] == [o["offeringType"] for o in first["offerings"]]

    # a write through az: the estate is this module's own
    free = next(n for n, b in stored.items() if b["properties"]["pricingTier"] == "Standard"
                and n not in ("CloudPosture", "VirtualMachines"))
    put = az.json(["az", "security", "pricing", "create", "--name", free, "--tier", "free"])
    assert put["pricingTier"] == "Free" and put["name"] == free
    assert az.json(["az", "security", "pricing", "show", "--name", free])["pricingTier"] == "Free"


# ----------------------------------------------------------------------------------------------------------------
# aws


def test_aws_cli_reads_the_operators_account(emulate, trap, world, tmp_path) -> None:
    info, _, blocks = emulate
    sh = Shell(trap, tmp_path, blocks["aws"]["env"])
    who = sh.json(["aws", "sts", "get-caller-identity"])
    account = info.aws_operator["account_id"]
    assert who["Account"] == account and who["Arn"] == f"arn:aws:iam::{account}:user/mdc-operator"

    spec = world.accounts_by_id[account]
    region = next(r for r in spec.regions if any(i.region == r for i in spec.instances))
    ec2 = sh.json(["aws", "ec2", "describe-instances", "--region", region])
    got = {i["InstanceId"]: i["State"]["Name"] for res in ec2["Reservations"] for i in res["Instances"]}
    assert got == {i.instance_id: i.state for i in spec.instances if i.region == region}

    ssm = sh.json(["aws", "ssm", "describe-instance-information", "--region", region])["InstanceInformationList"]
    want = {r["InstanceId"]: r["PingStatus"] for r in world.ssm_instance_information(account, region)}
    assert {r["InstanceId"]: r["PingStatus"] for r in ssm} == want and want
    assert set(want) <= set(got)


# ----------------------------------------------------------------------------------------------------------------
# mdc-aws itself, through DefaultAzureCredential (the production path)


def _mdc_aws(sh: Shell, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = {"MDC_AWS_CONFIG": os.devnull + ".absent.toml", "MDC_AWS_DATA_DIR": str(Path(sh.env["HOME"]) / "data")}
    return sh.run([sys.executable, "-m", "tui.cli", *args], ok=False, env={**e, **(env or {})})


def test_mdc_aws_snapshot_signs_in_with_the_managed_identity(emulate, trap, world, tmp_path) -> None:
    info, _, blocks = emulate
    sh = Shell(trap, tmp_path, blocks["mdc-aws"]["env"])  # PATH has no az: only the managed identity can sign in
    assert "MDC_AWS_ACCESS_TOKEN" not in sh.env and not any(k.startswith("AZURE_") for k in sh.env)
    before = health(info)["identityTokensIssued"]
    r = _mdc_aws(sh, "snapshot", "--format", "json")
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert sorted(doc["scope"]["subscriptions"]) == sorted(s.subscription_id for s in world.subscriptions)
    assert doc["scope"]["tenant_id"] == world.tenant_id
    assert all(s["status"] == "ok" for s in doc["sections"].values())
    assert health(info)["identityTokensIssued"] > before

    bad = _mdc_aws(sh, "snapshot", "--format", "json", env={"IDENTITY_HEADER": "wrong"})
    assert bad.returncode == 2, bad.stderr[-3000:]
    assert any(ln.startswith("mdc-aws:") for ln in bad.stderr.splitlines())
