"""screenshots/browser.png: `mdc-aws serve --demo` in headless Chromium, the dashboard loaded (`make screenshots`, or
`.venv/bin/python scripts/browser_screenshot.py`).

The same path as tests/test_browser.py (its helpers): the server in its own process with the shared demo estate,
Debian's Chromium through its chromedriver ($MDC_AWS_BROWSER, else chromium on PATH; `make browser` installs both).
For people (the README's "In a browser" section), not asserted on.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_browser import (  # noqa: E402 - after the path set-up above
    CHROMEDRIVER,
    browser_binary,
    dashboard_loaded,
    make_driver,
    start_server,
    stop_server,
    wait_screen,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(ROOT / "screenshots" / "browser.png"))
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args()
    binary = browser_binary()
    driver = shutil.which("chromedriver") or CHROMEDRIVER
    if binary is None or not Path(driver).exists():
        print("browser_screenshot: Chromium and chromedriver are needed: run `make browser`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mdc-aws-browser-shot-") as tmp:
        proc, url = start_server(Path(tmp))
        d = None
        try:
            d = make_driver(binary, driver, args.width, args.height)
            d.get(url)
            wait_screen(d, dashboard_loaded, "the dashboard", 120)
            # the recommendations arrive after the first snapshot: wait for them too (a fuller picture)
            try:
                wait_screen(d, lambda t: "loading recommendations" not in t, "the recommendations", 60)
            except AssertionError:
                pass
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            d.save_screenshot(str(out))
            print(f"  {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        finally:
            if d is not None:
                d.quit()
            stop_server(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
