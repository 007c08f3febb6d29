"""Golden AWS call logs for the LaunchTemplate kind against moto's server over HTTP.

The periodic drift check budget: a no-op check of N templates costs ceil(N / 100) DescribeLaunchTemplates
calls and nothing else, once each template's default version has been read and found equal to the spec
(the first check after a create or a change reads it once: one DescribeLaunchTemplateVersions per
template, AWS has no batch read of one version per named template).

moto 5.2.5 does not implement DeleteLaunchTemplateVersions: version pruning is tested with botocore's
Stubber and AWS-shaped responses (test_launch_template_prune_*), as is the paginated and the refused
batch read (test_describe_templates_*).
"""

from __future__ import annotations

import base64
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.launch_template import (
    LaunchTemplateClient,
    LaunchTemplateSpec,
    describe_templates,
    desired_data,
)
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

PERIODIC = ReconcileContext(periodic=True)
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


def fresh_clients(max_age: float) -> AwsClients:
    """Production batching with a short `batch_max_age` (30 s in production), so a test can wait for the
    shared descriptions to go stale and see each periodic check's calls."""
    return AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3, batch_max_age=max_age)
    )


def test_launch_template_noop_periodic_check_reads_the_version_once_then_only_describes(
    aws: EmbeddedAws, ec2: Any
) -> None:
    clients = fresh_clients(0.0)  # nothing shared is fresh enough: every check reads
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates = LaunchTemplateClient(clients)
    engine.reconcile(templates, REF, spec())

    def check() -> list[str]:
        outcome = engine.reconcile(templates, REF, spec(), spec_changed=False, context=PERIODIC)
        assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
        return outcome.calls

    # the first check reads the default version and finds it equal to the spec; versions never change
    assert check() == ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"]
    assert check() == ["ec2:DescribeLaunchTemplates"]
    # a new version someone created (not the default): the latest number moved, the version is read again
    template_id = template_of(ec2)["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": IMAGE})
    assert check() == ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"]
    assert check() == ["ec2:DescribeLaunchTemplates"]


def test_launch_template_periodic_check_sees_a_default_moved_out_of_band(aws: EmbeddedAws, ec2: Any) -> None:
    clients = fresh_clients(0.0)
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates = LaunchTemplateClient(clients)
    engine.reconcile(templates, REF, spec())
    engine.reconcile(templates, REF, spec(), spec_changed=False, context=PERIODIC)  # verifies version 1
    template_id = template_of(ec2)["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": "ami-12345678"}
    )
    ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": IMAGE})
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")
    outcome = engine.reconcile(templates, REF, spec(), spec_changed=False, context=PERIODIC)
    assert outcome.reason == "DriftCorrected", outcome.message
    assert "imageId: ami-12345678 -> " in outcome.message
    assert template_of(ec2)["DefaultVersionNumber"] == 4
    # the write invalidated the shared description: the next check reads the new default once
    assert engine.reconcile(templates, REF, spec(), spec_changed=False, context=PERIODIC).calls == [
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
    ]


def test_launch_template_periodic_check_of_a_spec_change_reads_the_version(
    aws: EmbeddedAws, ec2: Any
) -> None:
    """A verified version counts only for the spec it was compared with."""
    clients = fresh_clients(0.0)
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates = LaunchTemplateClient(clients)
    engine.reconcile(templates, REF, spec())
    engine.reconcile(templates, REF, spec(), spec_changed=False, context=PERIODIC)
    outcome = engine.reconcile(templates, REF, spec(instanceType="t3.large"), context=PERIODIC)
    assert outcome.reason == "Updated" and outcome.message == "instanceType: t3.micro -> t3.large"
    assert default_data(ec2)["InstanceType"] == "t3.large"


