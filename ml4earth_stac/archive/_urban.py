"""Per-date synthesis of the city scenes: Sentinel-2 L2A reflectance and SCL, Sentinel-1 RTC gamma0.

The layout (:mod:`._cities`) and canopy (:mod:`._canopy`) are evaluated once on a 2 m sub-grid and counted
into material fractions per 10 m pixel (:func:`city_pixels`). Each date mixes the material spectra of
SENSORS.md 5 (interpolated to the 12 L2A bands) by area, with seasonal grass greenness and tree leaf
(:func:`date_spectra`), a static brightness texture, cumulus clouds with their shadows on some dates, and
averages the 10 m mix to 20 and 60 m. Sentinel-1 mixes the per-material gamma0 of SENSORS.md 3.3 in linear
power (never in dB), with per-block double-bounce brightness, bright point targets and speckle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from ml4earth_stac.archive import _cities as C
from ml4earth_stac.archive._bands import BAND_INDEX, BANDS, CLOUD
from ml4earth_stac.archive._city_dates import CityDate
from ml4earth_stac.archive._noise import smooth_2d
from ml4earth_stac.archive._sentinel1 import LOOKS, NODATA, POLARIZATIONS, swath_mask
from ml4earth_stac.archive._spec import PIXEL_M, ScenePlan

SUB: Final = int(PIXEL_M / C.SUB_M)  # sub-grid cells per 10 m pixel side
SUB_CELLS: Final = SUB * SUB
STRIP_PX: Final = 60  # 10 m rows synthesized at a time on the sub-grid
# Centre wavelengths (um) of the six band groups of SENSORS.md 5: B02, B03, B04, B08, B11, B12.
GROUP_WAVELENGTHS: Final = (0.490, 0.560, 0.665, 0.842, 1.610, 2.190)
# BOA reflectance per material in those groups, from the SENSORS.md 5 row named in each comment.
GROUP_SPECTRA: Final = np.array(
    [
        [0.20, 0.20, 0.20, 0.20, 0.20, 0.20],  # none (filler, never used)
        [0.046, 0.051, 0.057, 0.075, 0.121, 0.106],  # asphalt: "Asphalt (fresh)"
        [0.084, 0.095, 0.102, 0.107, 0.140, 0.138],  # aged street: "Road (aged, mixed)"
        [0.207, 0.252, 0.279, 0.308, 0.397, 0.421],  # sidewalk: "Concrete sidewalk"
        [0.207, 0.252, 0.279, 0.308, 0.397, 0.421],  # flat concrete roof: "Concrete sidewalk" (proxy)
        [0.055, 0.090, 0.196, 0.250, 0.538, 0.579],  # "Red ceramic roof tile"
        [0.189, 0.222, 0.200, 0.197, 0.270, 0.250],  # "Metal roof"
        [0.038, 0.078, 0.038, 0.390, 0.180, 0.075],  # "Grass / pasture (PROSAIL LAI 1-3)", mid-range
        [0.031, 0.070, 0.026, 0.468, 0.158, 0.047],  # "Tree canopy (PROSAIL LAI >= 3)", mid-range
        [0.050, 0.070, 0.050, 0.020, 0.008, 0.005],  # river/lake: between "Open sea water" and "Turbid fjord"
        [0.118, 0.183, 0.280, 0.358, 0.479, 0.430],  # "Bare soil (proxy)"
        [0.207, 0.252, 0.279, 0.308, 0.397, 0.421],  # paved yard: "Concrete sidewalk"
    ],
    dtype=np.float64,
)
NPV_GROUPS: Final = (0.080, 0.120, 0.177, 0.255, 0.405, 0.283)  # "Dry grass / litter (NPV)"
RED_EDGE: Final = (0.720, 0.012)  # um: centre and width of the logistic red-edge step from red to NIR
B09_VAPOUR_FACTOR: Final = 0.9  # B09 sits in a water-vapour band: BOA a little below the NIR trend (assumed)
# gamma0 (dB) VV, VH per material, from the SENSORS.md 3.3 row named in each comment.
BACKSCATTER_DB: Final = np.array(
    [
        [-30.0, -30.0],  # none
        [-17.0, -25.0],  # asphalt: specular, darker than "Grass / pasture" (roads dark)
        [-16.0, -24.0],  # aged street
        [-14.0, -21.0],  # sidewalk
        [3.0, -8.5],  # concrete roof: "Urban (built-up)" -5..+5 / -15..-8 (double bounce)
        [3.0, -8.5],  # tile roof: same row
        [4.0, -8.0],  # metal roof: same row, upper end
        [-11.5, -18.5],  # "Grass / pasture" -13..-8 / -20..-15
        [-7.0, -13.0],  # "Forest / tree canopy" -9..-6 / -15..-11
        [-21.0, -27.0],  # "Calm open water / fjord" -25..-18 / -30..-24
        [-10.0, -17.0],  # bare soil: "Bare rock / scree" -12..-6 / -20..-14 (proxy)
        [-14.0, -21.0],  # paved yard
    ],
    dtype=np.float32,
)
BUILT: Final = (C.M_CONCRETE, C.M_TILE, C.M_METAL)
POINT_TARGET_DB: Final = 10.0  # "Urban (built-up)": individual double-bounce targets > +10 dB
POINT_TARGET_SHARE: Final = 0.03  # of the pixels that are at least 30 % buildings
# Truth classes of the 10 m class map: 0 nodata, 1 built, 2 road, 3 grass, 4 tree, 5 water, 6 bare soil.
CLASS_NAMES: Final = ("nodata", "built", "road", "grass", "tree", "water", "bare soil")
CLASS_TREE: Final = 4
CLASS_OF_MATERIAL: Final = np.array([0, 2, 2, 2, 1, 1, 1, 3, 4, 5, 6, 1], dtype=np.uint8)
CUMULUS_BASE_M: Final = 1500.0


def _to_l2a_bands(groups: np.ndarray) -> np.ndarray:
    """Spectra in the six SENSORS.md 5 band groups -> the 12 L2A bands in BANDS order."""
    b02, b03, b04, b08, b11, _ = (groups[..., i] for i in range(6))
    out = np.empty((*groups.shape[:-1], len(BANDS)))
    for name, col in zip(("B02", "B03", "B04", "B08", "B11", "B12"), range(6), strict=True):
        out[..., BAND_INDEX[name]] = groups[..., col]
    out[..., BAND_INDEX["B01"]] = np.maximum(0.5 * b02, b02 - 0.67 * (b03 - b02))  # blue trend continued
    for name in ("B05", "B06", "B07"):
        w = 1.0 / (1.0 + math.exp(-(BANDS[BAND_INDEX[name]].center - RED_EDGE[0]) / RED_EDGE[1]))
        out[..., BAND_INDEX[name]] = b04 + w * (b08 - b04)
    for name, factor in (("B8A", 1.0), ("B09", B09_VAPOUR_FACTOR)):
        w = (BANDS[BAND_INDEX[name]].center - GROUP_WAVELENGTHS[3]) / (
            GROUP_WAVELENGTHS[4] - GROUP_WAVELENGTHS[3]
        )
        out[..., BAND_INDEX[name]] = factor * (b08 + w * (b11 - b08))
    return out.astype(np.float32)


MATERIAL_SPECTRA: Final = _to_l2a_bands(GROUP_SPECTRA)
NPV_SPECTRUM: Final = _to_l2a_bands(np.array(NPV_GROUPS))


@dataclass(frozen=True)
class CityPixels:
    """Static 10 m layers of a city scene derived from its layout and canopy."""

    counts: np.ndarray  # (N_MATERIALS, n, n) uint8: sub-grid cells of each material per pixel (of SUB_CELLS)
    classes: np.ndarray  # (n, n) uint8 truth class map
    texture: np.ndarray  # (n, n) float32 brightness texture, zero mean, unit std
    built_db: np.ndarray  # (n, n) float32 gamma0 offset of the buildings (block orientation, point targets)


def _strip_materials(lay: C.UrbanLayout, canopy: np.ndarray, tree: shapely.STRtree, r0: int, r1: int):
    """Material of every 2 m sub-cell of 10 m rows ``r0 .. r1``, canopy burned on top."""
    g = lay.grid
    east = g.x0 + (np.arange(g.size_px * SUB) + 0.5) * C.SUB_M - lay.origin[0]
    north = g.y0 - (np.arange(r0 * SUB, r1 * SUB) + 0.5) * C.SUB_M - lay.origin[1]
    _, mat = C.surface_at(lay, east[None, :], north[:, None])
    top = g.y0 - r0 * PIXEL_M
    hits = tree.query(shapely.box(g.x0, g.y0 - r1 * PIXEL_M, g.x0 + g.size_m, top))
    if hits.size:
        transform = Affine(C.SUB_M, 0.0, g.x0, 0.0, -C.SUB_M, top)
        burned = rasterize(canopy[hits], out_shape=mat.shape, transform=transform, fill=0, dtype="uint8")
        mat[burned > 0] = C.M_TREE
    return mat


def class_map(counts: np.ndarray) -> np.ndarray:
    """Truth classes: tree where canopy covers more than half the pixel, else the largest other class."""
    per_class = np.zeros((len(CLASS_NAMES), *counts.shape[1:]), dtype=np.int16)
    for material, cls in enumerate(CLASS_OF_MATERIAL):
        per_class[cls] += counts[material]
    per_class[[0, CLASS_TREE]] = -1
    out = np.argmax(per_class, axis=0).astype(np.uint8)
    out[2 * counts[C.M_TREE].astype(np.int16) > SUB_CELLS] = CLASS_TREE
    return out


def city_pixels(lay: C.UrbanLayout, canopy: np.ndarray) -> CityPixels:
    """Evaluate layout and canopy on the 2 m sub-grid, strip by strip, into static 10 m layers.

    Args:
        lay: the city layout.
        canopy: the canopy polygons (:func:`_canopy.plant_canopy`).

    Returns:
        Material counts, class map, texture and building backscatter offsets.
    """
    n = lay.grid.size_px
    tree = shapely.STRtree(canopy)
    strips = []
    for r0 in range(0, n, STRIP_PX):
        mat = _strip_materials(lay, canopy, tree, r0, min(r0 + STRIP_PX, n)).reshape(-1, SUB, n, SUB)
        strips.append(np.stack([(mat == m).sum(axis=(1, 3), dtype=np.uint8) for m in range(C.N_MATERIALS)]))
    counts = np.concatenate(strips, axis=1)
    rng = np.random.default_rng([lay.seed, 30])
    texture = 0.7 * smooth_2d(rng, n, [max(4, n // 20), max(8, n // 6)], [1.0, 0.6])
    texture += 0.3 * rng.standard_normal((n, n), dtype=np.float32)
    centres = (np.arange(n) + 0.5) * PIXEL_M
    x, y = np.meshgrid(lay.grid.x0 + centres - lay.origin[0], lay.grid.y0 - centres - lay.origin[1])
    built_db = C.block_offsets_db(lay, x, y)
    built = counts[list(BUILT)].sum(axis=0)
    built_db[(rng.random((n, n)) < POINT_TARGET_SHARE) & (built * 10 >= 3 * SUB_CELLS)] += POINT_TARGET_DB
    return CityPixels(counts, class_map(counts), texture.astype(np.float32), built_db)


def date_spectra(date: CityDate) -> np.ndarray:
    """(N_MATERIALS, 12) spectra of a date: grass mixed with dry litter, trees with bare branches (NPV)."""
    spectra = MATERIAL_SPECTRA.copy()
    spectra[C.M_GRASS] = date.greenness * spectra[C.M_GRASS] + (1.0 - date.greenness) * NPV_SPECTRUM
    spectra[C.M_TREE] = date.leaf * spectra[C.M_TREE] + (1.0 - date.leaf) * NPV_SPECTRUM
    return spectra


@dataclass(frozen=True)
class Sky:
    """Cumulus opacity (0..1) and cloud-shadow strength (0..1, 0 under clouds) on the 10 m grid."""

    cloud: np.ndarray
    shadow: np.ndarray


def _shift(a: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    out = np.zeros_like(a)
    h, w = a.shape
    src_r, dst_r = slice(max(0, -drow), min(h, h - drow)), slice(max(0, drow), min(h, h + drow))
    src_c, dst_c = slice(max(0, -dcol), min(w, w - dcol)), slice(max(0, dcol), min(w, w + dcol))
    out[dst_r, dst_c] = a[src_r, src_c]
    return out


def sky(n: int, plan: ScenePlan, seed: int) -> Sky:
    """Cumulus clouds covering about ``plan.cloud_target`` and their shadows, cast away from the sun."""
    if plan.cloud_target <= 0.0:
        return Sky(np.zeros((n, n), np.float32), np.zeros((n, n), np.float32))
    rng = np.random.default_rng([seed, 61, plan.index])
    field = smooth_2d(rng, n, [max(4, n // 40), max(8, n // 12)], [1.0, 0.7])
    threshold = float(np.quantile(field, 1.0 - plan.cloud_target))
    cloud = np.clip((field - threshold) / 0.5, 0.0, 1.0).astype(np.float32)
    length = min(CUMULUS_BASE_M * math.tan(math.radians(plan.sun_zenith)), 0.12 * n * PIXEL_M)
    az = math.radians(plan.sun_azimuth)
    shadow = _shift(cloud, round(math.cos(az) * length / PIXEL_M), round(-math.sin(az) * length / PIXEL_M))
    shadow[cloud > 0] = 0.0
    return Sky(cloud, shadow)


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    n = a.shape[0] // f
    return a if f == 1 else a.reshape(n, f, n, f).mean(axis=(1, 3), dtype=np.float32)


def clear_mix(px: CityPixels, spectra: np.ndarray, band: int) -> np.ndarray:
    """Area-weighted clear-sky reflectance of one band at 10 m (no texture, clouds or noise)."""
    rho = np.zeros(px.counts.shape[1:], dtype=np.float32)
    for material in range(C.N_MATERIALS):
        rho += px.counts[material] * np.float32(spectra[material, band] / SUB_CELLS)
    return rho


def band_reflectance(
    px: CityPixels, spectra: np.ndarray, sky_: Sky, band: int, rng: np.random.Generator
) -> np.ndarray:
    """BOA reflectance of one band at its native GSD (10 m mix averaged to 20/60 m), float32.

    Args:
        px: the static 10 m layers.
        spectra: the date's material spectra (:func:`date_spectra`).
        sky_: the date's clouds and shadows.
        band: index into ``BANDS``.
        rng: generator of the per-band sensor noise.
    """
    rho = clear_mix(px, spectra, band) * (1.0 + 0.03 * px.texture)
    rho = rho * (1.0 - sky_.cloud) + sky_.cloud * CLOUD[band] * (1.0 + 0.04 * px.texture)
    rho = _block_mean(rho * (1.0 - 0.6 * sky_.shadow), BANDS[band].gsd // 10)
    rho *= 1.0 + 0.01 * rng.standard_normal(rho.shape, dtype=np.float32)
    return np.clip(rho, 0.0001, 1.5)


def scl(px: CityPixels, spectra: np.ndarray, sky_: Sky) -> np.ndarray:
    """Sen2Cor-like 20 m scene classification: 4 vegetation, 5 not vegetated, 6 water, 3/8/9 shadow/cloud."""
    red = _block_mean(clear_mix(px, spectra, BAND_INDEX["B04"]), 2)
    nir = _block_mean(clear_mix(px, spectra, BAND_INDEX["B08"]), 2)
    water = _block_mean(px.counts[C.M_WATER].astype(np.float32), 2) * 2 >= SUB_CELLS
    out = np.where(water, 6, np.where((nir - red) > 0.4 * (nir + red), 4, 5)).astype(np.uint8)
    cloud, shadow = _block_mean(sky_.cloud, 2), _block_mean(sky_.shadow, 2)
    out[(shadow > 0.25) & (cloud <= 0.0)] = 3
    out[cloud > 0.05] = 8
    out[cloud >= 0.5] = 9
    return out


def gamma0(px: CityPixels, date: CityDate, seed: int) -> dict[str, np.ndarray]:
    """Linear gamma0 ``vv`` and ``vh`` (float32, -32768 outside the swath) mixed in linear power, speckled."""
    rng = np.random.default_rng([seed, 62, date.s2.index])
    n = px.counts.shape[1]
    inside = swath_mask(n, date.s1)
    offsets = np.zeros(C.N_MATERIALS, dtype=np.float32)
    offsets[[C.M_GRASS, C.M_SOIL, C.M_WATER]] = date.wet_db
    out = {}
    for pol, key in enumerate(POLARIZATIONS):
        power = 10.0 ** ((BACKSCATTER_DB[:, pol] + offsets) / 10.0)
        linear = np.zeros((n, n), dtype=np.float32)
        for material in range(C.N_MATERIALS):
            if material in BUILT:
                weight = 10.0 ** ((BACKSCATTER_DB[material, pol] + px.built_db) / np.float32(10.0))
            else:
                weight = np.float32(power[material])
            linear += px.counts[material] * (weight / np.float32(SUB_CELLS))
        linear *= rng.gamma(LOOKS, 1.0 / LOOKS, size=(n, n)).astype(np.float32)
        linear[~inside] = NODATA
        out[key] = linear
    return out
