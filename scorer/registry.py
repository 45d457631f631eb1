"""npm registry package documents (packuments): fetching, caching, snapshots, per-version signals.

`RegistryClient` fetches each package's full document once (httpx, keep-alive, HTTP/2 when `h2`
is installed, bounded concurrency), revalidates cached copies with ETag / Last-Modified, and
retries timeouts, resets, 429 and 5xx with backoff and jitter. A package that cannot be fetched
is data (`FetchResult.document is None` plus a reason), never an exception. `offline` reads only
the cache (or the snapshot) and never opens a connection; `snapshot_dir` writes one sorted-key
JSON file per package, which an offline run reads back, so a CI gate can run on frozen data.

`version_signals` is pure: the publication facts of one version and of the version published
before it. Missing fields are `None` with a reason, because mirrors strip `_npmUser` and friends.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from scorer.atomic import write_atomic
from scorer.errors import ConfigError
from scorer.npmrc import Npmrc, RegistrySelection, checked_url, token_for
from scorer.retry import GaveUp, Jitter, Retry, RetryPolicy, request_once, retrying


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One package document, or why there is none. `via` is network, revalidated, cache,
    snapshot or none."""

    name: str
    registry: str
    document: Mapping[str, Any] | None
    via: str
    reason: str | None = None


@dataclass(slots=True)
class FetchStats:
    requests: int = 0
    full_downloads: int = 0  # 200 answers with a body
    not_modified: int = 0  # 304 answers: the cache was still good
    retries: int = 0
    failures: int = 0


def document_path(name: str) -> str:
    """npm's escaped name for the URL and for file names: `@scope/x` -> `@scope%2fx`."""
    return quote(name, safe="@").replace("%2F", "%2f")


