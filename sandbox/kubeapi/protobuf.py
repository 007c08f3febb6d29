"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for core kinds.

kubectl's typed clients (``kubectl create namespace|configmap|secret``) send protobuf bodies for
built-in kinds. The sandbox decodes the envelope (``k8s\\x00`` + ``runtime.Unknown``) and the few
messages it serves into the same JSON-shaped dicts as everything else. Responses are always JSON,
which clients accept (they decode by the response ``Content-Type``).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from .errors import ApiError

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# A message schema: field number -> (json name, kind); kinds: "str", "bytes", "int", "bool", "time",
# "strmap", "bytesmap", "strlist", or a nested schema dict; "[]" + nested marks repeated messages.
Schema = dict[int, tuple[str, Any]]

_TIME = "time"
_OWNER_REF: Schema = {
    1: ("kind", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    5: ("uid", "str"),
    6: ("resourceVersion", "str"),
    7: ("generation", "int"),
    8: ("creationTimestamp", _TIME),
    9: ("deletionTimestamp", _TIME),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", "strmap"),
    12: ("annotations", "strmap"),
    13: ("ownerReferences", ["[]", _OWNER_REF]),
    14: ("finalizers", "strlist"),
}
_OBJECT_REF: Schema = {
    1: ("kind", "str"),
    2: ("namespace", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
    6: ("resourceVersion", "str"),
    7: ("fieldPath", "str"),
}
SCHEMAS: dict[str, Schema] = {
    "ConfigMap": {
        1: ("metadata", _OBJECT_META),
        2: ("data", "strmap"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", _OBJECT_META),
        2: ("data", "bytesmap"),
        3: ("type", "str"),
        4: ("stringData", "strmap"),
        5: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("finalizers", "strlist")}),
        3: ("status", {1: ("phase", "str")}),
    },
    "Event": {
        1: ("metadata", _OBJECT_META),
        2: ("involvedObject", _OBJECT_REF),
        3: ("reason", "str"),
        4: ("message", "str"),
        5: ("source", {1: ("component", "str"), 2: ("host", "str")}),
        6: ("firstTimestamp", _TIME),
        7: ("lastTimestamp", _TIME),
        8: ("count", "int"),
        9: ("type", "str"),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Split a message into (field number, varint value or length-delimited bytes)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def _raw(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else b""


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        raw = _raw(value)
        if kind == "str":
            obj[name] = raw.decode()
        elif kind == "int":
            obj[name] = value
        elif kind == "bool":
            obj[name] = bool(value)
        elif kind == "strlist":
            obj.setdefault(name, []).append(raw.decode())
        elif kind in ("strmap", "bytesmap"):
            entry = dict(_fields(raw))
            key = _raw(entry.get(1, b"")).decode()
            item = _raw(entry.get(2, b""))
            obj.setdefault(name, {})[key] = (
                base64.b64encode(item).decode() if kind == "bytesmap" else item.decode()
            )
        elif kind == _TIME:
            seconds = dict(_fields(raw)).get(1, 0)
            if not seconds:
                continue
            stamp = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
            obj[name] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(kind, list):
            obj.setdefault(name, []).append(_decode(raw, kind[1]))
        else:
            obj[name] = _decode(raw, kind)
    # proto2 encodes unset strings/numbers as zero values; JSON omits them (omitempty).
    return {k: v for k, v in obj.items() if v not in ("", 0, False, None) or isinstance(v, dict | list)}


def decode(body: bytes) -> dict[str, Any]:
    """Decode a protobuf-encoded built-in object into its JSON form (415 for unknown kinds)."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s envelope")
    envelope = dict(_fields(body[len(MAGIC) :]))
    type_meta = dict(_fields(_raw(envelope.get(1, b""))))
    api_version = _raw(type_meta.get(1, b"")).decode()
    kind = _raw(type_meta.get(2, b"")).decode()
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ApiError(
            415, "UnsupportedMediaType", f"the sandbox cannot decode protobuf for kind {kind!r}; send JSON"
        )
    obj = _decode(_raw(envelope.get(2, b"")), schema)
    return {"apiVersion": api_version, "kind": kind, **obj}
