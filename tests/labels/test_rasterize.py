"""Rasterizing vector labels onto a grid: exact pixel counts on hand-made geometries."""

from __future__ import annotations

from collections import deque

import geopandas
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.labels import rasterize_binary, rasterize_classes, rasterize_lines

EPSG: int = 32633
RES: float = 10.0
X0: float = 500_000.0
Y0: float = 8_700_000.0
SIZE: int = 20
GRID = GridSpec(EPSG, RES, (X0, Y0, X0 + SIZE * RES, Y0 + SIZE * RES))


def _labels(geoms: list, crs: str | None = f"EPSG:{EPSG}", **columns: list) -> geopandas.GeoDataFrame:
    return geopandas.GeoDataFrame(columns, geometry=geoms, crs=crs)


def _pixel_box(row: int, col: int, height: int, width: int) -> shapely.Polygon:
    """The polygon covering exactly pixels rows row..row+height-1, cols col..col+width-1 of GRID."""
    top = Y0 + SIZE * RES - row * RES
    return shapely.box(X0 + col * RES, top - height * RES, X0 + (col + width) * RES, top)


def _expected(row: int, col: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros(GRID.shape, dtype=np.uint8)
    mask[row : row + height, col : col + width] = 1
    return mask


@settings(max_examples=40, deadline=None)
@given(
    row=st.integers(0, SIZE - 1),
    col=st.integers(0, SIZE - 1),
    height=st.integers(1, SIZE),
    width=st.integers(1, SIZE),
)
def test_pixel_aligned_rectangle_burns_exactly_its_pixels(row: int, col: int, height: int, width: int):
    height, width = min(height, SIZE - row), min(width, SIZE - col)
    mask = rasterize_binary(_labels([_pixel_box(row, col, height, width)]), GRID)
    assert mask.dtype == np.uint8
    assert mask.shape == GRID.shape
    assert int(mask.sum()) == height * width
    np.testing.assert_array_equal(mask, _expected(row, col, height, width))


def test_all_touched_burns_a_pixel_whose_centre_is_not_covered() -> None:
    sliver = shapely.box(X0 + 11, Y0 + 11, X0 + 14, Y0 + 14)  # in the pixel at row 18, col 1; off-centre
    assert rasterize_binary(_labels([sliver]), GRID).sum() == 0
    touched = rasterize_binary(_labels([sliver]), GRID, all_touched=True)
    np.testing.assert_array_equal(touched, _expected(SIZE - 2, 1, 1, 1))


def test_later_features_win_where_classes_overlap() -> None:
    gdf = _labels([_pixel_box(0, 0, 4, 4), _pixel_box(2, 2, 4, 4)], zone=["rock", "ice"])
    mask = rasterize_classes(gdf, GRID, "zone", {"rock": 1, "ice": 2})
    assert mask[3, 3] == 2  # the overlap goes to the later feature
    assert int((mask == 1).sum()) == 16 - 4
    assert int((mask == 2).sum()) == 16
    assert int((mask == 0).sum()) == SIZE * SIZE - 28


def test_priority_overrides_file_order() -> None:
    gdf = _labels([_pixel_box(0, 0, 4, 4), _pixel_box(2, 2, 4, 4)], zone=["rock", "ice"])
    mask = rasterize_classes(gdf, GRID, "zone", {"rock": 1, "ice": 2}, priority=[1, 2])
    assert mask[3, 3] == 1
    assert int((mask == 1).sum()) == 16
    assert int((mask == 2).sum()) == 16 - 4


def test_integer_class_field_and_fill() -> None:
    gdf = _labels([_pixel_box(0, 0, 1, 2)], code=[7])
    mask = rasterize_classes(gdf, GRID, "code", fill=255)
    assert mask[0, 0] == mask[0, 1] == 7
    assert int((mask == 255).sum()) == SIZE * SIZE - 2


ROCK_ICE = {"rock": 1, "ice": 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"class_field": "zone", "class_values": {"rock": 1}},
            r"values \['ice'\] with no code 0-255 \(features b\)",
        ),
        ({"class_field": "zone"}, "give class_values"),
        ({"class_field": "kind"}, r"'kind' is not a label column; choose one of \['gid', 'zone'\]"),
        ({"class_field": "zone", "class_values": {"rock": 1, "ice": 300}}, r"class_values\['ice'\] must be"),
        ({"class_field": "zone", "class_values": ROCK_ICE, "fill": -1}, "fill must be an integer"),
        ({"class_field": "zone", "class_values": ROCK_ICE, "priority": [2]}, r"codes \[1\] are not"),
    ],
)
def test_bad_class_configuration_is_rejected(kwargs: dict, message: str) -> None:
    gdf = _labels([_pixel_box(0, 0, 2, 2), _pixel_box(5, 5, 2, 2)], gid=["a", "b"], zone=["rock", "ice"])
    with pytest.raises(LabelError, match=message):
        rasterize_classes(gdf, GRID, id_field="gid", **kwargs)


