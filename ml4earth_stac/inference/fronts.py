"""Calving fronts from zone maps, and front-position change over time: pure functions, no I/O.

Zone classes follow the calving-front benchmark: 0 = no information, 1 = rock, 2 = glacier, 3 = ocean
(ice mélange included) and ``nodata`` (255 by default, also NaN in float maps) where a model saw nothing
(cloud, missing data). The benchmark's label class 4 (the front burned as a 60 m line) is neither glacier
nor ocean: extract truth fronts from the zones *before* the front is burned, or from the vector labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiLineString

from ml4earth_stac.errors import Ml4EarthError
from ml4earth_stac.grid import GridSpec

ROCK: Final = 1
GLACIER: Final = 2
OCEAN: Final = 3
NODATA: Final = 255
DEFAULT_MIN_LENGTH_PX: Final = 3
"""Connected front pieces shorter than this many pixel edges are dropped (when ``min_length_m`` is None)."""
DEFAULT_SIMPLIFY_PX: Final = 1.0
"""Simplification tolerance in pixels (when ``simplify_m`` is None): removes the pixel staircase."""
SECONDS_PER_YEAR: Final = 365.25 * 86400.0

Front = LineString | MultiLineString


class InferenceError(Ml4EarthError):
    """Inference inputs (zone maps, masks, fronts, label arrays) are unusable as given."""


@dataclass(frozen=True)
class FrontResult:
    """The calving front of one zone map.

    Attributes:
        line: the front in the grid CRS (pixel edges, merged and simplified), or None when there is none.
        length_m: length of ``line`` in grid CRS units (metres for UTM); 0 when there is no front.
        epsg: EPSG code of the grid CRS of ``line``.
        reason: why there is no front (None when there is one).
    """

    line: Front | None
    length_m: float
    epsg: int
    reason: str | None = None

    @property
    def found(self) -> bool:
        """Whether a front was found."""
        return self.line is not None


def extract_front(
    zones: np.ndarray,
    grid: GridSpec,
    *,
    fjord_mask: np.ndarray | None = None,
    nodata: int = NODATA,
    min_length_m: float | None = None,
    simplify_m: float | None = None,
) -> FrontResult:
    """The calving front: the boundary between glacier and ocean pixels.

    Rule: every pixel edge shared by a glacier pixel and an ocean pixel that are 4-connected neighbours is a
    front segment. Glacier-rock, ocean-rock and anything next to ``nodata`` (or NaN, or class 0) is never a
    front, so clouds yield gaps, not segments. With ``fjord_mask`` an edge counts only when *both* pixels on
    its sides are in the mask. Segments are grouped into connected pieces; a piece shorter than
    ``min_length_m`` is dropped. The rest is merged (``shapely.line_merge``) and simplified part by part
    (topology-preserving Douglas-Peucker, tolerance ``simplify_m``); ``length_m`` is measured after that.

    Args:
        zones: ``(y, x)`` zone classes on ``grid``.
        grid: the grid of ``zones``; the front comes in its CRS with its transform.
        fjord_mask: optional boolean ``(y, x)`` mask of where a front may be (e.g. a buffer of the fjord).
        nodata: the no-data class.
        min_length_m: shortest connected piece kept (default: 3 pixel edges).
        simplify_m: simplification tolerance (default: one pixel; 0 keeps every pixel corner).

    Returns:
        The front, or no front with the reason (no glacier, no ocean, never touching, hidden by nodata,
        outside the fjord mask, or only pieces shorter than ``min_length_m``).

    Raises:
        InferenceError: ``zones``/``fjord_mask`` do not match the grid, or a length is negative.
    """
    min_length = DEFAULT_MIN_LENGTH_PX * grid.resolution if min_length_m is None else min_length_m
    tolerance = DEFAULT_SIMPLIFY_PX * grid.resolution if simplify_m is None else simplify_m
    _check_inputs(zones, grid, fjord_mask, min_length, tolerance)
    mask = np.ones(zones.shape, bool) if fjord_mask is None else fjord_mask.astype(bool)
    glacier, ocean = zones == GLACIER, zones == OCEAN
    starts, ends = _front_edges(glacier, ocean, mask)
    if len(starts) == 0:
        return FrontResult(None, 0.0, grid.epsg, _no_edge_reason(zones, glacier, ocean, mask, nodata))
    keep = _long_pieces(starts, ends, grid.shape[1] + 1, min_length / grid.resolution)
    if not keep.any():
        reason = f"every front piece is shorter than min_length_m={min_length:g} m"
        return FrontResult(None, 0.0, grid.epsg, reason)
    line = _to_line(starts[keep], ends[keep], grid, tolerance)
    return FrontResult(line, float(line.length), grid.epsg)


def _check_inputs(
    zones: np.ndarray, grid: GridSpec, fjord_mask: np.ndarray | None, min_length: float, tolerance: float
) -> None:
    if zones.ndim != 2 or zones.shape != grid.shape:
        raise InferenceError(f"zones of shape {zones.shape} do not match the grid shape {grid.shape}")
    if fjord_mask is not None and fjord_mask.shape != zones.shape:
        raise InferenceError(f"fjord mask of shape {fjord_mask.shape} does not match zones {zones.shape}")
    if not (min_length >= 0 and tolerance >= 0):
        raise InferenceError(f"min_length_m and simplify_m must be >= 0, got {min_length} and {tolerance}")


def _front_edges(glacier: np.ndarray, ocean: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Glacier/ocean pixel edges as ``(n, 2)`` start and end pixel corners ``(row, col)``."""
    across = (glacier[:, :-1] & ocean[:, 1:]) | (ocean[:, :-1] & glacier[:, 1:])
    across &= mask[:, :-1] & mask[:, 1:]
    rows, cols = np.nonzero(across)  # vertical edge right of (row, col)
    v_start, v_end = np.stack([rows, cols + 1], 1), np.stack([rows + 1, cols + 1], 1)
    down = (glacier[:-1, :] & ocean[1:, :]) | (ocean[:-1, :] & glacier[1:, :])
    down &= mask[:-1, :] & mask[1:, :]
    rows, cols = np.nonzero(down)  # horizontal edge below (row, col)
    h_start, h_end = np.stack([rows + 1, cols], 1), np.stack([rows + 1, cols + 1], 1)
    return np.concatenate([v_start, h_start]), np.concatenate([v_end, h_end])


