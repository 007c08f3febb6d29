"""Golden AWS call logs for AutoScalingGroups with a mixed instances policy, against moto's server.

moto 5.2.5 stores a MixedInstancesPolicy as it was sent (AWS fills every InstancesDistribution default;
awsop always sends the whole distribution, so both answer the same) and reports it back: create, update,
drift and the switch between a plain template and a policy are tested here. What moto does not do
(instance refresh, MaxInstanceLifetime) is in test_instance_refresh_stubbed.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.autoscaling_group import FOLLOW_TAG, AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec
from awsop.reconcilers.refs import Resolution

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]

REF = ObjectRef("AutoScalingGroup", "mixed", "spot", 1)
NAME = "mixed-spot"
TEMPLATE = "mixed-spot-lt"
PERIODIC = ReconcileContext(periodic=True)
POLICY: dict[str, Any] = {
    "launchTemplate": {"name": TEMPLATE},
    "overrides": [{"instanceType": "m5.large"}, {"instanceType": "m6i.large"}],
    "instancesDistribution": {
        "onDemandBaseCapacity": 1,
        "onDemandPercentageAboveBaseCapacity": 25,
        "spotAllocationStrategy": "price-capacity-optimized",
    },
}
BASE: dict[str, Any] = {"minSize": 1, "maxSize": 4, "availabilityZones": ["us-east-1a", "us-east-1b"]}


def spec(policy: dict[str, Any] | None = None, **fields: Any) -> AutoScalingGroupSpec:
    return AutoScalingGroupSpec.model_validate({**BASE, "mixedInstancesPolicy": policy or POLICY, **fields})


@pytest.fixture
def clients(aws: EmbeddedAws) -> AwsClients:
    """Every periodic check reads (no shared description is fresh enough): each one's calls are visible."""
    return AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3, batch_max_age=0.0)
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
def template(engine: Engine, clients: AwsClients) -> Any:
    lt = LaunchTemplateSpec.model_validate(
        {"name": TEMPLATE, "imageId": "ami-12345678", "instanceType": "t3.micro"}
    )
    outcome = engine.reconcile(
        LaunchTemplateClient(clients), ObjectRef("LaunchTemplate", "mixed", "lt", 1), lt
    )
    assert outcome.state is State.READY, outcome.message
    return outcome


def policy_of(autoscaling: Any) -> dict[str, Any]:
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
    return group.get("MixedInstancesPolicy")  # type: ignore[no-any-return]


def test_mixed_group_created_with_the_whole_distribution_then_a_check_is_one_describe(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: Any
) -> None:
    created = engine.reconcile(groups, REF, spec())
    assert created.state is State.READY, created.message
    assert created.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    policy = policy_of(autoscaling)
    assert [o["InstanceType"] for o in policy["LaunchTemplate"]["Overrides"]] == ["m5.large", "m6i.large"]
    assert policy["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateName"] == TEMPLATE
    # what the spec leaves out is sent as AWS's default, so AWS and awsop agree on the whole policy
    assert policy["InstancesDistribution"] == {
        "OnDemandAllocationStrategy": "prioritized",
        "OnDemandBaseCapacity": 1,
        "OnDemandPercentageAboveBaseCapacity": 25,
        "SpotAllocationStrategy": "price-capacity-optimized",
    }
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
    assert not group.get("LaunchTemplate")  # AWS takes one of LaunchTemplate and MixedInstancesPolicy
    assert created.status["launchTemplate"]["name"] == TEMPLATE
    check = engine.reconcile(groups, REF, spec(), spec_changed=False, context=PERIODIC)
    assert check.reason == "UpToDate", check.message
    assert check.calls == ["autoscaling:DescribeAutoScalingGroups"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"overrides": [{"instanceType": "m6i.large"}, {"instanceType": "m5.large"}]},
            "mixedInstancesPolicy.overrides[0]: {instanceType: m5.large -> m6i.large}; "
            "mixedInstancesPolicy.overrides[1]: {instanceType: m6i.large -> m5.large}",
        ),
        (
            {"instancesDistribution": {"onDemandBaseCapacity": 2, "spotAllocationStrategy": "lowest-price"}},
            "mixedInstancesPolicy.instancesDistribution: {onDemandBaseCapacity: 1 -> 2, "
            "onDemandPercentageAboveBaseCapacity: 25 -> 100, "
            "spotAllocationStrategy: price-capacity-optimized -> lowest-price, "
            "spotInstancePools: (none) -> 2}",
        ),
        (
            {"instancesDistribution": None},
            "mixedInstancesPolicy.instancesDistribution: {onDemandBaseCapacity: 1 -> 0, "
            "onDemandPercentageAboveBaseCapacity: 25 -> 100, "
            "spotAllocationStrategy: price-capacity-optimized -> lowest-price, "
            "spotInstancePools: (none) -> 2}",
        ),
    ],
    ids=["override-order", "distribution", "distribution-removed-means-defaults"],
)
def test_mixed_policy_change_is_one_update(
    engine: Engine,
    groups: AutoScalingGroupClient,
    autoscaling: Any,
    template: Any,
    change: dict[str, Any],
    message: str,
) -> None:
    engine.reconcile(groups, REF, spec())
    changed = {k: v for k, v in {**POLICY, **change}.items() if v is not None}
    outcome = engine.reconcile(groups, REF, spec(changed))
    assert outcome.reason == "Updated" and outcome.message == message
    assert outcome.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]
    again = engine.reconcile(groups, REF, spec(changed), spec_changed=False, context=PERIODIC)
    assert again.reason == "UpToDate", again.message


