"""`mdc-aws snapshot` as a one-shot process (issue 15, point 4): what its start-up loads and does, and that the
document it prints is the one the core makes.

- The snapshot path loads no UI (textual, rich) and none of azure-mgmt-security's models (its raw ARM GETs go through
  the same pipeline without them: tui.core.azure._ArmRawClient); its output is schema-valid and equal to an
  in-process collection's.
- Start-up's collector thresholds (tui/cli.py STARTUP_GEN0) are raised while mdc-aws imports and come back after:
  at the end of a one-shot command's imports, and after the dashboard's first frame (tui/app.py).
- The raw ARM client builds the pipeline SecurityCenter builds, policy for policy.
- The benchmark's replay order (benchmarks/oneshot.py replay_spec): each request waits for every request that had
  ended before it started, never for one that had not.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema

from tests.test_snapshot_estate import stable

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(files("tui.schema").joinpath("snapshot.schema.json").read_text(encoding="utf-8"))

# `mdc-aws snapshot` in a fresh interpreter, as the console script runs it; then the modules it loaded
_RUN = r"""
import json, sys
from tui.cli import main
out, mods = sys.argv[1], sys.argv[2]
try:
    main(["snapshot", "--no-log-file", "-o", out, "--arm-endpoint", sys.argv[3], "--ca-bundle", sys.argv[4],
          "--aws-endpoint-url", sys.argv[5]])
except SystemExit as e:
    code = e.code
