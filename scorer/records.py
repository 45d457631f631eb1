"""Small frozen dataclasses shared by every stage of the pipeline.

read lockfile -> fetch -> features -> score -> policy -> render: each arrow passes these.
Unknown facts are `None` (with a reason where one is known), never a silent `False` or `0`.
The result types that commands share (`Finding`, its `Level`, `SourceInfo`, `AuditReport`,
`RankedPackage`, `RiskReport`, `CheckResult`, `VerifiedPackage`, `VerifyReport`) live here
too, so renderers import only this module and never an orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: these modules sit above this one
    from datetime import datetime

    from scorer.features import FeatureRow
    from scorer.lockdiff import Change, LockDiff
    from scorer.osv.database import MergeCounts
    from scorer.policy import Policy
    from scorer.reviews import Review
    from scorer.scoring import Scored
    from scorer.suppressions import Suppression


class SourceKind(StrEnum):
    """Where a locked package comes from. Only `registry` packages can be matched to advisories."""

    REGISTRY = "registry"
    GIT = "git"
    TARBALL = "tarball"  # a remote tarball URL that is not a registry download
    FILE = "file"  # a local directory or tarball (`file:`)
    LINK = "link"  # a symlink to a directory (`link:`, npm `link: true`, berry `portal:`)
    WORKSPACE = "workspace"  # a package of the same project


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One package version that a lockfile records as installed.

    `paths` are the places in the lockfile that record it: `node_modules/...` install paths for
    npm and bun, entry keys for yarn, pnpm and npm_ex. `aliases` are the names it is installed
    under when that differs from its real name (`npm:` aliases). `dev` / `optional` / `peer` are
    `None` when the format does not record them.
    """

    name: str
    version: str
    source: SourceKind
    aliases: tuple[str, ...] = ()
    resolved: str | None = None
    integrity: str | None = None
    dev: bool | None = None
    optional: bool | None = None
    peer: bool | None = None
    paths: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class Lockfile:
    """A parsed lockfile: its path, its format tag (e.g. `package-lock@3`) and its packages,
    de-duplicated by (name, version, source) and sorted by (name, version). `warnings` says what
    the reader read in a degraded way (an entry without a version), one line each, for the CLI
    to print; the reader itself never prints."""

    path: Path
    format: str
    packages: tuple[LockedPackage, ...]
    warnings: tuple[str, ...] = ()


class Level(StrEnum):
    """The level an item is reported at (SARIF's words): `error` fails the run, `warning` is
    shown for review, `none` is only counted."""

    ERROR = "error"
    WARNING = "warning"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One source a run consulted and how it answered.

    `location` is the URL of an online source or the path of a local one. `requests` counts HTTP
    requests (retries included); `records` is what a database or an advisory answer held;
    `asked` / `answered` / `failed` count the items a registry, insights endpoint or snapshot was
    asked about; `note` says what the numbers alone do not (e.g. "offline").
    """

    kind: str  # "osv-api", "local-db", "registry", "insights" or "snapshot"
    location: str | None = None
    requests: int = 0
    records: int | None = None
    asked: int = 0
    answered: int = 0
    failed: int = 0
    note: str | None = None

    def __post_init__(self) -> None:
        # Every renderer shows `location` and `note`: credentials in a URL stop here.
        from scorer.text import redact_urls

        if self.location is not None:
            object.__setattr__(self, "location", redact_urls(self.location))
        if self.note is not None:
            object.__setattr__(self, "note", redact_urls(self.note))

    def to_json(self) -> dict[str, Any]:
        """The JSON object reports print for this source. The two audit kinds keep the shape
        `provscore audit` has always printed (schema_version 1)."""
        if self.kind == "osv-api":
            return {
                "kind": self.kind,
                "url": self.location,
                "requests": self.requests,
                "records": self.records,
            }
        if self.kind == "local-db":
            return {"kind": self.kind, "path": self.location, "records": self.records}
        return {
            "kind": self.kind,
            "location": self.location,
            "asked": self.asked,
            "answered": self.answered,
            "failed": self.failed,
            "requests": self.requests,
            "note": self.note,
        }

    def __getitem__(self, key: str) -> Any:
        """A field of the JSON view, e.g. `source["url"]`."""
        return self.to_json()[key]


@dataclass(frozen=True, slots=True)
class Finding:
    """One incident reported for one locked package (all ids naming that incident)."""

    package: LockedPackage
    ids: tuple[str, ...]
    summary: str | None
    source: str  # "online" or "local"
    note: str | None = None
    # A name collision: the private registry the lockfile resolves this package from, while the
    # advisory is about the public registry's package of the same name.
    private_origin: str | None = None

    @property
    def subject(self) -> str:
        """What a suppression names: `name@version`."""
        return self.package.spec


@dataclass(frozen=True, slots=True)
class SuppressedFinding:
    """A finding a live suppression silenced, with the suppression that did."""

    finding: Finding
    by: Suppression


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of `provscore audit`. `level` is the level every finding is reported at
    under `policy`, and `exit_code` what the run exits with; both are decided by the policy
    engine when the report is made, so renderers only read them."""

    lockfile: Lockfile
    mode: str  # "online" or "offline"
    sources: tuple[SourceInfo, ...]
    policy: Policy
    policy_origin: str
    level: Level
    findings: tuple[Finding, ...]
    exit_code: int
    suppressed: tuple[SuppressedFinding, ...] = ()
    unused_suppressions: tuple[Suppression, ...] = ()
    expired_suppressions: tuple[Suppression, ...] = ()
    not_checked: tuple[LockedPackage, ...] = ()
    written: tuple[tuple[Path, MergeCounts], ...] = field(default=())
    # Findings on packages resolved from a private registry: name collisions, at their own level.
    collisions: tuple[Finding, ...] = ()
    collision_level: Level = Level.WARNING

    @property
    def checked(self) -> int:
        return len(self.lockfile.packages) - len(self.not_checked)


