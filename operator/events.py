"""Kubernetes Events for awsop's objects, aggregated the way Kubernetes' own event recorder does it.

client-go's recorder keys every Event by its involved object, type, reason and message: the first
occurrence creates an Event, a repeat PATCHes that Event's `count` and `lastTimestamp` instead of making a
new object. awsop reports a persistent drift under `driftPolicy: Report` at every check, an account in
use at every look, and so on: without this, each check would add an Event (about 288 a day per drifted
object at the default period). So a new drift (another message) is a new Event, and the same drift again
is the same Event with a higher count, as `kubectl get events` shows it (COUNT, LAST SEEN).

The key cache lives in the process (bounded, least recently used out first): after a restart, the first
repeat of an old message creates one new Event and later repeats count on it. An Event the API server
expired in the meantime (its TTL, one hour by default) is created again. Every write carries the
field manager `awsop`.

It must never raise into a handler: an Event that cannot be posted is logged and dropped.
"""

from __future__ import annotations

import datetime
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import kube

log = logging.getLogger("awsop")
COMPONENT = "awsop"
MAX_MESSAGE = 1024
CACHE_SIZE = 4096  # client-go's maxLruCacheEntries


class EventSink(Protocol):
    """Where the handlers' Events go (the recorder in the operator; a list in tests)."""

    def post(self, body: Mapping[str, Any], type: str, reason: str, message: str) -> None: ...


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int


def involved_object(body: Mapping[str, Any]) -> dict[str, Any]:
    """The `involvedObject` reference of an object's body."""
    meta = body.get("metadata") or {}
    ref = {
        "apiVersion": body.get("apiVersion", ""),
        "kind": body.get("kind", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Posts Events through the Kubernetes API: one Event per (object, type, reason, message), repeats
    counted on it. Thread-safe; the API calls are made outside the lock."""

    def __init__(
        self,
        create: Callable[[str, dict[str, Any]], None] = kube.create_event,
        update: Callable[[str, str, dict[str, Any]], bool] = kube.patch_event,
        default_namespace: str = "default",
        now: Callable[[], str] = _now,
    ) -> None:
        """`create(namespace, event)` creates; `update(namespace, name, patch)` patches and returns False
        when the Event is gone. Events of cluster-scoped objects go to `default_namespace` (`default`,
        as kopf's do: the chart grants Events there)."""
        self._create = create
        self._update = update
        self._default_namespace = default_namespace
        self._now = now
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str, str, str], _Seen] = OrderedDict()
        self.instance = os.environ.get("HOSTNAME", "") or "awsop"

    def post(self, body: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        message = message[:MAX_MESSAGE]
        ref = involved_object(body)
        key = (ref["uid"] or f"{ref['kind']}/{ref.get('namespace', '')}/{ref['name']}", type, reason, message)
        now = self._now()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None:
                self._seen.move_to_end(key)
                seen.count += 1
                count, namespace, name = seen.count, seen.namespace, seen.name
        try:
            if seen is not None and self._update(namespace, name, {"count": count, "lastTimestamp": now}):
                return
            namespace = ref.get("namespace") or self._default_namespace
            name = f"{ref['name']}.{secrets.token_hex(8)}"[-253:].lstrip(".")
            self._create(namespace, self._event(ref, namespace, name, type, reason, message, now))
        except Exception as exc:  # an Event is a report, never a reason to fail a handler
            log.warning("Event %s %s for %s %s not posted: %s", type, reason, ref["kind"], ref["name"], exc)
            return
        with self._lock:
            self._seen[key] = _Seen(namespace, name, 1)
            self._seen.move_to_end(key)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)

    def _event(
        self,
        ref: dict[str, Any],
        namespace: str,
        name: str,
        type: str,
        reason: str,
        message: str,
        now: str,
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "type": type,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
        }
