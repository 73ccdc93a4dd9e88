"""The config file, the environment and the flags are checked: a bad value is exit 2 with one line naming where it
came from (the file and key, the environment variable, the flag) and what is expected; an unknown key is a warning;
never a traceback. `mdc-aws info --config FILE` checks a config without any network."""
from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.cli import build_settings, main
from tui.core import config as cfg
from tui.core.errors import UsageError

GUID = "00000000-0000-4000-8000-000000000001"
# the environment variables build_settings reads, unset for every run here
CLEAN_ENV: dict[str, str | None] = {k: None for k in cfg.ENV_VARS}


def info(path: Path | str, env: dict[str, str | None] | None = None) -> Any:
    r = CliRunner().invoke(main, ["info", "--config", str(path)], env={**CLEAN_ENV, **(env or {})})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"info --config raised {r.exception!r}\n{r.output}") from r.exception
    return r


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    p.chmod(mode)
    return p


# -------------------------------------------------------------------------------------------- named messages

@pytest.mark.parametrize("text, needles", [
    ('[azure]\nsubscriptions = "abc"\n', ["azure.subscriptions", "'abc'", "list of subscription ids"]),
    ("[azure]\nsubscriptions = [1, 2]\n", ["azure.subscriptions", "list of subscription ids"]),
    ('[azure]\nsubscriptions = ["not-a-guid"]\n', ["azure.subscriptions", "'not-a-guid'", "not a subscription id"]),
    ('[azure]\nretry_total = "3"\n', ["azure.retry_total", "expected an integer"]),
    ("[azure]\nretry_total = true\n", ["azure.retry_total", "expected an integer"]),
    ("[azure]\narg_page_size = 5000\n", ["azure.arg_page_size", "from 1 to 1000"]),
    ('[azure]\narm_endpoint = "http://management.azure.com"\n', ["azure.arm_endpoint", "https://"]),
    ('azure = "x"\n', ["azure", "expected a table"]),
    ("refresh_s = nan\n", ["refresh_s", "number of seconds"]),
    ("refresh_s = 1\n", ["refresh_s", "from 2"]),
    ('[aws]\nregion = "Mars"\n', ["aws.region", "AWS region"]),
    ("[aws]\nmax_workers = 0\n", ["aws.max_workers", "from 1 to 64"]),
    ('[aws.account_roles]\n"12" = "x"\n', ["aws.account_roles", "'12' is not an AWS account id"]),
    ('[aws.account_roles]\n"210987654321" = 5\n', ["aws.account_roles", "role ARN"]),
    ("[aws]\naccount_profiles = [1]\n", ["aws.account_profiles", "table of 12-digit"]),
    ('[aws]\nendpoint_url = "ftp://x"\n', ["aws.endpoint_url", "http(s)://"]),
    ('[aws]\nendpoint_url = "http://10.0.0.1:4566"\n', ["aws.endpoint_url", "only for this machine"]),
    ("[azure\n", ["not valid TOML"]),
])
def test_bad_config_names_file_key_and_expectation(tmp_path, text, needles) -> None:
    p = write(tmp_path, text)
    r = info(p)
    assert r.exit_code == 2, r.output
    assert str(p) in r.output
    for n in needles:
        assert n in r.output, r.output
    assert "Traceback" not in r.output


def test_subscriptions_string_never_splits_into_characters(tmp_path) -> None:
    with pytest.raises(UsageError, match="list of subscription ids"):
        cfg.from_mapping({"azure": {"subscriptions": "abc"}})
    s = cfg.from_mapping({"azure": {"subscriptions": [GUID]}})
    assert s.azure.subscriptions == (GUID,)


def test_unknown_keys_and_tables_are_warnings(tmp_path) -> None:
    p = write(tmp_path, f'refresh_s = 30\ncolour = "red"\n[azrue]\nx = 1\n[azure]\nsubscripshuns = []\n'
                        f'subscriptions = ["{GUID}"]\n')
    r = info(p)
    assert r.exit_code == 0, r.output
    assert "unknown key azure.subscripshuns" in r.output and "unknown table azrue" in r.output
    assert "unknown key colour" in r.output and "(valid)" in r.output
    warnings: list[str] = []
    s = build_settings({"config_file": str(p)}, env={}, warn=warnings.append)
    assert s.refresh_s == 30.0 and s.azure.subscriptions == (GUID,) and len(warnings) == 3


