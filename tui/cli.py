"""Command line: `mdc-aws [snapshot|export|check|diff|emulate|info] ...`.

Exit codes (documented in the README):
  0  complete: every section fresh
  1  partial: some section failed (its last good data or nothing, with the error, is still printed)
  2  usage or authentication error (bad flags or config; credentials rejected and nothing could be read)
  3  `check`: a rule failed (tui.core.gate)
"""
from __future__ import annotations

import gc

# Start-up: the imports of the first frame (textual) or of a one-shot collection (the SDKs) create 50-150k objects
# that all live on, and the cyclic collector traversing them every 700 allocations cost ~20 ms of the first frame.
# Until start-up ends the young generation may grow; then what lives is frozen (never traversed again) and the
# thresholds come back: resume_gc() below (one-shot commands, any command's end), MdcApp._start for the dashboard
# (after its first frame; the app cannot import this module: the same constant is in tui/app.py).
STARTUP_GEN0 = 200_000
_GC_AT_START = gc.get_threshold()
if _GC_AT_START[0] < STARTUP_GEN0:
    gc.set_threshold(STARTUP_GEN0, *_GC_AT_START[1:])

import asyncio  # noqa: E402 - after the start-up's collector thresholds (above)
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any, Callable  # noqa: E402

import click  # noqa: E402

