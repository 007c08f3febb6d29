"""The Table kind's client loop: one DynamoDB table, dynamodb.awsop.io/v1alpha1.

Reading this module tells the loop of a table: it is observed (DescribeTable and tags always; every other
facet only when the spec declares it, by the facet's module), it differs (immediate changes first, then the
UpdateTable steps in the order they will be applied), it is created (CreateTable with everything it takes,
then what it cannot take once ACTIVE), changed (every UpdateTable is a step of its own, applied one per
reconcile while the table and its indexes are ACTIVE), and deleted (Retain by default; deletion protection
is only turned off when the spec says so). Each facet family lives in a module of its own (indexes,
capacity, backups, streaming, settings) and joins the loop by one line in each list below.

It must never: send UpdateTable while the table or an index is not ACTIVE, touch replicas (global tables
made outside awsop keep them, and they are never drift), write or report capacity that
`capacityManagedBy: external` gives to someone else, or turn deletion protection off on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..changes import Action, Change
from ..engine import Busy, CreateOperation, DeleteOutcome, DeleteResult, ObjectRef, Target
from ..errors import AlreadyCreatedError, ErrorClass, TerminalError, error_code, error_message
from ..policies import DeletionPolicy
from ..tags import OWNER_TAG, SYSTEM_TAGS, is_reserved, tag_drift
from . import autoscaling, backups, capacity, imports, indexes, policy, replicas, settings, streaming
from .spec import (
    IN_USE_CODES,
    KIND,
    NOT_FOUND_CODES,
    DynamoDB,
    TableAws,
    TableObserved,
    TableSpec,
    classify_table_error,
    default_table_name,
)

# Every DynamoDB operation the kind calls and the IAM actions AWS authorizes it with. The shipped policy is
# generated from this table (awsop iam-policy); a test fails if an operation is missing here.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeTable": ("dynamodb:DescribeTable",),
    "CreateTable": ("dynamodb:CreateTable", "dynamodb:TagResource"),  # tags at create need TagResource
    "UpdateTable": ("dynamodb:UpdateTable",),
    "DeleteTable": ("dynamodb:DeleteTable",),
    "ListTagsOfResource": ("dynamodb:ListTagsOfResource",),
    "TagResource": ("dynamodb:TagResource",),
    "UntagResource": ("dynamodb:UntagResource",),
    **settings.IAM_ACTIONS,
    **backups.IAM_ACTIONS,
    **policy.IAM_ACTIONS,
    **autoscaling.IAM_ACTIONS,
    **streaming.IAM_ACTIONS,
    **imports.IAM_ACTIONS,
}

# Tags awsop keeps on the table as records of what it made (facet modules own them): never tag drift.
RECORD_TAGS = frozenset({autoscaling.RECORD_TAG, replicas.RECORD_TAG})

Reader = Callable[[TableAws, Target[TableSpec], TableObserved], None]
Differ = Callable[[TableSpec, TableObserved], list[Change]]
Writer = Callable[[TableAws, Target[TableSpec], TableObserved, Change], bool]
UpdateArgs = Callable[[TableSpec, TableObserved, Change], "dict[str, Any] | None"]

# Reads of declared facets beyond DescribeTable and tags, in call order.
READERS: tuple[Reader, ...] = (
    settings.read_ttl,
    backups.read,
    settings.read_insights,
    policy.read,
    autoscaling.read,
    streaming.read_kinesis,
)
# Changes with calls of their own, applied at once.
IMMEDIATE: tuple[Differ, ...] = (
    settings.ttl_changes,
    backups.changes,
    settings.insights_changes,
    policy.changes,
    autoscaling.changes,
    streaming.kinesis_changes,
)
WRITERS: tuple[Writer, ...] = (
    settings.write,
    backups.write,
    policy.write,
    autoscaling.write,
    streaming.write_kinesis,
    replicas.write,
)
# UpdateTable steps, in the order they are applied (one per reconcile).
STEPS: tuple[Differ, ...] = (
    capacity.billing_steps,
    indexes.index_steps,
    streaming.steps,
    settings.encryption_steps,
    settings.table_class_steps,
    capacity.warm_steps,
    settings.deletion_protection_steps,
    replicas.steps,
)
UPDATE_ARGS: tuple[UpdateArgs, ...] = (
    capacity.update_args,
    indexes.update_args,
    streaming.update_args,
    settings.update_args,
)
# Facets CreateTable cannot set: written once the table is ACTIVE.
AFTER_CREATE: tuple[Callable[[TableSpec], list[Change]], ...] = (
    settings.ttl_after_create,
    backups.after_create,
    settings.insights_after_create,
    policy.after_create,
    autoscaling.after_create,
    streaming.kinesis_after_create,
)


class TableClient:
    """ResourceClient for DynamoDB tables."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.RETAIN
    # CreateTable fails with ResourceInUseException when the table exists and takes the tags atomically:
    # its answer proves the table new and ours, so the engine makes no read-back
    exclusive_create = True
    tags_at_create = True

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
        aws = TableAws(self.clients, target.region)
        for read in READERS:
            read(aws, target, observed)
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

    def own_tags(self, spec: TableSpec) -> frozenset[str]:
        """The records awsop keeps on a table with these facets: they count toward AWS's 50-tag limit."""
        own = set()
        if autoscaling.declared(spec):
            own.add(autoscaling.RECORD_TAG)
        if spec.replicas:
            own.add(replicas.RECORD_TAG)
        return frozenset(own)

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
        return replicas.busy(observed)

    # diff ----------------------------------------------------------------------------------------------

    def diff(self, target: Target[TableSpec], observed: TableObserved) -> list[Change]:
        """Pure. Immediate changes (tags, TTL, PITR, contributor insights) first, then the UpdateTable
        steps in the order they will be applied."""
        spec = target.spec
        indexes.check_immutable(spec, observed)
        changes = self._tag_changes(target, observed)
        for differ in IMMEDIATE:
            changes += differ(spec, observed)
        for step in STEPS:
            changes += step(spec, observed)
        return changes

    @staticmethod
    def _tag_changes(target: Target[TableSpec], observed: TableObserved) -> list[Change]:
        authoritative = target.spec.tags is not None
        actual = tag_drift(target.tags, _user_tags(observed), authoritative)
        if actual == target.tags:
            return []
        calls = []
        if any(actual.get(k) != v for k, v in target.tags.items()):
            calls.append("dynamodb:TagResource")
        if set(actual) - set(target.tags):
            calls.append("dynamodb:UntagResource")
        return [Change("tags", actual, target.tags, Action.UPDATE, tuple(calls))]

    # create ----------------------------------------------------------------------------------------------

    def plan_create(self, target: Target[TableSpec]) -> list[Change]:
        spec = target.spec
        if imports.declared(spec):
            return imports.plan(target) + indexes.plan_create(spec) + self._after_create(spec)
        changes = [Change("", None, target.aws_name, Action.CREATE, ("dynamodb:CreateTable",))]
        changes.append(Change("tags", None, target.tags, Action.CREATE, ()))  # passed to CreateTable
        changes += indexes.plan_create(spec)
        changes += self._after_create(spec)
        return changes

    @staticmethod
    def _after_create(spec: TableSpec) -> list[Change]:
        return [change for after in AFTER_CREATE for change in after(spec)]

    def create(self, target: Target[TableSpec]) -> TableObserved:
        spec = target.spec
        ddb = self._ddb(target.region)
        kwargs: dict[str, Any] = {
            **imports.creation_parameters(target),
            # ownership from the first moment: a crash after this call leaves a table recognisably ours
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())],
        }
        if spec.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = [
                indexes.lsi_to_aws(spec, lsi) for lsi in spec.local_secondary_indexes
            ]
        stream = streaming.stream_to_aws(spec)
        if stream is not None:
            kwargs["StreamSpecification"] = stream
        if spec.table_class is not None:
            kwargs["TableClass"] = spec.table_class
        if spec.deletion_protection is not None:
            kwargs["DeletionProtectionEnabled"] = spec.deletion_protection
        if spec.warm_throughput is not None:
            kwargs["WarmThroughput"] = capacity.warm_to_aws(spec.warm_throughput)
        try:
            table = ddb.create_table(**kwargs)["TableDescription"]
        except ClientError as exc:
            if error_code(exc) in IN_USE_CODES:  # CreateTable's answer for a taken name: the engine decides
                raise AlreadyCreatedError("AlreadyExists", f"table {target.aws_name} already exists") from exc
            raise
        observed = TableObserved(target.aws_name, str(table.get("TableArn", "")), table, dict(target.tags))
        if observed.status == "ACTIVE" and not self.busy(target, observed):
            # usable at once (emulators): the rest now; on AWS the next reconcile finds it in the diff
            for change in self._after_create(spec):
                self._apply_one(ddb, target, observed, change)
        return observed

    # create by import (engine.StartsCreate): ImportTable, followed by DescribeImport -------------------

    def starts_create(self, spec: TableSpec) -> bool:
        return imports.declared(spec)

    def start_create(self, target: Target[TableSpec]) -> CreateOperation:
        return imports.start(TableAws(self.clients, target.region), target)

    def describe_create(self, target: Target[TableSpec], token: str) -> CreateOperation:
        return imports.describe(TableAws(self.clients, target.region), token)

    def tag_owner(self, target: Target[TableSpec], observed: TableObserved) -> None:
        """The tags of a table that an import made (ImportTable takes none): all of them in one call."""
        tags = {k: v for k, v in sorted(target.tags.items()) if not is_reserved(k)}
        self._ddb(target.region).tag_resource(
            ResourceArn=observed.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    # apply -----------------------------------------------------------------------------------------------

    def apply(self, target: Target[TableSpec], observed: TableObserved, changes: list[Change]) -> None:
        ddb = self._ddb(target.region)
        for change in changes:
            self._apply_one(ddb, target, observed, change)

    def _apply_one(
        self, ddb: DynamoDB, target: Target[TableSpec], observed: TableObserved, change: Change
    ) -> None:
        if change.path == "tags":
            self._write_tags(ddb, target, observed)
            return
        aws = TableAws(self.clients, target.region)
        for write in WRITERS:
            if write(aws, target, observed, change):
                return
        ddb.update_table(TableName=target.aws_name, **self._update_table_args(target.spec, observed, change))

    @staticmethod
    def _update_table_args(spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any]:
        for args_of in UPDATE_ARGS:
            args = args_of(spec, observed, change)
            if args is not None:
                return args
        raise TerminalError("UnknownChange", f"awsop cannot apply a change to {change.path}")  # a bug

    def _write_tags(self, ddb: DynamoDB, target: Target[TableSpec], observed: TableObserved) -> None:
        """Differences only: TagResource for new or changed values, UntagResource for removed keys."""
        authoritative = target.spec.tags is not None
        actual = tag_drift(target.tags, _user_tags(observed), authoritative)
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
        replica_status = replicas.status(target.spec, observed)
        if replica_status:
            out["replicas"] = replica_status
        scaled = target.spec.capacity_managed_by == "external" or target.spec.auto_scaling is not None
        if scaled and observed.billing_mode == "PROVISIONED":
            out["capacity"] = observed.capacity
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify_table_error(exc)


def _user_tags(observed: TableObserved) -> dict[str, str]:
    """The table's tags without awsop's records (compared and written as the spec says)."""
    return {k: v for k, v in observed.tags.items() if k not in RECORD_TAGS}
