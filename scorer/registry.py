"""npm registry package documents (packuments): fetching, caching, snapshots, per-version signals.

`RegistryClient` fetches each package's full document once (httpx, keep-alive, HTTP/2 when `h2`
is installed, bounded concurrency), revalidates cached copies with ETag / Last-Modified, and
retries timeouts, resets, 429 and 5xx with backoff and jitter. A package that cannot be fetched
is data (`FetchResult.document is None` plus a reason), never an exception. `offline` reads only
the cache (or the snapshot) and never opens a connection; `snapshot_dir` writes one sorted-key
JSON file per package, which an offline run reads back, so a CI gate can run on frozen data.

`fetch_histories_sync` is the report's path: each document is decoded once into a compact
`PackageHistory` kept in the SQLite history cache (`scorer.histories`) and then dropped, so a
fresh entry (within the registry's Cache-Control max-age) costs no request, a stale one a
conditional request whose 304 reuses the stored history, and no run holds every document at
once. httpx is imported only when some package needs the network. This path does not write the
full-document cache (`insights show` does): for 1,191 documents (65 MB) re-encoding and writing
them with fsync cost 1.1 s of CPU, a third of a cold report, for data the report never reads.

`version_signals` is pure: the publication facts of one version and of the version published
before it. Missing fields are `None` with a reason, because mirrors strip `_npmUser` and friends.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from scorer.atomic import write_atomic
from scorer.errors import ConfigError, InputError, parser_limit
from scorer.npmrc import Npmrc, RegistrySelection, checked_url, token_for

if TYPE_CHECKING:
    import httpx

    from scorer.features import PackageHistory
    from scorer.histories import CachedHistory, HistoryCache
    from scorer.retry import Deadline, Retry, RetryPolicy

    Get = Callable[[str, Mapping[str, str]], Awaitable[httpx.Response]]  # one GET, on a thread

# The largest package document read (decompressed). The biggest real packuments are tens of
# MB; a 1 GB answer (plain, chunked or a gzip bomb) is cut off here, and the package's facts
# are unknown with that reason.
MAX_DOCUMENT_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One package document, or why there is none. `via` is network, revalidated, cache,
    snapshot or none."""

    name: str
    registry: str
    document: Mapping[str, Any] | None
    via: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """One package's history, or why there is none. `via` is fresh (history cache, no
    request), revalidated (304), network, cache, snapshot or none."""

    name: str
    registry: str
    history: PackageHistory | None
    via: str
    reason: str | None = None


