"""Instance refresh of an Auto Scaling group: the model, the latest refresh read for status and to never
start a second (DescribeInstanceRefreshes takes one group), starting one, and the record of the launch
template version a `$Latest`/`$Default` group last rolled out.

What decides that a refresh is due (the template version the group resolves to moved) is part of the
group's launch template comparison in `group.py`; this module only reads, starts and reports refreshes.
It must never start a refresh while one runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..aws import RetryingClient
from ..engine import Busy
from ..model import Model

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeInstanceRefreshes": ("autoscaling:DescribeInstanceRefreshes",),
    "StartInstanceRefresh": ("autoscaling:StartInstanceRefresh",),
}
RUNNING_REFRESH = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
ALIASES = frozenset({"$Latest", "$Default"})
# The version number a $Latest/$Default group last rolled out (instance refresh), kept on the group itself
# so a new version is noticed after restarts and by the CLI alike; read with the group, never propagated.
FOLLOW_TAG = "awsop.io/launch-template-version"


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


class RefreshStatus(Model):
    id: str | None = Field(None, description="Instance refresh id.")
    status: str | None = Field(
        None, description="Pending, InProgress, Successful, Failed, Cancelling, Cancelled, ..."
    )
    percentage_complete: int | None = Field(None, description="Share of instances replaced so far.")
    status_reason: str | None = Field(None, description="AWS's reason, e.g. why a refresh failed.")


def latest_refresh(autoscaling: RetryingClient, group: str) -> dict[str, Any] | None:
    """The most recent instance refresh of the group (AWS lists them newest first)."""
    refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=1)[
        "InstanceRefreshes"
    ]
    return dict(refreshes[0]) if refreshes else None


def start_refresh(autoscaling: RetryingClient, group: str, refresh: InstanceRefresh) -> dict[str, Any]:
    """One rolling instance refresh with the declared preferences; what status shows until the next read."""
    preferences: dict[str, Any] = {
        "MinHealthyPercentage": refresh.min_healthy_percentage,
        "SkipMatching": refresh.skip_matching,
        "AutoRollback": refresh.auto_rollback,
    }
    if refresh.instance_warmup_seconds is not None:
        preferences["InstanceWarmup"] = refresh.instance_warmup_seconds
    started = autoscaling.start_instance_refresh(
        AutoScalingGroupName=group, Strategy="Rolling", Preferences=preferences
    )
    return {"InstanceRefreshId": started.get("InstanceRefreshId"), "Status": "Pending"}


def refresh_busy(refresh: dict[str, Any] | None) -> Busy | None:
    """A running refresh makes the group busy: awsop writes nothing to it meanwhile."""
    refresh = refresh or {}
    if refresh.get("Status") in RUNNING_REFRESH:
        return Busy(
            "InstanceRefresh",
            f"instance refresh {refresh.get('InstanceRefreshId')} {refresh.get('Status')}: "
            f"{refresh.get('PercentageComplete', 0)}% complete",
        )
    return None


def refresh_status(refresh: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": refresh.get("InstanceRefreshId"),
        "status": refresh.get("Status"),
        "percentageComplete": refresh.get("PercentageComplete"),
        "statusReason": refresh.get("StatusReason"),
    }
