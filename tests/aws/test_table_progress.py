"""Tables that exist before they are usable: CREATING, UPDATING, an index backfilling, DELETING.

moto makes tables and indexes ACTIVE at once, so these paths run against botocore's Stubber with
AWS-shaped responses (DescribeTable as AWS documents it). The Stubber also proves the central promise:
it fails the test on any call not queued here, so no UpdateTable can reach a busy table unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from tablestub import stubbed_table

from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, Progress, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.table import TableClient, TableSpec, classify_table_error

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 3)
NAME = "shop-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
OWNER = "test-cluster/shop/orders"
TAGS = [{"Key": "awsop.io/kind", "Value": "Table"}, {"Key": "awsop.io/owner", "Value": OWNER}]
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}


def table(
    status: str = "ACTIVE", indexes: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A DescribeTable `Table` as AWS returns it for an on-demand table keyed by pk."""
    out: dict[str, Any] = {
        "TableName": NAME,
        "TableArn": ARN,
        "TableStatus": status,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {
            "ReadCapacityUnits": 0,
            "WriteCapacityUnits": 0,
        },
        "CreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
        "DeletionProtectionEnabled": False,
        **extra,
    }
    if indexes:
        out["GlobalSecondaryIndexes"] = indexes
        out["AttributeDefinitions"] += [
            {"AttributeName": i["KeySchema"][0]["AttributeName"], "AttributeType": "S"} for i in indexes
        ]
    return out


def index(name: str, key: str, status: str = "ACTIVE", backfilling: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "IndexStatus": status,
        "IndexArn": f"{ARN}/index/{name}",
        "ProvisionedThroughput": {
            "ReadCapacityUnits": 0,
            "WriteCapacityUnits": 0,
        },
    }
    if status == "CREATING":
        out["Backfilling"] = backfilling
    return out


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    with stubbed_table() as parts:
        yield parts


def describe(stub: Stubber, body: dict[str, Any], tags: list[dict[str, str]] = TAGS) -> None:
    stub.add_response("describe_table", {"Table": body}, {"TableName": NAME})
    if body["TableStatus"] not in ("DELETING",):
        stub.add_response("list_tags_of_resource", {"Tags": tags}, {"ResourceArn": ARN})


