"""Calving-front extraction and front-position change on hand-made zone maps and fronts."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from shapely.geometry import LineString, box

from ml4earth_stac.grid import GridSpec
from ml4earth_stac.inference.fronts import (
    GLACIER,
    NODATA,
    OCEAN,
    ROCK,
    InferenceError,
    extract_front,
    front_position_change,
)

RES = 20.0
MIN_X, MAX_Y = 500_000.0, 8_600_000.0


def make_grid(height: int, width: int) -> GridSpec:
    return GridSpec(32633, RES, (MIN_X, MAX_Y - height * RES, MIN_X + width * RES, MAX_Y))


def fjord_scene(height: int = 10, width: int = 10, rock_rows: int = 2) -> np.ndarray:
    """Glacier on the left half, ocean on the right half, a strip of rock on top."""
    zones = np.full((height, width), OCEAN, np.uint8)
    zones[:, : width // 2] = GLACIER
    zones[:rock_rows] = ROCK
    return zones


def test_front_is_the_vertical_glacier_ocean_boundary() -> None:
    result = extract_front(fjord_scene(), make_grid(10, 10))
    assert result.found and result.reason is None and result.epsg == 32633
    assert result.length_m == pytest.approx(8 * RES)
    x_front = MIN_X + 5 * RES
    coords = {tuple(c) for c in shapely.get_coordinates(result.line)}
    assert coords == {(x_front, MAX_Y - 2 * RES), (x_front, MAX_Y - 10 * RES)}


def test_unsimplified_front_keeps_every_pixel_corner() -> None:
    result = extract_front(fjord_scene(), make_grid(10, 10), simplify_m=0)
    assert result.length_m == pytest.approx(8 * RES)
    assert len(shapely.get_coordinates(result.line)) == 9


@pytest.mark.parametrize(
    ("fill", "reason"),
    [(ROCK, "no ocean pixels"), (NODATA, "no ocean pixels"), (0, "no ocean pixels")],
)
def test_glacier_without_ocean_gives_no_front_and_the_reason(fill: int, reason: str) -> None:
    zones = fjord_scene()
    zones[zones == OCEAN] = fill
    result = extract_front(zones, make_grid(10, 10))
    assert result.line is None and result.length_m == 0.0 and not result.found
    assert result.reason is not None and reason in result.reason


def test_no_glacier_gives_the_reason() -> None:
    zones = fjord_scene()
    zones[zones == GLACIER] = ROCK
    assert extract_front(zones, make_grid(10, 10)).reason == "no glacier pixels in the scene"


def test_glacier_and_ocean_separated_by_rock_never_touch() -> None:
    zones = fjord_scene()
    zones[:, 5] = ROCK
    assert extract_front(zones, make_grid(10, 10)).reason == "glacier and ocean never touch"


@pytest.mark.parametrize("as_float", [False, True])
def test_cloud_band_produces_no_front_segment(as_float: bool) -> None:
    zones = fjord_scene().astype(np.float32 if as_float else np.uint8)
    zones[4:6] = np.nan if as_float else NODATA
    result = extract_front(zones, make_grid(10, 10), min_length_m=0)
    band_inside = box(MIN_X, MAX_Y - 6 * RES + 1e-6, MIN_X + 10 * RES, MAX_Y - 4 * RES - 1e-6)
    assert result.line.intersection(band_inside).length == 0.0
    assert result.length_m == pytest.approx((2 + 4) * RES)


def test_front_fully_under_cloud_is_reported_hidden() -> None:
    zones = fjord_scene()
    zones[:, 4:6] = NODATA
    result = extract_front(zones, make_grid(10, 10))
    assert result.line is None and result.reason is not None and "hidden by nodata" in result.reason


def test_fjord_mask_restricts_the_front() -> None:
    mask = np.zeros((10, 10), bool)
    mask[5:, 3:8] = True
    result = extract_front(fjord_scene(), make_grid(10, 10), fjord_mask=mask)
    assert result.length_m == pytest.approx(5 * RES)
    _, min_y, _, max_y = result.line.bounds
    assert (min_y, max_y) == (MAX_Y - 10 * RES, MAX_Y - 5 * RES)


def test_front_outside_the_fjord_mask_gives_the_reason() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:, :3] = True
    result = extract_front(fjord_scene(), make_grid(10, 10), fjord_mask=mask)
    assert result.line is None and result.reason == "front lies outside the fjord mask"


def test_tiny_isolated_pixel_pairs_are_dropped() -> None:
    zones = fjord_scene(height=20, width=20)
    zones[0, 0], zones[0, 1] = GLACIER, OCEAN  # one 20 m edge inside the rock strip
    result = extract_front(zones, make_grid(20, 20), min_length_m=3 * RES)
    assert result.length_m == pytest.approx(18 * RES)
    assert result.line.geom_type == "LineString"
    kept = extract_front(zones, make_grid(20, 20), min_length_m=0)
    assert kept.length_m == pytest.approx(19 * RES)


def test_only_tiny_pieces_give_the_reason() -> None:
    zones = np.full((5, 5), ROCK, np.uint8)
    zones[2, 2], zones[2, 3] = GLACIER, OCEAN
    result = extract_front(zones, make_grid(5, 5), min_length_m=50)
    assert (
        result.line is None and result.reason is not None and "shorter than min_length_m=50" in result.reason
    )


def test_simplification_straightens_a_diagonal_staircase() -> None:
    n = 20
    rows, cols = np.indices((n, n))
    zones = np.where(cols < rows, GLACIER, OCEAN).astype(np.uint8)
    staircase = extract_front(zones, make_grid(n, n), simplify_m=0)
    straight = extract_front(zones, make_grid(n, n), simplify_m=RES)
    assert staircase.length_m == pytest.approx((2 * n - 2) * RES)
    assert straight.length_m < staircase.length_m * 0.75


@pytest.mark.parametrize(
    ("zones", "mask", "kwargs"),
    [
        (np.zeros((3, 4), np.uint8), None, {}),
        (np.zeros((4, 4), np.uint8), np.ones((3, 4), bool), {}),
        (np.zeros((4, 4), np.uint8), None, {"min_length_m": -1}),
    ],
)
def test_bad_inputs_raise(zones: np.ndarray, mask: np.ndarray | None, kwargs: dict) -> None:
    with pytest.raises(InferenceError):
        extract_front(zones, make_grid(4, 4), fjord_mask=mask, **kwargs)


def count_front_edges(zones: np.ndarray) -> int:
    """Reference count of 4-connected glacier/ocean pixel pairs, by plain loops."""
    pairs = {(GLACIER, OCEAN), (OCEAN, GLACIER)}
    height, width = zones.shape
    count = 0
    for r in range(height):
        for c in range(width):
            count += c + 1 < width and (int(zones[r, c]), int(zones[r, c + 1])) in pairs
            count += r + 1 < height and (int(zones[r, c]), int(zones[r + 1, c])) in pairs
    return count


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.uint8, st.tuples(st.integers(2, 9), st.integers(2, 9)), elements=st.sampled_from([1, 2, 3, 255])
    )
)
def test_front_length_is_the_number_of_glacier_ocean_edges(zones: np.ndarray) -> None:
    result = extract_front(zones, make_grid(*zones.shape), min_length_m=0, simplify_m=0)
    assert result.length_m == pytest.approx(count_front_edges(zones) * RES)
    assert result.found == (result.reason is None)


# -- front position change --------------------------------------------------------------------------------

AXIS = LineString([(0.0, 0.0), (10_000.0, 0.0)])  # from inland (west) toward the sea (east)
START = datetime(2015, 3, 1)


def retreating_fronts(rate_m_per_yr: float, days: list[int]) -> list[tuple[datetime, LineString]]:
    fronts = []
    for day in days:
        x = 8000.0 - rate_m_per_yr * day / 365.25
        fronts.append((START + timedelta(days=day), LineString([(x, -500.0), (x + 30.0, 0.0), (x, 500.0)])))
    return fronts


def test_retreat_rate_is_recovered() -> None:
    fronts = retreating_fronts(100.0, [0, 200, 365, 700, 1100, 1461, 2000])
    change = front_position_change(fronts[::-1], AXIS)
    assert change.retreat_rate_m_per_yr == pytest.approx(100.0, rel=0.01)
    assert change.rate_m_per_yr == pytest.approx(-100.0, rel=0.01)
    assert [p.date for p in change.positions] == sorted(d for d, _ in fronts)
    assert change.positions[0].position_m == pytest.approx(8030.0)
    assert change.positions[0].change_m == 0.0
    assert change.positions[-1].change_m == pytest.approx(-100.0 * 2000 / 365.25)
    assert {p.method for p in change.positions} == {"intersection"}


def test_front_not_crossing_the_axis_is_projected() -> None:
    front = LineString([(4000.0, 100.0), (4000.0, 300.0), (6000.0, 300.0)])
    change = front_position_change([(START, front)], AXIS)
    (position,) = change.positions
    assert position.method == "projection"
    assert 4000.0 < position.position_m < 6000.0
    assert change.rate_m_per_yr is None


def test_missing_fronts_are_skipped_and_listed() -> None:
    fronts: list = retreating_fronts(50.0, [0, 365, 730])
    fronts.append((START + timedelta(days=100), None))
    fronts.append((START + timedelta(days=400), LineString()))
    change = front_position_change(fronts, AXIS)
    assert len(change.positions) == 3
    assert change.skipped == (START + timedelta(days=100), START + timedelta(days=400))
    assert change.rate_m_per_yr == pytest.approx(-50.0)
    frame = change.to_frame()
    assert list(frame.columns) == ["date", "position_m", "change_m", "method"] and len(frame) == 3


def test_duplicate_dates_and_degenerate_axis_raise() -> None:
    front = retreating_fronts(10.0, [0])[0]
    with pytest.raises(InferenceError, match="share one date"):
        front_position_change([front, front], AXIS)
    with pytest.raises(InferenceError, match="non-zero length"):
        front_position_change([front], LineString([(0, 0), (0, 0)]))
