"""A Table engine and client whose DynamoDB calls go to botocore's Stubber (AWS-shaped answers), for the
seams moto 5.2.5 lacks or makes instant (table states, replicas, Kinesis, per-index throughput)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.stub import Stubber

from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.table import TableClient


@contextmanager
def stubbed_table() -> Iterator[tuple[Engine, TableClient, Stubber]]:
    """(engine, client, stubber); every answer queued on the stubber must have been used at the end."""
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1), session=session
    )
    stub = Stubber(clients.client("dynamodb").raw)
    with stub:
        yield Engine(clients, EngineConfig(cluster_id="test-cluster")), TableClient(clients), stub
        stub.assert_no_pending_responses()
