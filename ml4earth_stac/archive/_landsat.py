"""Landsat Collection 2 Level-2 scenes (PC ``landsat-c2-l2``) showing the truth of the Sentinel-2 dates.

One Landsat scene per Sentinel-2 date, acquired the same day (minutes to two hours apart) with the same
classes, front and clouds, sampled on a 30 m grid in the glacier's UTM zone (EPSG:32633 for Kronebreen) whose
pixel centres lie on multiples of 30 m as in real Landsat products (so the grid is 15 m off the Sentinel-2
60 m lattice; each 30 m pixel takes the 10 m truth pixel 5 m south-east of its centre). Encodings follow
SENSORS.md 2.2-2.5: SR ``round((rho + 0.2) / 2.75e-5)``, ST ``round((T - 149) / 0.00341802)``, fill 0,
QA_PIXEL words of 2.3 (fill 1), Landsat 7 SLC-off wedge gaps after 2003-05-31.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import numpy as np

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._glaciers import KRONEBREEN, GlacierSite
from ml4earth_stac.archive._grid import SceneGrid
from ml4earth_stac.archive._spec import EPSG, ArchiveSpec, ScenePlan, sun_angles
from ml4earth_stac.sensors.landsat import (
    NODATA_DN,
    QA_FILL,
    SLC_FAILURE_DATE,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
)

PIXEL_M: Final = 30
# Encoding constants come from the sensor module, so the archive writes exactly what the loader decodes.
SR_FILL: Final = NODATA_DN
LAST_L7_YEAR: Final = 2021  # the archive gives Landsat 7 dates up to 2021 only (drifting orbit later)
WRS_PATHS: Final = KRONEBREEN.wrs_paths
WRS_ROW: Final = KRONEBREEN.wrs_row
# Whole-pixel QA_PIXEL words (SENSORS.md 2.3): OLI/TIRS, then TM/ETM+ (no cirrus bits).
QA_WORDS: Final = {
    True: {"land": 21824, "water": 21952, "snow": 30048, "shadow": 23888, "cloud": 22280},
    False: {"land": 5440, "water": 5568, "snow": 13664, "shadow": 7504, "cloud": 5896},
}
# Surface temperature (K) per synthesis class (see _bands): nodata, rock, snow on rock, ice, dirty ice, firn,
# sea water, icebergs; clouds are cold.
SURFACE_TEMPERATURE_K: Final = np.array([273.0, 280.0, 273.5, 273.0, 274.0, 272.8, 274.5, 272.5], np.float32)
CLOUD_TEMPERATURE_K: Final = 258.0
# SLC-off gap pattern, in 30 m pixels: scan period, widest gap (scene edges), gap-free centre fraction, tilt.
SLC_PERIOD_PX: Final = 17.0
SLC_MAX_GAP_PX: Final = 7.0
SLC_CENTRE_FREE: Final = 0.15
SLC_TILT: Final = 0.06


@dataclass(frozen=True)
class LandsatBand:
    """One Landsat asset as PC names it, and the Sentinel-2 band whose class spectrum it takes."""

    key: str
    s2_band: str
    eo_name: str
    center: float
    fwhm: float
    title: str
    suffix: str


OLI_BANDS: Final = (
    LandsatBand("coastal", "B01", "OLI_B1", 0.44, 0.02, "Coastal/Aerosol Band", "SR_B1"),
    LandsatBand("blue", "B02", "OLI_B2", 0.48, 0.06, "Blue Band", "SR_B2"),
    LandsatBand("green", "B03", "OLI_B3", 0.56, 0.06, "Green Band", "SR_B3"),
    LandsatBand("red", "B04", "OLI_B4", 0.65, 0.04, "Red Band", "SR_B4"),
    LandsatBand("nir08", "B8A", "OLI_B5", 0.87, 0.03, "Near Infrared Band 0.8", "SR_B5"),
    LandsatBand("swir16", "B11", "OLI_B6", 1.61, 0.09, "Short-wave Infrared Band 1.6", "SR_B6"),
    LandsatBand("swir22", "B12", "OLI_B7", 2.2, 0.19, "Short-wave Infrared Band 2.2", "SR_B7"),
)
ETM_BANDS: Final = (
    LandsatBand("blue", "B02", "ETM_B1", 0.48, 0.07, "Blue Band", "SR_B1"),
    LandsatBand("green", "B03", "ETM_B2", 0.56, 0.08, "Green Band", "SR_B2"),
    LandsatBand("red", "B04", "ETM_B3", 0.66, 0.06, "Red Band", "SR_B3"),
    LandsatBand("nir08", "B08", "ETM_B4", 0.84, 0.13, "Near Infrared Band 0.8", "SR_B4"),
    LandsatBand("swir16", "B11", "ETM_B5", 1.65, 0.2, "Short-wave Infrared Band 1.6", "SR_B5"),
    LandsatBand("swir22", "B12", "ETM_B7", 2.2, 0.28, "Short-wave Infrared Band 2.2", "SR_B7"),
)
# Thermal band: (key, eo name, centre, fwhm, native gsd, file suffix).
OLI_THERMAL: Final = ("lwir11", "TIRS_B10", 10.9, 0.59, 100, "ST_B10")
ETM_THERMAL: Final = ("lwir", "ETM_B6", 11.34, 2.05, 60, "ST_B6")


@dataclass(frozen=True)
class LandsatPlan:
    """One Landsat acquisition and the Sentinel-2 date whose truth it shows."""

    index: int
    sensing_time: dt.datetime
    platform: str  # landsat-8 or landsat-7
    wrs_path: int
    wrs_row: int
    sun_zenith: float
    sun_azimuth: float
    truth_item_id: str

    @property
    def oli(self) -> bool:
        """True for Landsat 8 (OLI/TIRS), False for Landsat 7 (ETM+)."""
        return self.platform == "landsat-8"

    @property
    def slc_off(self) -> bool:
        """Landsat 7 after the scan line corrector failed (2003-05-31): wedge-shaped gaps."""
        return not self.oli and self.sensing_time.date() >= SLC_FAILURE_DATE

    @property
    def item_id(self) -> str:
        """PC id, e.g. ``LC08_L2SP_212004_20220912_02_T1`` (no processing date)."""
        sensor = "LC08" if self.oli else "LE07"
        return f"{sensor}_L2SP_{self.wrs_path:03d}{self.wrs_row:03d}_{self.sensing_time:%Y%m%d}_02_T1"

    @property
    def scene_id(self) -> str:
        """``landsat:scene_id``, e.g. ``LC82120042022255LGN00``."""
        station = "LGN" if self.oli else "ASN"
        sensor = "LC8" if self.oli else "LE7"
        return f"{sensor}{self.wrs_path:03d}{self.wrs_row:03d}{self.sensing_time:%Y%j}{station}00"

    @property
    def bands(self) -> tuple[LandsatBand, ...]:
        """The surface reflectance bands of the platform."""
        return OLI_BANDS if self.oli else ETM_BANDS

    @property
    def thermal(self) -> tuple[str, str, float, float, int, str]:
        """The surface temperature band of the platform."""
        return OLI_THERMAL if self.oli else ETM_THERMAL


@dataclass(frozen=True)
class LandsatGrid:
    """The 30 m grid: upper-left corner 15 m inside the scene, ``size`` pixels per side."""

    x0: float
    y0: float
    size: int
    epsg: int = EPSG

    @property
    def transform(self) -> list[float]:
        """``proj:transform`` (6 coefficients)."""
        return [float(PIXEL_M), 0.0, self.x0, 0.0, -float(PIXEL_M), self.y0]

    @property
    def shape(self) -> list[int]:
        """``proj:shape`` [rows, cols]."""
        return [self.size, self.size]


def landsat_grid(grid: SceneGrid) -> LandsatGrid:
    """The Landsat grid inside the scene grid (pixel centres on multiples of 30 m)."""
    return LandsatGrid(grid.x0 + 15.0, grid.y0 - 15.0, grid.size_px // 3 - 1, grid.epsg)


def sample_layers(layers: S.SceneLayers, lgrid: LandsatGrid) -> S.SceneLayers:
    """The 10 m layers at the Landsat pixels (10 m pixel ``3 + 3k`` for Landsat pixel ``k``)."""
    return layers.sample(3, 3, lgrid.size)


def plan_landsat(
    spec: ArchiveSpec, plans: tuple[ScenePlan, ...], site: GlacierSite = KRONEBREEN
) -> tuple[LandsatPlan, ...]:
    """One Landsat acquisition per Sentinel-2 date: Landsat 7 (SLC-off) for every third date up to 2021.

    Args:
        spec: the archive spec (seed).
        plans: the Sentinel-2 plans of the glacier.
        site: the glacier (its WRS-2 paths and row, its own random stream).

    Returns:
        Landsat plans in the same order.
    """
    rng = np.random.default_rng([spec.seed, 10] if site.key == 0 else [spec.seed, 10, 100 + site.key])
    lon, lat = site.lon_lat
    out = []
    for plan in plans:
        t = plan.sensing_time + dt.timedelta(
            minutes=int(rng.integers(-120, 121)), seconds=int(rng.integers(60))
        )
        l7 = plan.index % 3 == 1 and t.year <= LAST_L7_YEAR
        zenith, azimuth = sun_angles(t) if site.key == 0 else sun_angles(t, lat, lon)
        out.append(
            LandsatPlan(
                index=plan.index,
                sensing_time=t,
                platform="landsat-7" if l7 else "landsat-8",
                wrs_path=int(rng.choice(site.wrs_paths)),
                wrs_row=site.wrs_row,
                sun_zenith=zenith,
                sun_azimuth=azimuth,
                truth_item_id=plan.item_id,
            )
        )
    return tuple(out)


def slc_gaps(size: int, rng: np.random.Generator) -> np.ndarray:
    """SLC-off gap mask: tilted stripes whose width grows from 0 at the centre column to the edges.

    Args:
        size: pixels per side.
        rng: seeded generator (stripe phase).

    Returns:
        bool (size, size), True inside a gap.
    """
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    distance = np.abs(cols - (size - 1) / 2.0) / (size / 2.0)
    width = SLC_MAX_GAP_PX * np.clip((distance - SLC_CENTRE_FREE) / (1.0 - SLC_CENTRE_FREE), 0.0, 1.0)
    phase = float(rng.uniform(0.0, SLC_PERIOD_PX))
    position = np.mod(rows - SLC_TILT * cols - phase, SLC_PERIOD_PX)
    return np.abs(position - SLC_PERIOD_PX / 2.0) < width / 2.0


def encode_sr(rho: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Reflectance to C2 L2 SR DN ``round((rho + 0.2) / 2.75e-5)`` (1..65535), 0 where not valid."""
    dn = np.clip(np.rint((rho - SR_OFFSET) / SR_SCALE), 1, 65535).astype(np.uint16)
    dn[~valid] = SR_FILL
    return dn


