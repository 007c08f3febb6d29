"""Scheduled actions of an Auto Scaling group (`spec.scheduledActions`): a cron recurrence or a start
time, an optional end time and time zone, and the min/max/desired capacity to set then. Read with one
DescribeScheduledActions per group (AWS reads one group, or every action of the region, per call),
compared by name on the fields the spec declares (AWS fills in `StartTime` with a recurring action's next
run, and `Time`: not drift unless declared), written with PutScheduledUpdateGroupAction /
DeleteScheduledAction.

Only actions awsop created are removed (recorded on the group, tag SCHEDULE_TAG) unless
`exclusiveScheduledActions: true`. A scheduled action moves the group's min/max (and desired) capacity
when it runs: a bound any declared action sets belongs to the schedule, and the group's loop neither
compares nor writes it after the create (see `schedule_owned`). It must never delete an action it did not
record unless exclusive management is declared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field, JsonValue, model_validator

from ..aws import RetryingClient
from ..changes import Action, Change
from ..model import Model
from .records import NAME_PATTERN

SCHEDULE_TAG = "awsop.io/scheduled-actions"
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeScheduledActions": ("autoscaling:DescribeScheduledActions",),
    "PutScheduledUpdateGroupAction": ("autoscaling:PutScheduledUpdateGroupAction",),
    "DeleteScheduledAction": ("autoscaling:DeleteScheduledAction",),
}
ACTIONS_MAX = 25  # awsop's bound (AWS's default quota is 125 per group); keeps the CEL cost and record small
FIELDS = {
    "recurrence": "Recurrence",
    "startTime": "StartTime",
    "endTime": "EndTime",
    "timeZone": "TimeZone",
    "minSize": "MinSize",
    "maxSize": "MaxSize",
    "desiredCapacity": "DesiredCapacity",
}


SCHEDULE_RULES: list[JsonValue] = [
    {
        "rule": "has(self.recurrence) || has(self.startTime)",
        "message": "scheduledActions: set recurrence, startTime or both",
    },
    {
        "rule": "has(self.minSize) || has(self.maxSize) || has(self.desiredCapacity)",
        "message": "scheduledActions: set at least one of minSize, maxSize, desiredCapacity",
    },
    {
        "rule": "!has(self.minSize) || !has(self.maxSize) || self.minSize <= self.maxSize",
        "message": "scheduledActions: minSize must not exceed maxSize",
    },
]


class ScheduledAction(Model):
    """One scheduled action, kept in sync by name."""

    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"x-kubernetes-validations": SCHEDULE_RULES}
    )

    name: str = Field(
        min_length=1, max_length=128, pattern=NAME_PATTERN, description="Action name, unique in the group."
    )
    recurrence: str | None = Field(
        None,
        min_length=9,
        max_length=256,
        description='Unix cron expression (minute hour day month weekday), e.g. "0 8 * * 1-5". '
        "At least one of recurrence and startTime.",
    )
    start_time: AwareDatetime | None = Field(
        None, description="When the action runs (once), or from when the recurrence applies (RFC 3339)."
    )
    end_time: AwareDatetime | None = Field(None, description="When a recurrence stops (RFC 3339).")
    time_zone: str | None = Field(
        None, min_length=1, max_length=255, description="IANA time zone of the recurrence (AWS default UTC)."
    )
    min_size: int | None = Field(None, ge=0, le=10000, description="Minimum size to set.")
    max_size: int | None = Field(None, ge=0, le=10000, description="Maximum size to set.")
    desired_capacity: int | None = Field(None, ge=0, le=10000, description="Desired capacity to set.")

    @model_validator(mode="after")
    def _rules(self) -> ScheduledAction:
        if self.recurrence is None and self.start_time is None:
            raise ValueError(f"scheduledActions.{self.name}: set recurrence, startTime or both")
        if self.min_size is None and self.max_size is None and self.desired_capacity is None:
            raise ValueError(
                f"scheduledActions.{self.name}: set at least one of minSize, maxSize, desiredCapacity"
            )
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise ValueError(f"scheduledActions.{self.name}: minSize must not exceed maxSize")
        return self


def schedule_owned(declared: list[ScheduledAction] | None) -> set[str]:
    """The group's bounds some declared action sets ("minSize", "maxSize"): the schedule moves them, so
    awsop sets them at create only."""
    owned = set()
    for action in declared or []:
        if action.min_size is not None:
            owned.add("minSize")
        if action.max_size is not None:
            owned.add("maxSize")
    return owned


def desired_action(action: ScheduledAction) -> dict[str, Any]:
    """The declared fields, camelCase, times as aware datetimes: the compared form."""
    return {k: v for k, v in action.model_dump(by_alias=True, exclude_none=True).items() if k != "name"}


def action_from_aws(found: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """DescribeScheduledActions' entry on the keys `want` declares."""
    out: dict[str, Any] = {}
    for key in want:
        value = found.get(FIELDS[key])
        if isinstance(value, str) and key in ("startTime", "endTime"):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        out[key] = value
    return out


