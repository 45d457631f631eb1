"""Registry client against a local HTTP registry serving real and constructed packuments."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from insights_fixtures import constructed, real, registry_server

from scorer.atomic import write_atomic
from scorer.errors import ConfigError
from scorer.npmrc import Npmrc, RegistrySelection
from scorer.registry import FetchResult, RegistryClient, document_path


def docs() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {
        "has-package-exports": real("has-package-exports"),
        "events": real("events"),
        "abbrev": real("abbrev"),
    }
    out.update(constructed())
    return out


def selection(url: str) -> RegistrySelection:
    return RegistrySelection(url, "--registry", True)


async def no_sleep(_seconds: float) -> None:
    return None


def test_fetch_then_warm_cache_revalidates_without_full_downloads(tmp_path: Path) -> None:
    with registry_server(docs()) as server:
        names = ["abbrev", "events", "has-package-exports", "missing-package"]
        first = RegistryClient(selection(server.url), cache_dir=tmp_path)
        results = first.fetch_sync(names)
        assert results["abbrev"].document is not None and results["abbrev"].via == "network"
        assert results["missing-package"].document is None
        assert "not found" in (results["missing-package"].reason or "")
        assert first.stats.full_downloads == 3 and first.stats.requests == 4
        warm = RegistryClient(selection(server.url), cache_dir=tmp_path)
        again = warm.fetch_sync(names)
        assert warm.stats.full_downloads == 0 and warm.stats.not_modified == 3
        assert (
            again["events"].via == "revalidated"
            and again["events"].document == results["events"].document
        )
        conditional = [h for n, h in server.requests if n == "events"][-1]
        assert conditional["if-none-match"].startswith('"') and "if-modified-since" in conditional
        assert conditional["accept"] == "application/json"


def test_offline_reads_only_the_cache(tmp_path: Path) -> None:
    with registry_server(docs()) as server:
        RegistryClient(selection(server.url), cache_dir=tmp_path).fetch_sync(["abbrev"])
        asked = len(server.requests)
        offline = RegistryClient(selection(server.url), cache_dir=tmp_path, offline=True)
        results = offline.fetch_sync(["abbrev", "events"])
        assert len(server.requests) == asked  # not one request
    assert results["abbrev"].via == "cache" and results["abbrev"].document is not None
    assert results["events"].reason == "offline: events is not in the cache"
    with pytest.raises(ConfigError, match="--offline needs"):
        RegistryClient(selection("http://127.0.0.1:9/"), offline=True)


def test_snapshot_is_deterministic_and_read_back_offline(tmp_path: Path) -> None:
    with registry_server(docs()) as server:
        for run in ("a", "b"):
            RegistryClient(selection(server.url), snapshot_dir=tmp_path / run).fetch_sync(
                ["events", "abbrev", "constructed-trusted-lost"]
            )
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["abbrev.json", "constructed-trusted-lost.json", "events.json"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert '"_id"' in (tmp_path / "a" / "abbrev.json").read_text()
    frozen = RegistryClient(
        selection("http://127.0.0.1:9/"), snapshot_dir=tmp_path / "a", offline=True
    )
    results = frozen.fetch_sync(["events", "not-frozen"])
    assert results["events"].via == "snapshot" and results["events"].document == real("events")
    assert results["not-frozen"].reason == "offline: not-frozen is not in the snapshot"


@pytest.mark.parametrize(
    ("faults", "expect_ok"),
    [
        (["status:500", "status:503"], True),
        (["status:429:0"], True),
        (["truncate"], True),
        (["malformed"], True),
        (["reset"], True),
        (["hang"], True),
        (["status:500"] * 3, False),
        (["truncate"] * 3, False),
    ],
)
def test_fault_injection(faults: list[str], expect_ok: bool) -> None:
    with registry_server(docs()) as server:
        server.faults["events"] = list(faults)
        client = RegistryClient(selection(server.url), retries=2, timeout=0.3, sleep=no_sleep)
        result = client.fetch_sync(["events"])["events"]
    assert (result.document is not None) is expect_ok
    if not expect_ok:
        assert "after 3 attempts" in (result.reason or "")


def test_retry_after_is_honoured() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with registry_server(docs()) as server:
        server.faults["abbrev"] = ["status:429:7"]
        RegistryClient(selection(server.url), sleep=sleep, backoff=0.01).fetch_sync(["abbrev"])
    assert waits == [7.0]


def test_auth_failures_and_redirects_are_not_retried() -> None:
    with registry_server(docs()) as server:
        server.faults["abbrev"] = ["status:401", "status:401"]
        server.faults["events"] = ["status:302"]
        client = RegistryClient(selection(server.url), sleep=no_sleep)
        results = client.fetch_sync(["abbrev", "events"])
    assert results["abbrev"].reason == "registry answered HTTP 401 for abbrev"
    assert results["events"].document is None and client.stats.requests == 2


def test_token_goes_only_to_its_host_and_scopes_use_their_registry() -> None:
    corp_lib = {**real("abbrev"), "name": "@corp/lib"}  # a document names its own package
    with registry_server(docs()) as main, registry_server({"@corp/lib": corp_lib}) as corp:
        corp_host = corp.url.removeprefix("http:").rstrip("/")
        npmrc = Npmrc(tokens={corp_host + "/": "corp-token"})
        chosen = RegistrySelection(main.url, "--registry", True, {"@corp": (corp.url, ".npmrc")})
        results = RegistryClient(chosen, npmrc=npmrc).fetch_sync(["@corp/lib", "abbrev"])
    assert results["@corp/lib"].registry == corp.url and results["@corp/lib"].document is not None
    assert [h.get("authorization") for _, h in corp.requests] == ["Bearer corp-token"]
    assert all("authorization" not in h for _, h in main.requests)


def test_lockfile_derived_registry_is_https_only() -> None:
    derived = RegistrySelection(
        "http://registry.example.invalid/", "the lockfile's resolved URLs", False
    )
    with pytest.raises(ConfigError, match="refusing plain http"):
        RegistryClient(derived).url_for("abbrev")
    assert RegistryClient(RegistrySelection("http://127.0.0.1:1/", "lockfile", False)).url_for(
        "@a/b"
    ) == ("http://127.0.0.1:1/@a%2fb")
    assert document_path("@scope/name") == "@scope%2fname"


def test_mock_transport_unit_and_write_atomic(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "x", "versions": {}})

    client = RegistryClient(
        selection("https://registry.example.invalid/"), transport=httpx.MockTransport(handler)
    )
    assert client.fetch_sync(["x"])["x"] == FetchResult(
        "x", "https://registry.example.invalid/", {"name": "x", "versions": {}}, "network"
    )
    target = tmp_path / "d" / "f.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in target.parent.iterdir()] == ["f.json"]
