"""The model card written beside every trained model: JSON (for tools) and Markdown (for people).

It states the features and each one's role, the data (hash, rows by origin and label), the
library versions, the cross-validated metrics with their spread, how the score and its points
are computed, what the model is for, and what it must not be trusted for. The limits are
written from the data the model was trained on, not from hope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scorer.features import FEATURES

if TYPE_CHECKING:
    from scorer.model import LinearModel
    from scorer.train import CrossValidation

CARD_VERSION = 1
SCORE_TEXT = (
    "score = 100 * (p - p0) / (1 - p0), where p is the logistic regression's probability for the "
    "version (unknown features encoded as 'did not fire') and p0 its probability when nothing "
    "fired; a version on which nothing fired scores 0. Points: each fired feature's logit effect "
    "(coefficient / scale) divided by the sum of the fired features' effects, times the score, "
    "so the points add up to the score exactly; every effect is >= 0, so every reason raises it. "
    "The score is not a calibrated probability; p (reported in the metrics) is calibrated only "
    "to this data's base rate."
)
INTENDED = [
    "Ranking the locked versions of a lockfile for human review, beside the weighted scorer "
    "(provscore report --scorer trained).",
    "A starting point that a team retrains with its own review decisions "
    "(provscore train --reviews).",
]
MUST_NOT = [
    "Deciding that a version is safe: a low score means no learned signal fired, and most "
    "documented compromises in the data (phished or hijacked maintainer accounts publishing as "
    "usual) show no publication signal at all.",
    "Blocking or allowing installs on its own, or replacing the malicious-advisory gate "
    "(provscore audit): keep the gate; malicious matches rank above every score anyway.",
    "Reading the score as a probability of compromise, or comparing it with scores of another "
    "model or data set.",
    "Packages or registries unlike the training data: the benign histories are old npm CLI "
    "test fixtures (mostly releases before 2023, without trusted publishing or provenance).",
]


def _must_not(card: Mapping[str, Any]) -> list[str]:
    """The static items, then what the roles say the model did not learn."""
    fixed = [f["name"] for f in card["features"] if f["role"] == "fixed"]
    dropped = [f["name"] for f in card["features"] if f["role"] == "dropped"]
    items = list(MUST_NOT)
    if fixed:
        items.append(
            f"Judging {', '.join(fixed)}: not learned from data (no row knows them, or they "
            "depend on the scan time); they are fixed at weights.toml's points."
        )
    if dropped:
        items.append(
            f"Judging {', '.join(dropped)}: the data does not show them raising the risk, so the "
            "model ignores them; use the weighted scorer's view of them."
        )
    return items


def _limits(card: Mapping[str, Any]) -> list[str]:
    data = card["data"]
    roles = {f["name"]: f["role"] for f in card["features"]}
    learned = [n for n, r in roles.items() if r == "learned"]
    positives = sum(n for k, n in data["by_origin_and_label"].items() if k.endswith("label=1"))
    return [
        f"Few positives: {positives} malicious rows from {data['malicious_packages']} "
        "packages, from the six incidents of ../shared/data/npm-incidents.md (and any malicious "
        "reviews); the metrics' spread over folds is wide for that reason.",
        "Constructed facts: every malicious row's history is constructed around the incident's "
        "documented facts; only the features the write-up states are known, the rest unknown "
        "(so the model cannot learn from them). Two facts are inferences, marked in the data: "
        "the track record behind install_script_added for the Shai-Hulud and nx versions.",
        "Old benign histories: the benign rows are real registry documents from npm CLI test "
        "fixtures, scanned long after their release; trusted publishing and provenance never "
        "appear in them, so their loss is learned from one malicious package (axios).",
        f"Learned from this data: {', '.join(learned) or 'nothing'}; every other feature is "
        "fixed or dropped (see the feature table).",
        "Unknown facts are encoded as 'did not fire' in training and scoring alike: a missing "
        "fact never raises a score, and the different missingness of constructed and real rows "
        "cannot be learned as a sign of malice.",
    ]


def make_card(
    name: str,
    linear: LinearModel,
    sha256: str,
    cv: CrossValidation,
    solo: Mapping[str, float],
    tree_solo: Mapping[str, float],
    tree_file: str | None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict (no clock, so retraining the same data gives the same card
    up to library versions)."""
    meaning = {f.name: f.meaning for f in FEATURES}
    effects = linear.effects()
    features = [
        {
            "name": r.name,
            "meaning": meaning[r.name],
            "role": r.role,
            "why": r.why,
            "coefficient": round(linear.coefficients[i], 6),
            "scale": round(linear.scale[i], 6),
            "logit_effect": round(float(effects[i]), 4),
            "solo_points": round(solo[r.name], 2),
            "tree_solo_points": round(tree_solo[r.name], 2),
        }
        for i, r in enumerate(linear.roles)
    ]
    training = linear.training
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "model": name,
        "kind": linear.kind,
        "file": f"{name}.json",
        "sha256": sha256,
        "compared_with": {
            "kind": "gradient-boosting (scikit-learn HistGradientBoostingClassifier, monotone)",
            "file": tree_file,
        },
        "features": features,
        "intercept": round(linear.intercept, 6),
        "score": SCORE_TEXT,
        "data": training["data"],
        "reviews": training.get("reviews"),
        "weights": training["weights"],
        "library_versions": training["library_versions"],
        "cross_validation": {
            "scheme": f"StratifiedGroupKFold by package name, {cv.folds} folds, repeated "
            f"{cv.repeats} times with different shuffles; each fold refits roles, elimination "
            "and model on its training part; fixed features held at 0 on the test part. "
            "'weighted' is the weighted scorer on the same features and folds (no training). "
            "Brier and ECE (10 equal-width bins) are of the probability p at this data's base "
            "rate.",
            "folds": cv.folds,
            "repeats": cv.repeats,
            "models": cv.summary(),
        },
        "intended_use": INTENDED,
    }
    card["must_not_be_used_for"] = _must_not(card)
    card["limits"] = _limits(card)
    return card


