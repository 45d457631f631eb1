"""Real lockfiles, written by the real package managers, against those managers' own listings.

Each directory under tests/fixtures/lockfiles/ holds a lockfile and `expected.json`, the
(name, version) set the manager itself lists (tests/fixtures/lockfiles/NOTES.md says how each
was made). Agreement must be exact, except for the documented differences below, each of which
is justified from the fixture itself, never by a blanket allowance:

1. Git, file, link and workspace packages are compared by name: the listing reads their version
   from the installed package.json, while a lockfile may record only the spec (npm v1, pnpm
   `file:`/`link:`, yarn 1 `link:` as 0.0.0, berry `0.0.0-use.local`).
2. Workspace projects that no dependency links: pnpm and yarn 1 lockfiles record them by path
   only (or not at all), so their name and version are not in the lockfile.
3. bun: `bun pm ls` leaves out optional packages for other platforms (entries with `os`/`cpu`)
   and what only they depend on, found by resolving bun.lock's own dependency graph.
4. A fixture's `exceptions.json` names install paths whose packages its manager records but
   does not list, with the reason (bun 1.4.5 and a package with bundled dependencies).
Where the listing itself is known to be lossy (npm 6), `installed.json` - the node_modules tree
the manager installed, walked by walk_node_modules.py - is the expected set instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scorer.lockfiles import LOCKFILE_NAMES, read_lockfile
from scorer.lockfiles.bun import entry_meta, resolve, strip_trailing_commas
from scorer.records import Lockfile, SourceKind

FIXTURES = Path(__file__).parent / "fixtures" / "lockfiles"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())

Pair = tuple[str, str]


def _lockfile(case: Path) -> Path:
    return next(case / n for n in LOCKFILE_NAMES if (case / n).is_file())


def _workspace_names(case: Path) -> set[str]:
    names = set()
    for manifest in case.glob("packages/*/package.json"):
        names.add(json.loads(manifest.read_text())["name"])
    return names


def _bun_platform_only(case: Path) -> set[Pair]:
    """Packages that bun.lock records but that are reachable from the project only through
    packages restricted to other platforms (`os` / `cpu`)."""
    lock = case / "bun.lock"
    if not lock.is_file():
        return set()
    data = json.loads(strip_trailing_commas(lock.read_text()))
    packages = data["packages"]

    def meta(key: str) -> dict[str, Any]:
        return entry_meta(packages[key])

    def resolve_(holder: str, dep: str) -> str | None:
        return resolve(packages, holder, dep)

    deps = ("dependencies", "optionalDependencies", "peerDependencies")
    roots = [d for ws in data.get("workspaces", {}).values() for s in deps for d in ws.get(s, {})]
    reached: set[str] = set()
    todo = [k for d in roots if (k := resolve_("", d)) is not None]
    while todo:
        key = todo.pop()
        info = meta(key)
        if key in reached or "os" in info or "cpu" in info:
            continue
        reached.add(key)
        todo += [k for s in deps for d in info.get(s, {}) if (k := resolve_(key, d)) is not None]
    listed = {tuple(packages[k][0].rsplit("@", 1)) for k in reached}
    every = {tuple(e[0].rsplit("@", 1)) for e in packages.values()}
    return every - listed  # type: ignore[return-value]


def _nested_exceptions(case: Path, lock: Lockfile) -> set[Pair]:
    spec = case / "exceptions.json"
    if not spec.is_file():
        return set()
    prefixes = tuple(p + "/" for p in json.loads(spec.read_text())["nested_under"])
    return {p.key for p in lock.packages if all(x.startswith(prefixes) for x in p.paths)}


def explained_difference(case: Path) -> tuple[set[Pair], set[Pair]]:
    lock = read_lockfile(_lockfile(case))
    truth = (
        case / "installed.json" if (case / "installed.json").is_file() else case / "expected.json"
    )
    expected = {tuple(p) for p in json.loads(truth.read_text())["packages"]}
    mine = {p.key for p in lock.packages}
    local = {p.name for p in lock.packages if p.source is not SourceKind.REGISTRY}
    extra, missing = mine - expected, expected - mine  # type: ignore[operator]
    # 1. non-registry packages by name
    extra_names = {n for n, _ in extra}
    missing_names = {n for n, _ in missing}
    by_name = local & extra_names & missing_names
    extra = {p for p in extra if p[0] not in by_name}
    missing = {p for p in missing if p[0] not in by_name}
    # 2. unlinked workspace projects
    missing -= {p for p in missing if p[0] in _workspace_names(case) and p[0] not in mine}
    # 3. bun platform packages
    extra -= _bun_platform_only(case)
    # 4. documented per-fixture exceptions
    extra -= _nested_exceptions(case, lock)
    return extra, missing  # type: ignore[return-value]


@pytest.mark.parametrize("case", CASES)
def test_lockfile_agrees_with_its_manager(case: str) -> None:
    extra, missing = explained_difference(FIXTURES / case)
    assert not extra, f"recorded by us, not listed by the manager: {sorted(extra)}"
    assert not missing, f"listed by the manager, missed by us: {sorted(missing)}"


@pytest.mark.parametrize("case", CASES)
def test_every_registry_package_has_a_semver_version(case: str) -> None:
    lock = read_lockfile(_lockfile(FIXTURES / case))
    assert lock.packages
    for pkg in lock.packages:
        assert pkg.paths, pkg
        if pkg.source is SourceKind.REGISTRY:
            assert pkg.version[0].isdigit(), pkg


@pytest.mark.parametrize("case", ["pnpm5-large", "pnpm6-large"])
def test_pnpm_dev_flags_match_the_importers(case: str) -> None:
    """pnpm 5/6 leave `dev` out for packages both production and dev need: those are not
    dev-only. Checked against the closures of the root importer's two dependency sections."""
    import yaml

    path = FIXTURES / case / "pnpm-lock.yaml"
    data = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    packages, root = data["packages"], data.get("importers", {}).get(".", data)

    def key(name: str, ref: object) -> str:
        ref = ref["version"] if isinstance(ref, dict) else str(ref)
        if ref.startswith("/"):
            return ref
        return f"/{name}/{ref}" if case.startswith("pnpm5") else f"/{name}@{ref}"

    def closure(section: str) -> set[str]:
        seen: set[str] = set()
        todo = [key(n, r) for n, r in (root.get(section) or {}).items()]
        while todo:
            k = todo.pop()
            if k in seen or k not in packages:
                continue
            seen.add(k)
            for deps in ("dependencies", "optionalDependencies"):
                todo += [key(n, r) for n, r in (packages[k].get(deps) or {}).items()]
        return seen

    dev_only = closure("devDependencies") - closure("dependencies")
    lock = read_lockfile(path)
    assert len(dev_only) > 1000
    for pkg in lock.packages:  # paths are the packages keys (one per peer variant)
        assert pkg.dev is (all(p in dev_only for p in pkg.paths)), pkg


