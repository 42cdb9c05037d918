"""Sentinel-1 decoding against real provider items and a real GRD raster (shared/reference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio import features
from shapely.geometry import shape

from ml4earth_stac.errors import LoadError, SourceError
from ml4earth_stac.sensors import sentinel1 as s1

GRD_SCENE = Path("rasters/sentinel-1-grd/S1A_S1_GRDH_1SDV_20230809T020729_20230809T020754_049792_05FCE6_1175")
GRD_VH = GRD_SCENE / "measurement" / "s1-vh.tiff"
S2_RASTER = Path("rasters/sentinel-2-l2a/S2A_29RKH_20200219_0_L2A/B04.tif")
UTM_40S = "EPSG:32740"  # the scene lies at 54.8-55.9 E, 3.9-5.5 S
# Folder of items -> (product kind, provider or None when detect_provider must refuse it).
ITEM_FOLDERS: dict[str, tuple[str, str | None]] = {
    "planetary-computer/sentinel-1-rtc": ("rtc", "planetary-computer"),
    "planetary-computer/sentinel-1-grd": ("grd", "planetary-computer"),
    "earth-search/sentinel-1-grd": ("grd", "earth-search"),
    "stactools-generated/sentinel1/grd": ("grd", None),
    "stactools-generated/sentinel1/rtc-aws": ("rtc", None),
}
# SENSORS.md 3.2 and the raster's own .aux.xml statistics (computed by GDAL on the valid DN).
VH_MEAN_DN, VH_MAX_DN = 21.92, 169
# The productInfo.json footprint corners (from manifest.safe) lie 0.62-0.75 km inside the corner GCPs of
# this scene (measured with pyproj.Geod), and nearest warping onto ~200 m pixels can add one output pixel
# diagonal (0.29 km) at an edge: 0.75 + 0.29 < 1.2 km. A georeference error that matters (a transposed or
# mirrored raster, the identity transform, a row/column swap of the GCPs) moves the scene by tens of km.
FOOTPRINT_TOLERANCE_M = 1200.0


def _items(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    if doc.get("type") == "FeatureCollection":
        return list(doc["features"])
    return [doc] if doc.get("type") == "Feature" else []


def _items_under(reference_dir: Path, folder: str) -> list[dict[str, Any]]:
    files = sorted((reference_dir / "stac-items" / folder).glob("*.json"))
    return [item for file in files for item in _items(file)]


@pytest.fixture(scope="module")
def footprint_utm(reference_dir: Path) -> shapely.Geometry:
    info = json.loads((reference_dir / GRD_SCENE / "productInfo.json").read_text())
    return _to_utm(shape(info["footprint"]), "EPSG:4326")


def _to_utm(geometry: shapely.Geometry, crs: Any) -> shapely.Geometry:
    transformer = pyproj.Transformer.from_crs(crs, UTM_40S, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def _valid_polygon(warped: s1.WarpedGrd) -> shapely.Geometry:
    mask = warped.array != s1.GRD_NODATA
    shapes = features.shapes(mask.astype(np.uint8), mask=mask, transform=warped.transform)
    return shapely.union_all([shape(geometry) for geometry, _ in shapes])


# --- the real GRD raster: GCPs, warping, DN ---------------------------------------------------------------


def test_real_grd_has_gcps_and_no_geotransform(reference_dir: Path) -> None:
    with rasterio.open(reference_dir / GRD_VH) as dataset:
        assert dataset.crs is None and dataset.transform.is_identity
        assert dataset.dtypes[0] == s1.GRD_DTYPE and dataset.nodata == s1.GRD_NODATA
        from_dataset = s1.grd_gcps(dataset)
    geo = s1.grd_gcps(reference_dir / GRD_VH)
    assert geo.crs == rasterio.crs.CRS.from_epsg(4326) and (geo.width, geo.height) == (408, 821)
    assert len(geo.gcps) == 294 == len(from_dataset.gcps)  # a 14 x 21 grid over the scene
    assert {round(gcp.row) for gcp in geo.gcps} >= {0, 821} and {round(gcp.col) for gcp in geo.gcps} >= {
        0,
        408,
    }


@pytest.mark.parametrize(("dst_crs", "resolution"), [("EPSG:4326", 0.0018), (UTM_40S, 200.0)])
def test_real_grd_warps_into_its_footprint(
    reference_dir: Path, footprint_utm: shapely.Geometry, dst_crs: str, resolution: float
) -> None:
    warped = s1.warp_grd_to_grid(reference_dir / GRD_VH, dst_crs, resolution)
    assert warped.crs == rasterio.crs.CRS.from_user_input(dst_crs)
    assert warped.transform.b == warped.transform.d == 0 and warped.transform.e < 0 < warped.transform.a
    assert warped.transform.a == pytest.approx(resolution)
    valid = _to_utm(_valid_polygon(warped), dst_crs)
    # Measured: Hausdorff distance 0.89 km, 99.98 % of the footprint covered, valid area 1.5 % larger.
    assert footprint_utm.buffer(FOOTPRINT_TOLERANCE_M).contains(valid)
    assert valid.intersection(footprint_utm).area / footprint_utm.area > 0.99
    assert valid.area / footprint_utm.area == pytest.approx(1.0, abs=0.05)
    assert shapely.hausdorff_distance(valid, footprint_utm) < FOOTPRINT_TOLERANCE_M


@pytest.mark.parametrize(("dst_crs", "resolution"), [("EPSG:4326", 0.0018), (UTM_40S, 200.0)])
def test_warped_valid_pixels_keep_the_dn_statistics(
    reference_dir: Path, dst_crs: str, resolution: float
) -> None:
    warped = s1.warp_grd_to_grid(reference_dir / GRD_VH, dst_crs, resolution)
    assert warped.array.dtype == np.uint16
    values = warped.array[warped.array != s1.GRD_NODATA]
    # ~200 m pixels on ~200 m source pixels with nearest: every source pixel is sampled about once, so the
    # mean moves by a few hundredths (measured 21.920 vs 21.921); 0.5 DN is 2.3 % of the mean.
    assert values.mean() == pytest.approx(VH_MEAN_DN, abs=0.5)
    assert values.max() <= VH_MAX_DN and values.min() >= 1
    with rasterio.open(reference_dir / GRD_VH) as dataset:
        source = dataset.read(1)
    assert set(np.unique(values)) <= set(np.unique(source))  # nearest invents no DN
    assert values.size == pytest.approx(np.count_nonzero(source), rel=0.05)


def test_grd_gcps_and_warp_errors(reference_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no GCPs"):
        s1.grd_gcps(reference_dir / S2_RASTER)  # a georeferenced COG, not radar geometry
    with pytest.raises(LoadError, match="cannot open"):
        s1.grd_gcps(tmp_path / "missing.tiff")
    with pytest.raises(LoadError, match="target CRS"):
        s1.warp_grd_to_grid(reference_dir / GRD_VH, "EPSG:not-a-code", 200.0)
    for resolution in (0.0, -5.0, float("nan"), (1.0,)):
        with pytest.raises(LoadError, match="resolution"):
            s1.warp_grd_to_grid(reference_dir / GRD_VH, UTM_40S, resolution)  # type: ignore[arg-type]


def test_calibrate_real_dn_to_sigma0(reference_dir: Path) -> None:
    with rasterio.open(reference_dir / GRD_VH) as dataset:
        dn = dataset.read(1)
    constant = 474.0  # order of an IW sigmaNought LUT value; any positive A tests the formula
    sigma0 = s1.calibrate_grd(dn, constant)
    assert sigma0.dtype == np.float32 and np.isnan(sigma0[dn == 0]).all()
    np.testing.assert_allclose(sigma0[dn > 0], dn[dn > 0].astype(np.float64) ** 2 / constant**2, rtol=1e-6)
    denoised = s1.calibrate_grd(dn, constant, noise_power=100.0)
    assert (denoised[dn > 0] >= 0).all() and (denoised[(dn > 0) & (dn <= 10)] == 0).all()
    lazy = xr.DataArray(da.from_array(dn, chunks=256), dims=("y", "x"), name="vh")
    calibrated = s1.calibrate_grd(lazy, constant)
    assert isinstance(calibrated.data, da.Array) and calibrated.attrs["units"] == "1"
    np.testing.assert_array_equal(calibrated.values, sigma0)
    for bad in (0.0, -1.0, float("inf"), np.array([1.0, 0.0])):
        with pytest.raises(LoadError, match="calibration constant"):
            s1.calibrate_grd(dn, bad)


# --- real items: kind, polarisations, nodata, georeference -----------------------------------------------


@pytest.mark.parametrize("folder", list(ITEM_FOLDERS))
def test_every_real_item(reference_dir: Path, folder: str) -> None:
    kind, provider = ITEM_FOLDERS[folder]
    items = _items_under(reference_dir, folder)
    assert items, f"no items in {folder}"
    for item in items:
        assert s1.product_kind(item) == kind, item["id"]
        keys = s1.asset_keys(item)
        assert set(keys) == {pol.lower() for pol in item["properties"]["sar:polarizations"]}
        assert all(key in item["assets"] for key in keys.values())
        if provider is None:
            with pytest.raises(SourceError, match="neither"):
                s1.detect_provider(item)
        else:
            assert s1.detect_provider(item) == provider, item["id"]
        if kind == "grd":
            _check_grd(item)
        else:
            _check_rtc(item, keys)


def _check_grd(item: dict[str, Any]) -> None:
    assert not s1.has_valid_georeference(item), item["id"]
    props = item["properties"]
    if "proj:transform" in props:  # stactools / Earth Search: EPSG:4326 and a bbox-derived transform
        assert props["proj:epsg"] == 4326
        a, _, left, _, e, top = props["proj:transform"][:6]
        rows, cols = props["proj:shape"]
        assert (left, top) == (props["proj:bbox"][0], props["proj:bbox"][3])
        assert left + a * cols == pytest.approx(props["proj:bbox"][2])
        assert top + e * rows == pytest.approx(props["proj:bbox"][1])
        assert props["proj:shape"] == props["s1:shape"]  # the radar raster's shape, not a map grid
    for key in s1.asset_keys(item).values():
        for band in item["assets"][key].get("raster:bands", []):
            assert (band["nodata"], band["data_type"]) == (s1.GRD_NODATA, s1.GRD_DTYPE)
    with pytest.raises(SourceError, match="GRD"):
        s1.rtc_nodata(item, s1.polarisations(item)[0])


def _check_rtc(item: dict[str, Any], keys: dict[str, str]) -> None:
    assert s1.has_valid_georeference(item), item["id"]
    for pol, key in keys.items():
        [band] = item["assets"][key]["raster:bands"]
        assert band["data_type"] == s1.RTC_DTYPE
        assert s1.rtc_nodata(item, pol) == band["nodata"]
        if item.get("collection") == "sentinel-1-rtc":
            assert key == pol and band["nodata"] == s1.RTC_NODATA
        else:  # AWS/Indigo tiles: other keys and nodata 0
            assert key == f"gamma0_{pol}" and band["nodata"] == 0


def test_item_errors() -> None:
    with pytest.raises(SourceError, match="item x: sar:polarizations"):
        s1.polarisations({"id": "x", "properties": {}})
    with pytest.raises(SourceError, match="expected VV"):
        s1.polarisations({"id": "x", "properties": {"sar:polarizations": ["VV", "RH"]}})
    item = {"id": "y", "collection": "sentinel-1-grd", "properties": {"sar:polarizations": ["VV", "VH"]}}
    item["assets"] = {"vv": {"href": "https://sentinel1euwest.blob.core.windows.net/s1-grd/x.tiff"}}
    assert s1.asset_key(item, "VV") == "vv"
    with pytest.raises(SourceError, match="item y: no asset for polarisation 'vh'"):
        s1.asset_keys(item)
    with pytest.raises(SourceError, match="cannot tell RTC from GRD"):
        s1.product_kind({"id": "z", "collection": "sentinel-2-l2a", "properties": {}})
    rtc = {"id": "r_rtc", "properties": {"proj:epsg": 32633, "proj:transform": [10, 0, 0, 0, 10, 0]}}
    assert not s1.has_valid_georeference(rtc)  # south-up
    assert not s1.has_valid_georeference({"id": "r_rtc", "properties": {"proj:epsg": 32633}})


# --- dB conversion ---------------------------------------------------------------------------------------


def test_to_db_hand_values() -> None:
    linear = np.array([1.0, 0.001, 0.1, 10.0, 0.0, -0.5, 1e-6, -32768.0, np.nan], dtype=np.float32)
    db = s1.to_db(linear)
    assert db.dtype == np.float32
    np.testing.assert_allclose(db[:7], [0.0, -30.0, -10.0, 10.0, -30.0, -30.0, -30.0], atol=1e-5)
    assert np.isnan(db[7:]).all()
    assert s1.to_db(np.array([0.0]), floor_db=-40.0)[0] == np.float32(-40.0)
    assert np.isnan(s1.to_db(np.array([0.0]), nodata=0)[0])  # AWS RTC tiles declare nodata 0
    assert s1.to_db([1.0, -32768.0], nodata=None).tolist() == [0.0, pytest.approx(-30.0)]
    np.testing.assert_allclose(
        s1.from_db(np.array([0.0, -30.0, 10.0, np.nan]))[:3], [1.0, 1e-3, 10.0], rtol=1e-6
    )
    for bad in (float("nan"), float("-inf"), "-30"):
        with pytest.raises(LoadError, match="floor_db"):
            s1.to_db(linear, floor_db=bad)  # type: ignore[arg-type]


def test_to_db_stays_lazy_on_dask_dataarray() -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(1.0, 0.05, size=(300, 200)).astype(np.float32)  # speckle-like linear gamma0
    values[:20] = s1.RTC_NODATA
    lazy = xr.DataArray(da.from_array(values, chunks=100), dims=("y", "x"), name="vv")
    db = s1.to_db(lazy)
    assert isinstance(db.data, da.Array), "to_db must stay lazy"
    assert db.dtype == np.float32 and db.attrs["units"] == "dB" and db.name == "vv"
    linear = s1.from_db(db)
    assert isinstance(linear.data, da.Array) and linear.attrs["units"] == "1"
    computed = db.compute()
    np.testing.assert_array_equal(computed.values, s1.to_db(values))
    assert np.isnan(computed.values[:20]).all() and float(computed.min()) >= -30.0
    assert isinstance(s1.to_db(lazy.data), da.Array)


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(st.floats(min_value=0.00100040435791015625, max_value=1e4, width=32), min_size=1, max_size=32)
)
def test_from_db_inverts_to_db_above_the_floor(x: list[float]) -> None:
    linear = np.asarray(x, dtype=np.float32)
    np.testing.assert_allclose(s1.from_db(s1.to_db(linear)), linear, rtol=1e-5)


def test_mean_in_linear_differs_from_mean_in_db() -> None:
    """Why conversion comes last (SENSORS.md 6, mistake 9): averaging dB is biased low."""
    pair = np.array([1.0, 0.01], dtype=np.float32)  # 0 dB and -20 dB
    assert float(s1.to_db(pair.mean())) == pytest.approx(-2.97, abs=0.01)
    assert float(s1.to_db(pair).mean()) == pytest.approx(-10.0)
