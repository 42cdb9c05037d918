"""Four sensors on one grid per AOI, and the same cube whichever provider conventions the archive uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.transform
import rasterio.warp
import xarray as xr

from ml4earth_stac.archive import ArchiveServer, ArchiveSpec, build_sample_archive
from ml4earth_stac.config import RunSettings
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.stac.validate import validate_tree
from tests.conftest import ALL_SENSORS, recipe_for_archive

SPEC = {
    "n_dates": 4,
    "seed": 5,
    "scene_size_px": 1200,
    "sensors": ALL_SENSORS,
    "overcast_scene": False,
    "glaciers": ("kronebreen", "negribreen"),
}
GROUPS = ("kronebreen/sentinel-2", "kronebreen/landsat", "kronebreen/sentinel-1", "kronebreen/aster")
NEGRIBREEN = tuple(group.replace("kronebreen", "negribreen") for group in GROUPS)
PC_ONLY = ("sentinel-1", "aster")  # Earth Search serves neither Sentinel-1 RTC nor ASTER L1T


def _run(root: Path, output: Path, provider: str):
    manifest = build_sample_archive(root, ArchiveSpec(**SPEC, provider=provider))
    recipe = recipe_for_archive(manifest)
    if provider == "earth-search":  # a recipe keeps one provider
        raw = recipe.model_dump(mode="json")
        raw["sources"] = [s for s in raw["sources"] if s["sensor"] not in PC_ONLY]
        recipe = type(recipe).model_validate(raw)
    with ArchiveServer(manifest.root) as server:
        report = run_benchmark(recipe, RunSettings(output_dir=output, stac_api=server.stac_api_url))
    return manifest, report


@pytest.fixture(scope="module")
def both_providers(tmp_path_factory):
    root = tmp_path_factory.mktemp("multisensor")
    pc = _run(root / "pc-archive", root / "pc-out", "planetary-computer")
    es = _run(root / "es-archive", root / "es-out", "earth-search")
    return root / "pc-out", pc, root / "es-out", es


def _open(output: Path, group: str) -> xr.Dataset:
    return xr.open_zarr(output / "svalbard-calving-fronts" / "cube.zarr", group=group)


def test_every_sensor_lands_on_the_same_grid(both_providers) -> None:
    output, (manifest, report) = both_providers[0], both_providers[1]
    assert set(report.used) == {*GROUPS, *NEGRIBREEN} and all(report.used.values())
    cubes = {group: _open(output, group) for group in GROUPS}
    reference = cubes["kronebreen/sentinel-2"]
    for group, cube in cubes.items():
        np.testing.assert_array_equal(cube.x.values, reference.x.values, err_msg=group)
        np.testing.assert_array_equal(cube.y.values, reference.y.values, err_msg=group)
        assert cube.attrs["proj:code"] == reference.attrs["proj:code"] == f"EPSG:{manifest.epsg}"
    assert cubes["kronebreen/sentinel-1"].backscatter.attrs["units"] == "dB"
    assert list(cubes["kronebreen/aster"].band.values) == ["B01", "B02", "B3N"]
    assert set(cubes["kronebreen/aster"].swir_usable.values) == {"no"}  # archive dates are after 2008
    assert list(cubes["kronebreen/landsat"].band.values) == [
        "blue",
        "green",
        "red",
        "nir08",
        "swir16",
        "swir22",
    ]
    assert validate_tree(output / "catalog.json").ok


def test_each_sensor_shows_the_same_fjord_and_glacier(both_providers) -> None:
    """Dark open water west of the front, bright ice east of it, in every sensor's own units."""
    output = both_providers[0]
    s2 = _open(output, "kronebreen/sentinel-2").reflectance.sel(band="B03")
    landsat = _open(output, "kronebreen/landsat").reflectance.sel(band="green")
    sar = _open(output, "kronebreen/sentinel-1").backscatter.sel(band="vv")
    aster = _open(output, "kronebreen/aster").reflectance.sel(band="B01")  # green, like B03
    west, east = slice(0, 40), slice(-40, None)  # fjord mouth / upper glacier columns of the AOI grid

    def median(values: xr.DataArray) -> float:
        return float(np.nanmedian(values.values))

    for optical in (s2, landsat, aster):
        assert median(optical.isel(x=west)) < 0.1 < 0.3 < median(optical.isel(x=east))
    assert median(sar.isel(x=west)) < median(sar.isel(x=east)) - 5  # open water darker than ice, in dB


