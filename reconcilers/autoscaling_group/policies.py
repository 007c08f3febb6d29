"""Scaling policies of an Auto Scaling group (`spec.scalingPolicies`): target tracking (a predefined
metric with its resource label, or a customized CloudWatch metric), step, simple and predictive scaling
(a predefined metric pair, mode, scheduling buffer, max capacity behaviour). Read with one
DescribePolicies per group (AWS reads one group, or every policy of the region, per call: no batch of
named groups), compared by name on the fields the spec declares (AWS reports more, e.g. a target tracking
policy's alarms: not drift), and written with PutScalingPolicy / DeletePolicy.

Only policies awsop created are removed: their names are recorded on the group (`records.py`, tag
POLICY_TAG). A policy someone else added is left alone unless `exclusiveScalingPolicies: true`.
It must never delete a policy it did not record unless exclusive management is declared, and never read
policies of a group that neither declares nor recorded any.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from ..aws import RetryingClient
from ..changes import Action, Change
from ..model import Model
from .records import NAME_PATTERN

POLICY_TAG = "awsop.io/scaling-policies"
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribePolicies": ("autoscaling:DescribePolicies",),
    "PutScalingPolicy": ("autoscaling:PutScalingPolicy",),
    "DeletePolicy": ("autoscaling:DeletePolicy",),
}
POLICIES_MAX = 25  # awsop's bound (AWS's default quota is 50 per group); keeps the CEL cost and record small

ADJUSTMENT_TYPES = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]


class PredefinedMetric(Model):
    """One of Auto Scaling's predefined metrics for target tracking."""

    predefined_metric_type: Literal[
        "ASGAverageCPUUtilization", "ASGAverageNetworkIn", "ASGAverageNetworkOut", "ALBRequestCountPerTarget"
    ] = Field(description="The metric: average CPU, network in/out, or requests per target (ALB).")
    resource_label: str | None = Field(
        None,
        min_length=1,
        max_length=1023,
        description="For ALBRequestCountPerTarget (required there): app/<load-balancer>/<id>/targetgroup/"
        "<target-group>/<id>.",
    )


class MetricDimension(Model):
    """A CloudWatch metric dimension."""

    name: str = Field(min_length=1, max_length=255, description="Dimension name.")
    value: str = Field(min_length=1, max_length=1024, description="Dimension value.")


class CustomizedMetric(Model):
    """A CloudWatch metric for target tracking (its average per instance should track the target)."""

    metric_name: str = Field(min_length=1, max_length=255, description="CloudWatch metric name.")
    namespace: str = Field(min_length=1, max_length=255, description="CloudWatch namespace.")
    dimensions: list[MetricDimension] | None = Field(
        None, max_length=30, description="Dimensions, in order (AWS allows 30)."
    )
    statistic: Literal["Average", "Minimum", "Maximum", "SampleCount", "Sum"] = Field(
        description="Statistic of the metric."
    )
    unit: str | None = Field(None, max_length=64, description="Unit of the metric, e.g. Percent.")


class TargetTracking(Model):
    """Keep a metric at a target value: AWS creates and owns the CloudWatch alarms (shown in status)."""

    target_value: float = Field(description="The value to keep the metric at (e.g. 50 for 50% CPU).")
    predefined_metric_specification: PredefinedMetric | None = Field(
        None, description="A predefined metric. Exactly one of this and customizedMetricSpecification."
    )
    customized_metric_specification: CustomizedMetric | None = Field(
        None, description="A CloudWatch metric. Exactly one of this and predefinedMetricSpecification."
    )
    disable_scale_in: bool = Field(
        False, description="Never scale in through this policy (AWS default false, compared as such)."
    )


class StepAdjustment(Model):
    """One step: while the alarm's breach is within the bounds, adjust by scalingAdjustment."""

    metric_interval_lower_bound: float | None = Field(
        None, description="Lower bound of the breach (inclusive); absent: negative infinity."
    )
    metric_interval_upper_bound: float | None = Field(
        None, description="Upper bound of the breach (exclusive); absent: infinity."
    )
    scaling_adjustment: int = Field(description="Instances (or percent) to add; negative removes.")


