"""The AutoScalingGroup kind: one EC2 Auto Scaling group, autoscaling.awsop.io/v1alpha1.

Reading this module tells the whole story of a group: its spec model, how it is observed (one
DescribeAutoScalingGroups answer holds everything but lifecycle hooks, and periodic checks of many groups
share that call through `batch.BatchReader`), how it differs (subnets, target groups and suspended
processes as sets, tags with their PropagateAtLaunch flag, a mixed instances policy with AWS's documented
distribution defaults filled in on both sides), how it is changed (one UpdateAutoScalingGroup for every
scalar facet and the launch template or mixed policy), how it is deleted (with its instances; AWS deletes
asynchronously), and which Auto Scaling errors are terminal.

Instance refresh: a change of the launch template version the group resolves to starts one refresh. For a
template named by id or name with $Latest/$Default, that version is read with each check (a second batch
reader over DescribeLaunchTemplates) and the number last rolled out is kept on the group as FOLLOW_TAG.

Capacity ownership: with `desiredCapacity` absent, the group is created at minSize and desired capacity is
never written, compared or reported again: an autoscaler owns it. With it present, awsop owns it. Min and
max are always owned.

It must never: write desired capacity the spec leaves to an autoscaler, write `aws:` tags, or delete a
group it does not own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, JsonValue, model_validator

from .aws import AwsClients, RetryingClient
from .batch import BatchReader
from .changes import Action, Change
from .engine import Busy, DeleteOutcome, DeleteResult, ObjectRef, Target
from .errors import AlreadyCreatedError, ErrorClass, RecoverableError, classify, error_code, error_message
from .launch_template import describe_templates, tag_updates
from .model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from .policies import DeletionPolicy
from .refs import KNOWN_AFTER_APPLY, LocalName, NamedDependency, Reference
from .tags import OWNER_TAG, SYSTEM_TAGS, is_reserved

KIND = "AutoScalingGroup"
NAMES_PER_CALL = 100  # DescribeAutoScalingGroups: 50 names by default, up to 100 with MaxRecords=100
TEMPLATES_PER_CALL = 100  # launch template ids or names per DescribeLaunchTemplates of the version reader
SUBNET_CACHE_SECONDS = 300.0
DELETING = "Delete in progress"
RUNNING_REFRESH = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
ALIASES = frozenset({"$Latest", "$Default"})
# The version number a $Latest/$Default group last rolled out (instance refresh), kept on the group itself
# so a new version is noticed after restarts and by the CLI alike; read with the group, never propagated.
FOLLOW_TAG = "awsop.io/launch-template-version"


# What AWS (or this module, reading it) answers while a launch template named by name or id does not
# exist (yet): the engine reports it as DependencyNotReady (`AutoScalingGroupSpec.named_dependencies`).
TEMPLATE_MISSING = frozenset(
    {
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateId.NotFoundException",
        "LaunchTemplateNotFound",
    }
)
# Auto Scaling error codes only a manifest change can fix. ValidationError is terminal except for the
# messages that describe a state waiting heals (see `classify_autoscaling`).
# Not terminal on purpose: AlreadyExists (our own create that raced; the next observation decides by the
# ownership tags) and a launch template that does not exist (yet: it may be created at the same time).
TERMINAL_CODES = frozenset(
    {
        "ValidationError",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidSubnetID.NotFound",
        "InvalidSubnetID.Malformed",
        "InvalidGroup.NotFound",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Malformed",
        "InvalidInstanceType",
        "ServiceLinkedRoleFailure",
    }
)
TRANSIENT_VALIDATION = (
    "in progress",
    "not found",
    "scaling activity",
    "resourcecontention",
    "launch template",  # "The specified launch template, with template name x, does not exist."
)
# Every operation this module calls, and the IAM actions AWS authorizes it with.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeAutoScalingGroups": ("autoscaling:DescribeAutoScalingGroups",),
    "CreateAutoScalingGroup": (
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:CreateOrUpdateTags",
        "ec2:RunInstances",
        "ec2:CreateTags",
        "ec2:DescribeLaunchTemplateVersions",
    ),
    "UpdateAutoScalingGroup": (
        "autoscaling:UpdateAutoScalingGroup",
        "ec2:RunInstances",
        "ec2:DescribeLaunchTemplateVersions",
    ),
    "DeleteAutoScalingGroup": ("autoscaling:DeleteAutoScalingGroup",),
    "CreateOrUpdateTags": ("autoscaling:CreateOrUpdateTags",),
    "DeleteTags": ("autoscaling:DeleteTags",),
    "DescribeLifecycleHooks": ("autoscaling:DescribeLifecycleHooks",),
    "PutLifecycleHook": ("autoscaling:PutLifecycleHook", "iam:PassRole"),
    "DeleteLifecycleHook": ("autoscaling:DeleteLifecycleHook",),
    "SuspendProcesses": ("autoscaling:SuspendProcesses",),
    "ResumeProcesses": ("autoscaling:ResumeProcesses",),
    "AttachLoadBalancerTargetGroups": ("autoscaling:AttachLoadBalancerTargetGroups",),
    "DetachLoadBalancerTargetGroups": ("autoscaling:DetachLoadBalancerTargetGroups",),
    "DescribeSubnets": ("ec2:DescribeSubnets",),
    "DescribeLaunchTemplates": ("ec2:DescribeLaunchTemplates",),
    "DescribeInstanceRefreshes": ("autoscaling:DescribeInstanceRefreshes",),
    "StartInstanceRefresh": ("autoscaling:StartInstanceRefresh",),
}

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


class SubnetSelector(Model):
    """Subnets chosen by tags (DescribeSubnets); the resolved ids are reported in status.subnets."""

    tags: dict[str, str] = Field(min_length=1, description="Every tag must match (key: value).")


class LifecycleHook(Model):
    """A lifecycle hook, kept in sync by name (hooks not listed are removed when the list is set)."""

    name: str = Field(min_length=1, max_length=255, description="Hook name, unique in the group.")
    transition: Literal["autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"] = Field(
        description="When the hook runs."
    )
    heartbeat_timeout_seconds: int = Field(
        3600, ge=30, le=7200, description="Seconds an instance waits in the hook (AWS default 3600)."
    )
    default_result: Literal["CONTINUE", "ABANDON"] = Field(
        "ABANDON", description="What happens when the timeout elapses (AWS default ABANDON)."
    )
    notification_target_arn: str | None = Field(
        None, max_length=1600, description="SQS queue or SNS topic ARN notified when the hook runs."
    )
    role_arn: str | None = Field(
        None, max_length=1600, description="Role Auto Scaling assumes to publish to the target."
    )
    notification_metadata: str | None = Field(
        None, max_length=1023, description="Text sent with each notification."
    )


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
]


class InstanceRefresh(Model):
    """Replace instances when the launch template version the group uses changes."""

    min_healthy_percentage: int = Field(
        90, ge=0, le=100, description="Share of capacity kept in service during the refresh (AWS default 90)."
    )
    instance_warmup_seconds: int | None = Field(
        None, ge=0, le=3600, description="Seconds a new instance warms up before it counts as healthy."
    )
    skip_matching: bool = Field(
        True, description="Skip instances that already run the new launch template version."
    )
    auto_rollback: bool = Field(False, description="Roll back to the previous configuration on failure.")


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
    target_group_arns: list[str] | None = Field(
        None, description="ELB target group ARNs (compared as a set); an empty list detaches all."
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
        sources = [self.subnets, self.subnet_selector, self.availability_zones]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("set exactly one of subnets, subnetSelector and availabilityZones")
        names = [hook.name for hook in self.lifecycle_hooks or []]
        if len(names) != len(set(names)):
            raise ValueError("lifecycleHooks: names must be unique")
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


class RefreshStatus(Model):
    id: str | None = Field(None, description="Instance refresh id.")
    status: str | None = Field(
        None, description="Pending, InProgress, Successful, Failed, Cancelling, Cancelled, ..."
    )
    percentage_complete: int | None = Field(None, description="Share of instances replaced so far.")
    status_reason: str | None = Field(None, description="AWS's reason, e.g. why a refresh failed.")


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


# -- observation -------------------------------------------------------------------------------------


@dataclass
class GroupObserved:
    name: str
    arn: str
    status: str | None
    min_size: int
    max_size: int
    desired_capacity: int
    launch_template: dict[str, str] | None  # the plain template, or the mixed policy's
    subnets: set[str]
    availability_zones: set[str]
    health_check_type: str | None
    health_check_grace_period: int | None
    default_cooldown: int | None
    termination_policies: list[str]
    target_groups: set[str]
    capacity_rebalance: bool
    new_instances_protected: bool
    suspended: set[str]
    tags: dict[str, tuple[str, bool]]
    instances: dict[str, int]
    hooks: dict[str, dict[str, Any]] | None = None
    mixed: dict[str, Any] | None = None  # {overrides, instancesDistribution}, normalised; None: no policy
    max_instance_lifetime: int = 0
    followed: str | None = None  # the version number awsop last rolled out for $Latest/$Default (tag)
    resolves_to: int | None = None  # what the desired $Latest/$Default resolves to now, when followed
    refresh: dict[str, Any] | None = None  # the latest instance refresh, when the spec declares them
    selected_subnets: list[str] | None = None  # what subnetSelector resolved to, when declared

    @property
    def tag_values(self) -> dict[str, str]:
        return {k: v for k, (v, _) in self.tags.items()}


def observed_from(group: dict[str, Any]) -> GroupObserved:
    """Our view of one DescribeAutoScalingGroups entry."""
    policy = group.get("MixedInstancesPolicy")
    template = (
        (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
        if policy
        else group.get("LaunchTemplate")
    )
    tags = {t["Key"]: (t.get("Value", ""), bool(t.get("PropagateAtLaunch"))) for t in group.get("Tags", [])}
    followed = tags.pop(FOLLOW_TAG, None)
    return GroupObserved(
        name=group["AutoScalingGroupName"],
        arn=group.get("AutoScalingGroupARN", ""),
        status=group.get("Status"),
        min_size=int(group.get("MinSize", 0)),
        max_size=int(group.get("MaxSize", 0)),
        desired_capacity=int(group.get("DesiredCapacity", 0)),
        launch_template=(
            {
                "id": template.get("LaunchTemplateId", ""),
                "name": template.get("LaunchTemplateName", ""),
                "version": str(template.get("Version") or "$Default"),
            }
            if template
            else None
        ),
        subnets={s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s},
        availability_zones=set(group.get("AvailabilityZones", [])),
        health_check_type=group.get("HealthCheckType"),
        health_check_grace_period=group.get("HealthCheckGracePeriod"),
        default_cooldown=group.get("DefaultCooldown"),
        termination_policies=list(group.get("TerminationPolicies", [])),
        target_groups=set(group.get("TargetGroupARNs", [])),
        capacity_rebalance=bool(group.get("CapacityRebalance", False)),
        new_instances_protected=bool(group.get("NewInstancesProtectedFromScaleIn", False)),
        suspended={p["ProcessName"] for p in group.get("SuspendedProcesses", [])},
        tags=tags,
        instances=dict(Counter(str(i.get("LifecycleState")) for i in group.get("Instances", []))),
        mixed=mixed_from_aws(policy) if policy else None,
        max_instance_lifetime=int(group.get("MaxInstanceLifetime") or 0),
        followed=followed[0] if followed else None,
    )


def mixed_from_aws(policy: dict[str, Any]) -> dict[str, Any]:
    """A MixedInstancesPolicy as awsop compares it: overrides in order, every distribution field with AWS's
    default where the answer leaves it out (moto 5.2.5 stores a partial distribution as given)."""
    overrides = []
    for item in (policy.get("LaunchTemplate") or {}).get("Overrides") or []:
        override: dict[str, Any] = {"instanceType": item.get("InstanceType")}
        if item.get("WeightedCapacity") not in (None, ""):
            override["weightedCapacity"] = int(item["WeightedCapacity"])
        overrides.append(override)
    given = policy.get("InstancesDistribution") or {}
    distribution = {
        key: given[aws] if given.get(aws) not in (None, "") else default
        for key, default in DISTRIBUTION_DEFAULTS.items()
        for aws in (DISTRIBUTION_AWS[key],)
    }
    for key in ("onDemandBaseCapacity", "onDemandPercentageAboveBaseCapacity", "spotInstancePools"):
        distribution[key] = int(distribution[key])
    return {"overrides": overrides, "instancesDistribution": _pools_only_when_used(distribution)}


def _pools_only_when_used(distribution: dict[str, Any]) -> dict[str, Any]:
    """SpotInstancePools means something (and AWS reports it) only with the lowest-price Spot strategy."""
    if distribution["spotAllocationStrategy"] != "lowest-price":
        return {k: v for k, v in distribution.items() if k != "spotInstancePools"}
    return distribution


# -- desired values (pure) -----------------------------------------------------------------------------


def desired_tags(target: Target[AutoScalingGroupSpec]) -> dict[str, tuple[str, bool]]:
    """Tag key -> (value, PropagateAtLaunch). awsop's ownership tags describe the group, not instances."""
    spec = target.spec
    overrides = spec.tag_propagation or {}
    return {
        key: (value, False if key in SYSTEM_TAGS else overrides.get(key, spec.propagate_at_launch))
        for key, value in target.tags.items()
    }


