"""The `--format` choices, one StrEnum per command, that typer validates.

Kept apart from the renderer tables (`report.audit`, `report.publication`, `report.lockfile`)
so the command line can declare its options without importing any renderer: a command loads
only the table it renders with.
"""

from __future__ import annotations

from enum import StrEnum


class AuditFormat(StrEnum):
    """`provscore audit --format`."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


class PublicationFormat(StrEnum):
    """`provscore insights show --format`."""

    TEXT = "text"
    JSON = "json"


class ListFormat(StrEnum):
    """`provscore lock list --format`."""

    TEXT = "text"
    JSON = "json"


class ReportFormat(StrEnum):
    """`provscore report --format`."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"
    HTML = "html"


class VerifyFormat(StrEnum):
    """`provscore verify --format`."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"