class StepScaling(Model):
    """Scale in steps sized by how far a CloudWatch alarm (yours, pointing at the policy's ARN) breaches."""

    adjustment_type: ADJUSTMENT_TYPES = Field(description="How scalingAdjustment is read.")
    step_adjustments: list[StepAdjustment] = Field(
        min_length=1, max_length=20, description="The steps, in order (compared in order)."
    )
    metric_aggregation_type: Literal["Minimum", "Maximum", "Average"] | None = Field(
        None, description="Aggregation of the alarm's metric (AWS default Average)."
    )
    min_adjustment_magnitude: int | None = Field(
        None, ge=1, description="With PercentChangeInCapacity: the least number of instances to change."
    )


class SimpleScaling(Model):
    """Scale by one adjustment each time a CloudWatch alarm (yours) fires, then wait the cooldown."""

    adjustment_type: ADJUSTMENT_TYPES = Field(description="How scalingAdjustment is read.")
    scaling_adjustment: int = Field(description="Instances (or percent) to add; negative removes.")
    cooldown: int | None = Field(
        None, ge=0, le=86400, description="Seconds before another simple scaling activity (else the group's)."
    )
    min_adjustment_magnitude: int | None = Field(
        None, ge=1, description="With PercentChangeInCapacity: the least number of instances to change."
    )


class PredictiveMetricPair(Model):
    """A predefined load and scaling metric pair for predictive scaling."""

    predefined_metric_type: Literal[
        "ASGCPUUtilization", "ASGNetworkIn", "ASGNetworkOut", "ALBRequestCount"
    ] = Field(description="The pair: CPU, network in/out, or ALB request count.")
    resource_label: str | None = Field(
        None, min_length=1, max_length=1023, description="For ALBRequestCount: the target group's label."
    )


class PredictiveMetric(Model):
    """What predictive scaling forecasts and the value it plans capacity for."""

    target_value: float = Field(description="Target utilization the forecast capacity is sized for.")
    predefined_metric_pair_specification: PredictiveMetricPair = Field(description="The metric pair.")


class Predictive(Model):
    """Forecast load from history and scale ahead of it."""

    metric_specifications: list[PredictiveMetric] = Field(
        min_length=1, max_length=1, description="The metric (AWS takes exactly one)."
    )
    mode: Literal["ForecastOnly", "ForecastAndScale"] = Field(
        "ForecastOnly", description="ForecastOnly (AWS default) or ForecastAndScale."
    )
    scheduling_buffer_time: int | None = Field(
        None, ge=0, le=3600, description="Seconds to launch instances ahead of the forecast."
    )
    max_capacity_breach_behavior: Literal["HonorMaxCapacity", "IncreaseMaxCapacity"] | None = Field(
        None, description="Whether the forecast may raise maxSize (AWS default HonorMaxCapacity)."
    )
    max_capacity_buffer: int | None = Field(
        None, ge=0, le=100, description="With IncreaseMaxCapacity: percent above the forecast."
    )


KINDS = ("targetTracking", "stepScaling", "simpleScaling", "predictive")
POLICY_TYPES = {
    "targetTracking": "TargetTrackingScaling",
    "stepScaling": "StepScaling",
    "simpleScaling": "SimpleScaling",
    "predictive": "PredictiveScaling",
}


POLICY_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.targetTracking) ? 1 : 0) + (has(self.stepScaling) ? 1 : 0) + "
        "(has(self.simpleScaling) ? 1 : 0) + (has(self.predictive) ? 1 : 0) == 1",
        "message": "scalingPolicies: set exactly one of targetTracking, stepScaling, simpleScaling and "
        "predictive",
    },
    {
        "rule": "!has(self.targetTracking) || has(self.targetTracking.predefinedMetricSpecification) != "
        "has(self.targetTracking.customizedMetricSpecification)",
        "message": "scalingPolicies.targetTracking: set exactly one of predefinedMetricSpecification and "
        "customizedMetricSpecification",
    },
    {
        "rule": "!has(self.targetTracking) || !has(self.targetTracking.predefinedMetricSpecification) || "
        "(self.targetTracking.predefinedMetricSpecification.predefinedMetricType == "
        "'ALBRequestCountPerTarget') == has(self.targetTracking.predefinedMetricSpecification.resourceLabel)",
        "message": "scalingPolicies.targetTracking.predefinedMetricSpecification.resourceLabel: required "
        "with ALBRequestCountPerTarget and only with it",
    },
    {
        "rule": "!has(self.estimatedInstanceWarmupSeconds) || has(self.targetTracking) || "
        "has(self.stepScaling)",
        "message": "scalingPolicies.estimatedInstanceWarmupSeconds: only for targetTracking and stepScaling",
    },
]


