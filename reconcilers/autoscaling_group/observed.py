"""What an Auto Scaling group is and should be, without I/O: our view of one DescribeAutoScalingGroups
entry (`GroupObserved`), and the desired values the client compares and sends (tags with their
PropagateAtLaunch flag, the launch template or mixed instances policy with AWS's documented distribution
defaults, the version a `$Latest`/`$Default` group follows). It must never call AWS.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..engine import Target
from ..errors import RecoverableError
from ..refs import KNOWN_AFTER_APPLY
from ..tags import SYSTEM_TAGS
from . import policies, schedules, traffic, warm_pool
from .records import parse_record
from .refresh import ALIASES, FOLLOW_TAG
from .spec import DISTRIBUTION_AWS, DISTRIBUTION_DEFAULTS, AutoScalingGroupSpec, MixedInstancesPolicy

# Sub-resource families whose names awsop records on the group: (spec path, record tag).
RECORDS = (("scalingPolicies", policies.POLICY_TAG), ("scheduledActions", schedules.SCHEDULE_TAG))

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
    default_instance_warmup: int | None = None  # None: not set (AWS answers none, or -1)
    maintenance: dict[str, int] | None = None  # {minHealthyPercentage, maxHealthyPercentage}; None: not set
    followed: str | None = None  # the version number awsop last rolled out for $Latest/$Default (tag)
    resolves_to: int | None = None  # what the desired $Latest/$Default resolves to now, when followed
    refresh: dict[str, Any] | None = None  # the latest instance refresh, when the spec declares them
    selected_subnets: list[str] | None = None  # what subnetSelector resolved to, when declared
    records: dict[str, set[str]] | None = None  # spec path -> names awsop recorded (RECORDS' tags)
    policies: dict[str, dict[str, Any]] | None = None  # DescribePolicies by name, when read
    actions: dict[str, dict[str, Any]] | None = None  # DescribeScheduledActions by name, when read
    warm_pool: dict[str, Any] | None = None  # the warm pool as compared (in the group's answer)
    warm_pool_status: dict[str, Any] | None = None  # its size and status, for status
    warm_pool_recorded: bool = False  # awsop put it (WARM_POOL_TAG)
    traffic: dict[str, str] | None = None  # the group's TrafficSources, {identifier: type}
    traffic_recorded: set[str] | None = None  # digests of the sources awsop attached (TRAFFIC_TAG)
    traffic_states: dict[str, str] | None = None  # DescribeTrafficSources states, when read

    def recorded(self, path: str) -> set[str]:
        return (self.records or {}).get(path, set())

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
    records = {path: parse_record(tags.pop(tag, ("", False))[0]) for path, tag in RECORDS}
    pool_recorded = tags.pop(warm_pool.WARM_POOL_TAG, None) is not None
    traffic_record = parse_record(tags.pop(traffic.TRAFFIC_TAG, ("", False))[0])
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
        default_instance_warmup=_unset_as_none(group.get("DefaultInstanceWarmup")),
        maintenance=_maintenance_from_aws(group.get("InstanceMaintenancePolicy")),
        followed=followed[0] if followed else None,
        records=records,
        warm_pool=warm_pool.pool_from_aws(group.get("WarmPoolConfiguration")),
        warm_pool_status=warm_pool.pool_status(group),
        warm_pool_recorded=pool_recorded,
        traffic=traffic.sources_from_aws(group),
        traffic_recorded=traffic_record,
    )


def _unset_as_none(value: Any) -> int | None:
    """AWS answers -1 (or nothing) for a group setting that was never set or was cleared."""
    return None if value is None or int(value) < 0 else int(value)


def _maintenance_from_aws(policy: dict[str, Any] | None) -> dict[str, int] | None:
    if not policy:
        return None
    low = _unset_as_none(policy.get("MinHealthyPercentage"))
    high = _unset_as_none(policy.get("MaxHealthyPercentage"))
    if low is None and high is None:
        return None
    return {"minHealthyPercentage": low if low is not None else -1, "maxHealthyPercentage": high or -1}


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


def aws_mixed(
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
        "LaunchTemplate": {"LaunchTemplateSpecification": aws_template(template), "Overrides": overrides},
        "InstancesDistribution": distribution,
    }


def template_kwargs(target: Target[AutoScalingGroupSpec], observed: GroupObserved | None) -> dict[str, Any]:
    """LaunchTemplate or MixedInstancesPolicy (AWS takes one of them) for a create or an update."""
    template = desired_template(target, resolved_template(target))
    policy = target.spec.mixed_instances_policy
    if policy is None:
        return {"LaunchTemplate": aws_template(template)}
    return {"MixedInstancesPolicy": aws_mixed(policy, template, observed)}


def aws_template(template: dict[str, str]) -> dict[str, str]:
    out = {"Version": template["version"]}
    if "id" in template:
        out["LaunchTemplateId"] = template["id"]
    else:
        out["LaunchTemplateName"] = template["name"]
    return out


def resolved_template(target: Target[AutoScalingGroupSpec]) -> dict[str, str] | None:
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


def followed_template(target: Target[AutoScalingGroupSpec]) -> dict[str, str] | None:
    """The desired {id|name, version} when the group follows $Latest/$Default with instanceRefresh (the
    version it resolves to is then read with each check); None otherwise."""
    if target.spec.instance_refresh is None:
        return None
    template = desired_template(target, resolved_template(target))
    if template["version"] not in ALIASES or KNOWN_AFTER_APPLY in template.values():
        return None
    return template


def follow_record(target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> str | None:
    """The version number to record on the group (FOLLOW_TAG) when it differs from the recorded one."""
    if observed.resolves_to is None or followed_template(target) is None:
        return None
    number = str(observed.resolves_to)
    return None if observed.followed == number else number
