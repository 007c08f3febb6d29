"""The reconcile engine, written once for every kind.

observe -> (create | diff -> plan -> apply) -> outcome. The engine decides what to do from the
observation and the diff, the way crossplane's managed reconciler does; kinds only say how to observe,
diff, create, change and delete their resource. It returns an `Outcome` describing conditions, status,
drift, events and when to come back; it never talks to Kubernetes, so the operator and the CLI share it.

What it must never do: write to AWS for a paused or ObserveOnly object, touch a resource it does not own
(unless the spec adopts it), delete anything the spec did not ask it to, or retry a terminal error.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .aws import AwsClients
from .changes import Action, Change, Plan, render_value
from .context import EMPTY_CONTEXT, ReconcileContext
from .errors import (
    AlreadyCreatedError,
    AwsopError,
    ErrorClass,
    RecoverableError,
    TerminalError,
    error_code,
    error_message,
    error_of_class,
)
from .model import AwsObjectSpec
from .policies import AdoptionPolicy, DeletionPolicy, DriftPolicy, ManagementPolicy
from .refs import Reference, Resolution, reference_changes, reference_record, unresolved
from .tag_policy import NO_POLICY, TagPolicyVerdict
from .tags import MAX_TAGS, TagLayer, layered_tags, owner_value

S = TypeVar("S", bound=AwsObjectSpec)
TAG_POLICY_VIOLATION = "TagPolicyViolation"
REFERENCE_CHANGED = "ReferenceChanged"
ObservedT = TypeVar("ObservedT")

CREATE_PENDING_SKEW = 5.0
"""Seconds of clock skew allowed between a create-pending mark and AWS's creation time of the resource."""
CREATE_WINDOW = 10.0
"""Seconds after AWS created it that an untagged resource of the expected name counts as a create in
flight (another run of ours whose ownership tags are not written yet: an API that ignores tags at create)
rather than someone else's: it is re-read, never written to, and only after the window a conflict. Our
own create confirms its tags well within it (`CONFIRM_ATTEMPTS` reads, a few seconds of backoff)."""
CONFIRM_ATTEMPTS = 5
"""Reads (and ownership tag writes) a create gets to prove ownership before it gives up."""
CONFIRM_DELAY = 0.25
"""Base of the jittered exponential wait between two confirmation attempts (capped at 2 s)."""


@dataclass(frozen=True)
class ObjectRef:
    """The Kubernetes object a reconcile is about."""

    kind: str
    namespace: str
    name: str
    generation: int = 0


@dataclass(frozen=True)
class EngineConfig:
    """The part of the operator configuration the engine needs."""

    cluster_id: str = "awsop"
    default_tags: Mapping[str, str] = field(default_factory=dict)
    deletion_policy_defaults: Mapping[str, DeletionPolicy] = field(default_factory=dict)
    name_prefix: Mapping[str, str] = field(default_factory=dict)
    create_window: float = CREATE_WINDOW


@dataclass(frozen=True)
class Target(Generic[S]):
    """Everything a kind needs to act: the spec and the values the engine resolved for it."""

    ref: ObjectRef
    spec: S
    aws_name: str
    region: str
    owner: str
    tags: dict[str, str]
    deletion_policy: DeletionPolicy
    context: ReconcileContext = EMPTY_CONTEXT
    account_id: str = ""
    """The AWS account the resource lives in ("" when not known yet); ARNs are built with it."""


@dataclass(frozen=True)
class Busy:
    """The resource exists but is not usable yet (a table CREATING, an index backfilling, a group
    DELETING). `reason` is a CamelCase condition reason, `message` says what it waits for."""

    reason: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Where a multi-step change stands for one generation of one object.

    `step` counts the steps started so far (the one in flight included), `steps` is that plus the steps
    still pending; `current` names the step started last, `pending` the ones not started, in order, and
    `waiting_for` what the resource is busy with. The caller hands the previous value back to the next
    reconcile of the same generation, so the count survives across reconciles (and processes, via status).
    """

    generation: int
    step: int
    steps: int
    current: str = ""
    pending: tuple[str, ...] = ()
    waiting_for: str = ""

    def as_status(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "step": self.step,
            "steps": self.steps,
            "currentStep": self.current,
            "pendingSteps": list(self.pending),
            "waitingFor": self.waiting_for,
        }

    @classmethod
    def from_status(cls, value: Any, generation: int) -> Progress | None:
        """The progress recorded in status, if it is about `generation` (a new spec starts over)."""
        if not isinstance(value, Mapping) or value.get("generation") != generation:
            return None
        return cls(
            generation=generation,
            step=int(value.get("step") or 0),
            steps=int(value.get("steps") or 0),
            current=str(value.get("currentStep") or ""),
            pending=tuple(str(p) for p in value.get("pendingSteps") or ()),
            waiting_for=str(value.get("waitingFor") or ""),
        )


def busy_of(client: object, target: Target[Any], observed: Any) -> Busy | None:
    """Ask the kind whether its observed resource is still busy. Kinds whose resources are usable as
    soon as they exist do not implement `busy` (the engine treats them as never busy)."""
    return client.busy(target, observed) if isinstance(client, ReportsBusy) else None


class DeleteResult(StrEnum):
    DELETED = "Deleted"
    IN_PROGRESS = "InProgress"
    BLOCKED = "Blocked"  # lifts only when someone acts: a spec edit (emptyOnDelete, protection) or AWS
    IN_USE = "InUse"  # other AWS resources still use it; lifts by itself once they are gone


@dataclass(frozen=True)
class DeleteOutcome:
    result: DeleteResult
    reason: str = ""
    message: str = ""


class ResourceClient(Protocol[S, ObservedT]):
    """What one kind implements. All methods but `diff`, `plan_create` and `status` may call AWS.

    `create` makes the resource, with the ownership tags wherever the API takes tags at create, and
    raises `AlreadyCreatedError` when the account already owns it. The engine confirms every create by
    a read (`observe(facets=False)`) that must show this object's owner tag. Optional capabilities
    refine that and more; each is a small protocol below, and a kind without one keeps the plain
    behaviour: `ReportsBusy`, `TagsOwner`, `ConfirmsCreate`, `FinishesCreate`, `Discards`, `KnowsCreatedAt`,
    `MovesIdentifiers`, `AddsOwnTags`, `ExclusiveCreate`, `GlobalNames`, `ReadsTags`. The engine asks
    `isinstance(client, P)`, and reconcilers/kinds.py lists who has which so mypy checks the signatures.
    """

    kind: str
    default_deletion_policy: DeletionPolicy

    def aws_name(self, ref: ObjectRef, spec: S, prefix: str) -> str: ...
    def observe(self, target: Target[S], facets: bool = True) -> ObservedT | None:
        """Existence, identity and ownership; with `facets`, also every facet the spec declares."""
        ...

    def owner_of(self, observed: ObservedT) -> str | None: ...
    def diff(self, target: Target[S], observed: ObservedT) -> list[Change]: ...
    def plan_create(self, target: Target[S]) -> list[Change]: ...
    def create(self, target: Target[S]) -> ObservedT: ...
    def apply(self, target: Target[S], observed: ObservedT, changes: list[Change]) -> None: ...
    def release(self, target: Target[S], observed: ObservedT) -> None: ...
    def delete(self, target: Target[S], observed: ObservedT) -> DeleteOutcome: ...
    def status(self, target: Target[S], observed: ObservedT | None) -> dict[str, Any]: ...
    def classify(self, exc: BaseException) -> ErrorClass: ...


# -- optional capabilities of a kind (structural: a kind has the method or attribute, or it does not) ---


@runtime_checkable
class ReportsBusy(Protocol):
    """Resources that exist before they are usable (a table CREATING, a group deleting): while `busy`
    answers, the engine writes nothing and reports State.PROGRESSING with what it waits for."""

    def busy(self, target: Target[Any], observed: Any) -> Busy | None: ...


@runtime_checkable
class TagsOwner(Protocol):
    """Write the ownership tags when the create's read-back lacks them (an API or emulator that ignores
    tags at create, or an earlier tag write that failed)."""

    def tag_owner(self, target: Target[Any], observed: Any) -> None: ...


@runtime_checkable
class ConfirmsCreate(Protocol):
    """A cheaper read for confirming a create this reconcile's own call just made: the create answered,
    so the resource exists where it was asked for, and only the owner tag is in question (S3: the tags
    alone, without HeadBucket). None when the resource is not there (yet): the engine reads again."""

    def observe_created(self, target: Target[Any], created: Any) -> Any | None: ...


@runtime_checkable
class FinishesCreate(Protocol):
    """Two-phase create: the rest of the configuration, written only after ownership is confirmed (the
    loser of a race writes nothing more). Returns the observation after it."""

    def finish_create(self, target: Target[Any], observed: Any) -> Any: ...


@runtime_checkable
class Discards(Protocol):
    """Delete a resource this reconcile just created and could not tag. It holds nothing yet; this must
    never empty anything."""

    def discard(self, target: Target[Any], observed: Any) -> None: ...


@runtime_checkable
class KnowsCreatedAt(Protocol):
    """The resource's creation time (Unix seconds), so a create-pending mark only claims an untagged
    resource created after the mark."""

    def created_at(self, target: Target[Any], observed: Any) -> float | None: ...


@runtime_checkable
class ReadsTags(Protocol):
    """The resource's tags as observed (key -> value), so the engine can leave a tag that no layer
    decides (a TagPolicy default skipped for a missing namespace label) as it is in AWS."""

    def observed_tags(self, observed: Any) -> Mapping[str, str]: ...


@runtime_checkable
class MovesIdentifiers(Protocol):
    """The status identifiers (see `refs.REFERENCE_VALUES`) that applying `changes` moves, e.g. a launch
    template's default version: a plan shows them to referrers as known after apply."""

    def moved_identifiers(self, target: Target[Any], changes: list[Change]) -> tuple[str, ...]: ...


