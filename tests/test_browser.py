"""`mdc-aws serve --demo` in a real browser: headless Chromium (Debian's, through its chromedriver: no download)
loads the printed URL, the dashboard draws, keys switch panes and open a drill-down; a request without the token is
refused; the server listens on loopback only; its children carry no secret in their argv; stopping the server ends
every session's dashboard and the shared estate.

Skipped only when $MDC_AWS_BROWSER is unset and no Chromium is installed; `make test` sets it (and `make browser`
installs Chromium), so there a missing browser fails. scripts/browser_screenshot.py drives the same helpers.

How the screen is read: textual-serve's textual.js draws with xterm.js's WebGL/canvas renderers (no text in the
DOM) and keeps its Terminal in a closure. A script injected before the page's own (CDP
Page.addScriptToEvaluateOnNewDocument) catches the session object when textual.js assigns its `webglAddon` and
keeps it on `window.__mdcTerminal`; the rows are then read from xterm's buffer (`translateToString`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMEDRIVER = "/usr/bin/chromedriver"

HOOK_JS = """
Object.defineProperty(Object.prototype, 'webglAddon', {configurable: true, set(v) {
  Object.defineProperty(this, 'webglAddon', {value: v, writable: true, configurable: true, enumerable: true});
  if (this.terminal && !window.__mdcTerminal) { window.__mdcTerminal = this; }
}});
"""
SCREEN_JS = """
const w = window.__mdcTerminal;
if (!w || !w.terminal) { return null; }
const t = w.terminal, b = t.buffer.active, out = [];
for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); out.push(l ? l.translateToString(true) : ''); }
return out.join('\\n');
"""


def browser_binary() -> str | None:
    """$MDC_AWS_BROWSER, else Chromium on PATH (None: none installed)."""
    env = os.environ.get("MDC_AWS_BROWSER")
    if env:
        return env
    return shutil.which("chromium") or shutil.which("chromium-browser")


def need_browser() -> tuple[str, str]:
    """(browser, chromedriver): skip when no browser was asked for and none is installed; fail when $MDC_AWS_BROWSER
    names one that is missing (make test sets it)."""
    binary = browser_binary()
    if binary is None:
        pytest.skip("no Chromium (install it with `make browser`, or set MDC_AWS_BROWSER)")
    driver = shutil.which("chromedriver") or CHROMEDRIVER
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"MDC_AWS_BROWSER={binary} is not an executable: run `make browser` (Debian: apt-get install "
                    "chromium chromium-driver)")
    if not (os.path.isfile(driver) and os.access(driver, os.X_OK)):
        pytest.fail(f"chromedriver not found ({driver}): run `make browser` (Debian: apt-get install chromium-driver)")
    return binary, driver


def start_server(folder: Path, *extra: str, timeout_s: float = 90.0, wait: bool = True) -> Any:
    """`mdc-aws serve --demo --port 0 --ready-file …` in its own process: (process, URL with token); with
    ``wait=False`` a callable that waits for them (its ``proc`` attribute: the process, at once)."""
    ready = folder / "ready.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    env.update(MDC_AWS_CONFIG=os.devnull + ".absent.toml", MDC_AWS_DATA_DIR=str(folder / "data"),
               MDC_AWS_EXPORT_DIR=str(folder))
    proc = subprocess.Popen([sys.executable, "-P", "-m", "tui.cli", "serve", "--demo", "--port", "0",
                             "--ready-file", str(ready), *extra], cwd=str(folder), env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s

    def ready_url() -> tuple[subprocess.Popen[str], str]:
        while not ready.exists() or not ready.read_text():
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                stop_server(proc)
                raise AssertionError("serve did not write its ready file")
            time.sleep(0.1)
        assert (ready.stat().st_mode & 0o777) == 0o600
        return proc, json.loads(ready.read_text())["url"]

    if wait:
        return ready_url()
    ready_url.proc = proc  # type: ignore[attr-defined]
    return ready_url


def stop_server(proc: subprocess.Popen[str], timeout_s: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError("serve did not stop on SIGTERM") from None


def make_driver(binary: str, driver: str, width: int = 1000, height: int = 760) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
              "--enable-unsafe-swiftshader", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-default-apps", "--disable-sync"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK_JS})
    return d


def screen(d: Any) -> str:
    return d.execute_script(SCREEN_JS) or ""


def wait_screen(d: Any, cond: Callable[[str], bool], what: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = screen(d)
        if text and cond(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")


def press(d: Any, keys: str) -> None:
    """Keys as a person types them: into xterm's focused input (textual.js sends them down the websocket)."""
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(keys)


