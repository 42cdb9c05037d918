"""Landsat Collection 2 Level-2 decoding against real provider items and a real L8 scene (shared/)."""

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

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors import landsat as ls
from tests.conftest import stac_items_in

SCENE_ID = "LC08_L2SP_001062_20201031_20201106_02_T2"
SCENE = Path("rasters/landsat-8-c2-l2") / SCENE_ID
ITEM_FOLDERS: dict[str, str] = {  # folder -> provider whose layout its items follow
    "stac-items/planetary-computer/landsat-c2-l2": "planetary-computer",
    "stac-items/earth-search/landsat-c2-l2": "earth-search",
    "stac-items/usgs-landsatlook/landsat-c2l2-sr": "usgs",
    "stac-items/stactools-generated/landsat/landsat-c2-l2": "planetary-computer",  # generates PC's items
    str(SCENE): "usgs",  # STAC 0.7 USGS items: eo:platform, legacy keys SR_B4.TIF / ST_B10.TIF
}
TABLES = {4: ls.TM_BANDS, 5: ls.TM_BANDS, 7: ls.ETM_BANDS, 8: ls.OLI_TIRS_BANDS, 9: ls.OLI_TIRS_BANDS}
RADSAT_BITFIELD_NAMES = {"occlusion": "terrain_occlusion", "dropped": "dropped_pixel"}
QA_BITFIELD_NAMES = {"dilated": "dilated_cloud", "shadow": "cloud_shadow"}  # USGS spelling -> ours


@pytest.fixture(scope="module")
def items(reference_dir: Path) -> list[tuple[dict[str, Any], str]]:
    found = [
        (item, provider)
        for folder, provider in ITEM_FOLDERS.items()
        for path in sorted((reference_dir / folder).glob("*.json"))
        for item in stac_items_in(path)
    ]
    # PC 4 + 1 in items-page, ES 1, USGS 3, stactools 5, L8 scene SR + ST
    assert len(found) == 16
    return found


@pytest.fixture(scope="module")
def mtl(reference_dir: Path) -> dict[str, Any]:
    path = reference_dir / SCENE / f"{SCENE_ID}_MTL.json"
    return json.loads(path.read_text())["LANDSAT_METADATA_FILE"]


def _read(reference_dir: Path, suffix: str) -> tuple[np.ndarray, float | None]:
    with rasterio.open(reference_dir / SCENE / f"{SCENE_ID}_{suffix}.TIF") as dataset:
        return dataset.read(1), dataset.nodata


# --- the real Landsat 8 scene -------------------------------------------------------------------------------


