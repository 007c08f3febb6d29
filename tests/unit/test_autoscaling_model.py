"""The AutoScalingGroup spec's mixed instances policy and maximum instance lifetime: rules in the model AND
as CEL rules in the CRD (both name the field and the reason, and they agree), and the pure diff's
comparison rules (AWS's documented defaults are not drift)."""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from pydantic import ValidationError

from awsop.operator.crdgen import crd
from awsop.reconcilers.autoscaling_group import (
    AutoScalingGroupClient,
    AutoScalingGroupSpec,
    observed_from,
)
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.engine import ObjectRef, Target
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.policies import DeletionPolicy
from awsop.reconcilers.tags import KIND_TAG, OWNER_TAG

BASE: dict[str, Any] = {"minSize": 1, "maxSize": 4, "availabilityZones": ["us-east-1a"]}
MIXED: dict[str, Any] = {
    "launchTemplate": {"name": "web"},
    "overrides": [{"instanceType": "m5.large"}, {"instanceType": "m6i.large"}],
}


CPU: dict[str, Any] = {
    "name": "cpu",
    "targetTracking": {
        "targetValue": 50,
        "predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
    },
}
MORNING: dict[str, Any] = {
    "name": "morning",
    "recurrence": "0 8 * * 1-5",
    "timeZone": "Europe/Berlin",
    "minSize": 2,
}


def mixed(**fields: Any) -> dict[str, Any]:
    return {**BASE, "mixedInstancesPolicy": {**MIXED, **fields}}


