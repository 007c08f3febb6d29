"""Many AWS accounts from one operator, against moto's server.

moto places what credentials from sts:AssumeRole create in the role's account (the account in the role
ARN; the role need not exist while IAM is not enforced), so two AWSAccounts are two separate AWS accounts
here: a bucket made for one is not visible to the other's credentials. The denial path runs with moto's
IAM enforcement on (the operator's user may or may not call sts:AssumeRole).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import kopf
import pytest

from awsop.operator import accounts, handlers, kube
from awsop.operator.embedded import EmbeddedAws
from awsop.operator.events import EventRecorder
from awsop.operator.settings import Settings
from awsop.reconcilers.account import AccountRef, AWSAccountSpec, ResolvedAccount, resolve_account
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS

pytestmark = pytest.mark.aws
OWN = "123456789012"  # moto's default account: the operator's own credentials
ACCT_A, ACCT_B = "111111111111", "222222222222"
ROLE_A, ROLE_B = f"arn:aws:iam::{ACCT_A}:role/awsop", f"arn:aws:iam::{ACCT_B}:role/awsop"
SPEC_A = AWSAccountSpec(role_arn=ROLE_A, namespaces=["team-a"], default_tags={"cost-center": "a"})
SPEC_B = AWSAccountSpec(role_arn=ROLE_B, namespaces=["team-b"])
A = ResolvedAccount.of("acct-a", SPEC_A)
B = ResolvedAccount.of("acct-b", SPEC_B)


def _auth(aws: EmbeddedAws, count: str) -> None:
    request = urllib.request.Request(
        f"{aws.url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10)


def as_role(aws: EmbeddedAws, role_arn: str, service: str = "s3", **keys: str) -> Any:
    """A plain boto3 client with credentials of `role_arn` (assumed with `keys`, default: moto's)."""
    sts = boto3.client("sts", endpoint_url=aws.url, region_name="us-east-1", **keys)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.client(
        service,
        endpoint_url=aws.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


@pytest.fixture
def multi(aws: EmbeddedAws) -> tuple[Engine, BucketClient, list[tuple[str, str, str]]]:
    seen: list[tuple[str, str, str]] = []
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, lookup_account_id=True),
        listeners=[lambda *call: seen.append(call)],
    )
    return Engine(clients, EngineConfig(cluster_id="c")), BucketClient(clients), seen


def reconcile(engine: Engine, client: BucketClient, namespace: str, account: ResolvedAccount | None) -> Any:
    ref = ObjectRef("Bucket", namespace, "data", 1)
    return engine.reconcile(client, ref, BucketSpec(), context=ReconcileContext(account=account))


def test_buckets_land_in_the_account_of_their_role_and_stay_invisible_to_the_other(
    aws: EmbeddedAws, s3: Any, multi: Any
) -> None:
    engine, client, seen = multi
    in_a = reconcile(engine, client, "team-a", A)
    in_b = reconcile(engine, client, "team-b", B)
    assert (in_a.state, in_b.state) == (State.READY, State.READY), (in_a.message, in_b.message)
    assert in_a.calls[0] == "sts:AssumeRole"  # one session per account, made on first use, counted
    assert in_a.status["accountId"] == ACCT_A and in_b.status["accountId"] == ACCT_B
    assert names(as_role(aws, ROLE_A)) == {"team-a-data"}
    assert names(as_role(aws, ROLE_B)) == {"team-b-data"}
    assert names(s3) == set(), "the operator's own account holds neither bucket"
    tags = as_role(aws, ROLE_A).get_bucket_tagging(Bucket="team-a-data")["TagSet"]
    assert {"Key": "cost-center", "Value": "a"} in tags  # the AWSAccount's default tags
    assert ("sts", "AssumeRole", "ok") in seen  # the factory's listeners see it (metrics)


def test_a_session_is_reused_until_it_nears_expiry(aws: EmbeddedAws, multi: Any) -> None:
    engine, client, _ = multi
    first = reconcile(engine, client, "team-a", A)
    again = engine.reconcile(
        client,
        ObjectRef("Bucket", "team-a", "data", 1),
        BucketSpec(),
        spec_changed=False,
        context=ReconcileContext(account=A),
    )
    assert first.calls.count("sts:AssumeRole") == 1
    assert again.calls == ["s3:HeadBucket", "s3:GetBucketTagging"]  # no STS at all


