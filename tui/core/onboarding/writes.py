"""Every mutating call of onboarding, Azure or AWS, as a PlannedWrite: the exact request shown before it is sent.

    writes = plan_create_native_connector(settings, state)          # list[PlannedWrite] (pure: nothing is sent)
    for w in writes: print(w.describe())                            # method + URL / service:Operation + body
    result = await execute_write(writes, read_only=False)           # sends them in order, stops at the first failure

This module is the one place every Azure and AWS write of mdc-aws passes, and it obeys the process-wide policy
(tui.core.policy, set once by the CLI): in read-only mode `execute_write` raises ReadOnlyError when called and sends
nothing (no client is even created); in a demo run it refuses anything but the emulated estate on 127.0.0.1 (and
everything while the estate starts or after it failed to start). A caller cannot lift either: `read_only=True` only
adds read-only for one call, `set_read_only(True)` turns it on for the process (never off), and the same checks run
again where the clients are made (`_Context`), so a sender called directly is refused too.
`execute_write_sync(...)` is the blocking form for worker threads.

Secrets (an access key's secret, a service principal's secret) are masked in `body`, in every repr and message; the
real values live only in the closure that sends the request.

Every plan_* returns a list (most have one element; enabling AWS Config or creating the classic role are several
requests). When a later request fails, execute_write raises WriteError with `done` and `remaining` (summaries) so the
screen can say what is left. Errors are one line with the cause and the fix (tui.core.errors.SourceError).

Azure writes go through azure-mgmt-security's operations (same auth, retries, TLS settings as the reads); AWS writes
through boto3 in the target account, reached as tui.core.aws.AwsSource reaches it (profile / role / assume-role).
Never imports textual or rich.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from .. import policy
from ..errors import AuthError, SourceError
from ..policy import ReadOnlyError  # noqa: F401 - part of this module's API (screens catch it)
from . import validate as v
from .template import CAPABILITIES, DEFAULT_STACK_NAME
from .wizard import (
    CLASSIC_CONNECTORS_API,
    MASK,
    CLASSIC_EXTERNAL_ACCOUNT,
    SECURITY_CONNECTORS_API,
    ClassicState,
    NativeState,
    classic_body,
    classic_path,
    connector_body,
    connector_path,
    mask_key_id,
)

PROVIDERS_API = "2021-04-01"
CLASSIC_ROLE_NAME = "AscConnector"
CLASSIC_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/SecurityAudit",
    "arn:aws:iam::aws:policy/service-role/AmazonSSMAutomationRole",
    "arn:aws:iam::aws:policy/AWSSecurityHubReadOnlyAccess",
)
CONFIG_RECORDER_NAME = "default"


def set_read_only(on: bool) -> None:
    """Turn read-only on for the process (tui.core.policy: the CLI's --read-only). It cannot be turned off."""
    if on:
        policy.configure(read_only=True)
    elif policy.read_only():
        raise SourceError("read-only mode is on for this process (--read-only): it cannot be turned off",
                          kind="usage")


def read_only() -> bool:
    return policy.read_only()


class WriteError(SourceError):
    """A write failed: `done` were sent and succeeded, `remaining` (the failed one first) were not completed."""

    def __init__(self, cause: SourceError, done: Sequence[str], remaining: Sequence[str]) -> None:
        msg = cause.message
        if done:
            msg += f"; done: {'; '.join(done)}"
        if remaining:
            msg += f"; NOT done: {'; '.join(remaining)}"
        super().__init__(msg, kind=cause.kind, retry_after=cause.retry_after)
        self.cause = cause
        self.done = tuple(done)
        self.remaining = tuple(remaining)


@dataclass(frozen=True)
class PlannedWrite:
    cloud: str  # "azure" | "aws"
    method: str  # HTTP method (AWS: the operation's HTTP method)
    target: str  # Azure: the full URL with api-version; AWS: "service:Operation"
    body: Any  # the request body / API parameters, secrets masked (None: no body)
    summary: str  # one line: what it does
    scope: str = ""  # Azure: the subscription; AWS: "account 111122223333, us-east-1"
    destructive: bool = False  # deletes something
    sender: Callable[["_Context"], Awaitable[Any]] | None = field(default=None, repr=False, compare=False)
    settings: Any = field(default=None, repr=False, compare=False)

    def request_line(self) -> str:
        return f"{self.method} {self.target}"

    def describe(self) -> str:
        """The exact request, for the confirmation screen: scope, method and target, then the body as JSON."""
        head = f"{self.summary}\n{self.scope + ': ' if self.scope else ''}{self.request_line()}"
        if self.body is None:
            return head + "\n(no body)"
        return head + "\n" + json.dumps(self.body, indent=2, ensure_ascii=False)

    async def execute(self) -> Any:
        """Send this one request (under the process's policy: refused in read-only mode). Returns the response body
        (dict) or None."""
        return await execute_write(self)

    def execute_sync(self) -> Any:
        """execute() for blocking callers (worker threads)."""
        return execute_write_sync(self)


def execute_write(planned: PlannedWrite | Sequence[PlannedWrite], *, read_only: bool = False) -> Awaitable[Any]:
    """Send one PlannedWrite (its result) or a list in order (the list of results): `await execute_write(...)`.

    Read-only (the process's policy, or read_only=True for this call: False never lifts the policy) raises
    ReadOnlyError AT ONCE, when called (awaited or not): nothing is sent, no client is created; so does a demo run's
    refusal (tui.core.policy.check_writes). A failure raises the write's SourceError (one request) or
    WriteError(done, remaining) (a list). From a thread without an event loop (or to block), use
    execute_write_sync()."""
    items = [planned] if isinstance(planned, PlannedWrite) else list(planned)
    policy.check_writes(items, read_only=read_only)
    return _execute(items, single=isinstance(planned, PlannedWrite))


def execute_write_sync(planned: PlannedWrite | Sequence[PlannedWrite], *, read_only: bool = False) -> Any:
    """execute_write for blocking callers (worker threads). Inside a running event loop it runs on a helper thread
    (asyncio.run cannot nest), so it also works from a test's loop."""
    import asyncio
    import concurrent.futures

    coro = execute_write(planned, read_only=read_only)  # raises ReadOnlyError before anything else
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


async def _execute(items: list[PlannedWrite], *, single: bool) -> Any:
    results: list[Any] = []
    contexts: dict[int, _Context] = {}
    try:
        for i, x in enumerate(items):
            if x.sender is None:
                raise SourceError(f"{x.summary}: nothing to send (not built by a plan_* function)", kind="usage")
            ctx = contexts.get(id(x.settings))
            if ctx is None:
                ctx = contexts[id(x.settings)] = _Context(x.settings)
            try:
                results.append(await x.sender(ctx))
            except Exception as e:  # noqa: BLE001 - every failure becomes one line with the fix
                err = e if isinstance(e, SourceError) else SourceError(f"{x.summary} failed: {type(e).__name__}: "
                                                                       f"{' '.join(str(e).split())[:200]}")
                if single:
                    raise err from None
                raise WriteError(err, [y.summary for y in items[:i]], [y.summary for y in items[i:]]) from None
    finally:
        for ctx in contexts.values():
            await ctx.close()
    return results[0] if single else results


# ------------------------------------------------------------------------------------------------------------------
# Sending


class _Context:
    """Clients shared by the writes of one execute_write call (one Azure credential, one AWS source)."""

    def __init__(self, settings: Any) -> None:
        policy.check_send(settings)  # the policy again where clients are made: a sender called directly is refused
        self.settings = settings
        self._azure: Any = None
        self._aws: Any = None
        self._clients: dict[tuple[str, str], Any] = {}

    def azure(self) -> Any:
        if self._azure is None:
            from ..azure import AzureSource

            self._azure = AzureSource(self.settings.azure)
        return self._azure

    def security(self, subscription: str, api: str) -> Any:
        """An azure-mgmt-security client of `api` for `subscription` (2023-10-01-preview or 2020-01-01-preview)."""
        key = (subscription, api)
        c = self._clients.get(key)
        if c is None:
            from ..arg import client_kwargs

            client_class: Any  # one of two API versions' SecurityCenter
            if api == CLASSIC_CONNECTORS_API:
                from azure.mgmt.security.v2020_01_01_preview.aio import SecurityCenter as ClassicSecurityCenter

                client_class = ClassicSecurityCenter
            else:
                from azure.mgmt.security.v2023_10_01_preview.aio import SecurityCenter as NativeSecurityCenter

                client_class = NativeSecurityCenter
            kw = client_kwargs(self.settings.azure)
            base_url = kw.pop("base_url")
            c = self._clients[key] = client_class(self.azure().credential, subscription, base_url=base_url, **kw)
        return c

    def aws(self) -> Any:
        if self._aws is None:
            from ..aws import AwsSource

            self._aws = AwsSource(self.settings.aws)
        return self._aws

    async def close(self) -> None:
        for c in list(self._clients.values()):
            try:
                await c.close()
            except Exception:  # noqa: BLE001 - closing goes on whatever one client raises
                pass
        self._clients.clear()
        if self._azure is not None:
            await self._azure.close()
        if self._aws is not None:
            await self._aws.aclose()


def _raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    """cls= for SDK operations: the raw JSON body (or None), not the SDK model."""
    resp = pipeline_response.http_response
    try:
        text = resp.text()
    except Exception:  # noqa: BLE001 - no body
        return None
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _azure_error(e: BaseException, ctx: _Context, summary: str, subscription: str) -> SourceError:
    from ..arg import _arm_error_parts, to_source_error

    status = getattr(e, "status_code", None)
    code = msg = None
    resp = getattr(e, "response", None)
    if resp is not None:
        try:
            code, msg = _arm_error_parts(resp.json())
        except Exception:  # noqa: BLE001 - an unreadable error body still gives the status-code message
            pass
    detail = f"{code or status}: {' '.join(str(msg or '').split())[:200]}" if (code or msg) else str(status)
    if status == 403:
        return AuthError(f"Azure denied {summary} ({detail}): the signed-in identity needs Contributor (or Security "
                         f"Admin) on subscription {subscription}; ask an Owner, then retry")
    if status == 409:
        return SourceError(f"Azure refused {summary}: conflict ({detail}); delete or rename the existing resource, "
                           "or edit it instead", kind="error")
    if status == 400:
        return SourceError(f"Azure rejected {summary} ({detail}); fix the value it names and retry", kind="usage")
    return to_source_error(e, endpoint=ctx.azure().endpoint, what=summary, subscription=subscription)


async def _azure_send(ctx: _Context, summary: str, subscription: str,
                      call: Callable[[Any], Awaitable[Any]], api: str = SECURITY_CONNECTORS_API) -> Any:
    try:
        return await call(ctx.security(subscription, api))
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - every SDK failure of a write becomes a SourceError that says what failed
        raise _azure_error(e, ctx, summary, subscription) from None


_AWS_WRITE_FIX = {
    "EntityAlreadyExists": "it already exists: delete it first or keep it",
    "AlreadyExistsException": "it already exists: delete it first or keep it",
    "BucketAlreadyOwnedByYou": "the bucket already exists in this account: keep it",
    "BucketAlreadyExists": "the bucket name is taken by another account: choose another name",
    "DeleteConflict": "detach or delete what still uses it first",
    "NoSuchEntity": "it does not exist (already deleted?)",
    "MalformedPolicyDocument": "the policy document was rejected: report it",
    "LimitExceeded": "an account limit was reached: raise it or clean up",
    "LimitExceededException": "an account limit was reached: raise it or clean up",
    "InsufficientCapabilitiesException": "the stack needs --capabilities CAPABILITY_NAMED_IAM",
    "ResourceConflictException": "it is already enabled",
    "NoSuchBucket": "the S3 bucket does not exist: create it first",
    "InsufficientDeliveryPolicyException": "the S3 bucket policy must let AWS Config write to it",
}


def _aws_error(src: Any, e: BaseException, what: str, account: str, region: str, summary: str) -> SourceError:
    from botocore.exceptions import ClientError

    from ..aws import DENIED_CODES

    if isinstance(e, SourceError):
        return e
    if isinstance(e, ClientError):
        err = e.response.get("Error", {}) if isinstance(e.response, Mapping) else {}
        code = str(err.get("Code") or "")
        msg = " ".join(str(err.get("Message") or "").split())[:200]
        if code in DENIED_CODES:
            return AuthError(f"AWS denied {what} in account {account} ({code}): {summary} needs {what} for the "
                             f"credentials used there (an administrator of the account can run it)")
        if code in _AWS_WRITE_FIX:
            return SourceError(f"{summary}: {what} failed in account {account} {region} ({code}: {msg}); "
                               f"{_AWS_WRITE_FIX[code]}", kind="error")
    return src._err(e, what, account=account, region=region)  # noqa: SLF001 - same mapping as the reads


async def _aws_send(ctx: _Context, account: str, region: str, service: str, operation: str, params: Mapping[str, Any],
                    summary: str) -> Any:
    src = ctx.aws()
    what = f"{service}:{operation}"

    def work() -> Any:
        access = src._access(account)  # noqa: SLF001 - the way AwsSource reaches an account
        client = src._client(access, service, region)  # noqa: SLF001
        method = getattr(client, _snake(operation))
        out = method(**params)
        if isinstance(out, dict):
            out = {k: x for k, x in out.items() if k != "ResponseMetadata"}
        return out

    try:
        return await src._run(work)  # noqa: SLF001
    except Exception as e:  # noqa: BLE001 - every SDK failure of a write becomes a SourceError that says what failed
        raise _aws_error(src, e, what, account, region, summary) from None


def _snake(operation: str) -> str:
    from botocore import xform_name

    return xform_name(operation)


_HTTP_METHOD_CACHE: dict[tuple[str, str], str] = {}


def _http_method(service: str, operation: str) -> str:
    key = (service, operation)
    m = _HTTP_METHOD_CACHE.get(key)
    if m is None:
        try:
            import botocore.session

            model = botocore.session.get_session().get_service_model(service).operation_model(operation)
            m = str(model.http.get("method") or "POST")
        except Exception:  # noqa: BLE001 - a botocore without the model: POST, what nearly every AWS write uses
            m = "POST"
        _HTTP_METHOD_CACHE[key] = m
    return m


def _aws_write(settings: Any, account: str, region: str, service: str, operation: str, params: Mapping[str, Any],
               summary: str, *, shown: Mapping[str, Any] | None = None, destructive: bool = False) -> PlannedWrite:
    params = dict(params)

    async def send(ctx: _Context) -> Any:
        return await _aws_send(ctx, account, region, service, operation, params, summary)

    return PlannedWrite(cloud="aws", method=_http_method(service, operation), target=f"{service}:{operation}",
                        body=dict(shown if shown is not None else params), summary=summary,
                        scope=f"AWS account {account}, {region}", destructive=destructive, sender=send,
                        settings=settings)


def _endpoint(settings: Any) -> str:
    """The ARM endpoint of the settings (Azure's when there are none: a plan can be shown without settings)."""
    endpoint = getattr(getattr(settings, "azure", None), "arm_endpoint", None)
    return (endpoint or "https://management.azure.com").rstrip("/")


def _check(problems: Mapping[str, str] | None) -> None:
    if problems:
        raise SourceError("; ".join(problems.values()), kind="usage")


def _need(message: str | None) -> None:
    if message:
        raise SourceError(message, kind="usage")


# ------------------------------------------------------------------------------------------------------------------
# Azure


def plan_create_native_connector(settings: Any, state: NativeState) -> list[PlannedWrite]:
    """PUT securityConnectors/{name} (2023-10-01-preview) with connector_body(state). Raises SourceError(usage) when
    the state has errors."""
    from .wizard import errors

    _check(errors(state))
    body = connector_body(state)
    sub, rg, name = state.subscription_id.strip().lower(), state.resource_group.strip(), state.connector_name.strip()
    url = f"{_endpoint(settings)}{connector_path(state)}?api-version={SECURITY_CONNECTORS_API}"
    summary = f"create the AWS connector {name} for account {state.aws_account_id.strip()} in {rg}"
    payload = json.dumps(body).encode("utf-8")

    async def send(ctx: _Context) -> Any:
        return await _azure_send(ctx, summary, sub, lambda c: c.security_connectors.create_or_update(
            rg, name, payload, content_type="application/json", cls=_raw))

    return [PlannedWrite(cloud="azure", method="PUT", target=url, body=body, summary=summary,
                         scope=f"subscription {sub}", sender=send, settings=settings)]


def plan_delete_native_connector(settings: Any, subscription_id: str, resource_group: str, name: str
                                 ) -> list[PlannedWrite]:
    """DELETE securityConnectors/{name} (addition: cleanup / undo)."""
    _need(v.subscription_id(subscription_id) or v.resource_group(resource_group) or v.connector_name(name))
    sub, rg, name = subscription_id.strip().lower(), resource_group.strip(), name.strip()
    url = (f"{_endpoint(settings)}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/"
           f"securityConnectors/{name}?api-version={SECURITY_CONNECTORS_API}")
    summary = f"delete the AWS connector {name} ({rg})"

    async def send(ctx: _Context) -> Any:
        return await _azure_send(ctx, summary, sub, lambda c: c.security_connectors.delete(rg, name, cls=_raw))

    return [PlannedWrite(cloud="azure", method="DELETE", target=url, body=None, summary=summary,
                         scope=f"subscription {sub}", destructive=True, sender=send, settings=settings)]


def plan_create_classic_connector(settings: Any, state: ClassicState) -> list[PlannedWrite]:
    """PUT Microsoft.Security/connectors/{name} (2020-01-01-preview: retired by Microsoft on 2023-09-15, no data
    since)."""
    from .wizard import classic_errors

    _check(classic_errors(state))
    shown = classic_body(state)
    sub, name = state.subscription_id.strip().lower(), state.name.strip()
    url = f"{_endpoint(settings)}{classic_path(state)}?api-version={CLASSIC_CONNECTORS_API}"
    summary = f"create the classic AWS connector {name} (retired API)"
    snapshot = ClassicState(**{f: getattr(state, f) for f in state.__dataclass_fields__})  # later edits don't leak

    async def send(ctx: _Context) -> Any:
        payload = json.dumps(classic_body(snapshot, reveal=True)).encode("utf-8")
        try:
            return await _azure_send(ctx, summary, sub, lambda c: c.connectors.create_or_update(
                name, payload, content_type="application/json", cls=_raw), api=CLASSIC_CONNECTORS_API)
        except SourceError as e:  # an error that quotes the request must not carry a secret
            msg = e.message
            for secret in (snapshot.secret_access_key.strip(), snapshot.sp_secret.strip()):
                if secret:
                    msg = msg.replace(secret, MASK)
            if msg == e.message:
                raise
            raise SourceError(msg, kind=e.kind, retry_after=e.retry_after) from None

    return [PlannedWrite(cloud="azure", method="PUT", target=url, body=shown, summary=summary,
                         scope=f"subscription {sub}", sender=send, settings=settings)]


def plan_delete_classic_connector(settings: Any, subscription_id: str, name: str) -> list[PlannedWrite]:
    """DELETE Microsoft.Security/connectors/{name}."""
    _need(v.subscription_id(subscription_id) or (None if (name or "").strip() else "connector name: required"))
    sub, name = subscription_id.strip().lower(), name.strip()
    url = (f"{_endpoint(settings)}/subscriptions/{sub}/providers/Microsoft.Security/connectors/{name}"
           f"?api-version={CLASSIC_CONNECTORS_API}")
    summary = f"delete the classic AWS connector {name}"

    async def send(ctx: _Context) -> Any:
        return await _azure_send(ctx, summary, sub, lambda c: c.connectors.delete(name, cls=_raw),
                                 api=CLASSIC_CONNECTORS_API)

    return [PlannedWrite(cloud="azure", method="DELETE", target=url, body=None, summary=summary,
                         scope=f"subscription {sub}", destructive=True, sender=send, settings=settings)]


def plan_register_provider(settings: Any, subscription_id: str, namespace: str) -> list[PlannedWrite]:
    """POST /subscriptions/{sub}/providers/{namespace}/register (registration finishes in the background)."""
    _need(v.subscription_id(subscription_id))
    if not namespace or not all(part and part.replace("_", "").isalnum() for part in namespace.split(".")):
        raise SourceError(f"resource provider: {namespace!r} is not a namespace (e.g. Microsoft.HybridCompute)",
                          kind="usage")
    sub = subscription_id.strip().lower()
    path = f"/subscriptions/{sub}/providers/{namespace}/register"
    url = f"{_endpoint(settings)}{path}?api-version={PROVIDERS_API}"
    summary = f"register the resource provider {namespace} on subscription {sub}"

    async def send(ctx: _Context) -> Any:
        from azure.core.rest import HttpRequest

        async def call(client: Any) -> Any:
            resp = await client._send_request(HttpRequest("POST", url))  # noqa: SLF001 - the documented raw hatch
            await resp.read()
            if resp.status_code not in (200, 202):
                from azure.core.exceptions import HttpResponseError

                raise HttpResponseError(response=resp)
            try:
                return resp.json()
            except Exception:  # noqa: BLE001 - a body that is not JSON is no body
                return None

        return await _azure_send(ctx, summary, sub, call)

    return [PlannedWrite(cloud="azure", method="POST", target=url, body=None, summary=summary,
                         scope=f"subscription {sub}", sender=send, settings=settings)]


# ------------------------------------------------------------------------------------------------------------------
# AWS


def _aws_args(account_id: str, region: str) -> tuple[str, str]:
    _need(v.aws_account_id(account_id) or v.aws_region(region))
    return account_id.strip(), region.strip()


def plan_deploy_stack(settings: Any, account_id: str, region: str, template_body: str, *,
                      stack_name: str = DEFAULT_STACK_NAME, parameters: Mapping[str, str] | None = None
                      ) -> list[PlannedWrite]:
    """cloudformation:CreateStack of the connector template (CAPABILITY_NAMED_IAM), in the account and region."""
    account_id, region = _aws_args(account_id, region)
    if not stack_name or not stack_name[0].isalpha() or not all(c.isalnum() or c == "-" for c in stack_name) \
            or len(stack_name) > 128:
        raise SourceError("stack name: a letter, then letters, digits and hyphens (at most 128)", kind="usage")
    params: dict[str, Any] = {"StackName": stack_name, "TemplateBody": template_body,
                              "Capabilities": list(CAPABILITIES),
                              "Tags": [{"Key": "MDFCSecurityConnector", "Value": "true"}]}
    if parameters:
        params["Parameters"] = [{"ParameterKey": k, "ParameterValue": str(x)} for k, x in parameters.items()]
    return [_aws_write(settings, account_id, region, "cloudformation", "CreateStack", params,
                       f"deploy the stack {stack_name} (Defender for Cloud IAM roles) in account {account_id}")]


def plan_delete_stack(settings: Any, account_id: str, region: str, stack_name: str = DEFAULT_STACK_NAME
                      ) -> list[PlannedWrite]:
    """cloudformation:DeleteStack (addition: undo a deployment; the roles go with it)."""
    account_id, region = _aws_args(account_id, region)
    return [_aws_write(settings, account_id, region, "cloudformation", "DeleteStack", {"StackName": stack_name},
                       f"delete the stack {stack_name} in account {account_id}", destructive=True)]


def plan_enable_security_hub(settings: Any, account_id: str, region: str) -> list[PlannedWrite]:
    """securityhub:EnableSecurityHub with the default standards (classic flow, per region)."""
    account_id, region = _aws_args(account_id, region)
    return [_aws_write(settings, account_id, region, "securityhub", "EnableSecurityHub",
                       {"EnableDefaultStandards": True},
                       f"enable AWS Security Hub in {region} (account {account_id})")]


def plan_enable_config_recorder(settings: Any, account_id: str, region: str, *, bucket_name: str | None = None,
                                role_arn: str | None = None, create_bucket: bool = True) -> list[PlannedWrite]:
    """AWS Config in one region: [s3:CreateBucket + s3:PutBucketPolicy,] config:PutConfigurationRecorder (all
    resources, global types included), config:PutDeliveryChannel, config:StartConfigurationRecorder.

    `role_arn`: default the AWS Config service-linked role; `bucket_name`: default config-bucket-<account>-<region>."""
    account_id, region = _aws_args(account_id, region)
    role = role_arn or (f"arn:aws:iam::{account_id}:role/aws-service-role/config.amazonaws.com/"
                        "AWSServiceRoleForConfig")
    if role_arn:
        _need(v.role_arn(role_arn))
    bucket = bucket_name or f"config-bucket-{account_id}-{region}"
    out: list[PlannedWrite] = []
    if create_bucket:
        cb: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            cb["CreateBucketConfiguration"] = {"LocationConstraint": region}
        out.append(_aws_write(settings, account_id, region, "s3", "CreateBucket", cb,
                              f"create the S3 bucket {bucket} for AWS Config ({region})"))
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "AWSConfigBucketPermissionsCheck", "Effect": "Allow",
             "Principal": {"Service": "config.amazonaws.com"},
             "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringEquals": {"AWS:SourceAccount": account_id}}},
            {"Sid": "AWSConfigBucketDelivery", "Effect": "Allow", "Principal": {"Service": "config.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account_id}/Config/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                            "AWS:SourceAccount": account_id}}}]}
        out.append(_aws_write(settings, account_id, region, "s3", "PutBucketPolicy",
                              {"Bucket": bucket, "Policy": json.dumps(policy)},
                              f"let AWS Config write to {bucket}"))
    out.append(_aws_write(settings, account_id, region, "config", "PutConfigurationRecorder", {
        "ConfigurationRecorder": {"name": CONFIG_RECORDER_NAME, "roleARN": role,
                                  "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}},
        f"create the AWS Config recorder in {region} (account {account_id})"))
    out.append(_aws_write(settings, account_id, region, "config", "PutDeliveryChannel", {
        "DeliveryChannel": {"name": CONFIG_RECORDER_NAME, "s3BucketName": bucket}},
        f"create the AWS Config delivery channel to {bucket}"))
    out.append(_aws_write(settings, account_id, region, "config", "StartConfigurationRecorder",
                          {"ConfigurationRecorderName": CONFIG_RECORDER_NAME},
                          f"start the AWS Config recorder in {region}"))
    return out


def classic_trust_policy(subscription_id: str) -> dict[str, Any]:
    """Trust of the classic role: Microsoft's account 158177204117, external ID = the Azure subscription ID."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CLASSIC_EXTERNAL_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": subscription_id.strip().lower()}}}]}


def plan_create_classic_role(settings: Any, account_id: str, subscription_id: str, *,
                             role_name: str = CLASSIC_ROLE_NAME) -> list[PlannedWrite]:
    """iam:CreateRole trusting 158177204117 with ExternalId = the subscription ID, then iam:AttachRolePolicy of
    SecurityAudit, AmazonSSMAutomationRole and AWSSecurityHubReadOnlyAccess."""
    account_id, region = _aws_args(account_id, settings.aws.region if settings is not None else "us-east-1")
    _need(v.subscription_id(subscription_id) or v.role_arn(f"arn:aws:iam::{account_id}:role/{role_name}"))
    out = [_aws_write(settings, account_id, region, "iam", "CreateRole", {
        "RoleName": role_name, "AssumeRolePolicyDocument": json.dumps(classic_trust_policy(subscription_id)),
        "Description": "Microsoft Defender for Cloud classic AWS connector",
        "Tags": [{"Key": "MDFCSecurityConnector", "Value": "classic"}]},
        f"create the IAM role {role_name} trusting Microsoft's account {CLASSIC_EXTERNAL_ACCOUNT} "
        f"(external ID = subscription {subscription_id.strip().lower()})")]
    for arn in CLASSIC_MANAGED_POLICIES:
        out.append(_aws_write(settings, account_id, region, "iam", "AttachRolePolicy",
                              {"RoleName": role_name, "PolicyArn": arn},
                              f"attach {arn.rsplit('/', 1)[-1]} to {role_name}"))
    return out


def plan_delete_classic_role(settings: Any, account_id: str, role_name: str = CLASSIC_ROLE_NAME, *,
                             attached_policies: Sequence[str] | None = None) -> list[PlannedWrite]:
    """iam:DetachRolePolicy of each attached policy (default: the three classic ones), then iam:DeleteRole.
    doctor.role_policies() reads what is attached."""
    account_id, region = _aws_args(account_id, settings.aws.region if settings is not None else "us-east-1")
    _need(v.role_arn(f"arn:aws:iam::{account_id}:role/{role_name}"))
    out = [_aws_write(settings, account_id, region, "iam", "DetachRolePolicy", {"RoleName": role_name, "PolicyArn": a},
                      f"detach {a.rsplit('/', 1)[-1]} from {role_name}", destructive=True)
           for a in (attached_policies if attached_policies is not None else CLASSIC_MANAGED_POLICIES)]
    out.append(_aws_write(settings, account_id, region, "iam", "DeleteRole", {"RoleName": role_name},
                          f"delete the IAM role {role_name} in account {account_id}", destructive=True))
    return out


def plan_delete_access_keys(settings: Any, account_id: str, user_name: str, access_key_ids: Sequence[str]
                            ) -> list[PlannedWrite]:
    """iam:DeleteAccessKey for each of the user's keys (doctor.access_keys() lists them). Key IDs are shown
    shortened (AKIA…WXYZ)."""
    account_id, region = _aws_args(account_id, settings.aws.region if settings is not None else "us-east-1")
    if not user_name or len(user_name) > 64 or not all(c.isalnum() or c in "+=,.@_-" for c in user_name):
        raise SourceError("IAM user name: 1-64 letters, digits and + = , . @ _ -", kind="usage")
    out = []
    for key in access_key_ids:
        _need(v.access_key_id(key))
        out.append(_aws_write(settings, account_id, region, "iam", "DeleteAccessKey",
                              {"UserName": user_name, "AccessKeyId": key.strip()},
                              f"delete the access key {mask_key_id(key)} of IAM user {user_name}",
                              shown={"UserName": user_name, "AccessKeyId": mask_key_id(key)}, destructive=True))
    return out


PLAN_FUNCTIONS = (
    "plan_create_native_connector", "plan_delete_native_connector", "plan_create_classic_connector",
    "plan_delete_classic_connector", "plan_register_provider", "plan_deploy_stack", "plan_delete_stack",
    "plan_enable_security_hub", "plan_enable_config_recorder", "plan_create_classic_role",
    "plan_delete_classic_role", "plan_delete_access_keys",
)
