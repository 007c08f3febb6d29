"""`awsop apply` of a table imported from S3 across separate runs: the journal hands the import's ARN from
one run to the next, so a later plan or apply follows that import instead of starting a second one.
Each `cli.main` builds its own engine and clients; the journal file is all the runs share."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from moto.dynamodb.models import dynamodb_backends

from awsop.operator import cli
from awsop.operator.journal import Journal, key

pytestmark = pytest.mark.aws

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "table-imported.yaml"
ENTRY = key("Table", "us-east-1", "default-orders-archive", "cli/default/orders-archive")


@pytest.fixture(autouse=True)
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "cli")
    monkeypatch.setenv("AWSOP_JOURNAL", str(tmp_path / "journal.json"))
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")
    monkeypatch.setattr(cli, "RETRY_DELAY", 0.05, raising=False)


def imports() -> list[Any]:
    return list(dynamodb_backends["123456789012"]["us-east-1"].table_imports.values())


def test_second_run_follows_the_recorded_import_instead_of_starting_another(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.json")
    assert cli.main(["apply", "-f", str(EXAMPLE), "--wait=false"]) == cli.EXIT_OK
    record = journal.started(ENTRY)
    assert record is not None and ":table/default-orders-archive/import/" in record["token"]
    assert journal.pending(ENTRY) is not None  # the create mark stays with the record
    for _ in range(100):  # moto's import thread
        if imports()[0].status != "IN_PROGRESS":
            break
        time.sleep(0.05)

    # a plan reads the import (done), shows the tags and settings still to write, and keeps the record
    assert cli.main(["plan", "-f", str(EXAMPLE)]) == cli.EXIT_CHANGES
    assert journal.started(ENTRY) == record

    assert cli.main(["apply", "-f", str(EXAMPLE)]) == cli.EXIT_OK
    assert len(imports()) == 1, "one import only, whatever the number of runs"
    assert journal.started(ENTRY) is None and journal.pending(ENTRY) is None
    assert cli.main(["plan", "-f", str(EXAMPLE)]) == cli.EXIT_OK


def test_failed_import_recorded_by_one_run_is_not_started_again_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "table.yaml"
    text = EXAMPLE.read_text().split("---\n", 1)[1]  # the Table alone, from a bucket that does not exist
    manifest.write_text(
        text.replace("bucket: {ref: {name: orders-export}}", "bucket: {name: no-such-source}")
    )
    assert cli.main(["apply", "-f", str(manifest), "--wait=false"]) == cli.EXIT_OK
    for _ in range(100):
        if imports()[0].status != "IN_PROGRESS":
            break
        time.sleep(0.05)
    capsys.readouterr()
    assert cli.main(["apply", "-f", str(manifest)]) == cli.EXIT_ERROR
    assert "S3NoSuchBucket" in capsys.readouterr().out
    assert cli.main(["apply", "-f", str(manifest)]) == cli.EXIT_ERROR
    assert len(imports()) == 1
    assert Journal(tmp_path / "journal.json").started(ENTRY) is not None
