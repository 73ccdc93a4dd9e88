"""Spawn-to-first-frame of a bare Textual app vs mdc-aws opening on its history, each a real process on a real pty.

Child:  ``python -m benchmarks.firstframe bare|mdc --out FILE [--data-dir DIR]``
  bare: ``App`` with one ``Static``; mdc: ``MdcApp`` with the History in DIR and a service factory that never
  returns (so only history can fill the panes). Both run with Textual's real Linux driver on the pty they were
  given, record ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process) when their first frame and,
  for mdc, their first frame with the cached panes are handed to the driver, write them to FILE and exit.

Parent: :func:`measure` spawns a child on a fresh 80x24 pty, drains the pty (as a terminal would) and notes when a
marker text (for mdc: a cached account id) has arrived on the terminal side.
"""
from __future__ import annotations

import argparse
import json
import os
import time

T_START = time.monotonic()  # before any import of textual/tui (the interpreter itself started a little earlier)


def _write(path: str, marks: dict[str, float]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(marks, fh)
    os.replace(tmp, path)


def child_bare(out: str) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    marks: dict[str, float] = {"start": T_START, "imports": time.monotonic()}

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("bench-bare-ready")

        def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
            super()._display(screen, renderable)
            if renderable is None or self._batch_count or "first_frame" in marks:
                return
            marks["first_frame"] = marks["cached_frame"] = time.monotonic()
            _write(out, marks)
            self.set_timer(1.0, lambda: os._exit(0))

    Bare().run(mouse=False)


def child_mdc(out: str, data_dir: str) -> None:
    import sys
    import threading

    from tui import cli  # what the `mdc-aws` entry point imports first
    from tui.app import MdcApp
    from tui.core.history import History

    marks: dict[str, float] = {"start": T_START, "imports": time.monotonic()}
    cli._setup_logging(0)
    settings = cli.build_settings({})
    history = History.in_dir(data_dir)
    never = threading.Event()

    def factory(s, start):  # type: ignore[no-untyped-def]
        never.wait()  # the boot worker never gets a service: nothing fresh can arrive, only history shows

    # MdcApp's stylesheet as an absolute path (benchmarks.common.mdc_css_path), made here: that module's own imports
    # (statistics, platform: ~1.5 ms) are the harness's, which mdc-aws never pays and the bare app does not either
    css_path = os.path.join(os.path.dirname(os.path.abspath(sys.modules[MdcApp.__module__].__file__ or "")),
                            str(MdcApp.CSS_PATH))

    class FirstFrame(MdcApp):
        CSS_PATH = css_path

        def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            now = time.monotonic()
            marks.setdefault("first_frame", now)
            # the cached panes show from the view kept with the latest snapshot (history_as_of set before the first
            # frame), or, without one, from the snapshot itself (self.snap, loaded by the start-up worker at once)
            if (self.snap is not None or self.history_as_of is not None) and "cached_frame" not in marks:
                marks["cached_frame"] = now
                _write(out, marks)
                self.set_timer(1.0, lambda: os._exit(0))

    app = FirstFrame(settings, refresh_s=60.0, history=history, service_factory=factory)
    app.run(mouse=False)


# ----------------------------------------------------------------------------------------------------- parent


def measure(mode: str, out_dir: str, marker: str, data_dir: str | None = None, timeout: float = 30.0,
            size: tuple[int, int] = (80, 24)) -> dict[str, float]:
    """Run one child on a fresh pty; seconds from spawn to: child imports done, first frame, first frame with the
    cached panes (child-reported), ``marker`` seen on the terminal side of the pty (``seen``)."""
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    out = os.path.join(out_dir, f"{mode}-{time.monotonic_ns()}.json")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor",
               MDC_AWS_CONFIG=os.path.join(out_dir, "absent-config.toml"))
    for k in ("TEXTUAL", "TEXTUAL_SCREENSHOT", "TEXTUAL_PRESS", "TEXTUAL_LOG"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "benchmarks.firstframe", mode, "--out", out]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    needle = marker.encode()
    buf = bytearray()
    seen = float("nan")
    t_spawn = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, close_fds=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.close(slave)
    try:
        deadline = t_spawn + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.02)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                if needle in buf:
                    seen = time.monotonic()
                    break
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            # give the child the moment it needs to write its marks file, then stop it
            t_wait = time.monotonic() + 2.0
            while not os.path.exists(out) and time.monotonic() < t_wait and proc.poll() is None:
                time.sleep(0.01)
            proc.kill()
        proc.wait()
        os.close(master)
    res: dict[str, float] = {"seen": seen - t_spawn, "bytes_until_seen": float(len(buf))}
    try:
        with open(out, encoding="utf-8") as fh:
            marks = json.load(fh)
        os.unlink(out)
    except OSError:
        marks = {}
    for k in ("start", "imports", "first_frame", "cached_frame"):
        res[k] = marks[k] - t_spawn if k in marks else float("nan")
    return res


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.firstframe")
    p.add_argument("mode", choices=("bare", "mdc"))
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir")
    a = p.parse_args()
    if a.mode == "bare":
        child_bare(a.out)
    else:
        child_mdc(a.out, a.data_dir)


if __name__ == "__main__":
    main()
