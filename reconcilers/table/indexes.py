"""Indexes of a table: key schemas, projections, and the global secondary index steps.

Global secondary indexes are added and removed one per UpdateTable (a step each), removals first; an index
whose keys or projection changed is removed and added again. Local secondary indexes are fixed at creation:
a difference is terminal. Index capacity is compared only when the table is PROVISIONED and awsop owns the
capacity. Never: compare capacity of an index under on-demand billing.
"""

from __future__ import annotations

from typing import Any

from ..changes import Action, Change
from ..errors import TerminalError
from .capacity import (
    merged_throughput,
    on_demand_desired,
    on_demand_to_aws,
    on_demand_view,
    owned,
    throughput,
    warm_desired,
    warm_to_aws,
    warm_view,
)
from .spec import (
    GlobalSecondaryIndex,
    Key,
    LocalSecondaryIndex,
    Projection,
    TableObserved,
    TableSpec,
    attribute_definitions,
)

CALL = ("dynamodb:UpdateTable",)


def key_schema(partition: Key, sort: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def projection_to_aws(projection: Projection) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": projection.type}
    if projection.type == "INCLUDE":
        out["NonKeyAttributes"] = list(projection.non_key_attributes or [])
    return out


def keys_view(schema: list[dict[str, Any]], types: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in schema:
        role = "partitionKey" if entry["KeyType"] == "HASH" else "sortKey"
        out[role] = {"name": entry["AttributeName"], "type": types.get(entry["AttributeName"], "?")}
    return out


def projection_view(projection: dict[str, Any] | None) -> dict[str, Any]:
    projection = projection or {}
    kind = projection.get("ProjectionType", "ALL")
    out: dict[str, Any] = {"type": kind}
    if kind == "INCLUDE":
        out["nonKeyAttributes"] = sorted(projection.get("NonKeyAttributes") or [])
    return out


def gsi_desired(gsi: GlobalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {"partitionKey": gsi.partition_key.model_dump(by_alias=True)}
    if gsi.sort_key:
        out["sortKey"] = gsi.sort_key.model_dump(by_alias=True)
    out["projection"] = {"type": gsi.projection.type}
    if gsi.projection.type == "INCLUDE":
        out["projection"]["nonKeyAttributes"] = sorted(gsi.projection.non_key_attributes or [])
    return out


def lsi_desired(lsi: LocalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {"sortKey": lsi.sort_key.model_dump(by_alias=True), "projection": {}}
    out["projection"] = {"type": lsi.projection.type}
    if lsi.projection.type == "INCLUDE":
        out["projection"]["nonKeyAttributes"] = sorted(lsi.projection.non_key_attributes or [])
    return out


def index_capacity(index: dict[str, Any]) -> dict[str, int]:
    value = index.get("ProvisionedThroughput") or {}
    return {
        "readCapacity": int(value.get("ReadCapacityUnits") or 0),
        "writeCapacity": int(value.get("WriteCapacityUnits") or 0),
    }


def gsi_to_aws(gsi: GlobalSecondaryIndex) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": gsi.name,
        "KeySchema": key_schema(gsi.partition_key, gsi.sort_key),
        "Projection": projection_to_aws(gsi.projection),
    }
    if gsi.read_capacity is not None:
        out["ProvisionedThroughput"] = throughput(gsi.read_capacity, gsi.write_capacity)
    if gsi.on_demand_throughput is not None:
        out["OnDemandThroughput"] = on_demand_to_aws(gsi.on_demand_throughput)
    if gsi.warm_throughput is not None:
        out["WarmThroughput"] = warm_to_aws(gsi.warm_throughput)
    return out


def lsi_to_aws(spec: TableSpec, lsi: LocalSecondaryIndex) -> dict[str, Any]:
    return {
        "IndexName": lsi.name,
        "KeySchema": key_schema(spec.partition_key, lsi.sort_key),
        "Projection": projection_to_aws(lsi.projection),
    }


def check_immutable(spec: TableSpec, observed: TableObserved) -> None:
    """Keys and local secondary indexes are fixed at creation: a difference is terminal."""
    types = observed.attribute_types
    actual = keys_view(observed.description.get("KeySchema", []), types)
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
                **keys_view(i.get("KeySchema", [])[1:], types),
                "projection": projection_view(i.get("Projection")),
            }
            for n, i in observed.lsis.items()
        }
        want = {lsi.name: lsi_desired(lsi) for lsi in spec.local_secondary_indexes}
        if have != want:
            raise TerminalError(
                "LocalIndexesChanged",
                f"table {observed.name}: local secondary indexes {sorted(have)} differ from the spec's "
                f"{sorted(want)}; they are fixed at creation, the table must be recreated",
            )


def index_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    """Removals, then additions, then capacity changes of the declared global secondary indexes."""
    if spec.global_secondary_indexes is None:
        return []
    types = observed.attribute_types
    have = {
        name: {
            **keys_view(index.get("KeySchema", []), types),
            "projection": projection_view(index.get("Projection")),
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
                    CALL,
                    f"deleting index {name}",
                )
            )
    for name, gsi in want.items():
        desired = gsi_desired(gsi)
        if name in have and have[name] != desired:
            # keys and projection of an index cannot change in place: remove it, then add it again
            removals.append(
                Change(
                    f"globalSecondaryIndexes[{name}]",
                    have[name],
                    None,
                    Action.DELETE,
                    CALL,
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
                    CALL,
                    f"creating index {name}",
                )
            )
        else:
            resizes += _throughput_steps(spec, observed, gsi)
    return removals + additions + resizes


def _throughput_steps(spec: TableSpec, observed: TableObserved, gsi: GlobalSecondaryIndex) -> list[Change]:
    """Capacity (when awsop owns it), on-demand and warm throughput (when declared) of an existing index.
    AWS's values for what the spec leaves out are never drift."""
    index = observed.gsis[gsi.name]
    out = []
    if (
        spec.billing_mode == "PROVISIONED"
        and observed.billing_mode == "PROVISIONED"
        and spec.capacity_managed_by == "awsop"
    ):
        wanted = owned(
            {"readCapacity": gsi.read_capacity or 0, "writeCapacity": gsi.write_capacity or 0},
            gsi.auto_scaling,
        )
        actual = {k: v for k, v in index_capacity(index).items() if k in wanted}
        if wanted and wanted != actual:
            out.append(
                Change(
                    f"globalSecondaryIndexes[{gsi.name}].capacity",
                    actual,
                    wanted,
                    Action.UPDATE,
                    CALL,
                    f"changing capacity of index {gsi.name}",
                )
            )
    if gsi.on_demand_throughput is not None and observed.billing_mode == "PAY_PER_REQUEST":
        desired_od = on_demand_desired(gsi.on_demand_throughput)
        actual_od = on_demand_view(index.get("OnDemandThroughput"), desired_od)
        if actual_od != desired_od:
            out.append(
                Change(
                    f"globalSecondaryIndexes[{gsi.name}].onDemandThroughput",
                    actual_od,
                    desired_od,
                    Action.UPDATE,
                    CALL,
                    f"changing on-demand throughput of index {gsi.name}",
                )
            )
    if gsi.warm_throughput is not None:
        desired_warm = warm_desired(gsi.warm_throughput)
        actual_warm = warm_view(index.get("WarmThroughput"), desired_warm)
        if actual_warm != desired_warm:
            out.append(
                Change(
                    f"globalSecondaryIndexes[{gsi.name}].warmThroughput",
                    actual_warm,
                    desired_warm,
                    Action.UPDATE,
                    CALL,
                    f"changing warm throughput of index {gsi.name}",
                )
            )
    return out


def plan_create(spec: TableSpec) -> list[Change]:
    return [
        Change(f"globalSecondaryIndexes[{gsi.name}]", None, gsi_desired(gsi), Action.CREATE)
        for gsi in spec.global_secondary_indexes or []
    ]


def update_args(spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any] | None:
    """The UpdateTable arguments of an index step; None when the change is not an index's."""
    path = change.path
    if not path.startswith("globalSecondaryIndexes["):
        return None
    index = path[len("globalSecondaryIndexes[") :].split("]", 1)[0]
    if change.action is Action.DELETE:
        return {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index}}]}
    gsi = next(g for g in spec.global_secondary_indexes or [] if g.name == index)
    if change.action is Action.CREATE:
        return {
            "AttributeDefinitions": attribute_definitions(spec),
            "GlobalSecondaryIndexUpdates": [{"Create": gsi_to_aws(gsi)}],
        }
    update: dict[str, Any] = {"IndexName": index}
    if path.endswith(".onDemandThroughput") and gsi.on_demand_throughput is not None:
        update["OnDemandThroughput"] = on_demand_to_aws(gsi.on_demand_throughput)
    elif path.endswith(".warmThroughput") and gsi.warm_throughput is not None:
        update["WarmThroughput"] = warm_to_aws(gsi.warm_throughput)
    else:
        update["ProvisionedThroughput"] = merged_throughput(
            change.desired, index_capacity(observed.gsis.get(index) or {})
        )
    return {"GlobalSecondaryIndexUpdates": [{"Update": update}]}
