"""The synthetic estate behind the emulators: one seed -> one estate, moved by a clock.

`World(seed, scale, clock)` builds, deterministically (random.Random streams seeded from strings, uuid5, never the wall
clock except through `clock`):

- an Azure side: tenant, subscriptions, REST stores (native security connectors, classic connectors, pricings,
  resource providers, permissions) shaped like the official examples in shared/reference/azure;
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
"""
from __future__ import annotations

import bisect
import contextlib
import copy
import gc
import json
import random
import threading
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources as _resources

from .clock import ManualClock
from .spec import ORG_MANAGEMENT, ORG_MEMBER, ORG_SINGLE, AwsAccountSpec, Ec2Spec, SubscriptionSpec

__all__ = ["World", "SCALES", "EXPIRE_TICKS", "ONBOARDING_LAG_TICKS"]

FAR_PAST = -(10**9)
EXPIRE_TICKS = 240  # an Arc machine disconnected this long is Expired
ONBOARDING_LAG_TICKS = 2  # a new AWS connector's first assessments appear this many ticks after it is first seen
NS = uuid.UUID("3b2f6a0e-8c1d-4e57-9a3f-5d6c7b8e9f10")  # namespace for every uuid5 of the estate

SCALES = {
    "default": {"subscriptions": 3, "orgs": [4], "standalone": 5, "instances": 300, "extra_dup": 0,
                "extra_classic_only": 0, "extra_denied": 0},
    "large": {"subscriptions": 8, "orgs": [120, 40], "standalone": 39, "instances": 10_000, "extra_dup": 2,
              "extra_classic_only": 1, "extra_denied": 2},
}

SUBSCRIPTION_NAMES = ["Contoso Security Prod", "Contoso Security Dev", "Contoso Platform Shared", "Contoso Retail Prod",
                      "Contoso Retail Dev", "Contoso Data Platform", "Contoso Sandbox", "Contoso Identity"]
# the subscription with VirtualMachines "Free" (Servers prerequisite fails) / the Reader-only one (+ GuestConfiguration
# NotRegistered)
SUB_VM_FREE, SUB_READER = 1, 2

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2", "ap-southeast-2",
           "ap-northeast-1", "ap-south-1", "ca-central-1", "sa-east-1"]
HOME_REGIONS = [("us-east-1", 50), ("eu-west-1", 20), ("us-west-2", 15), ("eu-central-1", 10), ("ap-southeast-2", 5)]

LINUX_DISTROS = [  # (osSku / PlatformName, version, weight)
    ("Amazon Linux 2023", "2023.6.20241212", 35), ("Amazon Linux 2", "2.0.20241217.0", 20),
    ("Ubuntu 22.04.5 LTS", "22.04", 25), ("Red Hat Enterprise Linux 9.4", "9.4", 12), ("Ubuntu 20.04.6 LTS", "20.04", 8)]
WINDOWS_DISTROS = [
    ("Windows Server 2022 Datacenter", "10.0.20348.2966", 55), ("Windows Server 2019 Datacenter", "10.0.17763.6659", 35),
    ("Windows Server 2016 Datacenter", "10.0.14393.7606", 10)]
LINUX_ROLES = ["web", "api", "worker", "batch", "bastion", "kafka", "redis", "nginx", "jenkins", "etl", "grafana", "app"]
WINDOWS_ROLES = ["sql", "iis", "dc", "rdgw", "fs", "app", "sharepoint", "print"]
INSTANCE_TYPES = [("t3.medium", 30), ("t3.large", 15), ("m5.large", 20), ("m6i.xlarge", 10), ("c5.xlarge", 8),
                  ("r6i.large", 7), ("t3.micro", 10)]

# offering profiles of native AWS connectors
PROFILES = {
    "full": {"dcspm": True, "servers": "P2", "arc": True, "mde": True, "va": "TVM", "containers": True, "databases": True},
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
    "ec2.network-acl": ("net", (1, 2), True), "ec2.volume": ("ebs", (1, 3), True), "ec2.snapshot": ("ebs2", (1, 2), True),
    "ec2.elastic-ip": ("eip", (1, 2), True), "ec2.launch-template": ("lt", (1, 2), True),
    "s3.bucket": ("s3", (2, 6), False), "iam.user": ("iam", (2, 8), False), "iam.policy": ("iam", (1, 3), False),
    "kms.key": ("kms", (1, 2), True), "cloudtrail.trail": ("trail", (1, 1), False),
    "rds.db-instance": ("rds", (1, 2), True), "rds.db-cluster": ("aurora", (1, 1), True), "rds.snapshot": ("rds", (1, 2), False),
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
                       "Data": ["DataExfiltration", "DataSpillage"], "Networking": ["ThreatResistance", "DataExfiltration"],
                       "Compute": ["ThreatResistance", "MaliciousInsider"]}
