"""Sentinel-1: polarisation assets, RTC gamma0 in dB, GRD DN calibration and GCP warping (pure functions).

Facts and sources: ``shared/SENSORS.md`` section 3 (PC ``sentinel-1-rtc``, PC/ES ``sentinel-1-grd``) and
section 6 (mistakes 7, 8 and 9: loading GRD as if georeferenced, trusting item proj metadata of reprocessed
RTC, averaging SAR in dB).

Two products, two very different things:

- **RTC** (PC ``sentinel-1-rtc``): terrain-flattened gamma0, **linear power**, float32, nodata -32768, on a
  north-up UTM grid. Average, resample and aggregate in linear power; convert to dB with ``to_db`` last,
  for display or thresholds only (SENSORS.md 6, mistake 9). The AWS/Indigo RTC tiles (stactools
  ``sentinel1-rtc-aws``) are also linear gamma0 but use asset keys ``gamma0_vv``... and nodata 0.
- **GRD** (PC and ES ``sentinel-1-grd``): detected **amplitude** DN, uint16, 0 = no data, in radar
  geometry: a grid of GCPs in EPSG:4326 and no geotransform. The ``proj:epsg 4326`` + ``proj:transform``
  that stactools/Earth Search publish are derived from the bbox and are not a georeference
  (``has_valid_georeference`` says so); GRD is always warped by its GCPs (``warp_grd_to_grid``).

Limits of GRD handled here (``calibrate_grd`` + ``warp_grd_to_grid``), to be stated wherever GRD-derived
values are published:

- no terrain correction: foreshortening and layover remain, with a terrain modulation of about +-5 dB on
  fjord walls and valley sides (use RTC where terrain matters);
- geolocation from the GCPs only (ellipsoid + coarse height): errors of tens of metres in steep terrain;
- no thermal noise removal unless the noise LUT (``schema-noise-*``) is given as ``noise_power``;
- one calibration constant instead of the ``sigmaNought`` LUT of ``schema-calibration-*`` (interpolated
  per pixel) is an approximation; pass the interpolated LUT as an array for exact sigma0.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, TypeVar, get_args
from urllib.parse import urlsplit

import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.warp import calculate_default_transform, reproject

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors._bands import Provider

ArrayT = TypeVar("ArrayT")
Polarisation = Literal["vv", "vh", "hh", "hv"]
"""Polarisation as written in asset keys: transmit then receive, lower case."""
ProductKind = Literal["rtc", "grd"]


@dataclass(frozen=True)
class PolarisationInfo:
    """One Sentinel-1 polarisation and its asset key (the same on PC RTC, PC GRD and ES GRD).

    Attributes:
        name: the ``sar:polarizations`` value (``VV``...).
        asset_key: the asset key in PC and Earth Search items (``vv``...).
        transmit: transmitted polarisation (``V`` or ``H``).
        receive: received polarisation (``V`` or ``H``).
    """

    name: str
    asset_key: Polarisation
    transmit: str
    receive: str


POLARISATIONS: Final[tuple[PolarisationInfo, ...]] = tuple(
    PolarisationInfo(key.upper(), key, key[0].upper(), key[1].upper()) for key in get_args(Polarisation)
)
POLARISATIONS_BY_KEY: Final[Mapping[str, PolarisationInfo]] = MappingProxyType(
    {pol.asset_key: pol for pol in POLARISATIONS}
)
AWS_RTC_ASSET_PREFIX: Final = "gamma0_"
"""The AWS/Indigo RTC tiles (stactools ``sentinel1-rtc-aws``) name assets ``gamma0_vv``..."""

RTC_COLLECTIONS: Final = ("sentinel-1-rtc", "sentinel1-rtc-aws")
GRD_COLLECTIONS: Final = ("sentinel-1-grd", "sentinel1-grd")
RTC_ID_SUFFIX: Final = "_rtc"
RTC_NODATA: Final = -32768.0
"""PC RTC ``raster:bands`` nodata (float32 gamma0, linear power)."""
RTC_DTYPE: Final = "float32"
GRD_NODATA: Final = 0
"""GRD amplitude DN no-data value (uint16)."""
GRD_DTYPE: Final = "uint16"
DEFAULT_FLOOR_DB: Final = -30.0
"""Below the VH noise floor of calm water (about -30 dB, SENSORS.md 3.3): values under it are clipped."""
DB_UNITS: Final = "dB"
LINEAR_UNITS: Final = "1"

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


@dataclass(frozen=True)
class GcpGeoreference:
    """The GCPs of a GRD raster in radar geometry.

    Attributes:
        gcps: the ground control points (row/col in the raster, x/y/z in ``crs``).
        crs: the CRS of the GCPs (EPSG:4326 for ESA GRD).
        width: raster width in pixels.
        height: raster height in pixels.
    """

    gcps: tuple[GroundControlPoint, ...]
    crs: CRS
    width: int
    height: int


class WarpedGrd(NamedTuple):
    """A GRD band warped to a north-up grid: DN array (uint16, 0 = no data), its transform and CRS."""

    array: np.ndarray
    transform: Affine
    crs: CRS


def grd_gcps(source: str | os.PathLike[str] | DatasetReader) -> GcpGeoreference:
    """The GCPs and GCP CRS of a GRD measurement raster (a path or an open rasterio dataset).

    Raises:
        LoadError: the file cannot be opened, or has no GCPs (it is not a radar-geometry GRD raster).
    """
    if isinstance(source, DatasetReader):
        return _gcps_of(source)
    with _open(source) as dataset:
        return _gcps_of(dataset)


def warp_grd_to_grid(
    src_path: str | os.PathLike[str],
    dst_crs: Any,
    resolution: float | tuple[float, float],
    resampling: Resampling = Resampling.nearest,
) -> WarpedGrd:
    """Warp band 1 of a GRD raster with its GCPs onto a north-up grid (EPSG:4326 or a UTM zone).

    GDAL's GCP transformer (polynomial fit of the GCP grid) maps radar rows/cols to ``dst_crs``; the
    output array is the only thing held in memory (GDAL warps the source in chunks). DN stay amplitude:
    keep ``nearest`` or ``calibrate_grd`` first and resample power, not DN or dB (SENSORS.md 6, mistake 9).
    See the module docstring for the limits of GRD geolocation (GCPs only, no terrain correction).

    Args:
        src_path: the GRD measurement GeoTIFF (``measurement/*-vh.tiff``...).
        dst_crs: anything ``CRS.from_user_input`` takes (``"EPSG:4326"``, ``32633``...).
        resolution: pixel size in ``dst_crs`` units (degrees for EPSG:4326), one value or ``(x, y)``.
        resampling: rasterio resampling; nearest keeps the DN values.

    Raises:
        LoadError: unreadable file, no GCPs, unknown ``dst_crs`` or a bad resolution.
    """
    crs, res = _dst_crs(dst_crs), _resolution(resolution)
    with _open(src_path) as dataset:
        geo = _gcps_of(dataset)
        transform, width, height = calculate_default_transform(
            geo.crs, crs, geo.width, geo.height, gcps=list(geo.gcps), resolution=res
        )
        array = np.full((height, width), GRD_NODATA, dtype=np.uint16)
        reproject(
            rasterio.band(dataset, 1),
            array,
            gcps=list(geo.gcps),
            src_crs=geo.crs,
            src_nodata=GRD_NODATA,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=GRD_NODATA,
            resampling=resampling,
        )
    return WarpedGrd(array, transform, crs)


def _gcps_of(dataset: DatasetReader) -> GcpGeoreference:
    gcps, crs = dataset.gcps
    if not gcps or crs is None:
        raise LoadError(
            f"{dataset.name}: no GCPs (crs {dataset.crs}); a Sentinel-1 GRD measurement raster carries "
            f"its georeference as GCPs; read an already georeferenced raster with its own transform"
        )
    return GcpGeoreference(tuple(gcps), crs, dataset.width, dataset.height)


def _open(path: str | os.PathLike[str]) -> DatasetReader:
    try:
        return rasterio.open(path)
    except RasterioIOError as error:
        raise LoadError(f"{path}: cannot open the GRD raster ({error}); check the path or href") from error


def _dst_crs(value: Any) -> CRS:
    try:
        return CRS.from_user_input(value)
    except (CRSError, ValueError, TypeError) as error:
        raise LoadError(
            f"target CRS {value!r} is unknown ({error}); use e.g. 'EPSG:4326' or 'EPSG:32633'"
        ) from error


def _resolution(value: float | tuple[float, float]) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, int | float) else value
    numbers = [v for v in pair if isinstance(v, int | float)] if isinstance(pair, Sequence) else []
    if len(numbers) != 2 or not all(math.isfinite(v) and v > 0 for v in numbers):
        raise LoadError(f"resolution {value!r} must be one or two positive numbers in target CRS units")
    return float(pair[0]), float(pair[1])


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
