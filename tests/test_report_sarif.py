"""SARIF of `provscore report` checked by the official tools (the SARIF 2.1.0 schema and
Microsoft's SARIF Multitool, with GitHub's ingestion rules too), on the shipped example and on
`--diff` runs, and against the lockfile itself: each result points at its package's line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_cli import DIFF, EXAMPLE, EXAMPLE_LOCK, ROOT, clean_env, report, report_as
from test_sarif import tool

EXAMPLE_DIR = ROOT / "data/examples/npm-app"


def sarif(args: list[str], home: Path, code: int) -> dict[str, Any]:
    run = report_as(args, "sarif", home)
    assert run.code == code, run.stderr
    doc: dict[str, Any] = json.loads(run.stdout)
    return doc


def example_diff(tmp: Path) -> list[str]:
    """A --diff of the example against an older lockfile: the same one without the
    Tor-published, the provenance-losing and the chalk versions (as if a PR added them)."""
    lock = json.loads((ROOT / EXAMPLE_LOCK).read_text())
    for name in ("provscore-example-tor", "provscore-example-provenance", "chalk"):
        del lock["packages"][f"node_modules/{name}"]
    before = tmp / "before-package-lock.json"
    before.write_text(json.dumps(lock, indent=2))
    return [*EXAMPLE, "--diff", str(before)]


def results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = doc["runs"]
    found: list[dict[str, Any]] = runs[0]["results"]
    return found


def multitool(doc: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """Every result of `Sarif.Multitool validate` with the SARIF and the GitHub (GHAS) rules."""
    log, verdict = tmp / "report.sarif", tmp / "verdict.sarif"
    log.write_text(json.dumps(doc))
    command = [str(tool("Sarif.Multitool")), "validate", str(log), "-o", str(verdict)]
    command += ["--log", "ForceOverwrite", "--rule-kind", "Sarif;Gh"]
    command += ["--level", "Error;Warning;Note"]
    subprocess.run(command, capture_output=True, check=True, timeout=120)
    found: list[dict[str, Any]] = json.loads(verdict.read_text())["runs"][0]["results"]
    return found


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return sarif(EXAMPLE, tmp_path_factory.mktemp("home"), 1)


@pytest.mark.parametrize("which", ["example", "npm-diff", "example-diff"])
def test_report_sarif_passes_the_schema_and_the_multitool(which: str, tmp_path: Path) -> None:
    args = {"example": EXAMPLE, "npm-diff": DIFF, "example-diff": example_diff(tmp_path)}[which]
    doc = sarif(args, tmp_path, 0 if which == "npm-diff" else 1)
    schema = json.loads(tool("sarif-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(doc)][:5] == []
    verdict = multitool(doc, tmp_path)
    assert [r for r in verdict if r.get("level") in ("error", "warning")] == []
    if which != "npm-diff":
        assert results(doc)


def test_the_multitool_with_github_rules_does_flag_a_rule_without_help(
    example: dict[str, Any], tmp_path: Path
) -> None:
    broken = json.loads(json.dumps(example))
    del broken["runs"][0]["tool"]["driver"]["rules"][0]["help"]
    assert [r["ruleId"] for r in multitool(broken, tmp_path) if r.get("level") == "error"] == [
        "GH2012"
    ]


def test_every_result_points_at_its_package_line(example: dict[str, Any]) -> None:
    lines = (ROOT / EXAMPLE_LOCK).read_text().splitlines()
    seen = set()
    for result in results(example):
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == EXAMPLE_LOCK
        line = lines[physical["region"]["startLine"] - 1]
        assert line.strip() == f'"node_modules/{result["properties"]["package"]}": {{', line
        seen.add(result["properties"]["package"])
    # Every flagged or malicious version of the example has results.
    assert seen == {
        "ua-parser-js",
        "chalk",
        "debug",
        "event-stream",
        "flatmap-stream",
        "provscore-example-provenance",
        "provscore-example-tor",
        "provscore-example-no2fa",
    }


def test_a_few_lines_read_from_the_lockfile(example: dict[str, Any]) -> None:
    """Spot checks written out by hand from data/examples/npm-app/package-lock.json."""
    text = (ROOT / EXAMPLE_LOCK).read_text().splitlines()
    where = {
        r["properties"]["package"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
        for r in results(example)
    }
    for name in ("chalk", "provscore-example-tor", "ua-parser-js"):
        assert text[where[name] - 1] == f'    "node_modules/{name}": {{'


def test_one_rule_per_kind_of_reason_and_per_incident(example: dict[str, Any]) -> None:
    rules = example["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    used = {r["ruleId"] for r in results(example)}
    assert used == set(ids)
    reasons = {i.removeprefix("provscore/") for i in ids if i.startswith("provscore/")}
    assert {"tor", "no_2fa", "provenance_lost", "trusted_publishing_lost"} <= reasons
    assert {"MAL-2025-46969", "GHSA-pjwm-rvh2-c87w"} <= set(ids)
    for rule in rules:
        assert rule["fullDescription"]["text"] and rule["help"]["text"]


def levels(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["properties"]["package"], r["ruleId"]): r["level"] for r in results(doc)}


def test_levels_follow_each_policy(example: dict[str, Any], tmp_path: Path) -> None:
    default = levels(example)
    # Malicious: the malicious policy (error). Reasons: the risk policy on the score (warn).
    assert default[("chalk", "MAL-2025-46969")] == "error"
    assert default[("provscore-example-tor", "provscore/tor")] == "warning"
    assert default[("provscore-example-provenance", "provscore/provenance_lost")] == "warning"
    # ua-parser-js is malicious (error) and scores 47: its reasons are warnings, not errors.
    assert default[("ua-parser-js", "GHSA-pjwm-rvh2-c87w")] == "error"
    assert default[("ua-parser-js", "provscore/install_script_added")] == "warning"
    strict = levels(sarif([*EXAMPLE, "--risk-policy", "error"], tmp_path, 1))
    assert strict[("provscore-example-provenance", "provscore/provenance_lost")] == "error"  # 91
    assert strict[("provscore-example-tor", "provscore/tor")] == "warning"  # 60 < 70
    off = levels(sarif([*EXAMPLE, "--risk-policy", "off", "--policy", "warn"], tmp_path, 0))
    assert off[("chalk", "MAL-2025-46969")] == "warning"
    assert off[("ua-parser-js", "provscore/install_script_added")] == "note"
    assert not {p for p, _ in off} & {"provscore-example-tor", "provscore-example-no2fa"}


def test_fingerprints_are_stable_and_distinct(example: dict[str, Any], tmp_path: Path) -> None:
    prints = [json.dumps(r["partialFingerprints"]) for r in results(example)]
    assert len(set(prints)) == len(prints)
    # The same lockfile read from elsewhere, by absolute path, a day later: same identities.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLE_DIR, elsewhere)
    run = report(
        [
            str(elsewhere / "package-lock.json"),
            "--now",
            "2026-12-01T12:00:00Z",
            "--format",
            "sarif",
        ],
        tmp_path,
        cwd=tmp_path,
    )
    assert run.code == 1, run.stderr
    again = json.loads(run.stdout)
    assert Counter(json.dumps(r["partialFingerprints"]) for r in results(again)) == Counter(prints)


def test_audit_sarif_passes_the_github_rules_too(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "scorer", "audit", EXAMPLE_LOCK, "--format", "sarif"],
        cwd=ROOT,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert results(doc)
    assert [r for r in multitool(doc, tmp_path) if r.get("level") in ("error", "warning")] == []
