"""Sentinel-1 constants: polarisations and their asset keys, collections, nodata, dtypes and units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

Polarisation = Literal["vv", "vh", "hh", "hv"]
"""Polarisation as written in asset keys: transmit then receive, lower case."""
ProductKind = Literal["rtc", "grd"]


@dataclass(frozen=True)
class PolarisationInfo:
    """One Sentinel-1 polarisation and its asset key (the same on PC RTC, PC GRD and ES GRD).

    Attributes:
        name: the ``sar:polarizations`` value (``VV``...).
        asset_key: the asset key in PC and Earth Search items (``vv``...).
        transmit: transmitted polarisation (``V`` or ``H``).
        receive: received polarisation (``V`` or ``H``).
    """

    name: str
    asset_key: Polarisation
    transmit: str
    receive: str


POLARISATIONS: Final[tuple[PolarisationInfo, ...]] = tuple(
    PolarisationInfo(key.upper(), key, key[0].upper(), key[1].upper()) for key in get_args(Polarisation)
)
POLARISATIONS_BY_KEY: Final[Mapping[str, PolarisationInfo]] = MappingProxyType(
    {pol.asset_key: pol for pol in POLARISATIONS}
)
AWS_RTC_ASSET_PREFIX: Final = "gamma0_"
"""The AWS/Indigo RTC tiles (stactools ``sentinel1-rtc-aws``) name assets ``gamma0_vv``..."""

RTC_COLLECTIONS: Final = ("sentinel-1-rtc", "sentinel1-rtc-aws")
GRD_COLLECTIONS: Final = ("sentinel-1-grd", "sentinel1-grd")
RTC_ID_SUFFIX: Final = "_rtc"
RTC_NODATA: Final = -32768.0
"""PC RTC ``raster:bands`` nodata (float32 gamma0, linear power)."""
RTC_DTYPE: Final = "float32"
GRD_NODATA: Final = 0
"""GRD amplitude DN no-data value (uint16)."""
GRD_DTYPE: Final = "uint16"
DEFAULT_FLOOR_DB: Final = -30.0
"""Below the VH noise floor of calm water (about -30 dB, SENSORS.md 3.3): values under it are clipped."""
DB_UNITS: Final = "dB"
LINEAR_UNITS: Final = "1"
