"""The risk report as one self-contained HTML file: header, sortable and filterable package table,
and two inline SVG charts (score distribution, how often each reason fired).

The page makes no outside request: the stylesheet and script are inlined and allowed by their
SHA-256 hashes in a `default-src 'none'` Content-Security-Policy, and the charts are SVG drawn
here, so they show without the script. Every string of the document is untrusted (package
names, summaries, reasons, paths): control and bidi characters are first shown as escapes by
`scorer.text.safe`, then Jinja2's autoescaping writes them as text. The script builds no markup;
it reads the table and only sets attributes, `hidden` and `textContent`. Jinja2 is imported
inside `render_html` so that `provscore audit` does not load it. The output depends only on the
document, so it can be compared byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scorer.text import safe

SCHEMA_VERSION = 1
TOP_REASONS = 3
# Chart geometry in SVG user units.
HIST_PLOT_HEIGHT = 160.0
HIST_BAR_WIDTH = 40.0
HIST_GAP = 8.0
HIST_TOP = 20.0
HIST_LEFT = 10.0
REASON_ROW = 22.0
REASON_LABEL_WIDTH = 190.0
REASON_PLOT_WIDTH = 300.0
LEVEL_ORDER = {"none": 0, "warning": 1, "error": 2}


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart, with its geometry already computed (SVG user units)."""

    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    bars: tuple[Bar, ...]
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Reason:
    text: str
    points: str


@dataclass(frozen=True, slots=True)
class Row:
    """A scored package as the table shows it; `*_sort` are the keys the script sorts on."""

    rank: int
    name: str
    version: str
    aliases: tuple[str, ...]
    change: str | None
    dev: bool
    level: str
    level_sort: int
    suppressed: str | None
    score: str
    score_sort: str
    confidence: str
    confidence_sort: str
    malicious_ids: tuple[str, ...]
    malicious_summary: str | None
    reasons: tuple[Reason, ...]
    more_reasons: int
    unknown: tuple[str, ...]
    search: str


def _clean(value: Any) -> Any:
    """The document with every string passed through `safe`, so no template can forget one."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _num(value: float) -> str:
    """SVG coordinates with at most two decimals and no trailing zeros: stable golden files."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _points(points: float) -> str:
    return f"{points:+.1f}"


def _change(pkg: Mapping[str, Any]) -> str | None:
    change = pkg.get("change")
    if change is None:
        return None
    replaces = pkg.get("replaces") or []
    if change == "changed" and replaces:
        return f"changed from {', '.join(replaces)}"
    return str(change)


def _row(pkg: Mapping[str, Any]) -> Row:
    score = pkg["score"]
    confidence = pkg["confidence"]
    reasons = sorted(pkg["reasons"], key=lambda r: (-r["points"], r["feature"]))
    malicious = pkg["malicious"]
    suppressed = pkg["suppressed"]
    unknown = tuple(f"{u['feature']}: {u['why']}" for u in pkg["unknown"])
    search_parts = [pkg["name"], pkg["version"], *pkg["aliases"]]
    search_parts += [f"{r['feature']} {r['text']}" for r in pkg["reasons"]]
    if suppressed is not None:
        until = f" until {suppressed['until']}" if suppressed["until"] else ""
        suppressed_text: str | None = f"suppressed{until}: {suppressed['reason']}"
    else:
        suppressed_text = None
    return Row(
        rank=pkg["rank"],
        name=pkg["name"],
        version=pkg["version"],
        aliases=tuple(pkg["aliases"]),
        change=_change(pkg),
        dev=bool(pkg["dev"]),
        level=pkg["level"],
        level_sort=LEVEL_ORDER[pkg["level"]],
        suppressed=suppressed_text,
        score="unknown" if score is None else f"{score:.1f}",
        score_sort="" if score is None else repr(float(score)),
        confidence="unknown" if confidence is None else f"{confidence * 100:.0f}%",
        confidence_sort="" if confidence is None else repr(float(confidence)),
        malicious_ids=tuple(malicious["ids"]) if malicious else (),
        malicious_summary=malicious["summary"] if malicious else None,
        reasons=tuple(Reason(r["text"], _points(r["points"])) for r in reasons[:TOP_REASONS]),
        more_reasons=max(0, len(reasons) - TOP_REASONS),
        unknown=unknown,
        search=" ".join(search_parts),
    )


