"""The multi-sensor archive: Earth Search flavour, Landsat C2 L2 and Sentinel-1 RTC of the same truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac_client
import pytest
import rasterio

from ml4earth_stac.archive import (
    ArchiveManifest,
    ArchiveServer,
    ArchiveSpec,
    build_sample_archive,
    load_manifest,
)
from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._earthsearch import ES_BANDS
from ml4earth_stac.archive._spec import plan_scenes
from ml4earth_stac.errors import ArchiveError, StacError
from ml4earth_stac.sensors import sentinel2
from ml4earth_stac.stac.validate import StacValidator
from tests.archive.conftest import MULTI_SPEC

QA_WORDS = {
    "landsat-8": {"fill": 1, "land": 21824, "water": 21952, "snow": 30048, "shadow": 23888, "cloud": 22280},
    "landsat-7": {"fill": 1, "land": 5440, "water": 5568, "snow": 13664, "shadow": 7504, "cloud": 5896},
}
ES_KEYS = set(ES_BANDS) | {"scl", "aot", "wvp", "visual"}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _item(m: ArchiveManifest, item_id: str) -> dict:
    return _json(m.item_path(item_id))


def _read(m: ArchiveManifest, item: dict, key: str) -> tuple[np.ndarray, float | None]:
    with rasterio.open(m.root / item["assets"][key]["href"]) as ds:
        return ds.read(1), ds.nodata


def _zones(m: ArchiveManifest, s2_id: str) -> np.ndarray:
    with rasterio.open(m.root / "truth" / "zones" / f"{s2_id}.tif") as ds:
        return ds.read(1)


def test_manifest_records_every_extra_item(multi_archive: ArchiveManifest) -> None:
    m = multi_archive
    assert m.collection_ids == ("sentinel-2-l2a", "landsat-c2-l2", "sentinel-1-rtc")
    assert load_manifest(m.root) == m
    for cid in m.collection_ids[1:]:
        records = m.items_of(cid)
        assert [r.truth_item_id for r in records] == list(m.item_ids)
        for r, scene in zip(records, m.scenes, strict=True):
            assert r.datetime[:10] == r.truth_datetime[:10] == scene.datetime[:10]
            assert r.front_mean_easting_m == scene.front_mean_easting_m
            assert m.item_path(r.item_id) == m.root / cid / "items" / f"{r.item_id}.json"
            assert _item(m, r.item_id)["collection"] == cid
    platforms = [r.platform for r in m.items_of("landsat-c2-l2")]
    assert "landsat-7" in platforms and platforms.count("landsat-8") >= 2
    assert [r.slc_off for r in m.items_of("landsat-c2-l2")] == [p == "landsat-7" for p in platforms]
    assert build_sample_archive(m.root, MULTI_SPEC) == m  # no-op rebuild


def test_every_item_and_collection_validates_offline(multi_archive: ArchiveManifest) -> None:
    try:
        validator = StacValidator()
    except StacError as exc:
        pytest.skip(str(exc))
    m = multi_archive
    docs = [(p.name, _json(p)) for p in m.all_item_paths()]
    docs += [
        (cid, _json(m.root / sub / "collection.json"))
        for cid, sub in zip(m.collection_ids, ("", *m.collection_ids[1:]), strict=True)
    ]
    for where, doc in docs:
        assert validator.validate_dict(doc, where) == [], where


def test_earth_search_items_are_es_shaped(multi_archive: ArchiveManifest) -> None:
    for scene in multi_archive.scenes:
        item = _item(multi_archive, scene.item_id)
        props = item["properties"]
        assert item["stac_version"] == "1.0.0" and item["collection"] == "sentinel-2-l2a"
        assert item["id"] == f"S2{scene.platform[-1]}_33XVH_{scene.datetime[:10].replace('-', '')}_0_L2A"
        assert set(item["assets"]) == ES_KEYS
        assert props["proj:epsg"] == 32633 and props["platform"] == scene.platform.lower()
        assert props["s2:processing_baseline"] == scene.processing_baseline
        shifted = scene.processing_baseline >= "04.00"
        assert props["earthsearch:boa_offset_applied"] is shifted
        red = item["assets"]["red"]
        assert red["href"] == f"cogs/{item['id']}/B04.tif"
        assert red["raster:bands"][0]["scale"] == 0.0001
        assert red["raster:bands"][0]["offset"] == (-0.1 if shifted else 0.0)  # the real ES conflict
        assert item["assets"]["visual"]["href"].endswith("/TCI.tif")
        assert item["assets"]["aot"]["proj:shape"] == [300, 300]  # 20 m


@pytest.mark.parametrize(
    ("pc_key", "es_key"), [("B04", "red"), ("B8A", "nir08"), ("B01", "coastal"), ("B11", "swir16")]
)
def test_es_and_pc_decode_to_the_same_reflectance(
    multi_archive: ArchiveManifest, small_archive: ArchiveManifest, pc_key: str, es_key: str
) -> None:
    es, pc = multi_archive, small_archive
    assert [s.datetime for s in es.scenes] == [s.datetime for s in pc.scenes]
    for es_id, pc_id in zip(es.item_ids, pc.item_ids, strict=True):
        es_item, pc_item = _item(es, es_id), _item(pc, pc_id)
        es_rho = sentinel2.decode_reflectance(
            _read(es, es_item, es_key)[0], sentinel2.reflectance_offset(es_item)
        )
        pc_rho = sentinel2.decode_reflectance(
            _read(pc, pc_item, pc_key)[0], sentinel2.reflectance_offset(pc_item["properties"])
        )
        np.testing.assert_array_equal(np.isnan(es_rho), np.isnan(pc_rho))
        np.testing.assert_allclose(es_rho, pc_rho, atol=1e-4, equal_nan=True)
    assert np.array_equal(_read(es, es_item, "scl")[0], _read(pc, pc_item, "SCL")[0])


def _landsat(m: ArchiveManifest):
    for record in m.items_of("landsat-c2-l2"):
        yield record, _item(m, record.item_id)


def test_landsat_items_are_pc_shaped(multi_archive: ArchiveManifest) -> None:
    for record, item in _landsat(multi_archive):
        props = item["properties"]
        oli = record.platform == "landsat-8"
        assert item["id"].startswith("LC08_L2SP_" if oli else "LE07_L2SP_") and item["id"].endswith("_02_T1")
        assert props["proj:epsg"] == 32633 and props["proj:transform"][0] == 30.0
        assert props["proj:transform"][2] % 30 == 15  # pixel centres on multiples of 30 m, as real Landsat
        keys = {"blue", "green", "red", "nir08", "swir16", "swir22", "qa_pixel", "qa_radsat"}
        assert set(item["assets"]) == keys | ({"coastal", "lwir11"} if oli else {"lwir"})
        band = item["assets"]["red"]["raster:bands"][0]
        assert (band["scale"], band["offset"], band["nodata"]) == (2.75e-05, -0.2, 0)
        thermal = item["assets"]["lwir11" if oli else "lwir"]["raster:bands"][0]
        assert (thermal["scale"], thermal["offset"]) == (0.00341802, 149.0)
        assert item["assets"]["qa_pixel"]["raster:bands"][0]["nodata"] == 1


def test_landsat_qa_words_are_exactly_the_c2_values(multi_archive: ArchiveManifest) -> None:
    for record, item in _landsat(multi_archive):
        qa, nodata = _read(multi_archive, item, "qa_pixel")
        words = QA_WORDS[record.platform]
        assert set(np.unique(qa).tolist()) <= set(words.values()) and nodata == 1
        assert {words["land"], words["water"], words["snow"]} <= set(np.unique(qa).tolist())


def _s2_scl_at_landsat(m: ArchiveManifest, s2_id: str, size: int) -> np.ndarray:
    """The 20 m SCL at the Landsat pixel centres (10 m pixel 3 + 3k -> 20 m pixel (3 + 3k) // 2)."""
    with rasterio.open(m.root / _item(m, s2_id)["assets"]["scl"]["href"]) as ds:
        scl = ds.read(1)
    idx = (3 + 3 * np.arange(size)) // 2
    return scl[np.ix_(idx, idx)]


def test_landsat_clouds_agree_with_the_s2_truth(multi_archive: ArchiveManifest) -> None:
    cloudy_dates = 0
    for record, item in _landsat(multi_archive):
        qa, _ = _read(multi_archive, item, "qa_pixel")
        scl = _s2_scl_at_landsat(multi_archive, record.truth_item_id, qa.shape[0])
        both = (qa != 1) & (scl != 0)
        landsat_cloud = qa == QA_WORDS[record.platform]["cloud"]
        s2_cloud = np.isin(scl, (8, 9))
        assert (landsat_cloud == s2_cloud)[both].mean() > 0.97, record.item_id
        if s2_cloud[both].mean() > 0.05:
            cloudy_dates += 1
            inter = (landsat_cloud & s2_cloud)[both].sum()
            assert inter / (landsat_cloud | s2_cloud)[both].sum() > 0.9
        assert item["properties"]["eo:cloud_cover"] == pytest.approx(
            100 * landsat_cloud[qa != 1].mean(), abs=0.01
        )
    assert cloudy_dates >= 1


def test_slc_off_gaps_only_on_landsat_7_and_wedge_shaped(multi_archive: ArchiveManifest) -> None:
    for record, item in _landsat(multi_archive):
        qa, _ = _read(multi_archive, item, "qa_pixel")
        gap = qa == 1
        for key in ("blue", "red", "swir22", "lwir11" if record.platform == "landsat-8" else "lwir"):
            dn, nodata = _read(multi_archive, item, key)
            assert nodata == 0 and np.array_equal(dn == 0, gap), (record.item_id, key)
        if not record.slc_off:
            assert not gap.any(), record.item_id
            continue
        assert record.platform == "landsat-7" and record.datetime >= "2003-05-31"
        n = gap.shape[1]
        edge = np.r_[gap[:, : n // 10].ravel(), gap[:, -n // 10 :].ravel()].mean()
        centre = gap[:, int(0.45 * n) : int(0.55 * n)].mean()
        assert edge > 0.15 and centre < 0.01, (edge, centre)
        assert gap[:, : n // 20].mean() > gap[:, n // 10 : n // 5].mean()  # wider towards the edge


def test_landsat_sr_and_st_decode_to_the_class_values(multi_archive: ArchiveManifest) -> None:
    for record, item in _landsat(multi_archive):
        qa, _ = _read(multi_archive, item, "qa_pixel")
        zones = _zones(multi_archive, record.truth_item_id)[3::3, 3::3][: qa.shape[0], : qa.shape[1]]
        words = QA_WORDS[record.platform]
        rock = (qa == words["land"]) & (zones == 1)
        sea = (qa == words["water"]) & (zones == 3)
        if rock.sum() < 100:
            continue
        rho = {}
        for key in ("red", "swir16", "nir08"):
            dn, _ = _read(multi_archive, item, key)
            band = item["assets"][key]["raster:bands"][0]
            rho[key] = dn * band["scale"] + band["offset"]
        assert np.median(rho["red"][rock]) == pytest.approx(B.SPECTRA[B.ROCK, B.BAND_INDEX["B04"]], abs=0.01)
        assert np.median(rho["swir16"][rock]) == pytest.approx(
            B.SPECTRA[B.ROCK, B.BAND_INDEX["B11"]], abs=0.01
        )
        assert np.median(rho["nir08"][sea]) < 0.05
        key = "lwir11" if record.platform == "landsat-8" else "lwir"
        dn, _ = _read(multi_archive, item, key)
        kelvin = dn * 0.00341802 + 149.0
        assert 279.0 < np.median(kelvin[rock]) < 281.0
        assert 273.0 < np.median(kelvin[sea]) < 276.0


def _s1(m: ArchiveManifest):
    for record in m.items_of("sentinel-1-rtc"):
        yield record, _item(m, record.item_id)


def test_s1_rtc_is_linear_float32_with_nodata_outside_the_swath(multi_archive: ArchiveManifest) -> None:
    for record, item in _s1(multi_archive):
        assert item["id"].startswith(("S1A_IW_GRDH_1SDV_", "S1B_IW_GRDH_1SDV_")) and item["id"].endswith(
            "_rtc"
        )
        assert item["properties"]["sar:polarizations"] == ["VV", "VH"]
        for key in ("vv", "vh"):
            path = multi_archive.root / item["assets"][key]["href"]
            assert item["assets"][key]["file:size"] == path.stat().st_size
            with rasterio.open(path) as ds:
                data = ds.read(1)
                assert ds.dtypes[0] == "float32" and ds.nodata == -32768 and ds.crs.to_epsg() == 32633
            outside = data == -32768
            assert 0.01 < outside.mean() < 0.2, record.item_id
            assert (data[~outside] > 0).all() and (data[~outside] < 10).all()  # linear power, not dB


def test_s1_backscatter_separates_water_glacier_and_melange(multi_archive: ArchiveManifest) -> None:
    m = multi_archive
    geo = S.make_geography(m.spec.scene_size_px, m.spec.seed)
    for (record, item), plan in zip(_s1(m), plan_scenes(m.spec), strict=True):
        layers, _ = S.scene_layers(geo, plan, m.spec.seed, swath_edge=False)
        with rasterio.open(m.root / item["assets"]["vv"]["href"]) as ds:
            vv = ds.read(1)
        inside = vv != -32768
        db = 10 * np.log10(np.where(inside, vv, 1.0))
        water = np.median(db[inside & (layers.cls == B.WATER)])
        glacier = np.median(db[inside & (_zones(m, record.truth_item_id) == 2)])
        melange = np.median(db[inside & (layers.cls == B.BERG)])
        assert water < glacier - 5 and water < melange - 8, (water, glacier, melange)
        assert -12.0 < glacier < -5.0


@pytest.mark.parametrize(
    "kwargs", [{"provider": "usgs"}, {"sensors": ("landsat",)}, {"sensors": ("sentinel-2", "modis")}]
)
def test_invalid_provider_or_sensors_are_rejected(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ArchiveError, match="ArchiveSpec"):
        build_sample_archive(tmp_path, ArchiveSpec(**kwargs))


def test_spec_round_trips_with_new_fields() -> None:
    assert ArchiveSpec.from_dict(MULTI_SPEC.to_dict()) == MULTI_SPEC
    old = {k: v for k, v in ArchiveSpec().to_dict().items() if k not in ("provider", "sensors")}
    assert ArchiveSpec.from_dict(old) == ArchiveSpec()  # manifests written before these fields existed


def test_server_returns_each_collection_separately(multi_archive: ArchiveManifest) -> None:
    m = multi_archive
    with ArchiveServer(m.root) as srv:
        client = pystac_client.Client.open(srv.stac_api_url)
        assert {c.id for c in client.get_collections()} == set(m.collection_ids)
        expected = {"sentinel-2-l2a": list(m.item_ids)}
        expected |= {cid: [r.item_id for r in m.items_of(cid)] for cid in m.collection_ids[1:]}
        for cid, ids in expected.items():
            items = list(client.search(collections=[cid]).items())
            assert sorted(i.id for i in items) == sorted(ids), cid
            assert all(i.collection_id == cid for i in items)
        landsat = next(i for i in client.search(collections=["landsat-c2-l2"]).items())
        href = landsat.assets["qa_pixel"].href
        assert href.startswith(srv.files_url)
        with rasterio.open(href) as ds:
            assert ds.read(1, window=((0, 16), (0, 16))).any()
        both = client.search(collections=["landsat-c2-l2", "sentinel-1-rtc"], max_items=None)
        assert len(list(both.items())) == 2 * len(m.item_ids)
