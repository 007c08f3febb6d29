"""Transfer and billing facets: Transfer Acceleration and Requester Pays.

A bucket never configured for acceleration reports no status: the same as `Suspended`, not drift.
A bucket's payer is `BucketOwner` unless set otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from .facet import S3, Facet, opt

Accelerate = Literal["Enabled", "Suspended"]
RequestPayer = Literal["BucketOwner", "Requester"]


def _read_accelerate(s3: S3, bucket: str) -> Any:
    return s3.get_bucket_accelerate_configuration(Bucket=bucket).get("Status") or "Suspended"


def _write_accelerate(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_accelerate_configuration(Bucket=bucket, AccelerateConfiguration={"Status": value})


def _read_payer(s3: S3, bucket: str) -> Any:
    return s3.get_bucket_request_payment(Bucket=bucket).get("Payer") or "BucketOwner"


def _write_payer(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={"Payer": value})


ACCELERATE = Facet(
    "accelerate",
    lambda t: opt(t.spec.accelerate),
    _read_accelerate,
    _write_accelerate,
    "GetBucketAccelerateConfiguration",
    "PutBucketAccelerateConfiguration",
    iam={
        "GetBucketAccelerateConfiguration": ("s3:GetAccelerateConfiguration",),
        "PutBucketAccelerateConfiguration": ("s3:PutAccelerateConfiguration",),
    },
)
REQUEST_PAYER = Facet(
    "requestPayer",
    lambda t: opt(t.spec.request_payer),
    _read_payer,
    _write_payer,
    "GetBucketRequestPayment",
    "PutBucketRequestPayment",
    iam={
        "GetBucketRequestPayment": ("s3:GetBucketRequestPayment",),
        "PutBucketRequestPayment": ("s3:PutBucketRequestPayment",),
    },
)
