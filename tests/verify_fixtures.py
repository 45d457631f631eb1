"""Test helpers for `provscore verify`: a throwaway registry signing key made at test time,
constructed registry documents signed with it, constructed attestations, and the real signing
data of ../shared/data/npm-signatures (read from there, never copied).

Everything constructed here is marked as constructed (`_provscore_constructed`); the tarball
bytes are made up, so their integrities are sha512 of made-up bytes, not of real packages.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import shared_data
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scorer.provenance import IN_TOTO, pae


def real_signatures_dir() -> Path:
    """The real npm signing data in the shared data (tests/shared_data.py: a skip where absent)."""
    return shared_data.require(shared_data.NPM_SIGNATURES, "keys.json").parent


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@dataclass
class SigningKey:
    """A throwaway ECDSA P-256 registry key."""

    keyid: str
    private: ec.EllipticCurvePrivateKey
    expires: datetime | None = None

    @classmethod
    def new(cls, keyid: str, expires: datetime | None = None) -> SigningKey:
        return cls(keyid, ec.generate_private_key(ec.SECP256R1()), expires)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message, ec.ECDSA(hashes.SHA256()))).decode()

    def entry(self) -> dict[str, Any]:
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "expires": self.expires.isoformat().replace("+00:00", "Z") if self.expires else None,
            "keyid": self.keyid,
            "keytype": "ecdsa-sha2-nistp256",
            "scheme": "ecdsa-sha2-nistp256",
            "key": base64.b64encode(der).decode(),
        }


def keys_body(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.entry() for k in keys]}


def tarball_url(registry: str, name: str, version: str) -> str:
    return f"{registry}{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def document(
    registry: str,
    name: str,
    versions: dict[str, bytes],
    key: SigningKey | None,
    published: datetime,
    *,
    attestations: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A constructed packument: each version's integrity is the sha512 of its made-up bytes,
    signed with `key` (None: unsigned); versions in `attestations` list them."""
    doc: dict[str, Any] = {
        "name": name,
        "_provscore_constructed": "made up for provscore's verify tests",
        "versions": {},
        "time": {},
    }
    for i, (version, data) in enumerate(sorted(versions.items())):
        integrity = sri(data)
        dist: dict[str, Any] = {
            "integrity": integrity,
            "shasum": hashlib.sha1(data).hexdigest(),
            "tarball": tarball_url(registry, name, version),
        }
        if key is not None:
            message = f"{name}@{version}:{integrity}".encode()
            dist["signatures"] = [{"keyid": key.keyid, "sig": key.sign(message)}]
        if version in attestations:
            dist["attestations"] = {
                "url": f"{registry}-/npm/v1/attestations/{name}@{version}",
                "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
            }
        doc["versions"][version] = {"name": name, "version": version, "dist": dist}
        doc["time"][version] = (published + timedelta(days=i)).isoformat().replace("+00:00", "Z")
    return doc


def statement(name: str, version: str, data: bytes, repository: str) -> dict[str, Any]:
    """A SLSA v1 provenance statement for `name@version` built from `repository`."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {
                "name": f"pkg:npm/{name.replace('@', '%40', 1)}@{version}",
                "digest": {"sha512": hashlib.sha512(data).hexdigest()},
            }
        ],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "externalParameters": {
                    "workflow": {
                        "repository": f"https://github.com/{repository}",
                        "path": ".github/workflows/release.yml",
                        "ref": "refs/tags/v" + version,
                    }
                },
                "resolvedDependencies": [
                    {
                        "uri": f"git+https://github.com/{repository}@refs/tags/v{version}",
                        "digest": {"gitCommit": hashlib.sha1(repository.encode()).hexdigest()},
                    }
                ],
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner"}},
        },
    }


def certificate(key: ec.EllipticCurvePrivateKey, repository: str) -> bytes:
    """A self-signed leaf carrying Fulcio's legacy repository extension (not from Fulcio: no
    Sigstore trust root accepts it)."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "constructed")])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(
                        f"https://github.com/{repository}/.github/workflows/release.yml@refs/tags/v1"
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.5"), repository.encode()
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def attestation(
    body: dict[str, Any],
    *,
    cert_repository: str | None = None,
    media_type: str = "application/vnd.dev.sigstore.bundle.v0.3+json",
) -> dict[str, Any]:
    """A constructed attestation: `body` in a DSSE envelope signed by a throwaway key whose
    self-signed certificate names `cert_repository` (default: the statement's own)."""
    key = ec.generate_private_key(ec.SECP256R1())
    payload = json.dumps(body).encode()
    sig = key.sign(pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    workflow = body["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
    repository = cert_repository or workflow["repository"].removeprefix("https://github.com/")
    return {
        "predicateType": body["predicateType"],
        "bundle": {
            "mediaType": media_type,
            "verificationMaterial": {
                "certificate": {
                    "rawBytes": base64.b64encode(certificate(key, repository)).decode()
                },
                "tlogEntries": [],
            },
            "dsseEnvelope": {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": IN_TOTO,
                "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
            },
        },
    }
