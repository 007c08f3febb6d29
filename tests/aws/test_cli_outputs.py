"""`awsop outputs` and `awsop apply -o env` against moto over HTTP: the same keys and values the operator
writes into ConfigMaps (reconcilers/outputs.py), as KEY=value lines, without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from awsop.operator import cli

pytestmark = pytest.mark.aws
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worker-outputs.yaml"


@pytest.fixture(autouse=True)
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "cli")
    monkeypatch.setenv("AWSOP_JOURNAL", str(tmp_path / "journal.json"))
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")


def env_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_apply_env_then_outputs_print_the_example_values_from_aws(
    sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["apply", "-f", str(EXAMPLE), "-o", "env"]) == cli.EXIT_OK
    applied = env_of(capsys.readouterr().out)
    url = sqs.get_queue_url(QueueName="default-worker-jobs")["QueueUrl"]
    assert list(applied) == ["JOBS_QUEUE_URL", "JOBS_QUEUE_ARN", "STATE_TABLE_NAME", "STATE_TABLE_STREAM_ARN"]
    assert applied["JOBS_QUEUE_URL"] == url
    assert applied["JOBS_QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:default-worker-jobs"
    assert applied["STATE_TABLE_NAME"] == "default-worker-state"
    assert applied["STATE_TABLE_STREAM_ARN"].startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/default-worker-state/stream/"
    )
    # reads only, and the same lines
    assert cli.main(["outputs", "-f", str(EXAMPLE)]) == cli.EXIT_OK
    assert env_of(capsys.readouterr().out) == applied


def test_outputs_default_keys_and_missing_resource_exit_1_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(
        "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: plain, namespace: ns}\n"
        "spec:\n  outputs:\n    - to: {configMap: plain-aws}\n"
    )
    assert cli.main(["outputs", "-f", str(path)]) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Queue ns/plain: QUEUE_URL (url) has no value" in captured.err.replace("\n", " ")
    assert cli.main(["apply", "-f", str(path), "-o", "env"]) == cli.EXIT_OK
    assert set(env_of(capsys.readouterr().out)) == {"QUEUE_URL", "QUEUE_ARN", "QUEUE_NAME", "QUEUE_REGION"}


def test_outputs_one_key_two_values_is_an_error_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.yaml"
    doc = (
        "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: {0}, namespace: ns}}\n"
        "spec:\n  outputs:\n    - to: {{configMap: shared}}\n      values: {{QUEUE: url}}\n"
    )
    path.write_text(doc.format("one") + "---\n" + doc.format("two"))
    assert cli.main(["apply", "-f", str(path), "-o", "env"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.replace("\n", " ")
    assert "QUEUE:" in err and "Queue ns/one gives" in err and "Queue ns/two gives" in err


def test_unknown_output_name_is_refused_naming_file_object_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: bad, namespace: ns}\n"
        "spec:\n  outputs:\n    - to: {configMap: x}\n      values: {URL: streamArn}\n"
    )
    assert cli.main(["outputs", "-f", str(path)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.replace("\n", " ")
    assert f"{path}#0: Queue ns/bad" in err and "outputs[0].values.URL" in err and "streamArn" in err
