"""Resolving references between awsop objects, for the CLI (from manifests) and the operator (from bodies).

The engine only reads `ReconcileContext.references`; this module fills it. The CLI orders the manifests it
was given so every target is reconciled before the objects that refer to it (a cycle or a reference to an
object that is not among the manifests is an error naming the objects). The operator turns the body of a
referenced object, read through the Kubernetes API, into a `Resolution`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from awsop.reconcilers.engine import Outcome, State
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.refs import Reference, Resolution

from .manifests import Manifest, ManifestError

Key = tuple[str, str, str]  # namespace, kind, name
IDENTITY_KEYS = ("arn", "url", "id", "awsName", "region")


def key_of(manifest: Manifest) -> Key:
    return (manifest.ref.namespace, manifest.info.kind, manifest.ref.name)


def _label(key: Key) -> str:
    return f"{key[1]} {key[0]}/{key[2]}"


def reference_problems(manifests: list[Manifest]) -> list[str]:
    """Every reference whose target's spec (from the manifests) does not fit its referrer, one line each
    naming the file, the object and the field: the set is refused before any AWS call."""
    by_key = {key_of(m): m for m in manifests}
    out: list[str] = []
    for manifest in manifests:
        resolved = {
            (r.kind, r.name): Resolution(r.kind, r.name, ready=False, spec=target.spec)
            for r in manifest.spec.references()
            if (target := by_key.get((manifest.ref.namespace, r.kind, r.name))) is not None
        }
        out.extend(
            f"{manifest.source}: {_label(key_of(manifest))}: {problem.explain()}"
            for problem in manifest.spec.reference_problems(resolved)
        )
    return out


def order_manifests(manifests: list[Manifest], aws_names: Mapping[Key, str] | None = None) -> list[Manifest]:
    """Targets before the objects that refer to them, otherwise file order. Raises ManifestError for a
    reference to an object that is not in `manifests` (naming it) and for a cycle (naming the cycle).

    With `aws_names` (each manifest's AWS name), a resource a spec names by AWS name
    (`named_dependencies`: a bucket's logging target, a group's launch template by name) that another
    manifest of the set manages is ordered like a reference; a name no manifest has is left to AWS."""
    return dependency_order(manifests, aws_names)[0]


def dependency_order(
    manifests: list[Manifest], aws_names: Mapping[Key, str] | None = None
) -> tuple[list[Manifest], dict[Key, tuple[Key, ...]]]:
    """`order_manifests`, and per object the objects of the set it must wait for: its references and
    the objects managing the AWS names it names, except a name that closes a cycle (two buckets that log
    into each other), which is left to the retry after the rest of the run. The edges only point to
    objects earlier in the order, so running each object after its edges never deadlocks."""
    by_key: dict[Key, Manifest] = {}
    for manifest in manifests:
        by_key.setdefault(key_of(manifest), manifest)
    by_aws_name: dict[tuple[str, str], Key] = {}
    for key, name in (aws_names or {}).items():
        by_aws_name.setdefault((key[1], name), key)

    def dependencies(key: Key) -> list[tuple[Key, bool]]:
        """(target, by ref): a `ref` must come first; a name only should (see the cycle rule below)."""
        spec = by_key[key].spec
        out = [((key[0], reference.kind, reference.name), True) for reference in spec.references()]
        if aws_names is not None:
            for named in spec.named_dependencies():
                other = by_aws_name.get((named.kind, named.aws_name))
                if other is not None and other != key:
                    out.append((other, False))
        return out

    for manifest in manifests:
        for reference in manifest.spec.references():
            target = (manifest.ref.namespace, reference.kind, reference.name)
            if target not in by_key:
                raise ManifestError(
                    f"{manifest.source}: {_label(key_of(manifest))}: {reference.path} refers to "
                    f"{_label(target)}, which is not among the manifests given"
                )
    ordered: list[Manifest] = []
    done: set[Key] = set()
    path: list[Key] = []
    edges: dict[Key, tuple[Key, ...]] = {}

    def visit(key: Key) -> None:
        if key in done:
            return
        if key in path:
            cycle = [*path[path.index(key) :], key]
            raise ManifestError("reference cycle: " + " -> ".join(_label(k) for k in cycle))
        path.append(key)
        kept = []
        for dependency, by_ref in dependencies(key):
            # two buckets that log into each other are valid: a name that closes a cycle is left to the
            # retry after the rest of the run; only references must form no cycle
            if by_ref or dependency not in path:
                visit(dependency)
                kept.append(dependency)
        path.pop()
        done.add(key)
        edges[key] = tuple(dict.fromkeys(kept))
        ordered.append(by_key[key])

    for manifest in manifests:
        visit(key_of(manifest))
    return ordered, edges


def resolution_from_outcome(reference: Reference, outcome: Outcome) -> Resolution:
    """What the CLI knows about a target it reconciled (or planned) earlier in the same run."""
    kind, name = reference.kind, reference.name
    values = {k: v for k, v in outcome.status.items() if v is not None}
    if outcome.state in (State.READY, State.DRIFTED):
        return Resolution(kind, name, ready=True, values=values)
    if outcome.state is State.PLANNED:
        if outcome.plan.verb == "create":
            return Resolution(kind, name, ready=False, planned=True, message="planned: created by this apply")
        # an update moves some identifiers (a launch template's default version): known after apply
        return Resolution(
            kind,
            name,
            ready="arn" in values,
            values=values,
            message="not found in AWS",
            after_apply=frozenset(outcome.moves),
        )
    return Resolution(
        kind, name, ready=False, message=f"{outcome.state}: {outcome.reason}: {outcome.message}"
    )


def resolution_from_body(reference: Reference, body: Mapping[str, Any] | None) -> Resolution:
    """What the operator knows about a target from its Kubernetes object (None: it does not exist).

    Ready means Ready=True for the target's current generation and not being deleted; the values are its
    status identifiers (arn, url, id, ...), so a source follows the target when they change."""
    kind, name = reference.kind, reference.name
    if body is None:
        return Resolution(kind, name, ready=False, message=f"{kind} {name} does not exist")
    return replace(_resolution_from_body(reference, body), spec=_spec_of(kind, body))


def _spec_of(kind: str, body: Mapping[str, Any]) -> Any:
    """The target's parsed spec (for checks across objects), or None when it does not parse."""
    try:
        return KINDS[kind].spec_model.model_validate(body.get("spec") or {})
    except (KeyError, ValidationError):
        return None


def _resolution_from_body(reference: Reference, body: Mapping[str, Any]) -> Resolution:
    kind, name = reference.kind, reference.name
    meta = body.get("metadata") or {}
    status = dict(body.get("status") or {})
    values = {k: v for k, v in status.items() if k not in ("conditions", "drift", "plan") and v is not None}
    if meta.get("deletionTimestamp"):
        return Resolution(kind, name, ready=False, values=values, message=f"{kind} {name} is being deleted")
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    generation = meta.get("generation")
    if ready is None or ready.get("status") != "True":
        why = f"{ready.get('reason')}: {ready.get('message')}" if ready else "not reconciled yet"
        return Resolution(
            kind, name, ready=False, values=values, message=f"{kind} {name} is not Ready ({why})"
        )
    if generation is not None and ready.get("observedGeneration") not in (None, generation):
        return Resolution(
            kind,
            name,
            ready=False,
            values=values,
            message=f"{kind} {name} has not reconciled its latest spec",
        )
    return Resolution(kind, name, ready=True, values=values)
