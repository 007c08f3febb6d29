"""`awsop plan/apply` on a pool of workers: the same output as one worker, dependencies first, batched
reads ahead of the run (groups and templates 100 names per describe call, queue URLs from ListQueues),
a failed target named by AWS name stops its dependents, and machine-read output stays byte-clean."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console

from awsop.operator import cli
from awsop.reconcilers.engine import Engine

pytestmark = pytest.mark.aws

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "parallel")
    monkeypatch.setenv("AWSOP_JOURNAL", str(tmp_path / "journal.json"))
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")
    monkeypatch.setattr(cli, "RETRY_DELAY", 0.05, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_examples_print_the_same_with_one_worker_and_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    files = [f"-f={path}" for path in sorted(EXAMPLES.glob("*.yaml"))]
    for expected in (cli.EXIT_CHANGES, None, cli.EXIT_OK):  # plan on a fresh emulator, apply, no-op plan
        if expected is None:
            code, out, err = run(capsys, "apply", *files)
            assert code == cli.EXIT_OK, out + err
            continue
        for output in ("table", "json"):
            serial = run(capsys, "plan", "-o", output, "--parallelism", "1", *files)
            default = run(capsys, "plan", "-o", output, *files)
            assert serial[0] == expected, serial[1] + serial[2]
            assert default == serial, f"-o {output}: the default differs from --parallelism 1"
        assert "Bucket" in serial[1] and "AutoScalingGroup" in serial[1] and "Queue" in serial[1]


def _capture_engine(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    made: list[Engine] = []
    original = cli._engine

    def engine(args: Any) -> Engine:
        made.append(original(args))
        return made[-1]

    monkeypatch.setattr(cli, "_engine", engine)
    return made


def _write(path: Path, docs: list[str]) -> str:
    path.write_text("---\n".join(docs))
    return str(path)


def test_a_no_op_plan_reads_groups_and_templates_100_per_call_and_queue_urls_by_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWSOP_DEFAULT_RATE_LIMIT", "0")  # setting up 280 objects need not wait
    docs = [
        f"apiVersion: ec2.awsop.io/v1alpha1\nkind: LaunchTemplate\nmetadata: {{name: lt{i}, namespace: ns}}\n"
        "spec: {imageId: ami-12345678, instanceType: t3.micro}\n"
        for i in range(120)
    ]
    docs += [
        f"apiVersion: autoscaling.awsop.io/v1alpha1\nkind: AutoScalingGroup\n"
        f"metadata: {{name: g{i}, namespace: ns}}\n"
        f"spec: {{launchTemplate: {{ref: {{name: lt{i % 3}}}}}, minSize: 0, maxSize: 1, "
        "availabilityZones: [us-east-1a]}\n"
        for i in range(120)
    ]
    docs += [
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: q{i}, namespace: ns}}\n"
        "spec: {visibilityTimeoutSeconds: 60}\n"
        for i in range(40)
    ]
    path = _write(tmp_path / "set.yaml", docs)
    code, out, err = run(capsys, "apply", "-f", path)
    assert code == cli.EXIT_OK, out + err
    made = _capture_engine(monkeypatch)
    code, out, err = run(capsys, "plan", "-f", path)
    assert code == cli.EXIT_OK, out + err
    calls = Counter(made[-1].clients.log.calls)
    assert calls["autoscaling:DescribeAutoScalingGroups"] == 2, calls  # ceil(120 / 100); one each before
    assert calls["ec2:DescribeLaunchTemplates"] == 2, calls
    assert calls["ec2:DescribeLaunchTemplateVersions"] == 120, (
        calls
    )  # the default version's data, per template
    assert calls["sqs:ListQueues"] == 1 and calls["sqs:GetQueueUrl"] == 0, calls
    assert calls["sqs:GetQueueAttributes"] == 40 and calls["sqs:ListQueueTags"] == 40, calls
    queue_calls = sum(n for call, n in calls.items() if call.startswith("sqs:"))
    assert queue_calls == 2 * 40 + 1  # 2 per queue, as in the operator (3 before)


def test_queue_urls_not_listed_are_looked_up_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listing is a hint: a queue it does not show (new, or another prefix) still gets GetQueueUrl."""
    docs = [
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: q{i}, namespace: ns}}\n"
        "spec: {}\n"
        for i in range(3)
    ]
    path = _write(tmp_path / "set.yaml", docs)
    made = _capture_engine(monkeypatch)
    code, out, err = run(capsys, "plan", "-f", path)
    assert code == cli.EXIT_CHANGES, out + err
    calls = Counter(made[-1].clients.log.calls)
    # and the account id is asked once per run, not once per worker that starts before it is known
    assert calls == Counter({"sqs:ListQueues": 1, "sqs:GetQueueUrl": 3, "sts:GetCallerIdentity": 1}), calls


