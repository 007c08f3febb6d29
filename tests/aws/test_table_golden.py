"""Golden AWS call logs for the Table kind against moto's server over HTTP.

Each scenario asserts the exact sequence of AWS operations, so API cost only changes on purpose. moto
makes tables and indexes ACTIVE at once, so here every step is followed at once by the next; the
CREATING / UPDATING / backfilling paths are in test_table_progress.py (botocore Stubber).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, Progress, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.table import TableClient, TableSpec
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "team-a", "orders", 1)
NAME = "team-a-orders"
KEYS = {"partitionKey": {"name": "pk", "type": "S"}, "sortKey": {"name": "sk", "type": "S"}}
BUDGET_SPEC: dict[str, Any] = {
    **KEYS,
    "timeToLive": {"attributeName": "expiresAt"},
    "pointInTimeRecovery": {"enabled": True},
    "tags": {"team": "a"},
}
READS = [
    "dynamodb:DescribeTable",
    "dynamodb:ListTagsOfResource",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:DescribeContinuousBackups",
]


def spec(**fields: Any) -> TableSpec:
    return TableSpec.model_validate(fields)


def gsi(name: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "partitionKey": {"name": key, "type": "S"}, **extra}


@pytest.fixture
def tables(clients) -> TableClient:  # type: ignore[no-untyped-def]
    return TableClient(clients)


@pytest.fixture
def ddb(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)


def converge(engine: Engine, tables: TableClient, ref: ObjectRef, desired: TableSpec) -> list[Outcome]:
    """Reconcile as the operator does (previous progress handed back) until the object settles."""
    outcomes: list[Outcome] = []
    progress: Progress | None = None
    for _ in range(10):
        outcome = engine.reconcile(tables, ref, desired, progress=progress)
        outcomes.append(outcome)
        if outcome.state is not State.PROGRESSING:
            return outcomes
        progress = outcome.progress
    raise AssertionError([o.message for o in outcomes])


def test_table_create_calls_tags_at_create(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    outcome = engine.reconcile(tables, REF, spec(**BUDGET_SPEC))
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == [
        "dynamodb:DescribeTable",
        "dynamodb:CreateTable",  # with Tags: ownership from the first moment
        "dynamodb:UpdateTimeToLive",
        "dynamodb:UpdateContinuousBackups",
    ]
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {
        OWNER_TAG: "test-cluster/team-a/orders",
        "awsop.io/kind": "Table",
        "managed-by": "awsop",
        "team": "a",
    }
    assert outcome.status["tableStatus"] == "ACTIVE"
    assert outcome.status["arn"] == arn
    definitions = ddb.describe_table(TableName=NAME)["Table"]["AttributeDefinitions"]
    assert sorted(d["AttributeName"] for d in definitions) == ["pk", "sk"]


def test_table_noop_resync_within_budget(engine: Engine, tables: TableClient) -> None:
    """The issue's budget: TTL + PITR + tags declared cost at most 4 reads (ACK reads 6)."""
    engine.reconcile(tables, REF, spec(**BUDGET_SPEC))
    outcome = engine.reconcile(tables, REF, spec(**BUDGET_SPEC), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate"
    assert outcome.calls == READS


def test_table_undeclared_facets_cost_nothing(engine: Engine, tables: TableClient) -> None:
    engine.reconcile(tables, REF, spec(**KEYS))
    outcome = engine.reconcile(tables, REF, spec(**KEYS), spec_changed=False)
    assert outcome.calls == ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]


