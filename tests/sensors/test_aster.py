"""ASTER L1T decoding against real Planetary Computer and stactools items and a real ECS .hdf.xml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors import aster
from tests.conftest import stac_items_in

PC_AST = Path("stac-items/planetary-computer/aster-l1t")
STX_AST = Path("stac-items/stactools-generated/aster")
XML = Path("rasters/aster-l1t/AST_L1T_00305032000040446_20150409135350_78838.hdf.xml")
EXPECTED_GAINS = "01 HGH, 02 HGH, 3N NOR, 04 NOR, 05 NOR, 06 NOR, 07 NOR, 08 NOR, 09 NOR"
DTYPES = {"VNIR": "uint8", "SWIR": "uint8", "TIR": "uint16"}
RESOLUTION = {"VNIR": 15.0, "SWIR": 30.0, "TIR": 90.0}
LATE = {"id": "AST_L1T_late", "properties": {"datetime": "2009-07-01T03:00:00Z"}}


@pytest.fixture(scope="module")
def real_items(reference_dir: Path) -> list[dict[str, Any]]:
    files = sorted((reference_dir / PC_AST).glob("*.json")) + sorted((reference_dir / STX_AST).glob("*.json"))
    items = [item for file in files for item in stac_items_in(file)]
    assert len(items) == 4, "2 PC items + 1 in items-page.limit1 + 1 stactools example"
    return items


@pytest.fixture(scope="module")
def xml_text(reference_dir: Path) -> str:
    return (reference_dir / XML).read_text()


# --- the real ECS .hdf.xml ----------------------------------------------------------------------------------


def test_parse_gains_of_real_xml(xml_text: str) -> None:
    assert f"<PSAValue>{EXPECTED_GAINS}</PSAValue>" in xml_text, "the file lists the gains checked below"
    gains = aster.parse_gains(xml_text)
    assert gains == {"B01": "HGH", "B02": "HGH", "B3N": "NOR"} | {f"B0{i}": "NOR" for i in range(4, 10)}
    # TIR has one gain: not listed, and decodable without one.
    assert aster.dn_to_radiance(np.array([2], np.uint16), "B13")[0] == pytest.approx(0.005693)


def test_real_xml_date_keeps_swir(xml_text: str) -> None:
    when = aster.parse_acquisition_datetime(xml_text)
    assert when.isoformat() == "2000-05-03T04:04:46.534000+00:00"
    assert aster.swir_usable(when) and aster.swir_usable(when.date()) and aster.swir_usable("2000-05-03")


def test_parse_gains_errors(xml_text: str) -> None:
    with pytest.raises(SourceError, match="x.hdf.xml: no PSA 'ASTERGains'"):
        aster.parse_gains(xml_text.replace("ASTERGains", "Gains"), source="x.hdf.xml")
    with pytest.raises(SourceError, match="'01 BIG'"):
        aster.parse_gains(xml_text.replace("01 HGH", "01 BIG"))
    with pytest.raises(SourceError, match="not parsable XML"):
        aster.parse_gains(xml_text[:500])
    low = aster.parse_gains(xml_text.replace("04 NOR", "04 LO2").replace("09 NOR", "09 NOR, 3B NOR"))
    assert low["B04"] == "LO2" and "3B" not in low and len(low) == 9


# --- every real item: band table, raster metadata, splitting ------------------------------------------------


def _check_asset(item_id: str, key: str, asset: dict[str, Any]) -> None:
    table = aster.SUBSYSTEMS[key]
    assert len(asset["eo:bands"]) == len(table), (item_id, key)
    for record, eo_band in zip(table, asset["eo:bands"], strict=True):
        assert eo_band["name"] == record.eo_name, (item_id, key)
        assert eo_band["center_wavelength"] == pytest.approx(record.center_wavelength, abs=0.01)
        assert eo_band["full_width_half_max"] == pytest.approx(record.full_width_half_max, abs=0.01)
        assert aster.band_asset(record.name) == (key, record.band_index)
        assert record.dtype == DTYPES[key]
    for raster_band in asset.get("raster:bands", []):
        assert raster_band["nodata"] == aster.NODATA_DN and raster_band["data_type"] == DTYPES[key]
    transform = asset.get("proj:transform")
    resolution = abs(transform[0]) if transform else asset.get("gsd")
    assert resolution == pytest.approx(RESOLUTION[key], rel=0.01), (item_id, key)
    assert {record.gsd for record in table} == {RESOLUTION[key]}


def test_every_real_item_matches_the_band_table(real_items: list[dict[str, Any]]) -> None:
    for item in real_items:
        assert aster.detect_provider(item) == "planetary-computer"
        for key in aster.SUBSYSTEMS:
            _check_asset(item["id"], key, item["assets"][key])
        assert aster.usable_bands(item).bands == tuple(aster.BANDS_BY_NAME), "2000-2006: all bands"
        assert aster.swir_usable(item["properties"]["datetime"])


def test_split_every_real_item(real_items: list[dict[str, Any]]) -> None:
    for item in real_items:
        before = json.dumps(item, sort_keys=True)
        split = aster.split_multiband_item(item)
        assert json.dumps(item, sort_keys=True) == before, "the input item must not change"
        virtual = {k: a for k, a in split["assets"].items() if aster.BAND_INDEX_FIELD in a}
        assert list(virtual) == list(aster.BANDS_BY_NAME), item["id"]
        assert set(item["assets"]) <= set(split["assets"]), "multi-band assets are kept for odc-stac"
        for name, asset in virtual.items():
            key, index = aster.band_asset(name)
            parent = item["assets"][key]
            assert asset["href"] == parent["href"] and asset[aster.BAND_INDEX_FIELD] == index
            assert (
                asset[aster.SOURCE_ASSET_FIELD] == key and asset["proj:transform"] == parent["proj:transform"]
            )
            assert [b["name"] for b in asset["eo:bands"]] == [aster.band(name).eo_name]
            assert len(asset["raster:bands"]) == 1, "stackstac accepts exactly one raster:bands entry"
            assert asset["raster:bands"][0]["name"] == aster.band(name).eo_name
        assert aster.split_multiband_item(split) == split, "splitting twice changes nothing"


def test_split_keeps_only_present_subsystems_and_checks_band_order(real_items: list[dict[str, Any]]) -> None:
    night = json.loads(json.dumps(real_items[0]))
    del night["assets"]["VNIR"], night["assets"]["SWIR"]  # night scenes carry TIR only
    split = aster.split_multiband_item(night)
    assert [k for k, a in split["assets"].items() if aster.BAND_INDEX_FIELD in a] == [
        "B10", "B11", "B12", "B13", "B14",
    ]  # fmt: skip
    swapped = json.loads(json.dumps(real_items[0]))
    swapped["assets"]["VNIR"]["eo:bands"].reverse()
    with pytest.raises(SourceError, match=f"item {swapped['id']}: asset VNIR lists bands"):
        aster.split_multiband_item(swapped)
    with pytest.raises(SourceError, match=f"item {swapped['id']}: not in the Planetary Computer"):
        aster.detect_provider(swapped)
    short = json.loads(json.dumps(real_items[0]))
    del short["assets"]["TIR"]["raster:bands"][-1]
    with pytest.raises(SourceError, match="asset TIR lists bands"):
        aster.split_multiband_item(short)
    taken = json.loads(json.dumps(real_items[0]))
    taken["assets"]["B01"] = {"href": "https://example.com/other.tif"}
    with pytest.raises(SourceError, match="B01 is already used"):
        aster.split_multiband_item(taken)


def test_virtual_asset_reads_one_band_of_a_multiband_cog(tmp_path: Path, real_items: list) -> None:
    """The decision in practice: GDAL's vrt:// opens band ``ml4earth:band_index`` as a 1-band file."""
    path = tmp_path / "VNIR.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 3, "dtype": "uint8", "nodata": 0}
    with rasterio.open(
        path, "w", crs="EPSG:32647", transform=from_origin(479160, -7977510, 15, 15), **profile
    ):
        pass
    with rasterio.open(path, "r+") as dataset:
        for index in (1, 2, 3):
            dataset.write(np.full((8, 8), 10 * index, np.uint8), index)
    item = json.loads(json.dumps(real_items[0]))
    item["assets"]["VNIR"]["href"] = str(path)
    asset = aster.split_multiband_item(item)["assets"]["B3N"]
    with rasterio.open(f"vrt://{asset['href']}?bands={asset[aster.BAND_INDEX_FIELD]}") as dataset:
        assert dataset.count == 1 and dataset.nodata == 0
        assert (dataset.read(1) == 30).all()


