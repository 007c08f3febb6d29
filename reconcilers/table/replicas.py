"""Replicas of a table in other regions: global tables, version 2019.11.21.

DescribeTable already lists the replicas, so this family costs no read of its own. Each replica added,
changed or removed is an UpdateTable step of its own (`ReplicaUpdates` with one entry), applied one per
reconcile while the table, its indexes and every replica are ACTIVE, additions first (never less
redundancy on the way). awsop records the regions it created in the table's tag `awsop.io/replicas`
(space-separated; written after the replica's UpdateTable succeeded, so a crash in between leaves a replica
counted as made outside awsop, which is the safe side).

Which replicas missing from the spec are removed is `replicaManagement`: Additive (default) removes none
and reports them in status; Owned removes those the record says awsop created; Exclusive removes every
replica not listed. Never: remove a replica under Additive, or a replica awsop did not create under Owned
(ACK community#2400: an upgrade deleted a production replica). The Retain deletion policy keeps replicas.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from ..engine import Busy, Target
from ..errors import TerminalError
from .spec import Replica, TableAws, TableObserved, TableSpec

PATH = "replicas"
RECORD_TAG = "awsop.io/replicas"
BUSY_STATUSES = frozenset({"CREATING", "UPDATING", "DELETING"})


def home_region(observed: TableObserved) -> str:
    parts = observed.arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def recorded(observed: TableObserved) -> set[str]:
    """Regions whose replica awsop created."""
    return set(observed.tags.get(RECORD_TAG, "").split())


def observed_replicas(observed: TableObserved) -> dict[str, dict[str, Any]]:
    return {str(r.get("RegionName")): r for r in observed.description.get("Replicas") or []}


def busy(observed: TableObserved) -> Busy | None:
    for region, replica in sorted(observed_replicas(observed).items()):
        status = str(replica.get("ReplicaStatus", "ACTIVE"))
        if status in BUSY_STATUSES:
            return Busy("ReplicaNotActive", f"replica {region} is {status}")
    return None


def _desired(replica: Replica) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if replica.table_class is not None:
        out["tableClass"] = replica.table_class
    if replica.kms_key_id is not None:
        out["kmsKeyId"] = replica.kms_key_id
    if replica.global_secondary_indexes is not None:
        out["globalSecondaryIndexes"] = {
            i.name: i.model_dump(by_alias=True, exclude_none=True, exclude={"name"})
            for i in replica.global_secondary_indexes
        }
    return out


def _actual(aws: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """AWS's replica, narrowed to what the spec declares (the rest is never drift)."""
    out: dict[str, Any] = {}
    if "tableClass" in desired:
        out["tableClass"] = (aws.get("ReplicaTableClassSummary") or {}).get("TableClass", "STANDARD")
    if "kmsKeyId" in desired:
        want, have = desired["kmsKeyId"], str(aws.get("KMSMasterKeyId") or "")
        # DescribeTable shows the key by ARN: a key id is compared by suffix, an alias not at all
        same = want.startswith("alias/") or ":alias/" in want or have == want or have.endswith(f"/{want}")
        out["kmsKeyId"] = want if same else have
    if "globalSecondaryIndexes" in desired:
        indexes = {str(i.get("IndexName")): i for i in aws.get("GlobalSecondaryIndexes") or []}
        view: dict[str, dict[str, Any]] = {}
        for name, wanted in desired["globalSecondaryIndexes"].items():
            index = indexes.get(name) or {}
            values = {
                "readCapacity": (index.get("ProvisionedThroughputOverride") or {}).get("ReadCapacityUnits"),
                "maxReadRequestUnits": (index.get("OnDemandThroughputOverride") or {}).get(
                    "MaxReadRequestUnits"
                ),
            }
            view[name] = {k: values[k] for k in wanted}
        out["globalSecondaryIndexes"] = view
    return out


def _removable(spec: TableSpec, region: str, made: set[str]) -> bool:
    if spec.replica_management == "Exclusive":
        return True
    return spec.replica_management == "Owned" and region in made


def steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    """Additions, then changes, then removals of replicas, one UpdateTable each."""
    if spec.replicas is None:
        return []
    home = home_region(observed)
    for replica in spec.replicas:
        if replica.region == home:
            raise TerminalError(
                "ReplicaInHomeRegion",
                f"replicas[{replica.region}]: the table itself lives in {home}; a replica must be in another "
                "region",
            )
    have = {k: v for k, v in observed_replicas(observed).items() if v.get("ReplicaStatus") != "DELETING"}
    want = {r.region: r for r in spec.replicas}
    made = recorded(observed)
    record = ("dynamodb:UpdateTable", "dynamodb:TagResource")
    additions, updates, removals = [], [], []
    for region, replica in want.items():
        desired = _desired(replica)
        if region not in have:
            additions.append(
                Change(
                    f"replicas[{region}]", None, desired, Action.CREATE, record, f"creating replica {region}"
                )
            )
            continue
        actual = _actual(have[region], desired)
        if actual != desired:
            updates.append(
                Change(
                    f"replicas[{region}]",
                    actual,
                    desired,
                    Action.UPDATE,
                    ("dynamodb:UpdateTable",),
                    f"updating replica {region}",
                )
            )
    for region in sorted(have):
        if region not in want and _removable(spec, region, made):
            calls: tuple[str, ...] = ("dynamodb:UpdateTable",)
            if region in made:
                calls += ("dynamodb:UntagResource",) if made == {region} else ("dynamodb:TagResource",)
            removals.append(
                Change(
                    f"replicas[{region}]",
                    {"region": region},
                    None,
                    Action.DELETE,
                    calls,
                    f"deleting replica {region}",
                )
            )
    return additions + updates + removals


def _replica_update(spec: TableSpec, region: str, action: Action) -> dict[str, Any]:
    if action is Action.DELETE:
        return {"Delete": {"RegionName": region}}
    replica = next(r for r in spec.replicas or [] if r.region == region)
    body: dict[str, Any] = {"RegionName": region}
    if replica.kms_key_id is not None:
        body["KMSMasterKeyId"] = replica.kms_key_id
    if replica.table_class is not None:
        body["TableClassOverride"] = replica.table_class
    if replica.global_secondary_indexes is not None:
        indexes = []
        for index in replica.global_secondary_indexes:
            entry: dict[str, Any] = {"IndexName": index.name}
            if index.read_capacity is not None:
                entry["ProvisionedThroughputOverride"] = {"ReadCapacityUnits": index.read_capacity}
            if index.max_read_request_units is not None:
                entry["OnDemandThroughputOverride"] = {"MaxReadRequestUnits": index.max_read_request_units}
            indexes.append(entry)
        body["GlobalSecondaryIndexes"] = indexes
    return {"Create" if action is Action.CREATE else "Update": body}


def write(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    if not change.path.startswith(f"{PATH}["):
        return False
    region = change.path[len(PATH) + 1 : -1]
    aws.ddb.update_table(
        TableName=target.aws_name, ReplicaUpdates=[_replica_update(target.spec, region, change.action)]
    )
    made = recorded(observed)
    if change.action is Action.CREATE:
        made.add(region)
    elif change.action is Action.DELETE and region in made:
        made.discard(region)
    else:
        return True
    if made:
        value = " ".join(sorted(made))
        aws.ddb.tag_resource(ResourceArn=observed.arn, Tags=[{"Key": RECORD_TAG, "Value": value}])
        observed.tags[RECORD_TAG] = value
    else:
        aws.ddb.untag_resource(ResourceArn=observed.arn, TagKeys=[RECORD_TAG])
        observed.tags.pop(RECORD_TAG, None)
    return True


def status(spec: TableSpec, observed: TableObserved) -> list[dict[str, str]]:
    """Every replica AWS lists: region, status, who created it, and whether the spec lists it."""
    made = recorded(observed)
    listed = {r.region for r in spec.replicas or []}
    out = []
    for region, replica in sorted(observed_replicas(observed).items()):
        entry = {
            "region": region,
            "status": str(replica.get("ReplicaStatus", "ACTIVE")),
            "createdBy": "awsop" if region in made else "outside",
        }
        if spec.replicas is not None and region not in listed:
            entry["inSpec"] = "false"
        out.append(entry)
    return out
