"""The wheel holds everything the commands need; the installed package runs without the checkout.

A non-editable `pip install` only gets what pyproject.toml lists. These tests build the wheel with
the project's real build backend, check it against the source tree (every subpackage, the package
data each command reads, the shipped model and its cards) and run `report --scorer trained` from
the unpacked wheel in a directory outside the checkout, so nothing is found through the source tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "npm-app"
_NOT_SOURCE = (".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: pip builds in the source directory, and a build/ left there by an
    # earlier build would hand stale files to this one.
    source = tmp_path_factory.mktemp("source") / "provscore"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("provscore-*.whl")
    return built


def _source_packages() -> set[str]:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "scorer").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    return found | {"scorer.models"}


def test_the_wheel_holds_every_package_and_the_data_the_commands_read(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert packages == _source_packages()
    templates = {p.name for p in (ROOT / "scorer" / "report" / "templates").iterdir()}
    needed = {
        "scorer/py.typed",
        "scorer/weights.toml",
        "scorer/insights/schema.graphql",
        *(f"scorer/report/templates/{t}" for t in templates),
        *(f"scorer/models/{p.name}" for p in (ROOT / "models").glob("*.*") if p.suffix != ".py"),
    }
    assert "scorer/models/provscore-trained.json" in needed
    assert needed <= names, sorted(needed - names)


def test_report_with_the_trained_scorer_runs_from_the_installed_wheel(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import scorer.scoring as s; print(s.DEFAULT_MODEL)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    model = Path(probe.stdout.strip())
    assert model.is_relative_to(site), model
    assert model.read_bytes() == (ROOT / "models" / "provscore-trained.json").read_bytes()

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scorer",
            "report",
            str(EXAMPLE / "package-lock.json"),
            "--scorer",
            "trained",
            "--format",
            "json",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["scorer"]["kind"] == "trained"
    assert report["scorer"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
