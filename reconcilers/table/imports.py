"""Creating a table by importing it from S3 (ImportTable), when the spec declares `importFrom`.

ImportTable creates the table and fills it from S3 on its own, long after the call returned. It takes the
keys, attribute definitions, billing, capacity, on-demand throughput, global secondary indexes and SSE
(`creation_parameters`, shared with CreateTable) but no tags, no stream, no table class, no deletion
protection, no warm throughput and no local secondary indexes (the spec may not declare those with
`importFrom`). The engine records the import's ARN (`StartsCreate`) and follows it with DescribeImport:
progress while it runs, Stalled with AWS's failure code and message when it fails. Once it completed, the
engine writes the ownership tags and the ordinary diff applies the rest (stream, table class, deletion
protection, warm throughput as UpdateTable steps; TTL, PITR and the other facets as usual).

Never: import into a table that exists (the engine only starts a create when DescribeTable found none), or
start an import again for the spec whose import failed (the engine decides that from its record).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..changes import Action, Change
from ..engine import CreateOperation, OperationState, Target
from ..errors import error_code, error_message
from ..refs import KNOWN_AFTER_APPLY
from . import capacity, indexes, settings
from .spec import BUCKET_KIND, TableAws, TableSpec, attribute_definitions

# ImportTable reads the source with the caller's permissions and logs to CloudWatch Logs: AWS's guide to
# requesting an import lists these actions besides dynamodb:ImportTable (a KMS-encrypted source also needs
# kms:Decrypt on its key, which depends on the data and is not in the generated policy).
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "ImportTable": (
        "dynamodb:ImportTable",
        "s3:GetObject",
        "s3:ListBucket",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:PutRetentionPolicy",
    ),
    "DescribeImport": ("dynamodb:DescribeImport",),
}
CALL = ("dynamodb:ImportTable",)
RUNNING = frozenset({"IN_PROGRESS", "CANCELLING"})
FAILED = frozenset({"FAILED", "CANCELLED"})
NOT_FOUND_CODES = frozenset({"ImportNotFoundException"})


def declared(spec: TableSpec) -> bool:
    return spec.import_from is not None


def creation_parameters(target: Target[TableSpec]) -> dict[str, Any]:
    """What CreateTable and ImportTable's TableCreationParameters both take, from the spec."""
    spec = target.spec
    params: dict[str, Any] = {
        "TableName": target.aws_name,
        "KeySchema": indexes.key_schema(spec.partition_key, spec.sort_key),
        "AttributeDefinitions": attribute_definitions(spec),
        "BillingMode": spec.billing_mode,
    }
    if spec.billing_mode == "PROVISIONED":
        params["ProvisionedThroughput"] = capacity.throughput(spec.read_capacity, spec.write_capacity)
    if spec.on_demand_throughput is not None:
        params["OnDemandThroughput"] = capacity.on_demand_to_aws(spec.on_demand_throughput)
    if spec.global_secondary_indexes:
        params["GlobalSecondaryIndexes"] = [indexes.gsi_to_aws(g) for g in spec.global_secondary_indexes]
    if spec.encryption is not None and spec.encryption.type != "AWS_OWNED":
        params["SSESpecification"] = settings.sse_to_aws(spec.encryption)
    return params


def source_bucket(target: Target[TableSpec]) -> str:
    """The source bucket's name: as written, or the referenced Bucket's (from its ARN)."""
    source = target.spec.import_from
    assert source is not None
    if source.bucket.name is not None:
        return source.bucket.name
    assert source.bucket.ref is not None
    arn = target.context.resolution(BUCKET_KIND, source.bucket.ref.name).value("arn")
    if not arn or arn == KNOWN_AFTER_APPLY:
        return KNOWN_AFTER_APPLY
    return str(arn).rsplit(":", 1)[-1]