def test_valid_config_applies_every_key(tmp_path) -> None:
    p = write(tmp_path, f"""refresh_s = 30
data_dir = "/var/lib/mdc"
[azure]
arm_endpoint = "https://management.usgovcloudapi.net"
subscriptions = ["{GUID}"]
retry_total = 5
timeout_s = 12.5
arg_batch_size = 100
arg_page_size = 500
[aws]
endpoint_url = "https://vpce-1.sts.us-east-1.vpce.amazonaws.com"
region = "eu-west-1"
profile = "audit"
assume_role_name = "SecurityAudit"
external_id = "ext-123"
max_workers = 4
max_attempts = 5
timeout_s = 7
[aws.account_roles]
"210987654321" = "arn:aws:iam::210987654321:role/SecurityAudit"
[aws.account_profiles]
"310987654321" = "member-a"
""")
    s = build_settings({"config_file": str(p)}, env={})
    assert s.refresh_s == 30.0 and s.data_dir == "/var/lib/mdc"
    assert s.azure.arm_endpoint.endswith("usgovcloudapi.net") and s.azure.subscriptions == (GUID,)
    assert (s.azure.retry_total, s.azure.timeout_s, s.azure.arg_batch_size, s.azure.arg_page_size) == (
        5, 12.5, 100, 500)
    assert (s.aws.region, s.aws.profile, s.aws.assume_role_name, s.aws.external_id) == (
        "eu-west-1", "audit", "SecurityAudit", "ext-123")
    assert (s.aws.max_workers, s.aws.max_attempts, s.aws.timeout_s) == (4, 5, 7.0)
    assert dict(s.aws.account_roles) == {"210987654321": "arn:aws:iam::210987654321:role/SecurityAudit"}
    assert dict(s.aws.account_profiles) == {"310987654321": "member-a"}
    assert info(p).exit_code == 0


# -------------------------------------------------------------------------------- where a bad value came from

def test_environment_values_name_the_variable(tmp_path) -> None:
    with pytest.raises(UsageError) as e:
        build_settings({}, env={"MDC_AWS_CA_BUNDLE": "/x"})
    assert str(e.value) == "MDC_AWS_CA_BUNDLE=/x: not a file"
    with pytest.raises(UsageError, match=r"^MDC_AWS_ARM_ENDPOINT=http://x: must be an https://"):
        build_settings({}, env={"MDC_AWS_ARM_ENDPOINT": "http://x"})
    with pytest.raises(UsageError, match=r"^MDC_AWS_AWS_ENDPOINT_URL=http://example.com: plain http"):
        build_settings({}, env={"MDC_AWS_AWS_ENDPOINT_URL": "http://example.com"})
    r = info(write(tmp_path, ""), env={"MDC_AWS_CA_BUNDLE": "/nonexistent/ca.pem"})
    assert r.exit_code == 2 and "MDC_AWS_CA_BUNDLE=/nonexistent/ca.pem: not a file" in r.output


