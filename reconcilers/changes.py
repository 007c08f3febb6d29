"""Facet-level changes that explain themselves.

One list of `Change` feeds the plan output, the drift report, Events and the apply step, so what the user
is shown is exactly what will be executed. Nothing here performs I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One facet of one AWS resource moving from `actual` to `desired`.

    `path` is the spec path of the facet (`versioning`, `tags.team`); `calls` are the AWS operations the
    change costs, in order (`s3:PutBucketVersioning`). A non-empty `step` marks a change AWS accepts only
    on its own, with the resource usable before and after (a DynamoDB index added or removed): the engine
    applies such steps one per reconcile, in list order, and `step` names it in status and plans
    (`creating index gsi-by-email`).

    `intent` marks a change of the desired state that comes from outside the object's spec, not from AWS
    drifting (a group's `$Latest` now resolving to a newer launch template version): the engine applies
    it like a spec change whatever the drift policy (ObserveOnly still never writes). Never a step.
    """

    path: str
    actual: Any
    desired: Any
    action: Action = Action.UPDATE
    calls: tuple[str, ...] = ()
    step: str = ""
    intent: bool = False

    def explain(self) -> str:
        """`versioning: Suspended -> Enabled`; absent sides read `(none)`."""
        if self.action is Action.CREATE and self.path == "":
            return f"create {self.desired}"
        return explain_values(self.path, self.actual, self.desired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "action": str(self.action),
            "actual": self.actual,
            "desired": self.desired,
            "calls": list(self.calls),
            **({"step": self.step} if self.step else {}),
        }


def explain_values(path: str, actual: Any, desired: Any) -> str:
    """`path: actual -> desired`, narrowed to what differs: only the changed keys of a map, only the
    changed items of two equally long lists of maps (`cors[0]: {allowedMethods: [...] -> [...]}`)."""
    if isinstance(actual, dict) and isinstance(desired, dict) and actual:
        keys = sorted(k for k in set(actual) | set(desired) if actual.get(k) != desired.get(k))
        parts = [f"{k}: {render_value(actual.get(k))} -> {render_value(desired.get(k))}" for k in keys]
        return f"{path}: {{{', '.join(parts)}}}"
    if (
        isinstance(actual, list)
        and isinstance(desired, list)
        and actual
        and len(actual) == len(desired)
        and all(isinstance(i, dict) for i in actual + desired)
    ):
        return "; ".join(
            explain_values(f"{path}[{index}]", old, new)
            for index, (old, new) in enumerate(zip(actual, desired, strict=True))
            if old != new
        )
    return f"{path}: {render_value(actual)} -> {render_value(desired)}"


def render_value(value: Any, limit: int = 120) -> str:
    """A short, stable, human rendering of a facet value (JSON for structures)."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Plan:
    """What the engine would do (or did) for one object."""

    kind: str
    namespace: str
    name: str
    aws_name: str
    region: str
    verb: str  # create | update | delete | none | blocked
    changes: list[Change] = field(default_factory=list)
    note: str = ""
    account: str = ""  # the AWS account (AWSAccount name and id, or the operator's own id); "" = unknown
    policy_tags: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Tags the resource carries because a TagPolicy defaults them: key -> (value, policy)."""

    @property
    def has_changes(self) -> bool:
        return self.verb in ("create", "update", "delete")

    def calls(self) -> list[str]:
        return [call for change in self.changes for call in change.calls]

    def steps(self) -> list[Change]:
        """The changes AWS takes one at a time, in the order they will be applied."""
        return [change for change in self.changes if change.step]

    def as_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "awsName": self.aws_name,
            "region": self.region,
            "account": self.account,
            "action": self.verb,
            "changes": [change.as_dict() for change in self.changes],
            "calls": self.calls(),
            "note": self.note,
        }
        if self.policy_tags:
            out["tagPolicyDefaults"] = [
                {"key": k, "value": v, "policy": p} for k, (v, p) in sorted(self.policy_tags.items())
            ]
        return out

    def render(self) -> list[str]:
        """Terraform-like lines: a header, then one line per change with its AWS calls."""
        where = f"{self.region}, account {self.account}" if self.account else self.region
        head = f"{self.kind} {self.namespace}/{self.name} -> {self.aws_name} ({where}): {self.verb}"
        if self.note:
            head += f" ({self.note})"
        lines = [head]
        if self.policy_tags:
            added = ", ".join(f"{k}={v} ({p})" for k, (v, p) in sorted(self.policy_tags.items()))
            lines.append(f"  TagPolicy defaults: {added}")
        marks = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
        steps = self.steps()
        for change in self.changes:
            calls = f"  [{', '.join(change.calls)}]" if change.calls else ""
            order = f"  (step {steps.index(change) + 1} of {len(steps)})" if change.step else ""
            lines.append(f"  {marks[change.action]} {change.explain()}{calls}{order}")
        return lines
