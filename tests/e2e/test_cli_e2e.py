"""`awsop apply` then `awsop plan` as separate processes against one external AWS endpoint: objects are
found again by name and ownership tags, never by local state; exit codes gate CI pipelines."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import boto3
from e2elib import BIN, REPO


def awsop(aws: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWSOP_", "AWS_"))}
    env.update(aws.env())
    env["AWSOP_CLUSTER_ID"] = "cli-e2e"
    return subprocess.run(
        [str(BIN / "awsop"), *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


def test_apply_then_plan_in_separate_processes_and_drift_exit_code(own_aws: Any, tmp_path: Any) -> None:
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=own_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    manifest = tmp_path / "bucket.yaml"
    manifest.write_text(
        "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {name: cli, namespace: ci}\n"
        "spec: {versioning: Enabled, encryption: {algorithm: AES256}, tags: {team: ci}}\n"
    )
    first = awsop(own_aws, "plan", "-f", str(manifest))
    assert first.returncode == 2, first.stdout + first.stderr
    applied = awsop(own_aws, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Ready" in applied.stdout and "ci-cli" in applied.stdout
    clean = awsop(own_aws, "plan", "-f", str(manifest))
    assert clean.returncode == 0, clean.stdout + clean.stderr

    s3.put_bucket_versioning(Bucket="ci-cli", VersioningConfiguration={"Status": "Suspended"})
    drifted = awsop(own_aws, "plan", "-f", str(manifest), "-o", "json")
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    plan = json.loads(drifted.stdout)
    change = plan["objects"][0]["changes"][0]
    assert (change["path"], change["actual"], change["desired"]) == ("versioning", "Suspended", "Enabled")
    assert plan["objects"][0]["calls"] == ["s3:PutBucketVersioning"]


def test_invalid_manifest_exits_1_with_the_field(own_aws: Any, tmp_path: Any) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {name: bad}\nspec: {name: xn--bad}\n"
    )
    proc = awsop(own_aws, "plan", "-f", str(manifest))
    assert proc.returncode == 1
    assert "spec.name" in proc.stderr and "xn--" in proc.stderr


def test_examples_apply_then_plan_clean(own_aws: Any) -> None:
    """The foundation issue's acceptance: apply examples/, then plan examples/ exits 0."""
    applied = awsop(own_aws, "apply", "-f", "examples/")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    plan = awsop(own_aws, "plan", "-f", "examples/")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_queue_out_of_band_attribute_change_makes_plan_exit_2_naming_the_field(own_aws: Any) -> None:
    """After an apply, an out-of-band SetQueueAttributes makes the plan exit 2 naming the field."""
    applied = awsop(own_aws, "apply", "-f", "examples/")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=own_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    url = sqs.get_queue_url(QueueName="default-orders")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "0"})
    drifted = awsop(own_aws, "plan", "-f", "examples/", "-o", "json")
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    (orders,) = [o for o in json.loads(drifted.stdout)["objects"] if o["action"] != "none"]
    assert orders["name"] == "orders"
    assert [(c["path"], c["actual"], c["desired"]) for c in orders["changes"]] == [
        ("receiveMessageWaitTimeSeconds", "0", "20")
    ]
    assert orders["calls"] == ["sqs:SetQueueAttributes"]
    fixed = awsop(own_aws, "apply", "-f", "examples/")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert awsop(own_aws, "plan", "-f", "examples/").returncode == 0
