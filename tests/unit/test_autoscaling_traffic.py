"""The pure traffic source comparison of an Auto Scaling group, as properties over any spec, AWS answer
and record: it converges (after its own plan it plans nothing), never touches a source nobody recorded or
one the spec gives to targetGroupArns, and keeps everything it attaches recorded (leak safety). The AWS
side of the same rules is in tests/aws/test_autoscaling_traffic_stubbed.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from awsop.reconcilers.autoscaling_group import IAM_ACTIONS, AutoScalingGroupSpec, TrafficSource
from awsop.reconcilers.autoscaling_group.records import TAG_VALUE_MAX, format_record
from awsop.reconcilers.autoscaling_group.traffic import SOURCES_MAX, TrafficPlan, digest, owned, plan_traffic

POOL = [f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg{n}/{n:016x}" for n in range(8)]


def run(plan: TrafficPlan, actual: dict[str, str], recorded: set[str]) -> tuple[dict[str, str], set[str]]:
    """AWS after the plan: sources attached and detached, the record as last written."""
    after = {**actual, **plan.attach}
    after = {i: t for i, t in after.items() if i not in plan.detach}
    if plan.record_before is not None:
        recorded = set(plan.record_before)
    if plan.record_after is not None:
        recorded = set(plan.record_after)
    return after, recorded


@settings(max_examples=300, deadline=None)
@given(
    declared=st.none() | st.sets(st.sampled_from(POOL), max_size=5),
    legacy=st.none() | st.sets(st.sampled_from(POOL), max_size=3),
    attached=st.sets(st.sampled_from(POOL)),
    recorded=st.sets(st.sampled_from(POOL)),
)
def test_traffic_plan_converges_and_touches_only_its_own(
    declared: set[str] | None, legacy: set[str] | None, attached: set[str], recorded: set[str]
) -> None:
    if declared is not None and legacy is not None:
        legacy -= declared  # the model refuses a target group in both fields
    sources = (
        None if declared is None else [TrafficSource(identifier=i, type="elbv2") for i in sorted(declared)]
    )
    groups = None if legacy is None else sorted(legacy)
    actual = {i: "elbv2" for i in attached}
    record = {digest(i) for i in recorded}
    plan = plan_traffic(sources, actual, record, groups)
    assert not set(plan.detach) & set(declared or ()), "a declared source is never detached"
    assert all(digest(i) in record for i in plan.detach), "only recorded sources are detached"
    assert not (set(plan.attach) | set(plan.detach)) & set(legacy or ()), "targetGroupArns' are left alone"
    after, record_after = run(plan, actual, record)
    assert plan_traffic(sources, after, record_after, groups).empty, "a second plan makes no call"
    mine = set(declared or ()) - set(legacy or ())
    assert mine <= set(after), "every declared source is attached"
    assert {digest(i) for i in plan.attach} <= record_after, "what awsop attached is recorded"
    assert owned(sources, after, record_after, groups).isdisjoint(set(legacy or ()))


def test_the_record_of_the_most_sources_fits_one_tag_value() -> None:
    longest = {digest(f"source-{n}") for n in range(SOURCES_MAX)}
    assert len(format_record(longest)) <= TAG_VALUE_MAX
    AutoScalingGroupSpec.model_validate(
        {
            "launchTemplate": {"name": "web"},
            "minSize": 1,
            "maxSize": 2,
            "availabilityZones": ["us-east-1a"],
            "trafficSources": [{"identifier": f"classic-{n}", "type": "elb"} for n in range(SOURCES_MAX)],
        }
    )


def test_traffic_source_operations_are_in_the_kinds_iam_table() -> None:
    assert IAM_ACTIONS["AttachTrafficSources"] == ("autoscaling:AttachTrafficSources",)
    assert IAM_ACTIONS["DetachTrafficSources"] == ("autoscaling:DetachTrafficSources",)
    assert IAM_ACTIONS["DescribeTrafficSources"] == ("autoscaling:DescribeTrafficSources",)
