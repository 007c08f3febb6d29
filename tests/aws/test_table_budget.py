"""The no-op drift check of a table that declares every facet family: the exact reads, and zero writes
although AWS answers with more than the spec says (warm throughput on the table, its index and its replica,
a reformatted policy, capacity moved by Application Auto Scaling). moto lacks replicas, the Kinesis
destination and Contributor Insights, so this runs against botocore's Stubber (any unqueued call fails)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 3)
NAME = "shop-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-changes"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": ["dynamodb:DeleteTable"], "Resource": ARN}],
}
SCALING = {"min": 5, "max": 50, "targetUtilization": 70}
SPEC = {
    "partitionKey": {"name": "pk", "type": "S"},
    "billingMode": "PROVISIONED",
    "readCapacity": 5,
    "writeCapacity": 5,
    "autoScaling": {"read": SCALING, "write": SCALING},
    "globalSecondaryIndexes": [
        {
            "name": "gsi-by-email",
            "partitionKey": {"name": "email", "type": "S"},
            "readCapacity": 5,
            "writeCapacity": 5,
            "warmThroughput": {"readUnitsPerSecond": 12000},
        }
    ],
    "stream": {"viewType": "NEW_AND_OLD_IMAGES"},
    "kinesisStreamingDestination": {"streamArn": STREAM_ARN},
    "replicas": [{"region": "eu-west-1"}],
    "timeToLive": {"attributeName": "expiresAt"},
    "pointInTimeRecovery": {"enabled": True},
    "resourcePolicy": json.dumps(POLICY),
    "deletionProtection": True,
    # used at create only: an existing table's check never reads an import
    "importFrom": {"bucket": {"name": "shop-exports"}, "inputFormat": "DYNAMODB_JSON"},
    "tags": {"team": "shop"},
}
WARM = {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"}
TABLE: dict[str, Any] = {
    "TableName": NAME,
    "TableArn": ARN,
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "email", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
    ],
    "BillingModeSummary": {"BillingMode": "PROVISIONED"},
    "ProvisionedThroughput": {"ReadCapacityUnits": 37, "WriteCapacityUnits": 11},  # moved by the scaler
    "CreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
    "DeletionProtectionEnabled": True,
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    "LatestStreamArn": f"{ARN}/stream/2026-01-01T00:00:00.000",
    "WarmThroughput": WARM,
    "GlobalTableVersion": "2019.11.21",
    "Replicas": [{"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE", "WarmThroughput": WARM}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi-by-email",
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "WarmThroughput": WARM,
        }
    ],
}
TAGS = [
    {"Key": "awsop.io/kind", "Value": "Table"},
    {"Key": "awsop.io/owner", "Value": "test-cluster/shop/orders"},
    {"Key": "awsop.io/replicas", "Value": "eu-west-1"},
    {"Key": "awsop.io/auto-scaling", "Value": "registered"},
    {"Key": "team", "Value": "shop"},
]


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, TableClient, Stubber, Stubber]]:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1), session=session
    )
    ddb = Stubber(clients.client("dynamodb").raw)
    scaling = Stubber(clients.client("application-autoscaling").raw)
    with ddb, scaling:
        yield Engine(clients, EngineConfig(cluster_id="test-cluster")), TableClient(clients), ddb, scaling
        ddb.assert_no_pending_responses()
        scaling.assert_no_pending_responses()


def test_every_facet_declared_noop_check_reads_and_writes_nothing(
    stubbed: tuple[Engine, TableClient, Stubber, Stubber],
) -> None:
    engine, tables, ddb, scaling = stubbed
    ddb.add_response("describe_table", {"Table": TABLE}, {"TableName": NAME})
    ddb.add_response("list_tags_of_resource", {"Tags": TAGS}, {"ResourceArn": ARN})
    ddb.add_response(
        "describe_time_to_live",
        {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}},
        {"TableName": NAME},
    )
    ddb.add_response(
        "describe_continuous_backups",
        {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {
                    "PointInTimeRecoveryStatus": "ENABLED",
                    "RecoveryPeriodInDays": 35,
                },
            }
        },
        {"TableName": NAME},
    )
    reformatted = json.dumps(
        {"Statement": {**POLICY["Statement"][0], "Action": "dynamodb:DeleteTable"}, "Version": "2012-10-17"}
    )
    ddb.add_response("get_resource_policy", {"Policy": reformatted, "RevisionId": "1"}, {"ResourceArn": ARN})
    resources = [f"table/{NAME}", f"table/{NAME}/index/gsi-by-email"]
    scaling.add_response(
        "describe_scalable_targets",
        {
            "ScalableTargets": [
                {
                    "ServiceNamespace": "dynamodb",
                    "ResourceId": f"table/{NAME}",
                    "ScalableDimension": f"dynamodb:table:{unit}CapacityUnits",
                    "MinCapacity": 5,
                    "MaxCapacity": 50,
                    "RoleARN": "arn:aws:iam::123456789012:role/aws-service-role/x",
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                }
                for unit in ("Read", "Write")
            ]
        },
        {"ServiceNamespace": "dynamodb", "ResourceIds": resources},
    )
    names = sorted(f"awsop-{r.replace('/', '-')}-{d}" for r in resources for d in ("read", "write"))
    scaling.add_response(
        "describe_scaling_policies",
        {
            "ScalingPolicies": [
                {
                    "PolicyARN": f"arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:{d}",
                    "PolicyName": f"awsop-table-{NAME}-{d}",
                    "ServiceNamespace": "dynamodb",
                    "ResourceId": f"table/{NAME}",
                    "ScalableDimension": f"dynamodb:table:{u}CapacityUnits",
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": 70.0,
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": f"DynamoDB{u}CapacityUtilization"
                        },
                    },
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                }
                for d, u in (("read", "Read"), ("write", "Write"))
            ]
        },
        {"ServiceNamespace": "dynamodb", "PolicyNames": names},
    )
    ddb.add_response(
        "describe_kinesis_streaming_destination",
        {
            "TableName": NAME,
            "KinesisDataStreamDestinations": [{"StreamArn": STREAM_ARN, "DestinationStatus": "ACTIVE"}],
        },
        {"TableName": NAME},
    )
    outcome = engine.reconcile(tables, REF, TableSpec.model_validate(SPEC), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
    assert not outcome.drift
    assert outcome.calls == [
        "dynamodb:DescribeTable",  # keys, billing, capacity, indexes, stream, replicas, warm throughput, ...
        "dynamodb:ListTagsOfResource",  # tags, and awsop's records (replicas, auto scaling)
        "dynamodb:DescribeTimeToLive",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:GetResourcePolicy",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "dynamodb:DescribeKinesisStreamingDestination",
    ]