@runtime_checkable
class AddsOwnTags(Protocol):
    """Tag keys the kind itself keeps on the resource for this spec besides the ownership tags (a group's
    record of the launch template version it rolled out): they count toward AWS's tag limit too."""

    def own_tags(self, spec: Any) -> frozenset[str]: ...


@runtime_checkable
class ExclusiveCreate(Protocol):
    """`exclusive_create = True`: the create call fails when the resource exists and carries the tags
    atomically (CreateTable, CreateLaunchTemplate): its answer proves ownership, so no read-back is made
    and the resource `create` returns is the observation."""

    exclusive_create: bool


class OperationState(StrEnum):
    RUNNING = "Running"
    DONE = "Done"
    FAILED = "Failed"


@dataclass(frozen=True)
class CreateOperation:
    """What AWS reports of a create it runs on its own after the call returned (a DynamoDB import from
    S3). `token` names the operation to the kind (the import's ARN); `reason` is a CamelCase condition
    reason and `message` says where it stands (progress, or AWS's failure code and message); `status`
    holds the status fields the kind reports for it."""

    token: str
    state: OperationState
    reason: str
    message: str
    status: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StartedCreate:
    """A create that started an operation AWS finishes on its own, as the caller keeps it between
    reconciles (the operator in `status.pendingCreate`, the CLI in its journal) and hands back to the next
    reconcile: the kind then describes the operation instead of starting a second one. `fingerprint` is
    of the spec that started it: a failed operation is never started again for that same spec."""

    token: str
    fingerprint: str
    started_at: str = ""

    def as_record(self) -> dict[str, str]:
        return {"token": self.token, "fingerprint": self.fingerprint, "startedAt": self.started_at}

    @classmethod
    def from_record(cls, value: Any) -> StartedCreate | None:
        """The record as the caller kept it (`as_record`), or None when there is none (or it is unusable)."""
        if not isinstance(value, Mapping) or not value.get("token") or not value.get("fingerprint"):
            return None
        return cls(str(value["token"]), str(value["fingerprint"]), str(value.get("startedAt") or ""))


def spec_fingerprint(spec: AwsObjectSpec) -> str:
    """A short digest of a spec: equal for equal specs, whatever their key order."""
    doc = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@runtime_checkable
class StartsCreate(Protocol):
    """Creates that start an operation AWS runs on its own (ImportTable): `start_create` starts it and
    answers its first description; the engine records it (`Outcome.started_create`) and, while a record
    is handed back, asks `describe_create` instead of creating again. Running: progress. Failed: Stalled
    with AWS's reason, never started again for the same spec. Done: the resource the operation made is
    this object's (ownership tags written through `TagsOwner`), and the rest of the spec is applied
    like any update. `starts_create` says whether this spec creates that way."""

    def starts_create(self, spec: Any) -> bool: ...
    def start_create(self, target: Target[Any]) -> CreateOperation: ...
    def describe_create(self, target: Target[Any], token: str) -> CreateOperation: ...


@dataclass
class _CreateRecord:
    """The started create a reconcile was handed, as that reconcile leaves it (kept, replaced, dropped),
    and whether it claimed the resource a finished operation made."""

    record: StartedCreate | None
    claimed: bool = False


@runtime_checkable
class TagsAtCreate(Protocol):
    """`tags_at_create = True`: the create call carries the ownership tags and AWS applies them with the
    create or refuses the create (CreateQueue `tags`, CreateTable `Tags`, CreateLaunchTemplate and
    CreateAutoScalingGroup tag specifications). A crash can never leave such a resource untagged, so the
    create-pending mark (`before_create`: one Kubernetes write before every create) is not recorded."""

    tags_at_create: bool


@runtime_checkable
class GlobalNames(Protocol):
    """`global_names = True`: the AWS name is unique across regions and accounts (S3), so two objects
    naming it in different regions still name one resource."""

    global_names: bool


@runtime_checkable
class Prefetches(Protocol):
    """Reads many objects of one (account, region) in few calls ahead of their reconciles (the CLI runs a
    whole set at once): Auto Scaling groups and launch templates 100 names per describe call, queue URLs
    from pages of ListQueues. Best effort: what it does not find, each object's observe reads itself."""

    def prefetch(self, region: str, targets: Sequence[Target[Any]]) -> None: ...