def test_operator_credentials_report_their_account_from_one_caller_identity(
    aws: EmbeddedAws, s3: Any, multi: Any
) -> None:
    engine, client, _ = multi
    first = reconcile(engine, client, "ops", None)
    second = reconcile(engine, client, "ops", None)
    assert first.status["accountId"] == OWN and second.status["accountId"] == OWN
    assert engine.clients.log.calls.count("sts:GetCallerIdentity") == 1  # once per process
    assert not any(call.startswith("sts:") for call in first.calls + second.calls)  # not the object's cost
    assert names(s3) == {"ops-data"}


def test_not_allowed_namespace_makes_zero_aws_calls(aws: EmbeddedAws, multi: Any) -> None:
    engine, client, seen = multi
    denied = resolve_account("team-c", AccountRef(name="acct-a"), {}, {}, {"acct-a": SPEC_A})
    outcome = reconcile(engine, client, "team-c", denied)
    assert outcome.state is State.STALLED and outcome.reason == "AccountNotAllowed"
    assert "acct-a" in outcome.message and "team-c" in outcome.message
    assert outcome.calls == [] and seen == []


def test_caller_identity_with_the_assumed_role_names_the_role_account(aws: EmbeddedAws) -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0))
    identity = clients.caller_identity(B)
    assert identity["Account"] == ACCT_B
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCT_B}:assumed-role/awsop/")
    assert clients.log.calls == ["sts:AssumeRole", "sts:GetCallerIdentity"]


# -- IAM enforced -------------------------------------------------------------------------------------


@pytest.fixture
def enforced(aws: EmbeddedAws) -> Iterator[Any]:
    _auth(aws, "inf")
    yield boto3.client("iam", endpoint_url=aws.url, region_name="us-east-1")
    _auth(aws, "inf")


def _user(iam: Any, name: str, actions: list[str]) -> dict[str, str]:
    iam.create_user(UserName=name)
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="awsop", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _role_in(aws: EmbeddedAws, role_arn: str, actions: list[str]) -> None:
    """The target role, made inside its own account (while IAM is not enforced yet)."""
    iam = as_role(aws, role_arn, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": OWN}, "Action": "sts:AssumeRole"}],
    }
    name = role_arn.rsplit("/", 1)[1]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="awsop", PolicyDocument=json.dumps(doc))


def _engine_with(keys: dict[str, str]) -> tuple[Engine, BucketClient]:
    session = boto3.Session(region_name="us-east-1", **keys)
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1), session=session
    )
    return Engine(clients, EngineConfig(cluster_id="c")), BucketClient(clients)


@pytest.mark.parametrize(
    ("operator_actions", "expected"),
    [(["sts:AssumeRole"], "Created"), (["s3:*"], "AccessDenied.AssumeRole")],
    ids=["may-assume", "may-not-assume"],
)
def test_assume_role_under_iam_enforcement(
    enforced: Any,
    aws: EmbeddedAws,
    operator_actions: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _role_in(aws, ROLE_B, ["s3:*"])
    engine, client = _engine_with(_user(enforced, "awsop", operator_actions))
    _auth(aws, "0")
    outcome = reconcile(engine, client, "team-b", B)
    assert outcome.reason == expected, outcome.message
    if expected == "Created":
        assert outcome.status["accountId"] == ACCT_B
        return
    assert outcome.error_class is ErrorClass.ACCESS  # recoverable, on the long Access backoff
    assert "acct-b" in outcome.message and ROLE_B in outcome.message
    assert "s3:CreateBucket" not in outcome.calls  # nothing reached S3 with the operator's own keys
    # the AWSAccount itself reports the same denial, not Ready
    patch = kopf.Patch()
    monkeypatch.setattr(accounts.AccountRuntime, "clients", engine.clients, raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "settings", Settings(), raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "directory", accounts.AccountDirectory(), raising=False)
    monkeypatch.setattr(kopf, "warn", lambda *a, **k: None)
    ready, delay = accounts.check_account(
        "acct-b", {}, {"generation": 1}, SPEC_B.model_dump(by_alias=True), {}, patch
    )
    condition = patch["status"]["conditions"][0]
    assert not ready and (condition["status"], condition["reason"]) == ("False", "AccessDenied.AssumeRole")
    assert delay >= 600 * 0.8  # AWSOP_ACCESS_DENIED_BACKOFF_SECONDS, jittered


# -- the operator's adapters ----------------------------------------------------------------------------


@pytest.fixture
def operator_runtime(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []
    settings = Settings(cluster_id="kube")
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, lookup_account_id=True))
    directory = accounts.AccountDirectory()
    directory.put_account("acct-a", SPEC_A)
    directory.put_account("acct-b", SPEC_B)
    directory.put_namespace("team-a", ({}, {"awsop.io/account": "acct-a"}))
    directory.put_namespace("team-b", ({}, {}))
    directory.put_namespace("team-c", ({}, {"awsop.io/account": "acct-a"}))
    RT["current"] = handlers.Runtime(
        settings,
        Engine(clients, EngineConfig(cluster_id="kube")),
        {"Bucket": BucketClient(clients)},
        write=Writes(),
        namespaces=NoNamespaces(),
        accounts=directory,
    )
    monkeypatch.setattr(accounts.AccountRuntime, "directory", directory, raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "clients", clients, raising=False)
    monkeypatch.setattr(accounts.AccountRuntime, "settings", settings, raising=False)
    monkeypatch.setattr(
        EventRecorder, "post", lambda self, body, type, reason, message: events.append((type, reason))
    )
    monkeypatch.setattr(kopf, "warn", lambda body, *, reason, message="": events.append(("Warning", reason)))
    monkeypatch.setattr(kube, "annotate", lambda *a, **k: None)
    yield events


