"""Shards without Kubernetes: label selectors as the API server reads them, which shard serves an object,
the kopf watch filter, and the counts that cross shards (TagPolicy matching/violating, AWSAccount objects
and its in-use finalizer): each shard publishes its part, only the first shard writes the sums."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.structs.references import Resource
from pydantic import ValidationError

from awsop.operator import accounts, handlers, sharding
from awsop.operator.events import EventRecorder
from awsop.operator.runtime import Runtime
from awsop.operator.settings import Settings
from awsop.operator.tag_policies import PolicyCache
from awsop.reconcilers.account import AccountRef, AWSAccountSpec
from awsop.reconcilers.bucket import BucketSpec
from awsop.reconcilers.engine import ObjectRef
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS
from awsop.reconcilers.sqs_queue import QueueSpec

SHARDS = [
    {"name": "main", "labelSelector": "awsop.io/shard notin (b)"},
    {"name": "b", "labelSelector": "awsop.io/shard in (b)"},
]


def shard(name: str, shards: list[dict[str, str]] | None = None) -> Settings:
    return Settings(shard=name, shards=shards if shards is not None else SHARDS)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("awsop.io/shard in (b)", {"awsop.io/shard": "b"}, True),
        ("awsop.io/shard in (b)", {}, False),
        ("awsop.io/shard notin (b)", {}, True),
        ("awsop.io/shard notin (b, c)", {"awsop.io/shard": "c"}, False),
        ("awsop.io/shard notin (b)", {"awsop.io/shard": "x"}, True),
        ("team=web", {"team": "web"}, True),
        ("team==web", {"team": "db"}, False),
        ("team!=web", {}, True),
        ("team!=web", {"team": "web"}, False),
        ("team", {"team": ""}, True),
        ("!legacy", {"legacy": "yes"}, False),
        ("team=web,env in (prod,stage),!legacy", {"team": "web", "env": "stage"}, True),
        ("team=web,env in (prod,stage),!legacy", {"team": "web", "env": "dev"}, False),
    ],
)
def test_label_selectors_match_as_the_api_server_does(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert sharding.matches(selector, labels) is expected


@pytest.mark.parametrize("selector", ["x > 3", "a in ()", "a,,b", "a in (b", "=b", "a notin b"])
def test_unreadable_selector_is_refused_naming_it(selector: str) -> None:
    with pytest.raises(ValidationError, match="label selector"):
        shard("main", [{"name": "main", "labelSelector": selector}])


def test_settings_refuse_a_shard_not_in_the_list_and_duplicate_names() -> None:
    with pytest.raises(ValidationError, match="shard 'c' is not one of the shards"):
        shard("c")
    with pytest.raises(ValidationError, match="must be unique"):
        shard("b", [{"name": "b"}, {"name": "b"}])
    with pytest.raises(ValidationError, match="names none"):
        Settings(shards=SHARDS)
    assert not sharding.sharded(Settings())


def body(labels: dict[str, str] | None = None, uid: str = "u1") -> dict[str, Any]:
    return {"metadata": {"name": "o", "namespace": "ns", "uid": uid, "labels": labels or {}}}


def test_each_object_is_served_by_exactly_one_shard_first_match_wins() -> None:
    overlapping = [{"name": "a", "labelSelector": "team=web"}, {"name": "b", "labelSelector": ""}]
    cases = [
        (SHARDS, {}, "main"),
        (SHARDS, {"awsop.io/shard": "b"}, "b"),
        (SHARDS, {"awsop.io/shard": "zz"}, "main"),
        (overlapping, {"team": "web"}, "a"),  # both match: the first one serves it
        (overlapping, {"team": "db"}, "b"),
    ]
    for shards, labels, owner in cases:
        names = [s["name"] for s in shards]
        serving = [n for n in names if sharding.serves(shard(n, shards), body(labels))]
        assert serving == [owner], (shards, labels)
    assert sharding.serves(Settings(), body({"awsop.io/shard": "b"})), "unsharded: every object"
    lonely = [{"name": "a", "labelSelector": "team=web"}]
    assert sharding.owner_of(shard("a", lonely), {"team": "db"}) is None


def test_only_the_first_shard_writes_cluster_status() -> None:
    assert sharding.writes_status(Settings())
    assert sharding.writes_status(shard("main"))
    assert not sharding.writes_status(shard("b"))


def test_the_watch_of_namespaced_kinds_carries_the_shard_selector() -> None:
    settings = kopf.OperatorSettings()
    kinds = [*KINDS.values(), *CONFIG_KINDS.values()]
    sharding.configure(settings, shard("b"), kinds)  # type: ignore[arg-type]
    for info in kinds:
        resource = Resource(
            info.group, "v1alpha1", info.plural, kind=info.kind, namespaced=info.scope == "Namespaced"
        )
        expected = ["awsop.io/shard in (b)"] if info.kind in KINDS else []
        assert settings.watching.label_selectors.collect(resource) == expected, info.kind
    unsharded = kopf.OperatorSettings()
    sharding.configure(unsharded, Settings(), kinds)  # type: ignore[arg-type]
    assert len(unsharded.watching.label_selectors) == 0


def test_a_shard_leaves_an_object_an_earlier_shard_serves_and_keeps_its_finalizer() -> None:
    settings = shard("b", [{"name": "a", "labelSelector": ""}, {"name": "b"}])
    rt = Runtime(settings, None, {})  # type: ignore[arg-type]
    rt.policies.set_policy("team", {"required": [{"key": "team"}]})
    held = body(uid="held")
    rt.objects.get("held")  # this shard served it until an earlier shard's selector matched it too
    rt.policies.record("held", "Queue", rt.policies.verdict("Queue", "ns", "o", QueueSpec(), {}))
    assert rt.policies.states()["team"].matching == 1
    handlers._leave_to_other_shard(KINDS["Queue"], rt, False, held)
    assert "held" not in rt.objects and rt.policies.states()["team"].matching == 0, "forgotten: not counted"
    with pytest.raises(kopf.TemporaryError, match="another shard serves"):
        handlers._leave_to_other_shard(KINDS["Queue"], rt, True, body())


# -- TagPolicy counts ----------------------------------------------------------------------------------


def policy_runtime(settings: Settings, verdicts: dict[str, dict[str, str]]) -> Any:
    cache = PolicyCache()
    cache.set_policy("team", {"required": [{"key": "team"}]})
    for uid, tags in verdicts.items():
        cache.record(
            uid, "Bucket", cache.verdict("Bucket", "ns", uid, BucketSpec.model_validate({"tags": tags}), {})
        )
    return SimpleNamespace(settings=settings, policies=cache, events=EventRecorder())


def policy_status(rt: Any, status: dict[str, Any]) -> dict[str, Any]:
    patch = kopf.Patch()
    meta = {"name": "team", "generation": 1}
    handlers.tag_policy_status(rt, "team", {"metadata": meta}, meta, status, patch)
    return dict(patch)


def test_tag_policy_counts_are_summed_over_shards_by_the_first_shard_only() -> None:
    # shard b: 3 objects, 2 violating; main: 2 objects, 1 violating
    b = policy_runtime(shard("b"), {"b1": {}, "b2": {}, "b3": {"team": "x"}})
    main = policy_runtime(shard("main"), {"m1": {}, "m2": {"team": "y"}})
    b_patch = policy_status(b, {})
    assert b_patch == {"status": {"shards": {"b": {"matchingObjects": 3, "violatingObjects": 2}}}}, (
        "a shard other than the first writes only its own part"
    )
    status = {"shards": {"b": {"matchingObjects": 3, "violatingObjects": 2}, "gone": {"matchingObjects": 7}}}
    written = policy_status(main, status)["status"]
    assert (written["matchingObjects"], written["violatingObjects"]) == (5, 3)
    assert written["shards"] == {"main": {"matchingObjects": 2, "violatingObjects": 1}, "gone": None}, (
        "its own part published, the part of a shard no longer listed removed"
    )
    assert written["conditions"][0]["message"] == "covers 5 objects, 3 violating"
    settled = {**status, **written, "shards": {"b": status["shards"]["b"], "main": written["shards"]["main"]}}
    assert policy_status(main, settled) == {} and policy_status(b, settled) == {}, "no change: no write"


def test_tag_policy_status_unsharded_is_unchanged() -> None:
    rt = policy_runtime(Settings(), {"m1": {}, "m2": {"team": "y"}})
    written = policy_status(rt, {})["status"]
    assert (written["matchingObjects"], written["violatingObjects"]) == (2, 1)
    assert "shards" not in written


# -- AWSAccount objects and finalizer ------------------------------------------------------------------

SPEC = AWSAccountSpec.model_validate({"roleArn": "arn:aws:iam::111111111111:role/awsop", "namespaces": ["a"]})


def account_body(status: dict[str, Any], finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "acct",
        "generation": 1,
        "uid": "acct-uid",
        "finalizers": finalizers or [],
    }
    return {"metadata": meta, "spec": SPEC.model_dump(by_alias=True), "status": status}


def checker_for(settings: Settings, users: int, writes: list[dict[str, Any]]) -> accounts.AccountChecker:
    directory = accounts.AccountDirectory()
    directory.put_account("acct", SPEC)
    directory.put_namespace("a", ({}, {"awsop.io/account": "acct"}))
    for i in range(users):
        ref = ObjectRef("Queue", "a", f"q{i}", 1)
        assert (
            directory.resolve("a", AccountRef(name="acct"), f"{settings.shard}-{i}", ref=ref).denial is None
        )
    return accounts.AccountChecker(settings, directory, write=lambda name, body: writes.append(body))


def test_account_objects_column_and_finalizer_follow_every_shards_users() -> None:
    b_writes: list[dict[str, Any]] = []
    b = checker_for(shard("b"), 4, b_writes)
    b._follow_users("acct", account_body({}))
    assert b_writes == [{"status": {"shards": {"b": {"objects": 4}}}}], "only its own part, no finalizer"

    main_writes: list[dict[str, Any]] = []
    main = checker_for(shard("main"), 0, main_writes)  # no user of its own yet
    main._follow_users("acct", account_body({"shards": {"b": {"objects": 4}}}))
    assert main_writes == [
        {"status": {"objects": 4}, "metadata": {"finalizers": [accounts.ACCOUNT_FINALIZER]}}
    ], "the first shard writes the sum and holds the finalizer for users of other shards"

    # b's objects leave the account (or the shard): its part drops to 0, then the sum, then the finalizer
    for i in range(4):
        b.directory.forget(f"b-{i}")  # type: ignore[union-attr]
    b._follow_users("acct", account_body({"shards": {"b": {"objects": 4}}}))
    assert b_writes[-1] == {"status": {"shards": {"b": {"objects": 0}}}}
    main._follow_users(
        "acct", account_body({"objects": 4, "shards": {"b": {"objects": 0}}}, [accounts.ACCOUNT_FINALIZER])
    )
    assert main_writes[-1] == {"status": {"objects": 0}, "metadata": {"finalizers": []}}


def test_an_object_that_left_the_shard_is_counted_again_when_it_returns() -> None:
    directory = accounts.AccountDirectory()
    directory.put_account("acct", SPEC)
    directory.put_namespace("a", ({}, {"awsop.io/account": "acct"}))
    ref = ObjectRef("Queue", "a", "q", 1)
    directory.resolve("a", AccountRef(name="acct"), "uid", ref=ref)
    directory.forget("uid", gone=False)  # moved to another shard
    assert directory.users_of("acct") == 0
    directory.resolve("a", AccountRef(name="acct"), "uid", ref=ref)  # and back
    assert directory.users_of("acct") == 1
    directory.forget("uid")  # deleted: a late check never counts it again
    directory.resolve("a", AccountRef(name="acct"), "uid", ref=ref)
    assert directory.users_of("acct") == 0


def test_drift_checks_end_once_an_earlier_shard_matches_the_object_too_and_resume_when_it_returns() -> None:
    settings = shard("b", [{"name": "a", "labelSelector": "team=web"}, {"name": "b"}])
    rt = Runtime(settings, None, {})  # type: ignore[arg-type]
    queue = KINDS["Queue"]

    async def scenario() -> None:
        await handlers.follow(queue, rt, None, body(uid="q"))
        assert "q" in rt.drift, "served here: checked here"
        rt.objects.get("q")
        await handlers.follow(queue, rt, "MODIFIED", body({"team": "web"}, uid="q"))  # relabelled
        assert "q" not in rt.drift and "q" not in rt.objects, "an earlier shard serves it: forgotten here"
        await handlers.follow(queue, rt, "MODIFIED", body(uid="q"))  # and back
        assert "q" in rt.drift
        rt.objects.get("q")
        await handlers.follow(queue, rt, "DELETED", body(uid="q"))  # left this shard's selector
        assert "q" not in rt.drift and "q" not in rt.objects

    asyncio.run(scenario())


def test_each_shard_keeps_kopf_records_apart_and_none_counts_as_a_change() -> None:
    assert sharding.storage_prefix(Settings(), handlers.KOPF_PREFIX) == "kopf.awsop.io"
    assert sharding.storage_prefix(shard("main"), handlers.KOPF_PREFIX) == "kopf.awsop.io", "as before"
    assert sharding.storage_prefix(shard("b"), handlers.KOPF_PREFIX) == "b.kopf.awsop.io"
    storage = handlers.DigestDiffBaseStorage(prefix="b.kopf.awsop.io")
    plain = {"metadata": {"annotations": {"awsop.io/paused": "false"}}, "spec": {"x": 1}}
    visited = {
        "metadata": {
            "annotations": {
                "awsop.io/paused": "false",
                "kopf.awsop.io/last-handled": "sha256:0",  # left by the first shard before a move
                "kopf.awsop.io/create-pending": "1.0",
                "c.kopf.awsop.io/reconcile": "{}",
            }
        },
        "spec": {"x": 1},
    }
    assert storage.build(body=visited) == storage.build(body=plain)  # type: ignore[arg-type]


def test_coverage_check_reports_objects_no_shard_or_several_shards_select(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gap = [{"name": "a", "labelSelector": "tier in (web)"}, {"name": "b", "labelSelector": "tier=web,team"}]
    objects = [
        {"metadata": {"namespace": "ns", "name": f"q{i}", "labels": {"tier": "web"}}} for i in range(3)
    ]
    objects += [
        {"metadata": {"namespace": "ns", "name": "both", "labels": {"tier": "web", "team": "x"}}},
        {"metadata": {"namespace": "ns", "name": "none", "labels": {"tier": "db"}}},
    ]
    asked: list[tuple[str, str, str]] = []

    def list_page(info: Any, namespace: str, token: str) -> tuple[list[dict[str, Any]], str]:
        asked.append((info.kind, namespace, token))
        if info.kind != "Queue":
            return [], ""
        start = int(token or 0)
        return objects[start : start + 2], str(start + 2) if start + 2 < len(objects) else ""

    found = sharding.coverage(shard("a", gap), list(KINDS.values()), [], list_page)
    assert (found.objects, found.unserved, found.overlapping) == (
        5,
        ["Queue ns/none"],
        ["Queue ns/both (a, b)"],
    )
    assert [t for kind, _, t in asked if kind == "Queue"] == ["", "2", "4"], "page by page"
    assert {ns for _, ns, _ in asked} == {""}, "the whole cluster"
    with caplog.at_level("INFO", logger="awsop"):
        sharding.report(found)
    assert (
        "1 of 5 objects match no shard's label selector, so no shard serves them: Queue ns/none"
        in caplog.text
    )
    assert "1 of 5 objects match several shards' selectors" in caplog.text
    caplog.clear()
    asked.clear()
    with caplog.at_level("INFO", logger="awsop"):
        sharding.report(sharding.coverage(shard("main"), list(KINDS.values()), ["x", "y"], list_page))
    assert "each of the 10 objects is served by exactly one shard" in caplog.text  # 5 per namespace here
    assert {ns for _, ns, _ in asked} == {"x", "y"}, "namespace-scoped: only the watched namespaces"


def test_only_the_first_shard_runs_the_coverage_check() -> None:
    ran: list[str] = []

    def list_page(info: Any, namespace: str, token: str) -> tuple[list[dict[str, Any]], str]:
        ran.append(info.kind)
        return [], ""

    for settings, runs in ((shard("b"), False), (Settings(), False), (shard("main"), True)):
        ran.clear()
        check = sharding.CoverageCheck(settings, list(KINDS.values()), list_page, first_delay=0.0, period=60)
        check.start()
        deadline = time.monotonic() + 5
        while runs and len(ran) < len(KINDS) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        check.stop()
        assert (sorted(ran) == sorted(KINDS)) is runs, settings.shard


def test_a_shard_waits_for_a_create_in_flight_in_the_shard_an_object_just_left() -> None:
    rt = Runtime(shard("b"), None, {})  # type: ignore[arg-type]
    meta = {"uid": "u1"}
    mark = {handlers.CREATE_ATTEMPTED: round(time.time() - 2, 3)}
    with pytest.raises(kopf.TemporaryError, match="in flight elsewhere") as caught:
        handlers._await_create_elsewhere(rt, meta, mark)
    assert 8 <= (caught.value.delay or 0) <= 10, "the rest of the create window (10 s), and a second"
    old = {handlers.CREATE_ATTEMPTED: round(time.time() - 60, 3)}
    handlers._await_create_elsewhere(rt, meta, old)  # an interrupted create: the engine recovers it at once
    handlers._await_create_elsewhere(rt, meta, {})  # nothing in flight
    rt.objects.get("u1")
    handlers._await_create_elsewhere(rt, meta, mark)  # this process's own create (it handled the object)
    unsharded = Runtime(Settings(), None, {})  # type: ignore[arg-type]
    handlers._await_create_elsewhere(unsharded, meta, mark)  # unsharded: unchanged
