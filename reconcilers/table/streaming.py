"""Streaming of a table's changes: DynamoDB Streams and a Kinesis data stream destination.

Each is managed only when declared (a new table has neither). A new DynamoDB Streams view type needs the
stream off and on again: two steps. The Kinesis destination is read with
DescribeKinesisStreamingDestination and switched with Enable/DisableKinesisStreamingDestination (calls of
their own, applied at once; AWS streams to one destination at a time, so enabling another first disables
the active one). Never: turn off a stream or a destination the spec does not declare.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from ..engine import Target
from .spec import TableAws, TableObserved, TableSpec

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeKinesisStreamingDestination": ("dynamodb:DescribeKinesisStreamingDestination",),
    "EnableKinesisStreamingDestination": ("dynamodb:EnableKinesisStreamingDestination",),
    "DisableKinesisStreamingDestination": ("dynamodb:DisableKinesisStreamingDestination",),
}
KINESIS = "kinesisStreamingDestination"
KINESIS_ON = frozenset({"ENABLING", "ACTIVE", "UPDATING"})

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


# -- Kinesis data stream destination ---------------------------------------------------------------------


def read_kinesis(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if target.spec.kinesis_streaming_destination is None:
        return
    answer = aws.ddb.describe_kinesis_streaming_destination(TableName=target.aws_name)
    observed.facets[KINESIS] = list(answer.get("KinesisDataStreamDestinations") or [])


def _kinesis_view(destinations: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    mine = next((d for d in destinations if d.get("StreamArn") == arn), None)
    if mine is None or mine.get("DestinationStatus") not in KINESIS_ON:
        out: dict[str, Any] = {"streamArn": arn, "enabled": False}
        if mine is not None and mine.get("DestinationStatus") == "ENABLE_FAILED":
            out["failed"] = str(mine.get("DestinationStatusDescription") or "ENABLE_FAILED")
        return out
    return {"streamArn": arn, "enabled": True}


def kinesis_changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    declared = spec.kinesis_streaming_destination
    if declared is None or KINESIS not in observed.facets:
        return []
    destinations: list[dict[str, Any]] = observed.facets[KINESIS]
    desired = {"streamArn": declared.stream_arn, "enabled": declared.enabled}
    actual = _kinesis_view(destinations, declared.stream_arn)
    if actual["enabled"] == desired["enabled"]:
        return []  # a destination that failed to enable is off: nothing to disable
    if not declared.enabled:
        disable = ("dynamodb:DisableKinesisStreamingDestination",)
        return [Change(KINESIS, actual, desired, Action.UPDATE, disable)]
    others = [
        d["StreamArn"]
        for d in destinations
        if d.get("StreamArn") != declared.stream_arn and d.get("DestinationStatus") in KINESIS_ON
    ]
    calls = ("dynamodb:DisableKinesisStreamingDestination",) * len(others)
    calls += ("dynamodb:EnableKinesisStreamingDestination",)
    if others:
        actual = {**actual, "otherActive": others}
    return [Change(KINESIS, actual, desired, Action.UPDATE, calls)]


def kinesis_after_create(spec: TableSpec) -> list[Change]:
    declared = spec.kinesis_streaming_destination
    if declared is None or not declared.enabled:
        return []
    desired = {"streamArn": declared.stream_arn, "enabled": True}
    return [Change(KINESIS, None, desired, Action.CREATE, ("dynamodb:EnableKinesisStreamingDestination",))]


def write_kinesis(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    if change.path != KINESIS:
        return False
    name, arn = target.aws_name, change.desired["streamArn"]
    if not change.desired["enabled"]:
        aws.ddb.disable_kinesis_streaming_destination(TableName=name, StreamArn=arn)
        return True
    for other in (change.actual or {}).get("otherActive", []):
        aws.ddb.disable_kinesis_streaming_destination(TableName=name, StreamArn=other)
    aws.ddb.enable_kinesis_streaming_destination(TableName=name, StreamArn=arn)
    return True
