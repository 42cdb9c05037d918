"""Front distance errors and map scores on hand-made lines and masks, with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString

from ml4earth_stac.inference.fronts import InferenceError
from ml4earth_stac.inference.metrics import (
    iou,
    mean_distance_error,
    mean_distance_error_many,
    mean_iou,
    overall_accuracy,
    precision_recall_f1,
    sample_line,
)

# -- mean distance error ----------------------------------------------------------------------------------


def test_parallel_lines_30_m_apart_have_mde_30() -> None:
    a = LineString([(0, 0), (1000, 0)])
    b = LineString([(0, 30), (1000, 30)])
    assert mean_distance_error(a, b, spacing_m=20) == pytest.approx(30.0, abs=1e-9)


def test_line_against_itself_has_mde_0() -> None:
    line = LineString([(0, 0), (300, 120), (500, -40)])
    assert mean_distance_error(line, line, spacing_m=10) == pytest.approx(0.0, abs=1e-9)


def test_line_shifted_along_itself() -> None:
    a = LineString([(0, 0), (100, 0)])
    b = LineString([(50, 0), (150, 0)])
    # 101 points per line; the 51 points of a at x = 0..50 lie 50 - x from b (the rest 0); b mirrors it.
    expected = 2 * sum(range(51)) / (2 * 101)
    assert mean_distance_error(a, b, spacing_m=1) == pytest.approx(expected)


def test_multilinestring_parts_are_sampled_separately() -> None:
    truth = MultiLineString([[(0, 0), (100, 0)], [(0, 50), (100, 50)]])
    predicted = LineString([(0, 10), (100, 10)])
    # predicted -> truth: 10 for every point; truth -> predicted: 10 for part 1, 40 for part 2.
    expected = (101 * 10 + 101 * 10 + 101 * 40) / (3 * 101)
    assert mean_distance_error(predicted, truth, spacing_m=1) == pytest.approx(expected)


def test_sample_line_includes_end_points_and_respects_spacing() -> None:
    points = sample_line(LineString([(0, 0), (25, 0)]), spacing_m=10)
    assert shapely.get_coordinates(points)[:, 0].tolist() == pytest.approx([0, 25 / 3, 50 / 3, 25])


coordinate = st.floats(-5000, 5000, allow_nan=False)
polyline = st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=6, unique=True).map(LineString)


@settings(max_examples=50, deadline=None)
@given(polyline, polyline)
def test_mde_is_symmetric(a: LineString, b: LineString) -> None:
    assert mean_distance_error(a, b, spacing_m=50) == mean_distance_error(b, a, spacing_m=50)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0, 2 * math.pi),
    st.floats(10, 3000),
    st.floats(0, 500),
    st.tuples(coordinate, coordinate),
)
def test_mde_of_a_line_translated_perpendicular_is_the_offset(
    angle: float, length: float, offset: float, origin: tuple[float, float]
) -> None:
    dx, dy = math.cos(angle), math.sin(angle)
    x0, y0 = origin
    a = LineString([(x0, y0), (x0 + length * dx, y0 + length * dy)])
    b = shapely.affinity.translate(a, -dy * offset, dx * offset)
    assert mean_distance_error(a, b, spacing_m=length / 17) == pytest.approx(offset, rel=1e-9, abs=1e-6)


def test_mde_of_empty_front_or_bad_spacing_raises() -> None:
    line = LineString([(0, 0), (10, 0)])
    with pytest.raises(InferenceError, match="empty front"):
        mean_distance_error(line, LineString())
    with pytest.raises(InferenceError, match="spacing"):
        mean_distance_error(line, line, spacing_m=0)


def test_mde_many_pools_points_and_reports_missing_fronts() -> None:
    pair_30 = (LineString([(0, 30), (100, 30)]), LineString([(0, 0), (100, 0)]))
    pair_10 = (LineString([(0, 10), (300, 10)]), LineString([(0, 0), (300, 0)]))
    missing = (None, LineString([(0, 0), (100, 0)]))
    spurious = (LineString([(0, 0), (100, 0)]), LineString())
    result = mean_distance_error_many([pair_30, missing, pair_10, spurious, (None, None)], spacing_m=1)
    assert result.mde_m == pytest.approx((30 * 202 + 10 * 602) / (202 + 602))
    assert result.mean_of_fronts_m == pytest.approx(20.0)
    assert (result.n_fronts, result.n_missing, result.n_spurious) == (2, 1, 1)


def test_mde_many_without_evaluable_pairs_gives_none() -> None:
    result = mean_distance_error_many([(None, LineString([(0, 0), (1, 0)]))])
    assert result.mde_m is None and result.mean_of_fronts_m is None
    assert (result.n_fronts, result.n_missing) == (0, 1)


# -- map scores -------------------------------------------------------------------------------------------


def overlapping_squares() -> tuple[np.ndarray, np.ndarray]:
    """Two 3x3 squares of class 1 in a 5x5 background of 0, overlapping on 2x2 pixels."""
    pred, truth = np.zeros((5, 5), np.uint8), np.zeros((5, 5), np.uint8)
    pred[0:3, 0:3] = 1
    truth[1:4, 1:4] = 1
    return pred, truth


def test_iou_of_overlapping_squares() -> None:
    pred, truth = overlapping_squares()
    scores = iou(pred, truth, classes=(0, 1))
    assert scores[1] == pytest.approx(4 / 14)
    assert scores[0] == pytest.approx(11 / 21)
    assert mean_iou(pred, truth, classes=(0, 1)) == pytest.approx((4 / 14 + 11 / 21) / 2)


def test_iou_ignores_nodata_in_either_map() -> None:
    pred, truth = overlapping_squares()
    pred[0, 0:3] = 255  # the three predicted-only pixels of the top row
    truth[3, 1:4] = 255  # the three true-only pixels of the bottom row
    assert iou(pred, truth, classes=(1,))[1] == pytest.approx(4 / 8)


def test_iou_of_a_class_absent_from_both_is_nan_and_left_out_of_the_mean() -> None:
    pred, truth = overlapping_squares()
    scores = iou(pred, truth, classes=(1, 7))
    assert math.isnan(scores[7])
    assert mean_iou(pred, truth, classes=(1, 7)) == pytest.approx(4 / 14)


def test_overall_accuracy_ignores_nodata() -> None:
    pred = np.array([1, 1, 0, 0, 1, 255, 0])
    truth = np.array([1, 0, 0, 0, 1, 1, 255])
    assert overall_accuracy(pred, truth) == pytest.approx(4 / 5)


def test_precision_recall_f1_on_a_small_map() -> None:
    pred = np.array([[1, 1, 1, 1], [0, 0, 0, 1], [0, 255, 1, 0]])
    truth = np.array([[1, 1, 0, 0], [0, 1, 0, 1], [1, 1, 255, 0]])
    scores = precision_recall_f1(pred, truth)
    assert (scores.tp, scores.fp, scores.fn, scores.tn) == (3, 2, 2, 3)
    assert scores.precision == pytest.approx(3 / 5)
    assert scores.recall == pytest.approx(3 / 5)
    assert scores.f1 == pytest.approx(6 / 10)


def test_nan_counts_as_nodata_in_float_maps() -> None:
    pred = np.array([1.0, np.nan, 0.0, 1.0])
    truth = np.array([1.0, 0.0, 1.0, np.nan])
    assert overall_accuracy(pred, truth) == pytest.approx(1 / 2)
    assert precision_recall_f1(pred, truth).recall == pytest.approx(1 / 2)


def test_perfect_prediction_scores_1() -> None:
    truth = np.array([[1, 2, 3], [3, 2, 1], [255, 2, 2]])
    pred = truth.copy()
    pred[2, 0] = 1  # nodata in the truth: ignored
    assert overall_accuracy(pred, truth) == 1.0
    assert iou(pred, truth, classes=(1, 2, 3)) == {1: 1.0, 2: 1.0, 3: 1.0}
    assert mean_iou(pred, truth, classes=(1, 2, 3)) == 1.0
    scores = precision_recall_f1(pred, truth, positive=2)
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)


def test_precision_without_predicted_positives_is_nan() -> None:
    scores = precision_recall_f1(np.zeros(4), np.array([0, 1, 0, 0]))
    assert math.isnan(scores.precision) and scores.recall == 0.0 and scores.f1 == 0.0


@pytest.mark.parametrize(
    ("pred", "truth", "match"),
    [
        (np.zeros((2, 2)), np.zeros((2, 3)), "does not match"),
        (np.full(3, 255), np.zeros(3), "no pixel is valid"),
    ],
)
def test_map_scores_reject_unusable_inputs(pred: np.ndarray, truth: np.ndarray, match: str) -> None:
    with pytest.raises(InferenceError, match=match):
        overall_accuracy(pred, truth)