def desired_template(
    target: Target[AutoScalingGroupSpec], resolved: dict[str, str] | None = None
) -> dict[str, str]:
    """{id|name, version} the group should launch from (spec.launchTemplate or the mixed policy's);
    `resolved` is a referenced LaunchTemplate's {id, version} when the spec uses ref."""
    choice = target.spec.template_choice
    if choice.ref is not None:
        if resolved is None:
            raise RecoverableError(
                "DependencyNotReady",
                f"{target.spec.template_path}.ref {choice.ref.name}: the LaunchTemplate is not resolved yet",
            )
        return {"id": resolved["id"], "version": choice.version or resolved["version"]}
    key = "id" if choice.id else "name"
    return {key: str(choice.id or choice.name), "version": choice.version or "$Default"}


def desired_mixed(policy: MixedInstancesPolicy) -> dict[str, Any]:
    """The policy's overrides and its full instances distribution (AWS's defaults where the spec is
    silent), in the form `mixed_from_aws` gives."""
    overrides = [
        {"instanceType": o.instance_type}
        | ({"weightedCapacity": o.weighted_capacity} if o.weighted_capacity is not None else {})
        for o in policy.overrides
    ]
    declared = (
        policy.instances_distribution.model_dump(by_alias=True, exclude_none=True)
        if policy.instances_distribution is not None
        else {}
    )
    return {
        "overrides": overrides,
        "instancesDistribution": _pools_only_when_used({**DISTRIBUTION_DEFAULTS, **declared}),
    }


