"""A table created by importing it from S3 (`importFrom`), against moto's server over HTTP.

moto 5.2.5 implements ImportTable and DescribeImport (DYNAMODB_JSON, GZIP or none; the import runs in a
thread and fails with S3NoSuchBucket for a missing bucket) but no ListImports and no tags: exactly the seam
the engine's record of a started create exists for. The states moto passes too fast to see (IN_PROGRESS,
CANCELLED) are in test_table_import_stubbed.py.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, StartedCreate, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.table import TableClient, TableSpec
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REF = ObjectRef("Table", "shop", "orders", 1)
NAME = "shop-orders"
SOURCE = "awsop-import-source"
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
READS = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"]


def spec(**fields: Any) -> TableSpec:
    source = {"bucket": {"name": SOURCE}, "keyPrefix": "orders/", "inputFormat": "DYNAMODB_JSON"}
    return TableSpec.model_validate({**KEYS, "importFrom": source, **fields})


@pytest.fixture
def tables(clients) -> TableClient:  # type: ignore[no-untyped-def]
    return TableClient(clients)


@pytest.fixture
def ddb(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)


def put_items(s3: Any, count: int, compressed: bool = False) -> None:
    s3.create_bucket(Bucket=SOURCE)
    lines = "\n".join(json.dumps({"Item": {"pk": {"S": f"order-{i}"}}}) for i in range(count))
    body = gzip.compress(lines.encode()) if compressed else lines.encode()
    s3.put_object(Bucket=SOURCE, Key="orders/part-0.json" + (".gz" if compressed else ""), Body=body)


def settled(ddb: Any, outcome: Outcome) -> str:
    """Wait for moto's import thread; the import's final status."""
    assert outcome.started_create is not None
    for _ in range(100):
        status = ddb.describe_import(ImportArn=outcome.started_create.token)["ImportTableDescription"]
        if status["ImportStatus"] != "IN_PROGRESS":
            return str(status["ImportStatus"])
        time.sleep(0.05)
    raise AssertionError("moto's import never finished")


def test_table_imported_from_s3_is_tagged_once_completed_then_ready_and_quiet(
    engine: Engine, tables: TableClient, ddb: Any, s3: Any
) -> None:
    put_items(s3, 3, compressed=True)
    desired = spec(
        importFrom={
            "bucket": {"name": SOURCE},
            "keyPrefix": "orders/",
            "inputFormat": "DYNAMODB_JSON",
            "inputCompressionType": "GZIP",
        },
        tags={"team": "shop"},
        pointInTimeRecovery={"enabled": True},
    )

    started = engine.reconcile(tables, REF, desired)
    assert started.calls == ["dynamodb:DescribeTable", "dynamodb:ImportTable"]
    assert (started.state, started.reason) == (State.PROGRESSING, "CreateStarted")
    assert started.started_create is not None and ":table/shop-orders/import/" in started.started_create.token
    assert started.status["import"]["arn"] == started.started_create.token
    assert [e.reason for e in started.events] == ["CreateStarted"]
    assert settled(ddb, started) == "COMPLETED"

    done = engine.reconcile(tables, REF, desired, started_create=started.started_create)
    assert done.calls == [
        "dynamodb:DescribeImport",
        # the import made the table without tags: the ownership tags go on, read back
        *READS,
        "dynamodb:TagResource",
        *READS,
        # then the ordinary loop: full read, and what ImportTable could not take
        *READS,
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups",
    ], done.message
    assert (done.state, done.reason) == (State.READY, "Updated")
    assert [e.reason for e in done.events][:1] == ["Created"]
    assert done.started_create is None  # nothing left to follow: the caller forgets the record
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=done.status["arn"])["Tags"]}
    assert tags[OWNER_TAG] == "test-cluster/shop/orders" and tags["team"] == "shop"
    assert ddb.scan(TableName=NAME, Select="COUNT")["Count"] == 3

    quiet = engine.reconcile(tables, REF, desired, spec_changed=False)
    assert quiet.calls == [*READS, "dynamodb:DescribeContinuousBackups"]  # importFrom is never read
    assert (quiet.state, quiet.reason) == (State.READY, "UpToDate")


def test_existing_table_is_never_imported_into(engine: Engine, tables: TableClient, s3: Any) -> None:
    put_items(s3, 1)
    plain = TableSpec.model_validate(KEYS)
    assert engine.reconcile(tables, REF, plain).reason == "Created"  # CreateTable, with the tags
    outcome = engine.reconcile(tables, REF, spec(), spec_changed=False)
    assert outcome.calls == READS
    assert (outcome.state, outcome.started_create) == (State.READY, None)


def test_failed_import_is_stalled_with_aws_message_and_never_started_again(
    engine: Engine, tables: TableClient, ddb: Any
) -> None:
    desired = spec()  # the source bucket does not exist: moto fails the import (S3NoSuchBucket)
    started = engine.reconcile(tables, REF, desired)
    assert settled(ddb, started) == "FAILED"
    record = started.started_create

    for _ in range(2):  # every later reconcile of this spec: one read, no new import
        failed = engine.reconcile(tables, REF, desired, started_create=record)
        assert failed.calls == ["dynamodb:DescribeImport"]
        assert (failed.state, failed.reason, failed.error_class) == (
            State.STALLED,
            "ImportFailed",
            ErrorClass.TERMINAL,
        )
        assert "S3NoSuchBucket: The specified bucket does not exist" in failed.message
        assert failed.started_create == record  # kept: the next reconcile must not import again
        assert failed.status["import"]["failureCode"] == "S3NoSuchBucket"

    # a changed spec is a new attempt: the failed import is forgotten and a new one starts
    changed = spec(tags={"retry": "1"})
    again = engine.reconcile(tables, REF, changed, started_create=record)
    assert again.calls == ["dynamodb:DescribeImport", "dynamodb:DescribeTable", "dynamodb:ImportTable"]
    assert again.state is State.PROGRESSING
    assert again.started_create is not None and again.started_create.token != record.token  # type: ignore[union-attr]


def test_import_bucket_by_reference_waits_for_the_bucket_then_reads_its_name(
    engine: Engine, tables: TableClient, s3: Any, ddb: Any
) -> None:
    put_items(s3, 2)
    desired = spec(importFrom={"bucket": {"ref": {"name": "source"}}, "inputFormat": "DYNAMODB_JSON"})
    waiting = engine.reconcile(tables, REF, desired)
    assert (waiting.state, waiting.reason, waiting.calls) == (State.WAITING, "DependencyNotReady", [])

    found = Resolution("Bucket", "source", ready=True, values={"arn": f"arn:aws:s3:::{SOURCE}"})
    context = ReconcileContext(references={("Bucket", "source"): found})
    started = engine.reconcile(tables, REF, desired, context=context)
    assert started.state is State.PROGRESSING
    assert settled(ddb, started) == "COMPLETED"
    description = ddb.describe_import(ImportArn=started.started_create.token)["ImportTableDescription"]  # type: ignore[union-attr]
    assert description["ImportedItemCount"] == 2  # the referenced Bucket's objects were read


def test_import_plan_names_import_table_and_what_follows(engine: Engine, tables: TableClient) -> None:
    desired = spec(
        stream={"viewType": "NEW_IMAGE"},
        deletionProtection=True,
        timeToLive={"attributeName": "expiresAt"},
    )
    planned = engine.reconcile(tables, REF, desired, plan_only=True)
    assert planned.calls == ["dynamodb:DescribeTable"]
    assert planned.plan.calls() == [
        "dynamodb:ImportTable",
        "dynamodb:TagResource",
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTimeToLive",
    ]
    assert "imported from s3://awsop-import-source/orders/" in "\n".join(planned.plan.render())


def test_import_then_stream_and_protection_are_steps_after_it(
    engine: Engine, tables: TableClient, ddb: Any, s3: Any
) -> None:
    put_items(s3, 1)
    desired = spec(stream={"viewType": "NEW_IMAGE"}, deletionProtection=True)
    started = engine.reconcile(tables, REF, desired)
    settled(ddb, started)
    done = engine.reconcile(tables, REF, desired, started_create=started.started_create)
    assert (done.state, done.reason) == (State.PROGRESSING, "ApplyingStep")  # the stream first
    assert done.calls.count("dynamodb:UpdateTable") == 1
    second = engine.reconcile(tables, REF, desired, progress=done.progress)
    assert (second.state, second.progress.step, second.progress.steps) == (State.PROGRESSING, 2, 2)  # type: ignore[union-attr]
    last = engine.reconcile(tables, REF, desired, progress=second.progress)
    assert (last.state, last.calls) == (State.READY, READS)
    table = ddb.describe_table(TableName=NAME)["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert table["DeletionProtectionEnabled"] is True


def test_started_create_record_round_trips() -> None:
    record = StartedCreate("arn:aws:dynamodb:us-east-1:1:table/t/import/1", "abc", "2026-01-01T00:00:00Z")
    assert StartedCreate.from_record(record.as_record()) == record
    assert StartedCreate.from_record({"token": "x"}) is None
    assert StartedCreate.from_record(None) is None