def _show(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def read_actions(autoscaling: RetryingClient, group: str) -> dict[str, dict[str, Any]]:
    """Every scheduled action of the group by name (paginated)."""
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"AutoScalingGroupName": group, "MaxRecords": 100}
    while True:
        page = autoscaling.describe_scheduled_actions(**kwargs)
        for action in page.get("ScheduledUpdateGroupActions", []):
            found[action["ScheduledActionName"]] = dict(action)
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def action_changes(
    declared: list[ScheduledAction] | None,
    actual: dict[str, dict[str, Any]] | None,
    recorded: set[str],
    exclusive: bool,
) -> list[Change]:
    if actual is None:
        return []
    put = ("autoscaling:PutScheduledUpdateGroupAction",)
    changes = []
    for action in declared or []:
        want = desired_action(action)
        found = actual.get(action.name)
        if found is None:
            changes.append(Change(f"scheduledActions.{action.name}", None, _show(want), Action.CREATE, put))
            continue
        have = action_from_aws(found, want)
        if have != want:
            changes.append(
                Change(f"scheduledActions.{action.name}", _show(have), _show(want), Action.UPDATE, put)
            )
    names = {action.name for action in declared or []}
    for name in sorted(set(actual) - names):
        if exclusive or name in recorded:
            changes.append(
                Change(
                    f"scheduledActions.{name}",
                    {"recurrence": actual[name].get("Recurrence")},
                    None,
                    Action.DELETE,
                    ("autoscaling:DeleteScheduledAction",),
                )
            )
    return changes


def plan_actions(declared: list[ScheduledAction] | None) -> list[Change]:
    return [
        Change(
            f"scheduledActions.{action.name}",
            None,
            _show(desired_action(action)),
            Action.CREATE,
            ("autoscaling:PutScheduledUpdateGroupAction",),
        )
        for action in declared or []
    ]


def put_action(autoscaling: RetryingClient, group: str, action: ScheduledAction) -> None:
    kwargs = {FIELDS[k]: v for k, v in desired_action(action).items()}
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=group, ScheduledActionName=action.name, **kwargs
    )


def apply_actions(
    autoscaling: RetryingClient, group: str, declared: list[ScheduledAction] | None, changes: list[Change]
) -> set[str]:
    """Put or delete the actions the changes name; the names deleted."""
    by_name = {action.name: action for action in declared or []}
    deleted = set()
    for change in changes:
        if change.path.startswith("scheduledActions."):
            name = change.path.split(".", 1)[1]
            if change.action is Action.DELETE:
                autoscaling.delete_scheduled_action(AutoScalingGroupName=group, ScheduledActionName=name)
                deleted.add(name)
            else:
                put_action(autoscaling, group, by_name[name])
    return deleted
