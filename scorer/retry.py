"""The one retry loop the three HTTP clients (OSV API, insights endpoint, npm registry) share.

One attempt reports one of three outcomes: a result, `Retry` (a timeout, a transport error, a
429 or a 5xx, a malformed body: another attempt may succeed) or `Stop` (another attempt cannot
help). `retrying` runs attempts until a result, a `Stop`, or the policy's last attempt, sleeping
between them with exponential backoff and jitter, and never less than a server's Retry-After
(capped). It returns the result or `GaveUp`; what giving up means is each client's decision
(the OSV gate fails closed, the registry and insights clients record unknown facts).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from typing import TypeVar

import httpx

T = TypeVar("T")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), never negative;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when it does not say so
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Jitter(StrEnum):
    """How a backoff step is randomised: `full` is uniform in [0, step]; `equal` is half the
    step plus a random half, so a retry never comes at once."""

    FULL = "full"
    EQUAL = "equal"


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    jitter: Callable[[], float],
    retry_after: float | None = None,
    max_retry_after: float = 60.0,
    spread: Jitter = Jitter.EQUAL,
) -> float:
    """min(cap, base * 2**attempt), jittered by `spread`, so clients that failed together spread
    out; a server's Retry-After (capped at `max_retry_after`) wins when it asks for longer."""
    step = min(cap, base * 2.0**attempt)
    wait = step * jitter() if spread is Jitter.FULL else step / 2 + step / 2 * jitter()
    if retry_after is not None:
        wait = max(wait, min(retry_after, max_retry_after))
    return wait


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is tried: `attempts` in all (first one included)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    jitter: Jitter = Jitter.FULL

    def delay(
        self,
        attempt: int,
        rng: Callable[[], float] = random.random,
        retry_after: float | None = None,
    ) -> float:
        """The sleep after failed attempt number `attempt` (0-based)."""
        return backoff_delay(
            attempt,
            self.base_delay,
            self.max_delay,
            rng,
            retry_after,
            self.max_retry_after,
            self.jitter,
        )


DEFAULT_TIMEOUT = 120.0  # seconds of network work a run may spend (--timeout)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a run's network work must be over: `at` on the `time.monotonic` clock, `seconds`
    the budget it was given (for messages). Every attempt is cut at it and no sleep goes past
    it, so no fault (a server that never answers, one byte a second, a Retry-After of a day)
    keeps a run alive much beyond it."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, seconds)

    def remaining(self, clock: Callable[[], float] = time.monotonic) -> float:
        return self.at - clock()

    def passed(self) -> str:
        return f"no answer within the run's {self.seconds:g} s deadline (--timeout)"


@dataclass(frozen=True, slots=True)
class Retry:
    """An attempt failed in a way another attempt may fix; `retry_after` is the server's ask."""

    problem: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    """An attempt failed in a way no retry can fix (e.g. 401): give up now."""

    problem: str


@dataclass(frozen=True, slots=True)
class GaveUp:
    """No attempt succeeded: the last problem and how many attempts were made."""

    problem: str
    attempts: int

    @property
    def after(self) -> str:
        """`after N attempts`, for messages."""
        return f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}"


async def retrying(
    attempt: Callable[[], Awaitable[T | Retry | Stop]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[float], None] | None = None,
    deadline: Deadline | None = None,
) -> T | GaveUp:
    """Run `attempt` until it returns a result (returned as is) or gives up (`GaveUp`).
    `on_retry(wait)` is told each sleep before it is taken (for the clients' counters). Past
    `deadline` (an attempt still running, or a wait that would end after it) it gives up at
    once, and the caller's message names what was slow."""
    problem = "no attempt made"
    for number in range(policy.attempts):
        if deadline is None:
            outcome = await attempt()
        else:
            remaining = deadline.remaining()
            if remaining <= 0:
                return GaveUp(_late(deadline, problem, number), number)
            try:
                async with asyncio.timeout(remaining):
                    outcome = await attempt()
            except TimeoutError:
                return GaveUp(_late(deadline, problem, number), number + 1)
        if isinstance(outcome, Stop):
            return GaveUp(outcome.problem, number + 1)
        if not isinstance(outcome, Retry):
            return outcome
        problem = outcome.problem
        if number + 1 < policy.attempts:
            wait = policy.delay(number, rng, outcome.retry_after)
            if deadline is not None and wait >= deadline.remaining():
                return GaveUp(
                    f"{problem}; waiting {wait:g} s more would pass the {deadline.seconds:g} s"
                    " deadline (--timeout)",
                    number + 1,
                )
            if on_retry is not None:
                on_retry(wait)
            await sleep(wait)
    return GaveUp(problem, policy.attempts)


def _late(deadline: Deadline, problem: str, failed: int) -> str:
    """The deadline's message and, when attempts failed before it, what the last one ran into:
    a server that reset every connection until time ran out is named for the resets."""
    passed = deadline.passed()
    return passed if failed == 0 or passed in problem else f"{passed}; before that: {problem}"


class UnusableBody(httpx.TransportError):
    """An answer's body was cut off by provscore: larger (once decompressed) than the cap the
    client set, or not decodable. A transport error, so every client retries it the same way."""


