"""Golden AWS call logs for the AutoScalingGroup kind against moto's server over HTTP.

Capacity ownership, lifecycle hooks kept in sync, tags with PropagateAtLaunch, and the batched drift
check budget: a no-op check of N groups costs ceil(N / 100) DescribeAutoScalingGroups calls and nothing
else (lifecycle hooks, when declared, add one DescribeLifecycleHooks per group: AWS has no batch read;
groups following $Latest/$Default with instanceRefresh add one shared DescribeLaunchTemplates and their
DescribeInstanceRefreshes, one per group).
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]

REF = ObjectRef("AutoScalingGroup", "team-a", "web", 1)
NAME = "team-a-web"
TEMPLATE = "team-a-web-lt"
PERIODIC = ReconcileContext(periodic=True)
BASE: dict[str, Any] = {
    "launchTemplate": {"name": TEMPLATE},
    "minSize": 1,
    "maxSize": 4,
    "availabilityZones": ["us-east-1a", "us-east-1b"],
    "tags": {"team": "a"},
}


def spec(**fields: Any) -> AutoScalingGroupSpec:
    return AutoScalingGroupSpec.model_validate({**BASE, **fields})


@pytest.fixture
def clients(aws: EmbeddedAws) -> AwsClients:
    """Every periodic check reads (no shared description is fresh enough): each one's calls are visible.
    The budget test below uses the production setting."""
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
    return Engine(clients, EngineConfig(cluster_id="test-cluster", default_tags={"managed-by": "awsop"}))


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


def group_of(autoscaling: Any, name: str = NAME) -> dict[str, Any]:
    return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]  # type: ignore[no-any-return]


def test_group_create_calls_with_tags_at_create(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    outcome = engine.reconcile(groups, REF, spec())
    assert outcome.state is State.READY, outcome.message
    # the create is confirmed by reading the group back (its owner tag, its ARN for status)
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    assert outcome.status["arn"].startswith("arn:aws:autoscaling:us-east-1:")
    group = group_of(autoscaling)
    assert group["DesiredCapacity"] == 1  # created at minSize: the autoscaler owns it from here
    tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]}
    assert tags["team"] == ("a", True) and tags["managed-by"] == ("awsop", True)
    assert tags[OWNER_TAG] == ("test-cluster/team-a/web", False)
    assert "desiredCapacity" not in outcome.status


def test_group_noop_periodic_check_is_one_describe(
    engine: Engine, groups: AutoScalingGroupClient, template: str
) -> None:
    engine.reconcile(groups, REF, spec())
    outcome = engine.reconcile(groups, REF, spec(), spec_changed=False, context=PERIODIC)
    assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]
    assert outcome.status["instances"] == {"InService": 1}


@pytest.mark.parametrize("count", [1, 120], ids=["1-group", "120-groups"])
def test_group_noop_drift_check_of_many_groups_shares_describe_calls(
    aws: EmbeddedAws, template: str, count: int
) -> None:
    max_age = 2.0  # production keeps 30 s; short here so the checks below find every description stale
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3, batch_max_age=max_age)
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    groups = AutoScalingGroupClient(clients)
    refs = [ObjectRef("AutoScalingGroup", "fleet", f"g{i}", 1) for i in range(count)]
    desired = spec(minSize=0, tags=None)
    for ref in refs:
        assert engine.reconcile(groups, ref, desired).state is State.READY
    time.sleep(max_age + 0.1)  # the creates' read-backs are shared too: let them go stale
    clients.log.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(count, 64)) as pool:
        outcomes = list(
            pool.map(
                lambda r: engine.reconcile(groups, r, desired, spec_changed=False, context=PERIODIC), refs
            )
        )
    elapsed = time.perf_counter() - started
    assert all(o.reason == "UpToDate" for o in outcomes), [
        o.message for o in outcomes if o.reason != "UpToDate"
    ]
    expected = math.ceil(count / 100)
    assert clients.log.calls == ["autoscaling:DescribeAutoScalingGroups"] * expected
    print(f"\n{count} groups: {len(clients.log.calls)} DescribeAutoScalingGroups calls in {elapsed:.2f}s")

    # a second sweep, one check after the other (as spread-out drift checks arrive): still shared
    time.sleep(max_age + 0.1)
    clients.log.clear()
    for ref in refs:
        assert (
            engine.reconcile(groups, ref, desired, spec_changed=False, context=PERIODIC).reason == "UpToDate"
        )
    assert len(clients.log.calls) <= expected + (1 if count > 1 else 0)


@pytest.mark.parametrize("count", [1, 120], ids=["1-group", "120-groups"])
def test_alias_following_groups_share_the_template_read(
    aws: EmbeddedAws, template: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups on $Latest with instanceRefresh: a no-op sweep costs the shared group reads, one
    DescribeLaunchTemplates for their common template, and one DescribeInstanceRefreshes per group (moto
    5.2.5 lacks that call: it is replaced by a counter here; the Stubber tests pin its place)."""
    refresh_reads: list[str] = []

    def latest_refresh(self: AutoScalingGroupClient, target: Any) -> None:
        refresh_reads.append(target.aws_name)

    monkeypatch.setattr(AutoScalingGroupClient, "_latest_refresh", latest_refresh)
    max_age = 2.0
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3, batch_max_age=max_age)
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    groups = AutoScalingGroupClient(clients)
    refs = [ObjectRef("AutoScalingGroup", "alias", f"g{i}", 1) for i in range(count)]
    desired = spec(
        minSize=0,
        tags=None,
        launchTemplate={"name": TEMPLATE, "version": "$Latest"},
        instanceRefresh={"minHealthyPercentage": 50},
    )
    for ref in refs:
        assert engine.reconcile(groups, ref, desired).state is State.READY
    time.sleep(max_age + 0.1)
    clients.log.clear()
    refresh_reads.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(count, 64)) as pool:
        outcomes = list(
            pool.map(
                lambda r: engine.reconcile(groups, r, desired, spec_changed=False, context=PERIODIC), refs
            )
        )
    elapsed = time.perf_counter() - started
    assert all(o.reason == "UpToDate" for o in outcomes), {o.message for o in outcomes}
    assert all(o.status["launchTemplate"]["resolvesTo"] == 1 for o in outcomes)
    assert sorted(clients.log.calls) == sorted(
        ["autoscaling:DescribeAutoScalingGroups"] * math.ceil(count / 100) + ["ec2:DescribeLaunchTemplates"]
    )
    assert len(refresh_reads) == count
    print(f"\n{count} $Latest groups: {clients.log.calls} + {count} refresh reads in {elapsed:.2f}s")


