"""botocore's service models, cut to the read calls the collection makes (issue 15: one-shot start-up).

botocore reads a service's whole model before its first client exists: EC2's is 862 operations and 4,613 shapes,
~0.24 s of CPU to decompress and parse, RDS's ~0.06 s; the ten services a collection reaches cost ~0.4 s, most of
it on the path of the first AWS calls of every `mdc-aws snapshot` and of every collector process. The collection
uses 26 of those operations. This module keeps, for each service, botocore's own model of exactly those operations
(their input, output and error shapes, transitively) with empty documentation, in ``tui/core/aws_models/<service>/
<api version>/service-2.json``: botocore's documented way to add models (a data path searched before its own,
see ``botocore.loaders``). Endpoint rules, paginators and everything else still come from botocore's own data.

Only the collector's AwsSource uses them (``AwsSource(..., lean_models=True)``); the doctor, the wizard and every
other AWS client use botocore's full models. A botocore whose latest API version of a service is newer than the
one cut here uses its own model for that service (slower, never wrong). ``python -m tui.core.awsmodels --write``
cuts them again from the installed botocore (``make aws-models``); ``--check`` (a test) fails when the shipped
files differ from what the installed botocore gives, so a botocore upgrade cannot leave them stale.

Core module: no textual, no rich; botocore is imported only by the functions that need it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).resolve().parent / "aws_models"

# Every operation the collection (tui.core.aws.AwsSource, its inventory and set-up reads) calls, by service, in
# botocore's snake_case. tests/test_aws_models.py checks that every client call in tui/core/aws.py is listed here.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "sts": ("get_caller_identity", "assume_role"),
    "ec2": ("describe_regions", "describe_instances"),
    "ssm": ("describe_instance_information",),
    "iam": ("list_roles", "list_attached_role_policies", "list_role_policies", "get_role_policy",
            "list_open_id_connect_providers", "get_open_id_connect_provider"),
    "cloudformation": ("describe_stack_resources", "describe_stacks", "describe_stack_events",
                       "list_stack_instances"),
    "organizations": ("list_aws_service_access_for_organization", "list_accounts", "describe_organization"),
    "cloudtrail": ("describe_trails",),
    "s3": ("list_buckets", "get_bucket_notification_configuration"),
    "rds": ("describe_db_instances",),
    "eks": ("list_clusters",),
}


def _refs(shape: dict[str, Any]) -> list[str]:
    """The shapes one shape names (structure members, list member, map key and value)."""
    out: list[str] = []
    for m in (shape.get("members") or {}).values():
        out.append(m["shape"])
    for k in ("member", "key", "value"):
        ref = shape.get(k)
        if isinstance(ref, dict) and "shape" in ref:
            out.append(ref["shape"])
    return out


def _strip_docs(node: Any) -> Any:
    """A copy with every documentation string emptied (botocore reads them for help text; some of its handlers
    expect the key, so it stays). A member named 'documentation' is data: only a string value is emptied."""
    if isinstance(node, dict):
        return {k: "" if k in ("documentation", "documentationUrl") and isinstance(v, str) else _strip_docs(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_docs(v) for v in node]
    return node


def cut(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """botocore's service model `model` (service-2.json, parsed) with only `operations` (snake_case) and the shapes
    they reach. Raises KeyError naming an operation the model does not have."""
    from botocore import xform_name

    by_snake = {xform_name(name): name for name in model["operations"]}
    missing = [op for op in operations if op not in by_snake]
    if missing:
        raise KeyError(f"{model.get('metadata', {}).get('endpointPrefix', '?')} has no operation {missing}")
    ops = {by_snake[op]: model["operations"][by_snake[op]] for op in sorted(operations)}
    todo: list[str] = []
    for op in ops.values():
        for k in ("input", "output"):
            if isinstance(op.get(k), dict):
                todo.append(op[k]["shape"])
        todo.extend(e["shape"] for e in op.get("errors") or ())
    shapes: dict[str, Any] = {}
    all_shapes = model["shapes"]
    while todo:
        name = todo.pop()
        if name in shapes:
            continue
        shapes[name] = all_shapes[name]
        todo.extend(_refs(all_shapes[name]))
    out = {k: v for k, v in model.items() if k not in ("operations", "shapes")}
    out["operations"] = ops
    out["shapes"] = dict(sorted(shapes.items()))
    return _strip_docs(out)


def _full_loader() -> Any:
    """botocore's loader on its own data only (not ours, not ~/.aws/models)."""
    from botocore.loaders import Loader

    return Loader(include_default_search_paths=False, extra_search_paths=[Loader.BUILTIN_DATA_PATH])


def expected() -> dict[str, bytes]:
    """What the installed botocore gives: relative path -> file content."""
    loader = _full_loader()
    out: dict[str, bytes] = {}
    for service, ops in sorted(OPERATIONS.items()):
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_service_model(service, "service-2", version)
        text = json.dumps(cut(model, ops), separators=(",", ":"), sort_keys=True) + "\n"
        out[f"{service}/{version}/service-2.json"] = text.encode("utf-8")
    return out


def shipped(root: Path = DATA_PATH) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("*/*/service-2.json"))}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    want = expected()
    if args == ["--write"]:
        for rel, data in want.items():
            path = DATA_PATH / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for rel in set(shipped()) - set(want):
            (DATA_PATH / rel).unlink()
        print(f"wrote {len(want)} models under {DATA_PATH}")
        return 0
    if args == ["--check"]:
        have = shipped()
        stale = sorted(rel for rel in set(want) | set(have) if want.get(rel) != have.get(rel))
        if stale:
            print("the collection's AWS models differ from the installed botocore's: " + ", ".join(stale)
                  + "; run `make aws-models`", file=sys.stderr)
            return 1
        print(f"{len(have)} models match the installed botocore")
        return 0
    print("usage: python -m tui.core.awsmodels --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
