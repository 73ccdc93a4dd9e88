"""The CloudFormation template that gives Defender for Cloud access to one AWS account (native connector).

Microsoft's portal generates this template and does not publish it; this one is built from the published equivalent
(roles.json: the OIDC provider, the per-plan IAM roles, their trust policies and permissions, default and least
privilege). It is parameterised (every role name, the Azure tenant id, the containers' external id, whether to create
the shared OIDC provider) so the same text serves a Stack, a StackSet and a re-run after drift.

    t = template("111122223333", {"cspm", "servers"}, tenant_id=tid)        # dict
    text = template_text("111122223333", {"cspm", "servers"}, tenant_id=tid, fmt="yaml")
    lint(text)            # [] when cfn-lint finds no error (cfn-lint is imported lazily: ~1 s the first time)
    create_stack_command("DefenderForCloud-Connector", "mdc.yaml")

Never imports textual or rich; cfn-lint is optional (lint() says when it is missing).
"""
from __future__ import annotations

import json
import re
import shlex
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

# the plan vocabulary is defined once: tui/core/model.py PLANS
from ..model import ALWAYS_ON_PLAN_KEYS, OPTIONAL_PLAN_KEYS, PLAN_ALIASES, PLAN_KEYS, PLAN_TITLES, PlanKey

OPTIONAL_PLANS = OPTIONAL_PLAN_KEYS  # every plan but Foundational CSPM
DEFAULT_STACK_NAME = "DefenderForCloud-Connector"
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)
OIDC_LOGICAL = "ASCDefendersOIDCIdentityProvider"
CIEM_OIDC_LOGICAL = "MDCCiemOIDCIdentityProvider"
# a WaitConditionHandle: roles depend on it, it depends on the (conditional) providers
OIDC_READY = "OIDCProvidersReady"

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ROLE_NAME_PATTERN = r"[\w+=,.@-]{1,64}"


@lru_cache(maxsize=1)
def roles_data() -> dict[str, Any]:
    """roles.json (shipped next to this module)."""
    return json.loads(Path(__file__).with_name("roles.json").read_text(encoding="utf-8"))


def normalize_plans(plans: Iterable[str] | str | None) -> tuple[PlanKey, ...]:
    """Plan keys (a set, or text "cspm,servers") -> ordered tuple, Foundational CSPM always included.

    Raises ValueError naming the unknown key."""
    if plans is None:
        items: list[str] = []
    elif isinstance(plans, str):
        items = [p for p in re.split(r"[\s,]+", plans) if p]
    else:
        items = [str(p) for p in plans]
    wanted: set[str] = {PLAN_ALIASES.get(p.strip().lower(), p.strip().lower()) for p in items}
    unknown = sorted(wanted - set(PLAN_KEYS))
    if unknown:
        raise ValueError(f"unknown plan {unknown[0]!r}: choose from {', '.join(PLAN_KEYS)}")
    wanted.update(ALWAYS_ON_PLAN_KEYS)  # Foundational CSPM
    return tuple(p for p in PLAN_KEYS if p in wanted)


def roles_for(plans: Iterable[str]) -> list[str]:
    """Default names of the IAM roles the chosen plans need (roles.json order, each once)."""
    chosen = set(normalize_plans(plans))
    return [name for name, r in roles_data()["roles"].items() if chosen & set(r["plans"])]


def _alnum(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name)


def role_parameter(role: str) -> str:
    """The template parameter that holds a role's name ("CspmMonitorAws" -> "CspmMonitorAwsRoleName")."""
    if role == "AWS-MDCSetup-HostMgmtRole":
        return "ConfigurationID"
    return _alnum(role.removesuffix("Role")) + "RoleName"


def role_logical_id(role: str) -> str:
    return _alnum(role.removesuffix("Role")) + "Role"


def _sub(text: str, params: Mapping[str, str]) -> Any:
    """A string with ${...} placeholders -> Fn::Sub (role placeholders ${role:X} become that role's parameter)."""
    text = re.sub(r"\$\{role:([^}]+)\}", lambda m: "${" + params[m.group(1)] + "}", text)
    return {"Fn::Sub": text} if "${" in text else text


def _resources(v: Any, params: Mapping[str, str]) -> Any:
    if isinstance(v, list):
        return [_sub(x, params) if isinstance(x, str) else x for x in v]
    return _sub(v, params) if isinstance(v, str) else v