def test_mtl_scale_offset_equal_the_constants(mtl: dict[str, Any]) -> None:
    sr = mtl["LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
    for n in range(1, 8):
        assert float(sr[f"REFLECTANCE_MULT_BAND_{n}"]) == ls.SR_SCALE
        assert float(sr[f"REFLECTANCE_ADD_BAND_{n}"]) == ls.SR_OFFSET
    st_params = mtl["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"]
    assert float(st_params["TEMPERATURE_MULT_BAND_ST_B10"]) == ls.ST_SCALE
    assert float(st_params["TEMPERATURE_ADD_BAND_ST_B10"]) == ls.ST_OFFSET
    # The same MTL also holds the Level-1 TOA rescaling (2e-5, -0.1): not the one for SR (SENSORS.md 6, #5).
    assert float(mtl["LEVEL1_RADIOMETRIC_RESCALING"]["REFLECTANCE_MULT_BAND_4"]) != ls.SR_SCALE


def test_real_qa_pixel_cloud_fraction_matches_mtl_cloud_cover(reference_dir: Path, mtl: dict) -> None:
    qa, _ = _read(reference_dir, "QA_PIXEL")
    assert set(np.unique(qa).tolist()) == {1, 22280, 23888, 55052}  # SENSORS.md 2.3
    cloud_cover = float(mtl["IMAGE_ATTRIBUTES"]["CLOUD_COVER"]) / 100  # 99.94 %
    # The file keeps 1 in 400 of the 30 m pixels (600 m grid, ~93k non-fill samples): the binomial sampling
    # error of a fraction is < 0.01 points. CLOUD_COVER counts CFMask clouds only, cloud_fraction adds
    # shadow/dilated/cirrus (+0.06 points here). 1 point still fails Collection-1 bit positions (C1 cloud
    # bit 4 is the C2 shadow bit: 0.06 % here) or a fraction over all pixels instead of non-fill (69 %).
    assert ls.cloud_fraction(qa) == pytest.approx(cloud_cover, abs=0.01)
    flags = ls.qa_flags(qa)
    assert np.mean(flags["cloud"][~flags["fill"]]) == pytest.approx(cloud_cover, abs=0.002)  # 99.939 %
    assert np.mean(flags["fill"]) == pytest.approx(0.3066, abs=1e-4)
    assert ls.valid_fraction(qa) == 0.0  # every non-fill pixel is cloud or shadow
    lazy = xr.DataArray(da.from_array(qa, chunks=100), dims=("y", "x"))
    assert isinstance(ls.qa_mask(lazy).data, da.Array), "masks must stay lazy"
    assert ls.cloud_fraction(lazy) == ls.cloud_fraction(qa)
    assert ls.valid_fraction(lazy.data) == ls.valid_fraction(qa)


def test_real_shadow_pixels_are_clear_and_masked(reference_dir: Path) -> None:
    """62 real pixels have clear=1 and cloud_shadow=1 (23888): the clear bit does not exclude shadows."""
    qa, _ = _read(reference_dir, "QA_PIXEL")
    flags = ls.qa_flags(qa)
    shadow_and_clear = flags["clear"] & flags["cloud_shadow"]
    assert shadow_and_clear.sum() == 62 and (qa[shadow_and_clear] == 23888).all()
    assert ls.qa_mask(qa)[shadow_and_clear].all()


@pytest.mark.parametrize(
    ("value", "set_flags", "confidences"),
    [  # confidences: (cloud, cloud_shadow, snow, cirrus)
        (1, {"fill"}, (0, 0, 0, 0)),
        (21824, {"clear"}, (1, 1, 1, 1)),  # OLI clear land
        (21952, {"clear", "water"}, (1, 1, 1, 1)),
        (30048, {"clear", "snow"}, (1, 1, 3, 1)),
        (22280, {"cloud"}, (3, 1, 1, 1)),  # real, high-confidence cloud
        (23888, {"clear", "cloud_shadow"}, (1, 3, 1, 1)),  # real
        (55052, {"cloud", "cirrus"}, (3, 1, 1, 3)),  # real
        (5440, {"clear"}, (1, 1, 1, 0)),  # TM/ETM+: no cirrus bits
        (5896, {"cloud"}, (3, 1, 1, 0)),
        (7504, {"clear", "cloud_shadow"}, (1, 3, 1, 0)),
        (13664, {"clear", "snow"}, (1, 1, 3, 0)),
    ],
)
def test_sensors_md_qa_values_decode(value: int, set_flags: set[str], confidences: tuple[int, ...]) -> None:
    word = np.array([value], dtype=np.uint16)
    assert {name for name, flag in ls.qa_flags(word).items() if flag[0]} == set_flags
    assert tuple(
        (value >> ls.QA_PIXEL_CONFIDENCES[n]) & 3 for n in ("cloud", "cloud_shadow", "snow", "cirrus")
    ) == (confidences)
    assert bool(ls.qa_mask(word)[0]) == bool(set_flags & set(ls.DEFAULT_MASKED_FLAGS))
    assert bool(ls.qa_mask(word, ("snow", "water"))[0]) == bool(set_flags & {"snow", "water"})


def test_real_sr_b4_decodes_and_fill_becomes_nan(reference_dir: Path) -> None:
    dn, nodata = _read(reference_dir, "SR_B4")
    assert dn.dtype == np.uint16 and nodata == ls.NODATA_DN
    assert (dn[dn > 0].min(), dn.max()) == (5962, 50945)  # SENSORS.md 2.2
    rho = ls.decode_reflectance(dn)
    assert rho.dtype == np.float32
    assert np.isnan(rho).sum() == (dn == 0).sum() == 44570
    assert float(np.nanmin(rho)) == pytest.approx(-0.036, abs=1e-4)
    assert float(np.nanmax(rho)) == pytest.approx(1.201, abs=1e-3)  # bright cloud tops exceed 1
    clipped = ls.decode_reflectance(dn, clip=True)
    assert float(np.nanmin(clipped)) == 0.0 and float(np.nanmax(clipped)) == 1.0
    assert np.isnan(clipped).sum() == 44570
    # QA fill covers 284 more pixels than SR fill (edge pixels where another band is fill): mask both.
    qa, _ = _read(reference_dir, "QA_PIXEL")
    assert (ls.qa_mask(qa, ("fill",)) & ~np.isnan(rho)).sum() == 284
    lazy = xr.DataArray(da.from_array(dn, chunks=128), dims=("y", "x"), name="red")
    decoded = ls.decode_reflectance(lazy)
    assert isinstance(decoded.data, da.Array), "decoding must stay lazy"
    assert decoded.dtype == np.float32 and decoded.attrs["units"] == "1" and decoded.name == "red"
    np.testing.assert_array_equal(decoded.values, rho)


def test_real_st_b10_decodes_to_kelvin_within_mtl_range(reference_dir: Path, mtl: dict) -> None:
    dn, nodata = _read(reference_dir, "ST_B10")
    assert nodata == ls.NODATA_DN and dn[dn > 0].min() == 293
    kelvin = ls.decode_temperature(dn)
    params = mtl["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"]
    low, high = (
        float(params["TEMPERATURE_MINIMUM_BAND_ST_B10"]),
        float(params["TEMPERATURE_MAXIMUM_BAND_ST_B10"]),
    )
    valid = kelvin[~np.isnan(kelvin)]
    assert kelvin.dtype == np.float32 and np.isnan(kelvin).sum() == (dn == 0).sum()
    assert low <= valid.min() and valid.max() <= high
    assert float(valid.min()) == pytest.approx(150.0015, abs=1e-3)  # DN 293
    # Amazon, 99.94 % cloud: 27 % of the valid pixels sit on the 150 K floor (DN 293) under cold cloud, the
    # median is a cloud top (~230 K) and the warmest pixels are tropical surface (~306 K).
    assert np.mean(dn[dn > 0] == 293) == pytest.approx(0.263, abs=0.001)
    assert 220 < float(np.median(valid)) < 240 and 300 < float(valid.max()) < 310
    lazy = ls.decode_temperature(xr.DataArray(da.from_array(dn, chunks=128)))
    assert isinstance(lazy.data, da.Array) and lazy.attrs["units"] == "K"


# --- every real item ----------------------------------------------------------------------------------------


def _center_wavelength(item: dict[str, Any], key: str) -> float | None:
    """The centre wavelength an item gives an asset: eo:bands dicts, STAC 0.7 indices, or STAC 1.1 bands."""
    asset, props = item["assets"][key], item["properties"]
    entries = asset.get("eo:bands") or asset.get("bands")
    if entries is None:  # STAC 0.7 USGS ST item: the band is only listed in properties, by name
        entries = [b for b in props.get("eo:bands", []) if b.get("name") == key.removesuffix(".TIF")]
    entries = [props["eo:bands"][e] if isinstance(e, int) else e for e in entries]
    if not entries:
        return None
    return entries[0].get("center_wavelength", entries[0].get("eo:center_wavelength"))


def _expected_kinds(item: dict[str, Any]) -> set[str]:
    if item["properties"].get("landsat:correction") == "L2SR" or item.get("collection") == "landsat-c2l2-sr":
        return {"reflectance"}  # L2SR and USGS SR items have no thermal assets
    if item.get("collection") == "landsat-c2l2-st":
        return {"temperature"}  # the STAC 0.7 USGS ST item has no reflectance assets
    return {"reflectance", "temperature"}


def test_every_real_item(items: list[tuple[dict[str, Any], str]]) -> None:
    checked = 0
    for item, provider in items:
        platform = ls.platform_of(item)
        assert platform == int(item["id"][3]), item["id"]
        assert ls.bands_for(platform) is TABLES[platform]
        assert ls.detect_provider(item) == provider, item["id"]
        for band in ls.bands_for(platform):
            if band.kind not in _expected_kinds(item):
                with pytest.raises(SourceError, match="no asset"):
                    ls.find_asset_key(item, band.name)
                continue
            key = ls.find_asset_key(item, band.name)
            assert key in ls.asset_keys(band.name, provider, platform)
            wavelength = _center_wavelength(item, key)
            assert wavelength == pytest.approx(band.center_wavelength, abs=0.05), (item["id"], key)
            gsd = item["assets"][key].get("gsd")
            assert gsd in (None, band.gsd), (item["id"], key)
            default = (
                (ls.SR_SCALE, ls.SR_OFFSET) if band.kind == "reflectance" else (ls.ST_SCALE, ls.ST_OFFSET)
            )
            if "raster:bands" in item["assets"][key]:
                raster = item["assets"][key]["raster:bands"][0]
                assert (raster["scale"], raster["offset"], raster["nodata"]) == (*default, ls.NODATA_DN)
                checked += 1
            assert ls.scale_offset_from_item(item, key) == default
        assert ls.find_asset_key(item, "qa_pixel") in item["assets"]
    assert checked == 8 * 8 - 1 + 3 * 7  # 8 PC/ES/stactools OLI items less L2SR's lwir11, 3 TM/ETM+
    assert {ls.platform_of(item) for item, _ in items} == {4, 5, 7, 8, 9}


def test_qa_bitfields_of_real_items_match_the_tables(items: list[tuple[dict[str, Any], str]]) -> None:
    compared = 0
    for item, _ in items:
        instrument = ls.instrument_of(ls.platform_of(item))
        assets = item["assets"]
        for field in assets.get("qa_pixel", {}).get("classification:bitfields", []):
            name, offset = field["name"].removesuffix("_confidence"), field["offset"]
            name = QA_BITFIELD_NAMES.get(name, name)
            if field["length"] == 2:
                assert ls.QA_PIXEL_CONFIDENCES[name] == offset, item["id"]
            else:
                assert ls.QA_PIXEL_FLAGS[name] == offset, item["id"]
            compared += 1
        for field in assets.get("qa_radsat", {}).get("classification:bitfields", []):
            name = RADSAT_BITFIELD_NAMES.get(field["name"], field["name"].replace("band", "B"))
            if name != "unused":
                assert ls.QA_RADSAT_BITS[instrument][name] == field["offset"], (item["id"], name)
                compared += 1
    assert compared > 200


def test_scale_offset_from_item_fallbacks_and_errors(items: list[tuple[dict[str, Any], str]]) -> None:
    pc = next(item for item, provider in items if provider == "planetary-computer" and "qa" in item["assets"])
    assert ls.scale_offset_from_item(pc, "qa") == (0.01, 0.0)  # ST_QA: scale only, offset defaults to 0
    usgs = next(item for item, provider in items if item["id"].startswith("LE07") and provider == "usgs")
    assert ls.scale_offset_from_item(usgs, "red") == (ls.SR_SCALE, ls.SR_OFFSET)  # no raster:bands
    with pytest.raises(SourceError, match=f"item {usgs['id']}: asset 'qa_pixel' has no raster:bands"):
        ls.scale_offset_from_item(usgs, "qa_pixel")
    with pytest.raises(SourceError, match="no asset 'lwir'"):
        ls.scale_offset_from_item(usgs, "lwir")
    broken = {"id": "x", "assets": {"red": {"raster:bands": [{"scale": "2.75e-05", "offset": -0.2}]}}}
    with pytest.raises(SourceError, match="raster:bands of 'red'"):
        ls.scale_offset_from_item(broken, "red")


def test_platform_fallbacks_and_slc_off(items: list[tuple[dict[str, Any], str]]) -> None:
    item = next(item for item, _ in items if item["id"] == "LC08_L2SP_028030_20200114_20200824_02_T1_SR")
    props = dict(item["properties"])
    assert ls.platform_of(props) == 8  # USGS LANDSAT_8
    del props["platform"]
    assert ls.platform_of({"id": item["id"], "properties": props}) == 8
    assert ls.platform_of(props) == 8  # landsat:scene_id LC80280302020014LGN00
    del props["landsat:scene_id"]
    with pytest.raises(SourceError, match="no Landsat 4/5/7/8/9 platform"):
        ls.platform_of(props)
    with pytest.raises(SourceError, match="Landsat 1-3"):
        ls.platform_of({"platform": "landsat-3"})
    slc = {item["id"][:4]: ls.slc_off(item) for item, _ in items}
    assert slc == {"LC08": False, "LC09": False, "LE07": True, "LT04": False, "LT05": False}
    assert not ls.slc_off({"platform": "landsat-7", "datetime": "2003-05-30T23:59:59Z"})
    assert ls.slc_off({"platform": "LANDSAT_7", "datetime": "2003-05-31T00:00:00Z"})
    with pytest.raises(SourceError, match="not an ISO date"):
        ls.slc_off({"platform": "landsat-7", "datetime": None})


def test_radsat_bits_per_instrument() -> None:
    words = np.array([1 << bit for bit in range(16)], dtype=np.uint16)
    assert np.flatnonzero(ls.saturated_mask(words)).tolist() == [0, 1, 2, 3, 4, 5, 6, 8]
    assert np.flatnonzero(ls.saturated_mask(words, ["lwir"], platform=7)).tolist() == [5, 8]  # B6L, B6H
    assert np.flatnonzero(ls.saturated_mask(words, ["lwir", "red"], platform=5)).tolist() == [2, 5]
    assert np.flatnonzero(ls.saturated_mask(words, ["red", "B9"], platform=9)).tolist() == [3, 8]
    assert np.flatnonzero(ls.radsat_flags(words, 4)["dropped_pixel"]).tolist() == [9]
    assert np.flatnonzero(ls.radsat_flags(words, 8)["terrain_occlusion"]).tolist() == [11]
    lazy = ls.saturated_mask(xr.DataArray(da.from_array(words, chunks=4)), ["nir08"], platform=8)
    assert isinstance(lazy.data, da.Array) and np.flatnonzero(lazy.values).tolist() == [4]
    with pytest.raises(LoadError, match="needs platform"):
        ls.saturated_mask(words, ["red"])
    with pytest.raises(LoadError, match="no saturation of 'lwir11'"):
        ls.saturated_mask(words, ["lwir11"], platform=8)  # TIRS is not in QA_RADSAT
    with pytest.raises(LoadError, match="no saturation of 'dropped_pixel'"):
        ls.saturated_mask(words, ["dropped_pixel"], platform=7)


def test_asset_keys_and_provider_errors() -> None:
    assert ls.asset_key("red", "planetary-computer", 5) == "red"
    assert ls.asset_keys("B4", "usgs", 8) == ("red", "SR_B4.TIF")
    assert ls.asset_keys("red", "usgs", 7) == ("red", "SR_B3.TIF")
    assert ls.asset_keys("lwir11", "usgs", 8) == ("lwir11", "ST_B10.TIF")
    assert ls.asset_keys("qa_pixel", "usgs") == ("qa_pixel", "QA_PIXEL.TIF")
    assert ls.band_info("red", 7).number == "B3" and ls.band_info("red", 8).number == "B4"
    with pytest.raises(LoadError, match="no Level-2 band 'coastal'"):
        ls.asset_key("coastal", "earth-search", 7)
    with pytest.raises(LoadError, match="no Level-2 band 'lwir11'"):
        ls.asset_key("lwir11", "earth-search", 5)  # TM/ETM+ thermal is 'lwir'
    with pytest.raises(LoadError, match="usgs"):
        ls.asset_key("red", "sentinel-hub")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="item odd: matches none"):
        ls.detect_provider(
            {"id": "odd", "properties": {}, "assets": {"red": {"href": "https://x.org/r.tif"}}}
        )
    with pytest.raises(SourceError, match="matches"):
        ls.detect_provider(
            {
                "id": "mixed",
                "properties": {"platform": "LANDSAT_8", "earthsearch:payload_id": "p"},
                "assets": {},
            }
        )
    with pytest.raises(SourceError, match="Level-2"):
        ls.bands_for(6)
    with pytest.raises(LoadError, match="not QA_PIXEL flags"):
        ls.qa_mask(np.zeros(2, np.uint16), ("shadow",))
    with pytest.raises(LoadError, match="not finite"):
        ls.decode_reflectance(np.zeros(2, np.uint16), offset=float("nan"))


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    rho=st.lists(st.floats(min_value=-0.19, max_value=1.6), min_size=1, max_size=64),
    as_xarray=st.booleans(),
)
def test_reflectance_decode_inverts_encode(rho: list[float], as_xarray: bool) -> None:
    truth = np.asarray(rho)
    dn = np.clip(np.round((truth - ls.SR_OFFSET) / ls.SR_SCALE), 1, 65535).astype(np.uint16)
    decoded = ls.decode_reflectance(xr.DataArray(dn) if as_xarray else dn)
    values = decoded.values if as_xarray else decoded
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, truth, atol=ls.SR_SCALE / 2 + 1e-6)


