"""The embedded estate: one World served by the ARM/ARG emulator and the AWS emulator, on 127.0.0.1.

- `Estate(...).start()` runs both servers in this process (tests, benchmarks).
- `spawn(...)` runs them in a child process (`python -m tui.emulator serve`), so the dashboard's event loop and GIL
  stay free (the demo); the child writes its endpoints to a ready file and exits with its parent.
"""
from __future__ import annotations

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

DEMO_TOKEN = "mdc-aws-demo-token"  # the emulated ARM accepts only this bearer token (not a secret: a test fixture)
DEMO_AWS_KEY = "testing"  # moto accepts any key; these are not credentials


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

    def env(self) -> dict[str, str]:
        """Environment that points mdc-aws (and boto3) at this estate."""
        return {
            "MDC_AWS_ARM_ENDPOINT": self.arm_url,
            "MDC_AWS_CA_BUNDLE": self.ca_pem,
            "MDC_AWS_ACCESS_TOKEN": self.token,
            "MDC_AWS_AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": DEMO_AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEMO_AWS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EstateInfo":
        return cls(**json.loads(text))


class Estate:
    def __init__(self, seed: int = 42, scale: str = "default", *, tick_seconds: float | None = None,
                 start_epoch: float | None = None, quota: Any = None, page_size: int = 100) -> None:
        from .clock import ManualClock, WallClock
        from .world import World

        self.seed, self.scale = seed, scale
        clock = ManualClock() if tick_seconds is None else WallClock(tick_seconds=tick_seconds,
                                                                       start=start_epoch or time.time())
        self.world = World(seed=seed, scale=scale, clock=clock)
        self._quota = quota
        self._page_size = page_size
        self.arm: Any = None
        self.aws: Any = None
        self.info: EstateInfo | None = None

    def start(self) -> EstateInfo:
        from .arm import ArmEmulatorThread
        from .aws import AwsEmulator

        self.aws = AwsEmulator(self.world)
        aws_url = self.aws.start()
        self.arm = ArmEmulatorThread(self.world, quota=self._quota, page_size=self._page_size,
                                     accepted_tokens={DEMO_TOKEN})
        self.arm.start()
        self.info = EstateInfo(
            arm_url=self.arm.url, ca_pem=str(self.arm.ca_pem_path), aws_url=aws_url, token=DEMO_TOKEN,
            tenant_id=self.world.tenant_id, subscriptions=[s.subscription_id for s in self.world.subscriptions],
            seed=self.seed, scale=self.scale,
            admin={"arm": self.arm.url + "/_emulator", "aws": aws_url + "/_emulator"})
        return self.info

    def stop(self) -> None:
        for srv in (self.arm, self.aws):
            if srv is not None:
                try:
                    srv.stop()
                except Exception:  # noqa: BLE001 - best effort at shutdown
                    pass

    def __enter__(self) -> EstateInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(seed: int, scale: str, tick_seconds: float | None, ready_file: str | None, *, quiet: bool = False,
          quota_limit: int | None = None, parent_pid: int | None = None) -> None:
    """Run the estate in the foreground until SIGINT/SIGTERM (or the parent process exits)."""
    quota = None
    if quota_limit:
        from .arm import Quota

        quota = Quota(limit=quota_limit, window_s=5)
    est = Estate(seed, scale, tick_seconds=tick_seconds, quota=quota)
    info = est.start()
    if ready_file:
        tmp = ready_file + ".tmp"
        Path(tmp).write_text(info.to_json(), encoding="utf-8")
        os.replace(tmp, ready_file)
    if not quiet:
        print_instructions(info)
    stop = threading.Event()

    def _sig(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _sig)
    signal.signal(signal.SIGINT, _sig)
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                break  # the dashboard went away: do not linger
    finally:
        est.stop()


def print_instructions(info: EstateInfo) -> None:
    env = info.env()
    print(f"mdc-aws emulated estate (seed {info.seed}, scale {info.scale}) is running on 127.0.0.1", flush=True)
    print(f"  Azure Resource Manager + Resource Graph: {info.arm_url}  (CA: {info.ca_pem})")
    print(f"  AWS (moto + SSM/Security Hub layer):     {info.aws_url}")
    print(f"  tenant {info.tenant_id}; subscriptions: {', '.join(info.subscriptions)}")
    print("\nIn another shell, point mdc-aws at it:")
    for k, v in env.items():
        print(f"  export {k}={v}")
    print("  mdc-aws snapshot --format table")
    print("\nThe AWS CLI works with the same AWS_* variables plus:")
    print(f"  export AWS_ENDPOINT_URL={info.aws_url}")
    print("\nCtrl-C stops the estate.", flush=True)


class EstateProcess:
    def __init__(self, proc: subprocess.Popen[bytes], info: EstateInfo, tmpdir: tempfile.TemporaryDirectory[str]):
        self.proc, self.info, self._tmp = proc, info, tmpdir

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._tmp.cleanup()

    def __enter__(self) -> EstateInfo:
        return self.info

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(seed: int = 42, scale: str = "default", tick_seconds: float | None = 60.0,
          timeout_s: float = 180.0) -> EstateProcess:
    """Start the estate in a child process and wait until it serves."""
    tmp = tempfile.TemporaryDirectory(prefix="mdc-aws-estate-")
    ready = os.path.join(tmp.name, "ready.json")
    log = open(os.path.join(tmp.name, "estate.log"), "wb")
    cmd = [sys.executable, "-m", "tui.emulator", "serve", "--seed", str(seed), "--scale", scale,
           "--ready-file", ready, "--quiet", "--parent-pid", str(os.getpid())]
    if tick_seconds is not None:
        cmd += ["--tick-seconds", str(tick_seconds)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(ready):
        if proc.poll() is not None:
            log.close()
            text = Path(tmp.name, "estate.log").read_text(errors="replace")[-2000:]
            tmp.cleanup()
            raise RuntimeError(f"the emulated estate failed to start (exit {proc.returncode}): {text.strip()}")
        if time.monotonic() > deadline:
            proc.kill()
            tmp.cleanup()
            raise RuntimeError(f"the emulated estate did not start within {timeout_s:.0f} s")
        time.sleep(0.05)
    info = EstateInfo.from_json(Path(ready).read_text(encoding="utf-8"))
    return EstateProcess(proc, info, tmp)
