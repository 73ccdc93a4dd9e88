"""`mdc-aws serve`: the dashboard in a web browser, one dashboard process per browser session (textual-serve).

    mdc-aws serve [--demo] [--host 127.0.0.1] [--port 8080] [--allow-remote] [--read-only] [--ready-file F]
                  [--max-sessions 4]

The server (`DashboardServer`, textual-serve's `Server`) answers only a browser that holds this run's secret: the URL
it prints carries `?token=…` (secrets.token_urlsafe(32)); that page sets an HttpOnly, SameSite=Strict cookie holding
a second random value (never the printed token: cookies go to every port of the host), and every other request (the
page's script and styles, the websocket, downloads) needs the cookie or the token, else 403 with one line saying what
to open. A websocket opened by a page of another origin (another port of the same host is the same *site* for
cookies) is refused too. Loopback is no boundary on a shared jump host: the token is always
required. Listening beyond loopback needs --allow-remote (a warning on stderr; plain http: use an SSH tunnel).

Each websocket spawns `python -P -m tui.serve …` (this module's `child`, below): no shell, no secret in its argv,
`-P` (the current directory never shadows the package) and a private working folder that is not the operator's cwd,
in a process group of its own: a session that does not quit within CHILD_GRACE_S is killed with everything it
started (its collector, any az). At most --max-sessions sessions run at once (each is a full collector); one more
tab gets a line saying so in its terminal. A session's stderr (a crash's traceback) goes to the log file, redacted,
never to the server's stdout/stderr: the operator sees one line naming the log file.
With --demo the server starts ONE emulated estate (tui.demo_estate.DemoEstate), shared by every session: the children
receive its endpoints, CA and demo token in their environment ($MDC_AWS_SERVE_ESTATE, read and removed before the
child seals its environment as every --demo run does) and reach nothing but that estate on 127.0.0.1. The estate is
stopped when the server exits.

The page is our copy of textual-serve's app_index.html (tui/templates/) without its Google Fonts link: the font is
textual-serve's own copy, and the page's Content-Security-Policy lets it fetch nothing from elsewhere.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import click

from . import cli
from .core import config as cfg
from .core.errors import SourceError

log = logging.getLogger("mdc-aws.serve")

ENV_ESTATE = "MDC_AWS_SERVE_ESTATE"  # the shared demo estate, for the children (JSON: endpoints, CA file, token)
TOKEN_PARAM = "token"  # noqa: S105 - the name of the query parameter, not a secret
HINT = ("mdc-aws serve: forbidden: open the URL that `mdc-aws serve` printed (it ends with ?token=...) in this browser "
        "first; restart the server for a new one")
TEMPLATES = Path(__file__).resolve().parent / "templates"
# a session's dashboard asked to quit, then its process group killed: above the app's own exit (its collector gets
# 2 s, then is killed; the app waits up to 4.5 s for it), so a dashboard that is quitting is not cut short
CHILD_GRACE_S = 8.0
MAX_SESSIONS = 4  # default of --max-sessions: each session is a dashboard plus a collector (ARM/ARG load)
STDERR_MAX_LINES = 2000  # of one session's stderr into the log file; the rest counted
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|[\x00-\x08\x0b-\x1f\x7f]")


class ReadyFileError(Exception):
    """--ready-file could not be written (the server was listening: not a port problem)."""


def statics_path() -> Path:
    """textual-serve's own static files (textual.js, xterm.css, the Roboto Mono font)."""
    import textual_serve

    return Path(textual_serve.__file__).resolve().parent / "static"


def cookie_name(port: int) -> str:
    """Cookies are per host, not per port: one name per server, so two servers on one host never overwrite each
    other's session."""
    return f"mdc_aws_session_{port}"


