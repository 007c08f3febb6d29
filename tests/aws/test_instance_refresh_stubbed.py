"""Instance refresh against botocore's Stubber with AWS-shaped responses.

moto 5.2.5 implements neither StartInstanceRefresh nor DescribeInstanceRefreshes, so this narrow seam (the
two calls and what awsop does with their answers) is tested with recorded-shape responses instead of the
emulator. Everything else about groups is tested against moto (test_autoscaling_group_golden.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from awsop.reconcilers.autoscaling_group import (
    FOLLOW_TAG,
    AutoScalingGroupClient,
    AutoScalingGroupSpec,
    LaunchTemplateChoice,
)
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.tags import OWNER_TAG

REF = ObjectRef("AutoScalingGroup", "team-a", "web", 2)
NAME = "team-a-web"
OWNER = "test-cluster/team-a/web"
REFRESH = {"minHealthyPercentage": 50, "instanceWarmupSeconds": 60}
PERIODIC = ReconcileContext(periodic=True)


def spec(version: str, **fields: Any) -> AutoScalingGroupSpec:
    return AutoScalingGroupSpec.model_validate(
        {
            "launchTemplate": {"id": "lt-0abc", "version": version},
            "minSize": 1,
            "maxSize": 3,
            "availabilityZones": ["us-east-1a"],
            "instanceRefresh": REFRESH,
            **fields,
        }
    )


def group(version: str) -> dict[str, Any]:
    """A DescribeAutoScalingGroups answer, shaped like AWS's."""
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": NAME,
                "AutoScalingGroupARN": f"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
                f"6d9a4f0e-0b9c-4c8e-9d0b-1f2e3d4c5b6a:autoScalingGroupName/{NAME}",
                "LaunchTemplate": {
                    "LaunchTemplateId": "lt-0abc",
                    "LaunchTemplateName": "team-a-web",
                    "Version": version,
                },
                "MinSize": 1,
                "MaxSize": 3,
                "DesiredCapacity": 2,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["us-east-1a"],
                "HealthCheckType": "EC2",
                "HealthCheckGracePeriod": 300,
                "CreatedTime": "2026-11-23T10:00:00Z",
                "Instances": [
                    {
                        "InstanceId": f"i-0{n}",
                        "AvailabilityZone": "us-east-1a",
                        "LifecycleState": "InService",
                        "HealthStatus": "Healthy",
                        "ProtectedFromScaleIn": False,
                    }
                    for n in (1, 2)
                ],
                "Tags": [
                    {
                        "ResourceId": NAME,
                        "ResourceType": "auto-scaling-group",
                        "Key": key,
                        "Value": value,
                        "PropagateAtLaunch": False,
                    }
                    for key, value in ((OWNER_TAG, OWNER), ("awsop.io/kind", "AutoScalingGroup"))
                ],
            }
        ]
    }


def refreshes(status: str, percent: int = 0, reason: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {
        "InstanceRefreshId": "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b",
        "AutoScalingGroupName": NAME,
        "Status": status,
        "PercentageComplete": percent,
        "InstancesToUpdate": 2 - percent // 50,
        "StartTime": "2026-11-23T10:05:00Z",
    }
    if reason:
        item["StatusReason"] = reason
    return {"InstanceRefreshes": [item]}


@pytest.fixture
def stubbed() -> Iterator[tuple[Engine, AutoScalingGroupClient, Stubber]]:
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_window=0.0)
    )
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    with stub:
        yield Engine(clients, EngineConfig(cluster_id="test-cluster")), AutoScalingGroupClient(clients), stub
        stub.assert_no_pending_responses()


READ = {"AutoScalingGroupNames": [NAME], "MaxRecords": 100}
REFRESHES = {"AutoScalingGroupName": NAME, "MaxRecords": 1}


