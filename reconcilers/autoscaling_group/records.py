"""Which named sub-resources of a group awsop created (scaling policies, scheduled actions), recorded on
the group itself as one tag per family (`awsop.io/scaling-policies: cpu,nightly`), so only those are ever
removed, the record survives restarts, and the CLI and the operator agree. The tag is read with the group
(DescribeAutoScalingGroups carries tags: no call of its own), never propagated to instances, never
compared as one of the spec's tags, and removed with the ownership tags on `Retain`.

Leak safety: a name is recorded before the sub-resource is created, and dropped only after it is deleted,
so a crash in between leaves a record of something that may exist, never something unrecorded.
It must never hold a name with a comma (the separator) or exceed AWS's 256-character tag value: the
model refuses such a list (a CLI error or Stalled, the field named). Not CEL: a sum over the list's names
exceeds the API server's CEL cost budget (measured on kube-apiserver 1.28), so admission checks each name
(pattern, at most 128 characters) and the count (at most 25) only.
"""

from __future__ import annotations

from typing import Any

TAG_VALUE_MAX = 256  # AWS: a tag value is at most 256 characters
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"  # names awsop records: no comma, the record's separator


def parse_record(value: str | None) -> set[str]:
    return {name for name in (value or "").split(",") if name}


def format_record(names: set[str]) -> str:
    return ",".join(sorted(names))


def record_fits(names: list[str]) -> bool:
    """Whether the names fit one tag value (commas included)."""
    return len(format_record(set(names))) <= TAG_VALUE_MAX


def record_tag(group: str, key: str, names: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "ResourceId": group,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": format_record(names),
            "PropagateAtLaunch": False,
        }
    ]
