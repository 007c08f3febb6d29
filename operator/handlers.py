"""kopf handlers: thin adapters between Kubernetes and the engine.

Each handler parses the body with the kind's pydantic model, calls the engine, writes the status through
kopf's patch, emits Events and maps the outcome to kopf's retry semantics. Nothing AWS-specific lives here.
Decorators are registered for every kind in the registry by `register()`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import threading
import time
from dataclasses import replace
from typing import Any

import kopf
from pydantic import ValidationError

from awsop.reconcilers.account import ResolvedAccount
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, Progress, State
from awsop.reconcilers.errors import ErrorClass, backoff_delay
from awsop.reconcilers.kinds import KINDS, VERSION, KindInfo, referrers_of
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.refs import Reference

from . import kube, metrics
from .accounts import AccountDirectory
from .manifests import format_validation_error
from .references import resolution_from_body
from .settings import Settings
from .status import census_condition, new_status, synced_generation

log = logging.getLogger("awsop")

FINALIZER = "awsop.io/finalizer"
PAUSED = "awsop.io/paused"
PLAN_ONLY = "awsop.io/plan-only"
RECONCILE_REQUESTED = "awsop.io/reconcile-requested-at"
RESYNC = "awsop.io/resync-period"
# kopf's own bookkeeping lives under a prefix of its own: kopf leaves every annotation with its storage
# prefix out of its change detection, and awsop.io/* annotations (paused, reconcile-requested-at) must count.
KOPF_PREFIX = "kopf.awsop.io"
CREATE_PENDING = f"{KOPF_PREFIX}/create-pending"  # internal: recording it must not trigger a reconcile


class Runtime:
    """Process-wide state the handlers share: settings, engine, kind clients, last-check times."""

    settings: Settings
    engine: Engine
    clients: dict[str, Any]
    accounts: AccountDirectory | None = None  # None: every object uses the operator's own credentials
    last_check: dict[str, float] = {}
    failures: dict[str, tuple[int, ErrorClass]] = {}  # uid -> consecutive failures, last error class
    applied: dict[str, int] = {}  # uid -> generation applied by this process (bodies can lag behind)
    # (namespace, kind, name) of a referenced object -> the objects that referred to it at their last
    # reconcile: nudged when it becomes Ready or its ARN changes, so they follow without waiting a resync
    referrers: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    referring: dict[tuple[str, str, str], set[tuple[str, str, str]]] = {}  # the same index, forwards
    progressing: dict[str, int] = {}  # uid -> consecutive reconciles that found the resource busy
    lock = threading.Lock()


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


def _ref(info: KindInfo, meta: Any) -> ObjectRef:
    return ObjectRef(info.kind, meta.get("namespace") or "", meta["name"], int(meta.get("generation") or 0))


def _annotation(meta: Any, key: str) -> str:
    return str((meta.get("annotations") or {}).get(key, ""))


def _account(ref: ObjectRef, model: Any, uid: str, deleting: bool = False) -> ResolvedAccount | None:
    """The object's AWS account, resolved through the Kubernetes API (None: the operator's own)."""
    directory = Runtime.accounts
    if directory is None:
        return None
    return directory.resolve(ref.namespace, model.account_ref, uid, deleting, ref)


def _emit(body: Any, outcome: Outcome) -> None:
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])


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
    body: Any,
    meta: Any,
    spec: Any,
    status: Any,
    patch: Any,
    retry: int,
    raise_errors: bool = True,
    **_: Any,
) -> None:
    """Create/update/resume and the drift daemon: converge and report. Errors go to kopf's retry
    machinery unless the caller (the drift daemon) schedules retries itself."""
    rt = Runtime
    ref = _ref(info, meta)
    previous = dict(status or {})
    generation = ref.generation
    try:
        model = info.spec_model.model_validate(dict(spec or {}))
    except ValidationError as exc:
        message = format_validation_error(exc)
        _write(patch, previous, _invalid(info, ref, message), generation)
        kopf.warn(body, reason="InvalidSpec", message=message[:1024])
        raise kopf.PermanentError(f"invalid spec: {message}") from None
    paused = _annotation(meta, PAUSED).lower() == "true"
    plan_only = _annotation(meta, PLAN_ONLY).lower() == "true"
    create_pending = bool(_annotation(meta, CREATE_PENDING))

    def before_create() -> None:
        kube.annotate(info, ref.namespace, ref.name, {CREATE_PENDING: str(int(time.time()))})

    outcome = rt.engine.reconcile(
        rt.clients[info.kind],
        ref,
        model,
        spec_changed=_applied_generation(previous, meta.get("uid", "")) != generation,
        plan_only=plan_only,
        paused=paused,
        create_pending=create_pending,
        before_create=before_create,
        context=replace(
            ReconcileContext() if paused else resolve_references(info, ref, model),
            account=_account(ref, model, meta.get("uid", "")),
        ),
        progress=Progress.from_status(previous.get("progress"), generation),
    )
    uid = meta.get("uid", "")
    with rt.lock:
        rt.last_check[uid] = time.monotonic()
        if outcome.state is State.PROGRESSING:
            # the wait grows while the resource stays busy and starts short again after each step
            started_step = outcome.progress is not None and not outcome.progress.waiting_for
            rt.progressing[uid] = 0 if started_step else rt.progressing.get(uid, 0) + 1
        else:
            rt.progressing.pop(uid, None)
        if outcome.error_class is None:
            rt.failures.pop(uid, None)
            if outcome.state in (State.READY, State.DRIFTED, State.NOT_FOUND):
                rt.applied[uid] = generation
        else:
            rt.failures[uid] = (rt.failures.get(uid, (0, outcome.error_class))[0] + 1, outcome.error_class)
    _write(patch, previous, outcome, generation, plan_only)
    # log what changed AWS or the status, and every error; a check that found nothing new stays at DEBUG
    wrote_aws = bool(outcome.plan.changes) and outcome.state not in (State.PLANNED, State.DRIFTED)
    _log(info, ref, outcome, quiet=outcome.ok and not patch and not wrote_aws)
    if outcome.ok and create_pending and outcome.state is not State.PAUSED:
        patch.metadata.annotations[CREATE_PENDING] = None
    _emit_once(body, previous, outcome)
    _record(info, outcome, uid, meta.get("creationTimestamp"), _is_ready(previous))
    if outcome.state is State.READY and (
        not _is_ready(previous) or previous.get("arn") != outcome.status.get("arn")
    ):
        _nudge_referrers(info, ref)
    if raise_errors:
        _raise_for(outcome, retry, rt.progressing.get(uid, 0))


def resolve_references(info: KindInfo, ref: ObjectRef, model: AwsObjectSpec) -> ReconcileContext:
    """The spec's references, each resolved with one GET of the target object; remembered in reverse so
    a target that becomes Ready (or changes its ARN) can nudge the objects that wait for it."""
    references = model.references()
    resolved = {}
    for reference in references:
        target = KINDS[reference.kind]
        body = kube.get(target, ref.namespace, reference.name)
        resolved[(reference.kind, reference.name)] = resolution_from_body(reference, body)
    _index_references(info, ref, {(ref.namespace, r.kind, r.name) for r in references})
    return ReconcileContext(references=resolved)


def _index_references(info: KindInfo, ref: ObjectRef, wanted: set[tuple[str, str, str]]) -> None:
    """Record what `ref` refers to now (an empty set forgets it), in both directions."""
    source = (info.kind, ref.name)
    me = (ref.namespace, info.kind, ref.name)
    with Runtime.lock:
        for key in Runtime.referring.pop(me, set()) - wanted:
            users = Runtime.referrers.get(key, set())
            users.discard(source)
            if not users:
                Runtime.referrers.pop(key, None)
        for key in wanted:
            Runtime.referrers.setdefault(key, set()).add(source)
        if wanted:
            Runtime.referring[me] = set(wanted)


def _nudge_referrers(info: KindInfo, ref: ObjectRef) -> None:
    """Ask the objects that refer to this one to reconcile now (they resolve it again)."""
    with Runtime.lock:
        users = sorted(Runtime.referrers.get((ref.namespace, info.kind, ref.name), ()))
    for kind, name in users:
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


def _emit_once(body: Any, previous: dict[str, Any], outcome: Outcome) -> None:
    """Events of an outcome; waiting (for a dependency, or for users before a delete) is told once, not
    on every retry: only when the Ready condition's reason or message changes."""
    repeating = outcome.state in (State.WAITING, State.DELETE_BLOCKED)
    if not repeating or _ready_condition(previous) != (outcome.reason, outcome.message[:1024]):
        _emit(body, outcome)


