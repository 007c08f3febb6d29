"""`awsop plan/apply` in-process against moto over HTTP: the create journal, manifest sets that name one
bucket twice, the plan summary, and concurrent runs of one owner."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from awsop.operator import cli
from awsop.operator.journal import Journal, key
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

BUCKET = """\
apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata: {{name: {name}, namespace: {namespace}}}
spec: {spec}
---
"""


@pytest.fixture(autouse=True)
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "cli")
    monkeypatch.setenv("AWSOP_JOURNAL", str(tmp_path / "journal.json"))
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")
    monkeypatch.setattr(cli, "RETRY_DELAY", 0.05, raising=False)


def manifest(tmp_path: Path, *objects: tuple[str, str, str], file: str = "set.yaml") -> str:
    path = tmp_path / file
    path.write_text("".join(BUCKET.format(name=n, namespace=ns, spec=spec) for n, ns, spec in objects))
    return str(path)


def tags_of(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        return {}


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_two_objects_managing_one_bucket_reject_the_set_naming_both(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = manifest(
        tmp_path,
        ("one", "team-a", "{name: shared-bucket-x}"),
        ("watch", "team-c", "{name: shared-bucket-x, managementPolicy: ObserveOnly, adoptionPolicy: Adopt}"),
        ("two", "team-b", "{name: shared-bucket-x, versioning: Enabled, region: eu-west-1}"),
    )
    assert cli.main([command, "-f", path]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.replace("\n", " ")
    assert f"{path}#0 Bucket team-a/one and" in err and f"{path}#2 Bucket team-b/two" in err
    assert "both manage Bucket shared-bucket-x;" in err  # bucket names are global: regions do not matter
    assert "team-c/watch" not in err, "a read-only watcher never conflicts"
    assert s3.list_buckets()["Buckets"] == []


def test_plan_summary_counts_only_writes_apply_would_make(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.create_bucket(Bucket="watched-bucket")
    path = manifest(
        tmp_path,
        (
            "w",
            "ns",
            "{name: watched-bucket, managementPolicy: ObserveOnly, adoptionPolicy: Adopt, "
            "versioning: Enabled}",
        ),
    )
    assert cli.main(["plan", "-f", path]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "drifted" in out and "Plan: 0 of 1 objects to change, 0 AWS write calls." in out


def test_apply_recognises_its_own_create_interrupted_before_tagging(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """What kill -9 after CreateBucket leaves: the journal mark, and an untagged bucket created after it."""
    path = manifest(tmp_path, ("data", "crash", "{versioning: Enabled}"))
    journal = Journal(tmp_path / "journal.json")
    entry = key("Bucket", "us-east-1", "crash-data", "cli/crash/data")
    journal.record(entry, "Bucket crash/data")
    s3.create_bucket(Bucket="crash-data")
    assert cli.main(["apply", "-f", path]) == cli.EXIT_OK, capsys.readouterr()
    assert tags_of(s3, "crash-data")[OWNER_TAG] == "cli/crash/data"
    assert journal.pending(entry) is None, "cleared once the create is confirmed"
    assert cli.main(["plan", "-f", path]) == cli.EXIT_OK


def test_apply_without_a_journal_mark_refuses_an_untagged_bucket(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWSOP_CREATE_WINDOW_SECONDS", "0")  # the bucket is older than any create in flight
    s3.create_bucket(Bucket="crash-data")
    path = manifest(tmp_path, ("data", "crash", "{}"))
    assert cli.main(["apply", "-f", path, "--journal", str(tmp_path / "other.json")]) == cli.EXIT_ERROR
    assert "AlreadyExists" in capsys.readouterr().out
    assert tags_of(s3, "crash-data") == {}


def test_journal_mark_is_written_before_the_create_and_cleared_after(tmp_path: Path, s3: Any) -> None:
    path = manifest(tmp_path, ("data", "j", "{}"))
    journal = Journal(tmp_path / "journal.json")
    entry = key("Bucket", "us-east-1", "j-data", "cli/j/data")
    seen: list[float | None] = []
    original = cli.Engine.reconcile

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = kwargs["before_create"]

        def record() -> None:
            before()
            seen.append(journal.pending(entry))

        return original(self, *args, **{**kwargs, "before_create": record})

    cli.Engine.reconcile = spy  # type: ignore[method-assign]
    try:
        assert cli.main(["apply", "-f", path]) == cli.EXIT_OK
    finally:
        cli.Engine.reconcile = original  # type: ignore[method-assign]
    assert len(seen) == 1 and seen[0] is not None
    assert journal.pending(entry) is None


def test_two_concurrent_applies_of_one_owner_both_converge(tmp_path: Path, s3: Any) -> None:
    objects = [(f"b{i}", "conc", "{versioning: Enabled, tags: {team: x}}") for i in range(4)]
    objects.append(("eu", "conc", "{region: eu-west-1}"))
    path = manifest(tmp_path, *objects)

    def run(barrier: threading.Barrier, codes: list[int]) -> None:
        barrier.wait()
        codes.append(cli.main(["apply", "-f", path, "-o", "json"]))

    for round_ in range(3):
        codes: list[int] = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(barrier, codes)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert codes == [0, 0], f"round {round_}"
        for name in [f"conc-b{i}" for i in range(4)] + ["conc-eu"]:
            assert tags_of(s3, name)[OWNER_TAG].startswith("cli/conc/")
        for bucket in s3.list_buckets()["Buckets"]:
            s3.delete_bucket(Bucket=bucket["Name"])
