"""The table's resource-based policy (GetResourcePolicy / PutResourcePolicy / DeleteResourcePolicy).

Read only when declared; compared as data after `normalize_policy` (AWS keeps the text it was given, but key
order, whitespace and one-element lists are never drift, as for bucket policies). `resourcePolicy: ""`
removes the policy; leaving the field out leaves whatever policy the table has alone.
Never: delete a policy the spec does not ask to remove.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from ..changes import Action, Change
from ..engine import Target
from ..errors import error_code
from ..policy_doc import normalize_policy
from .spec import TableAws, TableObserved, TableSpec

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "GetResourcePolicy": ("dynamodb:GetResourcePolicy",),
    "PutResourcePolicy": ("dynamodb:PutResourcePolicy",),
    "DeleteResourcePolicy": ("dynamodb:DeleteResourcePolicy",),
}
PATH = "resourcePolicy"
NO_POLICY_CODES = frozenset({"PolicyNotFoundException"})


def read(aws: TableAws, target: Target[TableSpec], observed: TableObserved) -> None:
    if target.spec.resource_policy is None:
        return
    try:
        text = aws.ddb.get_resource_policy(ResourceArn=observed.arn).get("Policy")
    except ClientError as exc:
        if error_code(exc) not in NO_POLICY_CODES:
            raise
        text = None
    observed.facets[PATH] = normalize_policy(text) if text else None


def changes(spec: TableSpec, observed: TableObserved) -> list[Change]:
    if spec.resource_policy is None or PATH not in observed.facets:
        return []
    desired = normalize_policy(spec.resource_policy)
    actual = observed.facets[PATH]
    if desired == actual:
        return []
    if desired is None:
        return [Change(PATH, actual, None, Action.DELETE, ("dynamodb:DeleteResourcePolicy",))]
    return [Change(PATH, actual, desired, Action.UPDATE, ("dynamodb:PutResourcePolicy",))]


def after_create(spec: TableSpec) -> list[Change]:
    """CreateTable takes a ResourcePolicy on AWS, but moto drops it: one call after create works on both."""
    desired = normalize_policy(spec.resource_policy) if spec.resource_policy else None
    if desired is None:
        return []
    return [Change(PATH, None, desired, Action.CREATE, ("dynamodb:PutResourcePolicy",))]


def write(aws: TableAws, target: Target[TableSpec], observed: TableObserved, change: Change) -> bool:
    if change.path != PATH:
        return False
    if change.desired is None:
        aws.ddb.delete_resource_policy(ResourceArn=observed.arn)
    else:
        # the user's own text: AWS keeps it as given, so what the console shows is what the manifest says
        text = target.spec.resource_policy or json.dumps(change.desired, sort_keys=True)
        aws.ddb.put_resource_policy(ResourceArn=observed.arn, Policy=text)
    return True
