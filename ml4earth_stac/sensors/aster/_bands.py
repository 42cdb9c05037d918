"""ASTER L1T band table: band records and lookup, gains, UCC (DN -> radiance) and ESUN tables, field names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from ml4earth_stac.errors import LoadError

Gain = Literal["HGH", "NOR", "LO1", "LO2"]
"""ASTER gain codes as written in ``ASTERGains``: high, normal, low 1, low 2 (TIR has one gain, normal)."""
Subsystem = Literal["VNIR", "SWIR", "TIR"]

GAINS: Final[tuple[Gain, ...]] = get_args(Gain)
RADIANCE_UNITS: Final = "W m-2 sr-1 um-1"
NODATA_DN: Final = 0
BAND_INDEX_FIELD: Final = "ml4earth:band_index"
SOURCE_ASSET_FIELD: Final = "ml4earth:source_asset"
SWIR_FAILURE_DATE: Final = dt.date(2008, 4, 23)
"""SWIR detector temperature rose on this day; SWIR data from then on are saturated and striped."""


@dataclass(frozen=True)
class AsterBand:
    """One ASTER band and where Planetary Computer stores it.

    Attributes:
        name: our band name and virtual asset key (``B01``, ``B02``, ``B3N``, ``B04`` ... ``B14``).
        subsystem: ``VNIR``, ``SWIR`` or ``TIR``, which is also the Planetary Computer asset key.
        band_index: 1-based index of the band inside that multi-band COG.
        common_name: the eo common name: PC's, except ``swir`` (B08, B09), invalid in eo v1.0.0: None.
        center_wavelength: centre wavelength in micrometres.
        full_width_half_max: full width at half maximum in micrometres.
        gsd: native ground sample distance in metres.
    """

    name: str
    subsystem: Subsystem
    band_index: int
    common_name: str | None
    center_wavelength: float
    full_width_half_max: float
    gsd: float

    @property
    def eo_name(self) -> str:
        """The ``eo:bands`` / ``raster:bands`` name in Planetary Computer items, e.g. ``VNIR_Band3N``."""
        return f"{self.subsystem}_Band{self.name.removeprefix('B').lstrip('0')}"

    @property
    def dtype(self) -> str:
        """The data type of the band in its COG: uint8 (VNIR, SWIR) or uint16 (TIR)."""
        return "uint16" if self.subsystem == "TIR" else "uint8"


BANDS: Final[tuple[AsterBand, ...]] = (
    AsterBand("B01", "VNIR", 1, "green", 0.56, 0.08, 15.0),
    AsterBand("B02", "VNIR", 2, "red", 0.66, 0.06, 15.0),
    AsterBand("B3N", "VNIR", 3, "nir08", 0.82, 0.08, 15.0),
    AsterBand("B04", "SWIR", 1, "swir16", 1.65, 0.10, 30.0),
    AsterBand("B05", "SWIR", 2, "swir22", 2.165, 0.04, 30.0),
    AsterBand("B06", "SWIR", 3, "swir22", 2.205, 0.04, 30.0),
    AsterBand("B07", "SWIR", 4, "swir22", 2.26, 0.05, 30.0),
    AsterBand("B08", "SWIR", 5, None, 2.339, 0.07, 30.0),
    AsterBand("B09", "SWIR", 6, None, 2.395, 0.07, 30.0),
    AsterBand("B10", "TIR", 1, "lwir", 8.30, 0.35, 90.0),
    AsterBand("B11", "TIR", 2, "lwir", 8.65, 0.35, 90.0),  # stactools gives no common name, PC "lwir"
    AsterBand("B12", "TIR", 3, "lwir", 9.11, 0.35, 90.0),
    AsterBand("B13", "TIR", 4, "lwir", 10.60, 0.70, 90.0),
    AsterBand("B14", "TIR", 5, "lwir", 11.30, 0.70, 90.0),
)
"""The 14 L1T bands (the aft-looking stereo band 3B is not delivered)."""

# fmt: off
UCC: Final[Mapping[str, Mapping[Gain, float]]] = MappingProxyType({k: MappingProxyType(v) for k, v in {
    "B01": {"HGH": 0.676, "NOR": 1.688, "LO1": 2.25},
    "B02": {"HGH": 0.708, "NOR": 1.415, "LO1": 1.89},
    "B3N": {"HGH": 0.423, "NOR": 0.862, "LO1": 1.15},
    "B04": {"HGH": 0.1087, "NOR": 0.2174, "LO1": 0.2900, "LO2": 0.2900},
    "B05": {"HGH": 0.0348, "NOR": 0.0696, "LO1": 0.0925, "LO2": 0.4090},
    "B06": {"HGH": 0.0313, "NOR": 0.0625, "LO1": 0.0830, "LO2": 0.3900},
    "B07": {"HGH": 0.0299, "NOR": 0.0597, "LO1": 0.0795, "LO2": 0.3320},
    "B08": {"HGH": 0.0209, "NOR": 0.0417, "LO1": 0.0556, "LO2": 0.2450},
    "B09": {"HGH": 0.0159, "NOR": 0.0318, "LO1": 0.0424, "LO2": 0.2650},
    "B10": {"NOR": 0.006822}, "B11": {"NOR": 0.006780}, "B12": {"NOR": 0.006590},
    "B13": {"NOR": 0.005693}, "B14": {"NOR": 0.005225},
}.items()})
# fmt: on
"""Unit conversion coefficients (W m-2 sr-1 um-1 per DN) per band and gain: SENSORS.md 4.2 (TIR: "L")."""
ESUN: Final[Mapping[str, float]] = MappingProxyType(
    {"B01": 1848.0, "B02": 1549.0, "B3N": 1114.0, "B04": 225.4, "B05": 86.63, "B06": 81.85}
    | {"B07": 74.85, "B08": 66.49, "B09": 59.85}
)
"""Exoatmospheric solar irradiance (W m-2 um-1; Thome et al., MODTRAN) of the reflective bands."""

BANDS_BY_NAME: Final[Mapping[str, AsterBand]] = MappingProxyType({band.name: band for band in BANDS})
SUBSYSTEMS: Final[Mapping[str, tuple[AsterBand, ...]]] = MappingProxyType(
    {sub: tuple(b for b in BANDS if b.subsystem == sub) for sub in get_args(Subsystem)}
)
SWIR_BANDS: Final[tuple[str, ...]] = tuple(band.name for band in SUBSYSTEMS["SWIR"])

_ALIASES: Final[Mapping[str, AsterBand]] = MappingProxyType(
    {**{b.eo_name: b for b in BANDS}, **{b.name.removeprefix("B").lstrip("0"): b for b in BANDS}}
)


def band(name: str | AsterBand) -> AsterBand:
    """The band record of ``name``: ``B01``/``B3N``/``B14``, PC's ``VNIR_Band1``, or ``1``/``3N``/``14``.

    Raises:
        LoadError: unknown band (3B, the aft-looking stereo band, is not in L1T).
    """
    if isinstance(name, AsterBand):
        return name
    found = BANDS_BY_NAME.get(name) or _ALIASES.get(str(name))
    if found is None:
        raise LoadError(f"unknown ASTER L1T band {name!r}; use one of {', '.join(BANDS_BY_NAME)}")
    return found


def band_asset(name: str | AsterBand) -> tuple[str, int]:
    """PC asset key and 1-based band index of a band, e.g. ``B3N -> ("VNIR", 3)``; LoadError if unknown."""
    record = band(name)
    return record.subsystem, record.band_index
