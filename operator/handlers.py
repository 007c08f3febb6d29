"""kopf handlers: thin adapters between Kubernetes and the engine.

Each handler parses the body with the kind's pydantic model, calls the engine, writes the status through
kopf's patch, emits Events and maps the outcome to kopf's retry semantics. Nothing AWS-specific lives here.
Decorators are registered for every kind in the registry by `register()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import kopf
from pydantic import ValidationError

from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import ObjectRef, Outcome, Progress, StartedCreate, State
from awsop.reconcilers.errors import ErrorClass, backoff_delay
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS, VERSION, KindInfo, referrers_of
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.refs import REFERENCE_VALUES, Reference

from . import kube, metrics, outputs, scheduler, sharding, webhook
from .manifests import format_validation_error
from .references import resolution_from_body
from .runtime import (  # noqa: F401 (ObjectRegistry, ReferenceIndex, Writer: this module's API too)
    ObjectRegistry,
    ObjectState,
    ReferenceIndex,
    Runtime,
    Writer,
    account_of,
    object_ref,
    verdict_of,
)
from .settings import Settings
from .status import census_condition, new_status, policy_event, synced_generation

log = logging.getLogger("awsop")

FINALIZER = "awsop.io/finalizer"
PAUSED = "awsop.io/paused"
PLAN_ONLY = "awsop.io/plan-only"
RECONCILE_REQUESTED = "awsop.io/reconcile-requested-at"
RESYNC = "awsop.io/resync-period"
# kopf's own bookkeeping lives under a prefix of its own: kopf leaves every annotation with its storage
# prefix out of its change detection, and awsop.io/* annotations (paused, reconcile-requested-at) must count.
KOPF_PREFIX = "kopf.awsop.io"
CREATE_ATTEMPTED = "createAttemptedAt"  # the create-pending mark, in the status
CREATE_PENDING = f"{KOPF_PREFIX}/create-pending"  # where earlier versions kept it (still read)


def parse_duration(text: str) -> float | None:
    """`90s`, `5m`, `1h`, `300` -> seconds; None if unreadable."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        return None


def _annotation(meta: Any, key: str) -> str:
    return str((meta.get("annotations") or {}).get(key, ""))


def _emit(rt: Runtime, body: Any, outcome: Outcome) -> None:
    """Post the outcome's Events, except into a namespace being deleted: the API server refuses them
    there (403 NamespaceTerminating) and kopf would log each refusal as a failure."""
    _post(rt, body, list(outcome.events))


def _post(rt: Runtime, body: Any, events: list[Any]) -> None:
    if not events:
        return
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    if namespace and meta.get("deletionTimestamp") and rt.namespaces.terminating(namespace):
        log.debug("namespace %s is terminating: %d Events not posted", namespace, len(events))
        return
    for event in events:
        rt.events.post(body, event.type, event.reason, event.message)


def _record(info: KindInfo, outcome: Outcome, uid: str, created: str | None, was_ready: bool) -> None:
    result = {None: "success", ErrorClass.TERMINAL: "terminal", ErrorClass.ACCESS: "access"}.get(
        outcome.error_class, "error"
    )
    metrics.RECONCILES.labels(info.kind, result).inc()
    metrics.RECONCILE_DURATION.labels(info.kind).observe(outcome.duration)
    for change in outcome.drift:
        metrics.DRIFT_DETECTED.labels(info.kind, change.path).inc()
    for change in outcome.corrected:
        metrics.DRIFT_CORRECTED.labels(info.kind, change.path).inc()
    label = census_condition(outcome)
    if label:
        metrics.CENSUS.set(uid, info.kind, label)
    if outcome.state is State.READY and not was_ready and created:
        from datetime import datetime

        try:
            born = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            metrics.TIME_TO_READY.labels(info.kind).observe(max(0.0, time.time() - born))
        except ValueError:
            pass


def _is_ready(status: Any) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (status or {}).get("conditions", [])
    )


def reconcile(
    info: KindInfo,
    rt: Runtime,
    body: Any,
    meta: Any,
    spec: Any,
    status: Any,
    patch: Any,
    retry: int,
    new: Any = None,
    **_: Any,
) -> None:
    """Create/update/resume: converge and report, holding the object's lock across the engine call and the
    status write. Errors go to kopf's retry machinery. `new` is the essence kopf built for this body
    (`DigestDiffBaseStorage.build`), whose digest the status write records."""
    state = rt.objects.get(meta.get("uid", ""))
    digest = essence_digest(new) if new is not None else handled_digest(body)
    handled = Handled(sharding.storage_prefix(rt.settings, KOPF_PREFIX), digest)
    lagging = False
    try:
        with state.lock:
            if retry == 0 and handled.recorded(state.status) and not handled.recorded(status):
                # a body older than this process's own status write that recorded the same essence
                # handled to the end (the watch can show it after the handler; kopf waits for its own
                # writes only): nothing to do again, and the next drift check stays where it is
                lagging = True
                return
            outcome = _reconcile_locked(info, rt, state, body, meta, spec, status, patch, handled=handled)
    finally:
        if not lagging:
            rt.objects.wake(meta.get("uid", ""))  # the next check: a period from now, sooner after an error
    if outcome is not None:
        _raise_for(rt, outcome, retry, state.progressing)


