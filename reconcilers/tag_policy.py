"""TagPolicy: required tags, allowed values, forbidden keys and defaults, for every kind at once.

A TagPolicy is cluster-scoped configuration, not an AWS resource. This module holds its model and its
evaluation, and nothing else: which policies match an object (namespace selector, kinds), what defaults
they add (placeholders expanded), and which rules the object's effective tags break. The result, a
`TagPolicyVerdict`, travels to the engine in the `ReconcileContext`; the admission webhook, the operator
and the CLI all call `evaluate` here, so the three enforcement points can never disagree.

It must never: guess between two policies that default one key to different values (that is a policy
error, reported, never applied in arbitrary order), look at ownership tags or `aws:` tags, or perform I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from .model import Condition, Model
from .policies import ManagementPolicy
from .tags import MAX_KEY, MAX_TAGS, MAX_VALUE, SYSTEM_TAGS, is_reserved

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SIMPLE_PLACEHOLDERS = frozenset({"namespace", "name", "kind"})
LABEL_PLACEHOLDER = "namespaceLabel:"
MAX_LABEL_KEY = 317  # a Kubernetes label key: a 253-character DNS prefix, "/", a 63-character name
MAX_LABEL_VALUE = 63
MAX_SELECTOR_TERMS = 32
MAX_SELECTOR_VALUES = 64
MAX_ALLOWED_VALUES = 64
MAX_FORBIDDEN = 64
MAX_KINDS = 16
"""Bounds of the lists, maps and strings of a TagPolicy. The API server estimates the cost of every CEL
rule from them and refuses a CRD whose rules could exceed its budget; tag keys and values follow AWS's own
limits (50 tags, 128-character keys, 256-character values)."""
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class Enforcement(StrEnum):
    """What a violation does."""

    DENY = "Deny"
    WARN = "Warn"
    REPORT = "Report"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(Model):
    """One label selector requirement, as in Kubernetes' LabelSelectorRequirement."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) "
                    ": (!has(self.values) || size(self.values) == 0)",
                    "message": "values: In and NotIn need values; Exists and DoesNotExist take none",
                }
            ]
        }
    )

    key: str = Field(
        description="The label key the requirement applies to.", min_length=1, max_length=MAX_LABEL_KEY
    )
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_VALUES,
        description="Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.",
    )

    @model_validator(mode="after")
    def _check_values(self) -> SelectorRequirement:
        needs_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator is SelectorOperator.IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator is SelectorOperator.NOT_IN:
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator is SelectorOperator.EXISTS:
            return self.key in labels
        return self.key not in labels


class LabelSelector(Model):
    """A Kubernetes label selector: every matchLabels entry and every matchExpressions requirement."""

    match_labels: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] | None = Field(
        None, max_length=MAX_SELECTOR_TERMS, description="Labels the namespace must carry."
    )
    match_expressions: list[SelectorRequirement] | None = Field(
        None, max_length=MAX_SELECTOR_TERMS, description="Requirements the namespace's labels must meet."
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in (self.match_labels or {}).items()):
            return False
        return all(req.matches(labels) for req in self.match_expressions or [])


class RequiredTag(Model):
    """A tag every matching object must carry."""

    key: str = Field(description="Tag key (case-sensitive).", min_length=1, max_length=MAX_KEY)
    values: list[Annotated[str, Field(max_length=MAX_VALUE)]] = Field(
        default_factory=list,
        max_length=MAX_ALLOWED_VALUES,
        description="Allowed values; `*` matches any run of characters (as in AWS Organizations tag "
        "policies), e.g. `platform-*`. Empty: any non-empty value.",
    )


DEFAULTS_RULE: dict[str, Any] = {
    "rule": "self.all(k, self[k].matches("
    "'^([^{}]|[{](namespace|name|kind|namespaceLabel:[A-Za-z0-9._/-]+)[}])*$'))",
    "message": "defaults: unknown placeholder (use {namespace}, {name}, {kind} or {namespaceLabel:<label>})",
}


