"""Application Auto Scaling of a provisioned table's capacity, for the table and per index.

awsop registers one scalable target and one target tracking policy per declared dimension (table or index,
read or write) with Application Auto Scaling, its own service and IAM actions, and from then on the capacity
of that dimension is AWS's: capacity.py and indexes.py never compare or write it (ACK community#2033: an
operator fighting the autoscaler). The policies awsop writes carry a name derived from the resource and the
dimension, so the ones it made are told apart from anyone else's; the table carries the tag
`awsop.io/auto-scaling` while awsop has registered anything, so removing `autoScaling` from the spec
deregisters what awsop made without any read for tables that never declared it.

Read (DescribeScalableTargets, DescribeScalingPolicies: targets and policies are kept apart by AWS) only
when declared or recorded. Never: deregister a target awsop did not register (no policy of its name).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..changes import Action, Change
from ..engine import Target
from .spec import ScalingRange, TableAws, TableObserved, TableSpec

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeScalableTargets": ("application-autoscaling:DescribeScalableTargets",),
    "DescribeScalingPolicies": ("application-autoscaling:DescribeScalingPolicies",),
    # Application Auto Scaling creates its service-linked role and reads/sets the table's capacity on the
    # first registration, with the caller's permissions
    "RegisterScalableTarget": (
        "application-autoscaling:RegisterScalableTarget",
        "iam:CreateServiceLinkedRole",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
    ),
    "PutScalingPolicy": (
        "application-autoscaling:PutScalingPolicy",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    ),
    "DeregisterScalableTarget": ("application-autoscaling:DeregisterScalableTarget",),
}
PATH = "autoScaling"
RECORD_TAG = "awsop.io/auto-scaling"
NAMESPACE = "dynamodb"
METRICS = {"read": "DynamoDBReadCapacityUtilization", "write": "DynamoDBWriteCapacityUtilization"}
UNITS = {"read": "ReadCapacityUnits", "write": "WriteCapacityUnits"}


def resource_id(table: str, index: str | None = None) -> str:
    return f"table/{table}" if index is None else f"table/{table}/index/{index}"


def dimension(index: str | None, direction: str) -> str:
    return f"dynamodb:{'table' if index is None else 'index'}:{UNITS[direction]}"


def policy_name(resource: str, direction: str) -> str:
    """awsop's policy name for a dimension (AWS allows 256 characters: long names keep a hash)."""
    name = f"awsop-{resource.replace('/', '-')}-{direction}"
    if len(name) > 256:
        name = name[:240] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8] + f"-{direction}"
    return name


def _key(index: str | None, direction: str) -> str:
    return f"table.{direction}" if index is None else f"index.{index}.{direction}"


def _parse(key: str) -> tuple[str | None, str]:
    parts = key.split(".")
    return (None, parts[1]) if parts[0] == "table" else (".".join(parts[1:-1]), parts[-1])


def _view(bounds: ScalingRange) -> dict[str, Any]:
    return {"min": bounds.min, "max": bounds.max, "targetUtilization": float(bounds.target_utilization)}


def declared(spec: TableSpec) -> dict[str, dict[str, Any]]:
    """Every declared dimension by key (`table.read`, `index.gsi-by-user.write`) -> min/max/target."""
    out = {
        _key(None, d): _view(b)
        for d, b in (spec.auto_scaling.dimensions() if spec.auto_scaling else {}).items()
    }
    for gsi in spec.global_secondary_indexes or []:
        for direction, bounds in (gsi.auto_scaling.dimensions() if gsi.auto_scaling else {}).items():
            out[_key(gsi.name, direction)] = _view(bounds)
    return out


def _wanted(spec: TableSpec, observed: TableObserved) -> dict[str, dict[str, Any]]:
    """Declared dimensions of what exists as PROVISIONED now; an index still to be created, or a table
    still to be switched to PROVISIONED, gets its scaling on the reconcile after that step."""
    if observed.billing_mode != "PROVISIONED":
        return {}
    return {k: v for k, v in declared(spec).items() if _parse(k)[0] is None or _parse(k)[0] in observed.gsis}


