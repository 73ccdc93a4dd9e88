"""Secrets never reach a log line, an export or the screen: redaction of text, structured data and log records.

Three layers, each enough on its own for what it knows:
- known shapes, by the name they travel under: `SecretAccessKey`, `SessionToken`, `X-Amz-Security-Token`,
  `Authorization`, `access_token`, `client_secret`, `X-IDENTITY-HEADER`, ... as JSON (also JSON inside a JSON
  string), a Python repr (`'key': b'value'`), XML (`<SessionToken>...</SessionToken>`), a header line
  (`x-amz-security-token:...`, `Authorization: Bearer ...`) or a query/form field (`key=value&`);
- known shapes on their own: `Bearer <token>`, JWTs, AWS session tokens (they start with the same few bytes);
- exact values registered at run time (`register()`: the access token from the settings, secrets in the
  environment), in raw, JSON-escaped, URL-encoded and base64 forms.

`RedactingFilter` applies them to every log record it sees (message, arguments, traceback, stack); `cap_wire_loggers`
keeps the loggers that dump whole requests and responses (bodies and headers) above DEBUG whatever -v says.
`redact_data` redacts a JSON-like structure (a connector's raw ARM JSON) by key.

Never imports textual or rich.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "SECRET_ENV_VARS", "WIRE_LOGGERS", "RedactingFilter", "cap_wire_loggers", "forget_all", "install",
           "is_secret_key", "redact_data", "redact_text", "register", "register_from_env"]

MASK = "<redacted>"
MIN_SECRET_LEN = 8  # shorter values are not registered: redacting "testing" everywhere would hide more than it saves
MAX_REGISTERED = 512  # bounded: a long-lived dashboard re-assumes roles every refresh

# Loggers that write whole requests/responses (headers with tokens, bodies with STS credentials), and the lowest
# level each may log at, whatever -v asks for.
WIRE_LOGGERS: dict[str, int] = {
    "botocore.parsers": logging.INFO,  # DEBUG: "Response headers" / "Response body" (AssumeRole's credentials)
    "botocore.endpoint": logging.INFO,  # DEBUG: "Making request ... with params" (headers incl. security token)
    "botocore.auth": logging.INFO,  # DEBUG: CanonicalRequest / StringToSign (x-amz-security-token)
    "botocore.awsrequest": logging.INFO,
    "botocore.httpsession": logging.INFO,
    "urllib3": logging.INFO,  # DEBUG: every URL, query string included
    "azure.core.pipeline.policies.http_logging_policy": logging.INFO,  # INFO: URLs and allow-listed headers only
    "azure.core.pipeline.policies._universal": logging.INFO,  # DEBUG: NetworkTraceLoggingPolicy (bodies)
    "azure.identity": logging.INFO,
    "msal": logging.INFO,
    "aiohttp.client": logging.INFO,
    "requests_oauthlib": logging.WARNING,
}

# names a secret travels under (matched case-insensitively, '-' and '_' interchangeable)
_SECRET_NAMES = (
    r"(?:aws_?)?secret_?access_?key", r"(?:aws_?)?session_?token", r"x_?amz_?security_?token", r"security_?token",
    r"authorization", r"proxy_?authorization", r"(?:access|refresh|id|bearer)_?token", r"client_?secret",
    r"x_?identity_?header", r"identity_?header", r"x_?ms_?identity_?header", r"secret", r"password", r"passwd",
    r"private_?key(?:_?id)?", r"sp_?secret", r"service_?principal_?secret", r"credentials?_?secret", r"api_?key",
    r"sig", r"signature", r"x_?amz_?signature", r"x_?amz_?credential", r"sas_?token", r"assertion",
    r"client_?assertion", r"ocp_?apim_?subscription_?key", r"cookie", r"set_?cookie",
)
_Q = r"(?:\\*[\"'])"  # a quote, possibly escaped (JSON inside a JSON string, a repr of a repr)
_FLAGS = re.I


# The patterns are compiled the first time they are needed, not at import: every start of the dashboard imports
# this module (its log handlers carry the filter), and compiling them costs ~15 ms of the first frame.
@functools.lru_cache(maxsize=1)
def _name() -> str:
    return r"(?:" + "|".join(re.sub(r"_(\?)?", lambda m: "[-_]" + (m.group(1) or ""), n) for n in _SECRET_NAMES) + r")"


@functools.lru_cache(maxsize=1)
def _name_re() -> re.Pattern[str]:
    return re.compile(r"\A" + _name() + r"\Z", re.I)


@functools.lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    _NAME = _name()
    return [
        # JSON / Python repr: "key": "value" | 'key': b'value' | \"key\": \"value\"
        (re.compile(r"(?P<k>(?P<q>" + _Q + r")" + _NAME + r"(?P=q)\s*:\s*b?)"
                    r"(?P<vq>" + _Q + r")(?:(?!(?P=vq)).)*(?P=vq)",
                    _FLAGS | re.S), r"\g<k>\g<vq>" + MASK + r"\g<vq>"),
        # JSON number or bare value (rare for secrets, but `"secret": 12345678` must not pass)
        (re.compile(r"(?P<k>(?P<q>" + _Q + r")" + _NAME + r"(?P=q)\s*:\s*)"
                    r"(?P<v>(?![bB]\\*[\"'])[0-9A-Za-z][^,}\]\s]*)", _FLAGS),
         r"\g<k>" + MASK),
        # XML: <SessionToken>value</SessionToken> (any prefix/attributes)
        (re.compile(r"(?P<k><(?P<t>(?:[\w.-]+:)?" + _NAME + r")(?:\s[^>]*)?>)[^<]*(?P<e></(?P=t)\s*>)", _FLAGS),
         r"\g<k>" + MASK + r"\g<e>"),
        # Python kwargs / shell: key='value' | key="value"
        (re.compile(r"(?P<k>(?<![\w-])" + _NAME + r"\s*=\s*b?)(?P<vq>" + _Q + r")(?:(?!(?P=vq)).)*(?P=vq)", _FLAGS),
         r"\g<k>\g<vq>" + MASK + r"\g<vq>"),
        # query / form / Python kwargs: key=value (up to & ; , whitespace, quote or end)
        (re.compile(r"(?P<k>(?<![\w-])" + _NAME + r"\s*=\s*)(?!" + re.escape(MASK) + r")[^&;,\s\"'<>)\]}]+", _FLAGS),
         r"\g<k>" + MASK),
        # header line: `Name: value` / canonical request `name:value` (to the end of the line); not a URL's
        # `scheme://` nor a Windows path, but a value that starts with `/` (an AWS secret key can) is one
        (re.compile(r"(?P<k>(?:^|(?<=[\s\[(,]))" + _NAME + r"[ \t]*:(?!//|\\)[ \t]*)(?![\"']|" + re.escape(MASK) +
                    r")[^\r\n]+", _FLAGS | re.M), r"\g<k>" + MASK),
        # shapes that are secrets wherever they appear
        (re.compile(r"(?P<k>\b(?:Bearer|Basic|SharedKey|SharedAccessSignature)\s+)(?!" + re.escape(MASK) +
                    r")[A-Za-z0-9\-._~+/=:%]{8,}", re.I), r"\g<k>" + MASK),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),  # a JWT
        # AWS session tokens: base64 of a blob with fixed leading bytes (real: IQoJb3JpZ2lu..., FwoGZXIvYXdz...;
        # moto: FQoGZXIvYXdz...), also URL-encoded
        (re.compile(r"\b(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AgoJb3JpZ2lu|IgoJb3JpZ2lu)"
                    r"(?:[A-Za-z0-9/+=]|%2[BbFf]|%3[Dd]){16,}"), MASK),
    ]


# cheap pre-check: most log lines carry none of these and skip the regexes
@functools.lru_cache(maxsize=1)
def _hint_re() -> re.Pattern[str]:
    return re.compile(r"secret|token|auth|identity|passw|private|api.?key|sig|assertion|cookie|credential|bearer|"
                      r"basic|sharedkey|eyj|iqojb3|fwogzxiv|fqogzxiv|agojb3|igojb3", re.I)


_lock = threading.Lock()
_registered: OrderedDict[str, None] = OrderedDict()  # exact values and their encoded forms, newest last
_registered_re: re.Pattern[str] | None = None


def _forms(secret: str) -> set[str]:
    """How a secret may be written: raw, JSON-escaped, URL-encoded (both ways), base64."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    out = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret),
           base64.b64encode(secret.encode()).decode(), base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")}
    return {f for f in out if len(f) >= MIN_SECRET_LEN}