def _bucket(pkg: Mapping[str, Any]) -> int | None:
    score = pkg["score"]
    if score is None:
        return None
    if not 0 <= score <= 100:
        raise ValueError(f"score {score!r} of {pkg['name']}@{pkg['version']} is not in 0..100")
    # Ten buckets of ten points; 100 itself belongs to the last one.
    return min(int(score // 10), 9)


def score_histogram(scored: Sequence[Mapping[str, Any]]) -> Chart:
    """Bars for scores [0, 10), [10, 20) ... [90, 100], then one for packages whose score is
    unknown."""
    counts = Counter(_bucket(p) for p in scored)
    keys: list[int | None] = [*range(10), None]
    peak = max((counts[k] for k in keys), default=0)
    bars = []
    for i, key in enumerate(keys):
        count = counts[key]
        height = HIST_PLOT_HEIGHT * count / peak if peak else 0.0
        label = "unknown" if key is None else f"{key * 10}-{key * 10 + 10}"
        bars.append(
            Bar(
                label=label,
                count=count,
                x=HIST_LEFT + i * (HIST_BAR_WIDTH + HIST_GAP),
                y=HIST_TOP + HIST_PLOT_HEIGHT - height,
                width=HIST_BAR_WIDTH,
                height=height,
                unknown=key is None,
            )
        )
    width = HIST_LEFT * 2 + len(keys) * (HIST_BAR_WIDTH + HIST_GAP) - HIST_GAP
    return Chart(tuple(bars), width, HIST_TOP + HIST_PLOT_HEIGHT + 40)


def reason_chart(scored: Sequence[Mapping[str, Any]]) -> Chart:
    """One horizontal bar per feature that fired, most frequent first (ties by name); a package
    counts once per feature."""
    counts = Counter(f for p in scored for f in {r["feature"] for r in p["reasons"]})
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    peak = max(counts.values(), default=0)
    bars = tuple(
        Bar(
            label=feature,
            count=count,
            x=REASON_LABEL_WIDTH,
            y=i * REASON_ROW + 4,
            width=REASON_PLOT_WIDTH * count / peak,
            height=REASON_ROW - 8,
        )
        for i, (feature, count) in enumerate(ordered)
    )
    return Chart(bars, REASON_LABEL_WIDTH + REASON_PLOT_WIDTH + 50, max(1, len(bars)) * REASON_ROW)


def _asset(name: str) -> str:
    return (resources.files("scorer.report") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(doc: Mapping[str, Any]) -> str:
    """The report document (schema_version 1, see the README) as one HTML page."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"report schema_version {doc.get('schema_version')!r} is not {SCHEMA_VERSION}"
        )
    data = _clean(doc)
    scored = [p for p in data["packages"] if p["not_scored"] is None]
    not_scored = [p for p in data["packages"] if p["not_scored"] is not None]
    script = _asset("report.js")
    style = _asset("report.css")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(script)}",
            f"style-src {_csp_hash(style)}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    env = Environment(
        loader=PackageLoader("scorer.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    template = env.get_template("report.html.j2")
    return template.render(
        doc=data,
        csp=csp,
        # Our own files, hashed above: inserted verbatim, never data.
        script=Markup(script),
        style=Markup(style),
        rows=[_row(p) for p in scored],
        not_scored=not_scored,
        histogram=score_histogram(scored),
        reasons=reason_chart(scored),
        hist_plot_bottom=HIST_TOP + HIST_PLOT_HEIGHT,
    )
