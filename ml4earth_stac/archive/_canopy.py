"""The trees of a city scene: crowns scattered by zone, thinned to the canopy target, dissolved into truth.

Crowns are ellipses of 3-12 m radius, densest on the sidewalks of tree-lined streets, avenue medians, river
banks and in parks (in groves: a smooth field modulates the park density), sparser in yards and lots. They
are drawn in random rank order and the leading crowns are kept until they cover the city's canopy target
(+-0.03, seeded). The canopy polygons (the truth) are their union, in the city's UTM CRS, clipped to the
scene. Dissolving unions each group of overlapping crowns on its own (groups found with an STRtree and
label propagation), much faster than one ``union_all`` of all crowns, which merges disjoint groups over and
over.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import shapely

from ml4earth_stac.archive import _cities as C
from ml4earth_stac.archive._noise import smooth_2d
from ml4earth_stac.archive._spec import PIXEL_M

# Candidate crowns per m2 of each layout zone (before thinning) and crown radius range (m), zones in the
# order of _cities (road, sidewalk, tree-lined sidewalk, median, yard, building, park, bank, water, lot).
TREE_DENSITY: Final = np.array([0.0, 0.002, 0.04, 0.035, 0.008, 0.0, 0.03, 0.03, 0.0, 0.002])
CROWN_RADIUS_M: Final = np.array(
    [[3, 6], [3, 6], [3, 6.5], [3.5, 7], [3, 7.5], [3, 6], [4, 12], [4, 10], [3, 6], [3, 6]], dtype=np.float64
)
TARGET_JITTER: Final = 0.03  # the canopy share is the city's target +- this (seeded)
CROWN_VERTICES: Final = 12  # vertices on the ellipse (the inscribed polygon loses < 3.5 % of the radius)
CALIBRATION_POINTS: Final = 200_000  # random points estimating the canopy share (std error < 0.001)
POLYGON_TYPE_ID: Final = 3  # shapely.get_type_id of a Polygon


def crown_polygons(crowns: np.ndarray) -> np.ndarray:
    """Ellipse polygons of crowns.

    Args:
        crowns: (n, 5) rows of centre x, centre y, semi-axes a and b (m), and angle of a (radians).

    Returns:
        (n,) shapely Polygons with ``CROWN_VERTICES`` vertices on each ellipse.
    """
    t = np.linspace(0.0, 2.0 * np.pi, CROWN_VERTICES + 1)
    x, y, a, b, th = (crowns[:, i : i + 1] for i in range(5))
    px = x + a * np.cos(t) * np.cos(th) - b * np.sin(t) * np.sin(th)
    py = y + a * np.cos(t) * np.sin(th) + b * np.sin(t) * np.cos(th)
    px[:, -1], py[:, -1] = px[:, 0], py[:, 0]
    return shapely.polygons(np.stack([px, py], axis=-1))


def keep_count(polys: np.ndarray, target: float, bbox: list[float], rng: np.random.Generator) -> int:
    """How many crowns, taken in array order, cover the share ``target`` of ``bbox``.

    Estimated on random points: each point records the first crown covering it; the answer is the rank
    below which ``target`` of the points are covered (all crowns when they cannot cover that much).

    Args:
        polys: crown polygons in rank order.
        target: canopy share to reach, 0..1.
        bbox: the scene [xmin, ymin, xmax, ymax].
        rng: seeded generator for the points.

    Returns:
        The number of leading crowns to keep.
    """
    x0, y0, x1, y1 = bbox
    pts = shapely.points(rng.uniform(x0, x1, CALIBRATION_POINTS), rng.uniform(y0, y1, CALIBRATION_POINTS))
    hit_pt, hit_poly = shapely.STRtree(polys).query(pts, predicate="within")
    first = np.full(CALIBRATION_POINTS, polys.size, dtype=np.int64)
    np.minimum.at(first, hit_pt, hit_poly)
    first.sort()
    return int(min(first[min(int(target * CALIBRATION_POINTS), CALIBRATION_POINTS - 1)], polys.size))


def _components(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes linked by edges (i, j): min-label propagation."""
    label = np.arange(n)
    while True:
        low = np.minimum(label[i], label[j])
        new = label.copy()
        np.minimum.at(new, i, low)
        np.minimum.at(new, j, low)
        new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