def _aws_mixed(
    policy: MixedInstancesPolicy, template: dict[str, str], observed: GroupObserved | None
) -> dict[str, Any]:
    """MixedInstancesPolicy for CreateAutoScalingGroup/UpdateAutoScalingGroup: the whole policy, every
    distribution field explicit (so AWS and awsop agree on what was asked for)."""
    want = desired_mixed(policy)
    distribution = {
        DISTRIBUTION_AWS[key]: value
        for key, value in want["instancesDistribution"].items()
        if value is not None
    }
    had_price = (
        observed is not None and observed.mixed and observed.mixed["instancesDistribution"]["spotMaxPrice"]
    )
    if "SpotMaxPrice" not in distribution and had_price:
        distribution["SpotMaxPrice"] = ""  # AWS's way to remove a maximum price
    overrides = [
        {"InstanceType": o["instanceType"]}
        | ({"WeightedCapacity": str(o["weightedCapacity"])} if "weightedCapacity" in o else {})
        for o in want["overrides"]
    ]
    return {
        "LaunchTemplate": {"LaunchTemplateSpecification": _aws_template(template), "Overrides": overrides},
        "InstancesDistribution": distribution,
    }


def _template_kwargs(target: Target[AutoScalingGroupSpec], observed: GroupObserved | None) -> dict[str, Any]:
    """LaunchTemplate or MixedInstancesPolicy (AWS takes one of them) for a create or an update."""
    template = desired_template(target, _resolved_template(target))
    policy = target.spec.mixed_instances_policy
    if policy is None:
        return {"LaunchTemplate": _aws_template(template)}
    return {"MixedInstancesPolicy": _aws_mixed(policy, template, observed)}


def _aws_template(template: dict[str, str]) -> dict[str, str]:
    out = {"Version": template["version"]}
    if "id" in template:
        out["LaunchTemplateId"] = template["id"]
    else:
        out["LaunchTemplateName"] = template["name"]
    return out


def _hook_desired(hook: LifecycleHook) -> dict[str, Any]:
    out: dict[str, Any] = {
        "transition": hook.transition,
        "heartbeatTimeoutSeconds": hook.heartbeat_timeout_seconds,
        "defaultResult": hook.default_result,
    }
    for attr, key in (
        ("notification_target_arn", "notificationTargetArn"),
        ("role_arn", "roleArn"),
        ("notification_metadata", "notificationMetadata"),
    ):
        if getattr(hook, attr) is not None:
            out[key] = getattr(hook, attr)
    return out


def _hook_from_aws(hook: dict[str, Any], declared: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "transition": hook.get("LifecycleTransition"),
        "heartbeatTimeoutSeconds": hook.get("HeartbeatTimeout"),
        "defaultResult": hook.get("DefaultResult"),
    }
    for aws, key in (
        ("NotificationTargetARN", "notificationTargetArn"),
        ("RoleARN", "roleArn"),
        ("NotificationMetadata", "notificationMetadata"),
    ):
        if declared is not None and key in declared:  # only compared when the spec declares it
            out[key] = hook.get(aws)
    return out


# -- the client -------------------------------------------------------------------------------------


