"""The Table kind: one DynamoDB table, dynamodb.awsop.io/v1alpha1.

Reading this module tells the whole story of a table: its spec model (attribute definitions are derived
from the keys of the table and its indexes, never written by the user), how it is observed (DescribeTable
and tags always; TTL, point-in-time recovery and contributor insights only when the spec declares them),
how it differs (index capacity is not compared under on-demand billing, facets the spec leaves out are
neither read nor drift, capacity owned by an autoscaler is never compared), how it is changed (every
UpdateTable is a step of its own, applied one per reconcile while the table and its indexes are ACTIVE),
how it is deleted (Retain by default; deletion protection is only turned off when the spec says so) and
which DynamoDB errors are terminal.

It must never: send UpdateTable while the table or an index is not ACTIVE, touch replicas (global tables
made outside awsop keep them, and they are never drift), write or report capacity that
`capacityManagedBy: external` gives to someone else, or turn deletion protection off on its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, model_validator

from .aws import AwsClients, RetryingClient
from .changes import Action, Change
from .engine import Busy, DeleteOutcome, DeleteResult, ObjectRef, Target
from .errors import ErrorClass, RecoverableError, TerminalError, classify, error_code, error_message
from .model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from .policies import DeletionPolicy
from .tags import OWNER_TAG, SYSTEM_TAGS, is_reserved, tag_drift

KIND = "Table"

# DynamoDB error codes that only a manifest change can fix. ValidationException also covers transitional
# refusals ("Table is being updated"), which `classify_table_error` keeps recoverable.
TERMINAL_CODES = frozenset({"ValidationException", "SerializationException"})
# ValidationException messages that mean "not now" rather than "never": progress, not a spec error.
TRANSITIONAL_MESSAGES = (
    "being updated",
    "updating state",
    "creating state",
    "being created",
    "being deleted",
    "not active",
    "modified multiple times",
    "already in progress",
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "TableNotFoundException"})
IN_USE_CODES = frozenset({"ResourceInUseException"})
# Every DynamoDB operation this module calls and the IAM actions AWS authorizes it with. The shipped
# policy is generated from this table (awsop iam-policy); a test fails if an operation is missing here.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeTable": ("dynamodb:DescribeTable",),
    "CreateTable": ("dynamodb:CreateTable", "dynamodb:TagResource"),  # tags at create need TagResource
    "UpdateTable": ("dynamodb:UpdateTable",),
    "DeleteTable": ("dynamodb:DeleteTable",),
    "ListTagsOfResource": ("dynamodb:ListTagsOfResource",),
    "TagResource": ("dynamodb:TagResource",),
    "UntagResource": ("dynamodb:UntagResource",),
    "DescribeTimeToLive": ("dynamodb:DescribeTimeToLive",),
    "UpdateTimeToLive": ("dynamodb:UpdateTimeToLive",),
    "DescribeContinuousBackups": ("dynamodb:DescribeContinuousBackups",),
    "UpdateContinuousBackups": ("dynamodb:UpdateContinuousBackups",),
    "DescribeContributorInsights": ("dynamodb:DescribeContributorInsights",),
    "UpdateContributorInsights": ("dynamodb:UpdateContributorInsights",),
}
MAX_GSI = 20
MAX_LSI = 5
BILLING_SWITCH_WINDOW = timedelta(hours=24)

# -- spec ------------------------------------------------------------------------------------------

NAME_PATTERN = r"^[a-zA-Z0-9_.-]{3,255}$"
ATTRIBUTE_PATTERN = r"^.{1,255}$"
KeyType = Literal["S", "N", "B"]


class Key(Model):
    """One key attribute: its name and scalar type."""

    name: str = Field(min_length=1, max_length=255, description="Attribute name.")
    type: KeyType = Field(description="S (string), N (number) or B (binary).")


class Projection(Model):
    """Which attributes an index copies from the table."""

    type: Literal["KEYS_ONLY", "INCLUDE", "ALL"] = Field(
        "ALL", description="KEYS_ONLY, INCLUDE (keys plus nonKeyAttributes) or ALL."
    )
    non_key_attributes: list[str] | None = Field(
        None,
        max_length=100,
        description="Attributes copied besides the keys; only with type INCLUDE.",
    )


PROJECTION_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.nonKeyAttributes) || self.type == 'INCLUDE'",
        "message": "projection.nonKeyAttributes requires projection.type INCLUDE",
    }
]


class GlobalSecondaryIndex(Model):
    """A global secondary index: own keys, projection and (when provisioned) capacity."""

    name: str = Field(min_length=3, max_length=255, pattern=NAME_PATTERN, description="Index name.")
    partition_key: Key = Field(description="The index's partition key.")
    sort_key: Key | None = Field(None, description="The index's sort key, if any.")
    projection: Projection = Field(
        default_factory=Projection,
        description="Attributes projected into the index (default ALL).",
        json_schema_extra={"x-kubernetes-validations": PROJECTION_RULES},
    )
    read_capacity: int | None = Field(
        None, ge=1, description="Read capacity units; required exactly when billingMode is PROVISIONED."
    )
    write_capacity: int | None = Field(
        None, ge=1, description="Write capacity units; required exactly when billingMode is PROVISIONED."
    )


class LocalSecondaryIndex(Model):
    """A local secondary index: the table's partition key with another sort key. Creation-only."""

    name: str = Field(min_length=3, max_length=255, pattern=NAME_PATTERN, description="Index name.")
    sort_key: Key = Field(description="The index's sort key.")
    projection: Projection = Field(
        default_factory=Projection,
        description="Attributes projected into the index (default ALL).",
        json_schema_extra={"x-kubernetes-validations": PROJECTION_RULES},
    )


class OnDemandThroughput(Model):
    """Upper bounds for an on-demand table (PAY_PER_REQUEST)."""

    max_read_request_units: int | None = Field(None, ge=1, description="Maximum read request units.")
    max_write_request_units: int | None = Field(None, ge=1, description="Maximum write request units.")


class Stream(Model):
    """DynamoDB Streams. Absent: never read or written (a new table has no stream)."""

    enabled: bool = Field(True, description="false turns the stream off.")
    view_type: Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"] | None = Field(
        None, description="What each stream record holds; required when enabled."
    )


class TimeToLive(Model):
    """Expire items by an epoch-seconds number attribute."""

    attribute_name: str = Field(min_length=1, max_length=255, description="The expiry attribute.")
    enabled: bool = Field(True, description="false turns TTL off.")