def test_mixed_policy_changed_out_of_band_is_drift_even_in_a_field_left_to_its_default(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: Any
) -> None:
    engine.reconcile(groups, REF, spec())
    policy = policy_of(autoscaling)
    policy["InstancesDistribution"]["OnDemandAllocationStrategy"] = "lowest-price"  # spec: default
    policy["LaunchTemplate"]["Overrides"] = policy["LaunchTemplate"]["Overrides"][:1]
    del policy["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateName"]  # id or name
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=NAME, MinSize=1, MaxSize=4, MixedInstancesPolicy=policy
    )
    outcome = engine.reconcile(groups, REF, spec(), spec_changed=False, context=PERIODIC)
    assert outcome.reason == "DriftCorrected", outcome.message
    assert sorted(c.path for c in outcome.drift) == [
        "mixedInstancesPolicy.instancesDistribution",
        "mixedInstancesPolicy.overrides",
    ]
    assert outcome.calls[-1] == "autoscaling:UpdateAutoScalingGroup"
    assert policy_of(autoscaling)["InstancesDistribution"]["OnDemandAllocationStrategy"] == "prioritized"
    assert len(policy_of(autoscaling)["LaunchTemplate"]["Overrides"]) == 2


def test_plain_group_switched_to_a_mixed_policy_and_back(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: Any
) -> None:
    plain = AutoScalingGroupSpec.model_validate({**BASE, "launchTemplate": {"name": TEMPLATE}})
    engine.reconcile(groups, REF, plain)
    switched = engine.reconcile(groups, REF, spec())
    assert switched.reason == "Updated" and [c.path for c in switched.plan.changes] == [
        "mixedInstancesPolicy"
    ]
    assert switched.calls[-1] == "autoscaling:UpdateAutoScalingGroup"
    assert policy_of(autoscaling) is not None
    back = engine.reconcile(groups, REF, plain)
    assert [c.path for c in back.plan.changes] == ["launchTemplate"]
    assert policy_of(autoscaling) is None
    assert engine.reconcile(groups, REF, plain, spec_changed=False).reason == "UpToDate"


def test_mixed_group_by_ref_waits_for_its_template_then_follows_its_default_version(
    engine: Engine, groups: AutoScalingGroupClient, clients: AwsClients, autoscaling: Any
) -> None:
    """The policy's ref is declared through references(): the engine waits (no AWS call) exactly as for
    launchTemplate.ref, then launches from the template's default version by id and follows it."""
    by_ref = spec({**POLICY, "launchTemplate": {"ref": {"name": "lt"}}})
    assert [(r.kind, r.name, r.path) for r in by_ref.references()] == [
        ("LaunchTemplate", "lt", "mixedInstancesPolicy.launchTemplate.ref")
    ]
    waiting = engine.reconcile(groups, REF, by_ref)
    assert waiting.reason == "DependencyNotReady" and waiting.calls == []
    templates = LaunchTemplateClient(clients)
    lt_ref = ObjectRef("LaunchTemplate", "mixed", "lt", 1)
    lt = LaunchTemplateSpec.model_validate({"imageId": "ami-12345678", "instanceType": "t3.micro"})
    first = engine.reconcile(templates, lt_ref, lt)

    def resolved(outcome: Any) -> ReconcileContext:
        found = Resolution("LaunchTemplate", "lt", ready=True, values=outcome.status)
        return ReconcileContext(references={("LaunchTemplate", "lt"): found})

    created = engine.reconcile(groups, REF, by_ref, context=resolved(first))
    assert created.state is State.READY, created.message
    used = policy_of(autoscaling)["LaunchTemplate"]["LaunchTemplateSpecification"]
    assert (used["LaunchTemplateId"], used["Version"]) == (first.status["id"], "1")
    changed = engine.reconcile(templates, lt_ref, lt.model_copy(update={"instance_type": "t3.small"}))
    follows = engine.reconcile(groups, REF, by_ref, spec_changed=False, context=resolved(changed))
    assert follows.message == "mixedInstancesPolicy.launchTemplate: {version: 1 -> 2}", follows.message
    assert follows.calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]
    assert policy_of(autoscaling)["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] == "2"


def test_group_on_latest_with_instance_refresh_records_the_resolved_version_at_create(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: Any
) -> None:
    """$Latest with instanceRefresh: the number it resolves to at create (one DescribeLaunchTemplates) is
    recorded on the group with the create's tags, so the first check does not take it for a change."""
    policy = {**POLICY, "launchTemplate": {"name": TEMPLATE, "version": "$Latest"}}
    created = engine.reconcile(groups, REF, spec(policy, instanceRefresh={"minHealthyPercentage": 50}))
    assert created.state is State.READY, created.message
    assert created.calls == [
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeLaunchTemplates",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
    tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]}
    assert tags[FOLLOW_TAG] == ("1", False)
    assert created.status["launchTemplate"]["resolvesTo"] == 1