def _ready_condition(status: dict[str, Any]) -> tuple[str, str] | None:
    for condition in status.get("conditions", []):
        if condition.get("type") == "Ready":
            return str(condition.get("reason", "")), str(condition.get("message", ""))
    return None


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
        if key not in status and key in ("plan", "drift", "progress"):
            patch.status[key] = None


def _raise_for(outcome: Outcome, retry: int, busy_rounds: int | None = None) -> None:
    settings = Runtime.settings
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
        raise kopf.TemporaryError(outcome.message or "in progress", delay=progress_delay(rounds))


def progress_delay(rounds: int) -> float:
    """Short, growing, capped: a busy resource is looked at again soon (1 s, 2 s, 4 s, ... 30 s, and never
    more than AWSOP_MAX_BACKOFF_SECONDS)."""
    cap = min(PROGRESS_CAP_SECONDS, Runtime.settings.max_backoff_seconds)
    return float(backoff_delay(rounds, ErrorClass.RECOVERABLE, base=1, cap=cap))


PROGRESS_CAP_SECONDS = 30.0


async def drift_daemon(info: KindInfo, stopped: Any, body: Any, **_: Any) -> None:
    """One sleeping coroutine per object that wakes only when its own drift check is due.

    kopf timers wake every object on a fixed tick (at 10,000 objects that alone kept a core busy); this
    sleeps exactly until the object's next check, runs it in a worker thread and writes what changed.
    """
    while not stopped:
        delay = await asyncio.to_thread(_drift_round, info, body)
        await stopped.wait(max(1.0, delay))