def test_detect_provider_rejects_other_layouts() -> None:
    with pytest.raises(SourceError, match="item lpdaac: not in the Planetary Computer aster-l1t layout"):
        aster.detect_provider({"id": "lpdaac", "assets": {"ImageData1": {"href": "x.tif"}}})
    with pytest.raises(SourceError, match="collection 'aster-l1a'"):
        aster.detect_provider({"id": "a", "collection": "aster-l1a", "assets": {"VNIR": {"href": "x"}}})
    with pytest.raises(SourceError, match="expected a STAC item dict"):
        aster.detect_provider([])  # type: ignore[arg-type]


# --- DN -> radiance -> reflectance --------------------------------------------------------------------------


def test_dn_to_radiance_hand_values() -> None:
    dn = np.array([0, 1, 101, 255], np.uint8)
    np.testing.assert_allclose(
        aster.dn_to_radiance(dn, "B01", "HGH"), [np.nan, 0.0, 100 * 0.676, 254 * 0.676]
    )
    assert aster.dn_to_radiance(dn, "B3N", "NOR")[2] == pytest.approx(100 * 0.862)
    assert aster.dn_to_radiance(dn, "B05", "LO2")[2] == pytest.approx(100 * 0.4090)
    assert aster.dn_to_radiance(dn, "VNIR_Band2", "LO1")[2] == pytest.approx(100 * 1.89)
    tir = aster.dn_to_radiance(np.array([0, 1001], np.uint16), "B10", "NOR")
    assert np.isnan(tir[0]) and tir[1] == pytest.approx(1000 * 0.006822) and tir.dtype == np.float32
    with pytest.raises(LoadError, match="band B01: no unit conversion coefficient for gain None"):
        aster.dn_to_radiance(dn, "B01")  # VNIR/SWIR need the scene's gain
    with pytest.raises(LoadError, match="gain 'LO2'"):
        aster.dn_to_radiance(dn, "B02", "LO2")
    with pytest.raises(LoadError, match="gain 'HGH'"):
        aster.dn_to_radiance(dn, "B14", "HGH")
    with pytest.raises(LoadError, match="unknown ASTER L1T band '3B'"):
        aster.dn_to_radiance(dn, "3B", "NOR")


