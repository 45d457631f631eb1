"""The compact history cache (scorer/histories.py) and the registry client's history path, against
a real local registry (tests/insights_fixtures.py) that counts every request it gets."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import shared_data
from insights_fixtures import REAL, constructed, real, registry_server

from scorer.features import package_history
from scorer.histories import FILE_NAME, CachedHistory, HistoryCache, freshness
from scorer.npmrc import RegistrySelection
from scorer.registry import RegistryClient

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["abbrev", "events", "has-package-exports"]


def docs() -> dict[str, dict[str, object]]:
    return {name: real(name) for name in NAMES}


class Clock:
    """An injected wall clock, so freshness is tested without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(url: str, cache: Path, clock: Clock, **kwargs: object) -> RegistryClient:
    return RegistryClient(
        RegistrySelection(url, "--registry", True), cache_dir=cache, clock=clock, **kwargs
    )


def test_fresh_entries_need_no_request(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    with registry_server(docs(), max_age=300) as server:
        first = client(server.url, tmp_path, clock).fetch_histories_sync(NAMES)
        assert len(server.requests) == 3 and {r.via for r in first.values()} == {"network"}
        clock.now += 299
        warm = client(server.url, tmp_path, clock)
        again = warm.fetch_histories_sync(NAMES)
        assert len(server.requests) == 3  # not one more
    assert warm.stats.requests == 0 and warm.stats.fresh == 3
    assert {r.via for r in again.values()} == {"fresh"}
    for name in NAMES:
        assert again[name].history == first[name].history == package_history(real(name))


def test_stale_entries_revalidate_and_a_304_reuses_the_history(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    with registry_server(docs(), max_age=300) as server:
        first = client(server.url, tmp_path, clock).fetch_histories_sync(NAMES)
        etags = {name: server.body(name)[1] for name in NAMES}
        clock.now += 301  # past max-age
        stale = client(server.url, tmp_path, clock)
        again = stale.fetch_histories_sync(NAMES)
        asked = server.requests[3:]
        assert sorted(n for n, _ in asked) == NAMES
        assert all(h["if-none-match"] == etags[n] for n, h in asked)
        assert all("if-modified-since" in h for _, h in asked)
        # The 304 carried max-age again: the entries are fresh from the revalidation on.
        clock.now += 200
        third = client(server.url, tmp_path, clock)
        third.fetch_histories_sync(NAMES)
        assert len(server.requests) == 6
    assert stale.stats.not_modified == 3 and stale.stats.full_downloads == 0
    assert {r.via for r in again.values()} == {"revalidated"}
    assert all(again[n].history == first[n].history for n in NAMES)
    assert third.stats.fresh == 3
    stored = HistoryCache(tmp_path).get_many((server.url, n) for n in NAMES)
    assert {e.fetched_at for e in stored.values()} == {1_000_301.0}


def test_without_max_age_every_run_revalidates(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    with registry_server(docs()) as server:  # no Cache-Control at all
        client(server.url, tmp_path, clock).fetch_histories_sync(NAMES)
        second = client(server.url, tmp_path, clock)
        second.fetch_histories_sync(NAMES)
    assert second.stats.requests == 3 and second.stats.not_modified == 3


def test_a_200_is_decoded_once_and_stored(tmp_path: Path) -> None:
    clock = Clock(2_000_000.0)
    documents = {**docs(), **constructed()}
    with registry_server(documents, max_age=60) as server:
        first = client(server.url, tmp_path, clock)
        results = first.fetch_histories_sync(documents)
        stored = HistoryCache(tmp_path).get_many((server.url, n) for n in documents)
        # A changed document: revalidation gets a 200 and the new history replaces the old.
        changed = real("events")
        changed["versions"]["3.2.0"]["_npmUser"] = {"name": "someone-else"}
        server.documents["events"] = changed
        server._bodies.pop("events")
        clock.now += 61
        second = client(server.url, tmp_path, clock)
        again = second.fetch_histories_sync(["events"])
    assert first.stats.full_downloads == len(documents)
    assert set(stored) == {(server.url, n) for n in documents}
    for name, entry in stored.items():
        assert entry.history == results[name[1]].history == package_history(documents[name[1]])
        assert entry.max_age == 60 and entry.fetched_at == 2_000_000.0
        assert entry.last_modified is not None
    assert second.stats.full_downloads == 1 and again["events"].via == "network"
    assert again["events"].history == package_history(changed)
    assert again["events"].history.records["3.2.0"].publisher == "someone-else"
    after = HistoryCache(tmp_path).get_many([(server.url, "events")])
    assert after[(server.url, "events")].history == package_history(changed)


def test_404_and_failures_are_not_stored(tmp_path: Path) -> None:
    clock = Clock(1.0)
    with registry_server(docs(), max_age=300) as server:
        results = client(server.url, tmp_path, clock).fetch_histories_sync(["abbrev", "gone"])
        again = client(server.url, tmp_path, clock)
        again.fetch_histories_sync(["abbrev", "gone"])
    assert results["gone"].history is None and "HTTP 404" in (results["gone"].reason or "")
    assert again.stats.requests == 1  # only the 404 is asked again


def test_offline_reads_the_history_cache_then_the_document_cache(tmp_path: Path) -> None:
    clock = Clock(1.0)
    with registry_server(docs(), max_age=0) as server:
        client(server.url, tmp_path, clock).fetch_histories_sync(["abbrev"])
        # `events` only in the full-document cache (as `insights show` leaves it).
        RegistryClient(
            RegistrySelection(server.url, "--registry", True), cache_dir=tmp_path
        ).fetch_sync(["events"])
        asked = len(server.requests)
        offline = client(server.url, tmp_path, clock, offline=True)
        results = offline.fetch_histories_sync(NAMES)
        assert len(server.requests) == asked
    assert offline.stats.requests == 0
    assert results["abbrev"].via == "cache"  # stale (max-age 0) is fine offline
    assert results["abbrev"].history == package_history(real("abbrev"))
    assert results["events"].via == "cache"
    assert results["events"].history == package_history(real("events"))
    assert results["has-package-exports"].history is None
    assert (
        results["has-package-exports"].reason == "offline: has-package-exports is not in the cache"
    )


def test_damaged_file_is_moved_aside_and_rebuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"this is not an SQLite database, it is damaged" * 100)
    clock = Clock(1.0)
    with registry_server(docs(), max_age=300) as server:
        first = client(server.url, tmp_path, clock)
        results = first.fetch_histories_sync(NAMES)
        second = client(server.url, tmp_path, clock)
        second.fetch_histories_sync(NAMES)
    assert all(r.history is not None for r in results.values())
    assert len(first.warnings) == 1 and "damaged" in first.warnings[0]
    assert "provscore: warning: history cache" in capsys.readouterr().err
    aside = list(tmp_path.glob(f"{FILE_NAME}.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert second.stats.requests == 0 and second.warnings == []  # the rebuilt file works


def test_a_file_of_another_shape_is_moved_aside(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("CREATE TABLE histories (registry TEXT, name TEXT, blob BLOB)")
    messages: list[str] = []
    cache = HistoryCache(tmp_path, warn=messages.append)
    assert cache.get_many([("r", "x")]) == {}
    history = package_history(real("abbrev"))
    cache.save([CachedHistory("r", "abbrev", history, '"e"', None, 5.0, 60.0)])
    cache.close()
    assert len(messages) == 1 and "moved to" in messages[0]
    assert HistoryCache(tmp_path).get_many([("r", "abbrev")])[("r", "abbrev")].history == history


def test_a_damaged_entry_is_a_miss_and_refetched_whole(tmp_path: Path) -> None:
    clock = Clock(1.0)
    with registry_server(docs(), max_age=0) as server:
        client(server.url, tmp_path, clock).fetch_histories_sync(["abbrev"])
        with sqlite3.connect(tmp_path / FILE_NAME) as db:
            db.execute('UPDATE histories SET history = \'{"format": 1, "name": 5}\'')
        again = client(server.url, tmp_path, clock)
        results = again.fetch_histories_sync(["abbrev"])
        last = server.requests[-1][1]
    assert "if-none-match" not in last  # nothing usable to revalidate against
    assert again.stats.full_downloads == 1
    assert results["abbrev"].history == package_history(real("abbrev"))


WRITER = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[1]]
    from scorer.features import package_history
    from scorer.histories import CachedHistory, HistoryCache
    history = package_history(json.loads(Path(sys.argv[4]).read_text(encoding="utf-8")))
    writer = sys.argv[3]
    for batch in range(10):
        cache = HistoryCache(Path(sys.argv[2]))
        cache.save(
            CachedHistory("r", f"{writer}-{batch}-{i}", history, None, None, 1.0, 60.0)
            for i in range(20)
        )
        if cache.warnings:
            raise SystemExit(cache.warnings)
        cache.close()
    """
)


def test_concurrent_writers_merge(tmp_path: Path) -> None:
    # Found here, so the test skips where the shared data is absent instead of the writers dying.
    events = shared_data.require(*REAL["events"])
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ROOT), str(tmp_path), f"w{i}", str(events)]
        )
        for i in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        names = {n for (n,) in db.execute("SELECT name FROM histories")}
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert names == {f"w{w}-{b}-{i}" for w in range(4) for b in range(10) for i in range(20)}


def test_freshness_from_cache_control_and_age() -> None:
    assert freshness({"cache-control": "public, max-age=300"}, 1000.0) == (1000.0, 300.0)
    assert freshness({"cache-control": "max-age=300", "age": "100"}, 1000.0) == (900.0, 300.0)
    assert freshness({"cache-control": "no-cache, max-age=300"}, 1000.0) == (1000.0, None)
    assert freshness({"cache-control": "no-store"}, 1000.0) == (1000.0, None)
    assert freshness({}, 1000.0) == (1000.0, None)
    entry = CachedHistory("r", "n", package_history(real("abbrev")), None, None, 1000.0, 300.0)
    assert entry.fresh(1000.0) and entry.fresh(1299.0)
    assert not entry.fresh(1300.0) and not entry.fresh(999.0)  # a clock set back is stale


def test_report_twice_asks_the_registry_once(tmp_path: Path) -> None:
    from scorer.risk import ReportOptions, run_report

    lock = tmp_path / "package-lock.json"
    packages = {"": {"name": "app", "version": "1.0.0"}}
    for name in NAMES:
        version = sorted(real(name)["versions"])[0]
        packages[f"node_modules/{name}"] = {"version": version}
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": packages}))
    db = tmp_path / "osv.json"
    db.write_text(json.dumps({"vulns": []}))
    with registry_server(docs(), max_age=300) as server:
        runs = []
        for _ in range(2):
            report = run_report(
                ReportOptions(lock, db=db, registry=server.url, cache_dir=tmp_path / "cache"),
                env={},
                home=tmp_path,
            )
            runs.append(report)
        assert len(server.requests) == 3
    registry = next(s for s in runs[1].sources if s.kind == "registry")
    assert registry.requests == 0 and registry.answered == 3
    first = [(p.package.spec, p.score) for p in runs[0].packages]
    assert first == [(p.package.spec, p.score) for p in runs[1].packages]


def test_history_json_with_wrong_types_is_a_miss() -> None:
    from scorer.features import PackageHistory

    good = package_history(real("has-package-exports")).to_json()
    assert PackageHistory.from_json(json.loads(json.dumps(good))) == package_history(
        real("has-package-exports")
    )
    row = good["versions"][0]
    for index, value in (
        (0, 5),
        (2, ["x"]),
        (3, ["ok", 7]),
        (4, "yes"),
        (8, [["a"]]),
        (8, [[1, "b"]]),
    ):
        bad = json.loads(json.dumps(good))
        bad["versions"][0] = [*row[:index], value, *row[index + 1 :]]
        with pytest.raises(ValueError, match="not a package history"):
            PackageHistory.from_json(bad)


def test_evidence_names_the_insights_variable_the_client_reads() -> None:
    # evidence.py checks it without importing the client (httpx) when nothing names an endpoint.
    from scorer.evidence import INSIGHTS_URL_ENV
    from scorer.insights.client import URL_ENV

    assert INSIGHTS_URL_ENV == URL_ENV


def test_progress_is_told_each_package_that_needed_the_network(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    with registry_server(docs(), max_age=300) as server:
        first = client(
            server.url, tmp_path, Clock(1_000.0), progress=lambda d, t: seen.append((d, t))
        )
        first.fetch_histories_sync(docs())
        total = len(docs())
        assert sorted(seen) == [(i, total) for i in range(1, total + 1)]
        seen.clear()
        again = client(
            server.url, tmp_path, Clock(1_010.0), progress=lambda d, t: seen.append((d, t))
        )
        again.fetch_histories_sync(docs())
        assert seen == []  # every entry fresh: nothing fetched, nothing to report
