"""Per-version publication signals read from a registry document (pure: no I/O).

From a fetched packument, for one version: the publisher (`_npmUser.name` and its e-mail
domain), trusted publishing (`_npmUser.trustedPublisher`), maintainers, publish time
(`time[version]`), provenance (`dist.attestations`), registry signature (`dist.signatures`),
install scripts, deprecation; the same for the version published just before it; and the
package's creation time. A field a mirror may strip is unknown with a reason, never absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorer.registry import FetchResult

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What a packument says about how one version was published. `None` = unknown; the
    reason is in `reasons` under the field name."""

    version: str
    publisher: str | None
    publisher_email_domain: str | None
    trusted_publisher: bool | None
    trusted_publisher_id: str | None
    maintainers: tuple[str, ...] | None
    published_at: str | None
    provenance: bool | None
    registry_signature: bool | None
    install_scripts: tuple[str, ...] | None  # names among preinstall/install/postinstall
    has_install_script: bool | None
    deprecated: bool | None
    deprecation_message: str | None
    reasons: tuple[tuple[str, str], ...] = ()

    def reason(self, field_name: str) -> str | None:
        return dict(self.reasons).get(field_name)


@dataclass(frozen=True, slots=True)
class RegistrySignals:
    """Facts of one version, of the version published just before it, and of the package."""

    name: str
    version: str
    registry: str | None
    current: VersionFacts | None
    previous: VersionFacts | None
    package_created_at: str | None
    reasons: tuple[tuple[str, str], ...] = ()  # for current/previous/package_created_at

    def reason(self, field_name: str) -> str | None:
        return dict(self.reasons).get(field_name)


def _without_facts(
    fetched: FetchResult,
    version: str,
    created: str | None,
    reasons: list[tuple[str, str]],
    why: str,
) -> RegistrySignals:
    """Signals when the version's own facts are unknown (and so its predecessor's), for `why`."""
    return RegistrySignals(
        fetched.name,
        version,
        fetched.registry,
        None,
        None,
        created,
        (*reasons, ("current", why), ("previous", why)),
    )