def _reconcile_locked(
    info: KindInfo,
    rt: Runtime,
    state: ObjectState,
    body: Any,
    meta: Any,
    spec: Any,
    status: Any,
    patch: Any,
    plan_only_check: bool = False,
    periodic: bool = False,
    handled: Handled | None = None,
) -> Outcome | None:
    """One reconcile with the object's lock held: engine call, status write, Events, metrics.

    Returns the outcome (None when the spec is invalid: that raises). `plan_only_check` runs the engine
    with reads only and writes status only when it still finds the object Stalled (the Stalled re-check).
    `periodic` marks a routine drift check, whose reads may be shared with other objects' checks
    (reconcilers/batch.py); it counts only when the spec's current generation was already applied.
    `handled` (kopf's handlers only) is recorded in the status write of an outcome that ends kopf's
    handling, so that kopf needs no write of its own (`DigestDiffBaseStorage`).
    """
    ref = object_ref(info, meta)
    uid = meta.get("uid", "")
    previous = _previous_status(state, status)
    generation = ref.generation
    state.observed += 1
    sequence = state.observed
    try:
        model = info.spec_model.model_validate(dict(spec or {}))
    except ValidationError as exc:
        message = format_validation_error(exc)
        invalid = _invalid(info, ref, message)
        invalid.started_create = StartedCreate.from_record(previous.get("pendingCreate"))  # still followed
        _write(patch, previous, invalid, generation)
        if handled is not None:  # kopf takes the PermanentError below as the end of its handling
            handled.write(patch, previous)
        _flush(rt, info, state, ref, patch, sequence, body, previous)
        state.last_check = time.monotonic()
        state.stalled_by_write = False
        rt.events.post(body, "Warning", "InvalidSpec", message)
        raise kopf.PermanentError(f"invalid spec: {message}") from None
    paused = _annotation(meta, PAUSED).lower() == "true"
    plan_only = _annotation(meta, PLAN_ONLY).lower() == "true"
    pending = create_pending(meta, previous)
    attempted: list[float] = []

    def before_create() -> None:
        if pending is not None:  # an earlier attempt's mark keeps its time: AWS dates what it made before
            attempted.append(pending)
            return
        stamp = round(time.time(), 3)
        rt.write(info, ref.namespace, ref.name, {"status": {CREATE_ATTEMPTED: stamp}})
        # part of what this process wrote: a retry here sees it even before the watch shows it
        state.status = {**previous, CREATE_ATTEMPTED: stamp}
        attempted.append(stamp)

    account = account_of(rt, ref, model, uid)
    epoch = rt.policies.epoch  # before the verdict: a policy change from now on makes it stale
    verdict = verdict_of(rt, info, ref, model, account)
    outcome = rt.engine.reconcile(
        rt.clients[info.kind],
        ref,
        model,
        spec_changed=_applied_generation(state, previous) != generation,
        plan_only=plan_only or plan_only_check,
        paused=paused,
        create_pending=pending,
        before_create=before_create,
        context=replace(
            ReconcileContext() if paused else resolve_references(rt, info, ref, model),
            account=account,
            tag_policy=verdict,
            periodic=periodic and _applied_generation(state, previous) == generation,
            unseen=pending is None and _unseen(previous),
            # what the references resolved to when AWS last matched: status is the memory (restarts)
            applied_references=previous.get("resolvedReferences"),
        ),
        progress=Progress.from_status(previous.get("progress"), generation),
        started_create=StartedCreate.from_record(previous.get("pendingCreate")),
    )
    state.last_check = time.monotonic()
    rt.policies.record(uid, info.kind, verdict, epoch)
    if plan_only_check:
        # the Stalled re-check: reads only; report only a still-terminal result (its reason may have moved)
        if outcome.error_class is not ErrorClass.TERMINAL:
            return outcome
        _write(patch, previous, outcome, generation)
        _flush(rt, info, state, ref, patch, sequence, body, previous)
        return outcome
    if outcome.state is State.PROGRESSING:
        # the wait grows while the resource stays busy and starts short again after each step
        started_step = outcome.progress is not None and not outcome.progress.waiting_for
        state.progressing = 0 if started_step else (state.progressing or 0) + 1
    else:
        state.progressing = None
    if outcome.error_class is None:
        state.failures, state.failure_class = 0, None
        if outcome.state in (State.READY, State.DRIFTED, State.NOT_FOUND):
            state.applied = generation
    else:
        state.failures += 1
        state.failure_class = outcome.error_class
    if outcome.error_class is ErrorClass.TERMINAL:
        state.stalled_by_write = any(_is_write(call) for call in outcome.calls)
    state.not_found = state.not_found + 1 if outcome.state is State.NOT_FOUND else 0
    _write(patch, previous, outcome, generation, plan_only)
    outputs.export(rt, info, body, meta, model, outcome, previous, patch)  # never raises
    if (
        (pending is not None or attempted)
        and outcome.ok
        and outcome.state not in (State.PAUSED, State.PLANNED)
    ):
        # the create is recorded (status) and the mark goes in the same write
        patch.status[CREATE_ATTEMPTED] = None
        if _annotation(meta, CREATE_PENDING):  # an earlier version's mark, in the metadata
            patch.setdefault("metadata", {}).setdefault("annotations", {})[CREATE_PENDING] = None
    if handled is not None and _ends_handling(outcome):
        handled.write(patch, previous)
    wrote_status = bool(patch)
    _flush(rt, info, state, ref, patch, sequence, body, previous)
    # log what changed AWS or the status, and every error; a check that found nothing new stays at DEBUG
    wrote_aws = bool(outcome.plan.changes) and outcome.state not in (State.PLANNED, State.DRIFTED)
    _log(info, ref, outcome, quiet=outcome.ok and not wrote_status and not wrote_aws)
    _emit_once(rt, body, previous, outcome)
    if (event := policy_event(previous, outcome)) is not None:
        _post(rt, body, [event])
    _record(info, outcome, uid, meta.get("creationTimestamp"), _is_ready(previous))
    if rt.event_drift is not None:  # which AWS names this object manages, for its CloudTrail events
        rt.event_drift.record(uid, info.kind, account, outcome)
    if outcome.state is State.READY and (
        not _is_ready(previous) or _identity(previous) != _identity(outcome.status)
    ):
        _nudge_referrers(rt, info, ref)
    return outcome


def resolve_references(rt: Runtime, info: KindInfo, ref: ObjectRef, model: AwsObjectSpec) -> ReconcileContext:
    """The spec's references, each resolved with one GET of the target object; remembered in reverse so
    a target that becomes Ready (or changes its ARN) can nudge the objects that wait for it."""
    references = model.references()
    resolved = {}
    for reference in references:
        target = KINDS[reference.kind]
        body = kube.get(target, ref.namespace, reference.name)
        resolved[(reference.kind, reference.name)] = resolution_from_body(reference, body)
    rt.references.record(info, ref, {(ref.namespace, r.kind, r.name) for r in references})
    return ReconcileContext(references=resolved)


def _unseen(status: dict[str, Any]) -> bool:
    """The status shows no sign of an AWS resource: no identifier and no create operation recorded (the
    create-pending mark is the caller's to check: it may also come from an earlier version's annotation)."""
    return not status.get("pendingCreate") and not any(_identity(status).values())


