"""Raster labels (COG/GeoTIFF in any CRS) -> an array on a :class:`~ml4earth_stac.grid.GridSpec`.

The label is warped onto the grid with a GDAL ``WarpedVRT``: every grid pixel takes the value of the
source pixel under its centre (``nearest``, the right choice for classes) or a resampled value. Grid
pixels outside the source, or over source nodata, get the fill value.

Remote URLs are opened as given (GDAL ``/vsicurl``); checking a remote href against the allowed
schemes and hosts is the caller's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import GridSpec

CLASS_RESAMPLINGS: Final = ("nearest", "mode")
DEFAULT_FILL: Final = 0


def read_raster_label(
    path_or_url: str | Path,
    grid: GridSpec,
    resampling: str = "nearest",
    *,
    band: int = 1,
    fill: float | None = None,
) -> np.ndarray:
    """Read one band of a raster label onto a grid.

    Args:
        path_or_url: a local path or a GDAL-readable URL of a GeoTIFF/COG with a CRS.
        grid: the target grid.
        resampling: a :class:`rasterio.enums.Resampling` name; use ``"nearest"`` or ``"mode"`` for classes.
        band: the 1-based band to read.
        fill: value of pixels outside the source or over its nodata; default: the source's nodata value,
            else 0.

    Returns:
        An array of ``grid.shape`` in the source band's dtype.

    Raises:
        LabelError: the file cannot be opened or read, has no CRS, lacks the band, the resampling name is
            unknown, or ``fill`` does not fit the band's dtype (the path is named).
    """
    method = _resampling(resampling)
    try:
        with rasterio.open(path_or_url) as src:
            _check_source(src, path_or_url, band)
            dtype = np.dtype(src.dtypes[band - 1])
            out_fill = _out_fill(fill, src.nodatavals[band - 1], dtype, path_or_url)
            height, width = grid.shape
            with WarpedVRT(
                src,
                crs=grid.crs,
                transform=Affine(*grid.transform),
                width=width,
                height=height,
                resampling=method,
                nodata=out_fill,
            ) as vrt:
                return vrt.read(band, out_dtype=dtype)
    except rasterio.errors.RasterioError as exc:
        detail = f"{exc}: {exc.__cause__}" if exc.__cause__ is not None else str(exc)
        raise LabelError(
            f"raster label {path_or_url} cannot be read ({detail}); check the path/URL and that it is a "
            "complete GeoTIFF/COG"
        ) from exc


def _resampling(name: str) -> Resampling:
    try:
        return Resampling[name]
    except KeyError:
        known = [m.name for m in Resampling]
        for_classes = " or ".join(CLASS_RESAMPLINGS)
        message = f"resampling {name!r} is unknown; use one of {known} ({for_classes} for classes)"
        raise LabelError(message) from None


def _check_source(src: rasterio.DatasetReader, path_or_url: str | Path, band: int) -> None:
    if src.crs is None:
        raise LabelError(
            f"raster label {path_or_url} has no CRS; assign one (e.g. `gdal_edit.py -a_srs EPSG:<code>`)"
        )
    if not 1 <= band <= src.count:
        raise LabelError(
            f"raster label {path_or_url} has {src.count} band(s), no band {band}; pick 1-{src.count}"
        )


def _out_fill(
    fill: float | None, source_nodata: float | None, dtype: np.dtype, path_or_url: str | Path
) -> float:
    value = fill if fill is not None else (source_nodata if source_nodata is not None else DEFAULT_FILL)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not (float(value).is_integer() and info.min <= value <= info.max):
            raise LabelError(
                f"fill value {value} does not fit the {dtype} band of raster label {path_or_url}; "
                f"pass fill= an integer {info.min}..{info.max}"
            )
    return value
