"""Ownership tags and the desired tag set.

The ownership tag makes creation idempotent after a crash and keeps two objects, or two clusters, from
fighting over one AWS resource. Keys starting with `aws:` belong to AWS and are never written or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OWNER_TAG = "awsop.io/owner"
KIND_TAG = "awsop.io/kind"
SYSTEM_TAGS = frozenset({OWNER_TAG, KIND_TAG})
RESERVED_PREFIX = "aws:"
MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256


def owner_value(cluster_id: str, namespace: str, name: str) -> str:
    return f"{cluster_id}/{namespace}/{name}"


def is_reserved(key: str) -> bool:
    return key.lower().startswith(RESERVED_PREFIX)


@dataclass(frozen=True)
class TagLayer:
    """One source of tags in the resolution order, named so plans and messages can say where a tag came
    from (`TagPolicy defaults`, `operator default tags`, `spec`)."""

    source: str
    tags: Mapping[str, str]


def layered_tags(layers: Sequence[TagLayer], owner: str, kind: str) -> dict[str, str]:
    """The tag set of a resource: each layer overrides the ones before it (lowest first), then the
    ownership tags, which nobody may override. `aws:` keys are dropped from every layer."""
    tags: dict[str, str] = {}
    for layer in layers:
        tags.update({k: v for k, v in layer.tags.items() if not is_reserved(k) and k not in SYSTEM_TAGS})
    tags[OWNER_TAG] = owner
    tags[KIND_TAG] = kind
    return tags


def desired_tags(
    user: Mapping[str, str] | None,
    defaults: Mapping[str, str],
    owner: str,
    kind: str,
) -> dict[str, str]:
    """Operator defaults, then the user's tags, then the ownership tags (which nobody may override)."""
    return layered_tags(
        [TagLayer("operator default tags", defaults), TagLayer("spec", user or {})], owner, kind
    )


def tags_to_write(
    desired: Mapping[str, str], actual: Mapping[str, str], authoritative: bool
) -> dict[str, str]:
    """The full tag set for services whose tagging call replaces everything (S3 PutBucketTagging).

    With `authoritative` (the spec declares `tags`), the result is exactly `desired`. Otherwise tags
    someone else put on the resource are kept. `aws:` tags cannot be written and are never included.
    """
    if authoritative:
        return {k: v for k, v in desired.items() if not is_reserved(k)}
    merged = {k: v for k, v in actual.items() if not is_reserved(k)}
    merged.update(desired)
    return merged


def tag_drift(desired: Mapping[str, str], actual: Mapping[str, str], authoritative: bool) -> dict[str, str]:
    """The part of `actual` compared with `desired`: unmanaged keys are dropped unless authoritative."""
    keep = {k: v for k, v in actual.items() if not is_reserved(k)}
    if authoritative:
        return keep
    return {k: v for k, v in keep.items() if k in desired}


def validate_tags(tags: Mapping[str, str]) -> list[str]:
    """Problems with a user tag map, as messages (empty when valid)."""
    problems = []
    if len(tags) > MAX_TAGS - len(SYSTEM_TAGS):
        problems.append(f"at most {MAX_TAGS - len(SYSTEM_TAGS)} tags (AWS allows {MAX_TAGS}, awsop uses 2)")
    for key, value in tags.items():
        if not key or len(key) > MAX_KEY:
            problems.append(f"tag key {key!r} must be 1-{MAX_KEY} characters")
        if len(value) > MAX_VALUE:
            problems.append(f"tag {key!r}: value longer than {MAX_VALUE} characters")
        if is_reserved(key):
            problems.append(f"tag key {key!r}: the aws: prefix is reserved for AWS")
        if key in SYSTEM_TAGS:
            problems.append(f"tag key {key!r} is set by awsop itself")
    return problems
