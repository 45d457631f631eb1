"""Provenance attestations of one locked version: what was checked, and nothing more (pure).

The registry serves a version's attestations at `/-/npm/v1/attestations/NAME@VERSION`: Sigstore
bundles wrapping DSSE envelopes of in-toto statements (an npm publish attestation, signed with
the registry's key, and a SLSA provenance attestation, signed with a short-lived certificate).
Each is judged on its own (`check_attestation`): the statement must name this package and the
sha512 of the integrity the lockfile pins; the DSSE signature must verify with the bundle's
certificate or with the registry key it names (`cryptography`); the certificate's repository,
ref and commit must agree with the SLSA predicate; and the bundle itself is handed to the
`sigstore` library (`sigstore_verify`), which verifies chain, transparency log and signature
against Sigstore's trust root. Only that last step makes an attestation `verified`; a bundle
the library refuses (the oldest format, 0.1, has no inclusion proof) stays `consistent but not
verified`, with the library's reason. The source repository, ref, commit and workflow are read
from the predicate and the certificate (`ProvenanceFacts`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from scorer.records import (
    AttestationResult,
    AttestationStatus,
    Check,
    CheckResult,
    LockedPackage,
    Outcome,
    ProvenanceChange,
    ProvenanceFacts,
    Severity,
)
from scorer.signatures import KeySet, parse_sri

IN_TOTO = "application/vnd.in-toto+json"
SLSA_PREFIX = "https://slsa.dev/provenance/"
# Fulcio certificate extensions (sigstore's OID registry): the legacy ones hold raw bytes, the
# newer ones a DER UTF8String.
_LEGACY = {
    "repository": "1.3.6.1.4.1.57264.1.5",
    "commit": "1.3.6.1.4.1.57264.1.3",
    "ref": "1.3.6.1.4.1.57264.1.6",
}
_DER = {
    "repository_uri": "1.3.6.1.4.1.57264.1.12",
    "commit": "1.3.6.1.4.1.57264.1.13",
    "ref": "1.3.6.1.4.1.57264.1.14",
}

# (bundle JSON) -> (status, why): the sigstore library's verdict on one bundle.
SigstoreVerify = Callable[[Mapping[str, Any]], tuple[AttestationStatus, str | None]]


def purl_names(name: str, version: str) -> set[str]:
    """The package URLs an attestation may name this version by (`@` of a scope encoded or not)."""
    plain = f"pkg:npm/{name}@{version}"
    return {plain, plain.replace("pkg:npm/@", "pkg:npm/%40", 1)}


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature is made over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _der_utf8(value: bytes) -> str | None:
    # A DER UTF8String (tag 12) of short or one/two-byte long length; anything else: unreadable.
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, start = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count not in (1, 2) or len(value) < 2 + count:
            return None
        length, start = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    body = value[start : start + length]
    return body.decode("utf-8", "replace") if len(body) == length else None


def certificate_facts(raw: bytes) -> tuple[Any, dict[str, str]]:
    """The signing certificate and what its Fulcio extensions and SAN say about the build."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(raw)
    facts: dict[str, str] = {}
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        value = getattr(ext.value, "value", None)
        if isinstance(value, bytes):
            for key, wanted in _LEGACY.items():
                if oid == wanted:
                    facts[key] = value.decode("utf-8", "replace")
            for key, wanted in _DER.items():
                if oid == wanted and (text := _der_utf8(value)) is not None:
                    facts[key] = text
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        if uris:
            facts["identity"] = uris[0]
    except x509.ExtensionNotFound:
        pass
    if "repository_uri" in facts and "repository" not in facts:
        facts["repository"] = facts["repository_uri"].removeprefix("https://github.com/")
    return cert, facts


