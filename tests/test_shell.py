"""At home in a shell: click's completion scripts (`mdc-aws completion bash|zsh|fish`) and the log file (private,
rotated, redacted; --log-file, --no-log-file, $MDC_AWS_LOG_FILE; never a crash; never on the dashboard's screen).
No estate, no network: every command run here stops at its usage check, after logging is set up."""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tui import cli
from tui.core import logfile, redact

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzaGVsbC10ZXN0In0.c2lnbmF0dXJlLXNoZWxs"  # the shape of a JWT (a test value)
ENV_SECRET = "Sh3ll-test-AzureClientSecret-9f8e7d6c"  # a test value


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def root_logging():
    """The root logger's handlers and level as they were: _setup_logging replaces them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for h in root.handlers:
        if isinstance(h, logfile.PrivateRotatingFileHandler) and h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _cli_env(**extra: str) -> dict[str, str]:
    """The environment tests/test_cli.py gives the CLI: this process's, without MDC_AWS_* (so the log file is where
    the session fixture's XDG_STATE_HOME puts it)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    e["MDC_AWS_CONFIG"] = os.devnull + ".absent.toml"
    e.update(extra)
    return e


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


# ------------------------------------------------------------------------------------------------------ completion


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _mdc_aws_completion mdc-aws"),
                                           ("zsh", "#compdef mdc-aws"),
                                           ("fish", "complete --no-files --command mdc-aws")])
def test_completion_prints_clicks_script(shell, marker) -> None:
    from click.shell_completion import get_completion_class

    r = CliRunner().invoke(cli.main, ["completion", shell])
    assert r.exit_code == 0, r.output
    cls = get_completion_class(shell)
    assert cls is not None
    assert r.output.rstrip("\n") == cls(cli.main, {}, "mdc-aws", "_MDC_AWS_COMPLETE").source().rstrip("\n")
    assert marker in r.output and "_MDC_AWS_COMPLETE=" in r.output


def test_completion_rejects_an_unknown_shell() -> None:
    r = CliRunner().invoke(cli.main, ["completion", "tcsh"])
    assert r.exit_code == 2 and "tcsh" in r.output and "Traceback" not in r.output


