"""Through the kopf handlers, under driftPolicy Report: what a reference resolves to is part of the desired
state. A referenced LaunchTemplate's new default version is followed by its group (and starts the instance
refresh the group declares), a dead-letter queue's new ARN is followed by its source queue, while an
out-of-band change in AWS is still only reported. Status is the only memory: each step runs in a fresh
Runtime (a restarted operator) with the status the previous step wrote.

Groups and queues run against moto's server; the instance refresh path against botocore's Stubber (moto
5.2.5 implements neither StartInstanceRefresh nor DescribeInstanceRefreshes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import boto3
import kopf
import pytest
from botocore.stub import Stubber

from awsop.operator import handlers, kube, metrics
from awsop.operator.embedded import EmbeddedAws
from awsop.operator.events import EventRecorder
from awsop.operator.settings import Settings
from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.launch_template import LaunchTemplateClient
from awsop.reconcilers.sqs_queue import QueueClient
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws
NS = "team-a"
TEMPLATE = {"imageId": "ami-12345678", "instanceType": "t3.micro"}
GROUP = {
    "launchTemplate": {"ref": {"name": "web"}},
    "minSize": 1,
    "maxSize": 3,
    "availabilityZones": ["us-east-1a"],
    "driftPolicy": "Report",
}


class FakeKube:
    """The objects the handlers read (GET per reference) and the referrers they nudge."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.nudged: list[str] = []

    def get(self, info: Any, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((info.kind, name))

    def list_objects(self, info: Any, namespace: str) -> list[dict[str, Any]]:
        return [o for (kind, _), o in self.objects.items() if kind == info.kind]

    def annotate(self, info: Any, namespace: str, name: str, annotations: dict[str, Any]) -> None:
        if handlers.RECONCILE_REQUESTED in annotations:
            self.nudged.append(name)


class Writes(list[dict[str, Any]]):
    def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.append(body)


class NoNamespaces(kube.NamespacePhases):
    def terminating(self, namespace: str) -> bool:
        return False


class Operator:
    """One operator process: a Runtime over `clients`; `restart()` forgets everything but the objects."""

    def __init__(self, clients: AwsClients, fake: FakeKube, events: list[tuple[str, str, str]]) -> None:
        self.clients, self.fake, self.events = clients, fake, events
        self.restart()

    def restart(self) -> None:
        self.rt = handlers.Runtime(
            Settings(cluster_id="test-cluster"),
            Engine(self.clients, EngineConfig(cluster_id="test-cluster")),
            {
                "LaunchTemplate": LaunchTemplateClient(self.clients),
                "AutoScalingGroup": AutoScalingGroupClient(self.clients),
                "Queue": QueueClient(self.clients),
            },
            write=Writes(),
            namespaces=NoNamespaces(),
        )

    def reconcile(
        self,
        kind: str,
        name: str,
        spec: dict[str, Any],
        generation: int = 1,
        handler: Any = handlers.reconcile,
        retry: int = 0,
    ) -> dict[str, Any]:
        """Run the reconcile handler (create, update, or the nudge's reconcile-requested-at), or `handler`,
        on the stored object with `spec`; store and return the status it leaves. The retry kopf was asked
        for, if any, is kept in `self.error`."""
        old = self.fake.objects.get((kind, name), {})
        obj = {
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"uid-{kind}-{name}",
                "generation": generation,
            },
            "spec": spec,
            "status": dict(old.get("status") or {}),
        }
        written: Writes = self.rt.write  # type: ignore[assignment]
        before = len(written)
        self.events.clear()
        self.error: kopf.TemporaryError | None = None
        try:
            handler(
                KINDS[kind],
                self.rt,
                body=obj,
                meta=obj["metadata"],
                spec=obj["spec"],
                status=obj["status"],
                patch=kopf.Patch(),
                retry=retry,
            )
        except kopf.TemporaryError as exc:  # progress, a retry or Stalled: the status tells
            self.error = exc
        except kopf.PermanentError:
            pass
        status = dict(obj["status"])
        for body in written[before:]:
            for key, value in (body.get("status") or {}).items():
                if value is None:
                    status.pop(key, None)
                else:
                    status[key] = value
        self.fake.objects[(kind, name)] = {**obj, "status": status}
        return status


