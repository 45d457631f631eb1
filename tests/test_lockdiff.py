"""`diff_lockfiles`: what a lockfile change brings in, against the package managers' own view.

tests/fixtures/diff/<manager>/{before,after}/ are one project before and after an upgrade (debug
^2 -> ^3 while debug 4 stays under https-proxy-agent, p-limit added, is-number removed), locked
by each real manager; `expected.json` beside them is the change set computed from the managers'
own listings by collect_expected.py (tests/fixtures/diff/NOTES.md). Our diff must agree with it
exactly: these pairs hold only registry packages for every platform, so none of the explained
differences of tests/test_lockfiles_real.py arises. Every manager resolved the same versions, so
a diff across managers (a format migration made with the real tools) is checked too, against the
change set of the two managers' listings. The hand-made cases cover what the pairs cannot: git
commits, source kinds, an empty old lockfile.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scorer.lockdiff import Change, LockDiff, diff_lockfiles
from scorer.lockfiles import LOCKFILE_NAMES, read_lockfile
from scorer.records import LockedPackage, Lockfile, SourceKind

DIFF = Path(__file__).parent / "fixtures" / "diff"
LOCKFILES = Path(__file__).parent / "fixtures" / "lockfiles"
MANAGERS = sorted(p.parent.name for p in DIFF.glob("*/expected.json"))
SHA_A = "4dc51c92036756ee7e92e8e8736208c2f5536793"
SHA_B = "0123456789abcdef0123456789abcdef01234567"
GIT = "git://127.0.0.1:9418/gitdep.git"


def _collector() -> ModuleType:
    spec = importlib.util.spec_from_file_location("diff_expected", DIFF / "collect_expected.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(directory: Path) -> Lockfile:
    return read_lockfile(next(directory / n for n in LOCKFILE_NAMES if (directory / n).is_file()))


def _as_expected(diff: LockDiff) -> dict[str, Any]:
    """Our diff in expected.json's shape (these pairs are registry-only: name@version)."""
    changes = diff.changes
    return {
        "before": len(diff.old.packages),
        "after": len(diff.new.packages),
        "added": [[c.package.name, c.package.version] for c in changes if c.kind == "added"],
        "changed": [
            [c.package.name, c.package.version, list(c.replaces)]
            for c in changes
            if c.kind == "changed"
        ],
        "unchanged": diff.unchanged,
        "removed": [[p.name, p.version] for p in diff.removed],
    }


def test_there_is_a_pair_for_every_manager() -> None:
    assert MANAGERS == ["berry", "bun", "npm", "pnpm", "yarn1"]


@pytest.mark.parametrize("manager", MANAGERS)
def test_real_pair_agrees_with_the_managers_listings(manager: str) -> None:
    expected = json.loads((DIFF / manager / "expected.json").read_text())
    diff = diff_lockfiles(_read(DIFF / manager / "before"), _read(DIFF / manager / "after"))
    assert all(p.source is SourceKind.REGISTRY for p in diff.old.packages + diff.new.packages)
    mine = _as_expected(diff)
    assert mine == {k: expected[k] for k in mine}
    # The upgrade did what its package.json says: one bump next to a version that stays.
    (bump,) = [c for c in diff.changes if c.kind == "changed"]
    assert bump.package.spec == "debug@3.2.7" and bump.replaces == ("2.6.9",)
    assert [p.version for p in diff.new.packages if p.name == "debug"] == ["3.2.7", "4.4.3"]


@pytest.mark.parametrize("new", MANAGERS)
@pytest.mark.parametrize("old", MANAGERS)
def test_real_migration_between_managers(old: str, new: str) -> None:
    """Old lockfile by one manager, new by another: compared by identity, not paths or keys."""
    collect = _collector()
    before = collect.listed_pairs(str(DIFF / old / "before"))
    after = collect.listed_pairs(str(DIFF / new / "after"))
    expected = collect.change_set(before, after)
    diff = diff_lockfiles(_read(DIFF / old / "before"), _read(DIFF / new / "after"))
    assert _as_expected(diff) == expected
    # Unchanged after a bare migration: the same project's before lockfiles of two managers.
    same = diff_lockfiles(_read(DIFF / old / "before"), _read(DIFF / new / "before"))
    assert (same.changes, same.removed) == ((), ())


def test_expected_files_are_what_the_script_computes() -> None:
    collect = _collector()
    for manager in MANAGERS:
        recorded = json.loads((DIFF / manager / "expected.json").read_text())
        before = collect.listed_pairs(str(DIFF / manager / "before"))
        after = collect.listed_pairs(str(DIFF / manager / "after"))
        assert {k: recorded[k] for k in recorded if k not in ("manager", "command")} == (
            collect.change_set(before, after)
        )


