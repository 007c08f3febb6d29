"""Two teams, two AWS accounts, one operator: AWSAccount objects and namespace grants end to end.

team-a uses account A through its namespace annotation, team-b names account B with spec.accountRef,
team-c's namespace names account A, which does not grant it: Stalled with AccountNotAllowed and not a
single AWS call for that object. moto (a process of this module's own) places what assumed-role
credentials create in the role's account, so the three accounts are checked separately.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, Operator, eventually, operator_env

from awsop.operator.embedded import free_port

ACCT_A, ACCT_B = "111111111111", "222222222222"
ROLE_A, ROLE_B = f"arn:aws:iam::{ACCT_A}:role/awsop", f"arn:aws:iam::{ACCT_B}:role/awsop"
SETUP = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  annotations: {{awsop.io/account: acct-a}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  labels: {{tenant: b}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-c
  annotations: {{awsop.io/account: acct-a}}
---
apiVersion: awsop.io/v1alpha1
kind: AWSAccount
metadata:
  name: acct-a
spec:
  roleArn: {ROLE_A}
  namespaces: [team-a]
  defaultTags: {{cost-center: a}}
---
apiVersion: awsop.io/v1alpha1
kind: AWSAccount
metadata:
  name: acct-b
spec:
  roleArn: {ROLE_B}
  sessionDurationSeconds: 900
  namespaceSelector: {{matchLabels: {{tenant: b}}}}
  allowedRegions: [us-east-1]
"""


def bucket(namespace: str, spec: str = "{}") -> str:
    return (
        f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: data\n  namespace: {namespace}\n"
        f"spec: {spec}\n"
    )


def s3_as(aws: Any, role_arn: str | None) -> Any:
    keys: dict[str, str] = {}
    if role_arn:
        sts = boto3.client(
            "sts",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="e2e")["Credentials"]
        keys = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
    else:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=aws.url, region_name="us-east-1", **keys)


def names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


@pytest.fixture(scope="module")
def teams(
    kubectl: Kubectl, backend_own_aws: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Kubectl, Operator]]:
    kubectl.apply(SETUP)
    env = operator_env(
        kubectl.kubeconfig, backend_own_aws.env(), free_port(), AWSOP_ACCOUNT_CHECK_SECONDS="2"
    )
    log = Path(tmp_path_factory.mktemp("operator-accounts")) / "awsop.log"
    op = Operator(env, log, ["-n", "team-a", "-n", "team-b", "-n", "team-c"]).start()
    kubectl.apply(bucket("team-a") + "---\n" + bucket("team-b", "{accountRef: {name: acct-b}}"))
    kubectl.apply(bucket("team-c"))
    try:
        yield kubectl, op
    finally:
        for ns in ("team-a", "team-b", "team-c"):  # Retain (the default) releases; team-c touches nothing
            kubectl.run("delete", "buckets", "--all", "-n", ns, "--timeout=30s", check=False)
        kubectl.run("delete", "awsaccounts", "--all", "--timeout=30s", check=False)
        op.stop()


def test_objects_in_two_namespaces_land_in_two_accounts(
    teams: tuple[Kubectl, Operator], backend_own_aws: Any
) -> None:
    kubectl, _op = teams
    for ns in ("team-a", "team-b"):
        kubectl.run("wait", "--for=condition=Ready", "bucket/data", "-n", ns, "--timeout=60s")
    assert names(s3_as(backend_own_aws, ROLE_A)) == {"team-a-data"}
    assert names(s3_as(backend_own_aws, ROLE_B)) == {"team-b-data"}
    assert names(s3_as(backend_own_aws, None)) == set(), "nothing in the operator's own account"
    assert kubectl.get("bucket", "data", "-n", "team-a")["status"]["accountId"] == ACCT_A
    assert kubectl.get("bucket", "data", "-n", "team-b")["status"]["accountId"] == ACCT_B
    tags = s3_as(backend_own_aws, ROLE_A).get_bucket_tagging(Bucket="team-a-data")["TagSet"]
    assert {"Key": "cost-center", "Value": "a"} in tags


def test_namespace_not_granted_is_stalled_with_zero_aws_calls(
    teams: tuple[Kubectl, Operator], backend_own_aws: Any
) -> None:
    kubectl, op = teams
    stalled = eventually(
        lambda: (
            (c := kubectl.condition("bucket", "data", "team-c", "Stalled")) and c["status"] == "True" and c
        ),
        what="team-c Stalled",
    )
    assert stalled["reason"] == "AccountNotAllowed"
    assert "acct-a" in stalled["message"] and "team-c" in stalled["message"]
    assert any(reason == "AccountNotAllowed" for reason, _ in kubectl.events("team-c", "data"))
    lines = [line for line in op.log().splitlines() if "Bucket team-c/data" in line]
    assert lines and all("(0 AWS calls" in line for line in lines), lines
    for role in (ROLE_A, ROLE_B, None):
        assert "team-c-data" not in names(s3_as(backend_own_aws, role))


