"""The AutoScalingGroup kind, a package the way moto splits a service: the spec models (`spec`), the
client's loop over the group itself (`group`), and one module per sub-resource family that has its own
AWS calls (`hooks`, `refresh`, ...), each with its model, read, comparison and writes.

Importers use this package, never its modules: what it exports here is the kind's public surface.
"""

from .group import (
    IAM_ACTIONS,
    KIND,
    NAMES_PER_CALL,
    TERMINAL_CODES,
    AutoScalingGroupClient,
    GroupObserved,
    desired_mixed,
    desired_tags,
    desired_template,
    mixed_from_aws,
    observed_from,
)
from .refresh import FOLLOW_TAG, InstanceRefresh
from .spec import (
    AutoScalingGroupSpec,
    AutoScalingGroupStatus,
    InstancesDistribution,
    LaunchTemplateChoice,
    MixedInstancesPolicy,
)

__all__ = [
    "FOLLOW_TAG",
    "IAM_ACTIONS",
    "KIND",
    "NAMES_PER_CALL",
    "TERMINAL_CODES",
    "AutoScalingGroupClient",
    "AutoScalingGroupSpec",
    "AutoScalingGroupStatus",
    "GroupObserved",
    "InstanceRefresh",
    "InstancesDistribution",
    "LaunchTemplateChoice",
    "MixedInstancesPolicy",
    "desired_mixed",
    "desired_tags",
    "desired_template",
    "mixed_from_aws",
    "observed_from",
]
