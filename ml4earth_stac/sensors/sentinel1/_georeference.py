"""Sentinel-1 GRD georeference: the GCPs of a radar-geometry raster and warping it onto a north-up grid."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.warp import calculate_default_transform, reproject

from ml4earth_stac.errors import LoadError
from ml4earth_stac.sensors.sentinel1._constants import GRD_NODATA


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
    See the package docstring for the limits of GRD geolocation (GCPs only, no terrain correction).

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