def url_host(host: str) -> str:
    """The host as a URL writes it: IPv6 in brackets; an unspecified address (0.0.0.0, ::) as this machine's name."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def same_token(given: str | None, token: str) -> bool:
    """Constant-time comparison (also for values that are not ASCII)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def child_argv(opts: dict[str, Any], *, refresh_s: float | None, read_only: bool,
               python: str | None = None) -> list[str]:
    """The command of one session's dashboard: this interpreter, -P, this module; the operator's flags again (paths
    made absolute: the child runs in its own folder), never a secret (tokens live in the environment or the config
    file, which the child reads itself)."""
    argv = [python or sys.executable, "-P", "-m", "tui.serve"]
    if opts.get("demo"):
        argv += ["--demo", "--scale", str(opts.get("scale") or "default"), "--seed", str(opts.get("seed", 42))]
    else:
        for opt, flag in (("arm_endpoint", "--arm-endpoint"), ("aws_endpoint_url", "--aws-endpoint-url"),
                          ("aws_profile", "--aws-profile"), ("assume_role_name", "--assume-role-name")):
            if opts.get(opt):
                argv += [flag, str(opts[opt])]
        if opts.get("ca_bundle"):
            argv += ["--ca-bundle", os.path.abspath(opts["ca_bundle"])]
    if opts.get("config_file"):
        argv += ["--config", os.path.abspath(opts["config_file"])]
    for sub in opts.get("subscriptions") or ():
        argv += ["--subscription", str(sub)]
    if opts.get("timeout") is not None:
        argv += ["--timeout", str(opts["timeout"])]
    if opts.get("verbose"):
        argv.append("-" + "v" * int(opts["verbose"]))  # the log file's level (a session's screen gets no log lines)
    if opts.get("no_log_file"):
        argv.append("--no-log-file")
    elif opts.get("log_file"):
        argv += ["--log-file", os.path.abspath(opts["log_file"])]
    if refresh_s is not None:
        argv += ["--refresh", str(refresh_s)]
    if read_only:
        argv.append("--read-only")
    return argv


def estate_env(info: Any) -> dict[str, str]:
    """What a session's dashboard needs of the shared estate (only that: not its admin or identity secrets)."""
    aws = {k: v for k, v in info.env().items() if k.startswith("AWS_")}
    doc = {"arm_url": info.arm_url, "ca_pem": info.ca_pem, "aws_url": info.aws_url, "token": info.token, "aws": aws}
    return {ENV_ESTATE: json.dumps(doc)}


# ------------------------------------------------------------------------------------------------------------------
# The server


def to_log_file(level: int, msg: str, *args: Any) -> list[str]:
    """One record to the log file(s) only (never the -v stderr handler: a session's traceback must not reach the
    operator's screen), through their redacting filters. Returns the files written to ([] without a log file)."""
    from .core import logfile

    logger = logging.getLogger("mdc-aws.serve.session")
    record = logger.makeRecord(logger.name, level, __file__, 0, msg, args, None)
    paths = []
    for h in logging.getLogger().handlers:
        if isinstance(h, logfile.PrivateRotatingFileHandler) and level >= h.level:
            h.handle(record)
            paths.append(h.baseFilename)
    return paths


def _clean(raw: bytes) -> str:
    """One line of a child's stderr as text for the log: decoded, colours and control characters gone."""
    return _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()


