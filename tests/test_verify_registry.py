"""`provscore verify` end to end through a real HTTP registry on 127.0.0.1 that signs with a
throwaway key made at test time: tampered integrity, a tampered registry document, a swapped
tarball, an expired key, an unknown key id, no signature, a redirect to another host, an
attestation for another package or other bytes, name collisions, pinned keys, and the cache
(offline, no request). All registry data here is constructed (tests/verify_fixtures.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from insights_fixtures import RegistryServer, registry_server

from scorer.errors import ConfigError
from scorer.provenance import sigstore_verifier
from scorer.records import AttestationStatus, Check, Level, Outcome, VerifyReport
from scorer.report import verify as verify_formats
from scorer.report.formats import VerifyFormat
from scorer.verify import VerifyOptions, run_verify
from tests.verify_fixtures import (
    SigningKey,
    attestation,
    document,
    keys_body,
    sri,
    statement,
    tarball_url,
)

OLD = datetime(2024, 6, 1, tzinfo=UTC)  # before the old key expired
NEW = datetime(2026, 6, 1, tzinfo=UTC)  # after it expired
EXPIRY = datetime(2025, 1, 29, tzinfo=UTC)


def data(name: str, version: str = "1.0.0") -> bytes:
    return f"constructed tarball of {name}@{version}".encode()


@dataclass
class World:
    server: RegistryServer
    root: Path
    lockfile: Path
    env: dict[str, str]


def _lock_entries(registry: str) -> dict[str, dict[str, Any]]:
    """name -> the lockfile entry, honest unless the test case says otherwise."""
    names = [
        "good",
        "tampered",
        "mirror-tampered",
        "swapped",
        "old-key",
        "old-key-late",
        "unknown-key",
        "unsigned",
        "redirected",
        "attest-other",
        "attest-digest",
        "elsewhere",
    ]
    out = {
        n: {
            "version": "1.0.0",
            "resolved": tarball_url(registry, n, "1.0.0"),
            "integrity": sri(data(n)),
        }
        for n in names
    }
    out["tampered"]["integrity"] = sri(b"bytes nobody published")
    out["swapped"].update(
        resolved=tarball_url(registry, "good", "1.0.0"), integrity=sri(data("good"))
    )
    out["elsewhere"]["resolved"] = "https://cdn.example.invalid/elsewhere/-/elsewhere-1.0.0.tgz"
    out["mirror-tampered"]["integrity"] = sri(b"what the mirror serves")
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    current = SigningKey.new("SHA256:constructed-current")
    old = SigningKey.new("SHA256:constructed-old", EXPIRY)
    stranger = SigningKey.new("SHA256:constructed-stranger")
    with registry_server({}) as server:
        reg = server.url
        docs: dict[str, Any] = {}

        def add(name: str, key: SigningKey | None, published: datetime = OLD, **kw: Any) -> None:
            docs[name] = document(reg, name, {"1.0.0": data(name)}, key, published, **kw)

        for name in ("good", "tampered", "swapped", "redirected", "elsewhere"):
            add(name, current, attestations={"1.0.0"} if name == "good" else set())
        add("mirror-tampered", current)
        docs["mirror-tampered"]["versions"]["1.0.0"]["dist"]["integrity"] = sri(
            b"what the mirror serves"
        )
        add("old-key", old, OLD)
        add("old-key-late", old, NEW)
        add("unknown-key", stranger)
        add("unsigned", None)
        add("attest-other", current, attestations={"1.0.0"})
        add("attest-digest", current, attestations={"1.0.0"})
        atts = "-/npm/v1/attestations/"
        docs[atts + "good@1.0.0"] = {
            "attestations": [attestation(statement("good", "1.0.0", data("good"), "o/good"))]
        }
        docs[atts + "attest-other@1.0.0"] = {
            "attestations": [attestation(statement("good", "1.0.0", data("attest-other"), "o/x"))]
        }
        docs[atts + "attest-digest@1.0.0"] = {
            "attestations": [
                attestation(statement("attest-digest", "1.0.0", b"other bytes", "o/x"))
            ]
        }
        docs["-/npm/v1/keys"] = keys_body(current, old)
        # A private scope registry under another path of the same server: it does not sign.
        private = reg + "corp/"
        docs["corp/@corp/utils"] = document(private, "@corp/utils", {"1.0.0": data("u")}, None, OLD)
        server.documents.update(docs)
        server.faults["redirected"] = ["redirect:https://other.example.invalid/redirected"]

        packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
        for name, entry in _lock_entries(reg).items():
            packages[f"node_modules/{name}"] = entry
        packages["node_modules/@corp/utils"] = {
            "version": "1.0.0",
            "resolved": tarball_url(private, "@corp/utils", "1.0.0"),
            "integrity": sri(data("u")),
        }
        packages["node_modules/local"] = {"version": "1.0.0", "resolved": "file:../local"}
        project = tmp_path / "app"
        project.mkdir()
        lock = project / "package-lock.json"
        lock.write_text(json.dumps({"lockfileVersion": 3, "packages": packages}, indent=1))
        (project / ".npmrc").write_text(f"registry={reg}\n@corp:registry={private}\n")
        db = tmp_path / "advisories.json"
        db.write_text(
            json.dumps(
                [
                    {
                        "id": "MAL-2099-7",
                        "modified": "2099-01-01T00:00:00Z",
                        "summary": "Malicious code in @corp/utils (npm)",
                        "affected": [
                            {
                                "package": {"ecosystem": "npm", "name": "@corp/utils"},
                                "versions": ["1.0.0"],
                            }
                        ],
                    }
                ]
            )
        )
        env = {"HOME": str(tmp_path / "home"), "PROVSCORE_COMPROMISED_DB": str(db)}
        yield World(server, tmp_path, lock, env)


@pytest.fixture(scope="module")
def verifier() -> Any:
    return sigstore_verifier()


def run(world: World, verifier: Any, **options: Any) -> VerifyReport:
    return run_verify(
        VerifyOptions(lockfile=world.lockfile, cache_dir=world.root / "cache", **options),
        env=world.env,
        home=world.root / "home",
        sigstore_verify=verifier,
    )


def outcomes(report: VerifyReport) -> dict[str, dict[str, str]]:
    return {
        p.package.name: {r.check.value: r.outcome.value for r in p.results} for p in report.packages
    }


def result(report: VerifyReport, name: str, check: Check) -> Any:
    pkg = next(p for p in report.packages if p.package.name == name)
    return pkg.result(check)


def test_every_case_through_the_registry(world: World, verifier: Any) -> None:
    report = run(world, verifier)
    got = outcomes(report)
    # honest, signed, attested: attestation consistent but not verified (constructed bundle)
    assert got["good"] == {
        "integrity": "verified",
        "signature": "verified",
        "provenance": "unverifiable",
        "origin": "verified",
    }
    good = result(report, "good", Check.PROVENANCE)
    (att,) = good.attestations
    assert att.status is AttestationStatus.CONSISTENT and "sigstore library refuses" in att.why
    assert good.provenance.repository == "o/good"
    # the lockfile pins other bytes
    tampered = result(report, "tampered", Check.INTEGRITY)
    assert tampered.outcome is Outcome.FAILED and tampered.level is Level.ERROR
    assert sri(data("tampered")) in tampered.detail
    # the registry document's integrity was changed after signing: the signature fails
    assert got["mirror-tampered"]["integrity"] == "verified"
    assert got["mirror-tampered"]["signature"] == "failed"
    # a swapped tarball: another package's URL and bytes
    assert got["swapped"]["integrity"] == "failed" and got["swapped"]["origin"] == "failed"
    assert "/swapped/-/swapped-1.0.0.tgz" in result(report, "swapped", Check.ORIGIN).detail
    # a key counts for what it signed while valid
    assert got["old-key"]["signature"] == "verified"
    late = result(report, "old-key-late", Check.SIGNATURE)
    assert late.outcome is Outcome.FAILED and "expired" in late.detail
    # an unknown key id and a missing signature: findings at warning
    unknown = result(report, "unknown-key", Check.SIGNATURE)
    assert unknown.outcome is Outcome.UNVERIFIABLE and unknown.level is Level.WARNING
    assert "SHA256:constructed-stranger" in unknown.why
    unsigned = result(report, "unsigned", Check.SIGNATURE)
    assert unsigned.level is Level.WARNING and "no signature" in unsigned.why
    # a redirect to another host is not followed: unknown, with why
    redirected = result(report, "redirected", Check.INTEGRITY)
    assert redirected.outcome is Outcome.UNVERIFIABLE and redirected.level is Level.NONE
    assert "redirect to other.example.invalid, not followed" in redirected.why
    # attestations for another package or other bytes
    other = result(report, "attest-other", Check.PROVENANCE)
    assert other.outcome is Outcome.FAILED and "not attest-other@1.0.0" in other.detail
    digest = result(report, "attest-digest", Check.PROVENANCE)
    assert digest.outcome is Outcome.FAILED and "is not the pinned integrity's" in digest.detail
    # a resolved URL on another host
    assert "cdn.example.invalid" in result(report, "elsewhere", Check.ORIGIN).detail
    # the private registry does not sign: unknown, not a finding; its name collides
    corp = next(p for p in report.packages if p.package.name == "@corp/utils")
    assert corp.result(Check.SIGNATURE).level is Level.NONE
    assert "publishes no signing keys" in corp.result(Check.SIGNATURE).why
    (hit,) = corp.collisions
    assert hit.private_origin == world.server.url + "corp/" and corp.level is Level.WARNING
    assert [p.name for p in report.not_checked] == ["local"]
    assert report.exit_code == 1


def test_json_counts_per_check_and_formats(world: World, verifier: Any) -> None:
    report = run(world, verifier)
    doc = json.loads(verify_formats.render(report, VerifyFormat.JSON))
    per = doc["counts"]["checks"]
    for check in Check:
        assert sum(per[check.value].values()) == doc["counts"]["checked"] == 13
    assert per["integrity"]["failed"] == 2 and per["signature"]["failed"] == 2
    assert per["provenance"]["failed"] == 2 and per["origin"]["failed"] == 2
    good = next(p for p in doc["packages"] if p["name"] == "good")
    assert good["checks"]["provenance"]["attestations"][0]["status"] == (
        "consistent but not verified"
    )
    text = verify_formats.render(report, VerifyFormat.TEXT)
    assert "ERROR tampered@1.0.0  integrity  failed: different bytes" in text
    assert "name collision" in text
    sarif = json.loads(verify_formats.render(report, VerifyFormat.SARIF))
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert {"provscore/verify/integrity", "provscore/name-collision"} <= rule_ids
    markdown = verify_formats.render(report, VerifyFormat.MARKDOWN)
    assert "failed verification" in markdown and "| origin |" in markdown


def test_policy_warn_and_off(world: World, verifier: Any) -> None:
    warn = run(world, verifier, policy="warn")
    assert warn.exit_code == 0 and {p.level for p in warn.packages} == {
        Level.WARNING,
        Level.NONE,
    }
    off = run(world, verifier, policy="off")
    assert off.exit_code == 0 and {p.level for p in off.packages} == {Level.NONE}
    world.env["PROVSCORE_VERIFY_POLICY"] = "bogus"
    with pytest.raises(ConfigError, match="PROVSCORE_VERIFY_POLICY"):
        run(world, verifier)


def test_a_second_run_offline_reads_the_cache_only(world: World, verifier: Any) -> None:
    first = run(world, verifier)
    world.server.requests.clear()
    again = run(world, verifier, offline=True)
    assert world.server.requests == []
    # the redirected document was never cached: still unknown, now because offline
    assert outcomes(again) == outcomes(first)
    assert "offline" in result(again, "redirected", Check.INTEGRITY).why


def test_offline_with_an_empty_cache_is_unknown_not_a_pass(world: World, verifier: Any) -> None:
    report = run_verify(
        VerifyOptions(lockfile=world.lockfile, cache_dir=world.root / "empty", offline=True),
        env=world.env,
        home=world.root / "home",
        sigstore_verify=verifier,
    )
    good = next(p for p in report.packages if p.package.name == "good")
    assert {r.outcome for r in good.results if r.check is not Check.ORIGIN} == {
        Outcome.UNVERIFIABLE
    }
    assert world.server.requests == []


def test_pinned_keys_replace_the_fetched_ones(world: World, verifier: Any) -> None:
    stranger = SigningKey.new("SHA256:pinned-only")
    pinned = world.root / "keys.json"
    pinned.write_text(json.dumps(keys_body(stranger)))
    (world.lockfile.parent / "provscore.toml").write_text(f'verify_keys = "{pinned}"\n')
    report = run(world, verifier)
    good = result(report, "good", Check.SIGNATURE)
    assert good.outcome is Outcome.UNVERIFIABLE and "pinned in" in good.why
    assert not any(path.startswith("-/npm/v1/keys") for path, _ in world.server.requests)
    pinned.write_text('{"keys": [{"keyid": "x"}]}')
    with pytest.raises(Exception, match="needs a keyid and a key"):
        run(world, verifier)


def test_verify_and_collision_sarif_pass_the_official_tools(
    world: World, verifier: Any, tmp_path: Path
) -> None:
    import jsonschema
    from test_sarif import multitool_errors, tool

    from scorer.audit import AuditOptions, run_audit
    from scorer.report import audit as audit_formats
    from scorer.report.formats import AuditFormat

    schema = json.loads(tool("sarif-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    audit = run_audit(AuditOptions(lockfile=world.lockfile), env=world.env, home=world.root)
    assert audit.collisions
    docs = [
        json.loads(verify_formats.render(run(world, verifier), VerifyFormat.SARIF)),
        json.loads(audit_formats.render(audit, AuditFormat.SARIF)),
    ]
    for doc in docs:
        assert not sorted(validator.iter_errors(doc), key=str)
        assert multitool_errors(doc, tmp_path) == []
