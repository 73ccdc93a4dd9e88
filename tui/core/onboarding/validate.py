"""Field validators for the onboarding wizard and the CLI.

Each takes the raw text a user typed (surrounding whitespace ignored; None or a non-string is handled) and returns None
when valid, else ONE line that names the field and the rule, e.g. "AWS account ID: 12 digits required (found 10)".
They never raise. Secret fields never echo what was typed.

Parsers (`parse_*`) turn valid text into values (lists, ints); they assume the validator passed.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

# Commercial AWS regions (botocore's "aws" partition). Defender for Cloud connects commercial accounts only.
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)
_AWS_REGION_SET = frozenset(AWS_REGIONS)

# Azure public-cloud regions (programmatic names). Display names ("Central US", "East US 2") are accepted too: they
# become these names once spaces are removed and letters lower-cased.
AZURE_LOCATIONS: tuple[str, ...] = (
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast", "belgiumcentral",
    "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
    "eastasia", "eastus", "eastus2", "francecentral", "francesouth", "germanynorth", "germanywestcentral",
    "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "jioindiacentral", "jioindiawest",
    "koreacentral", "koreasouth", "malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus", "northeurope",
    "norwayeast", "norwaywest", "polandcentral", "qatarcentral", "southafricanorth", "southafricawest",
    "southcentralus", "southeastasia", "southindia", "spaincentral", "swedencentral", "swedensouth",
    "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth", "ukwest", "westcentralus",
    "westeurope", "westindia", "westus", "westus2", "westus3",
)
_AZURE_LOCATION_SET = frozenset(AZURE_LOCATIONS)

SCAN_INTERVAL_MIN, SCAN_INTERVAL_MAX = 4, 24
# The only scan intervals a connector may have (Microsoft's quickstart: "Select a scan interval (4, 6, 12, or 24
# hours)"; existing connectors were remapped to these in 2025). EC2 discovery runs every hour whatever this is.
SCAN_INTERVAL_CHOICES: tuple[int, ...] = (4, 6, 12, 24)
_SCAN_CHOICES_TEXT = "4, 6, 12 or 24 hours"

_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ROLE_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_ROLE_PATH_RE = re.compile(r"/(?:[\w+=,.@-]+/)*", re.ASCII)
_CONNECTOR_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_STACKSET_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ACCESS_KEY_RE = re.compile(r"AKIA[A-Z0-9]{16}")
_SECRET_RE = re.compile(r"[A-Za-z0-9/+]{40}")
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_LIST_SPLIT = re.compile(r"[\s,]+")

CONNECTOR_NAME_MAX = 260
RESOURCE_GROUP_MAX = 90
STACKSET_NAME_MAX = 128
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224


def _text(value: Any) -> str | None:
    """The stripped text, or None when there is nothing usable."""
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    return value.strip()


def _show(s: str, limit: int = 24) -> str:
    """A short, printable rendering of (non-secret) input for messages."""
    s = "".join(c if c.isprintable() else "?" for c in s)
    return repr(s if len(s) <= limit else s[: limit - 1] + "…")


def _bad_char(s: str, ok: Any) -> str | None:
    for c in s:
        if not ok(c):
            return c
    return None


def _char(c: str) -> str:
    return repr(c) if c.isprintable() else f"U+{ord(c):04X}"


# ---------------------------------------------------------------------------------------------------------- Azure


def connector_name(value: Any) -> str | None:
    """ARM resource name of the connector: 1-260 letters, digits, '-', '_', '.'; starts with a letter or digit;
    does not end with '.'."""
    s = _text(value)
    if not s:
        return "connector name: required (letters, digits, '-', '_' and '.')"
    if len(s) > CONNECTOR_NAME_MAX:
        return f"connector name: at most {CONNECTOR_NAME_MAX} characters (found {len(s)})"
    bad = _bad_char(s, lambda c: c.isascii() and (c.isalnum() or c in "-_."))
    if bad is not None:
        return f"connector name: only letters, digits, '-', '_' and '.' allowed (found {_char(bad)})"
    if not _CONNECTOR_NAME_RE.fullmatch(s):
        return "connector name: must start with a letter or digit"
    if s.endswith("."):
        return "connector name: must not end with '.'"
    return None


def guid(value: Any, *, what: str = "GUID") -> str | None:
    """xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)."""
    s = _text(value)
    if not s:
        return f"{what}: required (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
    if _GUID_RE.fullmatch(s):
        return None
    if len(s) != 36:
        return f"{what}: 36 characters xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx required (found {len(s)})"
    return f"{what}: hex digits in groups 8-4-4-4-12 required (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"


def subscription_id(value: Any) -> str | None:
    return guid(value, what="subscription ID")


def _rg_char_ok(c: str) -> bool:
    if c in "-_.()":
        return True
    cat = unicodedata.category(c)
    return cat.startswith("L") or cat == "Nd"


def resource_group(value: Any) -> str | None:
    """1-90 letters, digits, '-', '_', '.', '(' and ')'; does not end with '.' (Azure's resource group rule)."""
    s = _text(value)
    if not s:
        return "resource group: required (letters, digits, '-', '_', '.', '(' and ')')"
    if len(s) > RESOURCE_GROUP_MAX:
        return f"resource group: at most {RESOURCE_GROUP_MAX} characters (found {len(s)})"
    bad = _bad_char(s, _rg_char_ok)
    if bad is not None:
        return f"resource group: only letters, digits, '-', '_', '.', '(' and ')' allowed (found {_char(bad)})"
    if s.endswith("."):
        return "resource group: must not end with '.'"
    return None


def normalize_azure_location(value: Any) -> str | None:
    """"Central US" / "centralus" -> "centralus"; None when it is not an Azure region."""
    s = _text(value)
    if not s:
        return None
    key = "".join(s.split()).lower()
    return key if key in _AZURE_LOCATION_SET else None


def azure_location(value: Any) -> str | None:
    s = _text(value)
    if not s:
        return "Azure region: required (e.g. eastus, westeurope)"
    if normalize_azure_location(s) is None:
        return f"Azure region: {_show(s)} is not an Azure region name (e.g. eastus, westeurope, Central US)"
    return None


# ---------------------------------------------------------------------------------------------------------- AWS


def aws_account_id(value: Any) -> str | None:
    """Exactly 12 digits."""
    s = _text(value)
    if not s:
        return "AWS account ID: 12 digits required"
    bad = _bad_char(s, lambda c: c in "0123456789")
    if bad is not None:
        return f"AWS account ID: digits only (found {_char(bad)})"
    if len(s) != 12:
        return f"AWS account ID: 12 digits required (found {len(s)})"
    return None


def parse_list(value: Any) -> list[str]:
    """Comma- and/or whitespace-separated items, in order, each once."""
    s = _text(value) or ""
    return list(dict.fromkeys(p for p in _LIST_SPLIT.split(s) if p))


def aws_account_ids(value: Any) -> str | None:
    """A comma/space separated list of account IDs (empty is valid: e.g. no excluded accounts)."""
    if value is not None and not isinstance(value, str):
        return "AWS account IDs: a comma-separated list of 12-digit account IDs"
    for item in parse_list(value):
        problem = aws_account_id(item)
        if problem:
            return f"AWS account IDs: {_show(item)}: {problem.split(': ', 1)[1]}"
    return None


def aws_region(value: Any) -> str | None:
    s = _text(value)
    if not s:
        return "AWS region: required (e.g. us-east-1)"
    if s in _AWS_REGION_SET:
        return None
    if s.lower() in _AWS_REGION_SET:
        return f"AWS region: lower case required ({s.lower()})"
    return f"AWS region: {_show(s)} is not an AWS region name (e.g. us-east-1, eu-west-1)"


def aws_regions(value: Any) -> str | None:
    """A comma/space separated list of AWS region names, at least one."""
    if value is not None and not isinstance(value, str):
        return "AWS regions: a comma-separated list of region names (e.g. us-east-1, eu-west-1)"
    items = parse_list(value)
    if not items:
        return "AWS regions: at least one region required (e.g. us-east-1, eu-west-1)"
    for item in items:
        problem = aws_region(item)
        if problem:
            return "AWS regions: " + problem.split(": ", 1)[1]
    return None


def role_arn(value: Any) -> str | None:
    """arn:aws:iam::<12-digit account>:role/[<path>/]<name>, name 1-64 of letters, digits and + = , . @ _ -."""
    s = _text(value)
    if not s:
        return "role ARN: required (arn:aws:iam::<account id>:role/<name>)"
    if not s.startswith("arn:"):
        return "role ARN: must start with arn:aws:iam:: (arn:aws:iam::<account id>:role/<name>)"
    parts = s.split(":", 5)
    if len(parts) != 6:
        return "role ARN: arn:aws:iam::<account id>:role/<name> required"
    _, partition, service, region, account, resource = parts
    if partition != "aws":
        return (f"role ARN: partition must be 'aws' (found {_show(partition)}): "
                "Defender for Cloud connects commercial AWS")
    if service != "iam":
        return f"role ARN: service must be 'iam' (found {_show(service)})"
    if region != "":
        return "role ARN: IAM ARNs have no region (arn:aws:iam::<account id>:role/<name>)"
    problem = aws_account_id(account)
    if problem or account != account.strip():
        return f"role ARN: account {_show(account)}: {(problem or 'no spaces allowed').split(': ', 1)[-1]}"
    if not resource.startswith("role/"):
        return f"role ARN: resource must be role/<name> (found {_show(resource)})"
    path_and_name = resource[len("role"):]
    path, _, name = path_and_name.rpartition("/")
    path += "/"
    if len(path) > 512:
        return f"role ARN: role path at most 512 characters (found {len(path)})"
    if not _ROLE_PATH_RE.fullmatch(path):
        return "role ARN: the role path may contain only letters, digits and + = , . @ _ - between slashes"
    if not name:
        return "role ARN: role name missing after role/"
    if len(name) > 64:
        return f"role ARN: role name at most 64 characters (found {len(name)})"
    if not _ROLE_NAME_RE.fullmatch(name):
        bad = _bad_char(name, lambda c: c.isascii() and (c.isalnum() or c in "+=,.@_-"))
        return f"role ARN: role name may contain only letters, digits and + = , . @ _ - (found {_char(bad or '?')})"
    return None


def role_account(arn: str) -> str:
    """The account of a valid role ARN."""
    return arn.strip().split(":")[4]


def scan_interval(value: Any) -> str | None:
    """Whole hours, one of SCAN_INTERVAL_CHOICES (4, 6, 12, 24): Azure accepts no other."""
    if isinstance(value, bool):
        return f"scan interval: {_SCAN_CHOICES_TEXT} required"
    if isinstance(value, int):
        n = value
    else:
        s = _text(value)
        if not s:
            return f"scan interval: {_SCAN_CHOICES_TEXT} required"
        if not re.fullmatch(r"[0-9]+", s):
            return f"scan interval: {_SCAN_CHOICES_TEXT} required (found {_show(s)})"
        digits = s.lstrip("0") or "0"
        if len(digits) > 6:
            return f"scan interval: {_SCAN_CHOICES_TEXT} required (found {len(digits)} digits)"
        n = int(digits)
    if n not in SCAN_INTERVAL_CHOICES:
        return (f"scan interval: {_SCAN_CHOICES_TEXT} required (found {n}); Defender for Cloud accepts no other "
                "value, and new EC2 instances are discovered every hour whatever it is")
    return None


def parse_scan_interval(value: Any) -> int:
    return value if isinstance(value, int) else int((_text(value) or "0").lstrip("0") or "0")


def stackset_name(value: Any) -> str | None:
    """CloudFormation StackSet name: a letter, then letters, digits and hyphens; at most 128 characters."""
    s = _text(value)
    if not s:
        return "StackSet name: required (a letter, then letters, digits and hyphens)"
    if len(s) > STACKSET_NAME_MAX:
        return f"StackSet name: at most {STACKSET_NAME_MAX} characters (found {len(s)})"
    if not (s[0].isascii() and s[0].isalpha()):
        return "StackSet name: must start with a letter"
    bad = _bad_char(s, lambda c: c.isascii() and (c.isalnum() or c == "-"))
    if bad is not None:
        return f"StackSet name: only letters, digits and hyphens allowed (found {_char(bad)})"
    return None


def _host_problem(host: str) -> str | None:
    if not host:
        return "host missing"
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "not an IPv6 address"
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{_show(host)} is not an IPv4 address"
        return None
    if len(host) > 253:
        return "host name longer than 253 characters"
    for label in host.split("."):
        if not _HOST_LABEL_RE.fullmatch(label):
            return f"{_show(host)} is not a host name (letters, digits, hyphens; dot-separated)"
    return None


def parse_proxy_url(value: Any) -> tuple[str, int]:
    """(host, port) of a valid proxy URL (IPv6 hosts without brackets)."""
    s = (_text(value) or "")[len("http://"):]
    host, _, port = s.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, int(port)


def proxy_url(value: Any) -> str | None:
    """http://<host>:<port>: host an IPv4 address, [IPv6] or a DNS name; port 1-65535; nothing after the port."""
    s = _text(value)
    if not s:
        return "proxy URL: http://<host>:<port> required"
    if not s.lower().startswith("http://"):
        return "proxy URL: must start with http:// (http://<host>:<port>)"
    if not s.startswith("http://"):
        return "proxy URL: scheme in lower case required (http://<host>:<port>)"
    rest = s[len("http://"):]
    if "/" in rest or "?" in rest or "#" in rest or "@" in rest:
        return "proxy URL: only http://<host>:<port> (no path, query or credentials)"
    host, sep, port = rest.rpartition(":")
    if not sep or host == "" or (host.startswith("[") and not host.endswith("]")):
        return "proxy URL: port required (http://<host>:<port>)"
    if not re.fullmatch(r"[0-9]{1,5}", port):
        return f"proxy URL: port must be a number 1-65535 (found {_show(port)})"
    if not 1 <= int(port) <= 65535:
        return f"proxy URL: port must be 1-65535 (found {int(port)})"
    problem = _host_problem(host)
    if problem:
        return f"proxy URL: {problem}"
    return None


def access_key_id(value: Any) -> str | None:
    """An IAM user's access key ID: AKIA and 16 upper-case letters or digits."""
    s = _text(value)
    if not s:
        return "access key ID: required (AKIA and 16 upper-case letters or digits)"
    if len(s) != 20:
        return f"access key ID: 20 characters required (found {len(s)})"
    if not s.startswith("AKIA"):
        return "access key ID: an IAM user's key starts with AKIA"
    if not _ACCESS_KEY_RE.fullmatch(s):
        return "access key ID: AKIA and 16 upper-case letters or digits required"
    return None


def secret_access_key(value: Any) -> str | None:
    """40 characters of letters, digits, '/' and '+'. Never echoes the value."""
    s = _text(value)
    if not s:
        return "secret access key: required (40 characters)"
    if len(s) != 40:
        return f"secret access key: 40 characters required (found {len(s)})"
    if not _SECRET_RE.fullmatch(s):
        return "secret access key: only letters, digits, '/' and '+' allowed"
    return None


def external_id(value: Any) -> str | None:
    """sts:ExternalId: 2-1224 letters, digits and + = , . @ : / _ -."""
    s = _text(value)
    if not s:
        return f"external ID: required ({EXTERNAL_ID_MIN}-{EXTERNAL_ID_MAX} characters)"
    if not EXTERNAL_ID_MIN <= len(s) <= EXTERNAL_ID_MAX:
        return f"external ID: {EXTERNAL_ID_MIN}-{EXTERNAL_ID_MAX} characters required (found {len(s)})"
    if not _EXTERNAL_ID_RE.fullmatch(s):
        bad = _bad_char(s, lambda c: c.isascii() and (c.isalnum() or c in "+=,.@:/_-"))
        return f"external ID: only letters, digits and + = , . @ : / _ - allowed (found {_char(bad or '?')})"
    return None


def service_principal_secret(value: Any) -> str | None:
    """A client secret: required, printable, at most 255 characters. Never echoes the value."""
    if value is not None and not isinstance(value, str):
        return "service principal secret: required"
    s = (value or "").strip()
    if not s:
        return "service principal secret: required"
    if len(s) > 255:
        return f"service principal secret: at most 255 characters (found {len(s)})"
    if not s.isprintable():
        return "service principal secret: printable characters only"
    return None


VALIDATORS = {
    "connector_name": connector_name,
    "aws_account_id": aws_account_id,
    "aws_account_ids": aws_account_ids,
    "role_arn": role_arn,
    "guid": guid,
    "subscription_id": subscription_id,
    "resource_group": resource_group,
    "azure_location": azure_location,
    "aws_region": aws_region,
    "aws_regions": aws_regions,
    "scan_interval": scan_interval,
    "stackset_name": stackset_name,
    "proxy_url": proxy_url,
    "access_key_id": access_key_id,
    "secret_access_key": secret_access_key,
    "external_id": external_id,
    "service_principal_secret": service_principal_secret,
}
