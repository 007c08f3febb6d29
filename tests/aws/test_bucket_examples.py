"""The S3 examples apply on a fresh emulator and plan clean afterwards, and their no-op checks stay
within 1 + declared facets calls (plus the ownership tags every check reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from awsop.operator import cli

pytestmark = pytest.mark.aws

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def reversed_copy(tmp_path: Path, name: str) -> str:
    """The example with its documents in the opposite order (the CLI orders by reference, not by file)."""
    docs = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    path = tmp_path / f"reversed-{name}"
    path.write_text(yaml.safe_dump_all(list(reversed(docs))))
    return str(path)


@pytest.mark.parametrize("order", ["as-written", "reversed"])
def test_bucket_notifications_example_applies_then_plans_clean(
    aws: Any, tmp_path: Path, order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    example = str(EXAMPLES / "bucket-notifications.yaml")
    if order == "reversed":
        example = reversed_copy(tmp_path, "bucket-notifications.yaml")
    assert cli.main(["apply", "-f", example]) == cli.EXIT_OK, capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["plan", "-f", example, "-o", "json"]) == cli.EXIT_OK
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    configs = s3.get_bucket_notification_configuration(Bucket="awsop-example-uploads")["QueueConfigurations"]
    assert sorted(c["Id"] for c in configs) == ["new-images", "removed-objects"]
    assert all(c["QueueArn"].endswith(":default-upload-events") for c in configs)


def test_bucket_notifications_example_without_the_queue_statement_waits(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "bucket-notifications.yaml").read_text()) if d]
    for doc in docs:
        doc["spec"].pop("policy", None)
    path = tmp_path / "no-policy.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    code = cli.main(["apply", "-f", str(path), "--wait=false", "-o", "json"])
    out = capsys.readouterr().out
    assert code != cli.EXIT_OK
    assert "QueuePolicyMissing" in out and "s3.amazonaws.com" in out, out
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    found = s3.get_bucket_notification_configuration(Bucket="awsop-example-uploads")
    assert "QueueConfigurations" not in found
    json.loads(out)  # still a well-formed report


def test_bucket_static_site_example_applies_then_plans_clean_within_budget(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    example = str(EXAMPLES / "bucket-static-site.yaml")
    assert cli.main(["apply", "-f", example]) == cli.EXIT_OK, capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["plan", "-f", example]) == cli.EXIT_OK
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    site = s3.get_bucket_website(Bucket="awsop-example-static-site")
    assert site["IndexDocument"] == {"Suffix": "index.html"} and len(site["RoutingRules"]) == 2
    assert s3.get_bucket_accelerate_configuration(Bucket="awsop-example-static-site")["Status"] == "Enabled"


@pytest.mark.parametrize("order", ["as-written", "reversed"])
def test_bucket_replicated_pair_example_applies_then_plans_clean(
    aws: Any, tmp_path: Path, order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    example = str(EXAMPLES / "bucket-replicated.yaml")
    if order == "reversed":
        example = reversed_copy(tmp_path, "bucket-replicated.yaml")
    assert cli.main(["apply", "-f", example]) == cli.EXIT_OK, capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["plan", "-f", example]) == cli.EXIT_OK, capsys.readouterr().out
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    [rule] = s3.get_bucket_replication(Bucket="awsop-example-reports")["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["Bucket"] == "arn:aws:s3:::awsop-example-reports-replica"


def test_bucket_replication_to_a_destination_declaring_suspended_versioning_fails_the_plan(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "bucket-replicated.yaml").read_text()) if d]
    docs[1]["spec"]["versioning"] = "Suspended"
    path = tmp_path / "suspended.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert cli.main(["apply", "-f", str(path), "--wait=false"]) != cli.EXIT_OK
    out = capsys.readouterr().out
    assert "replication.rules[0].destination.bucket" in out and "versioning Suspended" in out, out
    assert cli.main(["plan", "-f", str(path)]) != cli.EXIT_OK
    out = capsys.readouterr().out
    assert "replication.rules[0].destination.bucket" in out, out


def test_bucket_replication_without_source_versioning_refused_by_plan(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "bucket-replicated.yaml").read_text()) if d]
    del docs[0]["spec"]["versioning"]
    path = tmp_path / "unversioned.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert cli.main(["plan", "-f", str(path)]) != cli.EXIT_OK
    captured = capsys.readouterr()
    assert "versioning" in captured.out + captured.err and "replication" in captured.out + captured.err


def test_example_buckets_noop_check_within_one_plus_declared_facets(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The three S3 completeness examples applied together, then applied again (nothing to do): each
    bucket's check costs HeadBucket + its ownership tags + one read per declared facet, and nothing else
    (no precondition reads either: those come only before a write)."""
    from awsop.reconcilers.bucket import FACETS

    names = ["bucket-notifications.yaml", "bucket-replicated.yaml", "bucket-static-site.yaml"]
    files = [str(EXAMPLES / name) for name in names]
    args = [arg for path in files for arg in ("-f", path)]
    assert cli.main(["apply", *args]) == cli.EXIT_OK, capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["plan", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["apply", *args, "-o", "json"]) == cli.EXIT_OK
    planned = json.loads(capsys.readouterr().out)
    declared = {
        d["metadata"]["name"]: d["spec"]
        for name in names
        for d in yaml.safe_load_all((EXAMPLES / name).read_text())
        if d and d["kind"] == "Bucket"
    }
    facet_paths = [facet.path for facet in FACETS]
    checked = 0
    for entry in planned:
        calls = entry["awsCalls"]
        if entry["kind"] != "Bucket":
            continue
        assert entry["action"] == "none", entry
        spec = next(s for s in declared.values() if s["name"] == entry["awsName"])
        facets = [p for p in facet_paths if p in spec]
        assert calls[:2] == ["s3:HeadBucket", "s3:GetBucketTagging"], entry
        assert len(calls) == 2 + len(facets), (facets, calls)
        assert not any(":Put" in c or ":Delete" in c for c in calls)
        checked += 1
    assert checked == len(declared) == 4
