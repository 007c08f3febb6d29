"""Backups of a table: point-in-time recovery (continuous backups).

Read (DescribeContinuousBackups) only when declared; the recovery period is compared only when declared
(AWS's default is 35 days). Never: turn point-in-time recovery off unless the spec says `enabled: false`.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from ..engine import Target
from .spec import PointInTimeRecovery, TableAws, TableObserved, TableSpec

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeContinuousBackups": ("dynamodb:DescribeContinuousBackups",),
    "UpdateContinuousBackups": ("dynamodb:UpdateContinuousBackups",),
}
PATH = "pointInTimeRecovery"
CALL = ("dynamodb:UpdateContinuousBackups",)


def pitr_desired(pitr: PointInTimeRecovery) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": pitr.enabled}
    if pitr.enabled and pitr.recovery_period_days is not None:
        out["recoveryPeriodDays"] = pitr.recovery_period_days
    return out


def pitr_view(description: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": description.get("PointInTimeRecoveryStatus") == "ENABLED"}
    if out["enabled"] and "recoveryPeriodDays" in desired:
        out["recoveryPeriodDays"] = description.get("RecoveryPeriodInDays", 35)  # AWS's default period
    return out


def read(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if target.spec.point_in_time_recovery is None:
        return
    backups = aws.ddb.describe_continuous_backups(TableName=target.aws_name)
    description = backups.get("ContinuousBackupsDescription", {})
    observed.pitr = description.get("PointInTimeRecoveryDescription", {})


def changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.point_in_time_recovery is None or observed.pitr is None:
        return []
    desired = pitr_desired(spec.point_in_time_recovery)
    actual = pitr_view(observed.pitr, desired)
    if desired == actual:
        return []
    return [Change(PATH, actual, desired, Action.UPDATE, CALL)]


def after_create(spec: TableSpec) -> list[Change]:
    if spec.point_in_time_recovery is None or not spec.point_in_time_recovery.enabled:
        return []
    return [Change(PATH, None, pitr_desired(spec.point_in_time_recovery), Action.CREATE, CALL)]


def write(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    if change.path != PATH:
        return False
    pitr: dict[str, Any] = {"PointInTimeRecoveryEnabled": change.desired["enabled"]}
    if change.desired.get("recoveryPeriodDays"):
        pitr["RecoveryPeriodInDays"] = change.desired["recoveryPeriodDays"]
    aws.ddb.update_continuous_backups(TableName=target.aws_name, PointInTimeRecoverySpecification=pitr)
    return True
