"""The replication facet: rules that copy new objects to other buckets (by reference or ARN).

Versioning must be Enabled on both sides. The source's own versioning is checked by the model (plan
time, naming `versioning`); a destination awsop manages is checked from what it declares (its status,
without an AWS call), and every destination's versioning is read once before a write (GetBucketVersioning):
while one is not Enabled nothing is written and the bucket waits. A destination by reference is
created first (the reference machinery).

It must never: treat a storage class the spec leaves out, or fields AWS adds to a rule, as drift.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, model_validator

from ..aws import AwsClients
from ..engine import Target
from ..errors import RecoverableError
from ..model import Model
from ..refs import KNOWN_AFTER_APPLY, REF_RULES, LocalName, Reference
from .facet import S3, Facet, missing, opt

BUCKET_KIND = "Bucket"
StorageClass = Literal[
    "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"
]
MISSING_CODES = frozenset({"ReplicationConfigurationNotFoundError"})
BUCKET_ARN_PATTERN = r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"


class BucketRef(Model):
    """Another bucket: an awsop Bucket in this namespace (`ref`) or an S3 bucket ARN (`arn`)."""

    model_config = {**Model.model_config, "json_schema_extra": {"x-kubernetes-validations": REF_RULES}}

    ref: LocalName | None = Field(
        None, description="An awsop Bucket in the same namespace; awsop waits until it is Ready."
    )
    arn: str | None = Field(
        None,
        max_length=128,
        pattern=BUCKET_ARN_PATTERN,
        description="arn:aws:s3:::<bucket> of another bucket.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> BucketRef:
        if (self.ref is None) == (self.arn is None):
            raise ValueError("set exactly one of ref or arn")
        return self


class ReplicationDestination(Model):
    """Where a rule copies objects to."""

    bucket: BucketRef = Field(description="The destination bucket (versioning must be Enabled there too).")
    storage_class: (
        Literal[
            "STANDARD",
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
            "GLACIER",
            "GLACIER_IR",
            "DEEP_ARCHIVE",
        ]
        | None
    ) = Field(None, description="Storage class of the replicas; omitted = the source object's class.")


class ReplicationRule(Model):
    """One replication rule."""

    id: str = Field(min_length=1, max_length=255, description="Unique rule ID.")
    priority: int = Field(ge=0, le=1000, description="Higher wins where rules overlap; unique per bucket.")
    enabled: bool = Field(True, description="Whether the rule is applied.")
    prefix: str = Field(
        "", max_length=1024, description="Object key prefix the rule applies to; empty = all."
    )
    destination: ReplicationDestination = Field(description="The destination bucket and storage class.")
    delete_marker_replication: bool = Field(False, description="Replicate delete markers too.")


class Replication(Model):
    """Replication of new objects to other buckets (versioning Enabled on both sides)."""

    role: str = Field(
        max_length=2048,
        pattern=ROLE_ARN_PATTERN,
        description="ARN of the IAM role S3 assumes to replicate (the operator needs iam:PassRole on it).",
    )
    rules: list[ReplicationRule] = Field(
        min_length=1, max_length=100, description="Replication rules (unique ids and priorities)."
    )

    @model_validator(mode="after")
    def _unique(self) -> Replication:
        ids = [rule.id for rule in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("replication.rules ids must be unique")
        priorities = [rule.priority for rule in self.rules]
        if len(priorities) != len(set(priorities)):
            raise ValueError("replication.rules priorities must be unique")
        return self

    def references(self) -> list[Reference]:
        return [
            Reference(
                BUCKET_KIND, rule.destination.bucket.ref.name, f"replication.rules[{i}].destination.bucket"
            )
            for i, rule in enumerate(self.rules)
            if rule.destination.bucket.ref is not None
        ]


# -- normalisation (pure) ---------------------------------------------------------------------------


def _destination_arn(target: Target[Any], index: int, ref: BucketRef) -> str:
    """The destination's ARN. A referenced Bucket that declares versioning other than Enabled fails here,
    at plan time, naming the field (recoverable: the destination's spec may change)."""
    if ref.arn is not None:
        return ref.arn
    assert ref.ref is not None
    found = target.context.resolution(BUCKET_KIND, ref.ref.name)
    declared = found.values.get("versioning")
    if found.ready and not found.planned and declared is not None and declared != "Enabled":
        raise RecoverableError(
            "ReplicationDestinationNotVersioned",
            f"replication.rules[{index}].destination.bucket: Bucket {ref.ref.name} declares versioning "
            f"{declared}; replication needs versioning Enabled on the destination",
        )
    value = found.value("arn")
    return str(value) if value else KNOWN_AFTER_APPLY


def _desired(target: Target[Any]) -> Any:
    spec: Replication | None = target.spec.replication
    if spec is None:
        return opt(None)
    rules = [
        {
            "id": rule.id,
            "priority": rule.priority,
            "enabled": rule.enabled,
            "prefix": rule.prefix,
            "destination": _destination_arn(target, i, rule.destination.bucket),
            "storageClass": rule.destination.storage_class,
            "deleteMarkerReplication": rule.delete_marker_replication,
        }
        for i, rule in enumerate(spec.rules)
    ]
    return {"role": spec.role, "rules": sorted(rules, key=lambda r: r["id"])}


def _read(s3: S3, bucket: str) -> Any:
    try:
        config = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return None
        raise
    rules = []
    for rule in config.get("Rules", []):
        filt = rule.get("Filter") or {}
        prefix = (filt.get("And") or {}).get("Prefix", filt.get("Prefix", rule.get("Prefix", ""))) or ""
        destination = rule.get("Destination") or {}
        rules.append(
            {
                "id": rule.get("ID", ""),
                "priority": rule.get("Priority", 0),
                "enabled": rule.get("Status") == "Enabled",
                "prefix": prefix,
                "destination": destination.get("Bucket", ""),
                "storageClass": destination.get("StorageClass"),
                "deleteMarkerReplication": (rule.get("DeleteMarkerReplication") or {}).get("Status")
                == "Enabled",
            }
        )
    return {"role": config.get("Role", ""), "rules": sorted(rules, key=lambda r: r["id"])}


def _matches(desired: Any, actual: Any) -> bool:
    """A storage class the spec leaves out is whatever AWS reports."""
    if not isinstance(actual, dict) or desired["role"] != actual.get("role"):
        return False
    ours, theirs = desired["rules"], actual.get("rules") or []
    if len(ours) != len(theirs):
        return False
    return all(
        all(value == b.get(key) for key, value in a.items() if not (key == "storageClass" and value is None))
        for a, b in zip(ours, theirs, strict=True)
    )


def _write(s3: S3, bucket: str, value: Any) -> None:
    rules = []
    for rule in value["rules"]:
        destination: dict[str, Any] = {"Bucket": rule["destination"]}
        if rule["storageClass"]:
            destination["StorageClass"] = rule["storageClass"]
        rules.append(
            {
                "ID": rule["id"],
                "Priority": rule["priority"],
                "Status": "Enabled" if rule["enabled"] else "Disabled",
                "Filter": {"Prefix": rule["prefix"]},
                "Destination": destination,
                "DeleteMarkerReplication": {
                    "Status": "Enabled" if rule["deleteMarkerReplication"] else "Disabled"
                },
            }
        )
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={"Role": value["role"], "Rules": rules})


def _check(clients: AwsClients, target: Target[Any], value: Any) -> None:
    """Each destination's versioning, read once before the replication configuration is written."""
    s3 = clients.client("s3", target.region)
    for arn in dict.fromkeys(rule["destination"] for rule in value["rules"]):
        if arn == KNOWN_AFTER_APPLY:
            continue
        name = arn.rsplit(":", 1)[-1]
        status = s3.get_bucket_versioning(Bucket=name).get("Status")
        if status != "Enabled":
            raise RecoverableError(
                "ReplicationDestinationNotVersioned",
                f"waiting: destination bucket {name} has versioning {status or 'never enabled'}; replication "
                "needs versioning Enabled on both sides. Nothing was written.",
            )


REPLICATION = Facet(
    "replication",
    _desired,
    _read,
    _write,
    "GetBucketReplication",
    "PutBucketReplication",
    iam={
        "GetBucketReplication": ("s3:GetReplicationConfiguration",),
        # S3 passes the role: the caller needs iam:PassRole on it
        "PutBucketReplication": ("s3:PutReplicationConfiguration", "iam:PassRole"),
    },
    matches=_matches,
    check=_check,
)
