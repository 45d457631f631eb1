"""Integrity and registry-signature checks of one locked version (pure; `cryptography` for ECDSA).

An npm registry signs every version it publishes: ECDSA P-256 with SHA-256 over the bytes of
`NAME@VERSION:INTEGRITY`, where INTEGRITY is the version's `dist.integrity`, with keys it serves
at `/-/npm/v1/keys` (`RegistryKey`s, parsed by `parse_keys`). A key counts for the versions
published while it was valid: expiry is compared with the version's publish time, never with
the scan time, so a key that has since expired still vouches for what it signed. Integrity
compares the lockfile's Subresource Integrity string with the registry's `dist.integrity` and
`dist.shasum` on the strongest algorithm both name. No cryptography is written here: key
loading and signature verification are `cryptography`'s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from scorer.records import Check, CheckResult, LockedPackage, Outcome, Severity

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

# Strongest first: the comparison uses the first algorithm both sides name.
ALGORITHMS = ("sha512", "sha384", "sha256", "sha1")


@dataclass(frozen=True, slots=True)
class RegistryKey:
    """One registry signing key: its id, its SPKI DER public key (base64) and its expiry
    (None: still valid)."""

    keyid: str
    key: str
    expires: datetime | None
    keytype: str | None = None
    scheme: str | None = None

    def public_key(self) -> EllipticCurvePublicKey:
        """The P-256 public key; ValueError when the material is not one."""
        return _load_key(self.keyid, self.key)


@lru_cache(maxsize=64)
def _load_key(keyid: str, material: str) -> EllipticCurvePublicKey:
    # Loaded once per key, not once per signature: a lockfile has thousands of signatures and
    # a registry a handful of keys (loading cost a quarter of each check, measured).
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        loaded = load_der_public_key(base64.b64decode(material, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"key {keyid} is not a DER public key: {exc}") from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError(f"key {keyid} is not an ECDSA P-256 key")
    return loaded


@dataclass(frozen=True, slots=True)
class KeySet:
    """The keys of one registry and where they came from (`/-/npm/v1/keys` of a URL, a cache,
    a pinned file); `keys` empty with `why` when there are none to use."""

    registry: str
    keys: tuple[RegistryKey, ...]
    origin: str
    why: str | None = None

    def get(self, keyid: str) -> RegistryKey | None:
        return next((k for k in self.keys if k.keyid == keyid), None)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (the registry writes `...Z`) as an aware datetime; None when absent or
    unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_keys(body: object, where: str) -> tuple[RegistryKey, ...]:
    """The keys of a `/-/npm/v1/keys` answer (`{"keys": [...]}`); ValueError naming `where` and
    the problem when it is not one. A key whose expiry is unreadable is an error, not a key
    that never expires."""
    entries = body.get("keys") if isinstance(body, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError(f"{where}: expected an object with a list under 'keys'")
    keys = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: keys[{i}] is not an object")
        keyid, key, expires = entry.get("keyid"), entry.get("key"), entry.get("expires")
        if not isinstance(keyid, str) or not keyid or not isinstance(key, str) or not key:
            raise ValueError(f"{where}: keys[{i}] needs a keyid and a key (strings)")
        expiry = parse_time(expires)
        if expires is not None and expiry is None:
            raise ValueError(f"{where}: keys[{i}] ({keyid}) has an unreadable expires {expires!r}")
        keytype, scheme = entry.get("keytype"), entry.get("scheme")
        keys.append(
            RegistryKey(
                keyid,
                key,
                expiry,
                keytype if isinstance(keytype, str) else None,
                scheme if isinstance(scheme, str) else None,
            )
        )
    return tuple(keys)


# -- integrity -----------------------------------------------------------------------------------


def parse_sri(value: str) -> dict[str, set[str]]:
    """A Subresource Integrity string (`sha512-<base64> sha1-<base64>`, options after `?` dropped)
    as algorithm -> base64 digests; unknown algorithms are left out."""
    out: dict[str, set[str]] = {}
    for token in value.split():
        algorithm, sep, digest = token.partition("-")
        digest = digest.split("?", 1)[0]
        if sep and digest and algorithm.lower() in ALGORITHMS:
            out.setdefault(algorithm.lower(), set()).add(digest)
    return out


def registry_digests(dist: Mapping[str, Any]) -> dict[str, set[str]]:
    """`dist.integrity` and `dist.shasum` (hex sha1, turned into base64) as algorithm -> digests."""
    digests: dict[str, set[str]] = {}
    integrity = dist.get("integrity")
    if isinstance(integrity, str):
        digests = parse_sri(integrity)
    shasum = dist.get("shasum")
    if isinstance(shasum, str):
        try:
            raw = bytes.fromhex(shasum)
        except ValueError:
            raw = b""
        if len(raw) == 20:
            digests.setdefault("sha1", set()).add(base64.b64encode(raw).decode())
    return digests


def check_integrity(
    package: LockedPackage, dist: Mapping[str, Any] | None, why: str
) -> CheckResult:
    """The lockfile's integrity against the registry's, on the strongest algorithm both name.

    `dist` is the version's `dist` in the registry document, None when there is no document
    (`why` says why). Different digests are a hard failure naming both values."""
    check = Check.INTEGRITY
    if not package.integrity:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.SOFT,
            why="the lockfile records no integrity for this version: its bytes are not pinned",
        )
    if dist is None:
        return CheckResult(check, Outcome.UNVERIFIABLE, Severity.NONE, why=why)
    locked = parse_sri(package.integrity)
    published = registry_digests(dist)
    if not locked:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.SOFT,
            why=f"the lockfile's integrity {package.integrity!r} names no known algorithm",
        )
    if not published:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.NONE,
            why="the registry document gives no dist.integrity or dist.shasum for this version",
        )
    common = next((a for a in ALGORITHMS if a in locked and a in published), None)
    if common is None:  # e.g. an old version the registry lists with a sha1 shasum only
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.NONE,
            why=f"no common algorithm: the lockfile has {', '.join(sorted(locked))}, the "
            f"registry {', '.join(sorted(published))}",
        )
    if locked[common] & published[common]:
        weak = " (sha1 only)" if common == "sha1" else ""
        return CheckResult(check, Outcome.VERIFIED, Severity.NONE, detail=f"{common} matches{weak}")
    ours = " ".join(f"{common}-{d}" for d in sorted(locked[common]))
    theirs = " ".join(f"{common}-{d}" for d in sorted(published[common]))
    return CheckResult(
        check,
        Outcome.FAILED,
        Severity.HARD,
        detail=f"different bytes: the lockfile pins {ours}, the registry publishes {theirs}",
    )


# -- registry signature ----------------------------------------------------------------------


def signed_message(name: str, version: str, integrity: str) -> bytes:
    """What the registry signs for one version: `NAME@VERSION:INTEGRITY`."""
    return f"{name}@{version}:{integrity}".encode()


def verify_ecdsa(key: RegistryKey, signature: str, message: bytes) -> bool:
    """Whether the base64 DER `signature` is `key`'s ECDSA-SHA256 signature of `message`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.public_key().verify(raw, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_signature(
    package: LockedPackage,
    dist: Mapping[str, Any] | None,
    published: datetime | None,
    keys: KeySet,
    why: str,
) -> CheckResult:
    """The registry's signature of this version, with the key valid when it was published.

    Valid from a key that was valid at `published` -> verified. Invalid, or from a key that had
    expired before the version was published -> a hard failure. No signature although the
    registry has keys, or an unknown key id -> a soft finding (unverifiable). No keys at all, or
    no document -> unknown (`why`)."""
    check = Check.SIGNATURE
    if dist is None:
        return CheckResult(check, Outcome.UNVERIFIABLE, Severity.NONE, why=why)
    integrity = dist.get("integrity")
    signatures = dist.get("signatures")
    entries = (
        [s for s in signatures if isinstance(s, Mapping)] if isinstance(signatures, list) else []
    )
    if not keys.keys:
        if not entries:
            return CheckResult(
                check,
                Outcome.UNVERIFIABLE,
                Severity.NONE,
                why=f"unsigned, and {keys.why or 'the registry publishes no signing keys'}",
            )
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.NONE,
            why=f"signed, but {keys.why or 'the registry publishes no signing keys'}",
        )
    if not entries:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.SOFT,
            why=f"no signature, although {keys.registry} signs with "
            f"{', '.join(k.keyid for k in keys.keys)}",
        )
    if not isinstance(integrity, str) or not integrity:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.SOFT,
            why="signed, but the document has no dist.integrity to check the signature over",
        )
    message = signed_message(package.name, package.version, integrity)
    unknown: list[str] = []
    problems: list[str] = []
    for entry in entries:
        keyid, sig = entry.get("keyid"), entry.get("sig")
        if not isinstance(keyid, str) or not isinstance(sig, str):
            problems.append("a signature entry without keyid or sig")
            continue
        key = keys.get(keyid)
        if key is None:
            unknown.append(keyid)
            continue
        if not verify_ecdsa(key, sig, message):
            problems.append(f"the signature by {keyid} does not verify over {message.decode()!r}")
            continue
        if key.expires is not None:
            if published is None:
                return CheckResult(
                    check,
                    Outcome.UNVERIFIABLE,
                    Severity.SOFT,
                    why=f"the signature by {keyid} verifies, but the key expired "
                    f"{key.expires.isoformat()} and the version's publish time is unknown",
                )
            if published >= key.expires:
                problems.append(
                    f"signed by {keyid}, which expired {key.expires.isoformat()}, before the "
                    f"version was published ({published.isoformat()})"
                )
                continue
        return CheckResult(check, Outcome.VERIFIED, Severity.NONE, detail=f"signed by {keyid}")
    if problems:
        return CheckResult(check, Outcome.FAILED, Severity.HARD, detail="; ".join(problems))
    return CheckResult(
        check,
        Outcome.UNVERIFIABLE,
        Severity.SOFT,
        why=f"signed by unknown key {', '.join(unknown)} (the registry's keys: "
        f"{', '.join(k.keyid for k in keys.keys)}, from {keys.origin})",
    )


def key_lines(keys: Sequence[RegistryKey]) -> tuple[str, ...]:
    """One line per key: its id and expiry, for reports."""
    return tuple(
        f"{k.keyid} (expires {k.expires.isoformat() if k.expires else 'never'})" for k in keys
    )
