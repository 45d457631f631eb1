"""Regression tests for what the fuzzers found (bench/fuzz.py with atheris, tests/test_fuzz.py
with hypothesis): each minimized input inline, against the reader that crashed on it. Python's
own guards (a RecursionError past the stack, the ValueError of an integer of more than 4,300
digits) and one segmentation fault in ijson's C backend, in readers that only expected their
format's syntax errors; and frozen snapshots whose damage was a crash or read as "not there".
Other findings are tested beside their readers (test_npmrc, test_origin, test_config,
test_insights_client, test_osv_index)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scorer.errors import InputError, SourceUnreachable

ROOT = Path(__file__).resolve().parents[1]
DEEP_JSON = "[" * 5000 + "]" * 5000
DEEP_TOML = "x = " + "[" * 3000 + "]" * 3000 + "\n"
HUGE = "9" * 5000


def _load_database(path: Path) -> Any:
    from scorer.osv.database import load_database

    return load_database(path)


def _insights_data(path: Path) -> Any:
    from scorer.insights.data import load_records

    return load_records(path)


def _config(path: Path) -> Any:
    from scorer.config import find_config

    return find_config(path.parent)


def _weights(path: Path) -> Any:
    from scorer.scoring import load_scorer

    return load_scorer("weighted", weights=path)


def _model(path: Path) -> Any:
    from scorer.scoring import load_scorer

    return load_scorer("trained", model=path)


def _pinned_keys(path: Path) -> Any:
    from scorer.config import Config
    from scorer.verify import _pinned_keys

    return _pinned_keys(Config(path.parent / "provscore.toml", {"verify_keys": path.name}), "x")


READERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "database": ("db.json", _load_database),  # the --write path reads the file whole
    "insights data": ("records.json", _insights_data),
    "provscore.toml": ("provscore.toml", _config),
    "weights": ("weights.toml", _weights),
    "model": ("model.json", _model),
    "pinned keys": ("keys.json", _pinned_keys),
}
CASES = [
    ("database", DEEP_JSON, "nested too deeply"),
    ("database", f'[{{"id": "MAL-1", "x": {HUGE}}}]', "more than 4,300 digits"),
    ("insights data", f'{{"records": {DEEP_JSON}}}', "nested too deeply"),
    ("insights data", f'[{{"name": "a", "version": "1", "x": {HUGE}}}]', "more than 4,300 digits"),
    ("provscore.toml", DEEP_TOML, "nested too deeply"),
    ("provscore.toml", f"timeout = {HUGE}\n", "more than 4,300 digits"),
    ("weights", DEEP_TOML, "nested too deeply"),
    ("weights", f"version = {HUGE}\n", "more than 4,300 digits"),
    ("model", DEEP_JSON, "nested too deeply"),
    ("model", f'{{"format": {HUGE}}}', "more than 4,300 digits"),
    ("pinned keys", DEEP_JSON, "nested too deeply"),
]


@pytest.mark.parametrize(("reader", "content", "problem"), CASES)
def test_python_parser_limits_are_input_errors_naming_the_file(
    tmp_path: Path, reader: str, content: str, problem: str
) -> None:
    name, read = READERS[reader]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.path.name == name and problem in info.value.problem


@pytest.mark.parametrize(
    "content",
    [
        HUGE,
        f'[{{"id": "MAL-1", "x": {HUGE}}}]',
        f'{{"vulns": [{{"id": "MAL-1", "x": -{HUGE}}}]}}',
        # Digits in a string are counted too: refused rather than read past the guard.
        f'[{{"id": "MAL-1", "details": "{HUGE}"}}]',
    ],
)
def test_a_database_number_ijson_cannot_convert_is_refused_before_it_segfaults(
    tmp_path: Path, content: str
) -> None:
    # ijson's C backend crashed the process (SIGSEGV) on a 4,301-digit integer: audit --db died
    # without a word. Run in a child, so that a regression fails this test, not the session.
    path = tmp_path / "db.json"
    path.write_text(content)
    code = (
        "from pathlib import Path\n"
        "from scorer.errors import InputError\n"
        "from scorer.osv.index import open_database\n"
        "try:\n"
        f"    open_database({str(path)!r}, cache_dir=Path({str(tmp_path / 'cache')!r}))\n"
        "except InputError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{path}: holds a number with more than 4,300 digits" in done.stdout


def test_a_deeply_nested_registry_answer_is_a_malformed_document() -> None:
    from scorer.registry import _document

    assert _document(DEEP_JSON.encode(), "x") == "registry sent a truncated or malformed document"
    assert _document(b'{"name": "x", "versions": {}}', "x") == {"name": "x", "versions": {}}


def test_a_deeply_nested_osv_answer_is_retried_then_fails_closed() -> None:
    from scorer.osv.client import OsvClient
    from scorer.records import LockedPackage, SourceKind
    from scorer.retry import RetryPolicy

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/querybatch"):
            return httpx.Response(200, json={"results": [{"vulns": [{"id": "MAL-1"}]}]})
        return httpx.Response(200, content=DEEP_JSON.encode())

    async def no_sleep(_seconds: float) -> None:
        return None

    client = OsvClient(
        "http://osv.example.invalid",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2),
        sleep=no_sleep,
    )
    package = LockedPackage("chalk", "5.6.1", SourceKind.REGISTRY)
    with pytest.raises(SourceUnreachable, match="malformed answer"):
        asyncio.run(client.query([package]))


def test_a_deeply_nested_history_cache_row_is_a_miss(tmp_path: Path) -> None:
    import sqlite3

    from scorer.histories import FILE_NAME, HistoryCache

    cache = HistoryCache(tmp_path, warn=lambda _message: None)
    assert cache.get_many([("r", "a")]) == {}  # creates the file
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute(
            "INSERT INTO histories VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("r", "a", DEEP_JSON, None, None, 0.0, None),
        )
    assert cache.get_many([("r", "a")]) == {}
    cache.close()


def _offline_client(tmp_path: Path, **where: Path) -> Any:
    from scorer.npmrc import RegistrySelection
    from scorer.registry import RegistryClient

    selection = RegistrySelection("https://registry.example.invalid/", "test", True)
    return RegistryClient(selection, offline=True, **where)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("null", "snapshot is not {"),
        ('{"registry": "r", "document": "x"}', "snapshot is not {"),
        ("{", "snapshot is not JSON"),
        (DEEP_JSON, "snapshot is not JSON: nested too deeply"),
    ],
)
def test_a_damaged_registry_snapshot_is_an_input_error(
    tmp_path: Path, content: str, problem: str
) -> None:
    # `null` ended report --offline --snapshot with an AttributeError; the others were read as
    # "chalk is not in the snapshot", which hid the damage.
    (tmp_path / "chalk.json").write_text(content)
    client = _offline_client(tmp_path, snapshot_dir=tmp_path)
    with pytest.raises(InputError, match=problem) as info:
        client.fetch_histories_sync(["chalk"])
    assert info.value.path == tmp_path / "chalk.json"
    absent = client.fetch_histories_sync(["debug"])["debug"]
    assert absent.history is None and absent.reason == "offline: debug is not in the snapshot"


def test_a_deeply_nested_document_cache_entry_is_a_miss(tmp_path: Path) -> None:
    import hashlib

    key = hashlib.sha256(b"https://registry.example.invalid/").hexdigest()[:16]
    (tmp_path / key).mkdir()
    (tmp_path / key / "chalk.json").write_text(DEEP_JSON)
    result = _offline_client(tmp_path, cache_dir=tmp_path).fetch_sync(["chalk"])["chalk"]
    assert result.document is None and result.reason == "offline: chalk is not in the cache"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (DEEP_JSON, "not JSON: nested too deeply"),
        ("null", "not an object of versions"),
        ('{"5.6.1": []}', "'5.6.1' is not an object"),
        ('{"5.6.1": {"tor": "yes"}}', "tor is not bool or null"),
        ('{"5.6.1": {"reasons": [["tor"]]}}', r"reasons are not \[field, why\] pairs"),
    ],
)
def test_a_damaged_insights_snapshot_is_an_input_error(
    tmp_path: Path, content: str, problem: str
) -> None:
    # Found by tests/test_fuzz.py: these were a RecursionError, a TypeError, or an answer whose
    # `tor` was the string "yes" (read as true); invalid JSON was read as "not in the snapshot".
    from scorer.gather import read_insights_snapshot

    (tmp_path / "chalk.json").write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_insights_snapshot(tmp_path, [("chalk", "5.6.1")])
    assert info.value.path == tmp_path / "chalk.json"


def test_an_insights_snapshot_round_trips_and_missing_entries_stay_missing(tmp_path: Path) -> None:
    from scorer.gather import read_insights_snapshot, write_insights_snapshot
    from scorer.insights.client import InsightsAnswer, unknown_answer

    answers = {
        ("chalk", "5.6.1"): InsightsAnswer(
            "chalk",
            "5.6.1",
            "https://i.example.invalid",
            True,
            "qix",
            "2025-09-08T13:00:00Z",
            False,
            True,
        ),
        ("chalk", "5.6.0"): unknown_answer("chalk", "5.6.0", None, "no endpoint"),
    }
    write_insights_snapshot(tmp_path, answers)
    wanted = [("chalk", "5.6.1"), ("chalk", "5.6.0"), ("chalk", "1.0.0"), ("debug", "4.4.2")]
    assert read_insights_snapshot(tmp_path, wanted) == answers
    assert json.loads((tmp_path / "chalk.json").read_text())["5.6.1"]["tor"] is False


def test_a_record_with_a_lone_surrogate_is_merged_and_reads_back(tmp_path: Path) -> None:
    # Found by tests/test_fuzz.py: "\ud800" is valid JSON that the json module reads, but
    # --write failed to encode it as UTF-8 (UnicodeEncodeError traceback). It is written
    # escaped now, and reads back the same.
    from scorer.osv.database import load_database, merge_database
    from scorer.osv.index import open_database

    source = tmp_path / "in.json"
    source.write_text(
        '[{"id": "MAL-1", "modified": "\\ud800", "summary": "caf\u00e9 \\udfff",'
        ' "affected": [{"package": {"ecosystem": "npm", "name": "a"}, "versions": ["1.0.0"]}]},'
        ' {"id": "MAL-2", "summary": "caf\u00e9"}]',
        encoding="utf-8",
    )
    records = load_database(source)
    target = tmp_path / "db.json"
    merge_database(target, records)
    text = target.read_bytes().decode("utf-8")  # valid UTF-8
    assert '"summary":"caf\\u00e9 \\udfff"' in text and '"summary":"caf\u00e9"' in text
    again = load_database(target)
    assert [a.raw for a in again] == [a.raw for a in records]
    # The index streams plain JSON through ijson, whose C backend made a UnicodeDecodeError
    # traceback of such an escape: now an input error naming the file (the whole-file
    # readers above, and the merge-format line reader's fallback, judge the same text).
    with pytest.raises(InputError, match="not Unicode text") as info:
        open_database(target, cache_dir=tmp_path / "cache")
    assert info.value.path == target


def test_a_plain_database_with_a_lone_surrogate_escape_is_an_input_error(tmp_path: Path) -> None:
    from scorer.osv.index import open_database

    path = tmp_path / "db.json"
    path.write_text('[{"id": "MAL-1", "summary": "\\udfff"}]')
    with pytest.raises(InputError, match="not Unicode text"):
        open_database(path, cache_dir=tmp_path / "cache")


def test_an_event_value_that_is_a_list_or_object_is_a_record_error(tmp_path: Path) -> None:
    # Found by tests/test_fuzz.py: {"introduced": []} made the compiled-range cache raise
    # TypeError (unhashable type), a traceback from every OSV reader and the OSV API client.
    from scorer.osv.advisories import Advisory, RecordError
    from scorer.osv.database import load_database

    def record(event: dict[str, Any]) -> dict[str, Any]:
        ranges = [{"type": "SEMVER", "events": [{"introduced": "0"}, event]}]
        affected = [{"package": {"ecosystem": "npm", "name": "a"}, "ranges": ranges}]
        return {"id": "MAL-1", "affected": affected}

    for bad in ({"introduced": []}, {"fixed": {"v": 1}}):
        with pytest.raises(RecordError, match="is not a string"):
            Advisory.from_osv(record(bad))
        path = tmp_path / "db.json"
        path.write_text(json.dumps([record(bad)]))
        with pytest.raises(InputError, match="is not a string"):
            load_database(path)
    # An event kind the schema does not know carries no bound, whatever its value.
    (affected,) = Advisory.from_osv(record({"x-vendor": ["1.0.0"]})).affected
    assert affected.affects("9.9.9")


# --- the same class of defect in readers no fuzz target reaches (found by reading) ---------------


def test_a_database_env_path_whose_tilde_names_no_user_is_a_config_error() -> None:
    from scorer.audit import DB_ENV, default_db
    from scorer.config import Config
    from scorer.errors import ConfigError

    with pytest.raises(ConfigError, match=r"PROVSCORE_COMPROMISED_DB .* names no home directory"):
        default_db({DB_ENV: "~no-such-user-provscore/db.json"}, Config(), Path("/nonexistent"))


def test_a_deeply_nested_index_header_is_a_stale_cache_and_a_source_record_unknown(
    tmp_path: Path,
) -> None:
    import io

    from scorer.osv import index, update

    head = index._MAGIC + DEEP_JSON.encode()
    assert index._read_header(io.BytesIO(head.ljust(index._HEADER_SPACE, b" "))) is None
    database = tmp_path / "all.zip"
    (tmp_path / ("all.zip" + update._SOURCE_SUFFIX)).write_text(DEEP_JSON)
    assert update.Source.read(database) is None


def test_a_deeply_nested_attestation_payload_is_invalid_not_a_crash() -> None:
    import base64

    from scorer.provenance import IN_TOTO, AttestationStatus, check_attestation
    from scorer.records import LockedPackage, SourceKind
    from scorer.signatures import KeySet

    envelope = {"payload": base64.b64encode(DEEP_JSON.encode()).decode(), "payloadType": IN_TOTO}
    result, facts = check_attestation(
        {"predicateType": "https://slsa.dev/provenance/v1", "bundle": {"dsseEnvelope": envelope}},
        LockedPackage("x", "1.0.0", SourceKind.REGISTRY),
        None,
        KeySet("https://registry.example.invalid/", (), "test"),
        lambda bundle: None,
    )
    assert (result.status, result.why, facts) == (
        AttestationStatus.INVALID,
        "the payload is not JSON",
        None,
    )


def test_writing_an_insights_snapshot_over_a_damaged_file_names_it(tmp_path: Path) -> None:
    from scorer.gather import write_insights_snapshot
    from scorer.insights.client import unknown_answer

    damaged = tmp_path / "pkg.json"
    damaged.write_text("{not json")
    with pytest.raises(InputError) as err:
        write_insights_snapshot(
            tmp_path, {("pkg", "1.0.0"): unknown_answer("pkg", "1.0.0", None, "x")}
        )
    assert err.value.path == damaged and "not JSON" in err.value.problem
    assert damaged.read_text() == "{not json"  # nothing overwritten
