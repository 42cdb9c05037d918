"""The city sites of the sample archive: real tiles and zones, canopy truth, S2/S1 scenes and their items."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize

from ml4earth_stac.archive import BANDS
from ml4earth_stac.archive._cities import CITIES, TILE_SIZE_M, city_grid
from ml4earth_stac.archive._city_build import CitySiteResult, write_city_site
from ml4earth_stac.errors import ArchiveError
from ml4earth_stac.sensors import sentinel1, sentinel2
from tests.archive.test_schemas import _errors

SIZE = 180  # 1.8 km scenes keep the module fast
EXPECTED = {"curitiba": (32722, "22JFS"), "medellin": (32618, "18NVM"), "santiago": (32719, "19HCD")}
ASSET_KEYS = {b.name for b in BANDS} | {"AOT", "WVP", "SCL", "visual"}
BUILT, ROAD, GRASS, TREE, WATER = 1, 2, 3, 4, 5


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cities")


@pytest.fixture(scope="module")
def sites(root: Path) -> dict[str, CitySiteResult]:
    return {key: write_city_site(root, key, seed=0, n_dates=3, scene_size_px=SIZE) for key in CITIES}


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def _s2(site: CitySiteResult) -> tuple[dict, ...]:
    return site.items["sentinel-2-l2a"]


def _reflectance(root: Path, item: dict, key: str) -> np.ndarray:
    offset = sentinel2.reflectance_offset(item["properties"])
    return np.asarray(sentinel2.decode_reflectance(_read(root / item["assets"][key]["href"]), offset))


@pytest.mark.parametrize("key", sorted(CITIES))
def test_city_table_matches_real_geography(key: str) -> None:
    city = CITIES[key]
    lon, lat = city.lon_lat
    zone = math.floor((lon + 180.0) / 6.0) + 1
    assert (city.epsg, city.mgrs_tile) == EXPECTED[key]
    assert city.epsg == (32700 if lat < 0 else 32600) + zone and city.mgrs_tile.startswith(str(zone))
    x, y = Transformer.from_crs(4326, city.epsg, always_xy=True).transform(lon, lat)
    assert math.hypot(x - city.centre_utm[0], y - city.centre_utm[1]) < 1.0
    tx, ty = city.tile_origin
    assert (tx + 40.0) % 100_000 == 0 and (ty - 20.0) % 100_000 == 0  # 40 m W / 20 m N of the square
    assert tx < x < tx + TILE_SIZE_M and ty - TILE_SIZE_M < y < ty


@pytest.mark.parametrize("key", sorted(CITIES))
@pytest.mark.parametrize("size", [120, 600, 2400, 6000])
def test_scene_is_a_tile_crop_holding_the_centre(key: str, size: int) -> None:
    city, grid = CITIES[key], city_grid(CITIES[key], size)
    x0, y0, x1, y1 = grid.bbox
    tx, ty = city.tile_origin
    assert grid.epsg == city.epsg and grid.size_m == size * 10.0
    assert tx <= x0 and x1 <= tx + TILE_SIZE_M and ty - TILE_SIZE_M <= y0 and y1 <= ty
    assert (x0 - tx) % 60 == 0 and (ty - y1) % 60 == 0
    cx, cy = city.centre_utm
    assert x0 < cx < x1 and y0 < cy < y1


def test_files_are_where_the_items_say(root: Path, sites: dict[str, CitySiteResult]) -> None:
    for site in sites.values():
        assert {p.name for p in (site.canopy_geojson, site.classes, site.canopy_fraction_tif)} == {
            f"{site.city}.geojson",
            f"{site.city}.tif",
        }
        assert site.canopy_geojson.is_file() and site.classes.is_file() and site.canopy_fraction_tif.is_file()
        for item in _s2(site):
            assert (root / "items" / f"{item['id']}.json").is_file()
            assert {p.stem for p in (root / "cogs" / item["id"]).glob("*.tif")} == ASSET_KEYS
            assert all((root / a["href"]).is_file() for a in item["assets"].values())
        for item in site.items["sentinel-1-rtc"]:
            assert (root / "sentinel-1-rtc" / "items" / f"{item['id']}.json").is_file()
            for asset in item["assets"].values():
                path = root / asset["href"]
                assert asset["file:checksum"] == hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("key", sorted(CITIES))
def test_s2_items_are_pc_shaped_in_the_city_zone(
    root: Path, sites: dict[str, CitySiteResult], key: str
) -> None:
    site = sites[key]
    epsg, tile = EXPECTED[key]
    for item in _s2(site):
        props = item["properties"]
        assert props["proj:code"] == f"EPSG:{epsg}" and "proj:epsg" not in props
        assert all(a["proj:code"] == f"EPSG:{epsg}" for a in item["assets"].values())
        assert f"_T{tile}_" in item["id"] and props["s2:mgrs_tile"] == tile
        assert sentinel2.detect_provider(item) == "planetary-computer"
        assert sentinel2.asset_key("B08", "planetary-computer") in item["assets"]
        major, minor = sentinel2.processing_baseline(props)
        assert f"{major:02d}.{minor:02d}" == props["s2:processing_baseline"]
        assert 0.0 < props["s2:mean_solar_zenith"] < 70.0
        with rasterio.open(root / item["assets"]["B05"]["href"]) as ds:
            assert (
                ds.crs.to_epsg() == epsg and list(ds.transform)[:6] == item["assets"]["B05"]["proj:transform"]
            )
    lon, lat = CITIES[key].lon_lat
    west, south, east, north = _s2(site)[0]["bbox"]
    assert west < lon < east and south < lat < north
    assert shapely.geometry.shape(site.aoi_geometry_wgs84).within(shapely.box(west, south, east, north))


def test_baselines_exercise_the_offset(sites: dict[str, CitySiteResult]) -> None:
    baselines = [sentinel2.processing_baseline(i["properties"]) for s in sites.values() for i in _s2(s)]
    assert min(baselines) < (4, 0) <= max(baselines)


def test_s1_items_are_pc_rtc_shaped(sites: dict[str, CitySiteResult]) -> None:
    for site in sites.values():
        for item, s2 in zip(site.items["sentinel-1-rtc"], _s2(site), strict=True):
            assert item["properties"]["proj:epsg"] == site.epsg
            assert sentinel1.product_kind(item) == "rtc" and sentinel1.has_valid_georeference(item)
            assert sentinel1.asset_keys(item) == {"vv": "vv", "vh": "vh"}
            assert sentinel1.rtc_nodata(item, "vv") == -32768.0
            assert abs(_day(item) - _day(s2)) <= 5


def _day(item: dict) -> int:
    return int(np.datetime64(item["properties"]["datetime"][:10]).astype(int))


def test_items_validate_offline(sites: dict[str, CitySiteResult], reference_dir: Path) -> None:
    schemas = reference_dir / "stac-schemas"
    if not (schemas / "schema-map.json").is_file():
        pytest.skip(f"no STAC schemas under {schemas}")
    for site in sites.values():  # S1 items are STAC 1.0.0 like PC's; only the S2 items claim 1.1.0
        for item in _s2(site):
            assert _errors(json.loads(json.dumps(item)), schemas) == [], item["id"]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = (
        write_city_site(tmp_path / name, "santiago", seed=seed, n_dates=1, scene_size_px=120)
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    )
    s2a, s2b = _s2(a)[0], _s2(b)[0]
    assert s2a["id"] == s2b["id"] and s2a != _s2(c)[0]
    for key in ("B04", "B11", "SCL"):
        path = Path("cogs") / s2a["id"] / f"{key}.tif"
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    vv = a.items["sentinel-1-rtc"][0]["assets"]["vv"]["href"]
    assert (tmp_path / "a" / vv).read_bytes() == (tmp_path / "b" / vv).read_bytes()
    assert a.classes.read_bytes() == b.classes.read_bytes() != c.classes.read_bytes()
    assert a.canopy_geojson.read_text() == b.canopy_geojson.read_text()


@pytest.mark.parametrize("key", sorted(CITIES))
def test_canopy_fraction_is_plausible(sites: dict[str, CitySiteResult], key: str) -> None:
    site = sites[key]
    classes, percent = _read(site.classes), _read(site.canopy_fraction_tif)
    assert 0.10 < site.canopy_fraction < 0.40
    assert abs(percent.mean() / 100.0 - site.canopy_fraction) < 0.01
    assert 0.08 < (classes == TREE).mean() < 0.40
    assert set(np.unique(classes)) <= set(range(1, 7)) and {BUILT, ROAD, GRASS, TREE, WATER} <= set(
        np.unique(classes)
    )


def _clear_classes(root: Path, item: dict, classes: np.ndarray) -> np.ndarray:
    """Class map where the 20 m SCL says clear land or water, else 0; water only inside water bodies.

    A 10 m pixel of 10 % grass and 90 % water already has NDVI > 0, so water pixels on the shore (a
    4-neighbour of another class) are left out.
    """
    scl = np.repeat(np.repeat(_read(root / item["assets"]["SCL"]["href"]), 2, axis=0), 2, axis=1)
    water = np.pad(classes == WATER, 1, mode="edge")
    inner = water[1:-1, 1:-1] & water[:-2, 1:-1] & water[2:, 1:-1] & water[1:-1, :-2] & water[1:-1, 2:]
    classes = np.where((classes == WATER) & ~inner, 0, classes)
    return np.where(np.isin(scl, (4, 5, 6)), classes, 0)


@pytest.mark.parametrize("key", sorted(CITIES))
def test_ndvi_by_class_decoded_with_the_baseline(
    root: Path, sites: dict[str, CitySiteResult], key: str
) -> None:
    site = sites[key]
    classes = _read(site.classes)
    for item in _s2(site):
        red, nir = _reflectance(root, item, "B04"), _reflectance(root, item, "B08")
        ndvi = (nir - red) / (nir + red)
        clear = _clear_classes(root, item, classes)
        assert (clear == WATER).sum() >= 10 and (clear == TREE).sum() >= 100, item["id"]
        assert np.median(ndvi[clear == TREE]) > 0.7, item["id"]
        assert np.median(ndvi[clear == WATER]) < 0.0, item["id"]
        assert np.median(ndvi[clear == BUILT]) < 0.3, item["id"]
        assert np.median(red[clear == WATER]) < 0.08, item["id"]  # the +1000 DN offset would add 0.1


def test_raw_dn_carry_the_offset_only_from_baseline_04(root: Path, sites: dict[str, CitySiteResult]) -> None:
    for site in sites.values():
        clear_water = None
        for item in _s2(site):
            clear_water = _clear_classes(root, item, _read(site.classes)) == WATER
            dn = np.median(_read(root / item["assets"]["B08"]["href"])[clear_water])
            offset = sentinel2.processing_baseline(item["properties"]) >= (4, 0)
            assert (dn > 1000) == offset, (item["id"], dn)


@pytest.mark.parametrize("key", sorted(CITIES))
def test_class_map_agrees_with_canopy_polygons(sites: dict[str, CitySiteResult], key: str) -> None:
    site = sites[key]
    collection = json.loads(site.canopy_geojson.read_text())
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    to_utm = Transformer.from_crs(4326, site.epsg, always_xy=True)
    polys = shapely.transform(
        np.array([shapely.geometry.shape(f["geometry"]) for f in collection["features"]]),
        lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])),
    )
    x0, _, _, y1 = site.scene_bbox_utm
    fine = rasterize(
        polys, out_shape=(SIZE * 10, SIZE * 10), transform=Affine(1, 0, x0, 0, -1, y1), dtype="uint8"
    )
    cover = fine.reshape(SIZE, 10, SIZE, 10).mean(axis=(1, 3))
    assert abs(cover.mean() - site.canopy_fraction) < 0.01
    tree, truth = _read(site.classes) == TREE, cover > 0.5
    assert (tree & truth).sum() / (tree | truth).sum() > 0.8


def test_scl_is_consistent_with_the_classes(root: Path, sites: dict[str, CitySiteResult]) -> None:
    for site in sites.values():
        quads = _read(site.classes).reshape(SIZE // 2, 2, SIZE // 2, 2).transpose(0, 2, 1, 3).reshape(-1, 4)
        pure = np.where((quads == quads[:, :1]).all(axis=1), quads[:, 0], 0).reshape(SIZE // 2, SIZE // 2)
        for item in _s2(site):
            scl = _read(root / item["assets"]["SCL"]["href"])
            assert set(np.unique(scl)) <= {3, 4, 5, 6, 8, 9}
            clear = np.isin(scl, (4, 5, 6))
            for cls, expected in ((TREE, 4), (BUILT, 5), (WATER, 6)):  # 20 m pixels of one class only
                sel = clear & (pure == cls)
                assert sel.sum() < 10 or (scl[sel] == expected).mean() > 0.95, (item["id"], cls)
            cloud = 100.0 * np.isin(scl, (8, 9)).mean()
            assert item["properties"]["eo:cloud_cover"] == pytest.approx(cloud, abs=1e-4)


def test_s1_backscatter_orders_the_surfaces(root: Path, sites: dict[str, CitySiteResult]) -> None:
    for site in sites.values():
        classes = _read(site.classes)
        for item in site.items["sentinel-1-rtc"]:
            for pol in ("vv", "vh"):
                db = np.asarray(sentinel1.to_db(_read(root / item["assets"][pol]["href"])))
                med = {c: np.nanmedian(db[classes == c]) for c in (BUILT, TREE, GRASS, WATER)}
                assert med[BUILT] > med[TREE] > med[GRASS] > med[WATER], (item["id"], pol, med)
            vv = np.asarray(sentinel1.to_db(_read(root / item["assets"]["vv"]["href"])))
            assert np.nanmedian(vv[classes == BUILT]) > -3.0 and np.nanmedian(vv[classes == WATER]) < -15.0


def test_geoparquet_copy_is_in_the_utm_crs(sites: dict[str, CitySiteResult]) -> None:
    geopandas = pytest.importorskip("geopandas")
    for site in sites.values():
        assert site.canopy_parquet is not None
        frame = geopandas.read_parquet(site.canopy_parquet)
        assert frame.crs.to_epsg() == site.epsg
        assert len(frame) == len(json.loads(site.canopy_geojson.read_text())["features"])
        assert frame.area.sum() / (SIZE * 10.0) ** 2 == pytest.approx(site.canopy_fraction, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"city_key": "lima"},
        {"city_key": "santiago", "scene_size_px": 125},
        {"city_key": "santiago", "n_dates": 0},
        {"city_key": "santiago", "sensors": ("radar",)},
        {"city_key": "santiago", "sensors": ("landsat",)},
    ],
)
def test_invalid_arguments_are_rejected(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ArchiveError, match="write_city_site"):
        write_city_site(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
