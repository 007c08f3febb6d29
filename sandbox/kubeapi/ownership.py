"""Field ownership of ConfigMap and Secret keys, as the real API server's server-side apply keeps it.

The real server records in ``metadata.managedFields`` which manager set which field. For the keys of a
ConfigMap's or Secret's ``data`` (and ``binaryData``) the sandbox does the same, because operators share
such objects key by key: an apply that changes a key another manager owns fails with 409 Conflict unless
forced, an apply that leaves out a key its manager applied before removes it (when no other manager owns
it), and every other write (create, update, patch) makes its manager the owner of the keys it set.
``metadata.ownerReferences`` is a list keyed by uid, as on the real server: an apply adds or replaces its
entries and drops only the ones its manager applied before. Other fields and other kinds keep the
simplified merge semantics of :func:`patches.apply_patch`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, _details

TRACKED = frozenset({("", "configmaps"), ("", "secrets")})
SECTIONS = ("data", "binaryData")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keys(entry: dict[str, Any], section: str) -> set[str]:
    fields = (entry.get("fieldsV1") or {}).get(f"f:{section}") or {}
    return {k[2:] for k in fields if k.startswith("f:")}


def _owners(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(e) for e in ((obj or {}).get("metadata") or {}).get("managedFields") or []]


def conflicts(current: dict[str, Any], applied: dict[str, Any], manager: str) -> list[str]:
    """`conflict with "m": .data.K` for each applied key whose value differs from one another manager set."""
    found = []
    for section in SECTIONS:
        live = current.get(section) or {}
        for key, value in (applied.get(section) or {}).items():
            if key not in live or live[key] == value:
                continue
            for entry in _owners(current):
                if entry.get("manager") != manager and key in _keys(entry, section):
                    found.append(f'conflict with "{entry.get("manager")}": .{section}.{key}')
    return found


def conflict_error(kind: str, plural: str, name: str, found: list[str]) -> ApiError:
    count = f"{len(found)} conflict{'s' if len(found) > 1 else ''}"
    return ApiError(
        409, "Conflict", f"Apply failed with {count}: {'; '.join(found)}", _details("", plural, name)
    )


def _ref_uids(entry: dict[str, Any]) -> set[str]:
    fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:ownerReferences") or {}
    return {k[len('k:{"uid":"') : -2] for k in fields if k.startswith('k:{"uid":"')}


def _ref_fields(uids: set[str]) -> dict[str, Any]:
    return {"f:ownerReferences": {f'k:{{"uid":"{uid}"}}': {} for uid in sorted(uids)}}


def _refs(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(((obj or {}).get("metadata") or {}).get("ownerReferences") or [])


def prune(current: dict[str, Any], patched: dict[str, Any], applied: dict[str, Any], manager: str) -> None:
    """Remove from `patched` the keys `manager` applied before and leaves out now, unless another manager
    owns them too; merge the owner references by uid."""
    mine_refs: set[str] = set()
    others_refs: set[str] = set()
    for entry in _owners(current):
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            mine_refs |= _ref_uids(entry)
        elif entry.get("manager") != manager:
            others_refs |= _ref_uids(entry)
    given = {r.get("uid"): r for r in _refs(applied)}
    merged = [given.pop(r.get("uid"), r) for r in _refs(current)] + list(given.values())
    dropped = mine_refs - {r.get("uid") for r in _refs(applied)} - others_refs
    merged = [r for r in merged if r.get("uid") not in dropped]
    meta = patched.setdefault("metadata", {})
    if merged:
        meta["ownerReferences"] = merged
    else:
        meta.pop("ownerReferences", None)
    for section in SECTIONS:
        mine: set[str] = set()
        others: set[str] = set()
        for entry in _owners(current):
            if entry.get("manager") == manager and entry.get("operation") == "Apply":
                mine |= _keys(entry, section)
            elif entry.get("manager") != manager:
                others |= _keys(entry, section)
        gone = mine - set(applied.get(section) or {}) - others
        data = patched.get(section)
        if isinstance(data, dict):
            for key in gone:
                data.pop(key, None)
            if not data:
                patched.pop(section, None)


def record(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    applied: dict[str, Any] | None,
    api_version: str,
) -> None:
    """Write `new`'s managedFields: an apply (`applied` given) makes `manager` own exactly the applied keys;
    any other write makes it own the keys it added or changed. A changed key belongs to nobody else after;
    keys that are gone belong to nobody."""
    entries = _owners(old)
    operation = "Apply" if applied is not None else "Update"
    fields: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        before = (old or {}).get(section) or {}
        after = new.get(section) or {}
        changed = {k for k, v in after.items() if before.get(k) != v}
        if applied is not None:
            taken = set(applied.get(section) or {}) & set(after)
        else:
            mine = next(
                (e for e in entries if e.get("manager") == manager and e.get("operation") == "Update"), {}
            )
            taken = (_keys(mine, section) & set(after)) | changed
        for entry in entries:
            keep = _keys(entry, section) & set(after)
            if entry.get("manager") != manager:
                keep -= changed
            entry.setdefault("fieldsV1", {})[f"f:{section}"] = {f"f:{k}": {} for k in sorted(keep)}
        if taken:
            fields[f"f:{section}"] = {f"f:{k}": {} for k in sorted(taken)}
    after_refs = {str(r.get("uid")) for r in _refs(new)}
    added_refs = after_refs - {str(r.get("uid")) for r in _refs(old)}
    if applied is not None:
        taken_refs = {str(r.get("uid")) for r in _refs(applied)} & after_refs
    else:
        mine = next(
            (e for e in entries if e.get("manager") == manager and e.get("operation") == "Update"), {}
        )
        taken_refs = (_ref_uids(mine) & after_refs) | added_refs
    for entry in entries:
        keep_refs = _ref_uids(entry) & after_refs
        if keep_refs:
            entry.setdefault("fieldsV1", {})["f:metadata"] = _ref_fields(keep_refs)
        else:
            entry.get("fieldsV1", {}).pop("f:metadata", None)
    if taken_refs:
        fields["f:metadata"] = _ref_fields(taken_refs)
    entries = [e for e in entries if not (e.get("manager") == manager and e.get("operation") == operation)]
    if fields:
        entries.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "time": _now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        )
    for entry in entries:
        entry["fieldsV1"] = {k: v for k, v in (entry.get("fieldsV1") or {}).items() if v}
    entries = [e for e in entries if e["fieldsV1"]]
    if entries:
        new.setdefault("metadata", {})["managedFields"] = entries
    else:
        new.get("metadata", {}).pop("managedFields", None)
