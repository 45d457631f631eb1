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
import os
import random
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from scorer.errors import ConfigError
from scorer.npmrc import Npmrc, RegistrySelection, is_loopback, token_for
from scorer.retry import backoff_delay, parse_retry_after

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


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


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory, fsync, then os.replace: a crash leaves
    the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.transport = transport
        self.stats = FetchStats()
        self._sleep = sleep
        self._jitter = jitter

    def url_for(self, name: str) -> str:
        base = self.selection.for_package(name)
        parts = urlsplit(base)
        host = parts.hostname or ""
        configured = self.selection.explicit or base != self.selection.url
        if parts.scheme != "https" and not is_loopback(host) and not configured:
            raise ConfigError(f"refusing plain http to lockfile-derived registry {host}")
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
            atomic_write(path, json.dumps(entry, separators=(",", ":")).encode())

    def _write_snapshot(self, name: str, registry: str, document: Mapping[str, Any]) -> None:
        if self.snapshot_dir is not None:
            body = {"name": name, "registry": registry, "document": document}
            text = json.dumps(body, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            atomic_write(self.snapshot_dir / f"{document_path(name)}.json", text.encode())

    def _offline(self, name: str) -> FetchResult:
        registry = self.selection.for_package(name)
        if self.snapshot_dir is not None:
            path = self.snapshot_dir / f"{document_path(name)}.json"
            try:
                doc = json.loads(path.read_bytes())["document"]
                return FetchResult(name, registry, doc, "snapshot")
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
        problem = "no attempt made"
        for attempt in range(self.retries + 1):
            wait = None
            self.stats.requests += 1
            try:
                response = await http.get(url, headers=headers)
            except httpx.TimeoutException:
                problem = "registry timed out"
            except httpx.TransportError as exc:
                problem = f"registry connection failed: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 304 and cached is not None:
                    self.stats.not_modified += 1
                    await asyncio.to_thread(
                        self._write_snapshot, name, registry, cached["document"]
                    )
                    return FetchResult(name, registry, cached["document"], "revalidated")
                if status == 200:
                    document = _json_object(response.content)
                    if document is not None:
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
                    problem = "registry sent a truncated or malformed document"
                elif status == 404:
                    return self._failed(
                        name, registry, f"{name} not found on {registry} (HTTP 404)"
                    )
                elif status == 429 or status >= 500:
                    problem = f"registry answered HTTP {status}"
                    wait = parse_retry_after(response.headers.get("retry-after"))
                else:  # 401/403, redirects and other client errors will not change on retry
                    return self._failed(
                        name, registry, f"registry answered HTTP {status} for {name}"
                    )
            if attempt < self.retries:
                self.stats.retries += 1
                await self._sleep(
                    backoff_delay(attempt, self.backoff, self.max_backoff, self._jitter, wait)
                )
        return self._failed(name, registry, f"{problem} (after {self.retries + 1} attempts)")

    def _failed(self, name: str, registry: str, reason: str) -> FetchResult:
        self.stats.failures += 1
        return FetchResult(name, registry, None, "none", reason)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
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


# -- signals ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What a packument says about how one version was published. `None` = unknown; the
    reason is in `reasons` under the field name."""

    version: str
    publisher: str | None
    publisher_email_domain: str | None
    trusted_publisher: bool | None
    trusted_publisher_id: str | None
    maintainers: tuple[str, ...] | None
    published_at: str | None
    provenance: bool | None
    registry_signature: bool | None
    install_scripts: tuple[str, ...] | None  # names among preinstall/install/postinstall
    has_install_script: bool | None
    deprecated: bool | None
    deprecation_message: str | None
    reasons: tuple[tuple[str, str], ...] = ()

    def reason(self, field_name: str) -> str | None:
        return dict(self.reasons).get(field_name)


@dataclass(frozen=True, slots=True)
class RegistrySignals:
    """Facts of one version, of the version published just before it, and of the package."""

    name: str
    version: str
    registry: str | None
    current: VersionFacts | None
    previous: VersionFacts | None
    package_created_at: str | None
    reasons: tuple[tuple[str, str], ...] = ()  # for current/previous/package_created_at

    def reason(self, field_name: str) -> str | None:
        return dict(self.reasons).get(field_name)


def version_signals(fetched: FetchResult, version: str) -> RegistrySignals:
    """Signals for `version` from a fetched document (pure; no I/O, no clock)."""
    doc = fetched.document
    if doc is None:
        why = fetched.reason or "no registry document"
        return RegistrySignals(
            fetched.name,
            version,
            fetched.registry,
            None,
            None,
            None,
            (("current", why), ("previous", why), ("package_created_at", why)),
        )
    versions: Mapping[str, Any] = _mapping(doc.get("versions"))
    times: Mapping[str, Any] = _mapping(doc.get("time"))
    reasons: list[tuple[str, str]] = []
    created = times.get("created") if isinstance(times.get("created"), str) else None
    if created is None:
        reasons.append(("package_created_at", "the document has no time.created"))
    faithful = any(isinstance(v, dict) and "_npmUser" in v for v in versions.values())
    manifest = versions.get(version)
    if not isinstance(manifest, dict):
        why = f"{version} is not in the registry document (unpublished or never published)"
        return RegistrySignals(
            fetched.name,
            version,
            fetched.registry,
            None,
            None,
            created,
            (*reasons, ("current", why), ("previous", why)),
        )
    current = _facts(version, manifest, times, doc, faithful)
    previous_version, why_none = _previous(version, versions, times)
    previous = None
    if previous_version is not None:
        previous = _facts(previous_version, versions[previous_version], times, doc, faithful)
    else:
        reasons.append(("previous", why_none))
    return RegistrySignals(
        fetched.name, version, fetched.registry, current, previous, created, tuple(reasons)
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _previous(
    version: str, versions: Mapping[str, Any], times: Mapping[str, Any]
) -> tuple[str | None, str]:
    mine = times.get(version)
    if not isinstance(mine, str):
        return None, f"the document has no publish time for {version}, so publish order is unknown"
    earlier = [
        (t, v)
        for v, t in times.items()
        if v in versions and v != version and isinstance(t, str) and t < mine
    ]
    if not earlier:
        return None, "first version published (no earlier version in the document)"
    return max(earlier)[1], ""


def _facts(
    version: str,
    manifest: Mapping[str, Any],
    times: Mapping[str, Any],
    doc: Mapping[str, Any],
    faithful: bool,
) -> VersionFacts:
    reasons: list[tuple[str, str]] = []
    stripped = "the registry document carries no _npmUser on any version (a mirror may strip it)"

    def unknown(field_name: str, why: str) -> None:
        reasons.append((field_name, why))

    user = manifest.get("_npmUser")
    publisher = domain = trusted_id = None
    trusted: bool | None = None
    if isinstance(user, dict):
        publisher = user.get("name") if isinstance(user.get("name"), str) else None
        email = user.get("email")
        if isinstance(email, str) and "@" in email:
            domain = email.rsplit("@", 1)[1].lower()
        tp = user.get("trustedPublisher")
        trusted = isinstance(tp, dict)
        trusted_id = (
            tp.get("id") if isinstance(tp, dict) and isinstance(tp.get("id"), str) else None
        )
    why_user = stripped if not faithful else f"no _npmUser on {version}"
    for field_name, value in (
        ("publisher", publisher),
        ("publisher_email_domain", domain),
        ("trusted_publisher", trusted),
    ):
        if value is None:
            unknown(
                field_name, why_user if user is None else f"_npmUser has no usable {field_name}"
            )
    if trusted_id is None:
        unknown(
            "trusted_publisher_id",
            "not published through trusted publishing" if trusted is False else why_user,
        )
    raw_maintainers = manifest.get("maintainers", doc.get("maintainers"))
    maintainers = None
    if isinstance(raw_maintainers, list):
        maintainers = tuple(
            sorted(
                {
                    m["name"]
                    for m in raw_maintainers
                    if isinstance(m, dict) and isinstance(m.get("name"), str)
                }
            )
        )
    else:
        unknown("maintainers", "the document lists no maintainers (a mirror may strip them)")
    published = times.get(version) if isinstance(times.get(version), str) else None
    if published is None:
        unknown("published_at", f"the document has no time[{version}]")
    dist = _mapping(manifest.get("dist"))
    # Absence only means "absent" in a document that is evidently not stripped.
    provenance = "attestations" in dist or (False if faithful else None)
    signature = "signatures" in dist or (False if faithful else None)
    if provenance is None:
        unknown("provenance", stripped)
    if signature is None:
        unknown("registry_signature", stripped)
    scripts = manifest.get("scripts")
    names: tuple[str, ...] | None = None
    has_script: bool | None
    if isinstance(scripts, dict):
        names = tuple(s for s in INSTALL_SCRIPTS if s in scripts)
        has_script = bool(names) or manifest.get("hasInstallScript") is True
    elif isinstance(manifest.get("hasInstallScript"), bool):
        has_script = manifest["hasInstallScript"]
        unknown("install_scripts", "abbreviated document: only hasInstallScript is known")
    elif faithful:
        names, has_script = (), False
    else:
        has_script = None
        unknown("install_scripts", stripped)
        unknown("has_install_script", stripped)
    deprecated_raw = manifest.get("deprecated")
    deprecated = isinstance(deprecated_raw, str) and deprecated_raw != ""
    return VersionFacts(
        version=version,
        publisher=publisher,
        publisher_email_domain=domain,
        trusted_publisher=trusted,
        trusted_publisher_id=trusted_id,
        maintainers=maintainers,
        published_at=published,
        provenance=provenance,
        registry_signature=signature,
        install_scripts=names,
        has_install_script=has_script,
        deprecated=deprecated,
        deprecation_message=deprecated_raw if deprecated else None,
        reasons=tuple(reasons),
    )
