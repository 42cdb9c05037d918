"""Items + grid -> lazy, decoded xarray, one scene at a time, for any sensor with an adapter.

Each scene is stacked with stackstac onto the AOI's grid: the bands with the recipe's resampling, the
sensor's mask asset (Sentinel-2 SCL, Landsat QA_PIXEL, ...) with nearest neighbour (classes and bit
flags must never be interpolated). The mask is one plane and is computed at once to measure the scene's
valid and cloud fractions over the AOI; the bands stay lazy until the store writes them chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import stackstac
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.errors import SceneSkipped
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.rio_reader import SameCrsRioReader, band_href
from ml4earth_stac.sensors._bands import Provider
from ml4earth_stac.sensors.adapters import SensorAdapter
from ml4earth_stac.sensors.aster import BAND_INDEX_FIELD


@dataclass(frozen=True)
class SceneRequest:
    """What to load of each scene of one source and onto which grid."""

    grid: GridSpec
    adapter: SensorAdapter
    bands: tuple[str, ...]
    provider: Provider
    resampling: str = "bilinear"
    chunk_px: int = 2048

    def asset_keys(self) -> list[str]:
        """Provider asset keys of the bands, then the mask asset (once), in load order."""
        keys = [self.adapter.asset_key(b, self.provider) for b in self.bands]
        mask = self.adapter.mask_asset_key(self.provider)
        return keys if mask in keys else [*keys, mask]


@dataclass(frozen=True)
class LoadedScene:
    """One decoded scene on the grid.

    Attributes:
        item_id: upstream STAC item id.
        time: acquisition time (UTC, naive).
        data: lazy (band, y, x) float32 physical values, NaN where nodata or masked.
        mask_plane: (y, x) the sensor's mask asset on the grid (SCL, QA_PIXEL, ...).
        valid_fraction: share of grid pixels with data, clouds included.
        cloud_fraction: share of the valid pixels that are cloud, cirrus or cloud shadow.
        facts: per-scene facts of the sensor (e.g. processing baseline and BOA offset).
    """

    item_id: str
    time: pd.Timestamp
    data: xr.DataArray
    mask_plane: np.ndarray
    valid_fraction: float
    cloud_fraction: float
    platform: str
    facts: Mapping[str, Any] = field(default_factory=dict)


def load_scene(item: dict[str, Any], request: SceneRequest) -> LoadedScene:
    """Stack, decode and mask one prepared item (see :func:`ml4earth_stac.sources.prepare_item`).

    Raises:
        SceneSkipped: the item's metadata cannot be decoded, or the mask asset cannot be read.
    """
    adapter, properties = request.adapter, item["properties"]
    try:
        facts = adapter.scene_facts(properties)
    except Exception as exc:  # noqa: BLE001 - any metadata problem skips this scene only
        raise SceneSkipped(item["id"], "bad-metadata", str(exc)) from exc
    mask_key = adapter.mask_asset_key(request.provider)
    band_keys = [adapter.asset_key(b, request.provider) for b in request.bands]
    # A mask asset that is also a band (SAR: the co-polarisation) is read once, as a band, and reused.
    mask_is_band = mask_key in band_keys and adapter.mask_variable is None
    if mask_is_band:
        mask = _stack(item, [mask_key], request, request.resampling, adapter.raw_dtype)
    else:
        mask = _stack(item, [mask_key], request, "nearest", adapter.mask_dtype, adapter.mask_fill)
    try:
        # synchronous: runs in the calling thread, beside (not queued behind) the writes on the dask pool
        mask_read = mask.isel(time=0).compute(scheduler="sync")
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for truncated/corrupt data
        raise SceneSkipped(item["id"], "asset-unreadable", f"{mask_key} could not be read: {exc}") from exc
    mask_plane = np.asarray(mask_read.isel(band=0).values)
    others = [key for key in band_keys if not (mask_is_band and key == mask_key)]
    raw = (
        _stack(item, others, request, request.resampling, adapter.raw_dtype).isel(time=0) if others else None
    )
    if mask_is_band:
        pieces = [mask_read if key == mask_key else raw.isel(band=[others.index(key)]) for key in band_keys]
        raw = xr.concat(pieces, dim="band", coords="minimal", compat="override")
    data = adapter.decode(raw, facts)
    data = data.where(~xr.DataArray(adapter.masked(mask_plane), dims=("y", "x")))
    valid, cloudy = adapter.fractions(mask_plane)
    return LoadedScene(
        item_id=item["id"],
        time=_naive_utc(properties["datetime"]),
        data=_drop_stackstac_coords(data.assign_coords(band=list(request.bands))),
        mask_plane=mask_plane,
        valid_fraction=valid,
        cloud_fraction=cloudy,
        platform=str(properties.get("platform", "")),
        facts=facts,
    )


def _stack(
    item: dict[str, Any],
    assets: list[str],
    request: SceneRequest,
    resampling: str,
    dtype: str,
    fill: float | None = None,
) -> xr.DataArray:
    grid = request.grid
    kind = np.dtype(dtype)
    if fill is None:
        fill = np.nan if kind.kind == "f" else 0
    return stackstac.stack(
        [_band_marked(item, assets)],
        assets=assets,
        epsg=grid.epsg,
        resolution=grid.resolution,
        bounds=grid.bounds,
        chunksize=request.chunk_px,
        dtype=kind,
        fill_value=kind.type(fill),
        rescale=False,
        resampling=Resampling[resampling],
        xy_coords="center",
        snap_bounds=False,
        properties=False,
        band_coords=False,
        reader=SameCrsRioReader,
    )


def _band_marked(item: dict[str, Any], assets: list[str]) -> dict[str, Any]:
    """The item with the hrefs of virtual one-band assets (``ml4earth:band_index``) marked for the reader."""
    marked = {
        key: {**asset, "href": band_href(str(asset["href"]), int(asset[BAND_INDEX_FIELD]))}
        for key, asset in item["assets"].items()
        if key in assets and BAND_INDEX_FIELD in asset
    }
    return {**item, "assets": {**item["assets"], **marked}} if marked else item


def _naive_utc(datetime: str) -> pd.Timestamp:
    """A STAC datetime as a timezone-naive UTC timestamp (what CF time coordinates hold)."""
    stamp = pd.Timestamp(datetime)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _drop_stackstac_coords(array: xr.DataArray) -> xr.DataArray:
    keep = {"band", "y", "x"}
    return array.drop_vars([c for c in array.coords if c not in keep])