def creates_exclusively(client: object) -> bool:
    return isinstance(client, ExclusiveCreate) and client.exclusive_create


def tags_at_create(client: object) -> bool:
    return isinstance(client, TagsAtCreate) and client.tags_at_create


def names_are_global(client: object) -> bool:
    return isinstance(client, GlobalNames) and client.global_names


class State(StrEnum):
    """The one-word result of a reconcile; conditions are derived from it."""

    READY = "Ready"
    DRIFTED = "Drifted"  # drift present and left alone (Report / ObserveOnly)
    PROGRESSING = "Progressing"
    NOT_FOUND = "NotFound"  # ObserveOnly and the resource does not exist
    PAUSED = "Paused"
    PLANNED = "Planned"
    ERROR = "Error"
    STALLED = "Stalled"
    DELETED = "Deleted"
    DELETE_BLOCKED = "DeleteBlocked"
    WAITING = "Waiting"  # a referenced object is missing or not Ready: retried, never Stalled


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Outcome:
    """What happened, for the operator (status, events, requeue) and the CLI (tables, exit codes)."""

    state: State
    reason: str
    message: str
    plan: Plan
    status: dict[str, Any] = field(default_factory=dict)
    drift: list[Change] = field(default_factory=list)
    corrected: list[Change] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    error_class: ErrorClass | None = None
    calls: list[str] = field(default_factory=list)
    duration: float = 0.0
    progress: Progress | None = None
    tag_policy: TagPolicyVerdict = NO_POLICY  # the verdict this reconcile acted on (conditions, metrics)
    moves: tuple[str, ...] = ()  # a planned update: the identifiers it moves (`moved_identifiers`)
    in_use: bool = False  # a blocked delete that lifts by itself once its users are gone: look again soon
    started_create: StartedCreate | None = None  # a started create the caller keeps for the next reconcile

    @property
    def ok(self) -> bool:
        return self.error_class is None


def _corrected(plan: Plan, status: dict[str, Any], drift: list[Change]) -> Outcome:
    """Drift found and written back (driftPolicy Correct)."""
    summary = "; ".join(change.explain() for change in drift)
    return Outcome(
        State.READY,
        "DriftCorrected",
        summary,
        plan,
        status=status,
        drift=drift,
        corrected=drift,
        events=[Event("Warning", "DriftDetected", summary), Event("Normal", "DriftCorrected", summary)],
    )


