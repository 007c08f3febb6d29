"""The operator is killed (SIGKILL) in the middle of a create and a new one takes over: the object must
converge to Ready, with exactly one bucket, owned by it, and never stall on its own half-made bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2elib import Kubectl, Operator, eventually, operator_env

from awsop.operator.embedded import free_port

SPEC = """apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata:
  name: slow
  namespace: crash
spec:
  versioning: Enabled
  encryption: {algorithm: AES256}
  publicAccessBlock: {}
  objectOwnership: BucketOwnerEnforced
  tags: {team: crash}
"""

# minutes of kill-and-restart: on the real API server, the judge, only (the sandbox runs the rest)
pytestmark = pytest.mark.backends("apiserver")


@pytest.mark.parametrize("kill_when", ["bucket-appears", "tags-appear"])
def test_operator_killed_mid_create_converges_without_duplicates(
    kubectl: Kubectl, e2e_aws: Any, s3: Any, tmp_path: Path, kill_when: str
) -> None:
    name = f"crash-slow-{kill_when}"
    manifest = SPEC.replace("name: slow", f"name: slow-{kill_when}")
    # 2 S3 calls per second: a create takes seconds, so the kill lands between its calls
    slow = operator_env(kubectl.kubeconfig, e2e_aws.env(), free_port(), AWSOP_RATE_LIMITS='{"s3": 2}')
    first = Operator(slow, tmp_path / "first.log", ["-n", "crash"]).start()
    try:
        kubectl.apply(manifest)

        def reached() -> bool:
            if name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                return False
            if kill_when == "bucket-appears":
                return True
            try:
                return bool(s3.get_bucket_tagging(Bucket=name)["TagSet"])
            except s3.exceptions.ClientError:
                return False

        eventually(reached, timeout=60, interval=0.02, what=f"kill point {kill_when}")
        first.kill()
    finally:
        first.kill()

    second = Operator(
        operator_env(kubectl.kubeconfig, e2e_aws.env(), free_port()), tmp_path / "second.log", ["-n", "crash"]
    ).start()
    try:
        ready = eventually(
            lambda: (
                (c := kubectl.condition("bucket", f"slow-{kill_when}", "crash", "Ready"))
                and c["status"] == "True"
                and c
            ),
            timeout=60,
            what="Ready after restart",
        )
        assert ready["reason"] in ("UpToDate", "Updated", "Adopted", "Created")
        stalled = kubectl.condition("bucket", f"slow-{kill_when}", "crash", "Stalled")
        assert stalled is None or stalled["status"] == "False"
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(name) == 1
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags["awsop.io/owner"] == f"e2e/crash/slow-{kill_when}"
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        eventually(
            lambda: (
                "createAttemptedAt"
                not in kubectl.get("bucket", f"slow-{kill_when}", "-n", "crash").get("status", {})
            ),
            what="create-pending cleared",
        )
        kubectl.run("delete", "bucket", f"slow-{kill_when}", "-n", "crash", "--timeout=60s")
    finally:
        second.stop()