class Writes(list[dict[str, Any]]):
    """The status and metadata patches the handlers wrote, in order."""

    def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.append(body)


class NoNamespaces(kube.NamespacePhases):
    def terminating(self, namespace: str) -> bool:
        return False


RT: dict[str, handlers.Runtime] = {}  # the operator's Runtime in the running test


def _object(namespace: str, uid: str, spec: dict[str, Any]) -> tuple[dict[str, Any], kopf.Patch]:
    meta = {"name": "data", "namespace": namespace, "uid": uid, "generation": 1, "annotations": {}}
    return {"metadata": meta, "spec": spec, "status": {}}, kopf.Patch()


def _reconcile(namespace: str, uid: str, spec: dict[str, Any]) -> kopf.Patch:
    obj, patch = _object(namespace, uid, spec)
    written: Writes = RT["current"].write  # type: ignore[assignment]
    before = len(written)
    handlers.reconcile(
        KINDS["Bucket"],
        RT["current"],
        body=obj,
        meta=obj["metadata"],
        spec=spec,
        status={},
        patch=patch,
        retry=0,
    )
    for body in written[before:]:
        for stanza, values in body.items():
            patch.setdefault(stanza, {}).update(values)
    return patch


def test_handlers_pick_the_account_by_annotation_or_accountref_and_count_users(
    operator_runtime: list[tuple[str, str]], aws: EmbeddedAws
) -> None:
    a = _reconcile("team-a", "u1", {})  # by the namespace annotation
    b = _reconcile("team-b", "u2", {"accountRef": {"name": "acct-b"}})
    assert a["status"]["accountId"] == ACCT_A and b["status"]["accountId"] == ACCT_B
    assert names(as_role(aws, ROLE_A)) == {"team-a-data"} and names(as_role(aws, ROLE_B)) == {"team-b-data"}
    patch = kopf.Patch()
    ready, _ = accounts.check_account(
        "acct-a", {}, {"generation": 1}, SPEC_A.model_dump(by_alias=True), {}, patch
    )
    assert ready and patch["status"]["accountId"] == ACCT_A and patch["status"]["objects"] == 1
    assert patch["status"]["conditions"][0]["reason"] == "RoleAssumed"


def test_handlers_stall_a_namespace_the_account_does_not_grant(
    operator_runtime: list[tuple[str, str]], aws: EmbeddedAws
) -> None:
    clients = RT["current"].engine.clients
    before = list(clients.log.calls)
    with pytest.raises(kopf.PermanentError, match="AccountNotAllowed"):
        _reconcile("team-c", "u3", {})
    assert clients.log.calls == before, "no AWS call for an object whose namespace is not granted"
    assert ("Warning", "AccountNotAllowed") in operator_runtime


# -- the CLI --------------------------------------------------------------------------------------------