def _identity(status: dict[str, Any]) -> dict[str, Any]:
    """What referrers resolve from a target (ARN, URL, id, a launch template's version numbers)."""
    return {k: status.get(k) for k in REFERENCE_VALUES}


def _nudge_referrers(rt: Runtime, info: KindInfo, ref: ObjectRef) -> None:
    """Ask the objects that refer to this one to reconcile now (they resolve it again)."""
    for kind, name in rt.references.users_of(info, ref):
        try:
            kube.annotate(KINDS[kind], ref.namespace, name, {RECONCILE_REQUESTED: f"ref-{time.time():.3f}"})
        except Exception as exc:  # a nudge is an optimisation: the next resync resolves it anyway
            log.debug("nudge of %s %s/%s failed: %s", kind, ref.namespace, name, exc)


def referenced_by(info: KindInfo, ref: ObjectRef) -> tuple[Reference, ...]:
    """The objects in the namespace that still refer to this one (one LIST per kind that may refer to it);
    objects being deleted themselves do not count."""
    users = []
    for source in referrers_of(info.kind):
        for body in kube.list_objects(source, ref.namespace):
            meta = body.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            try:
                spec = source.spec_model.model_validate(dict(body.get("spec") or {}))
            except ValidationError:
                continue
            for reference in spec.references():
                if (reference.kind, reference.name) == (info.kind, ref.name):
                    users.append(Reference(source.kind, meta.get("name", ""), reference.path))
    return tuple(users)


def _emit_once(rt: Runtime, body: Any, previous: dict[str, Any], outcome: Outcome) -> None:
    """Events of an outcome; waiting (for a dependency, or for users before a delete) is told once, not
    on every retry: only when the Ready condition's reason or message changes."""
    repeating = outcome.state in (State.WAITING, State.DELETE_BLOCKED)
    if not repeating or _ready_condition(previous) != (outcome.reason, outcome.message[:1024]):
        _emit(rt, body, outcome)


def _ready_condition(status: dict[str, Any]) -> tuple[str, str] | None:
    for condition in status.get("conditions", []):
        if condition.get("type") == "Ready":
            return str(condition.get("reason", "")), str(condition.get("message", ""))
    return None


_READ_PREFIXES = ("Get", "Head", "List", "Describe")


def _is_write(call: str) -> bool:
    """`s3:PutBucketTagging` -> True; reads (Get/Head/List/Describe) -> False."""
    operation = call.split(":")[1] if ":" in call else call
    return not operation.startswith(_READ_PREFIXES)


def pending_since(value: Any) -> float | None:
    """A create-pending mark as a Unix time; None when absent or unreadable (not written by awsop: an
    untagged resource is then never taken over on its account)."""
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def create_pending(meta: Any, status: Any) -> float | None:
    """The create-pending mark: `status.createAttemptedAt`, or the annotation an earlier version wrote."""
    mark = pending_since((status or {}).get(CREATE_ATTEMPTED))
    return mark if mark is not None else pending_since(_annotation(meta, CREATE_PENDING))


def _previous_status(state: ObjectState, status: Any) -> dict[str, Any]:
    """The newest status known: the one this process last wrote until the body kopf hands over shows
    it (then it is forgotten, so the registry holds statuses only while bodies lag), else the body's."""
    body_status = dict(status or {})
    if state.status is None:
        return body_status
    if body_status == state.status:
        state.status = None
        return body_status
    return dict(state.status)


