"""Property: any valid LaunchTemplate and AutoScalingGroup (with a plain template or a mixed instances
policy) converge in one reconcile, and the next plan is empty (moto server)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec

pytestmark = pytest.mark.aws

COUNTER = itertools.count()
TAG_KEY = st.sampled_from(["team", "env", "cost-center", "app"])
TAG_VALUE = st.sampled_from(["a", "prod", "4711", ""])
TAGS = st.dictionaries(TAG_KEY, TAG_VALUE, max_size=3)


@st.composite
def template_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "imageId": draw(
            st.sampled_from(["ami-0123456789abcdef0", "resolve:ssm:/aws/service/ami-amazon-linux-latest/x"])
        )
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "instanceType": st.sampled_from(["t3.micro", "t3.small", "m5.large"]),
        "keyName": st.sampled_from(["ops", "deploy"]),
        # launching checks that security groups exist: the default VPC's default group stands in
        "securityGroupIds": st.sampled_from([[], ["DEFAULT"]]),
        "iamInstanceProfile": st.sampled_from(
            [{"name": "web"}, {"arn": "arn:aws:iam::123456789012:instance-profile/web"}]
        ),
        "userData": st.text(alphabet="abc \n#!/=", max_size=40),
        "blockDeviceMappings": st.lists(
            st.fixed_dictionaries(
                {"deviceName": st.sampled_from(["/dev/xvda", "/dev/xvdb"])},
                optional={
                    "ebs": st.fixed_dictionaries(
                        {"volumeSize": st.integers(8, 100)},  # moto answers 500 to launches without
                        optional={
                            "volumeType": st.sampled_from(["gp3", "gp2"]),
                            "encrypted": st.booleans(),
                            "deleteOnTermination": st.booleans(),
                        },
                    )
                },
            ).map(lambda m: {"ebs": {"volumeSize": 8}, **m}),
            max_size=2,
            unique_by=lambda m: m["deviceName"],
        ),
        "metadataOptions": st.fixed_dictionaries(
            {},
            optional={
                "httpTokens": st.sampled_from(["required", "optional"]),
                "httpPutResponseHopLimit": st.integers(1, 4),
            },
        ),
        "monitoring": st.booleans(),
        "tagSpecifications": st.fixed_dictionaries({}, optional={"instance": TAGS, "volume": TAGS}),
        "tags": TAGS,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


@st.composite
def group_specs(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.integers(0, 2))
    high = draw(st.integers(low, 3))
    spec: dict[str, Any] = {
        "minSize": low,
        "maxSize": high,
        "availabilityZones": draw(
            st.lists(
                st.sampled_from(["us-east-1a", "us-east-1b", "us-east-1c"]),
                min_size=1,
                max_size=2,
                unique=True,
            )
        ),
    }
    hook = st.fixed_dictionaries(
        {
            "transition": st.sampled_from(
                ["autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"]
            )
        },
        optional={
            "heartbeatTimeoutSeconds": st.integers(30, 7200),
            "defaultResult": st.sampled_from(["CONTINUE", "ABANDON"]),
        },
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "desiredCapacity": st.integers(low, high),
        "healthCheckType": st.sampled_from(["EC2", "ELB"]),
        "healthCheckGracePeriodSeconds": st.integers(1, 600),  # moto 5.2.5 stores 0 as its default 300
        "defaultCooldownSeconds": st.integers(1, 600),  # moto 5.2.5 stores 0 as its default 300
        "terminationPolicies": st.lists(
            st.sampled_from(["OldestLaunchTemplate", "NewestInstance", "Default"]),
            min_size=1,
            max_size=2,
            unique=True,
        ),
        "capacityRebalance": st.booleans(),
        "newInstancesProtectedFromScaleIn": st.booleans(),
        "suspendedProcesses": st.lists(
            st.sampled_from(["AZRebalance", "Terminate", "HealthCheck"]), max_size=2, unique=True
        ),
        "lifecycleHooks": st.lists(hook, max_size=2).map(
            lambda hs: [{"name": f"hook-{i}", **h} for i, h in enumerate(hs)]
        ),
        "tags": TAGS,
        "propagateAtLaunch": st.booleans(),
        "version": st.sampled_from(["$Default", "$Latest", "1"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    if spec.get("tags") and draw(st.booleans()):
        spec["tagPropagation"] = {next(iter(spec["tags"])): draw(st.booleans())}
    if draw(st.booleans()):
        spec["mixedInstancesPolicy"] = draw(mixed_policies())
    if draw(st.booleans()):
        spec["scalingPolicies"] = draw(st.lists(scaling_policies(), min_size=1, max_size=3))
    if draw(st.booleans()):
        spec["scheduledActions"] = draw(st.lists(scheduled_actions(), min_size=1, max_size=2))
    if spec.get("scalingPolicies") or spec.get("scheduledActions"):
        spec.pop("desiredCapacity", None)  # AWS owns it then (the model refuses it)
    if draw(st.booleans()):
        spec["warmPool"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "poolState": st.sampled_from(["Stopped", "Running", "Hibernated"]),
                    "minSize": st.integers(0, 2),
                    "maxGroupPreparedCapacity": st.integers(3, 6),
                    "reuseOnScaleIn": st.booleans(),
                },
            )
        )
    return spec


def scaling_policies() -> st.SearchStrategy[dict[str, Any]]:
    """One policy of each kind the model has (named by the test: moto keys names region-wide)."""
    tracking = st.fixed_dictionaries(
        {
            "targetTracking": st.fixed_dictionaries(
                {
                    "targetValue": st.sampled_from([40, 50.5, 70]),
                    "predefinedMetricSpecification": st.fixed_dictionaries(
                        {
                            "predefinedMetricType": st.sampled_from(
                                ["ASGAverageCPUUtilization", "ASGAverageNetworkIn"]
                            )
                        }
                    ),
                },
                optional={"disableScaleIn": st.booleans()},
            )
        },
        optional={"estimatedInstanceWarmupSeconds": st.integers(0, 600)},
    )
    custom = st.fixed_dictionaries(
        {
            "targetTracking": st.fixed_dictionaries(
                {
                    "targetValue": st.integers(1, 100),
                    "customizedMetricSpecification": st.fixed_dictionaries(
                        {
                            "metricName": st.just("Backlog"),
                            "namespace": st.just("App"),
                            "statistic": st.just("Average"),
                        },
                        optional={
                            "dimensions": st.just([{"name": "Queue", "value": "jobs"}]),
                            "unit": st.just("Count"),
                        },
                    ),
                }
            )
        }
    )
    step = st.fixed_dictionaries(
        {
            "stepScaling": st.fixed_dictionaries(
                {
                    "adjustmentType": st.sampled_from(["ChangeInCapacity", "ExactCapacity"]),
                    "stepAdjustments": st.just(
                        [
                            {"metricIntervalUpperBound": 10, "scalingAdjustment": 1},
                            {"metricIntervalLowerBound": 10, "scalingAdjustment": 2},
                        ]
                    ),
                },
                optional={"metricAggregationType": st.sampled_from(["Average", "Maximum"])},
            )
        }
    )
    simple = st.fixed_dictionaries(
        {
            "simpleScaling": st.fixed_dictionaries(
                {"adjustmentType": st.just("ChangeInCapacity"), "scalingAdjustment": st.integers(-2, 2)},
                optional={"cooldown": st.integers(0, 600)},
            )
        }
    )
    predictive = st.fixed_dictionaries(
        {
            "predictive": st.fixed_dictionaries(
                {
                    "metricSpecifications": st.just(
                        [
                            {
                                "targetValue": 40,
                                "predefinedMetricPairSpecification": {
                                    "predefinedMetricType": "ASGCPUUtilization"
                                },
                            }
                        ]
                    )
                },
                optional={
                    "mode": st.sampled_from(["ForecastOnly", "ForecastAndScale"]),
                    "schedulingBufferTime": st.integers(0, 600),
                },
            )
        }
    )
    return st.one_of(tracking, custom, step, simple, predictive)


def scheduled_actions() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"recurrence": st.sampled_from(["0 8 * * 1-5", "30 20 * * *"]), "maxSize": st.integers(3, 5)},
        optional={"timeZone": st.sampled_from(["UTC", "Europe/Berlin"]), "minSize": st.integers(0, 2)},
    )


@st.composite
def mixed_policies(draw: st.DrawFn) -> dict[str, Any]:
    """A mixed instances policy (its launch template is filled in by the test). moto 5.2.5 keeps the
    policy as sent; maxInstanceLifetimeSeconds is left out (moto ignores it: Stubber tests cover it)."""
    types = draw(
        st.lists(
            st.sampled_from(["m5.large", "m6i.large", "c5.large", "t3.small"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    weights = draw(st.booleans())
    overrides = [
        {"instanceType": t, **({"weightedCapacity": draw(st.integers(1, 4))} if weights else {})}
        for t in types
    ]
    distribution = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "onDemandAllocationStrategy": st.sampled_from(["prioritized", "lowest-price"]),
                "onDemandBaseCapacity": st.integers(0, 2),
                "onDemandPercentageAboveBaseCapacity": st.integers(0, 100),
                "spotAllocationStrategy": st.sampled_from(
                    ["lowest-price", "capacity-optimized", "price-capacity-optimized"]
                ),
                "spotMaxPrice": st.sampled_from(["0.05", "1"]),
            },
        )
    )
    if distribution.get("spotAllocationStrategy", "lowest-price") == "lowest-price" and draw(st.booleans()):
        distribution["spotInstancePools"] = draw(st.integers(1, 20))
    policy: dict[str, Any] = {"overrides": overrides}
    if distribution or draw(st.booleans()):
        policy["instancesDistribution"] = distribution
    return policy


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=template_specs(), group=group_specs())
def test_any_valid_template_and_group_converge_and_then_plan_nothing(
    aws: Any, engine: Engine, clients: AwsClients, template: dict[str, Any], group: dict[str, Any]
) -> None:
    n = next(COUNTER)
    if template.get("securityGroupIds"):
        ec2 = clients.client("ec2", "us-east-1")
        default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
        template = {**template, "securityGroupIds": [default]}
    lt_ref = ObjectRef("LaunchTemplate", "prop", f"lt-{n}", 1)
    lt_spec = LaunchTemplateSpec.model_validate(template)
    templates, groups = LaunchTemplateClient(clients), AutoScalingGroupClient(clients)
    created = engine.reconcile(templates, lt_ref, lt_spec)
    assert created.state is State.READY, (created.reason, created.message)

    version = group.pop("version", None)
    choice: dict[str, Any] = {"name": f"prop-lt-{n}"}
    if version:
        choice["version"] = version
    if "mixedInstancesPolicy" in group:
        group["mixedInstancesPolicy"] = {**group["mixedInstancesPolicy"], "launchTemplate": choice}
    else:
        group["launchTemplate"] = choice
    for key in ("scalingPolicies", "scheduledActions"):  # moto 5.2.5 keys these names region-wide
        if key in group:
            group[key] = [{**item, "name": f"{key[:6]}-{n}-{i}"} for i, item in enumerate(group[key])]
    asg_spec = AutoScalingGroupSpec.model_validate(group)
    asg_ref = ObjectRef("AutoScalingGroup", "prop", f"g-{n}", 1)
    outcome = engine.reconcile(groups, asg_ref, asg_spec)
    assert outcome.state is State.READY, (outcome.reason, outcome.message)

    for client, ref, spec in ((templates, lt_ref, lt_spec), (groups, asg_ref, asg_spec)):
        again = engine.reconcile(client, ref, spec, spec_changed=False, plan_only=True)  # type: ignore[arg-type]
        assert again.state is State.PLANNED, (again.reason, again.message)
        assert again.plan.verb == "none", again.plan.render()
