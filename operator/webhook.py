"""The validating admission webhook: TagPolicies enforced before anything is stored.

One kopf `@kopf.on.validate` handler per awsop kind (id `validate-<kind>`, path `/validate-<kind>`,
webhook name `validate-<kind>.awsop.io`: the chart renders exactly these). For AWS kinds it judges CREATE
and spec-changing UPDATE requests with the same evaluation the engine and the CLI use: a Deny violation
rejects the request with one message naming every broken rule and the policy; Warn and Report
violations admit it (Warn with admission warnings, which kubectl prints). For TagPolicy objects it
rejects specs the model refuses (with the field and the reason).

It must never: block a DELETE (no rule asks for it), block an update that leaves the spec alone (kopf's
own annotations, finalizer removal, status, labels: an object created before a policy must stay
manageable and deletable), or validate anything but tags (invalid specs stay the reconcile's business, so
a webhook that is down changes nothing but the timing).

TLS: certificates from `AWSOP_WEBHOOK_CERT_DIR` (`tls.crt`, `tls.key`, optional `ca.crt`; re-read when
they change, so cert-manager renewals work), else a self-signed CA and server certificate generated at
start for `AWSOP_WEBHOOK_HOST`.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from pathlib import Path
from typing import Any

import kopf
from pydantic import ValidationError

from awsop.reconcilers.kinds import CONFIG_KINDS, VERSION, KindInfo
from awsop.reconcilers.tag_policy import TagPolicySpec

from .manifests import format_validation_error
from .runtime import Runtime, account_of, object_ref, verdict_of
from .settings import Settings

log = logging.getLogger("awsop")
WEBHOOK_SUFFIX = "awsop.io"
DENY_CODE = 403


def handler_id(kind: str) -> str:
    return f"validate-{kind.lower()}"


def webhook_name(kind: str) -> str:
    return f"{handler_id(kind)}.{WEBHOOK_SUFFIX}"


def validate_object(
    info: KindInfo, rt: Runtime, body: Any, old: Any, operation: str, warnings: list[str], **_: Any
) -> None:
    """Deny a Deny violation; warn about Warn violations and conflicting defaults (judged with the
    process's policy cache, accounts and settings in `rt`)."""
    if operation not in ("CREATE", "UPDATE"):
        return
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return
    if (
        operation == "UPDATE"
        and old is not None
        and dict(old.get("spec") or {}) == dict(body.get("spec") or {})
    ):
        return
    try:
        model = info.spec_model.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        return  # the reconcile reports invalid specs (Stalled, InvalidSpec)
    name = f"{info.kind} {meta.get('namespace', '')}/{meta.get('name', '')}"
    ref = object_ref(info, meta)
    verdict = verdict_of(rt, info, ref, model, account_of(rt, ref, model, ""))
    from awsop.reconcilers.tag_policy import Enforcement

    warned = [v for v in verdict.violations if v.enforcement is Enforcement.WARN]
    warnings.extend(f"{name}: {v.explain()}" for v in warned)
    warnings.extend(f"{name}: TagPolicy error: {c.explain()}" for c in verdict.conflicts)
    if verdict.denied:
        raise kopf.AdmissionError(f"{name}: {verdict.message(verdict.denied)}", code=DENY_CODE)


def validate_tag_policy(**kwargs: Any) -> None:
    """A TagPolicy the model refuses never gets stored."""
    body, operation = kwargs["body"], kwargs["operation"]
    if operation not in ("CREATE", "UPDATE"):
        return
    try:
        TagPolicySpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        name = (body.get("metadata") or {}).get("name", "")
        raise kopf.AdmissionError(f"TagPolicy {name}: {format_validation_error(exc)}", code=422) from None


def register(kinds: list[KindInfo], rt: Runtime, registry: kopf.OperatorRegistry | None) -> None:
    """One validating handler per kind, bound to `rt`; only when the webhook is on (kopf would otherwise
    refuse to start without a webhook server)."""
    cfg = rt.settings
    if not cfg.webhook_port:
        return
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    opts["ignore_failures"] = cfg.webhook_failure_policy == "Ignore"
    for info in kinds:

        def handler(info: KindInfo = info, **kwargs: Any) -> None:
            validate_object(info, rt, **kwargs)

        handler.__name__ = handler_id(info.kind)
        kopf.on.validate(
            info.group,
            VERSION,
            info.plural,
            id=handler_id(info.kind),
            operations=["CREATE", "UPDATE"],
            **opts,
        )(handler)
    policy = CONFIG_KINDS["TagPolicy"]
    kopf.on.validate(
        policy.group,
        VERSION,
        policy.plural,
        id=handler_id(policy.kind),
        operations=["CREATE", "UPDATE"],
        **opts,
    )(validate_tag_policy)


def configure(settings: kopf.OperatorSettings, cfg: Settings, workdir: Path) -> None:
    """Start kopf's webhook server (HTTPS) and, when asked, let kopf manage the configuration object."""
    if not cfg.webhook_port:
        return
    host = cfg.webhook_host or "localhost"
    if cfg.webhook_cert_dir:
        folder = Path(cfg.webhook_cert_dir)
        ca = folder / "ca.crt"
        server = kopf.WebhookServer(
            addr=cfg.webhook_addr,
            port=cfg.webhook_port,
            host=host,
            certfile=folder / "tls.crt",
            pkeyfile=folder / "tls.key",
            cafile=ca if ca.exists() else None,
        )
    else:
        ca_pem, cert_pem, key_pem = self_signed([host, cfg.webhook_addr])
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "tls.crt").write_bytes(cert_pem)
        (workdir / "tls.key").write_bytes(key_pem)
        (workdir / "tls.key").chmod(0o600)
        server = kopf.WebhookServer(
            addr=cfg.webhook_addr,
            port=cfg.webhook_port,
            host=host,
            certfile=workdir / "tls.crt",
            pkeyfile=workdir / "tls.key",
            cadata=ca_pem,
        )
    settings.admission.server = server
    if cfg.webhook_managed:
        settings.admission.managed = WEBHOOK_SUFFIX
    log.info("admission webhook on %s:%s (host %s)", cfg.webhook_addr, cfg.webhook_port, host)


def self_signed(hosts: list[str], days: int = 365) -> tuple[bytes, bytes, bytes]:
    """A CA and a server certificate for `hosts` (DNS names or IPs): (ca.crt, tls.crt, tls.key) PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "awsop-webhook-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in dict.fromkeys(h for h in hosts if h and h not in ("0.0.0.0", "::")):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
