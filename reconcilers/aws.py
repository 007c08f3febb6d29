"""The one way awsop talks to AWS: client factory, shared rate limiter, call accounting, retries.

Every AWS call of every kind goes through `AwsClients.client(service, region)`, which gives:

- region / endpoint / credential resolution from boto3's normal chain (`AWS_ENDPOINT_URL` and the
  per-service `AWS_ENDPOINT_URL_<SERVICE>` point it at an emulator);
- per-account credentials: for an object that uses an AWSAccount, clients sign with an assumed-role
  session (STS AssumeRole from the operator's own credentials), one session per account, renewed before
  it expires; the AssumeRole call itself goes through this factory (counted, rate limited, classified);
- a token-bucket rate limiter shared per (account, region, service) that starts from AWS's published
  API limits and adapts by itself (AIMD: additive increase while AWS answers, multiplicative decrease on
  a throttle), never above the configured rate, which is a hard cap;
- a botocore event hook that records every operation (service, operation, outcome), which feeds the
  Prometheus metrics and the golden call-log tests;
- bounded retries with exponential backoff and jitter (tenacity) for transient errors inside one call.
  botocore's own retries are set to a single attempt, so every attempt is seen, limited and counted here.

This module never decides what an error means for an object: that is `errors.classify`. It never logs
credentials.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import ClientError
from botocore.useragent import UserAgentString
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from .account import ResolvedAccount
from .batch import BatchReader, Fetch
from .errors import (
    AccessError,
    ErrorClass,
    classify,
    error_message,
    is_rate_throttle,
    is_throttle,
    is_transient,
)

CallListener = Callable[[str, str, str], None]
"""Called as listener(service, operation, outcome) with outcome ok | error | throttled."""


RateListener = Callable[[tuple[str, str, str], float], None]
"""Called as listener((account, region, service), calls_per_second) when a key's allowed rate changes."""

STARTING_RATES: dict[str, float] = {
    "ec2": 20.0,  # EC2's non-mutating request bucket refills 20 tokens/s (mutating: 5/s, bucket 50)
    "autoscaling": 10.0,  # one shared bucket for every Auto Scaling call; AWS publishes no figure
    "dynamodb": 50.0,  # control-plane throttle 2,500 requests/s per account and region, shared
    "s3": 50.0,  # no published rate for bucket configuration calls
    "sqs": 50.0,  # no published rate for queue management calls
    "sts": 10.0,  # awsop calls STS about once per account and session lifetime
    "application-autoscaling": 5.0,  # no published figure; awsop calls it only when autoScaling changes
    "events": 10.0,  # EventBridge rule APIs: per-API quotas (Service Quotas); awsop calls a few per minute
}
"""Where each (account, region, service) starts, in calls per second: AWS's published API limits where
AWS publishes one, else a choice explained in docs/rate-limits.md. Never above the configured cap."""
DEFAULT_STARTING_RATE = 10.0
"""Start of services not in STARTING_RATES."""
SLOW_START = math.log(2)
"""Calls/s each answer adds before a key's first throttle: at full use, the rate doubles every second."""