def test_template_version_change_updates_the_group_and_starts_one_refresh(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", group("1"), READ)
    stub.add_response("describe_instance_refreshes", refreshes("Successful", 100), REFRESHES)
    stub.add_response(
        "update_auto_scaling_group",
        {},
        {
            "AutoScalingGroupName": NAME,
            "MinSize": 1,
            "MaxSize": 3,
            "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
            "AvailabilityZones": ["us-east-1a"],
        },
    )
    stub.add_response(
        "start_instance_refresh",
        {"InstanceRefreshId": "5ea5a9b6-1b2c-4d3e-8f90-a1b2c3d4e5f6"},
        {
            "AutoScalingGroupName": NAME,
            "Strategy": "Rolling",
            "Preferences": {
                "MinHealthyPercentage": 50,
                "InstanceWarmup": 60,
                "SkipMatching": True,
                "AutoRollback": False,
            },
        },
    )
    outcome = engine.reconcile(groups, REF, spec("2"))
    assert outcome.state is State.READY and outcome.reason == "Updated", outcome.message
    assert outcome.message == "launchTemplate: {version: 1 -> 2}"
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:StartInstanceRefresh",
    ]
    assert outcome.plan.calls() == ["autoscaling:UpdateAutoScalingGroup", "autoscaling:StartInstanceRefresh"]
    assert outcome.status["instanceRefresh"]["id"] == "5ea5a9b6-1b2c-4d3e-8f90-a1b2c3d4e5f6"
    assert outcome.status["instanceRefresh"]["status"] == "Pending"


