"""Sentinel-2 L2A decoding against real provider items and real rasters (shared/reference)."""

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
from ml4earth_stac.sensors import sentinel2 as s2

PC_S2 = Path("stac-items/planetary-computer/sentinel-2-l2a")
ES_S2 = Path("stac-items/earth-search/sentinel-2-l2a")
ES_C1 = Path("stac-items/earth-search/sentinel-2-c1-l2a")
RASTER_SCENE = Path("rasters/sentinel-2-l2a/S2A_29RKH_20200219_0_L2A")
RASTER_ITEM = RASTER_SCENE / "S2A_29RKH_20200219_0_L2A.json"

# Offsets we expect for the scenes named in SENSORS.md (item id -> (baseline, offset)).
EXPECTED: dict[str, tuple[tuple[int, int], float]] = {
    "S2A_MSIL2A_20150704T101006_R022_T35XQA_20210411T133707": ((2, 12), 0.0),  # PC 2015, Esri 02.12
    "S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251": ((4, 0), -0.1),  # PC 2022, 04.00
    "S2B_MSIL2A_20250312T014549_R074_T53NKG_20250312T041213": ((5, 11), -0.1),  # PC 2025, 05.11
    "S2A_29RKH_20200219_0_L2A": ((2, 14), 0.0),  # ES 2020, boa_offset_applied false
    "S2A_13TDE_20231008_0_L2A": ((5, 9), 0.0),  # ES 2023, boa_offset_applied true: COG DN shifted
    "S2B_24MUV_20250731_0_L2A": ((5, 11), 0.0),  # ES 2025, boa_offset_applied true
    "S2B_T24MUV_20250731T130245_L2A": ((5, 11), -0.1),  # ES C1: ESA DN, no flag
}


def _items(path: Path) -> list[dict[str, Any]]:
    """The STAC items of a file: the item itself or the features of a FeatureCollection; none for others."""
    doc = json.loads(path.read_text())
    if doc.get("type") == "FeatureCollection":
        return list(doc["features"])
    return [doc] if doc.get("type") == "Feature" else []


def _items_under(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("*.geojson"))
    return [item for file in files for item in _items(file)]


@pytest.fixture(scope="module")
def pc_items(reference_dir: Path) -> list[dict[str, Any]]:
    items = _items_under(reference_dir / PC_S2)
    assert len(items) == 15, "5 items + 1 in items-page + 9 in the item collection"
    return items


@pytest.fixture(scope="module")
def es_items(reference_dir: Path) -> list[dict[str, Any]]:
    items = _items_under(reference_dir / ES_S2) + _items(reference_dir / RASTER_ITEM)
    assert len(items) == 3
    return items


@pytest.fixture(scope="module")
def raster_item(reference_dir: Path) -> dict[str, Any]:
    return json.loads((reference_dir / RASTER_ITEM).read_text())


def _read(path: Path) -> tuple[np.ndarray, float | None]:
    with rasterio.open(path) as dataset:
        return dataset.read(1), dataset.nodata


# --- real rasters -------------------------------------------------------------------------------------------


def test_real_b04_decodes_to_plausible_desert_reflectance(reference_dir: Path, raster_item: dict) -> None:
    assert s2.processing_baseline(raster_item) == (2, 14)
    offset = s2.reflectance_offset(raster_item["properties"])
    assert offset == 0.0
    dn, nodata = _read(reference_dir / RASTER_SCENE / "B04.tif")
    assert dn.dtype == np.uint16 and nodata == s2.NODATA_DN
    rho = s2.decode_reflectance(dn, offset)
    assert rho.dtype == np.float32 and rho.shape == dn.shape
    # 29RKH (Western Sahara, February): bright bare desert, red reflectance mostly 0.1-0.5.
    assert np.mean((rho > 0.1) & (rho < 0.5)) > 0.95
    assert 0.25 < float(np.nanmedian(rho)) < 0.45 and float(np.nanmax(rho)) < 1.0
    np.testing.assert_allclose(rho, dn * 1e-4, rtol=1e-6)


def test_nodata_becomes_nan_numpy_and_lazy_xarray(reference_dir: Path) -> None:
    dn, _ = _read(reference_dir / RASTER_SCENE / "B04.tif")
    dn = dn.copy()
    dn[:10, :] = s2.NODATA_DN  # this subset has no nodata of its own: make a border
    rho = s2.decode_reflectance(dn, -0.1)
    assert np.isnan(rho[:10]).all() and not np.isnan(rho[10:]).any()
    lazy = xr.DataArray(da.from_array(dn, chunks=256), dims=("y", "x"), name="B04")
    decoded = s2.decode_reflectance(lazy, -0.1)
    assert isinstance(decoded.data, da.Array), "decoding must stay lazy"
    assert decoded.dtype == np.float32 and decoded.attrs["units"] == "1" and decoded.name == "B04"
    np.testing.assert_array_equal(decoded.values, rho)


