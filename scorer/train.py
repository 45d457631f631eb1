"""`provscore train`: fit, cross-validate and save the trained scorer, with its model card.

The only module that imports scikit-learn. Two models are fitted on the same 0/1 encoding
(unknown = did not fire, see `scorer.model`): a logistic regression (the shipped kind, scored
with numpy alone) and a monotone gradient-boosting model it is compared with. Which features
are learned is decided from the data: a feature known in malicious and benign rows and fired at
least once is `learned`; young_release is `fixed` (it depends on the scan time, not on the
version: the positives were scanned while live, the benign histories years later, so a fit would
learn the calendar), and so are tor and no_2fa when no row knows them (the product flags every
Tor and no-2FA publish): a fixed feature gets the logit effect that makes it, alone, score its
`weights.toml` points. Any other feature the data cannot teach, or that the logistic regression
gives a negative weight (then it is refitted without it), is `dropped`: it adds nothing, so
every reason raises the score and no untested belief multiplies the odds of the rest.

Cross-validation is grouped by package (no package's versions on both sides), stratified and
repeated; each fold reruns the whole procedure (roles, elimination, fit) on its training part
and scores its test part with the fixed features held at 0, so the metrics measure only what
was learned. ROC AUC, PR AUC, recall at 1 % false-positive rate, Brier score and expected
calibration error are reported with mean, standard deviation, min and max over folds, beside
the weighted scorer on the same folds and features as a baseline.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.features import FEATURE_NAMES, FEATURES
from scorer.model import (
    LINEAR_KIND,
    TREE_KIND,
    LinearModel,
    Role,
    TreeModel,
    fixed_effect,
    one_thread,
    save_tree,
    solo_scores,
)
from scorer.training import TrainingRow

if TYPE_CHECKING:
    import numpy
    import numpy.typing as npt

    from scorer.scoring import WeightedScorer

    Array = npt.NDArray[numpy.float64]

SCAN_TIME = {
    "young_release": "depends on when the scan runs, not on the version: the positives are "
    "scanned while they were live and the benign histories years later, so a fit would learn "
    "the calendar; fixed at its weights.toml points"
}
# Features the product promises to flag whatever else is known (every Tor and every no-2FA
# publish): when the data cannot teach them, they keep their weights.toml points.
POLICY = {
    "tor": "fixed at its weights.toml points, so every Tor publish is still flagged",
    "no_2fa": "fixed at its weights.toml points, so every no-2FA publish is still flagged",
}
C = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's default)
METRICS = ("roc_auc", "pr_auc", "recall_at_1pct_fpr", "brier", "ece")


def encode(rows: Sequence[TrainingRow]) -> tuple[Array, Array, list[str]]:
    """(values with NaN, labels, groups) in FEATURE_NAMES order."""
    import numpy as np

    values = np.array([[r.values[f] for f in FEATURE_NAMES] for r in rows], dtype=np.float64)
    labels = np.array([r.label for r in rows], dtype=np.float64)
    return values, labels, [r.name for r in rows]


def decide_roles(values: Array, labels: Array) -> dict[str, tuple[str, str]]:
    """Before fitting: `learned` (a candidate), `fixed` or `dropped` (with why) per feature."""
    import numpy as np

    roles: dict[str, tuple[str, str]] = {}
    for j, name in enumerate(FEATURE_NAMES):
        column = values[:, j]
        known_pos = int(np.sum(~np.isnan(column) & (labels == 1)))
        known_neg = int(np.sum(~np.isnan(column) & (labels == 0)))
        fired = int(np.nansum(column))
        counts = f"known in {known_pos} malicious and {known_neg} benign rows, fired {fired} times"
        if name in SCAN_TIME:
            roles[name] = ("fixed", SCAN_TIME[name])
        elif known_pos and known_neg and fired:
            roles[name] = ("learned", f"fitted ({counts})")
        elif name in POLICY:
            roles[name] = ("fixed", f"not learnable from this data ({counts}); {POLICY[name]}")
        else:
            # A weak belief turned into a logit effect would multiply the odds of everything
            # it fires with; without data it is better left out than inflated.
            roles[name] = ("dropped", f"not learnable from this data ({counts}): adds nothing")
    return roles


@dataclass(frozen=True)
class LinearFit:
    mean: Array
    scale: Array
    coef: Array
    intercept: float
    learned: list[int]
    dropped: dict[int, float] = field(default_factory=dict)  # index -> weight it had


def fit_linear(fired: Array, labels: Array, candidates: Sequence[int]) -> LinearFit:
    """Logistic regression on the candidates; while a weight is negative, drop the most
    negative feature and refit (at most one feature per round; deterministic)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    k = fired.shape[1]
    active = list(candidates)
    dropped: dict[int, float] = {}
    while True:
        mean = np.zeros(k)
        scale = np.ones(k)
        coef = np.zeros(k)
        intercept = float(np.log(labels.mean() / (1 - labels.mean())))
        if active:
            scaler = StandardScaler().fit(fired[:, active])
            model = LogisticRegression(C=C, max_iter=5000)
            model.fit(scaler.transform(fired[:, active]), labels)
            mean[active] = scaler.mean_
            scale[active] = scaler.scale_
            coef[active] = model.coef_[0]
            intercept = float(model.intercept_[0])
        worst = min(active, key=lambda j: coef[j], default=None)
        if worst is None or coef[worst] >= 0:
            return LinearFit(mean, scale, coef, intercept, active, dropped)
        dropped[worst] = float(coef[worst] / scale[worst])
        active.remove(worst)


