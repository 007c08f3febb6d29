"""The AutoScalingGroup spec and status models, autoscaling.awsop.io/v1alpha1: every field with its
description, its rules in the model and, the same rules, as CEL in the CRD (both name the field).

The models of a sub-resource family (lifecycle hooks, instance refresh, scaling policies, ...) live in that
family's module; this one composes them. It must never do I/O.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from ..model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from ..refs import LocalName, NamedDependency, Reference
from .hooks import LifecycleHook
from .policies import POLICIES_MAX, ScalingPolicy
from .records import record_fits
from .refresh import InstanceRefresh, RefreshStatus
from .schedules import ACTIONS_MAX, ScheduledAction
from .traffic import LIST_RULES as TRAFFIC_RULES
from .traffic import SOURCES_MAX, TrafficSource
from .warm_pool import WarmPool


def _named_list_rules(path: str) -> list[JsonValue]:
    return [
        {
            "rule": "self.all(x, self.exists_one(y, y.name == x.name))",
            "message": f"{path}: names must be unique",
        },
    ]


# What AWS (or the group's client, reading it) answers while a launch template named by name or id does
# not exist (yet): the engine reports it as DependencyNotReady (`AutoScalingGroupSpec.named_dependencies`).
TEMPLATE_MISSING = frozenset(
    {
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateId.NotFoundException",
        "LaunchTemplateNotFound",
    }
)

# -- spec ------------------------------------------------------------------------------------------

PROCESSES = Literal[
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
]
TERMINATION_POLICIES = Literal[
    "Default",
    "AllocationStrategy",
    "OldestLaunchTemplate",
    "OldestLaunchConfiguration",
    "ClosestToNextInstanceHour",
    "NewestInstance",
    "OldestInstance",
]
VERSION_PATTERN = r"^(\$Latest|\$Default|[0-9]+)$"
TARGET_GROUPS_MAX = 100  # awsop's bound, so the CEL rule comparing it with trafficSources has a cost


class LaunchTemplateChoice(Model):
    """Which launch template the group launches from: exactly one of ref, id and name."""

    ref: LocalName | None = Field(
        None,
        description="A LaunchTemplate object in this namespace; the group follows its default version.",
    )
    id: str | None = Field(None, pattern=r"^lt-[0-9a-f]+$", description="Launch template id (lt-...).")
    name: str | None = Field(None, min_length=3, max_length=128, description="Launch template name.")
    version: str | None = Field(
        None,
        pattern=VERSION_PATTERN,
        description="Version number, $Latest or $Default (the default). With ref: the template's default "
        "version number, resolved by awsop, unless set.",
    )

    @model_validator(mode="after")
    def _one(self) -> LaunchTemplateChoice:
        if sum(x is not None for x in (self.ref, self.id, self.name)) != 1:
            raise ValueError("launchTemplate: set exactly one of ref, id and name")
        return self


LAUNCH_TEMPLATE_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.ref) ? 1 : 0) + (has(self.id) ? 1 : 0) + (has(self.name) ? 1 : 0) == 1",
        "message": "launchTemplate: set exactly one of ref, id and name",
    }
]


ON_DEMAND_STRATEGIES = Literal["prioritized", "lowest-price"]
SPOT_STRATEGIES = Literal[
    "lowest-price", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"
]
# What DescribeAutoScalingGroups reports for an InstancesDistribution field the group was created or
# updated without (AWS API reference, InstancesDistribution; no InstanceRequirements in awsop's overrides,
# so the on-demand default is "prioritized"). A field the spec leaves out is compared with its default.
DISTRIBUTION_DEFAULTS: dict[str, Any] = {
    "onDemandAllocationStrategy": "prioritized",
    "onDemandBaseCapacity": 0,
    "onDemandPercentageAboveBaseCapacity": 100,
    "spotAllocationStrategy": "lowest-price",
    "spotInstancePools": 2,  # only meaningful (and only reported) with spotAllocationStrategy lowest-price
    "spotMaxPrice": None,  # no maximum: AWS pays the current Spot price (sending "" clears a maximum)
}
DISTRIBUTION_AWS = {
    "onDemandAllocationStrategy": "OnDemandAllocationStrategy",
    "onDemandBaseCapacity": "OnDemandBaseCapacity",
    "onDemandPercentageAboveBaseCapacity": "OnDemandPercentageAboveBaseCapacity",
    "spotAllocationStrategy": "SpotAllocationStrategy",
    "spotInstancePools": "SpotInstancePools",
    "spotMaxPrice": "SpotMaxPrice",
}
LIFETIME_MIN = 86400  # MaxInstanceLifetime: 0 (none) or at least one day (AWS API reference)


class InstanceTypeOverride(Model):
    """One instance type the group may launch, in priority order."""

    instance_type: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$",
        description="EC2 instance type, e.g. m5.large (overrides the launch template's instance type).",
    )
    weighted_capacity: int | None = Field(
        None,
        ge=1,
        le=999,
        description="Capacity units one instance of this type counts for (1-999). Set it on every "
        "override or on none; with weights, minSize, maxSize and desiredCapacity are in these units.",
    )


OVERRIDE_RULES: list[JsonValue] = [
    {
        "rule": "self.all(o, has(o.weightedCapacity)) || self.all(o, !has(o.weightedCapacity))",
        "message": "mixedInstancesPolicy.overrides: set weightedCapacity on every override or on none",
    },
    {
        "rule": "self.all(o, self.exists_one(p, p.instanceType == o.instanceType))",
        "message": "mixedInstancesPolicy.overrides: instance types must be unique",
    },
]


class InstancesDistribution(Model):
    """How capacity is split between On-Demand and Spot instances. A field left out is AWS's default
    (compared as such: an out-of-band change to it is drift)."""

    on_demand_allocation_strategy: ON_DEMAND_STRATEGIES | None = Field(
        None, description="prioritized (the overrides' order; AWS default) or lowest-price."
    )
    on_demand_base_capacity: int | None = Field(
        None, ge=0, le=20000, description="Capacity always filled by On-Demand instances (AWS default 0)."
    )
    on_demand_percentage_above_base_capacity: int | None = Field(
        None,
        ge=0,
        le=100,
        description="Percentage of the capacity above the base that is On-Demand; the rest is Spot "
        "(AWS default 100: no Spot).",
    )
    spot_allocation_strategy: SPOT_STRATEGIES | None = Field(
        None,
        description="lowest-price (AWS default), capacity-optimized, capacity-optimized-prioritized or "
        "price-capacity-optimized (AWS's recommendation).",
    )
    spot_instance_pools: int | None = Field(
        None,
        ge=1,
        le=20,
        description="Spot pools to spread across; only with spotAllocationStrategy lowest-price (AWS "
        "default 2).",
    )
    spot_max_price: str | None = Field(
        None,
        max_length=255,
        pattern=r"^[0-9]*\.?[0-9]+$",
        description='Maximum price per instance hour for Spot instances, e.g. "0.05" (AWS default: none, '
        "pay the current Spot price; AWS recommends leaving it out).",
    )

    @model_validator(mode="after")
    def _pools(self) -> InstancesDistribution:
        if self.spot_instance_pools is not None and self.spot_allocation_strategy not in (
            None,
            "lowest-price",
        ):
            raise ValueError(
                "mixedInstancesPolicy.instancesDistribution.spotInstancePools: only valid with "
                "spotAllocationStrategy lowest-price"
            )
        return self


DISTRIBUTION_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.spotInstancePools) || !has(self.spotAllocationStrategy) || "
        "self.spotAllocationStrategy == 'lowest-price'",
        "message": "mixedInstancesPolicy.instancesDistribution.spotInstancePools: only valid with "
        "spotAllocationStrategy lowest-price",
    }
]


class MixedInstancesPolicy(Model):
    """Several instance types and a mix of On-Demand and Spot, instead of a plain launch template."""

    launch_template: LaunchTemplateChoice = Field(
        description="The launch template the overrides apply to: ref, id or name, and version (as for "
        "spec.launchTemplate).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {**rule, "message": f"mixedInstancesPolicy.{rule['message']}"}
                for rule in LAUNCH_TEMPLATE_RULES
                if isinstance(rule, dict)
            ]
        },
    )
    overrides: list[InstanceTypeOverride] = Field(
        min_length=1,
        max_length=40,
        description="Instance types, highest priority first (AWS allows up to 40). Compared in order.",
        json_schema_extra={"x-kubernetes-validations": OVERRIDE_RULES},
    )
    instances_distribution: InstancesDistribution | None = Field(
        None,
        description="On-Demand base and percentage, allocation strategies. Omitted: AWS's defaults "
        "(all On-Demand, prioritized).",
        json_schema_extra={"x-kubernetes-validations": DISTRIBUTION_RULES},
    )

    @model_validator(mode="after")
    def _overrides(self) -> MixedInstancesPolicy:
        weighted = [o.weighted_capacity is not None for o in self.overrides]
        if any(weighted) and not all(weighted):
            raise ValueError(
                "mixedInstancesPolicy.overrides: set weightedCapacity on every override or on none"
            )
        types = [o.instance_type for o in self.overrides]
        if len(types) != len(set(types)):
            raise ValueError("mixedInstancesPolicy.overrides: instance types must be unique")
        return self


class InstanceMaintenancePolicy(Model):
    """How much capacity stays healthy while AWS replaces instances (refreshes, rebalancing, lifetime):
    a percentage of desired capacity, at least min and at most max."""

    min_healthy_percentage: int = Field(
        ge=0, le=100, description="Share of desired capacity kept healthy while instances are replaced."
    )
    max_healthy_percentage: int = Field(
        ge=100,
        le=200,
        description="Share of desired capacity the group may grow to while replacing (at most 100 above "
        "minHealthyPercentage).",
    )


MAINTENANCE_RULES: list[JsonValue] = [
    {
        "rule": "self.maxHealthyPercentage - self.minHealthyPercentage <= 100",
        "message": "instanceMaintenancePolicy: maxHealthyPercentage may be at most 100 above "
        "minHealthyPercentage",
    }
]


class SubnetSelector(Model):
    """Subnets chosen by tags (DescribeSubnets); the resolved ids are reported in status.subnets."""

    tags: dict[str, str] = Field(min_length=1, description="Every tag must match (key: value).")


SPEC_RULES: list[JsonValue] = [
    {"rule": "self.minSize <= self.maxSize", "message": "minSize must not exceed maxSize"},
    {
        "rule": "!has(self.desiredCapacity) || (self.minSize <= self.desiredCapacity && "
        "self.desiredCapacity <= self.maxSize)",
        "message": "desiredCapacity must be between minSize and maxSize",
    },
    {
        "rule": "(has(self.subnets) ? 1 : 0) + (has(self.subnetSelector) ? 1 : 0) + "
        "(has(self.availabilityZones) ? 1 : 0) == 1",
        "message": "set exactly one of subnets, subnetSelector and availabilityZones",
    },
    {
        "rule": "has(self.launchTemplate) != has(self.mixedInstancesPolicy)",
        "message": "set exactly one of launchTemplate and mixedInstancesPolicy (the policy names its own "
        "launch template)",
    },
    {
        "rule": "!has(self.desiredCapacity) || "
        "((!has(self.scalingPolicies) || size(self.scalingPolicies) == 0) && "
        "(!has(self.scheduledActions) || size(self.scheduledActions) == 0))",
        "message": "desiredCapacity: leave it out when scalingPolicies or scheduledActions are declared "
        "(they move desired capacity: AWS owns it then)",
    },
    {
        "rule": "!has(self.trafficSources) || !has(self.targetGroupArns) || "
        "self.trafficSources.all(s, !(s.identifier in self.targetGroupArns))",
        "message": "trafficSources: a target group may be in targetGroupArns or in trafficSources, not both",
    },
]


class AutoScalingGroupSpec(AwsObjectSpec):
    """Desired state of an EC2 Auto Scaling group. Facets left out are neither read nor written."""

    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"x-kubernetes-validations": SPEC_RULES}
    )

    name: str | None = Field(
        None,
        description="Auto Scaling group name (1-255 characters). Defaults to <namespace>-<metadata.name>. "
        "Immutable.",
        min_length=1,
        max_length=255,
        pattern=r"^[^:]+$",
        json_schema_extra=IMMUTABLE,
    )
    launch_template: LaunchTemplateChoice | None = Field(
        None,
        description="The launch template instances are launched from. Exactly one of launchTemplate and "
        "mixedInstancesPolicy.",
        json_schema_extra={"x-kubernetes-validations": LAUNCH_TEMPLATE_RULES},
    )
    mixed_instances_policy: MixedInstancesPolicy | None = Field(
        None,
        description="Several instance types and On-Demand/Spot purchase options, with the policy's own "
        "launch template. Exactly one of launchTemplate and mixedInstancesPolicy.",
    )
    min_size: int = Field(ge=0, le=10000, description="Minimum number of instances (always owned by awsop).")
    max_size: int = Field(ge=0, le=10000, description="Maximum number of instances (always owned by awsop).")
    desired_capacity: int | None = Field(
        None,
        ge=0,
        le=10000,
        description="Desired number of instances. Omit it to leave capacity to an autoscaler: the group "
        "is created at minSize and awsop never writes, compares or reports desired capacity again.",
    )
    subnets: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]+$")]] | None = Field(
        None,
        min_length=1,
        description="Subnet ids (compared as a set). One of subnets, subnetSelector, availabilityZones.",
    )
    subnet_selector: SubnetSelector | None = Field(None, description="Subnets chosen by their tags.")
    availability_zones: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$")]] | None = (
        Field(None, min_length=1, description="Availability zones (default VPC), compared as a set.")
    )
    health_check_type: Literal["EC2", "ELB"] | None = Field(None, description="EC2 or ELB health checks.")
    health_check_grace_period_seconds: int | None = Field(
        None, ge=0, le=7200, description="Seconds before a new instance's health is checked."
    )
    default_cooldown_seconds: int | None = Field(
        None, ge=0, le=86400, description="Seconds between simple scaling activities."
    )
    termination_policies: list[TERMINATION_POLICIES] | None = Field(
        None, min_length=1, description="Termination policies, in order."
    )
    target_group_arns: list[Annotated[str, Field(min_length=1, max_length=511)]] | None = Field(
        None,
        max_length=TARGET_GROUPS_MAX,
        description="ELB target group ARNs, attached with AttachLoadBalancerTargetGroups (compared as a set; "
        "an empty list detaches all). A target group listed here may not also be in trafficSources.",
    )
    traffic_sources: list[TrafficSource] | None = Field(
        None,
        max_length=SOURCES_MAX,
        description="Traffic sources (Classic Load Balancers, ELB and VPC Lattice target groups), attached "
        "with AttachTrafficSources. Only sources awsop attached are detached when removed from the list; "
        "a source someone else attached is left alone.",
        json_schema_extra={"x-kubernetes-validations": TRAFFIC_RULES},
    )
    max_instance_lifetime_seconds: int | None = Field(
        None,
        ge=0,
        description="Seconds an instance may be in service before AWS replaces it: 0 (no limit) or at "
        "least 86400 (one day).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self == 0 || self >= {LIFETIME_MIN}",
                    "message": f"maxInstanceLifetimeSeconds must be 0 or at least {LIFETIME_MIN} (one day)",
                }
            ]
        },
    )
    capacity_rebalance: bool | None = Field(None, description="Replace Spot instances at rebalance risk.")
    default_instance_warmup_seconds: int | None = Field(
        None,
        ge=0,
        le=86400,
        description="Seconds a new instance warms up before its metrics count and it counts as healthy "
        "(the group's default instance warmup). Compared only when set.",
    )
    instance_maintenance_policy: InstanceMaintenancePolicy | None = Field(
        None,
        description="Min/max healthy percentage while AWS replaces instances. Compared only when set.",
        json_schema_extra={"x-kubernetes-validations": MAINTENANCE_RULES},
    )
    new_instances_protected_from_scale_in: bool | None = Field(
        None, description="Protect new instances from scale-in."
    )
    suspended_processes: list[PROCESSES] | None = Field(
        None, description="Scaling processes to suspend (compared as a set); an empty list resumes all."
    )
    lifecycle_hooks: list[LifecycleHook] | None = Field(
        None, description="Lifecycle hooks, kept in sync (an empty list removes all)."
    )
    propagate_at_launch: bool = Field(
        True, description="Whether the group's tags are copied to the instances it launches (default true)."
    )
    tag_propagation: dict[str, bool] | None = Field(
        None, description="Per tag key: override propagateAtLaunch for that tag."
    )
    instance_refresh: InstanceRefresh | None = Field(
        None,
        description="Start one instance refresh when the launch template version the group uses changes "
        "(with ref: the LaunchTemplate's new default version). Never two at a time; progress in status.",
    )

    scaling_policies: list[ScalingPolicy] | None = Field(
        None,
        max_length=POLICIES_MAX,
        description="Scaling policies, kept in sync by name: added, changed and removed to match (only "
        "policies awsop created are removed, unless exclusiveScalingPolicies). With any, desired capacity "
        "belongs to AWS: leave desiredCapacity out.",
        json_schema_extra={
            "x-kubernetes-validations": _named_list_rules("scalingPolicies"),
        },
    )
    exclusive_scaling_policies: bool | None = Field(
        None,
        description="true: remove every scaling policy of the group the spec does not list, also ones awsop "
        "did not create (default: only awsop's own).",
    )
    scheduled_actions: list[ScheduledAction] | None = Field(
        None,
        max_length=ACTIONS_MAX,
        description="Scheduled actions, kept in sync by name (only actions awsop created are removed, "
        "unless exclusiveScheduledActions). A bound an action sets (minSize, maxSize) belongs to the "
        "schedule after the create; desiredCapacity must be left out.",
        json_schema_extra={
            "x-kubernetes-validations": _named_list_rules("scheduledActions"),
        },
    )
    warm_pool: WarmPool | None = Field(
        None,
        description="A warm pool of pre-initialised instances (PutWarmPool); removing it from the spec "
        "deletes the pool awsop put.",
    )
    exclusive_scheduled_actions: bool | None = Field(
        None,
        description="true: remove every scheduled action of the group the spec does not list, also ones "
        "awsop did not create (default: only awsop's own).",
    )

    @property
    def template_path(self) -> str:
        """Where the group's launch template choice is in the spec."""
        return "launchTemplate" if self.launch_template is not None else "mixedInstancesPolicy.launchTemplate"

    @property
    def template_choice(self) -> LaunchTemplateChoice:
        """The launch template the group launches from: spec.launchTemplate or the mixed policy's."""
        if self.launch_template is not None:
            return self.launch_template
        assert self.mixed_instances_policy is not None  # the model rule: exactly one of them
        return self.mixed_instances_policy.launch_template

    def references(self) -> list[Reference]:
        ref = self.template_choice.ref
        return [Reference("LaunchTemplate", ref.name, f"{self.template_path}.ref")] if ref is not None else []

    def named_dependencies(self) -> list[NamedDependency]:
        choice = self.template_choice
        if choice.name is not None:
            return [
                NamedDependency("LaunchTemplate", choice.name, f"{self.template_path}.name", TEMPLATE_MISSING)
            ]
        if choice.id is not None:
            return [
                NamedDependency("LaunchTemplate", choice.id, f"{self.template_path}.id", TEMPLATE_MISSING)
            ]
        return []

    @model_validator(mode="after")
    def _rules(self) -> AutoScalingGroupSpec:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize ({self.min_size}) must not exceed maxSize ({self.max_size})")
        if self.desired_capacity is not None and not (
            self.min_size <= self.desired_capacity <= self.max_size
        ):
            raise ValueError(
                f"desiredCapacity ({self.desired_capacity}) must be between minSize ({self.min_size}) "
                f"and maxSize ({self.max_size})"
            )
        if (self.launch_template is None) == (self.mixed_instances_policy is None):
            raise ValueError(
                "set exactly one of launchTemplate and mixedInstancesPolicy (the policy names its own "
                "launch template)"
            )
        lifetime = self.max_instance_lifetime_seconds
        if lifetime is not None and 0 < lifetime < LIFETIME_MIN:
            raise ValueError(
                f"maxInstanceLifetimeSeconds ({lifetime}) must be 0 or at least {LIFETIME_MIN} (one day)"
            )
        policy = self.instance_maintenance_policy
        if policy is not None and policy.max_healthy_percentage - policy.min_healthy_percentage > 100:
            raise ValueError(
                "instanceMaintenancePolicy: maxHealthyPercentage may be at most 100 above "
                "minHealthyPercentage"
            )
        sources = [self.subnets, self.subnet_selector, self.availability_zones]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("set exactly one of subnets, subnetSelector and availabilityZones")
        names = [hook.name for hook in self.lifecycle_hooks or []]
        if len(names) != len(set(names)):
            raise ValueError("lifecycleHooks: names must be unique")
        for path, items in (
            ("scalingPolicies", self.scaling_policies or []),
            ("scheduledActions", self.scheduled_actions or []),
        ):
            names = [item.name for item in items]
            if len(names) != len(set(names)):
                raise ValueError(f"{path}: names must be unique")
            if not record_fits(names):
                raise ValueError(
                    f"{path}: the names together (with a comma between) must fit one tag value (256 "
                    "characters): awsop records them on the group"
                )
        identifiers = [s.identifier for s in self.traffic_sources or []]
        if len(identifiers) != len(set(identifiers)):
            raise ValueError("trafficSources: identifiers must be unique")
        both = sorted(set(identifiers) & set(self.target_group_arns or []))
        if both:
            raise ValueError(
                f"trafficSources: a target group may be in targetGroupArns or in trafficSources, not both "
                f"({', '.join(both)})"
            )
        if self.desired_capacity is not None and (self.scaling_policies or self.scheduled_actions):
            raise ValueError(
                "desiredCapacity: leave it out when scalingPolicies or scheduledActions are declared (they "
                "move desired capacity: AWS owns it then)"
            )
        return self


