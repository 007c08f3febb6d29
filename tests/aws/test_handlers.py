"""The kopf adapters: body in, engine called, status patch and Events out, outcome mapped to kopf's retry
semantics. kopf itself is not running here (the e2e suite does that); Events are captured."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import kopf
import pytest

from awsop.operator import handlers, kube
from awsop.operator.events import EventRecorder
from awsop.operator.settings import Settings
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.bucket import BucketClient
from awsop.reconcilers.engine import Engine, EngineConfig, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS

pytestmark = pytest.mark.aws
BUCKET = KINDS["Bucket"]


class Writes(list[tuple[str, str, dict[str, Any]]]):
    """What the handlers wrote to the API server (status and metadata), in order."""

    def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.append((namespace, name, body))


RT: dict[str, handlers.Runtime] = {}  # the Runtime of the running test, for `call`


class NoNamespaces(kube.NamespacePhases):
    def terminating(self, namespace: str) -> bool:
        return False


@pytest.fixture
def runtime(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    RT["current"] = handlers.Runtime(
        Settings(cluster_id="kube"),
        # create_window 0: an untagged bucket made by a test is someone else's at once, not a create
        # in flight (tests/aws/test_create_races.py covers the window)
        Engine(clients, EngineConfig(cluster_id="kube", create_window=0)),
        {"Bucket": BucketClient(clients)},
        write=Writes(),
        namespaces=NoNamespaces(),
    )

    def record(body: Any, *, type: str, reason: str, message: str = "") -> None:
        events.append((type, reason, message))

    monkeypatch.setattr(
        EventRecorder,
        "post",
        lambda self, body, type, reason, message: record(body, type=type, reason=reason, message=message),
    )
    monkeypatch.setattr(
        kopf,
        "warn",
        lambda body, *, reason, message="": record(body, type="Warning", reason=reason, message=message),
    )
    monkeypatch.setattr(kube, "annotate", lambda *a, **k: None)
    # a Bucket may be another Bucket's replication destination: its deletion lists the namespace's
    # Buckets for users first (none here)
    monkeypatch.setattr(kube, "list_objects", lambda info, namespace: [])
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
    """Run a handler; the returned patch is what it wrote to the API server (merged, in order)."""
    rt = RT["current"]
    written = rt.write if isinstance(rt.write, Writes) else Writes()
    before = len(written)
    try:
        fn(
            BUCKET,
            RT["current"],
            body=obj,
            meta=obj["metadata"],
            spec=obj["spec"],
            status=obj["status"],
            patch=kopf.Patch(),
            retry=retry,
        )
    finally:
        merged = kopf.Patch()
        for _, _, body in written[before:]:
            for stanza, values in body.items():
                merged.setdefault(stanza, {}).update(values)
        call.last = merged  # type: ignore[attr-defined]
    return merged


@contextmanager
def aws_calls(clients: AwsClients) -> Iterator[list[str]]:
    """The AWS calls made inside the block (not nested in the engine's own capture)."""
    out: list[str] = []
    before = len(clients.log.calls)
    yield out
    out.extend(clients.log.calls[before:])


def writes() -> Writes:
    return RT["current"].write  # type: ignore[return-value]


def state() -> handlers.ObjectState:
    return RT["current"].objects.get("uid-1")


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
    with pytest.raises(kopf.PermanentError):
        call(handlers.reconcile, obj)
    patch = call.last  # type: ignore[attr-defined]
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
    with aws_calls(clients) as calls:
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


def test_tag_policy_condition_holds_while_the_object_is_deleted(
    runtime: list[tuple[str, str, str]], s3: Any
) -> None:
    """A delete that waits (here for emptyOnDelete) rewrites the status: the policy that covers the object
    still covers it, so TagPolicyCompliant keeps saying so instead of turning to NoPolicy."""
    RT["current"].policies.set_policy("teams", {"required": [{"key": "team"}], "enforcement": "Warn"})
    spec = {"deletionPolicy": "Delete", "tags": {"team": "a"}}
    created = call(handlers.reconcile, body(spec))
    assert conditions(created)["TagPolicyCompliant"] == ("True", "Compliant")
    s3.put_object(Bucket="ns-data", Key="k", Body=b"x")
    with pytest.raises(kopf.TemporaryError, match="emptyOnDelete"):
        call(handlers.delete, body(spec, status=created["status"]))
    blocked = call.last  # type: ignore[attr-defined]
    assert conditions(blocked)["Stalled"][1] == "BucketNotEmpty"
    assert conditions(blocked)["TagPolicyCompliant"] == ("True", "Compliant")


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


def test_stalled_object_is_rechecked_with_reads_only_and_heals_once_the_owner_tag_is_right(
    runtime: list[tuple[str, str, str]], s3: Any, clients: AwsClients
) -> None:
    s3.create_bucket(Bucket="ns-data")
    with pytest.raises(kopf.PermanentError):
        call(handlers.reconcile, body({}))
    stalled = body({}, status=dict(call.last["status"]))  # type: ignore[attr-defined]
    state().last_check = 0.0  # long overdue
    with aws_calls(clients) as calls:
        patch = call(handlers.drift_check, stalled)
    assert calls == ["s3:HeadBucket", "s3:GetBucketTagging"], "reads only while the cause is there"
    assert not patch, "an unchanged Stalled result writes nothing"
    s3.put_bucket_tagging(
        Bucket="ns-data",
        Tagging={"TagSet": [{"Key": "awsop.io/owner", "Value": "kube/ns/data"}]},
    )
    state().last_check = 0.0
    with aws_calls(clients) as calls:
        patch = call(handlers.drift_check, stalled)
    assert conditions(patch)["Ready"][0] == "True" and conditions(patch)["Stalled"][0] == "False"
    assert any(handlers._is_write(c) for c in calls), "the real reconcile ran once the cause was gone"


def test_stalled_on_a_refused_write_is_not_written_again_by_the_periodic_check(
    runtime: list[tuple[str, str, str]], clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    call(handlers.reconcile, body({}))
    created = dict(state().status or {})
    from botocore.exceptions import ClientError

    def refuse(*_: Any, **__: Any) -> None:
        clients.log.record("s3", "PutBucketVersioning", "error")  # as botocore's hook does
        raise ClientError({"Error": {"Code": "InvalidArgument", "Message": "no"}}, "PutBucketVersioning")

    spec = {"versioning": "Enabled"}
    with monkeypatch.context() as m:
        m.setattr(BucketClient, "apply", refuse)
        with pytest.raises(kopf.PermanentError):
            call(handlers.reconcile, body(spec, generation=2, status=created))
    assert state().stalled_by_write
    state().last_check = 0.0
    with aws_calls(clients) as calls:
        call(handlers.drift_check, body(spec, generation=2, status=dict(state().status or {})))
    assert calls and not any(handlers._is_write(c) for c in calls), calls


def test_first_drift_check_of_a_new_object_comes_a_full_period_after_its_create(
    runtime: list[tuple[str, str, str]], clients: AwsClients
) -> None:
    call(handlers.reconcile, body({}))
    with aws_calls(clients) as calls:
        first = handlers.drift_check(
            BUCKET,
            RT["current"],
            body=body({}),
            meta=body({})["metadata"],
            spec={},
            status={},
            patch=kopf.Patch(),
        )
    assert calls == []
    assert 0.85 * 300 <= first <= 300


@pytest.mark.parametrize(("per_call", "together"), [(100, True), (0, False)], ids=["batched", "unbatched"])
def test_drift_checks_of_a_kind_with_shared_reads_fall_due_together(
    runtime: list[tuple[str, str, str]], clients: AwsClients, per_call: int, together: bool
) -> None:
    """Objects last checked 10 to 70 s apart: a kind whose periodic reads are shared checks them at one
    moment (one call reads them all); any other kind keeps their checks spread."""
    kind = dataclasses.replace(BUCKET, batch_per_call=per_call)
    rt = RT["current"]
    due = []
    with aws_calls(clients) as calls:
        for n, age in enumerate((10.0, 40.0, 70.0)):
            obj = body({})
            obj["metadata"]["uid"] = f"uid-{n}"
            rt.objects.get(f"uid-{n}").last_check = time.monotonic() - age
            delay = handlers.drift_check(
                kind, rt, body=obj, meta=obj["metadata"], spec={}, status={}, patch=kopf.Patch()
            )
            due.append(time.monotonic() + delay)
    assert calls == []  # none is due yet
    # due at one moment of the period (a new object may join the slot a period later than another)
    apart = [min(gap, 300 - gap) for gap in ((at - due[0]) % 300 for at in due)]
    assert (max(apart) < 1.0) is together, due


def test_drift_check_never_runs_beside_a_handler_of_the_same_object(
    runtime: list[tuple[str, str, str]], clients: AwsClients
) -> None:
    call(handlers.reconcile, body({}))
    state().last_check = 0.0  # overdue
    with state().lock, aws_calls(clients) as calls:  # as while a create handler runs
        delay = handlers.drift_check(
            BUCKET,
            RT["current"],
            body=body({}),
            meta=body({})["metadata"],
            spec={},
            status={},
            patch=kopf.Patch(),
        )
    assert calls == [] and delay <= 1.0


def test_stale_result_is_dropped_not_written(runtime: list[tuple[str, str, str]]) -> None:
    rt = RT["current"]
    current = state()
    current.written = 5
    patch = kopf.Patch()
    patch["status"] = {"observedGeneration": 1}
    handlers._flush(
        rt, BUCKET, current, handlers.object_ref(BUCKET, body({})["metadata"]), patch, 4, body({}), {}
    )
    assert writes() == []
    patch["status"] = {"observedGeneration": 1}
    handlers._flush(
        rt, BUCKET, current, handlers.object_ref(BUCKET, body({})["metadata"]), patch, 6, body({}), {}
    )
    assert writes()[-1][2] == {"status": {"observedGeneration": 1}} and current.written == 6


def test_create_pending_is_removed_in_the_write_that_records_the_create(
    runtime: list[tuple[str, str, str]],
) -> None:
    """The mark is a status write of its own before CreateBucket; its removal goes in the status write
    that records the create (one request, no metadata patch)."""
    call(handlers.reconcile, body({}))
    mark, created = writes()[0][2], writes()[1][2]
    assert list(mark) == ["status"] and list(mark["status"]) == [handlers.CREATE_ATTEMPTED]
    assert abs(mark["status"][handlers.CREATE_ATTEMPTED] - time.time()) < 60, "a Unix timestamp"
    assert list(created) == ["status"] and created["status"][handlers.CREATE_ATTEMPTED] is None
    assert conditions(kopf.Patch(created))["Ready"] == ("True", "Created")
    assert handlers.CREATE_ATTEMPTED not in (state().status or {}), "the process's own copy drops it too"


def test_an_earlier_versions_create_pending_annotation_is_honoured_and_removed(
    runtime: list[tuple[str, str, str]],
) -> None:
    call(handlers.reconcile, body({}, **{handlers.CREATE_PENDING: f"{time.time() - 1:.3f}"}))
    ((_, _, created),) = writes()  # no new mark: the earlier one keeps its time
    assert created["metadata"]["annotations"] == {handlers.CREATE_PENDING: None}
    assert created["status"][handlers.CREATE_ATTEMPTED] is None


def test_a_retry_after_a_failed_create_keeps_the_first_marks_time(
    runtime: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark is this process's own write: a retry sees it before the watch shows it (a new, later mark
    would disown the bucket the first attempt made)."""
    seen: list[Any] = []
    engine = RT["current"].engine
    real = engine.reconcile
    first = True

    def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal first
        seen.append(kwargs["create_pending"])
        outcome = real(*args, **kwargs)
        if first:
            first = False
            return dataclasses.replace(outcome, error_class=ErrorClass.RECOVERABLE, state=State.ERROR)
        return outcome

    monkeypatch.setattr(engine, "reconcile", flaky)
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, body({}))
    stamp = writes()[0][2]["status"][handlers.CREATE_ATTEMPTED]
    call(handlers.reconcile, body({}), retry=1)  # the body does not show the mark yet
    assert seen == [None, stamp]


def test_create_pending_annotation_reaches_the_engine_as_a_timestamp(
    runtime: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    engine = RT["current"].engine
    real = engine.reconcile

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["create_pending"])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "reconcile", spy)
    call(handlers.reconcile, body({}, status={handlers.CREATE_ATTEMPTED: 1767225600.5}))
    call(handlers.reconcile, body({}, **{handlers.CREATE_PENDING: "1767225600.25"}), retry=1)
    RT["current"].objects.forget("uid-1")  # a new process: only the body counts
    call(handlers.reconcile, body({}), retry=1)
    assert seen == [1767225600.5, 1767225600.25, None]


def test_the_engine_hears_whether_the_status_shows_any_sign_of_the_resource(
    runtime: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`unseen` (a kind that refuses taken names then creates before reading) only for a status with no
    identifier, no create mark and no create operation: anything else is read first."""
    seen: list[bool] = []
    engine = RT["current"].engine
    real = engine.reconcile

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["context"].unseen)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "reconcile", spy)
    statuses: list[dict[str, Any]] = [
        {},
        {"conditions": [{"type": "Ready", "status": "False", "reason": "DependencyNotReady"}]},
        {"arn": "arn:aws:s3:::ns-data"},
        {handlers.CREATE_ATTEMPTED: 1767225600.5},
        {"pendingCreate": {"token": "t", "generation": 1}},
    ]
    for status in statuses:
        RT["current"].objects.forget("uid-1")
        with suppress(kopf.TemporaryError):  # a status naming resources that are not there
            call(handlers.reconcile, body({}, status=status), retry=1)
    assert seen == [True, True, False, False, False]


