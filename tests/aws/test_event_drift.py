"""Event-driven drift against the emulator: the channel (queue + rule) awsop owns, CloudTrail-shaped events
put on EventBridge (moto delivers PutEvents to SQS targets and accepts `aws.*` sources, which AWS refuses),
the consumer mapping them to objects, and the handlers' drift check they cause.

Events are built in the shape AWS documents for "AWS API Call via CloudTrail" events (detail.eventSource,
eventName, requestParameters, userIdentity, userAgent, eventTime)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import kopf
import pytest

from awsop.operator import event_drift, handlers, kube, metrics
from awsop.operator.event_drift import EventDrift
from awsop.operator.events import EventRecorder
from awsop.operator.settings import Settings
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.events import (
    HEARTBEAT_TAG,
    IAM_ACTIONS,
    EventChannels,
    channel_name,
    iam_actions,
    user_agent_marker,
)
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.sqs_queue import IAM_ACTIONS as QUEUE_IAM_ACTIONS

pytestmark = pytest.mark.aws
CLUSTER = "kube"
REGION = "us-east-1"
OWN_AGENT = f"Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux awsop/0.1 {user_agent_marker(CLUSTER)}"
CONSOLE_AGENT = "AWS Internal"


class Clock:
    """The manager's monotonic clock, moved by hand for silence."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class Rig:
    def __init__(self, rt: handlers.Runtime, drift: EventDrift, clock: Clock, aws: Any) -> None:
        self.rt, self.drift, self.clock, self.aws = rt, drift, clock, aws
        self.bodies: dict[str, dict[str, Any]] = {}
        self.checks: list[float] = []
        self.events = boto3.client("events", region_name=REGION, endpoint_url=aws.url)
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=aws.url)

    def apply(self, name: str, spec: dict[str, Any], kind: str = "Queue") -> dict[str, Any]:
        """Create the object (one reconcile) and keep its body with the status written."""
        obj = {
            "apiVersion": KINDS[kind].api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
            "spec": spec,
            "status": {},
        }
        self._run(handlers.reconcile, obj)
        self.bodies[name] = obj
        return obj

    def _run(self, fn: Any, obj: dict[str, Any]) -> None:
        written = self.rt.write
        before = len(written)  # type: ignore[arg-type]
        try:
            fn(
                KINDS[obj["kind"]],
                self.rt,
                body=obj,
                meta=obj["metadata"],
                spec=obj["spec"],
                status=obj["status"],
                patch=kopf.Patch(),
                retry=0,
            )
        finally:
            for patch in written[before:]:  # type: ignore[index]
                obj["status"] = {**obj["status"], **patch.get("status", {})}

    def check(self, name: str) -> float:
        """The object's drift daemon, once: runs the check if due; returns seconds until the next."""
        obj = self.bodies[name]
        written = self.rt.write
        before = len(written)  # type: ignore[arg-type]
        delay = handlers.drift_check(
            KINDS[obj["kind"]],
            self.rt,
            body=obj,
            meta=obj["metadata"],
            spec=obj["spec"],
            status=obj["status"],
            patch=kopf.Patch(),
        )
        for patch in written[before:]:  # type: ignore[index]
            obj["status"] = {**obj["status"], **patch.get("status", {})}
        return delay

    def channel(self) -> event_drift.ChannelState:
        state = self.drift.state_of(("", REGION))
        assert state is not None
        return state

    def pump(self) -> int:
        """Read the event queue until it is empty; returns the number of messages handled."""
        state = self.channel()
        handled = 0
        while True:
            assert state.channel is not None
            before = metrics.DRIFT_EVENTS_RECEIVED._value.get()
            assert self.drift.pump(state, wait_seconds=0)
            got = int(metrics.DRIFT_EVENTS_RECEIVED._value.get() - before)
            handled += got
            if not got:
                return handled

    def put(self, *events: dict[str, Any]) -> None:
        for start in range(0, len(events), 10):
            answer = self.events.put_events(Entries=list(events[start : start + 10]))
            assert answer["FailedEntryCount"] == 0


