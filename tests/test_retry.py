"""The shared retry loop and the one https-or-loopback URL check."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from scorer.errors import ConfigError
from scorer.npmrc import checked_url
from scorer.retry import (
    LARGE_BODY,
    Deadline,
    GaveUp,
    Jitter,
    Retry,
    RetryPolicy,
    Stop,
    UnusableBody,
    backoff_delay,
    get_capped,
    request_once,
    retrying,
    send_capped,
)


def run(outcomes: list[object], policy: RetryPolicy) -> tuple[object, list[float], int]:
    waits: list[float] = []
    calls = 0

    async def attempt() -> object:
        nonlocal calls
        calls += 1
        return outcomes.pop(0)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = asyncio.run(retrying(attempt, policy, sleep=sleep, rng=lambda: 1.0))
    return result, waits, calls


def test_retries_until_a_result_honouring_retry_after() -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0, max_retry_after=5.0)
    result, waits, calls = run([Retry("503"), Retry("429", retry_after=30.0), "done"], policy)
    assert result == "done" and calls == 3
    assert waits == [0.1, 5.0]  # backoff, then Retry-After capped at max_retry_after


def test_gives_up_after_the_last_attempt_without_a_last_sleep() -> None:
    result, waits, calls = run([Retry("a"), Retry("b"), Retry("c")], RetryPolicy(attempts=3))
    assert result == GaveUp("c", 3) and calls == 3 and len(waits) == 2
    assert result.after == "after 3 attempts"


def test_stop_gives_up_at_once() -> None:
    result, waits, _ = run([Stop("HTTP 401")], RetryPolicy(attempts=5))
    assert result == GaveUp("HTTP 401", 1) and waits == []
    assert result.after == "after 1 attempt"


def test_jitter_spreads() -> None:
    assert backoff_delay(2, 1.0, 10.0, lambda: 0.0, spread=Jitter.FULL) == 0.0
    assert backoff_delay(2, 1.0, 10.0, lambda: 0.0, spread=Jitter.EQUAL) == 2.0
    assert backoff_delay(9, 1.0, 10.0, lambda: 1.0) == 10.0


@pytest.mark.parametrize(
    ("status", "retried"), [(200, False), (404, False), (429, True), (500, True), (503, True)]
)
def test_request_once_classifies_status(status: int, retried: bool) -> None:
    async def send() -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": "4"})

    outcome = asyncio.run(request_once(send, "registry"))
    assert isinstance(outcome, Retry) is retried
    if isinstance(outcome, Retry):
        assert outcome == Retry(f"registry answered HTTP {status}", 4.0)


def test_request_once_turns_transport_errors_into_retries() -> None:
    async def timeout() -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    async def reset() -> httpx.Response:
        raise httpx.ConnectError("refused")

    assert asyncio.run(request_once(timeout, "server")) == Retry("server timed out")
    assert asyncio.run(request_once(reset, "server")) == Retry("server connection failed: refused")


@pytest.mark.parametrize(
    ("url", "options", "ok"),
    [
        ("https://osv.example.invalid", {}, True),
        ("http://127.0.0.1:8080/", {}, True),
        ("http://[::1]:8080/", {}, True),
        ("http://localhost/", {}, True),
        ("http://osv.example.invalid", {}, False),
        ("http://localhost/", {"allow_http_loopback": False}, False),
        ("http://mirror.example.invalid/", {"allow_http": True}, True),
        ("ftp://osv.example.invalid", {"allow_http": True}, False),
        ("https://", {}, False),
        ("osv.example.invalid", {}, False),
    ],
)
def test_checked_url(url: str, options: dict[str, bool], ok: bool) -> None:
    if ok:
        assert checked_url(url, "OSV API URL", **options) == url
    else:
        with pytest.raises(ConfigError, match=r"^OSV API URL .*use https"):
            checked_url(url, "OSV API URL", **options)


# --- answers past LARGE_BODY are read one at a time ---------------------------------------------


def _sized(size: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * size)

    return httpx.MockTransport(handler)


def test_a_large_answer_waits_for_its_turn_and_a_small_one_does_not() -> None:
    large = threading.Lock()
    with httpx.Client(transport=_sized(LARGE_BODY + (4 << 20))) as big:
        # Another thread is reading a large answer:
        with large, pytest.raises(UnusableBody, match="deadline"):
            get_capped(big, "http://h/big", {}, 1 << 30, Deadline.after(0.3), large)
        assert len(get_capped(big, "http://h/big", {}, 1 << 30, Deadline.after(5), large).content)
    assert not large.locked()  # released once read
    with httpx.Client(transport=_sized(2 << 20)) as small, large:
        assert len(get_capped(small, "http://h/s", {}, 1 << 30, Deadline.after(5), large).content)


def test_the_async_reader_takes_the_same_turns() -> None:
    async def main() -> None:
        large = asyncio.Lock()
        async with httpx.AsyncClient(transport=_sized(LARGE_BODY + (4 << 20))) as big:
            request = big.build_request("GET", "http://h/big")
            async with large:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await send_capped(big, request, 1 << 30, large)
            assert len((await send_capped(big, request, 1 << 30, large)).content)
            assert not large.locked()
            with pytest.raises(UnusableBody, match="larger than"):
                await send_capped(big, request, LARGE_BODY + (1 << 20), large)
            assert not large.locked()  # released when the cap refuses the answer too

    asyncio.run(main())
