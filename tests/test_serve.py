"""`mdc-aws serve` without a browser: the token guard (every path, cookie, foreign origin), the ready file, the
session's child (exec'd with -P, our argv, its own folder, the environment the server gives, no secret in argv),
the shared estate as a child reads it (sealed, loopback, the operator's credentials gone), the --host checks; a hung
session killed with its process group, a session's stderr in the log file (redacted, one line on the server's
stderr), --max-sessions, a ready file that cannot be written. tests/test_browser.py drives the whole thing in
Chromium."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tui import serve

TOKEN = "t0ken-" + "x" * 40

# A stand-in for one session's dashboard: records how it was started, then speaks textual's web protocol's prelude
FAKE_CHILD = r"""
import json, os, sys
json.dump({"argv": sys.argv, "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items()},
           "cwd_on_path": "" in sys.path or os.getcwd() in sys.path}, open(os.environ["FAKE_OUT"], "w"))
sys.stdout.write("__GANGLION__\n"); sys.stdout.flush()
sys.stdin.buffer.read(1)  # the server's first packet when nobody types: "quit"
"""


class Running:
    """A DashboardServer on 127.0.0.1:0 in a thread of its own."""

    def __init__(self, argv: list[str], cwd: str, extra_env: dict[str, str], ready_file: str | None = None,
                 max_sessions: int = serve.MAX_SESSIONS) -> None:
        self.server = serve.make_server(argv, host="127.0.0.1", port=0, token=TOKEN, cwd=cwd, extra_env=extra_env,
                                        ready_file=ready_file, on_listening=lambda url: self.up.set(),
                                        max_sessions=max_sessions)
        self.up = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.up.wait(15), "the server did not start"
        self.base = f"http://127.0.0.1:{self.server.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.run())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.request_exit)
        self.thread.join(20)
        assert not self.thread.is_alive()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


@pytest.fixture
def running(tmp_path):
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    out = tmp_path / "child.json"
    srv = Running([sys.executable, "-P", "-c", FAKE_CHILD], str(work), {"FAKE_OUT": str(out), "EXTRA": "1"},
                  ready_file=str(tmp_path / "ready.json"))
    yield srv, tmp_path, out
    srv.stop()


def test_every_path_needs_the_token_or_its_cookie(running) -> None:
    srv, _, _ = running
    cookie = serve.cookie_name(srv.server.port)
    value = srv.server.session_value
    assert value != TOKEN and len(value) >= 40
    for path in ("/", "/ws", "/static/js/textual.js", "/static/", "/download/abc", "/other", "/?token=wrong",
                 "/?token=" + TOKEN[:-1]):
        code, headers, body = get(srv.base + path)
        assert code == 403, path
        assert body.count("\n") == 1 and "open the URL that `mdc-aws serve` printed" in body
    assert get(srv.base + "/static/js/textual.js", {"Cookie": f"{cookie}=nope"})[0] == 403
    assert get(srv.base + "/static/js/textual.js", {"Cookie": f"other_port={value}"})[0] == 403
    # the cookie holds its own value, not the printed token: the token in a cookie is refused
    assert get(srv.base + "/static/js/textual.js", {"Cookie": f"{cookie}={TOKEN}"})[0] == 403
    code, headers, page = get(srv.base + "/?token=" + TOKEN)
    assert code == 200
    set_cookie = headers["Set-Cookie"]
    assert set_cookie.startswith(f"{cookie}={value};") and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert TOKEN not in set_cookie
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # our page: textual.js from this server, the websocket back to it, nothing from elsewhere
    assert "googleapis" not in page and "/static/js/textual.js" in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{srv.server.port}/ws"' in page
    assert "https://" not in page.replace("http://www.w3.org/2000/svg", "")
    code, headers, js = get(srv.base + "/static/js/textual.js", {"Cookie": f"{cookie}={value}"})
    assert code == 200 and "WebSocket" in js
    assert get(srv.base + "/static/", {"Cookie": f"{cookie}={value}"})[0] in (403, 404)  # no directory listing


def test_ready_file_is_private_and_names_the_url(running) -> None:
    srv, tmp, _ = running
    ready = tmp / "ready.json"
    assert (ready.stat().st_mode & 0o777) == 0o600
    url = json.loads(ready.read_text())["url"]
    assert url == f"{srv.base}/?token={TOKEN}" == srv.server.url


def _session(base: str, headers: dict[str, str]) -> Any:
    import aiohttp

    async def go() -> Any:
        async with aiohttp.ClientSession() as s:
            try:
                async with s.ws_connect(base.replace("http", "ws") + "/ws?width=90&height=30", headers=headers,
                                        timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                    await asyncio.sleep(0.5)
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    return asyncio.run(go())


def test_a_session_execs_the_child_with_minus_P_in_its_own_folder(running) -> None:
    srv, tmp, out = running
    cookie = f"{serve.cookie_name(srv.server.port)}={srv.server.session_value}"
    # a page of another origin (another port is the same *site*: its cookie would go along) gets no dashboard
    assert _session(srv.base, {"Cookie": cookie, "Origin": "http://127.0.0.1:1"}) == 403
    assert not out.exists()
    assert _session(srv.base, {"Origin": srv.base}) == 403  # no token, no cookie
    assert _session(srv.base, {"Cookie": cookie, "Origin": srv.base}) == 101
    for _ in range(100):
        if out.exists() and out.read_text():
            break
        threading.Event().wait(0.05)
    seen = json.loads(out.read_text())
    assert seen["argv"][0] == "-c"  # exec'd as given: no shell in between
    assert seen["cwd"] == str(tmp / "work") != os.getcwd()
    assert seen["cwd_on_path"] is False  # -P: nothing is imported from the working folder
    env = seen["env"]
    assert env["EXTRA"] == "1" and env["TEXTUAL_DRIVER"] == "textual.drivers.web_driver:WebDriver"
    assert env["COLUMNS"] == "90" and env["ROWS"] == "30"
    assert TOKEN not in json.dumps(seen)


def test_child_argv_passes_the_flags_without_secrets(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text("")
    argv = serve.child_argv({"demo": True, "scale": "large", "seed": 7, "config_file": "c.toml",
                             "subscriptions": ("00000000-0000-0000-0000-000000000001",), "timeout": 30.0,
                             "arm_endpoint": "https://ignored.example", "verbose": 2, "log_file": "l.log"},
                            refresh_s=5.0, read_only=True, python="/py")
    assert argv[:4] == ["/py", "-P", "-m", "tui.serve"]
    assert argv[4:] == ["--demo", "--scale", "large", "--seed", "7", "--config", str(tmp_path / "c.toml"),
                        "--subscription", "00000000-0000-0000-0000-000000000001", "--timeout", "30.0",
                        "-vv", "--log-file", str(tmp_path / "l.log"), "--refresh", "5.0", "--read-only"]
    real = serve.child_argv({"ca_bundle": "ca.pem", "arm_endpoint": "https://arm.example", "aws_profile": "p"},
                            refresh_s=None, read_only=False, python="/py")
    assert real[4:] == ["--arm-endpoint", "https://arm.example", "--aws-profile", "p",
                        "--ca-bundle", str(tmp_path / "ca.pem")]
    # the child is this module's own command, with the CLI's common options
    r = CliRunner().invoke(serve.child, ["--help"])
    assert r.exit_code == 0 and "--demo" in r.output and "--read-only" in r.output
    # the child parses what it is given (its own options: the CLI's common ones, --refresh, --read-only)
    params = serve.child.make_context("child", argv[4:]).params
    assert params["demo"] and params["seed"] == 7 and params["verbose"] == 2 and params["read_only"]
    assert params["refresh_s"] == 5.0 and params["log_file"] == str(tmp_path / "l.log")
    assert serve.child.make_context("child", real[4:]).params["aws_profile"] == "p"


def test_the_child_reads_the_shared_estate_sealed(tmp_path) -> None:
    """What a session's dashboard makes of $MDC_AWS_SERVE_ESTATE, in a process of its own (sealing changes the
    environment): the estate's loopback endpoints and token; the operator's credentials gone; the variable gone."""

    class Info:
        arm_url, ca_pem, aws_url, token = "https://127.0.0.1:4431", str(tmp_path / "ca.pem"), "http://127.0.0.1:4432", \
            "demo-estate-token-" + "y" * 20

        def env(self) -> dict[str, str]:
            return {"MDC_AWS_ACCESS_TOKEN": self.token, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    extra = serve.estate_env(Info())
    assert set(extra) == {serve.ENV_ESTATE}
    doc = json.loads(extra[serve.ENV_ESTATE])
    assert set(doc["aws"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    code = r"""