def test_radiance_and_reflectance_stay_lazy() -> None:
    dn = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    lazy = xr.DataArray(da.from_array(dn, chunks=8), dims=("y", "x"), name="B01")
    radiance = aster.dn_to_radiance(lazy, "B01", "NOR")
    assert isinstance(radiance.data, da.Array) and radiance.attrs["units"] == aster.RADIANCE_UNITS
    assert radiance.name == "B01" and radiance.dtype == np.float32
    np.testing.assert_array_equal(radiance.values, aster.dn_to_radiance(dn, "B01", "NOR"))
    assert isinstance(aster.dn_to_radiance(lazy.data, "B01", "NOR"), da.Array)
    rho = aster.toa_reflectance(radiance, "B01", 34.202038, 0.9835)
    assert isinstance(rho.data, da.Array) and rho.dtype == np.float32 and rho.attrs["units"] == "1"
    expected = np.pi * radiance.values * 0.9835**2 / (aster.ESUN["B01"] * np.sin(np.radians(34.202038)))
    np.testing.assert_allclose(rho.values, expected, rtol=1e-6)  # NaN where DN 0 (equal_nan)


def test_toa_reflectance_hand_value_and_errors() -> None:
    # Sun at zenith, d = 1 AU: rho = pi * L / ESUN. L = ESUN / pi gives exactly 1.
    radiance = np.array([aster.ESUN["B3N"] / np.pi, np.nan], np.float32)
    np.testing.assert_allclose(aster.toa_reflectance(radiance, "B3N", 90.0, 1.0), [1.0, np.nan], rtol=1e-6)
    # 30 deg elevation halves cos(zenith): reflectance doubles; d = 1.01 AU multiplies it by 1.0201.
    assert aster.toa_reflectance(radiance, "B3N", 30.0, 1.01)[0] == pytest.approx(2 * 1.0201, rel=1e-5)
    with pytest.raises(LoadError, match="thermal"):
        aster.toa_reflectance(radiance, "B10", 40.0, 1.0)
    with pytest.raises(LoadError, match="view:sun_elevation"):
        aster.toa_reflectance(radiance, "B01", -3.0, 1.0)
    with pytest.raises(LoadError, match="AU"):
        aster.toa_reflectance(radiance, "B01", 40.0, 149.6e6)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(list(aster.BANDS_BY_NAME)),
    gain=st.sampled_from(aster.GAINS),
    dn=st.lists(st.integers(min_value=1, max_value=65535), min_size=2, max_size=64),
)
def test_radiance_is_monotone_in_dn(name: str, gain: str, dn: list[int]) -> None:
    if gain not in aster.UCC[name]:
        return
    dtype = np.dtype(aster.band(name).dtype)
    values = np.sort(np.clip(np.asarray(dn), 1, np.iinfo(dtype).max)).astype(dtype)
    radiance = aster.dn_to_radiance(values, name, gain)  # type: ignore[arg-type]
    assert radiance.dtype == np.float32 and not np.isnan(radiance).any()
    assert (np.diff(radiance) >= 0).all() and radiance[0] >= 0
    np.testing.assert_allclose(radiance, (values.astype(np.float64) - 1) * aster.UCC[name][gain], rtol=1e-6)


