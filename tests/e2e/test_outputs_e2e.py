"""spec.outputs on the sandbox API server (what `make demo` uses), with the real operator: the example's
ConfigMap holds the values once the objects are Ready and goes with them. tests/apiserver/
test_outputs_real.py runs the full scenario on a real kube-apiserver."""

from __future__ import annotations

from typing import Any

import boto3
import yaml
from e2elib import REPO, Kubectl, Operator, eventually

NS = "e2e"


def test_example_configmap_filled_on_ready_and_deleted_with_the_objects(
    kubectl: Kubectl, operator: Operator, e2e_aws: Any
) -> None:
    docs = list(yaml.safe_load_all((REPO / "examples" / "worker-outputs.yaml").read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = NS
    kubectl.apply(yaml.safe_dump_all(docs))

    def ready(kind: str, name: str) -> bool:
        return (kubectl.condition(kind, name, NS, "Ready") or {}).get("status") == "True"

    eventually(lambda: ready("queue", "worker-jobs") and ready("table", "worker-state"), 60)
    data = kubectl.get("configmap", "worker-aws", "-n", NS)["data"]
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=e2e_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    assert data["JOBS_QUEUE_URL"] == sqs.get_queue_url(QueueName=f"{NS}-worker-jobs")["QueueUrl"]
    assert data["STATE_TABLE_NAME"] == f"{NS}-worker-state"
    assert set(data) == {"JOBS_QUEUE_URL", "JOBS_QUEUE_ARN", "STATE_TABLE_NAME", "STATE_TABLE_STREAM_ARN"}
    kubectl.run("delete", "queue/worker-jobs", "table/worker-state", "-n", NS, "--timeout=60s")
    kubectl.run("delete", "deployment", "worker", "-n", NS)
    gone = kubectl.run("get", "configmap", "worker-aws", "-n", NS, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
