"""Golden files: `assert_golden(name, text)` compares `text` with tests/golden/<name> byte for
byte and shows a unified diff on mismatch; with `UPDATE_GOLDEN=1` it rewrites the file instead."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, not text mode: no newline translation, so the file is exactly what was rendered.
        path.write_bytes(text.encode("utf-8"))
        return
    if not path.is_file():
        raise AssertionError(f"{path} is missing; run with UPDATE_GOLDEN=1 to create it")
    expected = path.read_bytes().decode("utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="rendered",
            )
        )
        raise AssertionError(
            f"{name} differs from its golden file (UPDATE_GOLDEN=1 regenerates it):\n{diff}"
        )
