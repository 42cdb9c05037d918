"""A second glacier whose scenes come in the neighbouring UTM zone: Negribreen in EPSG:32634."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pystac_client
import pytest
import rasterio
from pyproj import Transformer

from ml4earth_stac.archive import (
    ArchiveManifest,
    ArchiveServer,
    ArchiveSpec,
    GlacierRecord,
    build_sample_archive,
    load_manifest,
)
from ml4earth_stac.archive._glaciers import NEGRIBREEN, site_plans
from ml4earth_stac.archive._sentinel1 import next_slice_plans, plan_s1
from ml4earth_stac.archive._spec import plan_scenes
from ml4earth_stac.errors import ArchiveError, StacError
from ml4earth_stac.stac.validate import StacValidator
from tests.archive.conftest import TWO_GLACIER_SPEC

BOTH = ("kronebreen", "negribreen")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def _negri(m: ArchiveManifest) -> GlacierRecord:
    return m.glacier_record("negribreen")


def test_manifest_lists_both_glaciers(two_glacier_archive: ArchiveManifest) -> None:
    m = two_glacier_archive
    assert [g.name for g in m.glaciers] == list(BOTH)
    assert [g.epsg for g in m.glaciers] == [32633, 32634]
    assert [g.mgrs_tile for g in m.glaciers] == ["33XVH", "34XDN"]
    kronebreen, negri = m.glaciers
    # the single-glacier fields keep meaning Kronebreen
    assert m.aoi_name == "kronebreen" and m.epsg == 32633 and m.glacier == "Kronebreen"
    assert kronebreen == m.kronebreen_record()
    assert negri.glacier == "Negribreen" and len(negri.item_ids) == 3
    assert not set(negri.item_ids) & set(m.item_ids)
    assert [s.datetime for s in negri.scenes] == [s.datetime for s in m.scenes]  # one overpass
    assert load_manifest(m.root) == m
    assert "glaciers" in _json(m.root / "manifest.json")
    assert set(m.all_item_paths()) >= {m.item_path(i) for i in negri.item_ids}
    assert all(p.is_file() for p in m.all_item_paths())
    assert build_sample_archive(m.root, TWO_GLACIER_SPEC) == m  # no-op rebuild
    with pytest.raises(ArchiveError, match="no glacier 'austfonna'"):
        m.glacier_record("austfonna")


def test_single_glacier_manifest_has_kronebreen_record(small_archive: ArchiveManifest) -> None:
    assert [g.name for g in small_archive.glaciers] == ["kronebreen"]
    assert small_archive.glaciers[0].item_ids == small_archive.item_ids
    raw = _json(small_archive.root / "manifest.json")
    assert "glaciers" not in raw and "glaciers" not in raw["spec"]


def test_negribreen_items_are_in_utm_34n_and_validate(two_glacier_archive: ArchiveManifest) -> None:
    try:
        validator = StacValidator()
    except StacError as exc:
        pytest.skip(str(exc))
    m, negri = two_glacier_archive, _negri(two_glacier_archive)
    for item_id in negri.item_ids:
        item = _json(m.item_path(item_id))
        assert "_T34XDN_" in item_id
        assert (
            item["properties"]["proj:code"] == "EPSG:32634" and item["properties"]["s2:mgrs_tile"] == "34XDN"
        )
        assert {a["proj:code"] for a in item["assets"].values()} == {"EPSG:32634"}
        assert item["assets"]["B04"]["proj:bbox"] == list(negri.scene_bbox_utm)
        with rasterio.open(m.root / item["assets"]["SCL"]["href"]) as ds:
            assert ds.crs.to_epsg() == 32634
        assert validator.validate_dict(item, item_id) == []
    landsat = negri.items_of("landsat-c2-l2")
    assert [r.truth_item_id for r in landsat] == list(negri.item_ids)
    for record in landsat:
        item = _json(m.item_path(record.item_id))
        assert item["properties"]["proj:epsg"] == 32634
        assert int(item["properties"]["landsat:wrs_path"]) % 2 == 1  # Kronebreen's paths are even
        with rasterio.open(m.root / item["assets"]["red"]["href"]) as ds:
            assert ds.crs.to_epsg() == 32634
        assert validator.validate_dict(item, record.item_id) == []
    assert validator.validate_dict(_json(m.root / "collection.json"), "collection") == []


def test_kronebreen_is_unchanged_by_a_second_glacier(
    two_glacier_archive: ArchiveManifest, tmp_path: Path
) -> None:
    m = two_glacier_archive
    single = build_sample_archive(
        tmp_path / "one", dataclasses.replace(TWO_GLACIER_SPEC, glaciers=("kronebreen",))
    )
    fields = ("item_ids", "scenes", "extra_items", "aoi_geometry_wgs84", "aoi_bbox_utm", "scene_bbox_utm")
    for field in fields:
        assert getattr(m, field) == getattr(single, field), field
    for path in single.all_item_paths():
        assert path.read_bytes() == (m.root / path.relative_to(single.root)).read_bytes()
    for rel in (
        Path("cogs") / m.item_ids[1] / "B04.tif",
        Path("truth") / "zones" / f"{m.item_ids[0]}.tif",
        Path(_json(single.item_path(m.extra_items[0].item_id))["assets"]["red"]["href"]),
    ):
        assert _sha(m.root / rel) == _sha(single.root / rel), rel


def test_negribreen_zones_agree_with_scl(two_glacier_archive: ArchiveManifest) -> None:
    m = two_glacier_archive
    for item_id in _negri(m).item_ids:
        zones = _read(m.root / "truth" / "zones" / f"{item_id}.tif")[1::2, 1::2]
        scl = _read(m.root / "cogs" / item_id / "SCL.tif")
        assert ((zones == 0) == (scl == 0)).all()
        clear = np.isin(scl, (5, 6, 11))
        assert set(np.unique(scl[clear & (zones == 2)])) <= {11}
        assert set(np.unique(scl[clear & (zones == 1)])) <= {5, 11}
        assert set(np.unique(scl[clear & (zones == 3)])) <= {6, 11}
        assert not ((scl == 6) & (zones != 3)).any()


def _sea_east_front(zones: np.ndarray, x0: float) -> float:
    """Mean easting of the glacier -> sea edge (sea pixel east of a glacier pixel) over the rows with one."""
    edge = (zones[:, :-1] == 2) & (zones[:, 1:] == 3)
    rows, cols = np.nonzero(edge)
    assert len(np.unique(rows)) == len(rows) > 50  # one front crossing per row, sea east of the glacier
    return x0 + 10.0 * float(np.mean(cols + 1))


def test_negribreen_front_moves_as_the_truth_says(two_glacier_archive: ArchiveManifest) -> None:
    m, negri = two_glacier_archive, _negri(two_glacier_archive)
    features = _json(m.root / "truth" / "fronts.geojson")["features"]
    assert [f["properties"]["glacier"] for f in features] == ["Kronebreen"] * 3 + ["Negribreen"] * 3
    fronts = [f for f in features if f["properties"]["glacier"] == "Negribreen"]
    assert [f["properties"]["item_id"] for f in fronts] == list(negri.item_ids)
    assert {f["properties"]["epsg"] for f in fronts} == {32634}
    measured = []
    for f in fronts:
        zones = _read(m.root / "truth" / "zones" / f"{f['properties']['item_id']}.tif")
        measured.append(_sea_east_front(zones, negri.scene_bbox_utm[0]))
        lons = [p[0] for p in f["geometry"]["coordinates"]]
        assert 18.6 < min(lons) and max(lons) < 19.1  # east coast, not Kongsfjorden
    truth = [f["properties"]["front_mean_easting_m"] for f in fronts]
    assert np.allclose(measured, truth, atol=30.0)
    assert max(truth) - min(truth) > 150.0
    assert [s.front_mean_easting_m for s in negri.scenes] == truth
    # sea east of the front: an advance (negative retreat) moves the front east
    retreat = [s.front_retreat_m for s in negri.scenes]
    assert np.allclose(np.diff(truth), -np.diff(retreat), atol=150.0)  # up to the dated front wiggle
    assert (np.sign(np.diff(truth)) == -np.sign(np.diff(retreat))).all()


def test_surge_advances_then_retreats() -> None:
    spec = ArchiveSpec(n_dates=9, glaciers=BOTH)
    plans = site_plans(spec, NEGRIBREEN, plan_scenes(spec))
    by_year = {p.sensing_time.year: p.front_retreat_m for p in plans}
    assert by_year[2016] == 0.0
    assert min(by_year.values()) == pytest.approx(min(by_year[2018], by_year[2019]))
    assert by_year[2018] < -1500.0  # a surge of km
    assert by_year[2024] > by_year[2019] + 500.0  # then retreat
    assert {p.mgrs_tile for p in plans} == {"34XDN"} and {p.epsg for p in plans} == {32634}


def test_negribreen_s1_is_the_next_slice_of_the_same_datatake() -> None:
    spec = ArchiveSpec(n_dates=3, glaciers=BOTH, sensors=("sentinel-2", "sentinel-1"))
    base = plan_scenes(spec)
    kronebreen = plan_s1(spec, base)
    negri = next_slice_plans(kronebreen, site_plans(spec, NEGRIBREEN, base))
    for k, n in zip(kronebreen, negri, strict=True):
        assert (n.datatake_id, n.absolute_orbit, n.platform) == (k.datatake_id, k.absolute_orbit, k.platform)
        assert n.slice_number == k.slice_number + 1 and n.item_id != k.item_id
        assert "_T34XDN_" in n.truth_item_id


def test_aoi_stays_inside_the_scene_on_a_33n_grid(two_glacier_archive: ArchiveManifest) -> None:
    """A 33N grid over Negribreen's AOI (whose scenes are 34N) needs only pixels the scenes have."""
    negri = _negri(two_glacier_archive)
    ring = negri.aoi_geometry_wgs84["coordinates"][0]
    centroid_lon = float(np.mean([p[0] for p in ring[:-1]]))
    assert int((centroid_lon + 180) // 6) + 1 == 34  # plain UTM zone of the AOI: 34N
    to33 = Transformer.from_crs(4326, 32633, always_xy=True)
    x, y = to33.transform([p[0] for p in ring], [p[1] for p in ring])
    t = np.linspace(0.0, 1.0, 21)
    bx = np.concatenate([min(x) + t * (max(x) - min(x)), np.full(21, max(x)), max(x) - t * (max(x) - min(x))])
    by = np.concatenate([np.full(21, min(y)), min(y) + t * (max(y) - min(y)), np.full(21, max(y))])
    bx, by = np.concatenate([bx, np.full(21, min(x))]), np.concatenate([by, max(y) - t * (max(y) - min(y))])
    ex, ey = Transformer.from_crs(32633, 32634, always_xy=True).transform(bx, by)
    sx0, sy0, sx1, sy1 = negri.scene_bbox_utm
    margin = 0.1 * (sx1 - sx0)
    assert sx0 + margin < min(ex) and max(ex) < sx1 - margin
    assert sy0 + margin < min(ey) and max(ey) < sy1 - margin


@pytest.mark.parametrize(
    "glaciers", [("negribreen",), ("kronebreen", "kronebreen"), ("kronebreen", "austfonna")]
)
def test_invalid_glaciers_are_rejected(tmp_path: Path, glaciers: tuple[str, ...]) -> None:
    with pytest.raises(ArchiveError, match="glaciers="):
        build_sample_archive(tmp_path, ArchiveSpec(scene_size_px=240, glaciers=glaciers))


def test_spec_round_trips_glaciers() -> None:
    assert ArchiveSpec.from_dict(TWO_GLACIER_SPEC.to_dict()) == TWO_GLACIER_SPEC
    assert TWO_GLACIER_SPEC.to_dict()["glaciers"] == list(BOTH)
    assert "glaciers" not in ArchiveSpec().to_dict()


def _search(srv: ArchiveServer, collection: str, bbox: list[float]) -> set[str]:
    client = pystac_client.Client.open(srv.stac_api_url)
    return {i.id for i in client.search(collections=[collection], bbox=bbox).items()}


def _bbox(geometry: dict) -> list[float]:
    ring = geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return [min(lons), min(lats), max(lons), max(lats)]


def test_stac_api_finds_each_glacier_by_bbox(two_glacier_archive: ArchiveManifest) -> None:
    m = two_glacier_archive
    kronebreen, negri = m.glaciers
    with ArchiveServer(m.root) as srv:
        around_front = [18.80, 78.60, 18.90, 78.64]  # 78.62 N 18.85 E
        assert _search(srv, "sentinel-2-l2a", around_front) == set(negri.item_ids)
        assert _search(srv, "landsat-c2-l2", around_front) == {r.item_id for r in negri.extra_items}
        assert _search(srv, "sentinel-2-l2a", _bbox(negri.aoi_geometry_wgs84)) == set(negri.item_ids)
        assert _search(srv, "sentinel-2-l2a", _bbox(kronebreen.aoi_geometry_wgs84)) == set(m.item_ids)
        assert _search(srv, "landsat-c2-l2", _bbox(kronebreen.aoi_geometry_wgs84)) == {
            r.item_id for r in m.extra_items
        }
