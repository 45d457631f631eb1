"""The local OSV database: every accepted layout, every refused input, and merging (newer wins,
withdrawn kept, atomic replacement, crash safety, concurrent writers)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import ghsa_dir, mal_dir, real_record_files, real_records, record

from scorer.errors import InputError
from scorer.osv import Advisory, load_database, merge_database
from scorer.osv.database import dump_database

ROOT = Path(__file__).resolve().parents[1]


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def ids(advisories: list[Advisory]) -> list[str]:
    return [a.id for a in advisories]


def advisories(*raws: dict[str, Any]) -> list[Advisory]:
    return [Advisory.from_osv(r) for r in raws]


# --- loading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        lambda records: records,
        lambda records: {"vulns": records},
        lambda records: {"advisories": records},
    ],
)
def test_json_file_layouts(tmp_path: Path, wrap: Any) -> None:
    raws = [record("MAL-2"), record("MAL-1")]
    loaded = load_database(write_json(tmp_path / "db.json", wrap(raws)))
    assert ids(loaded) == ["MAL-1", "MAL-2"]
    assert loaded[0].raw == raws[1]


def test_single_record_file(tmp_path: Path) -> None:
    assert ids(load_database(write_json(tmp_path / "one.json", record("MAL-9")))) == ["MAL-9"]


def test_empty_list_is_a_valid_empty_database(tmp_path: Path) -> None:
    assert load_database(write_json(tmp_path / "db.json", {"vulns": []})) == []


def test_openssf_directory_tree() -> None:
    loaded = load_database(mal_dir())
    assert len(loaded) == len(list(mal_dir().rglob("*.json"))) == 81
    withdrawn = [a for a in loaded if a.is_withdrawn]
    assert len(withdrawn) == 8 and "MAL-2026-4377" in ids(withdrawn)
    assert len(load_database(ghsa_dir())) == 20


def test_all_zip(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in real_record_files():
            zf.write(path, arcname=path.name)
    loaded = load_database(archive)
    assert len(loaded) == 101
    assert sorted(r["id"] for r in real_records()) == ids(loaded)


def test_duplicate_ids_keep_the_newer_copy(tmp_path: Path) -> None:
    old = record("MAL-1", summary="old", modified="2024-01-01T00:00:00Z")
    new = record("MAL-1", summary="new", modified="2025-01-01T00:00:00Z")
    (tmp_path / "a").mkdir()
    write_json(tmp_path / "a" / "x.json", new)
    write_json(tmp_path / "b.json", old)
    (loaded,) = load_database(tmp_path)
    assert loaded.summary == "new"


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (path given, file the error must name, text the error must contain)."""
    cases: dict[str, tuple[Path, str, str]] = {}
    cases["missing"] = (tmp / "nope.json", "nope.json", "no such file")
    (tmp / "empty.json").write_text("  \n")
    cases["empty"] = (tmp / "empty.json", "empty.json", "empty file")
    (tmp / "bad.json").write_text('[\n{"id": "MAL-1",}\n]')
    cases["bad json"] = (tmp / "bad.json", "bad.json:2", "invalid JSON")
    (tmp / "latin1.json").write_bytes(b'[{"id": "MAL-\xe9"}]')
    cases["not utf-8"] = (tmp / "latin1.json", "latin1.json", "not UTF-8")
    for name, doc, problem in [
        ("number", 42, "expected a JSON array or object"),
        ("object", {"records": []}, "expected OSV records"),
        ("vulns-object", {"vulns": {"id": "x"}}, '"vulns" is not a list'),
        ("no-id", [record("MAL-1"), {"summary": "x"}], "record #2: record has no id"),
        ("not-object", ["MAL-1"], "record #1: record is not a JSON object"),
        ("bad-affected", [{"id": "MAL-1", "affected": [{"package": 3}]}], "MAL-1: an affected"),
    ]:
        write_json(tmp / f"{name}.json", doc)
        cases[name] = (tmp / f"{name}.json", f"{name}.json", problem)
    (tmp / "emptydir").mkdir()
    (tmp / "emptydir" / "README.md").write_text("no records")
    cases["empty dir"] = (tmp / "emptydir", "emptydir", "no .json OSV records")
    tree = tmp / "tree" / "osv" / "malicious" / "npm" / "a"
    tree.mkdir(parents=True)
    write_json(tree / "MAL-1.json", record("MAL-1"))
    (tree / "MAL-2.json").write_text("{oops")
    cases["bad file in dir"] = (tmp / "tree", "npm/a/MAL-2.json", "invalid JSON")
    with zipfile.ZipFile(tmp / "bad.zip", "w") as zf:
        zf.writestr("MAL-1.json", json.dumps(record("MAL-1")))
        zf.writestr("MAL-2.json", json.dumps({"summary": "no id"}))
    cases["bad zip member"] = (tmp / "bad.zip", "bad.zip: MAL-2.json", "no id")
    with zipfile.ZipFile(tmp / "nojson.zip", "w") as zf:
        zf.writestr("README.txt", "x")
    cases["zip without records"] = (tmp / "nojson.zip", "nojson.zip", "no .json OSV records")
    good = (tmp / "bad.zip").read_bytes()
    (tmp / "cut.zip").write_bytes(good[: len(good) // 2])
    cases["truncated zip"] = (tmp / "cut.zip", "cut.zip", "")
    return cases


def test_every_bad_input_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    for name, (given, named, problem) in bad_inputs(tmp_path).items():
        with pytest.raises(InputError) as caught:
            load_database(given)
        assert named in str(caught.value), (name, str(caught.value))
        assert problem in str(caught.value), (name, str(caught.value))
        assert caught.value.exit_code == 2


def test_unreadable_file_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path / "db.json", [record("MAL-1")])

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    # Tests run as root here, where chmod 000 does not stop a read.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match=r"db.json: cannot read: Permission denied"):
        load_database(path)


# --- merging ------------------------------------------------------------------------------


def test_merge_creates_file_and_parents_in_stable_format(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "db.json"
    counts = merge_database(target, advisories(record("MAL-2"), record("MAL-1", summary="é")))
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 0)
    lines = target.read_text(encoding="utf-8").split("\n")
    assert lines[0] == '{"vulns": [' and lines[-2:] == ["]}", ""]
    assert [json.loads(line.rstrip(","))["id"] for line in lines[1:-2]] == ["MAL-1", "MAL-2"]
    assert lines[1].endswith(",") and not lines[2].endswith(",") and "é" in lines[1]
    assert (
        lines[1]
        == json.dumps(
            record("MAL-1", summary="é"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        + ","
    )
    document = json.loads(target.read_text(encoding="utf-8"))
    assert list(document) == ["vulns"] and ids(load_database(target)) == ["MAL-1", "MAL-2"]
    empty = tmp_path / "empty.json"
    merge_database(empty, [])
    assert empty.read_text() == '{"vulns": [\n]}\n' and load_database(empty) == []


def test_merge_format_errors_name_the_line(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    merge_database(target, advisories(record("MAL-1"), record("MAL-2"), record("MAL-3")))
    lines = target.read_text().split("\n")
    lines[3] = '{"summary":"no id"}'
    target.write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"db\.json:4: record: record has no id"):
        load_database(target)


def test_file_that_only_looks_like_merge_format_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text('{"vulns": [\n{"id": "MAL-1",\n "summary": "x"},\n{"id": "MAL-2"}\n]}\n')
    assert ids(load_database(path)) == ["MAL-1", "MAL-2"]
    path.write_text('{"vulns": [\n{"id": "MAL-1",\n "summary": }\n]}\n')
    with pytest.raises(InputError, match=r"db\.json:3: invalid JSON"):
        load_database(path)


def test_merge_keeps_permissions_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        merge_database(fresh, advisories(record("MAL-1")))
        assert fresh.stat().st_mode & 0o777 == 0o644
        fresh.chmod(0o640)
        merge_database(fresh, advisories(record("MAL-2")))
        assert fresh.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_merge_newer_wins_equal_keeps_older_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    merge_database(
        target,
        advisories(
            record("MAL-1", summary="v1", modified="2025-01-01T00:00:00Z"),
            record("MAL-2", summary="v1", modified="2025-01-01T00:00:00Z"),
            record("MAL-3", summary="v1", modified="2025-01-01T00:00:00Z"),
        ),
    )
    counts = merge_database(
        target,
        advisories(
            record("MAL-1", summary="v2", modified="2025-06-01T00:00:00.5Z"),
            record("MAL-2", summary="tie", modified="2025-01-01T00:00:00+00:00"),
            record("MAL-3", summary="old", modified="2024-01-01T00:00:00Z"),
            record("MAL-4", summary="v1"),
        ),
    )
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 2)
    summaries = {a.id: a.summary for a in load_database(target)}
    assert summaries == {"MAL-1": "v2", "MAL-2": "v1", "MAL-3": "v1", "MAL-4": "v1"}


def test_merge_keeps_withdrawn_records(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    live = record("MAL-1", "a", versions=["1.0.0"], modified="2025-01-01T00:00:00Z")
    gone = dict(live, modified="2025-02-01T00:00:00Z", withdrawn="2025-02-01T00:00:00Z")
    merge_database(target, advisories(live))
    assert merge_database(target, advisories(gone)).updated == 1
    # A stale live copy arriving later does not resurrect it.
    assert merge_database(target, advisories(live)).unchanged == 1
    (stored,) = load_database(target)
    assert stored.is_withdrawn and not stored.affects("a", "1.0.0")


def test_merge_is_idempotent_and_does_not_rewrite_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    merge_database(target, load_database(mal_dir()))
    before = target.read_bytes()
    stamp = target.stat().st_mtime_ns
    counts = merge_database(target, load_database(mal_dir()))
    assert (counts.added, counts.updated, counts.unchanged) == (0, 0, 81)
    assert target.read_bytes() == before and target.stat().st_mtime_ns == stamp
    assert dump_database(load_database(target)).encode() == before
    assert load_database(target) == load_database(mal_dir())


def test_merge_refuses_to_overwrite_a_malformed_database(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    target.write_text("{broken")
    with pytest.raises(InputError, match=r"db\.json:1: invalid JSON"):
        merge_database(target, advisories(record("MAL-1")))
    assert target.read_text() == "{broken"
    with pytest.raises(InputError, match="is a directory"):
        merge_database(tmp_path, advisories(record("MAL-1")))


def test_failed_rename_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "db.json"
    merge_database(target, advisories(record("MAL-1")))
    before = target.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(InputError, match="cannot write: No space left on device"):
        merge_database(target, advisories(record("MAL-2")))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.json"]


KILLED_WRITER = """
import os, signal, sys
from scorer.osv import Advisory, merge_database
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # die between write and rename
merge_database(sys.argv[1], [Advisory.from_osv({"id": "MAL-2", "modified": "2025-01-01T00:00Z"})])
"""


def test_writer_killed_before_rename_leaves_old_file_valid(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    merge_database(target, advisories(record("MAL-1")))
    before = target.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], cwd=ROOT, capture_output=True
    )
    assert done.returncode == -9, done.stderr
    assert target.read_bytes() == before and ids(load_database(target)) == ["MAL-1"]
    # The next run is not blocked by the dead writer's lock and completes the merge.
    assert merge_database(target, advisories(record("MAL-2"))).added == 1
    assert ids(load_database(target)) == ["MAL-1", "MAL-2"]


def _writer(target: str, worker: int, count: int) -> None:
    for i in range(count):
        raw = {"id": f"MAL-{worker}-{i}", "modified": "2025-01-01T00:00:00Z"}
        merge_database(target, [Advisory.from_osv(raw)])


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    merge_database(target, advisories(record("MAL-0")))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(target), w, 15)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    stored = set(ids(load_database(target)))
    assert stored == {"MAL-0"} | {f"MAL-{w}-{i}" for w in range(4) for i in range(15)}