def read(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if not declared(target.spec) and RECORD_TAG not in observed.tags:
        return
    name = target.aws_name
    keys = [_key(None, d) for d in UNITS] + [_key(i, d) for i in observed.gsis for d in UNITS]
    by_resource = {(resource_id(name, _parse(k)[0]), dimension(*_parse(k))): k for k in keys}
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "ServiceNamespace": NAMESPACE,
        "ResourceIds": sorted({r for r, _ in by_resource}),
    }
    while True:
        page = aws.scaling.describe_scalable_targets(**kwargs)
        for item in page.get("ScalableTargets", []):
            key = by_resource.get((item.get("ResourceId"), item.get("ScalableDimension")))
            if key is not None:
                found[key] = {"min": item.get("MinCapacity"), "max": item.get("MaxCapacity")}
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    names = {policy_name(r, _parse(k)[1]): k for (r, _), k in by_resource.items()}
    kwargs = {"ServiceNamespace": NAMESPACE, "PolicyNames": sorted(names)}
    while True:
        page = aws.scaling.describe_scaling_policies(**kwargs)
        for policy in page.get("ScalingPolicies", []):
            key = names.get(policy.get("PolicyName", ""))
            if key is None or key not in found:
                continue  # someone else's policy, or ours left behind by a deregistered target
            config = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
            found[key]["targetUtilization"] = float(config.get("TargetValue", 0.0))
            found[key]["ours"] = True
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    observed.facets[PATH] = found


def changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if PATH not in observed.facets:
        return []
    found: dict[str, dict[str, Any]] = observed.facets[PATH]
    wanted = _wanted(spec, observed)
    ours = {k for k, v in found.items() if v.get("ours")}
    actual = {k: _public(found[k]) for k in sorted(set(wanted) | ours) if k in found}
    desired = {k: wanted[k] for k in sorted(wanted)}
    recorded = RECORD_TAG in observed.tags
    calls: list[str] = []
    for key, value in desired.items():
        have = actual.get(key) or {}
        if (have.get("min"), have.get("max")) != (value["min"], value["max"]):
            calls.append("application-autoscaling:RegisterScalableTarget")
        if have.get("targetUtilization") != value["targetUtilization"]:
            calls.append("application-autoscaling:PutScalingPolicy")
    calls += ["application-autoscaling:DeregisterScalableTarget" for k in actual if k not in desired]
    if desired and not recorded:
        calls.append("dynamodb:TagResource")
    if not declared(spec) and recorded:
        calls.append("dynamodb:UntagResource")  # nothing declared any more: forget the record
    if not calls:
        return []
    action = Action.DELETE if not desired else Action.UPDATE
    return [Change(PATH, actual, desired or None, action, tuple(calls))]


def _public(value: dict[str, Any]) -> dict[str, Any]:
    return {k: value.get(k) for k in ("min", "max", "targetUtilization")}


def write(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    if change.path != PATH:
        return False
    name = target.aws_name
    desired: dict[str, dict[str, Any]] = change.desired or {}
    actual: dict[str, dict[str, Any]] = change.actual or {}
    if desired and RECORD_TAG not in observed.tags:
        # the record first: a crash after a registration still lets a later removal find it
        aws.ddb.tag_resource(ResourceArn=observed.arn, Tags=[{"Key": RECORD_TAG, "Value": "registered"}])
        observed.tags[RECORD_TAG] = "registered"
    for key, value in desired.items():
        index, direction = _parse(key)
        resource, dim = resource_id(name, index), dimension(index, direction)
        have = actual.get(key) or {}
        if (have.get("min"), have.get("max")) != (value["min"], value["max"]):
            aws.scaling.register_scalable_target(
                ServiceNamespace=NAMESPACE,
                ResourceId=resource,
                ScalableDimension=dim,
                MinCapacity=value["min"],
                MaxCapacity=value["max"],
            )
        if have.get("targetUtilization") != value["targetUtilization"]:
            aws.scaling.put_scaling_policy(
                PolicyName=policy_name(resource, direction),
                ServiceNamespace=NAMESPACE,
                ResourceId=resource,
                ScalableDimension=dim,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": value["targetUtilization"],
                    "PredefinedMetricSpecification": {"PredefinedMetricType": METRICS[direction]},
                },
            )
    for key in actual:
        if key not in desired:  # AWS deletes the target's policies with it
            index, direction = _parse(key)
            aws.scaling.deregister_scalable_target(
                ServiceNamespace=NAMESPACE,
                ResourceId=resource_id(name, index),
                ScalableDimension=dimension(index, direction),
            )
    if not declared(target.spec) and RECORD_TAG in observed.tags:
        aws.ddb.untag_resource(ResourceArn=observed.arn, TagKeys=[RECORD_TAG])
        del observed.tags[RECORD_TAG]
    return True


def after_create(spec: TableSpec) -> list[Change]:
    """Registered once the table is ACTIVE (the targets need it to exist)."""
    desired = declared(spec)
    if not desired:
        return []
    calls = ["dynamodb:TagResource"]
    calls += [
        call
        for _ in desired
        for call in (
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:PutScalingPolicy",
        )
    ]
    return [Change(PATH, None, desired, Action.CREATE, tuple(calls))]
