"""Sensor adapters: what the sensor-neutral loader asks of each sensor, checked on real items and rasters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from ml4earth_stac.errors import RecipeError, SourceError
from ml4earth_stac.sensors.adapters import adapter_for, check_collection, check_provider

S2_SCENE = "S2A_29RKH_20200219_0_L2A"


def test_sentinel2_adapter_on_the_real_earth_search_scene(reference_dir: Path) -> None:
    folder = reference_dir / "rasters" / "sentinel-2-l2a" / S2_SCENE
    item = json.loads((folder / f"{S2_SCENE}.json").read_text())
    adapter = adapter_for("sentinel-2")
    assert (
        adapter.asset_key("B04", "earth-search") == "red" and adapter.mask_asset_key("earth-search") == "scl"
    )
    facts = adapter.scene_facts(item["properties"])
    assert facts == {"processing_baseline": "02.14", "boa_offset": 0.0}
    with rasterio.open(folder / "B04.tif") as src:
        dn = xr.DataArray(src.read(), dims=("band", "y", "x"))
    with rasterio.open(folder / "SCL.tif") as src:
        scl = src.read(1)
    red = adapter.decode(dn, facts)
    assert red.dtype == np.float32 and 0.05 < float(red.median()) < 0.6
    valid, cloudy = adapter.fractions(scl)
    assert valid == 1.0 and 0 < cloudy < 0.2
    masked = adapter.masked(scl)
    assert masked[np.isin(scl, (8, 9, 10))].all() and not masked[scl == 5].any()
    check_provider(adapter, "earth-search", item)
    with pytest.raises(SourceError, match="set source.provider"):
        check_provider(adapter, "planetary-computer", item)


def test_sentinel1_adapter_converts_linear_gamma0_to_db_after_resampling() -> None:
    adapter = adapter_for("sentinel-1")
    linear = xr.DataArray(
        np.array([[[1.0, 0.1, 0.001, 0.0, np.nan]]], dtype="float32"), dims=("band", "y", "x")
    )
    db = adapter.decode(linear, adapter.scene_facts({"sat:orbit_state": "ascending"}))
    np.testing.assert_allclose(db.values[0, 0, :4], [0.0, -10.0, -30.0, -30.0], atol=1e-5)
    assert np.isnan(db.values[0, 0, 4])
    plane = np.array([[0.2, -32768.0], [np.nan, 0.05]], dtype="float32")
    assert adapter.masked(plane).tolist() == [[False, True], [True, False]]
    assert adapter.fractions(plane) == (0.5, 0.0)
    assert adapter.mask_variable is None and adapter.units == "dB"
    with pytest.raises(RecipeError, match="unknown Sentinel-1 polarisation 'vx'"):
        adapter.asset_key("vx", "planetary-computer")


def test_collections_and_sensors_are_checked() -> None:
    check_collection(adapter_for("sentinel-2"), "earth-search", "sentinel-2-c1-l2a")
    with pytest.raises(RecipeError, match="known collections: \\['sentinel-1-rtc'\\]"):
        check_collection(adapter_for("sentinel-1"), "planetary-computer", "sentinel-1-grd")
    with pytest.raises(RecipeError, match="unknown sensor 'viirs'"):
        adapter_for("viirs")


def test_landsat_adapter_on_the_real_landsat8_scene(reference_dir: Path) -> None:
    scene = "LC08_L2SP_001062_20201031_20201106_02_T2"
    folder = reference_dir / "rasters" / "landsat-8-c2-l2" / scene
    item = json.loads((folder / f"{scene}_SR_stac.json").read_text())
    adapter = adapter_for("landsat")
    assert adapter.asset_key("red", "planetary-computer") == "red" and adapter.mask_fill == 1
    facts = adapter.scene_facts(item["properties"])
    assert facts == {"landsat_platform": 8.0, "slc_off": "no"}
    with rasterio.open(folder / f"{scene}_SR_B4.TIF") as src:
        dn = xr.DataArray(src.read(), dims=("band", "y", "x"))
    with rasterio.open(folder / f"{scene}_QA_PIXEL.TIF") as src:
        qa = src.read(1)
    red = adapter.decode(dn, facts)
    assert -0.05 < float(red.min()) and float(red.max()) < 1.25  # SENSORS: -0.036 .. 1.20
    valid, cloudy = adapter.fractions(qa)
    assert 0.6 < valid < 0.75 and cloudy > 0.99  # a 99.94 % cloudy scene (MTL CLOUD_COVER)
    assert adapter.masked(qa)[qa == 23888].all(), "cloud shadow is masked although its clear bit is set"
    with pytest.raises(RecipeError, match="surface temperature"):
        adapter.band("lwir11")


ASTER_ITEM = "AST_L1T_00312272006013647_20150517144406"
ASTER_XML = "AST_L1T_00305032000040446_20150409135350_78838.hdf.xml"


def _real_aster(reference_dir: Path) -> tuple[dict, str]:
    folder = reference_dir / "stac-items" / "planetary-computer" / "aster-l1t"
    item = json.loads((folder / f"{ASTER_ITEM}.json").read_text())
    return item, (reference_dir / "rasters" / "aster-l1t" / ASTER_XML).read_text()


def test_aster_adapter_expands_the_real_item_and_reads_gains_from_its_xml(reference_dir: Path) -> None:
    item, xml = _real_aster(reference_dir)
    asked: list[tuple[str, str]] = []

    def read_text(key: str, href: str) -> str:
        asked.append((key, href))
        return xml

    adapter = adapter_for("aster")
    expanded = adapter.expand(item, read_text)
    assert asked == [("xml", item["assets"]["xml"]["href"])]
    assert expanded["assets"]["B02"]["href"] == item["assets"]["VNIR"]["href"]
    assert expanded["assets"]["B02"]["ml4earth:band_index"] == 2 and "B02" not in item["assets"]
    facts = adapter.scene_facts(expanded["properties"])
    gains = dict(pair.split(":") for pair in facts["gains"].split())
    assert gains == {"B01": "HGH", "B02": "HGH"} | {
        b: "NOR" for b in ("B3N", "B04", "B05", "B06", "B07", "B08", "B09")
    }
    assert facts["swir_usable"] == "yes"
    assert facts["sun_elevation"] == item["properties"]["view:sun_elevation"]
    assert 0.983 < facts["earth_sun_distance"] < 0.984  # 27 December: near perihelion
    check_provider(adapter, "planetary-computer", item)
    assert [adapter.asset_key(b, "planetary-computer") for b in ("B01", "B3N", "B04")] == [
        "B01",
        "B3N",
        "B04",
    ]


def test_aster_adapter_decodes_dn_to_toa_reflectance_with_each_band_gain() -> None:
    adapter = adapter_for("aster")
    properties = {
        "datetime": "2006-06-21T11:00:00Z",
        "view:sun_elevation": 30.0,
        "ml4earth:aster_gains": {"B01": "HGH", "B02": "NOR", "B3N": "LO1", "B04": "NOR"},
    }
    facts = adapter.scene_facts(properties)
    dn = xr.DataArray(
        np.array([[[0, 101]], [[0, 101]], [[0, 101]], [[0, 101]]], np.uint8),
        dims=("band", "y", "x"),
        coords={"band": ["B01", "B02", "B3N", "B04"]},
    )
    rho = adapter.decode(dn, facts).values
    assert np.isnan(rho[:, 0, 0]).all()
    d2 = facts["earth_sun_distance"] ** 2
    for i, (ucc, esun) in enumerate(((0.676, 1848.0), (1.415, 1549.0), (1.15, 1114.0), (0.2174, 225.4))):
        expected = np.pi * 100 * ucc * d2 / (esun * np.sin(np.radians(30.0)))
        assert rho[i, 0, 1] == pytest.approx(expected, rel=1e-5)
    late = adapter.scene_facts(properties | {"datetime": "2016-06-21T11:00:00Z"})
    assert late["swir_usable"] == "no"
    rho_late = adapter.decode(dn, late).values
    assert np.isnan(rho_late[3]).all() and np.isfinite(rho_late[0, 0, 1])


def test_aster_adapter_bad_input(reference_dir: Path) -> None:
    from ml4earth_stac.errors import SceneSkipped

    item, _ = _real_aster(reference_dir)
    adapter = adapter_for("aster")
    with pytest.raises(RecipeError, match="thermal"):
        adapter.band("B13")
    with pytest.raises(RecipeError, match="unknown ASTER band 'B3B'"):
        adapter.band("B3B")
    no_xml = {**item, "assets": {k: v for k, v in item["assets"].items() if k != "xml"}}
    with pytest.raises(SceneSkipped, match="xml") as skipped:
        adapter.expand(no_xml, lambda key, href: "")
    assert skipped.value.reason == "missing-band"
    with pytest.raises(SceneSkipped) as bad:
        adapter.expand(item, lambda key, href: "<not-ecs/>")
    assert bad.value.reason == "bad-metadata" and ASTER_ITEM in str(bad.value)
    with pytest.raises(SourceError, match="gains were not read"):
        adapter.scene_facts(item["properties"])
    with pytest.raises(RecipeError, match="aster-l1t"):
        check_collection(adapter, "earth-search", "aster-l1t")
