"""What the onboarding wizard collects, and the exact request bodies it becomes.

Native connector (Microsoft.Security/securityConnectors, 2023-10-01-preview): NativeState -> errors(state) (every
validator applied, cross-field rules too) -> offerings(state) / connector_body(state) (the PUT body, shaped like
Microsoft's examples: environmentName "AWS", hierarchyIdentifier = the account, environmentData AwsAccount with
regions, scanInterval and, for a management account, organizationalData; offerings with cloudRoleArns
arn:aws:iam::<account>:role/<role> and subPlan as an object).

Classic connector (Microsoft.Security/connectors, 2020-01-01-preview, retired by Microsoft on 2023-09-15, no data
since):
ClassicState -> classic_errors(state) -> classic_body(state) (secrets masked unless reveal=True: only writes.py
reveals them, to send) and classic_tags(state) (the Azure tags each onboarded EC2 instance gets).

Pure: no I/O. Never imports textual or rich.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..model import ALWAYS_ON_PLAN_KEYS, PLAN_KEYS, PLAN_OFFERINGS, PLAN_TITLES, PlanKey
from . import validate as v
from .template import roles_data

MASK = "********"  # what a secret looks like in every repr, body and message
SECURITY_CONNECTORS_API = "2023-10-01-preview"
CLASSIC_CONNECTORS_API = "2020-01-01-preview"
CLASSIC_RETIRED_NOTE = ("Classic connectors were retired by Microsoft on 2023-09-15 and get no data since: a classic "
                        "connector enables no plan and onboards nothing to Arc. Connect the account with the native "
                        "connector (o, then 1) instead; use this flow only to understand or rebuild an existing setup.")
CLASSIC_EXTERNAL_ACCOUNT = "158177204117"  # Microsoft's AWS account the classic role trusts

PLAN_OFFERING: dict[PlanKey, str] = PLAN_OFFERINGS  # plan key -> offeringType (the one definition: model.PLANS)

# per plan key -> (title, what it costs as the quickstart says, prerequisites)
PLAN_INFO: dict[PlanKey, tuple[str, str, str]] = {
    "cspm": (PLAN_TITLES["cspm"], "Free.",
             "None: read-only API calls (they appear in CloudTrail if a trail records read events)."),
    "defender_cspm": (PLAN_TITLES["defender_cspm"],
                      "Billed per resource, as Defender CSPM for Azure.",
                      "Subscription Owner for every capability; AWS IAM permissions to assume the monitoring role; "
                      "CIEM needs the Entra Application Administrator or Cloud Application Administrator role."),
    "servers": (PLAN_TITLES["servers"],
                "Billed per EC2 instance connected to Azure Arc, at the Defender for Servers price for Azure "
                "machines; an EC2 instance without the Arc agent is not charged.",
                "Microsoft Defender for Servers enabled on the subscription (VirtualMachines pricing Standard); EC2 "
                "instances with Azure Arc (auto-provisioning needs Owner; the Arc network requirements met) and the "
                "SSM agent with AmazonSSMManagedInstanceCore; Defender for Endpoint and a vulnerability assessment "
                "(TVM or Qualys) on the Arc machines; Microsoft.HybridCompute and Microsoft.GuestConfiguration "
                "registered."),
    "containers": (PLAN_TITLES["containers"],
                   "Free during the preview, then billed for AWS at the Azure price.",
                   "At least one Amazon EKS cluster with access to its Kubernetes API server, and the capacity to "
                   "create an SQS queue, a Kinesis Data Firehose delivery stream and an S3 bucket in the cluster's "
                   "region."),
    # prerequisites as Microsoft's quickstart states them (defender-docs quickstart-onboard-aws.md, 2026-01-01)
    "databases": (PLAN_TITLES["databases"],
                  "Billed per protected database, as Defender for Databases for Azure.",
                  "Microsoft Defender for SQL (SQL servers on machines) enabled on the subscription; EC2 instances or "
                  "RDS Custom for SQL Server with Azure Arc (auto-provisioning needs Owner) and the SSM agent "
                  "(AmazonSSMManagedInstanceCore); Defender for Endpoint, a vulnerability assessment and the "
                  "Defender for SQL extension on the Arc machines. Open-source databases on RDS: every public region "
                  "but Tel Aviv, Milan, Jakarta, Spain and Bahrain."),
}


# ------------------------------------------------------------------------------------------------------------------
# Native connector


@dataclass
class PlanChoices:
    cspm: bool = True  # Foundational CSPM: always on
    defender_cspm: bool = False
    servers: bool = False
    servers_sub_plan: str = "P2"  # "P1" | "P2"
    arc_auto_provisioning: bool = True
    mde: bool = True
    # None | "TVM" (Microsoft Defender Vulnerability Management) | "Qualys"
    vulnerability_assessment: str | None = "TVM"
    agentless_scanning: bool = True  # Plan 2 only
    containers: bool = False
    databases: bool = False

    def keys(self) -> tuple[PlanKey, ...]:
        """The chosen plan keys (template/doctor vocabulary), Foundational CSPM first."""
        return tuple(k for k in PLAN_KEYS if k in ALWAYS_ON_PLAN_KEYS or getattr(self, k))


@dataclass
class NativeState:
    connector_name: str = ""
    subscription_id: str = ""
    resource_group: str = ""
    location: str = ""  # Azure region of the connector resource
    aws_account_id: str = ""
    organization: Literal["single", "management"] = "single"  # the connector's OrganizationRole (model.py)
    stackset_name: str = ""
    excluded_account_ids: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # AWS regions to scan
    scan_interval: int = 4  # hours
    plans: PlanChoices = field(default_factory=PlanChoices)
    least_privilege: bool = False
    # additions to the contract:
    tenant_id: str | None = None  # Azure tenant (the template's session-name condition and CIEM trust)
    role_names: dict[str, str] = field(default_factory=dict)  # custom IAM role names {default name: custom}
    arc_proxy: str = ""  # Servers: Arc auto-provisioning proxy http://<host>:<port> (empty: none)
    tags: dict[str, str] = field(default_factory=dict)  # Azure tags of the connector resource


def _text_list(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(x) for x in value)
    return value if isinstance(value, str) else ""


def errors(state: NativeState) -> dict[str, str]:
    """field name -> the one-line message, for every field that is wrong (empty dict: ready to create)."""
    out: dict[str, str] = {}

    def check(name: str, message: str | None) -> None:
        if message and name not in out:
            out[name] = message

    check("connector_name", v.connector_name(state.connector_name))
    check("subscription_id", v.subscription_id(state.subscription_id))
    check("resource_group", v.resource_group(state.resource_group))
    check("location", v.azure_location(state.location))
    check("aws_account_id", v.aws_account_id(state.aws_account_id))
    check("regions", v.aws_regions(_text_list(state.regions)))
    check("scan_interval", v.scan_interval(state.scan_interval))
    if state.organization not in ("single", "management"):
        check("organization", "account type: 'single' or 'management' (an organization's management account)")
    if state.organization == "management":
        check("stackset_name", v.stackset_name(state.stackset_name))
        check("excluded_account_ids", v.aws_account_ids(_text_list(state.excluded_account_ids)))
        if "excluded_account_ids" not in out and state.aws_account_id.strip() in {
                a.strip() for a in state.excluded_account_ids}:
            out["excluded_account_ids"] = ("excluded account IDs: the management account itself cannot be excluded "
                                           "(it is onboarded by the Stack)")
    p = state.plans
    if not p.cspm:
        check("plans", "plans: Foundational CSPM is always on")
    if p.servers:
        if p.servers_sub_plan not in ("P1", "P2"):
            check("servers_sub_plan", "Servers plan: P1 or P2")
        if p.vulnerability_assessment not in (None, "TVM", "Qualys"):
            check("vulnerability_assessment", "vulnerability assessment: none, TVM (Microsoft Defender Vulnerability "
                                              "Management) or Qualys")
        if p.arc_auto_provisioning and state.arc_proxy.strip():
            check("arc_proxy", v.proxy_url(state.arc_proxy))
    if p.defender_cspm and (state.tenant_id is None or v.guid(state.tenant_id)):
        check("tenant_id", "tenant ID: required with Defender CSPM (the CIEM role trusts your tenant's OIDC provider)")
    elif state.tenant_id is not None and state.tenant_id != "":
        check("tenant_id", v.guid(state.tenant_id, what="tenant ID"))
    for default, custom in state.role_names.items():
        if default not in roles_data()["roles"]:
            check("role_names", f"role names: {default!r} is not a Defender for Cloud role")
        elif not custom or len(custom) > 64 or not all(c.isascii() and (c.isalnum() or c in "+=,.@_-")
                                                       for c in custom):
            check("role_names", f"role name for {default}: 1-64 letters, digits and + = , . @ _ - required")
    return out


def role_name(state: NativeState, default: str) -> str:
    return state.role_names.get(default) or default


def role_arn(state: NativeState, default: str) -> str:
    return f"arn:aws:iam::{state.aws_account_id.strip()}:role/{role_name(state, default)}"


def offerings(state: NativeState) -> list[dict[str, Any]]:
    """The offerings array: one object per chosen plan, every cloudRoleArn naming the template's role."""
    roles = roles_data()["offering_roles"]

    def arn(offering: str, key: str) -> str:
        return role_arn(state, roles[offering][key])

    p = state.plans
    o = PLAN_OFFERINGS["cspm"]
    out: list[dict[str, Any]] = [{"offeringType": o,
                                  "nativeCloudConnection": {"cloudRoleArn": arn(o, "nativeCloudConnection")}}]
    if p.defender_cspm:
        o = PLAN_OFFERINGS["defender_cspm"]
        out.append({
            "offeringType": o,
            "vmScanners": {"enabled": True, "configuration": {"cloudRoleArn": arn(o, "vmScanners"),
                                                              "scanningMode": "Default", "exclusionTags": {}}},
            "dataSensitivityDiscovery": {"enabled": True, "cloudRoleArn": arn(o, "dataSensitivityDiscovery")},
            "databasesDspm": {"enabled": True, "cloudRoleArn": arn(o, "databasesDspm")},
            "ciem": {"ciemDiscovery": {"cloudRoleArn": arn(o, "ciemDiscovery")},
                     "ciemOidc": {"cloudRoleArn": arn(o, "ciemOidc"),
                                  "azureActiveDirectoryAppName":
                                      roles_data()["ciem_oidc_provider"]["azure_ad_app_name"]}},
            "mdcContainersImageAssessment": {"enabled": True, "cloudRoleArn": arn(o, "mdcContainersImageAssessment")},
            "mdcContainersAgentlessDiscoveryK8s": {"enabled": True,
                                                   "cloudRoleArn": arn(o, "mdcContainersAgentlessDiscoveryK8s")},
        })
    if p.servers:
        o = PLAN_OFFERINGS["servers"]
        arc_config: dict[str, Any] = {}
        if p.arc_auto_provisioning and state.arc_proxy.strip():
            arc_config["proxy"] = state.arc_proxy.strip()
        out.append({
            "offeringType": o,
            "defenderForServers": {"cloudRoleArn": arn(o, "defenderForServers")},
            "arcAutoProvisioning": {"enabled": bool(p.arc_auto_provisioning),
                                    "cloudRoleArn": arn(o, "arcAutoProvisioning"),
                                    "configuration": arc_config},
            "mdeAutoProvisioning": {"enabled": bool(p.mde), "configuration": {}},
            "vaAutoProvisioning": {"enabled": p.vulnerability_assessment is not None,
                                   "configuration": {"type": p.vulnerability_assessment or "TVM"}},
            "subPlan": {"type": p.servers_sub_plan},
            "vmScanners": {"enabled": bool(p.agentless_scanning and p.servers_sub_plan == "P2"),
                           "configuration": {"cloudRoleArn": arn(o, "vmScanners"), "scanningMode": "Default",
                                             "exclusionTags": {}}},
        })
    if p.containers:
        o = PLAN_OFFERINGS["containers"]
        out.append({
            "offeringType": o,
            "kubernetesService": {"cloudRoleArn": arn(o, "kubernetesService")},
            "kubernetesScubaReader": {"cloudRoleArn": arn(o, "kubernetesScubaReader")},
            "cloudWatchToKinesis": {"cloudRoleArn": arn(o, "cloudWatchToKinesis")},
            "kinesisToS3": {"cloudRoleArn": arn(o, "kinesisToS3")},
            "enableContainerVulnerabilityAssessment": False,
            "autoProvisioning": True,
            "kubeAuditRetentionTime": 30,
            "scubaExternalId": roles_data()["scuba"]["default_external_id"],
            "mdcContainersImageAssessment": {"enabled": True, "cloudRoleArn": arn(o, "mdcContainersImageAssessment")},
            "mdcContainersAgentlessDiscoveryK8s": {"enabled": True,
                                                   "cloudRoleArn": arn(o, "mdcContainersAgentlessDiscoveryK8s")},
        })
    if p.databases:
        o = PLAN_OFFERINGS["databases"]
        out.append({
            "offeringType": o,
            "arcAutoProvisioning": {"enabled": True, "cloudRoleArn": arn(o, "arcAutoProvisioning"),
                                    "configuration": {}},
            "rds": {"enabled": True, "cloudRoleArn": arn(o, "rds")},
            "databasesDspm": {"enabled": True, "cloudRoleArn": arn(o, "databasesDspm")},
        })
    return out


