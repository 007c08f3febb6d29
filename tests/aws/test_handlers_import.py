"""The kopf adapter for a create AWS runs on its own (a table imported from S3): the import's ARN is kept in
status.pendingCreate while it runs, handed back to the engine on the next reconcile (no second import),
and removed once the table is Ready; a failed import stays Stalled with its record. Table against moto,
which runs ImportTable in a thread."""

from __future__ import annotations

import time
from typing import Any

import boto3
import kopf
import pytest
import test_handlers_progress as harness

from awsop.operator import handlers
from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.kinds import KINDS

pytestmark = pytest.mark.aws
runtime = harness.runtime  # the shared operator harness (a fixture: Runtime with moto, Events recorded)
RT = harness.RT
TABLE = KINDS["Table"]
SOURCE = "awsop-handlers-import"
SPEC = {
    "partitionKey": {"name": "pk", "type": "S"},
    "importFrom": {"bucket": {"name": SOURCE}, "inputFormat": "DYNAMODB_JSON"},
}


def run(status: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """One reconcile of generation 1; the status after kopf's patch and how the handler ended."""
    obj = {
        "apiVersion": "dynamodb.awsop.io/v1alpha1",
        "kind": "Table",
        "metadata": {"name": "t", "namespace": "ns", "uid": "uid-t", "generation": 1, "annotations": {}},
        "spec": SPEC,
        "status": status,
    }
    written: harness.Writes = RT["current"].write  # type: ignore[assignment]
    before = len(written)
    ended = "done"
    try:
        handlers.reconcile(
            TABLE,
            RT["current"],
            body=obj,
            meta=obj["metadata"],
            spec=SPEC,
            status=status,
            patch=kopf.Patch(),
            retry=0,
        )
    except kopf.TemporaryError:
        ended = "temporary"
    except kopf.PermanentError:
        ended = "permanent"
    merged = dict(status)
    for body in written[before:]:
        merged.update(body.get("status", {}))
    return {k: v for k, v in merged.items() if v is not None}, ended


def finished(aws: EmbeddedAws, token: str) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)
    for _ in range(100):
        if ddb.describe_import(ImportArn=token)["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS":
            return
        time.sleep(0.05)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_import_arn_kept_in_status_followed_then_removed_once_ready(
    runtime: list[tuple[str, str, str]], aws: EmbeddedAws, s3: Any
) -> None:
    s3.create_bucket(Bucket=SOURCE)
    status, ended = run({})
    assert ended == "temporary"
    record = status["pendingCreate"]
    assert ":table/ns-t/import/" in record["token"] and record["fingerprint"]
    assert conditions(status)["Reconciling"] == ("True", "CreateStarted")
    assert status["import"]["arn"] == record["token"]
    finished(aws, record["token"])

    calls_before = len(RT["current"].engine.clients.log.calls)
    status, ended = run(status)
    calls = RT["current"].engine.clients.log.calls[calls_before:]
    assert calls[0] == "dynamodb:DescribeImport" and "dynamodb:ImportTable" not in calls
    assert ended == "done"
    assert "pendingCreate" not in status
    assert conditions(status)["Ready"] == ("True", "Created")
    assert [r for _, r, _ in runtime] == ["CreateStarted", "Created"]


def test_failed_import_keeps_its_record_and_stays_stalled(
    runtime: list[tuple[str, str, str]], aws: EmbeddedAws
) -> None:
    status, _ = run({})  # no such bucket: moto fails the import
    finished(aws, status["pendingCreate"]["token"])
    status, ended = run(status)
    assert ended == "permanent"
    assert conditions(status)["Stalled"] == ("True", "ImportFailed")
    assert "S3NoSuchBucket" in {c["type"]: c for c in status["conditions"]}["Stalled"]["message"]
    record = status["pendingCreate"]
    status, ended = run(status)  # a retry of the same generation: still the same import, never a new one
    assert (ended, status["pendingCreate"]) == ("permanent", record)
