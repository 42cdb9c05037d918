"""The cube store: one Zarr v3 store per benchmark, one group per AOI and sensor.

Layout (the contract the STAC assets and every reader rely on)::

    cube.zarr/<aoi>/<sensor>/
        reflectance  (time, band, y, x) float32, NaN = nodata or masked, physical surface reflectance
        scl          (time, y, x)       uint8, Sentinel-2 scene classification on the grid, 0 = nodata
        time, band, y, x, spatial_ref   coordinates (CF grid mapping, pixel centres)
        item_id, processing_baseline, boa_offset, platform, valid_fraction, cloud_fraction  per time

Chunks are (1, 1, chunk_px, chunk_px) inside shards of (1, 1, shard_px, shard_px); dask chunks equal
whole shards. Scenes are written one at a time into pre-laid-out time slots with region writes, so
memory is bounded by one scene's dask chunks and never grows with the number of scenes, and a retry
rewrites the same bytes. A failed scene's slot is reused or trimmed, so the store never holds a
half-written scene.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import dask
import dask.array as da
import numpy as np
import pyproj
import xarray as xr
import zarr
import zarr.codecs

from ml4earth_stac.errors import SceneSkipped, StoreError
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.load import LoadedScene
from ml4earth_stac.sensors.adapters import SensorAdapter

BASE_TIME_COORDINATES: Final = ("time", "item_id", "platform", "valid_fraction", "cloud_fraction")
TIME_UNITS: Final = "milliseconds since 1970-01-01"  # provider datetimes carry milliseconds
TIME_EPOCH: Final = np.datetime64("1970-01-01T00:00:00", "ns")
COMPRESSOR: Final = zarr.codecs.BloscCodec(
    cname="zstd", clevel=3, shuffle=zarr.codecs.BloscShuffle.bitshuffle
)


def group_path(aoi: str, sensor: str) -> str:
    """The Zarr group of one AOI and sensor, ``<aoi>/<sensor>`` (also the run report's key)."""
    return f"{aoi}/{sensor}"


def open_cube_group(store: Path, aoi: str, sensor: str, *, consolidated: bool) -> xr.Dataset | None:
    """One AOI/sensor group of a cube store for reading whole dates, or None when the store has none.

    ``chunks=None``: plain zarr reads, each chunk once, with no Dask graph per read (6x faster than Dask
    for one date of a 554 x 602 px grid). ``consolidated``: the store is published (its metadata is
    consolidated) rather than still being written.
    """
    group = group_path(aoi, sensor)
    if not (Path(store) / group / "zarr.json").is_file():
        return None
    return xr.open_zarr(store, group=group, chunks=None, consolidated=consolidated)


@dataclass(frozen=True)
class CubeLayout:
    """Where one AOI/sensor group lives and how it is chunked."""

    store: Path
    aoi: str
    adapter: SensorAdapter
    grid: GridSpec
    chunk_px: int
    shard_px: int

    @property
    def sensor(self) -> str:
        """The sensor name, e.g. ``sentinel-2``."""
        return self.adapter.sensor

    @property
    def group(self) -> str:
        """The Zarr group path, ``<aoi>/<sensor>``."""
        return group_path(self.aoi, self.sensor)

    @property
    def data_variables(self) -> tuple[str, ...]:
        """The stored per-pixel variables: the physical values and, where kept, the mask asset."""
        mask = self.adapter.mask_variable
        return (self.adapter.variable,) if mask is None else (self.adapter.variable, mask)


class CubeWriter:
    """Writes decoded scenes into consecutive time slots of one AOI/sensor group.

    The first scene lays the group out for ``capacity`` time steps (metadata and coordinates only);
    every scene then fills the next slot with region writes of whole shards, and :meth:`close` trims the
    slots left unused. A scene that fails half-way leaves a partial slot that the next scene overwrites
    or ``close`` trims, so the closed store never holds a half-written scene.
    """

    def __init__(self, layout: CubeLayout, capacity: int) -> None:
        if capacity < 1:
            raise StoreError(f"capacity of {layout.group} must be at least one scene, got {capacity}")
        self.layout = layout
        self.capacity = capacity
        self.times_written = 0
        self._group: zarr.Group | None = None
        self._time_values: dict[str, list[Any]] = {}  # per-time coordinates, written by close()

    def write_batch(
        self, scenes: Sequence[LoadedScene], extras: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any] | SceneSkipped]:
        """Write scenes into the next time slots, in one pass so that their reads overlap.

        Args:
            scenes: decoded scenes, in time order.
            extras: per scene, small lazy arrays derived from it (e.g. a quicklook) computed in the same
                pass, so the scene's pixels are read once.

        Returns:
            Per scene, its computed ``extras``, or the :class:`SceneSkipped` saying why it was not written
            (e.g. a truncated COG). When the batch fails, each scene is retried alone to find the bad one;
            region writes make the retry rewrite the same bytes.
        """
        if self.times_written + len(scenes) > self.capacity:
            raise StoreError(
                f"{self.layout.group} holds {self.capacity} scenes; cannot write {len(scenes)} more"
            )
        datasets = [scene_dataset(scene, self.layout) for scene in scenes]
        try:
            return self._write_slots(datasets, extras)
        except Exception as exc:  # noqa: BLE001 - GDAL/zarr raise many types; isolate the bad scene(s) below
            if len(scenes) == 1:
                return [_skipped(scenes[0], exc)]
        results: list[dict[str, Any] | SceneSkipped] = []
        for scene, dataset, extra in zip(scenes, datasets, extras, strict=True):
            try:
                results.extend(self._write_slots([dataset], [extra]))
            except Exception as exc:  # noqa: BLE001 - GDAL/zarr raise many types; the scene is skipped
                results.append(_skipped(scene, exc))
        return results

    def close(self) -> None:
        """Write the per-time coordinates, trim unused time slots; drop the group if no scene was written.

        Must be called before the store is read: until then the coordinates hold placeholders.
        """
        if self._group is None:
            return  # nothing was created
        if self.times_written == 0:
            _remove_group(self.layout)
            return
        for _, array in self._group.arrays():
            if (array.metadata.dimension_names or (None,))[0] == "time":
                array.resize((self.times_written, *array.shape[1:]))
        for name, values in self._time_values.items():
            self._group[name][:] = np.asarray(values, dtype=self._group[name].dtype)

    def _create(self, dataset: xr.Dataset) -> zarr.Group:
        template = dataset.isel(time=np.zeros(self.capacity, dtype=int))
        template.to_zarr(
            self.layout.store,
            group=self.layout.group,
            mode="w-",
            compute=False,
            encoding=self._encoding(),
            consolidated=False,
            zarr_format=3,
        )
        return zarr.open_group(self.layout.store, path=self.layout.group, mode="r+")

    def _write_slots(
        self, datasets: Sequence[xr.Dataset], extras: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        if self._group is None:
            self._group = self._create(datasets[0])
        sources, targets, regions = [], [], []
        for offset, dataset in enumerate(datasets):
            slot = self.times_written + offset
            for name in self.layout.data_variables:
                variable = dataset[name]
                sources.append(variable.data)
                targets.append(self._group[name])
                regions.append((slice(slot, slot + 1),) + (slice(None),) * (variable.ndim - 1))
        stored = da.store(sources, targets, regions=regions, lock=False, compute=False)
        _, computed = dask.compute(stored, [dict(extra) for extra in extras])
        for dataset in datasets:
            for name in _time_coordinates(dataset):
                self._time_values.setdefault(name, []).append(_encoded(dataset[name]))
        self.times_written += len(datasets)
        return computed

    def _encoding(self) -> dict[str, dict[str, Any]]:
        chunk, shard = self.layout.chunk_px, self.layout.shard_px
        encoding: dict[str, dict[str, Any]] = {
            self.layout.adapter.variable: {
                "chunks": (1, 1, chunk, chunk),
                "shards": (1, 1, shard, shard),
                "compressors": (COMPRESSOR,),
                "_FillValue": np.float32("nan"),
            },
            "time": {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int64"},
        }
        if self.layout.adapter.mask_variable is not None:  # nodata is a class/flag there, not masked
            encoding[self.layout.adapter.mask_variable] = {
                "chunks": (1, chunk, chunk),
                "shards": (1, shard, shard),
                "compressors": (COMPRESSOR,),
            }
        return encoding


def _skipped(scene: LoadedScene, exc: BaseException) -> SceneSkipped:
    # stackstac's readers say "Error opening" when an asset cannot be opened at all (404, not a TIFF)
    reason = "asset-unreadable" if "Error opening" in str(exc) else "read-failed"
    return SceneSkipped(scene.item_id, reason, f"pixels could not be read or written: {exc}")


def _encoded(coordinate: xr.DataArray) -> Any:
    """The single value of a per-time coordinate as the store holds it (time as integer milliseconds)."""
    value = coordinate.values[0]
    if np.issubdtype(coordinate.dtype, np.datetime64):
        return int((value - TIME_EPOCH) // np.timedelta64(1, "ms"))
    return value


def _time_coordinates(dataset: xr.Dataset) -> list[str]:
    return [name for name, coord in dataset.coords.items() if coord.dims == ("time",)]


def scene_dataset(scene: LoadedScene, layout: CubeLayout) -> xr.Dataset:
    """The one-time-step Dataset of a scene, with CF/GeoZarr metadata, as the store contract says."""
    grid, adapter = layout.grid, layout.adapter
    shard = {"band": 1, "y": layout.shard_px, "x": layout.shard_px}
    data = scene.data.astype("float32").chunk(shard).expand_dims(time=[scene.time])
    data = data.assign_coords(band=np.array(data["band"].values, dtype=object))
    variables = {adapter.variable: data}
    if adapter.mask_variable is not None:
        mask = xr.DataArray(scene.mask_plane[np.newaxis], dims=("time", "y", "x"))
        variables[adapter.mask_variable] = mask.chunk({"y": layout.shard_px, "x": layout.shard_px})
    per_time = {
        "item_id": scene.item_id,
        "platform": scene.platform,
        "valid_fraction": scene.valid_fraction,
        "cloud_fraction": scene.cloud_fraction,
        **scene.facts,
    }
    coords = {name: ("time", _one(value)) for name, value in per_time.items()}
    dataset = xr.Dataset(
        variables,
        coords={
            "time": [scene.time],
            "y": np.asarray(grid.y_coords()),
            "x": np.asarray(grid.x_coords()),
            **coords,
        },
    )
    return _with_crs(_with_band_metadata(dataset, adapter), grid, layout)


def _one(value: Any) -> np.ndarray:
    """A one-element per-time coordinate: strings as variable-length text, numbers as float32."""
    if isinstance(value, str):
        return np.array([value], dtype=object)
    return np.array([value], dtype="float32")


def _with_band_metadata(dataset: xr.Dataset, adapter: SensorAdapter) -> xr.Dataset:
    bands = [adapter.band(str(b)) for b in dataset["band"].values]
    dataset = dataset.assign_coords(
        common_name=("band", np.array([b.common_name or "" for b in bands], dtype=object)),
        center_wavelength=("band", np.array([b.center_wavelength or np.nan for b in bands], dtype="float32")),
        full_width_half_max=(
            "band",
            np.array([b.full_width_half_max or np.nan for b in bands], dtype="float32"),
        ),
    )
    dataset["center_wavelength"].attrs["units"] = "um"
    dataset["full_width_half_max"].attrs["units"] = "um"
    dataset[adapter.variable].attrs.update(
        long_name=adapter.long_name, units=adapter.units, grid_mapping="spatial_ref"
    )
    if adapter.mask_variable is not None:
        dataset[adapter.mask_variable].attrs.update(adapter.mask_attributes(), grid_mapping="spatial_ref")
    return dataset


@functools.lru_cache(maxsize=64)
def _cf_grid_mapping(epsg: int) -> dict[str, Any]:
    """CF grid-mapping attributes of a CRS (cached: pyproj's CF export is slow)."""
    crs = pyproj.CRS.from_epsg(epsg)
    return {**crs.to_cf(), "spatial_ref": crs.to_wkt()}


def _with_crs(dataset: xr.Dataset, grid: GridSpec, layout: CubeLayout) -> xr.Dataset:
    geotransform = " ".join(str(v) for v in _gdal_geotransform(grid))
    spatial_ref = xr.DataArray(0, attrs={**_cf_grid_mapping(grid.epsg), "GeoTransform": geotransform})
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
    """Write consolidated metadata at the store root (needed to open it over plain HTTP).

    Zarr warns that consolidated metadata is not in the v3 spec yet; we rely on it deliberately, because
    a v3 store without it opens over HTTP as an empty dataset with no error.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(store), zarr_format=3)