def test_group_max_size_change_is_one_update(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec())
    outcome = engine.reconcile(groups, REF, spec(maxSize=6))
    assert outcome.reason == "Updated" and outcome.message == "maxSize: 4 -> 6"
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]
    assert group_of(autoscaling)["MaxSize"] == 6


def test_group_max_size_changed_out_of_band_is_always_drift(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec())
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=NAME, MaxSize=9)
    outcome = engine.reconcile(groups, REF, spec(), spec_changed=False, context=PERIODIC)
    assert outcome.reason == "DriftCorrected" and [c.path for c in outcome.drift] == ["maxSize"]
    assert group_of(autoscaling)["MaxSize"] == 4


@pytest.mark.parametrize(
    ("owned", "reason", "after"),
    [(True, "DriftCorrected", 2), (False, "UpToDate", 3)],
    ids=["owned-by-spec", "owned-by-autoscaler"],
)
def test_group_desired_capacity_changed_out_of_band(
    engine: Engine,
    groups: AutoScalingGroupClient,
    autoscaling: Any,
    template: str,
    owned: bool,
    reason: str,
    after: int,
) -> None:
    desired = spec(desiredCapacity=2) if owned else spec()
    engine.reconcile(groups, REF, desired)
    autoscaling.set_desired_capacity(AutoScalingGroupName=NAME, DesiredCapacity=3)  # "an autoscaler"
    outcome = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
    assert outcome.reason == reason, outcome.message
    assert group_of(autoscaling)["DesiredCapacity"] == after
    if owned:
        assert [c.explain() for c in outcome.drift] == ["desiredCapacity: 3 -> 2"]
        assert outcome.calls[-1] == "autoscaling:UpdateAutoScalingGroup"
        assert outcome.status["desiredCapacity"] == 3  # what AWS had when observed
    else:
        assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]
        assert "desiredCapacity" not in outcome.status


def test_group_min_size_change_leaves_unowned_capacity_unwritten(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, clients: AwsClients, template: str
) -> None:
    engine.reconcile(groups, REF, spec())
    autoscaling.set_desired_capacity(AutoScalingGroupName=NAME, DesiredCapacity=3)
    with clients.log.capture():
        outcome = engine.reconcile(groups, REF, spec(minSize=2))
    assert outcome.message == "minSize: 1 -> 2"
    assert group_of(autoscaling)["DesiredCapacity"] == 3


