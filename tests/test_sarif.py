"""SARIF output checked by the official tools: the SARIF 2.1.0 JSON schema (with jsonschema) and
Microsoft's SARIF Multitool `validate`, both taken from the npm package
@microsoft/sarif-multitool-linux, which .ci/run fetches (PROVSCORE_SARIF_TOOLS points at it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from osv_fixtures import KNOWN_BAD, database_tree

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("PROVSCORE_SARIF_TOOLS", ROOT / ".cache" / "sarif-multitool"))
FETCH = "bash .ci/fetch-sarif-tools (it runs `npm pack @microsoft/sarif-multitool-linux`)"


def sarif_for(tmp: Path, pairs: list[tuple[str, str]], cwd: Path) -> dict[str, object]:
    lock = {"name": "app", "lockfileVersion": 3, "packages": {"": {"name": "app"}}}
    for name, version in pairs:
        lock["packages"][f"node_modules/{name}"] = {"version": version}  # type: ignore[index]
    path = tmp / "package-lock.json"
    path.write_text(json.dumps(lock, indent=2))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scorer",
            "audit",
            str(path),
            "--db",
            str(database_tree()),
            "--format",
            "sarif",
        ],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "HOME": str(tmp)},
    )
    assert result.returncode == 1, result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def tool(name: str) -> Path:
    path = TOOLS / "package" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: fetch the official SARIF tools with {FETCH}")
    return path


def test_sarif_validates_against_the_official_schema(tmp_path: Path) -> None:
    doc = sarif_for(tmp_path, sorted(KNOWN_BAD), tmp_path)
    schema = json.loads(tool("sarif-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, [e.message for e in errors[:5]]


def multitool_errors(doc: dict[str, object], tmp: Path) -> list[dict[str, object]]:
    """The error-level results of `Sarif.Multitool validate` on `doc`."""
    out, verdict = tmp / "out.sarif", tmp / "verdict.sarif"
    out.write_text(json.dumps(doc))
    command = [
        str(tool("Sarif.Multitool")),
        "validate",
        str(out),
        "-o",
        str(verdict),
        "--log",
        "ForceOverwrite",
    ]
    subprocess.run(command, capture_output=True, check=True, timeout=120)
    results = json.loads(verdict.read_text())["runs"][0]["results"]
    return [r for r in results if r.get("level") == "error"]


def test_sarif_passes_the_sarif_multitool(tmp_path: Path) -> None:
    assert multitool_errors(sarif_for(tmp_path, sorted(KNOWN_BAD), tmp_path), tmp_path) == []


def test_the_multitool_does_reject_a_broken_log(tmp_path: Path) -> None:
    doc = sarif_for(tmp_path, [("chalk", "5.6.1")], tmp_path)
    del doc["version"]
    assert multitool_errors(doc, tmp_path)


def test_fingerprints_and_locations_are_stable(tmp_path: Path) -> None:
    first = sarif_for(tmp_path, sorted(KNOWN_BAD), tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    second = sarif_for(tmp_path, sorted(KNOWN_BAD), other)
    prints = [r["partialFingerprints"] for r in first["runs"][0]["results"]]  # type: ignore[index]
    assert prints == [r["partialFingerprints"] for r in second["runs"][0]["results"]]  # type: ignore[index]
    assert len({json.dumps(p) for p in prints}) == len(prints)
    text = (tmp_path / "package-lock.json").read_text().splitlines()
    for result in first["runs"][0]["results"]:  # type: ignore[index]
        line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        assert f'"node_modules/{result["properties"]["package"]}"' in text[line - 1]
