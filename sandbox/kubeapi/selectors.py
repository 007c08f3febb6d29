"""Label and field selectors (``?labelSelector=`` / ``?fieldSelector=``) for lists and watches.

kubectl (``-l``, ``wait``), kopf (``fieldSelector=metadata.name=...`` style filters) and
``kubectl describe`` (events by ``involvedObject.*``) all send selectors, so both are parsed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([^\s!=<>()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (``env in (a,b),tier``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Requirement:
    """One comma-separated clause: ``key`` with an operator (=, !=, in, notin, exists, !exists)."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "=":
            return value is not None and value in self.values
        if self.op in ("!=", "notin"):
            return value not in self.values
        if self.op == "in":
            return value in self.values
        if self.op == "exists":
            return self.key in labels
        return self.key not in labels  # "!exists"


def parse_requirements(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` (HTTP 400 on syntax errors, like the server)."""
    requirements: list[Requirement] = []
    for req in _split_top(text or ""):
        m = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$", req)
        if m:
            key, op, val = m.groups()
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", frozenset([val])))
            continue
        m = _SET_RE.match(req)
        if not m:
            raise bad_request(f"unable to parse requirement: {req!r}")
        neg, key, op, values = m.groups()
        if op and neg:
            raise bad_request(f"unable to parse requirement: {req!r}")
        if op:
            requirements.append(
                Requirement(key, op, frozenset(v.strip() for v in values.split(",") if v.strip()))
            )
        else:
            requirements.append(Requirement(key, "!exists" if neg else "exists"))
    return requirements


def parse_label_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """Compile a label selector into a predicate over a ``labels`` dict."""
    requirements = parse_requirements(text)

    def matches(labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in requirements)

    return matches


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> Predicate:
    """Compile ``metadata.name=x,metadata.namespace!=y`` into a predicate over whole objects.

    The real server only allows a per-kind set of fields; the sandbox accepts any dotted path
    (``involvedObject.name``, ``spec.x``), which is a superset.
    """
    clauses: list[tuple[str, bool, str]] = []  # (path, negated, value)
    for req in _split_top(text or ""):
        m = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(.*)$", req)
        if not m:
            raise bad_request(f"invalid field selector: {req!r}")
        path, op, val = m.groups()
        clauses.append((path, op == "!=", val))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == val) != negated for path, negated, val in clauses)

    return matches


def object_matcher(label_selector: str | None, field_selector: str | None) -> Predicate:
    """One predicate over an object for both selectors."""
    by_labels = parse_label_selector(label_selector)
    by_fields = parse_field_selector(field_selector)

    def matches(obj: dict[str, Any]) -> bool:
        return by_labels((obj.get("metadata") or {}).get("labels") or {}) and by_fields(obj)

    return matches