class TagPolicySpec(Model):
    """Tag rules and defaults for awsop objects: required keys, allowed values, forbidden keys, defaults."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.required) || "
                    "self.required.all(r, self.required.exists_one(s, s.key == r.key))",
                    "message": "required: a key is required more than once",
                }
            ]
        }
    )

    namespace_selector: LabelSelector | None = Field(
        None,
        description="Namespaces whose objects the policy covers (label selector); empty: every namespace.",
    )
    kinds: list[Annotated[str, Field(max_length=63)]] | None = Field(
        None,
        max_length=MAX_KINDS,
        description="awsop kinds the policy covers, e.g. [Bucket, Queue]; empty: every kind.",
    )
    required: list[RequiredTag] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Tags every covered object must carry, with their allowed values (at most 50, AWS's tag "
        "limit per resource).",
    )
    forbidden: list[Annotated[str, Field(max_length=MAX_KEY)]] = Field(
        default_factory=list,
        max_length=MAX_FORBIDDEN,
        description="Tag key patterns no covered object may carry, e.g. `temp-*`.",
    )
    defaults: dict[str, Annotated[str, Field(max_length=MAX_VALUE)]] = Field(
        default_factory=dict,
        max_length=MAX_TAGS,
        json_schema_extra={"x-kubernetes-validations": [DEFAULTS_RULE]},
        description="Tags written to AWS when the object's spec does not set the key (never into the spec). "
        "Values may use {namespace}, {name}, {kind} and {namespaceLabel:<label>}; a default whose namespace "
        "label is missing is skipped.",
    )
    enforcement: Enforcement = Field(
        Enforcement.DENY,
        description="Deny: reject at admission and make no AWS write. Warn: admit with a warning. Report: "
        "admit; the violation shows only in a condition, an Event and a metric.",
    )

    @field_validator("required")
    @classmethod
    def _unique_required(cls, value: list[RequiredTag]) -> list[RequiredTag]:
        keys = [rule.key for rule in value]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"key {', '.join(dupes)} is required more than once")
        for rule in value:
            _check_key(rule.key)
        return value

    @field_validator("forbidden")
    @classmethod
    def _check_forbidden(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or len(pattern) > MAX_KEY:
                raise ValueError(f"forbidden pattern {pattern!r} must be 1-{MAX_KEY} characters")
        return value

    @field_validator("defaults")
    @classmethod
    def _check_defaults(cls, value: dict[str, str]) -> dict[str, str]:
        for key, template in value.items():
            _check_key(key)
            for problem in template_problems(template):
                raise ValueError(f"default {key!r}: {problem}")
        return value

    @model_validator(mode="after")
    def _defaults_not_forbidden(self) -> TagPolicySpec:
        required = {rule.key for rule in self.required}
        for key in self.defaults:
            hit = next((p for p in self.forbidden if matches(p, key)), None)
            if hit is not None:
                raise ValueError(f"defaults.{key}: the key matches forbidden pattern {hit!r}")
        for key in required:
            hit = next((p for p in self.forbidden if matches(p, key)), None)
            if hit is not None:
                raise ValueError(f"required key {key!r} matches forbidden pattern {hit!r}")
        return self


class TagPolicyShardPart(Model):
    """One shard's part of a TagPolicy's counts (sharded installations)."""

    matching_objects: int = Field(0, description="Objects of this shard the policy covers.")
    violating_objects: int = Field(0, description="Of those, the objects that break one of its rules.")


class TagPolicyStatus(Model):
    """What the operator found for a TagPolicy."""

    observed_generation: int | None = Field(None, description="Last metadata.generation evaluated.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, or Ready=False with the policy error."
    )
    matching_objects: int | None = Field(
        None,
        description="awsop objects this policy covers.",
    )
    violating_objects: int | None = Field(
        None,
        description="Covered objects that break one of its rules.",
    )
    shards: dict[str, TagPolicyShardPart] | None = Field(
        None,
        description="With several operator shards: each shard's counts, by shard name; matchingObjects "
        "and violatingObjects are their sums, written by the first shard (docs/sharding.md).",
        json_schema_extra={"maxProperties": 64},
    )


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY:
        raise ValueError(f"tag key {key!r} must be 1-{MAX_KEY} characters")
    if is_reserved(key):
        raise ValueError(f"tag key {key!r}: the aws: prefix is reserved for AWS")
    if key in SYSTEM_TAGS:
        raise ValueError(f"tag key {key!r} is set by awsop itself")


def template_problems(template: str) -> list[str]:
    """What is wrong with a default value template (empty when valid)."""
    problems = []
    for found in PLACEHOLDER.findall(template):
        if found in SIMPLE_PLACEHOLDERS:
            continue
        if found.startswith(LABEL_PLACEHOLDER) and LABEL_KEY.match(found[len(LABEL_PLACEHOLDER) :]):
            continue
        problems.append(
            f"unknown placeholder {{{found}}} (use {{namespace}}, {{name}}, {{kind}} or "
            "{namespaceLabel:<label>})"
        )
    stripped = PLACEHOLDER.sub("", template)
    if "{" in stripped or "}" in stripped:
        problems.append("unbalanced { or }")
    return problems


# -- evaluation --------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern))
    )


@lru_cache(maxsize=1024)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_pattern(p).pattern})" for p in patterns) or "(?!)")


def matches(pattern: str, value: str) -> bool:
    """`*` matches any run of characters (also none); everything else matches itself, case-sensitively."""
    return _pattern(pattern).fullmatch(value) is not None


@dataclass(frozen=True)
class NamedPolicy:
    """A TagPolicy as the evaluation sees it: its name and its spec."""

    name: str
    spec: TagPolicySpec


@dataclass(frozen=True)
class Subject:
    """The object being judged: its identity, its spec's own tags and its namespace's labels."""

    kind: str
    namespace: str
    name: str
    tags: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    management_policy: ManagementPolicy = ManagementPolicy.MANAGE


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Enforcement
    key: str
    problem: str

    def explain(self) -> str:
        return f"tag {self.key!r} {self.problem} (TagPolicy {self.policy}, {self.enforcement})"


@dataclass(frozen=True)
class DefaultConflict:
    """Two or more matching policies default one key to different values: none of them is applied."""

    key: str
    values: Mapping[str, str]  # policy -> expanded value

    def explain(self) -> str:
        offers = ", ".join(f"{value!r} from {policy}" for policy, value in sorted(self.values.items()))
        return f"conflicting defaults for tag {self.key!r}: {offers}; none applied"


@dataclass(frozen=True)
class TagPolicyVerdict:
    """The matching policies' result for one object: defaults to add, rules broken, conflicts."""

    policies: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    default_sources: Mapping[str, str] = field(default_factory=dict)  # key -> policy
    violations: tuple[Violation, ...] = ()
    conflicts: tuple[DefaultConflict, ...] = ()
    skipped: tuple[str, ...] = ()  # defaults left out, with why (missing namespace label)
    undecided: frozenset[str] = frozenset()
    """Keys a matching policy defaults but no value was decided for (a namespace label missing, or
    conflicting defaults): the tag is left as it is in AWS, neither added nor removed."""

    @property
    def denied(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.enforcement is Enforcement.DENY)

    @property
    def compliant(self) -> bool:
        return not self.violations

    def message(self, violations: Iterable[Violation] | None = None) -> str:
        """One sentence per broken rule, naming the tag, the allowed values and the policy."""
        chosen = list(self.violations if violations is None else violations)
        return "; ".join(v.explain() for v in chosen)

    def fingerprint(self) -> tuple[object, ...]:
        """Equal for two verdicts that would reconcile the same way."""
        return (
            self.policies,
            tuple(sorted(self.defaults.items())),
            self.violations,
            tuple((c.key, tuple(sorted(c.values.items()))) for c in self.conflicts),
            tuple(sorted(self.undecided)),
        )


