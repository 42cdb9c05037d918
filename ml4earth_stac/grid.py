"""AOI -> projected grid -> tiles: pure math, no I/O.

A :class:`GridSpec` is a north-up grid in one projected CRS whose bounds are whole multiples of the
pixel size, so that every run (and every sensor) of one AOI lands on exactly the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pyproj
import shapely.geometry
import shapely.validation

from ml4earth_stac.errors import GridError

WGS84: Final = "EPSG:4326"


@dataclass(frozen=True)
class GridSpec:
    """A north-up pixel grid.

    Attributes:
        epsg: EPSG code of the grid CRS.
        resolution: pixel size in CRS units.
        bounds: (min_x, min_y, max_x, max_y), each a multiple of ``resolution``.
    """

    epsg: int
    resolution: float
    bounds: tuple[float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        min_x, min_y, max_x, max_y = self.bounds
        return round((max_y - min_y) / self.resolution), round((max_x - min_x) / self.resolution)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """The affine geotransform as the six ``proj:transform`` numbers (a, b, c, d, e, f)."""
        return (self.resolution, 0.0, self.bounds[0], 0.0, -self.resolution, self.bounds[3])

    @property
    def crs(self) -> str:
        """The CRS as an ``EPSG:<code>`` string (STAC ``proj:code``)."""
        return f"EPSG:{self.epsg}"

    def x_coords(self) -> list[float]:
        """Pixel-centre x coordinates, west to east."""
        return [self.bounds[0] + (i + 0.5) * self.resolution for i in range(self.shape[1])]

    def y_coords(self) -> list[float]:
        """Pixel-centre y coordinates, north to south."""
        return [self.bounds[3] - (j + 0.5) * self.resolution for j in range(self.shape[0])]

    def footprint_wgs84(self) -> dict[str, Any]:
        """The grid's outline as a WGS84 GeoJSON polygon (edges densified so it follows the projection)."""
        box = shapely.geometry.box(*self.bounds).segmentize(max(self.bounds[2] - self.bounds[0], 1) / 16)
        to_wgs84 = pyproj.Transformer.from_crs(self.epsg, 4326, always_xy=True).transform
        return shapely.geometry.mapping(shapely.transform(box, to_wgs84, interleaved=False))


@dataclass(frozen=True)
class Tile:
    """A window of a grid, in pixels (row/col offsets from the grid's top-left corner)."""

    row: int
    col: int
    height: int
    width: int


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing a point (no Norway/Svalbard zone exceptions).

    Args:
        lon: longitude in degrees.
        lat: latitude in degrees.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GridError(f"point ({lon}, {lat}) is not a WGS84 longitude/latitude")
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def resolve_epsg(crs_rule: str, geometry_wgs84: dict[str, Any]) -> int:
    """Apply a recipe's CRS rule to an AOI.

    Args:
        crs_rule: ``"utm"`` (the UTM zone of the AOI's centroid) or ``"EPSG:<code>"``.
        geometry_wgs84: the AOI as GeoJSON in WGS84.
    """
    if crs_rule == "utm":
        centroid = _shape(geometry_wgs84).centroid
        return utm_epsg(centroid.x, centroid.y)
    if crs_rule.upper().startswith("EPSG:") and crs_rule[5:].isdigit():
        return int(crs_rule[5:])
    raise GridError(f"CRS rule {crs_rule!r} is neither 'utm' nor 'EPSG:<code>'")


def aoi_grid(geometry_wgs84: dict[str, Any], crs_rule: str, resolution: float) -> GridSpec:
    """The smallest resolution-aligned grid that covers an AOI.

    Args:
        geometry_wgs84: the AOI as a GeoJSON geometry in WGS84.
        crs_rule: see :func:`resolve_epsg`.
        resolution: pixel size in metres.

    Raises:
        GridError: the geometry is empty or invalid, or the resolution is not positive.
    """
    if not resolution > 0:
        raise GridError(f"resolution must be positive, got {resolution}")
    epsg = resolve_epsg(crs_rule, geometry_wgs84)
    to_grid = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform
    projected = shapely.transform(_shape(geometry_wgs84).segmentize(0.01), to_grid, interleaved=False)
    return GridSpec(epsg, resolution, snap_bounds(projected.bounds, resolution))


