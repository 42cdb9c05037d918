"""Landsat C2 L2 constants: band tables per instrument, SR/ST scale and offset, fills, QA bit tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final, Literal, TypeVar, get_args

from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS

ArrayT = TypeVar("ArrayT")
Provider = Literal["planetary-computer", "earth-search", "usgs"]
PROVIDERS: Final[tuple[Provider, ...]] = get_args(Provider)
Instrument = Literal["oli-tirs", "etm+", "tm"]
BandKind = Literal["reflectance", "temperature"]
TEMPERATURE_UNITS: Final = "K"


@dataclass(frozen=True)
class LandsatBand:
    """One Level-2 band of a Landsat instrument.

    Attributes:
        name: sensor-neutral name, also the asset key on PC, ES and current USGS items (``red``, ``lwir11``).
        number: the instrument band number (``B4`` for red on OLI, ``B3`` on TM/ETM+).
        file_suffix: the USGS file name suffix (``_SR_B4.TIF``).
        common_name: the STAC ``eo`` common name as PC writes it.
        center_wavelength: centre wavelength of this instrument's band in micrometres.
        gsd: native ground sample distance in metres (thermal bands are delivered resampled to 30 m).
        kind: ``"reflectance"`` (SR) or ``"temperature"`` (ST).
    """

    name: str
    number: str
    file_suffix: str
    common_name: str
    center_wavelength: float
    gsd: float
    kind: BandKind = "reflectance"

    @property
    def units(self) -> str:
        """``"1"`` for reflectance, ``"K"`` for surface temperature."""
        return REFLECTANCE_UNITS if self.kind == "reflectance" else TEMPERATURE_UNITS

    @property
    def legacy_usgs_key(self) -> str:
        """The asset key of this band in legacy (STAC 0.7) USGS items, e.g. ``SR_B4.TIF``."""
        return self.file_suffix.lstrip("_")


def _sr(name: str, number: str, wavelength: float) -> LandsatBand:
    return LandsatBand(name, number, f"_SR_{number}.TIF", name, wavelength, 30.0)


def _st(name: str, number: str, wavelength: float, gsd: float) -> LandsatBand:
    return LandsatBand(name, number, f"_ST_{number}.TIF", name, wavelength, gsd, "temperature")


# fmt: off
OLI_TIRS_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("coastal", "B1", 0.44), _sr("blue", "B2", 0.48), _sr("green", "B3", 0.56), _sr("red", "B4", 0.65),
    _sr("nir08", "B5", 0.87),  # USGS items say 0.86
    _sr("swir16", "B6", 1.61), _sr("swir22", "B7", 2.20), _st("lwir11", "B10", 10.9, 100.0),
)
"""Landsat 8/9 Level-2 bands (B8 pan, B9 cirrus and B11 are not in Level-2)."""
TM_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("blue", "B1", 0.49), _sr("green", "B2", 0.56), _sr("red", "B3", 0.66), _sr("nir08", "B4", 0.83),
    _sr("swir16", "B5", 1.65), _sr("swir22", "B7", 2.22), _st("lwir", "B6", 11.45, 120.0),
)
"""Landsat 4/5 TM Level-2 bands: no coastal band, thermal is ``lwir`` (not ``lwir11``)."""
ETM_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("blue", "B1", 0.48), _sr("green", "B2", 0.56), _sr("red", "B3", 0.66), _sr("nir08", "B4", 0.84),
    _sr("swir16", "B5", 1.65), _sr("swir22", "B7", 2.20), _st("lwir", "B6", 11.34, 60.0),
)
"""Landsat 7 ETM+ Level-2 bands (USGS items write OLI-like 0.86 and 1.6 for nir08/swir16)."""
# fmt: on

INSTRUMENTS: Final[Mapping[int, Instrument]] = MappingProxyType(
    {4: "tm", 5: "tm", 7: "etm+", 8: "oli-tirs", 9: "oli-tirs"}
)
BANDS_BY_INSTRUMENT: Final[Mapping[Instrument, tuple[LandsatBand, ...]]] = MappingProxyType(
    {"oli-tirs": OLI_TIRS_BANDS, "tm": TM_BANDS, "etm+": ETM_BANDS}
)
NON_SPECTRAL_ASSET_KEYS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "qa_pixel": ("qa_pixel", "QA_PIXEL.TIF"),
        "qa_radsat": ("qa_radsat", "QA_RADSAT.TIF"),
        "qa_aerosol": ("qa_aerosol", "SR_QA_AEROSOL.TIF"),  # OLI only
        "mtl.json": ("mtl.json", "MTL.json"),  # USGS items spell it MTL.json
    }
)
"""Asset name -> (PC/ES key, USGS key); current USGS items use the PC key for the QA assets."""

SR_SCALE: Final = 2.75e-05
SR_OFFSET: Final = -0.2
ST_SCALE: Final = 0.00341802
ST_OFFSET: Final = 149.0
NODATA_DN: Final = 0
"""Fill of the SR and ST bands."""
QA_FILL: Final = 1
"""QA_PIXEL value of fill pixels (only bit 0 set)."""

# fmt: off
QA_PIXEL_FLAGS: Final[Mapping[str, int]] = MappingProxyType({
    "fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5, "clear": 6,
    "water": 7,
})
# fmt: on
"""One-bit QA_PIXEL flags -> bit. ``cirrus`` is always 0 on TM/ETM+. ``clear`` only means that the cloud and
dilated-cloud bits are 0: it does NOT exclude shadow, snow or water (value 23888 = shadow + clear)."""
QA_PIXEL_CONFIDENCES: Final[Mapping[str, int]] = MappingProxyType(
    {"cloud": 8, "cloud_shadow": 10, "snow": 12, "cirrus": 14}
)
"""Two-bit confidences -> lowest bit: ``(qa >> bit) & 3`` is 0 none, 1 low, 2 medium (cloud only), 3 high."""
DEFAULT_MASKED_FLAGS: Final = ("fill", "dilated_cloud", "cloud", "cloud_shadow", "cirrus")
"""What ``qa_mask`` masks by default. Snow/ice and water are kept: glaciers and fjords are targets."""
CLOUD_FLAGS: Final = ("dilated_cloud", "cloud", "cloud_shadow", "cirrus")

# fmt: off
QA_RADSAT_BITS: Final[Mapping[Instrument, Mapping[str, int]]] = MappingProxyType({
    "oli-tirs": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6": 5, "B7": 6, "B9": 8,
                                  "terrain_occlusion": 11}),
    "tm": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6": 5, "B7": 6,
                            "dropped_pixel": 9}),
    "etm+": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6L": 5, "B7": 6, "B6H": 8,
                              "dropped_pixel": 9}),
})
# fmt: on
"""QA_RADSAT bit per instrument band (saturated) and per non-saturation flag."""
RADSAT_FLAGS: Final = ("dropped_pixel", "terrain_occlusion")
_SATURATION_BITS: Final = (0, 1, 2, 3, 4, 5, 6, 8)
"""Saturation bits of every instrument (OLI B1-7 and B9; TM B1-7; ETM+ B1-5, B6L, B7, B6H)."""

SLC_FAILURE_DATE: Final = date(2003, 5, 31)
PLATFORM_FIELDS: Final = ("platform", "eo:platform")
