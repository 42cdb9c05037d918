"""Sentinel-1 pixel values: linear power <-> dB (RTC gamma0, sigma0) and GRD DN calibration to sigma0."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError
from ml4earth_stac.sensors.sentinel1._constants import (
    DB_UNITS,
    DEFAULT_FLOOR_DB,
    GRD_NODATA,
    LINEAR_UNITS,
    RTC_NODATA,
)

ArrayT = TypeVar("ArrayT")


def to_db(linear: ArrayT, floor_db: float = DEFAULT_FLOOR_DB, nodata: float | None = RTC_NODATA) -> ArrayT:
    """Linear power (gamma0, sigma0) -> float32 dB, ``10 log10``, clipped below at ``floor_db``.

    Convert LAST: average and resample in linear power, then call this (SENSORS.md 6, mistake 9); the
    mean of dB values is the log of a geometric mean and is biased low.

    Args:
        linear: linear power (numpy, dask or xarray); dask-backed input stays lazy.
        floor_db: values below it, zero and negative values become exactly ``floor_db``.
        nodata: the no-data value (PC RTC -32768; AWS RTC 0; None for none). It and NaN become NaN.

    Returns:
        The same kind of array, float32. DataArrays keep name and coords and get ``units = "dB"``.

    Raises:
        LoadError: ``floor_db`` is not a finite number.
    """
    if not isinstance(floor_db, int | float | np.number) or not math.isfinite(float(floor_db)):
        raise LoadError(f"floor_db {floor_db!r} is not a finite number; pass e.g. {DEFAULT_FLOOR_DB}")
    floor = np.float32(floor_db)
    floor_linear = np.float32(10.0 ** (float(floor) / 10.0))
    power = (linear if hasattr(linear, "astype") else np.asarray(linear)).astype(np.float32)
    db = np.maximum(np.float32(10.0) * np.log10(np.maximum(power, floor_linear)), floor)
    if isinstance(db, xr.DataArray):
        db = db if nodata is None else db.where(power != np.float32(nodata))
        db.attrs = {"units": DB_UNITS}
    elif nodata is not None:
        db = np.where(power == np.float32(nodata), np.float32(np.nan), db)
    return db  # type: ignore[return-value]


def from_db(db: ArrayT) -> ArrayT:
    """dB -> float32 linear power, ``10 ** (db / 10)``; NaN stays NaN. Dask-backed input stays lazy.

    DataArrays keep name and coords and get ``units = "1"``.
    """
    values = db if hasattr(db, "astype") else np.asarray(db)
    linear = np.power(np.float32(10.0), values.astype(np.float32) / np.float32(10.0))  # type: ignore[union-attr]
    if isinstance(linear, xr.DataArray):
        linear.attrs = {"units": LINEAR_UNITS}
    return linear  # type: ignore[return-value]


def calibrate_grd(dn: ArrayT, calibration_constant: Any, noise_power: Any = None) -> ArrayT:
    """GRD amplitude DN -> float32 sigma0, linear power: ``(DN**2 - noise) / A**2``; DN 0 -> NaN.

    Limits: no terrain correction (foreshortening/layover remain, about +-5 dB on fjord walls); the
    geolocation of the pixels is the GCPs' (ellipsoid + coarse height, tens of metres off in steep
    terrain); no thermal noise removal unless ``noise_power`` (the ``schema-noise-*`` LUT on the pixel
    grid) is given, negative results then become 0 (``to_db`` floors them); one ``calibration_constant``
    instead of the ``sigmaNought`` LUT interpolated per pixel is an approximation (the LUT varies in range).

    Args:
        dn: uint16 DN (numpy, dask or xarray); dask-backed input stays lazy.
        calibration_constant: ``A`` (``sigmaNought``; ``betaNought``/``gamma`` give beta0/gamma), a
            positive number or an array broadcastable to ``dn``.
        noise_power: optional noise ``eta`` in DN**2 units, broadcastable to ``dn``.

    Raises:
        LoadError: a numeric ``calibration_constant`` is not finite and positive.
    """
    if isinstance(calibration_constant, int | float | np.number | np.ndarray):
        constant = np.asarray(calibration_constant, dtype=np.float64)
        if constant.size == 0 or not (np.isfinite(constant).all() and (constant > 0).all()):
            raise LoadError(
                f"GRD calibration constant {calibration_constant!r} must be finite and > 0; pass the "
                f"sigmaNought value (or LUT) of the schema-calibration-* asset"
            )
        calibration_constant = constant.astype(np.float32)
    values = dn if hasattr(dn, "astype") else np.asarray(dn)
    power = values.astype(np.float32) ** 2  # type: ignore[union-attr]
    if noise_power is not None:
        power = np.maximum(power - noise_power, np.float32(0.0))
    sigma0 = power / calibration_constant**2
    if isinstance(sigma0, xr.DataArray):
        sigma0 = sigma0.astype(np.float32).where(values != GRD_NODATA)
        sigma0.attrs = {"units": LINEAR_UNITS}
        return sigma0  # type: ignore[return-value]
    return np.where(values == GRD_NODATA, np.float32(np.nan), sigma0).astype(np.float32)  # type: ignore[return-value]
