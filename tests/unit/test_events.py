"""Events aggregated like Kubernetes' own recorder: one Event per (object, type, reason, message), a repeat
patches its count and lastTimestamp; a new message is a new Event; an expired Event is created again."""

from __future__ import annotations

from typing import Any

from awsop.operator.events import EventRecorder

BODY = {
    "apiVersion": "s3.awsop.io/v1alpha1",
    "kind": "Bucket",
    "metadata": {"name": "photos", "namespace": "team-a", "uid": "uid-1"},
}


class Api:
    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []

    def create(self, namespace: str, event: dict[str, Any]) -> None:
        self.calls.append("create")
        self.events[(namespace, event["metadata"]["name"])] = event

    def update(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.calls.append("patch")
        if (namespace, name) not in self.events:
            return False
        self.events[(namespace, name)].update(patch)
        return True


def recorder(api: Api) -> EventRecorder:
    ticks = iter(f"2026-01-01T00:00:{i:02d}Z" for i in range(60))
    return EventRecorder(api.create, api.update, now=lambda: next(ticks))


def test_a_repeated_event_is_counted_on_the_first_not_posted_again() -> None:
    api = Api()
    rec = recorder(api)
    for _ in range(4):
        rec.post(BODY, "Warning", "DriftDetected", "versioning: Suspended -> Enabled")
    assert api.calls == ["create", "patch", "patch", "patch"]
    [event] = api.events.values()
    assert event["count"] == 4
    assert (event["firstTimestamp"], event["lastTimestamp"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:03Z",
    )
    assert event["involvedObject"] == {
        "apiVersion": "s3.awsop.io/v1alpha1",
        "kind": "Bucket",
        "name": "photos",
        "namespace": "team-a",
        "uid": "uid-1",
    }
    assert (event["type"], event["reason"], event["source"]) == (
        "Warning",
        "DriftDetected",
        {"component": "awsop"},
    )


def test_a_new_drift_is_a_new_event_and_an_expired_one_is_created_again() -> None:
    api = Api()
    rec = recorder(api)
    rec.post(BODY, "Warning", "DriftDetected", "versioning: Suspended -> Enabled")
    rec.post(BODY, "Warning", "DriftDetected", "tags: {team: b -> a}")
    assert len(api.events) == 2
    api.events.clear()  # the API server's TTL removed them
    rec.post(BODY, "Warning", "DriftDetected", "tags: {team: b -> a}")
    assert api.calls[-2:] == ["patch", "create"] and len(api.events) == 1
    assert next(iter(api.events.values()))["count"] == 1


def test_events_of_cluster_scoped_objects_go_to_default_and_a_failure_never_raises() -> None:
    api = Api()
    rec = recorder(api)
    account = {"apiVersion": "awsop.io/v1alpha1", "kind": "AWSAccount", "metadata": {"name": "a", "uid": "u"}}
    rec.post(account, "Warning", "InUse", "in use")
    assert [ns for ns, _ in api.events] == ["default"]

    def refuse(namespace: str, event: dict[str, Any]) -> None:
        raise RuntimeError("403 Forbidden")

    EventRecorder(refuse, api.update).post(BODY, "Normal", "Created", "created")  # logged, not raised