def cloudtrail(
    source: str,
    name: str,
    request: dict[str, Any],
    agent: str = CONSOLE_AGENT,
    principal: str = "arn:aws:iam::123456789012:user/alice",
    when: float | None = None,
) -> dict[str, Any]:
    """An EventBridge entry carrying a CloudTrail management event, as AWS documents it."""
    stamp = datetime.fromtimestamp(when if when is not None else time.time(), tz=UTC)
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": principal, "accountId": "123456789012"},
        "eventTime": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": None,
        "eventID": f"id-{time.time_ns()}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
    }
    return {
        "Source": "aws." + source.split(".")[0],
        "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps(detail),
    }


def set_attributes(url: str, **kwargs: Any) -> dict[str, Any]:
    return cloudtrail(
        "sqs.amazonaws.com",
        "SetQueueAttributes",
        {"queueUrl": url, "attributes": {k: str(v) for k, v in kwargs.items()}},
        **{k: v for k, v in kwargs.items() if k in ("agent", "principal", "when")},
    )


@pytest.fixture
def rig(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Rig:
    clients = AwsClients(
        AwsConfig(
            default_region=REGION,
            default_rate_limit=0,
            lookup_account_id=True,
            session_name=f"awsop-{CLUSTER}",
            user_agent_extra=f"awsop/0.1 {user_agent_marker(CLUSTER)}",
        )
    )
    settings = Settings(cluster_id=CLUSTER, event_drift=True, event_drift_wait_seconds=0)
    engine = Engine(clients, EngineConfig(cluster_id=CLUSTER))

    class Writes(list[dict[str, Any]]):
        def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
            self.append(body)

    class NoNamespaces(kube.NamespacePhases):
        def terminating(self, namespace: str) -> bool:
            return False

    rt = handlers.Runtime(
        settings,
        engine,
        {
            kind: KINDS[kind].make_client(clients)
            for kind in ("Queue", "Bucket", "Table", "LaunchTemplate", "AutoScalingGroup")
        },
        write=Writes(),
        namespaces=NoNamespaces(),
    )
    clock = Clock()
    drift = EventDrift(settings, engine, rt.objects, clock=clock)
    rt.event_drift = drift
    monkeypatch.setattr(EventRecorder, "post", lambda *a, **k: None)
    monkeypatch.setattr(kube, "annotate", lambda *a, **k: None)
    return Rig(rt, drift, clock, aws)


def drifted(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Drifted" and c["status"] == "True" for c in obj["status"].get("conditions", []))


def run_until_checked(rig: Rig, name: str, limit: float = 10.0) -> int:
    """Play the object's drift daemon until its event-driven check ran (or `limit` seconds passed);
    returns the number of event-driven checks."""
    before = rig.drift.checks
    deadline = time.monotonic() + limit
    while rig.drift.checks == before and time.monotonic() < deadline:
        delay = rig.check(name)
        if rig.drift.checks == before:
            time.sleep(min(max(delay, 0.01), 0.2))
    return rig.drift.checks - before


def test_channel_made_once_owned_and_a_second_round_writes_nothing(rig: Rig) -> None:
    rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    log = rig.rt.engine.clients.log
    log.clear()
    rig.drift.run_once()
    first = list(log.calls)
    assert "sqs:CreateQueue" in first and "events:PutRule" in first and "events:PutTargets" in first
    assert rig.channel().channel is not None and rig.channel().reason == "NoRecentEvents"
    name = channel_name(CLUSTER)
    url = rig.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    tags = rig.sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags["awsop.io/owner"] == f"{CLUSTER}//event-drift" and HEARTBEAT_TAG in tags
    rule = rig.events.describe_rule(Name=name)
    rule_tags = rig.events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
    assert {"Key": "awsop.io/owner", "Value": f"{CLUSTER}//event-drift"} in rule_tags
    policy = json.loads(
        rig.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert policy["Statement"][0]["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
    # the next check of the channel within the heartbeat period: reads only
    log.clear()
    rig.channel().next_ensure = 0.0
    rig.drift.run_once()
    writes = [c for c in log.calls if not c.split(":")[1].startswith(("Get", "List", "Describe"))]
    assert writes == [] and log.calls, log.calls
    # every operation the channel and the consumer call is in the IAM tables awsop iam-policy prints
    rig.put(set_attributes("https://sqs/123/x", VisibilityTimeout=1))
    rig.pump()
    called = {c.split(":")[1] for c in log.calls} | {c.split(":")[1] for c in first}
    called.discard("GetCallerIdentity")  # the operator's account id: the kinds' policy has it
    needed = {a for op in called for a in {**QUEUE_IAM_ACTIONS, **IAM_ACTIONS}[op]}
    # what the channel may need beyond these scenarios: putting a changed queue back
    correcting = {"sqs:SetQueueAttributes", "sqs:UntagQueue"}
    assert needed | correcting == set(iam_actions()), sorted(set(iam_actions()) ^ (needed | correcting))


def test_out_of_band_set_queue_attributes_gives_one_check_and_drifted_within_seconds(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30, "driftPolicy": "Report"})
    rig.drift.run_once()
    url = obj["status"]["url"]
    changed_at = time.time()
    rig.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})  # by hand
    rig.put(set_attributes(url, VisibilityTimeout=45, when=changed_at))
    log = rig.rt.engine.clients.log
    log.clear()
    assert rig.pump() == 1
    checks = run_until_checked(rig, "orders")
    elapsed = time.time() - changed_at
    assert checks == 1 and drifted(obj), obj["status"]
    assert elapsed < 10.0
    assert obj["status"]["drift"][0]["path"] == "visibilityTimeoutSeconds"
    # the check only read (Report), and nothing else is due for a period
    reads = [c for c in log.calls if c.startswith("sqs:") and "Message" not in c]
    assert reads == ["sqs:GetQueueAttributes", "sqs:ListQueueTags"], log.calls
    for _ in range(3):
        assert rig.check("orders") > 60
    assert rig.drift.checks == 1
    with capsys.disabled():
        print(f"\nBENCH event-driven drift: out-of-band SetQueueAttributes -> Drifted in {elapsed:.2f} s")


def test_burst_of_events_for_one_queue_gives_one_check(rig: Rig) -> None:
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30, "driftPolicy": "Report"})
    rig.drift.run_once()
    url = obj["status"]["url"]
    rig.put(*[set_attributes(url, VisibilityTimeout=31 + i) for i in range(30)])
    assert rig.pump() == 30
    assert run_until_checked(rig, "orders") == 1
    time.sleep(event_drift.DEBOUNCE_SECONDS + 0.2)
    for _ in range(3):
        rig.check("orders")
    assert rig.drift.checks == 1