def test_real_scl_classes_and_cloud_fraction(reference_dir: Path, raster_item: dict) -> None:
    scl, nodata = _read(reference_dir / RASTER_SCENE / "SCL.tif")
    assert nodata == s2.SCL_NODATA
    values, counts = np.unique(scl, return_counts=True)
    assert set(values.tolist()) == {2, 5, 7, 8, 9, 10}  # SENSORS.md 1.4; no 0 (nodata) in this subset
    assert (counts > 0).all()
    assert s2.scl_mask(scl).sum() == np.isin(scl, (8, 9, 10)).sum()
    fraction = s2.cloud_fraction(scl)
    assert 0.0 < fraction < 1.0
    # ESA computes eo:cloud_cover (= medium + high + cirrus percentages) on the 20 m SCL; this file is the
    # same SCL resampled to 200 m (1 pixel in 100 kept). Resampling moves class fractions by at most a few
    # tenths of a percentage point for clouds this size (measured: 4.06 % here vs 4.05 %). 1 point (25 %
    # of the value) still catches any wrong class set, e.g. forgetting cirrus (-3.4 points).
    props = raster_item["properties"]
    reported = (props["eo:cloud_cover"] + props["s2:cloud_shadow_percentage"]) / 100
    assert fraction == pytest.approx(reported, abs=0.01)
    for scl_class, field in [(8, "medium_proba_clouds"), (9, "high_proba_clouds"), (10, "thin_cirrus")]:
        assert np.mean(scl == scl_class) == pytest.approx(props[f"s2:{field}_percentage"] / 100, abs=0.005)
    assert s2.valid_fraction(scl) == pytest.approx(1 - fraction)


def test_scl_reductions_are_lazy_and_agree(reference_dir: Path) -> None:
    scl, _ = _read(reference_dir / RASTER_SCENE / "SCL.tif")
    scl = scl.copy()
    scl[:50] = s2.SCL_NODATA
    lazy = xr.DataArray(da.from_array(scl, chunks=128), dims=("y", "x"))
    assert isinstance(s2.scl_mask(lazy).data, da.Array)
    assert s2.cloud_fraction(lazy) == pytest.approx(s2.cloud_fraction(scl))
    assert s2.cloud_fraction(lazy.data) == pytest.approx(s2.cloud_fraction(scl))
    assert s2.valid_fraction(lazy) == pytest.approx(s2.valid_fraction(scl))
    cloudy = np.isin(scl, s2.CLOUD_SCL_CLASSES).sum()
    assert s2.cloud_fraction(scl) == pytest.approx(cloudy / (scl.size - 50 * scl.shape[1]))


def test_snow_is_not_masked_by_default_and_nan_is_nodata() -> None:
    scl = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], dtype=np.uint8)
    masked = s2.scl_mask(scl)
    assert scl[masked].tolist() == [0, 1, 3, 8, 9, 10]
    assert not masked[11], "snow/ice must stay: glaciers are targets"
    assert s2.scl_mask(np.array([np.nan, 11.0])).tolist() == [True, False]
    assert np.isnan(s2.cloud_fraction(np.zeros((4, 4), dtype=np.uint8)))
    with pytest.raises(LoadError, match="SCL"):
        s2.scl_mask(scl, (12,))


# --- real items: baseline, offset, band table ---------------------------------------------------------------


def _check_item(item: dict[str, Any], provider: str) -> None:
    props = item["properties"]
    baseline = s2.processing_baseline(props)
    token = props["s2:product_uri"].split("_")[3]
    assert token == f"N{baseline[0]:02d}{baseline[1]:02d}", item["id"]
    offset = s2.reflectance_offset(props)
    if item["id"] in EXPECTED:
        assert (baseline, offset) == EXPECTED[item["id"]], item["id"]
    shifted = props.get("earthsearch:boa_offset_applied") is True
    assert offset == (-0.1 if baseline >= (4, 0) and not shifted else 0.0), item["id"]
    assert s2.detect_provider(item) == provider
    for band in s2.BANDS:
        asset = item["assets"][s2.asset_key(band.name, provider)]
        [eo_band] = asset["eo:bands"]
        assert eo_band["center_wavelength"] == pytest.approx(band.center_wavelength, abs=0.01), band.name
        assert eo_band["full_width_half_max"] == pytest.approx(band.full_width_half_max, abs=0.01), band.name
        assert asset.get("gsd", props.get("gsd")) == band.gsd, band.name
    assert s2.asset_key("SCL", provider) in item["assets"]


