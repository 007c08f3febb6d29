"""Custom resource validation the way the real API server does it.

The operator's CRDs carry their contract in ``openAPIV3Schema`` (types, enums, patterns, defaults,
``x-kubernetes-validations`` CEL rules). Tests against the sandbox are only worth something if a
manifest the real server would reject is rejected here too, with the same field paths and messages
(kubectl prints them verbatim). This module implements, for structural schemas:

* the structural-schema check on CRD create/update (:func:`check_crd`),
* pruning of unknown fields (:func:`prune`), reporting them for ``fieldValidation=Strict/Warn``,
* defaulting (:func:`apply_defaults`),
* OpenAPI value validation and CEL rules (:func:`validate`), with ``oldSelf`` transition rules
  evaluated only when an old value correlates (object properties and map-type lists).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from .errors import Cause

_ROOT_META = ("apiVersion", "kind", "metadata")
_CEL_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}
_REGEXES: dict[str, re.Pattern[str]] = {}
_OLDSELF_RE = re.compile(r"\boldSelf\b")

DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def fmt_value(value: Any) -> str:
    """Render a value the way Go's field errors do (strings quoted, numbers bare)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: str, value: Any) -> bool:
    actual = _json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


# --------------------------------------------------------------------------------------------- CRD checks


def compile_rule(rule: str) -> Any:
    """Compile a CEL rule once (raises ``celpy.CELParseError`` on syntax errors)."""
    program = _PROGRAMS.get(rule)
    if program is None:
        program = _CEL_ENV.program(_CEL_ENV.compile(rule))
        _PROGRAMS[rule] = program
    return program


def _check_structural(
    schema: Any, path: str, causes: list[Cause], *, root: bool = False, typed: bool = True
) -> None:
    if not isinstance(schema, dict):
        causes.append(Cause("FieldValueInvalid", path, "Invalid value: must be an object"))
        return
    stype = schema.get("type")
    untyped_ok = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if typed and not stype and not untyped_ok:
        where = "at the root" if root else "for specified object fields"
        causes.append(
            Cause("FieldValueRequired", f"{path}.type", f"Required value: must not be empty {where}")
        )
    if root and stype and stype != "object":
        causes.append(
            Cause(
                "FieldValueInvalid", f"{path}.type", f'Invalid value: "{stype}": must be object at the root'
            )
        )
    if stype and stype not in ("object", "array", "string", "integer", "number", "boolean"):
        causes.append(Cause("FieldValueNotSupported", f"{path}.type", f'Unsupported value: "{stype}"'))
    if schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
        causes.append(
            Cause(
                "FieldValueForbidden",
                f"{path}.additionalProperties",
                "Forbidden: additionalProperties and properties are mutual exclusive",
            )
        )
    for name, sub in (schema.get("properties") or {}).items():
        _check_structural(sub, f"{path}.properties[{name}]", causes, typed=typed)
    if isinstance(schema.get("items"), dict):
        _check_structural(schema["items"], f"{path}.items", causes, typed=typed)
    elif typed and stype == "array":
        causes.append(Cause("FieldValueRequired", f"{path}.items", "Required value: must be specified"))
    if isinstance(schema.get("additionalProperties"), dict):
        _check_structural(schema["additionalProperties"], f"{path}.additionalProperties", causes, typed=typed)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(combinator) or []):
            _check_structural(sub, f"{path}.{combinator}[{i}]", causes, typed=False)
    if isinstance(schema.get("not"), dict):
        _check_structural(schema["not"], f"{path}.not", causes, typed=False)
    if pattern := schema.get("pattern"):
        try:
            re.compile(pattern)
        except re.error as exc:
            causes.append(Cause("FieldValueInvalid", f"{path}.pattern", f'Invalid value: "{pattern}": {exc}'))
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        text = rule.get("rule", "") if isinstance(rule, dict) else ""
        rpath = f"{path}.x-kubernetes-validations[{i}].rule"
        if not text:
            causes.append(Cause("FieldValueRequired", rpath, "Required value"))
            continue
        try:
            compile_rule(text)
        except Exception as exc:  # celpy raises several types for bad rules
            causes.append(
                Cause(
                    "FieldValueInvalid", rpath, f"Invalid value: {fmt_value(text)}: compilation failed: {exc}"
                )
            )