def test_a_thousand_events_for_unmanaged_resources_give_no_check(rig: Rig) -> None:
    """20 go the whole way (PutEvents -> rule -> queue -> consumer); the other 980 are those messages'
    bodies as delivered, with other names, handed to the consumer directly (moto takes about 0.4 s per
    PutEvents call and per receive on this machine: 1,000 through it would cost minutes)."""
    rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    before = metrics.DRIFT_EVENTS.labels("unmanaged")._value.get()
    other = "https://sqs.us-east-1.amazonaws.com/123456789012/other"
    rig.put(*[set_attributes(f"{other}-{i}", DelaySeconds=1) for i in range(10)])
    rig.put(
        *[cloudtrail("s3.amazonaws.com", "PutBucketVersioning", {"bucketName": f"b-{i}"}) for i in range(10)]
    )
    state = rig.channel()
    assert state.channel is not None
    delivered = rig.drift.channels_aws.receive(state.channel, None, 0)
    assert rig.pump() == 20 - len(delivered)
    rig.drift.handle(state, [body for _, body in delivered])
    template = json.loads(delivered[0][1])
    bodies = []
    for i in range(980):
        event = json.loads(json.dumps(template))
        request = event["detail"]["requestParameters"]
        if "queueUrl" in request:
            request["queueUrl"] = f"{other}-x{i}"
        else:
            request["bucketName"] = f"bx-{i}"
        bodies.append(json.dumps(event))
    started = time.perf_counter()
    rig.drift.handle(state, bodies)
    took = time.perf_counter() - started
    assert metrics.DRIFT_EVENTS.labels("unmanaged")._value.get() - before == 1000
    assert rig.rt.objects.get("uid-orders").event_due is None
    rig.check("orders")
    assert rig.drift.checks == 0
    assert took < 2.0  # about 40 us per event here


