"""Sentinel-1 item metadata: polarisations, asset keys, RTC or GRD, provider, RTC nodata, georeference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from affine import Affine

from ml4earth_stac.errors import SourceError
from ml4earth_stac.sensors._bands import Provider
from ml4earth_stac.sensors.sentinel1._constants import (
    AWS_RTC_ASSET_PREFIX,
    GRD_COLLECTIONS,
    GRD_NODATA,
    POLARISATIONS_BY_KEY,
    RTC_COLLECTIONS,
    RTC_ID_SUFFIX,
    RTC_NODATA,
    Polarisation,
    ProductKind,
)

_PC_HOST_SUFFIXES: Final = (".blob.core.windows.net", "planetarycomputer.microsoft.com")
_ES_HOSTS: Final = ("earth-search.aws.element84.com", "sentinel-s1-l1c")
_CRS_FIELDS: Final = ("proj:epsg", "proj:code", "proj:wkt2", "proj:projjson")


def polarisations(item: Mapping[str, Any]) -> tuple[Polarisation, ...]:
    """The polarisations of an item from ``sar:polarizations``, as asset-key spelling (``("vv", "vh")``).

    Raises:
        SourceError: the field is missing, empty or holds a value other than VV, VH, HH, HV.
    """
    props, label = _properties(item)
    values = props.get("sar:polarizations")
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise SourceError(
            f"{label}: sar:polarizations is {values!r}; the item needs a list like ['VV', 'VH'] "
            f"(sar extension) to tell which polarisation assets exist"
        )
    unknown = [value for value in values if str(value).lower() not in POLARISATIONS_BY_KEY]
    if unknown:
        raise SourceError(f"{label}: sar:polarizations holds {unknown}; expected VV, VH, HH or HV")
    return tuple(POLARISATIONS_BY_KEY[str(value).lower()].asset_key for value in values)


def asset_key(item: Mapping[str, Any], polarisation: str) -> str:
    """The asset key holding ``polarisation`` in ``item``: ``vv`` (PC, ES, stactools GRD) or ``gamma0_vv``.

    Raises:
        SourceError: the item has no asset for that polarisation.
    """
    _, label = _properties(item)
    pol = str(polarisation).lower()
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    for key in (pol, f"{AWS_RTC_ASSET_PREFIX}{pol}"):
        if pol in POLARISATIONS_BY_KEY and key in assets:
            return key
    raise SourceError(
        f"{label}: no asset for polarisation {polarisation!r} (looked for '{pol}' and "
        f"'{AWS_RTC_ASSET_PREFIX}{pol}'; assets: {sorted(assets)}); pick one of sar:polarizations"
    )


def asset_keys(item: Mapping[str, Any]) -> dict[Polarisation, str]:
    """``{polarisation: asset key}`` for each ``sar:polarizations`` entry; SourceError if one has no asset."""
    return {pol: asset_key(item, pol) for pol in polarisations(item)}


def product_kind(item: Mapping[str, Any]) -> ProductKind:
    """``"rtc"`` or ``"grd"``.

    PC RTC items say ``sar:product_type: GRD`` (their source) and have ids like ``S1A_IW_GRDH_..._rtc``,
    so RTC is decided first: an RTC collection, the ``_rtc`` id suffix, or ``sar:product_type: RTC``.

    Raises:
        SourceError: none of collection, id suffix or ``sar:product_type`` tells.
    """
    props, label = _properties(item)
    collection, product_type = str(item.get("collection", "")), str(props.get("sar:product_type", "")).upper()
    if (
        collection in RTC_COLLECTIONS
        or str(item.get("id", "")).endswith(RTC_ID_SUFFIX)
        or product_type == "RTC"
    ):
        return "rtc"
    if collection in GRD_COLLECTIONS or product_type == "GRD":
        return "grd"
    raise SourceError(
        f"{label}: cannot tell RTC from GRD (collection {collection!r}, sar:product_type "
        f"{product_type!r}); use an item of {', '.join(RTC_COLLECTIONS + GRD_COLLECTIONS)}"
    )


def detect_provider(item: Mapping[str, Any]) -> Provider:
    """Which catalogue an item comes from: PC (Azure blob / planetarycomputer hrefs) or Earth Search.

    Raises:
        SourceError: neither or both match (e.g. stactools-generated items with relative hrefs).
    """
    _, label = _properties(item)
    hosts = set(_hosts(item))
    is_pc = any(host.endswith(_PC_HOST_SUFFIXES) for host in hosts)
    is_es = any(host in _ES_HOSTS for host in hosts)
    if is_pc != is_es:
        return "planetary-computer" if is_pc else "earth-search"
    raise SourceError(
        f"{label}: matches {'both' if is_pc else 'neither'} of the known Sentinel-1 layouts (Planetary "
        f"Computer: blob.core.windows.net hrefs; Earth Search: s3://sentinel-s1-l1c or element84 links); "
        f"pass the provider explicitly"
    )


def rtc_nodata(item: Mapping[str, Any], polarisation: str) -> float:
    """The nodata value of an RTC polarisation asset: its ``raster:bands`` nodata, else ``RTC_NODATA``.

    PC RTC declares -32768; the AWS/Indigo tiles declare 0. Pass the result to ``to_db(nodata=...)``.

    Raises:
        SourceError: the item is not RTC, or has no asset for ``polarisation``.
    """
    if product_kind(item) != "rtc":
        raise SourceError(f"item {item.get('id', '<no id>')}: GRD has DN nodata {GRD_NODATA}, not RTC nodata")
    asset = item["assets"][asset_key(item, polarisation)]
    bands = asset.get("raster:bands") if isinstance(asset, Mapping) else None
    nodata = bands[0].get("nodata") if isinstance(bands, list) and bands else None
    return float(nodata) if isinstance(nodata, int | float) else RTC_NODATA


def has_valid_georeference(item: Mapping[str, Any]) -> bool:
    """Whether the item's proj fields may be used to place its pixels (else warp with GCPs).

    GRD: always False. PC GRD items carry no proj fields; stactools/Earth Search GRD items carry
    ``proj:epsg 4326`` with a ``proj:transform`` derived from the bbox, which is not a georeference of the
    radar-geometry raster (SENSORS.md 3.2 and 6, mistake 7). RTC: True when a CRS field and an
    invertible, north-up ``proj:transform`` are present. Even then the asset's own geotransform wins when
    the file is read (PC RTC assets were reprocessed in place, SENSORS.md 6, mistake 8).

    Raises:
        SourceError: the product kind cannot be told.
    """
    if product_kind(item) == "grd":
        return False
    props, _ = _properties(item)
    transform = props.get("proj:transform")
    if not any(props.get(field) is not None for field in _CRS_FIELDS):
        return False
    if not isinstance(transform, Sequence) or len(transform) not in (6, 9):
        return False
    affine = Affine(*[float(value) for value in transform[:6]])
    return affine.is_rectilinear and affine.a > 0 and affine.e < 0


def _properties(item: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The properties of an item dict and a label naming the item for messages."""
    if not isinstance(item, Mapping):
        raise SourceError(f"expected a STAC item dict, got {type(item).__name__}")
    props = item.get("properties")
    return (props if isinstance(props, Mapping) else {}), f"item {item.get('id', '<no id>')}"


def _hosts(item: Mapping[str, Any]) -> list[str]:
    assets = item.get("assets") if isinstance(item.get("assets"), Mapping) else {}
    links = item.get("links") if isinstance(item.get("links"), list) else []
    entries = [*assets.values(), *links]
    hrefs = [entry.get("href") for entry in entries if isinstance(entry, Mapping)]
    return [urlsplit(href).hostname or "" for href in hrefs if isinstance(href, str)]
