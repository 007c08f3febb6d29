"""Traffic sources of an Auto Scaling group (`spec.trafficSources`): Classic Load Balancers (`elb`),
ELB target groups (`elbv2`: Application, Network, Gateway Load Balancers) and VPC Lattice target groups
(`vpc-lattice`), attached with AttachTrafficSources and detached with DetachTrafficSources.

Read from the group's own DescribeAutoScalingGroups answer (`TrafficSources`: no call of its own, so a
group that declares them batches like any group). Their attachment state (Adding, Added, InService,
Removing, Removed) is only in DescribeTrafficSources (one group per call): read for groups that declare
sources, and on routine checks only until every declared source has settled (see `settled`).

How the two attachment fields live side by side, from AWS's API reference: a target group attached with
AttachLoadBalancerTargetGroups (`targetGroupArns`) can be detached only by DetachLoadBalancerTargetGroups,
one attached with AttachTrafficSources only by DetachTrafficSources; DescribeTrafficSources describes "all
the traffic sources" of a group, DescribeLoadBalancerTargetGroups only the first kind. Whether the group's
`TrafficSources` and `TargetGroupARNs` each list the other kind is not documented, so neither field reads
the other's entries: `trafficSources` ignores AWS entries the spec lists in `targetGroupArns`, and
`targetGroupArns` ignores entries that are trafficSources' own (declared, or recorded as attached by
awsop). A target group named in both fields is a spec error.

Only sources awsop attached are detached: their identifiers are recorded on the group as short digests in
the tag TRAFFIC_TAG (an ARN is up to 511 characters, a tag value 256), widened before an attach and
narrowed after a detach (`records.py`). A source someone else attached is left alone: not drift, not
planned. It must never detach a source it did not record, nor read DescribeTrafficSources for a group
that declares none.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from ..aws import RetryingClient
from ..changes import Action, Change
from ..model import Model
from .records import record_tag

TRAFFIC_TAG = "awsop.io/traffic-sources"
SOURCES_MAX = 25  # awsop's bound: 25 digests of 8 characters and their commas fit one tag value (224)
PER_CALL = 10  # AttachTrafficSources / DetachTrafficSources: "You can specify up to 10 traffic sources."
STATES_PER_CALL = 50  # DescribeTrafficSources: "The maximum value is 50."
SETTLED = frozenset({"Added", "InService"})  # AWS's states after which a source stays put by itself
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "AttachTrafficSources": ("autoscaling:AttachTrafficSources",),
    "DetachTrafficSources": ("autoscaling:DetachTrafficSources",),
    "DescribeTrafficSources": ("autoscaling:DescribeTrafficSources",),
}

# What AWS's API reference (TrafficSourceIdentifier) documents an identifier to be, per type: a Classic
# Load Balancer's name (ELB: at most 32 letters, digits and hyphens), or a target group ARN in this
# account and Region (elasticloadbalancing ...:targetgroup/<name>/<id>, vpc-lattice ...:targetgroup/tg-<id>).
IDENTIFIER_PATTERNS: dict[str, str] = {
    "elb": r"^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$",
    "elbv2": r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}"
    r"/[0-9a-f]+$",
    "vpc-lattice": r"^arn:aws[a-z-]*:vpc-lattice:[a-z0-9-]+:[0-9]{12}:targetgroup/tg-[0-9a-z]+$",
}
IDENTIFIER_MEANING: dict[str, str] = {
    "elb": "a Classic Load Balancer name (1-32 letters, digits, hyphens)",
    "elbv2": "an ELB target group ARN "
    "(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)",
    "vpc-lattice": "a VPC Lattice target group ARN "
    "(arn:aws:vpc-lattice:<region>:<account>:targetgroup/tg-<id>)",
}
SOURCE_RULES: list[JsonValue] = [
    {
        "rule": f"self.type != '{kind}' || self.identifier.matches('{pattern}')",
        "message": f"trafficSources: with type {kind} the identifier must be {IDENTIFIER_MEANING[kind]}",
    }
    for kind, pattern in IDENTIFIER_PATTERNS.items()
]
LIST_RULES: list[JsonValue] = [
    {
        "rule": "self.all(x, self.exists_one(y, y.identifier == x.identifier))",
        "message": "trafficSources: identifiers must be unique",
    }
]


class TrafficSource(Model):
    """One traffic source: a Classic Load Balancer, or an ELB or VPC Lattice target group."""

    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"x-kubernetes-validations": SOURCE_RULES}
    )

    identifier: str = Field(
        min_length=1,
        max_length=511,
        description="elb: the Classic Load Balancer's name; elbv2: the ARN of an Application, Network or "
        "Gateway Load Balancer target group; vpc-lattice: the ARN of a VPC Lattice target group (in the "
        "group's account and Region).",
    )
    type: Literal["elb", "elbv2", "vpc-lattice"] = Field(
        description="elb (Classic Load Balancer), elbv2 (ELB target group) or vpc-lattice (VPC Lattice "
        "target group)."
    )

    @model_validator(mode="after")
    def _identifier(self) -> TrafficSource:
        if not re.match(IDENTIFIER_PATTERNS[self.type], self.identifier):
            raise ValueError(
                f"trafficSources: with type {self.type} the identifier must be "
                f"{IDENTIFIER_MEANING[self.type]}, not {self.identifier!r}"
            )
        return self


def digest(identifier: str) -> str:
    """The short name a source is recorded by (sha256, 8 hex digits)."""
    return hashlib.sha256(identifier.encode()).hexdigest()[:8]


def sources_from_aws(group: dict[str, Any]) -> dict[str, str]:
    """The group's TrafficSources as {identifier: type} ("" when AWS names no type)."""
    return {
        s["Identifier"]: s.get("Type") or "" for s in group.get("TrafficSources") or [] if s.get("Identifier")
    }


