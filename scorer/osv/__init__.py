"""OSV malicious-package advisories: version matching, the local database and the online API.

The public surface is re-exported here; submodules are `versions` (npm SemVer precedence and
OSV range evaluation), `advisories` (the `Advisory` record, the malicious rule, the matcher),
`database` (load and merge a local OSV database), `index` (the cached matching index over a
database, for fast repeated audits) and `client` (the OSV API over httpx; imported on its own so
that offline runs do not load httpx).
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

__all__ = [
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