import json, os, sys
from tui import serve, cli
shared = serve.SharedEstate.from_env()
opts = {"demo": True, "scale": "default", "seed": 42, "config_file": None, "subscriptions": ()}
base = cli._settings(opts, False)
s = shared.start(base)
print(json.dumps({"arm": s.azure.arm_endpoint, "aws": s.aws.endpoint_url, "token": s.azure.access_token,
                  "profile": s.aws.profile, "left": serve.ENV_ESTATE in os.environ,
                  "operator": [k for k in ("AWS_PROFILE", "AZURE_CLIENT_SECRET", "MDC_AWS_ACCESS_TOKEN")
                               if k in os.environ],
                  "key": os.environ.get("AWS_ACCESS_KEY_ID")}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    env.update(extra, MDC_AWS_CONFIG=os.devnull + ".absent.toml", AWS_PROFILE="operator",
               AWS_ACCESS_KEY_ID="AKIAOPERATOR", AZURE_CLIENT_SECRET="operator-secret",
               MDC_AWS_ACCESS_TOKEN="operator-token")
    r = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"arm": Info.arm_url, "aws": Info.aws_url, "token": Info.token, "profile": None, "left": False,
                   "operator": [], "key": "testing"}


def test_the_child_without_the_servers_estate_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    r = subprocess.run([sys.executable, "-P", "-m", "tui.serve", "--demo"], env=env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "mdc-aws serve --demo" in r.stderr and "Traceback" not in r.stderr


def test_a_host_beyond_loopback_needs_allow_remote(monkeypatch) -> None:
    from tui.cli import main

    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code == 2 and "--allow-remote" in r.output and "Traceback" not in r.output
    started: list[dict[str, Any]] = []

    class Fake:
        async def run(self) -> None:
            return None

    def fake_make_server(argv: list[str], **kw: Any) -> Fake:
        started.append({"argv": argv, **kw})
        return Fake()

    monkeypatch.setattr(serve, "make_server", fake_make_server)
    monkeypatch.setenv("MDC_AWS_CONFIG", os.devnull + ".absent.toml")
    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote"])
    assert r.exit_code == 0, r.output
    assert "warning: serving on 0.0.0.0" in r.output and "your Azure and AWS credentials" in r.output
    (kw,) = started
    assert kw["host"] == "0.0.0.0" and len(kw["token"]) >= 40 and kw["token"] not in " ".join(kw["argv"])
    assert not Path(kw["cwd"]).exists()  # the children's folder went with the server
    assert kw["max_sessions"] == serve.MAX_SESSIONS == 4
    r = CliRunner().invoke(main, ["serve", "--port", "0", "--max-sessions", "2"])
    assert r.exit_code == 0 and started[-1]["max_sessions"] == 2
    r = CliRunner().invoke(main, ["serve", "--port", "0", "--max-sessions", "0"])
    assert r.exit_code == 2 and len(started) == 2
    for local in ("127.0.0.1", "::1", "localhost"):
        assert serve.url_host(local) in ("127.0.0.1", "[::1]", "localhost")


def test_token_comparison() -> None:
    assert serve.same_token(TOKEN, TOKEN)
    assert not serve.same_token(None, TOKEN) and not serve.same_token("", TOKEN)
    assert not serve.same_token(TOKEN + "x", TOKEN) and not serve.same_token("é" * 10, TOKEN)
    assert serve.cookie_name(8080) != serve.cookie_name(8081)


# ------------------------------------------------------------------------------------------------------------------
# One session's process: killed with its group when hung; its stderr to the log file


HUNG_CHILD = r"""
import os, subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # as a collector or az would be
open(os.environ["FAKE_OUT"], "w").write(str(kid.pid))
sys.stdout.write("__GANGLION__\n"); sys.stdout.flush()
time.sleep(120)  # never reads the server's "quit"
"""

CRASHING_CHILD = r"""
import os, sys
sys.stdout.write("__GANGLION__\n"); sys.stdout.flush()
sys.stderr.write("\x1b[31mTraceback (most recent call last):\x1b[0m\n  File 'app.py', line 1\n"
                 "    token = '" + os.environ["FAKE_SECRET"] + "'\nRuntimeError: boom\n")
sys.exit(1)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie nobody reaped yet is dead


def _service(argv: list[str], cwd: str, env: dict[str, str]) -> Any:
    from textual_serve.download_manager import DownloadManager

    async def ignore(*a: Any) -> None:
        return None

    return serve._app_service_class()(argv, cwd, env, write_bytes=ignore, write_str=ignore, close=ignore,
                                      download_manager=DownloadManager())


def test_a_hung_session_is_killed_with_its_process_group(tmp_path) -> None:
    out = tmp_path / "kid"
    service = _service([sys.executable, "-P", "-c", HUNG_CHILD], str(tmp_path), {"FAKE_OUT": str(out)})

    async def go() -> int:
        await service.start(80, 24)
        for _ in range(200):
            if out.exists() and out.read_text():
                break
            await asyncio.sleep(0.05)
        kid = int(out.read_text())
        assert _alive(kid) and os.getpgid(kid) == service._process.pid  # the session's own group
        await service.shutdown(grace_s=0.5)
        return kid

    kid = asyncio.run(go())
    for _ in range(100):
        if not _alive(kid):
            break
        threading.Event().wait(0.05)
    try:
        assert not _alive(kid), "the hung session's child survived"
        assert service.killed == 0.5 and service._process.returncode == -signal.SIGKILL
    finally:
        if _alive(kid):
            os.kill(kid, signal.SIGKILL)


@pytest.fixture
def log_file(tmp_path):
    """A log file on the root logger as the CLI sets it up (redacting), and a -v stderr handler."""
    from tui.core import logfile, redact

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    fh, problem = logfile.open_handler(tmp_path / "log" / "mdc-aws.log", logging.INFO)
    assert fh is not None, problem
    screen = logging.StreamHandler(sys.stderr)
    root.handlers[:] = [fh, screen]
    root.setLevel(logging.INFO)
    redact.install(root.handlers, root)
    yield Path(fh.baseFilename)
    fh.close()
    root.handlers[:] = saved
    root.setLevel(level)


def test_a_sessions_stderr_goes_to_the_log_file_redacted(tmp_path, log_file, capsys) -> None:
    from tui.core import redact

    secret = "s3cret-" + "q" * 30
    redact.register(secret)
    service = _service([sys.executable, "-P", "-c", CRASHING_CHILD], str(tmp_path), {"FAKE_SECRET": secret})

    async def go() -> None:
        await service.start(80, 24)
        await asyncio.wait_for(service._task, 20)  # textual-serve's reader: the child's output ended
        await service.shutdown(grace_s=2)

    asyncio.run(go())
    captured = capsys.readouterr()
    assert captured.out == ""  # textual-serve would have copied the traceback here
    assert "Traceback" not in captured.err and secret not in captured.err
    assert captured.err.splitlines() == [f"mdc-aws: a browser session ended with an error: see the log file {log_file}"]
    text = log_file.read_text()
    assert "Traceback (most recent call last):" in text and "RuntimeError: boom" in text
    assert secret not in text and "\x1b" not in text
    assert f"browser session {service.label} (exit code 1) ended with an error" in text
    # a dashboard that only warned (exit 0, no traceback) is said so; its line in the log file too
    warned = _service([sys.executable, "-P", "-c", "import sys; print('__GANGLION__', flush=True); "
                       "sys.stderr.write('mdc-aws: history disabled (not private)\\n')"], str(tmp_path), {})

    async def go_warned() -> None:
        await warned.start(80, 24)
        await asyncio.wait_for(warned._task, 20)
        await warned.shutdown(grace_s=2)

    asyncio.run(go_warned())
    assert capsys.readouterr().err.splitlines() == [
        f"mdc-aws: a browser session wrote warnings: see the log file {log_file}"]
    assert f"browser session {warned.label} stderr: mdc-aws: history disabled (not private)" in log_file.read_text()


def test_sessions_beyond_max_sessions_are_refused_with_one_line(tmp_path) -> None:
    import aiohttp

    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    out = tmp_path / "child.json"
    srv = Running([sys.executable, "-P", "-c", FAKE_CHILD], str(work), {"FAKE_OUT": str(out)}, max_sessions=1)
    headers = {"Cookie": f"{serve.cookie_name(srv.server.port)}={srv.server.session_value}", "Origin": srv.base}
    url = srv.base.replace("http", "ws") + "/ws?width=90&height=30"

    async def go() -> tuple[bytes, bool, bool]:
        async with aiohttp.ClientSession() as s:
            first = await s.ws_connect(url, headers=headers)
            for _ in range(200):  # the first session's dashboard runs
                if out.exists() and out.read_text():
                    break
                await asyncio.sleep(0.05)
            started_first = out.exists()
            async with s.ws_connect(url, headers=headers) as second:
                msg = await second.receive(timeout=10)
                shown = msg.data if isinstance(msg.data, bytes) else b""
            out.unlink()
            await first.close()
            for _ in range(200):  # its dashboard gone, a new tab gets one
                if srv.server.active == 0:
                    break
                await asyncio.sleep(0.05)
            async with s.ws_connect(url, headers=headers):
                for _ in range(200):
                    if out.exists() and out.read_text():
                        break
                    await asyncio.sleep(0.05)
            return shown, started_first, out.exists()

    try:
        shown, started_first, started_third = asyncio.run(go())
    finally:
        srv.stop()
    assert started_first and started_third
    line = shown.decode().replace("\x1b[2J\x1b[H", "")
    assert line.endswith("\r\n") and line.count("\n") == 1
    assert "1 browser session is open already (--max-sessions 1)" in line and "close one" in line
    assert srv.server.refused == 1


def test_a_ready_file_that_cannot_be_written_is_its_own_error(tmp_path, monkeypatch) -> None:
    from tui.cli import main

    from tui.core import export

    def refused(path: str, text: str) -> None:  # as a folder the operator may not write to (tests run as root)
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(export, "write_private", refused)
    monkeypatch.setenv("MDC_AWS_CONFIG", os.devnull + ".absent.toml")
    ready = tmp_path / "ready.json"
    r = CliRunner().invoke(main, ["serve", "--port", "0", "--no-log-file", "--ready-file", str(ready)])
    assert r.exit_code == 2, r.output
    assert r.output.splitlines() == [f"mdc-aws: --ready-file {ready}: cannot write it (Permission denied): choose "
                                     "another path"]
    assert "cannot listen" not in r.output and "Traceback" not in r.output and "token=" not in r.output