def dissolve(polys: np.ndarray, bbox: list[float]) -> np.ndarray:
    """Union of overlapping crowns, clipped to the scene.

    Args:
        polys: crown polygons.
        bbox: the scene [xmin, ymin, xmax, ymax].

    Returns:
        (k,) disjoint shapely Polygons (possibly with holes), in a deterministic order.
    """
    if polys.size == 0:
        return np.empty(0, dtype=object)
    i, j = shapely.STRtree(polys).query(polys, predicate="intersects")
    label = _components(i, j, polys.size)
    order = np.argsort(label, kind="stable")
    starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
    parts = np.array(
        [
            polys[order[s]] if e - s == 1 else shapely.union_all(polys[order[s:e]])
            for s, e in zip(starts, np.r_[starts[1:], polys.size], strict=True)
        ],
        dtype=object,
    )
    box = shapely.box(*bbox)
    shapely.prepare(box)
    edge = ~shapely.contains_properly(box, parts)
    parts[edge] = shapely.intersection(parts[edge], box)
    out = shapely.get_parts(parts)
    return out[(shapely.get_type_id(out) == POLYGON_TYPE_ID) & ~shapely.is_empty(out)]


def _scatter(lay: C.UrbanLayout, rng: np.random.Generator) -> np.ndarray:
    """Candidate crowns (x, y, a, b, angle in the grid's CRS), in random rank order."""
    x0, y0, x1, y1 = lay.local_box()
    n_px = lay.grid.size_px
    grove = smooth_2d(rng, n_px, [max(3, n_px // 30), max(6, n_px // 10)], [1.0, 0.6])
    lam = float(TREE_DENSITY.max())
    n = int(rng.poisson(lam * (x1 - x0 + 20) * (y1 - y0 + 20)))
    x, y = rng.uniform(x0 - 10, x1 + 10, n), rng.uniform(y0 - 10, y1 + 10, n)
    zone, _ = C.surface_at(lay, x, y)
    col = np.clip(((x - x0) / PIXEL_M).astype(np.int64), 0, n_px - 1)
    row = np.clip(((y1 - y) / PIXEL_M).astype(np.int64), 0, n_px - 1)
    weight = np.where(zone == C.Z_PARK, np.clip(0.45 + 0.55 * grove[row, col], 0.05, 1.0), 1.0)
    keep = rng.random(n) * lam < TREE_DENSITY[zone] * weight
    x, y, zone = x[keep], y[keep], zone[keep]
    lo, hi = CROWN_RADIUS_M[zone].T
    a = lo + (hi - lo) * rng.random(x.size) ** 1.2
    b = a * rng.uniform(0.75, 1.0, x.size)
    cx, cy = lay.origin
    crowns = np.stack([x + cx, y + cy, a, b, rng.uniform(0.0, np.pi, x.size)], axis=1)
    return crowns[rng.permutation(x.size)]


def plant_canopy(lay: C.UrbanLayout) -> np.ndarray:
    """The tree-canopy truth of a city scene.

    Args:
        lay: the city layout (seeded by ``lay.seed``).

    Returns:
        Disjoint shapely Polygons in ``lay.grid.epsg`` covering about ``city.canopy_target`` of the scene.
    """
    rng = np.random.default_rng([lay.seed, 51])
    polys = crown_polygons(_scatter(lay, rng))
    target = lay.city.canopy_target + float(rng.uniform(-TARGET_JITTER, TARGET_JITTER))
    return dissolve(polys[: keep_count(polys, target, lay.grid.bbox, rng)], lay.grid.bbox)
