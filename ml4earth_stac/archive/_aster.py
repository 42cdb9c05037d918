"""ASTER L1T scenes (PC ``aster-l1t``) showing the truth of the Sentinel-2 dates: plan and rasters.

One Terra ASTER acquisition per Sentinel-2 date, the same day. Terra and Sentinel-2 both fly sun-synchronous
orbits with a 10:30 descending node (Terra's has drifted earlier since 2020), so at 79 N both pass at about
the same time of day (early afternoon local solar time, not 10:30, that far north): the ASTER time is the
Sentinel-2 time minus 45 to plus 15 minutes.

Grids: as in real L1T files (all reference items), the three subsystems share one upper-left corner on the
90 m lattice of the UTM zone, with exact 15 / 30 / 90 m pixels (PC's ``proj:transform`` shows 14.997 m,
derived from its bbox; we keep the exact sizes). The raster covers the scene grid snapped outward to that
lattice plus a seeded frame of 1-3 TIR pixels of nodata (0) on each side, the way an L1T scene is larger
than a Sentinel-2 crop. The 15 m pitch is not a multiple of 10 m, so every other VNIR pixel edge falls
between two 10 m edges: VNIR can only be put on the Sentinel-2 grid by resampling.

Radiometry (SENSORS.md 4.2): the 10 m surface reflectance of the date (``_scene.band_reflectance`` of the
Sentinel-2 band nearest in wavelength, clouds included) is area-averaged onto the 15 / 30 m grid and, a
deliberate simplification, taken as TOA reflectance (no atmosphere); then ``L = rho ESUN cos(zenith) /
(pi d^2)`` and ``DN = round(L / UCC(band, gain)) + 1`` clipped to 1..255, 0 = nodata. From 2008-04-23 on
the SWIR bands get the failed-detector look: the nominal DN plus a large dark-signal offset with detector
striping, mostly saturated at 255. TIR: Planck radiance of the class brightness temperature (emissivity 1)
at each band centre, area-averaged onto 90 m, ``DN = round(L / UCC) + 1`` in uint16, plus NEdT noise.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._glaciers import GlacierSite
from ml4earth_stac.archive._grid import SceneGrid
from ml4earth_stac.archive._landsat import CLOUD_TEMPERATURE_K, SURFACE_TEMPERATURE_K
from ml4earth_stac.archive._spec import PIXEL_M, ArchiveSpec, ScenePlan, sun_angles
from ml4earth_stac.sensors import aster
from ml4earth_stac.sensors.aster import Gain, Subsystem

ASTER_DOI: Final = "10.5067/ASTER/AST_L1T.003"
# Random streams (second seed word) of the ASTER plan and rasters; other sensors use 0-21.
PLAN_STREAM, REFLECTANCE_STREAM, SWIR_STREAM, TIR_STREAM = 30, 31, 32, 33
S2_SOURCE_BAND: Final[Mapping[str, str]] = MappingProxyType(
    {"B01": "B03", "B02": "B04", "B3N": "B8A", "B04": "B11"}
    | {name: "B12" for name in ("B05", "B06", "B07", "B08", "B09")}
)
"""Sentinel-2 band whose 10 m reflectance each reflective ASTER band shows (nearest in wavelength)."""
VNIR_GAIN_CHOICES: Final[tuple[Gain, ...]] = ("NOR", "LO1")  # HGH would saturate over snow
SWIR_GAIN: Final[Gain] = "NOR"
GSD_M: Final[Mapping[str, int]] = MappingProxyType({"VNIR": 15, "SWIR": 30, "TIR": 90})
LATTICE_M: Final = 90
FRAME_TIR_PX: Final = (1, 4)  # nodata frame per side, in TIR pixels: integers in [1, 4)
TIME_OFFSET_MIN: Final = (-45, 15)
PRODUCTION_DELAY_DAYS: Final = (1, 21)
PROCESSING_NUMBERS: Final = (60000, 140000)
MAX_POINTING_DEG: Final = 8.55  # SWIR/TIR cross-track pointing limit
# Failed SWIR (SENSORS.md 4.1, from 2008-04-23): dark-signal offset, detector striping and noise, in DN.
SWIR_FAIL_OFFSET_DN: Final = 262.0
SWIR_STRIPE_DN: Final = 6.0
SWIR_DARK_DETECTORS: Final = 0.08  # fraction of detectors reading SWIR_DARK_DN lower
SWIR_DARK_DN: Final = (25.0, 80.0)
SWIR_NOISE_DN: Final = 3.0
SWIR_STRIPE_SLOPE: Final = 0.12  # stripes follow the flight direction, slanted in the north-up grid
TIR_NEDT_K: Final = 0.3
PLANCK_C1: Final = 1.191042e8  # W m-2 sr-1 um^4 (2 h c^2)
PLANCK_C2: Final = 1.4387752e4  # um K (h c / k)


@dataclass(frozen=True)
class AsterPlan:
    """One ASTER L1T acquisition and the Sentinel-2 date whose truth it shows.

    Attributes:
        index: index of the Sentinel-2 date.
        sensing_time: acquisition time (naive UTC, millisecond precision).
        production_time: L1T production time (the second time in the id).
        processing_number: LP DAAC processing number (file name suffix, ``aster:processing_number``).
        db_id: ECS granule database id (``GranuleUR``, ``DbID`` in the XML).
        vnir_gains: gains of bands 1, 2, 3N (``NOR`` or ``LO1``); SWIR is ``NOR``, TIR has one gain.
        sun_elevation: degrees, rounded to 6 decimals as written in the item and XML.
        sun_azimuth: degrees, rounded to 6 decimals.
        pointing_deg: signed cross-track pointing angles of VNIR, SWIR and TIR (degrees).
        frame_px: nodata frame widths (west, north, east, south) in TIR pixels.
        epsg: UTM EPSG code of the glacier's scenes.
        truth_item_id: the Sentinel-2 item of the same date.
    """

    index: int
    sensing_time: dt.datetime
    production_time: dt.datetime
    processing_number: str
    db_id: int
    vnir_gains: tuple[Gain, Gain, Gain]
    sun_elevation: float
    sun_azimuth: float
    pointing_deg: tuple[float, float, float]
    frame_px: tuple[int, int, int, int]
    epsg: int
    truth_item_id: str

    @property
    def item_id(self) -> str:
        """PC id ``AST_L1T_003<MMDDYYYYHHMMSS>_<production YYYYMMDDHHMMSS>``."""
        return f"AST_L1T_003{self.sensing_time:%m%d%Y%H%M%S}_{self.production_time:%Y%m%d%H%M%S}"

    @property
    def file_stem(self) -> str:
        """Stem of the scene's files (``<item_id>_<processing number>``), as LP DAAC names them."""
        return f"{self.item_id}_{self.processing_number}"

    @property
    def gains(self) -> dict[str, Gain]:
        """Gain of every reflective band, ``{"B01": "LO1", ..., "B09": "NOR"}`` (the XML ``ASTERGains``)."""
        return dict(zip(("B01", "B02", "B3N"), self.vnir_gains, strict=True)) | dict.fromkeys(
            aster.SWIR_BANDS, SWIR_GAIN
        )

    @property
    def swir_failed(self) -> bool:
        """Acquired on or after 2008-04-23: SWIR saturated and striped."""
        return not aster.swir_usable(self.sensing_time)


