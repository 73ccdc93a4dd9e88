"""The log file: where every command's log goes by default, and the handler that writes it.

- Where: `--log-file PATH`, else `$MDC_AWS_LOG_FILE`, else platformdirs' user log dir (`~/.local/state/mdc-aws/log/
  mdc-aws.log` on Linux, `~/Library/Logs/mdc-aws/` on macOS); `--no-log-file` (or `MDC_AWS_LOG_FILE=off`): none.
- Private: the folder is created 0700, the file is created 0600 (`os.open` with the mode: never readable by others,
  not even for an instant); an existing file (or the default folder) of ours that others may read is tightened.
- Rotated at 1 MB, three old files kept (`mdc-aws.log.1` .. `.3`).
- Never a crash: a log file that cannot be opened is one line on stderr and the command goes on without it; one that
  cannot be written later (disk full) is one line on stderr and the handler stops (never logging's traceback).

The handler carries no redaction itself: the CLI installs the same RedactingFilter on it as on the stderr handler
(tui.core.redact.install). The collector process (tui.core.servicehost) writes the same file: its parent passes the
file's path and the level to log at through the child's environment (`child_env`; a path and a level name, never a
secret) and the child opens it with `child_handler`. Never imports textual or rich.
"""
from __future__ import annotations

import io
import logging
import logging.handlers
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["BACKUPS", "ENV_CHILD_LEVEL", "ENV_CHILD_LOG", "ENV_LOG_FILE", "FORMAT", "MAX_BYTES",
           "PrivateRotatingFileHandler", "child_env", "child_handler", "default_path", "open_handler", "resolve"]

APP_NAME = "mdc-aws"
ENV_LOG_FILE = "MDC_AWS_LOG_FILE"
OFF = "off"  # MDC_AWS_LOG_FILE=off: no log file (as --no-log-file)
MAX_BYTES = 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
# what a child process (the collector) is told: the log file's path, and the level it logs at (set by child_env
# only: absent, the child writes no file)
ENV_CHILD_LOG = "MDC_AWS_CHILD_LOG_FILE"
ENV_CHILD_LEVEL = "MDC_AWS_CHILD_LOG_LEVEL"


def default_path() -> Path:
    """platformdirs' user log dir for mdc-aws, and the file in it."""
    from platformdirs import user_log_dir

    return Path(user_log_dir(APP_NAME)) / "mdc-aws.log"


def resolve(log_file: str | None, no_log_file: bool, env: Mapping[str, str] | None = None) -> Path | None:
    """The log file of this run: the flag, else the environment, else the default; None when turned off."""
    if no_log_file:
        return None
    if log_file:
        return Path(log_file).expanduser()
    value = (os.environ if env is None else env).get(ENV_LOG_FILE, "").strip()
    if value.lower() == OFF:
        return None
    return Path(value).expanduser() if value else default_path()


def _say(line: str) -> None:
    """One line on stderr (whatever stderr is at the time: under Textual, its capture, never the screen)."""
    err = sys.stderr
    if err is None:
        return
    try:
        err.write(line + "\n")
        err.flush()
    except (OSError, ValueError):
        pass


def _reason(e: BaseException | None) -> str:
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return str(e) if e is not None else "unknown error"


def _owned_by_me(st: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is not None and st.st_uid == getuid()


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose files are created 0600, and which never prints logging's traceback: the first
    failure to write is one line on stderr, then it stops writing."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.broken = False
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                         errors="backslashreplace", delay=False)

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            st = os.fstat(fd)
            # a file of ours that others may read (made by hand, or by an older version): private from now on
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 and _owned_by_me(st) and hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:  # broad: the descriptor is closed, then whatever happened goes on up
            os.close(fd)
            raise

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            try:
                self._follow()
            except (OSError, ValueError):
                self._failed()
                return
            super().emit(record)

    def _follow(self) -> None:
        """Several processes write one file (the dashboard and its collector, `serve` and its sessions, a cron run):
        when another one rotated it, write to the new file instead of into the renamed one (which would be rotated
        again, and the backups pushed out in a cascade). Called under the handler's lock, before each record."""
        stream = self.stream
        if stream is None:
            return
        try:
            now = os.stat(self.baseFilename)
            mine = os.fstat(stream.fileno())
        except FileNotFoundError:  # renamed away and no new one yet: start it
            now, mine = None, None
        except (OSError, ValueError):
            return  # emit reports what is wrong with the stream itself
        if now is not None and mine is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            return
        try:
            stream.close()
        except (OSError, ValueError):
            pass
        self.stream = self._open()

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed()

    def flush(self) -> None:
        try:
            super().flush()
        except (OSError, ValueError):
            self._failed()

    def close(self) -> None:
        try:
            super().close()
        except (OSError, ValueError):
            self._failed()

    def _failed(self) -> None:
        """The first failure: one line on stderr (with the reason being handled now); later ones: nothing."""
        if self.broken:
            return
        self.broken = True
        _say(f"mdc-aws: cannot write the log file {self.baseFilename} ({_reason(sys.exc_info()[1])}): "
             f"logging to it stopped; free some space or choose another with --log-file PATH")


def open_handler(path: Path, level: int) -> tuple[PrivateRotatingFileHandler | None, str | None]:
    """The handler writing `path` at `level` (its folder created 0700 if missing), or (None, one line saying why
    not and what to do). Never raises."""
    try:
        folder = path.parent
        if not folder.is_dir():
            # every folder made here is 0700 as it is made (no window); the top-most missing one first
            for d in reversed([folder, *[p for p in folder.parents if not p.is_dir()]]):
                d.mkdir(mode=0o700, exist_ok=True)
        elif folder == default_path().parent:  # our own folder, made looser by hand: private again
            st = folder.stat()
            if st.st_mode & 0o077 and _owned_by_me(st):
                folder.chmod(0o700)
        handler = PrivateRotatingFileHandler(path)
    except (OSError, ValueError) as e:
        return None, (f"mdc-aws: cannot open the log file {path} ({_reason(e)}): going on without it; choose "
                      f"another with --log-file PATH (or $MDC_AWS_LOG_FILE), or none with --no-log-file")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler, None


def child_env(env: dict[str, str], root: logging.Logger | None = None) -> None:
    """Tell a child process (the collector) to write this process's log file: its path, and the level to log at
    (DEBUG when this process logs DEBUG to it, -vv; else WARNING). Nothing is set when this process writes no log
    file (or stopped writing it). Only a path and a level name: never a secret."""
    env.pop(ENV_CHILD_LOG, None)
    env.pop(ENV_CHILD_LEVEL, None)
    root = root or logging.getLogger()
    for h in root.handlers:
        if isinstance(h, PrivateRotatingFileHandler) and not h.broken:
            level = h.level or root.getEffectiveLevel()
            env[ENV_CHILD_LOG] = h.baseFilename
            env[ENV_CHILD_LEVEL] = "DEBUG" if level <= logging.DEBUG else "WARNING"
            return


def child_handler(env: Mapping[str, str]) -> tuple[PrivateRotatingFileHandler | None, int, str | None]:
    """In a child process: (the handler writing the file `child_env` named, or None; the level to log at; a line
    saying why the file cannot be opened, or None). No file named: (None, WARNING, None). Never raises."""
    level = logging.DEBUG if env.get(ENV_CHILD_LEVEL, "").strip().upper() == "DEBUG" else logging.WARNING
    path = env.get(ENV_CHILD_LOG, "").strip()
    if not path:
        return None, level, None
    handler, problem = open_handler(Path(path), level)
    return handler, level, problem
