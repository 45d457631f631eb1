"""The online OSV API client: every locked version asked about, every reported record fetched.

`POST /v1/querybatch` takes at most 1000 queries and answers with only `id` and `modified` per
vulnerability, paging long answers with a per-result `next_page_token`; the full record must then
be fetched from `GET /v1/vulns/{id}`. So the client de-duplicates (name, version) queries, sends
them in chunks of at most 1000 with several chunks in flight, re-queries paged results with their
token, and fetches each unique id once with bounded concurrency. Timeouts, connection errors,
429 (honouring `Retry-After`, capped), 5xx and malformed bodies are retried with exponential
backoff and full jitter; other 4xx answers are fatal at once. Whatever cannot be completed raises
`SourceUnreachable` (the audit fails closed). Matching is left to `advisories.match` on the
fetched records, the same code the offline database uses, so both modes agree on the same data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from scorer.errors import SourceUnreachable
from scorer.osv import DEFAULT_OSV_URL
from scorer.osv.advisories import Advisory, RecordError
from scorer.records import LockedPackage, SourceKind
from scorer.retry import (
    Deadline,
    GaveUp,
    Retry,
    RetryPolicy,
    request_once,
    retrying,
    send_capped,
)

MAX_BATCH = 1000  # the API's own limit on queries per querybatch call
MAX_PAGES = 1000  # a guard against a server that never stops handing out page tokens
# The largest answer read (decompressed): a querybatch page of 1000 results or one record is
# far smaller; a 1 GB answer (plain, chunked or a gzip bomb) is cut off here and retried.
MAX_ANSWER_BYTES = 64 * 2**20

T = TypeVar("T")
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class OnlineResult:
    """What the API said. `advisories`: every record fetched, sorted by id (feed them to
    `match`). `ids_by_package`: per queried (name, version), the ids querybatch returned, in
    the API's order. `requests`: HTTP requests sent, retries included."""

    advisories: tuple[Advisory, ...]
    ids_by_package: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    requests: int = 0


class _Malformed(ValueError):
    """A 200 answer whose body is not what the API documents; retried like a server error."""


def _batch_parser(expected: int) -> Callable[[Any], list[tuple[list[str], str | None]]]:
    def parse(body: Any) -> list[tuple[list[str], str | None]]:
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != expected:
            raise _Malformed(f"expected {expected} results in a querybatch answer")
        parsed = []
        for result in results:
            if not isinstance(result, dict):
                raise _Malformed("a querybatch result is not an object")
            vulns = result.get("vulns") or []
            token = result.get("next_page_token") or None
            if not isinstance(vulns, list) or not all(
                isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"] for v in vulns
            ):
                raise _Malformed("a querybatch result has vulns without ids")
            if token is not None and not isinstance(token, str):
                raise _Malformed("next_page_token is not a string")
            parsed.append(([v["id"] for v in vulns], token))
        return parsed

    return parse