NO_POLICY = TagPolicyVerdict()


def covers(policy: TagPolicySpec, subject: Subject) -> bool:
    """Whether `policy` applies to `subject` (kind and namespace selector; ObserveOnly objects never
    write tags, so no policy covers them)."""
    if subject.management_policy is ManagementPolicy.OBSERVE_ONLY:
        return False
    if policy.kinds and subject.kind not in policy.kinds:
        return False
    if policy.namespace_selector is None:
        return True
    labels = {NAMESPACE_NAME_LABEL: subject.namespace, **subject.namespace_labels}
    return policy.namespace_selector.matches(labels)


def expand(template: str, subject: Subject) -> str | None:
    """The default value for `subject`, or None when a namespace label it names is missing."""
    missing = False

    def fill(found: re.Match[str]) -> str:
        nonlocal missing
        token = found.group(1)
        if token == "namespace":
            return subject.namespace
        if token == "name":
            return subject.name
        if token == "kind":
            return subject.kind
        label = token[len(LABEL_PLACEHOLDER) :]
        value = subject.namespace_labels.get(label)
        if value is None:
            missing = True
            return ""
        return value

    value = PLACEHOLDER.sub(fill, template)
    return None if missing else value[:MAX_VALUE]


def evaluate(
    policies: Sequence[NamedPolicy], subject: Subject, lower_layers: Mapping[str, str] | None = None
) -> TagPolicyVerdict:
    """Judge `subject` against every policy that covers it.

    Defaults fill only keys the spec does not set. The rules are checked against the tags the resource
    will carry: policy defaults, then `lower_layers` (tags that win over policy defaults, such as the
    operator's default tags), then the spec's own tags. Policies are taken in name order, so the result
    never depends on the order they were listed or watched in.
    """
    matching = sorted((p for p in policies if covers(p.spec, subject)), key=lambda p: p.name)
    if not matching:
        return NO_POLICY
    spec_tags = {k: v for k, v in subject.tags.items() if not is_reserved(k) and k not in SYSTEM_TAGS}
    offered: dict[str, dict[str, str]] = {}
    skipped = []
    skipped_keys = set()
    for policy in matching:
        for key, template in sorted(policy.spec.defaults.items()):
            if key in spec_tags:
                continue
            value = expand(template, subject)
            if value is None:
                skipped.append(f"default {key!r} of TagPolicy {policy.name}: namespace label missing")
                skipped_keys.add(key)
                continue
            offered.setdefault(key, {})[policy.name] = value
    defaults: dict[str, str] = {}
    sources: dict[str, str] = {}
    conflicts = []
    for key, offers in sorted(offered.items()):
        if len(set(offers.values())) > 1:
            conflicts.append(DefaultConflict(key, offers))
            continue
        defaults[key] = next(iter(offers.values()))
        sources[key] = ", ".join(sorted(offers))
    effective = {**defaults, **(lower_layers or {}), **spec_tags}
    violations = [v for policy in matching for v in _violations(policy, effective)]
    return TagPolicyVerdict(
        policies=tuple(p.name for p in matching),
        defaults=defaults,
        default_sources=sources,
        violations=tuple(violations),
        conflicts=tuple(conflicts),
        skipped=tuple(skipped),
        undecided=frozenset((skipped_keys - defaults.keys()) | {c.key for c in conflicts}),
    )


