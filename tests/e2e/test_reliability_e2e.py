"""Reliability of the operator process against a Kubernetes API: large specs, Stalled objects that heal,
create-pending bookkeeping, ObserveOnly objects whose resource appears later, namespace deletion.

Each test drives the real operator (`awsop run`, i.e. kopf) through kubectl and checks what a user sees:
conditions, annotations, Events and the operator's log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from e2elib import Kubectl, Operator, eventually, operator_env
from test_operator_e2e import bucket_manifest

from awsop.operator.embedded import free_port

PENDING = "createAttemptedAt"  # the create-pending mark, in the status


def condition_is(kubectl: Kubectl, name: str, ctype: str, status: str, namespace: str = "e2e") -> Any:
    cond = kubectl.condition("bucket", name, namespace, ctype)
    return cond if cond and cond["status"] == status else None


@pytest.mark.backends("apiserver")  # the object and annotation size limits are the real server's
def test_bucket_with_1000_lifecycle_rules_reconciles_and_deletes(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    """A spec of ~175 KB (the schema allows 1,000 rules) applied with kubectl: kubectl's own
    last-applied annotation holds a full copy; awsop and kopf must add only a few hundred bytes."""
    rules = [
        {
            "id": f"tenant-{i:04d}-expire-old-uploads-and-archive",
            "prefix": f"tenants/tenant-{i:04d}/uploads/archive/",
            "expirationDays": 365 + i,
            "abortIncompleteMultipartUploadDays": 7,
            "transitions": [{"days": 30, "storageClass": "STANDARD_IA"}],
        }
        for i in range(1000)
    ]
    manifest = {
        "apiVersion": "s3.awsop.io/v1alpha1",
        "kind": "Bucket",
        "metadata": {"name": "many-rules", "namespace": "e2e"},
        "spec": {"deletionPolicy": "Delete", "lifecycleRules": rules},
    }
    assert len(json.dumps(manifest["spec"])) > 170_000
    kubectl.apply(json.dumps(manifest))
    ready = eventually(lambda: condition_is(kubectl, "many-rules", "Ready", "True"), timeout=90, what="Ready")
    assert ready["reason"] == "Created"
    got = s3.get_bucket_lifecycle_configuration(Bucket="e2e-many-rules")["Rules"]
    assert len(got) == 1000
    annotations = kubectl.get("bucket", "many-rules", "-n", "e2e")["metadata"]["annotations"]
    ours = {k: v for k, v in annotations.items() if k != "kubectl.kubernetes.io/last-applied-configuration"}
    assert sum(len(k) + len(v) for k, v in ours.items()) < 1024, ours
    kubectl.run("delete", "bucket", "many-rules", "-n", "e2e", "--timeout=60s")
    assert "e2e-many-rules" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_stalled_already_exists_heals_once_the_owner_tag_is_added_in_aws(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    s3.create_bucket(Bucket="e2e-heals")  # someone else's, untagged
    kubectl.apply(bucket_manifest("heals", spec="versioning: Enabled"))
    stalled = eventually(lambda: condition_is(kubectl, "heals", "Stalled", "True"), what="Stalled")
    assert stalled["reason"] == "AlreadyExists"
    time.sleep(3)  # more than one resync period (2 s here): still Stalled, nothing written
    assert condition_is(kubectl, "heals", "Stalled", "True")
    assert s3.get_bucket_versioning(Bucket="e2e-heals").get("Status") is None, "no write while Stalled"
    s3.put_bucket_tagging(
        Bucket="e2e-heals", Tagging={"TagSet": [{"Key": "awsop.io/owner", "Value": "e2e/e2e/heals"}]}
    )
    eventually(lambda: condition_is(kubectl, "heals", "Ready", "True"), timeout=30, what="healed")
    assert condition_is(kubectl, "heals", "Stalled", "False")
    assert s3.get_bucket_versioning(Bucket="e2e-heals")["Status"] == "Enabled"
    kubectl.run("delete", "bucket", "heals", "-n", "e2e", "--timeout=60s")


def test_create_pending_is_gone_when_the_create_is_recorded(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    # an hour between drift checks: only the create's own write can clear the marker in time
    kubectl.apply(bucket_manifest("pending", annotations="awsop.io/resync-period: 1h"))
    seen: list[dict[str, Any]] = []

    def created() -> bool:
        obj = kubectl.get("bucket", "pending", "-n", "e2e")
        ready = [c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True":
            seen.append(obj)
            return True
        return False

    eventually(created, timeout=60, interval=0.05, what="Ready")
    assert PENDING not in seen[0]["status"], seen[0]["status"]
    assert "kopf.awsop.io/create-pending" not in seen[0]["metadata"].get("annotations", {})
    kubectl.run("delete", "bucket", "pending", "-n", "e2e", "--timeout=60s")


def test_observe_only_bucket_is_ready_soon_after_it_appears(
    kubectl: Kubectl, operator: Operator, s3: Any
) -> None:
    kubectl.apply(
        bucket_manifest(
            "watcher",
            spec="name: e2e-appears-later\nmanagementPolicy: ObserveOnly\nadoptionPolicy: Adopt",
            annotations="awsop.io/resync-period: 1h",
        )
    )
    missing = eventually(lambda: condition_is(kubectl, "watcher", "Ready", "False"), what="NotFound")
    assert missing["reason"] == "NotFound"
    time.sleep(2)
    s3.create_bucket(Bucket="e2e-appears-later")
    started = time.monotonic()
    eventually(lambda: condition_is(kubectl, "watcher", "Ready", "True"), timeout=30, what="Ready")
    assert time.monotonic() - started < 30
    kubectl.run("delete", "bucket", "watcher", "-n", "e2e", "--timeout=60s")
    assert "e2e-appears-later" in [b["Name"] for b in s3.list_buckets()["Buckets"]], "never awsop's"


def test_namespace_deletion_posts_no_events_into_the_terminating_namespace(
    kubectl: Kubectl, e2e_aws: Any, s3: Any, tmp_path: Path
) -> None:
    kubectl.run("create", "namespace", "leaving")
    op = Operator(
        operator_env(kubectl.kubeconfig, e2e_aws.env(), free_port()),
        tmp_path / "awsop.log",
        ["-n", "leaving"],
    ).start()
    try:
        names = [f"goes-{i}" for i in range(12)]
        kubectl.apply(
            "---\n".join(
                bucket_manifest(n, namespace="leaving", spec="deletionPolicy: Delete" if i % 2 else "{}")
                for i, n in enumerate(names)
            )
        )
        kubectl.run("wait", "--for=condition=Ready", "buckets", "--all", "-n", "leaving", "--timeout=60s")
        kubectl.delete_namespace("leaving")
        time.sleep(3)  # kopf posts Events in the background: give refusals time to show up
        log = op.log_path.read_text(errors="replace")
        assert "forbidden" not in log.lower(), log[-3000:]
        assert "Failed to post an event" not in log
        remaining = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert all((f"leaving-{n}" in remaining) == (i % 2 == 0) for i, n in enumerate(names))
    finally:
        op.stop()
    assert "Connection pool is full" not in op.log_path.read_text(errors="replace")