def _statements(stmts: Sequence[Mapping[str, Any]], params: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for s in stmts:
        d = dict(s)
        d["Resource"] = _resources(d.get("Resource", "*"), params)
        out.append(d)
    return out


def _pick(section: Mapping[str, Any] | None, least_privilege: bool) -> list[Any]:
    if not section:
        return []
    return list(section.get("both", [])) + list(section.get("least_privilege" if least_privilege else "default", []))


def _trust(role: str, spec: Mapping[str, Any], params: Mapping[str, str], tenant_id: str | None) -> dict[str, Any]:
    data = roles_data()
    trust = spec["trust"]
    kind = trust["kind"]
    stmts: list[dict[str, Any]]
    if kind == "oidc":
        issuer = data["oidc_provider"]["issuer"]
        stmts = [{
            "Effect": "Allow",
            "Principal": {"Federated": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{issuer}"}},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {
                f"{issuer}:aud": trust["audience"],
                "sts:RoleSessionName": {"Fn::Sub": data["session_name_prefix"] + "${TenantId}"},
            }},
        }]
        if trust.get("scuba"):
            stmts.append({"Effect": "Allow", "Principal": {"AWS": data["scuba"]["principal"]},
                          "Action": "sts:AssumeRole",
                          "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ScubaExternalId"}}}})
    elif kind == "ciem_oidc":
        assert tenant_id, "CIEM needs the tenant id"
        issuer = f"sts.windows.net/{tenant_id}/"
        stmts = [{
            "Effect": "Allow",
            "Principal": {"Federated": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{issuer}"}},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer}:aud": data["ciem_oidc_provider"]["audience"],
                                           f"{issuer}:sub": {"Ref": "CiemSubjectClientId"}}},
        }]
    elif kind == "role":
        stmts = [{"Effect": "Allow",
                  "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${"
                                                   + params[trust["role"]] + "}"}},
                  "Action": "sts:AssumeRole"}]
    elif kind == "service":
        st: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": trust["service"]}, "Action": "sts:AssumeRole"}
        if trust.get("external_id_is_account"):
            st["Condition"] = {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
        stmts = [st]
    else:  # pragma: no cover - roles.json is ours
        raise ValueError(f"{role}: unknown trust kind {kind!r}")
    return {"Version": "2012-10-17", "Statement": stmts}


def template(account_id: str, plans: Iterable[str] | str, *, least_privilege: bool = False,
             tenant_id: str | None = None, role_names: Mapping[str, str] | None = None,
             scuba_external_id: str | None = None, configuration_id: str = "MDCSetup",
             create_oidc_provider: bool = True) -> dict[str, Any]:
    """The CloudFormation template (a dict) for `account_id` and the chosen plans.

    `tenant_id`: the Azure tenant (MicrosoftDefenderForClouds_<tenant> session names; required with Defender CSPM,
    whose CIEM role trusts the tenant's own OIDC provider). Without it the TenantId parameter has no default.
    `role_names`: custom names, {default name: custom name}. Raises ValueError on bad input (message names the rule).
    """
    from . import validate as v

    problem = v.aws_account_id(account_id)
    if problem:
        raise ValueError(problem)
    chosen = normalize_plans(plans)
    if tenant_id is not None:
        problem = v.guid(tenant_id, what="tenant ID")
        if problem:
            raise ValueError(problem)
        tenant_id = tenant_id.strip().lower()
    if "defender_cspm" in chosen and not tenant_id:
        raise ValueError("tenant ID: required with Defender CSPM (its CIEM role trusts your tenant's OIDC provider)")
    names = dict(role_names or {})
    for default, custom in names.items():
        if default not in roles_data()["roles"]:
            raise ValueError(f"role name: {default!r} is not a Defender for Cloud role")
        if not re.fullmatch(_ROLE_NAME_PATTERN, custom or ""):
            raise ValueError(f"role name {custom!r}: 1-64 letters, digits and + = , . @ _ - required")
    data = roles_data()
    roles = roles_for(chosen)
    params = {r: role_parameter(r) for r in data["roles"]}

    parameters: dict[str, Any] = {
        "TenantId": {"Type": "String", "AllowedPattern": _GUID,
                     "Description": "Your Azure tenant id: Defender for Cloud signs in as "
                                    "MicrosoftDefenderForClouds_<tenant id>"},
        "CreateOIDCProvider": {"Type": "String", "AllowedValues": ["true", "false"],
                               "Default": "true" if create_oidc_provider else "false",
                               "Description": "false when the account already has the Defender for Cloud OIDC "
                                              "provider (sts.windows.net/33e01921-.../), e.g. from an older stack"},
    }
    if tenant_id:
        parameters["TenantId"]["Default"] = tenant_id
    for r in roles:
        p = params[r]
        if p == "ConfigurationID":
            parameters[p] = {"Type": "String", "Default": configuration_id, "AllowedPattern": r"[A-Za-z0-9_-]{1,20}",
                             "Description": "Suffix of the SSM host-management setup role "
                                            "(AWS-MDCSetup-HostMgmtRole-<region>-<ConfigurationID>)"}
            continue
        parameters[p] = {"Type": "String", "Default": names.get(r, r), "AllowedPattern": _ROLE_NAME_PATTERN,
                         "Description": f"IAM role for {data['roles'][r]['purpose']}"}
    if "containers" in chosen:
        parameters["ScubaExternalId"] = {
            "Type": "String", "Default": scuba_external_id or data["scuba"]["default_external_id"],
            "Description": "External id Defender for Containers' collector presents (sts:ExternalId)"}
    conditions: dict[str, Any] = {"CreateOIDC": {"Fn::Equals": [{"Ref": "CreateOIDCProvider"}, "true"]}}
    resources: dict[str, Any] = {}
    oidc = data["oidc_provider"]
    resources[OIDC_LOGICAL] = {
        "Type": "AWS::IAM::OIDCProvider", "Condition": "CreateOIDC",
        "Properties": {"Url": oidc["url"], "ClientIdList": list(oidc["client_id_list"]),
                       "ThumbprintList": list(oidc["thumbprint_list"]),
                       "Tags": [{"Key": "Name", "Value": OIDC_LOGICAL}]},
    }
    ready_refs: dict[str, Any] = {
        "Defenders": {"Fn::If": ["CreateOIDC", {"Ref": OIDC_LOGICAL}, {"Ref": "AWS::NoValue"}]}}
    rules: dict[str, Any] = {}
    if "defender_cspm" in chosen:
        ciem = data["ciem_oidc_provider"]
        parameters["CreateCiemOIDCProvider"] = {
            "Type": "String", "AllowedValues": ["true", "false"],
            "Default": "true" if create_oidc_provider else "false",
            "Description": "false when the account already has the OIDC provider of your tenant (CIEM)"}
        parameters["CiemSubjectClientId"] = {
            "Type": "String", "Default": ciem["default_subject"], "AllowedPattern": _GUID,
            "Description": "Client id of the Defender for Cloud CIEM application in your tenant (the token's sub)"}
        conditions["CreateCiemOIDC"] = {"Fn::Equals": [{"Ref": "CreateCiemOIDCProvider"}, "true"]}
        resources[CIEM_OIDC_LOGICAL] = {
            "Type": "AWS::IAM::OIDCProvider", "Condition": "CreateCiemOIDC",
            "Properties": {"Url": f"https://sts.windows.net/{tenant_id}/", "ClientIdList": list(ciem["client_id_list"]),
                           "ThumbprintList": list(ciem["thumbprint_list"]),
                           "Tags": [{"Key": "Name", "Value": CIEM_OIDC_LOGICAL}]},
        }
        ready_refs["Ciem"] = {"Fn::If": ["CreateCiemOIDC", {"Ref": CIEM_OIDC_LOGICAL}, {"Ref": "AWS::NoValue"}]}
        rules["TenantMatchesCiemProvider"] = {"Assertions": [{
            "Assert": {"Fn::Equals": [{"Ref": "TenantId"}, tenant_id]},
            "AssertDescription": f"This template's CIEM trust is bound to tenant {tenant_id}: generate a new template "
                                 "for another tenant"}]}
    # Roles trust the providers by ARN; this handle makes them wait for the providers only when they are created.
    resources[OIDC_READY] = {"Type": "AWS::CloudFormation::WaitConditionHandle", "Metadata": {"Providers": ready_refs}}

    outputs: dict[str, Any] = {}
    for r in roles:
        spec = data["roles"][r]
        logical = role_logical_id(r)
        props: dict[str, Any] = {
            "RoleName": ({"Fn::Sub": spec["name_template"]} if spec.get("name_template") else {"Ref": params[r]}),
            "Description": f"Microsoft Defender for Cloud: {spec['purpose']}",
            "AssumeRolePolicyDocument": _trust(r, spec, params, tenant_id),
            "Tags": [{"Key": "MDFCSecurityConnector", "Value": "true"}],
        }
        managed = [{"Fn::Sub": a.replace("{partition}", "${AWS::Partition}")} for a in _pick(spec.get("managed"),
                                                                                               least_privilege)]
        if managed:
            props["ManagedPolicyArns"] = managed
        inline = _pick(spec.get("inline"), least_privilege)
        if inline:
            props["Policies"] = [{"PolicyName": p["name"],
                                  "PolicyDocument": {"Version": "2012-10-17",
                                                     "Statement": _statements(p["statements"], params)}}
                                 for p in inline]
        res: dict[str, Any] = {"Type": "AWS::IAM::Role", "Properties": props}
        depends = []
        if spec["trust"]["kind"] in ("oidc", "ciem_oidc"):
            depends.append(OIDC_READY)
        if spec["trust"]["kind"] == "role":
            depends.append(role_logical_id(spec["trust"]["role"]))
        if depends:
            res["DependsOn"] = depends
        resources[logical] = res
        outputs[logical + "Arn"] = {"Description": f"{r}: {spec['purpose']}", "Value": {"Fn::GetAtt": [logical, "Arn"]}}

    doc: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (f"Microsoft Defender for Cloud access for AWS account {account_id}: "
                        f"{', '.join(PLAN_TITLES[p] for p in chosen)}"
                        f" ({'least privilege' if least_privilege else 'default access'}). Generated by mdc-aws."),
        "Metadata": {"mdc-aws": {"account": account_id, "plans": list(chosen), "leastPrivilege": least_privilege,
                                 "roles": roles}},
        "Parameters": parameters,
    }
    if rules:
        doc["Rules"] = rules
    doc["Conditions"] = conditions
    doc["Resources"] = resources
    doc["Outputs"] = outputs
    return doc