def fit_tree(fired: Array, labels: Array, learned: Sequence[int]) -> Any:
    """A monotone (every feature can only raise the risk) gradient-boosting model."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=8,
        min_samples_leaf=10,
        l2_regularization=1.0,
        early_stopping=False,
        monotonic_cst=[1] * len(learned),
        random_state=0,
    )
    return model.fit(fired[:, list(learned)], labels)


def _fired(values: Array) -> Array:
    import numpy as np

    return np.where(np.isnan(values), 0.0, values)


def _sigmoid(x: Array) -> Array:
    import numpy as np

    out: Array = 1.0 / (1.0 + np.exp(-x))
    return out


def fold_metrics(labels: Array, scores: Array, probabilities: bool) -> dict[str, float]:
    """ROC AUC, PR AUC, recall at 1 % FPR; Brier and ECE (10 bins) when `scores` are
    probabilities."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    out = {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "recall_at_1pct_fpr": float(tpr[fpr <= 0.01].max()),
    }
    if probabilities:
        out["brier"] = float(np.mean((scores - labels) ** 2))
        bins = np.minimum((scores * 10).astype(int), 9)
        ece = 0.0
        for b in range(10):
            mask = bins == b
            if mask.any():
                ece += abs(labels[mask].mean() - scores[mask].mean()) * mask.mean()
        out["ece"] = float(ece)
    return out


