"""Writing the archive rasters as Cloud-Optimized GeoTIFFs (GDAL COG driver through rasterio)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from ml4earth_stac.errors import ArchiveError

COG_MEDIA_TYPE: Final = "image/tiff; application=geotiff; profile=cloud-optimized"


def write_cog(
    path: Path,
    data: np.ndarray,
    transform: list[float],
    epsg: int,
    nodata: float | None,
    resampling: str = "average",
) -> None:
    """Write a deflate-compressed COG with internal overviews, atomically (temp file, then rename).

    Args:
        path: destination ``.tif``.
        data: (rows, cols) or (bands, rows, cols) array, uint8, uint16 or float32.
        transform: the 6 affine coefficients ``[a, b, c, d, e, f]``.
        epsg: EPSG code of the CRS.
        nodata: nodata value or None.
        resampling: overview resampling (``average`` for reflectance, ``nearest`` for classes).

    Raises:
        ArchiveError: when GDAL cannot write the file.
    """
    arr = data[None] if data.ndim == 2 else data
    count, rows, cols = arr.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    profile = {
        "driver": "COG",
        "width": cols,
        "height": rows,
        "count": count,
        "dtype": arr.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": Affine(*transform),
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if arr.dtype.kind == "f" else 2,
        "level": 6,
        "num_threads": "ALL_CPUS",
        "blocksize": 512 if max(rows, cols) >= 2048 else 256,
        "overview_resampling": resampling,
    }
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(arr)
        os.replace(tmp, path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(
            f"cannot write COG {path}: {exc}. Check free disk space and write permission."
        ) from exc