# ------------------------------------------------------------------------------------------------------------------
# Text: JSON, or YAML (a small emitter: every string double-quoted, so nothing is mistaken for a date or a bool)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+(::[A-Za-z0-9_]+)?")


def _yaml_scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(str(v), ensure_ascii=False)


def _yaml_key(k: str) -> str:
    return k if _PLAIN_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)


def _yaml(v: Any, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(v, dict):
        for k, x in v.items():
            key = _yaml_key(str(k))
            if isinstance(x, dict) and x:
                out.append(f"{pad}{key}:")
                _yaml(x, indent + 1, out)
            elif isinstance(x, list) and x:
                out.append(f"{pad}{key}:")
                _yaml(x, indent + 1, out)
            else:
                out.append(f"{pad}{key}: {_inline(x)}")
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub: list[str] = []
                _yaml(x, indent + 1, sub)
                first = sub[0].lstrip(" ")
                out.append(f"{pad}- {first}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {_inline(x)}")
    else:
        out.append(pad + _yaml_scalar(v))


def _inline(x: Any) -> str:
    if isinstance(x, dict):
        return "{}"
    if isinstance(x, list):
        return "[]"
    return _yaml_scalar(x)


def to_yaml(doc: Mapping[str, Any]) -> str:
    out: list[str] = []
    _yaml(dict(doc), 0, out)
    return "\n".join(out) + "\n"


def template_text(account_id: str, plans: Iterable[str] | str, *, fmt: str = "yaml", **kw: Any) -> str:
    """template(...) as YAML (default) or JSON text."""
    doc = template(account_id, plans, **kw)
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"format {fmt!r}: yaml or json")
    return to_yaml(doc)


