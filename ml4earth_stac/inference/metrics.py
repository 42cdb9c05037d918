"""Evaluation metrics of the benchmarks: front distance errors and pixel-map scores. Pure functions.

Fronts: the mean distance error (MDE) of CaFFe (Gourmelon et al. 2022, ESSD 14, 4287). Maps: IoU per class,
overall accuracy, precision/recall/F1. Every map metric ignores a pixel that is ``nodata`` (or NaN) in
*either* array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ml4earth_stac.inference.fronts import NODATA, InferenceError

DEFAULT_SPACING_M: Final = 1.0
"""Default point spacing along fronts; pass the grid resolution to follow CaFFe's pixel sampling."""


@dataclass(frozen=True)
class FrontErrors:
    """Mean distance error over many fronts.

    Attributes:
        mde_m: CaFFe MDE: all point-to-line distances of all evaluated fronts pooled, then averaged (a
            front weighs by its number of points); None when no front could be evaluated.
        mean_of_fronts_m: the unweighted mean of the per-front MDEs; None when no front was evaluated.
        n_fronts: pairs with both a true and a predicted front (the ones in ``mde_m``).
        n_missing: pairs with a true front but no predicted front (not in ``mde_m``; report them).
        n_spurious: pairs with a predicted front where the truth has none (not in ``mde_m``).
    """

    mde_m: float | None
    mean_of_fronts_m: float | None
    n_fronts: int
    n_missing: int
    n_spurious: int


@dataclass(frozen=True)
class BinaryScores:
    """Precision, recall and F1 of the positive class (NaN where undefined, e.g. nothing predicted positive).

    Attributes:
        precision: tp / (tp + fp).
        recall: tp / (tp + fn).
        f1: 2 tp / (2 tp + fp + fn).
        tp: true positives (valid pixels).
        fp: false positives.
        fn: false negatives.
        tn: true negatives.
    """

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


def mean_distance_error(
    predicted: BaseGeometry, truth: BaseGeometry, *, spacing_m: float = DEFAULT_SPACING_M
) -> float:
    """CaFFe mean distance error between a predicted and a true front, in CRS units (metres).

    Rule: sample each line at equal steps of at most ``spacing_m`` (end points included, every part of a
    MultiLineString sampled separately); the MDE is the mean, over *both* point sets together, of the
    distance from each point to the *other* line: ``(sum_p d(p, truth) + sum_q d(q, predicted)) / (|P| +
    |Q|)``. It is symmetric, 0 for identical lines and ``d`` for a straight line against itself shifted
    by ``d`` perpendicular to it.

    Args:
        predicted: the predicted front (LineString or MultiLineString).
        truth: the true front, in the same CRS.
        spacing_m: largest step between sampled points (use the grid resolution for CaFFe's pixels).

    Raises:
        InferenceError: a front is empty, or ``spacing_m`` is not positive.
    """
    total, count = _distance_sums(predicted, truth, spacing_m)
    return total / count


def mean_distance_error_many(
    pairs: Iterable[tuple[BaseGeometry | None, BaseGeometry | None]], *, spacing_m: float = DEFAULT_SPACING_M
) -> FrontErrors:
    """MDE over many ``(predicted, truth)`` front pairs (e.g. one per glacier and date).

    Pairs where both fronts exist are evaluated; a missing prediction (None or empty) of an existing true
    front is counted in ``n_missing`` and a prediction without a true front in ``n_spurious``: neither is
    silently dropped nor mixed into the distance. ``mde_m`` pools the points of all evaluated pairs as
    CaFFe does; ``mean_of_fronts_m`` weighs every front equally.

    Args:
        pairs: ``(predicted, truth)`` fronts in a common metric CRS per pair.
        spacing_m: see :func:`mean_distance_error`.
    """
    sums: list[tuple[float, int]] = []
    missing = spurious = 0
    for predicted, truth in pairs:
        has_pred, has_truth = _present(predicted), _present(truth)
        if has_pred and has_truth:
            sums.append(_distance_sums(predicted, truth, spacing_m))
        missing += has_truth and not has_pred
        spurious += has_pred and not has_truth
    if not sums:
        return FrontErrors(None, None, 0, missing, spurious)
    pooled = math.fsum(s for s, _ in sums) / sum(n for _, n in sums)
    per_front = math.fsum(s / n for s, n in sums) / len(sums)
    return FrontErrors(pooled, per_front, len(sums), missing, spurious)


def _present(front: BaseGeometry | None) -> bool:
    return front is not None and not front.is_empty


