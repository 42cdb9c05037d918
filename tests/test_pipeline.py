"""End to end through the library pipeline: sample archive -> real STAC API -> Zarr cube -> valid STAC."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows
import requests
import uvicorn
import xarray as xr
from rasterio.enums import Resampling

from ml4earth_stac.config import RunSettings
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.sensors import sentinel2
from ml4earth_stac.stac.files import multihash_sha256
from ml4earth_stac.stac.serve import static_app
from ml4earth_stac.stac.validate import validate_tree
from tests.conftest import recipe_for_archive

OCEAN, GLACIER = 3, 2


@pytest.fixture(scope="module")
def published(small_archive, small_archive_server, tmp_path_factory):
    recipe = recipe_for_archive(small_archive)
    output = tmp_path_factory.mktemp("published")
    report = run_benchmark(recipe, RunSettings(output_dir=output, stac_api=small_archive_server.stac_api_url))
    return recipe, output, report


def _cube(output: Path) -> xr.Dataset:
    return xr.open_zarr(output / "svalbard-calving-fronts" / "cube.zarr", group="kronebreen/sentinel-2")


def _truth_zones(archive_root: Path, item_id: str, recipe) -> np.ndarray:
    grid = aoi_grid(recipe.aois[0].geometry, recipe.grid.crs, recipe.grid.resolution)
    with rasterio.open(archive_root / "truth" / "zones" / f"{item_id}.tif") as src:
        window = rasterio.windows.from_bounds(*grid.bounds, transform=src.transform)
        return src.read(1, window=window, out_shape=grid.shape, resampling=Resampling.nearest)


def test_report_accounts_for_every_scene(published, small_archive) -> None:
    _, _, report = published
    assert report.found["kronebreen/sentinel-2"] == len(small_archive.item_ids)
    assert report.scenes_used + len(report.skipped) == len(small_archive.item_ids)
    assert 0 < report.scenes_used < len(small_archive.item_ids)
    assert {s.reason for s in report.skipped} == {"too-cloudy"}  # the archive's overcast scene
    assert report.bytes_written > 0 and report.seconds["load+write"] > 0


def test_cube_holds_masked_physical_reflectance(published, small_archive) -> None:
    recipe, output, report = published
    cube = _cube(output)
    assert cube.reflectance.dims == ("time", "band", "y", "x") and cube.reflectance.dtype == np.float32
    assert list(cube.band.values) == recipe.sources[0].bands
    assert list(cube.item_id.values) == report.used["kronebreen/sentinel-2"]
    assert cube.attrs["proj:code"] == "EPSG:32633" and "spatial_ref" in cube.coords
    assert cube.reflectance.encoding["shards"] == (1, 1, recipe.grid.shard_px, recipe.grid.shard_px)
    assert set(cube.boa_offset.values) == {0.0, np.float32(-0.1)}  # both sides of baseline 04.00
    masked_pixels = 0
    for t in range(cube.sizes["time"]):
        green = cube.reflectance.isel(time=t).sel(band="B03").values
        scl = cube.scl.isel(time=t).values
        masked = np.isin(scl, sentinel2.DEFAULT_MASKED_SCL_CLASSES)
        masked_pixels += int(masked.sum())
        assert np.isnan(green[masked]).all(), "every cloudy/shadow/nodata pixel is NaN"
        assert not np.isnan(green[~masked]).any(), "every clear pixel has a value"
        zones = _truth_zones(small_archive.root, str(cube.item_id.values[t]), recipe)
        ocean = np.nanmedian(green[(zones == OCEAN) & ~masked])
        glacier = np.nanmedian(green[(zones == GLACIER) & ~masked])
        # Physical values: dark fjord water, bright ice. A missed -0.1 offset would lift water above 0.1.
        assert 0.0 < ocean < 0.1, (cube.processing_baseline.values[t], ocean)
        assert 0.25 < glacier < 0.7, (cube.processing_baseline.values[t], glacier)
    assert masked_pixels > 0.05 * cube.scl.size, "the archive's clouds reached the cube"


def test_cloud_fraction_matches_the_scl(published) -> None:
    cube = _cube(published[1])
    for t in range(cube.sizes["time"]):
        scl = cube.scl.isel(time=t).values
        expected = np.isin(scl, sentinel2.CLOUD_SCL_CLASSES).sum() / max((scl != 0).sum(), 1)
        assert float(cube.cloud_fraction[t]) == pytest.approx(expected, abs=1e-6)
        assert float(cube.cloud_fraction[t]) <= published[0].quality.max_cloud_fraction


def test_published_stac_validates_and_records_provenance(published, small_archive_server) -> None:
    _, output, report = published
    result = validate_tree(output / "catalog.json")
    assert result.ok, result.problems
    assert result.checked == 2 + report.scenes_used
    collection = json.loads((output / "svalbard-calving-fronts" / "collection.json").read_text())
    assert collection["assets"]["cube"]["type"] == "application/vnd+zarr"
    assert collection["sci:doi"] and collection["license"] == "CC-BY-4.0"
    for item_path in (output / "svalbard-calving-fronts" / "items").glob("*/*.json"):
        item = json.loads(item_path.read_text())
        derived = [link["href"] for link in item["links"] if link["rel"] == "derived_from"]
        assert len(derived) == 1 and derived[0].startswith(small_archive_server.stac_api_url)
        assert item["properties"]["proj:epsg"] == 32633 and item["properties"]["proj:code"] == "EPSG:32633"
        quicklook = item["assets"]["quicklook"]
        path = item_path.parent / quicklook["href"]
        assert quicklook["file:checksum"] == multihash_sha256(path)
        assert quicklook["file:size"] == path.stat().st_size


def test_store_manifest_checksums_every_file(published) -> None:
    folder = published[1] / "svalbard-calving-fronts"
    manifest = json.loads((folder / "cube-manifest.json").read_text())
    store_files = {
        str(p.relative_to(folder / "cube.zarr")) for p in (folder / "cube.zarr").rglob("*") if p.is_file()
    }
    assert set(manifest["files"]) == store_files
    name, entry = sorted(manifest["files"].items())[-1]
    assert entry["file:checksum"] == multihash_sha256(folder / "cube.zarr" / name)


def test_rerun_with_nothing_new_does_no_work(published, small_archive_server) -> None:
    recipe, output, _ = published
    collection = output / "svalbard-calving-fronts" / "collection.json"
    before = collection.stat().st_mtime_ns
    report = run_benchmark(recipe, RunSettings(output_dir=output, stac_api=small_archive_server.stac_api_url))
    assert report.up_to_date and "load+write" not in report.seconds
    assert collection.stat().st_mtime_ns == before
    assert not list((output / ".staging").glob("*"))


def test_cube_streams_over_http(published) -> None:
    output = published[1]
    config = uvicorn.Config(static_app(output), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        catalog = requests.get(f"http://127.0.0.1:{port}/catalog.json", headers={"Origin": "https://x.org"})
        assert catalog.json()["type"] == "Catalog"
        assert catalog.headers["access-control-allow-origin"] == "*"  # stac-browser runs on another origin
        thumbnail = f"http://127.0.0.1:{port}/svalbard-calving-fronts/thumbnail.png"
        partial = requests.get(thumbnail, headers={"Range": "bytes=0-7"})
        assert partial.status_code == 206 and partial.content == b"\x89PNG\r\n\x1a\n"
        url = f"http://127.0.0.1:{port}/svalbard-calving-fronts/cube.zarr"
        remote = xr.open_zarr(url, group="kronebreen/sentinel-2", chunks={"y": 1024, "x": 1024})
        local = _cube(output)
        assert remote.sizes == local.sizes
        np.testing.assert_array_equal(
            remote.reflectance.isel(time=0).values, local.reflectance.isel(time=0).values
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_same_cube_on_a_dask_cluster(published, small_archive_server, tmp_path) -> None:
    """--dask-address: the array work runs on a real scheduler + worker process over TCP, same bytes out."""
    distributed = pytest.importorskip("distributed")
    recipe, output, report = published
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        local_directory=str(tmp_path / "dask"),
    ) as cluster:
        on_cluster = run_benchmark(
            recipe,
            RunSettings(
                output_dir=tmp_path / "out",
                stac_api=small_archive_server.stac_api_url,
                dask_address=cluster.scheduler_address,
            ),
        )
    assert on_cluster.used == report.used
    local, remote = _cube(output), _cube(tmp_path / "out")
    np.testing.assert_array_equal(local.reflectance.values, remote.reflectance.values)
    np.testing.assert_array_equal(local.scl.values, remote.scl.values)