def _violations(policy: NamedPolicy, tags: Mapping[str, str]) -> list[Violation]:
    out = []
    mode = policy.spec.enforcement
    for rule in policy.spec.required:
        value = tags.get(rule.key)
        allowed = f"allowed: {', '.join(rule.values)}" if rule.values else "any non-empty value"
        if value is None or value == "":
            out.append(Violation(policy.name, mode, rule.key, f"is missing ({allowed})"))
        elif rule.values and not any(matches(p, value) for p in rule.values):
            out.append(
                Violation(policy.name, mode, rule.key, f"has value {value!r}, not allowed ({allowed})")
            )
    if policy.spec.forbidden:
        forbidden = _any_of(tuple(policy.spec.forbidden))
        for key in sorted(k for k in tags if forbidden.fullmatch(k)):
            hit = next(p for p in policy.spec.forbidden if matches(p, key))
            out.append(Violation(policy.name, mode, key, f"is forbidden (pattern {hit!r})"))
    return out


def policy_errors(policies: Sequence[NamedPolicy], known_kinds: Iterable[str]) -> dict[str, list[str]]:
    """Problems of each policy that no single object reveals: kinds awsop does not know."""
    known = set(known_kinds)
    out: dict[str, list[str]] = {}
    for policy in policies:
        unknown = [k for k in policy.spec.kinds or [] if k not in known]
        if unknown:
            out.setdefault(policy.name, []).append(
                f"unknown kind {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
    return out
