"""The Table kind: one DynamoDB table, dynamodb.awsop.io/v1alpha1.

spec.py holds the model and what an observation is; client.py the loop (observe, diff, create, apply,
delete); every other module one facet family (read, compare and write together): indexes, capacity,
backups, streaming, settings. A new facet is a new module and one line in each of client.py's lists.
"""

from .client import IAM_ACTIONS, TableClient
from .spec import (
    KIND,
    TableObserved,
    TableSpec,
    TableStatus,
    attribute_definitions,
    classify_table_error,
    default_table_name,
)

__all__ = [
    "IAM_ACTIONS",
    "KIND",
    "TableClient",
    "TableObserved",
    "TableSpec",
    "TableStatus",
    "attribute_definitions",
    "classify_table_error",
    "default_table_name",
]