def _no_edge_reason(
    zones: np.ndarray, glacier: np.ndarray, ocean: np.ndarray, mask: np.ndarray, nodata: int
) -> str:
    """Why no glacier/ocean edge was found."""
    if not glacier.any():
        return "no glacier pixels in the scene"
    if not ocean.any():
        return "no ocean pixels in the scene"
    hidden = (zones == nodata) | (np.isnan(zones) if zones.dtype.kind == "f" else False)
    if _touches(glacier & mask, hidden) and _touches(ocean & mask, hidden):
        return "front hidden by nodata: glacier and ocean never touch but both border nodata (cloud, no data)"
    if _front_edges(glacier, ocean, np.ones_like(mask))[0].size:
        return "front lies outside the fjord mask"
    return "glacier and ocean never touch"


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether any pixel of ``a`` has a 4-connected neighbour in ``b``."""
    return bool(
        (a[:, :-1] & b[:, 1:]).any()
        or (b[:, :-1] & a[:, 1:]).any()
        or (a[:-1, :] & b[1:, :]).any()
        or (b[:-1, :] & a[1:, :]).any()
    )


def _long_pieces(starts: np.ndarray, ends: np.ndarray, n_cols: int, min_edges: float) -> np.ndarray:
    """Mask of the edges whose connected piece has at least ``min_edges`` edges (union-find on corners)."""
    corners, inverse = np.unique(
        np.concatenate([starts[:, 0] * n_cols + starts[:, 1], ends[:, 0] * n_cols + ends[:, 1]]),
        return_inverse=True,
    )
    parent = list(range(len(corners)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    n = len(starts)
    for a, b in zip(inverse[:n].tolist(), inverse[n:].tolist(), strict=True):
        parent[root(a)] = root(b)
    piece = np.array([root(i) for i in inverse[:n].tolist()])
    sizes = np.bincount(piece, minlength=len(corners))
    return sizes[piece] >= min_edges


def _to_line(starts: np.ndarray, ends: np.ndarray, grid: GridSpec, tolerance: float) -> Front:
    """Pixel-corner edges -> merged, simplified lines in the grid CRS."""
    min_x, _, _, max_y = grid.bounds
    corners = np.stack([starts, ends], 1).astype(float)  # (n, 2, [row, col])
    xy = np.stack([min_x + corners[..., 1] * grid.resolution, max_y - corners[..., 0] * grid.resolution], -1)
    merged = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(xy)))
    if tolerance == 0:
        return merged
    # Part by part: simplifying a whole MultiLineString with topology preservation is quadratic in GEOS.
    parts = shapely.simplify(shapely.get_parts(merged), tolerance, preserve_topology=True)
    return parts[0] if len(parts) == 1 else shapely.multilinestrings(parts)


@dataclass(frozen=True)
class FrontPosition:
    """The front position of one date along a glacier's axis.

    Attributes:
        date: acquisition date of the front.
        position_m: distance along the axis from its start.
        change_m: ``position_m`` minus the first date's position (negative = moved back toward the start).
        method: ``"intersection"`` or ``"projection"`` (see :func:`front_position_change`).
    """

    date: datetime
    position_m: float
    change_m: float
    method: str


@dataclass(frozen=True)
class FrontChange:
    """Front positions of one glacier over time and their linear trend.

    Attributes:
        positions: one record per dated front, oldest first.
        rate_m_per_yr: least-squares slope of ``position_m`` over time (positive = the front moves along the
            axis direction, i.e. advances when the axis points seaward); None with fewer than two dates.
        skipped: dates given without a front (None or empty geometry).
    """

    positions: tuple[FrontPosition, ...]
    rate_m_per_yr: float | None
    skipped: tuple[datetime, ...] = ()

    @property
    def retreat_rate_m_per_yr(self) -> float | None:
        """The negated rate: positive when the front retreats along a seaward-pointing axis."""
        return None if self.rate_m_per_yr is None else -self.rate_m_per_yr

    def to_frame(self) -> pd.DataFrame:
        """The positions as a DataFrame with columns date, position_m, change_m, method."""
        columns = ["date", "position_m", "change_m", "method"]
        return pd.DataFrame([[getattr(p, c) for c in columns] for p in self.positions], columns=columns)


def front_position_change(fronts: Sequence[tuple[datetime, Front | None]], axis: LineString) -> FrontChange:
    """Front position per date along a glacier axis, and the rate of change by least squares.

    Position rule: where the front crosses ``axis`` (e.g. the flow centreline, drawn from inland toward the
    sea), its position is the distance along the axis from the axis's first point to the crossing (the mean
    over crossings if there are several; method ``"intersection"``). Where it does not cross, the position is
    the mean over the front's points, sampled every ``axis.length / 1000`` or finer, of their projections on
    the axis (``shapely.line_locate_point``, clamped to the axis ends; method ``"projection"``). The rate is
    the least-squares slope of position over time in years of 365.25 days.

    Args:
        fronts: ``(date, front)`` pairs in the axis's CRS, in any order; None or empty fronts are skipped.
        axis: the reference line, in metres.

    Returns:
        The positions (oldest first, change relative to the oldest) and the rate in m/yr.

    Raises:
        InferenceError: the axis is empty or has zero length, or two fronts share one date.
    """
    if axis.is_empty or not axis.length > 0:
        raise InferenceError("the front axis must be a LineString of non-zero length")
    dated = sorted(((d, f) for d, f in fronts if f is not None and not f.is_empty), key=lambda df: df[0])
    dates = [d for d, _ in dated]
    if len(set(dates)) != len(dates):
        raise InferenceError("two fronts share one date; pass one front per glacier and date")
    measured = [(d, *_position_on_axis(f, axis)) for d, f in dated]
    first = measured[0][1] if measured else 0.0
    positions = tuple(FrontPosition(d, p, p - first, m) for d, p, m in measured)
    skipped = tuple(sorted(d for d, f in fronts if f is None or f.is_empty))
    return FrontChange(positions, _rate(positions), skipped)


def _position_on_axis(front: Front, axis: LineString) -> tuple[float, str]:
    crossings = shapely.get_coordinates(front.intersection(axis))
    if len(crossings):
        return float(np.mean(shapely.line_locate_point(axis, shapely.points(crossings)))), "intersection"
    points = shapely.points(shapely.get_coordinates(shapely.segmentize(front, axis.length / 1000)))
    return float(np.mean(shapely.line_locate_point(axis, points))), "projection"


def _rate(positions: Sequence[FrontPosition]) -> float | None:
    if len(positions) < 2:
        return None
    years = np.array([(p.date - positions[0].date).total_seconds() / SECONDS_PER_YEAR for p in positions])
    values = np.array([p.position_m for p in positions])
    slope = np.polyfit(years, values, 1)[0]
    return float(slope) if math.isfinite(slope) else None
