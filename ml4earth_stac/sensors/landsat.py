"""Landsat Collection 2 Level-2: band tables, asset keys, SR/ST decoding, QA_PIXEL and QA_RADSAT masks.

Facts and sources: ``shared/SENSORS.md`` section 2 (bands, scale/offset/fill, QA bits, SLC-off) and section 6
(the usual decoding mistakes this module guards against: Collection-1 scaling on C2 data (#5), Collection-1
QA bits or trusting the ``clear`` bit to exclude shadows (#6), fill values treated as data (#10)).

Bands have sensor-neutral names (``red``, ``nir08``, ``lwir11``...) that are also their asset keys on
Planetary Computer, Earth Search and current USGS items; the instrument band number differs by sensor
(``red`` is B4 on OLI, B3 on TM/ETM+). Every array function works on numpy arrays, dask arrays and xarray
DataArrays; dask-backed input stays lazy (decoding, masks) or is reduced chunk by chunk (the fractions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar, get_args
from urllib.parse import urlsplit

import dask
import numpy as np
import xarray as xr

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS
from ml4earth_stac.sensors._metadata import properties_and_label

ArrayT = TypeVar("ArrayT")
Provider = Literal["planetary-computer", "earth-search", "usgs"]
PROVIDERS: Final[tuple[Provider, ...]] = get_args(Provider)
Instrument = Literal["oli-tirs", "etm+", "tm"]
BandKind = Literal["reflectance", "temperature"]
TEMPERATURE_UNITS: Final = "K"


@dataclass(frozen=True)
class LandsatBand:
    """One Level-2 band of a Landsat instrument.

    Attributes:
        name: sensor-neutral name, also the asset key on PC, ES and current USGS items (``red``, ``lwir11``).
        number: the instrument band number (``B4`` for red on OLI, ``B3`` on TM/ETM+).
        file_suffix: the USGS file name suffix (``_SR_B4.TIF``).
        common_name: the STAC ``eo`` common name as PC writes it.
        center_wavelength: centre wavelength of this instrument's band in micrometres.
        gsd: native ground sample distance in metres (thermal bands are delivered resampled to 30 m).
        kind: ``"reflectance"`` (SR) or ``"temperature"`` (ST).
    """

    name: str
    number: str
    file_suffix: str
    common_name: str
    center_wavelength: float
    gsd: float
    kind: BandKind = "reflectance"

    @property
    def units(self) -> str:
        """``"1"`` for reflectance, ``"K"`` for surface temperature."""
        return REFLECTANCE_UNITS if self.kind == "reflectance" else TEMPERATURE_UNITS

    @property
    def legacy_usgs_key(self) -> str:
        """The asset key of this band in legacy (STAC 0.7) USGS items, e.g. ``SR_B4.TIF``."""
        return self.file_suffix.lstrip("_")


def _sr(name: str, number: str, wavelength: float) -> LandsatBand:
    return LandsatBand(name, number, f"_SR_{number}.TIF", name, wavelength, 30.0)


def _st(name: str, number: str, wavelength: float, gsd: float) -> LandsatBand:
    return LandsatBand(name, number, f"_ST_{number}.TIF", name, wavelength, gsd, "temperature")


# fmt: off
OLI_TIRS_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("coastal", "B1", 0.44), _sr("blue", "B2", 0.48), _sr("green", "B3", 0.56), _sr("red", "B4", 0.65),
    _sr("nir08", "B5", 0.87),  # USGS items say 0.86
    _sr("swir16", "B6", 1.61), _sr("swir22", "B7", 2.20), _st("lwir11", "B10", 10.9, 100.0),
)
"""Landsat 8/9 Level-2 bands (B8 pan, B9 cirrus and B11 are not in Level-2)."""
TM_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("blue", "B1", 0.49), _sr("green", "B2", 0.56), _sr("red", "B3", 0.66), _sr("nir08", "B4", 0.83),
    _sr("swir16", "B5", 1.65), _sr("swir22", "B7", 2.22), _st("lwir", "B6", 11.45, 120.0),
)
"""Landsat 4/5 TM Level-2 bands: no coastal band, thermal is ``lwir`` (not ``lwir11``)."""
ETM_BANDS: Final[tuple[LandsatBand, ...]] = (
    _sr("blue", "B1", 0.48), _sr("green", "B2", 0.56), _sr("red", "B3", 0.66), _sr("nir08", "B4", 0.84),
    _sr("swir16", "B5", 1.65), _sr("swir22", "B7", 2.20), _st("lwir", "B6", 11.34, 60.0),
)
"""Landsat 7 ETM+ Level-2 bands (USGS items write OLI-like 0.86 and 1.6 for nir08/swir16)."""
# fmt: on

INSTRUMENTS: Final[Mapping[int, Instrument]] = MappingProxyType(
    {4: "tm", 5: "tm", 7: "etm+", 8: "oli-tirs", 9: "oli-tirs"}
)
BANDS_BY_INSTRUMENT: Final[Mapping[Instrument, tuple[LandsatBand, ...]]] = MappingProxyType(
    {"oli-tirs": OLI_TIRS_BANDS, "tm": TM_BANDS, "etm+": ETM_BANDS}
)
NON_SPECTRAL_ASSET_KEYS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "qa_pixel": ("qa_pixel", "QA_PIXEL.TIF"),
        "qa_radsat": ("qa_radsat", "QA_RADSAT.TIF"),
        "qa_aerosol": ("qa_aerosol", "SR_QA_AEROSOL.TIF"),  # OLI only
        "mtl.json": ("mtl.json", "MTL.json"),  # USGS items spell it MTL.json
    }
)
"""Asset name -> (PC/ES key, USGS key); current USGS items use the PC key for the QA assets."""

SR_SCALE: Final = 2.75e-05
SR_OFFSET: Final = -0.2
ST_SCALE: Final = 0.00341802
ST_OFFSET: Final = 149.0
NODATA_DN: Final = 0
"""Fill of the SR and ST bands."""
QA_FILL: Final = 1
"""QA_PIXEL value of fill pixels (only bit 0 set)."""

# fmt: off
QA_PIXEL_FLAGS: Final[Mapping[str, int]] = MappingProxyType({
    "fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5, "clear": 6,
    "water": 7,
})
# fmt: on
"""One-bit QA_PIXEL flags -> bit. ``cirrus`` is always 0 on TM/ETM+. ``clear`` only means that the cloud and
dilated-cloud bits are 0: it does NOT exclude shadow, snow or water (value 23888 = shadow + clear)."""
QA_PIXEL_CONFIDENCES: Final[Mapping[str, int]] = MappingProxyType(
    {"cloud": 8, "cloud_shadow": 10, "snow": 12, "cirrus": 14}
)
"""Two-bit confidences -> lowest bit: ``(qa >> bit) & 3`` is 0 none, 1 low, 2 medium (cloud only), 3 high."""
DEFAULT_MASKED_FLAGS: Final = ("fill", "dilated_cloud", "cloud", "cloud_shadow", "cirrus")
"""What ``qa_mask`` masks by default. Snow/ice and water are kept: glaciers and fjords are targets."""
CLOUD_FLAGS: Final = ("dilated_cloud", "cloud", "cloud_shadow", "cirrus")

# fmt: off
QA_RADSAT_BITS: Final[Mapping[Instrument, Mapping[str, int]]] = MappingProxyType({
    "oli-tirs": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6": 5, "B7": 6, "B9": 8,
                                  "terrain_occlusion": 11}),
    "tm": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6": 5, "B7": 6,
                            "dropped_pixel": 9}),
    "etm+": MappingProxyType({"B1": 0, "B2": 1, "B3": 2, "B4": 3, "B5": 4, "B6L": 5, "B7": 6, "B6H": 8,
                              "dropped_pixel": 9}),
})
# fmt: on
"""QA_RADSAT bit per instrument band (saturated) and per non-saturation flag."""
RADSAT_FLAGS: Final = ("dropped_pixel", "terrain_occlusion")
_SATURATION_BITS: Final = (0, 1, 2, 3, 4, 5, 6, 8)
"""Saturation bits of every instrument (OLI B1-7 and B9; TM B1-7; ETM+ B1-5, B6L, B7, B6H)."""

SLC_FAILURE_DATE: Final = date(2003, 5, 31)
PLATFORM_FIELDS: Final = ("platform", "eo:platform")
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


def _keys_of(band: LandsatBand) -> tuple[str, str]:
    return band.name, band.legacy_usgs_key


def _properties(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    return properties_and_label(obj, "landsat:scene_id")
