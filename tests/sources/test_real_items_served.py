"""Real Planetary Computer and Earth Search items, served by a real STAC API, hrefs rewritten to the archive.

Each real item keeps its provider's conventions (asset keys, STAC 1.0 ``proj:epsg``, processing baseline,
``earthsearch:boa_offset_applied``); only its asset hrefs, footprint and grid are pointed at sample-archive
COGs whose DN encoding matches what that real item promises. A wrong decoding of any convention moves the
fjord's water out of its physical range.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np
import pytest
import rasterio
import rasterio.windows
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.archive import ArchiveServer
from ml4earth_stac.config import RunSettings
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.sensors import sentinel2
from tests.conftest import recipe_for_archive

PC = "stac-items/planetary-computer/sentinel-2-l2a"
ES = "stac-items/earth-search/sentinel-2-l2a"
# (provider, real item, DN encoding of the archive scene it is pointed at: shifted by +1000 or not)
REAL_ITEMS = {
    "planetary-computer": [
        (f"{PC}/S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251.json", True),  # baseline 04.00
        (f"{PC}/S2A_MSIL2A_20150704T101006_R022_T35XQA_20210411T133707.json", False),  # 02.12, Esri
    ],
    "earth-search": [
        (f"{ES}/S2A_13TDE_20231008_0_L2A.json", False),  # 05.09, boa_offset_applied: COG DN already shifted
        ("rasters/sentinel-2-l2a/S2A_29RKH_20200219_0_L2A/S2A_29RKH_20200219_0_L2A.json", False),  # 02.14
    ],
}
OCEAN, GLACIER = 3, 2


def _archive_scene(manifest, shifted: bool) -> str:
    """The clearest archive scene whose DN carry the +1000 offset (baseline >= 04.00) or not."""
    scenes = [s for s in manifest.scenes if (s.processing_baseline >= "04.00") == shifted]
    return min(scenes, key=lambda s: s.aoi_cloud_fraction).item_id


def _pointed(real: dict, archive_item: dict, provider: str) -> dict:
    """The real item with its band/SCL assets, footprint and grid pointed at one archive scene."""
    item = copy.deepcopy(real)
    item["geometry"], item["bbox"] = archive_item["geometry"], archive_item["bbox"]
    epsg = int(archive_item["properties"]["proj:code"].split(":")[1])
    item["properties"]["proj:epsg"] = epsg  # both real providers serve STAC 1.0 projection fields
    item["properties"].pop("proj:code", None)
    for band in [*(b.name for b in sentinel2.BANDS), "SCL"]:
        key = sentinel2.asset_key(band, provider)
        source = archive_item["assets"][sentinel2.asset_key(band, "planetary-computer")]
        asset = item["assets"][key]
        asset["href"] = source["href"]
        for field in ("proj:shape", "proj:transform", "proj:bbox"):
            asset[field] = source[field]
        if "proj:epsg" in asset or provider == "planetary-computer":
            asset["proj:epsg"] = epsg
    return item


@pytest.fixture(scope="module", params=sorted(REAL_ITEMS))
def served_real_items(request, reference_dir, small_archive, tmp_path_factory):
    provider = request.param
    root = tmp_path_factory.mktemp(f"real-{provider}")
    shutil.copytree(small_archive.root / "cogs", root / "cogs", copy_function=os.link)
    shutil.copyfile(small_archive.root / "collection.json", root / "collection.json")
    (root / "items").mkdir()
    pointed_at = {}
    for relative, shifted in REAL_ITEMS[provider]:
        real = json.loads((reference_dir / relative).read_text())
        scene = _archive_scene(small_archive, shifted)
        archive_item = json.loads(small_archive.item_path(scene).read_text())
        (root / "items" / f"{real['id']}.json").write_text(json.dumps(_pointed(real, archive_item, provider)))
        pointed_at[real["id"]] = scene
    recipe = recipe_for_archive(small_archive, time_range__start="2015-01-01", time_range__end="2024-12-31")
    raw = recipe.model_dump(mode="json")
    raw["sources"][0]["provider"] = provider
    raw["sources"][0]["max_cloud_cover"] = 100  # the real 2015 item reports 97.9 % (its own tile, not ours)
    with ArchiveServer(root) as server:
        report = run_benchmark(
            type(recipe).model_validate(raw),
            RunSettings(output_dir=root / "out", stac_api=server.stac_api_url),
        )
    return provider, root / "out", report, pointed_at


def test_every_real_item_is_ingested(served_real_items) -> None:
    provider, _, report, pointed_at = served_real_items
    assert sorted(report.used["kronebreen/sentinel-2"]) == sorted(pointed_at), report.skipped


def test_real_conventions_decode_to_physical_reflectance(served_real_items, small_archive) -> None:
    provider, output, _, pointed_at = served_real_items
    cube = xr.open_zarr(output / "svalbard-calving-fronts" / "cube.zarr", group="kronebreen/sentinel-2")
    recipe = recipe_for_archive(small_archive)
    grid = aoi_grid(recipe.aois[0].geometry, recipe.grid.crs, recipe.grid.resolution)
    for t, item_id in enumerate(cube.item_id.values):
        zones_path = small_archive.root / "truth" / "zones" / f"{pointed_at[str(item_id)]}.tif"
        with rasterio.open(zones_path) as src:
            window = rasterio.windows.from_bounds(*grid.bounds, transform=src.transform)
            zones = src.read(1, window=window, out_shape=grid.shape, resampling=Resampling.nearest)
        green = cube.reflectance.isel(time=t).sel(band="B03").values
        ocean = float(np.nanmedian(green[zones == OCEAN]))
        glacier = float(np.nanmedian(green[zones == GLACIER]))
        # an ignored -0.1 (PC 04.00) lifts water above 0.1; a doubled one (Earth Search) pushes it below 0
        assert 0.0 < ocean < 0.1, (provider, item_id, ocean)
        assert 0.25 < glacier < 0.7, (provider, item_id, glacier)