def test_wgs84_label_lands_on_the_right_utm_pixels() -> None:
    # A pixel-aligned UTM box, drawn in WGS84 (densified so its edges stay straight in UTM).
    box = _pixel_box(3, 5, 6, 4).segmentize(1.0)
    to_wgs84 = pyproj.Transformer.from_crs(EPSG, 4326, always_xy=True).transform
    in_wgs84 = shapely.transform(box, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1])))
    assert 15 < in_wgs84.centroid.x < 16 and 78 < in_wgs84.centroid.y < 79
    mask = rasterize_binary(_labels([in_wgs84], crs="EPSG:4326"), GRID)
    np.testing.assert_array_equal(mask, _expected(3, 5, 6, 4))


def test_no_features_gives_the_fill() -> None:
    empty = _labels([], zone=[])
    assert int(rasterize_classes(empty, GRID, "zone", {"ice": 1}, fill=9).min()) == 9
    assert rasterize_binary(empty, GRID).sum() == 0


def test_invalid_or_crs_less_labels_are_rejected() -> None:
    corners = [(X0, Y0), (X0 + 20, Y0 + 20), (X0 + 20, Y0), (X0, Y0 + 20), (X0, Y0)]
    bowtie = shapely.Polygon(corners)
    with pytest.raises(LabelError, match="features bow have null, empty or invalid .* run repair_geometries"):
        rasterize_binary(_labels([bowtie], gid=["bow"]), GRID, id_field="gid")
    with pytest.raises(LabelError, match="no CRS"):
        rasterize_binary(_labels([_pixel_box(0, 0, 1, 1)], crs=None), GRID)


def _horizontal_line(row: int, col: int, length_px: int) -> shapely.LineString:
    """A line through the centres of one row of pixels, from the left edge of ``col``."""
    y = Y0 + SIZE * RES - (row + 0.5) * RES
    return shapely.LineString([(X0 + col * RES, y), (X0 + (col + length_px) * RES, y)])


def test_30m_front_on_a_10m_grid_is_exactly_three_rows() -> None:
    mask = rasterize_lines(_labels([_horizontal_line(10, 4, 8)]), GRID, width_m=30)
    np.testing.assert_array_equal(mask, _expected(9, 4, 3, 8))  # flat caps: no pixel past the ends


@settings(max_examples=20, deadline=None)
@given(half_rows=st.integers(0, 4), row=st.integers(5, 14), col=st.integers(0, 5), length=st.integers(1, 14))
def test_odd_pixel_widths_burn_that_many_rows(half_rows: int, row: int, col: int, length: int) -> None:
    rows = 2 * half_rows + 1
    mask = rasterize_lines(_labels([_horizontal_line(row, col, length)]), GRID, width_m=rows * RES)
    np.testing.assert_array_equal(mask, _expected(row - half_rows, col, rows, length))


def _connected(mask: np.ndarray) -> bool:
    """Whether the 1-pixels form one 8-connected component."""
    on = set(zip(*np.nonzero(mask), strict=True))
    seen, todo = set(), deque([next(iter(on))])
    while todo:
        r, c = todo.popleft()
        if (r, c) in seen:
            continue
        seen.add((r, c))
        todo.extend((r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (r + dr, c + dc) in on)
    return seen == on


def test_sub_pixel_width_still_gives_a_connected_line() -> None:
    line = shapely.LineString([(X0 + 3, Y0 + 7), (X0 + 187, Y0 + 121), (X0 + 60, Y0 + 195)])
    mask = rasterize_lines(_labels([line]), GRID, width_m=1.0)
    assert _connected(mask)
    assert mask.sum() >= SIZE  # it spans the grid from side to side
    rows, cols = np.nonzero(mask)
    pixels = [_pixel_box(int(r), int(c), 1, 1) for r, c in zip(rows, cols, strict=True)]
    assert all(pixel.intersects(line) for pixel in pixels)  # no pixel the line does not touch


@pytest.mark.parametrize("width", [0, -10, float("nan")])
def test_line_width_must_be_positive(width: float) -> None:
    with pytest.raises(LabelError, match="line width must be a positive number"):
        rasterize_lines(_labels([_horizontal_line(1, 1, 3)]), GRID, width_m=width)


def test_polygons_are_not_lines() -> None:
    gdf = _labels([_horizontal_line(1, 1, 3), _pixel_box(0, 0, 2, 2)], gid=["front", "zone-3"])
    with pytest.raises(LabelError, match="line labels zone-3 are not LineString"):
        rasterize_lines(gdf, GRID, width_m=30, id_field="gid")