def _metric(v: Mapping[str, float]) -> str:
    return f"{v['mean']:.3f} ± {v['std']:.3f} ({v['min']:.3f}-{v['max']:.3f})"


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card for people, from the JSON card."""
    lines = [
        f"# Model card: {card['model']}",
        "",
        f"{card['kind']} in `{card['file']}` (sha256 `{card['sha256']}`), scored with numpy "
        "only by `provscore report --scorer trained"
        + ("`." if card["model"] == "provscore-trained" else f" --model {card['file']}`."),
        f"Compared with: {card['compared_with']['kind']}"
        + (
            f", saved as `{card['compared_with']['file']}`."
            if card["compared_with"]["file"]
            else " (not saved)."
        ),
        "",
        "## Must not be used for",
        "",
        *[f"- {item}" for item in card["must_not_be_used_for"]],
        "",
        "## Intended use",
        "",
        *[f"- {item}" for item in card["intended_use"]],
        "",
        "## Cross-validated metrics",
        "",
        card["cross_validation"]["scheme"],
        "",
        "mean ± standard deviation (min-max) over folds:",
        "",
        "| model | ROC AUC | PR AUC | recall at 1 % FPR | Brier | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for model, m in card["cross_validation"]["models"].items():
        cells = [
            _metric(m[k]) if k in m else "n/a"
            for k in ("roc_auc", "pr_auc", "recall_at_1pct_fpr", "brier", "ece")
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Features",
        "",
        "| feature | role | logit effect | points alone | why |",
        "|---|---|---|---|---|",
    ]
    for f in card["features"]:
        lines.append(
            f"| {f['name']} | {f['role']} | {f['logit_effect']:g} | {f['solo_points']:g} | "
            f"{f['why']} |"
        )
    data = card["data"]
    lines += [
        "",
        "## Score and points",
        "",
        card["score"],
        "",
        "## Data",
        "",
        f"`{data['file']}` sha256 `{data['sha256']}`: {data['rows']} rows, {data['packages']} "
        f"packages ({data['malicious_packages']} with malicious rows).",
        "",
        *[f"- {k}: {v}" for k, v in data["by_origin_and_label"].items()],
    ]
    if card.get("reviews"):
        r = card["reviews"]
        lines += [
            "",
            f"Reviews: `{r['file']}` sha256 `{r['sha256']}`: {r['rows']} rows ({r['benign']} "
            f"benign, {r['malicious']} malicious; {r['replaced_rows']} replaced a shipped row; "
            f"{r['with_nothing_known']} with nothing known).",
        ]
    lines += [
        "",
        f"Fixed features take their points from `{card['weights']['file']}` (sha256 "
        f"`{card['weights']['sha256']}`).",
        "",
        "## Limits",
        "",
        *[f"- {item}" for item in card["limits"]],
        "",
        "## Library versions",
        "",
        *[f"- {k} {v}" for k, v in card["library_versions"].items()],
        "",
    ]
    return "\n".join(lines)


__all__ = ["CARD_VERSION", "card_markdown", "make_card"]
