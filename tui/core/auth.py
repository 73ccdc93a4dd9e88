"""Azure credentials for the core: a static bearer token, or azure-identity's DefaultAzureCredential.

Never imports textual or rich. azure.* is imported lazily (startup time matters: the first frame comes from
the history cache before any SDK is loaded).
"""
from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from .errors import AuthError

if TYPE_CHECKING:  # pragma: no cover
    from azure.core.credentials import AccessToken, AccessTokenInfo
    from azure.core.credentials_async import AsyncTokenCredential

    from .config import AzureSettings

# A token whose lifetime we cannot read is assumed valid for this long (ARM tokens live 60-90 minutes).
_UNKNOWN_LIFETIME_S = 3600


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT, or {} when the token is not a readable JWT. Never raises."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except Exception:  # noqa: BLE001 - any unreadable token is "no claims"
        return {}
    return claims if isinstance(claims, dict) else {}


class StaticTokenCredential:
    """An async credential that always returns one bearer token (MDC_AWS_ACCESS_TOKEN / `az account get-access-token`).

    Scope-agnostic: the token is returned whatever scope the client asks for. When the token is a JWT its `exp`
    claim is honoured: an expired token fails fast with an AuthError that says how to get a fresh one.
    """

    def __init__(self, token: str) -> None:
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            raise AuthError("MDC_AWS_ACCESS_TOKEN is empty: set it to the output of "
                            "`az account get-access-token --query accessToken -o tsv`, or unset it to use `az login`")
        self._token = token
        claims = jwt_claims(token)
        exp = claims.get("exp")
        self._expires_on = int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
        tid = claims.get("tid")
        self.tenant_id: str | None = tid if isinstance(tid, str) and tid else None

    def _expires(self) -> int:
        now = int(time.time())
        if self._expires_on is None:
            return now + _UNKNOWN_LIFETIME_S
        if self._expires_on <= now:
            from azure.core.exceptions import ClientAuthenticationError

            ago = now - self._expires_on
            raise ClientAuthenticationError(
                message=f"MDC_AWS_ACCESS_TOKEN expired {ago // 60} min ago: "
                "get a fresh one with `az account get-access-token --query accessToken -o tsv`"
            )
        return self._expires_on

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # AccessToken imported lazily
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, self._expires())

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, self._expires())

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> "StaticTokenCredential":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:  # never print the token
        return f"StaticTokenCredential(expires_on={self._expires_on})"


def make_credential(settings: "AzureSettings") -> "AsyncTokenCredential":
    """A static bearer credential when `settings.access_token` is set, else DefaultAzureCredential (aio).

    The caller owns the credential and must `await cred.close()` (both are async context managers).
    """
    if settings.access_token:
        return StaticTokenCredential(settings.access_token)
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as e:  # pragma: no cover - a broken install
        raise AuthError(f"azure-identity is not installed ({e}): reinstall mdc-aws, "
                        "or set MDC_AWS_ACCESS_TOKEN to a bearer token") from None
    # The interactive browser is never used: this runs in a terminal dashboard, often over SSH.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