from .core import config as cfg  # noqa: E402
from .core.errors import SourceError, UsageError  # noqa: E402

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--demo", is_flag=True, help="Run against the embedded emulated estate (no Azure/AWS needed)."),
        click.option("--scale", type=click.Choice(["default", "large", "million"]), default="default",
                     show_default=True, help="Size of the emulated estate (with --demo)."),
        click.option("--seed", type=int, default=42, show_default=True,
                     help="Seed of the emulated estate (with --demo)."),
        click.option("--arm-endpoint", metavar="URL",
                     help="Azure Resource Manager endpoint [env MDC_AWS_ARM_ENDPOINT]."),
        click.option("--ca-bundle", metavar="PEM", type=click.Path(dir_okay=False),
                     help="Extra CA bundle to trust for ARM [env MDC_AWS_CA_BUNDLE]."),
        click.option("--aws-endpoint-url", metavar="URL",
                     help="One endpoint for every AWS service [env MDC_AWS_AWS_ENDPOINT_URL]."),
        click.option("--aws-profile", metavar="NAME", help="Base AWS profile (default: boto3's default chain)."),
        click.option("--assume-role-name", metavar="NAME",
                     help="Role assumed in each AWS account [default OrganizationAccountAccessRole]."),
        click.option("--subscription", "subscriptions", multiple=True, metavar="ID",
                     help="Azure subscription to read (repeatable; default: every subscription visible)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Config file (TOML) [default: the user config dir, see `mdc-aws info`]."),
        click.option("--timeout", type=float, default=120.0, show_default=True, metavar="SECONDS",
                     help="Per-section timeout."),
        click.option("-v", "--verbose", count=True,
                     help="Log to stderr (-v info, -vv debug; -vv: the log file at debug too)."),
        click.option("--log-file", "log_file", type=click.Path(dir_okay=False), metavar="PATH",
                     help="Log to this file (rotated, 0600) [env MDC_AWS_LOG_FILE; default: the user log dir, see "
                          "`mdc-aws info`]."),
        click.option("--no-log-file", "no_log_file", is_flag=True, help="Write no log file."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _setup_logging(verbose: int, screen: bool = False) -> None:
    """Logging to the log file (INFO, -vv DEBUG; tui.core.logfile: --log-file, --no-log-file, $MDC_AWS_LOG_FILE,
    read from the command's options) and, with -v/-vv, to stderr; `screen` (a full-screen app: stderr would draw
    over it): never to stderr. Every handler redacts secrets (tui.core.redact); the loggers that dump whole requests
    and responses stay capped above DEBUG even at -vv. A log file that cannot be opened: one line, no file."""
    from .core import logfile, redact

    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logfile.PrivateRotatingFileHandler):  # ours, from an earlier call (tests): closed
            old.close()
    root.handlers[:] = []
    redact.register_from_env(os.environ)  # before any handler exists: no line is written unredacted
    log_file, no_log_file = None, False
    ctx = click.get_current_context(silent=True)
    while ctx is not None:  # the command's own flags, else the group's (`mdc-aws --no-log-file snapshot`)
        log_file = log_file or ctx.params.get("log_file")
        no_log_file = no_log_file or bool(ctx.params.get("no_log_file"))
        ctx = ctx.parent
    path = logfile.resolve(log_file, no_log_file)
    levels = []
    fh, problem = logfile.open_handler(path, logging.DEBUG if verbose > 1 else logging.INFO) if path else (None, None)
    if fh is not None:
        root.addHandler(fh)
        levels.append(fh.level)
    elif problem:
        click.echo(problem, err=True)
    if verbose and not screen:
        h: logging.Handler = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)
        levels.append(logging.DEBUG if verbose > 1 else logging.INFO)
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # not logging's last resort (stderr)
    root.setLevel(min(levels, default=logging.ERROR))
    # a logger's filter does not see records propagated from its children: the filter goes on every handler
    redact.install(root.handlers, root)
    # the SDKs log every request (with headers) at INFO; never without -vv
    for name in ("azure", "botocore", "boto3", "urllib3", "werkzeug", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    redact.cap_wire_loggers(logging.DEBUG if verbose > 1 else logging.WARNING)
    if fh is not None:  # which run wrote the lines that follow (several runs share the file; no argument is logged)
        cmd = click.get_current_context(silent=True)
        what = "" if cmd is None else f" {cmd.info_name}" if cmd.parent else " dashboard"
        logging.getLogger("tui.cli").info("mdc-aws%s started%s", what,
                                          " (-vv)" if verbose > 1 else " (-v)" if verbose else "")


def build_settings(opts: dict[str, Any], env: dict[str, str] | None = None,
                   warn: Callable[[str], None] | None = None) -> cfg.Settings:
    """Config file < environment < flags. Every value checked; a bad one is a UsageError naming where it came from
    (the flag, the environment variable, or the config file and key). Unknown config keys: `warn` (default stderr)."""
    from pathlib import Path

    from .core import redact

    path = Path(opts["config_file"]) if opts.get("config_file") else None
    if path is not None and not path.exists():
        raise UsageError(f"config file {path} does not exist")
    file_path = path or cfg.config_path()
    raw = cfg.load_file(file_path)
    sources: dict[str, str] = {}
    s = cfg.from_mapping(raw, path=file_path, sources=sources,
                         warn=warn if warn is not None else (lambda m: click.echo(f"mdc-aws: warning: {m}", err=True)))
    if s.azure.access_token:
        redact.register(s.azure.access_token)
        why = cfg.check_private(file_path)
        if why:
            raise UsageError(f"config file {file_path} holds azure.access_token but {why}: a token may only be kept "
                             f"in a file private to you; run `chmod 600 {file_path}` (and make sure you own it), "
                             f"or set {cfg.ENV_ACCESS_TOKEN} instead")
    s = cfg.from_env(s, env, sources=sources)
    az, aws = s.azure, s.aws
    flags = {"arm_endpoint": ("azure.arm_endpoint", "--arm-endpoint"), "ca_bundle": ("azure.ca_bundle", "--ca-bundle"),
             "aws_endpoint_url": ("aws.endpoint_url", "--aws-endpoint-url"),
             "aws_profile": ("aws.profile", "--aws-profile"),
             "assume_role_name": ("aws.assume_role_name", "--assume-role-name")}
    for opt, (key, flag) in flags.items():
        if opts.get(opt):
            table, name = key.split(".")
            if table == "azure":
                az = replace(az, **{name: opts[opt]})
            else:
                aws = replace(aws, **{name: opts[opt]})
            sources[key] = flag
    if opts.get("subscriptions"):
        az = replace(az, subscriptions=tuple(opts["subscriptions"]))
        sources["azure.subscriptions"] = "--subscription"
    redact.register(az.access_token)
    _validate(az, aws, sources)
    return replace(s, azure=az, aws=aws)


def _is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts plain http may reach (nothing leaves the machine)."""
    import ipaddress

    if not host:
        return False
    h = host.strip("[]").rstrip(".").lower()
    if h == "localhost":  # not *.localhost: whether that resolves to loopback depends on the resolver
        return True
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback


def _validate(az: cfg.AzureSettings, aws: cfg.AwsSettings, sources: dict[str, str] | None = None) -> None:
    """Check the merged settings; each message names where the bad value came from (flag, variable, file + key)."""
    from urllib.parse import urlsplit

    def bad(key: str, value: Any, problem: str, flag: str) -> UsageError:
        return UsageError(cfg.bad_value(sources, key, value, problem, flag))

    def split(url: str) -> Any:
        try:
            u = urlsplit(url)
            u.port  # noqa: B018 - raises ValueError on a bad port
            return u
        except ValueError:
            return None

    u = split(az.arm_endpoint)
    if u is None or u.scheme != "https" or not u.hostname:
        raise bad("azure.arm_endpoint", az.arm_endpoint,
                  "must be an https:// URL (Azure SDKs send tokens only over TLS)", "--arm-endpoint")
    if az.ca_bundle and not os.path.isfile(az.ca_bundle):
        raise bad("azure.ca_bundle", az.ca_bundle, "not a file", "--ca-bundle")
    if aws.ca_bundle and not os.path.isfile(aws.ca_bundle):
        raise bad("aws.ca_bundle", aws.ca_bundle, "not a file", "--config")
    if aws.endpoint_url:
        a = split(aws.endpoint_url)
        if a is None or a.scheme not in ("http", "https") or not a.hostname:
            raise bad("aws.endpoint_url", aws.endpoint_url, "must be an http(s):// URL", "--aws-endpoint-url")
        if a.scheme == "http" and not _is_loopback_host(a.hostname):
            raise bad("aws.endpoint_url", aws.endpoint_url,
                      "plain http is allowed only for this machine (127.0.0.1, ::1, localhost): AWS requests carry "
                      "session tokens; use https://", "--aws-endpoint-url")
    import re

    for sub in az.subscriptions:
        if not isinstance(sub, str) or not re.fullmatch(
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", sub):
            raise bad("azure.subscriptions", sub, "is not a subscription id (a GUID)", "--subscription")


_DEMO_IGNORED_FLAGS = (("arm_endpoint", "--arm-endpoint"), ("ca_bundle", "--ca-bundle"),
                       ("aws_endpoint_url", "--aws-endpoint-url"), ("aws_profile", "--aws-profile"),
                       ("assume_role_name", "--assume-role-name"))


def _settings(opts: dict[str, Any], read_only: bool = False) -> cfg.Settings:
    """The settings of this run, decided before any screen or command runs; sets the process-wide policy
    (tui.core.policy: read-only, sealed demo) first. Raises UsageError.

    --demo: the environment is sealed (the operator's AWS_* / Azure identity / MDC_AWS_* variables are removed from
    this process and its children, tui.core.demo.seal_environment), and the settings are the demo's loopback
    placeholders until the estate serves: the config file gives only sizes, retries, timeouts, the refresh cadence
    and the data dir; endpoint and credential flags are ignored (said on stderr)."""
    from .core import policy

    demo_run = bool(opts.get("demo"))
    policy.configure(read_only=read_only, demo=demo_run)
    if not demo_run:
        return build_settings(opts)
    from pathlib import Path

    from .core import demo

    removed = demo.seal_environment()
    ignored = [flag for opt, flag in _DEMO_IGNORED_FLAGS if opts.get(opt)]
    if removed or ignored:
        click.echo("mdc-aws: --demo ignores " + ", ".join(ignored + [f"${k}" for k in removed])
                   + " (a demo reaches only the emulated estate on 127.0.0.1)", err=True)
    path = Path(opts["config_file"]) if opts.get("config_file") else None
    if path is not None and not path.exists():
        raise UsageError(f"config file {path} does not exist")
    file_path = path or cfg.config_path()
    base = cfg.from_mapping(demo.sealed_config(cfg.load_file(file_path)), path=file_path)
    s = demo.sealed_settings(base, tuple(opts.get("subscriptions") or ()))
    _validate(s.azure, s.aws)
    return s


class _OneShotStart:
    """The start-up of a one-shot collection (`snapshot`): what it costs on top of the requests it makes
    (benchmarks/oneshot.py).

    - Start-up's collector thresholds (STARTUP_GEN0) last until the SDKs are imported: resume_gc() then.
    - The Azure side's imports happen first, on this thread (the first requests need them); botocore (the AWS
      source uses botocore's own sessions, never boto3) is imported in a thread while those requests are in flight:
      the AWS calls wait for the connectors anyway, so the import is off the critical path. It starts only once
      this thread's imports are done (no two threads import the same packages at once). A failed import there is
      ignored: the AWS source's own import says what is wrong, where it always did.
    - Then that thread runs ``warm`` (AwsSource.warm: the base session, the models' listing, the STS client and
      sts:GetCallerIdentity, which every account's way in needs first) while the connectors are asked for, not
      after them. A failure there is not cached: the call is made again where it is needed and reported there."""

    def __init__(self) -> None:
        import threading

        self._thread: Any = None
        self._warm: Callable[[], Any] | None = None
        self._imported = threading.Event()

    AZURE = ("aiohttp", "azure.core.rest", "azure.mgmt.core", "azure.mgmt.resourcegraph.aio",
             "azure.mgmt.resourcegraph.models")
    AWS = ("botocore.session", "botocore.client", "botocore.config")

    @staticmethod
    def _load(names: tuple[str, ...]) -> None:
        import importlib

        try:
            for name in names:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a warm-up: the source that needs it imports it again and says what failed
            pass

    def azure_now_aws_beside(self, warm: Callable[[], Any] | None = None) -> None:
        import threading

        self._load(self.AZURE)
        self._warm = warm
        self._thread = threading.Thread(target=self._aws_side, name="mdc-aws-sdk-import", daemon=True)
        self._thread.start()

    def _aws_side(self) -> None:
        try:
            self._load(self.AWS)
        finally:
            resume_gc()
            self._imported.set()
        if self._warm is not None:
            self._warm()  # never raises (AwsSource.warm)

    def close(self) -> None:
        """Waits for the imports (not for the warm-up: a collection that never needed AWS does not wait for an AWS
        endpoint that does not answer; the thread is a daemon)."""
        if self._thread is not None:
            self._imported.wait(30)
        resume_gc()


def resume_gc() -> None:
    """End of start-up (see STARTUP_GEN0): what lives now is frozen, the collector's thresholds come back."""
    if gc.get_threshold()[0] == STARTUP_GEN0 and _GC_AT_START[0] != STARTUP_GEN0:
        gc.freeze()
        gc.set_threshold(*_GC_AT_START)


async def collect_once(settings: cfg.Settings, timeout_s: float) -> tuple[Any, bool]:
    start = _OneShotStart()
    aws_source: Any = None
    try:
        from .core.aws import AwsSource
        from .core.azure import azure_source
        from .core.collect import Collector

        aws_source = AwsSource(settings.aws, lean_models=True)
        start.azure_now_aws_beside(warm=aws_source.warm)
        async with azure_source(settings) as az:
            async with aws_source as aws:
                col = Collector(az, aws, section_timeout_s=timeout_s)
                snap = await col.collect()
                return snap, col.auth_failed
    finally:
        if aws_source is not None:  # entered or not (the Azure source failing first): nothing of it keeps running
            aws_source.close()
        start.close()


def _exit_code(snap: Any, auth_failed: bool) -> int:
    if snap.complete:
        return EXIT_OK
    if auth_failed and all(s.data is None for s in snap.sections.values()):
        return EXIT_USAGE
    return EXIT_PARTIAL


def _estate(opts: dict[str, Any]) -> Any:
    """The demo's estate (not started yet), or None without --demo."""
    if not opts.get("demo"):
        return None
    from .demo_estate import DemoEstate

    return DemoEstate(seed=opts["seed"], scale=opts["scale"], tick_seconds=60.0)


def _on_estate(opts: dict[str, Any], settings: cfg.Settings, what: str) -> Any:
    """A context: the settings of a one-shot command, on the demo's estate (started now, stopped after) with
    --demo, else ``settings`` as they are."""
    import contextlib

    @contextlib.contextmanager
    def run() -> Any:
        estate = _estate(opts)
        if estate is None:
            yield settings
            return
        click.echo(f"starting the emulated estate (scale {opts['scale']}) ...", err=True)
        with estate:
            yield estate.start(settings, what)

    return run()


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mdc-aws")
@_common
@click.option("--refresh", "refresh_s", type=click.FloatRange(min=2), default=None, metavar="SECONDS",
              help="Refresh cadence of the panes [default 60, config refresh_s].")
@click.option("--mouse/--no-mouse", default=False, show_default=True, help="Mouse support (off: plain terminal "
              "selection works, no traffic on every mouse move over SSH).")
@click.option("--theme", default=None, metavar="NAME",
              help="Textual theme, e.g. textual-dark, ansi-dark, ansi-light [env TEXTUAL_THEME].")
@click.option("--read-only", "read_only", is_flag=True,
              help="Onboarding shows every request it would send but sends none (no write reaches Azure or AWS).")
@click.pass_context
def main(ctx: click.Context, refresh_s: float | None = None, mouse: bool = False, theme: str | None = None,
         read_only: bool = False, **opts: Any) -> None:
    """Microsoft Defender for Cloud x AWS: connectors, plans, EC2 -> Arc onboarding, recommendations, compliance.

    Without a command: the live dashboard (`--demo` runs it on the embedded emulated estate).
    """
    if ctx.invoked_subcommand is not None:
        if ctx.invoked_subcommand not in ("snapshot", "onboard"):  # those end start-up themselves (see STARTUP_GEN0)
            resume_gc()
        ctx.call_on_close(resume_gc)
        return
    _setup_logging(opts.get("verbose", 0), screen=True)  # the log file only: stderr would draw over the screen
    try:
        settings = _settings(opts, read_only)
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    run_dashboard(settings, opts, refresh_s if refresh_s is not None else settings.refresh_s, mouse, theme,
                  read_only=read_only)


def run_dashboard(settings: cfg.Settings, opts: dict[str, Any], refresh_s: float, mouse: bool,
                  theme: str | None, read_only: bool = False, onboard: Any = None, estate: Any = None) -> None:
    """The dashboard (``onboard``: opened on the onboarding screens, "home" or a flow, as `mdc-aws onboard`;
    ``estate``: the demo estate to use, default this run's own for --demo, e.g. `serve`'s shared one)."""
    from .app import MdcApp
    from .core.history import History

    history = None
    try:
        # never raises: a history that cannot be opened (or is not private) is disabled, with its message
        history = History.in_dir(*_history_place(settings, opts))
        for problem in (history.error, history.notice):
            if problem:
                click.echo(f"mdc-aws: {problem}", err=True)
    except Exception as e:  # noqa: BLE001 - no history is a degraded start, not a failure
        click.echo(f"mdc-aws: history disabled ({e})", err=True)
    # `mdc-aws onboard`: the same app, opened on the onboarding screens
    app = MdcApp(settings, estate=estate if estate is not None else _estate(opts), refresh_s=refresh_s,
                 history=history,
                 theme=theme or os.environ.get("TEXTUAL_THEME"), section_timeout_s=opts.get("timeout", 120.0),
                 read_only=read_only, start_flow=onboard)
    app.run(mouse=mouse)


@main.command()
@_common
@click.option("--flow", type=click.Choice(["home", "native", "classic", "remove"]), default="home",
              show_default=True, help="Open this flow directly (home: the choice of the three).")
@click.option("--read-only", "read_only", is_flag=True,
              help="Show every request it would send, send none (no write reaches Azure or AWS).")
@click.option("--mouse/--no-mouse", default=False, show_default=True, help="Mouse support.")
@click.option("--theme", default=None, metavar="NAME", help="Textual theme [env TEXTUAL_THEME].")
def onboard(flow: str = "home", read_only: bool = False, mouse: bool = False, theme: str | None = None,
            **opts: Any) -> None:
    """Connect an AWS account: the guided wizard (native connector), the classic flow, or remove classic
    connectors. Every write is shown exactly and confirmed first; --read-only sends none."""
    _setup_logging(opts.get("verbose", 0), screen=True)  # a full-screen app: the log file only (as the dashboard)
    try:
        settings = _settings(opts, read_only)
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    run_dashboard(settings, opts, settings.refresh_s, mouse, theme, read_only=read_only, onboard=flow)


@main.command()
@_common
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--schema", "print_schema", is_flag=True, help="Print the JSON Schema of the output and exit.")
def snapshot(fmt: str = "json", output: str | None = None, print_schema: bool = False, **opts: Any) -> None:
    """Print the whole picture once (JSON for scripts and cron, or a table).
    Exit 0 complete, 1 partial, 2 usage/auth."""
    if print_schema:
        from importlib.resources import files

        click.echo(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))
        return
    opts.setdefault("demo", False)
    settings = _settings_or_exit(opts)
    snap, auth_failed = _run_collection(opts, settings, lambda s: collect_once(s, opts.get("timeout", 120.0)))
    from .core.export import render_table, snapshot_to_dict

    import json

    _emit(json.dumps(snapshot_to_dict(snap), indent=2) + "\n" if fmt == "json" else render_table(snap), output)
    _report_sections(snap)
    _exit_now(_exit_code(snap, auth_failed))


def _exit_now(code: int) -> None:
    """A one-shot command's end, its output written: as `sys.exit(code)`, except that when this process is the
    `mdc-aws` program (not a test calling the CLI) the interpreter is not torn down: atexit's work (the log file's
    flush and close, temp folders) runs now, the streams are flushed, and the process ends (os._exit). Freeing the
    SDKs' million objects one by one cost 0.3-0.8 s of every snapshot (benchmarks/oneshot.py), for nothing."""
    if os.path.basename(sys.argv[0] if sys.argv else "") != "mdc-aws":
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # noqa: SLF001 - the documented-in-CPython way to run them before os._exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)


def _settings_or_exit(opts: dict[str, Any]) -> cfg.Settings:
    _setup_logging(opts.get("verbose", 0))
    try:
        return _settings(opts)
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)


