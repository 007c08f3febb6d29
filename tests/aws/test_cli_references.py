"""`awsop plan` shows what a reference will make a referrer do: a launch template change that makes a new
version shows its group following it (the new version number is known after apply), as an update, never
as drift; a template change that makes no version (tags) leaves the group alone. Against moto's server.
The CLI keeps no memory between runs: `awsop apply` always applies, so it never calls a difference drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsop.operator import cli
from awsop.operator.embedded import EmbeddedAws

pytestmark = pytest.mark.aws
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "autoscaling-web.yaml"


def plan(path: Path, capsys: Any) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(["plan", "-f", str(path), "-o", "json", "--cluster-id", "cli"])
    return code, json.loads(capsys.readouterr().out)["objects"]


def test_plan_shows_the_group_following_its_templates_new_version_as_an_update(
    aws: EmbeddedAws, tmp_path: Path, capsys: Any
) -> None:
    text = EXAMPLE.read_text().replace("  minSize: 1\n", "  minSize: 1\n  driftPolicy: Report\n")
    manifest = tmp_path / "web.yaml"
    manifest.write_text(text)
    assert cli.main(["apply", "-f", str(manifest), "--cluster-id", "cli"]) == cli.EXIT_OK
    capsys.readouterr()

    manifest.write_text(text.replace("instanceType: t3.micro", "instanceType: t3.small"))
    code, objects = plan(manifest, capsys)
    assert code == cli.EXIT_CHANGES
    template, group = objects
    assert template["action"] == "update"
    assert group["action"] == "update" and group["note"] == ""
    (change,) = group["changes"]
    assert change["path"] == "launchTemplate" and change["actual"]["version"] == "1"
    assert change["desired"] == {"id": change["actual"]["id"], "version": "(known after apply)"}
    assert group["calls"] == ["autoscaling:UpdateAutoScalingGroup"]
    assert cli.main(["plan", "-f", str(manifest), "--cluster-id", "cli"]) == cli.EXIT_CHANGES
    text_plan = capsys.readouterr().out
    assert "~ launchTemplate: {version: 1 -> (known after apply)}" in text_plan
    assert "drift" not in text_plan.lower()

    # applied: the group follows; the plan is empty again
    assert cli.main(["apply", "-f", str(manifest), "--cluster-id", "cli", "-o", "json"]) == cli.EXIT_OK
    applied = json.loads(capsys.readouterr().out)
    assert [(o["kind"], o["reason"]) for o in applied] == [
        ("LaunchTemplate", "Updated"),
        ("AutoScalingGroup", "Updated"),
    ]
    assert plan(manifest, capsys)[0] == cli.EXIT_OK

    # a template change that makes no new version (its tags) leaves the group alone
    template_doc, group_doc = manifest.read_text().split("\n---\n")
    manifest.write_text(template_doc.replace("team: web", "team: storefront") + "\n---\n" + group_doc)
    code, objects = plan(manifest, capsys)
    assert code == cli.EXIT_CHANGES
    assert [(o["kind"], o["action"]) for o in objects] == [
        ("LaunchTemplate", "update"),
        ("AutoScalingGroup", "none"),
    ]
    assert objects[0]["calls"] == ["ec2:CreateTags"]


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(
    ("source", "dlq"), [("", "{fifo: true}"), ("fifo: true, ", "{}")], ids=["standard-fifo", "fifo-standard"]
)
def test_dead_letter_queue_of_the_other_type_exits_1_naming_the_field_before_any_write(
    command: str, source: str, dlq: str, tmp_path: Path, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(
        "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: dlq, namespace: ns}\n"
        f"spec: {dlq}\n---\n"
        "apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: orders, namespace: ns}\n"
        f"spec: {{{source}deadLetterQueue: {{ref: {{name: dlq}}, maxReceiveCount: 3}}}}\n"
    )
    code = cli.main([command, "-f", str(path), "--cluster-id", "cli"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == cli.EXIT_ERROR
    assert f"{path}#1: Queue ns/orders: deadLetterQueue: Queue dlq is" in err
    assert "a dead-letter queue must have the type of its source" in err
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.url)
    assert sqs.list_queues().get("QueueUrls", []) == []
