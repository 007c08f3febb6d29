"""An AWSAccount's users, as the operator keeps them: the OBJECTS column follows within a round of the
account checker (one second), written only when the number moved; an account in use carries a finalizer,
and a deleted account in use stays, saying which objects use it, until none does."""

from __future__ import annotations

from typing import Any

import pytest

from awsop.operator import accounts
from awsop.operator.settings import Settings
from awsop.reconcilers.account import AccountRef, AWSAccountSpec
from awsop.reconcilers.engine import ObjectRef

SPEC = AWSAccountSpec.model_validate({"roleArn": "arn:aws:iam::111111111111:role/awsop", "namespaces": ["a"]})


class Recorded:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.cluster: list[dict[str, Any]] = []

    def write(self, name: str, body: dict[str, Any]) -> None:
        self.writes.append(body)

    def post(self, body: Any, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))

    def list_objects(self, info: Any) -> list[dict[str, Any]]:
        return [item for item in self.cluster if item["kind"] == info.kind]


@pytest.fixture
def setup(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded]:
    monkeypatch.setattr(accounts, "check_account", lambda *a, **k: (True, 300.0))
    directory = accounts.AccountDirectory()
    directory.put_account("acct", SPEC)
    directory.put_namespace("a", ({}, {"awsop.io/account": "acct"}))
    seen = Recorded()
    checker = accounts.AccountChecker(
        Settings(), directory, seen, list_objects=seen.list_objects, write=seen.write
    )
    checker.seen("acct", body())
    checker.run_due(0.0)
    seen.writes.clear()
    return directory, checker, seen


def body(deleting: bool = False, finalizers: list[str] | None = None, objects: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "acct", "generation": 1, "uid": "acct-uid"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "awsop.io/v1alpha1",
        "kind": "AWSAccount",
        "metadata": meta,
        "spec": SPEC.model_dump(by_alias=True),
        "status": {"objects": objects},
    }


def use(directory: accounts.AccountDirectory, uid: str, name: str) -> None:
    resolved = directory.resolve("a", AccountRef(name="acct"), uid, ref=ObjectRef("Bucket", "a", name, 1))
    assert resolved.denial is None


def test_objects_column_follows_users_within_a_round_and_only_when_the_count_moves(
    setup: tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded],
) -> None:
    directory, checker, seen = setup
    for i in range(6):
        use(directory, f"uid-{i}", f"b{i}")
    checker.run_due(1.0)
    assert seen.writes == [
        {"status": {"objects": 6}, "metadata": {"finalizers": [accounts.ACCOUNT_FINALIZER]}}
    ]
    use(directory, "uid-0", "b0")  # reconciled again: same account, same count
    checker.run_due(2.0)
    checker.run_due(3.0)
    assert len(seen.writes) == 1, "no change in the count: no write (no status churn)"
    directory.forget("uid-5")
    checker.run_due(4.0)
    assert seen.writes[-1] == {"status": {"objects": 5}}
    for i in range(5):
        directory.forget(f"uid-{i}")
    checker.run_due(5.0)
    assert seen.writes[-1] == {"status": {"objects": 0}, "metadata": {"finalizers": []}}


def test_deleted_account_in_use_keeps_its_finalizer_and_names_its_users_until_none_does(
    setup: tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded],
) -> None:
    directory, checker, seen = setup
    use(directory, "uid-1", "photos")
    use(directory, "uid-2", "logs")
    checker.run_due(1.0)
    seen.writes.clear()
    checker.seen("acct", body(deleting=True, finalizers=[accounts.ACCOUNT_FINALIZER], objects=2))
    checker.run_due(2.0)
    condition = seen.writes[-1]["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "InUse")
    assert "Bucket a/logs, Bucket a/photos" in condition["message"]
    assert seen.events == [("Warning", "InUse", condition["message"])]
    checker.run_due(3.0)
    assert len(seen.writes) == 1 and len(seen.events) == 1, "told once, not at every round"

    # the operator forgot them (deleted), but the cluster still lists one that names the account
    directory.forget("uid-1")
    directory.forget("uid-2")
    seen.cluster = [
        {
            "kind": "Queue",
            "metadata": {"name": "jobs", "namespace": "b"},
            "spec": {"accountRef": {"name": "acct"}},
        },
        {"kind": "Queue", "metadata": {"name": "other", "namespace": "b"}, "spec": {}},
    ]
    checker.run_due(10.0)
    assert "1 objects still use it: Queue b/jobs" in seen.writes[-1]["status"]["conditions"][0]["message"]
    assert all("finalizers" not in w.get("metadata", {}) for w in seen.writes)
    seen.cluster = []
    checker.run_due(12.0)
    assert all("finalizers" not in w.get("metadata", {}) for w in seen.writes), (
        "the cluster is listed every 5 s"
    )
    checker.run_due(16.0)
    assert seen.writes[-1] == {"metadata": {"finalizers": []}}


def test_an_account_nobody_uses_is_deleted_at_once(
    setup: tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded],
) -> None:
    _, checker, seen = setup
    checker.seen("acct", body(deleting=True))
    checker.run_due(1.0)
    assert seen.writes == [] and seen.events == []


def test_a_check_that_resolves_after_the_deletion_does_not_count_the_object_again(
    setup: tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded],
) -> None:
    """A drift check that began before the object's deletion resolves its account after the delete handler
    forgot it: the object stays uncounted (else OBJECTS and the finalizer would stay for a deleted object)."""
    directory, checker, seen = setup
    use(directory, "uid-1", "q")
    directory.forget("uid-1")
    use(directory, "uid-1", "q")
    assert directory.users_of("acct") == 0
    checker.run_due(1.0)
    assert seen.writes == []


def test_after_a_start_an_account_keeps_its_users_until_they_are_resumed(
    setup: tuple[accounts.AccountDirectory, accounts.AccountChecker, Recorded],
) -> None:
    """Right after a start no object has been resumed yet (and a standby replica resumes none): a count of
    0 neither empties OBJECTS nor drops the finalizer of an account that had users; once a user was seen,
    the count is live."""
    directory, checker, seen = setup
    checker.seen("acct", body(finalizers=[accounts.ACCOUNT_FINALIZER], objects=3))
    checker.run_due(1.0)
    assert seen.writes == []
    use(directory, "uid-1", "q")
    checker.run_due(2.0)
    assert seen.writes == [{"status": {"objects": 1}}]
    directory.forget("uid-1")
    checker.run_due(3.0)
    assert seen.writes[-1] == {"status": {"objects": 0}, "metadata": {"finalizers": []}}
