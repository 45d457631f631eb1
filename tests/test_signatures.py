"""Integrity comparison edge cases and key parsing errors (constructed values)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from scorer.records import LockedPackage, Outcome, Severity, SourceKind
from scorer.signatures import check_integrity, parse_keys, parse_sri

DATA = b"constructed tarball"
SHA512 = "sha512-" + base64.b64encode(hashlib.sha512(DATA).digest()).decode()
SHA1 = "sha1-" + base64.b64encode(hashlib.sha1(DATA).digest()).decode()


def pkg(integrity: str | None) -> LockedPackage:
    return LockedPackage("x", "1.0.0", SourceKind.REGISTRY, integrity=integrity)


def test_strongest_common_algorithm_decides() -> None:
    dist = {"integrity": SHA512, "shasum": hashlib.sha1(DATA).hexdigest()}
    assert check_integrity(pkg(f"{SHA1} {SHA512}"), dist, "").outcome is Outcome.VERIFIED
    # an old lockfile with sha1 only is compared with dist.shasum, and says so
    sha1_only = check_integrity(pkg(SHA1), dist, "")
    assert sha1_only.outcome is Outcome.VERIFIED and "sha1 only" in (sha1_only.detail or "")
    # a matching sha1 does not rescue a different sha512
    other = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    assert check_integrity(pkg(f"{SHA1} {other}"), dist, "").outcome is Outcome.FAILED


def test_missing_or_unusable_integrity_is_unverifiable_with_why() -> None:
    none = check_integrity(pkg(None), {"integrity": SHA512}, "")
    assert none.outcome is Outcome.UNVERIFIABLE and none.severity is Severity.SOFT
    odd = check_integrity(pkg("md5-abc"), {"integrity": SHA512}, "")
    assert odd.outcome is Outcome.UNVERIFIABLE and "no known algorithm" in (odd.why or "")
    nodoc = check_integrity(pkg(SHA512), None, "registry answered HTTP 500")
    assert nodoc.severity is Severity.NONE and nodoc.why == "registry answered HTTP 500"
    disjoint = check_integrity(pkg("sha256-abc"), {"integrity": SHA512}, "")
    assert "no common algorithm" in (disjoint.why or "")


def test_sri_options_and_unknown_algorithms() -> None:
    assert parse_sri(f"{SHA512}?opt md5-x") == {"sha512": {SHA512[7:]}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "expected an object"),
        ({"keys": [{"keyid": "k"}]}, "needs a keyid and a key"),
        ({"keys": [{"keyid": "k", "key": "AA==", "expires": "soon"}]}, "unreadable expires"),
    ],
)
def test_bad_keys_answers_are_errors(body: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_keys(body, "keys.json")
