"""The lifecycle facet: rules that expire, transition and clean up objects.

The order a spec lists rules and transitions in is not drift (both sides are sorted).
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, model_validator

from ..model import Model
from .facet import S3, Facet, missing, opt

MISSING_CODES = frozenset({"NoSuchLifecycleConfiguration"})


class Transition(Model):
    days: int = Field(ge=0, le=36500, description="Days after creation.")
    storage_class: Literal[
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"
    ] = Field(description="Target storage class.")


class NoncurrentTransition(Model):
    noncurrent_days: int = Field(ge=1, le=36500, description="Days after the version became noncurrent.")
    storage_class: Literal[
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"
    ] = Field(description="Target storage class.")


class LifecycleRule(Model):
    """One lifecycle rule. Prefer a rule that aborts incomplete multipart uploads."""

    id: str = Field(min_length=1, max_length=255, description="Unique rule ID.")
    enabled: bool = Field(True, description="Whether the rule is applied.")
    prefix: str = Field(
        "", max_length=1024, description="Object key prefix the rule applies to; empty = all."
    )
    expiration_days: int | None = Field(
        None, ge=1, le=36500, description="Expire current versions after N days."
    )
    expired_object_delete_marker: bool | None = Field(
        None, description="Remove delete markers with no noncurrent versions."
    )
    transitions: list[Transition] = Field(
        default_factory=list, max_length=10, description="Storage class transitions."
    )
    noncurrent_version_expiration_days: int | None = Field(
        None, ge=1, le=36500, description="Expire noncurrent versions N days after they become noncurrent."
    )
    noncurrent_version_transitions: list[NoncurrentTransition] = Field(
        default_factory=list, max_length=10, description="Noncurrent version transitions."
    )
    abort_incomplete_multipart_upload_days: int | None = Field(
        None, ge=1, le=36500, description="Abort multipart uploads not completed within N days."
    )

    @model_validator(mode="after")
    def _has_action(self) -> LifecycleRule:
        if not (
            self.expiration_days
            or self.expired_object_delete_marker
            or self.transitions
            or self.noncurrent_version_expiration_days
            or self.noncurrent_version_transitions
            or self.abort_incomplete_multipart_upload_days
        ):
            raise ValueError(f"lifecycle rule {self.id!r} has no action (expiration, transition or abort)")
        if self.expiration_days and self.expired_object_delete_marker:
            raise ValueError(
                f"lifecycle rule {self.id!r}: expirationDays and expiredObjectDeleteMarker exclude each other"
            )
        return self


def _by_days(transitions: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Transitions as S3 returns them, ordered by age: the order a spec lists them in is not drift."""
    return sorted(transitions, key=lambda t: (t[key] or 0, t["storageClass"] or ""))


def _lifecycle_desired(rule: LifecycleRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "enabled": rule.enabled,
        "prefix": rule.prefix,
        "expirationDays": rule.expiration_days,
        "expiredObjectDeleteMarker": rule.expired_object_delete_marker or None,  # false == absent in S3
        "transitions": _by_days(
            [{"days": t.days, "storageClass": t.storage_class} for t in rule.transitions], "days"
        ),
        "noncurrentVersionExpirationDays": rule.noncurrent_version_expiration_days,
        "noncurrentVersionTransitions": _by_days(
            [
                {"noncurrentDays": t.noncurrent_days, "storageClass": t.storage_class}
                for t in rule.noncurrent_version_transitions
            ],
            "noncurrentDays",
        ),
        "abortIncompleteMultipartUploadDays": rule.abort_incomplete_multipart_upload_days,
    }


def _lifecycle_from_aws(rule: dict[str, Any]) -> dict[str, Any]:
    filt = rule.get("Filter") or {}
    prefix = filt.get("Prefix", rule.get("Prefix", "")) or ""
    if "And" in filt:
        prefix = filt["And"].get("Prefix", "") or ""
    expiration = rule.get("Expiration") or {}
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    abort = rule.get("AbortIncompleteMultipartUpload") or {}
    return {
        "id": rule.get("ID", ""),
        "enabled": rule.get("Status") == "Enabled",
        "prefix": prefix,
        "expirationDays": expiration.get("Days"),
        "expiredObjectDeleteMarker": expiration.get("ExpiredObjectDeleteMarker") or None,
        "transitions": _by_days(
            [
                {"days": t.get("Days"), "storageClass": t.get("StorageClass")}
                for t in rule.get("Transitions", [])
            ],
            "days",
        ),
        "noncurrentVersionExpirationDays": noncurrent.get("NoncurrentDays"),
        "noncurrentVersionTransitions": _by_days(
            [
                {"noncurrentDays": t.get("NoncurrentDays"), "storageClass": t.get("StorageClass")}
                for t in rule.get("NoncurrentVersionTransitions", [])
            ],
            "noncurrentDays",
        ),
        "abortIncompleteMultipartUploadDays": abort.get("DaysAfterInitiation"),
    }


def _lifecycle_to_aws(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": rule["id"],
        "Status": "Enabled" if rule["enabled"] else "Disabled",
        "Filter": {"Prefix": rule["prefix"]},
    }
    if rule["expirationDays"]:
        out["Expiration"] = {"Days": rule["expirationDays"]}
    elif rule["expiredObjectDeleteMarker"]:
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if rule["transitions"]:
        out["Transitions"] = [
            {"Days": t["days"], "StorageClass": t["storageClass"]} for t in rule["transitions"]
        ]
    if rule["noncurrentVersionExpirationDays"]:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrentVersionExpirationDays"]}
    if rule["noncurrentVersionTransitions"]:
        out["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": t["noncurrentDays"], "StorageClass": t["storageClass"]}
            for t in rule["noncurrentVersionTransitions"]
        ]
    if rule["abortIncompleteMultipartUploadDays"]:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": rule["abortIncompleteMultipartUploadDays"]
        }
    return out


def _read_lifecycle(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return []
        raise
    return sorted((_lifecycle_from_aws(r) for r in rules), key=lambda r: r["id"])


def _write_lifecycle(s3: S3, bucket: str, value: Any) -> None:
    if value:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_to_aws(r) for r in value]}
        )
    else:
        s3.delete_bucket_lifecycle(Bucket=bucket)


def _lifecycle_rules_desired(rules: list[LifecycleRule]) -> list[dict[str, Any]]:
    return sorted((_lifecycle_desired(r) for r in rules), key=lambda r: r["id"])


LIFECYCLE = Facet(
    "lifecycleRules",
    lambda t: opt(t.spec.lifecycle_rules, _lifecycle_rules_desired),
    _read_lifecycle,
    _write_lifecycle,
    "GetBucketLifecycleConfiguration",
    "PutBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    iam={
        "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
        "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration",),
        "DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration",),
    },
)
