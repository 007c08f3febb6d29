"""The committed CRDs are what the models generate, and they are valid structural schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes

from awsop.operator import crdgen
from awsop.reconcilers.bucket import bucket_name_problem

REPO = Path(__file__).resolve().parents[2]
RENDERED = crdgen.rendered()
HINT = "the CRDs are out of date with the models: run `make crds` and commit the result"


def bucket_crd() -> dict[str, Any]:
    return yaml.safe_load(RENDERED["buckets.s3.awsop.io.yaml"])  # type: ignore[no-any-return]


def bucket_schema() -> dict[str, Any]:
    return bucket_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("folder", ["crds", "charts/awsop/crds"])
def test_committed_crds_match_the_models(folder: str) -> None:
    committed = {p.name: p.read_text() for p in (REPO / folder).glob("*.awsop.io.yaml")}
    assert sorted(committed) == sorted(RENDERED), f"{folder}: {HINT}"
    for name, text in RENDERED.items():
        assert committed[name] == text, f"{folder}/{name}: {HINT}"


def properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property node below `node`, with its path."""
    for name, prop in (node.get("properties") or {}).items():
        yield f"{path}.{name}", prop
        yield from properties(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from properties(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from properties(node["additionalProperties"], f"{path}{{}}")


def all_nodes(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from all_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_nodes(value, f"{path}/{i}")


def test_every_property_is_typed() -> None:
    untyped = [
        path
        for path, prop in properties(bucket_schema())
        if "type" not in prop
        and not prop.get("x-kubernetes-preserve-unknown-fields")
        and not prop.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []
    for path, prop in properties(bucket_schema()):
        if prop.get("type") == "array":
            assert "type" in prop["items"], path


def test_schema_uses_no_non_structural_keywords() -> None:
    forbidden = {"$ref", "anyOf", "oneOf", "allOf", "$defs", "const", "title"}
    bad = [
        f"{path}/{key}"
        for path, node in all_nodes(bucket_schema())
        if isinstance(node, dict)
        for key in node
        if key in forbidden and not path.endswith("/properties")
    ]
    assert bad == []
    closed = [
        path
        for path, node in all_nodes(bucket_schema())
        if isinstance(node, dict) and node.get("additionalProperties") is False
    ]
    assert closed == []


def test_every_property_has_a_description() -> None:
    missing = [
        path
        for path, prop in properties(bucket_schema())
        if not prop.get("description") and not path.startswith(".metadata")
    ]
    assert missing == []


def test_spec_fields_and_nested_fields_use_camel_case() -> None:
    spec = bucket_schema()["properties"]["spec"]["properties"]
    assert {
        "publicAccessBlock",
        "lifecycleRules",
        "objectOwnership",
        "emptyOnDelete",
        "deletionPolicy",
    } <= set(spec)
    assert "kmsKeyId" in spec["encryption"]["properties"]
    assert "abortIncompleteMultipartUploadDays" in spec["lifecycleRules"]["items"]["properties"]
    assert spec["encryption"]["required"] == ["algorithm"]
    assert spec["versioning"]["enum"] == ["Enabled", "Suspended"]


@pytest.mark.parametrize("field", ["name", "region"])
def test_name_and_region_are_immutable(field: str) -> None:
    spec = bucket_schema()["properties"]["spec"]
    rules = spec["properties"][field]["x-kubernetes-validations"]
    assert {"rule": "self == oldSelf", "message": f"{field} is immutable"} in rules
    presence = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert f"has(self.{field}) == has(oldSelf.{field})" in presence


def test_mutable_fields_carry_no_transition_rule() -> None:
    spec = bucket_schema()["properties"]["spec"]["properties"]
    assert "x-kubernetes-validations" not in spec["versioning"]
    assert "x-kubernetes-validations" not in spec["tags"]


def test_printer_columns() -> None:
    columns = bucket_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    default_columns = [c["name"] for c in columns if not c.get("priority")]
    assert default_columns == ["Ready", "Synced", "Drifted", "AWS Name", "Age"]
    by_name = {c["name"]: c for c in columns}
    assert by_name["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert by_name["AWS Name"]["jsonPath"] == ".status.awsName"
    assert by_name["Age"]["type"] == "date"


def test_names_category_and_status_subresource() -> None:
    spec = bucket_crd()["spec"]
    assert spec["names"]["categories"] == ["aws"]
    assert spec["names"]["shortNames"] == ["bkt", "s3b"]
    assert spec["names"]["listKind"] == "BucketList"
    assert spec["versions"][0]["subresources"] == {"status": {}}
    assert bucket_crd()["metadata"]["name"] == "buckets.s3.awsop.io"


def test_cluster_scoped_kinds_are_not_in_the_aws_category() -> None:
    """`kubectl delete aws --all -n team-a` deletes the cluster-scoped members of the category everywhere:
    AWSAccount and TagPolicy have a category of their own."""
    from awsop.operator.crdgen import crd
    from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS

    for info in KINDS.values():
        assert crd(info)["spec"]["names"]["categories"] == ["aws"], info.kind
        assert crd(info)["spec"]["scope"] == "Namespaced", info.kind
    for info in CONFIG_KINDS.values():
        assert crd(info)["spec"]["names"]["categories"] == ["awsop-config"], info.kind


def cel_rules() -> list[tuple[str, str]]:
    return [
        (path, rule["rule"])
        for path, node in all_nodes(bucket_schema())
        if isinstance(node, dict)
        for rule in node.get("x-kubernetes-validations", [])
    ]


def test_every_cel_rule_compiles() -> None:
    env = celpy.Environment()
    rules = cel_rules()
    assert len(rules) >= 12
    for _path, rule in rules:
        env.compile(rule)  # raises CELParseError on a syntax error


def name_node() -> dict[str, Any]:
    return bucket_schema()["properties"]["spec"]["properties"]["name"]  # type: ignore[no-any-return]


def crd_accepts_name(name: str) -> bool:
    """What the API server does with spec.name: length, pattern, then every CEL rule."""
    node = name_node()
    if not node["minLength"] <= len(name) <= node["maxLength"] or not re.search(node["pattern"], name):
        return False
    env = celpy.Environment()
    for rule in node["x-kubernetes-validations"]:
        if "oldSelf" in rule["rule"]:
            continue
        program = env.program(env.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celtypes.StringType(name)})):
            return False
    return True


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("my-bucket", True),
        ("logs.example.com", True),
        ("xn--abc", False),
        ("sthree-abc", False),
        ("abc-s3alias", False),
        ("abc--ol-s3", False),
        ("abc.mrap", False),
        ("abc--x-s3", False),
        ("a..b", False),
        ("192.168.1.1", False),
        ("My-Bucket", False),
    ],
)
def test_crd_name_rules_evaluated_with_cel(name: str, accepted: bool) -> None:
    assert crd_accepts_name(name) is accepted


@pytest.mark.parametrize(
    "name",
    [
        "my-bucket",
        "xn--abc",
        "sthree-x",
        "a..b",
        "192.168.1.1",
        "10.0.0.1x",
        "999.1.1.1",
        "192.168.01.1",
    ],
)
def test_cli_validation_agrees_with_the_crd(name: str) -> None:
    # The CLI (`awsop plan`) validates with bucket_name_problem; the API server with the CRD.
    assert (bucket_name_problem(name) is None) is crd_accepts_name(name)
