"""Browser-facing facets: CORS rules.

The order of methods, origins and headers inside a rule is not drift.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from ..model import Model
from .facet import S3, Facet, missing, opt

MISSING_CODES = frozenset({"NoSuchCORSConfiguration"})


class CorsRule(Model):
    id: str | None = Field(None, max_length=255, description="Optional rule ID.")
    allowed_methods: list[Literal["GET", "PUT", "POST", "DELETE", "HEAD"]] = Field(
        min_length=1, description="HTTP methods allowed from the origins."
    )
    allowed_origins: list[str] = Field(min_length=1, description="Origins, e.g. https://example.com or *.")
    allowed_headers: list[str] = Field(
        default_factory=list, description="Headers allowed in preflight requests."
    )
    expose_headers: list[str] = Field(
        default_factory=list, description="Response headers exposed to the browser."
    )
    max_age_seconds: int | None = Field(None, ge=0, description="Preflight cache time in seconds.")


def _cors_desired(rule: CorsRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "allowedMethods": sorted(rule.allowed_methods),
        "allowedOrigins": sorted(rule.allowed_origins),
        "allowedHeaders": sorted(rule.allowed_headers),
        "exposeHeaders": sorted(rule.expose_headers),
        "maxAgeSeconds": rule.max_age_seconds,
    }


def _cors_from_aws(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule.get("ID"),
        "allowedMethods": sorted(rule.get("AllowedMethods", [])),
        "allowedOrigins": sorted(rule.get("AllowedOrigins", [])),
        "allowedHeaders": sorted(rule.get("AllowedHeaders", [])),
        "exposeHeaders": sorted(rule.get("ExposeHeaders", [])),
        "maxAgeSeconds": rule.get("MaxAgeSeconds"),
    }


def _cors_to_aws(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"AllowedMethods": rule["allowedMethods"], "AllowedOrigins": rule["allowedOrigins"]}
    if rule["id"]:
        out["ID"] = rule["id"]
    if rule["allowedHeaders"]:
        out["AllowedHeaders"] = rule["allowedHeaders"]
    if rule["exposeHeaders"]:
        out["ExposeHeaders"] = rule["exposeHeaders"]
    if rule["maxAgeSeconds"] is not None:
        out["MaxAgeSeconds"] = rule["maxAgeSeconds"]
    return out


def _read_cors(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return []
        raise
    return [_cors_from_aws(r) for r in rules]


def _write_cors(s3: S3, bucket: str, value: Any) -> None:
    if value:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_cors_to_aws(r) for r in value]})
    else:
        s3.delete_bucket_cors(Bucket=bucket)


CORS = Facet(
    "cors",
    lambda t: opt(t.spec.cors, lambda rules: [_cors_desired(r) for r in rules]),
    _read_cors,
    _write_cors,
    "GetBucketCors",
    "PutBucketCors",
    "DeleteBucketCors",
    iam={
        "GetBucketCors": ("s3:GetBucketCORS",),
        "PutBucketCors": ("s3:PutBucketCORS",),
        "DeleteBucketCors": ("s3:PutBucketCORS",),
    },
)
