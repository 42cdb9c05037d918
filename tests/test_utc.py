"""The urban tree canopy benchmark: three cities in three UTM zones, canopy polygons as labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.archive import ArchiveServer, ArchiveSpec, build_sample_archive
from ml4earth_stac.config import Recipe, RunSettings, load_recipe
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.stac.validate import validate_tree
from tests.conftest import REPO_ROOT

CITIES = ("curitiba", "medellin", "santiago")
BENCHMARK = "south-america-utc"
TREE_CLASS = 4  # of the archive's class map truth


def utc_recipe(manifest) -> Recipe:
    """The UTC recipe with the AOIs of the (small) sample archive's cities."""
    raw = load_recipe(REPO_ROOT / "catalog" / f"{BENCHMARK}.yaml").model_dump(mode="json")
    raw["aois"] = [{"name": c.name, "geometry": c.aoi_geometry_wgs84} for c in manifest.cities]
    return Recipe.model_validate(raw)


@pytest.fixture(scope="module")
def utc(tmp_path_factory):
    root = tmp_path_factory.mktemp("utc")
    spec = ArchiveSpec(
        n_dates=1, seed=4, scene_size_px=120, sensors=("sentinel-2", "sentinel-1"), cities=CITIES,
        city_size_px=240, city_dates=2,
    )  # fmt: skip
    manifest = build_sample_archive(root / "archive", spec)
    with ArchiveServer(manifest.root) as server:
        settings = RunSettings(
            output_dir=root / "out", stac_api=server.stac_api_url, labels_root=str(manifest.root)
        )
        report = run_benchmark(utc_recipe(manifest), settings)
    return manifest, root / "out", report


def _chips(output: Path) -> xr.Dataset:
    return xr.open_zarr(output / BENCHMARK / "chips.zarr", group="sentinel-2")


def test_each_city_on_its_own_utm_grid(utc) -> None:
    manifest, output, report = utc
    assert {c.epsg for c in manifest.cities} == {32722, 32618, 32719}
    for city in manifest.cities:
        for sensor in ("sentinel-2", "sentinel-1"):
            cube = xr.open_zarr(output / BENCHMARK / "cube.zarr", group=f"{city.name}/{sensor}")
            assert cube.attrs["proj:code"] == f"EPSG:{city.epsg}", (city.name, sensor)
            assert cube.sizes["time"] == len(city.item_ids)
    assert validate_tree(output / "catalog.json").ok


def test_whole_cities_go_to_one_split_each(utc) -> None:
    _, output, report = utc
    chips = _chips(output)
    used = chips.split.values != ""
    split_of = {str(a): set(chips.split.values[used & (chips.aoi.values == a)]) for a in CITIES}
    assert all(len(splits) == 1 for splits in split_of.values()), split_of
    assert {s for splits in split_of.values() for s in splits} == {"train", "val", "test"}
    epsg_of = {str(a): set(chips.epsg.values[used & (chips.aoi.values == a)]) for a in CITIES}
    assert epsg_of == {"curitiba": {32722}, "medellin": {32618}, "santiago": {32719}}
    assert chips.attrs["proj:code"] is None  # chips of several zones: per-sample epsg is the truth
    s1 = xr.open_zarr(output / BENCHMARK / "chips.zarr", group="sentinel-1")
    s1_used = s1.split.values != ""
    for city in CITIES:
        (split,) = split_of[city]
        assert set(s1.split.values[s1_used & (s1.aoi.values == city)]) == {split}  # same places, same split
        item = output / BENCHMARK / "items" / f"{city}-{split}-labels" / f"{city}-{split}-labels.json"
        document = json.loads(item.read_text())
        assert document["properties"]["ml-aoi:split"] in {"train", "validate", "test"}
        assert set(document["assets"]) == {"chips-sentinel-2", "chips-sentinel-1"}
        assert document["assets"]["chips-sentinel-1"]["xarray:open_kwargs"]["group"] == "sentinel-1"


def test_canopy_labels_match_the_truth_class_map(utc) -> None:
    manifest, output, _ = utc
    chips = _chips(output)
    recipe = utc_recipe(manifest)
    agreement = []
    for i in np.flatnonzero(chips.split.values != ""):
        city = manifest.city_record(str(chips.aoi.values[i]))
        aoi = next(a for a in recipe.aois if a.name == city.name)
        grid = aoi_grid(aoi.geometry, recipe.grid.crs, recipe.grid.resolution)
        label = chips.label.values[i]
        assert set(np.unique(label)) <= {0, 1}  # background 0 everywhere a polygon does not cover
        bounds = (chips.x_min.values[i], chips.y_min.values[i], chips.x_max.values[i], chips.y_max.values[i])
        with rasterio.open(manifest.root / city.truth["classes"]) as src:
            window = rasterio.windows.from_bounds(*bounds, transform=src.transform)
            classes = src.read(1, window=window, out_shape=label.shape, resampling=Resampling.nearest)
        assert grid.epsg == city.epsg
        agreement.append(((label == 1) == (classes == TREE_CLASS)).mean())
    assert np.median(agreement) > 0.9 and min(agreement) > 0.8


def test_sentinel1_chips_carry_the_same_static_canopy_labels(utc) -> None:
    """The canopy is static: an S1 chip's label equals the S2 chip label of the same place."""
    output = utc[1]
    s2, s1 = _chips(output), xr.open_zarr(output / BENCHMARK / "chips.zarr", group="sentinel-1")
    assert s1.image.attrs["units"] == "dB" and list(s1.band.values) == ["vv", "vh"]
    s2_labels = {
        (str(a), int(r), int(c)): s2.label.values[i]
        for i, (a, r, c) in enumerate(zip(s2.aoi.values, s2.chip_row.values, s2.chip_col.values, strict=True))
        if s2.split.values[i] != ""
    }
    matched = 0
    for i in np.flatnonzero(s1.split.values != ""):
        key = (str(s1.aoi.values[i]), int(s1.chip_row.values[i]), int(s1.chip_col.values[i]))
        if key in s2_labels:
            np.testing.assert_array_equal(s1.label.values[i], s2_labels[key])
            matched += 1
    assert matched > 0


def test_canopy_is_greener_than_the_rest(utc) -> None:
    """NDVI of labelled canopy pixels vs the rest: the label sits on the trees of the imagery."""
    chips = _chips(utc[1])
    used = chips.split.values != ""
    image, label = chips.image.values[used], chips.label.values[used]
    bands = list(chips.band.values)
    red, nir = image[:, bands.index("B04")], image[:, bands.index("B08")]
    ndvi = (nir - red) / (nir + red)
    assert np.nanmedian(ndvi[label == 1]) > 0.6 > np.nanmedian(ndvi[label == 0]) + 0.2
