"""Capacity of a table: billing mode, provisioned capacity, on-demand and warm throughput.

A billing switch carries the capacity of the table and of every existing index (AWS refuses a switch to
PROVISIONED without it). Capacity is compared only when awsop owns it; on-demand and warm throughput only
when declared, and then only the values declared (AWS's values for the rest are never drift).
Never: write capacity that `capacityManagedBy: external` or `autoScaling` gives to someone else, or retry
a switch to on-demand inside AWS's 24-hour window in a tight loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..changes import Action, Change
from ..errors import RecoverableError
from .spec import AutoScaling, OnDemandThroughput, TableObserved, TableSpec, WarmThroughput

BILLING_SWITCH_WINDOW = timedelta(hours=24)
CALL = ("dynamodb:UpdateTable",)


def throughput(read: int | None, write: int | None) -> dict[str, int]:
    return {"ReadCapacityUnits": int(read or 0), "WriteCapacityUnits": int(write or 0)}


def table_capacity(spec: TableSpec) -> dict[str, int]:
    return {"readCapacity": spec.read_capacity or 0, "writeCapacity": spec.write_capacity or 0}


def owned(desired: dict[str, int], scaled: AutoScaling | None) -> dict[str, int]:
    """The capacity awsop compares: Application Auto Scaling owns the dimensions it scales."""
    if scaled is None:
        return desired
    dims = scaled.dimensions()
    return {k: v for k, v in desired.items() if k.removesuffix("Capacity") not in dims}


def merged_throughput(desired: dict[str, int], actual: dict[str, int]) -> dict[str, int]:
    """ProvisionedThroughput needs both units: the ones awsop owns from the spec, the rest as AWS has them."""
    both = {**actual, **desired}
    return throughput(both.get("readCapacity"), both.get("writeCapacity"))


def on_demand_desired(value: OnDemandThroughput) -> dict[str, int]:
    return value.model_dump(by_alias=True, exclude_none=True)


def on_demand_view(value: dict[str, Any] | None, desired: dict[str, int]) -> dict[str, Any]:
    value = value or {}
    names = {"maxReadRequestUnits": "MaxReadRequestUnits", "maxWriteRequestUnits": "MaxWriteRequestUnits"}
    return {k: value.get(names[k]) for k in desired}


def on_demand_to_aws(value: OnDemandThroughput) -> dict[str, int]:
    out = {}
    if value.max_read_request_units is not None:
        out["MaxReadRequestUnits"] = value.max_read_request_units
    if value.max_write_request_units is not None:
        out["MaxWriteRequestUnits"] = value.max_write_request_units
    return out


def warm_desired(value: WarmThroughput) -> dict[str, int]:
    return value.model_dump(by_alias=True, exclude_none=True)


def warm_view(value: dict[str, Any] | None, desired: dict[str, int]) -> dict[str, Any]:
    """Only the declared values of AWS's warm throughput (AWS reports both, and a Status)."""
    value = value or {}
    return {k: value.get(k[0].upper() + k[1:]) for k in desired}


def warm_to_aws(value: WarmThroughput) -> dict[str, int]:
    out = {}
    if value.read_units_per_second is not None:
        out["ReadUnitsPerSecond"] = value.read_units_per_second
    if value.write_units_per_second is not None:
        out["WriteUnitsPerSecond"] = value.write_units_per_second
    return out


def billing_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    """The billing switch, or else a table capacity change, or else an on-demand throughput change."""
    external = spec.capacity_managed_by == "external"
    provisioned = spec.billing_mode == "PROVISIONED"
    if observed.billing_mode != spec.billing_mode:
        desired: Any = spec.billing_mode
        if provisioned:
            desired = {"billingMode": spec.billing_mode, **table_capacity(spec)}
        return [
            Change(
                "billingMode",
                observed.billing_mode,
                desired,
                Action.UPDATE,
                CALL,
                f"switching billing to {spec.billing_mode}",
            )
        ]
    wanted = owned(table_capacity(spec), spec.auto_scaling)
    have = {k: v for k, v in observed.capacity.items() if k in wanted}
    if provisioned and not external and wanted and have != wanted:
        return [
            Change(
                "capacity",
                have,
                wanted,
                Action.UPDATE,
                CALL,
                "changing table capacity",
            )
        ]
    if not provisioned and spec.on_demand_throughput is not None:
        desired_od = on_demand_desired(spec.on_demand_throughput)
        actual_od = on_demand_view(observed.description.get("OnDemandThroughput"), desired_od)
        if actual_od != desired_od:
            return [
                Change(
                    "onDemandThroughput",
                    actual_od,
                    desired_od,
                    Action.UPDATE,
                    CALL,
                    "changing on-demand throughput",
                )
            ]
    return []


def warm_steps(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.warm_throughput is None:
        return []
    desired = warm_desired(spec.warm_throughput)
    actual = warm_view(observed.description.get("WarmThroughput"), desired)
    if actual == desired:
        return []
    return [Change("warmThroughput", actual, desired, Action.UPDATE, CALL, "changing warm throughput")]


def check_billing_window(observed: TableObserved) -> None:
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


def update_args(spec: TableSpec, observed: TableObserved, change: Change) -> dict[str, Any] | None:
    """The UpdateTable arguments of a capacity change; None when the change is not one."""
    path = change.path
    if path == "billingMode":
        args: dict[str, Any] = {"BillingMode": spec.billing_mode}
        if spec.billing_mode == "PROVISIONED":
            args["ProvisionedThroughput"] = throughput(spec.read_capacity, spec.write_capacity)
            updates = [
                {
                    "Update": {
                        "IndexName": g.name,
                        "ProvisionedThroughput": throughput(g.read_capacity, g.write_capacity),
                    }
                }
                for g in spec.global_secondary_indexes or []
                if g.name in observed.gsis
            ]
            if updates:
                args["GlobalSecondaryIndexUpdates"] = updates
        else:
            check_billing_window(observed)
        return args
    if path == "capacity":
        return {"ProvisionedThroughput": merged_throughput(change.desired, observed.capacity)}
    if path == "onDemandThroughput" and spec.on_demand_throughput is not None:
        return {"OnDemandThroughput": on_demand_to_aws(spec.on_demand_throughput)}
    if path == "warmThroughput" and spec.warm_throughput is not None:
        return {"WarmThroughput": warm_to_aws(spec.warm_throughput)}
    return None