NA_CAUSES = [("OffByPolicy", "The effective policy for the assessment was evaluated to off"),
             ("Exempt", "This resource is exempt from this recommendation"),
             ("NotApplicable", "This recommendation does not apply to the resource's configuration")]

H, U, NA = 0, 1, 2
CODES = ("Healthy", "Unhealthy", "NotApplicable")
M_STATIC, M_CYCLE, M_SSM1, M_SSM_MANAGED = 0, 1, 2, 3


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
        ctrls = [(c["id"], c["title"], by_id[c["recommendation"]].idx if c["recommendation"] in by_id else None)
                 for c in std["controls"]]
        standards.append({"name": std["name"], "display_name": std["display_name"], "arn": std["standards_arn"],
                          "assessed": std["assessed"], "controls": ctrls})
    recs_by_kind: dict[str, list[int]] = {}
    for rec in recs:
        recs_by_kind.setdefault(rec.kind, []).append(rec.idx)
    return {"recs": recs, "by_id": by_id, "kinds": kinds, "standards": standards, "recs_by_kind": recs_by_kind,
            "roles": roles}


# ---------------------------------------------------------------------------------------------- internal records

class _Entity:
    __slots__ = ("kind", "provider", "rtype", "native_id", "name", "region", "arn", "first_tick", "inst",
                 "entity_name", "additional")


class _Inst:
    __slots__ = ("idx", "spec", "acct_idx", "distro", "os_version", "private_ip", "launch_tick", "ev_t", "ev_s",
                 "arc_c", "arc_err", "arc_delay", "vm_id", "principal_id", "computer_name", "agent_version")


class _ConnCache:
    __slots__ = ("static_rows", "dynamic", "static_counts")


# --------------------------------------------------------------------------------------------------------- World