def check_crd(crd: dict[str, Any]) -> list[Cause]:
    """Validate a CustomResourceDefinition (names, versions, structural schemas, CEL rules)."""
    causes: list[Cause] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    name = (crd.get("metadata") or {}).get("name", "")
    if not group:
        causes.append(Cause("FieldValueRequired", "spec.group", "Required value"))
    elif "." not in group:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.group",
                f'Invalid value: "{group}": should be a domain with at least one dot',
            )
        )
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(Cause("FieldValueRequired", f"spec.names.{field}", "Required value"))
    plural = names.get("plural") or ""
    if plural and not DNS_LABEL_RE.match(plural):
        causes.append(
            Cause("FieldValueInvalid", "spec.names.plural", f'Invalid value: "{plural}": must be lowercase')
        )
    if plural and group and name != f"{plural}.{group}":
        causes.append(
            Cause(
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                "spec.scope",
                f"Unsupported value: {fmt_value(spec.get('scope'))}: "
                'supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            Cause("FieldValueInvalid", "spec.versions", "Invalid value: null: must have exactly one version")
        )
    if versions and sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, version in enumerate(versions):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        vpath = f"spec.versions[{i}].schema.openAPIV3Schema"
        if schema is None:
            causes.append(Cause("FieldValueRequired", vpath, "Required value: schemas are required"))
            continue
        _check_structural(schema, vpath, causes, root=True)
    return causes


# --------------------------------------------------------------------------------------------- pruning


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Drop fields the schema does not know (in place); return their paths for Strict/Warn."""
    unknown: list[str] = []
    _prune(obj, schema, "", unknown, embedded=True)
    return unknown


def _prune(
    value: Any, schema: dict[str, Any], path: str, unknown: list[str], *, embedded: bool = False
) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = embedded or bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            if embedded and key in _ROOT_META:
                continue
            if key in props:
                _prune(value[key], props[key], _join(path, key), unknown)
            elif isinstance(extra, dict):
                _prune(value[key], extra, _join(path, key), unknown)
            elif not (preserve or extra is True):
                unknown.append(_join(path, key))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{i}]", unknown)


# --------------------------------------------------------------------------------------------- defaulting


def apply_defaults(value: Any, schema: dict[str, Any], *, root: bool = True) -> None:
    """Apply ``default:`` values in place (recursively, including into freshly defaulted objects)."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if root and key in _ROOT_META:
                continue
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(value[key], sub, root=False)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            for item in value.values():
                apply_defaults(item, extra, root=False)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"], root=False)


# --------------------------------------------------------------------------------------------- validation

_MISSING = object()


def validate(obj: dict[str, Any], schema: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Validate a (pruned, defaulted) custom resource; ``old`` enables transition rules on update."""
    causes: list[Cause] = []
    _validate(obj, schema, "", causes, _MISSING if old is None else old, root=True)
    return causes


def _validate(
    value: Any, schema: dict[str, Any], path: str, causes: list[Cause], old: Any, *, root: bool = False
) -> None:
    if value is None and schema.get("nullable"):
        return
    stype = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (_type_ok("integer", value) or _type_ok("string", value)):
            actual = _json_type(value)
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f'Invalid value: "{actual}": {path} in body must be of type integer,string: "{actual}"',
                )
            )
            return
    elif stype and not _type_ok(stype, value):
        actual = _json_type(value)
        causes.append(
            Cause(
                "FieldValueInvalid",
                path,
                f'Invalid value: "{actual}": {path} in body must be of type {stype}: "{actual}"',
            )
        )
        return
    _check_value(value, schema, path, causes)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for req in schema.get("required") or []:
            if req not in value:
                causes.append(Cause("FieldValueRequired", _join(path, req), "Required value"))
        for key, item in value.items():
            if root and key in _ROOT_META:
                continue
            sub = props.get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                old_item = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                _validate(item, sub, _join(path, key), causes, old_item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        old_by_key = _map_list_index(old, schema)
        for i, item in enumerate(value):
            old_item = old_by_key.get(_map_key(item, schema), _MISSING) if old_by_key else _MISSING
            _validate(item, schema["items"], f"{path}[{i}]", causes, old_item)
    for combinator_check in _combinators(value, schema, path):
        causes.append(combinator_check)
    _run_rules(value, schema, path, causes, old)


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _REGEXES.get(pattern)
    if compiled is None:
        compiled = _REGEXES[pattern] = re.compile(pattern)
    return compiled


def _check_value(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    shown = fmt_value(value)
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(fmt_value(v) for v in schema["enum"])
        causes.append(
            Cause(
                "FieldValueNotSupported", path, f"Unsupported value: {shown}: supported values: {supported}"
            )
        )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                Cause(
                    "FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes"
                )
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be at least "
                    f"{schema['minLength']} chars long",
                )
            )
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should match '{schema['pattern']}'",
                )
            )
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, causes)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least "
                    f"{schema['minItems']} items",
                )
            )
        _check_list_type(value, schema, path, causes)
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least "
                    f"{schema['minProperties']} properties",
                )
            )


def _check_number(value: float, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    shown = fmt_value(value)
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= low:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be greater than {low}",
                )
            )
        elif value < low:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be greater than or equal to {low}",
                )
            )
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= high:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be less than {high}",
                )
            )
        elif value > high:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be less than or equal to {high}",
                )
            )
    if "multipleOf" in schema and schema["multipleOf"] and (value / schema["multipleOf"]) % 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should be a multiple of {schema['multipleOf']}",
            )
        )
    bounds = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
    fmt = schema.get("format")
    if fmt in bounds and isinstance(value, int) and not bounds[fmt][0] <= value <= bounds[fmt][1]:
        causes.append(
            Cause(
                "FieldValueInvalid",
                path,
                f'Invalid value: {shown}: {path} in body must be of type {fmt}: "{value}"',
            )
        )


def _map_key(item: Any, schema: dict[str, Any]) -> Any:
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if not isinstance(item, dict):
        return None
    return tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)


def _map_list_index(old: Any, schema: dict[str, Any]) -> dict[Any, Any]:
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return {}
    return {_map_key(item, schema): item for item in old}


def _check_list_type(value: list[Any], schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("set", "map"):
        return
    seen: list[Any] = []
    for i, item in enumerate(value):
        key = _map_key(item, schema) if list_type == "map" else item
        if key in seen:
            shown = fmt_value(
                item if list_type == "set" else {k: item.get(k) for k in schema["x-kubernetes-list-map-keys"]}
            )
            causes.append(Cause("FieldValueDuplicate", f"{path}[{i}]", f"Duplicate value: {shown}"))
        seen.append(key)


def _combinators(value: Any, schema: dict[str, Any], path: str) -> list[Cause]:
    """allOf/anyOf/oneOf/not (value validations only, as in structural schemas)."""
    out: list[Cause] = []

    def ok(sub: dict[str, Any]) -> bool:
        scratch: list[Cause] = []
        _validate(value, sub, path, scratch, _MISSING)
        return not scratch

    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, out, _MISSING)
    if schema.get("anyOf") and not any(ok(s) for s in schema["anyOf"]):
        out.append(
            Cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {fmt_value(value)}: {path} in body must match anyOf",
            )
        )
    if schema.get("oneOf") and sum(1 for s in schema["oneOf"] if ok(s)) != 1:
        out.append(
            Cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {fmt_value(value)}: {path} in body must match exactly one schema in oneOf",
            )
        )
    if isinstance(schema.get("not"), dict) and ok(schema["not"]):
        out.append(
            Cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {fmt_value(value)}: {path} in body must not match the schema",
            )
        )
    return out


# --------------------------------------------------------------------------------------------- CEL

_REASON_PREFIX = {
    "FieldValueInvalid": None,
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}


def _cel_type_name(value: Any, schema: dict[str, Any]) -> str:
    return schema.get("type") or _json_type(value)


def _run_rules(value: Any, schema: dict[str, Any], path: str, causes: list[Cause], old: Any) -> None:
    rules = schema.get("x-kubernetes-validations") or []
    if not rules:
        return
    activation: dict[str, Any] = {"self": json_to_cel(value)}
    if old is not _MISSING:
        activation["oldSelf"] = json_to_cel(old)
    for rule in rules:
        text = rule.get("rule", "")
        if _OLDSELF_RE.search(text) and old is _MISSING:
            continue  # transition rules only apply on update, when the old value correlates
        field = path + (rule.get("fieldPath") or "")
        field = field.lstrip(".")
        reason = rule.get("reason") or "FieldValueInvalid"
        try:
            result = compile_rule(text).evaluate(activation)
        except Exception as exc:
            result = exc
        if isinstance(result, Exception):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    field,
                    f'Invalid value: "{_cel_type_name(value, schema)}": {result} evaluating rule: {text}',
                )
            )
            continue
        if isinstance(result, celtypes.BoolType) and bool(result):
            continue
        message = rule.get("message") or f"failed rule: {text}"
        if rule.get("messageExpression"):
            try:
                produced = compile_rule(rule["messageExpression"]).evaluate(activation)
                if isinstance(produced, str) and produced.strip():
                    message = str(produced)
            except Exception:
                pass
        prefix = _REASON_PREFIX.get(reason)
        if prefix:
            causes.append(Cause(reason, field, f"{prefix}: {message}"))
        else:
            causes.append(
                Cause(
                    "FieldValueInvalid", field, f'Invalid value: "{_cel_type_name(value, schema)}": {message}'
                )
            )


def validate_name(name: str, *, label: bool = False) -> Cause | None:
    """``metadata.name`` must be a DNS subdomain (a DNS label for namespaces)."""
    if label:
        if len(name) <= 63 and DNS_LABEL_RE.match(name):
            return None
        return Cause(
            "FieldValueInvalid",
            "metadata.name",
            f"Invalid value: {fmt_value(name)}: a lowercase RFC 1123 label must consist of lower case "
            "alphanumeric characters or '-', and must start and end with an alphanumeric character "
            "(e.g. 'my-name',  or '123-abc', "
            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        )
    if len(name) <= 253 and DNS_SUBDOMAIN_RE.match(name):
        return None
    return Cause(
        "FieldValueInvalid",
        "metadata.name",
        f"Invalid value: {fmt_value(name)}: a lowercase RFC 1123 subdomain must consist of lower case "
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex "
        "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    )
