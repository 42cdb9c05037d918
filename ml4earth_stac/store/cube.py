"""The cube store: one Zarr v3 store per benchmark, one group per AOI and sensor.

Layout (the contract the STAC assets and every reader rely on)::

    cube.zarr/<aoi>/<sensor>/
        reflectance  (time, band, y, x) float32, NaN = nodata or masked, physical surface reflectance
        scl          (time, y, x)       uint8, Sentinel-2 scene classification on the grid, 0 = nodata
        time, band, y, x, spatial_ref   coordinates (CF grid mapping, pixel centres)
        item_id, processing_baseline, boa_offset, platform, valid_fraction, cloud_fraction  per time

Chunks are (1, 1, chunk_px, chunk_px) inside shards of (1, 1, shard_px, shard_px); dask chunks equal
whole shards. Scenes are appended one at a time so memory is bounded by one scene's dask chunks and
never grows with the number of scenes. A scene whose write fails is rolled back (every time-indexed
array is resized to its previous length), so the store never holds a half-written scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import xarray as xr
import zarr
import zarr.codecs

from ml4earth_stac.errors import SceneSkipped, StoreError
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.load import LoadedScene
from ml4earth_stac.sensors import sentinel2

COMPRESSOR: Final = zarr.codecs.BloscCodec(
    cname="zstd", clevel=3, shuffle=zarr.codecs.BloscShuffle.bitshuffle
)


@dataclass(frozen=True)
class CubeLayout:
    """Where one AOI/sensor group lives and how it is chunked."""

    store: Path
    aoi: str
    sensor: str
    grid: GridSpec
    chunk_px: int
    shard_px: int

    @property
    def group(self) -> str:
        """The Zarr group path, ``<aoi>/<sensor>``."""
        return f"{self.aoi}/{self.sensor}"


class CubeWriter:
    """Appends decoded scenes to one AOI/sensor group of a cube store."""

    def __init__(self, layout: CubeLayout) -> None:
        self.layout = layout
        self.times_written = 0

    def append(self, scene: LoadedScene) -> None:
        """Write one scene as the next time step.

        Raises:
            SceneSkipped: reading the scene's pixels failed (e.g. a truncated COG); the partial write
                has been rolled back and the store is as before.
        """
        dataset = scene_dataset(scene, self.layout)
        first = self.times_written == 0
        try:
            dataset.to_zarr(
                self.layout.store,
                group=self.layout.group,
                mode="w-" if first else "a",
                append_dim=None if first else "time",
                encoding=self._encoding(dataset) if first else None,
                consolidated=False,
                zarr_format=3,
            )
        except Exception as exc:  # noqa: BLE001 - GDAL/zarr raise many types; the scene is skipped
            self._roll_back()
            # stackstac's readers say "Error opening" when an asset cannot be opened at all (404, not a TIFF)
            reason = "asset-unreadable" if "Error opening" in str(exc) else "read-failed"
            raise SceneSkipped(scene.item_id, reason, f"pixels could not be read or written: {exc}") from exc
        self.times_written += 1

    def _encoding(self, dataset: xr.Dataset) -> dict[str, dict[str, Any]]:
        chunk, shard = self.layout.chunk_px, self.layout.shard_px
        encoding: dict[str, dict[str, Any]] = {
            "reflectance": {
                "chunks": (1, 1, chunk, chunk),
                "shards": (1, 1, shard, shard),
                "compressors": (COMPRESSOR,),
                "_FillValue": np.float32("nan"),
            },
            "scl": {
                "chunks": (1, chunk, chunk),
                "shards": (1, shard, shard),
                "compressors": (COMPRESSOR,),
            },  # 0 = nodata is a class (flag_values), not masked
            "time": {
                "units": "seconds since 1970-01-01",
                "calendar": "proleptic_gregorian",
                "dtype": "int64",
            },
        }
        return encoding

    def _roll_back(self) -> None:
        if self.times_written == 0:
            _remove_group(self.layout)
            return
        group = zarr.open_group(self.layout.store, path=self.layout.group, mode="r+")
        for _, array in group.arrays():
            dims = array.metadata.dimension_names or ()
            if dims and dims[0] == "time" and array.shape[0] > self.times_written:
                array.resize((self.times_written, *array.shape[1:]))


def scene_dataset(scene: LoadedScene, layout: CubeLayout) -> xr.Dataset:
    """The one-time-step Dataset of a scene, with CF/GeoZarr metadata, as the store contract says."""
    grid = layout.grid
    shard = {"band": 1, "y": layout.shard_px, "x": layout.shard_px}
    reflectance = scene.reflectance.astype("float32").chunk(shard).expand_dims(time=[scene.time])
    reflectance = reflectance.assign_coords(band=np.array(reflectance["band"].values, dtype=object))
    scl = xr.DataArray(scene.scl[np.newaxis], dims=("time", "y", "x")).chunk(
        {"y": layout.shard_px, "x": layout.shard_px}
    )
    dataset = xr.Dataset(
        {"reflectance": reflectance, "scl": scl},
        coords={
            "time": [scene.time],
            "y": np.asarray(grid.y_coords()),
            "x": np.asarray(grid.x_coords()),
            "item_id": ("time", np.array([scene.item_id], dtype=object)),
            "processing_baseline": ("time", np.array([scene.processing_baseline], dtype=object)),
            "platform": ("time", np.array([scene.platform], dtype=object)),
            "boa_offset": ("time", np.array([scene.boa_offset], dtype="float32")),
            "valid_fraction": ("time", np.array([scene.valid_fraction], dtype="float32")),
            "cloud_fraction": ("time", np.array([scene.cloud_fraction], dtype="float32")),
        },
    )
    dataset = _with_band_metadata(dataset)
    return _with_crs(dataset, grid, layout)


def _with_band_metadata(dataset: xr.Dataset) -> xr.Dataset:
    table = {band.name: band for band in sentinel2.BANDS}
    names = [str(b) for b in dataset["band"].values]
    dataset = dataset.assign_coords(
        common_name=("band", np.array([table[n].common_name or "" for n in names], dtype=object)),
        center_wavelength=("band", np.array([table[n].center_wavelength for n in names], dtype="float32")),
        full_width_half_max=(
            "band",
            np.array([table[n].full_width_half_max for n in names], dtype="float32"),
        ),
    )
    dataset["center_wavelength"].attrs["units"] = "um"
    dataset["full_width_half_max"].attrs["units"] = "um"
    dataset["reflectance"].attrs.update(
        long_name="surface reflectance (BOA), scale and offset applied, cloud-masked from SCL",
        units="1",
        grid_mapping="spatial_ref",
    )
    dataset["scl"].attrs.update(
        long_name="Sentinel-2 scene classification (SCL), nearest-neighbour on the grid",
        flag_values=list(sentinel2.SCL_CLASSES),
        flag_meanings=" ".join(v.replace(" ", "_").replace(",", "") for v in sentinel2.SCL_CLASSES.values()),
        grid_mapping="spatial_ref",
    )
    return dataset


def _with_crs(dataset: xr.Dataset, grid: GridSpec, layout: CubeLayout) -> xr.Dataset:
    import pyproj

    crs = pyproj.CRS.from_epsg(grid.epsg)
    spatial_ref = xr.DataArray(
        0,
        attrs={
            **crs.to_cf(),
            "spatial_ref": crs.to_wkt(),
            "GeoTransform": " ".join(str(v) for v in _gdal_geotransform(grid)),
        },
    )
    dataset = dataset.assign_coords(spatial_ref=spatial_ref)
    dataset["x"].attrs.update(standard_name="projection_x_coordinate", units="m", axis="X")
    dataset["y"].attrs.update(standard_name="projection_y_coordinate", units="m", axis="Y")
    dataset.attrs.update(
        {
            "proj:code": grid.crs,
            "proj:epsg": grid.epsg,
            "proj:shape": list(grid.shape),
            "proj:transform": list(grid.transform),
            "proj:bbox": list(grid.bounds),
            "aoi": layout.aoi,
            "sensor": layout.sensor,
            "Conventions": "CF-1.10",
        }
    )
    return dataset


def _gdal_geotransform(grid: GridSpec) -> tuple[float, ...]:
    a, b, c, d, e, f = grid.transform
    return (c, a, b, f, d, e)


def _remove_group(layout: CubeLayout) -> None:
    root = zarr.open_group(layout.store, mode="a")
    for name in (layout.group, layout.aoi):
        try:
            if name in root and (name == layout.group or not list(root[name].keys())):
                del root[name]
        except (KeyError, zarr.errors.ContainsGroupError) as exc:
            raise StoreError(f"cannot roll back group {name} of {layout.store}: {exc}") from exc


def consolidate(store: Path) -> None:
    """Write consolidated metadata at the store root (needed to open it over plain HTTP)."""
    zarr.consolidate_metadata(str(store), zarr_format=3)


def written_item_ids(store: Path, group: str) -> list[str]:
    """Item ids already in a group of a published store, in time order ([] if the group is absent)."""
    try:
        dataset = xr.open_zarr(store, group=group, consolidated=True)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError, ValueError):
        return []
    return [str(v) for v in dataset["item_id"].values]
