"""The synthetic estate behind the emulators: one seed -> one estate, moved by a clock.

`World(seed, scale, clock)` builds, deterministically (random.Random streams seeded from strings, uuid5, never the wall
clock except through `clock`):

- an Azure side: tenant, subscriptions, REST stores (native security connectors, classic connectors, pricings,
  resource providers, permissions) shaped like the official examples in shared/reference/azure;
- two tenants (issue 14): the home tenant ("Contoso", `tenant_id`) owns every subscription but the one at PARTNER_SUB
  (the second: "Contoso Security Dev", with the native connectors aws-staging and aws-sandbox at the default scale),
  which belongs to the partner tenant ("Fabrikam", `partner_tenant_id`) and is delegated to the home tenant through
  Azure Lighthouse (`subscription_tenant`, `managed_by_tenants`, `tenant_subscriptions`). Every ARG row of a
  subscription carries its tenant; the roles of that subscription's AWS accounts trust the partner tenant
  (`account_tenant`). The partner draws from its own random stream: every other id, count and plant is unchanged;
- an AWS side: accounts (one or more Organizations + standalone accounts), regions, EC2 instances with an SSM agent
  timeline, EKS clusters, Security Hub standards, and synthetic resources (buckets, users, security groups ...);
- Azure Resource Graph tables derived from both (`arg_tables()`): connectors and Arc machines in `resources`,
  AWS assessments, regulatory compliance and pricings in `securityresources`, subscriptions and resource groups in
  `resourcecontainers`.

Time: everything that moves is a pure function of the tick (`clock.tick()`), so two Worlds with the same seed,
scale and tick are identical whichever process built them and however the tick was reached. Each instance carries a
short list of SSM events (agent installed, connection lost, reconnected); Arc machines follow from it (discovered
some ticks after the agent is Online, Disconnected when it is lost, Expired after EXPIRE_TICKS); each assessment is
either static, cycles between Unhealthy and Healthy with its own period, or follows the SSM state of its instance.

Stores are mutable (the ARM server writes them); the ARG tables are rebuilt from the stores, so a deleted connector
takes its assessments and Arc machines with it, a new AWS connector gets assessments ONBOARDING_LAG_TICKS after it
was first seen (and Arc machines a few ticks after arcAutoProvisioning is on), a deleted classic connector takes its
legacy duplicate assessments with it. Writers must hold `world.lock` and call `world.touch()` afterwards (or use
`with world.mutating(): ...`).

Rows returned by `arg_tables()` are shared, read-only snapshots: never mutate them (rows that did not change between
two versions are the same objects, nested dicts are shared between rows).

Planted situations (NOTES §11), each with a truth API computed from the model the rows are built from:
- Regulatory compliance: MCSB and FSBP on every native AWS connector, CIS AWS Foundations v1.2.0 / v1.4.0 and
  PCI-DSS-v3.2.1 on some; subscription-level rows (scope "Subscription" or "MultiCloudAggregation" by subscription,
  a subset without the key) aggregate the connectors a standard is assigned on; per-connector copies (scope
  "SecurityConnector") under each connector's id; controls no assessment feeds are Unsupported (some Skipped, a few
  Unsupported in some subscriptions only); SOC-TSP on Azure keys, and an Azure-only subscription (the last one)
  with MCSB on Azure keys. Compliance truth (`compliance_truth()`): a standard is AWS when one of its in-scope
  compliance assessments is named like an AWS assessment row (resourceDetails.Source =~ 'aws') or it has a copy
  under an AWS connector; its controls, over the in-scope rows of the subscriptions hosting an AWS connector,
  grouped by (standard, control) case-insensitively: Failed if failed anywhere, else Passed if passed anywhere,
  else Unsupported if Unsupported everywhere, else Skipped. `standards_by_account()`: the copies per account.
- Classic connectors: only the seeded ones left rows, all dated on or before 2023-09-15 (CLASSIC_RETIRED).
- AWS findings on Arc machines without ConnectorId (some camelCase, a few on machines that are gone):
  `recommendations_by_account()`, `unhealthy_by_account()`, `unattributed_truth()`.
- Untagged Arc machines named by computer name / Name tag in one account: `untagged_arc_machines()`,
  `arc_status_by_account()`, `arc_connected_by_account()`.
- An opt-in region not enabled in one native single account: `opt_in_disabled` (the AWS emulator answers
  AuthFailure / InvalidClientTokenId / UnrecognizedClientException there).
- Connector health (issue 13): one problem per health code. Small standalone accounts (HEALTH_ACCOUNTS) and a
  second, tiny organization (HEALTH_ORG) plant pending-first-scan (a connector 11.5 h old: healthy once the clock
  passes 12 h), no-data, stack-not-complete, oidc-provider-missing, sentinel-oidc-conflict, trust-policy-mismatch,
  least-privilege-gap, provider-not-registered and org-trusted-access-off; aws-prod a CanNotDelete lock on its
  connector (`locks`), aws-payments a CloudTrail bucket notifying Sentinel's queue, aws-dev no standard assigned,
  the first organization members without a connector, an excluded and a suspended account and a failed StackSet
  instance. What AWS holds is `aws_setup()`; `health_truth()` / `org_truth()` judge the world's own state by the
  contract's rules (so the plants that were already there count too: classic, denied, opt-in region, drift, the
  subscription with VirtualMachines Free). The same plants exist once in the large estate.
"""
from __future__ import annotations

import bisect
import collections
import contextlib
import copy
import fnmatch
import gc
import json
import random
import threading
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources as _resources
from typing import Any, Sequence

from .clock import ManualClock
from .spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, Ec2Spec, SubscriptionSpec

__all__ = ["World", "SCALES", "EXPIRE_TICKS", "ONBOARDING_LAG_TICKS", "CLASSIC_RETIRED", "OPT_IN_REGION",
           "VALID_SCAN_INTERVALS", "MCSB", "FSBP", "CIS_120", "CIS_140", "PCI_321", "AZURE_STANDARD"]

FAR_PAST = -(10**9)
EXPIRE_TICKS = 240  # an Arc machine disconnected this long is Expired
ONBOARDING_LAG_TICKS = 2  # a new AWS connector's first assessments appear this many ticks after it is first seen
DISCOVERY_TICKS = 60  # MDC discovers new EC2 instances hourly (NOTES §11); a tick is 60 s (clock.py default)
NS = uuid.UUID("3b2f6a0e-8c1d-4e57-9a3f-5d6c7b8e9f10")  # namespace for every uuid5 of the estate

SCALES: dict[str, dict[str, Any]] = {
    "default": {"subscriptions": 4, "orgs": [4], "standalone": 5, "instances": 300, "extra_dup": 0,
                "extra_classic_only": 0, "extra_denied": 0, "copy_depth": 3},
    # copy_depth: levels of the per-connector compliance copies (1 standards, 2 + controls, 3 + assessments); the
    # large estate keeps standards only: full copies would double its rows and memory
    "large": {"subscriptions": 8, "orgs": [120, 40], "standalone": 39, "instances": 10_000, "extra_dup": 2,
              "extra_classic_only": 1, "extra_denied": 2, "copy_depth": 1},
    # issue 15: the large estate with ENTITY_PLAN's counts per account multiplied by entity_scale (the synthetic AWS
    # resources MDC assesses: buckets, users, security groups ...; EC2 instances and accounts as in the large one),
    # so its AWS assessments number just over 1,000,000 (World.aws_assessment_count)
    "million": {"subscriptions": 8, "orgs": [120, 40], "standalone": 39, "instances": 10_000, "extra_dup": 2,
                "extra_classic_only": 1, "extra_denied": 2, "copy_depth": 1, "entity_scale": 21, "like": "large",
                "query_timeout_s": 900.0},
}

SUBSCRIPTION_NAMES = ["Contoso Security Prod", "Contoso Security Dev", "Contoso Platform Shared", "Contoso Retail Prod",
                      "Contoso Retail Dev", "Contoso Data Platform", "Contoso Sandbox", "Contoso Identity"]
# the subscription with VirtualMachines "Free" (Servers prerequisite fails) / the Reader-only one (+ GuestConfiguration
# NotRegistered). The LAST subscription is Azure-only: no AWS connector, only Azure resources and compliance rows.
SUB_VM_FREE, SUB_READER = 1, 2
# Two tenants (issue 14): the home tenant ("Contoso") owns every subscription but one; the PARTNER tenant ("Fabrikam")
# owns the subscription at index PARTNER_SUB (two native AWS connectors at the default scale: aws-staging and
# aws-sandbox; not the organizations' subscription) and delegates it to the home tenant through Azure Lighthouse.
# A home-tenant token sees every subscription, a partner-tenant token only the partner's own.
PARTNER_SUB = SUB_VM_FREE
HOME_TENANT_NAME, PARTNER_TENANT_NAME = "Contoso", "Fabrikam"

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2", "ap-southeast-2",
           "ap-northeast-1", "ap-south-1", "ca-central-1", "sa-east-1"]
HOME_REGIONS = [("us-east-1", 50), ("eu-west-1", 20), ("us-west-2", 15), ("eu-central-1", 10), ("ap-southeast-2", 5)]

LINUX_DISTROS = [  # (osSku / PlatformName, version, weight)
    ("Amazon Linux 2023", "2023.6.20241212", 35), ("Amazon Linux 2", "2.0.20241217.0", 20),
    ("Ubuntu 22.04.5 LTS", "22.04", 25), ("Red Hat Enterprise Linux 9.4", "9.4", 12),
    ("Ubuntu 20.04.6 LTS", "20.04", 8)]
WINDOWS_DISTROS = [
    ("Windows Server 2022 Datacenter", "10.0.20348.2966", 55),
    ("Windows Server 2019 Datacenter", "10.0.17763.6659", 35),
    ("Windows Server 2016 Datacenter", "10.0.14393.7606", 10)]
LINUX_ROLES = ["web", "api", "worker", "batch", "bastion", "kafka", "redis", "nginx", "jenkins", "etl", "grafana",
               "app"]
WINDOWS_ROLES = ["sql", "iis", "dc", "rdgw", "fs", "app", "sharepoint", "print"]
INSTANCE_TYPES = [("t3.medium", 30), ("t3.large", 15), ("m5.large", 20), ("m6i.xlarge", 10), ("c5.xlarge", 8),
                  ("r6i.large", 7), ("t3.micro", 10)]

# offering profiles of native AWS connectors
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"dcspm": True, "servers": "P2", "arc": True, "mde": True, "va": "TVM", "containers": True,
             "databases": True},
    "servers_p2": {"dcspm": True, "servers": "P2", "arc": True, "mde": True, "va": "TVM"},
    "servers_p1": {"servers": "P1", "arc": True, "mde": True},
    "servers_noarc": {"servers": "P2", "arc": False, "mde": True, "va": "TVM"},
    "cspm": {},
    "dcspm": {"dcspm": True},
    "containers": {"dcspm": True, "containers": True},
}
LARGE_PROFILE_WEIGHTS = [("full", 15), ("servers_p2", 25), ("servers_p1", 20), ("servers_noarc", 10), ("cspm", 15),
                         ("dcspm", 10), ("containers", 5)]
UNKNOWN_OFFERING = "DefenderForAiAws"
OFFERING_DESCRIPTIONS = {
    "CspmMonitorAws": "The CSPM monitoring for AWS offering",
    "DefenderCspmAws": "The CSPM P1 for AWS offering",
    "DefenderForServersAws": "The Defender for Servers AWS offering",
    "DefenderForContainersAws": "The Defender for Containers AWS offering",
    "DefenderForDatabasesAws": "The Defender for Databases AWS offering",
    UNKNOWN_OFFERING: "The Defender for AI AWS offering",
}  # an offering type newer than the API version readers know: they must skip it

LARGE_TEAMS = ["checkout", "catalog", "search", "identity", "analytics", "ml", "iot", "mobile", "web", "api", "billing",
               "crm", "erp", "hr", "logistics", "inventory", "marketing", "media", "streaming", "logging", "network",
               "platform", "devtools", "ci", "edge", "gaming", "fraud", "loyalty", "orders", "pricing", "reporting",
               "backoffice", "partners", "support", "docs", "sso", "vault", "telemetry", "messaging", "maps"]
LARGE_ENVS = ["prod", "staging", "dev", "test", "qa", "sandbox", "dr"]

# synthetic AWS resources per account: kind -> (usage group, count range, per region?)
ENTITY_PLAN = {
    "ec2.vpc": ("net", (1, 1), True), "ec2.security-group": ("net", (2, 4), True), "ec2.subnet": ("net", (1, 3), True),
    "ec2.network-acl": ("net", (1, 2), True), "ec2.volume": ("ebs", (1, 3), True),
    "ec2.snapshot": ("ebs2", (1, 2), True),
    "ec2.elastic-ip": ("eip", (1, 2), True), "ec2.launch-template": ("lt", (1, 2), True),
    "s3.bucket": ("s3", (2, 6), False), "iam.user": ("iam", (2, 8), False), "iam.policy": ("iam", (1, 3), False),
    "kms.key": ("kms", (1, 2), True), "cloudtrail.trail": ("trail", (1, 1), False),
    "rds.db-instance": ("rds", (1, 2), True), "rds.db-cluster": ("aurora", (1, 1), True),
    "rds.snapshot": ("rds", (1, 2), False),
    "lambda.function": ("lambda", (1, 4), True), "dynamodb.table": ("dynamodb", (1, 3), False),
    "sns.topic": ("sns", (1, 3), False), "sqs.queue": ("sqs", (1, 3), False),
    "secretsmanager.secret": ("secrets", (1, 3), False), "acm.certificate": ("acm", (1, 2), False),
    "cloudformation.stack": ("cfn", (1, 4), False), "ecr.repository": ("ecr", (1, 3), False),
    "elbv2.load-balancer": ("elbv2", (1, 2), True), "elb.load-balancer": ("elb", (1, 1), False),
    "autoscaling.group": ("asg", (1, 2), False), "apigateway.rest-api": ("apigw", (1, 2), False),
    "cloudfront.distribution": ("cloudfront", (1, 2), False), "ecs.cluster": ("ecs", (1, 1), False),
    "ecs.service": ("ecs", (1, 3), False), "ecs.task-definition": ("ecs", (1, 3), False),
    "efs.file-system": ("efs", (1, 1), False), "codebuild.project": ("codebuild", (1, 2), False),
    "opensearch.domain": ("opensearch", (1, 1), False), "redshift.cluster": ("redshift", (1, 1), False),
    "kinesis.stream": ("kinesis", (1, 2), False), "waf.web-acl": ("waf", (1, 1), False),
    "sagemaker.notebook-instance": ("sagemaker", (1, 1), False), "dms.replication-instance": ("dms", (1, 1), False),
    "elasticbeanstalk.environment": ("beanstalk", (1, 1), False), "emr.cluster": ("emr", (1, 1), False),
    "networkfirewall.firewall-policy": ("nfw", (1, 1), False),
}
GROUP_USAGE = {"net": 1.0, "ebs": 1.0, "ebs2": 0.6, "eip": 0.5, "lt": 0.4, "s3": 1.0, "iam": 1.0, "kms": 0.7,
               "trail": 1.0, "rds": 0.5, "aurora": 0.25, "lambda": 0.6, "dynamodb": 0.4, "sns": 0.6, "sqs": 0.5,
               "secrets": 0.5, "acm": 0.5, "cfn": 0.7, "ecr": 0.4, "elbv2": 0.5, "elb": 0.15, "asg": 0.4,
               "apigw": 0.3, "cloudfront": 0.3, "ecs": 0.25, "efs": 0.2, "codebuild": 0.25, "opensearch": 0.12,
               "redshift": 0.08, "kinesis": 0.15, "waf": 0.2, "sagemaker": 0.08, "dms": 0.06, "beanstalk": 0.08,
               "emr": 0.06, "nfw": 0.08}
APP_NAMES = ["orders", "catalog", "payments", "auth", "reports", "events", "billing", "search", "profile", "audit",
             "ingest", "notify", "inventory", "ledger", "gateway"]
IAM_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ci-deployer", "terraform",
             "svc-backup", "svc-monitoring", "build-bot", "readonly-auditor", "break-glass"]
IAM_POLICIES = ["AdminAccessCustom", "DeployPolicy", "S3ReadWrite", "KmsAdmin", "LambdaExec", "DataScienceAccess"]
BUCKET_PURPOSES = ["logs", "artifacts", "backups", "data", "static-site", "terraform-state", "exports", "uploads"]

CATEGORY_BY_PROVIDER = {"account": "IdentityAndAccess", "iam": "IdentityAndAccess", "ec2": "Compute",
                        "autoscaling": "Compute", "lambda": "Compute", "ecs": "Compute", "ecr": "Compute",
                        "eks": "Compute", "elasticbeanstalk": "Compute", "emr": "Compute", "sagemaker": "Compute",
                        "codebuild": "Compute", "cloudformation": "Compute", "elb": "Networking",
                        "elbv2": "Networking", "cloudfront": "Networking", "waf": "Networking",
                        "networkfirewall": "Networking", "apigateway": "Networking", "acm": "Networking"}
NETWORK_KINDS = {"ec2.security-group", "ec2.vpc", "ec2.subnet", "ec2.network-acl", "ec2.elastic-ip"}
THREATS_BY_CATEGORY = {"IdentityAndAccess": ["AccountBreach", "ElevationOfPrivilege"],
                       "Data": ["DataExfiltration", "DataSpillage"],
                       "Networking": ["ThreatResistance", "DataExfiltration"],
                       "Compute": ["ThreatResistance", "MaliciousInsider"]}
NA_CAUSES = [("OffByPolicy", "The effective policy for the assessment was evaluated to off"),
             ("Exempt", "This resource is exempt from this recommendation"),
             ("NotApplicable", "This recommendation does not apply to the resource's configuration")]

H, U, NA = 0, 1, 2
CODES = ("Healthy", "Unhealthy", "NotApplicable")
M_STATIC, M_CYCLE, M_SSM1, M_SSM_MANAGED = 0, 1, 2, 3

# ---- regulatory compliance (NOTES §11: MCSB and FSBP on every AWS account, others assigned per account; ids use
# dashes for spaces; four states; rows carry a scope, per-connector copies must not be counted)
MCSB = "Microsoft-cloud-security-benchmark"
FSBP = "AWS-Foundational-Security-Best-Practices"
CIS_120, CIS_140, PCI_321 = "CIS-AWS-Foundations-v1.2.0", "CIS-AWS-Foundations-v1.4.0", "PCI-DSS-v3.2.1"
DEFAULT_STANDARDS = (MCSB, FSBP)
OPTIONAL_STANDARDS = ((CIS_120, 0.45), (CIS_140, 0.3), (PCI_321, 0.2))  # share of accounts (assumed)
AZURE_STANDARD = "SOC-TSP"  # an Azure-only standard: its assessments are Azure recommendations only
SCOPE_SUBSCRIPTION, SCOPE_MULTICLOUD, SCOPE_CONNECTOR = "Subscription", "MultiCloudAggregation", "SecurityConnector"
T_STD = "microsoft.security/regulatorycompliancestandards"
T_CTL = T_STD + "/regulatorycompliancecontrols"
T_RCA = T_CTL + "/regulatorycomplianceassessments"
# Azure recommendations of the Azure-only content: (title, severity, MCSB control, SOC-TSP control, resource kind).
# Titles are real Defender for Cloud recommendation names; their keys here are uuid5s (assumed).
AZURE_RECS = [
    ("Storage accounts should restrict network access using virtual network rules", "Medium", "NS-2", "CC6.6", "st"),
    ("Secure transfer to storage accounts should be enabled", "High", "DP-3", "CC6.7", "st"),
    ("Storage account public access should be disallowed", "Medium", "NS-2", "CC6.1", "st"),
    ("Azure Key Vault should have firewall enabled", "Medium", "NS-2", "CC6.6", "kv"),
    ("Diagnostic logs in Key Vault should be enabled", "Low", "LT-3", "CC7.2", "kv"),
    ("Key Vault keys should have an expiration date", "High", "DP-6", "CC6.1", "kv"),
    ("Management ports of virtual machines should be protected with just-in-time network access control", "High",
     "PA-2", "CC6.6", "vm"),
    ("EDR solution should be installed on Virtual Machines", "High", "ES-1", "CC6.8", "vm"),
    ("Machines should have vulnerability findings resolved", "High", "PV-5", "CC7.1", "vm"),
    ("Azure Backup should be enabled for virtual machines", "Low", "BR-1", "A1.2", "vm"),
    ("SQL databases should have vulnerability findings resolved", "High", "PV-5", "CC7.1", "sql"),
    ("Transparent Data Encryption on SQL databases should be enabled", "Low", "DP-4", "CC6.1", "sql"),
]
SOC_TSP_CONTROLS = [  # (id, title); CC1.1 and CC2.1 have no automated assessment
    ("CC1.1", "COSO Principle 1: The entity demonstrates a commitment to integrity and ethical values"),
    ("CC2.1", "COSO Principle 13: The entity uses relevant, quality information"),
    ("CC6.1", "Logical access security software, infrastructure, and architectures"),
    ("CC6.6", "Security measures against threats outside system boundaries"),
    ("CC6.7", "Restrict the transmission, movement, and removal of information"),
    ("CC6.8", "Prevent or detect against unauthorized or malicious software"),
    ("CC7.1", "Detection and monitoring of new vulnerabilities"),
    ("CC7.2", "Monitor system components for anomalous behavior"),
    ("A1.2", "Environmental protections, software, data back-up processes, and recovery infrastructure"),
]
AZURE_RESOURCES = {  # kind -> (provider path, name template, count)
    "st": ("Microsoft.Storage/storageAccounts", "stcontoso{s}{n}", 3),
    "kv": ("Microsoft.KeyVault/vaults", "kv-contoso-{s}-{n}", 2),
    "vm": ("Microsoft.Compute/virtualMachines", "vm-app-{n:02d}", 3),
    "sql": ("Microsoft.Sql/servers", "sql-contoso-{s}-{n}", 2),
}
AZURE_RG = "rg-platform"

