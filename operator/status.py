"""From an engine `Outcome` to the object's `status`, in the Kubernetes condition convention.

Conditions are kstatus-compatible (Ready, Synced, Drifted, Stalled, Reconciling) and change only on
transitions: `lastTransitionTime` moves only when a condition's status flips, and the whole status is
rewritten only when something in it changed, so a no-op drift check writes nothing.
"""

from __future__ import annotations

from typing import Any

from awsop.reconcilers.engine import TAG_POLICY_VIOLATION, Event, Outcome, State, drift_entries, now_rfc3339
from awsop.reconcilers.errors import ErrorClass

CONDITION_TYPES = ("Ready", "Synced", "Drifted", "Stalled", "Reconciling")
TAG_POLICY_CONDITION = "TagPolicyCompliant"
T, F = "True", "False"


def _desired_conditions(
    outcome: Outcome, previous: dict[str, dict[str, Any]]
) -> dict[str, tuple[str, str, str]]:
    """type -> (status, reason, message) for this outcome; absent types keep their previous value."""
    r, m = outcome.reason, outcome.message
    state = outcome.state
    if state is State.READY:
        drifted = (F, "DriftCorrected", m) if outcome.corrected else (F, "NoDrift", "AWS matches the spec")
        return {
            "Ready": (T, r, m),
            "Synced": (T, r, m),
            "Drifted": drifted,
            "Stalled": (F, "NotStalled", ""),
            "Reconciling": (F, "Done", ""),
        }
    if state is State.DRIFTED:
        return {
            "Ready": (F, "Drifted", m),
            "Synced": (T, r, m),
            "Drifted": (T, "DriftDetected", m),
            "Stalled": (F, "NotStalled", ""),
            "Reconciling": (F, "Done", ""),
        }
    if state is State.NOT_FOUND:
        return {
            "Ready": (F, "NotFound", m),
            "Synced": (T, r, m),
            "Drifted": (F, "NoDrift", ""),
            "Stalled": (F, "NotStalled", ""),
            "Reconciling": (F, "Waiting", m),
        }
    if state is State.PAUSED:
        return {"Synced": (F, "Paused", m), "Reconciling": (F, "Paused", m)}
    if state is State.WAITING or (state is State.DELETE_BLOCKED and outcome.in_use):
        # a referenced object is missing or not Ready, or a delete waits for the users of this one (objects
        # referring to it, AWS resources using it): retried soon and lifts by itself, so never Stalled
        return {
            "Ready": (F, r, m),
            "Synced": (F, r, m),
            "Stalled": (F, "NotStalled", ""),
            "Reconciling": (T, r, m),
        }
    if state is State.STALLED or state is State.DELETE_BLOCKED:
        return {
            "Ready": (F, r, m),
            "Synced": (F, r, m),
            "Stalled": (T, r, m),
            "Reconciling": (F, "Stalled", m),
        }
    if state is State.PROGRESSING:
        return {
            "Ready": (F, r, m),
            "Synced": (T, r, m),
            "Reconciling": (T, r, m),
            "Stalled": (F, "NotStalled", ""),
        }
    # recoverable or access error: keep a Ready=True resource Ready (a failed drift check is not an outage)
    ready = previous.get("Ready", {})
    out = {
        "Synced": (F, r, m),
        "Stalled": (F, "NotStalled", ""),
        "Reconciling": (
            T,
            "Retrying" if outcome.error_class is ErrorClass.RECOVERABLE else "AccessDenied",
            m,
        ),
    }
    if ready.get("status") != T:
        out["Ready"] = (F, r, m)
    return out


def merge_conditions(
    previous: list[dict[str, Any]], outcome: Outcome, generation: int, now: str | None = None
) -> list[dict[str, Any]]:
    """The new condition list: transitions stamp `lastTransitionTime`, the rest keep theirs."""
    now = now or now_rfc3339()
    by_type: dict[str, dict[str, Any]] = {str(c["type"]): dict(c) for c in previous if c.get("type")}
    desired = _desired_conditions(outcome, by_type)
    policy = _policy_condition(outcome, TAG_POLICY_CONDITION in by_type)
    if policy is not None:
        desired[TAG_POLICY_CONDITION] = policy
    for ctype, (status, reason, message) in desired.items():
        old = by_type.get(ctype)
        changed = old is None or old.get("status") != status
        by_type[ctype] = {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message[:1024],
            "lastTransitionTime": now if changed else old.get("lastTransitionTime", now),  # type: ignore[union-attr]
            "observedGeneration": generation,
        }
    return [by_type[t] for t in CONDITION_TYPES if t in by_type] + [
        c for t, c in by_type.items() if t not in CONDITION_TYPES
    ]


