"""Azure credentials for the core: a static bearer token, or azure-identity's DefaultAzureCredential.

Never imports textual or rich. azure.* is imported lazily (startup time matters: the first frame comes from
the history cache before any SDK is loaded).
"""
from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any, Mapping

from .errors import AuthError

if TYPE_CHECKING:  # pragma: no cover
    from azure.core.credentials import AccessToken, AccessTokenInfo
    from azure.core.credentials_async import AsyncTokenCredential

    from .config import AzureSettings, TenantSettings

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

    def __init__(self, token: str, source: str = "MDC_AWS_ACCESS_TOKEN") -> None:
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            raise AuthError(f"{source} is empty: set it to the output of "
                            "`az account get-access-token --query accessToken -o tsv`, or unset it to use `az login`")
        self._token = token
        self._source = source
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
                message=f"{self._source} expired {ago // 60} min ago: "
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


class TenantCredential:
    """DefaultAzureCredential asked for one tenant: every token request names `tenant_id` (the credential allows that
    tenant besides its own). `tenant_id` is known without asking, like a static token's `tid`.

    Not every credential of the chain honours `tenant_id`: a managed identity (IMDS on an Azure VM or Arc machine,
    App Service) ignores it and hands out a token of its own tenant. So each token's `tid` is checked: a token of
    another tenant is an AuthError saying what to do, never a silent read of the wrong tenant."""

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self._inner = inner
        self.tenant_id = tenant_id

    def _check(self, token: str) -> None:
        tid = jwt_claims(token).get("tid")
        if isinstance(tid, str) and tid and tid.lower() != self.tenant_id.lower():
            t = self.tenant_id
            raise AuthError(f"tenant {t}: DefaultAzureCredential signed in to tenant {tid}, not {t} (a managed "
                            "identity cannot sign in to another tenant): set access_token_env of this tenant to a "
                            f"token from `az account get-access-token --tenant {t} --query accessToken -o tsv`, or "
                            f"run `az login --tenant {t}` and export AZURE_TOKEN_CREDENTIALS=AzureCliCredential "
                            "(DefaultAzureCredential then skips the managed identity)")

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        kwargs["tenant_id"] = self.tenant_id
        token = await self._inner.get_token(*scopes, **kwargs)
        self._check(getattr(token, "token", "") or "")
        return token

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> "TenantCredential":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"TenantCredential(tenant_id={self.tenant_id!r})"


def make_tenant_credential(tenant: "TenantSettings", env: Mapping[str, str] | None = None) -> "AsyncTokenCredential":
    """The credential of one configured tenant ([[tenants]]): the static token of its `access_token_env` variable,
    else DefaultAzureCredential asked for that tenant. A variable that is unset, or a token of another tenant (its
    `tid`), is an AuthError saying what to do. The token is registered for redaction."""
    import os

    from . import redact

    if tenant.access_token_env:
        name = tenant.access_token_env
        value = (os.environ if env is None else env).get(name)
        if not value or not value.strip():
            raise AuthError(f"tenant {tenant.name or tenant.tenant_id}: environment variable {name} (its "
                            "access_token_env) is not set: export it to a bearer token of that tenant "
                            "(`az account get-access-token --tenant <tenant id> --query accessToken -o tsv`), or "
                            "remove access_token_env to sign in with `az login`")
        redact.register(value)
        cred = StaticTokenCredential(value, source=name)
        if cred.tenant_id and cred.tenant_id.lower() != tenant.tenant_id.lower():
            raise AuthError(f"tenant {tenant.name or tenant.tenant_id}: the token in {name} belongs to tenant "
                            f"{cred.tenant_id}, not {tenant.tenant_id}: get one with `az account get-access-token "
                            f"--tenant {tenant.tenant_id}`")
        cred.tenant_id = tenant.tenant_id
        return cred
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as e:  # pragma: no cover - a broken install
        raise AuthError(f"azure-identity is not installed ({e}): reinstall mdc-aws, or set access_token_env of "
                        f"tenant {tenant.tenant_id}") from None
    inner = DefaultAzureCredential(exclude_interactive_browser_credential=True,
                                   additionally_allowed_tenants=[tenant.tenant_id])
    return TenantCredential(inner, tenant.tenant_id)
