"""The private APIs of our dependencies that mdc-aws patches or calls, and a self-check of each before it is used.

Three places reach past a library's public surface, each for speed or memory (never for correctness):

- botocore `ClientCreator._create_client_class(self, service_name, service_model)`: wrapped so that clients of one
  service made by one session share one class (aws.share_client_classes). The instance attributes it keys on
  (`ClientCreator._event_emitter`, `ServiceModel._service_description`) are read per call with getattr: when
  either is missing that call goes to botocore's own method.
- azure-core `AioHttpTransport._build_ssl_config(self, cert, verify)`: overridden so a CA bundle gives one SSL
  context, hence one connection pool (arg._pooled_transport_class).
- cfn-lint `cfnlint.runner.Runner(config).validate_template(template)` with `cfnlint.config.ConfigMixIn` and
  `cfnlint.decode.decode.decode_str`: one Runner (its ~300 rules loaded once) kept per region list
  (onboarding.template.lint); the public `cfnlint.api.lint` loads them on every call.

pyproject.toml bounds each library below its next major version; this module is the second line. `usable(name)` is
called where each patch is applied: it imports the module, finds the attribute and compares the parameter names
the patch relies on. If anything moved, it logs ONE warning line (per hook and process) naming the hook, the
installed version and what is lost, and returns False: the caller then leaves the library's stock behaviour in
place. `check_all()` runs every check (for a diagnostic); nothing here imports a library before it is needed.

Never imports textual or rich.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hook:
    """One private attribute: `module` + dotted `attr`, with the parameter names the patch relies on (None: any)."""

    name: str
    distribution: str  # the PyPI name, for the version in the log line
    module: str
    attr: str
    params: tuple[str, ...] | None
    without: str  # what the stock fallback costs

    def resolve(self) -> Any:
        """The attribute, or raise (ImportError / AttributeError / TypeError) saying what is wrong."""
        obj: Any = importlib.import_module(self.module)
        for part in self.attr.split("."):
            obj = getattr(obj, part)
        if self.params is not None:
            if not callable(obj):
                raise TypeError(f"{self.attr} is not callable")
            params = list(inspect.signature(obj).parameters.values())
            names = tuple(p.name for p in params)
            # our names first, in order; anything after them must be optional (we never pass it)
            extra_required = [p for p in params[len(self.params):] if p.default is p.empty
                              and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if names[: len(self.params)] != self.params or extra_required:
                raise TypeError(f"{self.attr}{names} where {self.params} was expected")
        return obj


_HOOKS: tuple[tuple[str, tuple[Hook, ...]], ...] = (
    ("botocore.client_class", (
        Hook("botocore ClientCreator._create_client_class", "botocore", "botocore.client",
             "ClientCreator._create_client_class", ("self", "service_name", "service_model"),
             "botocore builds one client class per client (slower client creation, more memory)"),
    )),
    ("azure_core.ssl_config", (
        Hook("azure-core AioHttpTransport._build_ssl_config", "azure-core", "azure.core.pipeline.transport",
             "AioHttpTransport._build_ssl_config", ("self", "cert", "verify"),
             "azure-core opens a TLS connection per request with a CA bundle (more connections and memory)"),
    )),
    ("cfnlint.runner", (
        Hook("cfn-lint Runner", "cfn-lint", "cfnlint.runner", "Runner", ("config",),
             "cfn-lint loads its rules on every lint (slower)"),
        Hook("cfn-lint Runner.validate_template", "cfn-lint", "cfnlint.runner", "Runner.validate_template",
             ("self", "template"), "cfn-lint loads its rules on every lint (slower)"),
        Hook("cfn-lint ConfigMixIn", "cfn-lint", "cfnlint.config", "ConfigMixIn", None,
             "cfn-lint loads its rules on every lint (slower)"),
        Hook("cfn-lint decode_str", "cfn-lint", "cfnlint.decode.decode", "decode_str", ("s",),
             "cfn-lint loads its rules on every lint (slower)"),
    )),
)
HOOKS: dict[str, tuple[Hook, ...]] = dict(_HOOKS)

_lock = threading.Lock()
_results: dict[str, str | None] = {}  # hook group -> None (usable) or the reason it is not


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except Exception:  # noqa: BLE001 - a version only goes into a log line
        return "unknown version"


def problem(name: str) -> str | None:
    """Why hook group `name` cannot be used (None: it can). Not cached, no log line."""
    for hook in HOOKS[name]:
        try:
            hook.resolve()
        except Exception as e:  # noqa: BLE001 - any failure means: do not patch
            return (f"{hook.name} not usable in {hook.distribution} {_version(hook.distribution)} "
                    f"({type(e).__name__}: {' '.join(str(e).split())[:160]}): {hook.without}")
    return None


def usable(name: str) -> bool:
    """True when every private attribute of hook group `name` is there with the expected parameters. Checked once
    per process; the first failure logs one warning line and the caller keeps the library's stock behaviour."""
    with _lock:
        if name not in _results:
            why = problem(name)
            _results[name] = why
            if why is not None:
                log.warning("mdc-aws self-check: %s; using the library's stock behaviour", why)
        return _results[name] is None


def check_all() -> dict[str, str | None]:
    """Every hook group -> None (usable) or the reason (logged once). Imports each library: for diagnostics."""
    return {name: (None if usable(name) else _results.get(name)) for name in HOOKS}


def reset() -> None:
    """Forget earlier results (tests)."""
    with _lock:
        _results.clear()
