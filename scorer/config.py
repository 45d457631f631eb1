"""Project configuration: `[tool.provscore]` in pyproject.toml, or a provscore.toml.

The first directory, from the lockfile's own upwards, that holds a `provscore.toml` or a
pyproject.toml with a `[tool.provscore]` table is the project. Keys are checked strictly: a
misspelt `compromised_polcy` must be an error, not a gate that silently falls back to defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from scorer.errors import ConfigError, InputError
from scorer.suppressions import Suppression

KNOWN_KEYS = frozenset(
    {"compromised_policy", "compromised_db", "osv_url", "suppress", "insights_url", "registry"}
)
SUPPRESSION_KEYS = frozenset({"id", "package", "reason", "until"})


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # None: no configuration file found
    values: dict[str, Any] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()

    def get(self, key: str) -> Any:
        return self.values.get(key)


def find_config(start: Path) -> Config:
    directory = start.resolve()
    for folder in (directory, *directory.parents):
        own = folder / "provscore.toml"
        if own.is_file():
            return _parse(own, _load(own))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _load(pyproject).get("tool", {}).get("provscore")
            if table is not None:
                return _parse(pyproject, table, "[tool.provscore] ")
    return Config()


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read: {exc}") from None


def _parse(path: Path, table: object, where: str = "") -> Config:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where}is not a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: {where}unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    for key in KNOWN_KEYS - {"suppress"}:
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{path}: {where}{key} must be a string")
    raw = table.get("suppress", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: {where}suppress must be an array of tables")
    suppressions = tuple(_suppression(path, i, entry) for i, entry in enumerate(raw))
    values = {k: v for k, v in table.items() if k != "suppress"}
    return Config(path=path, values=values, suppressions=suppressions)


def _suppression(path: Path, index: int, entry: object) -> Suppression:
    at = f"{path}: suppress[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{at} is not a table")
    unknown = sorted(set(entry) - SUPPRESSION_KEYS)
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) {', '.join(unknown)}")
    ident, package, reason, until = (entry.get(k) for k in ("id", "package", "reason", "until"))
    if (ident is None) == (package is None):
        raise ConfigError(f"{at}: give exactly one of id or package (name@version)")
    for key, value in (("id", ident), ("package", package)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{at}: {key} must be a non-empty string")
    if isinstance(package, str) and "@" not in package[1:]:
        raise ConfigError(f"{at}: package must be name@version, got {package!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{at}: a reason is required")
    if until is not None and not isinstance(until, date):
        try:
            until = date.fromisoformat(str(until))
        except ValueError:
            raise ConfigError(f"{at}: until must be a date (YYYY-MM-DD), got {until!r}") from None
    return Suppression(reason=reason.strip(), id=ident, package=package, until=until)