# ---- classic connectors (NOTES §11: retired 2023-09-15, nothing streamed to them after that date)
CLASSIC_RETIRED = float(datetime(2023, 9, 15, tzinfo=timezone.utc).timestamp())

# ---- AWS findings reported on Arc machines, without a ConnectorId (NOTES §11, MDC workbooks): Defender for Servers
# recommendations evaluated on the Arc machine of an EC2 instance. (title, severity); keys are uuid5s (assumed).
SERVER_RECS = [
    ("EDR solution should be installed on Virtual Machines", "High"),
    ("Machines should have vulnerability findings resolved", "High"),
    ("System updates should be installed on your machines (powered by Azure Update Manager)", "Medium"),
    ("Machines should be configured to periodically check for missing system updates", "Medium"),
    ("Guest Configuration extension should be installed on machines", "Medium"),
]
ARC_RESOURCE_TYPE = "Microsoft.HybridCompute/machines"  # resourceDetails.ResourceType of those rows (assumed)
ARC_MANUAL_RG = "arc-servers-rg"  # where hand-installed (untagged) Arc machines live (assumed)

# ---- AWS: one (account, region) that is an opt-in region not enabled in the account (NOTES §11, AWS Knowledge
# Center iam-validate-access-credentials: EC2 answers AuthFailure, others InvalidClientTokenId there)
OPT_IN_REGION = "ap-east-1"

VALID_SCAN_INTERVALS = (4, 6, 12, 24)  # hours (NOTES §11: the only values the scan interval may take)

# ---- planted health problems (issue 13; the codes of tui/core/health.py, judged by the rules of the issue's
# contract). Small standalone accounts (2-4 instances, native connectors), each planting one problem, added after
# the estate's own accounts with their own random streams, so the rest of the estate is drawn as before. The same
# plants exist once at every scale. (name, offering profile, subscription index, flags)
HEALTH_ACCOUNTS: tuple[tuple[str, str, int, frozenset[str]], ...] = (
    ("aws-analytics", "cspm", 0, frozenset({"pending"})),  # connector 11.5 h old: pending-first-scan
    ("aws-archive", "cspm", 0, frozenset({"no_data"})),  # no assessments, copies or Arc machines: no-data
    ("aws-networking", "dcspm", 0, frozenset({"stack_rollback"})),  # UPDATE_ROLLBACK_COMPLETE: stack-not-complete
    ("aws-iot", "cspm", 0, frozenset({"oidc_missing"})),  # MDC's OIDC provider deleted: oidc-provider-missing
    ("aws-soc", "cspm", 0, frozenset({"oidc_sentinel"})),  # Sentinel's provider on the issuer: sentinel-oidc-conflict
    ("aws-partner-hub", "cspm", 0, frozenset({"trust_mismatch"})),  # trust-policy-mismatch (another tenant)
    ("aws-ml", "containers", 0, frozenset({"least_privilege"})),  # least-privilege role without eks:*
    ("aws-arc-lab", "servers_p1", SUB_READER, frozenset()),  # Arc on where GuestConfiguration is NotRegistered
)
# a second, tiny organization: its management connector, no member, StackSets trusted access off
HEALTH_ORG = ("aws-acquired-management", "cspm", 0, frozenset({"trusted_access_off"}))
PENDING_TICKS = 690  # the pending connector was created 11.5 h (690 ticks of 60 s) before tick 0
PENDING_HOURS = 12  # troubleshoot-connectors.md: an account (or connector) under 12 hours has no data yet
# extra accounts of the first organization that have no AWSAccountSpec (no connector, nothing to read in them):
# (name, Organizations status, excluded on the management connector?)
ORG_EXTRA_ACCOUNTS = (("aws-research-lab", "ACTIVE", False), ("aws-vendor-integrations", "ACTIVE", False),
                      ("aws-break-glass", "ACTIVE", True), ("aws-closed-2021", "SUSPENDED", False))
FAILED_INSTANCE_MEMBER = "aws-shared-services"  # its StackSet instance in one org region is OUTDATED / FAILED
LOCKED_ACCOUNT = "aws-prod"  # a CanNotDelete lock on its connector
SENTINEL_TRAIL_ACCOUNT = "aws-payments"  # its CloudTrail bucket notifies Sentinel's SQS queue
NO_STANDARD_ACCOUNT = "aws-dev"  # no standard assigned on its connector (no per-connector compliance copies)
SENTINEL_QUEUE = "sentinel-cloudtrail-queue"
SENTINEL_CLIENT_ID = "api://1462b192-27f7-4cb9-8523-0f4ecb54b47e"  # Microsoft Sentinel's AWS OIDC audience
MDC_QUEUE_PREFIXES = ("azuredefender-", "ms-defender-")  # queues Defender for Cloud names (contract; assumed)
# which roles Defender for Cloud's OIDC provider signs in to: those connector_roles.json gives an audience (the
# service-trusted roles and the CIEM pair have none; a role it does not list is never judged)
# the Defender CSPM part whose role reads the CloudTrail trail's bucket (CIEM): a connector with it consumes the
# bucket's event notifications, so another queue on them conflicts (sentinel-sqs-conflict)
CLOUDTRAIL_READER_PARTS = {"DefenderCspmAws": ("ciem", "ciemDiscovery")}
OFFERING_PLAN_KEYS = {"CspmMonitorAws": "cspm", "DefenderCspmAws": "defender_cspm",
                      "DefenderForServersAws": "servers", "DefenderForContainersAws": "containers",
                      "DefenderForDatabasesAws": "databases"}
# what each plan reads with the CSPM role (the contract's READS_BY_PLAN; assumed)
READS_BY_PLAN = {"cspm": ("ec2:DescribeInstances", "s3:ListAllMyBuckets", "iam:ListRoles"),
                 "defender_cspm": ("ec2:DescribeSnapshots", "s3:GetBucketLocation"),
                 "servers": ("ec2:DescribeInstances", "ssm:DescribeInstanceInformation"),
                 "containers": ("eks:ListClusters", "eks:DescribeCluster"),
                 "databases": ("rds:DescribeDBInstances",)}
# the least-privilege CspmMonitorAwsPolicy's Allow actions (Microsoft's template, tui/core/onboarding/roles.json),
# of which the planted least-privilege account lacks eks:* (an older template: Containers was enabled later)
LEAST_PRIVILEGE_ACTIONS = (
    "access-analyzer:Get*", "access-analyzer:List*", "acm:Describe*", "acm:List*", "apigateway:GET",
    "autoscaling:Describe*", "backup:List*", "backup:Describe*", "backup:Get*", "cloudformation:Describe*",
    "cloudformation:List*", "cloudfront:Get*", "cloudfront:List*", "cloudtrail:Describe*", "cloudtrail:Get*",
    "cloudtrail:List*", "cloudtrail:LookupEvents", "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*",
    "codebuild:BatchGet*", "codebuild:List*", "config:Describe*", "config:Get*", "config:List*", "dax:Describe*",
    "dms:Describe*", "dynamodb:Describe*", "dynamodb:List*", "ec2:Describe*", "ec2:GetEbsEncryptionByDefault",
    "ec2:GetEbsDefaultKmsKeyId", "ecr:Describe*", "ecr:GetRepositoryPolicy", "ecr:GetLifecyclePolicy", "ecr:List*",
    "ecs:Describe*", "ecs:List*", "eks:Describe*", "eks:List*", "elasticache:Describe*",
    "elasticbeanstalk:Describe*", "elasticfilesystem:Describe*", "elasticloadbalancing:Describe*",
    "elasticmapreduce:Describe*", "elasticmapreduce:List*", "es:Describe*", "es:List*", "events:Describe*",
    "events:List*", "firehose:Describe*", "firehose:List*", "guardduty:Get*", "guardduty:List*", "iam:Generate*",
    "iam:Get*", "iam:List*", "iam:SimulatePrincipalPolicy", "kinesis:Describe*", "kinesis:List*", "kms:Describe*",
    "kms:Get*", "kms:List*", "lambda:Get*", "lambda:List*", "logs:Describe*", "network-firewall:Describe*",
    "network-firewall:List*", "organizations:Describe*", "organizations:List*", "rds:Describe*", "rds:List*",
    "redshift:Describe*", "route53:Get*", "route53:List*", "route53domains:Get*", "route53domains:List*",
    "s3:GetAccountPublicAccessBlock", "s3:GetBucket*", "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:ListAllMyBuckets", "s3:ListBucket",
    "sagemaker:Describe*", "sagemaker:List*", "secretsmanager:Describe*", "secretsmanager:List*",
    "securityhub:Describe*", "securityhub:Get*", "securityhub:List*", "sns:Get*", "sns:List*", "sqs:Get*",
    "sqs:List*", "ssm:Describe*", "ssm:List*", "sso:Describe*", "sso:List*", "sts:GetCallerIdentity", "waf:Get*",
    "waf:List*", "waf-regional:Get*", "waf-regional:List*", "wafv2:Get*", "wafv2:List*")
# stack states with every resource in place (CloudFormation StackStatus): the cleanup after an update only deletes
# old resources, an import ends complete
STACK_COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                  "IMPORT_COMPLETE")
# texts of the planted CloudFormation failures (shapes of CloudFormation's ResourceStatusReason / StackInstance
# StatusReason; the texts are assumed)
STACK_ROLLBACK_REASON = ('Resource handler returned message: "User: arn:aws:sts::{account}:assumed-role/'
                         'OrganizationAccountAccessRole/cfn-deploy is not authorized to perform: iam:PutRolePolicy '
                         'on resource: role DefenderForCloud-AgentlessScanner because no identity-based policy '
                         'allows the iam:PutRolePolicy action (Service: Iam, Status Code: 403)" '
                         '(HandlerErrorCode: AccessDenied)')
STACKSET_FAILED_REASON = ('ResourceLogicalId:ArcAutoProvisioningRole, ResourceType:AWS::IAM::Role, '
                          'ResourceStatusReason:Resource handler returned message: "Role with name '
                          'DefenderForCloud-ArcAutoProvisioning already exists." (HandlerErrorCode: AlreadyExists)')
LOCK_API_TYPE = "Microsoft.Authorization/locks"


# ----------------------------------------------------------------------------------------------------------- helpers

