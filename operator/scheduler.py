"""One drift scheduler per operator process: every served object's next check in one heap.

A kopf daemon per object costs a runner task, a stopper, its waits and the newest body kopf keeps for it
(about 6 tasks and 13 coroutines per object); at 10,000 objects that is tens of MiB for objects that sleep
almost all the time. Here one asyncio task holds a heap of (due time, uid) and, per object, the newest body
a check reads (handed over from the watch stream), and runs each due check in a worker thread of its own
bounded pool. What a check does, and when the next one is due, stays the caller's (`check` returns the
seconds until the next check); the scheduler only keeps time:

- an object tracked for the first time is checked at once (the check itself decides it is not due yet, as
  a daemon's first round did);
- `wake(uid)` (from any thread) makes the object due now; `wake_all()` (a TagPolicy or namespace label
  changed) makes every object due now; a wake that arrives while the object's check runs starts the next
  check as soon as that one returns;
- a check of one object never runs twice at once, and at most `workers` checks run at a time;
- while kopf pauses the operator (peering: another replica is active) no check starts;
- `stop()` returns at once: checks in flight finish in their threads, none starts after.

It never reads or writes AWS or Kubernetes and never imports the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("awsop")

MIN_DELAY_SECONDS = 1.0  # the shortest wait between two checks of one object that nothing woke
ERROR_DELAY_SECONDS = 60.0  # a check that raised (a bug, never an AWS error: those are outcomes)

Check = Callable[[Any, Any], float]


class _Entry:
    """One tracked object: its kind (handed to the check), its newest body and when it is due."""

    __slots__ = ("again", "body", "due", "kind")

    def __init__(self, kind: Any, body: Any, due: float) -> None:
        self.kind, self.body, self.due, self.again = kind, body, due, False


class DriftScheduler:
    """The drift checks of every object this process serves, kept in one heap and run on one task."""

    def __init__(
        self,
        check: Check,
        workers: int,
        wake_event: Callable[[], asyncio.Event] | None = None,
        paused: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`check(kind, body)` runs in a worker thread and returns seconds until the object's next check.
        `wake_event()` is an event that a change affecting every object sets (then all are due now).
        `paused()` is kopf's pause toggle (or None): no check starts while it is on."""
        self.check = check
        self.workers = max(1, workers)
        self.wake_event = wake_event
        self.paused = paused
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, str]] = []
        self._busy: set[str] = set()  # uids whose check runs now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = False
        self.started = 0  # checks started (tests and metrics read it)

    # -- what is tracked (called on the event loop) -------------------------------------------------

    def track(self, uid: str, kind: Any, body: Any) -> bool:
        """Keep `body` as the object's newest; a new object is due at once. True when it was new."""
        entry = self._entries.get(uid)
        if entry is not None:
            entry.kind, entry.body = kind, body
            return False
        entry = self._entries[uid] = _Entry(kind, body, self.clock())
        self._push(uid, entry)
        return True

    def untrack(self, uid: str) -> bool:
        """Stop checking the object (a check in flight finishes). True when it was tracked."""
        return self._entries.pop(uid, None) is not None

    def __contains__(self, uid: object) -> bool:
        return uid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, uid: str) -> float | None:
        """When the object's next check starts (None: not tracked, or its check runs now)."""
        entry = self._entries.get(uid)
        return None if entry is None or uid in self._busy else entry.due

    @property
    def running(self) -> int:
        return len(self._busy)

    # -- waking -----------------------------------------------------------------------------------------

    def wake(self, uid: str) -> None:
        """Make the object due now (safe from any thread; nothing happens before `start`)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                self._wake(uid)
                return
        except RuntimeError:
            pass
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake, uid)

    def _wake(self, uid: str) -> None:
        entry = self._entries.get(uid)
        if entry is None:
            return
        if uid in self._busy:
            entry.again = True
            return
        now = self.clock()
        if entry.due > now:  # else it is due already: its heap item stands
            entry.due = now
            self._push(uid, entry)

    def wake_all(self) -> None:
        """Every object is due now (on the event loop)."""
        now = self.clock()
        for uid, entry in self._entries.items():
            if uid in self._busy:
                entry.again = True
            else:
                entry.due = now
        self._heap = [(now, uid) for uid in self._entries if uid not in self._busy]
        heapq.heapify(self._heap)
        self._poke()

    # -- running --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduling task (and the wake-all watcher) on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="awsop-drift")
        self._tasks = [self._loop.create_task(self._run(), name="awsop drift scheduler")]
        if self.wake_event is not None:
            self._tasks.append(self._loop.create_task(self._follow_wakes(), name="awsop drift wake-all"))

    async def stop(self) -> None:
        """Stop at once: no check starts after this; those in flight finish in their threads."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._loop = None

    async def _follow_wakes(self) -> None:
        assert self.wake_event is not None
        while True:
            event = self.wake_event()  # taken before waiting: a change from now on sets it
            await event.wait()
            self.wake_all()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        signal = self._signal
        assert signal is not None
        while not self._stopping:
            toggle = self.paused() if self.paused is not None else None
            if toggle is not None and toggle.is_on():
                await toggle.wait_for(False)  # kopf stopped its watches; they resume with a fresh listing
                continue
            self._start_due()
            signal.clear()
            timer = None
            if self._heap and len(self._busy) < self.workers:  # else a finished check or a wake pokes
                timer = loop.call_later(max(0.0, self._heap[0][0] - self.clock()), signal.set)
            try:
                await signal.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def _start_due(self) -> None:
        now = self.clock()
        heap = self._heap
        while heap and heap[0][0] <= now and len(self._busy) < self.workers:
            due, uid = heapq.heappop(heap)
            entry = self._entries.get(uid)
            if entry is None or entry.due != due:
                continue  # forgotten, or moved (a newer heap item stands for it)
            if uid in self._busy:  # a check of the object left over from before it was tracked again
                entry.again = True
                continue
            self._busy.add(uid)
            entry.again = False
            self.started += 1
            assert self._executor is not None
            future = self._executor.submit(self.check, entry.kind, entry.body)
            future.add_done_callback(functools.partial(self._finished, uid, entry))
        if len(heap) > 2 * len(self._entries) + 64:  # stale items of moved objects: drop them
            self._heap = [(e.due, u) for u, e in self._entries.items() if u not in self._busy]
            heapq.heapify(self._heap)

    def _finished(self, uid: str, entry: _Entry, done: Future[float]) -> None:
        """In the worker thread: hand the result to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._busy.discard(uid)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._reschedule, uid, entry, done)

    def _reschedule(self, uid: str, entry: _Entry, done: Future[float]) -> None:
        self._busy.discard(uid)
        self._poke()  # a worker is free
        current = self._entries.get(uid)
        if current is None:
            return
        now = self.clock()
        if current is entry:  # its heap item was taken when the check started: a new one
            delay = self._delay(done)
            current.due = now if entry.again else now + delay
        elif current.again:  # tracked again while the old check ran, and found due meanwhile
            current.due = now
        else:
            return  # tracked again while the old check ran: its own heap item stands
        current.again = False
        self._push(uid, current)

    @staticmethod
    def _delay(done: Future[float]) -> float:
        if done.cancelled():
            return 0.0
        if (error := done.exception()) is not None:
            log.error("drift check failed; next in %.0fs", ERROR_DELAY_SECONDS, exc_info=error)
            return ERROR_DELAY_SECONDS
        return max(MIN_DELAY_SECONDS, float(done.result()))

    def _push(self, uid: str, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.due, uid))
        self._poke()

    def _poke(self) -> None:
        if self._signal is not None:
            self._signal.set()


_OPERATOR_PAUSED: list[Any] = []  # kopf's pause toggle of the running operator (set by the hook below)


def operator_paused() -> Any:
    """kopf's pause toggle (on while another replica is active: peering) of the operator running in this
    process, or None before kopf started."""
    return _OPERATOR_PAUSED[-1] if _OPERATOR_PAUSED else None


def follow_kopf_pause() -> None:
    """Make kopf hand its pause toggle over (idempotent). kopf stops its own daemons while paused but has
    no public hook for other tasks; its daemon killer receives the toggle when the operator starts, and
    kopf looks that function up on its module then, so wrapping it there is enough."""
    from kopf._core.engines import daemons

    original = daemons.daemon_killer
    if getattr(original, "awsop_pause", False):
        return

    async def daemon_killer(**kwargs: Any) -> None:
        _OPERATOR_PAUSED[:] = [kwargs.get("operator_paused")]
        await original(**kwargs)

    daemon_killer.awsop_pause = True  # type: ignore[attr-defined]
    daemons.daemon_killer = daemon_killer