VALID = [
    ("plain-template", {**BASE, "launchTemplate": {"name": "web"}}),
    ("mixed-minimal", mixed()),
    (
        "mixed-weighted-spot",
        mixed(
            overrides=[
                {"instanceType": "m5.large", "weightedCapacity": 2},
                {"instanceType": "m5.xlarge", "weightedCapacity": 4},
            ],
            instancesDistribution={
                "onDemandBaseCapacity": 1,
                "onDemandPercentageAboveBaseCapacity": 25,
                "spotAllocationStrategy": "price-capacity-optimized",
                "spotMaxPrice": "0.05",
            },
        ),
    ),
    ("pools-with-lowest-price", mixed(instancesDistribution={"spotInstancePools": 4})),
    ("lifetime-zero-clears", {**BASE, "launchTemplate": {"id": "lt-0abc"}, "maxInstanceLifetimeSeconds": 0}),
    ("lifetime-one-day", {**BASE, "launchTemplate": {"id": "lt-0abc"}, "maxInstanceLifetimeSeconds": 86400}),
    (
        "every-policy-kind",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "scalingPolicies": [
                CPU,
                {
                    "name": "alb",
                    "targetTracking": {
                        "targetValue": 1000,
                        "predefinedMetricSpecification": {
                            "predefinedMetricType": "ALBRequestCountPerTarget",
                            "resourceLabel": "app/web/1/targetgroup/web/2",
                        },
                    },
                },
                {
                    "name": "queue",
                    "targetTracking": {
                        "targetValue": 10,
                        "customizedMetricSpecification": {
                            "metricName": "Backlog",
                            "namespace": "App",
                            "statistic": "Average",
                            "dimensions": [{"name": "Queue", "value": "jobs"}],
                        },
                    },
                },
                {
                    "name": "step",
                    "stepScaling": {
                        "adjustmentType": "ChangeInCapacity",
                        "stepAdjustments": [{"metricIntervalLowerBound": 0, "scalingAdjustment": 1}],
                    },
                    "estimatedInstanceWarmupSeconds": 60,
                },
                {
                    "name": "simple",
                    "simpleScaling": {"adjustmentType": "ExactCapacity", "scalingAdjustment": 2},
                },
                {
                    "name": "forecast",
                    "predictive": {
                        "metricSpecifications": [
                            {
                                "targetValue": 40,
                                "predefinedMetricPairSpecification": {
                                    "predefinedMetricType": "ASGCPUUtilization"
                                },
                            }
                        ],
                        "mode": "ForecastAndScale",
                        "schedulingBufferTime": 300,
                    },
                },
            ],
            "scheduledActions": [MORNING],
        },
    ),
    (
        "warm-pool-maintenance-warmup",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "warmPool": {"poolState": "Hibernated", "minSize": 1, "reuseOnScaleIn": True},
            "instanceMaintenancePolicy": {"minHealthyPercentage": 90, "maxHealthyPercentage": 150},
            "defaultInstanceWarmupSeconds": 120,
        },
    ),
]
INVALID = [
    (
        "maintenance-window-over-100",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "instanceMaintenancePolicy": {"minHealthyPercentage": 50, "maxHealthyPercentage": 200},
        },
        "instanceMaintenancePolicy: maxHealthyPercentage may be at most 100 above",
    ),
    (
        "desired-capacity-with-policies",
        {**BASE, "launchTemplate": {"name": "web"}, "desiredCapacity": 2, "scalingPolicies": [CPU]},
        "desiredCapacity: leave it out when scalingPolicies or scheduledActions are declared",
    ),
    (
        "desired-capacity-with-schedule",
        {**BASE, "launchTemplate": {"name": "web"}, "desiredCapacity": 2, "scheduledActions": [MORNING]},
        "desiredCapacity: leave it out when scalingPolicies or scheduledActions are declared",
    ),
    (
        "policy-of-two-kinds",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "scalingPolicies": [
                {**CPU, "simpleScaling": {"adjustmentType": "ChangeInCapacity", "scalingAdjustment": 1}}
            ],
        },
        "set exactly one of targetTracking, stepScaling, simpleScaling and predictive",
    ),
    (
        "alb-metric-without-label",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "scalingPolicies": [
                {
                    "name": "alb",
                    "targetTracking": {
                        "targetValue": 1000,
                        "predefinedMetricSpecification": {"predefinedMetricType": "ALBRequestCountPerTarget"},
                    },
                }
            ],
        },
        "resourceLabel: required with ALBRequestCountPerTarget",
    ),
    (
        "duplicate-policy-names",
        {**BASE, "launchTemplate": {"name": "web"}, "scalingPolicies": [CPU, CPU]},
        "scalingPolicies: names must be unique",
    ),
    (
        "schedule-without-time",
        {**BASE, "launchTemplate": {"name": "web"}, "scheduledActions": [{"name": "x", "minSize": 1}]},
        "set recurrence, startTime or both",
    ),
    (
        "schedule-without-sizes",
        {
            **BASE,
            "launchTemplate": {"name": "web"},
            "scheduledActions": [{"name": "x", "recurrence": "0 8 * * *"}],
        },
        "set at least one of minSize, maxSize, desiredCapacity",
    ),
    ("neither-template-nor-policy", BASE, "exactly one of launchTemplate and mixedInstancesPolicy"),
    (
        "both-template-and-policy",
        {**mixed(), "launchTemplate": {"name": "web"}},
        "exactly one of launchTemplate and mixedInstancesPolicy",
    ),
    (
        "weights-on-some-overrides",
        mixed(overrides=[{"instanceType": "m5.large", "weightedCapacity": 2}, {"instanceType": "m5.xlarge"}]),
        "mixedInstancesPolicy.overrides: set weightedCapacity on every override or on none",
    ),
    (
        "duplicate-instance-type",
        mixed(overrides=[{"instanceType": "m5.large"}, {"instanceType": "m5.large"}]),
        "mixedInstancesPolicy.overrides: instance types must be unique",
    ),
    (
        "pools-with-capacity-optimized",
        mixed(instancesDistribution={"spotAllocationStrategy": "capacity-optimized", "spotInstancePools": 3}),
        "spotInstancePools: only valid with spotAllocationStrategy lowest-price",
    ),
    (
        "lifetime-under-a-day",
        {**BASE, "launchTemplate": {"id": "lt-0abc"}, "maxInstanceLifetimeSeconds": 3600},
        "maxInstanceLifetimeSeconds .* must be 0 or at least 86400",
    ),
    (
        "policy-template-two-choices",
        mixed(launchTemplate={"name": "web", "id": "lt-0abc"}),
        "launchTemplate: set exactly one of ref, id and name",
    ),
]