def _data(name: str) -> dict:
    return json.loads(_resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8"))


def _uuid5(*parts) -> str:
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex17(rng: random.Random) -> str:
    return f"{rng.getrandbits(68):017x}"


def _wchoice(rng: random.Random, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for item, w in pairs:
        x -= w
        if x < 0:
            return item
    return pairs[-1][0]


def _norm_location(location: str) -> str:
    return (location or "").replace(" ", "").lower()


def _parse_arm_id(arm_id: str) -> dict:
    """/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name} -> parts (case-insensitive keys)."""
    parts = arm_id.strip("/").split("/")
    out = {}
    for i in range(0, len(parts) - 1, 2):
        key = parts[i].lower()
        if key in ("subscriptions", "resourcegroups") and key not in out:
            out[key] = parts[i + 1]
    out["name"] = parts[-1] if parts else ""
    return out


def _ts(epoch: float) -> str:
    """2026-11-01T00:00:00.0000000Z (7 fraction digits, as Microsoft.Security returns)."""
    dt = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def _ts_ms(epoch: float) -> str:
    """2026-11-01T00:00:00.000Z (systemData style)."""
    dt = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@contextlib.contextmanager
def _gc_paused():
    """Building 100k rows of plain dicts (no reference cycles) triggers needless full GC passes: pause it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _arg_row(rid, name, rtype, tenant, sub, rg="", *, kind="", location="", properties=None, tags=None,
             identity=None, managed_by=""):
    return {"id": rid, "name": name, "type": rtype, "tenantId": tenant, "kind": kind, "location": location,
            "resourceGroup": rg, "subscriptionId": sub, "managedBy": managed_by, "sku": None, "plan": None,
            "properties": properties, "tags": tags, "identity": identity, "zones": None, "extendedLocation": None}


# ------------------------------------------------------------------------------------------------ the catalogue

class _Rec:
    __slots__ = ("idx", "id", "title", "severity", "aws_severity", "kind", "key", "meta", "links", "mode")
    idx: int
    id: str
    title: str
    severity: str
    aws_severity: str
    kind: str
    key: str  # the assessment key
    meta: dict[str, Any]
    links: dict[str, str]
    mode: str | None


@lru_cache(maxsize=1)
def _catalog():
    """Recommendations, standards and roles (seed-independent: assessment keys are constants, as in MDC)."""
    controls = _data("aws_controls.json")
    roles = _data("connector_roles.json")
    kinds = controls["kinds"]
    recs: list[_Rec] = []
    by_id = {}
    for i, r in enumerate(controls["recommendations"]):
        rec = _Rec()
        rec.idx, rec.id, rec.title, rec.kind = i, r["id"], r["title"], r["kind"]
        rec.aws_severity = r["severity"]
        rec.severity = "High" if r["severity"] in ("Critical", "High") else r["severity"]
        rec.key = str(uuid.uuid5(NS, "recommendation/" + r["id"]))
        provider = kinds[r["kind"]]["provider"]
        category = ("Networking" if r["kind"] in NETWORK_KINDS else CATEGORY_BY_PROVIDER.get(provider, "Data"))
        h = uuid.uuid5(NS, "effort/" + r["id"]).int
        levels = ("Low", "Moderate", "High")
        prefix = rec.id.split(".")[1] if rec.id.startswith(("PCI.", "CIS.")) else rec.id.split(".")[0]
        anchor = rec.id.lower().replace(".", "-")
        rec.meta = {
            "displayName": rec.title,
            "severity": rec.severity,
            "description": f"AWS Security Hub control {rec.id} evaluates your {kinds[r['kind']]['provider'].upper()} "
                           f"resources: {rec.title}.",
            "remediationDescription": f"Follow the AWS Security Hub remediation for control {rec.id}: "
                                      f"https://docs.aws.amazon.com/securityhub/latest/userguide/"
                                      f"{prefix.lower()}-controls.html#{anchor}",
            "categories": [category],
            "assessmentType": "BuiltIn",
            "implementationEffort": levels[h % 3],
            "userImpact": levels[(h // 3) % 3],
            "threats": THREATS_BY_CATEGORY[category],
            "preview": False,
        }
        rec.links = {"azurePortal": "portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/"
                                    f"assessmentKey/{rec.key}"}
        rec.mode = {"SSM.1": "ssm1", "SSM.2": "ssm_managed", "SSM.3": "ssm_managed", "EC2.4": "stopped"}.get(rec.id)
        recs.append(rec)
        by_id[rec.id] = rec
    standards = []
    for std in controls["standards"]:
        # (control id, title, indices of the recommendations assessed under it: none, one, or several for MCSB)
        ctrls = []
        for c in std["controls"]:
            ids = c["recommendations"] if "recommendations" in c else [c.get("recommendation")]
            ctrls.append((c["id"], c["title"], tuple(by_id[r].idx for r in ids if r in by_id)))
        standards.append({"name": std["name"], "display_name": std["display_name"], "arn": std["standards_arn"],
                          "assessed": std["assessed"], "controls": ctrls,
                          "recs": tuple(sorted({r for _, _, rs in ctrls for r in rs}))})
    recs_by_kind: dict[str, list[int]] = {}
    for rec in recs:
        recs_by_kind.setdefault(rec.kind, []).append(rec.idx)
    return {"recs": recs, "by_id": by_id, "kinds": kinds, "standards": standards, "recs_by_kind": recs_by_kind,
            "roles": roles}


# ---------------------------------------------------------------------------------------------- internal records

class _Entity:
    __slots__ = ("kind", "provider", "rtype", "native_id", "name", "region", "arn", "first_tick", "inst",
                 "entity_name", "additional")
    kind: str
    provider: str
    rtype: str
    native_id: str
    name: str
    region: str | None
    arn: str
    first_tick: int
    inst: _Inst | None
    entity_name: str
    additional: dict[str, Any]


class _Inst:
    __slots__ = ("idx", "spec", "acct_idx", "distro", "os_version", "private_ip", "launch_tick", "ev_t", "ev_s",
                 "arc_c", "arc_err", "arc_delay", "vm_id", "principal_id", "computer_name", "agent_version")
    idx: int
    spec: Ec2Spec
    acct_idx: int
    distro: str
    os_version: str
    private_ip: str
    launch_tick: int
    ev_t: list[int]  # the SSM agent's status changes: ticks ...
    ev_s: list[str | None]  # ... and the status from each (None: no agent)
    arc_c: int | None  # the tick the Arc machine connected (None: never)
    arc_err: bool
    arc_delay: int
    vm_id: str
    principal_id: str
    computer_name: str
    agent_version: str


class _ConnCache:
    __slots__ = ("static_rows", "dynamic", "static_counts")
    static_rows: list[dict]
    dynamic: Any  # the rows that change over time (native connectors), or the recommendations (classic ones)
    static_counts: dict[Any, Any]


class _Truth:
    """What one build of the ARG tables put in them, from the model (see World.compliance_truth and friends)."""

    def __init__(self):
        self.by_account: dict[str, list[int]] = {}  # account id -> [AWS assessment rows, Unhealthy ones]
        self.unattributed = [0, 0]
        self.legacy: dict[str, list[int]] = {}  # account id -> [classic legacy rows, Unhealthy ones] (stale, apart)
        self.aws_recs: set[int] = set()  # catalogue recommendations with at least one AWS assessment row
        self.arc: dict[str, collections.Counter] = {}  # account id -> Arc status -> machines
        self.sub_controls: dict[str, dict[str, dict[str, str]]] = {}  # sub -> standard -> control -> state (in scope)
        self.sub_assessed: dict[str, dict[str, set[int]]] = {}  # sub -> standard -> AWS recommendations assessed
        self.copies: dict[str, set[str]] = {}  # standard -> accounts with a per-connector copy
        self.aws_subs: set[str] = set()  # lower-case subscriptions hosting an AWS security connector
        self.conn_rows: dict[str, int] = {}  # lower connector id -> its assessment rows (native connectors)
        self.conn_arc: dict[str, int] = {}  # lower connector id -> MDC-tagged Arc machines it onboarded


# --------------------------------------------------------------------------------------------------------- World

class World:
    """A deterministic synthetic Azure + AWS estate. See the module docstring and tui/emulator/spec.py."""

    def __init__(self, seed: int = 42, scale: str = "default", clock=None):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}")
        self.seed = seed
        self.scale = scale
        self._kind = SCALES[scale].get("like", scale)  # the scale whose random streams and plants this one shares
        self.clock = clock if clock is not None else ManualClock()
        self.lock = threading.RLock()
        self._cfg = SCALES[scale]
        self._cat = _catalog()
        self._store_version = 0
        self._arg_cache: tuple[Any, dict[str, list[dict]]] | None = None  # (version, tables)
        self._conn_cache: dict[tuple, _ConnCache] = {}
        self._ts_cache: dict[int, str] = {}

        self._arc_cache: dict[int, tuple] = {}
        self._status_intern: dict[tuple, dict] = {}
        self._row_intern: dict[tuple, dict] = {}

        with _gc_paused():
            rng = self._rng("tenant")
            self.tenant_id = _guid(rng)
            # the partner tenant draws from its own stream: every other id of the estate stays as it was
            self.partner_tenant_id = _guid(self._rng("partner-tenant"))
            self.tenant_names: dict[str, str] = {self.tenant_id: HOME_TENANT_NAME,
                                                 self.partner_tenant_id: PARTNER_TENANT_NAME}
            self._build_subscriptions()
            self._build_accounts()
            self._build_instances()
            self._build_entities()
            self._build_pairs()
            self._plant_opt_in_region()
            self._build_stores()
            self._build_assignments()
            self._plant_health()
            self._plant_untagged_arc()
        self._cset_cache: dict[tuple, tuple] = {}
        self._ctl_hash: dict[tuple[str, str], int] = {}
        self._drow_cache: dict[tuple, dict] = {}
        self._azure_cache: dict[tuple, tuple[list[dict], dict]] = {}
        self._truth: tuple[Any, _Truth] | None = None  # (version, what the tables were built from)
        self._conn_caps: dict[str, dict] = {}
        self._sync_connectors(FAR_PAST)

    # ------------------------------------------------------------------------------------------ public: time
    def tick(self) -> int:
        """The current tick of the clock (the estate moves per tick)."""
        return self.clock.tick()

    def advance(self, n: int = 1) -> int:
        """Advance a ManualClock by n ticks; returns the new tick."""
        if not hasattr(self.clock, "advance"):
            raise TypeError(f"{type(self.clock).__name__} cannot be advanced by hand")
        return self.clock.advance(n)

    def time_of(self, tick: int) -> float:
        """Epoch seconds a tick stands for."""
        return self.clock.time_of(tick)

    def now(self) -> float:
        return self.clock.time_of(self.tick())

    # ------------------------------------------------------------------------------------- public: tenants
    def subscription_tenant(self, subscription_id: str) -> str:
        """The tenant a subscription belongs to (ARM's `tenantId`, ARG's on every row of it); the home tenant for a
        subscription the world does not know."""
        return self._sub_tenant.get(str(subscription_id).lower(), self.tenant_id)

    def managed_by_tenants(self, subscription_id: str) -> list[str]:
        """The tenants a subscription is delegated to through Azure Lighthouse (ARM's `managedByTenants`)."""
        return list(self._sub_managers.get(str(subscription_id).lower(), ()))

    def tenant_subscriptions(self, tenant_id: str) -> list[str]:
        """The subscriptions a token of `tenant_id` sees, in the world's order: its own and those delegated to it."""
        tid = str(tenant_id).lower()
        return [s for s in self._sub_ids
                if self.subscription_tenant(s).lower() == tid
                or tid in (t.lower() for t in self.managed_by_tenants(s))]

    def account_tenant(self, account_id: str) -> str:
        """The tenant of the subscription that holds the account's connector as the world was built (the tenant its
        Defender for Cloud roles trust); the home tenant for an account the world does not know."""
        i = self._acct_idx.get(str(account_id))
        if i is None:
            return self.tenant_id
        return self.subscription_tenant(self._sub_ids[self._plans[i]["sub"]])

    # ------------------------------------------------------------------------------------- public: mutation
    def touch(self) -> None:
        """Tell the world a store was mutated (call after every write, holding `lock`): bumps `arg_version()`."""
        with self.lock:
            self._store_version += 1
            self._sync_connectors(self.tick())

    @contextlib.contextmanager
    def mutating(self):
        """`with world.mutating(): world.security_connectors[k] = body` -> holds the lock, touches on exit."""
        with self.lock:
            try:
                yield self
            finally:
                self.touch()

    # ------------------------------------------------------------------------------------------ public: ARG
    def arg_version(self) -> tuple:
        """Changes whenever arg_tables() would change: (tick, store version)."""
        return (self.tick(), self._store_version)

    def arg_tables(self) -> dict[str, list[dict]]:
        """{"resources": [...], "securityresources": [...], "resourcecontainers": [...]} for the current version.
        Cached per version; the rows are shared read-only snapshots."""
        with self.lock:
            version = self.arg_version()
            cached = self._arg_cache
            if cached is not None and cached[0] == version:
                return cached[1]
            with _gc_paused():
                tables = self._build_tables(version[0])
            self._arg_cache = (version, tables)
            self._truth = (version, self._truth_pending)
            return tables

    # ------------------------------------------------------------------------- public: truth for cross-checks
    # Figures a reader of the ARG rows should arrive at, computed from the model the rows were built from (not by
    # reading the rows back), for the current version. Each call returns fresh copies.
    def _current_truth(self) -> "_Truth":
        with self.lock:
            self.arg_tables()
            truth = self._truth
            assert truth is not None  # arg_tables() sets it
            return truth[1]

    def compliance_truth(self) -> dict[str, dict[str, int]]:
        """{standard id: {"passed", "failed", "skipped", "unsupported"}} for every AWS standard, by the rule in the
        module docstring ("Compliance truth"): a standard is AWS when one of its in-scope compliance assessments is
        named like an AWS assessment row, or when it has a per-connector copy under an AWS connector; its controls
        are grouped over the subscription-level rows of the subscriptions that host an AWS security connector."""
        tr = self._current_truth()
        aws_std = set(tr.copies)
        for stds in tr.sub_assessed.values():
            for std, recs in stds.items():
                if recs & tr.aws_recs:
                    aws_std.add(std)
        out = {}
        for std in sorted(aws_std):
            merged: dict[str, list[str]] = {}
            for sub, by_std in tr.sub_controls.items():
                if sub.lower() not in tr.aws_subs or std not in by_std:
                    continue
                for cid, state in by_std[std].items():
                    merged.setdefault(cid.lower(), []).append(state)
            counts = {"passed": 0, "failed": 0, "skipped": 0, "unsupported": 0}
            for states in merged.values():
                if "Failed" in states:
                    counts["failed"] += 1
                elif "Passed" in states:
                    counts["passed"] += 1
                elif all(st == "Unsupported" for st in states):
                    counts["unsupported"] += 1
                else:
                    counts["skipped"] += 1
            out[std] = counts
        return out

    def native_assessment_count(self) -> int:
        """The AWS assessment rows the native connectors hold now (ResourceDetails.Source Aws, with a ConnectorId),
        counted from the model without building a row: what `arg_tables()` would put in securityresources for them
        (AWS findings on Arc machines and classic connectors' legacy rows come on top)."""
        with self.lock:
            t = self.tick()
            self._sync_connectors(t)
            n = 0
            for key, body, a_i in self._aws_connectors():
                since = self._conn_caps.get(key, {}).get("cspm")
                if since is None or t < since + (ONBOARDING_LAG_TICKS if since > FAR_PAST else 0):
                    continue
                if "no_data" in self._plans[a_i]["flags"]:
                    continue
                regions = set(((body.get("properties") or {}).get("environmentData") or {}).get("regions") or ())
                ents = self._entities[a_i]
                if not regions:
                    n += len(self._pairs[a_i])
                    continue
                n += sum(1 for pair in self._pairs[a_i]
                         if ents[pair[0]].region is None or ents[pair[0]].region in regions)
            return n

    def standards_by_account(self) -> dict[str, list[str]]:
        """{account id: sorted standard ids with a per-connector copy under the account's native connector(s)} for
        every AWS account of the estate ([] when none: classic-only, not onboarded yet, or no connector)."""
        tr = self._current_truth()
        out: dict[str, set[str]] = {a.account_id: set() for a in self.aws_accounts}
        for std, accounts in tr.copies.items():
            for aid in accounts:
                out.setdefault(aid, set()).add(std)
        return {aid: sorted(v) for aid, v in out.items()}

    def recommendations_by_account(self) -> dict[str, dict[str, int]]:
        """{account id: {"total", "unhealthy"}} of the AWS assessment rows (Source Aws) a reader attributes to each
        account: by connector (native rows), else by `AzureResourceId` -> Arc machine -> its AccountId tag, or its
        EC2 instance matched by computer name for an untagged machine. A retired classic connector's legacy rows are
        not here (classic_legacy_by_account). Accounts with no attributed row are absent."""
        tr = self._current_truth()
        return {aid: {"total": v[0], "unhealthy": v[1]} for aid, v in sorted(tr.by_account.items())}

    def classic_legacy_by_account(self) -> dict[str, dict[str, int]]:
        """{account id: {"total", "unhealthy"}} of the legacy rows a retired classic connector left (their machines are
        gone; the classic connector whose resource group holds them names the account). Stale since 2023-09-15, so
        a reader keeps them apart from the account's live counts (recommendations_by_account leaves them out)."""
        tr = self._current_truth()
        return {aid: {"total": v[0], "unhealthy": v[1]} for aid, v in sorted(tr.legacy.items())}

    def unhealthy_by_account(self) -> dict[str, int]:
        """{account id: Unhealthy AWS assessment rows attributed to it} (see recommendations_by_account)."""
        return {aid: v["unhealthy"] for aid, v in self.recommendations_by_account().items()}

    def unattributed_truth(self) -> dict[str, int]:
        """{"total", "unhealthy"} of the AWS assessment rows no reader can attribute to an account: no connector id,
        and an `AzureResourceId` naming no Arc machine and no resource group of exactly one classic connector
        (findings on machines that are gone)."""
        tr = self._current_truth()
        return {"total": tr.unattributed[0], "unhealthy": tr.unattributed[1]}

    def arc_status_by_account(self) -> dict[str, dict[str, int]]:
        """{account id: {Arc status: machines}} of the Arc machines of EC2 instances now, untagged ones included."""
        tr = self._current_truth()
        return {aid: dict(c) for aid, c in sorted(tr.arc.items())}

    def arc_connected_by_account(self) -> dict[str, int]:
        """{account id: Connected Arc machines} now, untagged machines (matched to their instance by name) included."""
        return {aid: c.get("Connected", 0) for aid, c in self.arc_status_by_account().items()}

    def untagged_arc_machines(self) -> list[dict]:
        """The planted Arc machines without MDC tags: {"name", "account_id", "instance_id", "region", "matched_by"}
        with matched_by "private_dns" (named by the first label of the EC2 PrivateDnsName) or "name_tag"."""
        out = []
        for idx, (name, _computer, how) in sorted(self._untagged.items()):
            spec = self._insts[idx].spec
            out.append({"name": name, "account_id": spec.account_id, "instance_id": spec.instance_id,
                        "region": spec.region, "matched_by": how})
        return out

    # ------------------------------------------------------------------------------------------ public: AWS
    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        """"Online" | "ConnectionLost" | None (no SSM agent, or unknown instance), at the current tick."""
        inst = self._inst_by_key.get((str(account_id), instance_id))
        if inst is None:
            return None
        return self._ssm_at(inst, self.tick())[0]

    def ssm_instance_information(self, account_id: str, region: str | None = None) -> list[dict]:
        """SSM DescribeInstanceInformation entries (InstanceInformationList) for the account's instances that have an
        agent and are not stopped, now. LastPingDateTime / RegistrationDate are epoch seconds (floats)."""
        t = self.tick()
        a_i = self._acct_idx.get(str(account_id))
        if a_i is None:
            return []
        out = []
        for inst in self._insts_by_acct[a_i]:
            spec = inst.spec
            if region is not None and spec.region != region:
                continue
            status, since = self._ssm_at(inst, t)
            # the operation "does not return information for nodes that are either Stopped or Terminated" (AWS API
            # reference, DescribeInstanceInformation)
            if status is None or spec.state in ("stopped", "terminated"):
                continue
            first = self._first_agent_event(inst)
            registered = max(inst.ev_t[first], inst.launch_tick)
            windows = spec.platform == "windows"
            out.append({
                "InstanceId": spec.instance_id,
                "PingStatus": status,
                "LastPingDateTime": self.time_of(t if status == "Online" else max(since, registered)),
                "AgentVersion": inst.agent_version,
                "IsLatestVersion": inst.agent_version == "3.3.1142.0",
                "PlatformType": "Windows" if windows else "Linux",
                "PlatformName": ("Microsoft " + inst.distro) if windows else inst.distro.removesuffix(" LTS"),
                "PlatformVersion": inst.os_version,
                "ResourceType": "EC2Instance",
                "IPAddress": inst.private_ip,
                "ComputerName": inst.computer_name,
                "AssociationStatus": "Success",
                "RegistrationDate": self.time_of(registered),
            })
        return out

    def instance_meta(self, account_id: str, instance_id: str) -> dict | None:
        """Extra EC2 facts for seeding moto: private IP, launch time (epoch), VPC/subnet/security group ids, OS."""
        inst = self._inst_by_key.get((str(account_id), instance_id))
        if inst is None:
            return None
        net = self._net[(inst.spec.account_id, inst.spec.region)]
        return {"private_ip": inst.private_ip, "launch_time": self.time_of(inst.launch_tick), "vpc_id": net["vpc"],
                "subnet_id": net["subnets"][inst.idx % len(net["subnets"])],
                "security_group_ids": [net["sgs"][inst.idx % len(net["sgs"])]], "os": inst.distro,
                "os_version": inst.os_version, "computer_name": inst.computer_name,
                "iam_instance_profile": "AmazonSSMRoleForInstancesMDCSetup" if inst.ev_s[0] is not None else None}

    def aws_entities(self, account_id: str) -> list[dict]:
        """The account's synthetic AWS resources that MDC assesses (kind, native id, name, region, ARN)."""
        idx = self._acct_idx.get(str(account_id))
        if idx is None:
            return []
        return [{"kind": e.kind, "provider": e.provider, "type": e.rtype, "id": e.native_id, "name": e.name,
                 "region": e.region, "arn": e.arn} for e in self._entities[idx]]

    def iam_roles(self, account_id: str) -> list[str]:
        """IAM role names the Defender for Cloud template deployed in the account (one account drifts: a role its
        connector references is missing)."""
        return list(self._iam_roles.get(str(account_id), []))

    def cfn_stack(self, account_id: str) -> dict | None:
        """The connector's CloudFormation stack, or None: StackName, Region (the connector's first region), Status,
        FailedResource, Reason (as aws_setup()["stack"]), and StackSetName for a management account."""
        return copy.deepcopy(self._stacks.get(str(account_id)))

    def aws_setup(self, account_id: str) -> dict | None:
        """What the AWS emulator seeds in the account besides the roles of iam_roles() (None: unknown account).

        Keys (the issue 13 contract, all optional): "oidc" ("mdc" | "missing" | "sentinel"), "trust_mismatch" (role
        names), "least_privilege" ({"role", "actions"}), "stack" ({"StackName", "Region", "Status", "FailedResource",
        "Reason"}), management accounts: "stackset" ({"StackSetName", "instances": [{"Account", "Region", "Status",
        "DetailedStatus", "StatusReason"}]}), "trusted_access", "org_accounts" ([{"Id", "Name", "Status",
        "JoinedTimestamp" (epoch s)}]); "trail" ({"TrailName", "Bucket", "Region", "Queue"}), "buckets" (names; the
        trail's bucket is among them), "rds" ([(region, db id)], default scale only). Fixed when the world is built
        (later connector writes do not change what AWS holds)."""
        setup = self._setup.get(str(account_id))
        return copy.deepcopy(setup) if setup is not None else None

    # ---------------------------------------------------------------------------------- public: health truth
    def health_truth(self) -> dict[str, set[str]]:
        """{lower connector id: health codes} for every AWS connector (native and classic) of an account the world
        knows, now: what the world planted or implies, by the rules of the issue 13 contract, computed from the
        stores, the AWS set-up, the clock and what the current ARG tables hold. Healthy connectors have set()."""
        with self.lock:
            tr = self._current_truth()
            now = self.now()
            classic_accounts: dict[str, list[str]] = {}
            for key, body in self.classic_connectors.items():
                auth = (body.get("properties") or {}).get("authenticationDetails") or {}
                aid = str(auth.get("accountId") or "")
                if aid in self._acct_idx:
                    classic_accounts.setdefault(aid, []).append(key)
            natives = self._aws_connectors()
            native_accounts = {str(b["properties"].get("hierarchyIdentifier")) for _, b, _ in natives}
            assigned = {aid for accounts in tr.copies.values() for aid in accounts}
            joined = {}  # account id -> JoinedTimestamp (from its management account's Organizations listing)
            for setup in self._setup.values():
                for o in setup.get("org_accounts") or ():
                    joined[o["Id"]] = o["JoinedTimestamp"]
            out: dict[str, set[str]] = {}
            for key, body, a_i in natives:
                out[key] = self._native_codes(key, body, a_i, now, tr, bool(classic_accounts.get(
                    self.aws_accounts[a_i].account_id)), native_accounts, assigned, joined)
            for aid, keys in classic_accounts.items():
                for key in keys:
                    codes = {"classic-retired"}
                    if aid in native_accounts:
                        codes.add("classic-native-duplicate")
                    if self._locked(self.classic_connectors[key].get("id", key)):
                        codes.add("resource-lock")
                    out[key] = codes
            return out

    def org_truth(self) -> dict[str, dict[str, Any]]:
        """{management account id: {"missing", "suspended", "excluded": sorted account ids, "failed_instances":
        [(account, region)]}} for each management connector of the store: ACTIVE organization accounts (not the
        management account, not excluded on the connector) without a native connector; SUSPENDED / PENDING_CLOSURE
        ones; the connector's excludedAccountIds; the StackSet instances not CURRENT or FAILED / CANCELLED."""
        with self.lock:
            natives = self._aws_connectors()
            native_accounts = {str(b["properties"].get("hierarchyIdentifier")) for _, b, _ in natives}
            now = self.now()
            out: dict[str, dict[str, Any]] = {}
            for _key, body, a_i in natives:
                env = body["properties"].get("environmentData") or {}
                org = env.get("organizationalData") or {}
                if str(org.get("organizationMembershipType", "")).lower() != "organization":
                    continue
                aid = self.aws_accounts[a_i].account_id
                setup = self._setup.get(aid) or {}
                excluded = {str(x) for x in org.get("excludedAccountIds") or ()}
                accounts = setup.get("org_accounts") or []
                out[aid] = {
                    "missing": self._missing_members(aid, accounts, excluded, native_accounts, now),
                    "suspended": sorted(o["Id"] for o in accounts if o["Status"] != "ACTIVE"),
                    "excluded": sorted(excluded),
                    "failed_instances": [(i["Account"], i["Region"]) for i in self._failed_instances(setup, excluded)],
                }
            return out

    @staticmethod
    def _missing_members(aid: str, accounts: list[dict], excluded: set[str], native_accounts: set[str],
                         now: float) -> list[str]:
        """ACTIVE accounts of the organization, not the management account, not excluded, that joined 12 hours ago
        or more, without a native connector."""
        return sorted(o["Id"] for o in accounts
                      if o["Status"] == "ACTIVE" and o["Id"] != aid and o["Id"] not in excluded
                      and o["Id"] not in native_accounts
                      and not (o.get("JoinedTimestamp") is not None
                               and (now - o["JoinedTimestamp"]) / 3600 < PENDING_HOURS))

    @staticmethod
    def _failed_instances(setup: dict, excluded: set[str]) -> list[dict]:
        """The StackSet's instances not CURRENT or FAILED / CANCELLED, but those of accounts excluded on the
        management connector or not ACTIVE in the organization (expected to fail)."""
        skip = excluded | {o["Id"] for o in setup.get("org_accounts") or () if o["Status"] != "ACTIVE"}
        return [i for i in (setup.get("stackset") or {}).get("instances") or ()
                if i["Account"] not in skip
                and (i["Status"] != "CURRENT" or str(i.get("DetailedStatus") or "").upper() in ("FAILED", "CANCELLED"))]

    def _locked(self, resource_id: str) -> bool:
        """A management lock at the resource's scope or above it (its resource group, its subscription)."""
        rid = resource_id.lower().rstrip("/")
        for lock_id in self.locks:
            scope = lock_id.split(f"/providers/{LOCK_API_TYPE.lower()}/", 1)[0]
            if rid == scope or rid.startswith(scope + "/"):
                return True
        return False

    def _native_codes(self, key: str, body: dict, a_i: int, now: float, tr: "_Truth", has_classic: bool,
                      native_accounts: set[str], assigned: set[str], joined: dict[str, float]) -> set[str]:
        """The health codes of one native AWS connector (the contract's table, in its order)."""
        acct = self.aws_accounts[a_i]
        aid = acct.account_id
        props = body.get("properties") or {}
        env = props.get("environmentData") or {}
        org = env.get("organizationalData") or {}
        membership = str(org.get("organizationMembershipType", "")).lower()
        regions = list(env.get("regions") or ())
        sub = _parse_arm_id(body.get("id", key)).get("subscriptions", "")
        setup = self._setup.get(aid) or {}
        readable = aid not in self.denied_accounts
        codes: set[str] = set()

        offerings = [o for o in props.get("offerings") or () if o.get("offeringType") in OFFERING_PLAN_KEYS]
        plans = {OFFERING_PLAN_KEYS[o["offeringType"]] for o in offerings}
        used = {arn.rsplit("/", 1)[-1] for o in offerings for arn in _enabled_role_arns(o)
                if arn.split(":")[4:5] == [aid]}
        # OIDC-trusted: the roles connector_roles.json gives an audience (a role it does not know is never judged)
        oidc_names = {r["name"] for r in self._cat["roles"]["roles"] if r.get("audience")}
        oidc_roles = {r for r in used if r in oidc_names}

        if has_classic:
            codes.add("classic-native-duplicate")
        if not readable:
            codes.add("aws-unreadable")
        elif any((aid, r) in self.opt_in_disabled for r in regions):
            codes.add("region-not-enabled")
        created = _parse_ts((body.get("systemData") or {}).get("createdAt"))
        age_h = (now - created) / 3600 if created is not None else None
        joined_at = joined.get(aid)
        pending = ((age_h is not None and age_h < PENDING_HOURS)
                   or (joined_at is not None and (now - joined_at) / 3600 < PENDING_HOURS))
        if pending:
            codes.add("pending-first-scan")
        else:
            window = max(PENDING_HOURS, int(env.get("scanInterval") or 0))
            if (age_h is not None and age_h >= window and not tr.conn_rows.get(key) and not tr.conn_arc.get(key)):
                codes.add("no-data")
            # only when some account shows an assigned standard (else assignments are not observable)
            if assigned and aid not in assigned:
                codes.add("no-standard-assigned")
        if readable:
            if membership != "member":
                # a stack found (in the connector's regions) that is not complete; none found: unknown (the roles may
                # come from Terraform), nothing raised
                stack = setup.get("stack")
                if stack is not None and stack["Region"] in regions and stack["Status"] not in STACK_COMPLETE:
                    codes.add("stack-not-complete")
            if membership == "organization":
                excluded = {str(x) for x in org.get("excludedAccountIds") or ()}
                if self._failed_instances(setup, excluded):
                    codes.add("stackset-instances-failed")
                if setup.get("trusted_access") is False:
                    codes.add("org-trusted-access-off")
                # not while the management connector is pending (its members' connectors are being created)
                if not pending and self._missing_members(aid, setup.get("org_accounts") or [], excluded,
                                                         native_accounts, now):
                    codes.add("org-members-missing")
            oidc = setup.get("oidc", "mdc")
            if oidc == "sentinel":
                codes.add("sentinel-oidc-conflict")
            elif oidc == "missing" and oidc_roles:
                codes.add("oidc-provider-missing")
            present = set(self._iam_roles.get(aid, ()))
            if used - present:
                codes.add("role-missing")
            if set(setup.get("trust_mismatch") or ()) & oidc_roles & present:
                codes.add("trust-policy-mismatch")
            lp = setup.get("least_privilege")  # that role gets no managed policy at all (inline ones only)
            if lp and lp.get("role") in present:
                allowed = [x.lower() for x in lp.get("actions") or ()]
                needed = {a.lower() for plan in plans for a in READS_BY_PLAN.get(plan, ())}
                if any(not any(fnmatch.fnmatchcase(a, pat) for pat in allowed) for a in needed):
                    codes.add("least-privilege-gap")
            queue = (setup.get("trail") or {}).get("Queue")
            if (queue and not str(queue).rsplit(":", 1)[-1].startswith(MDC_QUEUE_PREFIXES)
                    and _reads_cloudtrail(offerings)):
                codes.add("sentinel-sqs-conflict")
        pricing = self.pricings.get(sub) or {}

        def free(name: str) -> bool:
            return ((pricing.get(name) or {}).get("properties") or {}).get("pricingTier") == "Free"

        if ("servers" in plans and free("VirtualMachines")) or ("containers" in plans and free("Containers")):
            codes.add("subscription-plan-missing")
        providers = self.providers.get(sub) or {}
        needed_ns = ["Microsoft.Security"]
        if any(o["offeringType"] in ("DefenderForServersAws", "DefenderForDatabasesAws")
               and (o.get("arcAutoProvisioning") or {}).get("enabled") for o in offerings):
            needed_ns += ["Microsoft.HybridCompute", "Microsoft.GuestConfiguration"]
        if any(providers.get(ns) != "Registered" for ns in needed_ns):
            codes.add("provider-not-registered")
        if self._locked(body.get("id", key)):
            codes.add("resource-lock")
        return codes

    # ------------------------------------------------------------------------------------------ public: REST
    REST_TYPES = {
        "microsoft.security/assessments": "Microsoft.Security/assessments",
        "microsoft.hybridcompute/machines": "Microsoft.HybridCompute/machines",
        "microsoft.security/pricings": "Microsoft.Security/pricings",
        "microsoft.security/securityconnectors": "Microsoft.Security/securityConnectors",
        "microsoft.security/regulatorycompliancestandards": "Microsoft.Security/regulatoryComplianceStandards",
        "microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols":
            "Microsoft.Security/regulatoryComplianceStandards/regulatoryComplianceControls",
        "microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/regulatorycomplianceassessments":
            "Microsoft.Security/regulatoryComplianceStandards/regulatoryComplianceControls/regulatoryComplianceAssessments",
        "microsoft.resources/subscriptions": "Microsoft.Resources/subscriptions",
        "microsoft.resources/subscriptions/resourcegroups": "Microsoft.Resources/resourceGroups",
    }

    def rest_body(self, row: dict) -> dict:
        """The REST (ARM) body for an ARG row: mixed-case `type`, `links.azurePortalUri` for assessments, the
        envelope keys a GET returns. For security connectors prefer the store body (it has etag/systemData)."""
        rtype = self.REST_TYPES.get(row["type"], row["type"])
        props: Any = row.get("properties")
        if row["type"] == "microsoft.security/assessments":
            props = dict(props)
            links = props.pop("links", None) or {}
            if "azurePortal" in links:
                props["links"] = {"azurePortalUri": "https://" + links["azurePortal"]}
        body = {"id": row["id"], "name": row["name"], "type": rtype, "properties": copy.deepcopy(props)}
        if row["type"] == "microsoft.hybridcompute/machines":
            body = {"id": row["id"], "name": row["name"], "location": row["location"], "tags": dict(row["tags"] or {}),
                    "identity": dict(row["identity"]), "type": rtype, "kind": row["kind"],
                    "properties": copy.deepcopy(props), "resources": []}
        return body

    # ============================================================================================= building
    def _rng(self, stream: str) -> random.Random:
        return random.Random(f"mdc-aws-world/{self.seed}/{self._kind}/{stream}")

    def _iso(self, tick: int) -> str:
        s = self._ts_cache.get(tick)
        if s is None:
            s = _ts(self.time_of(tick))
            if len(self._ts_cache) < 200_000:
                self._ts_cache[tick] = s
        return s

    # ---- subscriptions
    def _build_subscriptions(self):
        rng = self._rng("subscriptions")
        n = self._cfg["subscriptions"]
        self.subscriptions = [SubscriptionSpec(_guid(rng), SUBSCRIPTION_NAMES[i]) for i in range(n)]
        self._sub_ids = [s.subscription_id for s in self.subscriptions]
        # lower-case subscription id -> its tenant; -> the tenants it is delegated to (Azure Lighthouse)
        self._sub_tenant: dict[str, str] = {
            sid.lower(): (self.partner_tenant_id if i == PARTNER_SUB else self.tenant_id)
            for i, sid in enumerate(self._sub_ids)}
        self._sub_managers: dict[str, tuple[str, ...]] = {
            sid.lower(): ((self.tenant_id,) if i == PARTNER_SUB else ()) for i, sid in enumerate(self._sub_ids)}

    # ---- accounts
    def _build_accounts(self):
        rng = self._rng("accounts")
        cfg = self._cfg
        used_ids: set[str] = set()

        plans: list[dict] = []
        large = self._kind == "large"
        named_members = ["aws-prod", "aws-payments", "aws-data-lake", "aws-shared-services"]
        named_standalone = ["aws-dev", "aws-staging", "aws-sandbox", "aws-legacy-crm", "aws-legacy-billing"]
        default_instances = {"aws-org-management": 6, "aws-prod": 80, "aws-payments": 50, "aws-data-lake": 30,
                             "aws-shared-services": 25, "aws-dev": 35, "aws-staging": 25, "aws-sandbox": 20,
                             "aws-legacy-crm": 20, "aws-legacy-billing": 10}
        gen_names = iter(f"aws-{t}-{e}" for e in LARGE_ENVS for t in LARGE_TEAMS)

        org_subs = [0, 3 if cfg["subscriptions"] > 4 else 0]
        for o, n_members in enumerate(cfg["orgs"]):
            mgmt_name = "aws-org-management" if o == 0 else f"aws-org{o + 1}-management"
            mgmt: dict[str, Any] = {"name": mgmt_name, "role": ORG_MANAGEMENT, "parent": None, "sub": org_subs[o % 2],
                    "rg": "mdc-connectors", "profile": "full" if o == 0 else "servers_p2", "flags": set(), "org": o}
            plans.append(mgmt)
            for m in range(n_members):
                name = named_members[m] if (o == 0 and m < len(named_members)) else next(gen_names)
                plans.append({"name": name, "role": ORG_MEMBER, "parent": mgmt, "sub": mgmt["sub"],
                              "rg": "mdc-connectors", "profile": mgmt["profile"], "flags": set(), "org": o})
        standalone_sub = {"aws-dev": 2, "aws-staging": 1, "aws-sandbox": 1, "aws-legacy-crm": 0,
                          "aws-legacy-billing": 2}
        standalone_profile = {"aws-dev": "cspm", "aws-staging": "servers_noarc", "aws-sandbox": "servers_p1",
                              "aws-legacy-crm": "servers_p1", "aws-legacy-billing": None}
        for s in range(cfg["standalone"]):
            if s < len(named_standalone):
                name = named_standalone[s]
                plans.append({"name": name, "role": ORG_SINGLE, "parent": None, "sub": standalone_sub[name],
                              "rg": "security-rg", "profile": standalone_profile[name], "flags": set(), "org": None})
            else:
                name = next(gen_names)
                # never the last subscription: it stays Azure-only
                plans.append({"name": name, "role": ORG_SINGLE, "parent": None, "sub": s % (cfg["subscriptions"] - 1),
                              "rg": rng.choice(["security-rg", "mdc-connectors"]),
                              "profile": _wchoice(rng, LARGE_PROFILE_WEIGHTS), "flags": set(), "org": None})

        by_name = {p["name"]: p for p in plans}
        by_name["aws-data-lake"]["flags"].add("denied")
        by_name["aws-legacy-crm"]["flags"].add("dup")
        by_name["aws-legacy-billing"]["flags"].add("classic_only")
        by_name["aws-staging"]["flags"].update({"unknown_offering", "no_account_name"})
        by_name["aws-sandbox"]["flags"].add("drift")
        by_name["aws-dev"]["flags"].add("home_region_only")
        extra_single = [p for p in plans if p["role"] == ORG_SINGLE and p["name"] not in named_standalone]
        extra_members = [p for p in plans if p["role"] == ORG_MEMBER and p["name"] not in named_members]
        pick = rng.sample(extra_single, cfg["extra_dup"] + cfg["extra_classic_only"]) if extra_single else []
        for p in pick[:cfg["extra_dup"]]:
            p["flags"].add("dup")
        for p in pick[cfg["extra_dup"]:]:
            p["flags"].add("classic_only")
            p["profile"] = None
        for p in rng.sample(extra_members, cfg["extra_denied"]) if extra_members else []:
            p["flags"].add("denied")

        # instance counts
        total = cfg["instances"]
        if large:
            weights = []
            for p in plans:
                w = 0.1 if p["role"] == ORG_MANAGEMENT else rng.lognormvariate(0, 0.8)
                weights.append(w)
            scale = total / sum(weights)
            counts = [max(1, round(w * scale)) for w in weights]
        else:
            counts = [default_instances[p["name"]] for p in plans]

        # the planted health problems (issue 13): flags on existing accounts, then the small accounts, drawn from
        # their own stream (hrng) so every account above keeps its ids, regions and instances
        hrng = self._rng("accounts-health")
        by_name[LOCKED_ACCOUNT]["flags"].add("locked")
        by_name[SENTINEL_TRAIL_ACCOUNT]["flags"].add("sentinel_trail")
        by_name[NO_STANDARD_ACCOUNT]["flags"].add("no_standard")
        by_name[FAILED_INSTANCE_MEMBER]["flags"].add("failed_instance")
        plans[0]["flags"].add("org_extras")  # the first organization's management account
        n_existing = len(plans)
        for name, profile, sub_i, flags in HEALTH_ACCOUNTS:
            plans.append({"name": name, "role": ORG_SINGLE, "parent": None, "sub": sub_i, "rg": "security-rg",
                          "profile": profile,
                          "flags": set(flags) | {"health"}, "org": None})
        name, profile, sub_i, flags = HEALTH_ORG
        plans.append({"name": name, "role": ORG_MANAGEMENT, "parent": None, "sub": sub_i, "rg": "mdc-connectors",
                      "profile": profile, "flags": set(flags) | {"health"}, "org": len(cfg["orgs"])})
        counts += [hrng.randint(2, 4) for _ in plans[n_existing:]]

        self.aws_accounts: list[AwsAccountSpec] = []
        self._plans = plans
        org_ids: dict[str, str] = {}
        for p, n in zip(plans, counts):
            r = hrng if "health" in p["flags"] else rng
            while True:
                aid = f"{r.randrange(10**11, 10**12)}"
                if aid not in used_ids:
                    used_ids.add(aid)
                    break
            p["account_id"] = aid
            p["n_instances"] = n
            home = _wchoice(r, HOME_REGIONS)
            n_regions = _wchoice(r, [(1, 20), (2, 35), (3, 28), (4, 17)]) if r is rng else r.randint(1, 2)
            regions = [home] + r.sample([x for x in REGIONS if x != home], n_regions - 1)
            spec = AwsAccountSpec(account_id=aid, name=p["name"], org_role=p["role"],
                                  parent_account_id=p["parent"]["account_id"] if p["parent"] else None, regions=regions)
            if p["role"] == ORG_MANAGEMENT:
                org_ids[aid] = "o-" + "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
            self.aws_accounts.append(spec)
        self.org_ids = org_ids  # management account id -> AWS Organizations id
        self.accounts_by_id = {a.account_id: a for a in self.aws_accounts}
        self._acct_idx = {a.account_id: i for i, a in enumerate(self.aws_accounts)}
        self.denied_accounts = {p["account_id"] for p in plans if "denied" in p["flags"]}
        # the first organization's accounts without an AwsAccountSpec (no connector; in Organizations only)
        self._org_extra: dict[str, list[dict]] = {}
        mgmt0 = plans[0]
        extra = []
        for k, (name, status, excluded) in enumerate(ORG_EXTRA_ACCOUNTS):
            while True:
                aid = f"{hrng.randrange(10**11, 10**12)}"
                if aid not in used_ids:
                    used_ids.add(aid)
                    break
            extra.append({"Id": aid, "Name": name, "Status": status, "excluded": excluded,
                          "joined_tick": -(60_000 + 15_000 * k)})
        self._org_extra[mgmt0["account_id"]] = extra

        # EKS clusters, Security Hub standards
        std_arns = {s["name"]: s["arn"] for s in self._cat["standards"]}
        for p, acct in zip(plans, self.aws_accounts):
            r = hrng if "health" in p["flags"] else rng
            prof = PROFILES.get(p["profile"] or "", {})
            n_eks = r.randint(1, 3) if prof.get("containers") else (1 if r.random() < 0.25 else 0)
            for k in range(n_eks):
                region = r.choice(acct.regions)
                acct.eks_clusters.append((region, f"{acct.name.removeprefix('aws-')}-eks-{k + 1:02d}"))
            enabled: list[str] = []
            if "drift" in p["flags"]:
                enabled = []
            else:
                if r.random() < 0.9 or "dup" in p["flags"] or "classic_only" in p["flags"]:
                    enabled.append(FSBP)
                if r.random() < 0.6 or "dup" in p["flags"] or "classic_only" in p["flags"]:
                    enabled.append(CIS_120)
                if r.random() < 0.25 or "payments" in acct.name:
                    enabled.append(PCI_321)
            # one ARN per standard, enabled in every region of the account (regional ARNs carry the home region)
            acct.securityhub_standards = [std_arns[name].format(region=acct.regions[0]) for name in enabled]

    # ---- instances
    def _build_instances(self):
        rng = self._rng("instances")
        self._insts: list[_Inst] = []
        self._insts_by_acct: list[list[_Inst]] = []
        self._inst_by_key: dict[tuple[str, str], _Inst] = {}
        self._net: dict[tuple[str, str], dict] = {}
        used: set[str] = set()
        amis: dict[tuple[str, str], str] = {}
        for a_i, (acct, plan) in enumerate(zip(self.aws_accounts, self._plans)):
            for r_i, region in enumerate(acct.regions):
                self._net[(acct.account_id, region)] = {
                    "vpc": "vpc-" + _hex17(rng),
                    "subnets": ["subnet-" + _hex17(rng) for _ in range(3)],
                    "sgs": ["sg-" + _hex17(rng) for _ in range(3)],
                    "octet": (a_i * 7 + r_i * 3) % 250 + 1,
                }
            lst = []
            prefix = acct.name.removeprefix("aws-")
            role_counter: dict[str, int] = {}
            for _ in range(plan["n_instances"]):
                region = acct.regions[0] if (rng.random() < 0.5 or len(acct.regions) == 1) else rng.choice(acct.regions)
                windows = rng.random() < 0.25
                distro, version, _ = _wchoice(rng, [(d, d[2]) for d in (WINDOWS_DISTROS if windows else LINUX_DISTROS)])
                ami_key = (region, distro)
                if ami_key not in amis:
                    amis[ami_key] = "ami-" + _hex17(rng)
                while True:
                    iid = "i-" + _hex17(rng)
                    if iid not in used:
                        used.add(iid)
                        break
                role = rng.choice(WINDOWS_ROLES if windows else LINUX_ROLES)
                role_counter[role] = role_counter.get(role, 0) + 1
                stopped = rng.random() < 0.06
                spec = Ec2Spec(instance_id=iid, account_id=acct.account_id, region=region,
                               platform="windows" if windows else "linux",
                               name=f"{prefix}-{role}-{role_counter[role]:02d}", image_id=amis[ami_key],
                               instance_type=_wchoice(rng, INSTANCE_TYPES), state="stopped" if stopped else "running")
                inst = _Inst()
                inst.idx = len(self._insts)
                inst.spec = spec
                inst.acct_idx = a_i
                inst.distro, inst.os_version = distro, version
                octet = self._net[(acct.account_id, region)]["octet"]
                inst.private_ip = f"10.{octet}.{rng.randint(0, 47)}.{rng.randint(4, 250)}"
                inst.launch_tick = -rng.randint(2_000, 400_000)
                inst.computer_name = ("EC2AMAZ-" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                                                           for _ in range(7))
                                      if windows else "ip-" + inst.private_ip.replace(".", "-"))
                inst.vm_id = _guid(rng)
                inst.principal_id = _guid(rng)
                inst.agent_version = _wchoice(rng, [("3.3.1142.0", 60), ("3.3.987.0", 25), ("3.2.2303.0", 15)])
                self._ssm_timeline(rng, inst, stopped)
                if inst.ev_t[0] > FAR_PAST:  # nothing happens to an instance before it was launched
                    inst.ev_t[0] = max(inst.ev_t[0], inst.launch_tick + 1)
                self._arc_timeline(rng, inst)
                if inst.arc_c is not None:
                    inst.arc_c = max(inst.arc_c, inst.launch_tick + 1)
                self._insts.append(inst)
                self._inst_by_key[(acct.account_id, iid)] = inst
                acct.instances.append(spec)
                lst.append(inst)
            self._insts_by_acct.append(lst)

    @staticmethod
    def _ssm_timeline(rng: random.Random, inst: _Inst, stopped: bool):
        """SSM agent events: (tick, state) with the first event in the past."""
        r = rng.random()
        if stopped:
            if r < 0.8:
                inst.ev_t, inst.ev_s = ([-rng.randint(30, 150) if rng.random() < 0.4 else -rng.randint(300, 5_000)],
                                        ["ConnectionLost"])
            else:
                inst.ev_t, inst.ev_s = [FAR_PAST], [None]
            return
        if r < 0.22:  # no agent; about half get one during the demo
            inst.ev_t, inst.ev_s = [FAR_PAST], [None]
            if rng.random() < 0.55:
                inst.ev_t.append(1 + int(rng.expovariate(1 / 25)))
                inst.ev_s.append("Online")
        elif r < 0.26:  # agent lost its connection some time ago; some come back
            inst.ev_t, inst.ev_s = ([-rng.randint(5, 200) if rng.random() < 0.55 else -rng.randint(300, 5_000)],
                                    ["ConnectionLost"])
            if rng.random() < 0.45:
                inst.ev_t.append(1 + int(rng.expovariate(1 / 35)))
                inst.ev_s.append("Online")
        else:  # online; a few drop later (and most of those come back)
            inst.ev_t, inst.ev_s = [-rng.randint(100, 20_000)], ["Online"]
            if rng.random() < 0.04:
                drop = rng.randint(1, 300)
                inst.ev_t.append(drop)
                inst.ev_s.append("ConnectionLost")
                if rng.random() < 0.6:
                    inst.ev_t.append(drop + rng.randint(3, 60))
                    inst.ev_s.append("Online")

    @staticmethod
    def _arc_timeline(rng: random.Random, inst: _Inst):
        """arc_c: tick at which MDC creates the Arc machine (None: never), when auto-provisioning is on."""
        first_state, first_t = inst.ev_s[0], inst.ev_t[0]
        inst.arc_err = rng.random() < 0.02
        inst.arc_delay = rng.randint(1, 6)
        if first_state == "Online":
            if rng.random() < 0.15:  # online but not discovered yet
                arc_c = 1 + int(rng.expovariate(1 / 20))
                # its agent registered recently (1-55 ticks ago), so MDC's hourly EC2 discovery is still due; no
                # draw from rng here, so the rest of the estate stays as it was
                recent = -(1 + (inst.idx * 37) % 55)
                if len(inst.ev_t) == 1 or inst.ev_t[1] > recent:
                    inst.ev_t[0] = max(first_t, recent)
                # discovery runs every hour whatever the scan interval (NOTES §11, quickstart-onboard-aws.md):
                # the Arc machine comes at the latest an hour after the agent registered
                inst.arc_c = max(1, min(arc_c, inst.ev_t[0] + DISCOVERY_TICKS))
            else:
                inst.arc_c = min(0, first_t + rng.randint(1, 50))
        elif first_state == "ConnectionLost":  # was online before: machine exists (Disconnected/Expired)
            inst.arc_c = first_t - rng.randint(100, 5_000) if rng.random() < 0.85 else None
            if inst.arc_c is None and len(inst.ev_t) > 1:
                inst.arc_c = inst.ev_t[1] + rng.randint(1, 12)
        else:
            inst.arc_c = inst.ev_t[1] + rng.randint(1, 12) if len(inst.ev_t) > 1 else None

    @staticmethod
    def _ssm_at(inst: _Inst, t: int) -> tuple[str | None, int]:
        i = bisect.bisect_right(inst.ev_t, t) - 1
        if i < 0:
            i = 0
        return inst.ev_s[i], inst.ev_t[i]

    @staticmethod
    def _first_agent_event(inst: _Inst):
        for i, s in enumerate(inst.ev_s):
            if s is not None:
                return i
        return None

    # ---- entities (AWS resources MDC assesses)
    def _build_entities(self):
        rng = self._rng("entities")
        kinds = self._cat["kinds"]
        mult = int(self._cfg.get("entity_scale", 1))  # 1: the draws of the default and large estates, unchanged
        self._entities: list[list[_Entity]] = []
        for a_i, (acct, plan) in enumerate(zip(self.aws_accounts, self._plans)):
            aid = acct.account_id
            ents: list[_Entity] = []
            prefix = acct.name.removeprefix("aws-")
            uses = {g: rng.random() < p for g, p in GROUP_USAGE.items()}
            if PROFILES.get(plan["profile"] or "", {}).get("containers"):
                uses["ecr"] = True

            # this account's aid/acct/ents bound as defaults (B023): add() is only called within this iteration
            def add(kind, native_id, name, region, arn, first_tick, inst=None, *, aid=aid, acct=acct, ents=ents):
                e = _Entity()
                provider, rtype, scope = kinds[kind]["provider"], kinds[kind]["type"], kinds[kind]["scope"]
                e.kind, e.provider, e.rtype = kind, provider, rtype
                # first evaluated at a week boundary (shared status dicts keep the large estate small in memory)
                first_tick = (first_tick // 10_080) * 10_080
                e.native_id, e.name, e.arn, e.first_tick, e.inst = native_id, name, arn, first_tick, inst
                e.region = None if scope in ("global", "account") else region
                if kind == "account":
                    e.entity_name = f"aws-account-{aid}"
                elif kind == "account-in-region":
                    e.entity_name = f"aws-account-in-region-{aid}-{region}"
                else:
                    e.entity_name = f"aws-{provider}-{rtype}-{native_id}" + (f"-{e.region}" if e.region else "")
                extra = {"ResourceName": name, "ResourceProvider": provider, "ResourceType": rtype,
                         "Region": e.region or "global", "AccountId": aid}
                if kind in ("account", "account-in-region"):
                    extra["EnvironmentDisplayName"] = acct.name
                e.additional = extra
                ents.append(e)

            add("account", aid, aid, None, f"AWS::::Account:{aid}", -rng.randint(50_000, 500_000))
            for region in acct.regions:
                add("account-in-region", aid, f"{aid}/{region}", region, f"AWS::::Account:{aid}",
                    -rng.randint(50_000, 500_000))
            for inst in self._insts_by_acct[a_i]:
                s = inst.spec
                add("ec2.instance", s.instance_id, s.instance_id, s.region,
                    f"arn:aws:ec2:{s.region}:{aid}:instance/{s.instance_id}", inst.launch_tick + rng.randint(1, 500),
                    inst)
            for region, cname in acct.eks_clusters:
                add("eks.cluster", cname, cname, region, f"arn:aws:eks:{region}:{aid}:cluster/{cname}",
                    -rng.randint(1_000, 100_000))
            counters: dict[str, int] = {}
            for kind, (group, (lo, hi), per_region) in ENTITY_PLAN.items():
                if not uses[group]:
                    continue
                provider, rtype = kinds[kind]["provider"], kinds[kind]["type"]
                regions: Sequence[str | None] = acct.regions if per_region else [None]
                for one_region in regions:  # None: an entity of a region drawn per entity
                    for k in range(rng.randint(lo * mult, hi * mult)):
                        reg = one_region or (acct.regions[0] if rng.random() < 0.6 else rng.choice(acct.regions))
                        counters[kind] = counters.get(kind, 0) + 1
                        n = counters[kind]
                        native, name, arn = self._entity_identity(rng, kind, provider, rtype, aid, reg, prefix, n)
                        net = self._net[(aid, reg)]
                        # the VPC, subnets and security groups the instances use are assessed entities too
                        if kind == "ec2.vpc":
                            native = name = net["vpc"]
                        elif kind == "ec2.subnet" and k < len(net["subnets"]):
                            native = name = net["subnets"][k]
                        elif kind == "ec2.security-group" and k < len(net["sgs"]):
                            native = net["sgs"][k]
                            name = "default" if k == 0 else f"{prefix}-{APP_NAMES[k % len(APP_NAMES)]}-sg"
                        if kind in ("ec2.vpc", "ec2.subnet", "ec2.security-group"):
                            arn = f"arn:aws:ec2:{reg}:{aid}:{rtype}/{native}"
                        add(kind, native, name, reg, arn, -rng.randint(500, 300_000))
            self._entities.append(ents)

    def _entity_identity(self, rng, kind, provider, rtype, aid, region, prefix, n):
        ec2_prefix = {"ec2.security-group": "sg", "ec2.subnet": "subnet", "ec2.network-acl": "acl",
                      "ec2.volume": "vol", "ec2.snapshot": "snap", "ec2.elastic-ip": "eipalloc",
                      "ec2.launch-template": "lt", "ec2.vpc": "vpc"}
        if kind in ec2_prefix:
            native = f"{ec2_prefix[kind]}-{_hex17(rng)}"
            return native, native, f"arn:aws:ec2:{region}:{aid}:{rtype}/{native}"
        app = APP_NAMES[(n + len(prefix)) % len(APP_NAMES)]
        if kind == "s3.bucket":
            suffix = "" if n <= len(BUCKET_PURPOSES) else f"-{n}"
            name = f"contoso-{prefix}-{BUCKET_PURPOSES[(n - 1) % len(BUCKET_PURPOSES)]}-{aid[-4:]}{suffix}"
            return name, name, f"arn:aws:s3:::{name}"
        if kind == "iam.user":
            name = IAM_USERS[(n - 1) % len(IAM_USERS)] + ("" if n <= len(IAM_USERS) else f"-{n}")
            return name, name, f"arn:aws:iam::{aid}:user/{name}"
        if kind == "iam.policy":
            name = IAM_POLICIES[(n - 1) % len(IAM_POLICIES)] + ("" if n <= len(IAM_POLICIES) else f"{n}")
            return name, name, f"arn:aws:iam::{aid}:policy/{name}"
        if kind == "kms.key":
            key = _guid(rng)
            return key, key, f"arn:aws:kms:{region}:{aid}:key/{key}"
        if kind == "cloudtrail.trail":
            name = "management-events" if n == 1 else f"trail-{n}"
            return name, name, f"arn:aws:cloudtrail:{region}:{aid}:trail/{name}"
        if kind == "acm.certificate":
            cid = _guid(rng)
            return cid, f"{app}.contoso.com", f"arn:aws:acm:{region}:{aid}:certificate/{cid}"
        if kind == "cloudfront.distribution":
            did = "E" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(13))
            return did, did, f"arn:aws:cloudfront::{aid}:distribution/{did}"
        name = f"{prefix}-{app}-{n:02d}"
        if kind in ("sns.topic", "sqs.queue"):
            return name, name, f"arn:aws:{provider}:{region}:{aid}:{name}"
        if kind == "lambda.function":
            return name, name, f"arn:aws:lambda:{region}:{aid}:function:{name}"
        if kind.startswith("rds."):
            short = {"db-instance": "db", "db-cluster": "cluster", "snapshot": "snapshot"}[rtype]
            return name, name, f"arn:aws:rds:{region}:{aid}:{short}:{name}"
        return name, name, f"arn:aws:{provider}:{region}:{aid}:{rtype}/{name}"

    # ---- assessment pairs (entity x recommendation) with their behaviour over time
    def _build_pairs(self):
        rng = self._rng("assessments")
        recs = self._cat["recs"]
        recs_by_kind = self._cat["recs_by_kind"]
        # per recommendation: how often a resource fails it and how many of its resources drift back and forth
        self._fail_rate, cycle_share = [], []
        for _ in recs:
            x = rng.random()
            if x < 0.40:  # clean: passes, except resources that drift now and then
                self._fail_rate.append(0.0)
                cycle_share.append(0.03)
            elif x < 0.75:  # mixed
                self._fail_rate.append(rng.betavariate(1.2, 4.0))
                cycle_share.append(0.20)
            else:  # mostly failing
                self._fail_rate.append(rng.betavariate(3.0, 2.0))
                cycle_share.append(0.10)
        self._pairs: list[list[tuple]] = []
        for ents in self._entities:
            pairs = []
            for e_i, ent in enumerate(ents):
                for r_i in recs_by_kind.get(ent.kind, ()):
                    rec = recs[r_i]
                    mode = rec.mode
                    if mode == "ssm1":
                        pairs.append((e_i, r_i, M_SSM1, 0, 0, 0))
                    elif mode == "ssm_managed":
                        pairs.append((e_i, r_i, M_SSM_MANAGED, U if rng.random() < self._fail_rate[r_i] else H, 0, 0))
                    elif mode == "stopped":
                        code = U if ent.inst is not None and ent.inst.spec.state == "stopped" else H
                        pairs.append((e_i, r_i, M_STATIC, code, -60 * rng.randint(1, 80), 0))
                    else:
                        x = rng.random()
                        if x < 0.03:
                            pairs.append((e_i, r_i, M_STATIC, NA, -60 * rng.randint(1, 80),
                                          rng.randrange(len(NA_CAUSES))))
                        elif x < 0.03 + cycle_share[r_i]:
                            down, up = rng.randint(20, 250), rng.randint(20, 400)
                            pairs.append((e_i, r_i, M_CYCLE, rng.randrange(down + up), down, up))
                        else:
                            code = U if rng.random() < self._fail_rate[r_i] else H
                            pairs.append((e_i, r_i, M_STATIC, code, -60 * rng.randint(1, 80), 0))
            self._pairs.append(pairs)

    def _pair_status(self, pair, ent: _Entity, t: int, ssm_now) -> tuple[int, int, int]:
        """(code, change tick, NA cause index) of a pair at tick t."""
        _, _, mode, a, b, c = pair
        if mode == M_STATIC:
            return a, b, c
        if mode == M_CYCLE:
            pos = (t + a) % (b + c)
            if pos < b:
                return U, t - pos, 0
            return H, t - (pos - b), 0
        state, since = ssm_now[ent.inst.idx]  # type: ignore[union-attr]  # the SSM modes are EC2 entities' only
        if mode == M_SSM1:
            return (H if state == "Online" else U), since, 0
        # M_SSM_MANAGED
        if state == "Online":
            return a, since, 0
        return NA, since, 2

    def _status_dict(self, code: int, change: int, first: int, cause: int) -> dict:
        change = max(change, first)
        key = (code, change, first, cause)
        d = self._status_intern.get(key)
        if d is not None:
            return d  # shared between rows (read-only)
        d = {"code": CODES[code]}
        if code == NA:
            d["cause"], d["description"] = NA_CAUSES[cause]
        d["firstEvaluationDate"] = self._iso(first)
        d["statusChangeDate"] = self._iso(change)
        if len(self._status_intern) < 500_000:
            self._status_intern[key] = d
        return d

    # ---- Azure stores
    def _build_stores(self):
        rng = self._rng("azure")
        cat = self._cat
        self._offering_roles = cat["roles"]["offering_roles"]
        self.security_connectors: dict[str, dict] = {}
        self.classic_connectors: dict[str, dict] = {}
        self.pricings: dict[str, dict[str, dict]] = {}
        self.providers: dict[str, dict[str, str]] = {}
        self.permissions: dict[str, list[dict]] = {}
        self._iam_roles: dict[str, list[str]] = {}
        self._stacks: dict[str, dict] = {}
        self.classic_role_name = cat["roles"]["classic"]["role_name"]

        by_org_regions: dict[int, list[str]] = {}
        for p, acct in zip(self._plans, self.aws_accounts):
            if p["org"] is not None:
                by_org_regions.setdefault(p["org"], [])
                for r in acct.regions:
                    if r not in by_org_regions[p["org"]]:
                        by_org_regions[p["org"]].append(r)
        # the org connector scans the org's most used regions (some members' regions stay unscanned)
        org_regions = {}
        for o, regs in by_org_regions.items():
            counts = {r: 0 for r in regs}
            for p, acct in zip(self._plans, self.aws_accounts):
                if p["org"] == o:
                    for r in acct.regions:
                        counts[r] += 1
            org_regions[o] = sorted(regs, key=lambda r: (-counts[r], REGIONS.index(r)))[:5]

        org_scan: dict[int, int] = {}
        hrng = self._rng("azure-health")  # the planted health accounts draw from their own stream
        for p, acct in zip(self._plans, self.aws_accounts):
            aid = acct.account_id
            sub = self._sub_ids[p["sub"]]
            rr = hrng if "health" in p["flags"] else rng
            if p["profile"] is not None:
                if p["role"] == ORG_SINGLE:
                    named = self._kind == "default" or acct.name in ("aws-dev", "aws-staging", "aws-sandbox",
                                                                      "aws-legacy-crm")
                    name = acct.name if (named or "health" in p["flags"] or rr.random() < 0.5) else \
                        f"awsconnector_{aid}"
                    regions = [acct.regions[0]] if "home_region_only" in p["flags"] else list(acct.regions)
                    scan = rr.choice([4, 6, 12, 24])
                    org_data = None
                elif p["role"] == ORG_MANAGEMENT:
                    name = acct.name
                    regions = list(org_regions[p["org"]])
                    scan = org_scan.setdefault(p["org"], rr.choice([4, 12]))
                    org_data = {"organizationMembershipType": "Organization",
                                "stacksetName": f"MDC-{acct.name}-StackSet", "excludedAccountIds": []}
                else:
                    mgmt = p["parent"]
                    name = f"{mgmt['name']}_{aid}"
                    regions = list(org_regions[p["org"]])
                    scan = org_scan.setdefault(p["org"], rr.choice([4, 12]))
                    org_data = {"organizationMembershipType": "Member",
                                "parentHierarchyId": mgmt["account_id"]}
                if "pending" in p["flags"]:
                    scan = 4  # first scan window = max(12 h, scan interval): 12 h
                body = self._aws_connector_body(rr, sub, p["rg"], name, aid, regions, scan, org_data, p)
                self.security_connectors[body["id"].lower()] = body
                roles = sorted({arn.rsplit("/", 1)[-1] for arn in _walk_role_arns(body["properties"]["offerings"])
                                if f"::{aid}:" in arn})
                if "drift" in p["flags"]:
                    roles = [x for x in roles if x != "DefenderForCloud-ArcAutoProvisioning"]
                self._iam_roles[aid] = roles
                # the connector's stack: in the connector's first region (where the core looks first); a member's
                # is the StackSet's stack instance there
                stack = {"StackName": "DefenderForCloud-Connector" if p["role"] != ORG_MEMBER else
                         f"StackSet-{p['parent']['name']}-StackSet-{_uuid5('stack', aid)[:8]}",
                         "Region": regions[0], "Status": "CREATE_COMPLETE", "FailedResource": None, "Reason": None}
                if "stack_rollback" in p["flags"]:
                    stack.update(Status="UPDATE_ROLLBACK_COMPLETE", FailedResource="AgentlessScannerRole",
                                 Reason=STACK_ROLLBACK_REASON.format(account=aid))
                if p["role"] == ORG_MANAGEMENT:
                    stack["StackSetName"] = f"MDC-{acct.name}-StackSet"
                self._stacks[aid] = stack
            if "dup" in p["flags"] or "classic_only" in p["flags"]:
                csub = self._sub_ids[p["sub"]]
                body = self._classic_body(rng, csub, acct, valid="dup" in p["flags"])
                self.classic_connectors[body["id"].lower()] = body
                if body["properties"]["authenticationDetails"]["authenticationType"] == "awsAssumeRole":
                    self._iam_roles.setdefault(aid, [])
                    self._iam_roles[aid] = sorted(set(self._iam_roles[aid]) | {self.classic_role_name})
        self._seeded_classic = set(self.classic_connectors)  # only these left rows before the 2023 retirement
        # non-AWS connectors readers must skip
        other_sub = self._sub_ids[SUB_READER if len(self._sub_ids) > SUB_READER else 0]
        for body in (self._gcp_body(rng, other_sub), self._github_body(rng, other_sub)):
            self.security_connectors[body["id"].lower()] = body

        for i, sub in enumerate(self._sub_ids):
            self.pricings[sub] = self._pricings(rng, sub, i)
            self.providers[sub] = {"Microsoft.Security": "Registered", "Microsoft.HybridCompute": "Registered",
                                   "Microsoft.GuestConfiguration": "NotRegistered" if i == SUB_READER else "Registered",
                                   "Microsoft.HybridConnectivity": "Registered"}
            if i == SUB_READER:
                perms = [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}]
            elif i % 2 == 1:  # Contributor
                perms = [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Delete",
                                                           "Microsoft.Authorization/*/Write",
                                                           "Microsoft.Authorization/elevateAccess/Action"],
                          "dataActions": [], "notDataActions": []}]
            else:  # Owner
                perms = [{"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []}]
            self.permissions[sub] = perms

    # ---- planted situations (NOTES §11)
    def _plant_opt_in_region(self):
        """One native single account lists an opt-in region it has not enabled in AWS among its connector's regions:
        nothing runs there, and the AWS emulator answers AuthFailure / InvalidClientTokenId for it."""
        self.opt_in_disabled: set[tuple[str, str]] = set()
        bad = {"denied", "dup", "classic_only", "home_region_only"}
        cands = [(p, a) for p, a in zip(self._plans, self.aws_accounts)
                 if p["role"] == ORG_SINGLE and p["profile"] is not None and not p["flags"] & bad]
        if not cands:
            return
        p, acct = next(((p, a) for p, a in cands if a.name == "aws-staging"), cands[0])
        if OPT_IN_REGION not in acct.regions:
            acct.regions.append(OPT_IN_REGION)  # after instances and entities were drawn: none are there
        p["flags"].add("opt_in_region")
        self.opt_in_disabled.add((acct.account_id, OPT_IN_REGION))

    def _build_assignments(self):
        """Standards assigned per AWS account with a native connector: MCSB and FSBP always (NOTES §11), the others
        on some accounts (each on at least one account, never on all). An account without one (classic-only) gets
        the defaults once a native connector is created for it."""
        rng = self._rng("standard-assignments")
        names = [s["name"] for s in self._cat["standards"]]
        # the planted health accounts get the defaults only (no draw: the others keep theirs)
        native = [i for i, p in enumerate(self._plans) if p["profile"] is not None and "health" not in p["flags"]]
        extra: dict[int, set[str]] = {i: set() for i in native}
        for i in native:
            for std, share in OPTIONAL_STANDARDS:
                if rng.random() < share or (std == PCI_321 and "payments" in self.aws_accounts[i].name):
                    extra[i].add(std)
        for k, (std, _) in enumerate(OPTIONAL_STANDARDS):
            have = [i for i in native if std in extra[i]]
            if not have and native:
                extra[native[(3 * k + 1) % len(native)]].add(std)
            elif len(have) == len(native) > 1:
                extra[have[-1]].discard(std)
        self._assigned: list[tuple[str, ...]] = [
            () if "no_standard" in p["flags"] else
            tuple(n for n in names if n in DEFAULT_STANDARDS or n in extra.get(i, ()))
            for i, p in enumerate(self._plans)]
        # the account with no standard assigned (planted) must not have been the only one with an optional standard
        for std, _ in OPTIONAL_STANDARDS:
            if not any(std in a for a in self._assigned):
                i = next(i for i in native if self._assigned[i])
                self._assigned[i] = tuple(n for n in names if n in self._assigned[i] or n == std)
        self._sub_index = {sub: i for i, sub in enumerate(self._sub_ids)}

    def _plant_health(self):
        """The planted health problems (issue 13) outside the accounts' own flags: the excluded account on the first
        organization's management connector, the resource lock, and every account's AWS set-up (`aws_setup`)."""
        self.locks: dict[str, dict] = {}
        self._setup: dict[str, dict] = {}
        conns: dict[str, dict] = {}
        for body in self.security_connectors.values():
            props = body.get("properties") or {}
            if props.get("environmentName") == "AWS":
                conns.setdefault(str(props.get("hierarchyIdentifier")), body)
        for mgmt_aid, extra in self._org_extra.items():
            mgmt_body = conns.get(mgmt_aid)
            if mgmt_body is not None:
                org = mgmt_body["properties"]["environmentData"]["organizationalData"]
                org["excludedAccountIds"] = sorted(e["Id"] for e in extra if e["excluded"])
        for p in self._plans:
            locked = conns.get(p["account_id"])
            if "locked" in p["flags"] and locked is not None:
                # Microsoft.Authorization/locks (ManagementLockObject): a lock at the connector's own scope
                lid = f"{locked['id']}/providers/{LOCK_API_TYPE}/do-not-delete"
                self.locks[lid.lower()] = {
                    "id": lid, "name": "do-not-delete", "type": LOCK_API_TYPE,
                    "properties": {"level": "CanNotDelete",
                                   "notes": "Production security connector: change request CR-2291 required"}}
        for a_i, (p, acct) in enumerate(zip(self._plans, self.aws_accounts)):
            self._setup[acct.account_id] = self._account_setup(a_i, p, acct, conns.get(acct.account_id))

    def _joined_tick(self, account_id: str) -> int:
        """When an account joined its organization (JoinedTimestamp), long before any connector existed."""
        return -(520_000 + uuid.uuid5(NS, f"joined/{account_id}").int % 200_000)

    def _account_setup(self, a_i: int, p: dict, acct: AwsAccountSpec, body: dict | None) -> dict:
        """What the AWS emulator seeds in the account beyond the roles (the contract's aws_setup keys)."""
        aid, flags = acct.account_id, p["flags"]
        ents = self._entities[a_i]
        buckets = [e.name for e in ents if e.kind == "s3.bucket"][:3]
        setup: dict[str, Any] = {}
        if body is not None:
            regions = list(body["properties"]["environmentData"].get("regions") or acct.regions)
            setup["oidc"] = ("missing" if "oidc_missing" in flags else "sentinel" if "oidc_sentinel" in flags
                             else "mdc")
            if "trust_mismatch" in flags:
                setup["trust_mismatch"] = ["CspmMonitorAws"]
            if "least_privilege" in flags:
                setup["least_privilege"] = {"role": "CspmMonitorAws",
                                            "actions": [x for x in LEAST_PRIVILEGE_ACTIONS if not x.startswith("eks:")]}
            stack = self._stacks.get(aid)
            if stack is not None:
                setup["stack"] = {k: stack[k] for k in ("StackName", "Region", "Status", "FailedResource", "Reason")}
            if p["role"] == ORG_MANAGEMENT:
                members = [(mp, ma) for mp, ma in zip(self._plans, self.aws_accounts)
                           if mp["role"] == ORG_MEMBER and mp["parent"] is p]
                instances = []
                for mp, ma in members:
                    for region in regions:
                        inst = {"Account": ma.account_id, "Region": region, "Status": "CURRENT",
                                "DetailedStatus": "SUCCEEDED", "StatusReason": None}
                        if "failed_instance" in mp["flags"] and region == regions[-1]:
                            inst.update(Status="OUTDATED", DetailedStatus="FAILED", StatusReason=STACKSET_FAILED_REASON)
                        instances.append(inst)
                setup["stackset"] = {"StackSetName": (stack or {}).get("StackSetName") or f"MDC-{acct.name}-StackSet",
                                     "instances": instances}
                setup["trusted_access"] = "trusted_access_off" not in flags
                org_accounts = [{"Id": aid, "Name": acct.name, "Status": "ACTIVE",
                                 "JoinedTimestamp": self.time_of(self._joined_tick(aid))}]
                org_accounts += [{"Id": ma.account_id, "Name": ma.name, "Status": "ACTIVE",
                                  "JoinedTimestamp": self.time_of(self._joined_tick(ma.account_id))}
                                 for _, ma in members]
                org_accounts += [{"Id": e["Id"], "Name": e["Name"], "Status": e["Status"],
                                  "JoinedTimestamp": self.time_of(e["joined_tick"])}
                                 for e in self._org_extra.get(aid, ())]
                setup["org_accounts"] = org_accounts
            prefix = acct.name.removeprefix("aws-")
            queue = (SENTINEL_QUEUE if "sentinel_trail" in flags else
                     "azuredefender-cloudtrail-queue" if "org_extras" in flags else None)
            if queue is not None:  # an S3 bucket CloudTrail writes to, whose notifications go to that queue
                bucket = f"contoso-{prefix}-cloudtrail-{aid[-4:]}"
                setup["trail"] = {"TrailName": "management-events", "Bucket": bucket, "Region": regions[0],
                                  "Queue": queue}
                buckets.append(bucket)
            prof = PROFILES.get(p["profile"] or "", {})
            if self._kind == "default" and (prof.get("dcspm") or prof.get("databases")):
                setup["rds"] = [(e.region, e.name) for e in ents if e.kind == "rds.db-instance"][:2]
        setup["buckets"] = buckets
        return setup

    def _plant_untagged_arc(self):
        """In one native account with Servers + Arc, a few Arc machines installed by hand (no MDC tags), named by
        the computer name (EC2 private DNS first label) and one by the EC2 Name tag, in place of the MDC-tagged
        machines of those instances (one machine per instance). Also names a few Arc machines that are gone."""
        self._untagged: dict[int, tuple[str, str, str]] = {}  # instance index -> (machine name, computer, how)
        self.untagged_account: str | None = None
        self._gone_machines: list[str] = []
        # names a reader matches must be unique in the estate: private DNS first labels and Name tags
        seen = collections.Counter(n for inst in self._insts for n in {inst.computer_name.lower(),
                                                                       inst.spec.name.lower()})
        conns: dict[str, dict] = {}
        for stored in self.security_connectors.values():
            props = stored.get("properties") or {}
            if props.get("environmentName") == "AWS" and self._caps(stored)[1]:
                conns.setdefault(props["hierarchyIdentifier"], stored)
        bad = {"denied", "dup", "classic_only", "drift", "opt_in_region", "health"}
        for a_i, (p, acct) in enumerate(zip(self._plans, self.aws_accounts)):
            body = conns.get(acct.account_id)
            if body is None or p["flags"] & bad or p["role"] == ORG_MANAGEMENT:
                continue
            regions = set(body["properties"]["environmentData"].get("regions") or [])
            ok = [i for i in self._insts_by_acct[a_i]
                  if i.spec.state == "running" and i.arc_c is not None and i.arc_c <= 0 and not i.arc_err
                  and i.spec.region in regions
                  and seen[i.computer_name.lower()] == 1 and seen[i.spec.name.lower()] == 1]
            linux_online = [i for i in ok if i.spec.platform == "linux" and i.ev_s == ["Online"]]
            lost = [i for i in ok if i.spec.platform == "linux" and i.ev_s[0] == "ConnectionLost"]
            if len(linux_online) < 3 or not lost:
                continue
            for inst in linux_online[:2] + lost[:1]:
                self._untagged[inst.idx] = (inst.computer_name, inst.computer_name, "private_dns")
            named = linux_online[2]
            self._untagged[named.idx] = (named.spec.name, named.spec.name, "name_tag")
            self.untagged_account = acct.account_id
            self._gone_machines = ["i-" + _uuid5("gone", acct.account_id, k).replace("-", "")[:17] for k in range(3)]
            break

    def _arn(self, aid: str, role: str) -> str:
        return f"arn:aws:iam::{aid}:role/{role}"

    def _system_data(self, rng, created_tick: int, app: bool = False) -> dict:
        who, kind = (("Microsoft Defender for Cloud", "Application") if app else
                     (rng.choice(["secops@contoso.com", "cloud-admin@contoso.com", "jane.doe@contoso.com"]), "User"))
        modified = created_tick + rng.randint(0, -created_tick // 2) if created_tick < 0 else created_tick
        return {"createdBy": who, "createdByType": kind, "createdAt": _ts_ms(self.time_of(created_tick)),
                "lastModifiedBy": who, "lastModifiedByType": kind, "lastModifiedAt": _ts_ms(self.time_of(modified))}

    def _aws_connector_body(self, rng, sub, rg, name, aid, regions, scan, org_data, plan) -> dict:
        prof = PROFILES[plan["profile"]]
        roles = self._offering_roles
        arn = lambda offering, field: self._arn(aid, roles[offering][field])  # noqa: E731
        offerings: list[dict[str, Any]] = [{"offeringType": "CspmMonitorAws",
                      "nativeCloudConnection": {"cloudRoleArn": arn("CspmMonitorAws", "nativeCloudConnection")}}]
        if prof.get("dcspm"):
            offerings.append({
                "offeringType": "DefenderCspmAws",
                "vmScanners": {"enabled": True, "configuration": {
                    "cloudRoleArn": arn("DefenderCspmAws", "vmScanners"), "scanningMode": "Default",
                    "exclusionTags": {}}},
                "dataSensitivityDiscovery": {"enabled": True,
                                             "cloudRoleArn": arn("DefenderCspmAws", "dataSensitivityDiscovery")},
                "databasesDspm": {"enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "databasesDspm")},
                "ciem": {"ciemDiscovery": {"cloudRoleArn": arn("DefenderCspmAws", "ciemDiscovery")},
                         "ciemOidc": {"cloudRoleArn": arn("DefenderCspmAws", "ciemOidc"),
                                      "azureActiveDirectoryAppName": "mciem-aws-oidc-app"}},
                "mdcContainersImageAssessment": {
                    "enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "mdcContainersImageAssessment")},
                "mdcContainersAgentlessDiscoveryK8s": {
                    "enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "mdcContainersAgentlessDiscoveryK8s")},
            })
        if prof.get("servers"):
            offerings.append({
                "offeringType": "DefenderForServersAws",
                "defenderForServers": {"cloudRoleArn": arn("DefenderForServersAws", "defenderForServers")},
                "arcAutoProvisioning": {"enabled": bool(prof.get("arc")),
                                        "cloudRoleArn": arn("DefenderForServersAws", "arcAutoProvisioning"),
                                        "configuration": {}},
                "mdeAutoProvisioning": {"enabled": bool(prof.get("mde")), "configuration": {}},
                "vaAutoProvisioning": {"enabled": bool(prof.get("va")),
                                       "configuration": {"type": prof.get("va") or "TVM"}},
                "subPlan": {"type": prof["servers"]},
                "vmScanners": {"enabled": prof["servers"] == "P2", "configuration": {
                    "cloudRoleArn": arn("DefenderForServersAws", "vmScanners"), "scanningMode": "Default",
                    "exclusionTags": {}}},
            })
        if prof.get("containers"):
            offerings.append({
                "offeringType": "DefenderForContainersAws",
                "kubernetesService": {"cloudRoleArn": arn("DefenderForContainersAws", "kubernetesService")},
                "kubernetesScubaReader": {"cloudRoleArn": arn("DefenderForContainersAws", "kubernetesScubaReader")},
                "cloudWatchToKinesis": {"cloudRoleArn": arn("DefenderForContainersAws", "cloudWatchToKinesis")},
                "kinesisToS3": {"cloudRoleArn": arn("DefenderForContainersAws", "kinesisToS3")},
                "enableContainerVulnerabilityAssessment": False,
                "autoProvisioning": True,
                "kubeAuditRetentionTime": 30,
                "scubaExternalId": "b6d36db8-eda7-4617-9d4f-41149b899dc7",
                "mdcContainersImageAssessment": {
                    "enabled": True, "cloudRoleArn": arn("DefenderForContainersAws", "mdcContainersImageAssessment")},
                "mdcContainersAgentlessDiscoveryK8s": {
                    "enabled": True,
                    "cloudRoleArn": arn("DefenderForContainersAws", "mdcContainersAgentlessDiscoveryK8s")},
            })
        if prof.get("databases"):
            offerings.append({
                "offeringType": "DefenderForDatabasesAws",
                "arcAutoProvisioning": {"enabled": True,
                                        "cloudRoleArn": arn("DefenderForDatabasesAws", "arcAutoProvisioning"),
                                        "configuration": {}},
                "rds": {"enabled": True, "cloudRoleArn": arn("DefenderForDatabasesAws", "rds")},
                "databasesDspm": {"enabled": True, "cloudRoleArn": arn("DefenderForDatabasesAws", "databasesDspm")},
            })
        if "unknown_offering" in plan["flags"]:
            offerings.append({"offeringType": UNKNOWN_OFFERING,
                              "aiServices": {"cloudRoleArn": self._arn(aid, "DefenderForCloud-AiServices")}})
        for off in offerings:  # read-only descriptions, as a GET returns them
            off["description"] = OFFERING_DESCRIPTIONS.get(off["offeringType"], "")
        env: dict[str, Any] = {"environmentType": "AwsAccount", "regions": regions, "scanInterval": scan}
        if "no_account_name" not in plan["flags"]:
            env["accountName"] = plan["name"]  # read-only alias (absent on one connector: readers must cope)
        if org_data is not None:
            env["organizationalData"] = org_data
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"
        created = -rng.randint(20_000, 500_000)
        if "pending" in plan["flags"]:
            created = -PENDING_TICKS  # under 12 h old at tick 0: its first scan is pending
        tags = {} if rng.random() < 0.6 else {"owner": "cloud-security", "costCenter": "SEC-042"}
        return {
            "id": rid, "name": name, "type": "Microsoft.Security/securityConnectors",
            "etag": f'"{_uuid5("etag", rid)}"', "kind": "", "location": "Central US", "tags": tags,
            "systemData": self._system_data(rng, created, app=plan["role"] == ORG_MEMBER),
            "properties": {"hierarchyIdentifier": aid, "environmentName": "AWS", "environmentData": env,
                           "offerings": offerings},
        }

    def _gcp_body(self, rng, sub) -> dict:
        rid = (f"/subscriptions/{sub}/resourceGroups/multicloud-rg/providers/Microsoft.Security/securityConnectors/"
               "gcp-contoso-analytics")
        number = f"{rng.randrange(10**11, 10**12)}"
        return {
            "id": rid, "name": "gcp-contoso-analytics", "type": "Microsoft.Security/securityConnectors",
            "etag": f'"{_uuid5("etag", rid)}"', "kind": "", "location": "Central US", "tags": {},
            "systemData": self._system_data(rng, -rng.randint(20_000, 500_000)),
            "properties": {
                "hierarchyIdentifier": number, "environmentName": "GCP",
                "environmentData": {"environmentType": "GcpProject", "projectDetails": {
                    "projectNumber": number, "projectId": "contoso-analytics-prod",
                    "workloadIdentityPoolId": _uuid5("gcp-pool", rid).replace("-", "")}},
                "offerings": [{"offeringType": "CspmMonitorGcp", "nativeCloudConnection": {
                    "workloadIdentityProviderId": "cspm", "serviceAccountEmailAddress":
                        "microsoft-defender-cspm@contoso-analytics-prod.iam.gserviceaccount.com"}}],
            },
        }

    def _github_body(self, rng, sub) -> dict:
        rid = (f"/subscriptions/{sub}/resourceGroups/devops-rg/providers/Microsoft.Security/securityConnectors/"
               "github-contoso")
        return {
            "id": rid, "name": "github-contoso", "etag": f'"{_uuid5("etag", rid)}"',
            "type": "Microsoft.Security/securityconnectors", "location": "centralus", "kind": "", "tags": {},
            "systemData": self._system_data(rng, -rng.randint(20_000, 500_000)),
            "properties": {
                "hierarchyIdentifier": f"/subscriptions/{sub}/resourceGroups/devops-rg/providers/"
                                       "Microsoft.SecurityDevops/githubConnectors/contoso",
                "environmentName": "Github", "environmentData": {"environmentType": "GithubScope"},
                "offerings": [{"offeringType": "CspmMonitorGithub"}],
            },
        }

    def _classic_body(self, rng, sub, acct: AwsAccountSpec, valid: bool) -> dict:
        name = "aws_" + acct.name.removeprefix("aws-").replace("-", "_")
        rid = f"/subscriptions/{sub}/providers/Microsoft.Security/connectors/{name}"
        granted = list(self._cat["roles"]["classic"]["granted_permissions"])
        hybrid = {"hybridComputeProvisioningState": "Valid" if valid else "Expired", "autoProvision": "On",
                  "resourceGroupName": "AwsConnectorRG", "region": "West US 2",
                  "servicePrincipal": {"applicationId": _guid(rng)}}
        if valid:
            hybrid["proxyServer"] = {"ip": f"10.20.{rng.randint(0, 255)}.{rng.randint(1, 254)}", "port": "3128"}
        if valid:
            auth = {"authenticationProvisioningState": "Valid", "grantedPermissions": granted,
                    "authenticationType": "awsAssumeRole", "accountId": acct.account_id,
                    "awsAssumeRoleArn": self._arn(acct.account_id, self.classic_role_name), "awsExternalId": sub}
        else:
            auth = {"authenticationProvisioningState": "Expired", "grantedPermissions": granted,
                    "authenticationType": "awsCreds", "accountId": acct.account_id,
                    "awsAccessKeyId": "null", "awsSecretAccessKey": "null"}
        return {"id": rid, "name": name, "type": "Microsoft.Security/connectors",
                "properties": {"hybridComputeSettings": hybrid, "authenticationDetails": auth}}

    def _pricings(self, rng, sub: str, i: int) -> dict[str, dict]:
        enabled = _ts(self.time_of(-rng.randint(50_000, 500_000)) + rng.random())
        if i == 0:
            vm, vm_plan, cspm, containers = "Standard", "P2", "Standard", "Standard"
        elif i == SUB_VM_FREE:
            vm, vm_plan, cspm, containers = "Free", None, "Standard", "Standard"
        elif i == SUB_READER:
            vm, vm_plan, cspm, containers = "Standard", "P1", "Free", "Free"
        else:
            vm, vm_plan = "Standard", rng.choice(["P1", "P2", "P2"])
            cspm = "Standard" if rng.random() < 0.7 else "Free"
            containers = "Standard" if rng.random() < 0.6 else "Free"

        def plan(name, tier, sub_plan=None, coverage=None, extensions=None, deprecated=False):
            props = {"pricingTier": tier}
            if sub_plan and tier == "Standard":
                props["subPlan"] = sub_plan
            props["freeTrialRemainingTime"] = "PT0S"
            if tier == "Standard":
                props["enablementTime"] = enabled
            props["enforce"] = "False"
            props["resourcesCoverageStatus"] = coverage or ("FullyCovered" if tier == "Standard" else "NotCovered")
            if extensions and tier == "Standard":
                props["extensions"] = extensions
            if deprecated:
                props["deprecated"] = True
                props["replacedBy"] = ["Containers"]
            return {"id": f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}", "name": name,
                    "type": "Microsoft.Security/pricings", "properties": props}

        scanning = {"name": "AgentlessVmScanning", "isEnabled": "True",
                    "additionalExtensionProperties": {"ExclusionTags": "[]"}}
        items = [
            plan("VirtualMachines", vm, vm_plan, "PartiallyCovered" if vm == "Standard" else None,
                 [scanning] if vm_plan == "P2" else None),
            plan("SqlServers", "Standard"), plan("AppServices", "Free"),
            plan("StorageAccounts", "Standard", "DefenderForStorageV2", None, [
                {"name": "OnUploadMalwareScanning", "isEnabled": "True",
                 "additionalExtensionProperties": {"capGBPerMonthPerStorageAccount": 5000}},
                {"name": "SensitiveDataDiscovery", "isEnabled": "True"}]),
            plan("SqlServerVirtualMachines", "Standard"),
            plan("KubernetesService", "Free", deprecated=True), plan("ContainerRegistry", "Free", deprecated=True),
            plan("KeyVaults", "Standard", "PerKeyVault"), plan("Dns", "Standard"),
            plan("Arm", "Standard", "PerSubscription"),
            plan("OpenSourceRelationalDatabases", "Free"),
            plan("Containers", containers, None, None, [{"name": "ContainerRegistriesVulnerabilityAssessments",
                                                          "isEnabled": "True"}]),
            plan("CloudPosture", cspm, None, None, [
                dict(scanning), {"name": "AgentlessDiscoveryForKubernetes", "isEnabled": "True"},
                {"name": "SensitiveDataDiscovery", "isEnabled": "True"},
                {"name": "ContainerRegistriesVulnerabilityAssessments", "isEnabled": "True"}]),
        ]
        return {p["name"]: p for p in items}

    # ============================================================================================ ARG tables
    def _aws_connectors(self):
        """[(key, body, account index)] of the AWS connectors in the store whose account the world knows."""
        out = []
        for key in sorted(self.security_connectors):
            body = self.security_connectors[key]
            props = body.get("properties") or {}
            if str(props.get("environmentName", "")).lower() != "aws":
                continue
            a_i = self._acct_idx.get(str(props.get("hierarchyIdentifier", "")))
            if a_i is None:
                continue
            out.append((key, body, a_i))
        return out

    @staticmethod
    def _caps(body) -> tuple[bool, bool]:
        cspm = arc = False
        for off in (body.get("properties") or {}).get("offerings") or []:
            t = off.get("offeringType")
            if t in ("CspmMonitorAws", "DefenderCspmAws"):
                cspm = True
            if t == "DefenderForServersAws" and (off.get("arcAutoProvisioning") or {}).get("enabled"):
                arc = True
        return cspm, arc

    def _sync_connectors(self, t: int):
        """Record when each AWS connector first had CSPM / Arc auto-provisioning (new ones onboard with a lag)."""
        seen = set()
        for key, body, _ in self._aws_connectors():
            seen.add(key)
            cspm, arc = self._caps(body)
            st = self._conn_caps.get(key)
            if st is None:
                st = self._conn_caps[key] = {"cspm": None, "arc": None}
            if cspm and st["cspm"] is None:
                st["cspm"] = t
            elif not cspm:
                st["cspm"] = None
            if arc and st["arc"] is None:
                st["arc"] = t
            elif not arc:
                st["arc"] = None
        for key in list(self._conn_caps):
            if key not in seen:
                del self._conn_caps[key]

    def _build_tables(self, t: int) -> dict[str, list[dict]]:
        self._sync_connectors(t)
        tenant_of = self.subscription_tenant
        ssm_now = [self._ssm_at(inst, t) for inst in self._insts]
        aws_conns = self._aws_connectors()

        resources: list[dict] = []
        rgs: set[tuple[str, str]] = set()
        for key in sorted(self.security_connectors):
            body = self.security_connectors[key]
            ids = _parse_arm_id(body.get("id", key))
            sub, rg = ids.get("subscriptions", ""), ids.get("resourcegroups", "")
            rgs.add((sub, rg))
            resources.append(_arg_row(body.get("id", key), body.get("name", ids["name"]),
                                      str(body.get("type", "Microsoft.Security/securityConnectors")).lower(),
                                      tenant_of(sub), sub, rg.lower(), kind=body.get("kind", "") or "",
                                      location=_norm_location(body.get("location", "")),
                                      properties=copy.deepcopy(body.get("properties")),
                                      tags=dict(body.get("tags") or {})))

        # Arc machines: per account, the first connector with Servers + Arc auto-provisioning
        arc_conn: dict[int, tuple[str, dict]] = {}
        for key, body, a_i in aws_conns:
            if a_i not in arc_conn and self._caps(body)[1] and "no_data" not in self._plans[a_i]["flags"]:
                arc_conn[a_i] = (key, body)
        present: list[tuple[int, _Inst, dict]] = []  # (account index, instance, Arc machine row) now
        for a_i in sorted(arc_conn):
            key, body = arc_conn[a_i]
            resources.extend(self._arc_rows(a_i, key, body, t, ssm_now, present))
        truth = _Truth()
        for a_i, inst, row in present:
            by_status = truth.arc.setdefault(self.aws_accounts[a_i].account_id, collections.Counter())
            by_status[row["properties"]["status"]] += 1
            if inst.idx not in self._untagged:
                truth.conn_arc[arc_conn[a_i][0]] = truth.conn_arc.get(arc_conn[a_i][0], 0) + 1
            if inst.idx in self._untagged:
                rgs.add((row["subscriptionId"], ARC_MANUAL_RG))

        security: list[dict] = []
        # native AWS assessments, per onboarded connector; their per-recommendation counts feed compliance
        onboarded: list[tuple[str, dict, int, str, str, dict]] = []
        for key, body, a_i in aws_conns:
            since = self._conn_caps.get(key, {}).get("cspm")
            if since is None or t < since + (ONBOARDING_LAG_TICKS if since > FAR_PAST else 0):
                continue
            if "no_data" in self._plans[a_i]["flags"]:
                continue  # planted: nothing flows from this connector (no assessments, copies or Arc machines)
            ids = _parse_arm_id(body["id"])
            rows, counts = self._assessment_rows(key, body, a_i, t, ssm_now)
            security.extend(rows)
            truth.conn_rows[key] = len(rows)
            onboarded.append((key, body, a_i, ids.get("subscriptions", ""), ids.get("resourcegroups", ""), counts))
            aid = self.aws_accounts[a_i].account_id
            acc = truth.by_account.setdefault(aid, [0, 0])
            for r_i, c in counts.items():
                acc[0] += c[0] + c[1] + c[2]
                acc[1] += c[1]
                if c[0] or c[1] or c[2]:
                    truth.aws_recs.add(r_i)
        # AWS findings reported on Arc machines (no ConnectorId), and a few on machines that no longer exist
        security.extend(self._arc_assessment_rows(present, arc_conn, t, truth))
        for key in sorted(self.classic_connectors):
            security.extend(self._legacy_rows(key, self.classic_connectors[key], rgs, truth))
        # regulatory compliance: per subscription (in scope), per connector (scope SecurityConnector, not counted)
        by_sub: dict[str, list[tuple]] = {}
        for entry in onboarded:
            by_sub.setdefault(entry[3], []).append(entry)
        for s_i, sub in enumerate(self._sub_ids):
            if sub in by_sub:
                security.extend(self._compliance_rows(sub, s_i, by_sub[sub], truth))
        for key, body, a_i, sub, rg, counts in onboarded:
            security.extend(self._connector_compliance_rows(key, body, a_i, sub, rg, counts, truth))
        # Azure-only content: Azure assessments, SOC-TSP and (in the Azure-only subscription) MCSB on Azure keys
        for s_i, sub in enumerate(self._sub_ids):
            rows = self._azure_rows(sub, s_i, truth)
            if rows:
                rgs.add((sub, AZURE_RG))
                security.extend(rows)
        truth.aws_subs = {_parse_arm_id(b.get("id", k)).get("subscriptions", "").lower()
                          for k, b in self.security_connectors.items()
                          if str((b.get("properties") or {}).get("environmentName", "")).lower() == "aws"}
        for sub in sorted(self.pricings):
            for name in sorted(self.pricings[sub]):
                body = self.pricings[sub][name]
                pricing_id = f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}"
                security.append(_arg_row(body.get("id", pricing_id),
                                         body.get("name", name), "microsoft.security/pricings", tenant_of(sub), sub,
                                         properties=copy.deepcopy(body.get("properties"))))
        self._truth_pending = truth

        containers: list[dict] = []
        for s in self.subscriptions:
            tenant = tenant_of(s.subscription_id)
            org = self.tenant_names.get(tenant, HOME_TENANT_NAME)
            containers.append(_arg_row(
                f"/subscriptions/{s.subscription_id}", s.display_name, "microsoft.resources/subscriptions", tenant,
                s.subscription_id, properties={
                    "state": s.state,
                    "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                             "quotaId": "EnterpriseAgreement_2014-09-01", "spendingLimit": "Off"},
                    # the chain of the subscription's own tenant (a delegated one is not in the managing tenant's)
                    "managementGroupAncestorsChain": [{"displayName": org, "name": org.lower()},
                                                      {"displayName": "Tenant Root Group", "name": tenant}]},
                tags={}))
        known_subs = set(self._sub_ids)
        for sub, rg in sorted(rgs, key=lambda x: (x[0], x[1].lower())):
            if sub not in known_subs or not rg:
                continue
            containers.append(_arg_row(f"/subscriptions/{sub}/resourceGroups/{rg}", rg,
                                       "microsoft.resources/subscriptions/resourcegroups", tenant_of(sub), sub,
                                       rg.lower(),
                                       location="centralus", properties={"provisioningState": "Succeeded"}, tags={}))
        return {"resources": resources, "securityresources": security, "resourcecontainers": containers}

    # ---- Arc machines
    def _arc_rows(self, a_i: int, key: str, body: dict, t: int, ssm_now, present: list) -> list[dict]:
        """The account's Arc machines now (one per instance: MDC-tagged, or untagged for the planted ones); each is
        also appended to `present` as (a_i, inst, row)."""
        ids = _parse_arm_id(body["id"])
        sub, rg = ids.get("subscriptions", ""), ids.get("resourcegroups", "")
        regions = set(((body.get("properties") or {}).get("environmentData") or {}).get("regions") or [])
        location = _norm_location(body.get("location", "")) or "centralus"
        arc_since = self._conn_caps.get(key, {}).get("arc")
        arc_since = FAR_PAST if arc_since is None else arc_since
        drift = "drift" in self._plans[a_i]["flags"]
        aid = self.aws_accounts[a_i].account_id
        rows = []
        for inst in self._insts_by_acct[a_i]:
            c = inst.arc_c
            if c is None:
                continue
            if regions and inst.spec.region not in regions:
                continue
            if drift and c > 0:
                continue  # the ArcAutoProvisioning role is missing in AWS: nothing new is onboarded
            if arc_since > FAR_PAST:
                c = max(c, arc_since + inst.arc_delay)
            if t < c:
                continue
            state, since = ssm_now[inst.idx]
            if inst.arc_err:
                status, changed = "Error", c
            elif state == "Online":
                status, changed = "Connected", max(c, since)
            elif t - since >= EXPIRE_TICKS:
                status, changed = "Expired", max(c, since + EXPIRE_TICKS)
            else:
                status, changed = "Disconnected", max(c, since)
            untagged = self._untagged.get(inst.idx)
            ckey = (sub, rg, location, status, changed, untagged)
            hit = self._arc_cache.get(inst.idx)
            if hit is not None and hit[0] == ckey:
                row = hit[1]
            elif untagged is None:
                row = self._arc_row(inst, sub, rg, location, aid, status, changed)
            else:
                row = self._untagged_arc_row(inst, sub, location, aid, status, changed, untagged)
            self._arc_cache[inst.idx] = (ckey, row)
            rows.append(row)
            present.append((a_i, inst, row))
        return rows

    def _untagged_arc_row(self, inst: _Inst, sub, location, aid, status, changed, untagged) -> dict:
        """An Arc machine installed by hand (or by the Arc multicloud connector): no MDC tags, named by the computer
        name (the first label of the EC2 PrivateDnsName) or, for one, by the EC2 Name tag (NOTES §11)."""
        name, computer, how = untagged
        spec = inst.spec
        base = self._arc_row(inst, sub, ARC_MANUAL_RG, location, aid, status, changed)
        domain = "ec2.internal" if spec.region == "us-east-1" else f"{spec.region}.compute.internal"
        fqdn = f"{computer}.{domain}"
        props = dict(base["properties"])
        props.update(displayName=computer, machineFqdn=fqdn, dnsFqdn=fqdn,
                     osProfile={**props["osProfile"], "computerName": computer})
        row = dict(base)
        row.update(id=f"/subscriptions/{sub}/resourceGroups/{ARC_MANUAL_RG}/providers/Microsoft.HybridCompute/"
                      f"machines/{name}",
                   name=name, kind="", properties=props,
                   tags=None if how == "name_tag" else {})  # {} on most, null on one (assumed): readers cope
        return row

    def _arc_row(self, inst: _Inst, sub, rg, location, aid, status, changed) -> dict:
        spec = inst.spec
        windows = spec.platform == "windows"
        fqdn = (f"{inst.computer_name}.{spec.region}.compute.internal" if spec.region != "us-east-1"
                else f"{inst.computer_name}.ec2.internal")
        props = {
            "provisioningState": "Succeeded",
            "status": status,
            "lastStatusChange": self._iso(changed),
            "errorDetails": ([{"code": "AZCM0026", "message": "Failed to refresh the managed identity certificate"}]
                             if status == "Error" else []),
            "agentVersion": "1.47.02925.1993",
            "vmId": inst.vm_id,
            "vmUuid": _uuid5("vmuuid", spec.instance_id).upper(),
            "displayName": inst.computer_name,
            "machineFqdn": fqdn,
            "osName": "windows" if windows else "linux",
            "osVersion": inst.os_version,
            "osType": "windows" if windows else "linux",
            "osSku": inst.distro,
            "domainName": "WORKGROUP" if windows else None,
            "adFqdn": None,
            "dnsFqdn": fqdn,
            "osProfile": {"computerName": inst.computer_name,
                          ("windowsConfiguration" if windows else "linuxConfiguration"):
                              {"patchSettings": {"assessmentMode": "ImageDefault", "patchMode": "Manual" if not windows
                                                 else "AutomaticByOS"}}},
            "cloudMetadata": {"provider": "AWS"},
            "detectedProperties": {"cloudprovider": "AWS", "manufacturer": "Amazon EC2", "model": spec.instance_type,
                                   "mssqldiscovered": "true" if "sql" in spec.name else "false"},
            "mssqlDiscovered": "true" if "sql" in spec.name else "false",
            "agentConfiguration": {"proxyUrl": "", "incomingConnectionsPorts": [], "extensionsAllowList": [],
                                   "extensionsBlockList": [], "proxyBypass": [], "extensionsEnabled": "true",
                                   "guestConfigurationEnabled": "true", "configMode": "full"},
            "serviceStatuses": {"extensionService": {"status": "Running" if status == "Connected" else "Stopped",
                                                     "startupType": "Automatic"},
                                "guestConfigurationService": {
                                    "status": "Running" if status == "Connected" else "Stopped",
                                    "startupType": "Automatic"}},
            "networkProfile": {"networkInterfaces": [{"ipAddresses": [{
                "address": inst.private_ip, "ipAddressVersion": "IPv4",
                "subnet": {"addressPrefix": inst.private_ip.rsplit(".", 1)[0] + ".0/24"}}]}]},
            "privateLinkScopeResourceId": None,
            "parentClusterResourceId": None,
        }
        return _arg_row(
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{spec.instance_id}",
            spec.instance_id, "microsoft.hybridcompute/machines", self.subscription_tenant(sub), sub, rg.lower(),
            kind="AWS",
            location=location, properties=props,
            tags={"AccountId": aid, "Cloud": "AWS", "InstanceId": spec.instance_id, "MDFCSecurityConnector": "true"},
            identity={"type": "SystemAssigned", "principalId": inst.principal_id,
                      "tenantId": self.subscription_tenant(sub)})

    # ---- assessments
    def _conn_static(self, key: str, body: dict, a_i: int) -> _ConnCache:
        ids = _parse_arm_id(body["id"])
        sub, rg, cname = ids.get("subscriptions", ""), ids.get("resourcegroups", ""), ids["name"]
        regions = tuple(((body.get("properties") or {}).get("environmentData") or {}).get("regions") or ())
        ckey = (key, sub, rg, cname, regions, a_i)
        cache = self._conn_cache.get(ckey)
        if cache is not None:
            return cache
        if len(self._conn_cache) > 4 * max(1, len(self.aws_accounts)) + 64:
            self._conn_cache.clear()
        recs = self._cat["recs"]
        tenant = self.subscription_tenant(sub)
        connector_guid = _uuid5("connector", key)
        base = (f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/microsoft.security/securityconnectors/"
                f"{cname.lower()}/securityentitydata/")
        rg_l = rg.lower()
        region_set = set(regions)
        ents = self._entities[a_i]
        details: dict[int, dict] = {}
        template = _arg_row("", "", "microsoft.security/assessments", tenant, sub, rg_l, location="global")
        cache = _ConnCache()
        cache.static_rows, cache.dynamic, cache.static_counts = [], [], {}
        for pair in self._pairs[a_i]:
            e_i, r_i, mode = pair[0], pair[1], pair[2]
            ent = ents[e_i]
            if ent.region is not None and region_set and ent.region not in region_set:
                continue
            rd = details.get(e_i)
            if rd is None:
                rd = details[e_i] = {"Source": "Aws", "ConnectorId": connector_guid, "Id": base + ent.entity_name,
                                     "ResourceType": (ent.rtype if ent.provider == "account"
                                                      else ent.provider + ent.rtype).replace("-", ""),
                                     "ResourceName": ent.name, "NativeResourceId": ent.arn,
                                     "Region": ent.region or "global", "HierarchyId": ent.additional["AccountId"]}
            rec = recs[r_i]
            props = {"resourceDetails": rd, "displayName": rec.title, "status": None,
                     "additionalData": ent.additional, "metadata": rec.meta, "links": rec.links}
            row = template.copy()  # keeps the column order
            row["id"] = f"{rd['Id']}/providers/Microsoft.Security/assessments/{rec.key}"
            row["name"] = rec.key
            row["properties"] = props
            if mode == M_STATIC:
                props["status"] = self._status_dict(pair[3], pair[4], ent.first_tick, pair[5])
                cache.static_rows.append(row)
                c = cache.static_counts.setdefault(r_i, [0, 0, 0])
                c[pair[3]] += 1
            else:
                cache.dynamic.append([pair, ent, row, props, None, None])
        self._conn_cache[ckey] = cache
        return cache

    def _assessment_rows(self, key, body, a_i, t, ssm_now) -> tuple[list[dict], dict[int, list[int]]]:
        """The connector's assessment rows now, and its counts per recommendation index: [healthy, unhealthy, n/a]."""
        cache = self._conn_static(key, body, a_i)
        rows = list(cache.static_rows)
        sub_counts = {r_i: list(c) for r_i, c in cache.static_counts.items()}
        status_dict = self._status_dict
        pair_status = self._pair_status
        for entry in cache.dynamic:
            pair, ent, row, props, last_key, last_row = entry
            code, change, cause = pair_status(pair, ent, t, ssm_now)
            key = (code, change, cause)
            if key == last_key:
                rows.append(last_row)  # unchanged since the last version: same object
            else:
                new_props = dict(props)
                new_props["status"] = status_dict(code, change, ent.first_tick, cause)
                new_row = dict(row)
                new_row["properties"] = new_props
                entry[4], entry[5] = key, new_row
                rows.append(new_row)
            sc = sub_counts.get(pair[1])
            if sc is None:
                sc = sub_counts[pair[1]] = [0, 0, 0]
            sc[code] += 1
        return rows, sub_counts

    def _legacy_rows(self, key: str, body: dict, rgs: set, truth: _Truth) -> list[dict]:
        """Assessments a classic connector left before its retirement (AzureResourceId-style, no ConnectorId): the
        duplicates of the classic+native account. Classic connectors are inert since 2023-09-15 (NOTES §11): every
        date on these rows is on or before that day, and a classic connector created later (PUT) leaves none."""
        props = body.get("properties") or {}
        auth = props.get("authenticationDetails") or {}
        a_i = self._acct_idx.get(str(auth.get("accountId", "")))
        if a_i is None or key not in self._seeded_classic:
            return []
        sub = _parse_arm_id(body.get("id", "")).get("subscriptions", "")
        rg = ((props.get("hybridComputeSettings") or {}).get("resourceGroupName") or "AwsConnectorRG")
        rgs.add((sub, rg))
        ckey = ("classic", body.get("id", "").lower(), sub, rg, a_i)
        cached = self._conn_cache.get(ckey)
        if cached is None:
            cached = self._conn_cache[ckey] = self._build_legacy(sub, rg, a_i)
        # their Arc machines (in the classic connector's resource group) are gone; a reader still finds the account
        # through the one classic connector whose hybridComputeSettings.resourceGroupName is that group (in that
        # subscription); two classic connectors sharing the group leave the rows unattributed
        owners = {str(((b.get("properties") or {}).get("authenticationDetails") or {}).get("accountId", ""))
                  for k, b in self.classic_connectors.items()
                  if k in self._seeded_classic
                  and _parse_arm_id(b.get("id", "")).get("subscriptions", "").lower() == sub.lower()
                  and str(((b.get("properties") or {}).get("hybridComputeSettings") or {}).get("resourceGroupName")
                          or "AwsConnectorRG").lower() == rg.lower()}
        tally = truth.legacy.setdefault(owners.pop(), [0, 0]) if len(owners) == 1 else truth.unattributed
        tally[0] += len(cached.static_rows)
        tally[1] += cached.static_counts.get("unhealthy", 0)
        truth.aws_recs.update(cached.dynamic)
        return cached.static_rows

    def _build_legacy(self, sub: str, rg: str, a_i: int) -> _ConnCache:
        recs = self._cat["recs"]
        ents = self._entities[a_i]
        ssm0 = {inst.idx: self._ssm_at(inst, 0) for inst in self._insts_by_acct[a_i]}
        rows, unhealthy, keys = [], 0, set()
        day = 86_400
        for pair in self._pairs[a_i]:
            ent = ents[pair[0]]
            if ent.kind != "ec2.instance":
                continue
            rec = recs[pair[1]]
            code, _change, cause = self._pair_status(pair, ent, 0, ssm0)
            # first evaluated 1-18 months before the retirement, last changed in its final weeks (dates assumed)
            k = pair[0] * 31 + pair[1] * 17
            first = CLASSIC_RETIRED - day * (30 + k % 520)
            change = max(first, CLASSIC_RETIRED - day * (1 + (k // 7) % 40))
            status = {"code": CODES[code]}
            if code == NA:
                status["cause"], status["description"] = NA_CAUSES[cause]
            status["firstEvaluationDate"] = _ts(first)
            status["statusChangeDate"] = _ts(change)
            azure_id = (f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/microsoft.hybridcompute/"
                        f"machines/{ent.native_id}")
            p = {"resourceDetails": {"Source": "Aws", "AzureResourceId": azure_id}, "displayName": rec.title,
                 "status": status, "additionalData": ent.additional, "metadata": rec.meta, "links": rec.links}
            rows.append(_arg_row(f"{azure_id}/providers/Microsoft.Security/assessments/{rec.key}", rec.key,
                                 "microsoft.security/assessments", self.subscription_tenant(sub), sub, rg.lower(),
                                 location="global",
                                 properties=p))
            unhealthy += code == U
            keys.add(pair[1])
        cache = _ConnCache()
        cache.static_rows, cache.dynamic, cache.static_counts = rows, keys, {"unhealthy": unhealthy}
        return cache

    # ---- regulatory compliance (legacy model: standards -> controls -> assessments)
    def _compliance_rows(self, sub: str, s_i: int, conns: list[tuple], truth: _Truth) -> list[dict]:
        """Subscription-level rows (in scope) of every standard assigned on one of the subscription's onboarded
        connectors, aggregating the connectors it is assigned on."""
        root = f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards"
        sub_ctl = truth.sub_controls.setdefault(sub, {})
        sub_asm = truth.sub_assessed.setdefault(sub, {})
        total = None
        rows: list[dict] = []
        for pos, std in enumerate(self._cat["standards"]):
            name = std["name"]
            mine = [e for e in conns if name in self._assigned[e[2]]]
            if not mine:
                continue
            if len(mine) == len(conns):
                if total is None:
                    total = _sum_counts([e[5] for e in conns])
                counts = total
            else:
                counts = _sum_counts([e[5] for e in mine])
            set_rows, states = self._compliance_set(root, sub, "", std, pos, counts, s_i, None)
            rows.extend(set_rows)
            sub_ctl[name] = states
            sub_asm[name] = set(std["recs"])
        return rows

    def _connector_compliance_rows(self, key, body, a_i, sub, rg, counts, truth: _Truth) -> list[dict]:
        """Per-connector copies (scope SecurityConnector, assumed) of each standard assigned on the connector, with
        that one account's figures: readers must not count them (NOTES §11)."""
        root = f"{body['id']}/providers/Microsoft.Security/regulatoryComplianceStandards"
        s_i = self._sub_index.get(sub, 0)
        aid = self.aws_accounts[a_i].account_id
        depth = self._cfg["copy_depth"]
        rows: list[dict] = []
        for pos, std in enumerate(self._cat["standards"]):
            if std["name"] not in self._assigned[a_i]:
                continue
            set_rows, _ = self._compliance_set(root, sub, rg.lower(), std, pos, counts, s_i, SCOPE_CONNECTOR,
                                               depth)
            rows.extend(set_rows)
            truth.copies.setdefault(std["name"], set()).add(aid)
        return rows

    def _empty_state(self, std: str, cid: str, s_i: int) -> str:
        """State of a control no assessment feeds (assumed): mostly Unsupported everywhere, some Skipped (manual)
        everywhere, a few Unsupported in some subscriptions and Skipped in others."""
        h = self._ctl_hash.get((std, cid))
        if h is None:
            h = self._ctl_hash[(std, cid)] = uuid.uuid5(NS, f"control/{std}/{cid}").int % 10
        if h < 6:
            return "Unsupported"
        if h < 9:
            return "Skipped"
        return "Unsupported" if s_i % 2 == 0 else "Skipped"

    def _item_meta(self, item) -> tuple[str, str]:
        """(assessment key, title) of a compliance assessment: a catalogue recommendation index, or ("az", j)."""
        if isinstance(item, int):
            rec = self._cat["recs"][item]
            return rec.key, rec.title
        return _azure_key(item[1]), AZURE_RECS[item[1]][0]

    def _compliance_set(self, root: str, sub: str, rg: str, std: dict, pos: int, counts: dict, s_i: int,
                        scope: str | None, depth: int = 3) -> tuple[list[dict], dict[str, str]]:
        """One standard's rows under `root` (standard, controls, assessments: `depth` levels) and {control id: state}.

        scope None: subscription-level rows, "Subscription" or "MultiCloudAggregation" by subscription, a
        deterministic subset without the key (both count as in scope); else every row carries `scope`."""
        name = std["name"]
        sig = (scope, s_i, tuple(None if (c := counts.get(r)) is None else tuple(c) for r in std["recs"]))
        ckey = (root, name)
        hit = self._cset_cache.get(ckey)
        if hit is not None and hit[0] == sig:
            return hit[1], hit[2]
        if len(self._cset_cache) > 16 * max(1, len(self.aws_accounts)) + 256:
            self._cset_cache.clear()
        row = self._compliance_row
        std_id = f"{root}/{name}"
        sub_scope = SCOPE_SUBSCRIPTION if s_i % 2 == 0 else SCOPE_MULTICLOUD

        def scoped(props: dict, missing: bool) -> dict:
            if scope is not None:
                props["scope"] = scope
            elif not missing:
                props["scope"] = sub_scope
            return props

        std_counts = {"Passed": 0, "Failed": 0, "Skipped": 0, "Unsupported": 0}
        states: dict[str, str] = {}
        ctl_rows: list[dict] = []
        a_pos = 0
        for c_pos, (cid, title, items) in enumerate(std["controls"]):
            ctl_id = f"{std_id}/regulatoryComplianceControls/{cid}"
            a_counts = {"Passed": 0, "Failed": 0, "Skipped": 0}
            asm_rows = []
            for item in items:
                h, u, na = counts.get(item) or (0, 0, 0)
                state = "Failed" if u else ("Passed" if h else "Skipped")
                a_counts[state] += 1
                if depth < 3:
                    continue
                key, atitle = self._item_meta(item)
                asm_rows.append(row(f"{ctl_id}/regulatoryComplianceAssessments/{key}", key, T_RCA, sub, rg, scoped({
                    "description": atitle, "assessmentType": "Assessment",
                    "assessmentDetailsLink": f"https://management.azure.com/subscriptions/{sub}/providers/"
                                             f"Microsoft.Security/securityStatuses/{key}",
                    "state": state, "passedResources": h, "failedResources": u, "skippedResources": na},
                    (a_pos + s_i) % 13 == 7)))
                a_pos += 1
            if not items:
                c_state = self._empty_state(name, cid, s_i)
            else:
                c_state = "Failed" if a_counts["Failed"] else ("Passed" if a_counts["Passed"] else "Skipped")
            std_counts[c_state] += 1
            states[cid] = c_state
            if depth >= 2:
                ctl_rows.append(row(ctl_id, cid, T_CTL, sub, rg, scoped({
                    "description": title, "state": c_state, "passedAssessments": a_counts["Passed"],
                    "failedAssessments": a_counts["Failed"], "skippedAssessments": a_counts["Skipped"],
                    "unsupportedAssessments": 0}, (c_pos + s_i) % 11 == 5)))
            if depth >= 3:
                ctl_rows.extend(asm_rows)
        if std_counts["Failed"]:
            s_state = "Failed"
        elif std_counts["Passed"]:
            s_state = "Passed"
        elif std_counts["Skipped"]:
            s_state = "Skipped"
        else:
            s_state = "Unsupported"
        rows = [row(std_id, name, T_STD, sub, rg, scoped({
            "state": s_state, "passedControls": std_counts["Passed"], "failedControls": std_counts["Failed"],
            "skippedControls": std_counts["Skipped"], "unsupportedControls": std_counts["Unsupported"]},
            (pos + s_i) % 4 == 3))]
        rows.extend(ctl_rows)
        self._cset_cache[ckey] = (sig, rows, states)
        return rows, states

    def _compliance_row(self, rid: str, name: str, rtype: str, sub: str, rg: str, props: dict) -> dict:
        """A compliance row, reused (same object) while its content does not change."""
        key = (rid, tuple(props.items()))
        row = self._row_intern.get(key)
        if row is None:
            if len(self._row_intern) > 400_000:
                self._row_intern.clear()
            row = self._row_intern[key] = _arg_row(rid, name, rtype, self.subscription_tenant(sub), sub, rg,
                                                                   properties=props)
        return row

    # ---- Azure-only content (NOTES §11: MCSB also covers Azure subscriptions; an Azure-only standard)
    def _azure_rows(self, sub: str, s_i: int, truth: _Truth) -> list[dict]:
        """Azure assessments (Source "Azure") and their compliance rows: SOC-TSP in the first subscription and in
        the Azure-only one, MCSB on Azure keys in the Azure-only one. Static: built once per subscription."""
        azure_only = s_i == len(self._sub_ids) - 1
        if s_i != 0 and not azure_only:
            return []
        hit = self._azure_cache.get((sub, s_i))
        if hit is None:
            hit = self._azure_cache[(sub, s_i)] = self._build_azure(sub, s_i, azure_only)
        rows, controls = hit
        truth.sub_controls.setdefault(sub, {}).update(controls)
        return rows

    def _build_azure(self, sub: str, s_i: int, azure_only: bool) -> tuple[list[dict], dict]:
        rows: list[dict] = []
        counts: dict[tuple, list[int]] = {}
        seed = sub.replace("-", "")[:4]
        for kind, (rtype, template, n) in AZURE_RESOURCES.items():
            for k in range(1, n + 1):
                name = template.format(s=seed, n=k)
                rid = f"/subscriptions/{sub}/resourceGroups/{AZURE_RG}/providers/{rtype}/{name}"
                if rtype == "Microsoft.Sql/servers":
                    rid += f"/databases/db{k}"
                for j, (title, severity, _mcsb, _soc, rkind) in enumerate(AZURE_RECS):
                    if rkind != kind:
                        continue
                    key = _azure_key(j)
                    code = U if uuid.uuid5(NS, f"azure/{sub}/{name}/{j}").int % 3 == 0 else H
                    c = counts.setdefault(("az", j), [0, 0, 0])
                    c[code] += 1
                    first = -(10_080 * (1 + (j + k) % 40))
                    props = {"resourceDetails": {"Source": "Azure", "Id": rid}, "displayName": title,
                             "status": self._status_dict(code, first + 1_440 * ((j * 7 + k) % 7), first, 0),
                             "metadata": {"displayName": title, "severity": severity, "assessmentType": "BuiltIn"},
                             "links": {"azurePortal": "portal.azure.com/#blade/Microsoft_Azure_Security/"
                                                      f"RecommendationsBlade/assessmentKey/{key}"}}
                    rows.append(_arg_row(f"{rid}/providers/Microsoft.Security/assessments/{key}", key,
                                         "microsoft.security/assessments", self.subscription_tenant(sub), sub,
                                         AZURE_RG.lower(),
                                         location="global", properties=props))
        root = f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards"
        n_cat = len(self._cat["standards"])
        stds = [_azure_standard(AZURE_STANDARD, SOC_TSP_CONTROLS, 3)]
        if azure_only:
            mcsb = next(s for s in self._cat["standards"] if s["name"] == MCSB)
            stds.insert(0, _azure_standard(MCSB, [(cid, title) for cid, title, _ in mcsb["controls"]], 2))
        controls = {}
        for k, std in enumerate(stds):
            set_rows, states = self._compliance_set(root, sub, "", std, n_cat + k, counts, s_i, None)
            rows.extend(set_rows)
            controls[std["name"]] = states
        return rows, controls

    # ---- AWS findings on Arc machines (no ConnectorId: attributed through AzureResourceId -> Arc machine)
    def _arc_assessment_rows(self, present: list, arc_conn: dict, t: int, truth: _Truth) -> list[dict]:
        rows: list[dict] = []
        n = len(SERVER_RECS)
        for a_i, inst, arc in present:
            if inst.idx % 4 and inst.idx not in self._untagged:
                continue
            # a reader finds the account by the machine's AccountId tag, or (untagged) by its EC2 instance's name
            acc = truth.by_account.setdefault(self.aws_accounts[a_i].account_id, [0, 0])
            first = min(t, inst.arc_c if inst.arc_c is not None else 0)
            for j in (inst.idx % n, (inst.idx + 2) % n):
                code = U if (inst.idx // 4 + j) % 3 == 0 else H
                rows.append(self._arc_finding(arc["id"], arc["subscriptionId"], arc["resourceGroup"], j, code, first,
                                              inst.idx % 3 == 1))
                acc[0] += 1
                acc[1] += code == U
        # a few on Arc machines that no longer exist (their instances were terminated): nobody can attribute them
        ua = self._acct_idx.get(self.untagged_account or "")
        if ua is not None and ua in arc_conn:
            ids = _parse_arm_id(arc_conn[ua][1]["id"])
            sub, rg = ids.get("subscriptions", ""), ids.get("resourcegroups", "")
            for k, name in enumerate(self._gone_machines):
                arc_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}"
                code = U if k < 2 else H
                rows.append(self._arc_finding(arc_id, sub, rg.lower(), k % n, code, -5_000, k == 1))
                truth.unattributed[0] += 1
                truth.unattributed[1] += code == U
        return rows

    def _arc_finding(self, arc_id: str, sub: str, rg: str, j: int, code: int, first: int, camel: bool) -> dict:
        ckey = (arc_id, j, code, first, camel)
        row = self._drow_cache.get(ckey)
        if row is not None:
            return row
        if len(self._drow_cache) > 200_000:
            self._drow_cache.clear()
        title, severity = SERVER_RECS[j]
        # one recommendation, one assessment key, whatever the machine (as in MDC): the EC2 instance's Arc machine
        # shares the key of the same recommendation on Azure VMs, and SOC-TSP (Azure) maps it: a reader that called
        # every key of an AWS row an AWS key would report SOC-TSP as an AWS standard
        key = _AZURE_KEY_OF_TITLE.get(title) or _uuid5("server-recommendation", title)
        # Microsoft's queries read these keys PascalCase; some rows carry them camelCase (readers tolerate both)
        rd = ({"source": "Aws", "azureResourceId": arc_id, "resourceType": ARC_RESOURCE_TYPE} if camel else
              {"Source": "Aws", "AzureResourceId": arc_id, "ResourceType": ARC_RESOURCE_TYPE})
        props = {"resourceDetails": rd, "displayName": title,
                 "status": self._status_dict(code, first, first, 0),  # unchanged since first evaluated
                 "metadata": {"displayName": title, "severity": severity, "assessmentType": "BuiltIn",
                              "categories": ["Compute"]},
                 "links": {"azurePortal": "portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/"
                                          f"assessmentKey/{key}"}}
        row = self._drow_cache[ckey] = _arg_row(f"{arc_id}/providers/Microsoft.Security/assessments/{key}", key,
                                                "microsoft.security/assessments", self.subscription_tenant(sub), sub,
                                                rg,
                                                location="global", properties=props)
        return row


def _sum_counts(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    out: dict = {}
    for c in parts:
        for r, v in c.items():
            o = out.get(r)
            if o is None:
                out[r] = list(v)
            else:
                o[0] += v[0]
                o[1] += v[1]
                o[2] += v[2]
    return out


@lru_cache(maxsize=64)
def _azure_key(j: int) -> str:
    return _uuid5("azure-recommendation", AZURE_RECS[j][0])


_AZURE_KEY_OF_TITLE = {r[0]: _azure_key(j) for j, r in enumerate(AZURE_RECS)}


def _azure_standard(name: str, controls: list[tuple[str, str]], field: int) -> dict:
    """A standard over AZURE_RECS: control -> the Azure recommendations whose column `field` names it."""
    ctrls = [(cid, title, tuple(("az", j) for j, r in enumerate(AZURE_RECS) if r[field] == cid))
             for cid, title in controls]
    return {"name": name, "controls": ctrls, "recs": tuple(("az", j) for j in range(len(AZURE_RECS)))}


def _enabled_role_arns(value):
    """cloudRoleArn values of an offering, skipping parts with "enabled": false (the core's doctor.role_arns)."""
    if isinstance(value, dict):
        if value.get("enabled") is False:
            return
        for k, v in value.items():
            if k == "cloudRoleArn" and isinstance(v, str):
                yield v
            else:
                yield from _enabled_role_arns(v)
    elif isinstance(value, list):
        for v in value:
            yield from _enabled_role_arns(v)


def _reads_cloudtrail(offerings: list[dict]) -> bool:
    """Whether an offering has an enabled CloudTrail-reading part (CLOUDTRAIL_READER_PARTS) with a role."""
    for o in offerings:
        path = CLOUDTRAIL_READER_PARTS.get(o.get("offeringType", ""))
        if path is None:
            continue
        node: Any = o
        for k in path:
            node = node.get(k) if isinstance(node, dict) and node.get("enabled") is not False else None
        if isinstance(node, dict) and node.get("enabled") is not False and any(_enabled_role_arns(node)):
            return True
    return False


def _parse_ts(value: Any) -> float | None:
    """An ISO 8601 timestamp (systemData style, Z or offset) -> epoch seconds, None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # keep at most 6 fraction digits (Microsoft.Security writes 7)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _walk_role_arns(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "cloudRoleArn" and isinstance(v, str):
                yield v
            else:
                yield from _walk_role_arns(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_role_arns(v)