@dataclass(frozen=True)
class TrafficPlan:
    """What to attach and detach ({identifier: type}), and the record tag writes around them."""

    attach: dict[str, str] = field(default_factory=dict)
    detach: dict[str, str] = field(default_factory=dict)
    record_before: frozenset[str] | None = None  # written before the attach (widened)
    record_after: frozenset[str] | None = None  # written after the detach (narrowed; empty: tag deleted)

    @property
    def empty(self) -> bool:
        return not self.attach and not self.detach

    def calls(self) -> tuple[str, ...]:
        out: tuple[str, ...] = ("autoscaling:CreateOrUpdateTags",) if self.record_before is not None else ()
        out += ("autoscaling:AttachTrafficSources",) * -(-len(self.attach) // PER_CALL)
        out += ("autoscaling:DetachTrafficSources",) * -(-len(self.detach) // PER_CALL)
        if self.record_after is not None:
            out += ("autoscaling:CreateOrUpdateTags",) if self.record_after else ("autoscaling:DeleteTags",)
        return out


def owned(
    declared: list[TrafficSource] | None,
    actual: dict[str, str],
    recorded: set[str],
    target_groups: list[str] | None,
) -> set[str]:
    """Identifiers that belong to trafficSources: declared, or attached and recorded by awsop, unless the
    spec lists them in targetGroupArns (a target group moved there is that field's). The targetGroupArns
    comparison leaves these out."""
    mine = {s.identifier for s in declared or []} | {i for i in actual if digest(i) in recorded}
    return mine - set(target_groups or [])


def plan_traffic(
    declared: list[TrafficSource] | None,
    actual: dict[str, str],
    recorded: set[str],
    target_groups: list[str] | None,
) -> TrafficPlan:
    """Attach what the spec declares and AWS lacks; detach what awsop recorded and the spec no longer
    declares. Entries the spec lists in targetGroupArns and sources nobody recorded are left alone."""
    legacy = set(target_groups or [])
    have = {i: t for i, t in actual.items() if i not in legacy}
    want: dict[str, str] = {s.identifier: s.type for s in declared or []}
    attach = {i: t for i, t in want.items() if i not in have}
    detach = {i: t for i, t in have.items() if i not in want and digest(i) in recorded}
    if not attach and not detach:
        return TrafficPlan()
    mine = {digest(i) for i in want}
    before = frozenset(recorded | mine) if attach and mine - recorded else None
    after = frozenset(mine) if detach else None
    return TrafficPlan(attach, detach, before, after)


def traffic_changes(
    declared: list[TrafficSource] | None,
    actual: dict[str, str],
    recorded: set[str],
    target_groups: list[str] | None,
) -> list[Change]:
    plan = plan_traffic(declared, actual, recorded, target_groups)
    if plan.empty:
        return []
    want = sorted(s.identifier for s in declared or [])
    have = sorted(i for i in owned(declared, actual, recorded, target_groups) if i in actual)
    return [Change("trafficSources", have, want, Action.UPDATE, plan.calls())]


def _identifiers(sources: dict[str, str]) -> list[dict[str, str]]:
    return [{"Identifier": i, "Type": t} if t else {"Identifier": i} for i, t in sorted(sources.items())]


def create_kwargs(
    group: str, declared: list[TrafficSource] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """CreateAutoScalingGroup's TrafficSources argument and the record tag that goes with it."""
    if not declared:
        return {}, []
    sources: dict[str, str] = {s.identifier: s.type for s in declared}
    return {"TrafficSources": _identifiers(sources)}, record_tag(
        group, TRAFFIC_TAG, {digest(i) for i in sources}
    )


def apply_traffic(autoscaling: RetryingClient, group: str, plan: TrafficPlan) -> set[str] | None:
    """Make the planned calls in order (record widened, attach, detach, record narrowed); returns the
    record now on the group, None when unchanged."""
    record: set[str] | None = None
    if plan.record_before is not None:
        record = set(plan.record_before)
        autoscaling.create_or_update_tags(Tags=record_tag(group, TRAFFIC_TAG, record))
    for verb, sources in (("attach", plan.attach), ("detach", plan.detach)):
        items = _identifiers(sources)
        for start in range(0, len(items), PER_CALL):
            call = (
                autoscaling.attach_traffic_sources if verb == "attach" else autoscaling.detach_traffic_sources
            )
            call(AutoScalingGroupName=group, TrafficSources=items[start : start + PER_CALL])
    if plan.record_after is not None:
        record = set(plan.record_after)
        if record:
            autoscaling.create_or_update_tags(Tags=record_tag(group, TRAFFIC_TAG, record))
        else:
            autoscaling.delete_tags(
                Tags=[{"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": TRAFFIC_TAG}]
            )
    return record


def read_states(autoscaling: RetryingClient, group: str) -> dict[str, str]:
    """DescribeTrafficSources: every source's state by identifier (paginated, 50 per call)."""
    states: dict[str, str] = {}
    kwargs: dict[str, Any] = {"AutoScalingGroupName": group, "MaxRecords": STATES_PER_CALL}
    while True:
        page = autoscaling.describe_traffic_sources(**kwargs)
        for source in page.get("TrafficSources", []):
            identifier = source.get("Identifier") or source.get("TrafficSource")
            if identifier and source.get("State"):
                states[identifier] = source["State"]
        if not page.get("NextToken"):
            return states
        kwargs["NextToken"] = page["NextToken"]


def settled(declared: list[TrafficSource], states: dict[str, str]) -> bool:
    """Every declared source is in a state it keeps by itself (Added or InService)."""
    return all(states.get(s.identifier) in SETTLED for s in declared)


def traffic_status(
    declared: list[TrafficSource], actual: dict[str, str], states: dict[str, str] | None
) -> list[dict[str, Any]]:
    """The declared sources AWS lists on the group, with their state when it was read."""
    out: list[dict[str, Any]] = []
    for source in declared:
        if source.identifier not in actual:
            continue
        entry: dict[str, Any] = {"identifier": source.identifier, "type": source.type}
        if states and source.identifier in states:
            entry["state"] = states[source.identifier]
        out.append(entry)
    return out
