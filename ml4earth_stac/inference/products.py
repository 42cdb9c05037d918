"""Product files of the batch inference: front lines, retreat tables, canopy COGs, coverage tables, plots.

Every writer writes to a temporary name and renames, so a crash never leaves a half-written file behind
(the product folder is also published whole, from a staging folder). Vector products are written twice:
GeoParquet in the grid's CRS (exact, for analysis) and GeoJSON in WGS84 (for browsers and QGIS).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas
import matplotlib
import numpy as np
import pandas as pd
import rasterio
import shapely

from ml4earth_stac.grid import GridSpec

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

CANOPY_NODATA: Final = 255
PLOT_DPI: Final = 110


@dataclass(frozen=True)
class FrontRecord:
    """One extracted calving front.

    Attributes:
        glacier: the AOI name.
        datetime: acquisition time of the scene (ISO 8601, UTC).
        sensor: the sensor of the scene.
        model: the model item id.
        source_item: the upstream scene id.
        geometry: the front line in the grid CRS (``epsg``).
        length_m: its length.
        epsg: EPSG code of ``geometry``.
    """

    glacier: str
    datetime: str
    sensor: str
    model: str
    source_item: str
    geometry: shapely.Geometry
    length_m: float
    epsg: int


def write_fronts(records: Sequence[FrontRecord], folder: Path, stem: str = "fronts") -> dict[str, Path]:
    """Write fronts as GeoParquet (grid CRS, one file per CRS if several) and GeoJSON (WGS84, all).

    Returns:
        ``{"geoparquet": path, "geojson": path}`` (no entry for an empty list).
    """
    if not records:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for epsg in sorted({r.epsg for r in records}):
        rows = [r for r in records if r.epsg == epsg]
        frame = geopandas.GeoDataFrame(
            [{k: v for k, v in vars(r).items() if k != "geometry"} for r in rows],
            geometry=[r.geometry for r in rows],
            crs=f"EPSG:{epsg}",
        )
        frames.append(frame)
    parquet = folder / f"{stem}.parquet"
    _atomic(
        parquet,
        lambda tmp: frames[0].to_parquet(tmp) if len(frames) == 1 else _concat_wgs84(frames).to_parquet(tmp),
    )
    geojson = folder / f"{stem}.geojson"
    _atomic(geojson, lambda tmp: _concat_wgs84(frames).to_file(tmp, driver="GeoJSON"))
    return {"geoparquet": parquet, "geojson": geojson}


def _concat_wgs84(frames: list[geopandas.GeoDataFrame]) -> geopandas.GeoDataFrame:
    return geopandas.GeoDataFrame(pd.concat([f.to_crs(4326) for f in frames], ignore_index=True), crs=4326)


def write_table(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write rows as CSV (``.csv``) or GeoParquet (``.parquet``, needs a ``geometry`` column in WGS84)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(list(rows))
    if path.suffix == ".parquet":
        geo = geopandas.GeoDataFrame(
            frame.drop(columns="geometry"), geometry=list(frame["geometry"]), crs=4326
        )
        _atomic(path, geo.to_parquet)
    else:
        table = frame.drop(columns="geometry", errors="ignore")
        _atomic(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))
    return path


def write_canopy_cog(probability: np.ndarray, grid: GridSpec, path: Path) -> Path:
    """A canopy probability map as a COG: uint8 percent (0-100), 255 = nodata, internal overviews.

    Args:
        probability: (y, x) float probability of canopy on ``grid``, NaN = nodata (cloud, no data).
        grid: the AOI grid.
        path: the ``.tif`` to write.
    """
    percent = np.where(np.isfinite(probability), np.clip(np.rint(probability * 100), 0, 100), CANOPY_NODATA)
    profile = {
        "driver": "COG",
        "dtype": "uint8",
        "count": 1,
        "height": grid.shape[0],
        "width": grid.shape[1],
        "crs": grid.crs,
        "transform": rasterio.Affine(*grid.transform),
        "nodata": CANOPY_NODATA,
        "compress": "DEFLATE",
        "overview_resampling": "AVERAGE",
        "blocksize": 256,
    }

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(percent.astype(np.uint8), 1)
            dst.update_tags(1, units="percent canopy probability", nodata_meaning="cloud or no data")

    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, write)
    return path


def plot_front_positions(table: pd.DataFrame, path: Path, title: str) -> Path:
    """A PNG time series of front position change per glacier (columns glacier, date, change_m)."""
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=PLOT_DPI)
    for glacier, rows in table.groupby("glacier"):
        rows = rows.sort_values("date")
        axes.plot(pd.to_datetime(rows["date"]), rows["change_m"], marker="o", label=str(glacier))
    axes.axhline(0, color="0.6", lw=0.8)
    axes.set_ylabel("front position change (m, + = advance)")
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save(figure, path)


def plot_canopy_map(probability: np.ndarray, path: Path, title: str) -> Path:
    """A PNG map of canopy probability (greens; nodata grey)."""
    figure, axes = plt.subplots(figsize=(5, 5), dpi=PLOT_DPI)
    axes.imshow(np.ma.masked_invalid(probability), cmap="Greens", vmin=0, vmax=1, interpolation="nearest")
    axes.set_facecolor("0.8")
    axes.set_title(title, fontsize="medium")
    axes.set_axis_off()
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
    return path


def _atomic(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename to ``path`` (the suffix is kept so drivers pick the right format)."""
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
