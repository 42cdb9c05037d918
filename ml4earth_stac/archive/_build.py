"""Build the sample archive on disk: COGs, PC- or ES-shaped items, collections, truth and manifest.

Every glacier of ``spec.glaciers`` gets its own items (own tile and UTM zone) in the same collections.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Final

import numpy as np

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._aster import plan_aster
from ml4earth_stac.archive._city_build import write_city_site
from ml4earth_stac.archive._cog import write_cog
from ml4earth_stac.archive._earthsearch import ES_ATMOSPHERE_GSD, es_collection_dict, es_item_dict
from ml4earth_stac.archive._extras import (
    write_aster_item,
    write_extra_collections,
    write_json,
    write_landsat_scene,
    write_s1_scene,
)
from ml4earth_stac.archive._glaciers import KRONEBREEN, GlacierSite, site_plans, sites_of
from ml4earth_stac.archive._grid import SceneGrid, aoi_corners_uv, polygon_wgs84, scene_grid
from ml4earth_stac.archive._items import asset_href, collection_dict, item_dict, scl_scene_stats
from ml4earth_stac.archive._landsat import plan_landsat
from ml4earth_stac.archive._manifest import (
    MANIFEST_NAME,
    ArchiveManifest,
    CityRecord,
    GlacierRecord,
    SceneRecord,
    SensorItemRecord,
    load_manifest,
    write_manifest,
)
from ml4earth_stac.archive._noise import smooth_2d
from ml4earth_stac.archive._sentinel1 import next_slice_plans, plan_s1
from ml4earth_stac.archive._spec import (
    AOI_BOX,
    AOI_NAME,
    ASTER_COLLECTION_ID,
    COLLECTION_ID,
    COLLECTION_OF_SENSOR,
    EPSG,
    GLACIER_NAME,
    LANDSAT_COLLECTION_ID,
    S1_COLLECTION_ID,
    ArchiveSpec,
    ScenePlan,
    check_spec,
    plan_scenes,
)
from ml4earth_stac.archive._truth import front_feature, fronts_collection
from ml4earth_stac.errors import ArchiveError

MANAGED: Final = (
    "items",
    "cogs",
    "truth",
    ".served",
    "collection.json",
    LANDSAT_COLLECTION_ID,
    S1_COLLECTION_ID,
    ASTER_COLLECTION_ID,
    MANIFEST_NAME,
)


def _write_bands(folder: Path, grid: SceneGrid, layers: S.SceneLayers, plan: ScenePlan, seed: int) -> None:
    """Spectral bands at native resolution plus the TCI (``visual.tif`` for PC, ``TCI.tif`` for ES).

    Both providers get the same reflectance; Earth Search COGs of baseline >= 04.00 hold it without the
    +1000 DN offset (``earthsearch:boa_offset_applied``).
    """
    es = plan.provider == "earth-search"
    tci: dict[str, np.ndarray] = {}
    for i, band in enumerate(B.BANDS):
        lay = layers.at(band.gsd // 10)
        rho = S.band_reflectance(lay, i, np.random.default_rng([seed, 3, plan.index, i]))
        dn = B.encode_reflectance(rho, lay.valid, plan.processing_baseline, boa_offset_applied=es)
        write_cog(folder / f"{band.name}.tif", dn, grid.transform(band.gsd), grid.epsg, 0, "average")
        if band.name in ("B04", "B03", "B02"):
            tci[band.name] = B.encode_tci(rho, lay.valid)
    visual = np.stack([tci["B04"], tci["B03"], tci["B02"]])
    tci_path = folder / ("TCI.tif" if es else "visual.tif")
    write_cog(tci_path, visual, grid.transform(10), grid.epsg, 0, "average")


def _write_atmosphere(
    folder: Path, grid: SceneGrid, layers: S.SceneLayers, plan: ScenePlan, seed: int
) -> None:
    """AOT (x 0.001) and WVP (x 0.001 cm), uint16, nodata 0: 10 m for PC, 20 m for ES (same field)."""
    rng = np.random.default_rng([seed, 4, plan.index])
    n = layers.valid.shape[0]
    gsd = ES_ATMOSPHERE_GSD if plan.provider == "earth-search" else 10
    for key, mean, amp in (("AOT", 0.06 + 0.04 * rng.random(), 0.01), ("WVP", 0.4 + 0.8 * rng.random(), 0.1)):
        value = mean + amp * smooth_2d(rng, n, [2, 5], [1.0, 0.5])
        dn = np.clip(np.rint(value * 1000.0), 1, 65534).astype(np.uint16)
        dn[~layers.valid] = 0
        o, step = gsd // 20, gsd // 10
        write_cog(folder / f"{key}.tif", dn[o::step, o::step], grid.transform(gsd), grid.epsg, 0, "average")


def _write_scene(
    root: Path,
    grid: SceneGrid,
    geo: S.Geography,
    plan: ScenePlan,
    seed: int,
    full: S.SceneLayers,
    fu: np.ndarray,
    site: GlacierSite = KRONEBREEN,
):
    """Synthesize and write one Sentinel-2 acquisition.

    Args:
        root: archive folder.
        grid: scene grid.
        geo: static landscape.
        plan: the date's plan.
        seed: the glacier's synthesis seed.
        full: the date's 10 m layers with the whole scene valid (the swath edge is cut here).
        fu: front position per row (flow frame).
        site: the glacier.

    Returns:
        (item dict, front feature, scene record).
    """
    layers = full.with_valid(S.valid_mask(geo.n, plan.nodata_corner))
    folder = root / Path(asset_href(plan.item_id, "x")).parent
    _write_bands(folder, grid, layers, plan, seed)
    _write_atmosphere(folder, grid, layers, plan, seed)
    scl20 = S.scl(layers.at(2))
    write_cog(folder / "SCL.tif", scl20, grid.transform(20), grid.epsg, 0, "nearest")
    write_cog(
        root / "truth" / "zones" / f"{plan.item_id}.tif",
        S.zones(layers),
        grid.transform(10),
        grid.epsg,
        0,
        "nearest",
    )
    stats = scl_scene_stats(scl20, S.aoi_cloud_fraction(scl20))
    item = (es_item_dict if plan.provider == "earth-search" else item_dict)(plan, grid, stats)
    front = front_feature(grid, geo, plan, fu, site)
    record = SceneRecord(
        item_id=plan.item_id,
        datetime=item["properties"]["datetime"],
        platform=plan.platform,
        processing_baseline=plan.processing_baseline,
        cloud_cover=round(stats.cloud_cover, 4),
        aoi_cloud_fraction=round(stats.aoi_cloud_fraction, 4),
        nodata_corner=plan.nodata_corner >= 0,
        front_mean_easting_m=front["properties"]["front_mean_easting_m"],
        front_retreat_m=round(plan.front_retreat_m, 2),
    )
    return item, front, record


def _existing(root: Path, spec: ArchiveSpec) -> ArchiveManifest | None:
    """The manifest of a complete archive built with ``spec``, else None."""
    if not (root / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = load_manifest(root)
    except ArchiveError:
        return None
    if manifest.spec != spec or not all(p.is_file() for p in manifest.all_item_paths()):
        return None
    return manifest


def _clean(root: Path) -> None:
    """Remove what an earlier build wrote (only the managed names, never other files in ``root``)."""
    for name in MANAGED:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_site(root: Path, spec: ArchiveSpec, site: GlacierSite, base: tuple[ScenePlan, ...], base_s1):
    """Synthesize every date of one glacier once and write it for every sensor of the spec.

    Args:
        root: archive folder.
        spec: the archive spec.
        site: the glacier.
        base: Kronebreen's plans (the overpasses).
        base_s1: Kronebreen's Sentinel-1 plans, or None without Sentinel-1.

    Returns:
        (Sentinel-2 items, front features, scene records, extra (item, record) pairs per collection).
    """
    grid = scene_grid(spec.scene_size_px, site)
    seed = site.synth_seed(spec.seed)
    geo = S.make_geography(spec.scene_size_px, seed)
    plans = site_plans(spec, site, base)
    s1 = None if base_s1 is None else base_s1 if site.key == 0 else next_slice_plans(base_s1, plans)
    # collection -> (plans of that sensor, one per date; the writer of one scene)
    writers = {
        LANDSAT_COLLECTION_ID: (plan_landsat, write_landsat_scene),
        ASTER_COLLECTION_ID: (plan_aster, write_aster_item),
    }
    sensor_plans = {
        cid: (planner(spec, plans, site), write)
        for cid, (planner, write) in writers.items()
        if cid in (COLLECTION_OF_SENSOR[s] for s in spec.sensors)
    }
    if s1 is not None:
        sensor_plans[S1_COLLECTION_ID] = (s1, write_s1_scene)
    items, fronts, records = [], [], []
    extra: dict[str, list[tuple[dict[str, Any], SensorItemRecord]]] = {cid: [] for cid in sensor_plans}
    for plan in plans:
        full, fu = S.scene_layers(geo, plan, seed, swath_edge=False, mirror=site.sea_east)
        item, front, record = _write_scene(root, grid, geo, plan, seed, full, fu, site)
        write_json(root / "items" / f"{plan.item_id}.json", item)
        items.append(item)
        fronts.append(front)
        records.append(record)
        for cid, (its_plans, write) in sensor_plans.items():
            extra[cid].append(write(root, grid, full, its_plans[plan.index], seed, record))
    return items, fronts, records, extra


def _glacier_record(spec: ArchiveSpec, site: GlacierSite, records, extra_records) -> GlacierRecord:
    grid = scene_grid(spec.scene_size_px, site)
    u0, v0, u1, v1 = AOI_BOX
    (ax0, ay1), (ax1, ay0) = grid.uv_to_xy(u0, v0), grid.uv_to_xy(u1, v1)
    return GlacierRecord(
        name=site.name,
        glacier=site.title,
        epsg=site.epsg,
        mgrs_tile=site.mgrs_tile,
        aoi_geometry_wgs84=polygon_wgs84(grid, aoi_corners_uv()),
        aoi_bbox_utm=(ax0, ay0, ax1, ay1),
        scene_bbox_utm=tuple(grid.bbox),
        item_ids=tuple(r.item_id for r in records),
        scenes=tuple(records),
        extra_items=tuple(extra_records),
    )


def _write_dates(root: Path, spec: ArchiveSpec):
    """Synthesize and write every date of every glacier for every sensor of the spec.

    Returns:
        (Sentinel-2 items, front features, glacier records, extra items per collection), items and
        features glacier after glacier in ``spec.glaciers`` order.
    """
    base = plan_scenes(spec)
    base_s1 = plan_s1(spec, base) if "sentinel-1" in spec.sensors else None
    order = [COLLECTION_OF_SENSOR[s] for s in spec.sensors if COLLECTION_OF_SENSOR[s] != COLLECTION_ID]
    items, fronts, glaciers = [], [], []
    extra_items: dict[str, list[dict[str, Any]]] = {cid: [] for cid in order}
    for site in sites_of(spec):
        its, fts, records, extra = _write_site(root, spec, site, base, base_s1)
        items += its
        fronts += fts
        extra_records = [rec for cid in order for _, rec in extra[cid]]
        for cid in order:
            extra_items[cid] += [it for it, _ in extra[cid]]
        glaciers.append(_glacier_record(spec, site, records, extra_records))
    return items, fronts, tuple(glaciers), extra_items


def _write_cities(
    root: Path, spec: ArchiveSpec, items: list[dict[str, Any]], extra_items: dict[str, list[dict[str, Any]]]
) -> tuple[CityRecord, ...]:
    """Write every city of the spec; their items join the Sentinel-2 and Sentinel-1 collections."""
    records = []
    for key in spec.cities:
        city = write_city_site(
            root,
            key,
            seed=spec.seed,
            n_dates=spec.city_dates,
            scene_size_px=spec.city_size_px,
            sensors=tuple(s for s in spec.sensors if s in ("sentinel-2", "sentinel-1")),
        )
        items += city.items.get(COLLECTION_ID, ())
        s1 = city.items.get(S1_COLLECTION_ID, ())
        extra_items.setdefault(S1_COLLECTION_ID, []).extend(s1)
        truth = {"canopy_geojson": city.canopy_geojson, "classes": city.classes}
        truth |= {"canopy_parquet": city.canopy_parquet} if city.canopy_parquet else {}
        records.append(
            CityRecord(
                name=city.city,
                title=city.name,
                epsg=city.epsg,
                mgrs_tile=city.mgrs_tile,
                aoi_geometry_wgs84=city.aoi_geometry_wgs84,
                scene_bbox_utm=city.scene_bbox_utm,
                item_ids=tuple(i["id"] for i in city.items.get(COLLECTION_ID, ())),
                s1_item_ids=tuple(i["id"] for i in s1),
                canopy_fraction=round(city.canopy_fraction, 4),
                truth={name: str(Path(path).relative_to(root)) for name, path in truth.items()},
            )
        )
    return tuple(records)


def build_sample_archive(root: Path, spec: ArchiveSpec = ArchiveSpec()) -> ArchiveManifest:  # noqa: B008
    """Build (or reuse) the seeded Kronebreen sample archive under ``root``.

    Sentinel-2 L2A items (Planetary Computer or Earth Search shaped, ``spec.provider``) always; Landsat C2 L2,
    Sentinel-1 RTC and ASTER L1T collections too when ``spec.sensors`` names them.
    Idempotent: when ``root/manifest.json`` exists with the same spec, it is returned without rebuilding.
    The manifest is written last, so an interrupted build is rebuilt from scratch next time.

    Args:
        root: archive folder (created if missing).
        spec: what to build.

    Returns:
        The archive manifest.

    Raises:
        ArchiveError: on an invalid spec or when a file cannot be written.
    """
    root = Path(root)
    check_spec(spec)
    found = _existing(root, spec)
    if found is not None:
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        _clean(root)
    except OSError as exc:
        raise ArchiveError(f"cannot prepare archive folder {root}: {exc}. Choose a writable folder.") from exc
    items, fronts, glaciers, extra_items = _write_dates(root, spec)
    cities = _write_cities(root, spec, items, extra_items)
    s2_collection = es_collection_dict if spec.provider == "earth-search" else collection_dict
    write_json(root / "collection.json", s2_collection(items))
    write_extra_collections(root, extra_items)
    write_json(root / "truth" / "fronts.geojson", fronts_collection(fronts))
    kronebreen = next(g for g in glaciers if g.name == AOI_NAME)
    manifest = ArchiveManifest(
        root=root,
        collection_id=COLLECTION_ID,
        item_ids=kronebreen.item_ids,
        epsg=EPSG,
        aoi_name=AOI_NAME,
        aoi_geometry_wgs84=kronebreen.aoi_geometry_wgs84,
        spec=spec,
        glacier=GLACIER_NAME,
        aoi_bbox_utm=kronebreen.aoi_bbox_utm,
        scene_bbox_utm=kronebreen.scene_bbox_utm,
        scenes=kronebreen.scenes,
        extra_items=kronebreen.extra_items,
        glaciers=glaciers,
        cities=cities,
    )
    write_manifest(manifest)
    return manifest
