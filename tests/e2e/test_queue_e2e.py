"""Queues through the real operator and kubectl: a dead-letter pair applied in reverse order converges,
the source waits (told once) until its target is Ready, a queue in use as a dead-letter queue keeps its
finalizer until its user goes, and kubectl rejects the FIFO rules with the field and the reason."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, Operator, eventually

NS = "e2e"


def queue(name: str, spec: str) -> str:
    head = "---\napiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\n"
    return f"{head}metadata: {{name: {name}, namespace: {NS}}}\nspec: {spec}\n"


SOURCE = queue(
    "jobs", "{visibilityTimeoutSeconds: 45, deadLetterQueue: {ref: {name: jobs-dlq}, maxReceiveCount: 4}}"
)
TARGET = queue("jobs-dlq", "{messageRetentionSeconds: 1209600}")


@pytest.fixture
def sqs(e2e_aws: Any) -> Any:
    return boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=e2e_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def ready(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    condition = kubectl.condition("queue", name, NS, "Ready")
    return condition if condition and condition["status"] == "True" else None


def queue_urls(sqs: Any) -> list[str]:
    return sorted(
        u.rsplit("/", 1)[-1] for u in sqs.list_queues(QueueNamePrefix=f"{NS}-jobs").get("QueueUrls", [])
    )


def test_queue_pair_in_reverse_order_converges_then_delete_waits_for_the_user(
    kubectl: Kubectl, operator: Operator, sqs: Any
) -> None:
    kubectl.apply(SOURCE)
    waiting = eventually(
        lambda: (
            (c := kubectl.condition("queue", "jobs", NS, "Ready"))
            and c["reason"] == "DependencyNotReady"
            and c
        ),
        what="source waits for its dead-letter queue",
    )
    assert "Queue jobs-dlq (deadLetterQueue): Queue jobs-dlq does not exist" in waiting["message"]
    assert kubectl.condition("queue", "jobs", NS, "Stalled")["status"] == "False"
    time.sleep(7)  # a few retries (2 s, 4 s, ...) happen meanwhile: the Event is still told once
    told = [e for e in kubectl.events(NS, "jobs") if e[0] == "DependencyNotReady"]
    assert len(told) == 1, told
    assert queue_urls(sqs) == []  # nothing was created while waiting

    kubectl.apply(TARGET)
    eventually(lambda: ready(kubectl, "jobs-dlq"), timeout=60, what="dead-letter queue Ready")
    eventually(lambda: ready(kubectl, "jobs"), timeout=60, what="source Ready once its target is")
    dlq_status = kubectl.get("queue", "jobs-dlq", "-n", NS)["status"]
    src_status = kubectl.get("queue", "jobs", "-n", NS)["status"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=src_status["url"], AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"] == dlq_status["arn"] == src_status["deadLetterQueueArn"]
    assert queue_urls(sqs) == [f"{NS}-jobs", f"{NS}-jobs-dlq"]

    kubectl.run("delete", "queue", "jobs-dlq", "-n", NS, "--wait=false")
    blocked = eventually(
        lambda: (c := kubectl.condition("queue", "jobs-dlq", NS, "Ready")) and c["reason"] == "InUse" and c,
        what="delete blocked while referenced",
    )
    assert f"still referenced by Queue {NS}/jobs (deadLetterQueue)" in blocked["message"]
    assert f"{NS}-jobs-dlq" in queue_urls(sqs)

    kubectl.run("delete", "queue", "jobs", "-n", NS, "--wait=false")
    eventually(
        lambda: kubectl.run("get", "queue", "jobs-dlq", "-n", NS, check=False).returncode != 0,
        timeout=90,
        what="dead-letter queue deleted once its user is gone",
    )
    assert queue_urls(sqs) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "{contentBasedDeduplication: true}",
            "contentBasedDeduplication: only FIFO queues (fifo: true) have it",
        ),
        ("{name: e2e-bad.fifo}", "name: a FIFO queue's name ends in .fifo"),
        (
            "{fifo: true, deadLetterQueue: {arn: 'arn:aws:sqs:us-east-1:123456789012:std', "
            "maxReceiveCount: 2}}",
            "deadLetterQueue.arn: the dead-letter queue of a FIFO queue must be FIFO",
        ),
        ("{deadLetterQueue: {maxReceiveCount: 2}}", "set exactly one of ref or arn"),
    ],
    ids=["fifo-only-field", "fifo-suffix", "dlq-type", "ref-or-arn"],
)
def test_kubectl_rejects_fifo_rules_with_field_and_reason(kubectl: Kubectl, spec: str, message: str) -> None:
    proc = kubectl.apply(queue("bad", spec), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
