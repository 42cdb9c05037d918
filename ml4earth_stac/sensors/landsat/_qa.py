"""Landsat C2 L2 masks: QA_PIXEL flags and cloud/valid fractions, QA_RADSAT saturation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dask
import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError
from ml4earth_stac.sensors.landsat._constants import (
    _SATURATION_BITS,
    CLOUD_FLAGS,
    DEFAULT_MASKED_FLAGS,
    QA_FILL,
    QA_PIXEL_FLAGS,
    QA_RADSAT_BITS,
    RADSAT_FLAGS,
    ArrayT,
)
from ml4earth_stac.sensors.landsat._metadata import band_info, instrument_of


def qa_flags(qa: Any) -> dict[str, Any]:
    """Every one-bit QA_PIXEL flag (``QA_PIXEL_FLAGS``) as a boolean array; NaN counts as fill."""
    words = _qa_words(qa)
    return {name: (words & (1 << bit)) != 0 for name, bit in QA_PIXEL_FLAGS.items()}


def qa_mask(qa: ArrayT, masked: Iterable[str] = DEFAULT_MASKED_FLAGS) -> ArrayT:
    """Boolean mask, True where any of the ``masked`` QA_PIXEL flags is set.

    Uses the Collection 2 bits (not Collection 1 ``pixel_qa``/BQA) and never the ``clear`` bit, which does
    not exclude cloud shadow. NaN (a float QA read with a NaN fill) counts as fill.

    Args:
        qa: QA_PIXEL words (numpy, dask or xarray); dask-backed input stays lazy.
        masked: flag names from ``QA_PIXEL_FLAGS``; default fill, dilated cloud, cloud, shadow, cirrus.

    Raises:
        LoadError: an unknown flag name.
    """
    names = list(masked)
    unknown = [name for name in names if name not in QA_PIXEL_FLAGS]
    if unknown:
        raise LoadError(
            f"{unknown} are not QA_PIXEL flags; use names of QA_PIXEL_FLAGS ({', '.join(QA_PIXEL_FLAGS)})"
        )
    bits = sum(1 << QA_PIXEL_FLAGS[name] for name in set(names))
    return (_qa_words(qa) & bits) != 0  # type: ignore[no-any-return]


def cloud_fraction(qa: Any) -> float:
    """Fraction of the non-fill pixels flagged cloud, dilated cloud, cloud shadow or cirrus.

    Comparable to the MTL's ``CLOUD_COVER`` / 100 (which counts clouds only, so this is a little higher where
    there are shadows). Dask input is reduced in one pass. NaN when every pixel is fill.
    """
    cloudy, fill = qa_mask(qa, CLOUD_FLAGS), qa_mask(qa, ("fill",))
    n_cloudy, n_fill = dask.compute((cloudy & ~fill).sum(), fill.sum())
    n_data = int(np.prod(np.shape(qa))) - int(n_fill)
    return float(n_cloudy) / n_data if n_data else float("nan")


def valid_fraction(qa: Any, masked: Iterable[str] = DEFAULT_MASKED_FLAGS) -> float:
    """Fraction of ALL pixels not masked by ``qa_mask(qa, masked)`` (fill is unusable); NaN if empty."""
    (n_masked,) = dask.compute(qa_mask(qa, masked).sum())
    size = int(np.prod(np.shape(qa)))
    return 1.0 - float(n_masked) / size if size else float("nan")


def radsat_flags(radsat: Any, platform: int) -> dict[str, Any]:
    """Every QA_RADSAT bit of the instrument of ``platform`` (``QA_RADSAT_BITS``) as a boolean array."""
    words = _qa_words(radsat, fill=0)
    return {name: (words & (1 << bit)) != 0 for name, bit in QA_RADSAT_BITS[instrument_of(platform)].items()}


def saturated_mask(
    radsat: ArrayT, bands: Iterable[str] | None = None, *, platform: int | None = None
) -> ArrayT:
    """Boolean mask, True where any band (or any of ``bands``) is radiometrically saturated (QA_RADSAT).

    Args:
        radsat: QA_RADSAT words (numpy, dask or xarray); dask stays lazy.
        bands: ``None`` for every band, else sensor-neutral names (``red``) or instrument numbers (``B4``,
            ``B6L``); ETM+ ``lwir``/``B6`` means B6L or B6H.
        platform: the Landsat number, needed when ``bands`` is given (bit meanings differ by instrument).

    Raises:
        LoadError: ``bands`` without ``platform``, or a band the instrument does not flag.
    """
    bits = list(_SATURATION_BITS)
    if bands is not None:
        if platform is None:
            raise LoadError("saturated_mask(bands=...) needs platform=, e.g. platform_of(item)")
        table = QA_RADSAT_BITS[instrument_of(platform)]
        bits = [bit for band in bands for bit in _radsat_bits(band, platform, table)]
    return (_qa_words(radsat, fill=0) & sum(1 << bit for bit in set(bits))) != 0  # type: ignore[no-any-return]


def _qa_words(qa: Any, fill: int = QA_FILL) -> Any:
    """Integer QA words; float input (NaN as no data) becomes uint16 with NaN -> ``fill``."""
    qa = qa if hasattr(qa, "dtype") else np.asarray(qa)
    if np.dtype(qa.dtype).kind != "f":
        return qa
    if isinstance(qa, xr.DataArray):
        return qa.fillna(fill).astype(np.uint16)
    return np.where(np.isnan(qa), fill, qa).astype(np.uint16)


def _radsat_bits(band: str, platform: int, table: Mapping[str, int]) -> list[int]:
    number = band if band in table or band == "B6" else band_info(band, platform).number
    bits = [bit for key, bit in table.items() if key in (number, f"{number}L", f"{number}H")]
    if not bits or number in RADSAT_FLAGS:
        known = ", ".join(key for key in table if key not in RADSAT_FLAGS)
        raise LoadError(f"QA_RADSAT of Landsat {platform} has no saturation of {band!r}; use {known}")
    return bits
