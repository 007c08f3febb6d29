"""Validating admission webhooks, as kube-apiserver calls them.

``ValidatingWebhookConfiguration`` objects (admissionregistration.k8s.io/v1) are stored like any other
object; every write (CREATE, UPDATE, DELETE; subresources included) is matched against their webhooks
(rules, scope, namespaceSelector, objectSelector) and each matching webhook receives an AdmissionReview v1
over HTTPS, verified against its ``caBundle``, within its ``timeoutSeconds``. The answers are handled the
way the real server handles them:

- ``allowed: false`` -> the write fails with the webhook's status as it is (a code below 400 becomes
  400; no reason or details unless the webhook gave them) and the message ``admission webhook "<name>"
  denied the request: <message>``;
- ``warnings`` -> ``Warning: 299`` response headers (kubectl prints them), also on a denial;
- a call that fails (connection, TLS, timeout, non-200, malformed review, uid mismatch, a patch from a
  validating webhook) -> ``failurePolicy``: ``Fail`` (the default) answers 500 InternalError
  ``failed calling webhook "<name>": ...``; ``Ignore`` admits the write;
- a ``dryRun`` request reaches only webhooks whose ``sideEffects`` is None or NoneOnDryRun; any other
  matching webhook makes it fail with 400 ``admission webhook "<name>" does not support dry run``.

Webhook configurations themselves are never sent to webhooks (as in the real server, so a broken webhook
can always be removed). Only ``clientConfig.url`` is reachable: there is no cluster network behind a
``service`` reference, so such a call fails like an unreachable service does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import ApiError, Cause, bad_request, invalid

GROUP = "admissionregistration.k8s.io"
PLURAL = "validatingwebhookconfigurations"
EXEMPT = frozenset({(GROUP, PLURAL), (GROUP, "mutatingwebhookconfigurations")})
REVIEW_VERSION = "admission.k8s.io/v1"
USER = {"username": "sandbox-admin", "groups": ["system:masters", "system:authenticated"]}
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT", "*"})
OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


# -- configuration objects ----------------------------------------------------------------------------


def default_and_validate(obj: dict[str, Any]) -> list[Cause]:
    """Defaults of admissionregistration/v1 webhooks, then the server's validation, as field causes."""
    causes: list[Cause] = []
    names: set[str] = set()
    for index, hook in enumerate(obj.get("webhooks") or []):
        where = f"webhooks[{index}]"
        if not isinstance(hook, dict):
            causes.append(Cause("FieldValueInvalid", where, "Invalid value: must be an object"))
            continue
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        for rule in hook.get("rules") or []:
            rule.setdefault("scope", "*")
        name = str(hook.get("name") or "")
        if not name:
            causes.append(Cause("FieldValueRequired", f"{where}.name", "Required value"))
        elif len(name.split(".")) < 3:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}.name",
                    f'Invalid value: "{name}": should be a domain with at least three segments separated '
                    "by dots",
                )
            )
        elif name in names:
            causes.append(Cause("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"'))
        names.add(name)
        if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            value = hook.get("sideEffects")
            causes.append(
                Cause(
                    "FieldValueNotSupported" if value else "FieldValueRequired",
                    f"{where}.sideEffects",
                    f'Unsupported value: "{value}": supported values: "None", "NoneOnDryRun"'
                    if value
                    else 'Required value: must specify one of "None", "NoneOnDryRun"',
                )
            )
        versions = hook.get("admissionReviewVersions") or []
        if not versions:
            causes.append(
                Cause(
                    "FieldValueRequired",
                    f"{where}.admissionReviewVersions",
                    "Required value: must specify one of v1, v1beta1",
                )
            )
        if hook["failurePolicy"] not in ("Ignore", "Fail"):
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f"{where}.failurePolicy",
                    f'Unsupported value: "{hook["failurePolicy"]}": supported values: "Fail", "Ignore"',
                )
            )
        timeout = hook["timeoutSeconds"]
        if not isinstance(timeout, int) or not 1 <= timeout <= 30:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}.timeoutSeconds",
                    f"Invalid value: {timeout}: the timeout value must be between 1 and 30 seconds",
                )
            )
        client = hook.get("clientConfig") or {}
        has_url, has_service = bool(client.get("url")), bool(client.get("service"))
        if has_url == has_service:
            causes.append(
                Cause(
                    "FieldValueRequired",
                    f"{where}.clientConfig",
                    "Required value: exactly one of url or service is required",
                )
            )
        elif has_url and not str(client["url"]).startswith("https://"):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}.clientConfig.url",
                    f"Invalid value: \"{client['url']}\": 'https' is the only allowed URL scheme",
                )
            )
        if client.get("caBundle"):
            try:
                base64.b64decode(client["caBundle"], validate=True)
            except ValueError:
                causes.append(
                    Cause("FieldValueInvalid", f"{where}.clientConfig.caBundle", "Invalid value: not base64")
                )
        for r_index, rule in enumerate(hook.get("rules") or []):
            for op in rule.get("operations") or []:
                if op not in OPERATIONS:
                    causes.append(
                        Cause(
                            "FieldValueNotSupported",
                            f"{where}.rules[{r_index}].operations[0]",
                            f'Unsupported value: "{op}": supported values: "*", "CONNECT", "CREATE", '
                            '"DELETE", "UPDATE"',
                        )
                    )
            if rule["scope"] not in ("*", "Cluster", "Namespaced"):
                causes.append(
                    Cause(
                        "FieldValueNotSupported",
                        f"{where}.rules[{r_index}].scope",
                        f'Unsupported value: "{rule["scope"]}": supported values: "*", "Cluster", '
                        '"Namespaced"',
                    )
                )
    return causes


