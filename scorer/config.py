"""Project configuration: `[tool.provscore]` in pyproject.toml, or a provscore.toml.

The first directory, from the lockfile's own upwards, that holds a `provscore.toml` or a
pyproject.toml with a `[tool.provscore]` table is the project. Keys are checked strictly: a
misspelt `compromised_polcy` must be an error, not a gate that silently falls back to defaults.
Each known key has a type (`KEYS`); a value of the wrong type is an error naming the file, the
key and the type expected, and `Config`'s typed getters hand out only checked values.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from scorer.errors import ConfigError, InputError, parser_limit
from scorer.suppressions import Suppression


class Kind(Enum):
    STR = "a string"
    PATH = "a path (string)"
    BOOL = "true or false"
    PERCENT = "a number from 0 to 100"
    NON_NEGATIVE = "a number >= 0"
    STR_LIST = "an array of strings"


# Every key of [tool.provscore] / provscore.toml but `suppress` (an array of tables), by type.
KEYS: dict[str, Kind] = {
    "compromised_policy": Kind.STR,
    "compromised_db": Kind.PATH,
    "osv_url": Kind.STR,
    "insights_url": Kind.STR,
    "registry": Kind.STR,
    "risk_policy": Kind.STR,
    "risk_warn": Kind.PERCENT,
    "risk_error": Kind.PERCENT,
    "cooldown_days": Kind.NON_NEGATIVE,
    "weights": Kind.PATH,
    "scorer": Kind.STR,
    "model": Kind.PATH,
    "snapshot": Kind.PATH,
    "offline": Kind.BOOL,
    "cache_dir": Kind.PATH,
    "reviews": Kind.PATH,
    "verify_policy": Kind.STR,
    # Hosts besides the package's registry that may serve its tarballs (a CDN, a mirror).
    "verify_allowed_hosts": Kind.STR_LIST,
    # Registry signing keys pinned in a file shaped like /-/npm/v1/keys: not fetched then.
    "verify_keys": Kind.PATH,
    # Registries whose packages are private (besides .npmrc scope registries): a malicious
    # advisory matching a package resolved from one is a name collision.
    "private_registries": Kind.STR_LIST,
    # `report` also runs `verify`'s checks: failed ones are hard hits, provenance facts features.
    "report_verify": Kind.BOOL,
    "timeout": Kind.NON_NEGATIVE,
}
KNOWN_KEYS = frozenset({*KEYS, "suppress"})
SUPPRESSION_KEYS = frozenset({"id", "package", "reason", "until"})


@dataclass(frozen=True, slots=True)
class Config:
    """The project configuration: its file (None when there is none), its checked values and
    its suppressions. Read values through the typed getters; an unset key is None."""

    path: Path | None = None  # None: no configuration file found
    values: dict[str, Any] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()

    def _value(self, key: str, *kinds: Kind) -> Any:
        # Asking for a key by the wrong type is a bug in provscore, not in the user's file.
        if KEYS.get(key) not in kinds:
            raise KeyError(f"config key {key!r} is not {' or '.join(k.value for k in kinds)}")
        return self.values.get(key)

    def get_str(self, key: str) -> str | None:
        """A string key (a path key too, as written)."""
        value: str | None = self._value(key, Kind.STR, Kind.PATH)
        return value

    def get_number(self, key: str) -> float | None:
        """A number key, as a float (TOML integers too)."""
        value = self._value(key, Kind.PERCENT, Kind.NON_NEGATIVE)
        return None if value is None else float(value)

    def get_str_list(self, key: str) -> tuple[str, ...]:
        """An array-of-strings key; unset is empty."""
        value: list[str] | None = self._value(key, Kind.STR_LIST)
        return tuple(value or ())

    def get_bool(self, key: str) -> bool | None:
        value: bool | None = self._value(key, Kind.BOOL)
        return value

    def get_path(self, key: str) -> Path | None:
        """A path key, `~` expanded, relative paths taken from the configuration file's
        directory (where the user wrote them), not from the working directory."""
        value = self._value(key, Kind.PATH)
        if value is None:
            return None
        try:
            path = Path(value).expanduser()
        except RuntimeError:  # "~name" of no user here, or "~" with no home directory
            raise ConfigError(
                f"{self.path}: {key} {value[:120]!r} starts with a ~ that names no home directory"
            ) from None
        return path if self.path is None else self.path.parent / path


def find_config(start: Path) -> Config:
    """The project configuration at or above `start`. Found from a relative `start`, its path
    (and every path key resolved against it) is relative to the working directory too, so
    reports print paths as the user gave them, not this machine's absolute layout."""
    directory = start.resolve()

    def shown(path: Path) -> Path:
        return path if start.is_absolute() else Path(os.path.relpath(path))

    for folder in (directory, *directory.parents):
        own = folder / "provscore.toml"
        if own.is_file():
            return _parse(shown(own), _load(own))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            tool = _load(pyproject).get("tool", {})
            if not isinstance(tool, dict):  # `tool = "x"`: no tool could keep settings there
                raise ConfigError(f"{shown(pyproject)}: tool is {_toml_type(tool)}, not a table")
            table = tool.get("provscore")
            if table is not None:
                return _parse(shown(pyproject), table, "[tool.provscore] ")
    return Config()


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"unreadable TOML: {parser_limit(exc)}") from None
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
    for key, kind in KEYS.items():
        if key in table and not _fits(table[key], kind):
            raise ConfigError(
                f"{path}: {where}{key} must be {kind.value}, got {_toml_type(table[key])} "
                f"{table[key]!r}"
            )
    raw = table.get("suppress", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: {where}suppress must be an array of tables")
    suppressions = tuple(_suppression(path, i, entry) for i, entry in enumerate(raw))
    values = {k: v for k, v in table.items() if k != "suppress"}
    return Config(path=path, values=values, suppressions=suppressions)


def _fits(value: object, kind: Kind) -> bool:
    if kind in (Kind.STR, Kind.PATH):
        return isinstance(value, str)
    if kind is Kind.BOOL:
        return isinstance(value, bool)
    if kind is Kind.STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    # TOML booleans are not numbers, although Python's bool is an int; nan and inf are out.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return 0 <= value <= 100 if kind is Kind.PERCENT else value >= 0


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return "date/time"


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


TIMEOUT_ENV = "PROVSCORE_TIMEOUT"


def resolve_timeout(
    option: float | None, env: Mapping[str, str], config: Config, default: float
) -> tuple[float, str]:
    """The run's budget in seconds for network work, and where it came from: `--timeout`, then
    PROVSCORE_TIMEOUT, then config `timeout`, then `default`. It must be above 0."""
    raw = env.get(TIMEOUT_ENV)
    if option is not None:
        value, origin = float(option), "--timeout"
    elif raw:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(
                f"{TIMEOUT_ENV} must be a number of seconds, got {raw[:40]!r}"
            ) from None
        origin = TIMEOUT_ENV
    elif (configured := config.get_number("timeout")) is not None:
        value, origin = configured, f"{config.path} timeout"
    else:
        value, origin = default, "default"
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(
            f"{origin}: the timeout must be a number of seconds above 0, got {value:g}"
        )
    return value, origin
