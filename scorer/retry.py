"""What the three HTTP clients (OSV API, insights endpoint, npm registry) share about retrying:
reading a Retry-After header, and spacing attempts with exponential backoff and jitter."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import UTC


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


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    jitter: Callable[[], float],
    retry_after: float | None = None,
    max_retry_after: float = 60.0,
) -> float:
    """Equal jitter: half of min(cap, base * 2**attempt) plus a random half, so clients that
    failed together spread out but never retry at once; a server's Retry-After (capped) wins
    when it asks for longer."""
    step = min(cap, base * 2.0**attempt)
    wait = step / 2 + step / 2 * jitter()
    if retry_after is not None:
        wait = max(wait, min(retry_after, max_retry_after))
    return wait
