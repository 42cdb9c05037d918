"""Grid math: property-tested with hypothesis."""

from __future__ import annotations

import pyproj
import pytest
import shapely.geometry
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import GridError
from ml4earth_stac.grid import GridSpec, aoi_grid, iter_tiles, resolve_epsg, snap_bounds, utm_epsg

lons = st.floats(-179.0, 178.0)
lats = st.floats(-79.0, 83.0)
sizes = st.floats(0.005, 0.3)
resolutions = st.sampled_from([10.0, 20.0, 30.0, 60.0, 15.0])


def box(lon: float, lat: float, size: float) -> dict:
    return shapely.geometry.mapping(shapely.geometry.box(lon, lat, lon + size, lat + size))


def test_utm_zone_of_known_places() -> None:
    assert utm_epsg(12.45, 78.88) == 32633  # Kronebreen, Svalbard
    assert utm_epsg(-49.27, -25.43) == 32722  # Curitiba
    assert utm_epsg(180.0, 0.0) == 32660
    with pytest.raises(GridError, match="not a WGS84"):
        utm_epsg(200, 0)


def test_explicit_crs_rule_wins() -> None:
    assert resolve_epsg("EPSG:32634", box(12.4, 78.8, 0.1)) == 32634
    with pytest.raises(GridError, match="CRS rule"):
        resolve_epsg("utm33", box(12.4, 78.8, 0.1))


@settings(max_examples=60, deadline=None)
@given(lons, lats, sizes, resolutions)
def test_grid_covers_aoi_and_is_aligned(lon: float, lat: float, size: float, resolution: float) -> None:
    aoi = box(lon, lat, size)
    grid = aoi_grid(aoi, "utm", resolution)
    to_grid = pyproj.Transformer.from_crs(4326, grid.epsg, always_xy=True).transform
    projected = shapely.transform(shapely.geometry.shape(aoi), to_grid, interleaved=False)
    assert shapely.geometry.box(*grid.bounds).buffer(1e-6).contains(projected)
    for edge in grid.bounds:
        assert abs(edge / resolution - round(edge / resolution)) < 1e-6
    height, width = grid.shape
    assert width * resolution == pytest.approx(grid.bounds[2] - grid.bounds[0])
    assert height * resolution == pytest.approx(grid.bounds[3] - grid.bounds[1])
    # no more than one pixel of slack on each side
    assert grid.bounds[0] > projected.bounds[0] - resolution
    assert grid.bounds[3] < projected.bounds[3] + resolution


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(0, 5e4), st.floats(0, 5e4), resolutions)
def test_snap_bounds_contains_and_never_empty(x: float, y: float, w: float, h: float, res: float) -> None:
    snapped = snap_bounds((x, y, x + w, y + h), res)
    assert snapped[0] <= x and snapped[1] <= y and snapped[2] >= x + w and snapped[3] >= y + h
    assert snapped[2] - snapped[0] >= res and snapped[3] - snapped[1] >= res


@settings(deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 128))
def test_tiles_partition_the_grid(height: int, width: int, tile: int) -> None:
    grid = GridSpec(32633, 10.0, (0.0, 0.0, width * 10.0, height * 10.0))
    tiles = list(iter_tiles(grid, tile))
    assert sum(t.height * t.width for t in tiles) == height * width
    covered = set()
    for t in tiles:
        assert 0 < t.height <= tile and 0 < t.width <= tile
        cells = {(r, c) for r in range(t.row, t.row + t.height) for c in range(t.col, t.col + t.width)}
        assert not covered & cells
        covered |= cells


def test_pixel_centres_and_transform() -> None:
    grid = GridSpec(32633, 20.0, (400000.0, 8750000.0, 400100.0, 8750060.0))
    assert grid.shape == (3, 5)
    assert grid.transform == (20.0, 0.0, 400000.0, 0.0, -20.0, 8750060.0)
    assert grid.x_coords()[0] == 400010.0 and grid.y_coords()[0] == 8750050.0
    footprint = shapely.geometry.shape(grid.footprint_wgs84())
    assert 10.0 < footprint.centroid.x < 11.0 and 78 < footprint.centroid.y < 79


def test_bad_geometry_is_rejected_with_reason() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(GridError, match="invalid"):
        aoi_grid(bowtie, "utm", 10)
    with pytest.raises(GridError, match="positive"):
        aoi_grid(box(1, 1, 0.1), "utm", 0)
