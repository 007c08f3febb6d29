"""The server access logging facet."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..model import Model
from .facet import S3, Facet, opt

# S3's answer to PutBucketLogging while the target bucket does not exist (yet): the target is waited for
LOGGING_TARGET_MISSING = frozenset({"InvalidTargetBucketForLogging"})


class Logging(Model):
    """Server access logging to another bucket."""

    enabled: bool = Field(True, description="false turns access logging off.")
    target_bucket: str = Field("", max_length=63, description="Bucket that receives the logs (not this one).")
    target_prefix: str = Field("", max_length=1024, description="Key prefix for log objects.")

    @model_validator(mode="after")
    def _target(self) -> Logging:
        if self.enabled and not self.target_bucket:
            raise ValueError("logging.targetBucket is required when logging is enabled")
        return self


def _logging_desired(log: Logging) -> dict[str, Any]:
    if not log.enabled:
        return {"enabled": False}
    return {"enabled": True, "targetBucket": log.target_bucket, "targetPrefix": log.target_prefix}


def _read_logging(s3: S3, bucket: str) -> Any:
    enabled = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
    if not enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        "targetBucket": enabled.get("TargetBucket", ""),
        "targetPrefix": enabled.get("TargetPrefix", ""),
    }


def _write_logging(s3: S3, bucket: str, value: Any) -> None:
    status: dict[str, Any] = {}
    if value.get("enabled"):
        status["LoggingEnabled"] = {
            "TargetBucket": value["targetBucket"],
            "TargetPrefix": value["targetPrefix"],
        }
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus=status)


LOGGING = Facet(
    "logging",
    lambda t: opt(t.spec.logging, _logging_desired),
    _read_logging,
    _write_logging,
    "GetBucketLogging",
    "PutBucketLogging",
    iam={"GetBucketLogging": ("s3:GetBucketLogging",), "PutBucketLogging": ("s3:PutBucketLogging",)},
)
