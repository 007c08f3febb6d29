"""The kopf adapters: body in, engine called, status patch and Events out, outcome mapped to kopf's retry
semantics. kopf itself is not running here (the e2e suite does that); Events are captured."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from awsop.operator import handlers, kube
from awsop.operator.settings import Settings
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.bucket import BucketClient
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.kinds import KINDS

pytestmark = pytest.mark.aws
BUCKET = KINDS["Bucket"]


@pytest.fixture
def runtime(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(handlers.Runtime, "settings", Settings(cluster_id="kube"), raising=False)
    monkeypatch.setattr(
        handlers.Runtime, "engine", Engine(clients, EngineConfig(cluster_id="kube")), raising=False
    )
    monkeypatch.setattr(handlers.Runtime, "clients", {"Bucket": BucketClient(clients)}, raising=False)
    monkeypatch.setattr(handlers.Runtime, "last_check", {})
    monkeypatch.setattr(handlers.Runtime, "failures", {})
    monkeypatch.setattr(handlers.Runtime, "applied", {})

    def record(body: Any, *, type: str, reason: str, message: str = "") -> None:
        events.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", record)
    monkeypatch.setattr(
        kopf,
        "warn",
        lambda body, *, reason, message="": record(body, type="Warning", reason=reason, message=message),
    )
    monkeypatch.setattr(kube, "annotate", lambda *a, **k: None)
    return events


def body(
    spec: dict[str, Any], generation: int = 1, status: dict[str, Any] | None = None, **annotations: str
) -> dict[str, Any]:
    return {
        "apiVersion": "s3.awsop.io/v1alpha1",
        "kind": "Bucket",
        "metadata": {
            "name": "data",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": generation,
            "annotations": annotations,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": status or {},
    }


def call(fn: Any, obj: dict[str, Any], retry: int = 0) -> kopf.Patch:
    patch = kopf.Patch()
    fn(
        BUCKET,
        body=obj,
        meta=obj["metadata"],
        spec=obj["spec"],
        status=obj["status"],
        patch=patch,
        retry=retry,
    )
    return patch


def conditions(patch: kopf.Patch) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in patch["status"]["conditions"]}


def test_handler_create_writes_ready_status_and_event(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    patch = call(handlers.reconcile, body({"versioning": "Enabled"}))
    assert conditions(patch)["Ready"] == ("True", "Created")
    assert conditions(patch)["Synced"] == ("True", "Created")
    assert patch["status"]["observedGeneration"] == 1
    assert patch["status"]["awsName"] == "ns-data"
    assert runtime[0][:2] == ("Normal", "Created")
    assert s3.get_bucket_versioning(Bucket="ns-data")["Status"] == "Enabled"


def test_handler_noop_resync_writes_nothing(runtime: list[tuple[str, str, str]]) -> None:
    first = call(handlers.reconcile, body({}))
    second = call(handlers.reconcile, body({}, status=first["status"]))
    third = call(handlers.reconcile, body({}, status={**first["status"], **second.get("status", {})}))
    assert "status" not in third, "a no-op reconcile must not write status (no churn)"


def test_handler_invalid_spec_is_permanent_with_stalled_condition(
    runtime: list[tuple[str, str, str]],
) -> None:
    obj = body({"name": "Not_A_Bucket"})
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError):
        handlers.reconcile(
            BUCKET, body=obj, meta=obj["metadata"], spec=obj["spec"], status={}, patch=patch, retry=0
        )
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidSpec"
    assert "spec.name" in stalled["message"]
    assert runtime == [("Warning", "InvalidSpec", stalled["message"])]


def test_handler_conflict_is_permanent_not_retried(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    s3.create_bucket(Bucket="ns-data")
    with pytest.raises(kopf.PermanentError, match="AlreadyExists"):
        call(handlers.reconcile, body({}))


def test_handler_transient_error_is_temporary_with_backoff(
    runtime: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise ConnectionError("reset by peer")

    monkeypatch.setattr(BucketClient, "observe", boom)
    with pytest.raises(kopf.TemporaryError) as first:
        call(handlers.reconcile, body({}), retry=0)
    with pytest.raises(kopf.TemporaryError) as later:
        call(handlers.reconcile, body({}), retry=4)
    assert 0 < first.value.delay < later.value.delay <= 300 * 1.2  # type: ignore[operator]


def test_handler_paused_makes_no_aws_calls(runtime: list[tuple[str, str, str]], clients: AwsClients) -> None:
    with clients.log.capture() as calls:
        patch = call(handlers.reconcile, body({}, **{"awsop.io/paused": "true"}))
    assert calls == []
    assert patch["status"]["conditions"][0]["reason"] == "Paused"


def test_handler_plan_only_records_plan_without_writing(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    patch = call(handlers.reconcile, body({"versioning": "Enabled"}, **{"awsop.io/plan-only": "true"}))
    plan = patch["status"]["plan"]
    assert plan["action"] == "create"
    assert plan["calls"] == ["s3:CreateBucket", "s3:PutBucketVersioning"]  # the tags go with the create
    assert s3.list_buckets()["Buckets"] == []


def test_handler_drift_reported_sets_drifted_and_keeps_detected_at(
    runtime: list[tuple[str, str, str]], s3: Any
) -> None:
    spec = {"versioning": "Enabled", "driftPolicy": "Report"}
    created = call(handlers.reconcile, body(spec))
    s3.put_bucket_versioning(Bucket="ns-data", VersioningConfiguration={"Status": "Suspended"})
    drifted = call(handlers.reconcile, body(spec, status=created["status"]))
    assert conditions(drifted)["Drifted"] == ("True", "DriftDetected")
    assert conditions(drifted)["Ready"] == ("False", "Drifted")
    entry = drifted["status"]["drift"][0]
    assert (entry["path"], entry["desired"], entry["actual"]) == ("versioning", "Enabled", "Suspended")
    status = {**created["status"], **drifted["status"]}
    again = call(handlers.reconcile, body(spec, status=status))
    assert "drift" not in again.get("status", {}), "unchanged drift keeps its detectedAt: no rewrite"


def test_handler_spec_change_under_report_is_applied(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    spec = {"versioning": "Enabled", "driftPolicy": "Report"}
    created = call(handlers.reconcile, body(spec))
    changed = call(
        handlers.reconcile, body({**spec, "versioning": "Suspended"}, generation=2, status=created["status"])
    )
    assert conditions(changed)["Ready"] == ("True", "Updated")
    assert s3.get_bucket_versioning(Bucket="ns-data")["Status"] == "Suspended"


def test_handler_delete_blocked_keeps_finalizer(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    spec = {"deletionPolicy": "Delete"}
    call(handlers.reconcile, body(spec))
    s3.put_object(Bucket="ns-data", Key="k", Body=b"x")
    with pytest.raises(kopf.TemporaryError, match="emptyOnDelete"):
        call(handlers.delete, body(spec))
    assert ("Warning", "BucketNotEmpty") in [(t, r) for t, r, _ in runtime]


def test_handler_delete_retain_releases(runtime: list[tuple[str, str, str]], s3: Any) -> None:
    call(handlers.reconcile, body({}))
    call(handlers.delete, body({}))
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["ns-data"]
    assert ("Normal", "Retained") in [(t, r) for t, r, _ in runtime]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("120", 120), ("soon", None)]
)
def test_resync_period_annotation_parsing(text: str, seconds: float | None) -> None:
    assert handlers.parse_duration(text) == seconds


def test_drift_timer_never_rechecks_a_stalled_object(
    runtime: list[tuple[str, str, str]], s3: Any, clients: AwsClients
) -> None:
    s3.create_bucket(Bucket="ns-data")
    obj = body({})
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError):
        handlers.reconcile(BUCKET, body=obj, meta=obj["metadata"], spec={}, status={}, patch=patch, retry=0)
    stalled = body({}, status=dict(patch["status"]))
    handlers.Runtime.last_check["uid-1"] = 0.0  # long overdue
    with clients.log.capture() as calls:
        call(handlers.drift_check, stalled)
    assert calls == [], "a terminal error is not retried until the spec changes"


def test_drift_after_a_failed_check_is_still_drift_under_report(
    runtime: list[tuple[str, str, str]], s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"versioning": "Enabled", "driftPolicy": "Report"}
    created = call(handlers.reconcile, body(spec))

    def flaky(self: BucketClient, target: Any) -> Any:
        raise ConnectionError("reset")

    with monkeypatch.context() as m:
        m.setattr(BucketClient, "observe", flaky)
        obj, patch = body(spec, status=created["status"]), kopf.Patch()
        with pytest.raises(kopf.TemporaryError):
            handlers.reconcile(
                BUCKET, body=obj, meta=obj["metadata"], spec=spec, status=obj["status"], patch=patch, retry=0
            )
    after_failure = {**created["status"], **patch["status"]}
    assert conditions(patch)["Synced"][0] == "False"
    s3.put_bucket_versioning(Bucket="ns-data", VersioningConfiguration={"Status": "Suspended"})
    handlers.Runtime.applied.clear()  # as after a restart: only the status remembers
    outcome = call(handlers.reconcile, body(spec, status=after_failure))
    assert conditions(outcome)["Drifted"] == ("True", "DriftDetected")
    assert s3.get_bucket_versioning(Bucket="ns-data")["Status"] == "Suspended", (
        "Report never writes drift back"
    )