def surface_temperature(layers: S.SceneLayers) -> np.ndarray:
    """ST DN ``round((T - 149) / 0.00341802)`` of class temperatures under clouds and shadow, 0 fill."""
    t = SURFACE_TEMPERATURE_K[layers.cls] + 0.4 * layers.texture
    t = t * (1.0 - layers.cloud) + CLOUD_TEMPERATURE_K * layers.cloud - 1.5 * layers.shadow
    dn = np.clip(np.rint((t - ST_OFFSET) / ST_SCALE), 1, 65535).astype(np.uint16)
    dn[~layers.valid] = SR_FILL
    return dn


def qa_pixel(layers: S.SceneLayers, oli: bool) -> np.ndarray:
    """QA_PIXEL words: fill, else cloud (where the truth has cloud), shadow, snow/ice, water, clear land."""
    words = QA_WORDS[oli]
    scl_clear = S.SCL_OF_CLASS[layers.cls]
    out = np.full(layers.cls.shape, words["land"], dtype=np.uint16)
    out[scl_clear == 6] = words["water"]
    out[scl_clear == 11] = words["snow"]
    out[(layers.shadow > 0) & (layers.cloud <= 0)] = words["shadow"]
    out[layers.cloud > 0] = words["cloud"]
    out[~layers.valid] = QA_FILL
    return out