def test_running_refresh_makes_the_group_busy_with_its_percentage(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", group("2"), READ)
    stub.add_response("describe_instance_refreshes", refreshes("InProgress", 50), REFRESHES)
    target = engine.target(groups, REF, spec("2"))
    observed = groups.observe(target)
    assert observed is not None
    busy = groups.busy(target, observed)
    assert busy is not None and busy.reason == "InstanceRefresh"
    assert busy.message == "instance refresh 08b91cf7-8fa6-48af-b6a6-d227f40f1b9b InProgress: 50% complete"
    assert groups.status(target, observed)["instanceRefresh"]["percentageComplete"] == 50


def test_failed_refresh_is_reported_with_aws_reason_and_is_not_retried(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    reason = "The instance refresh failed because 1 instance failed its health checks."
    stub.add_response("describe_auto_scaling_groups", group("2"), READ)
    stub.add_response("describe_instance_refreshes", refreshes("Failed", 50, reason), REFRESHES)
    outcome = engine.reconcile(groups, REF, spec("2"), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate"
    assert outcome.status["instanceRefresh"]["status"] == "Failed"
    assert outcome.status["instanceRefresh"]["statusReason"] == reason
    assert "autoscaling:StartInstanceRefresh" not in outcome.calls


def test_no_refresh_without_instance_refresh_in_the_spec(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", group("1"), READ)
    stub.add_response("update_auto_scaling_group", {})
    outcome = engine.reconcile(groups, REF, spec("2", instanceRefresh=None))
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]


def test_while_a_refresh_runs_the_group_is_progressing_and_no_second_one_starts(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """The spec moved to version 3 while the refresh to version 2 runs: nothing is written until it ends."""
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", group("2"), READ)
    stub.add_response("describe_instance_refreshes", refreshes("InProgress", 50), REFRESHES)
    outcome = engine.reconcile(groups, REF, spec("3"))
    assert outcome.state is State.PROGRESSING and outcome.reason == "InstanceRefresh"
    assert "50% complete" in outcome.message and "launchTemplate: {version: 2 -> 3}" in outcome.message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeInstanceRefreshes"]
    assert outcome.status["instanceRefresh"]["status"] == "InProgress"


def test_group_being_deleted_is_progress_not_an_error(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    deleting = group("2")
    deleting["AutoScalingGroups"][0]["Status"] = "Delete in progress"
    stub.add_response("describe_auto_scaling_groups", deleting, READ)
    outcome = engine.reconcile(groups, REF, spec("2"), spec_changed=False)
    assert outcome.state is State.PROGRESSING and outcome.reason == "GroupDeleting"
    assert outcome.error_class is None


def test_delete_waits_while_aws_deletes_the_group(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", group("2"), READ)
    stub.add_response("delete_auto_scaling_group", {}, {"AutoScalingGroupName": NAME, "ForceDelete": True})
    deleting = group("2")
    deleting["AutoScalingGroups"][0]["Status"] = "Delete in progress"
    stub.add_response("describe_auto_scaling_groups", deleting, READ)
    first = engine.delete(groups, REF, spec("2"))
    assert first.state is State.PROGRESSING and first.reason == "Deleting"
    assert "2 instance(s)" in first.message
    stub.add_response("describe_auto_scaling_groups", deleting, READ)
    stub.add_response("describe_auto_scaling_groups", deleting, READ)
    again = engine.delete(groups, REF, spec("2"))  # no second DeleteAutoScalingGroup
    assert again.state is State.PROGRESSING
    assert again.calls == ["autoscaling:DescribeAutoScalingGroups"] * 2


@pytest.mark.aws
def test_template_change_gives_a_new_version_and_one_refresh(aws: Any) -> None:
    """The template in moto, the group's refresh calls stubbed: a new default version reaches the group
    through its reference and starts exactly one refresh."""
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1))
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates, groups = LaunchTemplateClient(clients), AutoScalingGroupClient(clients)
    lt_ref = ObjectRef("LaunchTemplate", "team-a", "web-lt", 1)
    lt = LaunchTemplateSpec.model_validate({"imageId": "ami-12345678", "instanceType": "t3.micro"})
    assert engine.reconcile(templates, lt_ref, lt).state is State.READY
    changed = engine.reconcile(templates, lt_ref, lt.model_copy(update={"instance_type": "t3.small"}))
    assert changed.calls[-2:] == ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"]
    template_id = changed.status["id"]
    assert changed.status["defaultVersion"] == 2

    before = group("1")
    before["AutoScalingGroups"][0]["LaunchTemplate"]["LaunchTemplateId"] = template_id
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    stub.add_response("describe_auto_scaling_groups", before, READ)
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": []}, REFRESHES)
    stub.add_response("update_auto_scaling_group", {})
    stub.add_response("start_instance_refresh", {"InstanceRefreshId": "c1d2e3f4-0000-4000-8000-000000000001"})
    found = Resolution("LaunchTemplate", "web-lt", ready=True, values=changed.status)
    context = ReconcileContext(references={("LaunchTemplate", "web-lt"): found})
    by_ref = spec("2").model_copy(
        update={"launch_template": LaunchTemplateChoice.model_validate({"ref": {"name": "web-lt"}})}
    )
    with stub:
        outcome = engine.reconcile(groups, REF, by_ref, spec_changed=False, context=context)
        stub.assert_no_pending_responses()
    assert outcome.message == "launchTemplate: {version: 1 -> 2}", outcome.message
    assert outcome.calls.count("autoscaling:StartInstanceRefresh") == 1
    assert outcome.status["instanceRefresh"]["status"] == "Pending"


# -- mixed instances policy, maximum instance lifetime, $Latest/$Default followed ---------------------------

MIXED = {
    "launchTemplate": {"id": "lt-0abc", "version": "2"},
    "overrides": [
        {"instanceType": "m5.large", "weightedCapacity": 2},
        {"instanceType": "m5.xlarge", "weightedCapacity": 4},
    ],
    "instancesDistribution": {
        "onDemandPercentageAboveBaseCapacity": 50,
        "spotAllocationStrategy": "capacity-optimized",
    },
}
AWS_DISTRIBUTION = {  # what AWS answers: every field, SpotInstancePools only with lowest-price
    "OnDemandAllocationStrategy": "prioritized",
    "OnDemandBaseCapacity": 0,
    "OnDemandPercentageAboveBaseCapacity": 50,
    "SpotAllocationStrategy": "capacity-optimized",
}


def mixed_group(version: str) -> dict[str, Any]:
    answer = group(version)
    entry = answer["AutoScalingGroups"][0]
    template = entry.pop("LaunchTemplate")
    entry["MixedInstancesPolicy"] = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": template,
            "Overrides": [
                {"InstanceType": "m5.large", "WeightedCapacity": "2"},
                {"InstanceType": "m5.xlarge", "WeightedCapacity": "4"},
            ],
        },
        "InstancesDistribution": AWS_DISTRIBUTION,
    }
    return answer


def test_mixed_policy_template_version_change_updates_the_policy_and_starts_one_refresh(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    engine, groups, stub = stubbed
    stub.add_response("describe_auto_scaling_groups", mixed_group("1"), READ)
    stub.add_response("describe_instance_refreshes", refreshes("Successful", 100), REFRESHES)
    stub.add_response(
        "update_auto_scaling_group",
        {},
        {
            "AutoScalingGroupName": NAME,
            "MinSize": 1,
            "MaxSize": 3,
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
                    "Overrides": [
                        {"InstanceType": "m5.large", "WeightedCapacity": "2"},
                        {"InstanceType": "m5.xlarge", "WeightedCapacity": "4"},
                    ],
                },
                "InstancesDistribution": AWS_DISTRIBUTION,
            },
            "AvailabilityZones": ["us-east-1a"],
        },
    )
    stub.add_response("start_instance_refresh", {"InstanceRefreshId": "5ea5a9b6-1b2c-4d3e-8f90-a1b2c3d4e5f6"})
    desired = spec("2", launchTemplate=None, mixedInstancesPolicy=MIXED)
    outcome = engine.reconcile(groups, REF, desired)
    assert outcome.reason == "Updated", outcome.message
    assert outcome.message == "mixedInstancesPolicy.launchTemplate: {version: 1 -> 2}"
    assert outcome.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:StartInstanceRefresh",
    ]
    assert outcome.status["instanceRefresh"]["status"] == "Pending"