def import_arguments(target: Target[TableSpec]) -> dict[str, Any]:
    source = target.spec.import_from
    assert source is not None
    bucket: dict[str, str] = {"S3Bucket": source_bucket(target)}
    if source.bucket_owner is not None:
        bucket["S3BucketOwner"] = source.bucket_owner
    if source.key_prefix is not None:
        bucket["S3KeyPrefix"] = source.key_prefix
    args: dict[str, Any] = {
        "S3BucketSource": bucket,
        "InputFormat": source.input_format,
        "InputCompressionType": source.input_compression_type,
        "TableCreationParameters": creation_parameters(target),
    }
    if source.csv is not None:
        csv: dict[str, Any] = {}
        if source.csv.delimiter is not None:
            csv["Delimiter"] = source.csv.delimiter
        if source.csv.header_list is not None:
            csv["HeaderList"] = list(source.csv.header_list)
        args["InputFormatOptions"] = {"Csv": csv}
    return args


def plan(target: Target[TableSpec]) -> list[Change]:
    """The import, then what ImportTable cannot take: the tags once it completed, and the settings the
    ordinary diff then applies as UpdateTable steps."""
    spec = target.spec
    source = f"s3://{source_bucket(target)}/{(spec.import_from.key_prefix or '') if spec.import_from else ''}"
    changes = [Change("", None, f"{target.aws_name} imported from {source}", Action.CREATE, CALL)]
    changes.append(Change("tags", None, target.tags, Action.CREATE, ("dynamodb:TagResource",)))
    later = {
        "stream": spec.stream.model_dump(by_alias=True, exclude_none=True) if spec.stream else None,
        "tableClass": spec.table_class,
        "deletionProtection": spec.deletion_protection,
        "warmThroughput": spec.warm_throughput.model_dump(by_alias=True, exclude_none=True)
        if spec.warm_throughput
        else None,
    }
    changes += [
        Change(path, None, value, Action.UPDATE, ("dynamodb:UpdateTable",))
        for path, value in later.items()
        if value is not None
    ]
    return changes


def start(aws: TableAws, target: Target[TableSpec]) -> CreateOperation:
    description = aws.ddb.import_table(**import_arguments(target))["ImportTableDescription"]
    return operation(description)


def describe(aws: TableAws, token: str) -> CreateOperation:
    try:
        description = aws.ddb.describe_import(ImportArn=token)["ImportTableDescription"]
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise
        return CreateOperation(
            token,
            OperationState.FAILED,
            "ImportNotFound",
            f"import {token} is not known to AWS ({error_message(exc)})",
        )
    return operation(description)


def operation(description: dict[str, Any]) -> CreateOperation:
    """The engine's view of one ImportTableDescription."""
    arn = str(description.get("ImportArn", ""))
    status = str(description.get("ImportStatus", "IN_PROGRESS"))
    report = import_status(description)
    if status in FAILED:
        code = description.get("FailureCode") or status
        why = description.get("FailureMessage") or "no message"
        reason = "ImportCancelled" if status == "CANCELLED" else "ImportFailed"
        return CreateOperation(
            arn, OperationState.FAILED, reason, f"import {arn} {status}: {code}: {why}", report
        )
    if status in RUNNING:
        items = int(description.get("ProcessedItemCount") or 0)
        size = int(description.get("ProcessedSizeBytes") or 0)
        message = f"import {arn} is {status}: {items} items ({size} bytes) processed"
        return CreateOperation(arn, OperationState.RUNNING, "ImportInProgress", message, report)
    imported = int(description.get("ImportedItemCount") or 0)
    return CreateOperation(
        arn, OperationState.DONE, "ImportCompleted", f"import {arn} completed: {imported} items", report
    )


def import_status(description: dict[str, Any]) -> dict[str, Any]:
    """`status.import` of the table."""
    out: dict[str, Any] = {
        "arn": description.get("ImportArn", ""),
        "status": description.get("ImportStatus", ""),
    }
    for key, field in (
        ("processedItemCount", "ProcessedItemCount"),
        ("processedSizeBytes", "ProcessedSizeBytes"),
        ("importedItemCount", "ImportedItemCount"),
        ("errorCount", "ErrorCount"),
        ("failureCode", "FailureCode"),
        ("failureMessage", "FailureMessage"),
    ):
        if description.get(field) is not None:
            out[key] = description[field]
    return {"import": out}
