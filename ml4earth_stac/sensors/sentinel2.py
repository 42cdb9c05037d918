"""Sentinel-2 L2A: band table, provider asset keys, reflectance decoding and SCL masks (pure functions).

Facts and sources: ``shared/SENSORS.md`` section 1 (bands, PB 04.00 offset, SCL) and section 6 (the usual
decoding mistakes this module guards against: a missing or doubled BOA offset, an offset chosen by sensing
date instead of processing baseline, the wrong sign or order of scale and offset).

Every function works on numpy arrays, dask arrays and xarray DataArrays; dask-backed input stays lazy
(``decode_reflectance``, ``scl_mask``) or is reduced chunk by chunk in one pass (the fractions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import dask
import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors._bands import PROVIDERS, REFLECTANCE_UNITS, BandInfo, Provider
from ml4earth_stac.sensors._metadata import properties_and_label

ArrayT = TypeVar("ArrayT")

# fmt: off
BANDS: Final[tuple[BandInfo, ...]] = (
    #        name   PC key  ES key      common    centre  FWHM   gsd
    BandInfo("B01", "B01", "coastal",  "coastal", 0.443, 0.027, 60.0),
    BandInfo("B02", "B02", "blue",     "blue",    0.490, 0.098, 10.0),
    BandInfo("B03", "B03", "green",    "green",   0.560, 0.045, 10.0),
    BandInfo("B04", "B04", "red",      "red",     0.665, 0.038, 10.0),
    BandInfo("B05", "B05", "rededge1", "rededge", 0.704, 0.019, 20.0),
    BandInfo("B06", "B06", "rededge2", "rededge", 0.740, 0.018, 20.0),
    BandInfo("B07", "B07", "rededge3", "rededge", 0.783, 0.028, 20.0),
    BandInfo("B08", "B08", "nir",      "nir",     0.842, 0.145, 10.0),
    BandInfo("B8A", "B8A", "nir08",    "nir08",   0.865, 0.033, 20.0),  # PC labels it "rededge"
    BandInfo("B09", "B09", "nir09",    "nir09",   0.945, 0.026, 60.0),  # PC gives no common name
    BandInfo("B11", "B11", "swir16",   "swir16",  1.610, 0.143, 20.0),
    BandInfo("B12", "B12", "swir22",   "swir22",  2.190, 0.242, 20.0),
)
# fmt: on
"""The 12 L2A reflectance bands (B10 cirrus is not in L2A). Select bands by name, never by common name."""

BANDS_BY_NAME: Final[Mapping[str, BandInfo]] = MappingProxyType({band.name: band for band in BANDS})

NON_SPECTRAL_ASSET_KEYS: Final[Mapping[str, Mapping[Provider, str]]] = MappingProxyType(
    {
        "SCL": {"planetary-computer": "SCL", "earth-search": "scl"},
        "AOT": {"planetary-computer": "AOT", "earth-search": "aot"},
        "WVP": {"planetary-computer": "WVP", "earth-search": "wvp"},
        "visual": {"planetary-computer": "visual", "earth-search": "visual"},
    }
)

REFLECTANCE_SCALE: Final = 1e-4
"""ESA ``BOA_QUANTIFICATION_VALUE`` = 10000."""
BOA_OFFSET: Final = -0.1
"""``BOA_ADD_OFFSET`` = -1000 DN, i.e. -0.1 in reflectance, for processing baseline >= 04.00."""
BOA_OFFSET_BASELINE: Final = (4, 0)
NODATA_DN: Final = 0
ES_OFFSET_APPLIED_FIELD: Final = "earthsearch:boa_offset_applied"
BASELINE_FIELDS: Final = ("s2:processing_baseline", "s2:product_uri", "s2:granule_id")

SCL_CLASSES: Final[Mapping[int, str]] = MappingProxyType(
    {
        0: "no_data",
        1: "saturated_or_defective",
        2: "dark_area_pixels",  # topographic cast shadow in recent ESA documents
        3: "cloud_shadows",
        4: "vegetation",
        5: "not_vegetated",
        6: "water",
        7: "unclassified",
        8: "cloud_medium_probability",
        9: "cloud_high_probability",
        10: "thin_cirrus",
        11: "snow",
    }
)
"""SCL values -> names as in stactools-generated ``classification:classes``."""
SCL_NODATA: Final = 0
DEFAULT_MASKED_SCL_CLASSES: Final = (0, 1, 3, 8, 9, 10)
"""No data, saturated/defective, cloud shadow, clouds, cirrus. Snow/ice (11) is kept: glaciers are targets."""
CLOUD_SCL_CLASSES: Final = (3, 8, 9, 10)
"""Cloud shadow, medium/high probability cloud, thin cirrus: what ``cloud_fraction`` counts."""

_BASELINE_VALUE: Final = re.compile(r"^(\d{1,2})\.(\d{2})$")
_BASELINE_TOKEN: Final = re.compile(r"_N(\d{2})\.?(\d{2})(?=[_.]|$)")
_PC_HOST_SUFFIX: Final = ".blob.core.windows.net"


def processing_baseline(properties: Mapping[str, Any]) -> tuple[int, int]:
    """The processing baseline of a Sentinel-2 product as ``(major, minor)``, e.g. ``(4, 0)``.

    Reads ``s2:processing_baseline`` (``"04.00"``), else the ``N0400`` token of ``s2:product_uri``, else the
    ``N04.00`` token of ``s2:granule_id``.

    Args:
        properties: the item's ``properties`` (a whole item dict is accepted too).

    Raises:
        SourceError: none of those fields holds a baseline.
    """
    props, label = _properties(properties)
    value = props.get(BASELINE_FIELDS[0])
    match = _BASELINE_VALUE.match(value.strip()) if isinstance(value, str) else None
    for field in BASELINE_FIELDS[1:]:
        if match is None and isinstance(props.get(field), str):
            match = _BASELINE_TOKEN.search(props[field])
    if match is None:
        found = {field: props.get(field) for field in BASELINE_FIELDS}
        raise SourceError(
            f"{label}: no Sentinel-2 processing baseline in {', '.join(BASELINE_FIELDS)} (found {found}); "
            f"the item needs s2:processing_baseline like '04.00' or an N0400 token in s2:product_uri"
        )
    return int(match.group(1)), int(match.group(2))


def reflectance_offset(properties: Mapping[str, Any]) -> float:
    """The reflectance offset to ADD after scaling DN by ``REFLECTANCE_SCALE``: ``-0.1`` or ``0.0``.

    Decided on the processing baseline, never on the sensing date (Collection-1 reprocessing gives old
    acquisitions baseline 05.xx; Planetary Computer serves 2015-2021 acquisitions re-processed at 02.12):

    - baseline < 04.00: ``0.0`` (there is no offset in the product).
    - baseline >= 04.00: ``-0.1``, the ESA ``BOA_ADD_OFFSET``; Planetary Computer and Earth Search
      ``sentinel-2-c1-l2a`` keep the ESA DN, and PC items carry no flag for it.
    - baseline >= 04.00 with ``earthsearch:boa_offset_applied: true`` (Earth Search v1 ``sentinel-2-l2a``):
      ``0.0``, because the COG DN were already shifted by -1000 when converted.

    Conflict (SENSORS.md 1.3): those same Earth Search items also carry ``raster:bands`` offset -0.1 on the
    COG assets, and Earth Search's README says to apply any non-zero offset. We follow the maintainers'
    statement that the flag is the truth (SENSORS.md 1.3, from Element84/earth-search issues #9, #23, #66,
    #71), which avoids applying the offset twice (SENSORS.md 6, mistake 2). Mislabelled items are reported
    in both directions; only a pixel check against the ``-jp2`` twin can tell, so prefer
    ``sentinel-2-c1-l2a`` on Earth Search. The ``-jp2`` assets are ESA originals: this value is for the COG
    assets only.

    Args:
        properties: the item's ``properties`` (a whole item dict is accepted too).

    Raises:
        SourceError: no baseline, or ``earthsearch:boa_offset_applied`` is not a boolean.
    """
    if processing_baseline(properties) < BOA_OFFSET_BASELINE:
        return 0.0
    props, label = _properties(properties)
    applied = props.get(ES_OFFSET_APPLIED_FIELD)
    if applied is not None and not isinstance(applied, bool):
        raise SourceError(
            f"{label}: {ES_OFFSET_APPLIED_FIELD} is {applied!r}, expected true or false; "
            f"fix the item or drop the field to decode the DN as ESA originals"
        )
    return 0.0 if applied else BOA_OFFSET


def decode_reflectance(dn: ArrayT, offset: float) -> ArrayT:
    """Turn L2A DN into float32 surface reflectance: ``dn * 1e-4 + offset``, DN 0 (no data) -> NaN.

    Args:
        dn: uint16 DN (numpy, dask or xarray; float input with NaN for no data is accepted too).
        offset: from ``reflectance_offset`` (``-0.1`` or ``0.0``), added after scaling.

    Returns:
        The same kind of array, float32; dask-backed input stays lazy. DataArrays keep name and coords and
        get ``units = "1"``. Values are not clipped: dark targets can be slightly negative.

    Raises:
        LoadError: ``offset`` is not a finite number.
    """
    if not np.isfinite(offset):
        raise LoadError(f"reflectance offset {offset!r} is not finite; pass reflectance_offset(item)")
    # (dn + offset / scale) * scale == dn * scale + offset, with the offset added in DN (exact in float32:
    # -1000.0) so that one rounding happens instead of two.
    scale, shift = np.float32(REFLECTANCE_SCALE), np.float32(offset / REFLECTANCE_SCALE)
    if isinstance(dn, xr.DataArray):
        decoded = ((dn.astype(np.float32) + shift) * scale).where(dn != NODATA_DN)
        decoded.attrs = {"units": REFLECTANCE_UNITS}
        return decoded  # type: ignore[return-value]
    array = dn if hasattr(dn, "astype") else np.asarray(dn)
    return np.where(array == NODATA_DN, np.float32(np.nan), (array.astype(np.float32) + shift) * scale)  # type: ignore[return-value]


def scl_mask(scl: ArrayT, masked_classes: Iterable[int] = DEFAULT_MASKED_SCL_CLASSES) -> ArrayT:
    """Boolean mask, True where the SCL class is one of ``masked_classes``.

    NaN (a float SCL read with a NaN fill) counts as no data (class 0).

    Args:
        scl: SCL values (numpy, dask or xarray); dask-backed input stays lazy.
        masked_classes: SCL values to mask; default no data, defective, cloud shadow, clouds, cirrus.

    Raises:
        LoadError: a class is not an SCL value (0..11).
    """
    classes = _check_classes(masked_classes)
    scl = scl if hasattr(scl, "dtype") else np.asarray(scl)  # type: ignore[assignment]
    mask = scl.isin(classes) if isinstance(scl, xr.DataArray) else np.isin(scl, classes)
    if SCL_NODATA in classes and np.dtype(scl.dtype).kind == "f":
        mask = mask | np.isnan(scl)
    return mask  # type: ignore[return-value]


def valid_fraction(scl: Any, masked_classes: Iterable[int] = DEFAULT_MASKED_SCL_CLASSES) -> float:
    """Fraction of ALL pixels that are usable, i.e. not in ``masked_classes`` (no data counts as unusable).

    Dask-backed input is reduced chunk by chunk, never loaded whole. Returns NaN for an empty array.
    """
    masked = scl_mask(scl, masked_classes)
    (n_masked,) = dask.compute(masked.sum())
    size = int(np.prod(np.shape(scl)))
    return 1.0 - float(n_masked) / size if size else float("nan")


def cloud_fraction(scl: Any) -> float:
    """Fraction of the non-nodata pixels whose SCL class is in ``CLOUD_SCL_CLASSES`` (shadow, clouds, cirrus).

    Comparable to ``eo:cloud_cover`` + ``s2:cloud_shadow_percentage`` divided by 100. Dask-backed input is
    reduced chunk by chunk in one pass. Returns NaN when every pixel is no data (the fraction is undefined).
    """
    cloudy = scl_mask(scl, CLOUD_SCL_CLASSES)
    nodata = scl_mask(scl, (SCL_NODATA,))
    n_cloudy, n_nodata = dask.compute(cloudy.sum(), nodata.sum())
    n_data = int(np.prod(np.shape(scl))) - int(n_nodata)
    return float(n_cloudy) / n_data if n_data else float("nan")


def asset_key(band_name: str, provider: Provider) -> str:
    """The asset key of a band (``B04``...) or non-spectral asset (``SCL``, ``AOT``, ``WVP``, ``visual``).

    Raises:
        LoadError: unknown band name or provider.
    """
    if provider not in PROVIDERS:
        known = ", ".join(PROVIDERS)
        raise LoadError(f"unknown provider {provider!r} for band {band_name}; use one of {known}")
    if band_name in BANDS_BY_NAME:
        return BANDS_BY_NAME[band_name].asset_key(provider)
    if band_name in NON_SPECTRAL_ASSET_KEYS:
        return NON_SPECTRAL_ASSET_KEYS[band_name][provider]
    known = ", ".join([*BANDS_BY_NAME, *NON_SPECTRAL_ASSET_KEYS])
    raise LoadError(f"unknown Sentinel-2 L2A band {band_name!r}; use one of {known} (B10 is not in L2A)")


def detect_provider(item: Mapping[str, Any]) -> Provider:
    """Which provider layout a Sentinel-2 L2A item dict follows.

    Planetary Computer: an asset ``B04`` or hrefs on ``*.blob.core.windows.net``. Earth Search: an asset
    ``red`` or ``earthsearch:`` properties.

    Raises:
        SourceError: neither or both layouts match.
    """
    if not isinstance(item, Mapping):
        raise SourceError(f"expected a STAC item dict, got {type(item).__name__}")
    label = f"item {item.get('id', '<no id>')}"
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    properties = item.get("properties") if isinstance(item.get("properties"), Mapping) else {}
    is_pc = "B04" in assets or any(_href_host(asset).endswith(_PC_HOST_SUFFIX) for asset in assets.values())
    is_es = "red" in assets or any(str(key).startswith("earthsearch:") for key in properties)
    if is_pc != is_es:
        return "planetary-computer" if is_pc else "earth-search"
    reason = "both" if is_pc else "neither"
    raise SourceError(
        f"{label}: matches {reason} of the known Sentinel-2 layouts (Planetary Computer: asset 'B04' or "
        f"blob.core.windows.net hrefs; Earth Search: asset 'red' or earthsearch: properties); pass the "
        f"provider explicitly"
    )


def _properties(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    return properties_and_label(obj, "s2:product_uri", "s2:granule_id")


def _href_host(asset: Any) -> str:
    href = asset.get("href") if isinstance(asset, Mapping) else None
    return (urlsplit(href).hostname or "") if isinstance(href, str) else ""


def _check_classes(classes: Iterable[int]) -> list[int]:
    values = list(classes)
    unknown = [value for value in values if value not in SCL_CLASSES]
    if unknown:
        raise LoadError(f"{unknown} are not SCL classes; use values of SCL_CLASSES (0..11)")
    return values
