"""The one exception tree of provscore.

A package that cannot be checked is *data* (a skip with a reason) and never raises. A run that
cannot proceed raises a `ProvscoreError`; the CLI turns it into a one-line message and the
exit code the class carries, in one place (`scorer.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path


class ProvscoreError(Exception):
    """A run cannot proceed. `exit_code` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ProvscoreError):
    """A file given to provscore is missing, unreadable or malformed (exit 2).

    The message always names the file, and the line when the format has lines.
    """

    exit_code = 2

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        # One line, always: parser messages (YAML's especially) may span several.
        self.problem = " ".join(problem.split())
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {self.problem}")


class ConfigError(ProvscoreError):
    """An option, environment variable or configuration value is invalid (exit 2)."""

    exit_code = 2


class SourceUnreachable(ProvscoreError):
    """A required remote source could not be queried after retries: fail closed (exit 3)."""

    exit_code = 3


def parser_limit(exc: RecursionError | ValueError) -> str:
    """What Python's own guards refused while a parser read an input, in words for an
    InputError: nesting deeper than the stack (RecursionError), or an integer of more digits
    than Python converts (a ValueError; a denial-of-service guard). Else the error's message."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):
        return f"holds a number with more than {sys.get_int_max_str_digits():,} digits"
    return str(exc)
