"""The hashed locks `make test` / `make demo` / `make clis` install from agree with what they lock (issue 10, item 10).

- every line of requirements.lock and tests/clis-requirements.lock is an exact pin with at least one sha256;
- every requirement of pyproject.toml (dependencies, the demo and dev extras, the build backend) is pinned in
  requirements.lock at a version inside its range, and every range has an upper bound (`<` or `==`);
- every pin of tests/clis-requirements.txt is in tests/clis-requirements.lock at that version.

Fails when pyproject.toml or clis-requirements.txt changed without `make lock`.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CLIS_LOCK = ROOT / "tests" / "clis-requirements.lock"


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from pip-compile's output (backslash-continued lines, # comments)."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line.strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert m, f"{path.name}: not an exact pin with hashes: {line[:120]}"
        out[canonicalize_name(m.group(1))] = (m.group(2), re.findall(r"sha256:([0-9a-f]{64})", m.group(3)))
    return out


def project_requirements() -> list[Requirement]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = list(doc["project"]["dependencies"]) + list(doc["build-system"]["requires"])
    for extra in ("demo", "dev"):
        reqs += doc["project"]["optional-dependencies"][extra]
    name = canonicalize_name(doc["project"]["name"])
    return [r for r in map(Requirement, reqs) if canonicalize_name(r.name) != name]


def test_every_range_has_an_upper_bound() -> None:
    loose = [str(r) for r in project_requirements()
             if not any(s.operator in ("<", "==", "<=", "~=", "===") for s in r.specifier)]
    assert loose == []


def test_requirements_lock_pins_every_requirement_inside_its_range() -> None:
    lock = read_lock(LOCK)
    assert len(lock) > 30 and all(hashes for _, hashes in lock.values())
    bad = []
    for r in project_requirements():
        got = lock.get(canonicalize_name(r.name))
        if got is None or not r.specifier.contains(got[0], prereleases=True):
            bad.append(f"{r} locked at {got[0] if got else 'nothing'}")
    assert bad == [], "pyproject.toml changed without `make lock`: " + "; ".join(bad)
    for pkg in ("botocore", "azure-core", "cfn-lint", "textual", "hatchling", "editables"):
        assert pkg in lock


def test_clis_lock_pins_the_clis() -> None:
    if not CLIS_LOCK.exists():
        pytest.fail("tests/clis-requirements.lock is missing: `make lock`")
    lock = read_lock(CLIS_LOCK)
    for line in (ROOT / "tests" / "clis-requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            r = Requirement(line)
            got = lock.get(canonicalize_name(r.name))
            assert got and r.specifier.contains(got[0]), f"{r}: locked at {got}"