@pytest.fixture
def operator(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> Operator:
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        EventRecorder,
        "post",
        lambda self, body, type, reason, message: events.append((type, reason, message)),
    )
    fake = FakeKube()
    for name in ("get", "list_objects", "annotate"):
        monkeypatch.setattr(kube, name, getattr(fake, name))
    return Operator(clients, fake, events)


def condition(status: dict[str, Any], ctype: str) -> tuple[str, str, str]:
    found = next(c for c in status["conditions"] if c["type"] == ctype)
    return found["status"], found["reason"], found["message"]


def group_of(autoscaling: Any, name: str = "team-a-web") -> dict[str, Any]:
    return dict(
        autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    )


@pytest.fixture
def autoscaling(aws: EmbeddedAws) -> Any:
    return boto3.client("autoscaling", region_name="us-east-1", endpoint_url=aws.url)


def test_report_group_follows_its_templates_new_default_version_and_reports_out_of_band_max_size(
    operator: Operator, autoscaling: Any
) -> None:
    template = operator.reconcile("LaunchTemplate", "web", TEMPLATE)
    assert condition(template, "Ready")[0] == "True"
    group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    assert condition(group, "Ready")[:2] == ("True", "Created")
    assert group["resolvedReferences"] == [
        {
            "path": "launchTemplate.ref",
            "kind": "LaunchTemplate",
            "name": "web",
            "values": {
                "arn": template["arn"],
                "id": template["id"],
                "defaultVersion": "1",
                "latestVersion": "1",
            },
        }
    ]

    # the template gets a new spec: a new default version; the group is nudged and follows it
    template = operator.reconcile("LaunchTemplate", "web", {**TEMPLATE, "instanceType": "t3.small"}, 2)
    assert template["defaultVersion"] == 2
    assert operator.fake.nudged == ["web"]
    operator.restart()  # status is the memory: a restart between the two changes nothing
    with operator.clients.log.capture() as calls:
        group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    assert calls == ["autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup"]
    ready = condition(group, "Ready")
    assert ready[:2] == ("True", "ReferenceChanged"), ready
    assert ready[2] == (
        "reference changed: LaunchTemplate web (launchTemplate.ref): defaultVersion 1 -> 2, latestVersion "
        "1 -> 2; applied: launchTemplate: {version: 1 -> 2}"
    )
    assert condition(group, "Drifted")[:2] == ("False", "NoDrift") and group["drift"] == []
    assert [(t, r) for t, r, _ in operator.events] == [("Normal", "ReferenceChanged")]
    assert group_of(autoscaling)["LaunchTemplate"]["Version"] == "2"
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "2"
    assert group["appliedGeneration"] == 1  # the object's own generation did not move

    # an out-of-band change under Report: reported, never written, and the reference is not to blame
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="team-a-web", MaxSize=5)
    operator.restart()
    with operator.clients.log.capture() as calls:
        group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    assert calls == ["autoscaling:DescribeAutoScalingGroups"]
    assert condition(group, "Drifted")[:2] == ("True", "DriftDetected")
    assert condition(group, "Ready")[:2] == ("False", "Drifted")
    assert [(d["path"], d["desired"], d["actual"]) for d in group["drift"]] == [("maxSize", "3", "5")]
    assert [(t, r) for t, r, _ in operator.events] == [("Warning", "DriftDetected")]
    assert group_of(autoscaling)["MaxSize"] == 5
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "2"


def test_first_check_after_an_upgrade_records_references_without_writing_aws(
    operator: Operator, autoscaling: Any, clients: AwsClients
) -> None:
    """A status written before references were recorded: nothing says what was applied, so nothing is
    treated as a reference change; a group that matches AWS gets its record in one status write."""
    operator.reconcile("LaunchTemplate", "web", TEMPLATE)
    operator.reconcile("AutoScalingGroup", "web", GROUP)
    group = operator.reconcile("AutoScalingGroup", "web", GROUP)  # UpToDate: what a long-running one shows
    old = {k: v for k, v in group.items() if k != "resolvedReferences"}
    operator.fake.objects[("AutoScalingGroup", "web")]["status"] = old
    operator.restart()
    written: Writes = operator.rt.write  # type: ignore[assignment]
    with clients.log.capture() as calls:
        group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    assert calls == ["autoscaling:DescribeAutoScalingGroups"]
    assert condition(group, "Ready")[:2] == ("True", "UpToDate")
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "1"
    assert len(written) == 1 and "resolvedReferences" in written[0]["status"]
    assert set(written[0]["status"]) <= {"resolvedReferences", "lastSyncTime"}
    assert operator.events == []


