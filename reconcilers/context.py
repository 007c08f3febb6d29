"""What the engine needs to know about one object beyond its spec, resolved outside the engine.

The operator resolves it through the Kubernetes API (referenced objects, the object's AWS account, the
tag policies that match it); the CLI resolves it from the manifests it was given. The engine only reads
it: it never talks to Kubernetes. Each capability that more than one kind needs adds one field here, with
a default that means "nothing to resolve", so a reconcile without a context behaves as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .account import ResolvedAccount
from .refs import Reference, Resolution, missing
from .tag_policy import NO_POLICY, TagPolicyVerdict


@dataclass(frozen=True)
class ReconcileContext:
    """Per-object resolutions handed to `Engine.reconcile` / `Engine.delete` and kept on the `Target`."""

    references: Mapping[tuple[str, str], Resolution] = field(default_factory=dict)
    """(kind, name) -> what the object's references resolved to (same namespace)."""
    referenced_by: tuple[Reference, ...] = ()
    """Objects that still reference this one (kind, name and their spec path): deletion waits for them."""
    account: ResolvedAccount | None = None
    """The AWS account the object uses (credentials, region default, allowed regions, default tags);
    None means the operator's own credentials with no restriction."""
    tag_policy: TagPolicyVerdict = NO_POLICY
    """The matching TagPolicies' defaults and violations (`tag_policy.evaluate`); NO_POLICY when none."""
    applied_references: Sequence[Mapping[str, Any]] | None = None
    """What the references resolved to when they last reached AWS (`status.resolvedReferences`, written by
    `refs.reference_record`); None when the runner keeps no memory (the CLI) or nothing was recorded yet.
    A reference whose values moved since makes the reconcile a spec change, not drift."""

    periodic: bool = False
    """This reconcile is a routine drift check, not a spec change, a first sight or a CLI run: reads may
    wait a moment to share one AWS call with other objects' checks and may be a few seconds old
    (reconcilers/batch.py). Everything else reads at once."""

    unseen: bool = False
    """The runner holds no sign that the resource ever existed (the operator: the status names no ARN,
    URL or id and records no create attempt); a kind whose create refuses an existing name then creates
    before it reads (`engine.ExclusiveCreate`). False (the CLI, which keeps no memory): read first."""

    def resolution(self, kind: str, name: str) -> Resolution:
        return self.references.get((kind, name)) or missing(kind, name)


EMPTY_CONTEXT = ReconcileContext()
