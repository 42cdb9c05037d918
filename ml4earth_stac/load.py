"""Items + grid -> lazy, decoded xarray, one scene at a time.

Each scene is stacked with stackstac onto the AOI's grid: spectral bands with the recipe's resampling,
the SCL classification with nearest neighbour (classes must never be interpolated). The SCL is small
(uint8, one plane) and is computed at once to measure the scene's valid and cloud fractions over the
AOI; the reflectance stays lazy until the store writes it chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import stackstac
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.errors import SceneSkipped
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.rio_reader import SameCrsRioReader
from ml4earth_stac.sensors import sentinel2

SCL_BAND: Final = "SCL"


@dataclass(frozen=True)
class SceneRequest:
    """What to load of each scene and onto which grid."""

    grid: GridSpec
    bands: tuple[str, ...]
    provider: str
    resampling: str = "bilinear"
    chunk_px: int = 2048
    masked_scl_classes: tuple[int, ...] = sentinel2.DEFAULT_MASKED_SCL_CLASSES

    def asset_keys(self) -> list[str]:
        """Provider asset keys of the bands plus the SCL, in load order."""
        return [sentinel2.asset_key(b, self.provider) for b in (*self.bands, SCL_BAND)]


@dataclass(frozen=True)
class LoadedScene:
    """One decoded scene on the grid.

    Attributes:
        item_id: upstream STAC item id.
        reflectance: lazy (band, y, x) float32 surface reflectance, NaN where nodata or masked by SCL.
        scl: (y, x) uint8 scene classification on the grid (0 outside the scene).
        valid_fraction: share of grid pixels with data (SCL not 0), clouds included.
        cloud_fraction: share of the valid pixels that are cloud, cirrus or cloud shadow.
        boa_offset: the offset added after scaling (depends on the processing baseline).
    """

    item_id: str
    time: pd.Timestamp
    reflectance: xr.DataArray
    scl: np.ndarray
    valid_fraction: float
    cloud_fraction: float
    processing_baseline: str
    boa_offset: float
    platform: str


def load_scene(item: dict[str, Any], request: SceneRequest) -> LoadedScene:
    """Stack, decode and mask one prepared item (see :func:`ml4earth_stac.sources.prepare_item`).

    Raises:
        SceneSkipped: the processing baseline is unknown, or the SCL cannot be read.
    """
    properties = item["properties"]
    try:
        offset = sentinel2.reflectance_offset(properties)
        baseline = "{:02d}.{:02d}".format(*sentinel2.processing_baseline(properties))
    except Exception as exc:  # noqa: BLE001 - any metadata problem skips this scene only
        raise SceneSkipped(item["id"], "bad-metadata", str(exc)) from exc
    scl = _stack(item, [sentinel2.asset_key(SCL_BAND, request.provider)], request, "nearest", "uint8")
    try:
        # synchronous: runs in the calling thread, beside (not queued behind) the writes on the dask pool
        scl_plane = np.asarray(scl.isel(time=0, band=0).compute(scheduler="sync").values)
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for truncated/corrupt data
        raise SceneSkipped(item["id"], "asset-unreadable", f"SCL could not be read: {exc}") from exc
    dn = _stack(item, request.asset_keys()[:-1], request, request.resampling, "uint16")
    reflectance = sentinel2.decode_reflectance(dn.isel(time=0), offset)
    masked = sentinel2.scl_mask(scl_plane, request.masked_scl_classes)
    reflectance = reflectance.where(~xr.DataArray(masked, dims=("y", "x")))
    reflectance = reflectance.assign_coords(band=list(request.bands))
    return LoadedScene(
        item_id=item["id"],
        time=_naive_utc(properties["datetime"]),
        reflectance=_drop_stackstac_coords(reflectance),
        scl=scl_plane,
        valid_fraction=sentinel2.valid_fraction(scl_plane, masked_classes=(sentinel2.SCL_NODATA,)),
        cloud_fraction=sentinel2.cloud_fraction(scl_plane),
        processing_baseline=baseline,
        boa_offset=offset,
        platform=str(properties.get("platform", "")),
    )


def _stack(
    item: dict[str, Any], assets: list[str], request: SceneRequest, resampling: str, dtype: str
) -> xr.DataArray:
    grid = request.grid
    return stackstac.stack(
        [item],
        assets=assets,
        epsg=grid.epsg,
        resolution=grid.resolution,
        bounds=grid.bounds,
        chunksize=request.chunk_px,
        dtype=np.dtype(dtype),
        fill_value=np.dtype(dtype).type(0),
        rescale=False,
        resampling=Resampling[resampling],
        xy_coords="center",
        snap_bounds=False,
        properties=False,
        band_coords=False,
        reader=SameCrsRioReader,
    )


def _naive_utc(datetime: str) -> pd.Timestamp:
    """A STAC datetime as a timezone-naive UTC timestamp (what CF time coordinates hold)."""
    stamp = pd.Timestamp(datetime)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _drop_stackstac_coords(array: xr.DataArray) -> xr.DataArray:
    keep = {"band", "y", "x"}
    return array.drop_vars([c for c in array.coords if c not in keep])
