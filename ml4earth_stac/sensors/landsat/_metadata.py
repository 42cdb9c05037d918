"""Landsat C2 L2 item metadata: platform and instrument, band lookup, SLC-off, asset keys, provider."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit

import numpy as np

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors._metadata import properties_and_label
from ml4earth_stac.sensors.landsat._constants import (
    BANDS_BY_INSTRUMENT,
    INSTRUMENTS,
    NON_SPECTRAL_ASSET_KEYS,
    PLATFORM_FIELDS,
    PROVIDERS,
    SLC_FAILURE_DATE,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    Instrument,
    LandsatBand,
    Provider,
)

_PLATFORM: Final = re.compile(r"^landsat[-_ ]?0?(\d)$", re.IGNORECASE)
_ID_PREFIX: Final = re.compile(r"^L[COTE]0?(\d)")


def platform_of(properties: Mapping[str, Any]) -> int:
    """The Landsat number (4, 5, 7, 8 or 9) of an item.

    Reads ``platform`` (PC/ES ``landsat-8``, USGS ``LANDSAT_8``), then ``eo:platform`` (STAC 0.7 USGS items),
    then the item id prefix (``LC08_...``, ``LE07_...``), then ``landsat:scene_id`` (``LC80010622020305...``).

    Args:
        properties: the item's ``properties``, or a whole item dict (which adds its id as a fallback).

    Raises:
        SourceError: no field names a Landsat with Level-2 products.
    """
    props, label = _properties(properties)
    item_id = properties.get("id") if props is not properties else None
    candidates = [(field, props.get(field), _PLATFORM) for field in PLATFORM_FIELDS]
    candidates += [
        ("id", item_id, _ID_PREFIX),
        ("landsat:scene_id", props.get("landsat:scene_id"), _ID_PREFIX),
    ]
    for _field, value, pattern in candidates:
        match = pattern.match(value.strip()) if isinstance(value, str) else None
        if match and int(match.group(1)) in INSTRUMENTS:
            return int(match.group(1))
    found = {field: value for field, value, _ in candidates}
    raise SourceError(
        f"{label}: no Landsat 4/5/7/8/9 platform in {found}; the item needs platform like 'landsat-8' or "
        f"'LANDSAT_8', or an id like 'LC08_L2SP_...' (Landsat 1-3 MSS has no Level-2 products)"
    )


def instrument_of(platform: int) -> Instrument:
    """``"tm"`` (Landsat 4, 5), ``"etm+"`` (7) or ``"oli-tirs"`` (8, 9).

    Raises:
        SourceError: not a Landsat with Level-2 products.
    """
    if platform not in INSTRUMENTS:
        raise SourceError(f"Landsat {platform!r} has no Collection 2 Level-2 products; use 4, 5, 7, 8 or 9")
    return INSTRUMENTS[platform]


def bands_for(platform: int) -> tuple[LandsatBand, ...]:
    """The Level-2 band table of a Landsat (``OLI_TIRS_BANDS``, ``ETM_BANDS`` or ``TM_BANDS``)."""
    return BANDS_BY_INSTRUMENT[instrument_of(platform)]


def band_info(name: str, platform: int) -> LandsatBand:
    """The band called ``name`` (sensor-neutral, e.g. ``red``) or ``number`` (e.g. ``B4``) on ``platform``.

    Raises:
        LoadError: the instrument has no such Level-2 band.
    """
    for band in bands_for(platform):
        if name in (band.name, band.number):
            return band
    known = ", ".join(band.name for band in bands_for(platform))
    raise LoadError(f"Landsat {platform} has no Level-2 band {name!r}; use one of {known}")


def scale_offset_from_item(item: Mapping[str, Any], asset_key: str) -> tuple[float, float]:
    """``(scale, offset)`` of an asset: its ``raster:bands`` (PC, ES) or the C2 constants (USGS has none).

    Missing ``scale``/``offset`` fields fall back to the constants for SR/ST bands, to 1 and 0 otherwise.

    Raises:
        SourceError: the item has no such asset, a value is not a finite number, or the asset has no
            ``raster:bands`` and is not an SR/ST band.
    """
    props, label = _properties(item)
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    if asset_key not in assets:
        raise SourceError(f"{label}: no asset {asset_key!r} (has {sorted(assets)}); see find_asset_key")
    kind = next((b.kind for bs in BANDS_BY_INSTRUMENT.values() for b in bs if asset_key in _keys_of(b)), None)
    default = {"reflectance": (SR_SCALE, SR_OFFSET), "temperature": (ST_SCALE, ST_OFFSET)}.get(kind or "")
    bands = assets[asset_key].get("raster:bands")
    if not (isinstance(bands, list) and bands and isinstance(bands[0], Mapping)):
        if default is None:
            raise SourceError(f"{label}: asset {asset_key!r} has no raster:bands and is not an SR/ST band")
        return default
    scale, offset = (
        bands[0].get("scale", (default or (1.0, 0.0))[0]),
        bands[0].get("offset", (default or (1.0, 0.0))[1]),
    )
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in (scale, offset)
    ):
        raise SourceError(
            f"{label}: raster:bands of {asset_key!r} has scale {scale!r}, offset {offset!r}; fix them"
        )
    return float(scale), float(offset)


def slc_off(properties: Mapping[str, Any]) -> bool:
    """True for Landsat 7 scenes acquired on or after the Scan Line Corrector failure (2003-05-31).

    Nothing in the metadata flags SLC-off; its wedge-shaped gaps are SR/ST fill (0) and QA_PIXEL fill (1),
    so ``decode_reflectance`` and ``qa_mask`` already turn them into NaN / masked pixels. Use this to
    expect a lower valid fraction or to leave such scenes out.

    Raises:
        SourceError: no platform, or no parsable ``datetime`` / ``start_datetime``.
    """
    if platform_of(properties) != 7:
        return False
    props, label = _properties(properties)
    value = props.get("datetime") or props.get("start_datetime")
    try:
        acquired = date.fromisoformat(str(value)[:10])
    except ValueError:
        raise SourceError(f"{label}: datetime {value!r} is not an ISO date; fix the item") from None
    return acquired >= SLC_FAILURE_DATE


def asset_keys(band: str, provider: Provider, platform: int = 8) -> tuple[str, ...]:
    """Candidate asset keys of a band or QA asset, preferred first (USGS adds its legacy ``SR_B4.TIF`` form).

    Raises:
        LoadError: unknown provider, or a name that is neither a band of ``platform`` nor a QA/MTL asset.
    """
    if provider not in PROVIDERS:
        raise LoadError(f"unknown provider {provider!r} for band {band}; use one of {', '.join(PROVIDERS)}")
    if band in NON_SPECTRAL_ASSET_KEYS:
        pc_key, usgs_key = NON_SPECTRAL_ASSET_KEYS[band]
        return (pc_key, usgs_key) if provider == "usgs" else (pc_key,)
    info = band_info(band, platform)
    return _keys_of(info) if provider == "usgs" else (info.name,)


def asset_key(band: str, provider: Provider, platform: int = 8) -> str:
    """The asset key of a band (``red``, ``B4``...) or QA asset (``qa_pixel``...) in ``provider``'s items."""
    return asset_keys(band, provider, platform)[0]