@dataclass(frozen=True, slots=True)
class Setting:
    """A resolved setting and where it came from (an option, a variable, a config file, default)."""

    value: float
    origin: str


@dataclass(frozen=True, slots=True)
class ScorerInfo:
    """Which scorer ranked a report: its kind, its name and the sha256 of its weights or model."""

    kind: str
    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class RankedPackage:
    """One locked package in a risk report: its malicious hits, its score and why, its level.

    `not_scored` says why a package has no score at all (it is not a registry package); a
    registry package whose facts are all unknown has `scored.score is None` instead."""

    package: LockedPackage
    level: Level
    malicious: tuple[Finding, ...] = ()
    scored: Scored | None = None
    row: FeatureRow | None = None
    not_scored: str | None = None
    suppressed: Suppression | None = None  # the suppression that silenced its risk flag
    reviewed: Review | None = None  # the team's review that applied to it (see scorer.reviews)
    change: Change | None = None  # --diff: how it differs from the old lockfile
    # Malicious findings a suppression silenced: shown, never silently dropped.
    suppressed_malicious: tuple[SuppressedFinding, ...] = ()
    # `report_verify`: the verification checks that failed (hard hits, beside malicious ones).
    verification: tuple[CheckResult, ...] = ()

    @property
    def score(self) -> float | None:
        return self.scored.score if self.scored is not None else None


@dataclass(frozen=True, slots=True)
class RiskReport:
    """The outcome of `provscore report`: packages in rank order, each with its level under the
    malicious and risk policies; `exit_code` is decided by the policy engine when it is made."""

    lockfile: Lockfile
    now: datetime
    scorer: ScorerInfo
    malicious_policy: Policy
    malicious_policy_origin: str
    risk_policy: Policy
    risk_policy_origin: str
    risk_warn: Setting
    risk_error: Setting
    sources: tuple[SourceInfo, ...]
    packages: tuple[RankedPackage, ...]
    exit_code: int
    suppressed_malicious_count: int = 0
    unused_suppressions: tuple[Suppression, ...] = ()
    expired_suppressions: tuple[Suppression, ...] = ()
    diff: LockDiff | None = None
    unused_reviews: tuple[Review, ...] = ()
    expired_reviews: tuple[Review, ...] = ()
    # `report_verify`: the verification policy, and where it came from; None: not verified.
    verify_policy: Policy | None = None
    verify_policy_origin: str | None = None


