"""Browser-facing facets: CORS rules and static website hosting.

The order of methods, origins and headers inside a CORS rule is not drift; routing rules keep their
order (S3 applies them in order).
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, model_validator

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


# -- static website hosting ---------------------------------------------------------------------------

WEBSITE_MISSING_CODES = frozenset({"NoSuchWebsiteConfiguration"})
WEBSITE_RULES: list[JsonValue] = [
    {
        "rule": "has(self.redirectAllRequestsTo) != has(self.indexDocument)",
        "message": "set exactly one of indexDocument or redirectAllRequestsTo",
    },
    {
        "rule": "!has(self.redirectAllRequestsTo) || (!has(self.errorDocument) && !has(self.routingRules))",
        "message": "redirectAllRequestsTo excludes errorDocument and routingRules",
    },
]
Protocol = Literal["http", "https"]


class RedirectAll(Model):
    """Send every request to another host."""

    host_name: str = Field(min_length=1, max_length=255, description="Host every request is redirected to.")
    protocol: Protocol | None = Field(None, description="http or https; omitted = the request's protocol.")


class RoutingCondition(Model):
    """When a routing rule applies (at least one field)."""

    key_prefix_equals: str | None = Field(None, max_length=1024, description="Object key prefix to match.")
    http_error_code_returned_equals: str | None = Field(
        None, pattern=r"^[45][0-9][0-9]$", description="HTTP error code to match, e.g. 404."
    )


class RoutingRedirect(Model):
    """Where a matching request goes."""

    host_name: str | None = Field(None, max_length=255, description="Host to redirect to.")
    protocol: Protocol | None = Field(None, description="http or https.")
    http_redirect_code: str | None = Field(None, pattern=r"^3[0-9][0-9]$", description="3xx code, e.g. 301.")
    replace_key_prefix_with: str | None = Field(
        None, max_length=1024, description="Replace the matched prefix."
    )
    replace_key_with: str | None = Field(None, max_length=1024, description="Replace the whole key.")

    @model_validator(mode="after")
    def _one_replacement(self) -> RoutingRedirect:
        if self.replace_key_prefix_with is not None and self.replace_key_with is not None:
            raise ValueError("replaceKeyPrefixWith and replaceKeyWith exclude each other")
        return self


class RoutingRule(Model):
    """Redirect requests that match a condition."""

    condition: RoutingCondition | None = Field(None, description="When the rule applies; omitted = always.")
    redirect: RoutingRedirect = Field(description="Where the request is redirected.")


class Website(Model):
    """Static website hosting: an index document (with error document and routing rules), or a redirect of
    every request. Website endpoints serve HTTP only; put CloudFront in front for TLS."""

    model_config = {**Model.model_config, "json_schema_extra": {"x-kubernetes-validations": WEBSITE_RULES}}

    index_document: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="Suffix served for directory requests, e.g. index.html.",
    )
    error_document: str | None = Field(
        None, min_length=1, max_length=1024, description="Key served on 4xx errors, e.g. error.html."
    )
    redirect_all_requests_to: RedirectAll | None = Field(
        None, description="Redirect every request to another host (excludes the other fields)."
    )
    routing_rules: list[RoutingRule] | None = Field(
        None, max_length=50, description="Conditional redirects, applied in order."
    )

    @model_validator(mode="after")
    def _shape(self) -> Website:
        if (self.redirect_all_requests_to is None) == (self.index_document is None):
            raise ValueError("website: set exactly one of indexDocument or redirectAllRequestsTo")
        if self.redirect_all_requests_to is not None and (self.error_document or self.routing_rules):
            raise ValueError("website: redirectAllRequestsTo excludes errorDocument and routingRules")
        return self


_CONDITION_KEYS = {
    "keyPrefixEquals": "KeyPrefixEquals",
    "httpErrorCodeReturnedEquals": "HttpErrorCodeReturnedEquals",
}
_REDIRECT_KEYS = {
    "hostName": "HostName",
    "protocol": "Protocol",
    "httpRedirectCode": "HttpRedirectCode",
    "replaceKeyPrefixWith": "ReplaceKeyPrefixWith",
    "replaceKeyWith": "ReplaceKeyWith",
}


def _website_desired(site: Website) -> dict[str, Any]:
    redirect_all = site.redirect_all_requests_to
    return {
        "indexDocument": site.index_document,
        "errorDocument": site.error_document,
        "redirectAllRequestsTo": None
        if redirect_all is None
        else {"hostName": redirect_all.host_name, "protocol": redirect_all.protocol},
        "routingRules": [
            {
                "condition": None
                if rule.condition is None
                else {
                    "keyPrefixEquals": rule.condition.key_prefix_equals,
                    "httpErrorCodeReturnedEquals": rule.condition.http_error_code_returned_equals,
                },
                "redirect": {
                    "hostName": rule.redirect.host_name,
                    "protocol": rule.redirect.protocol,
                    "httpRedirectCode": rule.redirect.http_redirect_code,
                    "replaceKeyPrefixWith": rule.redirect.replace_key_prefix_with,
                    "replaceKeyWith": rule.redirect.replace_key_with,
                },
            }
            for rule in site.routing_rules or []
        ],
    }


def _picked(doc: dict[str, Any] | None, keys: dict[str, str]) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {ours: doc.get(theirs) for ours, theirs in keys.items()}


def _read_website(s3: S3, bucket: str) -> Any:
    try:
        doc = s3.get_bucket_website(Bucket=bucket)
    except ClientError as exc:
        if missing(exc, WEBSITE_MISSING_CODES):
            return None
        raise
    redirect_all = doc.get("RedirectAllRequestsTo")
    return {
        "indexDocument": (doc.get("IndexDocument") or {}).get("Suffix"),
        "errorDocument": (doc.get("ErrorDocument") or {}).get("Key"),
        "redirectAllRequestsTo": _picked(redirect_all, {"hostName": "HostName", "protocol": "Protocol"}),
        "routingRules": [
            {
                "condition": _picked(rule.get("Condition"), _CONDITION_KEYS),
                "redirect": _picked(rule.get("Redirect") or {}, _REDIRECT_KEYS),
            }
            for rule in doc.get("RoutingRules", [])
        ],
    }


def _to_aws(value: dict[str, Any] | None, keys: dict[str, str]) -> dict[str, Any]:
    return {theirs: value[ours] for ours, theirs in keys.items() if value and value.get(ours) is not None}


def _write_website(s3: S3, bucket: str, value: Any) -> None:
    config: dict[str, Any] = {}
    if value["redirectAllRequestsTo"] is not None:
        config["RedirectAllRequestsTo"] = _to_aws(
            value["redirectAllRequestsTo"], {"hostName": "HostName", "protocol": "Protocol"}
        )
    else:
        config["IndexDocument"] = {"Suffix": value["indexDocument"]}
        if value["errorDocument"]:
            config["ErrorDocument"] = {"Key": value["errorDocument"]}
        if value["routingRules"]:
            config["RoutingRules"] = [
                {
                    **({"Condition": _to_aws(r["condition"], _CONDITION_KEYS)} if r["condition"] else {}),
                    "Redirect": _to_aws(r["redirect"], _REDIRECT_KEYS),
                }
                for r in value["routingRules"]
            ]
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)


WEBSITE = Facet(
    "website",
    lambda t: opt(t.spec.website, _website_desired),
    _read_website,
    _write_website,
    "GetBucketWebsite",
    "PutBucketWebsite",
    iam={"GetBucketWebsite": ("s3:GetBucketWebsite",), "PutBucketWebsite": ("s3:PutBucketWebsite",)},
)
