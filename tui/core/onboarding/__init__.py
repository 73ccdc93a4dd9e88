"""Onboarding logic (issue 4): validators, connector payloads, CloudFormation templates, prerequisite checks
(doctor) and every write as a planned request. Never imports textual or rich; the wizard screens
(tui/screens/onboarding/) and the CLI (`mdc-aws onboard|doctor|template`) both sit on it.

Contract between the core half and the screens half (both are being written at the same time). Items marked (+)
were added by the core half while implementing; nothing of the original contract was renamed or removed.

validate.py  - each validator takes the raw text a user typed and returns None when valid, else ONE line naming the
               rule ("AWS account ID: 12 digits required (found 10)"). Never raises. Surrounding whitespace is
               ignored; a non-string is invalid (scan_interval also takes an int).
               connector_name, aws_account_id, aws_account_ids (comma/space list), role_arn, guid, subscription_id,
               resource_group, azure_location, aws_region, aws_regions (list text), scan_interval (4, 6, 12 or 24 h),
               stackset_name, proxy_url ("http://<host>:<port>"), access_key_id, secret_access_key (never echoed),
               external_id.
               (+) service_principal_secret (never echoed); guid(value, *, what="GUID") names the field;
               VALIDATORS {name: fn} (every validator above); parse_list(text) -> list (deduplicated),
               parse_scan_interval, parse_proxy_url -> (host, port), normalize_azure_location, role_account(arn);
               AWS_REGIONS, AZURE_LOCATIONS, SCAN_INTERVAL_CHOICES (4, 6, 12, 24).
wizard.py    - @dataclass NativeState: connector_name, subscription_id, resource_group, location, aws_account_id,
               organization ("single"|"management"), stackset_name, excluded_account_ids: list[str],
               regions: list[str], scan_interval: int, plans: PlanChoices, least_privilege: bool
               (+) tenant_id: str|None (the template's session-name condition; required with Defender CSPM),
               role_names: dict[default name, custom name], arc_proxy: str (Servers' Arc proxy), tags: dict
               @dataclass PlanChoices: cspm=True (always), defender_cspm, servers, servers_sub_plan ("P1"|"P2"),
               arc_auto_provisioning, mde, vulnerability_assessment (None|"TVM"|"Qualys"), agentless_scanning,
               containers, databases   (+) keys() -> the chosen plan keys, "cspm" first
               PLAN_INFO: per plan key -> (title, what it costs as the seed says, prerequisites text)
               errors(state) -> dict[field, message] (all validators applied), offerings(state) -> list[dict],
               connector_body(state) -> dict (the exact PUT body for securityConnectors 2023-10-01-preview; a single
               account has no organizationalData, a management account has {organizationMembershipType:
               "Organization", stacksetName, excludedAccountIds})
               (+) summary(state) -> [(label, value)], template_kwargs(state) -> kwargs of template.template(),
               connector_path(state), PLAN_OFFERING {plan key: offeringType}
               @dataclass ClassicState: subscription_id, auth ("role"|"user"), role_arn, access_key_id,
               secret_access_key (masked in every repr), regions, arc_auto_provision: bool, resource_group,
               azure_region, sp_application_id, sp_secret (masked), proxy_url; classic_body(state) -> dict,
               classic_tags(state)
               (+) ClassicState.name (the connector's name); classic_body(state, *, reveal=False): secrets MASKED
               unless reveal (only writes.py reveals, into the request it sends); classic_errors(state) -> dict;
               classic_tags(state) -> [(tag, value or what it will be)]; classic_account(state); mask(),
               mask_key_id() ("AKIA…WXYZ"); MASK; CLASSIC_RETIRED_NOTE
template.py  - template(account_id, plans: set[str], *, least_privilege=False, tenant_id=...) -> dict (CloudFormation),
               template_text(...) -> str (YAML or JSON), lint(text) -> list[str] (cfn-lint errors, empty = clean),
               create_stack_command(stack_name, template_path, ...) -> str (`aws cloudformation create-stack ...
               --capabilities CAPABILITY_NAMED_IAM`), stackset_instructions(state) -> str
               As implemented: template(account_id, plans (set, tuple or "cspm,servers"; cspm always added), *,
               least_privilege=False, tenant_id=None (required with defender_cspm), role_names=None,
               scuba_external_id=None, configuration_id="MDCSetup", create_oidc_provider=True); raises ValueError
               naming the rule. template_text(..., fmt="yaml"|"json", **same kwargs).
               lint(text, *, regions=("us-east-1",), warnings=False): blocking (~0.3-1 s; first call ~1.5 s more):
               call it from a worker thread; when cfn-lint is missing it returns one line saying so.
               create_stack_command(stack_name, template_path, *, region=None, parameters=None, profile=None);
               stackset_instructions(state, template_path="mdc-aws-connector.yaml").
               (+) roles_for(plans) -> default role names, normalize_plans(plans), lint_available(), PLAN_KEYS,
               PLAN_TITLES, DEFAULT_STACK_NAME, STACKSETS_PRINCIPAL, roles_data() (roles.json)
writes.py    - @dataclass(frozen) PlannedWrite: cloud ("azure"|"aws"), method, target (URL or "service:Operation"),
               body (dict, secrets masked), summary (one line), and an async or sync `execute()`;
               class ReadOnlyError; plan_* functions for: create native connector, create classic connector, delete
               classic connector, deploy stack (boto3 CloudFormation), enable Config recorder / Security Hub in a
               region, create the classic IAM role (trust 158177204117 + ExternalId = subscription id + the 3 managed
               policies), delete the classic role / the user's access keys, register a resource provider.
               execute_write(planned, *, read_only) raises ReadOnlyError in read-only mode and never sends.
               As implemented: every plan_* takes `settings` (tui.core.config.Settings) FIRST and returns
               list[PlannedWrite] (several requests for Config, the classic role, deleting a role); they are pure
               (nothing sent) and raise SourceError(kind="usage") on invalid input:
                 plan_create_native_connector(settings, state), plan_delete_native_connector(settings, sub, rg,
                 name) (+), plan_create_classic_connector(settings, classic_state), plan_delete_classic_connector(
                 settings, sub, name), plan_register_provider(settings, sub, namespace), plan_deploy_stack(settings,
                 account, region, template_body, *, stack_name, parameters), plan_delete_stack(settings, account,
                 region, stack_name) (+), plan_enable_security_hub(settings, account, region),
                 plan_enable_config_recorder(settings, account, region, *, bucket_name, role_arn, create_bucket),
                 plan_create_classic_role(settings, account, subscription_id, *, role_name="AscConnector"),
                 plan_delete_classic_role(settings, account, role_name, *, attached_policies=None),
                 plan_delete_access_keys(settings, account, user_name, access_key_ids).
               PlannedWrite.execute() is async; (+) fields scope, destructive; describe() (the confirmation text);
               request_line(); execute_sync(). execute_write(one or a list, *, read_only) returns an awaitable of the
               result (the response JSON / boto3 dict) or list of results, and raises ReadOnlyError AT ONCE when
               read-only; (+) execute_write_sync(...) blocks (worker threads; also safe inside a running loop);
               a failing item of a list raises (+) WriteError(.done, .remaining: summaries);
               (+) set_read_only(True) makes every execute refuse (process-wide); PLAN_FUNCTIONS;
               CLASSIC_ROLE_NAME, CLASSIC_MANAGED_POLICIES, classic_trust_policy(subscription_id).
doctor.py    - @dataclass Check: name, ok: bool | None, detail, fix; async run_doctor(settings, account=None)
               -> list[Check]: Azure role on the subscription, resource providers, pricings for the chosen plans,
               AWS identity, Organizations trusted access for StackSets, template drift (offerings whose roles are
               missing in AWS: "re-run the template").
               As implemented: run_doctor(settings, account=None, *, plans=None, subscriptions=None); Check is
               frozen, ok None = could not check / not applicable; (+) Check.subject, Check.writes (PlannedWrites
               that apply the fix, e.g. register a provider), .status ("PASS"|"FAIL"|"SKIP"), .line(), .to_dict();
               failed(checks). (+) Live reads for the screens (async, read-only): plan_checks(settings, sub,
               account, plans, regions) (Servers pricing; Containers: EKS clusters + SQS/Firehose/S3 access),
               stack_status(settings, account, region, stack_name) -> (status, reason), region_status(settings,
               account, regions) -> {region: {config, security_hub, error}}, ssm_coverage(settings, account,
               regions), role_policies(settings, account, role), access_keys(settings, account, user).
"""
