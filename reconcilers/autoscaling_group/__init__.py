"""The AutoScalingGroup kind, a package the way moto splits a service: the spec models (`spec`), the
client's loop over the group itself (`group`), what the group is and should be without I/O
(`observed`), and one module per sub-resource family (`hooks`, `refresh`, `policies`, `schedules`,
`warm_pool`, `traffic`), each with its model, read, comparison and writes; `records` keeps what awsop
created of the named ones.

Importers use this package, never its modules: what it exports here is the kind's public surface.
"""

from .group import (
    IAM_ACTIONS,
    KIND,
    NAMES_PER_CALL,
    TERMINAL_CODES,
    AutoScalingGroupClient,
)
from .observed import (
    GroupObserved,
    desired_mixed,
    desired_tags,
    desired_template,
    mixed_from_aws,
    observed_from,
)
from .policies import POLICY_TAG, ScalingPolicy
from .refresh import FOLLOW_TAG, InstanceRefresh
from .schedules import SCHEDULE_TAG, ScheduledAction
from .spec import (
    AutoScalingGroupSpec,
    AutoScalingGroupStatus,
    InstancesDistribution,
    LaunchTemplateChoice,
    MixedInstancesPolicy,
)
from .traffic import TRAFFIC_TAG, TrafficSource
from .warm_pool import WARM_POOL_TAG, WarmPool

__all__ = [
    "FOLLOW_TAG",
    "IAM_ACTIONS",
    "KIND",
    "NAMES_PER_CALL",
    "POLICY_TAG",
    "SCHEDULE_TAG",
    "TERMINAL_CODES",
    "TRAFFIC_TAG",
    "WARM_POOL_TAG",
    "AutoScalingGroupClient",
    "AutoScalingGroupSpec",
    "AutoScalingGroupStatus",
    "GroupObserved",
    "InstanceRefresh",
    "InstancesDistribution",
    "LaunchTemplateChoice",
    "MixedInstancesPolicy",
    "ScalingPolicy",
    "ScheduledAction",
    "TrafficSource",
    "WarmPool",
    "desired_mixed",
    "desired_tags",
    "desired_template",
    "mixed_from_aws",
    "observed_from",
]