def _app_service_class() -> type:
    from textual_serve.app_service import AppService

    class ChildAppService(AppService):
        """textual-serve's AppService, but the child is exec'd (no shell) with our argv, folder and environment, in
        a process group of its own (the server stops it: asked, then the whole group killed), and its stderr goes
        to the log file (textual-serve would copy it raw to the server's stdout)."""

        def __init__(self, argv: list[str], cwd: str, extra_env: dict[str, str], **kw: Any) -> None:
            super().__init__(" ".join(argv[:4]), **kw)
            self.argv, self.cwd, self.extra_env = argv, cwd, extra_env
            self.label = self.app_service_id[:8]  # names the session in the log file
            self.stderr_lines = 0
            self.crashed = False  # a traceback on its stderr
            self.killed: float | None = None  # the grace it had, when its group was killed
            self.ended = False
            self._stderr_task: asyncio.Task[None] | None = None

        async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
            env = self._build_environment(width=width, height=height)
            env.update(self.extra_env)
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=self.cwd, start_new_session=True)
            assert process.stdin is not None and process.stderr is not None
            self._stdin = process.stdin
            # textual-serve's run() reads `process.stderr` and writes it to sys.stdout: it gets an empty stream,
            # the real one is read here, line by line into the log file
            self._stderr_task = asyncio.create_task(self._drain_stderr(process.stderr))
            empty = asyncio.StreamReader()
            empty.feed_eof()
            process.stderr = empty
            return process

        async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
            pending = b""
            while True:
                data = await stream.read(4096)
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                if len(pending) > 8192:  # no newline in sight: log what there is
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    self._stderr_line(line)
            if pending:
                self._stderr_line(pending)

        def _stderr_line(self, raw: bytes) -> None:
            text = _clean(raw)
            if not text.strip():
                return
            self.stderr_lines += 1
            self.crashed = self.crashed or "Traceback (most recent call last)" in text
            if self.stderr_lines <= STDERR_MAX_LINES:
                to_log_file(logging.WARNING, "browser session %s stderr: %s", self.label, text)

        async def shutdown(self, grace_s: float = CHILD_GRACE_S) -> None:
            """Ask the dashboard to quit; after ``grace_s`` kill its process group (the dashboard, its collector and
            whatever they started). The first call also reports how the session ended."""
            proc = self._process
            try:
                await asyncio.wait_for(self.stop(), grace_s)
            except (asyncio.TimeoutError, OSError, RuntimeError):
                pass
            if proc is not None and proc.returncode is None:
                self.killed = grace_s
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group is the child's pid
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    await asyncio.wait_for(proc.wait(), 2.0)
                except (ProcessLookupError, asyncio.TimeoutError, OSError):
                    pass
            await self._report()

        async def _report(self) -> None:
            if self.ended or self._process is None:
                return
            self.ended = True
            if self._stderr_task is not None:
                try:  # EOF once the group is gone; a grandchild that left the group and holds the pipe: not waited
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 2.0)
                except Exception:  # noqa: BLE001 - a reader that failed or hangs: the session's end still reported
                    self._stderr_task.cancel()
            if self.stderr_lines > STDERR_MAX_LINES:
                to_log_file(logging.WARNING, "browser session %s: %d more stderr lines not logged", self.label,
                            self.stderr_lines - STDERR_MAX_LINES)
            code = self._process.returncode
            if self.killed is not None:
                to_log_file(logging.WARNING, "browser session %s had not quit after %.0f s: its process group (the "
                            "dashboard, its collector, any az) was killed", self.label, self.killed)
            failed = self.crashed or (code not in (0, None) and self.killed is None)
            if failed or self.stderr_lines:
                what = "ended with an error" if failed else "wrote warnings"
                paths = to_log_file(logging.WARNING, "browser session %s (exit code %s) %s", self.label, code, what)
                where = (f"see the log file {paths[0]}" if paths else
                         "no log file kept them (--no-log-file): run without it to see them")
                click.echo(f"mdc-aws: a browser session {what}: {where}", err=True)

    return ChildAppService


