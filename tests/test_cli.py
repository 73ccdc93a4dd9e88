"""The CLI as scripts and cron jobs use it: real processes, real sockets, documented exit codes, no tracebacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files

import jsonschema
import pytest

SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    e["MDC_AWS_CONFIG"] = os.devnull + ".absent.toml"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=e, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def estate_env(estate) -> dict[str, str]:
    return estate.info.env()


def assert_clean(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr[-3000:]


def test_snapshot_json_complete_exit_0(estate_env) -> None:
    r = run(["snapshot", "--format", "json"], estate_env)
    assert_clean(r)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["accounts"]) >= 8 and len(doc["compliance"]) == 5


def test_snapshot_table_and_output_file(estate_env, tmp_path) -> None:
    out = tmp_path / "snap.txt"
    r = run(["snapshot", "--format", "table", "-o", str(out)], estate_env)
    assert_clean(r)
    assert r.returncode == 0 and r.stdout == ""
    text = out.read_text()
    assert "ACCOUNT" in text and "aws-prod" in text and "CIS-AWS-Foundations-v1.2.0" in text and "DUP" in text


def test_bad_token_is_exit_2_with_one_line_per_section(estate_env) -> None:
    r = run(["snapshot"], {**estate_env, "MDC_AWS_ACCESS_TOKEN": "wrong"})
    assert_clean(r)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("mdc-aws:")]
    assert len(lines) == 5 and all("az login" in ln or "MDC_AWS_ACCESS_TOKEN" in ln for ln in lines[:4]), r.stderr
    json.loads(r.stdout)  # still a valid document


def test_unreachable_aws_is_partial_exit_1(estate_env) -> None:
    r = run(["snapshot", "--aws-endpoint-url", "http://127.0.0.1:9"], estate_env)
    assert_clean(r)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["sections"]["connectors"]["status"] == "ok"
    assert doc["sections"]["onboarding"]["status"] == "error"
    assert all(a["onboarding"]["ec2_total"] is None for a in doc["accounts"])  # unknown, never 0
    assert any(a["onboarding"]["arc_connected"] for a in doc["accounts"])  # the Azure half is there
    assert "aws-endpoint-url" in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["snapshot", "--arm-endpoint", "http://127.0.0.1:1"], "https"),
    (["snapshot", "--subscription", "not-a-guid"], "GUID"),
    (["snapshot", "--format", "yaml"], "yaml"),
    (["snapshot", "--config", "/nonexistent/mdc.toml"], "does not exist"),
])
def test_usage_errors_exit_2(args, needle) -> None:
    r = run(args)
    assert_clean(r)
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_broken_config_file_exit_2(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[azure\nsubscriptions = 1")
    r = run(["snapshot", "--config", str(cfg)])
    assert_clean(r)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    cfg.write_text("[azure]\nsubscripshuns = []\n")  # an unknown key is a warning (info --config: no network)
    r = run(["info", "--config", str(cfg)])
    assert r.returncode == 0 and "unknown key azure.subscripshuns" in r.stderr
    cfg.write_text('[azure]\nsubscriptions = "abc"\n')
    r = run(["snapshot", "--config", str(cfg)])
    assert_clean(r)
    assert r.returncode == 2 and "azure.subscriptions" in r.stderr and str(cfg) in r.stderr


def test_unreachable_arm_is_a_clear_error() -> None:
    r = run(["snapshot", "--arm-endpoint", "https://127.0.0.1:9", "--aws-endpoint-url", "http://127.0.0.1:9"],
            {"MDC_AWS_ACCESS_TOKEN": "x", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    assert_clean(r)
    assert r.returncode in (1, 2)
    assert "cannot reach" in r.stderr and "--arm-endpoint" in r.stderr


def test_schema_flag_prints_the_schema() -> None:
    r = run(["snapshot", "--schema"])
    assert r.returncode == 0 and json.loads(r.stdout) == SCHEMA


def test_snapshot_demo_spawns_its_own_estate() -> None:
    """`make demo`'s path: the estate in a child process, then the snapshot over real sockets."""
    r = run(["snapshot", "--demo", "--format", "json"], timeout=300)
    assert_clean(r)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["accounts"]) >= 8


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_export_formats(estate_env, fmt, tmp_path) -> None:
    out = tmp_path / f"x.{fmt}"
    args = ["export", "--format", fmt, "-o", str(out)]
    if fmt == "csv":
        args += ["--view", "recommendations"]
    r = run(args, estate_env)
    assert_clean(r)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    if fmt == "md":
        assert "## accounts (19)" in text and "## stuck" in text and "| CIS-AWS-Foundations-v1.2.0 |" in text
    elif fmt == "csv":
        import csv

        rows = list(csv.DictReader(text.splitlines()))
        assert len(rows) > 1000 and {"severity", "title", "aws_account_id"} <= set(rows[0])
        assert all(r["aws_account_id"] for r in rows[:50])
    else:
        doc = json.loads(text)
        jsonschema.validate({k: v for k, v in doc.items() if k != "tables"}, SCHEMA)
        assert len(doc["tables"]["recommendations"]) > 1000
