"""No secret is ever written.

- The classic flow with test secrets (an IAM user's secret access key, an Arc service principal's secret) at -vv:
  every file written during the run (history, the exported snapshot, screenshots, temp files, the -vv log of every
  logger, Azure SDK and botocore included) is scanned for them and for every secret the estate issued (STS keys and
  session tokens of every AssumeRole, IAM keys, bearer tokens, the identity header), raw and encoded.
- `mdc-aws snapshot --demo -vv`, the real CLI in a subprocess with its own data dir, TMPDIR and HOME: the same scan
  of its log, its output and everything it left, against what its estate issued (the estate writes that list, 0600,
  only when a test asks: MDCAWS_TEST_ESTATE_ISSUED_FILE).
- A planted control (a file holding one of the secrets) proves each scan finds what it looks for.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
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
           base64.b64encode(secret.encode()).decode(), base64.urlsafe_b64encode(secret.encode()).decode()}
    return {s.encode() for s in out if s}


def _all_forms(secrets: dict[str, list[str]]) -> dict[bytes, str]:
    """Every form of every secret -> the kind of secret it is (for the message)."""
    return {f: kind for kind, values in secrets.items() for v in values for f in _forms(v)}


def _scan(files: list[Path], forms: dict[bytes, str]) -> list[str]:
    leaks = []
    for p in files:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        leaks += [f"{p}: {kind} {f[:6]!r}..." for f, kind in forms.items() if f in data]
    return leaks


def _scan_with_control(files: list[Path], forms: dict[bytes, str], control_dir: Path, secret: str) -> list[str]:
    """Scan, with a planted control (a file holding `secret`): the scan must find it, else it finds nothing."""
    canary = control_dir / "planted-control.txt"
    canary.write_text(json.dumps({"k": secret}))
    leaks = _scan([*files, canary], forms)
    assert any(str(canary) in x for x in leaks), "the scan does not see secrets"
    canary.unlink()
    return [x for x in leaks if str(canary) not in x]


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
    file_log = work / "state" / "mdc-aws.log"  # the log file (-vv: DEBUG), in this test's folder: scanned too
    session_log = os.environ.get("MDC_AWS_LOG_FILE", "")
    monkeypatch.setenv("MDC_AWS_LOG_FILE", str(file_log))
    _setup_logging(2)
    root = logging.getLogger()
    # the handler -vv installs (with its redacting filter), writing to a file instead of stderr
    (handler,) = [h for h in root.handlers if type(h) is logging.StreamHandler]
    log_fh = open(log_file, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    handler.setStream(log_fh)
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
        monkeypatch.setenv("MDC_AWS_LOG_FILE", session_log)  # the session's log file again, for the next tests
        _setup_logging(0)
        log_fh.close()
        forget_connector(estate, name)
        classic_cleanup_aws(estate)

    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log_text and "connectors/" + name in log_text  # the log did record the run, at -vv
    file_text = file_log.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in file_text and "connectors/" + name in file_text  # the log file too
    assert oct(file_log.stat().st_mode & 0o777) == oct(0o600)
    roots = [tmp_path, Path(tempfile.gettempdir()), Path.cwd(), Path(os.environ.get("HOME", "/root")) / ".local",
             Path("/tmp")]
    written = sorted(set(_written_since(roots, start)))
    print("\n".join(str(p) for p in written))
    assert log_file in written and file_log in written and any(p.suffix == ".json" for p in written)
    assert any("history" in str(p) or p.suffix in (".db", ".sqlite", ".jsonl") for p in written) or \
        any((work / "data").rglob("*"))
    issued = estate.issued_secrets()
    assert issued["identity_header"] and issued["bearer_tokens"]
    # the classic flow signs with the base keys (no AssumeRole here): the control is a connector secret
    secrets = {"classic connector secrets": [TEST_SECRET, TEST_SP_SECRET], **issued}
    # outside this test's folders (the shared temp dir, HOME), other estates run at the same time (other tests,
    # other workers) and legitimately hold the secrets every estate shares (the fixed demo token, the operator's
    # deterministic key, in their own 0600 ready.json): look there for the secrets unique to this run only
    from tui.emulator.estate import DEMO_TOKEN

    shared = {DEMO_TOKEN, (estate.info.aws_operator or {}).get("secret_access_key", "")}
    unique = {k: [v for v in vs if v not in shared] for k, vs in secrets.items()}
    own = [p for p in written if tmp_path in p.parents]
    leaks = _scan_with_control(own, _all_forms(secrets), work, TEST_SECRET)
    leaks += _scan([p for p in written if p not in own], _all_forms(unique))
    assert not leaks, leaks
    assert len(written) >= 4, written


def test_snapshot_demo_vv_writes_no_secret(tmp_path) -> None:
    """`mdc-aws snapshot --demo -vv`: its log (botocore's wire logging included), its output and whatever it left in
    its data dir, TMPDIR and HOME hold none of the secrets its estate issued."""
    work = tmp_path / "run"
    dirs = {d: work / d for d in ("data", "tmp", "home", "export", "cwd")}
    for d in dirs.values():
        d.mkdir(parents=True)
    issued_file = tmp_path / "issued" / "issued.json"  # outside the scanned folders
    issued_file.parent.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MDC_AWS_", "AWS_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(HOME=str(dirs["home"]), TMPDIR=str(dirs["tmp"]), MDC_AWS_DATA_DIR=str(dirs["data"]),
               MDC_AWS_EXPORT_DIR=str(dirs["export"]), MDC_AWS_CONFIG=str(work / "absent.toml"),
               XDG_CONFIG_HOME=str(dirs["home"] / ".config"), XDG_DATA_HOME=str(dirs["home"] / ".local/share"),
               XDG_CACHE_HOME=str(dirs["home"] / ".cache"), XDG_STATE_HOME=str(dirs["home"] / ".local/state"),
               MDCAWS_TEST_ESTATE_ISSUED_FILE=str(issued_file))
    log_file = work / "mdc-aws-vv.log"
    out_file = dirs["export"] / "snapshot.json"
    with open(log_file, "wb") as log:
        r = subprocess.run([sys.executable, "-m", "tui.cli", "snapshot", "--demo", "-vv", "-o", str(out_file)],
                           env=env, cwd=dirs["cwd"], stdout=subprocess.PIPE, stderr=log, timeout=240)
    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    assert r.returncode in (0, 1), log_text[-3000:]
    assert "Traceback" not in log_text
    # the log did record the run at -vv (botocore's debug lines), and the run did assume roles
    assert " DEBUG botocore." in log_text and "AssumeRole" in log_text, log_text[-2000:]
    assert issued_file.exists(), "the estate did not report what it issued"
    assert oct(issued_file.stat().st_mode & 0o777) == oct(0o600)
    issued = json.loads(issued_file.read_text(encoding="utf-8"))
    assert len(issued["sts_session_tokens"]) >= 3 and len(issued["sts_secret_access_keys"]) >= 3, issued.keys()
    assert issued["identity_header"] and issued["bearer_tokens"]
    written = _written_since([work], 0)
    # the log file, where it goes by default (no flag, no MDC_AWS_LOG_FILE): -vv, so DEBUG, botocore's included
    file_log = dirs["home"] / ".local/state/mdc-aws/log/mdc-aws.log"
    file_logs = sorted(file_log.parent.glob("mdc-aws.log*"))  # -vv writes MBs: rotated (mdc-aws.log.1, ...)
    file_text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in file_logs)
    assert "mdc-aws snapshot started (-vv)" in file_text and " DEBUG botocore." in file_text, file_text[-2000:]
    assert all(oct(p.stat().st_mode & 0o777) == oct(0o600) for p in file_logs), file_logs
    assert oct(file_log.parent.stat().st_mode & 0o777) == oct(0o700)
    assert log_file in written and out_file in written and set(file_logs) <= set(written)
    leaks = _scan_with_control(written, _all_forms(issued), work, issued["sts_secret_access_keys"][0])
    assert not leaks, leaks[:20]
    assert r.stdout == b""


# ------------------------------------------------------------------------------------------- the redactor itself

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tui.core import redact  # noqa: E402

_SECRET_KEY = st.from_regex(r"[A-Za-z0-9/+]{40}", fullmatch=True)
_SESSION_TOKEN = st.from_regex(r"(IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+]{60,300}={0,2}", fullmatch=True)
_TOKEN = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~+/-]{7,80}", fullmatch=True)
_NAMES = {
    "aws_secret": ["SecretAccessKey", "secretAccessKey", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY",
                   "awsSecretAccessKey", "secret_access_key"],
    "token": ["SessionToken", "sessionToken", "aws_session_token", "X-Amz-Security-Token", "x-amz-security-token",
              "access_token", "accessToken", "refresh_token", "client_secret", "clientSecret", "X-IDENTITY-HEADER",
              "x-identity-header", "Authorization", "authorization", "password", "secret", "IDENTITY_HEADER"],
}
_FORMS = [
    lambda k, v: json.dumps({"before": 1, k: v, "after": "kept"}),
    lambda k, v: json.dumps(json.dumps({k: v, "after": "kept"})),  # JSON in a JSON string
    lambda k, v: repr({"before": 1, k: v.encode(), "after": "kept"}),  # botocore's request dict
    lambda k, v: repr({k: v, "after": "kept"}),
    lambda k, v: f"<Result><{k}>{v}</{k}><after>kept</after></Result>",
    lambda k, v: f"POST /\nhost:127.0.0.1\n{k.lower()}:{v}\nafter:kept",  # a canonical request
    lambda k, v: f"{k}: {v}\r\nafter: kept",  # an HTTP header block
    lambda k, v: f"GET /x?a=1&{k}={quote(v, safe='')}&after=kept HTTP/1.1",
    lambda k, v: f"Action=AssumeRole&{k}={quote_plus(v)}&after=kept",
    lambda k, v: f"create_client(service, {k}='{v}', after='kept')",
]


@settings(max_examples=400, deadline=None, database=None)
@given(kind=st.sampled_from(sorted(_NAMES)), data=st.data(), form=st.sampled_from(range(len(_FORMS))),
       value=st.one_of(_SECRET_KEY, _SESSION_TOKEN, _TOKEN))
def test_redact_text_removes_named_secrets_in_every_form(kind, data, form, value) -> None:
    name = data.draw(st.sampled_from(_NAMES[kind]))
    text = _FORMS[form](name, value)
    out = redact.redact_text(text)
    for f in {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}:
        assert f not in out, (text, out)
    assert "kept" in out and redact.MASK in out  # only the secret went


def test_a_secret_key_starting_with_a_slash_is_redacted_in_a_header_line() -> None:
    """Found by the property above: AWS secret keys are base64 and can start with `/` (not a URL's `://`)."""
    for form in (_FORMS[5], _FORMS[6]):
        out = redact.redact_text(form("SecretAccessKey", "/" + "0" * 39))
        assert "0" * 39 not in out and "kept" in out
    assert redact.redact_text("token://host/x") == "token://host/x"  # a URL's scheme is not a header line


@settings(max_examples=200, deadline=None, database=None)
@given(value=st.one_of(_SECRET_KEY, _TOKEN), prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_registered_values_are_redacted_in_every_encoding(value, prefix, suffix) -> None:
    redact.register(value)
    try:
        for f in (value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value),
                  base64.b64encode(value.encode()).decode()):
            assert f not in redact.redact_text(prefix + f + suffix).replace(redact.MASK, "")
    finally:
        redact.forget_all()


@settings(max_examples=200, deadline=None, database=None)
@given(token=_SESSION_TOKEN, jwt_body=st.from_regex(r"eyJ[A-Za-z0-9_-]{10,60}", fullmatch=True))
def test_secret_shapes_are_redacted_without_a_name(token, jwt_body) -> None:
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{jwt_body}.c2lnbmF0dXJl"
    out = redact.redact_text(f"got {token} and {jwt}; Bearer abcdefgh12345678 done")
    assert token not in out and jwt not in out and "abcdefgh12345678" not in out and out.endswith("done")


def test_plain_text_is_left_alone() -> None:
    for text in ("GET https://127.0.0.1:1/subscriptions?api-version=2024-01-01 200",
                 '{"name": "aws-prod", "properties": {"hierarchyIdentifier": "210987654321"}}',
                 "token_type: Bearer", "NextToken=abc", "3 connectors, 2 secretsmanager.secret resources"):
        assert redact.redact_text(text) == text


def test_handler_filter_redacts_records_of_child_loggers_and_wire_loggers_stay_capped() -> None:
    import io

    from tui.cli import _setup_logging

    _setup_logging(2)
    try:
        buf = io.StringIO()
        root = logging.getLogger()
        (handler,) = [h for h in root.handlers if type(h) is logging.StreamHandler]
        handler.setStream(buf)
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKZ"
        # a child logger's record never passes a filter on its own logger or the root logger: only the handler's
        logging.getLogger("tui.core.aws.child").debug("creds %s", {"SecretAccessKey": secret})
        try:
            raise ValueError(f"<SessionToken>{secret}</SessionToken>")
        except ValueError:
            logging.getLogger("some.sdk").exception("failed")
        logging.getLogger("botocore.parsers").debug("Response body: %s", secret)  # capped: not even formatted
        text = buf.getvalue()
        assert "creds" in text and "failed" in text and "ValueError" in text
        assert secret not in text and "Response body" not in text
        for name, cap in redact.WIRE_LOGGERS.items():
            assert logging.getLogger(name).getEffectiveLevel() >= cap, name
        assert logging.getLogger("botocore.hooks").getEffectiveLevel() == logging.DEBUG  # -vv still means debug
    finally:
        _setup_logging(0)


def test_raw_connector_json_is_redacted_before_it_is_stored_or_shown() -> None:
    from tui.core.azure import parse_classic_connector, parse_native_connector

    sub = "8a8f732c-47eb-44a9-8d44-d89cc5257047"
    classic = {"id": f"/subscriptions/{sub}/providers/Microsoft.Security/connectors/c1", "name": "c1",
               "properties": {"authenticationDetails": {"authenticationType": "awsCreds", "awsAccessKeyId": "AKIAX",
                                                        "awsSecretAccessKey": TEST_SECRET,
                                                        "authenticationProvisioningState": "Valid"},
                              "hybridComputeSettings": {"autoProvision": "On", "region": "eastus",
                                                        "servicePrincipal": {"applicationId": "a",
                                                                             "secret": TEST_SP_SECRET}}}}
    c, why = parse_classic_connector(classic, sub)
    assert c is not None, why
    dumped = json.dumps(c.raw) + repr(c)
    assert TEST_SECRET not in dumped and TEST_SP_SECRET not in dumped and redact.MASK in dumped
    auth = c.raw["properties"]["authenticationDetails"]
    assert auth["awsAccessKeyId"] == "AKIAX" and auth["authenticationType"] == "awsCreds"
    assert classic["properties"]["authenticationDetails"]["awsSecretAccessKey"] == TEST_SECRET  # input untouched
    # Azure's own answer for a write-only secret ("null") stays as it is
    classic["properties"]["authenticationDetails"]["awsSecretAccessKey"] = "null"
    c, _ = parse_classic_connector(classic, sub)
    assert c is not None and c.raw["properties"]["authenticationDetails"]["awsSecretAccessKey"] == "null"
    native = {"id": f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/n1",
              "name": "n1", "location": "eastus",
              "properties": {"environmentName": "AWS", "hierarchyIdentifier": "210987654321",
                             "environmentData": {"environmentType": "AwsAccount"},
                             "offerings": [{"offeringType": "CspmMonitorAws", "clientSecret": TEST_SP_SECRET,
                                            "nativeCloudConnection": {"cloudRoleArn": "arn:aws:iam::1:role/R"}}]}}
    n, why = parse_native_connector(native, sub)
    assert n is not None, why
    assert TEST_SP_SECRET not in json.dumps(n.raw) + json.dumps(n.offerings[0].raw)
    assert n.offerings[0].raw["nativeCloudConnection"]["cloudRoleArn"] == "arn:aws:iam::1:role/R"
