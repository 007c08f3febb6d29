"""Global table replicas (2019.11.21), added and removed one step at a time.

moto 5.2.5 ignores UpdateTable's ReplicaUpdates (and never lists replicas), so this seam runs against
botocore's Stubber with AWS-shaped DescribeTable responses; the Stubber fails the test on any call not
queued here, so an unexpected UpdateTable (a replica removed that must stay) cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from tablestub import stubbed_table

from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 3)
NAME = "shop-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
OWNER = [
    {"Key": "awsop.io/kind", "Value": "Table"},
    {"Key": "awsop.io/owner", "Value": "test-cluster/shop/orders"},
]
STREAM = {"stream": {"viewType": "NEW_AND_OLD_IMAGES"}}
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
READS = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]


def table(replicas: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TableName": NAME,
        "TableArn": ARN,
        "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "CreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "LatestStreamArn": f"{ARN}/stream/2026-01-01T00:00:00.000",
        "WarmThroughput": {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"},
        **extra,
    }
    if replicas:
        out["GlobalTableVersion"] = "2019.11.21"
        out["Replicas"] = [
            {
                "RegionName": region,
                "ReplicaStatus": status,
                "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
                "WarmThroughput": {"ReadUnitsPerSecond": 12000, "Status": "ACTIVE"},
            }
            for region, status in replicas.items()
        ]
    return out


def record(*regions: str) -> list[dict[str, str]]:
    return [*OWNER, {"Key": "awsop.io/replicas", "Value": " ".join(sorted(regions))}] if regions else OWNER


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    with stubbed_table() as parts:
        yield parts


def spec(regions: list[str], management: str = "Additive") -> TableSpec:
    return TableSpec.model_validate(
        {**KEYS, **STREAM, "replicas": [{"region": r} for r in regions], "replicaManagement": management}
    )


def reads(stub: Stubber, body: dict[str, Any], tags: list[dict[str, str]]) -> None:
    stub.add_response("describe_table", {"Table": body}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": tags}, {"ResourceArn": ARN})


def replica_update(stub: Stubber, update: dict[str, Any], body: dict[str, Any]) -> None:
    stub.add_response(
        "update_table", {"TableDescription": body}, {"TableName": NAME, "ReplicaUpdates": [update]}
    )


def tag_record(stub: Stubber, value: str) -> None:
    stub.add_response(
        "tag_resource", {}, {"ResourceArn": ARN, "Tags": [{"Key": "awsop.io/replicas", "Value": value}]}
    )


def test_two_replicas_added_one_step_at_a_time_waiting_for_each(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    desired = spec(["eu-west-1", "ap-southeast-2"])
    outcomes: list[Outcome] = []

    reads(stub, table(), OWNER)
    replica_update(stub, {"Create": {"RegionName": "eu-west-1"}}, table({"eu-west-1": "CREATING"}))
    tag_record(stub, "eu-west-1")
    outcomes.append(engine.reconcile(tables, REF, desired))

    reads(stub, table({"eu-west-1": "CREATING"}), record("eu-west-1"))  # waiting: no write
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    reads(stub, table({"eu-west-1": "ACTIVE"}), record("eu-west-1"))
    replica_update(
        stub,
        {"Create": {"RegionName": "ap-southeast-2"}},
        table({"eu-west-1": "ACTIVE", "ap-southeast-2": "CREATING"}),
    )
    tag_record(stub, "ap-southeast-2 eu-west-1")
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    reads(
        stub,
        table({"eu-west-1": "ACTIVE", "ap-southeast-2": "ACTIVE"}),
        record("eu-west-1", "ap-southeast-2"),
    )
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    assert [(str(o.state), o.message) for o in outcomes] == [
        ("Progressing", "step 1 of 2: creating replica eu-west-1; next: creating replica ap-southeast-2"),
        (
            "Progressing",
            "waiting: replica eu-west-1 is CREATING (step 1 of 2: creating replica eu-west-1); "
            "next: creating replica ap-southeast-2",
        ),
        ("Progressing", "step 2 of 2: creating replica ap-southeast-2"),
        ("Ready", "AWS matches the spec"),
    ]
    assert [o.calls for o in outcomes] == [
        [*READS, "dynamodb:UpdateTable", "dynamodb:TagResource"],
        READS,
        [*READS, "dynamodb:UpdateTable", "dynamodb:TagResource"],
        READS,  # zero writes once converged, whatever warm throughput AWS reports
    ]
    assert outcomes[-1].status["replicas"] == [
        {"region": "ap-southeast-2", "status": "ACTIVE", "createdBy": "awsop"},
        {"region": "eu-west-1", "status": "ACTIVE", "createdBy": "awsop"},
    ]


def test_replica_removed_from_the_spec_under_owned_is_deleted_and_unrecorded(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    both = table({"eu-west-1": "ACTIVE", "ap-southeast-2": "ACTIVE"})
    reads(stub, both, record("eu-west-1", "ap-southeast-2"))
    replica_update(stub, {"Delete": {"RegionName": "ap-southeast-2"}}, table({"eu-west-1": "ACTIVE"}))
    tag_record(stub, "eu-west-1")
    removed = engine.reconcile(tables, REF, spec(["eu-west-1"], "Owned"))
    assert removed.message == "step 1 of 1: deleting replica ap-southeast-2"
    assert removed.calls == [*READS, "dynamodb:UpdateTable", "dynamodb:TagResource"]


def test_replica_removed_from_the_spec_under_the_default_is_left_in_place_and_reported(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    reads(
        stub,
        table({"eu-west-1": "ACTIVE", "ap-southeast-2": "ACTIVE"}),
        record("eu-west-1", "ap-southeast-2"),
    )
    kept = engine.reconcile(tables, REF, spec(["eu-west-1"]))
    assert kept.state is State.READY and kept.calls == READS  # no UpdateTable: the Stubber has none queued
    assert {"region": "ap-southeast-2", "status": "ACTIVE", "createdBy": "awsop", "inSpec": "false"} in (
        kept.status["replicas"]
    )


def test_replica_added_by_hand_is_reported_and_left_alone_and_removed_only_under_exclusive(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    by_hand = table({"eu-west-1": "ACTIVE", "us-west-2": "ACTIVE"})
    for management in ("Additive", "Owned"):
        reads(stub, by_hand, record("eu-west-1"))
        outcome = engine.reconcile(tables, REF, spec(["eu-west-1"], management))
        assert outcome.state is State.READY and outcome.calls == READS, management
        assert {"region": "us-west-2", "status": "ACTIVE", "createdBy": "outside", "inSpec": "false"} in (
            outcome.status["replicas"]
        )
    reads(stub, by_hand, record("eu-west-1"))
    replica_update(stub, {"Delete": {"RegionName": "us-west-2"}}, table({"eu-west-1": "ACTIVE"}))
    exclusive = engine.reconcile(tables, REF, spec(["eu-west-1"], "Exclusive"))
    assert exclusive.message == "step 1 of 1: deleting replica us-west-2"
    assert exclusive.calls == [*READS, "dynamodb:UpdateTable"]  # not awsop's: no record to change


def test_replicas_left_out_are_never_touched_and_retain_keeps_them(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    plain = TableSpec.model_validate({**KEYS, **STREAM})
    reads(stub, table({"eu-west-1": "ACTIVE"}), record("eu-west-1"))
    assert engine.reconcile(tables, REF, plain).calls == READS
    reads(stub, table({"eu-west-1": "ACTIVE"}), record("eu-west-1"))
    stub.add_response(
        "untag_resource", {}, {"ResourceArn": ARN, "TagKeys": ["awsop.io/kind", "awsop.io/owner"]}
    )
    retained = engine.delete(tables, REF, spec(["eu-west-1"], "Exclusive"))
    assert retained.reason == "Retained"  # only the ownership tags go; the replica and its record stay


def test_replica_settings_changed_as_an_update_step(stubbed: tuple[Engine, TableClient, Stubber]) -> None:
    engine, tables, stub = stubbed
    desired = TableSpec.model_validate(
        {**KEYS, **STREAM, "replicas": [{"region": "eu-west-1", "tableClass": "STANDARD_INFREQUENT_ACCESS"}]}
    )
    reads(stub, table({"eu-west-1": "ACTIVE"}), record("eu-west-1"))
    replica_update(
        stub,
        {"Update": {"RegionName": "eu-west-1", "TableClassOverride": "STANDARD_INFREQUENT_ACCESS"}},
        table({"eu-west-1": "UPDATING"}),
    )
    outcome = engine.reconcile(tables, REF, desired)
    assert outcome.message == "step 1 of 1: updating replica eu-west-1"


def test_replica_in_the_table_s_own_region_is_terminal(stubbed: tuple[Engine, TableClient, Stubber]) -> None:
    engine, tables, stub = stubbed
    reads(stub, table(), OWNER)
    outcome = engine.reconcile(tables, REF, spec(["us-east-1"]))
    assert outcome.state is State.STALLED and outcome.error_class is ErrorClass.TERMINAL
    assert outcome.reason == "ReplicaInHomeRegion"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**KEYS, "replicas": [{"region": "eu-west-1"}]},
            "replicas require stream.viewType NEW_AND_OLD_IMAGES",
        ),
        (
            {**KEYS, "stream": {"viewType": "KEYS_ONLY"}, "replicas": [{"region": "eu-west-1"}]},
            "replicas require stream.viewType NEW_AND_OLD_IMAGES",
        ),
        (
            {**KEYS, **STREAM, "replicas": [{"region": "eu-west-1"}, {"region": "eu-west-1"}]},
            "regions must be unique: eu-west-1",
        ),
        (
            {
                **KEYS,
                **STREAM,
                "replicas": [{"region": "eu-west-1", "globalSecondaryIndexes": [{"name": "nope"}]}],
            },
            r"replicas\[eu-west-1\].globalSecondaryIndexes\[nope\]: no such index",
        ),
    ],
    ids=["no-stream", "wrong-view-type", "duplicate-region", "unknown-index"],
)
def test_replicas_checked_at_plan_time(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TableSpec.model_validate(body)


def test_records_count_toward_the_tag_limit(stubbed: tuple[Engine, TableClient, Stubber]) -> None:
    """48 user tags + 2 ownership tags fill AWS's 50: the replica record would be the 51st."""
    engine, tables, _ = stubbed
    tags = {f"k{i}": "v" for i in range(48)}
    outcome = engine.reconcile(tables, REF, spec(["eu-west-1"]).model_copy(update={"tags": tags}))
    assert outcome.state is State.STALLED and outcome.reason == "TooManyTags"
    assert "awsop.io/replicas kept by awsop" in outcome.message


