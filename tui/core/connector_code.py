"""A native AWS connector as code: an ARM deployment template or a Terraform (azapi v2) resource that recreates it.

    item = await read_connector(settings.azure, "123456789012")     # its REST body, GET through azure-mgmt-security
    code = connector_code(item)                                     # pure: nothing is sent
    code.text("arm") / code.text("terraform")                       # the file's text; code.notes: what to check
    ensure_providers("out/mdc-aws-connector-x.tf")                  # the folder's providers.tf, once (if absent)

The body is the connector's own (a GET of Microsoft.Security/securityConnectors@2023-10-01-preview, or the list
item the dashboard already holds) minus what Azure computes and refuses on a PUT: id, name and type (they become the
template resource's name and type), etag, systemData, properties.hierarchyIdentifierTrialEndDate,
environmentData.accountName and each offering's description. Every other field, including an offering type this
tool does not know, is kept as it is: the template recreates the connector as Azure returns it.

A native connector holds no secret (its AWS access is IAM roles trusting Defender for Cloud's OIDC identity); every
value still goes through tui.core.redact, and a value it would mask is replaced and said in `notes`.

The Terraform text is the connector's azapi_resource and an `import` block (Terraform >= 1.5) that adopts the
existing connector on `terraform apply` (azapi refuses to create one that exists). The azapi provider's configuration
(`terraform { required_providers }`, `provider "azapi"`) may appear once per folder only, so it is not in that text:
ensure_providers writes it as providers.tf next to the file, when the folder has none.

Read-only: this module never writes to Azure (the only request it sends is a GET). Never imports textual or rich.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

from .errors import SourceError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings
    from .model import Connector

Format = Literal["arm", "terraform"]
FORMATS: tuple[Format, ...] = ("arm", "terraform")

RESOURCE_TYPE = "Microsoft.Security/securityConnectors"
API_VERSION = "2023-10-01-preview"  # the api-version azure-mgmt-security 7.0.0 pins for security_connectors
ARM_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
AZAPI_VERSION = "~> 2.0"
TERRAFORM_VERSION = ">= 1.5"  # import blocks
PROVIDERS_FILE = "providers.tf"

# computed by Azure, refused or ignored on a PUT (swagger 2023-10-01-preview: readOnly)
READ_ONLY_TOP = frozenset({"id", "name", "type", "etag", "systemData"})
READ_ONLY_PROPERTIES = frozenset({"hierarchyIdentifierTrialEndDate", "provisioningState"})
READ_ONLY_ENVIRONMENT = frozenset({"accountName"})
READ_ONLY_OFFERING = frozenset({"description"})

# the OfferingType enum of 2023-10-01-preview: azapi validates a body against it, so another type needs
# schema_validation_enabled = false
KNOWN_OFFERING_TYPES = frozenset({
    "CspmMonitorAws", "DefenderForContainersAws", "DefenderForServersAws", "DefenderForDatabasesAws",
    "InformationProtectionAws", "CspmMonitorGcp", "CspmMonitorGithub", "CspmMonitorAzureDevOps",
    "DefenderForServersGcp", "DefenderForContainersGcp", "DefenderForDatabasesGcp", "DefenderCspmAws",
    "DefenderCspmGcp", "DefenderForDevOpsGithub", "DefenderForDevOpsAzureDevOps", "CspmMonitorGitLab",
    "DefenderForDevOpsGitLab"})

_ACCOUNT_ID = re.compile(r"\d{12}")
_CONNECTOR_ID = re.compile(r"(?i)^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                           r"Microsoft\.Security/securityConnectors/(?P<name>[^/]+)$")


@dataclass(frozen=True)
class ConnectorCode:
    """What recreates one connector: where it goes (subscription, resource group, name) and its writable body."""

    name: str
    subscription_id: str
    resource_group: str
    body: Mapping[str, Any]  # {"location", "tags", ["kind"], "properties"}: what a PUT sends
    notes: tuple[str, ...] = ()  # what the operator should check (masked values, offering types azapi may refuse)
    source_id: str = field(default="", compare=False)

    @property
    def parent_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    def arm_template(self) -> dict[str, Any]:
        return arm_template(self)

    def text(self, fmt: Format) -> str:
        if fmt == "arm":
            return json.dumps(arm_template(self), indent=2, ensure_ascii=False) + "\n"
        if fmt == "terraform":
            return terraform_text(self)
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------------------------------------------
# The body (pure)
# ---------------------------------------------------------------------------------------------------------------


def writable_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A connector's `properties` without the read-only fields (a deep copy)."""
    props = {k: _copy(v) for k, v in properties.items() if k not in READ_ONLY_PROPERTIES}
    env = props.get("environmentData")
    if isinstance(env, dict):
        props["environmentData"] = {k: v for k, v in env.items() if k not in READ_ONLY_ENVIRONMENT}
    offerings = props.get("offerings")
    if isinstance(offerings, list):
        props["offerings"] = [{k: v for k, v in o.items() if k not in READ_ONLY_OFFERING} if isinstance(o, dict)
                              else o for o in offerings]
    return props


