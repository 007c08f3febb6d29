"""The Table kind's model: the spec, the status and what an observation holds.

Attribute definitions are derived from the keys of the table and its indexes, never written by the user.
The facet modules (indexes, capacity, backups, streaming, settings, ...) read, compare and write one family
of facets each and import this module; the client loop (client.py) imports them. This module never performs
I/O and never imports a facet module, so imports run one way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, field_validator, model_validator

from ..aws import AwsClients, RetryingClient
from ..errors import ErrorClass, classify, error_code
from ..model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from ..policy_doc import check_policy_document
from ..refs import LocalName, NamedDependency, Reference

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
MAX_GSI = 20
MAX_LSI = 5
MAX_REPLICAS = 30  # more than AWS has commercial regions with DynamoDB global tables per partition
MAX_CAPACITY_UNITS = 40000  # AWS's default per-table quota of read (or write) capacity units
MAX_RESOURCE_POLICY = 20480  # AWS: a resource-based policy holds at most 20 KB

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


class OnDemandThroughput(Model):
    """Upper bounds for an on-demand table or index (PAY_PER_REQUEST)."""

    max_read_request_units: int | None = Field(None, ge=1, description="Maximum read request units.")
    max_write_request_units: int | None = Field(None, ge=1, description="Maximum write request units.")


class WarmThroughput(Model):
    """Pre-warmed throughput; read and written only when declared."""

    read_units_per_second: int | None = Field(None, ge=1, description="Read units per second.")
    write_units_per_second: int | None = Field(None, ge=1, description="Write units per second.")


class ScalingRange(Model):
    """Target tracking of one capacity dimension by Application Auto Scaling."""

    min: int = Field(ge=1, le=MAX_CAPACITY_UNITS, description="Minimum capacity units.")
    max: int = Field(ge=1, le=MAX_CAPACITY_UNITS, description="Maximum capacity units.")
    target_utilization: float = Field(
        70.0,
        ge=20,
        le=90,
        description="Consumed capacity as a percent of provisioned capacity that scaling keeps "
        "(20-90, AWS's range; default 70).",
    )


SCALING_RANGE_RULES: list[JsonValue] = [
    {"rule": "self.min <= self.max", "message": "min must not exceed max"}
]


class AutoScaling(Model):
    """Application Auto Scaling of provisioned capacity. While declared, the capacity it owns is never
    compared or written by awsop (readCapacity/writeCapacity are the capacity at create only)."""

    read: ScalingRange | None = Field(
        None,
        description="Read capacity scaling; absent: read capacity stays awsop's.",
        json_schema_extra={"x-kubernetes-validations": SCALING_RANGE_RULES},
    )
    write: ScalingRange | None = Field(
        None,
        description="Write capacity scaling; absent: write capacity stays awsop's.",
        json_schema_extra={"x-kubernetes-validations": SCALING_RANGE_RULES},
    )

    def dimensions(self) -> dict[str, ScalingRange]:
        """`read`/`write` -> range, for the declared ones."""
        return {k: v for k, v in (("read", self.read), ("write", self.write)) if v is not None}


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
    on_demand_throughput: OnDemandThroughput | None = Field(
        None,
        description="Maximum request units of the index (PAY_PER_REQUEST only); compared only when declared.",
    )
    warm_throughput: WarmThroughput | None = Field(
        None, description="Warm throughput of the index; compared only when declared."
    )
    auto_scaling: AutoScaling | None = Field(
        None,
        description="Application Auto Scaling of the index's capacity (PROVISIONED only); removing it "
        "deregisters what awsop registered.",
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


class Stream(Model):
    """DynamoDB Streams. Absent: never read or written (a new table has no stream)."""

    enabled: bool = Field(True, description="false turns the stream off.")
    view_type: Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"] | None = Field(
        None, description="What each stream record holds; required when enabled."
    )


class KinesisStreamingDestination(Model):
    """Item-level changes copied to a Kinesis data stream."""

    stream_arn: str = Field(
        max_length=1024,
        pattern=r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$",
        description="ARN of the Kinesis data stream (arn:aws:kinesis:<region>:<account>:stream/<name>).",
    )
    enabled: bool = Field(True, description="false stops streaming to this stream.")


class ReplicaIndex(Model):
    """Per-replica settings of one global secondary index (the index itself is the table's)."""

    name: str = Field(min_length=3, max_length=255, pattern=NAME_PATTERN, description="Index name.")
    read_capacity: int | None = Field(
        None, ge=1, description="Read capacity units of the index in this replica (PROVISIONED tables)."
    )
    max_read_request_units: int | None = Field(
        None, ge=1, description="Maximum read request units of the index in this replica (on-demand)."
    )


class Replica(Model):
    """A replica of the table in another region (global tables version 2019.11.21)."""

    region: str = Field(
        min_length=9,
        max_length=32,
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="The replica's region.",
    )
    table_class: Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"] | None = Field(
        None, description="Table class of the replica; absent: not compared."
    )
    kms_key_id: str | None = Field(
        None,
        max_length=2048,
        description="KMS key of the replica, in its region (the table's encryption must be KMS); absent: "
        "not compared.",
    )
    global_secondary_indexes: list[ReplicaIndex] | None = Field(
        None, max_length=MAX_GSI, description="Per-replica overrides of the table's indexes."
    )


