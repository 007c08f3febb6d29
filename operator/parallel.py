"""Runs a set of objects in dependency order on a bounded pool of worker threads (the CLI's plan and apply).

An object starts once every object it depends on (in the set) is done; among the objects ready to start,
the one earliest in the given order goes first, so one worker reproduces the serial run exactly. What an
object's work returns is handed to `on_done` in the calling thread as it completes (progress display), and
the results come back keyed by object: the caller prints them in its own stable order, never in completion
order.

It must never: start an object before its dependencies are done, run more than `parallelism` objects at
once, or swallow an exception a worker raised (the first one is raised once running work has finished).
"""

from __future__ import annotations

import heapq
import queue
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

DEFAULT_PARALLELISM = 16


def run_in_order(
    keys: Sequence[K],
    dependencies: Mapping[K, Collection[K]],
    work: Callable[[K], R],
    parallelism: int = DEFAULT_PARALLELISM,
    on_done: Callable[[K, R], None] | None = None,
) -> dict[K, R]:
    """`work(key)` for every key, each after its `dependencies` (keys outside `keys` are ignored); at most
    `parallelism` at a time. Raises ValueError for a dependency cycle (the caller orders without one)."""
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    position = {key: index for index, key in enumerate(keys)}
    waiting_on = {key: {d for d in dependencies.get(key, ()) if d in position and d != key} for key in keys}
    dependents: dict[K, list[K]] = {key: [] for key in keys}
    for key, needs in waiting_on.items():
        for needed in needs:
            dependents[needed].append(key)
    ready = [position[key] for key, needs in waiting_on.items() if not needs]
    heapq.heapify(ready)
    results: dict[K, R] = {}

    def finished(key: K, result: R) -> None:
        results[key] = result
        if on_done is not None:
            on_done(key, result)
        for dependent in dependents[key]:
            waiting_on[dependent].discard(key)
            if not waiting_on[dependent]:
                heapq.heappush(ready, position[dependent])

    if parallelism == 1:  # in the calling thread: the serial run, exactly
        while ready:
            key = keys[heapq.heappop(ready)]
            finished(key, work(key))
    else:
        finished_queue: queue.SimpleQueue[Future[R]] = queue.SimpleQueue()
        running: dict[Future[R], K] = {}
        failure: BaseException | None = None
        # completions arrive through a queue (one put per object), not concurrent.futures.wait, which
        # re-registers a waiter on every running future at each completion
        with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="awsop-worker") as pool:
            try:
                while ready or running:
                    while ready and len(running) < parallelism and failure is None:
                        key = keys[heapq.heappop(ready)]
                        future = pool.submit(work, key)
                        running[future] = key
                        future.add_done_callback(finished_queue.put)
                    if not running:
                        break
                    future = finished_queue.get()
                    key = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        failure = failure or error
                        continue
                    finished(key, future.result())
            except BaseException:  # Ctrl-C: let running work end, start nothing more
                for future in running:
                    future.cancel()
                raise
        if failure is not None:
            raise failure
    if len(results) != len(keys):
        stuck = [key for key in keys if key not in results]
        raise ValueError(f"dependency cycle among {stuck}")
    return results