def summarise(folds: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    import numpy as np

    summary = {}
    for metric in METRICS:
        values = np.array([f[metric] for f in folds if metric in f])
        if values.size:
            summary[metric] = {
                "mean": round(float(values.mean()), 4),
                "std": round(float(values.std(ddof=1)) if values.size > 1 else 0.0, 4),
                "min": round(float(values.min()), 4),
                "max": round(float(values.max()), 4),
                "folds": int(values.size),
            }
    return summary


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold metrics of each model, and out-of-fold predictions of the first repeat."""

    folds: int
    repeats: int
    per_fold: dict[str, list[dict[str, float]]]
    oof: dict[str, Array]  # model -> predictions on every row (first repeat)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return {model: summarise(f) for model, f in self.per_fold.items()}


def cross_validate(
    rows: Sequence[TrainingRow],
    weights: WeightedScorer,
    *,
    folds: int = 5,
    repeats: int = 10,
    seed: int = 0,
) -> CrossValidation:
    """Grouped, stratified, repeated cross-validation of the whole training procedure."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    values, labels, groups = encode(rows)
    fired = _fired(values)
    points = np.array([weights.points()[f] for f in FEATURE_NAMES])
    per_fold: dict[str, list[dict[str, float]]] = {LINEAR_KIND: [], TREE_KIND: [], "weighted": []}
    oof = {name: np.full(len(rows), np.nan) for name in per_fold}
    for repeat in range(repeats):
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for train_idx, test_idx in splitter.split(fired, labels, groups):
            roles = decide_roles(values[train_idx], labels[train_idx])
            candidates = [j for j, f in enumerate(FEATURE_NAMES) if roles[f][0] == "learned"]
            fit = fit_linear(fired[train_idx], labels[train_idx], candidates)
            test = fired[test_idx]
            z = (test - fit.mean) / fit.scale
            p_lr = _sigmoid(fit.intercept + z @ fit.coef)
            tree = fit_tree(fired[train_idx], labels[train_idx], candidates)
            p_tree = tree.predict_proba(test[:, candidates])[:, 1]
            # The weighted scorer on the same learnable features (fixed ones held at 0).
            mask = np.zeros(len(FEATURE_NAMES))
            mask[candidates] = 1.0
            s_weighted = np.minimum(test @ (points * mask), 100.0) / 100.0
            y = labels[test_idx]
            if y.min() == y.max():
                continue  # a fold without both classes measures nothing
            per_fold[LINEAR_KIND].append(fold_metrics(y, p_lr, True))
            per_fold[TREE_KIND].append(fold_metrics(y, p_tree, True))
            per_fold["weighted"].append(fold_metrics(y, s_weighted, False))
            if repeat == 0:
                oof[LINEAR_KIND][test_idx] = p_lr
                oof[TREE_KIND][test_idx] = p_tree
                oof["weighted"][test_idx] = s_weighted
    return CrossValidation(folds, repeats, per_fold, oof)


def _fixed_effects(
    roles: Mapping[str, tuple[str, str]], weights: WeightedScorer, reference: float
) -> dict[str, float]:
    points = weights.points()
    return {f: fixed_effect(points[f], reference) for f in FEATURE_NAMES if roles[f][0] == "fixed"}


def fit_models(
    rows: Sequence[TrainingRow], weights: WeightedScorer, training: Mapping[str, Any]
) -> tuple[LinearModel, TreeModel]:
    """Both models on every row, with their roles and fixed effects."""
    import numpy as np

    values, labels, _ = encode(rows)
    fired = _fired(values)
    roles = decide_roles(values, labels)
    candidates = [j for j, f in enumerate(FEATURE_NAMES) if roles[f][0] == "learned"]
    fit = fit_linear(fired, labels, candidates)
    reference = float(fit.intercept + ((-fit.mean) / fit.scale) @ fit.coef)
    fixed = _fixed_effects(roles, weights, reference)
    linear_roles = []
    mean, scale, coef = fit.mean.copy(), fit.scale.copy(), fit.coef.copy()
    for j, name in enumerate(FEATURE_NAMES):
        role, why = roles[name]
        if j in fit.dropped:
            role = "dropped"
            why = (
                f"the fit gave it a negative weight ({fit.dropped[j]:+.3f} logit): on this data "
                "firing did not make a version more likely malicious, so it adds nothing"
            )
            mean[j], scale[j], coef[j] = 0.0, 1.0, 0.0
        elif role == "fixed":
            mean[j], scale[j], coef[j] = 0.0, 1.0, fixed[name]
        linear_roles.append(Role(name, role, why))
    linear = LinearModel(
        tuple(linear_roles),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in coef),
        fit.intercept,
        training=training,
    )
    tree_estimator = fit_tree(fired, labels, candidates)
    tree_reference = float(tree_estimator.decision_function(np.zeros((1, len(candidates))))[0])
    tree_fixed = _fixed_effects(roles, weights, tree_reference)
    tree = TreeModel(
        tuple(Role(n, roles[n][0], roles[n][1]) for n in FEATURE_NAMES),
        tree_estimator,
        tuple(tree_fixed.get(n, 0.0) for n in FEATURE_NAMES),
        training=training,
    )
    return linear, tree


def library_versions() -> dict[str, str]:
    import numpy as np
    import sklearn
    import skops

    from scorer import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "provscore": __version__,
    }


def data_summary(rows: Sequence[TrainingRow]) -> dict[str, Any]:
    counts = Counter((r.origin, r.label) for r in rows)
    return {
        "rows": len(rows),
        "by_origin_and_label": {f"{o} label={lab}": n for (o, lab), n in sorted(counts.items())},
        "packages": len({r.name for r in rows}),
        "malicious_packages": len({r.name for r in rows if r.label == 1}),
    }