def snap_bounds(
    bounds: tuple[float, float, float, float], resolution: float
) -> tuple[float, float, float, float]:
    """Expand bounds outward to the nearest multiples of ``resolution`` (at least one pixel wide)."""
    min_x, min_y, max_x, max_y = bounds
    snapped_min_x, snapped_min_y = _snap_down(min_x, resolution), _snap_down(min_y, resolution)
    snapped_max_x = max(-_snap_down(-max_x, resolution), snapped_min_x + resolution)
    snapped_max_y = max(-_snap_down(-max_y, resolution), snapped_min_y + resolution)
    return (snapped_min_x, snapped_min_y, snapped_max_x, snapped_max_y)


def _snap_down(value: float, resolution: float) -> float:
    """The largest multiple of ``resolution`` not above ``value`` (even where value/resolution underflows)."""
    snapped = math.floor(value / resolution) * resolution
    return snapped - resolution if snapped > value else snapped


def iter_tiles(grid: GridSpec, tile_px: int) -> Iterator[Tile]:
    """Cover a grid with non-overlapping tiles of ``tile_px`` (edge tiles are smaller).

    Args:
        grid: the grid to cover.
        tile_px: tile edge in pixels.
    """
    if tile_px < 1:
        raise GridError(f"tile size must be at least one pixel, got {tile_px}")
    height, width = grid.shape
    for row in range(0, height, tile_px):
        for col in range(0, width, tile_px):
            yield Tile(row, col, min(tile_px, height - row), min(tile_px, width - col))


def _shape(geometry: dict[str, Any]) -> shapely.geometry.base.BaseGeometry:
    try:
        shape = shapely.geometry.shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GridError(f"AOI geometry is not valid GeoJSON: {exc}") from exc
    if shape.is_empty:
        raise GridError("AOI geometry is empty")
    if not shape.is_valid:
        raise GridError(f"AOI geometry is invalid ({shapely.validation.explain_validity(shape)}); fix it")
    return shape


@dataclass(frozen=True)
class Chip:
    """A square ML chip of a grid, in pixels (row/col offsets from the grid's top-left corner).

    Attributes:
        row: top row of the chip.
        col: left column of the chip.
        size: chip edge in pixels.
    """

    row: int
    col: int
    size: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """The chip as ``(y, x)`` slices into an array on the grid."""
        return slice(self.row, self.row + self.size), slice(self.col, self.col + self.size)

    def bounds(self, grid: GridSpec) -> tuple[float, float, float, float]:
        """The chip's (min_x, min_y, max_x, max_y) in the grid CRS.

        Chips that share an edge get bit-identical edge coordinates (both come from the same expression).
        """
        min_x, _, _, max_y = grid.bounds
        return (
            min_x + self.col * grid.resolution,
            max_y - (self.row + self.size) * grid.resolution,
            min_x + (self.col + self.size) * grid.resolution,
            max_y - self.row * grid.resolution,
        )


def iter_chips(grid: GridSpec, chip_px: int, overlap_px: int = 0) -> Iterator[Chip]:
    """Cover a grid with full-size square chips on a regular stride of ``chip_px - overlap_px``.

    Chips start at row/column 0, ``stride``, ``2 * stride``, ... When the stride does not end exactly at
    the grid edge, one last row (column) of chips is shifted back so that it ends at the edge: every pixel
    is covered, every chip is full size and inside the grid, and that last chip overlaps its neighbour by
    more than ``overlap_px``. A grid narrower or shorter than one chip yields no chips at all (pad the AOI
    or choose a smaller chip). Chips come row by row, top to bottom, west to east.

    Args:
        grid: the grid to cover.
        chip_px: chip edge in pixels (at least 1).
        overlap_px: pixels shared by neighbouring chips, ``0 <= overlap_px < chip_px``.

    Raises:
        GridError: the chip size or overlap is out of range.
    """
    if chip_px < 1:
        raise GridError(f"chip size must be at least one pixel, got {chip_px}")
    if not 0 <= overlap_px < chip_px:
        raise GridError(
            f"chip overlap must be at least 0 and less than the chip size {chip_px}, got {overlap_px}"
        )
    height, width = grid.shape
    cols = _chip_starts(width, chip_px, chip_px - overlap_px)
    for row in _chip_starts(height, chip_px, chip_px - overlap_px):
        for col in cols:
            yield Chip(row, col, chip_px)


def _chip_starts(length: int, chip_px: int, stride: int) -> list[int]:
    """Chip offsets along one axis: a regular stride, plus one chip flush with the end if needed."""
    if length < chip_px:
        return []
    starts = list(range(0, length - chip_px + 1, stride))
    if starts[-1] + chip_px < length:
        starts.append(length - chip_px)
    return starts