BUCKET_KIND = "Bucket"
BUCKET_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
IMPORT_BUCKET_RULES: list[JsonValue] = [
    {
        "rule": "has(self.ref) != has(self.name)",
        "message": "importFrom.bucket: set exactly one of ref or name",
    }
]
IMPORT_IMMUTABLE_RULES: list[JsonValue] = [
    {
        "rule": "self == oldSelf",
        "message": "importFrom is immutable: it is used only when the table is created (remove it, and the "
        "table stays; to import other data, create another Table)",
    }
]


class ImportBucket(Model):
    """The S3 bucket an import reads: an awsop Bucket in this namespace (`ref`) or a bucket name (`name`)."""

    model_config = {
        **Model.model_config,
        "json_schema_extra": {"x-kubernetes-validations": IMPORT_BUCKET_RULES},
    }

    ref: LocalName | None = Field(
        None, description="An awsop Bucket in the same namespace; the table waits until it is Ready."
    )
    name: str | None = Field(
        None,
        min_length=3,
        max_length=63,
        pattern=BUCKET_NAME_PATTERN,
        description="Name of an S3 bucket awsop does not manage (it is not checked before the import).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ImportBucket:
        if (self.ref is None) == (self.name is None):
            raise ValueError("importFrom.bucket: set exactly one of ref or name")
        return self


class CsvOptions(Model):
    """How CSV input is read."""

    delimiter: str | None = Field(
        None,
        min_length=1,
        max_length=1,
        pattern=r"^[,;:|\t ]$",
        description="The field delimiter: one of , ; : | tab or space. Absent: a comma.",
    )
    header_list: list[Annotated[str, Field(min_length=1, max_length=65536)]] | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Column names, when the files have no header line. Absent: each file's first line.",
    )


