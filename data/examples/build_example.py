"""Build the offline example of data/examples/npm-app from facts written in this file.

`provscore report data/examples/npm-app/package-lock.json` finds, through the `provscore.toml`
beside the lockfile, an OSV database (`osv.json`) and a frozen snapshot (`snapshot/`) of
registry documents and insights records, so it runs offline on a fresh machine. Everything those
files hold is written below as facts (ids, names, versions, ranges, dates, publishers, times,
flags), each record naming where its facts come from; any summary is our own short wording.
Two kinds of record are kept apart: REAL facts from public sources (advisory databases, the npm
CLI's registry test fixtures, incident threads), and CONSTRUCTED cases for the publication
signals that no real source in reach shows with its full history (fictional packages
`provscore-example-*` and fictional `*-example` accounts), each marked `_provscore_constructed`.
What a source does not say is left out, so provscore reports it unknown.

Run `python data/examples/build_example.py` to rewrite the files; `--check` exits 1 when the
committed files differ from what this script writes. Standard library only, deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

APP = Path(__file__).resolve().parent / "npm-app"
REGISTRY = "https://registry.example.invalid/"
CONSTRUCTED = "_provscore_constructed"
SOURCES = "_provscore_sources"
INSIGHTS_ENDPOINT = "constructed: data/examples/build_example.py (no insights service was asked)"

# -- sources ----------------------------------------------------------------------------------

OSSF = "OpenSSF Malicious Packages, https://github.com/ossf/malicious-packages (Apache-2.0)"
GHSA = "GitHub Advisory Database, https://github.com/github/advisory-database (CC-BY-4.0)"
NPM_CLI_FIXTURES = (
    "npm CLI registry test fixtures, https://github.com/npm/cli "
    "workspaces/arborist/test/fixtures/registry-mocks/content/{file} at commit "
    "780afc50e3a345feb1871a28e33fa48235bc3bd5 (Artistic-2.0); the fixture may hold only some "
    "of the package's versions"
)
UA_PARSER_INCIDENT = (
    "ua-parser-js 0.7.29 was published from the maintainer's own hijacked account with a "
    "preinstall script added: https://github.com/faisalman/ua-parser-js/issues/536, "
    "https://github.com/faisalman/ua-parser-js/issues/538, "
    "https://github.com/karma-runner/karma/issues/3713; publish time only approximate (about "
    "12:15 GMT on 2021-10-22, Rapid7's reconstruction as cited by "
    "https://cronfeed.work/oss-ua-parser-js-incident-readout-publish-identity-install-scripts-2026/)"
)
EVENT_STREAM_INCIDENT = (
    "event-stream 3.3.6 came from the new owner right9ctrl, who was handed the package and "
    "added flatmap-stream in 3.3.6: https://github.com/cncf/tag-security/pull/516, "
    "https://github.com/dominictarr/event-stream/issues/115; publish times, earlier "
    "publishers and the exact dependency range are not in these sources"
)
AXIOS_INCIDENT = (
    "axios 1.14.0 was published by trusted publishing (_npmUser 'GitHub Actions', "
    "trustedPublisher id 'github') with provenance; 1.14.1 from a maintainer's personal account "
    "with a classic token, without trustedPublisher or provenance: "
    "https://dev.to/toniantunovic/npm-provenance-and-slsa-the-supply-chain-hygiene-baseline-every-team-needs-in-2026-3aoh, "  # noqa: E501
    "https://github.com/axios/axios/issues/10604; the account name and both publish times are "
    "not in these sources"
)


# -- OSV records (facts only; summaries in our own words) -------------------------------------


def _osv_records() -> list[dict[str, Any]]:
    def npm(name: str, **entry: Any) -> dict[str, Any]:
        return {"package": {"ecosystem": "npm", "name": name}, **entry}

    def ecosystem_range(introduced: str, fixed: str | None = None) -> list[dict[str, Any]]:
        events: list[dict[str, str]] = [{"introduced": introduced}]
        if fixed is not None:
            events.append({"fixed": fixed})
        return [{"type": "ECOSYSTEM", "events": events}]

    return [
        {
            "id": "MAL-2025-46969",
            "aliases": ["GHSA-2v46-p5h4-248w"],
            "published": "2025-09-08T17:11:19Z",
            "modified": "2025-09-12T01:13:34Z",
            "summary": "chalk 5.6.1 is a compromised release (September 2025 maintainer phishing)",
            "affected": [npm("chalk", versions=["5.6.1"])],
            "database_specific": {
                SOURCES: f"{OSSF}, osv/malicious/npm/chalk/MAL-2025-46969.json",
            },
        },
        {
            "id": "MAL-2025-46974",
            "aliases": ["GHSA-8mgj-vmr8-frr6", "GHSA-4x49-vf9v-38px"],
            "published": "2025-09-08T14:26:51Z",
            "modified": "2025-09-12T01:13:34Z",
            "summary": "debug 4.4.2 is a compromised release (September 2025 maintainer phishing)",
            "affected": [npm("debug", versions=["4.4.2"])],
            "database_specific": {
                SOURCES: f"{OSSF}, osv/malicious/npm/debug/MAL-2025-46974.json",
            },
        },
        {
            "id": "GHSA-pjwm-rvh2-c87w",
            "aliases": [],
            "published": "2021-10-22T20:38:14Z",
            "modified": "2021-10-22T21:43:36Z",
            "summary": "ua-parser-js 0.7.29, 0.8.0 and 1.0.0 carry malware (account takeover)",
            "affected": [
                npm(
                    "ua-parser-js", ranges=ecosystem_range("0.7.29", "0.7.30"), versions=["0.7.29"]
                ),
                npm("ua-parser-js", ranges=ecosystem_range("0.8.0", "0.8.1"), versions=["0.8.0"]),
                npm("ua-parser-js", ranges=ecosystem_range("1.0.0", "1.0.1"), versions=["1.0.0"]),
            ],
            "database_specific": {
                "cwe_ids": ["CWE-506"],
                SOURCES: f"{GHSA}, advisories/github-reviewed/2021/10/GHSA-pjwm-rvh2-c87w",
            },
        },
        {
            "id": "GHSA-mh6f-8j2x-4483",
            "aliases": [],
            "published": "2018-11-26T23:58:21Z",
            "modified": "2021-09-15T20:08:26Z",
            "summary": "event-stream 3.3.6 pulls in flatmap-stream, which carries malware",
            "affected": [
                npm("event-stream", ranges=ecosystem_range("3.3.6", "4.0.0"), versions=["3.3.6"]),
                npm("flatmap-stream", ranges=ecosystem_range("0")),
            ],
            "database_specific": {
                "cwe_ids": ["CWE-506"],
                SOURCES: f"{GHSA}, advisories/github-reviewed/2018/11/GHSA-mh6f-8j2x-4483",
            },
        },
    ]


def osv_database() -> str:
    """provscore's merge format (scorer.osv.database.dump_database): one sorted-key compact
    record per line, sorted by id, inside `{"vulns": [...]}`."""
    lines = [
        json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for r in sorted(_osv_records(), key=lambda r: str(r["id"]))
    ]
    return '{"vulns": [\n' + ",\n".join(lines) + "\n]}\n"


# -- registry documents -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """What is known of one published version; None (or False) means not known, left out."""

    version: str
    time: str | None = None
    publisher: str | None = None
    publisher_known_personal: bool = False  # _npmUser known to be a person, name unknown
    trusted_publisher: str | None = None  # _npmUser.trustedPublisher.id
    maintainers: tuple[str, ...] | None = None
    provenance: bool = False  # dist.attestations present (only ever written when a fact)
    install_scripts: tuple[str, ...] = ()
    deprecated: bool = False
    note: str | None = None


def _manifest(name: str, v: Version) -> dict[str, Any]:
    manifest: dict[str, Any] = {"name": name, "version": v.version}
    if v.publisher is not None or v.publisher_known_personal or v.trusted_publisher:
        user: dict[str, Any] = {}
        if v.publisher is not None:
            user["name"] = v.publisher
        if v.trusted_publisher is not None:
            user["trustedPublisher"] = {"id": v.trusted_publisher}
        manifest["_npmUser"] = user
    if v.maintainers is not None:
        manifest["maintainers"] = [{"name": m} for m in v.maintainers]
    dist: dict[str, Any] = {}
    if v.provenance:
        dist["attestations"] = {
            "url": f"{REGISTRY}-/npm/v1/attestations/{name}@{v.version}",
            "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
        }
    manifest["dist"] = dist
    if v.install_scripts:
        # Only the script names are facts here; the commands are not recorded.
        manifest["scripts"] = {s: "(command not recorded)" for s in v.install_scripts}
    if v.deprecated:
        manifest["deprecated"] = "(deprecated upstream; message not copied)"
    if v.note is not None:
        manifest[SOURCES] = v.note
    return manifest


def document(
    name: str,
    versions: tuple[Version, ...],
    sources: str,
    created: str | None = None,
    constructed: str | None = None,
) -> dict[str, Any]:
    """A minimal packument: only the facts given; no time, maintainers or dist field is made up."""
    time: dict[str, str] = {}
    if created is not None:
        time["created"] = created
    time.update({v.version: v.time for v in versions if v.time is not None})
    doc: dict[str, Any] = {
        "name": name,
        "versions": {v.version: _manifest(name, v) for v in versions},
        "time": time,
        SOURCES: sources,
    }
    if constructed is not None:
        doc[CONSTRUCTED] = constructed
    return doc


@dataclass(frozen=True, slots=True)
class FixtureHistory:
    created: str
    maintainer_sets: tuple[tuple[str, ...], ...]
    versions: tuple[tuple[str, str, str | None, int, tuple[str, ...], bool], ...]

    def as_versions(self) -> tuple[Version, ...]:
        return tuple(
            Version(
                version=v,
                time=t,
                publisher=user,
                maintainers=self.maintainer_sets[m],
                install_scripts=scripts,
                deprecated=deprecated,
            )
            for v, t, user, m, scripts, deprecated in self.versions
        )


# -- real histories from the npm CLI's registry fixtures (facts copied by hand from the JSON) ----

FIXTURE_HISTORIES: dict[str, FixtureHistory] = {
    "ua-parser-js": FixtureHistory(
        created="2012-07-28T20:54:42.902Z",
        maintainer_sets=(("faisalman",),),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("0.3.0", "2012-07-28T20:54:44.026Z", None, 0, (), False),
            ("0.3.1", "2012-09-10T20:20:00.942Z", "faisalman", 0, (), False),
            ("0.4.0", "2012-09-14T20:57:54.701Z", "faisalman", 0, (), False),
            ("0.4.1", "2012-09-17T18:04:46.834Z", "faisalman", 0, (), False),
            ("0.4.3", "2012-09-21T17:22:56.478Z", "faisalman", 0, (), False),
            ("0.4.4", "2012-10-22T09:08:22.907Z", "faisalman", 0, (), False),
            ("0.4.6", "2012-11-02T11:32:02.442Z", "faisalman", 0, (), False),
            ("0.4.7", "2012-11-06T10:47:25.024Z", "faisalman", 0, (), False),
            ("0.4.13", "2012-11-28T08:53:08.175Z", "faisalman", 0, (), False),
            ("0.4.15", "2012-12-05T04:16:44.852Z", "faisalman", 0, (), False),
            ("0.5.1", "2013-01-25T13:31:43.684Z", "faisalman", 0, (), False),
            ("0.5.2", "2013-01-28T12:25:58.465Z", "faisalman", 0, (), False),
            ("0.5.3", "2013-02-05T15:37:01.349Z", "faisalman", 0, (), False),
            ("0.5.11", "2013-02-07T16:28:17.480Z", "faisalman", 0, (), False),
            ("0.5.12", "2013-02-15T03:27:50.741Z", "faisalman", 0, (), False),
            ("0.5.15", "2013-03-05T14:07:51.010Z", "faisalman", 0, (), False),
            ("0.5.20", "2013-03-16T07:40:04.255Z", "faisalman", 0, (), False),
            ("0.5.22", "2013-03-20T05:06:21.724Z", "faisalman", 0, (), False),
            ("0.5.23", "2013-03-20T06:07:12.618Z", "faisalman", 0, (), False),
            ("0.5.25", "2013-03-22T06:27:07.654Z", "faisalman", 0, (), False),
            ("0.5.27", "2013-03-26T07:19:53.728Z", "faisalman", 0, (), False),
            ("0.6.0", "2013-04-04T06:50:31.599Z", "faisalman", 0, (), False),
            ("0.6.2", "2013-07-04T12:36:10.667Z", "faisalman", 0, (), False),
            ("0.7.0", "2014-06-25T07:47:33.048Z", "faisalman", 0, (), False),
            ("0.7.1", "2014-10-19T10:06:38.811Z", "faisalman", 0, (), False),
            ("0.7.3", "2014-11-09T14:12:36.569Z", "faisalman", 0, (), False),
            ("0.7.4", "2015-04-06T18:58:58.378Z", "faisalman", 0, (), False),
            ("0.7.6", "2015-04-14T18:42:32.420Z", "faisalman", 0, (), False),
            ("0.7.7", "2015-05-01T10:29:49.151Z", "faisalman", 0, (), False),
            ("0.7.9", "2015-07-18T21:10:26.295Z", "faisalman", 0, (), False),
            ("0.7.10", "2015-12-12T12:12:29.429Z", "faisalman", 0, (), False),
            ("0.7.11", "2016-11-06T17:39:55.270Z", "faisalman", 0, (), False),
            ("0.7.12", "2016-11-14T03:31:33.789Z", "faisalman", 0, (), False),
            ("0.7.13", "2017-06-22T07:21:36.408Z", "faisalman", 0, (), False),
            ("0.7.14", "2017-07-19T12:47:34.873Z", "faisalman", 0, (), False),
            ("0.7.15", "2017-10-12T02:29:39.998Z", "faisalman", 0, (), False),
            ("0.7.16", "2017-10-12T05:13:04.568Z", "faisalman", 0, (), False),
            ("0.7.17", "2017-10-12T08:18:01.762Z", "faisalman", 0, (), False),
            ("0.7.18", "2018-05-04T16:18:07.045Z", "faisalman", 0, (), False),
            ("0.7.19", "2018-10-25T18:36:50.279Z", "faisalman", 0, (), False),
            ("0.7.20", "2019-06-08T14:53:29.472Z", "faisalman", 0, (), False),
            ("0.7.21", "2019-12-19T18:16:14.356Z", "faisalman", 0, (), False),
            ("0.7.22", "2020-09-12T09:15:07.793Z", "faisalman", 0, (), False),
        ),
    ),
    "debug": FixtureHistory(
        created="2011-11-29T01:11:23.618Z",
        maintainer_sets=(
            ("tjholowaychuk",),
            ("tjholowaychuk", "tootallnate"),
            ("kolban", "thebigredgeek", "tjholowaychuk", "tootallnate"),
            ("thebigredgeek",),
            ("kolban", "qix", "qix-", "thebigredgeek", "tjholowaychuk", "tootallnate"),
            ("qix", "thebigredgeek", "tjholowaychuk", "tootallnate"),
        ),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("0.0.1", "2011-11-29T01:11:25.405Z", "tjholowaychuk", 0, (), False),
            ("0.1.0", "2011-12-02T23:16:56.971Z", "tjholowaychuk", 0, (), False),
            ("0.2.0", "2012-01-22T18:26:41.329Z", "tjholowaychuk", 0, (), False),
            ("0.3.0", "2012-01-27T00:37:12.739Z", "tjholowaychuk", 0, (), False),
            ("0.4.0", "2012-02-01T21:20:47.417Z", "tjholowaychuk", 0, (), False),
            ("0.4.1", "2012-02-02T19:54:44.139Z", "tjholowaychuk", 0, (), False),
            ("0.5.0", "2012-02-03T00:56:44.457Z", "tjholowaychuk", 0, (), False),
            ("0.6.0", "2012-03-16T21:58:51.296Z", "tjholowaychuk", 0, (), False),
            ("0.7.0", "2012-07-09T19:11:59.699Z", None, 0, (), False),
            ("0.7.1", "2013-02-06T21:53:43.587Z", "tjholowaychuk", 0, (), False),
            ("0.7.2", "2013-02-06T23:40:19.513Z", "tjholowaychuk", 0, (), False),
            ("0.7.3", "2013-10-31T00:51:26.848Z", "tjholowaychuk", 0, (), False),
            ("0.7.4", "2013-11-13T20:08:37.779Z", "tjholowaychuk", 0, (), False),
            ("0.8.0", "2014-03-30T16:00:17.026Z", "tjholowaychuk", 0, (), False),
            ("0.8.1", "2014-04-15T02:04:45.652Z", "tjholowaychuk", 0, (), False),
            ("1.0.0", "2014-06-05T03:55:56.207Z", "tootallnate", 1, (), False),
            ("1.0.1", "2014-06-06T20:23:09.807Z", "tootallnate", 1, (), False),
            ("1.0.2", "2014-06-11T00:50:47.529Z", "tootallnate", 1, (), False),
            ("1.0.3", "2014-07-09T16:16:47.588Z", "tootallnate", 1, (), False),
            ("1.0.4", "2014-07-15T23:16:08.284Z", "tootallnate", 1, (), False),
            ("2.0.0", "2014-09-01T07:21:43.687Z", "tootallnate", 1, (), False),
            ("2.1.0", "2014-10-15T21:58:41.028Z", "tootallnate", 1, (), False),
            ("2.1.1", "2014-12-29T21:51:01.149Z", "tootallnate", 1, (), False),
            ("2.1.2", "2015-03-02T01:39:40.274Z", "tootallnate", 1, (), False),
            ("2.1.3", "2015-03-13T18:50:21.566Z", "tootallnate", 1, (), False),
            ("2.2.0", "2015-05-10T07:21:25.639Z", "tootallnate", 1, (), False),
            ("2.3.0", "2016-11-07T17:40:37.812Z", "thebigredgeek", 2, (), False),
            ("2.3.1", "2016-11-10T00:14:23.056Z", "thebigredgeek", 2, (), False),
            ("2.3.2", "2016-11-10T06:30:04.055Z", "tootallnate", 2, (), False),
            ("2.3.3", "2016-11-19T19:59:18.541Z", "tootallnate", 2, (), False),
            ("2.4.0", "2016-12-14T06:52:06.597Z", "thebigredgeek", 2, (), True),
            ("2.4.1", "2016-12-14T07:25:40.783Z", "thebigredgeek", 2, (), False),
            ("2.4.2", "2016-12-14T19:40:21.566Z", "thebigredgeek", 3, (), False),
            ("2.4.3", "2016-12-14T21:50:00.788Z", "thebigredgeek", 3, (), False),
            ("2.4.4", "2016-12-15T01:27:05.600Z", "thebigredgeek", 3, (), False),
            ("2.4.5", "2016-12-18T07:13:49.109Z", "thebigredgeek", 3, (), False),
            ("2.5.0", "2016-12-21T05:03:29.680Z", "thebigredgeek", 3, (), True),
            ("2.5.1", "2016-12-21T05:33:20.503Z", "thebigredgeek", 3, (), False),
            ("2.5.2", "2016-12-26T02:39:46.961Z", "thebigredgeek", 3, (), False),
            ("2.6.0", "2016-12-29T05:50:33.866Z", "thebigredgeek", 3, (), False),
            ("2.6.1", "2017-02-10T19:00:28.639Z", "thebigredgeek", 3, (), False),
            ("2.6.2", "2017-03-10T19:44:26.365Z", "thebigredgeek", 3, (), False),
            ("2.6.3", "2017-03-14T03:50:34.042Z", "thebigredgeek", 3, (), False),
            ("2.6.4", "2017-04-20T18:08:07.089Z", "thebigredgeek", 3, (), False),
            ("2.6.5", "2017-04-27T16:04:12.415Z", "thebigredgeek", 3, (), True),
            ("2.6.6", "2017-04-27T23:35:02.119Z", "thebigredgeek", 3, (), True),
            ("2.6.7", "2017-05-17T04:33:51.578Z", "thebigredgeek", 3, (), False),
            ("2.6.8", "2017-05-18T20:07:01.168Z", "tootallnate", 3, (), False),
            ("1.0.5", "2017-06-15T00:14:24.388Z", "tootallnate", 3, (), False),
            ("3.0.0", "2017-08-08T21:55:59.088Z", "tootallnate", 2, (), False),
            ("3.0.1", "2017-08-24T19:44:31.890Z", "tootallnate", 2, (), False),
            ("2.6.9", "2017-09-22T13:32:35.541Z", "tootallnate", 2, (), False),
            ("3.1.0", "2017-09-26T19:13:51.492Z", "tootallnate", 2, (), False),
            ("3.2.0", "2018-09-11T06:19:14.567Z", "qix", 4, (), True),
            ("3.2.1", "2018-09-11T06:28:53.798Z", "qix", 4, (), True),
            ("3.2.2", "2018-09-11T07:50:29.987Z", "qix", 4, (), True),
            ("3.2.3", "2018-09-11T08:30:38.788Z", "qix", 4, (), True),
            ("4.0.0", "2018-09-11T08:58:14.825Z", "qix", 4, (), False),
            ("3.2.4", "2018-09-11T09:12:30.102Z", "qix", 4, (), True),
            ("3.2.5", "2018-09-11T23:12:21.584Z", "qix", 4, (), False),
            ("4.0.1", "2018-09-11T23:16:32.204Z", "qix", 4, (), False),
            ("4.1.0", "2018-10-08T17:51:43.321Z", "qix", 4, (), False),
            ("3.2.6", "2018-10-10T06:48:00.226Z", "qix", 4, (), False),
            ("4.1.1", "2018-12-22T16:40:22.538Z", "qix", 5, (), False),
            ("4.2.0", "2020-05-19T09:51:27.149Z", "qix", 5, (), False),
            ("4.3.0", "2020-09-19T08:36:29.497Z", "qix", 5, (), False),
        ),
    ),
    "media-typer": FixtureHistory(
        created="2014-06-13T19:25:11.301Z",
        maintainer_sets=(("dougwilson",),),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("0.0.0", "2014-06-13T19:25:11.301Z", "dougwilson", 0, (), False),
            ("0.1.0", "2014-06-18T05:02:41.908Z", "dougwilson", 0, (), False),
            ("0.2.0", "2014-06-18T19:00:35.939Z", "dougwilson", 0, (), False),
            ("0.3.0", "2014-09-08T04:32:24.363Z", "dougwilson", 0, (), False),
            ("1.0.0", "2018-10-21T02:06:30.337Z", "dougwilson", 0, (), False),
            ("1.0.1", "2018-10-21T02:17:38.605Z", "dougwilson", 0, (), False),
            ("1.0.2", "2019-04-19T21:51:21.389Z", "dougwilson", 0, (), False),
            ("1.1.0", "2019-04-25T03:16:05.379Z", "dougwilson", 0, (), False),
        ),
    ),
    "ms": FixtureHistory(
        created="2011-12-21T19:38:08.664Z",
        maintainer_sets=(
            ("rauchg",),
            ("leo", "rauchg"),
            (
                "alexaltea",
                "anatrajkovska",
                "andybitz",
                "arunoda",
                "arzafran",
                "atcastle",
                "b3nnyl",
                "caarlos0",
                "codetheory",
                "coetry",
                "dav-is",
                "fivepointseven",
                "guybedford",
                "hharnisc",
                "huvik",
                "iamevilrabbit",
                "igorklopov",
                "ijjk",
                "janicklas-ralph",
                "javivelasco",
                "joecohens",
                "juancampa",
                "leo",
                "lfades",
                "lucleray",
                "manovotny",
                "marcosnils",
                "matheuss",
                "mfix22",
                "mglagola",
                "msweeneydev",
                "nkzawa",
                "olliv",
                "paco",
                "paulogdm",
                "quietshu",
                "rabaut",
                "ragojose",
                "rauchg",
                "sarupbanskota",
                "skllcrn",
                "sophearak",
                "styfle",
                "timer",
                "timneutkens",
                "tootallnate",
                "umegaya",
                "williamli",
                "zeit-bot",
            ),
        ),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("0.1.0", "2011-12-21T19:38:26.538Z", "rauchg", 0, (), False),
            ("0.2.0", "2012-09-03T20:33:06.093Z", "rauchg", 0, (), False),
            ("0.3.0", "2012-09-07T20:36:45.931Z", "rauchg", 0, (), False),
            ("0.4.0", "2012-10-22T17:01:26.046Z", "rauchg", 0, (), False),
            ("0.5.0", "2012-11-10T00:39:49.944Z", "rauchg", 0, (), False),
            ("0.5.1", "2013-02-24T20:27:27.010Z", "rauchg", 0, (), False),
            ("0.6.0", "2013-03-15T15:26:35.127Z", "rauchg", 0, (), False),
            ("0.6.1", "2013-05-10T15:38:08.059Z", "rauchg", 0, (), False),
            ("0.6.2", "2013-12-05T15:57:45.292Z", "rauchg", 0, (), False),
            ("0.7.0", "2014-11-24T07:59:08.195Z", "rauchg", 0, (), False),
            ("0.7.1", "2015-04-20T23:38:57.957Z", "rauchg", 0, (), False),
            ("0.7.2", "2016-10-25T08:16:49.773Z", "leo", 1, (), False),
            ("0.7.3", "2017-03-08T21:59:28.048Z", "leo", 1, (), False),
            ("1.0.0", "2017-03-19T21:43:15.128Z", "leo", 1, (), False),
            ("2.0.0", "2017-05-16T12:26:06.610Z", "leo", 1, (), False),
            ("2.1.0", "2017-11-30T16:54:16.315Z", "leo", 1, (), False),
            ("2.1.1", "2017-11-30T18:30:16.876Z", "leo", 1, (), False),
            ("2.1.2", "2019-06-06T17:31:55.859Z", "styfle", 2, (), False),
        ),
    ),
    "type-is": FixtureHistory(
        created="2013-12-28T00:06:19.362Z",
        maintainer_sets=(
            ("jongleberry",),
            ("dougwilson", "jongleberry", "shtylman", "tjholowaychuk"),
            ("dougwilson", "fishrock123", "jongleberry", "mscdex", "shtylman", "tjholowaychuk"),
            (
                "defunctzombie",
                "dougwilson",
                "fishrock123",
                "jongleberry",
                "mscdex",
                "tjholowaychuk",
            ),
            ("dougwilson", "jongleberry", "ritch"),
            ("dougwilson", "jongleberry"),
        ),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("1.0.0", "2013-12-28T00:06:19.362Z", "jongleberry", 0, (), False),
            ("1.0.1", "2014-03-30T07:59:36.618Z", "jongleberry", 1, (), False),
            ("1.1.0", "2014-04-13T00:23:29.651Z", "jongleberry", 1, (), False),
            ("1.2.0", "2014-05-12T03:30:58.338Z", "dougwilson", 2, (), False),
            ("1.2.1", "2014-06-04T04:37:46.796Z", "jongleberry", 2, (), False),
            ("1.2.2", "2014-06-20T01:21:35.783Z", "dougwilson", 2, (), False),
            ("1.3.0", "2014-06-20T02:04:10.178Z", "dougwilson", 2, (), False),
            ("1.3.1", "2014-06-20T03:04:57.712Z", "dougwilson", 2, (), False),
            ("1.3.2", "2014-06-25T01:04:21.979Z", "jongleberry", 2, (), False),
            ("1.4.0", "2014-09-02T08:46:55.515Z", "jongleberry", 2, (), False),
            ("1.5.0", "2014-09-05T19:49:01.787Z", "dougwilson", 2, (), False),
            ("1.5.1", "2014-09-08T06:33:30.713Z", "dougwilson", 2, (), False),
            ("1.5.2", "2014-09-29T05:30:21.355Z", "dougwilson", 2, (), False),
            ("1.5.3", "2014-11-09T22:46:49.093Z", "dougwilson", 2, (), False),
            ("1.5.4", "2014-12-11T02:42:44.888Z", "dougwilson", 2, (), False),
            ("1.5.5", "2014-12-31T05:26:13.133Z", "dougwilson", 2, (), False),
            ("1.5.6", "2015-01-30T05:31:55.125Z", "dougwilson", 2, (), False),
            ("1.5.7", "2015-02-10T05:35:50.380Z", "dougwilson", 2, (), False),
            ("1.6.0", "2015-02-13T03:55:36.313Z", "dougwilson", 2, (), False),
            ("1.6.1", "2015-03-14T04:20:19.211Z", "dougwilson", 2, (), False),
            ("1.6.2", "2015-05-11T05:52:18.626Z", "dougwilson", 3, (), False),
            ("1.6.3", "2015-06-08T18:58:33.938Z", "dougwilson", 3, (), False),
            ("1.6.4", "2015-07-02T01:22:52.689Z", "dougwilson", 3, (), False),
            ("1.6.5", "2015-07-17T03:36:46.181Z", "dougwilson", 3, (), False),
            ("1.6.6", "2015-07-31T17:12:11.577Z", "dougwilson", 3, (), False),
            ("1.6.7", "2015-08-20T18:16:35.954Z", "dougwilson", 3, (), False),
            ("1.6.8", "2015-09-04T14:57:13.431Z", "dougwilson", 3, (), False),
            ("1.6.9", "2015-09-28T04:16:01.110Z", "dougwilson", 3, (), False),
            ("1.6.10", "2015-12-01T19:07:05.618Z", "dougwilson", 3, (), False),
            ("1.6.11", "2016-01-30T05:09:52.834Z", "dougwilson", 4, (), False),
            ("1.6.12", "2016-02-29T06:09:05.369Z", "dougwilson", 5, (), False),
            ("1.6.13", "2016-05-19T01:40:52.083Z", "dougwilson", 5, (), False),
            ("1.6.14", "2016-11-19T01:11:00.743Z", "dougwilson", 5, (), False),
            ("1.6.15", "2017-04-01T03:19:49.693Z", "dougwilson", 5, (), False),
            ("1.6.16", "2018-02-16T20:22:03.004Z", "dougwilson", 5, (), False),
            ("1.6.17", "2019-04-25T16:08:34.582Z", "dougwilson", 5, (), False),
            ("1.6.18", "2019-04-26T13:59:49.224Z", "dougwilson", 5, (), False),
        ),
    ),
    "unpipe": FixtureHistory(
        created="2015-06-14T20:30:19.934Z",
        maintainer_sets=(("dougwilson",),),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(("1.0.0", "2015-06-14T20:30:19.934Z", "dougwilson", 0, (), False),),
    ),
    "utils-merge": FixtureHistory(
        created="2013-07-11T19:00:16.016Z",
        maintainer_sets=(("jaredhanson",),),
        # (version, time[version], _npmUser.name, maintainer set, install scripts, deprecated)
        versions=(
            ("1.0.0", "2013-07-11T19:00:17.317Z", "jaredhanson", 0, (), False),
            ("1.0.1", "2017-09-20T00:18:39.692Z", "jaredhanson", 0, (), False),
        ),
    ),
}


def real_documents() -> dict[str, dict[str, Any]]:
    docs = {
        name: document(
            name,
            history.as_versions(),
            NPM_CLI_FIXTURES.format(file=f"{name}.json"),
            created=history.created,
        )
        for name, history in FIXTURE_HISTORIES.items()
    }
    ua = FIXTURE_HISTORIES["ua-parser-js"]
    docs["ua-parser-js"] = document(
        "ua-parser-js",
        (
            *ua.as_versions(),
            Version(
                "0.7.29",
                time="2021-10-22T12:15:00.000Z",  # approximate, see the note
                publisher="faisalman",
                install_scripts=("preinstall",),
                note=UA_PARSER_INCIDENT,
            ),
        ),
        NPM_CLI_FIXTURES.format(file="ua-parser-js.json")
        + " for versions up to 0.7.22; 0.7.29 from the incident sources in its own note; "
        "0.7.23 to 0.7.28 are left out (no facts at hand)",
        created=ua.created,
    )
    docs["event-stream"] = document(
        "event-stream",
        (Version("3.3.6", publisher="right9ctrl", note=EVENT_STREAM_INCIDENT),),
        EVENT_STREAM_INCIDENT,
    )
    docs["axios"] = document(
        "axios",
        (
            Version(
                "1.14.0", publisher="GitHub Actions", trusted_publisher="github", provenance=True
            ),
            Version("1.14.1", publisher_known_personal=True),
        ),
        AXIOS_INCIDENT,
    )
    return docs


# -- constructed cases ------------------------------------------------------------------------

# Fictional packages and accounts, with a short regular history each, so that exactly one
# publication signal stands out on the locked version. Dates are invented; nothing here
# describes a real publish.
TOR = "a publish over Tor after normal publishes by the same account"
NO2FA = "a publish without two-factor authentication after publishes with it"
SWITCH = "a release published by an account that never published the package before"
PROVENANCE = (
    "trusted publishing and provenance on earlier releases, then a personal-token publish "
    "without either (the shape of the axios 1.14.1 case, whose publish times are not known)"
)


@dataclass(frozen=True, slots=True)
class Insight:
    version: str
    username: str
    created: str
    tor: bool
    tfa: bool


def constructed_cases() -> dict[str, tuple[str, tuple[Version, ...], tuple[Insight, ...]]]:
    alice, bob = ("alice-example",), ("bob-example",)
    carol, dave = ("carol-example",), ("dave-example",)
    actions = "GitHub Actions"
    return {
        "provscore-example-tor": (
            TOR,
            (
                Version("0.9.0", "2024-12-01T09:00:00.000Z", "alice-example", maintainers=alice),
                Version("1.0.0", "2025-03-01T10:00:00.000Z", "alice-example", maintainers=alice),
                Version("1.0.1", "2025-03-09T02:14:00.000Z", "alice-example", maintainers=alice),
            ),
            (
                Insight("0.9.0", "alice-example", "2024-12-01T09:00:00.000Z", False, True),
                Insight("1.0.0", "alice-example", "2025-03-01T10:00:00.000Z", False, True),
                Insight("1.0.1", "alice-example", "2025-03-09T02:14:00.000Z", True, True),
            ),
        ),
        "provscore-example-no2fa": (
            NO2FA,
            (
                Version("1.9.0", "2024-10-15T08:00:00.000Z", "bob-example", maintainers=bob),
                Version("1.9.1", "2025-01-20T08:15:00.000Z", "bob-example", maintainers=bob),
                Version("2.0.0", "2025-04-02T08:30:00.000Z", "bob-example", maintainers=bob),
            ),
            (
                Insight("1.9.0", "bob-example", "2024-10-15T08:00:00.000Z", False, True),
                Insight("1.9.1", "bob-example", "2025-01-20T08:15:00.000Z", False, True),
                Insight("2.0.0", "bob-example", "2025-04-02T08:30:00.000Z", False, False),
            ),
        ),
        "provscore-example-switch": (
            SWITCH,
            (
                Version("3.0.0", "2025-02-03T12:00:00.000Z", "carol-example", maintainers=carol),
                Version("3.1.0", "2025-05-10T12:00:00.000Z", "carol-example", maintainers=carol),
                Version(
                    "3.1.1",
                    "2025-05-11T03:45:00.000Z",
                    "mallory-example",
                    maintainers=("carol-example", "mallory-example"),
                ),
            ),
            (
                Insight("3.0.0", "carol-example", "2025-02-03T12:00:00.000Z", False, True),
                Insight("3.1.0", "carol-example", "2025-05-10T12:00:00.000Z", False, True),
                Insight("3.1.1", "mallory-example", "2025-05-11T03:45:00.000Z", False, True),
            ),
        ),
        "provscore-example-provenance": (
            PROVENANCE,
            (
                Version(
                    "2.2.0",
                    "2025-04-14T16:00:00.000Z",
                    actions,
                    trusted_publisher="github",
                    maintainers=dave,
                    provenance=True,
                ),
                Version(
                    "2.3.0",
                    "2025-06-02T16:00:00.000Z",
                    actions,
                    trusted_publisher="github",
                    maintainers=dave,
                    provenance=True,
                ),
                Version("2.3.1", "2025-06-20T23:40:00.000Z", "dave-example", maintainers=dave),
            ),
            (),  # no insights records: those facts stay unknown for this package
        ),
    }


def constructed_documents() -> dict[str, dict[str, Any]]:
    return {
        name: document(
            name,
            versions,
            "constructed in data/examples/build_example.py; not a real package",
            created=versions[0].time,
            constructed=story,
        )
        for name, (story, versions, _) in constructed_cases().items()
    }


def insights_records() -> dict[str, dict[str, Any]]:
    """The insights snapshot layout of scorer.publication.write_insights_snapshot, per package
    {version: answer}, for the constructed packages only: no real source gives Tor or 2FA."""
    out: dict[str, dict[str, Any]] = {}
    for name, (story, _, insights) in constructed_cases().items():
        if insights:
            out[name] = {
                i.version: {
                    "endpoint": INSIGHTS_ENDPOINT,
                    "found": True,
                    "username": i.username,
                    "created": i.created,
                    "tor": i.tor,
                    "tfa": i.tfa,
                    "reasons": [],
                    CONSTRUCTED: story,
                }
                for i in insights
            }
    return out


# -- output -----------------------------------------------------------------------------------

CONFIG = """\
# The offline example: `provscore report data/examples/npm-app/package-lock.json` with no
# other flag reads everything from here (paths are relative to this file).
# Written by data/examples/build_example.py; see data/examples/README.md.
compromised_db = "osv.json"
snapshot = "snapshot"
offline = true
"""


def escaped(name: str) -> str:
    """npm's escaped name, as scorer.registry.document_path: `@scope/x` -> `@scope%2fx`."""
    return quote(name, safe="@").replace("%2F", "%2f")