@pytest.mark.parametrize(
    ("answered", "declared", "update"),
    [(None, 86400, True), (604800, 86400, True), (86400, 86400, False), (None, 0, False), (604800, 0, True)],
    ids=["set", "changed-out-of-band", "equal", "zero-is-none", "cleared-with-zero"],
)
def test_max_instance_lifetime_update(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber], answered: int | None, declared: int, update: bool
) -> None:
    """moto 5.2.5 ignores MaxInstanceLifetime on create and update: AWS-shaped answers instead."""
    engine, groups, stub = stubbed
    answer = group("2")
    if answered is not None:
        answer["AutoScalingGroups"][0]["MaxInstanceLifetime"] = answered
    stub.add_response("describe_auto_scaling_groups", answer, READ)
    if update:
        stub.add_response(
            "update_auto_scaling_group",
            {},
            {
                "AutoScalingGroupName": NAME,
                "MinSize": 1,
                "MaxSize": 3,
                "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
                "AvailabilityZones": ["us-east-1a"],
                "MaxInstanceLifetime": declared,
            },
        )
    desired = spec("2", instanceRefresh=None, maxInstanceLifetimeSeconds=declared)
    outcome = engine.reconcile(groups, REF, desired, spec_changed=False)
    assert outcome.calls[-1] == (
        "autoscaling:UpdateAutoScalingGroup" if update else "autoscaling:DescribeAutoScalingGroups"
    )
    if update:
        assert outcome.message == f"maxInstanceLifetimeSeconds: {answered or 0} -> {declared}"


def test_max_instance_lifetime_sent_at_create() -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1))
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
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
            "MaxInstanceLifetime": 604800,
        },
    )
    stub.add_response("describe_auto_scaling_groups", group("2"), READ)
    desired = spec("2", instanceRefresh=None, maxInstanceLifetimeSeconds=604800)
    with stub:
        outcome = Engine(clients, EngineConfig(cluster_id="test-cluster")).reconcile(
            AutoScalingGroupClient(clients), REF, desired
        )
        stub.assert_no_pending_responses()
    assert outcome.reason == "Created", outcome.message