# ------------------------------------------------------------------------------------------------------------------
# cfn-lint


def lint_available() -> bool:
    try:
        import cfnlint.api  # noqa: F401
    except Exception:  # noqa: BLE001 - cfn-lint broken in any way = not available
        return False
    return True


_RUNNERS: dict[tuple[str, ...], Any] = {}
_LINT_LOCK = threading.Lock()  # one cfn-lint run at a time: its rules keep per-run state


def _runner(regions: tuple[str, ...]) -> Any:
    """cfn-lint's Runner, made once per process and region list: loading its ~300 rules costs ~0.5 s per call.
    None when cfn-lint's internals (Runner, ConfigMixIn, decode_str) moved (core/hooks.py logs it once): then
    lint() goes through the public cfnlint.api.lint, which loads the rules every time."""
    from .. import hooks as _hooks

    if not _hooks.usable("cfnlint.runner"):
        return None
    r = _RUNNERS.get(regions)
    if r is None:
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        r = _RUNNERS[regions] = Runner(ConfigMixIn(regions=list(regions)))
    return r


def lint(text: str, *, regions: Sequence[str] = ("us-east-1",), warnings: bool = False) -> list[str]:
    """cfn-lint's findings for a template text (YAML or JSON): errors only unless `warnings`. Empty = clean.

    One line per finding: "E3012 line 42: <message> (Resources/X/Properties/Y)". Blocking (~0.3-1 s; the first call
    ~1.5 s more to import cfn-lint and load its rules): run it in a worker thread. When cfn-lint is not installed, the
    one line says so."""
    try:
        import cfnlint.api
    except Exception as e:  # noqa: BLE001 - cfn-lint broken in any way: one line
        return [f"cfn-lint is not available ({type(e).__name__}): `pip install cfn-lint` to lint the template"]
    try:
        with _LINT_LOCK:
            runner = _runner(tuple(regions))
            if runner is None:  # the stock, public way
                matches = cfnlint.api.lint(text, regions=list(regions))
            else:
                from cfnlint.decode.decode import decode_str

                doc, matches = decode_str(text)
                if not matches and doc is not None:
                    matches = list(runner.validate_template(doc))
    except Exception as e:  # noqa: BLE001 - the linter itself failed
        return [f"cfn-lint failed: {type(e).__name__}: {' '.join(str(e).split())[:200]}"]
    out = []
    for m in matches or ():
        sev = str(getattr(m.rule, "severity", "error")).lower()
        if sev != "error" and not (warnings and sev == "warning"):
            continue
        path = "/".join(str(p) for p in (getattr(m, "path", None) or []))
        out.append(f"{m.rule.id} line {m.linenumber}: {' '.join(str(m.message).split())}"
                   + (f" ({path})" if path else ""))
    return out


