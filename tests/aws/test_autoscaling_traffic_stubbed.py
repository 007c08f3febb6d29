"""Traffic sources of a group against botocore's Stubber with AWS-shaped responses.

moto 5.2.5 implements none of AttachTrafficSources, DetachTrafficSources and DescribeTrafficSources, and
its DescribeAutoScalingGroups answers no `TrafficSources`, so this seam (those calls, the group's
`TrafficSources` and what awsop does with them) is tested with answers shaped like AWS's API reference.
Golden call logs: create with sources, no-op check, one added, one removed, one attached by someone else;
and the two attachment fields never look like drift of each other, whichever way AWS lists a target group.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from json import dumps as json_dumps
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from pydantic import ValidationError
from test_instance_refresh_stubbed import NAME, READ, REF, group, spec

from awsop.reconcilers.autoscaling_group import TRAFFIC_TAG, AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.autoscaling_group.traffic import digest
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, State
from awsop.reconcilers.tags import OWNER_TAG

PERIODIC = ReconcileContext(periodic=True)
dumps = partial(json_dumps, separators=(",", ":"))
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"
TG2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0e2f2665e0a1b2c3"
LATTICE = "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0e2f2665e1234abcd"
CLASSIC = "web-classic"
OTHERS = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/others/1234567890abcdef"
TYPES = {TG: "elbv2", TG2: "elbv2", LATTICE: "vpc-lattice", CLASSIC: "elb", OTHERS: "elbv2"}
STATES = {"AutoScalingGroupName": NAME, "MaxRecords": 50}


def sources(*identifiers: str) -> list[dict[str, str]]:
    return [{"identifier": i, "type": TYPES[i]} for i in identifiers]


def aws_sources(*identifiers: str) -> list[dict[str, str]]:
    return [{"Identifier": i, "Type": TYPES[i]} for i in sorted(identifiers)]


def record(*identifiers: str) -> dict[str, Any]:
    return {
        "ResourceId": NAME,
        "ResourceType": "auto-scaling-group",
        "Key": TRAFFIC_TAG,
        "Value": ",".join(sorted(digest(i) for i in identifiers)),
        "PropagateAtLaunch": False,
    }


def answer(
    attached: tuple[str, ...] = (), recorded: tuple[str, ...] = (), target_groups: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The group as AWS answers it: TrafficSources, TargetGroupARNs and awsop's record tag."""
    out = group("2")
    entry = out["AutoScalingGroups"][0]
    entry["TrafficSources"] = aws_sources(*attached)
    entry["TargetGroupARNs"] = list(target_groups)
    entry["LoadBalancerNames"] = []
    if recorded:
        entry["Tags"].append(record(*recorded))
    return out


def states(state: str, *identifiers: str) -> dict[str, Any]:
    return {
        "TrafficSources": [
            {"TrafficSource": i, "Identifier": i, "Type": TYPES[i], "State": state} for i in identifiers
        ]
    }


def desired(**fields: Any) -> AutoScalingGroupSpec:
    return spec("2", instanceRefresh=None, **fields)


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, AutoScalingGroupClient, Stubber]]:
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_window=0.0)
    )
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    with stub:
        yield Engine(clients, EngineConfig(cluster_id="test-cluster")), AutoScalingGroupClient(clients), stub
        stub.assert_no_pending_responses()


def test_group_created_with_its_traffic_sources_recorded_by_the_create(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []}, READ)
    stub.add_response(
        "create_auto_scaling_group",
        {},
        {
            "AutoScalingGroupName": NAME,
            "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
            "MinSize": 1,
            "MaxSize": 3,
            "Tags": ANY,
            "AvailabilityZones": ["us-east-1a"],
            "TrafficSources": aws_sources(TG, LATTICE, CLASSIC),
        },
    )
    stub.add_response(
        "describe_auto_scaling_groups", answer((TG, LATTICE, CLASSIC), (TG, LATTICE, CLASSIC)), READ
    )
    outcome = engine.reconcile(groups, REF, desired(trafficSources=sources(TG, LATTICE, CLASSIC)))
    assert outcome.reason == "Created", outcome.message
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",  # the read-back that proves the group ours
    ]
    create = next(c for c in outcome.plan.changes if c.path == "trafficSources")
    assert create.desired == sorted([TG, LATTICE, CLASSIC]) and not create.calls  # the create's own
    assert outcome.status["trafficSources"] == [
        {"identifier": i, "type": TYPES[i]} for i in (TG, LATTICE, CLASSIC)
    ]