def slsa_facts(predicate_type: str, predicate: Mapping[str, Any]) -> ProvenanceFacts:
    """Repository, ref, commit, workflow and builder from a SLSA v0.2 or v1 predicate."""

    def get(*path: str) -> Any:
        node: Any = predicate
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    if predicate_type.endswith("/v0.2"):
        env = get("invocation", "environment")
        env = env if isinstance(env, Mapping) else {}
        source = text(get("invocation", "configSource", "uri"))
        repository = text(env.get("GITHUB_REPOSITORY"))
        if repository is None and source is not None:
            repository = _repo_from_uri(source)
        return ProvenanceFacts(
            repository=repository,
            ref=text(env.get("GITHUB_REF"))
            or (source.rsplit("@", 1)[1] if source and "@" in source else None),
            commit=text(env.get("GITHUB_SHA"))
            or text(get("invocation", "configSource", "digest", "sha1")),
            workflow=text(env.get("GITHUB_WORKFLOW_REF"))
            or text(get("invocation", "configSource", "entryPoint")),
            builder=text(get("builder", "id")),
        )
    workflow = get("buildDefinition", "externalParameters", "workflow")
    workflow = workflow if isinstance(workflow, Mapping) else {}
    deps = get("buildDefinition", "resolvedDependencies")
    first = deps[0] if isinstance(deps, list) and deps and isinstance(deps[0], Mapping) else {}
    found = first.get("digest")
    digest: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    repository_url = text(workflow.get("repository"))
    path, ref = text(workflow.get("path")), text(workflow.get("ref"))
    repository = _repo_from_uri(repository_url) if repository_url else None
    return ProvenanceFacts(
        repository=repository,
        ref=ref,
        commit=text(digest.get("gitCommit")),
        workflow=f"{repository}/{path}@{ref}" if repository and path and ref else path,
        builder=text(get("runDetails", "builder", "id")),
    )


def _repo_from_uri(uri: str) -> str | None:
    """`git+https://github.com/o/r@refs/...` or `https://github.com/o/r` -> `o/r`."""
    rest = uri.removeprefix("git+").split("://", 1)[-1].split("@", 1)[0]
    parts = [p for p in rest.split("/") if p]
    return "/".join(parts[1:3]) if len(parts) >= 3 else None


def _subject_problem(
    statement: Mapping[str, Any], package: LockedPackage, sha512_hex: str | None
) -> str | None:
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        return "the statement names no subject"
    names = purl_names(package.name, package.version)
    ours = [s for s in subjects if isinstance(s, Mapping) and s.get("name") in names]
    if not ours:
        named = ", ".join(str(s.get("name")) for s in subjects if isinstance(s, Mapping))
        return f"the statement is about {named}, not {package.spec}"
    if sha512_hex is None:
        return None
    digests = {d.get("sha512") for s in ours if isinstance(d := s.get("digest"), Mapping)}
    if sha512_hex not in digests:
        shown = ", ".join(sorted(str(d) for d in digests))
        return f"the statement's sha512 {shown} is not the pinned integrity's {sha512_hex}"
    return None