class PointInTimeRecovery(Model):
    """Continuous backups with point-in-time restore."""

    enabled: bool = Field(description="Whether point-in-time recovery is on.")
    recovery_period_days: int | None = Field(
        None, ge=1, le=35, description="How far back restores reach (1-35 days; AWS default 35)."
    )


class Encryption(Model):
    """Server-side encryption at rest. Absent: not read, not drift (AWS encrypts every table)."""

    type: Literal["AWS_OWNED", "AWS_MANAGED", "CUSTOMER_MANAGED"] = Field(
        description="AWS_OWNED (the default key), AWS_MANAGED (aws/dynamodb in KMS) or CUSTOMER_MANAGED."
    )
    kms_key_id: str | None = Field(
        None, max_length=2048, description="KMS key ID, alias or ARN; only with CUSTOMER_MANAGED."
    )


class WarmThroughput(Model):
    """Pre-warmed throughput; read and written only when declared."""

    read_units_per_second: int | None = Field(None, ge=1, description="Read units per second.")
    write_units_per_second: int | None = Field(None, ge=1, description="Write units per second.")


_PROVISIONED = "(has(self.billingMode) && self.billingMode == 'PROVISIONED')"
TABLE_RULES: list[JsonValue] = [
    {
        "rule": f"{_PROVISIONED} || (!has(self.readCapacity) && !has(self.writeCapacity))",
        "message": "readCapacity/writeCapacity are only allowed with billingMode PROVISIONED",
    },
    {
        "rule": f"!{_PROVISIONED} || (has(self.readCapacity) && has(self.writeCapacity))",
        "message": "billingMode PROVISIONED requires readCapacity and writeCapacity",
    },
    {
        "rule": "!has(self.globalSecondaryIndexes) || self.globalSecondaryIndexes.all(i, "
        f"{_PROVISIONED} ? (has(i.readCapacity) && has(i.writeCapacity)) : "
        "(!has(i.readCapacity) && !has(i.writeCapacity)))",
        "message": "globalSecondaryIndexes capacity: required for every index with billingMode PROVISIONED, "
        "not allowed with PAY_PER_REQUEST",
    },
    {
        "rule": f"!{_PROVISIONED} || !has(self.onDemandThroughput)",
        "message": "onDemandThroughput is only allowed with billingMode PAY_PER_REQUEST",
    },
    {
        "rule": "!has(self.globalSecondaryIndexes) || self.globalSecondaryIndexes.all(i, "
        "self.globalSecondaryIndexes.exists_one(j, j.name == i.name))",
        "message": "globalSecondaryIndexes: index names must be unique",
    },
    {
        "rule": "!has(self.localSecondaryIndexes) || self.localSecondaryIndexes.all(i, "
        "self.localSecondaryIndexes.exists_one(j, j.name == i.name) && (!has(self.globalSecondaryIndexes) "
        "|| !self.globalSecondaryIndexes.exists(g, g.name == i.name)))",
        "message": "localSecondaryIndexes: index names must be unique across all indexes",
    },
    {
        "rule": "!has(self.localSecondaryIndexes) || has(self.sortKey)",
        "message": "localSecondaryIndexes require the table to have a sortKey",
    },
    {
        "rule": "!has(self.encryption) || (self.encryption.type == 'CUSTOMER_MANAGED') == "
        "has(self.encryption.kmsKeyId)",
        "message": "encryption.kmsKeyId is required with CUSTOMER_MANAGED and only allowed with it",
    },
    {
        "rule": "!has(self.stream) || (has(self.stream.enabled) && !self.stream.enabled) || "
        "has(self.stream.viewType)",
        "message": "stream.viewType is required when the stream is enabled",
    },
]


