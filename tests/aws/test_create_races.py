"""A create is confirmed only by a read that shows our owner tag: failed tag writes, races between two
clusters and between two runs of one owner, and the create-pending timestamp, against moto over HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from test_faults import Faults

from awsop.reconcilers import engine as engine_module
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "race", "data", 1)
NAME = "race-data"
SPEC = BucketSpec.model_validate({"versioning": "Enabled", "tags": {"team": "a"}})


@pytest.fixture(autouse=True)
def quick_confirm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "CONFIRM_DELAY", 0.01, raising=False)


def tags_of(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        return {}


def names(s3: Any) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def new_engine(cluster_id: str) -> Engine:
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3))
    return Engine(clients, EngineConfig(cluster_id=cluster_id))


def before_create_run(engine: Engine, action: Any) -> None:
    """Run `action` just before this engine's CreateBucket goes out: the other side of a race."""
    done = {"ran": False}

    def hook(**_: Any) -> None:
        if not done["ran"]:
            done["ran"] = True
            action()

    engine.clients.client("s3").meta.events.register_first("before-call.s3.CreateBucket", hook)
    engine.clients.client("s3", "eu-west-1").meta.events.register_first("before-call.s3.CreateBucket", hook)


def test_tag_write_failing_after_create_is_retried_within_the_reconcile(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    faults = Faults(engine.clients, "5xx", count=4, operation="PutBucketTagging")
    outcome = engine.reconcile(buckets, REF, SPEC)
    assert outcome.state is State.READY and outcome.reason == "Created", outcome.message
    assert faults.injected == 4
    assert tags_of(s3, NAME)[OWNER_TAG] == "test-cluster/race/data"


def test_tag_write_that_keeps_failing_deletes_the_bucket_it_just_created(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    Faults(engine.clients, "5xx", count=1000, operation="PutBucketTagging")
    outcome = engine.reconcile(buckets, REF, SPEC)
    assert outcome.state is State.ERROR and outcome.error_class is ErrorClass.RECOVERABLE
    assert outcome.reason == "TaggingFailed" and "deleted again" in outcome.message
    assert NAME not in names(s3), "no untagged orphan is left behind"
    assert outcome.calls[-1] == "s3:DeleteBucket"
    assert "s3:PutBucketVersioning" not in outcome.calls, "nothing is configured on an unconfirmed bucket"


def test_tag_write_denied_after_create_deletes_the_bucket_and_reports_access(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    def deny(request: Any, **_: Any) -> Any:
        from test_faults import _error_response

        return _error_response(403, "AccessDenied")

    engine.clients.client("s3").meta.events.register_first("before-send.s3.PutBucketTagging", deny)
    outcome = engine.reconcile(buckets, REF, SPEC)
    assert outcome.error_class is ErrorClass.ACCESS, outcome.message
    assert NAME not in names(s3)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_two_clusters_racing_for_one_name_one_wins_the_loser_writes_nothing(s3: Any, region: str) -> None:
    winner, loser = new_engine("cluster-a"), new_engine("cluster-b")
    spec = SPEC.model_copy(update={"region": region})
    first: dict[str, Any] = {}
    before_create_run(
        loser, lambda: first.setdefault("o", winner.reconcile(BucketClient(winner.clients), REF, spec))
    )
    lost = loser.reconcile(BucketClient(loser.clients), REF, spec)
    assert first["o"].state is State.READY and first["o"].reason == "Created"
    assert lost.state is State.STALLED and lost.reason == "OwnedByAnother", lost.message
    create_at = lost.calls.index("s3:CreateBucket")
    assert not [c for c in lost.calls[create_at + 1 :] if ":Put" in c or ":Delete" in c], lost.calls
    assert tags_of(s3, NAME)[OWNER_TAG] == "cluster-a/race/data"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_two_runs_of_one_owner_creating_at_once_both_converge(s3: Any, region: str) -> None:
    """eu-west-1 answers BucketAlreadyOwnedByYou, us-east-1 answers 200: both end Ready, one bucket."""
    one, two = new_engine("same"), new_engine("same")
    spec = SPEC.model_copy(update={"region": region})
    first: dict[str, Any] = {}
    before_create_run(two, lambda: first.setdefault("o", one.reconcile(BucketClient(one.clients), REF, spec)))
    second = two.reconcile(BucketClient(two.clients), REF, spec)
    assert first["o"].state is State.READY
    assert second.state is State.READY, f"{second.reason}: {second.message}"
    assert names(s3) == [NAME]
    assert tags_of(s3, NAME)[OWNER_TAG] == "same/race/data"


def test_create_pending_claims_an_untagged_bucket_created_after_the_mark(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    since = time.time() - 1
    s3.create_bucket(Bucket=NAME)  # the crashed create: untagged
    outcome = engine.reconcile(buckets, REF, SPEC, create_pending=since)
    assert outcome.state is State.READY and outcome.reason == "Adopted", outcome.message
    assert "s3:ListBuckets" in outcome.calls and "s3:CreateBucket" not in outcome.calls


def test_create_pending_claims_its_bucket_when_a_longer_name_was_made_first(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    """`reports-replica` made before `reports` (a replication target first): ListBuckets by the prefix
    answers both, in creation order on moto; the creation date is still that of the bucket named."""
    since = time.time() - 1
    s3.create_bucket(Bucket=f"{NAME}-replica")
    s3.create_bucket(Bucket=NAME)  # the crashed create: untagged
    outcome = engine.reconcile(buckets, REF, SPEC, create_pending=since)
    assert outcome.state is State.READY and outcome.reason == "Adopted", outcome.message


def test_create_pending_never_claims_a_bucket_older_than_the_mark(
    engine: Engine, buckets: BucketClient, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket=NAME)  # someone else's untagged bucket, there before our mark
    later = time.time() + 3600
    monkeypatch.setattr(engine_module, "_now", lambda: later)  # and older than the create window
    outcome = engine.reconcile(buckets, REF, SPEC, create_pending=later)
    assert outcome.state is State.STALLED and outcome.reason == "AlreadyExists", outcome.message
    assert tags_of(s3, NAME) == {}
    deleted = engine.delete(
        buckets, REF, SPEC.model_copy(update={"deletion_policy": "Delete"}), create_pending=later
    )
    assert deleted.reason == "NotOwned" and NAME in names(s3)


def test_default_tags_count_toward_the_tag_limit(clients: AwsClients, buckets: BucketClient, s3: Any) -> None:
    engine = Engine(clients, EngineConfig(cluster_id="c", default_tags={"cost-center": "42"}))
    spec = BucketSpec.model_validate({"tags": {f"k{i}": "v" for i in range(48)}})
    outcome = engine.reconcile(buckets, REF, spec)
    assert outcome.state is State.STALLED and outcome.reason == "TooManyTags", outcome.message
    assert "51 tags" in outcome.message and outcome.calls == []
    assert NAME not in names(s3)


# -- a young untagged bucket: another run's create whose tags are not confirmed yet -------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_young_untagged_bucket_of_another_run_is_awaited_never_taken_for_a_conflict(
    s3: Any, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run two looks while run one's new bucket exists without its tags (an API that ignores tags at
    create, as moto does): two re-reads it, writes nothing to it, and converges once one's owner tag
    shows. Both end Ready with one bucket."""
    monkeypatch.setattr(engine_module, "CONFIRM_DELAY", 0.1, raising=False)
    one, two = new_engine("same"), new_engine("same")
    spec = SPEC.model_copy(update={"region": region})
    saw_it = threading.Event()
    result: dict[str, Any] = {}

    def seen(**_: Any) -> None:
        saw_it.set()

    def look_now(**_: Any) -> None:  # before one's tag write: two observes the untagged bucket
        if "thread" not in result:
            result["thread"] = threading.Thread(
                target=lambda: result.setdefault("two", two.reconcile(BucketClient(two.clients), REF, spec))
            )
            result["thread"].start()
            assert saw_it.wait(30), "run two never read the bucket's creation time"

    for where in ("us-east-1", "eu-west-1"):
        one.clients.client("s3", where).meta.events.register_first(
            "before-call.s3.PutBucketTagging", look_now
        )
        two.clients.client("s3", where).meta.events.register("after-call.s3.ListBuckets", seen)
    first = one.reconcile(BucketClient(one.clients), REF, spec)
    result["thread"].join(60)
    second = result["two"]
    assert first.state is State.READY and first.reason == "Created", first.message
    assert second.state is State.READY, f"{second.reason}: {second.message}"
    before_owner = second.calls[: second.calls.index("s3:ListBuckets")]
    assert not [c for c in before_owner if ":Put" in c or ":Delete" in c], second.calls
    assert names(s3) == [NAME]
    assert tags_of(s3, NAME)[OWNER_TAG] == "same/race/data"


def test_young_untagged_bucket_is_create_in_progress_then_a_conflict_after_the_window(
    clients: AwsClients, buckets: BucketClient, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket=NAME)  # untagged, and nobody is going to tag it
    engine = Engine(clients, EngineConfig(cluster_id="c", create_window=30))
    young = engine.reconcile(buckets, REF, SPEC)
    assert young.state is State.ERROR and young.error_class is ErrorClass.RECOVERABLE, young.message
    assert young.reason == "CreateInProgress" and "nothing was written to it" in young.message
    assert not [c for c in young.calls if ":Put" in c or ":Delete" in c or ":Create" in c], young.calls
    assert young.calls.count("s3:GetBucketTagging") == 1 + engine_module.CONFIRM_ATTEMPTS  # re-read
    assert tags_of(s3, NAME) == {}

    monkeypatch.setattr(engine_module, "_now", lambda: time.time() + 30)
    old = engine.reconcile(buckets, REF, SPEC)
    assert old.state is State.STALLED and old.reason == "AlreadyExists", old.message
    assert tags_of(s3, NAME) == {}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_two_cli_applies_at_once_on_two_machines_both_exit_0(
    aws: Any, s3: Any, region: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race as CI meets it (two jobs, same cluster id, no shared journal), a few trials."""
    from awsop.operator import cli

    monkeypatch.setenv("AWSOP_CLUSTER_ID", "ci")
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")
    for trial in range(4):
        name = f"ci-race-{region}-{trial}"
        path = tmp_path / f"{trial}.yaml"
        path.write_text(
            "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\n"
            f"metadata: {{name: b{trial}, namespace: race}}\nspec: {{name: {name}, region: {region}, "
            "versioning: Enabled}\n"
        )
        codes: dict[str, int] = {}

        def run(job: str, path: Any = path, codes: dict[str, int] = codes) -> None:
            codes[job] = cli.main(["apply", "-f", str(path), "--journal", str(tmp_path / f"{job}.json")])

        jobs = [threading.Thread(target=run, args=(job,)) for job in ("a", "b")]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(120)
        assert codes == {"a": 0, "b": 0}, f"trial {trial}"
        assert tags_of(s3, name)[OWNER_TAG] == "ci/race/b" + str(trial)
    assert len([n for n in names(s3) if n.startswith("ci-race-")]) == 4


CREATE_MARKS = {  # kind -> (spec, whether the create-pending mark is recorded before its create)
    "Bucket": ({"tags": {"team": "a"}}, True),  # CreateBucket may leave an untagged bucket (tag_owner)
    "Queue": ({"tags": {"team": "a"}}, False),  # CreateQueue takes the tags with the create
    "Table": ({"partitionKey": {"name": "pk", "type": "S"}}, False),
    "LaunchTemplate": ({"imageId": "ami-12345678", "instanceType": "t3.micro"}, False),
    "AutoScalingGroup": (
        {
            "launchTemplate": {"name": "tpl-a"},
            "minSize": 0,
            "maxSize": 1,
            "availabilityZones": ["us-east-1a"],
        },
        False,
    ),
}


@pytest.mark.parametrize("kind", list(CREATE_MARKS))
def test_create_pending_mark_only_where_a_create_can_leave_the_resource_untagged(
    clients: AwsClients, kind: str
) -> None:
    """The mark costs a Kubernetes write before every create; kinds whose create call carries the owner
    tag (AWS tags with the create or refuses it) never leave an untagged resource behind, so they skip it
    and are still created, tagged and Ready."""
    from awsop.reconcilers.kinds import KINDS

    info = KINDS[kind]
    if kind == "AutoScalingGroup":  # its launch template must exist
        clients.client("ec2").create_launch_template(
            LaunchTemplateName="tpl-a", LaunchTemplateData={"ImageId": "ami-12345678"}
        )
    spec_body, marked = CREATE_MARKS[kind]
    spec = info.spec_model.model_validate(spec_body)
    engine = Engine(clients, EngineConfig(cluster_id="kube"))
    marks: list[float] = []
    outcome = engine.reconcile(
        info.make_client(clients),
        ObjectRef(kind, "race", "data", 1),
        spec,
        before_create=lambda: marks.append(1.0),
    )
    assert outcome.state is State.READY and outcome.reason == "Created", outcome.message
    assert bool(marks) is marked