def check_attestation(
    attestation: Mapping[str, Any],
    package: LockedPackage,
    sha512_hex: str | None,
    keys: KeySet,
    sigstore_verify: SigstoreVerify,
    published: datetime | None = None,
) -> tuple[AttestationResult, ProvenanceFacts | None]:
    """One attestation: its status, why, what was checked, and (SLSA) the build facts."""
    predicate_type = attestation.get("predicateType")
    ptype = predicate_type if isinstance(predicate_type, str) else None
    checked: list[str] = []

    def invalid(why: str) -> tuple[AttestationResult, ProvenanceFacts | None]:
        return AttestationResult(ptype, AttestationStatus.INVALID, why, tuple(checked)), None

    bundle = attestation.get("bundle")
    if not isinstance(bundle, Mapping):
        return invalid("no Sigstore bundle")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, Mapping):
        return invalid("no DSSE envelope in the bundle")
    payload = _b64(envelope.get("payload"))
    if payload is None:
        return invalid("the envelope's payload is not base64")
    if envelope.get("payloadType") != IN_TOTO:
        return invalid(f"payload type {envelope.get('payloadType')!r} is not in-toto")
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError):
        return invalid("the payload is not JSON")
    if not isinstance(statement, Mapping):
        return invalid("the payload is not an in-toto statement")
    if ptype is not None and statement.get("predicateType") != ptype:
        return invalid(
            f"the statement's predicate type {statement.get('predicateType')!r} is not the "
            f"listed {ptype!r}"
        )
    if (problem := _subject_problem(statement, package, sha512_hex)) is not None:
        return invalid(problem)
    checked.append("subject is this package")
    if sha512_hex is not None:
        checked.append("subject digest is the pinned sha512")

    # The DSSE signature, with the certificate's key or the registry key the bundle names.
    found = bundle.get("verificationMaterial")
    material: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    signatures = envelope.get("signatures")
    sig = None
    if isinstance(signatures, list) and signatures and isinstance(signatures[0], Mapping):
        sig = _b64(signatures[0].get("sig"))
    if sig is None:
        return invalid("the envelope carries no readable signature")
    cert_raw = _certificate_bytes(material)
    cert_facts: dict[str, str] = {}
    signed = pae(IN_TOTO, payload)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if cert_raw is not None:
        try:
            cert, cert_facts = certificate_facts(cert_raw)
            public = cert.public_key()
        except ValueError as exc:
            return invalid(f"the signing certificate is unreadable: {exc}")
        if not isinstance(public, ec.EllipticCurvePublicKey):
            return invalid("the signing certificate's key is not an ECDSA key")
        try:
            public.verify(sig, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return invalid("the DSSE signature does not verify with the bundle's certificate")
        checked.append("DSSE signature verifies with the bundle's certificate")
    else:
        hint = material.get("publicKey")
        keyid = hint.get("hint") if isinstance(hint, Mapping) else None
        key = keys.get(keyid) if isinstance(keyid, str) else None
        if key is None:
            missing = f"key {keyid} is not among the registry's keys" if keyid else "no key named"
            return (
                AttestationResult(
                    ptype,
                    AttestationStatus.CONSISTENT,
                    f"the DSSE signature was not checked: {missing}",
                    tuple(checked),
                ),
                None,
            )
        try:
            key.public_key().verify(sig, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return invalid(f"the DSSE signature does not verify with registry key {keyid}")
        if key.expires is not None and published is not None and published >= key.expires:
            return invalid(
                f"signed with registry key {keyid}, which expired {key.expires.isoformat()}, "
                f"before the version was published ({published.isoformat()})"
            )
        unchecked = " (its expiry not checked: publish time unknown)" if published is None else ""
        checked.append(f"DSSE signature verifies with registry key {keyid}{unchecked}")

    facts = None
    predicate = statement.get("predicate")
    if ptype is not None and ptype.startswith(SLSA_PREFIX) and isinstance(predicate, Mapping):
        facts = slsa_facts(ptype, predicate)
        for key_name, stated in (
            ("repository", facts.repository),
            ("commit", facts.commit),
            ("ref", facts.ref),
        ):
            in_cert = cert_facts.get(key_name)
            if in_cert is not None and stated is not None and in_cert != stated:
                return invalid(
                    f"the certificate's {key_name} {in_cert!r} is not the predicate's {stated!r}"
                )
        if cert_facts:
            checked.append("certificate agrees with the predicate's repository, ref and commit")
        from dataclasses import replace

        facts = replace(
            facts,
            repository=facts.repository or cert_facts.get("repository"),
            commit=facts.commit or cert_facts.get("commit"),
            ref=facts.ref or cert_facts.get("ref"),
            certificate_identity=cert_facts.get("identity"),
        )

    status, why = sigstore_verify(bundle)
    if status is AttestationStatus.VERIFIED:
        checked.append("Sigstore bundle verified by the sigstore library")
    return AttestationResult(ptype, status, why, tuple(checked)), facts


def _certificate_bytes(material: Mapping[str, Any]) -> bytes | None:
    chain = material.get("x509CertificateChain")
    if isinstance(chain, Mapping):
        certs = chain.get("certificates")
        if isinstance(certs, list) and certs and isinstance(certs[0], Mapping):
            return _b64(certs[0].get("rawBytes"))
    single = material.get("certificate")
    if isinstance(single, Mapping):
        return _b64(single.get("rawBytes"))
    return None


def check_provenance(
    package: LockedPackage,
    dist: Mapping[str, Any] | None,
    body: Mapping[str, Any] | None,
    why: str | None,
    keys: KeySet,
    sigstore_verify: SigstoreVerify,
    published: datetime | None = None,
) -> CheckResult:
    """Every attestation of a version that lists `dist.attestations`: verified when all are,
    failed (hard) when any is invalid, else unverifiable with each one's reason. `body` is the
    attestations answer, None when it could not be had (`why`)."""
    check = Check.PROVENANCE
    if dist is None:
        return CheckResult(check, Outcome.UNVERIFIABLE, Severity.NONE, why=why)
    if not isinstance(dist.get("attestations"), Mapping):
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.NONE,
            why="no provenance: the registry lists no attestations for this version",
        )
    if body is None:
        return CheckResult(check, Outcome.UNVERIFIABLE, Severity.NONE, why=why)
    entries = body.get("attestations")
    if not isinstance(entries, list) or not entries:
        return CheckResult(
            check,
            Outcome.FAILED,
            Severity.HARD,
            detail="the version lists attestations, but the registry serves none",
        )
    sha512_hex = _sha512_hex(package.integrity) or _sha512_hex(dist.get("integrity"))
    results: list[AttestationResult] = []
    facts: ProvenanceFacts | None = None
    for entry in entries:
        if not isinstance(entry, Mapping):
            results.append(AttestationResult(None, AttestationStatus.INVALID, "not an object", ()))
            continue
        result, found = check_attestation(
            entry, package, sha512_hex, keys, sigstore_verify, published
        )
        results.append(result)
        facts = facts or found
    statuses = {r.status for r in results}
    summary = "; ".join(
        f"{_short(r.predicate_type)}: {r.status.value}" + (f" ({r.why})" if r.why else "")
        for r in results
    )
    if AttestationStatus.INVALID in statuses:
        return CheckResult(
            check,
            Outcome.FAILED,
            Severity.HARD,
            detail=summary,
            attestations=tuple(results),
            provenance=facts,
        )
    if statuses == {AttestationStatus.VERIFIED}:
        return CheckResult(
            check,
            Outcome.VERIFIED,
            Severity.NONE,
            detail=summary,
            attestations=tuple(results),
            provenance=facts,
        )
    return CheckResult(
        check,
        Outcome.UNVERIFIABLE,
        Severity.NONE,
        why=summary,
        attestations=tuple(results),
        provenance=facts,
    )


def _short(predicate_type: str | None) -> str:
    if predicate_type is None:
        return "attestation"
    if predicate_type.startswith(SLSA_PREFIX):
        return "SLSA provenance " + predicate_type.removeprefix(SLSA_PREFIX)
    if "/publish/" in predicate_type:
        return "npm publish attestation"
    return predicate_type


def _sha512_hex(integrity: object) -> str | None:
    if not isinstance(integrity, str):
        return None
    digests = parse_sri(integrity).get("sha512")
    if not digests:
        return None
    raw = _b64(sorted(digests)[0])
    return raw.hex() if raw is not None and len(raw) == 64 else None


# -- the sigstore library --------------------------------------------------------------------


def sigstore_verifier() -> SigstoreVerify:
    """Verify bundles with the `sigstore` library against the Sigstore production trust root
    shipped inside it (offline: no TUF refresh, so a root rotated after that release is not
    known). The certificate identity is not pinned by policy here: `check_attestation` compares
    it with the predicate itself. Imported only when an attestation is checked (pydantic)."""
    from importlib import resources

    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    root = resources.files("sigstore._store").joinpath(
        "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev", "trusted_root.json"
    )
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))

    def verify(bundle: Mapping[str, Any]) -> tuple[AttestationStatus, str | None]:
        media = bundle.get("mediaType")
        try:
            loaded = Bundle.from_json(json.dumps(bundle))
        except (SigstoreError, ValueError) as exc:
            return AttestationStatus.CONSISTENT, (
                f"the sigstore library refuses this bundle ({media}): {_one_line(exc)}"
            )
        try:
            verifier.verify_dsse(loaded, policy.UnsafeNoOp())
        except (SigstoreError, ValueError) as exc:
            return AttestationStatus.INVALID, f"Sigstore verification failed: {_one_line(exc)}"
        return AttestationStatus.VERIFIED, None

    return verify


