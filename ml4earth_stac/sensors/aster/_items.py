"""ASTER L1T items: provider layout, usable bands (SWIR failure), virtual single-band assets."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ml4earth_stac.errors import SourceError
from ml4earth_stac.sensors._bands import Provider
from ml4earth_stac.sensors.aster._bands import (
    BAND_INDEX_FIELD,
    BANDS_BY_NAME,
    SOURCE_ASSET_FIELD,
    SUBSYSTEMS,
    SWIR_BANDS,
    SWIR_FAILURE_DATE,
    AsterBand,
    band,
)
from ml4earth_stac.sensors.aster._metadata import _as_utc_date

_PC_COLLECTION: Final = "aster-l1t"


def swir_usable(acquisition_datetime: dt.datetime | dt.date | str) -> bool:
    """Whether SWIR data of this acquisition (date, datetime, naive = UTC, or ISO 8601) are usable.

    False from 2008-04-23 (UTC) on. Raises SourceError for an unparsable string.
    """
    return _as_utc_date(acquisition_datetime, "acquisition datetime") < SWIR_FAILURE_DATE


@dataclass(frozen=True)
class BandSelection:
    """The requested bands a scene can deliver (in request order), those dropped, and why (None: none)."""

    bands: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    reason: str | None = None


def usable_bands(properties: Mapping[str, Any], requested: Iterable[str] | None = None) -> BandSelection:
    """The requested bands this acquisition can deliver: SWIR bands are dropped from 2008-04-23 on.

    Args:
        properties: the item (or its ``properties``); ``datetime`` or ``start_datetime`` is read.
        requested: band names (see ``band``); default all 14.

    Raises:
        SourceError: no acquisition time, or only SWIR bands were requested for a later acquisition.
        LoadError: an unknown band name.
    """
    names = [band(name).name for name in (requested if requested is not None else BANDS_BY_NAME)]
    props, label = _properties(properties)
    when = props.get("datetime") or props.get("start_datetime")
    if when is None:
        raise SourceError(f"{label}: no datetime or start_datetime; the item needs its acquisition time")
    if swir_usable(when) or not set(names) & set(SWIR_BANDS):
        return BandSelection(tuple(names))
    kept = tuple(name for name in names if name not in SWIR_BANDS)
    dropped = tuple(name for name in names if name in SWIR_BANDS)
    reason = (
        f"{label}: SWIR bands {', '.join(dropped)} dropped: acquired {when}, on or after "
        f"{SWIR_FAILURE_DATE} when the ASTER SWIR detectors failed (saturated, striped data)"
    )
    if not kept:
        raise SourceError(f"{reason}; nothing else was requested: request VNIR/TIR bands or an earlier scene")
    return BandSelection(kept, dropped, reason)


def detect_provider(item: Mapping[str, Any]) -> Provider:
    """The provider layout of an ASTER L1T item: only Planetary Computer's ``aster-l1t`` is known.

    Accepted: assets ``VNIR``/``SWIR``/``TIR`` whose band lists (where present) are PC's (``VNIR_Band1``...);
    stactools-packages/aster, the generator of PC's collection, writes the same layout.

    Raises:
        SourceError: another collection or layout (e.g. per-band HDF or GeoTIFF assets of other archives).
    """
    data = _item_dict(item)
    label = f"item {data.get('id', '<no id>')}"
    assets = data.get("assets") if isinstance(data.get("assets"), Mapping) else {}
    collection = data.get("collection")
    present = [key for key in SUBSYSTEMS if isinstance(assets.get(key), Mapping)]
    layout_ok = bool(present) and all(_bands_match(assets[key], key) for key in present)
    if layout_ok and collection in (None, _PC_COLLECTION):
        return "planetary-computer"
    raise SourceError(
        f"{label}: not in the Planetary Computer aster-l1t layout (collection {collection!r}, multi-band "
        f"assets VNIR/SWIR/TIR with eo:bands VNIR_Band1...; found assets {sorted(assets)}); only PC's "
        f"aster-l1t items are supported: search that collection"
    )


def split_multiband_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``item`` with one virtual single-band asset per band, keyed by band name (``B01``...).

    Each virtual asset keeps the parent's href, media type and ``proj:*`` fields, carries the band's own
    ``eo:bands`` and ``raster:bands`` entry (one each), ``gsd``, ``ml4earth:band_index`` (1-based) and
    ``ml4earth:source_asset``. Subsystems absent from the item (night scenes are often TIR-only) give no
    virtual assets. The multi-band assets are kept. Splitting twice gives the same result.

    Raises:
        SourceError: a multi-band asset's band list disagrees with the ASTER table (count or order), or a
            band-name key is already taken by an asset that is not a virtual band.
    """
    virtual = _virtual_assets(_item_dict(item))
    result = copy.deepcopy(dict(item))
    result["assets"] = {**result.get("assets", {}), **virtual}
    return result