def test_observe_only_not_found_is_rechecked_on_a_short_growing_backoff(
    runtime: list[tuple[str, str, str]], s3: Any
) -> None:
    spec = {"managementPolicy": "ObserveOnly", "adoptionPolicy": "Adopt"}
    patch = call(handlers.reconcile, body(spec))
    assert conditions(patch)["Ready"] == ("False", "NotFound")
    delays = []
    for _ in range(3):
        state().last_check = 0.0
        delays.append(
            handlers.drift_check(
                BUCKET,
                RT["current"],
                body=body(spec),
                meta=body(spec)["metadata"],
                spec=spec,
                status={},
                patch=kopf.Patch(),
            )
        )
    assert delays == [2.0, 4.0, 8.0]
    s3.create_bucket(Bucket="ns-data")
    state().last_check = 0.0
    patch = call(handlers.drift_check, body(spec))
    assert conditions(patch)["Ready"][0] == "True"
    assert handlers._interval(RT["current"], state(), body(spec)["metadata"]) == 300


def test_status_write_failure_is_logged_and_reported_and_never_raises(
    runtime: list[tuple[str, str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    class Refused(Exception):
        status, reason, body = 422, "Unprocessable Entity", "metadata.annotations: Too long"

    def refuse(info: Any, namespace: str, name: str, written: dict[str, Any]) -> None:
        if list(written.get("status", {})) != [
            handlers.CREATE_ATTEMPTED
        ]:  # the mark before the create passes
            raise Refused()

    RT["current"].write = refuse
    call(handlers.reconcile, body({"deletionPolicy": "Delete"}))
    assert any("status write failed" in r.message for r in caplog.records)
    assert ("Warning", "StatusWriteFailed") in [(t, r) for t, r, _ in runtime]
    call(handlers.delete, body({"deletionPolicy": "Delete"}))  # the finalizer may go: no raise


def test_digest_diff_base_stays_small_and_tells_changed_from_unchanged() -> None:
    storage = handlers.DigestDiffBaseStorage()
    rules = [{"id": f"rule-{i}", "prefix": f"logs/{i}/", "expirationDays": i + 1} for i in range(1000)]
    obj = body({"lifecycleRules": rules})
    essence = storage.build(body=kopf.Body(obj))
    patch = kopf.Patch()
    storage.store(body=kopf.Body(obj), patch=patch, essence=essence)
    assert "metadata" not in patch, "an AWS kind's record goes to its status"
    stored = patch["status"]["lastHandled"]
    assert list(stored) == [handlers.KOPF_PREFIX] and len(json.dumps(stored)) < 200, "a digest"
    obj["status"] = {"lastHandled": stored}
    obj["metadata"]["annotations"] = {"kopf.awsop.io/create-pending": "1"}
    assert storage.fetch(body=kopf.Body(obj)) == storage.build(body=kopf.Body(obj)), "unchanged"
    obj["spec"]["lifecycleRules"][3]["expirationDays"] = 99
    assert storage.fetch(body=kopf.Body(obj)) != storage.build(body=kopf.Body(obj)), "changed"
    del obj["status"]
    obj["metadata"]["annotations"] = {"kopf.awsop.io/last-handled": json.dumps({"spec": {}})}
    assert storage.fetch(body=kopf.Body(obj)) == {"spec": {}}, "kopf's full copy is still understood"
    # an earlier version's annotation counts until a status record exists, which then wins
    obj["metadata"]["annotations"] = {"kopf.awsop.io/last-handled": handlers.handled_digest(obj)}
    assert storage.fetch(body=kopf.Body(obj)) == storage.build(body=kopf.Body(obj))
    obj["status"] = {"lastHandled": {handlers.KOPF_PREFIX: "sha256:00"}}
    assert storage.fetch(body=kopf.Body(obj)) != storage.build(body=kopf.Body(obj))
    # kinds without the status field (AWSAccount, TagPolicy) keep the annotation
    account = {"apiVersion": "awsop.io/v1alpha1", "kind": "AWSAccount", "metadata": {"name": "a"}, "spec": {}}
    patch = kopf.Patch()
    storage.store(body=kopf.Body(account), patch=patch, essence=storage.build(body=kopf.Body(account)))
    assert list(patch) == ["metadata"] and "kopf.awsop.io/last-handled" in patch["metadata"]["annotations"]


def test_the_handler_records_what_it_handled_so_kopf_writes_nothing_after_it(
    runtime: list[tuple[str, str, str]], clients: AwsClients
) -> None:
    """The reconcile handler's status write carries kopf's last-handled record; kopf's store then adds
    nothing to its own patch (no write, no watch event after the handler). A lagging body of the same
    essence (the watch showing a write older than the handler's) is not reconciled again."""
    storage = handlers.DigestDiffBaseStorage(objects=RT["current"].objects)
    obj = body({})
    written = call(handlers.reconcile, obj)
    digest = handlers.handled_digest(obj)
    assert written["status"]["lastHandled"] == {handlers.KOPF_PREFIX: digest}
    patch = kopf.Patch()
    storage.store(body=kopf.Body(obj), patch=patch, essence=storage.build(body=kopf.Body(obj)))
    assert not patch, "recorded by the handler's own write"
    with aws_calls(clients) as calls:
        assert not call(handlers.reconcile, body({})), "a lagging body: nothing written"
        assert calls == []
    changed = call(handlers.reconcile, body({"versioning": "Enabled"}, generation=2))
    assert changed["status"]["lastHandled"] != {handlers.KOPF_PREFIX: digest}, "a change is recorded"


def test_an_outcome_kopf_retries_records_nothing(
    runtime: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that raises TemporaryError has not ended kopf's handling: its status write must not
    record the essence as handled (kopf would then skip the retry), and kopf's store is never called."""
    engine = RT["current"].engine
    real = engine.reconcile

    def failing(*args: Any, **kwargs: Any) -> Any:
        outcome = real(*args, **kwargs)
        return dataclasses.replace(
            outcome, error_class=ErrorClass.RECOVERABLE, state=State.ERROR, reason="Throttled"
        )

    monkeypatch.setattr(engine, "reconcile", failing)
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, body({}))
    assert "lastHandled" not in call.last.get("status", {})  # type: ignore[attr-defined]


def test_digest_essence_is_kopfs_own_without_copying_status_and_managed_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The digest of every stored object must not move (an upgrade would reconcile them all), so the
    essence is exactly kopf's; but status and managedFields, most of a body, are never deep-copied."""
    obj = body({"versioning": "Enabled", "tags": {"a": "b"}}, **{"awsop.io/paused": "false"})
    obj["metadata"].update(
        labels={"team": "x"},
        resourceVersion="7",
        managedFields=[{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    )
    obj["metadata"]["annotations"].update(
        {"kopf.awsop.io/last-handled": "sha256:0", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    )
    obj["status"] = {"conditions": [{"type": "Ready", "status": "True"}], "arn": "arn:aws:s3:::x"}
    ours = handlers.DigestDiffBaseStorage().build(body=kopf.Body(obj))
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix=handlers.KOPF_PREFIX).build(body=kopf.Body(obj))
    del kopfs["metadata"]["annotations"]["kopf.awsop.io/last-handled"]  # ours leaves its own prefix out
    assert ours == kopfs
    assert ours == {
        "spec": {"versioning": "Enabled", "tags": {"a": "b"}},
        "metadata": {"labels": {"team": "x"}, "annotations": {"awsop.io/paused": "false"}},
    }
    copied: list[Any] = []
    real = copy.deepcopy
    monkeypatch.setattr(copy, "deepcopy", lambda x, *a: copied.append(x) or real(x, *a))
    handlers.DigestDiffBaseStorage().build(body=kopf.Body(obj))
    assert copied and all(
        "status" not in c and "managedFields" not in c for c in copied if isinstance(c, dict)
    )
    assert not any(c is obj["status"] or c is obj["metadata"]["managedFields"] for c in copied)


def test_drift_after_a_failed_check_is_still_drift_under_report(
    runtime: list[tuple[str, str, str]], s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"versioning": "Enabled", "driftPolicy": "Report"}
    created = call(handlers.reconcile, body(spec))

    def flaky(self: BucketClient, target: Any) -> Any:
        raise ConnectionError("reset")

    with monkeypatch.context() as m:
        m.setattr(BucketClient, "observe", flaky)
        with pytest.raises(kopf.TemporaryError):
            call(handlers.reconcile, body(spec, status=created["status"]))
        patch = call.last  # type: ignore[attr-defined]
    after_failure = {**created["status"], **patch["status"]}
    assert conditions(patch)["Synced"][0] == "False"
    s3.put_bucket_versioning(Bucket="ns-data", VersioningConfiguration={"Status": "Suspended"})
    RT["current"].objects.forget("uid-1")  # as after a restart: only the status remembers
    outcome = call(handlers.reconcile, body(spec, status=after_failure))
    assert conditions(outcome)["Drifted"] == ("True", "DriftDetected")
    assert s3.get_bucket_versioning(Bucket="ns-data")["Status"] == "Suspended", (
        "Report never writes drift back"
    )


def test_stalled_invalid_spec_is_not_rechecked_or_reported_again_until_edited(
    runtime: list[tuple[str, str, str]], clients: AwsClients
) -> None:
    obj = body({"name": "Not_A_Bucket"})
    with pytest.raises(kopf.PermanentError):
        call(handlers.reconcile, obj)
    stalled = body({"name": "Not_A_Bucket"}, status=dict(call.last["status"]))  # type: ignore[attr-defined]
    state().last_check = 0.0
    with aws_calls(clients) as calls:
        patch = call(handlers.drift_check, stalled)
    assert calls == [] and not patch
    assert [r for _, r, _ in runtime] == ["InvalidSpec"], "one Event, not one per period"


def test_registry_keeps_a_written_status_only_until_the_body_shows_it(
    runtime: list[tuple[str, str, str]],
) -> None:
    call(handlers.reconcile, body({}))
    assert state().status is not None, "the body has not caught up yet: the registry's copy is newer"
    again = call(handlers.reconcile, body({}), retry=1)  # a lagging body (no status): diffed against the copy
    assert "awsName" not in again.get("status", {}), "unchanged keys are not written again"
    call(handlers.reconcile, body({}, status=dict(state().status or {})))
    assert state().status is None, "caught up: forgotten (memory stays flat with many objects)"


def test_stalled_tag_policy_violation_is_judged_again_at_once_when_a_policy_changes(
    runtime: list[tuple[str, str, str]], clients: AwsClients, s3: Any
) -> None:
    """A policy change makes the drift check due at once (not a resync period later); while the object
    still violates a Deny policy the check only reads, once the violation is gone it reconciles."""
    rt = RT["current"]

    rt.policies.set_policy("deny", {"required": [{"key": "team"}]})
    with aws_calls(clients) as calls, pytest.raises(kopf.PermanentError):
        call(handlers.reconcile, body({}))
    assert calls == [] and conditions(call.last)["Stalled"] == ("True", "TagPolicyViolation")  # type: ignore[attr-defined]
    stalled = body({}, status=dict(state().status or {}))
    written = writes()
    before = len(written)
    with aws_calls(clients) as calls:
        delay = handlers.drift_check(
            BUCKET,
            rt,
            body=stalled,
            meta=stalled["metadata"],
            spec={},
            status=stalled["status"],
            patch=kopf.Patch(),
        )
    assert calls == [] and len(written) == before and delay > 60, "nothing changed: not due"

    rt.policies.set_policy("deny", {"required": [{"key": "owner"}]})  # still violated, another rule
    with aws_calls(clients) as calls:
        handlers.drift_check(
            BUCKET,
            rt,
            body=stalled,
            meta=stalled["metadata"],
            spec={},
            status=stalled["status"],
            patch=kopf.Patch(),
        )
    assert not any(handlers._is_write(c) for c in calls), "reads only while the violation holds"
    stalled_now = next(c for c in (state().status or {})["conditions"] if c["type"] == "Stalled")
    assert stalled_now["reason"] == "TagPolicyViolation" and "'owner'" in stalled_now["message"]

    rt.policies.drop_policy("deny")
    stalled = body({}, status=dict(state().status or {}))
    with aws_calls(clients) as calls:
        handlers.drift_check(
            BUCKET,
            rt,
            body=stalled,
            meta=stalled["metadata"],
            spec={},
            status=stalled["status"],
            patch=kopf.Patch(),
        )
    assert "s3:CreateBucket" in calls, "the violation is gone: reconciled at once"
    ready = {c["type"]: c["status"] for c in (state().status or {})["conditions"]}
    assert ready["Ready"] == "True" and ready["Stalled"] == "False"
    s3.head_bucket(Bucket="ns-data")


def test_kopf_waits_for_its_own_patch_long_enough_for_a_lagging_watch() -> None:
    """Past kopf's consistency timeout an object's older body (no last-handled digest yet) is handled
    as a new object again: at 1,000 objects applied at once the watch lags well past kopf's default 5 s."""
    settings = kopf.OperatorSettings()
    assert settings.persistence.consistency_timeout == 5.0  # kopf's default, the one that was too short
    handlers.configure(settings, Settings(cluster_id="kube"))
    assert settings.persistence.consistency_timeout >= 60.0


def test_warm_up_builds_every_client_before_the_first_object_without_an_aws_call(
    runtime: list[tuple[str, str, str]], clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awsop.operator import operator_main

    built: list[str] = []
    monkeypatch.setattr(kube, "warm", lambda: built.append("kubernetes"))
    with aws_calls(clients) as calls:
        operator_main.warm_up(RT["current"])
    assert built == ["kubernetes"]
    assert calls == []
    services = {service for _, _, service in clients._clients}
    assert {"s3", "sqs", "dynamodb", "ec2", "autoscaling"} <= services