class ScalingPolicy(Model):
    """One scaling policy, kept in sync by name: exactly one of targetTracking, stepScaling,
    simpleScaling and predictive."""

    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"x-kubernetes-validations": POLICY_RULES}
    )

    name: str = Field(
        min_length=1, max_length=128, pattern=NAME_PATTERN, description="Policy name, unique in the group."
    )
    target_tracking: TargetTracking | None = Field(None, description="A target tracking policy.")
    step_scaling: StepScaling | None = Field(None, description="A step scaling policy.")
    simple_scaling: SimpleScaling | None = Field(None, description="A simple scaling policy.")
    predictive: Predictive | None = Field(None, description="A predictive scaling policy.")
    estimated_instance_warmup_seconds: int | None = Field(
        None,
        ge=0,
        le=86400,
        description="Target tracking and step scaling: seconds until a new instance's metrics count.",
    )

    @model_validator(mode="after")
    def _one(self) -> ScalingPolicy:
        kinds = [self.target_tracking, self.step_scaling, self.simple_scaling, self.predictive]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError(
                f"scalingPolicies.{self.name}: set exactly one of targetTracking, stepScaling, "
                "simpleScaling and predictive"
            )
        tracking = self.target_tracking
        if tracking is not None:
            if (tracking.predefined_metric_specification is None) == (
                tracking.customized_metric_specification is None
            ):
                raise ValueError(
                    f"scalingPolicies.{self.name}.targetTracking: set exactly one of "
                    "predefinedMetricSpecification and customizedMetricSpecification"
                )
            metric = tracking.predefined_metric_specification
            if metric and (metric.predefined_metric_type == "ALBRequestCountPerTarget") != bool(
                metric.resource_label
            ):
                raise ValueError(
                    f"scalingPolicies.{self.name}.targetTracking.predefinedMetricSpecification."
                    "resourceLabel: required with ALBRequestCountPerTarget and only with it"
                )
        if self.estimated_instance_warmup_seconds is not None and (
            self.simple_scaling is not None or self.predictive is not None
        ):
            raise ValueError(
                f"scalingPolicies.{self.name}.estimatedInstanceWarmupSeconds: only for targetTracking and "
                "stepScaling"
            )
        return self


def _pascal(value: Any) -> Any:
    """A model dump (camelCase keys) in AWS's shape (PascalCase keys)."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    return value


def desired_policy(policy: ScalingPolicy) -> dict[str, Any]:
    """PutScalingPolicy's arguments for the policy (without group and name): also the form it is
    compared in, against DescribePolicies' answer reduced to these keys (`project`)."""
    dump = policy.model_dump(by_alias=True, exclude_none=True)
    kind = next(k for k in KINDS if k in dump)
    out: dict[str, Any] = {"PolicyType": POLICY_TYPES[kind]}
    body = _pascal(dump[kind])
    if kind == "targetTracking":
        out["TargetTrackingConfiguration"] = body
    elif kind == "predictive":
        out["PredictiveScalingConfiguration"] = body
    else:
        out.update(body)
    if policy.estimated_instance_warmup_seconds is not None:
        out["EstimatedInstanceWarmup"] = policy.estimated_instance_warmup_seconds
    return out