class TableSpec(AwsObjectSpec):
    """Desired state of a DynamoDB table. Optional facets left out are neither read nor written."""

    name: str | None = Field(
        None,
        description="Table name: 3-255 letters, digits, underscore, hyphen, dot. Defaults to "
        "<namespace>-<metadata.name>. Immutable.",
        min_length=3,
        max_length=255,
        pattern=NAME_PATTERN,
        json_schema_extra=IMMUTABLE,
    )
    partition_key: Key = Field(
        description="The partition (hash) key. Immutable: changing it means a new table.",
        json_schema_extra=IMMUTABLE,
    )
    sort_key: Key | None = Field(
        None,
        description="The sort (range) key, if any. Immutable.",
        json_schema_extra=IMMUTABLE,
    )
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = Field(
        "PAY_PER_REQUEST",
        description="PAY_PER_REQUEST (on-demand, awsop's default) or PROVISIONED (with readCapacity and "
        "writeCapacity). AWS limits switches to on-demand per 24 hours.",
    )
    read_capacity: int | None = Field(
        None, ge=1, description="Table read capacity units; required exactly when PROVISIONED."
    )
    write_capacity: int | None = Field(
        None, ge=1, description="Table write capacity units; required exactly when PROVISIONED."
    )
    on_demand_throughput: OnDemandThroughput | None = Field(
        None, description="Maximum request units of an on-demand table; read and written only when declared."
    )
    capacity_managed_by: Literal["awsop", "external"] = Field(
        "awsop",
        description="awsop: table and index capacity are compared and written. external: Application Auto "
        "Scaling (or anyone else) owns capacity; awsop sets it at create only, then neither writes nor "
        "compares it (status.capacity reports it).",
    )
    global_secondary_indexes: list[GlobalSecondaryIndex] | None = Field(
        None,
        max_length=MAX_GSI,
        description="Global secondary indexes (at most 20). Added and removed one per UpdateTable, in order; "
        "an empty list removes all. Absent: existing indexes are neither read nor drift.",
    )
    local_secondary_indexes: list[LocalSecondaryIndex] | None = Field(
        None,
        max_length=MAX_LSI,
        description="Local secondary indexes (at most 5; the table's partition key with another sort key). "
        "Creation-only: immutable.",
        json_schema_extra=IMMUTABLE,
    )
    stream: Stream | None = Field(None, description="DynamoDB Streams; absent = not managed (off at create).")
    time_to_live: TimeToLive | None = Field(None, description="Item expiry; read only when declared.")
    point_in_time_recovery: PointInTimeRecovery | None = Field(
        None, description="Point-in-time recovery; read only when declared."
    )
    encryption: Encryption | None = Field(
        None, description="Encryption at rest; absent = AWS's default and never drift."
    )
    deletion_protection: bool | None = Field(
        None,
        description="DeletionProtectionEnabled. While on, deletionPolicy Delete leaves the table (and the "
        "object's finalizer) in place until the spec sets it to false.",
    )
    table_class: Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"] | None = Field(
        None, description="Table class; absent = not managed."
    )
    contributor_insights: bool | None = Field(
        None,
        description="CloudWatch Contributor Insights for the table; read and written only when declared.",
    )
    warm_throughput: WarmThroughput | None = Field(
        None, description="Warm throughput of the table; read and written only when declared."
    )

    model_config = {
        **AwsObjectSpec.model_config,
        "json_schema_extra": {"x-kubernetes-validations": TABLE_RULES},
    }

    @model_validator(mode="after")
    def _cross_field(self) -> TableSpec:
        provisioned = self.billing_mode == "PROVISIONED"
        has_capacity = self.read_capacity is not None or self.write_capacity is not None
        if not provisioned and has_capacity:
            raise ValueError("readCapacity/writeCapacity are only allowed with billingMode PROVISIONED")
        if provisioned and (self.read_capacity is None or self.write_capacity is None):
            raise ValueError("billingMode PROVISIONED requires readCapacity and writeCapacity")
        if provisioned and self.on_demand_throughput is not None:
            raise ValueError("onDemandThroughput is only allowed with billingMode PAY_PER_REQUEST")
        names: list[str] = []
        for gsi in self.global_secondary_indexes or []:
            index_capacity = gsi.read_capacity is not None or gsi.write_capacity is not None
            if not provisioned and index_capacity:
                raise ValueError(
                    f"globalSecondaryIndexes[{gsi.name}]: capacity is only allowed with billingMode "
                    "PROVISIONED"
                )
            if provisioned and (gsi.read_capacity is None or gsi.write_capacity is None):
                raise ValueError(
                    f"globalSecondaryIndexes[{gsi.name}]: billingMode PROVISIONED requires readCapacity and "
                    "writeCapacity for every index"
                )
            names.append(gsi.name)
        if self.local_secondary_indexes and self.sort_key is None:
            raise ValueError("localSecondaryIndexes require the table to have a sortKey")
        names += [lsi.name for lsi in self.local_secondary_indexes or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"index names must be unique: {', '.join(duplicates)} declared twice")
        indexes: list[GlobalSecondaryIndex | LocalSecondaryIndex] = [
            *(self.global_secondary_indexes or []),
            *(self.local_secondary_indexes or []),
        ]
        for index in indexes:
            if index.projection.non_key_attributes is not None and index.projection.type != "INCLUDE":
                raise ValueError(f"index {index.name}: projection.nonKeyAttributes requires type INCLUDE")
        if self.encryption is not None:
            customer = self.encryption.type == "CUSTOMER_MANAGED"
            if customer != (self.encryption.kms_key_id is not None):
                raise ValueError(
                    "encryption.kmsKeyId is required with CUSTOMER_MANAGED and only allowed with it"
                )
        if self.stream is not None and self.stream.enabled and self.stream.view_type is None:
            raise ValueError("stream.viewType is required when the stream is enabled")
        attribute_definitions(self)  # raises on a key attribute declared with two types
        return self


class TableStatus(AwsObjectStatus):
    """Status of a Table."""

    table_status: str | None = Field(None, description="CREATING, UPDATING, ACTIVE, DELETING, ...")
    stream_arn: str | None = Field(None, description="ARN of the latest stream, when one is on.")
    indexes: list[dict[str, str]] | None = Field(
        None,
        description="Each global secondary index: name and status (CREATING, ACTIVE, ...; "
        "BACKFILLING while it is filled).",
    )
    capacity: dict[str, int] | None = Field(
        None,
        description="Current table capacity (readCapacity, writeCapacity) when capacityManagedBy is "
        "external.",
    )


def attribute_definitions(spec: TableSpec) -> list[dict[str, str]]:
    """AttributeDefinitions derived from every key of the table and its indexes (sorted by name).
    Raises ValueError when one attribute is declared with two types."""
    keys: list[tuple[str, Key]] = [("partitionKey", spec.partition_key)]
    if spec.sort_key:
        keys.append(("sortKey", spec.sort_key))
    for gsi in spec.global_secondary_indexes or []:
        keys.append((f"globalSecondaryIndexes[{gsi.name}].partitionKey", gsi.partition_key))
        if gsi.sort_key:
            keys.append((f"globalSecondaryIndexes[{gsi.name}].sortKey", gsi.sort_key))
    for lsi in spec.local_secondary_indexes or []:
        keys.append((f"localSecondaryIndexes[{lsi.name}].sortKey", lsi.sort_key))
    types: dict[str, tuple[str, str]] = {}
    for where, key in keys:
        seen = types.setdefault(key.name, (key.type, where))
        if seen[0] != key.type:
            raise ValueError(
                f"key attribute {key.name!r} is declared as {seen[0]} ({seen[1]}) and as {key.type} ({where})"
            )
    return [{"AttributeName": n, "AttributeType": t} for n, (t, _) in sorted(types.items())]


# -- normalised views (pure) -------------------------------------------------------------------------


