"""Golden AWS call logs for the LaunchTemplate kind against moto's server over HTTP.

moto 5.2.5 does not implement DeleteLaunchTemplateVersions: version pruning is tested with botocore's
Stubber and AWS-shaped responses (test_launch_template_prune_*).
"""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec, desired_data
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REF = ObjectRef("LaunchTemplate", "team-a", "web", 1)
NAME = "team-a-web"
IMAGE = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
BASE = {
    "imageId": IMAGE,
    "instanceType": "t3.micro",
    "userData": "#!/bin/sh\necho hello\n",
    "tagSpecifications": {"instance": {"team": "a"}},
    "tags": {"team": "a"},
}


def spec(**fields: Any) -> LaunchTemplateSpec:
    return LaunchTemplateSpec.model_validate({**BASE, **fields})


@pytest.fixture
def templates(clients: AwsClients) -> LaunchTemplateClient:
    return LaunchTemplateClient(clients)


@pytest.fixture
def ec2(aws: EmbeddedAws) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url)


def template_of(ec2: Any) -> dict[str, Any]:
    return ec2.describe_launch_templates(LaunchTemplateNames=[NAME])["LaunchTemplates"][0]  # type: ignore[no-any-return]


def tags_of(ec2: Any) -> dict[str, str]:
    """The template's tags from EC2's tag store: moto 5.2.5's DescribeLaunchTemplates keeps answering the
    tags a template was created with, where AWS answers the current ones."""
    template_id = template_of(ec2)["LaunchTemplateId"]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [template_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def default_data(ec2: Any) -> dict[str, Any]:
    template = template_of(ec2)
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=[str(template["DefaultVersionNumber"])]
    )["LaunchTemplateVersions"]
    return versions[0]["LaunchTemplateData"]  # type: ignore[no-any-return]


