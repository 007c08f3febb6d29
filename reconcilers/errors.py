"""Error classes and the shared part of error classification.

Every failure ends in exactly one of three classes:

- TERMINAL: only a spec change can help (invalid spec, immutable field, name conflict, AWS validation).
  The object is Stalled and not retried until its generation changes.
- RECOVERABLE: throttling, 5xx, timeouts, transitional states. Retried with growing, capped delays.
- ACCESS: AccessDenied and friends. Recoverable (IAM is fixed outside awsop) but with a long delay and a
  reason of its own, never a tight loop.

Each kind decides its own AWS error codes in one place (its `TERMINAL_CODES`) and calls `classify` here
for everything the kinds share. Nothing here may turn an unknown error into TERMINAL: unknown means
RECOVERABLE, so a transient problem never stalls an object for good.
"""

from __future__ import annotations

import random
from enum import StrEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)


class ErrorClass(StrEnum):
    TERMINAL = "terminal"
    RECOVERABLE = "recoverable"
    ACCESS = "access"


class AwsopError(Exception):
    """An error awsop raises itself, already classified, with a condition reason."""

    error_class: ErrorClass = ErrorClass.RECOVERABLE

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TerminalError(AwsopError):
    """Only a change to the manifest can fix this."""

    error_class = ErrorClass.TERMINAL


class AccessError(AwsopError):
    """AWS refused the call for lack of permission; retried slowly."""

    error_class = ErrorClass.ACCESS


class RecoverableError(AwsopError):
    """Try again later (dependency not ready, transitional state, eventual consistency)."""

    error_class = ErrorClass.RECOVERABLE


class AlreadyCreatedError(RecoverableError):
    """A create found the resource already owned by this AWS account (S3's BucketAlreadyOwnedByYou):
    another run of ours may be creating it. The engine then checks ownership instead of failing."""


def error_of_class(error_class: ErrorClass, reason: str, message: str) -> AwsopError:
    """An awsop error of the given class, for re-raising a failure with a better message."""
    by_class: dict[ErrorClass, type[AwsopError]] = {
        ErrorClass.TERMINAL: TerminalError,
        ErrorClass.ACCESS: AccessError,
        ErrorClass.RECOVERABLE: RecoverableError,
    }
    return by_class[error_class](reason, message)


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "Rate exceeded",
        "SlowDown",
        "RequestThrottled",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
RATE_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "Rate exceeded",
        "SlowDown",
        "RequestThrottled",
        "EC2ThrottledException",
    }
)
"""The throttling codes that mean "this account calls this service too fast": the shared rate limiter
slows down on these (and on HTTP 429) and only on these. The rest of THROTTLING_CODES are retried but say
nothing about awsop's call rate: ProvisionedThroughputExceededException and TransactionInProgressException
are a table's data-plane capacity (awsop makes no item reads or writes), LimitExceededException is a
count of concurrent operations or resources (DynamoDB's tables in CREATING, an Auto Scaling quota),
PriorRequestNotComplete and BandwidthLimitExceeded are per-request conditions."""
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
        "OperationAborted",
    }
)
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "AuthorizationError",
        "AllAccessDisabled",
        "403",
    }
)
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    ConnectionError,
    TimeoutError,
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (`NoSuchBucket`), else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
    if isinstance(exc, AwsopError):
        return exc.reason
    return type(exc).__name__


def http_status(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "")
        message = str(err.get("Message", "")) or str(exc)
        return f"{op}: {err.get('Code', '')}: {message}" if op else message
    if isinstance(exc, AwsopError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and (error_code(exc) in THROTTLING_CODES or http_status(exc) == 429)


def is_rate_throttle(code: str, status: int = 0) -> bool:
    """True when an AWS answer (error `code`, HTTP `status`) asks awsop to call this service more slowly."""
    return status == 429 or code in RATE_THROTTLE_CODES


def is_transient(exc: BaseException) -> bool:
    """Worth retrying within one call: throttling, 5xx, resets and timeouts."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        return is_throttle(exc) or error_code(exc) in TRANSIENT_CODES or http_status(exc) >= 500
    return False


def classify(exc: BaseException, terminal_codes: frozenset[str] = frozenset()) -> ErrorClass:
    """The class of `exc`: the kind's own terminal codes first, then what all kinds share."""
    if isinstance(exc, AwsopError):
        return exc.error_class
    if isinstance(exc, ParamValidationError):
        return ErrorClass.TERMINAL
    if isinstance(exc, NoCredentialsError):
        return ErrorClass.ACCESS
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in ACCESS_CODES:
            return ErrorClass.ACCESS
        if code in terminal_codes and not is_transient(exc):
            return ErrorClass.TERMINAL
        return ErrorClass.RECOVERABLE
    if isinstance(exc, BotoCoreError):
        return ErrorClass.RECOVERABLE
    return ErrorClass.RECOVERABLE


def backoff_delay(
    attempt: int,
    error_class: ErrorClass,
    *,
    base: float = 5.0,
    cap: float = 300.0,
    access_delay: float = 600.0,
    jitter: float = 0.2,
) -> float:
    """Delay before the next reconcile of a failing object: exponential in `attempt`, capped, jittered.

    ACCESS errors wait `access_delay` (at least the cap) so a missing IAM permission never becomes a tight
    loop. The jitter spreads objects that failed together.
    """
    if error_class is ErrorClass.ACCESS:
        delay = max(access_delay, cap)
    else:
        delay = min(cap, base * (2 ** max(0, min(attempt, 30))))
    return delay * (1 + random.uniform(-jitter, jitter))
