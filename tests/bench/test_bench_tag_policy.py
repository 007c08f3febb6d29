"""TagPolicy evaluation cost (`make bench`): what the webhook, every reconcile and every object's drift
check after a policy change pay per object. Prints numbers; asserts no timing."""

from __future__ import annotations

import time

import pytest

from awsop.reconcilers.tag_policy import NamedPolicy, Subject, TagPolicySpec, evaluate

pytestmark = pytest.mark.bench


def policies(count: int) -> list[NamedPolicy]:
    return [
        NamedPolicy(
            f"p{i}",
            TagPolicySpec.model_validate(
                {
                    "namespaceSelector": {"matchLabels": {"tier": "prod"}} if i % 2 else None,
                    "required": [
                        {"key": "team", "values": ["payments", "web", "platform-*"]},
                        {"key": "cost-center", "values": ["cc-*"]},
                    ],
                    "forbidden": ["temp-*"],
                    "defaults": {f"d{i}": "{namespace}-{namespaceLabel:tier}"},
                }
            ),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [1, 10, 50])
def test_bench_tag_policy_evaluation(count: int) -> None:
    rules = policies(count)
    subject = Subject(
        "Bucket", "shop", "data", {"team": "platform-core", "cost-center": "cc-1", "x": "y"}, {"tier": "prod"}
    )
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        verdict = evaluate(rules, subject, {"managed-by": "awsop"})
    per = (time.perf_counter() - started) / rounds
    assert verdict.compliant and len(verdict.defaults) == count
    print(f"BENCH TagPolicy evaluation, {count} matching policies: {per * 1e6:.0f} us per object")
