"""The Kinesis streaming destination of a table. moto 5.2.5 does not implement the Kinesis streaming
destination calls, so they run against botocore's Stubber with AWS-shaped responses; the Stubber fails
the test on any call not queued here (no write on a no-op)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from tablestub import stubbed_table

from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 3)
NAME = "shop-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-changes"
OTHER = "arn:aws:kinesis:us-east-1:123456789012:stream/old-changes"
TAGS = [
    {"Key": "awsop.io/kind", "Value": "Table"},
    {"Key": "awsop.io/owner", "Value": "test-cluster/shop/orders"},
]
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
READS = [
    "dynamodb:DescribeTable",
    "dynamodb:ListTagsOfResource",
    "dynamodb:DescribeKinesisStreamingDestination",
]
TABLE: dict[str, Any] = {
    "TableName": NAME,
    "TableArn": ARN,
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
    "CreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
}


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    with stubbed_table() as parts:
        yield parts


def spec(enabled: bool = True) -> TableSpec:
    return TableSpec.model_validate(
        {**KEYS, "kinesisStreamingDestination": {"streamArn": STREAM, "enabled": enabled}}
    )


def reads(stub: Stubber, destinations: list[tuple[str, str]]) -> None:
    stub.add_response("describe_table", {"Table": TABLE}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": TAGS}, {"ResourceArn": ARN})
    stub.add_response(
        "describe_kinesis_streaming_destination",
        {
            "TableName": NAME,
            "KinesisDataStreamDestinations": [
                {
                    "StreamArn": arn,
                    "DestinationStatus": status,
                    "ApproximateCreationDateTimePrecision": "MILLISECOND",
                }
                for arn, status in destinations
            ],
        },
        {"TableName": NAME},
    )


def test_kinesis_destination_active_is_a_noop_with_one_read(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    reads(stub, [(STREAM, "ACTIVE")])
    outcome = engine.reconcile(tables, REF, spec(), spec_changed=False)
    assert outcome.reason == "UpToDate" and outcome.calls == READS
    reads(stub, [(STREAM, "ENABLING")])  # on its way: not enabled again
    assert engine.reconcile(tables, REF, spec(), spec_changed=False).reason == "UpToDate"


def test_kinesis_destination_enabled_after_disabling_the_active_other(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    reads(stub, [(OTHER, "ACTIVE"), (STREAM, "DISABLED")])
    stub.add_response(
        "disable_kinesis_streaming_destination",
        {"TableName": NAME, "StreamArn": OTHER, "DestinationStatus": "DISABLING"},
        {"TableName": NAME, "StreamArn": OTHER},
    )
    stub.add_response(
        "enable_kinesis_streaming_destination",
        {"TableName": NAME, "StreamArn": STREAM, "DestinationStatus": "ENABLING"},
        {"TableName": NAME, "StreamArn": STREAM},
    )
    outcome = engine.reconcile(tables, REF, spec())
    assert outcome.state is State.READY
    assert outcome.calls == [
        *READS,
        "dynamodb:DisableKinesisStreamingDestination",
        "dynamodb:EnableKinesisStreamingDestination",
    ]


def test_kinesis_destination_disabled_when_the_spec_says_so_and_not_when_failed(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    reads(stub, [(STREAM, "ACTIVE")])
    stub.add_response(
        "disable_kinesis_streaming_destination",
        {"TableName": NAME, "StreamArn": STREAM, "DestinationStatus": "DISABLING"},
        {"TableName": NAME, "StreamArn": STREAM},
    )
    assert engine.reconcile(tables, REF, spec(enabled=False)).calls[-1] == (
        "dynamodb:DisableKinesisStreamingDestination"
    )
    reads(stub, [(STREAM, "ENABLE_FAILED")])
    failed = engine.reconcile(tables, REF, spec(enabled=False), spec_changed=False)
    assert failed.reason == "UpToDate", (failed.message, failed.calls)


def test_kinesis_destination_left_out_is_not_read(stubbed: tuple[Engine, TableClient, Stubber]) -> None:
    engine, tables, stub = stubbed
    stub.add_response("describe_table", {"Table": TABLE}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": TAGS}, {"ResourceArn": ARN})
    outcome = engine.reconcile(tables, REF, TableSpec.model_validate(KEYS), spec_changed=False)
    assert outcome.calls == ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]


def test_kinesis_destination_needs_a_stream_arn() -> None:
    with pytest.raises(ValueError, match="streamArn"):
        TableSpec.model_validate({**KEYS, "kinesisStreamingDestination": {"streamArn": "orders-changes"}})