def connector_body(state: NativeState) -> dict[str, Any]:
    """The exact PUT body of securityConnectors/{name} (2023-10-01-preview). Assumes errors(state) is empty."""
    env: dict[str, Any] = {
        "environmentType": "AwsAccount",
        "regions": v.parse_list(_text_list(state.regions)),
        "scanInterval": v.parse_scan_interval(state.scan_interval),
    }
    if state.organization == "management":
        env["organizationalData"] = {
            "organizationMembershipType": "Organization",
            "stacksetName": state.stackset_name.strip(),
            "excludedAccountIds": v.parse_list(_text_list(state.excluded_account_ids)),
        }
    return {
        "location": state.location.strip(),
        "tags": dict(state.tags),
        "properties": {
            "hierarchyIdentifier": state.aws_account_id.strip(),
            "environmentName": "AWS",
            "environmentData": env,
            "offerings": offerings(state),
        },
    }


def connector_path(state: NativeState) -> str:
    return (f"/subscriptions/{state.subscription_id.strip().lower()}/resourceGroups/{state.resource_group.strip()}"
            f"/providers/Microsoft.Security/securityConnectors/{state.connector_name.strip()}")


def template_kwargs(state: NativeState) -> dict[str, Any]:
    """Keyword arguments of template.template()/template_text() for this state (account and plans first)."""
    return {"account_id": state.aws_account_id.strip(), "plans": state.plans.keys(),
            "least_privilege": state.least_privilege, "tenant_id": state.tenant_id or None,
            "role_names": dict(state.role_names)}


