"""Hypothesis over the fuzz table (tests/fuzz_targets.py), and the fuzzing harness kept honest.

Every reader gets its real seeds mutated at the byte level (splice, insert, delete, flip) and,
for JSON, YAML and TOML inputs, in their structure (values swapped for hostile ones: other types,
huge numbers, odd strings, nesting), a bounded number of examples each so that the file stays
well under a minute. Nothing may escape but a `ProvscoreError`. bench/fuzz.py (atheris) runs the
same table for real budgets; here a one-second run of it checks that it still works, and two
deliberately broken targets check that it can report a crash and a hang at all.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import shared_data
import yaml
from fuzz_targets import BY_NAME, TARGETS, Target, check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorer.lockfiles.bun import strip_trailing_commas

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "fuzz.py"
# Per target; PROVSCORE_FUZZ_EXAMPLES raises it for a deeper run than CI affords.
EXAMPLES = int(os.environ.get("PROVSCORE_FUZZ_EXAMPLES", "50"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def seeds(name: str) -> tuple[bytes, ...]:
    return tuple(BY_NAME[name].seeds(shared_data.require))


# --- mutations ----------------------------------------------------------------------------------

TOKENS = [
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b"\\",
    b"\n",
    b":",
    b",",
    b"@",
    b"\x00",
    b"\xff\xfe",
    b"9" * 5000,
    b"-1",
    b"1e999",
    b"NaN",
    b"[" * 300,
    b"[" * 3000,  # past Python's recursion limit, as the JSON and TOML parsers recurse
    b'{"a":' * 3000,
    b"{a={a={a=" * 1000,
    b"${HOME}",
    b"https://[",
    b":99999/",
    b"\xe2\x80\xae",
]


def _mutate_bytes(data: st.DataObject, blob: bytes, others: tuple[bytes, ...]) -> bytes:
    at = data.draw(st.integers(0, len(blob)))
    how = data.draw(st.sampled_from(["splice", "insert", "delete", "flip", "token"]))
    if how == "splice":
        other = data.draw(st.sampled_from(others))
        start = data.draw(st.integers(0, len(other)))
        piece = other[start : start + data.draw(st.integers(0, 200))]
        return blob[:at] + piece + blob[at + data.draw(st.integers(0, 200)) :]
    if how == "insert":
        return blob[:at] + data.draw(st.binary(max_size=16)) + blob[at:]
    if how == "delete":
        return blob[:at] + blob[at + data.draw(st.integers(1, 64)) :]
    if how == "flip" and blob:
        at = min(at, len(blob) - 1)
        return blob[:at] + bytes([blob[at] ^ (1 << data.draw(st.integers(0, 7)))]) + blob[at + 1 :]
    return blob[:at] + data.draw(st.sampled_from(TOKENS)) + blob[at:]


STRINGS = st.sampled_from(
    [
        "",
        "1.0.0",
        "0.0.0-0",
        "1.0.0+build",
        "latest",
        "../../etc/passwd",
        "https://registry.example.invalid/x/-/x-1.0.0.tgz",
        "https://[",
        "http://host:99999/",
        "${HOME}",
        "~no-such-user/x",
        "@scope/",
        "2025-13-45T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "a" * 300,
        "\u202e",
        "\x00",
        "\ud800",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**20, max_value=10**40)
    | st.floats()
    | st.text(max_size=12)
    | STRINGS
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for at, item in enumerate(value):
            out += _paths(item, (*prefix, at))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _replace(v, rest, new) if k == head else v for k, v in value.items()}
    return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(str(value))


def _toml_dumps(document: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in document.items())


def _load(kind: str, blob: bytes) -> Any:
    text = blob.decode("utf-8-sig")
    if kind == "json":
        return json.loads(strip_trailing_commas(text))  # bun.lock allows trailing commas
    if kind == "yaml":
        return yaml.safe_load(text)
    return tomllib.loads(text)


def _dump(kind: str, document: Any) -> bytes:
    if kind == "json":
        return json.dumps(document).encode("utf-8", "surrogatepass")
    if kind == "yaml":
        return yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    return _toml_dumps(document).encode("utf-8", "surrogatepass")


def _mutate_structure(data: st.DataObject, blob: bytes, kind: str) -> bytes | None:
    try:
        document = _load(kind, blob)
    except (ValueError, yaml.YAMLError):
        return None  # not the format the kind says (a zip seed, a cut file): bytes only
    paths = _paths(document)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        if kind == "toml" and not path:
            continue  # a TOML document is a table
        document = _replace(document, path, data.draw(VALUES))
        paths = _paths(document)
    try:
        return _dump(kind, document)
    except (ValueError, TypeError, yaml.YAMLError):
        return None


def mutated(target: Target) -> st.SearchStrategy[bytes]:
    @st.composite
    def strategy(draw: Callable[..., Any]) -> bytes:
        data = draw(st.data())
        own = seeds(target.name)
        blob = data.draw(st.sampled_from(own))
        if target.kind != "bytes" and data.draw(st.booleans()):
            blob = _mutate_structure(data, blob, target.kind) or blob
        for _ in range(data.draw(st.integers(0, 3))):
            blob = _mutate_bytes(data, blob, own)
        return blob

    return strategy()


# --- the table under hypothesis -----------------------------------------------------------------


@pytest.mark.parametrize("name", [t.name for t in TARGETS])
def test_seeds_are_read_cleanly(name: str) -> None:
    # The fuzzers start from the seeds: each must be an input the reader accepts, or every
    # mutation of it would only test the first error path.
    target = BY_NAME[name]
    for blob in seeds(name):
        target.run(blob)


@pytest.mark.parametrize("name", [t.name for t in TARGETS])
def test_mutated_seeds_never_crash_a_reader(name: str) -> None:
    target = BY_NAME[name]
    seeds(name)  # skips here, not inside hypothesis, when the shared data is absent

    @SETTINGS
    @given(mutated(target))
    def run(blob: bytes) -> None:
        problem = check(target, blob)
        assert problem is None, problem

    run()


def test_check_tells_a_crash_from_a_clean_refusal() -> None:
    from scorer.errors import InputError

    def refuses(_data: bytes) -> None:
        raise InputError("lock", "not a lockfile")

    def crashes(data: bytes) -> None:
        {}[data]  # a KeyError, as a reader's missing key would be

    assert check(Target("t", "", refuses, lambda _f: []), b"x") is None
    problem = check(Target("t", "", crashes, lambda _f: []), b"x")
    assert problem is not None and "KeyError" in problem


# --- the atheris harness ------------------------------------------------------------------------


@functools.cache
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provscore_bench_fuzz", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_recorder_counts_and_saves_crashes_and_hangs(tmp_path: Path) -> None:
    def reader(data: bytes) -> str | None:
        if data == b"spin":
            while True:
                pass
        return "Traceback...\nKeyError: 'x'" if data.startswith(b"bad") else None

    recorder = bench().Recorder(reader, tmp_path, hang_seconds=0.2)
    for blob in (b"ok", b"bad1", b"bad2", b"spin", b"ok"):
        recorder.one(blob)
    assert (recorder.execs, recorder.crashes, recorder.hangs) == (5, 2, 1)
    assert len(list(tmp_path.glob("crash-*.bin"))) == 2
    (hang,) = tmp_path.glob("hang-*.bin")
    assert hang.read_bytes() == b"spin"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["crashes"], stats["hangs"]) == (2, 1)


TABLE_ROW = re.compile(
    r"^(\S+)\s+(\d+)\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+$", re.MULTILINE
)


def run_bench(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, list[int]], str]:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--out", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )
    rows = {m[0]: [int(x) for x in m[1:]] for m in TABLE_ROW.findall(done.stdout)}
    return done.returncode, rows, done.stdout + done.stderr


def test_bench_fuzzes_real_targets_for_a_second(tmp_path: Path) -> None:
    shared_data.require()
    code, rows, output = run_bench(
        tmp_path, "--seconds", "1", "--target", "config", "--target", "package_lock"
    )
    assert code == 0, output
    for name in ("config", "package_lock"):
        execs, edges, _features, corpus, crashes, hangs = rows[name]
        assert execs > 0 and edges > 0 and corpus > 0, output
        assert (crashes, hangs) == (0, 0), output


BROKEN_TABLE = """
from fuzz_targets import Target

def crashes(data):
    raise KeyError("a reader bug")

def spins(data):
    while True:
        pass

TARGETS = (
    Target("crashes", "always raises KeyError", crashes, lambda find: [b"seed"]),
    Target("spins", "never returns", spins, lambda find: [b"seed"]),
)
"""


def test_bench_reports_crashes_and_hangs_and_fails(tmp_path: Path) -> None:
    (tmp_path / "broken_targets.py").write_text(BROKEN_TABLE)
    code, rows, output = run_bench(
        tmp_path,
        "--seconds",
        "1",
        "--hang-seconds",
        "0.2",
        "--table",
        "broken_targets:TARGETS",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert code == 1, output
    assert rows["crashes"][4] >= 1 and rows["crashes"][0] >= 1, output
    assert rows["spins"][5] >= 1, output
    assert "KeyError at" in output
    assert list((tmp_path / "out" / "crashes").glob("crash-*.bin"))
    assert list((tmp_path / "out" / "spins").glob("hang-*.bin"))
