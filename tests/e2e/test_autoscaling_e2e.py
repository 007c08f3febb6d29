"""LaunchTemplate and AutoScalingGroup through the real operator and kubectl, AWS emulated by moto.

The examples are applied into the e2e namespace (their AWS names follow the namespace), then: both
become Ready; an autoscaler's capacity change is left alone where the spec leaves capacity to it and put
back where the spec owns it; maxSize changed out of band is always put back; a template in use keeps its
finalizer until its group is gone; a group with a mixed instances policy follows its template by reference
and the CRD's CEL rules refuse a group with both a template and a policy. The operator checks every 2 s,
so drift checks (batched reads) run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from e2elib import REPO, Kubectl, MotoProcess, Operator, eventually

NS = "e2e"


def example(name: str) -> str:
    text = (REPO / "examples" / name).read_text()
    return text.replace("namespace: default", f"namespace: {NS}").replace("name: default-", f"name: {NS}-")


def aws_client(service: str, aws: MotoProcess) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def autoscaling(e2e_aws: MotoProcess) -> Any:
    return aws_client("autoscaling", e2e_aws)


@pytest.fixture(scope="module")
def groups(kubectl: Kubectl, operator: Operator) -> Iterator[Kubectl]:
    kubectl.apply(example("autoscaling-web.yaml"))
    kubectl.apply(example("autoscaling-batch.yaml"))
    kubectl.apply(example("autoscaling-spot.yaml"))
    for kind in ("launchtemplates", "autoscalinggroups"):
        kubectl.run("wait", "--for=condition=Ready", kind, "--all", "-n", NS, "--timeout=90s")
    yield kubectl


def group(autoscaling: Any, name: str) -> dict[str, Any]:
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return found[0] if found else {}


def test_examples_become_ready_with_status(groups: Kubectl, autoscaling: Any) -> None:
    # the ARN (it holds a UUID AWS picks) is reported from the first check after the create
    web = eventually(
        lambda: (s := groups.get("autoscalinggroup", "web", "-n", NS)["status"]).get("arn") and s,
        what="status.arn",
    )
    assert web["awsName"] == "e2e-web" and web["arn"].startswith("arn:aws:autoscaling:us-east-1:")
    assert web["launchTemplate"]["name"] == "e2e-web"
    assert "desiredCapacity" not in web  # capacity belongs to an autoscaler
    batch = groups.get("autoscalinggroup", "batch", "-n", NS)["status"]
    assert batch["desiredCapacity"] == 2
    template = groups.get("launchtemplate", "web", "-n", NS)["status"]
    assert template["id"].startswith("lt-") and template["defaultVersion"] == 1
    tags = {t["Key"]: t for t in group(autoscaling, "e2e-web")["Tags"]}
    assert tags["awsop.io/owner"]["Value"] == "e2e/e2e/web" and tags["team"]["PropagateAtLaunch"] is True
    listed = groups.run("get", "aws", "-n", NS).stdout
    assert "web" in listed and "batch" in listed


def test_autoscaler_capacity_is_left_alone_and_owned_capacity_is_put_back(
    groups: Kubectl, autoscaling: Any
) -> None:
    autoscaling.set_desired_capacity(AutoScalingGroupName="e2e-web", DesiredCapacity=4)
    autoscaling.set_desired_capacity(AutoScalingGroupName="e2e-batch", DesiredCapacity=1)
    eventually(
        lambda: group(autoscaling, "e2e-batch")["DesiredCapacity"] == 2, what="owned capacity restored"
    )
    time.sleep(3)  # more than one drift check of web
    assert group(autoscaling, "e2e-web")["DesiredCapacity"] == 4
    drifted = groups.condition("autoscalinggroup", "web", NS, "Drifted")
    assert drifted is not None and drifted["status"] == "False"
    corrected = [e[1] for e in groups.events(NS, "batch") if e[0] == "DriftCorrected"]
    assert corrected == ["desiredCapacity: 1 -> 2"]  # and nothing else was ever "corrected"


def test_max_size_changed_out_of_band_is_put_back(groups: Kubectl, autoscaling: Any) -> None:
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="e2e-web", MaxSize=10)
    eventually(lambda: group(autoscaling, "e2e-web")["MaxSize"] == 6, what="maxSize restored")
    assert group(autoscaling, "e2e-web")["DesiredCapacity"] == 4  # still the autoscaler's


def test_template_in_use_waits_for_its_group(groups: Kubectl, autoscaling: Any, e2e_aws: MotoProcess) -> None:
    ec2 = aws_client("ec2", e2e_aws)
    groups.run("delete", "launchtemplate", "batch", "-n", NS, "--wait=false")
    blocked = eventually(
        lambda: (
            (c := groups.condition("launchtemplate", "batch", NS, "Reconciling"))
            and (c["status"], c["reason"]) == ("True", "InUseByAutoScalingGroup")
            and c
        ),
        what="template deletion waiting for its group",
    )
    assert "e2e-batch" in blocked["message"]
    stalled = groups.condition("launchtemplate", "batch", NS, "Stalled")
    assert stalled is None or stalled["status"] == "False", "it lifts by itself: never Stalled"
    groups.run("delete", "autoscalinggroup", "batch", "-n", NS, "--timeout=60s")
    assert group(autoscaling, "e2e-batch") == {}
    groups.run("wait", "--for=delete", "launchtemplate/batch", "-n", NS, "--timeout=60s")
    names = [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    assert "e2e-batch" not in names and "e2e-web" in names


def test_mixed_instances_group_by_reference_is_ready_and_stays_in_sync(
    groups: Kubectl, autoscaling: Any
) -> None:
    """The policy's ref is resolved by the operator like launchTemplate.ref; later drift checks (every 2 s)
    find AWS's answer equal to the spec, the distribution fields the spec leaves out included."""
    spot = groups.get("autoscalinggroup", "workers", "-n", NS)["status"]
    template = groups.get("launchtemplate", "workers", "-n", NS)["status"]
    policy = group(autoscaling, "e2e-workers")["MixedInstancesPolicy"]
    used = policy["LaunchTemplate"]["LaunchTemplateSpecification"]
    assert (used["LaunchTemplateId"], used["Version"]) == (template["id"], "1")
    assert spot["launchTemplate"]["id"] == template["id"]
    assert [o["InstanceType"] for o in policy["LaunchTemplate"]["Overrides"]] == [
        "m5.large",
        "m5a.large",
        "m6i.large",
    ]
    time.sleep(3)  # more than one drift check
    assert not [e for e in groups.events(NS, "workers") if e[0] in ("DriftDetected", "DriftCorrected")]


def test_group_with_both_a_template_and_a_mixed_policy_is_refused_by_the_crd(groups: Kubectl) -> None:
    manifest = (
        example("autoscaling-spot.yaml")
        .split("\n---\n")[1]
        .replace("name: workers\n  namespace", "name: both\n  namespace", 1)
    )
    manifest = manifest.replace("spec:\n", "spec:\n  launchTemplate:\n    name: e2e-workers\n", 1)
    refused = groups.apply(manifest, check=False)
    assert refused.returncode != 0
    assert "set exactly one of launchTemplate and mixedInstancesPolicy" in refused.stderr
