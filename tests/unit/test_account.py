"""AWSAccount: the model, account selection precedence, namespace grants, regions, session renewal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from awsop.reconcilers.account import (
    AccountRef,
    AWSAccountSpec,
    ResolvedAccount,
    resolve_account,
    select_account,
)
from awsop.reconcilers.aws import AwsClients, AwsConfig, RateLimiter, SessionCredentials
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass

ROLE_A = "arn:aws:iam::111111111111:role/awsop"
ROLE_B = "arn:aws:iam::222222222222:role/awsop"


def account(**spec: Any) -> AWSAccountSpec:
    return AWSAccountSpec.model_validate({"roleArn": ROLE_A, **spec})


# -- the model --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"roleArn": "arn:aws:iam::1234:role/x"}, "roleArn"),
        ({"roleArn": "arn:aws:iam::111111111111:user/x"}, "roleArn"),
        ({"roleArn": ROLE_A, "sessionDurationSeconds": 600}, "sessionDurationSeconds"),
        ({"roleArn": ROLE_A, "sessionDurationSeconds": 50000}, "sessionDurationSeconds"),
        ({"roleArn": ROLE_A, "defaultRegion": "eu-west-1", "allowedRegions": ["us-east-1"]}, "defaultRegion"),
        ({"roleArn": ROLE_A, "allowedRegions": ["mars-1"]}, "allowedRegions"),
        ({"roleArn": ROLE_A, "defaultTags": {"aws:x": "y"}}, "defaultTags"),
        ({"roleArn": ROLE_A, "rateLimits": {"s3": -1}}, "rateLimits"),
        ({"roleArn": ROLE_A, "externalId": "x"}, "externalId"),
        ({"roleArn": ROLE_A, "bogus": 1}, "bogus"),
    ],
    ids=[
        "short-account-id",
        "not-a-role",
        "session-below-sts-minimum",
        "session-above-sts-maximum",
        "default-region-not-allowed",
        "bad-region-name",
        "reserved-tag",
        "negative-rate",
        "external-id-too-short",
        "unknown-field",
    ],
)
def test_awsaccount_spec_rejects(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        AWSAccountSpec.model_validate(spec)
    assert problem in str(info.value)


def test_account_ref_is_part_of_every_kind_spec_and_immutable() -> None:
    spec = BucketSpec.model_validate({"accountRef": {"name": "team-a"}})
    assert spec.account_ref == AccountRef(name="team-a")
    schema = BucketSpec.model_json_schema(by_alias=True)
    assert schema["properties"]["accountRef"]["x-awsop-immutable"] is True


# -- selection and grants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "annotation", "expected"),
    [
        (AccountRef(name="a"), "b", ("a", "spec.accountRef")),
        (None, "b", ("b", "namespace annotation awsop.io/account")),
        (None, "  ", ("", "operator")),
        (None, None, ("", "operator")),
    ],
    ids=["spec-wins-over-annotation", "annotation", "blank-annotation", "nothing"],
)
def test_account_selection_precedence(
    ref: AccountRef | None, annotation: str | None, expected: tuple[str, str]
) -> None:
    assert select_account(ref, annotation) == expected


GRANTS = {
    "by-name": account(namespaces=["team-a"]),
    "by-label": account(namespaceSelector={"matchLabels": {"team": "a"}}),
    "by-expression": account(
        namespaceSelector={"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}
    ),
    "not-in": account(
        namespaceSelector={"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}]}
    ),
    "exists": account(namespaceSelector={"matchExpressions": [{"key": "team", "operator": "Exists"}]}),
    "nobody": account(),
    "empty-selector": account(namespaceSelector={}),
}


@pytest.mark.parametrize(
    ("grant", "namespace", "labels", "allowed"),
    [
        ("by-name", "team-a", {}, True),
        ("by-name", "team-b", {"team": "a"}, False),
        ("by-label", "anything", {"team": "a"}, True),
        ("by-label", "anything", {"team": "b"}, False),
        ("by-expression", "x", {"tier": "prod"}, True),
        ("by-expression", "x", {"tier": "dev"}, False),
        ("not-in", "x", {"tier": "dev"}, True),
        ("not-in", "x", {"tier": "prod"}, False),
        ("exists", "x", {"team": ""}, True),
        ("exists", "x", {}, False),
        ("nobody", "team-a", {"team": "a"}, False),
        ("empty-selector", "team-a", {"team": "a"}, False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_namespace_grants(grant: str, namespace: str, labels: dict[str, str], allowed: bool) -> None:
    assert GRANTS[grant].grants(namespace, labels) is allowed


def test_resolve_names_account_and_namespace_when_not_allowed() -> None:
    resolved = resolve_account(
        "team-b", AccountRef(name="acct-a"), {}, {}, {"acct-a": account(namespaces=["team-a"])}
    )
    assert resolved.denial is not None
    assert resolved.denial.reason == "AccountNotAllowed"
    assert "acct-a" in resolved.denial.message and "team-b" in resolved.denial.message
    assert resolved.denial.error_class is ErrorClass.TERMINAL


def test_resolve_unknown_account_is_recoverable_never_the_operator_credentials() -> None:
    resolved = resolve_account("team-a", None, {"awsop.io/account": "ghost"}, {}, {})
    assert resolved.name == "ghost"
    assert resolved.denial is not None and resolved.denial.reason == "AccountNotFound"
    assert resolved.denial.error_class is ErrorClass.RECOVERABLE


@pytest.mark.parametrize(("require", "denied"), [(False, False), (True, True)], ids=["fallback", "required"])
def test_resolve_without_account_uses_operator_credentials_unless_required(
    require: bool, denied: bool
) -> None:
    resolved = resolve_account("team-a", None, {}, {}, {}, require_account=require)
    assert resolved.name == "" and resolved.role_arn is None
    assert (resolved.denial is not None) is denied
    if denied:
        assert resolved.denial.reason == "AccountRequired"  # type: ignore[union-attr]


def test_resolve_granted_account_carries_its_settings() -> None:
    spec = account(
        namespaces=["team-a"],
        defaultRegion="eu-west-1",
        allowedRegions=["eu-west-1", "eu-central-1"],
        defaultTags={"cost-center": "42"},
        externalId="xyz-123",
    )
    resolved = resolve_account("team-a", AccountRef(name="acct-a"), {}, {}, {"acct-a": spec})
    assert resolved.denial is None
    assert resolved.account_id == "111111111111"
    assert resolved.default_region == "eu-west-1"
    assert resolved.default_tags == (("cost-center", "42"),)
    assert resolved.source == "spec.accountRef"


# -- the engine with an account ---------------------------------------------------------------------


def engine() -> tuple[Engine, BucketClient]:
    clients = AwsClients(AwsConfig(default_region="us-east-1", lookup_account_id=True))
    return Engine(
        clients, EngineConfig(cluster_id="c", default_tags={"managed-by": "awsop", "team": "ops"})
    ), BucketClient(clients)


REF = ObjectRef("Bucket", "team-b", "data", 1)


@pytest.mark.parametrize(
    "context",
    [
        ReconcileContext(
            account=resolve_account(
                "team-b", AccountRef(name="a"), {}, {}, {"a": account(namespaces=["team-a"])}
            )
        ),
        ReconcileContext(
            account=ResolvedAccount.of("a", account(namespaces=["team-b"], allowedRegions=["eu-west-1"]))
        ),
        ReconcileContext(account=resolve_account("team-b", None, {}, {}, {}, require_account=True)),
    ],
    ids=["namespace-not-granted", "region-not-allowed", "account-required"],
)
def test_denied_account_stalls_with_zero_aws_calls(context: ReconcileContext) -> None:
    eng, client = engine()
    outcome = eng.reconcile(client, REF, BucketSpec(region="us-east-1"), context=context)
    assert outcome.state is State.STALLED
    assert outcome.reason in ("AccountNotAllowed", "AccountRequired")
    assert [e.reason for e in outcome.events] == [outcome.reason]
    assert outcome.calls == [] and eng.clients.log.calls == []  # not even GetCallerIdentity


def test_denied_account_on_delete_leaves_aws_untouched() -> None:
    eng, client = engine()
    context = ReconcileContext(
        account=resolve_account("team-b", AccountRef(name="a"), {}, {}, {"a": account(namespaces=["team-a"])})
    )
    outcome = eng.delete(client, REF, BucketSpec(), context=context)
    assert outcome.state is State.DELETED and outcome.reason == "AccountNotAllowed"
    assert eng.clients.log.calls == []


def test_account_region_and_tag_layers_in_target() -> None:
    eng, client = engine()
    spec = account(namespaces=["team-b"], defaultRegion="eu-west-1", defaultTags={"team": "b", "cc": "1"})
    context = ReconcileContext(account=ResolvedAccount.of("a", spec))
    target = eng.target(client, REF, BucketSpec(tags={"cc": "2"}), context=context)
    assert target.region == "eu-west-1"  # the account's default region
    assert target.account_id == "111111111111"  # from the role ARN, no call
    # operator defaults < account defaults < the spec's own tags
    assert {k: v for k, v in target.tags.items() if not k.startswith("awsop.io/")} == {
        "managed-by": "awsop",
        "team": "b",
        "cc": "2",
    }
    assert eng.clients.log.calls == []


# -- the client factory -----------------------------------------------------------------------------


def test_clients_and_limiter_are_keyed_by_account_region_service() -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", rate_limits={"s3": 10}))
    a = ResolvedAccount.of("a", account(rateLimits={"s3": 3}))
    b = ResolvedAccount.of("b", AWSAccountSpec(role_arn=ROLE_B))
    own = clients.client("s3")
    assert clients.client("s3", account=a) is not own
    assert clients.client("s3", account=a) is clients.client("s3", account=a)
    assert clients.client("s3", account=b) is not clients.client("s3", account=a)
    assert clients.client("s3", "eu-west-1", account=a) is not clients.client("s3", account=a)
    with clients.using(a):
        assert clients.client("s3") is clients.client("s3", account=a)
    assert clients.client("s3") is own
    assert clients.limiter.rate_for("s3", "111111111111") == 3  # the account's override
    assert clients.limiter.rate_for("s3", "222222222222") == 10
    assert clients.limiter.rate_for("s3", "default") == 10


def test_rate_limiter_account_override_takes_effect_on_change() -> None:
    limiter = RateLimiter({"s3": 10}, 5)
    limiter.set_account_rates("a", {"s3": 2})
    assert limiter.current_rate(("a", "us-east-1", "s3")) == 2
    limiter.set_account_rates("a", {"s3": 4})
    assert limiter.current_rate(("a", "us-east-1", "s3")) == 4
    assert limiter.current_rate(("b", "us-east-1", "s3")) == 10


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("duration", [900, 3600, 43200], ids=["15m", "1h", "12h"])
def test_session_renewed_once_per_lifetime_before_it_expires(duration: int) -> None:
    clock = Clock()
    fetched: list[datetime] = []

    def assume() -> dict[str, str]:
        fetched.append(clock.now)
        n = len(fetched)
        return {
            "access_key": f"AKIA{n}",
            "secret_key": "s",
            "token": f"t{n}",
            "expiry_time": (clock.now + timedelta(seconds=duration)).isoformat(),
        }

    creds = SessionCredentials(assume, duration, time_fetcher=clock)
    assert fetched == []  # deferred: nothing until the first signed call
    used: list[str] = []
    for _ in range(4 * duration // 30):  # a call every 30 s for four session lifetimes
        frozen = creds.get_frozen_credentials()
        expires = fetched[-1] + timedelta(seconds=duration)
        assert clock.now < expires, "signed with an expired session"
        used.append(frozen.access_key)
        clock.now += timedelta(seconds=30)
    assert 4 <= len(fetched) <= 6, f"{len(fetched)} AssumeRole calls in four lifetimes"
    assert "TOPSECRET" not in repr(creds) and "AKIA" not in repr(creds)


def test_assume_role_denied_is_an_access_error_naming_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    clients = AwsClients(AwsConfig(default_region="us-east-1"))

    class Denied:
        def assume_role(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "AssumeRole")

    monkeypatch.setattr(clients, "client", lambda *a, **k: Denied())
    with pytest.raises(Exception) as info:
        clients._assume(ResolvedAccount.of("acct-a", account()))
    exc = info.value
    assert getattr(exc, "reason", "") == "AccessDenied.AssumeRole"
    assert getattr(exc, "error_class", None) is ErrorClass.ACCESS
    assert "acct-a" in str(exc) and ROLE_A in str(exc)


def test_directory_deletion_uses_the_last_spec_of_a_deleted_account() -> None:
    from awsop.operator.accounts import AccountDirectory

    directory = AccountDirectory()
    directory.put_namespace("team-a", ({}, {}))
    directory.put_account("acct-a", account(namespaces=["team-a"]))
    ref = AccountRef(name="acct-a")
    assert directory.resolve("team-a", ref, "u1").denial is None
    assert directory.users_of("acct-a") == 1
    directory.put_account("acct-a", None)
    missing = directory.resolve("team-a", ref, "u1").denial
    assert missing is not None and missing.reason == "AccountNotFound"
    assert directory.users_of("acct-a") == 0
    deleting = directory.resolve("team-a", ref, deleting=True)
    assert deleting.denial is None and deleting.role_arn == ROLE_A


def test_directory_never_falls_back_when_the_namespace_cannot_be_read() -> None:
    from awsop.operator.accounts import AccountDirectory

    def unreachable(name: str) -> Any:
        raise ConnectionError("API server down")

    directory = AccountDirectory(read_namespace=unreachable, read_account=lambda name: None)
    resolved = directory.resolve("team-a", None)
    assert resolved.denial is not None and resolved.denial.reason == "NamespaceUnknown"
    assert resolved.denial.error_class is ErrorClass.RECOVERABLE


def test_directory_asks_denied_objects_again_when_a_grant_may_now_allow_them() -> None:
    from awsop.operator.accounts import AccountDirectory

    asked: list[ObjectRef] = []
    directory = AccountDirectory(retry=asked.append)
    directory.put_namespace("team-c", ({}, {}))
    directory.put_account("acct-a", account(namespaces=["team-a"]))
    ref = ObjectRef("Bucket", "team-c", "data", 1)
    denied = directory.resolve("team-c", AccountRef(name="acct-a"), "u1", ref=ref)
    assert denied.denial is not None and denied.denial.reason == "AccountNotAllowed"
    directory.put_account("acct-a", account(namespaces=["team-a"]))  # unchanged: nothing to retry
    directory.put_account("acct-b", account(namespaces=["team-c"]))  # another account: not this object's
    assert asked == []
    directory.put_namespace("team-c", ({"tenant": "c"}, {}))  # labels may now match a selector
    directory.put_account("acct-a", account(namespaces=["team-a", "team-c"]))
    assert asked == [ref, ref]
    assert directory.resolve("team-c", AccountRef(name="acct-a"), "u1", ref=ref).denial is None
    directory.put_account("acct-a", account(namespaces=["team-c"]))
    assert asked == [ref, ref], "an allowed object is not asked again"
