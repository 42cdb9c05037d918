"""The sample archive on disk: layout, COGs, PC-shaped items, decoding, truth and seeding."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from ml4earth_stac.archive import (
    BANDS,
    ArchiveManifest,
    ArchiveSpec,
    build_sample_archive,
    load_manifest,
)
from ml4earth_stac.errors import ArchiveError
from ml4earth_stac.sensors import sentinel2
from tests.archive.conftest import SMALL_SPEC

ASSET_KEYS = {b.name for b in BANDS} | {"AOT", "WVP", "SCL", "visual"}


def _item(m: ArchiveManifest, i: int) -> dict:
    return json.loads(m.item_path(m.item_ids[i]).read_text())


def _read(m: ArchiveManifest, item_id: str, key: str) -> np.ndarray:
    with rasterio.open(m.root / "cogs" / item_id / f"{key}.tif") as ds:
        return ds.read(1)


def test_layout_and_manifest(small_archive: ArchiveManifest) -> None:
    m = small_archive
    assert m.collection_id == "sentinel-2-l2a" and m.epsg == 32633 and m.aoi_name == "kronebreen"
    assert len(m.item_ids) == 3 and list(m.item_ids) == [s.item_id for s in m.scenes]
    assert [s.datetime for s in m.scenes] == sorted(s.datetime for s in m.scenes)
    assert load_manifest(m.root) == m
    for name in ("manifest.json", "collection.json", "truth/fronts.geojson"):
        assert (m.root / name).is_file()
    for item_id in m.item_ids:
        assert {p.stem for p in (m.root / "cogs" / item_id).glob("*.tif")} == ASSET_KEYS
        assert (m.root / "truth" / "zones" / f"{item_id}.tif").is_file()
    assert m.aoi_geometry_wgs84["type"] == "Polygon"


def test_rebuild_with_same_spec_is_a_no_op(small_archive: ArchiveManifest) -> None:
    before = (small_archive.root / "manifest.json").stat().st_mtime_ns
    again = build_sample_archive(small_archive.root, SMALL_SPEC)
    assert again == small_archive
    assert (small_archive.root / "manifest.json").stat().st_mtime_ns == before


def test_items_are_pc_shaped_with_proj_code_only(small_archive: ArchiveManifest) -> None:
    item = _item(small_archive, 0)
    props = item["properties"]
    assert props["proj:code"] == "EPSG:32633" and "proj:epsg" not in props
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in item["stac_extensions"]
    assert set(item["assets"]) == ASSET_KEYS
    for key, asset in item["assets"].items():
        assert asset["href"] == f"cogs/{item['id']}/{key}.tif"
        assert "proj:epsg" not in asset and asset["proj:code"] == "EPSG:32633"
        assert {"proj:shape", "proj:transform", "proj:bbox", "gsd", "title", "type", "roles"} <= set(asset)
    assert item["assets"]["B8A"]["eo:bands"][0]["common_name"] == "rededge"
    assert "common_name" not in item["assets"]["B09"]["eo:bands"][0]
    baseline = props["s2:processing_baseline"]
    assert f"_N{baseline.replace('.', '')}_" in props["s2:product_uri"]
    assert props["s2:granule_id"].endswith(f"_N{baseline}")
    assert 50.0 < props["s2:mean_solar_zenith"] < 85.0
    assert item["id"].startswith(("S2A_MSIL2A_", "S2B_MSIL2A_")) and "_T33XVH_" in item["id"]


def test_baselines_span_the_offset_change(small_archive: ArchiveManifest) -> None:
    baselines = {s.datetime[:4]: s.processing_baseline for s in small_archive.scenes}
    assert any(b == "02.12" for y, b in baselines.items() if y < "2022")
    assert any(b >= "04.00" for y, b in baselines.items() if y >= "2022")


@pytest.mark.parametrize("key", ["B04", "B05", "B01", "SCL", "visual", "AOT"])
def test_cogs_are_valid_with_native_grid(small_archive: ArchiveManifest, key: str) -> None:
    item = _item(small_archive, 1)
    asset = item["assets"][key]
    path = small_archive.root / asset["href"]
    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32633
        assert list(ds.shape) == asset["proj:shape"]
        assert list(ds.transform)[:6] == asset["proj:transform"]
        assert ds.res[0] == asset["gsd"]
        assert ds.nodata == 0
        assert ds.dtypes[0] == {"SCL": "uint8", "visual": "uint8"}.get(key, "uint16")
        assert ds.count == (3 if key == "visual" else 1)


def test_decoding_with_baseline_recovers_class_reflectance(small_archive: ArchiveManifest) -> None:
    m = small_archive
    for item_id in m.item_ids:
        properties = _item(m, m.item_ids.index(item_id))["properties"]
        offset = sentinel2.reflectance_offset(properties)  # the archive's encoding, the pipeline's decoding
        zones = _zones(m, item_id)[1::2, 1::2]
        scl = _read(m, item_id, "SCL")
        b03 = np.asarray(sentinel2.decode_reflectance(_read(m, item_id, "B03"), offset))[1::2, 1::2]
        water = (zones == 3) & (scl == 6)
        glacier = (zones == 2) & (scl == 11)
        rock = (zones == 1) & (scl == 5)
        if water.sum() < 50 or glacier.sum() < 50:
            continue  # overcast scene
        # clear open water far from the plume is dark; the +1000 DN offset would push it above 0.1
        assert np.nanpercentile(b03[water], 25) < 0.06, item_id
        assert np.nanmedian(b03[glacier]) > 0.3, item_id
        assert 0.12 < np.nanmedian(b03[rock]) < 0.26, item_id


def test_raw_dn_carries_the_offset_only_from_pb_04(small_archive: ArchiveManifest) -> None:
    m = small_archive
    for s in m.scenes:
        dn = _read(m, s.item_id, "B08")[1::2, 1::2]
        water = (_zones(m, s.item_id)[1::2, 1::2] == 3) & (_read(m, s.item_id, "SCL") == 6)
        if water.sum() < 50:
            continue
        low = np.percentile(dn[water], 10)
        assert (low > 1000) == (s.processing_baseline >= "04.00"), (s.item_id, low)


def _zones(m: ArchiveManifest, item_id: str) -> np.ndarray:
    with rasterio.open(m.root / "truth" / "zones" / f"{item_id}.tif") as ds:
        return ds.read(1)


def test_zones_agree_with_scl_over_clear_pixels(small_archive: ArchiveManifest) -> None:
    m = small_archive
    for item_id in m.item_ids:
        zones = _zones(m, item_id)[1::2, 1::2]
        scl = _read(m, item_id, "SCL")
        assert ((zones == 0) == (scl == 0)).all()
        clear = np.isin(scl, (5, 6, 11))
        assert set(np.unique(scl[clear & (zones == 2)])) <= {11}
        assert set(np.unique(scl[clear & (zones == 1)])) <= {5, 11}
        assert set(np.unique(scl[clear & (zones == 3)])) <= {6, 11}  # 11 = icebergs
        ocean = clear & (zones == 3)
        if ocean.sum() > 100:
            assert (scl[ocean] == 6).mean() > 0.85
        assert not ((scl == 6) & (zones != 3)).any()


def test_front_moves_as_the_truth_says(small_archive: ArchiveManifest) -> None:
    m = small_archive
    fronts = json.loads((m.root / "truth" / "fronts.geojson").read_text())["features"]
    assert [f["properties"]["item_id"] for f in fronts] == list(m.item_ids)
    x0 = m.scene_bbox_utm[0]
    measured = []
    for f in fronts:
        zones = _zones(m, f["properties"]["item_id"])
        n = zones.shape[0]
        rows = zones[int(0.45 * n) : int(0.55 * n)]
        first_glacier = [int(np.argmax(r == 2)) for r in rows if (r == 2).any() and (r == 3).any()]
        measured.append(x0 + 10.0 * float(np.mean(first_glacier)))
        assert f["geometry"]["type"] == "LineString" and len(f["geometry"]["coordinates"]) > 10
    truth = [f["properties"]["front_mean_easting_m"] for f in fronts]
    # the mean over the central rows differs from the mean over the whole front by the wiggle only
    assert np.allclose(np.diff(measured), np.diff(truth), atol=60.0)
    assert truth[-1] - truth[0] > 150.0  # retreat east over the years
    assert [s.front_mean_easting_m for s in m.scenes] == truth


def test_cloud_schedule_has_clear_and_overcast_scene(small_archive: ArchiveManifest) -> None:
    m = small_archive
    assert min(s.aoi_cloud_fraction for s in m.scenes) < 0.05
    assert max(s.aoi_cloud_fraction for s in m.scenes) > 0.8
    for i, s in enumerate(m.scenes):
        assert _item(m, i)["properties"]["eo:cloud_cover"] == pytest.approx(s.cloud_cover, abs=1e-3)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_seeded_bytes(small_archive: ArchiveManifest, tmp_path: Path) -> None:
    first = small_archive.item_ids[0]
    same = build_sample_archive(tmp_path / "same", SMALL_SPEC)
    assert same.item_ids == small_archive.item_ids
    b04 = Path("cogs") / first / "B04.tif"
    assert _sha(same.root / b04) == _sha(small_archive.root / b04)
    other = build_sample_archive(tmp_path / "other", ArchiveSpec(n_dates=1, scene_size_px=600, seed=1))
    with rasterio.open(other.root / "cogs" / other.item_ids[0] / "B04.tif") as ds:
        assert not np.array_equal(ds.read(1), _read(small_archive, first, "B04"))


def test_rebuild_with_other_spec_replaces_the_archive(tmp_path: Path) -> None:
    a = build_sample_archive(tmp_path, ArchiveSpec(n_dates=2, scene_size_px=240))
    b = build_sample_archive(tmp_path, ArchiveSpec(n_dates=1, scene_size_px=240, seed=5))
    assert len(b.item_ids) == 1
    assert sorted(p.stem for p in (tmp_path / "items").glob("*.json")) == list(b.item_ids)
    assert not any((tmp_path / "cogs" / i).exists() for i in a.item_ids if i not in b.item_ids)


@pytest.mark.parametrize(
    "kwargs", [{"scene_size_px": 601}, {"n_dates": 0}, {"cloud_range": (0.5, 0.1)}, {"first_year": 1990}]
)
def test_invalid_spec_is_rejected(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ArchiveError, match="ArchiveSpec"):
        build_sample_archive(tmp_path, ArchiveSpec(**kwargs))


def test_load_manifest_of_missing_archive_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="build the archive"):
        load_manifest(tmp_path)