def landsat_rasters(layers: S.SceneLayers, plan: LandsatPlan, seed: int) -> dict[str, np.ndarray]:
    """Every raster of one Landsat scene keyed by PC asset key (SR bands, thermal, qa_pixel, qa_radsat).

    Args:
        layers: the date's layers already sampled on the Landsat grid (whole scene valid).
        plan: the Landsat plan.
        seed: archive seed.

    Returns:
        uint16 arrays; SLC-off gaps are fill in every one of them except ``qa_radsat``.
    """
    if plan.slc_off:
        gaps = slc_gaps(layers.cls.shape[0], np.random.default_rng([seed, 12, plan.index]))
        layers = layers.with_valid(layers.valid & ~gaps)
    out = {}
    for i, band in enumerate(plan.bands):
        rng = np.random.default_rng([seed, 11, plan.index, i])
        rho = S.band_reflectance(layers, B.BAND_INDEX[band.s2_band], rng)
        out[band.key] = encode_sr(rho, layers.valid)
    out[plan.thermal[0]] = surface_temperature(layers)
    out["qa_pixel"] = qa_pixel(layers, plan.oli)
    out["qa_radsat"] = np.zeros(layers.cls.shape, dtype=np.uint16)
    return out


def cloud_cover(qa: np.ndarray, oli: bool) -> float:
    """Percent of non-fill pixels flagged cloud."""
    valid = qa != QA_FILL
    return 100.0 * float((qa[valid] == QA_WORDS[oli]["cloud"]).mean()) if valid.any() else 0.0