# ------------------------------------------------------------------------------------------------------------------
# Instructions


def create_stack_command(stack_name: str, template_path: str, *, region: str | None = None,
                         parameters: Mapping[str, str] | None = None, profile: str | None = None) -> str:
    """The exact `aws cloudformation create-stack ... --capabilities CAPABILITY_NAMED_IAM` command line."""
    q = shlex.quote
    parts = ["aws", "cloudformation", "create-stack", "--stack-name", q(stack_name),
             "--template-body", q(f"file://{template_path}"), "--capabilities", *CAPABILITIES]
    if parameters:
        parts.append("--parameters")
        parts += [q(f"ParameterKey={k},ParameterValue={v}") for k, v in parameters.items()]
    if region:
        parts += ["--region", q(region)]
    if profile:
        parts += ["--profile", q(profile)]
    return " ".join(parts)


def stackset_instructions(state: Any, template_path: str = "mdc-aws-connector.yaml") -> str:
    """What a management account runs: the Stack (the management account itself) plus a service-managed StackSet
    for the member accounts. `state`: a wizard.NativeState (aws_account_id, stackset_name, excluded_account_ids,
    regions)."""
    q = shlex.quote
    acct = getattr(state, "aws_account_id", "") or "<management account>"
    name = getattr(state, "stackset_name", "") or "MDC-StackSet"
    regions = list(getattr(state, "regions", []) or []) or ["us-east-1"]
    home = regions[0]
    excluded = [a for a in (getattr(state, "excluded_account_ids", []) or []) if a]
    targets = "OrganizationalUnitIds=<root or OU ids>"
    if excluded:
        targets += f",Accounts={','.join(excluded)},AccountFilterType=DIFFERENCE"
    lines = [
        f"Management account {acct}: run the template twice, as a Stack and as a StackSet.",
        "",
        "1. The Stack (service-managed StackSets never deploy into the management account itself):",
        "   " + create_stack_command(DEFAULT_STACK_NAME, template_path, region=home),
        "",
        "2. Trusted access for StackSets in AWS Organizations (once per organization, from the management account):",
        "   aws cloudformation activate-organizations-access",
        f"   (or: aws organizations enable-aws-service-access --service-principal {STACKSETS_PRINCIPAL})",
        "",
        "3. The StackSet, deployed to every member account (and to new ones automatically):",
        f"   aws cloudformation create-stack-set --stack-set-name {q(name)} "
        f"--template-body {q('file://' + template_path)} --permission-model SERVICE_MANAGED "
        "--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities CAPABILITY_NAMED_IAM",
        f"   aws cloudformation create-stack-instances --stack-set-name {q(name)} "
        f"--deployment-targets {q(targets)} --regions {q(home)}",
        "",
        "   IAM is global: one region per account is enough (more would collide on the role names).",
        "   Member connectors appear in Defender for Cloud within 24 hours.",
    ]
    if excluded:
        lines.append(f"   Excluded accounts (no stack instance, no connector): {', '.join(excluded)}")
    return "\n".join(lines) + "\n"
