"""What real lockfiles written elsewhere contain and our generated fixtures lack (issue 8).

Each case reads a hand-written lockfile in the format's own syntax from
tests/fixtures/lockfiles/edge/ (README there) and says exactly what the reader must report; the
error cases are small inline files, because accepting more must not accept garbage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scorer.errors import InputError
from scorer.lockfiles import read_lockfile
from scorer.records import LockedPackage, Lockfile, SourceKind

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "tests" / "fixtures" / "lockfiles" / "edge"
COMMIT = "4dc51c92036756ee7e92e8e8736208c2f5536793"
DB = ROOT / "data" / "examples" / "npm-app" / "osv.json"  # the shipped example database (ours)
G, T, F, REG = SourceKind.GIT, SourceKind.TARBALL, SourceKind.FILE, SourceKind.REGISTRY


def read(case: str, name: str) -> Lockfile:
    return read_lockfile(EDGE / case / name)


def pkg(lock: Lockfile, name: str, version: str | None = None) -> LockedPackage:
    (found,) = [p for p in lock.packages if p.name == name and version in (None, p.version)]
    return found


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        read_lockfile(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    return info.value


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
    )


# --- 1. package-lock v2/v3 with only the legacy tree -------------------------------------------


def test_v2_without_packages_map_reads_the_dependencies_tree() -> None:
    lock = read("npm2-tree-only", "package-lock.json")
    assert lock.format == "package-lock@2"
    got = {(p.name, p.version): (p.paths, p.dev, p.optional) for p in lock.packages}
    assert got == {
        ("a", "1.0.0"): (("node_modules/a",), True, False),
        ("b", "2.0.0"): (("node_modules/b",), False, False),
        ("c", "2.0.0"): (("node_modules/c",), False, True),
        ("c", "3.1.0"): (("node_modules/b/node_modules/c",), False, False),
    }
    assert all(p.source is REG for p in lock.packages)
    assert lock.warnings == ()


@pytest.mark.parametrize("version", [2, 3])
def test_v2_v3_with_neither_map_nor_tree_is_refused(tmp_path: Path, version: int) -> None:
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps({"name": "app", "lockfileVersion": version}))
    assert "neither a packages map nor a dependencies tree" in error_of(path).problem


# --- 2. a packages entry without a version -----------------------------------------------------


def test_entry_without_version_is_a_non_registry_package_with_a_warning() -> None:
    lock = read("npm3-unversioned", "package-lock.json")
    url = f"git+ssh://git@github.com/owner/gitdep.git#{COMMIT}"
    git = pkg(lock, "gitdep")
    assert (git.version, git.source, git.resolved) == (url, G, url)
    assert pkg(lock, "a").source is REG  # everything else is still read
    (warning,) = lock.warnings
    assert warning.startswith("node_modules/gitdep: no version recorded") and url in warning


def test_entry_with_neither_version_nor_resolved_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    doc = {"lockfileVersion": 3, "packages": {"node_modules/x": {"license": "MIT"}}}
    path.write_text(json.dumps(doc))
    err = error_of(path)
    assert "node_modules/x: neither a version nor a resolved URL" in err.problem
    assert err.line == 1


def test_v1_entry_without_version_reads_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    doc = {"lockfileVersion": 1, "dependencies": {"x": {"resolved": "file:vendor/x.tgz"}}}
    path.write_text(json.dumps(doc))
    lock = read_lockfile(path)
    assert [(p.name, p.version, p.source) for p in lock.packages] == [("x", "file:vendor/x.tgz", F)]
    assert len(lock.warnings) == 1


def test_lock_list_prints_the_warning_on_stderr_with_the_file(tmp_path: Path) -> None:
    lockfile = EDGE / "npm3-unversioned" / "package-lock.json"
    result = run("lock", "list", str(lockfile), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"provscore: warning: {lockfile}: node_modules/gitdep: no version" in result.stderr
    assert "gitdep" in {p["name"] for p in json.loads(result.stdout)["packages"]}


def test_audit_prints_the_warning_on_stderr(tmp_path: Path) -> None:
    lockfile = EDGE / "npm3-unversioned" / "package-lock.json"
    result = run("audit", str(lockfile), "--db", str(DB), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"provscore: warning: {lockfile}: node_modules/gitdep: no version" in result.stderr
    json.loads(result.stdout)  # stdout stays the report alone


# --- 3. pnpm 5 keys that carry a registry host -------------------------------------------------


def test_pnpm5_keys_with_a_registry_host() -> None:
    lock = read("pnpm5-hosts", "pnpm-lock.yaml")
    assert {p.name: (p.version, p.source) for p in lock.packages} == {
        "foo": ("1.1.0", REG),
        "baz": ("1.3.0", REG),
        "bar": ("2.0.0", REG),
        "@s/q": ("1.0.0", REG),
    }
    assert pkg(lock, "@s/q").aliases == ("my-q",)  # an alias reference may carry the host too
    assert pkg(lock, "baz").paths == ("example.com/baz/1.3.0_bar@2.0.0",)


# --- 4. source classification ------------------------------------------------------------------


def test_git_spelled_every_way_npm_accepts() -> None:
    lock = read("npm3-sources", "package-lock.json")
    assert {p.name: p.source for p in lock.packages} == {
        "ssh-plain": G,
        "ssh-git": G,
        "git-proto": G,
        "gh-short": G,
        "gh-url": G,  # https://github.com/owner/repo#<commit>
        "dot-git": G,  # .../repo.git#<commit> on any host
        "gh-archive": T,  # a download path on a git host is a tarball
        "remote": T,
        "reg": REG,
        "local-tgz": F,
    }


def test_yarn1_git_and_path_specs() -> None:
    lock = read("yarn1-edge", "yarn.lock")
    sources = {p.name: p.source for p in lock.packages}
    assert sources["gh"] is G and sources["hosted"] is G
    assert sources["dotgit"] is G and sources["sshdep"] is G
    assert sources["up"] is F  # `../up` is a directory, not a `user/repo` shorthand


UNKNOWN = "ftp://example.invalid/x-1.0.0.tgz"


@pytest.mark.parametrize(
    ("name", "text", "entry"),
    [
        (
            "package-lock.json",
            json.dumps(
                {
                    "lockfileVersion": 3,
                    "packages": {"node_modules/x": {"version": "1.0.0", "resolved": UNKNOWN}},
                }
            ),
            "node_modules/x",
        ),
        (
            "package-lock.json",
            json.dumps({"lockfileVersion": 1, "dependencies": {"x": {"version": "latest"}}}),
            "node_modules/x",
        ),
        ("yarn.lock", f'# yarn lockfile v1\n\n"x@{UNKNOWN}":\n  version "1.0.0"\n', "x@ftp:"),
        (
            "yarn.lock",
            f'# yarn lockfile v1\n\nx@^1.0.0:\n  version "1.0.0"\n  resolved "{UNKNOWN}"\n',
            "x@^1.0.0",
        ),
        (
            "yarn.lock",
            f'__metadata:\n  version: 8\n\n"x@{UNKNOWN}":\n  version: 1.0.0\n'
            f'  resolution: "x@{UNKNOWN}"\n',
            "x@ftp:",
        ),
        (
            "yarn.lock",
            '__metadata:\n  version: 8\n\n"x@jsr:1.0.0":\n  version: 1.0.0\n'
            '  resolution: "x@jsr:1.0.0"\n',
            "x@jsr:1.0.0",
        ),
        (
            "pnpm-lock.yaml",
            f"lockfileVersion: '9.0'\npackages:\n  x@{UNKNOWN}:\n"
            f"    resolution: {{tarball: '{UNKNOWN}'}}\n    version: 1.0.0\n",
            "x@ftp:",
        ),
        (
            "bun.lock",
            '{"lockfileVersion": 1, "workspaces": {"": {"name": "app"}},'
            f' "packages": {{"x": ["x@{UNKNOWN}", {{}}]}}}}',
            "x",
        ),
        (
            "npm.lock",
            json.dumps(
                {
                    "lockfileVersion": 1,
                    "packages": {"x": {"version": "1.0.0", "integrity": "", "tarball": UNKNOWN}},
                }
            ),
            "x",
        ),
    ],
)
def test_unknown_scheme_is_an_input_error_naming_the_entry(
    tmp_path: Path, name: str, text: str, entry: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    err = error_of(path)
    assert "unknown source" in err.problem or "not a package source" in err.problem
    assert entry in err.problem


def test_unknown_scheme_exits_2_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    doc = {
        "lockfileVersion": 3,
        "packages": {"node_modules/x": {"version": "1.0.0", "resolved": UNKNOWN}},
    }
    path.write_text(json.dumps(doc))
    result = run("lock", "list", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{path}:1: node_modules/x: unknown source 'ftp:" in result.stderr


# --- 5. devOptional ----------------------------------------------------------------------------


def test_dev_optional_is_neither_dev_only_nor_optional_only() -> None:
    lock = read("npm3-dev-optional", "package-lock.json")
    flags = {p.name: (p.dev, p.optional) for p in lock.packages}
    assert flags == {"d": (True, False), "o": (False, True), "shared": (False, False)}


# --- 6. what npm, pnpm, yarn and bun accept besides --------------------------------------------


def test_npm_v1_from_bundled_alias_directory_and_remote_versions() -> None:
    lock = read("npm1-sources", "package-lock.json")
    got = {p.name: (p.version, p.source, p.aliases) for p in lock.packages}
    assert got == {
        "gh-short": (f"github:owner/gh-short#{COMMIT}", G, ()),
        "git-ssh": (f"git+ssh://git@example.invalid/o/git-ssh.git#{COMMIT}", G, ()),
        "dir": ("file:vendor/dir", F, ()),
        "remote": ("https://example.invalid/remote-1.0.0.tgz", T, ()),
        "a": ("1.0.0", REG, ("my-a",)),
        "sqlite": ("3.1.13", REG, ()),
        "pre-gyp": ("0.6.38", REG, ()),  # bundled: true, inside sqlite's tarball
    }
    assert pkg(lock, "pre-gyp").paths == ("node_modules/sqlite/node_modules/pre-gyp",)


def test_npm_in_bundle_extraneous_peer_and_workspace_link() -> None:
    lock = read("npm3-flags", "package-lock.json")
    got = {p.name: (p.version, p.source, p.dev, p.optional, p.peer) for p in lock.packages}
    assert got == {
        "sqlite": ("3.1.13", REG, False, False, False),
        "pre-gyp": ("0.6.38", REG, False, False, False),  # inBundle, no resolved
        "leftover": ("1.0.0", REG, False, False, False),  # extraneous is still on disk
        "react": ("18.3.1", REG, False, False, True),
        "ws-a": ("1.0.0", SourceKind.WORKSPACE, False, False, False),
    }


def test_npm_link_without_target_is_refused_as_npm_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    doc = {"lockfileVersion": 3, "packages": {"node_modules/x": {"link": True}}}
    path.write_text(json.dumps(doc))
    assert "link without a resolved target" in error_of(path).problem


def test_pnpm6_peer_and_patch_suffixes_and_tarball_resolutions() -> None:
    lock = read("pnpm6-peers", "pnpm-lock.yaml")
    assert {p.name: (p.version, p.source) for p in lock.packages} == {
        "@s/ui": ("1.0.0", REG),
        "left-pad": ("1.3.0", REG),
        "react": ("18.3.1", REG),
        "react-dom": ("18.3.1", REG),
        "gh": ("2.0.0", G),  # codeload tarball of a commit
        "local": ("1.0.0", F),  # `tarball: file:...`
    }
    assert pkg(lock, "local").resolved == "file:vendor/local-1.0.0.tgz"


def test_pnpm9_nested_peers_patch_hash_runtime_and_remote_tarball() -> None:
    lock = read("pnpm9-edge", "pnpm-lock.yaml")
    got = {p.name: (p.version, p.source, p.dev) for p in lock.packages}
    assert got == {
        "@s/ui": ("1.0.0", REG, False),
        "@s/theme": ("2.0.0", REG, False),  # reached only through a nested peer suffix
        "left-pad": ("1.3.0", REG, False),
        "react": ("18.3.1", REG, False),
        "remote": ("1.0.0", T, False),
        "node": ("runtime:24.4.1", T, True),  # a platform binary, never a registry package
    }
    assert pkg(lock, "@s/ui").paths == ("@s/ui@1.0.0(@s/theme@2.0.0(react@18.3.1))(react@18.3.1)",)


def test_pnpm_unknown_resolution_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pnpm-lock.yaml"
    path.write_text(
        "lockfileVersion: '9.0'\npackages:\n  x@1.0.0:\n    resolution: {type: custom, id: x}\n"
    )
    err = error_of(path)
    assert "x@1.0.0: unknown resolution type 'custom'" in err.problem and err.line == 3


def test_yarn1_several_specs_quoted_and_bare_in_one_header() -> None:
    lock = read("yarn1-edge", "yarn.lock")
    a = pkg(lock, "@s/a")
    assert (a.version, a.source) == ("1.1.2", REG)
    assert a.paths == ("@s/a@^1.0.0, @s/a@^1.1.0, @s/a@~1.1.0",)
    b = pkg(lock, "b")
    assert b.aliases == ("alias", "other-alias")
    assert len(b.paths) == 2


def test_yarn1_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "yarn.lock"
    text = (EDGE / "yarn1-edge" / "yarn.lock").read_text()
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert read_lockfile(path).packages == read("yarn1-edge", "yarn.lock").packages


def test_berry_params_patch_virtual_and_git_locators() -> None:
    lock = read("berry-edge", "yarn.lock")
    assert {p.name: (p.version, p.source) for p in lock.packages} == {
        "@s/a": ("1.0.0", REG),  # npm: with ::__archiveUrl=
        "@s/p": ("1.0.0", REG),  # the package and its patch: the same name@version
        "gp": ("1.0.0", G),  # a patch of a git dependency
        "sshdep": ("1.0.0", G),
        "b": ("2.0.0", REG),
        "react-x": ("3.0.0", REG),  # virtual: of an npm: package
    }
    assert pkg(lock, "b").aliases == ("my-b",)


def test_bun_tuples_with_extra_fields_and_git_refs() -> None:
    lock = read("bun-edge", "bun.lock")
    got = {p.name: (p.version, p.source, p.integrity) for p in lock.packages}
    assert got == {
        "a": ("1.0.0", REG, "sha512-AAAA"),
        "sshdep": (f"git+ssh://git@example.invalid/owner/sshdep.git#{COMMIT}", G, None),
        "gh": (f"github:owner/gh#{COMMIT}", G, None),
        "up": ("file:../up", F, None),
    }


def test_bun_comments_keep_line_numbers_and_garbage_stays_refused(tmp_path: Path) -> None:
    path = tmp_path / "bun.lock"
    path.write_text(
        '{\n  "lockfileVersion": 1,\n  /* a\n  long\n  comment */\n'
        '  "packages": {"x": ["x@1.0.0", "", {}, "sha512-X"], "y": 7},\n}\n'
    )
    err = error_of(path)
    assert "'y' is not" in err.problem and err.line == 6
    path.write_text('{"lockfileVersion": 1, /* never closed\n "packages": {}}\n')
    assert "not valid JSON" in error_of(path).problem