def summary(state: NativeState) -> list[tuple[str, str]]:
    """(label, value) rows for the review step."""
    p = state.plans
    plans = []
    for k in p.keys():
        title = PLAN_INFO[k][0]
        if k == "servers":
            extras = [p.servers_sub_plan]
            if p.arc_auto_provisioning:
                extras.append("Arc auto-provisioning")
            if p.mde:
                extras.append("MDE")
            if p.vulnerability_assessment:
                extras.append(f"VA {p.vulnerability_assessment}")
            if p.agentless_scanning and p.servers_sub_plan == "P2":
                extras.append("agentless scanning")
            title += f" ({', '.join(extras)})"
        plans.append(title)
    rows = [("Connector", state.connector_name), ("Subscription", state.subscription_id),
            ("Resource group", state.resource_group), ("Azure region", state.location),
            ("AWS account", state.aws_account_id),
            ("Scope", "management account (organization)" if state.organization == "management" else "single account")]
    if state.organization == "management":
        rows.append(("StackSet", state.stackset_name))
        rows.append(("Excluded accounts", ", ".join(state.excluded_account_ids) or "none"))
    rows += [("AWS regions", ", ".join(v.parse_list(_text_list(state.regions)))),
             ("Scan interval", f"every {state.scan_interval} h"), ("Plans", "; ".join(plans)),
             ("Access", "least privilege" if state.least_privilege else "default")]
    return rows


