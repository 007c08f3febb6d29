"""Writes an object's outputs (reconcilers/outputs.py) into the ConfigMaps and Secrets its spec names.

Every write is a server-side apply under a field manager of the object's own (`awsop/<kind>/<name>`), never
forced: awsop owns exactly the keys it applies, so a ConfigMap that Helm or Argo CD made keeps its other keys
and labels, two objects can share one ConfigMap, and a key another manager owns is a reported conflict, not
an overwrite. A target that did not exist is created with an ownerReference to the object; on the object's
deletion awsop deletes such a target itself (when no other manager's keys are in it) instead of waiting for
the garbage collector, and removes its keys from every other target.

Values follow status: written when a reconcile finds the resource Ready (or Drifted under Report), in the
same reconcile, and re-read from the target on every check (a deleted ConfigMap comes back with the next
check); nothing is written while the object is paused, planned, or its resource is missing. A failure is the
`OutputsWritten` condition (False, with the reason) and a Warning Event; it never raises, so it never blocks
the AWS reconcile or the object's deletion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from awsop.reconcilers.engine import Outcome, State, now_rfc3339
from awsop.reconcilers.kinds import KINDS, KindInfo
from awsop.reconcilers.model import AwsObjectSpec, Output
from awsop.reconcilers.outputs import values_of

from . import kube

log = logging.getLogger("awsop")

CONDITION = "OutputsWritten"
APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MAX_MANAGER = 128  # the API server's limit on fieldManager
AWSOP_GROUPS = frozenset(info.group for info in KINDS.values())


def field_manager(kind: str, name: str) -> str:
    """`awsop/<kind>/<name>`: the server-side apply identity of one object (names past the API server's
    128-character limit are shortened with a digest, so two long names stay apart)."""
    manager = f"awsop/{kind.lower()}/{name}"
    if len(manager) <= MAX_MANAGER:
        return manager
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{manager[: MAX_MANAGER - 11]}-{digest}"


class TargetError(Exception):
    """A target could not be written; `reason` becomes the condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Targets:
    """ConfigMap and Secret calls, as raw JSON dicts (managedFields included)."""

    def _core(self) -> Any:
        return kube._api("core")

    def _call(self, kind: str, verb: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        method = getattr(
            self._core(), f"{verb}_namespaced_{'config_map' if kind == 'ConfigMap' else 'secret'}"
        )
        try:
            response = method(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and verb in ("read", "delete"):
                return None
            raise _target_error(kind, args[0], exc) from None
        return dict(json.loads(response.data or b"{}"))

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call(kind, "read", name, namespace)

    def apply(
        self, kind: str, namespace: str, name: str, body: dict[str, Any], manager: str
    ) -> dict[str, Any]:
        answer = self._call(
            kind, "patch", name, namespace, body, field_manager=manager, force=False, _content_type=APPLY
        )
        return answer or {}

    def json_patch(
        self, kind: str, namespace: str, name: str, ops: list[dict[str, Any]], manager: str
    ) -> None:
        self._call(kind, "patch", name, namespace, ops, field_manager=manager, _content_type=JSON_PATCH)

    def delete(self, kind: str, namespace: str, name: str, uid: str, resource_version: str) -> None:
        from kubernetes import client

        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=uid, resource_version=resource_version)
        )
        self._call(kind, "delete", name, namespace, body=options)


def _target_error(kind: str, name: str, exc: Any) -> TargetError:
    try:
        detail = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        detail = str(exc.reason)
    reason = {403: "OutputForbidden", 409: "OutputConflict", 422: "OutputInvalid"}.get(
        exc.status, "OutputWriteFailed"
    )
    return TargetError(reason, f"{kind} {name}: {detail}")


@dataclass
class ObjectIdentity:
    """The awsop object whose outputs these are."""

    info: KindInfo
    namespace: str
    name: str
    uid: str

    @property
    def manager(self) -> str:
        return field_manager(self.info.kind, self.name)

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.info.api_version,
            "kind": self.info.kind,
            "name": self.name,
            "uid": self.uid,
        }


