"""``Accept: ...;as=Table`` responses: what ``kubectl get`` prints.

kubectl asks the server to render rows (``meta.k8s.io/v1 Table``); custom resources get their
``additionalPrinterColumns`` (evaluated with a small JSONPath subset) and built-ins get the columns
the real server shows for them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from .resources import ResourceType

_TOKEN_RE = re.compile(
    r"\.([A-Za-z0-9_\-/$]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.\-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]|\['([^']+)'\]"
)


def jsonpath(obj: Any, expr: str) -> list[Any]:
    """Evaluate the JSONPath subset printer columns use: ``.a.b``, ``[0]``, ``[*]``, ``[?(@.k=="v")]``."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    expr = expr.lstrip("$")
    if expr and not expr.startswith((".", "[")):
        expr = "." + expr
    current = [obj]
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m:
            return []
        pos = m.end()
        field, index, fkey, fval, quoted = m.groups()
        nxt: list[Any] = []
        for value in current:
            if field is not None or quoted is not None:
                key = field if field is not None else quoted
                if isinstance(value, dict) and key in value:
                    nxt.append(value[key])
            elif index is not None:
                if isinstance(value, list):
                    nxt.extend(value if index == "*" else value[int(index) : int(index) + 1])
            elif isinstance(value, list):
                for item in value:
                    probe: Any = item
                    for part in fkey.split("."):
                        probe = probe.get(part) if isinstance(probe, dict) else None
                    if probe is not None and str(probe) == fval:
                        nxt.append(item)
        current = nxt
    return current


def human_duration(seconds: float) -> str:
    """Go's ``duration.HumanDuration``: how the server renders ``date`` cells (``5s``, ``3m20s``, ``2d``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any) -> Any:
    if not isinstance(timestamp, str):
        return "<unknown>" if timestamp is None else timestamp
    try:
        then = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "<invalid>"
    return human_duration((dt.datetime.now(dt.UTC) - then).total_seconds())


def _cell(values: list[Any], ctype: str = "string") -> Any:
    if not values:
        return None
    value = values[0] if len(values) == 1 else values
    if ctype == "date":
        return _age(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


_AGE = {"name": "Age", "type": "date", "format": "", "description": "CreationTimestamp", "priority": 0}
_NAME = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name of the object",
    "priority": 0,
}

_BUILTIN_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "Namespace": [("Status", "string", ".status.phase")],
    "Secret": [("Type", "string", ".type")],
    "Event": [
        ("Type", "string", ".type"),
        ("Reason", "string", ".reason"),
        ("Message", "string", ".message"),
    ],
}


def columns_for(rt: ResourceType, version: str) -> list[tuple[dict[str, Any], str | None]]:
    """(columnDefinition, jsonPath) pairs; a None path means a computed column (name, age, counts)."""
    cols: list[tuple[dict[str, Any], str | None]] = [(_NAME, None)]
    if rt.custom:
        info = rt.version(version)
        printer = info.printer_columns if info else []
        for col in printer:
            definition = {
                "name": col["name"],
                "type": col.get("type", "string"),
                "format": col.get("format", ""),
                "description": col.get("description", ""),
                "priority": col.get("priority", 0),
            }
            cols.append((definition, col["jsonPath"]))
        if not any(c.get("name") == "Age" for c in printer):
            cols.append((_AGE, None))
        return cols
    for name, ctype, path in _BUILTIN_COLUMNS.get(rt.kind, []):
        cols.append(({"name": name, "type": ctype, "format": "", "description": name, "priority": 0}, path))
    if rt.kind in ("ConfigMap", "Secret"):
        cols.append(
            ({"name": "Data", "type": "integer", "format": "", "description": "Data", "priority": 0}, "#data")
        )
    if rt.kind == "CustomResourceDefinition":
        cols.append(
            (
                {"name": "Created At", "type": "date", "format": "", "description": "", "priority": 0},
                "#created",
            )
        )
    else:
        cols.append((_AGE, None))
    return cols


def _row(obj: dict[str, Any], cols: list[tuple[dict[str, Any], str | None]], include: str) -> dict[str, Any]:
    cells: list[Any] = []
    for definition, path in cols:
        if path is None:
            cells.append(
                obj["metadata"]["name"]
                if definition is _NAME
                else _age(obj["metadata"].get("creationTimestamp"))
            )
        elif path == "#data":
            cells.append(len(obj.get("data") or {}) + len(obj.get("binaryData") or {}))
        elif path == "#created":
            cells.append(obj["metadata"].get("creationTimestamp"))
        else:
            cells.append(_cell(jsonpath(obj, path), definition["type"]))
    row: dict[str, Any] = {"cells": cells}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def to_table(
    rt: ResourceType, version: str, objs: list[dict[str, Any]], rv: str, include: str, cont: str | None = None
) -> dict[str, Any]:
    cols = columns_for(rt, version)
    meta: dict[str, Any] = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [c[0] for c in cols],
        "rows": [_row(o, cols, include) for o in objs],
    }