# ------------------------------------------------------------------------------------------------------------------
# Classic connector (retired)


def mask(secret: str | None) -> str:
    return MASK if secret else ""


def mask_key_id(key_id: str | None) -> str:
    """An access key ID shown as AKIA…WXYZ (enough to recognise it in the IAM console)."""
    k = (key_id or "").strip()
    if len(k) < 12:
        return MASK if k else ""
    return f"{k[:4]}…{k[-4:]}"


@dataclass(repr=False)
class ClassicState:
    subscription_id: str = ""
    auth: str = "role"  # "role" (recommended) | "user" (access keys)
    role_arn: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""  # never shown: masked in repr, bodies and messages
    regions: list[str] = field(default_factory=list)  # where Config + Security Hub must be on
    arc_auto_provision: bool = True
    resource_group: str = ""  # where the EC2 instances' Arc machines go
    azure_region: str = ""
    sp_application_id: str = ""
    sp_secret: str = ""  # never shown
    proxy_url: str = ""  # optional http://<host>:<port>
    # addition to the contract: the connector's display name (Microsoft.Security/connectors/{name})
    name: str = ""

    _SECRETS = ("secret_access_key", "sp_secret")

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            val = getattr(self, f.name)
            if f.name in self._SECRETS:
                shown = repr(mask(val))
            elif f.name == "access_key_id":
                shown = repr(mask_key_id(val))
            else:
                shown = repr(val)
            parts.append(f"{f.name}={shown}")
        return f"ClassicState({', '.join(parts)})"

    __str__ = __repr__