def test_group_lifecycle_hooks_kept_in_sync(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    hooks = [
        {
            "name": "drain",
            "transition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "heartbeatTimeoutSeconds": 300,
        },
        {"name": "warm", "transition": "autoscaling:EC2_INSTANCE_LAUNCHING", "defaultResult": "CONTINUE"},
    ]
    created = engine.reconcile(groups, REF, spec(lifecycleHooks=hooks))
    assert created.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:PutLifecycleHook",
        "autoscaling:PutLifecycleHook",
    ]
    check = engine.reconcile(groups, REF, spec(lifecycleHooks=hooks), spec_changed=False, context=PERIODIC)
    assert check.reason == "UpToDate", check.message
    assert check.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks"]
    # out of band: one hook deleted, the other changed; both put back
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=NAME, LifecycleHookName="warm")
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=NAME,
        LifecycleHookName="drain",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=900,
    )
    fixed = engine.reconcile(groups, REF, spec(lifecycleHooks=hooks), spec_changed=False, context=PERIODIC)
    assert fixed.reason == "DriftCorrected"
    assert sorted(c.path for c in fixed.drift) == ["lifecycleHooks.drain", "lifecycleHooks.warm"]
    # a hook removed from the spec is removed from AWS
    removed = engine.reconcile(groups, REF, spec(lifecycleHooks=hooks[:1]))
    assert removed.calls[-1] == "autoscaling:DeleteLifecycleHook"
    names = [
        h["LifecycleHookName"]
        for h in autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=NAME)["LifecycleHooks"]
    ]
    assert names == ["drain"]


def test_group_tag_propagation_override_and_drift(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    desired = spec(tags={"team": "a", "cost": "7"}, tagPropagation={"cost": False})
    engine.reconcile(groups, REF, desired)
    tags = {t["Key"]: t["PropagateAtLaunch"] for t in group_of(autoscaling)["Tags"]}
    assert tags["team"] is True and tags["cost"] is False
    autoscaling.create_or_update_tags(
        Tags=[
            {
                "ResourceId": NAME,
                "ResourceType": "auto-scaling-group",
                "Key": "team",
                "Value": "a",
                "PropagateAtLaunch": False,
            }
        ]
    )
    outcome = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
    assert [c.explain() for c in outcome.drift] == ["tagPropagation: {team: false -> true}"]
    assert outcome.calls[-1] == "autoscaling:CreateOrUpdateTags"


def test_group_subnet_selector_resolves_tagged_subnets(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, aws: EmbeddedAws, template: str
) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url)
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2]
    ec2.create_tags(Resources=subnets, Tags=[{"Key": "tier", "Value": "app"}])
    desired = spec(availabilityZones=None, subnetSelector={"tags": {"tier": "app"}})
    outcome = engine.reconcile(groups, REF, desired)
    assert outcome.state is State.READY, outcome.message
    assert sorted(group_of(autoscaling)["VPCZoneIdentifier"].split(",")) == subnets
    check = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
    assert check.reason == "UpToDate" and check.status["subnets"] == subnets
    assert check.calls == ["autoscaling:DescribeAutoScalingGroups"]  # the selector's answer is reused


def test_group_suspended_processes_as_a_set(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec(suspendedProcesses=["AZRebalance"]))
    outcome = engine.reconcile(groups, REF, spec(suspendedProcesses=["Terminate"]))
    assert outcome.calls[-2:] == ["autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"]
    assert [p["ProcessName"] for p in group_of(autoscaling)["SuspendedProcesses"]] == ["Terminate"]


def test_group_deleted_with_its_instances(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: str
) -> None:
    engine.reconcile(groups, REF, spec(desiredCapacity=2))
    outcome = engine.delete(groups, REF, spec(desiredCapacity=2))
    assert outcome.state is State.DELETED, outcome.message
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DeleteAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"] == []


def test_group_missing_launch_template_is_waited_for_not_stalled(
    engine: Engine, groups: AutoScalingGroupClient
) -> None:
    """The template may be created at the same time (another object, another tool): retried."""
    outcome = engine.reconcile(groups, REF, spec(launchTemplate={"name": "no-such-template"}))
    assert outcome.error_class is ErrorClass.RECOVERABLE, (outcome.reason, outcome.message)
    assert "no-such-template" in outcome.message


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationError", "The subnet ID 'subnet-0bad' does not exist", ErrorClass.TERMINAL),
        (
            "ValidationError",
            "Max bound, 2, must be greater than or equal to min bound, 3",
            ErrorClass.TERMINAL,
        ),
        (
            "ValidationError",
            "The specified launch template, with template name web, does not exist.",
            ErrorClass.RECOVERABLE,
        ),
        ("ValidationError", "AutoScalingGroup name not found - web", ErrorClass.RECOVERABLE),
        ("ScalingActivityInProgress", "Scaling activity in progress", ErrorClass.RECOVERABLE),
        ("AlreadyExists", "AutoScalingGroup by this name already exists", ErrorClass.RECOVERABLE),
        ("AccessDenied", "not authorized", ErrorClass.ACCESS),
    ],
    ids=["bad-subnet", "bad-bounds", "template-missing", "group-gone", "scaling", "raced-create", "access"],
)
def test_group_errors_classified(
    groups: AutoScalingGroupClient, code: str, message: str, expected: ErrorClass
) -> None:
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": code, "Message": message}}, "CreateAutoScalingGroup")
    assert groups.classify(exc) is expected


