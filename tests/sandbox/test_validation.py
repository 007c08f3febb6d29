"""Custom resource and CRD validation as the real server does it, seen through kubectl and raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import BUCKETS, Http, Kubectl, bucket


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"name": "AB"},
            "spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z0-9][a-z0-9.-]*$'",
            id="pattern",
        ),
        pytest.param(
            {"name": "a" * 21}, "spec.name: Too long: may not be more than 20 bytes", id="maxLength"
        ),
        pytest.param(
            {"region": "mars"},
            'spec.region: Unsupported value: "mars": supported values: "eu-west-1", "us-east-1"',
            id="enum",
        ),
        pytest.param(
            {"versioning": True, "retentionDays": 0},
            "spec.retentionDays: Invalid value: 0: "
            "spec.retentionDays in body should be greater than or equal to 1",
            id="minimum",
        ),
        pytest.param(
            {"versioning": True, "retentionDays": 4000},
            "spec.retentionDays: Invalid value: 4000: "
            "spec.retentionDays in body should be less than or equal to 3650",
            id="maximum",
        ),
        pytest.param(
            {"versioning": "yes"},
            'spec.versioning: Invalid value: "string": '
            'spec.versioning in body must be of type boolean: "string"',
            id="type",
        ),
        pytest.param(
            {"tags": {"a": "1", "b": "2", "c": "3", "d": "4"}},
            "spec.tags: Too many: 4: must have at most 3 items",
            id="maxProperties",
        ),
        pytest.param(
            {"retentionDays": 30},
            'spec: Invalid value: "object": retentionDays requires versioning',
            id="cel-rule",
        ),
    ],
)
def test_invalid_bucket_is_rejected_with_field_and_reason(
    bucket_crd: dict[str, Any], kubectl: Kubectl, spec: dict[str, Any], expected: str
) -> None:
    body = json.loads(bucket())
    body["spec"].update(spec)
    result = kubectl.apply(json.dumps(body), check=False)
    assert result.returncode != 0
    assert 'The Bucket "photos" is invalid' in result.stderr
    assert expected in result.stderr


def test_missing_required_field_is_reported_in_the_status_causes(
    bucket_crd: dict[str, Any], http: Http
) -> None:
    body = json.loads(bucket())
    del body["spec"]["region"]
    status, error, _ = http("POST", BUCKETS, body)
    assert status == 422
    assert error["kind"] == "Status" and error["reason"] == "Invalid" and error["status"] == "Failure"
    assert error["message"] == 'Bucket.s3.test.awsop.io "photos" is invalid: spec.region: Required value'
    assert error["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.region"}
    ]
    assert error["details"]["kind"] == "Bucket" and error["details"]["group"] == "s3.test.awsop.io"


def test_immutable_field_change_is_rejected_by_the_transition_rule(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    kubectl.apply(bucket(region="eu-west-1"))
    result = kubectl.apply(bucket(region="us-east-1"), check=False)
    assert result.returncode != 0
    assert 'spec.region: Invalid value: "string": region is immutable' in result.stderr
    assert kubectl.json("get", "bucket", "photos")["spec"]["region"] == "eu-west-1"


def test_strict_field_validation_rejects_unknown_fields(bucket_crd: dict[str, Any], kubectl: Kubectl) -> None:
    result = kubectl.apply(bucket(colour="blue", size=3), check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour", unknown field "spec.size"' in result.stderr
    assert kubectl.run("get", "bucket", "photos", check=False).returncode != 0


def test_warn_field_validation_prunes_unknown_fields_with_a_warning(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    result = kubectl.apply(bucket(colour="blue"), "--validate=warn")
    assert 'Warning: unknown field "spec.colour"' in result.stderr
    assert "colour" not in kubectl.json("get", "bucket", "photos")["spec"]


def test_status_fields_unknown_to_the_schema_are_pruned(
    bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http
) -> None:
    kubectl.apply(bucket())
    patch = {"status": {"bucketArn": "arn", "handlerState": {"x": 1}}}
    status, body, headers = http(
        "PATCH", f"{BUCKETS}/photos/status", patch, content_type="application/merge-patch+json"
    )
    assert status == 200
    assert body["status"] == {"bucketArn": "arn"}
    assert 'unknown field \\"status.handlerState\\"' in headers["Warning"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"size": {"minimum": 1}}}},
            },
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required value",
            id="property-without-type",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.("}]}},
            },
            "x-kubernetes-validations[0].rule: Invalid value",
            id="cel-syntax-error",
        ),
    ],
)
def test_non_structural_or_broken_crd_is_rejected(
    kubectl: Kubectl, schema: dict[str, Any], expected: str
) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.awsop.io"},
        "spec": {
            "group": "test.awsop.io",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }
    result = kubectl.apply(json.dumps(crd), check=False)
    assert result.returncode != 0
    assert 'The CustomResourceDefinition "widgets.test.awsop.io" is invalid' in result.stderr
    assert expected in result.stderr


def test_int_or_string_and_preserve_unknown_fields_are_structural(kubectl: Kubectl, http: Http) -> None:
    widget = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.awsop.io"},
        "spec": {
            "group": "test.awsop.io",
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "port": {"x-kubernetes-int-or-string": True},
                                        "extra": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kubectl.apply(json.dumps(widget))
    body = {
        "apiVersion": "test.awsop.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"port": "http", "extra": {"anything": [1, 2]}},
    }
    status, created, _ = http("POST", "/apis/test.awsop.io/v1/widgets", body)
    assert status == 201, created
    assert created["spec"] == {"port": "http", "extra": {"anything": [1, 2]}}
    body["metadata"]["name"] = "w2"
    body["spec"]["port"] = 1.5
    status, error, _ = http("POST", "/apis/test.awsop.io/v1/widgets", body)
    assert status == 422 and "spec.port" in error["message"]
