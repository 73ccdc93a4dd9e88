"""The estate's identity: an App Service-style managed-identity token endpoint, and ARM's cloud metadata document.

What Microsoft's tools do with it (az CLI 2.9x via MSAL, azure-identity's ManagedIdentityCredential):

    IDENTITY_ENDPOINT=http://127.0.0.1:<port>/msi/token   IDENTITY_HEADER=<secret>
    GET <endpoint>?api-version=2019-08-01&resource=<audience>      X-IDENTITY-HEADER: <secret>
    200 {"access_token": <JWT>, "expires_on": "<epoch s>", "resource": <audience>, "token_type": "Bearer",
         "client_id": <appid>}

The access token is a JWT signed RS256 with a key that exists only for the life of the issuer. Clients decode its
claims without checking the signature (az reads `tid`; mdc-aws reads `tid` and `exp`); the emulated ARM and
Resource Graph check it fully (`TokenIssuer.check`): signature, issuer, tenant, lifetime and audience, and answer
with ARM's own 401 codes (InvalidAuthenticationToken, ExpiredAuthenticationToken,
InvalidAuthenticationTokenAudience, InvalidAuthenticationTokenTenant).

`metadata_document(arm_url)` is what ARM answers, unauthenticated, at `GET /metadata/endpoints?api-version=2022-09-01`
(one cloud, a JSON object; `az cloud register --endpoint-resource-manager` reads exactly that). 2019-05-01 answers
the list form (every cloud this ARM knows: here one).

One TokenIssuer per tenant: the estate has the home tenant's (with the managed-identity endpoint) and the partner
tenant's (issue 14: its tokens only, handed out as `EstateInfo.tenant_tokens`); ARM accepts the tokens of both and
serves each its tenant's view (arm.py).

Nothing here imports tui.core.
"""
from __future__ import annotations

import base64
import collections
import datetime as _dt
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["ARM_AUDIENCES", "CLOUD_NAME", "MI_API_VERSION", "METADATA_API_VERSIONS", "TokenError", "TokenIssuer",
           "metadata_document", "metadata_response"]

CLOUD_NAME = "MdcAwsEstate"
MI_API_VERSION = "2019-08-01"  # the App Service / Functions managed-identity protocol
METADATA_API_VERSIONS = ("2022-09-01", "2019-05-01")
# ARM accepts a token for exactly these audiences (both spellings, with and without the trailing slash).
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com")
CLOCK_SKEW_S = 300  # ARM tolerates five minutes of skew on nbf/exp
TOKEN_LIFETIME_S = 24 * 3600  # managed-identity tokens are valid for about a day


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _arm_time(epoch: float) -> str:
    """ARM's way of printing a UTC time in error messages: 4/16/2026 9:05:03 AM."""
    t = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return f"{t.month}/{t.day}/{t.year} {t.strftime('%I:%M:%S %p').lstrip('0')}"