def _whole(response: httpx.Response, body: bytearray, request: httpx.Request) -> httpx.Response:
    """The answer with its body read whole and decoded, as the clients go on to use it."""
    return httpx.Response(
        response.status_code, headers=_kept_headers(response), content=bytes(body), request=request
    )


def _kept_headers(response: httpx.Response) -> list[tuple[str, str]]:
    # The body handed on is already decoded and whole: its encoding and framing headers no
    # longer describe it (httpx would decompress it a second time).
    dropped = {"content-encoding", "content-length", "transfer-encoding"}
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]


def _too_large(max_bytes: int) -> UnusableBody:
    return UnusableBody(f"answer is larger than {max_bytes / 2**20:g} MiB once decompressed")


# An answer is read past this size only while holding its client's `large` lock: requests stay
# concurrent for ordinary answers, but sixteen answers inflating towards the cap at once (a
# registry sending gzip bombs) cannot cost sixteen caps of memory. Measured with every registry
# document a 0.5 MB gzip bomb, a ten-package report: 3.8 GB peak before, 2.0 GB after. What is
# left is each reader's first inflated read (httpx inflates a 64 KiB read of a bomb at once).
LARGE_BODY = 16 * 2**20


async def send_capped(
    client: httpx.AsyncClient,
    request: httpx.Request,
    max_bytes: int,
    large: asyncio.Lock | None = None,
) -> httpx.Response:
    """Send `request` and read at most `max_bytes` of decompressed body: a 1 GB answer, plain,
    chunked or a gzip bomb, costs at most the cap (plus one decoded chunk) in memory; past
    `LARGE_BODY`, only while holding `large` (one such answer at a time per client)."""
    holding = False
    try:
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                    if large is not None and not holding and len(body) > LARGE_BODY:
                        await large.acquire()
                        holding = True
            except httpx.DecodingError as exc:
                raise UnusableBody(f"answer cannot be decoded: {exc}") from None
        finally:
            await response.aclose()
        return _whole(response, body, request)
    finally:
        if holding and large is not None:
            large.release()


def get_capped(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    max_bytes: int,
    deadline: Deadline | None = None,
    large: threading.Lock | None = None,
) -> httpx.Response:
    """`send_capped` for a GET on the synchronous client (the registry client's threads). A
    thread cannot be cancelled, so the deadline is kept here: no read waits past it (nor for
    `large`), and a body still arriving at it (one byte a second) is dropped."""
    request = client.build_request("GET", url, headers=headers)
    if deadline is not None:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UnusableBody(deadline.passed())
        read_timeout = client.timeout.read
        request = client.build_request(
            "GET",
            url,
            headers=headers,
            timeout=httpx.Timeout(min(remaining, read_timeout or remaining)),
        )
    holding = False
    try:
        response = client.send(request, stream=True)
        try:
            body = bytearray()
            try:
                for chunk in response.iter_bytes():
                    if deadline is not None and deadline.remaining() <= 0:
                        raise UnusableBody(deadline.passed())
                    body += chunk
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                    if large is not None and not holding and len(body) > LARGE_BODY:
                        wait = -1.0 if deadline is None else max(deadline.remaining(), 0.0)
                        if not large.acquire(timeout=wait):
                            raise UnusableBody(deadline.passed() if deadline else "no turn")
                        holding = True
            except httpx.DecodingError as exc:
                raise UnusableBody(f"answer cannot be decoded: {exc}") from None
        finally:
            response.close()
        return _whole(response, body, request)
    finally:
        if holding and large is not None:
            large.release()


def transport_retry(exc: httpx.TransportError, what: str) -> Retry:
    """A timeout or other transport error of httpx as a `Retry` saying what failed."""
    if isinstance(exc, UnusableBody):
        return Retry(f"{what} {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return Retry(f"{what} timed out")
    return Retry(f"{what} connection failed: {transport_problem(exc)}")


def transport_problem(exc: httpx.HTTPError) -> str:
    """An httpx error in words, without Python's class names: its message, or what its kind
    means when it has none."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    if text:
        return text
    for kind, words in (
        (httpx.ConnectError, "could not connect"),
        (httpx.ReadError, "the connection broke while reading"),
        (httpx.WriteError, "the connection broke while sending"),
        (httpx.RemoteProtocolError, "the server broke the HTTP protocol"),
        (httpx.ProxyError, "the proxy failed"),
        (httpx.DecodingError, "the answer could not be decoded"),
        (httpx.TimeoutException, "timed out"),
    ):
        if isinstance(exc, kind):
            return words
    return "the HTTP exchange failed"


def status_retry(response: httpx.Response, what: str) -> Retry | None:
    """A 429 or 5xx answer as a `Retry` carrying its Retry-After; None for any other status."""
    status = response.status_code
    if status == 429 or status >= 500:
        return Retry(
            f"{what} answered HTTP {status}",
            parse_retry_after(response.headers.get("retry-after")),
        )
    return None


async def request_once(
    send: Callable[[], Awaitable[httpx.Response]], what: str
) -> httpx.Response | Retry:
    """One HTTP exchange: the response, or a `Retry` for a timeout, a transport error, a 429 or
    a 5xx. Any other status is the caller's to judge."""
    try:
        response = await send()
    except httpx.TransportError as exc:  # timeouts are transport errors too
        return transport_retry(exc, what)
    return status_retry(response, what) or response
