"""Object lifecycle semantics, independent of HTTP: create, update, patch, delete.

This is where the sandbox behaves like the real registry: system metadata (uid, timestamps,
resourceVersion, generation), optimistic concurrency, the status subresource split, finalizers and
``deletionTimestamp``, namespace termination, CRD registration, ownerReference garbage collection,
and custom resource pruning/defaulting/validation.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import admission, ownership, patches, validation
from .errors import (
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
    success_status,
)
from .resources import ResourceType, VersionInfo, builtin_types, type_from_crd
from .selectors import Predicate
from .store import Store

SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


MAX_ANNOTATIONS_BYTES = 262144  # 256 KiB: keys and values of all annotations of one object together


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    """Per-request write options from the query string."""

    dry_run: bool = False
    field_validation: str = "Warn"  # Strict / Warn / Ignore
    warnings: list[str] = field(default_factory=list)
    preset: dict[str, Any] | None = None  # name/uid/creationTimestamp the admission chain already saw
    field_manager: str = ""  # who writes (managedFields of ConfigMap and Secret keys)
    force: bool = False  # server-side apply: take over keys other managers own
    applied: dict[str, Any] | None = None  # the applied configuration of a server-side apply


def _spec_part(obj: dict[str, Any], custom: bool) -> Any:
    if custom:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    return obj.get("spec")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        o = dict(o)
        o["metadata"] = {
            k: v for k, v in o.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")
        }
        return o

    return strip(a) == strip(b)


class Api:
    """The registry behaviour of the sandbox API server, on top of :class:`Store`."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        for rt in builtin_types():
            self.store.register(rt)
        ns_type = self.store.types[("", "namespaces")]
        for name in INITIAL_NAMESPACES:
            self.create(ns_type, "v1", "", {"metadata": {"name": name}}, WriteOptions())

    # ------------------------------------------------------------------ reading

    def present(self, rt: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as served in ``version`` (apiVersion rewritten; defaults applied on read)."""
        out = copy.deepcopy(obj)
        out["apiVersion"] = rt.api_version(version)
        out["kind"] = rt.kind
        info = rt.version(version)
        if rt.custom and info is not None and info.schema:
            validation.apply_defaults(out, info.schema)
        return out

    def get(self, rt: ResourceType, version: str, namespace: str, name: str) -> dict[str, Any]:
        return self.present(rt, version, self.store.get(rt, namespace, name))

    def list_objects(
        self, rt: ResourceType, version: str, namespace: str | None, matches: Predicate
    ) -> list[dict[str, Any]]:
        return [self.present(rt, version, obj) for obj in self.store.select(rt, namespace, matches)]

    # ------------------------------------------------------------------ writing

    def create(
        self, rt: ResourceType, version: str, namespace: str, body: dict[str, Any], opts: WriteOptions
    ) -> dict[str, Any]:
        obj = self._normalize(rt, version, namespace, body)
        meta = obj["metadata"]
        if opts.preset and not meta.get("name"):
            meta["name"] = opts.preset["name"]
        if rt.namespaced:
            ns = self.store.find(self.store.types[("", "namespaces")], "", meta["namespace"])
            if ns is None:
                raise not_found("", "namespaces", meta["namespace"])
            if ns["metadata"].get("deletionTimestamp"):
                # the NamespaceLifecycle admission plugin: nothing new (Events included) in a namespace
                # being deleted, with the NamespaceTerminating cause clients branch on
                named = f' "{meta["name"]}"' if meta.get("name") else ""
                error = forbidden(
                    f"{rt.qualified}{named} is forbidden: "
                    "unable to create new content in namespace "
                    f"{meta['namespace']} because it is being terminated"
                )
                error.details = {
                    "name": meta.get("name", ""),
                    "group": rt.group,
                    "kind": rt.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {meta['namespace']} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                }
                raise error
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_CHARS, k=5))
            else:
                raise invalid(
                    rt.group_kind,
                    rt.group,
                    rt.kind,
                    "",
                    [
                        Cause(
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
        if self.store.find(rt, meta.get("namespace", ""), meta["name"]) is not None:
            raise already_exists(rt.group, rt.plural, meta["name"])
        for key in (*SYSTEM_META, "resourceVersion"):
            meta.pop(key, None)
        meta["uid"] = (opts.preset or {}).get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = (opts.preset or {}).get("creationTimestamp") or now()
        if rt.tracks_generation:
            meta["generation"] = 1
        info = rt.version(version)
        if info is not None and info.status_subresource and rt.custom:
            obj.pop("status", None)
        obj = self._admit(rt, info, obj, None, opts)
        obj["apiVersion"] = rt.api_version(rt.storage_version)
        if opts.dry_run:
            return self.present(rt, version, obj)
        if rt.key in ownership.TRACKED:
            ownership.record(
                None, obj, opts.field_manager or "unknown", opts.applied, rt.api_version(version)
            )
        stored = self.store.write(rt, obj, "ADDED", None)
        if rt.kind == "CustomResourceDefinition":
            self._serve_crd(stored)
        return self.present(rt, version, stored)

    def update(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        opts: WriteOptions,
        subresource: str = "",
        *,
        require_rv: bool = True,
    ) -> dict[str, Any]:
        """PUT semantics (PATCH ends here too, with ``require_rv=False``)."""
        current = self.store.get(rt, namespace, name)
        obj = self._normalize(rt, version, namespace, body)
        meta = obj["metadata"]
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        given_rv = meta.get("resourceVersion")
        if not given_rv and require_rv and rt.custom:
            raise invalid(
                rt.group_kind,
                rt.group,
                rt.kind,
                name,
                [
                    Cause(
                        "FieldValueInvalid",
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        if given_rv and given_rv != current["metadata"]["resourceVersion"]:
            raise conflict(rt.group, rt.plural, name)
        info = rt.version(version)
        if subresource == "status":
            new = copy.deepcopy(current)
            new["apiVersion"] = obj["apiVersion"]
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            for key in SYSTEM_META:
                if key in current["metadata"]:
                    meta[key] = current["metadata"][key]
                else:
                    meta.pop(key, None)
            if rt.has_status:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            old_finalizers = set(current["metadata"].get("finalizers") or [])
            added = [f for f in meta.get("finalizers") or [] if f not in old_finalizers]
            if current["metadata"].get("deletionTimestamp") and added:
                raise invalid(
                    rt.group_kind,
                    rt.group,
                    rt.kind,
                    name,
                    [
                        Cause(
                            "FieldValueForbidden",
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being deleted, "
                            "found new "
                            f"finalizers {added}",
                        )
                    ],
                )
        new = self._admit(rt, info, new, current, opts)
        new["apiVersion"] = rt.api_version(rt.storage_version)
        if rt.tracks_generation and _spec_part(new, rt.custom) != _spec_part(current, rt.custom):
            new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if rt.key in ownership.TRACKED and not subresource:
            ownership.record(
                current, new, opts.field_manager or "unknown", opts.applied, rt.api_version(version)
            )
        if _same(new, current) or opts.dry_run:
            return self.present(rt, version, new if opts.dry_run else current)
        stored = self.store.write(rt, new, "MODIFIED", current)
        if rt.kind == "CustomResourceDefinition":
            self._serve_crd(stored)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers"):
            self._remove(rt, stored)
        return self.present(rt, version, stored)

    def patch(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        content_type: str,
        patch_body: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> dict[str, Any]:
        current = self.store.find(rt, namespace, name)
        tracked = content_type == patches.APPLY_PATCH and rt.key in ownership.TRACKED and not subresource
        if tracked and isinstance(patch_body, dict):
            opts.applied = patch_body
        if content_type == patches.APPLY_PATCH and current is None and not subresource:
            return self.create(rt, version, namespace, patch_body, opts)
        if current is None:
            raise not_found(rt.group, rt.plural, name)
        base = self.present(rt, version, current)
        if content_type == patches.JSON_PATCH:
            patched = patches.json_patch(base, patch_body)
        elif content_type == patches.MERGE_PATCH:
            patched = patches.merge_patch(base, patch_body)
        elif content_type == patches.STRATEGIC_MERGE_PATCH:
            patched = patches.strategic_merge_patch(base, patch_body)
        else:
            patched = patches.apply_patch(base, patch_body)
            if opts.applied is not None and isinstance(patched, dict):
                manager = opts.field_manager or "unknown"
                found = ownership.conflicts(current, opts.applied, manager)
                if found and not opts.force:
                    raise ownership.conflict_error(rt.kind, rt.plural, name, found)
                ownership.prune(current, patched, opts.applied, manager)
        if not isinstance(patched, dict):
            raise bad_request("the patch must produce an object")
        patched.setdefault("metadata", {})
        return self.update(rt, version, namespace, name, patched, opts, subresource, require_rv=False)

    def delete(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        options: dict[str, Any],
        opts: WriteOptions,
    ) -> dict[str, Any]:
        current = self.store.get(rt, namespace, name)
        meta = current["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise conflict(
                rt.group,
                rt.plural,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(
                rt.group,
                rt.plural,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        if opts.dry_run:
            return self.present(rt, version, current)
        if rt.key == ("", "namespaces"):
            return self.present(rt, version, self._terminate_namespace(rt, current))
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return self.present(rt, version, current)
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            return self.present(rt, version, self.store.write(rt, marked, "MODIFIED", current))
        self._remove(rt, current)
        details = {"name": name, "kind": rt.plural, "uid": meta["uid"]}
        if rt.group:
            details["group"] = rt.group
        return success_status(details)

    # ------------------------------------------------------------------ internals

    def _normalize(self, rt: ResourceType, version: str, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        api_version = rt.api_version(version)
        if obj.get("kind") not in (None, "", rt.kind) or obj.get("apiVersion") not in (None, "", api_version):
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match "
                f"the expected API version ({api_version})"
                if obj.get("apiVersion") not in (None, "", api_version)
                else f"Object kind {obj.get('kind')!r} does not match the expected kind {rt.kind!r}"
            )
        obj["apiVersion"] = api_version
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        return obj

    def _admit(
        self,
        rt: ResourceType,
        info: VersionInfo | None,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
    ) -> dict[str, Any]:
        """Kind-specific mutation, then pruning/defaulting/validation. Raises 422/400 like the server."""
        meta = obj["metadata"]
        causes: list[Cause] = []
        annotations = meta.get("annotations") or {}
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
        if size > MAX_ANNOTATIONS_BYTES:  # apimachinery's ValidateAnnotations, on every create and update
            causes.append(
                Cause(
                    "FieldValueTooLong",
                    "metadata.annotations",
                    f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes",
                )
            )
        if old is None:
            bad_name = validation.validate_name(meta["name"], label=rt.kind == "Namespace")
            if bad_name:
                causes.append(bad_name)
        if rt.key == ("", "namespaces"):
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif rt.key == ("", "secrets"):
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None) or {}
            if string_data:
                data = obj.setdefault("data", {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
        elif rt.key == (admission.GROUP, admission.PLURAL):
            causes.extend(admission.default_and_validate(obj))
        elif rt.kind == "CustomResourceDefinition":
            causes.extend(validation.check_crd(obj))
            if old is not None and old["spec"].get("group") != obj["spec"].get("group"):
                causes.append(Cause("FieldValueInvalid", "spec.group", "Invalid value: field is immutable"))
            if not causes:
                obj["status"] = self._crd_status(obj, old)
        if rt.custom and info is not None and info.schema:
            unknown = validation.prune(obj, info.schema)
            if unknown and opts.field_validation == "Strict":
                listed = ", ".join(f'unknown field "{u}"' for u in unknown)
                raise bad_request(
                    f'{rt.kind} in version "{info.name}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {listed}"
                )
            if unknown and opts.field_validation == "Warn":
                opts.warnings.extend(f'unknown field "{u}"' for u in unknown)
            validation.apply_defaults(obj, info.schema)
            causes.extend(validation.validate(obj, info.schema, old))
        if causes:
            raise invalid(rt.group_kind, rt.group, rt.kind, meta.get("name", ""), causes)
        return obj

    def _crd_status(self, crd: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        stamp = now()
        spec = crd["spec"]
        names = dict(spec["names"])
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        if storage not in stored:
            stored.append(storage)
        return {
            "acceptedNames": names,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": stamp,
                },
            ],
            "storedVersions": stored,
        }

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        rt = type_from_crd(crd)
        previous = self.store.types.get(rt.key)
        self.store.register(rt)
        if previous is not None and previous.kind != rt.kind:
            self.store.objects[rt.key] = {}

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Delete for good: DELETED event, CRD teardown, dependents, namespace finalization."""
        self.store.write(rt, obj, "DELETED", obj)
        if rt.kind == "CustomResourceDefinition":
            key = (obj["spec"]["group"], obj["spec"]["names"]["plural"])
            served = self.store.types.get(key)
            if served is not None:
                for dead in list(self.store.objects.get(key, {}).values()):
                    self.store.write(served, dead, "DELETED", dead)
                self.store.unregister(key)
        self._collect_dependents(obj["metadata"]["uid"])
        namespace = obj["metadata"].get("namespace")
        if rt.namespaced and namespace:
            self._finish_namespace(namespace)

    def _collect_dependents(self, owner_uid: str) -> None:
        """Background garbage collection: objects whose ownerReferences point at a removed owner."""
        for rt, obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                current = self.store.find(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                if current is not None:
                    self.delete(
                        rt,
                        rt.storage_version,
                        obj["metadata"].get("namespace", ""),
                        obj["metadata"]["name"],
                        {},
                        WriteOptions(),
                    )

    def _terminate_namespace(self, rt: ResourceType, ns: dict[str, Any]) -> dict[str, Any]:
        if not ns["metadata"].get("deletionTimestamp"):
            marked = copy.deepcopy(ns)
            marked["metadata"]["deletionTimestamp"] = now()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked["status"] = {"phase": "Terminating"}
            ns = self.store.write(rt, marked, "MODIFIED", ns)
            name = ns["metadata"]["name"]
            for child_rt, child in self.store.all_in_namespace(name):
                if self.store.find(child_rt, name, child["metadata"]["name"]) is not None:
                    self.delete(
                        child_rt,
                        child_rt.storage_version,
                        name,
                        child["metadata"]["name"],
                        {},
                        WriteOptions(),
                    )
            self._finish_namespace(name)
        return self.store.find(rt, "", ns["metadata"]["name"]) or ns

    def _finish_namespace(self, name: str) -> None:
        ns_type = self.store.types[("", "namespaces")]
        ns = self.store.find(ns_type, "", name)
        if (
            ns is not None
            and ns["metadata"].get("deletionTimestamp")
            and not self.store.all_in_namespace(name)
        ):
            self.store.write(ns_type, ns, "DELETED", ns)


def parse_dry_run(value: str | None) -> bool:
    """``?dryRun=All`` is the only accepted value, as on the real server."""
    if value in (None, ""):
        return False
    if value != "All":
        raise ApiError(400, "BadRequest", f'Invalid dry run value: "{value}"')
    return True