def test_table_two_indexes_in_one_edit_planned_whole_applied_in_sequence(
    engine: Engine,
    tables: TableClient,
    ddb,  # type: ignore[no-untyped-def]
) -> None:
    engine.reconcile(tables, REF, spec(**BUDGET_SPEC))
    edited = spec(
        **BUDGET_SPEC, globalSecondaryIndexes=[gsi("gsi-by-email", "email"), gsi("gsi-by-sku", "sku")]
    )
    ref = ObjectRef("Table", "team-a", "orders", 2)
    planned = engine.reconcile(tables, ref, edited, plan_only=True)
    assert [line.strip() for line in planned.plan.render()[1:]] == [
        '+ globalSecondaryIndexes[gsi-by-email]: (none) -> {"partitionKey":{"name":"email","type":"S"},'
        '"projection":{"type":"ALL"}}  [dynamodb:UpdateTable]  (step 1 of 2)',
        '+ globalSecondaryIndexes[gsi-by-sku]: (none) -> {"partitionKey":{"name":"sku","type":"S"},'
        '"projection":{"type":"ALL"}}  [dynamodb:UpdateTable]  (step 2 of 2)',
    ]
    outcomes = converge(engine, tables, ref, edited)
    assert [(str(o.state), o.message) for o in outcomes] == [
        ("Progressing", "step 1 of 2: creating index gsi-by-email; next: creating index gsi-by-sku"),
        ("Progressing", "step 2 of 2: creating index gsi-by-sku"),
        ("Ready", "AWS matches the spec"),
    ]
    assert [o.calls for o in outcomes] == [
        [*READS, "dynamodb:UpdateTable"],
        [*READS, "dynamodb:UpdateTable"],
        READS,
    ]
    assert all(o.ok for o in outcomes)  # no AWS validation error on the way
    indexes = ddb.describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == ["gsi-by-email", "gsi-by-sku"]
    assert outcomes[0].progress == Progress(
        2, 1, 2, "creating index gsi-by-email", ("creating index gsi-by-sku",)
    )