def register(*secrets: str | None) -> None:
    """Redact these exact values (and their encodings) from now on. Short or empty values are ignored."""
    global _registered_re
    added = False
    with _lock:
        for s in secrets:
            if not isinstance(s, str) or len(s.strip()) < MIN_SECRET_LEN:
                continue
            for f in _forms(s.strip()) | _forms(s):
                if f in _registered:
                    _registered.move_to_end(f)
                else:
                    _registered[f] = None
                    added = True
        while len(_registered) > MAX_REGISTERED:
            _registered.popitem(last=False)
            added = True
        if added:
            # longest first: a value that contains another is replaced whole
            alts = sorted(_registered, key=len, reverse=True)
            _registered_re = re.compile("|".join(re.escape(a) for a in alts)) if alts else None


def forget_all() -> None:
    """Drop every registered value (tests)."""
    global _registered_re
    with _lock:
        _registered.clear()
        _registered_re = None


# Environment variables whose values are secrets wherever they show up
SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "MDC_AWS_ACCESS_TOKEN",
                   "IDENTITY_HEADER", "MSI_SECRET", "AZURE_CLIENT_SECRET", "AZURE_PASSWORD",
                   "AZURE_CLIENT_CERTIFICATE_PASSWORD", "ARM_CLIENT_SECRET")