class Engine:
    """Runs reconciles and deletions for any kind that implements `ResourceClient`."""

    def __init__(self, clients: AwsClients, config: EngineConfig | None = None) -> None:
        self.clients = clients
        self.config = config or EngineConfig()

    # -- resolution ---------------------------------------------------------------------------------

    def target(
        self,
        client: ResourceClient[S, ObservedT],
        ref: ObjectRef,
        spec: S,
        check_tags: bool = True,
        context: ReconcileContext = EMPTY_CONTEXT,
    ) -> Target[S]:
        account = context.account
        if account is not None and account.denial is not None:
            raise account.denial  # not allowed (or unknown): no AWS call at all for this object
        owner = owner_value(self.config.cluster_id, ref.namespace, ref.name)
        policy = (
            spec.deletion_policy
            or self.config.deletion_policy_defaults.get(client.kind)
            or client.default_deletion_policy
        )
        if spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
            tags = dict(spec.tags or {})  # never written: only the user's own expectations are compared
        else:
            tags = layered_tags(self.tag_layers(spec, context), owner, client.kind)
        own = client.own_tags(spec) - tags.keys() if isinstance(client, AddsOwnTags) else frozenset()
        if check_tags and len(tags) + len(own) > MAX_TAGS:
            kept = f", and {', '.join(sorted(own))} kept by awsop" if own else ""
            raise TerminalError(
                "TooManyTags",
                f"{len(tags) + len(own)} tags (spec, TagPolicy defaults, operator default tags and awsop's 2 "
                f"ownership tags{kept}) exceed AWS's limit of {MAX_TAGS} per resource",
            )
        region = spec.region or self.clients.default_region(account)
        if account is not None:
            account.check_region(ref.namespace, region)
        return Target(
            ref=ref,
            spec=spec,
            aws_name=client.aws_name(ref, spec, self.config.name_prefix.get(client.kind, "")),
            region=region,
            owner=owner,
            tags=tags,
            deletion_policy=policy,
            context=context,
            account_id=self.clients.account_id(account, lookup=False) or "",
        )

    def prefetch(
        self, client: ResourceClient[S, ObservedT], objects: Sequence[tuple[ObjectRef, S, ReconcileContext]]
    ) -> None:
        """Let a kind that can (`Prefetches`) read the given objects ahead, grouped per (account, region),
        before they are reconciled one by one. Never raises: an object whose target is invalid or whose
        prefetch fails is read (and its error reported) by its own reconcile. Its calls belong to no
        object's call log."""
        if not isinstance(client, Prefetches):
            return
        groups: dict[tuple[Any, str], tuple[ReconcileContext, list[Target[Any]]]] = {}
        for ref, spec, context in objects:
            try:
                target = self.target(client, ref, spec, context=context)
            except AwsopError:
                continue
            account = context.account
            session = account.session_key if account is not None and account.role_arn else None
            groups.setdefault((session, target.region), (context, []))[1].append(target)
        for (_, region), (context, targets) in groups.items():
            with self.clients.using(context.account):
                try:
                    client.prefetch(region, targets)
                except Exception:  # best effort: the objects' own reads report errors
                    continue

    def _know_account(self, context: ReconcileContext) -> None:
        """Learn the operator's own account id once (one sts:GetCallerIdentity per process, outside any
        object's call log: it is the process's cost, not the object's)."""
        if context.account is None or (context.account.denial is None and not context.account.role_arn):
            self.clients.account_id(None)

    def tag_layers(self, spec: AwsObjectSpec, context: ReconcileContext) -> list[TagLayer]:
        """Where a resource's tags come from, lowest precedence first; ownership tags go on top of all.
        A new source of tags is one more layer here, in its place."""
        return [
            TagLayer("TagPolicy defaults", context.tag_policy.defaults),
            TagLayer("operator default tags", self.config.default_tags),
            TagLayer(
                "AWSAccount default tags", dict(context.account.default_tags) if context.account else {}
            ),
            TagLayer("spec", spec.tags or {}),
        ]

    # -- reconcile ----------------------------------------------------------------------------------

    def reconcile(
        self,
        client: ResourceClient[S, ObservedT],
        ref: ObjectRef,
        spec: S,
        *,
        spec_changed: bool = True,
        plan_only: bool = False,
        paused: bool = False,
        create_pending: float | None = None,
        before_create: Callable[[], None] | None = None,
        context: ReconcileContext = EMPTY_CONTEXT,
        progress: Progress | None = None,
        started_create: StartedCreate | None = None,
    ) -> Outcome:
        """Converge one object (see `_converge`). `started_create` is what the previous outcome's
        `started_create` held (a create AWS still runs, see `StartsCreate`); the outcome's field says what
        to keep for the next reconcile (None: nothing, forget the record)."""
        box = _CreateRecord(started_create)
        outcome = self._converge(
            client,
            ref,
            spec,
            spec_changed=spec_changed,
            plan_only=plan_only,
            paused=paused,
            create_pending=create_pending,
            before_create=before_create,
            context=context,
            progress=progress,
            box=box,
        )
        outcome.started_create = box.record
        return outcome

    def _converge(
        self,
        client: ResourceClient[S, ObservedT],
        ref: ObjectRef,
        spec: S,
        *,
        spec_changed: bool,
        plan_only: bool,
        paused: bool,
        create_pending: float | None,
        before_create: Callable[[], None] | None,
        context: ReconcileContext,
        progress: Progress | None,
        box: _CreateRecord,
    ) -> Outcome:
        """Converge one object. `spec_changed` says the spec moved since the last successful reconcile
        (differences are then the user's intent, not drift); `create_pending` is the Unix time an earlier
        attempt recorded before creating (crash recovery): an untagged resource created at or after it
        (give or take `CREATE_PENDING_SKEW`) is taken as that attempt's own. None: no create pending.
        `progress` is the previous outcome's progress for this generation (multi-step changes count their
        steps with it).

        References are part of the desired state: when a reference resolves to other values than
        `context.applied_references` recorded (a launch template's new default version, a dead-letter
        queue's new ARN), the differences are applied like a spec change whatever the drift policy
        (reason `ReferenceChanged`); ObserveOnly still never writes. A Ready outcome records what the
        references resolved to in `status.resolvedReferences` for the next reconcile to compare."""
        started = time.perf_counter()
        if not paused:
            self._know_account(context)
        followed = reference_changes(spec.references(), context.references, context.applied_references)
        if followed and context.periodic:
            context = replace(context, periodic=False)  # a change, not a routine check: read fresh
        try:
            target = self.target(client, ref, spec, context=context)
        except AwsopError as exc:
            plan = Plan(ref.kind, ref.namespace, ref.name, "", spec.region or "", "blocked")
            plan.account = _account_label(context, "")
            return self._failed(client, plan, exc, started, [])
        plan = Plan(ref.kind, ref.namespace, ref.name, target.aws_name, target.region, "none")
        plan.account = _account_label(context, target.account_id)
        plan.policy_tags = policy_tags(target)
        if paused:
            return Outcome(State.PAUSED, "Paused", "awsop.io/paused is set: no AWS calls", plan)
        verdict = context.tag_policy
        if verdict.denied and spec.management_policy is ManagementPolicy.MANAGE:
            return self._denied(plan, verdict, started)
        with self.clients.log.capture() as calls, self.clients.using(context.account):
            try:
                outcome = self._reconcile(
                    client,
                    target,
                    plan,
                    spec_changed,
                    plan_only,
                    create_pending,
                    before_create,
                    progress,
                    followed,
                    box,
                )
            except Exception as exc:  # classified below; nothing escapes unclassified
                outcome = dependency_missing(spec, plan, exc) or self._failed(client, plan, exc, started, [])
        if box.claimed and outcome.state is not State.PLANNED:
            created = f"created {client.kind} {target.aws_name} in {target.region}"
            outcome.events.insert(0, Event("Normal", "Created", created))
            if outcome.reason == "UpToDate":
                outcome.reason, outcome.message = "Created", created
        if outcome.state is State.READY:  # AWS matches the spec with these resolutions: remember them
            record = reference_record(spec.references(), target.context.references)
            if record or context.applied_references:
                outcome.status["resolvedReferences"] = record
        if target.account_id and outcome.status:
            outcome.status.setdefault("accountId", target.account_id)
        outcome.calls = calls
        outcome.duration = time.perf_counter() - started
        outcome.tag_policy = verdict
        return outcome

    def _denied(self, plan: Plan, verdict: TagPolicyVerdict, started: float) -> Outcome:
        """A Deny TagPolicy is broken: no AWS call at all, Stalled until the spec or the policy changes."""
        plan.verb = "blocked"
        message = verdict.message(verdict.denied)
        return Outcome(
            State.STALLED,
            TAG_POLICY_VIOLATION,
            message,
            plan,
            events=[Event("Warning", TAG_POLICY_VIOLATION, message)],
            error_class=ErrorClass.TERMINAL,
            duration=time.perf_counter() - started,
            tag_policy=verdict,
        )

    def _reconcile(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        plan: Plan,
        spec_changed: bool,
        plan_only: bool,
        create_pending: float | None,
        before_create: Callable[[], None] | None,
        progress: Progress | None = None,
        followed: list[str] | None = None,
        box: _CreateRecord | None = None,
    ) -> Outcome:
        spec = target.spec
        box = box or _CreateRecord(None)
        problems = spec.reference_problems(target.context.references)
        if problems:  # the referenced objects' specs say it cannot work: nothing is read or written
            raise TerminalError(problems[0].reason, "; ".join(p.explain() for p in problems))
        waiting = unresolved(spec.references(), target.context.references, plan_only)
        if waiting:
            return self._waiting(plan, waiting)
        observe_only = spec.management_policy is ManagementPolicy.OBSERVE_ONLY
        if box.record is not None and isinstance(client, StartsCreate) and not observe_only:
            running = self._follow_create(client, target, plan, box, plan_only)
            if running is not None:
                return running
        first = self._creates_first(client, target, plan_only)
        observed = None if first else client.observe(target)

        if observed is not None:
            target = keep_undecided_tags(client, target, observed)

        if observed is None:
            if observe_only:
                return Outcome(
                    State.NOT_FOUND,
                    "NotFound",
                    f"{client.kind} {target.aws_name} does not exist in {target.region} (ObserveOnly)",
                    plan,
                    status=client.status(target, None),
                )
            plan.verb = "create"
            plan.changes = client.plan_create(target)
            if plan_only:
                return self._planned(plan)
            starts = isinstance(client, StartsCreate) and client.starts_create(spec)
            if before_create is not None and (starts or not tags_at_create(client)):
                before_create()  # leak safety: the mark is stored before AWS is asked (a create without tags)
            if starts:
                return self._start_create(client, target, plan, box)
            created_now: ObservedT | None = None
            try:
                created_now = client.create(target)
                made_here = True
            except Exception as exc:
                if first:  # the name is taken (or the create failed): decide as the read-first path does
                    observed = self._refused(client, target, plan, exc)
                    target = keep_undecided_tags(client, target, observed)
                    return self._converge_existing(
                        client,
                        target,
                        observed,
                        plan,
                        spec_changed,
                        plan_only,
                        create_pending,
                        progress,
                        followed,
                        box,
                    )
                if not isinstance(exc, AlreadyCreatedError):
                    raise
                made_here = False  # the account owns it already: another run of ours, or a race
            if created_now is not None and creates_exclusively(client):
                observed = created_now  # the create itself proved it new and ours
            else:
                observed = self._confirm_create(client, target, made_here, created_now)
            if made_here and isinstance(client, FinishesCreate):
                observed = client.finish_create(target, observed)
            if made_here:
                created = f"created {client.kind} {target.aws_name} in {target.region}"
                events = [Event("Normal", "Created", f"created {target.aws_name} in {target.region}")]
                if busy := busy_of(client, target, observed):  # created, not usable yet: progress
                    return Outcome(
                        State.PROGRESSING,
                        busy.reason,
                        f"{created}; waiting: {busy.message}",
                        plan,
                        status=client.status(target, observed),
                        events=events,
                        progress=Progress(target.ref.generation, 0, 0, waiting_for=busy.message),
                    )
                return Outcome(
                    State.READY,
                    "Created",
                    created,
                    plan,
                    status=client.status(target, observed),
                    events=events,
                )
            # created meanwhile by another run with our owner: converge it like any existing resource
            plan.verb, plan.changes = "none", []
            observed = client.observe(target)
            if observed is None:
                raise RecoverableError("CreateInProgress", f"{client.kind} {target.aws_name} vanished")
        return self._converge_existing(
            client, target, observed, plan, spec_changed, plan_only, create_pending, progress, followed, box
        )

    def _converge_existing(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        observed: ObservedT,
        plan: Plan,
        spec_changed: bool,
        plan_only: bool,
        create_pending: float | None,
        progress: Progress | None,
        followed: list[str] | None,
        box: _CreateRecord,
    ) -> Outcome:
        """An existing resource: ownership, then the differences, written or reported by the policies."""
        spec = target.spec
        observe_only = spec.management_policy is ManagementPolicy.OBSERVE_ONLY
        if not plan_only and not box.claimed:
            observed = self._await_young_untagged(client, target, observed, create_pending)
        # a resource our recorded operation made is ours (its tags follow it, or follow with the apply)
        adopting = False if box.claimed else self._check_owner(client, target, observed, create_pending)
        status = client.status(target, observed)
        changes = client.diff(target, observed)
        busy = busy_of(client, target, observed)
        if busy is not None and not plan_only:  # never write to a resource that is not usable yet
            plan.verb = "update" if changes else "none"
            plan.changes = changes
            return self._busy(target, plan, status, busy, progress)
        if not changes:
            plan.verb = "none"
            events = [Event("Normal", "Adopted", f"adopted {target.aws_name}")] if adopting else []
            if plan_only:
                return self._planned(plan, status)
            return Outcome(
                State.READY, "UpToDate", "AWS matches the spec", plan, status=status, events=events
            )

        plan.verb = "update"
        plan.changes = changes
        if observe_only:
            plan.verb, plan.note = "drifted", "ObserveOnly: reported, never written"
        if plan_only:
            planned = self._planned(plan, status)
            if isinstance(client, MovesIdentifiers) and not observe_only:
                planned.moves = tuple(client.moved_identifiers(target, changes))
            return planned
        # a reference that resolves to new values moved the desired state: intent, like a spec change
        is_drift = not spec_changed and not adopting and not followed
        may_write = not observe_only and (not is_drift or spec.drift_policy is DriftPolicy.CORRECT)
        summary = "; ".join(change.explain() for change in changes)
        if is_drift and not observe_only and any(change.intent for change in changes):
            return self._apply_intent(client, target, observed, plan, changes)
        if not may_write:
            why = "ObserveOnly" if observe_only else "driftPolicy Report"
            because = f" (reference changed: {'; '.join(followed)})" if followed else ""
            return Outcome(
                State.DRIFTED,
                "DriftDetected",
                f"AWS differs from the spec ({why}): {summary}{because}",
                plan,
                status=status,
                drift=changes,
                events=[Event("Warning", "DriftDetected", summary)],
            )
        steps = [change for change in changes if change.step]
        if steps:  # AWS takes these one at a time: everything else now, then the first step only
            client.apply(target, observed, [c for c in changes if not c.step] + steps[:1])
            outcome = self._stepped(target, plan, status, steps, progress, changes if is_drift else [])
            if followed and not spec_changed and not adopting:
                outcome.events.insert(0, Event("Normal", REFERENCE_CHANGED, "; ".join(followed)))
            return outcome
        client.apply(target, observed, changes)
        status = client.status(target, observed)  # kinds may record what apply made (a new version)
        if is_drift:
            return _corrected(plan, status, changes)
        if followed and not spec_changed and not adopting:
            message = f"reference changed: {'; '.join(followed)}; applied: {summary}"
            return Outcome(
                State.READY,
                REFERENCE_CHANGED,
                message,
                plan,
                status=status,
                events=[Event("Normal", REFERENCE_CHANGED, message)],
            )
        reason = "Adopted" if adopting else "Updated"
        return Outcome(
            State.READY, reason, summary, plan, status=status, events=[Event("Normal", reason, summary)]
        )

    def _apply_intent(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        observed: ObservedT,
        plan: Plan,
        changes: list[Change],
    ) -> Outcome:
        """Changes the kind marks `intent` (the desired state moved outside the spec) are applied whatever
        the drift policy; the others are drift as usual: corrected under Correct, reported under Report."""
        moved = [change for change in changes if change.intent]
        drift = [change for change in changes if not change.intent]
        correct = target.spec.drift_policy is DriftPolicy.CORRECT
        client.apply(target, observed, changes if correct else moved)
        status = client.status(target, observed)
        applied = "; ".join(change.explain() for change in moved)
        events = [Event("Normal", REFERENCE_CHANGED, f"desired state moved: {applied}")]
        if not drift:
            message = f"desired state moved: {applied}; applied"
            return Outcome(State.READY, REFERENCE_CHANGED, message, plan, status=status, events=events)
        if correct:
            corrected = _corrected(plan, status, drift)
            corrected.events[:0] = events
            return corrected
        summary = "; ".join(change.explain() for change in drift)
        events.append(Event("Warning", "DriftDetected", summary))
        return Outcome(
            State.DRIFTED,
            "DriftDetected",
            f"AWS differs from the spec (driftPolicy Report): {summary}; desired state moved and applied: "
            f"{applied}",
            plan,
            status=status,
            drift=drift,
            events=events,
        )

    def _start_create(
        self, client: ResourceClient[Any, Any], target: Target[Any], plan: Plan, box: _CreateRecord
    ) -> Outcome:
        """Start the operation that creates the resource and record it; the next reconcile follows it."""
        assert isinstance(client, StartsCreate)
        operation = client.start_create(target)
        box.record = StartedCreate(operation.token, spec_fingerprint(target.spec), now_rfc3339())
        # whatever its first description says, the next reconcile follows it (one path for every answer)
        outcome = self._running(client, target, plan, replace(operation, reason="CreateStarted"))
        message = f"started creating {target.aws_name} in {target.region}: {operation.message}"
        outcome.events.append(Event("Normal", "CreateStarted", message))
        return outcome

    def _follow_create(
        self,
        client: ResourceClient[Any, Any],
        target: Target[Any],
        plan: Plan,
        box: _CreateRecord,
        plan_only: bool,
    ) -> Outcome | None:
        """Where the recorded create stands. An outcome while it runs or after it failed (for this spec);
        None to go on with the ordinary loop: the operation is done (its resource claimed: ownership tags
        written, unless only planning), or it failed for an earlier spec (this spec creates anew)."""
        record = box.record
        assert record is not None and isinstance(client, StartsCreate)
        operation = client.describe_create(target, record.token)
        if operation.state is OperationState.RUNNING:
            if plan_only:
                plan.verb, plan.changes = "create", client.plan_create(target)
                plan.note = operation.message
                return self._planned(plan, {**client.status(target, None), **operation.status})
            return self._running(client, target, plan, operation)
        if operation.state is OperationState.FAILED:
            if record.fingerprint != spec_fingerprint(target.spec):
                box.record = None  # it failed for an earlier spec: this one is created anew
                return None
            message = (
                f"{operation.message}; awsop does not start it again by itself: change the spec (or delete "
                "the object and apply it again) to try again"
            )
            return Outcome(
                State.STALLED,
                operation.reason,
                message,
                plan,
                status={**client.status(target, None), **operation.status},
                events=[Event("Warning", operation.reason, message)],
                error_class=ErrorClass.TERMINAL,
            )
        if not plan_only:
            self._confirm_create(client, target, made_here=True)
            box.record = None  # done and ours: nothing left to follow
        box.claimed = True
        return None

    def _running(
        self, client: ResourceClient[Any, Any], target: Target[Any], plan: Plan, operation: CreateOperation
    ) -> Outcome:
        return Outcome(
            State.PROGRESSING,
            operation.reason,
            f"waiting: {operation.message}",
            plan,
            status={**client.status(target, None), **operation.status},
            progress=Progress(target.ref.generation, 0, 0, waiting_for=operation.message),
        )

    def _creates_first(
        self, client: ResourceClient[S, ObservedT], target: Target[S], plan_only: bool
    ) -> bool:
        """Create before any read: only for a kind whose create call refuses a taken name
        (`ExclusiveCreate`: CreateTable, CreateLaunchTemplate; not CreateQueue, which answers an identical
        existing queue, nor CreateBucket, which answers 200 for the account's own bucket in us-east-1),
        for an object whose runner never saw its resource (`ReconcileContext.unseen`), that may create it
        (Manage, no plan), that takes no existing resource over (adoptionPolicy Never: an existing one
        is a conflict or this object's own) and that creates by a plain create call, not an operation
        AWS runs (an import)."""
        spec = target.spec
        return (
            target.context.unseen
            and not plan_only
            and creates_exclusively(client)
            and spec.management_policy is ManagementPolicy.MANAGE
            and spec.adoption_policy is AdoptionPolicy.NEVER
            and not (isinstance(client, StartsCreate) and client.starts_create(spec))
        )

    def _refused(
        self, client: ResourceClient[S, ObservedT], target: Target[S], plan: Plan, failure: Exception
    ) -> ObservedT:
        """A create made before any read failed: the name is taken (`AlreadyCreatedError`), or the call
        failed for another reason. The read-first path's read decides: a resource is there, so it is
        converged like any existing one (ownership decides whose it is); none is there, so the create's
        own error stands."""
        observed = client.observe(target)
        if observed is None:
            raise failure
        plan.verb, plan.changes = "none", []
        return observed

    def _confirm_create(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        made_here: bool,
        created: ObservedT | None = None,
    ) -> ObservedT:
        """The resource, once a read after the create (and after any ownership tag write) shows our owner.

        Another owner on that read means another cluster won a race for the name: OwnedByAnother, and
        nothing more is written. No owner: write the ownership tags (when this reconcile created it) and
        read again, a bounded number of times with jittered backoff. If the tags still cannot be
        written, the resource this reconcile created (empty by construction) is deleted again rather
        than left behind unowned, and the outcome is Recoverable.
        """
        name = f"{client.kind} {target.aws_name}"
        observed: ObservedT | None = None
        failure: BaseException | None = None
        for attempt in range(CONFIRM_ATTEMPTS):
            if made_here and created is not None and isinstance(client, ConfirmsCreate):
                observed = client.observe_created(target, created)
            else:
                observed = client.observe(target, facets=False)
            owner = None if observed is None else client.owner_of(observed)
            if observed is not None and owner == target.owner:
                return observed
            if owner is not None:
                raise TerminalError(
                    "OwnedByAnother",
                    f"{name} was created at the same time for {owner}, which owns it now; "
                    "nothing more was written to it",
                )
            if observed is not None and made_here and isinstance(client, TagsOwner):
                try:
                    client.tag_owner(target, observed)
                    continue  # read again at once: only a read shows whose tags won
                except Exception as exc:
                    failure = exc
                    if client.classify(exc) is not ErrorClass.RECOVERABLE:
                        break  # retrying cannot help (access, invalid tag): clean up now
            if attempt + 1 < CONFIRM_ATTEMPTS:
                time.sleep(min(2.0, CONFIRM_DELAY * 2**attempt) * random.uniform(0.5, 1.5))
        if made_here and observed is not None and failure is not None and isinstance(client, Discards):
            why = error_message(failure)
            error_class = client.classify(failure)
            try:
                client.discard(target, observed)
            except Exception as exc:
                raise RecoverableError(
                    "TaggingFailed",
                    f"{name} was created but its ownership tags could not be written ({why}), and "
                    f"deleting it again failed too ({error_message(exc)}); the next attempt recognises "
                    "it by the create-pending mark",
                ) from exc
            reason = error_code(failure) if error_class is not ErrorClass.RECOVERABLE else "TaggingFailed"
            raise error_of_class(
                error_class,
                reason,
                f"{name} was created but its ownership tags could not be written ({why}); it was "
                "deleted again (it was empty) rather than left behind without an owner",
            ) from failure
        raise RecoverableError(
            "CreateInProgress",
            f"{name} exists in this account without awsop's owner tag yet: another run is probably "
            "creating it; looking again shortly",
        )

    def _await_young_untagged(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        observed: ObservedT,
        create_pending: float | None,
    ) -> ObservedT:
        """An untagged resource of the expected name that AWS created less than `create_window` seconds
        ago is most likely another run's create whose ownership tags are not confirmed yet. It is read
        again (never written to) a few times: once an owner tag shows, the ordinary ownership check
        decides; while it stays young and untagged the outcome is recoverable `CreateInProgress`; once
        it is older than the window, `_check_owner` decides (AlreadyExists, or adoption). Kinds that
        cannot tell a creation time (`KnowsCreatedAt`) are decided at once, as before."""
        window = self.config.create_window
        if (
            window <= 0
            or client.owner_of(observed) is not None
            or target.spec.management_policy is ManagementPolicy.OBSERVE_ONLY
            or target.spec.adoption_policy is AdoptionPolicy.ADOPT  # taken over anyway: no conflict
            or not isinstance(client, KnowsCreatedAt)
        ):
            return observed
        if create_pending and self._created_since(client, target, observed, float(create_pending)):
            return observed  # our own interrupted create: `_check_owner` claims it
        created = client.created_at(target, observed)
        if created is None or _now() - float(created) >= window:
            return observed
        name = f"{client.kind} {target.aws_name}"
        for attempt in range(CONFIRM_ATTEMPTS):
            left = float(created) + window - _now()
            if left <= 0:
                return observed  # old enough now: not a create in flight
            time.sleep(min(left, 2.0, CONFIRM_DELAY * 2**attempt * random.uniform(0.5, 1.5)))
            again = client.observe(target, facets=False)
            if again is None:
                raise RecoverableError(
                    "CreateInProgress", f"{name} vanished while awaiting its owner tag; trying again"
                )
            if client.owner_of(again) is not None:
                full = client.observe(target)
                if full is None:
                    raise RecoverableError("CreateInProgress", f"{name} vanished; trying again")
                return full
        if _now() - float(created) >= window:
            return observed
        raise RecoverableError(
            "CreateInProgress",
            f"{name} was created {max(0.0, _now() - float(created)):.0f}s ago and has no owner tag yet: "
            f"probably another run creating it; nothing was written to it. Looking again shortly (still "
            f"untagged {window:.0f}s after its creation, it is a conflict)",
        )

    def _created_since(
        self, client: ResourceClient[S, ObservedT], target: Target[S], observed: ObservedT, since: float
    ) -> bool:
        if not isinstance(client, KnowsCreatedAt):
            return True  # the kind cannot tell: the pending mark alone decides, as it always did
        when = client.created_at(target, observed)
        return when is not None and float(when) >= since - CREATE_PENDING_SKEW

    def _check_owner(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        observed: ObservedT,
        create_pending: float | None,
    ) -> bool:
        """True when this reconcile takes the resource over; raises when it may not."""
        owner = client.owner_of(observed)
        if owner == target.owner:
            return False
        observe_only = target.spec.management_policy is ManagementPolicy.OBSERVE_ONLY
        # our own create that crashed before tagging, if the resource is not older than the mark
        if (
            owner is None
            and create_pending
            and not observe_only
            and self._created_since(client, target, observed, float(create_pending))
        ):
            return True
        name = f"{client.kind} {target.aws_name}"
        if observe_only and target.spec.adoption_policy is AdoptionPolicy.ADOPT:
            return False  # watched read-only: it cannot fight its owner, whoever that is
        if owner is not None:
            raise TerminalError(
                "OwnedByAnother",
                f"{name} exists and belongs to {owner}; it is never taken over automatically",
            )
        if target.spec.adoption_policy is AdoptionPolicy.ADOPT:
            return True
        raise TerminalError(
            "AlreadyExists",
            f"{name} already exists in AWS and is not owned by awsop; "
            "set adoptionPolicy: Adopt to take it over",
        )

    def _waiting(self, plan: Plan, waiting: list[tuple[Reference, Resolution]]) -> Outcome:
        """Not observed at all: the object waits for what it references (no AWS call is made)."""
        plan.verb = "blocked"
        message = "waiting for " + "; ".join(
            f"{ref.kind} {ref.name} ({ref.path}): {found.message or 'not Ready'}" for ref, found in waiting
        )
        return dependency_not_ready(plan, message)

    def _busy(
        self,
        target: Target[Any],
        plan: Plan,
        status: dict[str, Any],
        busy: Busy,
        previous: Progress | None,
    ) -> Outcome:
        """The resource is busy: report what it waits for and the steps still to come; write nothing."""
        pending = tuple(change.step for change in plan.steps())
        started = previous.step if previous else 0
        progress = Progress(
            target.ref.generation,
            started,
            started + len(pending),
            previous.current if previous else "",
            pending,
            busy.message,
        )
        message = f"waiting: {busy.message}"
        if progress.current:
            message += f" (step {started} of {progress.steps}: {progress.current})"
        if pending:
            message += f"; next: {', '.join(pending)}"
        elif plan.changes:
            message += f"; then: {'; '.join(change.explain() for change in plan.changes)}"
        return Outcome(State.PROGRESSING, busy.reason, message, plan, status=status, progress=progress)

    def _stepped(
        self,
        target: Target[Any],
        plan: Plan,
        status: dict[str, Any],
        steps: list[Change],
        previous: Progress | None,
        drift: list[Change],
    ) -> Outcome:
        """The first of `steps` was just applied: the resource is busy with it until a later reconcile."""
        started = (previous.step if previous else 0) + 1
        progress = Progress(
            target.ref.generation,
            started,
            started - 1 + len(steps),
            steps[0].step,
            tuple(change.step for change in steps[1:]),
        )
        message = f"step {started} of {progress.steps}: {steps[0].step}"
        if progress.pending:
            message += f"; next: {', '.join(progress.pending)}"
        events = [Event("Normal", "StepStarted", message)]
        if drift:
            events.insert(0, Event("Warning", "DriftDetected", "; ".join(c.explain() for c in drift)))
        return Outcome(
            State.PROGRESSING,
            "ApplyingStep",
            message,
            plan,
            status=status,
            drift=drift,
            corrected=drift,
            events=events,
            progress=progress,
        )

    def _planned(self, plan: Plan, status: dict[str, Any] | None = None) -> Outcome:
        summary = "; ".join(c.explain() for c in plan.changes) or "no changes"
        return Outcome(State.PLANNED, "Planned", summary, plan, status=status or {})

    def _failed(
        self,
        client: ResourceClient[Any, Any],
        plan: Plan,
        exc: BaseException,
        started: float,
        calls: list[str],
    ) -> Outcome:
        error_class = client.classify(exc)
        reason = exc.reason if isinstance(exc, AwsopError) else error_code(exc)
        if error_class is ErrorClass.ACCESS:
            reason = f"AccessDenied.{reason}" if not reason.startswith("Access") else reason
        message = error_message(exc)
        state = State.STALLED if error_class is ErrorClass.TERMINAL else State.ERROR
        events = [Event("Warning", reason, message)]
        return Outcome(
            state,
            reason,
            message,
            plan,
            events=events,
            error_class=error_class,
            calls=calls,
            duration=time.perf_counter() - started,
        )

    # -- delete -------------------------------------------------------------------------------------

    def delete(
        self,
        client: ResourceClient[S, ObservedT],
        ref: ObjectRef,
        spec: S,
        *,
        paused: bool = False,
        create_pending: float | None = None,
        context: ReconcileContext = EMPTY_CONTEXT,
    ) -> Outcome:
        """Run the deletion policy. State DELETED means the finalizer may go; anything else keeps it.
        `create_pending` as for `reconcile`."""
        started = time.perf_counter()
        if not paused:
            self._know_account(context)
        try:
            # tag limits do not matter here: a resource created before the defaults grew is still deleted
            target = self.target(client, ref, spec, check_tags=False, context=context)
        except AwsopError as exc:
            plan = Plan(ref.kind, ref.namespace, ref.name, "", spec.region or "", "none")
            if exc.error_class is not ErrorClass.TERMINAL:  # e.g. its AWSAccount is not there (yet)
                return self._failed(client, plan, exc, started, [])
            if exc.reason.startswith("Account"):
                message = f"{exc.message}: nothing in AWS was touched"
                return Outcome(
                    State.DELETED, exc.reason, message, plan, events=[Event("Warning", exc.reason, message)]
                )
            return Outcome(State.DELETED, "Invalid", "spec never valid: nothing was created in AWS", plan)
        plan = Plan(ref.kind, ref.namespace, ref.name, target.aws_name, target.region, "delete")
        plan.account = _account_label(context, target.account_id)
        if context.referenced_by:
            plan.verb = "blocked"
            users = ", ".join(f"{r.kind} {ref.namespace}/{r.name} ({r.path})" for r in context.referenced_by)
            message = f"{ref.kind} {ref.namespace}/{ref.name} is still referenced by {users}; it is deleted "
            message += "once they no longer refer to it"
            return Outcome(
                State.DELETE_BLOCKED,
                "InUse",
                message,
                plan,
                events=[Event("Warning", "InUse", message)],
                in_use=True,
            )
        if paused:
            plan.verb = "none"
            return Outcome(State.DELETED, "Paused", "paused: the AWS resource was left untouched", plan)
        with self.clients.log.capture() as calls, self.clients.using(context.account):
            try:
                outcome = self._delete(client, target, plan, create_pending)
            except Exception as exc:
                outcome = self._failed(client, plan, exc, started, [])
        outcome.calls = calls
        outcome.duration = time.perf_counter() - started
        return outcome

    def _delete(
        self,
        client: ResourceClient[S, ObservedT],
        target: Target[S],
        plan: Plan,
        create_pending: float | None,
    ) -> Outcome:
        manage = target.spec.management_policy is ManagementPolicy.MANAGE
        observed = client.observe(target, facets=False) if manage else None  # ownership is all it needs
        name = f"{target.aws_name} ({target.region})"
        if observed is None:
            plan.verb = "none"
            if not manage:
                message = f"ObserveOnly: {name} was never awsop's to delete; left untouched"
                return Outcome(State.DELETED, "ObserveOnly", message, plan)
            return Outcome(State.DELETED, "NotFound", f"nothing to delete in AWS for {name}", plan)
        owner = client.owner_of(observed)
        pending_ours = (
            owner is None
            and bool(create_pending)
            and self._created_since(client, target, observed, float(create_pending or 0))
        )
        if owner != target.owner and not pending_ours:
            plan.verb = "none"
            message = f"{name} is not owned by this object (owner: {owner or 'none'}); left untouched"
            return Outcome(
                State.DELETED, "NotOwned", message, plan, events=[Event("Normal", "NotOwned", message)]
            )
        if target.deletion_policy is DeletionPolicy.RETAIN:
            plan.verb = "release"
            plan.changes = [Change("tags.awsop.io/owner", target.owner, None, Action.DELETE)]
            client.release(target, observed)
            message = f"retained {name}: ownership tags removed, it can be adopted again"
            return Outcome(
                State.DELETED, "Retained", message, plan, events=[Event("Normal", "Retained", message)]
            )
        result = client.delete(target, observed)
        if result.result is DeleteResult.DELETED:
            message = f"deleted {name}"
            return Outcome(
                State.DELETED, "Deleted", message, plan, events=[Event("Normal", "Deleted", message)]
            )
        if result.result is DeleteResult.IN_PROGRESS:
            return Outcome(State.PROGRESSING, result.reason or "Deleting", result.message, plan)
        return Outcome(
            State.DELETE_BLOCKED,
            result.reason,
            result.message,
            plan,
            events=[Event("Warning", result.reason, result.message)],
            in_use=result.result is DeleteResult.IN_USE,
        )