def classic_errors(state: ClassicState) -> dict[str, str]:
    out: dict[str, str] = {}

    def check(name: str, message: str | None) -> None:
        if message and name not in out:
            out[name] = message

    check("name", v.connector_name(state.name))
    check("subscription_id", v.subscription_id(state.subscription_id))
    if state.auth == "role":
        check("role_arn", v.role_arn(state.role_arn))
    elif state.auth == "user":
        check("access_key_id", v.access_key_id(state.access_key_id))
        check("secret_access_key", v.secret_access_key(state.secret_access_key))
    else:
        check("auth", "authentication: 'role' (IAM role, recommended) or 'user' (access keys)")
    check("regions", v.aws_regions(_text_list(state.regions)))
    if state.arc_auto_provision:
        check("resource_group", v.resource_group(state.resource_group))
        check("azure_region", v.azure_location(state.azure_region))
        check("sp_application_id", v.guid(state.sp_application_id, what="service principal ID"))
        check("sp_secret", v.service_principal_secret(state.sp_secret))
        if state.proxy_url.strip():
            check("proxy_url", v.proxy_url(state.proxy_url))
    return out


def classic_account(state: ClassicState) -> str | None:
    """The AWS account of the classic connector (from the role ARN; unknown for access keys)."""
    if state.auth == "role" and not v.role_arn(state.role_arn):
        return v.role_account(state.role_arn)
    return None


def classic_body(state: ClassicState, *, reveal: bool = False) -> dict[str, Any]:
    """PUT body of Microsoft.Security/connectors/{name} (2020-01-01-preview). Secrets are masked unless `reveal`
    (writes.py reveals them only into the request it sends). Assumes classic_errors(state) is empty."""
    if state.auth == "role":
        auth: dict[str, Any] = {"authenticationType": "awsAssumeRole", "awsAssumeRoleArn": state.role_arn.strip(),
                                "awsExternalId": state.subscription_id.strip().lower()}
    else:
        auth = {"authenticationType": "awsCreds",
                "awsAccessKeyId": state.access_key_id.strip() if reveal else mask_key_id(state.access_key_id),
                "awsSecretAccessKey": state.secret_access_key.strip() if reveal else mask(state.secret_access_key)}
    hybrid: dict[str, Any] = {"autoProvision": "On" if state.arc_auto_provision else "Off"}
    if state.arc_auto_provision:
        hybrid["resourceGroupName"] = state.resource_group.strip()
        hybrid["region"] = state.azure_region.strip()
        if state.proxy_url.strip():
            host, port = v.parse_proxy_url(state.proxy_url)
            hybrid["proxyServer"] = {"ip": host, "port": str(port)}
        hybrid["servicePrincipal"] = {"applicationId": state.sp_application_id.strip().lower(),
                                      "secret": state.sp_secret.strip() if reveal else mask(state.sp_secret)}
    return {"properties": {"hybridComputeSettings": hybrid, "authenticationDetails": auth}}


def classic_path(state: ClassicState) -> str:
    return (f"/subscriptions/{state.subscription_id.strip().lower()}/providers/Microsoft.Security/connectors/"
            f"{state.name.strip()}")


def classic_tags(state: ClassicState) -> list[tuple[str, str]]:
    """The Azure tags created on every EC2 instance onboarded to Arc: (name, value or what the value will be)."""
    account = classic_account(state) or "the AWS account of the access key"
    values = {"AccountId": account, "Cloud": "AWS", "InstanceId": "the EC2 instance ID",
              "MDFCSecurityConnector": state.name.strip() or "the connector name"}
    return [(t, values.get(t, "")) for t in roles_data()["arc_machine_tags"]]
