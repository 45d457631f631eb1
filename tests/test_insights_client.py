"""Unit tests of the insights client with httpx.MockTransport: batching, retries, partial errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from scorer.errors import ConfigError, SourceUnreachable
from scorer.insights.client import (
    InsightsClient,
    build_query,
    resolve_endpoint,
    validated_document,
)
from scorer.retry import parse_retry_after

URL = "https://insights.example.invalid/graphql"
INFO = {"username": "brianc", "created": "2019-05-21T00:00:00.000Z", "tor": False, "tfa": True}


def answer_all(request: httpx.Request) -> httpx.Response:
    variables = json.loads(request.content)["variables"]
    count = sum(1 for k in variables if k.startswith("n"))
    return httpx.Response(
        200, json={"data": {f"p{i}": {"publicationInfo": INFO} for i in range(count)}}
    )


def client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> tuple[InsightsClient, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    made = InsightsClient(
        URL,
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        jitter=lambda: 1.0,
        **kwargs,  # type: ignore[arg-type]
    )
    return made, waits


def test_query_is_aliased_and_valid_against_the_shipped_schema() -> None:
    text, variables = build_query([("pg", "7.12.0"), ("@scope/x", '1.0.0"quoted')])
    assert "p0: package(name: $n0, version: $v0)" in text and "p1: package" in text
    assert variables == {"n0": "pg", "v0": "7.12.0", "n1": "@scope/x", "v1": '1.0.0"quoted'}
    assert validated_document(2) is validated_document(2)  # validated once per shape


def test_batches_of_configured_size_and_all_answers_in_order() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(json.loads(request.content)["variables"]) // 2)
        return answer_all(request)

    made, _ = client(handler, batch_size=100)
    keys = [(f"p{i}", "1.0.0") for i in range(250)]
    answers = made.fetch_sync(keys)
    assert sorted(sizes) == [50, 100, 100] and list(answers) == keys
    assert all(a.username == "brianc" and a.found for a in answers.values())


def test_error_on_one_alias_keeps_the_others() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        data = {"p0": {"publicationInfo": INFO}, "p1": None, "p2": None}
        errors = [{"message": "backend shard down", "path": ["p2", "publicationInfo"]}]
        return httpx.Response(200, json={"data": data, "errors": errors})

    made, _ = client(handler)
    a, b, c = made.fetch_sync([("a", "1"), ("b", "1"), ("c", "1")]).values()
    assert a.tfa is True and b.found is False
    assert c.found is None and c.reason("tfa") == "insights error: backend shard down"


def test_malformed_and_partial_fields_become_unknown_with_reasons() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        info = {"username": 42, "created": None, "tor": "no", "tfa": True}
        return httpx.Response(
            200, json={"data": {"p0": {"publicationInfo": info}, "p1": {"publicationInfo": None}}}
        )

    made, _ = client(handler)
    a, b = made.fetch_sync([("a", "1"), ("b", "1")]).values()
    assert (a.username, a.tor, a.tfa) == (None, None, True)
    assert "malformed username" in (a.reason("username") or "")
    assert b.found is True and b.reason("tor") == "the insights service returned no publicationInfo"


def test_retries_429_with_retry_after_then_succeeds() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "3"}, json={"errors": [{"message": "slow down"}]}
            )
        if len(calls) == 2:
            return httpx.Response(503, json={"errors": [{"message": "maintenance"}]})
        return answer_all(request)

    made, waits = client(handler, backoff=0.1)
    answer = made.fetch_sync([("pg", "7.12.0")])[("pg", "7.12.0")]
    assert answer.username == "brianc"
    assert waits == [3.0, 0.2]  # Retry-After honoured; then exponential backoff (full jitter=1)
    assert made.stats.requests == 3 and made.stats.retries == 2


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout("hang"), httpx.RemoteProtocolError("reset"), httpx.ConnectError("refused")],
)
def test_transport_faults_are_retried_then_unknown(fault: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise fault

    made, waits = client(handler, retries=2, backoff=0.1)
    answer = made.fetch_sync([("pg", "7.12.0")])[("pg", "7.12.0")]
    assert answer.found is None and "after 3 attempts" in (answer.reason("tor") or "")
    assert len(waits) == 2 and made.stats.failed_batches == 1


def test_truncated_body_is_retried_and_strict_mode_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"data": {"p0": {"publ')

    made, _ = client(handler, retries=1, strict=True)
    with pytest.raises(SourceUnreachable, match="unusable answer"):
        made.fetch_sync([("pg", "7.12.0")])


def test_auth_failure_is_not_retried() -> None:
    made, waits = client(lambda r: httpx.Response(401, text="no"), retries=3)
    answer = made.fetch_sync([("pg", "7.12.0")])[("pg", "7.12.0")]
    assert waits == [] and "HTTP 401" in (answer.reason("username") or "")


def test_token_is_sent_to_the_endpoint_only_and_redirects_not_followed() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.host == "insights.example.invalid":
            return httpx.Response(
                307, headers={"location": "https://elsewhere.example.invalid/graphql"}
            )
        return answer_all(request)

    made, _ = client(handler, token="s3cret", retries=0)
    answer = made.fetch_sync([("pg", "7.12.0")])[("pg", "7.12.0")]
    assert seen == [(URL, "Bearer s3cret")]
    assert answer.found is None


def test_resolve_endpoint_precedence_and_token_safety() -> None:
    env = {
        "PROVSCORE_INSIGHTS_URL": "https://env.example.invalid/graphql",
        "PROVSCORE_INSIGHTS_TOKEN": "t",
    }
    assert resolve_endpoint(
        "https://opt.example.invalid/g", env, "https://cfg.example.invalid/g"
    ) == ("https://opt.example.invalid/g", "t")
    assert resolve_endpoint(None, env)[0] == "https://env.example.invalid/graphql"
    assert resolve_endpoint(None, {}, "https://cfg.example.invalid/g") == (
        "https://cfg.example.invalid/g",
        None,
    )
    assert resolve_endpoint(None, {}) == (None, None)
    assert (
        resolve_endpoint("http://127.0.0.1:9/graphql", {"PROVSCORE_INSIGHTS_TOKEN": "t"})[1] == "t"
    )
    with pytest.raises(ConfigError, match="plain http"):
        resolve_endpoint(
            "http://insights.example.invalid/graphql", {"PROVSCORE_INSIGHTS_TOKEN": "t"}
        )
    with pytest.raises(ConfigError, match="not an http"):
        resolve_endpoint("ftp://x.example.invalid/", {})


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_importing_the_client_does_not_import_gql() -> None:
    import subprocess
    import sys

    code = (
        "import sys, scorer.insights.client, scorer.insights.data; "
        "print('gql' in sys.modules, 'graphql' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    "body",
    [
        b"0",
        b'"data"',
        b'["data"]',
        b'{"errors": 5}',
        b'{"errors": {"0": 1}}',
        b'{"data": [1]}',
        b'{"errors": [\n   ]\n}',  # gql asserted "data or errors" (AssertionError)
        b'{"data": null}',
    ],
)
def test_an_answer_that_is_not_a_graphql_response_leaves_facts_unknown(body: bytes) -> None:
    # Found by bench/fuzz.py: gql read these shapes with a TypeError / AttributeError that
    # ended `report` with a traceback. They are answers of the wrong shape: retried, then
    # unknown.
    calls: list[int] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    made, waits = client(handler, retries=1)
    (answer,) = made.fetch_sync([("pg", "7.12.0")]).values()
    assert answer.found is None and answer.username is None
    assert "sent an answer of the wrong shape" in (answer.reason("username") or "")
    assert len(calls) == 2 and len(waits) == 1