class World:
    """A deterministic synthetic Azure + AWS estate. See the module docstring and tui/emulator/spec.py."""

    def __init__(self, seed: int = 42, scale: str = "default", clock=None):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}")
        self.seed = seed
        self.scale = scale
        self.clock = clock if clock is not None else ManualClock()
        self.lock = threading.RLock()
        self._cfg = SCALES[scale]
        self._cat = _catalog()
        self._store_version = 0
        self._arg_cache = None
        self._conn_cache: dict[tuple, _ConnCache] = {}
        self._ts_cache: dict[int, str] = {}

        self._arc_cache: dict[int, tuple] = {}
        self._status_intern: dict[tuple, dict] = {}
        self._row_intern: dict[tuple, dict] = {}

        with _gc_paused():
            rng = self._rng("tenant")
            self.tenant_id = _guid(rng)
            self._build_subscriptions()
            self._build_accounts()
            self._build_instances()
            self._build_entities()
            self._build_pairs()
            self._build_stores()
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
            return tables

    # ------------------------------------------------------------------------------------------ public: AWS
    def ssm_status(self, account_id: str, instance_id: str) -> str | None:
        """"Online" | "ConnectionLost" | None (no SSM agent, or unknown instance), at the current tick."""
        inst = self._inst_by_key.get((str(account_id), instance_id))
        if inst is None:
            return None
        return self._ssm_at(inst, self.tick())[0]

    def ssm_instance_information(self, account_id: str, region: str | None = None) -> list[dict]:
        """SSM DescribeInstanceInformation entries (InstanceInformationList) for the account's instances that have an
        agent, now. LastPingDateTime / RegistrationDate are epoch seconds (floats)."""
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
            if status is None:
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
        """The connector's CloudFormation stack (and StackSet for a management account), or None."""
        return copy.deepcopy(self._stacks.get(str(account_id)))

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
        props = row.get("properties")
        if row["type"] == "microsoft.security/assessments":
            props = dict(props)
            links = props.pop("links", None) or {}
            if "azurePortal" in links:
                props["links"] = {"azurePortalUri": "https://" + links["azurePortal"]}
        body = {"id": row["id"], "name": row["name"], "type": rtype, "properties": copy.deepcopy(props)}
        if row["type"] == "microsoft.hybridcompute/machines":
            body = {"id": row["id"], "name": row["name"], "location": row["location"], "tags": dict(row["tags"]),
                    "identity": dict(row["identity"]), "type": rtype, "kind": row["kind"],
                    "properties": copy.deepcopy(props), "resources": []}
        return body

    # ============================================================================================= building
    def _rng(self, stream: str) -> random.Random:
        return random.Random(f"mdc-aws-world/{self.seed}/{self.scale}/{stream}")

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

    # ---- accounts
    def _build_accounts(self):
        rng = self._rng("accounts")
        cfg = self._cfg
        used_ids: set[str] = set()

        def new_id() -> str:
            while True:
                aid = f"{rng.randrange(10**11, 10**12)}"
                if aid not in used_ids:
                    used_ids.add(aid)
                    return aid

        plans: list[dict] = []
        large = self.scale == "large"
        named_members = ["aws-prod", "aws-payments", "aws-data-lake", "aws-shared-services"]
        named_standalone = ["aws-dev", "aws-staging", "aws-sandbox", "aws-legacy-crm", "aws-legacy-billing"]
        default_instances = {"aws-org-management": 6, "aws-prod": 80, "aws-payments": 50, "aws-data-lake": 30,
                             "aws-shared-services": 25, "aws-dev": 35, "aws-staging": 25, "aws-sandbox": 20,
                             "aws-legacy-crm": 20, "aws-legacy-billing": 10}
        gen_names = iter(f"aws-{t}-{e}" for e in LARGE_ENVS for t in LARGE_TEAMS)

        org_subs = [0, 3 if cfg["subscriptions"] > 3 else 0]
        for o, n_members in enumerate(cfg["orgs"]):
            mgmt_name = "aws-org-management" if o == 0 else f"aws-org{o + 1}-management"
            mgmt = {"name": mgmt_name, "role": ORG_MANAGEMENT, "parent": None, "sub": org_subs[o % 2],
                    "rg": "mdc-connectors", "profile": "full" if o == 0 else "servers_p2", "flags": set(), "org": o}
            plans.append(mgmt)
            for m in range(n_members):
                name = named_members[m] if (o == 0 and m < len(named_members)) else next(gen_names)
                plans.append({"name": name, "role": ORG_MEMBER, "parent": mgmt, "sub": mgmt["sub"], "rg": "mdc-connectors",
                              "profile": mgmt["profile"], "flags": set(), "org": o})
        standalone_sub = {"aws-dev": 2, "aws-staging": 1, "aws-sandbox": 1, "aws-legacy-crm": 0, "aws-legacy-billing": 2}
        standalone_profile = {"aws-dev": "cspm", "aws-staging": "servers_noarc", "aws-sandbox": "servers_p1",
                              "aws-legacy-crm": "servers_p1", "aws-legacy-billing": None}
        for s in range(cfg["standalone"]):
            if s < len(named_standalone):
                name = named_standalone[s]
                plans.append({"name": name, "role": ORG_SINGLE, "parent": None, "sub": standalone_sub[name],
                              "rg": "security-rg", "profile": standalone_profile[name], "flags": set(), "org": None})
            else:
                name = next(gen_names)
                plans.append({"name": name, "role": ORG_SINGLE, "parent": None, "sub": s % cfg["subscriptions"],
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

        self.aws_accounts: list[AwsAccountSpec] = []
        self._plans = plans
        org_ids: dict[str, str] = {}
        for p, n in zip(plans, counts):
            aid = new_id()
            p["account_id"] = aid
            p["n_instances"] = n
            home = _wchoice(rng, HOME_REGIONS)
            n_regions = _wchoice(rng, [(1, 20), (2, 35), (3, 28), (4, 17)])
            regions = [home] + rng.sample([r for r in REGIONS if r != home], n_regions - 1)
            spec = AwsAccountSpec(account_id=aid, name=p["name"], org_role=p["role"],
                                  parent_account_id=p["parent"]["account_id"] if p["parent"] else None, regions=regions)
            if p["role"] == ORG_MANAGEMENT:
                org_ids[aid] = "o-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
            self.aws_accounts.append(spec)
        self.org_ids = org_ids  # management account id -> AWS Organizations id
        self.accounts_by_id = {a.account_id: a for a in self.aws_accounts}
        self._acct_idx = {a.account_id: i for i, a in enumerate(self.aws_accounts)}
        self.denied_accounts = {p["account_id"] for p in plans if "denied" in p["flags"]}

        # EKS clusters, Security Hub standards
        std_arns = {s["name"]: s["arn"] for s in self._cat["standards"]}
        for p, acct in zip(plans, self.aws_accounts):
            prof = PROFILES.get(p["profile"] or "", {})
            n_eks = rng.randint(1, 3) if prof.get("containers") else (1 if rng.random() < 0.25 else 0)
            for k in range(n_eks):
                region = rng.choice(acct.regions)
                acct.eks_clusters.append((region, f"{acct.name.removeprefix('aws-')}-eks-{k + 1:02d}"))
            enabled = []
            if "drift" in p["flags"]:
                enabled = []
            else:
                if rng.random() < 0.9 or "dup" in p["flags"] or "classic_only" in p["flags"]:
                    enabled.append("AWS-Foundational-Security-Best-Practices")
                if rng.random() < 0.6 or "dup" in p["flags"] or "classic_only" in p["flags"]:
                    enabled.append("AWS-CIS-1.2.0")
                if rng.random() < 0.25 or "payments" in acct.name:
                    enabled.append("AWS-PCI-DSS-3.2.1")
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
            for k in range(plan["n_instances"]):
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
                inst.computer_name = ("EC2AMAZ-" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(7))
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
                inst.ev_t, inst.ev_s = [-rng.randint(30, 150) if rng.random() < 0.4 else -rng.randint(300, 5_000)], ["ConnectionLost"]
            else:
                inst.ev_t, inst.ev_s = [FAR_PAST], [None]
            return
        if r < 0.22:  # no agent; about half get one during the demo
            inst.ev_t, inst.ev_s = [FAR_PAST], [None]
            if rng.random() < 0.55:
                inst.ev_t.append(1 + int(rng.expovariate(1 / 25)))
                inst.ev_s.append("Online")
        elif r < 0.26:  # agent lost its connection some time ago; some come back
            inst.ev_t, inst.ev_s = [-rng.randint(5, 200) if rng.random() < 0.55 else -rng.randint(300, 5_000)], ["ConnectionLost"]
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
                inst.arc_c = 1 + int(rng.expovariate(1 / 20))
                # its agent registered recently (10-200 ticks ago), so the connector's next scan is still due; no
                # draw from rng here, so the rest of the estate stays as it was
                recent = -(10 + (inst.idx * 37) % 191)
                if len(inst.ev_t) == 1 or inst.ev_t[1] > recent:
                    inst.ev_t[0] = max(first_t, recent)
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
        self._entities: list[list[_Entity]] = []
        for a_i, (acct, plan) in enumerate(zip(self.aws_accounts, self._plans)):
            aid = acct.account_id
            ents: list[_Entity] = []
            prefix = acct.name.removeprefix("aws-")
            uses = {g: rng.random() < p for g, p in GROUP_USAGE.items()}
            if PROFILES.get(plan["profile"] or "", {}).get("containers"):
                uses["ecr"] = True

            def add(kind, native_id, name, region, arn, first_tick, inst=None):
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
                add("account-in-region", aid, f"{aid}/{region}", region, f"AWS::::Account:{aid}", -rng.randint(50_000, 500_000))
            for inst in self._insts_by_acct[a_i]:
                s = inst.spec
                add("ec2.instance", s.instance_id, s.instance_id, s.region,
                    f"arn:aws:ec2:{s.region}:{aid}:instance/{s.instance_id}", inst.launch_tick + rng.randint(1, 500), inst)
            for region, cname in acct.eks_clusters:
                add("eks.cluster", cname, cname, region, f"arn:aws:eks:{region}:{aid}:cluster/{cname}", -rng.randint(1_000, 100_000))
            counters: dict[str, int] = {}
            for kind, (group, (lo, hi), per_region) in ENTITY_PLAN.items():
                if not uses[group]:
                    continue
                provider, rtype = kinds[kind]["provider"], kinds[kind]["type"]
                regions = acct.regions if per_region else [None]
                for region in regions:
                    for k in range(rng.randint(lo, hi)):
                        reg = region or (acct.regions[0] if rng.random() < 0.6 else rng.choice(acct.regions))
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
            name = f"contoso-{prefix}-{BUCKET_PURPOSES[(n - 1) % len(BUCKET_PURPOSES)]}-{aid[-4:]}{'' if n <= len(BUCKET_PURPOSES) else f'-{n}'}"
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
        for a_i, ents in enumerate(self._entities):
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
                            pairs.append((e_i, r_i, M_STATIC, NA, -60 * rng.randint(1, 80), rng.randrange(len(NA_CAUSES))))
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
        state, since = ssm_now[ent.inst.idx]
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

        org_scan = {}
        for p, acct in zip(self._plans, self.aws_accounts):
            aid = acct.account_id
            sub = self._sub_ids[p["sub"]]
            if p["profile"] is not None:
                if p["role"] == ORG_SINGLE:
                    named = self.scale == "default" or acct.name in ("aws-dev", "aws-staging", "aws-sandbox",
                                                                      "aws-legacy-crm")
                    name = acct.name if (named or rng.random() < 0.5) else f"awsconnector_{aid}"
                    regions = [acct.regions[0]] if "home_region_only" in p["flags"] else list(acct.regions)
                    scan = rng.choice([4, 6, 12, 24])
                    org_data = None
                elif p["role"] == ORG_MANAGEMENT:
                    name = acct.name
                    regions = list(org_regions[p["org"]])
                    scan = org_scan.setdefault(p["org"], rng.choice([4, 12]))
                    org_data = {"organizationMembershipType": "Organization",
                                "stacksetName": f"MDC-{acct.name}-StackSet", "excludedAccountIds": []}
                else:
                    mgmt = p["parent"]
                    name = f"{mgmt['name']}_{aid}"
                    regions = list(org_regions[p["org"]])
                    scan = org_scan.setdefault(p["org"], rng.choice([4, 12]))
                    org_data = {"organizationMembershipType": "Member",
                                "parentHierarchyId": mgmt["account_id"]}
                body = self._aws_connector_body(rng, sub, p["rg"], name, aid, regions, scan, org_data, p)
                self.security_connectors[body["id"].lower()] = body
                roles = sorted({arn.rsplit("/", 1)[-1] for arn in _walk_role_arns(body["properties"]["offerings"])
                                if f"::{aid}:" in arn})
                if "drift" in p["flags"]:
                    roles = [r for r in roles if r != "DefenderForCloud-ArcAutoProvisioning"]
                self._iam_roles[aid] = roles
                stack = {"StackName": "DefenderForCloud-Connector" if p["role"] != ORG_MEMBER else
                         f"StackSet-{p['parent']['name']}-StackSet-{_uuid5('stack', aid)[:8]}",
                         "Region": acct.regions[0]}
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
        offerings = [{"offeringType": "CspmMonitorAws",
                      "nativeCloudConnection": {"cloudRoleArn": arn("CspmMonitorAws", "nativeCloudConnection")}}]
        if prof.get("dcspm"):
            offerings.append({
                "offeringType": "DefenderCspmAws",
                "vmScanners": {"enabled": True, "configuration": {
                    "cloudRoleArn": arn("DefenderCspmAws", "vmScanners"), "scanningMode": "Default", "exclusionTags": {}}},
                "dataSensitivityDiscovery": {"enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "dataSensitivityDiscovery")},
                "databasesDspm": {"enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "databasesDspm")},
                "ciem": {"ciemDiscovery": {"cloudRoleArn": arn("DefenderCspmAws", "ciemDiscovery")},
                         "ciemOidc": {"cloudRoleArn": arn("DefenderCspmAws", "ciemOidc"),
                                      "azureActiveDirectoryAppName": "mciem-aws-oidc-app"}},
                "mdcContainersImageAssessment": {"enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "mdcContainersImageAssessment")},
                "mdcContainersAgentlessDiscoveryK8s": {"enabled": True, "cloudRoleArn": arn("DefenderCspmAws", "mdcContainersAgentlessDiscoveryK8s")},
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
                "mdcContainersImageAssessment": {"enabled": True, "cloudRoleArn": arn("DefenderForContainersAws", "mdcContainersImageAssessment")},
                "mdcContainersAgentlessDiscoveryK8s": {"enabled": True, "cloudRoleArn": arn("DefenderForContainersAws", "mdcContainersAgentlessDiscoveryK8s")},
            })
        if prof.get("databases"):
            offerings.append({
                "offeringType": "DefenderForDatabasesAws",
                "arcAutoProvisioning": {"enabled": True, "cloudRoleArn": arn("DefenderForDatabasesAws", "arcAutoProvisioning"),
                                        "configuration": {}},
                "rds": {"enabled": True, "cloudRoleArn": arn("DefenderForDatabasesAws", "rds")},
                "databasesDspm": {"enabled": True, "cloudRoleArn": arn("DefenderForDatabasesAws", "databasesDspm")},
            })
        if "unknown_offering" in plan["flags"]:
            offerings.append({"offeringType": UNKNOWN_OFFERING,
                              "aiServices": {"cloudRoleArn": self._arn(aid, "DefenderForCloud-AiServices")}})
        for off in offerings:  # read-only descriptions, as a GET returns them
            off["description"] = OFFERING_DESCRIPTIONS.get(off["offeringType"], "")
        env = {"environmentType": "AwsAccount", "regions": regions, "scanInterval": scan}
        if "no_account_name" not in plan["flags"]:
            env["accountName"] = plan["name"]  # read-only alias (absent on one connector: readers must cope)
        if org_data is not None:
            env["organizationalData"] = org_data
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"
        created = -rng.randint(20_000, 500_000)
        tags = {} if rng.random() < 0.6 else {"owner": "cloud-security", "costCenter": "SEC-042"}
        return {
            "id": rid, "name": name, "type": "Microsoft.Security/securityConnectors",
            "etag": f'"{_uuid5("etag", rid)}"', "kind": "", "location": "Central US", "tags": tags,
            "systemData": self._system_data(rng, created, app=plan["role"] == ORG_MEMBER),
            "properties": {"hierarchyIdentifier": aid, "environmentName": "AWS", "environmentData": env,
                           "offerings": offerings},
        }

    def _gcp_body(self, rng, sub) -> dict:
        rid = f"/subscriptions/{sub}/resourceGroups/multicloud-rg/providers/Microsoft.Security/securityConnectors/gcp-contoso-analytics"
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
        rid = f"/subscriptions/{sub}/resourceGroups/devops-rg/providers/Microsoft.Security/securityConnectors/github-contoso"
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
            plan("KeyVaults", "Standard", "PerKeyVault"), plan("Dns", "Standard"), plan("Arm", "Standard", "PerSubscription"),
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
        tenant = self.tenant_id
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
                                      str(body.get("type", "Microsoft.Security/securityConnectors")).lower(), tenant, sub,
                                      rg.lower(), kind=body.get("kind", "") or "", location=_norm_location(body.get("location", "")),
                                      properties=copy.deepcopy(body.get("properties")), tags=dict(body.get("tags") or {})))

        # Arc machines: per account, the first connector with Servers + Arc auto-provisioning
        arc_conn: dict[int, tuple[str, dict]] = {}
        for key, body, a_i in aws_conns:
            if a_i not in arc_conn and self._caps(body)[1]:
                arc_conn[a_i] = (key, body)
        for a_i in sorted(arc_conn):
            key, body = arc_conn[a_i]
            resources.extend(self._arc_rows(a_i, key, body, t, ssm_now))

        security: list[dict] = []
        counts: dict[str, dict[int, list[int]]] = {}
        for key, body, a_i in aws_conns:
            since = self._conn_caps.get(key, {}).get("cspm")
            if since is None or t < since + (ONBOARDING_LAG_TICKS if since > FAR_PAST else 0):
                continue
            ids = _parse_arm_id(body["id"])
            sub = ids.get("subscriptions", "")
            sub_counts = counts.setdefault(sub, {})
            security.extend(self._assessment_rows(key, body, a_i, t, ssm_now, sub_counts))
        for key in sorted(self.classic_connectors):
            security.extend(self._legacy_rows(self.classic_connectors[key], rgs))
        for sub in self._sub_ids:
            if sub in counts:
                security.extend(self._compliance_rows(sub, counts[sub]))
        for sub in sorted(self.pricings):
            for name in sorted(self.pricings[sub]):
                body = self.pricings[sub][name]
                security.append(_arg_row(body.get("id", f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}"),
                                         body.get("name", name), "microsoft.security/pricings", tenant, sub,
                                         properties=copy.deepcopy(body.get("properties"))))

        containers: list[dict] = []
        for s in self.subscriptions:
            containers.append(_arg_row(
                f"/subscriptions/{s.subscription_id}", s.display_name, "microsoft.resources/subscriptions", tenant,
                s.subscription_id, properties={
                    "state": s.state,
                    "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                             "quotaId": "EnterpriseAgreement_2014-09-01", "spendingLimit": "Off"},
                    "managementGroupAncestorsChain": [{"displayName": "Contoso", "name": "contoso"},
                                                      {"displayName": "Tenant Root Group", "name": tenant}]},
                tags={}))
        known_subs = set(self._sub_ids)
        for sub, rg in sorted(rgs, key=lambda x: (x[0], x[1].lower())):
            if sub not in known_subs or not rg:
                continue
            containers.append(_arg_row(f"/subscriptions/{sub}/resourceGroups/{rg}", rg,
                                       "microsoft.resources/subscriptions/resourcegroups", tenant, sub, rg.lower(),
                                       location="centralus", properties={"provisioningState": "Succeeded"}, tags={}))
        return {"resources": resources, "securityresources": security, "resourcecontainers": containers}

    # ---- Arc machines
    def _arc_rows(self, a_i: int, key: str, body: dict, t: int, ssm_now) -> list[dict]:
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
            ckey = (sub, rg, location, status, changed)
            hit = self._arc_cache.get(inst.idx)
            if hit is not None and hit[0] == ckey:
                rows.append(hit[1])
            else:
                row = self._arc_row(inst, sub, rg, location, aid, status, changed)
                self._arc_cache[inst.idx] = (ckey, row)
                rows.append(row)
        return rows

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
                                "guestConfigurationService": {"status": "Running" if status == "Connected" else "Stopped",
                                                              "startupType": "Automatic"}},
            "networkProfile": {"networkInterfaces": [{"ipAddresses": [{
                "address": inst.private_ip, "ipAddressVersion": "IPv4",
                "subnet": {"addressPrefix": inst.private_ip.rsplit(".", 1)[0] + ".0/24"}}]}]},
            "privateLinkScopeResourceId": None,
            "parentClusterResourceId": None,
        }
        return _arg_row(
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{spec.instance_id}",
            spec.instance_id, "microsoft.hybridcompute/machines", self.tenant_id, sub, rg.lower(), kind="AWS",
            location=location, properties=props,
            tags={"AccountId": aid, "Cloud": "AWS", "InstanceId": spec.instance_id, "MDFCSecurityConnector": "true"},
            identity={"type": "SystemAssigned", "principalId": inst.principal_id, "tenantId": self.tenant_id})

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
        tenant = self.tenant_id
        connector_guid = _uuid5("connector", key)
        base = f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/microsoft.security/securityconnectors/{cname.lower()}/securityentitydata/"
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
                                     "ResourceType": (ent.rtype if ent.provider == "account" else ent.provider + ent.rtype).replace("-", ""),
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

    def _assessment_rows(self, key, body, a_i, t, ssm_now, sub_counts) -> list[dict]:
        cache = self._conn_static(key, body, a_i)
        rows = list(cache.static_rows)
        for r_i, c in cache.static_counts.items():
            sc = sub_counts.setdefault(r_i, [0, 0, 0])
            sc[0] += c[0]
            sc[1] += c[1]
            sc[2] += c[2]
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
        return rows

    def _legacy_rows(self, body: dict, rgs: set) -> list[dict]:
        """Assessments left by a classic connector (AzureResourceId-style), frozen at tick 0: the duplicates."""
        props = body.get("properties") or {}
        auth = props.get("authenticationDetails") or {}
        a_i = self._acct_idx.get(str(auth.get("accountId", "")))
        if a_i is None:
            return []
        sub = _parse_arm_id(body.get("id", "")).get("subscriptions", "")
        rg = ((props.get("hybridComputeSettings") or {}).get("resourceGroupName") or "AwsConnectorRG")
        rgs.add((sub, rg))
        ckey = ("classic", body.get("id", "").lower(), sub, rg, a_i)
        cached = self._conn_cache.get(ckey)
        if cached is not None:
            return cached.static_rows
        recs = self._cat["recs"]
        ents = self._entities[a_i]
        ssm0 = {inst.idx: self._ssm_at(inst, 0) for inst in self._insts_by_acct[a_i]}
        rows = []
        for pair in self._pairs[a_i]:
            ent = ents[pair[0]]
            if ent.kind != "ec2.instance":
                continue
            rec = recs[pair[1]]
            code, change, cause = self._pair_status(pair, ent, 0, ssm0)
            azure_id = (f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/microsoft.hybridcompute/"
                        f"machines/{ent.native_id}")
            p = {"resourceDetails": {"Source": "Aws", "AzureResourceId": azure_id}, "displayName": rec.title,
                 "status": self._status_dict(code, min(change, 0), ent.first_tick, cause),
                 "additionalData": ent.additional, "metadata": rec.meta, "links": rec.links}
            rows.append(_arg_row(f"{azure_id}/providers/Microsoft.Security/assessments/{rec.key}", rec.key,
                                 "microsoft.security/assessments", self.tenant_id, sub, rg.lower(), location="global",
                                 properties=p))
        cache = _ConnCache()
        cache.static_rows, cache.dynamic, cache.static_counts = rows, [], {}
        self._conn_cache[ckey] = cache
        return rows

    # ---- regulatory compliance (legacy model: standards -> controls -> assessments, per subscription)
    def _compliance_rows(self, sub: str, rec_counts: dict[int, list[int]]) -> list[dict]:
        recs = self._cat["recs"]
        rows = []
        root = f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards"
        t_std = "microsoft.security/regulatorycompliancestandards"
        t_ctl = t_std + "/regulatorycompliancecontrols"
        t_asm = t_ctl + "/regulatorycomplianceassessments"
        row = self._compliance_row
        for std in self._cat["standards"]:
            if not std["assessed"]:
                continue
            name = std["name"]
            std_counts = {"Passed": 0, "Failed": 0, "Skipped": 0}
            ctl_rows = []
            for cid, title, r_i in std["controls"]:
                ctl_id = f"{root}/{name}/regulatoryComplianceControls/{cid}"
                a_counts = {"Passed": 0, "Failed": 0, "Skipped": 0}
                asm_row = None
                if r_i is not None:
                    h, u, na = rec_counts.get(r_i, (0, 0, 0))
                    state = "Failed" if u else ("Passed" if h else "Skipped")
                    a_counts[state] += 1
                    rec = recs[r_i]
                    asm_row = row(f"{ctl_id}/regulatoryComplianceAssessments/{rec.key}", rec.key, t_asm, sub, {
                        "description": rec.title, "assessmentType": "Assessment",
                        "assessmentDetailsLink": f"https://management.azure.com/subscriptions/{sub}/providers/"
                                                 f"Microsoft.Security/securityStatuses/{rec.key}",
                        "state": state, "passedResources": h, "failedResources": u, "skippedResources": na})
                c_state = "Failed" if a_counts["Failed"] else ("Passed" if a_counts["Passed"] else "Skipped")
                std_counts[c_state] += 1
                ctl_rows.append(row(ctl_id, cid, t_ctl, sub, {
                    "description": title, "state": c_state, "passedAssessments": a_counts["Passed"],
                    "failedAssessments": a_counts["Failed"], "skippedAssessments": a_counts["Skipped"],
                    "unsupportedAssessments": 0}))
                if asm_row is not None:
                    ctl_rows.append(asm_row)
            s_state = "Failed" if std_counts["Failed"] else ("Passed" if std_counts["Passed"] else "Skipped")
            rows.append(row(f"{root}/{name}", name, t_std, sub, {
                "state": s_state, "passedControls": std_counts["Passed"], "failedControls": std_counts["Failed"],
                "skippedControls": std_counts["Skipped"], "unsupportedControls": 0}))
            rows.extend(ctl_rows)
        return rows

    def _compliance_row(self, rid: str, name: str, rtype: str, sub: str, props: dict) -> dict:
        """A compliance row, reused (same object) while its content does not change."""
        key = (rid, tuple(props.values()))
        row = self._row_intern.get(key)
        if row is None:
            if len(self._row_intern) > 400_000:
                self._row_intern.clear()
            row = self._row_intern[key] = _arg_row(rid, name, rtype, self.tenant_id, sub, properties=props)
        return row


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
