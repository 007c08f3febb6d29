"""TagPolicy model and evaluation: patterns, selectors, placeholders, precedence, conflicts, messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from awsop.reconcilers.policies import ManagementPolicy
from awsop.reconcilers.tag_policy import (
    NO_POLICY,
    Enforcement,
    NamedPolicy,
    Subject,
    TagPolicySpec,
    evaluate,
    expand,
    matches,
    policy_errors,
)

ISSUE_POLICY = {
    "required": [
        {"key": "team", "values": ["payments", "web", "platform-*"]},
        {"key": "cost-center", "values": ["cc-*"]},
    ],
    "defaults": {"environment": "{namespaceLabel:environment}"},
}


def policy(name: str = "tags", **spec: Any) -> NamedPolicy:
    return NamedPolicy(name, TagPolicySpec.model_validate(spec or ISSUE_POLICY))


def subject(tags: dict[str, str] | None = None, **kw: Any) -> Subject:
    base: dict[str, Any] = {"kind": "Bucket", "namespace": "shop", "name": "data", "tags": tags or {}}
    base.update(kw)
    return Subject(**base)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("platform-*", "platform-data", True),
        ("platform-*", "platform-", True),
        ("platform-*", "platform", False),
        ("platform-*", "Platform-data", False),
        ("*@example.com", "me@example.com", True),
        ("cc-*", "cc-1234", True),
        ("cc-*", "xcc-1", False),
        ("a*b*c", "a-x-b-y-c", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("dots.are.literal", "dotsXareXliteral", False),
        ("*", "", True),
        ("temp-*", "temp-build", True),
    ],
    ids=lambda v: repr(v),
)
def test_pattern_matching(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_compliant_object_gets_defaults_from_namespace_label() -> None:
    verdict = evaluate(
        [policy()],
        subject({"team": "platform-core", "cost-center": "cc-42"}, namespace_labels={"environment": "prod"}),
    )
    assert verdict.compliant
    assert verdict.policies == ("tags",)
    assert verdict.defaults == {"environment": "prod"}
    assert verdict.default_sources == {"environment": "tags"}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            {"cost-center": "cc-1"},
            "tag 'team' is missing (allowed: payments, web, platform-*) (TagPolicy tags, Deny)",
        ),
        (
            {"team": "sales", "cost-center": "cc-1"},
            "tag 'team' has value 'sales', not allowed (allowed: payments, web, platform-*) "
            "(TagPolicy tags, Deny)",
        ),
        (
            {"team": "web", "cost-center": ""},
            "tag 'cost-center' is missing (allowed: cc-*) (TagPolicy tags, Deny)",
        ),
        (
            {"Team": "web", "team": "web", "cost-center": "cc-1"},
            "",
        ),
    ],
    ids=["missing", "value-not-allowed", "empty-value", "key-case-exact-extra-key-ok"],
)
def test_required_rules_messages(tags: dict[str, str], expected: str) -> None:
    verdict = evaluate([policy()], subject(tags))
    assert verdict.message() == expected


def test_key_case_is_exact() -> None:
    verdict = evaluate([policy()], subject({"Team": "web", "cost-center": "cc-1"}))
    assert [v.key for v in verdict.violations] == ["team"]


def test_required_without_values_accepts_any_non_empty_value() -> None:
    rules = policy(required=[{"key": "owner"}])
    assert evaluate([rules], subject({"owner": "x"})).compliant
    assert evaluate([rules], subject({"owner": ""})).message() == (
        "tag 'owner' is missing (any non-empty value) (TagPolicy tags, Deny)"
    )


def test_forbidden_key_patterns() -> None:
    rules = policy(forbidden=["temp-*"], enforcement="Warn")
    verdict = evaluate([rules], subject({"temp-owner": "me", "team": "x"}))
    assert [(v.key, v.enforcement) for v in verdict.violations] == [("temp-owner", Enforcement.WARN)]
    assert verdict.denied == ()


def test_a_default_satisfies_a_required_tag() -> None:
    rules = policy(
        required=[{"key": "environment", "values": ["dev", "prod"]}], defaults={"environment": "dev"}
    )
    verdict = evaluate([rules], subject())
    assert verdict.compliant and verdict.defaults == {"environment": "dev"}


def test_precedence_spec_over_operator_defaults_over_policy_defaults() -> None:
    rules = policy(defaults={"a": "policy", "b": "policy", "c": "policy"})
    verdict = evaluate([rules], subject({"a": "spec"}), lower_layers={"b": "operator"})
    assert verdict.defaults == {"b": "policy", "c": "policy"}  # spec keys are never defaulted
    # the rules see the tags AWS will carry: the operator's default wins over the policy's
    rules2 = policy(required=[{"key": "b", "values": ["policy"]}], defaults={"b": "policy"})
    judged = evaluate([rules2], subject(), lower_layers={"b": "operator"})
    assert judged.message() == (
        "tag 'b' has value 'operator', not allowed (allowed: policy) (TagPolicy tags, Deny)"
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{namespace}-{name}", "shop-data"),
        ("{kind}", "Bucket"),
        ("env-{namespaceLabel:environment}", "env-prod"),
        ("{namespaceLabel:example.com/tier}", "gold"),
        ("{namespaceLabel:missing}", None),
        ("plain", "plain"),
    ],
)
def test_placeholder_expansion(template: str, expected: str | None) -> None:
    labels = {"environment": "prod", "example.com/tier": "gold"}
    assert expand(template, subject(namespace_labels=labels)) == expected


def test_default_with_missing_label_is_skipped_and_said() -> None:
    verdict = evaluate([policy()], subject({"team": "web", "cost-center": "cc-1"}))
    assert verdict.defaults == {}
    assert verdict.skipped == ("default 'environment' of TagPolicy tags: namespace label missing",)


def test_conflicting_defaults_are_never_applied() -> None:
    first = policy("a-policy", defaults={"environment": "dev", "owner": "platform"})
    second = policy("b-policy", defaults={"environment": "prod", "owner": "platform"})
    for order in ([first, second], [second, first]):
        verdict = evaluate(order, subject())
        assert verdict.defaults == {"owner": "platform"}
        assert verdict.default_sources == {"owner": "a-policy, b-policy"}
        assert [c.explain() for c in verdict.conflicts] == [
            "conflicting defaults for tag 'environment': 'dev' from a-policy, 'prod' from b-policy; "
            "none applied"
        ]


def test_conflict_ignored_when_the_spec_sets_the_key() -> None:
    first = policy("a", defaults={"environment": "dev"})
    second = policy("b", defaults={"environment": "prod"})
    assert evaluate([first, second], subject({"environment": "qa"})).conflicts == ()


def test_several_policies_all_required_rules_apply() -> None:
    team = policy("team", required=[{"key": "team"}])
    cost = policy("cost", required=[{"key": "cost-center"}], enforcement="Report")
    verdict = evaluate([team, cost], subject())
    assert [(v.policy, v.key) for v in verdict.violations] == [("cost", "cost-center"), ("team", "team")]
    assert [v.policy for v in verdict.denied] == ["team"]


@pytest.mark.parametrize(
    ("spec", "kw", "covered"),
    [
        ({"kinds": ["Queue"]}, {}, False),
        ({"kinds": ["Bucket"]}, {}, True),
        (
            {"namespaceSelector": {"matchLabels": {"tier": "prod"}}},
            {"namespace_labels": {"tier": "prod"}},
            True,
        ),
        (
            {"namespaceSelector": {"matchLabels": {"tier": "prod"}}},
            {"namespace_labels": {"tier": "dev"}},
            False,
        ),
        (
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
                }
            },
            {"namespace_labels": {"tier": "b"}},
            True,
        ),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}},
            {"namespace_labels": {"tier": "b"}},
            False,
        ),
        (
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}},
            {},
            True,
        ),
        ({"namespaceSelector": {}}, {}, True),
        ({}, {"management_policy": ManagementPolicy.OBSERVE_ONLY}, False),
    ],
    ids=[
        "other-kind",
        "listed-kind",
        "label-match",
        "label-mismatch",
        "in-expression",
        "does-not-exist",
        "namespace-name-label",
        "empty-selector",
        "observe-only-never-covered",
    ],
)
def test_which_objects_a_policy_covers(spec: dict[str, Any], kw: dict[str, Any], covered: bool) -> None:
    rules = policy(required=[{"key": "team"}], **spec)
    verdict = evaluate([rules], subject(**kw))
    assert (verdict is not NO_POLICY) is covered


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"defaults": {"x": "{owner}"}}, "unknown placeholder {owner}"),
        ({"defaults": {"x": "{namespace"}}, "unbalanced"),
        ({"defaults": {"aws:x": "y"}}, "aws: prefix is reserved"),
        ({"defaults": {"awsop.io/owner": "y"}}, "set by awsop itself"),
        ({"required": [{"key": "a"}, {"key": "a"}]}, "required more than once"),
        ({"forbidden": ["temp-*"], "defaults": {"temp-x": "1"}}, "matches forbidden pattern 'temp-*'"),
        ({"required": [{"key": "temp-x"}], "forbidden": ["temp-*"]}, "matches forbidden pattern"),
        ({"enforcement": "Block"}, "enforcement"),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "operator In needs values",
        ),
        ({"required": [{"key": "a"}], "extra": 1}, "extra"),
    ],
    ids=[
        "unknown-placeholder",
        "unbalanced",
        "aws-prefix",
        "system-tag",
        "duplicate-required",
        "default-forbidden",
        "required-forbidden",
        "bad-enforcement",
        "in-without-values",
        "unknown-field",
    ],
)
def test_invalid_policies_are_rejected_with_the_reason(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("*", r"\*").replace("{", r"\{")):
        TagPolicySpec.model_validate(spec)


def test_unknown_kinds_are_a_policy_error() -> None:
    rules = policy(kinds=["Bucket", "Bukket"], required=[{"key": "a"}])
    assert policy_errors([rules], ["Bucket", "Queue"]) == {
        "tags": ["unknown kind Bukket (known: Bucket, Queue)"]
    }


def test_default_enforcement_is_deny() -> None:
    assert TagPolicySpec.model_validate({}).enforcement is Enforcement.DENY


def crd_causes(spec: dict[str, Any]) -> list[str]:
    """What the API server (the sandbox's validation, CEL included) says about a TagPolicy spec."""
    import yaml

    from awsop.operator import crdgen
    from awsop.sandbox.kubeapi import validation

    crd = yaml.safe_load(crdgen.rendered()["tagpolicies.awsop.io.yaml"])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    obj = {"apiVersion": "awsop.io/v1alpha1", "kind": "TagPolicy", "metadata": {"name": "p"}, "spec": spec}
    return [cause.full() for cause in validation.validate(obj, schema)]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (ISSUE_POLICY, ""),
        ({"defaults": {"x": "{namespace}-{namespaceLabel:example.com/tier}"}}, ""),
        ({"defaults": {"x": "{owner}"}}, "unknown placeholder"),
        ({"required": [{"key": "a"}, {"key": "a"}]}, "required more than once"),
        ({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}, "need values"),
        (
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            },
            "take none",
        ),
        ({"enforcement": "Block"}, "Unsupported value"),
    ],
    ids=[
        "issue-policy",
        "placeholders",
        "unknown-placeholder",
        "duplicate",
        "in-no-values",
        "exists-values",
        "enum",
    ],
)
def test_crd_rejects_what_the_model_rejects(spec: dict[str, Any], error: str) -> None:
    causes = crd_causes(spec)
    assert (error in "; ".join(causes)) if error else causes == [], causes
    model_ok = True
    try:
        TagPolicySpec.model_validate(spec)
    except ValidationError:
        model_ok = False
    assert model_ok is (not error)


def test_undecided_keys_are_those_no_policy_gave_a_value() -> None:
    """Skipped (label missing) and conflicting defaults are left as they are in AWS; a key another
    matching policy does decide is not undecided."""
    skipped = evaluate([policy()], subject({"team": "web", "cost-center": "cc-1"}))
    assert skipped.undecided == frozenset({"environment"})
    conflict = evaluate(
        [policy("a", defaults={"env": "dev"}), policy("b", defaults={"env": "prod"})], subject()
    )
    assert conflict.undecided == frozenset({"env"})
    decided = evaluate(
        [policy("a", defaults={"env": "{namespaceLabel:env}"}), policy("b", defaults={"env": "prod"})],
        subject(),
    )
    assert decided.undecided == frozenset() and decided.defaults == {"env": "prod"}