def _run_collection(opts: dict[str, Any], settings: cfg.Settings, job: Callable[[cfg.Settings], Any]) -> Any:
    """Run `job(settings)` (a coroutine), on the demo estate when --demo; one line and an exit code on failure."""
    try:
        with _on_estate(opts, settings, "the collection") as settings:  # sealed: the estate on loopback only
            return asyncio.run(job(settings))
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    except RuntimeError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_PARTIAL)
    except KeyboardInterrupt:
        sys.exit(130)


def _emit(text: str, output: str | None) -> None:
    if output:
        from .core.export import write_private

        try:
            write_private(output, text)  # 0600: the tenant, its accounts and findings
        except OSError as e:
            click.echo(f"mdc-aws: cannot write {output} ({e.strerror or e}): check the path, then retry", err=True)
            sys.exit(EXIT_USAGE)
    else:
        sys.stdout.write(text)


def _report_sections(snap: Any) -> None:
    """Each failed section as one line on stderr (stdout stays the document)."""
    for name, sec in snap.sections.items():
        if sec.status.error:
            click.echo(f"mdc-aws: {name}: {sec.status.status}: {sec.status.error}", err=True)


@main.command()
@_common
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "md"]), default="md", show_default=True)
@click.option("--view", type=click.Choice(["all", "accounts", "plans", "onboarding", "stuck", "recommendations",
                                           "compliance", "remediation"]), default="all", show_default=True,
              help="Which table (csv needs one table: default accounts); remediation: the runbook (failing controls "
                   "and recommendations, most severe first, with their steps and resources).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def export(fmt: str = "md", view: str = "all", output: str | None = None, **opts: Any) -> None:
    """Write what the dashboard shows (accounts, plans, onboarding, stuck instances, recommendations, compliance)."""
    settings = _settings_or_exit(opts)
    if view == "remediation":
        _export_remediation(settings, opts, fmt, output)  # exits
    from .core.export import export_tables, snapshot_to_dict, to_csv, to_markdown

    snap, auth_failed, recs, recs_error = _run_collection(
        opts, settings, lambda s: collect_with_recommendations(s, opts.get("timeout", 120.0),
                                                                view in ("all", "recommendations")))
    tables = export_tables(snap, recs)
    if view != "all":
        tables = {view: tables[view]}
    if fmt == "json":
        doc = snapshot_to_dict(snap) if view == "all" else {}
        doc["tables"] = {k: [dict(zip(h, r)) for r in rows] for k, (h, rows) in tables.items()}
        import json

        text = json.dumps(doc, indent=2, default=str) + "\n"
    elif fmt == "csv":
        h, rows = export_tables(snap, recs)[view if view != "all" else "accounts"]
        text = to_csv(h, rows)
    else:
        text = to_markdown(tables, snap)
    _emit(text, output)
    if recs_error:
        click.echo(f"mdc-aws: recommendations: {recs_error}", err=True)
    _report_sections(snap)
    code = _exit_code(snap, auth_failed)
    sys.exit(code if not recs_error else max(code, EXIT_PARTIAL))


@main.command("export-connector")
@_common
@click.argument("account", metavar="ACCOUNT")
@click.option("--format", "fmt", type=click.Choice(["arm", "terraform"]), default="arm", show_default=True,
              help="arm: a deployment template (az deployment group create); terraform: an azapi_resource (azapi v2) "
                   "and its import block (-o also writes providers.tf next to FILE when the folder has none).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def export_connector(account: str, fmt: str = "arm", output: str | None = None, **opts: Any) -> None:
    """Write the native connector of one AWS account (ACCOUNT: its 12-digit id or its name) as code that recreates
    it: an ARM template or Terraform. Only reads (one GET of the connector). Exit 0 written, 1 Azure could not be
    read, 2 usage/auth, an unknown account, or an account with only a classic connector."""
    from .core import connector_code as cc

    opts.setdefault("demo", False)
    settings = _settings_or_exit(opts)
    try:
        with _on_estate(opts, settings, "the export") as settings:  # sealed: the estate on loopback only
            item = asyncio.run(asyncio.wait_for(cc.read_connector(settings, account),
                                                opts.get("timeout", 120.0)))
        code = cc.connector_code(item)
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE if e.kind in ("usage", "auth") else EXIT_PARTIAL)
    except (RuntimeError, asyncio.TimeoutError) as e:
        click.echo(f"mdc-aws: the connector could not be read ({e or 'timed out'}): retry, or raise --timeout",
                   err=True)
        sys.exit(EXIT_PARTIAL)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - anything else is one line with what to do, never a traceback
        click.echo(f"mdc-aws: the connector could not be exported ({type(e).__name__}: {' '.join(str(e).split())}"
                   "): retry with -vv and report it if it persists", err=True)
        sys.exit(EXIT_PARTIAL)
    _emit(code.text(fmt), output)  # type: ignore[arg-type]
    for note in code.notes:
        click.echo(f"mdc-aws: note: {note}", err=True)
    if output:
        how = (f"az deployment group create --resource-group {code.resource_group} --template-file {output}"
               if fmt == "arm" else cc.terraform_hint(code))
        providers = cc.Providers()
        try:
            providers = cc.ensure_providers(output) if fmt == "terraform" else providers
        except OSError as e:  # the connector's file is written; its folder's provider configuration is not
            click.echo(f"mdc-aws: cannot write {cc.PROVIDERS_FILE} next to {output} ({e.strerror or e}): declare "
                       "the azapi provider (Azure/azapi) in that folder yourself, or choose a writable one", err=True)
            sys.exit(EXIT_USAGE)
        also = f" and {providers.written} (the azapi provider, once per folder)" if providers.written else ""
        click.echo(f"wrote {output}{also} ({code.name}); deploy it with: {how}", err=True)
        if providers.note:
            click.echo(f"mdc-aws: note: {providers.note}", err=True)
    elif fmt == "terraform":
        click.echo(f"mdc-aws: note: the azapi provider is not in this text (once per folder): -o FILE writes "
                   f"{cc.PROVIDERS_FILE} next to FILE when absent; then {cc.terraform_hint(code)}", err=True)


async def collect_with_recommendations(settings: cfg.Settings, timeout_s: float, with_recs: bool
                                       ) -> tuple[Any, bool, list[Any], str | None]:
    from .core.aws import AwsSource
    from .core.azure import azure_source
    from .core.collect import Collector, describe_error

    async with azure_source(settings) as az:
        async with AwsSource(settings.aws) as aws:
            col = Collector(az, aws, section_timeout_s=timeout_s)
            snap = await col.collect()
            recs: list[Any] = []
            err = None
            if with_recs and col.subscriptions:
                try:
                    from .core.derive import attach_accounts

                    recs = attach_accounts(list(await asyncio.wait_for(az.recommendations(list(col.subscriptions)),
                                                                       timeout_s)), snap)
                except Exception as e:  # noqa: BLE001 - recs are an extra: reported
                    err = describe_error(e)
            return snap, col.auth_failed, recs, err


def _export_remediation(settings: cfg.Settings, opts: dict[str, Any], fmt: str, output: str | None) -> None:
    """`export --view remediation`: the runbook (md, json, or csv: a row per affected resource). Exit as export."""
    from .core.export import remediation_export, remediation_runbook

    timeout = opts.get("timeout", 120.0)
    snap, auth_failed, recs, controls, pairs, notes = _run_collection(
        opts, settings, lambda s: collect_remediation(s, timeout))
    _emit(remediation_export(remediation_runbook(snap, recs, controls, pairs, notes), fmt), output)
    for n in notes:
        click.echo(f"mdc-aws: {n}", err=True)
    _report_sections(snap)
    code = _exit_code(snap, auth_failed)
    sys.exit(code if not notes else max(code, EXIT_PARTIAL))


async def collect_remediation(settings: cfg.Settings, timeout_s: float) -> tuple[Any, bool, list[Any], list[Any],
                                                                                 set[tuple[str, str, str]], list[str]]:
    """What the runbook needs: the snapshot, the recommendations (accounts attached), the controls of every AWS
    standard and the (standard, control, assessment key) failing pairs; each part that fails is a note (partial)."""
    from .core.aws import AwsSource
    from .core.azure import azure_source
    from .core.collect import Collector, describe_error
    from .core.controlmap import failing_controls
    from .core.derive import attach_accounts

    notes: list[str] = []
    async with azure_source(settings) as az:
        async with AwsSource(settings.aws) as aws:
            col = Collector(az, aws, section_timeout_s=timeout_s)
            snap = await col.collect()
            subs = list(col.subscriptions)
            if not subs:
                return snap, col.auth_failed, [], [], set(), notes

            async def recommendations() -> list[Any]:
                try:
                    return attach_accounts(list(await asyncio.wait_for(az.recommendations(subs), timeout_s)), snap)
                except Exception as e:  # noqa: BLE001 - a part that fails is a note, the rest is still written
                    notes.append(f"recommendations: {describe_error(e)}")
                    return []

            async def compliance() -> tuple[list[Any], set[tuple[str, str, str]]]:
                try:
                    return await failing_controls(az, subs, snap, timeout_s)
                except Exception as e:  # noqa: BLE001 - a part that fails is a note, the rest is still written
                    notes.append(f"compliance controls: {describe_error(e)}")
                    return [], set()

            recs, (controls, pairs) = await asyncio.gather(recommendations(), compliance())
            return snap, col.auth_failed, recs, controls, pairs, notes


# ----------------------------------------------------------------------------- check and diff: this run vs the last


def _history_place(settings: cfg.Settings, opts: dict[str, Any]) -> tuple[Any, Any]:
    """(folder, scope) of this run's local history: the demo's own folder (it never mixes with a real tenant), a
    folder per non-default ARM endpoint; the scope is the tenant (once a collection names it), subscriptions and
    endpoint. The dashboard, `check` and `diff` open the same one."""
    from .core.history import Scope

    folder = cfg.data_dir(settings)
    scope = Scope.of(settings)
    if opts.get("demo"):
        return folder / f"demo-{opts['scale']}-{opts['seed']}", Scope("demo")
    if settings.azure.arm_endpoint != cfg.DEFAULT_ARM_ENDPOINT:
        import hashlib

        digest = hashlib.sha1(settings.azure.arm_endpoint.encode(), usedforsecurity=False).hexdigest()
        folder = folder / f"endpoint-{digest[:10]}"  # a name for the folder, not a secret
    return folder, scope


def _history_for(settings: cfg.Settings, opts: dict[str, Any]) -> tuple[Any, str | None]:
    """The local history of this run's scope, opened as the dashboard opens it (run_dashboard: the demo's own folder,
    a folder per non-default ARM endpoint); (None, why) when it cannot be used."""
    from .core.history import History

    try:
        history = History.in_dir(*_history_place(settings, opts))
    except Exception as e:  # noqa: BLE001 - without a history nothing is compared; said, never a crash
        return None, f"history disabled ({e})"
    if history.notice:
        click.echo(f"mdc-aws: {history.notice}", err=True)
    return (history, None) if history.error is None else (None, history.error)


async def _collect_after(settings: cfg.Settings, timeout_s: float, previous: Any) -> tuple[Any, bool]:
    """collect_once, the collector seeded with the last run's snapshot: a section that fails now keeps that run's
    data (marked stale, with the error), so the history keeps a baseline for the next run's comparisons."""
    from .core.aws import AwsSource
    from .core.azure import azure_source
    from .core.collect import Collector

    async with azure_source(settings) as az:
        async with AwsSource(settings.aws) as aws:
            col = Collector(az, aws, section_timeout_s=timeout_s)
            if previous is not None:
                col.seed(previous)
            snap = await col.collect()
            return snap, col.auth_failed


def _against_history(opts: dict[str, Any]) -> tuple[Any, bool, Any, Any, str | None]:
    """Collect a fresh snapshot and read the last run's from the history: (snap, auth_failed, history, previous,
    history_error). Exit 2 (after one line per section) when nothing could be read for want of credentials."""
    opts.setdefault("demo", False)
    settings = _settings_or_exit(opts)
    history, history_error = _history_for(settings, opts)
    previous = history.latest() if history is not None else None
    if history is not None and history.error:  # the read failed: the history is disabled
        history_error = history.error
        history = None
    snap, auth_failed = _run_collection(opts, settings,
                                        lambda s: _collect_after(s, opts.get("timeout", 120.0), previous))
    if _exit_code(snap, auth_failed) == EXIT_USAGE:
        _report_sections(snap)
        sys.exit(EXIT_USAGE)
    return snap, auth_failed, history, previous, history_error


def _save_run(history: Any, snap: Any) -> None:
    """Keep this run as the next one's baseline; a failure is one line on stderr."""
    if history is not None and not history.save(snap):
        click.echo(f"mdc-aws: this run could not be saved: {history.error}", err=True)


@main.command()
@_common
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Rules file (TOML, [[rule]] tables) [default: the built-in rules, see the README].")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def check(rules_file: str | None = None, fmt: str = "text", output: str | None = None, **opts: Any) -> None:
    """The gate for cron and CI: evaluate rules against a fresh snapshot and the last run (local history), then
    keep this run as the next one's baseline. Each failed rule is printed with its evidence.
    Exit 0 every rule holds, 3 one fails, 1 one could not be evaluated (its data is missing), 2 usage/auth."""
    from .core import gate

    try:
        rules = gate.load_rules(rules_file) if rules_file else gate.DEFAULT_RULES
    except gate.RulesError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    snap, _, history, previous, history_error = _against_history(opts)
    report = gate.evaluate(rules, snap, previous, history_error=history_error)
    _save_run(history, snap)  # first: a report that cannot be written must not cost the next run its baseline
    _emit(gate.render(report, fmt), output)
    _report_sections(snap)
    sys.exit(report.exit_code)


@main.command()
@_common
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def diff(fmt: str = "text", output: str | None = None, **opts: Any) -> None:
    """What changed since the last run (local history): accounts, connectors, plans, connector health, stuck
    instances, unhealthy findings by severity, compliance per standard; then keep this run as the next one's
    baseline. Exit 0 complete (also on a first run, nothing to compare), 1 partial or no history, 2 usage/auth."""
    from .core import diff as changes

    snap, auth_failed, history, previous, history_error = _against_history(opts)
    text = changes.render(changes.diff_snapshots(previous, snap), fmt)
    _save_run(history, snap)  # first: a report that cannot be written must not cost the next run its baseline
    _emit(text, output)
    _report_sections(snap)
    if history_error:
        click.echo(f"mdc-aws: {history_error}: nothing could be compared", err=True)
    code = _exit_code(snap, auth_failed)
    sys.exit(max(code, EXIT_PARTIAL) if history_error else code)


@main.command()
@click.option("--scale", type=click.Choice(["default", "large", "million"]), default="default", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--tick-seconds", type=float, default=60.0, show_default=True,
              help="Real seconds per estate tick (onboarding advances, findings change).")
@click.option("--quota", type=int, default=None, help="Resource Graph quota per 5 s (default: off).")
@click.option("--aws-latency-ms", "aws_latency_ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Every AWS call takes this long (real AWS: 50-300 ms).")
@click.option("--aws-jitter-ms", "aws_jitter_ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="AWS latency varies by up to this much either way (deterministic from --seed).")
@click.option("--aws-rate-limits", "aws_rate_limits", is_flag=True,
              help="Apply AWS's per-account request-rate limits (throttled calls get the service's throttling error).")
@click.option("--ready-file", type=click.Path(dir_okay=False), help="Write the endpoints as JSON here once serving.")
def emulate(scale: str, seed: int, tick_seconds: float, quota: int | None, ready_file: str | None,
            aws_latency_ms: float = 0.0, aws_jitter_ms: float = 0.0, aws_rate_limits: bool = False) -> None:
    """Run the embedded estate on its own and print, ready to paste into another shell, the environment for
    mdc-aws (signed in through DefaultAzureCredential and the estate's managed identity, as in production), for
    Microsoft's az CLI (cloud register/set, login --identity) and for the AWS CLI."""
    logging.getLogger().addHandler(logging.NullHandler())
    from .emulator.estate import serve

    if aws_jitter_ms > aws_latency_ms:
        raise click.BadParameter("must not exceed --aws-latency-ms (the delay is the latency +/- the jitter)",
                                 param_hint="--aws-jitter-ms")
    serve(seed, scale, tick_seconds, ready_file, quota_limit=quota, aws_latency_ms=aws_latency_ms,
          aws_jitter_ms=aws_jitter_ms, aws_rate_limits=aws_rate_limits)


@main.command("serve")
@_common
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (beyond loopback: "
              "--allow-remote).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--allow-remote", is_flag=True, help="Allow a --host other machines can reach (plain http: prefer an "
              "SSH tunnel).")
@click.option("--read-only", "read_only", is_flag=True,
              help="Onboarding shows every request it would send but sends none.")
@click.option("--refresh", "refresh_s", type=click.FloatRange(min=2), default=None, metavar="SECONDS",
              help="Refresh cadence of the panes [default 60, config refresh_s].")
@click.option("--ready-file", type=click.Path(dir_okay=False), help="Write {\"url\": ...} here (0600) once listening.")
@click.option("--max-sessions", "max_sessions", type=click.IntRange(min=1), default=4, show_default=True,
              help="Browser sessions at once (each is a dashboard and a collector); one more tab is told so.")
def serve_cmd(host: str = "127.0.0.1", port: int = 8080, allow_remote: bool = False, read_only: bool = False,
              refresh_s: float | None = None, ready_file: str | None = None, max_sessions: int = 4,
              **opts: Any) -> None:
    """The dashboard in a web browser: one dashboard per browser session. Prints a URL with a secret token (every
    request needs it); --demo shares one emulated estate between the sessions."""
    from .serve import run_server

    _setup_logging(opts.get("verbose", 0))
    sys.exit(run_server(opts, host=host, port=port, allow_remote=allow_remote, read_only=read_only,
                        refresh_s=refresh_s, ready_file=ready_file, max_sessions=max_sessions))


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check this config file (with the environment), without any network: exit 0 valid, 2 invalid.")
def info(config_file: str | None = None) -> None:
    """Where mdc-aws keeps its config and data; with --config, check a config file."""
    if config_file is None:
        click.echo(f"config file: {cfg.config_path()}")
        click.echo(f"data dir:    {cfg.data_dir()}")
        from .core import logfile

        log_path = logfile.resolve(None, False)
        click.echo(f"log file:    {log_path if log_path else f'none (${logfile.ENV_LOG_FILE}={logfile.OFF})'}")
        click.echo(f"token env:   {cfg.ENV_ACCESS_TOKEN} "
                   f"({'set' if os.environ.get(cfg.ENV_ACCESS_TOKEN) else 'not set'})")
        return
    try:
        settings = build_settings({"config_file": config_file})
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"config file: {config_file} (valid)")
    click.echo(f"data dir:    {cfg.data_dir(settings)}")
    click.echo(f"token env:   {cfg.ENV_ACCESS_TOKEN} ({'set' if os.environ.get(cfg.ENV_ACCESS_TOKEN) else 'not set'})")



@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script (click's own) of bash, zsh or fish: commands, options and their values complete
    on Tab. Install it once:

    \b
      mdc-aws completion bash > ~/.local/share/bash-completion/completions/mdc-aws
      mdc-aws completion zsh > ~/.zfunc/_mdc-aws   (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)
      mdc-aws completion fish > ~/.config/fish/completions/mdc-aws.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # not reached: the choice is click's own shells
        raise click.BadParameter(f"no completion for {shell}", param_hint="SHELL")
    script = cls(main, {}, "mdc-aws", "_MDC_AWS_COMPLETE").source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")


@main.command()
@click.option("--account", required=True, metavar="ID", help="The AWS account (12 digits) the template is for.")
@click.option("--plans", default="cspm", show_default=True, metavar="LIST",
              help="Comma-separated: cspm (always), defender_cspm, servers, containers, databases.")
@click.option("--least-privilege", is_flag=True, help="Least-privilege policies instead of the default access.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--tenant-id", metavar="GUID", help="Your Azure tenant id (required with defender_cspm; else the "
              "TenantId parameter must be given at deployment).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def template(account: str, plans: str, least_privilege: bool = False, fmt: str = "yaml", tenant_id: str | None = None,
             output: str | None = None) -> None:
    """Print the CloudFormation template that gives Defender for Cloud access to one AWS account (the OIDC provider
    and the IAM roles of the chosen plans). Exit 2 on bad input."""
    from .core.onboarding import template as tpl

    try:
        text = tpl.template_text(account.strip(), plans, least_privilege=least_privilege, tenant_id=tenant_id,
                                 fmt=fmt)
    except ValueError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        params = {} if tenant_id else {"TenantId": "<your Azure tenant id>"}
        click.echo("deploy it in the account with:\n  " + tpl.create_stack_command(tpl.DEFAULT_STACK_NAME, output,
                                                                                    parameters=params), err=True)
    else:
        sys.stdout.write(text)


@main.command()
@_common
@click.option("--account", metavar="ID", help="Check one AWS account (its connector's subscription and plans).")
@click.option("--plans", metavar="LIST", default=None,
              help="Plans to check for, comma-separated (default: the account's connector's plans, else all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def doctor(account: str | None = None, plans: str | None = None, fmt: str = "text", **opts: Any) -> None:
    """Check every onboarding prerequisite: one PASS/FAIL/SKIP line per check, with its fix.
    Exit 0 when nothing fails, 1 when a check fails, 2 on bad input or when nothing could be checked."""
    from .core.onboarding import doctor as doc
    from .core.onboarding import template as tpl
    from .core.onboarding import validate as val

    opts.setdefault("demo", False)
    _setup_logging(opts.get("verbose", 0))
    problem = val.aws_account_id(account) if account is not None else None
    if problem is None and plans is not None:
        try:
            tpl.normalize_plans(plans)
        except ValueError as e:
            problem = f"--plans: {e}"
    if problem:
        click.echo(f"mdc-aws: {problem}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        settings = _settings(opts)
    except SourceError as e:
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        with _on_estate(opts, settings, "the doctor") as settings:
            checks = asyncio.run(asyncio.wait_for(
                doc.run_doctor(settings, account.strip() if account else None, plans=plans, with_health=True),
                opts.get("timeout", 120.0)))
    except (RuntimeError, asyncio.TimeoutError) as e:
        click.echo(f"mdc-aws: doctor did not finish ({e or 'timed out'})", err=True)
        sys.exit(EXIT_PARTIAL)
    except SourceError as e:  # refused by the policy (a demo's estate not ready): nothing was checked
        click.echo(f"mdc-aws: {e}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps([c.to_dict() for c in checks], indent=2) + "\n")
    else:
        for c in checks:
            click.echo(c.line())
        bad = doc.failed(checks)
        click.echo(f"{len(checks) - len(bad)} of {len(checks)} checks without failure"
                   + (f"; {len(bad)} failed" if bad else ""), err=True)
    if not any(c.ok for c in checks):
        sys.exit(EXIT_USAGE)  # nothing could be checked (sign-in to both clouds failed)
    sys.exit(EXIT_PARTIAL if doc.failed(checks) else EXIT_OK)


if __name__ == "__main__":
    main()
