"""The mock insights server on 127.0.0.1, queried by raw HTTP posts and by the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scorer.errors import InputError
from scorer.insights.client import InsightsClient
from scorer.insights.data import PublicationRecord, load_many, load_records
from scorer.insights.server import running_server

DATA = Path(__file__).resolve().parents[1] / "data" / "insights"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    records = load_many(sorted(DATA.glob("*.json")) + sorted(DATA.glob("*.csv")))
    with running_server(records, max_aliases=50) as served:
        yield served


def test_published_pg_example_through_the_real_client(url: str) -> None:
    answers = InsightsClient(url).fetch_sync([("pg", "7.12.0")])
    pg = answers[("pg", "7.12.0")]
    assert (pg.found, pg.username, pg.tor, pg.tfa) == (True, "brianc", False, True)
    assert (
        pg.created is None and pg.reason("created") == "the insights service did not report created"
    )


def test_unknown_version_is_null_not_an_error(url: str) -> None:
    body = {
        "query": '{ a: package(name: "pg", version: "0.0.0-nope") { publicationInfo { tor } } }'
    }
    reply = httpx.post(url, json=body)
    assert reply.status_code == 200
    assert reply.json() == {"data": {"a": None}}
    answer = InsightsClient(url).fetch_sync([("pg", "0.0.0-nope")])[("pg", "0.0.0-nope")]
    assert answer.found is False and answer.tor is None
    assert answer.reason("tor") == "the insights service has no record of this version"


def test_constructed_cases_are_served_and_marked(url: str) -> None:
    keys = [
        ("provscore-example-tor", "1.0.1"),
        ("provscore-example-no2fa", "2.0.0"),
        ("provscore-example-switch", "3.1.0"),
        ("provscore-example-switch", "3.1.1"),
        ("provscore-example-csv", "0.1.0"),
    ]
    answers = InsightsClient(url, batch_size=2).fetch_sync(keys)
    assert answers[keys[0]].tor is True
    assert answers[keys[1]].tfa is False
    assert [answers[k].username for k in keys[2:4]] == ["carol-example", "mallory-example"]
    assert answers[keys[4]].tfa is None and answers[keys[4]].username == "dana-example"
    records = load_records(DATA / "constructed.json")
    assert all(r.note and r.note.startswith("constructed") for r in records.values())


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b"x" * 1_100_000, {"content-type": "application/json"}, 413, "larger than"),
        (b"{not json", {"content-type": "application/json"}, 400, "not valid JSON"),
        (b"[]", {"content-type": "application/json"}, 400, "one JSON object"),
        (b"query=1", {"content-type": "text/plain"}, 400, "application/json"),
    ],
)
def test_hostile_bodies_get_graphql_errors(
    url: str, body: bytes, headers: dict[str, str], status: int, needle: str
) -> None:
    reply = httpx.post(url, content=body, headers=headers)
    assert reply.status_code == status
    assert needle in reply.json()["errors"][0]["message"]


def test_too_deep_and_too_many_aliases_are_refused_then_server_still_answers(url: str) -> None:
    deep = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"
    reply = httpx.post(url, json={"query": deep})
    assert "depth" in reply.json()["errors"][0]["message"]
    many = " ".join(
        f'a{i}: package(name: "x", version: "{i}") {{ publicationInfo {{ tor }} }}'
        for i in range(51)
    )
    reply = httpx.post(url, json={"query": "{" + many + "}"})
    assert reply.json()["errors"][0]["message"] == "more than 50 aliases in one document"
    # the client turns a whole-document error into unknown answers, not an exception
    answers = InsightsClient(url, batch_size=60).fetch_sync([("x", str(i)) for i in range(60)])
    assert all(a.found is None and "aliases" in (a.reason("tor") or "") for a in answers.values())
    assert InsightsClient(url).fetch_sync([("pg", "7.12.0")])[("pg", "7.12.0")].tfa is True


def test_many_versions_in_few_requests(url: str) -> None:
    keys = [("pg", "7.12.0")] + [("nothing-here", f"1.0.{i}") for i in range(249)]
    client = InsightsClient(url, batch_size=50, concurrency=3)
    answers = client.fetch_sync(keys + keys[:10])  # duplicates are asked once
    assert list(answers) == keys
    assert client.stats.requests == 5
    assert answers[("pg", "7.12.0")].username == "brianc"


def test_csv_and_json_loading_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "r.csv"
    good.write_text("name,version,username,created,tor,tfa\npg,7.12.0,brianc,,false,true\n")
    assert load_records(good)[("pg", "7.12.0")] == PublicationRecord(
        "pg", "7.12.0", "brianc", None, False, True
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("name,version,tor\npg,1.0.0,maybe\n")
    with pytest.raises(InputError, match=r"bad.csv:2: tor must be true, false or empty"):
        load_records(bad)
    clash = tmp_path / "clash.json"
    clash.write_text(
        json.dumps(
            [
                {"name": "a", "version": "1", "tor": True},
                {"name": "a", "version": "1", "tor": False},
            ]
        )
    )
    with pytest.raises(InputError, match="conflicting records"):
        load_records(clash)
    broken = tmp_path / "broken.json"
    broken.write_text('{"records": [')
    with pytest.raises(InputError, match="invalid JSON"):
        load_records(broken)
    with pytest.raises(InputError, match="needs a name and a version"):
        clash.write_text('[{"name": "a"}]')
        load_records(clash)
