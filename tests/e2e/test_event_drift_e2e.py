"""Event-driven drift through the real operator on the real API server: with the periodic check 10 minutes
away, an out-of-band SetQueueAttributes and its CloudTrail event (put on moto's EventBridge, which
delivers to the operator's own queue) make the Queue Drifted within seconds, and the operator's own
writes and events for other queues cause no check. The drift scheduler, the consumer thread and the nudge
between them are the operator's own here; tests/aws/test_event_drift.py covers the rest quickly."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, Operator, eventually, operator_env

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.backends("apiserver")  # one scenario, on the judge
NS = "eventdrift"


def cloudtrail(url: str, when: float, agent: str = "console.amazonaws.com") -> dict[str, Any]:
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
        "eventTime": datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sqs.amazonaws.com",
        "eventName": "SetQueueAttributes",
        "awsRegion": "us-east-1",
        "userAgent": agent,
        "requestParameters": {"queueUrl": url, "attributes": {"VisibilityTimeout": "45"}},
        "readOnly": False,
        "recipientAccountId": "123456789012",
    }
    return {"Source": "aws.sqs", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}


def checks(op: Operator) -> float:
    """Event-driven checks finished (the latency histogram's count)."""
    for line in op.metrics().splitlines():
        if line.startswith("awsop_drift_event_check_latency_seconds_count"):
            return float(line.split()[-1])
    return 0.0


def test_out_of_band_change_is_drifted_within_seconds_through_the_operator(
    kubectl: Kubectl, backend_own_aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl.run("create", "namespace", NS, check=False)
    env = operator_env(
        kubectl.kubeconfig,
        backend_own_aws.env(),
        free_port(),
        AWSOP_RESYNC_SECONDS="600",  # the periodic check cannot be what finds the change
        AWSOP_EVENT_DRIFT="true",
        AWSOP_EVENT_DRIFT_WAIT_SECONDS="1",
    )
    op = Operator(env, tmp_path / "awsop.log", ["-n", NS]).start()
    aws = {"region_name": "us-east-1", "endpoint_url": backend_own_aws.url}
    sqs = boto3.client("sqs", aws_access_key_id="x", aws_secret_access_key="x", **aws)
    events = boto3.client("events", aws_access_key_id="x", aws_secret_access_key="x", **aws)
    try:
        kubectl.apply(
            "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\n"
            f"metadata: {{name: orders, namespace: {NS}}}\n"
            "spec: {visibilityTimeoutSeconds: 30, driftPolicy: Report}\n"
        )
        eventually(
            lambda: (c := kubectl.condition("queue", "orders", NS, "Ready")) and c["status"] == "True",
            60,
            what="Queue Ready",
        )
        url = kubectl.get("queue", "orders", "-n", NS)["status"]["url"]
        eventually(
            lambda: sqs.get_queue_url(QueueName="awsop-events-e2e"), 30, what="the operator's event queue"
        )
        eventually(lambda: events.describe_rule(Name="awsop-events-e2e"), 30, what="the operator's rule")
        # events for a queue nobody manages, and one of the operator's own calls: no check
        events.put_events(
            Entries=[
                cloudtrail(url.rsplit("/", 1)[0] + "/someone-elses", time.time()),
                cloudtrail(url, time.time(), agent="Boto3/1.35 awsop/0.1 awsop-operator/e2e"),
            ]
        )
        time.sleep(3)
        assert checks(op) == 0
        changed = time.time()
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
        events.put_events(Entries=[cloudtrail(url, changed)])
        drifted = eventually(
            lambda: (
                (c := kubectl.condition("queue", "orders", NS, "Drifted")) and c["status"] == "True" and c
            ),
            10,
            0.2,
            what="Queue Drifted within 10 s of its event",
        )
        elapsed = time.time() - changed
        assert (
            "visibilityTimeoutSeconds" in drifted["message"]
            or kubectl.get("queue", "orders", "-n", NS)["status"]["drift"]
        )
        assert checks(op) == 1
        with capsys.disabled():
            print(f"\nBENCH event-driven drift through the operator: change -> Drifted in {elapsed:.1f} s")
    finally:
        kubectl.run("delete", "queue", "orders", "-n", NS, "--timeout=30s", check=False)
        op.stop()
