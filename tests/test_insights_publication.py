"""The merged Publication record, end to end over 127.0.0.1 and as pure merges."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from insights_fixtures import constructed, real, registry_server

from scorer.errors import ConfigError
from scorer.gather import gather, parse_spec, show
from scorer.insights.client import InsightsClient
from scorer.insights.data import PublicationRecord, load_records
from scorer.insights.server import running_server
from scorer.npmrc import RegistrySelection
from scorer.publication import merge
from scorer.registry import FetchResult, RegistryClient
from scorer.report.formats import PublicationFormat
from scorer.report.publication import RENDERERS, render, to_data
from scorer.signals import version_signals

DATA = Path(__file__).resolve().parents[1] / "data" / "insights"
SWITCH = "constructed-publisher-changed"


@pytest.fixture(scope="module")
def insights_url() -> Iterator[str]:
    records = load_records(DATA / "examples.json")
    # test-only records: insights agrees with the registry on 1.2.3 and names another account
    # for 1.3.0 than the (constructed) registry document does
    for version, user in (("1.2.3", "ljharb"), ("1.3.0", "someone-else-example")):
        records[(SWITCH, version)] = PublicationRecord(
            SWITCH, version, user, None, False, True, "test"
        )
    with running_server(records) as url:
        yield url


def test_pg_example_end_to_end(insights_url: str, tmp_path: Path) -> None:
    with registry_server({}) as registry:  # the registry has no pg document: its facts are unknown
        out = show(
            "pg@7.12.0",
            fmt="json",
            registry_url=registry.url,
            insights_url=insights_url,
            cache_dir=tmp_path,
            env={},
        )
    data = json.loads(out)
    facts = data["facts"]
    assert (facts["publisher"]["value"], facts["tor"]["value"], facts["tfa"]["value"]) == (
        "brianc",
        False,
        True,
    )
    assert facts["publisher"]["sources"][0] == {
        "source": "insights",
        "value": "brianc",
        "reason": None,
    }
    assert "not found" in facts["publisher"]["sources"][1]["reason"]
    assert facts["provenance"]["value"] is None and "HTTP 404" in facts["provenance"]["reason"]
    with registry_server({}) as registry:
        text = show("pg@7.12.0", registry_url=registry.url, insights_url=insights_url, env={})
    assert "  publisher: brianc [insights]\n" in text and "  tfa: yes [insights]\n" in text


def test_publisher_disagreement_keeps_both_and_previous_is_compared(insights_url: str) -> None:
    with registry_server(constructed()) as registry:
        client = RegistryClient(RegistrySelection(registry.url, "--registry", True))
        pubs = gather([(SWITCH, "1.3.0")], registry=client, insights=InsightsClient(insights_url))
    pub = pubs[(SWITCH, "1.3.0")]
    publisher = pub["publisher"]
    assert publisher.conflict and publisher.value is None
    assert [o.value for o in publisher.observations] == ["someone-else-example", "mallory-example"]
    assert pub.previous is not None and pub.previous.version == "1.2.3"
    assert pub.previous["publisher"].value == "ljharb" and not pub.previous["publisher"].conflict
    text = render(pub)
    assert "publisher: CONFLICT insights: someone-else-example; registry: mallory-example" in text
    assert "previous version 1.2.3" in text


def test_published_times_that_differ_only_in_precision_agree() -> None:
    from scorer.insights.client import InsightsAnswer

    signals = version_signals(
        FetchResult("has-package-exports", "r", real("has-package-exports"), "network"), "1.3.0"
    )
    answer = InsightsAnswer(
        "has-package-exports",
        "1.3.0",
        "u",
        True,
        "ljharb",
        "2022-04-07T13:21:32Z",
        None,
        True,
        (("tor", "the insights service did not report tor"),),
    )
    pub = merge("has-package-exports", "1.3.0", answer, signals)
    assert not pub["published_at"].conflict and pub["published_at"].value == "2022-04-07T13:21:32Z"
    assert (
        pub["tor"].value is None
        and pub["tor"].reason == "insights: the insights service did not report tor"
    )
    assert pub["registry_signature"].value is True


def test_no_sources_at_all_is_unknown_with_reasons() -> None:
    pub = merge("x", "1.0.0", None, None)
    assert all(f.value is None and f.reason for f in pub.facts.values())
    assert pub["tfa"].reason == "insights: no insights endpoint configured"
    assert to_data(pub)["previous_reason"] == "registry not consulted"


def test_offline_snapshot_round_trip(insights_url: str, tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    with registry_server(constructed()) as registry:
        online = show(
            f"{SWITCH}@1.3.0",
            fmt="json",
            registry_url=registry.url,
            insights_url=insights_url,
            snapshot_dir=snap,
            env={},
        )
        asked = len(registry.requests)
        offline = show(
            f"{SWITCH}@1.3.0",
            fmt="json",
            registry_url=registry.url,
            snapshot_dir=snap,
            offline=True,
            env={},
        )
        assert len(registry.requests) == asked
    assert json.loads(offline) == json.loads(online)
    assert sorted(p.name for p in (snap / "insights").iterdir()) == [f"{SWITCH}.json"]


def test_formats_enum_matches_renderers_and_spec_parsing() -> None:
    assert set(RENDERERS) == set(PublicationFormat)
    assert parse_spec("@scope/name@1.0.0") == ("@scope/name", "1.0.0")
    for bad in ("pg", "pg@", "@scope/name"):
        with pytest.raises(ConfigError):
            parse_spec(bad)
    with pytest.raises(ConfigError, match="unknown format"):
        render(merge("x", "1", None, None), "yaml")


def test_importing_registry_and_publication_does_not_import_gql() -> None:
    code = (
        "import sys, scorer.registry, scorer.publication, scorer.npmrc; "
        "print(sorted(m for m in ('gql', 'graphql', 'ariadne', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_publication_model_imports_no_http_client() -> None:
    code = (
        "import sys, scorer.publication, scorer.report.publication; "
        "print(sorted(m for m in ('httpx', 'gql', 'scorer.registry', 'scorer.gather') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_text_rendering_neutralises_hostile_registry_values() -> None:
    from scorer.publication import merge
    from scorer.registry import FetchResult
    from scorer.report.publication import render_text
    from scorer.signals import version_signals

    evil = "mallory\x1b[2J\u202eevil"
    doc = {
        "name": "x",
        "versions": {"1.0.0": {"_npmUser": {"name": evil}, "maintainers": [{"name": evil}]}},
        "time": {"created": "2024-01-01T00:00:00Z", "1.0.0": "2024-01-01T00:00:00Z"},
    }
    signals = version_signals(
        FetchResult("x", "https://registry.example.invalid/", doc, "network"), "1.0.0"
    )
    text = render_text(merge("x", "1.0.0", None, signals))
    assert "\x1b" not in text and "\u202e" not in text
    assert "mallory\\x1b[2J\\u202eevil" in text