def _server_class() -> type:
    from textual_serve.server import Server

    class DashboardServer(Server):
        """textual-serve's Server behind the URL token (see the module's docstring)."""

        def __init__(self, argv: list[str], *, host: str, port: int, token: str, cwd: str,
                     extra_env: dict[str, str], ready_file: str | None = None,
                     on_listening: Callable[[str], None] | None = None, max_sessions: int = MAX_SESSIONS) -> None:
            from .core import redact

            super().__init__(" ".join(argv), host=host, port=port, title="mdc-aws",
                             statics_path=statics_path(), templates_path=TEMPLATES)
            self.argv, self.token, self.cwd, self.extra_env = argv, token, cwd, extra_env
            # what the cookie carries: not the printed token (a cookie goes to every port of this host name)
            self.session_value = secrets.token_urlsafe(32)
            redact.register(self.session_value)
            self.ready_file, self.on_listening = ready_file, on_listening
            self.max_sessions = max(1, int(max_sessions))
            self.active = 0  # sessions started or starting (counted before the first await: no race)
            self.refused = 0
            self.url = ""
            self.bound: list[tuple[str, int]] = []
            self.services: set[Any] = set()
            self.sockets: set[Any] = set()
            self._stop = asyncio.Event()

        def initialize_logging(self) -> None:
            """Nothing: the CLI's redacting handlers are in place (textual-serve's would print tracebacks with
            their locals)."""

        def authorized(self, request: Any) -> bool:
            name = cookie_name(self.port)
            return (same_token(request.cookies.get(name), self.session_value)
                    or same_token(request.query.get(TOKEN_PARAM), self.token))

        async def _make_app(self) -> Any:
            import aiohttp_jinja2
            import jinja2
            from aiohttp import web

            @web.middleware
            async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
                if not self.authorized(request):
                    return web.Response(status=403, text=HINT + "\n", headers=_HEADERS)
                if request.path == "/ws":
                    origin = request.headers.get("Origin")
                    if origin is not None and origin != f"{request.scheme}://{request.host}":
                        return web.Response(status=403, text="mdc-aws serve: forbidden: a page of another origin "
                                            "may not open this dashboard\n", headers=_HEADERS)
                response = await handler(request)
                if not isinstance(response, web.WebSocketResponse):
                    response.headers.update(_HEADERS)
                return response

            app = web.Application(middlewares=[guard])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(self.templates_path)), autoescape=True)
            app.add_routes([
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
                web.get("/favicon.ico", _no_content),
            ])
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def handle_index(self, request: Any) -> Any:
            import aiohttp_jinja2

            from textual_serve.server import to_int

            scheme = "wss" if request.scheme == "https" else "ws"
            context = {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{scheme}://{request.host}/ws",
                "config": {"static": {"url": "/static/"}},
                "application": {"name": self.title},
                "token_param": TOKEN_PARAM,
            }
            response = aiohttp_jinja2.render_template("app_index.html", request, context)
            if same_token(request.query.get(TOKEN_PARAM), self.token):
                response.set_cookie(cookie_name(self.port), self.session_value, httponly=True, samesite="Strict",
                                    path="/")
            response.headers["Cache-Control"] = "no-store"
            response.headers["Content-Security-Policy"] = _csp(request)
            return response

        async def handle_websocket(self, request: Any) -> Any:
            """One browser session: one dashboard process (textual-serve's handler, with our AppService)."""
            from aiohttp import web

            from textual_serve.server import to_int

            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            if self.active >= self.max_sessions:
                return await self.refuse(request, websocket)
            self.active += 1
            service: Any = None
            try:
                await websocket.prepare(request)
                self.sockets.add(websocket)
                service = _app_service_class()(
                    self.argv, self.cwd, self.extra_env, write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str, close=websocket.close, download_manager=self.download_manager)
                self.services.add(service)
                await service.start(width, height)
                log.info("session started")
                try:
                    await self._process_messages(websocket, service)
                finally:
                    await service.shutdown()
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as e:  # noqa: BLE001 - one session failed: logged (redacted), the server goes on
                log.error("session failed: %s", e)
            finally:
                try:
                    if service is not None:
                        await service.shutdown()
                        self.services.discard(service)
                finally:
                    self.active -= 1  # once its processes are gone: they count until then
                    self.sockets.discard(websocket)
            return websocket

        def refusal(self) -> str:
            return (f"mdc-aws serve: {self.max_sessions} browser session{'s are' if self.max_sessions > 1 else ' is'}"
                    f" open already (--max-sessions {self.max_sessions}): close one of them, then reload this page")

        async def refuse(self, request: Any, websocket: Any) -> Any:
            """One session too many: no dashboard; the page's terminal shows one line saying why (the socket stays
            open, so the page does not cover it with "Session ended", until the tab goes or the server stops)."""
            from aiohttp import WSMsgType

            self.refused += 1
            log.warning("browser session refused: %d open (--max-sessions %d)", self.active, self.max_sessions)
            try:
                await websocket.prepare(request)
                self.sockets.add(websocket)
                await websocket.send_bytes(("\x1b[2J\x1b[H" + self.refusal() + "\r\n").encode())
                async for msg in websocket:
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                        break
            except (asyncio.CancelledError, ConnectionError, RuntimeError):
                pass
            finally:
                self.sockets.discard(websocket)
                await websocket.close()
            return websocket

        async def on_startup(self, app: Any) -> None:
            """Nothing printed here: `run` prints the URL once the socket is bound."""

        async def on_shutdown(self, app: Any) -> None:
            """Every session's dashboard asked to quit (killed after a grace), every websocket closed."""
            await asyncio.gather(*(s.shutdown() for s in list(self.services)), return_exceptions=True)
            await asyncio.gather(*(ws.close() for ws in list(self.sockets)), return_exceptions=True)

        def request_exit(self) -> None:
            self._stop.set()

        async def run(self) -> None:
            """Bind, say where (stdout, --ready-file), serve until SIGINT/SIGTERM/SIGHUP or `request_exit`."""
            from aiohttp import web

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                try:
                    loop.add_signal_handler(sig, self.request_exit)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
            app = await self._make_app()
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=CHILD_GRACE_S + 3)
            await runner.setup()
            try:
                site = web.TCPSite(runner, self.host, self.port, reuse_address=False)
                await site.start()
                server = getattr(site, "_server", None)
                self.bound = [s.getsockname()[:2] for s in (getattr(server, "sockets", None) or [])]
                if self.bound:
                    self.port = self.bound[0][1]
                self.url = f"http://{url_host(self.host)}:{self.port}/?{TOKEN_PARAM}={self.token}"
                if self.ready_file:
                    from .core.export import write_private

                    try:
                        write_private(self.ready_file, json.dumps({"url": self.url}) + "\n")
                    except OSError as e:
                        raise ReadyFileError(e.strerror or str(e)) from None
                if self.on_listening is not None:
                    self.on_listening(self.url)
                await self._stop.wait()
            finally:
                await runner.cleanup()

    return DashboardServer


