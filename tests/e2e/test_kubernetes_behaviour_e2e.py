"""The operator (`awsop run`, a process of its own) on a real kube-apiserver, with moto in a process of its
own: what only Kubernetes itself can judge. The same scenarios run on the sandbox API server too (it must
behave the same), except field ownership, which the sandbox does not keep.

- categories: `kubectl delete aws --all -n team-a` deletes that namespace's AWS objects and nothing
  cluster-scoped (AWSAccount and TagPolicy are in `awsop-config`);
- an AWSAccount in use keeps a finalizer (Ready False, InUse naming the users, an InUse Event) until no
  object uses it, and its OBJECTS column follows its users within seconds;
- a persistent drift under `driftPolicy: Report` is one Event whose count grows, not an Event per check;
- every write the operator makes (status, finalizers, kopf's annotations, Events) is owned by the field
  manager `awsop` in managedFields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, MotoProcess, Operator, eventually, operator_env

from awsop.operator.embedded import free_port

ROLE = "arn:aws:iam::111111111111:role/awsop"
SETUP = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: op-team-a
  annotations: {{awsop.io/account: acct-a}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: op-drift}}
---
apiVersion: awsop.io/v1alpha1
kind: AWSAccount
metadata: {{name: acct-a}}
spec:
  roleArn: {ROLE}
  namespaces: [op-team-a]
---
apiVersion: awsop.io/v1alpha1
kind: TagPolicy
metadata: {{name: teams}}
spec:
  enforcement: Warn
  required: [{{key: team}}]
"""


def queue(name: str, namespace: str = "op-team-a", spec: str = "{tags: {team: a}}") -> str:
    return (
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec: {spec}\n"
    )


@dataclass
class Cluster:
    kind: str  # "real" or "sandbox": the same scenarios run on both (the sandbox must behave the same)
    kubectl: Kubectl
    operator: Operator
    aws: str