def run_train(
    data: Path,
    *,
    out: Path,
    reviews: Path | None = None,
    snapshot: Path | None = None,
    cache_dir: Path | None = None,
    weights: Path | None = None,
    folds: int = 5,
    repeats: int = 10,
    save_tree_model: bool = False,
    home: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Read the data (and reviews), cross-validate, fit, write NAME.json, NAME.card.json and
    NAME.card.md (and NAME.skops with `save_tree_model`). Returns the card."""
    from scorer.card import card_markdown, make_card
    from scorer.errors import ConfigError
    from scorer.reviews import read_reviews
    from scorer.scoring import DEFAULT_WEIGHTS, WeightedScorer
    from scorer.training import merge_reviews, read_rows, review_rows

    if folds < 2 or repeats < 1:
        raise ConfigError("--folds must be >= 2 and --repeats >= 1")
    rows = read_rows(data)
    data_bytes = data.read_bytes()
    review_info = None
    if reviews is not None:
        if snapshot is None and cache_dir is None:
            raise ConfigError(
                "--reviews needs --snapshot DIR or --cache-dir DIR: the registry documents the "
                "versions were reviewed against"
            )
        decided = read_reviews(reviews)
        reviewed = review_rows(
            decided, snapshot_dir=snapshot, cache_dir=cache_dir, home=home or Path.home()
        )
        rows, replaced = merge_reviews(rows, reviewed)
        review_info = {
            "file": reviews.name,
            "sha256": hashlib.sha256(reviews.read_bytes()).hexdigest(),
            "rows": len(reviewed),
            "benign": sum(1 for r in decided if r.verdict == "benign"),
            "malicious": sum(1 for r in decided if r.verdict == "malicious"),
            "replaced_rows": replaced,
            "with_nothing_known": sum(
                1 for r in reviewed if all(math.isnan(v) for v in r.values.values())
            ),
        }
    labels = {r.label for r in rows}
    if labels != {0, 1}:
        raise ConfigError(f"{data}: the data needs both malicious (1) and benign (0) rows")
    weighted = WeightedScorer.from_file(weights or DEFAULT_WEIGHTS)
    echo(f"training on {len(rows)} rows ({data.name}); cross-validating {repeats}x{folds} folds")
    with one_thread():
        cv = cross_validate(rows, weighted, folds=folds, repeats=repeats)
    training = {
        "data": {
            "file": data.name,
            "sha256": hashlib.sha256(data_bytes).hexdigest(),
            **data_summary(rows),
        },
        "reviews": review_info,
        "weights": {"file": weighted.name, "sha256": weighted.sha256},
        "library_versions": library_versions(),
    }
    with one_thread():
        linear, tree = fit_models(rows, weighted, training)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.name.removesuffix(".json")
    model_path = out.with_name(stem + ".json")
    model_text = json.dumps(linear.to_json(), indent=2) + "\n"
    model_path.write_text(model_text, encoding="utf-8")
    tree_path = None
    if save_tree_model:
        tree_path = out.with_name(stem + ".skops")
        save_tree(tree, tree_path)
    card = make_card(
        stem,
        linear,
        hashlib.sha256(model_text.encode("utf-8")).hexdigest(),
        cv,
        solo_scores(linear),
        solo_scores(tree),
        tree_path.name if tree_path else None,
    )
    out.with_name(stem + ".card.json").write_text(
        json.dumps(card, indent=2) + "\n", encoding="utf-8"
    )
    out.with_name(stem + ".card.md").write_text(card_markdown(card), encoding="utf-8")
    written = [model_path.name, f"{stem}.card.json", f"{stem}.card.md"]
    if tree_path:
        written.append(tree_path.name)
    echo(f"wrote {', '.join(written)} in {out.parent}")
    for model, metrics in card["cross_validation"]["models"].items():
        echo(
            f"  {model}: "
            + ", ".join(f"{m} {v['mean']:.3f} ± {v['std']:.3f}" for m, v in metrics.items())
        )
    return card


FEATURE_MEANING = {f.name: f.meaning for f in FEATURES}

__all__ = [
    "CrossValidation",
    "cross_validate",
    "decide_roles",
    "encode",
    "fit_linear",
    "fit_models",
    "fit_tree",
    "fold_metrics",
    "run_train",
]