@settings(max_examples=100, deadline=None)
@given(kelvin=st.lists(st.floats(min_value=150.0, max_value=372.9), min_size=1, max_size=64))
def test_temperature_decode_inverts_encode(kelvin: list[float]) -> None:
    truth = np.asarray(kelvin)
    dn = np.round((truth - ls.ST_OFFSET) / ls.ST_SCALE).astype(np.uint16)
    np.testing.assert_allclose(ls.decode_temperature(dn), truth, atol=ls.ST_SCALE / 2 + 1e-4)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.integers(0, 65535), min_size=1, max_size=64),
    masked=st.sets(st.sampled_from(sorted(ls.QA_PIXEL_FLAGS))),
    lazy=st.booleans(),
)
def test_qa_mask_equals_a_plain_bit_test(words: list[int], masked: set[str], lazy: bool) -> None:
    qa = np.asarray(words, dtype=np.uint16)
    expected = np.array([any((w >> ls.QA_PIXEL_FLAGS[name]) & 1 for name in masked) for w in words])
    mask = ls.qa_mask(da.from_array(qa, chunks=8) if lazy else qa, masked)
    np.testing.assert_array_equal(np.asarray(mask), expected)
    # float QA with NaN (stackstac's fill) counts as fill
    as_float = np.where(np.arange(qa.size) == 0, np.nan, qa.astype(np.float64))
    assert bool(ls.qa_mask(as_float, ("fill",))[0])
