"""The chart's validating admission webhook: one webhook per kind the operator validates, TLS that the
API server can verify (Helm-made CA or cert-manager), failurePolicy Ignore by default, DELETE never sent."""

from __future__ import annotations

import base64
from typing import Any

from chartlib import KINDS, NAMESPACE, by_kind, container, env_of, one, render
from cryptography import x509

SERVICE = "awsop-webhook"
VALIDATED = [kind for kind in KINDS if kind != "AWSAccount"]  # AWSAccount has no validating handler


def config(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return one(render(values), "ValidatingWebhookConfiguration")


def test_one_webhook_per_validated_kind_with_the_operators_paths() -> None:
    hooks = {h["name"]: h for h in config()["webhooks"]}
    assert sorted(hooks) == sorted(f"validate-{k.lower()}.awsop.io" for k in VALIDATED)
    for kind in VALIDATED:
        group, plural, namespaced = KINDS[kind]
        hook = hooks[f"validate-{kind.lower()}.awsop.io"]
        assert hook["rules"] == [
            {
                "apiGroups": [group],
                "apiVersions": ["v1alpha1"],
                "resources": [plural],
                "operations": ["CREATE", "UPDATE"],  # never DELETE: a policy never blocks deleting
                "scope": "Namespaced" if namespaced else "Cluster",
            }
        ]
        assert hook["clientConfig"]["service"] == {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "path": f"/validate-{kind.lower()}",
            "port": 443,
        }
        assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == ("Ignore", "None", 10)
        assert hook["admissionReviewVersions"] == ["v1"]


def test_webhooks_follow_the_served_kinds() -> None:
    hooks = config({"kinds": ["Bucket", "TagPolicy", "AWSAccount"]})["webhooks"]
    assert [h["name"] for h in hooks] == ["validate-bucket.awsop.io", "validate-tagpolicy.awsop.io"]


def test_helm_made_certificate_verifies_against_the_ca_bundle_for_the_service_name() -> None:
    docs = render()
    secret = next(s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "awsop-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls"
    ca_pem = base64.b64decode(secret["data"]["ca.crt"])
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{SERVICE}.{NAMESPACE}.svc" in sans.get_values_for_type(x509.DNSName)
    for hook in one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca_pem


def test_operator_serves_the_webhook_with_the_mounted_certificate() -> None:
    docs = render()
    env = env_of(docs)
    assert env["AWSOP_WEBHOOK_PORT"]["value"] == "9443"
    assert env["AWSOP_WEBHOOK_CERT_DIR"]["value"] == "/etc/awsop/webhook"
    assert env["AWSOP_WEBHOOK_HOST"]["value"] == f"{SERVICE}.{NAMESPACE}.svc"
    assert env["AWSOP_WEBHOOK_MANAGED"]["value"] == "false"
    c = container(docs)
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in c["ports"]
    assert {"name": "webhook-tls", "mountPath": "/etc/awsop/webhook", "readOnly": True} in c["volumeMounts"]
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-tls", "secret": {"secretName": "awsop-webhook-tls"}} in volumes
    service = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"] == SERVICE)
    assert service["spec"]["ports"] == [
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]


def test_failure_policy_and_timeout_are_configurable() -> None:
    hooks = config({"webhook": {"failurePolicy": "Fail", "timeoutSeconds": 3}})["webhooks"]
    assert {(h["failurePolicy"], h["timeoutSeconds"]) for h in hooks} == {("Fail", 3)}


def test_cert_manager_issues_the_certificate_and_injects_the_ca() -> None:
    docs = render({"webhook": {"certManager": {"enabled": True}}})
    cfg = one(docs, "ValidatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/awsop-webhook"}
    assert all("caBundle" not in h["clientConfig"] for h in cfg["webhooks"])
    cert = one(docs, "Certificate")
    assert cert["spec"]["secretName"] == "awsop-webhook-tls"
    assert f"{SERVICE}.{NAMESPACE}.svc" in cert["spec"]["dnsNames"]
    assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": "awsop-webhook"}
    assert one(docs, "Issuer")["spec"] == {"selfSigned": {}}
    assert not [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "awsop-webhook-tls"]

    own = render(
        {
            "webhook": {
                "certManager": {"enabled": True, "issuerRef": {"name": "corp", "kind": "ClusterIssuer"}}
            }
        }
    )
    assert one(own, "Certificate")["spec"]["issuerRef"] == {
        "name": "corp",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert by_kind(own, "Issuer") == []


def test_disabled_webhook_renders_nothing_and_the_operator_serves_none() -> None:
    docs = render({"webhook": {"enabled": False}})
    assert by_kind(docs, "ValidatingWebhookConfiguration") == []
    assert [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == SERVICE] == []
    assert env_of(docs)["AWSOP_WEBHOOK_PORT"]["value"] == "0"
    assert all(p["name"] != "webhook" for p in container(docs)["ports"])