def _drift_round(info: KindInfo, body: Any) -> float:
    snapshot = copy.deepcopy(dict(body))  # kopf's live body may change while the check runs
    meta = snapshot.get("metadata", {})
    patch = kopf.Patch()
    delay = drift_check(
        info,
        body=snapshot,
        meta=meta,
        spec=snapshot.get("spec"),
        status=snapshot.get("status"),
        patch=patch,
        retry=0,
    )
    if patch:
        kube.patch(info, meta.get("namespace", ""), meta["name"], dict(patch))
    return delay


def drift_check(
    info: KindInfo, body: Any, meta: Any, spec: Any, status: Any, patch: Any, retry: int, **kw: Any
) -> float:
    """Run a reconcile if this object's (jittered) resync period is due; return seconds until the next.

    A Stalled object is not checked again until its spec changes (or reconcile-requested-at is set): a
    terminal error never becomes a retry loop. After a failure the next check comes on the growing,
    capped backoff schedule instead of the resync period."""
    settings = Runtime.settings
    if meta.get("deletionTimestamp") or _stalled_at(status, int(meta.get("generation") or 0)):
        return settings.resync_seconds
    period = settings.resync_seconds
    override = _annotation(meta, RESYNC)
    if override and (parsed := parse_duration(override)) is not None:
        period = max(settings.min_resync_seconds, parsed)
    uid = meta.get("uid", "")
    with Runtime.lock:
        last = Runtime.last_check.get(uid)
        failed = Runtime.failures.get(uid)
        busy = Runtime.progressing.get(uid)
        if last is None:
            # first sight after a restart: spread the first checks over one period
            last = Runtime.last_check[uid] = time.monotonic() - random.uniform(0, period)
    if busy is not None:
        period = progress_delay(busy)
    elif failed is not None:
        period = backoff_delay(
            failed[0],
            failed[1],
            cap=settings.max_backoff_seconds,
            access_delay=settings.access_denied_backoff_seconds,
        )
    remaining = last + period * random.uniform(0.9, 1.0) - time.monotonic()
    if remaining > 0:
        return remaining
    reconcile(info, body, meta, spec, status, patch, retry, raise_errors=False, **kw)
    return _next_period(uid, meta)


def _next_period(uid: str, meta: Any) -> float:
    settings = Runtime.settings
    if (busy := Runtime.progressing.get(uid)) is not None:
        return progress_delay(busy)
    failed = Runtime.failures.get(uid)
    if failed is not None:
        return float(
            backoff_delay(
                failed[0],
                failed[1],
                cap=settings.max_backoff_seconds,
                access_delay=settings.access_denied_backoff_seconds,
            )
        )
    override = _annotation(meta, RESYNC)
    if override and (parsed := parse_duration(override)) is not None:
        return max(settings.min_resync_seconds, parsed)
    return settings.resync_seconds


def _applied_generation(status: dict[str, Any], uid: str) -> int | None:
    """The generation whose spec reached AWS: from status, or from this process's memory when the body
    a drift daemon reads has not caught up with the status written by the previous reconcile yet."""
    known = [g for g in (synced_generation(status), Runtime.applied.get(uid)) if g is not None]
    return max(known) if known else None