@dataclass(frozen=True)
class AsterGrid:
    """The L1T raster extent shared by VNIR, SWIR and TIR: upper-left corner and size in TIR pixels."""

    x0: float
    y0: float
    cols_tir: int
    rows_tir: int
    epsg: int

    def shape(self, res: int) -> tuple[int, int]:
        """(rows, cols) at ``res`` metres (15, 30 or 90)."""
        k = LATTICE_M // res
        return (self.rows_tir * k, self.cols_tir * k)

    def transform(self, res: int) -> list[float]:
        """The first 6 affine coefficients at ``res`` metres."""
        return [float(res), 0.0, self.x0, 0.0, -float(res), self.y0]

    @property
    def bbox(self) -> list[float]:
        """``proj:bbox`` [xmin, ymin, xmax, ymax] (the same for the three subsystems)."""
        return [self.x0, self.y0 - self.rows_tir * LATTICE_M, self.x0 + self.cols_tir * LATTICE_M, self.y0]


def aster_grid(grid: SceneGrid, plan: AsterPlan) -> AsterGrid:
    """The L1T grid: the scene grid's bbox snapped outward to the 90 m lattice, plus the plan's frame."""
    xmin, ymin, xmax, ymax = grid.bbox
    west, north, east, south = plan.frame_px
    x0 = (math.floor(xmin / LATTICE_M) - west) * LATTICE_M
    y0 = (math.ceil(ymax / LATTICE_M) + north) * LATTICE_M
    x1 = (math.ceil(xmax / LATTICE_M) + east) * LATTICE_M
    y1 = (math.floor(ymin / LATTICE_M) - south) * LATTICE_M
    return AsterGrid(float(x0), float(y0), (x1 - x0) // LATTICE_M, (y0 - y1) // LATTICE_M, grid.epsg)


def plan_aster(spec: ArchiveSpec, plans: tuple[ScenePlan, ...], site: GlacierSite) -> tuple[AsterPlan, ...]:
    """One ASTER L1T acquisition per Sentinel-2 date, the same day.

    Args:
        spec: the archive spec (seed).
        plans: the Sentinel-2 plans of the glacier.
        site: the glacier (UTM zone, sun position, its own random stream).

    Returns:
        ASTER plans in the same order.
    """
    words = [spec.seed, PLAN_STREAM] if site.key == 0 else [spec.seed, PLAN_STREAM, 100 + site.key]
    rng = np.random.default_rng(words)
    return tuple(_draw_plan(rng, plan, site) for plan in plans)


def _draw_plan(rng: np.random.Generator, plan: ScenePlan, site: GlacierSite) -> AsterPlan:
    """The ASTER acquisition of one Sentinel-2 date (draws from ``rng`` in a fixed order)."""
    t = plan.sensing_time + dt.timedelta(
        minutes=int(rng.integers(*TIME_OFFSET_MIN)), milliseconds=int(rng.integers(60_000))
    )
    lon, lat = site.lon_lat
    zenith, azimuth = sun_angles(t, lat, lon)
    delay = dt.timedelta(days=int(rng.integers(*PRODUCTION_DELAY_DAYS)), seconds=int(rng.integers(86_400)))
    processing, db_id = (
        int(rng.integers(*PROCESSING_NUMBERS)),
        int(rng.integers(2_100_000_000, 2_200_000_000)),
    )
    g = [VNIR_GAIN_CHOICES[int(i)] for i in rng.integers(0, len(VNIR_GAIN_CHOICES), 3)]
    pointing = float(rng.uniform(-MAX_POINTING_DEG, MAX_POINTING_DEG))
    p = [round(pointing + float(d), 3) for d in rng.normal(0.0, 0.02, 3)]  # VNIR, SWIR, TIR
    f = [int(v) for v in rng.integers(*FRAME_TIR_PX, 4)]
    return AsterPlan(
        index=plan.index,
        sensing_time=t,
        production_time=t.replace(microsecond=0) + delay,
        processing_number=str(processing),
        db_id=db_id,
        vnir_gains=(g[0], g[1], g[2]),
        sun_elevation=round(90.0 - zenith, 6),
        sun_azimuth=round(azimuth, 6),
        pointing_deg=(p[0], p[1], p[2]),
        frame_px=(f[0], f[1], f[2], f[3]),
        epsg=site.epsg,
        truth_item_id=plan.item_id,
    )


def resample_average(data: np.ndarray, grid: SceneGrid, agrid: AsterGrid, res: int) -> np.ndarray:
    """Area-weighted average of a 10 m float32 field (NaN = no data) onto the L1T grid at ``res`` metres.

    GDAL's average also fills the L1T pixels that only touch the scene's north and west edges (from the
    edge pixels); those are set back to NaN.

    Returns:
        float32 (rows, cols); NaN where no 10 m pixel overlaps.
    """
    out = np.full(agrid.shape(res), np.nan, dtype=np.float32)
    crs = CRS.from_epsg(grid.epsg)
    reproject(
        source=data.astype(np.float32, copy=False),
        destination=out,
        src_transform=Affine(*grid.transform(int(PIXEL_M))),
        src_crs=crs,
        src_nodata=np.nan,
        dst_transform=Affine(*agrid.transform(res)),
        dst_crs=crs,
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    xmin, ymin, xmax, ymax = grid.bbox
    left = agrid.x0 + res * np.arange(out.shape[1])
    top = agrid.y0 - res * np.arange(out.shape[0])
    inside_x, inside_y = (left + res > xmin) & (left < xmax), (top - res < ymax) & (top > ymin)
    out[~(inside_y[:, None] & inside_x[None, :])] = np.nan
    return out


def reflectance_10m(layers: S.SceneLayers, plan: AsterPlan, seed: int, band_name: str) -> np.ndarray:
    """The 10 m reflectance a reflective ASTER band shows (its own seeded noise), NaN outside the data.

    Args:
        layers: the date's 10 m layers.
        plan: the ASTER plan.
        seed: the glacier's synthesis seed.
        band_name: ``B01`` .. ``B09``.
    """
    record = aster.band(band_name)
    rng = np.random.default_rng([seed, REFLECTANCE_STREAM, plan.index, aster.BANDS.index(record)])
    rho = S.band_reflectance(layers, B.BAND_INDEX[S2_SOURCE_BAND[record.name]], rng)
    return np.where(layers.valid, rho, np.float32(np.nan)).astype(np.float32)


def encode_reflective(rho: np.ndarray, band_name: str, gain: Gain, plan: AsterPlan) -> np.ndarray:
    """TOA reflectance to L1T DN: ``round(rho ESUN cos(zenith) / (pi d^2) / UCC) + 1``, 1..255, NaN -> 0."""
    d = aster.earth_sun_distance_au(plan.sensing_time)
    cos_zenith = math.sin(math.radians(plan.sun_elevation))
    radiance = rho * np.float32(aster.ESUN[band_name] * cos_zenith / (math.pi * d * d))
    dn = np.clip(np.rint(radiance / np.float32(aster.UCC[band_name][gain])) + 1.0, 1.0, 255.0)
    return np.where(np.isfinite(rho), dn, 0.0).astype(np.uint8)


def fail_swir(dn: np.ndarray, plan: AsterPlan, seed: int) -> np.ndarray:
    """Failed-detector SWIR: nominal DN plus dark-signal offset, slanted detector stripes and noise.

    Args:
        dn: nominal SWIR DN (6, rows, cols), 0 = nodata.
        plan: the ASTER plan.
        seed: the glacier's synthesis seed.

    Returns:
        uint8 (6, rows, cols), mostly saturated at 255, 0 where ``dn`` is 0.
    """
    rng = np.random.default_rng([seed, SWIR_STREAM, plan.index])
    _, rows, cols = dn.shape
    slant = SWIR_STRIPE_SLOPE * np.arange(rows, dtype=np.float32)[:, None]
    detector = (np.arange(cols, dtype=np.float32)[None, :] + slant).astype(np.int64) % cols
    out = np.empty_like(dn)
    for k, nominal in enumerate(dn):
        stripes = rng.normal(SWIR_FAIL_OFFSET_DN, SWIR_STRIPE_DN, cols)
        dark = rng.random(cols) < SWIR_DARK_DETECTORS
        stripes[dark] -= rng.uniform(*SWIR_DARK_DN, int(dark.sum()))
        level = stripes[detector] + rng.normal(0.0, SWIR_NOISE_DN, (rows, cols))
        value = np.clip(np.rint(nominal + level), 1.0, 255.0)
        out[k] = np.where(nominal == 0, 0, value).astype(np.uint8)
    return out


def planck_radiance(wavelength_um: float, temperature_k: np.ndarray | float) -> np.ndarray:
    """Blackbody spectral radiance (W m-2 sr-1 um-1) at one wavelength, float32."""
    t = np.asarray(temperature_k, dtype=np.float32)
    c1 = np.float32(PLANCK_C1 / wavelength_um**5)
    return (c1 / np.expm1(np.float32(PLANCK_C2 / wavelength_um) / t)).astype(np.float32)


def brightness_temperature_10m(layers: S.SceneLayers) -> np.ndarray:
    """Brightness temperature (K) of the surface classes (as Landsat ST) under clouds and shadow, NaN off."""
    t = SURFACE_TEMPERATURE_K[layers.cls] + 0.4 * layers.texture
    t = t * (1.0 - layers.cloud) + CLOUD_TEMPERATURE_K * layers.cloud - 1.5 * layers.shadow
    return np.where(layers.valid, t, np.float32(np.nan)).astype(np.float32)


def tir_dn(
    layers: S.SceneLayers, grid: SceneGrid, agrid: AsterGrid, plan: AsterPlan, seed: int
) -> np.ndarray:
    """TIR bands 10-14: area-averaged Planck radiance plus NEdT noise as uint16 DN (5, rows, cols), 0 off."""
    rng = np.random.default_rng([seed, TIR_STREAM, plan.index])
    temperature = brightness_temperature_10m(layers)
    out = []
    for record in aster.SUBSYSTEMS["TIR"]:
        lam = record.center_wavelength
        radiance = resample_average(planck_radiance(lam, temperature), grid, agrid, 90)
        slope = float(planck_radiance(lam, 273.5) - planck_radiance(lam, 272.5))  # per K near 273 K
        ucc = aster.UCC[record.name]["NOR"]
        noise = rng.normal(0.0, slope * TIR_NEDT_K / ucc, radiance.shape)
        dn = np.clip(np.rint(radiance / np.float32(ucc) + noise) + 1.0, 1.0, 65535.0)
        out.append(np.where(np.isfinite(radiance), dn, 0.0).astype(np.uint16))
    return np.stack(out)


def reflective_dn(
    layers: S.SceneLayers, grid: SceneGrid, agrid: AsterGrid, plan: AsterPlan, seed: int, subsystem: Subsystem
) -> np.ndarray:
    """VNIR or SWIR DN (bands, rows, cols) uint8: averaged reflectance encoded with the plan's gains."""
    res = GSD_M[subsystem]
    out = []
    for record in aster.SUBSYSTEMS[subsystem]:
        rho = resample_average(reflectance_10m(layers, plan, seed, record.name), grid, agrid, res)
        out.append(encode_reflective(rho, record.name, plan.gains[record.name], plan))
    dn = np.stack(out)
    return fail_swir(dn, plan, seed) if subsystem == "SWIR" and plan.swir_failed else dn


def aster_rasters(
    layers: S.SceneLayers, grid: SceneGrid, plan: AsterPlan, seed: int
) -> tuple[AsterGrid, dict[str, np.ndarray]]:
    """The L1T grid and the three multi-band rasters keyed by PC asset key (``VNIR``, ``SWIR``, ``TIR``).

    Args:
        layers: the date's 10 m layers (whole scene valid, as the other sensors see it).
        grid: the scene grid.
        plan: the ASTER plan.
        seed: the glacier's synthesis seed.
    """
    agrid = aster_grid(grid, plan)
    rasters = {key: reflective_dn(layers, grid, agrid, plan, seed, key) for key in ("VNIR", "SWIR")}
    rasters["TIR"] = tir_dn(layers, grid, agrid, plan, seed)
    return agrid, rasters