def test_report_queue_follows_its_dead_letter_queue_to_a_new_arn(
    operator: Operator, aws: EmbeddedAws
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.url)
    source_spec = {
        "deadLetterQueue": {"ref": {"name": "dlq"}, "maxReceiveCount": 3},
        "visibilityTimeoutSeconds": 60,
        "driftPolicy": "Report",
    }
    dlq = operator.reconcile("Queue", "dlq", {})
    source = operator.reconcile("Queue", "orders", source_spec)
    assert condition(source, "Ready")[:2] == ("True", "Created")
    assert source["deadLetterQueueArn"] == dlq["arn"]

    # the dead-letter queue is recreated under another AWS name: a new ARN the source must follow
    moved = operator.reconcile("Queue", "dlq", {"name": "team-a-dlq-2"}, 2)
    assert moved["arn"] != dlq["arn"] and operator.fake.nudged == ["orders"]
    operator.restart()
    with operator.clients.log.capture() as calls:
        source = operator.reconcile("Queue", "orders", source_spec)
    assert calls == [
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:ListQueueTags",
        "sqs:SetQueueAttributes",
    ]
    ready = condition(source, "Ready")
    assert ready[:2] == ("True", "ReferenceChanged"), ready
    assert f"Queue dlq (deadLetterQueue): arn {dlq['arn']} -> {moved['arn']}" in ready[2]
    url = sqs.get_queue_url(QueueName="team-a-orders")["QueueUrl"]
    redrive = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert moved["arn"] in redrive["RedrivePolicy"]
    assert source["deadLetterQueueArn"] == moved["arn"]

    # out of band: a visibility timeout changed in AWS is reported, never written
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})
    operator.restart()
    with operator.clients.log.capture() as calls:
        source = operator.reconcile("Queue", "orders", source_spec)
    assert calls == ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags"]  # reads only
    assert condition(source, "Drifted")[:2] == ("True", "DriftDetected")
    assert [d["path"] for d in source["drift"]] == ["visibilityTimeoutSeconds"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "5"


# -- instance refresh: botocore's Stubber with AWS-shaped answers -------------------------------------

NAME = "team-a-web"
OWNER = "test-cluster/team-a/web"


def described(version: str) -> dict[str, Any]:
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": NAME,
                "AutoScalingGroupARN": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
                f"6d9a4f0e-0b9c-4c8e-9d0b-1f2e3d4c5b6a:autoScalingGroupName/{NAME}",
                "LaunchTemplate": {
                    "LaunchTemplateId": "lt-0abc",
                    "LaunchTemplateName": NAME,
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
                "Instances": [],
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


def template_object(default_version: int) -> dict[str, Any]:
    """The LaunchTemplate object as the API server shows it: Ready for its generation, with its status."""
    return {
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-lt", "generation": default_version},
        "spec": TEMPLATE,
        "status": {
            "id": "lt-0abc",
            "defaultVersion": default_version,
            "latestVersion": default_version,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Updated",
                    "observedGeneration": default_version,
                }
            ],
        },
    }


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Operator, Stubber]]:
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1, batch_window=0.0)
    )
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        EventRecorder,
        "post",
        lambda self, body, type, reason, message: events.append((type, reason, message)),
    )
    fake = FakeKube()
    for name in ("get", "list_objects", "annotate"):
        monkeypatch.setattr(kube, name, getattr(fake, name))
    stub = Stubber(clients.client("autoscaling", "us-east-1").raw)
    with stub:
        yield Operator(clients, fake, events), stub
        stub.assert_no_pending_responses()


