"""Lifecycle hooks of an Auto Scaling group: the model, how they are read (DescribeLifecycleHooks, one
group per call: AWS has no batch read for them), compared by name, and written.

Hooks are kept in sync, not only set at create: a hook changed or deleted out of band is drift, a hook
left out of a declared list is removed. It must never read or write hooks when the spec does not declare
`lifecycleHooks`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..aws import RetryingClient
from ..changes import Action, Change
from ..model import Model

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeLifecycleHooks": ("autoscaling:DescribeLifecycleHooks",),
    "PutLifecycleHook": ("autoscaling:PutLifecycleHook", "iam:PassRole"),
    "DeleteLifecycleHook": ("autoscaling:DeleteLifecycleHook",),
}


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


def hook_desired(hook: LifecycleHook) -> dict[str, Any]:
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


def hook_from_aws(hook: dict[str, Any], declared: dict[str, Any] | None) -> dict[str, Any]:
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


def read_hooks(
    autoscaling: RetryingClient, group: str, declared: list[LifecycleHook]
) -> dict[str, dict[str, Any]]:
    """The group's hooks by name, each in the form `hook_desired` gives for the declared hooks."""
    wanted = {hook.name: hook_desired(hook) for hook in declared}
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    return {h["LifecycleHookName"]: hook_from_aws(h, wanted.get(h["LifecycleHookName"])) for h in hooks}


def put_hook(autoscaling: RetryingClient, group: str, hook: LifecycleHook) -> None:
    kwargs: dict[str, Any] = {
        "AutoScalingGroupName": group,
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
    autoscaling.put_lifecycle_hook(**kwargs)


def hook_changes(
    declared: list[LifecycleHook] | None, actual: dict[str, dict[str, Any]] | None
) -> list[Change]:
    """One change per hook that differs, is missing, or is in AWS but not in the declared list."""
    if declared is None or actual is None:
        return []
    changes = []
    for hook in declared:
        want = hook_desired(hook)
        have = actual.get(hook.name)
        if have != want:
            action = Action.CREATE if have is None else Action.UPDATE
            changes.append(
                Change(f"lifecycleHooks.{hook.name}", have, want, action, ("autoscaling:PutLifecycleHook",))
            )
    names = {hook.name for hook in declared}
    for name in sorted(set(actual) - names):
        changes.append(
            Change(
                f"lifecycleHooks.{name}",
                actual[name],
                None,
                Action.DELETE,
                ("autoscaling:DeleteLifecycleHook",),
            )
        )
    return changes


def plan_hooks(declared: list[LifecycleHook] | None) -> list[Change]:
    """The hooks a create puts (after the group exists)."""
    return [
        Change(
            f"lifecycleHooks.{hook.name}",
            None,
            hook_desired(hook),
            Action.CREATE,
            ("autoscaling:PutLifecycleHook",),
        )
        for hook in declared or []
    ]


def apply_hooks(
    autoscaling: RetryingClient, group: str, declared: list[LifecycleHook] | None, changes: list[Change]
) -> None:
    """Put or delete the hooks the changes name."""
    by_name = {hook.name: hook for hook in declared or []}
    for change in changes:
        if change.path.startswith("lifecycleHooks."):
            hook_name = change.path.split(".", 1)[1]
            if change.action is Action.DELETE:
                autoscaling.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=hook_name)
            else:
                put_hook(autoscaling, group, by_name[hook_name])
