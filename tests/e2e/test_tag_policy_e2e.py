"""TagPolicy with the real operator and the real kubectl: an object created before a Deny policy stalls
without any AWS write and recovers once tagged; defaults reach AWS, never the spec; Report only signals;
the policy's status counts what it covers and what breaks it.

Policies here select the `tagpolicy` namespace only, so the rest of the suite is never judged by them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from e2elib import Kubectl, Operator, eventually

NS = "tagpolicy"


def policy(name: str, spec: str) -> str:
    return (
        f"apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata:\n  name: {name}\nspec:\n"
        f"  namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: {NS}\n"
        f"{textwrap.indent(spec, '  ')}\n"
    )


def bucket(name: str, tags: str) -> str:
    return (
        f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: {name}\n  namespace: {NS}\n"
        f"spec:\n  deletionPolicy: Delete\n  tags: {tags}\n"
    )


def tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        return {}


def condition(kubectl: Kubectl, name: str, ctype: str) -> dict[str, Any]:
    return kubectl.condition("bucket", name, NS, ctype) or {}


@pytest.fixture
def cleanup(kubectl: Kubectl) -> Iterator[None]:
    yield
    kubectl.run("delete", "tagpolicies", "--all", "--wait=false", check=False)
    kubectl.run("delete", "buckets", "--all", "-n", NS, "--timeout=60s", check=False)
    # the next test starts without this one's policies: gone from the API server and from the webhook's
    # view (a policy the operator has not yet let go of would still judge the next test's objects)
    kubectl.run("wait", "--for=delete", "tagpolicies", "--all", "--timeout=90s", check=False)


def test_object_created_before_a_deny_policy_stalls_then_recovers_when_tagged(
    kubectl: Kubectl, operator: Operator, s3: Any, cleanup: None
) -> None:
    kubectl.run("label", "namespace", NS, "environment=staging", "--overwrite")
    kubectl.apply(bucket("legacy", "{team: web}"))
    eventually(lambda: condition(kubectl, "legacy", "Ready").get("status") == "True", what="Ready")

    kubectl.apply(
        policy(
            "tp-deny",
            "required:\n  - key: cost-center\n    values: ['cc-*']\n"
            "defaults:\n  environment: '{namespaceLabel:environment}'\nenforcement: Deny\n",
        )
    )
    stalled = eventually(
        lambda: (c := condition(kubectl, "legacy", "Stalled")).get("status") == "True" and c,
        what="Stalled after the policy arrived",
    )
    assert stalled["reason"] == "TagPolicyViolation"
    assert stalled["message"] == ("tag 'cost-center' is missing (allowed: cc-*) (TagPolicy tp-deny, Deny)")
    assert condition(kubectl, "legacy", "Ready")["status"] == "False"
    assert ("TagPolicyViolation", stalled["message"]) in kubectl.events(NS, "legacy")
    assert "environment" not in tags(s3, "tagpolicy-legacy")  # no AWS write while stalled
    status = eventually(
        lambda: (
            (s := kubectl.get("tagpolicy", "tp-deny").get("status", {})).get("violatingObjects") == 1 and s
        ),
        what="policy status counts",
    )
    assert status["matchingObjects"] == 1
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Active")
    listed = kubectl.run("get", "tagpolicy", "tp-deny").stdout
    assert "Deny" in listed and "READY" in listed and "VIOLATING" in listed

    kubectl.apply(bucket("legacy", "{team: web, cost-center: cc-7}"))
    eventually(lambda: condition(kubectl, "legacy", "Ready").get("status") == "True", what="Ready again")
    aws_tags = eventually(lambda: (t := tags(s3, "tagpolicy-legacy")).get("environment") and t, what="tags")
    assert (aws_tags["environment"], aws_tags["cost-center"]) == ("staging", "cc-7")
    spec = kubectl.get("bucket", "legacy", "-n", NS)["spec"]
    assert spec["tags"] == {"team": "web", "cost-center": "cc-7"}  # defaults never reach the spec
    eventually(
        lambda: kubectl.get("tagpolicy", "tp-deny").get("status", {}).get("violatingObjects") == 0,
        what="violating back to 0",
    )

    # a namespace label change re-judges the object: the new default reaches AWS
    kubectl.run("label", "namespace", NS, "environment=prod", "--overwrite")
    eventually(lambda: tags(s3, "tagpolicy-legacy").get("environment") == "prod", what="new default")


def test_report_policy_signals_without_blocking(
    kubectl: Kubectl, operator: Operator, s3: Any, cleanup: None
) -> None:
    kubectl.apply(policy("tp-report", "required:\n  - key: owner\nenforcement: Report\n"))
    kubectl.apply(bucket("reported", "{team: web}"))
    eventually(lambda: condition(kubectl, "reported", "Ready").get("status") == "True", what="Ready")
    compliant = eventually(
        lambda: (c := condition(kubectl, "reported", "TagPolicyCompliant")).get("status") == "False" and c,
        what="TagPolicyCompliant=False",
    )
    assert (
        compliant["message"] == "tag 'owner' is missing (any non-empty value) (TagPolicy tp-report, Report)"
    )
    assert ("TagPolicyViolation", compliant["message"]) in kubectl.events(NS, "reported")
    eventually(
        lambda: (
            'awsop_tag_policy_violations{enforcement="Report",kind="Bucket",policy="tp-report"} 1.0'
            in operator.metrics()
        ),
        what="violation metric",
    )


def test_conflicting_defaults_mark_both_policies(kubectl: Kubectl, operator: Operator, cleanup: None) -> None:
    kubectl.apply(policy("tp-a", "defaults:\n  tier: gold\n"))
    kubectl.apply(policy("tp-b", "defaults:\n  tier: silver\n"))
    kubectl.apply(bucket("conflicted", "{team: web}"))
    for name in ("tp-a", "tp-b"):
        ready = eventually(
            lambda n=name: (
                (
                    c := next(iter(kubectl.get("tagpolicy", n).get("status", {}).get("conditions", [])), {})
                ).get("reason")
                == "ConflictingDefaults"
                and c
            ),
            what=f"{name} ConflictingDefaults",
        )
        assert ready["status"] == "False"
        assert "conflicting defaults for tag 'tier': 'gold' from tp-a, 'silver' from tp-b" in ready["message"]


def test_webhook_denies_kubectl_apply_naming_tag_and_policy(
    kubectl: Kubectl, operator: Operator, s3: Any, cleanup: None
) -> None:
    kubectl.apply(
        policy(
            "tp-admission",
            "required:\n  - key: team\n    values: [payments, web, 'platform-*']\nenforcement: Deny\n",
        )
    )

    def denied() -> Any:
        proc = kubectl.apply(bucket("rejected", "{team: sales}"), check=False)
        return proc.returncode == 1 and proc

    proc = eventually(denied, what="the webhook denies (policy known to the operator)")
    assert (
        'admission webhook "validate-bucket.awsop.io" denied the request: Bucket tagpolicy/rejected: '
        "tag 'team' has value 'sales', not allowed (allowed: payments, web, platform-*) "
        "(TagPolicy tp-admission, Deny)"
    ) in proc.stderr
    assert kubectl.run("get", "bucket", "rejected", "-n", NS, check=False).returncode == 1
    assert "tagpolicy-rejected" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    kubectl.apply(bucket("accepted", "{team: platform-data}"))
    eventually(lambda: condition(kubectl, "accepted", "Ready").get("status") == "True", what="Ready")

    # a stricter policy arrives: the existing object stays deletable (no webhook on DELETE, and the
    # operator's finalizer removal is a metadata-only update)
    kubectl.apply(policy("tp-strict", "required:\n  - key: owner\nenforcement: Deny\n"))
    eventually(
        lambda: condition(kubectl, "accepted", "Stalled").get("reason") == "TagPolicyViolation",
        what="Stalled under the stricter policy",
    )
    kubectl.run("delete", "bucket", "accepted", "-n", NS, "--timeout=60s")


def test_webhook_warns_under_warn_policies(kubectl: Kubectl, operator: Operator, cleanup: None) -> None:
    kubectl.apply(policy("tp-warn", "required:\n  - key: owner\nenforcement: Warn\n"))

    def warned() -> Any:
        proc = kubectl.apply(bucket("warned", "{team: web}"))
        return "Warning:" in proc.stderr and proc

    proc = eventually(warned, what="an admission warning")
    assert (
        "Warning: Bucket tagpolicy/warned: tag 'owner' is missing (any non-empty value) "
        "(TagPolicy tp-warn, Warn)" in proc.stderr
    )
    eventually(
        lambda: condition(kubectl, "warned", "Ready").get("status") == "True", what="Ready (Warn admits)"
    )


def test_invalid_tag_policies_are_rejected_by_the_crd_or_the_webhook(
    kubectl: Kubectl, operator: Operator, cleanup: None
) -> None:
    # what a CEL rule can say, the API server says itself
    proc = kubectl.apply(policy("tp-invalid", "defaults:\n  x: '{owner}'\n"), check=False)
    assert proc.returncode == 1
    assert 'The TagPolicy "tp-invalid" is invalid: spec.defaults' in proc.stderr
    assert "unknown placeholder" in proc.stderr
    # the rest (patterns across fields) the webhook says, with the model's message
    proc = kubectl.apply(
        policy("tp-invalid", "forbidden: ['temp-*']\ndefaults:\n  temp-owner: me\n"), check=False
    )
    assert proc.returncode == 1
    assert (
        'admission webhook "validate-tagpolicy.awsop.io" '
        "denied the request: TagPolicy tp-invalid: spec: defaults.temp-owner: the key matches forbidden "
        "pattern 'temp-*'"
    ) in proc.stderr
