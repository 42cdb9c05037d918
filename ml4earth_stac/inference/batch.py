"""Batch inference: a published baseline over every AOI and date of a benchmark's cubes -> products.

The model (ONNX, onnxruntime only) runs on 1024 px tiles with a halo (the features' window), as Dask
tasks, so that there are no seams and memory is bounded by one date and the tiles in flight; the bands
it needs are checked against the cube before any compute. Two products, chosen by the recipe's labels:

* **calving fronts** (recipes with ``lines`` labels): zones per date (argmax over rock/glacier/ocean), the
  glacier-ocean boundary as a simplified line per glacier and date (or the reason there is none), the
  front position along the glacier's axis (from the glacier's to the ocean's centre) and its change per
  year, a PNG time series;
* **canopy maps** (binary labels): the canopy probability per city, averaged over the cloud-free dates,
  as a COG with overviews, the canopy share per city (GeoParquet and CSV) and a PNG map.

Each product is published as its own STAC collection (see :mod:`ml4earth_stac.inference.product_stac`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import dask
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from ml4earth_stac.config import Recipe
from ml4earth_stac.grid import GridSpec, aoi_grid, iter_tiles
from ml4earth_stac.inference.fronts import (
    GLACIER,
    OCEAN,
    InferenceError,
    extract_front,
    front_position_change,
)
from ml4earth_stac.inference.products import (
    FrontRecord,
    plot_canopy_map,
    plot_front_positions,
    write_canopy_cog,
    write_fronts,
    write_table,
)
from ml4earth_stac.inference.runtime import OnnxPixelModel
from ml4earth_stac.inference.train import zone_map
from ml4earth_stac.inference.unet_runtime import OnnxUnetModel, is_unet_onnx
from ml4earth_stac.stac import publish
from ml4earth_stac.store.cube import open_cube_group

TILE_PX: Final = 1024  # 512 px tiles cost 0.03-0.04 of the ratio to bare onnxruntime in overhead
# onnxruntime already uses every core of this machine for one tile: tiles in parallel threads only contend
# (measured: 0.75 -> 0.82 of bare onnxruntime). A Dask cluster spreads tiles with scheduler=None.
TILE_SCHEDULER: Final = "sync"
Model = OnnxPixelModel | OnnxUnetModel
CANOPY_THRESHOLD: Final = 0.5


@dataclass
class ProductRun:
    """What the batch inference made, for the product STAC and the report."""

    kind: str  # "fronts" or "canopy"
    model_id: str
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    fronts: list[FrontRecord] = field(default_factory=list)
    no_front: list[dict[str, str]] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)  # glacier -> FrontChange
    cities: list[dict[str, Any]] = field(default_factory=list)
    scenes: dict[str, list[str]] = field(default_factory=dict)  # AOI -> upstream item ids used


def predict_date(
    cube: xr.Dataset, t: int, model: Model, variable: str, scheduler: str | None = TILE_SCHEDULER
) -> np.ndarray:
    """Class probabilities ``(class, y, x)`` of one date, from tiles with a halo computed as Dask tasks.

    The date is read once (every store chunk once, in parallel): tile windows with a halo would read the
    chunks along tile edges again (25 chunk reads instead of 9 per band on a 554 x 602 grid). Memory holds
    one date's bands and its probabilities, whatever the number of dates. ``scheduler``: the Dask scheduler
    of the tile tasks (default ``sync``, see :data:`TILE_SCHEDULER`; None: Dask's current one).
    """
    bands = [str(b) for b in cube["band"].values]
    data = np.asarray(cube[variable].isel(time=t).values, dtype=np.float32)
    height, width = data.shape[1:]
    halo = model.halo
    grid = GridSpec(0, 1.0, (0.0, 0.0, float(width), float(height)))  # pixel space, for the tile walk

    def tile_probabilities(row: int, col: int, rows: int, cols: int) -> np.ndarray:
        top, left = max(row - halo, 0), max(col - halo, 0)
        window = data[:, top : row + rows + halo, left : col + cols + halo]
        probabilities = model.predict(window, bands).probabilities
        return probabilities[:, row - top : row - top + rows, col - left : col - left + cols]

    tiles = list(iter_tiles(grid, TILE_PX))
    tasks = [dask.delayed(tile_probabilities)(t.row, t.col, t.height, t.width) for t in tiles]
    parts = dask.compute(*tasks, scheduler=scheduler)
    out = np.full((len(model.class_values), height, width), np.nan, dtype=np.float32)
    for tile, part in zip(tiles, parts, strict=True):
        out[:, tile.row : tile.row + tile.height, tile.col : tile.col + tile.width] = part
    return out


def infer_benchmark(recipe: Recipe, output_dir: Path, model_path: Path, model_id: str) -> ProductRun:
    """Run a baseline over every AOI and date of a published benchmark and write its product files.

    Raises:
        InferenceError: the benchmark has no labels or cubes, or the cubes lack bands the model needs.
    """
    if recipe.labels is None:
        raise InferenceError(f"recipe {recipe.id} has no labels: there is no product to infer")
    model = load_model(model_path)
    sensor = recipe.labels.sensors[0]
    kind = "fronts" if any(s.kind == "lines" for s in recipe.labels.sources) else "canopy"
    cubes = {aoi.name: open_cube(output_dir, recipe, aoi.name, sensor) for aoi in recipe.aois}
    for cube in cubes.values():
        model.check_bands([str(b) for b in cube["band"].values])  # before any compute
    product_id = f"{recipe.id}-{kind}"
    staging = publish.staging_dir(output_dir, product_id)
    run = ProductRun(kind, model_id, staging)
    grids = {aoi.name: aoi_grid(aoi.geometry, recipe.grid.crs, recipe.grid.resolution) for aoi in recipe.aois}
    for aoi, cube in cubes.items():
        run.scenes[aoi] = [str(i) for i in cube["item_id"].values]
        if kind == "fronts":
            _fronts_of(run, aoi, grids[aoi], cube, model, sensor)
        else:
            _canopy_of(run, aoi, grids[aoi], cube, model)
    _write_summary_files(run, recipe)
    return run


def load_model(path: Path) -> Model:
    """The ONNX model at ``path``: an annotated U-Net or a per-pixel classifier (told by its metadata)."""
    return OnnxUnetModel(path) if is_unet_onnx(Path(path)) else OnnxPixelModel(path)


def open_cube(output_dir: Path, recipe: Recipe, aoi: str, sensor: str) -> xr.Dataset:
    """The published cube group of one AOI and sensor, as the batch inference reads it.

    Raises:
        InferenceError: the benchmark has no such cube under ``output_dir``.
    """
    store = output_dir / recipe.id / publish.CUBE_NAME
    cube = open_cube_group(store, aoi, sensor, consolidated=True)
    if cube is None:
        raise InferenceError(
            f"no {sensor} cube of {aoi} in {store}; run `ml4earth run` for {recipe.id} first"
        )
    return cube


def _fronts_of(
    run: ProductRun, aoi: str, grid: GridSpec, cube: xr.Dataset, model: Model, sensor: str
) -> None:
    dated: list[tuple[Any, Any]] = []
    axis = None
    for t in range(cube.sizes["time"]):
        probabilities = predict_date(cube, t, model, "reflectance")
        zones = zone_map(probabilities, model.class_values, ~np.isfinite(probabilities).all(axis=0))
        when = pd.Timestamp(cube["time"].values[t]).to_pydatetime()
        stamp = when.isoformat() + "Z"
        item_id = str(cube["item_id"].values[t])
        axis = axis or _flow_axis(zones, grid)
        found = extract_front(zones, grid)
        if not found.found:
            run.no_front.append(
                {
                    "glacier": aoi,
                    "datetime": stamp,
                    "item": item_id,
                    "reason": str(found.reason),
                }
            )
            continue
        record = FrontRecord(aoi, stamp, sensor, run.model_id, item_id, found.line, found.length_m, grid.epsg)
        run.fronts.append(record)
        dated.append((when, found.line))
    if axis is not None and dated:
        crossing = [(when, line) for when, line in dated if line.intersects(axis)]
        # a front that misses the axis (partly hidden) is placed by projection only: leave it out if it can
        run.changes[aoi] = front_position_change(crossing if len(crossing) >= 2 else dated, axis)


def _flow_axis(zones: np.ndarray, grid: GridSpec) -> shapely.LineString | None:
    """The glacier's axis: from the centre of its glacier pixels through the centre of its ocean pixels."""
    centres = []
    for value in (GLACIER, OCEAN):
        rows, cols = np.nonzero(zones == value)
        if rows.size == 0:
            return None
        x0, y1, res = grid.bounds[0], grid.bounds[3], grid.resolution
        centres.append((x0 + (cols.mean() + 0.5) * res, y1 - (rows.mean() + 0.5) * res))
    (gx, gy), (ox, oy) = centres
    if (gx, gy) == (ox, oy):
        return None
    span = max(grid.bounds[2] - grid.bounds[0], grid.bounds[3] - grid.bounds[1])
    length = np.hypot(ox - gx, oy - gy)
    ux, uy = (ox - gx) / length, (oy - gy) / length
    return shapely.LineString([(gx - ux * span, gy - uy * span), (gx + ux * span, gy + uy * span)])


def _canopy_of(run: ProductRun, aoi: str, grid: GridSpec, cube: xr.Dataset, model: Model) -> None:
    tree = model.class_values.index(max(model.class_values))
    total, count = np.zeros(grid.shape, np.float64), np.zeros(grid.shape, np.int32)
    for t in range(cube.sizes["time"]):
        probability = predict_date(cube, t, model, "reflectance")[tree]
        seen = np.isfinite(probability)
        total[seen] += probability[seen]
        count += seen
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
    cog = write_canopy_cog(mean, grid, run.folder / "maps" / f"{aoi}.tif")
    png = plot_canopy_map(
        mean, run.folder / "maps" / f"{aoi}.png", f"{aoi}: canopy probability\n{run.model_id}"
    )
    valid = np.isfinite(mean)
    share = float((mean[valid] >= CANOPY_THRESHOLD).mean() * 100) if valid.any() else float("nan")
    run.cities.append(
        {
            "city": aoi,
            "canopy_pct": round(share, 2),
            "mapped_km2": round(float(valid.sum()) * grid.resolution**2 / 1e6, 3),
            "dates": int(cube.sizes["time"]),
            "model": run.model_id,
            "epsg": grid.epsg,
            "cog": str(cog.relative_to(run.folder)),
            "png": str(png.relative_to(run.folder)),
            "geometry": shapely.geometry.shape(grid.footprint_wgs84()),
        }
    )


def _write_summary_files(run: ProductRun, recipe: Recipe) -> None:
    if run.kind == "fronts":
        run.files |= write_fronts(run.fronts, run.folder)
        table = _change_table(run)
        if not table.empty:
            run.files["changes"] = write_table(table.to_dict("records"), run.folder / "front-changes.csv")
            run.files["plot"] = plot_front_positions(table, run.folder / "front-positions.png", recipe.title)
    elif run.cities:
        run.files["coverage"] = write_table(run.cities, run.folder / "canopy-coverage.parquet")
        run.files["coverage-csv"] = write_table(run.cities, run.folder / "canopy-coverage.csv")


def _change_table(run: ProductRun) -> pd.DataFrame:
    frames = []
    for glacier, change in run.changes.items():
        frame = change.to_frame()
        frame["glacier"] = glacier
        frame["rate_m_per_yr"] = change.rate_m_per_yr
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
