"""The CLI's journal of creates in flight: marks survive a process, updates are atomic, a broken file is
an error (never silently an empty journal that would forget a pending create)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from awsop.operator.journal import Journal, JournalError, default_path, key


def test_mark_is_recorded_read_back_by_another_instance_and_cleared(tmp_path: Path) -> None:
    path = tmp_path / "state" / "creates.json"
    entry = key("Bucket", "us-east-1", "data", "c/ns/data")
    before = time.time()
    Journal(path).record(entry, "Bucket ns/data")
    since = Journal(path).pending(entry)  # a new process reads the same file
    assert since is not None and before <= since <= time.time()
    assert Journal(path).pending(key("Bucket", "us-east-1", "data", "other/ns/data")) is None
    Journal(path).clear(entry)
    assert Journal(path).pending(entry) is None
    assert not list(path.parent.glob(".*.tmp")), "no temporary file is left behind"


def test_lookups_parse_the_file_once_until_another_run_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "creates.json"
    entry = key("Bucket", "us-east-1", "data", "c/ns/data")
    reader, other = Journal(path), Journal(path)
    other.record(entry, "Bucket ns/data")
    parsed: list[int] = []
    real = Journal._read

    def counted(self: Journal) -> dict[str, object]:
        parsed.append(1)
        return real(self)

    monkeypatch.setattr(Journal, "_read", counted)
    for _ in range(50):  # a plan looks up every object's entry
        assert reader.pending(entry) is not None and reader.started(entry) is None
    assert len(parsed) == 1
    other.clear(entry)  # another run's change is seen by the next lookup
    assert reader.pending(entry) is None
    assert len(parsed) == 3  # clear read it under the lock, the lookup once more


def test_missing_journal_reads_as_empty_without_creating_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "none" / "creates.json")
    assert journal.pending("x") is None
    journal.clear("x")
    assert not (tmp_path / "none").exists()


def test_unreadable_journal_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "creates.json"
    path.write_text("{not json")
    with pytest.raises(JournalError, match="unreadable"):
        Journal(path).pending("x")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({"AWSOP_JOURNAL": "/j/creates.json"}, "/j/creates.json", id="explicit"),
        pytest.param({"XDG_STATE_HOME": "/state"}, "/state/awsop/creates.json", id="xdg"),
        pytest.param({"HOME": "/home/u"}, "/home/u/.local/state/awsop/creates.json", id="home"),
    ],
)
def test_default_path(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    for name in ("AWSOP_JOURNAL", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert str(default_path()) == expected


def test_started_operation_is_kept_with_its_mark_until_cleared(tmp_path: Path) -> None:
    path = tmp_path / "creates.json"
    entry = key("Table", "us-east-1", "t", "c/ns/t")
    Journal(path).record(entry, "Table ns/t")
    since = Journal(path).pending(entry)
    assert Journal(path).started(entry) is None
    record = {"token": "arn:aws:dynamodb:us-east-1:1:table/t/import/1", "fingerprint": "f", "startedAt": ""}
    Journal(path).keep(entry, "Table ns/t", record)
    assert Journal(path).started(entry) == record  # another process reads it back
    assert Journal(path).pending(entry) == since, "the create mark is kept with it"
    Journal(path).clear(entry)
    assert Journal(path).started(entry) is None and Journal(path).pending(entry) is None


def test_concurrent_workers_of_one_run_lose_no_mark(tmp_path: Path) -> None:
    """The CLI's workers record and clear marks at once in one process: every update lands (the lock file
    serialises threads too: each update opens it anew, and flock locks belong to the open file)."""
    import threading

    path = tmp_path / "creates.json"
    entries = [key("Bucket", "us-east-1", f"b{i}", f"c/ns/b{i}") for i in range(64)]
    start = threading.Barrier(16)

    def worker(mine: list[str]) -> None:
        journal = Journal(path)
        start.wait()
        for entry in mine:
            journal.record(entry, entry)
        for entry in mine[::2]:
            journal.clear(entry)

    threads = [threading.Thread(target=worker, args=(entries[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal = Journal(path)
    kept = {e for e in entries if journal.pending(e) is not None}
    assert kept == {e for i in range(16) for e in entries[i::16][1::2]}


def test_a_retried_create_keeps_the_first_marks_time(tmp_path: Path) -> None:
    """Attempt 1 marks and creates, then fails (a timeout after AWS made the bucket); attempt 2 marks
    again. The mark must keep attempt 1's time, or a run killed after attempt 2 leaves a resource AWS
    dates before the mark, which the next run would refuse as someone else's."""
    path = tmp_path / "creates.json"
    entry = key("Bucket", "us-east-1", "b", "c/ns/b")
    Journal(path).record(entry, "Bucket ns/b")
    first = Journal(path).pending(entry)
    time.sleep(0.01)
    Journal(path).record(entry, "Bucket ns/b")
    assert Journal(path).pending(entry) == first
    Journal(path).clear(entry)
    Journal(path).record(entry, "Bucket ns/b")
    assert (Journal(path).pending(entry) or 0) > (first or 0), "a cleared mark starts afresh"
