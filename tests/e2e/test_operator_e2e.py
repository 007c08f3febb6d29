"""The real operator and the real kubectl against a Kubernetes API, with AWS emulated by moto.

Everything a user does goes through kubectl; everything awsop does is checked in AWS and in the object's
status and Events.
"""

from __future__ import annotations

import re
import textwrap
import time
from typing import Any

import pytest
from e2elib import REPO, Kubectl, Operator, eventually

APP = "default-app-data"
LOGS = "awsop-example-access-logs"
WEB = "awsop-example-web-assets"


def tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        return {}


def buckets(s3: Any) -> list[str]:
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


def bucket_manifest(name: str, namespace: str = "e2e", spec: str = "{}", annotations: str = "") -> str:
    meta_annotations = f"\n  annotations:\n{textwrap.indent(annotations, '    ')}" if annotations else ""
    return (
        f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: {name}\n  namespace: {namespace}"
        f"{meta_annotations}\nspec:\n{textwrap.indent(spec, '  ')}\n"
    )


@pytest.fixture(scope="module")
def examples(kubectl: Kubectl, operator: Operator) -> Kubectl:
    kubectl.run("apply", "-f", str(REPO / "examples"))
    try:
        kubectl.run("wait", "--for=condition=Ready", "buckets", "--all", "-n", "default", "--timeout=90s")
        # the example TagPolicy covers every namespace: it judged the examples (they comply)
        for name in ("app-data", "access-logs", "web-assets"):
            eventually(
                lambda n=name: (
                    (kubectl.condition("bucket", n, "default", "TagPolicyCompliant") or {}).get("status")
                    == "True"
                ),
                what=f"{name} complies with the example TagPolicy",
            )
    finally:
        # it goes before the other tests create objects without the organisation's tags
        kubectl.run("delete", "-f", str(REPO / "examples" / "tag-policy.yaml"), "--ignore-not-found")
    return kubectl


def test_examples_become_ready_and_exist_in_aws(examples: Kubectl, s3: Any) -> None:
    listed = examples.run("get", "aws", "-n", "default").stdout
    for name in ("app-data", "access-logs", "web-assets"):
        assert name in listed
    assert listed.count("True") >= 3
    for bucket, obj in ((APP, "app-data"), (LOGS, "access-logs"), (WEB, "web-assets")):
        assert tags(s3, bucket)["awsop.io/owner"] == f"e2e/default/{obj}"
    status = examples.get("bucket", "web-assets", "-n", "default")["status"]
    assert status["awsName"] == WEB and status["arn"] == f"arn:aws:s3:::{WEB}"
    assert s3.get_bucket_logging(Bucket=WEB)["LoggingEnabled"]["TargetBucket"] == LOGS
    assert ("Created", f"created {APP} in us-east-1") in examples.events("default", "app-data")


def test_queue_examples_converge_in_one_apply_whatever_the_file_order(
    examples: Kubectl, e2e_aws: Any
) -> None:
    """examples/queue-orders.yaml lists the source before its dead-letter queue: one apply converges."""
    examples.run("wait", "--for=condition=Ready", "queues", "--all", "-n", "default", "--timeout=90s")
    orders = examples.get("queue", "orders", "-n", "default")["status"]
    dlq = examples.get("queue", "orders-dlq", "-n", "default")["status"]
    assert (
        orders["deadLetterQueueArn"] == dlq["arn"] == "arn:aws:sqs:us-east-1:123456789012:default-orders-dlq"
    )
    fifo = examples.get("queue", "payments", "-n", "default")["status"]
    assert fifo["awsName"] == "default-payments.fifo" and fifo["deadLetterQueueArn"].endswith(
        "payments-dlq.fifo"
    )


def test_spec_edit_reaches_aws(examples: Kubectl, s3: Any) -> None:
    examples.run(
        "patch",
        "bucket",
        "app-data",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        '{"spec":{"tags":{"team":"platform-risk"}}}',
    )
    eventually(lambda: tags(s3, APP).get("team") == "platform-risk", what="tag change in AWS")
    ready = eventually(lambda: examples.condition("bucket", "app-data", "default", "Ready"), what="Ready")
    assert ready["status"] == "True"
    obj = examples.get("bucket", "app-data", "-n", "default")
    eventually(
        lambda: (
            examples.get("bucket", "app-data", "-n", "default")["status"]["observedGeneration"]
            == obj["metadata"]["generation"]
        ),
        what="observedGeneration",
    )