def test_table_remove_an_index(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    two = spec(**KEYS, globalSecondaryIndexes=[gsi("gsi-by-email", "email"), gsi("gsi-by-sku", "sku")])
    engine.reconcile(tables, REF, two)
    one = spec(**KEYS, globalSecondaryIndexes=[gsi("gsi-by-sku", "sku")])
    outcomes = converge(engine, tables, REF, one)
    assert [o.message for o in outcomes] == [
        "step 1 of 1: deleting index gsi-by-email",
        "AWS matches the spec",
    ]
    assert outcomes[0].calls == [
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
        "dynamodb:UpdateTable",
    ]
    indexes = ddb.describe_table(TableName=NAME)["Table"].get("GlobalSecondaryIndexes", [])
    assert [i["IndexName"] for i in indexes] == ["gsi-by-sku"]


def test_table_indexes_left_out_are_neither_read_nor_removed(
    engine: Engine, tables: TableClient, ddb
) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(tables, REF, spec(**KEYS, globalSecondaryIndexes=[gsi("gsi-by-email", "email")]))
    outcome = engine.reconcile(tables, REF, spec(**KEYS))
    assert outcome.state is State.READY and outcome.reason == "UpToDate"
    assert len(ddb.describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"]) == 1


def test_table_out_of_band_pitr_change_corrected(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(tables, REF, spec(**BUDGET_SPEC))
    ddb.update_continuous_backups(
        TableName=NAME, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    outcome = engine.reconcile(tables, REF, spec(**BUDGET_SPEC), spec_changed=False)
    assert outcome.reason == "DriftCorrected"
    assert [c.explain() for c in outcome.drift] == ["pointInTimeRecovery: {enabled: false -> true}"]
    assert outcome.calls == [*READS, "dynamodb:UpdateContinuousBackups"]
    pitr = ddb.describe_continuous_backups(TableName=NAME)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_table_tag_changes_send_differences_only(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(tables, REF, spec(**KEYS, tags={"team": "a", "old": "x"}))
    outcome = engine.reconcile(tables, REF, spec(**KEYS, tags={"team": "b"}))
    assert outcome.calls[-2:] == ["dynamodb:TagResource", "dynamodb:UntagResource"]
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags["team"] == "b" and "old" not in tags and tags[OWNER_TAG] == "test-cluster/team-a/orders"


def test_table_delete_with_protection_on_then_off(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    protected = spec(**KEYS, deletionProtection=True, deletionPolicy="Delete")
    engine.reconcile(tables, REF, protected)
    blocked = engine.delete(tables, REF, protected)
    assert blocked.state is State.DELETE_BLOCKED and blocked.reason == "DeletionProtectionOn"
    assert "spec.deletionProtection: false" in blocked.message
    assert blocked.calls == ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]
    assert ddb.describe_table(TableName=NAME)["Table"]["DeletionProtectionEnabled"] is True
    unprotected = spec(**KEYS, deletionProtection=False, deletionPolicy="Delete")
    deleted = engine.delete(tables, REF, unprotected)
    assert deleted.state is State.DELETED and deleted.reason == "Deleted"
    assert deleted.calls == [
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
        "dynamodb:UpdateTable",  # the spec turned protection off
        "dynamodb:DeleteTable",
    ]
    assert NAME not in ddb.list_tables()["TableNames"]


def test_table_delete_never_turns_protection_off_unless_the_spec_says_so(
    engine: Engine, tables: TableClient, ddb
) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(tables, REF, spec(**KEYS))
    ddb.update_table(TableName=NAME, DeletionProtectionEnabled=True)  # turned on outside awsop
    outcome = engine.delete(tables, REF, spec(**KEYS, deletionPolicy="Delete"))
    assert outcome.state is State.DELETE_BLOCKED
    assert ddb.describe_table(TableName=NAME)["Table"]["DeletionProtectionEnabled"] is True


def test_table_retained_on_delete_by_default(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(tables, REF, spec(**KEYS, tags={"team": "a"}))
    outcome = engine.delete(tables, REF, spec(**KEYS, tags={"team": "a"}))
    assert outcome.reason == "Retained"
    assert outcome.calls == [
        "dynamodb:DescribeTable",
        "dynamodb:ListTagsOfResource",
        "dynamodb:UntagResource",
    ]
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    tags = {t["Key"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team", "managed-by"}


def test_table_external_capacity_is_set_at_create_then_never_written_or_compared(
    engine: Engine,
    tables: TableClient,
    ddb,  # type: ignore[no-untyped-def]
) -> None:
    desired = spec(
        **KEYS,
        billingMode="PROVISIONED",
        readCapacity=5,
        writeCapacity=5,
        capacityManagedBy="external",
        globalSecondaryIndexes=[gsi("gsi-by-email", "email", readCapacity=5, writeCapacity=5)],
    )
    engine.reconcile(tables, REF, desired)
    ddb.update_table(TableName=NAME, ProvisionedThroughput={"ReadCapacityUnits": 40, "WriteCapacityUnits": 9})
    outcome = engine.reconcile(tables, REF, desired, spec_changed=False)
    assert outcome.reason == "UpToDate"
    assert outcome.status["capacity"] == {"readCapacity": 40, "writeCapacity": 9}
    managed = desired.model_copy(update={"capacity_managed_by": "awsop"})
    fixed = converge(engine, tables, REF, managed)
    assert fixed[0].message == "step 1 of 1: changing table capacity"
    throughput = ddb.describe_table(TableName=NAME)["Table"]["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (5, 5)


def test_table_key_change_is_terminal(engine: Engine, tables: TableClient) -> None:
    engine.reconcile(tables, REF, spec(**KEYS))
    outcome = engine.reconcile(tables, REF, spec(partitionKey={"name": "id", "type": "S"}))
    assert outcome.state is State.STALLED and outcome.error_class is ErrorClass.TERMINAL
    assert outcome.reason == "KeySchemaChanged"
    assert "the table must be recreated" in outcome.message


def test_table_local_index_change_is_terminal(engine: Engine, tables: TableClient) -> None:
    lsi = {"name": "lsi-by-date", "sortKey": {"name": "date", "type": "S"}}
    engine.reconcile(tables, REF, spec(**KEYS, localSecondaryIndexes=[lsi]))
    changed = {**lsi, "sortKey": {"name": "date", "type": "N"}}
    outcome = engine.reconcile(tables, REF, spec(**KEYS, localSecondaryIndexes=[changed]))
    assert outcome.state is State.STALLED and outcome.reason == "LocalIndexesChanged"
    assert "the table must be recreated" in outcome.message


def test_table_not_owned_is_a_conflict(engine: Engine, tables: TableClient, ddb) -> None:  # type: ignore[no-untyped-def]
    ddb.create_table(
        TableName=NAME,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    outcome = engine.reconcile(tables, REF, spec(partitionKey={"name": "pk", "type": "S"}))
    assert outcome.state is State.STALLED and outcome.reason == "AlreadyExists"
