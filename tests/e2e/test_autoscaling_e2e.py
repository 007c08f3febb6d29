"""LaunchTemplate and AutoScalingGroup through the real operator and kubectl, AWS emulated by moto.

The examples are applied into the e2e namespace (their AWS names follow the namespace), then: both
become Ready; an autoscaler's capacity change is left alone where the spec leaves capacity to it and put
back where the spec owns it; maxSize changed out of band is always put back; a template in use keeps its
finalizer until its group is gone. The operator checks every 2 s, so drift checks (batched reads) run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import MotoProcess
from e2elib import REPO, Kubectl, Operator, eventually

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
