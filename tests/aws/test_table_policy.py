"""The table's resource-based policy against moto: read only when declared, compared as data."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "team-a", "orders", 1)
NAME = "team-a-orders"
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
READS = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy"]
POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
            "Action": ["dynamodb:Query", "dynamodb:GetItem"],
            "Resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}",
        }
    ],
}


def spec(policy: str | None) -> TableSpec:
    return TableSpec.model_validate({**KEYS, **({} if policy is None else {"resourcePolicy": policy})})


@pytest.fixture
def tables(clients) -> TableClient:  # type: ignore[no-untyped-def]
    return TableClient(clients)


@pytest.fixture
def ddb(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)


def stored(ddb: Any, arn: str) -> Any:
    return json.loads(ddb.get_resource_policy(ResourceArn=arn)["Policy"])


def test_table_resource_policy_created_checked_reformatted_corrected_removed(
    engine: Engine, tables: TableClient, ddb: Any
) -> None:
    declared = spec(json.dumps(POLICY, indent=2))
    created = engine.reconcile(tables, REF, declared)
    assert created.state is State.READY, created.message
    assert created.calls == ["dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:PutResourcePolicy"]
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    assert stored(ddb, arn) == POLICY

    # the same document written another way (key order, one-element list as a scalar): no drift
    statement = {**POLICY["Statement"][0], "Action": ["dynamodb:GetItem", "dynamodb:Query"]}
    reordered = {"Statement": statement, "Version": "2012-10-17"}
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(reordered))
    check = engine.reconcile(tables, REF, declared, spec_changed=False)
    assert check.reason == "UpToDate" and check.calls == READS  # one read for the facet, zero writes

    changed = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Action": "dynamodb:*"}]}
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(changed))
    fixed = engine.reconcile(tables, REF, declared, spec_changed=False)
    assert fixed.reason == "DriftCorrected"
    assert [c.path for c in fixed.drift] == ["resourcePolicy"]
    assert fixed.calls == [*READS, "dynamodb:PutResourcePolicy"]
    assert stored(ddb, arn) == POLICY

    removed = engine.reconcile(tables, REF, spec(""))
    assert removed.calls == [*READS, "dynamodb:DeleteResourcePolicy"]
    assert engine.reconcile(tables, REF, spec(""), spec_changed=False).calls == READS
    with pytest.raises(ddb.exceptions.ClientError, match="PolicyNotFound"):
        ddb.get_resource_policy(ResourceArn=arn)


def test_table_resource_policy_left_out_is_neither_read_nor_removed(
    engine: Engine, tables: TableClient, ddb: Any
) -> None:
    engine.reconcile(tables, REF, spec(json.dumps(POLICY)))
    outcome = engine.reconcile(tables, REF, spec(None))
    assert outcome.reason == "UpToDate"
    assert outcome.calls == ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]
    arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    assert stored(ddb, arn) == POLICY


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "policy is not valid JSON"), ('{"Version": "2012-10-17"}', "with a Statement")],
    ids=["not-json", "no-statement"],
)
def test_table_resource_policy_must_be_a_policy_document(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(text)