def writable_body(item: Mapping[str, Any]) -> dict[str, Any]:
    """A connector's REST body -> what a PUT of it sends: location, tags, kind (when set) and the writable
    properties. Every other top-level field is Azure's (READ_ONLY_TOP) or unknown here, and left out."""
    body: dict[str, Any] = {}
    if item.get("location") is not None:
        body["location"] = item["location"]
    body["tags"] = _copy(item.get("tags") or {})
    if item.get("kind"):
        body["kind"] = item["kind"]
    props = item.get("properties")
    body["properties"] = writable_properties(props if isinstance(props, Mapping) else {})
    return body


def _copy(v: Any) -> Any:
    return json.loads(json.dumps(v))


def _masked_paths(value: Any, path: str = "") -> list[str]:
    """Where tui.core.redact would change a value (under a secret-named key, or a token-like string)."""
    from .redact import redact_data

    out: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            p = f"{path}.{k}" if path else str(k)
            if isinstance(v, (Mapping, list)):
                out.extend(_masked_paths(v, p))
            elif redact_data({k: v}) != {k: v}:
                out.append(p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(v, (Mapping, list)):
                out.extend(_masked_paths(v, p))
            elif redact_data(v) != v:
                out.append(p)
    return out


def connector_code(item: Mapping[str, Any]) -> ConnectorCode:
    """A native AWS connector's REST body (GET or list item) -> ConnectorCode. Raises UsageError for anything that is
    not a native AWS connector (a classic one, another cloud's, a body without an id)."""
    from .redact import redact_data

    if not isinstance(item, Mapping):
        raise UsageError("not a connector (expected a JSON object)")
    rid = str(item.get("id") or "")
    m = _CONNECTOR_ID.match(rid)
    if m is None:
        raise UsageError(f"{rid or 'the connector'}: not a Microsoft.Security/securityConnectors resource id "
                         "(a classic connector cannot be exported: see `mdc-aws export-connector --help`)")
    props = item.get("properties")
    props = props if isinstance(props, Mapping) else {}
    env_name = str(props.get("environmentName") or "")
    if env_name.lower() != "aws":
        raise UsageError(f"{m['name']}: a {env_name or 'non-AWS'} connector, not AWS")
    body = writable_body(item)
    notes: list[str] = []
    safe = redact_data(body)
    if safe != body:  # never expected for a native connector: said, and the value never written
        notes.extend(f"{p}: a secret-like value was replaced by a placeholder: set it before deploying"
                     for p in sorted(set(_masked_paths(body))) or ["(a value)"])
        body = safe
    for o in body["properties"].get("offerings") or ():
        otype = o.get("offeringType") if isinstance(o, Mapping) else None
        if otype not in KNOWN_OFFERING_TYPES:
            notes.append(f"offering {otype!r} is not in the {API_VERSION} schema: the Terraform resource turns "
                         "azapi's schema validation off for it; Azure decides whether it accepts it")
    return ConnectorCode(name=str(item.get("name") or m["name"]), subscription_id=m["sub"],
                         resource_group=m["rg"], body=body, notes=tuple(notes), source_id=rid)


# ---------------------------------------------------------------------------------------------------------------
# ARM
# ---------------------------------------------------------------------------------------------------------------


def arm_escape(value: Any) -> Any:
    """A JSON value safe in an ARM template: a string that starts with "[" and ends with "]" is an expression there,
    in a value and in an object's key alike; a leading "[[" makes it the literal string (ARM template syntax, "Escape
    characters")."""
    if isinstance(value, str):
        return "[" + value if value.startswith("[") and value.endswith("]") else value
    if isinstance(value, Mapping):
        return {arm_escape(k): arm_escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_escape(v) for v in value]
    return value


def arm_unescape(value: Any) -> Any:
    """arm_escape's inverse: what ARM deploys for a template value without expressions."""
    if isinstance(value, str):
        return value[1:] if value.startswith("[[") and value.endswith("]") else value
    if isinstance(value, Mapping):
        return {arm_unescape(k): arm_unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_unescape(v) for v in value]
    return value


def arm_template(code: ConnectorCode) -> dict[str, Any]:
    """A resource-group deployment template (schema 2019-04-01) with the one connector resource. Deploy it with
    `az deployment group create -g <resource group> --template-file <file>`."""
    resource: dict[str, Any] = {"type": RESOURCE_TYPE, "apiVersion": API_VERSION, "name": arm_escape(code.name)}
    resource.update(arm_escape(dict(code.body)))
    return {
        "$schema": ARM_SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {"generator": "mdc-aws export-connector", "source": code.source_id,
                     "deploy": f"az deployment group create --resource-group {code.resource_group} "
                               "--template-file <this file>"},
        "resources": [resource],
    }


def arm_resource_body(template: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, PUT body) of a template made by arm_template: what ARM sends for its one resource."""
    resources = template.get("resources")
    if not isinstance(resources, list) or len(resources) != 1:
        raise ValueError("expected a template with one resource")
    res = arm_unescape(resources[0])
    return res["name"], {k: v for k, v in res.items() if k not in ("type", "apiVersion", "name")}


# ---------------------------------------------------------------------------------------------------------------
# Terraform (azapi v2: body is an HCL object, not jsonencode)
# ---------------------------------------------------------------------------------------------------------------

_HCL_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HCL_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "endfor", "endif"})
_TEMPLATE_START = re.compile(r"([$%])\{")
_HCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def hcl_string(s: str) -> str:
    """A quoted HCL string literal whose value is exactly `s` (no interpolation or directive: ${ and %{ are escaped)."""
    out = []
    for ch in s:
        if ch in _HCL_ESCAPES:
            out.append(_HCL_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    # "${" and "%{" would start a template sequence: their "{" is written \u007b, a literal brace (HCL's own escapes,
    # "$${" and "%%{", are valid too, but not every parser reads them without a closing brace)
    text = _TEMPLATE_START.sub(lambda m: m[1] + "\\u007b", "".join(out))
    return f'"{text}"'


def _hcl_key(k: str) -> str:
    return k if _HCL_IDENT.fullmatch(k) and k not in _HCL_KEYWORDS else hcl_string(k)


def hcl_value(v: Any, indent: int = 0) -> str:
    """A JSON value as an HCL expression (objects and lists over several lines, `indent` spaces deep)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else hcl_string(str(v))
    if isinstance(v, str):
        return hcl_string(v)
    if isinstance(v, Mapping):
        if not v:
            return "{}"
        width = max(len(_hcl_key(str(k))) for k in v)
        lines = [f"{inner}{_hcl_key(str(k)).ljust(width)} = {hcl_value(x, indent + 2)}" for k, x in v.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(v, (list, tuple)):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{hcl_value(x, indent + 2)}" for x in v) + f",\n{pad}]"
    raise TypeError(f"not a JSON value: {type(v).__name__}")


def terraform_label(code: ConnectorCode) -> str:
    """The resource's local name: aws_<account id>_<connector name> (the name alone when there is no account id):
    unique in a folder that holds several connectors, also two of one AWS account (in two subscriptions)."""
    props = code.body.get("properties") or {}
    hid = str(props.get("hierarchyIdentifier") or "")
    name = re.sub(r"[^A-Za-z0-9_]", "_", code.name)
    label = f"aws_{hid}_{name}" if _ACCOUNT_ID.fullmatch(hid) else name
    return label if re.match(r"[A-Za-z_]", label) else f"c_{label}"


def terraform_import_id(code: ConnectorCode) -> str:
    """What azapi imports: the connector's ARM id with the api-version of the resource's type (without it azapi
    would read the newest api-version it knows, and plan a change of `type`)."""
    return f"{code.source_id}?api-version={API_VERSION}"


def terraform_hint(code: ConnectorCode) -> str:
    """How to deploy a Terraform file (the printed hint and the file's comment)."""
    return (f"terraform init && terraform apply in its folder (Terraform {TERRAFORM_VERSION}; its import block "
            f"adopts the existing connector {code.name}: delete that block to create the connector where none "
            "exists)")


def _comment(text: str) -> str:
    """Text for one `#` comment line: a line break or other control character would end the comment."""
    return "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in text)


def terraform_text(code: ConnectorCode) -> str:
    """The connector's azapi_resource and its import block. No provider configuration: that is once per folder
    (ensure_providers)."""
    body = dict(code.body)
    attrs: list[tuple[str, str]] = [
        ("type", hcl_string(f"{RESOURCE_TYPE}@{API_VERSION}")),
        ("name", hcl_string(code.name)),
        ("parent_id", hcl_string(code.parent_id)),
    ]
    if "location" in body:
        attrs.append(("location", hcl_string(str(body.pop("location")))))
    tags = body.pop("tags", {}) or {}
    attrs.append(("tags", hcl_value(tags, 2)))
    if any("azapi" in n for n in code.notes):
        attrs.append(("schema_validation_enabled", "false"))
    attrs.append(("body", hcl_value(body, 2)))
    width = max(len(k) for k, _ in attrs)
    lines = [f"  {k.ljust(width)} = {v}" for k, v in attrs]
    label = terraform_label(code)
    head = [f"# {_comment(code.source_id)}",
            "# recreated by `mdc-aws export-connector`. It needs the azapi provider, configured once per folder in "
            f"{PROVIDERS_FILE}",
            f"# (written next to this file when absent). Deploy: terraform init && terraform apply (Terraform "
            f"{TERRAFORM_VERSION})."]
    head += [f"# NOTE: {_comment(n)}" for n in code.notes]
    return "\n".join(head + [
        "",
        "# adopts the existing connector instead of failing on it (Terraform >= 1.5); delete it to create a new one",
        "import {",
        f"  to = azapi_resource.{label}",
        f"  id = {hcl_string(terraform_import_id(code))}",
        "}",
        "",
        f'resource "azapi_resource" {hcl_string(label)} {{',
        *lines,
        "}",
        "",
    ])


def terraform_providers_text(*, provider_block: bool = True) -> str:
    """providers.tf: the Terraform version and the azapi provider the connector files need, once per folder."""
    lines = [
        "# written by `mdc-aws export-connector` once per folder: the mdc-aws-connector-*.tf files next to it use it",
        "terraform {",
        f"  required_version = {hcl_string(TERRAFORM_VERSION)} # import blocks",
        "  required_providers {",
        "    azapi = {",
        '      source  = "Azure/azapi"',
        f"      version = {hcl_string(AZAPI_VERSION)}",
        "    }",
        "  }",
        "}",
    ]
    if provider_block:
        lines += ["", 'provider "azapi" {}']
    return "\n".join(lines) + "\n"


_REQUIRED_PROVIDERS = re.compile(r"\brequired_providers\s*\{")
_AZAPI_SOURCE = re.compile(r"(?i)\"(?:registry\.terraform\.io/)?azure/azapi\"")
_AZAPI_PROVIDER = re.compile(r'\bprovider\s+"azapi"\s*\{')
_TF_READ_LIMIT = 1 << 20  # of each .tf file looked at


@dataclass(frozen=True)
class Providers:
    """What ensure_providers did: the file it wrote (None: none was needed, or it could not be) and what the
    operator must change by hand (None: nothing)."""

    written: Path | None = None
    note: str | None = None


def ensure_providers(tf_file: str | os.PathLike[str]) -> Providers:
    """After a connector's .tf file is written: the azapi provider configuration of its folder, written once.

    A module may hold one `required_providers` block and one default `provider "azapi"` only (Terraform refuses
    duplicates), so providers.tf is written (0600, never over an existing file) only when no .tf file of the folder
    has a `required_providers` block; when one has it without azapi, the note says what to add. Nothing is written
    next to what is not a regular file (-o /dev/stdout). Raises OSError when providers.tf cannot be written."""
    path = Path(tf_file)
    if not path.is_file():
        return Providers()
    folder = path.parent
    target = folder / PROVIDERS_FILE
    texts: list[str] = []
    for tf in sorted(folder.glob("*.tf")):
        try:
            with open(tf, encoding="utf-8", errors="replace") as fh:
                texts.append(fh.read(_TF_READ_LIMIT))
        except OSError:  # unreadable: Terraform will say so itself
            continue
    joined = "\n".join(texts)
    want = f'azapi = {{ source = "Azure/azapi", version = "{AZAPI_VERSION}" }}'
    if _REQUIRED_PROVIDERS.search(joined):
        if _AZAPI_SOURCE.search(joined):
            return Providers()
        return Providers(note=f"the Terraform in {folder} has its own required_providers block, without azapi: add "
                              f"{want} to it (one such block per folder)")
    if os.path.lexists(target):
        return Providers(note=f"{target} exists and declares no required_providers: add `terraform {{ "
                              f"required_providers {{ {want} }} }}` to it")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # written meanwhile (another export into the same folder)
        return Providers()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(terraform_providers_text(provider_block=not _AZAPI_PROVIDER.search(joined)))
    return Providers(written=target)


# ---------------------------------------------------------------------------------------------------------------
# Which connector (pure) and reading it (one GET)
# ---------------------------------------------------------------------------------------------------------------


def _account_name(c: Connector) -> str | None:
    props = c.raw.get("properties") if isinstance(c.raw, Mapping) else None
    env = props.get("environmentData") if isinstance(props, Mapping) else None
    name = env.get("accountName") if isinstance(env, Mapping) else None
    return name if isinstance(name, str) and name else None


def find_connector(connectors: Iterable[Connector], account: str, *, where: str = "") -> Connector:
    """The native connector of `account`: a 12-digit AWS account id, else the connector's name or the AWS account
    name it reports (case-insensitive). UsageError, saying what to do, when there is none, when the account has only
    a classic connector, or when the name is ambiguous."""
    wanted = (account or "").strip()
    if not wanted:
        raise UsageError("give the AWS account: its 12-digit id or its name")
    cs = list(connectors)
    if _ACCOUNT_ID.fullmatch(wanted):
        found = [c for c in cs if c.aws_account_id == wanted]
    else:
        low = wanted.lower()
        found = [c for c in cs if c.name.lower() == low or (_account_name(c) or "").lower() == low]
    native = [c for c in found if c.kind == "native"]
    if len(native) == 1:
        return native[0]
    if len(native) > 1:
        listed = "; ".join(f"{c.name} ({c.aws_account_id}, subscription {c.subscription_id})" for c in native)
        raise UsageError(f"{wanted!r} matches {len(native)} native connectors ({listed}): give the 12-digit account "
                         "id, or --subscription to read one subscription")
    if found:  # classic only
        raise UsageError(f"AWS account {found[0].aws_account_id or wanted} has only a classic connector "
                         f"({found[0].name}, Microsoft.Security/connectors, retired): it cannot be exported as a "
                         "native connector; create one with `mdc-aws onboard --flow native`, then export that")
    hint = f" in {where}" if where else ""
    by_id = "" if _ACCOUNT_ID.fullmatch(wanted) else " (a classic connector is found by its 12-digit account id only)"
    raise UsageError(f"no AWS connector for {wanted!r}{hint}{by_id}: check the account id or name (the Accounts "
                     "pane or `mdc-aws export --view accounts` lists them), or pass --subscription for the "
                     "subscription that holds it")


async def read_connector(settings: Settings, account: str) -> dict[str, Any]:
    """The REST body of `account`'s native connector: the subscriptions and connectors are listed as the dashboard
    lists them (every configured tenant), then the connector is read with one GET (azure-mgmt-security's
    security_connectors.get, the raw body: every field, an offering type the SDK does not know included), with the
    credential of its subscription's tenant first. Raises UsageError (which connector) or SourceError (Azure)."""
    from .azure import azure_source

    async with azure_source(settings) as az:
        subs, _tenant = await az.subscriptions()
        data = await az.connectors(subs)
        where = f"{len(subs)} subscription{'s' if len(subs) != 1 else ''}"
        unread = [x for x in data.skipped if x.startswith(("subscription ", "tenant "))]
        if unread:
            where += f" ({len(unread)} subscription or tenant not read: run with -v to see why)"
        c = find_connector(data.connectors, account, where=where)
        # a source per tenant (several with [[tenants]]): the connector's own tenant first, then the others
        sources = list(getattr(az, "members", None) or [az])
        tenant = getattr(c, "tenant_id", None)
        sources.sort(key=lambda src: getattr(getattr(src, "tenant", None), "tenant_id", None) != tenant)
        first: SourceError | None = None
        for src in sources:
            try:
                return await _get_connector(src, c)
            except SourceError as e:
                if e.kind != "auth":
                    raise
                first = first or e  # refused: another tenant's credential may reach it (Azure Lighthouse)
        assert first is not None
        raise first


async def _get_connector(src: Any, c: Connector) -> dict[str, Any]:
    """One GET of a native connector through azure-mgmt-security, with `src`'s (an AzureSource) credential."""
    from azure.mgmt.security.v2023_10_01_preview.aio import SecurityCenter

    from .arg import client_kwargs, to_source_error

    assert c.resource_group is not None  # native connectors are resource-group scoped
    kw = client_kwargs(src.settings)
    base_url = kw.pop("base_url")
    client = SecurityCenter(src.credential, c.subscription_id, base_url=base_url, **kw)
    try:
        async with client:
            body = await client.security_connectors.get(c.resource_group, c.name, cls=_raw_body)
    except Exception as e:  # noqa: BLE001 - every SDK/transport failure becomes one line with the fix
        raise to_source_error(e, endpoint=src.endpoint, what=f"connector {c.name}",
                              subscription=c.subscription_id) from None
    if not isinstance(body, dict):
        raise SourceError(f"Azure sent no readable body for connector {c.name}: retry later; report it if it "
                          "persists", kind="malformed")
    return body


def _raw_body(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    """cls= for the SDK's get: the raw JSON body, not the SDK model (which drops what its swagger does not name)."""
    try:
        return json.loads(pipeline_response.http_response.text())
    except Exception:  # noqa: BLE001 - a body that is not JSON is no body
        return None


def file_name(code: ConnectorCode, fmt: Format) -> str:
    """A file name for the connector's code: mdc-aws-connector-<name>.json (ARM) or .tf."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", code.name).strip(".") or "connector"
    return f"mdc-aws-connector-{safe}.{'json' if fmt == 'arm' else 'tf'}"


def native_connectors(connectors: Sequence[Connector]) -> list[Connector]:
    return [c for c in connectors if c.kind == "native"]