# -- matching -----------------------------------------------------------------------------------------


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector: every matchLabels pair and every matchExpressions requirement."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Request:
    """One write as the admission chain sees it."""

    group: str
    version: str
    kind: str
    plural: str
    subresource: str
    namespace: str  # "" for cluster-scoped objects
    name: str
    operation: str  # CREATE | UPDATE | DELETE
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    dry_run: bool
    namespace_labels: dict[str, str] | None  # None when the namespace does not exist (or none applies)


def rule_matches(rule: dict[str, Any], req: Request) -> bool:
    """rules[] matching as in k8s.io/apiserver's webhook rule matcher."""
    if not any(op in ("*", req.operation) for op in rule.get("operations") or []):
        return False
    if not any(g in ("*", req.group) for g in rule.get("apiGroups") or []):
        return False
    if not any(v in ("*", req.version) for v in rule.get("apiVersions") or []):
        return False
    scope = rule.get("scope", "*")
    if scope == "Cluster" and req.namespace:
        return False
    if scope == "Namespaced" and not req.namespace:
        return False
    for resource in rule.get("resources") or []:
        if resource == "*/*":
            return True
        res, _, sub = resource.partition("/")
        if "/" not in resource:
            if res in ("*", req.plural) and not req.subresource:
                return True
        elif res in ("*", req.plural) and sub in ("*", req.subresource):
            return True
    return False


def webhook_matches(hook: dict[str, Any], req: Request) -> bool:
    if not any(rule_matches(rule, req) for rule in hook.get("rules") or []):
        return False
    if req.namespace or (req.group, req.plural) == ("", "namespaces"):
        labels = req.namespace_labels
        if (req.group, req.plural) == ("", "namespaces"):
            labels = ((req.obj or req.old or {}).get("metadata") or {}).get("labels") or {}
        if labels is not None and not selector_matches(hook.get("namespaceSelector"), labels):
            return False
    selector = hook.get("objectSelector")
    if selector:
        candidates = [o for o in (req.obj, req.old) if o is not None]
        if not any(
            selector_matches(selector, (o.get("metadata") or {}).get("labels") or {}) for o in candidates
        ):
            return False
    return True


# -- calling ------------------------------------------------------------------------------------------


class CallError(Exception):
    """The webhook could not be called or answered something unusable (failurePolicy decides)."""