class TokenError(Exception):
    """Why ARM refuses a bearer token: `code` and `message` are ARM's error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class MiResponse:
    status: int
    body: dict[str, Any]


class TokenIssuer:
    """One system-assigned managed identity in `tenant_id`: issues its tokens and recognises them.

    Thread-safe. The signing key, and so every token, lives only as long as this object.
    """

    def __init__(self, tenant_id: str, *, identity_resource_id: str | None = None, name: str = "mdc-aws-demo",
                 lifetime_s: int = TOKEN_LIFETIME_S, audiences: tuple[str, ...] = ARM_AUDIENCES,
                 clock: Callable[[], float] = time.time, header_secret: str | None = None) -> None:
        self.tenant_id = tenant_id
        # stable per tenant, so a demo estate's identity keeps its ids across restarts
        self.object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mdc-aws:{tenant_id}:{name}:oid"))
        self.client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mdc-aws:{tenant_id}:{name}:appid"))
        self.resource_id = identity_resource_id
        self.issuer = f"https://sts.windows.net/{tenant_id}/"
        self.audiences = tuple(audiences)
        self.lifetime_s = int(lifetime_s)
        self.clock = clock
        # IDENTITY_HEADER: the secret a caller proves it runs "inside" the estate with (App Service's X-IDENTITY-HEADER)
        self.header_secret = header_secret or secrets.token_hex(16)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()
        der = self._public.public_numbers().n.to_bytes(256, "big")
        self.kid = _b64url(hashlib.sha1(der).digest())  # noqa: S324 - a key id, not a security hash
        self._lock = threading.Lock()
        self.issued = 0
        # the last tokens signed (tests prove none of them is ever written: Estate.issued_secrets)
        self.recent: collections.deque[str] = collections.deque(maxlen=64)

    # -- issuing -----------------------------------------------------------------------------------------------

    def claims(self, audience: str, now: float | None = None, lifetime_s: int | None = None) -> dict[str, Any]:
        now = int(self.clock() if now is None else now)
        life = self.lifetime_s if lifetime_s is None else int(lifetime_s)
        c: dict[str, Any] = {
            "aud": audience, "iss": self.issuer, "iat": now, "nbf": now, "exp": now + life,
            "aio": _b64url(secrets.token_bytes(24)), "appid": self.client_id, "appidacr": "2",
            "idp": self.issuer, "idtyp": "app", "oid": self.object_id, "rh": _b64url(secrets.token_bytes(16)) + ".",
            "sub": self.object_id, "tid": self.tenant_id, "uti": _b64url(secrets.token_bytes(16)), "ver": "1.0",
        }
        if self.resource_id:
            c["xms_mirid"] = self.resource_id
        return c

    def issue(self, audience: str, now: float | None = None, lifetime_s: int | None = None) -> str:
        """A signed JWT for `audience` (any resource URI: ARM refuses the ones it is not); `lifetime_s`: how long it
        is valid (default the issuer's, about a day)."""
        return self.sign(self.claims(audience, now, lifetime_s))

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(dict(claims), separators=(",", ":")).encode()))
        sig = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        token = signing_input + "." + _b64url(sig)
        with self._lock:
            self.issued += 1
            self.recent.append(token)
        return token

    # -- checking ----------------------------------------------------------------------------------------------

    def verify_signature(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this issuer signed, else None (never raises)."""
        try:
            h, p, s = token.split(".")
            header = json.loads(_unb64url(h))
            if not isinstance(header, dict) or header.get("alg") != "RS256":
                return None
            self._public.verify(_unb64url(s), f"{h}.{p}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_unb64url(p))
        except (ValueError, InvalidSignature, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def check(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a token ARM would accept; raises TokenError (ARM's code and message) otherwise."""
        claims = self.verify_signature(token)
        if claims is None:
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
        now = self.clock() if now is None else now
        if claims.get("iss") != self.issuer or claims.get("tid") != self.tenant_id:
            raise TokenError("InvalidAuthenticationTokenTenant",
                             f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the "
                             f"tenant '{self.issuer}' associated with this subscription. Please use the authority "
                             f"(URL) 'https://login.windows.net/{self.tenant_id}' to get the token.")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int) or not isinstance(nbf, int):
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
        if exp + CLOCK_SKEW_S <= now:
            raise TokenError("ExpiredAuthenticationToken",
                             f"The access token expiry UTC time '{_arm_time(exp)}' is earlier than current UTC time "
                             f"'{_arm_time(now)}'.")
        if nbf - CLOCK_SKEW_S > now:
            raise TokenError("InvalidAuthenticationToken",
                             f"The access token is not yet valid: its 'nbf' UTC time '{_arm_time(nbf)}' is later than "
                             f"current UTC time '{_arm_time(now)}'.")
        aud = claims.get("aud")
        if aud not in self.audiences:
            allowed = ",".join(f"'{a}'" for a in self.audiences)
            raise TokenError("InvalidAuthenticationTokenAudience",
                             f"The access token has been obtained for wrong audience or resource '{aud}'. It should "
                             f"exactly match with one of the allowed audiences {allowed}.")
        return claims

    # -- the managed-identity endpoint -------------------------------------------------------------------------

    def token_response(self, query: Mapping[str, str], headers: Mapping[str, str]) -> MiResponse:
        """App Service's answer to `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=...` (pure function of
        the request: the HTTP server only carries it)."""

        def error(status: int, message: str) -> MiResponse:
            return MiResponse(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})

        secret = next((v for k, v in headers.items() if k.lower() == "x-identity-header"), None)
        if not secret:
            return error(400, "The X-IDENTITY-HEADER header is required.")
        if not secrets.compare_digest(secret.encode(), self.header_secret.encode()):
            return error(401, "The X-IDENTITY-HEADER header does not match this environment's IDENTITY_HEADER.")
        api = query.get("api-version")
        if api != MI_API_VERSION:
            return error(400, f"The api-version '{api}' is not supported; use api-version={MI_API_VERSION}.")
        resource = (query.get("resource") or "").strip()
        if not resource:
            return error(400, "The 'resource' query parameter is required.")
        if resource.endswith("/.default") or "://" not in resource:
            return error(400, f"The resource '{resource}' is not a valid resource URI (a scope such as "
                              "'https://management.azure.com/.default' must be sent as its resource "
                              "'https://management.azure.com').")
        for param, mine in (("client_id", self.client_id), ("object_id", self.object_id),
                            ("principal_id", self.object_id), ("mi_res_id", self.resource_id)):
            asked = query.get(param)
            if asked and (mine is None or asked.lower() != mine.lower()):
                return error(400, "No User Assigned or Delegated Managed Identity found for specified "
                                  "ClientId/ResourceId/PrincipalId.")
        now = int(self.clock())
        token = self.issue(resource, now)
        return MiResponse(200, {"access_token": token, "expires_on": str(now + self.lifetime_s),
                                "resource": resource, "token_type": "Bearer", "client_id": self.client_id})


# ------------------------------------------------------------------------------------------------------------------
# cloud metadata


def metadata_document(arm_url: str, name: str = CLOUD_NAME) -> dict[str, Any]:
    """One cloud's endpoints as ARM publishes them (2022-09-01 shape), with this ARM as `resourceManager`.

    Every other endpoint is public Azure's: the emulated identity is a managed identity, which never talks to the
    login endpoint, and tokens carry public ARM's audiences.
    """
    rm = arm_url.rstrip("/") + "/"
    return {
        "portal": "https://portal.azure.com",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": "https://rest.media.azure.net",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": name,
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": rm,
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/"
                           "quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net",
        "gallery": "https://gallery.azure.com/",
    }


def metadata_response(arm_url: str, api_version: str | None, name: str = CLOUD_NAME) -> Any:
    """The body for one api-version: 2022-09-01 one object, 2019-05-01 a list of clouds. Raises ValueError otherwise."""
    if api_version == "2022-09-01":
        return metadata_document(arm_url, name)
    if api_version == "2019-05-01":
        return [metadata_document(arm_url, name)]
    raise ValueError(api_version)
