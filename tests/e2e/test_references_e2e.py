"""References through the real operator and kubectl, AWS emulated by moto: under driftPolicy Report a group
follows its LaunchTemplate's new default version (a change of the desired state, Event ReferenceChanged),
while maxSize changed out of band is reported as drift and never written."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, MotoProcess, Operator, eventually

NS = "e2e"
TAGS = "{team: web, cost-center: cc-storefront}"


def template(instance_type: str) -> str:
    return f"""---
apiVersion: ec2.awsop.io/v1alpha1
kind: LaunchTemplate
metadata: {{name: follow, namespace: {NS}}}
spec: {{imageId: ami-12345678, instanceType: {instance_type}, tags: {TAGS}}}
"""


GROUP = f"""---
apiVersion: autoscaling.awsop.io/v1alpha1
kind: AutoScalingGroup
metadata: {{name: follow, namespace: {NS}}}
spec:
  launchTemplate: {{ref: {{name: follow}}}}
  minSize: 1
  maxSize: 2
  availabilityZones: [us-east-1a]
  driftPolicy: Report
  tags: {TAGS}
"""


@pytest.fixture
def autoscaling(e2e_aws: MotoProcess) -> Any:
    return boto3.client(
        "autoscaling",
        endpoint_url=e2e_aws.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def group(autoscaling: Any) -> dict[str, Any]:
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{NS}-follow"])
    return dict(found["AutoScalingGroups"][0])


def test_report_group_follows_its_template_and_only_reports_out_of_band_max_size(
    kubectl: Kubectl, operator: Operator, autoscaling: Any
) -> None:
    kubectl.apply(template("t3.micro") + GROUP)
    try:
        kubectl.run("wait", "--for=condition=Ready", "autoscalinggroup/follow", "-n", NS, "--timeout=60s")
        status = kubectl.get("autoscalinggroup", "follow", "-n", NS)["status"]
        assert status["resolvedReferences"][0]["values"]["defaultVersion"] == "1"

        kubectl.apply(template("t3.small"))
        ready = eventually(
            lambda: (
                (c := kubectl.condition("autoscalinggroup", "follow", NS, "Ready"))
                and c["reason"] == "ReferenceChanged"
                and c
            ),
            what="the group follows the template's new default version",
        )
        assert ready["status"] == "True" and "defaultVersion 1 -> 2" in ready["message"]
        assert group(autoscaling)["LaunchTemplate"]["Version"] == "2"
        reasons = [reason for reason, _ in kubectl.events(NS, "follow")]
        assert "ReferenceChanged" in reasons and "DriftDetected" not in reasons

        autoscaling.update_auto_scaling_group(AutoScalingGroupName=f"{NS}-follow", MaxSize=5)
        eventually(
            lambda: (
                (c := kubectl.condition("autoscalinggroup", "follow", NS, "Drifted"))
                and c["status"] == "True"
            ),
            what="Drifted=True",
        )
        time.sleep(3)  # more than one drift check (the operator checks every 2 s)
        assert group(autoscaling)["MaxSize"] == 5
        drift = kubectl.get("autoscalinggroup", "follow", "-n", NS)["status"]["drift"]
        assert [(d["path"], d["actual"]) for d in drift] == [("maxSize", "5")]
    finally:
        kubectl.run("delete", "autoscalinggroup", "follow", "-n", NS, "--timeout=60s", check=False)
        kubectl.run("delete", "launchtemplate", "follow", "-n", NS, "--timeout=60s", check=False)