def test_flags_beat_the_environment_and_are_named(tmp_path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    # a bad value in the environment does not matter when a flag overrides it
    s = build_settings({"ca_bundle": str(pem)}, env={"MDC_AWS_CA_BUNDLE": "/gone/ca.pem"})
    assert s.azure.ca_bundle == str(pem)
    with pytest.raises(UsageError, match=r"^--ca-bundle '/x': not a file"):
        build_settings({"ca_bundle": "/x"}, env={"MDC_AWS_CA_BUNDLE": str(pem)})
    with pytest.raises(UsageError, match=r"^--subscription 'nope': is not a subscription id"):
        build_settings({"subscriptions": ("nope",)}, env={})


def test_file_values_checked_after_merge_name_file_and_key(tmp_path) -> None:
    p = write(tmp_path, '[azure]\nca_bundle = "/nonexistent/ca.pem"\n')
    with pytest.raises(UsageError) as e:
        build_settings({"config_file": str(p)}, env={})
    assert str(e.value) == f"config file {p}: azure.ca_bundle = '/nonexistent/ca.pem': not a file"


# ------------------------------------------------------------------------------------ a token in the file

def test_token_in_config_refused_unless_private(tmp_path) -> None:
    p = write(tmp_path, '[azure]\naccess_token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.x"\n', mode=0o644)
    r = info(p)
    assert r.exit_code == 2, r.output
    assert "azure.access_token" in r.output and f"chmod 600 {p}" in r.output and "0644" in r.output
    assert "eyJ0eXAi" not in r.output  # the message never quotes the token
    p.chmod(0o640)
    assert info(p).exit_code == 2
    p.chmod(0o600)
    r = info(p)
    assert r.exit_code == 0, r.output
    s = build_settings({"config_file": str(p)}, env={})
    assert s.azure.access_token and s.azure.access_token not in repr(s) and "<redacted>" in repr(s)
    # without a token, any mode will do
    q = write(tmp_path, f'[azure]\nsubscriptions = ["{GUID}"]\n', mode=0o644)
    assert info(q).exit_code == 0


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_token_in_config_owned_by_someone_else_is_refused(tmp_path) -> None:
    p = write(tmp_path, '[azure]\naccess_token = "abcdefghijklmnop"\n', mode=0o600)
    os.chown(p, 4242, -1)
    r = info(p)
    assert r.exit_code == 2 and "not by you" in r.output


def test_settings_repr_hides_the_token() -> None:
    s = cfg.Settings(azure=cfg.AzureSettings(access_token="tok-1234567890-secret"))
    for text in (repr(s), str(s), repr(s.azure), f"{s!r}"):
        assert "tok-1234567890-secret" not in text and "access_token='<redacted>'" in text
    assert "access_token=None" in repr(cfg.AzureSettings())
    from rich.pretty import pretty_repr  # what a crash report's locals would show (Textual renders them with rich)

    assert "tok-1234567890-secret" not in pretty_repr(s)


# ------------------------------------------------------------------------------ --aws-endpoint-url and http

@pytest.mark.parametrize("url, ok", [
    ("http://127.0.0.1:4566", True), ("http://127.8.9.10", True), ("http://localhost:4566", True),
    ("http://[::1]:4566", True), ("https://s3.example.com", True), ("https://10.1.2.3:443", True),
    ("http://10.0.0.1:4566", False), ("http://example.com", False), ("http://128.0.0.1", False),
    ("http://[::2]:1", False), ("http://localhost.evil.com", False), ("http://127.0.0.1.nip.io", False),
    ("http://0.0.0.0:4566", False), ("ftp://127.0.0.1", False), ("http://", False), ("http://127.0.0.1:99999", False),
])
def test_aws_endpoint_http_only_for_loopback(url, ok) -> None:
    if ok:
        assert build_settings({"aws_endpoint_url": url}, env={}).aws.endpoint_url == url
    else:
        with pytest.raises(UsageError, match=r"^--aws-endpoint-url "):
            build_settings({"aws_endpoint_url": url}, env={})


def test_aws_endpoint_cli_exit_2_without_traceback() -> None:
    r = CliRunner().invoke(main, ["snapshot", "--aws-endpoint-url", "http://example.com:4566"], env=CLEAN_ENV)
    assert r.exit_code == 2 and "only for this machine" in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


# ------------------------------------------------------------------------- hypothesis: 1,000+ config files

_KNOWN = {t: sorted(f) for t, f in cfg.SCHEMA.items()}
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_scalar = st.one_of(
    st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), _text, st.sampled_from([GUID, "us-east-1", "https://x.example", "http://127.0.0.1:1",
                                           "arn:aws:iam::210987654321:role/R", "210987654321", "", "abc"]))
_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(_text, st.sampled_from(["210987654321", "a"])), inner,
                                                 max_size=3)), max_leaves=5)
_key = st.one_of(_text.filter(bool), st.sampled_from(_KNOWN["azure"] + _KNOWN["aws"] + _KNOWN[""]))
_table = st.dictionaries(_key, _value, max_size=5)
_doc = st.dictionaries(
    st.one_of(st.sampled_from(["azure", "aws", "refresh_s", "data_dir"]), _text.filter(bool)),
    st.one_of(_table, _value), max_size=5)


