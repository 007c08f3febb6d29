"""A group's warm pool (`spec.warmPool`): pre-initialised instances kept Stopped, Running or Hibernated
so scale-out is faster. Read from the group's own DescribeAutoScalingGroups answer
(`WarmPoolConfiguration`, `WarmPoolSize`: no call of its own, so it batches with the group), written with
PutWarmPool (create and change are the same call), removed with DeleteWarmPool when the spec drops it.

Compared: pool state, min size and reuse on scale-in with AWS's defaults (Stopped, 0, false), and max
group prepared capacity only when declared. It must never delete a warm pool the spec did not declare
unless awsop made it (a pool awsop put is recorded by the tag WARM_POOL_TAG).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..aws import RetryingClient
from ..changes import Action, Change
from ..model import Model

WARM_POOL_TAG = "awsop.io/warm-pool"
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "PutWarmPool": ("autoscaling:PutWarmPool",),
    "DeleteWarmPool": ("autoscaling:DeleteWarmPool",),
}
DELETING = frozenset({"PendingDelete"})


class WarmPool(Model):
    """The group's warm pool."""

    pool_state: Literal["Stopped", "Running", "Hibernated"] = Field(
        "Stopped", description="State of the warm instances (AWS default Stopped)."
    )
    min_size: int = Field(0, ge=0, le=10000, description="Instances always kept warm (AWS default 0).")
    max_group_prepared_capacity: int | None = Field(
        None,
        ge=-1,
        le=10000,
        description="Group and pool together at most this many instances (-1 or absent: the group's "
        "maxSize). Compared only when set.",
    )
    reuse_on_scale_in: bool = Field(
        False,
        description="Return scaled-in instances to the pool instead of terminating them (default false).",
    )


def desired_pool(pool: WarmPool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "poolState": pool.pool_state,
        "minSize": pool.min_size,
        "reuseOnScaleIn": pool.reuse_on_scale_in,
    }
    if pool.max_group_prepared_capacity is not None:
        out["maxGroupPreparedCapacity"] = pool.max_group_prepared_capacity
    return out


def pool_from_aws(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """WarmPoolConfiguration as awsop compares it (AWS's defaults where the answer leaves a field out);
    None: no pool, or one being deleted."""
    if not config or config.get("Status") in DELETING:
        return None
    out: dict[str, Any] = {
        "poolState": config.get("PoolState") or "Stopped",
        "minSize": int(config.get("MinSize") or 0),
        "reuseOnScaleIn": bool((config.get("InstanceReusePolicy") or {}).get("ReuseOnScaleIn", False)),
    }
    if config.get("MaxGroupPreparedCapacity") is not None:
        out["maxGroupPreparedCapacity"] = int(config["MaxGroupPreparedCapacity"])
    return out


def pool_changes(declared: WarmPool | None, actual: dict[str, Any] | None, recorded: bool) -> list[Change]:
    if declared is None:
        if actual is not None and recorded:
            return [Change("warmPool", actual, None, Action.DELETE, ("autoscaling:DeleteWarmPool",))]
        return []
    want = desired_pool(declared)
    calls: tuple[str, ...] = ("autoscaling:PutWarmPool",)
    if not recorded:
        calls = ("autoscaling:CreateOrUpdateTags", *calls)
    if actual is None:
        return [Change("warmPool", None, want, Action.CREATE, calls)]
    have = {k: actual.get(k) for k in want}
    if have != want:
        return [Change("warmPool", have, want, Action.UPDATE, calls)]
    return []


def put_pool(autoscaling: RetryingClient, group: str, pool: WarmPool) -> None:
    kwargs: dict[str, Any] = {
        "AutoScalingGroupName": group,
        "PoolState": pool.pool_state,
        "MinSize": pool.min_size,
        "InstanceReusePolicy": {"ReuseOnScaleIn": pool.reuse_on_scale_in},
    }
    if pool.max_group_prepared_capacity is not None:
        kwargs["MaxGroupPreparedCapacity"] = pool.max_group_prepared_capacity
    autoscaling.put_warm_pool(**kwargs)


def pool_status(group: dict[str, Any]) -> dict[str, Any] | None:
    """What AWS reports of the pool: its size (warm instances) and status."""
    config = group.get("WarmPoolConfiguration")
    if not config:
        return None
    out: dict[str, Any] = {"size": int(group.get("WarmPoolSize") or 0)}
    if config.get("Status"):
        out["status"] = config["Status"]
    return out
