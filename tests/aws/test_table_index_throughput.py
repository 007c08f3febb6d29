"""Per-index on-demand and warm throughput: compared only when declared, written as index updates.

moto keeps an index's WarmThroughput (and reports a default one for every index) but drops an index's
OnDemandThroughput, so the on-demand path runs against botocore's Stubber with AWS-shaped responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from tablestub import stubbed_table

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "team-a", "orders", 1)
NAME = "team-a-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
TAGS = [
    {"Key": "awsop.io/kind", "Value": "Table"},
    {"Key": "awsop.io/owner", "Value": "test-cluster/team-a/orders"},
]
READS = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]


def with_index(**index: Any) -> TableSpec:
    gsi = {"name": "gsi-by-email", "partitionKey": {"name": "email", "type": "S"}, **index}
    return TableSpec.model_validate({**KEYS, "globalSecondaryIndexes": [gsi]})


@pytest.fixture
def tables(clients) -> TableClient:  # type: ignore[no-untyped-def]
    return TableClient(clients)


@pytest.fixture
def ddb(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)


def test_index_warm_throughput_set_at_create_then_noop_then_changed_as_a_step(
    engine: Engine,
    tables: TableClient,
    ddb,  # type: ignore[no-untyped-def]
) -> None:
    warm = with_index(warmThroughput={"readUnitsPerSecond": 15000, "writeUnitsPerSecond": 5000})
    created = engine.reconcile(tables, REF, warm)
    assert created.state is State.READY, created.message
    index = ddb.describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"][0]
    assert (
        index["WarmThroughput"]["ReadUnitsPerSecond"],
        index["WarmThroughput"]["WriteUnitsPerSecond"],
    ) == (
        15000,
        5000,
    )
    again = engine.reconcile(tables, REF, warm, spec_changed=False)
    assert again.reason == "UpToDate" and again.calls == READS  # zero writes

    more = with_index(warmThroughput={"readUnitsPerSecond": 20000})
    changed = engine.reconcile(tables, REF, more)
    assert changed.message == "step 1 of 1: changing warm throughput of index gsi-by-email"
    assert changed.calls == [*READS, "dynamodb:UpdateTable"]
    index = ddb.describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"][0]
    assert index["WarmThroughput"]["ReadUnitsPerSecond"] == 20000
    assert engine.reconcile(tables, REF, more, spec_changed=False).calls == READS


def test_index_warm_throughput_aws_reports_but_the_spec_leaves_out_is_not_drift(
    engine: Engine, tables: TableClient
) -> None:
    plain = with_index()  # moto reports a default WarmThroughput for the table and the index
    engine.reconcile(tables, REF, plain)
    outcome = engine.reconcile(tables, REF, plain, spec_changed=False)
    assert outcome.reason == "UpToDate" and outcome.calls == READS and not outcome.drift


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    with stubbed_table() as parts:
        yield parts


def described(index_extra: dict[str, Any], **table_extra: Any) -> dict[str, Any]:
    """DescribeTable as AWS answers for an on-demand table with one index, warm throughput on both."""
    return {
        "TableName": NAME,
        "TableArn": ARN,
        "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "email", "AttributeType": "S"},
            {"AttributeName": "pk", "AttributeType": "S"},
        ],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "WarmThroughput": {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "gsi-by-email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "IndexStatus": "ACTIVE",
                "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
                "WarmThroughput": {
                    "ReadUnitsPerSecond": 12000,
                    "WriteUnitsPerSecond": 4000,
                    "Status": "ACTIVE",
                },
                **index_extra,
            }
        ],
        **table_extra,
    }


def expect_reads(stub: Stubber, body: dict[str, Any]) -> None:
    stub.add_response("describe_table", {"Table": body}, {"TableName": NAME})
    stub.add_response("list_tags_of_resource", {"Tags": TAGS}, {"ResourceArn": ARN})


def test_index_on_demand_throughput_changed_as_an_index_update(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    engine, tables, stub = stubbed
    capped = with_index(onDemandThroughput={"maxReadRequestUnits": 100})
    expect_reads(
        stub, described({"OnDemandThroughput": {"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 9}})
    )
    stub.add_response(
        "update_table",
        {"TableDescription": described({})},
        {
            "TableName": NAME,
            "GlobalSecondaryIndexUpdates": [
                {"Update": {"IndexName": "gsi-by-email", "OnDemandThroughput": {"MaxReadRequestUnits": 100}}}
            ],
        },
    )
    outcome = engine.reconcile(tables, REF, capped)
    assert outcome.message == "step 1 of 1: changing on-demand throughput of index gsi-by-email"
    assert [c.explain() for c in outcome.plan.changes] == [
        "globalSecondaryIndexes[gsi-by-email].onDemandThroughput: {maxReadRequestUnits: 50 -> 100}"
    ]


def test_undeclared_warm_and_on_demand_throughput_in_a_response_give_zero_writes(
    stubbed: tuple[Engine, TableClient, Stubber],
) -> None:
    """unset warm throughput is never drift (upjet-aws#1976: 101,707 updates in 23 hours)"""
    engine, tables, stub = stubbed
    body = described(
        {"OnDemandThroughput": {"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 9}},
        OnDemandThroughput={"MaxReadRequestUnits": 70, "MaxWriteRequestUnits": 8},
    )
    expect_reads(stub, body)  # no update_table queued: the Stubber fails on any write
    outcome = engine.reconcile(tables, REF, with_index(), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate" and not outcome.drift
    # declared values equal to AWS's: still nothing to write, although AWS reports more than the spec
    expect_reads(stub, body)
    same = with_index(
        onDemandThroughput={"maxReadRequestUnits": 50}, warmThroughput={"readUnitsPerSecond": 12000}
    )
    assert engine.reconcile(tables, REF, same, spec_changed=False).reason == "UpToDate"


def test_index_on_demand_throughput_needs_on_demand_billing() -> None:
    with pytest.raises(ValueError, match=r"globalSecondaryIndexes\[gsi-by-email\]: onDemandThroughput"):
        TableSpec.model_validate(
            {
                **KEYS,
                "billingMode": "PROVISIONED",
                "readCapacity": 1,
                "writeCapacity": 1,
                "globalSecondaryIndexes": [
                    {
                        "name": "gsi-by-email",
                        "partitionKey": {"name": "email", "type": "S"},
                        "readCapacity": 1,
                        "writeCapacity": 1,
                        "onDemandThroughput": {"maxReadRequestUnits": 5},
                    }
                ],
            }
        )