def follow_tag(version: str) -> dict[str, Any]:
    return {
        "ResourceId": NAME,
        "ResourceType": "auto-scaling-group",
        "Key": FOLLOW_TAG,
        "Value": version,
        "PropagateAtLaunch": False,
    }


@pytest.mark.aws
@pytest.mark.parametrize("policy", ["Correct", "Report"])
@pytest.mark.parametrize("alias", ["$Latest", "$Default"])
def test_group_on_an_alias_refreshes_once_when_the_alias_resolves_to_a_new_version(
    aws: Any, alias: str, policy: str
) -> None:
    """A group naming its template by id with $Latest/$Default and declaring instanceRefresh: each check
    reads what the alias resolves to (DescribeLaunchTemplates, the template in moto); a new number starts
    one refresh and is recorded on the group (a tag), so the next check, a restart or the CLI see it as
    rolled out. The alias moving is the desired state moving, not drift: under driftPolicy Report too.
    The group's calls are stubbed (moto lacks instance refresh)."""
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_max_age=0.0)
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates, groups = LaunchTemplateClient(clients), AutoScalingGroupClient(clients)
    lt_ref = ObjectRef("LaunchTemplate", "team-a", f"alias{alias[1:].lower()}", 1)
    lt = LaunchTemplateSpec.model_validate({"imageId": "ami-12345678", "instanceType": "t3.micro"})
    template_id = engine.reconcile(templates, lt_ref, lt).status["id"]
    desired = spec(alias, driftPolicy=policy).model_copy(
        update={"launch_template": LaunchTemplateChoice.model_validate({"id": template_id, "version": alias})}
    )

    def answer(recorded: str) -> dict[str, Any]:
        out = group(alias)
        entry = out["AutoScalingGroups"][0]
        entry["LaunchTemplate"]["LaunchTemplateId"] = template_id
        entry["Tags"].append(follow_tag(recorded))
        return out

    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    with stub:
        # nothing changed: the budget of a check is one shared group read, the group's latest refresh
        # (declared instanceRefresh) and what the alias resolves to
        stub.add_response("describe_auto_scaling_groups", answer("1"), READ)
        stub.add_response("describe_instance_refreshes", refreshes("Successful", 100), REFRESHES)
        quiet = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
        assert quiet.reason == "UpToDate", quiet.message
        assert quiet.calls == [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "ec2:DescribeLaunchTemplates",
        ]
        assert quiet.status["launchTemplate"]["resolvesTo"] == 1

        # the template gets a new default version (the LaunchTemplate kind makes every new version the
        # default, so $Latest and $Default both move to 2)
        engine.reconcile(templates, lt_ref, lt.model_copy(update={"instance_type": "t3.small"}))
        stub.add_response("describe_auto_scaling_groups", answer("1"), READ)
        stub.add_response("describe_instance_refreshes", refreshes("Successful", 100), REFRESHES)
        stub.add_response(
            "start_instance_refresh",
            {"InstanceRefreshId": "c1d2e3f4-0000-4000-8000-000000000002"},
            {"AutoScalingGroupName": NAME, "Strategy": "Rolling", "Preferences": ANY},
        )
        stub.add_response("create_or_update_tags", {}, {"Tags": [follow_tag("2")]})
        rolled = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
        assert (rolled.state, rolled.reason) == (State.READY, "ReferenceChanged"), rolled.message
        assert rolled.message == "desired state moved: launchTemplate: {resolvesTo: 1 -> 2}; applied"
        assert rolled.drift == [], "not drift"
        assert rolled.calls == [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "ec2:DescribeLaunchTemplates",
            "autoscaling:StartInstanceRefresh",
            "autoscaling:CreateOrUpdateTags",
        ]
        assert rolled.status["instanceRefresh"]["status"] == "Pending"

        # recorded: a failed refresh to 2 is reported, not started again
        stub.add_response("describe_auto_scaling_groups", answer("2"), READ)
        stub.add_response("describe_instance_refreshes", refreshes("Failed", 50, "health checks"), REFRESHES)
        after = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
        assert after.reason == "UpToDate" and "autoscaling:StartInstanceRefresh" not in after.calls
        stub.assert_no_pending_responses()


