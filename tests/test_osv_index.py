"""open_database: the on-disk matching index over every database layout (one JSON file in any
shape, a directory tree, an all.zip), built by streaming, cached, and never a cause of a wrong
pass: a changed database is re-indexed, a damaged index is an error, hostile inputs are refused."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import KNOWN_BAD, KNOWN_CLEAN, ghsa_dir, mal_dir, pkg, real_records, record

import scorer.osv.index as index_module
import scorer.osv.layouts as layouts
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


def no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("a warm run must not read the whole database")


def layouts_of(tmp_path: Path) -> dict[str, Path]:
    """The real records in every layout: merge format, a pretty-printed array, an object
    holding them after other keys, a tree of record files and an all.zip."""
    raws = real_records()
    merge = tmp_path / "merge.json"
    merge_database(merge, [Advisory.from_osv(r) for r in raws])
    array = tmp_path / "array.json"
    array.write_text(json.dumps(raws, indent=2, ensure_ascii=False))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"schema": {"v": [1, 2]}, "vulns": raws, "after": "x"}))
    tree = tmp_path / "tree"
    shutil.copytree(mal_dir(), tree / "mal")
    shutil.copytree(ghsa_dir(), tree / "ghsa")
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for raw in raws:
            zf.writestr(f"{raw['id']}.json", json.dumps(raw, indent=1))
    return {"merge": merge, "array": array, "wrapped": wrapped, "tree": tree, "zip": archive}


def test_every_layout_gives_the_full_loads_findings_cold_and_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    for name, path in layouts_of(tmp_path).items():
        cold = open_database(path, cache_dir=cache)
        assert ids(match(PACKAGES, cold)) == expected(), name
        assert cold.record_count == 101, name
        assert [a.raw for a in match([pkg("chalk", "5.6.1")], cold)[0]] == [
            a.raw for a in match([pkg("chalk", "5.6.1")], load_database(path))[0]
        ], name
    assert len(list(cache.iterdir())) == 5
    monkeypatch.setattr(index_module, "build_index", no_build)
    for path in [tmp_path / n for n in ("merge.json", "array.json", "all.zip", "tree")]:
        warm = open_database(path, cache_dir=cache)
        assert ids(match(PACKAGES, warm)) == expected()


def test_the_index_counts_what_db_info_shows(database: Path, tmp_path: Path) -> None:
    info = open_database(database, cache_dir=tmp_path / "cache").info
    assert (info.records, info.layout) == (101, "file")
    assert info.malicious == sum(a.malicious for a in load_database(database))
    assert info.withdrawn == sum(a.is_withdrawn for a in load_database(database))
    assert info.newest_modified == max(
        (r["modified"] for r in real_records()), key=lambda m: m.replace("Z", "")
    )


def test_a_process_pool_gives_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(index_module, "_PARALLEL_FILES", 0)
    single_threaded(monkeypatch)
    for name, path in layouts_of(tmp_path).items():
        pooled = open_database(path, cache_dir=tmp_path / "pool", workers=3)
        alone = open_database(path, cache_dir=tmp_path / "alone", workers=1)
        assert ids(match(PACKAGES, pooled)) == ids(match(PACKAGES, alone)) == expected()
        assert pooled.info == alone.info
        # three parts, one per process (a plain JSON document is read in one go)
        assert len(pooled.header["parts"]) == (1 if name in ("array", "wrapped") else 3), name


def test_the_name_map_of_the_previous_format_is_removed(database: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    legacy = index_module.cache_file(database, cache).with_suffix(".json")
    legacy.parent.mkdir(parents=True)
    legacy.write_text('{"format": 2}')
    open_database(database, cache_dir=cache)
    assert [p.suffix for p in cache.iterdir()] == [".idx"]


def test_a_merged_database_is_reindexed(database: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_database(database, cache_dir=cache)
    merge_database(database, [Advisory.from_osv(record("MAL-9", "chalk", versions=["5.6.0"]))])
    (found,) = match([pkg("chalk", "5.6.0")], open_database(database, cache_dir=cache))
    assert [a.id for a in found] == ["MAL-9"]


def test_a_changed_tree_is_reindexed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = tmp_path / "tree"
    shutil.copytree(mal_dir(), tree)
    assert match([pkg("chalk", "5.6.0")], open_database(tree, cache_dir=cache)) == [()]
    # Edited in place (same directory entries): only the file's own stat tells.
    (victim,) = tree.rglob("MAL-2025-46969.json")
    raw = json.loads(victim.read_text())
    raw["affected"][0]["versions"] = ["5.6.0"]
    raw["affected"][0].pop("ranges", None)
    victim.write_text(json.dumps(raw))
    (found,) = match([pkg("chalk", "5.6.0")], open_database(tree, cache_dir=cache))
    assert [a.id for a in found] == ["MAL-2025-46969"]


def test_a_damaged_or_foreign_cache_is_rebuilt_or_fails_closed(
    database: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    open_database(database, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    good = cache_file.read_bytes()
    cache_file.write_bytes(b"{not an index")
    assert ids(match(PACKAGES, open_database(database, cache_dir=cache))) == expected()
    # A damaged bucket (the header still fits): an error, never a silent miss.
    index = open_database(database, cache_dir=cache)
    damaged = bytearray(cache_file.read_bytes())
    ((data_at, shift, offsets, _),) = index._parts  # one part: a small database, read at once
    start = data_at + offsets[zlib.crc32(b"chalk") >> shift]
    damaged[start + 2] ^= 0x20
    cache_file.write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="index is damaged"):
        match([pkg("chalk", "5.6.1")], open_database(database, cache_dir=cache))
    cache_file.write_bytes(good[: len(good) // 2])  # truncated: rebuilt
    assert ids(match(PACKAGES, open_database(database, cache_dir=cache))) == expected()


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
    pretty = tmp_path / "pretty.json"
    pretty.write_text('[\n  {"id": "MAL-1"},\n  {"id": "MAL-2",\n   "summary": }\n]\n')
    with pytest.raises(InputError, match=r"pretty\.json:4: invalid JSON"):
        open_database(pretty, cache_dir=tmp_path / "cache")
    for text, problem in [
        ("", "empty file"),
        ("42", "expected a JSON array or object"),
        ('{"records": []}', "expected OSV records"),
        ('{"vulns": {"id": "x"}}', '"vulns" is not a list'),
        ('[{"id": "MAL-1"}] x', "extra data"),
        ('[{"id": "MAL-1"}', "invalid JSON"),
        ('{"vulns": [], "advisories": []}', 'both "vulns" and "advisories"'),
    ]:
        path = tmp_path / "shape.json"
        path.write_text(text)
        with pytest.raises(InputError, match=problem):
            open_database(path, cache_dir=tmp_path / "cache")


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_a_refused_database_leaves_no_descriptor_open(tmp_path: Path) -> None:
    # Found by bench/fuzz.py: every refused database leaked its descriptor, so a process that
    # opens many (the fuzzer, a test session) ran out of them and every later open failed.
    broken = tmp_path / "db.json"
    before = _open_descriptors()
    for text in ("[1, 2", '[{"id": "MAL-1", "affected": 3}]', '{"vulns": [{"id": 1}]}\n'):
        broken.write_text(text)
        for _ in range(20):
            with pytest.raises(InputError):
                open_database(broken, cache_dir=tmp_path / "cache")
    assert _open_descriptors() == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_close_releases_the_index_and_the_database(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    merge_database(path, [Advisory.from_osv(record("MAL-1", "chalk", versions=["5.6.1"]))])
    before = _open_descriptors()
    for _ in range(20):
        index = open_database(path, cache_dir=tmp_path / "cache")
        assert [a.id for a in index.lookup("chalk", "5.6.1")] == ["MAL-1"]
        index.close()
    assert _open_descriptors() == before


def test_odd_json_files_stream_like_the_full_load(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    raws = [
        record("MAL-1", "é-pkg", versions=["1.0.0"], summary="ünïcode " * 3),
        record("MAL-2", "b", events=[{"introduced": "0"}]),
    ]
    for name, text in {
        "one.json": json.dumps(raws[1]),
        "empty.json": "[]",
        "empty-vulns.json": '{"vulns": []}',
        "adv.json": json.dumps({"advisories": raws}, ensure_ascii=False, indent=4),
        "looks-merge.json": (
            '{"vulns": [\n{"id": "MAL-1",\n "summary": "x"},\n{"id": "MAL-2"}\n]}\n'
        ),
    }.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        index = open_database(path, cache_dir=cache)
        assert index.record_count == len(load_database(path)), name
        packages = [pkg("é-pkg", "1.0.0"), pkg("b", "9.9.9")]
        assert ids(match(packages, index)) == ids(match(packages, load_database(path))), name


def test_a_window_boundary_inside_a_record_is_read_across(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layouts, "_JSON_CHUNK", 7)  # every record spans several of ijson's reads
    raws = [record(f"MAL-{i}", f"p{i}", versions=["1.0.0"], summary="ä" * i) for i in range(30)]
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"vulns": raws, "n": 12345}, indent=1, ensure_ascii=False))
    index = open_database(path, use_cache=False)
    packages = [pkg(f"p{i}", "1.0.0") for i in range(30)]
    assert ids(match(packages, index)) == [[f"MAL-{i}"] for i in range(30)]
    merge = tmp_path / "merge.json"
    merge_database(merge, [Advisory.from_osv(r) for r in raws])
    assert ids(match(packages, open_database(merge, use_cache=False))) == ids(
        match(packages, index)
    )


def test_duplicate_ids_keep_the_newer_copy(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "malicious").mkdir(parents=True)
    (tree / "withdrawn").mkdir()
    old = record("MAL-1", "a", versions=["1.0.0"], modified="2025-01-01T00:00:00Z")
    new = dict(old, modified="2025-02-01T00:00:00Z", withdrawn="2025-02-01T00:00:00Z")
    (tree / "malicious" / "MAL-1.json").write_text(json.dumps(old))
    (tree / "withdrawn" / "MAL-1.json").write_text(json.dumps(new))
    index = open_database(tree, cache_dir=tmp_path / "cache")
    assert ids(match([pkg("a", "1.0.0")], index)) == [[]]
    assert (index.record_count, index.info.withdrawn) == (1, 1)
    (tree / "withdrawn" / "MAL-1.json").write_text(json.dumps(dict(new, modified=old["modified"])))
    index = open_database(tree, cache_dir=tmp_path / "cache")
    assert ids(match([pkg("a", "1.0.0")], index)) == [["MAL-1"]]  # a tie keeps the first


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
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MAL-1.json", json.dumps(good))
        zf.writestr("MAL-2.json", json.dumps(bad))
    with pytest.raises(InputError, match=r"all\.zip: MAL-2\.json: MAL-2: a range of b"):
        match([pkg("b", "1.0.0")], open_database(archive, cache_dir=tmp_path / "cache"))


@pytest.mark.parametrize(
    "affected", [[{"package": "b"}], {"package": {}}, [{"package": {"ecosystem": "npm"}}]]
)
def test_unreadable_package_names_fail_at_open(tmp_path: Path, affected: object) -> None:
    path = tmp_path / "db.json"
    path.write_text('{"vulns": [\n' + json.dumps({"id": "MAL-1", "affected": affected}) + "\n]}\n")
    with pytest.raises(InputError, match=r"db\.json:2: record: "):
        open_database(path, cache_dir=tmp_path / "cache")


# --- hostile inputs (issue 9): bounded readers ------------------------------------------------


def test_non_regular_files_are_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "db.json"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(InputError, match="not a regular file"):
        open_database(fifo, cache_dir=tmp_path / "cache")
    with pytest.raises(InputError, match="not a regular file"):
        open_database("/dev/zero", cache_dir=tmp_path / "cache")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "MAL-1.json").symlink_to("/dev/urandom")
    with pytest.raises(InputError, match=r"MAL-1\.json: not a regular file"):
        open_database(tree, cache_dir=tmp_path / "cache")


def test_oversized_tree_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layouts, "MAX_RECORD_BYTES", 1000)
    tree = tmp_path / "tree"
    tree.mkdir()
    with open(tree / "MAL-1.json", "wb") as handle:
        handle.truncate(3 * 1024**3)  # sparse: stat says 3 GB, reading it would take them
    with pytest.raises(InputError, match="larger than"):
        open_database(tree, cache_dir=tmp_path / "cache")


def zip_with(tmp_path: Path, name: str, data: bytes, **info: Any) -> Path:
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("MAL-0.json", json.dumps(record("MAL-0")))
        member = zipfile.ZipInfo(name)
        member.compress_type = info.pop("compress_type", zipfile.ZIP_DEFLATED)
        zf.writestr(member, data)
    return path


def test_zip_bombs_and_odd_members_are_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bomb = zip_with(tmp_path, "MAL-1.json", b" " * (70 * 1024 * 1024))
    with pytest.raises(InputError, match=r"MAL-1\.json: inflates to .* zip bomb"):
        open_database(bomb, cache_dir=cache)
    ratio = zip_with(tmp_path, "MAL-1.json", b'{"id": "MAL-1"}' + b" " * (2 * 1024 * 1024))
    with pytest.raises(InputError, match="zip bomb"):
        open_database(ratio, cache_dir=cache)
    odd = zip_with(tmp_path, "MAL-1.json", b"{}", compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(InputError, match="compression method 12 is not supported"):
        open_database(odd, cache_dir=cache)
    data = bytearray(zip_with(tmp_path, "MAL-1.json", b'{"id": "MAL-1"}').read_bytes())
    at = data.find(b"PK\x01\x02", data.find(b"MAL-1.json"))  # central entry of MAL-1
    data[at + 8] |= 0x1  # mark it encrypted
    (tmp_path / "enc.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="encrypted member"):
        open_database(tmp_path / "enc.zip", cache_dir=cache)
    data = bytearray(zip_with(tmp_path, "MAL-1.json", b'{"id": "MAL-1"}').read_bytes())
    local = data.find(b"PK\x03\x04", 10)  # the local header of the second member
    data[local + 30 + len("MAL-1.json") + 1] ^= 0xFF
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"MAL-1\.json: (cannot inflate|damaged member)"):
        open_database(tmp_path / "bad.zip", cache_dir=cache)


def test_the_find_and_python_walks_list_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(mal_dir(), tree / "osv")
    (tree / ".git").mkdir()
    (tree / ".git" / "MAL-0.json").write_text("{}")  # hidden: not part of the database
    (tree / "osv" / ".draft.json").write_text("{}")
    (tree / "README.md").write_text("not a record")
    (tree / "linked.json").symlink_to(next((tree / "osv").rglob("MAL-2025-46969.json")))
    (tree / "é dir").mkdir()
    (tree / "é dir" / "MAL-1 x.json").write_text(json.dumps(record("MAL-1")))
    fast = layouts.walk_tree(tree)
    if fast.walker != "find":
        pytest.skip("no GNU find here: only the Python walk can be checked")
    monkeypatch.setattr(layouts, "_find", lambda root: None)
    slow = layouts.walk_tree(tree)
    assert slow.walker == "python" and slow.count == fast.count
    assert fast.names() == slow.names()
    names = slow.names()
    assert "linked.json" in names and "é dir/MAL-1 x.json" in names and len(names) == 83
    assert open_database(tree, cache_dir=tmp_path / "cache").record_count == 82


def test_zip64_archives_and_data_before_the_archive_are_read(tmp_path: Path) -> None:
    def members(path: Path) -> list[tuple[str, int]]:
        fd = os.open(path, os.O_RDONLY)
        try:
            return layouts.zip_members(fd, path)
        finally:
            os.close(fd)

    many = tmp_path / "many.zip"  # past 65,535 members: ZIP64 end records, as OSV's archive
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(65_600):
            zf.writestr(f"r/{i}.json", b"{}")
        zf.writestr("README.txt", b"not a record")
        zf.writestr("é.json", json.dumps(record("MAL-1")))
        with zf.open("big.json", "w", force_zip64=True) as member:  # ZIP64 extra fields
            member.write(json.dumps(record("MAL-2")).encode())
        zf.comment = b"a comment"
    listed = members(many)
    assert len(listed) == 65_602 and listed[0] == ("big.json", 65_602)
    assert ("é.json", 65_601) in listed
    fd = os.open(many, os.O_RDONLY)
    try:
        assert json.loads(layouts.read_member(fd, many, "big.json", 65_602))["id"] == "MAL-2"
        with pytest.raises(InputError, match="no such member"):
            layouts.read_member(fd, many, "big.json", 3)
    finally:
        os.close(fd)
    stub = tmp_path / "stub.zip"  # a self-extracting stub before the archive shifts offsets
    stub.write_bytes(b"#!/bin/sh\nexit 0\n" + zip_with(tmp_path, "MAL-1.json", b"{}").read_bytes())
    assert [name for name, _ in members(stub)] == ["MAL-0.json", "MAL-1.json"]
    with pytest.raises(InputError, match=r"stub\.zip: MAL-1\.json: record has no id"):
        open_database(stub, cache_dir=tmp_path / "cache")  # read at the shifted offsets
    with zipfile.ZipFile(many, "a") as zf:  # zipfile takes this for the end record: refused
        zf.comment = b"PK\x05\x06 a comment that looks like an end record"
    with pytest.raises(InputError, match=r"many\.zip: not a readable zip archive"):
        open_database(many, cache_dir=tmp_path / "cache")


def test_a_member_is_counted_as_it_inflates_not_trusted_for_its_declared_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    # Declared larger than it inflates (stored, so zipfile's CRC holds): a damaged member.
    data = bytearray(
        zip_with(tmp_path, "MAL-1.json", b'{"id": "MAL-1"}', compress_type=0).read_bytes()
    )
    for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        header = data.find(signature, data.find(signature) + 1)  # MAL-1's, not MAL-0's
        data[header + at : header + at + 4] = (1000).to_bytes(4, "little")
    (tmp_path / "long.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"MAL-1\.json: damaged member \(size or CRC"):
        open_database(tmp_path / "long.zip", cache_dir=cache)
    # A reader that inflates past what was declared (zipfile stops at the declared size; a
    # reader that did not would be stopped by the count).
    small = zip_with(tmp_path, "MAL-1.json", b'{"id": "MAL-1"}')
    reads = []

    def endless(self: zipfile.ZipExtFile, size: int = -1) -> bytes:
        reads.append(size)
        assert len(reads) < 100, "read on past the cap"
        return b" " * size

    monkeypatch.setattr(zipfile.ZipExtFile, "read", endless)
    with pytest.raises(InputError, match=r"MAL-0\.json: inflates past .* zip bomb"):
        open_database(small, cache_dir=cache)


PYTEST_PID = os.getpid()


def die(job: object) -> None:
    if os.getpid() == PYTEST_PID:  # indexing ran in-process: fail the test, not the whole run
        raise AssertionError("the index was built without worker processes")
    os._exit(9)  # as the kernel's OOM killer would end a worker


def single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The index forks workers only when the process has no other thread; servers and thread
    pools of earlier tests may still be winding down, so tests of the pool say it has none."""
    monkeypatch.setattr(index_module.threading, "active_count", lambda: 1)


