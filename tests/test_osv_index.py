"""open_database: the matching index over a local database and its cache (warm runs read only
the records they need; a changed database or a damaged cache never yields wrong findings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from osv_fixtures import KNOWN_BAD, KNOWN_CLEAN, ghsa_dir, mal_dir, pkg, record

import scorer.osv.index as index_module
from scorer.errors import InputError
from scorer.osv import Advisory, load_database, match, merge_database, open_database

PACKAGES = [pkg(n, v) for n, v in [*KNOWN_BAD, *KNOWN_CLEAN, ("event-stream", "3.3.6")]]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "db" / "compromised_packages.json"
    merge_database(path, load_database(mal_dir()) + load_database(ghsa_dir()))
    return path


def ids(findings: list[tuple[Advisory, ...]]) -> list[list[str]]:
    return [[a.id for a in found] for found in findings]


def expected() -> list[list[str]]:
    return ids(match(PACKAGES, load_database(mal_dir()) + load_database(ghsa_dir())))


def no_scan(*args: object) -> None:
    raise AssertionError("a warm run must not read the whole database")


def test_cold_then_warm_give_the_same_findings(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    opened = open_database(database, cache_dir=cache)
    cold = ids(match(PACKAGES, opened))
    assert cold == expected() and len(list(cache.iterdir())) == 1
    monkeypatch.setattr(index_module, "_scan", no_scan)
    reopened = open_database(database, cache_dir=cache)
    warm = ids(match(PACKAGES, reopened))
    assert warm == cold
    assert opened.record_count == reopened.record_count == 101
    assert warm[0] == ["MAL-2025-46969"] and warm[len(KNOWN_BAD)] == []


def test_a_merged_database_is_reindexed(database: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_database(database, cache_dir=cache)
    merge_database(database, [Advisory.from_osv(record("MAL-9", "chalk", versions=["5.6.0"]))])
    (found,) = match([pkg("chalk", "5.6.0")], open_database(database, cache_dir=cache))
    assert [a.id for a in found] == ["MAL-9"]


def test_a_damaged_cache_falls_back_or_fails_closed(database: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_database(database, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    document = json.loads(cache_file.read_text())
    cache_file.write_text("{not json")
    assert ids(match(PACKAGES, open_database(database, cache_dir=cache))) == expected()
    # Same identity but spans that point at the wrong bytes: an error, never a silent miss.
    document["names"]["chalk"] = [[0, 5]]
    cache_file.write_text(json.dumps(document))
    with pytest.raises(InputError, match="index does not fit"):
        match([pkg("chalk", "5.6.1")], open_database(database, cache_dir=cache))


def test_only_merge_format_files_are_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([record("MAL-1", "a", versions=["1.0.0"])], indent=2))
    tree = tmp_path / "tree"
    shutil.copytree(mal_dir(), tree)
    assert open_database(plain, cache_dir=cache).record_count == 1
    assert open_database(tree, cache_dir=cache).record_count == 81
    assert not cache.exists()
    assert ids(match([pkg("a", "1.0.0")], open_database(plain, cache_dir=cache))) == [["MAL-1"]]


def test_cache_can_be_disabled_or_unwritable(database: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert ids(match(PACKAGES, open_database(database, cache_dir=cache, use_cache=False))) == (
        expected()
    )
    assert not cache.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert ids(match(PACKAGES, open_database(database, cache_dir=blocker / "sub"))) == expected()


def test_bad_databases_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_database(tmp_path / "missing.json", cache_dir=tmp_path / "cache")
    broken = tmp_path / "broken.json"
    broken.write_text('{"vulns": [\n{"id": 1}\n]}\n')
    with pytest.raises(InputError, match=r"broken\.json:2: record: record has no id"):
        open_database(broken, cache_dir=tmp_path / "cache")


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert index_module.default_cache_dir() == tmp_path / "provscore" / "osv-index"


def test_deep_record_defects_surface_when_their_package_is_looked_up(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    good = record("MAL-1", "a", versions=["1.0.0"])
    bad = record("MAL-2", "b", events=[{"introduced": 5}])  # not a string
    path.write_text('{"vulns": [\n' + json.dumps(good) + ",\n" + json.dumps(bad) + "\n]}\n")
    index = open_database(path, cache_dir=tmp_path / "cache")
    assert ids(match([pkg("a", "1.0.0")], index)) == [["MAL-1"]]
    with pytest.raises(InputError, match=r"db\.json:3: record: MAL-2: a range of b"):
        match([pkg("b", "1.0.0")], index)
    with pytest.raises(InputError, match=r"db\.json:3: record: MAL-2"):
        load_database(path)  # the full load refuses the file outright


@pytest.mark.parametrize(
    "affected", [[{"package": "b"}], {"package": {}}, [{"package": {"ecosystem": "npm"}}]]
)
def test_unreadable_package_names_fail_at_open(tmp_path: Path, affected: object) -> None:
    path = tmp_path / "db.json"
    path.write_text('{"vulns": [\n' + json.dumps({"id": "MAL-1", "affected": affected}) + "\n]}\n")
    with pytest.raises(InputError, match=r"db\.json:2: record MAL-1"):
        open_database(path, cache_dir=tmp_path / "cache")