def outputs() -> dict[Path, str]:
    """Every file this script owns, relative to data/examples/npm-app, with its text."""
    files: dict[Path, str] = {Path("osv.json"): osv_database(), Path("provscore.toml"): CONFIG}
    documents = {**real_documents(), **constructed_documents()}
    for name, doc in documents.items():
        body = {"name": name, "registry": REGISTRY, "document": doc}
        text = json.dumps(body, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
        files[Path("snapshot", "packuments", f"{escaped(name)}.json")] = text
    for name, versions in insights_records().items():
        text = json.dumps(versions, sort_keys=True, indent=1) + "\n"
        files[Path("snapshot", "insights", f"{escaped(name)}.json")] = text
    return dict(sorted(files.items()))


def stale(root: Path, wanted: dict[Path, str]) -> list[Path]:
    """Files under the snapshot that this script no longer writes."""
    snapshot = root / "snapshot"
    found = snapshot.rglob("*") if snapshot.is_dir() else iter(())
    return sorted(
        p.relative_to(root) for p in found if p.is_file() and p.relative_to(root) not in wanted
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    parser.add_argument("--root", type=Path, default=APP, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root: Path = args.root
    wanted = outputs()
    if args.check:
        differ = [
            str(p)
            for p, text in wanted.items()
            if not (root / p).is_file() or (root / p).read_bytes() != text.encode()
        ]
        differ += [f"{p} (not written by this script)" for p in stale(root, wanted)]
        for line in differ:
            print(f"build_example: differs: {line}", file=sys.stderr)
        return 1 if differ else 0
    for path in stale(root, wanted):
        (root / path).unlink()
    for path, text in wanted.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(text.encode())
    print(f"build_example: wrote {len(wanted)} files under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
