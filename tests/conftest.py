"""Fixtures for the third-party data that stays outside the repository (tests/shared_data.py),
and the CI guard against skipped tests.

`shared_data_dir` skips a test where the shared data is absent (a fresh clone) and fails it
instead under PROVSCORE_REQUIRE_SHARED_DATA=1 (helpers such as osv_fixtures.database_tree and
insights_fixtures.real do the same through shared_data.require). Under PROVSCORE_FORBID_SKIPS=1
(.ci/run sets both) a run that skipped any test, for whatever reason, ends as failed and lists
them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import shared_data

FORBID_SKIPS = "PROVSCORE_FORBID_SKIPS"
_skipped: list[str] = []


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared third-party data directory (../shared/data or $PROVSCORE_SHARED_DATA)."""
    return shared_data.require()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get(FORBID_SKIPS, "") not in ("", "0"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped and os.environ.get(FORBID_SKIPS, "") not in ("", "0"):
        terminalreporter.section(f"{FORBID_SKIPS} is set: skipped tests fail the run")
        for nodeid in _skipped:
            terminalreporter.line(f"skipped: {nodeid}")
