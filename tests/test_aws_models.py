"""The collection's cut of botocore's service models (tui.core.awsmodels, issue 15: one-shot start-up)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("botocore")

from tui.core import awsmodels

AWS_PY = Path(awsmodels.__file__).with_name("aws.py")


def test_shipped_models_are_what_the_installed_botocore_gives(capsys: pytest.CaptureFixture[str]) -> None:
    """A botocore upgrade that changes a model the collection uses fails here until `make aws-models` is run."""
    assert awsmodels.main(["--check"]) == 0, capsys.readouterr().err
    assert {p.split("/")[0] for p in awsmodels.shipped()} == set(awsmodels.OPERATIONS)


def test_every_call_the_collection_makes_is_in_the_cut() -> None:
    """Every botocore operation tui/core/aws.py calls (a method or a paginator) is in OPERATIONS, and every service
    it makes a client of: else the collector's lean clients would lack it."""
    from botocore import xform_name

    loader = awsmodels._full_loader()
    every: dict[str, str] = {}
    for service in awsmodels.OPERATIONS:
        for op in loader.load_service_model(service, "service-2")["operations"]:
            every.setdefault(xform_name(op), service)
    text = AWS_PY.read_text(encoding="utf-8")
    used = set(re.findall(r'get_paginator\("(\w+)"\)', text)) | set(re.findall(r"\.(\w+)\(", text))
    cut = {op for ops in awsmodels.OPERATIONS.values() for op in ops}
    missing = sorted(op for op in used if op in every and op not in cut)
    assert not missing, f"add to awsmodels.OPERATIONS: {missing}"
    services = set(re.findall(r'_client\(\s*\w+,\s*"(\w+)"', text))
    assert services and services <= set(awsmodels.OPERATIONS), services - set(awsmodels.OPERATIONS)


def test_cut_keeps_the_operations_and_the_shapes_they_reach() -> None:
    model = {
        "version": "2.0", "metadata": {"endpointPrefix": "x", "protocol": "json"}, "documentation": "the service",
        "operations": {
            "GetThing": {"name": "GetThing", "input": {"shape": "GetIn"}, "output": {"shape": "GetOut"},
                         "errors": [{"shape": "Missing"}], "documentation": "gets"},
            "PutThing": {"name": "PutThing", "input": {"shape": "PutIn"}},
        },
        "shapes": {
            "GetIn": {"type": "structure", "members": {"Id": {"shape": "String", "documentation": "the id"}}},
            "GetOut": {"type": "structure", "members": {"Items": {"shape": "List"}, "Meta": {"shape": "Map"},
                                                        "documentation": {"shape": "String"}}},
            "List": {"type": "list", "member": {"shape": "Item"}},
            "Map": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Count"}},
            "Item": {"type": "structure", "members": {"Name": {"shape": "String"}}},
            "Count": {"type": "integer"},
            "String": {"type": "string", "documentation": "text"},
            "Missing": {"type": "structure", "members": {}, "exception": True},
            "PutIn": {"type": "structure", "members": {"Blob": {"shape": "Blob"}}},
            "Blob": {"type": "blob"},
        },
    }
    out = awsmodels.cut(model, ("get_thing",))
    assert list(out["operations"]) == ["GetThing"]
    assert set(out["shapes"]) == {"GetIn", "GetOut", "List", "Map", "Item", "Count", "String", "Missing"}
    assert out["documentation"] == "" and out["operations"]["GetThing"]["documentation"] == ""
    assert out["shapes"]["String"]["documentation"] == ""
    assert out["shapes"]["GetOut"]["members"]["documentation"] == {"shape": "String"}  # a member so named is data
    assert out["metadata"] == model["metadata"] and out["version"] == "2.0"
    with pytest.raises(KeyError, match="delete_thing"):
        awsmodels.cut(model, ("delete_thing",))


def test_a_lean_source_loads_the_cut_and_others_do_not(tmp_path: Path) -> None:
    from tui.core.aws import AwsSource
    from tui.core.config import AwsSettings

    settings = AwsSettings(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    lean = AwsSource(settings, lean_models=True)
    full = AwsSource(settings)
    try:
        ec2_lean = lean._botocore_session().create_client(
            "ec2", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
            endpoint_url="http://127.0.0.1:9")
        ec2_full = full._botocore_session().create_client(
            "ec2", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
            endpoint_url="http://127.0.0.1:9")
        assert set(ec2_lean.meta.method_to_api_mapping) == {"describe_instances", "describe_regions"}
        assert len(ec2_full.meta.method_to_api_mapping) > 500
        assert ec2_lean.can_paginate("describe_instances")
    finally:
        lean.close()
        full.close()