def test_awsaccounts_report_account_id_readiness_and_users(teams: tuple[Kubectl, Operator]) -> None:
    kubectl, _op = teams

    def ready(name: str) -> Any:
        status = kubectl.get("awsaccount", name).get("status", {})
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        return (
            status if conditions.get("Ready", {}).get("status") == "True" and status.get("objects") else None
        )

    a = eventually(lambda: ready("acct-a"), what="acct-a Ready with one user")
    b = eventually(lambda: ready("acct-b"), what="acct-b Ready with one user")
    assert (a["accountId"], a["objects"]) == (ACCT_A, 1)  # team-c is not granted: not a user
    assert (b["accountId"], b["objects"]) == (ACCT_B, 1)
    listed = kubectl.run("get", "awsaccounts").stdout
    assert ACCT_A in listed and ACCT_B in listed


def test_sessions_are_reused_across_checks(teams: tuple[Kubectl, Operator]) -> None:
    """Several drift checks and account checks later, still one AssumeRole per account."""
    _kubectl, op = teams
    eventually(lambda: _calls(op, "sts", "GetCallerIdentity") >= 4, timeout=30, what="a few account checks")
    assert _calls(op, "sts", "AssumeRole") == 2


def _calls(op: Operator, service: str, operation: str) -> float:
    total = 0.0
    for line in op.metrics().splitlines():
        if line.startswith("awsop_aws_calls_total{") and all(
            label in line for label in (f'service="{service}"', f'operation="{operation}"', 'outcome="ok"')
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_granting_the_namespace_later_lets_the_stalled_object_converge(
    teams: tuple[Kubectl, Operator], backend_own_aws: Any
) -> None:
    """No spec change needed: the AWSAccount change asks the denied object to reconcile again."""
    kubectl, _op = teams
    kubectl.run(
        "patch",
        "awsaccount",
        "acct-a",
        "--type",
        "merge",
        "-p",
        '{"spec":{"namespaces":["team-a","team-c"]}}',
    )
    kubectl.run("wait", "--for=condition=Ready", "bucket/data", "-n", "team-c", "--timeout=60s")
    assert "team-c-data" in names(s3_as(backend_own_aws, ROLE_A))
    assert kubectl.condition("bucket", "data", "team-c", "Stalled")["status"] == "False"  # type: ignore[index]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(
            f"apiVersion: awsop.io/v1alpha1\nkind: AWSAccount\nmetadata: {{name: bad}}\n"
            f"spec: {{roleArn: '{ROLE_A}', defaultRegion: eu-west-1, allowedRegions: [us-east-1]}}\n",
            "defaultRegion must be one of allowedRegions",
            id="default-region-not-allowed",
        ),
        pytest.param(
            "apiVersion: awsop.io/v1alpha1\nkind: AWSAccount\nmetadata: {name: bad}\n"
            "spec: {roleArn: 'arn:aws:iam::1:role/x'}\n",
            "spec.roleArn",
            id="bad-role-arn",
        ),
        pytest.param(
            f"apiVersion: awsop.io/v1alpha1\nkind: AWSAccount\nmetadata: {{name: bad}}\n"
            f"spec: {{roleArn: '{ROLE_A}', sessionDurationSeconds: 60}}\n",
            "spec.sessionDurationSeconds",
            id="session-below-900",
        ),
    ],
)
def test_api_server_rejects_invalid_awsaccounts(kubectl: Kubectl, manifest: str, expected: str) -> None:
    proc = kubectl.apply(manifest, check=False)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr


def test_account_ref_is_immutable_in_the_api_server(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "immutable", check=False)
    kubectl.apply(bucket("immutable", "{accountRef: {name: acct-a}}"))
    try:
        proc = kubectl.apply(bucket("immutable", "{accountRef: {name: acct-b}}"), check=False)
        assert proc.returncode != 0 and "accountRef is immutable" in proc.stderr, proc.stderr
        proc = kubectl.apply(bucket("immutable"), check=False)
        assert proc.returncode != 0 and "accountRef is immutable" in proc.stderr, proc.stderr
    finally:
        kubectl.run("delete", "bucket", "data", "-n", "immutable", "--wait=false", check=False)