def _distance_sums(predicted: BaseGeometry, truth: BaseGeometry, spacing_m: float) -> tuple[float, int]:
    """Sum of the point-to-other-line distances over both directions, and the number of points."""
    if not (spacing_m > 0 and math.isfinite(spacing_m)):
        raise InferenceError(f"point spacing must be a positive number of metres, got {spacing_m}")
    if not (_present(predicted) and _present(truth)):
        raise InferenceError("cannot measure a distance to an empty front; use mean_distance_error_many")
    to_truth = shapely.distance(sample_line(predicted, spacing_m), truth)
    to_predicted = shapely.distance(sample_line(truth, spacing_m), predicted)
    return math.fsum(to_truth) + math.fsum(to_predicted), len(to_truth) + len(to_predicted)


def sample_line(line: BaseGeometry, spacing_m: float) -> np.ndarray:
    """Points at equal steps of at most ``spacing_m`` along every part of a line, end points included.

    Args:
        line: a LineString or MultiLineString.
        spacing_m: largest step between neighbouring points.

    Returns:
        An array of shapely Points (one point for a zero-length part).
    """
    samples = []
    for part in shapely.get_parts(line):
        n_steps = max(math.ceil(part.length / spacing_m), 1)
        samples.append(shapely.line_interpolate_point(part, np.linspace(0.0, part.length, n_steps + 1)))
    return np.concatenate(samples)


def iou(
    pred: np.ndarray, truth: np.ndarray, classes: Sequence[int], nodata: int = NODATA
) -> dict[int, float]:
    """Intersection over union per class, over the pixels valid in both maps.

    Args:
        pred: predicted class map.
        truth: true class map of the same shape.
        classes: the classes to score (e.g. ``(1, 2, 3)`` for rock, glacier, ocean).
        nodata: the no-data value of both maps (NaN is no-data too).

    Returns:
        ``{class: IoU}``; NaN for a class absent from both maps (union 0).

    Raises:
        InferenceError: the shapes differ or no pixel is valid in both maps.
    """
    p, t = _valid_pixels(pred, truth, nodata)
    scores = {}
    for cls in classes:
        inter = int(np.count_nonzero((p == cls) & (t == cls)))
        union = int(np.count_nonzero((p == cls) | (t == cls)))
        scores[cls] = inter / union if union else math.nan
    return scores


def mean_iou(pred: np.ndarray, truth: np.ndarray, classes: Sequence[int], nodata: int = NODATA) -> float:
    """Mean of :func:`iou` over the classes present in either map (NaN when none is)."""
    values = [v for v in iou(pred, truth, classes, nodata).values() if not math.isnan(v)]
    return math.fsum(values) / len(values) if values else math.nan


def overall_accuracy(pred: np.ndarray, truth: np.ndarray, nodata: int = NODATA) -> float:
    """Share of the pixels valid in both maps whose classes agree.

    Raises:
        InferenceError: the shapes differ or no pixel is valid in both maps.
    """
    p, t = _valid_pixels(pred, truth, nodata)
    return int(np.count_nonzero(p == t)) / p.size


def precision_recall_f1(
    pred: np.ndarray, truth: np.ndarray, positive: int = 1, nodata: int = NODATA
) -> BinaryScores:
    """Precision, recall and F1 of one class against all others (e.g. canopy vs. not canopy).

    Every valid value other than ``positive`` is negative.

    Raises:
        InferenceError: the shapes differ or no pixel is valid in both maps.
    """
    p, t = _valid_pixels(pred, truth, nodata)
    p_pos, t_pos = p == positive, t == positive
    tp = int(np.count_nonzero(p_pos & t_pos))
    fp = int(np.count_nonzero(p_pos & ~t_pos))
    fn = int(np.count_nonzero(~p_pos & t_pos))
    tn = p.size - tp - fp - fn
    return BinaryScores(
        _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn), tp, fp, fn, tn
    )


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _valid_pixels(pred: np.ndarray, truth: np.ndarray, nodata: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels valid in both maps, flattened."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise InferenceError(f"prediction of shape {pred.shape} does not match truth of shape {truth.shape}")
    valid = _valid(pred, nodata) & _valid(truth, nodata)
    if not valid.any():
        raise InferenceError("no pixel is valid in both the prediction and the truth; nothing to score")
    return pred[valid], truth[valid]


def _valid(values: np.ndarray, nodata: int) -> np.ndarray:
    valid = values != nodata
    return valid & np.isfinite(values) if values.dtype.kind == "f" else valid
