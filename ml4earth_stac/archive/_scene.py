"""Pure numpy synthesis of one Kronebreen scene: zones, calving front, clouds, reflectance and SCL.

Scene coordinates are fractions ``u`` (0 west .. 1 east) and ``v`` (0 north .. 1 south) of the scene side.
A fjord valley runs west-east through the scene; west of the calving front it holds sea water (with a
glacial-flour plume and icebergs near the front), east of it the glacier; rock (with snow patches) flanks it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive._noise import blocky_uniform, smooth_1d, smooth_2d
from ml4earth_stac.archive._spec import AOI_BOX, PIXEL_M, ScenePlan

# SCL value of each surface class when the pixel is clear.
SCL_OF_CLASS: Final = np.array([0, 5, 11, 11, 11, 11, 6, 11], dtype=np.uint8)
# CaFFe-like zone of each surface class: 0 NA, 1 rock, 2 glacier, 3 ocean.
ZONE_OF_CLASS: Final = np.array([0, 1, 1, 2, 2, 2, 3, 3], dtype=np.uint8)
CLOUD_SCL: Final = (8, 9, 10)
MORAINES: Final = (-0.35, 0.2)  # cross-valley positions of medial moraines (fraction of half width)
CLOUD_HEIGHT_M: Final = 1000.0


@dataclass(frozen=True)
class Geography:
    """Static landscape shared by all dates (seeded by the archive seed only)."""

    n: int
    centre_v: np.ndarray  # (n,) valley centreline v per column
    half_width: np.ndarray  # (n,) valley half width per column (fraction of scene)
    cross: np.ndarray  # (n, n) signed cross-valley coordinate, |cross| < 1 inside the valley
    topo: np.ndarray  # (n, n) smooth field driving snow patches on rock
    texture: np.ndarray  # (n, n) surface brightness texture (zero mean, unit std)
    front_wiggle_m: np.ndarray  # (n,) static along-front wiggle of the calving front, per row


def make_geography(n: int, seed: int) -> Geography:
    """Synthesize the static landscape of an ``n`` x ``n`` pixel scene.

    Args:
        n: pixels per side at 10 m.
        seed: archive seed.

    Returns:
        The geography arrays (float32).
    """
    rng = np.random.default_rng([seed, 0])
    u = (np.arange(n, dtype=np.float32) + 0.5) / n
    centre_v = 0.5 + 0.03 * smooth_1d(rng, n, [3, 7], [1.0, 0.4])
    half_width = 0.19 - 0.04 * u + 0.01 * smooth_1d(rng, n, [4, 9], [1.0, 0.5])
    coast = 0.012 * smooth_2d(rng, n, [10, 30, 80], [1.0, 0.5, 0.25])
    v = (np.arange(n, dtype=np.float32) + 0.5)[:, None] / n
    cross = (v - centre_v[None, :] + coast) / half_width[None, :]
    topo = smooth_2d(rng, n, [6, 16, 48], [1.0, 0.6, 0.3])
    texture = 0.7 * smooth_2d(rng, n, [40, 120], [1.0, 0.6]) + 0.3 * rng.standard_normal((n, n), np.float32)
    wiggle = 120.0 * smooth_1d(rng, n, [4, 12], [1.0, 0.5])
    cross = cross.astype(np.float32)
    return Geography(n, centre_v, half_width, cross, topo, texture.astype(np.float32), wiggle)


@dataclass(frozen=True)
class SceneLayers:
    """Per-date layers on the 10 m grid; :meth:`at` samples them on a coarser grid (block centre)."""

    cls: np.ndarray  # uint8 surface class (see _bands)
    plume: np.ndarray  # float32 turbid-plume weight (0 outside water)
    texture: np.ndarray  # float32
    cloud: np.ndarray  # float32 opacity 0..1 (0 = no cloud)
    cirrus: np.ndarray  # float32 0..1
    shadow: np.ndarray  # float32 0..1, 0 where cloud
    valid: np.ndarray  # bool data mask

    def at(self, factor: int) -> SceneLayers:
        """The layers subsampled every ``factor`` pixels (factor 1 returns self)."""
        if factor == 1:
            return self
        return self.sample(factor // 2, factor, -(-(self.cls.shape[0] - factor // 2) // factor))

    def sample(self, start: int, step: int, count: int) -> SceneLayers:
        """Nearest-neighbour samples: pixels ``start + step * k`` for ``k < count`` on both axes."""
        sl = slice(start, start + step * count, step)
        return SceneLayers(*(getattr(self, f)[sl, sl] for f in self.__dataclass_fields__))

    def with_valid(self, valid: np.ndarray) -> SceneLayers:
        """A copy whose data mask is ``valid`` and whose class is NODATA outside it."""
        cls = self.cls.copy()
        cls[~valid] = B.NODATA
        return replace(self, cls=cls, valid=valid)


def front_u(geo: Geography, plan: ScenePlan, rng: np.random.Generator) -> np.ndarray:
    """Front position (scene fraction u) per row for one date: mean retreat plus static and dated wiggle."""
    dated = 50.0 * smooth_1d(rng, geo.n, [6, 14], [1.0, 0.5])
    return (plan.front_u + (geo.front_wiggle_m + dated) / (geo.n * PIXEL_M)).astype(np.float32)


def _quantile(a: np.ndarray, q: float, where: np.ndarray | None = None) -> float:
    """Quantile on a strided subsample (fast and deterministic), optionally of masked pixels only."""
    step = max(1, a.shape[0] // 400)
    sub = a[::step, ::step]
    if where is not None:
        sub = sub[where[::step, ::step]]
    return float(np.quantile(sub, q)) if sub.size else float("inf")


def surface_classes(geo: Geography, plan: ScenePlan, fu: np.ndarray, rng: np.random.Generator):
    """Surface class map and plume weight of one date.

    Returns:
        (cls uint8 (n, n), plume float32 (n, n)).
    """
    n = geo.n
    u = (np.arange(n, dtype=np.float32) + 0.5)[None, :] / n
    valley = np.abs(geo.cross) < 1.0
    glacier = valley & (u >= fu[:, None])
    water = valley & ~glacier
    cls = np.full((n, n), B.ROCK, dtype=np.uint8)
    score = geo.topo + 1.5 * np.clip(np.abs(geo.cross) - 1.0, 0.0, None)
    cls[~valley & (score > _quantile(score, 1.0 - plan.rock_snow_fraction, ~valley))] = B.ROCK_SNOW
    cls[glacier] = B.ICE
    moraine = np.zeros_like(glacier)
    for m in MORAINES:
        moraine |= np.abs(geo.cross - m) < 0.035
    cls[glacier & moraine] = B.DIRTY_ICE
    snowline = plan.snowline_u + 0.03 * geo.topo
    cls[glacier & (u > snowline)] = B.FIRN
    dist_m = np.clip(fu[:, None] - u, 0.0, None) * (n * PIXEL_M)
    cls[water] = B.WATER
    berg_p = 0.45 * np.exp(-dist_m / 350.0) + 0.004
    cls[water & (blocky_uniform(rng, n, 3) < berg_p)] = B.BERG
    efold = min(2500.0, 0.15 * n * PIXEL_M)
    plume_noise = 0.6 + 0.25 * smooth_2d(rng, n, [6, 18], [1.0, 0.5])
    plume = np.where(cls == B.WATER, np.clip(np.exp(-dist_m / efold) * plume_noise, 0.0, 1.0), 0.0)
    return cls, plume.astype(np.float32)


def valid_mask(n: int, corner: int) -> np.ndarray:
    """Data mask: everything, or all but a swath-edge triangle cut off one corner (0 NW .. 3 SW)."""
    if corner < 0:
        return np.ones((n, n), dtype=bool)
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    uu = c[None, :] if corner in (1, 2) else 1.0 - c[None, :]
    vv = c[:, None] if corner in (2, 3) else 1.0 - c[:, None]
    return (uu + vv) <= 1.62


def _opacity(field: np.ndarray, thr: float, ramp: float) -> np.ndarray:
    return np.clip((field - thr) / ramp, 0.0, 1.0).astype(np.float32)


def _aoi_slice(n: int) -> tuple[slice, slice]:
    u0, v0, u1, v1 = AOI_BOX
    return slice(int(v0 * n), int(v1 * n)), slice(int(u0 * n), int(u1 * n))


def clouds(n: int, plan: ScenePlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cloud opacity, thin cirrus and cloud shadow layers of one date."""
    field = smooth_2d(rng, n, [4, 8, 16, 40], [1.0, 0.6, 0.35, 0.15])
    thr = _quantile(field, 1.0 - plan.cloud_target)
    if plan.overcast:
        thr = min(thr, _quantile(field[_aoi_slice(n)], 0.08))
    cloud = _opacity(field, thr, 0.6)
    cirrus_field = smooth_2d(rng, n, [3, 6, 12], [1.0, 0.5, 0.25])
    if plan.cirrus_target > 0:
        cirrus = 0.8 * _opacity(cirrus_field, _quantile(cirrus_field, 1.0 - plan.cirrus_target), 1.0)
    else:
        cirrus = np.zeros((n, n), dtype=np.float32)
    length = min(CLOUD_HEIGHT_M * np.tan(np.radians(plan.sun_zenith)), 0.12 * n * PIXEL_M)
    az = np.radians(plan.sun_azimuth + 180.0)
    drow, dcol = int(round(-np.cos(az) * length / PIXEL_M)), int(round(np.sin(az) * length / PIXEL_M))
    shadow = _shift(cloud, drow, dcol)
    shadow[cloud > 0] = 0.0
    return cloud, cirrus.astype(np.float32), shadow


def _shift(a: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """``a`` moved by (drow, dcol) pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape
    rs, rd = (slice(0, h - drow), slice(drow, h)) if drow >= 0 else (slice(-drow, h), slice(0, h + drow))
    cs, cd = (slice(0, w - dcol), slice(dcol, w)) if dcol >= 0 else (slice(-dcol, w), slice(0, w + dcol))
    out[rd, cd] = a[rs, cs]
    return out


def scene_layers(
    geo: Geography, plan: ScenePlan, seed: int, swath_edge: bool = True, mirror: bool = False
) -> tuple[SceneLayers, np.ndarray]:
    """All 10 m layers of one date and its front position per row.

    Args:
        geo: static landscape.
        plan: the date's plan.
        seed: archive seed.
        swath_edge: cut the Sentinel-2 swath-edge nodata corner of the plan (False: the whole scene is
            valid, as the other sensors see it; everything else is identical).
        mirror: flip the surface (classes, plume) west-east, for a glacier whose sea lies east of the
            front; clouds, shadows and the swath edge are not flipped.

    Returns:
        (layers, front u per row in the flow frame: sea west of it; the map u is ``1 - u`` when mirrored).
    """
    rng = np.random.default_rng([seed, 1, plan.index])
    fu = front_u(geo, plan, rng)
    cls, plume = surface_classes(geo, plan, fu, rng)
    if mirror:
        cls, plume = np.ascontiguousarray(cls[:, ::-1]), np.ascontiguousarray(plume[:, ::-1])
    valid = valid_mask(geo.n, plan.nodata_corner if swath_edge else -1)
    cls[~valid] = B.NODATA
    cloud, cirrus, shadow = clouds(geo.n, plan, rng)
    return SceneLayers(cls, plume, geo.texture, cloud, cirrus, shadow, valid), fu


def band_reflectance(layers: SceneLayers, band: int, rng: np.random.Generator) -> np.ndarray:
    """Top-of-canopy (BOA) reflectance of one band on the layers' grid, float32.

    Args:
        layers: layers already sampled at the band's resolution.
        band: index into ``BANDS``.
        rng: generator for the per-band sensor noise.

    Returns:
        Reflectance; clear pixels carry exactly the class spectrum times texture.
    """
    rho = B.SPECTRA[layers.cls, band] + layers.plume * B.TURBID_DELTA[band]
    noise = rng.standard_normal(layers.cls.shape, dtype=np.float32)
    rho *= 1.0 + 0.03 * layers.texture + 0.015 * noise
    rho = rho * (1.0 - layers.cloud) + layers.cloud * B.CLOUD[band] * (1.0 + 0.04 * layers.texture)
    rho += layers.cirrus * B.CIRRUS[band]
    rho *= 1.0 - 0.6 * layers.shadow
    return np.clip(rho, 0.0001, 1.5)


def scl(layers: SceneLayers) -> np.ndarray:
    """Sen2Cor-like scene classification consistent with the synthesized layers (uint8)."""
    out = SCL_OF_CLASS[layers.cls]
    clear_of_cloud = layers.cloud <= 0
    out[(layers.shadow > 0) & clear_of_cloud] = 3
    out[(layers.cirrus > 0) & clear_of_cloud] = 10
    out[layers.cloud > 0] = 8
    out[layers.cloud >= 0.5] = 9
    out[~layers.valid] = 0
    return out


def zones(layers: SceneLayers) -> np.ndarray:
    """Truth zone mask (0 NA, 1 rock, 2 glacier, 3 ocean), uint8."""
    return ZONE_OF_CLASS[layers.cls]


def aoi_cloud_fraction(scl20: np.ndarray) -> float:
    """Fraction of valid AOI pixels flagged cloud (SCL 8, 9, 10)."""
    sub = scl20[_aoi_slice(scl20.shape[0])]
    valid = sub > 0
    return float(np.isin(sub, CLOUD_SCL)[valid].mean()) if valid.any() else 0.0
