"""`awsop plan` / `awsop apply` with TagPolicies: the PR check a platform team puts in CI.

Exit codes (1 on a Deny violation or a policy error, naming object, tag and policy), defaults shown in
the plan and then found in AWS, `--tag-policy`, `--namespace-labels` and Namespace documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsop.operator.cli import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, main

pytestmark = pytest.mark.aws

POLICY = """\
apiVersion: awsop.io/v1alpha1
kind: TagPolicy
metadata: {name: org-tags}
spec:
  required:
    - {key: team, values: [payments, web, "platform-*"]}
    - {key: cost-center, values: ["cc-*"]}
  defaults:
    environment: "{namespaceLabel:environment}"
  enforcement: %s
"""


def bucket(name: str, tags: str, namespace: str = "shop") -> str:
    return (
        "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{tags: {tags}}}\n"
    )


@pytest.fixture
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "cli-tp")
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    return aws


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tags_of(aws: Any, name: str) -> dict[str, str]:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}


def test_plan_exits_1_on_deny_then_0_once_compliant_and_defaults_reach_aws(
    cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY % "Deny")
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {environment: prod}\n"
    )
    manifest = tmp_path / "bucket.yaml"
    manifest.write_text(bucket("data", "{team: sales}"))

    code, out, _ = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_ERROR
    assert (
        "Bucket shop/data: error TagPolicyViolation: tag 'team' has value 'sales', not allowed (allowed: "
        "payments, web, platform-*) (TagPolicy org-tags, Deny); tag 'cost-center' is missing (allowed: cc-*) "
        "(TagPolicy org-tags, Deny)"
    ) in out
    code, _, _ = run(capsys, "apply", "-f", str(tmp_path))
    assert code == EXIT_ERROR  # and nothing was created:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=cli_env.url)
    assert "shop-data" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]

    manifest.write_text(bucket("data", "{team: platform-core, cost-center: cc-9}"))
    code, out, _ = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_CHANGES, out
    assert "  TagPolicy defaults: environment=prod (org-tags)" in out
    assert "environment" in out.split("TagPolicy defaults")[1]
    code, out, _ = run(capsys, "apply", "-f", str(tmp_path))
    assert code == EXIT_OK, out
    assert tags_of(cli_env, "shop-data")["environment"] == "prod"
    code, out, _ = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_OK, out


def test_tag_policy_flag_and_namespace_labels_flag(
    cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "org.yaml").write_text(POLICY % "Deny")
    manifest = tmp_path / "bucket.yaml"
    manifest.write_text(bucket("flags", "{team: web, cost-center: cc-1}"))

    code, out, _ = run(
        capsys,
        "plan",
        "-f",
        str(manifest),
        "--tag-policy",
        str(policies),
        "--namespace-labels",
        "shop=environment=qa",
        "-o",
        "json",
    )
    assert code == EXIT_CHANGES, out
    (obj,) = json.loads(out)["objects"]
    assert obj["tagPolicyDefaults"] == [{"key": "environment", "value": "qa", "policy": "org-tags"}]
    assert obj["tagPolicyViolations"] == []
    tags = next(c for c in obj["changes"] if c["path"] == "tags")["desired"]
    assert tags["environment"] == "qa"

    # without the label the default is skipped, and said so
    code, out, err = run(capsys, "plan", "-f", str(manifest), "--tag-policy", str(policies))
    assert code == EXIT_CHANGES
    assert "TagPolicy defaults" not in out
    assert (
        err.count("namespace shop: default 'environment' of TagPolicy org-tags: namespace label missing") == 1
    )


@pytest.mark.parametrize("mode", ["Warn", "Report"])
def test_warn_and_report_violations_do_not_fail_the_plan(
    mode: str, cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY % mode)
    (tmp_path / "bucket.yaml").write_text(bucket("soft", "{team: sales, cost-center: cc-1}"))
    code, out, err = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_CHANGES, out + err
    assert "warning: Bucket shop/soft: tag 'team' has value 'sales'" in err
    assert f"(TagPolicy org-tags, {mode})" in err


def test_conflicting_defaults_are_a_policy_error(
    cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata: {name: a}\nspec: {defaults: {env: dev}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata: {name: b}\nspec: {defaults: {env: prod}}\n"
    )
    (tmp_path / "bucket.yaml").write_text(bucket("conflict", "{team: web}"))
    code, _out, err = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_ERROR
    assert "conflicting defaults for tag 'env': 'dev' from a, 'prod' from b; none applied" in err


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (
            "spec: {defaults: {x: '{owner}'}}",
            "TagPolicy bad: spec.defaults: default 'x': unknown placeholder {owner}",
        ),
        ("spec: {kinds: [Bukket]}", "TagPolicy bad: unknown kind Bukket"),
    ],
    ids=["invalid-spec", "unknown-kind"],
)
def test_invalid_policy_exits_1_with_the_reason(
    policy: str, error: str, cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(
        f"apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata: {{name: bad}}\n{policy}\n"
    )
    (tmp_path / "bucket.yaml").write_text(bucket("x", "{team: web}"))
    code, _, err = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_ERROR
    assert error in err.replace("\n", "")


def test_bad_namespace_labels_flag(cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bucket.yaml").write_text(bucket("x", "{team: web}"))
    code, _, err = run(capsys, "plan", "-f", str(tmp_path), "--namespace-labels", "shop")
    assert code == EXIT_ERROR
    assert "expected NAMESPACE=KEY=VALUE" in err


def test_conflicting_defaults_refuse_apply_before_any_write(
    cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every object is judged before the first write: a conflict on one object stops the whole run, so
    no object (neither the conflicted one nor one that is fine) is created without the tag."""
    (tmp_path / "a.yaml").write_text(
        "apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata: {name: a}\nspec: {defaults: {env: a}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata: {name: b}\n"
        "spec: {defaults: {env: b}, kinds: [Queue]}\n"
    )
    (tmp_path / "objects.yaml").write_text(
        bucket("first", "{team: web}")
        + "---\napiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: jobs, namespace: shop}\n"
        "spec: {}\n"
    )
    code, out, err = run(capsys, "apply", "-f", str(tmp_path))
    assert code == EXIT_ERROR, out + err
    assert "Queue shop/jobs" in err and "conflicting defaults for tag 'env': 'a' from a, 'b' from b" in err
    assert "Bucket shop/first" not in err, "only the conflicted object is named"
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=cli_env.url)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=cli_env.url)
    assert s3.list_buckets().get("Buckets", []) == [], "nothing was created"
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_skipped_default_leaves_the_tag_an_earlier_run_wrote(
    cli_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `{namespaceLabel:x}` default skipped for lack of the label neither adds nor removes that tag:
    a run without `--namespace-labels` after one with it plans nothing and writes nothing."""
    (tmp_path / "policy.yaml").write_text(POLICY % "Deny")
    (tmp_path / "objects.yaml").write_text(
        bucket("kept", "{team: web, cost-center: cc-1}")
        + "---\napiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {name: kept, namespace: shop}\n"
        "spec: {tags: {team: web, cost-center: cc-1}}\n"
    )
    code, out, err = run(capsys, "apply", "-f", str(tmp_path), "--namespace-labels", "shop=environment=prod")
    assert code == EXIT_OK, out + err
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=cli_env.url)
    url = sqs.get_queue_url(QueueName="shop-kept")["QueueUrl"]
    assert tags_of(cli_env, "shop-kept")["environment"] == "prod"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"]["environment"] == "prod"

    code, out, err = run(capsys, "plan", "-f", str(tmp_path))
    assert code == EXIT_OK, out + err
    assert "namespace label missing" in err
    code, out, err = run(capsys, "apply", "-f", str(tmp_path), "-o", "json")
    assert code == EXIT_OK, out + err
    writes = [c for o in json.loads(out) for c in o["awsCalls"] if ":Get" not in c and ":List" not in c]
    assert [c for c in writes if "Tag" in c] == [], writes
    assert tags_of(cli_env, "shop-kept")["environment"] == "prod"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"]["environment"] == "prod"

    # with the label set to another value, the default is decided again and written
    code, out, err = run(capsys, "apply", "-f", str(tmp_path), "--namespace-labels", "shop=environment=qa")
    assert code == EXIT_OK, out + err
    assert tags_of(cli_env, "shop-kept")["environment"] == "qa"