def version_signals(fetched: FetchResult, version: str) -> RegistrySignals:
    """Signals for `version` from a fetched document (pure; no I/O, no clock)."""
    doc = fetched.document
    if doc is None:
        why = fetched.reason or "no registry document"
        return _without_facts(fetched, version, None, [("package_created_at", why)], why)
    versions: Mapping[str, Any] = _mapping(doc.get("versions"))
    times: Mapping[str, Any] = _mapping(doc.get("time"))
    reasons: list[tuple[str, str]] = []
    created = times.get("created") if isinstance(times.get("created"), str) else None
    if created is None:
        reasons.append(("package_created_at", "the document has no time.created"))
    faithful = any(isinstance(v, dict) and "_npmUser" in v for v in versions.values())
    manifest = versions.get(version)
    if not isinstance(manifest, dict):
        why = f"{version} is not in the registry document (unpublished or never published)"
        return _without_facts(fetched, version, created, reasons, why)
    current = _facts(version, manifest, times, doc, faithful)
    previous_version, why_none = _previous(version, versions, times)
    previous = None
    if previous_version is not None and isinstance(versions[previous_version], dict):
        previous = _facts(previous_version, versions[previous_version], times, doc, faithful)
    elif previous_version is not None:
        # The version published before is known, but not what it was: unknown, not skipped
        # (an older one would be the wrong baseline).
        why = f"the document's entry for {previous_version}, published before, is not an object"
        reasons.append(("previous", why))
    else:
        reasons.append(("previous", why_none))
    return RegistrySignals(
        fetched.name, version, fetched.registry, current, previous, created, tuple(reasons)
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _previous(
    version: str, versions: Mapping[str, Any], times: Mapping[str, Any]
) -> tuple[str | None, str]:
    mine = times.get(version)
    if not isinstance(mine, str):
        return None, f"the document has no publish time for {version}, so publish order is unknown"
    earlier = [
        (t, v)
        for v, t in times.items()
        if v in versions and v != version and isinstance(t, str) and t < mine
    ]
    if not earlier:
        return None, "first version published (no earlier version in the document)"
    return max(earlier)[1], ""


def _facts(
    version: str,
    manifest: Mapping[str, Any],
    times: Mapping[str, Any],
    doc: Mapping[str, Any],
    faithful: bool,
) -> VersionFacts:
    reasons: list[tuple[str, str]] = []
    stripped = "the registry document carries no _npmUser on any version (a mirror may strip it)"

    def unknown(field_name: str, why: str) -> None:
        reasons.append((field_name, why))

    user = manifest.get("_npmUser")
    publisher = domain = trusted_id = None
    trusted: bool | None = None
    if isinstance(user, dict):
        publisher = user.get("name") if isinstance(user.get("name"), str) else None
        email = user.get("email")
        if isinstance(email, str) and "@" in email:
            domain = email.rsplit("@", 1)[1].lower()
        tp = user.get("trustedPublisher")
        trusted = isinstance(tp, dict)
        trusted_id = (
            tp.get("id") if isinstance(tp, dict) and isinstance(tp.get("id"), str) else None
        )
    why_user = stripped if not faithful else f"no _npmUser on {version}"
    for field_name, value in (
        ("publisher", publisher),
        ("publisher_email_domain", domain),
        ("trusted_publisher", trusted),
    ):
        if value is None:
            unknown(
                field_name, why_user if user is None else f"_npmUser has no usable {field_name}"
            )
    if trusted_id is None:
        unknown(
            "trusted_publisher_id",
            "not published through trusted publishing" if trusted is False else why_user,
        )
    raw_maintainers = manifest.get("maintainers", doc.get("maintainers"))
    maintainers = None
    if isinstance(raw_maintainers, list):
        maintainers = tuple(
            sorted(
                {
                    m["name"]
                    for m in raw_maintainers
                    if isinstance(m, dict) and isinstance(m.get("name"), str)
                }
            )
        )
    else:
        unknown("maintainers", "the document lists no maintainers (a mirror may strip them)")
    published = times.get(version) if isinstance(times.get(version), str) else None
    if published is None:
        unknown("published_at", f"the document has no time[{version}]")
    dist = _mapping(manifest.get("dist"))
    # Absence only means "absent" in a document that is evidently not stripped.
    provenance = "attestations" in dist or (False if faithful else None)
    signature = "signatures" in dist or (False if faithful else None)
    if provenance is None:
        unknown("provenance", stripped)
    if signature is None:
        unknown("registry_signature", stripped)
    scripts = manifest.get("scripts")
    names: tuple[str, ...] | None = None
    has_script: bool | None
    if isinstance(scripts, dict):
        names = tuple(s for s in INSTALL_SCRIPTS if s in scripts)
        has_script = bool(names) or manifest.get("hasInstallScript") is True
    elif isinstance(manifest.get("hasInstallScript"), bool):
        has_script = manifest["hasInstallScript"]
        unknown("install_scripts", "abbreviated document: only hasInstallScript is known")
    elif faithful:
        names, has_script = (), False
    else:
        has_script = None
        unknown("install_scripts", stripped)
        unknown("has_install_script", stripped)
    deprecated_raw = manifest.get("deprecated")
    deprecated = isinstance(deprecated_raw, str) and deprecated_raw != ""
    return VersionFacts(
        version=version,
        publisher=publisher,
        publisher_email_domain=domain,
        trusted_publisher=trusted,
        trusted_publisher_id=trusted_id,
        maintainers=maintainers,
        published_at=published,
        provenance=provenance,
        registry_signature=signature,
        install_scripts=names,
        has_install_script=has_script,
        deprecated=deprecated,
        deprecation_message=deprecated_raw if deprecated else None,
        reasons=tuple(reasons),
    )