def test_every_planetary_computer_item(pc_items: list[dict[str, Any]]) -> None:
    for item in pc_items:
        _check_item(item, "planetary-computer")
    assert {s2.reflectance_offset(item["properties"]) for item in pc_items} == {0.0, -0.1}


def test_every_earth_search_item(es_items: list[dict[str, Any]]) -> None:
    for item in es_items:
        _check_item(item, "earth-search")
    assert {s2.reflectance_offset(item["properties"]) for item in es_items} == {0.0}


def test_earth_search_collection1_keeps_esa_dn(reference_dir: Path) -> None:
    """C1 items have no boa_offset_applied flag and ESA DN: the offset applies (SENSORS.md 1.3)."""
    for item in _items_under(reference_dir / ES_C1):
        _check_item(item, "earth-search")
        assert s2.reflectance_offset(item) == -0.1


def test_every_named_scene_was_seen(
    reference_dir: Path, pc_items: list[dict[str, Any]], es_items: list[dict[str, Any]]
) -> None:
    seen = {item["id"] for item in pc_items + es_items + _items_under(reference_dir / ES_C1)}
    assert set(EXPECTED) <= seen


def test_baseline_falls_back_to_product_uri_then_granule_id(pc_items: list[dict[str, Any]]) -> None:
    props = dict(next(i for i in pc_items if i["id"].startswith("S2B_MSIL2A_20220612"))["properties"])
    del props["s2:processing_baseline"]
    assert s2.processing_baseline(props) == (4, 0)
    del props["s2:product_uri"]
    assert s2.processing_baseline(props) == (4, 0)  # ..._N04.00 in s2:granule_id
    del props["s2:granule_id"]
    with pytest.raises(SourceError, match="s2:processing_baseline"):
        s2.processing_baseline(props)
    with pytest.raises(SourceError, match="item S2B_X"):
        s2.processing_baseline({"id": "S2B_X", "properties": {}})


def test_offset_is_decided_by_baseline_not_date() -> None:
    # A Collection-1 reprocessing of a 2017 acquisition carries baseline 05.00: the offset applies.
    reprocessed = {"datetime": "2017-06-01T10:00:00Z", "s2:processing_baseline": "05.00"}
    assert s2.reflectance_offset(reprocessed) == -0.1
    old_baseline = {"datetime": "2023-01-01T00:00:00Z", "s2:processing_baseline": "03.01"}
    assert s2.reflectance_offset(old_baseline) == 0.0
    with pytest.raises(SourceError, match="earthsearch:boa_offset_applied"):
        s2.reflectance_offset({"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": "true"})


def test_asset_key_and_provider_errors() -> None:
    assert s2.asset_key("B8A", "earth-search") == "nir08"
    assert s2.asset_key("B8A", "planetary-computer") == "B8A"
    assert s2.asset_key("SCL", "earth-search") == "scl"
    with pytest.raises(LoadError, match="B10"):
        s2.asset_key("B10", "earth-search")
    with pytest.raises(LoadError, match="planetary-computer"):
        s2.asset_key("B04", "sentinel-hub")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="item odd: matches neither"):
        s2.detect_provider({"id": "odd", "assets": {"band4": {"href": "https://example.com/b4.tif"}}})
    with pytest.raises(SourceError, match="both"):
        s2.detect_provider({"id": "mixed", "assets": {"B04": {}, "red": {}}})


# --- decode(encode(rho)) round trip -------------------------------------------------------------------------


def _encode(rho: np.ndarray, offset: float) -> np.ndarray:
    """What the ESA processor writes: DN = round((rho - offset) * 1e4), 0 reserved for no data."""
    return np.clip(np.round((rho - offset) / s2.REFLECTANCE_SCALE), 1, 65535).astype(np.uint16)


@settings(max_examples=200, deadline=None)
@given(
    baseline=st.sampled_from(["02.12", "04.00", "05.11"]),
    rho=st.lists(st.floats(min_value=-0.0999, max_value=1.6), min_size=1, max_size=64),
    as_xarray=st.booleans(),
)
def test_decode_inverts_encode(baseline: str, rho: list[float], as_xarray: bool) -> None:
    offset = s2.reflectance_offset({"s2:processing_baseline": baseline})
    truth = np.asarray(rho)
    if offset == 0.0:
        truth = np.clip(truth, 1e-4, None)  # before 04.00 negative values were clamped and DN 0 is no data
    dn = _encode(truth, offset)
    decoded = s2.decode_reflectance(xr.DataArray(dn) if as_xarray else dn, offset)
    values = decoded.values if as_xarray else decoded
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, truth, atol=1e-4)
