"""The operator's view of TagPolicies: an in-process cache fed by kopf indices on TagPolicy and Namespace
objects, the verdict of every object it reconciles, and what that means for each policy's status and the
violation metrics.

kopf does not run any other handler before every index has seen its initial listing, so no object is
ever reconciled against an empty cache at startup. When a policy or a namespace's labels change, every
object's drift check falls due once; the ones whose verdict changed are checked at once (a Stalled object
with reads only, reconciling once the violation is gone), the others go back to sleep. Nothing here writes to
a user's object: status of TagPolicies only.

It must never: hold the lock while calling the Kubernetes API, or label metrics per object.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.tag_policy import (
    NO_POLICY,
    NamedPolicy,
    Subject,
    TagPolicySpec,
    TagPolicyVerdict,
    evaluate,
    policy_errors,
)

from .manifests import format_validation_error


@dataclass
class PolicyState:
    """Counts and problems of one policy, from the last verdict of every object."""

    matching: int = 0
    violating: int = 0
    conflicts: set[str] = field(default_factory=set)


class PolicyCache:
    """Valid policies, invalid ones with their error, namespace labels and per-object verdicts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.policies: dict[str, NamedPolicy] = {}
        self.invalid: dict[str, str] = {}  # policy name -> why its spec is invalid
        self.namespaces: dict[str, dict[str, str]] = {}
        self._verdicts: dict[str, tuple[str, TagPolicyVerdict]] = {}  # uid -> (kind, verdict)
        self._fingerprints: dict[str, tuple[object, ...]] = {}  # uid -> fingerprint last acted on
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.epoch = 0  # moves on every change that can change a verdict

    # -- inputs (kopf index handlers) ---------------------------------------------------------------

    def set_policy(self, name: str, spec: Mapping[str, Any] | None) -> None:
        try:
            parsed = TagPolicySpec.model_validate(dict(spec or {}))
        except ValidationError as exc:
            with self._lock:
                self.policies.pop(name, None)
                self.invalid[name] = format_validation_error(exc)
        else:
            with self._lock:
                self.invalid.pop(name, None)
                if self.policies.get(name) == NamedPolicy(name, parsed):
                    return
                self.policies[name] = NamedPolicy(name, parsed)
        self.wake()

    def drop_policy(self, name: str) -> None:
        with self._lock:
            self.invalid.pop(name, None)
            if self.policies.pop(name, None) is None:
                return
        self.wake()

    def set_namespace(self, name: str, labels: Mapping[str, str] | None) -> None:
        fresh = {str(k): str(v) for k, v in (labels or {}).items()}
        with self._lock:
            if self.namespaces.get(name) == fresh:
                return
            known = name in self.namespaces
            self.namespaces[name] = fresh
        if known and self.policies:
            self.wake()

    def drop_namespace(self, name: str) -> None:
        with self._lock:
            self.namespaces.pop(name, None)

    # -- waking the drift checks --------------------------------------------------------------------

    def wake_event(self) -> asyncio.Event:
        """The event the next wake sets; the drift scheduler takes it before it waits, so no change is
        missed (a wake swaps in a new event and sets the old one)."""
        if self._wake is None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
        return self._wake

    def wake(self) -> None:
        with self._lock:
            self.epoch += 1
        loop, old = self._loop, self._wake
        if loop is None or old is None:
            return

        def swap() -> None:
            self._wake = asyncio.Event()
            old.set()

        try:
            if asyncio.get_running_loop() is loop:
                swap()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(swap)

    # -- per object ---------------------------------------------------------------------------------

    def verdict(
        self, kind: str, namespace: str, name: str, spec: AwsObjectSpec, lower: Mapping[str, str]
    ) -> TagPolicyVerdict:
        with self._lock:
            policies = list(self.policies.values())
            labels = dict(self.namespaces.get(namespace, {}))
        if not policies:
            return NO_POLICY
        subject = Subject(kind, namespace, name, spec.tags or {}, labels, spec.management_policy)
        return evaluate(policies, subject, lower)

    def changed(self, uid: str, verdict: TagPolicyVerdict) -> bool:
        """Whether `verdict` differs from the one this object was last reconciled with."""
        with self._lock:
            known = self._fingerprints.get(uid)
        return known is not None and known != verdict.fingerprint()

    def record(self, uid: str, kind: str, verdict: TagPolicyVerdict, epoch: int | None = None) -> None:
        """Remember the verdict a reconcile acted on. `epoch` is `self.epoch` from before the verdict was
        computed: when policies changed while that reconcile ran, its verdict may be stale, so the drift
        checks are woken once more (a check that ran before this record saw nothing to compare)."""
        with self._lock:
            self._fingerprints[uid] = verdict.fingerprint()
            if verdict.policies:
                self._verdicts[uid] = (kind, verdict)
            else:
                self._verdicts.pop(uid, None)
            stale = epoch is not None and epoch != self.epoch
        if stale:
            self.wake()

    def forget(self, uid: str) -> None:
        with self._lock:
            self._verdicts.pop(uid, None)
            self._fingerprints.pop(uid, None)

    # -- per policy ---------------------------------------------------------------------------------

    def states(self) -> dict[str, PolicyState]:
        with self._lock:
            verdicts = list(self._verdicts.values())
            names = list(self.policies)
        out = {name: PolicyState() for name in names}
        for _, verdict in verdicts:
            broken = {v.policy for v in verdict.violations}
            for name in verdict.policies:
                state = out.setdefault(name, PolicyState())
                state.matching += 1
                state.violating += name in broken
            for conflict in verdict.conflicts:
                for name in conflict.values:
                    out.setdefault(name, PolicyState()).conflicts.add(conflict.explain())
        return out

    def violations_by_policy_and_kind(self) -> Counter[tuple[str, str, str]]:
        """(policy, kind, enforcement) -> objects currently violating."""
        with self._lock:
            verdicts = list(self._verdicts.values())
        counts: Counter[tuple[str, str, str]] = Counter()
        for kind, verdict in verdicts:
            for policy, enforcement in {(v.policy, str(v.enforcement)) for v in verdict.violations}:
                counts[(policy, kind, enforcement)] += 1
        return counts

    def policy_status(self, name: str, known_kinds: list[str]) -> tuple[str, str, str, PolicyState]:
        """(Ready status, reason, message, counts) for the policy's status."""
        with self._lock:
            invalid = self.invalid.get(name)
            policy = self.policies.get(name)
        state = self.states().get(name, PolicyState())
        if invalid is not None:
            return "False", "InvalidPolicy", invalid, state
        problems = policy_errors([policy], known_kinds).get(name, []) if policy else []
        if problems:
            return "False", "InvalidPolicy", "; ".join(problems), state
        if state.conflicts:
            return "False", "ConflictingDefaults", "; ".join(sorted(state.conflicts)), state
        message = f"covers {state.matching} objects, {state.violating} violating"
        return "True", "Active", message, state
