"""Application Auto Scaling of a provisioned table against moto (its own service, over HTTP).

With `autoScaling` declared, awsop registers the scalable targets and target tracking policies, and then
capacity changed by Application Auto Scaling plans nothing; removing it deregisters what awsop made and
nothing else.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "team-a", "sessions", 1)
NAME = "team-a-sessions"
RANGE = {"min": 5, "max": 50, "targetUtilization": 70}
READS = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]
SCALING_READS = [
    *READS,
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
]
REGISTER = ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"]


def spec(table: dict[str, Any] | None = None, index: dict[str, Any] | None = None) -> TableSpec:
    gsi: dict[str, Any] = {
        "name": "gsi-by-user",
        "partitionKey": {"name": "userId", "type": "S"},
        "readCapacity": 5,
        "writeCapacity": 5,
    }
    if index is not None:
        gsi["autoScaling"] = index
    body: dict[str, Any] = {
        "partitionKey": {"name": "sessionId", "type": "S"},
        "billingMode": "PROVISIONED",
        "readCapacity": 5,
        "writeCapacity": 5,
        "globalSecondaryIndexes": [gsi],
    }
    if table is not None:
        body["autoScaling"] = table
    return TableSpec.model_validate(body)


@pytest.fixture
def tables(clients) -> TableClient:  # type: ignore[no-untyped-def]
    return TableClient(clients)


@pytest.fixture
def ddb(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)


@pytest.fixture
def scaling(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("application-autoscaling", region_name="us-east-1", endpoint_url=aws.url)


def targets(scaling: Any) -> dict[tuple[str, str], tuple[int, int]]:
    found = scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    return {(t["ResourceId"], t["ScalableDimension"]): (t["MinCapacity"], t["MaxCapacity"]) for t in found}


def tags(ddb: Any) -> dict[str, str]:
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    return {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def test_table_auto_scaling_registered_at_create_then_capacity_is_aws_s(
    engine: Engine, tables: TableClient, ddb: Any, scaling: Any
) -> None:
    desired = spec(table={"read": RANGE, "write": RANGE}, index={"read": {"min": 5, "max": 20}})
    created = engine.reconcile(tables, REF, desired)
    assert created.state is State.READY, created.message
    assert created.calls == [
        "dynamodb:DescribeTable",
        "dynamodb:CreateTable",
        "dynamodb:TagResource",  # the record that awsop registered scaling for this table
        *REGISTER * 3,
    ]
    assert targets(scaling) == {
        (f"table/{NAME}", "dynamodb:table:ReadCapacityUnits"): (5, 50),
        (f"table/{NAME}", "dynamodb:table:WriteCapacityUnits"): (5, 50),
        (f"table/{NAME}/index/gsi-by-user", "dynamodb:index:ReadCapacityUnits"): (5, 20),
    }
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert sorted(
        (p["PolicyName"], p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]) for p in policies
    ) == [
        (f"awsop-table-{NAME}-index-gsi-by-user-read", 70.0),
        (f"awsop-table-{NAME}-read", 70.0),
        (f"awsop-table-{NAME}-write", 70.0),
    ]
    assert tags(ddb)["awsop.io/auto-scaling"] == "registered"

    noop = engine.reconcile(tables, REF, desired, spec_changed=False)
    assert noop.reason == "UpToDate" and noop.calls == SCALING_READS  # zero writes

    # Application Auto Scaling moved the capacity of the table and of the index's read dimension
    ddb.update_table(
        TableName=NAME,
        ProvisionedThroughput={"ReadCapacityUnits": 31, "WriteCapacityUnits": 17},
        GlobalSecondaryIndexUpdates=[
            {
                "Update": {
                    "IndexName": "gsi-by-user",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 12, "WriteCapacityUnits": 5},
                }
            }
        ],
    )
    moved = engine.reconcile(tables, REF, desired, spec_changed=False)
    assert moved.reason == "UpToDate" and moved.calls == SCALING_READS and not moved.drift
    assert moved.status["capacity"] == {"readCapacity": 31, "writeCapacity": 17}
    planned = engine.reconcile(tables, REF, desired, plan_only=True)
    assert planned.plan.changes == []


def test_index_write_capacity_stays_awsop_s_when_only_read_scales(
    engine: Engine, tables: TableClient, ddb: Any
) -> None:
    desired = spec(index={"read": {"min": 5, "max": 20}})
    engine.reconcile(tables, REF, desired)
    ddb.update_table(
        TableName=NAME,
        GlobalSecondaryIndexUpdates=[
            {
                "Update": {
                    "IndexName": "gsi-by-user",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 12, "WriteCapacityUnits": 9},
                }
            }
        ],
    )
    fixed = engine.reconcile(tables, REF, desired, spec_changed=False)
    assert [c.explain() for c in fixed.drift] == [
        "globalSecondaryIndexes[gsi-by-user].capacity: {writeCapacity: 9 -> 5}"
    ]
    index = ddb.describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"][0]
    # the write capacity put back, the read capacity left where the autoscaler had it
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 12
    assert index["ProvisionedThroughput"]["WriteCapacityUnits"] == 5


def test_scaling_changes_only_what_differs_and_removal_deregisters_only_awsop_s(
    engine: Engine, tables: TableClient, ddb: Any, scaling: Any
) -> None:
    engine.reconcile(tables, REF, spec(table={"read": RANGE}))
    # someone registers the write dimension by hand: not awsop's, never deregistered
    scaling.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{NAME}",
        ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=1,
        MaxCapacity=9,
    )
    wider = spec(table={"read": {**RANGE, "max": 80}})
    changed = engine.reconcile(tables, REF, wider)
    assert changed.calls == [*SCALING_READS, "application-autoscaling:RegisterScalableTarget"]
    assert [c.explain() for c in changed.plan.changes] == [
        'autoScaling: {table.read: {"max":50,"min":5,"targetUtilization":70.0} -> '
        '{"max":80,"min":5,"targetUtilization":70.0}}'
    ]

    removed = engine.reconcile(tables, REF, spec())
    assert removed.calls == [
        *SCALING_READS,  # the record tag says awsop registered something: read once more
        "application-autoscaling:DeregisterScalableTarget",
        "dynamodb:UntagResource",
    ]
    assert targets(scaling) == {(f"table/{NAME}", "dynamodb:table:WriteCapacityUnits"): (1, 9)}
    assert "awsop.io/auto-scaling" not in tags(ddb)
    after = engine.reconcile(tables, REF, spec(), spec_changed=False)
    assert after.reason == "UpToDate" and after.calls == READS  # undeclared, unrecorded: not read


def test_auto_scaling_needs_provisioned_billing_and_min_at_most_max() -> None:
    with pytest.raises(ValueError, match="autoScaling is only allowed with billingMode PROVISIONED"):
        TableSpec.model_validate(
            {"partitionKey": {"name": "pk", "type": "S"}, "autoScaling": {"read": RANGE}}
        )
    with pytest.raises(ValueError, match=r"autoScaling.read: min must not exceed max"):
        spec(table={"read": {"min": 9, "max": 3}})
