"""Golden call logs of an import from S3 in the states moto 5.2.5 passes too fast to see: an import
IN_PROGRESS for a while, CANCELLED, and the exact ImportTable request (CSV options, indexes, SSE). botocore's
Stubber answers with AWS-shaped responses and fails the test on any call not queued here, so "no second
ImportTable" and "no write while it runs" are checked by construction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from tablestub import stubbed_table

from awsop.reconcilers.engine import Engine, ObjectRef, StartedCreate, State, spec_fingerprint
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 1)
NAME = "shop-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
IMPORT = f"{ARN}/import/01700000000000-abcdef12"
OWNER = [
    {"Key": "awsop.io/kind", "Value": "Table"},
    {"Key": "awsop.io/owner", "Value": "test-cluster/shop/orders"},
]
SPEC: dict[str, Any] = {
    "partitionKey": {"name": "pk", "type": "S"},
    "sortKey": {"name": "sk", "type": "N"},
    "billingMode": "PROVISIONED",
    "readCapacity": 5,
    "writeCapacity": 5,
    "globalSecondaryIndexes": [
        {
            "name": "by-email",
            "partitionKey": {"name": "email", "type": "S"},
            "readCapacity": 1,
            "writeCapacity": 1,
        }
    ],
    "encryption": {"type": "AWS_MANAGED"},
    "importFrom": {
        "bucket": {"name": "shop-exports"},
        "bucketOwner": "210987654321",
        "keyPrefix": "orders/2026/",
        "inputFormat": "CSV",
        "csv": {"delimiter": ";", "headerList": ["pk", "sk", "email"]},
        "inputCompressionType": "ZSTD",
    },
}
TABLE: dict[str, Any] = {
    "TableName": NAME,
    "TableArn": ARN,
    "TableStatus": "ACTIVE",
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "email", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ],
    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-email",
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            # AWS reports warm throughput the spec never mentions: not drift
            "WarmThroughput": {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"},
        }
    ],
    "SSEDescription": {
        "Status": "ENABLED",
        "SSEType": "KMS",
        "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/x",
    },
    # made by the import hours ago: far beyond the create window, yet ours by the record
    "CreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
}


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    with stubbed_table() as parts:
        yield parts


def spec() -> TableSpec:
    return TableSpec.model_validate(SPEC)


def described(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "ImportTableDescription": {
            "ImportArn": IMPORT,
            "ImportStatus": status,
            "TableArn": ARN,
            "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
            **extra,
        }
    }


def record() -> StartedCreate:
    return StartedCreate(IMPORT, spec_fingerprint(spec()), "2026-01-01T00:00:00Z")


def test_import_table_request_carries_what_create_table_would_but_no_tags(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    stub.add_client_error("describe_table", "ResourceNotFoundException", expected_params={"TableName": NAME})
    stub.add_response(
        "import_table",
        described("IN_PROGRESS"),
        {
            "S3BucketSource": {
                "S3Bucket": "shop-exports",
                "S3BucketOwner": "210987654321",
                "S3KeyPrefix": "orders/2026/",
            },
            "InputFormat": "CSV",
            "InputFormatOptions": {"Csv": {"Delimiter": ";", "HeaderList": ["pk", "sk", "email"]}},
            "InputCompressionType": "ZSTD",
            "TableCreationParameters": {
                "TableName": NAME,
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": TABLE["AttributeDefinitions"],
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                "GlobalSecondaryIndexes": ANY,
                "SSESpecification": {"Enabled": True, "SSEType": "KMS"},
            },
        },
    )
    outcome = engine.reconcile(tables, REF, spec())
    assert outcome.calls == ["dynamodb:DescribeTable", "dynamodb:ImportTable"]
    assert outcome.state is State.PROGRESSING
    assert outcome.started_create == StartedCreate(IMPORT, spec_fingerprint(spec()), ANY)


def test_running_import_costs_one_describe_import_and_reports_its_progress(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    stub.add_response(
        "describe_import",
        described("IN_PROGRESS", ProcessedItemCount=1200, ProcessedSizeBytes=480000, ImportedItemCount=1100),
        {"ImportArn": IMPORT},
    )
    outcome = engine.reconcile(tables, REF, spec(), started_create=record())
    # no DescribeTable: the untagged table the import is making is never judged (not a conflict, however
    # old), and no second ImportTable
    assert outcome.calls == ["dynamodb:DescribeImport"]
    assert (outcome.state, outcome.reason, outcome.error_class) == (
        State.PROGRESSING,
        "ImportInProgress",
        None,
    )
    assert "IN_PROGRESS: 1200 items (480000 bytes) processed" in outcome.message
    assert outcome.status["import"] == {
        "arn": IMPORT,
        "status": "IN_PROGRESS",
        "processedItemCount": 1200,
        "processedSizeBytes": 480000,
        "importedItemCount": 1100,
    }
    assert outcome.progress is not None and "IN_PROGRESS" in outcome.progress.waiting_for
    assert outcome.started_create == record()  # kept


def test_running_import_plans_the_create_without_writing(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    stub.add_response("describe_import", described("IN_PROGRESS"), {"ImportArn": IMPORT})
    outcome = engine.reconcile(tables, REF, spec(), plan_only=True, started_create=record())
    assert outcome.calls == ["dynamodb:DescribeImport"]
    assert (outcome.state, outcome.plan.verb) == (State.PLANNED, "create")
    assert "IN_PROGRESS" in outcome.plan.note
    assert outcome.started_create == record()


def test_completed_import_gets_ownership_tags_then_ready_with_no_other_write(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    stub.add_response(
        "describe_import", described("COMPLETED", ImportedItemCount=5000), {"ImportArn": IMPORT}
    )
    stub.add_response("describe_table", {"Table": TABLE}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": []}, {"ResourceArn": ARN})
    stub.add_response("tag_resource", {}, {"ResourceArn": ARN, "Tags": OWNER})
    for _ in range(2):  # the read-back that proves ownership, then the ordinary loop's read
        stub.add_response("describe_table", {"Table": TABLE}, {"TableName": NAME})
        stub.add_response("list_tags_of_resource", {"Tags": OWNER}, {"ResourceArn": ARN})
    outcome = engine.reconcile(tables, REF, spec(), started_create=record())
    assert outcome.calls == [
        "dynamodb:DescribeImport",
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
    ]
    assert (outcome.state, outcome.reason) == (State.READY, "Created")
    assert [e.reason for e in outcome.events] == ["Created"]
    assert outcome.started_create is None


@pytest.mark.parametrize(
    ("status", "reason"), [("FAILED", "ImportFailed"), ("CANCELLED", "ImportCancelled")], ids=str.lower
)
def test_failed_or_cancelled_import_is_stalled_with_aws_reason(
    stubbed: tuple[Engine, TableClient, Stubber], status: str, reason: str
) -> None:
    engine, tables, stub = stubbed
    stub.add_response(
        "describe_import",
        described(
            status,
            FailureCode="ItemValidationError",
            FailureMessage="Some of the items failed validation checks",
            ErrorCount=7,
        ),
        {"ImportArn": IMPORT},
    )
    outcome = engine.reconcile(tables, REF, spec(), started_create=record())
    assert outcome.calls == ["dynamodb:DescribeImport"]
    assert (outcome.state, outcome.reason, outcome.error_class) == (
        State.STALLED,
        reason,
        ErrorClass.TERMINAL,
    )
    assert f"{status}: ItemValidationError: Some of the items failed validation checks" in outcome.message
    assert outcome.status["import"]["errorCount"] == 7
    assert outcome.started_create == record()


def test_import_unknown_to_aws_is_stalled_not_started_again(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    stub.add_client_error(
        "describe_import", "ImportNotFoundException", "no such import", expected_params={"ImportArn": IMPORT}
    )
    outcome = engine.reconcile(tables, REF, spec(), started_create=record())
    assert outcome.calls == ["dynamodb:DescribeImport"]
    assert (outcome.state, outcome.reason) == (State.STALLED, "ImportNotFound")