# ---------------------------------------------------------------- hand-made cases


def pkg(
    name: str,
    version: str,
    source: SourceKind = SourceKind.REGISTRY,
    resolved: str | None = None,
    path: str | None = None,
) -> LockedPackage:
    return LockedPackage(
        name, version, source, resolved=resolved, paths=(path or f"node_modules/{name}",)
    )


def lock(*packages: LockedPackage, fmt: str = "package-lock@3") -> Lockfile:
    ordered = sorted(packages, key=lambda p: (p.name, p.version, p.source))
    return Lockfile(Path("package-lock.json"), fmt, tuple(ordered))


def summary(diff: LockDiff) -> tuple[list[tuple[str, str, tuple[str, ...]]], int, list[str]]:
    return (
        [(c.package.spec, c.kind, c.replaces) for c in diff.changes],
        diff.unchanged,
        [p.spec for p in diff.removed],
    )


def test_same_lockfile_has_no_changes() -> None:
    real = _read(LOCKFILES / "npm3-tricky")
    diff = diff_lockfiles(real, real)
    assert summary(diff) == ([], len(real.packages), [])
    assert diff.old is real and diff.new is real


def test_a_version_replaced() -> None:
    old = lock(pkg("a", "1.0.0"), pkg("b", "1.0.0"))
    new = lock(pkg("a", "1.2.0"), pkg("b", "1.0.0"))
    assert summary(diff_lockfiles(old, new)) == ([("a@1.2.0", "changed", ("1.0.0",))], 1, [])


def test_two_versions_of_one_name_one_bumped() -> None:
    old = lock(pkg("d", "2.6.9"), pkg("d", "4.3.0", path="node_modules/x/node_modules/d"))
    new = lock(pkg("d", "3.2.7"), pkg("d", "4.3.0", path="node_modules/x/node_modules/d"))
    assert summary(diff_lockfiles(old, new)) == ([("d@3.2.7", "changed", ("2.6.9",))], 1, [])


def test_replaced_versions_are_in_semver_order_and_both_new_versions_name_them() -> None:
    old = lock(pkg("a", "10.0.0"), pkg("a", "9.1.0"), pkg("a", "1.0.0-rc.1"), pkg("a", "1.0.0"))
    new = lock(pkg("a", "2.0.0"), pkg("a", "11.0.0"))
    changes, unchanged, removed = summary(diff_lockfiles(old, new))
    olds = ("1.0.0-rc.1", "1.0.0", "9.1.0", "10.0.0")
    assert changes == [("a@11.0.0", "changed", olds), ("a@2.0.0", "changed", olds)]
    assert (unchanged, removed) == (0, [])


def test_a_version_gone_without_a_replacement_is_removed() -> None:
    old = lock(pkg("ms", "2.0.0"), pkg("ms", "2.1.3"), pkg("gone", "1.0.0"))
    new = lock(pkg("ms", "2.1.3"), pkg("new", "0.1.0"))
    assert summary(diff_lockfiles(old, new)) == (
        [("new@0.1.0", "added", ())],
        1,
        ["gone@1.0.0", "ms@2.0.0"],
    )


def test_git_dependency_moved_commit_is_a_change() -> None:
    old = lock(pkg("gitdep", "1.0.0", SourceKind.GIT, f"{GIT}#{SHA_A}"))
    new = lock(pkg("gitdep", "1.0.0", SourceKind.GIT, f"{GIT}#{SHA_B}"))
    diff = diff_lockfiles(old, new)
    assert summary(diff) == ([("gitdep@1.0.0", "changed", ("1.0.0",))], 0, [])
    (change,) = diff.changes
    assert [p.resolved for p in change.replaced] == [f"{GIT}#{SHA_A}"]


def test_git_commit_spelled_by_other_formats_is_unchanged() -> None:
    old = lock(pkg("gitdep", "1.0.0", SourceKind.GIT, f"{GIT}#{SHA_A}"))
    for spelled in (f"git+{GIT}#{SHA_A}", f"{GIT}#commit={SHA_A}"):
        # bun records the URL as the version too; berry writes `#commit=`
        new = lock(pkg("gitdep", spelled, SourceKind.GIT, spelled))
        assert summary(diff_lockfiles(old, new)) == ([], 1, [])


