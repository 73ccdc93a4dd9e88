"""Shared fixtures: one emulated estate per test process (xdist worker), reached over real sockets."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest

from tui.core import config as cfg


@pytest.fixture(scope="session", autouse=True)
def _no_real_cloud_credentials(tmp_path_factory):
    """Tests never read the developer's real AWS profiles or Azure login, and never write the real user's log file:
    MDC_AWS_LOG_FILE for this process, XDG_STATE_HOME (platformdirs' user log dir on Linux) for the CLI processes
    that tests start with the MDC_AWS_* variables removed (and for a --demo, which removes them from its own)."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                                           "AWS_DEFAULT_REGION", "MDC_AWS_ACCESS_TOKEN", "MDC_AWS_CONFIG",
                                           "MDC_AWS_LOG_FILE", "XDG_STATE_HOME")}
    logs = tmp_path_factory.mktemp("mdc-aws-logs")
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      MDC_AWS_CONFIG=os.devnull + ".absent.toml", MDC_AWS_LOG_FILE=str(logs / "mdc-aws.log"),
                      XDG_STATE_HOME=str(logs / "state"))
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("MDC_AWS_ACCESS_TOKEN", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def estate():
    """The default estate (seed 42) with a manual clock, ARM + ARG + AWS on 127.0.0.1, in this process."""
    from tui.emulator.estate import Estate

    est = Estate(seed=42, scale="default", page_size=7)  # small pages: every list follows nextLink
    est.start()
    yield est
    est.stop()


@pytest.fixture(scope="session")
def settings(estate) -> cfg.Settings:
    info = estate.info
    return cfg.Settings(
        azure=cfg.AzureSettings(arm_endpoint=info.arm_url, ca_bundle=info.ca_pem, access_token=info.token,
                                retry_total=2),
        aws=cfg.AwsSettings(endpoint_url=info.aws_url, max_attempts=2),
    )


@pytest.fixture
def clean_faults(estate):
    """Clear fault rules before and after a test that sets them."""
    estate.arm.faults.clear()
    estate.aws.faults.clear()
    yield estate
    estate.arm.faults.clear()
    estate.aws.faults.clear()


def with_azure(s: cfg.Settings, **kw) -> cfg.Settings:
    return replace(s, azure=replace(s.azure, **kw))


def with_aws(s: cfg.Settings, **kw) -> cfg.Settings:
    return replace(s, aws=replace(s.aws, **kw))
