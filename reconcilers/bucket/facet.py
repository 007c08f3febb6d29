"""What one facet of a bucket is: a part of its configuration read, compared and written on its own.

Each facet family lives in its own module (models, normalisation, read, write) and exports its `Facet`
objects; the client (client.py) lists them in apply order. This module must never import the spec or the
client (the facet modules are imported by them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients, RetryingClient
from ..engine import Target
from ..errors import error_code

S3 = RetryingClient
UNSET: Any = object()
"""What `Facet.desired` returns when the spec leaves the facet out: neither read nor written."""


def missing(exc: ClientError, codes: frozenset[str]) -> bool:
    """Whether S3 answered that the configuration is not set (not an error: the facet's empty value)."""
    return error_code(exc) in codes


def opt(value: Any, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    return UNSET if value is None else convert(value)


def equal(desired: Any, actual: Any) -> bool:
    return bool(desired == actual)


def desired_only(desired: Any, actual: Any) -> Any:
    return desired


@dataclass(frozen=True)
class Facet:
    """One independently readable and writable part of a bucket's configuration.

    `desired` returns the normalised desired value for a target (its spec and resolved references), or
    `UNSET` when the spec leaves the facet out. `matches(desired, actual)` is the comparison after
    normalisation (AWS defaults in `actual` that the spec does not set are not drift). `iam` names the
    IAM actions of every operation the facet calls. `carry(desired, actual)` is what a write sends (parts
    of the AWS value the spec does not manage, carried over); `check(clients, target, desired)` runs
    before any write of the reconcile and raises to hold every write back (a precondition outside the
    bucket). Facets are listed in the order they must be
    applied (ownership before policy, versioning before anything that depends on it).
    """

    path: str
    desired: Callable[[Target[Any]], Any]
    read: Callable[[S3, str], Any]
    write: Callable[[S3, str, Any], None]
    read_call: str
    write_call: str
    delete_call: str = ""
    iam: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    matches: Callable[[Any, Any], bool] = equal
    carry: Callable[[Any, Any], Any] = desired_only
    check: Callable[[AwsClients, Target[Any], Any], None] | None = None
    problem: Callable[[Any, Any], str | None] | None = None
    """A difference no write can fix (a lock AWS does not show): its message makes the object Stalled."""
    written_at_create: Callable[[Any], bool] = lambda desired: True
    """False when CreateBucket itself already made the desired value (Object Lock without retention)."""

    def calls_for(self, value: Any) -> tuple[str, ...]:
        empty = value is None or value == []
        return (f"s3:{self.delete_call if (empty and self.delete_call) else self.write_call}",)