def _toml_key(k: str) -> str:
    return json.dumps(k)  # a quoted key: any string (JSON escapes are TOML basic-string escapes)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{_toml_key(k)}]")
            lines += [f"{_toml_key(sk)} = {_toml_value(sv)}" for sk, sv in v.items()]
    return "\n".join(lines) + "\n"


_mutation = st.one_of(st.just(None), st.tuples(st.integers(min_value=0, max_value=400), _text))
RUNS = {"n": 0, "ok": 0, "bad": 0}
_DIR = Path(tempfile.mkdtemp(prefix="mdc-aws-test-config-"))
atexit.register(shutil.rmtree, _DIR, True)


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(doc=_doc, mutation=_mutation, private=st.booleans())
def test_generated_config_files_exit_0_or_2_never_a_traceback(doc, mutation, private) -> None:
    text = to_toml(doc)
    if mutation is not None:  # a splice of random text: most become invalid TOML
        at, junk = mutation
        text = text[:at] + junk + text[at:]
    p = _DIR / "config.toml"
    p.write_text(text, encoding="utf-8")
    p.chmod(0o600 if private else 0o644)
    r = info(p)
    RUNS["n"] += 1
    RUNS["ok" if r.exit_code == 0 else "bad"] += 1
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        assert r.output.startswith(("mdc-aws: ", "mdc-aws: warning: ")) and str(p) in r.output, r.output


def test_generated_configs_ran_enough_and_both_ways() -> None:
    """Runs after the hypothesis test (same file): it did see 1,000 files, valid and invalid ones."""
    if RUNS["n"] == 0:
        pytest.skip("run with the hypothesis test")
    assert RUNS["n"] >= 1000 and RUNS["ok"] >= 20 and RUNS["bad"] >= 200, RUNS


_valid_azure = st.fixed_dictionaries({}, optional={
    "subscriptions": st.lists(st.uuids().map(str), max_size=3),
    "retry_total": st.integers(0, 20), "timeout_s": st.floats(1, 3600), "arg_batch_size": st.integers(1, 1000),
    "arg_page_size": st.integers(1, 1000), "arm_endpoint": st.sampled_from(["https://management.azure.com",
                                                                            "https://127.0.0.1:8443"])})
_valid_aws = st.fixed_dictionaries({}, optional={
    "region": st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-1", "us-gov-west-1"]),
    "max_workers": st.integers(1, 64), "max_attempts": st.integers(1, 20), "timeout_s": st.integers(1, 3600),
    "assume_role_name": st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True),
    "account_profiles": st.dictionaries(st.from_regex(r"[0-9]{12}", fullmatch=True),
                                        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), max_size=2),
    "endpoint_url": st.sampled_from(["http://127.0.0.1:4566", "http://localhost:5000", "https://aws.example"])})


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(azure=_valid_azure, aws=_valid_aws, refresh=st.floats(2, 86400))
def test_generated_valid_configs_exit_0_and_apply(azure, aws, refresh) -> None:
    p = _DIR / "valid.toml"
    p.write_text(to_toml({"refresh_s": refresh, "azure": azure, "aws": aws}), encoding="utf-8")
    p.chmod(0o644)
    r = info(p)
    assert r.exit_code == 0, r.output
    s = build_settings({"config_file": str(p)}, env={}, warn=lambda m: pytest.fail(m))
    assert s.refresh_s == refresh
    for k, v in azure.items():
        assert getattr(s.azure, k) == (tuple(v) if isinstance(v, list) else v)
    for k, v in aws.items():
        assert getattr(s.aws, k) == v


def test_unreadable_config_is_a_clear_error(tmp_path) -> None:
    p = write(tmp_path, "refresh_s = 30\n")
    p.write_bytes(b"\xff\xfe\x00")
    r = info(p)
    assert r.exit_code == 2 and "not UTF-8" in r.output
    if os.getuid() != 0:
        p.write_text("refresh_s = 30\n")
        p.chmod(0)
        r = info(p)
        assert r.exit_code == 2 and "cannot be read" in r.output
        p.chmod(stat.S_IRUSR | stat.S_IWUSR)
