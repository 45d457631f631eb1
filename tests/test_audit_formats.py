"""End to end through the CLI, for every lockfile format: real lockfiles hand-edited to pin the
known-bad versions of seven real incidents (tests/fixtures/audit/NOTES.md) give exactly those
findings; their unedited twins give none. SARIF locations point at each package's own line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from osv_fixtures import KNOWN_BAD, database_tree

from scorer.lockfiles import LOCKFILE_NAMES

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "tests" / "fixtures" / "audit"
FORMATS = sorted(p.name for p in (AUDIT / "bad").iterdir() if p.is_dir())
# event-stream 3.3.6 is the release that pulled flatmap-stream in; its GHSA (CWE-506) names it.
EXPECTED_BAD = {**KNOWN_BAD, ("event-stream", "3.3.6"): "GHSA-mh6f-8j2x-4483"}
# The real MAL-2025-47141 record carries a range `introduced: "0"` beside the 4.1.1-4.1.2 one:
# by the OSV schema every version of @ctrl/tinycolor is affected, so the clean 4.1.0 matches too.
EXPECTED_CLEAN = {("@ctrl/tinycolor", "4.1.0"): "MAL-2025-47141"}


def lockfile(kind: str, fmt: str) -> Path:
    folder = AUDIT / kind / fmt
    return next(folder / n for n in LOCKFILE_NAMES if (folder / n).is_file())


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scorer", "audit", *args, "--db", str(database_tree())],
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )


def test_every_format_is_covered() -> None:
    assert (
        sorted(
            ["berry", "bun1", "npm1", "npm2", "npm3", "npm_ex", "pnpm5", "pnpm6", "pnpm9", "yarn1"]
        )
        == FORMATS
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_known_bad_versions_found_in_every_format(fmt: str, tmp_path: Path) -> None:
    result = run(str(lockfile("bad", fmt)), "--format", "json", home=tmp_path)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    found: dict[tuple[str, str], set[str]] = {}
    for f in doc["findings"]:
        found.setdefault((f["package"], f["version"]), set()).update(f["ids"])
    assert set(found) == set(EXPECTED_BAD)
    for key, ident in EXPECTED_BAD.items():
        assert ident in found[key], key


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_twin_finds_only_what_the_records_say(fmt: str, tmp_path: Path) -> None:
    result = run(str(lockfile("clean", fmt)), "--format", "json", home=tmp_path)
    doc = json.loads(result.stdout)
    found = {(f["package"], f["version"]): f["ids"] for f in doc["findings"]}
    assert set(found) == set(EXPECTED_CLEAN)
    assert found[("@ctrl/tinycolor", "4.1.0")][0] == "MAL-2025-47141"
    assert doc["counts"]["checked"] == doc["counts"]["packages"]
    ok = run(str(lockfile("clean", fmt)), "--policy", "warn", home=tmp_path)
    assert ok.returncode == 0 and "WARN" in ok.stdout


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "npm1"])
def test_sarif_lines_point_at_the_package(fmt: str, tmp_path: Path) -> None:
    path = lockfile("bad", fmt)
    result = run(str(path), "--format", "sarif", home=tmp_path)
    lines = path.read_text().splitlines()
    for r in json.loads(result.stdout)["runs"][0]["results"]:
        region = r["locations"][0]["physicalLocation"].get("region")
        assert region, (fmt, r["ruleId"])
        assert r["properties"]["package"] in lines[region["startLine"] - 1], (fmt, r["ruleId"])
