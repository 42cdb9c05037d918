"""Landsat C2 L2 SR/ST decoding: DN -> float32 surface reflectance or temperature, fill -> NaN."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError
from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS
from ml4earth_stac.sensors.landsat._constants import (
    NODATA_DN,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    TEMPERATURE_UNITS,
    ArrayT,
)


def decode_reflectance(
    dn: ArrayT, *, scale: float = SR_SCALE, offset: float = SR_OFFSET, clip: bool = False
) -> ArrayT:
    """Turn SR DN into float32 surface reflectance: ``dn * 2.75e-05 - 0.2``, DN 0 (fill) -> NaN.

    Not clipped by default: valid pixels reach about -0.04 over dark targets and 1.2 over bright clouds
    (DN 7273-43636 is 0-1). Landsat 7 SLC-off gaps are fill, so they become NaN here too.

    Args:
        dn: uint16 DN (numpy, dask or xarray; float with NaN for no data too); dask stays lazy, DataArrays
            keep name and coords and get ``units = "1"``.
        scale, offset: ``dn * scale + offset``, e.g. from ``scale_offset_from_item``.
        clip: clip the result to 0..1 (NaN stays NaN).

    Raises:
        LoadError: ``scale`` or ``offset`` is not finite.
    """
    decoded = _decode(dn, scale, offset, REFLECTANCE_UNITS)
    return decoded.clip(0.0, 1.0) if clip else decoded  # type: ignore[attr-defined,no-any-return]


def decode_temperature(dn: ArrayT, *, scale: float = ST_SCALE, offset: float = ST_OFFSET) -> ArrayT:
    """Turn ST DN into float32 surface temperature in kelvin: ``dn * 0.00341802 + 149``, DN 0 (fill) -> NaN.

    Args:
        dn: uint16 DN (numpy, dask or xarray); dask stays lazy, DataArrays get ``units = "K"``.
        scale, offset: ``dn * scale + offset``, e.g. from ``scale_offset_from_item``.

    Raises:
        LoadError: ``scale`` or ``offset`` is not finite.
    """
    return _decode(dn, scale, offset, TEMPERATURE_UNITS)


def _decode(dn: Any, scale: float, offset: float, units: str) -> Any:
    if not (np.isfinite(scale) and np.isfinite(offset)):
        raise LoadError(f"scale {scale!r} / offset {offset!r} not finite; use scale_offset_from_item()")
    scale32, offset32 = np.float32(scale), np.float32(offset)
    if isinstance(dn, xr.DataArray):
        decoded = (dn.astype(np.float32) * scale32 + offset32).where(dn != NODATA_DN)
        decoded.attrs = {"units": units}
        return decoded
    array = dn if hasattr(dn, "astype") else np.asarray(dn)
    return np.where(array == NODATA_DN, np.float32(np.nan), array.astype(np.float32) * scale32 + offset32)
