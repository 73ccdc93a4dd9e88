"""The core never imports textual or rich, nor the emulator; widgets never import a cloud SDK.

Checked on the source (every import statement, nested ones included) and at runtime (importing the core
must not load textual/rich). `make lint` checks the whole layering statically too (import-linter's contracts in
pyproject.toml); the first frame's deferred modules are listed there, with their reasons, and checked here.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0:
                out.add(node.module)
            else:
                out.add("." * node.level + node.module)
    return out


def _violations(folder: Path, banned: tuple[str, ...]) -> list[str]:
    bad = []
    for p in sorted(folder.rglob("*.py")):
        for mod in _imports(p):
            top = mod.lstrip(".")
            if any(top == b or top.startswith(b + ".") for b in banned):
                bad.append(f"{p.relative_to(ROOT)} imports {mod}")
            if mod.startswith("..") and "emulator" in mod and folder.name == "core":
                bad.append(f"{p.relative_to(ROOT)} imports {mod}")
    return bad


def test_core_never_imports_ui_or_emulator() -> None:
    assert _violations(ROOT / "tui" / "core", ("textual", "rich", "tui.emulator", "widgets")) == []


def test_emulator_never_imports_core() -> None:
    assert _violations(ROOT / "tui" / "emulator", ("tui.core", "textual", "rich", "widgets")) == []


def test_widgets_never_import_sdks() -> None:
    banned = ("boto3", "botocore", "azure", "aiohttp", "tui.core.azure", "tui.core.arg", "tui.core.aws", "moto",
              "tui.emulator")
    assert _violations(ROOT / "widgets", banned) == []
    if (ROOT / "tui" / "render").is_dir():  # rendering (pure functions of the snapshot) neither
        assert _violations(ROOT / "tui" / "render", banned + ("textual",)) == []


def test_importing_core_loads_no_ui() -> None:
    code = (
        "import sys, tui.core.collect, tui.core.derive, tui.core.export, tui.core.azure, tui.core.arg, tui.core.aws;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('textual','rich')];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def first_frame_deferred() -> list[str]:
    """The modules the first frame must not load, with their reasons: pyproject.toml's [tool.mdc-aws.first-frame]."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(doc["tool"]["mdc-aws"]["first-frame"]["deferred"])


def test_the_first_frame_list_names_the_heavy_modules() -> None:
    deferred = first_frame_deferred()
    assert len(deferred) == len(set(deferred))
    for mod in ("tui.core.model", "tui.core.derive", "tui.core.procservice", "boto3", "botocore", "azure"):
        assert mod in deferred


def test_the_dashboards_first_frame_imports_no_model_sdk_or_screen() -> None:
    """What `mdc-aws` imports before its first frame (the panes come from the cached view, see MdcApp.on_mount):
    none of the modules listed in pyproject.toml's [tool.mdc-aws.first-frame] (a module counts with its
    submodules): neither the model and its derivations (loaded right after that frame) nor an SDK, the collector,
    the drill-down or onboarding screens."""
    probe = ["tui.cli", "tui.app", "tui.core.history"]
    if (ROOT / "tui" / "screens" / "dashboard.py").exists():
        probe.append("tui.screens.dashboard")
    code = (
        f"import sys, {', '.join(probe)};"
        f"deferred={tuple(first_frame_deferred())!r};"
        "bad=sorted(m for m in sys.modules if any(m == d or m.startswith(d + '.') for d in deferred));"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_broad_except_says_why() -> None:
    """A broad `except Exception` / `except BaseException` in the product carries its reason (ruff's BLE001 only
    asks for the noqa): `# noqa: BLE001 - <why>`, or `# broad: <why>` where ruff does not flag it (re-raised, logged),
    or a comment saying it re-raises."""
    import re

    bad = []
    for folder in (ROOT / "tui", ROOT / "widgets"):
        for p in sorted(folder.rglob("*.py")):
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if not re.search(r"except\s*\(?\s*(Exception|BaseException)\b", line):
                    continue
                why = re.search(r"#\s*(noqa: BLE001 -|broad\b[^:#]*:)\s*\S+", line) or \
                    re.search(r"#.*re-raise", line)
                if not why:
                    bad.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []
