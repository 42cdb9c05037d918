"""Three South-American cities of the sample archive (the city table) and their seeded urban layout.

A city scene is a crop of the city's real Sentinel-2 MGRS tile (UTM zone of the tile; southern cities use
EPSG:327zz, whose northings carry the 10,000 km false northing), on the tile's 60 m lattice and centred on
the city centre wherever the tile allows. The layout is analytic, so :func:`surface_at` evaluates it at any
points (local coordinates: metres east/north of the city centre): an irregular, rotated street grid with
avenues (planted medians, bridges), blocks of lots with buildings and yards around a denser commercial
core, small parks, bare lots, large parks (Curitiba's nearest one holds a lake) and a river with green
banks. Trees are planted on top of it by :mod:`._canopy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from ml4earth_stac.archive._grid import SceneGrid
from ml4earth_stac.archive._noise import smooth_1d
from ml4earth_stac.archive._spec import PIXEL_M

TILE_SIZE_M: Final = 109800.0  # SENSORS.md 5.1: the 109.8 km MGRS tile of S2 L2A
TILE_LATTICE_M: Final = 60.0  # scene corners on the 60 m grid so that 10/20/60 m pixels nest
SUB_M: Final = 2.0  # sub-grid cell at which materials are mixed into 10 m pixels
# Surface materials (rows of the spectral and backscatter tables of _urban).
M_NONE, M_ASPHALT, M_ROAD, M_SIDEWALK, M_CONCRETE, M_TILE, M_METAL = range(7)
M_GRASS, M_TREE, M_WATER, M_SOIL, M_PAVING = range(7, 12)
N_MATERIALS: Final = 12
# Zones decide where trees grow.
Z_ROAD, Z_SIDEWALK, Z_TREED_SIDEWALK, Z_MEDIAN, Z_YARD, Z_BUILDING, Z_PARK, Z_BANK, Z_WATER, Z_LOT = range(10)
BLOCK_KINDS: Final = ("residential", "commercial", "park", "lot")
CORE_RADIUS_M: Final = 900.0  # e-folding radius of the commercial core
PARK_SHARE: Final = 0.06  # blocks that are small parks / plazas
LOT_SHARE: Final = 0.04  # blocks that are bare lots
AVENUE_SHARE: Final = 0.12  # streets that are avenues
VACANT_SHARE: Final = 0.05  # residential lots without a building
MEDIAN_HALF_M: Final = 3.0
LAKE_SCALE: Final = 0.55  # lake semi-axes relative to its park
PERIPHERY_M: Final = 3000.0  # metal roofs (informal housing) get more common towards the periphery


@dataclass(frozen=True)
class CitySite:
    """Fixed geography and flavour of one city.

    Attributes:
        key: archive name (``curitiba``); name, country: for titles.
        lon_lat: the city centre (a central square); centre_utm: the same point in ``epsg``.
        epsg: UTM zone of the MGRS tile (327zz south, 326zz north); mgrs_tile: the Sentinel-2 tile.
        tile_origin: upper-left corner of the tile: 40 m west / 20 m north of its 100 km square.
        block_m: range of street-to-street block pitch; grid_angle_deg: rotation of the street grid.
        roof_mix: shares of concrete, red ceramic tile and metal roofs of residential lots.
        river: (direction deg counter-clockwise from east, east and north offset m of a point on it from
            the centre, width m, green bank width m).
        lake_park: the park nearest the centre holds a lake.
        canopy_target: share of the scene under tree canopy (+-0.03 seeded).
        street_tree_share: share of ordinary streets with sidewalk trees (avenues always have them).
        cloud_range: cumulus cover range of the cloudy dates.
        seasons: (grass greenness minimum, greenest day of year, tree leaf minimum, leafiest day of year).
        relative_orbits: Sentinel-2 relative orbits over the tile (seen in real product ids: 22JFS R038,
            18NVM R068, 19HCD R096 and R139).
        seed_key: mixes the city into the archive seed.
    """

    key: str
    name: str
    country: str
    lon_lat: tuple[float, float]
    centre_utm: tuple[float, float]
    epsg: int
    mgrs_tile: str
    tile_origin: tuple[float, float]
    block_m: tuple[float, float]
    grid_angle_deg: float
    roof_mix: tuple[float, float, float]
    river: tuple[float, float, float, float, float]
    lake_park: bool
    canopy_target: float
    street_tree_share: float
    cloud_range: tuple[float, float]
    seasons: tuple[float, int, float, int]
    relative_orbits: tuple[int, ...]
    seed_key: int

    def synth_seed(self, seed: int) -> int:
        """The seed of everything synthesized for this city."""
        return int(np.random.SeedSequence([seed, 0x636974, self.seed_key]).generate_state(1)[0])


# Centres projected with pyproj; tile origins from the 100 km square (22J FS: E 600-700 km, N 7100-7200 km;
# 18N VM: E 400-500 km, N 600-700 km; 19H CD: E 300-400 km, N 6300-6400 km: the centre lies in square CC
# 1 km below its top, and in the overlap of tile 19HCD, which holds a centred scene).
CURITIBA: Final = CitySite(
    "curitiba", "Curitiba", "Brazil", (-49.2711, -25.4284), (673869.8, 7186488.1), 32722, "22JFS",
    (599960.0, 7200020.0), (90.0, 130.0), 12.0, (0.35, 0.5, 0.15), (95.0, 900.0, 0.0, 14.0, 20.0), True,
    0.30, 0.75, (0.0, 0.2), (0.75, 15, 0.95, 15), (38,), 1,
)  # fmt: skip
MEDELLIN: Final = CitySite(
    "medellin", "Medellín", "Colombia", (-75.5683, 6.2518), (437135.0, 691073.2), 32618, "18NVM",
    (399960.0, 700020.0), (70.0, 110.0), 4.0, (0.25, 0.6, 0.15), (78.0, -900.0, 0.0, 45.0, 20.0), False,
    0.22, 0.5, (0.03, 0.25), (0.9, 120, 1.0, 120), (68,), 2,
)  # fmt: skip
SANTIAGO: Final = CitySite(
    "santiago", "Santiago", "Chile", (-70.6505, -33.4378), (346574.7, 6298958.9), 32719, "19HCD",
    (299960.0, 6400020.0), (110.0, 140.0), 2.0, (0.45, 0.35, 0.2), (15.0, 0.0, 650.0, 35.0, 45.0), False,
    0.17, 0.6, (0.0, 0.08), (0.45, 270, 0.9, 15), (96, 139), 3,
)  # fmt: skip
CITIES: Final = {c.key: c for c in (CURITIBA, MEDELLIN, SANTIAGO)}


def city_grid(city: CitySite, size_px: int) -> SceneGrid:
    """The crop of the city's tile centred on the city (shifted inwards where the tile edge is closer).

    Args:
        city: the city.
        size_px: 10 m pixels per side (a multiple of 6).

    Returns:
        The scene grid in the city's UTM zone, its corner on the tile's 60 m lattice.
    """
    size_m = size_px * PIXEL_M
    tx, ty = city.tile_origin
    cx, cy = city.centre_utm
    top = float(np.floor((TILE_SIZE_M - size_m) / TILE_LATTICE_M)) * TILE_LATTICE_M
    dx = min(max(TILE_LATTICE_M * round((cx - 0.5 * size_m - tx) / TILE_LATTICE_M), 0.0), top)
    dy = min(max(TILE_LATTICE_M * round((ty - cy - 0.5 * size_m) / TILE_LATTICE_M), 0.0), top)
    return SceneGrid(x0=tx + dx, y0=ty - dy, size_px=size_px, epsg=city.epsg)


@dataclass(frozen=True)
class StreetLines:
    """The parallel streets of one direction of the grid, at increasing positions of the rotated frame."""

    pos: np.ndarray
    half_road: np.ndarray  # half carriage width, m
    sidewalk: np.ndarray  # sidewalk width, m
    avenue: np.ndarray  # bool: avenue with a planted median (bridges over the river)
    asphalt: np.ndarray  # bool: fresh asphalt, else aged road surface
    treed: np.ndarray  # bool: sidewalk trees

    @property
    def half_width(self) -> np.ndarray:
        """Half width of the street corridor including the sidewalks."""
        return self.half_road + self.sidewalk


@dataclass(frozen=True)
class UrbanLayout:
    """The seeded, static layout of one city scene (local coordinates: metres from the city centre)."""

    city: CitySite
    grid: SceneGrid
    seed: int
    angle: float  # street grid rotation, radians
    p_lines: StreetLines
    q_lines: StreetLines
    block_kind: np.ndarray  # (n_blocks,) index into BLOCK_KINDS
    block_params: np.ndarray  # (n_blocks, 5): lot width, setback, depth, side gap, backscatter offset dB
    parks: np.ndarray  # (k, 5): x, y, semi-axes a, b, angle; row 0 holds the lake when ``city.lake_park``
    river: tuple[float, float, float, float, float]  # x, y, direction rad, width, bank
    river_wiggle: tuple[np.ndarray, np.ndarray]  # (along-river positions, lateral offsets), m

    @property
    def origin(self) -> tuple[float, float]:
        """The city centre in the grid's CRS (local coordinates are relative to it)."""
        return self.city.centre_utm

    def local_box(self) -> tuple[float, float, float, float]:
        """The scene as (xmin, ymin, xmax, ymax) in local coordinates."""
        return _local_box(self.city, self.grid)


def _local_box(city: CitySite, grid: SceneGrid) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = grid.bbox
    cx, cy = city.centre_utm
    return x0 - cx, y0 - cy, x1 - cx, y1 - cy


def _hash01(seed: int, *keys: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers keyed by integer arrays (splitmix64 mixing), stable across runs."""
    h = np.full(np.shape(keys[0]), (seed * 0x9E3779B97F4A7C15) % 2**64, dtype=np.uint64)
    for key in keys:
        h ^= np.asarray(key).astype(np.uint64)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53


def _street_lines(rng: np.random.Generator, extent: float, city: CitySite) -> StreetLines:
    lo, hi = city.block_m
    gaps = rng.uniform(lo, hi, int(2 * extent / lo) + 3)
    pos = -extent - rng.uniform(0.0, hi) + np.concatenate([[0.0], np.cumsum(gaps)])
    k = pos.size
    avenue = rng.random(k) < AVENUE_SHARE
    half_road = np.where(avenue, rng.uniform(11.0, 15.0, k), rng.uniform(3.5, 5.5, k))
    sidewalk = np.where(avenue, 4.0, rng.uniform(2.5, 4.0, k))
    asphalt = avenue | (rng.random(k) < 0.4)
    treed = avenue | (rng.random(k) < city.street_tree_share)
    return StreetLines(pos, half_road, sidewalk, avenue, asphalt, treed)


def _blocks(rng: np.random.Generator, p: StreetLines, q: StreetLines) -> tuple[np.ndarray, np.ndarray]:
    """Kind and parameters of every block (p-major order), with a commercial core around the centre."""
    pc, qc = 0.5 * (p.pos[1:] + p.pos[:-1]), 0.5 * (q.pos[1:] + q.pos[:-1])
    dist = np.hypot(pc[:, None], qc[None, :]).ravel()
    n = dist.size
    commercial = 0.85 * np.exp(-((dist / CORE_RADIUS_M) ** 2))
    u = rng.random(n)
    shares = np.cumsum([commercial, np.full(n, PARK_SHARE), np.full(n, LOT_SHARE)], axis=0)
    kind = np.select([u < shares[0], u < shares[1], u < shares[2]], [1, 2, 3], 0)
    com = kind == 1
    lot_width = np.where(com, rng.uniform(20.0, 40.0, n), rng.uniform(8.0, 18.0, n))
    setback = np.where(com, 0.5, rng.uniform(0.0, 5.0, n))
    depth = np.where(com, 1e4, rng.uniform(10.0, 22.0, n))  # commercial: the whole half block
    gap = np.where(com, 0.0, rng.uniform(0.0, 2.0, n))
    orientation_db = rng.uniform(-3.0, 3.0, n)  # building backscatter offset (orientation to the radar)
    return kind.astype(np.uint8), np.column_stack([lot_width, setback, depth, gap, orientation_db])


def _parks(rng: np.random.Generator, city: CitySite, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    size = x1 - x0
    n = max(1, round(size * size / 8e6))
    a = np.clip(rng.uniform(0.05, 0.1, n) * size, 80.0, 500.0)
    x, y = rng.uniform(x0 + 0.1 * size, x1 - 0.1 * size, n), rng.uniform(y0 + 0.1 * size, y1 - 0.1 * size, n)
    parks = np.column_stack([x, y, a, a * rng.uniform(0.6, 1.0, n), rng.uniform(0.0, np.pi, n)])
    if city.lake_park:  # the lake park lies near the centre, so that small scenes show water too
        parks[0, :2] = np.clip(rng.uniform(-0.15, 0.15, 2) * size, [x0 + 150, y0 + 150], [x1 - 150, y1 - 150])
        parks[0, 2:4] = np.maximum(parks[0, 2:4], 170.0)
    return parks


def _axis(lines: StreetLines, v: np.ndarray):
    """Block index, nearest street, distance to it, and position/length inside the block along one axis."""
    i = np.clip(np.searchsorted(lines.pos, v, side="right") - 1, 0, lines.pos.size - 2)
    s = v - lines.pos[i]
    length = lines.pos[i + 1] - lines.pos[i]
    near_next = s > 0.5 * length
    k = np.where(near_next, i + 1, i)
    d = np.where(near_next, length - s, s)
    hw0, hw1 = lines.half_width[i], lines.half_width[i + 1]
    return i, k, d, s - hw0, length - hw0 - hw1


def _lots(lay: UrbanLayout, bid, ap, aq, r) -> tuple[np.ndarray, np.ndarray]:
    """Zone and material inside residential and commercial blocks: lots in two rows, built or yard."""
    width, setback, depth, gap = (lay.block_params[bid, c] for c in range(4))
    inner_p, inner_q, len_q = ap[3], aq[3], aq[4]
    lot = np.floor(inner_p / width)
    u = inner_p - lot * width
    back = inner_q >= 0.5 * len_q
    f = np.where(back, len_q - inner_q, inner_q)
    depth = np.minimum(depth, 0.5 * len_q - setback - np.where(lay.block_kind[bid] == 1, 0.0, 3.0))
    h0, h1, h2 = (_hash01(lay.seed + salt, bid, lot.astype(np.int64), back) for salt in (1, 2, 3))
    built = (u >= gap) & (u <= width - gap) & (f >= setback) & (f <= setback + depth) & (h0 >= VACANT_SHARE)
    conc, _, metal = lay.city.roof_mix
    metal_p = metal * np.clip(0.5 + r / PERIPHERY_M, 0.5, 2.0)
    conc_p = metal_p + (1.0 - metal_p) * conc / (1.0 - metal)
    roof = np.where(h1 < metal_p, M_METAL, np.where(h1 < conc_p, M_CONCRETE, M_TILE))
    roof = np.where(lay.block_kind[bid] == 1, np.where(h1 < 0.3, M_METAL, M_CONCRETE), roof)
    yard = np.where(h2 < 0.55, M_GRASS, np.where(h2 < 0.67, M_SOIL, M_PAVING))
    zone = np.where(built, Z_BUILDING, np.where(h0 < VACANT_SHARE, Z_LOT, Z_YARD))
    return zone.astype(np.uint8), np.where(built, roof, np.where(h0 < VACANT_SHARE, M_SOIL, yard))


def _blocks_at(lay: UrbanLayout, ap, aq, r) -> tuple[np.ndarray, np.ndarray]:
    bid = ap[0] * (lay.q_lines.pos.size - 1) + aq[0]
    zone, mat = _lots(lay, bid, ap, aq, r)
    kind = lay.block_kind[bid]
    park, lot = kind == 2, kind == 3
    path = (np.abs(ap[3] - 0.5 * ap[4]) < 1.5) | (np.abs(aq[3] - 0.5 * aq[4]) < 1.5)
    zone = np.where(park, Z_PARK, np.where(lot, Z_LOT, zone)).astype(np.uint8)
    mat = np.where(park, np.where(path, M_SIDEWALK, M_GRASS), np.where(lot, M_SOIL, mat))
    return zone, mat.astype(np.uint8)


def _streets_at(lay: UrbanLayout, ap, aq, zone: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Paint sidewalks, carriages and medians; returns the avenue carriages (bridges over water)."""
    parts = []
    for (_, k, d, _, _), lines in ((ap, lay.p_lines), (aq, lay.q_lines)):
        road = d < lines.half_road[k]
        parts.append((k, d, lines, road, d < lines.half_width[k], road & lines.avenue[k]))
    for k, _, lines, _, side, _ in parts:
        zone[side] = np.where(lines.treed[k][side], Z_TREED_SIDEWALK, Z_SIDEWALK)
        mat[side] = M_SIDEWALK
    for k, _, lines, road, _, _ in parts:
        zone[road] = Z_ROAD
        mat[road] = np.where(lines.asphalt[k][road], M_ASPHALT, M_ROAD)
    (_, d_p, _, road_p, _, ave_p), (_, d_q, _, road_q, _, ave_q) = parts
    median = (ave_p & (d_p < MEDIAN_HALF_M) & ~road_q) | (ave_q & (d_q < MEDIAN_HALF_M) & ~road_p)
    zone[median], mat[median] = Z_MEDIAN, M_GRASS
    return ave_p | ave_q


def _in_ellipse(x, y, e: np.ndarray, scale: float = 1.0) -> np.ndarray:
    dx, dy = x - e[0], y - e[1]
    c, s = np.cos(e[4]), np.sin(e[4])
    return ((dx * c + dy * s) / (e[2] * scale)) ** 2 + ((dy * c - dx * s) / (e[3] * scale)) ** 2 <= 1.0


def _water_at(lay: UrbanLayout, x, y, zone: np.ndarray, mat: np.ndarray, bridge: np.ndarray) -> None:
    for i, park in enumerate(lay.parks):
        inside = _in_ellipse(x, y, park)
        zone[inside], mat[inside] = Z_PARK, M_GRASS
        if i == 0 and lay.city.lake_park:
            lake = _in_ellipse(x, y, park, LAKE_SCALE)
            zone[lake], mat[lake] = Z_WATER, M_WATER
    rx, ry, phi, width, bank = lay.river
    along = (x - rx) * np.cos(phi) + (y - ry) * np.sin(phi)
    across = np.abs((y - ry) * np.cos(phi) - (x - rx) * np.sin(phi) - np.interp(along, *lay.river_wiggle))
    banks = (across < 0.5 * width + bank) & ~bridge
    zone[banks], mat[banks] = Z_BANK, M_GRASS
    water = (across < 0.5 * width) & ~bridge
    zone[water], mat[water] = Z_WATER, M_WATER


def surface_at(lay: UrbanLayout, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zone and material (without trees) at local coordinates.

    Args:
        lay: the layout.
        x: metres east of the city centre (any shape).
        y: metres north of the city centre (same shape).

    Returns:
        (zone uint8, material uint8), the shape of ``x``.
    """
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    c, s = np.cos(lay.angle), np.sin(lay.angle)
    ap, aq = _axis(lay.p_lines, x * c + y * s), _axis(lay.q_lines, y * c - x * s)
    zone, mat = _blocks_at(lay, ap, aq, np.hypot(x, y))
    bridge = _streets_at(lay, ap, aq, zone, mat)
    _water_at(lay, x, y, zone, mat, bridge)
    return zone, mat


def block_offsets_db(lay: UrbanLayout, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Backscatter offset (dB) of the buildings of the block at local coordinates."""
    c, s = np.cos(lay.angle), np.sin(lay.angle)
    ap, aq = _axis(lay.p_lines, x * c + y * s), _axis(lay.q_lines, y * c - x * s)
    return lay.block_params[ap[0] * (lay.q_lines.pos.size - 1) + aq[0], 4].astype(np.float32)


def make_layout(city: CitySite, grid: SceneGrid, seed: int) -> UrbanLayout:
    """Synthesize the static layout of a city scene (trees: :func:`_canopy.plant_canopy`).

    Args:
        city: the city.
        grid: its scene grid (:func:`city_grid`).
        seed: the city's synthesis seed (``city.synth_seed(archive_seed)``).

    Returns:
        The layout.
    """
    rng = np.random.default_rng([seed, 50])
    box = _local_box(city, grid)
    extent = float(np.hypot(*np.max(np.abs(np.reshape(box, (2, 2))), axis=0))) + 300.0
    p_lines, q_lines = _street_lines(rng, extent, city), _street_lines(rng, extent, city)
    kind, params = _blocks(rng, p_lines, q_lines)
    phi, dx, dy, width, bank = city.river
    inset = 0.2 * (box[2] - box[0])  # the river runs through the middle 60 % of the scene
    rx, ry = (
        float(np.clip(v, lo + inset, hi - inset))
        for v, lo, hi in ((dx, box[0], box[2]), (dy, box[1], box[3]))
    )
    river = (rx, ry, float(np.radians(phi)), width, bank)
    along = np.linspace(-extent, extent, 256)
    wiggle = float(np.clip(1.5 * width, 20.0, 80.0)) * smooth_1d(rng, along.size, [3, 7], [1.0, 0.5])
    return UrbanLayout(
        city=city,
        grid=grid,
        seed=seed,
        angle=float(np.radians(city.grid_angle_deg + rng.normal(0.0, 2.0))),
        p_lines=p_lines,
        q_lines=q_lines,
        block_kind=kind,
        block_params=params,
        parks=_parks(rng, city, box),
        river=river,
        river_wiggle=(along, wiggle),
    )
