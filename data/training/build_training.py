"""Build data/training/rows.csv: the trained scorer's labelled rows, from facts and real data.

Positive rows (label 1) are the compromised versions described in ../shared/data/
npm-incidents.md. For each, `CASES` below lists only the features the write-up states, with the
section that states them; everything else about the version is unknown (an empty cell), never
guessed. The row itself comes out of `scorer.features.feature_row` (the report's own code) run
on a small CONSTRUCTED history that encodes those facts (three earlier releases by a fictional
`usual-example` account, the bad versions after them); the build checks that each documented
feature comes out with its documented value, then blanks every feature the write-up does not
state, because a constructed history's other details are invented. These rows are `origin =
constructed`.

Negative rows (label 0) are every version of every real registry document in
../shared/data/packuments (one document per package name: the first path in sorted order), `origin
= real`, scanned at 2035-01-01 (long after their last release). Versions named as positives are
left out of them.

Run `python data/training/build_training.py` (with provscore importable) to rewrite rows.csv and
MANIFEST.json (the file's sha256 and counts); `--check` exits 1 when the committed files differ.
Deterministic: sorted inputs, no clock. The shared data is found at ../shared/data beside the
checkout, or $PROVSCORE_SHARED_DATA.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from scorer.features import FeatureSettings, package_history  # noqa: E402
from scorer.training import TrainingRow, rows_csv, training_row  # noqa: E402

SHARED = Path(os.environ.get("PROVSCORE_SHARED_DATA", ROOT.parent / "shared" / "data"))
ROWS = HERE / "rows.csv"
MANIFEST = HERE / "MANIFEST.json"
BENIGN_SCAN = datetime(2035, 1, 1, tzinfo=UTC)
WRITEUP = "npm-incidents.md"
USUAL = "usual-example"
CI = "ci-example"
SETTINGS = FeatureSettings()


@dataclass(frozen=True)
class Case:
    """Versions of one package from one incident, and what the write-up states about them.

    `published` is the documented publish time when the write-up gives one, else a constructed
    one (only used to order the constructed history). `live_hours`: the write-up documents that
    the versions were caught or removed within this many hours of publishing, so a scan while they
    were live falls inside the 7-day cooldown (young_release = 1); None when it does not say."""

    section: str
    name: str
    versions: tuple[str, ...]
    documented: dict[str, float]
    facts: str
    published: str
    published_documented: bool = False
    live_hours: float | None = None
    script: str = "postinstall"
    inferred: tuple[str, ...] = field(default=())


NO_PROVENANCE_2018 = "provenance did not exist in 2018 (section 1)"


def _cases() -> list[Case]:
    cases: list[Case] = []
    es_facts = "malicious release (GHSA-mh6f-8j2x-4483); " + NO_PROVENANCE_2018
    cases.append(
        Case("1", "event-stream", ("3.3.6",), {"provenance_lost": 0}, es_facts, "2018-09-09T12:00Z")
    )
    cases.append(
        Case(
            "1",
            "flatmap-stream",
            ("0.1.1",),
            {"provenance_lost": 0},
            "malicious version (GHSA-9x64-5r7x-2q53); " + NO_PROVENANCE_2018,
            "2018-10-05T12:00Z",
        )
    )
    cases.append(
        Case(
            "2",
            "ua-parser-js",
            ("0.7.29", "0.8.0", "1.0.0"),
            {
                "install_script_added": 1,
                "new_publisher": 0,
                "publisher_not_maintainer": 0,
                "provenance_lost": 0,
                "young_release": 1,
            },
            "published from the maintainer's hijacked account (npm account takeover) with a "
            "preinstall added; reported the same day (issue #538, GHSA published 2021-10-22); "
            "provenance did not exist in 2021 (section 2)",
            "2021-10-22T12:00Z",
            live_hours=11,
            script="preinstall",
        )
    )
    no_prov_2021 = "provenance did not exist in 2021; how the account was taken over is not stated"
    for name, versions in (
        ("coa", ("2.0.3", "2.0.4", "2.1.1", "2.1.3", "3.0.1", "3.1.3")),
        ("rc", ("1.2.9", "1.3.9", "2.3.9")),
    ):
        cases.append(
            Case(
                "2",
                name,
                versions,
                {"provenance_lost": 0},
                f"malicious versions (GHSA published 2021-11-04); {no_prov_2021} (section 2)",
                "2021-11-04T12:00Z",
            )
        )
    cases.append(
        Case(
            "3",
            "node-ipc",
            ("10.1.1", "10.1.2"),
            {
                "publisher_changed": 0,
                "new_publisher": 0,
                "publisher_not_maintainer": 0,
                "provenance_lost": 0,
            },
            "published by the legitimate maintainer from the usual account "
            "(GHSA-97m3-w2cp-4xx6); provenance not available in 2022 (section 3)",
            "2022-03-07T12:00Z",
        )
    )
    cases.append(
        Case(
            "3",
            "node-ipc",
            ("9.1.6", "9.2.3", "12.0.1"),
            {"publisher_not_maintainer": 0},
            "published on 14 May 2026 by a compromised maintainer account (MAL-2026-3744, "
            "section 3 follow-up)",
            "2026-05-14T12:00Z",
        )
    )
    chalk = (
        ("chalk", "5.6.1"),
        ("debug", "4.4.2"),
        ("ansi-styles", "6.2.2"),
        ("strip-ansi", "7.1.1"),
        ("ansi-regex", "6.2.1"),
        ("supports-color", "10.2.1"),
        ("color-convert", "3.1.1"),
        ("wrap-ansi", "9.0.1"),
        ("error-ex", "1.3.3"),
        ("is-arrayish", "0.3.3"),
        ("simple-swizzle", "0.2.3"),
        ("slice-ansi", "7.1.1"),
        ("color-string", "2.1.1"),
        ("color-name", "2.0.1"),
        ("has-ansi", "6.0.1"),
        ("supports-hyperlinks", "4.1.1"),
        ("chalk-template", "1.1.1"),
        ("backslash", "0.2.1"),
    )
    for name, version in chalk:
        cases.append(
            Case(
                "4",
                name,
                (version,),
                {"publisher_not_maintainer": 0, "young_release": 1},
                "published from the real maintainer's phished account on 8 Sept 2025, live "
                "13:16 UTC, spotted about 15:20 and removed by 16:00 (section 4)",
                "2025-09-08T13:16Z",
                published_documented=True,
                live_hours=2.0,
            )
        )
    for name, version in (
        ("duckdb", "1.3.3"),
        ("@duckdb/node-api", "1.3.3"),
        ("@duckdb/node-bindings", "1.3.3"),
        ("@duckdb/duckdb-wasm", "1.29.2"),
    ):
        cases.append(
            Case(
                "4",
                name,
                (version,),
                {"publisher_not_maintainer": 0, "young_release": 1},
                "published after a maintainer was tricked into a look-alike login, on 9 Sept "
                "2025, discovered within 4 hours (MAL-2025-46992, section 4)",
                "2025-09-09T12:00Z",
                live_hours=4.0,
            )
        )
    shai = (
        ("@ctrl/tinycolor", ("4.1.1", "4.1.2")),
        ("@ctrl/deluge", ("7.2.1", "7.2.2")),
        ("@crowdstrike/commitlint", ("8.1.1", "8.1.2")),
        ("@crowdstrike/glide-core", ("0.34.2", "0.34.3")),
        ("@nativescript-community/ui-label", ("1.3.35", "1.3.36", "1.3.37")),
    )
    for name, versions in shai:
        tiny = name == "@ctrl/tinycolor"
        documented: dict[str, float] = {"publisher_not_maintainer": 0, "install_script_added": 1}
        facts = (
            "republished with the real maintainer's stolen token, postinstall added "
            "(Shai-Hulud, section 5)"
        )
        if tiny:
            documented["young_release"] = 1
            facts += "; the burst began 14 Sept 2025 and the advisory came 2025-09-15T23:42Z"
        cases.append(
            Case(
                "5",
                name,
                versions,
                documented,
                facts,
                "2025-09-14T12:00Z",
                live_hours=35.7 if tiny else None,
                inferred=(
                    "install_script_added: a track record of 3 earlier releases is "
                    "inferred from the version number",
                ),
            )
        )
    nx = [("nx", v) for v in ("20.9.0", "20.10.0", "20.11.0", "20.12.0")]
    nx += [("nx", v) for v in ("21.5.0", "21.6.0", "21.7.0", "21.8.0")]
    for scoped in ("@nx/devkit", "@nx/js", "@nx/workspace", "@nx/node"):
        nx += [(scoped, "20.9.0"), (scoped, "21.5.0")]
    nx += [("@nx/eslint", "21.5.0"), ("@nx/key", "3.2.0"), ("@nx/enterprise-cloud", "3.2.0")]
    by_name: dict[str, list[str]] = {}
    for name, version in nx:
        by_name.setdefault(name, []).append(version)
    for name, versions in by_name.items():
        cases.append(
            Case(
                "6",
                name,
                tuple(versions),
                {"install_script_added": 1, "young_release": 1},
                "published with a stolen npm token on 26 Aug 2025 between 6:32 and 8:37 PM EDT, "
                "postinstall added, removed at 10:44 PM EDT (GHSA-cxm3-wv7p-598c, section 6); "
                "whether provenance was lost is only an inference in the write-up",
                "2025-08-26T22:32Z",
                published_documented=True,
                live_hours=4.2,
                inferred=(
                    "install_script_added: a track record of 3 earlier releases is "
                    "inferred from the version number",
                ),
            )
        )
    cases.append(
        Case(
            "extra",
            "axios",
            ("1.14.1",),
            {
                "trusted_publishing_lost": 1,
                "provenance_lost": 1,
                "publisher_changed": 1,
                "publisher_not_maintainer": 0,
            },
            "1.14.0 by trusted publishing with provenance; 1.14.1 from a maintainer's personal "
            "account with a classic token, without trustedPublisher or provenance (extra section)",
            "2026-03-31T00:00Z",
        )
    )
    cases.append(
        Case(
            "extra",
            "axios",
            ("0.30.4",),
            {"publisher_not_maintainer": 0},
            "published from a maintainer account with a classic token (extra section); what "
            "the 0.x line's previous release used is not stated",
            "2026-03-31T00:00Z",
        )
    )
    return cases


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def constructed_document(case: Case) -> dict[str, Any]:
    """A CONSTRUCTED registry document encoding the case's documented facts: three earlier
    releases, then the bad versions one minute apart (a burst)."""
    trusted = case.documented.get("trusted_publishing_lost") == 1
    provenance = case.documented.get("provenance_lost") == 1
    bad_time = _time(case.published)
    versions: dict[str, Any] = {}
    times: dict[str, str] = {"created": _iso(bad_time - timedelta(days=400))}

    def manifest(version: str, publisher: str, *, ci: bool, script: bool) -> dict[str, Any]:
        user: dict[str, Any] = {"name": publisher}
        if ci:
            user["trustedPublisher"] = {"id": "github"}
        dist: dict[str, Any] = {"tarball": f"https://registry.example.invalid/-/{version}.tgz"}
        if ci and provenance:
            dist["attestations"] = {"provenance": {"predicateType": "constructed"}}
        return {
            "name": case.name,
            "version": version,
            "_npmUser": user,
            "maintainers": [{"name": USUAL}],
            "scripts": {case.script: "constructed"} if script else {},
            "dist": dist,
        }

    for i, days in enumerate((90, 60, 30), start=1):
        version = f"0.0.{i}-constructed"
        versions[version] = manifest(version, CI if trusted else USUAL, ci=trusted, script=False)
        if provenance and not trusted:
            versions[version]["dist"]["attestations"] = {"provenance": {}}
        times[version] = _iso(bad_time - timedelta(days=days))
    script = case.documented.get("install_script_added") == 1
    for i, version in enumerate(case.versions):
        versions[version] = manifest(version, USUAL, ci=False, script=script)
        times[version] = _iso(bad_time + timedelta(minutes=i))
    return {"name": case.name, "versions": versions, "time": times}


def positive_rows() -> list[TrainingRow]:
    rows = []
    for case in _cases():
        history = package_history(constructed_document(case))
        scan = _time(case.published) + timedelta(hours=case.live_hours or 1.0)
        documented = dict(case.documented)
        if "young_release" in documented and case.live_hours is None:
            raise ValueError(f"{case.name}: young_release needs a documented live window")
        when = "" if case.published_documented else "; publish time of day constructed"
        inferred = "".join(f"; inferred: {i}" for i in case.inferred)
        for version in case.versions:
            rows.append(
                training_row(
                    case.name,
                    version,
                    label=1,
                    origin="constructed",
                    source=f"{WRITEUP} section {case.section}: {case.facts}{when}{inferred}; "
                    "history constructed, undocumented features unknown",
                    history=history,
                    now=scan,
                    settings=SETTINGS,
                    documented=documented,
                )
            )
    return rows


def negative_rows(exclude: set[tuple[str, str]]) -> tuple[list[TrainingRow], list[str]]:
    packuments = SHARED / "packuments"
    if not packuments.is_dir():
        raise SystemExit(f"{packuments} not found: set PROVSCORE_SHARED_DATA")
    rows: list[TrainingRow] = []
    seen: set[str] = set()
    excluded: list[str] = []
    for path in sorted(packuments.rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("versions"), dict):
            continue
        history = package_history(doc)
        if history.name in seen:
            continue
        seen.add(history.name)
        source = f"real: ../shared/data/{path.relative_to(SHARED).as_posix()}"
        for version in sorted(doc["versions"]):
            if (history.name, version) in exclude:
                excluded.append(f"{history.name}@{version}")
                continue
            rows.append(
                training_row(
                    history.name,
                    version,
                    label=0,
                    origin="real",
                    source=source,
                    history=history,
                    now=BENIGN_SCAN,
                    settings=SETTINGS,
                )
            )
    return rows, excluded


def build() -> tuple[str, str]:
    positives = positive_rows()
    negatives, excluded = negative_rows({(r.name, r.version) for r in positives})
    rows = positives + negatives
    text = rows_csv(rows)
    counts = Counter((r.origin, r.label) for r in rows)
    known = {
        f: sum(1 for r in positives if r.values[f] == r.values[f]) for f in positives[0].values
    }
    manifest = {
        "file": ROWS.name,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "rows": len(rows),
        "by_origin_and_label": {f"{o} label={lab}": n for (o, lab), n in sorted(counts.items())},
        "packages": len({r.name for r in rows}),
        "positive_packages": len({r.name for r in positives}),
        "positives_with_feature_known": known,
        "benign_scan_time": BENIGN_SCAN.isoformat(),
        "excluded_from_benign_as_positive": excluded,
        "sources": {
            "positives": f"../shared/data/{WRITEUP} (facts only; histories constructed)",
            "negatives": "../shared/data/packuments (real registry documents from npm CLI and "
            "pacote test fixtures; see ../shared/data/README.md for licences)",
        },
    }
    return text, json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    args = parser.parse_args()
    text, manifest = build()
    if args.check:
        stale = [
            p.name
            for p, want in ((ROWS, text), (MANIFEST, manifest))
            if not p.is_file() or p.read_text(encoding="utf-8") != want
        ]
        if stale:
            print(f"out of date: {', '.join(stale)} (run {Path(__file__).name})")
            return 1
        return 0
    ROWS.write_text(text, encoding="utf-8")
    MANIFEST.write_text(manifest, encoding="utf-8")
    print(f"wrote {ROWS} and {MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