def test_launch_template_create_tags_at_create_in_one_call(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    outcome = engine.reconcile(templates, REF, spec())
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == ["ec2:DescribeLaunchTemplates", "ec2:CreateLaunchTemplate"]
    template = template_of(ec2)
    tags = {t["Key"]: t["Value"] for t in template["Tags"]}
    assert tags[OWNER_TAG] == "test-cluster/team-a/web" and tags["team"] == "a"
    data = default_data(ec2)
    assert data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 by awsop's default
    assert base64.b64decode(data["UserData"]).decode() == BASE["userData"]
    assert outcome.status["id"] == template["LaunchTemplateId"]
    assert (outcome.status["latestVersion"], outcome.status["defaultVersion"]) == (1, 1)


def test_launch_template_noop_resync_reads_twice(engine: Engine, templates: LaunchTemplateClient) -> None:
    engine.reconcile(templates, REF, spec())
    outcome = engine.reconcile(templates, REF, spec(), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"]


def test_launch_template_change_makes_a_new_default_version(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    engine.reconcile(templates, REF, spec())
    outcome = engine.reconcile(templates, REF, spec(instanceType="t3.small"))
    assert outcome.state is State.READY and outcome.reason == "Updated"
    assert outcome.message == "instanceType: t3.micro -> t3.small"
    assert outcome.calls == [
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
    ]
    assert (outcome.status["latestVersion"], outcome.status["defaultVersion"]) == (2, 2)
    assert default_data(ec2)["InstanceType"] == "t3.small"
    again = engine.reconcile(templates, REF, spec(instanceType="t3.small"), spec_changed=False)
    assert again.reason == "UpToDate", again.message


def test_launch_template_default_moved_out_of_band_is_drift_corrected_by_a_new_version(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    engine.reconcile(templates, REF, spec())
    template_id = template_of(ec2)["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "m5.large"},
    )
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")
    outcome = engine.reconcile(templates, REF, spec(), spec_changed=False)
    assert outcome.reason == "DriftCorrected", outcome.message
    assert "instanceType: m5.large -> t3.micro" in outcome.message
    assert template_of(ec2)["DefaultVersionNumber"] == 3
    assert default_data(ec2)["InstanceType"] == "t3.micro"


def test_launch_template_tag_change_touches_only_tags(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    engine.reconcile(templates, REF, spec())
    outcome = engine.reconcile(templates, REF, spec(tags={"team": "b"}))
    assert outcome.calls[-1:] == ["ec2:CreateTags"]
    assert tags_of(ec2)["team"] == "b"
    assert template_of(ec2)["LatestVersionNumber"] == 1


def test_launch_template_deleted(engine: Engine, templates: LaunchTemplateClient, ec2: Any) -> None:
    engine.reconcile(templates, REF, spec())
    outcome = engine.delete(templates, REF, spec())
    assert outcome.state is State.DELETED and outcome.reason == "Deleted"
    assert outcome.calls == [
        "ec2:DescribeLaunchTemplates",
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DeleteLaunchTemplate",
    ]
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_launch_template_in_use_by_a_group_keeps_its_finalizer(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any, aws: EmbeddedAws
) -> None:
    engine.reconcile(templates, REF, spec())
    autoscaling = boto3.client("autoscaling", region_name="us-east-1", endpoint_url=aws.url)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="users-of-web",
        LaunchTemplate={"LaunchTemplateName": NAME},
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
    )
    outcome = engine.delete(templates, REF, spec())
    assert outcome.state is State.DELETE_BLOCKED and outcome.reason == "InUseByAutoScalingGroup"
    assert "users-of-web" in outcome.message
    assert len(ec2.describe_launch_templates()["LaunchTemplates"]) == 1


def test_launch_template_existing_unowned_is_a_conflict(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    ec2.create_launch_template(LaunchTemplateName=NAME, LaunchTemplateData={"ImageId": "ami-12345678"})
    outcome = engine.reconcile(templates, REF, spec())
    assert outcome.state is State.STALLED and outcome.reason == "AlreadyExists"


def test_launch_template_retain_removes_ownership_tags(
    engine: Engine, templates: LaunchTemplateClient, ec2: Any
) -> None:
    engine.reconcile(templates, REF, spec(deletionPolicy="Retain"))
    outcome = engine.delete(templates, REF, spec(deletionPolicy="Retain"))
    assert outcome.reason == "Retained"
    tags = tags_of(ec2)
    assert OWNER_TAG not in tags and "team" in tags


# -- pruning: moto lacks DeleteLaunchTemplateVersions, so these run against botocore's Stubber -------------


def _stubbed(clients: AwsClients) -> tuple[LaunchTemplateClient, Stubber, Stubber]:
    ec2 = clients.client("ec2", "us-east-1").raw
    autoscaling = clients.client("autoscaling", "us-east-1").raw
    return LaunchTemplateClient(clients), Stubber(ec2), Stubber(autoscaling)


def _template(default: int, latest: int) -> dict[str, Any]:
    return {
        "LaunchTemplates": [
            {
                "LaunchTemplateId": "lt-0abc",
                "LaunchTemplateName": NAME,
                "DefaultVersionNumber": default,
                "LatestVersionNumber": latest,
                "Tags": [
                    {"Key": OWNER_TAG, "Value": "test-cluster/team-a/web"},
                    {"Key": "awsop.io/kind", "Value": "LaunchTemplate"},
                    {"Key": "managed-by", "Value": "awsop"},
                    {"Key": "team", "Value": "a"},
                ],
            }
        ]
    }


def test_launch_template_prune_keeps_versions_a_group_uses(clients: AwsClients) -> None:
    """keepVersions 2, versions 1-3 exist, a change makes version 4: 1 is in use by a group, 2 is not."""
    client, ec2, autoscaling = _stubbed(clients)
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster", default_tags={"managed-by": "awsop"}))
    ec2.add_response("describe_launch_templates", _template(3, 3), {"LaunchTemplateNames": [NAME]})
    ec2.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [{"VersionNumber": 3, "LaunchTemplateData": {"ImageId": "ami-12345678"}}]},
        {"LaunchTemplateId": "lt-0abc", "Versions": ["3"]},
    )
    ec2.add_response(
        "create_launch_template_version",
        {"LaunchTemplateVersion": {"LaunchTemplateId": "lt-0abc", "VersionNumber": 4}},
        {
            "LaunchTemplateId": "lt-0abc",
            "LaunchTemplateData": desired_data(spec(keepVersions=2)),
            "VersionDescription": "awsop",
        },
    )
    ec2.add_response(
        "modify_launch_template",
        {"LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "DefaultVersionNumber": 4}},
        {"LaunchTemplateId": "lt-0abc", "DefaultVersion": "4"},
    )
    ec2.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [{"VersionNumber": n} for n in (1, 2, 3, 4)]},
        {"LaunchTemplateId": "lt-0abc", "MaxResults": 200},
    )
    autoscaling.add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": "pinned",
                    "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "1"},
                    "MinSize": 0,
                    "MaxSize": 1,
                    "DesiredCapacity": 0,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-east-1a"],
                    "HealthCheckType": "EC2",
                    "CreatedTime": "2026-01-01T00:00:00Z",
                }
            ]
        },
        {"MaxRecords": 100},
    )
    ec2.add_response(
        "delete_launch_template_versions",
        {"SuccessfullyDeletedLaunchTemplateVersions": [{"LaunchTemplateId": "lt-0abc", "VersionNumber": 2}]},
        {"LaunchTemplateId": "lt-0abc", "Versions": ["2"]},
    )
    with ec2, autoscaling:
        outcome = engine.reconcile(client, REF, spec(keepVersions=2))
        ec2.assert_no_pending_responses()
        autoscaling.assert_no_pending_responses()
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls[-2:] == ["autoscaling:DescribeAutoScalingGroups", "ec2:DeleteLaunchTemplateVersions"]
    assert (outcome.status["latestVersion"], outcome.status["defaultVersion"]) == (4, 4)


def test_launch_template_bad_ami_is_terminal(clients: AwsClients) -> None:
    client, ec2, _ = _stubbed(clients)
    engine = Engine(clients)
    ec2.add_client_error(
        "describe_launch_templates", "InvalidLaunchTemplateName.NotFoundException", http_status_code=400
    )
    ec2.add_client_error(
        "create_launch_template",
        "InvalidAMIID.Malformed",
        'Invalid id: "ami-bad" (expecting "ami-...")',
        http_status_code=400,
    )
    with ec2:
        outcome = engine.reconcile(client, REF, spec())
    assert outcome.error_class is ErrorClass.TERMINAL and outcome.state is State.STALLED
    assert "ami-bad" in outcome.message
