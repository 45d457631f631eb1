"""Running `provscore report` as a user does, for golden and validation tests: a subprocess of
this interpreter, from the repository root (so paths in the report are relative and stable),
HOME a fresh directory and no provscore or npm settings inherited from the environment.

`EXAMPLE` is the README's first command on the shipped example; `DIFF` is a `--diff` run on the
npm lockfile pair made by the real npm (tests/fixtures/diff/npm), reading the example's database
and snapshot offline so that it needs no network."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-30T12:00:00Z"
EXAMPLE_LOCK = "data/examples/npm-app/package-lock.json"
EXAMPLE = [EXAMPLE_LOCK, "--now", NOW]
DIFF_BEFORE = "tests/fixtures/diff/npm/before/package-lock.json"
DIFF_AFTER = "tests/fixtures/diff/npm/after/package-lock.json"
DIFF = [
    DIFF_AFTER,
    "--diff",
    DIFF_BEFORE,
    "--now",
    NOW,
    "--db",
    "data/examples/npm-app/osv.json",
    "--snapshot",
    "data/examples/npm-app/snapshot",
    "--offline",
]
FORMATS = ("text", "json", "sarif", "markdown", "html")


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stdout: str
    stderr: str


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without anything that changes what provscore reads."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("PROVSCORE_", "NPM_CONFIG_")) and k not in ("COLUMNS",)
    }
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT)}


def report(args: list[str], home: Path, *, cwd: Path = ROOT) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", "scorer", "report", *args],
        cwd=cwd,
        env=clean_env(home),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=300,
    )
    return Run(result.returncode, result.stdout, result.stderr)


def report_as(args: list[str], fmt: str, home: Path) -> Run:
    """The report in `fmt`. JSON goes through `--output` (indented, as people read it; stdout
    to a pipe is compact), every other format is what stdout receives."""
    if fmt != "json":
        return report([*args, "--format", fmt], home)
    out = home / "report.json"
    run = report([*args, "--format", "json", "--output", str(out)], home)
    return Run(run.code, out.read_text(encoding="utf-8") if out.exists() else "", run.stderr)


def at_root(text: str) -> str:
    """`text` with this checkout's absolute path written `<root>`: the example's config gives
    its database and snapshot as paths relative to itself, which the report prints resolved."""
    return text.replace(str(ROOT), "<root>")