def test_group_plan_only_never_writes(engine: Engine, groups: AutoScalingGroupClient, template: str) -> None:
    outcome = engine.reconcile(groups, REF, spec(), plan_only=True)
    assert outcome.state is State.PLANNED and outcome.plan.verb == "create"
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups"]
    assert outcome.plan.calls() == ["autoscaling:CreateAutoScalingGroup"]


def _resolved(outcome: Any) -> ReconcileContext:
    found = Resolution("LaunchTemplate", "lt", ready=True, values=outcome.status)
    return ReconcileContext(references={("LaunchTemplate", "lt"): found})


def test_group_by_ref_waits_for_its_template_then_follows_its_default_version(
    engine: Engine, groups: AutoScalingGroupClient, clients: AwsClients, autoscaling: Any
) -> None:
    """Reverse order: the group first waits (no AWS call), then launches from the template's default
    version by id, and follows the template's next default version."""
    by_ref = spec(launchTemplate={"ref": {"name": "lt"}})
    waiting = engine.reconcile(groups, REF, by_ref)
    assert waiting.reason == "DependencyNotReady" and waiting.calls == []
    templates = LaunchTemplateClient(clients)
    lt_ref = ObjectRef("LaunchTemplate", "team-a", "lt", 1)
    lt = LaunchTemplateSpec.model_validate({"imageId": "ami-12345678", "instanceType": "t3.micro"})
    template = engine.reconcile(templates, lt_ref, lt)
    created = engine.reconcile(groups, REF, by_ref, context=_resolved(template))
    assert created.state is State.READY, created.message
    assert created.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    launch = group_of(autoscaling)["LaunchTemplate"]
    assert (launch["LaunchTemplateId"], launch["Version"]) == (template.status["id"], "1")

    changed = engine.reconcile(templates, lt_ref, lt.model_copy(update={"instance_type": "t3.small"}))
    assert changed.status["defaultVersion"] == 2
    follows = engine.reconcile(groups, REF, by_ref, spec_changed=False, context=_resolved(changed))
    assert follows.reason == "DriftCorrected" and follows.message == "launchTemplate: {version: 1 -> 2}"
    assert follows.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]
    assert group_of(autoscaling)["LaunchTemplate"]["Version"] == "2"


def test_cli_applies_group_and_template_in_reverse_file_order(
    aws: EmbeddedAws, tmp_path: Any, capsys: Any
) -> None:
    from awsop.operator import cli

    docs = (REPO / "examples" / "autoscaling-web.yaml").read_text().split("\n---\n")
    reverse = tmp_path / "reverse.yaml"
    reverse.write_text(docs[1] + "\n---\n" + docs[0])
    assert cli.main(["apply", "-f", str(reverse), "-o", "json", "--cluster-id", "cli"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert [(o["kind"], o["state"]) for o in applied] == [
        ("LaunchTemplate", "Ready"),
        ("AutoScalingGroup", "Ready"),
    ]
    assert [o["awsCalls"] for o in applied] == [
        ["ec2:DescribeLaunchTemplates", "ec2:CreateLaunchTemplate"],
        [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:CreateAutoScalingGroup",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:PutLifecycleHook",
            "autoscaling:PutWarmPool",
            "autoscaling:PutScalingPolicy",
            "autoscaling:PutScheduledUpdateGroupAction",
            "autoscaling:PutScheduledUpdateGroupAction",
        ],
    ]
    assert cli.main(["plan", "-f", str(reverse), "--cluster-id", "cli"]) == cli.EXIT_OK


def test_group_periodic_check_right_after_create_sees_what_create_wrote(
    aws: EmbeddedAws, template: str
) -> None:
    """The create's read-back is shared with periodic checks: writes after it must not look like drift."""
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3))
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    groups = AutoScalingGroupClient(clients)
    desired = spec(suspendedProcesses=["AZRebalance"])
    assert engine.reconcile(groups, REF, desired).state is State.READY
    check = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
    assert check.reason == "UpToDate", check.message