def test_workers_run_targets_first_and_never_more_than_parallelism_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = []
    for i in range(8):
        docs.append(
            f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: src{i}, namespace: ns}}\n"
            f"spec: {{deadLetterQueue: {{ref: {{name: dlq{i}}}, maxReceiveCount: 3}}}}\n"
        )
        docs.append(
            f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: dlq{i}, namespace: ns}}\n"
            "spec: {}\n"
        )
    path = _write(tmp_path / "set.yaml", docs)
    lock = threading.Lock()
    spans: dict[str, list[float]] = {}
    state = {"running": 0, "most": 0}
    original = cli._reconcile

    def reconcile(engine: Any, client: Any, manifest: Any, *rest: Any) -> Any:
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            spans[manifest.ref.name] = [time.monotonic()]
        try:
            time.sleep(0.05)  # long enough for the workers to overlap
            return original(engine, client, manifest, *rest)
        finally:
            with lock:
                state["running"] -= 1
                spans[manifest.ref.name].append(time.monotonic())

    monkeypatch.setattr(cli, "_reconcile", reconcile)
    code, out, err = run(capsys, "apply", "--parallelism", "4", "-f", path)
    assert code == cli.EXIT_OK, out + err
    assert 1 < state["most"] <= 4, state
    for i in range(8):
        assert spans[f"dlq{i}"][1] <= spans[f"src{i}"][0], f"src{i} started before its dead-letter queue"
    rows = [line.split()[2] for line in out.splitlines() if line.strip().startswith("Queue")]
    assert rows == [n for i in range(8) for n in (f"ns/dlq{i}", f"ns/src{i}")], "the stable order"


def test_a_failed_target_named_by_aws_name_stops_its_dependents_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.create_launch_template(  # someone else's template of that name: the manifest's is AlreadyExists
        LaunchTemplateName="taken-lt", LaunchTemplateData={"ImageId": "ami-12345678"}
    )
    docs = [
        "apiVersion: ec2.awsop.io/v1alpha1\nkind: LaunchTemplate\nmetadata: {name: lt, namespace: ns}\n"
        "spec: {name: taken-lt, imageId: ami-12345678}\n",
        "apiVersion: autoscaling.awsop.io/v1alpha1\nkind: AutoScalingGroup\n"
        "metadata: {name: g, namespace: ns}\n"
        "spec: {launchTemplate: {name: taken-lt}, minSize: 0, maxSize: 1, availabilityZones: [us-east-1a]}\n",
    ]
    path = _write(tmp_path / "set.yaml", docs)
    made = _capture_engine(monkeypatch)
    code, out, _ = run(capsys, "plan", "-o", "json", "-f", path)
    assert code == cli.EXIT_ERROR
    objects = {o["name"]: o for o in json.loads(out)["objects"]}
    assert objects["lt"]["error"]["reason"] == "AlreadyExists"
    group = objects["g"]["error"]
    assert group["reason"] == "DependencyNotReady" and group["class"] == "recoverable"
    assert group["message"].startswith("LaunchTemplate ns/lt failed: AlreadyExists"), group
    # the read ahead of the whole set only: a group that was tried would have read itself once more
    assert [c for c in made[-1].clients.log.calls if c.startswith("autoscaling:")] == [
        "autoscaling:DescribeAutoScalingGroups"
    ]


def _plan_args(tmp_path: Path) -> list[str]:
    docs = [
        f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {{name: b{i}, namespace: ns}}\n"
        "spec: {versioning: Enabled}\n"
        for i in range(3)
    ]
    return ["plan", "-f", _write(tmp_path / "set.yaml", docs)]


def test_json_and_piped_output_stay_byte_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *_plan_args(tmp_path), "-o", "json")
    assert code == cli.EXIT_CHANGES
    assert json.loads(out)["changes"] is True and out.endswith("}\n") and err == ""
    code, out, err = run(capsys, *_plan_args(tmp_path))
    assert err == "" and "\x1b" not in out, "no progress or escape codes when nothing is a terminal"


def test_progress_shows_on_a_terminal_after_a_while_and_never_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from awsop.operator import progress

    code, plain, _ = run(capsys, *_plan_args(tmp_path))
    monkeypatch.setattr(progress, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(cli, "err", Console(stderr=True, force_terminal=True, highlight=False))
    assert cli.main([*_plan_args(tmp_path)]) == code
    out = capsys.readouterr()
    assert out.out == plain, "stdout is the same with a terminal on stderr"
    assert "planning" in out.err and "AWS calls" in out.err and "throttled" in out.err, out.err
    assert cli.main([*_plan_args(tmp_path), "-o", "json"]) == code
    assert capsys.readouterr().err == "", "no progress with -o json"


def test_a_failing_read_ahead_only_costs_the_reads_it_would_have_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No sqs:ListQueues permission (or any error listing): each queue is looked up by name as before."""
    from botocore.exceptions import ClientError

    from awsop.reconcilers.sqs_queue import QueueClient

    def denied(self: Any, region: str, targets: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListQueues")

    monkeypatch.setattr(QueueClient, "prefetch", denied)
    docs = [
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: q{i}, namespace: ns}}\n"
        "spec: {}\n"
        for i in range(2)
    ]
    path = _write(tmp_path / "set.yaml", docs)
    assert run(capsys, "apply", "-f", path)[0] == cli.EXIT_OK
    made = _capture_engine(monkeypatch)
    code, out, err = run(capsys, "plan", "-f", path)
    assert code == cli.EXIT_OK, out + err
    assert Counter(c for c in made[-1].clients.log.calls if c.startswith("sqs:"))["sqs:GetQueueUrl"] == 2