def test_cli_applies_the_spot_example_template_first_then_plans_nothing(
    aws: EmbeddedAws, tmp_path: Any, capsys: Any
) -> None:
    """examples/autoscaling-spot.yaml in reverse order: the CLI resolves the policy's ref from the
    manifests like launchTemplate.ref, creates the template first, and the next plan is empty."""
    from awsop.operator import cli

    docs = (REPO / "examples" / "autoscaling-spot.yaml").read_text().split("\n---\n")
    reverse = tmp_path / "reverse.yaml"
    reverse.write_text(docs[1] + "\n---\n" + docs[0])
    assert cli.main(["apply", "-f", str(reverse), "-o", "json", "--cluster-id", "cli-spot"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert [(o["kind"], o["state"]) for o in applied] == [
        ("LaunchTemplate", "Ready"),
        ("AutoScalingGroup", "Ready"),
    ]
    assert applied[1]["awsCalls"] == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    ]
    assert cli.main(["plan", "-f", str(reverse), "--cluster-id", "cli-spot"]) == cli.EXIT_OK


def test_spot_max_price_removed_from_the_spec_is_cleared(
    engine: Engine, groups: AutoScalingGroupClient, autoscaling: Any, template: Any
) -> None:
    capped = {**POLICY, "instancesDistribution": {**POLICY["instancesDistribution"], "spotMaxPrice": "0.05"}}
    engine.reconcile(groups, REF, spec(capped))
    assert policy_of(autoscaling)["InstancesDistribution"]["SpotMaxPrice"] == "0.05"
    outcome = engine.reconcile(groups, REF, spec())
    assert outcome.message == "mixedInstancesPolicy.instancesDistribution: {spotMaxPrice: 0.05 -> (none)}"
    assert policy_of(autoscaling)["InstancesDistribution"].get("SpotMaxPrice", "") == ""
    assert engine.reconcile(groups, REF, spec(), spec_changed=False).reason == "UpToDate"


def test_template_version_reader_answers_the_templates_that_exist_in_one_batch(
    groups: AutoScalingGroupClient, clients: AwsClients, template: Any
) -> None:
    """The shared reader behind $Latest/$Default groups: names through a filter (a missing name is just
    absent), ids in one call. (moto answers the ids that exist; AWS fails the whole call when one is
    missing, and the reader then asks one by one: test_template_version_reader_asks_ids_one_by_one...)"""
    fetch = groups._template_reader("us-east-1")._fetch
    template_id = template.status["id"]
    with clients.log.capture() as calls:
        found = fetch(
            [f"name:{TEMPLATE}", "name:no-such-template", f"id:{template_id}", "id:lt-0000000000000000f"]
        )
    assert found == {
        f"name:{TEMPLATE}": {"$Latest": 1, "$Default": 1},
        f"id:{template_id}": {"$Latest": 1, "$Default": 1},
    }
    assert calls == ["ec2:DescribeLaunchTemplates"] * 2  # the names, the ids


@pytest.mark.parametrize(
    "version, refresh, stalled",
    [("$Latest", True, True), ("$Default", True, True), ("1", True, False), ("$Latest", False, False)],
    ids=["latest-with-refresh", "default-with-refresh", "fixed-version", "latest-without-refresh"],
)
def test_the_version_record_counts_toward_the_tag_limit(
    engine: Engine, groups: AutoScalingGroupClient, version: str, refresh: bool, stalled: bool
) -> None:
    """48 spec tags + 2 ownership tags fill AWS's 50; a group that follows an alias with instanceRefresh
    also keeps FOLLOW_TAG, so it is refused before any call instead of failing at AWS."""
    policy = {**POLICY, "launchTemplate": {"name": TEMPLATE, "version": version}}
    extra = {"instanceRefresh": {"minHealthyPercentage": 50}} if refresh else {}
    tags = {f"k{i}": "v" for i in range(48)}
    outcome = engine.reconcile(groups, REF, spec(policy, tags=tags, **extra), plan_only=True)
    if stalled:
        assert (outcome.state, outcome.reason) == (State.STALLED, "TooManyTags"), outcome.message
        assert "51 tags" in outcome.message and FOLLOW_TAG in outcome.message
        assert outcome.calls == []
    else:
        assert outcome.reason != "TooManyTags", outcome.message
