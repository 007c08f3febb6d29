"""References between awsop objects: `{ref: {name}}` to another object in the same namespace, or `{arn}`.

A spec declares which of its fields are references (`AwsObjectSpec.references()`); whoever runs the engine
resolves them before calling it (the operator through the Kubernetes API, the CLI from the manifests it was
given) and hands the result over in `ReconcileContext.references`. The engine refuses to observe an object
whose references are not resolved and Ready (Ready=False, reason DependencyNotReady, retried, never
Stalled); a kind reads the resolved values (ARN, URL, id, version: the target's status) from the context.

Nothing here talks to AWS or Kubernetes: it is the vocabulary both sides share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, JsonValue, model_validator

from .model import Model

KNOWN_AFTER_APPLY = "(known after apply)"
"""The value a planned (not yet created) target shows for its identifiers in a plan."""

ARN_PATTERN = r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$"
REF_RULES: list[JsonValue] = [
    {"rule": "has(self.ref) != has(self.arn)", "message": "set exactly one of ref or arn"},
]


class LocalName(Model):
    """The name of another awsop object in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        description="metadata.name of the referenced object (same namespace).",
    )


class ResourceRef(Model):
    """Another AWS resource, either by the awsop object that manages it (`ref`) or by its ARN (`arn`).

    Kinds subclass it to add their own fields (a dead-letter queue's maxReceiveCount)."""

    model_config = {**Model.model_config, "json_schema_extra": {"x-kubernetes-validations": REF_RULES}}

    ref: LocalName | None = Field(
        None,
        description="An awsop object in the same namespace; awsop waits until it is Ready and follows "
        "its ARN when it changes.",
    )
    arn: str | None = Field(
        None, max_length=2048, pattern=ARN_PATTERN, description="ARN of a resource awsop does not manage."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ResourceRef:
        if (self.ref is None) == (self.arn is None):
            raise ValueError("set exactly one of ref or arn")
        return self


@dataclass(frozen=True)
class Reference:
    """One reference a spec makes: to `kind`/`name` in the object's namespace, at spec path `path`."""

    kind: str
    name: str
    path: str


@dataclass(frozen=True)
class Resolution:
    """What the runner found for one reference.

    `ready`: the target exists and is Ready for its current spec. `planned`: the target is only planned
    (CLI plan): its identifiers are `KNOWN_AFTER_APPLY`. `values`: the target's identifiers (its status:
    arn, url, id, ...). `message`: why it is not ready, for the source's condition. `after_apply`: the
    identifiers a planned change of the target moves (a launch template's new default version): a plan
    shows them as `KNOWN_AFTER_APPLY`, so the source's plan shows that it follows. `spec`: see below."""

    kind: str
    name: str
    ready: bool
    values: Mapping[str, Any] = field(default_factory=dict)
    planned: bool = False
    message: str = ""
    after_apply: frozenset[str] = frozenset()
    spec: Any = None
    """The target's parsed spec when the runner knows it (the CLI from the manifests, the operator from
    the target object, Ready or not), for checks across objects (`AwsObjectSpec.reference_problems`)."""

    def value(self, key: str) -> Any:
        """An identifier of the target; `KNOWN_AFTER_APPLY` for a planned target or a planned change of it."""
        if self.planned or key in self.after_apply:
            return KNOWN_AFTER_APPLY
        return self.values.get(key)


@dataclass(frozen=True)
class ReferenceProblem:
    """A reference whose target's spec does not fit the referrer (a standard queue's dead-letter queue
    that is FIFO): only a spec change helps. `path` is the referrer's spec path, `reason` a CamelCase
    condition reason."""

    path: str
    reason: str
    message: str

    def explain(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class NamedDependency:
    """Another AWS resource a spec names by its AWS name or id instead of by `ref` (a bucket's logging
    target, a group's launch template by name): `kind` is the awsop kind that would manage it, `aws_name`
    the name (or id) as written, `path` the spec path. `missing_codes` are the AWS error codes (or awsop
    reasons) that mean "it does not exist (yet)".

    A runner that holds the other object's manifest orders it first (the CLI); the engine turns one of
    `missing_codes` into DependencyNotReady (waiting, retried) instead of an error."""

    kind: str
    aws_name: str
    path: str
    missing_codes: frozenset[str] = frozenset()


def missing(kind: str, name: str) -> Resolution:
    return Resolution(kind, name, ready=False, message=f"{kind} {name} does not exist")


def unresolved(
    references: list[Reference], resolved: Mapping[tuple[str, str], Resolution], plan_only: bool
) -> list[tuple[Reference, Resolution]]:
    """The references that keep an object waiting: not resolved, or not Ready (a planned target is
    enough for a plan, never for an apply)."""
    out = []
    for reference in references:
        found = resolved.get((reference.kind, reference.name)) or missing(reference.kind, reference.name)
        if found.ready or (found.planned and plan_only):
            continue
        out.append((reference, found))
    return out


# -- what references resolved to when they were last applied --------------------------------------------

REFERENCE_VALUES = ("arn", "url", "id", "defaultVersion", "latestVersion")
"""The identifiers of a target that referrers read from its status (a queue's ARN and URL, a launch
template's id and version numbers). Together they are what a reference resolves to: when one of them
moves, the referrer's desired state moved, and the operator nudges the referrer to reconcile."""


def resolved_values(resolution: Resolution) -> dict[str, str]:
    """The `REFERENCE_VALUES` a resolution carries, as strings (absent ones left out)."""
    return {
        key: str(resolution.values[key]) for key in REFERENCE_VALUES if resolution.values.get(key) is not None
    }


def reference_record(
    references: list[Reference], resolved: Mapping[tuple[str, str], Resolution]
) -> list[dict[str, Any]]:
    """`status.resolvedReferences`: per reference its path, kind, name and the values it resolved to.
    Recorded with the outcome that applied them, so the next reconcile can tell a reference that moved
    (the desired state moved: apply it) from AWS that moved (drift). Unresolved or planned references
    are left out: there is nothing applied to remember for them."""
    out = []
    for reference in references:
        found = resolved.get((reference.kind, reference.name))
        if found is None or not found.ready or found.planned:
            continue
        out.append(
            {
                "path": reference.path,
                "kind": reference.kind,
                "name": reference.name,
                "values": resolved_values(found),
            }
        )
    return out


def reference_changes(
    references: list[Reference],
    resolved: Mapping[tuple[str, str], Resolution],
    recorded: Any,
) -> list[str]:
    """What moved since `recorded` (a previous `reference_record`, as read back from status), one line per
    reference: `LaunchTemplate web (launchTemplate.ref): defaultVersion 3 -> 4`.

    Only a reference found in the record with other values counts. A reference the record does not know
    (no record at all: status written before records existed, or the reference is new with this
    generation) is not a change: nothing says what was applied for it, and guessing "changed" would
    write out-of-band changes under driftPolicy Report. Its values are recorded by the next Ready outcome.
    """
    before: dict[tuple[str, str], dict[str, str]] = {}
    for entry in recorded if isinstance(recorded, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("values"), Mapping):
            key = (str(entry.get("kind")), str(entry.get("name")))
            before[key] = {str(k): str(v) for k, v in entry["values"].items()}
    out = []
    seen = set()
    for reference in references:
        key = (reference.kind, reference.name)
        found = resolved.get(key)
        if key in seen or key not in before or found is None or not found.ready or found.planned:
            continue
        seen.add(key)
        old, new = before[key], resolved_values(found)
        # a key the record lacks is unknown, like a reference it lacks (a target that reports one more
        # identifier after an upgrade is not a change)
        moved = [
            f"{k} {old[k]} -> {new.get(k, '(none)')}"
            for k in REFERENCE_VALUES
            if k in old and old[k] != new.get(k)
        ]
        if moved:
            out.append(f"{reference.kind} {reference.name} ({reference.path}): {', '.join(moved)}")
    return out
