"""Where the third-party test data lives: the one place tests and benchmarks look for it.

Real advisory records (OpenSSF Malicious Packages, GitHub Advisory Database) and real registry
documents (npm CLI and pacote test fixtures) are not copied into this repository; they stay in
`../shared/data` beside the checkout (every developer machine and CI have it), or wherever
`PROVSCORE_SHARED_DATA` points. On a fresh clone without it, every test that needs it skips with
the one reason below and everything else runs. CI sets `PROVSCORE_REQUIRE_SHARED_DATA=1`, which
turns that skip into a failure, so CI cannot pass without having run them.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "PROVSCORE_SHARED_DATA"
REQUIRE_ENV = "PROVSCORE_REQUIRE_SHARED_DATA"
ROOT = Path(__file__).resolve().parents[1]

# The parts of the shared directory that tests read, relative to it.
MAL_NPM = "osv-mal-npm"  # OpenSSF Malicious Packages records (OSV), repository paths kept
GHSA_NPM = "ghsa-malware-npm"  # GitHub Advisory Database malware records (OSV)
PACKUMENTS = "packuments"
REGISTRY_MOCKS = "packuments/npm-cli-registry-mocks"  # npm/cli registry mocks, one per name
NPM_CLI_MOCKS = "packuments/npm-cli/workspaces/arborist/test/fixtures/registry-mocks/content"
PACOTE_FIXTURES = "packuments/npm-pacote/test/fixtures"
INCIDENTS = "npm-incidents.md"
NPM_SIGNATURES = "npm-signatures"  # npm registry keys, signatures and attestations


class SharedDataMissing(Exception):
    """The shared data directory, or a part of it a caller needs, is not there."""


def location() -> Path:
    """The shared data directory: $PROVSCORE_SHARED_DATA, else ../shared/data beside the checkout.
    It may not exist."""
    configured = os.environ.get(ENV)
    return Path(configured) if configured else ROOT.parent / "shared" / "data"


def _present(root: Path) -> bool:
    return root.is_dir() and any(root.iterdir())


def find(*parts: str) -> Path:
    """`location() / parts`, raising SharedDataMissing when it is not there.

    The whole directory missing (or empty) is the expected case on a fresh clone: one message for
    every caller. The directory present with a part missing means a broken copy: a message naming
    the part."""
    root = location()
    if not _present(root):
        raise SharedDataMissing(
            f"third-party test data not found at {root} "
            f"(the shared data beside the checkout; set {ENV} to its directory)"
        )
    path = root.joinpath(*parts)
    if not path.exists():
        raise SharedDataMissing(f"{path} not found: the shared data at {root} is incomplete")
    return path


def require(*parts: str) -> Path:
    """`find(*parts)` for tests: skip when the shared data is absent; fail instead when
    $PROVSCORE_REQUIRE_SHARED_DATA is set (CI), or when the directory is there but incomplete."""
    import pytest  # here, not at the top: benchmarks use this module without pytest

    try:
        return find(*parts)
    except SharedDataMissing as exc:
        if _present(location()):
            pytest.fail(str(exc), pytrace=False)
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{exc}; {REQUIRE_ENV} is set, so this fails instead of skipping", False)
        pytest.skip(str(exc))


def for_script(*parts: str) -> Path:
    """`find(*parts)` for benchmarks and scripts: exit with the message instead of a traceback."""
    try:
        return find(*parts)
    except SharedDataMissing as exc:
        raise SystemExit(str(exc)) from None
