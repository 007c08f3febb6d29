"""The policy enums every kind shares.

Kept in their own module so models, the engine and the operator configuration agree on one spelling.
"""

from __future__ import annotations

from enum import StrEnum


class DeletionPolicy(StrEnum):
    """What happens in AWS when the Kubernetes object is deleted."""

    DELETE = "Delete"
    RETAIN = "Retain"


class ManagementPolicy(StrEnum):
    """Whether awsop may write to AWS for this object."""

    MANAGE = "Manage"
    OBSERVE_ONLY = "ObserveOnly"


class DriftPolicy(StrEnum):
    """What awsop does about out-of-band changes."""

    CORRECT = "Correct"
    REPORT = "Report"


class AdoptionPolicy(StrEnum):
    """Whether an existing AWS resource that awsop does not own may be taken over."""

    NEVER = "Never"
    ADOPT = "Adopt"
