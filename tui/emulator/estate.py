"""The embedded estate: one World served by the ARM/ARG emulator and the AWS emulator, on 127.0.0.1.

- `Estate(...).start()` runs both servers in this process (tests, benchmarks).
- `spawn(...)` runs them in a child process (`python -m tui.emulator serve`), so the dashboard's event loop and GIL
  stay free (the demo); the child writes its endpoints to a ready file and exits with its parent.

Two ways in for Azure clients: the static bearer token `DEMO_TOKEN` (`EstateInfo.env()`, MDC_AWS_ACCESS_TOKEN), and
a managed identity (identity.py): IDENTITY_ENDPOINT + IDENTITY_HEADER, which DefaultAzureCredential, the az CLI and
azure-identity use as they do on App Service (`EstateInfo.identity_env()`, `az_env()`, `az_setup()`).

Two tenants (issue 14): the home tenant (`tenant_id`) and a partner tenant (`partner_tenant_id`) that owns one
subscription and delegates it to the home tenant (Azure Lighthouse; see world.py). `tenant_tokens` maps each tenant
id to a bearer token of that tenant (a JWT its own issuer signed, valid for STATIC_TOKEN_LIFETIME_S): the home one
sees every subscription, the partner one only the partner's. They are secrets of the estate's life, like
IDENTITY_HEADER: kept in the ready file (0600), never printed.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .identity import CLOUD_NAME

DEMO_TOKEN = "mdc-aws-demo-token"  # noqa: S105 - the emulated ARM accepts only this bearer token: a fixture, not a secret
DEMO_AWS_KEY = "testing"  # moto accepts any key; these are not credentials
STATIC_TOKEN_LIFETIME_S = 366 * 86_400  # the tenants' static tokens outlive any demo session


@dataclass
class EstateInfo:
    arm_url: str
    ca_pem: str
    aws_url: str
    token: str
    tenant_id: str
    subscriptions: list[str]
    seed: int
    scale: str
    admin: dict[str, str] = field(default_factory=dict)
    identity_endpoint: str = ""  # IDENTITY_ENDPOINT: the managed-identity token endpoint (plain HTTP, loopback)
    identity_header: str = ""  # IDENTITY_HEADER: its secret (X-IDENTITY-HEADER)
    cloud_name: str = CLOUD_NAME  # the name `az cloud register` gives the estate's ARM
    azure_config_dir: str = ""  # a throwaway AZURE_CONFIG_DIR, removed with the estate
    ca_bundle_az: str = ""  # public roots + the estate's CA (REQUESTS_CA_BUNDLE for az: the shell still reaches Azure)
    aws_operator: dict[str, str] = field(default_factory=dict)  # account_id, access_key_id, secret_access_key
    partner_tenant_id: str = ""  # the partner tenant: owns one subscription, delegated to tenant_id (Lighthouse)
    # tenant id -> a static bearer token of that tenant (a secret: kept out of repr, so out of tracebacks)
    tenant_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    # the AWS side's realism (issue 15): {"latency_ms", "jitter_ms", "rate_limits"}; counters at admin["aws_realism"]
    aws_realism: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """Environment that points mdc-aws (and boto3) at this estate, signed in with the static demo token."""
        return {
            "MDC_AWS_ARM_ENDPOINT": self.arm_url,
            "MDC_AWS_CA_BUNDLE": self.ca_pem,
            "MDC_AWS_ACCESS_TOKEN": self.token,
            "MDC_AWS_AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": DEMO_AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEMO_AWS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def identity_env(self) -> dict[str, str]:
        """As env(), but signed in as production does: Azure through DefaultAzureCredential (the estate's managed
        identity), AWS with the operator's access key (as `aws_env()`: one shell can hold both)."""
        out = {k: v for k, v in self.env().items() if k != "MDC_AWS_ACCESS_TOKEN"}
        out.update({k: v for k, v in self.aws_env().items() if k != "AWS_ENDPOINT_URL"})
        out["IDENTITY_ENDPOINT"] = self.identity_endpoint
        out["IDENTITY_HEADER"] = self.identity_header
        return out

    def az_env(self) -> dict[str, str]:
        """Environment for Microsoft's az CLI on this estate (then run `az_setup()`)."""
        return {
            "REQUESTS_CA_BUNDLE": self.ca_bundle_az or self.ca_pem,
            "AZURE_CONFIG_DIR": self.azure_config_dir,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            # nothing leaves 127.0.0.1: no telemetry upload, no extension index, no "did you mean" service
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
            "AZURE_CORE_ERROR_RECOMMENDATION": "off",
            "AZURE_CORE_SURVEY_MESSAGE": "false",
        }

    def az_setup(self) -> list[list[str]]:
        """The az commands that register the estate's ARM as a cloud and sign in with its managed identity."""
        return [["az", "cloud", "register", "--name", self.cloud_name, "--endpoint-resource-manager", self.arm_url],
                ["az", "cloud", "set", "--name", self.cloud_name],
                ["az", "login", "--identity"]]

    def aws_env(self) -> dict[str, str]:
        """Environment for the AWS CLI: every service at the emulator, as the estate's operator (home account)."""
        key = self.aws_operator.get("access_key_id") or DEMO_AWS_KEY
        secret = self.aws_operator.get("secret_access_key") or DEMO_AWS_KEY
        return {"AWS_ENDPOINT_URL": self.aws_url, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EstateInfo":
        return cls(**json.loads(text))


class Estate:
    def __init__(self, seed: int = 42, scale: str = "default", *, tick_seconds: float | None = None,
                 start_epoch: float | None = None, quota: Any = None, page_size: int = 100,
                 aws_latency_ms: float = 0.0, aws_jitter_ms: float = 0.0, aws_rate_limits: Any = False) -> None:
        """aws_latency_ms / aws_jitter_ms: every AWS call takes latency +/- jitter ms (deterministic from the seed);
        aws_rate_limits: True for AWS's per-account request-rate limits (or an aws_ext.AwsRateLimits). All off by
        default: the demo and the tests stay fast and unthrottled."""
        from .clock import ManualClock, WallClock
        from .world import World

        self.seed, self.scale = seed, scale
        # a manual clock stays at tick 0 (start_epoch: what tick 0 stands for; default a fixed date)
        clock = ((ManualClock(start=start_epoch) if start_epoch else ManualClock()) if tick_seconds is None
                 else WallClock(tick_seconds=tick_seconds, start=start_epoch or time.time()))
        self.world = World(seed=seed, scale=scale, clock=clock)
        self._quota = quota
        self._page_size = page_size
        self._aws_realism = {"latency_ms": aws_latency_ms, "jitter_ms": aws_jitter_ms, "rate_limits": aws_rate_limits}
        if aws_latency_ms < 0 or aws_jitter_ms < 0 or aws_jitter_ms > aws_latency_ms:
            raise ValueError("AWS latency and jitter must be >= 0, and the jitter at most the latency")
        self.arm: Any = None
        self.aws: Any = None
        self.info: EstateInfo | None = None
        self.identity: Any = None
        self.partner_identity: Any = None  # the partner tenant's issuer (no managed-identity endpoint of its own)
        self.tenant_tokens: dict[str, str] = {}

    def start(self) -> EstateInfo:
        from .arm import ArmEmulatorThread
        from .aws import AwsEmulator

        from .identity import TokenIssuer

        r = self._aws_realism
        self.aws = AwsEmulator(self.world, latency_ms=r["latency_ms"], jitter_ms=r["jitter_ms"],
                               rate_limits=r["rate_limits"], seed=self.seed)
        aws_url = self.aws.start()
        subs = [s.subscription_id for s in self.world.subscriptions]
        # a system-assigned identity, as an App Service site in the estate's first subscription would have
        mirid = (f"/subscriptions/{subs[0]}/resourcegroups/mdc-aws-demo/providers/Microsoft.Web/sites/mdc-aws"
                 if subs else None)
        self.identity = TokenIssuer(self.world.tenant_id, identity_resource_id=mirid)
        partner = self.world.partner_tenant_id
        self.partner_identity = TokenIssuer(partner, name="mdc-aws-demo-partner")
        audience = "https://management.azure.com/"
        self.tenant_tokens = {
            self.world.tenant_id: self.identity.issue(audience, lifetime_s=STATIC_TOKEN_LIFETIME_S),
            partner: self.partner_identity.issue(audience, lifetime_s=STATIC_TOKEN_LIFETIME_S)}
        from .world import SCALES

        self.arm = ArmEmulatorThread(self.world, quota=self._quota, page_size=self._page_size,
                                     accepted_tokens={DEMO_TOKEN}, identity=self.identity,
                                     identities=(self.partner_identity,),
                                     query_timeout_s=float(SCALES[self.scale].get("query_timeout_s", 60.0)))
        self.arm.start()
        ca_pem = str(self.arm.ca_pem_path)
        tls_dir = os.path.dirname(ca_pem)  # removed when the estate stops: so are these
        op = getattr(self.aws, "operator_credentials", None) or {}
        self.info = EstateInfo(
            arm_url=self.arm.url, ca_pem=ca_pem, aws_url=aws_url, token=DEMO_TOKEN,
            tenant_id=self.world.tenant_id, subscriptions=subs, seed=self.seed, scale=self.scale,
            admin={"arm": self.arm.url + "/_emulator", "aws": aws_url + "/_emulator",
                   "aws_realism": aws_url + "/_emulator/realism"},
            identity_endpoint=self.arm.identity_url, identity_header=self.identity.header_secret,
            azure_config_dir=os.path.join(tls_dir, "azure-config"),
            ca_bundle_az=_write_public_plus(ca_pem, os.path.join(tls_dir, "ca-bundle-public-plus-estate.pem")),
            aws_operator={"account_id": str(getattr(self.aws, "operator_account_id", "") or ""),
                          "access_key_id": op.get("aws_access_key_id", ""),
                          "secret_access_key": op.get("aws_secret_access_key", "")} if op else {},
            partner_tenant_id=partner, tenant_tokens=dict(self.tenant_tokens),
            aws_realism={"latency_ms": self.aws.latency_ms, "jitter_ms": self.aws.jitter_ms,
                         "rate_limits": self.aws.rate_limits.enabled})
        return self.info

    def stop(self) -> None:
        for srv in (self.arm, self.aws):
            if srv is not None:
                try:
                    srv.stop()
                except Exception:  # noqa: BLE001 - best effort at shutdown
                    pass

    def issued_secrets(self) -> dict[str, list[str]]:
        """Every secret this estate has handed out so far, by kind (tests scan files for them): STS credentials of
        every AssumeRole, IAM access keys' secrets, the operator's key, bearer tokens, the identity header."""
        out: dict[str, list[str]] = {"sts_secret_access_keys": [], "sts_session_tokens": [], "iam_secret_keys": [],
                                     "bearer_tokens": [DEMO_TOKEN], "identity_header": []}
        try:
            from moto.iam.models import iam_backends
            from moto.sts.models import sts_backends

            for by_region in list(sts_backends.values()):
                for backend in list(by_region.values()):
                    for role in list(getattr(backend, "assumed_roles", ())):
                        out["sts_secret_access_keys"].append(role.secret_access_key)
                        out["sts_session_tokens"].append(role.session_token)
            for iam_by_region in list(iam_backends.values()):
                for iam in list(iam_by_region.values()):
                    for user in list(getattr(iam, "users", {}).values()):
                        for key in list(getattr(user, "access_keys", ())):
                            out["iam_secret_keys"].append(key.secret_access_key)
        except ImportError:  # moto missing: no AWS half, nothing issued there
            pass
        if self.info is not None:
            out["iam_secret_keys"].append(self.info.aws_operator.get("secret_access_key", ""))
            out["identity_header"].append(self.info.identity_header)
        for issuer in (self.identity, self.partner_identity):
            if issuer is not None:
                out["bearer_tokens"] += list(issuer.recent)
        out["bearer_tokens"] += list(self.tenant_tokens.values())
        return {k: sorted({v for v in vs if v and v != DEMO_AWS_KEY}) for k, vs in out.items()}

    def __enter__(self) -> EstateInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_public_plus(ca_pem: str, path: str) -> str:
    """certifi's public roots followed by the estate's CA, so a shell with REQUESTS_CA_BUNDLE set still reaches real
    hosts. Just the estate's CA when certifi is missing."""
    try:
        import certifi

        public = Path(certifi.where()).read_text(encoding="utf-8")
    except Exception:  # noqa: BLE001 - optional
        return ca_pem
    Path(path).write_text(public.rstrip("\n") + "\n" + Path(ca_pem).read_text(encoding="utf-8"), encoding="utf-8")
    return path


def serve(seed: int, scale: str, tick_seconds: float | None, ready_file: str | None, *, quiet: bool = False,
          quota_limit: int | None = None, parent_pid: int | None = None, aws_latency_ms: float = 0.0,
          aws_jitter_ms: float = 0.0, aws_rate_limits: bool = False) -> None:
    """Run the estate in the foreground until SIGINT/SIGTERM (or the parent process exits)."""
    _cap_malloc_arenas()
    quota = None
    if quota_limit:
        from .arm import Quota

        quota = Quota(limit=quota_limit, window_s=5)
    est = Estate(seed, scale, tick_seconds=tick_seconds, quota=quota, aws_latency_ms=aws_latency_ms,
                 aws_jitter_ms=aws_jitter_ms, aws_rate_limits=aws_rate_limits)
    info = est.start()
    if ready_file:
        write_private(ready_file, info.to_json())  # it holds IDENTITY_HEADER and the operator's keys: 0600
    if not quiet:
        print_instructions(info)
    stop = threading.Event()

    def _sig(*_: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: the SSH session that ran it ended
        signal.signal(sig, _sig)
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                break  # the dashboard went away: do not linger
    finally:
        est.stop()
        _write_issued(est)


def _cap_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core); the estate's request threads
    (ARM, Resource Graph, every AWS call) would each keep freed memory of their own. Two arenas: freed memory is
    reused across threads. Nothing elsewhere (not glibc)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


# Test only: when set, `serve` writes every secret the estate issued to this file (0600) as it stops, so a test that
# runs `mdc-aws --demo` in a subprocess can scan what the run wrote for them.
ISSUED_FILE_ENV = "MDCAWS_TEST_ESTATE_ISSUED_FILE"


def _write_issued(est: "Estate") -> None:
    path = os.environ.get(ISSUED_FILE_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(est.issued_secrets(), fh)


def instructions(info: EstateInfo) -> str:
    """What `mdc-aws emulate` prints: the endpoints, then environments ready to paste (mdc-aws, az, aws)."""
    import shlex

    q = shlex.quote
    lines = [
        f"mdc-aws emulated estate (seed {info.seed}, scale {info.scale}) is running on 127.0.0.1",
        f"  Azure Resource Manager + Resource Graph: {info.arm_url}  (CA: {info.ca_pem})",
        f"  Managed identity (App Service style):    {info.identity_endpoint}",
        f"  AWS (moto + SSM/Security Hub layer):     {info.aws_url}",
        *_realism_line(info),
        f"  tenant {info.tenant_id}; subscriptions: {', '.join(info.subscriptions)}",
    ]
    if info.partner_tenant_id:
        lines.append(f"  partner tenant {info.partner_tenant_id}: one subscription, delegated to the tenant above "
                     "(Azure Lighthouse)")
    lines += [
        "",
        "mdc-aws, signed in as in production (DefaultAzureCredential -> managed identity):",
    ]
    lines += [f"  export {k}={q(v)}" for k, v in info.identity_env().items()]
    lines += ["  mdc-aws snapshot --format table",
              f"  # or a static bearer token instead of IDENTITY_*: export MDC_AWS_ACCESS_TOKEN={q(info.token)}",
              "",
              "Microsoft's az CLI (its state goes to a throwaway AZURE_CONFIG_DIR, removed with the estate):"]
    lines += [f"  export {k}={q(v)}" for k, v in info.az_env().items()]
    lines += ["  " + " ".join(q(a) for a in cmd) for cmd in info.az_setup()]
    arg_url = f"{info.arm_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    lines += ["  az account list --output table",
              f"  az rest --method post --url {q(arg_url)} --body "
              + q('{"query": "securityresources | summarize count() by type"}'),
              "  az security security-connector list --output table",
              "  az security pricing list --query " + q("value[].{name:name, tier:pricingTier}") + " --output table",
              ""]
    acct = info.aws_operator.get("account_id")
    lines.append(f"The AWS CLI (as the estate's operator{', account ' + acct if acct else ''}):")
    lines += [f"  export {k}={q(v)}" for k, v in info.aws_env().items()]
    lines += ["  aws sts get-caller-identity", "  aws ec2 describe-instances --output table", "",
              "Ctrl-C stops the estate."]
    return "\n".join(lines)


def _realism_line(info: EstateInfo) -> list[str]:
    r = info.aws_realism or {}
    if not (r.get("latency_ms") or r.get("rate_limits")):
        return []
    parts = []
    if r.get("latency_ms"):
        parts.append(f"{r['latency_ms']:g} ms per call" + (f" +/- {r['jitter_ms']:g}" if r.get("jitter_ms") else ""))
    if r.get("rate_limits"):
        parts.append("AWS's per-account rate limits (throttled calls get the service's throttling error)")
    return [f"    realism: {'; '.join(parts)}; counters: GET {info.admin.get('aws_realism', '')}"]


def print_instructions(info: EstateInfo) -> None:
    print(instructions(info), flush=True)


def write_private(path: str, text: str) -> None:
    """``text`` into ``path`` at once (a temp file renamed over it), readable by this user only (0600)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an old temp file of the same name keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:  # also on KeyboardInterrupt: no temp file left behind, then re-raise
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_LIVE: set["EstateProcess"] = set()  # estates this process started and has not stopped (stopped at exit)
_LIVE_LOCK = threading.Lock()
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_saved_handlers: dict[int, Any] = {}


def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for est in live:
        est.stop(grace_s=2.0)


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP to a process that started an estate (and had no handler of its own): leave as an exit does,
    so every ``finally`` and ``with`` runs and the estate and its temp folder go with it. A second signal does not
    interrupt that clean-up."""
    for sig in _SIGNALS:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    raise SystemExit(128 + signum)


def _claim_signals() -> None:
    """On the main thread, where SIGTERM/SIGHUP would kill this process outright (default action): turn them into
    SystemExit while an estate runs. Handlers of the process's own (e.g. the dashboard's) are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        try:
            if sig not in _saved_handlers and signal.getsignal(sig) is signal.SIG_DFL:
                _saved_handlers[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not the main interpreter, or the platform has no such signal
            pass


def _release_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    with _LIVE_LOCK:
        if _LIVE:
            return
    for sig, old in list(_saved_handlers.items()):
        try:
            if signal.getsignal(sig) is _on_signal:
                signal.signal(sig, old)
        except (ValueError, OSError):
            pass
        _saved_handlers.pop(sig, None)


atexit.register(_stop_all)


class EstateProcess:
    def __init__(self, proc: subprocess.Popen[bytes], info: EstateInfo, tmpdir: tempfile.TemporaryDirectory[str]):
        self.proc, self.info, self._tmp = proc, info, tmpdir
        with _LIVE_LOCK:
            _LIVE.add(self)

    def stop(self, grace_s: float = 3.0) -> None:
        """End the estate (SIGTERM, then SIGKILL after ``grace_s``) and remove its temp folder (the child's own
        temp files are in it)."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(grace_s)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):  # gone already, or unkillable: its folder goes all the same
            pass
        finally:
            self._tmp.cleanup()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            _release_signals()

    def __enter__(self) -> EstateInfo:
        return self.info

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(seed: int = 42, scale: str = "default", tick_seconds: float | None = 60.0,
          timeout_s: float = 180.0, *, aws_latency_ms: float = 0.0, aws_jitter_ms: float = 0.0,
          aws_rate_limits: bool = False, quota_limit: int | None = None) -> EstateProcess:
    """Start the estate in a child process and wait until it serves.

    ``quota_limit``: Resource Graph's per-user quota on, ``quota_limit`` queries per 5 s window (``--quota``; off by
    default, as in ``serve``).

    The child runs with ``-P`` (the current directory never shadows the package) and its TMPDIR inside this
    process's private temp folder, so everything it writes there (TLS material, ready.json) goes when the folder
    does, also if the child itself was killed. On the main thread, SIGTERM and SIGHUP end this process as an exit
    does while the estate runs (see _claim_signals); the estate is also stopped at exit."""
    tmp = tempfile.TemporaryDirectory(prefix="mdc-aws-estate-")
    _claim_signals()
    proc: subprocess.Popen[bytes] | None = None
    try:
        ready = os.path.join(tmp.name, "ready.json")
        child_tmp = os.path.join(tmp.name, "tmp")
        os.mkdir(child_tmp, 0o700)
        env = {**os.environ, "TMPDIR": child_tmp}
        cmd = [sys.executable, "-P", "-m", "tui.emulator", "serve", "--seed", str(seed), "--scale", scale,
               "--ready-file", ready, "--quiet", "--parent-pid", str(os.getpid())]
        if tick_seconds is not None:
            cmd += ["--tick-seconds", str(tick_seconds)]
        if aws_latency_ms or aws_jitter_ms:
            cmd += ["--aws-latency-ms", str(aws_latency_ms), "--aws-jitter-ms", str(aws_jitter_ms)]
        if aws_rate_limits:
            cmd.append("--aws-rate-limits")
        if quota_limit:
            cmd += ["--quota", str(int(quota_limit))]
        with open(os.path.join(tmp.name, "estate.log"), "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(ready):
            if proc.poll() is not None:
                text = Path(tmp.name, "estate.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the emulated estate failed to start (exit {proc.returncode}): {text.strip()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulated estate did not start within {timeout_s:.0f} s")
            time.sleep(0.05)
        info = EstateInfo.from_json(Path(ready).read_text(encoding="utf-8"))
    except BaseException:  # failed, timed out, a signal or KeyboardInterrupt: clean up, then re-raise
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        tmp.cleanup()
        _release_signals()
        raise
    return EstateProcess(proc, info, tmp)