def test_landsat7_slc_off_gaps_are_nodata(both_providers) -> None:
    landsat = _open(both_providers[0], "kronebreen/landsat")
    for t in range(landsat.sizes["time"]):
        qa = landsat.qa_pixel.isel(time=t).values
        red = landsat.reflectance.isel(time=t).sel(band="red").values
        assert np.isnan(red[(qa & 1) == 1]).all(), "QA fill (SLC-off gaps, outside the scene) is NaN"
    assert "yes" in set(landsat.slc_off.values)


def test_provider_switch_gives_the_same_cube(both_providers) -> None:
    pc_out, (_, pc_report), es_out, (_, es_report) = both_providers
    for group in GROUPS[:2]:  # Sentinel-2 and Landsat
        assert len(pc_report.used[group]) == len(es_report.used[group])
        pc, es = _open(pc_out, group), _open(es_out, group)
        np.testing.assert_allclose(
            pc.reflectance.values, es.reflectance.values, atol=1e-4, equal_nan=True, err_msg=group
        )
    s2_pc, s2_es = _open(pc_out, GROUPS[0]), _open(es_out, GROUPS[0])
    assert list(s2_pc.processing_baseline.values) == list(s2_es.processing_baseline.values)
    # same pixels, different conventions: Earth Search COGs of baseline >= 04.00 are already shifted
    shifted = s2_es.processing_baseline.values >= "04.00"
    assert shifted.any(), "the archive has scenes on both sides of baseline 04.00"
    assert (s2_pc.boa_offset.values[shifted] == np.float32(-0.1)).all()
    assert (s2_es.boa_offset.values[shifted] == 0).all()


def test_scenes_of_the_neighbouring_zone_are_reprojected(both_providers) -> None:
    """Negribreen's scenes come in UTM 34N; the recipe's grid is 33N: every sensor must line up with the
    truth zones warped the same way (water dark, ice bright), which a mis-placed scene would not."""
    output, (manifest, _) = both_providers[0], both_providers[1]
    record = manifest.glacier_record("negribreen")
    assert record.epsg == 32634
    for group, variable, band in (
        ("negribreen/sentinel-2", "reflectance", "B03"),
        ("negribreen/landsat", "reflectance", "green"),
        ("negribreen/sentinel-1", "backscatter", "vv"),
        ("negribreen/aster", "reflectance", "B02"),
    ):
        cube = _open(output, group)
        assert cube.attrs["proj:code"] == "EPSG:32633", group
        for t in range(cube.sizes["time"]):
            zones = _zones_on_grid(manifest.root, record.item_ids, cube, t)
            values = cube[variable].isel(time=t).sel(band=band).values
            if group.endswith("aster"):  # L1T has no cloud mask: take the clear pixels of the same date's S2
                s2 = _open(output, "negribreen/sentinel-2").reflectance.isel(time=t).sel(band="B03").values
                values = np.where(np.isfinite(s2), values, np.nan)
            ocean, ice = np.nanmedian(values[zones == 3]), np.nanmedian(values[zones == 2])
            if variable == "backscatter":
                assert ocean < ice - 5, (group, t, ocean, ice)
            else:
                assert ocean < 0.1 < 0.25 < ice, (group, t, ocean, ice)


def _zones_on_grid(root: Path, s2_item_ids, cube: xr.Dataset, t: int) -> np.ndarray:
    """The Sentinel-2 truth zones of the same date (34N, 10 m), warped onto the cube's 33N grid."""
    date = str(cube.time.values[t])[:10].replace("-", "")
    item_id = next(i for i in s2_item_ids if date in i)
    x, y = cube.x.values, cube.y.values
    resolution = float(x[1] - x[0])
    transform = rasterio.transform.from_origin(
        x[0] - resolution / 2, y[0] + resolution / 2, resolution, resolution
    )
    zones = np.zeros((y.size, x.size), dtype="uint8")
    with rasterio.open(root / "truth" / "zones" / f"{item_id}.tif") as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1),
            zones,
            dst_transform=transform,
            dst_crs="EPSG:32633",
            resampling=rasterio.warp.Resampling.nearest,
        )
    return zones
