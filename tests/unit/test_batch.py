"""BatchReader: periodic reads coalesce and share fresh answers; single reads never wait."""

from __future__ import annotations

import heapq
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from awsop.reconcilers.batch import BatchReader, CheckSchedule


class Fake:
    """A describe call over a fixed set of existing names that records every call."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, names: list[str]) -> dict[str, str]:
        with self.lock:
            self.calls.append(list(names))
        return {n: f"described {n}" for n in names if n in self.existing}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_single_read_is_immediate_and_never_waits() -> None:
    fake = Fake({"a"})
    slept: list[float] = []
    reader = BatchReader(fake, window=5.0, sleep=slept.append)
    assert reader.read("a") == "described a"
    assert fake.calls == [["a"]] and slept == []


@pytest.mark.parametrize("count", [1, 50, 100, 101, 250])
def test_concurrent_periodic_reads_cost_ceil_n_over_per_call(count: int) -> None:
    names = [f"g{i}" for i in range(count)]
    fake = Fake(set(names))
    # a window wide enough that every thread arrives in it even on a loaded machine (0.2 s flaked there)
    reader = BatchReader(fake, per_call=100, window=1.0)
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(lambda n: reader.read(n, periodic=True), names))
    assert results == [f"described {n}" for n in names]
    assert len(fake.calls) == -(-count // 100)
    assert all(len(call) <= 100 for call in fake.calls)


def test_spread_out_checks_are_served_by_the_call_that_read_the_stalest_names() -> None:
    clock = Clock()
    names = [f"g{i}" for i in range(30)]
    fake = Fake(set(names))
    reader = BatchReader(fake, per_call=100, window=0.0, max_age=30.0, clock=clock)
    for name in names:  # first sight (a reconcile at start-up) makes every name known
        reader.read(name)
    fake.calls.clear()
    clock.now += 300  # a resync period later, the checks come one by one, 0.5 s apart
    for name in names:
        assert reader.read(name, periodic=True) == f"described {name}"
        clock.now += 0.5
    assert len(fake.calls) == 1 and sorted(fake.calls[0]) == sorted(names)


def test_a_call_fills_up_with_the_names_checked_longest_ago_not_the_names_read_longest_ago() -> None:
    """One call stamped every name with one read time; the names due next are those checked longest ago."""
    clock = Clock()
    due_later = [f"b{i}" for i in range(5)]
    due_next = [f"a{i}" for i in range(5)]
    fake = Fake(set(due_later + due_next) | {"x"})
    reader = BatchReader(fake, per_call=11, window=0.0, max_age=10.0, clock=clock)
    for name in due_later + due_next:  # first sight, the later group first
        reader.read(name)
    clock.now += 50
    for name in due_next:  # checked at +50
        reader.read(name)
    clock.now += 50
    for name in due_later:  # checked at +100
        reader.read(name)
    clock.now += 100
    reader.read("x", periodic=True)  # one call reads all eleven: one read time for all
    assert len(fake.calls[-1]) == 11
    clock.now += 15  # every description is stale now; the first group is due
    reader.per_call = 6
    fake.calls.clear()
    reader.read("a0", periodic=True)
    assert len(fake.calls) == 1 and set(due_next) <= set(fake.calls[0]), fake.calls


def test_entries_older_than_max_age_are_read_again() -> None:
    clock = Clock()
    fake = Fake({"a"})
    reader = BatchReader(fake, window=0.0, max_age=30.0, clock=clock)
    reader.read("a", periodic=True)
    clock.now += 31
    reader.read("a", periodic=True)
    assert len(fake.calls) == 2


def test_absence_in_a_batch_is_confirmed_by_a_direct_read() -> None:
    fake = Fake(set())
    reader = BatchReader(fake, window=0.0)
    assert reader.read("gone", periodic=True) is None
    assert fake.calls == [["gone"], ["gone"]]


def test_invalidate_after_a_write_forces_a_fresh_read() -> None:
    fake = Fake({"a"})
    reader = BatchReader(fake, window=0.0)
    reader.read("a", periodic=True)
    reader.invalidate("a")
    reader.read("a", periodic=True)
    assert len(fake.calls) == 2


def test_a_failed_batch_raises_for_every_waiter_and_caches_nothing() -> None:
    def broken(names: list[str]) -> dict[str, str]:
        raise ConnectionError("reset")

    reader = BatchReader(broken, window=0.1)
    errors = []

    def read(name: str) -> None:
        try:
            reader.read(name, periodic=True)
        except ConnectionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(f"g{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 5
    assert reader.stats.served_from_cache == 0


def test_forgotten_names_are_not_refreshed() -> None:
    clock = Clock()
    fake = Fake({"a", "b"})
    reader = BatchReader(fake, window=0.0, clock=clock)
    reader.read("a")
    reader.read("b")
    reader.forget("b")
    clock.now += 100
    reader.read("a", periodic=True)
    assert fake.calls[-1] == ["a"]


# -- CheckSchedule: routine checks of a batched kind fall due together -----------------------------------

PERIOD = 300.0


def simulate(count: int, periods: int, late: float = 0.5) -> tuple[list[tuple[str, float, float]], int]:
    """Drift checks of `count` objects first seen at random times over one period: each sleeps until
    its check is due, the check runs `late` seconds after that, then it asks for the next one.
    Returns every (object, last check, due) asked after the first round, and the slots per period."""
    clock = Clock()
    schedule = CheckSchedule(clock=clock)
    rng = random.Random(count)
    start = clock.now
    pending = [(start + rng.uniform(0, PERIOD), f"g{i}") for i in range(count)]  # first sights
    heapq.heapify(pending)
    asked: list[tuple[str, float, float]] = []
    while pending[0][0] < start + periods * PERIOD:
        at, uid = heapq.heappop(pending)
        clock.now = at
        last = at + late if at > start + PERIOD else at  # a first sight is no check
        due = schedule.due("Group", uid, last, PERIOD, 100)
        if at > start + 2 * PERIOD:
            asked.append((uid, last, due))
        heapq.heappush(pending, (due, uid))
    return asked, -(-count // 100)


@pytest.mark.parametrize("count", [1, 60, 100, 120, 250, 1000])
def test_schedule_puts_spread_out_checks_on_ceil_n_over_per_call_slots(count: int) -> None:
    asked, slots = simulate(count, periods=6)
    end = max(due for _, _, due in asked)
    last_period = [due for _, _, due in asked if due > end - PERIOD]  # each object once
    assert len(last_period) == count
    # the checks of one period fall due at no more moments than one call's worth of names needs
    assert len({round(due % PERIOD, 3) % PERIOD for due in last_period}) <= slots
    for _, last, due in asked:  # never twice as often, never more than half a slot late
        assert PERIOD / 2 <= due - last <= PERIOD + PERIOD / slots / 2 + 1e-6
    # once on the grid, an object is checked one period after its last check
    final = [due - last for _, last, due in asked[-count:]]
    assert all(abs(gap + 0.5 - PERIOD) < 1e-6 for gap in final), sorted(final)[:3]


def test_schedule_forgets_objects_that_stopped_asking() -> None:
    clock = Clock()
    schedule = CheckSchedule(clock=clock)

    def phases(count: int) -> set[float]:
        """Moments of the period at which `count` objects last checked across one period fall due."""
        due = [
            schedule.due("Group", f"g{i}", clock.now + i * PERIOD / count, PERIOD, 100) for i in range(count)
        ]
        return {round(at % PERIOD, 3) for at in due}

    assert len(phases(150)) == 2  # 150 objects: two slots per period
    clock.now += 3.5 * PERIOD  # 100 of them are gone: only 50 keep asking
    assert len(phases(50)) == 1  # one slot again: every check of the kind due at once


@pytest.mark.parametrize("count", [1, 100, 101, 250])
def test_primed_names_cost_ceil_n_over_per_call_and_serve_one_read_each(count: int) -> None:
    names = [f"g{i}" for i in range(count)]
    fake = Fake(set(names))
    reader = BatchReader(fake, per_call=100, window=5.0, sleep=lambda _: pytest.fail("a primed read waited"))
    reader.prime(names)
    assert len(fake.calls) == -(-count // 100) and all(len(c) <= 100 for c in fake.calls)
    assert [reader.read(n) for n in names] == [f"described {n}" for n in names]
    assert len(fake.calls) == -(-count // 100), "a primed read made a call"
    assert reader.read(names[0]) == f"described {names[0]}"
    assert fake.calls[-1] == [names[0]], "a second read (a read-back after a write) goes to AWS again"


def test_a_name_absent_from_the_primed_answer_is_read_directly() -> None:
    fake = Fake({"a"})
    reader = BatchReader(fake, per_call=100)
    reader.prime(["a", "b"])
    assert reader.read("b") is None
    assert fake.calls == [["a", "b"], ["b"]]  # the batch's silence was confirmed by a direct read


def test_a_primed_description_older_than_max_age_or_invalidated_is_not_served() -> None:
    clock = Clock()
    fake = Fake({"a", "b"})
    reader = BatchReader(fake, per_call=100, max_age=30.0, clock=clock)
    reader.prime(["a", "b"])
    reader.invalidate("b")  # written meanwhile
    clock.now += 31
    reader.read("a")
    reader.read("b")
    assert fake.calls == [["a", "b"], ["a"], ["b"]]
