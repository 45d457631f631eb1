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


def test_provenance_source_change_is_a_verify_fact_and_a_report_feature(tmp_path: Path) -> None:
    """moved@1.1.0 is attested as built from o/fork; 1.0.0, the last earlier release with
    provenance, from o/moved. same@1.1.0 keeps its source. (Constructed registry data.)"""
    from datetime import UTC, datetime

    from insights_fixtures import registry_server
    from verify_fixtures import (
        SigningKey,
        attestation,
        document,
        keys_body,
        sri,
        statement,
        tarball_url,
    )

    from scorer.verify import VerifyOptions, run_verify

    key = SigningKey.new("SHA256:constructed")
    versions = {"1.0.0": b"one", "1.1.0": b"two"}
    with registry_server({}) as server:
        reg, docs = server.url, {}
        for name, later_repo in (("moved", "o/fork"), ("same", "o/same")):
            docs[name] = document(
                reg,
                name,
                versions,
                key,
                datetime(2024, 1, 1, tzinfo=UTC),
                attestations={"1.0.0", "1.1.0"},
            )
            for version, repo in (("1.0.0", f"o/{name}"), ("1.1.0", later_repo)):
                body = statement(name, version, versions[version], repo)
                docs[f"-/npm/v1/attestations/{name}@{version}"] = {
                    "attestations": [attestation(body)]
                }
        docs["-/npm/v1/keys"] = keys_body(key)
        server.documents.update(docs)
        packages: dict[str, Any] = {"": {"name": "app"}}
        for name in ("moved", "same"):
            packages[f"node_modules/{name}"] = {
                "version": "1.1.0",
                "resolved": tarball_url(reg, name, "1.1.0"),
                "integrity": sri(b"two"),
            }
        lock = tmp_path / "package-lock.json"
        lock.write_text(json.dumps({"lockfileVersion": 3, "packages": packages}))
        db = tmp_path / "empty-db.json"
        db.write_text("[]")
        env = {"HOME": str(tmp_path), "PROVSCORE_COMPROMISED_DB": str(db)}
        verified = run_verify(
            VerifyOptions(lockfile=lock, registry=reg, cache_dir=tmp_path / "c"),
            env=env,
            home=tmp_path,
        )
        change = {p.package.name: p.provenance_change for p in verified.packages}
        assert change["moved"] is not None and change["moved"].changed is True
        assert change["moved"].previous_version == "1.0.0"
        assert "repository o/moved -> o/fork" in change["moved"].detail
        assert change["same"] is not None and change["same"].changed is False
        result = run_report(
            ReportOptions(lockfile=lock, registry=reg, cache_dir=tmp_path / "c", verify=True),
            env=env,
            home=tmp_path,
        )
        rows = {p.package.name: p for p in result.packages}
        assert rows["moved"].row.values["provenance_source_changed"] == 1.0
        assert rows["same"].row.values["provenance_source_changed"] == 0.0
        reasons = [f for f, _ in rows["moved"].scored.contributions]
        assert "provenance_source_changed" in reasons
        assert rows["moved"].score > rows["same"].score
