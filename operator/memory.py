"""What the operator keeps in memory per object, and the means to look at it.

The drift scheduler keeps the newest body of every object it serves for as long as the object exists
(what its checks read), and kopf holds bodies in its queues while it handles them: at 10,000 objects
every byte kept per body counts. A body from the API server carries `metadata.managedFields`
(server-side apply's record of which manager owns which field, often the largest part of a small
object's metadata) and, after a client-side `kubectl apply`, the
`kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the whole manifest).
Neither kopf nor awsop reads them from watched bodies: kopf's last-handled essence leaves both out, its
patches are merge patches, and awsop's writes go by field manager, never by the body's managedFields.
`lean_watch_events` drops both from every watch event before kopf stores it.

This module must never change what a handler decides: only those two fields go, everything else of a
body (resourceVersion, generation, labels, annotations, spec, status) stays as the API server sent it.

`AWSOP_DEBUG_MEMORY=<file>` (a debug option, not a setting: it slows the operator down) traces Python's
allocations and rewrites `<file>` every 15 s with the largest allocation sites and the object counts
by type, to see where the memory goes.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("awsop")

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def strip_body(raw: Any) -> Any:
    """Remove managedFields and the last-applied annotation from a raw body, in place; returns it."""
    if not isinstance(raw, dict):
        return raw
    meta = raw.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
    return raw


def lean_stream(
    watch: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    """`watch` (kopf's infinite watch) with every event's object stripped (`strip_body`) as it arrives."""

    @functools.wraps(watch)
    async def lean(**kwargs: Any) -> AsyncIterator[Any]:
        async for event in watch(**kwargs):
            if isinstance(event, dict) and "object" in event:
                strip_body(event["object"])
            yield event

    lean.awsop_lean = True  # type: ignore[attr-defined]
    return lean


def lean_watch_events() -> None:
    """Make kopf's watch streams hand over stripped bodies (idempotent). kopf's queueing looks the
    stream function up on its module at every (re)start of a watch, so replacing it there covers the
    initial listing and every watch event of every resource."""
    from kopf._cogs.clients import watching

    if not getattr(watching.infinite_watch, "awsop_lean", False):
        watching.infinite_watch = lean_stream(watching.infinite_watch)


KOPF_REQUESTS = 64  # kopf's own requests in flight at once (patches, Events, lookups), beside its watches
WATCHED_PER_NAMESPACE = 12  # at most: the served kinds, TagPolicy, AWSAccount, namespaces, peering, CRDs


def kopf_connection_limit(namespaces: list[str], clusterwide: bool) -> int | None:
    """How many connections kopf's HTTP session may hold: every watch stream kopf can open (one per
    watched resource, per namespace when namespaces are named) plus `KOPF_REQUESTS`. kopf's own session
    has no limit: with thousands of objects arriving at once it opened hundreds of TLS connections, each
    with asyncio's 256 KiB read buffer, and their memory stayed with the process. None (no limit, as
    kopf does) when a namespace is a pattern: kopf then watches every namespace that matches, a number
    not known here, and a watch must never wait for a connection."""
    if clusterwide or not namespaces:
        return WATCHED_PER_NAMESPACE + KOPF_REQUESTS
    if any(ch in ns for ns in namespaces for ch in "*?[]!,"):
        return None
    return WATCHED_PER_NAMESPACE * len(namespaces) + KOPF_REQUESTS


def bounded_session(info: Any, limit: int | None) -> Any:
    """kopf's connection `info` as a kopf.AiohttpSession whose connector holds at most `limit`
    connections (the session is what kopf builds itself, bar the limit); `info` itself when None.
    Must be called in kopf's event loop (the session binds to it); kopf closes it when it re-logs in."""
    if limit is None or info is None:
        return info
    import aiohttp
    import kopf

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),  # credentials included (token, basic auth)
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


def debug_memory(path: str | None = None, every: float = 15.0) -> threading.Thread | None:
    """Start the allocation tracing of AWSOP_DEBUG_MEMORY (if set, or `path`); None when off."""
    target = path or os.environ.get("AWSOP_DEBUG_MEMORY", "")
    if not target:
        return None
    import tracemalloc

    tracemalloc.start(1)

    def dump() -> None:
        while True:
            time.sleep(every)
            try:
                write_memory_report(Path(target))
            except Exception as exc:  # a debug aid must never stop the operator
                log.warning("memory report failed: %s", exc)

    thread = threading.Thread(target=dump, name="awsop-memory-report", daemon=True)
    thread.start()
    log.warning("AWSOP_DEBUG_MEMORY: tracing allocations into %s (slow; for debugging only)", target)
    return thread


def write_memory_report(path: Path, top: int = 40) -> None:
    """The largest allocation sites (tracemalloc), the TLS connections kopf holds and the object
    counts by type (gc)."""
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    lines = [f"traced {total / 2**20:.1f} MiB in {sum(s.count for s in stats)} blocks"]
    lines += [f"{s.size / 2**10:10.0f} KiB {s.count:9d} {s.traceback[0]}" for s in stats[:top]]
    counts = Counter(type(o).__name__ for o in gc.get_objects())
    lines.append(f"TLS connections (asyncio SSLProtocol): {counts['SSLProtocol']}")
    lines.append("gc objects by type:")
    lines += [f"{n:9d} {name}" for name, n in counts.most_common(top)]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