def _policy_condition(outcome: Outcome, present: bool) -> tuple[str, str, str] | None:
    """TagPolicyCompliant, for objects some TagPolicy covers (or covered before): False with every broken
    rule (Deny, Warn and Report alike), True otherwise. Paused objects keep what they had."""
    verdict = outcome.tag_policy
    if outcome.state is State.PAUSED or (not verdict.policies and not present):
        return None
    if not verdict.policies:
        return (T, "NoPolicy", "no TagPolicy covers this object")
    if verdict.violations:
        return (F, TAG_POLICY_VIOLATION, verdict.message())
    return (T, "Compliant", f"complies with TagPolicy {', '.join(verdict.policies)}")


def policy_event(previous: dict[str, Any], outcome: Outcome) -> Event | None:
    """A Warning Event when Warn/Report violations appear or change (Deny has the engine's own Event);
    none on a check that finds what the last one found."""
    verdict = outcome.tag_policy
    others = [v for v in verdict.violations if v not in verdict.denied]
    if not others or verdict.denied or outcome.state is State.PAUSED:
        return None
    message = verdict.message(others)
    old: dict[str, Any] = next(
        (c for c in previous.get("conditions", []) if c.get("type") == TAG_POLICY_CONDITION), {}
    )
    if old.get("status") == F and old.get("message") == verdict.message():
        return None
    return Event("Warning", TAG_POLICY_VIOLATION, message)


def new_status(
    previous: dict[str, Any], outcome: Outcome, generation: int, plan_only: bool = False
) -> dict[str, Any]:
    """The full status after `outcome`. Equal to `previous` (besides times) when nothing changed."""
    status = {k: v for k, v in previous.items() if k in _OWNED}
    status.update({k: v for k, v in outcome.status.items() if v is not None})
    if outcome.started_create is not None:  # a create AWS still runs: the next reconcile follows it
        status["pendingCreate"] = outcome.started_create.as_record()
    else:
        status.pop("pendingCreate", None)
    if plan_only:
        status["plan"] = {
            "generatedAt": now_rfc3339(),
            "action": outcome.plan.verb,
            "changes": [line.strip() for line in outcome.plan.render()[1:]],
            "calls": outcome.plan.calls(),
        }
        if _same(previous.get("plan"), status["plan"]):
            status["plan"] = previous["plan"]
        return status
    status.pop("plan", None)
    if outcome.progress is not None:
        status["progress"] = outcome.progress.as_status()
    elif outcome.state is not State.ERROR:  # an error mid-way keeps the count; anything else ends it
        status.pop("progress", None)
    status["conditions"] = merge_conditions(previous.get("conditions", []), outcome, generation)
    if outcome.state is not State.PAUSED:  # a paused object has not observed its spec
        status["observedGeneration"] = generation
    if outcome.state in (State.READY, State.DRIFTED, State.NOT_FOUND):
        # the spec of this generation reached AWS (or was judged against it): later differences are drift
        status["appliedGeneration"] = generation
    if outcome.state in (State.DRIFTED,):
        status["drift"] = drift_entries(outcome.drift, previous.get("drift"))
    elif outcome.state is State.READY:
        status["drift"] = []
    # kopf's record (written with the status, never by this function) is not a change of the outcome
    ours = {k: v for k, v in previous.items() if k != "lastHandled"}
    if outcome.state is State.READY and (outcome.plan.changes or status != ours):
        status["lastSyncTime"] = now_rfc3339()
    return status


def _same(old: Any, new: dict[str, Any]) -> bool:
    return isinstance(old, dict) and {k: v for k, v in old.items() if k != "generatedAt"} == {
        k: v for k, v in new.items() if k != "generatedAt"
    }


_OWNED = frozenset(
    {
        "observedGeneration",
        "appliedGeneration",
        "conditions",
        "arn",
        "awsName",
        "region",
        "accountId",
        "lastSyncTime",
        "drift",
        "plan",
        "progress",
        "resolvedReferences",
        "pendingCreate",
        "outputs",  # written by operator/outputs.py after the engine's status
    }
)


def census_condition(outcome: Outcome) -> str | None:
    """The awsop_resources label for this outcome."""
    if outcome.in_use:
        return "NotReady"
    return {
        State.READY: "Ready",
        State.DRIFTED: "Drifted",
        State.STALLED: "Stalled",
        State.DELETE_BLOCKED: "Stalled",
        State.PAUSED: "Paused",
        State.NOT_FOUND: "NotReady",
        State.ERROR: "NotReady",
        State.PROGRESSING: "NotReady",
        State.WAITING: "NotReady",
    }.get(outcome.state)


def synced_generation(status: dict[str, Any]) -> int | None:
    """The generation whose spec last reached AWS, if any: a failed or paused reconcile does not move it,
    so drift after an error is still drift (and driftPolicy Report still holds)."""
    gen = status.get("appliedGeneration")
    return int(gen) if gen is not None else None