def test_out_of_band_change_is_corrected(examples: Kubectl, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=APP, VersioningConfiguration={"Status": "Suspended"})
    eventually(lambda: s3.get_bucket_versioning(Bucket=APP)["Status"] == "Enabled", what="drift corrected")
    events = eventually(
        lambda: [e for e in examples.events("default", "app-data") if e[0] == "DriftCorrected"], what="Event"
    )
    assert "versioning: Suspended -> Enabled" in events[0][1]


def test_out_of_band_change_only_reported_under_report_policy(examples: Kubectl, s3: Any) -> None:
    s3.put_bucket_cors(
        Bucket=WEB, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]}
    )
    # the example checks every 10 minutes: ask for a reconcile now
    examples.run("annotate", "bucket", "web-assets", "-n", "default", "awsop.io/reconcile-requested-at=t1")
    drifted = eventually(
        lambda: (
            (c := examples.condition("bucket", "web-assets", "default", "Drifted"))
            and c["status"] == "True"
            and c
        ),
        what="Drifted=True",
    )
    assert "cors" in drifted["message"]
    status = examples.get("bucket", "web-assets", "-n", "default")["status"]
    assert [d["path"] for d in status["drift"]] == ["cors"]
    assert examples.condition("bucket", "web-assets", "default", "Ready")["reason"] == "Drifted"  # type: ignore[index]
    time.sleep(3)  # more than one resync period: still not corrected
    assert s3.get_bucket_cors(Bucket=WEB)["CORSRules"][0]["AllowedMethods"] == ["PUT"]
    examples.run(
        "apply", "-f", str(REPO / "examples" / "bucket-website-assets.yaml")
    )  # unchanged spec: no-op


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(
            bucket_manifest("bad", spec="name: Not_Valid"),
            ["spec.name", "should match"],
            id="bad-bucket-name",
        ),
        pytest.param(
            bucket_manifest("bad", spec="name: xn--punycode"),
            ["spec.name", "must not start with xn--"],
            id="xn-prefix",
        ),
        pytest.param(
            bucket_manifest("bad", spec="versioning: Disabled"),
            ["spec.versioning", "Unsupported value"],
            id="enum",
        ),
        pytest.param(
            bucket_manifest("bad", spec="deletionPolicy: Destroy"), ["spec.deletionPolicy"], id="policy-enum"
        ),
    ],
)
def test_invalid_manifest_rejected_by_kubectl_with_field_and_reason(
    kubectl: Kubectl, manifest: str, expected: list[str]
) -> None:
    proc = kubectl.apply(manifest, check=False)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.stderr, proc.stderr


def test_immutable_field_change_rejected(kubectl: Kubectl, operator: Operator) -> None:
    kubectl.apply(bucket_manifest("fixed-name", spec="name: awsop-e2e-fixed-name"))
    proc = kubectl.apply(bucket_manifest("fixed-name", spec="name: awsop-e2e-other-name"), check=False)
    assert proc.returncode != 0 and "name is immutable" in proc.stderr, proc.stderr
    proc = kubectl.apply(
        bucket_manifest("fixed-name", spec="region: eu-west-1\nname: awsop-e2e-fixed-name"), check=False
    )
    assert proc.returncode != 0 and "region is immutable" in proc.stderr, proc.stderr
    kubectl.run("delete", "bucket", "fixed-name", "-n", "e2e", "--wait=true", "--timeout=60s")