def _complete(words: str, cword: int) -> list[str]:
    """What click answers bash's completion function (the protocol the script speaks): the plain values."""
    r = CliRunner().invoke(cli.main, [], prog_name="mdc-aws",
                           env={"_MDC_AWS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert r.exit_code == 0, r.output
    return [line.split(",", 1)[1] for line in r.output.splitlines() if line.startswith("plain,")]


def test_completion_completes_commands_options_and_values() -> None:
    got = _complete("mdc-aws ex", 1)
    assert "export" in got  # and export-connector, once that command exists: every command that starts so
    assert got == sorted(c for c in cli.main.list_commands(click.Context(cli.main)) if c.startswith("ex"))
    assert _complete("mdc-aws snapshot --fo", 2) == ["--format"]
    assert _complete("mdc-aws snapshot --format ", 3) == ["json", "table"]
    assert set(_complete("mdc-aws snapshot --", 2)) >= {"--demo", "--log-file", "--no-log-file", "--verbose"}
    assert _complete("mdc-aws completion ", 2) == ["bash", "zsh", "fish"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_completion_in_a_real_bash(tmp_path) -> None:
    """The script sourced in bash, its function called as bash calls it on <tab>, `mdc-aws` found on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "mdc-aws"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; from tui.cli import main; "
                   f"sys.argv[0] = \"mdc-aws\"; main()' \"$@\"\n")
    exe.chmod(0o755)
    script = tmp_path / "mdc-aws.bash"
    script.write_text(CliRunner().invoke(cli.main, ["completion", "bash"]).output)
    body = (f"source {script}\ncomplete -p mdc-aws\nCOMP_WORDS=(mdc-aws snapshot --format ''); COMP_CWORD=3\n"
            "_mdc_aws_completion mdc-aws\nprintf '<%s>\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", body], capture_output=True, text=True, timeout=60,
                       env=_cli_env(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"),
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr
    assert "complete -o nosort -F _mdc_aws_completion mdc-aws" in r.stdout
    assert r.stdout.splitlines()[1:] == ["<json>", "<table>"], r.stdout + r.stderr


# -------------------------------------------------------------------------------------------------------- log file


def test_log_file_is_private_and_redacted(tmp_path, monkeypatch, root_logging) -> None:
    path = tmp_path / "made" / "here" / "mdc-aws.log"
    monkeypatch.setenv("MDC_AWS_LOG_FILE", str(path))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", ENV_SECRET)  # a secret in the environment: registered, redacted
    cli._setup_logging(0)
    try:
        log = logging.getLogger("tui.core.azure.shelltest")
        log.info("got Authorization: Bearer %s", TOKEN)
        log.info("the token %s, the client secret %s", TOKEN, ENV_SECRET)
        log.debug("not at INFO: %s", "debug-line-not-written")
        for h in root_logging.handlers:
            h.flush()
        text = path.read_text(encoding="utf-8")
    finally:
        redact.forget_all()
    assert "got Authorization" in text and "the client secret" in text and text.count(redact.MASK) >= 3
    assert TOKEN not in text and ENV_SECRET not in text and "debug-line-not-written" not in text
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700  # every folder it made
    # the dashboard's screen: the file only, never a handler on stderr (even at -vv)
    cli._setup_logging(2, screen=True)
    streams = [h for h in root_logging.handlers if isinstance(h, logging.StreamHandler)]
    assert [type(h) for h in streams] == [logfile.PrivateRotatingFileHandler], streams
    assert streams[0].level == logging.DEBUG


def test_an_existing_log_file_is_made_private(tmp_path, root_logging) -> None:
    path = tmp_path / "mdc-aws.log"
    path.write_text("old line\n")
    path.chmod(0o644)
    h, problem = logfile.open_handler(path, logging.INFO)
    assert h is not None and problem is None
    h.close()
    assert _mode(path) == 0o600 and path.read_text() == "old line\n"  # appended to, never truncated


def test_log_file_rotates_and_every_file_stays_private(tmp_path) -> None:
    path = tmp_path / "mdc-aws.log"
    h = logfile.PrivateRotatingFileHandler(path, max_bytes=300, backups=3)
    h.setFormatter(logging.Formatter(logfile.FORMAT))
    try:
        for i in range(60):
            h.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "line %03d of the rotation test", (i,), None))
    finally:
        h.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mdc-aws.log", "mdc-aws.log.1", "mdc-aws.log.2", "mdc-aws.log.3"], files
    assert all(_mode(tmp_path / f) == 0o600 for f in files)
    assert "line 059" in path.read_text() and all((tmp_path / f).stat().st_size <= 300 for f in files)
    assert logfile.MAX_BYTES == 1024 * 1024 and logfile.BACKUPS == 3  # the defaults the README states


def test_a_log_file_that_fails_later_is_one_line_and_stops(tmp_path, capsys) -> None:
    h, _ = logfile.open_handler(tmp_path / "mdc-aws.log", logging.INFO)
    assert h is not None
    h.stream.close()  # as a full disk would: every write fails from now on
    for _ in range(3):
        h.handle(logging.LogRecord("x", logging.ERROR, __file__, 1, "lost", None, None))
    h.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the log file" in err and "--log-file" in err, err
    assert "Traceback" not in err and "Logging error" not in err


def test_flags_choose_the_file_or_none_and_an_unusable_one_is_one_line(tmp_path, root_logging) -> None:
    """Through the real CLI (in this process): `snapshot` with a bad --subscription stops at its usage check, after
    logging is set up. --log-file beats the environment; --no-log-file and MDC_AWS_LOG_FILE=off write none."""
    env_file, flag_file = tmp_path / "env.log", tmp_path / "flag.log"
    runner = CliRunner()

    def snapshot(*args: str, env: str) -> str:
        r = runner.invoke(cli.main, ["snapshot", "--subscription", "not-a-guid", *args],
                          env={"MDC_AWS_LOG_FILE": env})
        assert r.exit_code == 2 and "GUID" in r.output, r.output
        for h in logging.getLogger().handlers:
            h.flush()
        return r.output

    snapshot("--log-file", str(flag_file), env=str(env_file))
    assert "mdc-aws snapshot started" in flag_file.read_text() and not env_file.exists()
    snapshot(env=str(env_file))
    assert "mdc-aws snapshot started" in env_file.read_text()
    before = env_file.read_text()
    snapshot("--no-log-file", env=str(env_file))
    snapshot(env="off")
    assert env_file.read_text() == before and flag_file.read_text().count("started") == 1
    # a folder that cannot be made (a file is in the way): one line saying what to do, and the command goes on
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = snapshot("--log-file", str(blocker / "x.log"), env=str(env_file))
    lines = [ln for ln in out.splitlines() if ln.startswith("mdc-aws:")]
    assert len(lines) == 2 and "cannot open the log file" in lines[0] and "--no-log-file" in lines[0], out
    assert "GUID" in lines[1] and "Traceback" not in out


@pytest.mark.parametrize("argv", [["-vv"], ["onboard", "-vv"]])
def test_full_screen_commands_log_to_the_file_only(argv, tmp_path, monkeypatch, root_logging) -> None:
    """The dashboard and `onboard` draw on the terminal: no log handler writes to stderr while they run, even at
    -vv; the file gets DEBUG."""
    seen: list[logging.Handler] = []
    monkeypatch.setattr(cli, "run_dashboard", lambda *a, **k: seen.extend(logging.getLogger().handlers))
    monkeypatch.setattr(cli, "_settings", lambda *a, **k: cli.cfg.Settings())
    path = tmp_path / "tui.log"
    r = CliRunner().invoke(cli.main, [*argv, "--log-file", str(path)])
    assert r.exit_code == 0, r.output
    assert seen and all(isinstance(h, logfile.PrivateRotatingFileHandler) for h in seen), seen
    assert seen[0].level == logging.DEBUG and Path(seen[0].baseFilename) == path
    text = path.read_text()
    assert ("mdc-aws onboard started (-vv)" if argv[0] == "onboard" else "mdc-aws dashboard started (-vv)") in text


def test_cli_processes_of_the_tests_log_to_the_sessions_folder() -> None:
    """A CLI process started as tests/test_cli.py starts it (MDC_AWS_* removed) writes its log where the session
    fixture's XDG_STATE_HOME says, never in the real user's log dir."""
    state = Path(os.environ["XDG_STATE_HOME"])
    assert "pytest" in str(state) or "tmp" in str(state).lower(), state
    expected = state / "mdc-aws" / "log" / "mdc-aws.log"
    assert logfile.resolve(None, False, _cli_env()) == logfile.default_path() == expected
    real = Path.home() / ".local" / "state" / "mdc-aws" / "log" / "mdc-aws.log"
    real_before = real.stat().st_mtime_ns if real.exists() else None
    before = expected.read_text() if expected.exists() else ""
    r = _run(["snapshot", "--subscription", "not-a-guid"], _cli_env())
    assert r.returncode == 2 and "GUID" in r.stderr and "Traceback" not in r.stderr, r.stderr
    after = expected.read_text()
    assert after.startswith(before) and "mdc-aws snapshot started" in after[len(before):]
    assert (real.stat().st_mtime_ns if real.exists() else None) == real_before
    assert _mode(expected) == 0o600 and _mode(expected.parent) == 0o700


@pytest.mark.parametrize("verbose, level", [(0, "WARNING"), (2, "DEBUG")])
def test_the_collector_is_told_the_log_file_and_level_only(verbose, level, tmp_path, monkeypatch,
                                                           root_logging) -> None:
    """The collector process (tui.core.servicehost) writes the dashboard's log file: its environment names the
    file and the level (WARNING; DEBUG with -vv), and nothing else of the log set-up (never a secret). With no log
    file, or a broken one, nothing is named (and a name inherited from a parent is dropped)."""
    path = tmp_path / "dash.log"
    monkeypatch.setenv("MDC_AWS_LOG_FILE", str(path))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", ENV_SECRET)
    cli._setup_logging(verbose, screen=True)
    try:
        env = {"PATH": "/bin"}
        logfile.child_env(env)
        assert env == {"PATH": "/bin", logfile.ENV_CHILD_LOG: str(path), logfile.ENV_CHILD_LEVEL: level}
        # the child's side: the same file, private, at that level
        h, got, problem = logfile.child_handler(env)
        assert h is not None and problem is None and got == logging.getLevelName(level) and h.level == got
        assert Path(h.baseFilename) == path and _mode(path) == 0o600
        h.close()
        fh = next(x for x in root_logging.handlers if isinstance(x, logfile.PrivateRotatingFileHandler))
        fh.broken = True  # stopped writing (disk full): the child is not sent there either
        logfile.child_env(env)
        assert env == {"PATH": "/bin"}
        cli._setup_logging(verbose, screen=True)
        root_logging.handlers[:] = [x for x in root_logging.handlers
                                    if not isinstance(x, logfile.PrivateRotatingFileHandler)]
        env = {logfile.ENV_CHILD_LOG: "/inherited.log", logfile.ENV_CHILD_LEVEL: "DEBUG"}
        logfile.child_env(env)
        assert env == {}
        assert logfile.child_handler(env)[::2] == (None, None)
    finally:
        redact.forget_all()
    # a file the child cannot open: one line saying so, no handler, never an exception
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    h, _, problem = logfile.child_handler({logfile.ENV_CHILD_LOG: str(blocker / "x.log")})
    assert h is None and problem is not None and "cannot open the log file" in problem


def test_processes_sharing_the_log_file_follow_each_others_rotation(tmp_path) -> None:
    """Two writers of one file (a dashboard and its collector, serve and its sessions): after one rotates, the other
    writes into the new file, not into the renamed one, and does not rotate it again (no cascade of backups)."""
    import logging

    from tui.core import logfile

    path = tmp_path / "shared.log"
    a = logfile.PrivateRotatingFileHandler(path, max_bytes=2000, backups=3)
    b = logfile.PrivateRotatingFileHandler(path, max_bytes=2000, backups=3)
    fmt = logging.Formatter("%(message)s")
    for h in (a, b):
        h.setFormatter(fmt)

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)

    try:
        b.handle(rec("b-first"))
        for i in range(40):  # a alone goes over the limit: it rotates once (the first file becomes .1)
            a.handle(rec(f"a-{i:02d} " + "x" * 60))
        assert (tmp_path / "shared.log.1").exists() and not (tmp_path / "shared.log.3").exists()
        b.handle(rec("b-after-rotation"))
        a.handle(rec("a-last"))
        current = path.read_text(encoding="utf-8")
        assert "b-after-rotation" in current and "a-last" in current
        assert "b-after-rotation" not in (tmp_path / "shared.log.1").read_text(encoding="utf-8")
        assert "b-first" in "".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("shared.log.*"))
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.glob("shared.log*"))
    finally:
        a.close()
        b.close()