@pytest.mark.parametrize("size", ["tiny", "tricky", "frontend", "large"])
def test_pnpm9_dev_flags_agree_with_what_pnpm8_recorded(size: str) -> None:
    """pnpm 9 writes no dev flag; provscore derives it from the graph. pnpm 8 (lockfile 6.0)
    still recorded it for the same dependency set: the two must agree package for package."""
    derived = {
        p.key: p.dev for p in read_lockfile(FIXTURES / f"pnpm9-{size}/pnpm-lock.yaml").packages
    }
    recorded = {
        p.key: p.dev for p in read_lockfile(FIXTURES / f"pnpm6-{size}/pnpm-lock.yaml").packages
    }
    common = set(derived) & set(recorded)
    assert len(common) >= 0.95 * len(derived)
    assert {k: derived[k] for k in common} == {k: recorded[k] for k in common}
    assert None not in derived.values()


# bun 1.4.5 nests sax@1.6.1 under xml2js, which aws-sdk needs in production; npm satisfies
# xml2js's `sax >=0.6.0` with the hoisted sax@1.2.1 and installs 1.6.1 only for dev tools.
BUN_RESOLVED_DIFFERENTLY = {("bun-large", ("sax", "1.6.1"))}


@pytest.mark.parametrize(
    "case", [f"{b}-{s}" for b in ("bun1", "bun") for s in ("tiny", "tricky", "frontend", "large")]
)
def test_bun_dev_flags_agree_with_what_npm_recorded(case: str) -> None:
    """bun.lock writes no dev flag; provscore derives it from the workspaces and packages graph.
    npm records it for the same dependency set: the two must agree on the packages both hold,
    except where the managers resolved a dependency to different versions (listed above)."""
    size = case.split("-", 1)[1]
    derived = {p.key: p.dev for p in read_lockfile(FIXTURES / case / "bun.lock").packages}
    recorded = {
        p.key: p.dev for p in read_lockfile(FIXTURES / f"npm3-{size}/package-lock.json").packages
    }
    common = {k for k in set(derived) & set(recorded) if (case, k) not in BUN_RESOLVED_DIFFERENTLY}
    assert len(common) >= 0.5 * len(derived)
    assert {k: derived[k] for k in common} == {k: recorded[k] for k in common}
    assert None not in derived.values()