def test_a_worker_that_dies_is_an_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(index_module, "_scan_unit", die)
    single_threaded(monkeypatch)
    path = layouts_of(tmp_path)["merge"]
    with pytest.raises(InputError, match="a process indexing it died"):
        open_database(path, cache_dir=tmp_path / "cache", workers=2)


def test_json_documents_stream_with_bounded_records_and_one_reading_for_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [record(f"MAL-{i}", f"p{i}", versions=["1.0.0"]) for i in range(5)]
    path = tmp_path / "array.json"
    path.write_text(json.dumps(raws, indent=2))
    streams = []
    stream = layouts._json_records

    def counted(where: Path, fd: int) -> Any:
        streams.append(where)
        return stream(where, fd)

    monkeypatch.setattr(layouts, "_json_records", counted)
    index = open_database(path, use_cache=False)
    packages = [pkg(f"p{i}", "1.0.0") for i in (4, 1, 3)]
    assert ids(match(packages, index)) == [["MAL-4"], ["MAL-1"], ["MAL-3"]]
    assert len(streams) == 2  # one to index, one for the three findings together
    # Numbers as the json module reads them: integers past 64 bits, floats (not Decimal).
    odd = dict(raws[0], database_specific={"big": 2**70, "score": 7.5, "versions": [1.0]})
    (tmp_path / "numbers.json").write_text(json.dumps({"x": 1.5, "vulns": [odd]}, indent=1))
    (found,) = match(
        [pkg("p0", "1.0.0")], open_database(tmp_path / "numbers.json", use_cache=False)
    )
    assert [a.raw for a in found] == [odd]
    assert type(found[0].raw["database_specific"]["score"]) is float
    # A record problem in a document without lines to speak of: named by its position.
    (tmp_path / "noid.json").write_text(json.dumps([raws[0], {"summary": "x"}], indent=2))
    with pytest.raises(InputError, match=r"noid\.json: record #2: record has no id"):
        open_database(tmp_path / "noid.json", use_cache=False)
    # ijson builds a value whole: a record past the cap is stopped by its reads.
    monkeypatch.setattr(layouts, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(layouts, "_JSON_CHUNK", 64)
    huge = [raws[0], record("MAL-9", "q", summary="x" * 5000)]
    (tmp_path / "huge.json").write_text(json.dumps({"vulns": huge}))
    with pytest.raises(InputError, match=r"huge\.json: a record larger than"):
        open_database(tmp_path / "huge.json", use_cache=False)


def test_deeply_nested_json_is_an_input_error(tmp_path: Path) -> None:
    nested = "[" * 50_000 + "]" * 50_000
    text = (
        '[{"id": "MAL-1", "affected": [{"package": {"ecosystem": "npm", "name": "a"}, '
        f'"versions": {nested}}}]}}]'
    )
    (tmp_path / "deep.json").write_text(text)
    with pytest.raises(InputError, match=r"deep\.json: JSON nested too deeply"):
        open_database(tmp_path / "deep.json", use_cache=False)
