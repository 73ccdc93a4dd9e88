"""The self-check of the private APIs mdc-aws patches (tui/core/hooks.py; issue 10, item 10).

On the pinned versions every hook is there and patched; when one is taken away (monkeypatched off the library),
the patch site keeps the library's stock behaviour and exactly one warning line says so.
"""
from __future__ import annotations

import inspect
import json
import logging

import pytest

from tui.core import arg, aws, hooks
from tui.core.config import AzureSettings


@pytest.fixture(autouse=True)
def _fresh_checks():
    hooks.reset()
    arg._pooled_transport_class.cache_clear()
    yield
    hooks.reset()
    arg._pooled_transport_class.cache_clear()


@pytest.fixture(autouse=True)
def _hook_warnings_captured(caplog):
    # another test in this worker may have run the CLI's logging set-up (root at ERROR): the warnings of the
    # self-check must reach caplog whatever ran before
    caplog.set_level(logging.WARNING, logger=hooks.__name__)
    yield


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == hooks.__name__ and r.levelno >= logging.WARNING]


def test_every_hook_is_there_on_the_installed_versions(caplog) -> None:
    """Fails when a dependency upgrade (inside the pinned majors) moves a private API: renew the patch, or accept the
    stock fallback knowingly."""
    assert hooks.check_all() == {name: None for name in hooks.HOOKS}
    assert set(hooks.HOOKS) == {"botocore.client_class", "azure_core.ssl_config", "cfnlint.runner"}
    assert _lines(caplog) == []


def test_a_changed_signature_is_refused(monkeypatch, caplog) -> None:
    from botocore.client import ClientCreator

    def renamed(self, name, model):  # same arity, other parameter names: a different method
        raise AssertionError("never called by the check")

    monkeypatch.setattr(ClientCreator, "_create_client_class", renamed)
    assert hooks.problem("botocore.client_class") is not None

    def extra(self, service_name, service_model, required):  # a new required parameter
        raise AssertionError

    monkeypatch.setattr(ClientCreator, "_create_client_class", extra)
    assert "was expected" in hooks.problem("botocore.client_class")

    def more(self, service_name, service_model, optional=None, **kw):  # optional additions are fine
        raise AssertionError

    monkeypatch.setattr(ClientCreator, "_create_client_class", more)
    assert hooks.problem("botocore.client_class") is None


# ----------------------------------------------------------------------------------------------------------------
# botocore: one client class per service and session


def _two_sts_classes() -> tuple[type, type]:
    import botocore.session

    s = botocore.session.Session()
    kw = dict(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    return type(s.create_client("sts", **kw)), type(s.create_client("sts", **kw))


@pytest.fixture
def stock_botocore(monkeypatch):
    """botocore's own _create_client_class (unwrapped if an earlier test in this process patched it), unshared."""
    from botocore.client import ClientCreator

    monkeypatch.setattr(ClientCreator, "_create_client_class", inspect.unwrap(ClientCreator._create_client_class))
    monkeypatch.setattr(aws, "_shared", False)
    return ClientCreator


def test_botocore_patch_applied_when_the_hook_is_there(stock_botocore, caplog) -> None:
    a, b = _two_sts_classes()
    assert a is not b  # stock: a class per client
    aws.share_client_classes()
    assert stock_botocore._create_client_class.__wrapped__ is not None
    a, b = _two_sts_classes()
    assert a is b
    assert _lines(caplog) == []


def test_botocore_hook_gone_keeps_stock_behaviour_with_one_log_line(stock_botocore, monkeypatch, caplog) -> None:
    original = stock_botocore._create_client_class

    def moved(self, name, model):  # botocore renamed the parameters: our wrapper must not go in
        return original(self, name, model)

    monkeypatch.setattr(stock_botocore, "_create_client_class", moved)
    aws.share_client_classes()
    monkeypatch.setattr(aws, "_shared", False)
    aws.share_client_classes()  # asked twice: still one line
    assert stock_botocore._create_client_class is moved
    a, b = _two_sts_classes()
    assert a is not b  # botocore's own behaviour: a class per client
    lines = _lines(caplog)
    assert len(lines) == 1 and "ClientCreator._create_client_class" in lines[0] and "botocore" in lines[0]

    monkeypatch.delattr(stock_botocore, "_create_client_class")  # taken away entirely: no crash, nothing added
    hooks.reset()
    monkeypatch.setattr(aws, "_shared", False)
    aws.share_client_classes()
    assert not hasattr(stock_botocore, "_create_client_class")
    assert len(_lines(caplog)) == 2


# ----------------------------------------------------------------------------------------------------------------
# azure-core: one SSL context (one connection pool) per CA bundle


def test_azure_core_patch_applied_when_the_hook_is_there(tmp_path, caplog) -> None:
    kw = arg.client_kwargs(AzureSettings(ca_bundle=str(tmp_path / "ca.pem")))
    assert type(kw["transport"]).__name__ == "PooledAioHttpTransport"
    assert _lines(caplog) == []


def test_azure_core_hook_gone_keeps_stock_transport_with_one_log_line(tmp_path, monkeypatch, caplog) -> None:
    from azure.core.pipeline.transport import AioHttpTransport

    monkeypatch.delattr(AioHttpTransport, "_build_ssl_config")
    settings = AzureSettings(ca_bundle=str(tmp_path / "ca.pem"))
    for _ in range(2):
        kw = arg.client_kwargs(settings)
        assert "transport" not in kw  # the SDK builds its own transport
        assert kw["connection_verify"] == settings.ca_bundle
    lines = _lines(caplog)
    assert len(lines) == 1 and "AioHttpTransport._build_ssl_config" in lines[0] and "azure-core" in lines[0]


# ----------------------------------------------------------------------------------------------------------------
# cfn-lint: one Runner per region list


def _bad_template() -> str:
    from tui.core.onboarding import template as T

    doc = T.template("111122223333", ("cspm",), tenant_id="00000000-0000-0000-0000-000000000001")
    doc["Resources"]["CspmMonitorAwsRole"]["Properties"]["RoleName"] = {"Ref": "NoSuchParameter"}
    return json.dumps(doc)


def test_cfn_lint_hook_gone_lints_through_the_public_api_with_one_log_line(monkeypatch, caplog) -> None:
    pytest.importorskip("cfnlint")
    import cfnlint.api
    import cfnlint.config

    from tui.core.onboarding import template as T

    text = _bad_template()
    patched = T.lint(text)  # the cached Runner
    assert patched and "NoSuchParameter" in patched[0] and _lines(caplog) == []

    calls = []
    public = cfnlint.api.lint
    monkeypatch.setattr(cfnlint.api, "lint", lambda *a, **k: calls.append(1) or public(*a, **k))
    monkeypatch.delattr(cfnlint.config, "ConfigMixIn")
    hooks.reset()
    monkeypatch.setattr(T, "_RUNNERS", {})
    assert T.lint(text) == patched  # same findings, the stock way
    assert T.lint(text) == patched
    assert len(calls) == 2 and T._RUNNERS == {}
    lines = _lines(caplog)
    assert len(lines) == 1 and "ConfigMixIn" in lines[0] and "cfn-lint" in lines[0]
