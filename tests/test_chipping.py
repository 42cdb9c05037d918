"""The ML part end to end: cube -> labelled chips, spatial splits -> chip store + label items -> loader."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.windows
import shapely
import shapely.geometry
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.config import RunSettings
from ml4earth_stac.errors import RecipeError
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark, start_run
from ml4earth_stac.stac.validate import validate_tree
from ml4earth_stac.store.dataset import ChipDataset
from tests.conftest import recipe_for_archive, serving

BENCHMARK = "svalbard-calving-fronts"
SMALL_CHIPS = {
    "chips__size_px": 48,
    "splits__block_m": 2000.0,
    "splits__buffer_m": 100.0,
}
FRONT = 4


@pytest.fixture(scope="module")
def chipped(small_archive, small_archive_server, tmp_path_factory):
    recipe = recipe_for_archive(small_archive, with_labels=True, **SMALL_CHIPS)
    output = tmp_path_factory.mktemp("chipped")
    settings = RunSettings(
        output_dir=output, stac_api=small_archive_server.stac_api_url, labels_root=str(small_archive.root)
    )
    report = run_benchmark(recipe, settings)
    return recipe, output, report


def _chips(output: Path) -> xr.Dataset:
    return xr.open_zarr(output / BENCHMARK / "chips.zarr", group="sentinel-2")


def test_chips_are_published_with_label_items_that_validate(chipped) -> None:
    recipe, output, report = chipped
    assert validate_tree(output / "catalog.json").ok
    collection = json.loads((output / BENCHMARK / "collection.json").read_text())
    assert "https://stac-extensions.github.io/label/v1.0.1/schema.json" in collection["stac_extensions"]
    assert collection["assets"]["chips"]["xarray:open_kwargs"]["consolidated"] is True
    assert collection["summaries"]["label:classes"] == [{"name": None, "classes": [1, 2, 3, 4]}]
    ranges = _chips(output).attrs["split_ranges"]
    assert {split: stop - start for split, (start, stop) in ranges.items()} == report.chips["sentinel-2"][
        "per_split"
    ]
    assert set(report.chips["sentinel-2"]["per_split"]) == {"train", "val", "test"}
    items = {p.parent.name for p in (output / BENCHMARK / "items").glob("*-labels/*.json")}
    assert items == {f"kronebreen-{split}-labels" for split in ("train", "val", "test")}
    train = json.loads(
        (output / BENCHMARK / "items/kronebreen-train-labels/kronebreen-train-labels.json").read_text()
    )
    assert train["properties"]["ml-aoi:split"] == "train"
    assert train["properties"]["ml4earth:chips"] == {
        "sentinel-2": report.chips["sentinel-2"]["per_split"]["train"]
    }
    sources = [link for link in train["links"] if link["rel"] == "source"]
    assert sources and all(
        (output / BENCHMARK / "items" / "x" / link["href"]).resolve().is_file() for link in sources
    )
    counts = {c["name"]: c["count"] for c in train["properties"]["label:overviews"][0]["counts"]}
    assert counts["ocean"] > 0 and counts["glacier"] > 0 and counts["front"] > 0


def test_split_footprints_never_touch(chipped) -> None:
    """Chips of different splits are at least buffer_m apart, at every date (a place keeps its split)."""
    chips = _chips(chipped[1])
    boxes = {
        split: [
            shapely.geometry.box(*b)
            for b in np.unique(
                np.stack([chips[n].values for n in ("x_min", "y_min", "x_max", "y_max")], axis=1)[
                    chips.split.values == split
                ],
                axis=0,
            )
        ]
        for split in ("train", "val", "test")
    }
    buffer_m = SMALL_CHIPS["splits__buffer_m"]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        union_b = shapely.union_all(boxes[b])
        assert all(box.distance(union_b) >= buffer_m - 1e-6 for box in boxes[a]), (a, b)


def test_labels_are_the_truth_zones_with_the_front_on_top(chipped, small_archive) -> None:
    recipe, output, _ = chipped
    chips = _chips(output)
    grid = aoi_grid(recipe.aois[0].geometry, recipe.grid.crs, recipe.grid.resolution)
    fronts = json.loads((small_archive.root / "truth" / "fronts.geojson").read_text())["features"]
    checked = 0
    for i in range(0, chips.sizes["sample"], 7):
        if chips.split.values[i] == "":
            continue  # padding between splits
        item_id = str(chips.source_item.values[i])
        row, col = int(chips.chip_row.values[i]), int(chips.chip_col.values[i])
        label = chips.label.values[i]
        zones = _truth_window(
            small_archive.root / "truth" / "zones" / f"{item_id}.tif", grid, row, col, label.shape
        )
        zone_pixels = (label != FRONT) & (label != 255)
        # 10 m truth to 20 m, nearest: GDAL's warper and a decimated read may pick another of the 2x2 at edges
        assert (label[zone_pixels] == zones[zone_pixels]).mean() > 0.97
        front = next(f for f in fronts if f["properties"]["item_id"] == item_id)
        to_grid = pyproj.Transformer.from_crs(4326, grid.epsg, always_xy=True).transform
        line = shapely.transform(shapely.geometry.shape(front["geometry"]), to_grid, interleaved=False)
        ys, xs = np.nonzero(label == FRONT)
        x0, y1 = grid.bounds[0] + col * grid.resolution, grid.bounds[3] - row * grid.resolution
        centres = shapely.points(x0 + (xs + 0.5) * grid.resolution, y1 - (ys + 0.5) * grid.resolution)
        assert (shapely.distance(centres, line) <= 30 + grid.resolution).all()  # width 60 m + one pixel
        checked += 1
    assert checked >= 5


def _truth_window(path: Path, grid, row: int, col: int, shape: tuple[int, int]) -> np.ndarray:
    x0, y1 = grid.bounds[0] + col * grid.resolution, grid.bounds[3] - row * grid.resolution
    bounds = (x0, y1 - shape[0] * grid.resolution, x0 + shape[1] * grid.resolution, y1)
    with rasterio.open(path) as src:
        window = rasterio.windows.from_bounds(*bounds, transform=src.transform)
        zones = src.read(1, window=window, out_shape=shape, resampling=Resampling.nearest)
    return np.where(zones == 0, 255, zones)  # NA (0) is the COG's nodata: no label


def test_normalization_comes_from_the_train_split_only(chipped) -> None:
    chips = _chips(chipped[1])
    stats = chips.attrs["normalization"]
    train = chips.image.values[chips.split.values == "train"]
    np.testing.assert_allclose(stats["mean"], np.nanmean(train, axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], np.nanstd(train, axis=(0, 2, 3)), rtol=1e-4)
    everything = chips.image.values[chips.split.values != ""]
    assert not np.allclose(stats["mean"], np.nanmean(everything, axis=(0, 2, 3)), rtol=1e-6)


def test_the_readme_loader_script_iterates_every_split_over_http(chipped) -> None:
    output, report = chipped[1], chipped[2]
    script = Path(__file__).resolve().parents[1] / "examples" / "iterate_chips.py"
    with serving(output) as base_url:
        result = subprocess.run(
            [sys.executable, str(script), base_url, BENCHMARK, "--torch"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "class balance" in line]
    assert [line.split()[0] for line in lines] == ["train", "val", "test"]
    for line in lines:
        split, count = line.split()[:2]
        assert int(count) == report.chips["sentinel-2"]["per_split"][split]
        assert "(6, 48, 48)" in line and "ocean" in line


def test_one_epoch_of_every_split_over_http(chipped) -> None:
    """Stream each split over loopback HTTP, normalized, with class balance."""
    output, report = chipped[1], chipped[2]
    with serving(output) as base_url:
        url = f"{base_url}/{BENCHMARK}/chips.zarr"
        for split, expected in report.chips["sentinel-2"]["per_split"].items():
            dataset = ChipDataset(url, split=split, sensor="sentinel-2")
            samples = list(dataset)
            assert len(samples) == len(dataset) == expected
            assert {s["image"].shape for s in samples} == {(6, 48, 48)}
            assert all(np.isfinite(s["image"]).all() for s in samples)  # NaN -> 0 after normalization
            balance = dataset.class_balance()
            assert set(balance) <= {1, 2, 3, 4} and abs(sum(balance.values()) - 1) < 1e-6


def test_a_label_date_without_scene_is_reported_not_fatal(
    small_archive, small_archive_server, tmp_path
) -> None:
    labels = tmp_path / "labels"
    shutil.copytree(small_archive.root / "truth", labels / "truth")
    fronts_path = labels / "truth" / "fronts.geojson"
    fronts = json.loads(fronts_path.read_text())
    stray = json.loads(json.dumps(fronts["features"][0]))
    stray["properties"]["datetime"] = "2011-01-01T12:00:00Z"  # no scene within a day
    fronts["features"].append(stray)
    fronts_path.write_text(json.dumps(fronts))
    recipe = recipe_for_archive(small_archive, with_labels=True, **SMALL_CHIPS)
    settings = RunSettings(
        output_dir=tmp_path / "out", stac_api=small_archive_server.stac_api_url, labels_root=str(labels)
    )
    report = run_benchmark(recipe, settings)
    unused = {u["label"].rsplit("#", 1)[1]: u["reason"] for u in report.chips["sentinel-2"]["unused_labels"]}
    stray_index = len(fronts["features"]) - 1
    assert "no scene within ±1 day" in unused.pop(f"{stray_index} (kronebreen)")
    # the only other unused fronts are those of scenes the quality filter dropped (the overcast one)
    dropped = {s.item_id for s in report.skipped}
    assert all(fronts["features"][int(key.split()[0])]["properties"]["item_id"] in dropped for key in unused)
    assert report.chips["sentinel-2"]["per_split"]["train"] > 0


def test_missing_labels_fail_before_any_ingest(small_archive, tmp_path) -> None:
    recipe = recipe_for_archive(small_archive, with_labels=True)
    with pytest.raises(RecipeError, match="labels_root"):
        start_run(recipe, RunSettings(output_dir=tmp_path, labels_root=str(tmp_path / "nowhere")))
    assert not (tmp_path / BENCHMARK).exists()


def test_cloudy_chips_are_dropped_by_the_scl(chipped) -> None:
    """Every kept chip has at most max_cloud_fraction cloud (SCL 3, 8, 9, 10) over its valid pixels."""
    recipe, output, report = chipped
    chips, cube = (
        _chips(output),
        xr.open_zarr(output / BENCHMARK / "cube.zarr", group="kronebreen/sentinel-2"),
    )
    item_ids = list(cube.item_id.values)
    for i in np.flatnonzero(chips.split.values != ""):
        t = item_ids.index(chips.source_item.values[i])
        row, col, size = int(chips.chip_row.values[i]), int(chips.chip_col.values[i]), chips.sizes["y"]
        scl = cube.scl.isel(time=t).values[row : row + size, col : col + size]
        valid = scl > 0
        cloudy = np.isin(scl, (3, 8, 9, 10)) & valid
        assert cloudy.sum() <= recipe.chips.max_cloud_fraction * valid.sum() + 1e-9
    assert report.chips["sentinel-2"]["dropped"].get("cloudy", 0) > 0  # the archive's clouds did drop some
