"""The scene grid: a crop of a glacier's MGRS tile (33XVH in EPSG:32633 for Kronebreen), on its 60 m grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyproj import Transformer

from ml4earth_stac.archive._glaciers import KRONEBREEN, GlacierSite
from ml4earth_stac.archive._spec import AOI_BOX, EPSG, FRONT_U0, PIXEL_M


@dataclass(frozen=True)
class SceneGrid:
    """Upper-left corner and size of the synthetic scene; 10, 20 and 60 m grids share the corner."""

    x0: float
    y0: float
    size_px: int
    epsg: int = EPSG

    @property
    def size_m(self) -> float:
        """Side length in metres."""
        return self.size_px * PIXEL_M

    def shape(self, res: int) -> tuple[int, int]:
        """(rows, cols) at ``res`` metres."""
        n = int(round(self.size_m / res))
        return (n, n)

    def transform(self, res: int) -> list[float]:
        """The STAC ``proj:transform`` (first 6 affine coefficients) at ``res`` metres."""
        return [float(res), 0.0, self.x0, 0.0, -float(res), self.y0]

    @property
    def bbox(self) -> list[float]:
        """``proj:bbox`` [xmin, ymin, xmax, ymax] in the grid's CRS."""
        return [self.x0, self.y0 - self.size_m, self.x0 + self.size_m, self.y0]

    def uv_to_xy(self, u: float, v: float) -> tuple[float, float]:
        """Scene fractions (u east, v south) to metres in the grid's CRS."""
        return (self.x0 + u * self.size_m, self.y0 - v * self.size_m)


def scene_grid(size_px: int, site: GlacierSite = KRONEBREEN) -> SceneGrid:
    """The crop of the glacier's tile (33XVH for Kronebreen) whose first-year front lies on its real front.

    Args:
        size_px: 10 m pixels per side (multiple of 6).
        site: the glacier.

    Returns:
        The grid in the glacier's UTM zone, its corner on the 60 m lattice of the tile.
    """
    size_m = size_px * PIXEL_M
    tx, ty = site.tile_origin
    fx, fy = site.front_anchor_utm
    x0 = tx + 60.0 * round((fx - float(site.map_u(FRONT_U0)) * size_m - tx) / 60.0)
    y0 = ty - 60.0 * round((ty - (fy + 0.5 * size_m)) / 60.0)
    return SceneGrid(x0=x0, y0=y0, size_px=size_px, epsg=site.epsg)


def to_wgs84(points_xy: list[tuple[float, float]], epsg: int = EPSG) -> list[list[float]]:
    """UTM points (EPSG:32633 unless ``epsg`` says otherwise) to [lon, lat] pairs rounded to 7 decimals."""
    tr = Transformer.from_crs(epsg, 4326, always_xy=True)
    return [[round(lon, 7), round(lat, 7)] for lon, lat in (tr.transform(x, y) for x, y in points_xy)]


def ring_xy(
    grid: SceneGrid, corners_uv: list[tuple[float, float]], per_edge: int = 8
) -> list[tuple[float, float]]:
    """A closed, densified ring through scene-fraction corners, in metres of the grid's CRS."""
    pts: list[tuple[float, float]] = []
    closed = corners_uv + corners_uv[:1]
    for (u1, v1), (u2, v2) in zip(closed[:-1], closed[1:], strict=True):
        for k in range(per_edge):
            f = k / per_edge
            pts.append(grid.uv_to_xy(u1 + f * (u2 - u1), v1 + f * (v2 - v1)))
    pts.append(pts[0])
    return pts


def polygon_wgs84(grid: SceneGrid, corners_uv: list[tuple[float, float]]) -> dict[str, Any]:
    """GeoJSON Polygon (counter-clockwise) through scene-fraction corners."""
    return {"type": "Polygon", "coordinates": [to_wgs84(ring_xy(grid, corners_uv), grid.epsg)]}


def aoi_corners_uv() -> list[tuple[float, float]]:
    """AOI box corners in scene fractions, counter-clockwise on the map (SW, SE, NE, NW)."""
    u0, v0, u1, v1 = AOI_BOX
    return [(u0, v1), (u1, v1), (u1, v0), (u0, v0)]
