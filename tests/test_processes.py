"""Child processes and exits: nothing from the current directory runs in a child, and SIGHUP/SIGTERM leave no
process and no temp folder behind (the dashboard in a pty, `mdc-aws emulate`, `mdc-aws snapshot --demo`)."""
from __future__ import annotations

import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core.config import Settings
from tui.core.procservice import ProcessService

ROOT = Path(__file__).resolve().parent.parent


def hostile_cwd(tmp_path: Path) -> tuple[Path, Path]:
    """A folder holding its own tui/ (and widgets/) package whose import leaves a marker file."""
    evil, marker = tmp_path / "evil", tmp_path / "MARKER"
    for pkg in ("tui", "widgets"):
        (evil / pkg).mkdir(parents=True)
        (evil / pkg / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write('{pkg} imported from the current directory\\n')\n")
    return evil, marker


def mdc_aws() -> list[str]:
    script = Path(sys.executable).parent / "mdc-aws"
    return [str(script)] if script.exists() else [sys.executable, "-P", "-m", "tui.cli"]


def env_for(tmp: Path) -> dict[str, str]:
    (tmp / "tmpdir").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDC_AWS_", "TEXTUAL"))}
    env.update(TMPDIR=str(tmp / "tmpdir"), MDC_AWS_DATA_DIR=str(tmp / "data"), TERM="xterm-256color",
               MDC_AWS_CONFIG=str(tmp / "absent.toml"), PYTHONDONTWRITEBYTECODE="1")
    return env


def tree_of(tag: str) -> list[int]:
    """Every live process (not a zombie) whose environment holds ``tag`` (the test's TMPDIR): the whole tree,
    also what was re-parented when its parent exited."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if tag.encode() not in (d / "environ").read_bytes():
                continue
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            pids.append(int(d.name))
    return pids


def test_the_collector_never_imports_from_the_current_directory(tmp_path, monkeypatch) -> None:
    evil, marker = hostile_cwd(tmp_path)
    monkeypatch.chdir(evil)
    ps = ProcessService(Settings(), max_child_mb=None)
    try:
        with pytest.raises(ValueError, match="unknown method"):  # the real servicehost answered
            ps._wait(ps._request("no_such_method"), 60)
    finally:
        ps.close()
    assert not marker.exists(), marker.read_text()


def _read_until(fd: int, needle: bytes, timeout: float, buf: bytearray) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            buf += chunk
            if needle in buf:
                return True
    return False


def _drain(fd: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return


def test_sighup_to_the_dashboard_in_a_pty_leaves_no_process_and_no_temp_folder(tmp_path) -> None:
    evil, marker = hostile_cwd(tmp_path)
    env = env_for(tmp_path)
    tmpdir = env["TMPDIR"]
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([*mdc_aws(), "--demo", "--refresh", "600"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=evil, env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    buf = bytearray()
    try:
        # up: the first collection from the estate is on screen (the top bar names the demo estate)
        assert _read_until(master, b"demo estate", 150, buf), buf[-2000:].decode(errors="replace")
        tree = tree_of(tmpdir)
        assert proc.pid in tree and len(tree) >= 3, tree  # the dashboard, its estate, its collector
        assert any(Path(tmpdir).iterdir())  # the estate's temp folder (ready.json, TLS material)
        ready = list(Path(tmpdir).glob("mdc-aws-estate-*/ready.json"))
        assert ready and stat.S_IMODE(ready[0].stat().st_mode) == 0o600
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGHUP)
        while time.monotonic() - t0 < 5 and tree_of(tmpdir):
            _drain(master, 0.1)  # as a terminal would (the app may write while it exits)
        left = tree_of(tmpdir)
        assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left if Path(f"/proc/{p}").exists()]
        assert proc.wait(1) is not None
        assert list(Path(tmpdir).iterdir()) == []  # every temp folder removed
    finally:
        for pid in tree_of(tmpdir):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os.close(master)
    assert not marker.exists(), marker.read_text()  # neither the estate nor the collector imported evil/tui


def test_emulate_writes_its_ready_file_0600_and_ends_on_sighup(tmp_path) -> None:
    evil, marker = hostile_cwd(tmp_path)
    env = env_for(tmp_path)
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([*mdc_aws(), "emulate", "--ready-file", str(ready)], cwd=evil, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no ready file"
        assert stat.S_IMODE(ready.stat().st_mode) == 0o600  # it holds IDENTITY_HEADER and the operator's keys
        assert "identity_header" in ready.read_text()
        assert any(Path(env["TMPDIR"]).iterdir())  # its TLS folder
        proc.send_signal(signal.SIGHUP)
        proc.wait(5)
        assert list(Path(env["TMPDIR"]).iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not marker.exists()


def test_sigterm_to_snapshot_demo_ends_the_estate_and_removes_its_folder(tmp_path) -> None:
    env = env_for(tmp_path)
    tmpdir = env["TMPDIR"]
    proc = subprocess.Popen([*mdc_aws(), "snapshot", "--demo"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(Path(tmpdir).glob("mdc-aws-estate-*/ready.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert len(tree_of(tmpdir)) >= 2  # the command and its estate, collecting
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while time.monotonic() - t0 < 5 and tree_of(tmpdir):
            time.sleep(0.1)
        assert not tree_of(tmpdir)
        assert proc.wait(1) != 0
        assert list(Path(tmpdir).iterdir()) == []
    finally:
        for pid in tree_of(tmpdir):
            os.kill(pid, signal.SIGKILL)
