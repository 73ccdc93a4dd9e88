"""Build the emulator's compact data files from the shared reference material.

    python scripts/build_emulator_data.py [--reference ../shared/reference] [--out tui/emulator/data]

Reads (from the reference folder, which a user's clone does not have):
  aws/securityhub_aws_foundational_security_best_practices_1.0.0.json
  aws/securityhub_cis_aws_foundations_1.2.0.json, aws/securityhub_cis_aws_foundations_1.4.0.json
  aws/securityhub_pci_dss_3.2.1.json
  aws/mdc_aws_connector_roles.json

Writes project-owned files (facts only: ids, titles, severities, role names), committed with the code:
  tui/emulator/data/aws_controls.json    standards -> controls (id, title, severity) and the recommendation
                                          catalogue the synthetic estate assesses (one per FSBP control, plus
                                          the CIS/PCI controls that have no FSBP twin with the same AWS Config
                                          rule), each with the AWS resource kind it applies to
  tui/emulator/data/connector_roles.json  IAM role names per connector offering field, OIDC audiences, Arc tags

The output is deterministic (sorted keys, stable order), so re-running it produces no diff.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_OUT = ROOT / "tui" / "emulator" / "data"

# name used in Azure regulatory compliance (ARG `regulatorycompliancestandards` name), source file, display name.
# Names follow today's Defender for Cloud list (NOTES §11: "AWS CIS 1.2.0" became "CIS AWS Foundations v1.2.0" in
# 2023; ids use dashes for spaces). The exact ids of the CIS and PCI rows are assumed (NOTES §5: not in any source).
FSBP = "AWS-Foundational-Security-Best-Practices"
MCSB = "Microsoft-cloud-security-benchmark"
STANDARDS = [
    (FSBP, "securityhub_aws_foundational_security_best_practices_1.0.0.json",
     "AWS Foundational Security Best Practices"),
    ("CIS-AWS-Foundations-v1.2.0", "securityhub_cis_aws_foundations_1.2.0.json", "CIS AWS Foundations v1.2.0"),
    ("PCI-DSS-v3.2.1", "securityhub_pci_dss_3.2.1.json", "PCI DSS v3.2.1"),
    ("CIS-AWS-Foundations-v1.4.0", "securityhub_cis_aws_foundations_1.4.0.json", "CIS AWS Foundations v1.4.0"),
]
# standards whose controls without an FSBP twin get a recommendation of their own (CIS 1.4.0 gets none: its two
# unmapped controls stay without an assessment, and the emulator reports them Unsupported or Skipped)
OWN_RECOMMENDATIONS = {FSBP, "CIS-AWS-Foundations-v1.2.0", "PCI-DSS-v3.2.1"}

# The Microsoft cloud security benchmark (v1) control ids and titles. Which AWS recommendation feeds which control is
# ASSUMED (`mcsb_control_for`): Microsoft's real mapping is not in any stored source.
MCSB_CONTROLS = [
    ("NS-1", "Establish network segmentation boundaries"),
    ("NS-2", "Secure cloud native services with network controls"),
    ("NS-3", "Deploy firewall at the edge of enterprise network"),
    ("NS-4", "Deploy intrusion detection/intrusion prevention systems (IDS/IPS)"), ("NS-5", "Deploy DDOS protection"),
    ("NS-6", "Deploy web application firewall"), ("NS-7", "Simplify network security configuration"),
    ("NS-8", "Detect and disable insecure services and protocols"),
    ("NS-9", "Connect on-premises or cloud network privately"), ("NS-10", "Ensure Domain Name System (DNS) security"),
    ("IM-1", "Use centralized identity and authentication system"),
    ("IM-2", "Protect identity and authentication systems"),
    ("IM-3", "Manage application identities securely and automatically"), ("IM-4", "Authenticate server and services"),
    ("IM-5", "Use single sign-on (SSO) for application access"), ("IM-6", "Use strong authentication controls"),
    ("IM-7", "Restrict resource access based on conditions"),
    ("IM-8", "Restrict the exposure of credentials and secrets"),
    ("IM-9", "Secure user access to existing applications"),
    ("PA-1", "Separate and limit highly privileged/administrative users"),
    ("PA-2", "Avoid standing access for accounts and permissions"),
    ("PA-3", "Manage lifecycle of identities and entitlements"), ("PA-4", "Review and reconcile user access regularly"),
    ("PA-5", "Set up emergency access"), ("PA-6", "Use privileged access workstations"),
    ("PA-7", "Follow just enough administration (least privilege) principle"),
    ("PA-8", "Determine access process for cloud provider support"),
    ("DP-1", "Discover, classify, and label sensitive data"),
    ("DP-2", "Monitor anomalies and threats targeting sensitive data"),
    ("DP-3", "Encrypt sensitive data in transit"), ("DP-4", "Enable data at rest encryption by default"),
    ("DP-5", "Use customer-managed key option in data at rest encryption when required"),
    ("DP-6", "Use a secure key management process"), ("DP-7", "Use a secure certificate management process"),
    ("DP-8", "Ensure security of key and certificate repository"),
    ("AM-1", "Track asset inventory and their risks"), ("AM-2", "Use only approved services"),
    ("AM-3", "Ensure security of asset lifecycle management"), ("AM-4", "Limit access to asset management"),
    ("AM-5", "Use only approved applications in virtual machine"),
    ("LT-1", "Enable threat detection capabilities"),
    ("LT-2", "Enable threat detection for identity and access management"),
    ("LT-3", "Enable logging for security investigation"),
    ("LT-4", "Enable network logging for security investigation"),
    ("LT-5", "Centralize security log management and analysis"), ("LT-6", "Configure log storage retention"),
    ("LT-7", "Use approved time synchronization sources"),
    ("IR-1", "Preparation - update incident response plan and handling process"),
    ("IR-2", "Preparation - setup incident notification"),
    ("IR-3", "Detection and analysis - create incidents based on high-quality alerts"),
    ("IR-4", "Detection and analysis - investigate an incident"),
    ("IR-5", "Detection and analysis - prioritize incidents"),
    ("IR-6", "Containment, eradication and recovery - automate the incident handling"),
    ("IR-7", "Post-incident activity - conduct lesson learned and retain evidence"),
    ("PV-1", "Define and establish secure configurations"), ("PV-2", "Audit and enforce secure configurations"),
    ("PV-3", "Define and establish secure configurations for compute resources"),
    ("PV-4", "Audit and enforce secure configurations for compute resources"),
    ("PV-5", "Perform vulnerability assessments"), ("PV-6", "Rapidly and automatically remediate vulnerabilities"),
    ("PV-7", "Conduct regular red team operations"),
    ("ES-1", "Use Endpoint Detection and Response (EDR)"), ("ES-2", "Use modern anti-malware software"),
    ("ES-3", "Ensure anti-malware software and signatures are updated"),
    ("BR-1", "Ensure regular automated backups"),
    ("BR-2", "Protect backup and recovery data"), ("BR-3", "Monitor backups"),
    ("BR-4", "Regularly test backup"),
    ("DS-1", "Conduct threat modeling"), ("DS-2", "Ensure software supply chain security"),
    ("DS-3", "Secure DevOps infrastructure"),
    ("DS-4", "Integrate static application security testing into DevOps pipeline"),
    ("DS-5", "Integrate dynamic application security testing into DevOps pipeline"),
    ("DS-6", "Enforce security of workload throughout DevOps lifecycle"),
    ("DS-7", "Enable logging and monitoring in DevOps"),
    ("GS-1", "Align organization roles, responsibilities and accountabilities"),
    ("GS-2", "Define and implement enterprise segmentation/separation of duties strategy"),
    ("GS-3", "Define and implement data protection strategy"),
    ("GS-4", "Define and implement network security strategy"),
    ("GS-5", "Define and implement security posture management strategy"),
    ("GS-6", "Define and implement identity and privileged access strategy"),
    ("GS-7", "Define and implement logging, threat detection and incident response strategy"),
    ("GS-8", "Define and implement backup and recovery strategy"),
    ("GS-9", "Define and implement endpoint security strategy"),
    ("GS-10", "Define and implement DevOps security strategy"),
]

# Resource kinds the synthetic estate generates: kind -> (resource provider, resource type, scope)
# scope: "regional" (entity id carries the region), "global" (no region), "account" (one per account),
# "account-in-region" (one per account and region)
KINDS = {
    "account": ("account", "account", "account"),
    "account-in-region": ("account", "account-in-region", "account-in-region"),
    "acm.certificate": ("acm", "certificate", "regional"),
    "apigateway.rest-api": ("apigateway", "rest-api", "regional"),
    "autoscaling.group": ("autoscaling", "group", "regional"),
    "cloudformation.stack": ("cloudformation", "stack", "regional"),
    "cloudfront.distribution": ("cloudfront", "distribution", "global"),
    "cloudtrail.trail": ("cloudtrail", "trail", "regional"),
    "codebuild.project": ("codebuild", "project", "regional"),
    "dms.replication-instance": ("dms", "replication-instance", "regional"),
    "dynamodb.table": ("dynamodb", "table", "regional"),
    "ec2.instance": ("ec2", "instance", "regional"),
    "ec2.security-group": ("ec2", "security-group", "regional"),
    "ec2.vpc": ("ec2", "vpc", "regional"),
    "ec2.subnet": ("ec2", "subnet", "regional"),
    "ec2.network-acl": ("ec2", "network-acl", "regional"),
    "ec2.volume": ("ec2", "volume", "regional"),
    "ec2.snapshot": ("ec2", "snapshot", "regional"),
    "ec2.elastic-ip": ("ec2", "elastic-ip", "regional"),
    "ec2.launch-template": ("ec2", "launch-template", "regional"),
    "ecr.repository": ("ecr", "repository", "regional"),
    "ecs.cluster": ("ecs", "cluster", "regional"),
    "ecs.service": ("ecs", "service", "regional"),
    "ecs.task-definition": ("ecs", "task-definition", "regional"),
    "efs.file-system": ("efs", "file-system", "regional"),
    "eks.cluster": ("eks", "cluster", "regional"),
    "elasticbeanstalk.environment": ("elasticbeanstalk", "environment", "regional"),
    "elb.load-balancer": ("elb", "load-balancer", "regional"),
    "elbv2.load-balancer": ("elbv2", "load-balancer", "regional"),
    "emr.cluster": ("emr", "cluster", "regional"),
    "iam.policy": ("iam", "policy", "global"),
    "iam.user": ("iam", "user", "global"),
    "kinesis.stream": ("kinesis", "stream", "regional"),
    "kms.key": ("kms", "key", "regional"),
    "lambda.function": ("lambda", "function", "regional"),
    "networkfirewall.firewall-policy": ("networkfirewall", "firewall-policy", "regional"),
    "opensearch.domain": ("opensearch", "domain", "regional"),
    "rds.db-cluster": ("rds", "db-cluster", "regional"),
    "rds.db-instance": ("rds", "db-instance", "regional"),
    "rds.snapshot": ("rds", "snapshot", "regional"),
    "redshift.cluster": ("redshift", "cluster", "regional"),
    "s3.bucket": ("s3", "bucket", "regional"),
    "sagemaker.notebook-instance": ("sagemaker", "notebook-instance", "regional"),
    "secretsmanager.secret": ("secretsmanager", "secret", "regional"),
    "sns.topic": ("sns", "topic", "regional"),
    "sqs.queue": ("sqs", "queue", "regional"),
    "waf.web-acl": ("waf", "web-acl", "regional"),
}

SIMPLE_PREFIX = {
    "Account": "account", "ACM": "acm.certificate", "APIGateway": "apigateway.rest-api",
    "AutoScaling": "autoscaling.group", "Autoscaling": "autoscaling.group",
    "CloudFormation": "cloudformation.stack", "CloudFront": "cloudfront.distribution",
    "CodeBuild": "codebuild.project", "Config": "account-in-region", "DMS": "dms.replication-instance",
    "DynamoDB": "dynamodb.table", "ECR": "ecr.repository", "EFS": "efs.file-system", "EKS": "eks.cluster",
    "ElasticBeanstalk": "elasticbeanstalk.environment", "ELBv2": "elbv2.load-balancer",
    "ELBV2": "elbv2.load-balancer", "EMR": "emr.cluster", "ES": "opensearch.domain",
    "OpenSearch": "opensearch.domain", "GuardDuty": "account-in-region", "Kinesis": "kinesis.stream",
    "Lambda": "lambda.function", "NetworkFirewall": "networkfirewall.firewall-policy",
    "Redshift": "redshift.cluster", "SageMaker": "sagemaker.notebook-instance",
    "SecretsManager": "secretsmanager.secret", "SNS": "sns.topic", "SQS": "sqs.queue", "WAF": "waf.web-acl",
    "CW": "account",
}


def _has(title: str, *words: str) -> bool:
    t = title.lower()
    return any(w.lower() in t for w in words)


def kind_for(control_id: str, title: str) -> str:
    """Which synthetic AWS resource kind a control is evaluated on (prefix first, then title keywords)."""
    cid = control_id[4:] if control_id.startswith("PCI.") else control_id
    prefix = cid.split(".")[0]
    if prefix in SIMPLE_PREFIX:
        return SIMPLE_PREFIX[prefix]
    if prefix == "CloudTrail":
        return "account" if title.startswith("CloudTrail should be enabled") else "cloudtrail.trail"
    if prefix == "EC2":
        return _ec2_kind(title)
    if prefix == "ECS":
        if _has(title, "cluster"):
            return "ecs.cluster"
        if _has(title, "services should", "Fargate"):
            return "ecs.service"
        return "ecs.task-definition"
    if prefix == "ELB":
        classic = _has(title, "Classic") and not _has(title, "Application")
        return "elb.load-balancer" if classic else "elbv2.load-balancer"
    if prefix == "IAM":
        return _iam_kind(title)
    if prefix == "KMS":
        return "iam.policy" if _has(title, "IAM") else "kms.key"
    if prefix == "RDS":
        if _has(title, "event notifications"):
            return "account-in-region"
        if re.match(r"^(Amazon )?RDS (cluster )?snapshots", title):
            return "rds.snapshot"
        if _has(title, "instances and clusters", "databases and clusters"):
            return "rds.db-instance"
        if _has(title, "cluster", "Aurora"):
            return "rds.db-cluster"
        return "rds.db-instance"
    if prefix == "S3":
        if _has(title, "Block Public Access setting should be enabled") and not _has(title, "bucket level"):
            return "account"
        return "s3.bucket"
    if prefix == "SSM":
        return "account-in-region" if _has(title, "documents") else "ec2.instance"
    if re.match(r"^\d+\.\d+$", cid):  # CIS numbering
        return _cis_kind(title)
    raise SystemExit(f"no resource kind for control {control_id!r}: {title!r}")


def _ec2_kind(title: str) -> str:
    if _has(title, "snapshot"):
        return "ec2.snapshot"
    if _has(title, "security group"):
        return "ec2.security-group"
    if _has(title, "EBS default encryption", "VPN", "Transit Gateway"):
        return "account-in-region"
    if _has(title, "EBS volumes"):
        return "ec2.volume"
    if _has(title, "VPC flow", "VPC endpoints"):
        return "ec2.vpc"
    if _has(title, "subnets"):
        return "ec2.subnet"
    if _has(title, "network access control lists", "network acls"):
        return "ec2.network-acl"
    if _has(title, "launch templates"):
        return "ec2.launch-template"
    if _has(title, "EIPs"):
        return "ec2.elastic-ip"
    if _has(title, "instance"):
        return "ec2.instance"
    return "account-in-region"


def _iam_kind(title: str) -> str:
    if _has(title, "root", "password polic", "support role"):
        return "account"
    if _has(title, "IAM users", "IAM user"):
        return "iam.user"
    if _has(title, "policies", "principals"):
        return "iam.policy"
    return "account"


def _cis_kind(title: str) -> str:
    if _has(title, "log metric filter"):
        return "account"
    if _has(title, "security group"):
        return "ec2.security-group"
    if _has(title, "VPC flow"):
        return "ec2.vpc"
    if _has(title, "KMS keys") and _has(title, "rotation"):
        return "kms.key"
    if _has(title, "CloudTrail is enabled"):
        return "account"
    if _has(title, "S3 bucket"):
        return "s3.bucket"
    if _has(title, "CloudTrail"):
        return "cloudtrail.trail"
    if _has(title, "AWS Config"):
        return "account-in-region"
    return _iam_kind(title)


# Connector offering field -> IAM role name (CloudFormation template defaults, see mdc_aws_connector_roles.json).
OFFERING_ROLES = {
    "CspmMonitorAws": {"nativeCloudConnection": "CspmMonitorAws"},
    "DefenderCspmAws": {
        "vmScanners": "DefenderForCloud-AgentlessScanner",
        "dataSensitivityDiscovery": "SensitiveDataDiscovery",
        "databasesDspm": "DefenderForCloud-DataSecurityPostureDB",
        "ciemDiscovery": "DefenderForCloud-Ciem",
        "ciemOidc": "DefenderForCloud-OidcCiem",
        "mdcContainersImageAssessment": "MDCContainersImageAssessmentRole",
        "mdcContainersAgentlessDiscoveryK8s": "MDCContainersAgentlessDiscoveryK8sRole",
    },
    "DefenderForServersAws": {
        "defenderForServers": "DefenderForCloud-DefenderForServers",
        "arcAutoProvisioning": "DefenderForCloud-ArcAutoProvisioning",
        "vmScanners": "DefenderForCloud-AgentlessScanner",
    },
    "DefenderForContainersAws": {
        "kubernetesService": "DefenderForCloud-Containers-K8s",
        "kubernetesScubaReader": "DefenderForCloud-DataCollection",
        "cloudWatchToKinesis": "DefenderForCloud-Containers-K8s-cloudwatch-to-kinesis",
        "kinesisToS3": "DefenderForCloud-Containers-K8s-kinesis-to-s3",
        "mdcContainersImageAssessment": "MDCContainersImageAssessmentRole",
        "mdcContainersAgentlessDiscoveryK8s": "MDCContainersAgentlessDiscoveryK8sRole",
    },
    "DefenderForDatabasesAws": {
        "arcAutoProvisioning": "DefenderForCloud-ArcAutoProvisioning",
        "rds": "DefenderForCloud-DataSecurityPostureDB",
        "databasesDspm": "DefenderForCloud-DataSecurityPostureDB",
    },
}


def mcsb_control_for(rec: dict) -> str:
    """The MCSB control an AWS recommendation is reported under (ASSUMED: by its FSBP category, else its title)."""
    cat, title = rec.get("category", "").lower(), rec["title"]
    if "in transit" in cat or "in-transit" in cat:
        return "DP-3"
    if "at rest" in cat or "at-rest" in cat:
        return "DP-4"
    if "backup" in cat or "deletion protection" in cat:
        return "BR-1"
    if "resilience" in cat or "high availability" in cat:
        return "BR-2"
    if "logging" in cat:
        return "LT-4" if _has(title, "flow log") else "LT-3"
    if "detection" in cat:
        return "LT-1"
    if "inventory" in cat:
        return "AM-1"
    if "vulnerability" in cat:
        return "PV-6"
    if "resource configuration" in cat:
        return "PV-1"
    if "data integrity" in cat:
        return "LT-6"
    if "credentials not hard-coded" in cat:
        return "IM-8"
    if "secure development" in cat:
        return "DS-6"
    if "protective services" in cat:
        return "NS-6"
    if "network" in cat:
        if _has(title, "security group"):
            return "NS-1"
        if _has(title, "VPC endpoint", "private"):
            return "NS-9"
        return "NS-2"
    if "access management" in cat:
        if "detect" in cat:
            return "LT-2"
        if _has(title, "root"):
            return "PA-1"
        if _has(title, "MFA", "multi-factor", "password", "passwordless"):
            return "IM-6"
        if _has(title, "access key", "credential", "secret"):
            return "IM-8"
        return "PA-7"
    if "data protection" in cat:
        return "DP-4"
    # CIS / PCI controls without an FSBP twin (no category): by title
    if _has(title, "metric filter", "alarm"):
        return "LT-5"
    if _has(title, "root"):
        return "PA-1"
    if _has(title, "MFA", "multi-factor", "password"):
        return "IM-6"
    if _has(title, "VPC flow"):
        return "LT-4"
    if _has(title, "CloudTrail"):
        return "LT-3"
    if _has(title, "security group"):
        return "NS-1"
    if _has(title, "KMS", "rotation"):
        return "DP-6"
    if _has(title, "AWS Config"):
        return "AM-1"
    if _has(title, "IAM", "policies", "access key"):
        return "PA-7"
    return "PV-1"


def build_controls(ref: Path) -> dict:
    raw = {}
    for name, fname, display in STANDARDS:
        data = json.loads((ref / "aws" / fname).read_text(encoding="utf-8"))
        raw[name] = (data, display)

    fsbp_data, _ = raw[FSBP]
    recommendations: dict[str, dict] = {}
    by_rule: dict[str, str] = {}
    by_title: dict[str, str] = {}
    for c in fsbp_data["Controls"]:
        rid = c["ControlId"]
        recommendations[rid] = {
            "id": rid, "title": c["Title"], "severity": c["Severity"], "kind": kind_for(rid, c["Title"]),
            "category": c.get("Category", ""),
        }
        by_title.setdefault(_norm_title(c["Title"]), rid)
        rule = _config_rule(c)
        if rule:
            by_rule.setdefault(rule, rid)

    standards = []
    for name, _fname, _display in STANDARDS:
        data, display = raw[name]
        controls = []
        for c in data["Controls"]:
            cid, title = c["ControlId"], c["Title"]
            if name == FSBP:
                rec = cid
            else:
                rule = _config_rule(c)
                rec = by_rule.get(rule) if rule else None
                rec = rec or by_title.get(_norm_title(title))
                if rec is None and name in OWN_RECOMMENDATIONS:
                    tag = "CIS" if name.startswith("CIS-") else "PCI"
                    rec = cid if cid.startswith("PCI.") else f"{tag}.{cid}"
                    recommendations.setdefault(rec, {
                        "id": rec, "title": title, "severity": c["Severity"], "kind": kind_for(cid, title),
                        "category": "",
                    })
                    if rule:
                        by_rule.setdefault(rule, rec)
                    by_title.setdefault(_norm_title(title), rec)
            controls.append({"id": cid, "title": title, "severity": c["Severity"], "recommendation": rec})
        standards.append({
            "name": name, "display_name": display,
            "standards_arn": data["StandardsArn"].replace("<region>", "{region}"),
            "assessed": True, "controls": controls,
        })

    # the Microsoft cloud security benchmark: every recommendation under one MCSB control (mapping assumed); the
    # controls no recommendation feeds have none (the emulator reports them Unsupported or Skipped)
    by_control: dict[str, list[str]] = {cid: [] for cid, _ in MCSB_CONTROLS}
    for rid in sorted(recommendations, key=_sort_key):
        by_control[mcsb_control_for(recommendations[rid])].append(rid)
    standards.insert(0, {
        "name": MCSB, "display_name": "Microsoft cloud security benchmark", "standards_arn": None, "assessed": True,
        "controls": [{"id": cid, "title": title, "recommendations": by_control[cid]} for cid, title in MCSB_CONTROLS],
    })

    for rec in recommendations.values():
        if rec["kind"] not in KINDS:
            raise SystemExit(f"unknown kind {rec['kind']} for {rec['id']}")
    return {
        "_about": "Built by scripts/build_emulator_data.py from AWS Security Hub documentation control lists "
                  "(awsdocs/aws-security-hub-user-guide, CC BY-SA 4.0): control ids, titles and severities only. "
                  "recommendation = the FSBP control assessed for a CIS/PCI control with the same AWS Config rule; "
                  "recommendations (Microsoft cloud security benchmark only) = the recommendations reported under "
                  "that control (mapping assumed); "
                  "kind = the synthetic AWS resource kind the emulator assesses it on.",
        "kinds": {k: {"provider": p, "type": t, "scope": s} for k, (p, t, s) in KINDS.items()},
        "standards": standards,
        "recommendations": sorted(recommendations.values(), key=lambda r: _sort_key(r["id"])),
    }


def _config_rule(control: dict) -> str | None:
    """The AWS Config rule name of a control (some entries are documentation URLs), None for custom rules."""
    rule = (control.get("AwsConfigRule") or "").strip().rstrip("/")
    if not rule or rule.lower().startswith("none"):
        return None
    return rule.rsplit("/", 1)[-1].removesuffix(".html")


def _norm_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def _sort_key(cid: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.]", cid)]


def build_roles(ref: Path) -> dict:
    data = json.loads((ref / "aws" / "mdc_aws_connector_roles.json").read_text(encoding="utf-8"))
    known = {r["name"] for r in data["roles"]}
    for offering, fields in OFFERING_ROLES.items():
        for field, role in fields.items():
            if role not in known:
                raise SystemExit(f"role {role} ({offering}.{field}) not in mdc_aws_connector_roles.json")
    roles = [{"name": r["name"], "plan": r.get("plan", ""), "audience": r.get("audience")} for r in data["roles"]]
    oidc = data["oidc_providers"][0]
    legacy = data["classic_connector_legacy"]
    return {
        "_about": "Built by scripts/build_emulator_data.py from mdc_aws_connector_roles.json (role names are the "
                  "Defender for Cloud CloudFormation/Terraform template defaults).",
        "offering_roles": OFFERING_ROLES,
        "roles": roles,
        "oidc_provider": {"url": oidc["url"], "client_id_list": oidc["client_id_list"],
                          "thumbprint_list": oidc["thumbprint_list"]},
        "arc_machine_tags": data["arc_machine_tags"]["aws_ec2_arc_resources"],
        "classic": {"microsoft_principal": legacy["principal"].split()[0],
                    "managed_policies": legacy["managed_policies"],
                    "granted_permissions": ["AWS::AWSSecurityHubReadOnlyAccess", "AWS::SecurityAudit",
                                            "AWS::AmazonSSMAutomationRole"],
                    "role_name": "AscConnector"},
    }


def _compact_json(value, indent: str = "") -> str:
    """JSON with one leaf record per line: small, diff-friendly, still readable."""
    def leafy(v) -> bool:
        return not isinstance(v, (dict, list)) or all(not isinstance(x, (dict, list)) for x in
                                                     (v.values() if isinstance(v, dict) else v))

    def render(v, ind: str) -> str:
        if leafy(v):
            return json.dumps(v, ensure_ascii=False)
        inner = ind + " "
        if isinstance(v, dict):
            items = [f"{inner}{json.dumps(k)}: {render(x, inner)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + ind + "}"
        items = [inner + render(x, inner) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + ind + "]"

    return render(value, indent) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if not (args.reference / "aws").is_dir():
        print(f"reference folder not found: {args.reference}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {"aws_controls.json": build_controls(args.reference), "connector_roles.json": build_roles(args.reference)}
    for fname, payload in outputs.items():
        text = _compact_json(payload)
        (args.out / fname).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / fname} ({len(text):,} bytes)")
    controls = outputs["aws_controls.json"]
    for std in controls["standards"]:
        print(f"  {std['name']}: {len(std['controls'])} controls")
    print(f"  recommendations: {len(controls['recommendations'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
