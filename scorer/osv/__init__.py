"""OSV malicious-package advisories: version matching, the local database and the online API.

The public surface is re-exported here; submodules are `versions` (npm SemVer precedence and
OSV range evaluation), `advisories` (the `Advisory` record, the malicious rule, the matcher),
`database` (load and merge a local OSV database), `layouts` (a database of any layout read
as a stream of records, through bounded readers), `index` (the on-disk matching index over a
database), `update` (`db update` and `db info`; imports httpx) and `client` (the OSV API over
httpx). The last two are imported on their own, so that offline runs do not load httpx.
"""

from __future__ import annotations

from scorer.osv.advisories import (
    Advisory,
    AdvisoryIndex,
    AffectedPackage,
    RecordError,
    group_advisories,
    incident_ids,
    is_malicious,
    match,
)
from scorer.osv.database import MergeCounts, dump_database, load_database, merge_database
from scorer.osv.index import default_cache_dir, open_database
from scorer.osv.versions import VersionRange, compare_versions, parse_version

# The public OSV API, the default for `audit --osv` (defined once; the client module imports
# httpx, so it cannot live there without offline runs loading it).
DEFAULT_OSV_URL = "https://api.osv.dev"
# The OSV project's published archive of every npm record, the default of `db update`: the
# documented download location of the OSV data dumps (one constant, like the API's).
DEFAULT_ARCHIVE_URL = "https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip"

__all__ = [
    "DEFAULT_ARCHIVE_URL",
    "DEFAULT_OSV_URL",
    "Advisory",
    "AdvisoryIndex",
    "AffectedPackage",
    "MergeCounts",
    "RecordError",
    "VersionRange",
    "compare_versions",
    "default_cache_dir",
    "dump_database",
    "group_advisories",
    "incident_ids",
    "is_malicious",
    "load_database",
    "match",
    "merge_database",
    "open_database",
    "parse_version",
]
