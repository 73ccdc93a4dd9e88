"""The classic flow with test secrets (an IAM user's secret access key, an Arc service principal's secret) never
writes them anywhere: every file written during the run (history, the exported snapshot, screenshots, temp files,
the -vv log of every logger, Azure SDK and botocore included) is scanned for them, raw and encoded.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.test_app_pilot import settle
from tests.test_onboarding_screens import (TEST_SECRET, TEST_SP_SECRET, classic_cleanup_aws, estate_app,
                                           forget_connector, walk_classic)

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"}


def _forms(secret: str) -> set[bytes]:
    """The secret as it could land in a file: raw, JSON-escaped, URL-encoded, base64."""
    out = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret),
           base64.b64encode(secret.encode()).decode()}
    return {s.encode() for s in out if s}


def _written_since(roots: list[Path], since: float) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for f in filenames:
                p = Path(dirpath) / f
                try:
                    st = p.stat()
                except OSError:
                    continue
                if st.st_mtime >= since and p.is_file():
                    files.append(p)
    return files


async def test_classic_flow_writes_no_secret_anywhere(estate, settings, tmp_path, monkeypatch) -> None:
    work = tmp_path / "work"
    for d in ("data", "export", "tmp", "home"):
        (work / d).mkdir(parents=True)
    monkeypatch.setenv("MDC_AWS_DATA_DIR", str(work / "data"))
    monkeypatch.setenv("MDC_AWS_EXPORT_DIR", str(work / "export"))
    monkeypatch.setenv("TMPDIR", str(work / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(work / "tmp"))
    # -vv: every logger at DEBUG (the SDKs' request logging included), to a file
    from tui.cli import _setup_logging

    log_file = work / "mdc-aws-vv.log"
    _setup_logging(2)
    root = logging.getLogger()
    root.handlers[:] = [logging.FileHandler(log_file, encoding="utf-8")]
    root.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    start = time.time() - 1
    sub = estate.info.subscriptions[1]
    name = "aws_classic_nosecret"
    app = estate_app(settings, work / "data")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, lambda: app.snap is not None, timeout=60)
            shown = await walk_classic(pilot, app, sub, name)
            app.save_screenshot("confirm-after.svg", path=str(work / "export"))
            assert TEST_SECRET not in shown and TEST_SP_SECRET not in shown
            await settle(pilot, app, lambda: len(app.screen_stack) == 1, timeout=20)
            # the dashboard refresh saves the new connector to history; then export what the dashboard shows
            await settle(pilot, app, lambda: app.snap is not None and any(
                c.name == name for c in app.snap.data("connectors").connectors), timeout=60)
            await pilot.press("e")
            await settle(pilot, app, lambda: any((work / "export").glob("mdc-aws-*.json")), timeout=20)
            app.save_screenshot("dashboard-after.svg", path=str(work / "export"))
    finally:
        for h in root.handlers:
            h.flush()
        _setup_logging(0)
        forget_connector(estate, name)
        classic_cleanup_aws(estate)

    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log_text and "connectors/" + name in log_text  # the log did record the run, at -vv
    roots = [tmp_path, Path(tempfile.gettempdir()), Path.cwd(), Path(os.environ.get("HOME", "/root")) / ".local",
             Path("/tmp")]
    written = sorted(set(_written_since(roots, start)))
    print("\n".join(str(p) for p in written))
    assert log_file in written and any(p.suffix == ".json" for p in written)
    assert any("history" in str(p) or p.suffix in (".db", ".sqlite", ".jsonl") for p in written) or \
        any((work / "data").rglob("*"))
    forms = _forms(TEST_SECRET) | _forms(TEST_SP_SECRET)
    canary = work / "canary.txt"  # the scan itself must find a secret where there is one
    canary.write_text(json.dumps({"k": TEST_SECRET}))
    written.append(canary)
    leaks = []
    for p in written:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        leaks += [f"{p}: {f[:6]!r}…" for f in forms if f in data]
    assert any(str(canary) in x for x in leaks), "the scan does not see secrets"
    leaks = [x for x in leaks if str(canary) not in x]
    assert not leaks, leaks
    assert len(written) >= 4, written