def test_pause_stops_aws_calls_and_reconcile_now_annotation(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    kubectl.apply(
        bucket_manifest("pausable", spec="versioning: Enabled", annotations="awsop.io/resync-period: 1h")
    )
    kubectl.run("wait", "--for=condition=Ready", "bucket/pausable", "-n", "e2e", "--timeout=60s")
    kubectl.run("annotate", "bucket", "pausable", "-n", "e2e", "awsop.io/paused=true")
    eventually(
        lambda: kubectl.condition("bucket", "pausable", "e2e", "Synced")["reason"] == "Paused", what="Paused"
    )  # type: ignore[index]
    s3.put_bucket_versioning(Bucket="e2e-pausable", VersioningConfiguration={"Status": "Suspended"})
    kubectl.run(
        "annotate", "bucket", "pausable", "-n", "e2e", "--overwrite", "awsop.io/reconcile-requested-at=1"
    )
    time.sleep(3)
    assert s3.get_bucket_versioning(Bucket="e2e-pausable")["Status"] == "Suspended", (
        "paused objects are left alone"
    )
    kubectl.run("annotate", "bucket", "pausable", "-n", "e2e", "awsop.io/paused-")
    # the resync period is an hour: only the reconcile-now annotation (or the unpause edit) brings it back
    kubectl.run(
        "annotate", "bucket", "pausable", "-n", "e2e", "--overwrite", "awsop.io/reconcile-requested-at=2"
    )
    eventually(
        lambda: s3.get_bucket_versioning(Bucket="e2e-pausable")["Status"] == "Enabled", what="reconcile now"
    )
    kubectl.run("delete", "bucket", "pausable", "-n", "e2e", "--timeout=60s")


def test_invalid_spec_from_api_without_schema_is_stalled(kubectl: Kubectl, operator: Operator) -> None:
    """A conflict AWS reports (bucket exists, not ours) is terminal: Stalled with the reason, and an Event."""
    kubectl.apply(bucket_manifest("taken", spec=f"name: {APP}"))
    stalled = eventually(
        lambda: (c := kubectl.condition("bucket", "taken", "e2e", "Stalled")) and c["status"] == "True" and c,
        what="Stalled",
    )
    assert stalled["reason"] == "OwnedByAnother" and "e2e/default/app-data" in stalled["message"]
    assert any(reason == "OwnedByAnother" for reason, _ in kubectl.events("e2e", "taken"))
    kubectl.run("delete", "bucket", "taken", "-n", "e2e", "--timeout=60s")


def test_delete_honours_retain_and_delete(examples: Kubectl, s3: Any) -> None:
    s3.put_object(Bucket=LOGS, Key="some-log", Body=b"x")
    examples.run("delete", "-f", str(REPO / "examples"), "--ignore-not-found", "--timeout=150s", timeout=180)
    assert examples.get("buckets", "-n", "default")["items"] == []
    remaining = buckets(s3)
    assert APP in remaining and "awsop.io/owner" not in tags(s3, APP), (
        "Retain keeps the bucket, releases ownership"
    )
    assert WEB in remaining and "awsop.io/owner" not in tags(s3, WEB), "Retain is the default for buckets"
    assert LOGS not in remaining, "emptyOnDelete removed its objects, then the bucket"


def test_nonempty_bucket_without_empty_on_delete_keeps_finalizer(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    kubectl.apply(bucket_manifest("full", spec="deletionPolicy: Delete"))
    kubectl.run("wait", "--for=condition=Ready", "bucket/full", "-n", "e2e", "--timeout=60s")
    s3.put_object(Bucket="e2e-full", Key="precious", Body=b"data")
    kubectl.run("delete", "bucket", "full", "-n", "e2e", "--wait=false")
    stalled = eventually(
        lambda: (c := kubectl.condition("bucket", "full", "e2e", "Stalled")) and c["status"] == "True" and c,
        what="delete blocked",
    )
    assert stalled["reason"] == "BucketNotEmpty" and "emptyOnDelete" in stalled["message"]
    assert s3.get_object(Bucket="e2e-full", Key="precious")["Body"].read() == b"data"
    kubectl.run(
        "patch", "bucket", "full", "-n", "e2e", "--type", "merge", "-p", '{"spec":{"emptyOnDelete":true}}'
    )
    eventually(
        lambda: kubectl.run("get", "bucket", "full", "-n", "e2e", check=False).returncode != 0,
        timeout=90,
        what="gone",
    )
    assert "e2e-full" not in buckets(s3)


def test_metrics_endpoint_reports_reconciles_and_aws_calls(operator: Operator, examples: Kubectl) -> None:
    text = operator.metrics()
    # the series exists at 0 from startup: the count itself says reconciles happened
    success = re.search(r'^awsop_reconcile_total\{kind="Bucket",result="success"\} (\S+)$', text, re.M)
    assert success and float(success.group(1)) > 0, text
    assert 'awsop_aws_calls_total{operation="CreateBucket",outcome="ok",service="s3"}' in text
    assert "awsop_resources{" in text