def _stalled_at(status: Any, generation: int) -> bool:
    return any(
        c.get("type") == "Stalled" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in (status or {}).get("conditions", [])
    )


def delete(
    info: KindInfo, body: Any, meta: Any, spec: Any, status: Any, patch: Any, retry: int, **_: Any
) -> None:
    """Run the deletion policy; keeps the finalizer (by raising) until AWS is done."""
    ref = _ref(info, meta)
    uid = meta.get("uid", "")
    try:
        model = info.spec_model.model_validate(dict(spec or {}))
    except ValidationError:
        metrics.CENSUS.forget(uid)
        return  # never valid, never created
    paused = _annotation(meta, PAUSED).lower() == "true"
    outcome = Runtime.engine.delete(
        Runtime.clients[info.kind],
        ref,
        model,
        paused=paused,
        create_pending=bool(_annotation(meta, CREATE_PENDING)),
        context=ReconcileContext(
            referenced_by=referenced_by(info, ref), account=_account(ref, model, "", deleting=True)
        ),
    )
    _emit_once(body, dict(status or {}), outcome)
    _log(info, ref, outcome, quiet=False)
    log.debug("delete %s/%s calls: %s", ref.namespace, ref.name, ", ".join(outcome.calls))
    if outcome.state is State.DELETED:
        metrics.CENSUS.forget(uid)
        if Runtime.accounts is not None:
            Runtime.accounts.forget(uid)
        with Runtime.lock:
            for memory in (Runtime.last_check, Runtime.failures, Runtime.applied, Runtime.progressing):
                memory.pop(uid, None)
        _index_references(info, ref, set())
        return
    _write(patch, dict(status or {}), outcome, ref.generation)
    if outcome.error_class is ErrorClass.TERMINAL:
        # never let kopf drop the finalizer on an error: the AWS resource would be orphaned silently
        raise kopf.TemporaryError(
            f"{outcome.reason}: {outcome.message}", delay=Runtime.settings.max_backoff_seconds
        )
    if outcome.state is State.DELETE_BLOCKED and outcome.reason == "InUse":
        # its users are usually being changed or deleted right now: look again soon
        raise kopf.TemporaryError(
            outcome.message, delay=backoff_delay(retry, ErrorClass.RECOVERABLE, base=2.0, cap=60.0)
        )
    if outcome.state is State.DELETE_BLOCKED:
        # the user must change the spec (emptyOnDelete, deletionProtection) or the policy; look again
        # slowly, but never slower than the configured cap
        slowly = max(60.0, backoff_delay(retry, ErrorClass.RECOVERABLE))
        raise kopf.TemporaryError(outcome.message, delay=min(slowly, Runtime.settings.max_backoff_seconds))
    _raise_for(outcome, retry)


def register(settings: Settings, registry: kopf.OperatorRegistry | None = None) -> None:
    """Register every handler for every kind (idempotent per registry)."""
    for info in served_kinds(settings):
        _register_kind(info, settings, registry)


def served_kinds(settings: Settings) -> list[KindInfo]:
    """The kinds this process serves: AWSOP_KINDS when set (unknown names skipped), else all."""
    wanted = set(settings.kinds)
    return [info for name, info in KINDS.items() if not wanted or name in wanted]


def _register_kind(info: KindInfo, settings: Settings, registry: kopf.OperatorRegistry | None) -> None:
    def bind(fn: Any) -> Any:
        def handler(**kwargs: Any) -> None:
            fn(info, **kwargs)

        handler.__name__ = f"{fn.__name__}_{info.kind.lower()}"
        return handler

    resource = (info.group, VERSION, info.plural)
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    kopf.on.resume(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.create(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.update(*resource, id="reconcile", **opts)(bind(reconcile))
    kopf.on.delete(*resource, id="delete", **opts)(bind(delete))

    async def daemon(**kwargs: Any) -> None:
        await drift_daemon(info, **kwargs)

    daemon.__name__ = f"drift_daemon_{info.kind.lower()}"
    kopf.daemon(*resource, id="drift", cancellation_timeout=5.0, **opts)(daemon)


def configure(settings: kopf.OperatorSettings, cfg: Settings) -> None:
    """kopf settings: our finalizer, annotation-only bookkeeping (status stays ours), peering, posting."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 16
    if cfg.peering:
        settings.peering.name = cfg.peering
        settings.peering.mandatory = True
        settings.peering.standalone = False
        # kopf pauses every peer that sees another at the same priority: each replica needs its own
        settings.peering.priority = random.randint(1, 32767)
    else:
        settings.peering.standalone = True
