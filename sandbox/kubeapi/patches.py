"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch.

kubectl sends strategic merge patches for built-in kinds and merge patches for custom resources;
kopf sends merge patches and JSON patches (with a ``test`` of ``/metadata/resourceVersion``).
Strategic merge is implemented for the few list fields the served built-ins have
(``metadata.finalizers``, ``metadata.ownerReferences``); every other list is replaced.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Strategic-merge list semantics of the built-in kinds: path -> merge key ("" = primitive set merge).
_SMP_LIST_KEYS: dict[tuple[str, ...], str] = {
    ("metadata", "finalizers"): "",
    ("metadata", "ownerReferences"): "uid",
    ("spec", "finalizers"): "",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _unprocessable(
                f"the server rejected our request due to an error in our request: missing path {path}"
            )
    return cur


def _index(container: list[Any], part: str, path: str, *, insert: bool) -> int:
    if part == "-" and insert:
        return len(container)
    if not part.isdigit():
        raise _unprocessable(f"invalid array index {part!r} in {path}")
    idx = int(part)
    if idx > len(container) or (not insert and idx == len(container)):
        raise _unprocessable(f"array index out of bounds in {path}")
    return idx


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, insert=True), value)
    else:
        raise _unprocessable(f"cannot add to a scalar at {path}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise _unprocessable("cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(
                f"the server rejected our request: unable to remove nonexistent key {last!r}"
            )
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, insert=False))
    raise _unprocessable(f"cannot remove from a scalar at {path}")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test). A failed ``test`` answers 422, like the server."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _resolve(doc, _pointer(path), path)
            if _pointer(path):
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = copy.deepcopy(_resolve(doc, _pointer(source), source))
            if kind == "move":
                doc, _ = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            actual = _resolve(doc, _pointer(path), path)
            if actual != op.get("value"):
                raise _unprocessable(
                    f"the server rejected our request due to an error in our request: testing value "
                    f"{path} failed: {actual!r} != {op.get('value')!r}"
                )
        else:
            raise bad_request(f"unsupported json patch operation: {kind!r}")
    return doc


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Strategic merge patch for the built-in kinds, with the ``$patch``/``$retainKeys`` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        sub = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and sub in _SMP_LIST_KEYS:
            result[key] = _merge_list(result.get(key) or [], value, _SMP_LIST_KEYS[sub])
        else:
            merged = strategic_merge_patch(result.get(key), value, sub)
            if merged is None and isinstance(value, dict):
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [item for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    result = copy.deepcopy(current)
    for item in patch:
        if not merge_key:
            if item not in result:
                result.append(item)
            continue
        pos = next((i for i, cur in enumerate(result) if cur.get(merge_key) == item.get(merge_key)), None)
        if item.get("$patch") == "delete":
            if pos is not None:
                result.pop(pos)
        elif pos is None:
            result.append(copy.deepcopy(item))
        else:
            result[pos] = strategic_merge_patch(result[pos], item)
    return result


def apply_patch(target: Any, applied: Any) -> Any:
    """Simplified server-side apply: the applied configuration is merged over the live object.

    No field ownership is tracked, so fields dropped from the applied configuration are not removed.
    """
    return merge_patch(target, applied)
