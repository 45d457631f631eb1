"""Publication records: the rows a mock insights server answers from.

A data file is JSON (a list of objects, or `{"records": [...]}`) or CSV with the header
`name,version,username,created,tor,tfa` (an optional `note` column marks constructed cases).
Empty or missing values are unknown (`None`), never a silent `false`: the server then answers
`null` for that field. A malformed file raises `InputError` naming the file (and the CSV line).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorer.errors import InputError, parser_limit

CSV_COLUMNS = ("name", "version", "username", "created", "tor", "tfa")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True, slots=True)
class PublicationRecord:
    """What an insights service knows about one published version."""

    name: str
    version: str
    username: str | None = None
    created: str | None = None
    tor: bool | None = None
    tfa: bool | None = None
    note: str | None = None  # set on constructed (not observed) records

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


def load_records(path: Path | str) -> dict[tuple[str, str], PublicationRecord]:
    """Read a JSON or CSV data file into records keyed by (name, version)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read publication records: {exc}") from exc
    is_csv = path.suffix.lower() == ".csv"
    rows = _csv_rows(path, text) if is_csv else _json_rows(path, text)
    records: dict[tuple[str, str], PublicationRecord] = {}
    for line, row in rows:
        record = _record(path, row, line)
        if record.key in records and records[record.key] != record:
            raise InputError(path, f"conflicting records for {record.name}@{record.version}", line)
        records[record.key] = record
    return records


def load_many(paths: Iterable[Path | str]) -> dict[tuple[str, str], PublicationRecord]:
    """Merge several data files; a (name, version) given twice with different facts is an error."""
    merged: dict[tuple[str, str], PublicationRecord] = {}
    for path in paths:
        for key, record in load_records(path).items():
            if key in merged and merged[key] != record:
                raise InputError(path, f"{key[0]}@{key[1]} conflicts with an earlier data file")
            merged[key] = record
    return merged


def _json_rows(path: Path, text: str) -> list[tuple[int | None, Mapping[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"unreadable JSON: {parser_limit(exc)}") from None
    if isinstance(doc, dict):
        doc = doc.get("records")
    if not isinstance(doc, list):
        raise InputError(path, 'expected a list of records or {"records": [...]}')
    rows: list[tuple[int | None, Mapping[str, Any]]] = []
    for index, row in enumerate(doc):
        if not isinstance(row, dict):
            raise InputError(path, f"record #{index} is not an object")
        rows.append((None, row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int | None, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("name", "version") if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"CSV header lacks {', '.join(missing)}", 1)
    rows: list[tuple[int | None, Mapping[str, Any]]] = []
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                raise InputError(path, "row has more cells than the header", reader.line_num)
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InputError(path, f"invalid CSV: {exc}", reader.line_num) from exc
    return rows


def _record(path: Path, row: Mapping[str, Any], line: int | None) -> PublicationRecord:
    def text(field: str) -> str | None:
        value = row.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise InputError(path, f"{field} must be a string, got {value!r}", line)
        return value

    def flag(field: str) -> bool | None:
        value = row.get(field)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE:
            return True
        if isinstance(value, str) and value.strip().lower() in _FALSE:
            return False
        raise InputError(path, f"{field} must be true, false or empty, got {value!r}", line)

    name, version = text("name"), text("version")
    if name is None or version is None:
        raise InputError(path, "every record needs a name and a version", line)
    return PublicationRecord(
        name=name,
        version=version,
        username=text("username"),
        created=text("created"),
        tor=flag("tor"),
        tfa=flag("tfa"),
        note=text("note"),
    )
