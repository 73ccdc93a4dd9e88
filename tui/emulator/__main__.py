"""`python -m tui.emulator serve ...`: the estate as a child process (used by `--demo`)."""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tui.emulator")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--scale", choices=["default", "large", "million"], default="default")
    s.add_argument("--tick-seconds", type=float, default=None)
    s.add_argument("--ready-file")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--quota", type=int, default=None)
    s.add_argument("--parent-pid", type=int, default=None)
    s.add_argument("--aws-latency-ms", type=float, default=0.0)
    s.add_argument("--aws-jitter-ms", type=float, default=0.0)
    s.add_argument("--aws-rate-limits", action="store_true")
    a = p.parse_args(argv)
    from .estate import serve

    serve(a.seed, a.scale, a.tick_seconds, a.ready_file, quiet=a.quiet, quota_limit=a.quota, parent_pid=a.parent_pid,
          aws_latency_ms=a.aws_latency_ms, aws_jitter_ms=a.aws_jitter_ms, aws_rate_limits=a.aws_rate_limits)


if __name__ == "__main__":
    main()