async def _no_content(request: Any) -> Any:
    from aiohttp import web

    return web.Response(status=204)


_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _csp(request: Any) -> str:
    """Nothing from elsewhere: scripts, styles, the font and the websocket come from this server only (the styles
    and the two inline scripts of the page are inline)."""
    scheme = "wss" if request.scheme == "https" else "ws"
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "font-src 'self'; img-src 'self' data: blob:; "
            f"connect-src 'self' {scheme}://{request.host}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def make_server(argv: list[str], *, host: str, port: int, token: str, cwd: str, extra_env: dict[str, str],
                ready_file: str | None = None, on_listening: Callable[[str], None] | None = None,
                max_sessions: int = MAX_SESSIONS) -> Any:
    """A DashboardServer (not started: ``await server.run()``)."""
    return _server_class()(argv, host=host, port=port, token=token, cwd=cwd, extra_env=extra_env,
                           ready_file=ready_file, on_listening=on_listening, max_sessions=max_sessions)


def run_server(opts: dict[str, Any], *, host: str, port: int, allow_remote: bool, read_only: bool,
               refresh_s: float | None, ready_file: str | None, max_sessions: int = MAX_SESSIONS) -> int:
    """`mdc-aws serve`: checks, the demo's estate (started now, stopped at exit), the server. Returns an exit code;
    every failure is one line on stderr."""
    if not cli._is_loopback_host(host):  # noqa: SLF001 - the CLI's one definition of loopback
        if not allow_remote:
            click.echo(f"mdc-aws: --host {host} is reachable from other machines: add --allow-remote to mean it "
                       "(or keep 127.0.0.1 and use an SSH tunnel: ssh -L 8080:127.0.0.1:8080 jump-host)", err=True)
            return cli.EXIT_USAGE
        click.echo(f"mdc-aws: warning: serving on {host}: anyone who can reach this port and learns the URL drives "
                   "the dashboard " + ("on the demo estate" if opts.get("demo") else "with your Azure and AWS "
                                       "credentials") + "; plain http (no TLS): prefer an SSH tunnel", err=True)
    if ready_file and not os.path.isdir(os.path.dirname(os.path.abspath(ready_file))):
        click.echo(f"mdc-aws: --ready-file {ready_file}: its folder does not exist; create it or choose another path",
                   err=True)
        return cli.EXIT_USAGE
    try:
        settings = cli._settings(opts, read_only)  # noqa: SLF001 - the run's settings, sealed for --demo
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        return cli.EXIT_USAGE
    argv = child_argv(opts, refresh_s=refresh_s, read_only=read_only)
    token = secrets.token_urlsafe(32)
    from .core import redact

    redact.register(token)
    workdir = tempfile.mkdtemp(prefix="mdc-aws-serve-")  # 0700: the children's folder, never the operator's cwd
    extra_env = {"MDC_AWS_EXPORT_DIR": os.environ.get("MDC_AWS_EXPORT_DIR") or os.getcwd()}
    estate = cli._estate(opts)  # noqa: SLF001 - the CLI's DemoEstate for this run's --demo flags
    try:
        if estate is not None:
            click.echo(f"starting the emulated estate (scale {opts['scale']}) ...", err=True)
            try:
                estate.start(settings, "the dashboards in the browser")
            except RuntimeError as e:
                click.echo(f"mdc-aws: {e}", err=True)
                return cli.EXIT_PARTIAL
            extra_env.update(estate_env(estate.info))

        def listening(url: str) -> None:
            click.echo(url)
            click.echo(f"mdc-aws: serving the dashboard{' (demo estate)' if estate is not None else ''}"
                       f"{' read-only' if read_only else ''}: open the URL above in a browser; Ctrl+C stops",
                       err=True)

        server = make_server(argv, host=host, port=port, token=token, cwd=workdir, extra_env=extra_env,
                             ready_file=ready_file, on_listening=listening, max_sessions=max_sessions)
        try:
            asyncio.run(server.run())
        except ReadyFileError as e:
            click.echo(f"mdc-aws: --ready-file {ready_file}: cannot write it ({e}): choose another path", err=True)
            return cli.EXIT_USAGE
        except OSError as e:
            click.echo(f"mdc-aws: cannot listen on {host}:{port} ({e.strerror or e}): choose another --port "
                       "(0 = any free port)", err=True)
            return cli.EXIT_USAGE
        except KeyboardInterrupt:
            return 130
        return cli.EXIT_OK
    finally:
        if estate is not None:
            estate.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------------