class RateLimiter:
    """A token bucket per (account, region, service) whose rate adapts by AIMD and never exceeds its cap.

    - The cap is the configured rate (an AWSAccount's rateLimits, else the operator's per-service limits,
      else its default); 0 means no limit at all (no waiting, no adapting). Burst: one second's worth.
    - A key starts at `STARTING_RATES[service]` (at most the cap).
    - Slow start: until AWS first throttles a key, each answer while callers are waiting for tokens (the
      limiter, not the demand, sets the pace) raises the rate by ln 2 calls/s, so at full use it doubles
      every second up to the cap: a published starting rate below what AWS takes costs a second, not the
      twenty that additive steps need to double it.
    - Additive increase after that first throttle: each such answer raises the rate by `step / rate`,
      i.e. by `step` calls/s per second at full use. `step` is `increase` (1/20) of the rate AWS last
      throttled at: after a decrease the old rate is back in (1 - decrease) / increase = 6 s.
    - Multiplicative decrease: a throttle answer multiplies the rate by `decrease` (never below the
      floor) and empties the bucket. Throttles of calls sent before the last decrease were sent at the
      old rate and say nothing new: they are ignored, so a burst of throttles costs one decrease.

    Rate changes are reported to `listeners` (a metrics gauge), outside the lock.
    """

    SATURATION_WINDOW = 1.0
    """Seconds after a caller last waited for a token during which successes still raise the rate."""

    def __init__(
        self,
        rates: dict[str, float],
        default_rate: float,
        *,
        starting_rates: dict[str, float] | None = None,
        decrease: float = 0.7,
        increase: float = 1 / 20,
        floor: float = 1.0,
        listeners: list[RateListener] | None = None,
    ) -> None:
        """`rates` and `default_rate` are the caps; `floor` is the lowest rate a throttle leads to (or the
        cap if lower)."""
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self._rates = dict(rates)
        self._account_rates: dict[str, dict[str, float]] = {}
        self._default = default_rate
        self._starting = dict(STARTING_RATES if starting_rates is None else starting_rates)
        self._decrease = decrease
        self._increase = increase
        self._floor = floor
        self.listeners: list[RateListener] = list(listeners or [])
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    def rate_for(self, service: str, account: str | None = None) -> float:
        """The cap of `service` for `account`: the rate the limiter never exceeds (0 = unlimited)."""
        overrides = self._account_rates.get(account or "", {})
        return float(overrides.get(service, self._rates.get(service, self._default)))

    def starting_rate(self, service: str, account: str | None = None) -> float:
        """Where a key of `service` starts: the published start, at most the cap."""
        return min(self.rate_for(service, account), self._starting.get(service, DEFAULT_STARTING_RATE))

    def set_account_rates(self, account: str, rates: dict[str, float]) -> None:
        """Per-service caps for one account (an AWSAccount's rateLimits), over the operator's own."""
        with self._lock:
            if self._account_rates.get(account, {}) == rates:
                return
            self._account_rates[account] = dict(rates)
            for key in [k for k in self._buckets if k[0] == account]:
                del self._buckets[key]

    def now(self) -> float:
        """The limiter's clock (monotonic seconds): callers stamp when a call got its token."""
        return self._clock()

    def _bucket(self, key: tuple[str, str, str]) -> tuple[_Bucket, bool]:
        bucket = self._buckets.get(key)
        if bucket is not None:
            return bucket, False
        cap = self.rate_for(key[2], key[0])
        start = self.starting_rate(key[2], key[0])
        bucket = self._buckets[key] = _Bucket(
            rate=start,
            cap=cap,
            floor=min(cap, self._floor),
            step=start * self._increase,
            tokens=max(1.0, start),
            stamp=self._clock(),
        )
        return bucket, True

    def current_rate(self, key: tuple[str, str, str]) -> float:
        """The rate `key` is allowed now (0 = unlimited)."""
        if self.rate_for(key[2], key[0]) <= 0:
            return 0.0
        with self._lock:
            bucket, created = self._bucket(key)
            rate = bucket.rate
        if created:
            self._notify(key, rate)
        return rate

    def acquire(self, key: tuple[str, str, str]) -> float:
        """Take one token for `key`, sleeping as long as needed; returns the time slept."""
        if self.rate_for(key[2], key[0]) <= 0:
            return 0.0
        slept = 0.0
        while True:
            with self._lock:
                bucket, created = self._bucket(key)
                now = self._clock()
                rate = bucket.rate
                bucket.tokens = min(max(1.0, rate), bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
                if bucket.tokens >= 1.0:
                    bucket.tokens -= 1.0
                    wait = 0.0
                else:
                    bucket.waited_at = now
                    wait = (1.0 - bucket.tokens) / rate
            if created:
                self._notify(key, rate)
            if not wait:
                return slept
            self._sleep(wait)
            slept += wait

    def record_success(self, key: tuple[str, str, str]) -> None:
        """AWS answered a call of `key` without throttling: additive increase, if demand is at the limit."""
        if self.rate_for(key[2], key[0]) <= 0:
            return
        with self._lock:
            bucket, _ = self._bucket(key)
            now = self._clock()
            if bucket.rate >= bucket.cap or now - bucket.waited_at > self.SATURATION_WINDOW:
                return
            # slow start: ln 2 per answer doubles the rate every second at full use
            grow = SLOW_START if bucket.decreased_at == float("-inf") else bucket.step / bucket.rate
            bucket.rate = min(bucket.cap, bucket.rate + grow)
            rate = bucket.rate
        self._notify(key, rate)

    def penalize(self, key: tuple[str, str, str], sent_at: float | None = None) -> None:
        """AWS throttled a call of `key` that got its token at `sent_at`: multiplicative decrease, unless
        the call was sent before the last decrease (then it reflects the old rate, not the new one)."""
        if self.rate_for(key[2], key[0]) <= 0:
            return
        with self._lock:
            bucket, _ = self._bucket(key)
            if sent_at is not None and sent_at < bucket.decreased_at:
                return
            now = self._clock()
            bucket.step = bucket.rate * self._increase  # AWS's limit is about here: probe back in steps
            bucket.rate = max(bucket.floor, bucket.rate * self._decrease)
            bucket.decreased_at = now
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.stamp = now
            rate = bucket.rate
        self._notify(key, rate)

    def _notify(self, key: tuple[str, str, str], rate: float) -> None:
        for listener in self.listeners:
            listener(key, rate)


@dataclass
class _Bucket:
    rate: float
    cap: float
    floor: float
    step: float
    tokens: float
    stamp: float
    decreased_at: float = float("-inf")
    waited_at: float = float("-inf")


@dataclass
class CallLog:
    """Every AWS operation made through the factory, in order (`s3:HeadBucket`), with outcome counts."""

    calls: list[str] = field(default_factory=list)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    max_kept: int = 10000

    def record(self, service: str, operation: str, outcome: str) -> None:
        call = f"{service}:{operation}"
        with self._lock:
            self.calls.append(call)
            if len(self.calls) > self.max_kept:  # a long-running operator must not grow without bound
                del self.calls[: len(self.calls) - self.max_kept]
            self.outcomes[(service, operation, outcome)] += 1
        for sink in getattr(self._local, "sinks", ()):
            sink.append(call)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.outcomes.clear()

    def totals(self) -> tuple[int, int]:
        """(calls, throttled calls) recorded so far; safe while other threads record."""
        with self._lock:
            calls = sum(self.outcomes.values())
            throttled = sum(n for (_, _, outcome), n in self.outcomes.items() if outcome == "throttled")
        return calls, throttled

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Yields a list that collects the calls this thread makes inside the block (other threads'
        concurrent reconciles are not mixed in: botocore runs its hooks in the calling thread)."""
        out: list[str] = []
        sinks = self._local.__dict__.setdefault("sinks", [])
        sinks.append(out)
        try:
            yield out
        finally:
            # by identity: nested captures can hold equal lists, and list.remove matches by equality
            for index in range(len(sinks) - 1, -1, -1):
                if sinks[index] is out:
                    del sinks[index]
                    break


@dataclass(frozen=True)
class AwsConfig:
    """What the factory needs from the operator configuration."""

    default_region: str | None = None
    rate_limits: dict[str, float] = field(default_factory=dict)
    """Hard caps in calls per second per (account, region, service), by service; 0 = unlimited."""
    default_rate_limit: float = 100.0
    """Hard cap of services not in rate_limits."""
    retry_mode: str = "standard"
    max_attempts: int = 3
    account: str = "default"
    """Rate-limiter key of the operator's own credentials."""
    connect_timeout: float = 5.0
    max_pool_connections: int = 10  # per client; the operator sets it to its concurrency
    read_timeout: float = 30.0
    session_name: str = "awsop"
    """RoleSessionName of assumed-role sessions (shows in the target account's CloudTrail)."""
    account_id: str | None = None
    """The operator's own account id when known in advance."""
    lookup_account_id: bool = False
    """Ask sts:GetCallerIdentity once for the operator's own account id (the operator and the CLI do;
    a bare factory in a test makes no call it was not asked for)."""
    batch_window: float = 0.2
    """Seconds a periodic check waits for others due at the same time to share one read call."""
    batch_max_age: float = 30.0
    """Oldest shared description (seconds) a periodic check accepts instead of reading itself."""
    user_agent_extra: str = "awsop/0.1"
    """Appended to botocore's user agent; CloudTrail records it (`userAgent`). The operator adds
    `awsop-operator/<cluster-id>` so event-driven drift knows its own calls."""


@functools.cache
def base_user_agent() -> str:
    """botocore's own user agent (SDK, OS, language), built once per process and given to every client
    as its fixed `user_agent`: botocore otherwise rebuilds it, sanitising some 40 components, twice per
    request (an eighth of a call's CPU; CloudTrail's `userAgent` keeps the same SDK, OS and language,
    and `user_agent_extra` is still appended)."""
    try:
        agent = UserAgentString.from_environment().set_session_config(
            session_user_agent_name="Boto3",
            session_user_agent_version=boto3.__version__,
            session_user_agent_extra="",
        )
        return str(agent.to_string())
    except Exception:  # a botocore without this API: its short legacy form
        return f"Boto3/{boto3.__version__} Botocore/{botocore.__version__}"


_CURRENT_ACCOUNT: ContextVar[ResolvedAccount | None] = ContextVar("awsop_account", default=None)
_UNSET: Any = object()
OWN_ACCOUNT_RETRY_SECONDS = 60.0


# Operation names as the service signs them, for the hook: botocore gives us the model name.
_SERVICE_IDS = {
    "s3": "s3",
    "sqs": "sqs",
    "dynamodb": "dynamodb",
    "autoscaling": "autoscaling",
    "ec2": "ec2",
    "application-autoscaling": "application-autoscaling",
    "events": "events",
}


_LOADER_LOCK = threading.Lock()


@functools.cache
def _shared_loader() -> Any:
    """The process's one botocore loader (it caches every service model it parsed)."""
    return botocore.session.Session().get_component("data_loader")


def new_session() -> boto3.Session:
    """A new boto3 session (credentials and region from the environment) that reads service models
    through the process's one botocore loader: each service's model JSON is parsed once per process, not
    once per session (about a second of CPU for the kinds' services, the EC2 model most of it). The CLI
    builds a session per run, and a process may run it many times (the demo, an embedding program)."""
    with _LOADER_LOCK:
        loader = _shared_loader()
    return session_with_loader(botocore.session.Session(), loader)


def session_with_loader(core: botocore.session.Session, loader: Any) -> boto3.Session:
    """`core` as a boto3 session reading models through `loader` (shared: parsed once)."""
    core.register_component("data_loader", loader)
    session = boto3.Session(botocore_session=core)
    with _LOADER_LOCK:  # boto3 appends its resource folder to the loader's paths on every session
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


class AwsClients:
    """Creates and caches wrapped boto3 clients per (account, region, service); thread-safe.

    The account is the one passed to `client`, else the one the engine set with `using` for the object
    it reconciles, else the operator's own credentials."""

    def __init__(
        self,
        config: AwsConfig | None = None,
        session: boto3.Session | None = None,
        listeners: list[CallListener] | None = None,
        session_clock: Callable[[], datetime] | None = None,
        rate_listeners: list[RateListener] | None = None,
    ) -> None:
        """`session_clock` replaces the wall clock assumed-role sessions judge their expiry by (tests);
        `rate_listeners` hear every change of a limiter key's allowed rate (a metrics gauge)."""
        self.config = config or AwsConfig()
        self._session_clock = session_clock
        self._session = session or new_session()
        self.limiter = RateLimiter(
            self.config.rate_limits, self.config.default_rate_limit, listeners=rate_listeners
        )
        self.log = CallLog()
        self.listeners: list[CallListener] = list(listeners or [])
        self._clients: dict[tuple[Any, str, str], RetryingClient] = {}
        self._sessions: dict[tuple[str, str, str, int], boto3.Session] = {}
        self._batchers: dict[tuple[Any, str, str], BatchReader[Any]] = {}
        self._lock = threading.Lock()
        self._account_lock = threading.Lock()
        self._own_account: str | None = self.config.account_id
        self._own_failed_at: float | None = None

    def default_region(self, account: ResolvedAccount | None = None) -> str:
        if account is not None and account.default_region:
            return account.default_region
        return self.config.default_region or self._session.region_name or "us-east-1"

    @contextmanager
    def using(self, account: ResolvedAccount | None) -> Iterator[None]:
        """Clients asked for inside the block (in this thread or task) use `account`'s credentials."""
        token = _CURRENT_ACCOUNT.set(account)
        try:
            yield
        finally:
            _CURRENT_ACCOUNT.reset(token)

    def client(self, service: str, region: str | None = None, account: Any = _UNSET) -> RetryingClient:
        """The client for (account, region, service); `account` defaults to the one set by `using`."""
        chosen: ResolvedAccount | None = _CURRENT_ACCOUNT.get() if account is _UNSET else account
        if chosen is not None and not chosen.role_arn:
            chosen = None  # the operator's own credentials, whatever the object's source was
        region = region or self.default_region(chosen)
        key = (chosen.session_key if chosen else None, region, service)
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        session = self._session_for(chosen)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                cached = self._clients[key] = self._make(service, region, session, self._limiter_key(chosen))
            return cached

    def _limiter_key(self, account: ResolvedAccount | None) -> str:
        if account is None:
            return self.config.account
        key = account.account_id or account.name
        self.limiter.set_account_rates(key, dict(account.rate_limits))
        return key

    # -- accounts -----------------------------------------------------------------------------------

    def account_id(self, account: ResolvedAccount | None = None, lookup: bool = True) -> str | None:
        """The AWS account id objects using `account` live in: from the role ARN (no call), or for the
        operator's own credentials one sts:GetCallerIdentity per process when the configuration asks for
        it and `lookup` allows it (retried a minute after a failure). None when not known (yet)."""
        if account is not None and account.role_arn:
            return account.account_id
        if self._own_account is not None or not (lookup and self.config.lookup_account_id):
            return self._own_account
        with self._account_lock:  # concurrent reconciles (the CLI's workers) ask once, not once each
            if self._own_account is not None:
                return self._own_account
            now = time.monotonic()
            if self._own_failed_at is not None and now - self._own_failed_at < OWN_ACCOUNT_RETRY_SECONDS:
                return None
            try:
                identity = self.caller_identity(None)
            except Exception:  # no credentials yet, STS unreachable: the id is simply not known yet
                self._own_failed_at = now
                return None
            self._own_account = str(identity["Account"])
            return self._own_account

    def caller_identity(self, account: ResolvedAccount | None) -> dict[str, Any]:
        """sts:GetCallerIdentity with `account`'s credentials (assuming its role first if needed)."""
        response = self.client("sts", account=account).get_caller_identity()
        return {k: response[k] for k in ("Account", "Arn", "UserId")}

    def _session_for(self, account: ResolvedAccount | None) -> boto3.Session:
        if account is None:
            return self._session
        key = account.session_key
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                credentials = SessionCredentials(
                    lambda: self._assume(account), account.session_duration_seconds, self._session_clock
                )
                core = botocore.session.Session()
                core.register_component("credential_provider", CredentialResolver([_Fixed(credentials)]))
                # share the parsed service models with the operator's own session (loading them again
                # costs about a second of CPU per account)
                loader = self._session._session.get_component("data_loader")
                session = self._sessions[key] = session_with_loader(core, loader)
            return session

    def _assume(self, account: ResolvedAccount) -> dict[str, str]:
        """One sts:AssumeRole with the operator's own credentials: botocore's refresh callback."""
        assert account.role_arn is not None
        kwargs: dict[str, Any] = {
            "RoleArn": account.role_arn,
            "RoleSessionName": self.config.session_name[:64],
            "DurationSeconds": account.session_duration_seconds,
        }
        if account.external_id:
            kwargs["ExternalId"] = account.external_id
        sts = self.client("sts", self.default_region(account), account=None)
        try:
            response = sts.assume_role(**kwargs)
        except ClientError as exc:
            if classify(exc) is ErrorClass.ACCESS:
                raise AccessError(
                    "AccessDenied.AssumeRole",
                    f"AWSAccount {account.name}: the operator may not assume {account.role_arn}: "
                    f"{error_message(exc)}",
                ) from None
            raise
        creds = response["Credentials"]
        expiration = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiration.isoformat() if isinstance(expiration, datetime) else str(expiration),
        }

    def batcher(self, name: str, region: str, fetch: Fetch[Any], per_call: int) -> BatchReader[Any]:
        """The batch reader `name` (e.g. `autoscaling:DescribeAutoScalingGroups`) shared by every object in
        this (account, region), the account being the one set by `using`; created on first use with
        `fetch`, which must read with that account's client."""
        chosen = _CURRENT_ACCOUNT.get()
        account = chosen.session_key if chosen is not None and chosen.role_arn else None
        key = (account, region, name)
        with self._lock:
            reader = self._batchers.get(key)
            if reader is None:
                reader = self._batchers[key] = BatchReader(
                    fetch,
                    per_call=per_call,
                    window=self.config.batch_window,
                    max_age=self.config.batch_max_age,
                )
            return reader

    def _make(self, service: str, region: str, session: boto3.Session, account_key: str) -> RetryingClient:
        config = Config(
            region_name=region,
            retries={"mode": self.config.retry_mode, "total_max_attempts": 1},  # type: ignore[arg-type]
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
            max_pool_connections=self.config.max_pool_connections,
            s3={"addressing_style": "path"},
            user_agent=base_user_agent(),
            user_agent_extra=self.config.user_agent_extra,
        )
        raw = session.client(service, config=config)  # type: ignore[call-overload]
        limiter_key = (account_key, region, service)

        def before_call(model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
            self.limiter.acquire(limiter_key)
            if context is not None:
                context["awsop_operation"] = model.name
                context["awsop_sent_at"] = self.limiter.now()

        def after_call(
            http_response: Any, parsed: Any, model: Any, context: dict[str, Any] | None = None, **_: Any
        ) -> None:
            status = getattr(http_response, "status_code", 200)
            code = (parsed or {}).get("Error", {}).get("Code", "") if isinstance(parsed, dict) else ""
            # HTTP 429 or a code that means "too fast" (errors.RATE_THROTTLE_CODES; SQS's RequestThrottled)
            if is_rate_throttle(str(code), status):
                outcome = "throttled"
                self.limiter.penalize(limiter_key, (context or {}).get("awsop_sent_at"))
            else:
                outcome = "error" if status >= 400 else "ok"
                if status < 500:  # AWS took the call at this rate (a 5xx says nothing about the rate)
                    self.limiter.record_success(limiter_key)
            self._emit(service, model.name, outcome)

        def after_call_error(exception: Exception, context: dict[str, Any] | None = None, **_: Any) -> None:
            self._emit(service, (context or {}).get("awsop_operation", "Unknown"), "error")

        service_id = raw.meta.service_model.service_id.hyphenize()
        raw.meta.events.register(f"before-call.{service_id}", before_call)
        raw.meta.events.register(f"after-call.{service_id}", after_call)
        raw.meta.events.register(f"after-call-error.{service_id}", after_call_error)
        return RetryingClient(raw, self.config.max_attempts, self._on_retry(service))

    def _emit(self, service: str, operation: str, outcome: str) -> None:
        self.log.record(service, operation, outcome)
        for listener in self.listeners:
            listener(service, operation, outcome)

    def _on_retry(self, service: str) -> Callable[[BaseException], None]:
        def on_retry(exc: BaseException) -> None:
            for listener in self.listeners:
                listener(service, "__retry__", "throttled" if is_throttle(exc) else "error")

        return on_retry


class SessionCredentials(DeferredRefreshableCredentials):
    """Assumed-role credentials fetched on first use and renewed before they expire.

    botocore renews 15 minutes (advisory) / 10 minutes (mandatory) before expiry, which for a 15-minute
    session would mean a new AssumeRole on every call; here the windows shrink with the session (a quarter
    and a sixth of it, at most botocore's), so a session is renewed about once per lifetime and a call
    never signs with an expired token."""

    def __init__(
        self,
        refresh_using: Callable[[], dict[str, str]],
        duration_seconds: int,
        time_fetcher: Callable[[], datetime] | None = None,
    ) -> None:
        if time_fetcher is None:
            super().__init__(refresh_using=refresh_using, method="awsop-assume-role")
        else:
            super().__init__(
                refresh_using=refresh_using, method="awsop-assume-role", time_fetcher=time_fetcher
            )
        self._advisory_refresh_timeout = min(15 * 60, duration_seconds // 4)
        self._mandatory_refresh_timeout = min(10 * 60, duration_seconds // 6)

    def __repr__(self) -> str:  # never show keys, even in a debugger or a log of locals
        return f"SessionCredentials(method={self.method!r})"


class _Fixed(CredentialProvider):
    """A credential chain of one: the account's assumed-role session."""

    METHOD = "awsop-assume-role"
    CANONICAL_NAME = "awsop-assume-role"

    def __init__(self, credentials: SessionCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> SessionCredentials:
        return self._credentials


class RetryingClient:
    """A boto3 client whose operations retry transient errors with capped exponential backoff + jitter."""

    def __init__(
        self, raw: Any, max_attempts: int, on_retry: Callable[[BaseException], None], max_wait: float = 8.0
    ) -> None:
        self.raw = raw
        self.meta = raw.meta
        self.exceptions = raw.exceptions
        self._max_attempts = max_attempts
        self._on_retry = on_retry
        self._max_wait = max_wait

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.raw, name)
        if not callable(method) or name not in self.raw.meta.method_to_api_mapping:
            return method  # type: ignore[no-any-return]

        def call(**kwargs: Any) -> Any:
            retrying = Retrying(
                stop=stop_after_attempt(self._max_attempts),
                wait=wait_random_exponential(multiplier=0.2, max=self._max_wait),
                retry=retry_if_exception(is_transient),
                before_sleep=lambda state: self._on_retry(state.outcome.exception()),  # type: ignore[union-attr,arg-type]
                reraise=True,
            )
            return retrying(method, **kwargs)

        return call
