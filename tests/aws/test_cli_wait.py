"""`awsop apply` keeps reconciling until each object is Ready (one apply converges a multi-step change);
`--wait=false` returns after the first step; `--timeout` bounds the wait (moto's server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from awsop.operator import cli
from awsop.reconcilers.changes import Plan
from awsop.reconcilers.engine import Engine, Outcome, State

pytestmark = pytest.mark.aws

KEYS = {"partitionKey": {"name": "pk", "type": "S"}}


def manifest(tmp_path: Path, name: str, indexes: list[str]) -> str:
    spec: dict[str, Any] = {
        **KEYS,
        "globalSecondaryIndexes": [{"name": i, "partitionKey": {"name": i, "type": "S"}} for i in indexes],
    }
    doc = {
        "apiVersion": "dynamodb.awsop.io/v1alpha1",
        "kind": "Table",
        "metadata": {"name": name, "namespace": "cli"},
        "spec": spec,
    }
    path = tmp_path / f"{name}-{len(indexes)}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def apply(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(["apply", "-o", "json", "--cluster-id", "test-cluster", *args])
    return code, json.loads(capsys.readouterr().out)


def test_apply_waits_until_a_multi_step_change_converged(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = apply(capsys, "-f", manifest(tmp_path, "waits", []))
    assert code == cli.EXIT_OK
    code, [result] = apply(capsys, "-f", manifest(tmp_path, "waits", ["gsi-one", "gsi-two"]))
    assert code == cli.EXIT_OK
    assert result["state"] == "Ready"
    assert result["awsCalls"].count("dynamodb:UpdateTable") == 2  # both steps, one per reconcile


def test_apply_wait_false_returns_after_the_first_step(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(capsys, "-f", manifest(tmp_path, "nowait", []))
    code, [result] = apply(capsys, "--wait=false", "-f", manifest(tmp_path, "nowait", ["gsi-one", "gsi-two"]))
    assert code == cli.EXIT_OK
    assert result["state"] == "Progressing"
    assert result["message"] == "step 1 of 2: creating index gsi-one; next: creating index gsi-two"
    assert result["progress"]["pendingSteps"] == ["creating index gsi-two"]
    assert result["awsCalls"].count("dynamodb:UpdateTable") == 1


def test_apply_gives_up_after_the_timeout(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = manifest(tmp_path, "slow", [])

    def never_ready(self: Engine, *args: Any, **kwargs: Any) -> Outcome:
        plan = Plan("Table", "cli", "slow", "cli-slow", "us-east-1", "none")
        return Outcome(State.PROGRESSING, "TableCreating", "waiting: table is CREATING", plan)

    monkeypatch.setattr(Engine, "reconcile", never_ready)
    code, [result] = apply(capsys, "--timeout", "1s", "-f", path)
    assert code == cli.EXIT_ERROR
    assert result["state"] == "Progressing"
    assert result["message"].startswith("still in progress after 1s (--timeout)")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("12", 12.0)])
def test_timeout_durations(text: str, seconds: float) -> None:
    assert cli.parse_timeout(text) == seconds


def test_examples_apply_then_plan_clean_then_out_of_band_pitr_named(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    example = str(Path(__file__).resolve().parents[2] / "examples" / "table-orders.yaml")
    assert cli.main(["apply", "-f", example]) == cli.EXIT_OK
    assert cli.main(["plan", "-f", example]) == cli.EXIT_OK
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)
    ddb.update_continuous_backups(
        TableName="default-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    capsys.readouterr()
    assert cli.main(["plan", "-f", example]) == cli.EXIT_CHANGES
    assert "pointInTimeRecovery: {enabled: false -> true}" in capsys.readouterr().out