def test_awsops_own_writes_give_no_check(rig: Rig) -> None:
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    url = obj["status"]["url"]
    # the user agent botocore really sends for awsop's calls carries the operator's token
    sent: list[str] = []
    sqs = rig.rt.engine.clients.client("sqs", REGION)
    sqs.meta.events.register(
        "before-send.sqs", lambda request, **_: sent.append(request.headers["User-Agent"])
    )
    obj["spec"] = {"visibilityTimeoutSeconds": 60}
    obj["metadata"]["generation"] = 2
    rig._run(handlers.reconcile, obj)  # awsop's own SetQueueAttributes
    agent = sent[-1].decode() if isinstance(sent[-1], bytes) else sent[-1]
    assert user_agent_marker(CLUSTER) in agent.split()
    before = metrics.DRIFT_EVENTS.labels("own")._value.get()
    rig.put(
        set_attributes(url, VisibilityTimeout=60, agent=agent),
        # an AWSAccount role: CloudTrail names awsop's session in the principal
        set_attributes(
            url, VisibilityTimeout=60, principal=f"arn:aws:sts::123456789012:assumed-role/r/awsop-{CLUSTER}"
        ),
    )
    assert rig.pump() == 2
    assert metrics.DRIFT_EVENTS.labels("own")._value.get() - before == 2
    assert rig.rt.objects.get("uid-orders").event_due is None
    rig.check("orders")
    assert rig.drift.checks == 0
    assert rig.drift.flowing(("", REGION))  # own events still prove that events arrive


def test_malformed_message_is_logged_and_deleted(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    url = rig.channel().channel.queue_url  # type: ignore[union-attr]
    before = metrics.DRIFT_EVENTS.labels("malformed")._value.get()
    for body in (
        "not json",
        "[]",
        json.dumps({"detail-type": "Scheduled Event", "detail": {}}),
        json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "X"}}),
    ):
        rig.sqs.send_message(QueueUrl=url, MessageBody=body)
    with caplog.at_level(logging.WARNING, logger="awsop"):
        assert rig.pump() == 4
    assert metrics.DRIFT_EVENTS.labels("malformed")._value.get() - before == 4
    assert "malformed message deleted" in caplog.text
    attrs = rig.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    )
    assert rig.drift.checks == 0


def test_resync_lengthens_while_events_flow_and_returns_after_silence(rig: Rig) -> None:
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    uid = "uid-orders"
    assert rig.drift.period(uid, 300.0) == 300.0  # no event yet: normal polling
    rig.put(cloudtrail("s3.amazonaws.com", "PutBucketTagging", {"bucketName": "someone-elses"}))
    rig.pump()
    assert rig.drift.period(uid, 300.0) == 3600.0
    assert 3000 < rig.check("orders") <= 3600  # the daemon sleeps an hour
    rig.drift.publish()
    assert metrics.RESYNC_PERIOD.labels("operator", REGION)._value.get() == 3600.0
    assert metrics.DRIFT_EVENTS_FLOWING.labels("operator", REGION)._value.get() == 1
    rig.clock.offset += rig.rt.settings.event_drift_silence_seconds + 1  # nothing for 15 minutes
    assert rig.drift.period(uid, 300.0) == 300.0
    rig.drift.publish()
    assert metrics.DRIFT_EVENTS_FLOWING.labels("operator", REGION)._value.get() == 0
    assert obj["status"]["url"]


