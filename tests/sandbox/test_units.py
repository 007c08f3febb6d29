"""Pure-function behaviour of the sandbox: patches, selectors, schema validation, tables, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import VENV_BIN

from awsop.sandbox.kubeapi import patches, selectors, tables, validation
from awsop.sandbox.kubeapi.errors import ApiError


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1, "b": {"c": 2}}, {"b": {"d": 3}}, {"a": 1, "b": {"c": 2, "d": 3}}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"l": [1, 2]}, {"l": [3]}, {"l": [3]}),
    ],
    ids=["nested-merge", "null-deletes", "lists-replace"],
)
def test_json_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert patches.merge_patch(target, patch) == expected


def test_json_patch_operations_and_failed_test() -> None:
    doc = {"a": {"b": [1, 2]}, "c": 1}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "replace", "path": "/c", "value": 2},
        {"op": "move", "from": "/c", "path": "/d"},
        {"op": "copy", "from": "/d", "path": "/e"},
        {"op": "remove", "path": "/a/b/0"},
        {"op": "test", "path": "/e", "value": 2},
    ]
    assert patches.json_patch(doc, ops) == {"a": {"b": [2, 3]}, "d": 2, "e": 2}
    with pytest.raises(ApiError) as failed:
        patches.json_patch(doc, [{"op": "test", "path": "/c", "value": 9}])
    assert failed.value.code == 422


def test_strategic_merge_patch_directives() -> None:
    target = {"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}}, "data": {"k": "v"}}
    patch = {
        "metadata": {"finalizers": ["b"], "labels": {"x": None}},
        "$deleteFromPrimitiveList/keep": ["z"],
        "data": {"$patch": "replace", "n": "1"},
    }
    result = patches.strategic_merge_patch(target, patch)
    assert result["metadata"] == {"finalizers": ["a", "b"], "labels": {"y": "2"}}
    assert result["data"] == {"n": "1"}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("env=prod", {"env": "prod"}, True),
        ("env==prod", {"env": "dev"}, False),
        ("env!=prod", {}, True),
        ("env in (a, b)", {"env": "b"}, True),
        ("env notin (a,b)", {"env": "a"}, False),
        ("env", {"env": ""}, True),
        ("!env", {"env": "x"}, False),
        ("env=prod,tier in (web),!legacy", {"env": "prod", "tier": "web"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert selectors.parse_label_selector(selector)(labels) is matches


def test_field_selectors_on_nested_fields() -> None:
    event = {"metadata": {"name": "e1", "namespace": "ns"}, "involvedObject": {"name": "photos"}}
    assert selectors.parse_field_selector("metadata.name=e1,involvedObject.name==photos")(event)
    assert not selectors.parse_field_selector("metadata.namespace!=ns")(event)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "format": "int32", "minimum": 0, "exclusiveMinimum": True},
                "ratio": {"type": "number", "maximum": 1, "exclusiveMaximum": True},
                "code": {"type": "string", "minLength": 2, "nullable": True},
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 2,
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "labels": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                "nested": {
                    "type": "object",
                    "default": {},
                    "properties": {"mode": {"type": "string", "default": "fast"}},
                },
                "limit": {
                    "type": "integer",
                    "x-kubernetes-validations": [
                        {"rule": "self >= oldSelf", "message": "limit may only grow"}
                    ],
                },
            },
        }
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"count": 0}, "spec.count: Invalid value: 0: spec.count in body should be greater than 0"),
        (
            {"count": 2**31},
            'spec.count: Invalid value: 2147483648: spec.count in body must be of type int32: "2147483648"',
        ),
        ({"ratio": 1}, "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"),
        ({"code": "a"}, 'spec.code: Invalid value: "a": spec.code in body should be at least 2 chars long'),
        ({"items": []}, "spec.items: Invalid value: 0: spec.items in body should have at least 1 items"),
        ({"items": ["a", "b", "c"]}, "spec.items: Too many: 3: must have at most 2 items"),
        ({"items": ["a", "a"]}, 'spec.items[1]: Duplicate value: "a"'),
        (
            {"labels": {}},
            "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties",
        ),
        (
            {"labels": {"a": 1}},
            'spec.labels.a: Invalid value: "integer": '
            'spec.labels.a in body must be of type string: "integer"',
        ),
    ],
)
def test_schema_validation_messages(spec: dict[str, Any], expected: str) -> None:
    causes = validation.validate({"spec": spec}, SCHEMA)
    assert [c.full() for c in causes] == [expected]


def test_nullable_defaults_and_transition_rules() -> None:
    obj: dict[str, Any] = {"spec": {"code": None, "limit": 5}}
    validation.apply_defaults(obj, SCHEMA)
    assert obj["spec"]["nested"] == {"mode": "fast"}
    assert validation.validate(obj, SCHEMA) == []
    old = {"spec": {"limit": 10}}
    assert [c.full() for c in validation.validate(obj, SCHEMA, old)] == [
        'spec.limit: Invalid value: "integer": limit may only grow'
    ]
    assert validation.validate({"spec": {"limit": 5}}, SCHEMA, {"spec": {}}) == []  # no correlated old value


def test_pruning_reports_unknown_paths_and_keeps_preserved_subtrees() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "known": {"type": "string"},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    obj = {
        "apiVersion": "v",
        "kind": "K",
        "metadata": {"name": "x"},
        "extra": 1,
        "spec": {"known": "a", "unknown": 1, "free": {"any": {"thing": 1}}},
    }
    assert validation.prune(obj, schema) == ["extra", "spec.unknown"]
    assert obj == {
        "apiVersion": "v",
        "kind": "K",
        "metadata": {"name": "x"},
        "spec": {"known": "a", "free": {"any": {"thing": 1}}},
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (".spec.region", ["eu"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[0].type", ["Synced"]),
        (".status.conditions[*].type", ["Synced", "Ready"]),
        (".spec.missing", []),
    ],
)
def test_printer_column_jsonpath(expr: str, expected: list[Any]) -> None:
    obj = {
        "spec": {"region": "eu"},
        "status": {
            "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]
        },
    }
    assert tables.jsonpath(obj, expr) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (50 * 3600, "2d2h")],
)
def test_age_column_matches_kubectl_rendering(seconds: int, text: str) -> None:
    assert tables.human_duration(seconds) == text


def test_cli_runs_prints_url_writes_kubeconfig_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "python"),
            "-P",
            "-m",
            "awsop.sandbox.kubeapi",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        result = subprocess.run(
            [str(VENV_BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "get", "ns", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "namespace/default" in result.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