def register_from_env(env: Mapping[str, str]) -> None:
    register(*(env.get(k) for k in SECRET_ENV_VARS))


def redact_text(text: str) -> str:
    """`text` with every secret it holds (known shapes, registered values) replaced by MASK."""
    if not text:
        return text
    pat = _registered_re
    if pat is not None:
        text = pat.sub(MASK, text)
    if _hint_re().search(text) is None:
        return text
    for rx, repl in _patterns():
        text = rx.sub(repl, text)
    return text


def is_secret_key(name: Any) -> bool:
    """Whether a field of this name holds a secret (`awsSecretAccessKey`, `client_secret`, `X-Amz-Security-Token`)."""
    if not isinstance(name, str):
        return False
    flat = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return bool(_name_re().match(flat) or _name_re().match(name.strip()))


def redact_data(value: Any) -> Any:
    """A copy of a JSON-like structure with the value of every secret-named key masked, and strings redacted.
    A masked value that is empty or the literal "null" (how Azure returns a write-only secret) is kept as it is."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if is_secret_key(k) and v not in (None, "", "null") and not isinstance(v, (bool, Mapping, list, tuple)):
                out[k] = MASK
            else:
                out[k] = redact_data(v)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record so that its message, traceback and stack carry no secret. Install it on handlers (a
    logger's filters do not see records propagated from child loggers); it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose args do not format: logging reports it; redact the raw parts
            msg = f"{record.msg} {record.args!r}"
        red = redact_text(msg)
        if red != msg or record.args:
            record.msg, record.args = red, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def cap_wire_loggers(level: int, caps: Mapping[str, int] | None = None) -> None:
    """Set every wire logger to `level`, but never below its cap."""
    for name, cap in (caps or WIRE_LOGGERS).items():
        logging.getLogger(name).setLevel(max(level, cap))


def install(handlers: Iterable[logging.Handler], root: logging.Logger | None = None) -> RedactingFilter:
    """Put one RedactingFilter on each handler (and on `root`, for records logged to it directly)."""
    f = _shared_filter
    for h in handlers:
        if not any(isinstance(x, RedactingFilter) for x in h.filters):
            h.addFilter(f)
    if root is not None and not any(isinstance(x, RedactingFilter) for x in root.filters):
        root.addFilter(f)
    return f


_shared_filter = RedactingFilter()
