"""Instance refresh against botocore's Stubber with AWS-shaped responses.

moto 5.2.5 implements neither StartInstanceRefresh nor DescribeInstanceRefreshes, so this narrow seam (the
two calls and what awsop does with their answers) is tested with recorded-shape responses instead of the
emulator. Everything else about groups is tested against moto (test_autoscaling_group_golden.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.tags import OWNER_TAG

REF = ObjectRef("AutoScalingGroup", "team-a", "web", 2)
NAME = "team-a-web"
OWNER = "test-cluster/team-a/web"
REFRESH = {"minHealthyPercentage": 50, "instanceWarmupSeconds": 60}


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
