"""ASTER L1T (Planetary Computer ``aster-l1t``): band table, gains, DN -> radiance -> TOA reflectance.

Facts: ``shared/SENSORS.md`` section 4 (layout, UCC and ESUN tables, SWIR failure), ``shared/STACK-NOTES.md``.
PC serves a scene as three multi-band COGs, ``VNIR`` (bands 1, 2, 3N; uint8; 15 m), ``SWIR`` (4-9; uint8;
30 m) and ``TIR`` (10-14; uint16; 90 m), nodata 0, with no gain or scale in STAC: the gains are only in the
``xml`` asset (ECS ``.hdf.xml``, PSA ``ASTERGains``; see ``parse_gains``).

Multi-band assets, a deliberate decision: stackstac 0.5.1 rejects assets with several ``raster:bands`` and
files with several bands; odc-stac reads ``VNIR.1``... ``split_multiband_item`` adds one virtual asset per
band, keyed by band name (``B01``, ``B3N``, ``B14``), with the parent's href, the band's own ``eo:bands`` and
``raster:bands`` entry and its 1-based index in ``ml4earth:band_index``. A reader opens that band with
rasterio ``read(indexes=i)`` or as GDAL's ``vrt://<path>?bands=<i>`` (``vrt:///vsicurl/https://...`` for
http), a 1-band dataset as stackstac's reader requires (checked with rasterio, not yet through stackstac).
GDAL cuts a vrt:// string at its first ``?``: a signed href (query string) cannot be wrapped that way.
The multi-band assets stay for odc-stac.

Pixel functions take numpy, dask or xarray input; dask-backed input stays lazy.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar, get_args

import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS, Provider

ArrayT = TypeVar("ArrayT")
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
_GAINS_PSA: Final = "ASTERGains"
_PC_COLLECTION: Final = "aster-l1t"


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


def parse_gains(xml_text: str, source: str = "ASTER .hdf.xml") -> dict[str, Gain]:
    """Band name -> gain (``{"B01": "HGH", ..., "B3N": "NOR"}``) from the ECS ``.hdf.xml`` (``xml`` asset).

    Reads the PSA ``ASTERGains``, e.g. ``"01 HGH, 02 HGH, 3N NOR, 04 NOR, ..., 09 NOR"``. TIR bands have a
    single gain and are not listed; 3B (not in L1T) is skipped.

    Args:
        xml_text: the text of the ``.hdf.xml`` file.
        source: what to call the file in error messages (its href or the item id).

    Raises:
        SourceError: the XML is not parsable, has no ``ASTERGains`` PSA, or lists an unknown gain code.
    """
    value = _psa_value(_parse_xml(xml_text, source), _GAINS_PSA, source)
    gains: dict[str, Gain] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        tokens = entry.split()
        if len(tokens) != 2 or tokens[1] not in GAINS:
            raise SourceError(
                f"{source}: {_GAINS_PSA} entry {entry!r} is not '<band> <gain>' with a gain in "
                f"{', '.join(GAINS)}; check the file or decode this scene with explicit gains"
            )
        if tokens[0].upper() != "3B":
            gains[band(tokens[0].lstrip("0")).name] = tokens[1]  # type: ignore[assignment]
    return gains


def parse_acquisition_datetime(xml_text: str, source: str = "ASTER .hdf.xml") -> dt.datetime:
    """The UTC acquisition time in an ECS ``.hdf.xml`` (``SingleDateTime``); SourceError if it has none."""
    root = _parse_xml(xml_text, source)
    date = root.findtext(".//SingleDateTime/CalendarDate")
    time = root.findtext(".//SingleDateTime/TimeofDay") or "00:00:00"
    try:
        return dt.datetime.fromisoformat(f"{date.strip()}T{time.strip()}").replace(tzinfo=dt.UTC)  # type: ignore[union-attr]
    except (AttributeError, ValueError) as exc:
        raise SourceError(
            f"{source}: no valid SingleDateTime/CalendarDate (found {date!r}); use the item's datetime"
        ) from exc


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


def _as_utc_date(value: dt.datetime | dt.date | str, field: str) -> dt.date:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise SourceError(f"{field} {value!r} is not ISO 8601; use e.g. 2006-12-27T01:36:47Z") from exc
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    raise SourceError(f"{field} {value!r} is not a date, datetime or ISO 8601 string")


def _parse_xml(xml_text: str, source: str) -> ET.Element:
    try:
        return ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise SourceError(f"{source}: not parsable XML ({exc}); fetch the item's xml asset again") from exc


def _psa_value(root: ET.Element, name: str, source: str) -> str:
    for psa in root.iter("PSA"):
        if (psa.findtext("PSAName") or "").strip() == name:
            return psa.findtext("PSAValue") or ""
    raise SourceError(
        f"{source}: no PSA {name!r} in the ECS metadata; use the item's xml asset (.hdf.xml), which lists it"
    )
