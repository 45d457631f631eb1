"""`provscore verify`'s checks against real public data (../shared/data/npm-signatures): the
registry's two signing keys, real signatures over real integrities (two deliberately invalid),
and the real attestations of sigstore@1.0.0 and tuf-js@1.0.0 (Sigstore bundle format 0.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scorer.provenance import check_provenance, sigstore_verifier
from scorer.records import AttestationStatus, LockedPackage, Outcome, Severity, SourceKind
from scorer.signatures import KeySet, check_integrity, check_signature, parse_keys
from tests.verify_fixtures import real_signatures_dir

EXPIRED = "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"
# When the rows were published (npm's test fixtures, early 2023): before the first key expired.
BEFORE_EXPIRY = datetime(2023, 2, 9, tzinfo=UTC)


def _load(name: str) -> Any:
    return json.loads((real_signatures_dir() / name).read_text(encoding="utf-8"))


def _keys() -> KeySet:
    return KeySet("registry/", parse_keys(_load("keys.json"), "keys.json"), "keys.json")


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _load("signatures.json")
    return rows


def _pkg(row: dict[str, Any]) -> LockedPackage:
    return LockedPackage(
        row["name"], row["version"], SourceKind.REGISTRY, integrity=row["integrity"]
    )


def _dist(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "integrity": row["integrity"],
        "signatures": [{"keyid": row["keyid"], "sig": row["sig"]}],
    }


def test_real_keys_parse_with_the_expiry_of_the_first() -> None:
    keys = _keys()
    assert keys.keys[0].keyid == EXPIRED
    assert keys.keys[0].expires == datetime(2025, 1, 29, tzinfo=UTC)
    assert keys.keys[1].expires is None
    for key in keys.keys:
        key.public_key()  # both are P-256 keys cryptography loads


def test_every_real_signature_verifies_exactly_when_the_data_says_so() -> None:
    rows = _rows()
    assert sum(not r["verifies"] for r in rows) == 2
    for row in rows:
        result = check_signature(_pkg(row), _dist(row), BEFORE_EXPIRY, _keys(), "")
        expected = Outcome.VERIFIED if row["verifies"] else Outcome.FAILED
        assert result.outcome is expected, (row["name"], row["sig"], result)
        if not row["verifies"]:
            assert result.severity is Severity.HARD


def test_a_real_signature_counts_at_publish_time_not_scan_time() -> None:
    """The first key expired 2025-01-29: its signatures of earlier versions still verify; the
    same signature on a version claimed to be published after that is a failure."""
    row = next(r for r in _rows() if r["verifies"])
    later = datetime(2025, 6, 1, tzinfo=UTC)
    assert check_signature(_pkg(row), _dist(row), BEFORE_EXPIRY, _keys(), "").outcome is (
        Outcome.VERIFIED
    )
    after = check_signature(_pkg(row), _dist(row), later, _keys(), "")
    assert after.outcome is Outcome.FAILED and "expired" in (after.detail or "")
    unknown = check_signature(_pkg(row), _dist(row), None, _keys(), "")
    assert unknown.outcome is Outcome.UNVERIFIABLE and "publish time is unknown" in (
        unknown.why or ""
    )


def test_a_real_signature_over_another_integrity_fails() -> None:
    row = next(r for r in _rows() if r["verifies"])
    other = next(r for r in _rows() if r["verifies"] and r["name"] != row["name"])
    dist = {**_dist(row), "integrity": other["integrity"]}  # a mirror serving other bytes
    result = check_signature(_pkg(row), dist, BEFORE_EXPIRY, _keys(), "")
    assert result.outcome is Outcome.FAILED


def test_real_integrity_compares_with_the_registrys() -> None:
    row = next(r for r in _rows() if r["name"] == "sigstore")
    assert check_integrity(_pkg(row), _dist(row), "").outcome is Outcome.VERIFIED
    other = next(r for r in _rows() if r["name"] == "tuf-js")
    result = check_integrity(_pkg(row), {"integrity": other["integrity"]}, "")
    assert result.outcome is Outcome.FAILED
    assert row["integrity"] in (result.detail or "") and other["integrity"] in (result.detail or "")


@pytest.fixture(scope="module")
def verifier() -> Any:
    return sigstore_verifier()


@pytest.mark.parametrize("name", ["sigstore", "tuf-js"])
def test_real_attestations_are_consistent_but_not_verified(name: str, verifier: Any) -> None:
    """Bundle 0.1: the subject, its digest, both DSSE signatures (the certificate's and the
    registry key's) and the certificate against the predicate check out; the sigstore library
    refuses the bundles themselves, and the report says exactly that."""
    row = next(r for r in _rows() if r["name"] == name)
    body = _load(f"attestations/{name}@1.0.0.json")
    dist = {"integrity": row["integrity"], "attestations": {"url": "x"}}
    result = check_provenance(_pkg(row), dist, body, None, _keys(), verifier, BEFORE_EXPIRY)
    assert result.outcome is Outcome.UNVERIFIABLE and result.severity is Severity.NONE
    statuses = {a.status for a in result.attestations}
    assert statuses == {AttestationStatus.CONSISTENT}
    for a in result.attestations:
        assert "sigstore library refuses" in (a.why or "") and "version=0.1" in (a.why or "")
        assert "subject digest is the pinned sha512" in a.checked
    slsa = next(a for a in result.attestations if "slsa" in (a.predicate_type or ""))
    assert "DSSE signature verifies with the bundle's certificate" in slsa.checked
    publish = next(a for a in result.attestations if "publish" in (a.predicate_type or ""))
    assert f"DSSE signature verifies with registry key {EXPIRED}" in publish.checked
    facts = result.provenance
    assert facts is not None
    expected_repo = {"sigstore": "sigstore/sigstore-js", "tuf-js": "theupdateframework/tuf-js"}
    assert facts.repository == expected_repo[name]
    assert facts.ref == "refs/tags/v1.0.0"
    assert facts.workflow == f"{expected_repo[name]}/.github/workflows/publish.yml@refs/tags/v1.0.0"
    assert facts.commit is not None and len(facts.commit) == 40


def test_a_real_attestation_for_another_package_is_invalid(verifier: Any) -> None:
    """sigstore@1.0.0's attestations served for tuf-js@1.0.0: the subject names another
    package."""
    row = next(r for r in _rows() if r["name"] == "tuf-js")
    body = _load("attestations/sigstore@1.0.0.json")
    dist = {"integrity": row["integrity"], "attestations": {"url": "x"}}
    result = check_provenance(_pkg(row), dist, body, None, _keys(), verifier, BEFORE_EXPIRY)
    assert result.outcome is Outcome.FAILED and result.severity is Severity.HARD
    assert all(a.status is AttestationStatus.INVALID for a in result.attestations)
    assert "pkg:npm/sigstore@1.0.0, not tuf-js@1.0.0" in (result.detail or "")


def test_a_real_attestation_with_a_tampered_payload_is_invalid(verifier: Any) -> None:
    """One byte of the SLSA statement changed (its builder id): the subject still matches, the
    DSSE signature with the certificate no longer does."""
    import base64

    row = next(r for r in _rows() if r["name"] == "sigstore")
    body = _load("attestations/sigstore@1.0.0.json")
    envelope = body["attestations"][0]["bundle"]["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"]).replace(b"npm/cli@9.4.2", b"npm/cli@9.4.3")
    envelope["payload"] = base64.b64encode(payload).decode()
    dist = {"integrity": row["integrity"], "attestations": {"url": "x"}}
    result = check_provenance(_pkg(row), dist, body, None, _keys(), verifier, BEFORE_EXPIRY)
    assert result.outcome is Outcome.FAILED
    first = result.attestations[0]
    assert first.status is AttestationStatus.INVALID
    assert "does not verify with the bundle's certificate" in (first.why or "")


def test_real_attestation_digest_must_be_the_pinned_integrity(verifier: Any) -> None:
    row = next(r for r in _rows() if r["name"] == "sigstore")
    other = next(r for r in _rows() if r["name"] == "kms-demo")
    pkg = LockedPackage("sigstore", "1.0.0", SourceKind.REGISTRY, integrity=other["integrity"])
    body = _load("attestations/sigstore@1.0.0.json")
    dist = {"integrity": row["integrity"], "attestations": {"url": "x"}}
    result = check_provenance(pkg, dist, body, None, _keys(), verifier, BEFORE_EXPIRY)
    assert result.outcome is Outcome.FAILED
    assert "is not the pinned integrity's" in (result.detail or "")


def test_shared_data_is_read_not_copied() -> None:
    repo = Path(__file__).resolve().parents[1]
    for path in (repo / "tests").rglob("*.json"):
        assert "MEUCIDrLNspFeU5NZ6d55ycVBZIMXnPJi" not in path.read_text(errors="replace")