def test_report_group_with_instance_refresh_follows_the_new_default_version_and_starts_one_refresh(
    stubbed: tuple[Operator, Stubber],
) -> None:
    operator, stub = stubbed
    spec = {**GROUP, "instanceRefresh": {"minHealthyPercentage": 50, "instanceWarmupSeconds": 60}}
    read = {"AutoScalingGroupNames": [NAME], "MaxRecords": 100}
    refreshes = {"AutoScalingGroupName": NAME, "MaxRecords": 1}
    operator.fake.objects[("LaunchTemplate", "web")] = template_object(1)
    stub.add_response("describe_auto_scaling_groups", described("1"), read)
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": []}, refreshes)
    group = operator.reconcile("AutoScalingGroup", "web", spec)
    assert condition(group, "Ready")[:2] == ("True", "UpToDate")  # first sight: the record is written
    assert group["resolvedReferences"][0]["values"] == {
        "id": "lt-0abc",
        "defaultVersion": "1",
        "latestVersion": "1",
    }

    operator.fake.objects[("LaunchTemplate", "web")] = template_object(2)
    operator.restart()
    stub.add_response("describe_auto_scaling_groups", described("1"), read)
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": []}, refreshes)
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
    group = operator.reconcile("AutoScalingGroup", "web", spec)
    ready = condition(group, "Ready")
    assert ready[:2] == ("True", "ReferenceChanged"), ready
    assert "defaultVersion 1 -> 2" in ready[2] and "launchTemplate: {version: 1 -> 2}" in ready[2]
    assert group["instanceRefresh"]["id"] == "5ea5a9b6-1b2c-4d3e-8f90-a1b2c3d4e5f6"
    assert group["instanceRefresh"]["status"] == "Pending"
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "2"
    assert [r for _, r, _ in operator.events] == ["ReferenceChanged"]


def test_stalled_group_waits_on_a_refused_version_and_follows_the_next_one(
    stubbed: tuple[Operator, Stubber],
) -> None:
    """AWS refuses the template's new version (terminal): Stalled, and the record keeps the version that
    reached AWS. The periodic re-check only reads while the template stays as it is; the template's next
    version (its nudge) is followed."""
    operator, stub = stubbed
    read = {"AutoScalingGroupNames": [NAME], "MaxRecords": 100}

    def update(version: str) -> dict[str, Any]:
        return {
            "AutoScalingGroupName": NAME,
            "MinSize": 1,
            "MaxSize": 3,
            "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": version},
            "AvailabilityZones": ["us-east-1a"],
        }

    operator.fake.objects[("LaunchTemplate", "web")] = template_object(1)
    stub.add_response("describe_auto_scaling_groups", described("1"), read)
    operator.reconcile("AutoScalingGroup", "web", GROUP)

    operator.fake.objects[("LaunchTemplate", "web")] = template_object(2)
    stub.add_response("describe_auto_scaling_groups", described("1"), read)
    refused = "The instance type t3.bogus is not supported in us-east-1a."
    stub.add_client_error(
        "update_auto_scaling_group", "ValidationError", refused, 400, expected_params=update("2")
    )
    group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    assert condition(group, "Stalled")[:2] == ("True", "ValidationError")
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "1"

    state = operator.rt.objects.get("uid-AutoScalingGroup-web")
    state.last_check = time.monotonic() - 3600  # the periodic check is due
    stub.add_response("describe_auto_scaling_groups", described("1"), read)  # reads only, no second refusal
    group = operator.reconcile("AutoScalingGroup", "web", GROUP, handler=handlers.drift_check)
    assert condition(group, "Stalled")[0] == "True"

    operator.fake.objects[("LaunchTemplate", "web")] = template_object(3)
    stub.add_response("describe_auto_scaling_groups", described("1"), read)
    stub.add_response("update_auto_scaling_group", {}, update("3"))
    group = operator.reconcile("AutoScalingGroup", "web", GROUP)
    ready = condition(group, "Ready")
    assert ready[:2] == ("True", "ReferenceChanged") and "defaultVersion 1 -> 3" in ready[2]
    assert condition(group, "Stalled")[0] == "False"
    assert group["resolvedReferences"][0]["values"]["defaultVersion"] == "3"


