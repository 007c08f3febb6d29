"""Batched reads: drift checks of many objects share one AWS read where the API takes many names.

Some AWS read calls describe many resources at once (DescribeAutoScalingGroups takes up to 100 names).
A `BatchReader` lets the periodic drift checks of one kind in one (account, region) share them:

- checks that fall due close together coalesce: the first one opens a short collection window, the ones
  arriving during it join, and one call reads them all (at most `per_call` names per call);
- the same call also refreshes the names whose last check is oldest (the objects due next), so checks
  that are spread over a resync period find a fresh description waiting and make no call at all;
- a reconcile of a single object (a spec change, a create, the CLI) never waits: it reads directly, and
  what it reads refreshes the shared entry;
- a runner that knows in advance which names it is about to reconcile (the CLI's plan and apply) may
  `prime` them: one call per `per_call` names, and the next read of each primed name, periodic or not, is
  served that description once (a read-back after a write is direct again).

What it must never do: serve an entry older than `max_age`, take a batch's word for it that a resource is
missing (absence is always confirmed by a direct read), or hold its lock while calling AWS.

Sharing is bounded by when the checks come: a description serves checks for `max_age` after it was read,
so checks spread evenly over a resync period P need about P / max_age calls per period however few objects
there are (10 at production's 300 s and 30 s). `CheckSchedule` removes that floor: it puts the routine
checks of a batched kind on a common grid with as many slots per period as one call's worth of names
needs (ceil(N / per_call)), so the checks due together share one call, and a period of N objects costs
ceil(N / per_call) calls. A slot holds at most about `per_call` checks, so load stays spread for large N.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

Fetch = Callable[[list[str]], dict[str, T]]
"""Reads the named resources; returns name -> description for the ones that exist."""


@dataclass
class _Entry(Generic[T]):
    at: float
    value: T | None


@dataclass
class _Batch(Generic[T]):
    names: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    results: dict[str, T] = field(default_factory=dict)
    error: BaseException | None = None


@dataclass
class BatchStats:
    """What the reader saved and spent (for tests, benchmarks and the design notes)."""

    calls: int = 0
    names_read: int = 0
    served_from_cache: int = 0
    direct_reads: int = 0


class BatchReader(Generic[T]):
    """Coalesces periodic reads of resources by name into shared calls; thread-safe."""

    def __init__(
        self,
        fetch: Fetch[T],
        *,
        per_call: int = 100,
        window: float = 0.2,
        max_age: float = 30.0,
        forget_after: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._fetch = fetch
        self.per_call = per_call
        self.window = window
        self.max_age = max_age
        self.forget_after = forget_after
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry[T]] = {}
        self._known: dict[str, float] = {}  # name -> when it was last asked for
        self._open: _Batch[T] | None = None  # collecting names during its window
        self._pending: dict[str, _Batch[T]] = {}  # name -> the closed batch reading it right now
        self._primed: dict[str, _Entry[T]] = {}  # name -> a description read ahead for its next read
        self.stats = BatchStats()

    def read(self, name: str, periodic: bool = False) -> T | None:
        """The description of `name`, or None when it does not exist.

        `periodic` marks a routine drift check, which may wait up to `window` to share a call or be
        served a description at most `max_age` old; anything else reads at once."""
        primed = self._take_primed(name)
        if primed is not None:
            return primed
        if not periodic:
            return self.read_now(name)
        with self._lock:
            now = self._clock()
            self._known[name] = now
            entry = self._cache.get(name)
            if entry is not None and entry.value is not None and now - entry.at <= self.max_age:
                self.stats.served_from_cache += 1
                return entry.value
            batch = self._pending.get(name)
            leader = False
            if batch is None:
                if self._open is not None and len(self._open.names) < self.per_call:
                    batch = self._open
                    if name not in batch.names:
                        batch.names.append(name)
                else:
                    batch = self._open = _Batch([name])
                    leader = True
        if leader:
            self._run(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        value = batch.results.get(name)
        if value is None:
            return self.read_now(name)  # a batch's silence is not proof: confirm directly
        return value

    def prime(self, names: list[str]) -> None:
        """Read `names` ahead, `per_call` names per call, for one read each (see `read`). Names AWS does
        not answer for are not primed: their read goes to AWS (a batch's silence is not proof)."""
        wanted = list(dict.fromkeys(names))
        for start in range(0, len(wanted), self.per_call):
            chunk = wanted[start : start + self.per_call]
            found = self._call(chunk)
            with self._lock:
                stamp = self._clock()
                for name, value in found.items():
                    if name in chunk and value is not None:
                        self._cache[name] = self._primed[name] = _Entry(stamp, value)

    def _take_primed(self, name: str) -> T | None:
        with self._lock:
            entry = self._primed.pop(name, None)
            if entry is None or entry.value is None or self._clock() - entry.at > self.max_age:
                return None
            self._known[name] = self._clock()
            self.stats.served_from_cache += 1
            return entry.value

    def read_now(self, name: str) -> T | None:
        """Read `name` at once (one call) and share what was read."""
        with self._lock:
            self._known[name] = self._clock()
            self.stats.direct_reads += 1
        value = self._call([name]).get(name)
        with self._lock:
            self._cache[name] = _Entry(self._clock(), value)
        return value

    def invalidate(self, name: str) -> None:
        """`name` was just changed: its shared description is stale."""
        with self._lock:
            self._cache.pop(name, None)
            self._primed.pop(name, None)

    def forget(self, name: str) -> None:
        """`name` is gone or no longer watched: stop refreshing it."""
        with self._lock:
            self._cache.pop(name, None)
            self._known.pop(name, None)
            self._primed.pop(name, None)

    def _call(self, names: list[str]) -> dict[str, T]:
        with self._lock:
            self.stats.calls += 1
            self.stats.names_read += len(names)
        return self._fetch(names)

    def _run(self, batch: _Batch[T]) -> None:
        if self.window > 0:
            self._sleep(self.window)
        with self._lock:
            if self._open is batch:
                self._open = None
            now = self._clock()
            for stale in [n for n, asked in self._known.items() if now - asked > self.forget_after]:
                self._known.pop(stale, None)
                self._cache.pop(stale, None)
            # fill the call with the names checked longest ago: those are the checks due next (not the
            # names read longest ago: one call stamps every name it read with one time)
            room = self.per_call - len(batch.names)
            if room > 0:
                candidates = [
                    n
                    for n in self._known
                    if n not in batch.names
                    and n not in self._pending
                    and (n not in self._cache or now - self._cache[n].at > self.max_age / 2)
                ]
                candidates.sort(key=lambda n: self._known[n])
                batch.names.extend(candidates[:room])
            for name in batch.names:
                self._pending[name] = batch
        try:
            batch.results = self._call(list(batch.names))
        except BaseException as exc:  # shared with every waiter, which raises it as its own
            batch.error = exc
        finally:
            with self._lock:
                stamp = self._clock()
                for name in batch.names:
                    if batch.error is None:
                        self._cache[name] = _Entry(stamp, batch.results.get(name))
                    if self._pending.get(name) is batch:
                        del self._pending[name]
            batch.done.set()


class CheckSchedule:
    """When the routine drift checks of batched kinds fall due; thread-safe.

    The objects of a kind whose periodic reads are shared (`per_call` names per call) are checked on a
    grid of ceil(N / per_call) slots per period, N being the objects of that kind that asked in the last
    three periods, so that the checks due together join one call. An object on the grid is checked one
    period after its last check (up to 10 % or a slot sooner when its check ran late); one that is not
    (new, or the grid moved as N changed) joins the slot nearest to a period later, never sooner than half
    a period (so it is never checked twice as often) and at most half a slot later. Each kind's grid has
    its own offset, so that two batched kinds' checks do not all queue for the worker threads at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, float]] = {}  # kind -> object id -> when it last asked
        self._swept: dict[str, float] = {}  # kind -> when objects that stopped asking were dropped

    def due(self, kind: str, uid: str, last_check: float, period: float, per_call: int) -> float:
        """The time (on the clock of `last_check`) the object's next routine check is due."""
        with self._lock:
            now = self._clock()
            seen = self._seen.setdefault(kind, {})
            seen[uid] = now
            if now - self._swept.setdefault(kind, now) > period:
                self._swept[kind] = now
                for gone in [u for u, at in seen.items() if now - at > 3 * period]:
                    del seen[gone]
            slots = max(1, math.ceil(len(seen) / per_call))
        width = period / slots
        offset = zlib.crc32(kind.encode()) % 1000 / 1000 * width  # kinds' slots apart, not piled up
        tolerance = min(0.1 * period, 0.99 * width)
        due = math.ceil((last_check + period - tolerance - offset) / width) * width + offset
        if due - (last_check + period) > width / 2 and due - width >= last_check + period / 2:
            due -= width
        return due