@dataclass(slots=True)
class FetchStats:
    requests: int = 0
    full_downloads: int = 0  # 200 answers with a body
    not_modified: int = 0  # 304 answers: the cache was still good
    retries: int = 0
    failures: int = 0
    fresh: int = 0  # history cache entries within max-age: no request


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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,  # default asyncio.sleep
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        progress: Callable[[int, int], None] | None = None,
        deadline: Deadline | None = None,
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
        self._backoff = (backoff, max_backoff)
        self.transport = transport
        self.stats = FetchStats()
        self.warnings: list[str] = []  # e.g. a damaged history cache moved aside
        self.progress = progress  # (done, total) after each package that needed the network
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self.deadline = deadline  # the run's, for network work (--timeout)

    def _retry_policy(self) -> RetryPolicy:
        from scorer.retry import Jitter, RetryPolicy

        return RetryPolicy(self.retries + 1, *self._backoff, jitter=Jitter.EQUAL)

    def url_for(self, name: str) -> str:
        base = self.selection.for_package(name)
        configured = self.selection.explicit or base != self.selection.url
        if not configured:  # chosen by the lockfile, which we do not trust to pick clear text
            checked_url(base, "lockfile-derived registry")
        return base + document_path(name)

    def fetch_sync(self, names: Iterable[str]) -> dict[str, FetchResult]:
        import asyncio

        return asyncio.run(self.fetch(names))

    async def fetch(self, names: Iterable[str]) -> dict[str, FetchResult]:
        unique = sorted(set(names))
        if self.offline:
            return {name: self._offline(name) for name in unique}
        results = await self._each(unique, self._fetch_one)
        return {r.name: r for r in results}

    async def _each(self, names: list[str], one: Callable[[Get, str], Awaitable[Any]]) -> list[Any]:
        """`one(get, name)` for every name, at most `concurrency` at a time, one HTTP client.
        Requests run on `concurrency` threads with httpx's synchronous client: its async client
        spent about 1.6 ms of CPU per request in anyio and the pool (measured, bench_report),
        more than the registry's round trip shared out over the concurrency."""
        import asyncio

        import httpx

        from scorer.retry import get_capped

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
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        large = threading.Lock()  # one answer past LARGE_BODY read at a time
        with (
            httpx.Client(**kwargs) as http,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="registry") as pool,
        ):

            def get(url: str, headers: Mapping[str, str]) -> Awaitable[httpx.Response]:
                return loop.run_in_executor(
                    pool,
                    partial(
                        get_capped, http, url, headers, MAX_DOCUMENT_BYTES, self.deadline, large
                    ),
                )

            done = 0

            async def gated(name: str) -> Any:
                nonlocal done
                async with gate:
                    result = await one(get, name)
                done += 1
                if self.progress is not None:
                    self.progress(done, len(names))
                return result

            return await asyncio.gather(*(gated(n) for n in names))

    # -- histories (the report's path) -------------------------------------------------------

    def fetch_histories_sync(self, names: Iterable[str]) -> dict[str, HistoryResult]:
        """Each package's history: from the history cache when fresh, else revalidated or
        downloaded and stored. Offline: the snapshot when one is given (the frozen data asked
        for), else the history cache, else the document cache. With a snapshot directory
        online, full documents are fetched (the snapshot needs them) and reduced. When every
        entry is fresh no event loop is started and neither asyncio nor httpx is imported."""
        from scorer.features import package_history

        unique = sorted(set(names))
        if self.snapshot_dir is not None:
            documents = self.fetch_sync(unique)
            return {n: _reduced(r, package_history) for n, r in documents.items()}
        cache = self._history_cache()
        try:
            stored = (
                cache.get_many((self.selection.for_package(n), n) for n in unique)
                if cache is not None
                else {}
            )
            now = self._clock()
            out: dict[str, HistoryResult] = {}
            pending = []
            for name in unique:
                registry = self.selection.for_package(name)
                entry = stored.get((registry, name))
                if entry is not None and self.offline:
                    out[name] = HistoryResult(name, registry, entry.history, "cache")
                elif entry is not None and entry.fresh(now):
                    self.stats.fresh += 1
                    out[name] = HistoryResult(name, registry, entry.history, "fresh")
                elif self.offline:
                    out[name] = _reduced(self._offline(name), package_history)
                else:
                    pending.append(name)
            if pending:
                new: list[CachedHistory] = []
                refreshed: list[CachedHistory] = []

                async def one(get: Get, name: str) -> HistoryResult:
                    registry = self.selection.for_package(name)
                    return await self._history_one(
                        get, name, stored.get((registry, name)), new, refreshed
                    )

                import asyncio

                for result in asyncio.run(self._each(pending, one)):
                    out[result.name] = result
                if cache is not None:
                    cache.save(new, refreshed)
        finally:
            if cache is not None:
                self.warnings += cache.warnings
                cache.close()
        return dict(sorted(out.items()))

    def _history_cache(self) -> HistoryCache | None:
        if self.cache_dir is None:
            return None
        from scorer.histories import HistoryCache

        return HistoryCache(self.cache_dir)

    async def _history_one(
        self,
        get: Get,
        name: str,
        entry: CachedHistory | None,
        new: list[CachedHistory],
        refreshed: list[CachedHistory],
    ) -> HistoryResult:
        from dataclasses import replace

        from scorer.features import package_history
        from scorer.histories import CachedHistory, freshness

        registry = self.selection.for_package(name)
        url = self.url_for(name)
        headers = self._headers(url)
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified

        def attempt(response: httpx.Response) -> HistoryResult | Retry | None:
            fetched_at, max_age = freshness(response.headers, self._clock())
            if response.status_code == 304 and entry is not None:
                self.stats.not_modified += 1
                refreshed.append(
                    replace(
                        entry,
                        etag=response.headers.get("etag") or entry.etag,
                        last_modified=response.headers.get("last-modified") or entry.last_modified,
                        fetched_at=fetched_at,
                        max_age=max_age,
                    )
                )
                return HistoryResult(name, registry, entry.history, "revalidated")
            if response.status_code != 200:
                return None
            document = _document(response.content, name)
            if isinstance(document, str):
                from scorer.retry import Retry

                return Retry(document)
            self.stats.full_downloads += 1
            history = package_history(document)
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
            new.append(
                CachedHistory(registry, name, history, etag, last_modified, fetched_at, max_age)
            )
            return HistoryResult(name, registry, history, "network")

        outcome: HistoryResult | FetchResult = await self._request(get, name, url, headers, attempt)
        if isinstance(outcome, FetchResult):  # a failure
            return HistoryResult(name, registry, None, "none", outcome.reason)
        return outcome

    def _headers(self, url: str) -> dict[str, str]:
        # The full document: the abbreviated one lacks _npmUser.
        headers = {"Accept": "application/json"}
        token = token_for(self.npmrc, url)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _request(
        self,
        get: Get,
        name: str,
        url: str,
        headers: Mapping[str, str],
        handle: Callable[[httpx.Response], Any],
        registry: str | None = None,
    ) -> Any:
        """GET with retries; `handle(response)` returns a result, a Retry, or None for a status
        it does not take (404 and other client errors become a failed FetchResult here).
        `registry` defaults to the one selected for `name` (a package name)."""
        from scorer.retry import GaveUp, Retry, request_once, retrying

        registry = registry or self.selection.for_package(name)

        async def attempt() -> Any:
            self.stats.requests += 1
            response = await request_once(lambda: get(url, headers), "registry")
            if isinstance(response, Retry):
                return response
            handled = handle(response)
            if isinstance(handled, Awaitable):
                handled = await handled
            if handled is not None:
                return handled
            status = response.status_code
            if status == 404:
                return self._failed(name, registry, f"{name} not found on {registry} (HTTP 404)")
            if 300 <= status < 400:  # never followed: the answer must come from this registry
                target = urlsplit(response.headers.get("location", "")).netloc or "?"
                return self._failed(
                    name,
                    registry,
                    f"registry answered HTTP {status} for {name}: a redirect to {target},"
                    " not followed",
                )
            # 401/403, redirects and other client errors will not change on retry
            return self._failed(name, registry, f"registry answered HTTP {status} for {name}")

        def count_retry(_wait: float) -> None:
            self.stats.retries += 1

        import asyncio

        outcome = await retrying(
            attempt,
            self._retry_policy(),
            sleep=self._sleep or asyncio.sleep,
            rng=self._jitter,
            on_retry=count_retry,
            deadline=self.deadline,
        )
        if isinstance(outcome, GaveUp):
            return self._failed(name, registry, f"{outcome.problem} ({outcome.after})")
        return outcome

    # -- signing keys and attestations (`provscore verify`) ---------------------------------

    def keys_url(self, registry: str) -> str:
        """The registry's signing keys: `<registry>/-/npm/v1/keys`."""
        return registry + "-/npm/v1/keys"

    def attestations_url(self, name: str, version: str) -> str:
        """A version's attestations, on the registry selected for its name."""
        base = self.selection.for_package(name)
        self.url_for(name)  # the same URL rules as its document (https unless configured)
        return base + "-/npm/v1/attestations/" + document_path(name) + "@" + quote(version)

    def fetch_keys_sync(self, registries: Iterable[str]) -> dict[str, FetchResult]:
        """Each registry's `/-/npm/v1/keys` answer (`FetchResult.document`), revalidated against
        the cache online (keys change, rarely), read from the cache offline."""
        items = {r: (r, self.keys_url(r), "keys", False) for r in sorted(set(registries))}
        return self._fetch_json_sync(items)

    def fetch_attestations_sync(
        self, specs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], FetchResult]:
        """Each version's attestations answer. A version's attestations never change once
        published, so a cached answer is used without a request."""
        wanted = sorted(set(specs))
        items = {
            f"{name}@{version}": (
                self.selection.for_package(name),
                self.attestations_url(name, version),
                "attestations",
                True,
            )
            for name, version in wanted
        }
        results = self._fetch_json_sync(items)
        return {(n, v): results[f"{n}@{v}"] for n, v in wanted}

    def _fetch_json_sync(
        self, items: Mapping[str, tuple[str, str, str, bool]]
    ) -> dict[str, FetchResult]:
        """`label -> (registry, url, kind, immutable)`: one JSON object each, through the cache
        (`<cache>/<registry key>/-<kind>/<label>.json`), with the documents' retries and rules."""
        out: dict[str, FetchResult] = {}
        pending: list[str] = []
        for label, (registry, _url, kind, immutable) in items.items():
            cached = self._read_json_cache(registry, kind, label)
            if cached is not None and (self.offline or immutable):
                out[label] = FetchResult(label, registry, cached["body"], "cache")
            elif self.offline:
                out[label] = FetchResult(
                    label, registry, None, "none", f"offline: {kind} for {label} not in the cache"
                )
            else:
                pending.append(label)
        if pending:
            import asyncio

            async def one(get: Get, label: str) -> FetchResult:
                registry, url, kind, _ = items[label]
                return await self._fetch_json_one(get, label, registry, url, kind)

            for result in asyncio.run(self._each(pending, one)):
                out[result.name] = result
        return dict(sorted(out.items()))

    async def _fetch_json_one(
        self, get: Get, label: str, registry: str, url: str, kind: str
    ) -> FetchResult:
        cached = self._read_json_cache(registry, kind, label)
        headers = self._headers(url)
        if cached is not None and cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]

        async def handle(response: httpx.Response) -> FetchResult | Retry | None:
            if response.status_code == 304 and cached is not None:
                self.stats.not_modified += 1
                return FetchResult(label, registry, cached["body"], "revalidated")
            if response.status_code != 200:
                return None
            try:
                body = decode_json(response.content)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                from scorer.retry import Retry

                return Retry(f"registry sent a truncated or malformed {kind} answer")
            self.stats.full_downloads += 1
            entry = {"url": url, "etag": response.headers.get("etag"), "body": body}
            path = self._json_cache_file(registry, kind, label)
            if path is not None:  # fsync blocks: off the event loop, as for documents
                import asyncio

                text = json.dumps(entry, separators=(",", ":"))
                await asyncio.to_thread(write_atomic, path, text)
            return FetchResult(label, registry, body, "network")

        result: FetchResult = await self._request(get, label, url, headers, handle, registry)
        return result

    def _json_cache_file(self, registry: str, kind: str, label: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(registry.encode()).hexdigest()[:16]
        return self.cache_dir / key / f"-{kind}" / f"{document_path(label)}.json"

    def _read_json_cache(self, registry: str, kind: str, label: str) -> dict[str, Any] | None:
        path = self._json_cache_file(registry, kind, label)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None  # a damaged entry is a miss, refetched and rewritten
        return entry if isinstance(entry, dict) and isinstance(entry.get("body"), dict) else None

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
        except (OSError, ValueError, RecursionError):
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
            if not path.is_file():
                return FetchResult(
                    name, registry, None, "none", f"offline: {name} is not in the snapshot"
                )
            # A file that is there is the user's frozen input: damage is an error naming it,
            # not a package quietly "not in the snapshot".
            try:
                body = json.loads(path.read_bytes())
            except OSError as exc:
                raise InputError(path, f"cannot read the snapshot: {exc.strerror}") from None
            except (ValueError, RecursionError) as exc:
                raise InputError(path, f"snapshot is not JSON: {parser_limit(exc)}") from None
            if not isinstance(body, dict) or not isinstance(body.get("document"), dict):
                raise InputError(path, 'snapshot is not {"registry": ..., "document": {...}}')
            recorded = body.get("registry")
            return FetchResult(
                name,
                recorded if isinstance(recorded, str) else registry,
                body["document"],
                "snapshot",
            )
        entry = self._read_cache(registry, name)
        if entry is None:
            return FetchResult(name, registry, None, "none", f"offline: {name} is not in the cache")
        return FetchResult(name, registry, entry["document"], "cache")

    # -- network -----------------------------------------------------------------------------

    async def _fetch_one(self, get: Get, name: str) -> FetchResult:
        registry = self.selection.for_package(name)
        url = self.url_for(name)
        cached = self._read_cache(registry, name)
        headers = self._headers(url)
        if cached is not None:
            if cached.get("etag"):
                headers["If-None-Match"] = cached["etag"]
            if cached.get("last_modified"):
                headers["If-Modified-Since"] = cached["last_modified"]

        async def handle(response: httpx.Response) -> FetchResult | Retry | None:
            status = response.status_code
            if status == 304 and cached is not None:
                import asyncio

                self.stats.not_modified += 1
                await asyncio.to_thread(self._write_snapshot, name, registry, cached["document"])
                return FetchResult(name, registry, cached["document"], "revalidated")
            if status != 200:
                return None
            document = _document(response.content, name)
            if isinstance(document, str):
                from scorer.retry import Retry

                return Retry(document)
            self.stats.full_downloads += 1
            entry = {
                "url": url,
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
                "document": document,
            }
            # fsync blocks: keep it off the event loop so other fetches proceed
            import asyncio

            await asyncio.to_thread(self._write_cache, registry, name, entry)
            await asyncio.to_thread(self._write_snapshot, name, registry, document)
            return FetchResult(name, registry, document, "network")

        result: FetchResult = await self._request(get, name, url, headers, handle)
        return result

    def _failed(self, name: str, registry: str, reason: str) -> FetchResult:
        from scorer.text import redact_urls

        # The reason ends up in reports as why a fact is unknown: no credentials in it.
        self.stats.failures += 1
        return FetchResult(name, registry, None, "none", redact_urls(reason))


def _reduced(
    fetched: FetchResult, reduce: Callable[[Mapping[str, Any]], PackageHistory]
) -> HistoryResult:
    history = None if fetched.document is None else reduce(fetched.document)
    return HistoryResult(fetched.name, fetched.registry, history, fetched.via, fetched.reason)


def decode_json(body: bytes) -> Any:
    """Decode a registry body (the benchmark times the same function)."""
    return json.loads(body)


def _document(body: bytes, name: str) -> dict[str, Any] | str:
    """The package document of `name` in `body`, or what is wrong with it: not a JSON object
    with a `versions` object (truncated, malformed), or a document that is not `name`'s. A
    registry, proxy or cache that mixed answers up must not lend one package the history of
    another: its facts would be wrong rather than unknown."""
    try:
        document = decode_json(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("versions"), dict):
        return "registry sent a truncated or malformed document"
    said = document.get("name")
    if said != name:
        other = (
            f"the document of {said[:80]!r}"
            if isinstance(said, str)
            else "a document that names no package"
        )
        return f"registry sent {other} when asked for {name!r}"
    return document


def _h2_available() -> bool:
    # Optional: HTTP/2 only when the h2 package is installed (it is not a dependency).
    return importlib.util.find_spec("h2") is not None
