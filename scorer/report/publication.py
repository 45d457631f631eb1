"""Renderers of a `Publication` (`provscore insights show`): one per `PublicationFormat`.

Pure functions from the model in `scorer.publication` to a string; every fact shows its value,
the sources that reported it, and why it is unknown or in conflict.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, assert_never

from scorer.errors import ConfigError
from scorer.publication import FACTS, Fact, Publication, show_value
from scorer.report.formats import PublicationFormat
from scorer.text import safe


def to_data(publication: Publication) -> dict[str, Any]:
    """JSON-ready dict: every fact with its value, conflict flag, reason and observations."""

    def fact(f: Fact) -> dict[str, Any]:
        value = list(f.value) if isinstance(f.value, tuple) else f.value
        return {
            "value": value,
            "conflict": f.conflict,
            "reason": f.reason,
            "sources": [
                {
                    "source": o.source,
                    "value": list(o.value) if isinstance(o.value, tuple) else o.value,
                    "reason": o.reason,
                }
                for o in f.observations
            ],
        }

    data: dict[str, Any] = {
        "name": publication.name,
        "version": publication.version,
        "facts": {key: fact(publication.facts[key]) for key, _, _ in FACTS},
        "package_created_at": fact(publication.package_created_at),
        "previous": to_data(publication.previous) if publication.previous else None,
    }
    if publication.previous is None:
        data["previous_reason"] = publication.previous_reason
    return data


def render_text(publication: Publication, *, pretty: bool = True) -> str:
    """Each fact on its own line with its sources; the previous version below."""
    lines = [f"{publication.name}@{publication.version}"]
    lines += _fact_lines(publication)
    lines.append(f"  package created: {_fact_text(publication.package_created_at)}")
    if publication.previous is not None:
        lines.append(f"previous version {publication.previous.version}")
        lines += _fact_lines(publication.previous)
    else:
        lines.append(f"previous version: unknown ({publication.previous_reason})")
    # Publisher names, maintainers and deprecation messages come from registry documents and
    # insights answers: neutralise control and bidi characters before they reach a terminal.
    return "\n".join(safe(line) for line in lines) + "\n"


def _fact_lines(publication: Publication) -> list[str]:
    return [
        f"  {key.replace('_', ' ')}: {_fact_text(publication.facts[key])}" for key, _, _ in FACTS
    ]


def _fact_text(fact: Fact) -> str:
    if fact.conflict:
        return "CONFLICT " + "; ".join(
            f"{o.source}: {show_value(o.value)}" for o in fact.observations if o.value is not None
        )
    if fact.value is None:
        return f"unknown ({fact.reason})"
    sources = ", ".join(o.source for o in fact.observations if o.value is not None)
    return f"{show_value(fact.value)} [{sources}]"


def render_json(publication: Publication, *, pretty: bool = True) -> str:
    """`to_data` as sorted-key JSON: indented for people, compact for machines."""
    if pretty:
        return json.dumps(to_data(publication), indent=2, sort_keys=True) + "\n"
    return json.dumps(to_data(publication), separators=(",", ":"), sort_keys=True) + "\n"


class PublicationRenderer(Protocol):
    def __call__(self, publication: Publication, *, pretty: bool = True) -> str: ...


def renderer(fmt: PublicationFormat) -> PublicationRenderer:
    """The renderer of one format (mypy checks that every member is handled)."""
    match fmt:
        case PublicationFormat.TEXT:
            return render_text
        case PublicationFormat.JSON:
            return render_json
        case _:
            assert_never(fmt)


RENDERERS: dict[PublicationFormat, PublicationRenderer] = {
    fmt: renderer(fmt) for fmt in PublicationFormat
}


def render(
    publication: Publication,
    fmt: PublicationFormat | str = PublicationFormat.TEXT,
    *,
    pretty: bool = True,
) -> str:
    """`publication` in format `fmt`; an unknown format name is a ConfigError."""
    try:
        chosen = PublicationFormat(fmt)
    except ValueError as exc:
        raise ConfigError(
            f"unknown format {fmt!r}; use one of: {', '.join(PublicationFormat)}"
        ) from exc
    return RENDERERS[chosen](publication, pretty=pretty)
