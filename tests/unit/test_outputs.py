"""The output catalogue (reconcilers/outputs.py) and the `outputs` spec field: names per kind, default
keys, values from status, and the validation that names the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from awsop.operator import crdgen
from awsop.operator.outputs import field_manager
from awsop.reconcilers import outputs
from awsop.reconcilers.kinds import KINDS

REQUIRED = {
    "Bucket": {"name", "arn", "region", "domainName", "regionalDomainName"},
    "Queue": {"url", "arn", "name"},
    "Table": {"name", "arn", "streamArn"},
    "LaunchTemplate": {"id", "name", "defaultVersion", "latestVersion"},
    "AutoScalingGroup": {"name", "arn"},
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_has_its_outputs_and_its_spec_maps_to_it(kind: str) -> None:
    assert outputs.kind_of_spec(KINDS[kind].spec_model) == kind
    assert REQUIRED[kind] <= set(outputs.output_names(kind))


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        (
            "Bucket",
            {"awsName": "b1", "region": "eu-west-1", "arn": "arn:aws:s3:::b1"},
            {
                "BUCKET_NAME": "b1",
                "BUCKET_ARN": "arn:aws:s3:::b1",
                "BUCKET_REGION": "eu-west-1",
                "BUCKET_DOMAIN_NAME": "b1.s3.amazonaws.com",
                "BUCKET_REGIONAL_DOMAIN_NAME": "b1.s3.eu-west-1.amazonaws.com",
            },
        ),
        (
            "Bucket",
            {"awsName": "b2", "region": "cn-north-1"},
            {
                "BUCKET_NAME": "b2",
                "BUCKET_ARN": None,
                "BUCKET_REGION": "cn-north-1",
                "BUCKET_DOMAIN_NAME": "b2.s3.amazonaws.com.cn",
                "BUCKET_REGIONAL_DOMAIN_NAME": "b2.s3.cn-north-1.amazonaws.com.cn",
            },
        ),
        (
            "Table",
            {"awsName": "t", "arn": "arn:t", "region": "us-east-1"},
            {"TABLE_NAME": "t", "TABLE_ARN": "arn:t", "TABLE_STREAM_ARN": None, "TABLE_REGION": "us-east-1"},
        ),
        (
            "LaunchTemplate",
            {"awsName": "lt", "id": "lt-1", "defaultVersion": 3, "latestVersion": 4},
            {
                "LAUNCH_TEMPLATE_ID": "lt-1",
                "LAUNCH_TEMPLATE_NAME": "lt",
                "LAUNCH_TEMPLATE_DEFAULT_VERSION": "3",
                "LAUNCH_TEMPLATE_LATEST_VERSION": "4",
                "LAUNCH_TEMPLATE_ARN": None,
                "LAUNCH_TEMPLATE_REGION": None,
            },
        ),
    ],
    ids=["bucket", "bucket-china", "table-without-stream", "launch-template"],
)
def test_default_keys_and_values_come_from_status(kind: str, status: dict, expected: dict) -> None:  # type: ignore[type-arg]
    assert outputs.values_of(kind, None, status) == expected


def test_chosen_keys_map_to_output_names() -> None:
    status = {"url": "https://q", "arn": "arn:q"}
    assert outputs.values_of("Queue", {"Q_URL": "url", "q.arn": "arn", "AGAIN": "url"}, status) == {
        "Q_URL": "https://q",
        "q.arn": "arn:q",
        "AGAIN": "https://q",
    }


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"URL": "streamArn"}, "outputs[0].values.URL: Queue has no output 'streamArn'"),
        ({"BAD KEY": "url"}, "may only contain letters"),
        ({"..x": "url"}, "may not be '.' or '..'"),
        ({"K" * 254: "url"}, "longer than 253"),
    ],
    ids=["unknown-name", "space-in-key", "dotdot-prefix", "too-long"],
)
def test_invalid_outputs_are_refused_naming_the_field(values: dict, problem: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as info:
        KINDS["Queue"].spec_model.model_validate({"outputs": [{"to": {"configMap": "x"}, "values": values}]})
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("outputs_", "problem"),
    [
        ([{"to": {}}], "exactly one of configMap or secret"),
        ([{"to": {"configMap": "a", "secret": "a"}}], "exactly one of configMap or secret"),
        ([{"to": {"configMap": "Not_A_Name"}}], "String should match pattern"),
        ([{"to": {"secret": "s"}}, {"to": {"secret": "s"}}], "outputs[1].to: Secret s is listed twice"),
    ],
    ids=["no-target", "two-targets", "bad-name", "twice"],
)
def test_invalid_targets_are_refused(outputs_: list, problem: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as info:
        KINDS["Table"].spec_model.model_validate(
            {"partitionKey": {"name": "pk", "type": "S"}, "outputs": outputs_}
        )
    assert problem in str(info.value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_crd_lists_the_kinds_output_names_as_enum_and_in_the_description(kind: str) -> None:
    schema = crdgen.crd(KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    field = schema["properties"]["spec"]["properties"]["outputs"]
    values = field["items"]["properties"]["values"]
    assert values["additionalProperties"]["enum"] == outputs.output_names(kind)
    for name in outputs.output_names(kind):
        assert f"{name}: " in field["description"]
        assert outputs.default_key(kind, name) in field["description"]
    assert field["maxItems"] == outputs.MAX_OUTPUTS and values["maxProperties"] == outputs.MAX_VALUES


def test_field_manager_is_per_object_and_within_the_api_servers_limit() -> None:
    assert field_manager("Queue", "orders") == "awsop/queue/orders"
    long_a, long_b = field_manager("Queue", "a" * 200 + "x"), field_manager("Queue", "a" * 200 + "y")
    assert len(long_a) == 128 and long_a != long_b


def test_docs_list_every_output_and_default_key() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text()
    for kind in KINDS:
        for name in outputs.output_names(kind):
            assert f"`{name}` (`{outputs.default_key(kind, name)}`)" in text, (kind, name)