def test_queue_deleted_by_hand_is_made_again_and_polling_is_normal_meanwhile(rig: Rig) -> None:
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    rig.put(set_attributes(obj["status"]["url"], VisibilityTimeout=30, agent=OWN_AGENT))
    rig.pump()
    assert rig.drift.period("uid-orders", 300.0) == 3600.0
    old = rig.channel().channel.queue_url  # type: ignore[union-attr]
    rig.sqs.delete_queue(QueueUrl=old)
    assert not rig.drift.pump(rig.channel(), wait_seconds=0)
    assert rig.channel().reason == "QueueMissing"
    assert rig.drift.period("uid-orders", 300.0) == 300.0
    assert 200 < rig.check("orders") <= 300
    rig.drift.run_once()  # the manager's next round
    name = channel_name(CLUSTER)
    assert rig.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    assert rig.channel().reason == "NoRecentEvents"  # made again; flowing only once an event arrives
    assert rig.drift.period("uid-orders", 300.0) == 300.0
    rig.put(set_attributes(obj["status"]["url"], VisibilityTimeout=30, agent=OWN_AGENT))
    assert rig.pump() == 1
    assert rig.drift.period("uid-orders", 300.0) == 3600.0


def test_account_condition_says_why_events_do_not_arrive(rig: Rig) -> None:
    from awsop.reconcilers.account import ResolvedAccount

    account = ResolvedAccount(
        name="team-a", role_arn="arn:aws:iam::123456789012:role/awsop", event_drift=True
    )
    told: list[tuple[str, dict[str, Any]]] = []
    rig.drift.write_condition = lambda name, condition: told.append((name, condition))
    rig.drift.index.record("uid-x", "Queue", account, REGION, ["x"])
    with rig.drift._lock:
        rig.drift._channels[("team-a", REGION)] = event_drift.ChannelState(
            ("team-a", REGION),
            account,
            reason="QueueMissing",
            message="the event queue was deleted",
            next_ensure=float("inf"),
        )
    rig.drift.publish()
    assert told[-1][0] == "team-a"
    assert (told[-1][1]["status"], told[-1][1]["reason"]) == ("False", "QueueMissing")
    rig.drift._arrived(rig.drift._channels[("team-a", REGION)])
    rig.drift.publish()
    assert (told[-1][1]["status"], told[-1][1]["reason"]) == ("True", "EventsArriving")
    count = len(told)
    rig.drift.publish()
    assert len(told) == count  # told on change only


@pytest.mark.parametrize(
    "kind,spec,change,event",
    [
        (
            "Bucket",
            {"versioning": "Enabled", "driftPolicy": "Report"},
            lambda aws: boto3.client("s3", region_name=REGION, endpoint_url=aws.url).put_bucket_versioning(
                Bucket="ns-data", VersioningConfiguration={"Status": "Suspended"}
            ),
            cloudtrail(
                "s3.amazonaws.com",
                "PutBucketVersioning",
                {"bucketName": "ns-data", "VersioningConfiguration": {"Status": "Suspended"}},
            ),
        ),
        (
            "Table",
            {
                "partitionKey": {"name": "pk", "type": "S"},
                "pointInTimeRecovery": {"enabled": True},
                "driftPolicy": "Report",
            },
            lambda aws: boto3.client(
                "dynamodb", region_name=REGION, endpoint_url=aws.url
            ).update_continuous_backups(
                TableName="ns-data",
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
            ),
            cloudtrail(
                "dynamodb.amazonaws.com",
                "UpdateContinuousBackups",
                {
                    "tableName": "ns-data",
                    "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": False},
                },
            ),
        ),
    ],
    ids=["bucket-facet", "table"],
)
def test_out_of_band_change_of_a_bucket_facet_or_table_is_drifted_within_seconds(
    rig: Rig, kind: str, spec: dict[str, Any], change: Any, event: dict[str, Any]
) -> None:
    obj = rig.apply("data", spec, kind=kind)
    assert not drifted(obj), obj["status"]
    rig.drift.run_once()
    started = time.time()
    change(rig.aws)
    rig.put(event)
    assert rig.pump() == 1
    assert run_until_checked(rig, "data") == 1
    assert drifted(obj) and time.time() - started < 10.0, obj["status"]


