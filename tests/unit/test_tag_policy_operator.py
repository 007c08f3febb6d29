"""The operator's side of TagPolicies without Kubernetes: the policy cache (verdicts, counts, wake-ups,
invalid policies), the TagPolicyCompliant condition and its Events, and the webhook handler's answers
(the AdmissionReview round trip itself is covered by the sandbox and e2e tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from awsop.operator import handlers, webhook
from awsop.operator.settings import Settings
from awsop.operator.status import merge_conditions, policy_event
from awsop.operator.tag_policies import PolicyCache
from awsop.reconcilers.bucket import BucketSpec
from awsop.reconcilers.changes import Plan
from awsop.reconcilers.engine import Outcome, State
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.tag_policy import NamedPolicy, Subject, TagPolicySpec, evaluate

DENY = {"required": [{"key": "team", "values": ["web"]}]}
REPORT = {"required": [{"key": "owner"}], "enforcement": "Report"}
WARN = {"required": [{"key": "owner"}], "enforcement": "Warn"}


def spec(tags: dict[str, str] | None = None) -> BucketSpec:
    return BucketSpec.model_validate({"tags": tags} if tags is not None else {})


def test_cache_judges_with_namespace_labels_and_counts_per_policy() -> None:
    cache = PolicyCache()
    cache.set_policy("deny", {**DENY, "defaults": {"env": "{namespaceLabel:env}"}})
    cache.set_policy("report", REPORT)
    cache.set_namespace("shop", {"env": "prod"})
    ok = cache.verdict("Bucket", "shop", "a", spec({"team": "web", "owner": "me"}), {})
    bad = cache.verdict("Bucket", "shop", "b", spec({"team": "sales"}), {})
    assert ok.defaults == {"env": "prod"} and ok.compliant
    cache.record("uid-a", "Bucket", ok)
    cache.record("uid-b", "Bucket", bad)
    states = cache.states()
    assert (states["deny"].matching, states["deny"].violating) == (2, 1)
    assert (states["report"].matching, states["report"].violating) == (2, 1)
    assert cache.violations_by_policy_and_kind() == {
        ("deny", "Bucket", "Deny"): 1,
        ("report", "Bucket", "Report"): 1,
    }
    assert cache.policy_status("deny", list(KINDS))[:2] == ("True", "Active")
    cache.forget("uid-b")
    assert cache.states()["deny"].violating == 0


def test_invalid_policy_is_reported_and_never_applied() -> None:
    cache = PolicyCache()
    cache.set_policy("broken", {"defaults": {"x": "{owner}"}})
    assert cache.verdict("Bucket", "ns", "a", spec(), {}).policies == ()
    ready, reason, message, _ = cache.policy_status("broken", list(KINDS))
    assert (ready, reason) == ("False", "InvalidPolicy")
    assert "unknown placeholder {owner}" in message
    cache.set_policy("kinds", {"kinds": ["Bukket"]})
    assert cache.policy_status("kinds", list(KINDS))[1:3] == (
        "InvalidPolicy",
        f"unknown kind Bukket (known: {', '.join(sorted(KINDS))})",
    )


def test_conflicts_mark_both_policies() -> None:
    cache = PolicyCache()
    cache.set_policy("a", {"defaults": {"tier": "gold"}})
    cache.set_policy("b", {"defaults": {"tier": "silver"}})
    cache.record("uid", "Bucket", cache.verdict("Bucket", "ns", "x", spec(), {}))
    for name in ("a", "b"):
        ready, reason, message, _ = cache.policy_status(name, list(KINDS))
        assert (ready, reason) == ("False", "ConflictingDefaults")
        assert message == "conflicting defaults for tag 'tier': 'gold' from a, 'silver' from b; none applied"


def test_verdict_change_is_detected_and_wakes_the_drift_checks() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        cache = PolicyCache()
        wake = cache.wake_event()
        first = cache.verdict("Bucket", "ns", "x", spec(), {})
        cache.record("uid", "Bucket", first)
        unchanged = cache.changed("uid", cache.verdict("Bucket", "ns", "x", spec(), {}))
        cache.set_policy("deny", DENY)
        await asyncio.sleep(0)
        changed = cache.changed("uid", cache.verdict("Bucket", "ns", "x", spec(), {}))
        return unchanged, changed, wake.is_set()

    unchanged, changed, woken = asyncio.run(scenario())
    assert (unchanged, changed, woken) == (False, True, True)


def test_same_policy_again_wakes_nobody() -> None:
    async def scenario() -> bool:
        cache = PolicyCache()
        cache.set_policy("deny", DENY)
        wake = cache.wake_event()
        cache.set_policy("deny", DENY)  # a status write or a resync: nothing changed
        cache.set_namespace("ns", {"a": "b"})  # first sight of a namespace
        await asyncio.sleep(0)
        return wake.is_set()

    assert asyncio.run(scenario()) is False


def outcome(state: State, policies: list[dict[str, Any]], tags: dict[str, str]) -> Outcome:
    named = [NamedPolicy(f"p{i}", TagPolicySpec.model_validate(p)) for i, p in enumerate(policies)]
    verdict = evaluate(named, Subject("Bucket", "ns", "x", tags))
    return Outcome(
        state, "UpToDate", "", Plan("Bucket", "ns", "x", "ns-x", "us-east-1", "none"), tag_policy=verdict
    )


def compliant(conditions: list[dict[str, Any]]) -> tuple[str, str] | None:
    found = next((c for c in conditions if c["type"] == "TagPolicyCompliant"), None)
    return (found["status"], found["reason"]) if found else None


def test_compliance_condition_appears_with_a_policy_and_flips_back() -> None:
    assert compliant(merge_conditions([], outcome(State.READY, [], {}), 1)) is None
    violated = merge_conditions([], outcome(State.READY, [REPORT], {}), 1)
    assert compliant(violated) == ("False", "TagPolicyViolation")
    fixed = merge_conditions(violated, outcome(State.READY, [REPORT], {"owner": "me"}), 2)
    assert compliant(fixed) == ("True", "Compliant")
    gone = merge_conditions(fixed, outcome(State.READY, [], {}), 3)
    assert compliant(gone) == ("True", "NoPolicy")


def test_report_event_only_when_the_violation_is_new() -> None:
    first = outcome(State.READY, [REPORT], {})
    event = policy_event({}, first)
    assert event is not None and (event.type, event.reason) == ("Warning", "TagPolicyViolation")
    status = {"conditions": merge_conditions([], first, 1)}
    assert policy_event(status, outcome(State.READY, [REPORT], {})) is None
    assert policy_event(status, outcome(State.STALLED, [DENY], {})) is None  # Deny has the engine's Event


@pytest.fixture
def runtime() -> handlers.Runtime:
    """The Runtime the operator hands to the webhook: only its settings and policy cache are used."""
    return handlers.Runtime(Settings(), engine=None, clients={})


def body(tags: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "ns", **meta}, "spec": {"tags": tags}}


def test_webhook_denies_with_every_broken_rule(runtime: handlers.Runtime) -> None:
    runtime.policies.set_policy("deny", DENY)
    runtime.policies.set_policy("warn", WARN)
    warnings: list[str] = []
    with pytest.raises(kopf.AdmissionError) as denied:
        webhook.validate_object(KINDS["Bucket"], runtime, body({"team": "sales"}), None, "CREATE", warnings)
    assert denied.value.code == 403
    assert str(denied.value) == (
        "Bucket ns/x: tag 'team' has value 'sales', not allowed (allowed: web) (TagPolicy deny, Deny)"
    )
    assert warnings == ["Bucket ns/x: tag 'owner' is missing (any non-empty value) (TagPolicy warn, Warn)"]


@pytest.mark.parametrize(
    ("operation", "new", "old"),
    [
        ("UPDATE", body({"team": "sales"}, labels={"a": "b"}), body({"team": "sales"})),
        ("UPDATE", body({"team": "sales"}, deletionTimestamp="2026-01-01T00:00:00Z"), body({"team": "x"})),
        ("DELETE", body({"team": "sales"}), body({"team": "sales"})),
    ],
    ids=["metadata-only-update", "being-deleted", "delete"],
)
def test_webhook_never_blocks_what_keeps_an_object_manageable(
    operation: str, new: dict[str, Any], old: dict[str, Any], runtime: handlers.Runtime
) -> None:
    runtime.policies.set_policy("deny", DENY)
    webhook.validate_object(KINDS["Bucket"], runtime, new, old, operation, [])


def test_webhook_rejects_invalid_tag_policies() -> None:
    with pytest.raises(kopf.AdmissionError, match="unknown placeholder"):
        webhook.validate_tag_policy(
            body={"metadata": {"name": "p"}, "spec": {"defaults": {"x": "{owner}"}}}, operation="CREATE"
        )
    webhook.validate_tag_policy(body={"metadata": {"name": "p"}, "spec": DENY}, operation="CREATE")


def test_a_verdict_made_stale_during_its_reconcile_wakes_the_drift_checks_again() -> None:
    """A check that ran for a policy change before the running reconcile recorded its (old) verdict had
    nothing to compare with; recording that stale verdict wakes the checks once more."""

    async def scenario() -> tuple[bool, bool]:
        cache = PolicyCache()
        first = cache.wake_event()
        epoch = cache.epoch
        verdict = cache.verdict("Bucket", "ns", "x", spec(), {})  # the reconcile starts: no policy yet
        cache.set_policy("deny", DENY)  # arrives while the reconcile runs
        await asyncio.sleep(0)
        second = cache.wake_event()
        cache.record("uid", "Bucket", verdict, epoch)
        await asyncio.sleep(0)
        return first.is_set(), second.is_set()

    assert asyncio.run(scenario()) == (True, True)