def _now() -> float:
    """Wall-clock time, compared with AWS's creation times (a seam for tests)."""
    return time.time()


def keep_undecided_tags(client: object, target: Target[S], observed: Any) -> Target[S]:
    """The target with the AWS value of each tag a TagPolicy defaults but no value was decided for (a
    namespace label missing, conflicting defaults), so that tag is neither added nor removed. Keys
    another layer sets, and ObserveOnly objects (they compare the spec's tags only), are unaffected."""
    undecided = target.context.tag_policy.undecided
    if not undecided or target.spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
        return target
    if not isinstance(client, ReadsTags):
        return target
    actual = client.observed_tags(observed)
    kept = {k: actual[k] for k in undecided if k in actual and k not in target.tags}
    return replace(target, tags={**target.tags, **kept}) if kept else target


def dependency_missing(spec: AwsObjectSpec, plan: Plan, exc: BaseException) -> Outcome | None:
    """AWS said a resource the spec names by AWS name does not exist (yet): the object waits for it
    (DependencyNotReady, retried; the CLI tries it again after the rest of its run), never an error
    that stalls it. None when `exc` means something else."""
    code = error_code(exc)
    for dependency in spec.named_dependencies():
        if code in dependency.missing_codes:
            message = (
                f"waiting for {dependency.kind} {dependency.aws_name} ({dependency.path}): "
                f"{error_message(exc)}"
            )
            return dependency_not_ready(plan, message)
    return None