def test_rule_deleted_by_hand_is_made_again_after_the_silence(rig: Rig) -> None:
    rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    rig.put(cloudtrail("s3.amazonaws.com", "PutBucketTagging", {"bucketName": "x"}))
    rig.pump()
    assert rig.drift.flowing(("", REGION))
    name = channel_name(CLUSTER)
    rig.events.remove_targets(Rule=name, Ids=["awsop-event-queue"])
    rig.events.delete_rule(Name=name)
    rig.clock.offset += rig.rt.settings.event_drift_silence_seconds + 1  # no event since, heartbeats included
    rig.drift.run_once()
    assert rig.events.describe_rule(Name=name)["State"] == "ENABLED"
    assert rig.events.list_targets_by_rule(Rule=name)["Targets"]
    state = rig.channel()
    assert state.reason == "NoRecentEvents" and not rig.drift.flowing(("", REGION))
    assert "put back (events:PutRule, events:PutTargets)" in state.message
    assert rig.drift.period("uid-orders", 300.0) == 300.0


def test_iam_policy_with_event_drift_adds_one_statement(capsys: pytest.CaptureFixture[str]) -> None:
    from awsop.operator.cli import main

    assert main(["iam-policy", "--kind", "Bucket", "--event-drift"]) == 0
    policy = json.loads(capsys.readouterr().out)
    statement = policy["Statement"][-1]
    assert statement["Sid"] == "AwsopEventDrift" and statement["Action"] == iam_actions()
    assert {"events:PutRule", "sqs:ReceiveMessage", "sqs:CreateQueue"} <= set(statement["Action"])
    assert "sqs:DeleteQueue" not in statement["Action"]  # the queue is retained, never deleted


