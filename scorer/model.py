"""Trained scorer model files, and the arithmetic that turns a model's logit into points.

Two file kinds, neither of which runs code when read (no pickle):
- a logistic regression is JSON (`*.json`): the feature list, each feature's scaling (mean,
  scale) and coefficient, the intercept, the library versions and the data it was trained on.
  Scoring it needs numpy only, so `report --scorer trained` never imports scikit-learn;
- a gradient-boosting model is a skops file (`*.skops`), loaded with an explicit list of
  trusted types (anything else in the file is refused); scoring it needs scikit-learn.

Both encode a feature as 1 when it fired and 0 when it did not fire *or is unknown*, in training
and in scoring alike, so a missing fact can never raise a score. Every feature has a role:
`learned` (fitted), `fixed` (no training row knows it, or it depends on the scan time rather
than the version: its logit effect is set so that, alone, it scores what `weights.toml` gives
it) or `dropped` (the fit gave it a weight <= 0, so it is left out and adds nothing). Every
effect is therefore >= 0 and every reason raises the score.

The score is the model's probability above the nothing-fired baseline, on 0-100:
`100 * (p - p0) / (1 - p0)` with `p0` the probability of a version on which nothing fired (so
that version scores 0). For the linear model the points of each fired feature are its share of
the logit above the baseline (`effect_j / sum of fired effects`) times the score; for the tree
model they are exact Shapley values of the score over the fired features. Either way they add up
to the score. Confidence is the share of the features' solo scores (the score a version gets
when only that feature fires) that was known.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.errors import ConfigError, InputError, parser_limit
from scorer.features import FEATURE_NAMES

if TYPE_CHECKING:
    import numpy
    import numpy.typing as npt

    Array = npt.NDArray[numpy.float64]

MODEL_FORMAT = "provscore-model"
FORMAT_VERSION = 1
ROLES = ("learned", "fixed", "dropped")
LINEAR_KIND = "logistic-regression"
TREE_KIND = "gradient-boosting"
ENCODING = "1 = the feature fired; 0 = it did not fire or is unknown (never raises a score)"
# What a skops tree file may hold: the estimator, its fitted parts, and plain containers.
TRUSTED_TREE_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "collections.OrderedDict",
    "numpy.dtype",
)


@dataclass(frozen=True, slots=True)
class Role:
    """A feature's part in a model, and why."""

    name: str
    role: str
    why: str


def _check_header(path: Path, doc: Mapping[str, Any], kind: str) -> None:
    """Format, version, kind and feature list; a mismatch names what differs."""
    if doc.get("format") != MODEL_FORMAT:
        raise InputError(path, f"not a provscore model file (format {doc.get('format')!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise InputError(
            path,
            f"model format version {doc.get('format_version')!r}; this provscore reads "
            f"version {FORMAT_VERSION}: retrain it with `provscore train`",
        )
    if doc.get("kind") != kind:
        raise InputError(path, f"model kind {doc.get('kind')!r}, expected {kind!r}")
    features = doc.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InputError(path, "features must be a list of feature names")
    if tuple(features) != FEATURE_NAMES:
        missing = [f for f in FEATURE_NAMES if f not in features]
        extra = [f for f in features if f not in FEATURE_NAMES]
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unknown {', '.join(extra)}")
        if not parts:
            parts.append(f"order differs: model {', '.join(features)}")
        raise InputError(
            path,
            "the model's feature list differs from this provscore's ("
            + "; ".join(parts)
            + "): retrain it with `provscore train`",
        )


def _roles(path: Path, raw: object) -> tuple[Role, ...]:
    if not isinstance(raw, dict) or set(raw) != set(FEATURE_NAMES):
        raise InputError(path, "roles must give every feature a role")
    roles = []
    for name in FEATURE_NAMES:
        entry = raw[name]
        if (
            not isinstance(entry, dict)
            or entry.get("role") not in ROLES
            or not isinstance(entry.get("why"), str)
        ):
            raise InputError(path, f"roles.{name} must have role ({', '.join(ROLES)}) and why")
        roles.append(Role(name, entry["role"], entry["why"]))
    return tuple(roles)