with open(mods, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""

# what the snapshot never needs
NOT_LOADED = ("textual", "rich", "widgets", "tui.app", "tui.screens", "azure.mgmt.security",
              "azure.mgmt.security.v2023_10_01_preview.models", "tui.emulator", "moto")


def test_snapshot_loads_no_ui_nor_sdk_models_and_prints_the_cores_document(settings, tmp_path) -> None:
    from tui.cli import collect_once
    from tui.core.export import snapshot_to_dict

    info = settings.azure
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDC_AWS_")}
    env.update(MDC_AWS_ACCESS_TOKEN=info.access_token or "", MDC_AWS_CONFIG=str(tmp_path / "absent.toml"),
               MDC_AWS_DATA_DIR=str(tmp_path / "data"))  # the token in its variable, never in argv
    out, mods = tmp_path / "snap.json", tmp_path / "modules.json"
    r = subprocess.run([sys.executable, "-P", "-c", _RUN, str(out), str(mods), info.arm_endpoint,
                        info.ca_bundle or "", settings.aws.endpoint_url or ""],
                       env=env, cwd=tmp_path, capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    ran = json.loads(mods.read_text(encoding="utf-8"))
    assert ran["code"] == 0, r.stderr.decode(errors="replace")[-2000:]
    loaded = set(ran["modules"])
    assert not [m for m in loaded if m in NOT_LOADED or m.startswith(tuple(n + "." for n in NOT_LOADED))]
    assert "azure.mgmt.resourcegraph" in loaded and "botocore" in loaded  # it did collect, through the SDKs
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(doc, SCHEMA)
    snap, auth_failed = asyncio.run(collect_once(settings, 60.0))  # the same collection, in this process
    assert not auth_failed
    assert stable(doc) == stable(json.loads(json.dumps(snapshot_to_dict(snap))))
    assert doc["accounts"] and all(s["status"] == "ok" for s in doc["sections"].values())


_GC = r"""
import gc, json, sys
before = gc.get_threshold()
import tui.cli as cli
raised = gc.get_threshold()
cli.resume_gc()
after = gc.get_threshold()
frozen = gc.get_freeze_count()
cli.resume_gc()  # once: a second call changes nothing
again = gc.get_freeze_count()
import tui.app as app
gc.set_threshold(app.STARTUP_GEN0, 10, 10)
app._end_startup_gc()
print(json.dumps({"before": before, "raised": raised, "after": after, "frozen": frozen,
                  "again": again, "app": gc.get_threshold(),
                  "same": cli.STARTUP_GEN0 == app.STARTUP_GEN0}))
"""


def test_start_up_raises_the_collector_threshold_then_gives_it_back() -> None:
    r = subprocess.run([sys.executable, "-P", "-c", _GC], capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    res = json.loads(r.stdout)
    assert res["same"]
    assert res["raised"][0] > res["before"][0] and res["raised"][1:] == res["before"][1:]
    assert res["after"] == res["before"] and res["frozen"] > 0 and res["again"] == res["frozen"]
    assert res["app"] == [700, 10, 10]


def test_the_snapshot_command_ends_start_up_and_other_commands_never_run_in_it(settings, tmp_path) -> None:
    """In this process (tui.cli imported long ago): after `info` the thresholds are the interpreter's."""
    import gc

    from click.testing import CliRunner

    from tui import cli

    r = CliRunner().invoke(cli.main, ["info"], env={"MDC_AWS_CONFIG": str(tmp_path / "absent.toml")})
    assert r.exit_code == 0, r.output
    assert gc.get_threshold()[0] != cli.STARTUP_GEN0


def test_raw_arm_client_builds_the_sdks_pipeline(settings) -> None:
    from azure.mgmt.security.v2023_10_01_preview.aio import SecurityCenter

    from tui.core.arg import client_kwargs
    from tui.core.auth import StaticTokenCredential
    from tui.core.azure import _ArmRawClient

    def policies(client) -> list:
        return [getattr(p, "_policy", p) for p in client._client._pipeline._impl_policies]

    def chain(client) -> list[str]:
        return [type(p).__name__ for p in policies(client)]

    cred = StaticTokenCredential("x.y.z")
    kw = client_kwargs(settings.azure)
    base = kw.pop("base_url")
    ours = _ArmRawClient(cred, base_url=base, **kw)
    sdk_kw = client_kwargs(settings.azure)
    sdk = SecurityCenter(cred, "00000000-0000-0000-0000-000000000000", base_url=sdk_kw.pop("base_url"), **sdk_kw)
    assert chain(ours) == chain(sdk)
    by_name = {type(p).__name__: p for p in policies(ours)}
    sdk_by_name = {type(p).__name__: p for p in policies(sdk)}
    assert by_name["UserAgentPolicy"].user_agent == sdk_by_name["UserAgentPolicy"].user_agent
    assert by_name["UserAgentPolicy"].user_agent.startswith("azsdk-python-mgmt-security/")
    assert by_name["AsyncRetryPolicy"].total_retries == sdk_by_name["AsyncRetryPolicy"].total_retries == 2


def test_replay_waits_for_what_had_ended_and_no_more() -> None:
    from benchmarks.oneshot import replay_spec

    class Info:
        ca_pem, arm_url, aws_url = "ca.pem", "https://127.0.0.1:1", "http://127.0.0.1:2"

    def rec(start: float, end: float) -> dict:
        return {"target": "arm", "method": "GET", "path": f"/{start}", "headers": [], "body": "", "start": start,
                "end": end, "status": 200}

    # a -> (b, c together) -> d after both; e overlaps d
    a, b, c, d, e = rec(0, 1), rec(1.5, 3), rec(1.6, 2.5), rec(3.5, 4), rec(3.6, 5)
    spec = replay_spec([d, b, e, a, c], Info())
    assert [r["path"] for r in spec["requests"]] == ["/0", "/1.5", "/1.6", "/3.5", "/3.6"]  # start order
    assert [r["after"] for r in spec["requests"]] == [0, 1, 1, 3, 3]
    ends = [spec["requests"][i]["path"] for i in spec["end_order"]]
    assert ends == ["/0", "/1.6", "/1.5", "/3.5", "/3.6"]
    assert spec["max_in_flight"] == 2 and spec["waves"] == 3


_EXIT = r"""
import atexit, logging, sys
sys.argv[0] = sys.argv[1]
import tui.cli as cli
log = logging.getLogger("t")
handler = logging.FileHandler(sys.argv[2])
log.addHandler(handler)
atexit.register(lambda: sys.stdout.write("atexit ran;"))
class Teardown:
    def __del__(self):
        sys.stdout.write("teardown;")
        sys.stdout.flush()
kept = Teardown()  # freed when the interpreter is torn down: never after os._exit
sys.stdout.write("the document;")
log.warning("a line, flushed at exit")
cli._exit_now(3)
"""


def test_the_mdc_aws_program_exits_at_once_with_atexit_run_and_tests_get_sys_exit(tmp_path) -> None:
    for prog, how, after in (("/usr/local/bin/mdc-aws", "os._exit", ""), ("pytest", "sys.exit", "teardown;")):
        logfile = tmp_path / f"{how}.log"
        r = subprocess.run([sys.executable, "-P", "-c", _EXIT + f"\nprint('{how}: not reached')", prog,
                            str(logfile)], capture_output=True, timeout=60, cwd=ROOT)
        assert r.returncode == 3, r.stderr.decode(errors="replace")
        assert r.stdout.decode() == "the document;atexit ran;" + after  # os._exit: after atexit and the flush
        assert logfile.read_text(encoding="utf-8") == "a line, flushed at exit\n"
