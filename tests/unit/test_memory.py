"""What kopf keeps per object: watched bodies lose managedFields and kubectl's last-applied copy, and
nothing a handler or kopf's change detection reads changes with them (operator/memory.py)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from awsop.operator import handlers, memory


def body() -> dict[str, Any]:
    return {
        "apiVersion": "s3.awsop.io/v1alpha1",
        "kind": "Bucket",
        "metadata": {
            "name": "b1",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"team": "a"},
            "annotations": {
                "awsop.io/paused": "true",
                "kopf.awsop.io/last-handled": "sha256:00",
                memory.LAST_APPLIED: '{"apiVersion":"s3.awsop.io/v1alpha1","kind":"Bucket"}',
            },
            "finalizers": ["awsop.io/finalizer"],
            "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:versioning": {}}}},
                {"manager": "awsop", "operation": "Update", "subresource": "status", "fieldsV1": {}},
            ],
        },
        "spec": {"versioning": "Enabled"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_strip_body_drops_managed_fields_and_last_applied_only() -> None:
    raw = body()
    expected = copy.deepcopy(raw)
    del expected["metadata"]["managedFields"]
    del expected["metadata"]["annotations"][memory.LAST_APPLIED]
    assert memory.strip_body(raw) is raw  # in place: kopf keeps this very dict
    assert raw == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"metadata": {"name": "x"}}, id="no-managed-fields"),
        pytest.param({"metadata": {"name": "x", "annotations": None}}, id="null-annotations"),
        pytest.param({"kind": "Status"}, id="no-metadata"),
        pytest.param("not a body", id="not-a-dict"),
    ],
)
def test_strip_body_leaves_bodies_without_them_alone(raw: Any) -> None:
    before = copy.deepcopy(raw)
    assert memory.strip_body(raw) == before


def test_essence_and_digest_unchanged_by_stripping() -> None:
    """kopf's change detection (the last-handled digest) sees the same essence: no spurious update."""
    storage = handlers.DigestDiffBaseStorage()
    full = body()
    essence = storage.build(body=copy.deepcopy(full))
    lean = storage.build(body=memory.strip_body(copy.deepcopy(full)))
    assert lean == essence
    assert handlers.essence_digest(lean) == handlers.essence_digest(essence)


def test_lean_stream_strips_every_event_and_passes_others_through() -> None:
    bookmark = object()  # kopf's stream also yields non-event markers (bookmarks)

    async def watch(**kwargs: Any) -> AsyncIterator[Any]:
        assert kwargs == {"namespace": "ns"}
        yield {"type": None, "object": body()}  # the initial listing
        yield bookmark
        yield {"type": "MODIFIED", "object": body()}

    async def collect() -> list[Any]:
        return [event async for event in memory.lean_stream(watch)(namespace="ns")]

    events = asyncio.run(collect())
    assert events[1] is bookmark
    for event in (events[0], events[2]):
        meta = event["object"]["metadata"]
        assert "managedFields" not in meta
        assert memory.LAST_APPLIED not in meta["annotations"]
        assert meta["resourceVersion"] == "42" and meta["annotations"]["awsop.io/paused"] == "true"


def test_lean_watch_events_wraps_kopfs_watch_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from kopf._cogs.clients import watching
    from kopf._core.reactor import queueing

    original = watching.infinite_watch
    if getattr(original, "awsop_lean", False):  # an operator ran in this process before
        original = original.__wrapped__
    monkeypatch.setattr(watching, "infinite_watch", original)  # restored after the test
    memory.lean_watch_events()
    wrapped = watching.infinite_watch
    assert wrapped is not original and getattr(wrapped, "awsop_lean", False)
    memory.lean_watch_events()
    assert watching.infinite_watch is wrapped  # idempotent: not wrapped twice
    # kopf's queueing looks the function up on the module at every watch (re)start
    assert queueing.watching is watching


@pytest.mark.parametrize(
    ("namespaces", "clusterwide", "limit"),
    [
        pytest.param([], True, memory.WATCHED_PER_NAMESPACE + memory.KOPF_REQUESTS, id="cluster-wide"),
        pytest.param(["a"], False, memory.WATCHED_PER_NAMESPACE + memory.KOPF_REQUESTS, id="one-namespace"),
        pytest.param(
            ["a", "b", "c"], False, 3 * memory.WATCHED_PER_NAMESPACE + memory.KOPF_REQUESTS, id="three"
        ),
        pytest.param(["team-*"], False, None, id="pattern-unbounded"),
        pytest.param(["a", "!b"], False, None, id="negation-unbounded"),
    ],
)
def test_kopf_connection_limit_leaves_room_for_every_watch(
    namespaces: list[str], clusterwide: bool, limit: int | None
) -> None:
    assert memory.kopf_connection_limit(namespaces, clusterwide) == limit


def test_bounded_session_is_kopfs_session_with_a_connection_limit() -> None:
    import kopf

    from awsop.operator import operator_main

    info = operator_main.as_awsop(
        kopf.ConnectionInfo(server="https://127.0.0.1:6443", token="t0k", scheme="Bearer", insecure=True)
    )
    assert memory.bounded_session(info, None) is info  # no limit: kopf builds its own session

    async def build() -> tuple[Any, Any]:
        context = memory.bounded_session(info, 76)
        try:
            return context, (context.aiohttp_session.connector.limit, dict(context.aiohttp_session.headers))
        finally:
            await context.aiohttp_session.close()

    context, (limit, headers) = asyncio.run(build())
    assert isinstance(context, kopf.AiohttpSession)
    assert (context.server, limit) == ("https://127.0.0.1:6443", 76)
    assert headers["User-Agent"].startswith("awsop")  # still identified as awsop (its field manager)
    assert headers["Authorization"] == "Bearer t0k"