@pytest.mark.aws
def test_group_on_an_alias_without_a_record_records_it_without_a_refresh(aws: Any) -> None:
    """A group adopted (or created before awsop recorded the number) has no record: the first check records
    what the alias resolves to and starts nothing; it cannot know what the instances run."""
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_max_age=0.0)
    )
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    lt_ref = ObjectRef("LaunchTemplate", "team-a", "alias-unrecorded", 1)
    lt = LaunchTemplateSpec.model_validate({"imageId": "ami-12345678", "instanceType": "t3.micro"})
    template_id = engine.reconcile(LaunchTemplateClient(clients), lt_ref, lt).status["id"]
    desired = spec("$Latest").model_copy(
        update={
            "launch_template": LaunchTemplateChoice.model_validate({"id": template_id, "version": "$Latest"})
        }
    )
    answer = group("$Latest")
    answer["AutoScalingGroups"][0]["LaunchTemplate"]["LaunchTemplateId"] = template_id
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    stub.add_response("describe_auto_scaling_groups", answer, READ)
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": []}, REFRESHES)
    stub.add_response("create_or_update_tags", {}, {"Tags": [follow_tag("1")]})
    with stub:
        outcome = engine.reconcile(AutoScalingGroupClient(clients), REF, desired, spec_changed=False)
        stub.assert_no_pending_responses()
    assert outcome.message == "desired state moved: launchTemplate: {resolvesTo: (none) -> 1}; applied"
    assert "autoscaling:StartInstanceRefresh" not in outcome.calls


def test_template_version_reader_asks_ids_one_by_one_when_aws_fails_the_batch_for_a_missing_one() -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1))
    ec2 = Stubber(clients.client("ec2", "us-east-1").raw)
    missing = "At least one of the launch templates specified in the request does not exist."
    template = {
        "LaunchTemplateId": "lt-0abc",
        "LaunchTemplateName": "web",
        "LatestVersionNumber": 4,
        "DefaultVersionNumber": 3,
    }
    ec2.add_client_error(
        "describe_launch_templates",
        "InvalidLaunchTemplateId.NotFound",
        missing,
        expected_params={"LaunchTemplateIds": ["lt-0abc", "lt-0dead"]},
    )
    ec2.add_response(
        "describe_launch_templates", {"LaunchTemplates": [template]}, {"LaunchTemplateIds": ["lt-0abc"]}
    )
    ec2.add_client_error(
        "describe_launch_templates",
        "InvalidLaunchTemplateId.NotFound",
        missing,
        expected_params={"LaunchTemplateIds": ["lt-0dead"]},
    )
    fetch = AutoScalingGroupClient(clients)._template_reader("us-east-1")._fetch
    with ec2:
        assert fetch(["id:lt-0abc", "id:lt-0dead"]) == {"id:lt-0abc": {"$Latest": 4, "$Default": 3}}
        ec2.assert_no_pending_responses()


MAINTENANCE = {"minHealthyPercentage": 90, "maxHealthyPercentage": 120}