def _floats(path: Path, raw: object, what: str, n: int) -> list[float]:
    if (
        not isinstance(raw, list)
        or len(raw) != n
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        or not all(math.isfinite(v) for v in raw)
    ):
        raise InputError(path, f"{what} must be {n} finite numbers")
    return [float(v) for v in raw]


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression over the 0/1-encoded features, as written to JSON."""

    roles: tuple[Role, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    training: Mapping[str, Any] = field(default_factory=dict)
    kind: str = LINEAR_KIND

    def effects(self) -> Array:
        """The logit added by each feature firing (0 -> 1), in FEATURE_NAMES order."""
        import numpy as np

        effects: Array = np.array(self.coefficients) / np.array(self.scale)
        return effects

    def logits(self, fired: Array) -> Array:
        import numpy as np

        z = (fired - np.array(self.mean)) / np.array(self.scale)
        logits: Array = self.intercept + z @ np.array(self.coefficients)
        return logits

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "features": list(FEATURE_NAMES),
            "encoding": ENCODING,
            "intercept": self.intercept,
            "scaling": {"mean": list(self.mean), "scale": list(self.scale)},
            "coefficients": list(self.coefficients),
            "roles": {r.name: {"role": r.role, "why": r.why} for r in self.roles},
            "training": dict(self.training),
        }

    @classmethod
    def from_json(cls, path: Path, doc: object) -> LinearModel:
        if not isinstance(doc, dict):
            raise InputError(path, "a model file must be a JSON object")
        _check_header(path, doc, LINEAR_KIND)
        n = len(FEATURE_NAMES)
        scaling = doc.get("scaling")
        if not isinstance(scaling, dict):
            raise InputError(path, "scaling must be an object with mean and scale")
        mean = _floats(path, scaling.get("mean"), "scaling.mean", n)
        scale = _floats(path, scaling.get("scale"), "scaling.scale", n)
        if any(s <= 0 for s in scale):
            raise InputError(path, "scaling.scale must be > 0")
        coefficients = _floats(path, doc.get("coefficients"), "coefficients", n)
        (intercept,) = _floats(path, [doc.get("intercept")], "intercept", 1)
        roles = _roles(path, doc.get("roles"))
        for role, coef in zip(roles, coefficients, strict=True):
            if coef < 0:
                raise InputError(
                    path, f"coefficient of {role.name} is negative: every reason must raise a score"
                )
            if role.role == "dropped" and coef != 0:
                raise InputError(path, f"{role.name} is dropped but has a coefficient")
        training = doc.get("training", {})
        if not isinstance(training, dict):
            raise InputError(path, "training must be an object")
        return cls(
            roles, tuple(mean), tuple(scale), tuple(coefficients), intercept, training=training
        )


@dataclass(frozen=True)
class TreeModel:
    """A monotone gradient-boosting model over the learned features, plus fixed logit effects
    for the fixed features. `estimator` is a scikit-learn HistGradientBoostingClassifier."""

    roles: tuple[Role, ...]
    estimator: Any
    fixed_effects: tuple[float, ...]  # per feature, 0 for learned and dropped ones
    training: Mapping[str, Any] = field(default_factory=dict)
    kind: str = TREE_KIND

    @property
    def learned(self) -> list[int]:
        return [i for i, r in enumerate(self.roles) if r.role == "learned"]

    def logits(self, fired: Array) -> Array:
        import numpy as np

        with one_thread():
            raw = self.estimator.decision_function(fired[:, self.learned])
        logits: Array = np.asarray(raw, dtype=np.float64) + fired @ np.array(self.fixed_effects)
        return logits

    def to_skops_tree(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "features": list(FEATURE_NAMES),
            "encoding": ENCODING,
            "roles": {r.name: {"role": r.role, "why": r.why} for r in self.roles},
            "fixed_effects": list(self.fixed_effects),
            "training": json.dumps(dict(self.training), sort_keys=True),
            "estimator": self.estimator,
        }


def one_thread() -> Any:
    """Run scikit-learn's OpenMP code on one thread: on these small fits, starting threads costs
    10-40x the work itself. The library must be loaded before the limit can apply to it."""
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def save_tree(model: TreeModel, path: Path) -> None:
    """Write a tree model with skops (needs the `train` extra)."""
    import skops.io as sio

    sio.dump(model.to_skops_tree(), path)


def load_tree(path: Path) -> TreeModel:
    """Read a skops tree model, trusting only TRUSTED_TREE_TYPES (needs the `train` extra)."""
    try:
        import skops.io as sio
    except ImportError:
        raise ConfigError(
            f"{path}: a gradient-boosting model needs scikit-learn and skops: "
            "pip install 'provscore[train]'"
        ) from None
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TREE_TYPES]
    except Exception as exc:  # skops raises zipfile, KeyError, JSON errors on damaged files
        raise InputError(path, f"not a readable skops file: {exc}") from None
    if untrusted:
        raise InputError(path, f"refused: the file holds untrusted type(s) {', '.join(untrusted)}")
    try:
        doc = sio.load(path, trusted=list(TRUSTED_TREE_TYPES))
    except Exception as exc:
        raise InputError(path, f"not a readable skops file: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(path, "a tree model file must hold a dict")
    _check_header(path, doc, TREE_KIND)
    roles = _roles(path, doc.get("roles"))
    fixed = _floats(path, doc.get("fixed_effects"), "fixed_effects", len(FEATURE_NAMES))
    if any(v < 0 for v in fixed):
        raise InputError(path, "fixed_effects must be >= 0")
    try:
        training = json.loads(doc.get("training") or "{}")
    except json.JSONDecodeError:
        raise InputError(path, "training must be a JSON object") from None
    estimator = doc.get("estimator")
    if type(estimator).__name__ != "HistGradientBoostingClassifier":
        raise InputError(path, "estimator must be a HistGradientBoostingClassifier")
    return TreeModel(roles, estimator, tuple(fixed), training=training)


def load_model(path: Path) -> tuple[LinearModel | TreeModel, str]:
    """A model file and the sha256 of its bytes: `.json` linear, `.skops` tree."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read the model file: {exc.strerror or exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix == ".skops":
        return load_tree(path), digest
    if path.suffix != ".json":
        raise InputError(path, "a model file is .json (logistic regression) or .skops (tree)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"unreadable JSON: {parser_limit(exc)}") from None
    return LinearModel.from_json(path, doc), digest


# -- from logits to points -----------------------------------------------------------------------


def _sigmoid(x: Array) -> Array:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def rescaled(logits: Array, reference: float) -> Array:
    """`100 * (p - p0) / (1 - p0)`: 0 when nothing fired, 100 as the logit grows."""
    import numpy as np

    p0 = float(_sigmoid(np.array([reference]))[0])
    return np.clip(100.0 * (_sigmoid(logits) - p0) / (1.0 - p0), 0.0, 100.0)


@dataclass(frozen=True, slots=True)
class Points:
    """Scores of a frame: score (NaN when nothing known), confidence, per-feature points."""

    score: Array
    confidence: Array
    points: Array  # rows x features, >= 0, each row adding up to its score


def _confidence(known: Array, solo: Array) -> Array:
    total = float(solo.sum())
    if total <= 0:
        anything: Array = known.any(axis=1).astype(float)
        return anything
    share: Array = (known * solo).sum(axis=1) / total
    return share


def linear_points(model: LinearModel, values: Array) -> Points:
    """Score a (rows x FEATURE_NAMES) matrix of 0/1/NaN with a linear model (numpy only)."""
    import numpy as np

    known = ~np.isnan(values)
    fired = np.where(known, values, 0.0)
    reference = float(model.logits(np.zeros((1, values.shape[1])))[0])
    effects = model.effects()
    score = rescaled(model.logits(fired), reference)
    share = fired * effects
    total = share.sum(axis=1)
    points = np.divide(
        share * score[:, None], total[:, None], out=np.zeros_like(share), where=total[:, None] > 0
    )
    solo = rescaled(reference + effects, reference)
    score = np.where(known.any(axis=1), score, np.nan)
    return Points(score, _confidence(known, solo), points)


def shapley_points(logits: Callable[[Array], Array], values: Array, max_fired: int = 12) -> Points:
    """Exact Shapley values of the rescaled score over each row's fired features (any model).

    The value of a coalition S is the score of the row with only S fired; the features outside
    the row's fired set stay 0. With monotone models every marginal gain is >= 0."""
    import numpy as np

    n, k = values.shape
    known = ~np.isnan(values)
    fired = np.where(known, values, 0.0) > 0
    reference = float(logits(np.zeros((1, k)))[0])
    # Every coalition of every row's fired set, scored in one call.
    coalitions: list[tuple[int, frozenset[int]]] = []
    for i in range(n):
        on = [int(j) for j in np.flatnonzero(fired[i])][:max_fired]
        for size in range(len(on) + 1):
            coalitions.extend((i, frozenset(c)) for c in combinations(on, size))
    matrix = np.zeros((len(coalitions), k))
    for row, (_, members) in enumerate(coalitions):
        matrix[row, list(members)] = 1.0
    value_of = dict(zip(coalitions, rescaled(logits(matrix), reference).tolist(), strict=True))
    points = np.zeros((n, k))
    score = np.zeros(n)
    for i in range(n):
        on = [int(j) for j in np.flatnonzero(fired[i])][:max_fired]
        m = len(on)
        score[i] = value_of[(i, frozenset(on))]
        for j in on:
            others = [o for o in on if o != j]
            total = 0.0
            for size in range(m):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for c in combinations(others, size):
                    s = frozenset(c)
                    total += weight * (value_of[(i, s | {j})] - value_of[(i, s)])
            points[i, j] = max(total, 0.0)
    solo_rows = np.eye(k)
    solo = rescaled(logits(solo_rows), reference)
    score = np.where(known.any(axis=1), score, np.nan)
    return Points(score, _confidence(known, solo), points)


def model_points(model: LinearModel | TreeModel, values: Array) -> Points:
    if isinstance(model, LinearModel):
        return linear_points(model, values)
    return shapley_points(model.logits, values)


def solo_scores(model: LinearModel | TreeModel) -> dict[str, float]:
    """The score of a version on which only that feature fired, per feature."""
    import numpy as np

    k = len(FEATURE_NAMES)
    reference = float(model.logits(np.zeros((1, k)))[0])
    solo = rescaled(model.logits(np.eye(k)), reference)
    return dict(zip(FEATURE_NAMES, (float(v) for v in solo), strict=True))


def fixed_effect(points: float, reference: float) -> float:
    """The logit effect that makes a feature, firing alone, score `points` (0 <= points < 100)."""
    if points <= 0:
        return 0.0
    p0 = 1.0 / (1.0 + math.exp(-reference))
    target = p0 + points / 100.0 * (1.0 - p0)
    return math.log(target / (1.0 - target)) - reference


def roles_named(roles: Sequence[Role], role: str) -> list[str]:
    return [r.name for r in roles if r.role == role]


__all__ = [
    "ENCODING",
    "FORMAT_VERSION",
    "LINEAR_KIND",
    "MODEL_FORMAT",
    "TREE_KIND",
    "TRUSTED_TREE_TYPES",
    "LinearModel",
    "Points",
    "Role",
    "TreeModel",
    "fixed_effect",
    "linear_points",
    "load_model",
    "load_tree",
    "model_points",
    "one_thread",
    "rescaled",
    "roles_named",
    "save_tree",
    "shapley_points",
    "solo_scores",
]