@dataclass
class Report:
    """What one export did: the status entries, the failures, whether anything was written."""

    written: list[dict[str, Any]] = field(default_factory=list)
    failures: list[TargetError] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrote: list[str] = field(default_factory=list)


def _data(obj: dict[str, Any] | None, kind: str) -> dict[str, str]:
    if not obj:
        return {}
    data = dict(obj.get("data") or {})
    if kind == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return data


def _encode(kind: str, values: dict[str, str]) -> dict[str, str]:
    if kind == "Secret":
        return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return dict(values)


def _ours(obj: dict[str, Any] | None, uid: str) -> bool:
    """Whether awsop created the target for this object (it carries the object's ownerReference)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def _made_by_awsop(obj: dict[str, Any] | None) -> bool:
    """Whether awsop created the target (for any object): it has owners, and all are awsop objects. Every
    object that writes into such a target becomes an owner too, so the target lives exactly as long as
    the objects writing it (the garbage collector deletes it when the last owner is gone, and so does
    awsop itself)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return bool(refs) and all(str(ref.get("apiVersion", "")).split("/")[0] in AWSOP_GROUPS for ref in refs)


def _others_own(obj: dict[str, Any], key: str, manager: str) -> bool:
    """Whether a manager other than ours owns `key` of the target's data (managedFields)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager:
            continue
        if f"f:{key}" in ((entry.get("fieldsV1") or {}).get("f:data") or {}):
            return True
    return False


def _apply_body(
    me: ObjectIdentity, kind: str, name: str, values: dict[str, str], owned: bool
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": me.namespace}
    if owned:
        meta["ownerReferences"] = [me.owner_reference()]
    body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if values:
        body["data"] = _encode(kind, values)
    return body


def _remove_left(
    api: Targets,
    me: ObjectIdentity,
    kind: str,
    name: str,
    obj: dict[str, Any],
    keys: set[str],
    drop_owner: bool,
) -> None:
    """Remove what server-side apply left of ours: keys no other manager owns (an API server that prunes on
    apply has removed them already) and, when asked, the object's ownerReference. Guarded by `test` ops on
    the resourceVersion, so nothing written after the read is removed."""
    data = obj.get("data") or {}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]}
    ]
    for key in sorted(keys):
        if key in data and not _others_own(obj, key, me.manager):
            ops.append({"op": "remove", "path": f"/data/{key.replace('~', '~0').replace('/', '~1')}"})
    refs = obj["metadata"].get("ownerReferences") or []
    if drop_owner:
        for index in reversed([i for i, ref in enumerate(refs) if ref.get("uid") == me.uid]):
            ops.append({"op": "remove", "path": f"/metadata/ownerReferences/{index}"})
    if len(ops) > 1:
        api.json_patch(kind, me.namespace, name, ops, me.manager)


def _export_one(
    api: Targets, me: ObjectIdentity, output: Output, status: dict[str, Any], before: set[str], report: Report
) -> None:
    kind, name = output.to.kind, output.to.name
    wanted = values_of(me.info.kind, output.values, status)
    report.missing += [key for key, value in wanted.items() if value is None]
    values = {key: value for key, value in wanted.items() if value is not None}
    current = api.get(kind, me.namespace, name)
    owned = current is None or _ours(current, me.uid) or _made_by_awsop(current)
    if current is None and not values:
        return  # nothing to say yet: no empty target
    data = _data(current, kind)
    stale = {key for key in before - set(values) if key in data}
    joins = owned and current is not None and not _ours(current, me.uid)  # an awsop-made target: co-own it
    if current is None or stale or joins or any(data.get(k) != v for k, v in values.items()):
        current = api.apply(kind, me.namespace, name, _apply_body(me, kind, name, values, owned), me.manager)
        report.wrote.append(f"{kind} {name}")
        if stale:
            _remove_left(api, me, kind, name, current, stale, drop_owner=False)
    report.written.append({"kind": kind, "name": name, "keys": sorted(values), "created": owned})


def _withdraw(api: Targets, me: ObjectIdentity, kind: str, name: str, keys: set[str]) -> bool:
    """Take this object's keys out of one target; delete the target when awsop created it for this object and
    nothing else is in it. True when something was changed."""
    current = api.get(kind, me.namespace, name)
    if current is None:
        return False
    data = set(current.get("data") or {}) | set(current.get("binaryData") or {})
    meta = current["metadata"]
    if _ours(current, me.uid) and data <= keys and not any(_others_own(current, k, me.manager) for k in data):
        api.delete(kind, me.namespace, name, meta["uid"], meta["resourceVersion"])
        return True
    # applying nothing under our manager gives up every field we own (keys and ownerReference); what an API
    # server without field ownership leaves is removed explicitly
    after = api.apply(kind, me.namespace, name, _apply_body(me, kind, name, {}, False), me.manager)
    _remove_left(api, me, kind, name, after, keys, drop_owner=True)
    if _made_by_awsop(current):
        # its other writers may have left at the same moment (one `kubectl delete` of both objects): the
        # one that finds it empty and ownerless deletes it
        final = api.get(kind, me.namespace, name)
        final_meta = (final or {}).get("metadata") or {}
        if (
            final
            and not (final.get("data") or final.get("binaryData"))
            and not final_meta.get("ownerReferences")
        ):
            api.delete(kind, me.namespace, name, final_meta["uid"], final_meta["resourceVersion"])
    return True


def _previous(status: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (str(e.get("kind")), str(e.get("name"))): set(e.get("keys") or [])
        for e in status.get("outputs") or []
    }


def export(
    rt: Any,
    info: KindInfo,
    body: Any,
    meta: Any,
    model: AwsObjectSpec,
    outcome: Outcome,
    previous: dict[str, Any],
    patch: Any,
    api: Targets | None = None,
) -> None:
    """After a reconcile: write the outputs of a usable resource, withdraw those the spec dropped, and put
    `status.outputs` and the OutputsWritten condition into `patch` (the handler's status write). Never
    raises."""
    had = _previous(previous)
    if outcome.state not in (State.READY, State.DRIFTED) or not outcome.ok:
        return  # paused, planned, missing, busy or failing: the targets keep the last good values
    declared = list(model.outputs or [])
    if not declared and not had:
        return
    api = api or Targets()
    me = ObjectIdentity(info, meta.get("namespace") or "", meta["name"], meta.get("uid", ""))
    status = {**previous, **{k: v for k, v in outcome.status.items() if v is not None}}
    report = Report()
    allow_secrets = bool(getattr(rt.settings, "output_secrets", True))
    for output in declared:
        where = (output.to.kind, output.to.name)
        try:
            if output.to.kind == "Secret" and not allow_secrets:
                raise TargetError(
                    "SecretsDisabled",
                    f"Secret {output.to.name}: this installation writes no Secrets (use a ConfigMap)",
                )
            _export_one(api, me, output, status, had.get(where, set()), report)
        except TargetError as exc:
            report.failures.append(exc)
            if where in had:  # keep what it had: the keys are still there and still ours
                report.written.append(
                    {"kind": where[0], "name": where[1], "keys": sorted(had[where]), "created": False}
                )
        except Exception as exc:  # the API server is unreachable: reported, tried again at the next check
            report.failures.append(TargetError("OutputWriteFailed", f"{where[0]} {where[1]}: {exc}"))
    kept = {(o.to.kind, o.to.name) for o in declared}
    for (kind, name), keys in had.items():
        if (kind, name) in kept:
            continue
        try:
            if _withdraw(api, me, kind, name, keys):
                report.wrote.append(f"{kind} {name}")
        except TargetError as exc:
            report.failures.append(exc)
            report.written.append({"kind": kind, "name": name, "keys": sorted(keys), "created": False})
    _report(rt, body, meta, previous, patch, declared, report)


def _report(
    rt: Any,
    body: Any,
    meta: Any,
    previous: dict[str, Any],
    patch: Any,
    declared: list[Output],
    report: Report,
) -> None:
    written = report.written or None
    if previous.get("outputs") != written:
        patch.status["outputs"] = written
    if report.failures:
        reason = report.failures[0].reason
        message = "; ".join(f.message for f in report.failures)
        condition: tuple[str, str, str] | None = ("False", reason, message)
    elif declared:
        keys = sum(len(e["keys"]) for e in report.written)
        where = ", ".join(f"{e['kind']} {e['name']}" for e in report.written) or "nothing yet"
        message = f"{keys} keys in {where}"
        if report.missing:
            message += f"; no value yet for {', '.join(sorted(set(report.missing)))}"
        condition = ("True", "OutputsWritten", message)
    else:
        condition = None
    changed = _set_condition(patch, previous, condition, int(meta.get("generation") or 0))
    events = []
    if report.failures and changed:
        events.append(("Warning", condition[1] if condition else "", condition[2] if condition else ""))
    elif report.wrote:
        events.append(("Normal", "OutputsWritten", f"wrote outputs to {', '.join(report.wrote)}"))
    namespace = meta.get("namespace") or ""
    for type_, reason, message in events:
        if namespace and rt.namespaces.terminating(namespace):
            break
        try:
            kopf.event(body, type=type_, reason=reason, message=message[:1024])
        except Exception as exc:  # an Event is a courtesy: never fail the reconcile over it
            log.debug("event %s not posted: %s", reason, exc)


def _set_condition(
    patch: Any, previous: dict[str, Any], condition: tuple[str, str, str] | None, generation: int
) -> bool:
    """Upsert (or drop) the OutputsWritten condition in the status patch; True when its status, reason or
    message moved."""
    conditions = [dict(c) for c in (patch.status.get("conditions") or previous.get("conditions") or [])]
    old = next((c for c in conditions if c.get("type") == CONDITION), None)
    if condition is None:
        if old is None:
            return False
        patch.status["conditions"] = [c for c in conditions if c.get("type") != CONDITION]
        return True
    status, reason, message = condition
    message = message[:1024]
    if old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (
        status,
        reason,
        message,
    ):
        return False
    new = {
        "type": CONDITION,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339()
        if old is None or old.get("status") != status
        else old.get("lastTransitionTime", now_rfc3339()),
        "observedGeneration": generation,
    }
    patch.status["conditions"] = [new if c.get("type") == CONDITION else c for c in conditions] + (
        [new] if old is None else []
    )
    return True


def withdraw_all(
    rt: Any, info: KindInfo, body: Any, meta: Any, status: Any, api: Targets | None = None
) -> None:
    """On the object's deletion: take its keys out of every target it wrote (and delete the targets awsop
    created for it). Failures are logged and posted as an Event; they never hold the deletion."""
    had = _previous(dict(status or {}))
    if not had:
        return
    api = api or Targets()
    me = ObjectIdentity(info, meta.get("namespace") or "", meta["name"], meta.get("uid", ""))
    for (kind, name), keys in had.items():
        try:
            _withdraw(api, me, kind, name, keys)
        except Exception as exc:
            message = getattr(exc, "message", str(exc))
            log.warning("%s %s/%s: outputs not withdrawn: %s", info.kind, me.namespace, me.name, message)
            namespace = meta.get("namespace") or ""
            if not (namespace and rt.namespaces.terminating(namespace)):
                try:
                    kopf.event(body, type="Warning", reason="OutputsNotWithdrawn", message=message[:1024])
                except Exception as event_exc:
                    log.debug("event not posted: %s", event_exc)