def test_git_dependency_reads_the_same_in_every_real_format() -> None:
    """The tricky fixtures lock one git commit in five formats (npm 6 records no URL)."""
    cases = ["npm2", "npm3", "yarn1", "berry", "pnpm5", "pnpm6", "pnpm9", "bun"]
    locks = [_read(LOCKFILES / f"{c}-tricky") for c in cases]
    gits = [lock(*(p for p in lf.packages if p.source is SourceKind.GIT)) for lf in locks]
    assert all(len(g.packages) == 1 for g in gits)
    for other in gits[1:]:
        assert summary(diff_lockfiles(gits[0], other)) == ([], 1, [])
    moved = lock(pkg("gitdep", "1.0.0", SourceKind.GIT, f"{GIT}#{SHA_B}"))
    for g in gits:
        assert [c.kind for c in diff_lockfiles(g, moved).changes] == ["changed"]


def test_tarball_url_changed_is_a_change() -> None:
    old = lock(pkg("t", "1.0.0", SourceKind.TARBALL, "https://example.invalid/t-1.0.0.tgz"))
    new = lock(pkg("t", "1.0.0", SourceKind.TARBALL, "https://example.invalid/t-evil.tgz"))
    assert summary(diff_lockfiles(old, new)) == ([("t@1.0.0", "changed", ("1.0.0",))], 0, [])


def test_source_kind_switch_is_a_change_that_replaces_nothing_of_its_kind() -> None:
    """A git fork swapped for the registry release: the name is known, so `changed`, but
    `replaces` names only versions of the same kind; the git package is listed as removed."""
    old = lock(pkg("x", "1.0.0", SourceKind.GIT, f"{GIT}#{SHA_A}"))
    new = lock(pkg("x", "1.0.0"))
    assert summary(diff_lockfiles(old, new)) == ([("x@1.0.0", "changed", ())], 0, ["x@1.0.0"])


def test_local_packages_compare_without_their_path_spelling() -> None:
    old = lock(pkg("loc", "0.1.0", SourceKind.FILE, None))
    new = lock(pkg("loc", "0.1.0", SourceKind.FILE, "vendor/loc"), fmt="pnpm@9.0")
    assert summary(diff_lockfiles(old, new)) == ([], 1, [])


def test_empty_old_lockfile_makes_everything_added() -> None:
    new = _read(DIFF / "npm" / "after")
    diff = diff_lockfiles(lock(), new)
    assert {c.kind for c in diff.changes} == {"added"}
    assert [c.package for c in diff.changes] == list(new.packages)
    assert (diff.unchanged, diff.removed) == (0, ())
    assert all(isinstance(c, Change) and c.replaces == () for c in diff.changes)


def test_migration_npm_to_pnpm_of_the_same_dependencies(tmp_path: Path) -> None:
    """The same three dependencies (registry, scoped, git) written by hand in each format's
    real syntax: paths and keys differ, identities do not."""
    npm = tmp_path / "npm" / "package-lock.json"
    npm.parent.mkdir()
    npm.write_text(
        json.dumps(
            {
                "name": "app",
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "app"},
                    "node_modules/a": {"version": "1.0.0", "integrity": "sha512-AAAA"},
                    "node_modules/@s/b": {"version": "2.0.0", "integrity": "sha512-BBBB"},
                    "node_modules/a/node_modules/@s/b": {"version": "1.5.0"},
                    "node_modules/gitdep": {"version": "1.0.0", "resolved": f"{GIT}#{SHA_A}"},
                },
            }
        )
    )
    pnpm = tmp_path / "pnpm" / "pnpm-lock.yaml"
    pnpm.parent.mkdir()
    pnpm.write_text(
        f"""lockfileVersion: '9.0'

importers:

  .:
    dependencies:
      '@s/b':
        specifier: ^2.0.0
        version: 2.0.0
      a:
        specifier: ^1.0.0
        version: 1.0.0
      gitdep:
        specifier: {GIT}
        version: git+{GIT}#{SHA_A}

packages:

  '@s/b@1.5.0':
    resolution: {{integrity: sha512-CCCC}}

  '@s/b@2.0.0':
    resolution: {{integrity: sha512-BBBB}}

  a@1.0.0:
    resolution: {{integrity: sha512-AAAA}}

  gitdep@git+{GIT}#{SHA_A}:
    resolution: {{commit: {SHA_A}, repo: '{GIT}', type: git}}
    version: 1.0.0

snapshots:

  '@s/b@1.5.0': {{}}

  '@s/b@2.0.0': {{}}

  a@1.0.0:
    dependencies:
      '@s/b': 1.5.0

  gitdep@git+{GIT}#{SHA_A}: {{}}
"""
    )
    old, new = read_lockfile(npm), read_lockfile(pnpm)
    assert {p.paths for p in old.packages}.isdisjoint({p.paths for p in new.packages})
    assert summary(diff_lockfiles(old, new)) == ([], 4, [])
    assert summary(diff_lockfiles(new, old)) == ([], 4, [])
