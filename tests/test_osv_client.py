"""The OSV API client against the mock OSV server on 127.0.0.1 (chunking, pagination, one fetch
per id, every fault kind, fail-closed errors, online == offline), plus httpx.MockTransport
unit tests for the exact retry delays and answer validation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from osv_fixtures import KNOWN_BAD, KNOWN_CLEAN, ghsa_dir, mal_dir, pkg, real_records, record
from osv_server import FAULT_KINDS, MockOsvServer

from scorer.errors import SourceUnreachable
from scorer.osv import load_database, match
from scorer.osv.client import OsvClient, RetryPolicy, query_osv
from scorer.records import SourceKind

FAST = {"timeout": 0.5, "retry": RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)}


@pytest.fixture
def osv_server() -> Iterator[MockOsvServer]:
    """The mock OSV API holding the real fixture records, paging after 2 vulns per result."""
    with MockOsvServer(real_records(), page_size=2, hang_seconds=3.0) as server:
        yield server


def incident_packages() -> list[Any]:
    return [pkg(n, v) for n, v in [*KNOWN_BAD, *KNOWN_CLEAN]]


def found_ids(findings: list[tuple[Any, ...]]) -> list[list[str]]:
    return [[a.id for a in f] for f in findings]


# --- against the mock server --------------------------------------------------------------


def test_known_bad_found_and_pagination_followed(osv_server: MockOsvServer) -> None:
    packages = [*incident_packages(), pkg("flatmap-stream", "0.1.1", SourceKind.GIT)]
    result = query_osv(packages, osv_server.url, **FAST)
    # flatmap-stream@0.1.1 has three records: with two per page, the third needs a token.
    assert result.ids_by_package[("flatmap-stream", "0.1.1")] == (
        "GHSA-9x64-5r7x-2q53",
        "GHSA-mh6f-8j2x-4483",
        "MAL-2025-20690",
    )
    batches = [r.queries for r in osv_server.requests if r.path == "/v1/querybatch"]
    assert batches == [10, 1]
    findings = found_ids(match(packages, result.advisories))
    for expected, found in zip(KNOWN_BAD.values(), findings, strict=False):
        assert expected in found
    assert findings[len(KNOWN_BAD) :] == [[], [], [], []]  # clean versions, the git package
    assert result.requests == len(osv_server.requests)


def test_more_than_1000_queries_are_chunked_and_deduplicated(osv_server: MockOsvServer) -> None:
    packages = [pkg(f"filler-{i}", "1.0.0") for i in range(2400)] + incident_packages()
    result = query_osv(packages + packages[::-1], osv_server.url, timeout=10)  # all twice
    first_round = [r.queries for r in osv_server.requests if r.path == "/v1/querybatch"]
    assert max(q or 0 for q in first_round) <= 1000
    assert sorted(first_round)[-3:] == [410, 1000, 1000]
    assert len(result.ids_by_package) == 2410


def test_every_record_is_fetched_exactly_once(osv_server: MockOsvServer) -> None:
    # chalk 5.6.1 and the same version again under another path: one query, one fetch.
    packages = [*incident_packages(), *incident_packages(), pkg("event-stream", "3.3.6")]
    result = query_osv(packages, osv_server.url, **FAST)
    fetched = [r.path for r in osv_server.requests if r.method == "GET"]
    assert len(fetched) == len(set(fetched)) == len(result.advisories) == 9
    assert sorted(a.id for a in result.advisories) == [a.id for a in result.advisories]


def test_online_equals_offline_on_the_same_records(osv_server: MockOsvServer) -> None:
    offline = load_database(mal_dir()) + load_database(ghsa_dir())
    probes = {"0.0.0", "0.0.1", "1.0.0", "1.1.6", "4.4.2", "5.6.1", "99.0.0", "1.0.0-rc.1"}
    packages = []
    for advisory in offline:
        for affected in advisory.affected:
            versions = probes | set(affected.versions)
            packages += [pkg(affected.name, v) for v in sorted(versions)]
    result = query_osv(packages, osv_server.url, fetch_concurrency=8, **FAST)
    online_findings = match(packages, result.advisories)
    assert online_findings == match(packages, offline)
    assert sum(map(bool, online_findings)) > 100
    # The server matched with its own, independent version logic: it agrees with ours.
    for package, found in zip(packages, online_findings, strict=True):
        assert {a.id for a in found} == set(result.ids_by_package[package.key]), package.spec


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("path", ["/v1/querybatch", "/v1/vulns/"])
def test_transient_faults_are_retried(osv_server: MockOsvServer, kind: str, path: str) -> None:
    osv_server.add_fault(kind, count=2, path=path, retry_after="0")
    result = query_osv(incident_packages(), osv_server.url, **FAST)
    assert found_ids(match(incident_packages(), result.advisories))[0] == ["MAL-2025-46969"]
    faulted = [r for r in osv_server.requests if r.fault == kind]
    assert len(faulted) == 2 and all(r.path.startswith(path) for r in faulted)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_persistent_faults_fail_closed_quickly(osv_server: MockOsvServer, kind: str) -> None:
    osv_server.add_fault(kind, count=1000, path="/v1/vulns/", retry_after="0")
    started = time.monotonic()
    with pytest.raises(SourceUnreachable) as caught:
        query_osv(incident_packages(), osv_server.url, **FAST)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"GET {osv_server.url}/v1/vulns/" in message and "after 3 attempts" in message
    assert caught.value.exit_code == 3


def test_retry_after_is_honoured_and_capped(osv_server: MockOsvServer) -> None:
    osv_server.add_fault("429", count=1, path="/v1/querybatch", retry_after="0.6")
    query_osv(incident_packages()[:1], osv_server.url, **FAST)
    first, second = [r.at for r in osv_server.requests[:2]]
    assert second - first >= 0.55

    osv_server.add_fault("429", count=1, path="/v1/querybatch", retry_after="3600")
    capped = RetryPolicy(attempts=3, base_delay=0.01, max_retry_after=0.2)
    started = time.monotonic()
    query_osv(incident_packages()[:1], osv_server.url, timeout=0.5, retry=capped)
    assert time.monotonic() - started < 2


def test_client_errors_are_fatal_without_retry(osv_server: MockOsvServer) -> None:
    osv_server.add_fault("status", count=5, path="/v1/querybatch", status=400)
    with pytest.raises(SourceUnreachable, match=r"/v1/querybatch was refused: HTTP 400"):
        query_osv(incident_packages(), osv_server.url, **FAST)
    assert osv_server.count("/v1/querybatch") == 1


def test_unknown_vuln_id_is_fatal(osv_server: MockOsvServer) -> None:
    osv_server.add_fault("status", count=1, path="/v1/vulns/MAL-2025-46969", status=404)
    with pytest.raises(SourceUnreachable, match="HTTP 404"):
        query_osv([pkg("chalk", "5.6.1")], osv_server.url, **FAST)


def test_server_enforces_the_batch_limit_like_the_real_api(osv_server: MockOsvServer) -> None:
    query = {"package": {"name": "a", "ecosystem": "npm"}, "version": "1.0.0"}
    reply = httpx.post(f"{osv_server.url}/v1/querybatch", json={"queries": [query] * 1001})
    assert reply.status_code == 400
    assert httpx.get(f"{osv_server.url}/v1/vulns/NOPE-1").status_code == 404


def test_unreachable_host_fails_closed() -> None:
    with MockOsvServer() as server:
        url = server.url
    with pytest.raises(SourceUnreachable, match="connection failed"):
        query_osv([pkg("a", "1.0.0")], url, **FAST)


# --- MockTransport unit tests -------------------------------------------------------------


def run(handler: Any, packages: list[Any], **options: Any) -> tuple[Any, list[float]]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    client = OsvClient(
        "https://osv.example.invalid/",
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        **options,
    )
    return asyncio.run(client.query(packages)), delays


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/querybatch":
        queries = json.loads(request.content)["queries"]
        return httpx.Response(
            200,
            json={
                "results": [
                    {"vulns": [{"id": "MAL-1", "modified": "x"}]}
                    if q["package"]["name"] == "a"
                    else {}
                    for q in queries
                ]
            },
        )
    return httpx.Response(200, json=record("MAL-1", "a", versions=["1.0.0"]))


def test_retry_after_seconds_and_http_date_are_used_as_the_delay() -> None:
    replies = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(
                429,
                headers={
                    "Retry-After": format_datetime(
                        datetime.now(UTC) + timedelta(seconds=30), usegmt=True
                    )
                },
            ),
            httpx.Response(429, headers={"Retry-After": "999"}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(replies, None) or answer(request)

    retry = RetryPolicy(attempts=5, max_retry_after=60)
    result, delays = run(handler, [pkg("a", "1.0.0")], retry=retry)
    assert delays[0] == 2 and 25 < delays[1] <= 30 and delays[2] == 60
    assert [a.id for a in result.advisories] == ["MAL-1"]


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    assert [policy.delay(n, rng=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(3, rng=lambda: 0.25) == 0.75

    calls = iter([httpx.Response(503), httpx.Response(502)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(calls, None) or answer(request)

    _, delays = run(handler, [pkg("a", "1.0.0")], retry=RetryPolicy(base_delay=1.0))
    assert len(delays) == 2 and 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"results": []}',  # wrong number of results
        b'{"results": [{"vulns": [{"modified": "x"}]}]}',  # vuln without id
        b'{"results": [{"next_page_token": 7}]}',
    ],
)
def test_malformed_batch_answers_are_retried_then_fatal(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with pytest.raises(SourceUnreachable, match="malformed answer"):
        run(handler, [pkg("a", "1.0.0")], retry=RetryPolicy(attempts=2))


def test_malformed_record_is_retried_then_fatal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/vulns/"):
            return httpx.Response(200, json={"summary": "no id"})
        return answer(request)

    with pytest.raises(SourceUnreachable, match="record has no id"):
        run(handler, [pkg("a", "1.0.0")], retry=RetryPolicy(attempts=2))


def test_progress_and_nothing_to_ask() -> None:
    seen: list[tuple[int, int]] = []
    packages = [pkg("a", "1.0.0"), pkg("b", "1.0.0"), pkg("a", "1.0.0")]
    run(answer, packages, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3, 3) and seen[0][1] == 2  # 2 queries, then 1 record

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    result, _ = run(refuse, [pkg("a", "1.0.0", SourceKind.LINK)])
    assert result.advisories == () and result.ids_by_package == {} and result.requests == 0


def test_page_tokens_are_sent_back_only_for_paged_queries() -> None:
    sent: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/querybatch":
            ident = request.url.path.rsplit("/", 1)[1]
            return httpx.Response(200, json=record(ident, "a", versions=["1.0.0"]))
        queries = json.loads(request.content)["queries"]
        sent.append(queries)
        results = []
        for q in queries:
            if q["package"]["name"] != "a":
                results.append({})
            elif "page_token" not in q:
                results.append({"vulns": [{"id": "MAL-1"}], "next_page_token": "t1"})
            else:
                results.append({"vulns": [{"id": "MAL-2"}]})
        return httpx.Response(200, json={"results": results})

    result, _ = run(handler, [pkg("a", "1.0.0"), pkg("b", "2.0.0")])
    assert [len(batch) for batch in sent] == [2, 1]
    assert sent[1] == [
        {"package": {"name": "a", "ecosystem": "npm"}, "version": "1.0.0", "page_token": "t1"}
    ]
    assert result.ids_by_package == {("a", "1.0.0"): ("MAL-1", "MAL-2"), ("b", "2.0.0"): ()}
