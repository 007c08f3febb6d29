"""The S3 Intelligent-Tiering archive configurations facet.

Read with one ListBucketIntelligentTieringConfigurations (paged), written one configuration per call:
a configuration that differs is put, one the spec no longer lists is deleted (only while the facet is
declared: an empty list removes them all, a facet left out is neither read nor written).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..model import Model
from .facet import S3, Facet, opt


class TieringConfiguration(Model):
    """One Intelligent-Tiering archive configuration (objects in the INTELLIGENT_TIERING class)."""

    id: str = Field(min_length=1, max_length=64, description="Configuration ID, unique per bucket.")
    enabled: bool = Field(True, description="Whether the configuration is applied.")
    prefix: str = Field("", max_length=1024, description="Object key prefix it applies to; empty = all.")
    archive_access_days: int | None = Field(
        None, ge=90, le=730, description="Move objects not accessed for N days to the Archive Access tier."
    )
    deep_archive_access_days: int | None = Field(
        None, ge=180, le=730, description="Move objects not accessed for N days to the Deep Archive tier."
    )

    @model_validator(mode="after")
    def _tier(self) -> TieringConfiguration:
        if self.archive_access_days is None and self.deep_archive_access_days is None:
            raise ValueError(
                f"intelligentTiering {self.id!r}: set archiveAccessDays or deepArchiveAccessDays"
            )
        if (
            self.archive_access_days is not None
            and self.deep_archive_access_days is not None
            and self.deep_archive_access_days <= self.archive_access_days
        ):
            raise ValueError(
                f"intelligentTiering {self.id!r}: deepArchiveAccessDays must exceed archiveAccessDays"
            )
        return self


_TIERS = {"ARCHIVE_ACCESS": "archiveAccessDays", "DEEP_ARCHIVE_ACCESS": "deepArchiveAccessDays"}


def _desired(configs: list[TieringConfiguration]) -> list[dict[str, Any]]:
    return sorted(
        (
            {
                "id": c.id,
                "enabled": c.enabled,
                "prefix": c.prefix,
                "archiveAccessDays": c.archive_access_days,
                "deepArchiveAccessDays": c.deep_archive_access_days,
            }
            for c in configs
        ),
        key=lambda c: c["id"],
    )


def _from_aws(config: dict[str, Any]) -> dict[str, Any]:
    filt = config.get("Filter") or {}
    prefix = (filt.get("And") or {}).get("Prefix", filt.get("Prefix", "")) or ""
    out: dict[str, Any] = {
        "id": config.get("Id", ""),
        "enabled": config.get("Status") == "Enabled",
        "prefix": prefix,
        "archiveAccessDays": None,
        "deepArchiveAccessDays": None,
    }
    for tiering in config.get("Tierings", []):
        key = _TIERS.get(tiering.get("AccessTier", ""))
        if key:
            out[key] = tiering.get("Days")
    return out


def _read(s3: S3, bucket: str) -> Any:
    configs: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket}
    while True:
        page = s3.list_bucket_intelligent_tiering_configurations(**kwargs)
        configs += [_from_aws(c) for c in page.get("IntelligentTieringConfigurationList", [])]
        if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
            return sorted(configs, key=lambda c: c["id"])
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _carry(desired: Any, actual: Any) -> Any:
    """The desired configurations and the ones found, so a write puts only what differs and deletes only
    what the spec no longer lists."""
    return {"desired": desired, "found": actual if isinstance(actual, list) else []}


def _to_aws(config: dict[str, Any]) -> dict[str, Any]:
    tierings = [
        {"AccessTier": tier, "Days": config[key]} for tier, key in _TIERS.items() if config[key] is not None
    ]
    return {
        "Id": config["id"],
        "Status": "Enabled" if config["enabled"] else "Disabled",
        "Filter": {"Prefix": config["prefix"]} if config["prefix"] else {},
        "Tierings": tierings,
    }


def _write(s3: S3, bucket: str, value: Any) -> None:
    found = {c["id"]: c for c in value["found"]}
    wanted = {c["id"] for c in value["desired"]}
    for config in value["desired"]:
        if found.get(config["id"]) != config:
            s3.put_bucket_intelligent_tiering_configuration(
                Bucket=bucket, Id=config["id"], IntelligentTieringConfiguration=_to_aws(config)
            )
    for config_id in sorted(set(found) - wanted):
        s3.delete_bucket_intelligent_tiering_configuration(Bucket=bucket, Id=config_id)


INTELLIGENT_TIERING = Facet(
    "intelligentTiering",
    lambda t: opt(t.spec.intelligent_tiering, _desired),
    _read,
    _write,
    "ListBucketIntelligentTieringConfigurations",
    "PutBucketIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration",
    iam={
        "ListBucketIntelligentTieringConfigurations": ("s3:GetIntelligentTieringConfiguration",),
        "PutBucketIntelligentTieringConfiguration": ("s3:PutIntelligentTieringConfiguration",),
        "DeleteBucketIntelligentTieringConfiguration": ("s3:PutIntelligentTieringConfiguration",),
    },
    carry=_carry,
)