class LaunchTemplateInUse(Model):
    id: str | None = Field(None, description="Launch template id.")
    name: str | None = Field(None, description="Launch template name.")
    version: str | None = Field(None, description="Version the group launches from.")
    resolves_to: int | None = Field(
        None,
        description="With version $Latest or $Default and instanceRefresh: the version number it resolves "
        "to now (a change starts one instance refresh).",
    )


class ScalingPolicyStatus(Model):
    name: str = Field(description="Policy name.")
    arn: str | None = Field(None, description="Policy ARN (what a CloudWatch alarm's action names).")
    alarms: list[str] | None = Field(
        None, description="Target tracking: the CloudWatch alarms AWS created for the policy."
    )


class TrafficSourceStatus(Model):
    identifier: str = Field(description="The traffic source (load balancer name or target group ARN).")
    type: str | None = Field(None, description="elb, elbv2 or vpc-lattice.")
    state: str | None = Field(
        None,
        description="AWS's attachment state (Adding, Added, InService, Removing, Removed), from "
        "DescribeTrafficSources.",
    )


class WarmPoolStatus(Model):
    size: int | None = Field(None, description="Instances in the warm pool now (AWS's WarmPoolSize).")
    status: str | None = Field(None, description="AWS's status of the pool (e.g. PendingDelete).")


class AutoScalingGroupStatus(AwsObjectStatus):
    """Status of an AutoScalingGroup. Never the instance list (it churns); counts instead."""

    instances: dict[str, int] | None = Field(
        None, description="Number of instances by lifecycle state (InService, Pending, ...)."
    )
    desired_capacity: int | None = Field(
        None, description="Current desired capacity; only reported when the spec owns it."
    )
    launch_template: LaunchTemplateInUse | None = Field(
        None, description="The launch template and version the group uses."
    )
    subnets: list[str] | None = Field(None, description="Subnet ids the subnetSelector resolved to.")
    aws_status: str | None = Field(None, description="AWS's status of the group (e.g. Delete in progress).")
    instance_refresh: RefreshStatus | None = Field(None, description="The latest instance refresh.")
    warm_pool: WarmPoolStatus | None = Field(None, description="The warm pool's size and status.")
    scaling_policies: list[ScalingPolicyStatus] | None = Field(
        None, description="The declared scaling policies AWS has, with their ARNs and alarms."
    )
    traffic_sources: list[TrafficSourceStatus] | None = Field(
        None, description="The declared traffic sources attached to the group, with their state."
    )