def test_table_creating_is_progressing_until_active_then_the_rest_is_applied(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    desired = TableSpec.model_validate({**KEYS, "pointInTimeRecovery": {"enabled": True}})
    stub.add_client_error("describe_table", "ResourceNotFoundException", "Requested resource not found", 400)
    stub.add_response("create_table", {"TableDescription": table("CREATING")})
    created = engine.reconcile(tables, REF, desired)
    assert created.state is State.PROGRESSING and created.reason == "TableCreating"
    assert created.message == f"created Table {NAME} in us-east-1; waiting: table {NAME} is CREATING"
    assert created.status["tableStatus"] == "CREATING"

    describe(stub, table("CREATING"))  # CREATING: nothing else is read, nothing written
    waiting = engine.reconcile(tables, REF, desired, progress=created.progress)
    assert waiting.state is State.PROGRESSING and waiting.reason == "TableCreating"
    assert waiting.calls == ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]

    describe(stub, table("ACTIVE"))
    stub.add_response(
        "describe_continuous_backups",
        {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        },
    )
    stub.add_response(
        "update_continuous_backups",
        {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED"}},
        {"TableName": NAME, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
    )
    ready = engine.reconcile(tables, REF, desired, progress=waiting.progress)
    assert ready.state is State.READY and ready.reason == "Updated"


def test_two_indexes_wait_for_backfilling_and_never_update_a_busy_table(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    desired = TableSpec.model_validate(
        {
            **KEYS,
            "globalSecondaryIndexes": [
                {"name": "gsi-by-email", "partitionKey": {"name": "email", "type": "S"}},
                {"name": "gsi-by-sku", "partitionKey": {"name": "sku", "type": "S"}},
            ],
        }
    )
    create_email = {
        "Create": {
            "IndexName": "gsi-by-email",
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    }
    definitions = [
        {"AttributeName": "email", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sku", "AttributeType": "S"},
    ]
    rounds: list[Outcome] = []
    progress: Progress | None = None

    def run() -> Outcome:
        nonlocal progress
        outcome = engine.reconcile(tables, REF, desired, progress=progress)
        progress = outcome.progress
        rounds.append(outcome)
        return outcome

    describe(stub, table("ACTIVE"))
    stub.add_response(
        "update_table",
        {"TableDescription": table("UPDATING")},
        {
            "TableName": NAME,
            "AttributeDefinitions": definitions,
            "GlobalSecondaryIndexUpdates": [create_email],
        },
    )
    assert run().message == "step 1 of 2: creating index gsi-by-email; next: creating index gsi-by-sku"

    describe(stub, table("UPDATING", [index("gsi-by-email", "email", "CREATING")]))
    assert run().message == (
        f"waiting: table {NAME} is UPDATING (step 1 of 2: creating index gsi-by-email); "
        "next: creating index gsi-by-sku"
    )
    describe(stub, table("ACTIVE", [index("gsi-by-email", "email", "CREATING", backfilling=True)]))
    backfilling = run()
    assert backfilling.reason == "IndexNotActive"
    assert backfilling.message.startswith("waiting: index gsi-by-email is CREATING (step 1 of 2")
    assert backfilling.status["indexes"] == [{"name": "gsi-by-email", "status": "BACKFILLING"}]
    assert backfilling.progress is not None and backfilling.progress.pending == ("creating index gsi-by-sku",)

    describe(stub, table("ACTIVE", [index("gsi-by-email", "email")]))
    stub.add_response("update_table", {"TableDescription": table("UPDATING")})
    assert run().message == "step 2 of 2: creating index gsi-by-sku"

    describe(stub, table("ACTIVE", [index("gsi-by-email", "email"), index("gsi-by-sku", "sku", "CREATING")]))
    assert run().reason == "IndexNotActive"

    describe(stub, table("ACTIVE", [index("gsi-by-email", "email"), index("gsi-by-sku", "sku")]))
    done = run()
    assert done.state is State.READY and done.progress is None
    writes = [call for outcome in rounds for call in outcome.calls if "Update" in call]
    assert writes == ["dynamodb:UpdateTable", "dynamodb:UpdateTable"]
    assert [str(o.state) for o in rounds] == ["Progressing"] * 5 + ["Ready"]


def test_update_refused_because_the_table_is_busy_is_recoverable(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    """Someone else's UpdateTable raced ours: progress to wait for, not a spec error."""
    engine, tables, stub = stubbed
    desired = TableSpec.model_validate({**KEYS, "tableClass": "STANDARD_INFREQUENT_ACCESS"})
    describe(stub, table("ACTIVE"))
    stub.add_client_error(
        "update_table",
        "ResourceInUseException",
        f"Attempt to change a resource which is still in use: Table is being updated: {NAME}",
        400,
    )
    outcome = engine.reconcile(tables, REF, desired)
    assert outcome.error_class is ErrorClass.RECOVERABLE


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationException", "Table is being updated", ErrorClass.RECOVERABLE),
        (
            "ValidationException",
            "Time to live has been modified multiple times within a fixed interval",
            ErrorClass.RECOVERABLE,
        ),
        ("ResourceInUseException", "Table already exists: shop-orders", ErrorClass.RECOVERABLE),
        (
            "ValidationException",
            "One or more parameter values were invalid: Missing the key pk",
            ErrorClass.TERMINAL,
        ),
        (
            "LimitExceededException",
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously",
            ErrorClass.RECOVERABLE,
        ),
        ("AccessDeniedException", "not authorized", ErrorClass.ACCESS),
    ],
    ids=["busy", "ttl-too-soon", "in-use", "invalid", "one-index-at-a-time", "denied"],
)
def test_dynamodb_errors_are_classified(code: str, message: str, expected: ErrorClass) -> None:
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": code, "Message": message}}, "UpdateTable")
    assert classify_table_error(exc) is expected


def test_billing_switch_within_24_hours_is_recoverable_with_the_retry_time(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    switched = datetime.now(UTC) - timedelta(hours=2)
    provisioned = table(
        "ACTIVE",
        BillingModeSummary={"BillingMode": "PROVISIONED", "LastUpdateToPayPerRequestDateTime": switched},
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    describe(stub, provisioned)
    outcome = engine.reconcile(tables, REF, TableSpec.model_validate(KEYS))
    assert outcome.error_class is ErrorClass.RECOVERABLE
    assert outcome.reason == "BillingModeSwitchLimited"
    assert (switched + timedelta(hours=24)).isoformat() in outcome.message


def test_delete_waits_while_the_table_is_updating_and_deleting_is_not_an_error(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    desired = TableSpec.model_validate({**KEYS, "deletionPolicy": "Delete"})
    describe(stub, table("UPDATING"))
    waiting = engine.delete(tables, REF, desired)
    assert waiting.state is State.PROGRESSING and waiting.reason == "TableNotActive"
    describe(stub, table("ACTIVE"))
    stub.add_response("delete_table", {"TableDescription": table("DELETING")}, {"TableName": NAME})
    assert engine.delete(tables, REF, desired).state is State.DELETED
    stub.add_response("describe_table", {"Table": table("DELETING")}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": TAGS}, {"ResourceArn": ARN})
    assert engine.delete(tables, REF, desired).state is State.DELETED


def test_replicas_made_outside_awsop_are_kept_and_never_drift(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    replicated = table(
        "ACTIVE",
        Replicas=[{"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        LatestStreamArn=f"{ARN}/stream/2026-01-01T00:00:00.000",
    )
    describe(stub, replicated)
    outcome = engine.reconcile(tables, REF, TableSpec.model_validate({**KEYS, "deletionProtection": False}))
    assert outcome.state is State.READY and outcome.reason == "UpToDate"  # no ReplicaUpdates, no drift


def test_contributor_insights_read_and_written_only_when_declared(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    """moto lacks Contributor Insights: the calls are pinned here."""
    engine, tables, stub = stubbed
    describe(stub, table("ACTIVE"))
    assert engine.reconcile(tables, REF, TableSpec.model_validate(KEYS)).calls == [
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
    ]
    describe(stub, table("ACTIVE"))
    stub.add_response(
        "describe_contributor_insights",
        {"TableName": NAME, "ContributorInsightsStatus": "DISABLED"},
        {"TableName": NAME},
    )
    stub.add_response(
        "update_contributor_insights",
        {"TableName": NAME, "ContributorInsightsStatus": "ENABLING"},
        {"TableName": NAME, "ContributorInsightsAction": "ENABLE"},
    )
    outcome = engine.reconcile(tables, REF, TableSpec.model_validate({**KEYS, "contributorInsights": True}))
    assert outcome.state is State.READY and outcome.message == "contributorInsights: false -> true"


def test_table_class_change_is_a_step(stubbed: tuple[Engine, TableClient, Stubber]) -> None:
    """moto ignores TableClass: the UpdateTable it costs is pinned here."""
    engine, tables, stub = stubbed
    describe(stub, table("ACTIVE"))
    stub.add_response(
        "update_table",
        {"TableDescription": table("UPDATING")},
        {"TableName": NAME, "TableClass": "STANDARD_INFREQUENT_ACCESS"},
    )
    outcome = engine.reconcile(
        tables, REF, TableSpec.model_validate({**KEYS, "tableClass": "STANDARD_INFREQUENT_ACCESS"})
    )
    assert outcome.message == "step 1 of 1: changing table class to STANDARD_INFREQUENT_ACCESS"