# One session's dashboard (the child)


class SharedEstate:
    """The server's estate as one session's dashboard sees it (tui.app.Estate): its settings from the environment
    the server gave; stopping it is the server's job."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.arm_url, self.ca_pem = str(doc["arm_url"]), str(doc["ca_pem"])
        self.aws_url, self.token = str(doc["aws_url"]), str(doc["token"])
        self._aws = {str(k): str(v) for k, v in dict(doc.get("aws") or {}).items() if str(k).startswith("AWS_")}

    @classmethod
    def from_env(cls, environ: Any = None) -> SharedEstate | None:
        """Read and remove $MDC_AWS_SERVE_ESTATE (None when absent or unreadable)."""
        env = os.environ if environ is None else environ
        raw = env.pop(ENV_ESTATE, None)
        if not raw:
            return None
        try:
            return cls(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None

    def env(self) -> dict[str, str]:
        return dict(self._aws)

    def start(self, base: cfg.Settings, what: str = "the dashboard") -> cfg.Settings:
        from .core import demo as sealed
        from .core import policy

        from .core import redact

        redact.register(self.token)
        settings = sealed.estate_settings(self, base)  # sealed: this estate on loopback, its demo token
        policy.check_reads(settings, what)
        return settings

    def stop(self, grace_s: float = 3.0) -> None:
        """Nothing: the server stops the estate when it exits."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@cli._common  # noqa: SLF001 - the same common options as every command
@click.option("--refresh", "refresh_s", type=click.FloatRange(min=2), default=None)
@click.option("--read-only", "read_only", is_flag=True)
def child(refresh_s: float | None = None, read_only: bool = False, **opts: Any) -> None:
    """One browser session's dashboard (started by `mdc-aws serve`; not for people)."""
    cli._setup_logging(opts.get("verbose", 0), screen=True)  # noqa: SLF001 - a full-screen app: the log file only
    shared = SharedEstate.from_env() if opts.get("demo") else None  # before --demo seals the environment
    os.environ.pop(ENV_ESTATE, None)
    if opts.get("demo") and shared is None:
        click.echo(f"mdc-aws: --demo in a browser session needs the server's estate (${ENV_ESTATE}); "
                   "start it with `mdc-aws serve --demo`", err=True)
        sys.exit(cli.EXIT_USAGE)
    try:
        settings = cli._settings(opts, read_only)  # noqa: SLF001 - sealed for --demo as every demo run
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(cli.EXIT_USAGE)
    cli.run_dashboard(settings, opts, refresh_s if refresh_s is not None else settings.refresh_s, mouse=True,
                      theme=None, read_only=read_only, estate=shared)


if __name__ == "__main__":
    child()
