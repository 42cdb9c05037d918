"""Product writers: canopy COGs with overviews, front lines in two formats, tables and plots."""

from __future__ import annotations

from pathlib import Path

import geopandas
import numpy as np
import pandas as pd
import rasterio
import shapely

from ml4earth_stac.grid import GridSpec
from ml4earth_stac.inference.products import (
    CANOPY_NODATA,
    FrontRecord,
    plot_canopy_map,
    plot_front_positions,
    write_canopy_cog,
    write_fronts,
    write_table,
)

GRID = GridSpec(32722, 10.0, (670000.0, 7180000.0, 676000.0, 7186000.0))  # 600 x 600 px, UTM 22S


def test_canopy_cog_has_overviews_nodata_and_percent(tmp_path: Path) -> None:
    probability = np.linspace(0, 1, GRID.shape[0] * GRID.shape[1], dtype=np.float32).reshape(GRID.shape)
    probability[:50] = np.nan  # a cloud
    path = write_canopy_cog(probability, GRID, tmp_path / "curitiba.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32722 and src.transform.c == 670000.0 and src.res == (10.0, 10.0)
        assert src.nodata == CANOPY_NODATA and src.overviews(1), "QGIS needs overviews"
        data = src.read(1)
    assert (data[:50] == CANOPY_NODATA).all()
    assert data[50:].min() >= 0 and data[-1, -1] == 100
    assert abs(int(data[300, 300]) - round(float(probability[300, 300]) * 100)) <= 0
    assert not list(tmp_path.glob(".*part*")), "no temporary file is left"


def test_fronts_are_written_in_the_grid_crs_and_in_wgs84(tmp_path: Path) -> None:
    line = shapely.LineString([(671000, 7183000), (671000, 7184000)])
    records = [
        FrontRecord(
            "kronebreen", f"2020-0{m}-01T12:00:00Z", "sentinel-2", "m1", f"S2_{m}", line, 1000.0, 32722
        )
        for m in (6, 7)
    ]
    paths = write_fronts(records, tmp_path)
    exact = geopandas.read_parquet(paths["geoparquet"])
    assert exact.crs.to_epsg() == 32722 and exact.geometry.iloc[0].equals(line)
    assert list(exact["glacier"]) == ["kronebreen", "kronebreen"] and exact["length_m"].iloc[0] == 1000.0
    web = geopandas.read_file(paths["geojson"])
    assert web.crs.to_epsg() == 4326 and -52 < web.geometry.iloc[0].coords[0][0] < -48
    assert write_fronts([], tmp_path / "none") == {}


def test_tables_and_plots(tmp_path: Path) -> None:
    rows = [{"city": "curitiba", "canopy_pct": 31.2, "geometry": shapely.box(-49.3, -25.5, -49.2, -25.4)}]
    csv = pd.read_csv(write_table(rows, tmp_path / "coverage.csv"))
    assert list(csv.columns) == ["city", "canopy_pct"] and csv["canopy_pct"].iloc[0] == 31.2
    parquet = geopandas.read_parquet(write_table(rows, tmp_path / "coverage.parquet"))
    assert parquet.crs.to_epsg() == 4326 and parquet["city"].iloc[0] == "curitiba"
    table = pd.DataFrame({"glacier": ["a", "a", "b"], "date": ["2020-01-01", "2021-01-01", "2020-06-01"],
                          "change_m": [0.0, -120.0, 0.0]})  # fmt: skip
    for png in (
        plot_front_positions(table, tmp_path / "fronts.png", "fronts"),
        plot_canopy_map(np.full((20, 20), 0.5), tmp_path / "map.png", "canopy"),
    ):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
