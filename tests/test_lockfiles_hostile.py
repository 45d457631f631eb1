"""Hostile and broken lockfiles: every one is an `InputError` naming the file, never a crash.

The property tests start from real lockfiles (tests/fixtures/lockfiles/*-tiny) and damage them:
cut them short, splice in random text, or swap values for values of other JSON types.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorer.errors import InputError
from scorer.lockfiles import read_lockfile
from scorer.lockfiles.bun import strip_trailing_commas

FIXTURES = Path(__file__).parent / "fixtures" / "lockfiles"
TINY = {
    "package-lock.json": FIXTURES / "npm3-tiny" / "package-lock.json",
    "npm-shrinkwrap.json": FIXTURES / "shrinkwrap-tiny" / "npm-shrinkwrap.json",
    "yarn.lock": FIXTURES / "yarn1-tiny" / "yarn.lock",
    "pnpm-lock.yaml": FIXTURES / "pnpm9-tiny" / "pnpm-lock.yaml",
    "bun.lock": FIXTURES / "bun-tiny" / "bun.lock",
}
BERRY = FIXTURES / "berry-tiny" / "yarn.lock"
V1 = FIXTURES / "npm1-tiny" / "package-lock.json"
PNPM5 = FIXTURES / "pnpm5-tiny" / "pnpm-lock.yaml"


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        read_lockfile(path)
    err = info.value
    assert str(path) in str(err)
    assert "\n" not in str(err)
    return err


@pytest.mark.parametrize("name", [*sorted(TINY), "npm.lock"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    assert "empty" in error_of(write(tmp_path, name, "  \n")).problem


@pytest.mark.parametrize("name", sorted(TINY))
def test_truncated_real_file_names_the_line(tmp_path: Path, name: str) -> None:
    text = TINY[name].read_text()
    cut = text[: len(text) * 2 // 3].rstrip()
    cut = cut[: cut.rfind("\n")] + '\n  "unterminated' if name.endswith((".json", ".lock")) else cut
    path = write(tmp_path, name, cut)
    try:
        read_lockfile(path)
    except InputError as err:
        assert str(path) in str(err)
        return
    # YAML cut at a line boundary can still be a valid, shorter document: that is not an error.
    assert name == "pnpm-lock.yaml"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("package-lock.json", "yarn.lock"),
        ("yarn.lock", "package-lock.json"),
        ("pnpm-lock.yaml", "bun.lock"),
        ("bun.lock", "pnpm-lock.yaml"),
    ],
)
def test_wrong_format_under_a_right_name(tmp_path: Path, name: str, source: str) -> None:
    err = error_of(write(tmp_path, name, TINY[source].read_text()))
    assert "looks like" in err.problem or "not valid" in err.problem or "expected" in err.problem


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("package-lock.json", '{"lockfileVersion": 4, "packages": {}}', "lockfileVersion 4"),
        ("package-lock.json", '{"name": "x", "packages": {}}', "lockfileVersion None"),
        ("pnpm-lock.yaml", "lockfileVersion: '10.0'\n", "'10.0'"),
        ("pnpm-lock.yaml", "lockfileVersion: 4.0\n", "4.0"),
        ("yarn.lock", "__metadata:\n  version: 99\n", "version 99"),
        ("bun.lock", '{"lockfileVersion": 7, "packages": {},}', "lockfileVersion 7"),
        ("npm.lock", '{"lockfileVersion": 2, "packages": {}}', "lockfileVersion 2"),
    ],
)
def test_unknown_lockfile_version(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    err = error_of(write(tmp_path, name, text))
    assert "unsupported" in err.problem and fragment in err.problem


def test_binary_file(tmp_path: Path) -> None:
    assert "binary" in error_of(write(tmp_path, "package-lock.json", b"\x00\x01\x02" * 50)).problem


def test_bun_lockb_says_how_to_convert(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "bun.lockb", b"#!/usr/bin/env bun\nbun-lockfile-format-v0\x00"))
    assert "bun install --save-text-lockfile" in err.problem


def test_not_utf8(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "yarn.lock", b"# yarn lockfile v1\n\nfoo@^1:\n  version \xff\n"))
    assert "UTF-8" in err.problem and err.line == 4


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    with path.open("wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: nothing is written or read
    assert "over the 100 MB limit" in error_of(path).problem


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "package-lock.json").mkdir()
    assert "directory" in error_of(tmp_path / "package-lock.json").problem


def test_deeply_nested_v1_tree(tmp_path: Path) -> None:
    depth = 100_000
    text = (
        '{"lockfileVersion": 1, "dependencies": '
        + '{"a": {"version": "1.0.0", "dependencies": ' * depth
    )
    text += "{}" + "}}" * depth + "}"
    assert "nested too deeply" in error_of(write(tmp_path, "package-lock.json", text)).problem


def test_nested_v1_tree_within_reason_is_read(tmp_path: Path) -> None:
    depth = 300
    text = (
        '{"lockfileVersion": 1, "dependencies": '
        + '{"a": {"version": "1.0.0", "dependencies": ' * depth
    )
    text += "{}" + "}}" * depth + "}"
    lock = read_lockfile(write(tmp_path, "package-lock.json", text))
    (pkg,) = lock.packages
    assert len(pkg.paths) == depth
    assert max(len(p) for p in pkg.paths) == len("node_modules/a") * depth + (depth - 1)


@pytest.mark.parametrize(
    "bad",
    [
        "evil\u001b[31m",
        "a\nb",
        "a b",
        ".hidden",
        "_under",
        "UP\u202eCASE",
        "x" * 215,
        "@/x",
        "@scope/",
        "",
    ],
)
def test_invalid_names(tmp_path: Path, bad: str) -> None:
    doc = {"lockfileVersion": 3, "packages": {f"node_modules/{bad}": {"version": "1.0.0"}}}
    err = error_of(write(tmp_path, "package-lock.json", json.dumps(doc)))
    assert "name" in err.problem
    assert "\u001b" not in str(err)


@pytest.mark.parametrize(
    "bad", ["1.0", "1.0.0\u0007", "01.0.0", "1.0.0-", "latest", "1.0.0 || 2", 7]
)
def test_invalid_registry_versions(tmp_path: Path, bad: object) -> None:
    doc = {"lockfileVersion": 3, "packages": {"node_modules/a": {"version": bad}}}
    err = error_of(write(tmp_path, "package-lock.json", json.dumps(doc)))
    assert "version" in err.problem
    assert err.line == 1


def test_yarn_error_names_the_line(tmp_path: Path) -> None:
    text = (
        '# yarn lockfile v1\n\n\nok@^1.0.0:\n  version "1.0.0"\n\n'
        '"bad\\u0007@^1":\n  version "1.0.0"\n'
    )
    err = error_of(write(tmp_path, "yarn.lock", text))
    assert err.line == 7


def test_yaml_anchors_are_refused(tmp_path: Path) -> None:
    text = "lockfileVersion: '9.0'\nx: &a [1, 2]\ny: [*a, *a]\n"
    assert "anchors" in error_of(write(tmp_path, "pnpm-lock.yaml", text)).problem


# --- property tests on damaged real files ------------------------------------------------------

REAL = [(name, path.read_text()) for name, path in TINY.items()] + [
    ("yarn.lock", BERRY.read_text()),
    ("package-lock.json", V1.read_text()),
    ("pnpm-lock.yaml", PNPM5.read_text()),
]


def _check(tmp: Path, name: str, content: str) -> None:
    path = write(tmp, name, content)
    try:
        read_lockfile(path)
    except InputError as err:
        assert str(path) in str(err)
        assert "\n" not in str(err)


PROFILE = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROFILE
@given(st.sampled_from(REAL), st.data())
def test_spliced_garbage_never_crashes(
    tmp_path: Path, real: tuple[str, str], data: st.DataObject
) -> None:
    name, text = real
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 40))
    junk = data.draw(st.text(max_size=20))
    _check(tmp_path, name, text[:at] + junk + text[at + cut :])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _replace_values(value: object, draw: st.DataObject, depth: int = 0) -> object:
    if isinstance(value, dict):
        return {k: _replace_values(v, draw, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_values(v, draw, depth + 1) for v in value]
    if draw.draw(st.integers(0, 30)) == 0:
        return draw.draw(JSON_VALUES)
    return value


@PROFILE
@given(st.sampled_from(["package-lock.json", "npm.lock"]), st.booleans(), st.data())
def test_json_values_of_the_wrong_type_never_crash(
    tmp_path: Path, name: str, v1: bool, data: st.DataObject
) -> None:
    source = V1 if v1 else TINY["package-lock.json"]
    doc = json.loads(source.read_text())
    if name == "npm.lock":
        doc = {
            "lockfileVersion": 1,
            "packages": {
                k.rsplit("node_modules/", 1)[-1]: v for k, v in doc.get("packages", {}).items() if k
            },
        }
    _check(tmp_path, name, json.dumps(_replace_values(doc, data)))


@PROFILE
@given(
    st.sampled_from(
        [
            ("pnpm-lock.yaml", TINY["pnpm-lock.yaml"]),
            ("pnpm-lock.yaml", PNPM5),
            ("yarn.lock", BERRY),
            ("bun.lock", TINY["bun.lock"]),
        ]
    ),
    st.data(),
)
def test_structured_values_of_the_wrong_type_never_crash(
    tmp_path: Path, case: tuple[str, Path], data: st.DataObject
) -> None:
    name, source = case
    if name == "bun.lock":
        doc = json.loads(strip_trailing_commas(source.read_text()))
        _check(tmp_path, name, json.dumps(_replace_values(doc, data)))
    else:
        doc = yaml.safe_load(source.read_text())
        _check(tmp_path, name, yaml.safe_dump(_replace_values(doc, data)))


def test_real_fixture_copies_still_read(tmp_path: Path) -> None:
    for name, path in TINY.items():
        shutil.copy(path, tmp_path / name)
        assert read_lockfile(tmp_path / name).packages