# -- `provscore verify` ------------------------------------------------------------------------


class Check(StrEnum):
    """The checks `provscore verify` runs on every locked registry version, in report order."""

    INTEGRITY = "integrity"  # the lockfile's integrity against the registry's dist
    SIGNATURE = "signature"  # the registry's ECDSA signature over NAME@VERSION:INTEGRITY
    PROVENANCE = "provenance"  # in-toto / Sigstore attestations for this tarball
    ORIGIN = "origin"  # the resolved URL against the registry configured for the package


class Outcome(StrEnum):
    """What one check concluded: `unverifiable` always carries why."""

    VERIFIED = "verified"
    FAILED = "failed"
    UNVERIFIABLE = "unverifiable"


class Severity(StrEnum):
    """How much a check result weighs before the policy gives it a level: `hard` (different
    bytes, a bad signature, an attestation for other bytes, a lockfile pointing elsewhere),
    `soft` (a gap that should not be there: no integrity in the lockfile, no signature from a
    registry that signs, an unknown key), `collision` (a private package sharing its name with
    a public malicious one) or `none` (nothing to report: verified, or unknown for a reason that
    is not the package's fault)."""

    HARD = "hard"
    SOFT = "soft"
    COLLISION = "collision"
    NONE = "none"


class AttestationStatus(StrEnum):
    """One attestation: `verified` (the Sigstore bundle verified against the trust root by the
    sigstore library), `consistent` (everything that could be checked agrees, but the bundle
    itself was not verified; `why` says why) or `invalid` (something checked disagrees)."""

    VERIFIED = "verified"
    CONSISTENT = "consistent but not verified"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class AttestationResult:
    """One attestation of one version: its predicate type, status, why, and what was checked."""

    predicate_type: str | None
    status: AttestationStatus
    why: str | None
    checked: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProvenanceFacts:
    """Where a version says it was built, read from its SLSA predicate and signing certificate.
    A fact that neither states is None."""

    repository: str | None = None
    ref: str | None = None
    commit: str | None = None
    workflow: str | None = None
    builder: str | None = None
    certificate_identity: str | None = None


@dataclass(frozen=True, slots=True)
class ProvenanceChange:
    """This version's provenance source against the last earlier version that had provenance.
    `changed` is True when the repository or the workflow (file, not ref) differs, False when
    neither does or there is nothing to compare, None when unknown (`detail` says why)."""

    changed: bool | None
    detail: str
    previous_version: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check of one version. `detail` says what was found (both values on a
    mismatch); `why` says why an outcome is unverifiable. `level` is set by the policy."""

    check: Check
    outcome: Outcome
    severity: Severity
    detail: str | None = None
    why: str | None = None
    level: Level = Level.NONE
    attestations: tuple[AttestationResult, ...] = ()
    provenance: ProvenanceFacts | None = None
    origins: tuple[str, ...] = ()  # a name collision: (advisory's origin, lockfile's origin)


@dataclass(frozen=True, slots=True)
class VerifiedPackage:
    """One locked registry version and the result of every check, in `Check` order."""

    package: LockedPackage
    results: tuple[CheckResult, ...]
    level: Level = Level.NONE
    collisions: tuple[Finding, ...] = ()  # malicious advisories naming this private package
    collision_level: Level = Level.NONE
    provenance_change: ProvenanceChange | None = None
    # The suppression that silenced this version's findings (its `level` is then NONE; the
    # results keep the levels the policy gave them, so what was silenced stays visible).
    suppressed: Suppression | None = None

    def result(self, check: Check) -> CheckResult | None:
        return next((r for r in self.results if r.check is check), None)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of `provscore verify`: every registry version with its check results, the
    non-registry ones it could not check, and the exit code the policy engine decided."""

    lockfile: Lockfile
    registry: str
    registry_origin: str
    policy: Policy
    policy_origin: str
    sources: tuple[SourceInfo, ...]
    packages: tuple[VerifiedPackage, ...]
    exit_code: int
    not_checked: tuple[LockedPackage, ...] = ()
    keys: tuple[str, ...] = ()  # the registry key ids used, and where they came from
    offline: bool = False
    expired_suppressions: tuple[Suppression, ...] = ()