class AutoScalingGroupClient:
    """ResourceClient for EC2 Auto Scaling groups."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.DELETE

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._subnet_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def _autoscaling(self, region: str) -> RetryingClient:
        return self.clients.client("autoscaling", region)

    def _reader(self, region: str) -> BatchReader[dict[str, Any]]:
        autoscaling = self._autoscaling(region)

        def fetch(names: list[str]) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            kwargs: dict[str, Any] = {"AutoScalingGroupNames": names, "MaxRecords": NAMES_PER_CALL}
            while True:
                page = autoscaling.describe_auto_scaling_groups(**kwargs)
                for group in page.get("AutoScalingGroups", []):
                    found[group["AutoScalingGroupName"]] = group
                if not page.get("NextToken"):
                    return found
                kwargs["NextToken"] = page["NextToken"]

        return self.clients.batcher("autoscaling:DescribeAutoScalingGroups", region, fetch, NAMES_PER_CALL)

    def aws_name(self, ref: ObjectRef, spec: AutoScalingGroupSpec, prefix: str) -> str:
        return spec.name or f"{prefix}{ref.namespace}-{ref.name}"[:255]

    def observe(self, target: Target[AutoScalingGroupSpec], facets: bool = True) -> GroupObserved | None:
        periodic = facets and target.context.periodic
        group = self._reader(target.region).read(target.aws_name, periodic=periodic)
        if group is None:
            return None
        observed = observed_from(group)
        if facets and target.spec.lifecycle_hooks is not None and observed.status != DELETING:
            observed.hooks = self._read_hooks(target)
        if facets and target.spec.subnet_selector is not None:
            observed.selected_subnets = self._select_subnets(target, periodic)
        if facets and target.spec.instance_refresh is not None and observed.status != DELETING:
            observed.refresh = self._latest_refresh(target)
            template = _followed_template(target)
            if template is not None:
                observed.resolves_to = self._resolve_alias(target, template, periodic)
        return observed

    def _template_reader(self, region: str) -> BatchReader[dict[str, int]]:
        """Launch template version numbers ($Latest, $Default) by "id:<id>" or "name:<name>", shared by the
        periodic checks of every group that follows an alias in this (account, region)."""
        ec2 = self.clients.client("ec2", region)

        def versions(template: dict[str, Any]) -> dict[str, int]:
            return {
                "$Latest": int(template["LatestVersionNumber"]),
                "$Default": int(template["DefaultVersionNumber"]),
            }

        def fetch(keys: list[str]) -> dict[str, dict[str, int]]:
            found: dict[str, dict[str, int]] = {}
            names = [k.split(":", 1)[1] for k in keys if k.startswith("name:")]
            ids = [k.split(":", 1)[1] for k in keys if k.startswith("id:")]
            if names:  # the filter, paginated: a missing name fails no other
                for name, template in describe_templates(ec2, names).items():
                    found[f"name:{name}"] = versions(template)
            if ids:
                try:
                    answered = ec2.describe_launch_templates(LaunchTemplateIds=ids)["LaunchTemplates"]
                except ClientError as exc:
                    if not error_code(exc).startswith("InvalidLaunchTemplateId"):
                        raise
                    answered = []  # one missing id fails the whole call: ask for the others one by one
                    for one in ids if len(ids) > 1 else []:
                        found.update(fetch([f"id:{one}"]))
                for template in answered:
                    found[f"id:{template['LaunchTemplateId']}"] = versions(template)
            return found

        return self.clients.batcher(
            "ec2:DescribeLaunchTemplates(versions)", region, fetch, TEMPLATES_PER_CALL
        )

    def _resolve_alias(
        self, target: Target[AutoScalingGroupSpec], template: dict[str, str], periodic: bool
    ) -> int:
        """The version number $Latest/$Default of the template resolves to now (DescribeLaunchTemplates).
        Periodic checks of groups on the same template share one answer (a batch reader)."""
        key = f"id:{template['id']}" if "id" in template else f"name:{template['name']}"
        versions = self._template_reader(target.region).read(key, periodic=periodic)
        if versions is None:
            raise RecoverableError(
                "LaunchTemplateNotFound",
                f"{target.spec.template_path}: launch template {key.split(':', 1)[1]} does not exist; "
                "waiting for it",
            )
        return versions[template["version"]]

    def _latest_refresh(self, target: Target[AutoScalingGroupSpec]) -> dict[str, Any] | None:
        """The most recent instance refresh of the group (AWS lists them newest first)."""
        refreshes = self._autoscaling(target.region).describe_instance_refreshes(
            AutoScalingGroupName=target.aws_name, MaxRecords=1
        )["InstanceRefreshes"]
        return dict(refreshes[0]) if refreshes else None

    def own_tags(self, spec: AutoScalingGroupSpec) -> frozenset[str]:
        """FOLLOW_TAG on a group that follows $Latest/$Default with instanceRefresh: it counts toward the
        50-tag limit like the ownership tags."""
        choice = spec.template_choice
        version = choice.version or (None if choice.ref is not None else "$Default")
        return (
            frozenset({FOLLOW_TAG})
            if spec.instance_refresh is not None and version in ALIASES
            else frozenset()
        )

    def busy(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> Busy | None:
        """A group being deleted, or one whose instance refresh is running, takes no writes."""
        if observed.status == DELETING:
            return Busy("GroupDeleting", f"Auto Scaling group {target.aws_name} is being deleted")
        refresh = observed.refresh or {}
        if refresh.get("Status") in RUNNING_REFRESH:
            return Busy(
                "InstanceRefresh",
                f"instance refresh {refresh.get('InstanceRefreshId')} {refresh.get('Status')}: "
                f"{refresh.get('PercentageComplete', 0)}% complete",
            )
        return None

    def _read_hooks(self, target: Target[AutoScalingGroupSpec]) -> dict[str, dict[str, Any]]:
        declared = {hook.name: _hook_desired(hook) for hook in target.spec.lifecycle_hooks or []}
        hooks = self._autoscaling(target.region).describe_lifecycle_hooks(
            AutoScalingGroupName=target.aws_name
        )["LifecycleHooks"]
        return {
            h["LifecycleHookName"]: _hook_from_aws(h, declared.get(h["LifecycleHookName"])) for h in hooks
        }

    def _select_subnets(self, target: Target[AutoScalingGroupSpec], periodic: bool) -> list[str]:
        """Subnet ids whose tags match the selector; periodic checks reuse a recent answer."""
        selector = target.spec.subnet_selector
        assert selector is not None
        key = (target.region, tuple(sorted(selector.tags.items())))
        with self._lock:
            cached = self._subnet_cache.get(key)
        if periodic and cached is not None and time.monotonic() - cached[0] < SUBNET_CACHE_SECONDS:
            return cached[1]
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(selector.tags.items())]
        subnets = self.clients.client("ec2", target.region).describe_subnets(Filters=filters)["Subnets"]
        ids = sorted(s["SubnetId"] for s in subnets)
        if not ids:
            raise RecoverableError(
                "NoSubnetsMatch",
                f"subnetSelector {dict(selector.tags)} matches no subnet in {target.region}; waiting for one",
            )
        with self._lock:
            self._subnet_cache[key] = (time.monotonic(), ids)
        return ids

    def owner_of(self, observed: GroupObserved) -> str | None:
        return observed.tag_values.get(OWNER_TAG)

    def observed_tags(self, observed: GroupObserved) -> dict[str, str]:
        return dict(observed.tag_values)

    def _desired_subnets(
        self, target: Target[AutoScalingGroupSpec], observed: GroupObserved | None
    ) -> list[str] | None:
        spec = target.spec
        if spec.subnets is not None:
            return sorted(set(spec.subnets))
        if spec.subnet_selector is not None:
            if observed is not None and observed.selected_subnets is not None:
                return observed.selected_subnets
            return self._select_subnets(target, periodic=False)
        return None

    def diff(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> list[Change]:
        spec = target.spec
        update: tuple[str, ...] = ("autoscaling:UpdateAutoScalingGroup",)
        scalar: list[tuple[str, Any, Any]] = [
            ("minSize", observed.min_size, spec.min_size),
            ("maxSize", observed.max_size, spec.max_size),
        ]
        if spec.desired_capacity is not None:  # unowned capacity is never compared
            scalar.append(("desiredCapacity", observed.desired_capacity, spec.desired_capacity))
        scalar += self._template_facets(target, observed)
        subnets = self._desired_subnets(target, observed)
        if subnets is not None:
            scalar.append(("subnets", sorted(observed.subnets), subnets))
        if spec.availability_zones is not None:
            scalar.append(
                (
                    "availabilityZones",
                    sorted(observed.availability_zones),
                    sorted(set(spec.availability_zones)),
                )
            )
        optional = (
            ("healthCheckType", observed.health_check_type, spec.health_check_type),
            (
                "healthCheckGracePeriodSeconds",
                observed.health_check_grace_period,
                spec.health_check_grace_period_seconds,
            ),
            ("defaultCooldownSeconds", observed.default_cooldown, spec.default_cooldown_seconds),
            (
                "maxInstanceLifetimeSeconds",
                observed.max_instance_lifetime,
                spec.max_instance_lifetime_seconds,
            ),
            ("terminationPolicies", observed.termination_policies, spec.termination_policies),
            ("capacityRebalance", observed.capacity_rebalance, spec.capacity_rebalance),
            (
                "newInstancesProtectedFromScaleIn",
                observed.new_instances_protected,
                spec.new_instances_protected_from_scale_in,
            ),
        )
        scalar += [(path, actual, desired) for path, actual, desired in optional if desired is not None]
        changes = []
        for path, actual, desired in scalar:
            if actual != desired:
                calls = update
                if path == spec.template_path and spec.instance_refresh is not None:
                    calls += ("autoscaling:StartInstanceRefresh",)
                    if _follow_record(target, observed) is not None:
                        calls += ("autoscaling:CreateOrUpdateTags",)
                changes.append(Change(path, actual, desired, Action.UPDATE, calls))
                update = ()  # one UpdateAutoScalingGroup carries them all
        if not any(change.path == spec.template_path for change in changes):
            changes += self._follow_changes(target, observed)
        changes += self._set_changes(spec, observed)
        changes += self._hook_changes(spec, observed)
        tag_changes = self._tag_changes(target, observed)
        return tag_changes + changes

    @staticmethod
    def _template_facets(
        target: Target[AutoScalingGroupSpec], observed: GroupObserved
    ) -> list[tuple[str, Any, Any]]:
        """(path, actual, desired) for the launch template and, with a mixed instances policy, its
        overrides and instances distribution. A group that has the other form in AWS (a plain template
        where the spec has a policy, or the reverse) shows the whole facet as missing."""
        spec = target.spec
        template = desired_template(target, _resolved_template(target))
        actual_template = (
            {k: observed.launch_template.get(k) for k in template} if observed.launch_template else None
        )
        policy = spec.mixed_instances_policy
        if policy is None:
            return [("launchTemplate", None if observed.mixed is not None else actual_template, template)]
        want = desired_mixed(policy)
        if observed.mixed is None:
            return [("mixedInstancesPolicy", None, {"launchTemplate": template, **want})]
        return [
            ("mixedInstancesPolicy.launchTemplate", actual_template, template),
            ("mixedInstancesPolicy.overrides", observed.mixed["overrides"], want["overrides"]),
            (
                "mixedInstancesPolicy.instancesDistribution",
                observed.mixed["instancesDistribution"],
                want["instancesDistribution"],
            ),
        ]

    @staticmethod
    def _follow_changes(target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> list[Change]:
        """A $Latest/$Default group with instanceRefresh whose alias now resolves to another version
        than the one last rolled out: one instance refresh (and the new number recorded). Without a
        record (a group adopted, or created before awsop recorded it) the number is only recorded."""
        record = _follow_record(target, observed)
        if record is None:
            return []
        version = desired_template(target, _resolved_template(target))["version"]
        before = int(observed.followed) if observed.followed and observed.followed.isdigit() else None
        calls: tuple[str, ...] = ("autoscaling:CreateOrUpdateTags",)
        if before is not None:
            calls = ("autoscaling:StartInstanceRefresh", *calls)
        return [
            Change(
                target.spec.template_path,
                {"version": version, "resolvesTo": before},
                {"version": version, "resolvesTo": observed.resolves_to},
                Action.UPDATE,
                calls,
                intent=True,  # the alias moved, not the group: rolled out under driftPolicy Report too
            )
        ]

    @staticmethod
    def _set_changes(spec: AutoScalingGroupSpec, observed: GroupObserved) -> list[Change]:
        changes = []
        if spec.suspended_processes is not None:
            want: set[str] = set(spec.suspended_processes)
            if want != observed.suspended:
                calls = (("autoscaling:SuspendProcesses",) if want - observed.suspended else ()) + (
                    ("autoscaling:ResumeProcesses",) if observed.suspended - want else ()
                )
                changes.append(
                    Change(
                        "suspendedProcesses", sorted(observed.suspended), sorted(want), Action.UPDATE, calls
                    )
                )
        if spec.target_group_arns is not None:
            groups = set(spec.target_group_arns)
            if groups != observed.target_groups:
                calls = (
                    ("autoscaling:AttachLoadBalancerTargetGroups",) if groups - observed.target_groups else ()
                ) + (
                    ("autoscaling:DetachLoadBalancerTargetGroups",) if observed.target_groups - groups else ()
                )
                changes.append(
                    Change(
                        "targetGroupArns",
                        sorted(observed.target_groups),
                        sorted(groups),
                        Action.UPDATE,
                        calls,
                    )
                )
        return changes

    @staticmethod
    def _hook_changes(spec: AutoScalingGroupSpec, observed: GroupObserved) -> list[Change]:
        if spec.lifecycle_hooks is None or observed.hooks is None:
            return []
        changes = []
        for hook in spec.lifecycle_hooks:
            want = _hook_desired(hook)
            have = observed.hooks.get(hook.name)
            if have != want:
                action = Action.CREATE if have is None else Action.UPDATE
                changes.append(
                    Change(
                        f"lifecycleHooks.{hook.name}", have, want, action, ("autoscaling:PutLifecycleHook",)
                    )
                )
        declared = {hook.name for hook in spec.lifecycle_hooks}
        for name in sorted(set(observed.hooks) - declared):
            changes.append(
                Change(
                    f"lifecycleHooks.{name}",
                    observed.hooks[name],
                    None,
                    Action.DELETE,
                    ("autoscaling:DeleteLifecycleHook",),
                )
            )
        return changes

    def _tag_changes(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> list[Change]:
        desired = desired_tags(target)
        authoritative = target.spec.tags is not None
        add, remove = _tag_plan(desired, observed.tags, authoritative)
        if not add and not remove:
            return []
        calls = (("autoscaling:CreateOrUpdateTags",) if add else ()) + (
            ("autoscaling:DeleteTags",) if remove else ()
        )
        changes = []
        actual_values = {k: v for k, (v, _) in observed.tags.items() if not is_reserved(k)}
        if not authoritative:
            actual_values = {k: v for k, v in actual_values.items() if k in desired}
        want_values = {k: v for k, (v, _) in desired.items()}
        if actual_values != want_values:
            changes.append(Change("tags", actual_values, want_values, Action.UPDATE, calls))
            calls = ()
        actual_flags = {k: p for k, (_, p) in observed.tags.items() if k in desired}
        want_flags = {k: p for k, (_, p) in desired.items() if k in observed.tags}
        if actual_flags != want_flags:
            changes.append(Change("tagPropagation", actual_flags, want_flags, Action.UPDATE, calls))
        return changes

    def plan_create(self, target: Target[AutoScalingGroupSpec]) -> list[Change]:
        spec = target.spec
        changes = [
            Change("", None, target.aws_name, Action.CREATE, ("autoscaling:CreateAutoScalingGroup",)),
            Change("tags", None, {k: v for k, (v, _) in desired_tags(target).items()}, Action.CREATE),
        ]
        capacity = spec.desired_capacity if spec.desired_capacity is not None else spec.min_size
        changes.append(Change("desiredCapacity", None, capacity, Action.CREATE))
        for hook in spec.lifecycle_hooks or []:
            changes.append(
                Change(
                    f"lifecycleHooks.{hook.name}",
                    None,
                    _hook_desired(hook),
                    Action.CREATE,
                    ("autoscaling:PutLifecycleHook",),
                )
            )
        if spec.suspended_processes:
            changes.append(
                Change(
                    "suspendedProcesses",
                    None,
                    sorted(set(spec.suspended_processes)),
                    Action.CREATE,
                    ("autoscaling:SuspendProcesses",),
                )
            )
        return changes

    def create(self, target: Target[AutoScalingGroupSpec]) -> GroupObserved:
        spec = target.spec
        autoscaling = self._autoscaling(target.region)
        template = desired_template(target, _resolved_template(target))
        tags = _aws_tags(target.aws_name, desired_tags(target))
        followed = _followed_template(target)
        resolves_to = self._resolve_alias(target, followed, periodic=False) if followed else None
        if resolves_to is not None:  # the version the group starts with counts as rolled out
            tags += _aws_tags(target.aws_name, {FOLLOW_TAG: (str(resolves_to), False)})
        kwargs: dict[str, Any] = {
            "AutoScalingGroupName": target.aws_name,
            **_template_kwargs(target, None),
            "MinSize": spec.min_size,
            "MaxSize": spec.max_size,
            "Tags": tags,
            **self._scalar_kwargs(target, None),
        }
        if spec.desired_capacity is not None:
            kwargs["DesiredCapacity"] = spec.desired_capacity  # else AWS starts at MinSize
        if spec.target_group_arns:
            kwargs["TargetGroupARNs"] = sorted(set(spec.target_group_arns))
        try:
            autoscaling.create_auto_scaling_group(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "AlreadyExists":  # another run of ours, or a race: the engine decides
                raise AlreadyCreatedError(
                    "AlreadyExists", f"Auto Scaling group {target.aws_name} already exists in this account"
                ) from exc
            raise
        finally:
            self._reader(target.region).invalidate(target.aws_name)
        capacity = spec.desired_capacity if spec.desired_capacity is not None else spec.min_size
        return GroupObserved(
            name=target.aws_name,
            arn="",
            status=None,
            min_size=spec.min_size,
            max_size=spec.max_size,
            desired_capacity=capacity,
            launch_template=template,
            mixed=desired_mixed(spec.mixed_instances_policy) if spec.mixed_instances_policy else None,
            max_instance_lifetime=spec.max_instance_lifetime_seconds or 0,
            followed=str(resolves_to) if resolves_to is not None else None,
            resolves_to=resolves_to,
            subnets=set(kwargs.get("VPCZoneIdentifier", "").split(",")) - {""},
            availability_zones=set(spec.availability_zones or []),
            health_check_type=spec.health_check_type,
            health_check_grace_period=spec.health_check_grace_period_seconds,
            default_cooldown=spec.default_cooldown_seconds,
            termination_policies=list(spec.termination_policies or []),
            target_groups=set(spec.target_group_arns or []),
            capacity_rebalance=bool(spec.capacity_rebalance),
            new_instances_protected=bool(spec.new_instances_protected_from_scale_in),
            suspended=set(spec.suspended_processes or []),
            tags=desired_tags(target),
            instances={},
            selected_subnets=self._desired_subnets(target, None) if spec.subnet_selector else None,
        )

    def finish_create(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> GroupObserved:
        """Lifecycle hooks and suspended processes, once the read-back showed the group is ours (AWS
        takes hooks at create too, but moto 5.2.5 ignores them there)."""
        spec = target.spec
        if observed.followed and observed.followed.isdigit() and _followed_template(target) is not None:
            observed.resolves_to = int(observed.followed)  # resolved for the create a moment ago
        try:
            for hook in spec.lifecycle_hooks or []:
                self._put_hook(target, hook)
            if spec.suspended_processes:
                self._autoscaling(target.region).suspend_processes(
                    AutoScalingGroupName=target.aws_name,
                    ScalingProcesses=sorted(set(spec.suspended_processes)),
                )
                observed.suspended = set(spec.suspended_processes)
        finally:
            self._reader(target.region).invalidate(target.aws_name)  # the read-back is stale now
        return observed

    def _scalar_kwargs(
        self, target: Target[AutoScalingGroupSpec], observed: GroupObserved | None
    ) -> dict[str, Any]:
        """Placement and the optional scalar facets, as CreateAutoScalingGroup/UpdateAutoScalingGroup
        arguments."""
        spec = target.spec
        kwargs: dict[str, Any] = {}
        subnets = self._desired_subnets(target, observed)
        if subnets is not None:
            kwargs["VPCZoneIdentifier"] = ",".join(subnets)
        if spec.availability_zones is not None:
            kwargs["AvailabilityZones"] = sorted(set(spec.availability_zones))
        for key, value in (
            ("HealthCheckType", spec.health_check_type),
            ("HealthCheckGracePeriod", spec.health_check_grace_period_seconds),
            ("DefaultCooldown", spec.default_cooldown_seconds),
            ("MaxInstanceLifetime", spec.max_instance_lifetime_seconds),
            ("TerminationPolicies", spec.termination_policies),
            ("CapacityRebalance", spec.capacity_rebalance),
            ("NewInstancesProtectedFromScaleIn", spec.new_instances_protected_from_scale_in),
        ):
            if value is not None:
                kwargs[key] = value
        return kwargs

    def _start_refresh(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        """One instance refresh to the group's new launch template version; a running one is never
        joined by a second (the engine does not write to a busy group, and AWS refuses with
        InstanceRefreshInProgress, which is retried)."""
        refresh = target.spec.instance_refresh
        assert refresh is not None
        preferences: dict[str, Any] = {
            "MinHealthyPercentage": refresh.min_healthy_percentage,
            "SkipMatching": refresh.skip_matching,
            "AutoRollback": refresh.auto_rollback,
        }
        if refresh.instance_warmup_seconds is not None:
            preferences["InstanceWarmup"] = refresh.instance_warmup_seconds
        started = self._autoscaling(target.region).start_instance_refresh(
            AutoScalingGroupName=target.aws_name, Strategy="Rolling", Preferences=preferences
        )
        observed.refresh = {"InstanceRefreshId": started.get("InstanceRefreshId"), "Status": "Pending"}

    def _put_hook(self, target: Target[AutoScalingGroupSpec], hook: LifecycleHook) -> None:
        kwargs: dict[str, Any] = {
            "AutoScalingGroupName": target.aws_name,
            "LifecycleHookName": hook.name,
            "LifecycleTransition": hook.transition,
            "HeartbeatTimeout": hook.heartbeat_timeout_seconds,
            "DefaultResult": hook.default_result,
        }
        for attr, key in (
            ("notification_target_arn", "NotificationTargetARN"),
            ("role_arn", "RoleARN"),
            ("notification_metadata", "NotificationMetadata"),
        ):
            if getattr(hook, attr) is not None:
                kwargs[key] = getattr(hook, attr)
        self._autoscaling(target.region).put_lifecycle_hook(**kwargs)

    def apply(
        self, target: Target[AutoScalingGroupSpec], observed: GroupObserved, changes: list[Change]
    ) -> None:
        spec = target.spec
        autoscaling = self._autoscaling(target.region)
        name = target.aws_name
        paths = {change.path for change in changes}
        try:
            if paths & {"tags", "tagPropagation"}:
                add, remove = _tag_plan(desired_tags(target), observed.tags, spec.tags is not None)
                if add:
                    autoscaling.create_or_update_tags(Tags=_aws_tags(name, add))
                if remove:
                    autoscaling.delete_tags(
                        Tags=[
                            {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k}
                            for k in sorted(remove)
                        ]
                    )
            if any(
                change.calls and change.calls[0] == "autoscaling:UpdateAutoScalingGroup" for change in changes
            ):
                kwargs: dict[str, Any] = {
                    "AutoScalingGroupName": name,
                    "MinSize": spec.min_size,
                    "MaxSize": spec.max_size,
                    **_template_kwargs(target, observed),
                    **self._scalar_kwargs(target, observed),
                }
                if spec.desired_capacity is not None:
                    kwargs["DesiredCapacity"] = spec.desired_capacity
                autoscaling.update_auto_scaling_group(**kwargs)
            refresh = any("autoscaling:StartInstanceRefresh" in change.calls for change in changes)
            if refresh and spec.instance_refresh is not None:
                self._start_refresh(target, observed)
            record = _follow_record(target, observed) if spec.template_path in paths else None
            if record is not None:  # after the refresh started: a failed start is retried, not skipped
                autoscaling.create_or_update_tags(Tags=_aws_tags(name, {FOLLOW_TAG: (record, False)}))
                observed.followed = record
            if "suspendedProcesses" in paths and spec.suspended_processes is not None:
                want: set[str] = set(spec.suspended_processes)
                if want - observed.suspended:
                    autoscaling.suspend_processes(
                        AutoScalingGroupName=name, ScalingProcesses=sorted(want - observed.suspended)
                    )
                if observed.suspended - want:
                    autoscaling.resume_processes(
                        AutoScalingGroupName=name, ScalingProcesses=sorted(observed.suspended - want)
                    )
            if "targetGroupArns" in paths and spec.target_group_arns is not None:
                want = set(spec.target_group_arns)
                if want - observed.target_groups:
                    autoscaling.attach_load_balancer_target_groups(
                        AutoScalingGroupName=name, TargetGroupARNs=sorted(want - observed.target_groups)
                    )
                if observed.target_groups - want:
                    autoscaling.detach_load_balancer_target_groups(
                        AutoScalingGroupName=name, TargetGroupARNs=sorted(observed.target_groups - want)
                    )
            by_name = {hook.name: hook for hook in spec.lifecycle_hooks or []}
            for change in changes:
                if change.path.startswith("lifecycleHooks."):
                    hook_name = change.path.split(".", 1)[1]
                    if change.action is Action.DELETE:
                        autoscaling.delete_lifecycle_hook(
                            AutoScalingGroupName=name, LifecycleHookName=hook_name
                        )
                    else:
                        self._put_hook(target, by_name[hook_name])
        finally:
            self._reader(target.region).invalidate(name)

    def release(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        present = [k for k in SYSTEM_TAGS if k in observed.tags] + ([FOLLOW_TAG] if observed.followed else [])
        if present:
            self._autoscaling(target.region).delete_tags(
                Tags=[
                    {"ResourceId": target.aws_name, "ResourceType": "auto-scaling-group", "Key": k}
                    for k in sorted(present)
                ]
            )
        self._reader(target.region).forget(target.aws_name)

    def delete(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> DeleteOutcome:
        reader = self._reader(target.region)
        if observed.status != DELETING:
            self._autoscaling(target.region).delete_auto_scaling_group(
                AutoScalingGroupName=target.aws_name, ForceDelete=True
            )
        after = reader.read_now(target.aws_name)
        if after is None:
            reader.forget(target.aws_name)
            return DeleteOutcome(DeleteResult.DELETED)
        count = len(after.get("Instances", []))
        return DeleteOutcome(
            DeleteResult.IN_PROGRESS,
            "Deleting",
            f"AWS is deleting Auto Scaling group {target.aws_name} and its {count} instance(s)",
        )

    def status(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved | None) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if observed is None:
            return out
        if observed.arn:
            out["arn"] = observed.arn
        out["instances"] = dict(sorted(observed.instances.items()))
        if target.spec.desired_capacity is not None:
            out["desiredCapacity"] = observed.desired_capacity
        if observed.launch_template:
            out["launchTemplate"] = dict(observed.launch_template)
            if observed.resolves_to is not None:
                out["launchTemplate"]["resolvesTo"] = observed.resolves_to
        if observed.selected_subnets is not None:
            out["subnets"] = observed.selected_subnets
        if observed.status:
            out["awsStatus"] = observed.status
        if observed.refresh:
            refresh = observed.refresh
            out["instanceRefresh"] = {
                "id": refresh.get("InstanceRefreshId"),
                "status": refresh.get("Status"),
                "percentageComplete": refresh.get("PercentageComplete"),
                "statusReason": refresh.get("StatusReason"),
            }
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        if isinstance(exc, ClientError) and error_code(exc) == "ValidationError":
            message = error_message(exc).lower()
            if any(hint in message for hint in TRANSIENT_VALIDATION):
                return ErrorClass.RECOVERABLE
        return classify(exc, TERMINAL_CODES)


def _resolved_template(target: Target[AutoScalingGroupSpec]) -> dict[str, str] | None:
    """The referenced LaunchTemplate's {id, version: its default version number}, from the references the
    runner resolved (the engine only runs once they are Ready); None without a ref."""
    ref = target.spec.template_choice.ref
    if ref is None:
        return None
    found = target.context.resolution("LaunchTemplate", ref.name)
    if found.planned:
        return {"id": KNOWN_AFTER_APPLY, "version": KNOWN_AFTER_APPLY}
    template_id, version = found.value("id"), found.value("defaultVersion")
    if not template_id or version is None:
        return None
    return {"id": str(template_id), "version": str(version)}


def _followed_template(target: Target[AutoScalingGroupSpec]) -> dict[str, str] | None:
    """The desired {id|name, version} when the group follows $Latest/$Default with instanceRefresh (the
    version it resolves to is then read with each check); None otherwise."""
    if target.spec.instance_refresh is None:
        return None
    template = desired_template(target, _resolved_template(target))
    if template["version"] not in ALIASES or KNOWN_AFTER_APPLY in template.values():
        return None
    return template


def _follow_record(target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> str | None:
    """The version number to record on the group (FOLLOW_TAG) when it differs from the recorded one."""
    if observed.resolves_to is None or _followed_template(target) is None:
        return None
    number = str(observed.resolves_to)
    return None if observed.followed == number else number


def _tag_plan(
    desired: dict[str, tuple[str, bool]], actual: dict[str, tuple[str, bool]], authoritative: bool
) -> tuple[dict[str, tuple[str, bool]], set[str]]:
    """Tags to create or overwrite (value or PropagateAtLaunch differs), and keys to delete."""
    values_add, remove = tag_updates(
        {k: v for k, (v, _) in desired.items()}, {k: v for k, (v, _) in actual.items()}, authoritative
    )
    add = {
        k: desired[k] for k in desired if k in values_add or (k in actual and actual[k][1] != desired[k][1])
    }
    return add, remove


def _aws_tags(group: str, tags: dict[str, tuple[str, bool]]) -> list[dict[str, Any]]:
    return [
        {
            "ResourceId": group,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": propagate,
        }
        for key, (value, propagate) in sorted(tags.items())
    ]