class OsvClient:
    """An OSV API client. `base_url` is the API root (the CLI resolves `--osv-url` and
    `PROVSCORE_OSV_URL`); `transport` replaces the network, e.g. with `httpx.MockTransport`;
    `progress(done, total)` is called as queries and record fetches complete (`total` grows
    once the ids to fetch are known). One `query` at a time per client: it keeps counters."""

    def __init__(
        self,
        base_url: str = DEFAULT_OSV_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        batch_size: int = MAX_BATCH,
        batch_concurrency: int = 4,
        fetch_concurrency: int = 24,
        progress: Progress | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH}")
        self.base_url = base_url.rstrip("/")
        self._transport = transport
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.batch_concurrency = batch_concurrency
        self.fetch_concurrency = fetch_concurrency
        self._progress = progress
        self._sleep = sleep
        self._deadline = deadline
        self._requests = 0
        self._done = 0
        self._total = 0
        self._large: asyncio.Lock | None = None  # made in `query`, inside its event loop

    async def query(self, packages: Sequence[LockedPackage]) -> OnlineResult:
        """Ask about every registry package (others cannot be looked up) and fetch the records."""
        keys = list(dict.fromkeys(p.key for p in packages if p.source is SourceKind.REGISTRY))
        self._requests = self._done = 0
        self._total = len(keys)
        self._large = asyncio.Lock()  # one answer past LARGE_BODY read at a time
        limits = httpx.Limits(max_connections=self.batch_concurrency + self.fetch_concurrency)
        async with httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(self._timeout),
            limits=limits,
            headers={"User-Agent": "provscore"},
            # Loading the CA store costs ~0.1 s per client and a plain-http base URL (a local
            # mirror or the test server) never uses it; redirects are not followed, so no
            # request can move to https without verification.
            verify=not self.base_url.startswith("http://"),
        ) as client:
            chunks = [keys[i : i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
            gate = asyncio.Semaphore(self.batch_concurrency)
            answers = await _gather([self._query_chunk(client, gate, c) for c in chunks])
            ids_by_package = {k: v for answer in answers for k, v in answer.items()}
            unique_ids = sorted({i for ids in ids_by_package.values() for i in ids})
            self._advance(0, len(unique_ids))
            gate = asyncio.Semaphore(self.fetch_concurrency)
            records = await _gather([self._fetch(client, gate, i) for i in unique_ids])
        return OnlineResult(tuple(records), ids_by_package, self._requests)

    def _advance(self, done: int, more_total: int = 0) -> None:
        self._done += done
        self._total += more_total
        if self._progress is not None:
            self._progress(self._done, self._total)

    async def _query_chunk(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, chunk: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, ...]]:
        found: list[list[str]] = [[] for _ in chunk]
        pending: list[tuple[int, str | None]] = [(i, None) for i in range(len(chunk))]
        for _ in range(MAX_PAGES):
            if not pending:
                break
            queries = []
            for i, token in pending:
                name, version = chunk[i]
                query: dict[str, Any] = {
                    "package": {"name": name, "ecosystem": "npm"},
                    "version": version,
                }
                if token:
                    query["page_token"] = token
                queries.append(query)
            async with gate:
                results = await self._send(
                    client,
                    "POST",
                    "/v1/querybatch",
                    _batch_parser(len(queries)),
                    {"queries": queries},
                )
            next_pending: list[tuple[int, str | None]] = []
            for (i, _), (ids, token) in zip(pending, results, strict=True):
                found[i].extend(ids)
                if token:
                    next_pending.append((i, token))
            pending = next_pending
        else:
            if pending:
                raise SourceUnreachable(
                    f"OSV API {self.base_url}/v1/querybatch kept paging past {MAX_PAGES} pages"
                )
        self._advance(len(chunk))
        return {key: tuple(dict.fromkeys(ids)) for key, ids in zip(chunk, found, strict=True)}

    async def _fetch(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, ident: str
    ) -> Advisory:
        def parse(body: Any) -> Advisory:
            try:
                advisory = Advisory.from_osv(body)
            except RecordError as exc:
                raise _Malformed(str(exc)) from None
            # A server answering with another record (a withdrawn copy of a real advisory,
            # say) would have it merged into the database and disarm later offline audits:
            # the answer must be the record asked for, under its id or one of its aliases.
            if advisory.id != ident and ident not in advisory.aliases:
                raise SourceUnreachable(
                    f"OSV API {self.base_url}/v1/vulns/{quote(ident, safe='')} answered with"
                    f" record {advisory.id[:80]!r}, not {ident!r}: refusing to use the answer"
                )
            return advisory

        async with gate:
            advisory = await self._send(client, "GET", f"/v1/vulns/{quote(ident, safe='')}", parse)
        self._advance(1)
        return advisory

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        payload: Any = None,
    ) -> T:
        url = self.base_url + path

        async def attempt() -> T | Retry:
            self._requests += 1
            response = await request_once(
                lambda: send_capped(
                    client,
                    client.build_request(method, url, json=payload),
                    MAX_ANSWER_BYTES,
                    self._large,
                ),
                "server",
            )
            if isinstance(response, Retry):
                return response
            if response.status_code == 200:
                try:
                    return parse(response.json())
                except (ValueError, RecursionError) as exc:  # JSON, UTF-8, shape; nesting
                    return Retry(f"malformed answer: {exc}")
            # Other 4xx (and redirects, which are not followed): the request itself is wrong,
            # and repeating it cannot help.
            detail = response.text[:200].strip()
            raise SourceUnreachable(
                f"OSV API {method} {url} was refused: HTTP {response.status_code}"
                + (f": {detail}" if detail else "")
            )

        outcome = await retrying(attempt, self._retry, sleep=self._sleep, deadline=self._deadline)
        if isinstance(outcome, GaveUp):
            raise SourceUnreachable(
                f"OSV API {method} {url} failed {outcome.after}: {outcome.problem}"
            )
        return outcome


async def _gather(coroutines: Sequence[Awaitable[T]]) -> list[T]:
    """Run all, cancel the rest on the first failure, and raise that failure itself rather
    than the ExceptionGroup a TaskGroup wraps it in."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(c)) for c in coroutines]
    except ExceptionGroup as failures:
        first = failures.exceptions[0]
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def query_osv(
    packages: Sequence[LockedPackage], base_url: str = DEFAULT_OSV_URL, **options: Any
) -> OnlineResult:
    """`OsvClient(base_url, **options).query(packages)` run to completion in a new event loop."""
    return asyncio.run(OsvClient(base_url, **options).query(packages))