def test_create_sends_the_record_tag_with_the_sources(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """Leak safety: the record is part of the create that attaches the sources, never written after."""
    engine, groups, stub = stubbed
    target = engine.target(groups, REF, desired(trafficSources=sources(TG, CLASSIC)))
    stub.add_response(
        "create_auto_scaling_group",
        {},
        {
            "AutoScalingGroupName": NAME,
            "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
            "MinSize": 1,
            "MaxSize": 3,
            "Tags": ANY,
            "AvailabilityZones": ["us-east-1a"],
            "TrafficSources": aws_sources(TG, CLASSIC),
        },
    )
    sent: list[dict[str, Any]] = []
    groups.clients.client("autoscaling", "us-east-1").raw.meta.events.register(
        "provide-client-params.autoscaling.CreateAutoScalingGroup", lambda params, **_: sent.append(params)
    )
    observed = groups.create(target)
    assert record(TG, CLASSIC) in sent[0]["Tags"]
    assert observed.traffic_recorded == {digest(TG), digest(CLASSIC)}


def test_noop_check_reads_states_once_then_only_the_group_while_settled(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """A routine check of a settled group costs its share of the batched DescribeAutoScalingGroups only;
    AWS adding fields to its answers is not drift."""
    engine, groups, stub = stubbed
    spec_ = desired(trafficSources=sources(TG, LATTICE))
    first = answer((TG, LATTICE), (TG, LATTICE))
    first["AutoScalingGroups"][0].update(
        {
            "DesiredCapacityType": "units",
            "PredictedCapacity": 2,
            "AvailabilityZoneDistribution": {"CapacityDistributionStrategy": "balanced-best-effort"},
        }
    )
    stub.add_response("describe_auto_scaling_groups", first, READ)
    stub.add_response("describe_traffic_sources", states("InService", TG, LATTICE), STATES)
    outcome = engine.reconcile(groups, REF, spec_, spec_changed=False, context=PERIODIC)
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeTrafficSources"]
    groups._reader("us-east-1").invalidate(NAME)  # the next routine check reads the group again
    stub.add_response("describe_auto_scaling_groups", answer((TG, LATTICE), (TG, LATTICE)), READ)
    outcome = engine.reconcile(groups, REF, spec_, spec_changed=False, context=PERIODIC)
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]
    assert [s["state"] for s in outcome.status["trafficSources"]] == ["InService", "InService"]


def test_routine_checks_read_states_again_until_every_source_settles(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    spec_ = desired(trafficSources=sources(TG))
    for state in ("Adding", "Added"):
        groups._reader("us-east-1").invalidate(NAME)
        stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG,)), READ)
        stub.add_response("describe_traffic_sources", states(state, TG), STATES)
        outcome = engine.reconcile(groups, REF, spec_, spec_changed=False, context=PERIODIC)
        assert outcome.status["trafficSources"][0]["state"] == state
    groups._reader("us-east-1").invalidate(NAME)
    stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG,)), READ)
    outcome = engine.reconcile(groups, REF, spec_, spec_changed=False, context=PERIODIC)
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]


def test_one_source_added_is_recorded_then_attached(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG,)), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG), STATES)
    stub.add_response("create_or_update_tags", {}, {"Tags": [record(TG, LATTICE)]})
    stub.add_response(
        "attach_traffic_sources", {}, {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(LATTICE)}
    )
    outcome = engine.reconcile(groups, REF, desired(trafficSources=sources(TG, LATTICE)))
    assert outcome.state is State.READY and outcome.reason == "Updated", outcome.message
    assert outcome.message.startswith(f"trafficSources: {dumps([TG])} -> [")  # long ARNs: cut short
    (change,) = outcome.plan.changes
    assert (change.path, change.actual, change.desired) == ("trafficSources", [TG], sorted([TG, LATTICE]))
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeTrafficSources",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:AttachTrafficSources",
    ]
    assert outcome.plan.calls() == ["autoscaling:CreateOrUpdateTags", "autoscaling:AttachTrafficSources"]