def test_read_calls_per_object_per_day_drop_tenfold_with_events(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Computed from the periods in force and the calls measured here: reads of one routine no-op check
    of a queue, and of one re-check of the channel (queue + rule). Checks per day = 86,400 / (period x 0.95,
    the mean of the 0.9-1.0 jitter); the channel is read once per resync period while events arrive."""
    obj = rig.apply("orders", {"visibilityTimeoutSeconds": 30})
    rig.drift.run_once()
    log = rig.rt.engine.clients.log
    state = rig.rt.objects.get("uid-orders")
    state.last_check = time.monotonic() - 10_000  # due
    log.clear()
    rig.check("orders")
    per_check = len(log.calls)
    assert log.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags"]
    log.clear()
    rig.channel().next_ensure = 0.0
    rig.channel().heartbeat_at = float("inf")
    rig.drift.run_once()
    channel_reads = len(log.calls)
    assert all(c.split(":")[1].startswith(("Get", "List", "Describe")) for c in log.calls), log.calls
    settings = rig.rt.settings
    day, objects = 86_400.0, 100
    off = objects * per_check * day / (settings.resync_seconds * 0.95)
    on = objects * per_check * day / (settings.event_drift_resync_seconds * 0.95)
    on += channel_reads * day / settings.event_drift_resync_seconds
    receives = day / Settings().event_drift_wait_seconds  # 20 s long polls of an idle queue (the default)
    heartbeats = day / settings.event_drift_heartbeat_seconds
    assert off / on >= 10, (off, on)
    with capsys.disabled():
        print(
            f"\nBENCH event-driven drift, {objects} unchanged queues, AWS read calls per day: events off "
            f"{off:,.0f} ({off / objects:.0f} per object), events on {on:,.0f} "
            f"({on / objects:.1f} per object, "
            f"channel re-checks {channel_reads * day / settings.event_drift_resync_seconds:.0f} included): "
            f"{off / on:.1f}x fewer; plus per (account, region) {receives:,.0f} ReceiveMessage long polls "
            f"and {heartbeats:.0f} heartbeat TagQueue writes"
        )
    assert obj["status"]["url"]


def test_awsaccount_status_carries_events_arriving_next_to_ready(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awsop.operator import accounts
    from awsop.reconcilers.account import AWSAccountSpec, ResolvedAccount

    spec = {"roleArn": "arn:aws:iam::123456789012:role/awsop", "eventDrift": True}
    account = ResolvedAccount.of("team-a", AWSAccountSpec.model_validate(spec))
    assert account.event_drift
    monkeypatch.setattr(accounts.AccountRuntime, "clients", rig.rt.engine.clients, raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "settings", Settings(), raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "directory", accounts.AccountDirectory(), raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "event_condition", rig.drift.condition_of, raising=False)
    with rig.drift._lock:
        rig.drift._channels[("team-a", REGION)] = event_drift.ChannelState(
            ("team-a", REGION), account, reason="QueueMissing", message="the event queue was deleted"
        )

    def check(status: dict[str, Any], account_spec: dict[str, Any]) -> dict[str, Any]:
        patch = kopf.Patch()
        ready, _ = accounts.check_account("team-a", {}, {"generation": 1}, account_spec, status, patch)
        assert ready
        return {**status, **patch.get("status", {})}

    status = check({}, spec)
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == "True"
    events = by_type["EventsArriving"]
    assert (events["status"], events["reason"]) == ("False", "QueueMissing")
    assert events["message"].startswith(f"{REGION}: the event queue was deleted")
    rig.drift._arrived(rig.drift._channels[("team-a", REGION)])
    again = check(status, spec)
    by_type = {c["type"]: c for c in again["conditions"]}
    assert (by_type["EventsArriving"]["status"], by_type["EventsArriving"]["reason"]) == (
        "True",
        "EventsArriving",
    )
    assert (
        by_type["Ready"]["lastTransitionTime"]
        == {c["type"]: c for c in status["conditions"]}["Ready"]["lastTransitionTime"]
    )
    off = check({}, {**spec, "eventDrift": False})  # not on for this account: no such condition
    assert [c["type"] for c in off["conditions"]] == ["Ready"]


def test_out_of_band_change_of_an_auto_scaling_group_is_drifted_within_seconds(rig: Rig) -> None:
    template = {"name": "ns-web-lt", "imageId": "ami-12345678", "instanceType": "t3.micro"}
    rig.apply("web-lt", template, kind="LaunchTemplate")
    group = rig.apply(
        "web",
        {
            "launchTemplate": {"name": "ns-web-lt"},
            "minSize": 1,
            "maxSize": 4,
            "availabilityZones": ["us-east-1a"],
            "driftPolicy": "Report",
        },
        kind="AutoScalingGroup",
    )
    assert not drifted(group), group["status"]
    rig.drift.run_once()
    started = time.time()
    boto3.client("autoscaling", region_name=REGION, endpoint_url=rig.aws.url).update_auto_scaling_group(
        AutoScalingGroupName="ns-web", MaxSize=9
    )
    rig.put(
        cloudtrail(
            "autoscaling.amazonaws.com",
            "UpdateAutoScalingGroup",
            {"autoScalingGroupName": "ns-web", "maxSize": 9},
        )
    )
    assert rig.pump() == 1
    assert run_until_checked(rig, "web") == 1
    assert drifted(group) and time.time() - started < 10.0, group["status"]
    assert [d["path"] for d in group["status"]["drift"]] == ["maxSize"]


def test_each_shard_consumes_a_channel_of_its_own(aws: Any) -> None:
    """An SQS message reaches one consumer: shards sharing a queue would drop each other's events as
    unknown, so each shard of a sharded installation makes its own queue and rule, owned by name."""
    clients = AwsClients(AwsConfig(default_region=REGION, default_rate_limit=0, lookup_account_id=True))
    engine = Engine(clients, EngineConfig(cluster_id=CLUSTER))
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    urls = {
        shard: EventChannels(engine, shard=shard).ensure(REGION, account, ReconcileContext()).queue_url
        for shard in ("", "b")
    }
    assert urls[""] != urls["b"] and urls["b"].endswith(channel_name(CLUSTER, "b"))
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    for shard, owner in (("", f"{CLUSTER}//event-drift"), ("b", f"{CLUSTER}//event-drift-b")):
        assert sqs.list_queue_tags(QueueUrl=urls[shard])["Tags"]["awsop.io/owner"] == owner
        rule = events.describe_rule(Name=channel_name(CLUSTER, shard))
        assert {"Key": "awsop.io/owner", "Value": owner} in events.list_tags_for_resource(
            ResourceARN=rule["Arn"]
        )["Tags"]