@pytest.mark.parametrize("retry, most", [(0, 2.5), (3, 20.0), (10, 60.0)], ids=["first", "fourth", "late"])
def test_template_delete_blocked_by_a_group_in_aws_looks_again_soon(
    operator: Operator, autoscaling: Any, retry: int, most: float
) -> None:
    """A template that AWS still sees used by a group (typically one deleted by the same `kubectl delete`)
    lifts by itself once the group is gone: it is retried like a reference InUse (2 s, 4 s, ... about a
    minute at most), not like a block that waits for an edit (60 s and more)."""
    spec = {**TEMPLATE, "deletionPolicy": "Delete"}
    operator.reconcile("LaunchTemplate", "web", spec)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="users-of-web",
        LaunchTemplate={"LaunchTemplateName": "team-a-web"},
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
    )
    status = operator.reconcile("LaunchTemplate", "web", spec, handler=handlers.delete, retry=retry)
    delay = operator.error.delay if operator.error else None
    assert delay is not None and 0 < delay <= most * 1.2  # with jitter
    assert [e[1] for e in operator.events] == ["InUseByAutoScalingGroup"]
    assert "users-of-web" in operator.events[0][2]
    assert autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"], "the group is untouched"
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Reconciling"] == ("True", "InUseByAutoScalingGroup")
    assert conditions["Stalled"] == ("False", "NotStalled"), "it lifts by itself: never Stalled"


def test_object_gone_without_its_delete_handler_is_forgotten_by_the_process(operator: Operator) -> None:
    """Someone removed the finalizer by hand: the delete handler never ran. The check that follows a
    deletion mark then finds the object gone, and its state, census entry and references go with it; an
    object whose deletion still runs (the same uid is there) is kept."""
    operator.reconcile("LaunchTemplate", "web", TEMPLATE)
    operator.reconcile("AutoScalingGroup", "web", GROUP)
    template = ObjectRef("LaunchTemplate", NS, "web", 1)
    assert operator.rt.references.users_of(KINDS["LaunchTemplate"], template) == [("AutoScalingGroup", "web")]
    assert len(operator.rt.objects) == 2
    assert "uid-AutoScalingGroup-web" in metrics.CENSUS._by_uid
    group = operator.fake.objects[("AutoScalingGroup", "web")]
    info, meta = KINDS["AutoScalingGroup"], group["metadata"]

    def check(timeout: float) -> None:
        asyncio.run(asyncio.wait_for(handlers.forget_when_gone(info, operator.rt, meta, 0.01), timeout))

    with pytest.raises(TimeoutError):
        check(0.3)  # its deletion still runs: kept, and looked at again later
    assert len(operator.rt.objects) == 2
    operator.fake.objects.pop(("AutoScalingGroup", "web"))  # gone without the delete handler
    check(5.0)
    assert len(operator.rt.objects) == 1
    assert operator.rt.references.users_of(KINDS["LaunchTemplate"], template) == []
    assert "uid-AutoScalingGroup-web" not in metrics.CENSUS._by_uid
    check(5.0)  # nothing left to forget: returns without a lookup


@pytest.mark.parametrize(
    ("source", "dlq", "types"),
    [
        ({}, {"fifo": True}, "is FIFO, this queue is standard"),
        ({"fifo": True}, {}, "is standard, this queue"),
    ],
    ids=["standard-to-fifo", "fifo-to-standard"],
)
def test_queue_whose_dead_letter_queue_has_the_other_type_stalls_before_any_aws_call(
    operator: Operator, aws: EmbeddedAws, source: dict[str, Any], dlq: dict[str, Any], types: str
) -> None:
    """The referenced Queue's spec says its type: the source is Stalled naming deadLetterQueue at once,
    even while the dead-letter queue is not Ready yet, and nothing is created for the source."""
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.url)
    operator.fake.objects[("Queue", "dlq")] = {"metadata": {"name": "dlq", "namespace": NS}, "spec": dlq}
    with operator.clients.log.capture() as calls:
        status = operator.reconcile(
            "Queue", "orders", {**source, "deadLetterQueue": {"ref": {"name": "dlq"}, "maxReceiveCount": 3}}
        )
    assert calls == []
    stalled = condition(status, "Stalled")
    assert stalled[:2] == ("True", "DeadLetterQueueTypeMismatch"), stalled
    assert stalled[2].startswith("deadLetterQueue: Queue dlq ") and types in stalled[2]
    assert ("Warning", "DeadLetterQueueTypeMismatch", stalled[2]) in operator.events
    assert sqs.list_queues().get("QueueUrls", []) == []