def _one_line(exc: Exception) -> str:
    """The library's message on one line: its first two lines (pydantic's say which field)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = "; ".join(lines[:2])
    if "inclusionProof" in text:
        text += " (the transparency log entry has no inclusion proof)"
    return text[:300]


def workflow_file(facts: ProvenanceFacts) -> str | None:
    """The workflow without its ref: `o/r/.github/workflows/x.yml` (the ref changes with
    every release, the file should not)."""
    return facts.workflow.rsplit("@", 1)[0] if facts.workflow else None


def provenance_change(
    current: CheckResult,
    listed: bool,
    previous_version: str | None,
    previous: CheckResult | None,
) -> ProvenanceChange:
    """Whether this version's provenance (`listed`: it has attestations) names another
    repository or workflow than the last earlier version with provenance (`previous`, checked
    like this one). Nothing to compare is False; an unreadable side is unknown (None)."""
    if not listed:
        return ProvenanceChange(False, "this version has no provenance")
    mine = current.provenance
    if mine is None:
        return ProvenanceChange(None, f"no provenance facts: {current.why or current.detail}")
    if previous_version is None:
        return ProvenanceChange(False, "no earlier version with provenance")
    theirs = previous.provenance if previous is not None else None
    if previous is None or theirs is None:
        why = (previous.why or previous.detail) if previous is not None else "not fetched"
        return ProvenanceChange(
            None, f"{previous_version}'s provenance could not be read: {why}", previous_version
        )
    changes = []
    if mine.repository != theirs.repository:
        changes.append(f"repository {theirs.repository} -> {mine.repository}")
    if workflow_file(mine) != workflow_file(theirs):
        changes.append(f"workflow {workflow_file(theirs)} -> {workflow_file(mine)}")
    if changes:
        return ProvenanceChange(
            True, f"against {previous_version}: " + "; ".join(changes), previous_version
        )
    return ProvenanceChange(False, f"same source as {previous_version}", previous_version)