@pytest.fixture(scope="module")
def cluster(
    backend: str, kubectl: Kubectl, backend_own_aws: MotoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp(f"operator-{backend}")
    kubectl.apply(SETUP)
    env = operator_env(
        kubectl.kubeconfig, backend_own_aws.env(), free_port(), AWSOP_ACCOUNT_CHECK_SECONDS="300"
    )
    op = Operator(env, folder / "awsop.log", ["-n", "op-team-a", "-n", "op-drift"]).start()
    try:
        yield Cluster("real" if backend == "apiserver" else backend, kubectl, op, backend_own_aws.url)
    finally:
        for ns in ("op-team-a", "op-drift"):
            kubectl.run("delete", "queues,buckets", "--all", "-n", ns, "--timeout=30s", check=False)
        op.stop()
        kubectl.run("delete", "awsaccount", "acct-a", "--timeout=10s", check=False)
        kubectl.run("delete", "tagpolicy", "teams", "--timeout=10s", check=False)


def objects_of(kubectl: Kubectl, account: str) -> Any:
    return kubectl.get("awsaccount", account).get("status", {}).get("objects")


def test_objects_column_follows_users_within_seconds_and_category_delete_spares_the_cluster(
    cluster: Cluster,
) -> None:
    kubectl = cluster.kubectl
    kubectl.apply("---\n".join(queue(f"q{i}") for i in range(6)))
    for i in range(6):
        kubectl.run("wait", "--for=condition=Ready", f"queue/q{i}", "-n", "op-team-a", "--timeout=60s")
    # the account check runs every 300 s here: the column must follow the users, not the check
    eventually(lambda: objects_of(kubectl, "acct-a") == 6, timeout=10, what="OBJECTS 6")
    assert "awsop.io/account-in-use" in kubectl.get("awsaccount", "acct-a")["metadata"]["finalizers"]
    version = kubectl.get("awsaccount", "acct-a")["metadata"]["resourceVersion"]
    # several drift checks later (2 s period), nothing moved: no write to the account
    time.sleep(6)
    assert kubectl.get("awsaccount", "acct-a")["metadata"]["resourceVersion"] == version, "status churn"

    listed = kubectl.run("get", "aws", "-A", "-o", "name").stdout
    assert "queue" in listed and "awsaccount" not in listed and "tagpolic" not in listed, listed
    config = kubectl.run("get", "awsop-config", "-o", "name").stdout
    assert "awsaccount.awsop.io/acct-a" in config and "tagpolicy.awsop.io/teams" in config, config

    kubectl.run("delete", "aws", "--all", "-n", "op-team-a", "--timeout=60s")
    assert kubectl.run("get", "awsaccount", "acct-a", check=False).returncode == 0, "AWSAccount deleted"
    assert kubectl.run("get", "tagpolicy", "teams", check=False).returncode == 0, "TagPolicy deleted"
    eventually(lambda: objects_of(kubectl, "acct-a") == 0, timeout=10, what="OBJECTS 0")
    eventually(
        lambda: (
            "awsop.io/account-in-use"
            not in (kubectl.get("awsaccount", "acct-a")["metadata"].get("finalizers") or [])
        ),
        timeout=10,
        what="finalizer gone with the last user",
    )


def test_account_in_use_waits_for_its_users_and_says_which(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    kubectl.apply(queue("still-here"))
    kubectl.run("wait", "--for=condition=Ready", "queue/still-here", "-n", "op-team-a", "--timeout=60s")
    eventually(lambda: objects_of(kubectl, "acct-a") == 1, timeout=10, what="OBJECTS 1")
    kubectl.run("delete", "awsaccount", "acct-a", "--wait=false")

    def in_use() -> Any:
        account = kubectl.get("awsaccount", "acct-a")
        ready = next((c for c in account.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
        return ready if ready.get("reason") == "InUse" else None

    ready = eventually(in_use, timeout=15, what="Ready False InUse")
    assert ready["status"] == "False" and "Queue op-team-a/still-here" in ready["message"], ready
    events = kubectl.get("events", "-n", "default", "--field-selector", "involvedObject.name=acct-a")["items"]
    assert [e["message"] for e in events if e["reason"] == "InUse"] == [ready["message"]]
    # the object still works with its account while it exists
    assert kubectl.condition("queue", "still-here", "op-team-a", "Ready")["status"] == "True"  # type: ignore[index]

    kubectl.run("delete", "queue", "still-here", "-n", "op-team-a", "--timeout=60s")
    eventually(
        lambda: kubectl.run("get", "awsaccount", "acct-a", check=False).returncode != 0,
        timeout=20,
        what="AWSAccount gone once no object uses it",
    )
    kubectl.apply(SETUP)  # back for the other tests


def test_persistent_report_drift_is_one_event_with_a_growing_count(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    kubectl.apply(
        "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {name: reported, namespace: op-drift}\n"
        "spec: {versioning: Enabled, driftPolicy: Report, deletionPolicy: Delete, tags: {team: a}}\n"
    )
    kubectl.run("wait", "--for=condition=Ready", "bucket/reported", "-n", "op-drift", "--timeout=60s")
    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.aws,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    s3.put_bucket_versioning(Bucket="op-drift-reported", VersioningConfiguration={"Status": "Suspended"})

    def drift_events() -> list[dict[str, Any]]:
        items = kubectl.get("events", "-n", "op-drift", "--field-selector", "involvedObject.name=reported")
        return [e for e in items["items"] if e["reason"] == "DriftDetected"]

    # the drift check runs every 2 s: several checks see the same drift
    eventually(lambda: sum(e.get("count") or 1 for e in drift_events()) >= 4, timeout=30, what="4 reports")
    events = drift_events()
    assert len(events) == 1, [(e["message"], e.get("count")) for e in events]
    assert events[0]["count"] >= 4 and events[0]["lastTimestamp"] >= events[0]["firstTimestamp"]

    # a new drift is a new Event
    s3.put_bucket_versioning(Bucket="op-drift-reported", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(
        Bucket="op-drift-reported",
        Tagging={"TagSet": [{"Key": "team", "Value": "b"}, *owner_tags(s3, "op-drift-reported")]},
    )
    eventually(lambda: len(drift_events()) == 2, timeout=30, what="a second DriftDetected Event")


def owner_tags(s3: Any, bucket: str) -> list[dict[str, str]]:
    return [t for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"] if t["Key"].startswith("awsop.io/")]


def test_every_write_of_the_operator_is_owned_by_the_awsop_field_manager(
    cluster: Cluster,
) -> None:
    if cluster.kind == "sandbox":
        pytest.skip("the sandbox keeps no managedFields (docs/sandbox.md): the real server judges this")
    kubectl = cluster.kubectl
    kubectl.apply(queue("managed", "op-drift"))
    kubectl.run("wait", "--for=condition=Ready", "queue/managed", "-n", "op-drift", "--timeout=60s")
    body = kubectl.get("queue", "managed", "-n", "op-drift", "--show-managed-fields")
    entries = body["metadata"]["managedFields"]
    managers = {e["manager"] for e in entries}
    assert not managers & {"OpenAPI-Generator", "kopf"}, managers
    ours = [e for e in entries if e["manager"] == "awsop"]
    status = json.dumps([e["fieldsV1"] for e in ours if e.get("subresource") == "status"])
    assert '"f:lastHandled"' in status and '"f:conditions"' in status, entries
    fields = json.dumps([e["fieldsV1"] for e in ours if not e.get("subresource")])
    assert '"f:finalizers"' in fields and "kopf.awsop.io/" not in fields, entries

    events = kubectl.get(
        "events", "-n", "op-drift", "--field-selector", "involvedObject.name=managed", "--show-managed-fields"
    )["items"]
    assert events and {e["metadata"]["managedFields"][0]["manager"] for e in events} == {"awsop"}
    account = kubectl.get("awsaccount", "acct-a", "--show-managed-fields")
    status_managers = {
        e["manager"] for e in account["metadata"]["managedFields"] if e.get("subresource") == "status"
    }
    assert status_managers == {"awsop"}, account["metadata"]["managedFields"]