def _key_schema(partition: Key, sort: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def _projection_to_aws(projection: Projection) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": projection.type}
    if projection.type == "INCLUDE":
        out["NonKeyAttributes"] = list(projection.non_key_attributes or [])
    return out


def _keys_view(schema: list[dict[str, Any]], types: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in schema:
        role = "partitionKey" if entry["KeyType"] == "HASH" else "sortKey"
        out[role] = {"name": entry["AttributeName"], "type": types.get(entry["AttributeName"], "?")}
    return out


def _projection_view(projection: dict[str, Any] | None) -> dict[str, Any]:
    projection = projection or {}
    kind = projection.get("ProjectionType", "ALL")
    out: dict[str, Any] = {"type": kind}
    if kind == "INCLUDE":
        out["nonKeyAttributes"] = sorted(projection.get("NonKeyAttributes") or [])
    return out


def _gsi_desired(gsi: GlobalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {"partitionKey": gsi.partition_key.model_dump(by_alias=True)}
    if gsi.sort_key:
        out["sortKey"] = gsi.sort_key.model_dump(by_alias=True)
    out["projection"] = {"type": gsi.projection.type}
    if gsi.projection.type == "INCLUDE":
        out["projection"]["nonKeyAttributes"] = sorted(gsi.projection.non_key_attributes or [])
    return out


def _lsi_desired(lsi: LocalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {"sortKey": lsi.sort_key.model_dump(by_alias=True), "projection": {}}
    out["projection"] = {"type": lsi.projection.type}
    if lsi.projection.type == "INCLUDE":
        out["projection"]["nonKeyAttributes"] = sorted(lsi.projection.non_key_attributes or [])
    return out


def _encryption_view(sse: dict[str, Any] | None) -> dict[str, Any]:
    """What DescribeTable tells: AWS_OWNED, or a KMS key by ARN. It does not tell an AWS managed key from
    a customer managed one (that would cost a kms:DescribeKey per check), so comparison goes by the key."""
    if not sse or sse.get("Status") in (None, "DISABLED", "DISABLING"):
        return {"type": "AWS_OWNED"}
    return {"type": "KMS", "kmsKeyArn": sse.get("KMSMasterKeyArn", "")}


def _encryption_matches(desired: Encryption, actual: dict[str, Any]) -> bool:
    if desired.type == "AWS_OWNED" or actual.get("type") == "AWS_OWNED":
        return desired.type == actual.get("type")
    if desired.type == "AWS_MANAGED" or not desired.kms_key_id:
        return True  # KMS either way; the key's manager is not visible without KMS calls
    want, have = desired.kms_key_id, str(actual.get("kmsKeyArn", ""))
    if want.startswith("alias/") or ":alias/" in want:
        return True  # an alias names a key DescribeTable only shows by ARN: not compared
    return have == want or have.endswith(f"/{want}")


def _sse_to_aws(enc: Encryption) -> dict[str, Any]:
    if enc.type == "AWS_OWNED":
        return {"Enabled": False}
    out: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if enc.kms_key_id:
        out["KMSMasterKeyId"] = enc.kms_key_id
    return out


# -- observation --------------------------------------------------------------------------------------

DynamoDB = RetryingClient


@dataclass
class TableObserved:
    name: str
    arn: str
    description: dict[str, Any]
    tags: dict[str, str]
    ttl: dict[str, Any] | None = None
    pitr: dict[str, Any] | None = None
    contributor_insights: str | None = None

    @property
    def status(self) -> str:
        return str(self.description.get("TableStatus", "ACTIVE"))

    @property
    def billing_mode(self) -> str:
        summary = self.description.get("BillingModeSummary") or {}
        return str(summary.get("BillingMode") or "PROVISIONED")  # absent summary = provisioned (AWS doc)

    @property
    def attribute_types(self) -> dict[str, str]:
        return {
            a["AttributeName"]: a["AttributeType"] for a in self.description.get("AttributeDefinitions", [])
        }

    @property
    def gsis(self) -> dict[str, dict[str, Any]]:
        return {g["IndexName"]: g for g in self.description.get("GlobalSecondaryIndexes") or []}

    @property
    def lsis(self) -> dict[str, dict[str, Any]]:
        return {i["IndexName"]: i for i in self.description.get("LocalSecondaryIndexes") or []}

    @property
    def capacity(self) -> dict[str, int]:
        throughput = self.description.get("ProvisionedThroughput") or {}
        return {
            "readCapacity": int(throughput.get("ReadCapacityUnits") or 0),
            "writeCapacity": int(throughput.get("WriteCapacityUnits") or 0),
        }

    @property
    def stream(self) -> dict[str, Any]:
        spec = self.description.get("StreamSpecification") or {}
        if not spec.get("StreamEnabled"):
            return {"enabled": False}
        return {"enabled": True, "viewType": spec.get("StreamViewType")}


def _index_capacity(index: dict[str, Any]) -> dict[str, int]:
    throughput = index.get("ProvisionedThroughput") or {}
    return {
        "readCapacity": int(throughput.get("ReadCapacityUnits") or 0),
        "writeCapacity": int(throughput.get("WriteCapacityUnits") or 0),
    }


# -- the client -----------------------------------------------------------------------------------------


class TableClient:
    """ResourceClient for DynamoDB tables."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.RETAIN
    # CreateTable fails with ResourceInUseException when the table exists and takes the tags atomically:
    # its answer proves the table new and ours, so the engine makes no read-back
    exclusive_create = True

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _ddb(self, region: str) -> DynamoDB:
        return self.clients.client("dynamodb", region)

    def aws_name(self, ref: ObjectRef, spec: TableSpec, prefix: str) -> str:
        if spec.name:
            return spec.name
        return default_table_name(prefix, ref.namespace, ref.name)

    # observe -----------------------------------------------------------------------------------------

    def observe(self, target: Target[TableSpec], facets: bool = True) -> TableObserved | None:
        ddb = self._ddb(target.region)
        try:
            table = ddb.describe_table(TableName=target.aws_name)["Table"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise
        arn = str(table.get("TableArn", ""))
        observed = TableObserved(target.aws_name, arn, table, self._read_tags(ddb, arn))
        if not facets or observed.status in ("DELETING", "CREATING"):
            return observed  # a table being created or deleted has nothing else to read yet
        spec = target.spec
        if spec.time_to_live is not None:
            observed.ttl = ddb.describe_time_to_live(TableName=target.aws_name).get(
                "TimeToLiveDescription", {}
            )
        if spec.point_in_time_recovery is not None:
            backups = ddb.describe_continuous_backups(TableName=target.aws_name)
            description = backups.get("ContinuousBackupsDescription", {})
            observed.pitr = description.get("PointInTimeRecoveryDescription", {})
        if spec.contributor_insights is not None:
            insights = ddb.describe_contributor_insights(TableName=target.aws_name)
            observed.contributor_insights = str(insights.get("ContributorInsightsStatus", "DISABLED"))
        return observed

    @staticmethod
    def _read_tags(ddb: DynamoDB, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ResourceArn": arn}
        while True:
            page = ddb.list_tags_of_resource(**kwargs)
            tags.update({t["Key"]: t.get("Value", "") for t in page.get("Tags", [])})
            if not page.get("NextToken"):
                return tags
            kwargs["NextToken"] = page["NextToken"]

    def owner_of(self, observed: TableObserved) -> str | None:
        return observed.tags.get(OWNER_TAG)

    def observed_tags(self, observed: TableObserved) -> dict[str, str]:
        return dict(observed.tags)

    def busy(self, target: Target[TableSpec], observed: TableObserved) -> Busy | None:
        """Not usable yet: the table is not ACTIVE, or an index is being created, filled or deleted."""
        if observed.status != "ACTIVE":
            reason = {"CREATING": "TableCreating", "UPDATING": "TableUpdating", "DELETING": "TableDeleting"}
            return Busy(
                reason.get(observed.status, "TableNotActive"), f"table {observed.name} is {observed.status}"
            )
        for name, index in observed.gsis.items():
            status = index.get("IndexStatus", "ACTIVE")
            if status != "ACTIVE":
                return Busy("IndexNotActive", f"index {name} is {status}")
            if index.get("Backfilling"):
                return Busy("IndexBackfilling", f"index {name} is backfilling")
        return None

    # diff ----------------------------------------------------------------------------------------------

    def diff(self, target: Target[TableSpec], observed: TableObserved) -> list[Change]:
        """Pure. Immediate changes (tags, TTL, PITR, contributor insights) first, then the UpdateTable
        steps in the order they will be applied."""
        spec = target.spec
        self._check_immutable(spec, observed)
        changes = self._tag_changes(target, observed)
        changes += self._facet_changes(spec, observed)
        changes += self._steps(spec, observed)
        return changes

    @staticmethod
    def _check_immutable(spec: TableSpec, observed: TableObserved) -> None:
        types = observed.attribute_types
        actual = _keys_view(observed.description.get("KeySchema", []), types)
        desired: dict[str, Any] = {"partitionKey": spec.partition_key.model_dump(by_alias=True)}
        if spec.sort_key:
            desired["sortKey"] = spec.sort_key.model_dump(by_alias=True)
        if actual != desired:
            raise TerminalError(
                "KeySchemaChanged",
                f"table {observed.name} has keys {actual}, the spec asks for {desired}: keys cannot change, "
                "the table must be recreated (new name, or delete it first)",
            )
        if spec.local_secondary_indexes is not None:
            have = {
                n: {
                    **_keys_view(i.get("KeySchema", [])[1:], types),
                    "projection": _projection_view(i.get("Projection")),
                }
                for n, i in observed.lsis.items()
            }
            want = {lsi.name: _lsi_desired(lsi) for lsi in spec.local_secondary_indexes}
            if have != want:
                raise TerminalError(
                    "LocalIndexesChanged",
                    f"table {observed.name}: local secondary indexes {sorted(have)} differ from the spec's "
                    f"{sorted(want)}; they are fixed at creation, the table must be recreated",
                )

    @staticmethod
    def _tag_changes(target: Target[TableSpec], observed: TableObserved) -> list[Change]:
        authoritative = target.spec.tags is not None
        actual = tag_drift(target.tags, observed.tags, authoritative)
        if actual == target.tags:
            return []
        calls = []
        if any(actual.get(k) != v for k, v in target.tags.items()):
            calls.append("dynamodb:TagResource")
        if set(actual) - set(target.tags):
            calls.append("dynamodb:UntagResource")
        return [Change("tags", actual, target.tags, Action.UPDATE, tuple(calls))]

    @staticmethod
    def _facet_changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
        changes = []
        if spec.time_to_live is not None and observed.ttl is not None:
            desired = _ttl_desired(spec.time_to_live)
            actual = _ttl_view(observed.ttl)
            if desired != actual:
                calls: tuple[str, ...] = ("dynamodb:UpdateTimeToLive",)
                if actual["enabled"] and desired["enabled"]:  # another attribute: off, then on again
                    calls = calls * 2
                changes.append(Change("timeToLive", actual, desired, Action.UPDATE, calls))
        if spec.point_in_time_recovery is not None and observed.pitr is not None:
            desired = _pitr_desired(spec.point_in_time_recovery)
            actual = _pitr_view(observed.pitr, desired)
            if desired != actual:
                changes.append(
                    Change(
                        "pointInTimeRecovery",
                        actual,
                        desired,
                        Action.UPDATE,
                        ("dynamodb:UpdateContinuousBackups",),
                    )
                )
        if spec.contributor_insights is not None and observed.contributor_insights is not None:
            actual_on = observed.contributor_insights in ("ENABLED", "ENABLING")
            if actual_on != spec.contributor_insights:
                changes.append(
                    Change(
                        "contributorInsights",
                        actual_on,
                        spec.contributor_insights,
                        Action.UPDATE,
                        ("dynamodb:UpdateContributorInsights",),
                    )
                )
        return changes

    def _steps(self, spec: TableSpec, observed: TableObserved) -> list[Change]:
        """Every UpdateTable change, one per step: billing and capacity, index removals, index additions,
        index capacity, stream, and the table settings."""
        call = ("dynamodb:UpdateTable",)
        steps: list[Change] = []
        external = spec.capacity_managed_by == "external"
        provisioned = spec.billing_mode == "PROVISIONED"
        if observed.billing_mode != spec.billing_mode:
            desired: Any = spec.billing_mode
            if provisioned:
                desired = {"billingMode": spec.billing_mode, **self._table_capacity(spec)}
            steps.append(
                Change(
                    "billingMode",
                    observed.billing_mode,
                    desired,
                    Action.UPDATE,
                    call,
                    f"switching billing to {spec.billing_mode}",
                )
            )
        elif provisioned and not external and observed.capacity != self._table_capacity(spec):
            steps.append(
                Change(
                    "capacity",
                    observed.capacity,
                    self._table_capacity(spec),
                    Action.UPDATE,
                    call,
                    "changing table capacity",
                )
            )
        elif not provisioned and spec.on_demand_throughput is not None:
            desired_od = _on_demand_desired(spec.on_demand_throughput)
            actual_od = _on_demand_view(observed.description.get("OnDemandThroughput"), desired_od)
            if actual_od != desired_od:
                steps.append(
                    Change(
                        "onDemandThroughput",
                        actual_od,
                        desired_od,
                        Action.UPDATE,
                        call,
                        "changing on-demand throughput",
                    )
                )
        if spec.global_secondary_indexes is not None:
            steps += self._index_steps(spec, observed)
        if spec.stream is not None:
            desired_stream = (
                {"enabled": False}
                if not spec.stream.enabled
                else {"enabled": True, "viewType": spec.stream.view_type}
            )
            actual_stream = observed.stream
            if desired_stream != actual_stream:
                if actual_stream["enabled"] and desired_stream["enabled"]:  # a new view type: off, then on
                    steps.append(
                        Change(
                            "stream",
                            actual_stream,
                            {"enabled": False},
                            Action.UPDATE,
                            call,
                            "disabling stream",
                        )
                    )
                    actual_stream = {"enabled": False}
                label = (
                    f"enabling stream {spec.stream.view_type}" if spec.stream.enabled else "disabling stream"
                )
                steps.append(Change("stream", actual_stream, desired_stream, Action.UPDATE, call, label))
        if spec.encryption is not None:
            actual_enc = _encryption_view(observed.description.get("SSEDescription"))
            if not _encryption_matches(spec.encryption, actual_enc):
                desired_enc = spec.encryption.model_dump(by_alias=True, exclude_none=True)
                steps.append(
                    Change("encryption", actual_enc, desired_enc, Action.UPDATE, call, "changing encryption")
                )
        if spec.table_class is not None:
            actual_class = (observed.description.get("TableClassSummary") or {}).get("TableClass", "STANDARD")
            if actual_class != spec.table_class:
                steps.append(
                    Change(
                        "tableClass",
                        actual_class,
                        spec.table_class,
                        Action.UPDATE,
                        call,
                        f"changing table class to {spec.table_class}",
                    )
                )
        if spec.warm_throughput is not None:
            desired_warm = spec.warm_throughput.model_dump(by_alias=True, exclude_none=True)
            warm = observed.description.get("WarmThroughput") or {}
            actual_warm = {k: warm.get(k[0].upper() + k[1:]) for k in desired_warm}
            if actual_warm != desired_warm:
                steps.append(
                    Change(
                        "warmThroughput",
                        actual_warm,
                        desired_warm,
                        Action.UPDATE,
                        call,
                        "changing warm throughput",
                    )
                )
        if spec.deletion_protection is not None:
            actual_dp = bool(observed.description.get("DeletionProtectionEnabled", False))
            if actual_dp != spec.deletion_protection:
                label = "turning deletion protection " + ("on" if spec.deletion_protection else "off")
                steps.append(
                    Change(
                        "deletionProtection", actual_dp, spec.deletion_protection, Action.UPDATE, call, label
                    )
                )
        return steps

    @staticmethod
    def _table_capacity(spec: TableSpec) -> dict[str, int]:
        return {"readCapacity": spec.read_capacity or 0, "writeCapacity": spec.write_capacity or 0}

    @staticmethod
    def _index_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
        call = ("dynamodb:UpdateTable",)
        types = observed.attribute_types
        have = {
            name: {
                **_keys_view(index.get("KeySchema", []), types),
                "projection": _projection_view(index.get("Projection")),
            }
            for name, index in observed.gsis.items()
            if index.get("IndexStatus") != "DELETING"
        }
        want = {gsi.name: gsi for gsi in spec.global_secondary_indexes or []}
        removals, additions, resizes = [], [], []
        for name in have:
            if name not in want:
                removals.append(
                    Change(
                        f"globalSecondaryIndexes[{name}]",
                        have[name],
                        None,
                        Action.DELETE,
                        call,
                        f"deleting index {name}",
                    )
                )
        for name, gsi in want.items():
            desired = _gsi_desired(gsi)
            if name in have and have[name] != desired:
                # keys and projection of an index cannot change in place: remove it, then add it again
                removals.append(
                    Change(
                        f"globalSecondaryIndexes[{name}]",
                        have[name],
                        None,
                        Action.DELETE,
                        call,
                        f"deleting index {name} (to recreate it)",
                    )
                )
            if name not in have or have[name] != desired:
                if gsi.read_capacity is not None:
                    desired = {
                        **desired,
                        "readCapacity": gsi.read_capacity,
                        "writeCapacity": gsi.write_capacity,
                    }
                additions.append(
                    Change(
                        f"globalSecondaryIndexes[{name}]",
                        None,
                        desired,
                        Action.CREATE,
                        call,
                        f"creating index {name}",
                    )
                )
            elif (
                spec.billing_mode == "PROVISIONED"
                and observed.billing_mode == "PROVISIONED"
                and spec.capacity_managed_by == "awsop"
            ):
                wanted = {"readCapacity": gsi.read_capacity or 0, "writeCapacity": gsi.write_capacity or 0}
                actual = _index_capacity(observed.gsis[name])
                if wanted != actual:
                    resizes.append(
                        Change(
                            f"globalSecondaryIndexes[{name}].capacity",
                            actual,
                            wanted,
                            Action.UPDATE,
                            call,
                            f"changing capacity of index {name}",
                        )
                    )
        return removals + additions + resizes

    # create ----------------------------------------------------------------------------------------------

    def plan_create(self, target: Target[TableSpec]) -> list[Change]:
        spec = target.spec
        changes = [Change("", None, target.aws_name, Action.CREATE, ("dynamodb:CreateTable",))]
        changes.append(Change("tags", None, target.tags, Action.CREATE, ()))  # passed to CreateTable
        for gsi in spec.global_secondary_indexes or []:
            changes.append(
                Change(f"globalSecondaryIndexes[{gsi.name}]", None, _gsi_desired(gsi), Action.CREATE)
            )
        for change in self._after_create(spec):
            changes.append(change)
        return changes

    @staticmethod
    def _after_create(spec: TableSpec) -> list[Change]:
        """Facets CreateTable cannot set: written once the table is ACTIVE."""
        out = []
        if spec.time_to_live is not None and spec.time_to_live.enabled:
            desired = _ttl_desired(spec.time_to_live)
            out.append(Change("timeToLive", None, desired, Action.CREATE, ("dynamodb:UpdateTimeToLive",)))
        if spec.point_in_time_recovery is not None and spec.point_in_time_recovery.enabled:
            desired = _pitr_desired(spec.point_in_time_recovery)
            out.append(
                Change(
                    "pointInTimeRecovery", None, desired, Action.CREATE, ("dynamodb:UpdateContinuousBackups",)
                )
            )
        if spec.contributor_insights:
            out.append(
                Change(
                    "contributorInsights", None, True, Action.CREATE, ("dynamodb:UpdateContributorInsights",)
                )
            )
        return out

    def create(self, target: Target[TableSpec]) -> TableObserved:
        spec = target.spec
        ddb = self._ddb(target.region)
        kwargs: dict[str, Any] = {
            "TableName": target.aws_name,
            "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
            "AttributeDefinitions": attribute_definitions(spec),
            "BillingMode": spec.billing_mode,
            # ownership from the first moment: a crash after this call leaves a table recognisably ours
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())],
        }
        if spec.billing_mode == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(spec.read_capacity, spec.write_capacity)
        if spec.on_demand_throughput is not None:
            kwargs["OnDemandThroughput"] = _on_demand_to_aws(spec.on_demand_throughput)
        if spec.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = [_gsi_to_aws(gsi) for gsi in spec.global_secondary_indexes]
        if spec.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = [
                {
                    "IndexName": lsi.name,
                    "KeySchema": _key_schema(spec.partition_key, lsi.sort_key),
                    "Projection": _projection_to_aws(lsi.projection),
                }
                for lsi in spec.local_secondary_indexes
            ]
        if spec.stream is not None and spec.stream.enabled:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream.view_type}
        if spec.encryption is not None and spec.encryption.type != "AWS_OWNED":
            kwargs["SSESpecification"] = _sse_to_aws(spec.encryption)
        if spec.table_class is not None:
            kwargs["TableClass"] = spec.table_class
        if spec.deletion_protection is not None:
            kwargs["DeletionProtectionEnabled"] = spec.deletion_protection
        if spec.warm_throughput is not None:
            kwargs["WarmThroughput"] = _warm_to_aws(spec.warm_throughput)
        table = ddb.create_table(**kwargs)["TableDescription"]
        observed = TableObserved(target.aws_name, str(table.get("TableArn", "")), table, dict(target.tags))
        if observed.status == "ACTIVE" and not self.busy(target, observed):
            # usable at once (emulators): the rest now; on AWS the next reconcile finds it in the diff
            for change in self._after_create(spec):
                self._apply_one(ddb, target, observed, change)
        return observed

    # apply -----------------------------------------------------------------------------------------------

    def apply(self, target: Target[TableSpec], observed: TableObserved, changes: list[Change]) -> None:
        ddb = self._ddb(target.region)
        for change in changes:
            self._apply_one(ddb, target, observed, change)

    def _apply_one(
        self, ddb: DynamoDB, target: Target[TableSpec], observed: TableObserved, change: Change
    ) -> None:
        spec, name = target.spec, target.aws_name
        path = change.path
        if path == "tags":
            self._write_tags(ddb, target, observed)
        elif path == "timeToLive":
            desired = change.desired
            actual = change.actual or {"enabled": False}
            if actual.get("enabled") and (
                not desired["enabled"] or actual.get("attributeName") != desired["attributeName"]
            ):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": False, "AttributeName": actual["attributeName"]},
                )
            if desired["enabled"]:
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": desired["attributeName"]},
                )
        elif path == "pointInTimeRecovery":
            pitr: dict[str, Any] = {"PointInTimeRecoveryEnabled": change.desired["enabled"]}
            if change.desired.get("recoveryPeriodDays"):
                pitr["RecoveryPeriodInDays"] = change.desired["recoveryPeriodDays"]
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)
        elif path == "contributorInsights":
            ddb.update_contributor_insights(
                TableName=name, ContributorInsightsAction="ENABLE" if change.desired else "DISABLE"
            )
        else:
            ddb.update_table(TableName=name, **self._update_table_args(spec, observed, change))

    def _update_table_args(self, spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any]:
        path = change.path
        if path == "billingMode":
            args: dict[str, Any] = {"BillingMode": spec.billing_mode}
            if spec.billing_mode == "PROVISIONED":
                args["ProvisionedThroughput"] = _throughput(spec.read_capacity, spec.write_capacity)
                updates = [
                    {
                        "Update": {
                            "IndexName": g.name,
                            "ProvisionedThroughput": _throughput(g.read_capacity, g.write_capacity),
                        }
                    }
                    for g in spec.global_secondary_indexes or []
                    if g.name in observed.gsis
                ]
                if updates:
                    args["GlobalSecondaryIndexUpdates"] = updates
            else:
                self._check_billing_window(observed)
            return args
        if path == "capacity":
            return {"ProvisionedThroughput": _throughput(spec.read_capacity, spec.write_capacity)}
        if path == "onDemandThroughput" and spec.on_demand_throughput is not None:
            return {"OnDemandThroughput": _on_demand_to_aws(spec.on_demand_throughput)}
        if path.startswith("globalSecondaryIndexes["):
            index = path[len("globalSecondaryIndexes[") :].split("]", 1)[0]
            if change.action is Action.DELETE:
                return {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index}}]}
            gsi = next(g for g in spec.global_secondary_indexes or [] if g.name == index)
            if change.action is Action.CREATE:
                return {
                    "AttributeDefinitions": attribute_definitions(spec),
                    "GlobalSecondaryIndexUpdates": [{"Create": _gsi_to_aws(gsi)}],
                }
            throughput = _throughput(gsi.read_capacity, gsi.write_capacity)
            return {
                "GlobalSecondaryIndexUpdates": [
                    {"Update": {"IndexName": index, "ProvisionedThroughput": throughput}}
                ]
            }
        if path == "stream":
            if not change.desired["enabled"]:
                return {"StreamSpecification": {"StreamEnabled": False}}
            return {
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": change.desired["viewType"]}
            }
        if path == "encryption" and spec.encryption is not None:
            return {"SSESpecification": _sse_to_aws(spec.encryption)}
        if path == "tableClass":
            return {"TableClass": spec.table_class}
        if path == "warmThroughput" and spec.warm_throughput is not None:
            return {"WarmThroughput": _warm_to_aws(spec.warm_throughput)}
        if path == "deletionProtection":
            return {"DeletionProtectionEnabled": bool(spec.deletion_protection)}
        raise TerminalError("UnknownChange", f"awsop cannot apply a change to {path}")  # a bug, not a spec

    @staticmethod
    def _check_billing_window(observed: TableObserved) -> None:
        """AWS limits switches to on-demand per rolling 24 hours: say when it can be retried, and retry."""
        last = (observed.description.get("BillingModeSummary") or {}).get("LastUpdateToPayPerRequestDateTime")
        if isinstance(last, datetime):
            again = last + BILLING_SWITCH_WINDOW
            if again > datetime.now(again.tzinfo):
                raise RecoverableError(
                    "BillingModeSwitchLimited",
                    f"table {observed.name} switched to PAY_PER_REQUEST at {last.isoformat()}; AWS allows "
                    f"the next switch after {again.isoformat()}, awsop retries then",
                )

    def _write_tags(self, ddb: DynamoDB, target: Target[TableSpec], observed: TableObserved) -> None:
        """Differences only: TagResource for new or changed values, UntagResource for removed keys."""
        authoritative = target.spec.tags is not None
        actual = tag_drift(target.tags, observed.tags, authoritative)
        put = {k: v for k, v in target.tags.items() if actual.get(k) != v and not is_reserved(k)}
        remove = sorted(k for k in actual if k not in target.tags)
        if put:
            ddb.tag_resource(
                ResourceArn=observed.arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())]
            )
        if remove:
            ddb.untag_resource(ResourceArn=observed.arn, TagKeys=remove)

    # release / delete -----------------------------------------------------------------------------------

    def release(self, target: Target[TableSpec], observed: TableObserved) -> None:
        keys = sorted(k for k in observed.tags if k in SYSTEM_TAGS)
        if keys:
            self._ddb(target.region).untag_resource(ResourceArn=observed.arn, TagKeys=keys)

    def delete(self, target: Target[TableSpec], observed: TableObserved) -> DeleteOutcome:
        ddb = self._ddb(target.region)
        name = target.aws_name
        if observed.status == "DELETING":
            return DeleteOutcome(DeleteResult.DELETED)  # AWS is already removing it
        if observed.status != "ACTIVE":
            return DeleteOutcome(
                DeleteResult.IN_PROGRESS,
                "TableNotActive",
                f"table {name} is {observed.status}; deleting it once ACTIVE",
            )
        if observed.description.get("DeletionProtectionEnabled"):
            if target.spec.deletion_protection is not False:
                return DeleteOutcome(
                    DeleteResult.BLOCKED,
                    "DeletionProtectionOn",
                    f"table {name} has deletion protection on: it was not deleted and the finalizer stays. "
                    "Set spec.deletionProtection: false to let awsop turn it off and delete the table, or "
                    "deletionPolicy: Retain to keep it. awsop never turns protection off on its own.",
                )
            ddb.update_table(
                TableName=name, DeletionProtectionEnabled=False
            )  # the spec asked for exactly this
        try:
            ddb.delete_table(TableName=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return DeleteOutcome(DeleteResult.DELETED)
            if error_code(exc) in IN_USE_CODES:
                return DeleteOutcome(DeleteResult.IN_PROGRESS, "TableInUse", error_message(exc))
            raise
        return DeleteOutcome(DeleteResult.DELETED)

    # status / errors -------------------------------------------------------------------------------------

    def status(self, target: Target[TableSpec], observed: TableObserved | None) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if observed is None:
            return out
        table = observed.description
        out["arn"] = observed.arn
        out["tableStatus"] = observed.status
        if table.get("LatestStreamArn") and observed.stream["enabled"]:
            out["streamArn"] = table["LatestStreamArn"]
        indexes = []
        for name, index in sorted(observed.gsis.items()):
            status = str(index.get("IndexStatus", "ACTIVE"))
            indexes.append({"name": name, "status": "BACKFILLING" if index.get("Backfilling") else status})
        if indexes:
            out["indexes"] = indexes
        if target.spec.capacity_managed_by == "external" and observed.billing_mode == "PROVISIONED":
            out["capacity"] = observed.capacity
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify_table_error(exc)


def classify_table_error(exc: BaseException) -> ErrorClass:
    """Terminal: DynamoDB validation errors, except those saying "not now" (a table or index busy, a TTL
    changed too recently, the billing-mode switch window): those are progress and retried."""
    if isinstance(exc, ClientError) and error_code(exc) in (TERMINAL_CODES | IN_USE_CODES):
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if error_code(exc) in IN_USE_CODES or any(text in message for text in TRANSITIONAL_MESSAGES):
            return ErrorClass.RECOVERABLE
        if "billing mode" in message and ("24 hours" in message or "limit" in message):
            return ErrorClass.RECOVERABLE
    return classify(exc, TERMINAL_CODES)


# -- small conversions ------------------------------------------------------------------------------------


def _throughput(read: int | None, write: int | None) -> dict[str, int]:
    return {"ReadCapacityUnits": int(read or 0), "WriteCapacityUnits": int(write or 0)}


def _gsi_to_aws(gsi: GlobalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": gsi.name,
        "KeySchema": _key_schema(gsi.partition_key, gsi.sort_key),
        "Projection": _projection_to_aws(gsi.projection),
    }
    if gsi.read_capacity is not None:
        out["ProvisionedThroughput"] = _throughput(gsi.read_capacity, gsi.write_capacity)
    return out


def _on_demand_desired(value: OnDemandThroughput) -> dict[str, int]:
    return value.model_dump(by_alias=True, exclude_none=True)


def _on_demand_view(value: dict[str, Any] | None, desired: dict[str, int]) -> dict[str, Any]:
    value = value or {}
    names = {"maxReadRequestUnits": "MaxReadRequestUnits", "maxWriteRequestUnits": "MaxWriteRequestUnits"}
    return {k: value.get(names[k]) for k in desired}


def _on_demand_to_aws(value: OnDemandThroughput) -> dict[str, int]:
    out = {}
    if value.max_read_request_units is not None:
        out["MaxReadRequestUnits"] = value.max_read_request_units
    if value.max_write_request_units is not None:
        out["MaxWriteRequestUnits"] = value.max_write_request_units
    return out


def _warm_to_aws(value: WarmThroughput) -> dict[str, int]:
    out = {}
    if value.read_units_per_second is not None:
        out["ReadUnitsPerSecond"] = value.read_units_per_second
    if value.write_units_per_second is not None:
        out["WriteUnitsPerSecond"] = value.write_units_per_second
    return out


def _ttl_desired(ttl: TimeToLive) -> dict[str, Any]:
    return {"enabled": True, "attributeName": ttl.attribute_name} if ttl.enabled else {"enabled": False}


def _ttl_view(description: dict[str, Any]) -> dict[str, Any]:
    status = description.get("TimeToLiveStatus", "DISABLED")
    if status in ("ENABLED", "ENABLING"):
        return {"enabled": True, "attributeName": description.get("AttributeName", "")}
    return {"enabled": False}


def _pitr_desired(pitr: PointInTimeRecovery) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": pitr.enabled}
    if pitr.enabled and pitr.recovery_period_days is not None:
        out["recoveryPeriodDays"] = pitr.recovery_period_days
    return out


def _pitr_view(description: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": description.get("PointInTimeRecoveryStatus") == "ENABLED"}
    if out["enabled"] and "recoveryPeriodDays" in desired:
        out["recoveryPeriodDays"] = description.get("RecoveryPeriodInDays", 35)  # AWS's default period
    return out


def default_table_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>-<name>` with DynamoDB's characters; very long names keep a hash suffix."""
    raw = f"{prefix}{namespace}-{name}"
    cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", raw)
    if len(cleaned) > 255:
        cleaned = cleaned[:246] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return cleaned if len(cleaned) >= 3 else (cleaned + "-table")