def test_one_source_removed_is_detached_then_unrecorded(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG, LATTICE), (TG, LATTICE)), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG, LATTICE), STATES)
    stub.add_response(
        "detach_traffic_sources", {}, {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(LATTICE)}
    )
    stub.add_response("create_or_update_tags", {}, {"Tags": [record(TG)]})
    outcome = engine.reconcile(groups, REF, desired(trafficSources=sources(TG)))
    assert outcome.reason == "Updated", outcome.message
    assert outcome.plan.calls() == ["autoscaling:DetachTrafficSources", "autoscaling:CreateOrUpdateTags"]


def test_field_removed_detaches_what_awsop_attached_and_deletes_the_record(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """No DescribeTrafficSources for a group that declares no sources: the group's answer suffices."""
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG, OTHERS), (TG,)), READ)
    stub.add_response(
        "detach_traffic_sources", {}, {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(TG)}
    )
    stub.add_response(
        "delete_tags",
        {},
        {"Tags": [{"ResourceId": NAME, "ResourceType": "auto-scaling-group", "Key": TRAFFIC_TAG}]},
    )
    outcome = engine.reconcile(groups, REF, desired())
    assert outcome.reason == "Updated", outcome.message
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DetachTrafficSources",
        "autoscaling:DeleteTags",
    ]


def test_source_attached_by_someone_else_is_left_alone(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG, OTHERS), (TG,)), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG, OTHERS), STATES)
    outcome = engine.reconcile(groups, REF, desired(trafficSources=sources(TG)), spec_changed=False)
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeTrafficSources"]
    assert [s["identifier"] for s in outcome.status["trafficSources"]] == [TG]


@pytest.mark.parametrize("policy", ["Correct", "Report"])
def test_declared_source_detached_out_of_band_is_drift(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber], policy: str
) -> None:
    """Re-attached under Correct without writing the record again (it still names it)."""
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG, CLASSIC)), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG), STATES)
    if policy == "Correct":
        stub.add_response(
            "attach_traffic_sources",
            {},
            {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(CLASSIC)},
        )
    outcome = engine.reconcile(
        groups, REF, desired(trafficSources=sources(TG, CLASSIC), driftPolicy=policy), spec_changed=False
    )
    assert [c.path for c in outcome.drift] == ["trafficSources"]
    assert outcome.reason == ("DriftCorrected" if policy == "Correct" else "DriftDetected"), outcome.message
    assert ("autoscaling:AttachTrafficSources" in outcome.calls) is (policy == "Correct")


@pytest.mark.parametrize("lists_in", ["both-lists", "TargetGroupARNs-only"])
def test_target_group_arns_only_plans_nothing_however_aws_lists_them(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber], lists_in: str
) -> None:
    """A group with targetGroupArns only: AWS listing those target groups in TrafficSources too (or only
    there) is not drift of either field, and no DescribeTrafficSources is made."""
    engine, groups, stub = stubbed
    in_traffic = (TG, TG2) if lists_in == "both-lists" else ()
    stub.add_response("describe_auto_scaling_groups", answer(in_traffic, (), (TG, TG2)), READ)
    outcome = engine.reconcile(groups, REF, desired(targetGroupArns=[TG, TG2]), spec_changed=False)
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]


@pytest.mark.parametrize("lists_in", ["both-lists", "TrafficSources-only"])
@pytest.mark.parametrize("arns", [[], [TG2]], ids=["targetGroupArns-empty", "targetGroupArns-other"])
def test_traffic_sources_never_look_like_drift_of_target_group_arns(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber], lists_in: str, arns: list[str]
) -> None:
    """And the reverse: target groups attached as traffic sources, which AWS may list in TargetGroupARNs
    too, are never detached by targetGroupArns (not even by an empty list, which detaches all of its own)."""
    engine, groups, stub = stubbed
    in_arns = (TG, *arns) if lists_in == "both-lists" else tuple(arns)
    stub.add_response("describe_auto_scaling_groups", answer((TG, *arns), (TG,), in_arns), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG, *arns), STATES)
    outcome = engine.reconcile(
        groups, REF, desired(trafficSources=sources(TG), targetGroupArns=arns), spec_changed=False
    )
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeTrafficSources"]


