"""`mdc-aws serve` without a browser: the token guard (every path, cookie, foreign origin), the ready file, the
session's child (exec'd with -P, our argv, its own folder, the environment the server gives, no secret in argv),
the shared estate as a child reads it (sealed, loopback, the operator's credentials gone), the --host checks.
tests/test_browser.py drives the whole thing in Chromium."""
from __future__ import annotations

import asyncio
import json
import os
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

    def __init__(self, argv: list[str], cwd: str, extra_env: dict[str, str], ready_file: str | None = None) -> None:
        self.server = serve.make_server(argv, host="127.0.0.1", port=0, token=TOKEN, cwd=cwd, extra_env=extra_env,
                                        ready_file=ready_file, on_listening=lambda url: self.up.set())
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
    for path in ("/", "/ws", "/static/js/textual.js", "/static/", "/download/abc", "/other", "/?token=wrong",
                 "/?token=" + TOKEN[:-1]):
        code, headers, body = get(srv.base + path)
        assert code == 403, path
        assert body.count("\n") == 1 and "open the URL that `mdc-aws serve` printed" in body
    assert get(srv.base + "/static/js/textual.js", {"Cookie": f"{cookie}=nope"})[0] == 403
    assert get(srv.base + "/static/js/textual.js", {"Cookie": f"other_port={TOKEN}"})[0] == 403
    code, headers, page = get(srv.base + "/?token=" + TOKEN)
    assert code == 200
    set_cookie = headers["Set-Cookie"]
    assert set_cookie.startswith(f"{cookie}={TOKEN};") and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # our page: textual.js from this server, the websocket back to it, nothing from elsewhere
    assert "googleapis" not in page and "/static/js/textual.js" in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{srv.server.port}/ws"' in page
    assert "https://" not in page.replace("http://www.w3.org/2000/svg", "")
    code, headers, js = get(srv.base + "/static/js/textual.js", {"Cookie": f"{cookie}={TOKEN}"})
    assert code == 200 and "WebSocket" in js
    assert get(srv.base + "/static/", {"Cookie": f"{cookie}={TOKEN}"})[0] in (403, 404)  # no directory listing


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
    cookie = serve.cookie_name(srv.server.port)
    # a page of another origin (another port is the same *site*: its cookie would go along) gets no dashboard
    assert _session(srv.base, {"Cookie": f"{cookie}={TOKEN}", "Origin": "http://127.0.0.1:1"}) == 403
    assert not out.exists()
    assert _session(srv.base, {"Origin": srv.base}) == 403  # no token, no cookie
    assert _session(srv.base, {"Cookie": f"{cookie}={TOKEN}", "Origin": srv.base}) == 101
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
    for local in ("127.0.0.1", "::1", "localhost"):
        assert serve.url_host(local) in ("127.0.0.1", "[::1]", "localhost")


def test_token_comparison() -> None:
    assert serve.same_token(TOKEN, TOKEN)
    assert not serve.same_token(None, TOKEN) and not serve.same_token("", TOKEN)
    assert not serve.same_token(TOKEN + "x", TOKEN) and not serve.same_token("é" * 10, TOKEN)
    assert serve.cookie_name(8080) != serve.cookie_name(8081)
