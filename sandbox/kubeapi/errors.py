"""Kubernetes ``Status`` errors.

Real clients (kubectl, kopf, the kubernetes python client) branch on the HTTP code *and* on the
``Status`` body (``reason``, ``details.causes``), so every failure the sandbox produces is raised as an
:class:`ApiError` and rendered exactly the way the real API server renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    """One entry of ``details.causes``: a field-level problem (``reason`` is e.g. ``FieldValueInvalid``)."""

    reason: str
    field: str
    message: str  # without the leading "<field>: ", as the real server stores it

    def full(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """An error answered to the client as a ``kind: Status`` object."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # sent as Warning headers, as on success

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del body["reason"]  # omitempty, as metav1.Status is serialised
        if self.details is not None:
            body["details"] = self.details
        return body


def success_status(details: dict[str, Any]) -> dict[str, Any]:
    """The ``Status`` the server answers when an object is deleted outright."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _details(group: str, kind: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(group: str, plural: str, name: str) -> ApiError:
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found', _details(group, plural, name))


def resource_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(
        409, "AlreadyExists", f'{qualified} "{name}" already exists', _details(group, plural, name)
    )


def conflict(group: str, plural: str, name: str, why: str | None = None) -> ApiError:
    qualified = f"{plural}.{group}" if group else plural
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
        _details(group, plural, name),
    )


def invalid(group_kind: str, group: str, kind: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid, with the message formatted like ``Kind.group "name" is invalid: ...``."""
    texts = [c.full() for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(group, kind, name)
    details["causes"] = [c.to_dict() for c in causes]
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)
