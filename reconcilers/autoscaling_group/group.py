"""The AutoScalingGroup client: one EC2 Auto Scaling group, autoscaling.awsop.io/v1alpha1.

Reading this module tells the story of a group (its spec is in `spec.py`; each sub-resource family,
lifecycle hooks, instance refresh, ..., in its own module): how it is observed (one
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
never written, compared or reported again: an autoscaler owns it (the spec must leave it out when it
declares scaling policies or scheduled actions). With it present, awsop owns it. Min and max are owned,
except a bound a declared scheduled action sets: the schedule owns it after the create.

It must never: write desired capacity the spec leaves to an autoscaler, write `aws:` tags, or delete a
group it does not own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients, RetryingClient
from ..batch import BatchReader
from ..changes import Action, Change
from ..engine import Busy, DeleteOutcome, DeleteResult, ObjectRef, Target
from ..errors import AlreadyCreatedError, ErrorClass, RecoverableError, classify, error_code, error_message
from ..launch_template import describe_templates, tag_updates
from ..policies import DeletionPolicy
from ..tags import OWNER_TAG, SYSTEM_TAGS, is_reserved
from . import hooks, policies, refresh, schedules, traffic, warm_pool
from .observed import (
    RECORDS,
    GroupObserved,
    desired_mixed,
    desired_tags,
    desired_template,
    follow_record,
    followed_template,
    observed_from,
    resolved_template,
    template_kwargs,
)
from .records import record_tag
from .refresh import ALIASES, FOLLOW_TAG
from .spec import (
    AutoScalingGroupSpec,
)

KIND = "AutoScalingGroup"
NAMES_PER_CALL = 100  # DescribeAutoScalingGroups: 50 names by default, up to 100 with MaxRecords=100
TEMPLATES_PER_CALL = 100  # launch template ids or names per DescribeLaunchTemplates of the version reader
SUBNET_CACHE_SECONDS = 300.0
DELETING = "Delete in progress"


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
    "SuspendProcesses": ("autoscaling:SuspendProcesses",),
    "ResumeProcesses": ("autoscaling:ResumeProcesses",),
    "AttachLoadBalancerTargetGroups": ("autoscaling:AttachLoadBalancerTargetGroups",),
    "DetachLoadBalancerTargetGroups": ("autoscaling:DetachLoadBalancerTargetGroups",),
    "DescribeSubnets": ("ec2:DescribeSubnets",),
    "DescribeLaunchTemplates": ("ec2:DescribeLaunchTemplates",),
    **hooks.IAM_ACTIONS,
    **refresh.IAM_ACTIONS,
    **policies.IAM_ACTIONS,
    **schedules.IAM_ACTIONS,
    **warm_pool.IAM_ACTIONS,
    **traffic.IAM_ACTIONS,
}
# -- the client -------------------------------------------------------------------------------------


class AutoScalingGroupClient:
    """ResourceClient for EC2 Auto Scaling groups."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.DELETE
    tags_at_create = True  # CreateAutoScalingGroup takes `Tags`: the owner tag comes with the group

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._subnet_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, list[str]]] = {}
        # traffic source states by (region, group): the sources AWS listed and their settled states
        self._traffic_states: dict[tuple[str, str], tuple[frozenset[str], dict[str, str]]] = {}
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

    def prefetch(self, region: str, targets: Sequence[Target[AutoScalingGroupSpec]]) -> None:
        """Many groups about to be reconciled: one DescribeAutoScalingGroups per 100 names."""
        self._reader(region).prime([t.aws_name for t in targets])

    def observe(self, target: Target[AutoScalingGroupSpec], facets: bool = True) -> GroupObserved | None:
        periodic = facets and target.context.periodic
        group = self._reader(target.region).read(target.aws_name, periodic=periodic)
        if group is None:
            return None
        observed = observed_from(group)
        if facets and target.spec.lifecycle_hooks is not None and observed.status != DELETING:
            observed.hooks = hooks.read_hooks(
                self._autoscaling(target.region), target.aws_name, target.spec.lifecycle_hooks
            )
        if facets and observed.status != DELETING:
            self._read_named(target, observed)
        if facets and target.spec.traffic_sources and observed.status != DELETING:
            observed.traffic_states = self._traffic_source_states(target, observed, periodic)
        if facets and target.spec.subnet_selector is not None:
            observed.selected_subnets = self._select_subnets(target, periodic)
        if facets and target.spec.instance_refresh is not None and observed.status != DELETING:
            observed.refresh = self._latest_refresh(target)
            template = followed_template(target)
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
        return refresh.latest_refresh(self._autoscaling(target.region), target.aws_name)

    def _read_named(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        """Scaling policies and scheduled actions: read when the spec declares them or awsop recorded some
        (to remove them), else not at all (one call per family and group: AWS has no batch read)."""
        spec, autoscaling = target.spec, self._autoscaling(target.region)
        if spec.scaling_policies is not None or observed.recorded("scalingPolicies"):
            observed.policies = policies.read_policies(autoscaling, target.aws_name)
        if spec.scheduled_actions is not None or observed.recorded("scheduledActions"):
            observed.actions = schedules.read_actions(autoscaling, target.aws_name)

    def _traffic_source_states(
        self, target: Target[AutoScalingGroupSpec], observed: GroupObserved, periodic: bool
    ) -> dict[str, str]:
        """DescribeTrafficSources (one group per call). A routine check reuses the last answer while the
        group lists the same sources and every declared one had settled (Added, InService): a settled
        attachment stays so by itself, so such a group costs its share of the batched group read only."""
        key = (target.region, target.aws_name)
        listed = frozenset(observed.traffic or {})
        with self._lock:
            cached = self._traffic_states.get(key)
        declared = target.spec.traffic_sources or []
        if periodic and cached is not None and cached[0] == listed and traffic.settled(declared, cached[1]):
            return cached[1]
        states = traffic.read_states(self._autoscaling(target.region), target.aws_name)
        with self._lock:
            self._traffic_states[key] = (listed, states)
        return states

    def _forget_traffic_states(self, target: Target[AutoScalingGroupSpec]) -> None:
        with self._lock:
            self._traffic_states.pop((target.region, target.aws_name), None)

    def own_tags(self, spec: AutoScalingGroupSpec) -> frozenset[str]:
        """FOLLOW_TAG on a group that follows $Latest/$Default with instanceRefresh: it counts toward the
        50-tag limit like the ownership tags."""
        choice = spec.template_choice
        version = choice.version or (None if choice.ref is not None else "$Default")
        records = {tag for path, tag in RECORDS if _declared_names(spec, path)}
        if spec.warm_pool is not None:
            records.add(warm_pool.WARM_POOL_TAG)
        if spec.traffic_sources:
            records.add(traffic.TRAFFIC_TAG)
        return (
            frozenset({FOLLOW_TAG, *records})
            if spec.instance_refresh is not None and version in ALIASES
            else frozenset(records)
        )

    def busy(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> Busy | None:
        """A group being deleted, or one whose instance refresh is running, takes no writes."""
        if observed.status == DELETING:
            return Busy("GroupDeleting", f"Auto Scaling group {target.aws_name} is being deleted")
        return refresh.refresh_busy(observed.refresh)

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
        scheduled = schedules.schedule_owned(spec.scheduled_actions)  # bounds the schedule moves
        scalar: list[tuple[str, Any, Any]] = [
            (path, actual, desired)
            for path, actual, desired in (
                ("minSize", observed.min_size, spec.min_size),
                ("maxSize", observed.max_size, spec.max_size),
            )
            if path not in scheduled
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
                "defaultInstanceWarmupSeconds",
                observed.default_instance_warmup,
                spec.default_instance_warmup_seconds,
            ),
            (
                "instanceMaintenancePolicy",
                observed.maintenance,
                spec.instance_maintenance_policy.model_dump(by_alias=True)
                if spec.instance_maintenance_policy is not None
                else None,
            ),
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
                    if follow_record(target, observed) is not None:
                        calls += ("autoscaling:CreateOrUpdateTags",)
                changes.append(Change(path, actual, desired, Action.UPDATE, calls))
                update = ()  # one UpdateAutoScalingGroup carries them all
        if not any(change.path == spec.template_path for change in changes):
            changes += self._follow_changes(target, observed)
        changes += self._set_changes(spec, observed, _legacy_target_groups(spec, observed))
        changes += hooks.hook_changes(spec.lifecycle_hooks, observed.hooks)
        changes += warm_pool.pool_changes(spec.warm_pool, observed.warm_pool, observed.warm_pool_recorded)
        changes += traffic.traffic_changes(
            spec.traffic_sources,
            observed.traffic or {},
            observed.traffic_recorded or set(),
            spec.target_group_arns,
        )
        changes += _with_record(
            "scalingPolicies",
            spec,
            observed,
            policies.policy_changes(
                spec.scaling_policies,
                observed.policies,
                observed.recorded("scalingPolicies"),
                bool(spec.exclusive_scaling_policies),
            ),
        )
        changes += _with_record(
            "scheduledActions",
            spec,
            observed,
            schedules.action_changes(
                spec.scheduled_actions,
                observed.actions,
                observed.recorded("scheduledActions"),
                bool(spec.exclusive_scheduled_actions),
            ),
        )
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
        template = desired_template(target, resolved_template(target))
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
        record = follow_record(target, observed)
        if record is None:
            return []
        version = desired_template(target, resolved_template(target))["version"]
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
    def _set_changes(spec: AutoScalingGroupSpec, observed: GroupObserved, attached: set[str]) -> list[Change]:
        """Suspended processes and target groups (`attached`: the target groups targetGroupArns compares,
        without trafficSources' own)."""
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
            if groups != attached:
                calls = ("autoscaling:AttachLoadBalancerTargetGroups",) * _calls_for(groups - attached) + (
                    "autoscaling:DetachLoadBalancerTargetGroups",
                ) * _calls_for(attached - groups)
                changes.append(
                    Change(
                        "targetGroupArns",
                        sorted(attached),
                        sorted(groups),
                        Action.UPDATE,
                        calls,
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
        changes += hooks.plan_hooks(spec.lifecycle_hooks)
        if spec.warm_pool is not None:
            changes.append(
                Change(
                    "warmPool",
                    None,
                    warm_pool.desired_pool(spec.warm_pool),
                    Action.CREATE,
                    ("autoscaling:PutWarmPool",),
                )
            )
        changes += policies.plan_policies(spec.scaling_policies)
        changes += schedules.plan_actions(spec.scheduled_actions)
        if spec.traffic_sources:  # attached by CreateAutoScalingGroup itself
            changes.append(
                Change(
                    "trafficSources", None, sorted(s.identifier for s in spec.traffic_sources), Action.CREATE
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
        template = desired_template(target, resolved_template(target))
        tags = _aws_tags(target.aws_name, desired_tags(target))
        followed = followed_template(target)
        resolves_to = self._resolve_alias(target, followed, periodic=False) if followed else None
        if resolves_to is not None:  # the version the group starts with counts as rolled out
            tags += _aws_tags(target.aws_name, {FOLLOW_TAG: (str(resolves_to), False)})
        if spec.warm_pool is not None:
            tags += record_tag(target.aws_name, warm_pool.WARM_POOL_TAG, {"true"})
        for path, tag in RECORDS:  # recorded before they are created (leak safety)
            if _declared_names(spec, path):
                tags += record_tag(target.aws_name, tag, _declared_names(spec, path))
        sources, record = traffic.create_kwargs(target.aws_name, spec.traffic_sources)
        tags += record  # recorded by the create that attaches them
        kwargs: dict[str, Any] = {
            "AutoScalingGroupName": target.aws_name,
            **template_kwargs(target, None),
            "MinSize": spec.min_size,
            "MaxSize": spec.max_size,
            "Tags": tags,
            **self._scalar_kwargs(target, None),
        }
        if spec.desired_capacity is not None:
            kwargs["DesiredCapacity"] = spec.desired_capacity  # else AWS starts at MinSize
        if spec.target_group_arns:
            kwargs["TargetGroupARNs"] = sorted(set(spec.target_group_arns))
        kwargs.update(sources)
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
            traffic={s.identifier: s.type for s in spec.traffic_sources or []},
            traffic_recorded={traffic.digest(s.identifier) for s in spec.traffic_sources or []},
        )

    def finish_create(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> GroupObserved:
        """Lifecycle hooks and suspended processes, once the read-back showed the group is ours (AWS
        takes hooks at create too, but moto 5.2.5 ignores them there)."""
        spec = target.spec
        if observed.followed and observed.followed.isdigit() and followed_template(target) is not None:
            observed.resolves_to = int(observed.followed)  # resolved for the create a moment ago
        try:
            for hook in spec.lifecycle_hooks or []:
                hooks.put_hook(self._autoscaling(target.region), target.aws_name, hook)
            if spec.suspended_processes:
                self._autoscaling(target.region).suspend_processes(
                    AutoScalingGroupName=target.aws_name,
                    ScalingProcesses=sorted(set(spec.suspended_processes)),
                )
                observed.suspended = set(spec.suspended_processes)
            autoscaling = self._autoscaling(target.region)
            if spec.warm_pool is not None:
                warm_pool.put_pool(autoscaling, target.aws_name, spec.warm_pool)
                observed.warm_pool_recorded = True
            for policy in spec.scaling_policies or []:
                policies.put_policy(autoscaling, target.aws_name, policy)
            for action in spec.scheduled_actions or []:
                schedules.put_action(autoscaling, target.aws_name, action)
            observed.records = {path: _declared_names(spec, path) for path, _ in RECORDS}
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
            ("DefaultInstanceWarmup", spec.default_instance_warmup_seconds),
        ):
            if value is not None:
                kwargs[key] = value
        if spec.instance_maintenance_policy is not None:
            kwargs["InstanceMaintenancePolicy"] = {
                "MinHealthyPercentage": spec.instance_maintenance_policy.min_healthy_percentage,
                "MaxHealthyPercentage": spec.instance_maintenance_policy.max_healthy_percentage,
            }
        return kwargs

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
                scheduled = schedules.schedule_owned(spec.scheduled_actions)
                kwargs: dict[str, Any] = {
                    "AutoScalingGroupName": name,
                    **({} if "minSize" in scheduled else {"MinSize": spec.min_size}),
                    **({} if "maxSize" in scheduled else {"MaxSize": spec.max_size}),
                    **template_kwargs(target, observed),
                    **self._scalar_kwargs(target, observed),
                }
                if spec.desired_capacity is not None:
                    kwargs["DesiredCapacity"] = spec.desired_capacity
                autoscaling.update_auto_scaling_group(**kwargs)
            starts = any("autoscaling:StartInstanceRefresh" in change.calls for change in changes)
            if starts and spec.instance_refresh is not None:
                observed.refresh = refresh.start_refresh(autoscaling, name, spec.instance_refresh)
            record = follow_record(target, observed) if spec.template_path in paths else None
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
                want, attached = set(spec.target_group_arns), _legacy_target_groups(spec, observed)
                for arns in _per_call(want - attached):
                    autoscaling.attach_load_balancer_target_groups(
                        AutoScalingGroupName=name, TargetGroupARNs=arns
                    )
                for arns in _per_call(attached - want):
                    autoscaling.detach_load_balancer_target_groups(
                        AutoScalingGroupName=name, TargetGroupARNs=arns
                    )
            if "trafficSources" in paths:
                self._apply_traffic(target, observed)
            hooks.apply_hooks(autoscaling, name, spec.lifecycle_hooks, changes)
            if "warmPool" in paths:
                self._apply_pool(target, observed)
            self._apply_named(target, observed, changes)
        finally:
            self._reader(target.region).invalidate(name)

    def _apply_named(
        self, target: Target[AutoScalingGroupSpec], observed: GroupObserved, changes: list[Change]
    ) -> None:
        """Scaling policies and scheduled actions, each family's record widened before anything is
        created and narrowed after deletes (a crash in between leaves a record, never a leak)."""
        spec, name = target.spec, target.aws_name
        autoscaling = self._autoscaling(target.region)
        appliers: dict[str, Callable[[], set[str]]] = {
            "scalingPolicies": lambda: policies.apply_policies(
                autoscaling, name, spec.scaling_policies, changes
            ),
            "scheduledActions": lambda: schedules.apply_actions(
                autoscaling, name, spec.scheduled_actions, changes
            ),
        }
        for path, tag in RECORDS:
            if not any(change.path.startswith(f"{path}.") for change in changes):
                continue
            recorded, declared = observed.recorded(path), _declared_names(spec, path)
            if declared - recorded:
                autoscaling.create_or_update_tags(Tags=record_tag(name, tag, recorded | declared))
            deleted = appliers[path]()
            final = (recorded | declared) - deleted
            if final != (recorded | declared) or (not final and recorded):
                if final:
                    autoscaling.create_or_update_tags(Tags=record_tag(name, tag, final))
                else:
                    autoscaling.delete_tags(
                        Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": tag}]
                    )
            observed.records = {**(observed.records or {}), path: final}

    def _apply_traffic(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        """Attach and detach traffic sources (the record widened before, narrowed after)."""
        plan = traffic.plan_traffic(
            target.spec.traffic_sources,
            observed.traffic or {},
            observed.traffic_recorded or set(),
            target.spec.target_group_arns,
        )
        self._forget_traffic_states(target)  # the sources change: their states are read again
        record = traffic.apply_traffic(self._autoscaling(target.region), target.aws_name, plan)
        if record is not None:
            observed.traffic_recorded = record
        attached = {**(observed.traffic or {}), **plan.attach}
        observed.traffic = {i: t for i, t in attached.items() if i not in plan.detach}

    def _apply_pool(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        """Put the declared pool (recorded first), or delete the one awsop put (then its record)."""
        autoscaling, name, pool = self._autoscaling(target.region), target.aws_name, target.spec.warm_pool
        tag = warm_pool.WARM_POOL_TAG
        if pool is not None:
            if not observed.warm_pool_recorded:
                autoscaling.create_or_update_tags(Tags=record_tag(name, tag, {"true"}))
                observed.warm_pool_recorded = True
            warm_pool.put_pool(autoscaling, name, pool)
        else:
            autoscaling.delete_warm_pool(AutoScalingGroupName=name)
            autoscaling.delete_tags(
                Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": tag}]
            )
            observed.warm_pool_recorded = False

    def release(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> None:
        present = [k for k in SYSTEM_TAGS if k in observed.tags] + ([FOLLOW_TAG] if observed.followed else [])
        present += [tag for path, tag in RECORDS if observed.recorded(path)]
        present += [warm_pool.WARM_POOL_TAG] if observed.warm_pool_recorded else []
        present += [traffic.TRAFFIC_TAG] if observed.traffic_recorded else []
        if present:
            self._autoscaling(target.region).delete_tags(
                Tags=[
                    {"ResourceId": target.aws_name, "ResourceType": "auto-scaling-group", "Key": k}
                    for k in sorted(present)
                ]
            )
        self._reader(target.region).forget(target.aws_name)
        self._forget_traffic_states(target)

    def delete(self, target: Target[AutoScalingGroupSpec], observed: GroupObserved) -> DeleteOutcome:
        reader = self._reader(target.region)
        if observed.status != DELETING:
            self._autoscaling(target.region).delete_auto_scaling_group(
                AutoScalingGroupName=target.aws_name, ForceDelete=True
            )
        after = reader.read_now(target.aws_name)
        if after is None:
            reader.forget(target.aws_name)
            self._forget_traffic_states(target)
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
            out["instanceRefresh"] = refresh.refresh_status(observed.refresh)
        if target.spec.warm_pool is not None and observed.warm_pool_status is not None:
            out["warmPool"] = observed.warm_pool_status
        if target.spec.scaling_policies:
            out["scalingPolicies"] = policies.policy_status(target.spec.scaling_policies, observed.policies)
        if target.spec.traffic_sources and observed.traffic is not None:
            out["trafficSources"] = traffic.traffic_status(
                target.spec.traffic_sources, observed.traffic, observed.traffic_states
            )
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        if isinstance(exc, ClientError) and error_code(exc) == "ValidationError":
            message = error_message(exc).lower()
            if any(hint in message for hint in TRANSIENT_VALIDATION):
                return ErrorClass.RECOVERABLE
        return classify(exc, TERMINAL_CODES)


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


def _legacy_target_groups(spec: AutoScalingGroupSpec, observed: GroupObserved) -> set[str]:
    """The group's TargetGroupARNs as targetGroupArns compares them: without trafficSources' own
    (declared, or recorded as attached by awsop), whichever way AWS lists those."""
    return observed.target_groups - traffic.owned(
        spec.traffic_sources,
        observed.traffic or {},
        observed.traffic_recorded or set(),
        spec.target_group_arns,
    )


def _declared_names(spec: AutoScalingGroupSpec, path: str) -> set[str]:
    items = spec.scaling_policies if path == "scalingPolicies" else spec.scheduled_actions
    return {item.name for item in items or []}


def _with_record(
    path: str, spec: AutoScalingGroupSpec, observed: GroupObserved, changes: list[Change]
) -> list[Change]:
    """The family's changes, the first one also naming the record tag writes the apply will make."""
    if not changes:
        return changes
    recorded, declared = observed.recorded(path), _declared_names(spec, path)
    deleted = {c.path.split(".", 1)[1] for c in changes if c.action is Action.DELETE}
    final = (recorded | declared) - deleted
    calls: tuple[str, ...] = ("autoscaling:CreateOrUpdateTags",) if declared - recorded else ()
    if final != recorded | declared or (not final and recorded):
        calls += ("autoscaling:CreateOrUpdateTags",) if final else ("autoscaling:DeleteTags",)
    first = changes[0]
    return [replace(first, calls=(*calls[:1], *first.calls, *calls[1:])), *changes[1:]]


TARGET_GROUPS_PER_CALL = 10
"""Attach/DetachLoadBalancerTargetGroups: "You can specify up to 10 target groups." (API reference)"""


def _per_call(arns: set[str]) -> list[list[str]]:
    """The ARNs in sorted batches of at most TARGET_GROUPS_PER_CALL, one batch per call."""
    ordered = sorted(arns)
    return [
        ordered[start : start + TARGET_GROUPS_PER_CALL]
        for start in range(0, len(ordered), TARGET_GROUPS_PER_CALL)
    ]


def _calls_for(arns: set[str]) -> int:
    return len(_per_call(arns))
