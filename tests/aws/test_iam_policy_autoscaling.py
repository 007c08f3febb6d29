"""The IAM policy of the LaunchTemplate and AutoScalingGroup kinds, proven against moto with IAM enforced.

Like tests/aws/test_iam_policy.py for buckets: every LaunchTemplate and AutoScalingGroup path passes under
exactly the actions `awsop iam-policy --kind LaunchTemplate --kind AutoScalingGroup` prints; every
action is needed; removing any one ends in an Access outcome. Actions moto never checks (Auto Scaling's
own calls into EC2 on our behalf, iam:PassRole for hook roles) and the operations moto 5.2.5 lacks
(version pruning, instance refresh, traffic sources: covered by Stubber tests) are proven necessary by
the table alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from test_iam_policy import REPO, Iam, _auth

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec, WarmPool
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS, iam_policy
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec
from awsop.reconcilers.policies import AdoptionPolicy, DeletionPolicy
from awsop.reconcilers.refs import Resolution

pytestmark = pytest.mark.aws
OUR_KINDS = ["LaunchTemplate", "AutoScalingGroup"]
# "service:Operation" (as the call log names calls) -> IAM actions; the service is the first action's
TABLE = {
    f"{actions[0].split(':')[0]}:{op}": actions
    for kind in OUR_KINDS
    for op, actions in KINDS[kind].iam_actions.items()
}
# actions moto 5.2.5 never authorizes: Auto Scaling's calls into EC2 on the caller's behalf and the role a
# lifecycle hook passes
NOT_CHECKED_BY_MOTO = frozenset({"ec2:RunInstances", "iam:PassRole"})
# operations moto 5.2.5 does not implement: proven by the Stubber tests and the table alone
NOT_IN_MOTO = frozenset(
    {
        "ec2:DeleteLaunchTemplateVersions",
        "autoscaling:StartInstanceRefresh",
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:AttachTrafficSources",
        "autoscaling:DetachTrafficSources",
        "autoscaling:DescribeTrafficSources",
    }
)


@pytest.fixture
def enforced_iam(aws: EmbeddedAws) -> Iterator[Iam]:
    _auth(aws, "inf")
    yield Iam(aws)
    _auth(aws, "inf")


def policy_actions() -> list[str]:
    return [a for statement in iam_policy(OUR_KINDS)["Statement"] for a in statement["Action"]]


def _docs(path: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all((REPO / "examples" / path).read_text())}


def run_scenarios(clients: AwsClients, admin_ec2: Any, admin_elb: Any) -> list[tuple[str, Outcome]]:
    """Every path of both kinds, in order; each step runs even if an earlier one failed."""
    engine = Engine(clients)
    templates, groups = LaunchTemplateClient(clients), AutoScalingGroupClient(clients)
    docs = _docs("autoscaling-web.yaml")
    lt_ref = ObjectRef("LaunchTemplate", "default", "web", 1)
    lt = LaunchTemplateSpec.model_validate(docs["LaunchTemplate"]["spec"])
    asg_ref = ObjectRef("AutoScalingGroup", "default", "web", 1)
    asg = AutoScalingGroupSpec.model_validate(docs["AutoScalingGroup"]["spec"])
    subnets = sorted(s["SubnetId"] for s in admin_ec2.describe_subnets()["Subnets"])[:2]
    admin_ec2.create_tags(Resources=subnets, Tags=[{"Key": "tier", "Value": "web"}])
    vpc = admin_ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    target_group = admin_elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    changed = asg.model_copy(
        update={
            "max_size": 8,
            "availability_zones": None,
            "subnet_selector": AutoScalingGroupSpec.model_validate(
                {
                    **docs["AutoScalingGroup"]["spec"],
                    "availabilityZones": None,
                    "subnetSelector": {"tags": {"tier": "web"}},
                }
            ).subnet_selector,
            "suspended_processes": ["AZRebalance"],
            "target_group_arns": [target_group],
            "warm_pool": WarmPool(min_size=1),  # PutWarmPool; dropped below: DeleteWarmPool
            "tags": {"tier": "web"},
        }
    )
    resumed = changed.model_copy(
        update={
            "suspended_processes": [],
            "target_group_arns": [],
            "lifecycle_hooks": [],
            "scaling_policies": [],  # the example's policy and schedules removed: DeletePolicy and
            "scheduled_actions": [],  # DeleteScheduledAction (and the records' DeleteTags)
            "warm_pool": None,
        }
    )
    lt_changed = lt.model_copy(update={"instance_type": "t3.small", "tags": {"owner": "web"}})
    created = engine.reconcile(templates, lt_ref, lt)
    found = Resolution("LaunchTemplate", "web", ready=True, values=created.status)
    ref = ReconcileContext(references={("LaunchTemplate", "web"): found})
    periodic = ReconcileContext(references=ref.references, periodic=True)
    return [
        ("create template", created),
        ("create group", engine.reconcile(groups, asg_ref, asg, context=ref)),
        ("check group", engine.reconcile(groups, asg_ref, asg, spec_changed=False, context=periodic)),
        ("update group", engine.reconcile(groups, asg_ref, changed, context=ref)),
        ("resume and detach", engine.reconcile(groups, asg_ref, resumed, context=ref)),
        ("check template", engine.reconcile(templates, lt_ref, lt, spec_changed=False)),
        ("update template", engine.reconcile(templates, lt_ref, lt_changed)),
        ("template in use", engine.delete(templates, lt_ref, lt_changed)),
        ("delete group", engine.delete(groups, asg_ref, resumed, context=ref)),
        (
            "retain template",
            engine.delete(
                templates, lt_ref, lt_changed.model_copy(update={"deletion_policy": DeletionPolicy.RETAIN})
            ),
        ),
        (
            "adopt template",
            engine.reconcile(
                templates, lt_ref, lt_changed.model_copy(update={"adoption_policy": AdoptionPolicy.ADOPT})
            ),
        ),
        ("delete template", engine.delete(templates, lt_ref, lt_changed)),
    ]


def _run(aws: EmbeddedAws, enforced: Iam, actions: list[str]) -> tuple[AwsClients, list[tuple[str, Outcome]]]:
    admin_keys = enforced.user("admin", ["ec2:*", "autoscaling:*", "elasticloadbalancing:*"])
    operator_keys = enforced.user("awsop", actions)
    _auth(aws, "0")
    admin_ec2 = boto3.client("ec2", endpoint_url=aws.url, region_name="us-east-1", **admin_keys)
    admin_elb = boto3.client("elbv2", endpoint_url=aws.url, region_name="us-east-1", **admin_keys)
    session = boto3.Session(region_name="us-east-1", **operator_keys)
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_window=0.0),
        session=session,
    )
    return clients, run_scenarios(clients, admin_ec2, admin_elb)


def test_every_autoscaling_scenario_passes_under_exactly_its_policy(
    enforced_iam: Iam, aws: EmbeddedAws
) -> None:
    clients, results = _run(aws, enforced_iam, policy_actions())
    failures = [(step, o.reason, o.message) for step, o in results if not o.ok]
    assert failures == []
    reasons = {step: o.reason for step, o in results}
    assert reasons["template in use"] == "InUseByAutoScalingGroup"
    assert [reasons[s] for s in ("delete group", "retain template", "delete template")] == [
        "Deleted",
        "Retained",
        "Deleted",
    ]
    called = set(clients.log.calls)
    assert called <= set(TABLE), f"operations missing from IAM_ACTIONS: {called - set(TABLE)}"
    needed = {action for op in called for action in TABLE[op]}
    assert needed | NOT_IN_MOTO == set(policy_actions())


def _distinguishable() -> list[str]:
    """Actions whose absence moto can notice (it checks each operation's own action only)."""
    return [a for a in policy_actions() if a in TABLE and a not in NOT_CHECKED_BY_MOTO | NOT_IN_MOTO]


@pytest.mark.parametrize("removed", _distinguishable())
def test_removing_any_autoscaling_action_ends_in_an_access_condition(
    enforced_iam: Iam, aws: EmbeddedAws, removed: str
) -> None:
    _, results = _run(aws, enforced_iam, [a for a in policy_actions() if a != removed])
    denied = [(step, o.reason) for step, o in results if o.error_class is ErrorClass.ACCESS]
    assert denied, f"without {removed} every scenario still passed: the action is not needed"
    assert all(o.reason for _, o in results)
