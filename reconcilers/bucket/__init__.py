"""The Bucket kind as a package: the spec and the client's loop in client.py, one module per facet family
(access, protection, lifecycle, web, access_logging), each reading, comparing and writing its facets.

This module only re-exports what the rest of awsop and the tests use.
"""

from __future__ import annotations

from .client import (
    FACETS,
    IAM_ACTIONS,
    KIND,
    NAME_PATTERN,
    NOT_FOUND_CODES,
    TERMINAL_CODES,
    BucketClient,
    BucketObserved,
    BucketSpec,
    bucket_name_problem,
    default_bucket_name,
)
from .facet import UNSET, Facet

__all__ = [
    "FACETS",
    "IAM_ACTIONS",
    "KIND",
    "NAME_PATTERN",
    "NOT_FOUND_CODES",
    "TERMINAL_CODES",
    "UNSET",
    "BucketClient",
    "BucketObserved",
    "BucketSpec",
    "Facet",
    "bucket_name_problem",
    "default_bucket_name",
]