def find_asset_key(item: Mapping[str, Any], band: str, provider: Provider | None = None) -> str:
    """The key under which ``item`` holds ``band`` (tries ``asset_keys`` for its provider and platform).

    Raises:
        SourceError: the item has none of the candidate keys (e.g. a thermal band of an L2SR item).
    """
    provider = provider or detect_provider(item)
    keys = asset_keys(band, provider, platform_of(item))
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    for key in keys:
        if key in assets:
            return key
    raise SourceError(
        f"item {item.get('id', '<no id>')}: no asset {' or '.join(keys)} for {band!r}; L2SR and USGS SR "
        f"items have no thermal bands, USGS ST items no reflectance bands: pick another item or band"
    )


def detect_provider(item: Mapping[str, Any]) -> Provider:
    """Which provider a Landsat C2 L2 item dict comes from.

    PC: ``*.blob.core.windows.net`` hrefs; ES: ``earthsearch:`` fields or ``s3://usgs-landsat`` hrefs; USGS:
    ``landsatlook.usgs.gov`` hrefs, ``LANDSAT_8``-style or ``eo:platform`` platforms. Items with none of these
    and a ``landsat-8``-style platform (stactools output, which generates PC's items) count as PC.

    Raises:
        SourceError: not an item, or markers of several providers.
    """
    if not isinstance(item, Mapping):
        raise SourceError(f"expected a STAC item dict, got {type(item).__name__}")
    props, label = _properties(item)
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    hrefs = [str(asset.get("href", "")) for asset in assets.values() if isinstance(asset, Mapping)]
    hosts = {urlsplit(href).hostname or "" for href in hrefs}
    platform = str(props.get("platform", ""))
    found = {
        "planetary-computer": any(host.endswith(".blob.core.windows.net") for host in hosts),
        "earth-search": any(str(k).startswith("earthsearch:") for k in props)
        or any(h.startswith("s3://usgs-landsat/") for h in hrefs),
        "usgs": "landsatlook.usgs.gov" in hosts or "eo:platform" in props or platform.startswith("LANDSAT_"),
    }
    matches = [provider for provider, hit in found.items() if hit]
    if not matches and platform.startswith("landsat-"):
        return "planetary-computer"
    if len(matches) == 1:
        return matches[0]  # type: ignore[return-value]
    raise SourceError(
        f"{label}: matches {matches or 'none'} of the known Landsat layouts (Planetary Computer blob hrefs, "
        f"Earth Search earthsearch: fields or s3://usgs-landsat hrefs, USGS landsatlook hrefs); pass the "
        f"provider explicitly"
    )


def _keys_of(band: LandsatBand) -> tuple[str, str]:
    return band.name, band.legacy_usgs_key


def _properties(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    return properties_and_label(obj, "landsat:scene_id")