def review(req: Request, uid: str) -> dict[str, Any]:
    resource = {"group": req.group, "version": req.version, "resource": req.plural}
    kind = {"group": req.group, "version": req.version, "kind": req.kind}
    request: dict[str, Any] = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": req.name,
        "operation": req.operation,
        "userInfo": USER,
        "object": req.obj,
        "oldObject": req.old,
        "dryRun": req.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": OPTIONS_KIND.get(req.operation, "CreateOptions")},
    }
    if req.subresource:
        request["subResource"] = request["requestSubResource"] = req.subresource
    if req.namespace:
        request["namespace"] = req.namespace
    return {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview", "request": request}


def _ssl_context(client: dict[str, Any]) -> ssl.SSLContext:
    if client.get("caBundle"):
        pem = base64.b64decode(client["caBundle"]).decode()
        return ssl.create_default_context(cadata=pem)
    return ssl.create_default_context()


def _url(hook: dict[str, Any]) -> str:
    client = hook["clientConfig"]
    if client.get("url"):
        base = str(client["url"])
    else:
        service = client["service"]
        port = service.get("port", 443)
        base = f"https://{service['name']}.{service['namespace']}.svc:{port}{service.get('path', '')}"
    return f"{base}{'&' if '?' in base else '?'}timeout={hook['timeoutSeconds']}s"


async def call(hook: dict[str, Any], req: Request) -> dict[str, Any]:
    """POST the AdmissionReview; the verified `response` part, or CallError."""
    if "v1" not in (hook.get("admissionReviewVersions") or []):
        raise CallError(
            f"webhook does not accept v1 AdmissionReview (admissionReviewVersions: "
            f"{hook.get('admissionReviewVersions')})"
        )
    uid = str(uuid.uuid4())
    url = _url(hook)
    try:
        context = _ssl_context(hook["clientConfig"])
    except (ValueError, ssl.SSLError) as exc:
        raise CallError(f"could not get REST client: unable to load root certificates: {exc}") from None
    timeout = aiohttp.ClientTimeout(total=float(hook["timeoutSeconds"]))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                url,
                data=json.dumps(review(req, uid)),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                ssl=context,
            ) as answer,
        ):
            text = await answer.text()
            if answer.status != 200:
                raise CallError(
                    f'failed to call webhook: an error on the server ("{text[:200]}") has prevented the '
                    f"request from succeeding"
                )
    except TimeoutError:
        raise CallError(f'failed to call webhook: Post "{url}": context deadline exceeded') from None
    except aiohttp.ClientError as exc:
        raise CallError(f'failed to call webhook: Post "{url}": {exc}') from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CallError(f"received invalid webhook response: {exc}") from None
    if doc.get("apiVersion") != REVIEW_VERSION or doc.get("kind") != "AdmissionReview":
        raise CallError(
            f"expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got "
            f"{doc.get('apiVersion')}, Kind={doc.get('kind')}"
        )
    response = doc.get("response")
    if not isinstance(response, dict):
        raise CallError("webhook response was absent")
    if response.get("uid") != uid:
        raise CallError(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    if response.get("patch") or response.get("patchType"):
        raise CallError("validating webhooks may not return patches")
    return response


def denied(name: str, response: dict[str, Any], req: Request) -> ApiError:
    """kube-apiserver's ToStatusErr: the webhook's own status as it is (code raised to 400 when it is
    below; reason and details only when the webhook gave them), its message after
    `admission webhook "<name>" denied the request` (checked against the real server in
    tests/apiserver/test_sandbox_parity.py)."""
    result = dict(response.get("status") or {})
    code = max(int(result.get("code") or 0), 400)
    message = str(result.get("message") or "")
    reason = str(result.get("reason") or "")
    denied_by = f'admission webhook "{name}" denied the request'
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    return ApiError(code, reason, text, result.get("details"))


def call_failed(name: str, why: str) -> ApiError:
    """apierrors.NewInternalError(ErrCallingWebhook), as the real server fails closed."""
    error = f'failed calling webhook "{name}": {why}'
    return ApiError(
        500, "InternalError", f"Internal error occurred: {error}", {"causes": [{"message": error}]}
    )


async def admit(configurations: list[dict[str, Any]], req: Request) -> list[str]:
    """Run every matching validating webhook (in parallel, as the real server does). Returns the
    warnings to send; raises ApiError for a denial, a failed call under Fail, or an unsupported dry run."""
    if (req.group, req.plural) in EXEMPT:
        return []
    hooks = [
        hook
        for config in sorted(configurations, key=lambda c: c["metadata"]["name"])
        for hook in config.get("webhooks") or []
        if webhook_matches(hook, req)
    ]
    if not hooks:
        return []
    if req.dry_run:
        for hook in hooks:
            if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
                raise bad_request(f'admission webhook "{hook["name"]}" does not support dry run')
    results = await asyncio.gather(*(call(hook, req) for hook in hooks), return_exceptions=True)
    warnings: list[str] = []
    first_error: ApiError | None = None
    for hook, result in zip(hooks, results, strict=True):
        if isinstance(result, CallError):
            if hook.get("failurePolicy", "Fail") == "Ignore":
                continue
            first_error = first_error or call_failed(hook["name"], str(result))
            continue
        if isinstance(result, BaseException):
            raise result
        warnings.extend(str(w) for w in result.get("warnings") or [])
        if not result.get("allowed"):
            first_error = first_error or denied(hook["name"], result, req)
    if first_error is not None:
        first_error.warnings = warnings
        raise first_error
    return warnings


def invalid_configuration(name: str, causes: list[Cause]) -> ApiError:
    return invalid(
        f"ValidatingWebhookConfiguration.{GROUP}", GROUP, "ValidatingWebhookConfiguration", name, causes
    )