# --- SWIR failure -------------------------------------------------------------------------------------------


def test_swir_failure_date() -> None:
    assert aster.swir_usable("2008-04-22T23:59:59Z") and not aster.swir_usable("2008-04-23T00:00:00Z")
    assert aster.swir_usable("2008-04-23T01:00:00+03:00"), "2008-04-22 22:00 UTC: still usable"
    assert not aster.swir_usable(aster.SWIR_FAILURE_DATE)
    with pytest.raises(SourceError, match="ISO 8601"):
        aster.swir_usable("April 2008")


def test_later_acquisition_drops_swir_with_reason() -> None:
    selection = aster.usable_bands(LATE, ["B01", "B3N", "B04", "B09", "B13"])
    assert selection.bands == ("B01", "B3N", "B13") and selection.dropped == ("B04", "B09")
    assert "item AST_L1T_late" in selection.reason and "2008-04-23" in selection.reason
    assert aster.usable_bands(LATE, ["B01"]) == aster.BandSelection(("B01",))
    everything = aster.usable_bands(LATE["properties"])  # default: all 14 bands requested
    assert everything.bands == ("B01", "B02", "B3N", "B10", "B11", "B12", "B13", "B14")
    assert everything.dropped == aster.SWIR_BANDS
    with pytest.raises(SourceError, match="item AST_L1T_late: SWIR bands B05, B06 dropped.*earlier scene"):
        aster.usable_bands(LATE, ["B05", "B06"])
    with pytest.raises(SourceError, match="item x: no datetime"):
        aster.usable_bands({"id": "x", "properties": {}}, ["B01"])
    with pytest.raises(LoadError, match="unknown ASTER L1T band 'B15'"):
        aster.usable_bands(LATE, ["B15"])
