"""ASTER L1T radiometry: DN -> at-sensor radiance -> TOA reflectance, Earth-Sun distance."""

from __future__ import annotations

import datetime as dt
import math
from typing import TypeVar

import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError
from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS
from ml4earth_stac.sensors.aster._bands import ESUN, NODATA_DN, RADIANCE_UNITS, UCC, AsterBand, Gain, band
from ml4earth_stac.sensors.aster._metadata import _as_utc_date

ArrayT = TypeVar("ArrayT")


def dn_to_radiance(dn: ArrayT, band_name: str | AsterBand, gain: Gain | None = None) -> ArrayT:
    """At-sensor radiance, float32 W m-2 sr-1 um-1: ``(DN - 1) * UCC(band, gain)``, DN 0 (no data) -> NaN.

    Args:
        dn: DN (numpy, dask or xarray; float input with NaN for no data is accepted too).
        band_name: the band (see ``band``).
        gain: the band's gain from ``parse_gains``; required for VNIR/SWIR, ``None`` or ``"NOR"`` for TIR.

    Returns:
        The same kind of array, float32, lazy if dask-backed; DataArrays keep name and coords, get ``units``.

    Raises:
        LoadError: unknown band, a VNIR/SWIR band without gain, or a gain the band does not have.
    """
    record = band(band_name)
    ucc = UCC[record.name].get(gain if gain is not None else "NOR" if record.subsystem == "TIR" else None)
    if ucc is None:
        raise LoadError(
            f"band {record.name}: no unit conversion coefficient for gain {gain!r}; pass this band's gain "
            f"from parse_gains(<the item's xml asset>), one of {', '.join(UCC[record.name])}"
        )
    factor = np.float32(ucc)
    if isinstance(dn, xr.DataArray):
        radiance = ((dn.astype(np.float32) - np.float32(1)) * factor).where(dn != NODATA_DN)
        radiance.attrs = {"units": RADIANCE_UNITS}
        return radiance  # type: ignore[return-value]
    array = dn if hasattr(dn, "astype") else np.asarray(dn)
    return np.where(array == NODATA_DN, np.float32(np.nan), (array.astype(np.float32) - 1) * factor)  # type: ignore[return-value]


def toa_reflectance(
    radiance: ArrayT, band_name: str | AsterBand, sun_elevation_deg: float, earth_sun_distance_au: float
) -> ArrayT:
    """Top-of-atmosphere reflectance ``pi * L * d^2 / (ESUN * cos(90 deg - sun elevation))``, float32.

    Args:
        radiance: from ``dn_to_radiance`` (numpy, dask or xarray; NaN stays NaN; lazy stays lazy).
        band_name: a VNIR or SWIR band (TIR has no solar irradiance).
        sun_elevation_deg: the item's ``view:sun_elevation`` in degrees, in (0, 90].
        earth_sun_distance_au: Earth-Sun distance on the acquisition day (AU).

    Raises:
        LoadError: a TIR band, a sun at or below the horizon, or a distance outside 0.98-1.02 AU.
    """
    record = band(band_name)
    esun = ESUN.get(record.name)
    if esun is None:
        raise LoadError(f"band {record.name} is thermal: it has no TOA reflectance; use its radiance")
    if not 0.0 < sun_elevation_deg <= 90.0:
        raise LoadError(
            f"sun elevation {sun_elevation_deg!r} deg is not in (0, 90]; pass the item's view:sun_elevation"
        )
    if not 0.98 <= earth_sun_distance_au <= 1.02:
        raise LoadError(f"Earth-Sun distance {earth_sun_distance_au!r} AU is not in 0.98-1.02; pass it in AU")
    cos_zenith = math.sin(math.radians(sun_elevation_deg))  # cos(90 deg - elevation)
    factor = np.float32(math.pi * earth_sun_distance_au**2 / (esun * cos_zenith))
    array = radiance if hasattr(radiance, "astype") else np.asarray(radiance)
    reflectance = array.astype(np.float32) * factor
    if isinstance(reflectance, xr.DataArray):
        reflectance.attrs = {"units": REFLECTANCE_UNITS}
    return reflectance  # type: ignore[return-value]


def earth_sun_distance_au(day: dt.datetime | dt.date | str) -> float:
    """Earth-Sun distance in AU on a day: ``1 - 0.01672 cos(0.9856 deg (doy - 4))`` (within 1e-4 AU).

    Args:
        day: the acquisition date or datetime (naive = UTC) or an ISO 8601 string.
    """
    doy = _as_utc_date(day, "acquisition date").timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))