@pytest.mark.parametrize("count", [1, 120], ids=["1-template", "120-templates"])
def test_launch_template_noop_drift_check_of_many_templates_shares_describe_calls(
    aws: EmbeddedAws, count: int
) -> None:
    max_age = 2.0  # production keeps 30 s; short here so the checks below find every description stale
    clients = fresh_clients(max_age)
    engine = Engine(clients, EngineConfig(cluster_id="test-cluster"))
    templates = LaunchTemplateClient(clients)
    refs = [ObjectRef("LaunchTemplate", "fleet", f"t{i}", 1) for i in range(count)]
    desired = spec(tags=None)
    for ref in refs:
        assert engine.reconcile(templates, ref, desired).state is State.READY
    expected = math.ceil(count / 100)

    def sweep() -> tuple[list[str], float]:
        time.sleep(max_age + 0.1)  # what the last sweep (or the creates) read is stale now
        clients.log.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(count, 64)) as pool:
            outcomes = list(
                pool.map(
                    lambda r: engine.reconcile(templates, r, desired, spec_changed=False, context=PERIODIC),
                    refs,
                )
            )
        elapsed = time.perf_counter() - started
        assert all(o.reason == "UpToDate" for o in outcomes), [
            o.message for o in outcomes if o.reason != "UpToDate"
        ]
        return list(clients.log.calls), elapsed

    # the first check after a create reads each default version once (one template per call)
    calls, first = sweep()
    first_calls = len(calls)
    assert sorted(calls) == sorted(
        ["ec2:DescribeLaunchTemplates"] * expected + ["ec2:DescribeLaunchTemplateVersions"] * count
    )
    calls, elapsed = sweep()
    assert calls == ["ec2:DescribeLaunchTemplates"] * expected
    print(
        f"\n{count} templates: first check after create {first_calls} calls in {first:.2f}s; "
        f"then {len(calls)} DescribeLaunchTemplates calls in {elapsed:.2f}s"
    )
    # one check after the other (as spread-out drift checks arrive): still shared
    time.sleep(max_age + 0.1)
    clients.log.clear()
    for ref in refs:
        outcome = engine.reconcile(templates, ref, desired, spec_changed=False, context=PERIODIC)
        assert outcome.reason == "UpToDate", outcome.message
    assert set(clients.log.calls) == {"ec2:DescribeLaunchTemplates"}
    assert len(clients.log.calls) <= expected + (1 if count > 1 else 0)


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


def _entry(name: str) -> dict[str, Any]:
    return {
        "LaunchTemplateId": f"lt-{abs(hash(name)) % 10**8:08d}",
        "LaunchTemplateName": name,
        "DefaultVersionNumber": 1,
        "LatestVersionNumber": 1,
    }


def test_describe_templates_many_names_by_filter_follows_pages(clients: AwsClients) -> None:
    ec2 = clients.client("ec2", "us-east-1")
    filters = [{"Name": "launch-template-name", "Values": ["a-1", "a-2", "gone"]}]
    with Stubber(ec2.raw) as stub:
        stub.add_response(
            "describe_launch_templates",
            {"LaunchTemplates": [_entry("a-1")], "NextToken": "page-2"},
            {"Filters": filters, "MaxResults": 200},
        )
        stub.add_response(
            "describe_launch_templates",
            {"LaunchTemplates": [_entry("a-2")]},
            {"Filters": filters, "MaxResults": 200, "NextToken": "page-2"},
        )
        found = describe_templates(ec2, ["a-1", "a-2", "gone"])
        stub.assert_no_pending_responses()
    assert sorted(found) == ["a-1", "a-2"]  # a missing name is simply absent


def test_describe_templates_batch_refused_with_not_found_reads_each_name(clients: AwsClients) -> None:
    ec2 = clients.client("ec2", "us-east-1")
    with Stubber(ec2.raw) as stub:
        stub.add_client_error(
            "describe_launch_templates", "InvalidLaunchTemplateName.NotFoundException", http_status_code=400
        )
        stub.add_response(
            "describe_launch_templates",
            {"LaunchTemplates": [_entry("a-1")]},
            {"LaunchTemplateNames": ["a-1"]},
        )
        stub.add_client_error(
            "describe_launch_templates",
            "InvalidLaunchTemplateName.NotFoundException",
            http_status_code=400,
            expected_params={"LaunchTemplateNames": ["gone"]},
        )
        found = describe_templates(ec2, ["a-1", "gone"])
        stub.assert_no_pending_responses()
    assert list(found) == ["a-1"]


def test_describe_templates_batch_other_errors_are_raised(clients: AwsClients) -> None:
    ec2 = clients.client("ec2", "us-east-1")
    with Stubber(ec2.raw) as stub:
        stub.add_client_error("describe_launch_templates", "UnauthorizedOperation", http_status_code=403)
        with pytest.raises(ClientError):
            describe_templates(ec2, ["a-1", "a-2"])
