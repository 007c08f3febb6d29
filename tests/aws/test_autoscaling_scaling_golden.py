"""Golden AWS call logs for a group's scaling policies and scheduled actions, against moto's server.

Each family costs one read per group and check when declared (DescribePolicies / DescribeScheduledActions
take one group: AWS has no batch read of named groups), none when not: a group that declares neither keeps
ceil(N / 100) DescribeAutoScalingGroups for N groups. Only what awsop created is removed (recorded on the
group), unless exclusive management is declared; desired capacity belongs to AWS once a policy or schedule
is declared, and a bound a scheduled action sets belongs to the schedule.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.autoscaling_group import (
    POLICY_TAG,
    SCHEDULE_TAG,
    AutoScalingGroupClient,
    AutoScalingGroupSpec,
)
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]
REF = ObjectRef("AutoScalingGroup", "team-a", "web", 1)
NAME = "team-a-web"
TEMPLATE = "team-a-web-lt"
PERIODIC = ReconcileContext(periodic=True)
DESCRIBE = "autoscaling:DescribeAutoScalingGroups"
CPU: dict[str, Any] = {
    "name": "cpu",
    "targetTracking": {
        "targetValue": 50,
        "predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
    },
}
STEP: dict[str, Any] = {
    "name": "step-up",
    "stepScaling": {
        "adjustmentType": "ChangeInCapacity",
        "stepAdjustments": [{"metricIntervalLowerBound": 0, "scalingAdjustment": 2}],
    },
}
MORNING: dict[str, Any] = {
    "name": "morning",
    "recurrence": "0 8 * * 1-5",
    "timeZone": "Europe/Berlin",
    "minSize": 2,
}
BASE: dict[str, Any] = {
    "launchTemplate": {"name": TEMPLATE},
    "minSize": 1,
    "maxSize": 6,
    "availabilityZones": ["us-east-1a"],
}


def spec(**fields: Any) -> AutoScalingGroupSpec:
    return AutoScalingGroupSpec.model_validate({**BASE, **fields})


@pytest.fixture
def clients(aws: EmbeddedAws) -> AwsClients:
    return AwsClients(
        AwsConfig(
            default_region="us-east-1",
            default_rate_limit=0,
            max_attempts=3,
            batch_window=0.05,
            batch_max_age=0.0,
        )
    )


@pytest.fixture
def engine(clients: AwsClients) -> Engine:
    return Engine(clients, EngineConfig(cluster_id="test-cluster"))


@pytest.fixture
def groups(clients: AwsClients) -> AutoScalingGroupClient:
    return AutoScalingGroupClient(clients)


@pytest.fixture
def autoscaling(aws: EmbeddedAws) -> Any:
    return boto3.client("autoscaling", region_name="us-east-1", endpoint_url=aws.url)


@pytest.fixture
def template(engine: Engine, clients: AwsClients) -> str:
    lt = LaunchTemplateSpec.model_validate(
        {"name": TEMPLATE, "imageId": "ami-12345678", "instanceType": "t3.micro"}
    )
    outcome = engine.reconcile(
        LaunchTemplateClient(clients), ObjectRef("LaunchTemplate", "team-a", "lt", 1), lt
    )
    assert outcome.state is State.READY, outcome.message
    return str(outcome.status["id"])


def tags_of(autoscaling: Any) -> dict[str, str]:
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
    return {t["Key"]: t["Value"] for t in group["Tags"]}


def policies_of(autoscaling: Any) -> dict[str, dict[str, Any]]:
    answer = autoscaling.describe_policies(AutoScalingGroupName=NAME)["ScalingPolicies"]
    return {p["PolicyName"]: p for p in answer}


def actions_of(autoscaling: Any) -> dict[str, dict[str, Any]]:
    answer = autoscaling.describe_scheduled_actions(AutoScalingGroupName=NAME)["ScheduledUpdateGroupActions"]
    return {a["ScheduledActionName"]: a for a in answer}


def periodic(engine: Engine, groups: AutoScalingGroupClient, desired: AutoScalingGroupSpec) -> Any:
    return engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)


def test_group_with_policy_and_schedule_create_then_noop_check(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    desired = spec(scalingPolicies=[CPU, STEP], scheduledActions=[MORNING])
    created = engine.reconcile(groups, REF, desired)
    assert created.state is State.READY, created.message
    assert created.calls == [
        DESCRIBE,
        "autoscaling:CreateAutoScalingGroup",  # with the records of what it is about to create
        DESCRIBE,
        "autoscaling:PutScalingPolicy",
        "autoscaling:PutScalingPolicy",
        "autoscaling:PutScheduledUpdateGroupAction",
    ]
    assert tags_of(autoscaling)[POLICY_TAG] == "cpu,step-up"
    assert tags_of(autoscaling)[SCHEDULE_TAG] == "morning"
    found = policies_of(autoscaling)
    assert found["cpu"]["TargetTrackingConfiguration"]["TargetValue"] == 50
    assert found["step-up"]["StepAdjustments"] == [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 2}]
    assert actions_of(autoscaling)["morning"]["Recurrence"] == "0 8 * * 1-5"
    # a no-op check: one read per declared family, zero writes (moto answers fields the spec does not
    # declare: StepAdjustments [] and PredictiveScalingConfiguration {} on every policy, a Cooldown)
    check = periodic(engine, groups, desired)
    assert check.reason == "UpToDate", check.message
    assert check.calls == [DESCRIBE, "autoscaling:DescribePolicies", "autoscaling:DescribeScheduledActions"]
    assert [p["name"] for p in check.status["scalingPolicies"]] == ["cpu", "step-up"]
    assert check.status["scalingPolicies"][0]["arn"] == found["cpu"]["PolicyARN"]


def test_target_tracking_changed_out_of_band_is_drift_named_and_restored(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    desired = spec(scalingPolicies=[CPU])
    engine.reconcile(groups, REF, desired)
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=NAME,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 80.0,
        },
    )
    fixed = periodic(engine, groups, desired)
    assert fixed.reason == "DriftCorrected", fixed.message
    assert [c.path for c in fixed.drift] == ["scalingPolicies.cpu"]
    assert (
        fixed.drift[0].explain()
        == "scalingPolicies.cpu: {TargetTrackingConfiguration.TargetValue: 80.0 -> 50.0}"
    )
    assert fixed.calls == [DESCRIBE, "autoscaling:DescribePolicies", "autoscaling:PutScalingPolicy"]
    assert policies_of(autoscaling)["cpu"]["TargetTrackingConfiguration"]["TargetValue"] == 50


@pytest.mark.parametrize("exclusive", [False, True], ids=["not-ours-left-alone", "exclusive-removes-it"])
def test_policy_added_out_of_band(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str, exclusive: bool
) -> None:
    desired = spec(scalingPolicies=[CPU], exclusiveScalingPolicies=exclusive)
    engine.reconcile(groups, REF, desired)
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=NAME, PolicyName="theirs", AdjustmentType="ChangeInCapacity", ScalingAdjustment=1
    )
    check = periodic(engine, groups, desired)
    if exclusive:
        assert check.reason == "DriftCorrected"
        assert [c.explain() for c in check.drift] == ["scalingPolicies.theirs: SimpleScaling -> (none)"]
        assert check.calls[-1] == "autoscaling:DeletePolicy"
        assert sorted(policies_of(autoscaling)) == ["cpu"]
    else:
        assert check.reason == "UpToDate", check.message
        assert check.calls == [DESCRIBE, "autoscaling:DescribePolicies"]
        assert sorted(policies_of(autoscaling)) == ["cpu", "theirs"]


def test_desired_capacity_moved_out_of_band_with_a_policy_plans_nothing(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    desired = spec(scalingPolicies=[CPU])
    engine.reconcile(groups, REF, desired)
    autoscaling.set_desired_capacity(AutoScalingGroupName=NAME, DesiredCapacity=4)  # the policy scaled out
    check = periodic(engine, groups, desired)
    assert check.reason == "UpToDate" and check.drift == [], check.message
    assert "desiredCapacity" not in check.status


def test_policies_removed_from_the_spec_are_deleted_only_if_ours(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec(scalingPolicies=[CPU, STEP]))
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=NAME, PolicyName="theirs", AdjustmentType="ChangeInCapacity", ScalingAdjustment=1
    )
    # one removed from the list: deleted, then the record narrowed
    one = engine.reconcile(groups, REF, spec(scalingPolicies=[CPU]))
    assert one.message == "scalingPolicies.step-up: StepScaling -> (none)"
    assert one.calls == [
        DESCRIBE,
        "autoscaling:DescribePolicies",
        "autoscaling:DeletePolicy",
        "autoscaling:CreateOrUpdateTags",
    ]
    assert tags_of(autoscaling)[POLICY_TAG] == "cpu"
    # the whole field removed: the recorded policies go (the record is read with the group), theirs stays
    gone = engine.reconcile(groups, REF, spec())
    assert gone.calls == [
        DESCRIBE,
        "autoscaling:DescribePolicies",
        "autoscaling:DeletePolicy",
        "autoscaling:DeleteTags",
    ]
    assert sorted(policies_of(autoscaling)) == ["theirs"]
    assert POLICY_TAG not in tags_of(autoscaling)
    # and from then on the group costs what a group without policies costs
    assert periodic(engine, groups, spec()).calls == [DESCRIBE]


def test_policy_added_to_the_spec_is_recorded_before_it_is_created(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec(scalingPolicies=[CPU]))
    added = engine.reconcile(groups, REF, spec(scalingPolicies=[CPU, STEP]))
    assert added.calls == [
        DESCRIBE,
        "autoscaling:DescribePolicies",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:PutScalingPolicy",
    ]
    assert tags_of(autoscaling)[POLICY_TAG] == "cpu,step-up"


def test_scheduled_action_kept_in_sync_and_its_bound_belongs_to_the_schedule(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    desired = spec(scheduledActions=[MORNING])
    engine.reconcile(groups, REF, desired)
    # the schedule ran: minSize 2 (the action's), desired 2; neither is drift
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=NAME, MinSize=2, DesiredCapacity=2)
    check = periodic(engine, groups, desired)
    assert check.reason == "UpToDate" and check.drift == [], check.message
    assert check.calls == [DESCRIBE, "autoscaling:DescribeScheduledActions"]
    # maxSize is still awsop's: changed out of band, it is put back without touching minSize
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=NAME, MaxSize=9)
    fixed = periodic(engine, groups, desired)
    assert [c.explain() for c in fixed.drift] == ["maxSize: 9 -> 6"]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
    assert (group["MinSize"], group["MaxSize"]) == (2, 6)
    # the action changed out of band: drift named, restored
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=NAME,
        ScheduledActionName="morning",
        Recurrence="0 9 * * 1-5",
        MinSize=2,
        TimeZone="Europe/Berlin",
    )
    restored = periodic(engine, groups, desired)
    assert [c.path for c in restored.drift] == ["scheduledActions.morning"]
    assert "recurrence: 0 9 * * 1-5 -> 0 8 * * 1-5" in restored.drift[0].explain()
    assert actions_of(autoscaling)["morning"]["Recurrence"] == "0 8 * * 1-5"
    # removed from the spec: deleted, record gone
    gone = engine.reconcile(groups, REF, spec(scheduledActions=[]))
    assert gone.calls[-2:] == ["autoscaling:DeleteScheduledAction", "autoscaling:DeleteTags"]
    assert actions_of(autoscaling) == {} and SCHEDULE_TAG not in tags_of(autoscaling)


def test_plan_only_shows_policy_and_record_calls(
    engine: Engine, groups: AutoScalingGroupClient, template: str
) -> None:
    engine.reconcile(groups, REF, spec(scalingPolicies=[CPU]))
    target = engine.target(groups, REF, spec(scalingPolicies=[CPU, STEP]))
    observed = groups.observe(target)
    assert observed is not None
    planned = groups.diff(target, observed)
    assert [(c.path, c.calls) for c in planned] == [
        ("scalingPolicies.step-up", ("autoscaling:CreateOrUpdateTags", "autoscaling:PutScalingPolicy"))
    ]


@pytest.mark.parametrize("count", [1, 120], ids=["1-group", "120-groups"])
def test_drift_check_cost_with_policies_and_schedules(aws: EmbeddedAws, template: str, count: int) -> None:
    """ceil(N/100) DescribeAutoScalingGroups shared, plus one DescribePolicies and one
    DescribeScheduledActions per group that declares them (no batch read of named groups)."""
    max_age = 2.0
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3, batch_max_age=max_age)
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    groups = AutoScalingGroupClient(clients)
    refs = [ObjectRef("AutoScalingGroup", "fleet", f"g{i}", 1) for i in range(count)]
    # one name per group: moto 5.2.5 keys policies and scheduled actions by name in the whole region
    # (AWS: per group), so groups sharing a name would overwrite each other there
    desired = {
        ref: spec(
            minSize=0,
            scalingPolicies=[{**CPU, "name": f"cpu-{ref.name}"}],
            scheduledActions=[{**MORNING, "name": f"morning-{ref.name}"}],
        )
        for ref in refs
    }
    with ThreadPoolExecutor(max_workers=min(count, 16)) as pool:
        assert all(
            o.state is State.READY for o in pool.map(lambda r: engine.reconcile(groups, r, desired[r]), refs)
        )
    time.sleep(max_age + 0.1)
    clients.log.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(count, 64)) as pool:
        outcomes = list(
            pool.map(
                lambda r: engine.reconcile(groups, r, desired[r], spec_changed=False, context=PERIODIC), refs
            )
        )
    elapsed = time.perf_counter() - started
    assert all(o.reason == "UpToDate" for o in outcomes), [
        o.message for o in outcomes if o.reason != "UpToDate"
    ]
    calls = clients.log.calls
    assert calls.count(DESCRIBE) == math.ceil(count / 100)
    assert calls.count("autoscaling:DescribePolicies") == count
    assert calls.count("autoscaling:DescribeScheduledActions") == count
    assert len(calls) == math.ceil(count / 100) + 2 * count
    print(f"\n{count} groups with a policy and a schedule: {len(calls)} calls in {elapsed:.2f}s")


def test_web_example_applies_plans_clean_and_a_policy_changed_out_of_band_is_planned_and_restored(
    aws: EmbeddedAws, autoscaling: Any, capsys: Any
) -> None:
    """The issue's acceptance on a fresh emulator: apply then plan exit 0; a target tracking policy
    changed out of band is planned (exit 2, the field named) and restored; desired capacity moved by the
    policy plans nothing; a policy someone else added is left alone."""
    from awsop.operator import cli

    example = str(REPO / "examples" / "autoscaling-web.yaml")
    args = ["-f", example, "--cluster-id", "cli"]
    assert cli.main(["apply", *args]) == cli.EXIT_OK
    assert cli.main(["plan", *args]) == cli.EXIT_OK
    capsys.readouterr()
    name = "default-web"
    policy = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"][0]
    assert policy["PolicyName"] == "cpu-50"
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="cpu-50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 70.0,
        },
        EstimatedInstanceWarmup=120,
    )
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName="ops-manual",
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
    )
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=3)
    assert cli.main(["plan", *args]) == cli.EXIT_CHANGES
    out = capsys.readouterr().out
    assert "~ scalingPolicies.cpu-50: {TargetTrackingConfiguration.TargetValue: 70.0 -> 50.0}" in out
    assert "[autoscaling:PutScalingPolicy]" in out
    assert "ops-manual" not in out and "desiredCapacity" not in out
    assert cli.main(["apply", *args]) == cli.EXIT_OK
    assert cli.main(["plan", *args]) == cli.EXIT_OK
    policies = {
        p["PolicyName"]: p
        for p in autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    }
    assert policies["cpu-50"]["TargetTrackingConfiguration"]["TargetValue"] == 50
    assert "ops-manual" in policies


def test_warm_pool_read_with_the_group_kept_in_sync_and_removed_when_dropped(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    pool = {"poolState": "Stopped", "minSize": 1}
    desired = spec(warmPool=pool)
    created = engine.reconcile(groups, REF, desired)
    assert created.calls == [
        DESCRIBE,
        "autoscaling:CreateAutoScalingGroup",
        DESCRIBE,
        "autoscaling:PutWarmPool",
    ]
    # in the group's own answer: a no-op check costs nothing more than a group without a pool
    check = periodic(engine, groups, desired)
    assert check.reason == "UpToDate", check.message
    assert check.calls == [DESCRIBE]
    assert check.status["warmPool"]["size"] == 0
    autoscaling.put_warm_pool(AutoScalingGroupName=NAME, MinSize=3, PoolState="Running")
    fixed = periodic(engine, groups, desired)
    assert [c.explain() for c in fixed.drift] == [
        "warmPool: {minSize: 3 -> 1, poolState: Running -> Stopped}"
    ]
    assert fixed.calls == [DESCRIBE, "autoscaling:PutWarmPool"]
    config = autoscaling.describe_warm_pool(AutoScalingGroupName=NAME)["WarmPoolConfiguration"]
    assert (config["MinSize"], config["PoolState"]) == (1, "Stopped")
    gone = engine.reconcile(groups, REF, spec())
    assert gone.calls == [DESCRIBE, "autoscaling:DeleteWarmPool", "autoscaling:DeleteTags"]
    assert not autoscaling.describe_warm_pool(AutoScalingGroupName=NAME).get("WarmPoolConfiguration")


def test_warm_pool_someone_else_made_is_left_alone(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec())
    autoscaling.put_warm_pool(AutoScalingGroupName=NAME, MinSize=2)
    check = periodic(engine, groups, spec())
    assert check.reason == "UpToDate" and check.calls == [DESCRIBE], check.message
    assert autoscaling.describe_warm_pool(AutoScalingGroupName=NAME)["WarmPoolConfiguration"]["MinSize"] == 2
