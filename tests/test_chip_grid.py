"""Chip grid: property-tested coverage, containment and stride."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import GridError
from ml4earth_stac.grid import Chip, GridSpec, iter_chips


def make_grid(height: int, width: int, resolution: float = 10.0) -> GridSpec:
    x0, y0 = 500_000.0, 7_000_000.0
    return GridSpec(32633, resolution, (x0, y0, x0 + width * resolution, y0 + height * resolution))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[GridSpec, int, int]:
    chip = draw(st.integers(1, 40))
    overlap = draw(st.integers(0, chip - 1))
    height = draw(st.integers(1, 160))
    width = draw(st.integers(1, 160))
    resolution = draw(st.sampled_from([10.0, 20.0, 0.5, 30.0]))
    return make_grid(height, width, resolution), chip, overlap


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_chips_cover_every_pixel_and_stay_inside(layout: tuple[GridSpec, int, int]) -> None:
    grid, chip_px, overlap_px = layout
    height, width = grid.shape
    chips = list(iter_chips(grid, chip_px, overlap_px))
    if height < chip_px or width < chip_px:
        assert chips == []
        return
    hits = np.zeros((height, width), dtype=int)
    for chip in chips:
        assert chip.size == chip_px
        assert 0 <= chip.row <= height - chip_px and 0 <= chip.col <= width - chip_px
        hits[chip.slices] += 1
    assert (hits >= 1).all()
    assert len(set(chips)) == len(chips)


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_stride_is_regular_until_the_edge_chip(layout: tuple[GridSpec, int, int]) -> None:
    grid, chip_px, overlap_px = layout
    stride = chip_px - overlap_px
    chips = list(iter_chips(grid, chip_px, overlap_px))
    for starts, length in (
        (sorted({c.row for c in chips}), grid.shape[0]),
        (sorted({c.col for c in chips}), grid.shape[1]),
    ):
        if not starts:
            continue
        assert starts[0] == 0 and starts[-1] == length - chip_px
        steps = np.diff(starts)
        assert (steps[:-1] == stride).all()
        assert all(1 <= step <= stride for step in steps[-1:])
    assert len(chips) == len({c.row for c in chips}) * len({c.col for c in chips})


@settings(max_examples=80, deadline=None)
@given(layouts())
def test_chip_bounds_are_inside_the_grid_and_chip_sized(layout: tuple[GridSpec, int, int]) -> None:
    grid, chip_px, overlap_px = layout
    min_x, min_y, max_x, max_y = grid.bounds
    for chip in iter_chips(grid, chip_px, overlap_px):
        x0, y0, x1, y1 = chip.bounds(grid)
        assert min_x <= x0 < x1 <= max_x and min_y <= y0 < y1 <= max_y
        assert x1 - x0 == pytest.approx(chip_px * grid.resolution)
        assert y1 - y0 == pytest.approx(chip_px * grid.resolution)


def test_known_layout_shifts_the_last_chip_back() -> None:
    grid = make_grid(10, 25)
    chips = list(iter_chips(grid, 8, 2))
    assert sorted({c.col for c in chips}) == [0, 6, 12, 17]
    assert sorted({c.row for c in chips}) == [0, 2]
    assert Chip(0, 0, 8).bounds(grid) == (500_000.0, 7_000_020.0, 500_080.0, 7_000_100.0)


def test_neighbouring_chips_share_exact_edges() -> None:
    grid = make_grid(64, 64, 0.3)
    left, right = Chip(0, 0, 16).bounds(grid), Chip(0, 16, 16).bounds(grid)
    top, below = Chip(0, 0, 16).bounds(grid), Chip(16, 0, 16).bounds(grid)
    assert left[2] == right[0] and top[1] == below[3]


def test_exact_fit_and_too_small_grid() -> None:
    assert [(c.row, c.col) for c in iter_chips(make_grid(8, 16), 8)] == [(0, 0), (0, 8)]
    assert list(iter_chips(make_grid(7, 100), 8, 4)) == []


@pytest.mark.parametrize(
    ("chip_px", "overlap_px", "match"), [(0, 0, "at least one pixel"), (8, 8, "overlap"), (8, -1, "overlap")]
)
def test_bad_chip_settings_are_rejected(chip_px: int, overlap_px: int, match: str) -> None:
    with pytest.raises(GridError, match=match):
        list(iter_chips(make_grid(32, 32), chip_px, overlap_px))