def project(actual: Any, desired: Any) -> Any:
    """`actual` reduced to the keys `desired` has, recursively: what AWS adds (alarms, ARNs, defaults the
    spec does not declare) is not drift."""
    if isinstance(desired, dict) and isinstance(actual, dict):
        return {key: project(actual.get(key), value) for key, value in desired.items()}
    if isinstance(desired, list) and isinstance(actual, list) and len(actual) == len(desired):
        return [project(a, d) for a, d in zip(actual, desired, strict=True)]
    return actual


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested maps as dotted keys (`TargetTrackingConfiguration.TargetValue`), so a change names the
    field that differs; lists stay values (step adjustments are compared in order)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict) and item:
            out.update(flatten(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def with_aws_defaults(found: dict[str, Any]) -> dict[str, Any]:
    """A DescribePolicies entry with the defaults AWS documents where the answer leaves them out (moto
    5.2.5 answers what was sent; AWS reports DisableScaleIn and Mode always)."""
    out = dict(found)
    if out.get("TargetTrackingConfiguration"):
        out["TargetTrackingConfiguration"] = {"DisableScaleIn": False, **out["TargetTrackingConfiguration"]}
    if out.get("PredictiveScalingConfiguration"):
        out["PredictiveScalingConfiguration"] = {
            "Mode": "ForecastOnly",
            **out["PredictiveScalingConfiguration"],
        }
    return out


def compared(found: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The AWS side of a declared policy in the compared form (only the declared keys, flattened)."""
    return flatten(project(with_aws_defaults(found), want))


def read_policies(autoscaling: RetryingClient, group: str) -> dict[str, dict[str, Any]]:
    """Every scaling policy of the group by name, as DescribePolicies answers it (paginated)."""
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"AutoScalingGroupName": group, "MaxRecords": 100}
    while True:
        page = autoscaling.describe_policies(**kwargs)
        for policy in page.get("ScalingPolicies", []):
            found[policy["PolicyName"]] = dict(policy)
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def policy_changes(
    declared: list[ScalingPolicy] | None,
    actual: dict[str, dict[str, Any]] | None,
    recorded: set[str],
    exclusive: bool,
) -> list[Change]:
    """A change per declared policy that is missing or differs on a declared field, and a removal per
    policy in AWS that awsop recorded (or any, with exclusive management) and the spec no longer has."""
    if actual is None:
        return []
    changes = []
    for policy in declared or []:
        want = desired_policy(policy)
        found = actual.get(policy.name)
        if found is None:
            changes.append(
                Change(
                    f"scalingPolicies.{policy.name}",
                    None,
                    flatten(want),
                    Action.CREATE,
                    ("autoscaling:PutScalingPolicy",),
                )
            )
        elif compared(found, want) != flatten(want):
            changes.append(
                Change(
                    f"scalingPolicies.{policy.name}",
                    compared(found, want),
                    flatten(want),
                    Action.UPDATE,
                    ("autoscaling:PutScalingPolicy",),
                )
            )
    names = {policy.name for policy in declared or []}
    for name in sorted(set(actual) - names):
        if exclusive or name in recorded:
            changes.append(
                Change(
                    f"scalingPolicies.{name}",
                    actual[name].get("PolicyType"),
                    None,
                    Action.DELETE,
                    ("autoscaling:DeletePolicy",),
                )
            )
    return changes


def plan_policies(declared: list[ScalingPolicy] | None) -> list[Change]:
    return [
        Change(
            f"scalingPolicies.{policy.name}",
            None,
            flatten(desired_policy(policy)),
            Action.CREATE,
            ("autoscaling:PutScalingPolicy",),
        )
        for policy in declared or []
    ]


def put_policy(autoscaling: RetryingClient, group: str, policy: ScalingPolicy) -> None:
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=policy.name, **desired_policy(policy)
    )


def apply_policies(
    autoscaling: RetryingClient, group: str, declared: list[ScalingPolicy] | None, changes: list[Change]
) -> set[str]:
    """Put or delete the policies the changes name; the names deleted."""
    by_name = {policy.name: policy for policy in declared or []}
    deleted = set()
    for change in changes:
        if change.path.startswith("scalingPolicies."):
            name = change.path.split(".", 1)[1]
            if change.action is Action.DELETE:
                autoscaling.delete_policy(AutoScalingGroupName=group, PolicyName=name)
                deleted.add(name)
            else:
                put_policy(autoscaling, group, by_name[name])
    return deleted


def policy_status(
    declared: list[ScalingPolicy] | None, actual: dict[str, dict[str, Any]] | None
) -> list[Any]:
    """Each declared policy's ARN and, for target tracking, the alarms AWS made for it."""
    out = []
    for policy in declared or []:
        found = (actual or {}).get(policy.name)
        if found is None:
            continue
        entry: dict[str, Any] = {"name": policy.name, "arn": found.get("PolicyARN")}
        if found.get("Alarms"):
            entry["alarms"] = sorted(a.get("AlarmName", "") for a in found["Alarms"])
        out.append(entry)
    return out
