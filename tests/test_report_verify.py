"""`provscore report` with `report_verify`: failed verification checks are hard hits beside
malicious ones, ranked first, in every format; without it the report is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_verify_registry import World, verifier, world  # noqa: F401  (fixtures)

from scorer.records import Check, Level
from scorer.report import risk as risk_formats
from scorer.report.formats import ReportFormat
from scorer.risk import ReportOptions, run_report

NOW = "2026-11-30T00:00:00+00:00"


def report(w: World, **options: Any) -> Any:
    from datetime import datetime

    return run_report(
        ReportOptions(
            lockfile=w.lockfile,
            registry=w.server.url,
            cache_dir=w.root / "cache",
            now=datetime.fromisoformat(NOW),
            **options,
        ),
        env=w.env,
        home=w.root / "home",
    )


def test_failed_checks_are_hard_hits_ranked_first(world: World) -> None:  # noqa: F811
    result = report(world, verify=True)
    hits = {p.package.name: p for p in result.packages if p.verification}
    assert set(hits) >= {"tampered", "swapped", "old-key-late", "attest-other", "elsewhere"}
    tampered = hits["tampered"]
    assert [r.check for r in tampered.verification] == [Check.INTEGRITY]
    assert tampered.level is Level.ERROR and result.exit_code == 1
    first = {p.package.name for p in result.packages[: len(hits)]}
    assert first == set(hits)
    doc = json.loads(risk_formats.render(result, ReportFormat.JSON))
    assert doc["policy"]["verify"] == {"value": "error", "origin": "default"}
    assert doc["counts"]["verification_failed"] == len(hits)
    entry = next(p for p in doc["packages"] if p["name"] == "tampered")
    assert entry["verification"][0]["check"] == "integrity"
    assert "different bytes" in entry["verification"][0]["detail"]
    text = risk_formats.render(result, ReportFormat.TEXT)
    assert "VERIFY FAILED integrity: different bytes" in text
    sarif = json.loads(risk_formats.render(result, ReportFormat.SARIF))
    ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "provscore/verify/integrity" in ids


def test_without_report_verify_nothing_changes(world: World) -> None:  # noqa: F811
    result = report(world)
    assert result.verify_policy is None and not any(p.verification for p in result.packages)
    doc = json.loads(risk_formats.render(result, ReportFormat.JSON))
    assert "verify" not in doc["policy"]
    assert all("verification" not in p for p in doc["packages"])


def test_config_report_verify_turns_it_on(world: World, tmp_path: Path) -> None:  # noqa: F811
    (world.lockfile.parent / "provscore.toml").write_text("report_verify = true\n")
    result = report(world)
    assert result.verify_policy is not None and any(p.verification for p in result.packages)
