"""In-memory object storage with a global resourceVersion, a bounded event history and watch fan-out.

This plays etcd plus the watch cache: every write gets the next resourceVersion, is appended to a
bounded history (so a watch can resume from a resourceVersion, and answer 410 Gone when that
version has fallen out of the history), and is pushed to the live watchers. Everything runs on the
server's single event loop, so no locking is needed.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import not_found, resource_not_found
from .resources import ResourceType, VersionInfo
from .selectors import Predicate

ObjKey = tuple[str, str]  # (namespace or "", name)


@dataclass
class StoredEvent:
    """One write, as remembered in the history: the object after (and before) the change."""

    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    resource: tuple[str, str]
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class Watcher:
    """A live watch: the events of one resource (optionally one namespace) passing its selectors."""

    resource: tuple[str, str]
    namespace: str | None
    matches: Predicate
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)

    def translate(self, event: StoredEvent) -> tuple[str, dict[str, Any]] | None:
        """Map a stored event to what this watcher sees (selector transitions become ADDED/DELETED)."""
        if event.resource != self.resource:
            return None
        if self.namespace is not None and event.obj["metadata"].get("namespace") != self.namespace:
            return None
        now = self.matches(event.obj)
        if event.type != "MODIFIED":
            return (event.type, event.obj) if now else None
        before = event.old is not None and self.matches(event.old)
        if now and before:
            return ("MODIFIED", event.obj)
        if now:
            return ("ADDED", event.obj)
        if before:
            return ("DELETED", event.obj)
        return None


class TooOld(Exception):
    """The requested resourceVersion is older than the history window (the server answers 410)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Store:
    """Objects by resource, the resourceVersion counter, the history and the watchers."""

    def __init__(self, history_size: int = 1000) -> None:
        self.types: dict[tuple[str, str], ResourceType] = {}
        self.objects: dict[tuple[str, str], dict[ObjKey, dict[str, Any]]] = {}
        self.rv = 0
        self.history: deque[StoredEvent] = deque(maxlen=history_size)
        self.floor = 0  # every event with rv > floor is still in the history
        self.watchers: set[Watcher] = set()
        self.generation = 0  # bumped when the set of served types changes (discovery, openapi)

    # ------------------------------------------------------------------ types

    def register(self, rt: ResourceType) -> None:
        self.types[rt.key] = rt
        self.objects.setdefault(rt.key, {})
        self.generation += 1

    def unregister(self, key: tuple[str, str]) -> None:
        self.types.pop(key, None)
        self.objects.pop(key, None)
        for watcher in list(self.watchers):
            if watcher.resource == key:
                watcher.queue.put_nowait(None)
        self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> tuple[ResourceType, VersionInfo]:
        rt = self.types.get((group, plural))
        info = rt.version(version) if rt else None
        if rt is None or info is None:
            raise resource_not_found()
        return rt, info

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return next((rt for rt in self.types.values() if rt.group == group and rt.kind == kind), None)

    # ------------------------------------------------------------------ objects

    def find(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(rt.key, {}).get((namespace if rt.namespaced else "", name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.find(rt, namespace, name)
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        return obj

    def select(self, rt: ResourceType, namespace: str | None, matches: Predicate) -> list[dict[str, Any]]:
        items = self.objects.get(rt.key, {})
        return [
            obj
            for key, obj in sorted(items.items())
            if (namespace is None or key[0] == namespace) and matches(obj)
        ]

    def all_in_namespace(self, namespace: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        found: list[tuple[ResourceType, dict[str, Any]]] = []
        for rt in list(self.types.values()):
            if rt.namespaced:
                found.extend(
                    (rt, obj)
                    for (ns, _), obj in list(self.objects.get(rt.key, {}).items())
                    if ns == namespace
                )
        return found

    def all_objects(self) -> list[tuple[ResourceType, dict[str, Any]]]:
        return [
            (rt, obj)
            for rt in list(self.types.values())
            for obj in list(self.objects.get(rt.key, {}).values())
        ]

    def write(
        self, rt: ResourceType, obj: dict[str, Any], event: str, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Store ``obj`` (ADDED/MODIFIED) or remove it (DELETED) under a new resourceVersion."""
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if event == "DELETED":
            self.objects.get(rt.key, {}).pop(key, None)
        else:
            self.objects.setdefault(rt.key, {})[key] = obj
        stored = StoredEvent(self.rv, event, rt.key, obj, old)
        if len(self.history) == self.history.maxlen:
            self.floor = self.history[0].rv
        self.history.append(stored)
        for watcher in list(self.watchers):
            seen = watcher.translate(stored)
            if seen is not None:
                watcher.queue.put_nowait(seen)
        return obj

    # ------------------------------------------------------------------ watches

    def subscribe(self, watcher: Watcher, since: int | None) -> list[tuple[str, dict[str, Any]]]:
        """Register a watcher; return the history it missed after ``since`` (raises :class:`TooOld`)."""
        backlog: list[tuple[str, dict[str, Any]]] = []
        if since is not None:
            if since < self.floor:
                raise TooOld(since, self.floor + 1)
            for event in self.history:
                if event.rv > since:
                    seen = watcher.translate(event)
                    if seen is not None:
                        backlog.append(seen)
        self.watchers.add(watcher)
        return backlog

    def unsubscribe(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def close_all(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)
