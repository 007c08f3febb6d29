"""Error classification decides whether an object is retried, stalled or waits for IAM."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from awsop.reconcilers.bucket import TERMINAL_CODES, BucketClient
from awsop.reconcilers.errors import (
    AccessError,
    ErrorClass,
    RecoverableError,
    TerminalError,
    backoff_delay,
    classify,
    error_code,
    error_message,
    is_transient,
)


def client_error(
    code: str, status: int = 400, operation: str = "CreateBucket", message: str = ""
) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message or f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


R, T, A = ErrorClass.RECOVERABLE, ErrorClass.TERMINAL, ErrorClass.ACCESS

CASES = [
    pytest.param(client_error("NoSuchBucket", 404), R, id="NoSuchBucket-recoverable"),
    pytest.param(client_error("InvalidBucketName"), T, id="InvalidBucketName-terminal"),
    pytest.param(client_error("BucketAlreadyExists", 409), T, id="BucketAlreadyExists-terminal"),
    pytest.param(client_error("MalformedPolicy"), T, id="MalformedPolicy-terminal"),
    pytest.param(client_error("AccessDenied", 403), A, id="AccessDenied-access"),
    pytest.param(client_error("ExpiredToken", 400), A, id="ExpiredToken-access"),
    pytest.param(client_error("403", 403), A, id="bare-403-access"),
    pytest.param(client_error("Throttling", 400), R, id="Throttling-recoverable"),
    pytest.param(client_error("SlowDown", 503), R, id="SlowDown-recoverable"),
    pytest.param(client_error("InternalError", 500), R, id="InternalError-500-recoverable"),
    pytest.param(client_error("InvalidBucketName", 503), R, id="terminal-code-with-503-recoverable"),
    pytest.param(client_error("InvalidRequest", 429), R, id="terminal-code-with-429-recoverable"),
    pytest.param(client_error("OperationAborted", 409), R, id="OperationAborted-recoverable"),
    pytest.param(client_error("SomethingNew", 400), R, id="unknown-code-recoverable"),
    pytest.param(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), R, id="EndpointConnectionError"),
    pytest.param(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), R, id="ReadTimeoutError"),
    pytest.param(ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), R, id="ConnectTimeoutError"),
    pytest.param(ParamValidationError(report="Invalid bucket name"), T, id="ParamValidationError-terminal"),
    pytest.param(NoCredentialsError(), A, id="NoCredentialsError-access"),
    pytest.param(ValueError("surprise"), R, id="unknown-exception-recoverable"),
    pytest.param(TerminalError("OwnedByAnother", "x"), T, id="awsop-terminal"),
    pytest.param(AccessError("AccessDeniedOrTaken", "x"), A, id="awsop-access"),
    pytest.param(RecoverableError("Waiting", "x"), R, id="awsop-recoverable"),
]


@pytest.mark.parametrize(("exc", "expected"), CASES)
def test_bucket_classifies_errors(exc: BaseException, expected: ErrorClass) -> None:
    assert classify(exc, TERMINAL_CODES) is expected
    assert BucketClient.classify(None, exc) is expected  # type: ignore[arg-type]


def test_terminal_codes_are_per_kind() -> None:
    # Without the kind's codes, an S3 validation error is just retried: nothing is terminal by default.
    assert classify(client_error("InvalidBucketName")) is R


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        pytest.param(client_error("Throttling"), True, id="throttling"),
        pytest.param(client_error("Whatever", 502), True, id="http-502"),
        pytest.param(client_error("Whatever", 429), True, id="http-429"),
        pytest.param(EndpointConnectionError(endpoint_url="http://x"), True, id="connection"),
        pytest.param(client_error("AccessDenied", 403), False, id="access-denied"),
        pytest.param(client_error("InvalidBucketName"), False, id="validation"),
    ],
)
def test_only_transient_errors_are_retried_within_a_call(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_error_code_and_message_name_the_operation() -> None:
    exc = client_error(
        "BucketAlreadyExists", 409, "CreateBucket", "The requested bucket name is not available"
    )
    assert error_code(exc) == "BucketAlreadyExists"
    assert (
        error_message(exc) == "CreateBucket: BucketAlreadyExists: The requested bucket name is not available"
    )
    assert error_code(TerminalError("RegionMismatch", "m")) == "RegionMismatch"
    assert error_code(ValueError("x")) == "ValueError"


# -- backoff ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded() -> Iterator[None]:
    state = random.getstate()
    random.seed(1234)
    yield
    random.setstate(state)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    delays = [backoff_delay(n, R, base=5, cap=300, jitter=0) for n in range(10)]
    assert delays[:6] == [5, 10, 20, 40, 80, 160]
    assert delays[6:] == [300, 300, 300, 300]


def test_backoff_huge_attempt_count_stays_capped() -> None:
    assert backoff_delay(10_000, R, jitter=0) == 300


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("attempt", [0, 3, 20])
def test_backoff_jitter_stays_within_bounds_and_spreads(attempt: int) -> None:
    nominal = backoff_delay(attempt, R, jitter=0)
    samples = [backoff_delay(attempt, R, jitter=0.2) for _ in range(500)]
    assert all(nominal * 0.8 <= s <= nominal * 1.2 for s in samples)
    assert max(samples) - min(samples) > nominal * 0.2  # objects that failed together do not retry together


@pytest.mark.usefixtures("seeded")
def test_access_errors_wait_the_long_delay_from_the_first_attempt() -> None:
    samples = [backoff_delay(0, A) for _ in range(200)]
    assert all(600 * 0.8 <= s <= 600 * 1.2 for s in samples)
    assert backoff_delay(0, A, access_delay=10, cap=300, jitter=0) == 300  # never shorter than the cap
