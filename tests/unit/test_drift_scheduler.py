"""The drift scheduler without Kubernetes or AWS: one task for every object's checks, checks in a bounded
pool, never two of one object at once, wake-ups of one object (from any thread) and of all (a TagPolicy
change), objects leaving, kopf's pause (peering) and a stop within kopf's cancellation window; and the
operator's side: watch events feed it, a deletion or a move to another shard takes an object out."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._cogs.structs.references import Resource

from awsop.operator import handlers, kube, scheduler
from awsop.operator.runtime import Runtime
from awsop.operator.scheduler import DriftScheduler
from awsop.operator.settings import Settings
from awsop.operator.tag_policies import PolicyCache
from awsop.reconcilers.kinds import KINDS, VERSION


class Checks:
    """A check that records who ran when, how many of one object ran at once, and returns `delay`."""

    def __init__(self, delay: float = 3600.0, takes: float = 0.0) -> None:
        self.delay, self.takes = delay, takes
        self.lock = threading.Lock()
        self.runs: list[tuple[str, float]] = []
        self.now: Counter[str] = Counter()
        self.overlaps = 0
        self.most = 0
        self.release = threading.Event()
        self.release.set()

    def __call__(self, kind: Any, body: Any) -> float:
        uid = body["metadata"]["uid"]
        with self.lock:
            self.now[uid] += 1
            self.overlaps += self.now[uid] > 1
            self.most = max(self.most, sum(self.now.values()))
            self.runs.append((uid, time.monotonic()))
        try:
            self.release.wait(10)
            time.sleep(self.takes)
        finally:
            with self.lock:
                self.now[uid] -= 1
        return self.delay

    def count(self, uid: str | None = None) -> int:
        with self.lock:
            return sum(1 for u, _ in self.runs if uid is None or u == uid)


def obj(uid: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "ns"}}


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Any]) -> None:
    asyncio.run(scenario())


def test_many_objects_cost_no_task_each_and_are_checked_once_on_first_sight() -> None:
    checks = Checks()

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=4)
        drift.start()
        before = len(asyncio.all_tasks())
        for i in range(2000):
            drift.track(f"u{i}", "Queue", obj(f"u{i}"))
        await until(lambda: checks.count() == 2000)
        await asyncio.sleep(0.2)
        assert len(asyncio.all_tasks()) == before, "no task per object"
        assert checks.count() == 2000, "each checked once; the next is an hour away"
        assert len(drift) == 2000 and checks.most <= 4
        assert all(drift.due(f"u{i}") is not None for i in range(2000))
        await drift.stop()

    run(scenario)


def test_the_next_check_comes_after_the_delay_the_check_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "MIN_DELAY_SECONDS", 0.01)
    checks = Checks(delay=0.3)

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=2)
        drift.start()
        drift.track("a", "Queue", obj("a"))
        await until(lambda: checks.count("a") >= 3)
        times = [t for _, t in checks.runs]
        assert all(0.28 <= b - a < 2.0 for a, b in itertools.pairwise(times)), times
        await drift.stop()

    run(scenario)


def test_a_wake_from_another_thread_makes_the_object_due_now_and_only_that_object() -> None:
    checks = Checks()

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=2)
        drift.start()
        drift.track("a", "Queue", obj("a"))
        drift.track("b", "Queue", obj("b"))
        await until(lambda: checks.count() == 2)
        await asyncio.sleep(0.05)
        thread = threading.Thread(target=drift.wake, args=("a",))
        thread.start()
        thread.join()
        await until(lambda: checks.count("a") == 2)
        await asyncio.sleep(0.1)
        assert checks.count("b") == 1
        drift.wake("unknown")  # an object the scheduler does not track: nothing happens
        await drift.stop()

    run(scenario)


def test_a_check_of_one_object_never_runs_twice_at_once_and_a_wake_during_it_reruns_it_after() -> None:
    checks = Checks()

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=8)
        drift.start()
        checks.release.clear()  # the first check blocks
        drift.track("a", "Queue", obj("a"))
        await until(lambda: checks.count("a") == 1)
        for _ in range(5):
            drift.wake("a")
        drift.wake_all()
        drift.untrack("a")
        drift.track("a", "Queue", obj("a"))  # tracked again (e.g. moved away and back) while it runs
        await asyncio.sleep(0.2)
        assert checks.count("a") == 1, "nothing starts beside the running check"
        checks.release.set()
        await until(lambda: checks.count("a") == 2)
        await asyncio.sleep(0.2)
        assert checks.count("a") == 2 and checks.overlaps == 0, "one rerun for all the wakes, after it"
        await drift.stop()

    run(scenario)


def test_checks_run_in_a_bounded_pool() -> None:
    checks = Checks(takes=0.05)

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=3)
        drift.start()
        for i in range(30):
            drift.track(f"u{i}", "Queue", obj(f"u{i}"))
        await until(lambda: checks.count() == 30)
        assert checks.most == 3
        await drift.stop()

    run(scenario)


def test_a_policy_change_makes_every_object_due_now() -> None:
    checks = Checks()

    async def scenario() -> None:
        policies = PolicyCache()
        drift = DriftScheduler(checks, workers=4, wake_event=policies.wake_event)
        drift.start()
        for i in range(50):
            drift.track(f"u{i}", "Queue", obj(f"u{i}"))
        await until(lambda: checks.count() == 50)
        await asyncio.sleep(0.05)
        threading.Thread(target=policies.wake).start()  # as a TagPolicy index does, from a thread
        await until(lambda: checks.count() == 100)
        policies.wake()  # and once more, from the loop
        await until(lambda: checks.count() == 150)
        await drift.stop()

    run(scenario)


def test_an_untracked_object_is_checked_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "MIN_DELAY_SECONDS", 0.01)
    checks = Checks(delay=0.05)

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=2)
        drift.start()
        drift.track("a", "Queue", obj("a"))
        drift.track("b", "Queue", obj("b"))
        await until(lambda: checks.count("a") >= 2)
        assert drift.untrack("a") and not drift.untrack("a")
        seen = checks.count("a")
        drift.wake("a")
        others = checks.count("b")
        await until(lambda: checks.count("b") >= others + 4)  # the others go on
        assert checks.count("a") <= seen + 1, "at most the check in flight finishes"
        await drift.stop()

    run(scenario)


def test_a_check_that_raises_is_logged_and_tried_again_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(scheduler, "ERROR_DELAY_SECONDS", 0.1)
    calls: list[float] = []

    def broken(kind: Any, body: Any) -> float:
        calls.append(time.monotonic())
        raise RuntimeError("bug")

    async def scenario() -> None:
        drift = DriftScheduler(broken, workers=1)
        drift.start()
        drift.track("a", "Queue", obj("a"))
        await until(lambda: len(calls) >= 2)
        assert calls[1] - calls[0] >= 0.09
        await drift.stop()

    run(scenario)
    assert "drift check failed" in caplog.text


def test_nothing_starts_while_kopf_pauses_the_operator() -> None:
    checks = Checks()

    async def scenario() -> None:
        paused = ToggleSet(any)
        toggle = await paused.make_toggle(True, name="peering")
        drift = DriftScheduler(checks, workers=2, paused=lambda: paused)
        drift.start()
        drift.track("a", "Queue", obj("a"))
        await asyncio.sleep(0.2)
        assert checks.count() == 0, "another replica is active"
        await toggle.turn_to(False)
        await until(lambda: checks.count() == 1)
        await toggle.turn_to(True)
        drift.wake("a")
        await asyncio.sleep(0.2)
        assert checks.count() == 1
        await drift.stop()

    run(scenario)


def test_stop_returns_at_once_with_a_check_in_flight_and_nothing_starts_after() -> None:
    checks = Checks()

    async def scenario() -> None:
        drift = DriftScheduler(checks, workers=2)
        drift.start()
        checks.release.clear()
        drift.track("a", "Queue", obj("a"))
        await until(lambda: checks.count() == 1)
        started = time.monotonic()
        await drift.stop()
        assert time.monotonic() - started < 0.5, "well within kopf's cancellation window (5 s)"
        drift.track("b", "Queue", obj("b"))
        drift.wake("a")
        checks.release.set()
        await asyncio.sleep(0.2)
        assert checks.count() == 1

    run(scenario)


# -- the operator's side --------------------------------------------------------------------------------


def queue_body(uid: str = "q", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": KINDS["Queue"].api_version,
        "kind": "Queue",
        "metadata": {"name": "orders", "namespace": "ns", "uid": uid, **meta},
        "spec": {"visibilityTimeoutSeconds": 30},
        "status": {"conditions": []},
    }


def test_watch_events_hand_the_scheduler_the_newest_body_without_copying_it() -> None:
    rt = Runtime(Settings(), None, {})  # type: ignore[arg-type]
    queue = KINDS["Queue"]

    async def scenario() -> None:
        first = queue_body(resourceVersion="1")
        await handlers.follow(queue, rt, None, kopf.Body(first))
        assert "q" in rt.drift
        newer = queue_body(resourceVersion="2")
        await handlers.follow(queue, rt, "MODIFIED", kopf.Body(newer))
        kept = rt.drift._entries["q"].body
        assert kept["metadata"] is newer["metadata"] and kept["spec"] is newer["spec"], "no copy"
        assert set(kept) == {"apiVersion", "kind", "metadata", "spec", "status"}

    run(scenario)


def test_a_deleted_object_leaves_the_scheduler_and_is_forgotten_once_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As when someone removes the finalizer by hand: no delete handler runs, the object is still
    forgotten (one GET after the deletion mark's wait finds it gone)."""
    monkeypatch.setattr(handlers, "GONE_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(kube, "get", lambda *a, **k: None)
    rt = Runtime(Settings(), None, {})  # type: ignore[arg-type]
    queue = KINDS["Queue"]

    async def scenario() -> None:
        await handlers.follow(queue, rt, None, queue_body())
        rt.objects.get("q")
        await handlers.follow(queue, rt, "MODIFIED", queue_body(deletionTimestamp="2026-01-01T00:00:00Z"))
        assert "q" not in rt.drift and len(rt.background) == 1
        await handlers.follow(queue, rt, "DELETED", queue_body(deletionTimestamp="2026-01-01T00:00:00Z"))
        assert len(rt.background) == 1, "one look-up per deletion"
        await until(lambda: "q" not in rt.objects and not rt.background)  # the task ends after forgetting
        await handlers.follow(queue, rt, None, queue_body("never", deletionTimestamp="2026-01-01T00:00:00Z"))
        assert "never" not in rt.drift and not rt.background, "first seen while deleted: nothing to check"

    run(scenario)


def test_the_operator_registers_no_daemon_per_object_and_a_reconcile_wakes_the_scheduler() -> None:
    rt = Runtime(Settings(), None, {})  # type: ignore[arg-type]
    registry = kopf.OperatorRegistry()
    handlers.register(rt, registry)
    for info in handlers.served_kinds(rt.settings):
        resource = Resource(info.group, VERSION, info.plural)
        assert not registry._spawning.has_handlers(resource=resource), f"{info.kind}: no kopf daemon or timer"
        assert registry._watching.has_handlers(resource=resource)
    woken: list[str] = []
    rt.drift.wake = woken.append  # type: ignore[method-assign]
    rt.objects.waker = rt.drift.wake
    rt.objects.wake("q")
    assert woken == ["q"]


def test_the_scheduler_learns_kopfs_pause_toggle_when_the_operator_starts() -> None:
    """Pins the one point of kopf 1.45 it relies on: kopf's operator starts its daemon killer, looked up
    on its module, with the pause toggle as `operator_paused`."""
    import inspect

    from kopf._core.engines import daemons
    from kopf._core.reactor import running

    assert "daemons.daemon_killer(" in inspect.getsource(running.spawn_tasks)
    scheduler.follow_kopf_pause()
    scheduler.follow_kopf_pause()  # idempotent: wrapped once
    assert daemons.daemon_killer.awsop_pause  # type: ignore[attr-defined]
    original = inspect.getclosurevars(daemons.daemon_killer).nonlocals["original"]
    assert not getattr(original, "awsop_pause", False)

    class NoDaemons:
        def iter_all_daemon_memories(self) -> list[Any]:
            return []

    async def scenario() -> None:
        paused = ToggleSet(any)
        killer = asyncio.create_task(
            daemons.daemon_killer(
                settings=kopf.OperatorSettings(), memories=NoDaemons(), operator_paused=paused
            )
        )
        await asyncio.sleep(0.05)
        assert scheduler.operator_paused() is paused
        killer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await killer

    run(scenario)
