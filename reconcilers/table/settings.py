"""Table settings: time to live, contributor insights, encryption, table class and deletion protection.

Each is read and compared only when declared. TTL and contributor insights have calls of their own and are
written at once; encryption, table class and deletion protection are UpdateTable steps. Never: turn deletion
protection off unless the spec says `deletionProtection: false`.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from ..engine import Target
from .spec import Encryption, TableAws, TableObserved, TableSpec, TimeToLive

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeTimeToLive": ("dynamodb:DescribeTimeToLive",),
    "UpdateTimeToLive": ("dynamodb:UpdateTimeToLive",),
    "DescribeContributorInsights": ("dynamodb:DescribeContributorInsights",),
    "UpdateContributorInsights": ("dynamodb:UpdateContributorInsights",),
}
CALL = ("dynamodb:UpdateTable",)
TTL_CALL = ("dynamodb:UpdateTimeToLive",)
INSIGHTS_CALL = ("dynamodb:UpdateContributorInsights",)

# -- time to live ---------------------------------------------------------------------------------------


def ttl_desired(ttl: TimeToLive) -> dict[str, Any]:
    return {"enabled": True, "attributeName": ttl.attribute_name} if ttl.enabled else {"enabled": False}


def ttl_view(description: dict[str, Any]) -> dict[str, Any]:
    status = description.get("TimeToLiveStatus", "DISABLED")
    if status in ("ENABLED", "ENABLING"):
        return {"enabled": True, "attributeName": description.get("AttributeName", "")}
    return {"enabled": False}


def read_ttl(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if target.spec.time_to_live is not None:
        observed.ttl = aws.ddb.describe_time_to_live(TableName=target.aws_name).get(
            "TimeToLiveDescription", {}
        )


def ttl_changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.time_to_live is None or observed.ttl is None:
        return []
    desired = ttl_desired(spec.time_to_live)
    actual = ttl_view(observed.ttl)
    if desired == actual:
        return []
    calls: tuple[str, ...] = TTL_CALL
    if actual["enabled"] and desired["enabled"]:  # another attribute: off, then on again
        calls = calls * 2
    return [Change("timeToLive", actual, desired, Action.UPDATE, calls)]


def ttl_after_create(spec: TableSpec) -> list[Change]:
    if spec.time_to_live is None or not spec.time_to_live.enabled:
        return []
    return [Change("timeToLive", None, ttl_desired(spec.time_to_live), Action.CREATE, TTL_CALL)]


# -- contributor insights -------------------------------------------------------------------------------


def read_insights(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if target.spec.contributor_insights is not None:
        insights = aws.ddb.describe_contributor_insights(TableName=target.aws_name)
        observed.contributor_insights = str(insights.get("ContributorInsightsStatus", "DISABLED"))


def insights_changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.contributor_insights is None or observed.contributor_insights is None:
        return []
    actual_on = observed.contributor_insights in ("ENABLED", "ENABLING")
    if actual_on == spec.contributor_insights:
        return []
    return [Change("contributorInsights", actual_on, spec.contributor_insights, Action.UPDATE, INSIGHTS_CALL)]


def insights_after_create(spec: TableSpec) -> list[Change]:
    if not spec.contributor_insights:
        return []
    return [Change("contributorInsights", None, True, Action.CREATE, INSIGHTS_CALL)]


def write(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    """TTL and contributor insights changes; False for any other change."""
    name = target.aws_name
    if change.path == "timeToLive":
        desired = change.desired
        actual = change.actual or {"enabled": False}
        if actual.get("enabled") and (
            not desired["enabled"] or actual.get("attributeName") != desired["attributeName"]
        ):
            aws.ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": False, "AttributeName": actual["attributeName"]},
            )
        if desired["enabled"]:
            aws.ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": desired["attributeName"]},
            )
        return True
    if change.path == "contributorInsights":
        aws.ddb.update_contributor_insights(
            TableName=name, ContributorInsightsAction="ENABLE" if change.desired else "DISABLE"
        )
        return True
    return False


# -- encryption -----------------------------------------------------------------------------------------


def encryption_view(sse: dict[str, Any] | None) -> dict[str, Any]:
    """What DescribeTable tells: AWS_OWNED, or a KMS key by ARN. It does not tell an AWS managed key from
    a customer managed one (that would cost a kms:DescribeKey per check), so comparison goes by the key."""
    if not sse or sse.get("Status") in (None, "DISABLED", "DISABLING"):
        return {"type": "AWS_OWNED"}
    return {"type": "KMS", "kmsKeyArn": sse.get("KMSMasterKeyArn", "")}


def encryption_matches(desired: Encryption, actual: dict[str, Any]) -> bool:
    if desired.type == "AWS_OWNED" or actual.get("type") == "AWS_OWNED":
        return desired.type == actual.get("type")
    if desired.type == "AWS_MANAGED" or not desired.kms_key_id:
        return True  # KMS either way; the key's manager is not visible without KMS calls
    want, have = desired.kms_key_id, str(actual.get("kmsKeyArn", ""))
    if want.startswith("alias/") or ":alias/" in want:
        return True  # an alias names a key DescribeTable only shows by ARN: not compared
    return have == want or have.endswith(f"/{want}")


def sse_to_aws(enc: Encryption) -> dict[str, Any]:
    if enc.type == "AWS_OWNED":
        return {"Enabled": False}
    out: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if enc.kms_key_id:
        out["KMSMasterKeyId"] = enc.kms_key_id
    return out


def encryption_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.encryption is None:
        return []
    actual = encryption_view(observed.description.get("SSEDescription"))
    if encryption_matches(spec.encryption, actual):
        return []
    desired = spec.encryption.model_dump(by_alias=True, exclude_none=True)
    return [Change("encryption", actual, desired, Action.UPDATE, CALL, "changing encryption")]


# -- table class and deletion protection ----------------------------------------------------------------


def table_class_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.table_class is None:
        return []
    actual = (observed.description.get("TableClassSummary") or {}).get("TableClass", "STANDARD")
    if actual == spec.table_class:
        return []
    label = f"changing table class to {spec.table_class}"
    return [Change("tableClass", actual, spec.table_class, Action.UPDATE, CALL, label)]


def deletion_protection_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.deletion_protection is None:
        return []
    actual = bool(observed.description.get("DeletionProtectionEnabled", False))
    if actual == spec.deletion_protection:
        return []
    label = "turning deletion protection " + ("on" if spec.deletion_protection else "off")
    return [Change("deletionProtection", actual, spec.deletion_protection, Action.UPDATE, CALL, label)]


def update_args(spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any] | None:
    if change.path == "encryption" and spec.encryption is not None:
        return {"SSESpecification": sse_to_aws(spec.encryption)}
    if change.path == "tableClass":
        return {"TableClass": spec.table_class}
    if change.path == "deletionProtection":
        return {"DeletionProtectionEnabled": bool(spec.deletion_protection)}
    return None