def _flush(
    rt: Runtime,
    info: KindInfo,
    state: ObjectState,
    ref: ObjectRef,
    patch: Any,
    sequence: int,
    obj: Any,
    previous: dict[str, Any],
) -> None:
    """Write the accumulated patch now, with the object's lock held, unless a result computed from a newer
    observation was written already (a stale result is dropped, not written). A failed write is logged
    and reported as an Event; it never raises (a delete must not strand its finalizer on it)."""
    if not patch:
        return
    body = {k: v for k, v in dict(patch).items() if v}
    patch.clear()
    if sequence < state.written:
        log.info(
            "%s %s/%s: dropped a result older than the written status", ref.kind, ref.namespace, ref.name
        )
        return
    try:
        rt.write(info, ref.namespace, ref.name, body)
    except Exception as exc:  # the API server's answer (422, 404, 5xx) or the connection
        reason = getattr(exc, "reason", "") or type(exc).__name__
        detail = str(getattr(exc, "body", "") or exc)[:600]
        log.warning("%s %s/%s: status write failed: %s %s", ref.kind, ref.namespace, ref.name, reason, detail)
        if getattr(exc, "status", None) != 404:
            with contextlib.suppress(Exception):
                rt.events.post(
                    obj,
                    "Warning",
                    "StatusWriteFailed",
                    f"awsop could not write this object's status: {reason} {detail}",
                )
        return
    state.written = sequence
    if "status" in body:
        merged = dict(state.status if state.status is not None else previous)
        for key, value in body["status"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        state.status = merged


def _policy_changed(rt: Runtime, info: KindInfo, meta: Any, spec: Any) -> bool:
    """Whether a TagPolicy or a namespace label changed this object's verdict since its last reconcile."""
    try:
        model = info.spec_model.model_validate(dict(spec or {}))
    except ValidationError:
        return False
    ref = object_ref(info, meta)
    uid = meta.get("uid", "")
    return rt.policies.changed(uid, verdict_of(rt, info, ref, model, account_of(rt, ref, model, uid)))


def _log(info: KindInfo, ref: ObjectRef, outcome: Outcome, quiet: bool) -> None:
    """One line per reconcile that did or found something; no-op checks only at DEBUG."""
    level = logging.DEBUG if quiet else logging.WARNING if outcome.error_class else logging.INFO
    log.log(
        level,
        "%s %s/%s -> %s: %s %s: %s (%d AWS calls: %s; %.0f ms)",
        info.kind,
        ref.namespace,
        ref.name,
        outcome.plan.aws_name,
        outcome.state,
        outcome.reason,
        outcome.message[:300],
        len(outcome.calls),
        " ".join(c.split(":")[1] for c in outcome.calls[:12]),
        outcome.duration * 1000,
    )


def _invalid(info: KindInfo, ref: ObjectRef, message: str) -> Outcome:
    from awsop.reconcilers.changes import Plan

    return Outcome(
        State.STALLED,
        "InvalidSpec",
        message,
        Plan(info.kind, ref.namespace, ref.name, "", "", "blocked"),
        error_class=ErrorClass.TERMINAL,
    )


def _write(
    patch: Any, previous: dict[str, Any], outcome: Outcome, generation: int, plan_only: bool = False
) -> None:
    status = new_status(previous, outcome, generation, plan_only)
    for key, value in status.items():
        if previous.get(key) != value:
            patch.status[key] = value
    for key in previous:
        if key not in status and key in ("plan", "drift", "progress", "pendingCreate"):
            patch.status[key] = None


def _ends_handling(outcome: Outcome) -> bool:
    """Whether `_raise_for` lets kopf take this outcome as its handler done (kopf then stores the
    last-handled digest): no error or a terminal one, and no step still in progress."""
    if outcome.error_class is ErrorClass.TERMINAL:
        return True
    return outcome.error_class is None and outcome.state is not State.PROGRESSING


def _raise_for(rt: Runtime, outcome: Outcome, retry: int, busy_rounds: int | None = None) -> None:
    settings = rt.settings
    if outcome.error_class is ErrorClass.TERMINAL:
        raise kopf.PermanentError(f"{outcome.reason}: {outcome.message}")
    if outcome.error_class is not None:
        delay = backoff_delay(
            retry,
            outcome.error_class,
            base=2.0 if outcome.state is State.WAITING else 5.0,  # dependencies are usually seconds away
            cap=settings.max_backoff_seconds,
            access_delay=settings.access_denied_backoff_seconds,
        )
        raise kopf.TemporaryError(f"{outcome.reason}: {outcome.message}", delay=delay)
    if outcome.state is State.PROGRESSING:
        rounds = retry if busy_rounds is None else busy_rounds
        raise kopf.TemporaryError(outcome.message or "in progress", delay=progress_delay(rt, rounds))


def progress_delay(rt: Runtime, rounds: int) -> float:
    """Short, growing, capped: a busy resource is looked at again soon (1 s, 2 s, 4 s, ... 30 s, and never
    more than AWSOP_MAX_BACKOFF_SECONDS)."""
    cap = min(PROGRESS_CAP_SECONDS, rt.settings.max_backoff_seconds)
    return float(backoff_delay(rounds, ErrorClass.RECOVERABLE, base=1, cap=cap))


PROGRESS_CAP_SECONDS = 30.0


async def follow(info: KindInfo, rt: Runtime, type: str | None, body: Any) -> None:
    """One watch event of an object, for the drift scheduler (`rt.drift`): it keeps the newest body of every
    object this process serves and checks each when due (`drift_check`).

    An object is tracked from the first event this shard serves it in (its first check comes a full period
    later) and untracked when it is marked for deletion (then, should its delete handler never run, e.g.
    because someone removed the finalizer by hand, `forget_when_gone` still forgets it), when it is gone,
    or when it leaves this shard (its labels left the selector, or an earlier shard's selector matches it
    too: then `_forget_moved`). Only a shallow view of the body kopf hands over is kept (no copy)."""
    meta = body.get("metadata") or {}
    uid = meta.get("uid", "")
    deleted = type == "DELETED"
    if meta.get("deletionTimestamp") or deleted:
        tracked = rt.drift.untrack(uid)
        if deleted and sharding.sharded(rt.settings):  # gone, or its labels left this shard's selector
            await asyncio.to_thread(_forget_moved, info, rt, body)
        elif tracked:
            task = asyncio.get_running_loop().create_task(
                forget_when_gone(info, rt, dict(meta), GONE_CHECK_SECONDS)
            )
            rt.background.add(task)
            task.add_done_callback(rt.background.discard)
        return
    if sharding.serves(rt.settings, body):
        rt.drift.track(uid, info, {key: body[key] for key in _CHECKED if key in body})
    elif rt.drift.untrack(uid):  # an earlier shard's selector matches it now: that shard checks it
        await asyncio.to_thread(_forget_moved, info, rt, body)


_CHECKED = ("apiVersion", "kind", "metadata", "spec", "status")  # what a check reads of a body


def drift_scheduler(rt: Runtime) -> scheduler.DriftScheduler:
    """The process's drift scheduler: `drift_check` in worker threads, every object woken at once by a
    TagPolicy or namespace label change, nothing started while kopf pauses the operator (peering)."""
    return scheduler.DriftScheduler(
        functools.partial(_drift_round, rt=rt),
        workers=rt.settings.drift_workers,
        wake_event=rt.policies.wake_event,
        paused=scheduler.operator_paused,
    )


def _drift_round(info: KindInfo, body: Any, rt: Runtime) -> float:
    """One scheduled check of the object whose newest body is `body` (in a worker thread)."""
    snapshot = copy.deepcopy(dict(body))  # the check's own copy: a handler may write to what it reads
    meta = snapshot.get("metadata", {})
    return drift_check(
        info,
        rt,
        body=snapshot,
        meta=meta,
        spec=snapshot.get("spec"),
        status=snapshot.get("status"),
        patch=kopf.Patch(),
        retry=0,
    )


def drift_check(
    info: KindInfo, rt: Runtime, body: Any, meta: Any, spec: Any, status: Any, patch: Any, **_: Any
) -> float:
    """Run a drift check if this object's (jittered) period is due; return seconds until the next.

    The first check of an object comes a full period after this process first saw it (kopf's create or
    resume handler handles it first). A check never waits for the object's lock: when a handler holds
    it, the check is skipped (the handler counts as the check). A Stalled object is re-checked every
    period with reads only (`_recheck_stalled`). After a failure the next check comes on the growing,
    capped backoff schedule; an ObserveOnly object whose resource does not exist yet is looked at again
    on a short growing backoff (1 s, 2 s, 4 s, ...) capped by the period. When a TagPolicy or a namespace
    label changed the object's verdict, the check is due at once (a Stalled object gets its reads-only
    re-check, and reconciles if the violation is gone). The routine checks of a kind whose reads are
    shared (`KindInfo.batch_per_call`) fall due on the kind's grid instead of a jittered period (`_slot`)."""
    if meta.get("deletionTimestamp"):
        return rt.settings.resync_seconds
    state = rt.objects.get(meta.get("uid", ""))
    if not state.lock.acquire(blocking=False):
        return 1.0  # a handler (or delete) is at work on this object: it resets the clock
    try:
        now = time.monotonic()
        if state.last_check is None:
            state.last_check = now  # first sight: a full period from now
        interval = _interval(rt, state, meta)
        remaining = state.last_check + interval * random.uniform(0.9, 1.0) - now
        if (slot := _slot(info, rt, state, meta)) is not None:
            remaining = slot - now
        if state.event_due is not None:  # a CloudTrail event names this object's resource: check it now
            remaining = min(remaining, state.event_due - now)
        policy_changed = remaining > 0 and _policy_changed(rt, info, meta, spec)
        if remaining > 0 and not policy_changed:
            return remaining
        event = rt.event_drift.take(state) if state.event_due is not None else None
        routine = not policy_changed and event is None  # else the check's reads are its own (fresh)
        previous = _previous_status(state, status)
        if _stalled_at(previous, int(meta.get("generation") or 0)):
            _recheck_stalled(info, rt, state, body, meta, spec, status, patch)
        else:
            with contextlib.suppress(kopf.PermanentError):  # invalid spec: reported, retried on edit
                # a check for a policy change is not routine: its reads are its own (fresh)
                _reconcile_locked(info, rt, state, body, meta, spec, status, patch, periodic=routine)
        if event is not None:
            rt.event_drift.checked(event)
        if (slot := _slot(info, rt, state, meta)) is not None:
            return max(0.0, slot - time.monotonic())  # wake at the slot, however long this check took
        return _interval(rt, state, meta)
    finally:
        state.lock.release()


def _slot(info: KindInfo, rt: Runtime, state: ObjectState, meta: Any) -> float | None:
    """When the next routine check of an object of a kind with shared reads is due: on the kind's grid,
    so that checks due together share one read (`batch.CheckSchedule`). None for other kinds and for
    retries, progress checks and ObserveOnly waits."""
    if not info.batch_per_call or state.last_check is None:
        return None
    if state.failures or state.not_found or state.progressing is not None:
        return None
    interval = _interval(rt, state, meta)
    uid = str(meta.get("uid", ""))
    return float(rt.checks.due(info.kind, uid, state.last_check, interval, info.batch_per_call))


def _recheck_stalled(
    info: KindInfo, rt: Runtime, state: ObjectState, body: Any, meta: Any, spec: Any, status: Any, patch: Any
) -> None:
    """A Stalled object, looked at again with reads only (observe, ownership, plan; no AWS write).

    Still terminal: nothing is written unless the reason or message moved. The reads no longer find the
    cause (e.g. the owner tag now names this object): a normal reconcile runs at once. When the Stalled
    outcome came from AWS refusing a write, reads cannot tell whether the write would now pass: the
    object waits for a spec change or awsop.io/reconcile-requested-at instead of writing again."""
    stalled = [c for c in _previous_status(state, status).get("conditions", []) if c.get("type") == "Stalled"]
    if stalled and stalled[0].get("reason") == "InvalidSpec":
        state.last_check = time.monotonic()
        return  # the spec itself: only an edit helps (and an edit reconciles at once)
    try:
        check = _reconcile_locked(info, rt, state, body, meta, spec, status, patch, plan_only_check=True)
    except kopf.PermanentError:
        return
    if check is None or not check.ok or state.stalled_by_write:
        return
    ref = object_ref(info, meta)
    log.info("%s %s/%s: the cause of Stalled is gone; reconciling", info.kind, ref.namespace, ref.name)
    _reconcile_locked(info, rt, state, body, meta, spec, status, patch)


def _interval(rt: Runtime, state: ObjectState, meta: Any) -> float:
    """Seconds between two checks of this object, from its failures, NotFound streak and resync period."""
    settings = rt.settings
    period = settings.resync_seconds
    if rt.event_drift is not None:  # longer while CloudTrail events arrive for the object's account
        period = rt.event_drift.period(str(meta.get("uid", "")), period)
    override = _annotation(meta, RESYNC)
    if override and (parsed := parse_duration(override)) is not None:
        period = max(settings.min_resync_seconds, parsed)
    if state.progressing is not None:
        return progress_delay(rt, state.progressing)
    if state.failures and state.failure_class is not None and state.failure_class is not ErrorClass.TERMINAL:
        return float(
            backoff_delay(
                state.failures,
                state.failure_class,
                cap=settings.max_backoff_seconds,
                access_delay=settings.access_denied_backoff_seconds,
            )
        )
    if state.not_found:
        return min(period, float(2 ** min(state.not_found - 1, 16)))
    return period


def _applied_generation(state: ObjectState, status: dict[str, Any]) -> int | None:
    """The generation whose spec reached AWS: from status, or from this process's memory when the body
    a drift check reads has not caught up with the status written by the previous reconcile yet."""
    known = [g for g in (synced_generation(status), state.applied) if g is not None]
    return max(known) if known else None


def _stalled_at(status: Any, generation: int) -> bool:
    return any(
        c.get("type") == "Stalled" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in (status or {}).get("conditions", [])
    )


def delete(
    info: KindInfo,
    rt: Runtime,
    body: Any,
    meta: Any,
    spec: Any,
    status: Any,
    patch: Any,
    retry: int,
    **_: Any,
) -> None:
    """Run the deletion policy; keeps the finalizer (by raising) until AWS is done. Holds the object's
    lock, so no reconcile or drift check of the object runs beside it."""
    ref = object_ref(info, meta)
    uid = meta.get("uid", "")
    try:
        model = info.spec_model.model_validate(dict(spec or {}))
    except ValidationError:
        forget(info, rt, ref, uid)
        return  # never valid, never created
    paused = _annotation(meta, PAUSED).lower() == "true"
    state = rt.objects.get(uid)
    with state.lock:
        account = account_of(rt, ref, model, "", deleting=True)
        outcome = rt.engine.delete(
            rt.clients[info.kind],
            ref,
            model,
            paused=paused,
            create_pending=create_pending(meta, _previous_status(state, status)),
            context=ReconcileContext(referenced_by=referenced_by(info, ref), account=account),
        )
        # the policies still cover the object while it is deleted: its TagPolicyCompliant stays true to
        # them (the verdict is only reported; a deletion is never refused for tags)
        outcome.tag_policy = verdict_of(rt, info, ref, model, account)
        _emit_once(rt, body, _previous_status(state, status), outcome)
        _log(info, ref, outcome, quiet=False)
        log.debug("delete %s/%s calls: %s", ref.namespace, ref.name, ", ".join(outcome.calls))
        if outcome.state is State.DELETED:
            outputs.withdraw_all(rt, info, body, meta, _previous_status(state, status))  # never raises
            forget(info, rt, ref, uid)
            return
        state.observed += 1
        previous = _previous_status(state, status)
        _write(patch, previous, outcome, ref.generation)
        _flush(rt, info, state, ref, patch, state.observed, body, previous)
    if outcome.error_class is ErrorClass.TERMINAL:
        # never let kopf drop the finalizer on an error: the AWS resource would be orphaned silently
        raise kopf.TemporaryError(
            f"{outcome.reason}: {outcome.message}", delay=rt.settings.max_backoff_seconds
        )
    if outcome.state is State.DELETE_BLOCKED and outcome.in_use:
        # its users (objects referring to it, or AWS resources using it) are usually being changed or
        # deleted right now, often by the same `kubectl delete`: look again soon
        raise kopf.TemporaryError(
            outcome.message, delay=backoff_delay(retry, ErrorClass.RECOVERABLE, base=2.0, cap=60.0)
        )
    if outcome.state is State.DELETE_BLOCKED:
        # the user must change the spec (emptyOnDelete, deletionProtection) or the policy; look again
        # slowly, but never slower than the configured cap
        slowly = max(60.0, backoff_delay(retry, ErrorClass.RECOVERABLE))
        raise kopf.TemporaryError(outcome.message, delay=min(slowly, rt.settings.max_backoff_seconds))
    _raise_for(rt, outcome, retry)


def register(rt: Runtime, registry: kopf.OperatorRegistry | None = None) -> None:
    """Register every handler for every kind this process serves, each bound to `rt`, and the drift
    scheduler that checks them (started and stopped with the operator)."""
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    rt.drift = drift_scheduler(rt)
    rt.objects.waker = rt.drift.wake
    scheduler.follow_kopf_pause()

    async def start(**_: Any) -> None:
        rt.drift.start()

    async def stop(**_: Any) -> None:
        await rt.drift.stop()

    kopf.on.startup(id="drift-scheduler", **opts)(start)
    kopf.on.cleanup(id="drift-scheduler", **opts)(stop)
    for info in served_kinds(rt.settings):
        _register_kind(info, rt, registry)
    if not rt.settings.kinds or "TagPolicy" in rt.settings.kinds:
        _register_tag_policies(rt, registry)
        webhook.register(served_kinds(rt.settings), rt, registry)


def _register_tag_policies(rt: Runtime, registry: kopf.OperatorRegistry | None) -> None:
    """TagPolicy and Namespace objects feed `rt.policies` through kopf indices: kopf runs no other
    handler before their initial listing is in, so nothing is reconciled against a half-known policy set.
    Deletions arrive as events; a timer per policy keeps its status and the violation gauges current."""
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    info = CONFIG_KINDS["TagPolicy"]
    policies = (info.group, VERSION, info.plural)

    def tag_policy_index(name: str, spec: Any, **_: Any) -> dict[str, bool]:
        rt.policies.set_policy(name, spec)
        return {}

    def namespace_index(name: str, labels: Any, **_: Any) -> dict[str, bool]:
        rt.policies.set_namespace(name, labels)
        return {}

    def tag_policy_event(type: str | None, name: str, **_: Any) -> None:
        if type == "DELETED":
            rt.policies.drop_policy(name)

    def namespace_event(type: str | None, name: str, **_: Any) -> None:
        if type == "DELETED":
            rt.policies.drop_namespace(name)

    def status_timer(**kwargs: Any) -> None:
        tag_policy_status(rt, **kwargs)

    kopf.index(*policies, id="tag-policies", **opts)(tag_policy_index)
    kopf.on.event(*policies, id="tag-policy-deleted", **opts)(tag_policy_event)
    kopf.index("", "v1", "namespaces", id="namespace-labels", **opts)(namespace_index)
    kopf.on.event("", "v1", "namespaces", id="namespace-deleted", **opts)(namespace_event)
    kopf.timer(
        *policies, id="status", interval=rt.settings.tag_policy_status_seconds, initial_delay=1.0, **opts
    )(status_timer)


def tag_policy_status(
    rt: Runtime, name: str, body: Any, meta: Any, status: Any, patch: Any, **_: Any
) -> None:
    """Ready (or the policy error), matching and violating counts; written only when they change."""
    ready, reason, message, state = rt.policies.policy_status(name, list(KINDS))
    previous = dict(status or {})
    matching, violating = state.matching, state.violating
    metrics.publish_tag_policy_violations(rt.policies.violations_by_policy_and_kind())
    if sharding.sharded(rt.settings):  # this shard's part in status.shards; the first shard sums them
        own = {"matchingObjects": matching, "violatingObjects": violating}
        sharding.publish(patch, previous, rt.settings.shard, own)
        if not sharding.writes_status(rt.settings):
            return
        matching = sharding.total(rt.settings, previous, own, "matchingObjects", patch)
        violating = sharding.total(rt.settings, previous, own, "violatingObjects", patch)
        if ready == "True":
            message = f"covers {matching} objects, {violating} violating"
    generation = int(meta.get("generation") or 0)
    conditions = {c.get("type"): c for c in previous.get("conditions", [])}
    old = conditions.get("Ready", {})
    if (old.get("status"), old.get("reason"), old.get("message"), old.get("observedGeneration")) != (
        ready,
        reason,
        message,
        generation,
    ):
        from awsop.reconcilers.engine import now_rfc3339

        moved = old.get("status") != ready
        patch.status["conditions"] = [
            {
                "type": "Ready",
                "status": ready,
                "reason": reason,
                "message": message[:1024],
                "lastTransitionTime": now_rfc3339()
                if moved
                else old.get("lastTransitionTime", now_rfc3339()),
                "observedGeneration": generation,
            }
        ]
        if moved and ready == "False":
            rt.events.post(body, "Warning", reason, message)
    for key, value in (
        ("observedGeneration", generation),
        ("matchingObjects", matching),
        ("violatingObjects", violating),
    ):
        if previous.get(key) != value:
            patch.status[key] = value


def forget(info: KindInfo, rt: Runtime, ref: ObjectRef, uid: str, moved: bool = False) -> None:
    """Drop everything this process keeps about one object (idempotent). `moved`: the object still
    exists but left this shard; it may come back."""
    metrics.CENSUS.forget(uid)
    if rt.accounts is not None:
        rt.accounts.forget(uid, gone=not moved)
    rt.objects.forget(uid)
    rt.policies.forget(uid)
    if rt.event_drift is not None:
        rt.event_drift.forget(uid)
    rt.references.record(info, ref, set())


GONE_CHECK_SECONDS = 60.0  # after a deletion mark: long enough for the deletion policy to have run


async def forget_when_gone(info: KindInfo, rt: Runtime, meta: Any, after: float) -> None:
    """The object was marked for deletion. Usually its delete handler forgets it; but when someone removes
    the finalizer by hand, the handler never runs and its state, census entry and references would stay
    in memory until a restart. So an object still remembered `after` seconds later is looked up (one
    GET), then again at growing intervals (10 minutes at most) while its deletion lasts, and forgotten
    once it is gone (or the name holds another object)."""
    uid = meta.get("uid", "")
    while True:
        await asyncio.sleep(after)
        if uid not in rt.objects:
            return  # the delete handler was done with it
        try:
            current = await asyncio.to_thread(kube.get, info, meta.get("namespace") or "", meta["name"])
        except Exception as exc:  # the API is unreachable: ask again later
            log.debug("looking up deleted %s %s: %s", info.kind, meta["name"], exc)
            continue
        if current is None or (current.get("metadata") or {}).get("uid") != uid:
            forget(info, rt, object_ref(info, meta), uid)
            return
        after = min(after * 2, 600.0)


def served_kinds(settings: Settings) -> list[KindInfo]:
    """The kinds this process serves: AWSOP_KINDS when set (unknown names skipped), else all."""
    wanted = set(settings.kinds)
    return [info for name, info in KINDS.items() if not wanted or name in wanted]


def _register_kind(info: KindInfo, rt: Runtime, registry: kopf.OperatorRegistry | None) -> None:
    def bind(fn: Any) -> Any:
        def handler(**kwargs: Any) -> None:
            if not sharding.serves(rt.settings, kwargs["body"]):
                _leave_to_other_shard(info, rt, fn is delete, kwargs["body"])
                return
            if fn is reconcile:
                _await_create_elsewhere(rt, kwargs["meta"], kwargs["status"])
            fn(info, rt, **kwargs)

        handler.__name__ = f"{fn.__name__}_{info.kind.lower()}"
        return handler

    resource = (info.group, VERSION, info.plural)
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    kopf.on.resume(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.create(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.update(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.delete(*resource, id="delete", **opts)(bind(delete))

    async def drift(type: str | None, body: Any, **_: Any) -> None:
        await follow(info, rt, type, body)

    drift.__name__ = f"drift_{info.kind.lower()}"
    kopf.on.event(*resource, id="drift", **opts)(drift)


def _leave_to_other_shard(info: KindInfo, rt: Runtime, deleting: bool, body: Any) -> None:
    """An object this shard sees but an earlier shard serves (their selectors overlap): no AWS call and
    no status write here. A deletion keeps the finalizer until the serving shard has run the policy."""
    rt.skips.tell(rt.settings, info.kind, body)
    _forget_moved(info, rt, body)  # it may have been this shard's until its labels changed
    if deleting:
        raise kopf.TemporaryError("another shard serves this object", delay=sharding.RECHECK_SECONDS)


def _await_create_elsewhere(rt: Runtime, meta: Any, status: Any) -> None:
    """A shard that receives an object it has not handled yet, marked create-pending moments ago, waits
    for the rest of the create window: the mark is another process's create in flight (the shard the
    object was just relabelled away from), which the next look then finds in AWS instead of creating it
    again. Unsharded, or once the window has passed, the engine's recovery of the mark applies as before."""
    if not sharding.sharded(rt.settings) or meta.get("uid", "") in rt.objects:
        return
    pending = create_pending(meta, status)
    age = time.time() - pending if pending is not None else None
    if age is not None and 0 <= age < rt.settings.create_window_seconds:
        wait = rt.settings.create_window_seconds - age + 1.0
        raise kopf.TemporaryError(
            f"a create of this object is in flight elsewhere; looking in {wait:.0f}s", delay=wait
        )


def _forget_moved(info: KindInfo, rt: Runtime, body: Any) -> None:
    """Forget an object that left this shard (after any reconcile of it in flight here), so this shard's
    counts (TagPolicy, AWSAccount) stop including it; it may come back later under the same uid."""
    meta = body.get("metadata") or {}
    uid = meta.get("uid", "")
    if uid not in rt.objects:
        return
    with rt.objects.get(uid).lock:
        forget(info, rt, object_ref(info, meta), uid, moved=True)


@dataclass(frozen=True)
class Handled:
    """kopf's last-handled record of one body: the digest of its essence (`essence_digest`) under this
    process's storage prefix. It lives in `status.lastHandled[prefix]`, where the handler's own status
    write records it: kopf then has nothing left to write after the handler (see
    `DigestDiffBaseStorage`)."""

    prefix: str
    digest: str

    def recorded(self, status: Any) -> bool:
        return status_record(status, self.prefix) == self.digest

    def write(self, patch: Any, previous: dict[str, Any]) -> None:
        if not self.recorded(previous):
            patch.status["lastHandled"] = {self.prefix: self.digest}  # a merge: other shards' entries stay


def status_record(status: Any, prefix: str) -> str | None:
    """The last-handled digest kept in a status for one storage prefix, if any."""
    return ((status or {}).get("lastHandled") or {}).get(prefix)


def handled_digest(body: Any) -> str:
    """The digest kopf's storage keeps for `body` once it is handled (the same essence kopf builds)."""
    return essence_digest(DigestDiffBaseStorage().build(body=body))


# the kinds whose status has `lastHandled` (AwsObjectStatus); AWSAccount and TagPolicy keep the annotation
_STATUS_RECORDED = frozenset(f"{info.group}/{VERSION}" for info in KINDS.values())


class ProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's progress annotations without its branding mark: kopf adds `<prefix>/kopf-managed: yes` with
    an object's first handler record, which alone made kopf write to every new object after its handler
    (a write and a watch event per object that nothing reads). Pinned on the real API server by
    tests/apiserver/test_writes_real.py (no `kopf.awsop.io/*` annotation after a create)."""

    def _store_marker(self, prefix: str, patch: Any, body: Any) -> None:
        return


class DigestDiffBaseStorage(kopf.DiffBaseStorage):
    """kopf's last-handled state as a digest instead of a full copy of the object.

    kopf's annotation storage keeps the whole spec in one annotation: a spec of 130 KB or more pushes the
    object's annotations past the API server's 256 KiB limit, and then every patch (status, finalizer) is
    refused. kopf needs the stored essence only to tell "changed since last handled" from "not changed"
    (create / update / resume / no-op); awsop's handlers reconcile the whole object and never read the
    field diff. So a SHA-256 of the essence is stored (76 bytes whatever the spec size), and `fetch`
    returns the current essence when the digest matches (no diff: no-op) or a stand-in when it does not
    (a diff: the update handler runs). A full copy left by an earlier version is still understood.

    Where: for the AWS kinds in `status.lastHandled[prefix]`, which the reconcile handler records in its
    own status write when its outcome ends kopf's handling (`Handled`); `store` then finds it recorded by
    this process and adds nothing to kopf's patch, so kopf writes nothing after the handler (one write
    and one watch event less per create or change). Otherwise (a failed status write, a shard setting the
    object aside) `store` puts it in kopf's patch, which kopf writes to the status. An annotation written
    by an earlier version is read until a status record exists. AWSAccount and TagPolicy keep the
    annotation `<prefix>/<key>`.
    """

    def __init__(
        self, *, prefix: str = KOPF_PREFIX, key: str = "last-handled", objects: ObjectRegistry | None = None
    ) -> None:
        super().__init__()
        self.annotation = f"{prefix}/{key}"
        self.prefix = prefix
        self.objects = objects  # what this process wrote (`ObjectState.status`), for `store`

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        if not extra_fields:
            # kopf deep-copies the whole body and then drops metadata and status; it builds an essence
            # for every event of every object (the status and managedFields are most of a body), so
            # only the parts that stay are handed over: the same essence at a fraction of the copying
            meta = body.get("metadata") or {}
            lean = {k: v for k, v in body.items() if k not in ("metadata", "status")}
            lean["metadata"] = {k: meta[k] for k in ("labels", "annotations") if k in meta}
            body = lean
        essence = super().build(body=body, extra_fields=extra_fields)
        annotations = essence.get("metadata", {}).get("annotations", {})
        # every shard's bookkeeping (<shard>.kopf.awsop.io/...) and awsop's internal marks stay out
        for key in [k for k in annotations if k.split("/")[0].endswith(KOPF_PREFIX)]:
            del annotations[key]
        self.remove_empty_stanzas(essence)
        return essence

    def fetch(self, *, body: Any) -> Any:
        stored = None
        if body.get("apiVersion") in _STATUS_RECORDED:
            stored = status_record(body.get("status"), self.prefix)
        if stored is None:
            stored = (body.get("metadata", {}).get("annotations") or {}).get(self.annotation)
        if stored is None:
            return None
        if stored.startswith("{"):  # a full essence, as kopf's annotation storage writes it
            return json.loads(stored)
        current = self.build(body=body)
        if stored.strip() == essence_digest(current):
            return current
        return {"digest": stored.strip()}  # differs from any real essence: kopf sees a change

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        digest = essence_digest(essence)
        if body.get("apiVersion") not in _STATUS_RECORDED:
            patch.metadata.annotations[self.annotation] = digest
            return
        handled = Handled(self.prefix, digest)
        uid = body.get("metadata", {}).get("uid", "")
        # read without the object's lock (kopf's event loop must not wait for a drift check): `status` is
        # replaced whole under the lock, and a stale read only costs the write below
        written = self.objects.get(uid).status if self.objects is not None and uid in self.objects else None
        if not handled.recorded(written):
            handled.write(patch, body.get("status") or {})


def essence_digest(essence: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of kopf's essence (spec, labels, user annotations)."""
    text = json.dumps(essence, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


CONSISTENCY_TIMEOUT_SECONDS = 60.0


def configure(settings: kopf.OperatorSettings, cfg: Settings, objects: ObjectRegistry | None = None) -> None:
    """kopf settings: our finalizer, small bookkeeping (progress in annotations, the last-handled digest
    in the status the handlers write, `DigestDiffBaseStorage`), peering, posting, and the worker pool
    (the HTTP pools are sized to match). `objects` is the process's registry the handlers write through."""
    settings.persistence.finalizer = FINALIZER
    prefix = sharding.storage_prefix(cfg, KOPF_PREFIX)  # each shard keeps kopf's records apart
    settings.persistence.progress_storage = ProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(
        prefix=prefix, key="last-handled", objects=objects
    )
    # kopf holds an object's next handler run until the watch shows kopf's own last patch, for at most
    # this long; past it, kopf handles the older body (no last-handled digest yet) as a new object and
    # runs the create handler again. With 1,000 objects applied at once the watch lags the API server by
    # more than kopf's default 5 s and 7-18 % of the objects were reconciled twice. A watch delivers every
    # version in order, so the wait ends as soon as the patch is seen; the bound only matters when a watch
    # restarts.
    settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT_SECONDS
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.execution.max_workers = cfg.workers
    sharding.configure(settings, cfg, served_kinds(cfg))
    if cfg.peering:
        settings.peering.name = cfg.peering
        settings.peering.mandatory = True
        settings.peering.standalone = False
        # kopf pauses every peer that sees another at the same priority: each replica needs its own
        settings.peering.priority = random.randint(1, 32767)
    else:
        settings.peering.standalone = True