def dashboard_loaded(text: str) -> bool:
    """The live snapshot on screen (not the start-up, not the cached view)."""
    return "mdc-aws" in text and "Accounts ·" in text and "ACCOUNT" in text and "starting" not in text \
        and "from history" not in text and "aws-" in text


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the LISTEN sockets on ``port`` (from /proc/net/tcp and tcp6)."""
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if f[3] == "0A" and int(p, 16) == port:
                raw = bytes.fromhex(addr)
                if len(raw) == 4:
                    out.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    out.append(socket.inet_ntop(socket.AF_INET6, words))
    return out


def status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(300).decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server (its estate starting) and the browser, started side by side."""
    binary, driver = need_browser()
    folder = tmp_path_factory.mktemp("serve")
    pending = start_server(folder, wait=False)
    d = None
    try:
        d = make_driver(binary, driver)
        proc, url = pending()
        yield proc, url, d, folder
    finally:
        if d is not None:
            d.quit()
        stop_server(pending.proc)


def test_without_the_token_every_path_is_forbidden(served) -> None:
    _, url, _, _ = served
    base, token = url.split("/?token=")
    for path in ("/", "/ws", "/static/js/textual.js", "/download/x", "/nothing"):
        code, body = status(base + path)
        assert code == 403 and "open the URL that `mdc-aws serve` printed" in body, (path, code, body)
    port = int(base.rsplit(":", 1)[1])
    assert status(base + "/?token=" + token[:-1] + "x")[0] == 403
    assert status(base + "/static/js/textual.js", {"Cookie": f"mdc_aws_session_{port}=wrong"})[0] == 403
    # the cookie carries its own value, never the printed token (cookies go to every port of the host)
    assert status(base + "/static/js/textual.js", {"Cookie": f"mdc_aws_session_{port}={token}"})[0] == 403
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and "<html>" in r.read().decode(errors="replace")
        name, _, value = r.headers["Set-Cookie"].split(";")[0].partition("=")
    assert name == f"mdc_aws_session_{port}" and value and value != token
    assert status(base + "/static/js/textual.js", {"Cookie": f"{name}={value}"})[0] == 200


def test_listens_on_loopback_only(served) -> None:
    _, url, _, _ = served
    port = int(url.split("/?")[0].rsplit(":", 1)[1])
    assert url.startswith("http://127.0.0.1:")
    addrs = listening_addresses(port)
    assert addrs and set(addrs) == {"127.0.0.1"}, addrs
    # and from this machine's own non-loopback address (when it has one), nothing answers
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this picks the outgoing interface's address
        own = probe.getsockname()[0]
    except OSError:
        own = None
    finally:
        probe.close()
    if own and not own.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((own, port), timeout=3).close()


def test_dashboard_in_the_browser_keys_drill_down_and_stop(served) -> None:
    proc, url, d, folder = served
    d.get(url)
    assert "token=" not in d.current_url  # the cookie is set: the token left the address bar
    text = wait_screen(d, dashboard_loaded, "the dashboard with the demo estate's accounts", 60)
    assert "demo estate" in text and "Compliance ·" not in text  # narrow: one pane at a time
    # one session = one dashboard process: -P, its own folder, no secret in its argv or environment
    token = url.split("token=")[1]
    kids = [p for p in descendants(proc.pid) if alive(p)]
    dashboards, estates = [], []
    for p in kids:
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{p}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{p}/cwd")
        except OSError:
            continue
        assert token.encode() not in b" ".join(argv) and token.encode() not in env
        if b"tui.serve" in argv:
            dashboards.append(p)
            assert argv[1:4] == [b"-P", b"-m", b"tui.serve"], argv
            assert cwd != str(folder) and "mdc-aws-serve-" in cwd
        if b"tui.emulator" in argv:
            estates.append(p)
    assert len(dashboards) == 1 and len(estates) == 1, kids
    press(d, "5")
    text = wait_screen(d, lambda t: "Compliance ·" in t and "Accounts ·" not in t, "the compliance pane")
    assert "CIS-AWS-Foundations" in text
    press(d, "1")
    wait_screen(d, lambda t: "Accounts ·" in t and "Compliance ·" not in t, "the accounts pane again")
    press(d, "5")
    wait_screen(d, lambda t: "Compliance ·" in t, "the compliance pane")
    press(d, "\ue007")  # enter: the selected standard's controls
    text = wait_screen(d, lambda t: "Dashboard › Compliance ›" in t and "CONTROL" in t, "the standard's drill-down")
    assert "controls failing" in text and "Compliance ·" not in text
    press(d, "\ue00c")  # escape: back to the dashboard
    wait_screen(d, lambda t: "Compliance ·" in t and "Dashboard ›" not in t, "the dashboard after esc")
    # stopping the server ends the session's dashboard (and its collector) and the shared estate
    assert stop_server(proc) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in kids):
        time.sleep(0.2)
    assert not [p for p in kids if alive(p)], "processes left behind by the server"
