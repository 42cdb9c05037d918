"""ASTER L1T scenes of the sample archive: plan, rasters, ECS XML, PC-shaped items, decoding round trip."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._aster import (
    PLANCK_C1,
    PLANCK_C2,
    AsterPlan,
    aster_grid,
    plan_aster,
    reflectance_10m,
)
from ml4earth_stac.archive._aster_items import aster_collection_dict, write_aster_scene
from ml4earth_stac.archive._glaciers import KRONEBREEN, NEGRIBREEN, GlacierSite
from ml4earth_stac.archive._grid import SceneGrid, scene_grid
from ml4earth_stac.archive._spec import ASTER_COLLECTION_ID, ArchiveSpec, ScenePlan, plan_scenes
from ml4earth_stac.errors import StacError
from ml4earth_stac.sensors import aster
from ml4earth_stac.stac.validate import StacValidator

SIZE = 240  # 2.4 km scenes: 160 VNIR, 80 SWIR, 27 TIR pixels across the scene
SPEC = ArchiveSpec(n_dates=3, scene_size_px=SIZE)
REAL_XML = (
    Path(__file__).resolve().parents[3]
    / "shared/reference/rasters/aster-l1t/AST_L1T_00305032000040446_20150409135350_78838.hdf.xml"
)
EXPECTED_SOURCE = {"B01": "B03", "B02": "B04", "B3N": "B8A", "B04": "B11"}  # nearest S2 band
ID_PATTERN = re.compile(r"^AST_L1T_003\d{14}_\d{14}$")


@dataclasses.dataclass(frozen=True)
class Scene:
    """One written ASTER scene and what it was made from."""

    root: Path
    grid: SceneGrid
    plan: AsterPlan
    s2: ScenePlan
    layers: S.SceneLayers
    item: dict[str, Any]
    seed: int


def _layers(site: GlacierSite, s2: ScenePlan, seed: int) -> S.SceneLayers:
    geo = S.make_geography(SIZE, seed)
    return S.scene_layers(geo, s2, seed, swath_edge=False, mirror=site.sea_east)[0]


def _write(root: Path, s2: ScenePlan, plan: AsterPlan, seed: int = 0) -> Scene:
    grid = scene_grid(SIZE, KRONEBREEN)
    layers = _layers(KRONEBREEN, s2, seed)
    return Scene(root, grid, plan, s2, layers, write_aster_scene(root, grid, layers, plan, seed), seed)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Scene]:
    root = tmp_path_factory.mktemp("aster")
    s2_plans = plan_scenes(SPEC)
    return [
        _write(root, s2, p) for s2, p in zip(s2_plans, plan_aster(SPEC, s2_plans, KRONEBREEN), strict=True)
    ]


def _clear(scenes: list[Scene]) -> Scene:
    return min(scenes, key=lambda s: s.s2.cloud_target)


def _read(scene: Scene, key: str, index: int | None = None) -> np.ndarray:
    with rasterio.open(scene.root / scene.item["assets"][key]["href"]) as ds:
        return ds.read(index) if index else ds.read()


def _xml(scene: Scene) -> str:
    return (scene.root / scene.item["assets"]["xml"]["href"]).read_text()


def _scene_window(scene: Scene, res: int) -> tuple[slice, slice]:
    """Rows and columns of the L1T raster at ``res`` m that cover exactly the scene grid."""
    agrid = aster_grid(scene.grid, scene.plan)
    r0, c0 = int((agrid.y0 - scene.grid.y0) / res), int((scene.grid.x0 - agrid.x0) / res)
    n = SIZE * 10 // res
    return slice(r0, r0 + n), slice(c0, c0 + n)


def _blocks(a: np.ndarray, k: int) -> np.ndarray:
    """Means of k x k blocks."""
    n = a.shape[0] // k
    return a[: n * k, : n * k].reshape(n, k, n, k).mean(axis=(1, 3))


def _decoded(scene: Scene, band: str, gain: str) -> np.ndarray:
    """TOA reflectance of one band read through the split item, as a user would decode it."""
    item = aster.split_multiband_item(scene.item)
    asset = item["assets"][band]
    with rasterio.open(scene.root / asset["href"]) as ds:
        dn = ds.read(indexes=asset[aster.BAND_INDEX_FIELD])
    props = item["properties"]
    d = aster.earth_sun_distance_au(props["datetime"])
    radiance = aster.dn_to_radiance(dn, band, gain)  # type: ignore[arg-type]
    return aster.toa_reflectance(radiance, band, props["view:sun_elevation"], d)


def _round_trip_errors(scene: Scene, band: str, res: int, classes: tuple[int, ...]) -> np.ndarray:
    """|decoded - truth| on 30 m cells wholly of ``classes`` and cloud free (truth: 10 m mean)."""
    gain = aster.parse_gains(_xml(scene))[band]
    rows, cols = _scene_window(scene, res)
    decoded = _blocks(_decoded(scene, band, gain)[rows, cols], 30 // res)
    truth = _blocks(reflectance_10m(scene.layers, scene.plan, scene.seed, band), 3)
    pure = _blocks(np.isin(scene.layers.cls, classes) & (scene.layers.cloud <= 0), 3) == 1.0
    assert pure.sum() > 100
    return np.abs(decoded - truth)[pure]


def _class_median(scene: Scene, band: str, cls: int) -> float:
    """Median decoded reflectance of the 30 m cells wholly of one class and cloud free."""
    decoded = _decoded(scene, band, aster.parse_gains(_xml(scene))[band])[_scene_window(scene, 15)]
    pure = _blocks((scene.layers.cls == cls) & (scene.layers.cloud <= 0), 3) == 1.0
    return float(np.median(_blocks(decoded, 2)[pure]))


def test_plan_gives_one_same_day_acquisition_per_date() -> None:
    s2_plans = plan_scenes(SPEC)
    plans = plan_aster(SPEC, s2_plans, KRONEBREEN)
    assert plan_aster(SPEC, s2_plans, KRONEBREEN) == plans
    for s2, plan in zip(s2_plans, plans, strict=True):
        assert ID_PATTERN.match(plan.item_id) and plan.truth_item_id == s2.item_id
        assert plan.sensing_time.date() == s2.sensing_time.date()
        assert plan.item_id[11:25] == f"{plan.sensing_time:%m%d%Y%H%M%S}"
        assert set(plan.vnir_gains) <= {"NOR", "LO1"} and plan.epsg == 32633
        assert [plan.gains[b] for b in aster.SWIR_BANDS] == ["NOR"] * 6
        assert 0.0 < plan.sun_elevation < 40.0 and plan.swir_failed
    other = plan_aster(SPEC, plan_scenes(SPEC), NEGRIBREEN)
    assert {p.epsg for p in other} == {32634}
    assert not {p.item_id for p in other} & {p.item_id for p in plans}


@pytest.mark.parametrize("site", [KRONEBREEN, NEGRIBREEN], ids=lambda s: s.name)
def test_l1t_grids_share_a_90m_corner_and_cover_the_scene_off_the_10m_lattice(site: GlacierSite) -> None:
    grid = scene_grid(SIZE, site)
    s2_plans = plan_scenes(SPEC)
    for plan in plan_aster(SPEC, s2_plans, site):
        agrid = aster_grid(grid, plan)
        assert agrid.x0 % 90 == 0 and agrid.y0 % 90 == 0 and (agrid.x0, agrid.y0) != (grid.x0, grid.y0)
        xmin, ymin, xmax, ymax = agrid.bbox
        assert xmin < grid.bbox[0] and ymin < grid.bbox[1] and xmax > grid.bbox[2] and ymax > grid.bbox[3]
        assert agrid.shape(15) == (agrid.rows_tir * 6, agrid.cols_tir * 6)
        # Every other 15 m edge falls between two 10 m edges: VNIR must be resampled onto the S2 grid.
        edges = {(agrid.x0 + 15 * k - grid.x0) % 10 for k in range(agrid.shape(15)[1] + 1)}
        assert edges == {0.0, 5.0}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    s2 = plan_scenes(SPEC)[0]
    plan = plan_aster(SPEC, (s2,), KRONEBREEN)[0]
    a, b, c = (_write(tmp_path / name, s2, plan, seed) for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    assert len(files) == 4 and a.item == b.item
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files)
    vnir = a.item["assets"]["VNIR"]["href"]
    assert (a.root / vnir).read_bytes() != (c.root / vnir).read_bytes()


def test_xml_parses_like_the_real_file_and_matches_the_plan(scenes: list[Scene]) -> None:
    for scene in scenes:
        text = _xml(scene)
        assert aster.parse_gains(text) == scene.plan.gains
        assert aster.parse_acquisition_datetime(text) == scene.plan.sensing_time.replace(tzinfo=dt.UTC)
        psas = {p.findtext("PSAName"): p.findtext("PSAValue") for p in ET.fromstring(text).iter("PSA")}
        assert float(psas["Solar_Elevation_Angle"]) == scene.item["properties"]["view:sun_elevation"]
        assert psas["ASTERGains"].startswith(f"01 {scene.plan.vnir_gains[0]}, 02 ")
        assert float(psas["SceneCloudCoverage"]) == scene.item["properties"]["eo:cloud_cover"]
    if not REAL_XML.is_file():
        pytest.skip(f"no reference XML at {REAL_XML}")
    real, ours = ET.fromstring(REAL_XML.read_text()), ET.fromstring(_xml(scenes[0]))
    assert _paths(ours) == _paths(real)
    assert [p.findtext("PSAName") for p in ours.iter("PSA")] == [
        p.findtext("PSAName") for p in real.iter("PSA")
    ]


def _paths(root: ET.Element, prefix: str = "") -> set[str]:
    out = {prefix + root.tag}
    for child in root:
        out |= _paths(child, f"{prefix}{root.tag}/")
    return out


@pytest.mark.parametrize("gains", [("LO1", "NOR", "LO1"), ("NOR", "LO1", "NOR")])
def test_vnir_decodes_to_the_truth_reflectance(scenes: list[Scene], tmp_path: Path, gains: tuple) -> None:
    clear = _clear(scenes)
    scene = _write(tmp_path, clear.s2, dataclasses.replace(clear.plan, vnir_gains=gains))
    for band in ("B01", "B02", "B3N"):
        errors = _round_trip_errors(scene, band, 15, (B.ROCK, B.ICE, B.DIRTY_ICE))
        assert np.median(errors) < 0.004, band
        for cls in (B.ROCK, B.ICE):  # the right Sentinel-2 band behind the right index
            expected = B.SPECTRA[cls, B.BAND_INDEX[EXPECTED_SOURCE[band]]]
            assert abs(_class_median(scene, band, cls) - expected) < 0.005, (band, cls)


def test_split_item_reads_vnir_band_2_as_b02(scenes: list[Scene]) -> None:
    scene = scenes[0]
    assert aster.detect_provider(scene.item) == "planetary-computer"
    split = aster.split_multiband_item(scene.item)
    b02 = split["assets"]["B02"]
    assert b02[aster.BAND_INDEX_FIELD] == 2 and b02["eo:bands"][0]["name"] == "VNIR_Band2"
    with rasterio.open(scene.root / b02["href"]) as ds:
        band = ds.read(indexes=b02[aster.BAND_INDEX_FIELD])
    vnir = _read(scene, "VNIR")
    assert np.array_equal(band, vnir[1])
    assert not np.array_equal(vnir[1], vnir[0])
    assert split["assets"]["B14"]["href"] == scene.item["assets"]["TIR"]["href"]


def test_post_2008_swir_is_saturated_striped_and_dropped(scenes: list[Scene]) -> None:
    for scene in scenes:
        swir = _read(scene, "SWIR")
        valid = swir[0] > 0
        for band in swir:
            assert np.mean(band[valid] >= 250) > 0.8 and band[valid].min() < 230  # saturated, dark stripes
        selection = aster.usable_bands(scene.item)
        assert selection.dropped == aster.SWIR_BANDS and "B3N" in selection.bands


def test_pre_2008_swir_decodes_to_the_truth(scenes: list[Scene], tmp_path: Path) -> None:
    clear = _clear(scenes)
    t = clear.plan.sensing_time.replace(year=2005)
    scene = _write(tmp_path, clear.s2, dataclasses.replace(clear.plan, sensing_time=t))
    assert not scene.plan.swir_failed and aster.usable_bands(scene.item).dropped == ()
    assert np.mean(_read(scene, "SWIR") >= 250) < 0.01
    assert np.median(_round_trip_errors(scene, "B04", 30, (B.ROCK,))) < 0.004


def test_data_cover_the_scene_and_the_frame_is_nodata(scenes: list[Scene]) -> None:
    for scene in scenes:
        for key, res in (("VNIR", 15), ("SWIR", 30), ("TIR", 90)):
            data = _read(scene, key)
            rows, cols = _scene_window(scene, res)
            inside = np.zeros(data.shape[1:], dtype=bool)
            inside[rows, cols] = True
            assert (data[:, inside] > 0).all(), key
            if res < 90:  # TIR pixels straddle the scene edge
                assert (data[:, ~inside] == 0).all(), key
            asset = scene.item["assets"][key]
            with rasterio.open(scene.root / asset["href"]) as ds:
                assert list(ds.transform)[:6] == asset["proj:transform"][:6] and ds.nodata == 0
                assert list(ds.shape) == asset["proj:shape"] and ds.crs.to_epsg() == 32633


def test_tir_shows_the_class_brightness_temperatures(scenes: list[Scene]) -> None:
    scene = _clear(scenes)
    tir = _read(scene, "TIR")
    assert tir.dtype == np.uint16
    band = aster.BANDS_BY_NAME["B13"]
    radiance = aster.dn_to_radiance(tir[band.band_index - 1], "B13")
    lam = band.center_wavelength
    t = PLANCK_C2 / (lam * np.log1p(PLANCK_C1 / (lam**5 * radiance[np.isfinite(radiance)])))
    assert 272.0 < float(np.median(t)) < 281.0 and float(t.std()) < 5.0


def test_clouds_are_bright_and_counted(scenes: list[Scene]) -> None:
    overcast = next(s for s in scenes if s.s2.overcast)
    assert overcast.item["properties"]["eo:cloud_cover"] > 80.0
    assert _clear(scenes).item["properties"]["eo:cloud_cover"] < 5.0
    gain = overcast.plan.gains["B01"]
    rho = _blocks(_decoded(overcast, "B01", gain)[_scene_window(overcast, 15)], 2)
    cloud = _blocks(overcast.layers.cloud, 3)
    assert np.median(rho[cloud >= 0.99]) > 0.6
    quads = [
        overcast.item["properties"][f"aster:{q}_quad_cloud_cover"] for q in ("upper_left", "lower_right")
    ]
    assert all(0.0 <= q <= 100.0 and q == math.floor(q) for q in quads)


def test_items_and_collection_validate_offline(scenes: list[Scene]) -> None:
    try:
        validator = StacValidator()
    except StacError as exc:
        pytest.skip(str(exc))
    items = [s.item for s in scenes]
    collection = aster_collection_dict(items)
    assert collection["id"] == ASTER_COLLECTION_ID == items[0]["collection"]
    assert collection["extent"]["temporal"]["interval"][0][0] == min(
        i["properties"]["datetime"] for i in items
    )
    for doc in [*items, collection]:
        assert validator.validate_dict(doc, doc["id"]) == [], doc["id"]
