"""References between objects: ordering and errors in the CLI, resolution from Kubernetes bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from awsop.operator import cli
from awsop.operator.manifests import ManifestError, load
from awsop.operator.references import order_manifests, resolution_from_body
from awsop.reconcilers.refs import Reference, unresolved


def queue(name: str, dlq: str | None = None, namespace: str = "ns") -> str:
    spec = f"{{deadLetterQueue: {{ref: {{name: {dlq}}}, maxReceiveCount: 3}}}}" if dlq else "{}"
    return (
        "---\napiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def manifests(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return load([str(path)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (queue("a", "b") + queue("b", "c") + queue("c"), ["c", "b", "a"]),
        (queue("c") + queue("b", "c") + queue("a", "b"), ["c", "b", "a"]),
        (queue("x") + queue("a", "b") + queue("y") + queue("b"), ["x", "b", "a", "y"]),
    ],
    ids=["reverse-chain", "already-ordered", "file-order-otherwise"],
)
def test_cli_orders_targets_before_their_referrers(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert [m.ref.name for m in order_manifests(manifests(tmp_path, text))] == expected


def test_cli_rejects_a_reference_cycle_naming_it(tmp_path: Path) -> None:
    found = manifests(tmp_path, queue("a", "b") + queue("b", "c") + queue("c", "a"))
    with pytest.raises(
        ManifestError, match="reference cycle: Queue ns/a -> Queue ns/b -> Queue ns/c -> Queue ns/a"
    ):
        order_manifests(found)


def test_cli_reference_to_another_namespace_is_missing(tmp_path: Path) -> None:
    found = manifests(tmp_path, queue("a", "b") + queue("b", namespace="other"))
    with pytest.raises(ManifestError, match="refers to Queue ns/b, which is not among the manifests given"):
        order_manifests(found)


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_cli_missing_reference_exits_1_naming_the_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(queue("orders", "orders-dlq"))
    assert cli.main([command, "-f", str(path)]) == 1
    assert "Queue ns/orders: deadLetterQueue refers to Queue ns/orders-dlq" in capsys.readouterr().err


REF = Reference("Queue", "dlq", "deadLetterQueue")


def body(ready: str | None = "True", generation: int = 2, observed: int = 2, **meta: Any) -> dict[str, Any]:
    conditions = (
        []
        if ready is None
        else [
            {
                "type": "Ready",
                "status": ready,
                "reason": "Why",
                "message": "because",
                "observedGeneration": observed,
            }
        ]
    )
    return {
        "metadata": {"name": "dlq", "generation": generation, **meta},
        "status": {"arn": "arn:aws:sqs:us-east-1:123456789012:dlq", "url": "u", "conditions": conditions},
    }


@pytest.mark.parametrize(
    ("target", "ready", "message"),
    [
        (None, False, "Queue dlq does not exist"),
        (body(ready=None), False, "not reconciled yet"),
        (body(ready="False"), False, "is not Ready (Why: because)"),
        (body(observed=1), False, "has not reconciled its latest spec"),
        (body(deletionTimestamp="2026-01-01T00:00:00Z"), False, "is being deleted"),
        (body(), True, ""),
    ],
    ids=["missing", "new", "not-ready", "stale-generation", "deleting", "ready"],
)
def test_operator_resolution_from_the_target_object(target: Any, ready: bool, message: str) -> None:
    found = resolution_from_body(REF, target)
    assert found.ready is ready
    assert message in found.message
    if ready:
        assert found.value("arn") == "arn:aws:sqs:us-east-1:123456789012:dlq"
        assert "conditions" not in found.values


def test_engine_waits_for_planned_targets_only_when_applying() -> None:
    from awsop.reconcilers.refs import Resolution

    planned = {("Queue", "dlq"): Resolution("Queue", "dlq", ready=False, planned=True)}
    assert unresolved([REF], planned, plan_only=True) == []
    assert [r for r, _ in unresolved([REF], planned, plan_only=False)] == [REF]
    assert [r for r, _ in unresolved([REF], {}, plan_only=True)] == [REF]


NAMED = """\
---
apiVersion: autoscaling.awsop.io/v1alpha1
kind: AutoScalingGroup
metadata: {name: batch, namespace: ns}
spec: {launchTemplate: {name: ns-tpl}, minSize: 0, maxSize: 1, availabilityZones: [us-east-1a]}
---
apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata: {name: site, namespace: ns}
spec: {logging: {targetBucket: logs-bucket}}
---
apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata: {name: logs, namespace: other}
spec: {name: logs-bucket}
---
apiVersion: ec2.awsop.io/v1alpha1
kind: LaunchTemplate
metadata: {name: tpl, namespace: ns}
spec: {imageId: ami-12345678, instanceType: t3.micro}
"""


def test_cli_orders_resources_named_by_aws_name_like_references(tmp_path: Path) -> None:
    """A bucket's logging target and a group's launch template named by AWS name come first when another
    manifest of the set manages that name (in any namespace: AWS names are not namespaced)."""
    found = manifests(tmp_path, NAMED)
    names = {("ns", "AutoScalingGroup", "batch"): "ns-batch", ("ns", "Bucket", "site"): "ns-site"}
    names |= {("other", "Bucket", "logs"): "logs-bucket", ("ns", "LaunchTemplate", "tpl"): "ns-tpl"}
    assert [m.ref.name for m in order_manifests(found)] == ["batch", "site", "logs", "tpl"]
    assert [m.ref.name for m in order_manifests(found, names)] == ["tpl", "batch", "logs", "site"]


def test_engine_reports_a_missing_named_dependency_as_waiting_not_error() -> None:
    """AWS's "does not exist" for a resource named by AWS name is DependencyNotReady (retried, never
    Stalled), naming the spec path; any other error keeps its own reason."""
    from botocore.exceptions import ClientError

    from awsop.reconcilers.autoscaling_group import AutoScalingGroupSpec
    from awsop.reconcilers.changes import Plan
    from awsop.reconcilers.engine import State, dependency_missing
    from awsop.reconcilers.errors import ErrorClass

    spec = AutoScalingGroupSpec.model_validate(
        {
            "launchTemplate": {"name": "ns-tpl"},
            "minSize": 0,
            "maxSize": 1,
            "availabilityZones": ["us-east-1a"],
        }
    )
    plan = Plan("AutoScalingGroup", "ns", "batch", "ns-batch", "us-east-1", "create")

    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "nope"}}, "CreateAutoScalingGroup")

    outcome = dependency_missing(spec, plan, error("InvalidLaunchTemplateName.NotFoundException"))
    assert outcome is not None and outcome.state is State.WAITING
    assert outcome.reason == "DependencyNotReady" and outcome.error_class is ErrorClass.RECOVERABLE
    assert "LaunchTemplate ns-tpl (launchTemplate.name)" in outcome.message
    assert dependency_missing(spec, plan, error("ValidationError")) is None


def test_buckets_logging_into_each_other_are_ordered_without_a_cycle_error(tmp_path: Path) -> None:
    text = "".join(
        "---\napiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\n"
        f"metadata: {{name: {a}, namespace: ns}}\n"
        f"spec: {{name: {a}-bucket, logging: {{targetBucket: {b}-bucket}}}}\n"
        for a, b in (("one", "two"), ("two", "one"))
    )
    found = manifests(tmp_path, text)
    names = {("ns", "Bucket", "one"): "one-bucket", ("ns", "Bucket", "two"): "two-bucket"}
    assert [m.ref.name for m in order_manifests(found, names)] == ["two", "one"]