class ImportFrom(Model):
    """Create the table by importing data from S3 (ImportTable) instead of CreateTable."""

    bucket: ImportBucket = Field(description="The S3 bucket holding the data.")
    bucket_owner: str | None = Field(
        None, pattern=r"^[0-9]{12}$", description="Account ID owning the bucket, when it is another account."
    )
    key_prefix: str | None = Field(
        None, max_length=1024, description="Import only the objects whose keys start with this prefix."
    )
    input_format: Literal["DYNAMODB_JSON", "ION", "CSV"] = Field(
        description="Format of the data: DYNAMODB_JSON, ION or CSV."
    )
    csv: CsvOptions | None = Field(None, description="CSV delimiter and header; only with inputFormat CSV.")
    input_compression_type: Literal["GZIP", "ZSTD", "NONE"] = Field(
        "NONE", description="Compression of the objects: GZIP, ZSTD or NONE (the default)."
    )

    @model_validator(mode="after")
    def _csv_only_for_csv(self) -> ImportFrom:
        if self.csv is not None and self.input_format != "CSV":
            raise ValueError("importFrom.csv is only allowed with inputFormat CSV")
        return self


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
        "rule": f"!{_PROVISIONED} || !has(self.globalSecondaryIndexes) || "
        "self.globalSecondaryIndexes.all(i, !has(i.onDemandThroughput))",
        "message": "globalSecondaryIndexes onDemandThroughput is only allowed with billingMode "
        "PAY_PER_REQUEST",
    },
    {
        "rule": f"{_PROVISIONED} || !has(self.autoScaling)",
        "message": "autoScaling is only allowed with billingMode PROVISIONED",
    },
    {
        "rule": f"{_PROVISIONED} || !has(self.globalSecondaryIndexes) || "
        "self.globalSecondaryIndexes.all(i, !has(i.autoScaling))",
        "message": "globalSecondaryIndexes autoScaling is only allowed with billingMode PROVISIONED",
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
        "rule": "!has(self.replicas) || "
        "self.replicas.all(r, self.replicas.exists_one(s, s.region == r.region))",
        "message": "replicas: regions must be unique",
    },
    {
        "rule": "!has(self.replicas) || size(self.replicas) == 0 || (has(self.stream) && "
        "has(self.stream.viewType) && self.stream.viewType == 'NEW_AND_OLD_IMAGES' && "
        "(!has(self.stream.enabled) || self.stream.enabled))",
        "message": "replicas require stream.viewType NEW_AND_OLD_IMAGES (global tables replicate from the "
        "stream)",
    },
    {
        "rule": "!has(self.importFrom) || !has(self.localSecondaryIndexes) || "
        "size(self.localSecondaryIndexes) == 0",
        "message": "importFrom cannot be combined with localSecondaryIndexes: ImportTable cannot create "
        "local secondary indexes, and they can be added only at create",
    },
    {
        # here, not on ImportFrom: the field's own (transition) rule replaces its model's rules in the CRD
        "rule": "!has(self.importFrom) || !has(self.importFrom.csv) || self.importFrom.inputFormat == 'CSV'",
        "message": "importFrom.csv is only allowed with inputFormat CSV",
    },
    {
        "rule": "!has(self.importFrom) || has(oldSelf.importFrom)",
        "message": "importFrom cannot be added to an existing Table: it is used only when the table is "
        "created",
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
    kinesis_streaming_destination: KinesisStreamingDestination | None = Field(
        None,
        description="Kinesis Data Streams destination of the table's changes; read and written only when "
        "declared.",
    )
    replicas: list[Replica] | None = Field(
        None,
        max_length=MAX_REPLICAS,
        description="Replicas in other regions (global tables 2019.11.21), added and removed one per step. "
        "Requires stream.viewType NEW_AND_OLD_IMAGES. Absent: replicas are not managed (never removed, "
        "never drift).",
    )
    replica_management: Literal["Additive", "Owned", "Exclusive"] = Field(
        "Additive",
        description="Which replicas missing from `replicas` awsop removes. Additive (default): none, they "
        "are reported in status. Owned: those awsop created. Exclusive: every replica not listed.",
    )
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
    auto_scaling: AutoScaling | None = Field(
        None,
        description="Application Auto Scaling of the table's capacity (PROVISIONED only): awsop registers "
        "the scalable targets and target tracking policies, then never compares or writes that capacity. "
        "Removing it deregisters what awsop registered.",
    )
    import_from: ImportFrom | None = Field(
        None,
        description="Create the table by importing data from S3 (ImportTable), at create only: an existing "
        "table is never imported into, and this is never drift. Immutable. The object is Reconciling while "
        "the import runs and Stalled with AWS's reason when it fails; a failed import is started again only "
        "for a changed spec.",
        json_schema_extra={"x-kubernetes-validations": IMPORT_IMMUTABLE_RULES},
    )
    resource_policy: str | None = Field(
        None,
        max_length=MAX_RESOURCE_POLICY,
        description="Resource-based policy of the table as a JSON document; compared semantically (key "
        "order and whitespace are not drift). An empty string removes the policy; absent: not read.",
    )

    model_config = {
        **AwsObjectSpec.model_config,
        "json_schema_extra": {"x-kubernetes-validations": TABLE_RULES},
    }

    @field_validator("resource_policy")
    @classmethod
    def _policy_json(cls, value: str | None) -> str | None:
        return check_policy_document(value)

    def references(self) -> list[Reference]:
        if self.import_from is None or self.import_from.bucket.ref is None:
            return []
        return [Reference(BUCKET_KIND, self.import_from.bucket.ref.name, "importFrom.bucket")]

    def named_dependencies(self) -> list[NamedDependency]:
        """A source bucket named by name: the CLI makes a Bucket of that name among its manifests first."""
        if self.import_from is None or self.import_from.bucket.name is None:
            return []
        return [NamedDependency(BUCKET_KIND, self.import_from.bucket.name, "importFrom.bucket")]

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
        if not provisioned and self.auto_scaling is not None:
            raise ValueError("autoScaling is only allowed with billingMode PROVISIONED")
        for where, scaling in [
            ("autoScaling", self.auto_scaling),
            *(
                (f"globalSecondaryIndexes[{g.name}].autoScaling", g.auto_scaling)
                for g in self.global_secondary_indexes or []
            ),
        ]:
            for dimension, bounds in (scaling.dimensions() if scaling else {}).items():
                if bounds.min > bounds.max:
                    raise ValueError(f"{where}.{dimension}: min must not exceed max")
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
            if not provisioned and gsi.auto_scaling is not None:
                raise ValueError(
                    f"globalSecondaryIndexes[{gsi.name}]: autoScaling is only allowed with billingMode "
                    "PROVISIONED"
                )
            if provisioned and gsi.on_demand_throughput is not None:
                raise ValueError(
                    f"globalSecondaryIndexes[{gsi.name}]: onDemandThroughput is only allowed with "
                    "billingMode PAY_PER_REQUEST"
                )
            names.append(gsi.name)
        if self.import_from is not None and self.local_secondary_indexes:
            raise ValueError(
                "importFrom cannot be combined with localSecondaryIndexes: ImportTable cannot create local "
                "secondary indexes, and they can be added only at create"
            )
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
        if self.replicas:
            regions = [r.region for r in self.replicas]
            twice = sorted({r for r in regions if regions.count(r) > 1})
            if twice:
                raise ValueError(f"replicas: regions must be unique: {', '.join(twice)} declared twice")
            if (
                self.stream is None
                or not self.stream.enabled
                or self.stream.view_type != "NEW_AND_OLD_IMAGES"
            ):
                raise ValueError(
                    "replicas require stream.viewType NEW_AND_OLD_IMAGES (global tables replicate from the "
                    "stream)"
                )
            gsi_names = {g.name for g in self.global_secondary_indexes or []}
            for replica in self.replicas:
                for override in replica.global_secondary_indexes or []:
                    if override.name not in gsi_names:
                        raise ValueError(
                            f"replicas[{replica.region}].globalSecondaryIndexes[{override.name}]: no such "
                            "index in globalSecondaryIndexes"
                        )
        if self.stream is not None and self.stream.enabled and self.stream.view_type is None:
            raise ValueError("stream.viewType is required when the stream is enabled")
        attribute_definitions(self)  # raises on a key attribute declared with two types
        return self


class ImportStatus(Model):
    """Where an import from S3 stands, as DescribeImport reports it."""

    arn: str = Field(description="The import's ARN.")
    status: str = Field(description="IN_PROGRESS, COMPLETED, CANCELLING, CANCELLED or FAILED.")
    processed_item_count: int | None = Field(None, description="Items read from S3 so far.")
    processed_size_bytes: int | None = Field(None, description="Bytes read from S3 so far.")
    imported_item_count: int | None = Field(None, description="Items written to the table so far.")
    error_count: int | None = Field(None, description="Items that could not be imported.")
    failure_code: str | None = Field(None, description="AWS's failure code, when the import failed.")
    failure_message: str | None = Field(None, description="AWS's failure message, when the import failed.")


class TableStatus(AwsObjectStatus):
    """Status of a Table."""

    table_status: str | None = Field(None, description="CREATING, UPDATING, ACTIVE, DELETING, ...")
    stream_arn: str | None = Field(None, description="ARN of the latest stream, when one is on.")
    indexes: list[dict[str, str]] | None = Field(
        None,
        description="Each global secondary index: name and status (CREATING, ACTIVE, ...; "
        "BACKFILLING while it is filled).",
    )
    replicas: list[dict[str, str]] | None = Field(
        None,
        description="Each replica: region, status, and createdBy (awsop, or outside when awsop did not "
        "create it); inSpec false marks a replica the spec does not list that awsop left in place.",
    )
    capacity: dict[str, int] | None = Field(
        None,
        description="Current table capacity (readCapacity, writeCapacity) when capacityManagedBy is "
        "external or autoScaling owns it.",
    )
    import_: ImportStatus | None = Field(
        None,
        alias="import",
        description="The import from S3 that creates the table, while it runs or after it failed.",
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


# -- observation --------------------------------------------------------------------------------------

DynamoDB = RetryingClient


@dataclass
class TableAws:
    """The clients one table's reconcile uses, all through the one factory (rate limits, call log):
    DynamoDB, and Application Auto Scaling (its own service) made only when a facet asks for it."""

    clients: AwsClients
    region: str

    @property
    def ddb(self) -> RetryingClient:
        return self.clients.client("dynamodb", self.region)

    @property
    def scaling(self) -> RetryingClient:
        return self.clients.client("application-autoscaling", self.region)


@dataclass
class TableObserved:
    """One DescribeTable and the tags, plus what the declared facets read (None: not read)."""

    name: str
    arn: str
    description: dict[str, Any]
    tags: dict[str, str]
    ttl: dict[str, Any] | None = None
    pitr: dict[str, Any] | None = None
    contributor_insights: str | None = None
    facets: dict[str, Any] = field(default_factory=dict)
    """What the facet modules added since the split read, by facet name (absent: not declared, not read)."""

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


# -- errors and names -----------------------------------------------------------------------------------


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


def default_table_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>-<name>` with DynamoDB's characters; very long names keep a hash suffix."""
    raw = f"{prefix}{namespace}-{name}"
    cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", raw)
    if len(cleaned) > 255:
        cleaned = cleaned[:246] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return cleaned if len(cleaned) >= 3 else (cleaned + "-table")