def dependency_not_ready(plan: Plan, message: str) -> Outcome:
    """The object waits for another resource (recoverable, one Event, never Stalled)."""
    return Outcome(
        State.WAITING,
        "DependencyNotReady",
        message,
        plan,
        events=[Event("Normal", "DependencyNotReady", message)],
        error_class=ErrorClass.RECOVERABLE,
    )


def _account_label(context: ReconcileContext, account_id: str) -> str:
    """How plans name the account: `team-a (111111111111)`, or the operator's own account id."""
    account = context.account
    if account is None or not account.name:
        return account_id
    return f"{account.name} ({account_id})" if account_id else account.name


def policy_tags(target: Target[Any]) -> dict[str, tuple[str, str]]:
    """The TagPolicy defaults that survive into the resource's tags: key -> (value, policy)."""
    verdict = target.context.tag_policy
    return {
        key: (value, verdict.default_sources.get(key, ""))
        for key, value in verdict.defaults.items()
        if target.tags.get(key) == value and key not in (target.spec.tags or {})
    }


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def drift_entries(
    changes: list[Change], previous: list[dict[str, Any]] | None = None
) -> list[dict[str, str]]:
    """status.drift entries, keeping `detectedAt` of drift that was already reported."""
    seen = {(d.get("path"), d.get("desired"), d.get("actual")): d.get("detectedAt") for d in previous or []}
    now = now_rfc3339()
    out = []
    for change in changes:
        desired, actual = render_value(change.desired), render_value(change.actual)
        out.append(
            {
                "path": change.path,
                "desired": desired,
                "actual": actual,
                "detectedAt": seen.get((change.path, desired, actual)) or now,
            }
        )
    return out