MANIFESTS = f"""
apiVersion: awsop.io/v1alpha1
kind: AWSAccount
metadata: {{name: acct-a}}
spec: {{roleArn: "{ROLE_A}", namespaces: [team-a, ci]}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: team-a, annotations: {{awsop.io/account: acct-a}}}}
---
apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata: {{name: data, namespace: team-a}}
spec: {{versioning: Enabled}}
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from awsop.operator import cli as cli_module

    code = cli_module.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_plan_and_apply_use_the_awsaccount_documents_among_the_manifests(
    aws: EmbeddedAws, s3: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "team-a.yaml"
    path.write_text(MANIFESTS)
    code, out = cli(capsys, "plan", "-f", str(path))
    assert code == 2, out
    assert f"Bucket team-a/data -> team-a-data (us-east-1, account acct-a ({ACCT_A})): create" in out
    code, out = cli(capsys, "apply", "-f", str(path))
    assert code == 0, out
    assert names(as_role(aws, ROLE_A)) == {"team-a-data"} and names(s3) == set()
    code, out = cli(capsys, "plan", "-f", str(path))
    assert code == 0, out


@pytest.mark.parametrize(
    ("namespace", "account", "code", "expected"),
    [
        ("ci", "acct-a", 2, f"(us-east-1, account acct-a ({ACCT_A})): create"),
        ("ci", None, 2, f"(us-east-1, account {OWN}): create"),
        ("other", "acct-a", 1, "AccountNotAllowed"),
        ("ci", "ghost", 1, "--account ghost: no AWSAccount of that name"),
    ],
    ids=["--account", "operator-credentials", "not-granted", "unknown-account"],
)
def test_cli_account_flag(
    aws: EmbeddedAws,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    namespace: str,
    account: str | None,
    code: int,
    expected: str,
) -> None:
    path = tmp_path / "ci.yaml"
    path.write_text(
        MANIFESTS.split("---")[0]
        + "---\napiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\n"
        + f"metadata: {{name: x, namespace: {namespace}}}\n"
    )
    got, out = cli(capsys, "plan", "-f", str(path), *(["--account", account] if account else []))
    assert got == code, out
    assert expected in out


def test_session_renewed_before_expiry_against_sts(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 900 s session (STS's minimum) under a controlled clock: reconciles minutes apart renew the
    session in time, one real AssumeRole per renewal, and no call signs with an expired session."""
    from datetime import UTC, datetime, timedelta

    offset = [timedelta(0)]  # how far our clock runs ahead of the wall clock
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0),
        session_clock=lambda: datetime.now(UTC) + offset[0],
    )
    real_assume = clients._assume

    def assume(account: ResolvedAccount) -> dict[str, str]:  # moto stamps Expiration with the wall clock
        metadata = real_assume(account)
        expiry = datetime.fromisoformat(metadata["expiry_time"]) + offset[0]
        return {**metadata, "expiry_time": expiry.isoformat()}

    monkeypatch.setattr(clients, "_assume", assume)
    engine, client = Engine(clients, EngineConfig(cluster_id="c")), BucketClient(clients)
    short = ResolvedAccount.of("acct-b", SPEC_B.model_copy(update={"session_duration_seconds": 900}))
    ref = ObjectRef("Bucket", "team-b", "data", 1)
    assumed = []
    for minute in (0, 5, 10, 13, 20, 30):
        offset[0] = timedelta(minutes=minute)
        outcome = engine.reconcile(
            client, ref, BucketSpec(), spec_changed=minute == 0, context=ReconcileContext(account=short)
        )
        assert outcome.ok, outcome.message
        assumed.append(outcome.calls.count("sts:AssumeRole"))
    # renewed when less than a quarter of 900 s (225 s) is left: at 0, 13 (2 min left) and 30 (2 min left)
    assert assumed == [1, 0, 0, 1, 0, 1]


def test_iam_policy_can_allow_assuming_the_account_roles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "iam-policy", "--assume-role", ROLE_B, "--assume-role", ROLE_A)
    assert code == 0
    statement = json.loads(out)["Statement"][-1]
    assert statement["Action"] == "sts:AssumeRole" and statement["Resource"] == [ROLE_A, ROLE_B]


@pytest.mark.parametrize(
    ("account_b", "code", "expected"),
    [("acct-b", 0, ""), ("acct-a", 1, "both manage Queue jobs")],
    ids=["two-accounts-two-queues", "one-account-one-queue"],
)
def test_cli_same_queue_name_in_two_accounts_is_two_queues(
    aws: EmbeddedAws,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    account_b: str,
    code: int,
    expected: str,
) -> None:
    docs = [
        f"apiVersion: awsop.io/v1alpha1\nkind: AWSAccount\nmetadata: {{name: {name}}}\n"
        f"spec: {{roleArn: '{role}', namespaces: [team-a, team-b]}}\n"
        for name, role in (("acct-a", ROLE_A), ("acct-b", ROLE_B))
    ] + [
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: q, namespace: {ns}}}\n"
        f"spec: {{name: jobs, accountRef: {{name: {acct}}}}}\n"
        for ns, acct in (("team-a", "acct-a"), ("team-b", account_b))
    ]
    path = tmp_path / "queues.yaml"
    path.write_text("---\n".join(docs))
    got, out = cli(capsys, "apply", "-f", str(path))
    assert got == code, out
    assert expected in out
    if code == 0:
        for role in (ROLE_A, ROLE_B):
            assert as_role(aws, role, "sqs").list_queues()["QueueUrls"][0].endswith("/jobs")