class RegistryClient:
    """Fetch full packuments for many names from the selected registries."""

    def __init__(
        self,
        selection: RegistrySelection,
        *,
        npmrc: Npmrc | None = None,
        cache_dir: Path | None = None,
        snapshot_dir: Path | None = None,
        offline: bool = False,
        concurrency: int = 16,
        timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if offline and cache_dir is None and snapshot_dir is None:
            raise ConfigError("--offline needs a cache directory or --snapshot DIR to read from")
        self.selection = selection
        self.npmrc = npmrc or Npmrc()
        self.cache_dir = cache_dir
        self.snapshot_dir = snapshot_dir
        self.offline = offline
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self._retry = RetryPolicy(retries + 1, backoff, max_backoff, jitter=Jitter.EQUAL)
        self.transport = transport
        self.stats = FetchStats()
        self._sleep = sleep
        self._jitter = jitter

    def url_for(self, name: str) -> str:
        base = self.selection.for_package(name)
        configured = self.selection.explicit or base != self.selection.url
        if not configured:  # chosen by the lockfile, which we do not trust to pick clear text
            checked_url(base, "lockfile-derived registry")
        return base + document_path(name)

    def fetch_sync(self, names: Iterable[str]) -> dict[str, FetchResult]:
        return asyncio.run(self.fetch(names))

    async def fetch(self, names: Iterable[str]) -> dict[str, FetchResult]:
        unique = sorted(set(names))
        if self.offline:
            return {name: self._offline(name) for name in unique}
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        kwargs: dict[str, Any] = {
            "timeout": self.timeout,
            "limits": limits,
            "follow_redirects": False,
        }
        if self.transport is not None:
            kwargs["transport"] = self.transport
        else:
            kwargs["http2"] = _h2_available()
        async with httpx.AsyncClient(**kwargs) as http:

            async def one(name: str) -> FetchResult:
                async with gate:
                    return await self._fetch_one(http, name)

            results = await asyncio.gather(*(one(n) for n in unique))
        return {r.name: r for r in results}

    # -- cache and snapshot ------------------------------------------------------------------

    def _cache_file(self, registry: str, name: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(registry.encode()).hexdigest()[:16]  # cache keyed by registry+name
        return self.cache_dir / key / f"{document_path(name)}.json"

    def _read_cache(self, registry: str, name: str) -> dict[str, Any] | None:
        path = self._cache_file(registry, name)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None  # a damaged cache entry is a miss, refetched and rewritten
        return (
            entry if isinstance(entry, dict) and isinstance(entry.get("document"), dict) else None
        )

    def _write_cache(self, registry: str, name: str, entry: Mapping[str, Any]) -> None:
        path = self._cache_file(registry, name)
        if path is not None:
            write_atomic(path, json.dumps(entry, separators=(",", ":")))

    def _write_snapshot(self, name: str, registry: str, document: Mapping[str, Any]) -> None:
        if self.snapshot_dir is not None:
            body = {"name": name, "registry": registry, "document": document}
            text = json.dumps(body, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            write_atomic(self.snapshot_dir / f"{document_path(name)}.json", text)

    def _offline(self, name: str) -> FetchResult:
        registry = self.selection.for_package(name)
        if self.snapshot_dir is not None:
            path = self.snapshot_dir / f"{document_path(name)}.json"
            try:
                body = json.loads(path.read_bytes())
                recorded = body.get("registry")
                return FetchResult(
                    name,
                    recorded if isinstance(recorded, str) else registry,
                    body["document"],
                    "snapshot",
                )
            except (OSError, ValueError, KeyError, TypeError):
                return FetchResult(
                    name, registry, None, "none", f"offline: {name} is not in the snapshot"
                )
        entry = self._read_cache(registry, name)
        if entry is None:
            return FetchResult(name, registry, None, "none", f"offline: {name} is not in the cache")
        return FetchResult(name, registry, entry["document"], "cache")

    # -- network -----------------------------------------------------------------------------

    async def _fetch_one(self, http: httpx.AsyncClient, name: str) -> FetchResult:
        registry = self.selection.for_package(name)
        url = self.url_for(name)
        cached = self._read_cache(registry, name)
        headers = {
            "Accept": "application/json"
        }  # the full document: the abbreviated one lacks _npmUser
        token = token_for(self.npmrc, url)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if cached is not None:
            if cached.get("etag"):
                headers["If-None-Match"] = cached["etag"]
            if cached.get("last_modified"):
                headers["If-Modified-Since"] = cached["last_modified"]

        async def attempt() -> FetchResult | Retry:
            self.stats.requests += 1
            response = await request_once(lambda: http.get(url, headers=headers), "registry")
            if isinstance(response, Retry):
                return response
            status = response.status_code
            if status == 304 and cached is not None:
                self.stats.not_modified += 1
                await asyncio.to_thread(self._write_snapshot, name, registry, cached["document"])
                return FetchResult(name, registry, cached["document"], "revalidated")
            if status == 200:
                document = _json_object(response.content)
                if document is None:
                    return Retry("registry sent a truncated or malformed document")
                self.stats.full_downloads += 1
                entry = {
                    "url": url,
                    "etag": response.headers.get("etag"),
                    "last_modified": response.headers.get("last-modified"),
                    "document": document,
                }
                # fsync blocks: keep it off the event loop so other fetches proceed
                await asyncio.to_thread(self._write_cache, registry, name, entry)
                await asyncio.to_thread(self._write_snapshot, name, registry, document)
                return FetchResult(name, registry, document, "network")
            if status == 404:
                return self._failed(name, registry, f"{name} not found on {registry} (HTTP 404)")
            # 401/403, redirects and other client errors will not change on retry
            return self._failed(name, registry, f"registry answered HTTP {status} for {name}")

        def count_retry(_wait: float) -> None:
            self.stats.retries += 1

        outcome = await retrying(
            attempt, self._retry, sleep=self._sleep, rng=self._jitter, on_retry=count_retry
        )
        if isinstance(outcome, GaveUp):
            return self._failed(name, registry, f"{outcome.problem} ({outcome.after})")
        return outcome

    def _failed(self, name: str, registry: str, reason: str) -> FetchResult:
        self.stats.failures += 1
        return FetchResult(name, registry, None, "none", reason)


def decode_json(body: bytes) -> Any:
    """Decode a registry body (the benchmark times the same function)."""
    return json.loads(body)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = decode_json(body)
    except ValueError:
        return None
    return (
        document
        if isinstance(document, dict) and isinstance(document.get("versions"), dict)
        else None
    )


def _h2_available() -> bool:
    # Optional: HTTP/2 only when the h2 package is installed (it is not a dependency).
    return importlib.util.find_spec("h2") is not None
