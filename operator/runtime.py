"""What the operator's handlers and its admission webhook share: the process state handed to every
handler (`Runtime`) and the few judgements both make of an object (its ref, its account, its TagPolicy
verdict). Also builds the AWS client factory and the engine from the settings, once per process.

It sits below `handlers` and `webhook` (both import it; it imports neither: an import-linter contract
keeps the arrow one way) and never calls kopf.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from awsop.reconcilers.account import ResolvedAccount
from awsop.reconcilers.batch import CheckSchedule
from awsop.reconcilers.engine import Engine, ObjectRef
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KindInfo
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.tag_policy import TagPolicyVerdict

from . import kube
from .accounts import AccountDirectory
from .events import EventRecorder, EventSink
from .factory import build_engine as build_engine  # re-exported: the operator builds it here
from .scheduler import DriftScheduler
from .settings import Settings
from .sharding import Skips
from .tag_policies import PolicyCache


@dataclass
class ObjectState:
    """What this process knows about one object (keyed by uid). Every field is read and written with
    `lock` held: the lock is what keeps one reconcile, drift check or delete of the object in flight."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    last_check: float | None = None  # monotonic time the object was last handled
    failures: int = 0  # consecutive failed reconciles
    failure_class: ErrorClass | None = None
    applied: int | None = None  # generation applied by this process (bodies can lag behind)
    status: dict[str, Any] | None = None  # the status this process last wrote (bodies can lag behind)
    observed: int = 0  # sequence of the last observation started (engine call)
    written: int = 0  # sequence of the observation whose result was last written
    not_found: int = 0  # consecutive NotFound results under ObserveOnly
    progressing: int | None = None  # consecutive reconciles that found the resource busy
    stalled_by_write: bool = False  # the Stalled outcome came from AWS refusing a write
    # the event_* fields are guarded by event_drift.EventDrift's own lock, not `lock` (a check holds that)
    event_due: float | None = None  # monotonic time a CloudTrail event asks for a check (event_drift.py)
    event_time: float | None = None  # wall time of the earliest event that check answers
    event_checked: float | None = None  # wall time the last event-driven check started


class ObjectRegistry:
    """Per-object process state, one `ObjectState` per uid; forgotten when the object is deleted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, ObjectState] = {}
        self.waker: Callable[[str], None] | None = None  # the drift scheduler's `wake` (thread-safe)

    def wake(self, uid: str) -> None:
        """Make the object's drift check due now, to recompute when its next one comes (any thread)."""
        if self.waker is not None:
            self.waker(uid)

    def get(self, uid: str) -> ObjectState:
        with self._lock:
            state = self._objects.get(uid)
            if state is None:
                state = self._objects[uid] = ObjectState()
            return state

    def forget(self, uid: str) -> None:
        with self._lock:
            self._objects.pop(uid, None)

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            return uid in self._objects

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)


class ReferenceIndex:
    """Which objects referred to which at their last reconcile, in both directions: a target that becomes
    Ready (or changes its ARN) nudges the objects waiting for it, so they follow without a resync."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (namespace, kind, name) of a referenced object -> (kind, name) of the objects referring to it
        self.referrers: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        self.referring: dict[tuple[str, str, str], set[tuple[str, str, str]]] = {}  # the same, forwards

    def record(self, info: KindInfo, ref: ObjectRef, wanted: set[tuple[str, str, str]]) -> None:
        """Record what `ref` refers to now (an empty set forgets it)."""
        source = (info.kind, ref.name)
        me = (ref.namespace, info.kind, ref.name)
        with self._lock:
            for key in self.referring.pop(me, set()) - wanted:
                users = self.referrers.get(key, set())
                users.discard(source)
                if not users:
                    self.referrers.pop(key, None)
            for key in wanted:
                self.referrers.setdefault(key, set()).add(source)
            if wanted:
                self.referring[me] = set(wanted)

    def users_of(self, info: KindInfo, ref: ObjectRef) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self.referrers.get((ref.namespace, info.kind, ref.name), ()))


Writer = Callable[[KindInfo, str, str, dict[str, Any]], None]


@dataclass
class Runtime:
    """Everything the handlers share, built once per process and handed to every handler by `register`."""

    settings: Settings
    engine: Engine
    clients: dict[str, Any]
    objects: ObjectRegistry = field(default_factory=ObjectRegistry)
    write: Writer = kube.patch  # status and metadata writes (tests record them instead)
    namespaces: kube.NamespacePhases = field(default_factory=kube.NamespacePhases)
    references: ReferenceIndex = field(default_factory=ReferenceIndex)
    accounts: AccountDirectory | None = None  # None: every object uses the operator's own credentials
    policies: PolicyCache = field(default_factory=PolicyCache)  # TagPolicies, namespace labels, verdicts
    background: set[asyncio.Task[None]] = field(default_factory=set)  # held so they are not collected
    checks: CheckSchedule = field(default_factory=CheckSchedule)  # aligns batched kinds' drift checks
    events: EventSink = field(default_factory=EventRecorder)  # Events, a repeat counted on the first
    skips: Skips = field(default_factory=Skips)  # objects an earlier shard serves, told once each
    event_drift: Any = None  # event_drift.EventDrift when AWSOP_EVENT_DRIFT is on (it imports this module)
    # every served object's next drift check; `handlers.register` puts in the one that runs the checks
    drift: DriftScheduler = field(default_factory=lambda: DriftScheduler(lambda kind, body: 0.0, 1))

    def stop_background(self) -> None:
        """On shutdown (in the event loop): cancel the background tasks (e.g. forgetting a deleted object a
        minute later). Left running, kopf waits 5 s for them before it cancels them itself, so every
        operator that had deleted an object took 5 s longer to stop."""
        for task in list(self.background):
            task.cancel()


def object_ref(info: KindInfo, meta: Any) -> ObjectRef:
    """The engine's name for the object whose metadata is `meta`."""
    return ObjectRef(info.kind, meta.get("namespace") or "", meta["name"], int(meta.get("generation") or 0))


def account_of(
    rt: Runtime, ref: ObjectRef, model: Any, uid: str, deleting: bool = False
) -> ResolvedAccount | None:
    """The object's AWS account, resolved through the Kubernetes API (None: the operator's own)."""
    if rt.accounts is None:
        return None
    return rt.accounts.resolve(ref.namespace, model.account_ref, uid, deleting, ref)


def verdict_of(
    rt: Runtime, info: KindInfo, ref: ObjectRef, model: AwsObjectSpec, account: ResolvedAccount | None
) -> TagPolicyVerdict:
    """The TagPolicies' verdict; the rules see the operator's and the account's default tags too (they
    win over policy defaults, see Engine.tag_layers)."""
    lower = dict(rt.settings.default_tags)
    if account is not None:
        lower.update(dict(account.default_tags))
    return rt.policies.verdict(info.kind, ref.namespace, ref.name, model, lower)