def test_two_replicas_removed_one_step_at_a_time_under_owned(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    desired = spec([], "Owned")
    outcomes: list[Outcome] = []

    reads(
        stub,
        table({"ap-southeast-2": "ACTIVE", "eu-west-1": "ACTIVE"}),
        record("eu-west-1", "ap-southeast-2"),
    )
    replica_update(
        stub,
        {"Delete": {"RegionName": "ap-southeast-2"}},
        table({"ap-southeast-2": "DELETING", "eu-west-1": "ACTIVE"}),
    )
    tag_record(stub, "eu-west-1")
    outcomes.append(engine.reconcile(tables, REF, desired))

    reads(stub, table({"ap-southeast-2": "DELETING", "eu-west-1": "ACTIVE"}), record("eu-west-1"))
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    reads(stub, table({"eu-west-1": "ACTIVE"}), record("eu-west-1"))
    replica_update(stub, {"Delete": {"RegionName": "eu-west-1"}}, table({"eu-west-1": "DELETING"}))
    stub.add_response("untag_resource", {}, {"ResourceArn": ARN, "TagKeys": ["awsop.io/replicas"]})
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    reads(stub, table(), OWNER)
    outcomes.append(engine.reconcile(tables, REF, desired, progress=outcomes[-1].progress))

    assert [(str(o.state), o.message) for o in outcomes] == [
        ("Progressing", "step 1 of 2: deleting replica ap-southeast-2; next: deleting replica eu-west-1"),
        (
            "Progressing",
            "waiting: replica ap-southeast-2 is DELETING (step 1 of 2: deleting replica "
            "ap-southeast-2); next: deleting replica eu-west-1",
        ),
        ("Progressing", "step 2 of 2: deleting replica eu-west-1"),
        ("Ready", "AWS matches the spec"),
    ]
    assert [o.calls for o in outcomes] == [
        [*READS, "dynamodb:UpdateTable", "dynamodb:TagResource"],
        READS,
        [*READS, "dynamodb:UpdateTable", "dynamodb:UntagResource"],  # the last one: the record goes
        READS,
    ]
