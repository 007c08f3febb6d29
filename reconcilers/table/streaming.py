"""Streaming of a table's changes: DynamoDB Streams.

The stream is managed only when declared (a new table has none). A new view type needs the stream off and
on again: two steps. Never: turn a stream off that the spec does not declare.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from .spec import TableObserved, TableSpec

CALL = ("dynamodb:UpdateTable",)


def steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.stream is None:
        return []
    out: list[Change] = []
    desired = (
        {"enabled": False}
        if not spec.stream.enabled
        else {"enabled": True, "viewType": spec.stream.view_type}
    )
    actual = observed.stream
    if desired == actual:
        return []
    if actual["enabled"] and desired["enabled"]:  # a new view type: off, then on
        out.append(Change("stream", actual, {"enabled": False}, Action.UPDATE, CALL, "disabling stream"))
        actual = {"enabled": False}
    label = f"enabling stream {spec.stream.view_type}" if spec.stream.enabled else "disabling stream"
    out.append(Change("stream", actual, desired, Action.UPDATE, CALL, label))
    return out


def stream_to_aws(spec: TableSpec) -> dict[str, Any] | None:
    """CreateTable's StreamSpecification, when the spec turns a stream on."""
    if spec.stream is not None and spec.stream.enabled:
        return {"StreamEnabled": True, "StreamViewType": spec.stream.view_type}
    return None


def update_args(spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any] | None:
    if change.path != "stream":
        return None
    if not change.desired["enabled"]:
        return {"StreamSpecification": {"StreamEnabled": False}}
    return {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": change.desired["viewType"]}}
