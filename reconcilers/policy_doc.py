"""IAM policy documents embedded in a spec (bucket policy, queue policy): validated once, compared as data.

AWS rewrites the documents it stores (key order, whitespace, one-element lists, Statement as an object),
so a textual comparison reports drift forever; every kind compares `normalize_policy` of both sides.
Pure: no AWS calls.
"""

from __future__ import annotations

import json
from typing import Any


def check_policy_document(value: str | None) -> str | None:
    """Validator for a spec's `policy` field: None or "" (remove) pass; anything else must be a JSON
    object with a Statement. Raises ValueError with the reason."""
    if value:
        try:
            doc = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise ValueError("policy must be a JSON object with a Statement")
    return value


def normalize_policy(value: Any) -> Any:
    """A canonical form of an IAM policy document: one-element lists are scalars, string lists sorted,
    Statement always a list. Key order and whitespace vanish because the result is compared as data."""
    if isinstance(value, str):
        if not value.strip():
            return None
        value = json.loads(value)
    return _canon(value)


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _canon(v) for k, v in value.items()}
        if "Statement" in out and not isinstance(out["Statement"], list):
            out["Statement"] = [out["Statement"]]
        return out
    if isinstance(value, list):
        items = [_canon(v) for v in value]
        if len(items) == 1 and not isinstance(items[0], dict):
            return items[0]
        if all(isinstance(i, str) for i in items):
            return sorted(items)
        return items
    return value