def _virtual_assets(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The virtual single-band assets of an item dict (see ``split_multiband_item``)."""
    label = f"item {data.get('id', '<no id>')}"
    assets = data.get("assets") if isinstance(data.get("assets"), Mapping) else {}
    virtual: dict[str, dict[str, Any]] = {}
    for key, records in SUBSYSTEMS.items():
        parent = assets.get(key)
        if not isinstance(parent, Mapping):
            continue
        if not _bands_match(parent, key):
            found = {field: _band_names(parent, field) for field in ("eo:bands", "raster:bands")}
            raise SourceError(
                f"{label}: asset {key} lists bands {found}, expected {[b.eo_name for b in records]}; the "
                f"band order is unknown, so no band can be read by index: fix the item or use odc-stac"
            )
        for record in records:
            taken = assets.get(record.name)
            if isinstance(taken, Mapping) and BAND_INDEX_FIELD not in taken:
                raise SourceError(
                    f"{label}: asset key {record.name} is already used by a non-virtual asset; rename it "
                    f"before splitting the multi-band assets"
                )
            virtual[record.name] = _virtual_asset(parent, key, record)
    return virtual


def _virtual_asset(parent: Mapping[str, Any], key: str, record: AsterBand) -> dict[str, Any]:
    asset: dict[str, Any] = {"href": parent["href"]}
    asset.update({k: copy.deepcopy(v) for k, v in parent.items() if k == "type" or k.startswith("proj:")})
    asset["title"] = f"ASTER band {record.name} ({key} band {record.band_index})"
    asset["roles"] = ["data"]
    for field in ("eo:bands", "raster:bands"):
        if isinstance(parent.get(field), list):
            asset[field] = [copy.deepcopy(parent[field][record.band_index - 1])]
    asset["gsd"] = record.gsd
    asset[BAND_INDEX_FIELD] = record.band_index
    asset[SOURCE_ASSET_FIELD] = key
    return asset


def _band_names(asset: Mapping[str, Any], field: str) -> list[Any] | None:
    entries = asset.get(field)
    return [e.get("name") if isinstance(e, Mapping) else e for e in entries] if entries is not None else None


def _bands_match(asset: Mapping[str, Any], key: str) -> bool:
    """True when ``eo:bands`` and ``raster:bands`` (where present) list the table's bands of ``key`` in order.

    ``raster:bands`` entries without a name count by position only.
    """
    expected = [b.eo_name for b in SUBSYSTEMS[key]]
    eo_names, raster_names = _band_names(asset, "eo:bands"), _band_names(asset, "raster:bands")
    if raster_names is not None and len(raster_names) != len(expected):
        return False
    raster_ok = all(n in (None, e) for n, e in zip(raster_names or expected, expected, strict=True))
    return raster_ok and eo_names in (None, expected)


def _item_dict(item: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise SourceError(f"expected a STAC item dict (item.to_dict()), got {type(item).__name__}")
    return item


def _properties(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The properties of an item dict (or the mapping itself) and a label naming the item for messages."""
    props = _item_dict(obj).get("properties")
    if isinstance(props, Mapping):
        return props, f"item {obj.get('id', '<no id>')}"
    return obj, "item <properties>"