def test_target_group_moved_from_traffic_sources_to_target_group_arns_plans_nothing(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """Recorded as a traffic source, now listed in targetGroupArns (and by AWS in both lists): it is that
    field's now, so trafficSources neither detaches it nor does targetGroupArns attach it again."""
    engine, groups, stub = stubbed
    for _ in range(2):
        groups._reader("us-east-1").invalidate(NAME)
        stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG,), (TG,)), READ)
        outcome = engine.reconcile(groups, REF, desired(targetGroupArns=[TG]), spec_changed=False)
        assert outcome.reason == "UpToDate", outcome.message
        assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]


def test_source_removed_from_the_spec_is_not_detached_twice(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """A recorded source leaving trafficSources is DetachTrafficSources' alone, even where AWS lists it
    in TargetGroupARNs and targetGroupArns is declared (DetachLoadBalancerTargetGroups cannot detach it)."""
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", answer((TG, TG2), (TG,), (TG, TG2)), READ)
    stub.add_response(
        "detach_traffic_sources", {}, {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(TG)}
    )
    stub.add_response(
        "delete_tags",
        {},
        {"Tags": [{"ResourceId": NAME, "ResourceType": "auto-scaling-group", "Key": TRAFFIC_TAG}]},
    )
    outcome = engine.reconcile(groups, REF, desired(targetGroupArns=[TG2]))
    assert outcome.reason == "Updated", outcome.message
    assert "autoscaling:DetachLoadBalancerTargetGroups" not in outcome.calls


def test_more_than_ten_sources_attach_in_calls_of_ten(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    names = [f"classic-{n:02d}" for n in range(12)]
    TYPES.update({n: "elb" for n in names})
    stub.add_response("describe_auto_scaling_groups", answer(), READ)
    stub.add_response("describe_traffic_sources", {"TrafficSources": []}, STATES)
    stub.add_response("create_or_update_tags", {}, {"Tags": [record(*names)]})
    stub.add_response(
        "attach_traffic_sources",
        {},
        {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(*names)[:10]},
    )
    stub.add_response(
        "attach_traffic_sources",
        {},
        {"AutoScalingGroupName": NAME, "TrafficSources": aws_sources(*names)[10:]},
    )
    outcome = engine.reconcile(groups, REF, desired(trafficSources=sources(*names)))
    assert (
        outcome.plan.calls() == ["autoscaling:CreateOrUpdateTags"] + ["autoscaling:AttachTrafficSources"] * 2
    )


def test_more_than_ten_target_groups_attach_and_detach_in_calls_of_ten(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """Attach/DetachLoadBalancerTargetGroups take up to 10 target groups a call (API reference)."""
    engine, groups, stub = stubbed
    arns = [
        f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg{n:02d}/{n:016x}"
        for n in range(23)
    ]
    attached, wanted = arns[:11], arns[11:]
    stub.add_response("describe_auto_scaling_groups", answer((), (), tuple(attached)), READ)
    for start in (0, 10):
        batch = {"AutoScalingGroupName": NAME, "TargetGroupARNs": sorted(wanted)[start : start + 10]}
        stub.add_response("attach_load_balancer_target_groups", {}, batch)
    for start in (0, 10):
        batch = {"AutoScalingGroupName": NAME, "TargetGroupARNs": sorted(attached)[start : start + 10]}
        stub.add_response("detach_load_balancer_target_groups", {}, batch)
    outcome = engine.reconcile(groups, REF, desired(targetGroupArns=wanted))
    assert outcome.reason == "Updated", outcome.message
    assert (
        outcome.plan.calls()
        == ["autoscaling:AttachLoadBalancerTargetGroups"] * 2
        + ["autoscaling:DetachLoadBalancerTargetGroups"] * 2
    )


def test_release_removes_the_record_with_the_ownership_tags(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    target = engine.target(groups, REF, desired(trafficSources=sources(TG)))
    stub.add_response("describe_auto_scaling_groups", answer((TG,), (TG,)), READ)
    stub.add_response("describe_traffic_sources", states("InService", TG), STATES)
    observed = groups.observe(target)
    assert observed is not None
    stub.add_response("delete_tags", {}, {"Tags": ANY})
    sent: list[dict[str, Any]] = []
    groups.clients.client("autoscaling", "us-east-1").raw.meta.events.register(
        "provide-client-params.autoscaling.DeleteTags", lambda params, **_: sent.append(params)
    )
    groups.release(target, observed)
    assert TRAFFIC_TAG in {t["Key"] for t in sent[0]["Tags"]}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"identifier": "arn:aws:s3:::bucket", "type": "elbv2"},
            "with type elbv2 the identifier must be an ELB target",
        ),
        (
            {"identifier": TG, "type": "vpc-lattice"},
            "with type vpc-lattice the identifier must be a VPC Lattice",
        ),
        (
            {"identifier": "no_underscores", "type": "elb"},
            "with type elb the identifier must be a Classic Load Balancer",
        ),
        ({"identifier": TG, "type": "alb"}, "type"),
    ],
    ids=["elbv2-not-a-target-group", "lattice-given-elb-arn", "elb-bad-name", "unknown-type"],
)
def test_traffic_source_identifier_validated_per_type(source: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        desired(trafficSources=[source])


def test_target_group_in_both_fields_is_a_spec_error_naming_both() -> None:
    with pytest.raises(ValidationError, match="targetGroupArns or in trafficSources, not both"):
        desired(trafficSources=sources(TG), targetGroupArns=[TG])
    with pytest.raises(ValidationError, match="identifiers must be unique"):
        desired(trafficSources=sources(TG, TG))


@pytest.mark.parametrize("count", [1, 120], ids=["1-group", "120-groups"])
def test_drift_check_cost_of_groups_with_traffic_sources(count: int) -> None:
    """A routine sweep of groups that declare traffic sources shares DescribeAutoScalingGroups like any
    group (ceil(N/100) calls); the states cost one DescribeTrafficSources per group on the first sweep and
    none once settled. AWS's answers are made up per request (names asked for -> AWS-shaped groups), in
    place of moto, which lacks the traffic-source API."""
    max_age = 2.0  # production keeps 30 s; each sweep below starts with every description stale
    clients = AwsClients(
        AwsConfig(
            default_region="us-east-1",
            default_rate_limit=0,
            max_attempts=1,
            batch_max_age=max_age,
        )
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    groups = AutoScalingGroupClient(clients)
    refs = [replace(REF, namespace="fleet", name=f"g{i}") for i in range(count)]

    class Ok:
        status_code = 200

    def describe(params: dict[str, Any], **_: Any) -> tuple[Ok, dict[str, Any]]:
        found = []
        body = params["body"]  # the query protocol's request parameters
        for name in [v for k, v in sorted(body.items()) if k.startswith("AutoScalingGroupNames.member.")]:
            entry = answer((TG,), (TG,))["AutoScalingGroups"][0]
            entry["AutoScalingGroupName"] = name
            for tag in entry["Tags"]:
                tag["ResourceId"] = name
                if tag["Key"] == OWNER_TAG:
                    tag["Value"] = f"test-cluster/fleet/{name.removeprefix('fleet-')}"
            found.append(entry)
        return Ok(), {"AutoScalingGroups": found}

    def states_of(params: dict[str, Any], **_: Any) -> tuple[Ok, dict[str, Any]]:
        return Ok(), states("InService", TG)

    events = clients.client("autoscaling", "us-east-1").raw.meta.events
    events.register("before-call.auto-scaling.DescribeAutoScalingGroups", describe)
    events.register("before-call.auto-scaling.DescribeTrafficSources", states_of)
    desired_ = desired(trafficSources=sources(TG))
    expected = math.ceil(count / 100)
    for sweep, state_reads in ((1, count), (2, 0)):
        time.sleep(max_age + 0.1 if sweep > 1 else 0)
        clients.log.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = list(
                pool.map(
                    lambda r: engine.reconcile(groups, r, desired_, spec_changed=False, context=PERIODIC),
                    refs,
                )
            )
        elapsed = time.perf_counter() - started
        assert all(o.reason == "UpToDate" for o in outcomes), {o.message for o in outcomes}
        calls = sorted(clients.log.calls)
        assert calls.count("autoscaling:DescribeAutoScalingGroups") == expected
        assert calls.count("autoscaling:DescribeTrafficSources") == state_reads
        assert len(calls) == expected + state_reads
        print(f"\nsweep {sweep} of {count} groups with traffic sources: {len(calls)} calls in {elapsed:.2f}s")