@pytest.mark.parametrize(("spec", "reason"), [(s, r) for _, s, r in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_group_specs_are_rejected_by_the_model_with_the_field_and_reason(
    spec: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        AutoScalingGroupSpec.model_validate(spec)


@pytest.mark.parametrize("spec", [s for _, s in VALID], ids=[i for i, _ in VALID])
def test_valid_group_specs_are_accepted_by_the_model(spec: dict[str, Any]) -> None:
    AutoScalingGroupSpec.model_validate(spec)


def _schema() -> dict[str, Any]:
    root = crd(KINDS["AutoScalingGroup"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root["properties"]["spec"]  # type: ignore[no-any-return]


def _violations(schema: dict[str, Any], value: Any, env: celpy.Environment) -> list[str]:
    """Every CEL rule of every schema node the value reaches, evaluated as the API server does."""
    out = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue
        program = env.program(env.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
            out.append(rule["message"])
    if isinstance(value, dict):
        for key, item in value.items():
            if key in schema.get("properties", {}):
                out += _violations(schema["properties"][key], item, env)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            out += _violations(schema["items"], item, env)
    return out


def crd_messages(spec: dict[str, Any]) -> list[str]:
    return _violations(_schema(), spec, celpy.Environment())


CEL_CASES = [(i, s, None) for i, s in VALID] + [(i, s, r) for i, s, r in INVALID]


@pytest.mark.parametrize(
    ("spec", "reason"), [(s, r) for _, s, r in CEL_CASES], ids=[i for i, _, _ in CEL_CASES]
)
def test_crd_cel_rules_agree_with_the_model(spec: dict[str, Any], reason: str | None) -> None:
    messages = crd_messages(spec)
    if reason is None:
        assert messages == []
    else:
        assert messages, "the CRD accepts what the model rejects"
        assert any(m.startswith(reason.split(" .*")[0]) or reason.split(" .*")[0] in m for m in messages)


# -- the pure diff ---------------------------------------------------------------------------------------


def _target(spec: dict[str, Any]) -> Target[AutoScalingGroupSpec]:
    model = AutoScalingGroupSpec.model_validate(spec)
    tags = {OWNER_TAG: "c/ns/g", KIND_TAG: "AutoScalingGroup"}
    return Target(
        ObjectRef("AutoScalingGroup", "ns", "g", 1),
        model,
        "ns-g",
        "us-east-1",
        "c/ns/g",
        tags,
        DeletionPolicy.DELETE,
    )


def _group(**fields: Any) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": "ns-g",
        "MinSize": 1,
        "MaxSize": 4,
        "DesiredCapacity": 1,
        "AvailabilityZones": ["us-east-1a"],
        "Tags": [
            {"Key": OWNER_TAG, "Value": "c/ns/g", "PropagateAtLaunch": False},
            {"Key": KIND_TAG, "Value": "AutoScalingGroup", "PropagateAtLaunch": False},
        ],
        **fields,
    }


def _policy(
    distribution: dict[str, Any] | None, overrides: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {
                "LaunchTemplateId": "lt-0abc",
                "LaunchTemplateName": "web",
                "Version": "$Default",
            },
            "Overrides": overrides or [{"InstanceType": "m5.large"}, {"InstanceType": "m6i.large"}],
        }
    }
    if distribution is not None:
        policy["InstancesDistribution"] = distribution
    return policy


AWS_DEFAULTS = {  # what DescribeAutoScalingGroups reports for a policy created without a distribution
    "OnDemandAllocationStrategy": "prioritized",
    "OnDemandBaseCapacity": 0,
    "OnDemandPercentageAboveBaseCapacity": 100,
    "SpotAllocationStrategy": "lowest-price",
    "SpotInstancePools": 2,
}


def _diff(spec: dict[str, Any], group: dict[str, Any]) -> list[str]:
    client = AutoScalingGroupClient(AwsClients(AwsConfig(default_region="us-east-1")))
    return [c.explain() for c in client.diff(_target(spec), observed_from(group))]


@pytest.mark.parametrize(
    ("spec", "distribution", "expected"),
    [
        (mixed(), AWS_DEFAULTS, []),
        (mixed(), None, []),  # moto 5.2.5 may store no distribution at all
        (mixed(instancesDistribution={"onDemandBaseCapacity": 1}), {"OnDemandBaseCapacity": 1}, []),
        (
            mixed(instancesDistribution={"spotAllocationStrategy": "capacity-optimized"}),
            {**AWS_DEFAULTS, "SpotAllocationStrategy": "capacity-optimized", "SpotInstancePools": None},
            [],
        ),
        (
            mixed(),
            {**AWS_DEFAULTS, "OnDemandPercentageAboveBaseCapacity": 50},
            ["mixedInstancesPolicy.instancesDistribution: {onDemandPercentageAboveBaseCapacity: 50 -> 100}"],
        ),
        (
            mixed(instancesDistribution={"spotMaxPrice": "0.05"}),
            {**AWS_DEFAULTS, "SpotMaxPrice": "0.04"},
            ["mixedInstancesPolicy.instancesDistribution: {spotMaxPrice: 0.04 -> 0.05}"],
        ),
        (mixed(), {**AWS_DEFAULTS, "SpotMaxPrice": ""}, []),
    ],
    ids=[
        "aws-reports-defaults",
        "no-distribution-answered",
        "declared-field-only-answered",
        "pools-absent-with-capacity-optimized",
        "undeclared-field-changed-out-of-band",
        "declared-max-price-changed",
        "empty-max-price-is-none",
    ],
)
def test_mixed_policy_defaults_are_not_drift(
    spec: dict[str, Any], distribution: dict[str, Any] | None, expected: list[str]
) -> None:
    if distribution is not None:
        distribution = {k: v for k, v in distribution.items() if v is not None}
    group = _group(MixedInstancesPolicy=_policy(distribution))
    assert _diff(spec, group) == expected


def test_mixed_policy_overrides_compared_in_order_with_weights() -> None:
    group = _group(
        MixedInstancesPolicy=_policy(
            AWS_DEFAULTS, [{"InstanceType": "m6i.large"}, {"InstanceType": "m5.large"}]
        )
    )
    assert _diff(mixed(), group) == [
        "mixedInstancesPolicy.overrides[0]: {instanceType: m6i.large -> m5.large}; "
        "mixedInstancesPolicy.overrides[1]: {instanceType: m5.large -> m6i.large}"
    ]
    weighted = mixed(overrides=[{"instanceType": "m5.large", "weightedCapacity": 2}])
    group = _group(
        MixedInstancesPolicy=_policy(AWS_DEFAULTS, [{"InstanceType": "m5.large", "WeightedCapacity": "2"}])
    )
    assert _diff(weighted, group) == []


def test_plain_template_group_switching_to_a_mixed_policy_is_one_change() -> None:
    group = _group(
        LaunchTemplate={"LaunchTemplateId": "lt-0abc", "LaunchTemplateName": "web", "Version": "$Default"}
    )
    changes = _diff(mixed(), group)
    assert len(changes) == 1 and changes[0].startswith("mixedInstancesPolicy: (none) -> ")
    back = _diff(
        {**BASE, "launchTemplate": {"name": "web"}}, _group(MixedInstancesPolicy=_policy(AWS_DEFAULTS))
    )
    assert back == ['launchTemplate: (none) -> {"name":"web","version":"$Default"}']


@pytest.mark.parametrize(
    ("declared", "answered", "expected"),
    [
        (None, 604800, []),  # not declared: not compared
        (0, None, []),  # 0 clears the limit; AWS then reports none
        (86400, None, ["maxInstanceLifetimeSeconds: 0 -> 86400"]),
        (86400, 86400, []),
    ],
    ids=["undeclared", "zero-is-none", "set", "equal"],
)
def test_max_instance_lifetime_compared_only_when_declared(
    declared: int | None, answered: int | None, expected: list[str]
) -> None:
    spec = {**BASE, "launchTemplate": {"name": "web"}}
    if declared is not None:
        spec["maxInstanceLifetimeSeconds"] = declared
    fields = {"LaunchTemplate": {"LaunchTemplateName": "web", "Version": "$Default"}}
    if answered is not None:
        fields["MaxInstanceLifetime"] = answered
    assert _diff(spec, _group(**fields)) == expected


def test_named_lists_must_fit_their_record_tag_model_only() -> None:
    """awsop records policy and action names in one tag value (256 characters). The model refuses more,
    naming the field; the CRD cannot (a sum over the names costs too much CEL): a CLI error or Stalled."""
    names = [{**CPU, "name": f"{i}-" + "x" * 100} for i in range(3)]
    with pytest.raises(ValidationError, match="scalingPolicies: the names together"):
        AutoScalingGroupSpec.model_validate(
            {**BASE, "launchTemplate": {"name": "web"}, "scalingPolicies": names}
        )
