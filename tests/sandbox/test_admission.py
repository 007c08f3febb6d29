"""Validating admission webhooks in the sandbox API server, checked against what kube-apiserver does:
AdmissionReview v1 over HTTPS verified with the caBundle, rules/selectors, failurePolicy, timeouts,
denials as Status errors, warnings as Warning headers that kubectl prints, configuration validation."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKETS, Http, Kubectl, bucket
from webhooklib import Webhook

from awsop.operator.webhook import self_signed


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[Webhook]:
    hook = Webhook(tmp_path)
    yield hook
    hook.server.shutdown()


def register(http: Http, config: dict[str, Any]) -> None:
    status, body, _ = http(
        "POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", config
    )
    assert status == 201, body


def test_kubectl_apply_denied_with_the_webhooks_message(
    bucket_crd: Any, kubectl: Kubectl, http: Http, webhook: Webhook
) -> None:
    webhook.answer = lambda request: {
        "allowed": False,
        "status": {"code": 403, "message": "tag 'team' is missing"},
        "warnings": ["read the tag policy"],
    }
    register(http, webhook.config())
    proc = kubectl.apply(bucket("denied"), check=False)
    assert proc.returncode == 1
    assert (
        "admission webhook \"check.test.awsop.io\" denied the request: tag 'team' is missing" in proc.stderr
    )
    assert "Warning: read the tag policy" in proc.stderr
    status, body, _ = http("GET", f"{BUCKETS}/denied")
    assert status == 404, "a denied object is never stored"

    status, body, _ = http("POST", BUCKETS, json.loads(bucket("denied")))
    # as kube-apiserver answers (tests/apiserver/test_sandbox_parity.py): the webhook's own status, no
    # reason or details it did not give, no "is forbidden" prefix
    assert (status, body.get("reason"), body["code"]) == (403, None, 403)
    assert (
        body["message"]
        == "admission webhook \"check.test.awsop.io\" denied the request: tag 'team' is missing"
    )
    assert "details" not in body


def test_denial_without_code_or_message(bucket_crd: Any, http: Http, webhook: Webhook) -> None:
    webhook.answer = lambda request: {"allowed": False}
    register(http, webhook.config())
    status, body, _ = http("POST", BUCKETS, json.loads(bucket("bare")))
    assert (status, body.get("reason")) == (400, None)
    assert body["message"] == 'admission webhook "check.test.awsop.io" denied the request without explanation'


def test_review_carries_object_old_object_and_request_identity(
    bucket_crd: Any, kubectl: Kubectl, http: Http, webhook: Webhook
) -> None:
    register(http, webhook.config())
    kubectl.apply(bucket("seen"))
    created = http("GET", f"{BUCKETS}/seen")[1]
    create = webhook.reviews[-1]
    assert create["apiVersion"] == "admission.k8s.io/v1" and create["kind"] == "AdmissionReview"
    request = create["request"]
    assert request["operation"] == "CREATE" and request["oldObject"] is None
    assert request["kind"] == {"group": "s3.test.awsop.io", "version": "v1alpha1", "kind": "Bucket"}
    assert request["resource"] == {"group": "s3.test.awsop.io", "version": "v1alpha1", "resource": "buckets"}
    assert (request["namespace"], request["name"], request["dryRun"]) == ("default", "seen", False)
    assert request["object"]["metadata"]["uid"] == created["metadata"]["uid"]  # the object that got stored
    assert webhook.paths[-1].endswith("/check?timeout=2s")

    kubectl.run("label", "bucket", "seen", "tier=gold")
    update = webhook.reviews[-1]["request"]
    assert update["operation"] == "UPDATE"
    assert update["oldObject"]["metadata"]["labels"] == {"team": "media"}
    assert update["object"]["metadata"]["labels"] == {"team": "media", "tier": "gold"}


def test_status_subresource_and_delete_are_not_sent_unless_the_rules_ask(
    bucket_crd: Any, kubectl: Kubectl, http: Http, webhook: Webhook
) -> None:
    kubectl.apply(bucket("quiet"))
    webhook.answer = lambda request: {"allowed": False, "status": {"message": "frozen"}}
    register(http, webhook.config())
    status, _, _ = http(
        "PATCH",
        f"{BUCKETS}/quiet/status",
        {"status": {"phase": "x"}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    kubectl.run("delete", "bucket", "quiet")
    assert webhook.reviews == []


def test_delete_rule_receives_the_old_object(
    bucket_crd: Any, kubectl: Kubectl, http: Http, webhook: Webhook
) -> None:
    kubectl.apply(bucket("guarded"))
    config = webhook.config()
    config["webhooks"][0]["rules"][0]["operations"] = ["DELETE"]
    webhook.answer = lambda request: {"allowed": False, "status": {"message": "keep it"}}
    register(http, config)
    proc = kubectl.run("delete", "bucket", "guarded", check=False)
    assert 'admission webhook "check.test.awsop.io" denied the request: keep it' in proc.stderr
    request = webhook.reviews[-1]["request"]
    assert request["operation"] == "DELETE" and request["object"] is None
    assert request["oldObject"]["metadata"]["name"] == "guarded"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"clientConfig": {"url": "https://127.0.0.1:1/check"}}, "connect"),
        ({"clientConfig": {"url": "PLACEHOLDER", "caBundle": "WRONG_CA"}}, "certificate verify failed"),
        ({"timeoutSeconds": 1, "DELAY": 2.0}, "context deadline exceeded"),
    ],
    ids=["unreachable", "untrusted-certificate", "timeout"],
)
@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_failed_calls_follow_the_failure_policy(
    change: dict[str, Any],
    expected: str,
    policy: str,
    bucket_crd: Any,
    http: Http,
    webhook: Webhook,
    tmp_path: Path,
) -> None:
    hook = dict(change)
    webhook.delay = float(hook.pop("DELAY", 0.0))
    if hook.get("clientConfig", {}).get("caBundle") == "WRONG_CA":
        other, _, _ = self_signed(["127.0.0.1"])
        hook["clientConfig"] = {"url": webhook.url, "caBundle": base64.b64encode(other).decode()}
    register(http, webhook.config(failurePolicy=policy, **hook))
    status, body, _ = http("POST", BUCKETS, json.loads(bucket(f"fp-{policy.lower()}")))
    if policy == "Ignore":
        assert status == 201, body
        return
    assert (status, body["reason"]) == (500, "InternalError"), body
    assert body["message"].startswith(
        'Internal error occurred: failed calling webhook "check.test.awsop.io": failed to call webhook: '
    ) or body["message"].startswith('Internal error occurred: failed calling webhook "check.test.awsop.io":')
    assert expected in body["message"], body["message"]


def test_response_with_another_uid_is_a_failed_call(bucket_crd: Any, http: Http, webhook: Webhook) -> None:
    webhook.answer = lambda request: {"uid": "someone-else", "allowed": True}
    register(http, webhook.config())
    status, body, _ = http("POST", BUCKETS, json.loads(bucket("uid")))
    assert status == 500
    assert "expected response.uid=" in body["message"] and "got 'someone-else'" in body["message"]


@pytest.mark.parametrize(
    ("selector", "labels", "called"),
    [
        ({"objectSelector": {"matchLabels": {"team": "media"}}}, {"team": "media"}, True),
        ({"objectSelector": {"matchLabels": {"team": "web"}}}, {"team": "media"}, False),
        ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}}, {}, True),
        ({"namespaceSelector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}, {}, False),
    ],
    ids=["object-match", "object-miss", "namespace-match", "namespace-miss"],
)
def test_selectors_decide_which_requests_are_sent(
    selector: dict[str, Any],
    labels: dict[str, str],
    called: bool,
    bucket_crd: Any,
    http: Http,
    webhook: Webhook,
) -> None:
    register(http, webhook.config(**selector))
    body = json.loads(bucket("sel"))
    body["metadata"]["labels"] = labels
    assert http("POST", BUCKETS, body)[0] == 201
    assert bool(webhook.reviews) is called


def test_allowed_with_warnings_prints_them_in_kubectl(
    bucket_crd: Any, kubectl: Kubectl, http: Http, webhook: Webhook
) -> None:
    webhook.answer = lambda request: {"allowed": True, "warnings": ["tag 'owner' is recommended"]}
    register(http, webhook.config())
    proc = kubectl.apply(bucket("warned"))
    assert "Warning: tag 'owner' is recommended" in proc.stderr
    assert http("GET", f"{BUCKETS}/warned")[0] == 200


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "two.parts"}, "webhooks[0].name", "should be a domain with at least three segments"),
        ({"clientConfig": {"url": "http://127.0.0.1/x"}}, "webhooks[0].clientConfig.url", "'https'"),
        ({"sideEffects": "Some"}, "webhooks[0].sideEffects", 'Unsupported value: "Some"'),
        ({"timeoutSeconds": 31}, "webhooks[0].timeoutSeconds", "between 1 and 30 seconds"),
        ({"failurePolicy": "Maybe"}, "webhooks[0].failurePolicy", 'Unsupported value: "Maybe"'),
    ],
    ids=["name", "http-url", "side-effects", "timeout", "failure-policy"],
)
def test_invalid_configurations_are_rejected(
    change: dict[str, Any], field: str, message: str, http: Http, webhook: Webhook
) -> None:
    config = webhook.config(**change)
    status, body, _ = http(
        "POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", config
    )
    assert (status, body["reason"]) == (422, "Invalid"), body
    cause = body["details"]["causes"][0]
    assert cause["field"] == field and message in cause["message"]


def test_defaults_are_filled_and_configurations_are_never_sent_to_webhooks(
    http: Http, kubectl: Kubectl, webhook: Webhook
) -> None:
    config = webhook.config()
    config["webhooks"][0]["rules"] = [
        {"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/*"]}
    ]
    config["webhooks"][0].pop("timeoutSeconds")
    webhook.answer = lambda request: {"allowed": False}
    register(http, config)
    stored = kubectl.json("get", "validatingwebhookconfiguration", "test-webhooks")["webhooks"][0]
    assert (stored["failurePolicy"], stored["timeoutSeconds"], stored["matchPolicy"]) == (
        "Fail",
        10,
        "Equivalent",
    )
    assert stored["rules"][0]["scope"] == "*"
    # a webhook that denies everything can still be removed
    kubectl.run("delete", "validatingwebhookconfiguration", "test-webhooks")
    assert webhook.reviews == []