@pytest.mark.parametrize(
    ("answered", "update"),
    [
        ({}, True),
        (
            {
                "DefaultInstanceWarmup": -1,
                "InstanceMaintenancePolicy": {"MinHealthyPercentage": -1, "MaxHealthyPercentage": -1},
            },
            True,
        ),
        (
            {
                "DefaultInstanceWarmup": 60,
                "InstanceMaintenancePolicy": {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 120},
            },
            False,
        ),
        (
            {
                "DefaultInstanceWarmup": 60,
                "InstanceMaintenancePolicy": {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200},
            },
            True,
        ),
    ],
    ids=["never-set", "cleared-answers-minus-one", "equal", "changed-out-of-band"],
)
def test_default_instance_warmup_and_maintenance_policy_update(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber], answered: dict[str, Any], update: bool
) -> None:
    """moto 5.2.5 ignores DefaultInstanceWarmup and InstanceMaintenancePolicy: AWS-shaped answers instead
    (AWS answers -1 for a setting that was cleared)."""
    engine, groups, stub = stubbed
    answer = group("2")
    answer["AutoScalingGroups"][0].update(answered)
    stub.add_response("describe_auto_scaling_groups", answer, READ)
    if update:
        stub.add_response(
            "update_auto_scaling_group",
            {},
            {
                "AutoScalingGroupName": NAME,
                "MinSize": 1,
                "MaxSize": 3,
                "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"},
                "AvailabilityZones": ["us-east-1a"],
                "DefaultInstanceWarmup": 60,
                "InstanceMaintenancePolicy": {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 120},
            },
        )
    desired = spec(
        "2", instanceRefresh=None, defaultInstanceWarmupSeconds=60, instanceMaintenancePolicy=MAINTENANCE
    )
    outcome = engine.reconcile(groups, REF, desired, spec_changed=False)
    assert outcome.reason == ("DriftCorrected" if update else "UpToDate"), outcome.message
    if update:
        paths = {"instanceMaintenancePolicy"} | (
            set() if answered.get("DefaultInstanceWarmup") == 60 else {"defaultInstanceWarmupSeconds"}
        )
        assert {c.path for c in outcome.drift} == paths
        assert outcome.calls[-1] == "autoscaling:UpdateAutoScalingGroup"


def test_target_tracking_alarms_in_status_and_not_drift(
    stubbed: tuple[Engine, AutoScalingGroupClient, Stubber],
) -> None:
    """moto 5.2.5 answers no Alarms for a target tracking policy; AWS does (and more fields)."""
    engine, groups, stub = stubbed
    answer = group("2")
    answer["AutoScalingGroups"][0]["Tags"].append(
        {
            "ResourceId": NAME,
            "ResourceType": "auto-scaling-group",
            "Key": "awsop.io/scaling-policies",
            "Value": "cpu",
            "PropagateAtLaunch": False,
        }
    )
    arn = (
        "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:5e5c1e6f-1b2a-4c3d-9e8f-0a1b2c3d4e5f:"
        f"autoScalingGroupName/{NAME}:policyName/cpu"
    )
    stub.add_response("describe_auto_scaling_groups", answer, READ)
    stub.add_response(
        "describe_policies",
        {
            "ScalingPolicies": [
                {
                    "AutoScalingGroupName": NAME,
                    "PolicyName": "cpu",
                    "PolicyARN": arn,
                    "PolicyType": "TargetTrackingScaling",
                    "StepAdjustments": [],
                    "Alarms": [
                        {
                            "AlarmName": f"TargetTracking-{NAME}-AlarmHigh-1",
                            "AlarmARN": "arn:aws:cloudwatch:1",
                        },
                        {
                            "AlarmName": f"TargetTracking-{NAME}-AlarmLow-2",
                            "AlarmARN": "arn:aws:cloudwatch:2",
                        },
                    ],
                    "TargetTrackingConfiguration": {
                        "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                        "TargetValue": 50.0,
                        "DisableScaleIn": False,
                    },
                    "Enabled": True,
                }
            ]
        },
        {"AutoScalingGroupName": NAME, "MaxRecords": 100},
    )
    desired = spec(
        "2",
        instanceRefresh=None,
        scalingPolicies=[
            {
                "name": "cpu",
                "targetTracking": {
                    "targetValue": 50,
                    "predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
                },
            }
        ],
    )
    outcome = engine.reconcile(groups, REF, desired, spec_changed=False, context=PERIODIC)
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.status["scalingPolicies"] == [
        {
            "name": "cpu",
            "arn": arn,
            "alarms": [f"TargetTracking-{NAME}-AlarmHigh-1", f"TargetTracking-{NAME}-AlarmLow-2"],
        }
    ]
